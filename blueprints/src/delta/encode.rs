//! Parquet data files for Delta commits, encoded a column per thread.
//!
//! The file is what arrow-rs's `ArrowWriter` writes with the same
//! properties (same schema metadata, row groups, encodings); only the
//! encoding of each row group's columns is spread over the machine's cores,
//! with `ArrowRowGroupWriterFactory` as arrow-rs documents for this.

use std::path::{Path, PathBuf};

use deltalake_core::arrow::array::RecordBatch;
use deltalake_core::arrow::datatypes::{Schema, SchemaRef};
use deltalake_core::parquet::arrow::ArrowWriter;
use deltalake_core::parquet::arrow::arrow_writer::{
    ArrowColumnChunk, ArrowColumnWriter, compute_leaves,
};
use deltalake_core::parquet::errors::ParquetError;
use deltalake_core::parquet::file::metadata::ParquetMetaData;
use deltalake_core::parquet::file::properties::WriterProperties;

use super::DeltaError;

/// Rows per row group when the properties set no row-count bound.
const DEFAULT_GROUP_ROWS: usize = 1024 * 1024;

fn parquet_error(
    path: &Path,
) -> impl Fn(deltalake_core::parquet::errors::ParquetError) -> DeltaError {
    let path = path.display().to_string();
    move |e| DeltaError(format!("cannot write the data file `{path}`: {e}"))
}

/// Writes `batches` (one schema, at least one batch) to a new Parquet file
/// at `path`; fails if the file exists. Returns the file's metadata.
#[cfg(test)]
pub(crate) fn write_file(
    path: &Path,
    batches: &[RecordBatch],
    props: WriterProperties,
) -> Result<ParquetMetaData, DeltaError> {
    let Some(first) = batches.first() else {
        return Err(DeltaError("no rows to write to a data file".into()));
    };
    let file = std::fs::File::create_new(path)
        .map_err(|e| DeltaError(format!("cannot create `{}`: {e}", path.display())))?;
    let mut rest = batches.iter().cloned();
    encode_stream(file, path, first.schema(), props, || rest.next())
}

/// A data file being written on its own thread while its batches arrive:
/// memory holds one row group's encoded pages and a few batches in flight,
/// whatever the file's size.
pub(crate) struct Encoder {
    tx: tokio::sync::mpsc::Sender<RecordBatch>,
    /// The encoder's result; taken once it has been read.
    done: Option<tokio::task::JoinHandle<Result<ParquetMetaData, DeltaError>>>,
}

impl Encoder {
    /// Starts writing the new, empty `file` at `path`.
    pub(crate) fn start(
        file: std::fs::File,
        path: PathBuf,
        schema: SchemaRef,
        props: WriterProperties,
    ) -> Self {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<RecordBatch>(IN_FLIGHT);
        let done = tokio::task::spawn_blocking(move || {
            encode_stream(file, &path, schema, props, || rx.blocking_recv())
        });
        Self {
            tx,
            done: Some(done),
        }
    }

    /// Hands over the next batch; waits while the encoder is behind.
    pub(crate) async fn push(&mut self, batch: RecordBatch) -> Result<(), DeltaError> {
        if self.tx.send(batch).await.is_ok() {
            return Ok(());
        }
        // The encoder stopped: its result says why.
        match self.done.take() {
            Some(done) => match done.await {
                Ok(Err(e)) => Err(e),
                Ok(Ok(_)) => Err(DeltaError("the data file was closed early".into())),
                Err(e) => Err(DeltaError(format!("the data file writer stopped: {e}"))),
            },
            None => Err(DeltaError("the data file writer has stopped".into())),
        }
    }

    /// Ends the input and waits for the file to be complete.
    pub(crate) async fn finish(self) -> Result<ParquetMetaData, DeltaError> {
        drop(self.tx);
        match self.done {
            Some(done) => done
                .await
                .map_err(|e| DeltaError(format!("the data file writer stopped: {e}")))?,
            None => Err(DeltaError("the data file writer has stopped".into())),
        }
    }
}

/// Batches queued for an encoder before the reader waits.
const IN_FLIGHT: usize = 4;

fn schema_mismatch(path: &Path) -> DeltaError {
    DeltaError(format!(
        "a batch for `{}` does not have the file's schema",
        path.display()
    ))
}

/// Writes the batches `next` yields (until `None`) to `file`, the new
/// file at `path`. Each row group's columns are encoded on up to one
/// thread per core, fed batch by batch.
fn encode_stream(
    file: std::fs::File,
    path: &Path,
    schema: SchemaRef,
    props: WriterProperties,
    mut next: impl FnMut() -> Option<RecordBatch>,
) -> Result<ParquetMetaData, DeltaError> {
    let err = parquet_error(path);
    let group_rows = props
        .max_row_group_row_count()
        .unwrap_or(DEFAULT_GROUP_ROWS)
        .max(1);
    let (mut writer, factory) = ArrowWriter::try_new(file, schema.clone(), Some(props))
        .and_then(ArrowWriter::into_serialized_writer)
        .map_err(&err)?;
    let descr = writer.schema_descr();
    // The top-level field each leaf column belongs to.
    let roots: Vec<usize> = (0..descr.num_columns())
        .map(|i| descr.get_column_root_idx(i))
        .collect();
    let fields = schema.fields().len();
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, fields.max(1));

    let mut carry: Option<RecordBatch> = None;
    let mut index = 0;
    loop {
        let first = match carry.take().or_else(&mut next) {
            Some(b) if b.num_rows() == 0 => continue,
            Some(b) => b,
            None => break,
        };
        let writers = factory.create_column_writers(index).map_err(&err)?;
        index += 1;
        // Thread `t` encodes the fields `f` with `f % threads == t`.
        let mut work: Vec<Vec<(usize, usize, ArrowColumnWriter)>> =
            (0..threads).map(|_| Vec::new()).collect();
        for (leaf, w) in writers.into_iter().enumerate() {
            let field = roots.get(leaf).copied().unwrap_or(0);
            if let Some(bucket) = work.get_mut(field % threads) {
                bucket.push((leaf, field, w));
            }
        }
        let (encoded, mismatch) = std::thread::scope(|s| {
            let schema = &schema;
            let mut feeds = Vec::new();
            let mut handles = Vec::new();
            for bucket in work {
                let (tx, rx) = std::sync::mpsc::sync_channel::<RecordBatch>(2);
                feeds.push(tx);
                handles.push(s.spawn(move || encode(bucket, rx, schema)));
            }
            let mut filled = 0;
            let mut batch = Some(first);
            let mut mismatch = false;
            while let Some(b) = batch.take() {
                if b.schema() != *schema {
                    mismatch = true;
                    break;
                }
                let take = (group_rows - filled).min(b.num_rows());
                if take < b.num_rows() {
                    carry = Some(b.slice(take, b.num_rows() - take));
                }
                filled += take;
                let part = b.slice(0, take);
                // A worker that stopped has its error in its result.
                if feeds.iter().any(|tx| tx.send(part.clone()).is_err()) {
                    break;
                }
                if filled < group_rows {
                    batch = next();
                }
            }
            drop(feeds);
            let results: Vec<_> = handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(ParquetError::General(
                            "a column encoder stopped unexpectedly".into(),
                        ))
                    })
                })
                .collect();
            (results, mismatch)
        });
        if mismatch {
            return Err(schema_mismatch(path));
        }
        let mut chunks = Vec::new();
        for part in encoded {
            chunks.extend(part.map_err(&err)?);
        }
        chunks.sort_by_key(|(leaf, _)| *leaf);
        let mut rg = writer.next_row_group().map_err(&err)?;
        for (_, chunk) in chunks {
            chunk.append_to_row_group(&mut rg).map_err(&err)?;
        }
        rg.close().map_err(&err)?;
    }
    writer.close().map_err(&err)
}

/// Encodes one thread's share of a row group: each batch that arrives has
/// its fields' leaves written to their column writers, which are closed
/// when the input ends.
fn encode(
    mut bucket: Vec<(usize, usize, ArrowColumnWriter)>,
    input: std::sync::mpsc::Receiver<RecordBatch>,
    schema: &Schema,
) -> Result<Vec<(usize, ArrowColumnChunk)>, ParquetError> {
    let mut fields: Vec<usize> = bucket.iter().map(|(_, f, _)| *f).collect();
    fields.dedup();
    for batch in input {
        for &field in &fields {
            let def = schema
                .fields()
                .get(field)
                .ok_or_else(|| ParquetError::General(format!("no field {field}")))?;
            let column = batch
                .columns()
                .get(field)
                .ok_or_else(|| ParquetError::General(format!("no column {field}")))?;
            let leaves = compute_leaves(def, column)?;
            let mut mine = bucket.iter_mut().filter(|(_, f, _)| *f == field);
            for leaf in leaves {
                let Some((_, _, w)) = mine.next() else {
                    return Err(ParquetError::General(format!(
                        "field {field} has more leaves than column writers"
                    )));
                };
                w.write(&leaf)?;
            }
        }
    }
    bucket
        .into_iter()
        .map(|(leaf, _, w)| w.close().map(|c| (leaf, c)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake_core::arrow::array::{Int64Array, StringArray};
    use deltalake_core::arrow::datatypes::{DataType, Field, Schema};
    use deltalake_core::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use std::sync::Arc;

    #[test]
    fn reads_back_what_arrow_writer_would_write_across_row_groups()
    -> Result<(), Box<dyn std::error::Error>> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
            Field::new("n2", DataType::Int64, false),
        ]));
        let batch = |from: i64, n: i64| {
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(Int64Array::from_iter(
                        (from..from + n).map(|i| (i % 7 != 0).then_some(i)),
                    )) as _,
                    Arc::new(StringArray::from_iter(
                        (from..from + n).map(|i| Some(format!("n{i}"))),
                    )) as _,
                    Arc::new(Int64Array::from_iter_values(from..from + n)) as _,
                ],
            )
        };
        let batches = vec![batch(0, 5)?, batch(5, 11)?, batch(16, 3)?];
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("f.parquet");
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(4))
            .build();
        let meta = write_file(&path, &batches, props)?;
        assert_eq!(meta.num_row_groups(), 5);
        let read: Vec<RecordBatch> =
            ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&path)?)?
                .build()?
                .collect::<Result<_, _>>()?;
        let got = deltalake_core::arrow::compute::concat_batches(&schema, &read)?;
        let want = deltalake_core::arrow::compute::concat_batches(&schema, &batches)?;
        assert_eq!(got, want);
        // The file exists now: a second write to it is refused.
        assert!(write_file(&path, &batches, WriterProperties::default()).is_err());
        Ok(())
    }
}
