//! Writing a lake: Parquet and JSON-lines files, and the `sales` fixture
//! most tests query.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;

/// Writes `batches` (one schema) as one Parquet file, creating its folder.
pub fn write_parquet(path: &Path, batches: impl IntoIterator<Item = RecordBatch>) {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("create the file's folder");
    }
    let mut file = Some(std::fs::File::create(path).expect("create the Parquet file"));
    let mut w: Option<ArrowWriter<std::fs::File>> = None;
    for b in batches {
        let w = w.get_or_insert_with(|| {
            ArrowWriter::try_new(file.take().expect("one writer"), b.schema(), None)
                .expect("Parquet writer")
        });
        w.write(&b).expect("write a batch");
    }
    w.expect("at least one batch")
        .close()
        .expect("close the Parquet file");
}

/// Writes rows as newline-delimited JSON objects with keys `names`.
pub fn write_json_rows(path: &Path, names: &[String], rows: &[Vec<serde_json::Value>]) {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("create the file's folder");
    }
    let mut text = String::new();
    for row in rows {
        let obj: serde_json::Map<String, serde_json::Value> =
            names.iter().cloned().zip(row.iter().cloned()).collect();
        text.push_str(&serde_json::Value::Object(obj).to_string());
        text.push('\n');
    }
    std::fs::write(path, text).expect("write the JSON file");
}

/// The `sales` fixture under `root`:
/// - `sales/orders/region=R/` (partitioned by `region`): `id`, `amount`,
///   `email` — EU: (1, 10.0, ann@x.com), (2, 20.0, NULL); US: (3, 30.0,
///   cy@y.com); APAC: (4, 40.0, dee@z.com);
/// - `sales/customers/`: `id`, `name` — (1, ann) … (4, dee).
pub fn write_sales(root: &Path) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("amount", DataType::Float64, false),
        Field::new("email", DataType::Utf8, true),
    ]));
    for (region, ids, amounts, emails) in [
        (
            "EU",
            vec![1i64, 2],
            vec![10.0, 20.0],
            vec![Some("ann@x.com"), None],
        ),
        ("US", vec![3], vec![30.0], vec![Some("cy@y.com")]),
        ("APAC", vec![4], vec![40.0], vec![Some("dee@z.com")]),
    ] {
        let cols: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(ids)),
            Arc::new(Float64Array::from(amounts)),
            Arc::new(StringArray::from(emails)),
        ];
        write_parquet(
            &root.join(format!("sales/orders/region={region}/part-0.parquet")),
            [RecordBatch::try_new(schema.clone(), cols).expect("orders batch")],
        );
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, false),
    ]));
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(vec![1i64, 2, 3, 4])),
        Arc::new(StringArray::from(vec!["ann", "bo", "cy", "dee"])),
    ];
    write_parquet(
        &root.join("sales/customers/part-0.parquet"),
        [RecordBatch::try_new(schema, cols).expect("customers batch")],
    );
}

/// The benchmarks' lake under `root`:
/// - `sales/orders/`: 1,000 rows (`id` 1…1000, `amount`, `email`);
/// - `bench/big/`: `big_rows` rows (`id` Int64, `amount` Float64, `name`
///   Utf8) in `big_files` files, written in 64 Ki-row batches.
pub fn write_bench(root: &Path, big_rows: usize, big_files: usize) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("amount", DataType::Float64, false),
        Field::new("email", DataType::Utf8, true),
    ]));
    let n = 1000i64;
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(1..=n)),
        Arc::new(Float64Array::from_iter_values((1..=n).map(|i| i as f64))),
        Arc::new(StringArray::from_iter_values(
            (1..=n).map(|i| format!("user{i}@example.com")),
        )),
    ];
    write_parquet(
        &root.join("sales/orders/part-0.parquet"),
        [RecordBatch::try_new(schema, cols).expect("orders batch")],
    );
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("amount", DataType::Float64, false),
        Field::new("name", DataType::Utf8, false),
    ]));
    let per_file = big_rows / big_files.max(1);
    for f in 0..big_files {
        let start = f * per_file;
        let schema = schema.clone();
        let batches = (0..per_file.div_ceil(CHUNK)).map(move |c| {
            let lo = (start + c * CHUNK) as i64;
            let hi = (start + ((c + 1) * CHUNK).min(per_file)) as i64;
            let cols: Vec<ArrayRef> = vec![
                Arc::new(Int64Array::from_iter_values(lo..hi)),
                Arc::new(Float64Array::from_iter_values(
                    (lo..hi).map(|i| (i % 10_000) as f64 * 0.25),
                )),
                Arc::new(StringArray::from_iter_values(
                    (lo..hi).map(|i| format!("customer-{}", i % 100_000)),
                )),
            ];
            RecordBatch::try_new(schema.clone(), cols).expect("big batch")
        });
        write_parquet(&root.join(format!("bench/big/part-{f}.parquet")), batches);
    }
}

/// Rows per batch when writing large files.
pub const CHUNK: usize = 65_536;
