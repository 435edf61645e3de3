//! The audit log of a real `lakegate serve` (issue 14): rotation by size
//! loses no line, a decision that cannot be audited is denied, and
//! `--audit-best-effort` serves it anyway.

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

#[test]
fn a_decision_that_cannot_be_audited_is_denied_unless_best_effort() {
    let strict = Server::start_with(&["--audit-log", "/dev/full"]);
    strict
        .admin(&["query", "SELECT 1 AS n"])
        .fails(1, "audit log cannot be written");
    let relaxed = Server::start_with(&["--audit-log", "/dev/full", "--audit-best-effort"]);
    relaxed.admin(&["query", "SELECT 1 AS n"]).ok();
}
