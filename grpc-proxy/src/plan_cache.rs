//! The plans kept for tickets (DESIGN §4 "Bounded"), bounded by bytes per
//! principal and in total.
//!
//! A GetFlightInfo plans the statement and keeps the plan for the DoGet
//! that redeems its ticket. A plan is only an optimisation: a ticket whose
//! plan is gone is planned again from the SQL sealed in it. So the cache may
//! drop plans at will, and it does:
//!
//! - a plan expires at its TTL or when the token that made it expires,
//!   whichever is first; expired plans go first when room is needed;
//! - a principal over its quota loses its *own* oldest plans, so one
//!   principal (even one without grants) cannot push out everyone else's;
//! - when the total is over its bound, the oldest plans go, whoever owns them;
//! - a plan larger than a principal's quota is not kept at all;
//! - a plan is dropped when its ticket is redeemed.
//!
//! Sizes are estimates supplied by the caller (see `Plan::estimated_bytes`
//! in the Flight module), so every entry costs at least its fixed overhead.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Default bound on all cached plans: 256 MiB.
pub const DEFAULT_MAX_PLAN_CACHE_BYTES: usize = 256 << 20;
/// Default bound on one principal's cached plans: 32 MiB.
pub const DEFAULT_MAX_PLAN_CACHE_BYTES_PER_PRINCIPAL: usize = 32 << 20;

/// The cache's bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlanCacheLimits {
    /// Bytes all plans together may take.
    pub max_bytes: usize,
    /// Bytes one principal's plans may take.
    pub max_bytes_per_principal: usize,
}

impl Default for PlanCacheLimits {
    fn default() -> Self {
        Self {
            max_bytes: DEFAULT_MAX_PLAN_CACHE_BYTES,
            max_bytes_per_principal: DEFAULT_MAX_PLAN_CACHE_BYTES_PER_PRINCIPAL,
        }
    }
}

struct Entry<P> {
    value: Arc<P>,
    owner: String,
    bytes: usize,
    expires: Instant,
    seq: u64,
}

#[derive(Default)]
struct Owner {
    bytes: usize,
    /// Sequence numbers of the owner's entries, oldest first.
    seqs: BTreeSet<u64>,
}

struct Inner<P> {
    entries: HashMap<String, Entry<P>>,
    /// Every entry by age: sequence number → id.
    by_age: BTreeMap<u64, String>,
    /// Every entry by expiry.
    by_expiry: BTreeSet<(Instant, u64)>,
    owners: HashMap<String, Owner>,
    total: usize,
    next: u64,
}

/// Plans by id, bounded by bytes per owner (principal) and in total.
pub struct PlanCache<P> {
    limits: PlanCacheLimits,
    inner: Mutex<Inner<P>>,
}

impl<P> std::fmt::Debug for PlanCache<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (n, bytes) = self.usage();
        f.debug_struct("PlanCache")
            .field("limits", &self.limits)
            .field("plans", &n)
            .field("bytes", &bytes)
            .finish()
    }
}

impl<P> Inner<P> {
    fn remove(&mut self, id: &str) -> Option<Entry<P>> {
        let e = self.entries.remove(id)?;
        self.by_age.remove(&e.seq);
        self.by_expiry.remove(&(e.expires, e.seq));
        if let Some(o) = self.owners.get_mut(&e.owner) {
            o.bytes = o.bytes.saturating_sub(e.bytes);
            o.seqs.remove(&e.seq);
            if o.seqs.is_empty() {
                self.owners.remove(&e.owner);
            }
        }
        self.total = self.total.saturating_sub(e.bytes);
        Some(e)
    }

    fn remove_seq(&mut self, seq: u64) {
        if let Some(id) = self.by_age.get(&seq).cloned() {
            self.remove(&id);
        }
    }

    /// Drops every expired entry.
    fn purge_expired(&mut self, now: Instant) {
        while let Some(&(at, seq)) = self.by_expiry.first() {
            if at > now {
                break;
            }
            self.by_expiry.remove(&(at, seq));
            self.remove_seq(seq);
        }
    }

    fn owner_bytes(&self, owner: &str) -> usize {
        self.owners.get(owner).map_or(0, |o| o.bytes)
    }
}

impl<P> PlanCache<P> {
    /// An empty cache with these bounds.
    pub fn new(limits: PlanCacheLimits) -> Self {
        Self {
            limits,
            inner: Mutex::new(Inner {
                entries: HashMap::new(),
                by_age: BTreeMap::new(),
                by_expiry: BTreeSet::new(),
                owners: HashMap::new(),
                total: 0,
                next: 0,
            }),
        }
    }

    /// The cache's bounds.
    pub fn limits(&self) -> PlanCacheLimits {
        self.limits
    }

    /// Keeps `value` under `id` for `owner` until `expires`, making room
    /// first (expired plans, then the owner's oldest, then the oldest of
    /// all). Returns `false` if the plan is larger than an owner's quota or
    /// the total and so is not kept (its ticket will be planned again).
    pub fn insert(
        &self,
        id: String,
        owner: &str,
        bytes: usize,
        expires: Instant,
        value: Arc<P>,
    ) -> bool {
        if bytes > self.limits.max_bytes_per_principal || bytes > self.limits.max_bytes {
            return false;
        }
        let Ok(mut inner) = self.inner.lock() else {
            return false;
        };
        let now = Instant::now();
        if inner.owner_bytes(owner).saturating_add(bytes) > self.limits.max_bytes_per_principal
            || inner.total.saturating_add(bytes) > self.limits.max_bytes
        {
            inner.purge_expired(now);
        }
        while inner.owner_bytes(owner).saturating_add(bytes) > self.limits.max_bytes_per_principal {
            let Some(seq) = inner
                .owners
                .get(owner)
                .and_then(|o| o.seqs.first().copied())
            else {
                break;
            };
            inner.remove_seq(seq);
        }
        while inner.total.saturating_add(bytes) > self.limits.max_bytes {
            let Some(seq) = inner.by_age.keys().next().copied() else {
                break;
            };
            inner.remove_seq(seq);
        }
        inner.remove(&id);
        let seq = inner.next;
        inner.next = inner.next.wrapping_add(1);
        inner.by_age.insert(seq, id.clone());
        inner.by_expiry.insert((expires, seq));
        let o = inner.owners.entry(owner.to_string()).or_default();
        o.bytes = o.bytes.saturating_add(bytes);
        o.seqs.insert(seq);
        inner.total = inner.total.saturating_add(bytes);
        inner.entries.insert(
            id,
            Entry {
                value,
                owner: owner.to_string(),
                bytes,
                expires,
                seq,
            },
        );
        true
    }

    /// The plan under `id` if it has not expired and `accept` accepts it;
    /// an expired plan is dropped.
    pub fn get(&self, id: &str, accept: impl FnOnce(&P) -> bool) -> Option<Arc<P>> {
        let mut inner = self.inner.lock().ok()?;
        let expired = inner.entries.get(id)?.expires <= Instant::now();
        if expired {
            inner.remove(id);
            return None;
        }
        let v = &inner.entries.get(id)?.value;
        accept(v).then(|| Arc::clone(v))
    }

    /// Like [`PlanCache::get`], and drops the plan (its ticket is redeemed).
    /// A plan `accept` refuses stays.
    pub fn take(&self, id: &str, accept: impl FnOnce(&P) -> bool) -> Option<Arc<P>> {
        let mut inner = self.inner.lock().ok()?;
        let e = inner.entries.get(id)?;
        if e.expires <= Instant::now() {
            inner.remove(id);
            return None;
        }
        if !accept(&e.value) {
            return None;
        }
        inner.remove(id).map(|e| e.value)
    }

    /// Drops the plan under `id`, if any.
    pub fn remove(&self, id: &str) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.remove(id);
        }
    }

    /// How many plans are kept and their estimated bytes.
    pub fn usage(&self) -> (usize, usize) {
        self.inner
            .lock()
            .map(|i| (i.entries.len(), i.total))
            .unwrap_or((0, 0))
    }

    /// The estimated bytes of `owner`'s plans.
    pub fn owner_usage(&self, owner: &str) -> usize {
        self.inner.lock().map(|i| i.owner_bytes(owner)).unwrap_or(0)
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
    use std::time::Duration;

    fn cache(total: usize, per: usize) -> PlanCache<u32> {
        PlanCache::new(PlanCacheLimits {
            max_bytes: total,
            max_bytes_per_principal: per,
        })
    }

    fn later() -> Instant {
        Instant::now() + Duration::from_secs(60)
    }

    #[test]
    fn plan_cache_bounded_by_bytes_per_principal_evicts_own_oldest() {
        let c = cache(1000, 300);
        assert!(c.insert("b1".into(), "bob", 100, later(), Arc::new(0)));
        for i in 0..10 {
            assert!(c.insert(format!("a{i}"), "alice", 100, later(), Arc::new(i)));
            assert!(c.owner_usage("alice") <= 300);
        }
        // Alice keeps her three newest; Bob's plan survives.
        assert!(c.get("a9", |_| true).is_some());
        assert!(c.get("a7", |_| true).is_some());
        assert!(c.get("a6", |_| true).is_none());
        assert!(c.get("b1", |_| true).is_some());
        assert_eq!(c.usage(), (4, 400));
    }

    #[test]
    fn plan_cache_bounded_by_bytes_in_total_and_refuses_oversized() {
        let c = cache(300, 200);
        for (i, who) in ["a", "b", "c", "d"].iter().enumerate() {
            assert!(c.insert(format!("p{i}"), who, 100, later(), Arc::new(0)));
            assert!(c.usage().1 <= 300);
        }
        assert!(c.get("p0", |_| true).is_none());
        assert!(!c.insert("big".into(), "a", 201, later(), Arc::new(0)));
        assert_eq!(c.usage(), (3, 300));
    }

    #[test]
    fn plan_cache_expired_first_take_and_accept() {
        let c = cache(300, 300);
        let past = Instant::now();
        assert!(c.insert("old".into(), "a", 100, past, Arc::new(1)));
        assert!(c.insert("x".into(), "a", 100, later(), Arc::new(2)));
        assert!(c.insert("y".into(), "a", 100, later(), Arc::new(3)));
        // Full: the expired one goes first, not the oldest live one.
        assert!(c.insert("z".into(), "a", 100, later(), Arc::new(4)));
        assert!(c.get("x", |_| true).is_some());
        assert!(c.get("old", |_| true).is_none());
        // A refused plan stays; a taken one is gone.
        assert!(c.take("x", |v| *v == 99).is_none());
        assert!(c.take("x", |v| *v == 2).is_some());
        assert!(c.get("x", |_| true).is_none());
        c.remove("y");
        assert_eq!(c.usage(), (1, 100));
    }
}
