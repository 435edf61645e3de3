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
use policy_engine::{Governance, Principal, SqliteStore};
use tokio::net::TcpListener;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::service::Routes;
use tonic::transport::Server;

use crate::auth::{Authenticator, load_or_create_key};
use crate::error::{Error, Result};
use crate::governance::GovernanceService;

/// The store's file name inside the data directory.
pub const STORE_FILE: &str = "lakegate.db";

/// Default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:50051";

/// What `lakegate serve` was asked to do.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Holds the store (`lakegate.db`) and the signing key (`signing.key`).
    pub data_dir: PathBuf,
    /// Address to listen on (`HOST:PORT`; port 0 picks a free port).
    pub listen: String,
    /// Data lake admins to bootstrap, each in its own account.
    pub admins: Vec<Principal>,
    /// An upstream Flight SQL engine (sidecar mode; not implemented yet).
    pub upstream: Option<String>,
    /// Load demo data (not implemented yet).
    pub demo: bool,
}

/// Everything the services on the port share.
#[derive(Clone)]
pub struct AppState {
    /// The policy engine over the data directory's store. Its calls block
    /// (SQLite): call them from `tokio::task::spawn_blocking`.
    pub governance: Arc<Governance>,
    /// Verifies bearer tokens; every service authenticates every call with it.
    pub auth: Arc<Authenticator>,
    /// The configuration the server was started with.
    pub config: Arc<ServerConfig>,
}

impl AppState {
    /// Opens the data directory (creating it and its signing key if needed),
    /// opens the store and bootstraps the configured admins. Refuses with a
    /// clear error if the store cannot be opened.
    pub fn open(config: ServerConfig) -> Result<Self> {
        if config.upstream.is_some() {
            return Err(Error::NotImplemented("`--upstream` (sidecar mode)"));
        }
        if config.demo {
            return Err(Error::NotImplemented("`--demo`"));
        }
        prepare_data_dir(&config.data_dir)?;
        let key = load_or_create_key(&config.data_dir)?;
        let store_path = config.data_dir.join(STORE_FILE);
        let store_err = |e: policy_engine::Error| Error::Store {
            path: store_path.clone(),
            message: match e {
                policy_engine::Error::StoreUnavailable(m) => m,
                other => other.to_string(),
            },
        };
        let store = SqliteStore::open(&store_path).map_err(store_err)?;
        let governance = Governance::new(Arc::new(store)).map_err(store_err)?;
        bootstrap(&governance, &config.admins)?;
        Ok(Self {
            governance: Arc::new(governance),
            auth: Arc::new(Authenticator::new(key)),
            config: Arc::new(config),
        })
    }
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
    let governance =
        GovernanceService::new(state.governance.clone(), state.auth.clone()).into_server();
    Routes::new(governance)
}

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
    Server::builder()
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
    let state = tokio::task::spawn_blocking(move || AppState::open(cfg))
        .await
        .map_err(|e| Error::Store {
            path: PathBuf::from(STORE_FILE),
            message: format!("startup task failed: {e}"),
        })??;
    let (listener, addr) = bind(&listen).await?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "lakegate listening on {addr}").map_err(Error::Stdout)?;
        out.flush().map_err(Error::Stdout)?;
    }
    tracing::info!(%addr, "serving");
    serve_on(state, listener, shutdown).await
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
