//! The server builder: a store, a catalog, a proxy on loopback and, for a
//! sidecar, `lakegate engine` behind it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arrow::record_batch::RecordBatch;
use arrow_flight::sql::client::FlightSqlServiceClient;
use grpc_proxy::flight::FlightProxy;
use grpc_proxy::server::{AppState, Limits, ServerConfig, TlsFiles, bind, serve_on};
use policy_engine::model::{Format, LocationUri};
use policy_engine::{Caller, Governance, GrantRequest, NewTable, Principal, ResourceSpec};
use tokio::sync::oneshot;
use tonic::transport::Channel;

use crate::engine::EngineServer;
use crate::flight::{fetch, status};

/// The data lake admin every server bootstraps unless told otherwise.
pub const ADMIN: &str = "111111111111:user/admin";

/// [`ADMIN`] as a caller.
pub fn admin() -> Caller {
    Caller::new(Principal::parse(ADMIN).expect("ADMIN parses"))
}

/// A whole-table resource (`cols` empty) or a column list.
pub fn table(name: &str, cols: &[&str]) -> ResourceSpec {
    ResourceSpec::Table {
        name: name.into(),
        columns: cols.iter().map(|c| c.to_string()).collect(),
        exclude_columns: vec![],
    }
}

/// Grants SELECT on `resource` to `principal` as [`ADMIN`], with masks
/// (column → mask).
pub fn grant_select(
    gov: &Governance,
    principal: &str,
    resource: ResourceSpec,
    masks: &[(&str, &str)],
) {
    gov.grant(
        &admin(),
        &GrantRequest {
            principal: principal.into(),
            permissions: vec!["SELECT".into()],
            grantable: vec![],
            resource,
            masks: masks
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        },
    )
    .unwrap_or_else(|e| panic!("grant to {principal}: {e}"));
}

/// Where the proxy's statements run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deployment {
    /// The embedded engine, in the proxy.
    Embedded,
    /// `lakegate engine` over the same store, behind a proxy with
    /// `--upstream` (both in this process).
    Sidecar,
}

/// Both deployments, for tests that must hold on each.
pub const BOTH: [Deployment; 2] = [Deployment::Embedded, Deployment::Sidecar];

/// How to start a server.
#[derive(Debug)]
pub struct Builder {
    admins: Vec<String>,
    deployment: Deployment,
    upstream: Option<String>,
    upstream_ca: Option<PathBuf>,
    upstream_kind: grpc_proxy::upstream::UpstreamKind,
    data_dir: Option<PathBuf>,
    tls: Option<TlsFiles>,
    client_certs: Option<String>,
    limits: Limits,
    audit_log: Option<PathBuf>,
    audit: grpc_proxy::audit::AuditOptions,
    store: Option<grpc_proxy::store::StoreConfig>,
    jwks: Option<grpc_proxy::auth::jwks::JwksConfig>,
    dev_tokens: bool,
}

impl Default for Builder {
    fn default() -> Self {
        Self {
            admins: vec![ADMIN.into()],
            deployment: Deployment::Embedded,
            upstream: None,
            upstream_ca: None,
            upstream_kind: Default::default(),
            data_dir: None,
            tls: None,
            client_certs: None,
            limits: Limits::default(),
            audit_log: None,
            audit: Default::default(),
            store: None,
            jwks: None,
            dev_tokens: true,
        }
    }
}

impl Builder {
    /// An embedded server with [`ADMIN`], a fresh data directory and the
    /// default limits.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bootstraps these admins instead of [`ADMIN`].
    pub fn admins(mut self, admins: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.admins = admins.into_iter().map(Into::into).collect();
        self
    }

    /// Runs statements embedded or on a sidecar `lakegate engine`.
    pub fn deployment(mut self, d: Deployment) -> Self {
        self.deployment = d;
        self
    }

    /// Forwards statements to this Flight SQL server (`grpc://HOST:PORT`).
    pub fn upstream(mut self, url: impl Into<String>) -> Self {
        self.upstream = Some(url.into());
        self
    }

    /// Forwards statements to Ballista's scheduler at `url`
    /// (`--upstream URL --upstream-kind ballista`; see [`crate::ballista`]).
    pub fn ballista(mut self, url: impl Into<String>) -> Self {
        self.upstream = Some(url.into());
        self.upstream_kind = grpc_proxy::upstream::UpstreamKind::Ballista;
        self
    }

    /// Keeps the governance state in this PostgreSQL database
    /// (`--store postgres://…`) instead of the data directory.
    pub fn store(mut self, url: impl Into<String>) -> Self {
        self.store = Some(grpc_proxy::store::StoreConfig {
            url: url.into(),
            ca_file: None,
        });
        self
    }

    /// Also verifies this identity provider's tokens.
    pub fn jwks(mut self, config: grpc_proxy::auth::jwks::JwksConfig) -> Self {
        self.jwks = Some(config);
        self
    }

    /// Refuses development tokens (`--no-dev-tokens`).
    pub fn no_dev_tokens(mut self) -> Self {
        self.dev_tokens = false;
        self
    }

    /// Trusts this CA (PEM) for a `grpcs://` upstream.
    pub fn upstream_ca(mut self, pem: &Path) -> Self {
        self.upstream_ca = Some(pem.to_path_buf());
        self
    }

    /// Uses this data directory (and its store) instead of a fresh one.
    pub fn data_dir(mut self, dir: &Path) -> Self {
        self.data_dir = Some(dir.to_path_buf());
        self
    }

    /// Serves TLS; with a client CA, `client_certs` maps certificates.
    pub fn tls(mut self, files: TlsFiles) -> Self {
        self.tls = Some(files);
        self
    }

    /// The client-certificate map (`DATA_DIR/client-certs.json`).
    pub fn client_certs(mut self, json: impl Into<String>) -> Self {
        self.client_certs = Some(json.into());
        self
    }

    /// Server limits (the sidecar engine gets their engine half).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Writes the audit log here instead of `DATA_DIR/audit.jsonl`.
    pub fn audit_log(mut self, path: &Path) -> Self {
        self.audit_log = Some(path.to_path_buf());
        self
    }

    /// How the audit log is written (strict or best effort, sync, rotation).
    pub fn audit(mut self, options: grpc_proxy::audit::AuditOptions) -> Self {
        self.audit = options;
        self
    }

    /// Opens the store and bootstraps the admins; the catalog can then be
    /// built before the proxy starts.
    pub fn open(self) -> Staged {
        let dir = tempfile::tempdir().expect("temporary directory");
        let data = self
            .data_dir
            .clone()
            .unwrap_or_else(|| dir.path().join("data"));
        if let Some(map) = &self.client_certs {
            std::fs::create_dir_all(&data).expect("create the data directory");
            std::fs::write(data.join(grpc_proxy::server::CLIENT_CERTS_FILE), map)
                .expect("write the certificate map");
        }
        let engine_listener = match self.deployment {
            Deployment::Embedded => None,
            Deployment::Sidecar => {
                let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the engine");
                l.set_nonblocking(true).expect("non-blocking listener");
                Some(l)
            }
        };
        let upstream = match &engine_listener {
            Some(l) => Some(format!(
                "grpc://{}",
                l.local_addr().expect("engine address")
            )),
            None => self.upstream.clone(),
        };
        let admins = self
            .admins
            .iter()
            .map(|a| Principal::parse(a).expect("admin principal"))
            .collect();
        let state = AppState::open(ServerConfig {
            data_dir: data.clone(),
            store: self.store.clone(),
            jwks: self.jwks.clone(),
            dev_tokens: self.dev_tokens,
            listen: "127.0.0.1:0".into(),
            metrics_listen: None,
            admins,
            upstream: upstream.map(|url| grpc_proxy::upstream::UpstreamConfig {
                url,
                ca: self.upstream_ca.clone(),
                kind: self.upstream_kind,
                credentials: None,
            }),
            demo: false,
            audit_log: self.audit_log.clone(),
            audit: self.audit.clone(),
            tls: self.tls.clone(),
            limits: self.limits.clone(),
            blueprints: None,
            source_secrets: Default::default(),
        })
        .expect("open the server state");
        Staged {
            lake: dir.path().join("lake"),
            state,
            data,
            dir,
            engine_listener,
            limits: self.limits,
        }
    }

    /// Opens and serves an empty catalog.
    pub async fn start(self) -> TestServer {
        self.open().serve().await
    }

    /// Opens, builds the `sales` fixture (see [`Staged::with_sales`]) and serves.
    pub async fn start_with_sales(self) -> TestServer {
        self.open().with_sales().await.serve().await
    }
}

/// A server whose store is open and whose proxy has not started yet.
#[allow(
    missing_debug_implementations,
    reason = "holds the server state, which has no Debug"
)]
pub struct Staged {
    state: AppState,
    data: PathBuf,
    lake: PathBuf,
    dir: tempfile::TempDir,
    engine_listener: Option<std::net::TcpListener>,
    limits: Limits,
}

impl Staged {
    /// The policy engine over the store.
    pub fn governance(&self) -> &Arc<Governance> {
        &self.state.governance
    }

    /// Where the lake's files go (`TMP/lake`).
    pub fn lake(&self) -> &Path {
        &self.lake
    }

    /// Writes the `sales` fixture ([`crate::lake::write_sales`]) and
    /// registers the lake as a location, the database `sales` and the tables
    /// `sales.orders` (partitioned by `region`) and `sales.customers`.
    pub async fn with_sales(self) -> Self {
        crate::lake::write_sales(&self.lake);
        let gov = self.governance();
        let loc = format!("file://{}/", self.lake.display());
        gov.register_location(&admin(), &loc)
            .expect("register the lake");
        gov.create_database(&admin(), "sales", Some(&format!("{loc}sales/")))
            .expect("create sales");
        self.register_table("sales.orders", "sales/orders", Format::Parquet, &["region"])
            .await;
        self.register_table("sales.customers", "sales/customers", Format::Parquet, &[])
            .await;
        self
    }

    /// Creates table `name` over the lake folder `rel`, its columns inferred
    /// from the files there, as [`ADMIN`] (or the first admin).
    pub async fn register_table(&self, name: &str, rel: &str, format: Format, keys: &[&str]) {
        self.register_table_as(&admin(), name, rel, format, keys)
            .await;
    }

    /// Like [`Staged::register_table`], as `caller`.
    pub async fn register_table_as(
        &self,
        caller: &Caller,
        name: &str,
        rel: &str,
        format: Format,
        keys: &[&str],
    ) {
        let uri = LocationUri::parse(&format!("file://{}/", self.lake.join(rel).display()))
            .expect("table location");
        let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        let inf = lakegate_engine::infer::infer_table(&uri, format, &keys)
            .await
            .unwrap_or_else(|e| panic!("infer {name}: {e}"));
        self.governance()
            .create_table(
                caller,
                &NewTable {
                    name: name.into(),
                    location: uri.to_string(),
                    format,
                    columns: inf.columns,
                    partition_keys: inf.partition_keys,
                },
            )
            .unwrap_or_else(|e| panic!("create {name}: {e}"));
    }

    /// Starts the sidecar engine (over the catalog as it is now) if there is
    /// one, then the proxy on a free loopback port.
    pub async fn serve(self) -> TestServer {
        let Staged {
            mut state,
            data,
            lake,
            dir,
            engine_listener,
            limits,
        } = self;
        let engine = engine_listener.map(|l| {
            let snap = state.governance.snapshot().expect("catalog snapshot");
            let listener = tokio::net::TcpListener::from_std(l).expect("engine listener");
            EngineServer::start_on(&snap.catalog, &limits, listener)
        });
        state.attach_flight().await.expect("attach Flight SQL");
        let proxy = state.flight.clone().expect("the Flight SQL proxy");
        let gov = state.governance.clone();
        let key = state.signing_key().to_vec();
        let (listener, addr) = bind("127.0.0.1:0").await.expect("bind the proxy");
        let (ops, ops_addr) = bind("127.0.0.1:0").await.expect("bind the operations port");
        grpc_proxy::server::spawn_ops(&state, ops);
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = serve_on(state, listener, async {
                let _ = rx.await;
            })
            .await;
        });
        TestServer {
            addr: format!("http://{addr}"),
            ops_addr: format!("{ops_addr}"),
            key,
            gov,
            proxy,
            engine,
            data,
            lake,
            dir,
            stop: Some(tx),
        }
    }
}

/// A running server; stopped when dropped.
pub struct TestServer {
    /// `http://127.0.0.1:PORT`.
    pub addr: String,
    /// `127.0.0.1:PORT` of `/metrics` and `/healthz`.
    pub ops_addr: String,
    /// The token signing key.
    pub key: Vec<u8>,
    /// The policy engine over the store.
    pub gov: Arc<Governance>,
    /// The Flight SQL proxy serving the port.
    pub proxy: Arc<FlightProxy>,
    /// The sidecar engine, if the deployment has one.
    pub engine: Option<EngineServer>,
    /// The data directory (store, key, audit log).
    pub data: PathBuf,
    /// The lake's root folder.
    pub lake: PathBuf,
    /// Holds the data directory and the lake; removed on drop.
    pub dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

impl std::fmt::Debug for TestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestServer")
            .field("addr", &self.addr)
            .finish()
    }
}

impl TestServer {
    /// The address as a `grpc://` URL (for ADBC and `--upstream`).
    pub fn grpc_url(&self) -> String {
        self.addr.replacen("http://", "grpc://", 1)
    }

    /// A sidecar deployment over the same store: `lakegate engine` over
    /// the tables that exist now, and a proxy with `--upstream` in front of
    /// it. Grants made through either server reach both proxies.
    pub async fn sidecar(&self) -> TestServer {
        Builder::new()
            .data_dir(&self.data)
            .deployment(Deployment::Sidecar)
            .start()
            .await
    }

    /// A token for `principal` with `groups` and `attrs`, valid 10 minutes.
    pub fn token(&self, principal: &str, groups: &[&str], attrs: &[(&str, &str)]) -> String {
        self.token_for(principal, groups, attrs, Duration::from_secs(600))
    }

    /// Like [`TestServer::token`], valid for `ttl`.
    pub fn token_for(
        &self,
        principal: &str,
        groups: &[&str],
        attrs: &[(&str, &str)],
        ttl: Duration,
    ) -> String {
        self.token_of(
            &Principal::parse(principal).expect("principal"),
            &groups
                .iter()
                .map(|g| Principal::parse(g).expect("group"))
                .collect::<Vec<_>>(),
            &attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ttl,
        )
    }

    /// A token for a caller given as policy-engine values.
    pub fn token_of(
        &self,
        principal: &Principal,
        groups: &[Principal],
        attrs: &BTreeMap<String, String>,
        ttl: Duration,
    ) -> String {
        grpc_proxy::auth::mint_token(&self.key, principal, groups, attrs, ttl).expect("mint")
    }

    /// A connected Flight SQL client sending `token`.
    pub async fn client(&self, token: &str) -> FlightSqlServiceClient<Channel> {
        crate::flight::connect(&self.addr, token).await
    }

    /// Runs `sql` with `token` and collects every endpoint's batches.
    pub async fn query(&self, token: &str, sql: &str) -> Result<Vec<RecordBatch>, tonic::Status> {
        let mut c = self.client(token).await;
        let info = c.execute(sql.to_string(), None).await.map_err(status)?;
        fetch(&mut c, info).await
    }

    /// Grants SELECT on `resource` to `principal` as [`ADMIN`], with masks
    /// (column → mask).
    pub fn grant(&self, principal: &str, resource: ResourceSpec, masks: &[(&str, &str)]) {
        grant_select(&self.gov, principal, resource, masks);
    }
}
