//! Result streaming of the Flight SQL proxy: counts the rows a stream
//! carries for the audit log, and finishes the audit record when the stream
//! ends, fails or is dropped.

use super::*;

/// Counts rows as a result streams and writes the audit record when it ends
/// (completely, with an error, or because the client went away).
pub(super) struct RowCounter {
    rows: u64,
    rec: Option<AuditRecord>,
    started: Instant,
    audit: AuditLog,
}

impl RowCounter {
    pub(super) fn new(rec: AuditRecord, started: Instant, audit: AuditLog) -> Self {
        Self {
            rows: 0,
            rec: Some(rec),
            started,
            audit,
        }
    }

    pub(super) fn finish(&mut self, error: Option<String>) {
        if let Some(mut rec) = self.rec.take() {
            rec.rows = Some(self.rows);
            rec.duration_ms = self.started.elapsed().as_secs_f64() * 1e3;
            rec.error = error;
            let audit = self.audit.clone();
            tokio::spawn(async move { audit.write(rec).await });
        }
    }

    pub(super) fn batches(
        inner: impl Stream<Item = Result<RecordBatch, FlightError>> + Send + 'static,
        rec: AuditRecord,
        started: Instant,
        audit: AuditLog,
        limit: (tokio::time::Instant, Duration),
    ) -> impl Stream<Item = Result<RecordBatch, FlightError>> + Send + 'static {
        let mut counter = Self::new(rec, started, audit);
        let mut inner = Box::pin(inner);
        async_stream(move |tx| async move {
            loop {
                let item = match next_or_stop(inner.next(), &tx, limit).await {
                    Next::Item(Some(i)) => i,
                    Next::Item(None) => break,
                    Next::Gone => {
                        counter.finish(Some("client disconnected".into()));
                        return;
                    }
                    Next::Deadline(s) => {
                        counter.finish(Some(s.message().to_string()));
                        let _ = tx.send(Err(FlightError::Tonic(Box::new(s)))).await;
                        return;
                    }
                };
                match &item {
                    Ok(b) => counter.rows += b.num_rows() as u64,
                    Err(e) => counter.finish(Some(e.to_string())),
                }
                let stop = item.is_err();
                if tx.send(item).await.is_err() {
                    counter.finish(Some("client disconnected".into()));
                    return;
                }
                if stop {
                    return;
                }
            }
            counter.finish(None);
        })
    }

    pub(super) fn frames(
        inner: Streaming<FlightData>,
        rec: AuditRecord,
        started: Instant,
        audit: AuditLog,
        limit: (tokio::time::Instant, Duration),
    ) -> impl Stream<Item = Result<FlightData, Status>> + Send + 'static {
        let mut counter = Self::new(rec, started, audit);
        let mut inner = inner;
        async_stream(move |tx| async move {
            loop {
                // Dropping `inner` on the way out cancels the upstream call.
                let item = match next_or_stop(inner.next(), &tx, limit).await {
                    Next::Item(Some(i)) => i,
                    Next::Item(None) => break,
                    Next::Gone => {
                        counter.finish(Some("client disconnected".into()));
                        return;
                    }
                    Next::Deadline(s) => {
                        counter.finish(Some(s.message().to_string()));
                        let _ = tx.send(Err(s)).await;
                        return;
                    }
                };
                let item = item.map_err(|s| upstream_error(&s));
                match &item {
                    Ok(fd) => counter.rows += record_batch_rows(fd),
                    Err(e) => counter.finish(Some(e.message().to_string())),
                }
                let stop = item.is_err();
                if tx.send(item).await.is_err() {
                    counter.finish(Some("client disconnected".into()));
                    return;
                }
                if stop {
                    return;
                }
            }
            counter.finish(None);
        })
    }
}

impl Drop for RowCounter {
    fn drop(&mut self) {
        self.finish(Some("stream dropped".into()));
    }
}

/// What [`next_or_stop`] saw first.
enum Next<T> {
    /// The producer's next item (`None`: it ended).
    Item(Option<T>),
    /// The client went away (the result stream was dropped).
    Gone,
    /// The statement's deadline passed.
    Deadline(Status),
}

/// Waits for the producer's next item, but stops waiting as soon as the
/// client goes away or the deadline passes, so a statement that computes
/// for long before its first batch is stopped too (its stream is dropped,
/// which cancels the engine's work).
async fn next_or_stop<T, U>(
    next: impl std::future::Future<Output = Option<T>>,
    tx: &tokio::sync::mpsc::Sender<U>,
    (deadline, timeout): (tokio::time::Instant, Duration),
) -> Next<T> {
    tokio::select! {
        biased;
        () = tx.closed() => Next::Gone,
        () = tokio::time::sleep_until(deadline) => Next::Deadline(deadline_status(timeout)),
        item = next => Next::Item(item),
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

/// A stream fed by a task through a small bounded channel: backpressure
/// reaches the producer, and dropping the stream stops the task.
pub(super) fn async_stream<T, F, Fut>(f: F) -> impl Stream<Item = T> + Send + 'static
where
    T: Send + 'static,
    F: FnOnce(tokio::sync::mpsc::Sender<T>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel::<T>(2);
    tokio::spawn(f(tx));
    tokio_stream::wrappers::ReceiverStream::new(rx)
}
