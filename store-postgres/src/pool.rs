//! A small connection pool on the store's runtime: at most `max` connections
//! open at once; idle ones are reused, broken ones are dropped and replaced
//! on the next call, which is how the store recovers after an outage.

use std::sync::{Arc, Mutex};

use policy_engine::{Error, Result};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_postgres::{Client, NoTls, Statement};
use tokio_postgres_rustls::MakeRustlsConnect;

/// How connections are secured.
pub(crate) enum Tls {
    /// `sslmode=disable`.
    Off,
    /// TLS with rustls, verified against the configured roots.
    On(MakeRustlsConnect),
}

/// One connection, checked out of the pool.
pub(crate) struct Conn {
    pub(crate) client: Client,
    /// The prepared version read, once the schema exists.
    version: Option<Statement>,
    /// Held while checked out; dropping a connection (e.g. after an error)
    /// frees its place.
    permit: Option<OwnedSemaphorePermit>,
    label: Arc<str>,
}

impl Conn {
    /// The store error for `e` on this connection.
    pub(crate) fn error(&self, e: &tokio_postgres::Error) -> Error {
        error(&self.label, e)
    }

    /// The prepared `SELECT` of the version (prepared once per connection:
    /// every statement of every caller runs it).
    pub(crate) async fn version_statement(&mut self) -> Result<Statement> {
        if let Some(s) = &self.version {
            return Ok(s.clone());
        }
        let s = self
            .client
            .prepare("SELECT v FROM lakegate_meta WHERE k = 'version'")
            .await
            .map_err(|e| error(&self.label, &e))?;
        self.version = Some(s.clone());
        Ok(s)
    }
}

/// The store error for a PostgreSQL error: the server's own message when
/// there is one (tokio-postgres prints only "db error" for those).
pub(crate) fn error(label: &str, e: &tokio_postgres::Error) -> Error {
    let detail = match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => {
            let mut s = e.to_string();
            let mut src = std::error::Error::source(e);
            while let Some(inner) = src {
                s.push_str(": ");
                s.push_str(&inner.to_string());
                src = inner.source();
            }
            s
        }
    };
    Error::StoreUnavailable(format!("store `{label}`: {detail}"))
}

/// The pool.
pub(crate) struct Pool {
    config: tokio_postgres::Config,
    tls: Tls,
    idle: Mutex<Vec<Conn>>,
    permits: Arc<Semaphore>,
    /// `postgres://USER@HOST:PORT/DB`, for errors and logs.
    pub(crate) label: Arc<str>,
}

impl Pool {
    pub(crate) fn new(config: tokio_postgres::Config, tls: Tls, max: usize, label: String) -> Self {
        Self {
            config,
            tls,
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(max)),
            label: label.into(),
        }
    }

    /// An open connection: an idle one if there is one, else a new one.
    pub(crate) async fn get(&self) -> Result<Conn> {
        let permit = self.permits.clone().acquire_owned().await.map_err(|_| {
            Error::StoreUnavailable(format!("store `{}`: the pool is closed", self.label))
        })?;
        loop {
            let idle = self.idle.lock().ok().and_then(|mut v| v.pop());
            match idle {
                Some(conn) if conn.client.is_closed() => continue,
                Some(mut conn) => {
                    conn.permit = Some(permit);
                    return Ok(conn);
                }
                None => break,
            }
        }
        let client = self.open().await?;
        Ok(Conn {
            client,
            version: None,
            permit: Some(permit),
            label: self.label.clone(),
        })
    }

    /// Returns a connection after a call that succeeded.
    pub(crate) fn put(&self, mut conn: Conn) {
        conn.permit = None;
        if conn.client.is_closed() {
            return;
        }
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(conn);
        }
    }

    async fn open(&self) -> Result<Client> {
        let label = self.label.clone();
        let err = |e: tokio_postgres::Error| error(&label, &e);
        let client = match &self.tls {
            Tls::Off => {
                let (client, connection) = self.config.connect(NoTls).await.map_err(err)?;
                tokio::spawn(drive(connection, self.label.clone()));
                client
            }
            Tls::On(tls) => {
                let (client, connection) = self.config.connect(tls.clone()).await.map_err(err)?;
                tokio::spawn(drive(connection, self.label.clone()));
                client
            }
        };
        Ok(client)
    }
}

/// Drives one connection until it closes; a broken connection is logged,
/// and its client reports `is_closed`, so the pool drops it.
async fn drive<F>(connection: F, label: Arc<str>)
where
    F: std::future::Future<Output = std::result::Result<(), tokio_postgres::Error>>,
{
    if let Err(e) = connection.await {
        tracing::warn!(store = %label, error = %e, "store connection closed");
    }
}
