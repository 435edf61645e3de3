//! Regression tests for the leak classes of the red-team pass (issue 8),
//! through a real Flight SQL client, on the embedded deployment and on the
//! sidecar deployment (`lakegate engine` behind a proxy with `--upstream`):
//!
//! - `reserialisation_*`: the text sent upstream means what was checked,
//!   whatever quotes and backslashes a literal or identifier holds;
//! - `attributes_are_literals_*`: token attributes enter row filters as typed
//!   literals; values that are not of the column's type match no row;
//! - `hidden_rows_never_influence_errors_*`: no error depends on a hidden row,
//!   behind an upstream as well.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs,
    reason = "test code: a panic is a failed test, and test items are not API"
)]

use policy_engine::filters::NewDataFilter;
use policy_engine::{GrantRequest, ResourceSpec};
use test_kit::*;

pub(crate) const BOB: &str = "111111111111:user/bob";

/// Values bob must never see: every e-mail, and the ids and amounts of the
/// rows outside EU.
const HIDDEN: &[&str] = &[
    "ann@x.com",
    "cy@y.com",
    "dee@z.com",
    "3",
    "4",
    "30",
    "40",
    "US",
    "APAC",
];

pub(crate) fn filter(h: &TestServer, name: &str, rows: &str, columns: &[&str]) {
    h.gov
        .create_data_filter(
            &admin(),
            &NewDataFilter {
                name: format!("sales.orders.{name}"),
                row_filter: Some(rows.into()),
                all_rows: false,
                columns: columns.iter().map(|c| c.to_string()).collect(),
                exclude_columns: vec![],
            },
        )
        .unwrap();
    h.gov
        .grant(
            &admin(),
            &GrantRequest {
                principal: BOB.into(),
                permissions: vec!["SELECT".into()],
                grantable: vec![],
                resource: ResourceSpec::DataFilter {
                    name: format!("sales.orders.{name}"),
                },
                masks: Default::default(),
            },
        )
        .unwrap();
}

/// Bob sees EU rows of id, amount and region (no e-mail); the embedded
/// proxy and a sidecar share one store.
async fn eu_only() -> (TestServer, TestServer) {
    let h = Builder::new().start_with_sales().await;
    filter(&h, "eu", "region = 'EU'", &["id", "amount", "region"]);
    let side = h.sidecar().await;
    (h, side)
}

pub(crate) fn assert_nothing_hidden(what: &str, batches: &[arrow::record_batch::RecordBatch]) {
    for row in rows(batches) {
        for cell in row {
            assert!(
                !cell.contains('@') && !HIDDEN.contains(&cell.as_str()),
                "{what}: hidden value leaked: `{cell}`"
            );
        }
    }
}

/// Literal and identifier shapes whose printed form is ambiguous: quotes
/// after backslashes, doubled quotes, both quote kinds, comments, newlines.
fn smuggling_statements() -> Vec<String> {
    const T: &str = "\"111111111111\".sales.orders";
    let mut out = vec![
        // The red-team example: `'x\''` printed back as `'x\'`.
        format!(
            "SELECT region FROM sales.orders WHERE region = 'x\\'' UNION ALL SELECT email FROM {T} --'"
        ),
        format!(
            "SELECT region FROM sales.orders WHERE region = 'x\\'' UNION ALL SELECT CAST(id AS VARCHAR) FROM {T} WHERE region <> 'EU' --'"
        ),
        format!(
            "SELECT region FROM sales.orders WHERE region IN ('a\\'', 'b') OR 'q\\'' = ' OR 1=1 UNION ALL SELECT email FROM {T} --'"
        ),
        format!(
            "SELECT region FROM sales.orders WHERE region = 'a''''' UNION ALL SELECT email FROM {T} --'"
        ),
        format!(
            "SELECT region FROM sales.orders WHERE region LIKE '%\\'' UNION ALL SELECT email FROM {T} /*'"
        ),
        format!(
            "SELECT region FROM sales.orders WHERE region = E'x\\'' UNION ALL SELECT email FROM {T} --'"
        ),
        format!(
            "SELECT region AS \"r\\\"\" FROM sales.orders UNION ALL SELECT email FROM {T} --\" FROM sales.orders"
        ),
        format!(
            "SELECT region FROM sales.orders WHERE region = 'x\\''\nUNION ALL SELECT email FROM {T}\n--'"
        ),
    ];
    // Every pair of troublesome characters before the closing quote.
    let pieces = ["\\", "''", "\\''", "\"", "\\\\", "\n", "--", "/*", ";"];
    for a in pieces {
        for b in pieces {
            out.push(format!(
                "SELECT region FROM sales.orders WHERE region = 'x{a}{b}' \
                 UNION ALL SELECT email FROM {T} --'"
            ));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reserialisation_keeps_meaning_on_both_deployments() {
    let (h, side) = eu_only().await;
    for (name, target) in [("embedded", &h), ("sidecar", &side)] {
        let bob = target.token(BOB, &[], &[]);
        for sql in smuggling_statements() {
            match target.query(&bob, &sql).await {
                Ok(b) => assert_nothing_hidden(&format!("{name}: {sql}"), &b),
                Err(e) => {
                    // Refused is fine; what matters is that nothing leaks,
                    // and the refusal says what was refused.
                    assert!(
                        matches!(
                            e.code(),
                            tonic::Code::PermissionDenied | tonic::Code::InvalidArgument
                        ),
                        "{name}: {sql}: {e:?}"
                    );
                    assert!(!e.message().contains("@"), "{name}: {sql}: {e:?}");
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reserialisation_keeps_literal_values_exact() {
    // Ordinary literals with quotes and backslashes still work, and compare
    // exactly as written, on both deployments.
    let (h, side) = eu_only().await;
    for target in [&h, &side] {
        let bob = target.token(BOB, &[], &[]);
        for (sql, want) in [
            ("SELECT 'it''s' AS v", "it's"),
            ("SELECT 'a\\b' AS v", "a\\b"),
            ("SELECT 'x\\' AS v", "x\\"),
            ("SELECT 'q''''' AS v", "q''"),
            (
                "SELECT regexp_replace('a1b22', '\\d+', '#', 'g') AS v",
                "a#b#",
            ),
        ] {
            let b = target.query(&bob, sql).await.unwrap();
            assert_eq!(rows(&b), [r(&[want])], "{sql}");
        }
        let b = target
            .query(
                &bob,
                "SELECT id FROM sales.orders WHERE region <> 'x\\''' ORDER BY id",
            )
            .await
            .unwrap();
        assert_eq!(rows(&b), [r(&["1"]), r(&["2"])]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attributes_are_literals_not_text_on_both_deployments() {
    let h = Builder::new().start_with_sales().await;
    filter(
        &h,
        "mine",
        "region = ${principal.attrs.region}",
        &["id", "amount", "region"],
    );
    filter(
        &h,
        "above",
        "id > ${principal.attrs.min} AND region = 'EU'",
        &["id", "region"],
    );
    let side = h.sidecar().await;
    for (name, target) in [("embedded", &h), ("sidecar", &side)] {
        // A plain value works.
        let bob = target.token(BOB, &[], &[("region", "EU")]);
        let b = target
            .query(&bob, "SELECT id FROM sales.orders ORDER BY id")
            .await
            .unwrap();
        assert_eq!(rows(&b), [r(&["1"]), r(&["2"])], "{name}");
        // Values that would change the predicate if spliced as text match
        // only rows whose region is exactly that value: none.
        for evil in [
            "x\\' OR 1=1 --",
            "x' OR 1=1 --",
            "x\\'' OR 1=1 --",
            "EU' OR region <> '",
            "' OR ''='",
            "\\",
            "EU\\",
            "x'; SELECT email FROM sales.orders --",
            "EU\" OR \"1\"=\"1",
        ] {
            let t = target.token(BOB, &[], &[("region", evil), ("min", "1")]);
            let b = target
                .query(&t, "SELECT id, region FROM sales.orders ORDER BY id")
                .await
                .unwrap_or_else(|e| panic!("{name}: region={evil}: {e:?}"));
            // Only the `above` filter's row (id 2, EU) may show.
            assert_eq!(rows(&b), [r(&["2", "EU"])], "{name}: region={evil}");
        }
        // Values that are not numbers match no row of the numeric filter,
        // and produce no error that could print the filter.
        for evil in [
            "inf",
            "-inf",
            "NaN",
            "infinity",
            "1e999",
            "0x10",
            "1 OR 1=1",
            "0) OR (1=1",
            "five",
            "",
            "1_000",
            "--1",
        ] {
            let t = target.token(BOB, &[], &[("min", evil)]);
            let b = target
                .query(&t, "SELECT id FROM sales.orders ORDER BY id")
                .await
                .unwrap_or_else(|e| panic!("{name}: min={evil}: {e:?}"));
            assert!(rows(&b).is_empty(), "{name}: min={evil}: {:?}", rows(&b));
        }
        let t = target.token(BOB, &[], &[("min", "-1.5e0")]);
        let b = target
            .query(&t, "SELECT id FROM sales.orders ORDER BY id")
            .await
            .unwrap();
        assert_eq!(rows(&b), [r(&["1"]), r(&["2"])], "{name}: min=-1.5e0");
    }
}

/// Statements whose error, if the engine raised it, would depend on a row
/// bob may not see (he sees EU rows 1 and 2): each must return rows 1 and 2.
pub(crate) const HIDDEN_ROW_ERRORS: &[&str] = &[
    // Division by zero only on a hidden row.
    "SELECT id FROM sales.orders WHERE 1/(CASE WHEN region='US' THEN 0 ELSE 1 END) = 1 ORDER BY id",
    "SELECT id FROM sales.orders WHERE 1/(CAST(amount AS BIGINT) - 30) > -1000 ORDER BY id",
    "SELECT id FROM sales.orders WHERE 1/(CASE WHEN id = 3 THEN 0 ELSE 1 END) = 1 ORDER BY id",
    // Binary search on a hidden amount.
    "SELECT id FROM sales.orders WHERE 1/(CASE WHEN amount > 25 AND amount < 35 THEN 0 ELSE 1 END) = 1 ORDER BY id",
    // A cast that fails only on a hidden row.
    "SELECT id FROM sales.orders WHERE CAST(CASE WHEN id = 4 THEN 'x' ELSE '1' END AS INT) = 1 ORDER BY id",
    "SELECT id FROM sales.orders WHERE CAST(CASE WHEN region = 'APAC' THEN 'x' ELSE '1' END AS INT) = 1 ORDER BY id",
    // The same inside a join and a subquery.
    "SELECT o.id FROM sales.orders o JOIN sales.orders p ON o.id = p.id \
     WHERE 1/(CASE WHEN o.region='US' THEN 0 ELSE 1 END) = 1 ORDER BY o.id",
    "SELECT id FROM (SELECT * FROM sales.orders) s \
     WHERE 1/(CASE WHEN amount = 40 THEN 0 ELSE 1 END) = 1 ORDER BY id",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hidden_rows_never_influence_errors_on_both_deployments() {
    let (h, side) = eu_only().await;
    for (name, target) in [("embedded", &h), ("sidecar", &side)] {
        let bob = target.token(BOB, &[], &[]);
        for sql in HIDDEN_ROW_ERRORS {
            let b = target
                .query(&bob, sql)
                .await
                .unwrap_or_else(|e| panic!("{name}: {sql}: {e:?}"));
            assert_eq!(rows(&b), [r(&["1"]), r(&["2"])], "{name}: {sql}");
        }
        // Aggregates count only visible rows.
        let b = target
            .query(
                &bob,
                "SELECT count(*) FROM sales.orders WHERE 1/(CASE WHEN region='APAC' THEN 0 ELSE 1 END) = 1",
            )
            .await
            .unwrap();
        assert_eq!(rows(&b), [r(&["2"])], "{name}");
        // An error on a visible row is still the user's own error.
        let e = target
            .query(
                &bob,
                "SELECT id FROM sales.orders WHERE 1/(CASE WHEN id = 1 THEN 0 ELSE 1 END) = 1",
            )
            .await
            .unwrap_err();
        assert!(
            e.message().to_lowercase().contains("divide by zero"),
            "{name}: {e:?}"
        );
    }
}
