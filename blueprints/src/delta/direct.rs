//! The direct write: one Parquet file encoded here ([`super::encode`]),
//! then one Delta commit with its `add` (statistics from
//! [`super::stats`]), the `remove`s an overwrite needs, and the run's `txn`
//! and commit info.
//!
//! It covers what runs write most: an unpartitioned `file://` table that is
//! new, or whose schema already matches, in the types listed in
//! [`supported`]. Anything else (partitions, a schema that grows, table
//! features such as constraints, generated columns, column mapping or
//! change data feed, which deltalake's writer enforces) takes deltalake's
//! write operation instead; [`plan`] decides before anything is written.

use std::collections::HashMap;

use deltalake_core::DeltaTable;
use deltalake_core::arrow::datatypes::{DataType, Schema, SchemaRef, TimeUnit};
use deltalake_core::kernel::engine::arrow_conversion::TryIntoKernel as _;
use deltalake_core::kernel::transaction::{
    CommitBuilder, CommitProperties, PROTOCOL, TableReference,
};
use deltalake_core::kernel::{Action, Add, StructType, new_metadata};
use deltalake_core::parquet::file::metadata::ParquetMetaData;
use deltalake_core::protocol::{DeltaOperation, SaveMode};
use futures::TryStreamExt as _;
use serde_json::Value;

use super::{DeltaError, Mode, stats};

/// Column types the direct write takes as they are (no normalisation).
fn supported(ty: &DataType) -> bool {
    use DataType::*;
    match ty {
        Boolean | Int8 | Int16 | Int32 | Int64 | Float32 | Float64 | Utf8 | Binary | Date32
        | Decimal128(..) => true,
        Timestamp(TimeUnit::Microsecond, None) => true,
        Timestamp(TimeUnit::Microsecond, Some(tz)) => tz.as_ref() == "UTC",
        _ => false,
    }
}

/// Table configuration keys whose features this write would not honour.
fn unhonoured(key: &str, value: &str) -> bool {
    key.starts_with("delta.constraints.")
        || (key == "delta.columnMapping.mode" && value != "none")
        || (key == "delta.enableChangeDataFeed" && value.eq_ignore_ascii_case("true"))
        || (key == "delta.appendOnly" && value.eq_ignore_ascii_case("true"))
        || key.starts_with("delta.enableDeletionVectors")
        || key.starts_with("delta.enableRowTracking")
}

/// What the commit needs besides the new file, when the direct write
/// applies.
pub(crate) struct Plan {
    /// Protocol and metadata actions that create the table (new tables).
    create: Vec<Action>,
}

/// Whether the direct write applies to writing batches of `schema` to
/// `existing` (`None`: a new table) in a local folder; `None` sends the
/// write to deltalake's write operation.
pub(crate) fn plan(
    existing: Option<&DeltaTable>,
    schema: &Schema,
    mode: Mode,
    partition_by: &[String],
) -> Result<Option<Plan>, DeltaError> {
    if !partition_by.is_empty() || !schema.fields().iter().all(|f| supported(f.data_type())) {
        return Ok(None);
    }
    let kernel: StructType = schema
        .try_into_kernel()
        .map_err(|e| DeltaError(format!("cannot map the batch schema to Delta: {e}")))?;
    let Some(table) = existing.filter(|t| t.version().is_some()) else {
        // What deltalake's create gives these types: reader 1 / writer 2,
        // or the `timestampNtz` feature (3/7) for timestamps without a zone.
        let ntz = schema
            .fields()
            .iter()
            .any(|f| matches!(f.data_type(), DataType::Timestamp(_, None)));
        let protocol = if ntz {
            serde_json::json!({"minReaderVersion": 3, "minWriterVersion": 7,
                "readerFeatures": ["timestampNtz"], "writerFeatures": ["timestampNtz"]})
        } else {
            serde_json::json!({"minReaderVersion": 1, "minWriterVersion": 2})
        };
        let protocol: deltalake_core::kernel::Protocol = serde_json::from_value(protocol)
            .map_err(|e| DeltaError(format!("cannot build the Delta protocol: {e}")))?;
        let metadata = new_metadata(
            &kernel,
            Vec::<String>::new(),
            Vec::<(String, String)>::new(),
        )
        .map_err(|e| DeltaError(format!("cannot build the Delta metadata: {e}")))?;
        return Ok(Some(Plan {
            create: vec![Action::Protocol(protocol), Action::Metadata(metadata)],
        }));
    };
    let Ok(state) = table.snapshot() else {
        return Ok(None);
    };
    let metadata = state.metadata();
    if !metadata.partition_columns().is_empty()
        || metadata
            .configuration()
            .iter()
            .any(|(k, v)| unhonoured(k, v))
        || PROTOCOL.can_write_to(state).is_err()
        || (mode == Mode::Overwrite && PROTOCOL.check_append_only(state.snapshot()).is_err())
    {
        return Ok(None);
    }
    let have = state.schema();
    let theirs: Vec<_> = have.fields().collect();
    let ours: Vec<_> = kernel.fields().collect();
    if theirs.len() != ours.len() {
        return Ok(None);
    }
    for (t, o) in theirs.iter().zip(&ours) {
        // A NOT NULL table column takes only a column Arrow keeps null-free.
        if t.name() != o.name()
            || t.data_type() != o.data_type()
            || !t.metadata().is_empty()
            || (!t.is_nullable() && o.is_nullable())
        {
            return Ok(None);
        }
    }
    Ok(Some(Plan { create: Vec::new() }))
}

/// A data file name no other run uses: the run id (its safe characters)
/// and the time in nanoseconds.
pub(crate) fn file_name(run_id: &str) -> String {
    let run: String = run_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(64)
        .collect();
    let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
    format!("part-00000-{run}-{nanos}-c000.parquet")
}

/// A finished data file, ready for its `add`.
pub(crate) struct DataFile {
    /// Its name in the table's folder.
    pub(crate) name: String,
    /// Its size in bytes.
    pub(crate) size: u64,
    /// Its Parquet metadata.
    pub(crate) meta: ParquetMetaData,
    /// The schema it was written with.
    pub(crate) schema: SchemaRef,
}

/// Commits `file` to `table` as [`plan`] decided; returns the new version.
pub(crate) async fn commit(
    table: &DeltaTable,
    plan: Plan,
    file: DataFile,
    mode: Mode,
    props: CommitProperties,
    app_metadata: Vec<(String, Value)>,
) -> Result<u64, DeltaError> {
    let rows: i64 = file.meta.row_groups().iter().map(|g| g.num_rows()).sum();
    let add = Add {
        path: file.name,
        partition_values: HashMap::new(),
        size: i64::try_from(file.size).unwrap_or(i64::MAX),
        modification_time: chrono::Utc::now().timestamp_millis(),
        data_change: true,
        stats: Some(stats::file_stats(&file.meta, &file.schema)),
        tags: None,
        deletion_vector: None,
        base_row_id: None,
        default_row_commit_version: None,
        clustering_provider: None,
    };
    let mut actions = plan.create;
    let existing: Option<&dyn TableReference> = match table.version() {
        Some(_) => Some(
            table
                .snapshot()
                .map_err(|e| DeltaError(format!("cannot read the table's snapshot: {e}")))?,
        ),
        None => None,
    };
    let mut removed = 0usize;
    if mode == Mode::Overwrite
        && table.version().is_some()
        && let Ok(state) = table.snapshot()
    {
        let log = table.log_store();
        let files: Vec<_> = state
            .snapshot()
            .file_views(log.as_ref(), None)
            .try_collect()
            .await
            .map_err(|e| DeltaError(format!("cannot list the table's files: {e}")))?;
        removed = files.len();
        actions.extend(files.iter().map(|f| Action::Remove(f.remove_action(true))));
    }
    actions.push(Action::Add(add));
    let metrics = serde_json::json!({
        "numAddedFiles": 1,
        "numRemovedFiles": removed,
        "numAddedRows": rows,
    });
    let mut info = app_metadata;
    info.push(("operationMetrics".into(), metrics));
    let op = DeltaOperation::Write {
        mode: match mode {
            Mode::Overwrite => SaveMode::Overwrite,
            Mode::Append => SaveMode::Append,
        },
        partition_by: None,
        predicate: None,
    };
    let done = CommitBuilder::from(props.with_metadata(info))
        .with_actions(actions)
        .build(existing, table.log_store(), op)
        .await
        .map_err(|e| DeltaError(format!("cannot commit to the Delta table: {e}")))?;
    Ok(done.version())
}
