//! The Flight SQL proxy through a real Flight SQL client (arrow-flight's
//! `FlightSqlServiceClient`) against a server on loopback: column and row
//! rules, rewrites of every query shape, fail-closed statements, sealed
//! tickets, metadata filtering, revocation, the division-by-zero oracle, the
//! sidecar deployment, and a differential property test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs,
    reason = "test code: a panic is a failed test, and test items are not API"
)]

use std::sync::Arc;
use std::time::Duration;

use arrow::array::Array;
use arrow::record_batch::RecordBatch;
use arrow_flight::sql::client::FlightSqlServiceClient;
use arrow_flight::sql::{CommandGetDbSchemas, CommandGetTables};
use futures::TryStreamExt;
use policy_engine::filters::NewDataFilter;
use policy_engine::{GrantRequest, ResourceSpec};
use test_kit::*;
use tonic::Code;
use tonic::transport::Channel;
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn column_rules_star_expansion_and_hidden_columns() {
    let h = Builder::new().start_with_sales().await;
    h.grant(
        "111111111111:user/alice",
        table("sales.orders", &["id", "region"]),
        &[],
    );
    let alice = h.token("111111111111:user/alice", &[], &[]);
    let b = h
        .query(&alice, "SELECT * FROM sales.orders ORDER BY id")
        .await
        .unwrap();
    assert_eq!(names(&b), ["id", "region"]);
    assert_eq!(rows(&b).len(), 4);
    let b = h
        .query(
            &alice,
            "SELECT o.* FROM sales.orders o WHERE o.id < 3 ORDER BY 1",
        )
        .await
        .unwrap();
    assert_eq!(rows(&b), [r(&["1", "EU"]), r(&["2", "EU"])]);
    // A hidden column fails exactly like a missing one.
    let hidden = h
        .query(&alice, "SELECT email FROM sales.orders")
        .await
        .unwrap_err();
    let missing = h
        .query(&alice, "SELECT nope FROM sales.orders")
        .await
        .unwrap_err();
    assert_eq!(hidden.code(), Code::InvalidArgument, "{hidden:?}");
    assert_eq!(missing.code(), Code::InvalidArgument);
    assert_eq!(
        hidden.message().replace("email", "X"),
        missing.message().replace("nope", "X")
    );
    // Naming a hidden column anywhere: WHERE, ORDER BY, functions.
    for q in [
        "SELECT id FROM sales.orders WHERE email IS NULL",
        "SELECT id FROM sales.orders ORDER BY amount",
        "SELECT count(DISTINCT email) FROM sales.orders",
    ] {
        let e = h.query(&alice, q).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{q}: {e:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_query_shape_is_rewritten() {
    let h = Builder::new().start_with_sales().await;
    h.grant(
        "111111111111:user/alice",
        table("sales.orders", &["id", "amount", "region"]),
        &[],
    );
    h.grant(
        "111111111111:user/alice",
        table("sales.customers", &[]),
        &[],
    );
    h.gov
        .create_data_filter(
            &admin(),
            &NewDataFilter {
                name: "sales.orders.eu".into(),
                row_filter: Some("region = 'EU'".into()),
                all_rows: false,
                columns: vec![],
                exclude_columns: vec![],
            },
        )
        .unwrap();
    h.grant(
        "111111111111:user/bob",
        ResourceSpec::DataFilter {
            name: "sales.orders.eu".into(),
        },
        &[],
    );
    h.grant("111111111111:user/bob", table("sales.customers", &[]), &[]);
    let bob = h.token("111111111111:user/bob", &[], &[]);
    let cases: Vec<(&str, Vec<Vec<String>>)> = vec![
        (
            "SELECT c.name, o.amount FROM sales.orders o JOIN sales.customers c ON c.id = o.id ORDER BY c.name",
            vec![r(&["ann", "10.0"]), r(&["bo", "20.0"])],
        ),
        (
            "SELECT name FROM sales.customers WHERE id IN (SELECT id FROM sales.orders) ORDER BY 1",
            vec![r(&["ann"]), r(&["bo"])],
        ),
        (
            "SELECT name FROM sales.customers c WHERE EXISTS (SELECT 1 FROM sales.orders o WHERE o.id = c.id AND o.amount > 15) ORDER BY 1",
            vec![r(&["bo"])],
        ),
        (
            "WITH big AS (SELECT id FROM sales.orders WHERE amount >= 10) SELECT count(*) FROM big",
            vec![r(&["2"])],
        ),
        (
            "SELECT id FROM sales.orders UNION ALL SELECT id FROM sales.customers ORDER BY 1",
            vec![
                r(&["1"]),
                r(&["1"]),
                r(&["2"]),
                r(&["2"]),
                r(&["3"]),
                r(&["4"]),
            ],
        ),
        (
            "SELECT id, sum(amount) OVER (ORDER BY id) AS running FROM sales.orders ORDER BY id",
            vec![r(&["1", "10.0"]), r(&["2", "30.0"])],
        ),
        (
            "SELECT id FROM sales.orders ORDER BY id DESC LIMIT 1",
            vec![r(&["2"])],
        ),
        (
            "SELECT (SELECT max(amount) FROM sales.orders) AS m",
            vec![r(&["20.0"])],
        ),
        // Quoting and case variants.
        ("SELECT count(*) FROM SALES.Orders", vec![r(&["2"])]),
        ("SELECT count(*) FROM \"sales\".\"orders\"", vec![r(&["2"])]),
        (
            "SELECT count(*) FROM \"111111111111\".sales.orders",
            vec![r(&["2"])],
        ),
        (
            "SELECT sales.orders.id FROM sales.orders ORDER BY 1",
            vec![r(&["1"]), r(&["2"])],
        ),
        // A CTE named like a table shadows it.
        (
            "WITH orders AS (SELECT 42 AS id) SELECT id FROM orders",
            vec![r(&["42"])],
        ),
        (
            "SELECT x.id, l.n FROM sales.orders x, LATERAL (SELECT count(*) AS n FROM sales.orders) l ORDER BY 1",
            vec![r(&["1", "2"]), r(&["2", "2"])],
        ),
    ];
    for (q, want) in cases {
        let got = h
            .query(&bob, q)
            .await
            .unwrap_or_else(|e| panic!("{q}: {e:?}"));
        assert_eq!(rows(&got), want, "{q}");
    }
    for (q, code) in [
        (
            "SELECT count(*) FROM \"SALES\".orders",
            Code::InvalidArgument,
        ),
        ("SELECT count(*) FROM orders", Code::InvalidArgument),
        ("SELECT 1; SELECT 2", Code::PermissionDenied),
        ("DROP TABLE sales.orders", Code::PermissionDenied),
        ("COPY sales.orders TO '/tmp/x.csv'", Code::PermissionDenied),
        (
            "SET datafusion.execution.batch_size = 1",
            Code::PermissionDenied,
        ),
        ("EXPLAIN SELECT * FROM sales.orders", Code::PermissionDenied),
        (
            "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '/etc/passwd'",
            Code::InvalidArgument,
        ),
        (
            "CREATE TABLE t AS SELECT * FROM sales.orders",
            Code::PermissionDenied,
        ),
        (
            "SELECT * FROM read_csv('/etc/passwd')",
            Code::PermissionDenied,
        ),
        ("SELECT * FROM '/etc/passwd'", Code::PermissionDenied),
        ("SELEC 1", Code::InvalidArgument),
        (
            "SELECT * FROM information_schema.tables",
            Code::PermissionDenied,
        ),
    ] {
        let e = h.query(&bob, q).await.unwrap_err();
        assert_eq!(e.code(), code, "{q}: {e:?}");
    }
    let unqualified = h.query(&bob, "SELECT * FROM orders").await.unwrap_err();
    assert!(
        unqualified.message().contains("DB.TABLE"),
        "{unqualified:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hidden_rows_never_influence_results_or_errors() {
    let h = Builder::new().start_with_sales().await;
    h.gov
        .create_data_filter(
            &admin(),
            &NewDataFilter {
                name: "sales.orders.eu".into(),
                row_filter: Some("region = 'EU'".into()),
                all_rows: false,
                columns: vec![],
                exclude_columns: vec![],
            },
        )
        .unwrap();
    h.grant(
        "111111111111:user/eve",
        ResourceSpec::DataFilter {
            name: "sales.orders.eu".into(),
        },
        &[],
    );
    let eve = h.token("111111111111:user/eve", &[], &[]);
    let b = h
        .query(
            &eve,
            "SELECT id FROM sales.orders WHERE 1/(CASE WHEN region='US' THEN 0 ELSE 1 END) = 1 ORDER BY id",
        )
        .await
        .unwrap();
    assert_eq!(rows(&b), [r(&["1"]), r(&["2"])]);
    // Aggregates see only the visible rows.
    let b = h
        .query(&eve, "SELECT count(*), sum(amount) FROM sales.orders")
        .await
        .unwrap();
    assert_eq!(rows(&b), [r(&["2", "30.0"])]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn masks_apply_below_user_predicates() {
    let h = Builder::new().start_with_sales().await;
    h.grant(
        "111111111111:user/alice",
        table("sales.orders", &[]),
        &[("email", "redact")],
    );
    let alice = h.token("111111111111:user/alice", &[], &[]);
    let b = h
        .query(&alice, "SELECT id, email FROM sales.orders ORDER BY id")
        .await
        .unwrap();
    assert_eq!(
        rows(&b),
        [
            r(&["1", "REDACTED"]),
            r(&["2", "NULL"]),
            r(&["3", "REDACTED"]),
            r(&["4", "REDACTED"])
        ]
    );
    // The predicate sees the masked value, not the raw one.
    let b = h
        .query(
            &alice,
            "SELECT count(*) FROM sales.orders WHERE email LIKE 'a%'",
        )
        .await
        .unwrap();
    assert_eq!(rows(&b), [r(&["0"])]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tickets_are_sealed_to_the_principal() {
    let h = Builder::new().start_with_sales().await;
    h.grant("111111111111:user/alice", table("sales.orders", &[]), &[]);
    h.grant("111111111111:user/bob", table("sales.orders", &["id"]), &[]);
    let alice = h.token("111111111111:user/alice", &[], &[]);
    let bob = h.token("111111111111:user/bob", &[], &[]);
    let mut ca = h.client(&alice).await;
    let info = ca
        .execute("SELECT email FROM sales.orders".into(), None)
        .await
        .unwrap();
    let ticket = info.endpoint[0].ticket.clone().unwrap();
    // The endpoint points back at the proxy (no location to go elsewhere).
    assert!(info.endpoint[0].location.is_empty());
    let mut cb = h.client(&bob).await;
    let e = match cb.do_get(ticket.clone()).await {
        Ok(s) => status(s.try_collect::<Vec<_>>().await.unwrap_err()),
        Err(e) => status(e),
    };
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    // A forged ticket is refused too.
    let mut forged = ticket.clone();
    let mut bytes = forged.ticket.to_vec();
    let n = bytes.len();
    bytes[n - 3] ^= 1;
    forged.ticket = bytes.into();
    assert!(ca.do_get(forged).await.is_err());
    // The owner can use it.
    let got: Vec<RecordBatch> = ca
        .do_get(ticket)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(rows(&got).len(), 4);
    // Prepared statement handles, too.
    let prepared = ca
        .prepare("SELECT id FROM sales.orders".into(), None)
        .await
        .unwrap();
    drop(prepared);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_shows_only_what_the_principal_may_describe() {
    let h = Builder::new().start_with_sales().await;
    h.grant(
        "111111111111:user/alice",
        table("sales.orders", &["id", "region"]),
        &[],
    );
    let alice = h.token("111111111111:user/alice", &[], &[]);
    let nobody = h.token("111111111111:user/nobody", &[], &[]);
    let mut c = h.client(&alice).await;
    let info = c.get_catalogs().await.unwrap();
    let cat = fetch(&mut c, info).await.unwrap();
    assert_eq!(rows(&cat), [r(&["111111111111"])]);
    let tables = |pattern: Option<&str>| CommandGetTables {
        catalog: None,
        db_schema_filter_pattern: None,
        table_name_filter_pattern: pattern.map(String::from),
        table_types: vec![],
        include_schema: true,
    };
    let info = c.get_tables(tables(None)).await.unwrap();
    let t = fetch(&mut c, info).await.unwrap();
    let tr = rows(&t);
    assert_eq!(tr.len(), 1, "{tr:?}");
    assert_eq!(tr[0][2], "orders");
    // The schema column holds only the visible columns.
    let schema_col = t[0]
        .column(4)
        .as_any()
        .downcast_ref::<arrow::array::BinaryArray>()
        .unwrap();
    let schema = arrow::ipc::convert::try_schema_from_ipc_buffer(schema_col.value(0)).unwrap();
    let cols: Vec<_> = schema.fields().iter().map(|f| f.name().clone()).collect();
    assert_eq!(cols, ["id", "region"]);
    // A listing the request's own pattern empties is audited as empty.
    let info = c.get_tables(tables(Some("nothing%"))).await.unwrap();
    assert!(rows(&fetch(&mut c, info).await.unwrap()).is_empty());
    // Someone with no grants sees no schemas and no tables.
    let mut n = h.client(&nobody).await;
    let info = n
        .get_db_schemas(CommandGetDbSchemas {
            catalog: None,
            db_schema_filter_pattern: None,
        })
        .await
        .unwrap();
    assert!(rows(&fetch(&mut n, info).await.unwrap()).is_empty());
    // Each listing is a decision: audited with what it showed (the line
    // is written before the answer is sent).
    let log = std::fs::read_to_string(h.data.join("audit.jsonl")).unwrap();
    let listed: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["operation"] == "get_tables" || v["operation"] == "get_db_schemas")
        .collect();
    assert!(
        listed.iter().any(|v| v["operation"] == "get_tables"
            && v["principal"] == "111111111111:user/alice"
            && v["tables"] == serde_json::json!(["111111111111.sales.orders"])
            && v["decision"] == "allow"),
        "{listed:?}"
    );
    assert!(
        listed.iter().any(|v| v["operation"] == "get_tables"
            && v["principal"] == "111111111111:user/alice"
            && v["tables"] == serde_json::json!([])
            && v["rows"] == 0),
        "{listed:?}"
    );
    assert!(
        listed.iter().any(|v| v["operation"] == "get_db_schemas"
            && v["principal"] == "111111111111:user/nobody"
            && v["rows"] == 0),
        "{listed:?}"
    );
    // Primary keys of a hidden table: not found.
    let e = n
        .get_primary_keys(arrow_flight::sql::CommandGetPrimaryKeys {
            catalog: None,
            db_schema: Some("sales".into()),
            table: "orders".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status(e).code(), Code::InvalidArgument);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_takes_effect_on_the_next_statement() {
    let h = Builder::new().start_with_sales().await;
    h.grant("111111111111:user/alice", table("sales.orders", &[]), &[]);
    let alice = h.token("111111111111:user/alice", &[], &[]);
    let mut c = h.client(&alice).await;
    // Plan before the revoke, fetch after it: the ticket is re-authorized.
    let info = c
        .execute("SELECT id FROM sales.orders".into(), None)
        .await
        .unwrap();
    h.gov
        .revoke(
            &admin(),
            &GrantRequest {
                principal: "111111111111:user/alice".into(),
                permissions: vec!["SELECT".into()],
                grantable: vec![],
                resource: table("sales.orders", &[]),
                masks: vec![],
            },
        )
        .unwrap();
    let e = match c.do_get(info.endpoint[0].ticket.clone().unwrap()).await {
        Ok(s) => status(s.try_collect::<Vec<_>>().await.unwrap_err()),
        Err(e) => status(e),
    };
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    let e = h
        .query(&alice, "SELECT id FROM sales.orders")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_and_unsupported_calls_are_refused() {
    let h = Builder::new().start_with_sales().await;
    let ch = Channel::from_shared(h.addr.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut anon = FlightSqlServiceClient::new(ch.clone());
    let e = status(anon.execute("SELECT 1".into(), None).await.unwrap_err());
    assert_eq!(e.code(), Code::Unauthenticated);
    assert!(e.message().contains("lakegate token"), "{e:?}");
    let mut bad = FlightSqlServiceClient::new(ch);
    bad.set_header("authorization", "Bearer not.a.token");
    let e = status(bad.execute("SELECT 1".into(), None).await.unwrap_err());
    assert_eq!(e.code(), Code::Unauthenticated);
    let alice = h.token("111111111111:user/alice", &[], &[]);
    let mut c = h.client(&alice).await;
    let e = status(
        c.execute_update("DELETE FROM sales.orders".into(), None)
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    let e = status(
        c.do_action(arrow_flight::Action::new("Shutdown", ""))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sidecar_deployment_forwards_the_rewritten_query() {
    // An embedded engine served alone is the upstream.
    let h = Builder::new().start_with_sales().await;
    let snap = h.gov.snapshot().unwrap();
    let engine = Arc::new(lakegate_engine::Engine::new(&snap.catalog).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = lakegate_engine::serve_engine(engine, listener, std::future::pending::<()>()).await;
    });
    let data = h.data.clone();
    h.grant(
        "111111111111:user/alice",
        table("sales.orders", &[]),
        &[("email", "redact")],
    );
    h.gov
        .create_data_filter(
            &admin(),
            &NewDataFilter {
                name: "sales.orders.eu".into(),
                row_filter: Some("region = 'EU'".into()),
                all_rows: false,
                columns: vec!["id".into()],
                exclude_columns: vec![],
            },
        )
        .unwrap();
    h.grant(
        "111111111111:user/bob",
        ResourceSpec::DataFilter {
            name: "sales.orders.eu".into(),
        },
        &[],
    );
    let side = Builder::new()
        .data_dir(&data)
        .upstream(format!("grpc://{up}"))
        .start()
        .await;
    let alice = side.token("111111111111:user/alice", &[], &[]);
    let bob = side.token("111111111111:user/bob", &[], &[]);
    let b = side
        .query(&alice, "SELECT id, email FROM sales.orders ORDER BY id")
        .await
        .unwrap();
    assert_eq!(rows(&b)[0], r(&["1", "REDACTED"]));
    let b = side
        .query(&bob, "SELECT * FROM sales.orders ORDER BY id")
        .await
        .unwrap();
    assert_eq!(names(&b), ["id"]);
    assert_eq!(rows(&b), [r(&["1"]), r(&["2"])]);
    // An unreachable upstream is UNAVAILABLE with a clear message.
    let dead = Builder::new()
        .data_dir(&data)
        .upstream("grpc://127.0.0.1:1")
        .start()
        .await;
    let e = dead
        .query(&alice, "SELECT id FROM sales.orders")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unavailable, "{e:?}");
    assert!(e.message().contains("upstream"), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_records_every_decision() {
    let h = Builder::new().start_with_sales().await;
    h.grant(
        "111111111111:user/alice",
        table("sales.orders", &["id"]),
        &[],
    );
    let alice = h.token("111111111111:user/alice", &[], &[]);
    h.query(&alice, "SELECT id FROM sales.orders")
        .await
        .unwrap();
    let _ = h.query(&alice, "SELECT email FROM sales.orders").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let path = h.data.clone().join("audit.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let recs: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ok = recs
        .iter()
        .find(|r| r["decision"] == "allow" && r["statement"] == "SELECT id FROM sales.orders")
        .unwrap();
    assert_eq!(ok["event"], "decision");
    let end = recs
        .iter()
        .find(|r| r["event"] == "end" && r["id"] == ok["id"])
        .unwrap();
    assert_eq!(end["rows"], 4);
    assert_eq!(ok["principal"], "111111111111:user/alice");
    assert!(ok["rewritten"].as_str().unwrap().contains("__lg_t0"));
    // Hashed by the audit writer: SHA-256 of the statement as sent.
    {
        use sha2::Digest;
        assert_eq!(
            ok["statement_hash"],
            hex::encode(sha2::Sha256::digest(b"SELECT id FROM sales.orders"))
        );
    }
    assert!(!ok["policies"].as_array().unwrap().is_empty());
    assert!(recs.iter().any(|r| r["decision"] == "deny"));
}

/// Differential property test: for random column grants and row filters,
/// the proxy returns exactly the rows a naive filter over a reference copy
/// of the data returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn differential_random_grants_match_a_naive_reference() {
    let h = Builder::new().start_with_sales().await;
    // Reference copy: (id, amount, email, region).
    let reference: Vec<(i64, f64, Option<&str>, &str)> = vec![
        (1, 10.0, Some("ann@x.com"), "EU"),
        (2, 20.0, None, "EU"),
        (3, 30.0, Some("cy@y.com"), "US"),
        (4, 40.0, Some("dee@z.com"), "APAC"),
    ];
    let all_cols = ["id", "amount", "email", "region"];
    let mut seed = 7u64;
    let mut next = || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        seed >> 33
    };
    type Row<'a> = (i64, f64, Option<&'a str>, &'a str);
    type Pred = fn(&Row) -> bool;
    let preds: [(&str, Pred); 4] = [
        ("region = 'EU'", |r| r.3 == "EU"),
        ("amount > 15", |r| r.1 > 15.0),
        ("id IN (1, 4)", |r| r.0 == 1 || r.0 == 4),
        ("email IS NULL OR region <> 'US'", |r| {
            r.2.is_none() || r.3 != "US"
        }),
    ];
    for case in 0..12 {
        let user = format!("111111111111:user/p{case}");
        let mask = next();
        let cols: Vec<&str> = all_cols
            .iter()
            .enumerate()
            .filter(|(i, _)| mask & (1 << i) != 0)
            .map(|(_, c)| *c)
            .collect();
        let cols = if cols.is_empty() { vec!["id"] } else { cols };
        let pi = (next() % 4) as usize;
        let (ptext, pfn) = preds[pi];
        let fname = format!("f{case}");
        h.gov
            .create_data_filter(
                &admin(),
                &NewDataFilter {
                    name: format!("sales.orders.{fname}"),
                    row_filter: Some(ptext.into()),
                    all_rows: false,
                    columns: cols.iter().map(|c| c.to_string()).collect(),
                    exclude_columns: vec![],
                },
            )
            .unwrap();
        h.grant(
            &user,
            ResourceSpec::DataFilter {
                name: format!("sales.orders.{fname}"),
            },
            &[],
        );
        let tok = h.token(&user, &[], &[]);
        let got = h
            .query(&tok, "SELECT * FROM sales.orders")
            .await
            .unwrap_or_else(|e| panic!("case {case} ({cols:?}, {ptext}): {e:?}"));
        let mut got_rows = rows(&got);
        got_rows.sort();
        // Naive reference: filter rows, project the visible columns in table order.
        let mut want: Vec<Vec<String>> = reference
            .iter()
            .filter(|r| pfn(r))
            .map(|r| {
                all_cols
                    .iter()
                    .filter(|c| cols.contains(c))
                    .map(|c| match *c {
                        "id" => r.0.to_string(),
                        "amount" => format!("{:.1}", r.1),
                        "email" => r.2.map(String::from).unwrap_or_else(|| "NULL".into()),
                        _ => r.3.to_string(),
                    })
                    .collect()
            })
            .collect();
        want.sort();
        assert_eq!(
            got_rows, want,
            "case {case}: columns {cols:?}, filter {ptext}"
        );
        let expect_names: Vec<&str> = all_cols
            .iter()
            .filter(|c| cols.contains(c))
            .copied()
            .collect();
        if !got.is_empty() {
            assert_eq!(names(&got), expect_names, "case {case}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_clear_errors_and_the_server_stays_up() {
    let h = Builder::new().start_with_sales().await;
    h.grant("111111111111:user/alice", table("sales.orders", &[]), &[]);
    let alice = h.token("111111111111:user/alice", &[], &[]);
    // Oversized statement.
    let big = format!(
        "SELECT id FROM sales.orders WHERE id IN ({})",
        vec!["1"; 200_000].join(",")
    );
    let e = h.query(&alice, &big).await.unwrap_err();
    assert!(
        matches!(
            e.code(),
            Code::InvalidArgument | Code::OutOfRange | Code::ResourceExhausted
        ),
        "{e:?}"
    );
    // Deeply nested statement: an error, not a crash.
    let deep = format!("SELECT {}1{}", "(".repeat(20_000), ")".repeat(20_000));
    let e = h.query(&alice, &deep).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    let nested = format!(
        "SELECT * FROM {}sales.orders{}",
        "(SELECT * FROM ".repeat(3000),
        ") t".repeat(3000)
    );
    let e = h.query(&alice, &nested).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    // Unknown table.
    let e = h
        .query(&alice, "SELECT * FROM sales.nope")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    // A client that disconnects mid-stream: the server carries on.
    let mut c = h.client(&alice).await;
    let info = c
        .execute(
            "SELECT a.id FROM sales.orders a, sales.orders b, sales.orders c, sales.orders d, \
             sales.orders e, sales.orders f, sales.orders g, sales.orders h"
                .into(),
            None,
        )
        .await
        .unwrap();
    let mut s = c
        .do_get(info.endpoint[0].ticket.clone().unwrap())
        .await
        .unwrap();
    let first = s.try_next().await.unwrap().unwrap();
    assert!(first.num_rows() > 0);
    drop(s);
    drop(c);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let b = h
        .query(&alice, "SELECT count(*) FROM sales.orders")
        .await
        .unwrap();
    assert_eq!(rows(&b), [r(&["4"])]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtls_client_certificates_authenticate_as_mapped_principals() {
    use sha2::Digest;
    let pki = tempfile::tempdir().unwrap();
    let server = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let client = rcgen::generate_simple_self_signed(vec!["alice.client".into()]).unwrap();
    let stranger = rcgen::generate_simple_self_signed(vec!["mallory".into()]).unwrap();
    let w = |name: &str, text: String| {
        let p = pki.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let cert = w("server.pem", server.cert.pem());
    let key = w("server.key", server.signing_key.serialize_pem());
    // Trust both client certificates at the TLS layer; only alice's is mapped.
    let ca = w(
        "clients.pem",
        format!("{}{}", client.cert.pem(), stranger.cert.pem()),
    );
    let fp = hex::encode(sha2::Sha256::digest(client.cert.der()));
    let map = format!(r#"{{"{fp}": {{"principal": "111111111111:user/alice"}}}}"#);
    let h = Builder::new()
        .tls(grpc_proxy::server::TlsFiles {
            cert,
            key,
            client_ca: Some(ca),
        })
        .client_certs(map)
        .start_with_sales()
        .await;
    h.grant(
        "111111111111:user/alice",
        table("sales.orders", &["id"]),
        &[],
    );
    let port = h.addr.rsplit(':').next().unwrap().to_string();
    let connect = |id_cert: String, id_key: String| {
        let server_pem = server.cert.pem();
        let port = port.clone();
        async move {
            let tls = tonic::transport::ClientTlsConfig::new()
                .ca_certificate(tonic::transport::Certificate::from_pem(server_pem))
                .domain_name("localhost")
                .identity(tonic::transport::Identity::from_pem(id_cert, id_key));
            Channel::from_shared(format!("https://127.0.0.1:{port}"))
                .unwrap()
                .tls_config(tls)
                .unwrap()
                .connect()
                .await
                .unwrap()
        }
    };
    // The same certificate is the same caller on the governance API (one
    // authenticator for the port): alice's cert is alice, the stranger's is
    // UNAUTHENTICATED with the same advice.
    let mut g = grpc_proxy::proto::governance_client::GovernanceClient::new(
        connect(client.cert.pem(), client.signing_key.serialize_pem()).await,
    );
    let me = g
        .who_am_i(grpc_proxy::proto::WhoAmIRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(me.principal, "111111111111:user/alice");
    let mut g = grpc_proxy::proto::governance_client::GovernanceClient::new(
        connect(stranger.cert.pem(), stranger.signing_key.serialize_pem()).await,
    );
    let e = g
        .list_databases(grpc_proxy::proto::ListDatabasesRequest::default())
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated, "{e:?}");
    assert!(e.message().contains("client-certs.json"), "{e:?}");
    // Alice's certificate authenticates her: no token needed.
    let mut c = FlightSqlServiceClient::new(
        connect(client.cert.pem(), client.signing_key.serialize_pem()).await,
    );
    let info = c
        .execute("SELECT * FROM sales.orders ORDER BY id".into(), None)
        .await
        .unwrap();
    let b: Vec<RecordBatch> = c
        .do_get(info.endpoint[0].ticket.clone().unwrap())
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(names(&b), ["id"]);
    // A certificate that is not mapped is UNAUTHENTICATED.
    let mut m = FlightSqlServiceClient::new(
        connect(stranger.cert.pem(), stranger.signing_key.serialize_pem()).await,
    );
    let e = status(m.execute("SELECT 1".into(), None).await.unwrap_err());
    assert_eq!(e.code(), Code::Unauthenticated, "{e:?}");
    assert!(e.message().contains("client-certs.json"), "{e:?}");
}
