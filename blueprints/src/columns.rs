//! Column types a blueprint can load, and the Arrow batches it builds.
//!
//! Every source maps its declared column types onto [`ColType`]; a type
//! with no faithful mapping is an error that names the table, the column and
//! the type, and the run fails. Values are then pushed cell by cell into
//! [`BatchBuilder`], which refuses a value that does not fit its column
//! (SQLite, for one, lets a TEXT value sit in an INTEGER column).

use std::sync::Arc;

use chrono::{NaiveDate, NaiveDateTime};
use deltalake_core::arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder, Float32Builder,
    Float64Builder, Int16Builder, Int32Builder, Int64Builder, RecordBatch, StringBuilder,
    TimestampMicrosecondBuilder,
};
use deltalake_core::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// A column type a blueprint loads faithfully.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColType {
    /// 16-bit integer.
    Int16,
    /// 32-bit integer.
    Int32,
    /// 64-bit integer.
    Int64,
    /// Exact decimal with precision (≤ 38) and scale.
    Decimal(u8, i8),
    /// 32-bit float.
    Float32,
    /// 64-bit float.
    Float64,
    /// UTF-8 text.
    Text,
    /// Boolean.
    Bool,
    /// Calendar date.
    Date,
    /// Timestamp without time zone, microseconds.
    Timestamp,
    /// Timestamp with time zone, microseconds since the epoch in UTC.
    TimestampTz,
    /// Bytes.
    Binary,
}

impl ColType {
    /// The Arrow type (what the Delta table and the catalog record).
    pub fn arrow(self) -> DataType {
        match self {
            ColType::Int16 => DataType::Int16,
            ColType::Int32 => DataType::Int32,
            ColType::Int64 => DataType::Int64,
            ColType::Decimal(p, s) => DataType::Decimal128(p, s),
            ColType::Float32 => DataType::Float32,
            ColType::Float64 => DataType::Float64,
            ColType::Text => DataType::Utf8,
            ColType::Bool => DataType::Boolean,
            ColType::Date => DataType::Date32,
            ColType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
            ColType::TimestampTz => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            ColType::Binary => DataType::Binary,
        }
    }

    /// A decimal type, if the precision fits Arrow's 128-bit decimals.
    pub fn decimal(precision: i64, scale: i64) -> Option<ColType> {
        let p = u8::try_from(precision)
            .ok()
            .filter(|p| (1..=38).contains(p))?;
        let s = i8::try_from(scale)
            .ok()
            .filter(|s| *s >= 0 && (*s as u8) <= p)?;
        Some(ColType::Decimal(p, s))
    }
}

/// A source column and the type it loads as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceColumn {
    /// Its name in the target (lower-case).
    pub name: String,
    /// Its name in the source, exactly.
    pub source: String,
    /// The type the source declares, for messages.
    pub declared: String,
    /// What it loads as.
    pub ty: ColType,
}

/// One value read from a source.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell<'a> {
    /// NULL.
    Null,
    /// Any integer.
    Int(i64),
    /// Any float.
    Float(f64),
    /// Text.
    Text(std::borrow::Cow<'a, str>),
    /// Bytes.
    Bytes(&'a [u8]),
    /// Boolean.
    Bool(bool),
    /// A date.
    Date(NaiveDate),
    /// Microseconds since the epoch (UTC for `TimestampTz`, wall clock otherwise).
    Micros(i64),
    /// A decimal's unscaled value at the column's scale.
    Unscaled(i128),
}

enum Builder {
    I16(Int16Builder),
    I32(Int32Builder),
    I64(Int64Builder),
    Dec(Decimal128Builder, u8, i8),
    F32(Float32Builder),
    F64(Float64Builder),
    Text(StringBuilder),
    Bool(BooleanBuilder),
    Date(Date32Builder),
    Ts(TimestampMicrosecondBuilder, bool),
    Bin(BinaryBuilder),
}

/// Builds record batches from cells, row by row.
pub struct BatchBuilder {
    schema: SchemaRef,
    columns: Vec<SourceColumn>,
    builders: Vec<Builder>,
    rows: usize,
    bytes: u64,
}

fn epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default()
}

/// Days since 1970-01-01.
pub fn date_days(d: NaiveDate) -> Option<i32> {
    i32::try_from(d.signed_duration_since(epoch()).num_days()).ok()
}

/// Parses `YYYY-MM-DD`.
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()
}

/// Parses `YYYY-MM-DD[ T]HH:MM[:SS[.ffffff]]` as microseconds since the epoch.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let s = s.trim();
    for fmt in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc().timestamp_micros());
        }
    }
    parse_date(s).and_then(|d| {
        d.and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().timestamp_micros())
    })
}

/// Parses a decimal literal exactly at `scale`; `None` when it has more
/// fractional digits than the scale or does not fit.
pub fn parse_decimal(s: &str, precision: u8, scale: i8) -> Option<i128> {
    let s = s.trim();
    let (neg, digits) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let frac = frac.trim_end_matches('0');
    let scale = usize::try_from(scale).ok()?;
    if int.is_empty() && frac.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > scale
    {
        return None;
    }
    let int = int.trim_start_matches('0');
    if int.len() + scale > usize::from(precision) {
        return None;
    }
    let mut v: i128 = 0;
    for b in int.bytes().chain(frac.bytes()) {
        v = v.checked_mul(10)?.checked_add(i128::from(b - b'0'))?;
    }
    for _ in frac.len()..scale {
        v = v.checked_mul(10)?;
    }
    Some(if neg { -v } else { v })
}

impl BatchBuilder {
    /// A builder for `columns`.
    pub fn new(columns: &[SourceColumn]) -> Self {
        let schema = Arc::new(Schema::new(
            columns
                .iter()
                .map(|c| Field::new(&c.name, c.ty.arrow(), true))
                .collect::<Vec<_>>(),
        ));
        let builders = columns
            .iter()
            .map(|c| match c.ty {
                ColType::Int16 => Builder::I16(Int16Builder::new()),
                ColType::Int32 => Builder::I32(Int32Builder::new()),
                ColType::Int64 => Builder::I64(Int64Builder::new()),
                ColType::Decimal(p, s) => Builder::Dec(
                    Decimal128Builder::new().with_data_type(DataType::Decimal128(p, s)),
                    p,
                    s,
                ),
                ColType::Float32 => Builder::F32(Float32Builder::new()),
                ColType::Float64 => Builder::F64(Float64Builder::new()),
                ColType::Text => Builder::Text(StringBuilder::new()),
                ColType::Bool => Builder::Bool(BooleanBuilder::new()),
                ColType::Date => Builder::Date(Date32Builder::new()),
                ColType::Timestamp => Builder::Ts(TimestampMicrosecondBuilder::new(), false),
                ColType::TimestampTz => Builder::Ts(TimestampMicrosecondBuilder::new(), true),
                ColType::Binary => Builder::Bin(BinaryBuilder::new()),
            })
            .collect();
        Self {
            schema,
            columns: columns.to_vec(),
            builders,
            rows: 0,
            bytes: 0,
        }
    }

    /// Rows pushed since the last [`BatchBuilder::finish`].
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Approximate bytes of the values pushed so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Pushes column `i`'s value of the current row. The row is complete
    /// when every column got one; call [`BatchBuilder::end_row`] then.
    pub fn push(&mut self, i: usize, cell: Cell<'_>) -> Result<(), String> {
        let col = self.columns.get(i).ok_or("more values than columns")?;
        let b = self.builders.get_mut(i).ok_or("more values than columns")?;
        let bad = |what: &str| {
            format!(
                "column `{}` ({}) holds {what}, which does not fit its type",
                col.name, col.declared
            )
        };
        let fits16 = |v: i64| i16::try_from(v).ok();
        let fits32 = |v: i64| i32::try_from(v).ok();
        self.bytes += match &cell {
            Cell::Text(t) => t.len() as u64,
            Cell::Bytes(b) => b.len() as u64,
            Cell::Null => 0,
            _ => 8,
        };
        match (b, cell) {
            (Builder::I16(b), Cell::Null) => b.append_null(),
            (Builder::I32(b), Cell::Null) => b.append_null(),
            (Builder::I64(b), Cell::Null) => b.append_null(),
            (Builder::Dec(b, ..), Cell::Null) => b.append_null(),
            (Builder::F32(b), Cell::Null) => b.append_null(),
            (Builder::F64(b), Cell::Null) => b.append_null(),
            (Builder::Text(b), Cell::Null) => b.append_null(),
            (Builder::Bool(b), Cell::Null) => b.append_null(),
            (Builder::Date(b), Cell::Null) => b.append_null(),
            (Builder::Ts(b, _), Cell::Null) => b.append_null(),
            (Builder::Bin(b), Cell::Null) => b.append_null(),
            (Builder::I16(b), Cell::Int(v)) => {
                b.append_value(fits16(v).ok_or_else(|| bad(&format!("the integer {v}")))?)
            }
            (Builder::I32(b), Cell::Int(v)) => {
                b.append_value(fits32(v).ok_or_else(|| bad(&format!("the integer {v}")))?)
            }
            (Builder::I64(b), Cell::Int(v)) => b.append_value(v),
            (Builder::Dec(b, ..), Cell::Unscaled(v)) => b.append_value(v),
            (Builder::Dec(b, _, s), Cell::Int(v)) => {
                let scaled = 10i128
                    .checked_pow(u32::try_from(*s).unwrap_or(0))
                    .and_then(|m| i128::from(v).checked_mul(m))
                    .ok_or_else(|| bad(&format!("the integer {v}")))?;
                b.append_value(scaled)
            }
            (Builder::Dec(b, p, s), Cell::Text(t)) => {
                let (p, s) = (*p, *s);
                b.append_value(
                    parse_decimal(&t, p, s).ok_or_else(|| bad(&format!("`{}`", clip(&t))))?,
                )
            }
            // SQLite stores a DECIMAL with a fraction as REAL: take the
            // shortest text that reads back as the same double, exactly at
            // the column's scale, or refuse it.
            (Builder::Dec(b, p, s), Cell::Float(v)) => {
                let (p, s) = (*p, *s);
                b.append_value(
                    parse_decimal(&v.to_string(), p, s)
                        .ok_or_else(|| bad(&format!("the number {v}")))?,
                )
            }
            (Builder::F32(b), Cell::Float(v)) => b.append_value(v as f32),
            (Builder::F64(b), Cell::Float(v)) => b.append_value(v),
            (Builder::F64(b), Cell::Int(v)) => b.append_value(v as f64),
            (Builder::Text(b), Cell::Text(t)) => b.append_value(t),
            (Builder::Bool(b), Cell::Bool(v)) => b.append_value(v),
            (Builder::Bool(b), Cell::Int(v @ (0 | 1))) => b.append_value(v == 1),
            (Builder::Date(b), Cell::Date(d)) => {
                b.append_value(date_days(d).ok_or_else(|| bad("a date out of range"))?)
            }
            (Builder::Date(b), Cell::Text(t)) => b.append_value(
                parse_date(&t)
                    .and_then(date_days)
                    .ok_or_else(|| bad(&format!("`{}`", clip(&t))))?,
            ),
            (Builder::Ts(b, _), Cell::Micros(v)) => b.append_value(v),
            (Builder::Ts(b, _), Cell::Text(t)) => {
                b.append_value(parse_timestamp(&t).ok_or_else(|| bad(&format!("`{}`", clip(&t))))?)
            }
            (Builder::Bin(b), Cell::Bytes(v)) => b.append_value(v),
            (_, other) => return Err(bad(&describe(&other))),
        }
        Ok(())
    }

    /// Marks the end of a row.
    pub fn end_row(&mut self) {
        self.rows += 1;
    }

    /// The batch of the rows pushed so far; the builder starts empty again.
    pub fn finish(&mut self) -> Result<RecordBatch, String> {
        let arrays: Vec<ArrayRef> = self
            .builders
            .iter_mut()
            .map(|b| -> ArrayRef {
                match b {
                    Builder::I16(b) => Arc::new(b.finish()),
                    Builder::I32(b) => Arc::new(b.finish()),
                    Builder::I64(b) => Arc::new(b.finish()),
                    Builder::Dec(b, ..) => Arc::new(b.finish()),
                    Builder::F32(b) => Arc::new(b.finish()),
                    Builder::F64(b) => Arc::new(b.finish()),
                    Builder::Text(b) => Arc::new(b.finish()),
                    Builder::Bool(b) => Arc::new(b.finish()),
                    Builder::Date(b) => Arc::new(b.finish()),
                    Builder::Ts(b, false) => Arc::new(b.finish()),
                    Builder::Ts(b, true) => Arc::new(b.finish().with_timezone("UTC")),
                    Builder::Bin(b) => Arc::new(b.finish()),
                }
            })
            .collect();
        self.rows = 0;
        RecordBatch::try_new(self.schema.clone(), arrays).map_err(|e| e.to_string())
    }

    /// The batches' schema.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}

fn describe(c: &Cell<'_>) -> String {
    match c {
        Cell::Null => "NULL".into(),
        Cell::Int(v) => format!("the integer {v}"),
        Cell::Float(v) => format!("the number {v}"),
        Cell::Text(t) => format!("the text `{}`", clip(t)),
        Cell::Bytes(b) => format!("{} bytes", b.len()),
        Cell::Bool(b) => format!("the boolean {b}"),
        Cell::Date(d) => format!("the date {d}"),
        Cell::Micros(_) => "a timestamp".into(),
        Cell::Unscaled(_) => "a decimal".into(),
    }
}

/// At most 40 characters of `s`, for messages.
pub fn clip(s: &str) -> String {
    let mut out: String = s.chars().take(40).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::indexing_slicing,
        reason = "test code: a panic is a failed test"
    )]
    use super::*;

    #[test]
    fn decimals_parse_exactly_or_not_at_all() {
        assert_eq!(parse_decimal("12.34", 5, 2), Some(1234));
        assert_eq!(parse_decimal("-0.5", 5, 2), Some(-50));
        assert_eq!(parse_decimal("7", 5, 2), Some(700));
        assert_eq!(parse_decimal("1.230", 5, 2), Some(123));
        assert_eq!(parse_decimal("1.234", 5, 2), None, "no silent rounding");
        assert_eq!(parse_decimal("1234", 5, 2), None, "too many digits");
        assert_eq!(parse_decimal("1e3", 5, 2), None);
        assert_eq!(parse_decimal("", 5, 2), None);
        assert_eq!(parse_decimal(".", 5, 2), None);
    }

    #[test]
    fn a_value_of_the_wrong_kind_is_refused_with_the_column() {
        let cols = [SourceColumn {
            name: "n".into(),
            source: "n".into(),
            declared: "INTEGER".into(),
            ty: ColType::Int32,
        }];
        let mut b = BatchBuilder::new(&cols);
        let err = b.push(0, Cell::Text("x".into())).unwrap_err();
        assert!(err.contains("column `n` (INTEGER)"), "{err}");
        let err = b.push(0, Cell::Int(1 << 40)).unwrap_err();
        assert!(err.contains("1099511627776"), "{err}");
    }
}
