//! Bounds and bindings (issue 8, items 6, 8, 9, 10 and 11) through a real
//! Flight SQL client, on the embedded and the sidecar deployments: tickets
//! and handles bound to the whole caller and to the token's lifetime, the
//! plan cache bounded by bytes, statement memory limits, statement timeouts,
//! cancellation when the client goes away, and token `nbf`/lifetime checks.
//! After every resource failure a normal query shows the server lives on.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs,
    reason = "test code: a panic is a failed test, and test items are not API"
)]

use std::time::{Duration, Instant};

use arrow::array::Array;
use arrow::record_batch::RecordBatch;
use arrow_flight::sql::client::FlightSqlServiceClient;
use arrow_flight::sql::{
    ActionCreatePreparedStatementRequest, ActionCreatePreparedStatementResult, Any,
    CommandPreparedStatementQuery, ProstMessageExt,
};
use arrow_flight::{Action, Ticket};
use futures::{StreamExt, TryStreamExt};
use grpc_proxy::server::Limits;
use prost::Message;
use test_kit::{BOTH, Builder, Deployment, TestServer, status};
use tonic::Code;
use tonic::transport::Channel;

const ALICE: &str = "111111111111:user/alice";
const BOB: &str = "111111111111:user/bob";

/// A server with `limits` and no tables (the statements here need none).
async fn start(limits: Limits, deployment: Deployment) -> TestServer {
    Builder::new()
        .limits(limits)
        .deployment(deployment)
        .start()
        .await
}

/// A normal query works: the server lives on.
async fn alive(s: &TestServer) {
    let t = s.token(ALICE, &[], &[]);
    let b = s.query(&t, "SELECT 41 + 1 AS answer").await.unwrap();
    let col = b[0].column(0);
    assert_eq!(col.len(), 1);
    assert_eq!(
        arrow::util::display::array_value_to_string(col, 0).unwrap(),
        "42"
    );
}

async fn redeem(
    c: &mut FlightSqlServiceClient<Channel>,
    ticket: Ticket,
) -> Result<Vec<RecordBatch>, tonic::Status> {
    let s = c.do_get(ticket).await.map_err(status)?;
    s.try_collect().await.map_err(status)
}

fn code_of(e: &tonic::Status) -> Code {
    e.code()
}

/// A prepared-statement handle, through the raw action (the client's
/// `PreparedStatement` keeps the handle to itself).
async fn prepare_handle(c: &mut FlightSqlServiceClient<Channel>, sql: &str) -> prost::bytes::Bytes {
    let action = Action {
        r#type: "CreatePreparedStatement".into(),
        body: ActionCreatePreparedStatementRequest {
            query: sql.into(),
            transaction_id: None,
        }
        .as_any()
        .encode_to_vec()
        .into(),
    };
    let mut results = c.do_action(action).await.unwrap();
    let r = results.message().await.unwrap().unwrap();
    let any = Any::decode(&*r.body).unwrap();
    let res: ActionCreatePreparedStatementResult = any.unpack().unwrap().unwrap();
    res.prepared_statement_handle
}

fn prepared_ticket(handle: prost::bytes::Bytes) -> Ticket {
    Ticket::new(
        CommandPreparedStatementQuery {
            prepared_statement_handle: handle,
        }
        .as_any()
        .encode_to_vec(),
    )
}

async fn first_ticket(c: &mut FlightSqlServiceClient<Channel>, sql: &str) -> Ticket {
    let info = c.execute(sql.into(), None).await.unwrap();
    info.endpoint[0].ticket.clone().unwrap()
}

/// Ten rows of table-less data: `(VALUES (0), ..., (9))`.
const TEN: &str = "(VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9))";

/// A cross join of `n` copies of [`TEN`]: 10^n rows of table-less compute
/// (table functions such as `range()` are refused by the rewriter).
fn cross_join(n: usize) -> String {
    (0..n)
        .map(|i| format!("{TEN} AS t{i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A sum over 10^10 rows: minutes of CPU, no memory to speak of (a bare
/// `count(*)` would be answered from statistics).
fn endless() -> String {
    format!(
        "SELECT sum(t0.column1 * t9.column1) AS s FROM {}",
        cross_join(10)
    )
}

// ---------------------------------------------------------------- item 11

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_nbf_and_lifetime_are_checked_when_verified() {
    let limits = Limits {
        max_token_lifetime: Duration::from_secs(3600),
        ..Limits::default()
    };
    let s = start(limits, Deployment::Embedded).await;
    // Longer-lived than the server accepts, though well signed.
    let long = s.token_for(ALICE, &[], &[], Duration::from_secs(7200));
    let e = s.query(&long, "SELECT 1").await.unwrap_err();
    assert_eq!(code_of(&e), Code::Unauthenticated, "{e:?}");
    assert!(e.message().contains("--max-token-lifetime"), "{e:?}");
    // Not valid yet (`nbf` in the future).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = serde_json::json!({
        "sub": ALICE, "groups": [], "attrs": {},
        "iat": now, "nbf": now + 600, "exp": now + 1200,
    });
    let early = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(&s.key),
    )
    .unwrap();
    let e = s.query(&early, "SELECT 1").await.unwrap_err();
    assert_eq!(code_of(&e), Code::Unauthenticated, "{e:?}");
    assert!(e.message().contains("not valid yet"), "{e:?}");
    // No `iat`, `exp` a year away: the lifetime counts from now.
    let claims = serde_json::json!({"sub": ALICE, "exp": now + 365 * 86400});
    let forever = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(&s.key),
    )
    .unwrap();
    let e = s.query(&forever, "SELECT 1").await.unwrap_err();
    assert_eq!(code_of(&e), Code::Unauthenticated, "{e:?}");
    alive(&s).await;
}

// ----------------------------------------------------------------- item 6

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ticket_bound_to_whole_caller_attrs_groups_and_token_expiry() {
    for d in BOTH {
        let s = start(Limits::default(), d).await;
        let eu = s.token(ALICE, &[], &[("region", "EU")]);
        let us = s.token(ALICE, &[], &[("region", "US")]);
        let grouped = s.token(ALICE, &["111111111111:group/analysts"], &[("region", "EU")]);
        let eu_again = s.token(ALICE, &[], &[("region", "EU")]);
        let mut c_eu = s.client(&eu).await;
        // A statement ticket: another token of the same `sub` with other
        // attributes or groups cannot redeem it.
        for other in [&us, &grouped] {
            let t = first_ticket(&mut c_eu, "SELECT 1 AS x").await;
            let mut c = s.client(other).await;
            let e = redeem(&mut c, t).await.unwrap_err();
            assert_eq!(code_of(&e), Code::PermissionDenied, "{d:?}: {e:?}");
        }
        // A prepared-statement handle likewise.
        let h = prepare_handle(&mut c_eu, "SELECT 2 AS y").await;
        let mut c_us = s.client(&us).await;
        let e = redeem(&mut c_us, prepared_ticket(h.clone()))
            .await
            .unwrap_err();
        assert_eq!(code_of(&e), Code::PermissionDenied, "{d:?}: {e:?}");
        // The same caller (another token, same claims) may redeem it.
        let mut c_again = s.client(&eu_again).await;
        let b = redeem(&mut c_again, prepared_ticket(h)).await.unwrap();
        assert_eq!(b[0].num_rows(), 1);
        // A handle never outlives the token that made it, even when a fresh
        // token of the same caller redeems it.
        let short = s.token_for(ALICE, &[], &[("region", "EU")], Duration::from_secs(1));
        let mut c_short = s.client(&short).await;
        let t = first_ticket(&mut c_short, "SELECT 3 AS z").await;
        let h = prepare_handle(&mut c_short, "SELECT 4 AS w").await;
        tokio::time::sleep(Duration::from_millis(2100)).await;
        for ticket in [t, prepared_ticket(h)] {
            let e = redeem(&mut c_again, ticket).await.unwrap_err();
            assert_eq!(code_of(&e), Code::PermissionDenied, "{d:?}: {e:?}");
        }
        alive(&s).await;
    }
}

// ----------------------------------------------------------------- item 8

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_cache_bounded_by_bytes_per_principal_and_total() {
    let per = 64 * 1024;
    let total = 160 * 1024;
    let limits = Limits {
        max_plan_cache_bytes: total,
        max_plan_cache_bytes_per_principal: per,
        ..Limits::default()
    };
    for d in BOTH {
        let s = start(limits.clone(), d).await;
        // Bob has no grants and never redeems his tickets.
        let bob = s.token(BOB, &[], &[]);
        let alice = s.token(ALICE, &[], &[]);
        let mut ca = s.client(&alice).await;
        let alice_ticket = first_ticket(&mut ca, "SELECT 'alice' AS who").await;
        let mut cb = s.client(&bob).await;
        let mut bob_tickets = Vec::new();
        for i in 0..60 {
            bob_tickets.push(first_ticket(&mut cb, &format!("SELECT {i} AS n")).await);
            let (_, bytes) = s.proxy.plan_cache_usage();
            assert!(bytes <= total, "{d:?}: {bytes} > {total}");
        }
        let (n, bytes) = s.proxy.plan_cache_usage();
        assert!(
            bytes <= total && n <= 1 + per / (16 * 1024),
            "{d:?}: {n} plans, {bytes} bytes"
        );
        // Bob's flood evicted his own plans, not Alice's: hers is still cached
        // (redeeming it drops it from the cache).
        let before = s.proxy.plan_cache_usage().0;
        let b = redeem(&mut ca, alice_ticket).await.unwrap();
        assert_eq!(b[0].num_rows(), 1);
        assert_eq!(s.proxy.plan_cache_usage().0, before - 1, "{d:?}");
        // Evicted plans are planned again: every ticket still works.
        let first = bob_tickets.remove(0);
        let b = redeem(&mut cb, first).await.unwrap();
        assert_eq!(b[0].num_rows(), 1);
        let last = bob_tickets.pop().unwrap();
        let before = s.proxy.plan_cache_usage().0;
        redeem(&mut cb, last).await.unwrap();
        assert_eq!(
            s.proxy.plan_cache_usage().0,
            before - 1,
            "{d:?}: redeemed plan kept"
        );
        alive(&s).await;
    }
}

// ----------------------------------------------------------------- item 9

fn small_memory() -> Limits {
    Limits {
        max_statement_memory: 8 << 20,
        max_total_memory: 64 << 20,
        ..Limits::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statement_memory_limit_refuses_large_function_outputs_and_operators() {
    for d in BOTH {
        let s = start(small_memory(), d).await;
        let nobody = s.token(BOB, &[], &[]);
        for sql in [
            // Scalar functions allocate outside the pool.
            "SELECT repeat('x', 1500000000) AS a, repeat('y', 1500000000) AS b",
            "SELECT length(repeat('x', 100000000)) AS n",
            "SELECT length(lpad('x', 100000000, 'y')) AS n",
            &format!(
                "SELECT length(repeat(CAST(t0.column1 AS VARCHAR), 1000000)) AS n FROM {}",
                cross_join(2)
            ),
            "SELECT cardinality(array_repeat(1, 100000000)) AS n",
            // An operator's memory goes through the pool.
            &format!(
                "SELECT cardinality(array_agg(repeat('x', 2000))) AS n FROM {}",
                cross_join(4)
            ),
        ] {
            let started = Instant::now();
            let e = s.query(&nobody, sql).await.unwrap_err();
            assert_eq!(code_of(&e), Code::ResourceExhausted, "{d:?}: {sql}: {e:?}");
            assert!(started.elapsed() < Duration::from_secs(20), "{d:?}: {sql}");
            alive(&s).await;
        }
        // Under the limit the same shapes run.
        let b = s
            .query(&nobody, "SELECT length(repeat('x', 1000)) AS n")
            .await
            .unwrap();
        assert_eq!(b[0].num_rows(), 1);
    }
}

/// Every function whose output can be much larger than its input, and the
/// `||` operator, refuses an output over the statement's limit before it
/// allocates; chains are bounded at every step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statement_memory_limit_bounds_every_amplifying_function() {
    for d in BOTH {
        let s = start(small_memory(), d).await;
        let nobody = s.token(BOB, &[], &[]);
        let big = "repeat('x', 3000000)";
        for sql in [
            format!("SELECT length({big} || {big} || {big}) AS n"),
            format!("SELECT length(({big} || {big}) || ({big} || {big})) AS n"),
            format!("SELECT length(concat({big}, {big}, {big})) AS n"),
            format!("SELECT length(concat_ws(',', {big}, {big}, {big})) AS n"),
            format!(
                "SELECT length(CAST(t0.column1 AS VARCHAR) || {big} || {big} || {big}) AS n FROM {}",
                cross_join(1)
            ),
            format!("SELECT length(x || x || x) AS n FROM (SELECT {big} AS x) AS s"),
            "SELECT length(replace(repeat('x', 1000000), 'x', repeat('y', 16))) AS n".into(),
            "SELECT length(replace(repeat('x', 100000), '', repeat('y', 100))) AS n".into(),
            "SELECT length(regexp_replace(repeat('x', 1000000), 'x', repeat('y', 16), 'g')) AS n"
                .into(),
            "SELECT length(regexp_replace(repeat('x', 100000), '', repeat('y', 100), 'g')) AS n"
                .into(),
            "SELECT length(regexp_replace(repeat('x', 1000000), '(x)', '$1$1$1$1$1$1$1$1$1$1$1$1', 'g')) AS n"
                .into(),
            "SELECT cardinality(range(100000000)) AS n".into(),
            "SELECT cardinality(generate_series(-50000000, 50000000)) AS n".into(),
            "SELECT cardinality(range(TIMESTAMP '1970-01-01T00:00:00', TIMESTAMP '2100-01-01T00:00:00', INTERVAL '1 second')) AS n"
                .into(),
            "SELECT cardinality(range(DATE '0001-01-01', DATE '9999-01-01', INTERVAL '1 day')) AS n"
                .into(),
            "SELECT cardinality(array_resize([1], 100000000)) AS n".into(),
            "SELECT cardinality(array_concat(array_repeat(1, 600000), array_repeat(1, 600000))) AS n"
                .into(),
            "SELECT cardinality(array_repeat(1, 600000) || array_repeat(1, 600000)) AS n".into(),
            "SELECT cardinality(array_append(array_repeat(repeat('x', 100), 50000), repeat('y', 100))) AS n"
                .into(),
        ] {
            let started = Instant::now();
            let e = s.query(&nobody, &sql).await.unwrap_err();
            assert_eq!(code_of(&e), Code::ResourceExhausted, "{d:?}: {sql}: {e:?}");
            assert!(started.elapsed() < Duration::from_secs(20), "{d:?}: {sql}");
            alive(&s).await;
        }
        // Under the limit they run, and `||` keeps its meaning and its name.
        for (sql, want) in [
            (
                "SELECT length(repeat('x', 1000) || repeat('y', 1000)) AS n",
                "2000",
            ),
            ("SELECT 'a' || 'b' || 'c' AS n", "abc"),
            ("SELECT ('a' || NULL) IS NULL AS n", "true"),
            ("SELECT concat('a', NULL, 'b') AS n", "ab"),
            ("SELECT replace('banana', 'a', 'oo') AS n", "boonoonoo"),
            (
                "SELECT regexp_replace('banana', '(a)', '$1$1', 'g') AS n",
                "baanaanaa",
            ),
            ("SELECT cardinality(range(1000)) AS n", "1000"),
            (
                "SELECT cardinality(range(DATE '2026-01-01', DATE '2027-01-01', INTERVAL '1 month')) AS n",
                "12",
            ),
        ] {
            let b = s
                .query(&nobody, sql)
                .await
                .unwrap_or_else(|e| panic!("{d:?}: {sql}: {e:?}"));
            let v = arrow::util::display::array_value_to_string(b[0].column(0), 0).unwrap();
            assert_eq!(v, want, "{d:?}: {sql}");
        }
        let b = s.query(&nobody, "SELECT 'a' || 'b'").await.unwrap();
        let name = b[0].schema().field(0).name().clone();
        assert_eq!(name, "Utf8(\"a\") || Utf8(\"b\")", "{d:?}");
    }
}

// ---------------------------------------------------------------- item 10

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statement_timeout_stops_table_less_compute() {
    let limits = Limits {
        statement_timeout: Duration::from_secs(1),
        ..Limits::default()
    };
    for d in BOTH {
        let s = start(limits.clone(), d).await;
        let nobody = s.token(BOB, &[], &[]);
        for sql in [
            endless(),
            format!(
                "SELECT max(t0.column1 + t5.column1) AS m FROM {}",
                cross_join(10)
            ),
        ] {
            let started = Instant::now();
            let e = s.query(&nobody, &sql).await.unwrap_err();
            assert_eq!(code_of(&e), Code::DeadlineExceeded, "{d:?}: {sql}: {e:?}");
            assert!(e.message().contains("--statement-timeout"), "{e:?}");
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{d:?}: {sql}: took {:?}",
                started.elapsed()
            );
            alive(&s).await;
        }
    }
}

/// Name of the threads of the cancellation test's runtime, so its CPU time
/// can be told apart from other tests running in the same process.
const CANCEL_THREADS: &str = "lg-cancel";

/// CPU time (user + system) used by this process's threads named
/// [`CANCEL_THREADS`], from /proc.
fn cpu_time() -> Duration {
    let mut ticks = 0u64;
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let Ok(stat) = std::fs::read_to_string(task.unwrap().path().join("stat")) else {
            continue;
        };
        let Some((head, after)) = stat.rsplit_once(')') else {
            continue;
        };
        if !head.contains(&format!("({CANCEL_THREADS}")) {
            continue;
        }
        let fields: Vec<&str> = after.split_whitespace().collect();
        // Fields 14 and 15 of stat (1-based), i.e. 11 and 12 after the name.
        ticks += fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    }
    Duration::from_millis(ticks * 10)
}

#[test]
fn cancel_on_disconnect_before_the_first_batch_stops_the_producer() {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(CANCEL_THREADS)
        .enable_all()
        .build()
        .unwrap()
        .block_on(cancel_on_disconnect());
}

async fn cancel_on_disconnect() {
    for d in BOTH {
        // A long timeout: only the disconnect can stop the statement.
        let limits = Limits {
            statement_timeout: Duration::from_secs(600),
            ..Limits::default()
        };
        let s = start(limits, d).await;
        let nobody = s.token(BOB, &[], &[]);
        let mut c = s.client(&nobody).await;
        let t = first_ticket(&mut c, &endless()).await;
        let mut stream = c.do_get(t).await.unwrap();
        // The statement computes (it keeps the test's threads busy); no
        // batch comes.
        // On a loaded machine the statement gets less than the test's two
        // threads, so wait (up to 20 s) for it to burn 300 ms of CPU rather
        // than for a fixed wall time.
        let busy = cpu_time();
        let waited = Instant::now();
        loop {
            let first = tokio::time::timeout(Duration::from_millis(100), stream.next()).await;
            assert!(first.is_err(), "{d:?}: a batch arrived: {first:?}");
            let used = cpu_time().saturating_sub(busy);
            if used >= Duration::from_millis(300) {
                break;
            }
            assert!(
                waited.elapsed() < Duration::from_secs(20),
                "{d:?}: not computing? {used:?} CPU in 20 s"
            );
        }
        // The client goes away.
        drop(stream);
        drop(c);
        tokio::time::sleep(Duration::from_millis(700)).await;
        let before = cpu_time();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let used = cpu_time().saturating_sub(before);
        assert!(
            used < Duration::from_millis(500),
            "{d:?}: the producer kept computing after the client left ({used:?} CPU in 1.5 s)"
        );
        alive(&s).await;
    }
}
