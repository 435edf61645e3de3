//! Delta file statistics (`add.stats`) from a Parquet file's metadata.
//!
//! Readers skip files with these figures, so a wrong bound loses rows from
//! query results. Every value written here is therefore a bound that holds:
//! - `numRecords` and `nullCount` are the writer's own counts; a column whose
//!   null count any row group lacks gets none.
//! - `minValues`/`maxValues` only for integers, dates, UTC timestamps and
//!   text. Timestamps are rounded outward to milliseconds (minimum down,
//!   maximum up); text longer than 32 characters keeps a 32-character prefix
//!   as its minimum and no maximum. A row group with values but no statistic
//!   drops the column's bounds.
//! - Other types (decimals, floats, booleans, binary) get counts only.

use deltalake_core::arrow::array::{Array, ArrayRef, AsArray as _};
use deltalake_core::arrow::datatypes::{
    DataType, Date32Type, Int64Type, Schema, TimeUnit, TimestampMicrosecondType,
};
use deltalake_core::parquet::arrow::arrow_reader::statistics::StatisticsConverter;
use deltalake_core::parquet::file::metadata::ParquetMetaData;
use serde_json::{Map, Value};

/// Longest text bound kept, in characters (Delta's default prefix length).
const TEXT_PREFIX: usize = 32;

/// The `add.stats` JSON for a file with `meta` written from `schema`.
pub(crate) fn file_stats(meta: &ParquetMetaData, schema: &Schema) -> String {
    let groups = meta.row_groups();
    let rows: i64 = groups.iter().map(|g| g.num_rows()).sum();
    let (mut mins, mut maxes, mut nulls) = (Map::new(), Map::new(), Map::new());
    for field in schema.fields() {
        let Ok(conv) =
            StatisticsConverter::try_new(field.name(), schema, meta.file_metadata().schema_descr())
        else {
            continue;
        };
        let group_nulls = conv.row_group_null_counts(groups.iter()).ok();
        let complete = group_nulls.as_ref().filter(|n| n.null_count() == 0);
        if let Some(n) = complete {
            nulls.insert(
                field.name().clone(),
                Value::from(n.values().iter().sum::<u64>()),
            );
        }
        // A row group whose values are all null has no bounds and needs none.
        let all_null: Vec<bool> = groups
            .iter()
            .enumerate()
            .map(|(i, g)| {
                complete.is_some_and(|n| n.value(i) == u64::try_from(g.num_rows()).unwrap_or(0))
            })
            .collect();
        let (Ok(lo), Ok(hi)) = (
            conv.row_group_mins(groups.iter()),
            conv.row_group_maxes(groups.iter()),
        ) else {
            continue;
        };
        if let Some(v) = bound(&lo, &all_null, field.data_type(), Side::Min) {
            mins.insert(field.name().clone(), v);
        }
        if let Some(v) = bound(&hi, &all_null, field.data_type(), Side::Max) {
            maxes.insert(field.name().clone(), v);
        }
    }
    let mut stats = Map::new();
    stats.insert("numRecords".into(), Value::from(rows));
    stats.insert("minValues".into(), Value::Object(mins));
    stats.insert("maxValues".into(), Value::Object(maxes));
    stats.insert("nullCount".into(), Value::Object(nulls));
    Value::Object(stats).to_string()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Min,
    Max,
}

/// The file-wide bound from per-row-group bounds, or `None` when one is
/// missing for a row group that has values, or the type gets no bounds.
fn bound(per_group: &ArrayRef, all_null: &[bool], ty: &DataType, side: Side) -> Option<Value> {
    if per_group.len() != all_null.len() {
        return None;
    }
    let known = |i: usize| per_group.is_valid(i);
    if (0..per_group.len()).any(|i| !known(i) && !all_null.get(i).copied().unwrap_or(false)) {
        return None;
    }
    let pick = |a: i64, b: i64| {
        if side == Side::Min {
            a.min(b)
        } else {
            a.max(b)
        }
    };
    match ty {
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => {
            let wide = deltalake_core::arrow::compute::cast(per_group, &DataType::Int64).ok()?;
            let v = wide.as_primitive::<Int64Type>();
            let n = (0..v.len())
                .filter(|i| v.is_valid(*i))
                .map(|i| v.value(i))
                .reduce(pick)?;
            Some(Value::from(n))
        }
        DataType::Date32 => {
            let v = per_group.as_primitive::<Date32Type>();
            let d = (0..v.len())
                .filter(|i| v.is_valid(*i))
                .map(|i| i64::from(v.value(i)))
                .reduce(pick)?;
            let day = chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?
                .checked_add_signed(chrono::TimeDelta::try_days(d)?)?;
            Some(Value::from(day.format("%Y-%m-%d").to_string()))
        }
        DataType::Timestamp(TimeUnit::Microsecond, Some(tz)) if tz.as_ref() == "UTC" => {
            let v = per_group.as_primitive::<TimestampMicrosecondType>();
            let us = (0..v.len())
                .filter(|i| v.is_valid(*i))
                .map(|i| v.value(i))
                .reduce(pick)?;
            let ms = match side {
                Side::Min => us.div_euclid(1000),
                Side::Max => us.checked_add(999)?.div_euclid(1000),
            };
            let at = chrono::DateTime::from_timestamp_millis(ms)?;
            Some(Value::from(at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()))
        }
        DataType::Utf8 => {
            let v = per_group.as_string::<i32>();
            let s = (0..v.len())
                .filter(|i| v.is_valid(*i))
                .map(|i| v.value(i))
                .reduce(|a, b| {
                    if (side == Side::Min) == (a <= b) {
                        a
                    } else {
                        b
                    }
                })?;
            match side {
                Side::Min => Some(Value::from(s.chars().take(TEXT_PREFIX).collect::<String>())),
                Side::Max if s.chars().count() <= TEXT_PREFIX => Some(Value::from(s)),
                Side::Max => None,
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::indexing_slicing,
        reason = "test code: a panic is a failed test"
    )]
    use super::*;
    use deltalake_core::arrow::array::{
        Date32Array, Decimal128Array, Int32Array, RecordBatch, StringArray,
        TimestampMicrosecondArray,
    };
    use deltalake_core::arrow::datatypes::Field;
    use deltalake_core::parquet::file::properties::WriterProperties;
    use std::sync::Arc;

    #[test]
    fn bounds_hold_for_every_row_and_lossy_types_get_counts_only()
    -> Result<(), Box<dyn std::error::Error>> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("i", DataType::Int32, true),
            Field::new("d", DataType::Date32, true),
            Field::new(
                "t",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
            Field::new("s", DataType::Utf8, true),
            Field::new("long", DataType::Utf8, true),
            Field::new("m", DataType::Decimal128(10, 2), true),
            Field::new("none", DataType::Int32, true),
        ]));
        let (long_a, long_z) = ("a".repeat(40), "z".repeat(40));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int32Array::from(vec![Some(-5), None, Some(7)])),
                Arc::new(Date32Array::from(vec![Some(0), Some(19_000), None])),
                // .0015 s and -.0005 s: the bounds round outward.
                Arc::new(
                    TimestampMicrosecondArray::from(vec![Some(1_500), Some(-500), None])
                        .with_timezone("UTC"),
                ),
                Arc::new(StringArray::from(vec![Some("b"), Some("a"), Some("c")])),
                Arc::new(StringArray::from(vec![
                    Some(long_z.as_str()),
                    Some(long_a.as_str()),
                    None,
                ])),
                Arc::new(
                    Decimal128Array::from(vec![Some(1), Some(2), None])
                        .with_precision_and_scale(10, 2)?,
                ),
                Arc::new(Int32Array::from(vec![None, None, None])),
            ],
        )?;
        let dir = tempfile::tempdir()?;
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(2))
            .build();
        let meta =
            super::super::encode::write_file(&dir.path().join("f.parquet"), &[batch], props)?;
        let v: Value = serde_json::from_str(&file_stats(&meta, &schema))?;
        assert_eq!(v["numRecords"], 3);
        assert_eq!(v["minValues"]["i"], -5);
        assert_eq!(v["maxValues"]["i"], 7);
        assert_eq!(v["nullCount"]["i"], 1);
        assert_eq!(v["minValues"]["d"], "1970-01-01");
        assert_eq!(v["maxValues"]["d"], "2022-01-08");
        assert_eq!(v["minValues"]["t"], "1969-12-31T23:59:59.999Z");
        assert_eq!(v["maxValues"]["t"], "1970-01-01T00:00:00.002Z");
        assert_eq!(v["minValues"]["s"], "a");
        assert_eq!(v["maxValues"]["s"], "c");
        // A 40-character maximum is not cut (a cut maximum would be too
        // small); the minimum keeps a prefix, which is still a lower bound.
        assert_eq!(v["minValues"]["long"], "a".repeat(32));
        assert!(v["maxValues"].get("long").is_none());
        assert!(v["minValues"].get("m").is_none());
        assert_eq!(v["nullCount"]["m"], 1);
        assert!(v["minValues"].get("none").is_none());
        assert_eq!(v["nullCount"]["none"], 3);
        Ok(())
    }
}
