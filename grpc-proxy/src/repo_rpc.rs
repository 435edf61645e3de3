//! The policy-repository RPCs (`policy export|plan|apply`, DESIGN §8): bounds
//! on the bundle, then the policy engine's [`policy_engine::repo`] does the
//! work on a blocking thread.

use tonic::Status;

use std::collections::BTreeSet;

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
            "a policy repository may have at most {MAX_FILES} files"
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

/// Explains each check on the state `files` lead to; then what no trail named.
pub(crate) fn test(
    g: &Governance,
    caller: &Caller,
    files: &[RepoFile],
    checks: &[(Caller, String)],
) -> policy_engine::Result<TestRepositoryResponse> {
    let planned = g.planned(caller, files)?;
    let mut seen = BTreeSet::new();
    let mut outcomes = Vec::new();
    for (subject, sql) in checks {
        let outcome = match planned.explain(caller, subject, sql) {
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
        });
    }
    Ok(TestRepositoryResponse {
        outcomes,
        uncovered: planned.uncovered(caller.account(), &seen)?,
    })
}
