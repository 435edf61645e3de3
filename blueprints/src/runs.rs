//! Run records (DESIGN §7 "Runs"): one SQLite file beside the governance
//! store. A run is inserted as RUNNING in the same transaction that checks
//! no other run of its blueprint is RUNNING, so two runs of one blueprint
//! can never both start. When the store is opened, runs still RUNNING
//! belong to a server that stopped mid-run, and are closed as FAILED.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::run::Outcome;

/// A run's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RunState {
    /// Still running.
    Running,
    /// Every table committed.
    Succeeded,
    /// Stopped with an error; see the record's `error`.
    Failed,
    /// A schedule fell due while the previous run still ran.
    Skipped,
}

impl RunState {
    /// The upper-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Running => "RUNNING",
            RunState::Succeeded => "SUCCEEDED",
            RunState::Failed => "FAILED",
            RunState::Skipped => "SKIPPED",
        }
    }
}

/// One run, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Unique id.
    pub id: String,
    /// The account the blueprint belongs to.
    pub account: String,
    /// The blueprint's name.
    pub blueprint: String,
    /// Who ran it (the schedule runs as the principal that registered it).
    pub principal: String,
    /// `cli` or `schedule`.
    pub trigger: String,
    /// State.
    pub state: RunState,
    /// Start, RFC 3339 UTC.
    pub started: String,
    /// End, RFC 3339 UTC (empty while running).
    pub ended: String,
    /// What the run did (zeros until it ends).
    #[serde(flatten)]
    pub outcome: Outcome,
    /// Why it failed (empty otherwise).
    pub error: String,
    /// The failure's kind: `invalid`, `denied`, `precondition`,
    /// `unavailable` or `already_running` (empty otherwise).
    #[serde(default)]
    pub error_kind: String,
}

/// An error of the run store.
#[derive(Debug, thiserror::Error)]
pub enum RunsError {
    /// Another run of the blueprint is RUNNING.
    #[error(
        "blueprint `{blueprint}` is already running as run `{id}`; wait for it to end (`lakegate blueprint show {id}`)"
    )]
    AlreadyRunning {
        /// The blueprint.
        blueprint: String,
        /// The running run's id.
        id: String,
    },
    /// The store cannot be used.
    #[error("the run store cannot be used: {0}")]
    Store(String),
}

impl From<rusqlite::Error> for RunsError {
    fn from(e: rusqlite::Error) -> Self {
        RunsError::Store(e.to_string())
    }
}

/// Inserts `r`, or with `replace` updates the record with its id.
fn write(conn: &Connection, r: &RunRecord, replace: bool) -> Result<(), RunsError> {
    let body = serde_json::to_string(r).map_err(|e| RunsError::Store(e.to_string()))?;
    let upsert = if replace {
        " ON CONFLICT (id) DO UPDATE SET state = excluded.state, body = excluded.body"
    } else {
        ""
    };
    conn.execute(
        &format!(
            "INSERT INTO runs (id, account, blueprint, state, started, body) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6){upsert}"
        ),
        params![
            r.id,
            r.account,
            r.blueprint,
            r.state.as_str(),
            r.started,
            body
        ],
    )?;
    Ok(())
}

/// The run records of one server.
pub struct RunStore {
    conn: Mutex<Connection>,
}

/// The current time, RFC 3339 UTC with milliseconds.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS runs (
    id        TEXT PRIMARY KEY,
    account   TEXT NOT NULL,
    blueprint TEXT NOT NULL,
    state     TEXT NOT NULL,
    started   TEXT NOT NULL,
    body      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_by_blueprint ON runs (account, blueprint, started);";

impl RunStore {
    /// Opens (creating) the store at `path`, closing runs a stopped server
    /// left RUNNING as FAILED.
    pub fn open(path: &Path) -> Result<RunStore, RunsError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let _mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        conn.execute_batch(SCHEMA)?;
        let store = RunStore {
            conn: Mutex::new(conn),
        };
        for mut r in store.query("WHERE state = 'RUNNING'", &[])? {
            r.state = RunState::Failed;
            r.ended = now();
            r.error = "the server stopped during this run (it was killed or crashed); a table \
                       whose commit had completed keeps it, every other table is as before, \
                       and the next run continues from each table's bookmark"
                .into();
            store.put(&r)?;
        }
        Ok(store)
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Connection>, RunsError> {
        self.conn
            .lock()
            .map_err(|_| RunsError::Store("the run store's lock is poisoned".into()))
    }

    fn query(
        &self,
        filter: &str,
        args: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<RunRecord>, RunsError> {
        let conn = self.lock()?;
        let mut st = conn.prepare(&format!(
            "SELECT body FROM runs {filter} ORDER BY started DESC, id DESC"
        ))?;
        let bodies: Vec<String> = st
            .query_map(args, |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        bodies
            .iter()
            .map(|b| serde_json::from_str(b).map_err(|e| RunsError::Store(e.to_string())))
            .collect()
    }

    fn put(&self, r: &RunRecord) -> Result<(), RunsError> {
        write(&*self.lock()?, r, true)
    }

    /// Records `r` as RUNNING unless another run of its blueprint is.
    pub fn begin(&self, r: &RunRecord) -> Result<(), RunsError> {
        let mut conn = self.lock()?;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let running: Option<String> = tx
            .query_row(
                "SELECT id FROM runs WHERE account = ?1 AND blueprint = ?2 AND state = 'RUNNING'",
                params![r.account, r.blueprint],
                |row| row.get(0),
            )
            .optional()?;
        if let Some(id) = running {
            return Err(RunsError::AlreadyRunning {
                blueprint: r.blueprint.clone(),
                id,
            });
        }
        write(&tx, r, false)?;
        tx.commit()?;
        Ok(())
    }

    /// Records a run that ended (or never started: FAILED or SKIPPED).
    pub fn finish(&self, r: &RunRecord) -> Result<(), RunsError> {
        self.put(r)
    }

    /// One run by id, within `account`.
    pub fn get(&self, account: &str, id: &str) -> Result<Option<RunRecord>, RunsError> {
        Ok(self
            .query("WHERE account = ?1 AND id = ?2", &[&account, &id])?
            .into_iter()
            .next())
    }

    /// The runs of `account`, newest first; of one blueprint if given.
    pub fn list(
        &self,
        account: &str,
        blueprint: Option<&str>,
        limit: usize,
    ) -> Result<Vec<RunRecord>, RunsError> {
        let mut runs = match blueprint {
            Some(b) => self.query("WHERE account = ?1 AND blueprint = ?2", &[&account, &b])?,
            None => self.query("WHERE account = ?1", &[&account])?,
        };
        runs.truncate(limit);
        Ok(runs)
    }

    /// The latest run of each blueprint of `account`.
    pub fn latest(&self, account: &str) -> Result<BTreeMap<String, RunRecord>, RunsError> {
        let mut out = BTreeMap::new();
        for r in self.query("WHERE account = ?1", &[&account])? {
            out.entry(r.blueprint.clone()).or_insert(r);
        }
        Ok(out)
    }
}
