//! One runner for every target: a [`Target`] says what a step did, and
//! [`run_case`] checks it against the case's expectation.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use policy_engine::model::{AccountId, Column, Format, TableName};
use policy_engine::{Caller, Governance, MemStore, NewTable, Principal};

use crate::{As, Case, Step, error_kind, run_admin_step};

/// What an `access:` or `query:` step did on a target.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Effective access: visible columns in table order, and the masks
    /// (column → kind).
    Access {
        /// Visible columns, in order.
        columns: Vec<String>,
        /// Masked columns and their mask, as `mask` kinds print.
        masks: BTreeMap<String, String>,
    },
    /// A query's result.
    Rows {
        /// Column names, in order.
        columns: Vec<String>,
        /// Rows as JSON values.
        rows: Vec<Vec<serde_json::Value>>,
    },
    /// The step was refused.
    Failed {
        /// `invalid_argument`, `permission_denied`, …
        kind: String,
        /// The message, as the caller sees it.
        message: String,
    },
    /// The tables a `tables:` step listed: name → visible columns.
    Tables(BTreeMap<String, Vec<String>>),
    /// A catalog change succeeded.
    Done,
    /// The target has no way to run this kind of step.
    Skipped,
}

/// Somewhere the corpus runs: the library, or a server and a client.
pub trait Target {
    /// The policy engine catalog changes go through.
    fn governance(&self) -> &Governance;
    /// Effective access of `caller` on `table` (`DB.TABLE`).
    fn access(&mut self, caller: &Caller, table: &str) -> Result<Outcome>;
    /// Runs `sql` as `caller`.
    fn query(&mut self, caller: &Caller, sql: &str) -> Result<Outcome>;
    /// The tables of `database` in `caller`'s catalog, as it may see them.
    fn tables(&mut self, caller: &Caller, database: &str) -> Result<Outcome>;
    /// Whether statements run on an upstream engine (a sidecar), where a
    /// step's `want_error_upstream` applies.
    fn upstream(&self) -> bool {
        false
    }
}

/// How many steps of each kind a case ran on a target.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Ran {
    /// Catalog changes (grants, revokes, filters, tags, policies).
    pub changes: usize,
    /// `access:` steps.
    pub access: usize,
    /// `plan:` steps.
    pub plans: usize,
    /// `query:` steps.
    pub queries: usize,
    /// `tables:` steps.
    pub listings: usize,
}

/// Runs every step of `case` on `target`, checking each expectation.
pub fn run_case(case: &Case, target: &mut dyn Target) -> Result<Ran> {
    let mut ran = Ran::default();
    for (i, step) in case.steps.iter().enumerate() {
        let ctx = || format!("{} step {}", case.path.display(), i + 1);
        let caller = case.caller(&step.who).with_context(ctx)?;
        let before = target.governance().snapshot()?.catalog.clone();
        let changed = change(target.governance(), &caller, step).with_context(ctx)?;
        // A refused change leaves the whole store as it was.
        if let Some(Outcome::Failed { message, .. }) = &changed
            && target.governance().snapshot()?.catalog != before
        {
            bail!("{}: refused ({message}) but changed the store", ctx());
        }
        let outcome = if let Some(o) = changed {
            ran.changes += 1;
            o
        } else if let Some(r) = &step.plan {
            // Plans decide access with the policy engine on every target:
            // the same call `policy plan` makes on the server.
            ran.plans += 1;
            match target
                .governance()
                .plan_repository(&caller, &crate::repository(r))
            {
                Ok(p) => {
                    check_plan(step, &p).with_context(ctx)?;
                    Outcome::Done
                }
                Err(e) => Outcome::Failed {
                    kind: error_kind(&e).into(),
                    message: e.to_string(),
                },
            }
        } else if let Some(t) = &step.access {
            ran.access += 1;
            target.access(&caller, t).with_context(ctx)?
        } else if let Some(db) = &step.tables {
            ran.listings += 1;
            target.tables(&caller, db).with_context(ctx)?
        } else if let Some(sql) = &step.query {
            let o = target.query(&caller, sql).with_context(ctx)?;
            if o != Outcome::Skipped {
                ran.queries += 1;
            }
            o
        } else {
            bail!("{}: a step needs a change, access or query", ctx());
        };
        let want_error = match &step.want_error_upstream {
            Some(w) if target.upstream() && changed_nothing(step) => Some(w),
            _ => step.want_error.as_ref(),
        };
        check(step, want_error, &outcome).with_context(ctx)?;
    }
    Ok(ran)
}

/// A step's catalog change, if it is one: `Done`, or `Failed` on refusal.
fn change(g: &Governance, caller: &Caller, step: &Step) -> Result<Option<Outcome>> {
    let r = if let Some(r) = run_admin_step(g, caller, step)? {
        r
    } else if let Some(gs) = &step.grant {
        g.grant(caller, &gs.request()?).map(|_| ())
    } else if let Some(gs) = &step.revoke {
        g.revoke(caller, &gs.request()?).map(|_| ())
    } else {
        return Ok(None);
    };
    Ok(Some(match r {
        Ok(()) => Outcome::Done,
        Err(e) => Outcome::Failed {
            kind: error_kind(&e).into(),
            message: e.to_string(),
        },
    }))
}

/// Checks a plan against a `plan:` step's expectations.
fn check_plan(step: &Step, p: &policy_engine::repo::Plan) -> Result<()> {
    if let Some(want) = &step.want_access {
        let got = serde_json::to_value(&p.access)?;
        if &got != want {
            bail!(
                "want access diff {}, got {}",
                serde_json::to_string_pretty(want)?,
                serde_json::to_string_pretty(&got)?
            );
        }
    }
    if let Some(n) = step.want_changes
        && p.changes.len() != n
    {
        bail!("want {n} changes, got {:#?}", p.changes);
    }
    if let Some(want) = &step.want_invariants {
        let got: BTreeMap<String, bool> = p
            .invariants
            .iter()
            .map(|i| (i.name.clone(), i.ok))
            .collect();
        if &got != want {
            bail!("want invariants {want:?}, got {:#?}", p.invariants);
        }
    }
    Ok(())
}

/// JSON values equal, treating integers and floats by value.
fn same(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => (x - y).abs() < 1e-9,
        _ => a == b,
    }
}

/// Whether a step is an `access:` or `query:` step.
fn changed_nothing(step: &Step) -> bool {
    step.access.is_some() || step.query.is_some() || step.tables.is_some()
}

fn check(step: &Step, want_error: Option<&crate::WantError>, outcome: &Outcome) -> Result<()> {
    match (want_error, outcome) {
        (_, Outcome::Skipped) | (None, Outcome::Done) => Ok(()),
        (Some(w), Outcome::Failed { kind, message }) => {
            if kind != &w.kind {
                bail!("want {} error, got {kind}: {message}", w.kind);
            }
            if let Some(s) = &w.contains
                && !message.contains(s.as_str())
            {
                bail!("error `{message}` does not contain `{s}`");
            }
            Ok(())
        }
        (Some(w), o) => bail!("want {} error, got {o:?}", w.kind),
        (None, Outcome::Failed { kind, message }) => bail!("unexpected {kind} error: {message}"),
        (None, Outcome::Access { columns, masks }) => {
            if let Some(want) = &step.want_columns
                && step.access.is_some()
                && columns != want
            {
                bail!("want columns {want:?}, got {columns:?}");
            }
            if let Some(want) = &step.want_masks
                && masks != want
            {
                bail!("want masks {want:?}, got {masks:?}");
            }
            Ok(())
        }
        (None, Outcome::Tables(got)) => match &step.want_tables {
            Some(want) if got != want => bail!("want tables {want:?}, got {got:?}"),
            _ => Ok(()),
        },
        (None, Outcome::Rows { columns, rows }) => {
            if let Some(want) = &step.want_rows {
                let ok = rows.len() == want.len()
                    && rows.iter().zip(want).all(|(r, w)| {
                        r.len() == w.len() && r.iter().zip(w).all(|(a, b)| same(a, b))
                    });
                if !ok {
                    bail!("want rows {want:?}, got {rows:?}");
                }
            }
            if let Some(want) = &step.want_columns
                && columns != want
            {
                bail!("want columns {want:?}, got {columns:?}");
            }
            Ok(())
        }
    }
}

/// Runs cases against the policy-engine API in process (no engine: `query:`
/// steps are skipped).
#[allow(
    missing_debug_implementations,
    reason = "holds the policy engine, which has no Debug"
)]
pub struct LibraryTarget {
    g: Governance,
}

impl LibraryTarget {
    /// Builds the case's catalog in a fresh in-memory store, with each
    /// table's declared columns.
    pub fn new(case: &Case) -> Result<Self> {
        let g = Governance::new(Arc::new(MemStore::new()))?;
        build_catalog(&g, case, Format::Parquet, Case::ROOT)?;
        Ok(Self { g })
    }
}

/// Bootstraps the case's account and admins, registers its locations (the
/// root if it names none) and creates its databases and tables with their
/// declared columns, in `format`. Every location is moved from
/// [`Case::ROOT`] to `root`, where a target keeps the tables' files.
pub fn build_catalog(g: &Governance, case: &Case, format: Format, root: &str) -> Result<()> {
    AccountId::parse(&case.catalog.account)?;
    // Each admin in its own account (a case may have several accounts).
    let mut by_account: BTreeMap<AccountId, Vec<Principal>> = BTreeMap::new();
    for a in &case.catalog.admins {
        let p = Principal::parse(a)?;
        by_account.entry(p.account().clone()).or_default().push(p);
    }
    for (account, admins) in &by_account {
        g.bootstrap(account, admins)?;
    }
    let admin = case.caller(&As::default())?;
    let mut locations = case.catalog.locations.clone();
    if locations.is_empty() {
        locations.push(Case::ROOT.into());
    }
    for l in &locations {
        g.register_location(&admin, &Case::relocate(l, root))?;
    }
    for d in &case.catalog.databases {
        let loc = d.location.as_deref().map(|l| Case::relocate(l, root));
        g.create_database(&admin, &d.name, loc.as_deref())?;
    }
    for t in &case.catalog.tables {
        let columns = t
            .columns
            .iter()
            .flatten()
            .map(|(name, ty)| Column {
                name: name.clone(),
                data_type: ty.clone(),
                partition: false,
            })
            .collect();
        TableName::parse(&t.name)?;
        g.create_table(
            &admin,
            &NewTable {
                name: t.name.clone(),
                location: Case::table_location(t, root),
                format,
                columns,
                partition_keys: vec![],
            },
        )?;
    }
    Ok(())
}

impl Target for LibraryTarget {
    fn governance(&self) -> &Governance {
        &self.g
    }

    fn access(&mut self, caller: &Caller, table: &str) -> Result<Outcome> {
        let (owner, tn) = match table.split_once(':') {
            Some((a, t)) => (AccountId::parse(a)?, TableName::parse(t)?),
            None => (caller.account().clone(), TableName::parse(table)?),
        };
        Ok(match self.g.effective_access_in(caller, &owner, &tn) {
            Ok(a) => Outcome::Access {
                columns: a.columns.iter().map(|c| c.name.clone()).collect(),
                masks: a
                    .columns
                    .iter()
                    .filter_map(|c| c.mask.as_ref().map(|m| (c.name.clone(), m.to_string())))
                    .collect(),
            },
            Err(e) => Outcome::Failed {
                kind: error_kind(&e).into(),
                message: e.to_string(),
            },
        })
    }

    fn query(&mut self, _: &Caller, _: &str) -> Result<Outcome> {
        Ok(Outcome::Skipped)
    }

    fn tables(&mut self, caller: &Caller, database: &str) -> Result<Outcome> {
        // As GetTables lists them: a database the caller may not see has
        // no tables, rather than an error.
        Ok(
            match self.g.list_databases_and_tables(caller, Some(database)) {
                Ok(dbs) => Outcome::Tables(
                    dbs.into_iter()
                        .flat_map(|(_, ts)| ts)
                        .map(|t| {
                            let cols = t.columns.into_iter().map(|c| c.name).collect();
                            (t.name.table, cols)
                        })
                        .collect(),
                ),
                Err(e) => Outcome::Failed {
                    kind: error_kind(&e).into(),
                    message: e.to_string(),
                },
            },
        )
    }
}
