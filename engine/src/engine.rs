//! The embedded engine: one DataFusion session over the catalog's tables,
//! rebuilt when the catalog version changes, plus per-query sessions that
//! see only secured tables.

use std::sync::{Arc, RwLock};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{
    CatalogProvider, CatalogProviderList, MemoryCatalogProvider, MemoryCatalogProviderList,
    MemorySchemaProvider, SchemaProvider,
};
use datafusion::dataframe::DataFrame;
use datafusion::execution::context::SQLOptions;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::{SessionState, SessionStateBuilder};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::{ExecutionPlan, execute_stream};
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::Statement;
use policy_engine::catalog::Catalog;
use policy_engine::model::{AccountId, TableName};

use crate::bounded::bound_functions;
use crate::error::EngineError;
use crate::format::session_config;
use crate::limits::{EngineLimits, GuardedStream, StatementPool, YieldOften, until};
use crate::secure::{SecureTable, SecuredTable};
use crate::tables::EngineTables;
use datafusion::execution::memory_pool::MemoryPool;

/// Table functions a query may call; every other one is removed, because a
/// table function that reads files or URLs would bypass the catalog.
const ALLOWED_TABLE_FUNCTIONS: &[&str] = &["generate_series", "range"];

/// A catalog table as the engine serves it (for metadata calls).
#[derive(Clone, Debug)]
pub struct TableInfo {
    /// Account id: the SQL catalog name.
    pub account: AccountId,
    /// Database and table: the SQL schema and table names.
    pub name: TableName,
    /// Arrow schema: file columns, then partition columns.
    pub schema: SchemaRef,
}

/// A planned query, down to its physical plan: the schema it announces is
/// the schema its batches carry (nullability included), and nothing has run
/// yet.
pub struct Query {
    plan: Arc<dyn ExecutionPlan>,
    task: Arc<TaskContext>,
    limits: EngineLimits,
}

impl std::fmt::Debug for Query {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Query")
            .field("schema", &self.schema())
            .finish_non_exhaustive()
    }
}

impl Query {
    /// The result schema.
    pub fn schema(&self) -> SchemaRef {
        self.plan.schema()
    }

    /// Plans `df` down to its physical plan.
    async fn physical(df: DataFrame, limits: EngineLimits) -> Result<Self, EngineError> {
        let task = Arc::new(df.task_ctx());
        let plan = df
            .create_physical_plan()
            .await
            .map_err(EngineError::from_datafusion)?;
        Ok(Self { plan, task, limits })
    }

    /// Runs the query, streaming its batches, under the engine's limits:
    /// the statement timeout counts from now, and a batch larger than a
    /// statement may use is refused.
    pub async fn execute(self) -> Result<SendableRecordBatchStream, EngineError> {
        let limits = self.limits;
        let deadline = tokio::time::Instant::now() + limits.statement_timeout;
        let (plan, task) = (self.plan, self.task);
        let stream = until(deadline, limits.statement_timeout, async move {
            execute_stream(plan, task).map_err(EngineError::from_datafusion)
        })
        .await?;
        Ok(Box::pin(GuardedStream::new(stream, deadline, limits)))
    }
}

/// One catalog version as registered in DataFusion.
struct Loaded {
    version: u64,
    tables: EngineTables,
    ctx: SessionContext,
}

/// lakegate's embedded DataFusion engine.
pub struct Engine {
    /// The session every query starts from: configuration, functions and
    /// runtime, with no tables.
    template: SessionState,
    current: RwLock<Arc<Loaded>>,
    limits: EngineLimits,
    /// The memory all statements share.
    pool: Arc<dyn MemoryPool>,
    /// The account whose tables `DB.TABLE` names in [`Engine::prepare`].
    default_account: Option<AccountId>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("version", &self.version())
            .finish()
    }
}

impl Engine {
    /// An engine over the tables of `catalog`, with the default limits.
    pub fn new(catalog: &Catalog) -> Result<Self, EngineError> {
        Self::with_limits(catalog, EngineLimits::default())
    }

    /// An engine over the tables of `catalog` under `limits`.
    pub fn with_limits(catalog: &Catalog, limits: EngineLimits) -> Result<Self, EngineError> {
        let pool = limits.total_pool();
        let template = template_state(&limits, Arc::clone(&pool))?;
        let loaded = load(&template, catalog, None)?;
        Ok(Self {
            template,
            current: RwLock::new(Arc::new(loaded)),
            limits,
            pool,
            default_account: None,
        })
    }

    /// Lets statements planned with [`Engine::prepare`] name `account`'s
    /// tables as `DB.TABLE`, as the proxy does for a caller of that account
    /// (`"ACCOUNT".DB.TABLE` still names any account's).
    pub fn with_default_account(mut self, account: AccountId) -> Self {
        self.default_account = Some(account);
        self
    }

    /// The engine's limits.
    pub fn limits(&self) -> EngineLimits {
        self.limits
    }

    /// `state` with a memory pool of its own for one statement, drawing
    /// from the engine's shared pool.
    fn statement_state(&self, state: SessionState) -> Result<SessionState, EngineError> {
        let pool = StatementPool::new(Arc::clone(&self.pool), self.limits.max_statement_memory);
        let runtime = RuntimeEnvBuilder::from_runtime_env(state.runtime_env())
            .with_memory_pool(Arc::new(pool))
            .build_arc()
            .map_err(|e| EngineError::internal(format!("runtime: {e}")))?;
        Ok(SessionStateBuilder::new_from_existing(state)
            .with_runtime_env(runtime)
            .build())
    }

    /// Runs a planning step within the statement timeout.
    async fn bounded<T>(
        &self,
        fut: impl std::future::Future<Output = Result<T, EngineError>>,
    ) -> Result<T, EngineError> {
        let deadline = tokio::time::Instant::now() + self.limits.statement_timeout;
        until(deadline, self.limits.statement_timeout, fut).await
    }

    /// The catalog version the engine serves.
    pub fn version(&self) -> u64 {
        self.loaded().version
    }

    /// Serves `catalog` from now on; a no-op if its version is the one
    /// served. Tables whose definition did not change keep their providers.
    pub fn refresh(&self, catalog: &Catalog) -> Result<(), EngineError> {
        let old = self.loaded();
        if old.version == catalog.version {
            return Ok(());
        }
        let loaded = Arc::new(load(&self.template, catalog, Some(&old.tables))?);
        match self.current.write() {
            Ok(mut cur) => {
                // Never go back to an older version.
                if cur.version < loaded.version || cur.version == old.version {
                    *cur = loaded;
                }
                Ok(())
            }
            Err(_) => Err(EngineError::internal("engine catalog lock poisoned")),
        }
    }

    fn loaded(&self) -> Arc<Loaded> {
        match self.current.read() {
            Ok(g) => Arc::clone(&g),
            Err(p) => Arc::clone(&p.into_inner()),
        }
    }

    /// The tables the engine serves, in catalog order.
    pub fn tables(&self) -> Vec<TableInfo> {
        self.loaded()
            .tables
            .tables
            .iter()
            .map(|((account, name), t)| TableInfo {
                account: account.clone(),
                name: name.clone(),
                schema: datafusion::catalog::TableProvider::schema(t.provider.as_ref()),
            })
            .collect()
    }

    /// Plans `sql` as written against every catalog table
    /// (`"ACCOUNT"."DB"."TABLE"`). DDL, DML and `SET` are refused.
    pub async fn prepare(&self, sql: &str) -> Result<Query, EngineError> {
        let loaded = self.loaded();
        let mut state = self.statement_state(loaded.ctx.state())?;
        if let Some(account) = &self.default_account {
            state.config_mut().options_mut().catalog.default_catalog = account.to_string();
        }
        let ctx = SessionContext::new_with_state(state);
        let limits = self.limits;
        self.bounded(async { Query::physical(plan_sql(&ctx, sql).await?, limits).await })
            .await
            .map_err(|e| qualify_hint(e, self.default_account.as_ref()))
    }

    /// Runs `sql` as written (the unprotected engine and the baseline).
    pub async fn execute(&self, sql: &str) -> Result<SendableRecordBatchStream, EngineError> {
        self.prepare(sql).await?.execute().await
    }

    /// Plans the rewritten `statement` (the AST the rewriter checked, never
    /// text printed from it, DESIGN §4) in a session that holds only
    /// `secured`, each under its single-identifier name, each filtered and
    /// masked inside its scan. `EXPLAIN` is refused because plans show filter
    /// text and raw row counts.
    pub async fn prepare_secured(
        &self,
        statement: &Statement,
        secured: &[SecuredTable],
    ) -> Result<Query, EngineError> {
        let ctx = self.secured_session(secured)?;
        let limits = self.limits;
        let planned = async {
            let plan = ctx
                .state()
                .statement_to_plan(DFStatement::Statement(Box::new(statement.clone())))
                .await
                .map_err(EngineError::from_datafusion)?;
            Query::physical(secured_query(&ctx, plan).await?, limits).await
        };
        self.bounded(planned).await
    }

    /// Like [`Engine::prepare_secured`], for SQL text parsed by DataFusion
    /// (tests and benchmarks; the proxy hands over the AST).
    pub async fn prepare_secured_sql(
        &self,
        sql: &str,
        secured: &[SecuredTable],
    ) -> Result<Query, EngineError> {
        let ctx = self.secured_session(secured)?;
        let limits = self.limits;
        let planned = async {
            let plan = ctx
                .state()
                .create_logical_plan(sql)
                .await
                .map_err(EngineError::from_datafusion)?;
            Query::physical(secured_query(&ctx, plan).await?, limits).await
        };
        self.bounded(planned).await
    }

    /// A session whose catalog holds only `secured`.
    fn secured_session(&self, secured: &[SecuredTable]) -> Result<SessionContext, EngineError> {
        let loaded = self.loaded();
        let mut state = self.template.clone();
        let schema = MemorySchemaProvider::new();
        for s in secured {
            let key = (s.access.account.clone(), s.access.table.clone());
            let Some(table) = loaded.tables.tables.get(&key) else {
                return Err(match loaded.tables.broken.get(&key) {
                    Some(why) => EngineError::FailedPrecondition(why.clone()),
                    None => EngineError::FailedPrecondition(format!(
                        "table `{}` is not in the engine's catalog (version {}); run the query \
                         again",
                        s.access.table, loaded.version
                    )),
                });
            };
            let provider = SecureTable::try_new(&state, table, s)?;
            let prev = schema
                .register_table(s.name.clone(), Arc::new(provider))
                .map_err(|e| EngineError::internal(format!("registering `{}`: {e}", s.name)))?;
            if prev.is_some() {
                return Err(EngineError::internal(format!(
                    "secured table name `{}` used twice",
                    s.name
                )));
            }
        }
        let opts = state.config().options().catalog.clone();
        let catalog = MemoryCatalogProvider::new();
        catalog
            .register_schema(&opts.default_schema, Arc::new(schema))
            .map_err(|e| EngineError::internal(format!("registering schema: {e}")))?;
        let list = MemoryCatalogProviderList::new();
        list.register_catalog(opts.default_catalog.clone(), Arc::new(catalog));
        state.register_catalog_list(Arc::new(list));
        Ok(SessionContext::new_with_state(self.statement_state(state)?))
    }

    /// Runs `statement` over `secured` only; see [`Engine::prepare_secured`].
    pub async fn execute_secured(
        &self,
        statement: &Statement,
        secured: &[SecuredTable],
    ) -> Result<SendableRecordBatchStream, EngineError> {
        self.prepare_secured(statement, secured)
            .await?
            .execute()
            .await
    }
}

/// Checks and executes a plan of a secured session: queries only, no
/// `EXPLAIN`.
async fn secured_query(ctx: &SessionContext, plan: LogicalPlan) -> Result<DataFrame, EngineError> {
    if matches!(plan, LogicalPlan::Explain(_) | LogicalPlan::Analyze(_)) {
        return Err(EngineError::NotAllowed(
            "EXPLAIN is not allowed through lakegate, because plans show filter text and raw \
             row counts; use `lakegate explain` instead"
                .into(),
        ));
    }
    only_queries(ctx, plan).await
}

/// Plans one SQL query with DDL, DML (including COPY) and statements
/// (SET, transactions, ...) refused.
async fn plan_sql(ctx: &SessionContext, sql: &str) -> Result<DataFrame, EngineError> {
    let plan = ctx
        .state()
        .create_logical_plan(sql)
        .await
        .map_err(EngineError::from_datafusion)?;
    only_queries(ctx, plan).await
}

/// Executes `plan` with DDL, DML and statements refused.
async fn only_queries(ctx: &SessionContext, plan: LogicalPlan) -> Result<DataFrame, EngineError> {
    let opts = SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false);
    if let Err(e) = opts.verify_plan(&plan) {
        return Err(EngineError::NotAllowed(format!(
            "{}; only queries may run here",
            first_line(&e.strip_backtrace())
        )));
    }
    ctx.execute_logical_plan(plan)
        .await
        .map_err(EngineError::from_datafusion)
}

/// Rewords DataFusion's "table 'datafusion.public.x' not found" for an
/// unqualified name into a hint to qualify it.
fn qualify_hint(e: EngineError, account: Option<&AccountId>) -> EngineError {
    let EngineError::InvalidArgument(m) = &e else {
        return e;
    };
    let Some(rest) = m.split("table '").nth(1) else {
        return e;
    };
    let full = rest.split('\'').next().unwrap_or_default();
    // As the user wrote it: without the defaults DataFusion filled in.
    let full = full.strip_prefix("datafusion.public.").unwrap_or(full);
    let full = account
        .and_then(|a| full.strip_prefix(&format!("{a}.")))
        .unwrap_or(full);
    let name = full.rsplit('.').next().unwrap_or_default();
    if !m.contains("not found") {
        return e;
    }
    EngineError::InvalidArgument(match account {
        Some(a) => format!(
            "table `{full}` was not found; name tables as DB.TABLE for account {a} (e.g. \
             `sales.{name}`), or as \"ACCOUNT\".DB.TABLE"
        ),
        None => format!(
            "table `{full}` was not found; name tables as \"ACCOUNT\".DB.TABLE, e.g. \
             `\"111111111111\".sales.{name}`"
        ),
    })
}

fn first_line(s: &str) -> String {
    let s = s.lines().next().unwrap_or_default();
    let s = s.strip_prefix("Error during planning: ").unwrap_or(s);
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The template session: configuration, built-in functions, a runtime
/// without the file-listing cache (new files must show up in the next
/// query), only harmless table functions, no table factories.
fn template_state(
    limits: &EngineLimits,
    pool: Arc<dyn MemoryPool>,
) -> Result<SessionState, EngineError> {
    let runtime = RuntimeEnvBuilder::new()
        .with_object_list_cache_limit(0)
        .with_memory_pool(pool)
        .build_arc()
        .map_err(|e| EngineError::internal(format!("runtime: {e}")))?;
    let cfg = session_config().with_create_default_catalog_and_schema(false);
    let mut state = SessionStateBuilder::new()
        .with_config(cfg)
        .with_runtime_env(runtime)
        .with_default_features()
        .with_catalog_list(Arc::new(MemoryCatalogProviderList::new()))
        .with_physical_optimizer_rule(Arc::new(YieldOften))
        .build();
    let names: Vec<String> = state.table_functions().keys().cloned().collect();
    for n in names {
        if !ALLOWED_TABLE_FUNCTIONS.contains(&n.as_str()) {
            state
                .deregister_udtf(&n)
                .map_err(|e| EngineError::internal(format!("removing `{n}`: {e}")))?;
        }
    }
    state.table_factories_mut().clear();
    bound_functions(&mut state, limits.max_statement_memory)
        .map_err(|e| EngineError::internal(format!("bounding functions: {e}")))?;
    Ok(state)
}

fn load(
    template: &SessionState,
    catalog: &Catalog,
    previous: Option<&EngineTables>,
) -> Result<Loaded, EngineError> {
    let tables = EngineTables::build(catalog, previous);
    let mut state = template.clone();
    state.register_catalog_list(tables.catalog_list()?);
    Ok(Loaded {
        version: catalog.version,
        tables,
        ctx: SessionContext::new_with_state(state),
    })
}

#[cfg(test)]
pub(crate) mod tests;
