//! The desired state of a repository: the current catalog without the
//! objects the repository manages, with the repository's declarations
//! replayed onto it through the ordinary admin operations; and the changes
//! that turn the current catalog into it.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::files::{Located, Repo};
use super::plan::ObjectChange;
use crate::catalog::{Catalog, Change, Kind};
use crate::error::{Error, Result};
use crate::filters::NewDataFilter;
use crate::governance::{Governance, GrantRequest, ResourceSpec};
use crate::lftags::TagAssignRequest;
use crate::model::{AccountId, Caller, Grant, GrantOrigin, Resource};
use crate::store::MemStore;

/// Whether the repository of `account` manages grant `g`: an explicit
/// grant on the account's resources made by one of its own principals.
/// Creators' implicit grants and another account's re-grants of what this
/// one shares with it are not.
pub(super) fn managed_grant(g: &Grant, account: &AccountId) -> bool {
    &g.account == account
        && matches!(&g.origin, GrantOrigin::Explicit { by } if by.account() == account)
}

/// Whether the repository manages filter `name` (a receiving account's
/// filters on this one's tables are stored as `NAME@ACCOUNT`; they are
/// that account's).
pub(super) fn managed_filter(name: &str) -> bool {
    !name.contains('@')
}

/// `cat` without the objects `account`'s repository manages.
pub(super) fn strip(cat: &Catalog, account: &AccountId) -> Catalog {
    let mut out = cat.clone();
    out.grants.retain(|_, g| !managed_grant(g, account));
    out.filters
        .retain(|(a, _, n), _| a != account || !managed_filter(n));
    out.tags.retain(|(a, _), _| a != account);
    out.tag_assignments.retain(|(a, _, _), _| a != account);
    out.links.retain(|(a, _), _| a != account);
    out.policies.remove(account);
    out
}

fn at<T>(l: &Located<T>) -> impl Fn(Error) -> Error + '_ {
    move |e| match e {
        Error::StoreUnavailable(_) | Error::Internal(_) | Error::Conflict => e,
        other => Error::invalid(format!(
            "{}: {other} (in a repository: edit this declaration and plan again)",
            l.at()
        )),
    }
}

fn spec(d: &super::GrantDecl) -> Result<ResourceSpec> {
    Ok(if d.catalog {
        ResourceSpec::Catalog
    } else if let Some(name) = &d.database {
        ResourceSpec::Database { name: name.clone() }
    } else if let Some(name) = &d.table {
        ResourceSpec::Table {
            name: name.clone(),
            columns: d.columns.clone(),
            exclude_columns: d.exclude_columns.clone(),
        }
    } else if let Some(name) = &d.data_filter {
        ResourceSpec::DataFilter { name: name.clone() }
    } else if let Some(uri) = &d.location {
        ResourceSpec::Location { uri: uri.clone() }
    } else if let Some(t) = &d.lf_tag {
        let (key, values) = t.split_once('=').ok_or_else(|| {
            Error::invalid(format!(
                "`lf_tag: {}` is not `KEY=V1,V2`",
                crate::model::clip(t)
            ))
        })?;
        ResourceSpec::LfTag {
            key: key.trim().to_string(),
            values: values.split(',').map(|v| v.trim().to_string()).collect(),
        }
    } else if let Some(p) = &d.tag_policy {
        ResourceSpec::LfTagPolicy {
            resource_type: p.resource_type.clone(),
            tags: p.tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            account: None,
        }
    } else {
        return Err(Error::invalid("a grant names no resource"));
    })
}

/// The catalog `repo` asks for: `current` without what the repository
/// manages, then every declaration replayed by `applier` through the admin
/// operations (tags, assignments, filters, grants, links, policies).
pub(super) fn replay(current: &Catalog, applier: &Caller, repo: &Repo) -> Result<Catalog> {
    let account = applier.account();
    let gov = Governance::new(Arc::new(MemStore::seeded(strip(current, account))))?;
    for t in &repo.tags {
        gov.create_lf_tag(applier, &t.item.key, &t.item.values)
            .map_err(at(t))?;
    }
    for a in &repo.assignments {
        let d = &a.item;
        gov.assign_lf_tags(
            applier,
            &TagAssignRequest {
                database: d.database.clone(),
                table: d.table.clone(),
                columns: d.columns.clone(),
                tags: d.tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            },
        )
        .map_err(at(a))?;
    }
    // Links before grants: a grant may name a link (DESCRIBE on it).
    for l in &repo.links {
        gov.create_link(applier, &l.item.name, &l.item.target)
            .map_err(at(l))?;
    }
    for f in &repo.filters {
        let d = &f.item;
        gov.create_data_filter(
            applier,
            &NewDataFilter {
                name: d.name.clone(),
                row_filter: d.row_filter.clone(),
                all_rows: d.all_rows,
                columns: d.columns.clone(),
                exclude_columns: d.exclude_columns.clone(),
            },
        )
        .map_err(at(f))?;
    }
    for g in &repo.grants {
        let d = &g.item;
        let req = GrantRequest {
            principal: d.principal.clone(),
            permissions: d.permissions.clone(),
            grantable: d.grantable.clone(),
            resource: spec(d).map_err(at(g))?,
            masks: d
                .masks
                .iter()
                .map(|(c, k)| (c.clone(), k.clone()))
                .collect(),
        };
        gov.grant(applier, &req).map_err(at(g))?;
    }
    if !repo.policies.is_empty() {
        gov.apply_policies(applier, &repo.policies)?;
    }
    let mut after = gov.snapshot()?.catalog.clone();
    after.version = current.version;
    drop_dangling(&mut after, account)?;
    keep_history(current, &mut after);
    // Who granted is history, not access: a grant the repository restates
    // unchanged keeps its grantor.
    for (id, g) in after.grants.iter_mut() {
        if let Some(old) = current.grants.get(id)
            && (Grant {
                origin: old.origin.clone(),
                ..g.clone()
            }) == *old
        {
            g.origin = old.origin.clone();
        }
    }
    Ok(after)
}

/// Objects the repository restates keep their history: a filter or link
/// that existed before keeps its creator (replaying it made the applier
/// its creator, with a creator's grant), so who plans or applies makes no
/// difference to the plan.
fn keep_history(current: &Catalog, after: &mut Catalog) {
    for (key, link) in after.links.iter_mut() {
        if let Some(old) = current.links.get(key)
            && old.target_account == link.target_account
            && old.target == link.target
        {
            link.created_by = old.created_by.clone();
        }
    }
    // Links that point where they pointed; a retargeted link is new.
    let same_link = |a: &AccountId, name: &crate::model::TableName| {
        let key = (a.clone(), name.clone());
        match (current.links.get(&key), after.links.get(&key)) {
            (Some(o), Some(l)) => o.target_account == l.target_account && o.target == l.target,
            _ => false,
        }
    };
    let keep: Vec<bool> = after
        .grants
        .iter()
        .map(|(id, g)| {
            if g.origin != GrantOrigin::Creator {
                return true;
            }
            let new = !current.grants.contains_key(id);
            match &g.resource {
                // Replaying a filter that existed made the applier its
                // creator again: keep only the original creator's grant.
                Resource::DataFilter { table, filter } => {
                    !(new
                        && current.filters.contains_key(&(
                            g.account.clone(),
                            table.clone(),
                            filter.clone(),
                        )))
                }
                // An unchanged link keeps its creator; a retargeted one is
                // its new creator's alone.
                Resource::ResourceLink { link } => {
                    if same_link(&g.account, link) {
                        !new
                    } else {
                        after
                            .links
                            .get(&(g.account.clone(), link.clone()))
                            .is_none_or(|l| l.created_by == g.principal)
                    }
                }
                _ => true,
            }
        })
        .collect();
    let mut keep = keep.into_iter();
    after.grants.retain(|_, _| keep.next().unwrap_or(true));
}

/// Removes the grants on filters, LF-tags and links of `account` that the
/// repository no longer declares (their creators' grants among them), as
/// `data-filter delete` does. Another account's re-grant on such an object
/// is refused instead: it is that account's to revoke.
fn drop_dangling(after: &mut Catalog, account: &AccountId) -> Result<()> {
    let gone = |g: &Grant| -> bool {
        let a = &g.account;
        match &g.resource {
            Resource::DataFilter { table, filter } => {
                !after
                    .filters
                    .contains_key(&(a.clone(), table.clone(), filter.clone()))
            }
            Resource::LfTag { key, .. } => !after.tags.contains_key(&(a.clone(), key.clone())),
            Resource::LfTagPolicy { expression, .. } => expression
                .keys()
                .any(|k| !after.tags.contains_key(&(a.clone(), k.clone()))),
            Resource::ResourceLink { link } => {
                !after.links.contains_key(&(a.clone(), link.clone()))
            }
            _ => false,
        }
    };
    let mut drop = Vec::new();
    for (id, g) in &after.grants {
        if &g.account != account || !gone(g) {
            continue;
        }
        match &g.origin {
            GrantOrigin::Explicit { by } if by.account() != account => {
                return Err(Error::FailedPrecondition(format!(
                    "{} is still re-granted by account `{}` to its principals, so the \
                     repository cannot remove it; ask that account's admin to revoke it first",
                    g.resource,
                    by.account()
                )));
            }
            _ => drop.push(id.clone()),
        }
    }
    for id in drop {
        after.grants.remove(&id);
    }
    Ok(())
}

/// The changes from `before` to `after`, as store changes (applied in
/// order: puts, then deletes of what nothing references any more) and as
/// reviewable entries.
pub(super) fn diff(before: &Catalog, after: &Catalog) -> Result<(Vec<Change>, Vec<ObjectChange>)> {
    type Objects = BTreeMap<(Kind, String), (Option<String>, Change)>;
    let index = |c: &Catalog| -> Result<Objects> {
        let mut m = BTreeMap::new();
        for put in c.puts() {
            let (kind, key, body) = put.storage()?;
            m.insert((kind, key), (body, put));
        }
        Ok(m)
    };
    let b = index(before)?;
    let a = index(after)?;
    let mut puts = Vec::new();
    let mut deletes = Vec::new();
    let mut shown = Vec::new();
    for (key, (body, put)) in &a {
        match b.get(key) {
            None => {
                puts.push(put.clone());
                shown.push(ObjectChange::new("add", None, Some(put))?);
            }
            Some((old, was)) if old != body => {
                puts.push(put.clone());
                shown.push(ObjectChange::new("change", Some(was), Some(put))?);
            }
            Some(_) => {}
        }
    }
    for (key, (_, was)) in &b {
        if !a.contains_key(key) {
            deletes.push(was.undo());
            shown.push(ObjectChange::new("remove", Some(was), None)?);
        }
    }
    puts.extend(deletes);
    Ok((puts, shown))
}
