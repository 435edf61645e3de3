//! Hardening (issue 14) through a real Flight SQL client: the audit line of
//! a decision is written before its data flows, a decision that cannot be
//! audited is denied (unless best effort) and served again when the disk
//! clears; result rows and bytes and running statements per principal are
//! bounded, with RESOURCE_EXHAUSTED naming the limit.

use std::path::Path;
use std::time::{Duration, Instant};

use futures::StreamExt;
use grpc_proxy::audit::AuditOptions;
use grpc_proxy::server::Limits;
use test_kit::{BOTH, Builder, Deployment, TestServer, status};
use tonic::Code;

const ALICE: &str = "111111111111:user/alice";
const BOB: &str = "111111111111:user/bob";

/// Ten rows of table-less data.
const TEN: &str = "(VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9))";

fn rows(n_tens: usize) -> String {
    let from = (0..n_tens)
        .map(|i| format!("{TEN} AS t{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!("SELECT t0.column1 AS a, 'some text to make the rows wider' AS b FROM {from}")
}

fn lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("whole JSON lines"))
        .collect()
}

/// A server with `limits` on `deployment`, and no tables.
async fn start(limits: Limits, deployment: Deployment) -> TestServer {
    Builder::new()
        .limits(limits)
        .deployment(deployment)
        .start()
        .await
}

async fn alive(s: &TestServer, token: &str) {
    let b = s.query(token, "SELECT 41 + 1 AS answer").await.unwrap();
    assert_eq!(b[0].num_rows(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_decision_line_is_in_the_file_before_the_result_reaches_the_client() {
    let h = Builder::new().start_with_sales().await;
    h.grant(ALICE, test_kit::table("sales.orders", &["id"]), &[]);
    let alice = h.token(ALICE, &[], &[]);
    let mut c = h.client(&alice).await;
    let info = c
        .execute("SELECT id FROM sales.orders".into(), None)
        .await
        .unwrap();
    let ticket = info.endpoint[0].ticket.clone().unwrap();
    let mut stream = c.do_get(ticket).await.unwrap();
    // The first batch is here; read the file at once, no waiting.
    let first = stream.next().await.unwrap().unwrap();
    assert!(first.num_rows() > 0);
    let recs = lines(&h.data.join("audit.jsonl"));
    let decision = recs
        .iter()
        .find(|r| r["event"] == "decision" && r["statement"] == "SELECT id FROM sales.orders")
        .unwrap_or_else(|| panic!("no decision line yet: {recs:?}"));
    assert_eq!(decision["decision"], "allow");
    assert_eq!(decision["principal"], ALICE);
    let id = decision["id"].as_str().unwrap().to_string();
    while stream.next().await.is_some() {}
    drop(stream);
    // The end line follows with the same id and the rows returned.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let recs = lines(&h.data.join("audit.jsonl"));
        if let Some(end) = recs.iter().find(|r| r["event"] == "end" && r["id"] == id) {
            assert_eq!(end["rows"], 4);
            assert!(end["error"].is_null(), "{end}");
            break;
        }
        assert!(Instant::now() < deadline, "no end line: {recs:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_that_cannot_be_audited_is_denied_until_the_disk_clears() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let real = dir.path().join("real.jsonl");
    // Every write to the log fails with ENOSPC, as on a full disk.
    std::os::unix::fs::symlink("/dev/full", &path).unwrap();
    let h = Builder::new().audit_log(&path).start().await;
    let alice = h.token(ALICE, &[], &[]);
    for _ in 0..3 {
        let e = h.query(&alice, "SELECT 1 AS one").await.unwrap_err();
        assert_eq!(e.code(), Code::Unavailable, "{e:?}");
        assert!(e.message().contains("audit log"), "{e:?}");
        assert!(e.message().contains("--audit-best-effort"), "{e:?}");
        // The client learns nothing of the server's files.
        assert!(!e.message().contains("/dev/full"), "{e:?}");
    }
    // The disk clears: the log's path leads to a writable file again.
    std::fs::remove_file(&path).unwrap();
    std::os::unix::fs::symlink(&real, &path).unwrap();
    alive(&h, &alice).await;
    let recs = lines(&real);
    assert!(
        recs.iter()
            .any(|r| r["event"] == "decision" && r["decision"] == "allow"),
        "{recs:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn best_effort_serves_decisions_it_cannot_audit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    std::os::unix::fs::symlink("/dev/full", &path).unwrap();
    let h = Builder::new()
        .audit_log(&path)
        .audit(AuditOptions {
            best_effort: true,
            ..AuditOptions::default()
        })
        .start()
        .await;
    let alice = h.token(ALICE, &[], &[]);
    alive(&h, &alice).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_over_the_row_or_byte_limit_are_cancelled_with_resource_exhausted() {
    for deployment in BOTH {
        let limits = Limits {
            max_result_rows: Some(50),
            ..Limits::default()
        };
        let h = start(limits, deployment).await;
        let alice = h.token(ALICE, &[], &[]);
        let e = h.query(&alice, &rows(2)).await.unwrap_err();
        assert_eq!(e.code(), Code::ResourceExhausted, "{deployment:?}: {e:?}");
        assert!(e.message().contains("--max-result-rows"), "{e:?}");
        assert!(e.message().contains("50 rows"), "{e:?}");
        // At the limit is fine.
        let ok = h
            .query(&alice, &format!("{} LIMIT 50", rows(2)))
            .await
            .unwrap();
        assert_eq!(ok.iter().map(|b| b.num_rows()).sum::<usize>(), 50);

        let limits = Limits {
            max_result_bytes: Some(4096),
            ..Limits::default()
        };
        let h = start(limits, deployment).await;
        let alice = h.token(ALICE, &[], &[]);
        let e = h.query(&alice, &rows(3)).await.unwrap_err();
        assert_eq!(e.code(), Code::ResourceExhausted, "{deployment:?}: {e:?}");
        assert!(e.message().contains("--max-result-bytes"), "{e:?}");
        alive(&h, &alice).await;
    }
}

/// Opens a DoGet stream of a long statement and keeps it open (with its
/// client).
async fn hold(
    h: &TestServer,
    token: &str,
) -> (
    arrow_flight::sql::client::FlightSqlServiceClient<tonic::transport::Channel>,
    arrow_flight::decode::FlightRecordBatchStream,
) {
    let mut c = h.client(token).await;
    let sql = format!(
        "SELECT sum(t0.column1 * t7.column1) AS s FROM {}",
        (0..8)
            .map(|i| format!("{TEN} AS t{i}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let info = c.execute(sql, None).await.unwrap();
    let ticket = info.endpoint[0].ticket.clone().unwrap();
    let stream = c.do_get(ticket).await.map_err(status).unwrap();
    (c, stream)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_principal_at_its_running_statement_limit_is_refused_one_more() {
    let limits = Limits {
        max_concurrent_statements_per_principal: 2,
        ..Limits::default()
    };
    let h = start(limits, Deployment::Embedded).await;
    let alice = h.token(ALICE, &[], &[]);
    let bob = h.token(BOB, &[], &[]);
    let a1 = hold(&h, &alice).await;
    let a2 = hold(&h, &alice).await;
    let e = h.query(&alice, "SELECT 1").await.unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
    assert!(
        e.message()
            .contains("--max-concurrent-statements-per-principal"),
        "{e:?}"
    );
    // Another principal is not held up by alice's statements.
    alive(&h, &bob).await;
    // Alice's slots come back when her streams go away.
    drop(a1);
    drop(a2);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match h.query(&alice, "SELECT 1").await {
            Ok(_) => break,
            Err(e) => {
                assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
                assert!(Instant::now() < deadline, "slots never came back");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_loses_its_slot_at_the_deadline() {
    let limits = Limits {
        statement_timeout: Duration::from_secs(2),
        max_concurrent_statements_per_principal: 1,
        ..Limits::default()
    };
    let h = Builder::new().limits(limits).start().await;
    let alice = h.token(ALICE, &[], &[]);
    let mut c = h.client(&alice).await;
    // A million wide rows: far more than the connection's flow-control
    // window, so once the client stops reading, tonic stops polling.
    let info = c.execute(rows(6), None).await.unwrap();
    let ticket = info.endpoint[0].ticket.clone().unwrap();
    let mut unread = c.do_get(ticket).await.map_err(status).unwrap();
    let first = unread.next().await.unwrap().unwrap();
    assert!(first.num_rows() > 0);
    let started = Instant::now();
    let e = h.query(&alice, "SELECT 1").await.unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
    // The stream stays open and unread, yet its deadline frees the slot.
    loop {
        match h.query(&alice, "SELECT 1").await {
            Ok(_) => break,
            Err(e) => {
                assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
                assert!(
                    started.elapsed() < Duration::from_secs(15),
                    "the unread stream kept its slot past its deadline"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    // What the client reads next is the deadline, not more rows.
    let mut saw_deadline = false;
    while let Some(item) = unread.next().await {
        if let Err(e) = item {
            let s = status(e);
            assert_eq!(s.code(), Code::DeadlineExceeded, "{s:?}");
            saw_deadline = true;
            break;
        }
    }
    assert!(saw_deadline, "the stream ended without its deadline error");
}
