//! Resource limits of the engine (DESIGN §4 "Bounded"): memory per statement
//! and in total, statement time, and bounded versions of the functions whose
//! output size an argument decides.
//!
//! - Every statement runs with its own [`StatementPool`], which admits a
//!   reservation only if the statement stays under its limit *and* the
//!   shared pool (a [`GreedyMemoryPool`] under a [`TrackConsumersPool`]) has
//!   room. Operators that can spill (sort, aggregate, join) spill instead of
//!   failing where DataFusion supports it.
//! - Scalar functions allocate outside the pool, so those whose output can
//!   be much larger than their input (`repeat`, `concat`, `||`, `range`, …)
//!   are bounded by [`crate::bounded`]: they refuse, before allocating, an
//!   output larger than a statement may use.
//! - [`GuardedStream`] fails a statement at its deadline and refuses a
//!   result batch larger than a statement may use.
//! - [`YieldOften`] puts a cooperative yield point above every operator,
//!   because DataFusion yields only at its sources: an aggregate over a cross
//!   join of in-memory `VALUES` would otherwise compute for minutes inside a
//!   single poll, and neither the deadline nor a client's disconnect could
//!   stop it.
//!
//! Over a limit the statement fails with [`EngineError::ResourceExhausted`]
//! or [`EngineError::DeadlineExceeded`]; the server lives on.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DataFusionError, Result as DfResult};
use datafusion::execution::memory_pool::{
    GreedyMemoryPool, MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation,
    TrackConsumersPool,
};
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::coop::CooperativeExec;
use futures::Stream;

use crate::error::EngineError;

/// Default memory one statement may reserve: 1 GiB.
pub const DEFAULT_MAX_STATEMENT_MEMORY: usize = 1 << 30;
/// Default memory all statements together may reserve: 4 GiB.
pub const DEFAULT_MAX_TOTAL_MEMORY: usize = 4 << 30;
/// Default statement timeout: 5 minutes.
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// The engine's resource limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EngineLimits {
    /// Bytes one statement may reserve (and the largest result batch or
    /// function output it may produce).
    pub max_statement_memory: usize,
    /// Bytes all statements together may reserve.
    pub max_total_memory: usize,
    /// How long one statement may run, from the start of its execution.
    pub statement_timeout: Duration,
}

impl Default for EngineLimits {
    fn default() -> Self {
        Self {
            max_statement_memory: DEFAULT_MAX_STATEMENT_MEMORY,
            max_total_memory: DEFAULT_MAX_TOTAL_MEMORY,
            statement_timeout: DEFAULT_STATEMENT_TIMEOUT,
        }
    }
}

impl EngineLimits {
    /// The shared pool every statement pool draws from.
    pub(crate) fn total_pool(&self) -> Arc<dyn MemoryPool> {
        let top = std::num::NonZeroUsize::MIN.saturating_add(4);
        Arc::new(TrackConsumersPool::new(
            GreedyMemoryPool::new(self.max_total_memory),
            top,
        ))
    }
}

/// The error of a statement over its memory limit.
pub(crate) fn statement_memory_error(what: &str, limit: usize) -> DataFusionError {
    DataFusionError::ResourcesExhausted(format!(
        "{what}, more than a statement may use ({limit} bytes, set with \
         `--max-statement-memory`); make the statement smaller, e.g. select fewer rows or \
         shorter values"
    ))
}

/// The error of a statement past its deadline.
pub(crate) fn deadline_error(timeout: Duration) -> EngineError {
    EngineError::DeadlineExceeded(format!(
        "the statement ran longer than {} ms (set with `--statement-timeout`) and was stopped; \
         make it cheaper, e.g. filter earlier or aggregate less",
        timeout.as_millis()
    ))
}

/// A statement's memory pool: admits a reservation only if the statement
/// stays under its limit and the shared pool has room.
#[derive(Debug)]
pub(crate) struct StatementPool {
    total: Arc<dyn MemoryPool>,
    limit: usize,
    used: AtomicUsize,
}

impl StatementPool {
    /// A pool of `limit` bytes drawing from `total`.
    pub(crate) fn new(total: Arc<dyn MemoryPool>, limit: usize) -> Self {
        Self {
            total,
            limit,
            used: AtomicUsize::new(0),
        }
    }
}

impl fmt::Display for StatementPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "statement pool ({} of {} bytes used)",
            self.used.load(Ordering::Relaxed),
            self.limit
        )
    }
}

impl MemoryPool for StatementPool {
    fn name(&self) -> &str {
        "lakegate-statement"
    }

    fn register(&self, consumer: &MemoryConsumer) {
        self.total.register(consumer);
    }

    fn unregister(&self, consumer: &MemoryConsumer) {
        self.total.unregister(consumer);
    }

    fn grow(&self, reservation: &MemoryReservation, additional: usize) {
        self.used.fetch_add(additional, Ordering::Relaxed);
        self.total.grow(reservation, additional);
    }

    fn shrink(&self, reservation: &MemoryReservation, shrink: usize) {
        let _ = self
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |u| {
                Some(u.saturating_sub(shrink))
            });
        self.total.shrink(reservation, shrink);
    }

    fn try_grow(&self, reservation: &MemoryReservation, additional: usize) -> DfResult<()> {
        self.used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |u| {
                u.checked_add(additional).filter(|n| *n <= self.limit)
            })
            .map_err(|u| {
                statement_memory_error(
                    &format!(
                        "`{}` needs {additional} more bytes with {u} already reserved",
                        reservation.consumer().name()
                    ),
                    self.limit,
                )
            })?;
        if let Err(e) = self.total.try_grow(reservation, additional) {
            let _ = self
                .used
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |u| {
                    Some(u.saturating_sub(additional))
                });
            return Err(match e {
                DataFusionError::ResourcesExhausted(m) => {
                    DataFusionError::ResourcesExhausted(format!(
                        "the server's memory for statements is in use (`--max-total-memory`); \
                         try again later ({m})"
                    ))
                }
                other => other,
            });
        }
        Ok(())
    }

    fn reserved(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    fn memory_limit(&self) -> MemoryLimit {
        MemoryLimit::Finite(self.limit)
    }
}

/// A statement's result stream: fails at the deadline, and refuses a batch
/// larger than a statement may use.
pub(crate) struct GuardedStream {
    inner: SendableRecordBatchStream,
    deadline: Pin<Box<tokio::time::Sleep>>,
    limits: EngineLimits,
    done: bool,
}

impl GuardedStream {
    /// Guards `inner` until `deadline`.
    pub(crate) fn new(
        inner: SendableRecordBatchStream,
        deadline: tokio::time::Instant,
        limits: EngineLimits,
    ) -> Self {
        Self {
            inner,
            deadline: Box::pin(tokio::time::sleep_until(deadline)),
            limits,
            done: false,
        }
    }
}

impl Stream for GuardedStream {
    type Item = DfResult<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            self.done = true;
            let e = deadline_error(self.limits.statement_timeout);
            return Poll::Ready(Some(Err(DataFusionError::External(Box::new(e)))));
        }
        match self.inner.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(b))) => {
                let size = b.get_array_memory_size();
                if size > self.limits.max_statement_memory {
                    self.done = true;
                    return Poll::Ready(Some(Err(statement_memory_error(
                        &format!("a result batch holds {size} bytes"),
                        self.limits.max_statement_memory,
                    ))));
                }
                Poll::Ready(Some(Ok(b)))
            }
            Poll::Ready(Some(Err(e))) => {
                self.done = true;
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(None) => {
                self.done = true;
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl RecordBatchStream for GuardedStream {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }
}

/// Runs `fut` until `deadline`, or fails with the statement's timeout.
pub(crate) async fn until<T>(
    deadline: tokio::time::Instant,
    timeout: Duration,
    fut: impl std::future::Future<Output = Result<T, EngineError>>,
) -> Result<T, EngineError> {
    match tokio::time::timeout_at(deadline, fut).await {
        Ok(r) => r,
        Err(_) => Err(deadline_error(timeout)),
    }
}

/// A physical optimizer rule, run last, that wraps every operator that has
/// inputs in a [`CooperativeExec`]: each batch it produces spends tokio's
/// cooperative budget, so a task running the plan yields regularly and a
/// deadline or a dropped stream takes effect within a few batches.
#[derive(Debug, Default)]
pub(crate) struct YieldOften;

impl PhysicalOptimizerRule for YieldOften {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            let is_coop = (node.as_ref() as &dyn std::any::Any).is::<CooperativeExec>();
            if node.children().is_empty() || is_coop {
                return Ok(Transformed::no(node));
            }
            let wrapped: Arc<dyn ExecutionPlan> = Arc::new(CooperativeExec::new(node));
            Ok(Transformed::yes(wrapped))
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "lakegate_yield_often"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        reason = "test code: a panic is a failed test"
    )]
    use super::*;

    #[test]
    fn statement_memory_limit_per_statement_and_in_total() {
        let limits = EngineLimits {
            max_statement_memory: 60,
            max_total_memory: 100,
            statement_timeout: DEFAULT_STATEMENT_TIMEOUT,
        };
        let total = limits.total_pool();
        let a: Arc<dyn MemoryPool> = Arc::new(StatementPool::new(Arc::clone(&total), 60));
        let b: Arc<dyn MemoryPool> = Arc::new(StatementPool::new(Arc::clone(&total), 60));
        let ra = MemoryConsumer::new("a").register(&a);
        let rb = MemoryConsumer::new("b").register(&b);
        ra.try_grow(50).unwrap();
        // Over the statement's own limit.
        let e = ra.try_grow(20).unwrap_err();
        assert!(matches!(e, DataFusionError::ResourcesExhausted(_)), "{e}");
        assert!(e.to_string().contains("--max-statement-memory"), "{e}");
        // Within its own limit, but over the total.
        let e = rb.try_grow(60).unwrap_err();
        assert!(e.to_string().contains("--max-total-memory"), "{e}");
        assert_eq!(b.reserved(), 0);
        rb.try_grow(40).unwrap();
        // Freeing one statement's memory makes room for the other.
        ra.free();
        rb.try_grow(20).unwrap();
        assert_eq!(total.reserved(), 60);
        assert_eq!(a.reserved(), 0);
    }
}
