//! Blueprint ingest throughput (issue 11, DESIGN §7).
//!
//! 1. **Delta commit vs plain Parquet.** The same in-memory batches (1M rows:
//!    an id, a decimal, a text and a timestamp) written by
//!    `blueprints::delta::commit` (the runner's path: Parquet data files, a
//!    commit with its `txn` and bookmark) and by arrow-rs's `ArrowWriter` to
//!    one Parquet file, with the same writer properties. Arms alternate, the
//!    median of each is compared; the target is ≥ 0.9×.
//! 2. **PostgreSQL snapshot.** A 1M-row table in a real PostgreSQL server
//!    (started here, as the tests do) loaded by `run_database` end to end:
//!    rows per second, and the same rows fetched by tokio-postgres alone as
//!    the baseline for the read side.
//!
//! Run with `cargo bench -p lakegate --bench ingest` (`-- --quick` for
//! 200k rows and 3 rounds).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs,
    reason = "a benchmark: any failure should stop it loudly"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use blueprints::Blueprint;
use blueprints::delta::{CommitMeta, Mode};
use blueprints::run::{Governance, RunError, run_database};
use deltalake_core::arrow::array::{
    ArrayRef, Decimal128Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use deltalake_core::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use deltalake_core::parquet::arrow::ArrowWriter;
use deltalake_core::parquet::basic::Compression;
use deltalake_core::parquet::file::properties::WriterProperties;
use futures::future::BoxFuture;
use test_kit::PgServer;

const BATCH: usize = 8192;

fn batches(rows: usize) -> Vec<RecordBatch> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("amount", DataType::Decimal128(12, 2), true),
        Field::new("note", DataType::Utf8, true),
        Field::new(
            "at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
    ]));
    (0..rows)
        .step_by(BATCH)
        .map(|start| {
            let n = BATCH.min(rows - start);
            let ids: Vec<i64> = (start..start + n).map(|i| i as i64).collect();
            let cols: Vec<ArrayRef> = vec![
                Arc::new(Int64Array::from(ids.clone())),
                Arc::new(
                    Decimal128Array::from(
                        ids.iter()
                            .map(|i| i128::from(*i) * 7 % 100_000)
                            .collect::<Vec<_>>(),
                    )
                    .with_precision_and_scale(12, 2)
                    .unwrap(),
                ),
                Arc::new(StringArray::from(
                    ids.iter()
                        .map(|i| format!("order note {i}"))
                        .collect::<Vec<_>>(),
                )),
                Arc::new(
                    TimestampMicrosecondArray::from(
                        ids.iter()
                            .map(|i| 1_700_000_000_000_000 + i * 1_000_000)
                            .collect::<Vec<_>>(),
                    )
                    .with_timezone("UTC"),
                ),
            ];
            RecordBatch::try_new(schema.clone(), cols).unwrap()
        })
        .collect()
}

fn props() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

async fn delta_once(dir: &std::path::Path, data: &[RecordBatch], round: usize) -> Duration {
    let loc = format!("file://{}/delta{round}/", dir.display());
    let start = Instant::now();
    let table = blueprints::delta::open_or_create(&loc).await.unwrap();
    blueprints::delta::commit_with(
        table,
        data.to_vec(),
        Mode::Overwrite,
        &[],
        CommitMeta {
            blueprint: "bench",
            seq: 1,
            run_id: "bench",
            bookmark: serde_json::Value::Null,
            files: serde_json::Value::Null,
        },
        Some(props()),
    )
    .await
    .unwrap();
    start.elapsed()
}

async fn sink_once(dir: &std::path::Path, data: &[RecordBatch], round: usize) -> Duration {
    use deltalake_core::datafile::writer::{DeltaWriter, WriterConfig};
    let loc = format!("file://{}/sink{round}/", dir.display());
    let start = Instant::now();
    let table = blueprints::delta::open_or_create(&loc).await.unwrap();
    let store = table.log_store().object_store(None);
    let cfg = WriterConfig::new(
        data[0].schema(),
        vec![],
        Some(props()),
        None,
        Some(8192),
        "32".try_into().unwrap(),
        None,
    );
    let mut w = DeltaWriter::new(store, cfg);
    for b in data {
        w.write(b).await.unwrap();
    }
    let adds = w.close().await.unwrap();
    assert!(!adds.is_empty());
    start.elapsed()
}

fn parquet_once(dir: &std::path::Path, data: &[RecordBatch], round: usize) -> Duration {
    let path = dir.join(format!("plain{round}.parquet"));
    let start = Instant::now();
    let file = std::fs::File::create(&path).unwrap();
    let mut w = ArrowWriter::try_new(file, data[0].schema(), Some(props())).unwrap();
    for b in data {
        w.write(b).unwrap();
    }
    w.close().unwrap();
    start.elapsed()
}

struct Allow;

impl Governance for Allow {
    fn authorize(&self, _: &str, _: &str, _: &[String], _: bool) -> Result<(), RunError> {
        Ok(())
    }
    fn authorize_source(&self, _: &str) -> Result<(), RunError> {
        Ok(())
    }
    fn register<'a>(
        &'a self,
        _: &'a str,
        _: &'a str,
        _: &'a str,
    ) -> BoxFuture<'a, Result<(), RunError>> {
        Box::pin(async { Ok(()) })
    }
}

#[tokio::main]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (rows, rounds) = if quick { (200_000, 3) } else { (1_000_000, 5) };
    let dir = tempfile::tempdir().unwrap();
    let data = batches(rows);

    let (mut d, mut p) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        if round % 2 == 0 {
            p.push(parquet_once(dir.path(), &data, round));
            d.push(delta_once(dir.path(), &data, round).await);
        } else {
            d.push(delta_once(dir.path(), &data, round).await);
            p.push(parquet_once(dir.path(), &data, round));
        }
    }
    if std::env::var("LG_EXPERIMENT").is_ok() {
        let mut s = Vec::new();
        for round in 0..rounds {
            s.push(sink_once(dir.path(), &data, round).await);
        }
        println!("EXPERIMENT sink_ms={:.1}", median(s).as_secs_f64() * 1e3);
    }
    let (d, p) = (median(d), median(p));
    let ratio = p.as_secs_f64() / d.as_secs_f64();
    println!(
        "ingest_delta_vs_parquet rows={rows} delta_ms={:.1} parquet_ms={:.1} throughput_ratio={ratio:.3} target>=0.9 {}",
        d.as_secs_f64() * 1e3,
        p.as_secs_f64() * 1e3,
        if ratio >= 0.9 { "PASS" } else { "FAIL" }
    );

    // PostgreSQL snapshot, end to end.
    let pg = PgServer::start();
    pg.create_user_db("bench", "bench-pw", "crm");
    pg.sql(
        "crm",
        &format!(
            "SET ROLE bench;
             CREATE TABLE public.orders AS
               SELECT g::bigint AS id, (g % 100000 / 100.0)::numeric(12,2) AS amount,
                      'order note ' || g AS note,
                      timestamptz '2024-01-01' + g * interval '1 second' AS at
               FROM generate_series(1, {rows}) g;"
        ),
    );
    let lake = dir.path().join("lake");
    let bp = Blueprint::parse(
        &format!(
            "name = \"bench\"\nkind = \"snapshot\"\n[source]\nurl = \"{}\"\npassword_env = \"X\"\n\
             include = [\"public.orders\"]\n[target]\ndatabase = \"crm\"\nlocation = \"file://{}/\"\n",
            pg.url("bench", "crm"),
            lake.display()
        ),
        "bench.toml",
    )
    .unwrap();
    let (mut runs, mut reads) = (Vec::new(), Vec::new());
    for round in 0..rounds.min(3) {
        let start = Instant::now();
        let mut cfg: tokio_postgres::Config = pg.url("bench", "crm").parse().unwrap();
        cfg.password("bench-pw");
        let (client, conn) = cfg.connect(tokio_postgres::NoTls).await.unwrap();
        let task = tokio::spawn(conn);
        let n = client
            .query("SELECT id, amount::text, note, at FROM public.orders", &[])
            .await
            .unwrap()
            .len();
        assert_eq!(n, rows);
        drop(client);
        let _ = task.await;
        reads.push(start.elapsed());
        let start = Instant::now();
        let out = run_database(
            &bp,
            &format!("r{round}"),
            Some("bench-pw".into()),
            &Allow,
            &|_| {},
        )
        .await
        .unwrap();
        assert_eq!(out.rows_written as usize, rows);
        runs.push(start.elapsed());
    }
    let (run, read) = (median(runs), median(reads));
    println!(
        "ingest_postgres_snapshot rows={rows} run_ms={:.0} rows_per_s={:.0} fetch_only_ms={:.0} run_vs_fetch={:.2}x",
        run.as_secs_f64() * 1e3,
        rows as f64 / run.as_secs_f64(),
        read.as_secs_f64() * 1e3,
        run.as_secs_f64() / read.as_secs_f64()
    );
}
