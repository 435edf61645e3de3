//! One run of a database blueprint: read every selected table, then commit
//! each table once, with its bookmark, and register it in the catalog.
//!
//! Nothing is written until every table has been read, so a failure while
//! reading (a bad value, a lost connection, a missing bookmark key) leaves
//! every table as it was. Each table's commit holds its rows and its
//! bookmark together ([`crate::delta`]); a failure between two tables'
//! commits leaves the first committed and the second not, and the next run
//! continues each from its own bookmark.

use std::collections::BTreeMap;

use deltalake_core::arrow::array::RecordBatch;
use deltalake_core::arrow::compute::cast;
use deltalake_core::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::delta::{self, CommitMeta, Mode};
use crate::select::selects;
use crate::source::{Cursor, ReadOut, Source, SourceTable};
use crate::spec::{Blueprint, Kind};

/// Why a run failed, as the client should see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailKind {
    /// The blueprint or its source is wrong (bad value, no such table or key).
    Invalid,
    /// The runner lacks a right.
    Denied,
    /// The target or the source is in a state the run cannot work with.
    Precondition,
    /// The source or the target cannot be reached.
    Unavailable,
}

/// A failed run's error.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct RunError {
    /// What kind of failure.
    pub kind: FailKind,
    /// What failed and what to do next (never a password).
    pub message: String,
}

impl RunError {
    /// A failure of `kind`.
    pub fn new(kind: FailKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

/// What the runner needs from governance; the server implements it with the
/// caller's identity, so the caller's rights decide.
pub trait Governance: Send + Sync {
    /// Before the source is opened (with no tables) and again once its
    /// tables are known: may the caller create, add rows to or (when
    /// `replaces`) replace the rows of tables `tables` of `database` at
    /// `location`? Changes nothing.
    fn authorize(
        &self,
        database: &str,
        location: &str,
        tables: &[String],
        replaces: bool,
    ) -> Result<(), RunError>;
    /// Before a source location is opened: may the caller read `uri`? A
    /// `file://` URI is the real path of an SQLite file or a log folder
    /// (symlinks resolved); an `s3://` URI is a log prefix.
    fn authorize_source(&self, uri: &str) -> Result<(), RunError>;
    /// After a table's commit: registers the Delta table at `location` as
    /// `database.table` (the caller becomes its creator), or records the
    /// columns the run added. The schema is read from the Delta log.
    fn register<'a>(
        &'a self,
        database: &'a str,
        table: &'a str,
        location: &'a str,
    ) -> BoxFuture<'a, Result<(), RunError>>;
}

/// Where a phase stands, shared with the progress callback.
#[derive(Default)]
struct Position {
    done: std::sync::atomic::AtomicU64,
    total: std::sync::atomic::AtomicU64,
}

impl Position {
    fn set(&self, done: u64, total: u64) {
        use std::sync::atomic::Ordering::Relaxed;
        self.done.store(done, Relaxed);
        self.total.store(total, Relaxed);
    }

    fn get(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.done.load(Relaxed), self.total.load(Relaxed))
    }
}

/// Progress of a run, for bars or plain lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// `connect`, `read`, `write` or `register`.
    pub phase: String,
    /// The target table, if the phase concerns one.
    pub table: Option<String>,
    /// Rows so far in this phase and table.
    pub rows: u64,
    /// Bytes so far.
    pub bytes: u64,
    /// Files so far.
    pub files: u64,
    /// Units of the phase done: tables (database runs) or files (logs).
    pub done: u64,
    /// Units of the phase in all (0 when not known yet).
    pub total: u64,
}

/// What a successful run did, per table and in total.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// Rows read from the source.
    pub rows_read: u64,
    /// Rows committed.
    pub rows_written: u64,
    /// Rows rejected as malformed (logs).
    pub rows_rejected: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Data files written.
    pub files: u64,
    /// Each target table's Delta version after the run.
    pub versions: BTreeMap<String, u64>,
}

struct Pending {
    target: String,
    location: String,
    table: Option<deltalake_core::DeltaTable>,
    seq: i64,
    read: ReadOut,
    write: delta::TableWrite,
    bookmark: Value,
    exists: bool,
}

fn unavailable(e: impl std::fmt::Display) -> RunError {
    RunError::new(FailKind::Unavailable, e.to_string())
}

/// Runs a snapshot or incremental blueprint once, as run `run_id`.
pub async fn run_database(
    bp: &Blueprint,
    run_id: &str,
    password: Option<String>,
    gov: &dyn Governance,
    progress: &(dyn Fn(Progress) + Send + Sync),
) -> Result<Outcome, RunError> {
    // Where the phase stands: (units done, units in all), for a bar.
    let pos = Position::default();
    let note = |phase: &str, table: Option<&str>, rows: u64, bytes: u64, files: u64| {
        let (done, total) = pos.get();
        progress(Progress {
            phase: phase.into(),
            table: table.map(String::from),
            rows,
            bytes,
            files,
            done,
            total,
        })
    };
    let replaces = bp.kind == Kind::Snapshot;
    gov.authorize(&bp.target.database, &bp.target.location, &[], replaces)?;
    note("connect", None, 0, 0, 0);
    // A local source is opened by the real path its rights were checked on.
    let url = match bp.source.url.strip_prefix("sqlite://") {
        Some(file) => {
            let real = local_source(file)?;
            gov.authorize_source(&format!("file://{}", real.display()))?;
            format!("sqlite://{}", real.display())
        }
        None => bp.source.url.clone(),
    };
    let mut source = Source::connect(&url, password).await.map_err(unavailable)?;
    let wanted = |name: &str| selects(&bp.source.include, &bp.source.exclude, name);
    let tables = source
        .tables(&wanted)
        .await
        .map_err(|e| RunError::new(FailKind::Invalid, e.0))?;
    if tables.is_empty() {
        return Err(RunError::new(
            FailKind::Invalid,
            format!(
                "no source table matches include [{}] minus exclude [{}]; check the patterns \
                 (`%` and `_` as in SQL LIKE, case-sensitive; PostgreSQL tables are named \
                 SCHEMA.TABLE)",
                bp.source.include.join(", "),
                bp.source.exclude.join(", ")
            ),
        ));
    }
    let targets = target_names(bp, &tables)?;
    for t in &tables {
        let names: Vec<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
        check_columns(&t.name, &names)?;
    }
    gov.authorize(&bp.target.database, &bp.target.location, &targets, replaces)?;

    let mut pending = Vec::new();
    let count = tables.len() as u64;
    for (i, (t, target)) in tables.iter().zip(&targets).enumerate() {
        pos.set(i as u64, count);
        for p in &bp.target.partition_by {
            if !t.columns.iter().any(|c| c.name == *p) {
                return Err(RunError::new(
                    FailKind::Invalid,
                    format!(
                        "partition column `{p}` is not a column of source table `{}`",
                        t.name
                    ),
                ));
            }
        }
        let location = format!("{}{target}/", with_slash(&bp.target.location));
        let table = delta::open_existing(&location)
            .await
            .map_err(|e| RunError::new(FailKind::Precondition, format!("table `{target}`: {e}")))?;
        let state = match &table {
            Some(table) => delta::state(table, &bp.name, false).await.map_err(|e| {
                RunError::new(FailKind::Precondition, format!("table `{target}`: {e}"))
            })?,
            None => delta::TargetState::default(),
        };
        let after: Option<Vec<Value>> = match &state.bookmark {
            Some(Value::Array(v)) if bp.kind == Kind::Incremental => Some(v.clone()),
            _ => None,
        };
        let keys = bp
            .source
            .bookmark
            .as_ref()
            .map(|b| b.keys.clone())
            .unwrap_or_default();
        let cursor = bp.source.bookmark.as_ref().map(|b| Cursor {
            keys: &keys,
            order: b.order,
            after: after.as_deref(),
        });
        note("read", Some(target), 0, 0, 0);
        // Batches go into the table's data file while the source is read.
        let mode = if bp.kind == Kind::Snapshot {
            Mode::Overwrite
        } else {
            Mode::Append
        };
        let mut write = delta::TableWrite::new(&location, mode, &bp.target.partition_by, run_id);
        let fit = Fit {
            target,
            state: &state,
            table: table.as_ref(),
            partition_by: &bp.target.partition_by,
        };
        let (to, from) = tokio::sync::mpsc::channel(2);
        let reading = source.read(
            t,
            cursor.as_ref().filter(|_| bp.kind == Kind::Incremental),
            Some(to),
        );
        let writing = async {
            // Owned here, so a failed write drops it and the read stops.
            let mut from = from;
            while let Some(batch) = from.recv().await {
                fit.feed(&mut write, batch).await?;
            }
            Ok::<(), RunError>(())
        };
        let (read, written) = tokio::join!(reading, writing);
        // The writer's failure first: the read then only saw it stop.
        written?;
        let mut read = read.map_err(|e| RunError::new(FailKind::Invalid, e.0))?;
        for batch in std::mem::take(&mut read.batches) {
            fit.feed(&mut write, batch).await?;
        }
        pos.set(i as u64 + 1, count);
        note("read", Some(target), read.rows, read.bytes, 0);
        let bookmark = match (&read.last_key, after) {
            (Some(k), _) => Value::from(k.clone()),
            (None, Some(old)) => Value::from(old),
            (None, None) => Value::Null,
        };
        pending.push(Pending {
            target: target.clone(),
            location,
            table,
            seq: state.seq + 1,
            read,
            write,
            bookmark,
            exists: state.version.is_some(),
        });
    }

    let mut out = Outcome::default();
    let count = pending.len() as u64;
    for (i, p) in pending.into_iter().enumerate() {
        pos.set(i as u64, count);
        out.rows_read += p.read.rows;
        out.bytes += p.read.bytes;
        let nothing_new = bp.kind == Kind::Incremental && p.read.rows == 0 && p.exists;
        if nothing_new {
            if let Some(v) = p.table.as_ref().and_then(|t| t.version()) {
                out.versions.insert(p.target.clone(), v);
            }
            // A run killed after its commit but before registering the
            // table left it unregistered: register it now (idempotent).
            gov.register(&bp.target.database, &p.target, &p.location)
                .await?;
            continue;
        }
        note("write", Some(&p.target), p.read.rows, p.read.bytes, 0);
        let version = p
            .write
            .commit(
                p.table,
                CommitMeta {
                    blueprint: &bp.name,
                    seq: p.seq,
                    run_id,
                    bookmark: p.bookmark,
                    files: Value::Null,
                },
            )
            .await
            .map_err(|e| {
                RunError::new(FailKind::Unavailable, format!("table `{}`: {e}", p.target))
            })?;
        out.rows_written += p.read.rows;
        out.versions.insert(p.target.clone(), version);
        let after = delta::open(&p.location)
            .await
            .map_err(|e| RunError::new(FailKind::Unavailable, e.0))?;
        out.files += delta::files_added(&after).await;
        pos.set(i as u64 + 1, count);
        note(
            "register",
            Some(&p.target),
            p.read.rows,
            p.read.bytes,
            out.files,
        );
        gov.register(&bp.target.database, &p.target, &p.location)
            .await?;
    }
    Ok(out)
}

/// What a table's batches are fitted to before its write takes them.
struct Fit<'a> {
    target: &'a str,
    state: &'a delta::TargetState,
    table: Option<&'a deltalake_core::DeltaTable>,
    partition_by: &'a [String],
}

impl Fit<'_> {
    /// Fits `batch` to the target's existing schema (when it exists) and
    /// hands it to the table's write.
    async fn feed(
        &self,
        write: &mut delta::TableWrite,
        batch: RecordBatch,
    ) -> Result<(), RunError> {
        let batches = match &self.state.schema {
            Some(existing) => fit_schema(self.target, existing, vec![batch], self.partition_by)?,
            None => vec![batch],
        };
        for b in batches {
            write.push(self.table, b).await.map_err(|e| {
                RunError::new(
                    FailKind::Unavailable,
                    format!("table `{}`: {e}", self.target),
                )
            })?;
        }
        Ok(())
    }
}

/// Runs a logs blueprint once: the files not loaded yet, in one commit
/// that also records them.
pub async fn run_logs(
    bp: &Blueprint,
    run_id: &str,
    gov: &dyn Governance,
    progress: &(dyn Fn(Progress) + Send + Sync),
) -> Result<Outcome, RunError> {
    // Where the phase stands: (units done, units in all), for a bar.
    let pos = Position::default();
    let note = |phase: &str, table: Option<&str>, rows: u64, bytes: u64, files: u64| {
        let (done, total) = pos.get();
        progress(Progress {
            phase: phase.into(),
            table: table.map(String::from),
            rows,
            bytes,
            files,
            done,
            total,
        })
    };
    let format = bp.source.format.ok_or_else(|| {
        RunError::new(FailKind::Invalid, "a logs blueprint needs `source.format`")
    })?;
    // The folder: a local one by its real path (the rights are checked on
    // it), or an S3 prefix.
    let (local, s3, segment) = match bp.source.url.strip_prefix("file://") {
        Some(root) => {
            let root = local_source(root)?;
            if !root.is_dir() {
                return Err(RunError::new(
                    FailKind::Invalid,
                    format!("the log source `{}` is not a folder", root.display()),
                ));
            }
            gov.authorize_source(&format!("file://{}/", root.display()))?;
            let segment = root
                .components()
                .next_back()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .unwrap_or_default();
            (Some(root), None, segment)
        }
        None => {
            gov.authorize_source(&bp.source.url)?;
            let segment = bp
                .source
                .url
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_string();
            (
                None,
                Some(crate::logs::S3Logs::open(&bp.source.url)?),
                segment,
            )
        }
    };
    let target = format!("{}{segment}", bp.target.table_prefix).to_ascii_lowercase();
    let target = policy_engine::model::ident(&target, "target table").map_err(|e| {
        RunError::new(
            FailKind::Invalid,
            format!("a logs table is named `table_prefix` + the folder's name: {e}"),
        )
    })?;
    gov.authorize(
        &bp.target.database,
        &bp.target.location,
        std::slice::from_ref(&target),
        false,
    )?;
    let location = format!("{}{target}/", with_slash(&bp.target.location));
    let table = delta::open_existing(&location)
        .await
        .map_err(|e| RunError::new(FailKind::Precondition, format!("table `{target}`: {e}")))?;
    let state = match &table {
        Some(t) => delta::state(t, &bp.name, true)
            .await
            .map_err(|e| RunError::new(FailKind::Precondition, format!("table `{target}`: {e}")))?,
        None => delta::TargetState::default(),
    };
    let loaded: std::collections::HashSet<crate::logs::FileKey> = state
        .files
        .iter()
        .filter_map(|v| serde_json::from_value(v.clone()).ok())
        .collect();
    note("list", Some(&target), 0, 0, 0);
    let files: Vec<crate::logs::Listed> = match (&local, &s3) {
        (Some(root), _) => crate::logs::list_files(root)?
            .into_iter()
            .filter(|f| !loaded.contains(&f.key))
            .collect(),
        (None, Some(s3)) => {
            let mut out = Vec::new();
            for (key, loc) in s3.list().await? {
                if !loaded.contains(&key) {
                    out.push(s3.fetch(key, &loc).await?);
                }
            }
            out
        }
        (None, None) => Vec::new(),
    };
    let mut out = Outcome::default();
    if files.is_empty() && state.version.is_some() {
        if let Some(v) = state.version {
            out.versions.insert(target.clone(), v);
        }
        gov.register(&bp.target.database, &target, &location)
            .await?;
        return Ok(out);
    }
    pos.set(0, files.len() as u64);
    note("read", Some(&target), 0, 0, files.len() as u64);
    let fmt = format;
    let to_parse = files.clone();
    let parsed = tokio::task::spawn_blocking(move || crate::logs::parse_files(fmt, &to_parse))
        .await
        .map_err(|e| RunError::new(FailKind::Unavailable, format!("log parsing stopped: {e}")))??;
    pos.set(files.len() as u64, files.len() as u64);
    note(
        "read",
        Some(&target),
        parsed.rows,
        parsed.bytes,
        files.len() as u64,
    );
    if parsed.rejected > bp.run.max_errors {
        return Err(RunError::new(
            FailKind::Invalid,
            format!(
                "{} malformed lines, more than `max_errors` = {}: {}",
                parsed.rejected,
                bp.run.max_errors,
                parsed.errors.join("; ")
            ),
        ));
    }
    for p in &bp.target.partition_by {
        if parsed
            .batches
            .first()
            .is_none_or(|b| b.schema().field_with_name(p).is_err())
        {
            return Err(RunError::new(
                FailKind::Invalid,
                format!("partition column `{p}` is not a column of the logs"),
            ));
        }
    }
    if let Some(first) = parsed.batches.first() {
        let schema = first.schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        check_columns(&target, &names)?;
    }
    let batches = match &state.schema {
        Some(existing) => fit_schema(&target, existing, parsed.batches, &bp.target.partition_by)?,
        None => parsed.batches,
    };
    let table = match table {
        Some(t) => t,
        None => delta::open_or_create(&location)
            .await
            .map_err(|e| RunError::new(FailKind::Unavailable, format!("table `{target}`: {e}")))?,
    };
    note(
        "write",
        Some(&target),
        parsed.rows,
        parsed.bytes,
        files.len() as u64,
    );
    let keys: Vec<&crate::logs::FileKey> = files.iter().map(|f| &f.key).collect();
    let version = delta::commit(
        table,
        batches,
        Mode::Append,
        &bp.target.partition_by,
        CommitMeta {
            blueprint: &bp.name,
            seq: state.seq + 1,
            run_id,
            bookmark: Value::Null,
            files: serde_json::to_value(&keys).unwrap_or(Value::Null),
        },
    )
    .await
    .map_err(|e| RunError::new(FailKind::Unavailable, format!("table `{target}`: {e}")))?;
    out.rows_read = parsed.rows + parsed.rejected;
    out.rows_written = parsed.rows;
    out.rows_rejected = parsed.rejected;
    out.bytes = parsed.bytes;
    out.versions.insert(target.clone(), version);
    if let Ok(after) = delta::open(&location).await {
        out.files = delta::files_added(&after).await;
    }
    note(
        "register",
        Some(&target),
        parsed.rows,
        parsed.bytes,
        out.files,
    );
    gov.register(&bp.target.database, &target, &location)
        .await?;
    Ok(out)
}

/// Column names the catalog will take: lower-case identifiers, each once,
/// at most `MAX_COLUMNS` — checked before anything is committed.
fn check_columns(table: &str, names: &[&str]) -> Result<(), RunError> {
    use policy_engine::model::{MAX_COLUMNS, ident};
    if names.len() > MAX_COLUMNS {
        return Err(RunError::new(
            FailKind::Invalid,
            format!(
                "`{table}` has {} columns; a table may have at most {MAX_COLUMNS}",
                names.len()
            ),
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for n in names {
        let id = ident(n, "column").map_err(|e| {
            RunError::new(
                FailKind::Invalid,
                format!("`{table}`: {e}; rename it in the source (or a view of it)"),
            )
        })?;
        if id != *n || !seen.insert(id) {
            return Err(RunError::new(
                FailKind::Invalid,
                format!(
                    "`{table}`: column `{n}` is not a distinct lower-case identifier; rename it in \
                     the source (or a view of it)"
                ),
            ));
        }
    }
    Ok(())
}

/// The real path of a source on the server's filesystem (symlinks
/// resolved), which is what the rights are checked on.
fn local_source(path: &str) -> Result<std::path::PathBuf, RunError> {
    std::fs::canonicalize(path).map_err(|e| {
        RunError::new(
            FailKind::Unavailable,
            format!("the source `{path}` cannot be opened: {e}"),
        )
    })
}

fn with_slash(s: &str) -> String {
    if s.ends_with('/') {
        s.to_string()
    } else {
        format!("{s}/")
    }
}

/// Target table names: prefix + source table name (schema dropped),
/// lower-cased, checked as identifiers and for collisions.
fn target_names(bp: &Blueprint, tables: &[SourceTable]) -> Result<Vec<String>, RunError> {
    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    let mut out = Vec::new();
    for t in tables {
        let name = format!("{}{}", bp.target.table_prefix, t.base).to_ascii_lowercase();
        let name = policy_engine::model::ident(&name, "target table").map_err(|e| {
            RunError::new(
                FailKind::Invalid,
                format!(
                    "source table `{}`: {e}; set `table_prefix` or exclude it",
                    t.name
                ),
            )
        })?;
        if let Some(other) = seen.insert(name.clone(), &t.name) {
            return Err(RunError::new(
                FailKind::Invalid,
                format!(
                    "source tables `{other}` and `{}` would both load into table `{name}` (the \
                     schema is dropped); exclude one, or split the blueprint by schema with \
                     different `table_prefix`es",
                    t.name
                ),
            ));
        }
        out.push(name);
    }
    Ok(out)
}

/// Whether a column of type `from` can be stored in a column of type `to`
/// without losing anything.
fn widens(from: &DataType, to: &DataType) -> bool {
    use DataType::*;
    from == to
        || matches!(
            (from, to),
            (Int16, Int32 | Int64) | (Int32, Int64) | (Float32, Float64)
        )
        || matches!((from, to), (Decimal128(p1, s1), Decimal128(p2, s2))
            if s1 == s2 && p1 <= p2)
}

/// Casts the batches to the existing table's types where that widens
/// safely; fails naming the column and both types where it does not.
fn fit_schema(
    table: &str,
    existing: &SchemaRef,
    batches: Vec<RecordBatch>,
    partition_by: &[String],
) -> Result<Vec<RecordBatch>, RunError> {
    let Some(first) = batches.first() else {
        return Ok(batches);
    };
    let incoming = first.schema();
    let mut fields = Vec::new();
    let mut needs_cast = false;
    for f in incoming.fields() {
        match existing.field_with_name(f.name()) {
            Ok(have) if have.data_type() == f.data_type() => fields.push(f.as_ref().clone()),
            Ok(have) if widens(f.data_type(), have.data_type()) => {
                needs_cast = true;
                fields.push(Field::new(f.name(), have.data_type().clone(), true));
            }
            Ok(have) => {
                return Err(RunError::new(
                    FailKind::Precondition,
                    format!(
                        "table `{table}`: column `{}` is `{}` in the table but `{}` in the \
                         source, which cannot be widened safely; change the source back, or \
                         load into a new table (another `table_prefix`)",
                        f.name(),
                        have.data_type(),
                        f.data_type()
                    ),
                ));
            }
            Err(_) if partition_by.contains(f.name()) => {
                return Err(RunError::new(
                    FailKind::Precondition,
                    format!(
                        "table `{table}`: partition column `{}` is not in the existing table; \
                         partitioning cannot change, so load into a new table",
                        f.name()
                    ),
                ));
            }
            Err(_) => fields.push(f.as_ref().clone()),
        }
    }
    if !needs_cast {
        return Ok(batches);
    }
    let schema = std::sync::Arc::new(Schema::new(fields));
    batches
        .into_iter()
        .map(|b| {
            let cols = b
                .columns()
                .iter()
                .zip(schema.fields())
                .map(|(c, f)| cast(c, f.data_type()))
                .collect::<Result<Vec<_>, _>>()
                .and_then(|cols| RecordBatch::try_new(schema.clone(), cols));
            cols.map_err(|e| RunError::new(FailKind::Precondition, format!("table `{table}`: {e}")))
        })
        .collect()
}
