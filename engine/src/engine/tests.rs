#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a panic is a failed test"
)]

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::parquet::arrow::ArrowWriter;
use futures::TryStreamExt;
use policy_engine::access::{ColumnAccess, RowPredicate, TableAccess};
use policy_engine::catalog::Catalog;
use policy_engine::model::{
    AccountId, ColumnMask, Format, LocationUri, Principal, Table, TableName,
};
use policy_engine::predicate::RowExpr;

use super::Engine;
use crate::error::EngineError;
use crate::infer::infer_table;
use crate::secure::SecuredTable;

pub(crate) const ACCOUNT: &str = "111111111111";

pub(crate) fn write_parquet(path: &Path, batch: &RecordBatch) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let f = std::fs::File::create(path).unwrap();
    let mut w = ArrowWriter::try_new(f, batch.schema(), None).unwrap();
    w.write(batch).unwrap();
    w.close().unwrap();
}

/// id, region, email, ssn rows: EU 1, 2; US 3, 4 (email of 2 is NULL).
pub(crate) fn people(ids: &[i64], regions: &[&str]) -> RecordBatch {
    let emails: Vec<Option<String>> = ids
        .iter()
        .map(|i| {
            if *i == 2 {
                None
            } else {
                Some(format!(
                    "{}{i}@example.com",
                    ["a", "b", "c", "d"][(*i as usize - 1) % 4]
                ))
            }
        })
        .collect();
    let ssns: Vec<Option<String>> = ids.iter().map(|i| Some(format!("123-45-678{i}"))).collect();
    RecordBatch::try_from_iter(vec![
        ("id", Arc::new(Int64Array::from(ids.to_vec())) as ArrayRef),
        ("region", Arc::new(StringArray::from(regions.to_vec()))),
        ("email", Arc::new(StringArray::from(emails))),
        ("ssn", Arc::new(StringArray::from(ssns))),
    ])
    .unwrap()
}

/// A lake with `sales.orders` (flat, region a file column) and
/// `sales.events` (hive partitioned by region, EU and US folders).
pub(crate) struct Lake {
    pub dir: tempfile::TempDir,
    pub catalog: Catalog,
}

pub(crate) async fn lake() -> Lake {
    let dir = tempfile::tempdir().unwrap();
    let orders = dir.path().join("orders");
    write_parquet(
        &orders.join("part-0.parquet"),
        &people(&[1, 2, 3, 4], &["EU", "EU", "US", "US"]),
    );
    let events = dir.path().join("events");
    for (r, ids) in [("EU", [1i64, 2]), ("US", [3, 4])] {
        let b = people(&ids, &[r, r]);
        let b = b.project(&[0, 2, 3]).unwrap();
        write_parquet(
            &events.join(format!("region={r}")).join("part-0.parquet"),
            &b,
        );
    }
    let mut catalog = Catalog {
        version: 1,
        ..Default::default()
    };
    for (name, path) in [("orders", &orders), ("events", &events)] {
        let loc = LocationUri::parse(&format!("file://{}/", path.display())).unwrap();
        let inferred = infer_table(&loc, Format::Parquet, &[]).await.unwrap();
        let t = Table {
            account: AccountId::parse(ACCOUNT).unwrap(),
            name: TableName::parse(&format!("sales.{name}")).unwrap(),
            columns: inferred.columns,
            partition_keys: inferred.partition_keys,
            location: loc,
            format: Format::Parquet,
            creator: Principal::parse(&format!("{ACCOUNT}:user/admin")).unwrap(),
        };
        catalog
            .tables
            .insert((t.account.clone(), t.name.clone()), t);
    }
    Lake { dir, catalog }
}

pub(crate) fn table<'a>(lake: &'a Lake, name: &str) -> &'a Table {
    lake.catalog
        .tables
        .get(&(
            AccountId::parse(ACCOUNT).unwrap(),
            TableName::parse(name).unwrap(),
        ))
        .unwrap()
}

/// Full access to every column and row of a table.
pub(crate) fn full_access(t: &Table) -> TableAccess {
    TableAccess {
        account: t.account.clone(),
        table: t.name.clone(),
        location: t.location.clone(),
        format: t.format,
        partition_keys: t.partition_keys.clone(),
        columns: t
            .columns
            .iter()
            .map(|c| ColumnAccess {
                name: c.name.clone(),
                data_type: c.data_type.clone(),
                partition: c.partition,
                mask: None,
                cells: None,
                unmasked: None,
                reasons: vec![],
            })
            .collect(),
        rows: RowPredicate::All,
        trail: vec![],
    }
}

fn secured(name: &str, access: TableAccess) -> SecuredTable {
    SecuredTable {
        name: name.into(),
        access,
        hash_key: b"test-key".to_vec(),
    }
}

fn with_mask(mut a: TableAccess, col: &str, m: ColumnMask) -> TableAccess {
    a.columns.iter_mut().find(|c| c.name == col).unwrap().mask = Some(m);
    a
}

fn eu_only(mut a: TableAccess) -> TableAccess {
    a.rows = RowPredicate::AnyOf(vec![RowExpr::parse("region = 'EU'").unwrap()]);
    a
}

async fn collect(
    s: Result<datafusion::execution::SendableRecordBatchStream, EngineError>,
) -> Result<Vec<RecordBatch>, EngineError> {
    s?.try_collect::<Vec<_>>()
        .await
        .map_err(EngineError::from_datafusion)
}

async fn run(
    engine: &Engine,
    sql: &str,
    sec: &[SecuredTable],
) -> Result<Vec<RecordBatch>, EngineError> {
    let q = engine.prepare_secured_sql(sql, sec).await?;
    collect(q.execute().await).await
}

/// All values of column `i` as strings ("NULL" for null).
fn column(batches: &[RecordBatch], i: usize) -> Vec<String> {
    let mut out = Vec::new();
    for b in batches {
        let c = b.column(i);
        for r in 0..c.len() {
            if c.is_null(r) {
                out.push("NULL".to_string());
            } else {
                out.push(datafusion::arrow::util::display::array_value_to_string(c, r).unwrap());
            }
        }
    }
    out
}

#[tokio::test]
async fn plain_query_reads_catalog_tables() {
    let lake = lake().await;
    let engine = Engine::new(&lake.catalog).unwrap();
    let b = collect(
        engine
            .execute(r#"SELECT region, count(*) AS n FROM "111111111111"."sales"."events" GROUP BY region ORDER BY region"#)
            .await,
    )
    .await
    .unwrap();
    assert_eq!(column(&b, 0), vec!["EU", "US"]);
    assert_eq!(column(&b, 1), vec!["2", "2"]);
    let b = collect(
        engine
            .execute(r#"SELECT * FROM "111111111111".sales.orders ORDER BY id"#)
            .await,
    )
    .await
    .unwrap();
    assert_eq!(b[0].schema().fields().len(), 4);
    assert_eq!(engine.tables().len(), 2);
}

#[tokio::test]
async fn division_by_zero_oracle_sees_only_visible_rows() {
    let lake = lake().await;
    let engine = Engine::new(&lake.catalog).unwrap();
    let oracle =
        "SELECT id FROM __lg_t0 WHERE 1/(CASE WHEN region='US' THEN 0 ELSE 1 END) = 1 ORDER BY id";
    // Without a row filter the oracle fails: the test is meaningful.
    let all = run(
        &engine,
        oracle,
        &[secured(
            "__lg_t0",
            full_access(table(&lake, "sales.orders")),
        )],
    )
    .await;
    assert!(all.is_err(), "expected division by zero, got {all:?}");
    for t in ["sales.orders", "sales.events"] {
        let sec = [secured("__lg_t0", eu_only(full_access(table(&lake, t))))];
        let b = run(&engine, oracle, &sec).await.unwrap();
        assert_eq!(column(&b, 0), vec!["1", "2"], "{t}");
        // Same through a join, an aggregate and a subquery.
        let b = run(
            &engine,
            "SELECT count(*) FROM (SELECT a.id FROM __lg_t0 a JOIN __lg_t0 b ON a.id = b.id \
             WHERE 10 / (CASE WHEN b.region = 'US' THEN 0 ELSE 1 END) > 1) s",
            &sec,
        )
        .await
        .unwrap();
        assert_eq!(column(&b, 0), vec!["2"], "{t}");
        let b = run(
            &engine,
            "SELECT id FROM __lg_t0 WHERE 1/(CASE WHEN region='US' THEN 0 ELSE 1 END) = 1 ORDER BY id LIMIT 1",
            &sec,
        )
        .await
        .unwrap();
        assert_eq!(column(&b, 0), vec!["1"], "{t}");
    }
}

#[tokio::test]
async fn masks_of_each_kind_keep_null() {
    let lake = lake().await;
    let engine = Engine::new(&lake.catalog).unwrap();
    let t = table(&lake, "sales.orders");
    let q = "SELECT id, email, ssn FROM __lg_t0 ORDER BY id";
    let cases: Vec<(ColumnMask, Vec<&str>)> = vec![
        (ColumnMask::Null, vec!["NULL", "NULL", "NULL", "NULL"]),
        (
            ColumnMask::Redact,
            vec!["REDACTED", "NULL", "REDACTED", "REDACTED"],
        ),
        (
            ColumnMask::Last4,
            vec!["xx@xxxxxxx.com", "NULL", "xx@xxxxxxx.com", "xx@xxxxxxx.com"],
        ),
        (
            ColumnMask::Expr("upper(email)".into()),
            vec!["A1@EXAMPLE.COM", "NULL", "C3@EXAMPLE.COM", "D4@EXAMPLE.COM"],
        ),
    ];
    for (mask, want) in cases {
        let sec = [secured(
            "__lg_t0",
            with_mask(full_access(t), "email", mask.clone()),
        )];
        let b = run(&engine, q, &sec).await.unwrap();
        assert_eq!(column(&b, 1), want, "{mask}");
        assert_eq!(column(&b, 2)[0], "123-45-6781", "{mask}");
    }
    let sec = [secured(
        "__lg_t0",
        with_mask(full_access(t), "ssn", ColumnMask::Last4),
    )];
    let b = run(&engine, q, &sec).await.unwrap();
    assert_eq!(column(&b, 2)[0], "xxx-xx-6781");

    // hash: lower-case hex HMAC, NULL stays NULL, joinable across tables.
    let sec = [
        secured(
            "__lg_t0",
            with_mask(full_access(t), "email", ColumnMask::Hash),
        ),
        secured(
            "__lg_t1",
            with_mask(full_access(t), "email", ColumnMask::Hash),
        ),
    ];
    let b = run(&engine, q, &sec).await.unwrap();
    let hashes = column(&b, 1);
    assert_eq!(hashes[1], "NULL");
    assert_eq!(
        hashes[0],
        crate::masks::keyed_hash(b"test-key", "a1@example.com")
    );
    let b = run(
        &engine,
        "SELECT count(*) FROM __lg_t0 a JOIN __lg_t1 b ON a.email = b.email",
        &sec,
    )
    .await
    .unwrap();
    assert_eq!(column(&b, 0), vec!["3"]);
    // The keyed hash is not callable by users.
    let e = run(&engine, "SELECT lakegate_mask_hash('x')", &sec)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("lakegate_mask_hash"), "{e}");

    // A null mask keeps the column's type.
    let sec = [secured(
        "__lg_t0",
        with_mask(full_access(t), "id", ColumnMask::Null),
    )];
    let q = engine
        .prepare_secured_sql("SELECT id FROM __lg_t0", &sec)
        .await
        .unwrap();
    assert_eq!(
        q.schema().field(0).data_type(),
        &datafusion::arrow::datatypes::DataType::Int64
    );
}

#[tokio::test]
async fn predicates_see_masked_values() {
    let lake = lake().await;
    let engine = Engine::new(&lake.catalog).unwrap();
    let t = table(&lake, "sales.orders");
    let sec = [secured(
        "__lg_t0",
        with_mask(full_access(t), "email", ColumnMask::Redact),
    )];
    let b = run(
        &engine,
        "SELECT id FROM __lg_t0 WHERE email LIKE 'a%'",
        &sec,
    )
    .await
    .unwrap();
    assert!(column(&b, 0).is_empty());
    let b = run(
        &engine,
        "SELECT id FROM __lg_t0 WHERE email = 'REDACTED' ORDER BY id",
        &sec,
    )
    .await
    .unwrap();
    assert_eq!(column(&b, 0), vec!["1", "3", "4"]);
    let b = run(&engine, "SELECT id FROM __lg_t0 WHERE email IS NULL", &sec)
        .await
        .unwrap();
    assert_eq!(column(&b, 0), vec!["2"]);
}

#[tokio::test]
async fn cell_conditions_null_hidden_cells() {
    let lake = lake().await;
    let engine = Engine::new(&lake.catalog).unwrap();
    let mut a = full_access(table(&lake, "sales.orders"));
    a.columns
        .iter_mut()
        .find(|c| c.name == "ssn")
        .unwrap()
        .cells = Some(RowPredicate::AnyOf(vec![
        RowExpr::parse("region = 'EU'").unwrap(),
    ]));
    let mut a = with_mask(a, "ssn", ColumnMask::Last4);
    a.columns
        .iter_mut()
        .find(|c| c.name == "email")
        .unwrap()
        .cells = Some(RowPredicate::AnyOf(vec![
        RowExpr::parse("id = 3").unwrap(),
        RowExpr::parse("id = 4").unwrap(),
    ]));
    let sec = [secured("__lg_t0", a)];
    let b = run(
        &engine,
        "SELECT id, ssn, email FROM __lg_t0 ORDER BY id",
        &sec,
    )
    .await
    .unwrap();
    assert_eq!(
        column(&b, 1),
        vec!["xxx-xx-6781", "xxx-xx-6782", "NULL", "NULL"]
    );
    assert_eq!(
        column(&b, 2),
        vec!["NULL", "NULL", "c3@example.com", "d4@example.com"]
    );
    // A user predicate on a cell-filtered column sees the NULLs.
    let b = run(
        &engine,
        "SELECT id FROM __lg_t0 WHERE ssn IS NULL ORDER BY id",
        &sec,
    )
    .await
    .unwrap();
    assert_eq!(column(&b, 0), vec!["3", "4"]);
}

#[tokio::test]
async fn hidden_columns_are_absent() {
    let lake = lake().await;
    let engine = Engine::new(&lake.catalog).unwrap();
    let mut a = eu_only(full_access(table(&lake, "sales.orders")));
    a.columns.retain(|c| c.name != "ssn" && c.name != "region");
    let sec = [secured("__lg_t0", a)];
    let q = engine
        .prepare_secured_sql("SELECT * FROM __lg_t0", &sec)
        .await
        .unwrap();
    let names: Vec<String> = q
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names, vec!["id", "email"]);
    let b = q
        .execute()
        .await
        .unwrap()
        .try_collect::<Vec<_>>()
        .await
        .unwrap();
    assert_eq!(column(&b, 0), vec!["1", "2"]);
    for sql in [
        "SELECT ssn FROM __lg_t0",
        "SELECT id FROM __lg_t0 WHERE region = 'US'",
        r#"SELECT * FROM "111111111111".sales.orders"#,
    ] {
        let e = run(&engine, sql, &sec).await.unwrap_err();
        assert!(matches!(e, EngineError::InvalidArgument(_)), "{sql}: {e:?}");
    }
    let mut none = full_access(table(&lake, "sales.orders"));
    none.rows = RowPredicate::AnyOf(vec![]);
    let b = run(
        &engine,
        "SELECT count(*) FROM __lg_t0",
        &[secured("__lg_t0", none)],
    )
    .await
    .unwrap();
    assert_eq!(column(&b, 0), vec!["0"]);
}

/// The physical plan of a secured query, as text.
async fn plan_text(engine: &Engine, sql: &str, sec: &[SecuredTable]) -> String {
    let q = engine.prepare_secured_sql(sql, sec).await.unwrap();
    datafusion::physical_plan::displayable(q.plan.as_ref())
        .indent(true)
        .to_string()
}

#[tokio::test]
async fn partition_pruning_still_applies() {
    let lake = lake().await;
    let engine = Engine::new(&lake.catalog).unwrap();
    let t = table(&lake, "sales.events");
    // The row filter prunes partitions.
    let p = plan_text(
        &engine,
        "SELECT id FROM __lg_t0",
        &[secured("__lg_t0", eu_only(full_access(t)))],
    )
    .await;
    assert!(p.contains("region=EU") && !p.contains("region=US"), "{p}");
    assert!(p.contains("SecureBoundaryExec"), "{p}");
    // A safe user filter on a plain column prunes partitions too.
    let sec = [secured("__lg_t0", full_access(t))];
    let p = plan_text(&engine, "SELECT id FROM __lg_t0 WHERE region = 'US'", &sec).await;
    assert!(p.contains("region=US") && !p.contains("region=EU"), "{p}");
    let b = run(
        &engine,
        "SELECT id FROM __lg_t0 WHERE region = 'US' ORDER BY id",
        &sec,
    )
    .await
    .unwrap();
    assert_eq!(column(&b, 0), vec!["3", "4"]);
    // ... but not one on a masked column.
    let sec = [secured(
        "__lg_t0",
        with_mask(full_access(t), "region", ColumnMask::Redact),
    )];
    let p = plan_text(&engine, "SELECT id FROM __lg_t0 WHERE region = 'US'", &sec).await;
    assert!(p.contains("region=US") && p.contains("region=EU"), "{p}");
    // The user's filter stays above the boundary.
    let sec = [secured("__lg_t0", eu_only(full_access(t)))];
    let p = plan_text(
        &engine,
        "SELECT id FROM __lg_t0 WHERE 1/(CASE WHEN region='US' THEN 0 ELSE 1 END) = 1",
        &sec,
    )
    .await;
    let boundary = p.find("SecureBoundaryExec").unwrap();
    let user = p.find("CASE WHEN").unwrap();
    assert!(user < boundary, "{p}");
}

#[tokio::test]
async fn statements_and_file_functions_are_refused() {
    let lake = lake().await;
    let engine = Engine::new(&lake.catalog).unwrap();
    let sec = [secured(
        "__lg_t0",
        full_access(table(&lake, "sales.orders")),
    )];
    let dir = lake.dir.path().display().to_string();
    for sql in [
        format!("CREATE EXTERNAL TABLE x STORED AS PARQUET LOCATION '{dir}/orders/'"),
        format!("COPY (SELECT 1) TO '{dir}/out.parquet'"),
        "SET datafusion.execution.batch_size = 1".to_string(),
        "INSERT INTO __lg_t0 VALUES (1, 'EU', 'x', 'y')".to_string(),
        "DROP TABLE __lg_t0".to_string(),
        "SELECT 1; SELECT 2".to_string(),
        format!("SELECT * FROM read_parquet('{dir}/orders/part-0.parquet')"),
        format!("SELECT * FROM '{dir}/orders/part-0.parquet'"),
        "EXPLAIN SELECT * FROM __lg_t0".to_string(),
        "EXPLAIN ANALYZE SELECT * FROM __lg_t0".to_string(),
    ] {
        let e = run(&engine, &sql, &sec).await;
        assert!(
            e.is_err(),
            "{sql} ran: {:?}",
            e.map(|b| pretty_format_batches(&b).unwrap().to_string())
        );
        let plain = collect(engine.execute(&sql).await).await;
        if !sql.starts_with("EXPLAIN") {
            assert!(plain.is_err(), "{sql} ran on the plain engine");
        }
    }
    let b = run(&engine, "SELECT count(*) FROM generate_series(1, 3)", &sec)
        .await
        .unwrap();
    assert_eq!(column(&b, 0), vec!["3"]);
}

#[tokio::test]
async fn files_that_no_longer_match_fail_clearly() {
    let lake = lake().await;
    let engine = Engine::new(&lake.catalog).unwrap();
    let orders = lake.dir.path().join("orders/part-0.parquet");
    // Rewrite the file without `ssn`.
    let b = people(&[1], &["EU"]).project(&[0, 1, 2]).unwrap();
    write_parquet(&orders, &b);
    let e = collect(
        engine
            .execute(r#"SELECT * FROM "111111111111".sales.orders"#)
            .await,
    )
    .await
    .unwrap_err();
    assert!(matches!(e, EngineError::FailedPrecondition(_)), "{e:?}");
    assert!(
        e.to_string().contains("no longer match") && e.to_string().contains("`ssn`"),
        "{e}"
    );
    let sec = [secured(
        "__lg_t0",
        full_access(table(&lake, "sales.orders")),
    )];
    let e = run(&engine, "SELECT id FROM __lg_t0", &sec)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("no longer match"), "{e}");
}

#[tokio::test]
async fn refresh_follows_catalog_versions() {
    let mut lake = lake().await;
    let engine = Engine::new(&lake.catalog).unwrap();
    assert_eq!(engine.version(), 1);
    engine.refresh(&lake.catalog).unwrap();
    let key = (
        AccountId::parse(ACCOUNT).unwrap(),
        TableName::parse("sales.events").unwrap(),
    );
    lake.catalog.tables.remove(&key);
    lake.catalog.version = 2;
    engine.refresh(&lake.catalog).unwrap();
    assert_eq!(engine.version(), 2);
    assert_eq!(engine.tables().len(), 1);
    let e = collect(
        engine
            .execute(r#"SELECT * FROM "111111111111".sales.events"#)
            .await,
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("events"), "{e}");
    // New files show up without a refresh (no listing cache).
    write_parquet(
        &lake.dir.path().join("orders/part-1.parquet"),
        &people(&[4], &["US"]),
    );
    let b = collect(
        engine
            .execute(r#"SELECT count(*) FROM "111111111111".sales.orders"#)
            .await,
    )
    .await
    .unwrap();
    assert_eq!(column(&b, 0), vec!["5"]);
}

#[tokio::test]
async fn csv_and_json_tables_and_changed_csv_headers() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("csv");
    std::fs::create_dir_all(csv.join("region=EU")).unwrap();
    std::fs::write(csv.join("region=EU/a.csv"), "id,name\n1,ann\n2,bob\n").unwrap();
    let json = dir.path().join("json");
    std::fs::create_dir_all(&json).unwrap();
    std::fs::write(json.join("a.json"), "{\"id\": 1, \"name\": \"ann\"}\n").unwrap();
    let mut catalog = Catalog {
        version: 1,
        ..Default::default()
    };
    for (name, path, format) in [("c", &csv, Format::Csv), ("j", &json, Format::Json)] {
        let loc = LocationUri::parse(&format!("file://{}/", path.display())).unwrap();
        let inferred = infer_table(&loc, format, &[]).await.unwrap();
        let t = Table {
            account: AccountId::parse(ACCOUNT).unwrap(),
            name: TableName::parse(&format!("raw.{name}")).unwrap(),
            columns: inferred.columns,
            partition_keys: inferred.partition_keys,
            location: loc,
            format,
            creator: Principal::parse(&format!("{ACCOUNT}:user/admin")).unwrap(),
        };
        catalog
            .tables
            .insert((t.account.clone(), t.name.clone()), t);
    }
    let engine = Engine::new(&catalog).unwrap();
    let b = collect(
        engine
            .execute(r#"SELECT name, region FROM "111111111111".raw.c ORDER BY id"#)
            .await,
    )
    .await
    .unwrap();
    assert_eq!(column(&b, 0), vec!["ann", "bob"]);
    assert_eq!(column(&b, 1), vec!["EU", "EU"]);
    let b = collect(
        engine
            .execute(r#"SELECT name FROM "111111111111".raw.j"#)
            .await,
    )
    .await
    .unwrap();
    assert_eq!(column(&b, 0), vec!["ann"]);

    // Same column count, swapped header: refused, not read by position.
    std::fs::write(csv.join("region=EU/b.csv"), "name,id\ncid,3\n").unwrap();
    let e = collect(
        engine
            .execute(r#"SELECT * FROM "111111111111".raw.c"#)
            .await,
    )
    .await
    .unwrap_err();
    assert!(matches!(e, EngineError::FailedPrecondition(_)), "{e:?}");
    assert!(
        e.to_string().contains("b.csv") && e.to_string().contains("`name,id`"),
        "{e}"
    );
}

#[tokio::test]
async fn s3_tables_are_reported_not_served() {
    let mut lake = lake().await;
    let mut t = table(&lake, "sales.orders").clone();
    t.name = TableName::parse("sales.remote").unwrap();
    t.location = LocationUri::parse("s3://bucket/remote/").unwrap();
    lake.catalog
        .tables
        .insert((t.account.clone(), t.name.clone()), t.clone());
    let engine = Engine::new(&lake.catalog).unwrap();
    assert_eq!(engine.tables().len(), 2);
    let e = engine
        .prepare_secured_sql(
            "SELECT * FROM __lg_t0",
            &[secured("__lg_t0", full_access(&t))],
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("only `file://`"), "{e}");
    let e = collect(
        engine
            .execute(r#"SELECT * FROM "111111111111".sales.remote"#)
            .await,
    )
    .await
    .unwrap_err();
    assert!(matches!(e, EngineError::FailedPrecondition(_)), "{e:?}");
    assert!(e.to_string().contains("only `file://`"), "{e}");
    let e = collect(engine.execute("SELECT * FROM orders").await)
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("table `orders` was not found; name tables as"),
        "{e}"
    );
}
