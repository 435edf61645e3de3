//! Durable storage of the governance state.
//!
//! A [`Store`] holds objects keyed by (kind, key) with a JSON body, plus one
//! version number that increases with every commit. We store JSON bodies under
//! typed keys rather than one SQL table per object kind because the model is
//! read whole into a [`Catalog`] snapshot and never queried piecemeal; the
//! keys give uniqueness and the version gives optimistic concurrency, so
//! several proxies can share one store.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, params};

use crate::catalog::{Catalog, Change, Kind};
use crate::error::{Error, Result};

/// Durable storage for the catalog, grants and policies.
pub trait Store: Send + Sync {
    /// The current version; it increases with every commit.
    fn version(&self) -> Result<u64>;
    /// Reads the whole state at its current version.
    fn load(&self) -> Result<Catalog>;
    /// Applies `changes` in one transaction if the store is still at
    /// `expected_version`, returning the new version; otherwise
    /// [`Error::Conflict`] and nothing changes.
    fn commit(&self, expected_version: u64, changes: &[Change]) -> Result<u64>;
    /// The secret key `name` that every node on this store shares (token
    /// signing, ticket sealing, mask hashing): stores `candidate` unless the
    /// store holds that key already, and returns the stored key, so that
    /// nodes starting together agree on one. `None`: this store keeps no
    /// keys, and each node reads its data directory's key file.
    fn shared_key(&self, name: &str, candidate: &[u8]) -> Result<Option<Vec<u8>>> {
        let _ = (name, candidate);
        Ok(None)
    }
}

/// Schema migrations, applied in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &["CREATE TABLE meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL);
     INSERT INTO meta (k, v) VALUES ('version', 0);
     CREATE TABLE objects (
        kind TEXT NOT NULL,
        key  TEXT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (kind, key)
     ) WITHOUT ROWID;"];

/// The embedded default store: one SQLite file in WAL mode.
pub struct SqliteStore {
    conn: Mutex<Connection>,
    /// Crash tests only: how long a commit waits inside its transaction,
    /// after its writes and before `COMMIT` (see [`COMMIT_DELAY_VAR`]).
    commit_delay: Option<std::time::Duration>,
}

/// Fault injection for crash tests: with `LAKEGATE_FAULT_STORE_COMMIT_DELAY_MS`
/// set in the server's environment, every commit waits that long inside its
/// transaction, after its writes and before `COMMIT`, so that a test can
/// kill the server there and show that the change is whole or absent.
/// Unset, as in production, commits do not wait.
pub const COMMIT_DELAY_VAR: &str = "LAKEGATE_FAULT_STORE_COMMIT_DELAY_MS";

impl SqliteStore {
    /// Opens (creating if needed) the store at `path` and runs migrations.
    pub fn open(path: &Path) -> Result<Self> {
        let conn = Connection::open(path).map_err(|e| {
            Error::StoreUnavailable(format!("cannot open `{}`: {e}", path.display()))
        })?;
        Self::init(conn)
    }

    /// An in-memory SQLite store, for tests.
    pub fn open_in_memory() -> Result<Self> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(mut conn: Connection) -> Result<Self> {
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // journal_mode returns a row, so it is queried rather than executed.
        let _mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        conn.execute_batch("PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;")?;
        let have: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let have = usize::try_from(have).map_err(|_| {
            Error::StoreUnavailable(format!("store schema version {have} is invalid"))
        })?;
        if have > MIGRATIONS.len() {
            return Err(Error::StoreUnavailable(format!(
                "store schema version {have} is newer than this lakegate understands ({}); upgrade lakegate",
                MIGRATIONS.len()
            )));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(have) {
            let tx = conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(
                None,
                "user_version",
                i64::try_from(i + 1).unwrap_or(i64::MAX),
            )?;
            tx.commit()?;
        }
        let commit_delay = std::env::var(COMMIT_DELAY_VAR)
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|ms| *ms > 0)
            .map(std::time::Duration::from_millis);
        Ok(Self {
            conn: Mutex::new(conn),
            commit_delay,
        })
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Connection>> {
        self.conn
            .lock()
            .map_err(|_| Error::StoreUnavailable("store connection lock poisoned".into()))
    }
}

fn read_version(conn: &Connection) -> Result<u64> {
    // Cached: every request reads the version (a revoke takes effect on
    // the next call), so the statement is parsed once per connection.
    let v: i64 = conn
        .prepare_cached("SELECT v FROM meta WHERE k = 'version'")?
        .query_row([], |r| r.get(0))?;
    u64::try_from(v).map_err(|_| Error::StoreUnavailable(format!("store version {v} is invalid")))
}

impl Store for SqliteStore {
    fn version(&self) -> Result<u64> {
        read_version(&*self.lock()?)
    }

    fn load(&self) -> Result<Catalog> {
        let mut conn = self.lock()?;
        // One read transaction, so the version and objects agree.
        let tx = conn.transaction()?;
        let mut cat = Catalog {
            version: read_version(&tx)?,
            ..Catalog::default()
        };
        {
            let mut stmt = tx.prepare("SELECT kind, key, body FROM objects")?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                let kind: String = row.get(0)?;
                let key: String = row.get(1)?;
                let body: String = row.get(2)?;
                let kind = Kind::parse(&kind).ok_or_else(|| {
                    Error::StoreUnavailable(format!(
                        "stored object kind `{kind}` is unknown; upgrade lakegate"
                    ))
                })?;
                cat.load_object(kind, &key, &body)?;
            }
        }
        tx.commit()?;
        Ok(cat)
    }

    fn commit(&self, expected_version: u64, changes: &[Change]) -> Result<u64> {
        let mut conn = self.lock()?;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let now = read_version(&tx)?;
        if now != expected_version {
            return Err(Error::Conflict);
        }
        for change in changes {
            let (kind, key, body) = change.storage()?;
            match body {
                Some(body) => {
                    tx.execute(
                        "INSERT INTO objects (kind, key, body) VALUES (?1, ?2, ?3)
                         ON CONFLICT (kind, key) DO UPDATE SET body = excluded.body",
                        params![kind.as_str(), key, body],
                    )?;
                }
                None => {
                    tx.execute(
                        "DELETE FROM objects WHERE kind = ?1 AND key = ?2",
                        params![kind.as_str(), key],
                    )?;
                }
            }
        }
        let next = now + 1;
        let next_i = i64::try_from(next)
            .map_err(|_| Error::StoreUnavailable("store version overflow".into()))?;
        tx.execute(
            "UPDATE meta SET v = ?1 WHERE k = 'version'",
            params![next_i],
        )?;
        if let Some(delay) = self.commit_delay {
            std::thread::sleep(delay);
        }
        tx.commit()?;
        Ok(next)
    }
}

/// A store that lives in memory: the reference model for the SQLite store's
/// property test, and a fast store for unit tests.
#[derive(Default)]
pub struct MemStore {
    state: Mutex<Catalog>,
}

impl MemStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
    /// A store holding `catalog` (at its version): a scratch copy of a
    /// real store's state, e.g. to replay a policy repository onto.
    pub fn seeded(catalog: Catalog) -> Self {
        Self {
            state: Mutex::new(catalog),
        }
    }
    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Catalog>> {
        self.state
            .lock()
            .map_err(|_| Error::StoreUnavailable("memory store lock poisoned".into()))
    }
}

impl Store for MemStore {
    fn version(&self) -> Result<u64> {
        Ok(self.lock()?.version)
    }
    fn load(&self) -> Result<Catalog> {
        Ok(self.lock()?.clone())
    }
    fn commit(&self, expected_version: u64, changes: &[Change]) -> Result<u64> {
        let mut st = self.lock()?;
        if st.version != expected_version {
            return Err(Error::Conflict);
        }
        for c in changes {
            // Validate serialisability exactly as the SQLite store would.
            c.storage()?;
        }
        for c in changes {
            st.apply(c);
        }
        st.version += 1;
        Ok(st.version)
    }
}
