//! The governance service: every admin operation of DESIGN §5 as a plain Rust
//! call, authorized against the current catalog version and committed in one
//! store transaction.
//!
//! Each operation reads a snapshot, checks the caller's rights and the input
//! against it, and commits its changes only if the store is still at that
//! snapshot's version (retrying on conflict). A decision therefore never mixes
//! two versions, and a concurrent change on another node cannot slip between
//! the check and the write.
//!
//! This file holds the service itself: the store, the current [`Snapshot`],
//! the commit loop and the authorization helpers every operation uses. The
//! operations live beside it, one concept per file, each an `impl Governance`
//! block:
//!
//! ```text
//! governance.rs                 Governance, Snapshot, mutate (read, check, commit, retry)
//! governance/visibility.rs      what a caller may see; hidden = not found (§3 rules 3, 12)
//! governance/catalog_admin.rs   databases, tables, data locations
//! governance/resources.rs       ResourceSpec → Resource (the CLI's resource flags)
//! governance/permissions.rs     grant, revoke, permissions list
//! ```
//!
//! The other admin operations are modules of their own, for the same reason:
//! [`crate::grants`] (the grant option), [`crate::filters`] (data cells
//! filters), [`crate::lftags`] (LF-tags), [`crate::policies`] (policy-as-code)
//! and [`crate::explain`].

mod catalog_admin;
mod crawl;
mod ingest;
mod links;
mod permissions;
mod received;
mod resources;
pub(crate) mod share_filters;
mod share_tags;
mod shares;
mod visibility;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use crate::access::{self, TableAccess};
use crate::authorize::{Authorizer, Decision, PrincipalCtx, Target};
use crate::catalog::{Catalog, Change};
use crate::compile::{CompileCache, Compiled};
use crate::error::{Error, Result};
use crate::model::{AccountId, Caller, Permission, Principal, Resource, TableName};

pub use catalog_admin::NewTable;
pub use crawl::CrawlAction;
pub use permissions::{
    GrantRequest, PermissionEntry, PermissionFilter, RevokeOutcome, merge_columns, subtract_columns,
};
pub use resources::ResourceSpec;

/// One catalog version with its compiled policies.
#[derive(Debug)]
pub struct Snapshot {
    /// The state.
    pub catalog: Catalog,
    /// Its Cedar policies, indexed.
    pub compiled: Compiled,
    /// Effective access already decided on this version (DESIGN §6: decided
    /// once per caller, table and version). It dies with the snapshot, so a
    /// new catalog version never sees an entry of an older one.
    access: AccessCache,
}

/// Bound on cached effective-access decisions per snapshot; when full, the
/// cache starts over (decisions are recomputed, never wrong).
pub const ACCESS_CACHE_ENTRIES: usize = 4096;

/// Decisions by caller (the whole caller: principal, groups, attributes; its
/// account is the principal's), then by table. Nested so that a hit needs
/// no key to be built.
#[derive(Debug, Default)]
struct AccessCache(Mutex<AccessEntries>);

#[derive(Debug, Default)]
struct AccessEntries {
    by_caller: HashMap<Caller, HashMap<TableName, Arc<TableAccess>>>,
    len: usize,
}

impl Snapshot {
    /// A snapshot of `catalog` with its compiled policies.
    pub fn new(catalog: Catalog, compiled: Compiled) -> Self {
        Self {
            catalog,
            compiled,
            access: AccessCache::default(),
        }
    }

    /// Effective access of `caller` on `table` in its own account, decided
    /// on this snapshot (what the rewrite asks for every table a query
    /// reads). Decided once per (caller, table) on a snapshot, then shared;
    /// the caller key is the whole caller (principal, groups, attributes).
    /// Denials are not cached.
    pub fn table_access(&self, caller: &Caller, table: &TableName) -> Result<Arc<TableAccess>> {
        if let Ok(cache) = self.access.0.lock()
            && let Some(hit) = cache.by_caller.get(caller).and_then(|t| t.get(table))
        {
            return Ok(hit.clone());
        }
        let decided = Arc::new(access::effective_access(
            &self.catalog,
            &self.compiled,
            caller,
            caller.account(),
            table,
        )?);
        if let Ok(mut cache) = self.access.0.lock() {
            if cache.len >= ACCESS_CACHE_ENTRIES {
                *cache = AccessEntries::default();
            }
            let tables = cache.by_caller.entry(caller.clone()).or_default();
            if tables.insert(table.clone(), decided.clone()).is_none() {
                cache.len += 1;
            }
        }
        Ok(decided)
    }
}

struct State {
    snap: Arc<Snapshot>,
    cache: CompileCache,
}

/// The governance service over one store.
pub struct Governance {
    store: Arc<dyn crate::store::Store>,
    state: Mutex<State>,
}

/// Attempts of one admin command against writers on other nodes (or
/// threads) before it fails with [`Error::Conflict`].
const MAX_RETRIES: u32 = 16;

/// Waits a random time, up to 2^attempt ms (at most 64 ms), after a lost
/// commit race, so that writers that collided do not collide again in step.
fn backoff(attempt: u32) {
    let cap_ms = 1u64 << attempt.min(6);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    // The clock's low bits are jitter enough to break the lockstep.
    let wait_us = u64::from(nanos) % (cap_ms * 1000 + 1);
    std::thread::sleep(std::time::Duration::from_micros(wait_us));
}

/// Stable grant id: one grant per (account, principal, merge key).
pub(crate) fn grant_id(account: &AccountId, principal: &Principal, resource: &Resource) -> String {
    let mut h = Sha256::new();
    h.update(account.as_str());
    h.update([0]);
    h.update(principal.to_string());
    h.update([0]);
    h.update(resource.merge_key());
    let d = h.finalize();
    format!("g{}", hex::encode(d.get(..8).unwrap_or_default()))
}

impl Governance {
    /// Opens the service over a store, reading its current version.
    pub fn new(store: Arc<dyn crate::store::Store>) -> Result<Self> {
        let mut cache = CompileCache::default();
        let catalog = store.load()?;
        let compiled = Compiled::build(&catalog, &mut cache)?;
        Ok(Self {
            store,
            state: Mutex::new(State {
                snap: Arc::new(Snapshot::new(catalog, compiled)),
                cache,
            }),
        })
    }

    /// The current snapshot: reloaded if the store moved on. If the store
    /// cannot be read, this fails and every request is denied.
    pub fn snapshot(&self) -> Result<Arc<Snapshot>> {
        let v = self.store.version()?;
        let mut st = self
            .state
            .lock()
            .map_err(|_| Error::internal("governance state lock poisoned"))?;
        if st.snap.catalog.version != v {
            let catalog = self.store.load()?;
            let compiled = Compiled::build(&catalog, &mut st.cache)?;
            st.snap = Arc::new(Snapshot::new(catalog, compiled));
        }
        Ok(st.snap.clone())
    }

    /// Runs `f` against a fresh snapshot and commits its changes, retrying
    /// if another writer got in between.
    pub(crate) fn mutate<T>(
        &self,
        mut f: impl FnMut(&Snapshot) -> Result<(Vec<Change>, T)>,
    ) -> Result<T> {
        for attempt in 0..MAX_RETRIES {
            let snap = self.snapshot()?;
            let (changes, out) = f(&snap)?;
            if changes.is_empty() {
                return Ok(out);
            }
            match self.store.commit(snap.catalog.version, &changes) {
                Ok(_) => return Ok(out),
                Err(Error::Conflict) => backoff(attempt),
                Err(e) => return Err(e),
            }
        }
        Err(Error::Conflict)
    }

    /// Commits `changes` if the store is still at `version` (no retry:
    /// the changes were decided on that version).
    pub(crate) fn commit_at(&self, version: u64, changes: &[Change]) -> Result<u64> {
        self.store.commit(version, changes)
    }

    /// Makes `admins` data lake admins of `account` (idempotent).
    pub fn bootstrap(&self, account: &AccountId, admins: &[Principal]) -> Result<()> {
        for a in admins {
            if a.account() != account || a.kind().is_none() {
                return Err(Error::invalid(format!(
                    "admin `{a}` must be a user, role or group of account `{account}`"
                )));
            }
        }
        self.mutate(|snap| {
            let changes = admins
                .iter()
                .filter(|a| !snap.catalog.is_admin(account, a))
                .map(|a| Change::PutAdmin {
                    account: account.clone(),
                    principal: (*a).clone(),
                })
                .collect();
            Ok((changes, ()))
        })
    }

    /// Whether the caller (or one of its groups) is a data lake admin of its account.
    pub fn is_admin(&self, snap: &Snapshot, caller: &Caller) -> bool {
        let a = caller.account();
        snap.catalog.is_admin(a, &caller.principal)
            || caller.groups.iter().any(|g| snap.catalog.is_admin(a, g))
    }

    /// Decides one permission of the caller on a target.
    pub fn authorize(
        &self,
        snap: &Snapshot,
        caller: &Caller,
        permission: Permission,
        target: &Target,
    ) -> Result<Decision> {
        let authz = Authorizer::new(&snap.catalog, &snap.compiled);
        let p = PrincipalCtx::new(caller)?;
        authz.decide(&p, permission.as_str(), target)
    }

    /// Effective access of the caller on `DB.TABLE` in its own account.
    pub fn effective_access(&self, caller: &Caller, table: &TableName) -> Result<TableAccess> {
        let decided = self.snapshot()?.table_access(caller, table)?;
        Ok(TableAccess::clone(&decided))
    }

    /// Effective access of `caller` on table `table` of account `owner`:
    /// its own account's, or another account's table shared with it, which
    /// is the share intersected with the caller's own grants (DESIGN §3
    /// rule 6). A table not shared with the caller's account is reported
    /// exactly like one that does not exist.
    pub fn effective_access_in(
        &self,
        caller: &Caller,
        owner: &AccountId,
        table: &TableName,
    ) -> Result<TableAccess> {
        if owner == caller.account() {
            return self.effective_access(caller, table);
        }
        let snap = self.snapshot()?;
        access::effective_access(&snap.catalog, &snap.compiled, caller, owner, table)
    }

    /// [`Governance::authorize`], turned into a PERMISSION_DENIED error that
    /// names `what` when the permission is missing.
    pub(crate) fn require(
        &self,
        snap: &Snapshot,
        caller: &Caller,
        permission: Permission,
        target: &Target,
        what: &str,
    ) -> Result<()> {
        let d = self.authorize(snap, caller, permission, target)?;
        if d.allowed {
            Ok(())
        } else {
            Err(Error::denied(format!(
                "`{}` lacks {permission} on {what}; ask a data lake admin to grant it",
                caller.principal
            )))
        }
    }
}
