//! The crawler's reading of a location (DESIGN §7): which folders are
//! tables, which are partitions, and each table's format and schema. It
//! reads; registering is the governance layer's.
//!
//! The rules, which every folder's note cites:
//! - a folder holding `_delta_log/` is a Delta table;
//! - the crawled location is itself one table when it holds data files
//!   directly; otherwise each folder directly inside it is a table, named
//!   after the folder;
//! - every folder level below a table is a partition level: `key=value/`
//!   levels are named partitions, unnamed levels (`2024/01/31/`) become
//!   `partition_0` .. `partition_{n-1}`; one table does not mix the two;
//! - a table's data files share one format (`.parquet`, `.csv`, `.json`)
//!   and sit under the same number of levels;
//! - names starting with `.` or `_` (`_SUCCESS`, `.crc`, `_tmp/`) and
//!   symbolic links are never read.
//!
//! A folder that breaks a rule is skipped, with the reason; the rest of the
//! location is still crawled.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use policy_engine::model::{Column, Format, LocationUri};

use crate::error::EngineError;
use crate::infer::{infer_table, is_lower_ident};

/// Deepest partition nesting the crawler walks.
const MAX_LEVELS: usize = 16;
/// Most folders one crawl looks at.
const MAX_FOLDERS: usize = 100_000;

/// What the crawler made of a folder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The folder is a table.
    Table,
    /// The folder is a partition of a table.
    Partition,
    /// The folder could have been a table but breaks a rule.
    Skipped,
    /// The folder is never read (hidden, temporary, a link, no data files).
    Ignored,
}

impl Verdict {
    /// `table`, `partition`, `skipped` or `ignored`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Table => "table",
            Verdict::Partition => "partition",
            Verdict::Skipped => "skipped",
            Verdict::Ignored => "ignored",
        }
    }
}

/// One folder's verdict and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FolderNote {
    /// The folder, relative to the crawled location (`.` for itself).
    pub path: String,
    /// What it became.
    pub verdict: Verdict,
    /// Why, in terms of the rules above.
    pub reason: String,
}

/// A table the crawler found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoundTable {
    /// The table name (the folder's).
    pub name: String,
    /// Its folder.
    pub location: LocationUri,
    /// Its files' format.
    pub format: Format,
    /// File columns, then partition columns.
    pub columns: Vec<Column>,
    /// Partition keys in level order.
    pub partition_keys: Vec<String>,
    /// The partitions found: each one's folder path below the table.
    pub partitions: Vec<String>,
}

/// What a crawl found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CrawlPlan {
    /// Every folder looked at, in path order.
    pub folders: Vec<FolderNote>,
    /// The tables, in name order.
    pub tables: Vec<FoundTable>,
}

/// A table candidate: its folder and the data files below it.
struct Candidate {
    name: String,
    rel: String,
    delta: bool,
    /// A symbolic link somewhere below it (the engine's readers follow
    /// links, so such a folder is never a table).
    link: Option<String>,
    /// Each data file's folder names below the table, and extension.
    files: Vec<(Vec<String>, String)>,
}

fn hidden(name: &str) -> bool {
    name.starts_with(['.', '_'])
}

fn data_ext(name: &str) -> Option<&'static str> {
    [".parquet", ".csv", ".json"]
        .into_iter()
        .find(|e| name.ends_with(e))
}

fn rel_path(base: &str, name: &str) -> String {
    if base == "." || base.is_empty() {
        name.to_string()
    } else if name.is_empty() {
        base.to_string()
    } else {
        format!("{base}/{name}")
    }
}

/// Sorted directory entries: (name, path, is a folder, is a link).
fn entries(dir: &Path) -> Result<Vec<(String, PathBuf, bool, bool)>, String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).map_err(|e| e.to_string())? {
        let e = e.map_err(|e| e.to_string())?;
        let ft = e.file_type().map_err(|e| e.to_string())?;
        out.push((
            e.file_name().to_string_lossy().into_owned(),
            e.path(),
            ft.is_dir(),
            ft.is_symlink(),
        ));
    }
    out.sort();
    Ok(out)
}

/// Walks a table folder: its data files, and notes for what is ignored.
fn walk_table(
    c: &mut Candidate,
    dir: &Path,
    names: &mut Vec<String>,
    notes: &mut Vec<FolderNote>,
    seen: &mut usize,
) -> Result<(), String> {
    *seen += 1;
    if *seen > MAX_FOLDERS {
        return Err(format!(
            "more than {MAX_FOLDERS} folders; crawl a narrower location"
        ));
    }
    if names.len() > MAX_LEVELS {
        return Err(format!("folders nest more than {MAX_LEVELS} levels deep"));
    }
    for (name, path, is_dir, is_link) in entries(dir)? {
        let rel = rel_path(&rel_path(&c.rel, &names.join("/")), &name);
        if is_link {
            c.link.get_or_insert(rel.clone());
            notes.push(FolderNote {
                path: rel,
                verdict: Verdict::Ignored,
                reason: "a symbolic link; links are never followed".into(),
            });
        } else if is_dir && hidden(&name) {
            notes.push(FolderNote {
                path: rel,
                verdict: Verdict::Ignored,
                reason: "a hidden or temporary folder (`.` or `_` prefix); never read".into(),
            });
        } else if is_dir {
            names.push(name);
            walk_table(c, &path, names, notes, seen)?;
            names.pop();
        } else if !hidden(&name)
            && let Some(ext) = data_ext(&name)
        {
            c.files.push((names.clone(), ext.to_string()));
        }
    }
    Ok(())
}

/// Finds the candidates under `root` (blocking I/O).
fn candidates(root: &Path, loc: &LocationUri) -> Result<(Vec<Candidate>, Vec<FolderNote>), String> {
    let mut notes = Vec::new();
    let top = entries(root)?;
    let own_name = loc
        .as_str()
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or("")
        .to_string();
    let holds_files = top
        .iter()
        .any(|(n, _, d, l)| !d && !l && !hidden(n) && data_ext(n).is_some());
    let holds_delta = top.iter().any(|(n, _, d, _)| *d && n == "_delta_log");
    let mut roots: Vec<(String, String, PathBuf)> = Vec::new();
    if holds_files || holds_delta {
        roots.push((own_name, ".".into(), root.to_path_buf()));
    } else {
        for (name, path, is_dir, is_link) in top {
            if !is_dir && !is_link {
                continue;
            }
            if is_link {
                notes.push(FolderNote {
                    path: name,
                    verdict: Verdict::Ignored,
                    reason: "a symbolic link; links are never followed".into(),
                });
            } else if hidden(&name) {
                notes.push(FolderNote {
                    path: name,
                    verdict: Verdict::Ignored,
                    reason: "a hidden or temporary folder (`.` or `_` prefix); never read".into(),
                });
            } else {
                roots.push((name.clone(), name, path));
            }
        }
    }
    let mut seen = 0;
    let mut out = Vec::new();
    for (name, rel, dir) in roots {
        let delta = std::fs::symlink_metadata(dir.join("_delta_log")).is_ok_and(|m| m.is_dir());
        let mut c = Candidate {
            name,
            rel,
            delta,
            link: None,
            files: Vec::new(),
        };
        if !delta {
            walk_table(&mut c, &dir, &mut Vec::new(), &mut notes, &mut seen)?;
        }
        out.push(c);
    }
    Ok((out, notes))
}

/// A table's file layout.
struct Layout {
    format: Format,
    /// Partition keys in level order.
    keys: Vec<String>,
    /// Each partition's folder names.
    partitions: Vec<Vec<String>>,
    /// Why the folder is a table.
    why: String,
}

/// The layout of a candidate's files, or why it is not a table.
fn layout(c: &Candidate) -> Result<Layout, String> {
    let exts: BTreeSet<&str> = c.files.iter().map(|(_, e)| e.as_str()).collect();
    let format = match exts.iter().copied().collect::<Vec<_>>().as_slice() {
        [] => return Err("holds no data files (`.parquet`, `.csv`, `.json`)".into()),
        [".parquet"] => Format::Parquet,
        [".csv"] => Format::Csv,
        [".json"] => Format::Json,
        many => {
            return Err(format!(
                "mixes {} files; a table's files share one format, so move them into one \
                 folder per format",
                many.join(" and ")
            ));
        }
    };
    let depths: BTreeSet<usize> = c.files.iter().map(|(d, _)| d.len()).collect();
    if depths.len() > 1 {
        let shown: Vec<String> = depths.iter().map(usize::to_string).collect();
        return Err(format!(
            "has data files at {} folder levels below it; every file of a table sits under the \
             same number of partition levels",
            shown.join(" and ")
        ));
    }
    let depth = depths.into_iter().next().unwrap_or(0);
    let mut keys: Vec<Option<String>> = vec![None; depth];
    let mut named = BTreeSet::new();
    let mut partitions: BTreeSet<Vec<String>> = BTreeSet::new();
    for (dirs, _) in &c.files {
        for (i, seg) in dirs.iter().enumerate() {
            let key = seg.split_once('=').map(|(k, _)| k.to_string());
            named.insert(key.is_some());
            match keys.get_mut(i) {
                Some(slot @ None) => *slot = key.clone(),
                Some(Some(k)) if Some(k.as_str()) != key.as_deref() => {
                    return Err(format!(
                        "level {} has folders `{k}=…` and `{seg}`; every folder of a level \
                         names the same key",
                        i + 1
                    ));
                }
                _ => {}
            }
        }
        partitions.insert(dirs.clone());
    }
    if named.len() > 1 {
        return Err(
            "mixes `key=value/` levels with unnamed levels; name every level (`key=value/`) \
             or none"
                .into(),
        );
    }
    let n = c.files.len();
    let (keys, why) = if depth == 0 {
        (Vec::new(), format!("holds {n} {} files", format.as_str()))
    } else if named.contains(&true) {
        let keys: Vec<String> = keys.into_iter().flatten().collect();
        let why = format!(
            "holds {n} {} files under {depth} `key=value/` levels ({})",
            format.as_str(),
            keys.join(", ")
        );
        (keys, why)
    } else {
        let keys: Vec<String> = (0..depth).map(|i| format!("partition_{i}")).collect();
        let why = format!(
            "holds {n} {} files under {depth} unnamed levels, read as {}",
            format.as_str(),
            keys.join(", ")
        );
        (keys, why)
    };
    Ok(Layout {
        format,
        keys,
        partitions: partitions.into_iter().collect(),
        why,
    })
}

fn child(loc: &LocationUri, rel: &str) -> Result<LocationUri, String> {
    if rel == "." {
        return Ok(loc.clone());
    }
    LocationUri::parse(&format!("{}/{rel}/", loc.as_str().trim_end_matches('/')))
        .map_err(|e| e.to_string())
}

/// Infers a table's columns: the files' columns, then the partition keys.
async fn columns(
    loc: &LocationUri,
    format: Format,
    keys: &[String],
    partitions: &[Vec<String>],
) -> Result<Vec<Column>, String> {
    let positional = keys.first().is_some_and(|k| k == "partition_0");
    if !positional {
        let inferred = infer_table(loc, format, &[])
            .await
            .map_err(|e| e.to_string())?;
        if inferred.partition_keys != keys {
            return Err(format!(
                "its partition folders read as keys `{}`, not `{}`",
                inferred.partition_keys.join(","),
                keys.join(",")
            ));
        }
        return Ok(inferred.columns);
    }
    // Unnamed levels: each leaf folder is read as a table of its own and
    // the schemas must agree; a column one leaf lacks is added.
    let mut merged: Vec<Column> = Vec::new();
    let mut first_seen: BTreeMap<String, String> = BTreeMap::new();
    for dirs in partitions {
        let leaf = child(loc, &dirs.join("/"))?;
        let inferred = infer_table(&leaf, format, &[])
            .await
            .map_err(|e| format!("partition `{}`: {e}", dirs.join("/")))?;
        for col in inferred.columns {
            match merged.iter().find(|m| m.name == col.name) {
                None => {
                    first_seen.insert(col.name.clone(), dirs.join("/"));
                    merged.push(col);
                }
                Some(m) if m.data_type == col.data_type => {}
                Some(m) => {
                    return Err(format!(
                        "column `{}` is `{}` in partition `{}` but `{}` in partition `{}`; \
                         rewrite the files so the types agree",
                        col.name,
                        m.data_type,
                        first_seen.get(&col.name).map_or("", String::as_str),
                        col.data_type,
                        dirs.join("/")
                    ));
                }
            }
        }
    }
    for k in keys {
        if merged.iter().any(|m| &m.name == k) {
            return Err(format!(
                "its files have a column `{k}`, the name of an unnamed partition level; rename \
                 the column"
            ));
        }
        merged.push(Column {
            name: k.clone(),
            data_type: "Utf8".into(),
            partition: true,
        });
    }
    Ok(merged)
}

/// Crawls `location`: every folder's verdict, and the tables found.
pub async fn crawl(location: &LocationUri) -> Result<CrawlPlan, EngineError> {
    let Some(root) = location.local_path().map(PathBuf::from) else {
        return Err(EngineError::Unsupported(format!(
            "location `{location}` is not a local folder; the crawler reads `file://` locations"
        )));
    };
    if !root.is_dir() {
        return Err(EngineError::invalid(format!(
            "location `{location}` is not a folder; crawl the folder that holds the tables"
        )));
    }
    let loc = location.clone();
    let (found, mut notes) = tokio::task::spawn_blocking(move || candidates(&root, &loc))
        .await
        .map_err(|e| EngineError::internal(format!("crawl task failed: {e}")))?
        .map_err(|e| {
            EngineError::invalid(format!("location `{location}` cannot be crawled: {e}"))
        })?;
    let mut plan = CrawlPlan::default();
    for c in found {
        let skip = |notes: &mut Vec<FolderNote>, reason: String| {
            notes.push(FolderNote {
                path: c.rel.clone(),
                verdict: Verdict::Skipped,
                reason,
            })
        };
        if !is_lower_ident(&c.name) {
            skip(
                &mut notes,
                format!(
                    "`{}` is not a table name (lower-case letters, digits and `_`); rename the \
                     folder, or crawl its parent if it is a partition level",
                    c.name
                ),
            );
            continue;
        }
        let loc = match child(location, &c.rel) {
            Ok(l) => l,
            Err(e) => {
                skip(
                    &mut notes,
                    format!("its path is not a usable location: {e}"),
                );
                continue;
            }
        };
        if let Some(link) = &c.link {
            skip(
                &mut notes,
                format!(
                    "holds the symbolic link `{link}`; the engine would follow it out of the \
                     folder, so replace links with the files themselves"
                ),
            );
            continue;
        }
        if c.delta {
            match crate::delta::infer(&loc, &[]).await {
                Ok(inferred) => {
                    notes.push(FolderNote {
                        path: c.rel.clone(),
                        verdict: Verdict::Table,
                        reason: "holds `_delta_log/`: a Delta table".into(),
                    });
                    plan.tables.push(FoundTable {
                        name: c.name.clone(),
                        location: loc,
                        format: Format::Delta,
                        columns: inferred.columns,
                        partition_keys: inferred.partition_keys,
                        partitions: Vec::new(),
                    });
                }
                Err(e) => skip(&mut notes, format!("holds `_delta_log/` but: {e}")),
            }
            continue;
        }
        let Layout {
            format,
            keys,
            partitions,
            why,
        } = match layout(&c) {
            Ok(l) => l,
            Err(reason) => {
                skip(&mut notes, reason);
                continue;
            }
        };
        let cols = match columns(&loc, format, &keys, &partitions).await {
            Ok(cols) => cols,
            Err(reason) => {
                skip(&mut notes, reason);
                continue;
            }
        };
        notes.push(FolderNote {
            path: c.rel.clone(),
            verdict: Verdict::Table,
            reason: why,
        });
        let mut levels: BTreeSet<String> = BTreeSet::new();
        for p in &partitions {
            for depth in 1..=p.len() {
                levels.insert(p.get(..depth).unwrap_or_default().join("/"));
            }
        }
        for l in levels {
            let level = l.matches('/').count();
            let key = keys.get(level).cloned().unwrap_or_default();
            notes.push(FolderNote {
                path: rel_path(&c.rel, &l),
                verdict: Verdict::Partition,
                reason: format!("level {} of table `{}`: key `{key}`", level + 1, c.name),
            });
        }
        plan.tables.push(FoundTable {
            name: c.name.clone(),
            location: loc,
            format,
            columns: cols,
            partition_keys: keys,
            partitions: partitions.iter().map(|p| p.join("/")).collect(),
        });
    }
    notes.sort_by(|a, b| a.path.cmp(&b.path));
    plan.folders = notes;
    plan.tables.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(plan)
}
