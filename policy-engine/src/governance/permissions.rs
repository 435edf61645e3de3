//! `grant`, `revoke` and `permissions list` (DESIGN §3 rules 10 and 11).
//!
//! Grants merge per (principal, resource): the grant id is a hash of both
//! (`grant_id`), so granting twice is idempotent and revoke finds exactly
//! what to narrow. A request is authorized (grant option, own grants) before
//! anything else about it is checked; the grant option itself is decided in
//! [`crate::grants`].

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::catalog::Change;
use crate::compile;
use crate::error::{Error, Result};
use crate::governance::{Governance, ResourceSpec, Snapshot, grant_id};
use crate::model::{
    Caller, ColumnSelection, Grant, GrantOrigin, Permission, Principal, Resource, TableName, ident,
};

/// A grant or revoke request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantRequest {
    /// Grantee, `ACCOUNT:user/NAME` etc.
    pub principal: String,
    /// Permissions to grant or revoke.
    pub permissions: Vec<String>,
    /// Permissions with the grant option.
    pub grantable: Vec<String>,
    /// The resource.
    pub resource: ResourceSpec,
    /// `COLUMN=KIND` masks (grant only).
    pub masks: Vec<(String, String)>,
}

/// Filter for `permissions list`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermissionFilter {
    /// Only this principal's entries.
    pub principal: Option<String>,
    /// Only entries on this database (and its tables).
    pub database: Option<String>,
    /// Only entries on this table.
    pub table: Option<String>,
}

/// One row of `permissions list`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermissionEntry {
    /// The grant id, or `admin:…` for implicit admin rights.
    pub id: String,
    /// Grantee.
    pub principal: String,
    /// Resource, as text.
    pub resource: String,
    /// The resource, structured (absent for implicit admin rights).
    pub resource_detail: Option<Resource>,
    /// Permissions.
    pub permissions: Vec<String>,
    /// Permissions with grant option.
    pub grantable: Vec<String>,
    /// Masks, `COLUMN=KIND`.
    pub masks: Vec<String>,
    /// `grant` (explicit), `creator` or `admin`.
    pub origin: String,
    /// Who granted it, for explicit grants.
    pub granted_by: Option<String>,
}

/// The outcome of a revoke.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokeOutcome {
    /// Grants removed entirely.
    pub removed: Vec<String>,
    /// Grants narrowed (their new state).
    pub narrowed: Vec<Grant>,
}

impl Governance {
    pub(super) fn parse_perms(list: &[String]) -> Result<BTreeSet<Permission>> {
        list.iter().map(|p| Permission::parse(p)).collect()
    }

    /// Validates a grant request and returns the resolved pieces.
    fn prepare(
        &self,
        snap: &Snapshot,
        caller: &Caller,
        req: &GrantRequest,
        revoke: bool,
    ) -> Result<(
        Principal,
        Resource,
        BTreeSet<Permission>,
        BTreeSet<Permission>,
    )> {
        let principal = Principal::parse(&req.principal)?;
        let acct = caller.account();
        match &principal {
            Principal::Account(b) => crate::share::check_grantee(&snap.catalog, acct, b)?,
            p if p.kind().is_some() && p.account() == acct => {}
            p => {
                return Err(Error::invalid(format!(
                    "`{p}` is a principal of account `{}`, not of `{acct}`; share with that \
                     account itself (`--principal {}`), and its data lake admin re-grants to its \
                     principals",
                    p.account(),
                    p.account()
                )));
            }
        }
        let resource = self.resolve(snap, caller, &req.resource)?;
        let perms = Self::parse_perms(&req.permissions)?;
        let grantable = Self::parse_perms(&req.grantable)?;
        if let Principal::Account(b) = &principal {
            crate::share::check_shareable(b, &resource, &(&perms | &grantable))?;
        }
        if perms.is_empty() && (!revoke || grantable.is_empty()) {
            return Err(Error::invalid(
                "name at least one permission with --permissions",
            ));
        }
        let valid = resource.valid_permissions();
        for p in perms.iter().chain(grantable.iter()) {
            if !valid.contains(p) {
                let hint = match &resource {
                    Resource::ResourceLink { link } => snap
                        .catalog
                        .links
                        .get(&(acct.clone(), link.clone()))
                        .map(|l| {
                            format!(
                                "; a grant on a link concerns the link itself, so grant {p} on \
                                 the table it points at, `{}:{}`",
                                l.target_account, l.target
                            )
                        })
                        .unwrap_or_default(),
                    _ => String::new(),
                };
                return Err(Error::invalid(format!(
                    "{p} cannot be granted on a {}; valid permissions are: {}{hint}",
                    resource.kind_name(),
                    valid
                        .iter()
                        .map(|p| p.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
        if !revoke && !grantable.is_subset(&perms) {
            return Err(Error::invalid(
                "--grantable must be a subset of --permissions",
            ));
        }
        if !revoke
            && !grantable.is_empty()
            && matches!(
                resource,
                Resource::TableWithColumns {
                    columns: ColumnSelection::Exclude(_),
                    ..
                }
            )
        {
            return Err(Error::invalid(
                "an exclude column list cannot be granted with the grant option; \
                 grant an explicit --columns list instead",
            ));
        }
        // Authorize before looking at anything else that exists (DESIGN §4).
        self.refuse_own_grants(snap, caller, &principal)?;
        self.check_grant_option(snap, caller, &resource, &(&perms | &grantable))?;
        self.check_exists(snap, caller, &resource)?;
        Ok((principal, resource, perms, grantable))
    }

    /// `grant`: adds permissions, merging with the principal's existing
    /// grant on the same resource.
    pub fn grant(&self, caller: &Caller, req: &GrantRequest) -> Result<Grant> {
        if let Some(owner) = super::shares::shared_owner(caller, &req.resource)? {
            return self.grant_on_share(caller, &owner, req);
        }
        self.mutate(|snap| {
            let (principal, resource, perms, grantable) = self.prepare(snap, caller, req, false)?;
            let masks = self.check_masks(snap, caller, &resource, &perms, &req.masks)?;
            // A non-admin's re-grant carries its own masks (rules 8, 10).
            let masks = self.regrant_masks(snap, caller, &resource, &perms, masks)?;
            let acct = caller.account().clone();
            let id = grant_id(&acct, &principal, &resource);
            let mut changes = Vec::new();
            let g = match (snap.catalog.grants.get(&id), &resource) {
                (
                    Some(old),
                    Resource::TableWithColumns {
                        table,
                        columns: new,
                    },
                ) => {
                    let merged = merge_columns(old_columns(old), new);
                    let resource = Resource::TableWithColumns {
                        table: table.clone(),
                        columns: merged.clone(),
                    };
                    if !old.grantable.is_empty() && matches!(merged, ColumnSelection::Exclude(_)) {
                        return Err(Error::invalid(
                            "this grant would turn a grantable column list into an exclude list, \
                             which cannot carry the grant option; revoke the grant option first",
                        ));
                    }
                    // A re-grant restates the masks of the columns it names:
                    // a column named without a mask is now shown in the clear.
                    let mut m = old.masks.clone();
                    m.retain(|c, _| !new.contains(c));
                    m.extend(masks.clone());
                    Grant {
                        id: id.clone(),
                        account: acct.clone(),
                        principal: principal.clone(),
                        resource,
                        permissions: &old.permissions | &perms,
                        grantable: &old.grantable | &grantable,
                        masks: m,
                        origin: GrantOrigin::Explicit {
                            by: caller.principal.clone(),
                        },
                    }
                }
                (Some(old), _) => {
                    // A table-level re-grant restates every column's mask.
                    // (Only a re-grant of SELECT does: granting DESCRIBE again
                    // must never unmask anything.)
                    let m = if matches!(resource, Resource::Table { .. })
                        && (perms.contains(&Permission::Select) || perms.contains(&Permission::All))
                    {
                        masks.clone()
                    } else {
                        let mut m = old.masks.clone();
                        m.extend(masks.clone());
                        m
                    };
                    // One grant per LF-tag key: a re-grant naming other
                    // values of the key adds them (it used to keep only the
                    // old values, silently granting nothing new).
                    let resource = match (&old.resource, &resource) {
                        (
                            Resource::LfTag { key, values: had },
                            Resource::LfTag { values: add, .. },
                        ) => Resource::LfTag {
                            key: key.clone(),
                            values: had | add,
                        },
                        _ => old.resource.clone(),
                    };
                    Grant {
                        resource,
                        permissions: &old.permissions | &perms,
                        grantable: &old.grantable | &grantable,
                        masks: m,
                        ..old.clone()
                    }
                }
                (None, _) => Grant {
                    id: id.clone(),
                    account: acct.clone(),
                    principal: principal.clone(),
                    resource: resource.clone(),
                    permissions: perms.clone(),
                    grantable: grantable.clone(),
                    masks: masks.clone(),
                    origin: GrantOrigin::Explicit {
                        by: caller.principal.clone(),
                    },
                },
            };
            if snap.catalog.grants.get(&id) != Some(&g) {
                changes.push(Change::PutGrant(g.clone()));
            }
            Ok((changes, g))
        })
    }

    /// `revoke`: takes away access, never less than asked (rule 11).
    pub fn revoke(&self, caller: &Caller, req: &GrantRequest) -> Result<RevokeOutcome> {
        if let Some(owner) = super::shares::shared_owner(caller, &req.resource)? {
            return self.revoke_on_share(caller, &owner, req);
        }
        self.mutate(|snap| {
            let (principal, resource, perms, grantable_only) =
                self.prepare(snap, caller, req, true)?;
            let acct = caller.account().clone();
            let mut changes = Vec::new();
            let mut out = RevokeOutcome {
                removed: Vec::new(),
                narrowed: Vec::new(),
            };
            let put = |g: Grant, changes: &mut Vec<Change>, out: &mut RevokeOutcome| {
                if g.permissions.is_empty() {
                    changes.push(Change::DeleteGrant { id: g.id.clone() });
                    out.removed.push(g.id);
                } else {
                    changes.push(Change::PutGrant(g.clone()));
                    out.narrowed.push(g);
                }
            };
            let expand_all = |set: &BTreeSet<Permission>, r: &Resource| {
                // Revoking ALL removes ALL and every concrete permission.
                let mut s = compile::expand(set, r);
                if set.contains(&Permission::All) {
                    s.insert(Permission::All);
                }
                s
            };
            let strip = |g: &Grant| -> Grant {
                let rm = expand_all(&perms, &g.resource);
                let rm_go = &rm | &expand_all(&grantable_only, &g.resource);
                let mut n = g.clone();
                // Revoking a concrete permission out of ALL leaves the rest.
                if n.permissions.contains(&Permission::All)
                    && !rm.contains(&Permission::All)
                    && !rm.is_empty()
                {
                    n.permissions.remove(&Permission::All);
                    n.permissions
                        .extend(compile::expand(&[Permission::All].into(), &g.resource));
                }
                if n.grantable.contains(&Permission::All)
                    && !rm_go.contains(&Permission::All)
                    && !rm_go.is_empty()
                {
                    n.grantable.remove(&Permission::All);
                    n.grantable
                        .extend(compile::expand(&[Permission::All].into(), &g.resource));
                }
                n.permissions.retain(|p| !rm.contains(p));
                n.grantable
                    .retain(|p| !rm_go.contains(p) && n.permissions.contains(p));
                n
            };
            let id = grant_id(&acct, &principal, &resource);
            match &resource {
                Resource::Table { table } => {
                    let mut touched = false;
                    if let Some(g) = snap.catalog.grants.get(&id) {
                        let n = strip(g);
                        if &n != g {
                            put(n, &mut changes, &mut out);
                            touched = true;
                        }
                    }
                    // Revoking SELECT on the table also removes column grants.
                    if perms.contains(&Permission::Select) || perms.contains(&Permission::All) {
                        let cid = grant_id(
                            &acct,
                            &principal,
                            &Resource::TableWithColumns {
                                table: table.clone(),
                                columns: ColumnSelection::All,
                            },
                        );
                        if snap.catalog.grants.contains_key(&cid) {
                            changes.push(Change::DeleteGrant { id: cid.clone() });
                            out.removed.push(cid);
                            touched = true;
                        }
                    } else if grantable_only.contains(&Permission::Select) {
                        let cid = grant_id(
                            &acct,
                            &principal,
                            &Resource::TableWithColumns {
                                table: table.clone(),
                                columns: ColumnSelection::All,
                            },
                        );
                        if let Some(cg) = snap.catalog.grants.get(&cid) {
                            let mut n = cg.clone();
                            n.grantable.clear();
                            if &n != cg {
                                put(n, &mut changes, &mut out);
                                touched = true;
                            }
                        }
                    }
                    if !touched {
                        return Err(nothing_to_revoke(&principal, &resource));
                    }
                }
                Resource::TableWithColumns { table, columns } => {
                    let mut touched = false;
                    let cid = id.clone();
                    let tid = grant_id(
                        &acct,
                        &principal,
                        &Resource::Table {
                            table: table.clone(),
                        },
                    );
                    let table_select = snap
                        .catalog
                        .grants
                        .get(&tid)
                        .filter(|g| {
                            compile::expand(&g.permissions, &g.resource)
                                .contains(&Permission::Select)
                        })
                        .cloned();
                    let existing = snap.catalog.grants.get(&cid).cloned();
                    let revoking_select = perms.contains(&Permission::Select);
                    if revoking_select {
                        if let Some(tg) = &table_select {
                            // Table-level SELECT minus these columns becomes an
                            // exclude list (which cannot carry the grant option).
                            let mut n = tg.clone();
                            if n.permissions.contains(&Permission::All) {
                                n.permissions.remove(&Permission::All);
                                n.permissions.extend(compile::expand(
                                    &[Permission::All].into(),
                                    &tg.resource,
                                ));
                            }
                            if n.grantable.contains(&Permission::All) {
                                n.grantable.remove(&Permission::All);
                                n.grantable.extend(compile::expand(
                                    &[Permission::All].into(),
                                    &tg.resource,
                                ));
                            }
                            n.permissions.remove(&Permission::Select);
                            n.grantable.remove(&Permission::Select);
                            put(n, &mut changes, &mut out);
                            let excl = match columns {
                                ColumnSelection::Include(c) => c.clone(),
                                _ => BTreeSet::new(),
                            };
                            let ng = Grant {
                                id: cid.clone(),
                                account: acct.clone(),
                                principal: principal.clone(),
                                resource: Resource::TableWithColumns {
                                    table: table.clone(),
                                    columns: ColumnSelection::Exclude(excl),
                                },
                                permissions: [Permission::Select].into(),
                                grantable: BTreeSet::new(),
                                masks: tg
                                    .masks
                                    .iter()
                                    .filter(|(c, _)| !columns.contains(c))
                                    .map(|(c, m)| (c.clone(), m.clone()))
                                    .collect(),
                                origin: GrantOrigin::Explicit {
                                    by: caller.principal.clone(),
                                },
                            };
                            changes.push(Change::PutGrant(ng.clone()));
                            out.narrowed.push(ng);
                            touched = true;
                        } else if let Some(cg) = &existing {
                            let left = subtract_columns(old_columns(cg), columns);
                            let mut n = cg.clone();
                            n.masks.retain(|c, _| left.contains(c));
                            if matches!(&left, ColumnSelection::Include(s) if s.is_empty()) {
                                n.permissions.clear();
                            }
                            n.resource = Resource::TableWithColumns {
                                table: table.clone(),
                                columns: left,
                            };
                            if matches!(
                                n.resource,
                                Resource::TableWithColumns {
                                    columns: ColumnSelection::Exclude(_),
                                    ..
                                }
                            ) {
                                n.grantable.clear();
                            }
                            put(n, &mut changes, &mut out);
                            touched = true;
                        }
                    } else if grantable_only.contains(&Permission::Select)
                        && let Some(cg) = &existing
                    {
                        let mut n = cg.clone();
                        n.grantable.clear();
                        if &n != cg {
                            put(n, &mut changes, &mut out);
                            touched = true;
                        }
                    }
                    if !touched {
                        return Err(nothing_to_revoke(&principal, &resource));
                    }
                }
                _ => match snap.catalog.grants.get(&id) {
                    Some(g) => {
                        let n = strip(g);
                        if &n == g {
                            return Err(nothing_to_revoke(&principal, &resource));
                        }
                        put(n, &mut changes, &mut out);
                    }
                    None => return Err(nothing_to_revoke(&principal, &resource)),
                },
            }
            Ok((changes, out.clone()))
        })
    }

    /// `permissions list`: admins see every grant of their account and the
    /// implicit admin rights; others see grants to themselves and their
    /// groups, and grants they made.
    pub fn list_permissions(
        &self,
        caller: &Caller,
        filter: &PermissionFilter,
    ) -> Result<Vec<PermissionEntry>> {
        let snap = self.snapshot()?;
        let acct = caller.account();
        let admin = self.is_admin(&snap, caller);
        let want_principal = filter
            .principal
            .as_deref()
            .map(Principal::parse)
            .transpose()?;
        let want_db = filter
            .database
            .as_deref()
            .map(|d| ident(d, "database"))
            .transpose()?;
        let want_table = filter.table.as_deref().map(TableName::parse).transpose()?;
        let mine: Vec<&Principal> = std::iter::once(&caller.principal)
            .chain(caller.groups.iter())
            .collect();
        let mut out = Vec::new();
        if want_db.is_none() && want_table.is_none() {
            for (a, p) in &snap.catalog.admins {
                if a != acct || want_principal.as_ref().is_some_and(|w| w != p) {
                    continue;
                }
                if !admin && !mine.contains(&p) {
                    continue;
                }
                out.push(PermissionEntry {
                    id: format!("admin:{a}:{p}"),
                    principal: p.to_string(),
                    resource: format!("everything in account {a}"),
                    resource_detail: None,
                    permissions: vec!["ALL".into()],
                    grantable: vec!["ALL".into()],
                    masks: vec![],
                    origin: "admin".into(),
                    granted_by: None,
                });
            }
        }
        for g in snap.catalog.grants.values() {
            // Which grants concern this account (rule 6): its own on its
            // resources, except another account's re-grants of what it shares
            // (that account's business, its principals' names included); on
            // another account's resources, a share it received (shown to its
            // admins) and its own re-grants of shared tables.
            let foreign = &g.account != acct;
            let received = g.principal == Principal::Account(acct.clone());
            let to_own_principal = g.principal.kind().is_some() && g.principal.account() == acct;
            let concerns = match (foreign, received) {
                (false, _) => g.principal.kind().is_none() || to_own_principal,
                (true, true) => admin,
                (true, false) => to_own_principal,
            };
            if !concerns {
                continue;
            }
            if let Some(w) = &want_principal
                && &g.principal != w
            {
                continue;
            }
            let by_me =
                matches!(&g.origin, GrantOrigin::Explicit { by } if by == &caller.principal);
            if !admin && !mine.contains(&&g.principal) && !by_me {
                continue;
            }
            if let Some(t) = &want_table
                && g.resource.table() != Some(t)
            {
                continue;
            }
            if let Some(d) = &want_db {
                let on_db = match &g.resource {
                    Resource::Database { database } => database == d,
                    r => r.table().is_some_and(|t| &t.database == d),
                };
                if !on_db {
                    continue;
                }
            }
            out.push(PermissionEntry {
                id: g.id.clone(),
                principal: g.principal.to_string(),
                resource: if foreign {
                    g.resource.display_in(&g.account)
                } else {
                    g.resource.to_string()
                },
                resource_detail: Some(g.resource.clone()),
                permissions: g.permissions.iter().map(|p| p.to_string()).collect(),
                grantable: g.grantable.iter().map(|p| p.to_string()).collect(),
                masks: g.masks.iter().map(|(c, m)| format!("{c}={m}")).collect(),
                origin: match &g.origin {
                    _ if foreign && received => "share".into(),
                    GrantOrigin::Creator => "creator".into(),
                    GrantOrigin::Explicit { .. } => "grant".into(),
                },
                // Who in the owner account granted a share is its business.
                granted_by: match &g.origin {
                    _ if foreign && received => None,
                    GrantOrigin::Explicit { by } => Some(by.to_string()),
                    GrantOrigin::Creator => None,
                },
            });
        }
        out.sort_by(|a, b| (&a.principal, &a.resource).cmp(&(&b.principal, &b.resource)));
        Ok(out)
    }
}

pub(super) fn nothing_to_revoke(p: &Principal, r: &Resource) -> Error {
    Error::FailedPrecondition(format!(
        "`{p}` holds none of those permissions on {r}; nothing was revoked \
         (see `lakegate permissions list --principal {p}`)"
    ))
}

fn old_columns(g: &Grant) -> &ColumnSelection {
    match &g.resource {
        Resource::TableWithColumns { columns, .. } => columns,
        _ => &ColumnSelection::All,
    }
}

/// Union of two column selections.
pub fn merge_columns(a: &ColumnSelection, b: &ColumnSelection) -> ColumnSelection {
    use ColumnSelection::*;
    match (a, b) {
        (All, _) | (_, All) => All,
        (Include(x), Include(y)) => Include(x | y),
        (Include(i), Exclude(e)) | (Exclude(e), Include(i)) => Exclude(e - i),
        (Exclude(x), Exclude(y)) => Exclude(x & y),
    }
}

/// `a` minus the columns `b` names (b is an include list).
pub fn subtract_columns(a: &ColumnSelection, b: &ColumnSelection) -> ColumnSelection {
    use ColumnSelection::*;
    let names = match b {
        Include(s) => s.clone(),
        Exclude(_) | All => return Include(BTreeSet::new()),
    };
    match a {
        All => Exclude(names),
        Include(x) => Include(x - &names),
        Exclude(e) => Exclude(e | &names),
    }
}
