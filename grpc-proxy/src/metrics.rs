//! Operational metrics, in Prometheus' text format on `--metrics-listen`
//! (see [`crate::ops_http`]): decisions by operation and outcome, their
//! latency, store version reads and catalog reloads, plan cache hits, and
//! upstream errors.
//!
//! One registry per process, like the `prometheus` crate's default
//! registry: counters are atomics or small maps keyed by names from our
//! code (operation names, never user input), so label cardinality is fixed.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

/// Latency buckets, in seconds.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        for (i, le) in BUCKETS.iter().enumerate() {
            if seconds <= *le
                && let Some(c) = self.counts.get_mut(i)
            {
                *c += 1;
            }
        }
        self.count += 1;
        self.sum += seconds;
    }
}

/// The registry.
#[derive(Default)]
pub struct Metrics {
    /// (operation, allow|deny) → decisions.
    decisions: Mutex<BTreeMap<(String, String), u64>>,
    /// operation → latency of its decisions.
    latency: Mutex<BTreeMap<String, Histogram>>,
    store_version_reads: AtomicU64,
    store_loads: AtomicU64,
    store_errors: AtomicU64,
    plan_cache_hits: AtomicU64,
    plan_cache_misses: AtomicU64,
    upstream_errors: AtomicU64,
    audit_failures: AtomicU64,
    limit_refusals: AtomicU64,
}

/// The process's registry.
pub fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::default)
}

impl Metrics {
    /// One audited decision: `operation` (`statement`, `get_tables`, …),
    /// `allow` or `deny`, and its wall time.
    pub fn decision(&self, operation: &str, decision: &str, millis: f64) {
        if let Ok(mut d) = self.decisions.lock() {
            *d.entry((operation.to_string(), decision.to_string()))
                .or_default() += 1;
        }
        if let Ok(mut l) = self.latency.lock() {
            l.entry(operation.to_string())
                .or_default()
                .observe(millis / 1e3);
        }
    }

    /// A read of the store's version (one per statement).
    pub fn store_version_read(&self) {
        self.store_version_reads.fetch_add(1, Ordering::Relaxed);
    }

    /// A full catalog load (the version moved: a cache miss).
    pub fn store_load(&self) {
        self.store_loads.fetch_add(1, Ordering::Relaxed);
    }

    /// A store call that failed (the request was denied as UNAVAILABLE).
    pub fn store_error(&self) {
        self.store_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// A ticket whose plan was cached (`hit`) or planned again.
    pub fn plan_cache(&self, hit: bool) {
        let c = if hit {
            &self.plan_cache_hits
        } else {
            &self.plan_cache_misses
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// A call to the upstream engine that failed on its side or in transit.
    pub fn upstream_error(&self) {
        self.upstream_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Audit lines that could not be written (their decisions were denied,
    /// unless `--audit-best-effort`).
    pub fn audit_failure(&self, lines: u64) {
        self.audit_failures.fetch_add(lines, Ordering::Relaxed);
    }

    /// A statement refused or cancelled by a resource limit.
    pub fn limit_refusal(&self) {
        self.limit_refusals.fetch_add(1, Ordering::Relaxed);
    }

    /// The registry in Prometheus' text exposition format (0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP lakegate_decisions_total Audited decisions, by operation and outcome.\n\
             # TYPE lakegate_decisions_total counter"
        );
        let decisions = self.decisions.lock().map(|d| d.clone()).unwrap_or_default();
        for ((op, decision), n) in &decisions {
            let _ = writeln!(
                out,
                "lakegate_decisions_total{{operation=\"{op}\",decision=\"{decision}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP lakegate_statements_total Statements decided (operation `statement`).\n\
             # TYPE lakegate_statements_total counter"
        );
        let statements: u64 = decisions
            .iter()
            .filter(|((op, _), _)| op == "statement")
            .map(|(_, n)| n)
            .sum();
        let _ = writeln!(out, "lakegate_statements_total {statements}");
        let _ = writeln!(
            out,
            "# HELP lakegate_denials_total Requests denied, of any operation.\n\
             # TYPE lakegate_denials_total counter"
        );
        let denials: u64 = decisions
            .iter()
            .filter(|((_, d), _)| d == "deny")
            .map(|(_, n)| n)
            .sum();
        let _ = writeln!(out, "lakegate_denials_total {denials}");
        let _ = writeln!(
            out,
            "# HELP lakegate_decision_duration_seconds Wall time of audited decisions.\n\
             # TYPE lakegate_decision_duration_seconds histogram"
        );
        let latency = self.latency.lock().map(|l| l.clone()).unwrap_or_default();
        for (op, h) in &latency {
            for (le, n) in BUCKETS.iter().zip(h.counts.iter()) {
                let _ = writeln!(
                    out,
                    "lakegate_decision_duration_seconds_bucket{{operation=\"{op}\",le=\"{le}\"}} {n}"
                );
            }
            let _ = writeln!(
                out,
                "lakegate_decision_duration_seconds_bucket{{operation=\"{op}\",le=\"+Inf\"}} {}\n\
                 lakegate_decision_duration_seconds_sum{{operation=\"{op}\"}} {}\n\
                 lakegate_decision_duration_seconds_count{{operation=\"{op}\"}} {}",
                h.count, h.sum, h.count
            );
        }
        let reads = self.store_version_reads.load(Ordering::Relaxed);
        let loads = self.store_loads.load(Ordering::Relaxed);
        for (name, help, value) in [
            (
                "lakegate_store_version_reads_total",
                "Reads of the governance store's version (one per statement).",
                reads,
            ),
            (
                "lakegate_store_catalog_loads_total",
                "Full catalog loads: the version moved (catalog cache misses).",
                loads,
            ),
            (
                "lakegate_catalog_cache_hits_total",
                "Version reads that found the cached catalog current.",
                reads.saturating_sub(loads),
            ),
            (
                "lakegate_store_errors_total",
                "Store calls that failed; their requests were denied.",
                self.store_errors.load(Ordering::Relaxed),
            ),
            (
                "lakegate_plan_cache_hits_total",
                "Tickets redeemed with their cached plan.",
                self.plan_cache_hits.load(Ordering::Relaxed),
            ),
            (
                "lakegate_plan_cache_misses_total",
                "Tickets whose plan had to be made again.",
                self.plan_cache_misses.load(Ordering::Relaxed),
            ),
            (
                "lakegate_upstream_errors_total",
                "Calls to the upstream engine that failed.",
                self.upstream_errors.load(Ordering::Relaxed),
            ),
            (
                "lakegate_audit_write_failures_total",
                "Audit lines that could not be written.",
                self.audit_failures.load(Ordering::Relaxed),
            ),
            (
                "lakegate_limit_refusals_total",
                "Statements refused or cancelled by a resource limit.",
                self.limit_refusals.load(Ordering::Relaxed),
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        }
        out
    }
}
