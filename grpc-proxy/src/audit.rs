//! The audit log: one JSON line per decision (DESIGN §4), written off the
//! query path by a background task, flushed on shutdown.
//!
//! We hand records to a bounded channel and write them from one task because
//! the query path must not wait on the disk; the channel is bounded so a stuck
//! disk slows queries down instead of growing memory without limit, and
//! [`AuditLog::shutdown`] drains it so a clean shutdown loses nothing.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, oneshot};

/// Default audit file name inside the data directory.
pub const AUDIT_FILE: &str = "audit.jsonl";

/// One audit record.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AuditRecord {
    /// RFC 3339-ish UTC time (seconds since the epoch with millis, plus ISO form).
    pub time: String,
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
    /// Rows returned (for completed streams).
    pub rows: Option<u64>,
    /// Wall time in milliseconds.
    pub duration_ms: f64,
    /// The error returned, if any.
    pub error: Option<String>,
}

impl AuditRecord {
    /// Fills in what the request path leaves to the writer: the statement's
    /// hash and the rewritten SQL.
    fn complete(&mut self) {
        if self.statement_hash.is_none()
            && let Some(sql) = &self.statement
        {
            self.statement_hash = Some(hex::encode(Sha256::digest(sql.as_bytes())));
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
    }
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

enum Msg {
    Record(Box<AuditRecord>),
    Flush(oneshot::Sender<()>),
}

/// A handle to the audit writer; cheap to clone.
#[derive(Clone)]
pub struct AuditLog {
    tx: mpsc::Sender<Msg>,
    path: PathBuf,
}

impl AuditLog {
    /// Opens (appending) the audit file and starts the writer task.
    pub async fn open(path: &Path) -> std::io::Result<Self> {
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        let file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .await?;
        let (tx, mut rx) = mpsc::channel::<Msg>(4096);
        let shown = path.display().to_string();
        tokio::spawn(async move {
            let mut w = tokio::io::BufWriter::new(file);
            while let Some(msg) = rx.recv().await {
                match msg {
                    Msg::Record(mut r) => {
                        r.complete();
                        let line = match serde_json::to_string(&r) {
                            Ok(l) => l,
                            Err(e) => {
                                tracing::error!("audit record not serialisable: {e}");
                                continue;
                            }
                        };
                        if let Err(e) = w.write_all(line.as_bytes()).await {
                            tracing::error!("audit log {shown}: {e}");
                        }
                        if let Err(e) = w.write_all(b"\n").await {
                            tracing::error!("audit log {shown}: {e}");
                        }
                        // Flush when the queue is momentarily empty, so the file
                        // is current without a write per record under load.
                        if rx.is_empty()
                            && let Err(e) = w.flush().await
                        {
                            tracing::error!("audit log {shown}: {e}");
                        }
                    }
                    Msg::Flush(done) => {
                        if let Err(e) = w.flush().await {
                            tracing::error!("audit log {shown}: {e}");
                        }
                        if let Err(e) = w.get_mut().sync_data().await {
                            tracing::error!("audit log {shown}: {e}");
                        }
                        let _ = done.send(());
                    }
                }
            }
            let _ = w.flush().await;
        });
        Ok(Self {
            tx,
            path: path.to_path_buf(),
        })
    }

    /// Queues a record (waits only if 4096 records are already queued).
    pub async fn write(&self, mut record: AuditRecord) {
        if record.time.is_empty() {
            record.time = now_rfc3339();
        }
        crate::metrics::metrics().decision(&record.operation, &record.decision, record.duration_ms);
        if self.tx.send(Msg::Record(Box::new(record))).await.is_err() {
            tracing::error!("audit writer stopped; record lost");
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
            .await;
        }
        log.flush().await;
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines.len(), 100);
        let v: serde_json::Value = serde_json::from_str(lines[99]).unwrap();
        assert_eq!(v["principal"], "111111111111:user/u99");
        assert!(v["time"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_782), (2026, 11, 25));
    }
}
