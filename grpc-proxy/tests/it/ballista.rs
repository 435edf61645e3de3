//! Ballista as the distributed upstream (issue 13 §4): a proxy with
//! `--upstream grpc://SCHEDULER --upstream-kind ballista` in front of a real
//! Ballista cluster on loopback (a scheduler started with `--flight-sql` and
//! two executors), through a real Flight SQL client:
//! - filtered, cell-limited and masked rows come back as on the embedded
//!   engine, and no error depends on a hidden row;
//! - a table created after the session was declared is declared again
//!   before the next statement, and a revoke takes effect at once;
//! - a scheduler restart (its sessions gone) costs one sign-in, not an
//!   error; a scheduler that is down is UNAVAILABLE, naming the upstream;
//! - a keyed-hash mask is never sent to Ballista.

use policy_engine::model::Format;
use test_kit::ballista::BallistaCluster;
use test_kit::*;
use tonic::Code;

use crate::leaks::{BOB, HIDDEN_ROW_ERRORS, assert_nothing_hidden, filter};

const ALICE: &str = "111111111111:user/alice";

/// Runs `check` and prints the cluster's logs if it panics.
async fn with_logs<F: std::future::Future<Output = ()>>(cluster: &BallistaCluster, check: F) {
    let outcome = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(check)).await;
    if let Err(panic) = outcome {
        eprintln!("Ballista's logs:\n{}", cluster.logs());
        std::panic::resume_unwind(panic);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ballista_serves_only_what_policy_shows() {
    let cluster = BallistaCluster::start(2);
    with_logs(&cluster, async {
        let h = Builder::new()
            .ballista(cluster.url())
            .start_with_sales()
            .await;
        filter(&h, "eu", "region = 'EU'", &["id", "amount", "region"]);
        let bob = h.token(BOB, &[], &[]);
        let got = h
            .query(&bob, "SELECT * FROM sales.orders ORDER BY id")
            .await
            .unwrap();
        assert_eq!(
            rows(&got),
            [r(&["1", "10.0", "EU"]), r(&["2", "20.0", "EU"])]
        );
        for sql in HIDDEN_ROW_ERRORS {
            let b = h
                .query(&bob, sql)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
            assert_eq!(rows(&b), [r(&["1"]), r(&["2"])], "{sql}");
            assert_nothing_hidden(sql, &b);
        }
        let b = h
            .query(&bob, "SELECT count(*), sum(amount) FROM sales.orders")
            .await
            .unwrap();
        assert_eq!(rows(&b), [r(&["2", "30.0"])]);

        // A mask is computed by Ballista, from the rewritten SQL.
        h.grant(
            ALICE,
            table("sales.orders", &["id", "email"]),
            &[("email", "redact")],
        );
        let alice = h.token(ALICE, &[], &[]);
        let b = h
            .query(&alice, "SELECT id, email FROM sales.orders ORDER BY id")
            .await
            .unwrap();
        let emails: Vec<String> = rows(&b).into_iter().map(|row| row[1].clone()).collect();
        assert_eq!(emails.len(), 4);
        assert!(
            emails.iter().all(|e| !e.contains('@')),
            "a redacted e-mail leaked: {emails:?}"
        );

        // The keyed hash needs lakegate's key: never sent upstream unkeyed.
        h.grant(
            "111111111111:user/carol",
            table("sales.orders", &["id", "email"]),
            &[("email", "hash")],
        );
        let carol = h.token("111111111111:user/carol", &[], &[]);
        let e = h
            .query(&carol, "SELECT email FROM sales.orders")
            .await
            .unwrap_err();
        assert!(e.message().contains("hash"), "{e:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ballista_follows_the_catalog_and_survives_a_scheduler_restart() {
    let mut cluster = BallistaCluster::start(2);
    let url = cluster.url();
    let staged = Builder::new().ballista(url).open().with_sales().await;
    test_kit::lake::write_json_rows(
        &staged.lake().join("sales/notes/part-0.json"),
        &["id".to_string(), "note".to_string()],
        &[
            vec![serde_json::json!(1), serde_json::json!("it's \"quoted\"")],
            vec![serde_json::json!(2), serde_json::json!("plain")],
        ],
    );
    let gov = staged.governance().clone();
    let h = staged.serve().await;
    h.grant(ALICE, table("sales.orders", &["id"]), &[]);
    let alice = h.token(ALICE, &[], &[]);
    let q = |sql: &'static str| {
        let (h, alice) = (&h, alice.clone());
        async move { h.query(&alice, sql).await }
    };
    let got = q("SELECT id FROM sales.orders ORDER BY id").await.unwrap();
    assert_eq!(rows(&got).len(), 4);

    // A table created after the session was declared: declared before the
    // next statement that reads it.
    let loc = format!("file://{}/sales/notes/", h.lake.display());
    let inferred = lakegate_engine::infer::infer_table(
        &policy_engine::model::LocationUri::parse(&loc).unwrap(),
        Format::Json,
        &[],
    )
    .await
    .unwrap();
    gov.create_table(
        &admin(),
        &policy_engine::NewTable {
            name: "sales.notes".into(),
            location: loc,
            format: Format::Json,
            columns: inferred.columns,
            partition_keys: vec![],
        },
    )
    .unwrap();
    h.grant(ALICE, table("sales.notes", &["id", "note"]), &[]);
    let got = q("SELECT note FROM sales.notes ORDER BY id").await.unwrap();
    assert_eq!(rows(&got), [r(&["it's \"quoted\""]), r(&["plain"])]);

    // A revoke takes effect for the next statement.
    h.gov
        .revoke(
            &admin(),
            &policy_engine::GrantRequest {
                principal: ALICE.into(),
                permissions: vec!["SELECT".into()],
                grantable: vec![],
                resource: table("sales.notes", &["id", "note"]),
                masks: Default::default(),
            },
        )
        .unwrap();
    // (A table the caller may not describe reads as missing.)
    let e = q("SELECT note FROM sales.notes").await.unwrap_err();
    assert!(e.message().contains("not found"), "{e:?}");

    // The scheduler restarts and forgets lakegate's session: the next
    // statement signs in and declares the tables again.
    cluster.restart_scheduler();
    // The first statement after it succeeds: no error reaches the caller
    // (its job waits for the executors' next heartbeat to the new
    // scheduler, every 2 s in this cluster).
    let got = q("SELECT id FROM sales.orders ORDER BY id")
        .await
        .unwrap_or_else(|e| panic!("after a restart: {e:?}\n{}", cluster.logs()));
    assert_eq!(rows(&got).len(), 4);

    // A scheduler that is down: UNAVAILABLE, naming the upstream.
    cluster.stop_scheduler();
    let e = q("SELECT id FROM sales.orders").await.unwrap_err();
    assert_eq!(e.code(), Code::Unavailable, "{e:?}");
    assert!(e.message().contains("upstream"), "{}", e.message());
}
