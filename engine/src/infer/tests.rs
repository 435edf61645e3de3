#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a panic is a failed test"
)]

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use policy_engine::model::{Column, Format, LocationUri};

use super::infer_table;
use crate::error::EngineError;

fn write_parquet(path: &Path, batch: &RecordBatch) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let f = std::fs::File::create(path).unwrap();
    let mut w = ArrowWriter::try_new(f, batch.schema(), None).unwrap();
    w.write(batch).unwrap();
    w.close().unwrap();
}

fn batch(cols: Vec<(&str, ArrayRef)>) -> RecordBatch {
    RecordBatch::try_from_iter(cols).unwrap()
}

fn orders() -> RecordBatch {
    batch(vec![
        ("id", Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef),
        ("email", Arc::new(StringArray::from(vec!["a@x", "b@y"]))),
        ("amount", Arc::new(Float64Array::from(vec![1.5, 2.5]))),
    ])
}

fn loc(dir: &Path) -> LocationUri {
    LocationUri::parse(&format!("file://{}/", dir.display())).unwrap()
}

fn col(name: &str, t: &str, partition: bool) -> Column {
    Column {
        name: name.into(),
        data_type: t.into(),
        partition,
    }
}

fn message(e: EngineError) -> String {
    e.to_string()
}

#[tokio::test]
async fn parquet_flat() {
    let d = tempfile::tempdir().unwrap();
    write_parquet(&d.path().join("part-0.parquet"), &orders());
    let got = infer_table(&loc(d.path()), Format::Parquet, &[])
        .await
        .unwrap();
    assert_eq!(
        got.columns,
        vec![
            col("id", "Int64", false),
            col("email", "Utf8", false),
            col("amount", "Float64", false)
        ]
    );
    assert!(got.partition_keys.is_empty());
}

#[tokio::test]
async fn parquet_hive_partitions_discovered_and_checked() {
    let d = tempfile::tempdir().unwrap();
    for (r, day) in [("eu", "1"), ("eu", "2"), ("us", "1")] {
        write_parquet(
            &d.path()
                .join(format!("region={r}"))
                .join(format!("day={day}"))
                .join("part-0.parquet"),
            &orders(),
        );
    }
    let got = infer_table(&loc(d.path()), Format::Parquet, &[])
        .await
        .unwrap();
    assert_eq!(got.partition_keys, vec!["region", "day"]);
    assert_eq!(
        got.columns[3..],
        [col("region", "Utf8", true), col("day", "Utf8", true)]
    );
    let keys = vec!["region".to_string(), "day".to_string()];
    let again = infer_table(&loc(d.path()), Format::Parquet, &keys)
        .await
        .unwrap();
    assert_eq!(again, got);
    let wrong = vec!["day".to_string(), "region".to_string()];
    let e = message(
        infer_table(&loc(d.path()), Format::Parquet, &wrong)
            .await
            .unwrap_err(),
    );
    assert!(
        e.contains("do not match") && e.contains("region=.../day=.../"),
        "{e}"
    );
}

#[tokio::test]
async fn single_partition_level() {
    let d = tempfile::tempdir().unwrap();
    write_parquet(&d.path().join("region=eu/part-0.parquet"), &orders());
    write_parquet(&d.path().join("region=us/part-0.parquet"), &orders());
    let got = infer_table(&loc(d.path()), Format::Parquet, &[])
        .await
        .unwrap();
    assert_eq!(got.partition_keys, vec!["region"]);
    assert_eq!(got.columns.len(), 4);
    assert_eq!(got.columns[3], col("region", "Utf8", true));
}

#[tokio::test]
async fn inconsistent_partitions_are_refused() {
    let d = tempfile::tempdir().unwrap();
    write_parquet(&d.path().join("region=eu/part-0.parquet"), &orders());
    write_parquet(&d.path().join("day=1/part-0.parquet"), &orders());
    let e = message(
        infer_table(&loc(d.path()), Format::Parquet, &[])
            .await
            .unwrap_err(),
    );
    assert!(
        e.contains("inconsistent") && e.contains("keys day") && e.contains("keys region"),
        "{e}"
    );

    let d = tempfile::tempdir().unwrap();
    write_parquet(&d.path().join("part-0.parquet"), &orders());
    write_parquet(&d.path().join("region=eu/part-0.parquet"), &orders());
    let e = message(
        infer_table(&loc(d.path()), Format::Parquet, &[])
            .await
            .unwrap_err(),
    );
    assert!(
        e.contains("inconsistent") && e.contains("no partition keys"),
        "{e}"
    );

    // Files in plain subfolders are not read, like DataFusion does.
    let d = tempfile::tempdir().unwrap();
    write_parquet(&d.path().join("extra/part-0.parquet"), &orders());
    let e = message(
        infer_table(&loc(d.path()), Format::Parquet, &[])
            .await
            .unwrap_err(),
    );
    assert!(
        e.contains("no `*.parquet` files") && e.contains("not read"),
        "{e}"
    );
    write_parquet(&d.path().join("part-0.parquet"), &orders());
    let got = infer_table(&loc(d.path()), Format::Parquet, &[])
        .await
        .unwrap();
    assert!(got.partition_keys.is_empty());
}

#[tokio::test]
async fn partition_keys_given_without_folders() {
    let d = tempfile::tempdir().unwrap();
    write_parquet(&d.path().join("part-0.parquet"), &orders());
    let e = message(
        infer_table(&loc(d.path()), Format::Parquet, &["region".to_string()])
            .await
            .unwrap_err(),
    );
    assert!(e.contains("no `key=value/` levels"), "{e}");
}

#[tokio::test]
async fn csv_and_json() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("a.csv"),
        "id,name,score\n1,ann,2.5\n2,bob,3\n",
    )
    .unwrap();
    let got = infer_table(&loc(d.path()), Format::Csv, &[]).await.unwrap();
    assert_eq!(
        got.columns,
        vec![
            col("id", "Int64", false),
            col("name", "Utf8", false),
            col("score", "Float64", false)
        ]
    );

    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("region=eu")).unwrap();
    std::fs::write(
        d.path().join("region=eu/a.json"),
        "{\"id\": 1, \"name\": \"ann\"}\n{\"id\": 2, \"name\": \"bob\"}\n",
    )
    .unwrap();
    let got = infer_table(&loc(d.path()), Format::Json, &[])
        .await
        .unwrap();
    assert_eq!(
        got.columns,
        vec![
            col("id", "Int64", false),
            col("name", "Utf8", false),
            col("region", "Utf8", true)
        ]
    );
}

#[tokio::test]
async fn bad_column_name_names_column_and_file() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("a.csv"), "id,Name\n1,ann\n").unwrap();
    let e = message(
        infer_table(&loc(d.path()), Format::Csv, &[])
            .await
            .unwrap_err(),
    );
    assert!(
        e.contains("column `Name`") && e.contains("a.csv") && e.contains("`name`"),
        "{e}"
    );

    let d = tempfile::tempdir().unwrap();
    write_parquet(&d.path().join("good.parquet"), &orders());
    write_parquet(
        &d.path().join("bad.parquet"),
        &batch(vec![(
            "first name",
            Arc::new(StringArray::from(vec!["x"])) as ArrayRef,
        )]),
    );
    let e = message(
        infer_table(&loc(d.path()), Format::Parquet, &[])
            .await
            .unwrap_err(),
    );
    assert!(
        e.contains("column `first name`") && e.contains("bad.parquet"),
        "{e}"
    );
}

#[tokio::test]
async fn partition_key_colliding_with_column() {
    let d = tempfile::tempdir().unwrap();
    write_parquet(&d.path().join("id=1/part-0.parquet"), &orders());
    let e = message(
        infer_table(&loc(d.path()), Format::Parquet, &[])
            .await
            .unwrap_err(),
    );
    assert!(e.contains("partition key `id`"), "{e}");
}

#[tokio::test]
async fn missing_location_empty_location_and_s3() {
    let d = tempfile::tempdir().unwrap();
    let missing = loc(&d.path().join("nope"));
    let e = message(
        infer_table(&missing, Format::Parquet, &[])
            .await
            .unwrap_err(),
    );
    assert!(e.contains("does not exist"), "{e}");

    std::fs::write(d.path().join("a.csv"), "id\n1\n").unwrap();
    let e = message(
        infer_table(&loc(d.path()), Format::Parquet, &[])
            .await
            .unwrap_err(),
    );
    assert!(e.contains("no `*.parquet` files"), "{e}");

    let s3 = LocationUri::parse("s3://bucket/prefix/").unwrap();
    let e = infer_table(&s3, Format::Parquet, &[]).await.unwrap_err();
    assert!(matches!(e, EngineError::Unsupported(_)));
    assert!(e.to_string().contains("only `file://`"), "{e}");
    assert!(matches!(
        policy_engine::Error::from(e),
        policy_engine::Error::InvalidArgument(_)
    ));
}
