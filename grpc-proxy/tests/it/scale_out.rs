//! Scale-out (issue 13): two `lakegate serve` nodes on one PostgreSQL store
//! (a real server, Debian's package) behave as one service, through a real
//! Flight SQL client:
//! - a grant or revoke made through one node holds on the other for the
//!   next statement (every statement reads the store's version);
//! - tokens and tickets of one node are accepted by the other (the signing
//!   and sealing key lives in the store, not in a copied file);
//! - a store outage denies every statement with UNAVAILABLE, naming the
//!   governance store, `/healthz` says not ready, and the nodes recover
//!   when it returns;
//! - `/metrics` counts statements, denials, version reads and store errors.

use std::sync::OnceLock;

use futures::TryStreamExt;
use policy_engine::GrantRequest;
use test_kit::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::Code;

/// One PostgreSQL server for the tests that do not stop it; each test has
/// its own database.
fn shared_pg() -> &'static PgServer {
    static PG: OnceLock<PgServer> = OnceLock::new();
    PG.get_or_init(PgServer::start)
}

fn database(pg: &PgServer, name: &str) -> String {
    pg.create_user_db(name, "pw", name);
    format!(
        "postgres://{name}:pw@127.0.0.1:{}/{name}?sslmode=disable",
        pg.port
    )
}

/// `GET path` on the node's operations port: (status code, body).
async fn ops_get(node: &TestServer, path: &str) -> (u16, String) {
    let mut sock = tokio::net::TcpStream::connect(&node.ops_addr)
        .await
        .unwrap();
    sock.write_all(format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut reply = String::new();
    sock.read_to_string(&mut reply).await.unwrap();
    let code = reply.split(' ').nth(1).unwrap().parse().unwrap();
    let body = reply.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (code, body)
}

/// The value of an unlabelled counter in `/metrics`.
fn counter(metrics: &str, name: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("{name} missing from:\n{metrics}"))
        .parse()
        .unwrap()
}

/// Node A builds the `sales` catalog in the store; node B starts on the
/// same store with its own data directory.
async fn two_nodes(url: &str) -> (TestServer, TestServer) {
    let a = Builder::new().store(url).start_with_sales().await;
    let b = Builder::new().store(url).start().await;
    (a, b)
}

fn revoke_select(principal: &str) -> GrantRequest {
    GrantRequest {
        principal: principal.into(),
        permissions: vec!["SELECT".into()],
        grantable: vec![],
        resource: table("sales.orders", &[]),
        masks: vec![],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_and_a_revoke_on_one_node_hold_on_the_other_at_the_next_statement() {
    let url = database(shared_pg(), "revoke");
    let (a, b) = two_nodes(&url).await;
    let alice = a.token("111111111111:user/alice", &[], &[]);
    let sql = "SELECT id FROM sales.orders";
    // Nothing granted yet: hidden on node B.
    assert_eq!(
        b.query(&alice, sql).await.unwrap_err().code(),
        Code::InvalidArgument
    );

    a.grant("111111111111:user/alice", table("sales.orders", &[]), &[]);
    let rows_on_b = b.query(&alice, sql).await.unwrap();
    assert!(rows(&rows_on_b).len() > 1, "node B must see node A's grant");

    // Plan on B, revoke on A, fetch on B: the ticket is re-authorized
    // against the store's current version.
    let mut c = b.client(&alice).await;
    let info = c.execute(sql.into(), None).await.unwrap();
    a.gov
        .revoke(&admin(), &revoke_select("111111111111:user/alice"))
        .unwrap();
    let e = match c.do_get(info.endpoint[0].ticket.clone().unwrap()).await {
        Ok(s) => status(s.try_collect::<Vec<_>>().await.unwrap_err()),
        Err(e) => status(e),
    };
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert_eq!(
        b.query(&alice, sql).await.unwrap_err().code(),
        Code::InvalidArgument
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_and_tickets_of_one_node_are_good_on_the_other() {
    let url = database(shared_pg(), "tickets");
    let (a, b) = two_nodes(&url).await;
    assert_eq!(a.key, b.key, "the nodes must share the store's key");
    assert_ne!(
        std::fs::read(b.data.join("signing.key")).ok(),
        Some(b.key.clone()),
        "the shared key must not come from a data directory file"
    );
    a.grant(
        "111111111111:user/alice",
        table("sales.orders", &["id"]),
        &[],
    );
    let alice = a.token("111111111111:user/alice", &[], &[]);
    let sql = "SELECT id FROM sales.orders ORDER BY id";
    let mut on_a = a.client(&alice).await;
    let info = on_a.execute(sql.into(), None).await.unwrap();
    let ticket = info.endpoint[0].ticket.clone().unwrap();
    let mut on_b = b.client(&alice).await;
    let batches: Vec<_> = on_b
        .do_get(ticket)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(rows(&batches), rows(&a.query(&alice, sql).await.unwrap()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_outage_denies_every_statement_and_the_nodes_recover() {
    let pg = PgServer::start();
    let url = database(&pg, "outage");
    let (a, b) = two_nodes(&url).await;
    a.grant("111111111111:user/alice", table("sales.orders", &[]), &[]);
    let alice = a.token("111111111111:user/alice", &[], &[]);
    let sql = "SELECT id FROM sales.orders";
    assert!(!rows(&b.query(&alice, sql).await.unwrap()).is_empty());
    let (code, body) = ops_get(&b, "/healthz").await;
    assert_eq!(code, 200, "{body}");
    let (_, before) = ops_get(&b, "/metrics").await;

    pg.stop();
    for node in [&a, &b] {
        let e = node.query(&alice, sql).await.unwrap_err();
        assert_eq!(e.code(), Code::Unavailable, "{e:?}");
        assert!(e.message().contains("governance store"), "{}", e.message());
        assert!(!e.message().contains("pw"), "{}", e.message());
        let (code, body) = ops_get(node, "/healthz").await;
        assert_eq!(code, 503, "{body}");
        assert_eq!(ops_get(node, "/livez").await.0, 200);
        assert!(body.contains("\"ready\":false"), "{body}");
    }
    // The registry is per process, and other tests run beside this one:
    // only the store errors are this test's alone.
    let (_, during) = ops_get(&b, "/metrics").await;
    let errors = "lakegate_store_errors_total";
    assert!(counter(&during, errors) > counter(&before, errors));

    pg.start_again();
    for node in [&a, &b] {
        assert!(!rows(&node.query(&alice, sql).await.unwrap()).is_empty());
        assert_eq!(ops_get(node, "/healthz").await.0, 200);
    }
    let (_, after) = ops_get(&b, "/metrics").await;
    for name in [
        "lakegate_statements_total",
        "lakegate_denials_total",
        "lakegate_store_version_reads_total",
        "lakegate_catalog_cache_hits_total",
    ] {
        // Present and counting (exact deltas would race other tests).
        assert!(counter(&after, name) > 0, "{name}");
    }
    assert!(after.contains("lakegate_decision_duration_seconds_bucket{operation=\"statement\""));
    assert_eq!(ops_get(&b, "/nope").await.0, 404);
}
