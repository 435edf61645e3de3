//! Effective access of a caller on a table (DESIGN §3 rules 1–3, 7, 8, 12):
//! which columns exist for the caller, which rows it sees, which cells are
//! masked, and the trail of policies that decided it.

use serde::Serialize;

use crate::authorize::{Authorizer, PrincipalCtx, Target};
use crate::catalog::Catalog;
use crate::compile::{self, Compiled, PolicySource};
use crate::error::{Error, Result};
use crate::model::{
    AccountId, Caller, ColumnMask, Format, LocationUri, Permission, Principal, RowFilter, TableName,
};
use crate::predicate::{self, RowExpr};

/// Rows of a table a caller may see.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RowPredicate {
    /// Every row.
    All,
    /// Rows where any of these predicates (rule 4 language, attributes
    /// already substituted as literal nodes) is true; none matches no row.
    AnyOf(Vec<RowExpr>),
}

/// One visible column.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ColumnAccess {
    /// Column name.
    pub name: String,
    /// Arrow data type.
    pub data_type: String,
    /// Whether it is a partition column.
    pub partition: bool,
    /// The mask applied to its values, if any.
    pub mask: Option<ColumnMask>,
    /// Rows in which the cell is visible, if fewer than the visible rows;
    /// elsewhere the cell is NULL.
    pub cells: Option<RowPredicate>,
    /// Rows in which the cell is shown in the clear although `mask` applies
    /// elsewhere: a data filter shows the column unmasked there, and the most
    /// revealing form wins per cell (rule 8). Only set together with `mask`.
    pub unmasked: Option<RowPredicate>,
    /// Policies that made it visible.
    pub reasons: Vec<String>,
}

/// One line of the decision trail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TrailEntry {
    /// Cedar policy id.
    pub policy: String,
    /// `permit` or `forbid`.
    pub effect: String,
    /// Human description of where it came from.
    pub source: String,
    /// What it decided (e.g. `columns id, region`).
    pub decided: String,
}

/// What a caller may read of one table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TableAccess {
    /// Owning account.
    pub account: AccountId,
    /// Table name.
    pub table: TableName,
    /// Files location.
    pub location: LocationUri,
    /// File format.
    pub format: Format,
    /// Partition keys in key order.
    pub partition_keys: Vec<String>,
    /// Visible columns in table order.
    pub columns: Vec<ColumnAccess>,
    /// Visible rows.
    pub rows: RowPredicate,
    /// The policies that decided.
    pub trail: Vec<TrailEntry>,
}

impl TableAccess {
    /// The columns shown unmasked on every visible row: the only ones a
    /// row predicate may compare without revealing more than is shown.
    pub fn clear_columns(&self) -> std::collections::BTreeSet<String> {
        self.columns
            .iter()
            .filter(|c| c.mask.is_none() && c.cells.is_none() && c.unmasked.is_none())
            .map(|c| c.name.clone())
            .collect()
    }

    /// Whether the caller sees every row and column unmasked.
    pub fn is_full(&self, total_columns: usize) -> bool {
        self.rows == RowPredicate::All
            && self.columns.len() == total_columns
            && self
                .columns
                .iter()
                .all(|c| c.mask.is_none() && c.cells.is_none() && c.unmasked.is_none())
    }
}

/// A human description of a compiled policy's origin.
pub fn describe_source(cat: &Catalog, compiled: &Compiled, policy: &str) -> String {
    match compiled.get(policy).map(|p| &p.source) {
        Some(PolicySource::Grant(id)) | Some(PolicySource::GrantOption(id)) => {
            match cat.grants.get(id) {
                Some(g) => format!(
                    "grant {id}: {} on {} to {}{}",
                    g.permissions
                        .iter()
                        .map(|p| p.as_str())
                        .collect::<Vec<_>>()
                        .join(","),
                    g.resource,
                    g.principal,
                    match &g.origin {
                        crate::model::GrantOrigin::Creator => " (creator)".to_string(),
                        crate::model::GrantOrigin::Explicit { by } => format!(" (by {by})"),
                    }
                ),
                None => format!("grant {id}"),
            }
        }
        Some(PolicySource::Admin { account, principal }) => {
            format!("{principal} is a data lake admin of {account}")
        }
        Some(PolicySource::File { path, index, .. }) => {
            format!("policy #{index} in {path}")
        }
        None => policy.to_string(),
    }
}

/// The "not found" error, worded identically for missing and hidden tables.
pub fn table_not_found(name: &TableName) -> Error {
    Error::invalid(format!(
        "table `{name}` was not found; check the name with `lakegate permissions list` \
         or ask a data lake admin for access"
    ))
}

/// [`table_not_found`], suggesting the closest table name in the same
/// database that the caller may see (and only such a name, so the message
/// is the same for a hidden table as for a missing one). Only that
/// database's tables are compared, so a wrong name costs at most one scan of
/// one database.
pub fn table_not_found_near(
    cat: &Catalog,
    authz: &Authorizer<'_>,
    p: &PrincipalCtx,
    account: &AccountId,
    name: &TableName,
) -> Error {
    let mut near: Vec<(usize, &TableName)> = cat
        .tables_in(account, &name.database)
        .map(|t| &t.name)
        .filter(|t| *t != name)
        .filter_map(|t| crate::suggest::near(&name.table, &t.table).map(|d| (d, t)))
        .collect();
    near.sort();
    for (_, t) in near {
        if can_describe_table(cat, authz, p, account, t).unwrap_or(false) {
            return Error::invalid(format!(
                "table `{name}` was not found; did you mean `{t}`? Check the name with \
                 `lakegate table list {}` or ask a data lake admin for access",
                name.database
            ));
        }
    }
    table_not_found(name)
}

/// Whether the caller may see that the table exists (DESCRIBE, explicit or
/// implied by any other permission on the table, its columns or filters).
pub fn can_describe_table(
    cat: &Catalog,
    authz: &Authorizer<'_>,
    p: &PrincipalCtx,
    account: &AccountId,
    name: &TableName,
) -> Result<bool> {
    let target = Target::Table(account.clone(), name.clone());
    for perm in [
        Permission::Describe,
        Permission::Select,
        Permission::Insert,
        Permission::Delete,
        Permission::Alter,
        Permission::Drop,
    ] {
        if authz.decide(p, perm.as_str(), &target)?.allowed {
            return Ok(true);
        }
    }
    if let Some(t) = cat.table(account, name) {
        let names: Vec<String> = t.columns.iter().map(|c| c.name.clone()).collect();
        let decisions =
            authz.decide_columns(p, Permission::Select.as_str(), account, name, &names)?;
        if decisions.iter().any(|d| d.allowed) {
            return Ok(true);
        }
    }
    for ((a, tn, f), _) in cat.filters.iter() {
        if a == account && tn == name {
            let target = Target::DataFilter(a.clone(), tn.clone(), f.clone());
            for perm in [Permission::Select, Permission::Describe] {
                if authz.decide(p, perm.as_str(), &target)?.allowed {
                    return Ok(true);
                }
            }
        }
    }
    Ok(false)
}

/// Computes the caller's effective access on a table.
pub fn effective_access(
    cat: &Catalog,
    compiled: &Compiled,
    caller: &Caller,
    account: &AccountId,
    name: &TableName,
) -> Result<TableAccess> {
    let share = if caller.account() == account {
        // A resource link in the caller's catalog reads its target (another
        // account's table: the other branch, which never follows links).
        // The caller must also see the link itself (DESCRIBE on it, rule 6);
        // otherwise it is a table that does not exist.
        if cat.table(account, name).is_none()
            && let Some(link) = cat.links.get(&(account.clone(), name.clone()))
        {
            let authz = Authorizer::new(cat, compiled);
            let p = PrincipalCtx::new(caller)?;
            if !can_describe_table(cat, &authz, &p, account, name)? {
                return Err(table_not_found(name));
            }
            return effective_access(cat, compiled, caller, &link.target_account, &link.target)
                .map_err(|e| match e {
                    // The link is visible and its target shared, but the
                    // caller holds nothing on the target: denied (rule 12).
                    Error::InvalidArgument(_)
                        if shared_with(
                            cat,
                            compiled,
                            account,
                            &link.target_account,
                            &link.target,
                        )
                        .unwrap_or(false) =>
                    {
                        Error::denied(format!(
                            "SELECT on table `{name}` is denied for `{}`: the resource link \
                             points at `{}:{}`, which gives it no column: either account \
                             `{account}` granted it none, or account `{}` shares the table \
                             without the grant option (reaching no principal of `{account}`); \
                             ask a data lake admin of `{account}`",
                            caller.principal, link.target_account, link.target, link.target_account,
                        ))
                    }
                    Error::InvalidArgument(_) => table_not_found(name),
                    other => other,
                });
        }
        None
    } else {
        // Another account's table (rule 6): what that account shares with
        // the caller's account, intersected with what the caller's account
        // grants the caller. No share (or a revoked one) is a table that
        // does not exist, whatever the caller's own account granted on it.
        Some(
            share_access(cat, compiled, caller.account(), account, name)
                .map_err(|_| table_not_found(name))?,
        )
    };
    let p = PrincipalCtx::new(caller)?;
    let own = granted_access(
        cat,
        compiled,
        &p,
        caller,
        account,
        name,
        Permission::Select.as_str(),
    )?;
    match share {
        None => Ok(own),
        Some(share) => crate::share::intersect(&share, own, caller),
    }
}

/// What account `owner` shares of its table `name` with account
/// `receiver`: the receiving half of rule 6, decided as for any principal.
pub fn share_access(
    cat: &Catalog,
    compiled: &Compiled,
    receiver: &AccountId,
    owner: &AccountId,
    name: &TableName,
) -> Result<TableAccess> {
    // Only what is shared with the grant option reaches the receiving
    // account's principals: what it may read (SELECT, with the owner's
    // forbids and masks) met with what it may pass on (GRANT:SELECT).
    let read = received_access(cat, compiled, receiver, owner, name)?;
    let who = Caller::new(Principal::Account(receiver.clone()));
    let p = PrincipalCtx::account(receiver)?;
    let pass_on = compile::grant_action_name(Permission::Select);
    let held = granted_access(cat, compiled, &p, &who, owner, name, &pass_on)?;
    crate::share::meet(&read, held)
}

/// Whether account `owner` shares its table `name` with account `receiver`
/// at all: any right on it (DESCRIBE included), with or without the grant
/// option.
pub fn shared_with(
    cat: &Catalog,
    compiled: &Compiled,
    receiver: &AccountId,
    owner: &AccountId,
    name: &TableName,
) -> Result<bool> {
    if cat.table(owner, name).is_none() {
        return Ok(false);
    }
    let authz = Authorizer::new(cat, compiled);
    let p = PrincipalCtx::account(receiver)?;
    can_describe_table(cat, &authz, &p, owner, name)
}

/// What account `owner` lets account `receiver` read of its table `name`
/// (SELECT, with or without the grant option): what the receiving admin
/// sees it was given, before anything reaches its principals.
pub fn received_access(
    cat: &Catalog,
    compiled: &Compiled,
    receiver: &AccountId,
    owner: &AccountId,
    name: &TableName,
) -> Result<TableAccess> {
    let who = Caller::new(Principal::Account(receiver.clone()));
    let p = PrincipalCtx::account(receiver)?;
    granted_access(
        cat,
        compiled,
        &p,
        &who,
        owner,
        name,
        Permission::Select.as_str(),
    )
}

/// The columns of `owner`'s table that its share with the caller's account
/// shows unmasked on every shared row (empty when nothing is shared).
pub(crate) fn clear_shared_columns(
    cat: &Catalog,
    compiled: &Compiled,
    caller: &Caller,
    owner: &AccountId,
    name: &TableName,
) -> std::collections::BTreeSet<String> {
    share_access(cat, compiled, caller.account(), owner, name)
        .map(|s| s.clear_columns())
        .unwrap_or_default()
}

/// Effective access of one principal (a user or role with its groups, or a
/// receiving account) from the grants and policies that name it: the
/// columns and filters `action` (SELECT, or GRANT:SELECT for what a share
/// passes on) permits; forbids on SELECT always apply.
fn granted_access(
    cat: &Catalog,
    compiled: &Compiled,
    p: &PrincipalCtx,
    caller: &Caller,
    account: &AccountId,
    name: &TableName,
    action: &str,
) -> Result<TableAccess> {
    let authz = Authorizer::new(cat, compiled);
    let Some(table) = cat.table(account, name) else {
        return Err(table_not_found_near(cat, &authz, p, account, name));
    };
    let mut trail = Vec::new();
    let forbids = authz.forbidding(
        p,
        Permission::Select.as_str(),
        &Target::Table(account.clone(), name.clone()),
    )?;
    let mut columns = Vec::new();
    if forbids.is_empty() {
        let names: Vec<String> = table.columns.iter().map(|c| c.name.clone()).collect();
        let decisions = authz.decide_columns(p, action, account, name, &names)?;
        for (c, d) in table.columns.iter().zip(decisions) {
            if !d.allowed {
                for r in &d.reasons {
                    trail.push(TrailEntry {
                        policy: r.clone(),
                        effect: "forbid".into(),
                        source: describe_source(cat, compiled, r),
                        decided: format!("column {} hidden", c.name),
                    });
                }
                continue;
            }
            let mask = choose_mask(cat, compiled, &d.reasons, &c.name);
            columns.push(ColumnAccess {
                name: c.name.clone(),
                data_type: c.data_type.clone(),
                partition: c.partition,
                mask,
                cells: None,
                unmasked: None,
                reasons: d.reasons,
            });
        }
    }
    // Data cells filters (rule 2): each permitted filter is (rows, columns);
    // grants on the table and its columns are filters with all rows.
    let mut rows_all = !columns.is_empty();
    let mut row_preds: Vec<RowExpr> = Vec::new();
    // Per column: the filters that show it, as row predicates (None = all rows).
    let mut by_column: std::collections::BTreeMap<String, Vec<Option<RowExpr>>> =
        Default::default();
    // When grants already show every column on every row in the clear,
    // filters cannot add anything (and would only clutter the trail); a
    // filter may still show a masked column in the clear on its rows.
    let everything =
        columns.len() == table.columns.len() && columns.iter().all(|c| c.mask.is_none());
    // The columns the share shows in the clear on every shared row, for a
    // filter the caller's account defined on another account's table
    // (computed once, when such a filter is met).
    let mut share_clear: Option<std::collections::BTreeSet<String>> = None;
    if forbids.is_empty() && !everything {
        for ((a, tn, fname), f) in cat.filters.iter() {
            if a != account || tn != name {
                continue;
            }
            // A filter another account defined on this table (a receiving
            // account's, stored as NAME@ACCOUNT) counts only for that
            // account's own users and roles: never for the owner's
            // principals, and never for a share's half.
            let foreign = crate::governance::share_filters::definer(fname).is_some();
            if let Some(def) = crate::governance::share_filters::definer(fname)
                && (matches!(caller.principal, Principal::Account(_))
                    || def != caller.account().as_str()
                    || account == caller.account())
            {
                continue;
            }
            // Conversely, a user or role reading another account's table
            // reads through its own account's filters only: the owner's
            // filters reach it through the share half, where the owner
            // granted them, never through its own account's policies.
            if !foreign
                && account != caller.account()
                && !matches!(caller.principal, Principal::Account(_))
            {
                continue;
            }
            let d = authz.decide(
                p,
                action,
                &Target::DataFilter(a.clone(), tn.clone(), fname.clone()),
            )?;
            if !d.allowed {
                continue;
            }
            // What may be passed on (a grant-option action) through a
            // filter is what a grant option *on that filter* allows: the
            // table's grant option covers its filters only to re-grant
            // them with the table's masks (checked when re-granting), so
            // here it adds nothing beyond the table-level access above,
            // which carries those masks.
            if action != Permission::Select.as_str()
                && !d
                    .reasons
                    .iter()
                    .any(|r| match compiled.get(r).map(|p| &p.source) {
                        Some(PolicySource::GrantOption(id)) => {
                            cat.grants.get(id).is_some_and(|g| {
                                matches!(g.resource, crate::model::Resource::DataFilter { .. })
                            })
                        }
                        Some(PolicySource::Admin { .. }) | Some(PolicySource::File { .. }) => true,
                        _ => false,
                    })
            {
                continue;
            }
            let rows = match &f.rows {
                RowFilter::AllRows => None,
                // A receiving account's predicate may compare only columns
                // the share shows in the clear on every row it shares;
                // otherwise which rows come back would reveal the values
                // the share hides (the share may have narrowed since the
                // filter was made). Such a filter matches no row.
                RowFilter::Predicate(src) if foreign => {
                    let clear = match &share_clear {
                        Some(c) => c.clone(),
                        None => {
                            let c = clear_shared_columns(cat, compiled, caller, account, name);
                            share_clear = Some(c.clone());
                            c
                        }
                    };
                    if predicate::compares_only(src, table, &clear) {
                        Some(
                            predicate::substitute(src, table, &caller.attrs)?
                                .unwrap_or_else(RowExpr::never),
                        )
                    } else {
                        Some(RowExpr::never())
                    }
                }
                RowFilter::Predicate(src) => Some(
                    predicate::substitute(src, table, &caller.attrs)?
                        .unwrap_or_else(RowExpr::never),
                ),
            };
            let mut shown = Vec::new();
            for c in &table.columns {
                if !f.columns.contains(&c.name) {
                    continue;
                }
                // A forbid on the column hides it whatever the filter says.
                let forbid = authz.forbidding(
                    p,
                    Permission::Select.as_str(),
                    &Target::Column(account.clone(), name.clone(), c.name.clone()),
                )?;
                if !forbid.is_empty() {
                    continue;
                }
                by_column
                    .entry(c.name.clone())
                    .or_default()
                    .push(rows.clone());
                shown.push(c.name.clone());
            }
            if shown.is_empty() {
                continue;
            }
            match &rows {
                None => rows_all = true,
                Some(r) => {
                    if !row_preds.contains(r) {
                        row_preds.push(r.clone());
                    }
                }
            }
            trail.push(TrailEntry {
                source: format!(
                    "data filter {tn}.{fname} ({}) via {}",
                    rows.as_ref()
                        .map_or_else(|| "all rows".to_string(), ToString::to_string),
                    d.reasons
                        .iter()
                        .map(|r| describe_source(cat, compiled, r))
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
                policy: d.reasons.join(","),
                effect: "permit".into(),
                decided: format!("columns {}", shown.join(", ")),
            });
        }
    }
    if !by_column.is_empty() {
        let mut merged = Vec::new();
        for c in &table.columns {
            if let Some(existing) = columns.iter().find(|x| x.name == c.name) {
                // Shown by a table or column grant: all rows, its own mask,
                // and in the clear wherever a filter shows it (rule 8).
                let mut shown = existing.clone();
                if shown.mask.is_some()
                    && let Some(fs) = by_column.get(&c.name)
                {
                    if fs.iter().any(Option::is_none) {
                        shown.mask = None;
                    } else {
                        let mut ps: Vec<RowExpr> = Vec::new();
                        for r in fs.iter().flatten() {
                            if !ps.contains(r) {
                                ps.push(r.clone());
                            }
                        }
                        shown.unmasked = Some(RowPredicate::AnyOf(ps));
                    }
                }
                merged.push(shown);
                continue;
            }
            let Some(fs) = by_column.get(&c.name) else {
                continue;
            };
            let cells = if fs.iter().any(|r| r.is_none()) {
                None
            } else {
                let mut ps: Vec<RowExpr> = Vec::new();
                for r in fs.iter().flatten() {
                    if !ps.contains(r) {
                        ps.push(r.clone());
                    }
                }
                let same_as_rows = !rows_all
                    && ps.len() == row_preds.len()
                    && ps.iter().all(|x| row_preds.contains(x));
                if same_as_rows {
                    None
                } else {
                    Some(RowPredicate::AnyOf(ps))
                }
            };
            merged.push(ColumnAccess {
                name: c.name.clone(),
                data_type: c.data_type.clone(),
                partition: c.partition,
                mask: None,
                cells,
                unmasked: None,
                reasons: Vec::new(),
            });
        }
        columns = merged;
    }
    let rows = if rows_all {
        RowPredicate::All
    } else {
        RowPredicate::AnyOf(row_preds)
    };
    if columns.is_empty() {
        if !can_describe_table(cat, &authz, p, account, name)? {
            return Err(table_not_found_near(cat, &authz, p, account, name));
        }
        // The denial names the missing permission, never the policy files
        // and indexes that decided it: those are for admins (explain).
        let why = if forbids.is_empty() {
            "no grant gives it any column; ask a data lake admin to grant SELECT".to_string()
        } else {
            format!(
                "a policy of account `{account}` forbids it; a data lake admin can see which with \
                 `lakegate explain --principal {}`",
                caller.principal
            )
        };
        return Err(Error::denied(format!(
            "SELECT on table `{name}` is denied for `{}`: {why}",
            caller.principal
        )));
    }
    // Summarise the permits per policy for the trail.
    let mut by_policy: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for c in &columns {
        for r in &c.reasons {
            by_policy.entry(r.clone()).or_default().push(c.name.clone());
        }
    }
    for (policy, cols) in by_policy {
        trail.push(TrailEntry {
            source: describe_source(cat, compiled, &policy),
            policy,
            effect: "permit".into(),
            decided: format!("columns {}", cols.join(", ")),
        });
    }
    Ok(TableAccess {
        account: account.clone(),
        table: name.clone(),
        location: table.location.clone(),
        format: table.format,
        partition_keys: table.partition_keys.clone(),
        columns,
        rows,
        trail,
    })
}

/// The most revealing form among the grants that show a column: any
/// determining policy without a mask on it shows it in the clear.
fn choose_mask(
    cat: &Catalog,
    compiled: &Compiled,
    reasons: &[String],
    column: &str,
) -> Option<ColumnMask> {
    let mut best: Option<ColumnMask> = None;
    for r in reasons {
        let mask = match compiled.get(r).map(|p| &p.source) {
            // A grant's masks travel with its grant option (rule 10): what
            // a share passes on (GRANT:SELECT) is masked as the grant is.
            Some(PolicySource::Grant(id)) | Some(PolicySource::GrantOption(id)) => {
                cat.grants.get(id).and_then(|g| g.masks.get(column))
            }
            _ => None,
        };
        match mask {
            None => return None,
            Some(m) => {
                if best
                    .as_ref()
                    .is_none_or(|b| m.revealing_rank() > b.revealing_rank())
                {
                    best = Some(m.clone());
                }
            }
        }
    }
    best
}
