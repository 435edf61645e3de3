//! Result streaming of the Flight SQL proxy: counts the rows a stream
//! carries for the audit log, stops it at the statement's deadline, and
//! finishes the audit record when the stream ends, fails or is dropped.
//!
//! The counting is a wrapper polled by tonic itself, with no task and no
//! channel between the producer and the client: each frame costs one poll.
//! When the client goes away tonic drops the response stream, which drops
//! the producer (cancelling the engine's work or the upstream call), also
//! while it computes before its first batch.

use std::future::Future;
use std::task::{Context, Poll};

use super::*;

/// The audit side of a result stream: rows so far, and the record written
/// once when the stream ends (completely, with an error, or because the
/// client went away).
struct Audit {
    rows: u64,
    rec: Option<AuditRecord>,
    started: Instant,
    audit: AuditLog,
}

impl Audit {
    fn finish(&mut self, error: Option<String>) {
        if let Some(mut rec) = self.rec.take() {
            rec.rows = Some(self.rows);
            rec.duration_ms = self.started.elapsed().as_secs_f64() * 1e3;
            rec.error = error;
            let audit = self.audit.clone();
            tokio::spawn(async move { audit.write(rec).await });
        }
    }
}

impl Drop for Audit {
    fn drop(&mut self) {
        self.finish(Some("client disconnected before the result ended".into()));
    }
}

/// What a counted stream carries: how to count an item's rows and how to
/// report a failure in it.
pub(super) trait Counted: Sized {
    /// The error type of the stream.
    type Error;
    /// Rows the item carries.
    fn rows(&self) -> u64;
    /// The deadline error in the stream's error type.
    fn deadline(s: Status) -> Self::Error;
    /// The message the audit log records for `e`.
    fn message(e: &Self::Error) -> String;
}

impl Counted for RecordBatch {
    type Error = FlightError;
    fn rows(&self) -> u64 {
        self.num_rows() as u64
    }
    fn deadline(s: Status) -> FlightError {
        FlightError::Tonic(Box::new(s))
    }
    fn message(e: &FlightError) -> String {
        e.to_string()
    }
}

impl Counted for FlightData {
    type Error = Status;
    fn rows(&self) -> u64 {
        record_batch_rows(self)
    }
    fn deadline(s: Status) -> Status {
        s
    }
    fn message(e: &Status) -> String {
        e.message().to_string()
    }
}

/// A result stream that counts rows for the audit log and ends with
/// DEADLINE_EXCEEDED at the statement's deadline. It yields nothing after
/// its first error.
pub(super) struct RowCounter<S> {
    inner: Pin<Box<S>>,
    deadline: Pin<Box<tokio::time::Sleep>>,
    timeout: Duration,
    audit: Audit,
    done: bool,
}

impl<S, T> RowCounter<S>
where
    S: Stream<Item = Result<T, T::Error>>,
    T: Counted,
{
    /// Wraps `inner`; `rec` is written when the stream ends.
    pub(super) fn new(
        inner: S,
        rec: AuditRecord,
        started: Instant,
        audit: AuditLog,
        (deadline, timeout): (tokio::time::Instant, Duration),
    ) -> Self {
        Self {
            inner: Box::pin(inner),
            deadline: Box::pin(tokio::time::sleep_until(deadline)),
            timeout,
            audit: Audit {
                rows: 0,
                rec: Some(rec),
                started,
                audit,
            },
            done: false,
        }
    }
}

impl<S, T> Stream for RowCounter<S>
where
    S: Stream<Item = Result<T, T::Error>>,
    T: Counted,
{
    type Item = Result<T, T::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        if this.deadline.as_mut().poll(cx).is_ready() {
            this.done = true;
            let s = deadline_status(this.timeout);
            this.audit.finish(Some(s.message().to_string()));
            return Poll::Ready(Some(Err(T::deadline(s))));
        }
        match this.inner.as_mut().poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => {
                this.done = true;
                this.audit.finish(None);
                Poll::Ready(None)
            }
            Poll::Ready(Some(Ok(item))) => {
                this.audit.rows = this.audit.rows.saturating_add(item.rows());
                Poll::Ready(Some(Ok(item)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.done = true;
                this.audit.finish(Some(T::message(&e)));
                Poll::Ready(Some(Err(e)))
            }
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
