//! `lakegate policy validate|test|plan|apply|export DIR`: the account's
//! whole governance as a repository (DESIGN §8): `lakegate.toml`,
//! `grants/*.yaml`, `*.cedar`, `tests/*.yaml` and `invariants/*.yaml`.
//!
//! `validate` runs locally, with the same strict Cedar validation and the
//! same repository parser the server uses, so CI can check a repository
//! without a server. `plan`, `apply` and `test` send the repository to the
//! server, which replays it onto its catalog in memory and decides access
//! with the code that enforces it; `export` writes the server's state as a
//! repository.

mod checks;
mod dir;
mod show;

use std::path::{Path, PathBuf};

use grpc_proxy::proto::{
    ApplyRepositoryRequest, ExportRepositoryRequest, PolicyFile, RepositoryBundle,
    TestRepositoryRequest,
};
use policy_engine::model::PolicyFile as PeFile;
use policy_engine::policies::validate_bundle;
use policy_engine::repo::{self, Plan};

use super::Global;
use crate::client::connect;
use crate::exit::CliError;
use crate::output;

/// Policy subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// Check DIR locally (no server): Cedar files strictly against the lakegate schema, the
    /// repository's YAML and TOML, and lint warnings.
    Validate {
        /// The policy repository.
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
    /// Show what applying DIR would change: governance objects, the effective-access diff
    /// per principal and table, and the invariants (exit 1 if one fails).
    Plan {
        /// The policy repository.
        #[arg(value_name = "DIR")]
        dir: PathBuf,
        /// Also save the plan (JSON) here, for `apply --plan FILE`.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Make DIR the account's governance, in one transaction (data lake admins).
    ///
    /// With `--plan FILE`, applies only if DIR still plans to exactly that plan and the
    /// catalog is still at its version; otherwise nothing changes.
    Apply {
        /// The policy repository.
        #[arg(value_name = "DIR")]
        dir: PathBuf,
        /// A plan saved by `policy plan DIR --out FILE`.
        #[arg(long, value_name = "FILE")]
        plan: Option<PathBuf>,
    },
    /// Run the checks in DIR/tests/*.yaml on the state DIR would lead to (nothing is
    /// applied), then report what no check exercised.
    ///
    /// Each YAML file holds `tests:`, a list of checks, each with `name`, `principal`,
    /// optional `groups` and `attrs`, `sql` (or `table: DB.TABLE` for `SELECT * FROM
    /// DB.TABLE`), and either `error: TEXT` (a part of the expected error) or any of
    /// `visible_columns: [..]` (or `{DB.TABLE: [..]}` per table), `row_filter: PREDICATE`
    /// (`all` for every row), `masks: {COLUMN: KIND}` and `rows: [[..], ..]` (the rows the
    /// query returns, run as the principal on the planned state).
    Test {
        /// The policy repository.
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
    /// Write the account's governance as a repository into DIR (new or empty).
    Export {
        /// Where to write it.
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
}

/// Validates the Cedar files locally; errors name `DIR/FILE:LINE`.
fn validate_cedar(dir: &Path, files: &[PeFile]) -> Result<usize, CliError> {
    validate_bundle(files).map_err(|e| located(dir, &e.to_string()))
}

/// An error whose text starts with `FILE:LINE`, with DIR put in front.
fn located(dir: &Path, msg: &str) -> CliError {
    let root = dir.display().to_string();
    let looks_located = msg.split_once(':').is_some_and(|(f, rest)| {
        !f.contains(' ') && rest.starts_with(|c: char| c.is_ascii_digit())
    });
    if looks_located {
        CliError::error(format!("{}/{msg}", root.trim_end_matches('/')))
    } else {
        CliError::error(msg.to_string())
    }
}

fn wire(files: Vec<PeFile>) -> Vec<PolicyFile> {
    files
        .into_iter()
        .map(|f| PolicyFile {
            path: f.path,
            source: f.source,
        })
        .collect()
}

/// Reads and checks DIR as the server will: a whole repository.
fn load(dir: &Path) -> Result<Vec<PeFile>, CliError> {
    let files = dir::read(dir)?;
    dir::require_manifest(dir, &files)?;
    validate_cedar(dir, &dir::cedar(&files))?;
    repo::parse(&files).map_err(|e| located(dir, &e.to_string()))?;
    Ok(files)
}

fn decode(json: &str) -> Result<Plan, CliError> {
    serde_json::from_str(json)
        .map_err(|e| CliError::error(format!("the server's plan cannot be read: {e}")))
}

fn invariants_failed(p: &Plan) -> CliError {
    let n = p.invariants.iter().filter(|i| !i.ok).count();
    CliError::error(format!(
        "{n} invariant(s) fail on this plan; change the repository so they hold"
    ))
}

/// Runs a policy subcommand.
pub async fn run(cmd: Cmd, g: &Global) -> Result<(), CliError> {
    match cmd {
        Cmd::Validate { dir } => validate(&dir, g),
        Cmd::Plan { dir, out } => {
            let files = load(&dir)?;
            let mut c = connect(g).await?;
            let r = c
                .client
                .plan_repository(RepositoryBundle {
                    files: wire(files),
                    version: 0,
                })
                .await
                .map_err(|s| c.fail(s))?
                .into_inner();
            let plan = decode(&r.plan_json)?;
            if let Some(out) = out {
                std::fs::write(&out, &r.plan_json).map_err(|e| {
                    CliError::error(format!("cannot write `{}`: {e}", out.display()))
                })?;
            }
            if g.json {
                output::json(&plan)?;
            } else {
                println!("{}", show::human(&plan, &dir.display().to_string()));
            }
            if plan.ok() {
                Ok(())
            } else {
                Err(invariants_failed(&plan))
            }
        }
        Cmd::Apply { dir, plan } => {
            let files = load(&dir)?;
            let mut c = connect(g).await?;
            let saved = match &plan {
                None => None,
                Some(path) => {
                    let text = std::fs::read_to_string(path).map_err(|e| {
                        CliError::error(format!("cannot read `{}`: {e}", path.display()))
                    })?;
                    let saved: Plan = serde_json::from_str(&text).map_err(|e| {
                        CliError::error(format!(
                            "`{}` is not a plan saved by `lakegate policy plan --out`: {e}",
                            path.display()
                        ))
                    })?;
                    Some(saved)
                }
            };
            let r = c
                .client
                .apply_repository(ApplyRepositoryRequest {
                    files: wire(files),
                    expected_version: saved.as_ref().map(|p| p.version),
                    plan_digest: saved.map(|p| p.digest),
                })
                .await
                .map_err(|s| c.fail(s))?
                .into_inner();
            let applied = decode(&r.plan_json)?;
            if g.json {
                return output::json(&applied);
            }
            if applied.changes.is_empty() {
                println!(
                    "no changes: the account's governance already equals {}",
                    dir.display()
                );
            } else {
                // The plan as applied, without its "apply with ..." line.
                let shown = show::human(&applied, &dir.display().to_string());
                println!(
                    "{}",
                    shown.rsplit_once('\n').map_or(shown.as_str(), |(b, _)| b)
                );
                println!(
                    "applied {} change(s) in one transaction; the account's governance now \
                     equals {}",
                    applied.changes.len(),
                    dir.display()
                );
            }
            Ok(())
        }
        Cmd::Test { dir } => test(&dir, g).await,
        Cmd::Export { dir } => {
            let mut c = connect(g).await?;
            let r = c
                .client
                .export_repository(ExportRepositoryRequest {})
                .await
                .map_err(|s| c.fail(s))?
                .into_inner();
            let files: Vec<PeFile> = r.files.into_iter().map(Into::into).collect();
            dir::write(&dir, &files)?;
            if g.json {
                return output::json(&serde_json::json!({
                    "version": r.version,
                    "files": files.iter().map(|f| &f.path).collect::<Vec<_>>(),
                }));
            }
            println!(
                "exported catalog version {} as {} file(s) into {}; `lakegate policy plan {}` \
                 shows no changes",
                r.version,
                files.len(),
                dir.display(),
                dir.display()
            );
            Ok(())
        }
    }
}

fn validate(dir: &Path, g: &Global) -> Result<(), CliError> {
    let files = dir::read(dir)?;
    let cedar = dir::cedar(&files);
    let count = validate_cedar(dir, &cedar)?;
    if !dir::has_manifest(&files) {
        if g.json {
            return output::json(&serde_json::json!({
                "files": cedar.len(), "policies": count, "repository": false, "warnings": [],
            }));
        }
        println!(
            "ok: {count} policies in {} file(s) validate against the lakegate schema (no \
             lakegate.toml: only the Cedar files were checked; `lakegate policy export DIR` \
             starts a whole repository)",
            cedar.len()
        );
        return Ok(());
    }
    let parsed = repo::parse(&files).map_err(|e| located(dir, &e.to_string()))?;
    let warnings = repo::lint(&parsed);
    if g.json {
        return output::json(&serde_json::json!({
            "files": files.len(), "policies": count, "repository": true,
            "grants": parsed.grants.len(), "filters": parsed.filters.len(),
            "tags": parsed.tags.len(), "invariants": parsed.invariants.len(),
            "warnings": warnings,
        }));
    }
    for w in &warnings {
        println!(
            "warning: {}/{w}",
            dir.display().to_string().trim_end_matches('/')
        );
    }
    println!(
        "ok: {count} policies, {} grants, {} filters, {} LF-tags and {} invariants in {} \
         file(s) validate{}",
        parsed.grants.len(),
        parsed.filters.len(),
        parsed.tags.len(),
        parsed.invariants.len(),
        files.len(),
        if warnings.is_empty() {
            String::new()
        } else {
            format!(" ({} warning(s))", warnings.len())
        }
    );
    Ok(())
}

async fn test(dir: &Path, g: &Global) -> Result<(), CliError> {
    let files = load(dir)?;
    let checks = checks::read(dir)?;
    if checks.is_empty() {
        println!(
            "ok: {} validates; no tests found in {} (add *.yaml files, see `lakegate policy test \
             --help`)",
            dir.display(),
            dir.join("tests").display()
        );
        return Ok(());
    }
    let mut requests = Vec::new();
    let mut malformed = Vec::new();
    for (file, t) in &checks {
        match checks::request(t) {
            Ok(r) => requests.push(r),
            Err(e) => malformed.push(format!("{} ({file}): {e}", t.name)),
        }
    }
    if !malformed.is_empty() {
        return Err(CliError::error(format!(
            "malformed checks: {}",
            malformed.join("; ")
        )));
    }
    let mut c = connect(g).await?;
    let r = c
        .client
        .test_repository(TestRepositoryRequest {
            files: wire(files),
            checks: requests,
        })
        .await
        .map_err(|s| c.fail(s))?
        .into_inner();
    let mut outcomes = r.outcomes.into_iter();
    let mut failed = 0usize;
    for (file, t) in &checks {
        match checks::judge(t, outcomes.next()) {
            Ok(()) => println!("ok    {}", t.name),
            Err(e) => {
                failed += 1;
                println!("FAIL  {} ({file}): {e}", t.name);
            }
        }
    }
    if r.uncovered.is_empty() {
        println!("coverage: every grant and policy of the repository was exercised");
    } else {
        println!(
            "coverage: {} grant(s) and policies no check exercised:",
            r.uncovered.len()
        );
        for u in &r.uncovered {
            println!("  - {u}");
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
