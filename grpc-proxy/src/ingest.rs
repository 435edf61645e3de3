//! Blueprint runs on the server (DESIGN §7): the run store, one run at a
//! time per blueprint, and the bridge from the runner to governance with
//! the caller's identity.
//!
//! A run executes in its own task, so it finishes (and is recorded) even
//! when the client that started it goes away. Its progress and its final
//! record are sent on a channel the RPC streams from.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use blueprints::run::{FailKind, Governance as RunGovernance, Progress, RunError, run_database};
use blueprints::runs::{RunRecord, RunState, RunStore, RunsError, now};
use blueprints::{Blueprint, Kind};
use futures::future::BoxFuture;
use policy_engine::model::{Format, LocationUri};
use policy_engine::{Caller, Error as PeError, Governance, NewTable};
use tokio::sync::mpsc;

/// The run store's file in the data directory.
pub const RUNS_FILE: &str = "runs.db";

/// What a run sends while it runs: progress, then its record.
#[derive(Debug, Clone)]
pub enum RunEvent {
    /// A phase started or advanced.
    Progress(Progress),
    /// The run ended (or never started); the last event.
    Done(Box<RunRecord>),
}

/// Blueprint runs of one server.
pub struct Ingest {
    governance: Arc<Governance>,
    data_dir: PathBuf,
    runs: Arc<RunStore>,
    plan: crate::schedule::Plan,
    /// `password_env` variable → the source URL it may be sent to.
    secrets: Arc<BTreeMap<String, String>>,
}

/// A new run id: `run-YYYYMMDDTHHMMSS-RANDOM`.
pub fn new_run_id() -> String {
    use rand::Rng as _;
    let stamp = chrono_stamp();
    let tail: u32 = rand::rng().random();
    format!("run-{stamp}-{tail:08x}")
}

/// `YYYYMMDDTHHMMSS` from the RFC 3339 clock.
fn chrono_stamp() -> String {
    now()
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == 'T')
        .take(15)
        .collect()
}

fn fail_kind(e: &PeError) -> FailKind {
    match e {
        PeError::PermissionDenied(_) => FailKind::Denied,
        PeError::InvalidArgument(_) | PeError::AlreadyExists(_) => FailKind::Invalid,
        PeError::FailedPrecondition(_) | PeError::Conflict => FailKind::Precondition,
        PeError::StoreUnavailable(_) | PeError::Internal(_) => FailKind::Unavailable,
    }
}

fn run_error(e: PeError) -> RunError {
    let kind = fail_kind(&e);
    let message = match e {
        PeError::StoreUnavailable(_) => "the governance store is unavailable".to_string(),
        PeError::Internal(_) => "internal error in lakegate (details in the server log)".into(),
        other => other.to_string(),
    };
    RunError::new(kind, message)
}

fn kind_name(k: FailKind) -> &'static str {
    match k {
        FailKind::Invalid => "invalid_argument",
        FailKind::Denied => "permission_denied",
        FailKind::Precondition => "failed_precondition",
        FailKind::Unavailable => "unavailable",
    }
}

/// The runner's view of governance: the caller's rights decide.
struct Gate {
    governance: Arc<Governance>,
    caller: Caller,
    /// The server's data directory, never a source.
    data_dir: PathBuf,
}

impl Gate {
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Governance, &Caller) -> policy_engine::Result<T> + Send + 'static,
    ) -> Result<T, RunError> {
        let (g, c) = (self.governance.clone(), self.caller.clone());
        match tokio::task::spawn_blocking(move || f(&g, &c)).await {
            Ok(r) => r.map_err(run_error),
            Err(e) => Err(RunError::new(
                FailKind::Unavailable,
                format!("governance task failed: {e}"),
            )),
        }
    }
}

impl RunGovernance for Gate {
    fn authorize(
        &self,
        database: &str,
        location: &str,
        tables: &[String],
        replaces: bool,
    ) -> Result<(), RunError> {
        self.governance
            .authorize_ingest(&self.caller, database, location, tables, replaces)
            .map_err(run_error)
    }

    fn authorize_source(&self, uri: &str) -> Result<(), RunError> {
        if let Some(path) = uri.strip_prefix("file://")
            && overlaps_data_dir(&self.data_dir, Path::new(path))
        {
            return Err(RunError::new(
                FailKind::Denied,
                format!(
                    "`{path}` is or holds the server's data directory, which is never a \
                     blueprint source"
                ),
            ));
        }
        self.governance
            .authorize_local_source(&self.caller, uri)
            .map_err(run_error)
    }

    fn register<'a>(
        &'a self,
        database: &'a str,
        table: &'a str,
        location: &'a str,
    ) -> BoxFuture<'a, Result<(), RunError>> {
        Box::pin(async move {
            let loc = LocationUri::parse(location).map_err(run_error)?;
            let inferred = lakegate_engine::infer::infer_table(&loc, Format::Delta, &[])
                .await
                .map_err(|e| run_error(e.into()))?;
            let spec = NewTable {
                name: format!("{database}.{table}"),
                location: location.to_string(),
                format: Format::Delta,
                columns: inferred.columns,
                partition_keys: inferred.partition_keys,
            };
            self.blocking(move |g, c| g.register_ingested(c, &spec).map(|_| ()))
                .await
        })
    }
}

/// The blueprint's name as written in `text`, for recording a file that
/// does not parse; else the file's stem.
fn name_guess(text: &str, file: &str) -> String {
    let from_text = text.lines().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        (k.trim() == "name").then(|| v.trim().trim_matches('"').to_string())
    });
    let name = from_text.unwrap_or_else(|| {
        Path::new(file)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    });
    name.chars().take(128).collect()
}

/// Whether `path` (a real path) is inside the server's data directory or
/// holds it: its store, keys and runs are never read as data.
pub(crate) fn overlaps_data_dir(data_dir: &Path, path: &Path) -> bool {
    let data_dir = data_dir
        .canonicalize()
        .unwrap_or_else(|_| data_dir.to_path_buf());
    path.starts_with(&data_dir) || data_dir.starts_with(path)
}

impl Ingest {
    /// The server's data directory.
    pub(crate) fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Opens the run store in `data_dir` (closing runs a stopped server left
    /// RUNNING as FAILED).
    pub fn open(data_dir: &Path, governance: Arc<Governance>) -> Result<Self, RunsError> {
        Ok(Self {
            governance,
            data_dir: data_dir.to_path_buf(),
            runs: Arc::new(RunStore::open(&data_dir.join(RUNS_FILE))?),
            plan: Default::default(),
            secrets: Default::default(),
        })
    }

    /// Binds secrets (`password_env` names) to the sources they may be sent to.
    pub fn with_secrets(mut self, secrets: BTreeMap<String, String>) -> Self {
        self.secrets = Arc::new(secrets);
        self
    }

    /// The schedules `serve --blueprints` runs: name → (expression, next run).
    pub fn plan(&self) -> crate::schedule::Plan {
        self.plan.clone()
    }

    /// The run store.
    pub fn runs(&self) -> &RunStore {
        &self.runs
    }

    /// Starts a run of the blueprint `text` (from `file`) as `caller`; its
    /// events arrive on the returned channel, the record last.
    pub fn start(
        &self,
        caller: Caller,
        file: String,
        text: String,
        trigger: &str,
    ) -> mpsc::Receiver<RunEvent> {
        let (tx, rx) = mpsc::channel(64);
        let record = RunRecord {
            id: new_run_id(),
            account: caller.account().to_string(),
            blueprint: name_guess(&text, &file),
            principal: caller.principal.to_string(),
            trigger: trigger.to_string(),
            state: RunState::Running,
            started: now(),
            ended: String::new(),
            outcome: Default::default(),
            error: String::new(),
            error_kind: String::new(),
        };
        let gate = Gate {
            governance: self.governance.clone(),
            caller,
            data_dir: self.data_dir.clone(),
        };
        let runs = self.runs.clone();
        let secrets = self.secrets.clone();
        tokio::spawn(async move {
            let record = execute(record, &file, &text, &gate, &runs, &secrets, &tx).await;
            let _ = tx.send(RunEvent::Done(Box::new(record))).await;
        });
        rx
    }
}

/// Normalises a source URL for comparing bindings: the scheme's alias and
/// a trailing `/` do not matter.
fn normal_source(url: &str) -> String {
    let url = url.trim().trim_end_matches('/');
    match url.strip_prefix("postgresql://") {
        Some(rest) => format!("postgres://{rest}"),
        None => url.to_string(),
    }
}

/// A blueprint may send the secret in `var` only to the source the server's
/// operator bound it to (`serve --source-secret VAR=URL`); otherwise anyone
/// who may run a blueprint could point a source at a server of their own
/// and receive any variable of the server's environment as a password.
fn bound_secret(secrets: &BTreeMap<String, String>, var: &str, url: &str) -> Result<(), String> {
    match secrets.get(var) {
        None => Err(format!(
            "environment variable `{var}` (the source's `password_env`) is not bound to a source \
             on this server; its operator binds it with `lakegate serve --source-secret \
             {var}=URL`"
        )),
        Some(bound) if normal_source(bound) != normal_source(url) => Err(format!(
            "environment variable `{var}` is bound to another source than `{url}`; a secret is only \
             sent to the source it is bound to (`serve --source-secret`)"
        )),
        Some(_) => Ok(()),
    }
}

/// Runs one blueprint and records it; returns the final record.
async fn execute(
    mut record: RunRecord,
    file: &str,
    text: &str,
    gate: &Gate,
    runs: &RunStore,
    secrets: &BTreeMap<String, String>,
    tx: &mpsc::Sender<RunEvent>,
) -> RunRecord {
    let finish = |mut r: RunRecord, result: Result<blueprints::run::Outcome, (String, String)>| {
        r.ended = now();
        match result {
            Ok(o) => {
                r.state = RunState::Succeeded;
                r.outcome = o;
            }
            Err((kind, message)) => {
                r.state = RunState::Failed;
                r.error = message;
                r.error_kind = kind;
            }
        }
        if let Err(e) = runs.finish(&r) {
            tracing::error!(run = %r.id, error = %e, "cannot record the end of a blueprint run");
        }
        r
    };
    let bp = match Blueprint::parse(text, file) {
        Ok(bp) => bp,
        Err(e) => return finish(record, Err(("invalid_argument".into(), e.to_string()))),
    };
    record.blueprint = bp.name.clone();
    if let Err(e) = runs.begin(&record) {
        let kind = match e {
            RunsError::AlreadyRunning { .. } => "already_running",
            RunsError::Store(_) => "unavailable",
        };
        return finish(record, Err((kind.into(), e.to_string())));
    }
    tracing::info!(run = %record.id, blueprint = %bp.name, principal = %record.principal, "blueprint run started");
    let password = match &bp.source.password_env {
        Some(var) => match bound_secret(secrets, var, &bp.source.url) {
            Err(message) => {
                return finish(record, Err(("permission_denied".into(), message)));
            }
            Ok(()) => match std::env::var(var) {
                Ok(p) => Some(p),
                Err(_) => {
                    return finish(
                        record,
                        Err((
                            "failed_precondition".into(),
                            format!(
                                "environment variable `{var}` (the source's `password_env`) is not set \
                             in the lakegate server's environment; set it where the server runs"
                            ),
                        )),
                    );
                }
            },
        },
        None => None,
    };
    let progress = |p: Progress| {
        let _ = tx.try_send(RunEvent::Progress(p));
    };
    let result = match bp.kind {
        Kind::Snapshot | Kind::Incremental => {
            run_database(&bp, &record.id, password, gate, &progress).await
        }
        Kind::Logs => blueprints::run::run_logs(&bp, &record.id, gate, &progress).await,
    };
    let result = result.map_err(|e| (kind_name(e.kind).to_string(), e.message));
    let r = finish(record, result);
    tracing::info!(run = %r.id, state = r.state.as_str(), "blueprint run ended");
    r
}

/// The latest run of each blueprint the caller may see.
pub fn visible_latest(
    runs: &RunStore,
    caller: &Caller,
    is_admin: bool,
) -> Result<BTreeMap<String, RunRecord>, RunsError> {
    let mut latest = runs.latest(&caller.account().to_string())?;
    if !is_admin {
        let me = caller.principal.to_string();
        latest.retain(|_, r| r.principal == me);
    }
    Ok(latest)
}
