//! Statements running per principal (`--max-concurrent-statements-per-principal`):
//! a count per principal, taken when a statement is planned or its result
//! is opened and given back when that ends, however it ends.
//!
//! A statement over the limit is refused at once with RESOURCE_EXHAUSTED
//! rather than queued: a queue would hold the caller's connection and its
//! memory, which is what the limit is there to bound.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tonic::Status;

use crate::status::{ProxyError, status};

/// The running statements of every principal.
#[derive(Debug, Default)]
pub(crate) struct Running {
    /// Most statements one principal may run at once; 0 is no limit.
    limit: usize,
    counts: Mutex<HashMap<String, usize>>,
}

/// One running statement of one principal; dropping it ends it.
#[derive(Debug)]
pub(crate) struct RunningGuard {
    running: Arc<Running>,
    principal: String,
}

impl Running {
    /// At most `limit` statements per principal (0: no limit).
    pub(crate) fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            limit,
            counts: Mutex::new(HashMap::new()),
        })
    }

    /// Starts a statement of `principal`, or refuses it when the principal
    /// already runs `limit` of them.
    pub(crate) fn enter(self: &Arc<Self>, principal: &str) -> Result<RunningGuard, Status> {
        let mut counts = self.counts.lock().map_err(|_| {
            status(ProxyError::Internal(
                "running statements lock poisoned".into(),
            ))
        })?;
        let n = counts.entry(principal.to_string()).or_default();
        if self.limit > 0 && *n >= self.limit {
            let limit = self.limit;
            return Err(status(ProxyError::Limit {
                flag: "--max-concurrent-statements-per-principal",
                what: format!("{principal} already runs {limit} statements"),
                todo: "wait for one to finish, or read its results before starting more",
            }));
        }
        *n += 1;
        Ok(RunningGuard {
            running: self.clone(),
            principal: principal.to_string(),
        })
    }

    /// Statements `principal` runs now.
    #[cfg(test)]
    fn count(&self, principal: &str) -> usize {
        self.counts
            .lock()
            .map(|c| c.get(principal).copied().unwrap_or(0))
            .unwrap_or(0)
    }
}

impl Drop for RunningGuard {
    fn drop(&mut self) {
        if let Ok(mut counts) = self.running.counts.lock()
            && let Some(n) = counts.get_mut(&self.principal)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&self.principal);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]
    use super::*;

    #[test]
    fn a_principal_over_its_limit_is_refused_and_others_are_not() {
        let running = Running::new(2);
        let a1 = running.enter("a").unwrap();
        let _a2 = running.enter("a").unwrap();
        let err = running.enter("a").unwrap_err();
        assert_eq!(err.code(), tonic::Code::ResourceExhausted);
        assert!(
            err.message()
                .contains("--max-concurrent-statements-per-principal"),
            "{}",
            err.message()
        );
        let _b = running.enter("b").unwrap();
        drop(a1);
        let _a3 = running.enter("a").unwrap();
        assert_eq!(running.count("a"), 2);
    }

    #[test]
    fn finished_principals_leave_no_entry_behind() {
        let running = Running::new(0);
        for i in 0..1000 {
            let _g = running.enter(&format!("p{i}")).unwrap();
        }
        assert!(running.counts.lock().unwrap().is_empty());
    }
}
