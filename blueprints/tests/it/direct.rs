//! The direct Delta write (one column-parallel Parquet file and our own
//! commit), read back through deltalake's DataFusion provider: rows,
//! overwrite, append, and file skipping on the statistics it wrote.

use std::sync::Arc;

use blueprints::delta::{self, CommitMeta, Mode};
use deltalake_core::arrow::array::{
    Decimal128Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use deltalake_core::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use deltalake_core::arrow::util::pretty::pretty_format_batches;
use deltalake_core::datafusion::prelude::SessionContext;

fn schema(extra: bool) -> Arc<Schema> {
    let mut fields = vec![
        Field::new("id", DataType::Int64, true),
        Field::new(
            "at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
        Field::new(
            "local",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            true,
        ),
        Field::new("note", DataType::Utf8, true),
        Field::new("amount", DataType::Decimal128(12, 2), true),
    ];
    if extra {
        fields.push(Field::new("added", DataType::Utf8, true));
    }
    Arc::new(Schema::new(fields))
}

/// Row `i`'s timestamp: odd rows a microsecond before a millisecond, so
/// the smallest and largest (rows 1 and 19) are.
fn stamp(i: i64) -> i64 {
    1_700_000_000_000_000 + i * 1_000 + 1 - 2 * (i % 2)
}

/// Rows `from..to`; timestamps a few microseconds either side of a
/// millisecond, so a bound cut to milliseconds would skip rows.
fn batch(from: i64, to: i64, extra: bool) -> RecordBatch {
    let ids: Vec<i64> = (from..to).collect();
    let at: Vec<Option<i64>> = ids
        .iter()
        .map(|i| (i % 5 != 0).then_some(stamp(*i)))
        .collect();
    let mut cols: Vec<Arc<dyn deltalake_core::arrow::array::Array>> = vec![
        Arc::new(Int64Array::from(ids.clone())),
        Arc::new(TimestampMicrosecondArray::from(at.clone()).with_timezone("UTC")),
        Arc::new(TimestampMicrosecondArray::from(at)),
        Arc::new(StringArray::from(
            ids.iter()
                .map(|i| format!("note {i:04}"))
                .collect::<Vec<_>>(),
        )),
        Arc::new(
            Decimal128Array::from(ids.iter().map(|i| i128::from(*i) * 101).collect::<Vec<_>>())
                .with_precision_and_scale(12, 2)
                .unwrap(),
        ),
    ];
    if extra {
        cols.push(Arc::new(StringArray::from(vec![Some("x"); ids.len()])));
    }
    RecordBatch::try_new(schema(extra), cols).unwrap()
}

fn meta(run: &str, seq: i64) -> CommitMeta<'_> {
    CommitMeta {
        blueprint: "direct",
        seq,
        run_id: run,
        bookmark: serde_json::json!([seq]),
        files: serde_json::Value::Null,
    }
}

async fn sql(location: &str, query: &str) -> String {
    let table = delta::open(location).await.unwrap();
    let ctx = SessionContext::new();
    table.update_datafusion_session(&ctx.state()).unwrap();
    ctx.register_table("t", table.table_provider().await.unwrap())
        .unwrap();
    let out = ctx.sql(query).await.unwrap().collect().await.unwrap();
    pretty_format_batches(&out).unwrap().to_string()
}

async fn count(location: &str, filter: &str) -> String {
    let out = sql(
        location,
        &format!("SELECT count(*) AS n FROM t WHERE {filter}"),
    )
    .await;
    out.lines()
        .nth(3)
        .unwrap()
        .trim_matches(|c| c == '|' || c == ' ')
        .to_string()
}

fn data_files(dir: &std::path::Path, run: &str) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            let name = name.to_string_lossy();
            name.starts_with(&format!("part-00000-{run}-")) && name.ends_with(".parquet")
        })
        .count()
}

#[tokio::test]
async fn new_overwritten_and_appended_tables_read_back_and_skip_files_soundly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t");
    let loc = format!("file://{}/", path.display());

    // A new table, in three batches: written directly, one file.
    let table = delta::open_or_create(&loc).await.unwrap();
    let batches = vec![
        batch(0, 7, false),
        batch(7, 20, false),
        batch(20, 21, false),
    ];
    delta::commit(table, batches, Mode::Overwrite, &[], meta("r1", 1))
        .await
        .unwrap();
    assert_eq!(data_files(&path, "r1"), 1, "the direct write made one file");
    assert_eq!(count(&loc, "true").await, "21");
    let state = delta::state(&delta::open(&loc).await.unwrap(), "direct", false)
        .await
        .unwrap();
    assert_eq!(
        (state.seq, state.bookmark),
        (1, Some(serde_json::json!([1])))
    );

    // Every value found by equality and by range: the statistics never
    // exclude the file holding it.
    for i in 0..21i64 {
        if i % 5 != 0 {
            let us = stamp(i);
            let ts = format!("to_timestamp_micros({us})");
            let utc = format!("arrow_cast({us}, 'Timestamp(Microsecond, Some(\"UTC\"))')");
            assert_eq!(count(&loc, &format!("at = {utc}")).await, "1", "row {i}");
            assert_eq!(count(&loc, &format!("local = {ts}")).await, "1", "row {i}");
            assert_eq!(
                count(&loc, &format!("at >= {ts} AND at <= {ts}")).await,
                "1"
            );
        }
        assert_eq!(count(&loc, &format!("id = {i}")).await, "1");
        assert_eq!(count(&loc, &format!("note = 'note {i:04}'")).await, "1");
    }
    assert_eq!(count(&loc, "at IS NULL").await, "5");
    assert_eq!(count(&loc, "id > 20").await, "0");

    // Overwrite an existing table: the old rows are gone.
    let table = delta::open(&loc).await.unwrap();
    delta::commit(
        table,
        vec![batch(100, 110, false)],
        Mode::Overwrite,
        &[],
        meta("r2", 2),
    )
    .await
    .unwrap();
    assert_eq!(data_files(&path, "r2"), 1);
    assert_eq!(count(&loc, "true").await, "10");
    assert_eq!(count(&loc, "id < 100").await, "0");

    // Append with the same schema: both runs' rows.
    let table = delta::open(&loc).await.unwrap();
    delta::commit(
        table,
        vec![batch(200, 205, false)],
        Mode::Append,
        &[],
        meta("r3", 3),
    )
    .await
    .unwrap();
    assert_eq!(data_files(&path, "r3"), 1);
    assert_eq!(count(&loc, "true").await, "15");

    // A new column goes through deltalake's writer, which grows the schema.
    let table = delta::open(&loc).await.unwrap();
    delta::commit(
        table,
        vec![batch(300, 302, true)],
        Mode::Append,
        &[],
        meta("r4", 4),
    )
    .await
    .unwrap();
    assert_eq!(data_files(&path, "r4"), 0);
    assert_eq!(count(&loc, "added = 'x'").await, "2");
    assert_eq!(count(&loc, "true").await, "17");
    let state = delta::state(&delta::open(&loc).await.unwrap(), "direct", false)
        .await
        .unwrap();
    assert_eq!(state.seq, 4);
}

#[tokio::test]
async fn partitioned_tables_take_deltalakes_writer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p");
    let loc = format!("file://{}/", path.display());
    let table = delta::open_or_create(&loc).await.unwrap();
    delta::commit(
        table,
        vec![batch(0, 4, false)],
        Mode::Overwrite,
        &["note".to_string()],
        meta("p1", 1),
    )
    .await
    .unwrap();
    assert_eq!(data_files(&path, "p1"), 0);
    assert!(path.join("note=note 0001").is_dir() || path.join("note=note%200001").is_dir());
    assert_eq!(count(&loc, "note = 'note 0002'").await, "1");
}
