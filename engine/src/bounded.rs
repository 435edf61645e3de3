//! Scalar functions whose output can be much larger than their input, made to
//! refuse an output larger than a statement may use *before* they allocate
//! (DESIGN §4 "Bounded").
//!
//! Scalar functions allocate outside DataFusion's memory pool, so the pool
//! cannot stop them. Every function whose output size its arguments decide is
//! replaced by a [`Bounded`] version that estimates an upper bound of its
//! output from its arguments, refuses the call when that bound is over the
//! statement's limit, and checks what it produced after:
//!
//! | class | functions | bound |
//! |---|---|---|
//! | a count decides the size | `repeat`, `lpad`, `rpad`, `array_repeat`, `array_resize` | count × element |
//! | a range decides the size | `range`, `generate_series` | (stop − start) / step elements |
//! | the output is the inputs joined | `concat`, `concat_ws`, `array_concat`, `array_append`, `array_prepend`, and the `\|\|` operator | sum of the inputs |
//! | every match is replaced | `replace`, `regexp_replace` | matches × replacement, plus the input |
//!
//! The `||` operator is not a function in DataFusion but a binary
//! expression; [`BoundConcatOperator`] (an analyzer rule, run after type
//! coercion) turns every string `||` into the bounded [`ConcatOperator`],
//! which keeps `||`'s semantics (NULL in, NULL out) and the column names the
//! user wrote. A chain `a || b || c` is then bounded at every step, so no
//! step can grow past the limit however deep the chain.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, Int64Array, IntervalMonthDayNanoArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::compute::kernels::concat_elements::concat_elements_dyn;
use datafusion::arrow::compute::kernels::length::length;
use datafusion::arrow::datatypes::{DataType, IntervalUnit, TimeUnit};
use datafusion::arrow::datatypes::{Field, FieldRef};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, DataFusionError, Result as DfResult, ScalarValue};
use datafusion::execution::FunctionRegistry;
use datafusion::execution::session_state::SessionState;
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::interval_arithmetic::Interval;
use datafusion::logical_expr::sort_properties::{ExprProperties, SortProperties};
use datafusion::logical_expr::udf_eq::UdfEq;
use datafusion::logical_expr::utils::merge_schema;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, Expr, LogicalPlan, Operator, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature, Volatility,
};
use datafusion::logical_expr::{ExprSchemable, ReturnFieldArgs};
use datafusion::optimizer::AnalyzerRule;

use crate::limits::statement_memory_error;

/// How a function's output size follows from its arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Amplifier {
    /// `repeat(str, n)`: `len(str) * n` bytes.
    Repeat,
    /// `lpad`/`rpad(str, n [, fill])`: at most `4 * n` bytes (UTF-8).
    Pad,
    /// `array_repeat(elem, n)` and `array_resize(list, n [, fill])`: `n`
    /// elements of the element's size.
    Count,
    /// `range`/`generate_series([start,] stop [, step])`: one 8-byte element
    /// per step.
    Series,
    /// `concat`, `concat_ws`, `array_concat`, …: the sum of the inputs.
    Sum,
    /// `replace(str, from, to)`: each occurrence of `from` becomes `to`.
    Replace,
    /// `regexp_replace(str, pattern, repl [, flags])`: each match becomes
    /// `repl`, whose group references expand to at most the match.
    RegexpReplace,
}

/// A built-in function that checks, before it runs, that its output would
/// fit in a statement, and checks its output after.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Bounded {
    inner: UdfEq<Arc<dyn ScalarUDFImpl>>,
    kind: Amplifier,
    max_bytes: usize,
}

/// Per-row values of an argument.
enum PerRow {
    Scalar(Option<i64>),
    Array(Int64Array),
}

impl PerRow {
    fn at(&self, i: usize) -> Option<i64> {
        match self {
            PerRow::Scalar(v) => *v,
            PerRow::Array(a) => (i < a.len() && a.is_valid(i)).then(|| a.value(i)),
        }
    }

    /// The row's value as a non-negative size (NULL and negatives are 0).
    fn size(&self, i: usize) -> u128 {
        u128::try_from(self.at(i).unwrap_or(0).max(0)).unwrap_or(0)
    }
}

fn as_i64(a: &dyn Array) -> DfResult<Int64Array> {
    let c = cast(a, &DataType::Int64)?;
    c.as_any()
        .downcast_ref::<Int64Array>()
        .cloned()
        .ok_or_else(|| DataFusionError::Internal("cast to Int64 did not give Int64".into()))
}

fn len_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Byte length of each value (strings and binaries), or a fixed size.
fn byte_lengths(v: &ColumnarValue, other: i64) -> DfResult<PerRow> {
    Ok(match v {
        ColumnarValue::Scalar(s) => PerRow::Scalar(match s {
            ScalarValue::Utf8(x) | ScalarValue::LargeUtf8(x) | ScalarValue::Utf8View(x) => {
                x.as_ref().map(|s| len_i64(s.len()))
            }
            ScalarValue::Binary(x) | ScalarValue::LargeBinary(x) | ScalarValue::BinaryView(x) => {
                x.as_ref().map(|s| len_i64(s.len()))
            }
            s if s.is_null() => None,
            _ => Some(other),
        }),
        ColumnarValue::Array(a) => match a.data_type() {
            DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
            | DataType::Binary
            | DataType::LargeBinary
            | DataType::BinaryView => PerRow::Array(as_i64(length(a.as_ref())?.as_ref())?),
            _ => PerRow::Scalar(Some(other)),
        },
    })
}

/// The integer value of each row (a count argument).
fn integers(v: &ColumnarValue) -> DfResult<PerRow> {
    Ok(match v {
        ColumnarValue::Scalar(s) => {
            if s.is_null() {
                PerRow::Scalar(None)
            } else {
                match s.cast_to(&DataType::Int64)? {
                    ScalarValue::Int64(x) => PerRow::Scalar(x),
                    _ => PerRow::Scalar(None),
                }
            }
        }
        ColumnarValue::Array(a) => PerRow::Array(as_i64(a.as_ref())?),
    })
}

/// The position of each row on one axis: integers as they are, dates and
/// timestamps in microseconds (wide enough for any date, unlike
/// nanoseconds).
fn positions(v: &ColumnarValue) -> DfResult<PerRow> {
    let temporal = matches!(
        v.data_type(),
        DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, _)
    );
    if !temporal {
        return integers(v);
    }
    let micros = DataType::Timestamp(TimeUnit::Microsecond, None);
    let a = v.to_array(1)?;
    let a = cast(cast(a.as_ref(), &micros)?.as_ref(), &DataType::Int64)?;
    Ok(match v {
        ColumnarValue::Scalar(_) => PerRow::Scalar((a.len() == 1 && a.is_valid(0)).then(|| {
            a.as_any()
                .downcast_ref::<Int64Array>()
                .map_or(0, |x| x.value(0))
        })),
        ColumnarValue::Array(_) => PerRow::Array(as_i64(a.as_ref())?),
    })
}

/// The step of each row, in the unit of [`positions`]; intervals count a
/// month as 28 days, the shortest, so the number of steps is never
/// underestimated. A step below one unit counts as one.
fn steps(v: &ColumnarValue) -> DfResult<PerRow> {
    let DataType::Interval(_) = v.data_type() else {
        return integers(v);
    };
    let mdn = DataType::Interval(IntervalUnit::MonthDayNano);
    let a = cast(v.to_array(1)?.as_ref(), &mdn)?;
    let Some(a) = a.as_any().downcast_ref::<IntervalMonthDayNanoArray>() else {
        return Err(DataFusionError::Internal(
            "cast to an interval did not give one".into(),
        ));
    };
    const DAY_US: i128 = 86_400_000_000;
    let micros: Int64Array = a
        .iter()
        .map(|x| {
            x.map(|x| {
                let us = i128::from(x.months) * 28 * DAY_US
                    + i128::from(x.days) * DAY_US
                    + i128::from(x.nanoseconds) / 1_000;
                let us = us.abs().max(1);
                i64::try_from(us).unwrap_or(i64::MAX)
            })
        })
        .collect();
    Ok(match v {
        ColumnarValue::Scalar(_) => PerRow::Scalar(micros.iter().next().flatten()),
        ColumnarValue::Array(_) => PerRow::Array(micros),
    })
}

/// The memory one argument takes for `rows` rows (a scalar is repeated).
fn arg_bytes(v: &ColumnarValue, rows: usize) -> u128 {
    match v {
        ColumnarValue::Array(a) => a.get_array_memory_size() as u128,
        ColumnarValue::Scalar(s) => (s.size() as u128).saturating_mul(rows as u128),
    }
}

/// Rows a call produces: one when every argument is a scalar.
fn output_rows(args: &ScalarFunctionArgs) -> usize {
    let all_scalar = args
        .args
        .iter()
        .all(|a| matches!(a, ColumnarValue::Scalar(_)));
    if all_scalar { 1 } else { args.number_rows }
}

/// Sums `per_row(i)` over the rows, saturating.
fn sum_rows(rows: usize, per_row: impl Fn(usize) -> u128) -> u128 {
    (0..rows).fold(0u128, |t, i| t.saturating_add(per_row(i)))
}

impl Bounded {
    /// An upper bound of the bytes the call would produce.
    fn estimate(&self, args: &ScalarFunctionArgs) -> DfResult<u128> {
        let rows = output_rows(args);
        let a = &args.args;
        match self.kind {
            Amplifier::Sum => Ok(a
                .iter()
                .fold(0u128, |t, v| t.saturating_add(arg_bytes(v, rows)))),
            Amplifier::Repeat | Amplifier::Pad | Amplifier::Count => {
                let (Some(first), Some(count)) = (a.first(), a.get(1)) else {
                    return Ok(0);
                };
                let n = integers(count)?;
                let per_elem = match self.kind {
                    Amplifier::Repeat => byte_lengths(first, 0)?,
                    Amplifier::Pad => PerRow::Scalar(Some(4)),
                    // The fill value of `array_resize`, else the element.
                    _ => byte_lengths(a.get(2).unwrap_or(first), 16)?,
                };
                let kind = self.kind;
                Ok(sum_rows(rows, |i| {
                    let size = per_elem.size(i);
                    // Array elements carry at least an offset or a value slot.
                    let size = if kind == Amplifier::Count {
                        size.max(8)
                    } else {
                        size
                    };
                    n.size(i).saturating_mul(size)
                }))
            }
            Amplifier::Series => {
                let (start, stop, step) = match a.as_slice() {
                    [stop] => (PerRow::Scalar(Some(0)), positions(stop)?, None),
                    [start, stop] => (positions(start)?, positions(stop)?, None),
                    [start, stop, step] => {
                        (positions(start)?, positions(stop)?, Some(steps(step)?))
                    }
                    _ => return Ok(0),
                };
                // A temporal range without a step steps one day.
                let default_step = if matches!(
                    a.first().map(|v| v.data_type()),
                    Some(DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, _))
                ) {
                    86_400_000_000
                } else {
                    1
                };
                Ok(sum_rows(rows, |i| {
                    let span =
                        i128::from(stop.at(i).unwrap_or(0)) - i128::from(start.at(i).unwrap_or(0));
                    let step = step
                        .as_ref()
                        .map_or(default_step, |s| s.at(i).unwrap_or(1))
                        .unsigned_abs()
                        .max(1);
                    let elems = span.unsigned_abs() / u128::from(step) + 1;
                    elems.saturating_mul(8)
                }))
            }
            Amplifier::Replace | Amplifier::RegexpReplace => {
                let (Some(s), Some(from), Some(to)) = (a.first(), a.get(1), a.get(2)) else {
                    return Ok(0);
                };
                let (s, from, to) = (
                    byte_lengths(s, 0)?,
                    byte_lengths(from, 0)?,
                    byte_lengths(to, 0)?,
                );
                let regexp = self.kind == Amplifier::RegexpReplace;
                Ok(sum_rows(rows, |i| {
                    let (s, f, t) = (s.size(i), from.size(i), to.size(i));
                    // A pattern can match the empty string at every position;
                    // a literal `from` matches at most len / len(from) times.
                    let matches = if regexp || f == 0 { s + 1 } else { s / f };
                    // Group references (`$0`, `$1`, …: at most one per two
                    // bytes of `to`) each expand to at most the match, and
                    // matches do not overlap.
                    let refs = if regexp { t.saturating_mul(s) } else { 0 };
                    matches
                        .saturating_mul(t)
                        .saturating_add(refs)
                        .saturating_add(s)
                }))
            }
        }
    }
}

impl ScalarUDFImpl for Bounded {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        self.inner.return_type(arg_types)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> DfResult<Vec<DataType>> {
        self.inner.coerce_types(arg_types)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }

    // Everything that decides names, types, nullability and ordering is the
    // inner function's. `simplify` is not forwarded: it may rebuild the call
    // with the unbounded built-in.
    fn schema_name(&self, args: &[Expr]) -> DfResult<String> {
        self.inner.schema_name(args)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> DfResult<FieldRef> {
        self.inner.return_field_from_args(args)
    }

    fn is_strict(&self) -> bool {
        self.inner.is_strict()
    }

    fn short_circuits(&self) -> bool {
        self.inner.short_circuits()
    }

    fn evaluate_bounds(&self, input: &[&Interval]) -> DfResult<Interval> {
        self.inner.evaluate_bounds(input)
    }

    fn output_ordering(&self, inputs: &[ExprProperties]) -> DfResult<SortProperties> {
        self.inner.output_ordering(inputs)
    }

    fn preserves_lex_ordering(&self, inputs: &[ExprProperties]) -> DfResult<bool> {
        self.inner.preserves_lex_ordering(inputs)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        check_estimate(self.name(), self.estimate(&args)?, self.max_bytes)?;
        let out = self.inner.invoke_with_args(args)?;
        check_output(self.name(), &out, self.max_bytes)?;
        Ok(out)
    }
}

fn check_estimate(name: &str, estimate: u128, max_bytes: usize) -> DfResult<()> {
    if estimate > max_bytes as u128 {
        return Err(statement_memory_error(
            &format!("`{name}` would produce about {estimate} bytes"),
            max_bytes,
        ));
    }
    Ok(())
}

fn check_output(name: &str, out: &ColumnarValue, max_bytes: usize) -> DfResult<()> {
    let produced = match out {
        ColumnarValue::Array(a) => a.get_array_memory_size(),
        ColumnarValue::Scalar(s) => s.size(),
    };
    if produced > max_bytes {
        return Err(statement_memory_error(
            &format!("`{name}` produced {produced} bytes"),
            max_bytes,
        ));
    }
    Ok(())
}

/// Replaces every function whose output its arguments can make large with a
/// version bounded by `max_bytes` per call, and bounds the `||` operator.
pub(crate) fn bound_functions(state: &mut SessionState, max_bytes: usize) -> DfResult<()> {
    for (name, kind) in [
        ("repeat", Amplifier::Repeat),
        ("lpad", Amplifier::Pad),
        ("rpad", Amplifier::Pad),
        ("array_repeat", Amplifier::Count),
        ("array_resize", Amplifier::Count),
        ("range", Amplifier::Series),
        ("generate_series", Amplifier::Series),
        ("concat", Amplifier::Sum),
        ("concat_ws", Amplifier::Sum),
        ("array_concat", Amplifier::Sum),
        ("array_append", Amplifier::Sum),
        ("array_prepend", Amplifier::Sum),
        ("replace", Amplifier::Replace),
        ("regexp_replace", Amplifier::RegexpReplace),
    ] {
        let Some(udf) = state.scalar_functions().get(name).cloned() else {
            continue;
        };
        let bounded = Bounded {
            inner: Arc::clone(udf.inner()).into(),
            kind,
            max_bytes,
        };
        state.register_udf(Arc::new(ScalarUDF::new_from_impl(bounded)))?;
    }
    let op = Arc::new(ScalarUDF::new_from_impl(ConcatOperator::new(max_bytes)));
    state.add_analyzer_rule(Arc::new(BoundConcatOperator { op }));
    Ok(())
}

/// The `||` operator on strings and binaries, bounded: the same result as
/// DataFusion's (`NULL` if either side is `NULL`), refused before it
/// allocates when the two sides together are over the limit. Not registered
/// by name: only [`BoundConcatOperator`] creates calls to it.
#[derive(Debug, PartialEq, Eq, Hash)]
struct ConcatOperator {
    signature: Signature,
    max_bytes: usize,
}

impl ConcatOperator {
    fn new(max_bytes: usize) -> Self {
        Self {
            signature: Signature::any(2, Volatility::Immutable),
            max_bytes,
        }
    }
}

impl ScalarUDFImpl for ConcatOperator {
    fn name(&self) -> &str {
        "||"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        match arg_types {
            [l, r] if l == r => Ok(l.clone()),
            _ => Err(DataFusionError::Plan(format!(
                "`||` needs two values of one type, got {arg_types:?}"
            ))),
        }
    }

    // NULL only if a side may be NULL, as DataFusion's `||`.
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> DfResult<FieldRef> {
        let types: Vec<DataType> = args
            .arg_fields
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        let nullable = args.arg_fields.iter().any(|f| f.is_nullable());
        Ok(Arc::new(Field::new(
            self.name(),
            self.return_type(&types)?,
            nullable,
        )))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let rows = output_rows(&args);
        let estimate = args
            .args
            .iter()
            .fold(0u128, |t, v| t.saturating_add(arg_bytes(v, rows)));
        check_estimate("||", estimate, self.max_bytes)?;
        let all_scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let [left, right] = args.args.as_slice() else {
            return Err(DataFusionError::Plan("`||` takes two values".into()));
        };
        let (l, r): (ArrayRef, ArrayRef) = (left.to_array(rows)?, right.to_array(rows)?);
        let joined = concat_elements_dyn(l.as_ref(), r.as_ref())?;
        let out = if all_scalar {
            ColumnarValue::Scalar(ScalarValue::try_from_array(joined.as_ref(), 0)?)
        } else {
            ColumnarValue::Array(joined)
        };
        check_output("||", &out, self.max_bytes)?;
        Ok(out)
    }
}

/// Whether `left || right` is one [`ConcatOperator`] handles: both sides of
/// one variable-length string or binary type, as type coercion leaves them.
/// `||` on fixed-size binaries has a fixed-size result and stays as it is.
fn bounded_concat_types(left: &Expr, right: &Expr, schema: &DFSchema) -> bool {
    match (left.get_type(schema), right.get_type(schema)) {
        (Ok(l), Ok(r)) => {
            l == r
                && matches!(
                    l,
                    DataType::Utf8
                        | DataType::LargeUtf8
                        | DataType::Utf8View
                        | DataType::Binary
                        | DataType::LargeBinary
                        | DataType::BinaryView
                )
        }
        _ => false,
    }
}

/// Analyzer rule: every `||` left after type coercion (strings and
/// binaries; `||` on lists is already `array_concat`) becomes a call to the
/// bounded [`ConcatOperator`], keeping the names of the plan's columns.
#[derive(Debug)]
struct BoundConcatOperator {
    op: Arc<ScalarUDF>,
}

impl AnalyzerRule for BoundConcatOperator {
    fn analyze(&self, plan: LogicalPlan, _: &ConfigOptions) -> DfResult<LogicalPlan> {
        plan.transform_up_with_subqueries(|node| {
            // The columns the node's expressions may name, for their types.
            let mut schema = merge_schema(&node.inputs());
            if let LogicalPlan::TableScan(ts) = &node {
                schema.merge(&DFSchema::try_from_qualified_schema(
                    ts.table_name.clone(),
                    &ts.source.schema(),
                )?);
            }
            let names = NamePreserver::new(&node);
            node.map_expressions(|e| {
                let name = names.save(&e);
                let t = e.transform_up(|e| match e {
                    Expr::BinaryExpr(b)
                        if b.op == Operator::StringConcat
                            && bounded_concat_types(&b.left, &b.right, &schema) =>
                    {
                        Ok(Transformed::yes(Expr::ScalarFunction(
                            ScalarFunction::new_udf(Arc::clone(&self.op), vec![*b.left, *b.right]),
                        )))
                    }
                    e => Ok(Transformed::no(e)),
                })?;
                Ok(if t.transformed {
                    t.update_data(|e| name.restore(e))
                } else {
                    t
                })
            })
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "lakegate_bound_concat_operator"
    }
}
