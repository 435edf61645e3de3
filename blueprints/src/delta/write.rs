//! One table's write in a run: batches arrive while the source is read and
//! go straight into a data file; the commit comes when the run commits.
//!
//! The first batch with rows decides how the table is written:
//! - **directly** ([`super::direct`]): each batch is handed to an
//!   [`Encoder`] as it arrives, so memory holds a row group's encoded pages
//!   and a few batches, whatever the table's size;
//! - **through deltalake's write operation** (partitioned tables, a schema
//!   that grows, table features it enforces): the batches are kept until
//!   the commit, as that operation takes them in memory.
//!
//! A write that is dropped without committing removes its data file, and
//! the table folder if it created it and nothing else is in it. (A killed
//! process leaves the file; no commit names it, so no reader sees it.)

use std::path::PathBuf;

use deltalake_core::DeltaTable;
use deltalake_core::arrow::array::RecordBatch;
use deltalake_core::parquet::basic::Compression;
use deltalake_core::parquet::file::properties::WriterProperties;

use super::direct::{self, DataFile, Plan};
use super::encode::Encoder;
use super::{CommitMeta, DeltaError, Mode};

/// A table's pending write; see the module docs.
pub struct TableWrite {
    location: String,
    mode: Mode,
    partition_by: Vec<String>,
    run_id: String,
    writer: WriterProperties,
    state: State,
    /// The data file, until a commit names it.
    file: Option<PathBuf>,
    /// The table folder, when this write created it.
    created: Option<PathBuf>,
}

enum State {
    /// No rows yet; an empty batch keeps the schema.
    Empty(Option<RecordBatch>),
    /// Rows stream into a data file.
    Direct {
        plan: Plan,
        encoder: Encoder,
        name: String,
        schema: deltalake_core::arrow::datatypes::SchemaRef,
    },
    /// Rows wait for deltalake's write operation.
    Buffered(Vec<RecordBatch>),
    /// Committed, or given up.
    Done,
}

impl std::fmt::Debug for TableWrite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let how = match &self.state {
            State::Empty(_) => "empty",
            State::Direct { .. } => "direct",
            State::Buffered(_) => "buffered",
            State::Done => "done",
        };
        f.debug_struct("TableWrite")
            .field("location", &self.location)
            .field("state", &how)
            .finish()
    }
}

impl TableWrite {
    /// A write of `mode` to the table at `location` (a URL ending in `/`),
    /// by run `run_id`, partitioned by `partition_by`.
    pub fn new(location: &str, mode: Mode, partition_by: &[String], run_id: &str) -> Self {
        Self {
            location: location.to_string(),
            mode,
            partition_by: partition_by.to_vec(),
            run_id: run_id.to_string(),
            writer: WriterProperties::builder()
                .set_compression(Compression::SNAPPY)
                .build(),
            state: State::Empty(None),
            file: None,
            created: None,
        }
    }

    /// Encodes data files with `props` instead of the default (Snappy).
    pub fn with_writer_properties(mut self, props: WriterProperties) -> Self {
        self.writer = props;
        self
    }

    /// Adds a batch. `existing` is the table as it was before the run
    /// (`None`: it does not exist yet).
    pub async fn push(
        &mut self,
        existing: Option<&DeltaTable>,
        batch: RecordBatch,
    ) -> Result<(), DeltaError> {
        match &mut self.state {
            State::Direct { encoder, .. } => {
                if batch.num_rows() > 0 {
                    encoder.push(batch).await?;
                }
                Ok(())
            }
            State::Buffered(batches) => {
                batches.push(batch);
                Ok(())
            }
            State::Done => Err(DeltaError("this table's write has ended".into())),
            State::Empty(_) if batch.num_rows() == 0 => {
                self.state = State::Empty(Some(batch));
                Ok(())
            }
            State::Empty(_) => self.start(existing, batch).await,
        }
    }

    /// The first batch with rows: decide, and start the data file.
    async fn start(
        &mut self,
        existing: Option<&DeltaTable>,
        batch: RecordBatch,
    ) -> Result<(), DeltaError> {
        let schema = batch.schema();
        let dir = url::Url::parse(&self.location)
            .ok()
            .filter(|u| u.scheme() == "file")
            .and_then(|u| u.to_file_path().ok());
        let plan = match &dir {
            Some(_) => direct::plan(existing, &schema, self.mode, &self.partition_by)?,
            None => None,
        };
        let (Some(plan), Some(dir)) = (plan, dir) else {
            self.state = State::Buffered(vec![batch]);
            return Ok(());
        };
        if !dir.exists() {
            std::fs::create_dir_all(&dir).map_err(|e| {
                DeltaError(format!("cannot create the folder `{}`: {e}", dir.display()))
            })?;
            self.created = Some(dir.clone());
        }
        let name = direct::file_name(&self.run_id);
        let path = dir.join(&name);
        let file = std::fs::File::create_new(&path)
            .map_err(|e| DeltaError(format!("cannot create `{}`: {e}", path.display())))?;
        self.file = Some(path.clone());
        let mut encoder = Encoder::start(file, path, schema.clone(), self.writer.clone());
        encoder.push(batch).await?;
        self.state = State::Direct {
            plan,
            encoder,
            name,
            schema,
        };
        Ok(())
    }

    /// Commits what was pushed, with `meta`, to `table` (`None`: the table
    /// is created); returns the new Delta version.
    pub async fn commit(
        mut self,
        table: Option<DeltaTable>,
        meta: CommitMeta<'_>,
    ) -> Result<u64, DeltaError> {
        let table = match table {
            Some(t) => t,
            None => super::open_or_create(&self.location).await?,
        };
        let (props, info) = super::commit_parts(meta);
        match std::mem::replace(&mut self.state, State::Done) {
            State::Direct {
                plan,
                encoder,
                name,
                schema,
            } => {
                let written = encoder.finish().await?;
                let path = self.file.clone().unwrap_or_default();
                let size = std::fs::metadata(&path)
                    .map_err(|e| DeltaError(format!("cannot read `{}`: {e}", path.display())))?
                    .len();
                let file = DataFile {
                    name,
                    size,
                    meta: written,
                    schema,
                };
                let version = direct::commit(&table, plan, file, self.mode, props, info).await?;
                self.file = None;
                self.created = None;
                Ok(version)
            }
            State::Buffered(batches) => self.write_op(table, batches, props, info).await,
            State::Empty(batch) => {
                self.write_op(table, batch.into_iter().collect(), props, info)
                    .await
            }
            State::Done => Err(DeltaError("this table's write has ended".into())),
        }
    }
}

impl TableWrite {
    /// Commits `batches` through deltalake's write operation.
    async fn write_op(
        &mut self,
        table: DeltaTable,
        batches: Vec<RecordBatch>,
        props: deltalake_core::kernel::transaction::CommitProperties,
        info: Vec<(String, serde_json::Value)>,
    ) -> Result<u64, DeltaError> {
        let v = super::write_op(
            table,
            batches,
            self.mode,
            &self.partition_by,
            props.with_metadata(info),
            self.writer.clone(),
        )
        .await;
        if v.is_ok() {
            self.created = None;
        }
        v
    }
}

impl Drop for TableWrite {
    fn drop(&mut self) {
        if let Some(path) = &self.file {
            let _ = std::fs::remove_file(path);
        }
        if let Some(dir) = &self.created {
            // Only when empty: `remove_dir` refuses a folder with anything in it.
            let _ = std::fs::remove_dir(dir);
        }
    }
}
