//! The Flight SQL proxy (DESIGN §4): authenticates each call, classifies and
//! rewrites every statement with the caller's effective access, runs it on the
//! embedded engine or forwards it to the upstream, and filters metadata.
//!
//! ```text
//!  client ─GetFlightInfo(sql)─▶ authenticate ─▶ snapshot ─▶ rewrite(sql, access per table)
//!                                 │                            │
//!                                 │            plan cached under a sealed ticket (caller, exp, sql)
//!  client ◀──── FlightInfo{ticket → this proxy} ◀──────────────┘
//!  client ─DoGet(ticket)─▶ open seal (same caller?) ─▶ plan still current? else re-plan
//!                          ─▶ embedded: execute in-process, encode once
//!                          ─▶ upstream: DoGet there, pass frames through untouched
//! ```
//!
//! We re-check the catalog version at DoGet because a revoke between
//! GetFlightInfo and DoGet must take effect; a plan is only reused for the
//! exact catalog version it was made under.

mod stream;

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use stream::RowCounter;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_client::FlightServiceClient;
use arrow_flight::sql::metadata::{SqlInfoData, SqlInfoDataBuilder, XdbcTypeInfoDataBuilder};
use arrow_flight::sql::server::FlightSqlService;
use arrow_flight::sql::{
    ActionBeginSavepointRequest, ActionBeginSavepointResult, ActionBeginTransactionRequest,
    ActionBeginTransactionResult, ActionCancelQueryRequest, ActionCancelQueryResult,
    ActionClosePreparedStatementRequest, ActionCreatePreparedStatementRequest,
    ActionCreatePreparedStatementResult, ActionCreatePreparedSubstraitPlanRequest,
    ActionEndSavepointRequest, ActionEndTransactionRequest, Any, CommandGetCatalogs,
    CommandGetCrossReference, CommandGetDbSchemas, CommandGetExportedKeys, CommandGetImportedKeys,
    CommandGetPrimaryKeys, CommandGetSqlInfo, CommandGetTableTypes, CommandGetTables,
    CommandGetXdbcTypeInfo, CommandPreparedStatementQuery, CommandPreparedStatementUpdate,
    CommandStatementIngest, CommandStatementQuery, CommandStatementSubstraitPlan,
    CommandStatementUpdate, DoPutPreparedStatementResult, ProstMessageExt, SqlInfo,
    TicketStatementQuery,
};
use arrow_flight::{
    Action, FlightData, FlightDescriptor, FlightEndpoint, FlightInfo, HandshakeRequest,
    HandshakeResponse, IpcMessage, SchemaAsIpc, Ticket, flight_service_server::FlightService,
};
use futures::{Stream, TryStreamExt};
use lakegate_engine::{Engine, SecuredTable};
use policy_engine::governance::Snapshot;
use policy_engine::model::TableName;
use policy_engine::rewrite::{self, Placement, RewriteOptions, Rewritten, TableResolver};
use policy_engine::{Caller, Governance, TableAccess};
use prost::Message;
use sha2::{Digest, Sha256};
use tonic::transport::Channel;
use tonic::{Request, Response, Status, Streaming};

use crate::audit::{AuditLog, AuditRecord};
use crate::auth::Authenticator;
use crate::flight_tickets::{Sealed, Sealer, caller_fingerprint};
use crate::plan_cache::{PlanCache, PlanCacheLimits};
use crate::status::{ProxyError, from_error, status};

/// How long tickets and prepared-statement handles stay valid.
pub const TICKET_TTL_SECS: u64 = 15 * 60;
/// How long a plan stays cached for its ticket.
const PLAN_TTL: Duration = Duration::from_secs(5 * 60);
/// Fixed part of a cached plan's estimated size: the plan's structs, the
/// embedded engine's per-statement session (configuration, function
/// registry handles) and the secured-table list.
pub const PLAN_OVERHEAD_BYTES: usize = 16 * 1024;
/// Default statement timeout (`--statement-timeout`).
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = lakegate_engine::limits::DEFAULT_STATEMENT_TIMEOUT;

/// The proxy's bounds (DESIGN §4 "Bounded").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProxyLimits {
    /// How long planning a statement, and then running it, may each take.
    pub statement_timeout: Duration,
    /// Bounds on the plans kept for tickets.
    pub plan_cache: PlanCacheLimits,
}

impl Default for ProxyLimits {
    fn default() -> Self {
        Self {
            statement_timeout: DEFAULT_STATEMENT_TIMEOUT,
            plan_cache: PlanCacheLimits::default(),
        }
    }
}

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// Where statements run.
#[derive(Clone)]
pub enum Backend {
    /// The embedded DataFusion engine, in process; filters and masks are
    /// applied inside its scans.
    Embedded(Arc<Engine>),
    /// An external Flight SQL server; the rewritten SQL carries the filters
    /// and masks inline.
    Upstream(Channel),
}

struct Plan {
    /// [`caller_fingerprint`] of the caller it was planned for.
    caller: String,
    version: u64,
    rewritten: Arc<Rewritten>,
    created: Instant,
    /// When the plan may no longer be used: its TTL, or the expiry of the
    /// token that made it, whichever is earlier.
    expires: Instant,
    /// Upstream tickets, one per endpoint (sidecar only).
    upstream: Vec<Ticket>,
    schema: SchemaRef,
    /// The embedded engine's prepared query, run by the first DoGet.
    prepared: Mutex<Option<lakegate_engine::Query>>,
    /// Whether a prepared statement's first execution took this plan's
    /// upstream tickets and prepared query (see `FlightProxy::prepared_plan`).
    issued: AtomicBool,
}

impl Plan {
    /// A new plan for the same rewritten statement, with these backend parts.
    fn sibling(&self, upstream: Vec<Ticket>, prepared: Option<lakegate_engine::Query>) -> Plan {
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
    fn estimated_bytes(&self) -> usize {
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

/// Client certificates that authenticate as principals (mTLS): SHA-256 of
/// the certificate's DER (lower-case hex) → the caller it stands for.
#[derive(Clone, Debug, Default)]
pub struct ClientCerts {
    by_fingerprint: HashMap<String, Caller>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CertEntry {
    principal: String,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    attrs: std::collections::BTreeMap<String, String>,
}

impl ClientCerts {
    /// Parses `{"<sha256 hex>": {"principal": "ACCOUNT:user/NAME", "groups": [...], "attrs": {...}}}`.
    pub fn parse(json: &str) -> Result<Self, String> {
        let raw: HashMap<String, CertEntry> =
            serde_json::from_str(json).map_err(|e| format!("not a certificate map: {e}"))?;
        let mut by_fingerprint = HashMap::new();
        for (fp, e) in raw {
            let fp = fp.to_ascii_lowercase().replace(':', "");
            if fp.len() != 64 || !fp.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!(
                    "`{fp}` is not a SHA-256 fingerprint (64 hex digits)"
                ));
            }
            let principal =
                policy_engine::Principal::parse(&e.principal).map_err(|x| x.to_string())?;
            let mut caller = Caller::new(principal);
            for g in &e.groups {
                let g = policy_engine::Principal::parse(g).map_err(|x| x.to_string())?;
                if !g.is_group() || g.account() != caller.account() {
                    return Err(format!("`{g}` is not a group of the principal's account"));
                }
                caller.groups.push(g);
            }
            caller.attrs = e.attrs;
            by_fingerprint.insert(fp, caller);
        }
        Ok(Self { by_fingerprint })
    }

    /// The caller a certificate (DER) maps to.
    pub fn caller(&self, der: &[u8]) -> Option<Caller> {
        self.by_fingerprint
            .get(&hex::encode(Sha256::digest(der)))
            .cloned()
    }
}

/// The Flight SQL service clients talk to.
pub struct FlightProxy {
    gov: Arc<Governance>,
    auth: Arc<Authenticator>,
    backend: Backend,
    sealer: Sealer,
    audit: AuditLog,
    hash_key: Vec<u8>,
    plans: PlanCache<Plan>,
    limits: ProxyLimits,
    sql_info: SqlInfoData,
    client_certs: ClientCerts,
}

struct SnapResolver<'a> {
    snap: &'a Snapshot,
    caller: &'a Caller,
}

impl TableResolver for SnapResolver<'_> {
    fn access(&self, table: &TableName) -> policy_engine::Result<TableAccess> {
        // Decided once per (caller, table) on this snapshot.
        let decided = self.snap.table_access(self.caller, table)?;
        Ok(TableAccess::clone(&decided))
    }
}

/// `p1 OR p2 OR …`, for the audit log.
fn join_or(ps: &[policy_engine::predicate::RowExpr]) -> String {
    ps.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" OR ")
}

fn random_id() -> String {
    let b: [u8; 16] = rand::random();
    hex::encode(b)
}

fn flight_err(e: FlightError) -> Status {
    match e {
        FlightError::Tonic(s) => *s,
        other => status(ProxyError::Internal(format!("encoding a result: {other}"))),
    }
}

/// Builds the SQL info the proxy reports.
fn sql_info() -> Result<SqlInfoData, Status> {
    let mut b = SqlInfoDataBuilder::new();
    b.append(SqlInfo::FlightSqlServerName, "lakegate");
    b.append(SqlInfo::FlightSqlServerVersion, env!("CARGO_PKG_VERSION"));
    b.append(SqlInfo::FlightSqlServerArrowVersion, "59");
    b.append(SqlInfo::FlightSqlServerReadOnly, true);
    b.append(SqlInfo::FlightSqlServerSql, true);
    b.append(SqlInfo::FlightSqlServerSubstrait, false);
    b.append(SqlInfo::FlightSqlServerTransaction, 0i32);
    b.append(SqlInfo::FlightSqlServerCancel, false);
    b.append(SqlInfo::SqlDdlCatalog, false);
    b.append(SqlInfo::SqlDdlSchema, false);
    b.append(SqlInfo::SqlDdlTable, false);
    b.append(SqlInfo::SqlIdentifierQuoteChar, "\"");
    b.build()
        .map_err(|e| status(ProxyError::Internal(format!("sql info: {e}"))))
}

impl FlightProxy {
    /// A proxy over the governance service, the authenticator and a backend.
    /// `signing_key` derives the ticket-sealing key; `hash_key` keys the
    /// `hash` mask.
    pub fn new(
        gov: Arc<Governance>,
        auth: Arc<Authenticator>,
        backend: Backend,
        signing_key: &[u8],
        hash_key: Vec<u8>,
        audit: AuditLog,
    ) -> Result<Self, Status> {
        Ok(Self {
            gov,
            auth,
            backend,
            sealer: Sealer::new(signing_key),
            audit,
            hash_key,
            plans: PlanCache::new(PlanCacheLimits::default()),
            limits: ProxyLimits::default(),
            sql_info: sql_info()?,
            client_certs: ClientCerts::default(),
        })
    }

    /// Enforces these bounds (plan cache, statement timeout).
    pub fn with_limits(mut self, limits: ProxyLimits) -> Self {
        self.plans = PlanCache::new(limits.plan_cache);
        self.limits = limits;
        self
    }

    /// How many plans are cached and their estimated bytes.
    pub fn plan_cache_usage(&self) -> (usize, usize) {
        self.plans.usage()
    }

    /// Accepts these client certificates as credentials (mTLS).
    pub fn with_client_certs(mut self, certs: ClientCerts) -> Self {
        self.client_certs = certs;
        self
    }

    /// A bearer token if one is sent; otherwise a client certificate listed
    /// in the certificate map; otherwise UNAUTHENTICATED.
    fn caller<T>(&self, req: &Request<T>) -> Result<Caller, Status> {
        if req.metadata().get("authorization").is_none()
            && let Some(certs) = req.peer_certs()
            && let Some(leaf) = certs.first()
        {
            return self.client_certs.caller(leaf.as_ref()).ok_or_else(|| {
                status(ProxyError::Unauthenticated(format!(
                    "client certificate {} is not mapped to a principal; add it to \
                     DATA_DIR/client-certs.json or send a bearer token",
                    hex::encode(Sha256::digest(leaf.as_ref()))
                )))
            });
        }
        self.auth.authenticate(req.metadata())
    }

    /// Like [`FlightProxy::caller`], also returning when the credential
    /// expires (seconds since the epoch): the token's `exp`, or the ticket
    /// TTL from now for a client certificate.
    fn authed<T>(&self, req: &Request<T>) -> Result<(Caller, u64), Status> {
        if req.metadata().get("authorization").is_none() && req.peer_certs().is_some() {
            let caller = self.caller(req)?;
            let exp = crate::flight_tickets::now().saturating_add(TICKET_TTL_SECS);
            return Ok((caller, exp));
        }
        let v = self.auth.authenticate_token(req.metadata())?;
        Ok((v.caller, v.exp))
    }

    fn snapshot(&self) -> Result<Arc<Snapshot>, Status> {
        self.gov.snapshot().map_err(from_error)
    }

    fn placement(&self) -> Placement {
        match self.backend {
            Backend::Embedded(_) => Placement::Secured,
            Backend::Upstream(_) => Placement::Inline,
        }
    }

    fn secured(&self, rw: &Rewritten) -> Vec<SecuredTable> {
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
    async fn plan(&self, caller: &Caller, sql: &str) -> Result<Plan, Status> {
        let snap = self.snapshot()?;
        let mut opts = RewriteOptions::new(caller.account().clone());
        opts.placement = self.placement();
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
    async fn plan_rewritten(
        &self,
        caller: &Caller,
        snap: &Snapshot,
        rewritten: Arc<Rewritten>,
    ) -> Result<Plan, Status> {
        let (schema, upstream, prepared) = match &self.backend {
            Backend::Embedded(engine) => {
                engine.refresh(&snap.catalog).map_err(engine_status)?;
                let q = engine
                    .prepare_secured(&rewritten.statement, &self.secured(&rewritten))
                    .await
                    .map_err(engine_status)?;
                (q.schema(), Vec::new(), Some(q))
            }
            Backend::Upstream(channel) => {
                // The plain Flight client, so the upstream's status code
                // reaches the error boundary intact.
                let cmd = CommandStatementQuery {
                    query: rewritten.sql.clone(),
                    transaction_id: None,
                };
                let descriptor = FlightDescriptor::new_cmd(cmd.as_any().encode_to_vec());
                let info = FlightServiceClient::new(channel.clone())
                    .get_flight_info(descriptor)
                    .await
                    .map_err(upstream_error)?
                    .into_inner();
                let schema: Schema = info.clone().try_decode_schema().map_err(|e| {
                    status(ProxyError::Internal(format!(
                        "the upstream's FlightInfo has no usable schema: {e}"
                    )))
                })?;
                let tickets = info
                    .endpoint
                    .into_iter()
                    .filter_map(|ep| ep.ticket)
                    .collect();
                (Arc::new(schema), tickets, None)
            }
        };
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
    async fn prepared_plan(
        &self,
        caller: &Caller,
        token_exp: u64,
        prep_id: &str,
        sql: &str,
    ) -> Result<(String, Arc<Plan>), Status> {
        let snap = self.snapshot()?;
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
                        let t = self.limits.statement_timeout;
                        let again = self.plan_rewritten(caller, &snap, p.rewritten.clone());
                        match tokio::time::timeout(t, again).await {
                            Ok(r) => r?,
                            Err(_) => return Err(deadline_status(t)),
                        }
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
    fn remember(&self, mut plan: Plan, caller: &Caller, token_exp: u64) -> (String, Arc<Plan>) {
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
    fn cached(&self, id: &str, caller: &str, version: u64) -> Option<Arc<Plan>> {
        let ok = |p: &Plan| p.caller == caller && p.version == version;
        let p = self.plans.get(id, ok)?;
        if p.upstream.len() <= 1 {
            self.plans.remove(id);
        }
        Some(p)
    }

    /// Drops the plan cached under `id`, if any.
    fn forget(&self, id: &str) {
        self.plans.remove(id);
    }

    /// [`FlightProxy::plan`] within the statement timeout.
    async fn plan_bounded(&self, caller: &Caller, sql: &str) -> Result<Plan, Status> {
        let t = self.limits.statement_timeout;
        match tokio::time::timeout(t, self.plan(caller, sql)).await {
            Ok(r) => r,
            Err(_) => Err(deadline_status(t)),
        }
    }

    fn audit_base(&self, caller: &Caller, op: &str, sql: Option<&str>) -> AuditRecord {
        AuditRecord {
            principal: caller.principal.to_string(),
            groups: caller.groups.iter().map(|g| g.to_string()).collect(),
            operation: op.into(),
            // Hashed by the audit writer, off the request path.
            statement_hash: None,
            statement: sql.map(String::from),
            ..Default::default()
        }
    }

    fn describe_plan(rec: &mut AuditRecord, rw: &Arc<Rewritten>) {
        for t in &rw.tables {
            let name = format!("{}.{}", t.access.account, t.access.table);
            rec.tables.push(name.clone());
            rec.columns.push(format!(
                "{name}: {}",
                t.access
                    .columns
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            if let policy_engine::RowPredicate::AnyOf(ps) = &t.access.rows {
                rec.filters.push(format!("{name}: {}", join_or(ps)));
            }
            for c in &t.access.columns {
                if let Some(m) = &c.mask {
                    rec.masks.push(format!("{name}.{}={m}", c.name));
                }
                if let Some(policy_engine::RowPredicate::AnyOf(ps)) = &c.cells {
                    rec.filters
                        .push(format!("{name}.{} cells: {}", c.name, join_or(ps)));
                }
            }
            for e in &t.access.trail {
                rec.policies.push(format!("{} ({})", e.policy, e.source));
            }
        }
        // Printed by the audit writer, off the request path.
        rec.rewritten_from = Some(rw.clone());
    }

    async fn deny(&self, mut rec: AuditRecord, started: Instant, status: Status) -> Status {
        rec.decision = "deny".into();
        rec.error = Some(status.message().to_string());
        rec.duration_ms = started.elapsed().as_secs_f64() * 1e3;
        self.audit.write(rec).await;
        status
    }

    /// GetFlightInfo for a statement: plan it and return a sealed ticket.
    /// `prepared` names the cached plan of a prepared statement being run.
    async fn statement_info(
        &self,
        caller: &Caller,
        token_exp: u64,
        sql: &str,
        prepared: Option<&str>,
        descriptor: FlightDescriptor,
        peer: Option<String>,
    ) -> Result<FlightInfo, Status> {
        let started = Instant::now();
        let mut rec = self.audit_base(caller, "plan", Some(sql));
        rec.source = peer;
        let planned = match prepared {
            Some(prep) => self.prepared_plan(caller, token_exp, prep, sql).await,
            None => match self.plan_bounded(caller, sql).await {
                Ok(plan) => Ok(self.remember(plan, caller, token_exp)),
                Err(s) => Err(s),
            },
        };
        let (id, plan) = match planned {
            Ok(p) => p,
            Err(s) => return Err(self.deny(rec, started, s).await),
        };
        let schema = plan.schema.clone();
        let nendpoints = plan.upstream.len().max(1);
        drop(plan);
        let mut info = FlightInfo::new()
            .try_with_schema(&schema)
            .map_err(ProxyError::from)?
            .with_descriptor(descriptor)
            .with_ordered(true);
        for endpoint in 0..nendpoints {
            let handle = self.sealer.seal(
                Sealed {
                    kind: "stmt".into(),
                    principal: caller.principal.to_string(),
                    caller: caller_fingerprint(caller),
                    exp: 0,
                    sql: sql.to_string(),
                    plan: id.clone(),
                    endpoint,
                },
                TICKET_TTL_SECS,
                token_exp,
            )?;
            let ticket = TicketStatementQuery {
                statement_handle: handle.into(),
            };
            info = info.with_endpoint(
                FlightEndpoint::new().with_ticket(Ticket::new(ticket.as_any().encode_to_vec())),
            );
        }
        Ok(info)
    }

    /// DoGet for a sealed statement: run it and stream the result.
    async fn statement_stream(
        &self,
        caller: Caller,
        sealed: Sealed,
        peer: Option<String>,
    ) -> Result<BoxStream<FlightData>, Status> {
        let started = Instant::now();
        let mut rec = self.audit_base(&caller, "statement", Some(&sealed.sql));
        rec.source = peer;
        let snap = self.snapshot()?;
        let fingerprint = caller_fingerprint(&caller);
        let plan = match self.cached(&sealed.plan, &fingerprint, snap.catalog.version) {
            Some(p) => p,
            None => match self.plan_bounded(&caller, &sealed.sql).await {
                Ok(p) => Arc::new(p),
                Err(s) => return Err(self.deny(rec, started, s).await),
            },
        };
        Self::describe_plan(&mut rec, &plan.rewritten);
        rec.decision = "allow".into();
        let audit = self.audit.clone();
        // The statement's time counts from here; the producer stops at the
        // deadline or as soon as the client goes away.
        let timeout = self.limits.statement_timeout;
        let deadline = tokio::time::Instant::now() + timeout;
        match &self.backend {
            Backend::Embedded(engine) => {
                let ready = plan.prepared.lock().ok().and_then(|mut q| q.take());
                let run = async {
                    match ready {
                        Some(q) => q.execute().await,
                        None => {
                            engine
                                .execute_secured(
                                    &plan.rewritten.statement,
                                    &self.secured(&plan.rewritten),
                                )
                                .await
                        }
                    }
                };
                let batches = match tokio::time::timeout_at(deadline, run).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => return Err(self.deny(rec, started, engine_status(e)).await),
                    Err(_) => return Err(self.deny(rec, started, deadline_status(timeout)).await),
                };
                let schema = batches.schema();
                let counted = RowCounter::new(
                    batches.map_err(|e| {
                        FlightError::Tonic(Box::new(engine_status(
                            lakegate_engine::EngineError::from_datafusion(e),
                        )))
                    }),
                    rec,
                    started,
                    audit,
                    (deadline, timeout),
                );
                let stream = FlightDataEncoderBuilder::new()
                    .with_schema(schema)
                    .build(counted)
                    .map_err(flight_err);
                Ok(Box::pin(stream))
            }
            Backend::Upstream(channel) => {
                let Some(ticket) = plan.upstream.get(sealed.endpoint).cloned() else {
                    return Err(status(ProxyError::BadTicket(
                        "this ticket names no endpoint of its query; run the query again",
                    )));
                };
                let mut client = FlightServiceClient::new(channel.clone());
                let upstream = match tokio::time::timeout_at(deadline, client.do_get(ticket)).await
                {
                    Ok(Ok(r)) => r.into_inner(),
                    Ok(Err(s)) => {
                        return Err(self.deny(rec, started, upstream_error(s)).await);
                    }
                    Err(_) => return Err(self.deny(rec, started, deadline_status(timeout)).await),
                };
                Ok(Box::pin(RowCounter::new(
                    upstream.map_err(upstream_error),
                    rec,
                    started,
                    audit,
                    (deadline, timeout),
                )))
            }
        }
    }

    fn encode_batch(batch: RecordBatch) -> BoxStream<FlightData> {
        let schema = batch.schema();
        let stream = FlightDataEncoderBuilder::new()
            .with_schema(schema)
            .build(futures::stream::iter([Ok(batch)]))
            .map_err(flight_err);
        Box::pin(stream)
    }

    fn metadata_info<M: ProstMessageExt>(
        &self,
        cmd: M,
        descriptor: FlightDescriptor,
        schema: &Schema,
    ) -> Result<Response<FlightInfo>, Status> {
        let ticket = Ticket::new(cmd.as_any().encode_to_vec());
        let info = FlightInfo::new()
            .try_with_schema(schema)
            .map_err(ProxyError::from)?
            .with_endpoint(FlightEndpoint::new().with_ticket(ticket))
            .with_descriptor(descriptor);
        Ok(Response::new(info))
    }

    /// Visible databases and tables of the caller, each table with only its
    /// visible columns.
    fn visible_tables(
        &self,
        caller: &Caller,
        want_db: Option<&str>,
    ) -> Result<Vec<(String, String, Schema)>, Status> {
        let mut out = Vec::new();
        let listed = self
            .gov
            .list_databases_and_tables(caller, want_db)
            .map_err(from_error)?;
        for (db, tables) in listed {
            for t in tables {
                let fields: Vec<Field> = t
                    .columns
                    .iter()
                    .map(|c| {
                        let dt = c.data_type.parse::<DataType>().unwrap_or(DataType::Utf8);
                        Field::new(&c.name, dt, true)
                    })
                    .collect();
                out.push((db.name.clone(), t.name.table.clone(), Schema::new(fields)));
            }
        }
        Ok(out)
    }

    /// Checks that the caller may see `DB.TABLE` named by a key command.
    fn check_visible_table(
        &self,
        caller: &Caller,
        catalog: Option<&str>,
        db: Option<&str>,
        table: &str,
    ) -> Result<(), Status> {
        if catalog.is_some_and(|c| c != caller.account().as_str()) {
            return Err(from_error(policy_engine::Error::invalid(format!(
                "catalog `{}` was not found; your catalog is `{}`",
                catalog.unwrap_or_default(),
                caller.account()
            ))));
        }
        let Some(db) = db else {
            return Err(from_error(policy_engine::Error::invalid(
                "name the table's database (db_schema) as well as the table",
            )));
        };
        self.gov
            .describe_table(caller, &format!("{db}.{table}"))
            .map(|_| ())
            .map_err(from_error)
    }
}

/// (catalog, db_schema, table) named by a key command.
type KeyTable = (Option<String>, Option<String>, String);

fn cross_tables(q: &CommandGetCrossReference) -> [KeyTable; 2] {
    [
        (
            q.pk_catalog.clone(),
            q.pk_db_schema.clone(),
            q.pk_table.clone(),
        ),
        (
            q.fk_catalog.clone(),
            q.fk_db_schema.clone(),
            q.fk_table.clone(),
        ),
    ]
}

impl FlightProxy {
    /// Authenticates and checks the caller may see every table a key
    /// command names.
    fn check_key_tables<T>(&self, request: &Request<T>, tables: &[KeyTable]) -> Result<(), Status> {
        let caller = self.caller(request)?;
        for (catalog, db, table) in tables {
            self.check_visible_table(&caller, catalog.as_deref(), db.as_deref(), table)?;
        }
        Ok(())
    }

    fn key_info<M: ProstMessageExt>(
        &self,
        request: &Request<FlightDescriptor>,
        tables: &[KeyTable],
        cmd: M,
        schema: &Schema,
    ) -> Result<Response<FlightInfo>, Status> {
        self.check_key_tables(request, tables)?;
        self.metadata_info(cmd, request.get_ref().clone(), schema)
    }

    /// lakegate's catalog has no keys: an empty result of the right shape.
    fn key_rows(
        &self,
        request: &Request<Ticket>,
        tables: &[KeyTable],
        schema: Schema,
    ) -> Result<Response<BoxStream<FlightData>>, Status> {
        self.check_key_tables(request, tables)?;
        Ok(Response::new(Self::encode_batch(RecordBatch::new_empty(
            Arc::new(schema),
        ))))
    }
}

/// Engine errors as statuses: limits keep their own codes, the rest map
/// like policy-engine errors.
fn engine_status(e: lakegate_engine::EngineError) -> Status {
    status(ProxyError::Engine(e))
}

/// A statement past its deadline.
fn deadline_status(timeout: Duration) -> Status {
    status(ProxyError::Deadline(timeout))
}

/// An upstream's error status, its code passed on.
fn upstream_error(s: Status) -> Status {
    status(ProxyError::Upstream(s))
}

fn peer<T>(req: &Request<T>) -> Option<String> {
    req.remote_addr().map(|a| a.to_string())
}

fn denied(what: &str, todo: &'static str) -> Status {
    status(ProxyError::Refused {
        what: what.to_string(),
        todo,
    })
}

#[tonic::async_trait]
impl FlightSqlService for FlightProxy {
    type FlightService = FlightProxy;

    async fn do_handshake(
        &self,
        _request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<
        Response<Pin<Box<dyn Stream<Item = Result<HandshakeResponse, Status>> + Send>>>,
        Status,
    > {
        Err(status(ProxyError::Unauthenticated(
            "lakegate does not use the Flight handshake; send `authorization: Bearer TOKEN` \
             with every call (mint a token with `lakegate token`)"
                .into(),
        )))
    }

    async fn get_flight_info_statement(
        &self,
        query: CommandStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let (caller, exp) = self.authed(&request)?;
        let p = peer(&request);
        let info = self
            .statement_info(&caller, exp, &query.query, None, request.into_inner(), p)
            .await?;
        Ok(Response::new(info))
    }

    async fn get_flight_info_substrait_plan(
        &self,
        _query: CommandStatementSubstraitPlan,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.caller(&request)?;
        Err(denied("a Substrait plan", "send the query as SQL"))
    }

    async fn get_flight_info_prepared_statement(
        &self,
        cmd: CommandPreparedStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let (caller, exp) = self.authed(&request)?;
        let sealed = self
            .sealer
            .open(&cmd.prepared_statement_handle, "prep", &caller)?;
        let p = peer(&request);
        let info = self
            .statement_info(
                &caller,
                exp,
                &sealed.sql,
                Some(&sealed.plan),
                request.into_inner(),
                p,
            )
            .await?;
        Ok(Response::new(info))
    }

    async fn get_flight_info_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.caller(&request)?;
        let schema = query.into_builder().schema();
        self.metadata_info(query, request.into_inner(), &schema)
    }

    async fn get_flight_info_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.caller(&request)?;
        let schema = query.clone().into_builder().schema();
        self.metadata_info(query, request.into_inner(), &schema)
    }

    async fn get_flight_info_tables(
        &self,
        query: CommandGetTables,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.caller(&request)?;
        let schema = query.clone().into_builder().schema();
        self.metadata_info(query, request.into_inner(), &schema)
    }

    async fn get_flight_info_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.caller(&request)?;
        let schema = query.into_builder().schema();
        self.metadata_info(query, request.into_inner(), &schema)
    }

    async fn get_flight_info_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.caller(&request)?;
        let schema = query.clone().into_builder(&self.sql_info).schema();
        self.metadata_info(query, request.into_inner(), &schema)
    }

    async fn get_flight_info_primary_keys(
        &self,
        query: CommandGetPrimaryKeys,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let t = [(
            query.catalog.clone(),
            query.db_schema.clone(),
            query.table.clone(),
        )];
        self.key_info(&request, &t, query, &primary_keys_schema())
    }

    async fn get_flight_info_exported_keys(
        &self,
        query: CommandGetExportedKeys,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let t = [(
            query.catalog.clone(),
            query.db_schema.clone(),
            query.table.clone(),
        )];
        self.key_info(&request, &t, query, &foreign_keys_schema())
    }

    async fn get_flight_info_imported_keys(
        &self,
        query: CommandGetImportedKeys,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let t = [(
            query.catalog.clone(),
            query.db_schema.clone(),
            query.table.clone(),
        )];
        self.key_info(&request, &t, query, &foreign_keys_schema())
    }

    async fn get_flight_info_cross_reference(
        &self,
        query: CommandGetCrossReference,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let t = cross_tables(&query);
        self.key_info(&request, &t, query, &foreign_keys_schema())
    }

    async fn get_flight_info_xdbc_type_info(
        &self,
        query: CommandGetXdbcTypeInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.caller(&request)?;
        let data = XdbcTypeInfoDataBuilder::new()
            .build()
            .map_err(|e| status(ProxyError::Internal(format!("xdbc info: {e}"))))?;
        let schema = query.into_builder(&data).schema();
        self.metadata_info(query, request.into_inner(), &schema)
    }

    async fn get_flight_info_fallback(
        &self,
        cmd: arrow_flight::sql::Command,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.caller(&request)?;
        Err(denied(
            &format!("the Flight SQL command `{}`", cmd.type_url()),
            "lakegate serves read-only SQL queries and metadata",
        ))
    }

    async fn do_get_statement(
        &self,
        ticket: TicketStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let caller = self.caller(&request)?;
        let sealed = self
            .sealer
            .open(&ticket.statement_handle, "stmt", &caller)?;
        let p = peer(&request);
        let stream = self.statement_stream(caller, sealed, p).await?;
        Ok(Response::new(stream))
    }

    async fn do_get_prepared_statement(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let (caller, exp) = self.authed(&request)?;
        let mut sealed = self
            .sealer
            .open(&query.prepared_statement_handle, "prep", &caller)?;
        let p = peer(&request);
        // One execution of the statement: its own plan, taken by this DoGet.
        // (If that fails, the statement is planned again from its SQL, and
        // the failure is audited there.)
        sealed.plan = match self
            .prepared_plan(&caller, exp, &sealed.plan, &sealed.sql)
            .await
        {
            Ok((id, _)) => id,
            Err(_) => String::new(),
        };
        let stream = self.statement_stream(caller, sealed, p).await?;
        Ok(Response::new(stream))
    }

    async fn do_get_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let caller = self.caller(&request)?;
        let mut b = query.into_builder();
        b.append(caller.account().as_str());
        let batch = b.build().map_err(ProxyError::from)?;
        Ok(Response::new(Self::encode_batch(batch)))
    }

    async fn do_get_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let caller = self.caller(&request)?;
        let mine = query
            .catalog
            .as_deref()
            .is_none_or(|c| c == caller.account().as_str());
        let mut b = query.into_builder();
        if mine {
            for db in self.gov.list_databases(&caller).map_err(from_error)? {
                b.append(caller.account().as_str(), &db.name);
            }
        }
        let batch = b.build().map_err(ProxyError::from)?;
        Ok(Response::new(Self::encode_batch(batch)))
    }

    async fn do_get_tables(
        &self,
        query: CommandGetTables,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let caller = self.caller(&request)?;
        let mine = query
            .catalog
            .as_deref()
            .is_none_or(|c| c == caller.account().as_str());
        let types_ok = query.table_types.is_empty()
            || query
                .table_types
                .iter()
                .any(|t| t.eq_ignore_ascii_case("TABLE"));
        let mut b = query.into_builder();
        if mine && types_ok {
            for (db, table, schema) in self.visible_tables(&caller, None)? {
                b.append(caller.account().as_str(), &db, &table, "TABLE", &schema)
                    .map_err(ProxyError::from)?;
            }
        }
        let batch = b.build().map_err(ProxyError::from)?;
        Ok(Response::new(Self::encode_batch(batch)))
    }

    async fn do_get_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.caller(&request)?;
        let mut b = query.into_builder();
        b.append("TABLE");
        let batch = b.build().map_err(ProxyError::from)?;
        Ok(Response::new(Self::encode_batch(batch)))
    }

    async fn do_get_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.caller(&request)?;
        let batch = query
            .into_builder(&self.sql_info)
            .build()
            .map_err(ProxyError::from)?;
        Ok(Response::new(Self::encode_batch(batch)))
    }

    async fn do_get_primary_keys(
        &self,
        query: CommandGetPrimaryKeys,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let t = [(query.catalog, query.db_schema, query.table)];
        self.key_rows(&request, &t, primary_keys_schema())
    }

    async fn do_get_exported_keys(
        &self,
        query: CommandGetExportedKeys,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let t = [(query.catalog, query.db_schema, query.table)];
        self.key_rows(&request, &t, foreign_keys_schema())
    }

    async fn do_get_imported_keys(
        &self,
        query: CommandGetImportedKeys,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let t = [(query.catalog, query.db_schema, query.table)];
        self.key_rows(&request, &t, foreign_keys_schema())
    }

    async fn do_get_cross_reference(
        &self,
        query: CommandGetCrossReference,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let t = cross_tables(&query);
        self.key_rows(&request, &t, foreign_keys_schema())
    }

    async fn do_get_xdbc_type_info(
        &self,
        query: CommandGetXdbcTypeInfo,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.caller(&request)?;
        let data = XdbcTypeInfoDataBuilder::new()
            .build()
            .map_err(|e| status(ProxyError::Internal(format!("xdbc info: {e}"))))?;
        let batch = query
            .into_builder(&data)
            .build()
            .map_err(ProxyError::from)?;
        Ok(Response::new(Self::encode_batch(batch)))
    }

    async fn do_get_fallback(
        &self,
        request: Request<Ticket>,
        message: Any,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.caller(&request)?;
        Err(denied(
            &format!("a ticket of type `{}`", message.type_url),
            "use the tickets lakegate returns from GetFlightInfo",
        ))
    }

    async fn do_put_fallback(
        &self,
        request: Request<arrow_flight::sql::server::PeekableFlightDataStream>,
        message: Any,
    ) -> Result<Response<<Self as FlightService>::DoPutStream>, Status> {
        self.caller(&request)?;
        Err(denied(
            &format!("DoPut `{}`", message.type_url),
            "lakegate is read-only; load data with a blueprint",
        ))
    }

    async fn do_put_statement_update(
        &self,
        _ticket: CommandStatementUpdate,
        request: Request<arrow_flight::sql::server::PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        self.caller(&request)?;
        Err(denied(
            "an update statement",
            "lakegate serves read-only queries; load data with a blueprint",
        ))
    }

    async fn do_put_statement_ingest(
        &self,
        _ticket: CommandStatementIngest,
        request: Request<arrow_flight::sql::server::PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        self.caller(&request)?;
        Err(denied(
            "bulk ingest",
            "lakegate serves read-only queries; load data with a blueprint",
        ))
    }

    async fn do_put_prepared_statement_query(
        &self,
        _query: CommandPreparedStatementQuery,
        request: Request<arrow_flight::sql::server::PeekableFlightDataStream>,
    ) -> Result<DoPutPreparedStatementResult, Status> {
        self.caller(&request)?;
        Err(denied(
            "binding parameters to a prepared statement",
            "write the values into the SQL text",
        ))
    }

    async fn do_put_prepared_statement_update(
        &self,
        _query: CommandPreparedStatementUpdate,
        request: Request<arrow_flight::sql::server::PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        self.caller(&request)?;
        Err(denied(
            "a prepared update",
            "lakegate serves read-only queries",
        ))
    }

    async fn do_put_substrait_plan(
        &self,
        _query: CommandStatementSubstraitPlan,
        request: Request<arrow_flight::sql::server::PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        self.caller(&request)?;
        Err(denied("a Substrait plan", "send the query as SQL"))
    }

    async fn do_action_create_prepared_statement(
        &self,
        query: ActionCreatePreparedStatementRequest,
        request: Request<Action>,
    ) -> Result<ActionCreatePreparedStatementResult, Status> {
        let (caller, exp) = self.authed(&request)?;
        // Plan now so errors surface at prepare time, and report the schema.
        let plan = self.plan_bounded(&caller, &query.query).await?;
        let schema = plan.schema.clone();
        let (id, _) = self.remember(plan, &caller, exp);
        let handle = self.sealer.seal(
            Sealed {
                kind: "prep".into(),
                principal: caller.principal.to_string(),
                caller: caller_fingerprint(&caller),
                exp: 0,
                sql: query.query.clone(),
                plan: id,
                endpoint: 0,
            },
            TICKET_TTL_SECS,
            exp,
        )?;
        let IpcMessage(dataset_schema) = SchemaAsIpc::new(&schema, &Default::default())
            .try_into()
            .map_err(ProxyError::from)?;
        Ok(ActionCreatePreparedStatementResult {
            prepared_statement_handle: handle.into(),
            dataset_schema,
            parameter_schema: Default::default(),
        })
    }

    async fn do_action_close_prepared_statement(
        &self,
        query: ActionClosePreparedStatementRequest,
        request: Request<Action>,
    ) -> Result<(), Status> {
        let caller = self.caller(&request)?;
        let sealed = self
            .sealer
            .open(&query.prepared_statement_handle, "prep", &caller)?;
        self.forget(&sealed.plan);
        Ok(())
    }

    async fn do_action_create_prepared_substrait_plan(
        &self,
        _query: ActionCreatePreparedSubstraitPlanRequest,
        request: Request<Action>,
    ) -> Result<ActionCreatePreparedStatementResult, Status> {
        self.caller(&request)?;
        Err(denied("a Substrait plan", "send the query as SQL"))
    }

    async fn do_action_begin_transaction(
        &self,
        _query: ActionBeginTransactionRequest,
        request: Request<Action>,
    ) -> Result<ActionBeginTransactionResult, Status> {
        self.caller(&request)?;
        Err(denied(
            "a transaction",
            "run queries without one (lakegate is read-only)",
        ))
    }

    async fn do_action_end_transaction(
        &self,
        _query: ActionEndTransactionRequest,
        request: Request<Action>,
    ) -> Result<(), Status> {
        self.caller(&request)?;
        Err(denied(
            "a transaction",
            "run queries without one (lakegate is read-only)",
        ))
    }

    async fn do_action_begin_savepoint(
        &self,
        _query: ActionBeginSavepointRequest,
        request: Request<Action>,
    ) -> Result<ActionBeginSavepointResult, Status> {
        self.caller(&request)?;
        Err(denied(
            "a savepoint",
            "run queries without one (lakegate is read-only)",
        ))
    }

    async fn do_action_end_savepoint(
        &self,
        _query: ActionEndSavepointRequest,
        request: Request<Action>,
    ) -> Result<(), Status> {
        self.caller(&request)?;
        Err(denied(
            "a savepoint",
            "run queries without one (lakegate is read-only)",
        ))
    }

    async fn do_action_cancel_query(
        &self,
        _query: ActionCancelQueryRequest,
        request: Request<Action>,
    ) -> Result<ActionCancelQueryResult, Status> {
        self.caller(&request)?;
        Err(denied("CancelQuery", "close the result stream instead"))
    }

    async fn do_action_fallback(
        &self,
        request: Request<Action>,
    ) -> Result<Response<<Self as FlightService>::DoActionStream>, Status> {
        self.caller(&request)?;
        let t = request.get_ref().r#type.clone();
        Err(denied(
            &format!("the action `{}`", crate::error::clip(&t)),
            "lakegate supports CreatePreparedStatement and ClosePreparedStatement only",
        ))
    }

    async fn do_exchange_fallback(
        &self,
        request: Request<Streaming<FlightData>>,
    ) -> Result<Response<<Self as FlightService>::DoExchangeStream>, Status> {
        self.caller(&request)?;
        Err(denied("DoExchange", "use GetFlightInfo and DoGet"))
    }

    async fn register_sql_info(&self, _id: i32, _result: &SqlInfo) {}
}

fn primary_keys_schema() -> Schema {
    Schema::new(vec![
        Field::new("catalog_name", DataType::Utf8, true),
        Field::new("db_schema_name", DataType::Utf8, true),
        Field::new("table_name", DataType::Utf8, false),
        Field::new("column_name", DataType::Utf8, false),
        Field::new("key_name", DataType::Utf8, true),
        Field::new("key_sequence", DataType::Int32, false),
    ])
}

fn foreign_keys_schema() -> Schema {
    Schema::new(vec![
        Field::new("pk_catalog_name", DataType::Utf8, true),
        Field::new("pk_db_schema_name", DataType::Utf8, true),
        Field::new("pk_table_name", DataType::Utf8, false),
        Field::new("pk_column_name", DataType::Utf8, false),
        Field::new("fk_catalog_name", DataType::Utf8, true),
        Field::new("fk_db_schema_name", DataType::Utf8, true),
        Field::new("fk_table_name", DataType::Utf8, false),
        Field::new("fk_column_name", DataType::Utf8, false),
        Field::new("key_sequence", DataType::Int32, false),
        Field::new("fk_key_name", DataType::Utf8, true),
        Field::new("pk_key_name", DataType::Utf8, true),
        Field::new("update_rule", DataType::UInt8, false),
        Field::new("delete_rule", DataType::UInt8, false),
    ])
}
