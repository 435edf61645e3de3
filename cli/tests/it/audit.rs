//! The audit log of a real `lakegate serve` (issue 14): rotation by size
//! loses no line, a decision that cannot be audited is denied (and
//! `/healthz` says not ready until the log works again),
//! `--audit-best-effort` serves it anyway, and a line cut short by a crash
//! is ended before the next one is written.

use crate::harness::Server;

/// Every line of the audit log and its rotated files, parsed.
fn audit_lines(s: &Server) -> (usize, Vec<serde_json::Value>) {
    let mut files = 0;
    let mut out = Vec::new();
    for e in std::fs::read_dir(&s.data_dir).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if !name.starts_with("audit.jsonl") {
            continue;
        }
        files += 1;
        for l in std::fs::read_to_string(&path).unwrap().lines() {
            out.push(serde_json::from_str(l).unwrap_or_else(|e| panic!("{name}: {e}: {l}")));
        }
    }
    (files, out)
}

#[test]
fn the_audit_log_rotates_by_size_without_losing_a_line() {
    let mut s = Server::start_with(&[
        "--audit-rotate-size",
        "4KiB",
        "--audit-sync-interval",
        "100ms",
    ]);
    for i in 0..40 {
        s.admin(&["query", &format!("SELECT {i} AS n")]).ok();
    }
    // Stopping the server (SIGTERM) flushes what is queued.
    s.terminate();
    let (files, lines) = audit_lines(&s);
    assert!(files >= 3, "rotated into {files} files");
    for i in 0..40 {
        let sql = format!("SELECT {i} AS n");
        let decision: Vec<_> = lines
            .iter()
            .filter(|l| l["event"] == "decision" && l["statement"] == sql.as_str())
            .collect();
        assert_eq!(decision.len(), 1, "{sql}: {decision:?}");
        let id = &decision[0]["id"];
        let ends = lines
            .iter()
            .filter(|l| l["event"] == "end" && &l["id"] == id)
            .count();
        assert_eq!(ends, 1, "{sql}: end line");
    }
}

/// `GET path` on the operations port at `addr`: status code and body.
fn ops_get(addr: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut sock = std::net::TcpStream::connect(addr).unwrap();
    write!(sock, "GET {path} HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
    let mut resp = String::new();
    sock.read_to_string(&mut resp).unwrap();
    let code = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap();
    let body = resp.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (code, body)
}

#[test]
fn an_unwritable_audit_log_makes_the_server_not_ready_until_it_works() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("audit.jsonl");
    let real = tmp.path().join("real.jsonl");
    // Every write to the log fails with ENOSPC, as on a full disk.
    std::os::unix::fs::symlink("/dev/full", &path).unwrap();
    let ops = format!("127.0.0.1:{}", test_kit::free_port());
    let s = Server::start_with(&[
        "--audit-log",
        path.to_str().unwrap(),
        "--metrics-listen",
        &ops,
    ]);
    assert_eq!(ops_get(&ops, "/healthz").0, 200);
    // The first decision is denied, and from then on the node says it is
    // not ready, so a load balancer sends callers elsewhere.
    s.admin(&["query", "SELECT 1 AS n"])
        .fails(1, "audit log cannot be written");
    let (code, body) = ops_get(&ops, "/healthz");
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("\"audit\":\"failing\""), "{body}");
    let (_, metrics) = ops_get(&ops, "/metrics");
    assert!(metrics.contains("lakegate_audit_failing 1"), "{metrics}");
    // The disk clears: ready again by itself, with no decision to write
    // (a load balancer sends none to an unready node), and the log says
    // where it resumed.
    std::fs::remove_file(&path).unwrap();
    std::os::unix::fs::symlink(&real, &path).unwrap();
    let until = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while ops_get(&ops, "/healthz").0 != 200 {
        assert!(std::time::Instant::now() < until, "still not ready");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let log = std::fs::read_to_string(&real).unwrap();
    assert!(log.contains("\"event\":\"resumed\""), "{log}");
    s.admin(&["query", "SELECT 1 AS n"]).ok();
    assert_eq!(ops_get(&ops, "/healthz").0, 200);
    let (_, metrics) = ops_get(&ops, "/metrics");
    assert!(metrics.contains("lakegate_audit_failing 0"), "{metrics}");
}

#[test]
fn a_line_cut_short_by_a_crash_is_ended_before_the_next() {
    let mut s = Server::start();
    s.admin(&["query", "SELECT 1 AS n"]).ok();
    s.kill();
    // As if the process died in the middle of a write.
    let path = s.data_dir.join("audit.jsonl");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    std::io::Write::write_all(&mut f, b"{\"time\":\"2026-").unwrap();
    drop(f);
    s.restart();
    s.admin(&["query", "SELECT 2 AS n"]).ok();
    s.terminate();
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let cut = lines
        .iter()
        .position(|l| *l == "{\"time\":\"2026-")
        .unwrap();
    // Every line after the cut one is whole JSON.
    assert!(cut + 1 < lines.len(), "{text}");
    for l in &lines[cut + 1..] {
        let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
        assert!(v["event"].is_string(), "{l}");
    }
}

#[test]
fn a_decision_that_cannot_be_audited_is_denied_unless_best_effort() {
    let strict = Server::start_with(&["--audit-log", "/dev/full"]);
    strict
        .admin(&["query", "SELECT 1 AS n"])
        .fails(1, "audit log cannot be written");
    let relaxed = Server::start_with(&["--audit-log", "/dev/full", "--audit-best-effort"]);
    relaxed.admin(&["query", "SELECT 1 AS n"]).ok();
}
