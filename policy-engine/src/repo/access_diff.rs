//! The effective-access diff (DESIGN §8): for every principal and group the
//! repository or the catalog knows, and every table of the account, what
//! it may read before and after, decided by [`access::effective_access`],
//! the function each query's rewrite calls.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::access::{self, RowPredicate, TableAccess};
use crate::authorize::{Authorizer, PrincipalCtx, Target};
use crate::catalog::Catalog;
use crate::compile::{self, Compiled};
use crate::error::{Error, Result};
use crate::model::{AccountId, Caller, Permission, Principal, PrincipalKind, TableName};

/// Someone whose access is analysed: a user or role with the groups and
/// attributes its credentials carry, a group (as a member that has no other
/// group), or another account (what it receives).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Subject {
    /// The principal.
    pub principal: Principal,
    /// Groups, for a user or role.
    pub groups: Vec<Principal>,
    /// Token attributes, for a user or role.
    pub attrs: BTreeMap<String, String>,
    /// Placeholders (`${principal.attrs.K}`) for the attributes row filters
    /// use that `attrs` lacks: they stand in only when a filter's predicate
    /// is shown, never in a Cedar decision.
    pub placeholders: BTreeMap<String, String>,
}

impl Subject {
    /// A principal with no groups or attributes.
    pub fn bare(principal: Principal) -> Self {
        Self {
            principal,
            groups: Vec::new(),
            attrs: BTreeMap::new(),
            placeholders: BTreeMap::new(),
        }
    }

    /// The subject with its placeholders as attributes, for showing
    /// predicates.
    fn with_placeholders(&self) -> Self {
        let mut s = self.clone();
        for (k, v) in &self.placeholders {
            s.attrs.entry(k.clone()).or_insert_with(|| v.clone());
        }
        s.placeholders.clear();
        s
    }

    /// The caller that stands for this subject. A group is analysed as a
    /// member of it alone, named so that no real user can have the name.
    pub(super) fn caller(&self) -> Option<Caller> {
        match &self.principal {
            Principal::Account(_) => None,
            Principal::Iam {
                account,
                kind: PrincipalKind::Group,
                name,
            } => Some(Caller {
                principal: Principal::Iam {
                    account: account.clone(),
                    kind: PrincipalKind::User,
                    name: format!("(a member of group {name})"),
                },
                groups: vec![self.principal.clone()],
                attrs: self.attrs.clone(),
            }),
            p => Some(Caller {
                principal: p.clone(),
                groups: self.groups.clone(),
                attrs: self.attrs.clone(),
            }),
        }
    }

    /// Whether the subject is `g` or a member of it.
    pub fn in_group(&self, g: &Principal) -> bool {
        &self.principal == g || self.groups.contains(g)
    }
}

/// What one subject may read of one table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessSummary {
    /// Visible columns, in table order.
    pub columns: Vec<String>,
    /// The rows it sees (`None`: all rows).
    pub rows: Option<String>,
    /// COLUMN: mask kind.
    pub masks: BTreeMap<String, String>,
    /// COLUMN: the rows in which the cell is shown (NULL elsewhere), or
    /// shown unmasked, when a data cells filter restricts it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub cells: BTreeMap<String, String>,
    /// Table permissions besides SELECT (`INSERT`, `DELETE`, `ALTER`,
    /// `DROP`) and the grant options held (`GRANT SELECT`, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub permissions: Vec<String>,
}

fn rows_text(r: &RowPredicate) -> Option<String> {
    match r {
        RowPredicate::All => None,
        RowPredicate::AnyOf(v) if v.is_empty() => Some("false".into()),
        RowPredicate::AnyOf(v) if v.len() == 1 => v.first().map(|e| e.to_string()),
        RowPredicate::AnyOf(v) => Some(
            v.iter()
                .map(|e| format!("({e})"))
                .collect::<Vec<_>>()
                .join(" OR "),
        ),
    }
}

impl AccessSummary {
    fn of(t: Option<&TableAccess>, permissions: Vec<String>) -> Option<Self> {
        let Some(t) = t.filter(|t| !t.columns.is_empty()) else {
            return (!permissions.is_empty()).then(|| Self {
                columns: Vec::new(),
                rows: None,
                masks: BTreeMap::new(),
                cells: BTreeMap::new(),
                permissions,
            });
        };
        let mut masks = BTreeMap::new();
        let mut cells = BTreeMap::new();
        for c in &t.columns {
            if let Some(m) = &c.mask {
                masks.insert(c.name.clone(), m.to_string());
            }
            let mut notes = Vec::new();
            if let Some(r) = &c.cells {
                notes.push(format!(
                    "shown where {}",
                    rows_text(r).unwrap_or_else(|| "TRUE".into())
                ));
            }
            if let Some(r) = &c.unmasked {
                notes.push(format!(
                    "unmasked where {}",
                    rows_text(r).unwrap_or_else(|| "TRUE".into())
                ));
            }
            if !notes.is_empty() {
                cells.insert(c.name.clone(), notes.join("; "));
            }
        }
        Some(Self {
            columns: t.columns.iter().map(|c| c.name.clone()).collect(),
            rows: rows_text(&t.rows),
            masks,
            cells,
            permissions,
        })
    }
}

/// One (subject, table) whose access changes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessChange {
    /// The principal, group or account.
    pub principal: String,
    /// `DB.TABLE` (a resource link's name for a shared table).
    pub table: String,
    /// Access before (`None`: none).
    pub before: Option<AccessSummary>,
    /// Access after.
    pub after: Option<AccessSummary>,
}

/// Access of one subject on one table of `account`; a denial is `None`.
pub(super) fn access_of(
    cat: &Catalog,
    compiled: &Compiled,
    account: &AccountId,
    s: &Subject,
    table: &TableName,
) -> Result<Option<TableAccess>> {
    let decided = match (&s.principal, s.caller()) {
        (_, Some(caller)) => access::effective_access(cat, compiled, &caller, account, table),
        (Principal::Account(receiver), None) => {
            if receiver == account || cat.table(account, table).is_none() {
                return Ok(None);
            }
            access::received_access(cat, compiled, receiver, account, table)
        }
        _ => return Ok(None),
    };
    match decided {
        Ok(t) => Ok(Some(t)),
        Err(Error::InvalidArgument(_) | Error::PermissionDenied(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The table permissions besides SELECT, and the grant options, that the
/// subject holds on `account`'s table (a resource link's are its target's,
/// decided for the target's owner: none here).
fn permissions(
    cat: &Catalog,
    compiled: &Compiled,
    account: &AccountId,
    s: &Subject,
    table: &TableName,
) -> Result<Vec<String>> {
    if cat.table(account, table).is_none() {
        return Ok(Vec::new());
    }
    let p = match (&s.principal, s.caller()) {
        (_, Some(c)) => PrincipalCtx::new(&c)?,
        (Principal::Account(a), None) => PrincipalCtx::account(a)?,
        _ => return Ok(Vec::new()),
    };
    let authz = Authorizer::new(cat, compiled);
    let target = Target::Table(account.clone(), table.clone());
    let mut out = Vec::new();
    for perm in [
        Permission::Insert,
        Permission::Delete,
        Permission::Alter,
        Permission::Drop,
    ] {
        if authz.decide(&p, perm.as_str(), &target)?.allowed {
            out.push(perm.as_str().to_string());
        }
    }
    for perm in [
        Permission::Select,
        Permission::Insert,
        Permission::Delete,
        Permission::Alter,
        Permission::Drop,
        Permission::Describe,
    ] {
        if authz
            .decide(&p, &compile::grant_action_name(perm), &target)?
            .allowed
        {
            out.push(format!("GRANT {}", perm.as_str()));
        }
    }
    Ok(out)
}

/// The summary of [`access_of`], with the other permissions held.
pub(super) fn summary(
    cat: &Catalog,
    compiled: &Compiled,
    account: &AccountId,
    s: &Subject,
    table: &TableName,
) -> Result<Option<AccessSummary>> {
    let read = access_of(cat, compiled, account, s, table)?;
    let perms = permissions(cat, compiled, account, s, table)?;
    let mut summary = AccessSummary::of(read.as_ref(), perms);
    // Predicates are shown with placeholders for missing attributes, so a
    // change to one shows; the decision itself is the real one above, and
    // the placeholder run only replaces its text when it decided the same
    // columns (a policy testing the attribute may decide otherwise).
    if !s.placeholders.is_empty()
        && let Some(sum) = summary.as_mut()
        && let Some(shown) = access_of(cat, compiled, account, &s.with_placeholders(), table)?
            .as_ref()
            .and_then(|t| AccessSummary::of(Some(t), Vec::new()))
        && shown.columns == sum.columns
        && shown.masks == sum.masks
    {
        sum.rows = shown.rows;
        sum.cells = shown.cells;
    }
    Ok(summary)
}

/// Attribute names row filters of `account` use (`${principal.attrs.K}`).
fn filter_attributes(account: &AccountId, cats: &[&Catalog]) -> BTreeSet<String> {
    const OPEN: &str = "${principal.attrs.";
    let mut out = BTreeSet::new();
    for cat in cats {
        for ((a, _, _), f) in &cat.filters {
            let crate::model::RowFilter::Predicate(src) = &f.rows else {
                continue;
            };
            if a != account {
                continue;
            }
            let lower = src.to_ascii_lowercase();
            for (i, _) in lower.match_indices(OPEN) {
                let rest = lower.get(i + OPEN.len()..).unwrap_or_default();
                if let Some(end) = rest.find('}') {
                    out.insert(rest.get(..end).unwrap_or_default().to_string());
                }
            }
        }
    }
    out
}

/// Principals a Cedar policy file names (`User::"…"`, `Role::"…"`,
/// `Group::"…"`) in `account`.
fn policy_principals(account: &AccountId, sources: &[&str]) -> BTreeSet<Principal> {
    let mut out = BTreeSet::new();
    for src in sources {
        for ty in ["User::\"", "Role::\"", "Group::\""] {
            for (i, _) in src.match_indices(ty) {
                let rest = src.get(i + ty.len()..).unwrap_or_default();
                let Some(end) = rest.find('"') else { continue };
                if let Ok(p) = Principal::parse(rest.get(..end).unwrap_or_default())
                    && p.account() == account
                {
                    out.insert(p);
                }
            }
        }
    }
    out
}

/// Everyone to analyse: the repository's subjects; every grantee named by
/// a grant of `account` in either catalog (users and roles bare, groups as
/// a member, other accounts as receivers); every principal the account's
/// Cedar policies name; and `(anyone)`, a user in no group, for policies
/// that permit or forbid every principal.
///
/// A subject without a value for an attribute some row filter uses gets
/// the placeholder `${principal.attrs.K}` as its value, so the filter's
/// predicate shows as written rather than as matching no row, and a change
/// to it shows in the diff.
pub(super) fn subjects(
    declared: &[Subject],
    account: &AccountId,
    cats: &[&Catalog],
) -> Vec<Subject> {
    let mut out: Vec<Subject> = declared.to_vec();
    let mut seen: BTreeSet<Principal> = declared.iter().map(|s| s.principal.clone()).collect();
    let mut add = |p: &Principal, out: &mut Vec<Subject>| {
        if seen.insert(p.clone()) {
            out.push(Subject::bare(p.clone()));
        }
    };
    for cat in cats {
        for g in cat.grants.values() {
            let mine = g.principal.account() == account;
            let share = matches!(g.principal, Principal::Account(_)) && &g.account == account;
            if mine || share {
                add(&g.principal, &mut out);
            }
        }
        let sources: Vec<&str> = cat
            .policies
            .get(account)
            .map(|fs| fs.iter().map(|f| f.source.as_str()).collect())
            .unwrap_or_default();
        for p in policy_principals(account, &sources) {
            add(&p, &mut out);
        }
    }
    add(
        &Principal::Iam {
            account: account.clone(),
            kind: PrincipalKind::User,
            name: "(anyone)".into(),
        },
        &mut out,
    );
    let attrs = filter_attributes(account, cats);
    for s in &mut out {
        if matches!(s.principal, Principal::Account(_)) {
            continue;
        }
        for k in &attrs {
            if !s.attrs.contains_key(k) {
                s.placeholders
                    .insert(k.clone(), format!("${{principal.attrs.{k}}}"));
            }
        }
    }
    out
}

/// Tables a subject of `account` may name: its own and its resource links.
pub(super) fn tables(account: &AccountId, cats: &[&Catalog]) -> BTreeSet<TableName> {
    let mut out = BTreeSet::new();
    for cat in cats {
        out.extend(
            cat.tables
                .keys()
                .chain(cat.links.keys())
                .filter(|(a, _)| a == account)
                .map(|(_, n)| n.clone()),
        );
    }
    out
}

/// The (subject, table) pairs whose access differs between two catalogs.
pub(super) fn diff(
    before: (&Catalog, &Compiled),
    after: (&Catalog, &Compiled),
    account: &AccountId,
    who: &[Subject],
) -> Result<Vec<AccessChange>> {
    let mut out = Vec::new();
    for t in tables(account, &[before.0, after.0]) {
        for s in who {
            // Another account receives only its owner's tables, never
            // this account's links.
            let b = summary(before.0, before.1, account, s, &t)?;
            let a = summary(after.0, after.1, account, s, &t)?;
            if a != b {
                out.push(AccessChange {
                    principal: s.principal.to_string(),
                    table: t.to_string(),
                    before: b,
                    after: a,
                });
            }
        }
    }
    out.sort_by(|x, y| (&x.principal, &x.table).cmp(&(&y.principal, &y.table)));
    Ok(out)
}
