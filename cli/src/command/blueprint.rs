//! `lakegate blueprint run|list|runs|show` (DESIGN §7).
//!
//! `run` sends the file to the server, which runs it with the caller's
//! rights, and shows the progress it streams: one updating line per phase
//! on a terminal, plain lines otherwise, and with `--json` only the final
//! run record. A failed run exits 1 (3 when it was denied).

use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;

use grpc_proxy::proto::{
    BlueprintRun, GetBlueprintRunRequest, ListBlueprintRunsRequest, ListBlueprintsRequest,
    RunBlueprintRequest, run_blueprint_event,
};

use super::Global;
use crate::client::connect;
use crate::exit::{CliError, Exit};
use crate::output;

/// Blueprint subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// Run a blueprint file now, on the server, with your rights.
    Run {
        /// The blueprint (TOML, DESIGN §7).
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// List the blueprints that have run, with their latest run.
    List,
    /// List runs, newest first.
    Runs {
        /// Only this blueprint's runs.
        #[arg(value_name = "NAME")]
        name: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Show one run record.
    Show {
        /// The run id (`blueprint runs` lists them).
        #[arg(value_name = "RUN")]
        id: String,
    },
}

fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS.get(unit).copied().unwrap_or("B"))
    }
}

fn print_run(r: &BlueprintRun) {
    println!("run {} of blueprint `{}`: {}", r.id, r.blueprint, r.state);
    println!(
        "  by {} ({}), started {}, ended {}",
        r.principal,
        r.trigger,
        r.started,
        if r.ended.is_empty() { "-" } else { &r.ended }
    );
    println!(
        "  rows read {}, written {}, rejected {}; {} read; {} files",
        r.rows_read,
        r.rows_written,
        r.rows_rejected,
        human_bytes(r.bytes),
        r.files
    );
    for (t, v) in &r.versions {
        println!("  table {t}: Delta version {v}");
    }
    if !r.error.is_empty() {
        println!("  error: {}", r.error);
    }
}

fn runs_table(runs: &[BlueprintRun]) -> String {
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            vec![
                r.id.clone(),
                r.blueprint.clone(),
                r.state.clone(),
                r.started.clone(),
                r.rows_written.to_string(),
                r.principal.clone(),
            ]
        })
        .collect();
    output::table(
        &["RUN", "BLUEPRINT", "STATE", "STARTED", "ROWS", "BY"],
        &rows,
    )
}

/// The error a failed run exits with.
fn failed(r: &BlueprintRun) -> CliError {
    let message = format!(
        "run {} of blueprint `{}` failed: {}",
        r.id, r.blueprint, r.error
    );
    if r.error_kind == "permission_denied" {
        CliError {
            exit: Exit::Denied,
            message,
        }
    } else {
        CliError::error(message)
    }
}

/// Runs a blueprint subcommand.
pub async fn run(cmd: Cmd, g: &Global) -> Result<(), CliError> {
    match cmd {
        Cmd::Run { file } => run_file(file, g).await,
        Cmd::List => {
            let mut c = connect(g).await?;
            let bps = c
                .client
                .list_blueprints(ListBlueprintsRequest {})
                .await
                .map_err(|s| c.fail(s))?
                .into_inner()
                .blueprints;
            if g.json {
                return output::json(&bps);
            }
            if bps.is_empty() {
                println!("no blueprints have run yet; `lakegate blueprint run FILE` runs one");
                return Ok(());
            }
            let rows: Vec<Vec<String>> = bps
                .iter()
                .map(|b| {
                    let last = b.last_run.as_ref();
                    vec![
                        b.name.clone(),
                        last.map(|r| r.state.clone()).unwrap_or_else(|| "-".into()),
                        last.map(|r| r.started.clone())
                            .unwrap_or_else(|| "-".into()),
                        last.map(|r| r.id.clone()).unwrap_or_else(|| "-".into()),
                        if b.schedule.is_empty() {
                            "-".into()
                        } else {
                            b.schedule.clone()
                        },
                    ]
                })
                .collect();
            println!(
                "{}",
                output::table(
                    &[
                        "BLUEPRINT",
                        "LAST STATE",
                        "LAST STARTED",
                        "LAST RUN",
                        "SCHEDULE"
                    ],
                    &rows
                )
            );
            Ok(())
        }
        Cmd::Runs { name, limit } => {
            let mut c = connect(g).await?;
            let runs = c
                .client
                .list_blueprint_runs(ListBlueprintRunsRequest {
                    blueprint: name.unwrap_or_default(),
                    limit,
                })
                .await
                .map_err(|s| c.fail(s))?
                .into_inner()
                .runs;
            if g.json {
                return output::json(&runs);
            }
            if runs.is_empty() {
                println!("no runs you can see");
                return Ok(());
            }
            println!("{}", runs_table(&runs));
            Ok(())
        }
        Cmd::Show { id } => {
            let mut c = connect(g).await?;
            let r = c
                .client
                .get_blueprint_run(GetBlueprintRunRequest { id })
                .await
                .map_err(|s| c.fail(s))?
                .into_inner();
            if g.json {
                return output::json(&r);
            }
            print_run(&r);
            Ok(())
        }
    }
}

/// Largest blueprint file sent.
const MAX_FILE_BYTES: u64 = 1 << 20;

fn read_blueprint(file: &std::path::Path, shown: &str) -> Result<String, CliError> {
    use std::io::Read as _;
    let meta = std::fs::metadata(file)
        .map_err(|e| CliError::error(format!("{shown}: cannot read the blueprint: {e}")))?;
    if !meta.is_file() {
        return Err(CliError::error(format!("{shown}: is not a regular file")));
    }
    let mut text = String::new();
    std::fs::File::open(file)
        .and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_string(&mut text))
        .map_err(|e| {
            CliError::error(format!(
                "{shown}: cannot read the blueprint as UTF-8 text: {e}"
            ))
        })?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(CliError::error(format!(
            "{shown}: is larger than {MAX_FILE_BYTES} bytes; a blueprint is one small TOML file"
        )));
    }
    Ok(text)
}

/// `[#####-----] 1/2 ` for a phase with a known total; empty otherwise.
fn bar(done: u64, total: u64) -> String {
    const WIDTH: u64 = 20;
    if total == 0 {
        return String::new();
    }
    let filled = (done.min(total) * WIDTH / total) as usize;
    format!(
        "[{}{}] {done}/{total} ",
        "#".repeat(filled),
        "-".repeat(WIDTH as usize - filled)
    )
}

async fn run_file(file: PathBuf, g: &Global) -> Result<(), CliError> {
    let shown = file.display().to_string();
    // Read locally (the server never reads the client's files); the server
    // checks the text again and reports errors as FILE:LINE.
    let text = read_blueprint(&file, &shown)?;
    let mut c = connect(g).await?;
    let mut stream = c
        .client
        .run_blueprint(RunBlueprintRequest {
            file: shown.clone(),
            text,
        })
        .await
        .map_err(|s| c.fail(s))?
        .into_inner();
    let tty = std::io::stderr().is_terminal() && !g.json;
    let mut last_line = String::new();
    let mut record = None;
    loop {
        let ev = match stream.message().await {
            Ok(Some(ev)) => ev,
            Ok(None) => break,
            Err(s) => return Err(c.fail(s)),
        };
        match ev.kind {
            Some(run_blueprint_event::Kind::Progress(p)) => {
                if g.json {
                    continue;
                }
                let line = format!(
                    "{:<8} {:<24} {}{:>10} rows {:>10} {:>5} files",
                    p.phase,
                    if p.table.is_empty() { "-" } else { &p.table },
                    bar(p.done, p.total),
                    p.rows,
                    human_bytes(p.bytes),
                    p.files
                );
                if tty {
                    let mut err = std::io::stderr();
                    let _ = write!(err, "\r\x1b[2K{line}");
                    let _ = err.flush();
                } else if line != last_line {
                    eprintln!("{line}");
                }
                last_line = line;
            }
            Some(run_blueprint_event::Kind::Run(r)) => record = Some(r),
            None => {}
        }
    }
    if tty && !last_line.is_empty() {
        eprintln!();
    }
    let Some(r) = record else {
        return Err(CliError::error(
            "the server ended the run's stream without its record; `lakegate blueprint runs` \
             shows how the run ended",
        ));
    };
    if g.json {
        output::json(&r)?;
    } else {
        print_run(&r);
    }
    if r.state == "SUCCEEDED" {
        Ok(())
    } else {
        Err(failed(&r))
    }
}
