//! Which governance store a server runs on: the data directory's SQLite
//! file (the embedded default) or a PostgreSQL database shared by many
//! nodes (`--store postgres://…`, DESIGN §1 scale-out), and where the
//! signing key comes from for each.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use lakegate_store_postgres::{PgOptions, PgStore};
use policy_engine::{SqliteStore, Store};
use rand::RngCore;

use crate::error::{Error, Result};

/// The name of the shared signing key in a PostgreSQL store.
const SIGNING_KEY: &str = "signing";

/// `--store URL [--store-ca FILE]`.
#[derive(Clone)]
pub struct StoreConfig {
    /// `postgres://USER@HOST:PORT/DB`: TLS with a verified certificate
    /// unless `?sslmode=disable`.
    pub url: String,
    /// CA certificates (PEM) trusted for the database's TLS certificate.
    pub ca_file: Option<PathBuf>,
}

impl std::fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreConfig")
            .field("url", &lakegate_store_postgres::redact_url(&self.url))
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

/// An open store, the key the server signs and seals with, and a name for
/// logs and errors (never a password).
pub struct Opened {
    /// The store.
    pub store: Arc<dyn Store>,
    /// The token signing, ticket sealing and mask hashing key.
    pub key: Vec<u8>,
    /// `DATA_DIR/lakegate.db` or `postgres://USER@HOST:PORT/DB`.
    pub label: String,
}

/// The start-up error for a store that cannot be opened.
pub(crate) fn store_error(label: &str, e: policy_engine::Error) -> Error {
    Error::Store {
        store: label.to_string(),
        message: match e {
            policy_engine::Error::StoreUnavailable(m) => m,
            other => other.to_string(),
        },
    }
}

/// A store that counts its calls in [`crate::metrics`].
struct Metered(Arc<dyn Store>);

impl Store for Metered {
    fn version(&self) -> policy_engine::Result<u64> {
        let m = crate::metrics::metrics();
        m.store_version_read();
        self.0.version().inspect_err(|_| m.store_error())
    }
    fn load(&self) -> policy_engine::Result<policy_engine::catalog::Catalog> {
        let m = crate::metrics::metrics();
        m.store_load();
        self.0.load().inspect_err(|_| m.store_error())
    }
    fn commit(
        &self,
        expected_version: u64,
        changes: &[policy_engine::catalog::Change],
    ) -> policy_engine::Result<u64> {
        self.0.commit(expected_version, changes).inspect_err(|e| {
            if matches!(e, policy_engine::Error::StoreUnavailable(_)) {
                crate::metrics::metrics().store_error();
            }
        })
    }
    fn shared_key(&self, name: &str, candidate: &[u8]) -> policy_engine::Result<Option<Vec<u8>>> {
        self.0.shared_key(name, candidate)
    }
}

/// Opens the store `config` names, or the data directory's SQLite file.
/// With PostgreSQL, the key is the store's shared key (created by the first
/// node), so every node verifies the same tokens and opens the same tickets;
/// with SQLite, it is the data directory's key file.
pub fn open(data_dir: &Path, config: Option<&StoreConfig>) -> Result<Opened> {
    match config {
        None => {
            let key = crate::auth::load_or_create_key(data_dir)?;
            let path = data_dir.join(crate::server::STORE_FILE);
            let label = path.display().to_string();
            let store = SqliteStore::open(&path).map_err(|e| store_error(&label, e))?;
            Ok(Opened {
                store: Arc::new(Metered(Arc::new(store))),
                key,
                label,
            })
        }
        Some(config) => {
            let store = connect(config)?;
            let label = store.label().to_string();
            let key = shared_key(&store)?;
            Ok(Opened {
                store: Arc::new(Metered(Arc::new(store))),
                key,
                label,
            })
        }
    }
}

/// The PostgreSQL store `config` names, for a process that only reads the
/// catalog (`lakegate engine --store`).
pub fn connect_shared(config: &StoreConfig) -> Result<Arc<dyn Store>> {
    Ok(Arc::new(connect(config)?))
}

fn connect(config: &StoreConfig) -> Result<PgStore> {
    let mut options = PgOptions::new(config.url.clone());
    options.ca_file = config.ca_file.clone();
    PgStore::connect(&options)
        .map_err(|e| store_error(&lakegate_store_postgres::redact_url(&config.url), e))
}

/// The store's shared signing key, created (32 random bytes) if it has none.
fn shared_key(store: &PgStore) -> Result<Vec<u8>> {
    let mut candidate = vec![0u8; crate::auth::KEY_LEN];
    rand::rng().fill_bytes(&mut candidate);
    match store.shared_key(SIGNING_KEY, &candidate) {
        Ok(Some(key)) if key.len() == crate::auth::KEY_LEN => Ok(key),
        Ok(_) => Err(Error::Store {
            store: store.label().to_string(),
            message: format!(
                "the shared signing key is not {} bytes; delete the row `{SIGNING_KEY}` \
                 of lakegate_keys to create a new one (tokens and tickets of the old key \
                 stop working)",
                crate::auth::KEY_LEN
            ),
        }),
        Err(e) => Err(store_error(store.label(), e)),
    }
}

/// The signing key a server on `config`'s store uses (for `lakegate token
/// --store`): read from the store, never from a copied file.
pub fn signing_key(config: &StoreConfig) -> Result<Vec<u8>> {
    shared_key(&connect(config)?)
}
