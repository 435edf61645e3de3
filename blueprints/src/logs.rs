//! Log files (DESIGN §7 `kind = "logs"`): the files under a `file://`
//! folder not loaded yet — recognised by path, size and modification time,
//! so a file that changed is loaded again as a new one — parsed line by
//! line into typed columns. A malformed line is counted and reported as
//! `file:line`; more than `max_errors` of them fail the run. `.gz` files are
//! read through gzip.

pub mod formats;

use std::io::Read as _;
use std::path::{Path, PathBuf};

use deltalake_core::arrow::array::RecordBatch;
use deltalake_core::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::columns::{BatchBuilder, ColType, SourceColumn};
use crate::run::{FailKind, RunError};
use crate::spec::LogFormat;

/// Lines read per file for inferring jsonl and csv columns.
const INFER_LINES: usize = 1000;
/// Largest log file read (after decompression).
const MAX_FILE_BYTES: u64 = 1 << 30;
/// Malformed lines quoted in the error.
const QUOTED_ERRORS: usize = 5;

/// What identifies a loaded file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct FileKey {
    /// Path below the source folder.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i64,
}

/// A file to load: what identifies it, and where its bytes come from.
#[derive(Debug, Clone)]
pub struct Listed {
    /// What identifies it as loaded.
    pub key: FileKey,
    origin: Origin,
}

#[derive(Debug, Clone)]
enum Origin {
    /// A local file, with the identity it had when listed.
    Local { path: PathBuf, dev: u64, ino: u64 },
    /// An object already fetched (S3).
    Fetched(bytes::Bytes),
}

/// A log folder in an S3-compatible store (`s3://bucket/prefix/`), with
/// the server's credentials and endpoint (`AWS_*` environment variables).
pub struct S3Logs {
    store: std::sync::Arc<dyn object_store::ObjectStore>,
    prefix: object_store::path::Path,
    url: String,
}

impl S3Logs {
    /// Connects to the bucket of `url`.
    pub fn open(url: &str) -> Result<Self, RunError> {
        let rest = url.strip_prefix("s3://").unwrap_or(url);
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let store = object_store::aws::AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .build()
            .map_err(|e| {
                RunError::new(FailKind::Unavailable, format!("cannot use `{url}`: {e}"))
            })?;
        Ok(Self {
            store: std::sync::Arc::new(store),
            prefix: object_store::path::Path::from(prefix.trim_end_matches('/')),
            url: url.to_string(),
        })
    }

    /// Every object below the prefix, sorted by key.
    pub async fn list(&self) -> Result<Vec<(FileKey, object_store::path::Path)>, RunError> {
        use futures::TryStreamExt as _;
        let metas: Vec<object_store::ObjectMeta> = self
            .store
            .list(Some(&self.prefix))
            .try_collect()
            .await
            .map_err(|e| {
                RunError::new(
                    FailKind::Unavailable,
                    format!("cannot list `{}`: {e}", self.url),
                )
            })?;
        let mut out: Vec<(FileKey, object_store::path::Path)> = metas
            .into_iter()
            .filter_map(|m| {
                let rel = m
                    .location
                    .as_ref()
                    .strip_prefix(self.prefix.as_ref())
                    .unwrap_or(m.location.as_ref())
                    .trim_start_matches('/')
                    .to_string();
                let hidden = rel.split('/').any(|seg| seg.starts_with('.'));
                (!hidden && !rel.is_empty()).then(|| {
                    let key = FileKey {
                        path: rel,
                        size: m.size,
                        mtime_ns: m.last_modified.timestamp_nanos_opt().unwrap_or(0),
                    };
                    (key, m.location)
                })
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// Fetches one listed object; it must still have the listed size.
    pub async fn fetch(
        &self,
        key: FileKey,
        location: &object_store::path::Path,
    ) -> Result<Listed, RunError> {
        use object_store::ObjectStoreExt as _;
        if key.size > MAX_FILE_BYTES {
            return Err(invalid(format!(
                "`{}` is larger than {MAX_FILE_BYTES} bytes",
                key.path
            )));
        }
        let bytes = self
            .store
            .get(location)
            .await
            .map_err(|e| {
                RunError::new(
                    FailKind::Unavailable,
                    format!("cannot read `{}`: {e}", key.path),
                )
            })?
            .bytes()
            .await
            .map_err(|e| {
                RunError::new(
                    FailKind::Unavailable,
                    format!("cannot read `{}`: {e}", key.path),
                )
            })?;
        if bytes.len() as u64 != key.size {
            return Err(RunError::new(
                FailKind::Precondition,
                format!("`{}` changed while the run read it; run again", key.path),
            ));
        }
        Ok(Listed {
            key,
            origin: Origin::Fetched(bytes),
        })
    }
}

/// The parsed rows of a set of files.
#[derive(Debug, Default)]
pub struct Parsed {
    /// Rows, in batches.
    pub batches: Vec<RecordBatch>,
    /// Rows parsed.
    pub rows: u64,
    /// Malformed lines.
    pub rejected: u64,
    /// The first few malformed lines, as `file:line: reason`.
    pub errors: Vec<String>,
    /// Bytes read.
    pub bytes: u64,
}

fn invalid(m: impl Into<String>) -> RunError {
    RunError::new(FailKind::Invalid, m)
}

/// Every regular file below `root` (hidden files and folders, and
/// symlinks, skipped), sorted by path.
pub fn list_files(root: &Path) -> Result<Vec<Listed>, RunError> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<Listed>, depth: usize) -> Result<(), RunError> {
        if depth > 32 {
            return Err(invalid(format!(
                "folders below `{}` nest too deep",
                root.display()
            )));
        }
        let entries = std::fs::read_dir(dir).map_err(|e| {
            RunError::new(
                FailKind::Unavailable,
                format!("cannot read the folder `{}`: {e}", dir.display()),
            )
        })?;
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let path = e.path();
            // Symlinks are not followed: the rights were checked on the
            // folder's real path, and a link could point anywhere.
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                walk(root, &path, out, depth + 1)?;
            } else if meta.is_file() {
                let rel = path
                    .strip_prefix(root)
                    .unwrap_or(&path)
                    .to_string_lossy()
                    .into_owned();
                let mtime_ns = meta
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .and_then(|d| i64::try_from(d.as_nanos()).ok())
                    .unwrap_or(0);
                use std::os::unix::fs::MetadataExt as _;
                let (dev, ino) = (meta.dev(), meta.ino());
                out.push(Listed {
                    key: FileKey {
                        path: rel,
                        size: meta.len(),
                        mtime_ns,
                    },
                    origin: Origin::Local { path, dev, ino },
                });
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(root, root, &mut out, 0)?;
    out.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(out)
}

/// Opens a listed file without following a symlink, and only if it is still
/// the file that was listed (same device, inode, size; one link), so a file
/// swapped for a link or a hard link to something else since is refused.
fn open_local(f: &FileKey, path: &Path, dev: u64, ino: u64) -> Result<std::fs::File, RunError> {
    use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
    let shown = &f.path;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| RunError::new(FailKind::Unavailable, format!("cannot read `{shown}`: {e}")))?;
    let meta = file
        .metadata()
        .map_err(|e| RunError::new(FailKind::Unavailable, format!("cannot read `{shown}`: {e}")))?;
    if !meta.is_file() || meta.dev() != dev || meta.ino() != ino || meta.nlink() != 1 {
        return Err(RunError::new(
            FailKind::Precondition,
            format!("`{shown}` changed since it was listed (or has several links); run again"),
        ));
    }
    if meta.len() != f.size {
        return Err(RunError::new(
            FailKind::Precondition,
            format!("`{shown}` changed size while the run read it; run again"),
        ));
    }
    Ok(file)
}

/// The bytes of a listed file, as a reader.
fn open_listed(f: &Listed) -> Result<Box<dyn std::io::Read + Send>, RunError> {
    match &f.origin {
        Origin::Local { path, dev, ino } => Ok(Box::new(open_local(&f.key, path, *dev, *ino)?)),
        Origin::Fetched(b) => Ok(Box::new(std::io::Cursor::new(b.clone()))),
    }
}

fn read_text(f: &Listed) -> Result<String, RunError> {
    let shown = &f.key.path;
    let file = open_listed(f)?;
    let mut text = String::new();
    let gz = shown.ends_with(".gz");
    let read = if gz {
        flate2::read::MultiGzDecoder::new(file)
            .take(MAX_FILE_BYTES + 1)
            .read_to_string(&mut text)
    } else {
        file.take(MAX_FILE_BYTES + 1).read_to_string(&mut text)
    };
    read.map_err(|e| {
        invalid(format!(
            "`{shown}` cannot be read as UTF-8 text{}: {e}",
            if gz { " through gzip" } else { "" }
        ))
    })?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(invalid(format!(
            "`{shown}` is larger than {MAX_FILE_BYTES} bytes"
        )));
    }
    Ok(text)
}

/// Infers jsonl or csv columns from the first lines of each file.
fn infer(format: LogFormat, files: &[Listed]) -> Result<Vec<SourceColumn>, RunError> {
    let mut cols: Vec<(String, Option<ColType>)> = Vec::new();
    for f in files {
        let key = &f.key;
        let text = read_text(f)?;
        let mut lines = text.lines().filter(|l| !l.trim().is_empty());
        if format == LogFormat::Csv {
            let Some(header) = lines.next() else { continue };
            let names =
                formats::csv_fields(header).map_err(|e| invalid(format!("{}:1: {e}", key.path)))?;
            if cols.is_empty() {
                cols = names
                    .iter()
                    .map(|n| (n.trim().to_ascii_lowercase(), None))
                    .collect();
            } else if names.len() != cols.len()
                || names
                    .iter()
                    .zip(&cols)
                    .any(|(n, (c, _))| n.trim().to_ascii_lowercase() != *c)
            {
                return Err(invalid(format!(
                    "{}:1: the header differs from the other files' ({}); load files with different columns with separate blueprints",
                    key.path,
                    cols.iter()
                        .map(|(c, _)| c.as_str())
                        .collect::<Vec<_>>()
                        .join(",")
                )));
            }
            for line in lines.take(INFER_LINES) {
                if let Ok(values) = formats::csv_fields(line) {
                    for ((_, t), v) in cols.iter_mut().zip(values) {
                        *t = formats::widen(*t, formats::csv_type(&v));
                    }
                }
            }
        } else {
            for line in lines.take(INFER_LINES) {
                let Ok(Value::Object(obj)) = serde_json::from_str::<Value>(line) else {
                    continue;
                };
                for (k, v) in obj {
                    let k = k.to_ascii_lowercase();
                    match cols.iter_mut().find(|(c, _)| *c == k) {
                        Some((_, t)) => *t = formats::widen(*t, formats::json_type(&v)),
                        None => cols.push((k, formats::json_type(&v))),
                    }
                }
            }
        }
    }
    let mut out = Vec::with_capacity(cols.len());
    for (name, t) in cols {
        let name =
            policy_engine::model::ident(&name, "column").map_err(|e| invalid(e.to_string()))?;
        if out.iter().any(|c: &SourceColumn| c.name == name) {
            return Err(invalid(format!(
                "column `{name}` appears twice in the logs (names are case-insensitive)"
            )));
        }
        let ty = t.unwrap_or(ColType::Text);
        out.push(SourceColumn {
            source: name.clone(),
            declared: format!("{ty:?}"),
            name,
            ty,
        });
    }
    if out.is_empty() {
        return Err(invalid("no columns were found in the log files"));
    }
    Ok(out)
}

fn reject(p: &mut Parsed, file: &str, line: usize, why: &str) {
    p.rejected += 1;
    if p.errors.len() < QUOTED_ERRORS {
        p.errors.push(format!("{file}:{line}: {why}"));
    }
}

/// Parses `files` in `format`.
pub fn parse_files(format: LogFormat, files: &[Listed]) -> Result<Parsed, RunError> {
    let mut p = Parsed::default();
    if format == LogFormat::Parquet {
        for f in files {
            let key = &f.key;
            let mut data = Vec::new();
            open_listed(f)?
                .take(MAX_FILE_BYTES + 1)
                .read_to_end(&mut data)
                .map_err(|e| {
                    RunError::new(
                        FailKind::Unavailable,
                        format!("cannot read `{}`: {e}", key.path),
                    )
                })?;
            if data.len() as u64 > MAX_FILE_BYTES {
                return Err(invalid(format!(
                    "`{}` is larger than {MAX_FILE_BYTES} bytes",
                    key.path
                )));
            }
            let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(data))
                .and_then(|b| b.build())
                .map_err(|e| invalid(format!("`{}` is not a Parquet file: {e}", key.path)))?;
            for b in reader {
                let b = b.map_err(|e| invalid(format!("`{}`: {e}", key.path)))?;
                if let Some(first) = p.batches.first()
                    && first.schema() != b.schema()
                {
                    return Err(invalid(format!(
                        "`{}` has other columns than the files before it; load files with different columns with separate blueprints",
                        key.path
                    )));
                }
                p.rows += b.num_rows() as u64;
                p.batches.push(b);
            }
            p.bytes += key.size;
        }
        return Ok(p);
    }
    let columns = match formats::fixed_columns(format) {
        Some(c) => c,
        None => infer(format, files)?,
    };
    let mut b = BatchBuilder::new(&columns);
    for f in files {
        let key = &f.key;
        let text = read_text(f)?;
        p.bytes += text.len() as u64;
        if format == LogFormat::Cloudtrail {
            let doc: Value = match serde_json::from_str(&text) {
                Ok(d) => d,
                Err(e) => {
                    reject(&mut p, &key.path, 1, &format!("not JSON: {e}"));
                    continue;
                }
            };
            let Some(records) = doc.get("Records").and_then(Value::as_array) else {
                reject(&mut p, &key.path, 1, "no `Records` array");
                continue;
            };
            for (i, r) in records.iter().enumerate() {
                match formats::cloudtrail_record(r) {
                    Ok(cells) => push_row(&mut b, &mut p, cells, &key.path, i + 1)?,
                    Err(e) => reject(&mut p, &key.path, i + 1, &format!("record {}: {e}", i + 1)),
                }
            }
            continue;
        }
        let mut header_seen = false;
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            if format == LogFormat::Csv && !header_seen {
                header_seen = true;
                continue;
            }
            let cells = match format {
                LogFormat::Jsonl => match serde_json::from_str::<Value>(line) {
                    Ok(Value::Object(obj)) => {
                        let lower: std::collections::BTreeMap<String, &Value> = obj
                            .iter()
                            .map(|(k, v)| (k.to_ascii_lowercase(), v))
                            .collect();
                        columns
                            .iter()
                            .map(|c| formats::json_cell(lower.get(&c.name).copied(), c.ty))
                            .collect::<Result<Vec<_>, _>>()
                    }
                    Ok(_) => Err("not a JSON object".to_string()),
                    Err(e) => Err(format!("not JSON: {e}")),
                },
                LogFormat::Csv => formats::csv_fields(line).and_then(|values| {
                    if values.len() != columns.len() {
                        return Err(format!(
                            "{} fields where the header has {}",
                            values.len(),
                            columns.len()
                        ));
                    }
                    values
                        .into_iter()
                        .zip(&columns)
                        .map(|(v, c)| formats::csv_cell(v, c.ty))
                        .collect()
                }),
                _ => formats::parse_line(format, line),
            };
            match cells {
                Ok(cells) => push_row(&mut b, &mut p, cells, &key.path, i + 1)?,
                Err(e) => reject(&mut p, &key.path, i + 1, &e),
            }
        }
    }
    if b.rows() > 0 || p.batches.is_empty() {
        p.batches.push(b.finish().map_err(invalid)?);
    }
    Ok(p)
}

fn push_row(
    b: &mut BatchBuilder,
    p: &mut Parsed,
    cells: Vec<crate::columns::Cell<'_>>,
    file: &str,
    line: usize,
) -> Result<(), RunError> {
    // The formats produce cells of their columns' types, so a push fails
    // only on a value out of range; that fails the run (never a half row).
    for (i, c) in cells.into_iter().enumerate() {
        b.push(i, c)
            .map_err(|e| invalid(format!("{file}:{line}: {e}")))?;
    }
    b.end_row();
    p.rows += 1;
    if b.rows() >= crate::source::BATCH_ROWS {
        p.batches.push(b.finish().map_err(invalid)?);
    }
    Ok(())
}
