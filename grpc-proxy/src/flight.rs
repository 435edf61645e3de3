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
//!
//! This file holds the service (authentication, the Flight SQL trait, one
//! thin method per command); the work is beside it:
//!
//! ```text
//! flight/plan.rs        rewrite + backend plan, prepared statements, the plan cache
//! flight/statement.rs   GetFlightInfo / DoGet of a statement, audit records
//! flight/stream.rs      result streams: rows counted, deadline, result limits, audit, no task
//! flight/limits.rs      statements running per principal
//! flight/metadata.rs    SQL info, catalogs, schemas, tables, key commands
//! flight/refused.rs     the refused commands, one table of what and what to do
//! crate::status         every error → gRPC status, in one place
//! ```

mod backend;
mod limits;
mod metadata;
mod plan;
mod planned;
mod refused;
mod statement;
mod stream;

pub use backend::Backend;
use backend::{Opened, Planned};
use metadata::{cross_tables, foreign_keys_schema, primary_keys_schema, sql_info};
use plan::Plan;
use refused::{Refused, refuse};

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use stream::RowCounter;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
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
    /// Most statements one principal may plan or run at once; 0 is no limit.
    pub max_concurrent_statements_per_principal: usize,
    /// Most rows one statement may return.
    pub max_result_rows: Option<u64>,
    /// Most bytes (Arrow IPC frames) one statement may return.
    pub max_result_bytes: Option<u64>,
}

/// Default `--max-concurrent-statements-per-principal`.
pub const DEFAULT_MAX_CONCURRENT_STATEMENTS_PER_PRINCIPAL: usize = 64;

impl Default for ProxyLimits {
    fn default() -> Self {
        Self {
            statement_timeout: DEFAULT_STATEMENT_TIMEOUT,
            plan_cache: PlanCacheLimits::default(),
            max_concurrent_statements_per_principal:
                DEFAULT_MAX_CONCURRENT_STATEMENTS_PER_PRINCIPAL,
            max_result_rows: None,
            max_result_bytes: None,
        }
    }
}

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

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
    running: Arc<limits::Running>,
    sql_info: SqlInfoData,
}

fn flight_err(e: FlightError) -> Status {
    match e {
        FlightError::Tonic(s) => *s,
        other => status(ProxyError::Internal(format!("encoding a result: {other}"))),
    }
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
            running: limits::Running::new(DEFAULT_MAX_CONCURRENT_STATEMENTS_PER_PRINCIPAL),
            sql_info: sql_info()?,
        })
    }

    /// Enforces these bounds (plan cache, statement timeout, running
    /// statements per principal, result size).
    pub fn with_limits(mut self, limits: ProxyLimits) -> Self {
        self.plans = PlanCache::new(limits.plan_cache);
        self.running = limits::Running::new(limits.max_concurrent_statements_per_principal);
        self.limits = limits;
        self
    }

    /// How many plans are cached and their estimated bytes.
    pub fn plan_cache_usage(&self) -> (usize, usize) {
        self.plans.usage()
    }

    /// The caller of a request (see [`Authenticator::authenticate_request`]).
    fn caller<T>(&self, req: &Request<T>) -> Result<Caller, Status> {
        self.auth.authenticate_request(req).map(|c| c.caller)
    }

    /// Like [`FlightProxy::caller`], also returning when the credential
    /// expires (seconds since the epoch): the token's `exp`, or the ticket
    /// TTL from now for a client certificate.
    fn authed<T>(&self, req: &Request<T>) -> Result<(Caller, u64), Status> {
        let c = self.auth.authenticate_request(req)?;
        let exp = c
            .exp
            .unwrap_or_else(|| crate::flight_tickets::now().saturating_add(TICKET_TTL_SECS));
        Ok((c.caller, exp))
    }

    /// The current snapshot, read on a blocking thread: the version read is
    /// a network call with a PostgreSQL store, and an outage must not park
    /// the async workers for the store's timeout.
    async fn snapshot(&self) -> Result<Arc<Snapshot>, Status> {
        let gov = self.gov.clone();
        tokio::task::spawn_blocking(move || gov.snapshot())
            .await
            .map_err(|e| status(ProxyError::Internal(format!("snapshot task failed: {e}"))))?
            .map_err(from_error)
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
    use tonic::Code;
    // The engine's own failures and transport errors, not the caller's
    // statement errors that it reports.
    if matches!(
        s.code(),
        Code::Unavailable | Code::Unknown | Code::Internal | Code::DataLoss | Code::Unauthenticated
    ) {
        crate::metrics::metrics().upstream_error();
    }
    status(ProxyError::Upstream(s))
}

/// [`upstream_error`] for a result that was streaming, where a lost
/// connection means the client holds an incomplete result.
fn upstream_stream_error(s: Status) -> Status {
    match crate::status::lost_mid_stream(&s) {
        Some(lost) => {
            crate::metrics::metrics().upstream_error();
            lost
        }
        None => upstream_error(s),
    }
}

fn peer<T>(req: &Request<T>) -> Option<String> {
    req.remote_addr().map(|a| a.to_string())
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
        Err(refuse(Refused::Substrait))
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
        Err(refuse(Refused::Command(cmd.type_url())))
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
        let started = Instant::now();
        sealed.plan = match self
            .prepared_plan(&caller, exp, &sealed.plan, &sealed.sql)
            .await
        {
            Ok((id, _)) => id,
            Err(s) => {
                let mut rec = self.audit_base(&caller, "statement", Some(&sealed.sql));
                rec.source = p;
                return Err(self.deny(rec, started, s).await);
            }
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
        let started = Instant::now();
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
        let shown = metadata::listed(&batch, 2);
        self.audit_listing(&caller, "get_db_schemas", shown, peer(&request), started)
            .await?;
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
        let started = Instant::now();
        let mut b = query.into_builder();
        if mine && types_ok {
            for (db, table, schema) in self.visible_tables(&caller, None)? {
                b.append(caller.account().as_str(), &db, &table, "TABLE", &schema)
                    .map_err(ProxyError::from)?;
            }
        }
        let batch = b.build().map_err(ProxyError::from)?;
        let shown = metadata::listed(&batch, 3);
        self.audit_listing(&caller, "get_tables", shown, peer(&request), started)
            .await?;
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
        Err(refuse(Refused::Ticket(&message.type_url)))
    }

    async fn do_put_fallback(
        &self,
        request: Request<arrow_flight::sql::server::PeekableFlightDataStream>,
        message: Any,
    ) -> Result<Response<<Self as FlightService>::DoPutStream>, Status> {
        self.caller(&request)?;
        Err(refuse(Refused::Put(&message.type_url)))
    }

    async fn do_put_statement_update(
        &self,
        _ticket: CommandStatementUpdate,
        request: Request<arrow_flight::sql::server::PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        self.caller(&request)?;
        Err(refuse(Refused::Update))
    }

    async fn do_put_statement_ingest(
        &self,
        _ticket: CommandStatementIngest,
        request: Request<arrow_flight::sql::server::PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        self.caller(&request)?;
        Err(refuse(Refused::Ingest))
    }

    async fn do_put_prepared_statement_query(
        &self,
        _query: CommandPreparedStatementQuery,
        request: Request<arrow_flight::sql::server::PeekableFlightDataStream>,
    ) -> Result<DoPutPreparedStatementResult, Status> {
        self.caller(&request)?;
        Err(refuse(Refused::BindParameters))
    }

    async fn do_put_prepared_statement_update(
        &self,
        _query: CommandPreparedStatementUpdate,
        request: Request<arrow_flight::sql::server::PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        self.caller(&request)?;
        Err(refuse(Refused::PreparedUpdate))
    }

    async fn do_put_substrait_plan(
        &self,
        _query: CommandStatementSubstraitPlan,
        request: Request<arrow_flight::sql::server::PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        self.caller(&request)?;
        Err(refuse(Refused::Substrait))
    }

    async fn do_action_create_prepared_statement(
        &self,
        query: ActionCreatePreparedStatementRequest,
        request: Request<Action>,
    ) -> Result<ActionCreatePreparedStatementResult, Status> {
        let (caller, exp) = self.authed(&request)?;
        let _running = self.running.enter(&caller.principal.to_string())?;
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
        Err(refuse(Refused::Substrait))
    }

    async fn do_action_begin_transaction(
        &self,
        _query: ActionBeginTransactionRequest,
        request: Request<Action>,
    ) -> Result<ActionBeginTransactionResult, Status> {
        self.caller(&request)?;
        Err(refuse(Refused::Transaction))
    }

    async fn do_action_end_transaction(
        &self,
        _query: ActionEndTransactionRequest,
        request: Request<Action>,
    ) -> Result<(), Status> {
        self.caller(&request)?;
        Err(refuse(Refused::Transaction))
    }

    async fn do_action_begin_savepoint(
        &self,
        _query: ActionBeginSavepointRequest,
        request: Request<Action>,
    ) -> Result<ActionBeginSavepointResult, Status> {
        self.caller(&request)?;
        Err(refuse(Refused::Savepoint))
    }

    async fn do_action_end_savepoint(
        &self,
        _query: ActionEndSavepointRequest,
        request: Request<Action>,
    ) -> Result<(), Status> {
        self.caller(&request)?;
        Err(refuse(Refused::Savepoint))
    }

    async fn do_action_cancel_query(
        &self,
        _query: ActionCancelQueryRequest,
        request: Request<Action>,
    ) -> Result<ActionCancelQueryResult, Status> {
        self.caller(&request)?;
        Err(refuse(Refused::CancelQuery))
    }

    async fn do_action_fallback(
        &self,
        request: Request<Action>,
    ) -> Result<Response<<Self as FlightService>::DoActionStream>, Status> {
        self.caller(&request)?;
        let t = request.get_ref().r#type.clone();
        Err(refuse(Refused::Action(&t)))
    }

    async fn do_exchange_fallback(
        &self,
        request: Request<Streaming<FlightData>>,
    ) -> Result<Response<<Self as FlightService>::DoExchangeStream>, Status> {
        self.caller(&request)?;
        Err(refuse(Refused::Exchange))
    }

    async fn register_sql_info(&self, _id: i32, _result: &SqlInfo) {}
}
