//! The PostgreSQL governance store (`lakegate serve --store postgres://…`):
//! the whole governance state of a deployment in one PostgreSQL database, so
//! that many stateless proxies behave as one service (DESIGN §1 scale-out).
//!
//! It keeps the embedded SQLite store's layout — objects by (kind, key) with
//! a JSON body, and one version that every commit increases — so the
//! policy engine's optimistic concurrency works unchanged across nodes:
//! - every statement reads the version (one prepared `SELECT` on a pooled
//!   connection) and reloads the catalog when it moved, so a revoke made on
//!   any node holds on every node for the next statement;
//! - a commit locks the version row (`SELECT … FOR UPDATE`) and fails with
//!   [`Error::Conflict`] if another node committed first; the policy engine
//!   retries on a fresh snapshot, so no update is lost;
//! - the token signing and ticket sealing key lives in the store
//!   ([`Store::shared_key`]), so a ticket sealed by one node opens on another.
//!
//! [`Store`] is synchronous (its callers run on blocking threads, as with
//! SQLite). tokio-postgres is asynchronous, so the store owns a small runtime
//! of its own; a call hands its work to that runtime and waits for the reply,
//! which never nests one runtime inside another, whatever thread calls.
//!
//! Failure is closed: an unreachable database, a timeout or a broken
//! connection is [`Error::StoreUnavailable`], which denies the request; the
//! next call connects again, so service resumes when the database is back.

mod migrations;
mod pool;
mod tls;

use std::future::Future;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use policy_engine::catalog::{Catalog, Kind};
use policy_engine::store::Store;
use policy_engine::{Error, Result};
use tokio_postgres::IsolationLevel;

use crate::pool::{Conn, Pool};

pub use migrations::SCHEMA_VERSION;

/// How to reach the store; see [`PgStore::connect`].
#[derive(Clone)]
pub struct PgOptions {
    /// `postgres://USER[:PASSWORD]@HOST:PORT/DB[?sslmode=disable]` (libpq's
    /// URL form). TLS is required, and the server's certificate verified
    /// (as libpq's `verify-full`), unless `sslmode=disable`. The password may
    /// instead come from `PGPASSWORD`.
    pub url: String,
    /// PEM file of the certificate authorities trusted for the database's
    /// TLS certificate; without it, the system's roots.
    pub ca_file: Option<PathBuf>,
    /// Most connections open at once (the pool's size).
    pub max_connections: usize,
    /// How long one store call (connecting included) may take before the
    /// request it serves is denied as UNAVAILABLE.
    pub timeout: Duration,
}

impl std::fmt::Debug for PgOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgOptions")
            .field("url", &redact_url(&self.url))
            .field("ca_file", &self.ca_file)
            .field("max_connections", &self.max_connections)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// A store URL safe to print: `postgres://USER@HOST:PORT/DB` if it parses,
/// else a placeholder (it may hold a password anywhere).
pub fn redact_url(url: &str) -> String {
    tokio_postgres::Config::from_str(url)
        .map(|c| redacted(&c))
        .unwrap_or_else(|_| "<a store URL that does not parse>".to_string())
}

impl PgOptions {
    /// Defaults for `url`: 8 connections, 5 s per call, the system's roots.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            ca_file: None,
            max_connections: 8,
            timeout: Duration::from_secs(5),
        }
    }
}

/// The PostgreSQL store. Cheap to share behind an `Arc`; dropping it stops
/// its runtime and closes its connections.
pub struct PgStore {
    runtime: Option<tokio::runtime::Runtime>,
    pool: Arc<Pool>,
    timeout: Duration,
    label: String,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("store", &self.label)
            .finish_non_exhaustive()
    }
}

/// `postgres://USER@HOST:PORT/DB`, without the password or options: safe to
/// print in logs and errors.
pub fn redacted(config: &tokio_postgres::Config) -> String {
    let user = config.get_user().unwrap_or("");
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(h) => h.clone(),
            tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
        })
        .unwrap_or_default();
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let db = config.get_dbname().unwrap_or(user);
    format!("postgres://{user}@{host}:{port}/{db}")
}

impl PgStore {
    /// Connects, applies the schema migrations this binary knows (under an
    /// advisory lock, so nodes starting together migrate once), and refuses a
    /// store whose schema is newer than this binary.
    pub fn connect(options: &PgOptions) -> Result<Self> {
        let mut config = tokio_postgres::Config::from_str(&options.url).map_err(|e| {
            Error::StoreUnavailable(format!(
                "the store URL is not a PostgreSQL URL ({e}); write \
                 postgres://USER@HOST:PORT/DB"
            ))
        })?;
        if config.get_password().is_none()
            && let Ok(password) = std::env::var("PGPASSWORD")
        {
            config.password(password);
        }
        // libpq's default, `prefer`, falls back to plaintext when the server
        // (or anyone in the path) declines TLS; a store holding the signing
        // key must not. Only an explicit `sslmode=disable` connects in the
        // clear.
        if config.get_ssl_mode() == tokio_postgres::config::SslMode::Prefer {
            config.ssl_mode(tokio_postgres::config::SslMode::Require);
        }
        config.connect_timeout(options.timeout);
        config.application_name("lakegate");
        // Bound the server's side too: when a call times out here, the
        // backend must not keep the version row locked for other nodes.
        let ms = options.timeout.as_millis();
        config.options(format!(
            "-c statement_timeout={ms} -c lock_timeout={ms} \
             -c idle_in_transaction_session_timeout={ms}"
        ));
        config.keepalives(true);
        config.keepalives_idle(Duration::from_secs(30));
        config.tcp_user_timeout(options.timeout);
        let label = redacted(&config);
        let tls = tls::connector(config.get_ssl_mode(), options.ca_file.as_deref())
            .map_err(|e| Error::StoreUnavailable(format!("store `{label}`: {e}")))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("lakegate-store")
            .enable_all()
            .build()
            .map_err(|e| {
                Error::StoreUnavailable(format!("cannot start the store's runtime: {e}"))
            })?;
        let pool = Arc::new(Pool::new(
            config,
            tls,
            options.max_connections.max(1),
            label.clone(),
        ));
        let store = Self {
            runtime: Some(runtime),
            pool,
            timeout: options.timeout,
            label,
        };
        store.call(|pool: Arc<Pool>| async move {
            let mut conn = pool.get().await?;
            migrations::apply(&mut conn.client, &pool.label).await
        })?;
        Ok(store)
    }

    /// `postgres://USER@HOST:PORT/DB` (no password).
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Runs `work` on the store's runtime and waits for it, at most the
    /// store's timeout.
    fn call<T, F>(&self, work: impl FnOnce(Arc<Pool>) -> F) -> Result<T>
    where
        T: Send + 'static,
        F: Future<Output = Result<T>> + Send + 'static,
    {
        let runtime = self
            .runtime
            .as_ref()
            .ok_or_else(|| Error::StoreUnavailable("the store is closed".into()))?;
        let (tx, rx) = mpsc::sync_channel(1);
        let timeout = self.timeout;
        let label = self.label.clone();
        let fut = work(self.pool.clone());
        runtime.spawn(async move {
            let out = match tokio::time::timeout(timeout, fut).await {
                Ok(out) => out,
                Err(_) => Err(Error::StoreUnavailable(format!(
                    "store `{label}` did not answer within {timeout:?}"
                ))),
            };
            // The caller may have given up (its own timeout); nothing to do.
            let _ = tx.send(out);
        });
        match rx.recv_timeout(timeout + Duration::from_secs(1)) {
            Ok(out) => out,
            Err(_) => Err(Error::StoreUnavailable(format!(
                "store `{}` did not answer within {timeout:?}",
                self.label
            ))),
        }
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which tokio forbids inside another
        // runtime; shutting it down in the background never does.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

async fn read_version(conn: &mut Conn) -> Result<u64> {
    let statement = conn.version_statement().await?;
    let row = conn
        .client
        .query_one(&statement, &[])
        .await
        .map_err(|e| conn.error(&e))?;
    let v: i64 = row.try_get(0).map_err(|e| conn.error(&e))?;
    u64::try_from(v).map_err(|_| Error::StoreUnavailable(format!("store version {v} is invalid")))
}

impl Store for PgStore {
    fn version(&self) -> Result<u64> {
        self.call(|pool: Arc<Pool>| async move {
            // A pooled connection may have died with a restart of the
            // database that we have not noticed yet: try once more on a
            // fresh one before denying.
            let mut last = None;
            for _ in 0..2 {
                let mut conn = pool.get().await?;
                match read_version(&mut conn).await {
                    Ok(v) => {
                        pool.put(conn);
                        return Ok(v);
                    }
                    Err(e) => last = Some(e),
                }
            }
            Err(last.unwrap_or_else(|| Error::StoreUnavailable("no connection".into())))
        })
    }

    fn load(&self) -> Result<Catalog> {
        self.call(|pool: Arc<Pool>| async move {
            let mut conn = pool.get().await?;
            let label = pool.label.clone();
            let err = |e: &tokio_postgres::Error| pool::error(&label, e);
            // One snapshot, so the version and the objects agree.
            let tx = conn
                .client
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await
                .map_err(|e| err(&e))?;
            let row = tx
                .query_one("SELECT v FROM lakegate_meta WHERE k = 'version'", &[])
                .await
                .map_err(|e| err(&e))?;
            let v: i64 = row.try_get(0).map_err(|e| err(&e))?;
            let mut cat = Catalog {
                version: u64::try_from(v).map_err(|_| {
                    Error::StoreUnavailable(format!("store version {v} is invalid"))
                })?,
                ..Catalog::default()
            };
            let rows = tx
                .query("SELECT kind, key, body FROM lakegate_objects", &[])
                .await
                .map_err(|e| err(&e))?;
            for row in rows {
                let kind: &str = row.try_get(0).map_err(|e| err(&e))?;
                let key: &str = row.try_get(1).map_err(|e| err(&e))?;
                let body: &str = row.try_get(2).map_err(|e| err(&e))?;
                let kind = Kind::parse(kind).ok_or_else(|| {
                    Error::StoreUnavailable(format!(
                        "stored object kind `{kind}` is unknown; upgrade lakegate"
                    ))
                })?;
                cat.load_object(kind, key, body)?;
            }
            tx.commit().await.map_err(|e| err(&e))?;
            pool.put(conn);
            Ok(cat)
        })
    }

    fn commit(
        &self,
        expected_version: u64,
        changes: &[policy_engine::catalog::Change],
    ) -> Result<u64> {
        // Serialise first: a change that cannot be stored fails before any
        // round trip, exactly as in the SQLite store.
        let mut rows = Vec::with_capacity(changes.len());
        for change in changes {
            let (kind, key, body) = change.storage()?;
            rows.push((kind.as_str().to_owned(), key, body));
        }
        self.call(move |pool: Arc<Pool>| async move {
            let mut conn = pool.get().await?;
            let label = pool.label.clone();
            let err = |e: &tokio_postgres::Error| pool::error(&label, e);
            let tx = conn.client.transaction().await.map_err(|e| err(&e))?;
            let row = tx
                .query_one(
                    "SELECT v FROM lakegate_meta WHERE k = 'version' FOR UPDATE",
                    &[],
                )
                .await
                .map_err(|e| err(&e))?;
            let now: i64 = row.try_get(0).map_err(|e| err(&e))?;
            if u64::try_from(now).ok() != Some(expected_version) {
                // Roll back and keep the connection: a lost race is not a
                // broken connection.
                tx.rollback().await.map_err(|e| err(&e))?;
                pool.put(conn);
                return Err(Error::Conflict);
            }
            let upsert = tx
                .prepare(
                    "INSERT INTO lakegate_objects (kind, key, body) VALUES ($1, $2, $3)
                     ON CONFLICT (kind, key) DO UPDATE SET body = excluded.body",
                )
                .await
                .map_err(|e| err(&e))?;
            let delete = tx
                .prepare("DELETE FROM lakegate_objects WHERE kind = $1 AND key = $2")
                .await
                .map_err(|e| err(&e))?;
            for (kind, key, body) in &rows {
                match body {
                    Some(body) => tx.execute(&upsert, &[kind, key, body]).await,
                    None => tx.execute(&delete, &[kind, key]).await,
                }
                .map_err(|e| err(&e))?;
            }
            let next = now
                .checked_add(1)
                .ok_or_else(|| Error::StoreUnavailable("store version overflow".into()))?;
            tx.execute(
                "UPDATE lakegate_meta SET v = $1 WHERE k = 'version'",
                &[&next],
            )
            .await
            .map_err(|e| err(&e))?;
            tx.commit().await.map_err(|e| err(&e))?;
            pool.put(conn);
            u64::try_from(next)
                .map_err(|_| Error::StoreUnavailable("store version overflow".into()))
        })
    }

    fn shared_key(&self, name: &str, candidate: &[u8]) -> Result<Option<Vec<u8>>> {
        let name = name.to_owned();
        let candidate = candidate.to_vec();
        self.call(move |pool: Arc<Pool>| async move {
            let conn = pool.get().await?;
            let label = pool.label.clone();
            let err = |e: &tokio_postgres::Error| pool::error(&label, e);
            let read = "SELECT value FROM lakegate_keys WHERE name = $1";
            // Read first, so that a reader (`token --store`, `engine
            // --store`) needs no write right once the key exists.
            let key: Vec<u8> = match conn.client.query_opt(read, &[&name]).await {
                Ok(Some(row)) => row.try_get(0).map_err(|e| err(&e))?,
                Ok(None) => {
                    // Whoever inserts first wins; everyone reads the winner.
                    conn.client
                        .execute(
                            "INSERT INTO lakegate_keys (name, value) VALUES ($1, $2)
                             ON CONFLICT (name) DO NOTHING",
                            &[&name, &candidate],
                        )
                        .await
                        .map_err(|e| err(&e))?;
                    let row = conn
                        .client
                        .query_one(read, &[&name])
                        .await
                        .map_err(|e| err(&e))?;
                    row.try_get(0).map_err(|e| err(&e))?
                }
                Err(e) => return Err(err(&e)),
            };
            pool.put(conn);
            Ok(Some(key))
        })
    }
}
