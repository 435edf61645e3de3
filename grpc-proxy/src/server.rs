//! `lakegate serve`: opens the data directory, bootstraps admins, binds one
//! port and serves every gRPC service on it until shutdown.
//!
//! Adding a service (e.g. Flight SQL) means adding it in [`routes`]; it gets
//! the same [`AppState`] (the shared [`policy_engine::Governance`] and
//! [`Authenticator`]) as the governance service.

use std::collections::BTreeMap;
use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use policy_engine::model::AccountId;
use policy_engine::{Governance, Principal};
use tokio::net::TcpListener;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::service::Routes;
use tonic::transport::Server;

use crate::audit::AuditLog;
use crate::auth::{Authenticator, ClientCerts};
use crate::error::{Error, Result};
use crate::flight::{Backend, FlightProxy};
use crate::governance::GovernanceService;
use arrow_flight::flight_service_server::FlightServiceServer;

/// The store's file name inside the data directory.
pub const STORE_FILE: &str = "lakegate.db";

/// Default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:50051";

/// What `lakegate serve` was asked to do.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Holds the store (`lakegate.db`) and the signing key (`signing.key`),
    /// unless `store` names a shared store; always the audit log and runs.
    pub data_dir: PathBuf,
    /// `--store postgres://…`: a PostgreSQL store shared by many nodes
    /// (holding the signing key too); `None`: `DATA_DIR/lakegate.db`.
    pub store: Option<crate::store::StoreConfig>,
    /// Address to listen on (`HOST:PORT`; port 0 picks a free port).
    pub listen: String,
    /// `--metrics-listen HOST:PORT`: serve `/metrics`, `/healthz` and
    /// `/livez` there.
    pub metrics_listen: Option<String>,
    /// Data lake admins to bootstrap, each in its own account.
    pub admins: Vec<Principal>,
    /// An upstream Flight SQL engine (sidecar mode: `--upstream`,
    /// `--upstream-ca`, `--upstream-kind`, `--upstream-user`); `None` runs
    /// the embedded engine in process.
    pub upstream: Option<crate::upstream::UpstreamConfig>,
    /// Build the demo catalog in the data directory (if it has none yet).
    pub demo: bool,
    /// The audit log file (default: `DATA_DIR/audit.jsonl`).
    pub audit_log: Option<PathBuf>,
    /// How the audit log is written: strict or best effort, sync interval,
    /// rotation size.
    pub audit: crate::audit::AuditOptions,
    /// Serve TLS (rustls) with this certificate and key; with a client CA,
    /// client certificates listed in `DATA_DIR/client-certs.json` authenticate
    /// Flight SQL and governance calls (mTLS).
    pub tls: Option<TlsFiles>,
    /// Verify an identity provider's RS256/ES256 tokens (`--jwks-url` or
    /// `--jwks-file`) besides development tokens.
    pub jwks: Option<crate::auth::jwks::JwksConfig>,
    /// Accept development (HS256) tokens signed with the server's key
    /// (`--no-dev-tokens` turns them off).
    pub dev_tokens: bool,
    /// Bounds on tokens, plans, memory and time (DESIGN §4 "Bounded").
    pub limits: Limits,
    /// `--blueprints DIR --blueprints-as PRINCIPAL`: run DIR's blueprints on
    /// their schedules as PRINCIPAL.
    pub blueprints: Option<(PathBuf, Principal)>,
    /// `--source-secret VAR=URL`: the environment variables blueprints may
    /// use as `password_env`, each with the one source URL it may be sent to.
    pub source_secrets: std::collections::BTreeMap<String, String>,
}

/// Bounds the server enforces (DESIGN §4 "Bounded"); each is a
/// `lakegate serve` flag, and the defaults are safe for a shared server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest token lifetime accepted (`--max-token-lifetime`).
    pub max_token_lifetime: std::time::Duration,
    /// How long planning, and then running, one statement may each take
    /// (`--statement-timeout`).
    pub statement_timeout: std::time::Duration,
    /// Memory one statement may use in the embedded engine
    /// (`--max-statement-memory`).
    pub max_statement_memory: usize,
    /// Memory all statements together may use in the embedded engine
    /// (`--max-total-memory`).
    pub max_total_memory: usize,
    /// Estimated bytes of all plans kept for tickets (`--max-plan-cache-bytes`).
    pub max_plan_cache_bytes: usize,
    /// Estimated bytes of one principal's plans kept for tickets
    /// (`--max-plan-cache-bytes-per-principal`).
    pub max_plan_cache_bytes_per_principal: usize,
    /// Statements one principal may plan or run at once; 0 is no limit
    /// (`--max-concurrent-statements-per-principal`).
    pub max_concurrent_statements_per_principal: usize,
    /// Rows one statement may return (`--max-result-rows`).
    pub max_result_rows: Option<u64>,
    /// Bytes one statement may return (`--max-result-bytes`).
    pub max_result_bytes: Option<u64>,
}

impl Default for Limits {
    fn default() -> Self {
        let engine = lakegate_engine::EngineLimits::default();
        let cache = crate::plan_cache::PlanCacheLimits::default();
        Self {
            max_token_lifetime: crate::auth::DEFAULT_MAX_TOKEN_LIFETIME,
            statement_timeout: engine.statement_timeout,
            max_statement_memory: engine.max_statement_memory,
            max_total_memory: engine.max_total_memory,
            max_plan_cache_bytes: cache.max_bytes,
            max_plan_cache_bytes_per_principal: cache.max_bytes_per_principal,
            max_concurrent_statements_per_principal:
                crate::flight::DEFAULT_MAX_CONCURRENT_STATEMENTS_PER_PRINCIPAL,
            max_result_rows: None,
            max_result_bytes: None,
        }
    }
}

impl Limits {
    /// The embedded engine's share of these limits.
    pub fn engine(&self) -> lakegate_engine::EngineLimits {
        lakegate_engine::EngineLimits {
            max_statement_memory: self.max_statement_memory,
            max_total_memory: self.max_total_memory,
            statement_timeout: self.statement_timeout,
        }
    }

    /// The Flight proxy's share of these limits.
    pub fn proxy(&self) -> crate::flight::ProxyLimits {
        crate::flight::ProxyLimits {
            statement_timeout: self.statement_timeout,
            plan_cache: crate::plan_cache::PlanCacheLimits {
                max_bytes: self.max_plan_cache_bytes,
                max_bytes_per_principal: self.max_plan_cache_bytes_per_principal,
            },
            max_concurrent_statements_per_principal: self.max_concurrent_statements_per_principal,
            max_result_rows: self.max_result_rows,
            max_result_bytes: self.max_result_bytes,
        }
    }
}

/// PEM files for TLS.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// Server certificate chain (PEM).
    pub cert: PathBuf,
    /// Server private key (PEM).
    pub key: PathBuf,
    /// CA (or self-signed client certificates) trusted for client
    /// certificates (PEM); `None` disables mTLS.
    pub client_ca: Option<PathBuf>,
}

/// Maps client certificates (SHA-256 of the DER, lower-case hex) to
/// principals, in `DATA_DIR/client-certs.json`.
pub const CLIENT_CERTS_FILE: &str = "client-certs.json";

pub(crate) fn read_pem(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| {
        Error::Engine(format!(
            "cannot read TLS file `{}`: {e}; check --tls-cert, --tls-key, --client-ca and \
             --upstream-ca",
            path.display()
        ))
    })
}

/// Everything the services on the port share.
#[derive(Clone)]
pub struct AppState {
    /// The policy engine over the store (the data directory's SQLite file or
    /// PostgreSQL). Its calls block: call them from
    /// `tokio::task::spawn_blocking`.
    pub governance: Arc<Governance>,
    /// Verifies bearer tokens; every service authenticates every call with it.
    pub auth: Arc<Authenticator>,
    /// The configuration the server was started with.
    pub config: Arc<ServerConfig>,
    /// The Flight SQL proxy, once attached (see [`AppState::attach_flight`]).
    pub flight: Option<Arc<FlightProxy>>,
    /// Blueprint runs and their records (DATA_DIR/runs.db).
    pub ingest: Arc<crate::ingest::Ingest>,
    /// Whether the audit log (opened by [`AppState::attach_flight`]) works.
    pub audit_health: Arc<crate::audit::AuditHealth>,
    /// The key tokens are signed and tickets sealed with: the data
    /// directory's, or the shared store's.
    key: Arc<Vec<u8>>,
}

impl AppState {
    /// Opens the data directory (creating it and its signing key if needed),
    /// opens the store and bootstraps the configured admins. Refuses with a
    /// clear error if the store cannot be opened.
    pub fn open(config: ServerConfig) -> Result<Self> {
        crate::install_crypto_provider();
        prepare_data_dir(&config.data_dir)?;
        let opened = crate::store::open(&config.data_dir, config.store.as_ref())?;
        let key = opened.key;
        let governance = Governance::new(opened.store)
            .map_err(|e| crate::store::store_error(&opened.label, e))?;
        bootstrap(&governance, &config.admins)?;
        let client_certs = load_client_certs(&config)?;
        let governance = Arc::new(governance);
        let runs_path = config.data_dir.join(crate::ingest::RUNS_FILE);
        let ingest = crate::ingest::Ingest::open(&config.data_dir, governance.clone())
            .map_err(|e| Error::Store {
                store: runs_path.display().to_string(),
                message: e.to_string(),
            })?
            .with_secrets(config.source_secrets.clone());
        let mut auth = Authenticator::new(key.clone())
            .with_max_token_lifetime(config.limits.max_token_lifetime)
            .with_client_certs(client_certs);
        if !config.dev_tokens {
            if config.jwks.is_none() && config.tls.as_ref().is_none_or(|t| t.client_ca.is_none()) {
                tracing::warn!(
                    "--no-dev-tokens without --jwks-url, --jwks-file or --client-ca: no \
                     credential can authenticate"
                );
            }
            auth = auth.without_dev_tokens();
        }
        if let Some(jwks) = &config.jwks {
            auth = auth.with_jwks(crate::auth::jwks::Jwks::new(jwks.clone()).map_err(Error::Jwks)?);
        }
        Ok(Self {
            ingest: Arc::new(ingest),
            governance,
            key: Arc::new(key.clone()),
            auth: Arc::new(auth),
            config: Arc::new(config),
            flight: None,
            audit_health: Arc::default(),
        })
    }

    /// The key this server signs tokens and seals tickets with (for
    /// minting development tokens in tests and tools).
    pub fn signing_key(&self) -> &[u8] {
        &self.key
    }

    /// Starts the query backend (the embedded engine over the current
    /// catalog, or a lazy connection to the upstream), opens the audit log,
    /// and attaches the Flight SQL proxy to the port's services.
    pub async fn attach_flight(&mut self) -> Result<AuditLog> {
        let key = self.key.as_ref().clone();
        let backend = match &self.config.upstream {
            Some(upstream) => {
                Backend::Upstream(Arc::new(crate::upstream::Upstream::connect(upstream)?))
            }
            None => {
                let snap = self
                    .governance
                    .snapshot()
                    .map_err(|e| Error::Engine(e.to_string()))?;
                let engine = lakegate_engine::Engine::with_limits(
                    &snap.catalog,
                    self.config.limits.engine(),
                )
                .map_err(|e| Error::Engine(e.to_string()))?;
                Backend::Embedded(Arc::new(engine))
            }
        };
        let audit_path = self
            .config
            .audit_log
            .clone()
            .unwrap_or_else(|| self.config.data_dir.join(crate::audit::AUDIT_FILE));
        let audit = AuditLog::open_reporting(
            &audit_path,
            self.config.audit.clone(),
            self.audit_health.clone(),
        )
        .await
        .map_err(|e| Error::Audit {
            path: audit_path.clone(),
            message: e.to_string(),
        })?;
        let hash_key = {
            use sha2::Digest;
            let mut h = sha2::Sha256::new();
            h.update(b"lakegate mask hash key v1\0");
            h.update(&key);
            h.finalize().to_vec()
        };
        let proxy = FlightProxy::new(
            self.governance.clone(),
            self.auth.clone(),
            backend,
            &key,
            hash_key,
            audit.clone(),
        )
        .map_err(|s| Error::Engine(s.message().to_string()))?
        .with_limits(self.config.limits.proxy());
        self.flight = Some(Arc::new(proxy));
        Ok(audit)
    }
}

/// The client-certificate map, when the server asks for client certificates
/// (`--tls-client-ca`) and `DATA_DIR/client-certs.json` exists; empty
/// otherwise. A map that does not parse refuses the start.
fn load_client_certs(config: &ServerConfig) -> Result<ClientCerts> {
    let path = config.data_dir.join(CLIENT_CERTS_FILE);
    let asks = config.tls.as_ref().is_some_and(|t| t.client_ca.is_some());
    if !asks || !path.exists() {
        return Ok(ClientCerts::default());
    }
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Error::Engine(format!("cannot read `{}`: {e}", path.display())))?;
    ClientCerts::parse(&text).map_err(|e| Error::Engine(format!("`{}`: {e}", path.display())))
}

fn prepare_data_dir(dir: &Path) -> Result<()> {
    let err = |message: String| Error::DataDir {
        path: dir.to_path_buf(),
        message,
    };
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(err(
            "it exists and is not a directory; pass another --data-dir".into(),
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut b = std::fs::DirBuilder::new();
            b.recursive(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::DirBuilderExt;
                b.mode(0o700);
            }
            b.create(dir)
                .map_err(|e| err(format!("cannot create it: {e}")))
        }
        Err(e) => Err(err(e.to_string())),
    }
}

fn bootstrap(governance: &Governance, admins: &[Principal]) -> Result<()> {
    let mut by_account: BTreeMap<AccountId, Vec<Principal>> = BTreeMap::new();
    for a in admins {
        by_account
            .entry(a.account().clone())
            .or_default()
            .push(a.clone());
    }
    for (account, list) in &by_account {
        governance
            .bootstrap(account, list)
            .map_err(|e| Error::Bootstrap {
                admin: list
                    .iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                message: e.to_string(),
            })?;
    }
    if admins.is_empty() {
        let none = governance
            .snapshot()
            .map(|s| s.catalog.admins.is_empty())
            .unwrap_or(false);
        if none {
            tracing::warn!(
                "no data lake admin is configured; restart with --admin ACCOUNT:user/NAME"
            );
        }
    }
    Ok(())
}

/// All gRPC services served on lakegate's port. This is the hook for more
/// services: add them here with `.add_service(...)` (e.g. the Flight SQL
/// proxy, built from `state.governance` and `state.auth`).
pub fn routes(state: &AppState) -> Routes {
    let governance = GovernanceService::new(state.governance.clone(), state.auth.clone())
        .with_ingest(state.ingest.clone())
        .with_flight(state.flight.clone())
        .into_server();
    let routes = Routes::new(governance);
    match &state.flight {
        Some(proxy) => routes.add_service(
            FlightServiceServer::from_arc(proxy.clone())
                .max_decoding_message_size(MAX_FLIGHT_REQUEST_BYTES),
        ),
        None => routes,
    }
}

/// Largest Flight request a client may send (statements, tickets).
pub const MAX_FLIGHT_REQUEST_BYTES: usize = 4 * 1024 * 1024;

/// Serves [`routes`] on an already bound listener until `shutdown` resolves.
pub async fn serve_on(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let incoming = TcpListenerStream::new(listener).map(|conn| {
        conn.inspect(|s| {
            // Small request/response messages: do not wait for Nagle.
            if let Err(e) = s.set_nodelay(true) {
                tracing::debug!(error = %e, "cannot set TCP_NODELAY");
            }
        })
    });
    let mut builder = Server::builder();
    if let Some(tls) = &state.config.tls {
        let mut cfg = tonic::transport::ServerTlsConfig::new().identity(
            tonic::transport::Identity::from_pem(read_pem(&tls.cert)?, read_pem(&tls.key)?),
        );
        if let Some(ca) = &tls.client_ca {
            cfg = cfg
                .client_ca_root(tonic::transport::Certificate::from_pem(read_pem(ca)?))
                .client_auth_optional(true);
        }
        builder = builder.tls_config(cfg)?;
    }
    builder
        // A peer that vanished without closing (a crashed client, a cut
        // network) is noticed and its streams are dropped.
        .http2_keepalive_interval(Some(std::time::Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(std::time::Duration::from_secs(20)))
        .add_routes(routes(&state))
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await?;
    Ok(())
}

/// Binds `addr`.
pub async fn bind(addr: &str) -> Result<(TcpListener, SocketAddr)> {
    let err = |e: std::io::Error| Error::Bind {
        addr: addr.to_string(),
        message: e.to_string(),
    };
    let listener = TcpListener::bind(addr).await.map_err(err)?;
    let local = listener.local_addr().map_err(err)?;
    Ok((listener, local))
}

/// `lakegate serve`: opens the state, binds, prints exactly
/// `lakegate listening on ADDR` (the bound address) to stdout, and serves
/// until `shutdown` resolves.
pub async fn serve(
    cfg: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let listen = cfg.listen.clone();
    let demo = cfg.demo;
    let data_dir = cfg.data_dir.clone();
    let mut cfg = cfg;
    if demo {
        let admin =
            Principal::parse(crate::demo::DEMO_ADMIN).map_err(|e| Error::Demo(e.to_string()))?;
        if !cfg.admins.contains(&admin) {
            cfg.admins.push(admin);
        }
    }
    let mut state = tokio::task::spawn_blocking(move || AppState::open(cfg))
        .await
        .map_err(|e| Error::Store {
            store: STORE_FILE.to_string(),
            message: format!("startup task failed: {e}"),
        })??;
    let (listener, addr) = bind(&listen).await?;
    let next_steps = if demo {
        Some(crate::demo::setup(&state.governance, &data_dir, &addr.to_string()).await?)
    } else {
        None
    };
    if let Some((dir, principal)) = &state.config.blueprints {
        let list = crate::schedule::load_dir(dir).map_err(Error::Blueprints)?;
        tracing::info!(count = list.len(), dir = %dir.display(), "blueprints loaded");
        let ingest = state.ingest.clone();
        let plan = ingest.plan();
        tokio::spawn(crate::schedule::run(
            ingest,
            policy_engine::Caller::new(principal.clone()),
            list,
            plan,
        ));
    }
    if let Some(ops) = &state.config.metrics_listen {
        let (listener, ops_addr) = bind(ops).await?;
        tracing::info!(addr = %ops_addr, "serving /metrics and /healthz");
        spawn_ops(&state, listener);
    }
    let audit = state.attach_flight().await?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "lakegate listening on {addr}").map_err(Error::Stdout)?;
        if let Some(n) = &next_steps {
            write!(out, "{n}").map_err(Error::Stdout)?;
        }
        out.flush().map_err(Error::Stdout)?;
    }
    tracing::info!(%addr, "serving");
    let result = serve_on(state, listener, shutdown).await;
    // Everything audited so far reaches the disk before we exit.
    audit.flush().await;
    result
}

/// Serves `/metrics`, `/healthz` and `/livez` (see `--metrics-listen`) on
/// `listener` in the background.
pub fn spawn_ops(state: &AppState, listener: TcpListener) {
    tokio::spawn(crate::ops_http::serve(
        listener,
        state.governance.clone(),
        state.audit_health.clone(),
    ));
}

/// Resolves on Ctrl-C or (on Unix) SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
