//! The audit log: one JSON line per decision (DESIGN §4).
//!
//! A decision that releases data is written to the file *before* the data
//! flows: the request waits until the writer task has handed its line to
//! the operating system, and a line that cannot be written denies the
//! decision (UNAVAILABLE), unless the server runs with
//! `--audit-best-effort`. A statement that streams a result gets a second
//! line, `"event": "end"`, with the same `id`, the rows returned, the
//! duration and the error, when the stream ends, fails or is dropped.
//!
//! One task writes everything, so lines never interleave; lines waiting at
//! the same moment go to the file in one `write` (group commit), so the
//! wait costs one system call per batch, not per decision. The file is
//! synced on a bounded interval (`--audit-sync-interval`) and at shutdown,
//! and rotated by size (`--audit-rotate-size`): the full file is synced and
//! renamed to `FILE.TIMESTAMP`, a new file is opened, and every line lands
//! whole in exactly one of them. A failed write is cut back to the last
//! whole line and the file is opened again at the next batch, so the log
//! recovers when the disk does.

mod writer;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};

/// Default audit file name inside the data directory.
pub const AUDIT_FILE: &str = "audit.jsonl";

/// One audit record.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AuditRecord {
    /// RFC 3339-ish UTC time (seconds since the epoch with millis, plus ISO form).
    pub time: String,
    /// `decision` (the decision, written before any data flows), `end`
    /// (a result stream's end: rows, duration and error) or `resumed` (the
    /// log is writable again after a failure; lines may be missing before).
    pub event: String,
    /// Ties a statement's `end` line to its `decision` line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The caller.
    pub principal: String,
    /// The caller's groups.
    pub groups: Vec<String>,
    /// Peer address.
    pub source: Option<String>,
    /// What was asked (`statement`, `get_tables`, ...).
    pub operation: String,
    /// Hex SHA-256 of the statement text.
    pub statement_hash: Option<String>,
    /// The statement text as sent.
    pub statement: Option<String>,
    /// Tables read.
    pub tables: Vec<String>,
    /// Columns returned, per table (`db.t: a, b`).
    pub columns: Vec<String>,
    /// Row filters applied, per table.
    pub filters: Vec<String>,
    /// Masks applied (`db.t.col=kind`).
    pub masks: Vec<String>,
    /// `allow` or `deny`.
    pub decision: String,
    /// Determining grants and policies.
    pub policies: Vec<String>,
    /// The SQL sent to the engine.
    pub rewritten: Option<String>,
    /// The rewritten statement, for the writer to print into
    /// [`AuditRecord::rewritten`] when that is empty (so the request path
    /// does not print it).
    #[serde(skip)]
    pub rewritten_from: Option<std::sync::Arc<policy_engine::rewrite::Rewritten>>,
    /// Rows returned (on a stream's `end` line).
    pub rows: Option<u64>,
    /// Wall time in milliseconds.
    pub duration_ms: f64,
    /// The error returned, if any.
    pub error: Option<String>,
}

impl AuditRecord {
    /// Fills in what the request path leaves to the writer: the statement's
    /// hash and the rewritten SQL.
    pub(crate) fn complete(&mut self) {
        if self.statement_hash.is_none()
            && let Some(sql) = &self.statement
        {
            self.statement_hash = Some(hex::encode(Sha256::digest(sql.as_bytes())));
        }
        // The hash covers the whole text; the line keeps a bounded part, so
        // large statements cannot fill the audit disk (and, in strict mode,
        // deny everyone) at a few megabytes a statement.
        if let Some(sql) = self.statement.as_mut() {
            clip_text(sql);
        }
        if self.rewritten.is_none()
            && let Some(rw) = self.rewritten_from.take()
        {
            self.rewritten = Some(if rw.sql.is_empty() {
                rw.statement.to_string()
            } else {
                rw.sql.clone()
            });
        }
        if let Some(sql) = self.rewritten.as_mut() {
            clip_text(sql);
        }
    }
}

/// Most bytes of statement text (and of the rewritten SQL) one line keeps.
pub const MAX_TEXT_BYTES: usize = 16 * 1024;

/// Cuts `text` to [`MAX_TEXT_BYTES`] at a character boundary, saying so.
fn clip_text(text: &mut String) {
    if text.len() <= MAX_TEXT_BYTES {
        return;
    }
    let full = text.len();
    let mut end = MAX_TEXT_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push_str(&format!(
        "… ({full} bytes in all; statement_hash covers them)"
    ));
}

/// Current time as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn now_rfc3339() -> String {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = d.as_secs();
    let millis = d.subsec_millis();
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, dd) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{dd:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// How the audit log is written (the `serve --audit-*` flags).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditOptions {
    /// Serve decisions whose line could not be written (`--audit-best-effort`).
    pub best_effort: bool,
    /// Longest time a written line may wait for `fsync` (`--audit-sync-interval`).
    pub sync_interval: Duration,
    /// Rotate the file once it reaches this size (`--audit-rotate-size`);
    /// `None` never rotates.
    pub rotate_bytes: Option<u64>,
}

/// Default `--audit-sync-interval`.
pub const DEFAULT_SYNC_INTERVAL: Duration = Duration::from_secs(1);
/// Default `--audit-rotate-size`.
pub const DEFAULT_ROTATE_BYTES: u64 = 256 * 1024 * 1024;

impl Default for AuditOptions {
    fn default() -> Self {
        Self {
            best_effort: false,
            sync_interval: DEFAULT_SYNC_INTERVAL,
            rotate_bytes: Some(DEFAULT_ROTATE_BYTES),
        }
    }
}

/// An audit line that could not be written: the decision it records must
/// not take effect (unless `--audit-best-effort`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditUnwritable(pub String);

impl std::fmt::Display for AuditUnwritable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the audit log cannot be written: {}", self.0)
    }
}

impl std::error::Error for AuditUnwritable {}

/// A message to the writer task.
enum Msg {
    /// A line, and who waits for it to be written.
    Record(
        Box<AuditRecord>,
        Option<oneshot::Sender<Result<(), AuditUnwritable>>>,
    ),
    /// Write and sync everything queued so far.
    Flush(oneshot::Sender<()>),
}

/// How many records may wait for the writer; a stuck disk slows requests
/// down instead of growing memory.
const QUEUE: usize = 4096;

/// Whether an audit log works, as `/healthz` and `/metrics` report it:
/// set by its writer after each write and sync.
#[derive(Debug, Default)]
pub struct AuditHealth {
    failing: AtomicBool,
    denying: AtomicBool,
}

impl AuditHealth {
    fn set(&self, failing: bool, best_effort: bool) {
        self.failing.store(failing, Ordering::Relaxed);
        self.denying
            .store(failing && !best_effort, Ordering::Relaxed);
    }

    /// The last write or sync failed, and none has worked since.
    pub fn failing(&self) -> bool {
        self.failing.load(Ordering::Relaxed)
    }

    /// [`AuditHealth::failing`], and decisions are denied for it (not
    /// `--audit-best-effort`): the server is not ready.
    pub fn denying(&self) -> bool {
        self.denying.load(Ordering::Relaxed)
    }
}

/// A handle to the audit writer; cheap to clone.
#[derive(Clone)]
pub struct AuditLog {
    tx: mpsc::Sender<Msg>,
    path: PathBuf,
    best_effort: bool,
}

impl AuditLog {
    /// Opens (appending) the audit file with the default options and
    /// starts the writer task.
    pub async fn open(path: &Path) -> std::io::Result<Self> {
        Self::open_with(path, AuditOptions::default()).await
    }

    /// Opens (appending) the audit file and starts the writer task. A file
    /// that cannot be opened is an error here, whatever the options: a
    /// server that could not audit a single decision should not start.
    pub async fn open_with(path: &Path, options: AuditOptions) -> std::io::Result<Self> {
        Self::open_reporting(path, options, Arc::default()).await
    }

    /// Like [`AuditLog::open_with`], keeping `health` up to date.
    pub async fn open_reporting(
        path: &Path,
        options: AuditOptions,
        health: Arc<AuditHealth>,
    ) -> std::io::Result<Self> {
        let file = writer::open(path).await?;
        let (tx, rx) = mpsc::channel::<Msg>(QUEUE);
        let best_effort = options.best_effort;
        tokio::spawn(writer::run(path.to_path_buf(), file, options, health, rx));
        Ok(Self {
            tx,
            path: path.to_path_buf(),
            best_effort,
        })
    }

    /// Records a decision. Returns once its line is in the file, or with
    /// the reason it is not; with `--audit-best-effort`, once it is queued
    /// (a line that is then not written is logged and counted).
    pub async fn write(&self, mut record: AuditRecord) -> Result<(), AuditUnwritable> {
        if record.time.is_empty() {
            record.time = now_rfc3339();
        }
        if record.event.is_empty() {
            record.event = "decision".into();
        }
        let counted = (record.event == "decision").then(|| {
            (
                record.operation.clone(),
                record.decision.clone(),
                record.duration_ms,
            )
        });
        let stopped = || AuditUnwritable("the audit writer has stopped".into());
        let written = if self.best_effort {
            self.tx
                .send(Msg::Record(Box::new(record), None))
                .await
                .map_err(|_| {
                    crate::metrics::metrics().audit_failure(1);
                    tracing::error!("audit writer stopped; record lost");
                    stopped()
                })
        } else {
            let (done, wait) = oneshot::channel();
            if self
                .tx
                .send(Msg::Record(Box::new(record), Some(done)))
                .await
                .is_err()
            {
                crate::metrics::metrics().audit_failure(1);
                Err(stopped())
            } else {
                wait.await.unwrap_or_else(|_| Err(stopped()))
            }
        };
        if let Some((operation, decision, millis)) = counted {
            // A decision whose line could not be written was denied.
            let decision = if written.is_ok() {
                decision.as_str()
            } else {
                "deny"
            };
            crate::metrics::metrics().decision(&operation, decision, millis);
        }
        written
    }

    /// Queues a record without waiting: the end of a result stream, whose
    /// data has already flowed. Queued at once when the queue has room (so
    /// a flush that follows writes it); otherwise handed to a task that
    /// waits for room, and a shutdown may not wait for that task.
    pub fn write_later(&self, mut record: AuditRecord) {
        if record.time.is_empty() {
            record.time = now_rfc3339();
        }
        match self.tx.try_send(Msg::Record(Box::new(record), None)) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(msg)) => {
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    if tx.send(msg).await.is_err() {
                        crate::metrics::metrics().audit_failure(1);
                        tracing::error!("audit writer stopped; record lost");
                    }
                });
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                crate::metrics::metrics().audit_failure(1);
                tracing::error!("audit writer stopped; record lost");
            }
        }
    }

    /// Writes everything queued so far to disk and waits for it.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }

    /// The audit file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether decisions are served when their line cannot be written.
    pub fn best_effort(&self) -> bool {
        self.best_effort
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        reason = "test code: a panic is a failed test"
    )]
    use super::*;

    #[tokio::test]
    async fn records_are_written_as_json_lines_and_flushed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a").join(AUDIT_FILE);
        let log = AuditLog::open(&path).await.unwrap();
        for i in 0..100 {
            log.write(AuditRecord {
                principal: format!("111111111111:user/u{i}"),
                decision: "allow".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        }
        log.flush().await;
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines.len(), 100);
        let v: serde_json::Value = serde_json::from_str(lines[99]).unwrap();
        assert_eq!(v["principal"], "111111111111:user/u99");
        assert!(v["time"].as_str().unwrap().ends_with('Z'));
    }

    fn record(i: usize) -> AuditRecord {
        AuditRecord {
            principal: format!("111111111111:user/u{i}"),
            decision: "allow".into(),
            statement: Some(format!("SELECT {i} /* {} */", "x".repeat(200))),
            ..Default::default()
        }
    }

    /// Every line of the log and its rotated files, parsed.
    fn all_lines(dir: &Path) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).unwrap() {
            let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
            for l in text.lines() {
                out.push(serde_json::from_str(l).expect("a whole JSON line"));
            }
        }
        out
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rotation_by_size_loses_no_line_under_concurrent_writers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(AUDIT_FILE);
        let options = AuditOptions {
            rotate_bytes: Some(16 * 1024),
            ..AuditOptions::default()
        };
        let log = AuditLog::open_with(&path, options).await.unwrap();
        let mut tasks = Vec::new();
        for t in 0..8 {
            let log = log.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..250 {
                    log.write(record(t * 1000 + i)).await.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        log.flush().await;
        let files = std::fs::read_dir(dir.path()).unwrap().count();
        assert!(files > 10, "rotated into {files} files");
        let mut seen: Vec<String> = all_lines(dir.path())
            .iter()
            .map(|v| v["principal"].as_str().unwrap().to_string())
            .collect();
        seen.sort();
        let mut want: Vec<String> = (0..8)
            .flat_map(|t| (0..250).map(move |i| format!("111111111111:user/u{}", t * 1000 + i)))
            .collect();
        want.sort();
        assert_eq!(seen, want, "each line exactly once, whole");
    }

    #[tokio::test]
    async fn a_full_disk_fails_the_decision_and_the_log_recovers_when_it_clears() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.jsonl");
        let path = dir.path().join(AUDIT_FILE);
        // The log's path leads to a device on which every write fails
        // with ENOSPC, as on a full disk.
        std::os::unix::fs::symlink("/dev/full", &path).unwrap();
        let log = AuditLog::open(&path).await.unwrap();
        let err = log.write(record(1)).await.unwrap_err();
        assert!(err.to_string().contains("No space left"), "{err}");
        // Still failing: every decision is refused, none is lost silently.
        assert!(log.write(record(2)).await.is_err());
        // The disk "clears": the path now leads to a writable file.
        std::fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink(&real, &path).unwrap();
        log.write(record(3)).await.unwrap();
        log.flush().await;
        let text = std::fs::read_to_string(&real).unwrap();
        assert_eq!(text.lines().count(), 1);
        assert!(text.contains("u3"));
    }

    #[tokio::test]
    async fn best_effort_serves_decisions_whose_line_is_lost() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(AUDIT_FILE);
        std::os::unix::fs::symlink("/dev/full", &path).unwrap();
        let options = AuditOptions {
            best_effort: true,
            ..AuditOptions::default()
        };
        let log = AuditLog::open_with(&path, options).await.unwrap();
        log.write(record(1)).await.unwrap();
        log.flush().await;
    }

    #[test]
    fn long_statements_are_clipped_but_hashed_whole() {
        let sql = format!("SELECT '{}'", "é".repeat(20_000));
        let mut r = AuditRecord {
            statement: Some(sql.clone()),
            ..Default::default()
        };
        r.complete();
        let kept = r.statement.unwrap();
        assert!(kept.len() < MAX_TEXT_BYTES + 100, "{}", kept.len());
        assert!(kept.ends_with("statement_hash covers them)"));
        assert_eq!(
            r.statement_hash.unwrap(),
            hex::encode(Sha256::digest(sql.as_bytes()))
        );
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_782), (2026, 11, 25));
    }
}
