//! DESIGN §6 budgets for the Flight SQL proxy, each measured against a
//! baseline run in the same process and the same run:
//!
//! 1. Proxy tax on a one-row query (p50/p99 of a full GetFlightInfo + DoGet
//!    round trip): the embedded default (`Backend::Embedded`) vs the plain
//!    engine Flight SQL server (`lakegate_engine::serve_engine`) reached
//!    directly; the sidecar (`--upstream` = that engine) vs a bare tonic relay
//!    that forwards GetFlightInfo/DoGet to the engine untouched.
//! 2. Streaming a large result (`SELECT *` over a few million rows): rows/s
//!    through the proxy vs direct (and sidecar vs relay), with the process's
//!    peak RSS while streaming.
//! 3. A row-filtered query: a principal whose data filter is `region = 'EU'`
//!    running `SELECT count(*), sum(amount)` vs an admin running the same
//!    query with `WHERE region = 'EU'` written by hand, through the same proxy,
//!    over a table hive-partitioned by region.
//!
//! "Direct" is `lakegate engine` (`serve_engine`, TCP_NODELAY like
//! lakegate's own port), started by the test kit.
//!
//! Run with `cargo bench -p grpc-proxy --bench proxy` (add `-- --quick` for a
//! short run). Client, proxies and engines share one process and one tokio
//! runtime; every connection is loopback TCP. Targets are sampled round-robin
//! so that noise on shared cores hits baseline and proxy alike.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs,
    reason = "bench code: a panic aborts the run, and bench items are not API"
)]

use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{ArrayRef, Float64Array, Int64Array};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use arrow_flight::flight_service_client::FlightServiceClient;
use arrow_flight::flight_service_server::{FlightService, FlightServiceServer};
use arrow_flight::sql::client::FlightSqlServiceClient;
use arrow_flight::{
    Action, ActionType, Criteria, Empty, FlightData, FlightDescriptor, FlightInfo,
    HandshakeRequest, HandshakeResponse, PollInfo, PutResult, SchemaResult, Ticket,
};
use futures::{Stream, StreamExt};
use grpc_proxy::server::bind;
use policy_engine::Governance;
use policy_engine::filters::NewDataFilter;
use policy_engine::model::{Format, LocationUri};
use policy_engine::{Caller, NewTable, Principal, ResourceSpec};
use test_kit::lake::{CHUNK, write_parquet};
use test_kit::{Builder, EngineServer, TestServer, admin, table};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::{Channel, Server};
use tonic::{Request, Response, Status, Streaming};

const ACCT: &str = "111111111111";
const ADMIN: &str = "111111111111:user/admin";
const ALICE: &str = "111111111111:user/alice";
const BOB: &str = "111111111111:user/bob";
const REGIONS: [&str; 8] = ["EU", "US", "APAC", "LATAM", "MEA", "ANZ", "NA", "IN"];

struct Sizes {
    warmup: usize,
    samples: usize,
    big_rows: usize,
    big_files: usize,
    stream_reps: usize,
    rows_per_region: usize,
    filter_samples: usize,
}

impl Sizes {
    fn new(quick: bool) -> Self {
        if quick {
            Self {
                warmup: 50,
                samples: 300,
                big_rows: 500_000,
                big_files: 2,
                stream_reps: 2,
                rows_per_region: 100_000,
                filter_samples: 30,
            }
        } else {
            Self {
                warmup: 300,
                samples: 3000,
                big_rows: 4_000_000,
                big_files: 4,
                stream_reps: 5,
                rows_per_region: 500_000,
                filter_samples: 200,
            }
        }
    }
}

// ---------------------------------------------------------------- data

/// `sales/orders/`: 1,000 rows (id, amount, email); `bench/big/`: `big_rows`
/// rows (id, amount, name) in `big_files` files; `bench/events/region=R/`:
/// `rows_per_region` rows (id, amount) for each of 8 regions.
fn write_data(root: &Path, s: &Sizes) {
    test_kit::lake::write_bench(root, s.big_rows, s.big_files);
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("amount", DataType::Float64, false),
    ]));
    for (r, region) in REGIONS.iter().enumerate() {
        let schema = schema.clone();
        let n = s.rows_per_region;
        let batches = (0..n.div_ceil(CHUNK)).map(move |c| {
            let lo = (r * n + c * CHUNK) as i64;
            let hi = (r * n + ((c + 1) * CHUNK).min(n)) as i64;
            let cols: Vec<ArrayRef> = vec![
                Arc::new(Int64Array::from_iter_values(lo..hi)),
                Arc::new(Float64Array::from_iter_values(
                    (lo..hi).map(|i| (i % 1000) as f64),
                )),
            ];
            RecordBatch::try_new(schema.clone(), cols).unwrap()
        });
        write_parquet(
            &root.join(format!("bench/events/region={region}/part-0.parquet")),
            batches,
        );
    }
}

fn grant(gov: &Governance, principal: &str, resource: ResourceSpec) {
    test_kit::grant_select(gov, principal, resource, &[]);
}

/// Registers the lake's tables, alice's grants and bob's `region = 'EU'`
/// data filter.
async fn build_catalog(gov: &Governance, lake: &Path) {
    let loc = format!("file://{}/", lake.display());
    gov.register_location(&admin(), &loc).unwrap();
    for db in ["sales", "bench"] {
        gov.create_database(&admin(), db, Some(&format!("{loc}{db}/")))
            .unwrap();
    }
    for (name, rel, keys) in [
        ("sales.orders", "sales/orders/", vec![]),
        ("bench.big", "bench/big/", vec![]),
        ("bench.events", "bench/events/", vec!["region".to_string()]),
    ] {
        let uri = LocationUri::parse(&format!("{loc}{rel}")).unwrap();
        let inf = lakegate_engine::infer::infer_table(&uri, Format::Parquet, &keys)
            .await
            .unwrap();
        gov.create_table(
            &admin(),
            &NewTable {
                name: name.into(),
                location: uri.to_string(),
                format: Format::Parquet,
                columns: inf.columns,
                partition_keys: inf.partition_keys,
            },
        )
        .unwrap();
    }
    grant(gov, ALICE, table("sales.orders", &[]));
    grant(gov, ALICE, table("bench.big", &[]));
    gov.create_data_filter(
        &admin(),
        &NewDataFilter {
            name: "bench.events.eu".into(),
            row_filter: Some("region = 'EU'".into()),
            all_rows: false,
            columns: vec![],
            exclude_columns: vec![],
        },
    )
    .unwrap();
    grant(
        gov,
        BOB,
        ResourceSpec::DataFilter {
            name: "bench.events.eu".into(),
        },
    );
}

// ---------------------------------------------------------------- servers

/// Accepted connections with TCP_NODELAY, as `serve_on` does.
fn nodelay_incoming(
    listener: tokio::net::TcpListener,
) -> impl Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    TcpListenerStream::new(listener).map(|c| {
        c.inspect(|s| {
            let _ = s.set_nodelay(true);
        })
    })
}

/// A proxy over the store in `data` (embedded, or in front of `upstream`),
/// auditing to `audit`; with `lake`, the lake's catalog is built first.
async fn start_proxy(
    data: &Path,
    upstream: Option<String>,
    audit: &Path,
    lake: Option<&Path>,
) -> TestServer {
    let mut b = Builder::new().data_dir(data).audit_log(audit);
    if let Some(u) = upstream {
        b = b.upstream(u);
    }
    let staged = b.open();
    if let Some(lake) = lake {
        build_catalog(staged.governance(), lake).await;
    }
    staged.serve().await
}

/// `lakegate engine` over the store in `data`.
async fn start_engine(data: &Path) -> EngineServer {
    let snap = Builder::new()
        .data_dir(data)
        .open()
        .governance()
        .snapshot()
        .unwrap();
    EngineServer::start(&snap.catalog, &Default::default()).await
}

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// A bare tonic relay: GetFlightInfo and DoGet forwarded to the upstream
/// untouched (no authentication, no rewrite, frames passed through).
#[derive(Clone)]
struct Relay {
    upstream: FlightServiceClient<Channel>,
}

fn unimplemented<T>() -> Result<T, Status> {
    Err(Status::unimplemented("not relayed"))
}

#[tonic::async_trait]
impl FlightService for Relay {
    type HandshakeStream = BoxStream<HandshakeResponse>;
    type ListFlightsStream = BoxStream<FlightInfo>;
    type DoGetStream = BoxStream<FlightData>;
    type DoPutStream = BoxStream<PutResult>;
    type DoExchangeStream = BoxStream<FlightData>;
    type DoActionStream = BoxStream<arrow_flight::Result>;
    type ListActionsStream = BoxStream<ActionType>;

    async fn handshake(
        &self,
        _r: Request<Streaming<HandshakeRequest>>,
    ) -> Result<Response<Self::HandshakeStream>, Status> {
        unimplemented()
    }
    async fn list_flights(
        &self,
        _r: Request<Criteria>,
    ) -> Result<Response<Self::ListFlightsStream>, Status> {
        unimplemented()
    }
    async fn get_flight_info(
        &self,
        r: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.upstream.clone().get_flight_info(r.into_inner()).await
    }
    async fn poll_flight_info(
        &self,
        _r: Request<FlightDescriptor>,
    ) -> Result<Response<PollInfo>, Status> {
        unimplemented()
    }
    async fn get_schema(
        &self,
        _r: Request<FlightDescriptor>,
    ) -> Result<Response<SchemaResult>, Status> {
        unimplemented()
    }
    async fn do_get(&self, r: Request<Ticket>) -> Result<Response<Self::DoGetStream>, Status> {
        let s = self.upstream.clone().do_get(r.into_inner()).await?;
        Ok(Response::new(Box::pin(s.into_inner())))
    }
    async fn do_put(
        &self,
        _r: Request<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoPutStream>, Status> {
        unimplemented()
    }
    async fn do_exchange(
        &self,
        _r: Request<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoExchangeStream>, Status> {
        unimplemented()
    }
    async fn do_action(
        &self,
        _r: Request<Action>,
    ) -> Result<Response<Self::DoActionStream>, Status> {
        unimplemented()
    }
    async fn list_actions(
        &self,
        _r: Request<Empty>,
    ) -> Result<Response<Self::ListActionsStream>, Status> {
        unimplemented()
    }
}

async fn start_relay(upstream: &str) -> String {
    let channel = Channel::from_shared(upstream.to_string())
        .unwrap()
        .connect_lazy();
    let relay = Relay {
        upstream: FlightServiceClient::new(channel),
    };
    let (listener, addr) = bind("127.0.0.1:0").await.unwrap();
    tokio::spawn(async move {
        Server::builder()
            .add_service(FlightServiceServer::new(relay))
            .serve_with_incoming(nodelay_incoming(listener))
            .await
            .unwrap();
    });
    format!("http://{addr}")
}

// ---------------------------------------------------------------- client

struct Target {
    name: &'static str,
    client: FlightSqlServiceClient<Channel>,
    sql: String,
}

async fn target(
    name: &'static str,
    url: &str,
    token: Option<&str>,
    sql: impl Into<String>,
) -> Target {
    let ch = Channel::from_shared(url.to_string())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = FlightSqlServiceClient::new(ch);
    if let Some(t) = token {
        client.set_header("authorization", format!("Bearer {t}"));
    }
    Target {
        name,
        client,
        sql: sql.into(),
    }
}

struct Sample {
    total: Duration,
    info: Duration,
    rows: usize,
    first_row: Option<RecordBatch>,
}

/// One full round trip: GetFlightInfo (execute) then DoGet of every endpoint,
/// draining the stream (batches are decoded, counted and dropped).
async fn run_once(t: &mut Target, keep_first: bool) -> Sample {
    let start = Instant::now();
    let info = t
        .client
        .execute(t.sql.clone(), None)
        .await
        .unwrap_or_else(|e| panic!("{}: execute failed: {e}", t.name));
    let info_done = start.elapsed();
    let mut rows = 0;
    let mut first_row = None;
    for ep in info.endpoint {
        let mut s = t
            .client
            .do_get(ep.ticket.unwrap())
            .await
            .unwrap_or_else(|e| panic!("{}: do_get failed: {e}", t.name));
        while let Some(b) = s.next().await {
            let b = b.unwrap_or_else(|e| panic!("{}: stream failed: {e}", t.name));
            rows += b.num_rows();
            if keep_first && first_row.is_none() && b.num_rows() > 0 {
                first_row = Some(b);
            }
        }
    }
    Sample {
        total: start.elapsed(),
        info: info_done,
        rows,
        first_row,
    }
}

fn pct(sorted: &[Duration], p: usize) -> Duration {
    let i = (sorted.len() * p / 100).min(sorted.len() - 1);
    sorted[i]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

struct Latency {
    p50: Duration,
    p99: Duration,
    info_p50: Duration,
}

/// Samples every target round-robin; returns per-target latencies.
async fn latencies(targets: &mut [Target], warmup: usize, n: usize, rows: usize) -> Vec<Latency> {
    for _ in 0..warmup {
        for t in targets.iter_mut() {
            let s = run_once(t, false).await;
            assert_eq!(s.rows, rows, "{}: wrong row count", t.name);
        }
    }
    let mut totals = vec![Vec::with_capacity(n); targets.len()];
    let mut infos = vec![Vec::with_capacity(n); targets.len()];
    for round in 0..n {
        // Alternate the order so no target always follows the same one.
        let k = targets.len();
        for j in 0..k {
            let i = if round % 2 == 0 { j } else { k - 1 - j };
            let s = run_once(&mut targets[i], false).await;
            totals[i].push(s.total);
            infos[i].push(s.info);
        }
    }
    totals
        .into_iter()
        .zip(infos)
        .map(|(mut t, mut i)| {
            t.sort();
            i.sort();
            Latency {
                p50: pct(&t, 50),
                p99: pct(&t, 99),
                info_p50: pct(&i, 50),
            }
        })
        .collect()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// `VmHWM` and `VmRSS` of this process, in KiB.
fn mem_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|r| r.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// Resets the peak RSS (`VmHWM`) to the current RSS (Linux ≥ 4.0).
fn reset_hwm() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn pass(ok: bool) -> &'static str {
    if ok { "PASS" } else { "FAIL" }
}

// ---------------------------------------------------------------- breakdown

struct Resolver<'a> {
    snap: &'a policy_engine::governance::Snapshot,
    caller: &'a Caller,
}

impl policy_engine::rewrite::TableResolver for Resolver<'_> {
    fn access(
        &self,
        table: &policy_engine::model::TableName,
    ) -> policy_engine::Result<policy_engine::TableAccess> {
        policy_engine::access::effective_access(
            &self.snap.catalog,
            &self.snap.compiled,
            self.caller,
            self.caller.account(),
            table,
        )
    }
}

/// The one-row query's in-process steps, without network: what the proxy's
/// GetFlightInfo does on top of the engine's (median of many runs each).
async fn breakdown(data: &Path, s: &Sizes) {
    use policy_engine::rewrite::{Placement, RewriteOptions, rewrite};
    let staged = Builder::new().data_dir(data).open();
    let gov = staged.governance();
    let snap = gov.snapshot().unwrap();
    let engine = lakegate_engine::Engine::new(&snap.catalog).unwrap();
    let caller = Caller::new(Principal::parse(ALICE).unwrap());
    let q = "SELECT id FROM sales.orders WHERE id = 1";
    let qd = format!("SELECT id FROM \"{ACCT}\".sales.orders WHERE id = 1");
    let mut opts = RewriteOptions::new(caller.account().clone());
    opts.placement = Placement::Secured;
    let resolver = Resolver {
        snap: &snap,
        caller: &caller,
    };
    let rw = rewrite(q, &opts, &resolver).unwrap();
    let secured: Vec<lakegate_engine::SecuredTable> = rw
        .tables
        .iter()
        .map(|t| lakegate_engine::SecuredTable {
            name: t.physical.clone(),
            access: t.access.clone(),
            hash_key: vec![7; 32],
        })
        .collect();
    let n = (s.samples / 4).max(100);
    let mut steps: Vec<(&str, Vec<Duration>)> = Vec::new();
    let mut v = Vec::new();
    for _ in 0..n {
        let t = Instant::now();
        std::hint::black_box(gov.snapshot().unwrap());
        v.push(t.elapsed());
    }
    steps.push(("snapshot", v));
    let mut v = Vec::new();
    for _ in 0..n {
        let t = Instant::now();
        std::hint::black_box(rewrite(q, &opts, &resolver).unwrap());
        v.push(t.elapsed());
    }
    steps.push(("authorize_and_rewrite", v));
    let mut v = Vec::new();
    for _ in 0..n {
        let t = Instant::now();
        std::hint::black_box(engine.prepare(&qd).await.unwrap());
        v.push(t.elapsed());
    }
    steps.push(("engine_prepare_plain", v));
    let mut v = Vec::new();
    for _ in 0..n {
        let t = Instant::now();
        std::hint::black_box(
            engine
                .prepare_secured(&rw.statement, &secured)
                .await
                .unwrap(),
        );
        v.push(t.elapsed());
    }
    steps.push(("engine_prepare_secured", v));
    for (plain, name) in [
        (true, "engine_execute_plain"),
        (false, "engine_execute_secured"),
    ] {
        let mut v = Vec::new();
        for _ in 0..n {
            let query = if plain {
                engine.prepare(&qd).await.unwrap()
            } else {
                engine
                    .prepare_secured(&rw.statement, &secured)
                    .await
                    .unwrap()
            };
            let t = Instant::now();
            let mut st = query.execute().await.unwrap();
            let mut rows = 0;
            while let Some(b) = st.next().await {
                rows += b.unwrap().num_rows();
            }
            assert_eq!(rows, 1);
            v.push(t.elapsed());
        }
        steps.push((name, v));
    }
    let line: Vec<String> = steps
        .into_iter()
        .map(|(k, v)| format!("{k}_us={:.0}", us(median(v))))
        .collect();
    println!("breakdown/one_row_in_process: {}", line.join(" "));
}

// ---------------------------------------------------------------- main

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run(quick));
}

async fn run(quick: bool) {
    let s = Sizes::new(quick);
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let data = dir.path().join("data");
    let t0 = Instant::now();
    {
        let lake = lake.clone();
        let s2 = Sizes::new(quick);
        tokio::task::spawn_blocking(move || write_data(&lake, &s2))
            .await
            .unwrap();
    }
    println!(
        "# setup: wrote {} + {} rows of Parquet in {:.1}s ({})",
        s.big_rows,
        s.rows_per_region * REGIONS.len(),
        t0.elapsed().as_secs_f64(),
        if quick { "quick" } else { "full" }
    );

    let embedded_server = start_proxy(
        &data,
        None,
        &dir.path().join("audit-embedded.jsonl"),
        Some(&lake),
    )
    .await;
    // `direct` is `lakegate engine` (the baseline, and the upstream of relay
    // and sidecar).
    let direct = start_engine(&data).await;
    let relay = start_relay(&direct.addr).await;
    let sidecar_server = start_proxy(
        &data,
        Some(direct.grpc_url()),
        &dir.path().join("audit-sidecar.jsonl"),
        None,
    )
    .await;
    // The same embedded proxy on a PostgreSQL store (a real server on
    // loopback): every statement reads the version over the network.
    let pg = test_kit::PgServer::start();
    pg.create_user_db("bench", "pw", "bench");
    let pg_url = format!(
        "postgres://bench:pw@127.0.0.1:{}/bench?sslmode=disable",
        pg.port
    );
    let pg_server = {
        let staged = Builder::new()
            .data_dir(&dir.path().join("data-pg"))
            .audit_log(&dir.path().join("audit-pg.jsonl"))
            .store(&pg_url)
            .open();
        build_catalog(staged.governance(), &lake).await;
        staged.serve().await
    };
    let pg_alice = grpc_proxy::auth::mint_token(
        &pg_server.key,
        &Principal::parse(ALICE).unwrap(),
        &[],
        &Default::default(),
        Duration::from_secs(24 * 3600),
    )
    .unwrap();
    let key = embedded_server.key.clone();
    let (embedded, sidecar) = (embedded_server.addr.clone(), sidecar_server.addr.clone());
    let direct_addr = direct.addr.clone();
    let token = |p: &str| {
        grpc_proxy::auth::mint_token(
            &key,
            &Principal::parse(p).unwrap(),
            &[],
            &Default::default(),
            Duration::from_secs(24 * 3600),
        )
        .unwrap()
    };
    let (alice, bob, adm) = (token(ALICE), token(BOB), token(ADMIN));

    // ------------------------------------------------ 1. proxy tax
    println!(
        "# 1. proxy tax on a one-row query: {} samples per target after {} warm-up rounds, round-robin",
        s.samples, s.warmup
    );
    let q = "SELECT id FROM sales.orders WHERE id = 1";
    let qd = format!("SELECT id FROM \"{ACCT}\".sales.orders WHERE id = 1");
    let mut targets = vec![
        target("direct", &direct_addr, None, qd.clone()).await,
        target("embedded", &embedded, Some(&alice), q).await,
        target("relay", &relay, None, qd.clone()).await,
        target("sidecar", &sidecar, Some(&alice), q).await,
        target("embedded_pg", &pg_server.addr, Some(&pg_alice), q).await,
    ];
    let lat = latencies(&mut targets, s.warmup, s.samples, 1).await;
    for (t, l) in targets.iter().zip(&lat) {
        println!(
            "latency/{}: p50_us={:.0} p99_us={:.0} get_flight_info_p50_us={:.0}",
            t.name,
            us(l.p50),
            us(l.p99),
            us(l.info_p50)
        );
    }
    let [direct_l, emb_l, relay_l, side_l, pg_l] = &lat[..] else {
        unreachable!()
    };
    let added_p50 = us(emb_l.p50) - us(direct_l.p50);
    let added_p99 = us(emb_l.p99) - us(direct_l.p99);
    println!(
        "proxy_tax/embedded: p50_us={:.0} p99_us={:.0} direct_p50_us={:.0} direct_p99_us={:.0} added_p50_us={:.0} added_p99_us={:.0} budget_added_p50_us=250 budget_added_p99_us=1000 {}",
        us(emb_l.p50),
        us(emb_l.p99),
        us(direct_l.p50),
        us(direct_l.p99),
        added_p50,
        added_p99,
        pass(added_p50 <= 250.0 && added_p99 <= 1000.0)
    );
    let over_relay = us(side_l.p50) - us(relay_l.p50);
    println!(
        "proxy_tax/sidecar: p50_us={:.0} p99_us={:.0} relay_p50_us={:.0} relay_p99_us={:.0} relay_hop_p50_us={:.0} added_over_relay_p50_us={:.0} added_over_relay_p99_us={:.0} added_over_direct_p50_us={:.0} budget_over_relay_p50_us=100 {}",
        us(side_l.p50),
        us(side_l.p99),
        us(relay_l.p50),
        us(relay_l.p99),
        us(relay_l.p50) - us(direct_l.p50),
        over_relay,
        us(side_l.p99) - us(relay_l.p99),
        us(side_l.p50) - us(direct_l.p50),
        pass(over_relay <= 100.0)
    );
    println!(
        "store_tax/postgres: p50_us={:.0} p99_us={:.0} sqlite_p50_us={:.0} sqlite_p99_us={:.0} added_p50_us={:.0} added_p99_us={:.0} ratio_p50={:.2} (embedded engine; the store's version is read once per statement over loopback)",
        us(pg_l.p50),
        us(pg_l.p99),
        us(emb_l.p50),
        us(emb_l.p99),
        us(pg_l.p50) - us(emb_l.p50),
        us(pg_l.p99) - us(emb_l.p99),
        us(pg_l.p50) / us(emb_l.p50)
    );
    drop(targets);
    drop(pg_server);
    breakdown(&data, &s).await;

    // ------------------------------------------------ 2. streaming
    println!(
        "# 2. streaming SELECT * over {} rows (id Int64, amount Float64, name Utf8): median of {} runs per target, round-robin",
        s.big_rows, s.stream_reps
    );
    let q = "SELECT * FROM bench.big";
    let qd = format!("SELECT * FROM \"{ACCT}\".bench.big");
    let mut targets = vec![
        target("direct", &direct_addr, None, qd.clone()).await,
        target("embedded", &embedded, Some(&alice), q).await,
        target("relay", &relay, None, qd.clone()).await,
        target("sidecar", &sidecar, Some(&alice), q).await,
    ];
    // One warm-up pass (page cache, connections).
    for t in targets.iter_mut() {
        assert_eq!(run_once(t, false).await.rows, s.big_rows, "{}", t.name);
    }
    let hwm_ok = reset_hwm();
    let (_, rss_start) = mem_kib();
    let mut times = vec![Vec::new(); targets.len()];
    let mut peaks = vec![0u64; targets.len()];
    for _ in 0..s.stream_reps {
        for (i, t) in targets.iter_mut().enumerate() {
            let (_, rss_before) = mem_kib();
            reset_hwm();
            let sm = run_once(t, false).await;
            let (hwm, _) = mem_kib();
            assert_eq!(sm.rows, s.big_rows, "{}", t.name);
            times[i].push(sm.total);
            peaks[i] = peaks[i].max(hwm.saturating_sub(rss_before));
        }
    }
    let rate: Vec<f64> = times
        .into_iter()
        .map(|v| s.big_rows as f64 / median(v).as_secs_f64())
        .collect();
    for (i, t) in targets.iter().enumerate() {
        println!(
            "stream/{}: rows={} rows_per_s={:.0} peak_rss_growth_kib={}",
            t.name, s.big_rows, rate[i], peaks[i]
        );
    }
    let emb_ratio = rate[1] / rate[0];
    println!(
        "stream/embedded_vs_direct: rows_per_s={:.0} direct_rows_per_s={:.0} ratio={:.3} budget_ratio=0.95 {}",
        rate[1],
        rate[0],
        emb_ratio,
        pass(emb_ratio >= 0.95)
    );
    let side_ratio = rate[3] / rate[2];
    println!(
        "stream/sidecar_vs_relay: rows_per_s={:.0} relay_rows_per_s={:.0} ratio={:.3} relay_vs_direct={:.3} sidecar_vs_direct={:.3} budget_ratio=0.9 {}",
        rate[3],
        rate[2],
        side_ratio,
        rate[2] / rate[0],
        rate[3] / rate[0],
        pass(side_ratio >= 0.9)
    );
    let (hwm_end, rss_end) = mem_kib();
    println!(
        "stream/memory: rss_start_kib={rss_start} rss_end_kib={rss_end} vmhwm_end_kib={hwm_end} hwm_reset={} (peak growth per run is VmHWM after the run minus VmRSS before it; client, proxies and engines share this process)",
        if hwm_ok { "yes" } else { "unavailable" }
    );
    drop(targets);

    // ------------------------------------------------ 3. row filter
    println!(
        "# 3. row-filtered aggregate over bench.events ({} regions x {} rows, hive-partitioned by region): median of {} samples, round-robin",
        REGIONS.len(),
        s.rows_per_region,
        s.filter_samples
    );
    let agg = "SELECT count(*), sum(amount) FROM bench.events";
    let by_hand = format!("{agg} WHERE region = 'EU'");
    let agg_d = format!("SELECT count(*), sum(amount) FROM \"{ACCT}\".bench.events");
    let mut targets = [
        target("embedded_filtered", &embedded, Some(&bob), agg).await,
        target("embedded_by_hand", &embedded, Some(&adm), by_hand.clone()).await,
        target("embedded_unfiltered", &embedded, Some(&adm), agg).await,
        target("sidecar_filtered", &sidecar, Some(&bob), agg).await,
        target("sidecar_by_hand", &sidecar, Some(&adm), by_hand.clone()).await,
        target(
            "direct_by_hand",
            &direct_addr,
            None,
            format!("{agg_d} WHERE region = 'EU'"),
        )
        .await,
    ];
    // Same answer for the filtered principal and the hand-written predicate.
    let mut answers = Vec::new();
    for t in targets.iter_mut() {
        let sm = run_once(t, true).await;
        let b = sm.first_row.unwrap();
        let show = |c: usize| arrow::util::display::array_value_to_string(b.column(c), 0).unwrap();
        answers.push((t.name, show(0), show(1)));
    }
    let eu = (s.rows_per_region.to_string(), answers[1].2.clone());
    for (name, count, sum) in &answers {
        if *name != "embedded_unfiltered" {
            assert_eq!((count, sum), (&eu.0, &eu.1), "{name} disagrees");
        }
    }
    let mut times = vec![Vec::new(); targets.len()];
    for round in 0..s.filter_samples {
        let k = targets.len();
        for j in 0..k {
            let i = if round % 2 == 0 { j } else { k - 1 - j };
            let sm = run_once(&mut targets[i], false).await;
            times[i].push(sm.total);
        }
    }
    let med: Vec<Duration> = times.into_iter().map(median).collect();
    for (t, m) in targets.iter().zip(&med) {
        println!("row_filter/{}: median_us={:.0}", t.name, us(*m));
    }
    let ratio = med[0].as_secs_f64() / med[1].as_secs_f64();
    println!(
        "row_filter/embedded: filtered_median_us={:.0} by_hand_median_us={:.0} ratio={:.3} unfiltered_all_regions_median_us={:.0} budget_ratio=1.05 {}",
        us(med[0]),
        us(med[1]),
        ratio,
        us(med[2]),
        pass(ratio <= 1.05)
    );
    let sratio = med[3].as_secs_f64() / med[4].as_secs_f64();
    println!(
        "row_filter/sidecar: filtered_median_us={:.0} by_hand_median_us={:.0} ratio={:.3} budget_ratio=1.05 {}",
        us(med[3]),
        us(med[4]),
        sratio,
        pass(sratio <= 1.05)
    );
}
