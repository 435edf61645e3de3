//! Result streaming of the Flight SQL proxy: counts the rows and bytes a
//! stream carries, stops it at the statement's deadline or at a result
//! limit, and writes the statement's `end` audit line when the stream ends,
//! fails or is dropped.
//!
//! The counting is a wrapper polled by tonic itself, with no task and no
//! channel between the producer and the client: each frame costs one poll,
//! and a slow client holds back the producer (backpressure), never a
//! queue. When the client goes away tonic drops the response stream, which
//! drops the producer (cancelling the engine's work or the upstream call),
//! also while it computes before its first batch.

use std::future::Future;
use std::sync::Mutex;
use std::task::{Context, Poll};

use super::limits::RunningGuard;
use super::*;

/// The `end` line of a statement whose `decision` line is `rec`: the same
/// id, caller and operation, to be completed with rows, duration and
/// error.
pub(super) fn end_record(rec: &AuditRecord) -> AuditRecord {
    AuditRecord {
        event: "end".into(),
        id: rec.id.clone(),
        principal: rec.principal.clone(),
        groups: rec.groups.clone(),
        source: rec.source.clone(),
        operation: rec.operation.clone(),
        decision: rec.decision.clone(),
        ..AuditRecord::default()
    }
}

/// The audit side of a result stream: rows so far, and the `end` record
/// written once when the stream ends (completely, with an error, or
/// because the client went away).
pub(super) struct Audit {
    rows: u64,
    bytes: u64,
    rec: Option<AuditRecord>,
    started: Instant,
    audit: AuditLog,
}

impl Audit {
    /// `end` is written through `audit` when the stream is over.
    pub(super) fn new(end: AuditRecord, started: Instant, audit: AuditLog) -> Self {
        Self {
            rows: 0,
            bytes: 0,
            rec: Some(end),
            started,
            audit,
        }
    }

    fn finish(&mut self, error: Option<String>) {
        if let Some(mut rec) = self.rec.take() {
            rec.rows = Some(self.rows);
            rec.duration_ms = self.started.elapsed().as_secs_f64() * 1e3;
            rec.error = error;
            // Queued in order now, so a shutdown's flush that follows
            // writes it.
            self.audit.write_later(rec);
        }
    }
}

impl Drop for Audit {
    fn drop(&mut self) {
        self.finish(Some("client disconnected before the result ended".into()));
    }
}

/// Where a statement's result must stop.
pub(super) struct Bounds {
    /// When the statement's time is up.
    pub deadline: tokio::time::Instant,
    /// `--statement-timeout`, for the message.
    pub timeout: Duration,
    /// `--max-result-rows`.
    pub max_rows: Option<u64>,
    /// `--max-result-bytes` (the frames' IPC header and body bytes).
    pub max_bytes: Option<u64>,
}

/// The producer of a result and the principal's running-statement slot.
/// The statement's deadline takes both away, also from a client that has
/// stopped reading (tonic then stops polling the stream, so a deadline
/// checked only in `poll_next` would never fire).
struct Producer {
    frames: BoxStream<FlightData>,
    _running: RunningGuard,
}

type Shared = Arc<Mutex<Option<Producer>>>;

/// A result stream that counts rows for the audit log and ends with
/// DEADLINE_EXCEEDED at the statement's deadline, or RESOURCE_EXHAUSTED
/// before a frame that would take it past a result limit. It yields
/// nothing after its first error.
pub(super) struct RowCounter {
    producer: Shared,
    watchdog: tokio::task::AbortHandle,
    deadline: Pin<Box<tokio::time::Sleep>>,
    bounds: Bounds,
    audit: Audit,
    done: bool,
}

impl RowCounter {
    /// Wraps `inner`; `running` is held until the stream ends, is dropped
    /// or runs out of time.
    pub(super) fn new(
        inner: BoxStream<FlightData>,
        running: RunningGuard,
        bounds: Bounds,
        audit: Audit,
    ) -> Self {
        let producer: Shared = Arc::new(Mutex::new(Some(Producer {
            frames: inner,
            _running: running,
        })));
        let held = producer.clone();
        let deadline = bounds.deadline;
        let watchdog = tokio::spawn(async move {
            tokio::time::sleep_until(deadline).await;
            // Dropping the producer cancels the engine's work or the
            // upstream call and frees the slot. A poll in progress holds
            // the lock only for that poll.
            loop {
                let taken = match held.try_lock() {
                    Ok(mut p) => Some(p.take()),
                    Err(std::sync::TryLockError::Poisoned(_)) => return,
                    Err(std::sync::TryLockError::WouldBlock) => None,
                };
                match taken {
                    Some(producer) => {
                        drop(producer);
                        return;
                    }
                    None => tokio::time::sleep(Duration::from_millis(1)).await,
                }
            }
        })
        .abort_handle();
        Self {
            producer,
            watchdog,
            deadline: Box::pin(tokio::time::sleep_until(bounds.deadline)),
            bounds,
            audit,
            done: false,
        }
    }

    /// The limit `frame` would break, if any.
    fn over_limit(&self, frame: &FlightData) -> Option<Status> {
        let rows = self.audit.rows.saturating_add(record_batch_rows(frame));
        if let Some(max) = self.bounds.max_rows
            && rows > max
        {
            return Some(status(ProxyError::Limit {
                flag: "--max-result-rows",
                what: format!("the result has more than {max} rows"),
                todo: "add a LIMIT, a filter or an aggregate",
            }));
        }
        let size = (frame.data_header.len() + frame.data_body.len()) as u64;
        let bytes = self.audit.bytes.saturating_add(size);
        if let Some(max) = self.bounds.max_bytes
            && bytes > max
        {
            return Some(status(ProxyError::Limit {
                flag: "--max-result-bytes",
                what: format!("the result is larger than {max} bytes"),
                todo: "select fewer columns or rows",
            }));
        }
        None
    }

    fn fail(&mut self, s: Status) -> Poll<Option<Result<FlightData, Status>>> {
        self.done = true;
        self.end();
        self.audit.finish(Some(s.message().to_string()));
        Poll::Ready(Some(Err(s)))
    }

    /// Drops the producer and the slot now.
    fn end(&mut self) {
        self.watchdog.abort();
        let taken = self.producer.lock().ok().and_then(|mut p| p.take());
        drop(taken);
    }

    fn poll_producer(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Option<Poll<Option<Result<FlightData, Status>>>> {
        let mut guard = self.producer.lock().ok()?;
        let p = guard.as_mut()?;
        Some(p.frames.as_mut().poll_next(cx))
    }
}

impl Drop for RowCounter {
    fn drop(&mut self) {
        self.watchdog.abort();
    }
}

impl Stream for RowCounter {
    type Item = Result<FlightData, Status>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        // The watchdog frees the producer when nobody polls; this timer
        // wakes a stream that is polled but waiting on its producer.
        if this.deadline.as_mut().poll(cx).is_ready() {
            return this.fail(deadline_status(this.bounds.timeout));
        }
        // No producer: the deadline's watchdog took it.
        let Some(polled) = this.poll_producer(cx) else {
            return this.fail(deadline_status(this.bounds.timeout));
        };
        match polled {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => {
                this.done = true;
                this.end();
                this.audit.finish(None);
                Poll::Ready(None)
            }
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(s) = this.over_limit(&frame) {
                    return this.fail(s);
                }
                this.audit.rows = this.audit.rows.saturating_add(record_batch_rows(&frame));
                this.audit.bytes = this
                    .audit
                    .bytes
                    .saturating_add((frame.data_header.len() + frame.data_body.len()) as u64);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => this.fail(e),
        }
    }
}

/// Rows in a Flight data frame, read from its IPC header without decoding the body.
pub(super) fn record_batch_rows(fd: &FlightData) -> u64 {
    arrow::ipc::root_as_message(&fd.data_header)
        .ok()
        .and_then(|m| m.header_as_record_batch())
        .map(|b| u64::try_from(b.length()).unwrap_or(0))
        .unwrap_or(0)
}
