//! The derived tables that replace catalog table references, built as typed
//! sqlparser AST: projection of the visible columns (masked, cell rules as
//! `CASE WHEN … THEN … END`), and the row filter as `WHERE`.

use std::ops::ControlFlow;

use sqlparser::ast::helpers::attached_token::AttachedToken;
use sqlparser::ast::{
    BinaryOperator, CaseWhen, CastKind, DataType, ExactNumberInfo, Expr, Function, FunctionArg,
    FunctionArgExpr, FunctionArgumentList, FunctionArguments, GroupByExpr, Ident, ObjectName,
    Query, Select, SelectFlavor, SelectItem, SetExpr, Statement, TableFactor, TableWithJoins,
    TimezoneInfo, Value, Values, Visit, Visitor,
};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::Token;

use crate::access::{ColumnAccess, RowPredicate, TableAccess};
use crate::error::{Error, Result};
use crate::model::{ColumnMask, clip};
use crate::parse_budget::Budgeted;
use crate::predicate::RowExpr;

use super::MAX_NESTING;

/// A double-quoted identifier: exact, whatever the name.
pub(crate) fn quoted(name: &str) -> Ident {
    Ident::with_quote('"', name)
}

/// `"a"."b"."c"`.
pub(crate) fn object_name(parts: &[&str]) -> ObjectName {
    ObjectName::from(parts.iter().map(|p| quoted(p)).collect::<Vec<_>>())
}

/// The derived table body for one table: `SELECT <columns> FROM <from> [WHERE <rows>]`.
/// With `inline`, masks, cell rules and rows are applied in the SQL; without,
/// the projection lists the visible column names only.
pub(crate) fn derived_query(
    access: &TableAccess,
    from: ObjectName,
    inline: bool,
    max_depth: usize,
) -> Result<Box<Query>> {
    let selection = match (&access.rows, inline) {
        (RowPredicate::AnyOf(preds), true) => Some(any_of(preds)),
        _ => None,
    };
    let mut projection = Vec::with_capacity(access.columns.len());
    for c in &access.columns {
        if inline {
            projection.push(inline_column(access, c, selection.as_ref(), max_depth)?);
        } else {
            projection.push(SelectItem::UnnamedExpr(column(&c.name)));
        }
    }
    Ok(Box::new(query(select(projection, from, selection))))
}

/// One projected column of an inline derived table.
///
/// With a row filter, every column reads `CASE WHEN <rows> THEN <value> END`
/// (DESIGN §4): an upstream may evaluate the user's predicates before the
/// derived table's `WHERE` (pushdown through the projection), and then they
/// see NULL in hidden rows instead of a hidden value, so no error (division
/// by zero, a failing cast) can depend on one. A column with a cell rule is
/// already NULL outside its cells, which lie inside the visible rows.
fn inline_column(
    access: &TableAccess,
    c: &ColumnAccess,
    rows: Option<&Expr>,
    max_depth: usize,
) -> Result<SelectItem> {
    let mut value = match &c.mask {
        None => None,
        // The keyed hash needs lakegate's key, which must never leave it;
        // an upstream could only compute an unkeyed hash, which would let a
        // caller confirm guessed values. Refuse rather than send one.
        Some(ColumnMask::Hash) => {
            return Err(Error::FailedPrecondition(format!(
                "column `{}` of table `{}` is masked with `hash`, and the keyed hash is computed \
                 only by lakegate's embedded engine (its key never goes to an upstream engine), \
                 so the table cannot be read through `--upstream` while that mask applies; \
                 query it through `lakegate serve` without `--upstream`, or ask a data lake \
                 admin to give the column another mask (e.g. `redact`)",
                c.name, access.table
            )));
        }
        Some(m) => Some(mask_expr(m, c, max_depth).map_err(|e| {
            Error::FailedPrecondition(format!(
                "the mask `{}` on column `{}` of table `{}` cannot be applied ({e}); ask a data \
                 lake admin to fix the grant's mask",
                clip(&m.to_string()),
                c.name,
                access.table
            ))
        })?),
    };
    // Rule 8 per cell: in the rows a filter shows it unmasked, the clear
    // value wins over the mask.
    if let (Some(masked), Some(RowPredicate::AnyOf(clear))) = (&value, &c.unmasked) {
        value = Some(case(
            vec![(any_of(clear), column(&c.name))],
            Some(masked.clone()),
        ));
    }
    if let Some(RowPredicate::AnyOf(preds)) = &c.cells {
        let cond = any_of(preds);
        let shown = value.take().unwrap_or_else(|| column(&c.name));
        value = Some(case(vec![(cond, shown)], None));
    } else if let Some(rows) = rows {
        let shown = value.take().unwrap_or_else(|| column(&c.name));
        value = Some(case(vec![(rows.clone(), shown)], None));
    }
    Ok(match value {
        None => SelectItem::UnnamedExpr(column(&c.name)),
        Some(expr) => SelectItem::ExprWithAlias {
            expr,
            alias: quoted(&c.name),
        },
    })
}

/// The masked value of a column (DESIGN §3 rule 8); NULL stays NULL.
fn mask_expr(
    mask: &ColumnMask,
    c: &ColumnAccess,
    max_depth: usize,
) -> std::result::Result<Expr, String> {
    let col = column(&c.name);
    Ok(match mask {
        ColumnMask::Null => typed_null(&c.data_type),
        ColumnMask::Redact => case(
            vec![(Expr::IsNull(Box::new(col)), null())],
            Some(string("REDACTED")),
        ),
        ColumnMask::Last4 => {
            // regexp_replace(left(s, greatest(character_length(s) - 4, 0)),
            //                '[\p{L}\p{N}]', 'x', 'g') || right(s, 4)
            let s = if is_string(&c.data_type) {
                col
            } else {
                cast(col, DataType::Varchar(None))
            };
            let prefix_len = func(
                "greatest",
                vec![
                    binary(
                        func("character_length", vec![s.clone()]),
                        BinaryOperator::Minus,
                        number("4"),
                    ),
                    number("0"),
                ],
            );
            let prefix = func(
                "regexp_replace",
                vec![
                    func("left", vec![s.clone(), prefix_len]),
                    string(r"[\p{L}\p{N}]"),
                    string("x"),
                    string("g"),
                ],
            );
            binary(
                prefix,
                BinaryOperator::StringConcat,
                func("right", vec![s, number("4")]),
            )
        }
        ColumnMask::Hash => return Err("the keyed hash is computed only by lakegate".into()),
        // NULL stays NULL, as in the embedded lowering (engine/src/masks.rs);
        // both are checked against one golden table
        // (grpc-proxy/tests/it/query_path.rs).
        ColumnMask::Expr(sql) => case(
            vec![(Expr::IsNull(Box::new(col)), null())],
            Some(Expr::Nested(Box::new(fragment(sql, max_depth)?))),
        ),
    })
}

/// `(p1) OR (p2) OR …`; no predicate matches no row. The predicates are
/// typed ASTs (attributes already literal nodes), cloned, never reparsed.
pub(crate) fn any_of(preds: &[RowExpr]) -> Expr {
    let mut out: Option<Expr> = None;
    for p in preds {
        let e = Expr::Nested(Box::new(p.expr().clone()));
        out = Some(match out {
            None => e,
            Some(acc) => binary(acc, BinaryOperator::Or, e),
        });
    }
    out.unwrap_or(Expr::Value(Value::Boolean(false).with_empty_span()))
}

/// Parses one expression of a policy (row predicate or mask): exactly one
/// expression, no subquery, table or file function in it.
pub(crate) fn fragment(text: &str, max_depth: usize) -> std::result::Result<Expr, String> {
    let dialect = GenericDialect {};
    let tokens = super::tokenize(&dialect, text)?;
    super::nesting::check(&tokens, MAX_NESTING).map_err(|e| e.to_string())?;
    let budget = Budgeted::for_len(text.len());
    let mut parser = Parser::new(&budget)
        .with_recursion_limit(max_depth)
        .with_tokens_with_locations(tokens);
    let expr = parser.parse_expr().map_err(|e| match budget.exhausted() {
        true => format!("`{}` is too costly to parse; simplify it", clip(text)),
        false => format!("`{}` is not an expression: {e}", clip(text)),
    })?;
    if parser.peek_token().token != Token::EOF {
        return Err(format!("`{}` has text after the expression", clip(text)));
    }
    if let ControlFlow::Break(what) = expr.visit(&mut SelfContained) {
        return Err(format!("`{}` contains {what}", clip(text)));
    }
    Ok(expr)
}

/// Breaks on anything that could read another table or a file.
struct SelfContained;

impl Visitor for SelfContained {
    type Break = &'static str;
    fn pre_visit_query(&mut self, _: &Query) -> ControlFlow<Self::Break> {
        ControlFlow::Break("a subquery")
    }
    fn pre_visit_relation(&mut self, _: &ObjectName) -> ControlFlow<Self::Break> {
        ControlFlow::Break("a table reference")
    }
    fn pre_visit_table_factor(&mut self, _: &TableFactor) -> ControlFlow<Self::Break> {
        ControlFlow::Break("a table reference")
    }
    fn pre_visit_statement(&mut self, _: &Statement) -> ControlFlow<Self::Break> {
        ControlFlow::Break("a statement")
    }
    fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<Self::Break> {
        if let Expr::Function(f) = e
            && super::walk::denied_function(&f.name).is_some()
        {
            return ControlFlow::Break("a function that reads files");
        }
        ControlFlow::Continue(())
    }
}

/// `CAST(NULL AS <type>)`, or `arrow_cast(NULL, '<arrow type>')` for Arrow
/// types without an exact SQL spelling.
fn typed_null(arrow: &str) -> Expr {
    match sql_type(arrow) {
        Some(t) => cast(null(), t),
        None => func("arrow_cast", vec![null(), string(arrow)]),
    }
}

/// The SQL type DataFusion maps to this Arrow type (its `Display` form).
pub(crate) fn sql_type(arrow: &str) -> Option<DataType> {
    let t = arrow.trim();
    Some(match t {
        "Int8" => DataType::TinyInt(None),
        "Int16" => DataType::SmallInt(None),
        "Int32" => DataType::Int(None),
        "Int64" => DataType::BigInt(None),
        "UInt8" => DataType::TinyIntUnsigned(None),
        "UInt16" => DataType::SmallIntUnsigned(None),
        "UInt32" => DataType::IntUnsigned(None),
        "UInt64" => DataType::BigIntUnsigned(None),
        "Float32" => DataType::Real,
        "Float64" => DataType::Double(ExactNumberInfo::None),
        "Boolean" => DataType::Boolean,
        "Date32" => DataType::Date,
        "Utf8" | "LargeUtf8" | "Utf8View" => DataType::Varchar(None),
        "Timestamp(ns)" | "Timestamp(Nanosecond, None)" => {
            DataType::Timestamp(None, TimezoneInfo::None)
        }
        _ => {
            let inner = t.strip_prefix("Decimal128(")?.strip_suffix(')')?;
            let (p, s) = inner.split_once(',')?;
            let p: u64 = p.trim().parse().ok()?;
            let s: i64 = s.trim().parse().ok()?;
            if !(1..=38).contains(&p) || s < 0 || s > p as i64 {
                return None;
            }
            DataType::Decimal(ExactNumberInfo::PrecisionAndScale(p, s))
        }
    })
}

fn is_string(arrow: &str) -> bool {
    matches!(arrow.trim(), "Utf8" | "LargeUtf8" | "Utf8View")
}

pub(crate) fn column(name: &str) -> Expr {
    Expr::Identifier(quoted(name))
}

fn null() -> Expr {
    Expr::Value(Value::Null.with_empty_span())
}

fn string(s: &str) -> Expr {
    Expr::Value(Value::SingleQuotedString(s.to_string()).with_empty_span())
}

fn number(n: &str) -> Expr {
    Expr::Value(Value::Number(n.to_string(), false).with_empty_span())
}

fn cast(expr: Expr, data_type: DataType) -> Expr {
    Expr::Cast {
        kind: CastKind::Cast,
        expr: Box::new(expr),
        data_type,
        array: false,
        format: None,
    }
}

fn binary(left: Expr, op: BinaryOperator, right: Expr) -> Expr {
    Expr::BinaryOp {
        left: Box::new(left),
        op,
        right: Box::new(right),
    }
}

fn case(conditions: Vec<(Expr, Expr)>, else_result: Option<Expr>) -> Expr {
    Expr::Case {
        case_token: AttachedToken::empty(),
        end_token: AttachedToken::empty(),
        operand: None,
        conditions: conditions
            .into_iter()
            .map(|(condition, result)| CaseWhen { condition, result })
            .collect(),
        else_result: else_result.map(Box::new),
    }
}

fn func(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Function(Function {
        name: ObjectName::from(vec![Ident::new(name)]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: args
                .into_iter()
                .map(|a| FunctionArg::Unnamed(FunctionArgExpr::Expr(a)))
                .collect(),
            clauses: Vec::new(),
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: Vec::new(),
    })
}

fn select(projection: Vec<SelectItem>, from: ObjectName, selection: Option<Expr>) -> Select {
    Select {
        select_token: AttachedToken::empty(),
        optimizer_hints: Vec::new(),
        distinct: None,
        select_modifiers: None,
        top: None,
        top_before_distinct: false,
        projection,
        exclude: None,
        into: None,
        from: vec![TableWithJoins {
            relation: TableFactor::Table {
                name: from,
                alias: None,
                args: None,
                with_hints: Vec::new(),
                version: None,
                with_ordinality: false,
                partitions: Vec::new(),
                json_path: None,
                sample: None,
                index_hints: Vec::new(),
            },
            joins: Vec::new(),
        }],
        lateral_views: Vec::new(),
        prewhere: None,
        selection,
        connect_by: Vec::new(),
        group_by: GroupByExpr::Expressions(Vec::new(), Vec::new()),
        cluster_by: Vec::new(),
        distribute_by: Vec::new(),
        sort_by: Vec::new(),
        having: None,
        named_window: Vec::new(),
        qualify: None,
        window_before_qualify: false,
        value_table_mode: None,
        flavor: SelectFlavor::Standard,
    }
}

/// An empty query (`VALUES` with no rows) to stand in for a walked one.
pub(crate) fn placeholder() -> Query {
    query_of(SetExpr::Values(Values {
        explicit_row: false,
        value_keyword: false,
        rows: Vec::new(),
    }))
}

fn query(select: Select) -> Query {
    query_of(SetExpr::Select(Box::new(select)))
}

fn query_of(body: SetExpr) -> Query {
    Query {
        with: None,
        body: Box::new(body),
        order_by: None,
        limit_clause: None,
        fetch: None,
        locks: Vec::new(),
        for_clause: None,
        settings: None,
        format_clause: None,
        pipe_operators: Vec::new(),
    }
}
