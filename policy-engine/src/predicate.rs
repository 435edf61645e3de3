//! The row predicate language of data cells filters (DESIGN §3 rule 4):
//! column-vs-constant comparisons, BETWEEN, IN, LIKE, IS [NOT] NULL,
//! AND/OR/NOT and parentheses, validated against the table's columns and
//! types when the filter is created, never at query time.
//!
//! A constant may be a principal attribute, `${principal.attrs.NAME}`. We
//! replace it by a reserved identifier before parsing (so the SQL parser sees
//! valid SQL) and substitute a typed literal per caller; a caller without the
//! attribute gets no rows from the whole filter.

use std::collections::{BTreeMap, BTreeSet};

use sqlparser::ast::{BinaryOperator, Expr, Ident, UnaryOperator, Value, ValueWithSpan};
use sqlparser::parser::Parser;
use sqlparser::tokenizer::Span;

use crate::error::{Error, Result};
use crate::model::{MAX_TEXT_LEN, Table, clip};
use crate::parse_budget::{Budgeted, too_complex};

const ATTR_PREFIX: &str = "__lakegate_attr_";
const MAX_DEPTH: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ty {
    Number,
    String,
    Boolean,
    Temporal,
    Other,
}

fn column_ty(data_type: &str) -> Ty {
    let d = data_type;
    if d.starts_with("Int")
        || d.starts_with("UInt")
        || d.starts_with("Float")
        || d.starts_with("Decimal")
    {
        Ty::Number
    } else if d == "Utf8" || d == "LargeUtf8" || d == "Utf8View" {
        Ty::String
    } else if d == "Boolean" {
        Ty::Boolean
    } else if d.starts_with("Date") || d.starts_with("Timestamp") || d.starts_with("Time") {
        Ty::Temporal
    } else {
        Ty::Other
    }
}

fn ty_name(t: Ty) -> &'static str {
    match t {
        Ty::Number => "a number",
        Ty::String => "a string",
        Ty::Boolean => "a boolean",
        Ty::Temporal => "a date or time",
        Ty::Other => "a value of another type",
    }
}

/// Byte offsets of `src` that lie inside a quoted string or identifier.
fn quoted(src: &str) -> Vec<bool> {
    let mut inside = vec![false; src.len()];
    let mut quote: Option<char> = None;
    for (i, c) in src.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None => {}
        }
        if let Some(slot) = inside.get_mut(i) {
            *slot = quote.is_some();
        }
    }
    inside
}

/// Replaces `${principal.attrs.NAME}` with a reserved identifier. A
/// reference inside quotes is refused: it would be text, not the value.
fn encode_attrs(src: &str) -> Result<String> {
    let mut out = String::with_capacity(src.len());
    let mut rest = src;
    let inside = quoted(src);
    while let Some(i) = rest.find("${") {
        let at = src.len() - rest.len() + i;
        if inside.get(at).copied().unwrap_or(false) {
            return Err(Error::invalid(format!(
                "`${{...}}` is inside quotes in row filter `{}`; write it without quotes, e.g. \
                 `region = ${{principal.attrs.region}}`: the attribute's value is substituted \
                 as a literal",
                clip(src)
            )));
        }
        let (head, tail) = rest.split_at(i);
        out.push_str(head);
        let Some(end) = tail.find('}') else {
            return Err(Error::invalid(format!(
                "unterminated `${{` in row filter `{}`; write `${{principal.attrs.NAME}}`",
                clip(src)
            )));
        };
        let inner = tail.get(2..end).unwrap_or_default();
        let Some(name) = inner.strip_prefix("principal.attrs.") else {
            return Err(Error::invalid(format!(
                "`${{{}}}` is not a principal attribute; write `${{principal.attrs.NAME}}`",
                clip(inner)
            )));
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(Error::invalid(format!(
                "attribute name `{}` must be letters, digits and `_`",
                clip(name)
            )));
        }
        out.push_str(ATTR_PREFIX);
        out.push_str(&name.to_ascii_lowercase());
        rest = tail.get(end + 1..).unwrap_or_default();
    }
    out.push_str(rest);
    Ok(out)
}

fn parse(src: &str) -> Result<Expr> {
    if src.trim().is_empty() {
        return Err(Error::invalid(
            "the row filter is empty; give a predicate or use --all-rows",
        ));
    }
    if src.len() > MAX_TEXT_LEN {
        return Err(Error::invalid(format!(
            "the row filter is longer than {MAX_TEXT_LEN} bytes; simplify it"
        )));
    }
    let encoded = encode_attrs(src)?;
    let budget = Budgeted::for_len(encoded.len());
    let mut parser = Parser::new(&budget)
        .with_recursion_limit(MAX_DEPTH)
        .try_with_sql(&encoded)
        .map_err(|e| Error::invalid(format!("row filter `{}` does not parse: {e}", clip(src))))?;
    let expr = parser.parse_expr().map_err(|e| match budget.exhausted() {
        true => too_complex(&format!("row filter `{}`", clip(src))),
        false => Error::invalid(format!("row filter `{}` does not parse: {e}", clip(src))),
    })?;
    if parser.peek_token().token != sqlparser::tokenizer::Token::EOF {
        return Err(Error::invalid(format!(
            "row filter `{}` has text after the predicate (`{}`); a filter is one predicate",
            clip(src),
            parser.peek_token().token
        )));
    }
    Ok(expr)
}

/// Refuses a predicate whose printed form parses to something else: the
/// stored text, the form explain and the audit log show, and the SQL an
/// upstream runs must not drift apart. sqlparser accepts some forms it
/// prints differently (a field access on a number, `10 .x`, prints as
/// `10.x`, which does not parse).
fn round_trips(src: &str, expr: &Expr) -> Result<()> {
    let printed = expr.to_string();
    let budget = Budgeted::for_len(printed.len());
    let again = Parser::new(&budget)
        .with_recursion_limit(MAX_DEPTH)
        .try_with_sql(&printed)
        .and_then(|mut p| {
            let e = p.parse_expr()?;
            Ok((e, p.peek_token().token == sqlparser::tokenizer::Token::EOF))
        });
    match again {
        Ok((e, true)) if &e == expr => Ok(()),
        _ => Err(Error::invalid(format!(
            "row filter `{}` cannot be printed back as it was read (it would read `{}`); \
             write it in plain SQL, without field access on literals",
            clip(src),
            clip(&printed)
        ))),
    }
}

/// What an operand of a comparison is.
enum Operand {
    Column(String, Ty),
    Const(Ty),
    Attr,
    Null,
}

struct Checker<'t> {
    table: &'t Table,
    src: &'t str,
}

impl Checker<'_> {
    fn err(&self, what: impl std::fmt::Display) -> Error {
        Error::invalid(format!(
            "row filter `{}` on table `{}`: {what}",
            clip(self.src),
            self.table.name
        ))
    }

    fn operand(&self, e: &Expr) -> Result<Operand> {
        match e {
            Expr::Identifier(id) => {
                if let Some(_attr) = id.value.strip_prefix(ATTR_PREFIX) {
                    return Ok(Operand::Attr);
                }
                let name = if id.quote_style.is_some() {
                    id.value.clone()
                } else {
                    id.value.to_ascii_lowercase()
                };
                match self.table.column(&name) {
                    Some(c) => Ok(Operand::Column(c.name.clone(), column_ty(&c.data_type))),
                    None => Err(self.err(format!(
                        "column `{}` is not in the table; columns are: {}",
                        clip(&id.value),
                        self.table
                            .columns
                            .iter()
                            .map(|c| c.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))),
                }
            }
            Expr::Value(ValueWithSpan { value, .. }) => match value {
                Value::Number(_, _) => Ok(Operand::Const(Ty::Number)),
                Value::SingleQuotedString(_) => Ok(Operand::Const(Ty::String)),
                Value::Boolean(_) => Ok(Operand::Const(Ty::Boolean)),
                Value::Null => Ok(Operand::Null),
                other => Err(self.err(format!(
                    "`{other}` is not a supported constant; use numbers, 'strings', true/false"
                ))),
            },
            Expr::UnaryOp {
                op: UnaryOperator::Minus | UnaryOperator::Plus,
                expr,
            } if matches!(
                expr.as_ref(),
                Expr::Value(ValueWithSpan {
                    value: Value::Number(_, _),
                    ..
                })
            ) =>
            {
                Ok(Operand::Const(Ty::Number))
            }
            Expr::Nested(inner) => self.operand(inner),
            other => Err(self.unsupported(other)),
        }
    }

    fn unsupported(&self, e: &Expr) -> Error {
        let what = match e {
            Expr::Function(_) => "functions are not allowed".to_string(),
            Expr::Subquery(_) | Expr::InSubquery { .. } | Expr::Exists { .. } => {
                "subqueries are not allowed".to_string()
            }
            Expr::CompoundIdentifier(_) => {
                "qualified column names are not allowed; name the column alone".to_string()
            }
            Expr::BinaryOp { op, .. } => format!("the operator `{op}` is not allowed"),
            _ => format!("`{}` is not allowed", clip(&e.to_string())),
        };
        self.err(format!(
            "{what}; a row filter may use column-vs-constant comparisons, BETWEEN, IN, LIKE, \
             IS [NOT] NULL, AND, OR, NOT and parentheses"
        ))
    }

    fn compatible(&self, col: &str, ct: Ty, k: Ty) -> Result<()> {
        let ok = match (ct, k) {
            (a, b) if a == b => true,
            (Ty::Temporal, Ty::String) => true,
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(self.err(format!(
                "column `{col}` holds {} but is compared with {}",
                ty_name(ct),
                ty_name(k)
            )))
        }
    }

    /// Checks a comparison-like pair: one column, one constant.
    fn column_vs_const(&self, a: &Expr, b: &Expr) -> Result<()> {
        match (self.operand(a)?, self.operand(b)?) {
            (Operand::Column(c, ct), Operand::Const(k))
            | (Operand::Const(k), Operand::Column(c, ct)) => self.compatible(&c, ct, k),
            (Operand::Column(..), Operand::Attr) | (Operand::Attr, Operand::Column(..)) => Ok(()),
            (Operand::Null, _) | (_, Operand::Null) => {
                Err(self.err("comparing with NULL is never true; use IS NULL or IS NOT NULL"))
            }
            (Operand::Column(..), Operand::Column(..)) => {
                Err(self.err("compare a column with a constant, not with another column"))
            }
            _ => Err(self.err("each comparison needs one column and one constant")),
        }
    }

    fn column(&self, e: &Expr) -> Result<(String, Ty)> {
        match self.operand(e)? {
            Operand::Column(c, t) => Ok((c, t)),
            _ => Err(self.err(format!("`{}` must be a column", clip(&e.to_string())))),
        }
    }

    fn constant_for(&self, col: &str, ct: Ty, e: &Expr) -> Result<()> {
        match self.operand(e)? {
            Operand::Const(k) => self.compatible(col, ct, k),
            Operand::Attr => Ok(()),
            Operand::Null => Err(self.err("NULL is not a usable constant here")),
            Operand::Column(..) => {
                Err(self.err("compare a column with a constant, not with another column"))
            }
        }
    }

    fn check(&self, e: &Expr) -> Result<()> {
        match e {
            Expr::Nested(inner) => self.check(inner),
            Expr::BinaryOp { left, op, right } => match op {
                BinaryOperator::And | BinaryOperator::Or => {
                    self.check(left)?;
                    self.check(right)
                }
                BinaryOperator::Eq
                | BinaryOperator::NotEq
                | BinaryOperator::Lt
                | BinaryOperator::LtEq
                | BinaryOperator::Gt
                | BinaryOperator::GtEq => self.column_vs_const(left, right),
                _ => Err(self.unsupported(e)),
            },
            Expr::UnaryOp {
                op: UnaryOperator::Not,
                expr,
            } => self.check(expr),
            Expr::IsNull(x) | Expr::IsNotNull(x) => self.column(x).map(|_| ()),
            Expr::Between {
                expr, low, high, ..
            } => {
                let (c, t) = self.column(expr)?;
                self.constant_for(&c, t, low)?;
                self.constant_for(&c, t, high)
            }
            Expr::InList { expr, list, .. } => {
                let (c, t) = self.column(expr)?;
                if list.is_empty() {
                    return Err(self.err("IN needs at least one value"));
                }
                for v in list {
                    self.constant_for(&c, t, v)?;
                }
                Ok(())
            }
            Expr::Like {
                any: false,
                expr,
                pattern,
                escape_char: None,
                ..
            } => {
                let (c, t) = self.column(expr)?;
                if t != Ty::String {
                    return Err(self.err(format!("LIKE needs a string column; `{c}` is not one")));
                }
                self.constant_for(&c, t, pattern)
            }
            other => Err(self.unsupported(other)),
        }
    }
}

/// Validates a row predicate against a table; returns it unchanged (the
/// stored form keeps `${principal.attrs.NAME}`).
pub fn validate(src: &str, table: &Table) -> Result<String> {
    let expr = parse(src)?;
    round_trips(src, &expr)?;
    Checker { table, src }.check(&expr)?;
    Ok(src.trim().to_string())
}

/// The attribute names a stored predicate refers to.
pub fn attributes(src: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = src;
    while let Some(i) = rest.find("${principal.attrs.") {
        let tail = rest
            .get(i + "${principal.attrs.".len()..)
            .unwrap_or_default();
        if let Some(end) = tail.find('}') {
            out.push(tail.get(..end).unwrap_or_default().to_ascii_lowercase());
        }
        rest = tail;
    }
    out
}

/// Whether `src`, a valid predicate over `table`, compares only `columns`.
/// Which rows a predicate returns reveals the values it compares, so a
/// predicate written by someone who sees a column only masked (or only on
/// some rows) must not compare it.
pub fn compares_only(src: &str, table: &Table, columns: &BTreeSet<String>) -> bool {
    let mut view = table.clone();
    view.columns.retain(|c| columns.contains(&c.name));
    validate(src, &view).is_ok()
}

/// The names in `columns` that `table` has, in table order, for messages
/// (`none` when there are none).
pub fn listed(table: &Table, columns: &BTreeSet<String>) -> String {
    let names: Vec<&str> = table
        .columns
        .iter()
        .filter(|c| columns.contains(&c.name))
        .map(|c| c.name.as_str())
        .collect();
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

/// A row predicate ready to apply: the rule-4 expression as a typed AST,
/// with the caller's attributes substituted as literal nodes.
///
/// We carry the AST, never text, because printing an AST and parsing it
/// again is where meaning changes (a value with quotes or backslashes). Its
/// `Display` is for people (explain, audit); the rewriter and the embedded
/// engine consume [`RowExpr::expr`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RowExpr(Expr);

impl RowExpr {
    /// The expression.
    pub fn expr(&self) -> &Expr {
        &self.0
    }

    /// Rows where both predicates are true.
    pub fn and(a: &RowExpr, b: &RowExpr) -> Self {
        Self(Expr::BinaryOp {
            left: Box::new(Expr::Nested(Box::new(a.0.clone()))),
            op: BinaryOperator::And,
            right: Box::new(Expr::Nested(Box::new(b.0.clone()))),
        })
    }

    /// Rows where any of the predicates is true; none matches no row.
    pub fn any(list: &[RowExpr]) -> Self {
        let mut it = list.iter();
        let Some(first) = it.next() else {
            return Self::never();
        };
        it.fold(first.clone(), |acc, r| {
            Self(Expr::BinaryOp {
                left: Box::new(Expr::Nested(Box::new(acc.0))),
                op: BinaryOperator::Or,
                right: Box::new(Expr::Nested(Box::new(r.0.clone()))),
            })
        })
    }

    /// The predicate that matches no row.
    pub fn never() -> Self {
        Self(Expr::Value(ValueWithSpan {
            value: Value::Boolean(false),
            span: Span::empty(),
        }))
    }

    /// Parses one expression that names no principal attribute (for tests,
    /// benches and fixed predicates). It is not validated against a table:
    /// data cells filters go through [`validate`] when they are created and
    /// [`substitute`] per caller.
    ///
    /// Errors: [`Error::InvalidArgument`] when it does not parse or names an
    /// attribute.
    pub fn parse(src: &str) -> Result<Self> {
        if src.contains("${") {
            return Err(Error::invalid(format!(
                "row filter `{}` names principal attributes; substitute them for a caller",
                clip(src)
            )));
        }
        let expr = parse(src)?;
        round_trips(src, &expr)?;
        Ok(Self(expr))
    }
}

impl std::fmt::Display for RowExpr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl serde::Serialize for RowExpr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

/// Substitutes the caller's attributes as typed literal nodes. Returns
/// `None` if the caller lacks an attribute the predicate names, or if a value
/// does not parse as the compared column's type (`inf`, `NaN`, `1e999` or
/// `five` for a number; `yesterday` for a date): the whole filter then
/// matches no row (DESIGN §3 rule 4). No error names the filter or the
/// columns, because the caller may not see them.
pub fn substitute(
    src: &str,
    table: &Table,
    attrs: &BTreeMap<String, String>,
) -> Result<Option<RowExpr>> {
    let mut expr = parse(src)?;
    let lower: BTreeMap<String, &String> = attrs
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect();
    let mut ok = true;
    subst(&mut expr, table, &lower, None, &mut ok);
    Ok(ok.then_some(RowExpr(expr)))
}

fn value(value: Value) -> Expr {
    Expr::Value(ValueWithSpan {
        value,
        span: Span::empty(),
    })
}

/// A decimal number: optional sign, digits with at most one `.`, optional
/// exponent; finite. `inf`, `NaN`, `0x10`, `1_000` and `1e999` are not.
fn number_literal(v: &str) -> Option<Expr> {
    let t = v.trim();
    let (negative, body) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (body.get(..i)?, Some(body.get(i + 1..)?)),
        None => (body, None),
    };
    let mut dots = 0;
    let mut digits = 0;
    for c in mantissa.chars() {
        match c {
            '0'..='9' => digits += 1,
            '.' => dots += 1,
            _ => return None,
        }
    }
    if digits == 0 || dots > 1 {
        return None;
    }
    if let Some(x) = exponent {
        let x = x.strip_prefix(['+', '-']).unwrap_or(x);
        if x.is_empty() || !x.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
    }
    if !body.parse::<f64>().is_ok_and(f64::is_finite) {
        return None;
    }
    let n = value(Value::Number(body.to_string(), false));
    Some(if negative {
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr: Box::new(n),
        }
    } else {
        n
    })
}

/// `n` ASCII digits.
fn digits(s: &str, n: usize) -> Option<u32> {
    (s.len() == n && s.chars().all(|c| c.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// `YYYY-MM-DD` with a month and day that exist.
fn is_date(s: &str) -> bool {
    let mut it = s.split('-');
    let (Some(y), Some(m), Some(d), None) = (it.next(), it.next(), it.next(), it.next()) else {
        return false;
    };
    let (Some(y), Some(m), Some(d)) = (digits(y, 4), digits(m, 2), digits(d, 2)) else {
        return false;
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d)
}

/// `HH:MM[:SS[.fraction]]`.
fn is_time(s: &str) -> bool {
    let (hms, frac) = match s.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (s, None),
    };
    if frac.is_some_and(|f| f.is_empty() || f.len() > 9 || !f.chars().all(|c| c.is_ascii_digit())) {
        return false;
    }
    let parts: Vec<&str> = hms.split(':').collect();
    let ok = |p: Option<&&str>, max: u32| p.and_then(|p| digits(p, 2)).is_some_and(|v| v <= max);
    match parts.len() {
        2 => frac.is_none() && ok(parts.first(), 23) && ok(parts.get(1), 59),
        3 => ok(parts.first(), 23) && ok(parts.get(1), 59) && ok(parts.get(2), 59),
        _ => false,
    }
}

/// `DATE[( |T)TIME[Z|(+|-)HH:MM]]`.
fn is_timestamp(s: &str) -> bool {
    let Some(date) = s.get(..10) else {
        return false;
    };
    if !is_date(date) {
        return false;
    }
    let rest = s.get(10..).unwrap_or_default();
    if rest.is_empty() {
        return true;
    }
    let Some(time) = rest.strip_prefix([' ', 'T']) else {
        return false;
    };
    let time = time.strip_suffix('Z').unwrap_or(time);
    let (time, zone) = match time.rfind(['+', '-']) {
        Some(i) => (time.get(..i).unwrap_or_default(), time.get(i + 1..)),
        None => (time, None),
    };
    is_time(time) && zone.is_none_or(|z| is_time(z) && z.len() == 5)
}

fn literal_for(ty: Ty, data_type: &str, v: &str) -> Option<Expr> {
    match ty {
        Ty::Number => number_literal(v),
        Ty::Boolean => match v.trim().to_ascii_lowercase().as_str() {
            "true" => Some(value(Value::Boolean(true))),
            "false" => Some(value(Value::Boolean(false))),
            _ => None,
        },
        Ty::String => Some(value(Value::SingleQuotedString(v.to_string()))),
        Ty::Temporal => {
            let ok = if data_type.starts_with("Date") {
                is_date(v)
            } else if data_type.starts_with("Timestamp") {
                is_timestamp(v)
            } else {
                is_time(v)
            };
            ok.then(|| value(Value::SingleQuotedString(v.to_string())))
        }
        // No attribute is compared with a column of another type: no rows.
        Ty::Other => None,
    }
}

fn column_type_of<'t>(e: &Expr, table: &'t Table) -> Option<(Ty, &'t str)> {
    match e {
        Expr::Identifier(Ident {
            value, quote_style, ..
        }) if !value.starts_with(ATTR_PREFIX) => {
            let name = if quote_style.is_some() {
                value.clone()
            } else {
                value.to_ascii_lowercase()
            };
            table
                .column(&name)
                .map(|c| (column_ty(&c.data_type), c.data_type.as_str()))
        }
        Expr::Nested(inner) => column_type_of(inner, table),
        _ => None,
    }
}

fn subst(
    e: &mut Expr,
    table: &Table,
    attrs: &BTreeMap<String, &String>,
    ty: Option<(Ty, &str)>,
    ok: &mut bool,
) {
    match e {
        Expr::Identifier(id) => {
            if let Some(name) = id.value.strip_prefix(ATTR_PREFIX) {
                match (attrs.get(name), ty) {
                    (Some(v), Some((t, dt))) => match literal_for(t, dt, v) {
                        Some(lit) => *e = lit,
                        None => *ok = false,
                    },
                    _ => *ok = false,
                }
            }
        }
        Expr::Nested(inner) => subst(inner, table, attrs, ty, ok),
        Expr::BinaryOp { left, right, .. } => {
            let lt = column_type_of(left, table);
            let rt = column_type_of(right, table);
            subst(left, table, attrs, rt.or(ty), ok);
            subst(right, table, attrs, lt.or(ty), ok);
        }
        Expr::UnaryOp { expr, .. } => subst(expr, table, attrs, ty, ok),
        Expr::Between {
            expr, low, high, ..
        } => {
            let t = column_type_of(expr, table);
            subst(low, table, attrs, t, ok);
            subst(high, table, attrs, t, ok);
        }
        Expr::InList { expr, list, .. } => {
            let t = column_type_of(expr, table);
            for v in list {
                subst(v, table, attrs, t, ok);
            }
        }
        Expr::Like { expr, pattern, .. } => {
            let t = column_type_of(expr, table);
            subst(pattern, table, attrs, t, ok);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests;
