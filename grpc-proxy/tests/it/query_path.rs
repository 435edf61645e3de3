//! The query path's correctness rules (issue 9 §1), through a real Flight
//! SQL client, on the embedded deployment and on a sidecar (`lakegate
//! engine` behind a proxy with `--upstream`):
//!
//! - a masked column a data filter shows in the clear on some rows is clear
//!   there and masked elsewhere (rule 8, per cell);
//! - a keyed-hash mask is never sent upstream unkeyed: the sidecar refuses
//!   the statement with FAILED_PRECONDITION naming the column;
//! - an error of the caller's own expression during the stream is
//!   INVALID_ARGUMENT with a readable message;
//! - the schema announced in FlightInfo is the schema streamed, nullability
//!   included.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs,
    reason = "test code: a panic is a failed test, and test items are not API"
)]

use arrow::datatypes::Schema;
use futures::TryStreamExt;
use policy_engine::filters::NewDataFilter;
use test_kit::*;
use tonic::Code;

const ALICE: &str = "111111111111:user/alice";

/// The embedded harness and a sidecar over its data directory.
async fn deployments() -> (TestServer, TestServer) {
    let h = Builder::new().start_with_sales().await;
    let side = h.sidecar().await;
    (h, side)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_cell_masks_show_the_most_revealing_form_per_cell() {
    let (h, side) = deployments().await;
    h.gov
        .create_data_filter(
            &admin(),
            &NewDataFilter {
                name: "sales.orders.eu".into(),
                row_filter: Some("region = 'EU'".into()),
                all_rows: false,
                columns: vec!["id".into(), "email".into(), "region".into()],
                exclude_columns: vec![],
            },
        )
        .unwrap();
    h.gov
        .grant(
            &admin(),
            &policy_engine::GrantRequest {
                principal: ALICE.into(),
                permissions: vec!["SELECT".into()],
                grantable: vec![],
                resource: policy_engine::ResourceSpec::DataFilter {
                    name: "sales.orders.eu".into(),
                },
                masks: Default::default(),
            },
        )
        .unwrap();
    h.grant(
        ALICE,
        table("sales.orders", &["id", "email"]),
        &[("email", "redact")],
    );
    let t = h.token(ALICE, &[], &[]);
    for d in [&h, &side] {
        let b = d
            .query(&t, "SELECT id, email FROM sales.orders ORDER BY id")
            .await
            .unwrap();
        assert_eq!(
            rows(&b),
            [
                r(&["1", "ann@x.com"]),
                r(&["2", "NULL"]),
                r(&["3", "REDACTED"]),
                r(&["4", "REDACTED"])
            ],
            "{}",
            d.addr
        );
        // Predicates see each cell's form.
        let b = d
            .query(
                &t,
                "SELECT count(*) FROM sales.orders WHERE email = 'REDACTED' OR email LIKE 'ann%'",
            )
            .await
            .unwrap();
        assert_eq!(rows(&b), [r(&["3"])], "{}", d.addr);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hash_masks_are_never_sent_upstream_unkeyed() {
    let (h, side) = deployments().await;
    h.grant(
        ALICE,
        table("sales.orders", &["id", "email"]),
        &[("email", "hash")],
    );
    let t = h.token(ALICE, &[], &[]);
    let sql = "SELECT id, email FROM sales.orders ORDER BY id";
    // Embedded: the keyed hash.
    let b = h.query(&t, sql).await.unwrap();
    let got = rows(&b);
    assert_eq!(got[0][1].len(), 64, "{got:?}");
    assert!(got[0][1].chars().all(|c| c.is_ascii_hexdigit()), "{got:?}");
    assert_eq!(got[1][1], "NULL");
    // Sidecar: refused at plan time, naming the column and what to do.
    for sql in [sql, "SELECT id FROM sales.orders"] {
        let e = side.query(&t, sql).await.unwrap_err();
        assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
        assert!(e.message().contains("`email`"), "{e:?}");
        assert!(e.message().contains("hash"), "{e:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_of_the_callers_own_expressions_are_invalid_argument() {
    let (h, side) = deployments().await;
    h.grant(ALICE, table("sales.orders", &[]), &[]);
    let t = h.token(ALICE, &[], &[]);
    for d in [&h, &side] {
        for (sql, needle) in [
            (
                "SELECT 10 / (id - 1) AS x FROM sales.orders",
                "ivide by zero",
            ),
            ("SELECT CAST(email AS INT) AS x FROM sales.orders", "ast"),
            (
                "SELECT id FROM sales.orders WHERE 10 % (id - 2) = 0",
                "by zero",
            ),
        ] {
            let e = d.query(&t, sql).await.unwrap_err();
            assert_eq!(e.code(), Code::InvalidArgument, "{}: {sql}: {e:?}", d.addr);
            assert!(
                e.message().contains(needle),
                "{}: {sql}: {}",
                d.addr,
                e.message()
            );
        }
    }
}

/// The schema of each endpoint's stream, and the schema FlightInfo announced.
async fn announced_and_streamed(
    h: &TestServer,
    token: &str,
    sql: &str,
) -> (Schema, Vec<std::sync::Arc<Schema>>) {
    let mut c = h.client(token).await;
    let info = c
        .execute(sql.to_string(), None)
        .await
        .map_err(status)
        .unwrap();
    let announced = info.clone().try_decode_schema().unwrap();
    let mut streamed = Vec::new();
    for ep in info.endpoint {
        let s = c.do_get(ep.ticket.unwrap()).await.map_err(status).unwrap();
        let schema_of_stream = s.schema().cloned();
        let b: Vec<arrow::record_batch::RecordBatch> = s.try_collect().await.unwrap();
        streamed.extend(b.iter().map(|b| b.schema()));
        if let Some(s) = schema_of_stream {
            streamed.push(s);
        }
    }
    (announced, streamed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn announced_schema_is_the_streamed_schema() {
    let (h, side) = deployments().await;
    h.grant(ALICE, table("sales.orders", &["id", "amount"]), &[]);
    h.grant(
        ALICE,
        table("sales.orders", &["email"]),
        &[("email", "last4")],
    );
    let t = h.token(ALICE, &[], &[]);
    for d in [&h, &side] {
        for sql in [
            "SELECT (SELECT max(id) FROM sales.orders) AS m",
            "SELECT version() AS v",
            "SELECT cardinality([1, 2, 3]) AS n",
            "SELECT cardinality(make_array(id, id)) AS n FROM sales.orders",
            "SELECT id, amount, email FROM sales.orders ORDER BY id",
            "SELECT * FROM sales.orders WHERE id = 1",
            "SELECT count(*) AS n, max(email) AS e FROM sales.orders",
            "SELECT id FROM sales.orders WHERE id IN (SELECT id FROM sales.orders WHERE amount > 10)",
        ] {
            let (announced, streamed) = announced_and_streamed(d, &t, sql).await;
            assert!(!streamed.is_empty(), "{}: {sql}", d.addr);
            for s in streamed {
                assert_eq!(
                    s.fields(),
                    announced.fields(),
                    "{}: {sql}: streamed {s:?}, announced {announced:?}",
                    d.addr
                );
            }
        }
    }
}

/// Runs a prepared statement once: GetFlightInfo on its handle, then DoGet
/// on every endpoint.
async fn run_prepared(
    c: &mut arrow_flight::sql::client::FlightSqlServiceClient<tonic::transport::Channel>,
    p: &mut arrow_flight::sql::client::PreparedStatement<tonic::transport::Channel>,
) -> Result<Vec<arrow::record_batch::RecordBatch>, tonic::Status> {
    let info = p.execute().await.map_err(status)?;
    fetch(c, info).await
}

/// A prepared statement is authorized and rewritten once, when prepared,
/// and runs as often as the client likes with the same result; but a plan
/// is only reused on the catalog version it was made on, so a change of
/// access reaches the statement's next run (masks and revocation alike).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_statements_run_repeatedly_and_follow_access_changes() {
    let (h, side) = deployments().await;
    h.grant(ALICE, table("sales.orders", &["id", "email"]), &[]);
    let t = h.token(ALICE, &[], &[]);
    let sql = "SELECT id, email FROM sales.orders ORDER BY id";
    let clear = vec![
        r(&["1", "ann@x.com"]),
        r(&["2", "NULL"]),
        r(&["3", "cy@y.com"]),
        r(&["4", "dee@z.com"]),
    ];
    let mut prepared = Vec::new();
    for d in [&h, &side] {
        let mut c = d.client(&t).await;
        let mut p = c.prepare(sql.into(), None).await.unwrap();
        for run in 0..3 {
            let b = run_prepared(&mut c, &mut p).await.unwrap();
            assert_eq!(rows(&b), clear, "{}: run {run}", d.addr);
        }
        prepared.push((d, c, p));
    }
    // The grant is replaced by a masked one: the same handles show the mask
    // on their next run.
    let revoke_all = || {
        h.gov
            .revoke(
                &admin(),
                &policy_engine::GrantRequest {
                    principal: ALICE.into(),
                    permissions: vec!["SELECT".into()],
                    grantable: vec![],
                    resource: table("sales.orders", &["id", "email"]),
                    masks: Default::default(),
                },
            )
            .unwrap()
    };
    revoke_all();
    h.grant(
        ALICE,
        table("sales.orders", &["id", "email"]),
        &[("email", "redact")],
    );
    for (d, c, p) in &mut prepared {
        let b = run_prepared(c, p).await.unwrap();
        let emails: Vec<String> = rows(&b).into_iter().map(|r| r[1].clone()).collect();
        assert!(
            emails.iter().all(|e| e == "REDACTED" || e == "NULL")
                && emails.iter().any(|e| e == "REDACTED"),
            "{}: mask not applied to a prepared statement: {emails:?}",
            d.addr
        );
    }
    // Revoked: the next run is refused, on both deployments.
    revoke_all();
    for (d, c, p) in &mut prepared {
        let e = run_prepared(c, p).await.unwrap_err();
        assert!(
            matches!(e.code(), Code::PermissionDenied | Code::InvalidArgument),
            "{}: {e:?}",
            d.addr
        );
    }
}

/// A wrong table or column name gets the closest name the caller may see,
/// and only such a name: a table the caller may not see is never suggested,
/// and a hidden table's name gets the same answer as a missing one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_names_suggest_the_closest_visible_name() {
    let (h, side) = deployments().await;
    h.grant(ALICE, table("sales.orders", &["id", "email"]), &[]);
    let alice = h.token(ALICE, &[], &[]);
    let bob = h.token("111111111111:user/bob", &[], &[]);
    for d in [&h, &side] {
        let e = d
            .query(&alice, "SELECT id FROM sales.ordrs")
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
        assert!(
            e.message().contains("did you mean `sales.orders`"),
            "{}: {}",
            d.addr,
            e.message()
        );
        // sales.customers exists but alice may not see it: never suggested,
        // and a typo of it reads like a typo of a table that does not exist.
        let hidden = d
            .query(&alice, "SELECT id FROM sales.customer")
            .await
            .unwrap_err();
        let missing = d
            .query(&alice, "SELECT id FROM sales.cuxtomer")
            .await
            .unwrap_err();
        assert!(!hidden.message().contains("customers"), "{hidden:?}");
        assert_eq!(
            hidden.message().replace("customer", "NAME"),
            missing.message().replace("cuxtomer", "NAME")
        );
        // bob sees nothing: nothing is suggested.
        let e = d
            .query(&bob, "SELECT id FROM sales.ordrs")
            .await
            .unwrap_err();
        assert!(!e.message().contains("orders"), "{e:?}");
        // A wrong column: the closest visible column.
        let e = d
            .query(&alice, "SELECT emial FROM sales.orders")
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
        assert!(e.message().contains("email"), "{}: {}", d.addr, e.message());
        // A hidden column is never suggested.
        let e = d
            .query(&alice, "SELECT amout FROM sales.orders")
            .await
            .unwrap_err();
        assert!(
            !e.message().contains("amount"),
            "{}: {}",
            d.addr,
            e.message()
        );
    }
}

/// Masks have one meaning, lowered twice: to DataFusion expressions inside
/// the embedded engine's scan and to SQL for an upstream. Both lowerings
/// must give the golden values below (DESIGN §3 rule 8: NULL stays NULL).
/// The keyed hash is computed by lakegate only, so the sidecar refuses it
/// (see `hash_masks_are_never_sent_upstream_unkeyed`); its golden property
/// (equal inputs, equal outputs; NULL stays NULL) is checked on the
/// embedded deployment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn masks_match_the_golden_table_on_both_deployments() {
    let (h, side) = deployments().await;
    // sales.orders.email by id: ann@x.com, NULL, cy@y.com, dee@z.com.
    let golden: &[(&str, [&str; 4])] = &[
        ("null", ["NULL", "NULL", "NULL", "NULL"]),
        ("redact", ["REDACTED", "NULL", "REDACTED", "REDACTED"]),
        ("last4", ["xxx@x.com", "NULL", "xx@x.com", "xxx@x.com"]),
        (
            "expr:upper(email)",
            ["ANN@X.COM", "NULL", "CY@Y.COM", "DEE@Z.COM"],
        ),
        ("expr:'hidden'", ["hidden", "NULL", "hidden", "hidden"]),
        (
            "expr:concat('<', email, '>')",
            ["<ann@x.com>", "NULL", "<cy@y.com>", "<dee@z.com>"],
        ),
    ];
    for (i, (mask, want)) in golden.iter().enumerate() {
        let who = format!("111111111111:user/m{i}");
        h.grant(
            &who,
            table("sales.orders", &["id", "email"]),
            &[("email", mask)],
        );
        let t = h.token(&who, &[], &[]);
        for d in [&h, &side] {
            let b = d
                .query(&t, "SELECT id, email FROM sales.orders ORDER BY id")
                .await
                .unwrap_or_else(|e| panic!("{}: mask {mask}: {e:?}", d.addr));
            let got: Vec<String> = rows(&b).into_iter().map(|r| r[1].clone()).collect();
            assert_eq!(got, want.to_vec(), "{}: mask {mask}", d.addr);
        }
    }
    // hash: keyed, deterministic, NULL stays NULL (embedded only).
    h.grant(
        ALICE,
        table("sales.orders", &["id", "email"]),
        &[("email", "hash")],
    );
    let t = h.token(ALICE, &[], &[]);
    let b = h
        .query(&t, "SELECT email FROM sales.orders ORDER BY id")
        .await
        .unwrap();
    let again = h
        .query(&t, "SELECT email FROM sales.orders ORDER BY id")
        .await
        .unwrap();
    let got: Vec<String> = rows(&b).into_iter().map(|r| r[0].clone()).collect();
    assert_eq!(
        got,
        rows(&again)
            .into_iter()
            .map(|r| r[0].clone())
            .collect::<Vec<_>>()
    );
    assert_eq!(got[1], "NULL");
    for (v, clear) in got.iter().zip(["ann@x.com", "", "cy@y.com", "dee@z.com"]) {
        assert!(clear.is_empty() || !v.contains(clear), "{v}");
    }
}
