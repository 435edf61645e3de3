//! Parquet data files for Delta commits, encoded a column per thread.
//!
//! The file is what arrow-rs's `ArrowWriter` writes with the same
//! properties (same schema metadata, row groups, encodings); only the
//! encoding of each row group's columns is spread over the machine's cores,
//! with `ArrowRowGroupWriterFactory` as arrow-rs documents for this.

use std::path::Path;

use deltalake_core::arrow::array::RecordBatch;
use deltalake_core::parquet::arrow::ArrowWriter;
use deltalake_core::parquet::arrow::arrow_writer::{
    ArrowColumnChunk, ArrowColumnWriter, compute_leaves,
};
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
pub(crate) fn write_file(
    path: &Path,
    batches: &[RecordBatch],
    props: WriterProperties,
) -> Result<ParquetMetaData, DeltaError> {
    let err = parquet_error(path);
    let Some(first) = batches.first() else {
        return Err(DeltaError("no rows to write to a data file".into()));
    };
    let schema = first.schema();
    let group_rows = props
        .max_row_group_row_count()
        .unwrap_or(DEFAULT_GROUP_ROWS)
        .max(1);
    let file = std::fs::File::create_new(path)
        .map_err(|e| DeltaError(format!("cannot create `{}`: {e}", path.display())))?;
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

    for (index, group) in row_groups(batches, group_rows).iter().enumerate() {
        let writers = factory.create_column_writers(index).map_err(&err)?;
        // Thread `t` encodes the fields `f` with `f % threads == t`.
        let mut work: Vec<Vec<(usize, usize, ArrowColumnWriter)>> =
            (0..threads).map(|_| Vec::new()).collect();
        for (leaf, w) in writers.into_iter().enumerate() {
            let field = roots.get(leaf).copied().unwrap_or(0);
            if let Some(bucket) = work.get_mut(field % threads) {
                bucket.push((leaf, field, w));
            }
        }
        let encoded = std::thread::scope(|s| {
            let handles: Vec<_> = work
                .into_iter()
                .map(|bucket| s.spawn(|| encode(bucket, group, &schema)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(deltalake_core::parquet::errors::ParquetError::General(
                            "a column encoder stopped unexpectedly".into(),
                        ))
                    })
                })
                .collect::<Vec<_>>()
        });
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

/// Encodes one thread's share of a row group: each of its leaf writers is
/// fed that field's leaves from every batch, then closed.
fn encode(
    mut bucket: Vec<(usize, usize, ArrowColumnWriter)>,
    group: &[RecordBatch],
    schema: &deltalake_core::arrow::datatypes::Schema,
) -> Result<Vec<(usize, ArrowColumnChunk)>, deltalake_core::parquet::errors::ParquetError> {
    use deltalake_core::parquet::errors::ParquetError;
    let mut fields: Vec<usize> = bucket.iter().map(|(_, f, _)| *f).collect();
    fields.dedup();
    for field in fields {
        let def = schema
            .fields()
            .get(field)
            .ok_or_else(|| ParquetError::General(format!("no field {field}")))?;
        for batch in group {
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

/// Splits `batches` into row groups of `rows` rows (the last may be
/// shorter), slicing batches at the boundaries as `ArrowWriter` does.
fn row_groups(batches: &[RecordBatch], rows: usize) -> Vec<Vec<RecordBatch>> {
    let mut groups = Vec::new();
    let mut current: Vec<RecordBatch> = Vec::new();
    let mut filled = 0;
    for batch in batches {
        let mut offset = 0;
        while offset < batch.num_rows() {
            let take = (rows - filled).min(batch.num_rows() - offset);
            current.push(batch.slice(offset, take));
            offset += take;
            filled += take;
            if filled == rows {
                groups.push(std::mem::take(&mut current));
                filled = 0;
            }
        }
    }
    if !current.is_empty() {
        groups.push(current);
    }
    groups
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
