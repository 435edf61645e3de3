//! Re-granting what another account shares (DESIGN §3 rule 6): the
//! receiving account's data lake admin names the owner's table as
//! `ACCOUNT:DB.TABLE` and grants SELECT or DESCRIBE on it (any of its
//! columns, with masks) to principals of its own account. The grant is
//! kept under the owning account, like every grant on that table; what the
//! principal may read is then the share intersected with this grant
//! (`crate::share`), decided at query time.

use std::collections::{BTreeMap, BTreeSet};

use super::permissions::{GrantRequest, RevokeOutcome, merge_columns, subtract_columns};
use super::resources::ResourceSpec;
use super::{Governance, Snapshot, grant_id};
use crate::access::table_not_found;
use crate::authorize::{Authorizer, PrincipalCtx, Target};
use crate::catalog::Change;
use crate::compile;
use crate::error::{Error, Result};
use crate::model::{
    AccountId, Caller, ColumnMask, ColumnSelection, Grant, GrantOrigin, Permission, Principal,
    Resource, TableName,
};

/// The owning account of a table named `ACCOUNT:DB.TABLE` in a grant, if
/// it names another account's table.
pub(crate) fn shared_owner(caller: &Caller, spec: &ResourceSpec) -> Result<Option<AccountId>> {
    let acct = match spec {
        ResourceSpec::Table { name, .. } => match name.split_once(':') {
            Some((acct, _)) => acct,
            None => return Ok(None),
        },
        ResourceSpec::LfTagPolicy {
            account: Some(acct),
            ..
        } => acct.as_str(),
        ResourceSpec::DataFilter { name } => match name.split_once(':') {
            Some((acct, _)) => acct,
            None => return Ok(None),
        },
        _ => return Ok(None),
    };
    let owner = AccountId::parse(acct)?;
    Ok((&owner != caller.account()).then_some(owner))
}

/// A re-grant on a shared table, checked: (principal, resource, perms, masks).
pub(super) type Checked = (
    Principal,
    Resource,
    BTreeSet<Permission>,
    BTreeMap<String, ColumnMask>,
);

impl Governance {
    /// What every re-grant of a share needs, whatever it names: a data lake
    /// admin of the receiving account, granting SELECT or DESCRIBE without
    /// the grant option to a principal of that account.
    pub(super) fn regrant_basics(
        &self,
        snap: &Snapshot,
        caller: &Caller,
        owner: &AccountId,
        req: &GrantRequest,
    ) -> Result<(Principal, BTreeSet<Permission>)> {
        let home = caller.account();
        if !self.is_admin(snap, caller) {
            return Err(Error::denied(format!(
                "only a data lake admin of `{home}` re-grants what account `{owner}` shares; \
                 ask one"
            )));
        }
        let principal = Principal::parse(&req.principal)?;
        if principal.kind().is_none() || principal.account() != home {
            return Err(Error::invalid(format!(
                "`{principal}` is not a user, role or group of account `{home}`: what account \
                 `{owner}` shares may be re-granted only to principals of `{home}`, never \
                 shared on with another account"
            )));
        }
        let perms = Self::parse_perms(&req.permissions)?;
        if !req.grantable.is_empty() {
            return Err(Error::invalid(
                "the grant option on another account's resources cannot be passed on; grant \
                 without --grantable",
            ));
        }
        if perms.is_empty() {
            return Err(Error::invalid(
                "name at least one permission with --permissions",
            ));
        }
        if let Some(p) = perms
            .iter()
            .find(|p| !matches!(p, Permission::Select | Permission::Describe))
        {
            return Err(Error::invalid(format!(
                "{p} cannot be re-granted on another account's resources; only SELECT and \
                 DESCRIBE can"
            )));
        }
        Ok((principal, perms))
    }

    /// Checks a grant or revoke on `owner`'s table by the receiving
    /// account's admin.
    fn check_share_regrant(
        &self,
        snap: &Snapshot,
        caller: &Caller,
        owner: &AccountId,
        req: &GrantRequest,
        revoke: bool,
    ) -> Result<Checked> {
        match &req.resource {
            ResourceSpec::LfTagPolicy { .. } => {
                return self.check_tag_share_regrant(snap, caller, owner, req, revoke);
            }
            ResourceSpec::DataFilter { .. } => {
                return self.check_filter_share_regrant(snap, caller, owner, req, revoke);
            }
            _ => {}
        }
        let (principal, perms) = self.regrant_basics(snap, caller, owner, req)?;
        let ResourceSpec::Table {
            name,
            columns,
            exclude_columns,
        } = &req.resource
        else {
            return Err(Error::invalid("name the shared table as ACCOUNT:DB.TABLE"));
        };
        let tname = TableName::parse(name.split_once(':').map_or(name.as_str(), |(_, t)| t))?;
        let Some(table) = snap.catalog.table(owner, &tname) else {
            return Err(table_not_found(&tname));
        };
        let home = caller.account();
        // A revoke needs no share: the receiving admin can always take back
        // its own re-grants, also after the owner revoked or narrowed the
        // share (so that sharing again does not bring them back).
        if revoke {
            let resource = match (columns.is_empty(), exclude_columns.is_empty()) {
                (true, true) => Resource::Table { table: tname },
                (false, true) => Resource::TableWithColumns {
                    table: tname,
                    columns: ColumnSelection::Include(
                        columns.iter().map(|c| c.to_ascii_lowercase()).collect(),
                    ),
                },
                _ => {
                    return Err(Error::invalid(
                        "--exclude-columns cannot be revoked on another account's table; revoke \
                         the whole table, or name the --columns to take off",
                    ));
                }
            };
            return Ok((principal, resource, perms, BTreeMap::new()));
        }
        // What account `home` holds: nothing at all is a table that does
        // not exist; held without the grant option is a refusal.
        let shared = PrincipalCtx::account(home)?;
        let authz = Authorizer::new(&snap.catalog, &snap.compiled);
        let holds = |action: &str| -> Result<bool> {
            if authz
                .decide(
                    &shared,
                    action,
                    &Target::Table(owner.clone(), tname.clone()),
                )?
                .allowed
            {
                return Ok(true);
            }
            for c in &table.columns {
                let t = Target::Column(owner.clone(), tname.clone(), c.name.clone());
                if authz.decide(&shared, action, &t)?.allowed {
                    return Ok(true);
                }
            }
            // A shared data cells filter of the table counts too: the
            // intersection applies its rows and columns.
            for (a, t, f) in snap.catalog.filters.keys() {
                if a == owner && t == &tname {
                    let target = Target::DataFilter(owner.clone(), tname.clone(), f.clone());
                    if authz.decide(&shared, action, &target)?.allowed {
                        return Ok(true);
                    }
                }
            }
            Ok(false)
        };
        // The grant option for `p`; SELECT's also passes DESCRIBE on.
        let passes = |p: Permission| -> Result<bool> {
            Ok(holds(&compile::grant_action_name(p))?
                || (p == Permission::Describe
                    && holds(&compile::grant_action_name(Permission::Select))?))
        };
        // DESCRIBE alone (a share of the table's metadata, no data): no
        // columns are read, so no readable share is needed, only its grant
        // option.
        if perms == BTreeSet::from([Permission::Describe])
            && columns.is_empty()
            && exclude_columns.is_empty()
            && req.masks.is_empty()
        {
            if !holds(Permission::Describe.as_str())? && !holds(Permission::Select.as_str())? {
                return Err(table_not_found(&tname));
            }
            if !passes(Permission::Describe)? {
                return Err(Error::denied(format!(
                    "account `{owner}` shares `{tname}` with `{home}` without the grant option \
                     for DESCRIBE, so it reaches no principal of `{home}`; ask `{owner}` to \
                     grant it with --grantable DESCRIBE"
                )));
            }
            return Ok((
                principal,
                Resource::Table { table: tname },
                perms,
                BTreeMap::new(),
            ));
        }
        // Only the columns the share shows exist for the receiving account
        // (rule 3): naming another is the error naming a missing one.
        // A share held without the grant option reaches no principal of
        // `home`: said plainly to its admin, who can see the share.
        let share = match crate::access::share_access(
            &snap.catalog,
            &snap.compiled,
            home,
            owner,
            &tname,
        ) {
            Ok(s) => s,
            Err(_)
                if holds(Permission::Select.as_str())? || holds(Permission::Describe.as_str())? =>
            {
                return Err(Error::denied(format!(
                    "account `{owner}` shares `{tname}` with `{home}` without the grant option, \
                     so it reaches no principal of `{home}`; ask `{owner}` to grant it with \
                     --grantable SELECT"
                )));
            }
            Err(_) => return Err(table_not_found(&tname)),
        };
        for p in &perms {
            if !passes(*p)? {
                return Err(Error::denied(format!(
                    "account `{owner}` shares `{tname}` with `{home}` without the grant option \
                     for {p}, so it reaches no principal of `{home}`; ask `{owner}` to grant it \
                     with --grantable {p}"
                )));
            }
        }
        let known = |list: &[String]| -> Result<BTreeSet<String>> {
            list.iter()
                .map(|c| {
                    let c = c.to_ascii_lowercase();
                    if share.columns.iter().any(|x| x.name == c) {
                        Ok(c)
                    } else {
                        Err(Error::invalid(format!(
                            "column `{}` does not exist in `{owner}:{tname}`; its columns are: {}",
                            crate::model::clip(&c),
                            share
                                .columns
                                .iter()
                                .map(|x| x.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )))
                    }
                })
                .collect()
        };
        let resource = match (columns.is_empty(), exclude_columns.is_empty()) {
            (true, true) => Resource::Table {
                table: tname.clone(),
            },
            (false, true) => Resource::TableWithColumns {
                table: tname.clone(),
                columns: ColumnSelection::Include(known(columns)?),
            },
            (true, false) => Resource::TableWithColumns {
                table: tname.clone(),
                columns: ColumnSelection::Exclude(known(exclude_columns)?),
            },
            (false, false) => {
                return Err(Error::invalid(
                    "give either --columns or --exclude-columns, not both",
                ));
            }
        };
        let mut masks = BTreeMap::new();
        for (c, m) in &req.masks {
            let cols = known(std::slice::from_ref(c))?;
            let mask = ColumnMask::parse(m)?;
            // An expression is evaluated over the owner's whole row, so it
            // could read columns the share does not show: refused.
            if matches!(mask, ColumnMask::Expr(_)) {
                return Err(Error::invalid(format!(
                    "an expression mask cannot be set on another account's table (it could \
                     read columns `{owner}` does not share); use null, redact, last4 or hash"
                )));
            }
            for c in cols {
                masks.insert(c, mask.clone());
            }
        }
        Ok((principal, resource, perms, masks))
    }

    /// `grant` on `owner`'s shared table (see the module docs).
    pub(super) fn grant_on_share(
        &self,
        caller: &Caller,
        owner: &AccountId,
        req: &GrantRequest,
    ) -> Result<Grant> {
        self.mutate(|snap| {
            let (principal, resource, perms, masks) =
                self.check_share_regrant(snap, caller, owner, req, false)?;
            let id = grant_id(owner, &principal, &resource);
            let g = match snap.catalog.grants.get(&id) {
                Some(old) => {
                    let resource = match (&old.resource, &resource) {
                        (
                            Resource::TableWithColumns { columns: had, .. },
                            Resource::TableWithColumns { table, columns },
                        ) => Resource::TableWithColumns {
                            table: table.clone(),
                            columns: merge_columns(had, columns),
                        },
                        _ => resource.clone(),
                    };
                    let mut m = old.masks.clone();
                    m.extend(masks.clone());
                    Grant {
                        resource,
                        permissions: &old.permissions | &perms,
                        masks: m,
                        ..old.clone()
                    }
                }
                None => Grant {
                    id: id.clone(),
                    account: owner.clone(),
                    principal: principal.clone(),
                    resource: resource.clone(),
                    permissions: perms.clone(),
                    grantable: BTreeSet::new(),
                    masks: masks.clone(),
                    origin: GrantOrigin::Explicit {
                        by: caller.principal.clone(),
                    },
                },
            };
            let changes = if snap.catalog.grants.get(&id) == Some(&g) {
                Vec::new()
            } else {
                vec![Change::PutGrant(g.clone())]
            };
            Ok((changes, g))
        })
    }

    /// `revoke` on `owner`'s shared table: the named permissions (and, with
    /// a column list, those columns) come off the principal's re-grants.
    pub(super) fn revoke_on_share(
        &self,
        caller: &Caller,
        owner: &AccountId,
        req: &GrantRequest,
    ) -> Result<RevokeOutcome> {
        self.mutate(|snap| {
            let (principal, resource, perms, _) =
                self.check_share_regrant(snap, caller, owner, req, true)?;
            if let Resource::LfTagPolicy { .. } | Resource::DataFilter { .. } = &resource {
                // A tag or filter re-grant is one grant per resource.
                let mut out = RevokeOutcome {
                    removed: Vec::new(),
                    narrowed: Vec::new(),
                };
                let id = grant_id(owner, &principal, &resource);
                let Some(g) = snap
                    .catalog
                    .grants
                    .get(&id)
                    .filter(|g| !g.permissions.is_disjoint(&perms))
                else {
                    return Err(super::permissions::nothing_to_revoke(&principal, &resource));
                };
                let mut next = g.clone();
                next.permissions = &g.permissions - &perms;
                let change = if next.permissions.is_empty() {
                    out.removed.push(id.clone());
                    Change::DeleteGrant { id }
                } else {
                    out.narrowed.push(next.clone());
                    Change::PutGrant(next)
                };
                return Ok((vec![change], out));
            }
            let table = match &resource {
                Resource::Table { table } | Resource::TableWithColumns { table, .. } => table,
                _ => return Err(Error::invalid("name the shared table as ACCOUNT:DB.TABLE")),
            };
            let mut out = RevokeOutcome {
                removed: Vec::new(),
                narrowed: Vec::new(),
            };
            let mut changes = Vec::new();
            for g in snap.catalog.grants.values().filter(|g| {
                &g.account == owner
                    && g.principal == principal
                    && matches!(&g.resource,
                        Resource::Table { table: t } | Resource::TableWithColumns { table: t, .. }
                        if t == table)
            }) {
                let mut next = g.clone();
                match (&resource, &g.resource) {
                    (
                        Resource::TableWithColumns { columns: off, .. },
                        Resource::TableWithColumns { columns: had, .. },
                    ) if perms.contains(&Permission::Select) => {
                        next.resource = Resource::TableWithColumns {
                            table: table.clone(),
                            columns: subtract_columns(had, off),
                        };
                    }
                    _ => next.permissions = &g.permissions - &perms,
                }
                let empty = next.permissions.is_empty()
                    || matches!(&next.resource,
                        Resource::TableWithColumns { columns: ColumnSelection::Include(c), .. }
                        if c.is_empty());
                if empty {
                    changes.push(Change::DeleteGrant { id: g.id.clone() });
                    out.removed.push(g.id.clone());
                } else if next != *g {
                    changes.push(Change::PutGrant(next.clone()));
                    out.narrowed.push(next);
                }
            }
            Ok((changes, out))
        })
    }
}
