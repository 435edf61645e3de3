//! Schema inference for `table create`: the file columns from DataFusion's
//! listing inference, the partition columns from hive-style `key=value/`
//! folders.
//!
//! We walk the folders ourselves rather than use DataFusion's
//! `infer_partitions`, because that looks at only ten files and cannot see
//! an inconsistent layout; a table whose folders disagree must be refused
//! when it is created, not half-read later.

use std::path::{Path, PathBuf};

use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::datasource::listing::{ListingOptions, ListingTableUrl};
use datafusion::prelude::SessionContext;
use policy_engine::model::{Column, Format, LocationUri, MAX_COLUMNS};

use crate::error::EngineError;
use crate::format::{file_format, session_config};

/// The columns and partition keys inferred for a table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inferred {
    /// File columns in file order, then partition columns in key order
    /// (`Utf8`, `partition = true`).
    pub columns: Vec<Column>,
    /// Partition keys in key order.
    pub partition_keys: Vec<String>,
}

/// Deepest folder nesting we walk below a location.
const MAX_DEPTH: usize = 32;

/// Infers the columns of the table whose files are at `location`.
///
/// If `partition_keys` is empty, the keys are discovered from `key=value/`
/// folders; otherwise they must match the folders exactly, in order.
pub async fn infer_table(
    location: &LocationUri,
    format: Format,
    partition_keys: &[String],
) -> Result<Inferred, EngineError> {
    if format == Format::Delta {
        return crate::delta::infer(location, partition_keys).await;
    }
    let Some(root) = location.local_path() else {
        return Err(EngineError::Unsupported(format!(
            "location `{location}` is not a local folder; the embedded engine reads only \
             `file://` locations, so use a `file://` location or run `lakegate serve --upstream` \
             with an engine that reads it"
        )));
    };
    let (_, ext) = file_format(format);
    let root_path = PathBuf::from(root);
    let loc = location.to_string();
    let listing = tokio::task::spawn_blocking(move || list_files(&root_path, ext, &loc))
        .await
        .map_err(|e| EngineError::internal(format!("file listing task failed: {e}")))??;

    let discovered = partition_layout(location, &listing)?;
    if !partition_keys.is_empty() && partition_keys != discovered.as_slice() {
        return Err(EngineError::invalid(format!(
            "partition keys `{}` do not match the folders under `{location}`, which {}; \
             pass `--partition-keys {}` or leave it out to use the folders",
            partition_keys.join(","),
            if discovered.is_empty() {
                "have no `key=value/` levels".to_string()
            } else {
                format!("are `{}`", layout_text(&discovered))
            },
            if discovered.is_empty() {
                String::new()
            } else {
                discovered.join(",")
            }
        )));
    }

    let schema = infer_file_schema(location, format).await?;
    let mut columns = Vec::with_capacity(schema.fields().len() + discovered.len());
    for field in schema.fields() {
        let name = field.name();
        if !is_lower_ident(name) {
            let file = file_with_column(location, format, &listing.files, name).await;
            return Err(EngineError::invalid(format!(
                "column `{name}`{} is not a lower-case identifier; lakegate reads column names \
                 as they are in the files, so rename it to letters, digits and `_` starting \
                 with a letter or `_` (e.g. `{}`) and write the files again",
                match file {
                    Some(f) => format!(" in file `{}`", f.display()),
                    None => String::new(),
                },
                suggest_ident(name)
            )));
        }
        let dt = field.data_type();
        check_round_trip(name, dt)?;
        columns.push(Column {
            name: name.clone(),
            data_type: format!("{dt}"),
            partition: false,
        });
    }
    for key in &discovered {
        if columns.iter().any(|c| &c.name == key) {
            return Err(EngineError::invalid(format!(
                "partition key `{key}` is also a column inside the files under `{location}`; \
                 remove the column from the files or rename the `{key}=` folders"
            )));
        }
        columns.push(Column {
            name: key.clone(),
            data_type: "Utf8".into(),
            partition: true,
        });
    }
    if columns.len() > MAX_COLUMNS {
        return Err(EngineError::invalid(format!(
            "the files under `{location}` have {} columns; a table may have at most {MAX_COLUMNS}",
            columns.len()
        )));
    }
    Ok(Inferred {
        columns,
        partition_keys: discovered,
    })
}

/// The data files found under a location: their paths and the folder
/// segments between the location and each file.
struct Listing {
    files: Vec<PathBuf>,
    folders: Vec<Vec<String>>,
}

fn list_files(root: &Path, ext: &str, location: &str) -> Result<Listing, EngineError> {
    match std::fs::metadata(root) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(EngineError::invalid(format!(
                "location `{location}` is a file, not a folder; point the table at the folder \
                 that holds its files"
            )));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(EngineError::invalid(format!(
                "location `{location}` does not exist; create the folder and write the table's \
                 files into it, or fix the location"
            )));
        }
        Err(e) => {
            return Err(EngineError::invalid(format!(
                "location `{location}` cannot be read ({e}); check that lakegate may read it"
            )));
        }
    }
    let mut out = Listing {
        files: Vec::new(),
        folders: Vec::new(),
    };
    walk(root, &mut Vec::new(), ext, location, &mut out)?;
    if out.files.is_empty() {
        return Err(EngineError::invalid(format!(
            "no `*{ext}` files were found under `{location}` (files in subfolders that are not \
             `key=value/` partitions are not read); write the table's files there first, or \
             pick the format that matches them (`--format parquet|csv|json`)"
        )));
    }
    Ok(out)
}

fn walk(
    dir: &Path,
    segments: &mut Vec<String>,
    ext: &str,
    location: &str,
    out: &mut Listing,
) -> Result<(), EngineError> {
    if segments.len() > MAX_DEPTH {
        return Err(EngineError::invalid(format!(
            "the folders under `{location}` are nested more than {MAX_DEPTH} levels deep \
             (at `{}`); flatten the layout",
            dir.display()
        )));
    }
    let unreadable = |e: std::io::Error| {
        EngineError::invalid(format!(
            "folder `{}` under `{location}` cannot be read ({e}); check that lakegate may read it",
            dir.display()
        ))
    };
    let mut entries = std::fs::read_dir(dir)
        .map_err(unreadable)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(unreadable)?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        // Follows symlinks, like the object store that reads the files.
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            // DataFusion reads files only directly under the location or
            // under `key=value/` folders (`listing_table_ignore_subdirectory`);
            // we look at exactly the files it reads.
            if !name.contains('=') {
                continue;
            }
            segments.push(name);
            walk(&path, segments, ext, location, out)?;
            segments.pop();
        } else if meta.is_file() && name.ends_with(ext) {
            out.files.push(path);
            out.folders.push(segments.clone());
        }
    }
    Ok(())
}

/// The partition keys the folder layout implies, or an error describing
/// the inconsistency.
fn partition_layout(location: &LocationUri, listing: &Listing) -> Result<Vec<String>, EngineError> {
    let mut first: Option<(Vec<String>, &Path, &[String])> = None;
    for (file, folders) in listing.files.iter().zip(&listing.folders) {
        let keys: Vec<String> = folders
            .iter()
            .filter_map(|s| s.split_once('=').map(|(k, _)| k.to_string()))
            .collect();
        for k in &keys {
            if !is_lower_ident(k) {
                return Err(EngineError::invalid(format!(
                    "partition folder key `{k}` (in `{}`) is not a lower-case identifier; \
                     rename the `{k}=` folders to letters, digits and `_` (e.g. `{}=`)",
                    file.display(),
                    suggest_ident(k)
                )));
            }
        }
        let mut seen = keys.clone();
        seen.sort();
        seen.dedup();
        if seen.len() != keys.len() {
            return Err(EngineError::invalid(format!(
                "file `{}` is under a partition key that appears twice (`{}`); each key may \
                 appear once per path",
                file.display(),
                folders.join("/")
            )));
        }
        match &first {
            None => first = Some((keys, file, folders)),
            Some((k0, f0, d0)) if *k0 != keys => {
                return Err(EngineError::invalid(format!(
                    "the partition folders under `{location}` are inconsistent: `{}` is under \
                     `{}` ({}) but `{}` is under `{}` ({}); every file must sit under the same \
                     `key=value/` levels in the same order",
                    f0.display(),
                    show_folders(d0),
                    show_keys(k0),
                    file.display(),
                    show_folders(folders),
                    show_keys(&keys)
                )));
            }
            Some(_) => {}
        }
    }
    Ok(first.map(|(k, _, _)| k).unwrap_or_default())
}

fn show_folders(f: &[String]) -> String {
    if f.is_empty() {
        "the location itself".into()
    } else {
        format!("{}/", f.join("/"))
    }
}

fn show_keys(k: &[String]) -> String {
    if k.is_empty() {
        "no partition keys".into()
    } else {
        format!("keys {}", k.join(", "))
    }
}

fn layout_text(keys: &[String]) -> String {
    keys.iter()
        .map(|k| format!("{k}=.../"))
        .collect::<Vec<_>>()
        .join("")
}

async fn infer_file_schema(location: &LocationUri, format: Format) -> Result<Schema, EngineError> {
    let url = ListingTableUrl::parse(location.as_str()).map_err(|e| {
        EngineError::invalid(format!(
            "location `{location}` is not a usable URL ({e}); fix the location"
        ))
    })?;
    infer_url_schema(&url, format).await.map_err(|e| {
        EngineError::invalid(format!(
            "cannot read the schema of the {} files under `{location}`: {e}; check that they \
                 are valid {} files",
            format.as_str(),
            format.as_str()
        ))
    })
}

async fn infer_url_schema(
    url: &ListingTableUrl,
    format: Format,
) -> datafusion::error::Result<Schema> {
    let ctx = SessionContext::new_with_config(session_config());
    let (fmt, ext) = file_format(format);
    let opts = ListingOptions::new(fmt).with_file_extension(ext);
    let schema = opts.infer_schema(&ctx.state(), url).await?;
    Ok(schema.as_ref().clone())
}

/// The first file (of at most 1000 looked at) whose schema has `column`.
async fn file_with_column(
    location: &LocationUri,
    format: Format,
    files: &[PathBuf],
    column: &str,
) -> Option<PathBuf> {
    if files.len() == 1 {
        return files.first().cloned();
    }
    for f in files.iter().take(1000) {
        let Some(s) = f.to_str() else { continue };
        let Ok(url) = ListingTableUrl::parse(s) else {
            continue;
        };
        if let Ok(schema) = infer_url_schema(&url, format).await
            && schema.field_with_name(column).is_ok()
        {
            return Some(f.clone());
        }
    }
    tracing::debug!(%location, column, "no single file found holding the column");
    None
}

/// We store types as their Display text; refuse types whose text does not
/// parse back to the same type, so the engine can always rebuild the schema.
pub(crate) fn check_round_trip(name: &str, dt: &DataType) -> Result<(), EngineError> {
    let text = format!("{dt}");
    match text.parse::<DataType>() {
        Ok(back) if &back == dt => Ok(()),
        _ => Err(EngineError::Unsupported(format!(
            "column `{name}` has type `{text}`, which lakegate cannot record in its catalog; \
             cast it to a simpler type (e.g. `Utf8`, `Int64`, `Timestamp(µs)`) in the files"
        ))),
    }
}

/// Whether `s` is `[a-z_][a-z0-9_]*` and not too long.
pub(crate) fn is_lower_ident(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= policy_engine::model::MAX_IDENT_LEN
        && s.chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn suggest_ident(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(policy_engine::model::MAX_IDENT_LEN)
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

#[cfg(test)]
mod tests;
