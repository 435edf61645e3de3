//! `serve --blueprints DIR --blueprints-as PRINCIPAL`: the blueprints in DIR
//! run on their `[run] schedule` (UTC), as PRINCIPAL, with its rights.
//!
//! Every `*.toml` file in DIR is read and checked at start; one bad file
//! stops the server with its `FILE:LINE` error, so a typo cannot silently
//! disable a schedule. A schedule that falls due while the blueprint's
//! previous run still runs is not started: it is recorded as a SKIPPED run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use blueprints::runs::{RunRecord, RunState, now};
use blueprints::{Blueprint, Schedule};
use chrono::{DateTime, Utc};
use policy_engine::Caller;

use crate::ingest::{Ingest, RunEvent};

/// One blueprint file of the directory.
#[derive(Debug, Clone)]
pub struct Scheduled {
    /// The file.
    pub file: PathBuf,
    /// Its text, as read at start.
    pub text: String,
    /// The checked blueprint.
    pub blueprint: Blueprint,
    /// Its schedule, if it has one.
    pub schedule: Option<Schedule>,
}

/// What `blueprint list` shows of the schedules: (account, name) →
/// (expression, next run). Each account's admins see only their own.
pub type Plan = Arc<Mutex<BTreeMap<(String, String), (String, Option<DateTime<Utc>>)>>>;

/// Reads and checks every `*.toml` file in `dir`.
pub fn load_dir(dir: &Path) -> Result<Vec<Scheduled>, String> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read the blueprints folder `{}`: {e}", dir.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    let mut out: Vec<Scheduled> = Vec::new();
    for file in files {
        let blueprint = Blueprint::load(&file).map_err(|e| e.to_string())?;
        if let Some(other) = out.iter().find(|s| s.blueprint.name == blueprint.name) {
            return Err(format!(
                "{}: blueprint `{}` is also defined in `{}`; names are unique per account",
                file.display(),
                blueprint.name,
                other.file.display()
            ));
        }
        // Checked by `load` already: a bad expression is a FILE:LINE error.
        let schedule = blueprint.schedule();
        let text = std::fs::read_to_string(&file)
            .map_err(|e| format!("{}: cannot read the blueprint: {e}", file.display()))?;
        out.push(Scheduled {
            file,
            text,
            blueprint,
            schedule,
        });
    }
    Ok(out)
}

/// Runs the schedules until the process ends.
pub async fn run(ingest: Arc<Ingest>, caller: Caller, list: Vec<Scheduled>, plan: Plan) {
    let running: BTreeMap<String, Arc<AtomicBool>> = list
        .iter()
        .map(|s| (s.blueprint.name.clone(), Arc::new(AtomicBool::new(false))))
        .collect();
    let mut next: BTreeMap<String, DateTime<Utc>> = BTreeMap::new();
    let account = caller.account().to_string();
    let start = Utc::now();
    for s in &list {
        if let Some(sched) = &s.schedule {
            let n = sched.next_after(start);
            if let Ok(mut p) = plan.lock() {
                p.insert(
                    (account.clone(), s.blueprint.name.clone()),
                    (sched.as_str().to_string(), n),
                );
            }
            if let Some(n) = n {
                next.insert(s.blueprint.name.clone(), n);
            }
        }
    }
    while let Some(due) = next.values().min().copied() {
        let wait = (due - Utc::now()).to_std().unwrap_or_default();
        tokio::time::sleep(wait).await;
        for s in &list {
            let (Some(sched), Some(at)) = (&s.schedule, next.get(&s.blueprint.name).copied())
            else {
                continue;
            };
            if at > due {
                continue;
            }
            let name = s.blueprint.name.clone();
            let flag = running.get(&name).cloned().unwrap_or_default();
            if flag.swap(true, Ordering::SeqCst) {
                record_skipped(&ingest, &caller, &name, at);
            } else {
                let mut rx = ingest.start(
                    caller.clone(),
                    s.file.display().to_string(),
                    s.text.clone(),
                    "schedule",
                );
                tokio::spawn(async move {
                    while let Some(ev) = rx.recv().await {
                        if let RunEvent::Done(r) = ev {
                            tracing::info!(run = %r.id, state = r.state.as_str(), "scheduled run ended");
                        }
                    }
                    flag.store(false, Ordering::SeqCst);
                });
            }
            match sched.next_after(at) {
                Some(n) => {
                    next.insert(name.clone(), n);
                    if let Ok(mut p) = plan.lock() {
                        p.insert(
                            (account.clone(), name),
                            (sched.as_str().to_string(), Some(n)),
                        );
                    }
                }
                None => {
                    next.remove(&name);
                }
            }
        }
    }
}

fn record_skipped(ingest: &Ingest, caller: &Caller, name: &str, at: DateTime<Utc>) {
    let running = ingest
        .runs()
        .list(&caller.account().to_string(), Some(name), 1)
        .ok()
        .and_then(|r| r.into_iter().next())
        .filter(|r| r.state == RunState::Running)
        .map(|r| r.id)
        .unwrap_or_default();
    let t = now();
    let r = RunRecord {
        id: format!("{}-skipped", crate::ingest::new_run_id()),
        account: caller.account().to_string(),
        blueprint: name.to_string(),
        principal: caller.principal.to_string(),
        trigger: "schedule".into(),
        state: RunState::Skipped,
        started: t.clone(),
        ended: t,
        outcome: Default::default(),
        error: format!(
            "the schedule fell due at {} while run `{running}` still ran; this run was skipped",
            at.to_rfc3339()
        ),
        error_kind: String::new(),
    };
    if let Err(e) = ingest.runs().finish(&r) {
        tracing::error!(error = %e, "cannot record a skipped run");
    }
}
