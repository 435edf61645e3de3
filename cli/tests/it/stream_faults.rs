//! Faults while a result streams (issue 14), with every party a process:
//! the upstream engine dies mid-stream, and a client stops reading.
//! (A client that disconnects mid-stream is in grpc-proxy's `limits` and
//! `flight` tests.)

use std::time::{Duration, Instant};

use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::error::FlightError;
use futures::StreamExt;
use tonic::Code;

use crate::harness::{ACCOUNT, Server, spawn_engine_with, spawn_serve};

/// Ten copies of `sales.orders` (4 rows each) joined: about a million rows
/// of three columns, far more than any buffer between the parties holds.
fn big_query() -> String {
    let from: Vec<String> = (0..10).map(|i| format!("sales.orders t{i}")).collect();
    format!(
        "SELECT t0.id, t1.ssn, t2.ssn AS ssn2 FROM {}",
        from.join(", ")
    )
}

fn reader(s: &Server) -> String {
    let p = format!("{ACCOUNT}:user/reader");
    s.grant_orders(&p, "id,amount,ssn,region").ok();
    s.token(&p, &[])
}

/// Runs `sql` and returns its result stream after the first batch.
async fn started(url: &str, token: &str, sql: &str) -> FlightRecordBatchStream {
    let mut c = test_kit::connect(url, token).await;
    let info = c.execute(sql.to_string(), None).await.unwrap();
    let ticket = info.endpoint[0].ticket.clone().unwrap();
    let mut stream = c.do_get(ticket).await.unwrap();
    let first = stream.next().await.unwrap().unwrap();
    assert!(first.num_rows() > 0);
    stream
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn an_upstream_that_dies_mid_stream_fails_the_statement_and_the_sidecar_recovers() {
    let s = Server::start();
    s.setup_sales();
    let token = reader(&s);
    let (engine, up) = spawn_engine_with(&s.data_dir, &[]);
    let log = s.data_dir.with_file_name("sidecar.log");
    let upstream = format!("grpc://{up}");
    let (_side, _out, addr) = spawn_serve(&s.data_dir, &log, &["--upstream", &upstream]).unwrap();
    let sidecar = format!("http://{addr}");

    let rt = runtime();
    let end = rt.block_on(async {
        let mut stream = started(&sidecar, &token, &big_query()).await;
        // kill -9 of the engine while it still has most of the result to send.
        drop(engine);
        loop {
            match tokio::time::timeout(Duration::from_secs(60), stream.next()).await {
                Ok(Some(Ok(_))) => continue,
                Ok(Some(Err(e))) => break Some(e),
                Ok(None) => break None,
                Err(_) => panic!("the stream neither ended nor failed a minute after the kill"),
            }
        }
    });
    // Never a clean end: the client must not take a cut result for a whole one.
    let Some(FlightError::Tonic(status)) = end else {
        panic!("the statement ended without an error status: {end:?}");
    };
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(status.message().contains("upstream"), "{status:?}");
    assert!(status.message().contains("incomplete result"), "{status:?}");
    assert!(
        !status.message().contains(&up),
        "no upstream address: {status:?}"
    );

    // The engine comes back at the same address: the sidecar serves again
    // without a restart.
    let (_engine, _) = spawn_engine_with(&s.data_dir, &["--listen", &up]);
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let out = crate::harness::run_cli(
            Some(&sidecar),
            Some(&token),
            &["query", "--json", "SELECT count(*) AS n FROM sales.orders"],
        );
        if out.code == 0 {
            assert_eq!(out.json()[0]["n"], 4);
            break;
        }
        assert!(
            Instant::now() < until,
            "the sidecar did not recover: {out:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Resident memory and CPU time (user + system, in clock ticks) of `pid`.
fn usage(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let rss_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may hold spaces): utime is the
    // 14th field of the line, the 12th after `) `.
    let rest = stat.rsplit_once(") ").unwrap().1;
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    (rss_kb * 1024, f[11] + f[12])
}

#[test]
fn a_client_that_stops_reading_holds_back_the_producer_with_memory_bounded() {
    let s = Server::start();
    s.setup_sales();
    let token = reader(&s);
    let pid = s.pid();
    let rt = runtime();
    let (rss_before, _) = usage(pid);
    rt.block_on(async {
        let mut stream = started(&s.endpoint, &token, &big_query()).await;
        // What the statement needs to run (the join's build side, the
        // first batches) is resident by now; what follows is buffering.
        let (rss_running, _) = usage(pid);
        // The client reads nothing for a while: the server must stop
        // producing (HTTP/2 flow control and bounded queues), not buffer.
        // Wait until it has filled what buffers there are and gone quiet
        // (a loaded machine may take a while); one that keeps producing
        // never does.
        let settle = Instant::now();
        let mut cpu_from = usage(pid).1;
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let now = usage(pid).1;
            if now - cpu_from <= 2 {
                cpu_from = now;
                break;
            }
            cpu_from = now;
            assert!(
                settle.elapsed() < Duration::from_secs(30),
                "the server kept using CPU while nothing was read"
            );
        }
        let mut peak = 0;
        for _ in 0..10 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            peak = peak.max(usage(pid).0);
        }
        let (_, cpu_to) = usage(pid);
        let ticks = cpu_to - cpu_from;
        // 3 s of waiting: a producer running on would use them all.
        assert!(
            ticks < 60,
            "the server used {ticks} ticks of CPU while nothing was read"
        );
        let grew = peak.saturating_sub(rss_running);
        assert!(
            grew < 32 << 20,
            "RSS grew by {} MiB while nothing was read",
            grew >> 20
        );
        // Reading again works: backpressure is not a failure.
        let mut rows = 0;
        while let Some(b) = stream.next().await {
            rows += b.unwrap().num_rows();
            if rows > 200_000 {
                break;
            }
        }
        assert!(rows > 200_000, "{rows}");
        eprintln!(
            "slow client: RSS {} MiB before the statement, {} MiB once it ran, peak {} MiB \
             while nothing was read; {ticks} CPU ticks in those 3 s",
            rss_before >> 20,
            rss_running >> 20,
            peak >> 20
        );
    });
}
