//! The policy-repository RPCs (`policy export|plan|apply|test`, DESIGN §8):
//! bounds on the bundle, then the policy engine's [`policy_engine::repo`]
//! does the work on a blocking thread; `rows` checks then run through the
//! Flight SQL service's engine.

use std::collections::BTreeSet;
use std::sync::Arc;

use tonic::Status;

use crate::flight::FlightProxy;
use policy_engine::policies::{MAX_BUNDLE_BYTES, MAX_FILES};
use policy_engine::repo::RepoFile;
use policy_engine::{Caller, Error, Governance};

use crate::governance::text;
use crate::proto::{
    CheckOutcome, PolicyFile, RepositoryPlan, TestRepositoryResponse, check_outcome,
};
use crate::status;

/// Checks a bundle's size before anything parses it.
pub(crate) fn bundle(files: Vec<PolicyFile>) -> Result<Vec<RepoFile>, Status> {
    if files.len() > MAX_FILES {
        return Err(status::from_error(Error::invalid(format!(
            "a policy repository may have at most {MAX_FILES} files; merge some of them"
        ))));
    }
    let mut total = 0usize;
    for f in &files {
        text("path", &f.path)?;
        total = total.saturating_add(f.source.len());
    }
    if total > MAX_BUNDLE_BYTES {
        return Err(status::from_error(Error::invalid(format!(
            "the repository's files exceed {MAX_BUNDLE_BYTES} bytes; split the account's \
             governance or shorten it"
        ))));
    }
    Ok(files.into_iter().map(Into::into).collect())
}

/// A plan as the RPC's JSON.
pub(crate) fn plan(p: &policy_engine::repo::Plan) -> Result<RepositoryPlan, Status> {
    serde_json::to_string(p)
        .map(|plan_json| RepositoryPlan { plan_json })
        .map_err(|e| status::from_error(Error::internal(format!("cannot encode a plan: {e}"))))
}

/// Most checks one `policy test` runs.
pub(crate) const MAX_CHECKS: usize = 10_000;
/// Most checks of one `policy test` that run their query (`rows`).
pub(crate) const MAX_RUN_CHECKS: usize = 200;

/// One check of `policy test`: who, what, and whether to run it.
pub(crate) struct Check {
    pub(crate) subject: Caller,
    pub(crate) sql: String,
    pub(crate) run: bool,
}

/// Explains each check on the state `files` lead to; then what no trail
/// named. Returns the planned governance, for [`run_rows`].
pub(crate) fn test(
    g: &Governance,
    caller: &Caller,
    files: &[RepoFile],
    checks: &[Check],
) -> policy_engine::Result<(Arc<Governance>, TestRepositoryResponse)> {
    let planned = Arc::new(g.planned(caller, files)?);
    let mut seen = BTreeSet::new();
    let mut outcomes = Vec::new();
    for c in checks {
        let outcome = match planned.explain(caller, &c.subject, &c.sql) {
            Ok(e) => {
                for t in &e.tables {
                    for line in &t.trail {
                        seen.extend(line.policy.split(',').map(|p| p.trim().to_string()));
                    }
                }
                check_outcome::Outcome::Explained(e.into())
            }
            Err(e @ (Error::StoreUnavailable(_) | Error::Internal(_))) => return Err(e),
            Err(e) => check_outcome::Outcome::Error(e.to_string()),
        };
        outcomes.push(CheckOutcome {
            outcome: Some(outcome),
            ..CheckOutcome::default()
        });
    }
    let uncovered = planned.uncovered(caller.account(), &seen)?;
    Ok((
        planned,
        TestRepositoryResponse {
            outcomes,
            uncovered,
        },
    ))
}

/// Runs the checks that ask for rows, on the planned state, as their
/// principals: rows, or the error the statement gets.
pub(crate) async fn run_rows(
    flight: Option<&FlightProxy>,
    planned: &Governance,
    admin: &Caller,
    checks: &[Check],
    out: &mut TestRepositoryResponse,
) -> Result<(), Status> {
    let runs = checks.iter().filter(|c| c.run).count();
    if runs == 0 {
        return Ok(());
    }
    if runs > MAX_RUN_CHECKS {
        return Err(status::from_error(Error::invalid(format!(
            "{runs} checks ask for rows; at most {MAX_RUN_CHECKS} run their query in one test: \
             split the tests, or check `row_filter` instead"
        ))));
    }
    let snap = planned.snapshot().map_err(status::from_error)?;
    for (c, o) in checks.iter().zip(out.outcomes.iter_mut()) {
        let allowed = matches!(o.outcome, Some(check_outcome::Outcome::Explained(_)));
        if !c.run || !allowed {
            continue;
        }
        let Some(flight) = flight else {
            o.outcome = Some(check_outcome::Outcome::Error(
                "`rows` checks need the Flight SQL service, which this server does not run".into(),
            ));
            continue;
        };
        match flight.run_planned(&snap, admin, &c.subject, &c.sql).await {
            Ok(batches) => match json_rows(&batches) {
                Ok((columns, rows)) => {
                    o.columns = columns;
                    o.rows_json = rows;
                }
                Err(e) => o.outcome = Some(check_outcome::Outcome::Error(e)),
            },
            Err(s) => o.outcome = Some(check_outcome::Outcome::Error(s.message().to_string())),
        }
    }
    Ok(())
}

/// Batches as column names and a JSON array of row arrays. Columns are
/// written under positional names, so two result columns with one name
/// (`t1.id, t2.id`) keep their own values.
fn json_rows(
    batches: &[arrow::record_batch::RecordBatch],
) -> Result<(Vec<String>, String), String> {
    use arrow::datatypes::{Field, Schema};
    let bad = |e: &dyn std::fmt::Display| format!("the check's rows cannot be shown as JSON: {e}");
    let columns: Vec<String> = batches
        .first()
        .map(|b| {
            b.schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect()
        })
        .unwrap_or_default();
    let mut buf = Vec::new();
    {
        let mut w = arrow::json::ArrayWriter::new(&mut buf);
        for b in batches {
            let fields: Vec<Field> = b
                .schema()
                .fields()
                .iter()
                .enumerate()
                .map(|(i, f)| Field::new(format!("c{i}"), f.data_type().clone(), true))
                .collect();
            let renamed = arrow::record_batch::RecordBatch::try_new(
                Arc::new(Schema::new(fields)),
                b.columns().to_vec(),
            )
            .map_err(|e| bad(&e))?;
            w.write(&renamed).map_err(|e| bad(&e))?;
        }
        w.finish().map_err(|e| bad(&e))?;
    }
    let objects: Vec<serde_json::Map<String, serde_json::Value>> = if buf.is_empty() {
        Vec::new()
    } else {
        serde_json::from_slice(&buf).map_err(|e| bad(&e))?
    };
    let rows: Vec<Vec<serde_json::Value>> = objects
        .into_iter()
        .map(|mut o| {
            (0..columns.len())
                .map(|i| {
                    o.remove(&format!("c{i}"))
                        .unwrap_or(serde_json::Value::Null)
                })
                .collect()
        })
        .collect();
    let text = serde_json::to_string(&rows).map_err(|e| bad(&e))?;
    Ok((columns, text))
}
