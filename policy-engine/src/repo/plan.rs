//! `policy plan` and `policy apply` (DESIGN §8) as governance operations.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::RepoFile;
use super::access_diff::{self, AccessChange, Subject};
use super::files::{self, Repo};
use super::invariants::{self, InvariantResult, World};
use super::replay;
use crate::catalog::{Catalog, Change};
use crate::compile::{CompileCache, Compiled, PolicySource};
use crate::error::{Error, Result};
use crate::governance::{Governance, Snapshot};
use crate::model::{AccountId, Caller, Principal};
use crate::store::MemStore;

/// One governance object added, changed or removed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectChange {
    /// `add`, `change` or `remove`.
    pub op: String,
    /// `grant`, `data filter`, `lf-tag`, `lf-tag assignment`, `resource link`, `policies`, …
    pub kind: String,
    /// The object, for a reviewer.
    pub object: String,
    /// Its stored form before (`None` for an add).
    pub before: Option<serde_json::Value>,
    /// Its stored form after (`None` for a remove).
    pub after: Option<serde_json::Value>,
}

fn describe(c: &Change) -> (&'static str, String) {
    match c {
        Change::PutGrant(g) => {
            let mut s = format!(
                "{} on {} to {}",
                g.permissions
                    .iter()
                    .map(|p| p.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
                g.resource,
                g.principal
            );
            if !g.grantable.is_empty() {
                s.push_str(&format!(
                    " (grantable {})",
                    g.grantable
                        .iter()
                        .map(|p| p.as_str())
                        .collect::<Vec<_>>()
                        .join(",")
                ));
            }
            if !g.masks.is_empty() {
                s.push_str(&format!(
                    " masking {}",
                    g.masks
                        .iter()
                        .map(|(c, m)| format!("{c}={m}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            ("grant", s)
        }
        Change::PutFilter(f) => ("data filter", format!("{}.{}", f.table, f.name)),
        Change::PutTag(t) => (
            "lf-tag",
            format!(
                "{}={}",
                t.key,
                t.values.iter().cloned().collect::<Vec<_>>().join(",")
            ),
        ),
        Change::PutTagAssignment(a) => {
            let on = match &a.target {
                crate::model::TagTarget::Database { database } => format!("database {database}"),
                crate::model::TagTarget::Table { table } => format!("table {table}"),
                crate::model::TagTarget::Column { table, column } => {
                    format!("column {table}.{column}")
                }
            };
            (
                "lf-tag assignment",
                format!("{}={} on {on}", a.key, a.value),
            )
        }
        Change::PutLink(l) => (
            "resource link",
            format!("{} -> {}:{}", l.name, l.target_account, l.target),
        ),
        Change::SetPolicies { account, files } => (
            "policies",
            format!(
                "policy set of {account} ({})",
                files
                    .iter()
                    .map(|f| f.path.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
        Change::PutAdmin { principal, .. } => ("admin", principal.to_string()),
        Change::PutDatabase(d) => ("database", d.name.clone()),
        Change::PutTable(t) => ("table", t.name.to_string()),
        Change::PutLocation(l) => ("location", l.uri.to_string()),
        other => ("object", format!("{other:?}")),
    }
}

impl ObjectChange {
    pub(super) fn new(op: &str, before: Option<&Change>, after: Option<&Change>) -> Result<Self> {
        let body = |c: Option<&Change>| -> Result<Option<serde_json::Value>> {
            match c.map(Change::storage).transpose()? {
                Some((_, _, Some(b))) => serde_json::from_str(&b)
                    .map(Some)
                    .map_err(|e| Error::internal(format!("cannot read back a change: {e}"))),
                _ => Ok(None),
            }
        };
        let (kind, object) = after
            .or(before)
            .map(describe)
            .unwrap_or(("object", String::new()));
        Ok(Self {
            op: op.to_string(),
            kind: kind.to_string(),
            object,
            before: body(before)?,
            after: body(after)?,
        })
    }
}

/// What applying a repository would do (DESIGN §8's `plan --json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// The store version the plan was made against.
    pub version: u64,
    /// Governance objects added, changed and removed.
    pub changes: Vec<ObjectChange>,
    /// Effective access gained or lost, per principal and table.
    pub access: Vec<AccessChange>,
    /// Each invariant's result on the planned state.
    pub invariants: Vec<InvariantResult>,
    /// How many principals, groups and accounts the access diff covers.
    pub analysed: usize,
    /// SHA-256 of the version, changes and access diff: `apply --plan`
    /// applies only a plan with this digest.
    pub digest: String,
}

/// Most principals, groups and accounts one plan analyses.
pub const MAX_ANALYSED: usize = 5000;

/// What a reviewer approved: the version, each change with the object it
/// writes (but not who would be recorded as its grantor) and the access
/// diff.
fn digest(version: u64, changes: &[ObjectChange], access: &[AccessChange]) -> Result<String> {
    use sha2::{Digest, Sha256};
    let without_grantor = |v: &Option<serde_json::Value>| {
        let mut v = v.clone();
        if let Some(o) = v.as_mut().and_then(serde_json::Value::as_object_mut) {
            o.remove("origin");
        }
        v
    };
    let shown: Vec<_> = changes
        .iter()
        .map(|c| {
            (
                c.op.as_str(),
                c.kind.as_str(),
                c.object.as_str(),
                without_grantor(&c.after),
            )
        })
        .collect();
    let body = serde_json::to_vec(&(version, shown, access))
        .map_err(|e| Error::internal(format!("cannot encode a plan: {e}")))?;
    Ok(hex::encode(Sha256::digest(body)))
}

impl Plan {
    /// Whether every invariant holds.
    pub fn ok(&self) -> bool {
        self.invariants.iter().all(|i| i.ok)
    }
}

/// Who a plan analyses: the repository's subjects, the groups its
/// invariants name, and every grantee before and after.
fn who(repo: &Repo, account: &crate::model::AccountId, cats: &[&Catalog]) -> Vec<Subject> {
    let mut declared = repo.subjects.clone();
    let mut add = |g: &String| {
        let full = crate::model::group_id(account, g);
        if let Ok(p) = Principal::parse(&full)
            && !declared.iter().any(|s| s.principal == p)
        {
            declared.push(Subject::bare(p));
        }
    };
    for i in &repo.invariants {
        let item = &i.item;
        item.no_read
            .iter()
            .flat_map(|r| &r.except_groups)
            .chain(
                item.row_filter_required
                    .iter()
                    .flat_map(|r| &r.except_groups),
            )
            .chain(item.masked_or_hidden.iter().flat_map(|r| &r.groups))
            .for_each(&mut add);
    }
    access_diff::subjects(&declared, account, cats)
}

impl Governance {
    /// The parsed repository and the catalog it leads to from `snap`.
    fn replayed(
        &self,
        snap: &Snapshot,
        caller: &Caller,
        files: &[RepoFile],
    ) -> Result<(Repo, Catalog)> {
        if !self.is_admin(snap, caller) {
            return Err(Error::denied(format!(
                "only a data lake admin of `{}` may plan, apply or test a policy repository; \
                 ask one",
                caller.account()
            )));
        }
        let repo = files::parse(files)?;
        let account = caller.account();
        if repo.account.as_ref() != Some(account) {
            return Err(Error::invalid(format!(
                "lakegate.toml:1: the repository governs account `{}`, but the token is of \
                 account `{account}`; use a token of that account's admin",
                repo.account
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default()
            )));
        }
        let after = replay::replay(&snap.catalog, caller, &repo)?;
        Ok((repo, after))
    }

    /// A governance service over the state `files` would lead to, in
    /// memory: `policy test` explains its checks there, so a repository is
    /// tested before it is applied (admins only).
    pub fn planned(&self, caller: &Caller, files: &[RepoFile]) -> Result<Governance> {
        let snap = self.snapshot()?;
        let (_, after) = self.replayed(&snap, caller, files)?;
        Governance::new(Arc::new(MemStore::seeded(after)))
    }

    /// What of `account`'s repository no decision trail in `seen` (Cedar
    /// policy ids) names: its grants (filters and tag grants included) and
    /// its policies, described for a reviewer.
    pub fn uncovered(&self, account: &AccountId, seen: &BTreeSet<String>) -> Result<Vec<String>> {
        let snap = self.snapshot()?;
        let mut out = Vec::new();
        for p in snap.compiled.iter() {
            let id = p.policy.id().to_string();
            if seen.contains(&id) {
                continue;
            }
            match &p.source {
                PolicySource::Grant(g) => {
                    if let Some(grant) = snap.catalog.grants.get(g)
                        && replay::managed_grant(grant, account)
                    {
                        out.push(describe(&Change::PutGrant(grant.clone())).1);
                    }
                }
                PolicySource::File {
                    account: a,
                    path,
                    index,
                } if a == account => out.push(format!("policy #{index} in {path}")),
                _ => {}
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// Plans `files` (a repository) against `snap`; returns the plan and the
    /// store changes that carry it out.
    fn plan_on(
        &self,
        snap: &Snapshot,
        caller: &Caller,
        files: &[RepoFile],
    ) -> Result<(Plan, Vec<Change>)> {
        let (repo, after) = self.replayed(snap, caller, files)?;
        let account = caller.account();
        let before = &snap.catalog;
        let (commit, changes) = replay::diff(before, &after)?;
        let compiled = Compiled::build(&after, &mut CompileCache::default())?;
        let who = who(&repo, account, &[before, &after]);
        if who.len() > MAX_ANALYSED {
            return Err(Error::invalid(format!(
                "the plan would analyse {} principals, groups and accounts; at most \
                 {MAX_ANALYSED} are analysed in one plan: name fewer in lakegate.toml and the \
                 policy files",
                who.len()
            )));
        }
        let access =
            access_diff::diff((before, &snap.compiled), (&after, &compiled), account, &who)?;
        let tables = access_diff::tables(account, &[&after]);
        let world = World {
            cat: &after,
            compiled: &compiled,
            account,
            subjects: &who,
            tables: &tables,
        };
        let invariants = repo
            .invariants
            .iter()
            .map(|i| invariants::check(i, &world))
            .collect::<Result<Vec<_>>>()?;
        Ok((
            Plan {
                version: before.version,
                digest: digest(before.version, &changes, &access)?,
                changes,
                access,
                invariants,
                analysed: who.len(),
            },
            commit,
        ))
    }

    /// `policy export DIR`: the caller's account as a repository (admins
    /// only), with the version it was read at.
    pub fn export_repository(&self, caller: &Caller) -> Result<(u64, Vec<RepoFile>)> {
        let snap = self.snapshot()?;
        if !self.is_admin(&snap, caller) {
            return Err(Error::denied(format!(
                "only a data lake admin of `{}` may export its governance; ask one",
                caller.account()
            )));
        }
        Ok((
            snap.catalog.version,
            super::export(&snap.catalog, caller.account())?,
        ))
    }

    /// `policy plan DIR`: what applying the repository would change, who
    /// would gain or lose access to what, and the invariants' results.
    pub fn plan_repository(&self, caller: &Caller, files: &[RepoFile]) -> Result<Plan> {
        let snap = self.snapshot()?;
        Ok(self.plan_on(&snap, caller, files)?.0)
    }

    /// `policy apply DIR`: commits the plan in one transaction if the store
    /// is still at `expected_version` (the plan's; `None`: the current),
    /// the plan has `expected_digest` (the reviewed plan's, if given) and
    /// every invariant holds. Otherwise nothing changes.
    pub fn apply_repository(
        &self,
        caller: &Caller,
        files: &[RepoFile],
        expected_version: Option<u64>,
        expected_digest: Option<&str>,
    ) -> Result<Plan> {
        let snap = self.snapshot()?;
        let stale = |now: u64, at: u64| {
            Error::FailedPrecondition(format!(
                "the catalog changed since the plan was made (version {at}, now {now}); \
                 nothing was applied: run `lakegate policy plan` again and review it"
            ))
        };
        if let Some(v) = expected_version
            && v != snap.catalog.version
        {
            return Err(stale(snap.catalog.version, v));
        }
        let (plan, commit) = self.plan_on(&snap, caller, files)?;
        if let Some(d) = expected_digest
            && d != plan.digest
        {
            return Err(Error::FailedPrecondition(
                "the repository no longer plans to the reviewed plan (its files changed); \
                 nothing was applied: run `lakegate policy plan` again and review it"
                    .into(),
            ));
        }
        if let Some(bad) = plan.invariants.iter().find(|i| !i.ok) {
            let first = bad.violations.first().map_or_else(String::new, |v| {
                format!(
                    ": `{}` on {}{}",
                    v.principal,
                    v.table,
                    v.column
                        .as_ref()
                        .map(|c| format!(" column {c}"))
                        .unwrap_or_default()
                )
            });
            return Err(Error::FailedPrecondition(format!(
                "invariant `{}` would be violated{first}; nothing was applied",
                bad.name
            )));
        }
        if commit.is_empty() {
            return Ok(plan);
        }
        match self.commit_at(plan.version, &commit) {
            Ok(_) => Ok(plan),
            Err(Error::Conflict) => {
                let now = self.snapshot()?.catalog.version;
                Err(stale(now, plan.version))
            }
            Err(e) => Err(e),
        }
    }
}
