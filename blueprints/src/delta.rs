//! Delta Lake targets: one commit per table per run, with the blueprint's
//! bookmark inside that commit.
//!
//! Each commit carries two things besides the data:
//! - an application transaction (`txn`) action `lakegate.blueprint.NAME`
//!   whose version is the run's sequence number, so the snapshot says which
//!   run last committed, and it survives checkpoints;
//! - commit metadata (`lakegate.blueprint`, `lakegate.seq`,
//!   `lakegate.bookmark`, `lakegate.run`), which holds the bookmark tuple.
//!
//! Both are in the same JSON commit file as the `add`/`remove` actions, and
//! a Delta commit appears atomically (put-if-absent of `NNN.json`), so rows
//! and bookmark become visible together or not at all. Our commits never
//! clean up expired log files, so the commit that holds a bookmark stays
//! readable.

use std::sync::Arc;

use deltalake_core::arrow::array::RecordBatch;
use deltalake_core::arrow::datatypes::SchemaRef;
use deltalake_core::kernel::Transaction;
use deltalake_core::kernel::transaction::CommitProperties;
use deltalake_core::logstore::object_store::ObjectStore;
use deltalake_core::logstore::object_store::local::LocalFileSystem;
use deltalake_core::parquet::file::properties::WriterProperties;
use deltalake_core::protocol::SaveMode;
use deltalake_core::{DeltaTable, DeltaTableBuilder};
use futures::TryStreamExt as _;
use serde_json::Value;

mod direct;
mod encode;
mod stats;
mod write;

pub use write::TableWrite;

/// What a Delta target holds before a run.
#[derive(Debug, Default)]
pub struct TargetState {
    /// The table's Delta version, if the table exists.
    pub version: Option<u64>,
    /// Its Arrow schema, if it exists.
    pub schema: Option<SchemaRef>,
    /// The sequence number of the last run of this blueprint that committed.
    pub seq: i64,
    /// The bookmark that run committed (a JSON array, one value per key).
    pub bookmark: Option<Value>,
    /// Logs: the files every committed run of the blueprint loaded.
    pub files: Vec<Value>,
}

/// An error reading or writing a Delta table, with what was being done.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DeltaError(pub String);

fn app_id(blueprint: &str) -> String {
    format!("lakegate.blueprint.{blueprint}")
}

/// Opens the Delta table at `location` (a `file://` URL ending in `/`);
/// `None` when the location does not exist yet.
pub async fn open_existing(location: &str) -> Result<Option<DeltaTable>, DeltaError> {
    if let Some(path) = location.strip_prefix("file://")
        && !std::path::Path::new(path).exists()
    {
        return Ok(None);
    }
    open(location).await.map(Some)
}

/// Opens (or prepares to create) the Delta table at `location`, creating
/// its local folder if needed.
pub async fn open_or_create(location: &str) -> Result<DeltaTable, DeltaError> {
    if let Some(path) = location.strip_prefix("file://") {
        std::fs::create_dir_all(path)
            .map_err(|e| DeltaError(format!("cannot create the folder `{path}`: {e}")))?;
    }
    open(location).await
}

/// Opens the Delta table at `location` (a `file://` URL ending in `/`).
pub async fn open(location: &str) -> Result<DeltaTable, DeltaError> {
    // Parsed as given (not through `ensure_table_uri`, which creates local
    // folders): a run that fails before its commit leaves nothing behind.
    let url = url::Url::parse(location)
        .map_err(|e| DeltaError(format!("`{location}` is not a usable table location: {e}")))?;
    let cannot = |e: deltalake_core::DeltaTableError| {
        DeltaError(format!("cannot open the Delta table at `{location}`: {e}"))
    };
    let mut builder = DeltaTableBuilder::from_url(url.clone()).map_err(cannot)?;
    if let Some(delay) = crate::fault::commit_delay() {
        let local: Arc<dyn ObjectStore> = Arc::new(LocalFileSystem::new());
        builder = builder
            .with_storage_backend(Arc::new(crate::fault::DelayCommits::new(local, delay)), url);
    }
    let mut table = builder.build().map_err(cannot)?;
    match table.load().await {
        Ok(()) | Err(deltalake_core::DeltaTableError::NotATable(_)) => Ok(table),
        Err(e) => Err(cannot(e)),
    }
}

/// Reads what `blueprint` last committed to `table`.
///
/// With `collect_files`, reads every commit of the blueprint for the files
/// it loaded (logs); otherwise stops at the latest one.
pub async fn state(
    table: &DeltaTable,
    blueprint: &str,
    collect_files: bool,
) -> Result<TargetState, DeltaError> {
    let Some(version) = table.version() else {
        return Ok(TargetState::default());
    };
    let snapshot = table
        .snapshot()
        .map_err(|e| DeltaError(format!("cannot read the table's snapshot: {e}")))?;
    let schema = snapshot.snapshot().arrow_schema();
    let seq = snapshot
        .transaction_version(table.log_store().as_ref(), app_id(blueprint))
        .await
        .map_err(|e| DeltaError(format!("cannot read the table's transactions: {e}")))?
        .unwrap_or(0);
    let mut bookmark = None;
    let mut files = Vec::new();
    if seq > 0 {
        let mut history = table.history(None);
        while let Some(info) = history
            .try_next()
            .await
            .map_err(|e| DeltaError(format!("cannot read the table's history: {e}")))?
        {
            if info.info.get("lakegate.blueprint") != Some(&Value::from(blueprint)) {
                continue;
            }
            if bookmark.is_none() && info.info.get("lakegate.seq") == Some(&Value::from(seq)) {
                bookmark = info.info.get("lakegate.bookmark").cloned();
                if !collect_files {
                    break;
                }
            }
            if let Some(Value::Array(f)) = info.info.get("lakegate.files") {
                files.extend(f.iter().cloned());
            }
        }
        if bookmark.is_none() {
            return Err(DeltaError(format!(
                "run {seq} of blueprint `{blueprint}` committed to this table but its commit is \
                 no longer in the Delta log, so its bookmark is lost; run the blueprint as a \
                 snapshot once, or restore the log"
            )));
        }
    }
    Ok(TargetState {
        version: Some(version),
        schema: Some(schema),
        seq,
        bookmark,
        files,
    })
}

/// How a commit changes the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Replace the contents.
    Overwrite,
    /// Add rows.
    Append,
}

/// What one commit records besides the rows.
#[derive(Debug, Clone)]
pub struct CommitMeta<'a> {
    /// The blueprint.
    pub blueprint: &'a str,
    /// This run's sequence number (the last committed one plus one).
    pub seq: i64,
    /// This run's id.
    pub run_id: &'a str,
    /// The bookmark after this commit (`null` when the kind has none).
    pub bookmark: Value,
    /// Logs: the files this commit loads (`null` otherwise).
    pub files: Value,
}

/// Writes `batches` to `table` in one commit with `meta`; returns the new
/// Delta version. New columns are added to the table's schema.
pub async fn commit(
    table: DeltaTable,
    batches: Vec<RecordBatch>,
    mode: Mode,
    partition_by: &[String],
    meta: CommitMeta<'_>,
) -> Result<u64, DeltaError> {
    commit_with(table, batches, mode, partition_by, meta, None).await
}

/// [`commit`] with explicit Parquet writer properties (the benchmark
/// compares against a plain `ArrowWriter` with the same ones).
pub async fn commit_with(
    table: DeltaTable,
    batches: Vec<RecordBatch>,
    mode: Mode,
    partition_by: &[String],
    meta: CommitMeta<'_>,
    writer_properties: Option<WriterProperties>,
) -> Result<u64, DeltaError> {
    let location = table.log_store().root_url().to_string();
    let mut write = TableWrite::new(&location, mode, partition_by, meta.run_id);
    if let Some(p) = writer_properties {
        write = write.with_writer_properties(p);
    }
    let existing = table.version().is_some().then_some(&table);
    for b in batches {
        write.push(existing, b).await?;
    }
    write.commit(Some(table), meta).await
}

/// The commit properties (the run's `txn`, no log cleanup) and the commit
/// info entries that hold the bookmark.
fn commit_parts(meta: CommitMeta<'_>) -> (CommitProperties, Vec<(String, Value)>) {
    let info = vec![
        (
            "lakegate.blueprint".to_string(),
            Value::from(meta.blueprint),
        ),
        ("lakegate.seq".to_string(), Value::from(meta.seq)),
        ("lakegate.run".to_string(), Value::from(meta.run_id)),
        ("lakegate.bookmark".to_string(), meta.bookmark),
        ("lakegate.files".to_string(), meta.files),
    ];
    let props = CommitProperties::default()
        .with_application_transaction(Transaction::new(app_id(meta.blueprint), meta.seq))
        .with_cleanup_expired_logs(Some(false));
    (props, info)
}

/// Writes `batches` with deltalake's write operation (which merges new
/// columns into the schema and partitions the files) in one commit.
async fn write_op(
    table: DeltaTable,
    batches: Vec<RecordBatch>,
    mode: Mode,
    partition_by: &[String],
    props: CommitProperties,
    writer_properties: WriterProperties,
) -> Result<u64, DeltaError> {
    let mut write = table
        .write(batches)
        .with_save_mode(match mode {
            Mode::Overwrite => SaveMode::Overwrite,
            Mode::Append => SaveMode::Append,
        })
        .with_schema_mode(deltalake_core::operations::write::SchemaMode::Merge)
        // The writer's default slices every batch into 1024-row pieces, each
        // a separate Parquet write; whole source batches cost less per row.
        .with_write_batch_size(crate::source::BATCH_ROWS)
        .with_writer_properties(writer_properties)
        .with_commit_properties(props);
    if !partition_by.is_empty() {
        write = write.with_partition_columns(partition_by.to_vec());
    }
    let table = write
        .await
        .map_err(|e| DeltaError(format!("cannot commit to the Delta table: {e}")))?;
    table
        .version()
        .ok_or_else(|| DeltaError("the Delta table has no version after the commit".into()))
}

/// Data files the table's latest commit added (from its commit metrics).
pub async fn files_added(table: &DeltaTable) -> u64 {
    let mut history = table.history(Some(1));
    match history.try_next().await {
        Ok(Some(info)) => info
            .info
            .get("operationMetrics")
            .and_then(|m| m.get("numAddedFiles").or_else(|| m.get("numFiles")))
            .and_then(Value::as_u64)
            .unwrap_or(0),
        _ => 0,
    }
}
