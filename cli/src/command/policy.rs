//! `lakegate policy validate|plan|apply|test DIR`: policy-as-code (DESIGN §3
//! rule 7). DIR's `*.cedar` files (recursively, paths relative to DIR) are
//! the account's own Cedar policies, joined with its grants.
//!
//! `validate` runs locally, with the same strict validation the server does,
//! so CI can check a policy repository without a server. `plan` compares DIR
//! with the account's current set; `apply` replaces the set (whole or not at
//! all); `test` runs the checks in `DIR/tests/*.yaml` through `explain`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use grpc_proxy::proto::{ExplainRequest, ListPoliciesRequest, PolicyBundle, PolicyFile};
use policy_engine::model::PolicyFile as PeFile;
use policy_engine::policies::{MAX_BUNDLE_BYTES, MAX_FILES, validate_bundle};

use super::Global;
use crate::client::connect;
use crate::exit::CliError;
use crate::output;

/// Policy subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// Check DIR's *.cedar files against the lakegate schema (strict; no server needed).
    Validate {
        /// The policy directory.
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
    /// Show which files and policies `apply` would add, change or remove.
    Plan {
        /// The policy directory.
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
    /// Make DIR's *.cedar files the account's policy set (data lake admins).
    Apply {
        /// The policy directory.
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
    /// Validate DIR, then run the checks in DIR/tests/*.yaml against the server.
    ///
    /// The server's policy set must equal DIR (run `policy apply DIR` first).
    /// Each YAML file holds `tests:`, a list of checks, each with `name`,
    /// `principal`, optional `groups` and `attrs`, `sql` (or `table: DB.TABLE`
    /// for `SELECT * FROM DB.TABLE`), and either `visible_columns: [..]` per
    /// table (`{DB.TABLE: [..]}`, or a plain list when the query reads one
    /// table) or `error: TEXT` (a part of the expected error). Checks run
    /// through `explain`, so they need a data lake admin's token.
    Test {
        /// The policy directory.
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
}

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
        if ty.is_dir() {
            walk(root, &path, out)?;
        } else if ty.is_file() && path.extension().is_some_and(|x| x == "cedar") {
            let rel = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            out.push((rel, path));
            if out.len() > MAX_FILES {
                return Err(CliError::error(format!(
                    "`{}` has more than {MAX_FILES} .cedar files; a bundle may have at most \
                     {MAX_FILES}",
                    root.display()
                )));
            }
        }
    }
    Ok(())
}

/// Reads DIR's `*.cedar` files, sorted by path.
pub fn read_bundle(dir: &Path) -> Result<Vec<PeFile>, CliError> {
    if !dir.is_dir() {
        return Err(CliError::error(format!(
            "`{}` is not a directory; give the directory that holds the *.cedar files",
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
                "the policy files in `{}` exceed {MAX_BUNDLE_BYTES} bytes; split the account's \
                 policies or shorten them",
                dir.display()
            )));
        }
        let source = std::fs::read_to_string(&path).map_err(|e| io(&path, e))?;
        files.push(PeFile { path: rel, source });
    }
    Ok(files)
}

/// Validates locally; errors name `DIR/FILE:LINE`.
fn validate(dir: &Path, files: &[PeFile]) -> Result<usize, CliError> {
    validate_bundle(files).map_err(|e| {
        let msg = e.to_string();
        let shown = if files
            .iter()
            .any(|f| msg.starts_with(&format!("{}:", f.path)))
        {
            format!("{}/{msg}", dir.display().to_string().trim_end_matches('/'))
        } else {
            msg
        };
        CliError::error(shown)
    })
}

/// Policies in one file, or `None` if it no longer validates.
fn count(f: &PeFile) -> Option<usize> {
    validate_bundle(std::slice::from_ref(f)).ok()
}

fn n(c: Option<usize>) -> String {
    c.map_or_else(|| "?".to_string(), |c| c.to_string())
}

async fn current(c: &mut crate::client::Conn) -> Result<Vec<PeFile>, CliError> {
    let b = c
        .client
        .list_policies(ListPoliciesRequest {})
        .await
        .map_err(|s| c.fail(s))?
        .into_inner();
    Ok(b.files
        .into_iter()
        .map(|f| PeFile {
            path: f.path,
            source: f.source,
        })
        .collect())
}

/// One test of `DIR/tests/*.yaml`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Check {
    name: String,
    principal: String,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    attrs: BTreeMap<String, String>,
    #[serde(default)]
    sql: Option<String>,
    #[serde(default)]
    table: Option<String>,
    #[serde(default)]
    visible_columns: Option<serde_yaml::Value>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    tests: Vec<Check>,
}

fn read_tests(dir: &Path) -> Result<Vec<(String, Check)>, CliError> {
    let tdir = dir.join("tests");
    if !tdir.is_dir() {
        return Ok(vec![]);
    }
    let mut names = std::fs::read_dir(&tdir)
        .map_err(|e| io(&tdir, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| io(&tdir, e))?
        .into_iter()
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect::<Vec<_>>();
    names.sort();
    let mut out = Vec::new();
    for p in names {
        let text = std::fs::read_to_string(&p).map_err(|e| io(&p, e))?;
        let f: TestFile = serde_yaml::from_str(&text).map_err(|e| {
            CliError::error(format!(
                "`{}` is not a test file: {e}; see `lakegate policy test --help`",
                p.display()
            ))
        })?;
        for c in f.tests {
            out.push((p.display().to_string(), c));
        }
    }
    Ok(out)
}

/// Expected visible columns per table.
fn expected(v: &serde_yaml::Value) -> Result<BTreeMap<Option<String>, Vec<String>>, String> {
    let list = |v: &serde_yaml::Value| -> Result<Vec<String>, String> {
        serde_yaml::from_value::<Vec<String>>(v.clone())
            .map(|l| l.into_iter().map(|c| c.to_ascii_lowercase()).collect())
            .map_err(|e| format!("visible_columns: {e}"))
    };
    match v {
        serde_yaml::Value::Sequence(_) => Ok(BTreeMap::from([(None, list(v)?)])),
        serde_yaml::Value::Mapping(m) => m
            .iter()
            .map(|(k, v)| {
                let k = k
                    .as_str()
                    .ok_or("visible_columns keys are DB.TABLE names")?
                    .to_ascii_lowercase();
                Ok((Some(k), list(v)?))
            })
            .collect(),
        _ => Err("visible_columns is a list, or a map of DB.TABLE to lists".into()),
    }
}

async fn run_check(c: &mut crate::client::Conn, t: &Check) -> Result<(), String> {
    let sql = match (&t.sql, &t.table) {
        (Some(s), None) => s.clone(),
        (None, Some(tb)) => format!("SELECT * FROM {tb}"),
        _ => return Err("give exactly one of `sql` and `table`".into()),
    };
    let want = match (&t.visible_columns, &t.error) {
        (Some(v), None) => Ok(expected(v)?),
        (None, Some(e)) => Err(e.clone()),
        _ => return Err("give exactly one of `visible_columns` and `error`".into()),
    };
    let groups = t
        .groups
        .iter()
        .map(|g| {
            if g.contains(':') {
                g.clone()
            } else {
                format!(
                    "{}:group/{g}",
                    t.principal.split(':').next().unwrap_or_default()
                )
            }
        })
        .collect();
    let got = c
        .client
        .explain(ExplainRequest {
            principal: t.principal.clone(),
            groups,
            attrs: t.attrs.clone(),
            sql,
        })
        .await;
    match (want, got) {
        (Err(e), Err(s)) if s.message().contains(&e) => Ok(()),
        (Err(e), Err(s)) => Err(format!(
            "expected an error containing {e:?}, got {:?}",
            s.message()
        )),
        (Err(e), Ok(_)) => Err(format!(
            "expected an error containing {e:?}, but the query is allowed"
        )),
        (Ok(_), Err(s)) => Err(format!("expected success, got: {}", s.message())),
        (Ok(want), Ok(r)) => {
            let r = r.into_inner();
            for (table, cols) in &want {
                let found = match table {
                    None if r.tables.len() == 1 => r.tables.first(),
                    None => {
                        return Err(format!(
                            "the query reads {} tables; give visible_columns per table",
                            r.tables.len()
                        ));
                    }
                    Some(name) => r.tables.iter().find(|x| &x.table == name),
                };
                let Some(found) = found else {
                    return Err(format!(
                        "the query does not read {}",
                        table.clone().unwrap_or_default()
                    ));
                };
                let got: Vec<String> = found.columns.iter().map(|c| c.name.clone()).collect();
                if &got != cols {
                    return Err(format!(
                        "{}: expected columns [{}], got [{}]",
                        found.table,
                        cols.join(", "),
                        got.join(", ")
                    ));
                }
            }
            Ok(())
        }
    }
}

/// Runs a policy subcommand.
pub async fn run(cmd: Cmd, g: &Global) -> Result<(), CliError> {
    match cmd {
        Cmd::Validate { dir } => {
            let files = read_bundle(&dir)?;
            let count = validate(&dir, &files)?;
            if g.json {
                return output::json(&serde_json::json!({
                    "files": files.len(), "policies": count,
                }));
            }
            if files.is_empty() {
                println!("no .cedar files in {}; nothing to validate", dir.display());
            } else {
                println!(
                    "ok: {count} policies in {} file(s) validate against the lakegate schema",
                    files.len()
                );
            }
            Ok(())
        }
        Cmd::Apply { dir } => {
            let files = read_bundle(&dir)?;
            validate(&dir, &files)?;
            let nfiles = files.len();
            let mut c = connect(g).await?;
            let r = c
                .client
                .apply_policies(PolicyBundle {
                    files: files
                        .into_iter()
                        .map(|f| PolicyFile {
                            path: f.path,
                            source: f.source,
                        })
                        .collect(),
                })
                .await
                .map_err(|s| c.fail(s))?
                .into_inner();
            if g.json {
                return output::json(&r);
            }
            println!(
                "applied {} policies from {nfiles} file(s); they are the account's policy set now",
                r.policies
            );
            Ok(())
        }
        Cmd::Plan { dir } => {
            let files = read_bundle(&dir)?;
            validate(&dir, &files)?;
            let mut c = connect(g).await?;
            let cur = current(&mut c).await?;
            let old: BTreeMap<&str, &PeFile> = cur.iter().map(|f| (f.path.as_str(), f)).collect();
            let new: BTreeMap<&str, &PeFile> = files.iter().map(|f| (f.path.as_str(), f)).collect();
            let paths: BTreeSet<&str> = old.keys().chain(new.keys()).copied().collect();
            let mut changes = Vec::new();
            for p in paths {
                match (old.get(p), new.get(p)) {
                    (None, Some(f)) => changes.push(("add", p, None, count(f))),
                    (Some(f), None) => changes.push(("remove", p, count(f), None)),
                    (Some(a), Some(b)) if a.source != b.source => {
                        changes.push(("change", p, count(a), count(b)))
                    }
                    _ => {}
                }
            }
            if g.json {
                let v: Vec<_> = changes
                    .iter()
                    .map(|(op, p, before, after)| {
                        serde_json::json!({"op": op, "path": p, "policies_before": before, "policies_after": after})
                    })
                    .collect();
                return output::json(&v);
            }
            if changes.is_empty() {
                println!(
                    "no changes: the account's policy set equals {}",
                    dir.display()
                );
                return Ok(());
            }
            for (op, p, before, after) in &changes {
                match *op {
                    "add" => println!("+ {p} ({} policies)", n(*after)),
                    "remove" => println!("- {p} ({} policies)", n(*before)),
                    _ => println!("~ {p} ({} -> {} policies)", n(*before), n(*after)),
                }
            }
            let k = |o: &str| changes.iter().filter(|c| c.0 == o).count();
            println!(
                "plan: {} to add, {} to change, {} to remove; run `lakegate policy apply {}` to apply",
                k("add"),
                k("change"),
                k("remove"),
                dir.display()
            );
            Ok(())
        }
        Cmd::Test { dir } => {
            let files = read_bundle(&dir)?;
            let count = validate(&dir, &files)?;
            let checks = read_tests(&dir)?;
            if checks.is_empty() {
                println!(
                    "ok: {count} policies validate; no tests found in {} (add *.yaml files, see \
                     `lakegate policy test --help`)",
                    dir.join("tests").display()
                );
                return Ok(());
            }
            let mut c = connect(g).await?;
            let mut cur = current(&mut c).await?;
            cur.sort_by(|a, b| a.path.cmp(&b.path));
            if cur != files {
                return Err(CliError::error(format!(
                    "the account's policy set differs from {dir}; tests would not test these \
                     files. See `lakegate policy plan {dir}` and apply with `lakegate policy \
                     apply {dir}`",
                    dir = dir.display()
                )));
            }
            let mut failed = 0usize;
            for (file, t) in &checks {
                match run_check(&mut c, t).await {
                    Ok(()) => println!("ok    {}", t.name),
                    Err(e) => {
                        failed += 1;
                        println!("FAIL  {} ({file}): {e}", t.name);
                    }
                }
            }
            if failed > 0 {
                return Err(CliError::error(format!(
                    "{failed} of {} policy tests failed",
                    checks.len()
                )));
            }
            println!("{} policy tests passed", checks.len());
            Ok(())
        }
    }
}
