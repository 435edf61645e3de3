//! Planning a statement for a caller: the rewrite against one catalog
//! snapshot (effective access decided once per caller, table and version),
//! the backend's plan (the embedded engine's physical plan, or the
//! upstream's tickets and schema), prepared statements (rewritten once),
//! and the cache of plans kept for their tickets.

use super::*;

/// A statement planned for one caller on one catalog version, kept (within
/// the plan cache's bounds) for the tickets that redeem it.
pub(super) struct Plan {
    /// [`caller_fingerprint`] of the caller it was planned for.
    pub(super) caller: String,
    pub(super) version: u64,
    pub(super) rewritten: Arc<Rewritten>,
    pub(super) created: Instant,
    /// When the plan may no longer be used: its TTL, or the expiry of the
    /// token that made it, whichever is earlier.
    pub(super) expires: Instant,
    /// Upstream tickets, one per endpoint (sidecar only).
    pub(super) upstream: Vec<Ticket>,
    pub(super) schema: SchemaRef,
    /// The embedded engine's prepared query, run by the first DoGet.
    pub(super) prepared: Mutex<Option<lakegate_engine::Query>>,
    /// Whether a prepared statement's first execution took this plan's
    /// upstream tickets and prepared query (see `FlightProxy::prepared_plan`).
    pub(super) issued: AtomicBool,
}

impl Plan {
    /// A new plan for the same rewritten statement, with these backend parts.
    pub(super) fn sibling(
        &self,
        upstream: Vec<Ticket>,
        prepared: Option<lakegate_engine::Query>,
    ) -> Plan {
        let created = Instant::now();
        Plan {
            caller: self.caller.clone(),
            version: self.version,
            rewritten: self.rewritten.clone(),
            created,
            expires: self.expires,
            upstream,
            schema: self.schema.clone(),
            prepared: Mutex::new(prepared),
            issued: AtomicBool::new(false),
        }
    }

    /// What keeping this plan costs, estimated: [`PLAN_OVERHEAD_BYTES`],
    /// plus sixteen times the rewritten SQL (the text, the rewritten AST kept
    /// for the embedded engine, and the planned form the engine keeps, all of
    /// which grow with it), plus the result
    /// schema (field names and 64 bytes per field), plus upstream tickets.
    pub(super) fn estimated_bytes(&self) -> usize {
        let sql = self
            .rewritten
            .sql
            .len()
            .max(self.rewritten.source_len)
            .saturating_mul(16);
        let schema: usize = self
            .schema
            .fields()
            .iter()
            .map(|f| f.name().len().saturating_add(64))
            .sum();
        let tickets: usize = self.upstream.iter().map(|t| t.ticket.len()).sum();
        PLAN_OVERHEAD_BYTES
            .saturating_add(sql)
            .saturating_add(schema)
            .saturating_add(tickets)
    }
}

pub(super) struct SnapResolver<'a> {
    pub(super) snap: &'a Snapshot,
    pub(super) caller: &'a Caller,
}

impl TableResolver for SnapResolver<'_> {
    fn access(&self, table: &TableName) -> policy_engine::Result<TableAccess> {
        // Decided once per (caller, table) on this snapshot.
        let decided = self.snap.table_access(self.caller, table)?;
        Ok(TableAccess::clone(&decided))
    }
}

pub(super) fn random_id() -> String {
    let b: [u8; 16] = rand::random();
    hex::encode(b)
}

impl FlightProxy {
    pub(super) fn secured(&self, rw: &Rewritten) -> Vec<SecuredTable> {
        rw.tables
            .iter()
            .map(|t| SecuredTable {
                name: t.physical.clone(),
                access: t.access.clone(),
                hash_key: self.hash_key.clone(),
            })
            .collect()
    }

    /// Rewrites `sql` for `caller` against the current snapshot and plans it
    /// on the backend (computing the result schema).
    pub(super) async fn plan(&self, caller: &Caller, sql: &str) -> Result<Plan, Status> {
        let snap = self.snapshot().await?;
        let mut opts = RewriteOptions::new(caller.account().clone());
        opts.placement = self.backend.placement();
        // The embedded engine plans the AST; the audit writer prints it.
        opts.print_secured = false;
        let rewritten = rewrite::rewrite(
            sql,
            &opts,
            &SnapResolver {
                snap: &snap,
                caller,
            },
        )
        .map_err(from_error)?;
        self.plan_rewritten(caller, &snap, Arc::new(rewritten))
            .await
    }

    /// Plans an already rewritten statement on the backend: the engine's
    /// physical plan (embedded) or the upstream's tickets and schema.
    pub(super) async fn plan_rewritten(
        &self,
        caller: &Caller,
        snap: &Snapshot,
        rewritten: Arc<Rewritten>,
    ) -> Result<Plan, Status> {
        let Planned {
            schema,
            tickets: upstream,
            query: prepared,
        } = self
            .backend
            .plan(snap, &rewritten, &self.secured(&rewritten))
            .await?;
        let created = Instant::now();
        Ok(Plan {
            caller: caller_fingerprint(caller),
            version: snap.catalog.version,
            rewritten,
            created,
            expires: created + PLAN_TTL,
            upstream,
            schema,
            prepared: Mutex::new(prepared),
            issued: AtomicBool::new(false),
        })
    }

    /// The plan for one execution of a prepared statement whose handle names
    /// `prep_id`, cached under a new id for the tickets that run it. The
    /// statement was authorized, rewritten and planned when it was prepared;
    /// while that plan is cached for this caller and catalog version, its
    /// first execution takes the backend plan made then, and later ones plan
    /// its rewritten form on the backend again: it is never rewritten again.
    /// Otherwise (evicted, or the catalog changed) the SQL is planned from
    /// scratch.
    pub(super) async fn prepared_plan(
        &self,
        caller: &Caller,
        token_exp: u64,
        prep_id: &str,
        sql: &str,
    ) -> Result<(String, Arc<Plan>), Status> {
        let snap = self.snapshot().await?;
        let fingerprint = caller_fingerprint(caller);
        let ok = |p: &Plan| p.caller == fingerprint && p.version == snap.catalog.version;
        let planned = match self.plans.get(prep_id, ok) {
            Some(p) => {
                let first = !p.issued.swap(true, Ordering::AcqRel);
                let query = if first {
                    p.prepared.lock().ok().and_then(|mut q| q.take())
                } else {
                    None
                };
                match &self.backend {
                    Backend::Embedded(_) if query.is_some() => p.sibling(Vec::new(), query),
                    Backend::Upstream(_) if first => p.sibling(p.upstream.clone(), None),
                    _ => {
                        self.bounded(self.plan_rewritten(caller, &snap, p.rewritten.clone()))
                            .await?
                    }
                }
            }
            None => self.plan_bounded(caller, sql).await?,
        };
        Ok(self.remember(planned, caller, token_exp))
    }

    /// Caches `plan` under a new id until its TTL or `token_exp` (seconds
    /// since the epoch), whichever comes first, within the principal's and
    /// the total bounds (see [`crate::plan_cache`]).
    pub(super) fn remember(
        &self,
        mut plan: Plan,
        caller: &Caller,
        token_exp: u64,
    ) -> (String, Arc<Plan>) {
        let id = random_id();
        let left = Duration::from_secs(token_exp.saturating_sub(crate::flight_tickets::now()));
        if let Some(token_end) = plan.created.checked_add(left) {
            plan.expires = plan.expires.min(token_end);
        }
        let bytes = plan.estimated_bytes();
        let expires = plan.expires;
        let plan = Arc::new(plan);
        self.plans.insert(
            id.clone(),
            &caller.principal.to_string(),
            bytes,
            expires,
            plan.clone(),
        );
        (id, plan)
    }

    /// Takes (the ticket is being redeemed) the plan cached under `id` if it
    /// was made for exactly this caller (principal, groups and attributes),
    /// under catalog `version`, and has not expired. A plan that serves
    /// several upstream endpoints stays until it expires.
    pub(super) fn cached(&self, id: &str, caller: &str, version: u64) -> Option<Arc<Plan>> {
        let ok = |p: &Plan| p.caller == caller && p.version == version;
        let p = self.plans.get(id, ok);
        crate::metrics::metrics().plan_cache(p.is_some());
        let p = p?;
        if p.upstream.len() <= 1 {
            self.plans.remove(id);
        }
        Some(p)
    }

    /// Drops the plan cached under `id`, if any.
    pub(super) fn forget(&self, id: &str) {
        self.plans.remove(id);
    }

    /// [`FlightProxy::plan`] within the statement timeout.
    pub(super) async fn plan_bounded(&self, caller: &Caller, sql: &str) -> Result<Plan, Status> {
        self.bounded(self.plan(caller, sql)).await
    }

    /// Planning within the statement timeout (DEADLINE_EXCEEDED past it).
    async fn bounded(
        &self,
        planning: impl std::future::Future<Output = Result<Plan, Status>>,
    ) -> Result<Plan, Status> {
        let t = self.limits.statement_timeout;
        tokio::time::timeout(t, planning)
            .await
            .unwrap_or_else(|_| Err(deadline_status(t)))
    }
}
