//! The audit writer task: batches queued lines into one `write`, answers
//! each waiting decision with the outcome, syncs on an interval and at the
//! end, rotates by size, and recovers from failed writes (see the module
//! notes of [`crate::audit`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::fs::File;
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, oneshot};

use super::{AuditHealth, AuditOptions, AuditUnwritable, Msg, now_rfc3339};

/// Most bytes written in one batch; more waiting lines go in the next.
const MAX_BATCH: usize = 1 << 20;

/// Opens `path` for appending, creating it and its folder.
pub(super) async fn open(path: &Path) -> std::io::Result<File> {
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        tokio::fs::create_dir_all(dir).await?;
    }
    tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .await
}

/// The open file and what the writer knows of it.
struct Target {
    path: PathBuf,
    shown: String,
    /// `None` after a failure: opened again before the next batch.
    file: Option<File>,
    /// Its length after the last whole line (regular files only).
    len: u64,
    /// A regular file (rotated and cut back), not a device or a pipe.
    regular: bool,
    /// Lines written since the last sync.
    dirty: bool,
    options: AuditOptions,
    health: Arc<AuditHealth>,
}

impl Target {
    async fn attach(&mut self, mut file: File) -> std::io::Result<()> {
        let meta = file.metadata().await?;
        self.regular = meta.is_file();
        self.len = meta.len();
        if self.regular && self.len > 0 && !ends_a_line(&self.path, self.len).await {
            // A line cut short (the last process was killed in a write):
            // end it, so the next line is not glued to it.
            file.write_all(b"\n").await?;
            file.flush().await?;
            self.len += 1;
        }
        self.file = Some(file);
        Ok(())
    }

    /// While the log is failing: writes a `"event":"resumed"` line if it
    /// can, which clears the state. A node made unready by its audit log
    /// gets no decisions to write (callers are sent elsewhere), so without
    /// this it would stay unready after the disk clears.
    async fn probe(&mut self) {
        let rec = super::AuditRecord {
            time: now_rfc3339(),
            event: "resumed".into(),
            ..Default::default()
        };
        let Ok(mut line) = serde_json::to_vec(&rec) else {
            return;
        };
        line.push(b'\n');
        if self.append(&line).await.is_ok() {
            tracing::info!("audit log {}: writable again", self.shown);
        }
    }

    /// Records whether the log works, for `/healthz` and `/metrics`.
    fn state(&self, failing: bool) {
        self.health.set(failing, self.options.best_effort);
    }

    /// Appends `batch`, which holds whole lines. On failure the file is cut
    /// back to its last whole line and dropped, to be opened again.
    async fn append(&mut self, batch: &[u8]) -> Result<(), AuditUnwritable> {
        if self.file.is_none() {
            let file = open(&self.path).await.map_err(|e| self.failed(&e))?;
            self.attach(file).await.map_err(|e| self.failed(&e))?;
        }
        let Some(file) = self.file.as_mut() else {
            return Err(AuditUnwritable(format!("{} is not open", self.shown)));
        };
        let written = match file.write_all(batch).await {
            Ok(()) => file.flush().await,
            Err(e) => Err(e),
        };
        if let Err(e) = written {
            if self.regular {
                // A partial line would corrupt the next one: cut it off.
                // (Truncating frees space, so it works on a full disk.)
                let _ = file.set_len(self.len).await;
            }
            self.file = None;
            return Err(self.failed(&e));
        }
        self.len = self.len.saturating_add(batch.len() as u64);
        self.dirty = true;
        self.state(false);
        if self.regular
            && let Some(max) = self.options.rotate_bytes
            && self.len >= max
        {
            self.rotate().await;
        }
        Ok(())
    }

    fn failed(&self, e: &std::io::Error) -> AuditUnwritable {
        tracing::error!("audit log {}: {e}", self.shown);
        self.state(true);
        AuditUnwritable(format!("{}: {e}", self.shown))
    }

    async fn sync(&mut self) {
        if let Some(file) = self.file.as_mut()
            && self.dirty
        {
            match file.sync_data().await {
                Ok(()) => self.dirty = false,
                Err(e) => {
                    // The kernel may have dropped the unsynced lines: say
                    // so, and open the file again before the next write
                    // (which clears the state if it works).
                    tracing::error!(
                        "audit log {}: sync failed, lines written since the last sync may be \
                         lost: {e}",
                        self.shown
                    );
                    crate::metrics::metrics().audit_failure(0);
                    self.state(true);
                    self.file = None;
                }
            }
        }
    }

    /// Syncs the full file, renames it to `FILE.TIMESTAMP` and opens a new
    /// one. A rename that fails keeps the current file; an open that fails
    /// leaves none, and the next batch tries again (failing its decisions
    /// until it can).
    async fn rotate(&mut self) {
        self.sync().await;
        let stamp = now_rfc3339().replace([':', '-'], "");
        let mut to = PathBuf::from(format!("{}.{stamp}", self.path.display()));
        let mut n = 1;
        while tokio::fs::try_exists(&to).await.unwrap_or(true) {
            to = PathBuf::from(format!("{}.{stamp}-{n}", self.path.display()));
            n += 1;
            if n > 1000 {
                tracing::error!("audit log {}: no free name to rotate to", self.shown);
                return;
            }
        }
        if let Err(e) = tokio::fs::rename(&self.path, &to).await {
            tracing::error!(
                "audit log {}: rotating to {}: {e}",
                self.shown,
                to.display()
            );
            return;
        }
        tracing::info!("audit log rotated to {}", to.display());
        self.file = None;
        match open(&self.path).await {
            Ok(file) => {
                if let Err(e) = self.attach(file).await {
                    tracing::error!("audit log {}: {e}", self.shown);
                }
            }
            Err(e) => tracing::error!("audit log {}: {e}", self.shown),
        }
    }
}

/// Whether the file at `path`, `len` bytes long, ends with a newline. A
/// file lakegate may append to but not read (an operator's choice) is taken
/// to end one: the check must not stop the log from being written.
async fn ends_a_line(path: &Path, len: u64) -> bool {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let last = async {
        let mut f = File::open(path).await?;
        f.seek(std::io::SeekFrom::Start(len.saturating_sub(1)))
            .await?;
        let mut last = [0u8; 1];
        f.read_exact(&mut last).await?;
        std::io::Result::Ok(last)
    };
    match last.await {
        Ok(last) => last == [b'\n'],
        Err(e) => {
            tracing::warn!(
                "audit log {}: cannot read its last byte: {e}",
                path.display()
            );
            true
        }
    }
}

type Waiter = oneshot::Sender<Result<(), AuditUnwritable>>;

/// Adds one record's line to `batch` (a record that cannot be printed is
/// answered with an error at once).
fn take(
    msg: Msg,
    batch: &mut Vec<u8>,
    waiters: &mut Vec<Waiter>,
    flushes: &mut Vec<oneshot::Sender<()>>,
) {
    match msg {
        Msg::Record(mut r, waiter) => {
            r.complete();
            match serde_json::to_vec(&r) {
                Ok(line) => {
                    batch.extend_from_slice(&line);
                    batch.push(b'\n');
                    waiters.extend(waiter);
                }
                Err(e) => {
                    tracing::error!("audit record not serialisable: {e}");
                    crate::metrics::metrics().audit_failure(1);
                    if let Some(w) = waiter {
                        let _ = w.send(Err(AuditUnwritable(format!("record not printable: {e}"))));
                    }
                }
            }
        }
        Msg::Flush(done) => flushes.push(done),
    }
}

/// The writer task: runs until every handle is gone, then syncs.
pub(super) async fn run(
    path: PathBuf,
    file: File,
    options: AuditOptions,
    health: Arc<AuditHealth>,
    mut rx: mpsc::Receiver<Msg>,
) {
    let mut tick = tokio::time::interval(options.sync_interval.max(Duration::from_millis(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut target = Target {
        shown: path.display().to_string(),
        path,
        file: None,
        len: 0,
        regular: false,
        dirty: false,
        options,
        health,
    };
    if let Err(e) = target.attach(file).await {
        tracing::error!("audit log {}: {e}", target.shown);
    }
    let mut batch = Vec::new();
    let mut waiters = Vec::new();
    let mut flushes = Vec::new();
    loop {
        let first = tokio::select! {
            msg = rx.recv() => msg,
            _ = tick.tick() => {
                if target.health.failing() {
                    target.probe().await;
                }
                target.sync().await;
                continue;
            }
        };
        let Some(first) = first else { break };
        take(first, &mut batch, &mut waiters, &mut flushes);
        // Everything else already waiting goes in the same write.
        while batch.len() < MAX_BATCH
            && let Ok(msg) = rx.try_recv()
        {
            take(msg, &mut batch, &mut waiters, &mut flushes);
        }
        if !batch.is_empty() {
            let result = target.append(&batch).await;
            if result.is_err() {
                let lines = batch.iter().filter(|b| **b == b'\n').count();
                crate::metrics::metrics().audit_failure(lines as u64);
            }
            for w in waiters.drain(..) {
                let _ = w.send(result.clone());
            }
            batch.clear();
        }
        if !flushes.is_empty() {
            target.sync().await;
            for f in flushes.drain(..) {
                let _ = f.send(());
            }
        }
    }
    target.sync().await;
}
