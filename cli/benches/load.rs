//! Load and soak (issue 14): 1,000 concurrent Flight SQL connections issuing
//! statements against one `lakegate serve` for a bounded time, as separate
//! processes (this one is only the client).
//!
//! Each connection is its own TCP connection (a tonic `Channel`) running
//! `execute` + `do_get` in a loop as one of 50 principals, each a member of
//! a group with a named SELECT grant. It prints one machine-readable line:
//! statements, statements per second, p50 and p99, errors, the server's
//! peak RSS, its RSS in the first and last third of the run (growth would
//! show a leak), and its open file descriptors before, at the peak and
//! after the clients went away. The line ends in PASS only with zero
//! errors, RSS that does not grow between the thirds by more than 10 %,
//! and descriptors back within 16 of where they started.
//!
//! Run with `cargo bench -p lakegate --bench load` (add `-- --quick` for a
//! 20-second run; `LAKEGATE_LOAD_CONNECTIONS` and `LAKEGATE_LOAD_SECONDS`
//! override the defaults of 1000 and 60).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs,
    reason = "a benchmark: any failure should stop it loudly"
)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arrow_flight::flight_service_client::FlightServiceClient;
use arrow_flight::sql::client::FlightSqlServiceClient;
use futures::StreamExt;
use tonic::transport::{Channel, Endpoint};

mod support;
use support::{BIN, lakegate, mem_kib};

const ADMIN: &str = "111111111111:user/admin";
const GROUP: &str = "111111111111:group/load";
const PRINCIPALS: usize = 50;
const SQL: &str = "SELECT id, amount FROM sales.orders WHERE id < 20";

/// The server, killed on drop.
struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn token(data: &str, principal: &str, groups: &[&str]) -> String {
    let mut args = vec![
        "token",
        "--data-dir",
        data,
        "--principal",
        principal,
        "--ttl",
        "14400",
    ];
    for g in groups {
        args.extend(["--group", g]);
    }
    lakegate(None, None, &args).trim().to_string()
}

fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// The soft limit on open files of this process.
fn open_files_limit() -> u64 {
    std::fs::read_to_string("/proc/self/limits")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

async fn connect(url: &str, token: &str) -> FlightSqlServiceClient<Channel> {
    let ch = Endpoint::from_shared(url.to_string())
        .unwrap()
        .tcp_nodelay(true)
        .connect()
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {url}: {e}"));
    let mut client = FlightSqlServiceClient::new_from_inner(FlightServiceClient::new(ch));
    client.set_header("authorization", format!("Bearer {token}"));
    client
}

/// One statement: GetFlightInfo, then DoGet drained.
async fn once(c: &mut FlightSqlServiceClient<Channel>) -> Result<usize, String> {
    let info = c
        .execute(SQL.to_string(), None)
        .await
        .map_err(|e| e.to_string())?;
    let mut rows = 0;
    for ep in info.endpoint {
        let ticket = ep.ticket.ok_or("no ticket")?;
        let mut s = c.do_get(ticket).await.map_err(|e| e.to_string())?;
        while let Some(b) = s.next().await {
            rows += b.map_err(|e| e.to_string())?.num_rows();
        }
    }
    Ok(rows)
}

fn pct(v: &[Duration], p: usize) -> Duration {
    v[(v.len() * p / 100).min(v.len() - 1)]
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let env = |k: &str, d: u64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let connections = env("LAKEGATE_LOAD_CONNECTIONS", 1000) as usize;
    let seconds = env("LAKEGATE_LOAD_SECONDS", if quick { 20 } else { 60 });
    let limit = open_files_limit();
    assert!(
        limit > connections as u64 + 256,
        "raise the open files limit (ulimit -n {limit}) above {} for {connections} connections",
        connections + 256
    );

    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let lake = tmp.path().join("lake");
    test_kit::lake::write_bench(&lake, 1000, 1);
    let data_s = data.to_str().unwrap().to_string();
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--data-dir",
            &data_s,
            "--listen",
            "127.0.0.1:0",
            "--admin",
            ADMIN,
        ])
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(
            std::fs::File::create(tmp.path().join("serve.log")).unwrap(),
        ))
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let pid = child.id();
    let server = Serve(child);
    let addr = line
        .trim()
        .strip_prefix("lakegate listening on ")
        .unwrap_or_else(|| panic!("{line:?}"))
        .to_string();
    let url = format!("http://{addr}");
    let admin = token(&data_s, ADMIN, &[]);
    let run = |args: &[&str]| lakegate(Some(&url), Some(&admin), args);
    let loc = format!("file://{}/", lake.display());
    run(&["location", "register", &loc]);
    run(&[
        "database",
        "create",
        "sales",
        "--location",
        &format!("{loc}sales/"),
    ]);
    run(&[
        "table",
        "create",
        "sales.orders",
        "--location",
        &format!("{loc}sales/orders/"),
        "--format",
        "parquet",
    ]);
    run(&[
        "grant",
        "--principal",
        GROUP,
        "--permissions",
        "SELECT",
        "--table",
        "sales.orders",
    ]);
    let tokens: Vec<String> = (0..PRINCIPALS)
        .map(|i| token(&data_s, &format!("111111111111:user/load{i}"), &[GROUP]))
        .collect();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let fds_before = fds(pid);
    let (statements, errors, first_error, lat, rss, fds_peak) = rt.block_on(async {
        let mut clients = Vec::with_capacity(connections);
        for i in 0..connections {
            let mut c = connect(&url, &tokens[i % PRINCIPALS]).await;
            // One statement per connection before the clock starts.
            once(&mut c)
                .await
                .unwrap_or_else(|e| panic!("warm-up: {e}"));
            clients.push(c);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let errors = Arc::new(AtomicU64::new(0));
        let first_error = Arc::new(std::sync::Mutex::new(None::<String>));
        let started = Instant::now();
        let mut tasks = Vec::new();
        for mut c in clients {
            let (stop, errors, first_error) = (stop.clone(), errors.clone(), first_error.clone());
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    match once(&mut c).await {
                        Ok(_) => lat.push(t.elapsed()),
                        Err(e) => {
                            errors.fetch_add(1, Ordering::Relaxed);
                            first_error.lock().unwrap().get_or_insert(e);
                        }
                    }
                }
                lat
            }));
        }
        // Sample the server once a second.
        let mut rss = Vec::new();
        let mut fds_peak = 0;
        while started.elapsed() < Duration::from_secs(seconds) {
            tokio::time::sleep(Duration::from_secs(1)).await;
            rss.push(mem_kib(&pid.to_string()).1);
            fds_peak = fds_peak.max(fds(pid));
        }
        stop.store(true, Ordering::Relaxed);
        let mut lat = Vec::new();
        for t in tasks {
            lat.extend(t.await.unwrap());
        }
        let n = lat.len() as u64;
        let e = errors.load(Ordering::Relaxed);
        let first = first_error.lock().unwrap().clone();
        (n, e, first, lat, rss, fds_peak)
    });
    // Every client connection is gone now; the server must let go of them.
    drop(rt);
    std::thread::sleep(Duration::from_secs(3));
    let fds_after = fds(pid);
    let (hwm, _) = mem_kib(&pid.to_string());
    let mut lat = lat;
    lat.sort();
    let third = (rss.len() / 3).max(1);
    let avg = |v: &[u64]| v.iter().sum::<u64>() / v.len().max(1) as u64;
    let first_third = avg(&rss[..third]);
    let last_third = avg(&rss[rss.len() - third..]);
    let growth = last_third as f64 / first_third.max(1) as f64;
    let ok = errors == 0 && growth <= 1.10 && fds_after <= fds_before + 16;
    println!(
        "load connections={connections} principals={PRINCIPALS} seconds={seconds} statements={statements} \
         statements_per_s={:.0} p50_us={} p99_us={} errors={errors} peak_rss_kib={hwm} \
         rss_first_third_kib={first_third} rss_last_third_kib={last_third} rss_growth={growth:.3} \
         fds_before={fds_before} fds_peak={fds_peak} fds_after={fds_after} {}",
        statements as f64 / seconds as f64,
        pct(&lat, 50).as_micros(),
        pct(&lat, 99).as_micros(),
        if ok { "PASS" } else { "FAIL" }
    );
    // The curve, so a soak shows where RSS levels off: the mean of each
    // tenth of the run, in MiB.
    let tenth = (rss.len() / 10).max(1);
    let curve: Vec<String> = rss
        .chunks(tenth)
        .map(|c| format!("{}", avg(c) / 1024))
        .collect();
    println!("load rss_mib_by_tenth={}", curve.join(","));
    if let Some(e) = first_error {
        println!("first error: {e}");
    }
    drop(server);
}
