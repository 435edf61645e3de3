//! DESIGN §6 proxy budgets measured with **separate processes**, as users run
//! them: the figures that count (the in-process `grpc-proxy` bench is the
//! tool for finding where time goes).
//!
//! This process is only the client: arrow-flight's `FlightSqlServiceClient`
//! on a reused loopback connection with TCP_NODELAY, a full `execute` +
//! `do_get` per sample, every batch decoded and counted. It spawns, as child
//! processes (all killed on exit, also on panic):
//!
//! ```text
//!   client ──► lakegate engine                        direct  (baseline)
//!   client ──► lakegate serve                         embedded
//!   client ──► relay ─────────► lakegate engine       relay   (baseline)
//!   client ──► lakegate serve --upstream ──► engine   sidecar
//! ```
//!
//! The relay is this bench executable re-executed with `LAKEGATE_BENCH_RELAY`
//! set: a tonic `FlightService` that forwards every call to the engine
//! untouched (request metadata and response frames passed through).
//!
//! The lake is written with arrow-rs, then registered as a user would, with
//! the `lakegate` binary (`location register`, `database create`, `table
//! create`, `grant`, `token`). The proxied arms run as a principal with a
//! named SELECT grant on each table, not as an admin.
//!
//! Arms are sampled round-robin in alternating order, so noise on shared
//! cores hits baselines and candidates alike. Budgets are printed as one
//! machine-readable line each, ending in PASS or FAIL.
//!
//! Run with `cargo bench -p lakegate --bench processes` (add `-- --quick`
//! for a short run).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs,
    reason = "a benchmark: any failure should stop it loudly"
)]

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use arrow_flight::flight_service_client::FlightServiceClient;
use arrow_flight::sql::client::FlightSqlServiceClient;
use futures::StreamExt;
use tonic::transport::{Channel, Endpoint};

mod support;
use support::{BIN, lakegate, mem_kib};

/// Set (to the upstream URL) when this executable runs as the bare relay.
const RELAY_ENV: &str = "LAKEGATE_BENCH_RELAY";
const ACCT: &str = "111111111111";
const ADMIN: &str = "111111111111:user/admin";
const ALICE: &str = "111111111111:user/alice";
/// Large enough for any batch; the same for every arm.
const MAX_MESSAGE: usize = 256 << 20;

struct Sizes {
    warmup: usize,
    samples: usize,
    cpu_queries: usize,
    big_rows: usize,
    big_files: usize,
    stream_reps: usize,
}

impl Sizes {
    fn new(quick: bool) -> Self {
        if quick {
            Self {
                warmup: 50,
                samples: 300,
                cpu_queries: 200,
                big_rows: 500_000,
                big_files: 2,
                stream_reps: 3,
            }
        } else {
            Self {
                warmup: 300,
                samples: 3000,
                cpu_queries: 1000,
                big_rows: 4_000_000,
                big_files: 4,
                stream_reps: 7,
            }
        }
    }
}

fn main() {
    if let Ok(upstream) = std::env::var(RELAY_ENV) {
        relay::main(&upstream);
        return;
    }
    let quick = std::env::args().any(|a| a == "--quick");
    // The client alone: one thread, so it never competes with itself.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run(quick));
}

// ---------------------------------------------------------------- data

/// `sales/orders/` and `bench/big/` ([`test_kit::lake::write_bench`]).
fn write_lake(root: &Path, s: &Sizes) {
    test_kit::lake::write_bench(root, s.big_rows, s.big_files);
}

// ---------------------------------------------------------------- processes

/// A child process, killed (and reaped) on drop, also when the bench panics.
struct Proc {
    name: &'static str,
    child: Child,
    /// `host:port` from the ready line.
    addr: String,
    log: PathBuf,
    // Held so the child never writes to, or reads from, a closed pipe; the
    // relay exits when its stdin closes (if this process dies unannounced).
    _stdout: BufReader<ChildStdout>,
    _stdin: Option<ChildStdin>,
}

impl Proc {
    /// Spawns `cmd` with stdout piped and stderr to `log`, and waits for its
    /// first stdout line, `<ready>ADDR`.
    fn spawn(name: &'static str, mut cmd: Command, ready: &str, log: PathBuf) -> Proc {
        let mut child = cmd
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(File::create(&log).unwrap()))
            .spawn()
            .unwrap_or_else(|e| panic!("{name}: cannot spawn: {e}"));
        let stdout = child.stdout.take().unwrap();
        let stdin = child.stdin.take();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            let mut line = String::new();
            let _ = r.read_line(&mut line);
            let _ = tx.send((line, r));
        });
        let got = rx.recv_timeout(Duration::from_secs(120));
        let (line, stdout) = match got {
            Ok(v) => v,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{name}: not ready in 120 s; log:\n{}", tail(&log));
            }
        };
        let Some(addr) = line.trim_end().strip_prefix(ready) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{name}: first line {line:?}; log:\n{}", tail(&log));
        };
        Proc {
            name,
            addr: addr.to_string(),
            log,
            _stdout: stdout,
            _stdin: stdin,
            child,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- {} log:\n{}", self.name, tail(&self.log));
        }
    }
}

fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// A token for `principal`, signed with the key `key` names: `--data-dir
/// DIR` or `--store URL`.
fn token(key: &[&str], principal: &str) -> String {
    // Well inside `serve`'s default --max-token-lifetime (24h).
    let mut args = vec!["token"];
    args.extend_from_slice(key);
    args.extend(["--principal", principal, "--ttl", "14400"]);
    lakegate(None, None, &args).trim().to_string()
}

/// Registers the lake and its tables through `serve`, as an admin would,
/// and grants alice SELECT on both tables. Returns alice's token.
fn build_catalog(endpoint: &str, key: &[&str], lake: &Path) -> String {
    let admin = token(key, ADMIN);
    let loc = format!("file://{}/", lake.display());
    let run = |args: &[&str]| lakegate(Some(endpoint), Some(&admin), args);
    run(&["location", "register", &loc]);
    for db in ["sales", "bench"] {
        run(&[
            "database",
            "create",
            db,
            "--location",
            &format!("{loc}{db}/"),
        ]);
    }
    for (table, rel) in [
        ("sales.orders", "sales/orders/"),
        ("bench.big", "bench/big/"),
    ] {
        run(&[
            "table",
            "create",
            table,
            "--location",
            &format!("{loc}{rel}"),
            "--format",
            "parquet",
        ]);
        run(&[
            "grant",
            "--principal",
            ALICE,
            "--permissions",
            "SELECT",
            "--table",
            table,
        ]);
    }
    token(key, ALICE)
}

/// CPU time (user + system, all threads, living and exited) of a process, in
/// µs. `/proc/PID/stat` counts in clock ticks of 1/100 s (`USER_HZ`).
fn cpu_us(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<u64> = after
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // Fields 14 (utime) and 15 (stime); `after` starts at field 3.
    (f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0)) * 10_000
}

/// Resets a process's peak RSS (`VmHWM`) to its current RSS (Linux ≥ 4.0).
fn reset_hwm(pid: &str) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

/// The processes whose CPU and memory are reported, by name.
struct Watched(Vec<(&'static str, String)>);

impl Watched {
    fn cpu(&self) -> Vec<u64> {
        self.0
            .iter()
            .map(|(_, pid)| {
                if pid == "self" {
                    cpu_us(std::process::id())
                } else {
                    cpu_us(pid.parse().unwrap())
                }
            })
            .collect()
    }
}

// ---------------------------------------------------------------- client

struct Target {
    name: &'static str,
    client: FlightSqlServiceClient<Channel>,
    sql: String,
}

async fn target(name: &'static str, url: &str, token: Option<&str>, sql: &str) -> Target {
    let ch = Endpoint::from_shared(url.to_string())
        .unwrap()
        .tcp_nodelay(true)
        .connect()
        .await
        .unwrap_or_else(|e| panic!("{name}: cannot connect to {url}: {e}"));
    let inner = FlightServiceClient::new(ch)
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE);
    let mut client = FlightSqlServiceClient::new_from_inner(inner);
    if let Some(t) = token {
        client.set_header("authorization", format!("Bearer {t}"));
    }
    Target {
        name,
        client,
        sql: sql.to_string(),
    }
}

struct Sample {
    total: Duration,
    info: Duration,
    rows: usize,
}

/// One full round trip: GetFlightInfo (`execute`), then DoGet of every
/// endpoint, draining the stream (batches decoded, counted and dropped).
async fn run_once(t: &mut Target) -> Sample {
    let start = Instant::now();
    let info = t
        .client
        .execute(t.sql.clone(), None)
        .await
        .unwrap_or_else(|e| panic!("{}: execute failed: {e}", t.name));
    let info_done = start.elapsed();
    let mut rows = 0;
    for ep in info.endpoint {
        let mut s = t
            .client
            .do_get(ep.ticket.unwrap())
            .await
            .unwrap_or_else(|e| panic!("{}: do_get failed: {e}", t.name));
        while let Some(b) = s.next().await {
            rows += b
                .unwrap_or_else(|e| panic!("{}: stream failed: {e}", t.name))
                .num_rows();
        }
    }
    Sample {
        total: start.elapsed(),
        info: info_done,
        rows,
    }
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn pct(mut v: Vec<Duration>, p: usize) -> Duration {
    v.sort();
    v[(v.len() * p / 100).min(v.len() - 1)]
}

fn pass(ok: bool) -> &'static str {
    if ok { "PASS" } else { "FAIL" }
}

struct Latency {
    p50: Duration,
    p99: Duration,
    info_p50: Duration,
    /// p50 of the time after GetFlightInfo returned (DoGet and draining).
    get_p50: Duration,
    /// p50 of the first and of the last third of the samples (drift).
    first_third_p50: Duration,
    last_third_p50: Duration,
}

/// Samples every target round-robin, alternating the order each round.
async fn latencies(targets: &mut [Target], warmup: usize, n: usize) -> Vec<Latency> {
    for _ in 0..warmup {
        for t in targets.iter_mut() {
            let s = run_once(t).await;
            assert_eq!(s.rows, 1, "{}: wrong row count", t.name);
        }
    }
    let k = targets.len();
    let mut totals = vec![Vec::with_capacity(n); k];
    let mut infos = vec![Vec::with_capacity(n); k];
    for round in 0..n {
        for j in 0..k {
            let i = if round % 2 == 0 { j } else { k - 1 - j };
            let s = run_once(&mut targets[i]).await;
            totals[i].push(s.total);
            infos[i].push(s.info);
        }
    }
    totals
        .into_iter()
        .zip(infos)
        .map(|(t, i)| Latency {
            get_p50: pct(t.iter().zip(&i).map(|(t, i)| *t - *i).collect(), 50),
            first_third_p50: pct(t[..n / 3].to_vec(), 50),
            last_third_p50: pct(t[n - n / 3..].to_vec(), 50),
            p50: pct(t.clone(), 50),
            p99: pct(t, 99),
            info_p50: pct(i, 50),
        })
        .collect()
}

// ---------------------------------------------------------------- main

async fn run(quick: bool) {
    let s = Sizes::new(quick);
    // Declared first, so it is removed after every child has been killed.
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let data = dir.path().join("data");
    let data_s = data.to_str().unwrap().to_string();
    let t0 = Instant::now();
    write_lake(&lake, &s);
    println!(
        "# setup: wrote {} rows of Parquet in {:.1}s ({}); binary {BIN}",
        s.big_rows + 1000,
        t0.elapsed().as_secs_f64(),
        if quick { "quick" } else { "full" }
    );

    // ------------------------------------------------ processes
    let log = |n: &str| dir.path().join(format!("{n}.log"));
    let audit = |n: &str| dir.path().join(format!("audit-{n}.jsonl"));
    let serve = |extra: &[&str], name: &str| {
        let mut c = Command::new(BIN);
        c.args(["serve", "--data-dir", &data_s, "--listen", "127.0.0.1:0"])
            .args(["--admin", ADMIN, "--audit-log"])
            .arg(audit(name))
            .args(extra)
            .stdin(Stdio::null());
        c
    };
    let embedded = Proc::spawn(
        "embedded",
        serve(&[], "embedded"),
        "lakegate listening on ",
        log("embedded"),
    );
    let alice = build_catalog(&embedded.url(), &["--data-dir", &data_s], &lake);

    // The same embedded server on a PostgreSQL store (a real server on
    // loopback, its own catalog built the same way): the store's tax.
    let pg = test_kit::PgServer::start();
    pg.create_user_db("bench", "pw", "bench");
    let pg_url = format!(
        "postgres://bench:pw@127.0.0.1:{}/bench?sslmode=disable",
        pg.port
    );
    let pg_data = dir.path().join("data-pg");
    let mut c = Command::new(BIN);
    c.args(["serve", "--data-dir"])
        .arg(&pg_data)
        .args(["--listen", "127.0.0.1:0", "--store", &pg_url])
        .args(["--admin", ADMIN, "--audit-log"])
        .arg(audit("embedded_pg"))
        .stdin(Stdio::null());
    let embedded_pg = Proc::spawn(
        "embedded_pg",
        c,
        "lakegate listening on ",
        log("embedded_pg"),
    );
    let pg_alice = build_catalog(&embedded_pg.url(), &["--store", &pg_url], &lake);

    let mut c = Command::new(BIN);
    c.args(["engine", "--data-dir", &data_s, "--listen", "127.0.0.1:0"])
        .stdin(Stdio::null());
    let engine = Proc::spawn("engine", c, "lakegate engine listening on ", log("engine"));

    let mut c = Command::new(std::env::current_exe().unwrap());
    c.env(RELAY_ENV, engine.url()).stdin(Stdio::piped());
    let relay = Proc::spawn("relay", c, "relay listening on ", log("relay"));

    let upstream = format!("grpc://{}", engine.addr);
    let sidecar = Proc::spawn(
        "sidecar",
        serve(&["--upstream", &upstream], "sidecar"),
        "lakegate listening on ",
        log("sidecar"),
    );
    println!(
        "# processes: engine pid {} on {}, embedded pid {} on {}, relay pid {} on {}, sidecar pid {} on {}",
        engine.pid(),
        engine.addr,
        embedded.pid(),
        embedded.addr,
        relay.pid(),
        relay.addr,
        sidecar.pid(),
        sidecar.addr
    );
    let watched = Watched(vec![
        ("client", "self".to_string()),
        ("engine", engine.pid().to_string()),
        ("embedded", embedded.pid().to_string()),
        ("relay", relay.pid().to_string()),
        ("sidecar", sidecar.pid().to_string()),
        ("embedded_pg", embedded_pg.pid().to_string()),
    ]);

    // ------------------------------------------------ 1. one-row latency
    println!(
        "# 1. one-row statement: {} samples per arm after {} warm-up rounds, round-robin",
        s.samples, s.warmup
    );
    let q = "SELECT id FROM sales.orders WHERE id = 1";
    let qd = format!("SELECT id FROM \"{ACCT}\".sales.orders WHERE id = 1");
    let mut targets = vec![
        target("direct", &engine.url(), None, &qd).await,
        target("embedded", &embedded.url(), Some(&alice), q).await,
        target("relay", &relay.url(), None, &qd).await,
        target("sidecar", &sidecar.url(), Some(&alice), q).await,
        target("embedded_pg", &embedded_pg.url(), Some(&pg_alice), q).await,
    ];
    let lat = latencies(&mut targets, s.warmup, s.samples).await;
    for (t, l) in targets.iter().zip(&lat) {
        println!(
            "latency/{}: p50_us={:.0} p99_us={:.0} get_flight_info_p50_us={:.0} do_get_p50_us={:.0} first_third_p50_us={:.0} last_third_p50_us={:.0}",
            t.name,
            us(l.p50),
            us(l.p99),
            us(l.info_p50),
            us(l.get_p50),
            us(l.first_third_p50),
            us(l.last_third_p50)
        );
    }
    let [direct_l, emb_l, relay_l, side_l, pg_l] = &lat[..] else {
        unreachable!()
    };
    let added_p50 = us(emb_l.p50) - us(direct_l.p50);
    let added_p99 = us(emb_l.p99) - us(direct_l.p99);
    println!(
        "proxy_tax/embedded_vs_direct: p50_us={:.0} p99_us={:.0} direct_p50_us={:.0} direct_p99_us={:.0} added_p50_us={:.0} added_p99_us={:.0} budget_added_p50_us=250 budget_added_p99_us=1000 {}",
        us(emb_l.p50),
        us(emb_l.p99),
        us(direct_l.p50),
        us(direct_l.p99),
        added_p50,
        added_p99,
        pass(added_p50 <= 250.0 && added_p99 <= 1000.0)
    );
    let over_direct = us(side_l.p50) - us(direct_l.p50);
    println!(
        "proxy_tax/sidecar_vs_direct: p50_us={:.0} direct_p50_us={:.0} added_p50_us={:.0} added_p99_us={:.0} budget_added_p50_us=450 {}",
        us(side_l.p50),
        us(direct_l.p50),
        over_direct,
        us(side_l.p99) - us(direct_l.p99),
        pass(over_direct <= 450.0)
    );
    let over_relay = us(side_l.p50) - us(relay_l.p50);
    println!(
        "proxy_tax/sidecar_vs_relay: p50_us={:.0} relay_p50_us={:.0} relay_hop_p50_us={:.0} added_p50_us={:.0} added_p99_us={:.0} budget_added_p50_us=100 {}",
        us(side_l.p50),
        us(relay_l.p50),
        us(relay_l.p50) - us(direct_l.p50),
        over_relay,
        us(side_l.p99) - us(relay_l.p99),
        pass(over_relay <= 100.0)
    );

    println!(
        "store_tax/postgres_vs_sqlite: p50_us={:.0} p99_us={:.0} sqlite_p50_us={:.0} sqlite_p99_us={:.0} added_p50_us={:.0} added_p99_us={:.0} ratio_p50={:.3} (embedded serve; one version read per statement over loopback)",
        us(pg_l.p50),
        us(pg_l.p99),
        us(emb_l.p50),
        us(emb_l.p99),
        us(pg_l.p50) - us(emb_l.p50),
        us(pg_l.p99) - us(emb_l.p99),
        us(pg_l.p50) / us(emb_l.p50)
    );

    // Where the time goes: CPU per statement of every process, one arm at
    // a time (not round-robin, so each process's CPU belongs to one arm).
    println!(
        "# 1b. CPU per one-row statement, {} statements per arm, one arm at a time (µs; /proc/PID/stat, 10 ms ticks)",
        s.cpu_queries
    );
    for t in targets.iter_mut() {
        let before = watched.cpu();
        let start = Instant::now();
        for _ in 0..s.cpu_queries {
            run_once(t).await;
        }
        let wall = start.elapsed();
        let after = watched.cpu();
        let per: Vec<String> = watched
            .0
            .iter()
            .zip(before.iter().zip(&after))
            .map(|((name, _), (b, a))| {
                format!(
                    "{name}_cpu_us={:.0}",
                    a.saturating_sub(*b) as f64 / s.cpu_queries as f64
                )
            })
            .collect();
        println!(
            "cpu/one_row/{}: wall_us={:.0} {}",
            t.name,
            us(wall) / s.cpu_queries as f64,
            per.join(" ")
        );
    }
    drop(targets);

    // ------------------------------------------------ 2. streaming
    println!(
        "# 2. streaming SELECT * over {} rows (id Int64, amount Float64, name Utf8): median of {} runs per arm after one warm-up run, round-robin",
        s.big_rows, s.stream_reps
    );
    let q = "SELECT * FROM bench.big";
    let qd = format!("SELECT * FROM \"{ACCT}\".bench.big");
    let mut targets = vec![
        target("direct", &engine.url(), None, &qd).await,
        target("embedded", &embedded.url(), Some(&alice), q).await,
        target("relay", &relay.url(), None, &qd).await,
        target("sidecar", &sidecar.url(), Some(&alice), q).await,
    ];
    for t in targets.iter_mut() {
        assert_eq!(run_once(t).await.rows, s.big_rows, "{}", t.name);
    }
    let k = targets.len();
    let servers: Vec<&(&str, String)> = watched.0.iter().filter(|(_, p)| p != "self").collect();
    let hwm_ok = servers.iter().all(|(_, pid)| reset_hwm(pid));
    let mut times = vec![Vec::new(); k];
    let mut cpu = vec![vec![0u64; watched.0.len()]; k];
    let mut peaks = vec![vec![0u64; servers.len()]; k];
    for round in 0..s.stream_reps {
        for j in 0..k {
            let i = if round % 2 == 0 { j } else { k - 1 - j };
            let rss: Vec<u64> = servers
                .iter()
                .map(|(_, pid)| {
                    reset_hwm(pid);
                    mem_kib(pid).1
                })
                .collect();
            let before = watched.cpu();
            let sm = run_once(&mut targets[i]).await;
            let after = watched.cpu();
            assert_eq!(sm.rows, s.big_rows, "{}", targets[i].name);
            times[i].push(sm.total);
            for (c, (b, a)) in cpu[i].iter_mut().zip(before.iter().zip(&after)) {
                *c += a.saturating_sub(*b);
            }
            for ((p, (_, pid)), r) in peaks[i].iter_mut().zip(&servers).zip(&rss) {
                *p = (*p).max(mem_kib(pid).0.saturating_sub(*r));
            }
        }
    }
    let rate: Vec<f64> = times
        .iter()
        .map(|v| s.big_rows as f64 / pct(v.clone(), 50).as_secs_f64())
        .collect();
    for (i, t) in targets.iter().enumerate() {
        let cpu_ms: Vec<String> = watched
            .0
            .iter()
            .zip(&cpu[i])
            .map(|((name, _), c)| {
                format!(
                    "{name}_cpu_ms={:.0}",
                    *c as f64 / 1000.0 / s.stream_reps as f64
                )
            })
            .collect();
        let mem: Vec<String> = servers
            .iter()
            .zip(&peaks[i])
            .map(|((name, _), p)| format!("{name}_peak_rss_growth_kib={p}"))
            .collect();
        println!(
            "stream/{}: rows={} rows_per_s={:.0} median_ms={:.1} {} {}",
            t.name,
            s.big_rows,
            rate[i],
            us(pct(times[i].clone(), 50)) / 1000.0,
            cpu_ms.join(" "),
            mem.join(" ")
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
    let rss: Vec<String> = servers
        .iter()
        .map(|(name, pid)| format!("{name}_rss_kib={}", mem_kib(pid).1))
        .collect();
    println!(
        "stream/memory: {} hwm_reset={} (peak growth is a server's VmHWM after a run minus its VmRSS before it; cpu is per run)",
        rss.join(" "),
        if hwm_ok { "yes" } else { "unavailable" }
    );
    drop(targets);
    let _ = std::io::stdout().flush();
    drop((sidecar, relay, engine, embedded));
}

// ---------------------------------------------------------------- relay

/// The bare relay: every Flight call forwarded to the upstream untouched.
mod relay {
    use std::future::ready;
    use std::io::Write;
    use std::pin::Pin;

    use arrow_flight::flight_service_client::FlightServiceClient;
    use arrow_flight::flight_service_server::{FlightService, FlightServiceServer};
    use arrow_flight::{
        Action, ActionType, Criteria, Empty, FlightData, FlightDescriptor, FlightInfo,
        HandshakeRequest, HandshakeResponse, PollInfo, PutResult, SchemaResult, Ticket,
    };
    use futures::{Stream, StreamExt};
    use tonic::transport::{Channel, Endpoint, Server};
    use tonic::{Request, Response, Status, Streaming};

    use super::MAX_MESSAGE;

    type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

    #[derive(Clone)]
    struct Relay {
        upstream: FlightServiceClient<Channel>,
    }

    /// The incoming request's message with its metadata (headers).
    fn forward<T>(r: Request<T>) -> Request<T> {
        let (md, _, msg) = r.into_parts();
        let mut out = Request::new(msg);
        *out.metadata_mut() = md;
        out
    }

    /// A client-streaming request, forwarded until the client's stream ends
    /// or fails.
    fn forward_stream<T: Send + 'static>(
        r: Request<Streaming<T>>,
    ) -> Request<impl Stream<Item = T> + Send + 'static> {
        let (md, _, s) = r.into_parts();
        let s = s
            .take_while(|m| ready(m.is_ok()))
            .filter_map(|m| ready(m.ok()));
        let mut out = Request::new(s);
        *out.metadata_mut() = md;
        out
    }

    /// The upstream's response stream, frames and metadata passed through.
    fn back<T: Send + 'static>(r: Response<Streaming<T>>) -> Response<BoxStream<T>> {
        let (md, s, ext) = r.into_parts();
        Response::from_parts(md, Box::pin(s), ext)
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
            r: Request<Streaming<HandshakeRequest>>,
        ) -> Result<Response<Self::HandshakeStream>, Status> {
            let up = self.upstream.clone().handshake(forward_stream(r)).await?;
            Ok(back(up))
        }
        async fn list_flights(
            &self,
            r: Request<Criteria>,
        ) -> Result<Response<Self::ListFlightsStream>, Status> {
            Ok(back(self.upstream.clone().list_flights(forward(r)).await?))
        }
        async fn get_flight_info(
            &self,
            r: Request<FlightDescriptor>,
        ) -> Result<Response<FlightInfo>, Status> {
            self.upstream.clone().get_flight_info(forward(r)).await
        }
        async fn poll_flight_info(
            &self,
            r: Request<FlightDescriptor>,
        ) -> Result<Response<PollInfo>, Status> {
            self.upstream.clone().poll_flight_info(forward(r)).await
        }
        async fn get_schema(
            &self,
            r: Request<FlightDescriptor>,
        ) -> Result<Response<SchemaResult>, Status> {
            self.upstream.clone().get_schema(forward(r)).await
        }
        async fn do_get(&self, r: Request<Ticket>) -> Result<Response<Self::DoGetStream>, Status> {
            Ok(back(self.upstream.clone().do_get(forward(r)).await?))
        }
        async fn do_put(
            &self,
            r: Request<Streaming<FlightData>>,
        ) -> Result<Response<Self::DoPutStream>, Status> {
            Ok(back(self.upstream.clone().do_put(forward_stream(r)).await?))
        }
        async fn do_exchange(
            &self,
            r: Request<Streaming<FlightData>>,
        ) -> Result<Response<Self::DoExchangeStream>, Status> {
            let up = self.upstream.clone().do_exchange(forward_stream(r)).await?;
            Ok(back(up))
        }
        async fn do_action(
            &self,
            r: Request<Action>,
        ) -> Result<Response<Self::DoActionStream>, Status> {
            Ok(back(self.upstream.clone().do_action(forward(r)).await?))
        }
        async fn list_actions(
            &self,
            r: Request<Empty>,
        ) -> Result<Response<Self::ListActionsStream>, Status> {
            Ok(back(self.upstream.clone().list_actions(forward(r)).await?))
        }
    }

    /// Serves the relay on a free loopback port (printed as `relay listening
    /// on ADDR`) until stdin closes, i.e. until the bench process is gone.
    pub fn main(upstream: &str) {
        // Exit when the parent goes away, even if it could not kill us.
        std::thread::spawn(|| {
            let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
            std::process::exit(0);
        });
        // The same runtime `lakegate serve` builds.
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let channel = Endpoint::from_shared(upstream.to_string())
                .unwrap()
                .tcp_nodelay(true)
                .connect_lazy();
            let relay = Relay {
                upstream: FlightServiceClient::new(channel)
                    .max_decoding_message_size(MAX_MESSAGE)
                    .max_encoding_message_size(MAX_MESSAGE),
            };
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let incoming = futures::stream::unfold(listener, |l| async move {
                let conn = l.accept().await.map(|(s, _)| {
                    let _ = s.set_nodelay(true);
                    s
                });
                Some((conn, l))
            });
            {
                let mut out = std::io::stdout().lock();
                writeln!(out, "relay listening on {addr}").unwrap();
                out.flush().unwrap();
            }
            Server::builder()
                .add_service(
                    FlightServiceServer::new(relay)
                        .max_decoding_message_size(MAX_MESSAGE)
                        .max_encoding_message_size(MAX_MESSAGE),
                )
                .serve_with_incoming(incoming)
                .await
                .unwrap();
        });
    }
}
