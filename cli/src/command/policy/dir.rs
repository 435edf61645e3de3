//! A policy repository on disk (DESIGN §8): reading its files, and writing
//! an export into a new directory without overwriting anything.

use std::path::{Component, Path, PathBuf};

use policy_engine::model::PolicyFile as PeFile;
use policy_engine::policies::{MAX_BUNDLE_BYTES, MAX_FILES};

use crate::exit::CliError;

fn io(path: &Path, e: std::io::Error) -> CliError {
    CliError::error(format!("cannot read `{}`: {e}", path.display()))
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) -> Result<(), CliError> {
    let mut entries = std::fs::read_dir(dir)
        .map_err(|e| io(dir, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| io(dir, e))?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        // Symbolic links are not followed (no cycles, nothing from outside DIR).
        let ty = e.file_type().map_err(|x| io(&path, x))?;
        let rel = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        if ty.is_dir() {
            // Hidden folders (`.git`) are not the repository's.
            if !e.file_name().to_string_lossy().starts_with('.') {
                walk(root, &path, out)?;
            }
        } else if ty.is_file() && policy_engine::repo::is_repository_file(&rel) {
            out.push((rel, path));
            if out.len() > MAX_FILES {
                return Err(CliError::error(format!(
                    "`{}` has more than {MAX_FILES} repository files; a repository may have at \
                     most {MAX_FILES}",
                    root.display()
                )));
            }
        }
    }
    Ok(())
}

/// Reads DIR's repository files, sorted by path.
pub fn read(dir: &Path) -> Result<Vec<PeFile>, CliError> {
    if !dir.is_dir() {
        return Err(CliError::error(format!(
            "`{}` is not a directory; give the policy repository's directory",
            dir.display()
        )));
    }
    let mut paths = Vec::new();
    walk(dir, dir, &mut paths)?;
    let mut total = 0usize;
    let mut files = Vec::new();
    for (rel, path) in paths {
        let len = std::fs::metadata(&path).map_err(|e| io(&path, e))?.len();
        total = total.saturating_add(usize::try_from(len).unwrap_or(usize::MAX));
        if total > MAX_BUNDLE_BYTES {
            return Err(CliError::error(format!(
                "the repository files in `{}` exceed {MAX_BUNDLE_BYTES} bytes; split the \
                 account's governance or shorten it",
                dir.display()
            )));
        }
        let source = std::fs::read_to_string(&path).map_err(|e| io(&path, e))?;
        files.push(PeFile { path: rel, source });
    }
    Ok(files)
}

/// The `*.cedar` files among `files`.
pub fn cedar(files: &[PeFile]) -> Vec<PeFile> {
    files
        .iter()
        .filter(|f| f.path.ends_with(".cedar"))
        .cloned()
        .collect()
}

/// Whether `files` hold a `lakegate.toml` (a whole-account repository).
pub fn has_manifest(files: &[PeFile]) -> bool {
    files.iter().any(|f| f.path == "lakegate.toml")
}

/// Refuses to plan or apply a directory that is not a whole repository:
/// applying Cedar files alone would remove every grant.
pub fn require_manifest(dir: &Path, files: &[PeFile]) -> Result<(), CliError> {
    if has_manifest(files) {
        return Ok(());
    }
    Err(CliError::error(format!(
        "`{dir}` has no lakegate.toml, so it is not a policy repository: a repository is the \
         account's whole governance (grants, filters, LF-tags, links and *.cedar policies), \
         and applying one without grants would remove every grant. Start one from the server's \
         state with `lakegate policy export NEW_DIR`",
        dir = dir.display()
    )))
}

/// Writes an export into `dir`, which must not exist or be empty; never
/// overwrites a file, and refuses paths that would leave `dir`.
pub fn write(dir: &Path, files: &[PeFile]) -> Result<(), CliError> {
    if dir.exists() {
        let mut it = std::fs::read_dir(dir).map_err(|e| io(dir, e))?;
        if it.next().is_some() {
            return Err(CliError::error(format!(
                "`{}` is not empty; export into a new or empty directory (nothing was written)",
                dir.display()
            )));
        }
    }
    for f in files {
        let rel = Path::new(&f.path);
        if f.path.is_empty() || !rel.components().all(|c| matches!(c, Component::Normal(_))) {
            return Err(CliError::error(format!(
                "the server returned the file path `{}`, which is not a plain relative path; \
                 nothing more was written",
                f.path
            )));
        }
    }
    let werr = |p: &Path, e: std::io::Error| {
        CliError::error(format!("cannot write `{}`: {e}", p.display()))
    };
    for f in files {
        let path = dir.join(&f.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| werr(parent, e))?;
        }
        use std::io::Write;
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| werr(&path, e))?;
        out.write_all(f.source.as_bytes())
            .map_err(|e| werr(&path, e))?;
    }
    Ok(())
}
