//! Resource links (DESIGN §3 rule 6): `DB.NAME` in the caller's catalog
//! standing for a table another account shares with it. Creating one needs
//! CREATE_TABLE on the database (as a table would) and a share of the target
//! with the caller's account; a link to a table that does not exist, or is
//! not shared, is refused exactly as a missing table is. A link is a Table
//! entity of its own catalog: grants on it (DESCRIBE, DROP; the creator gets
//! both with the grant option) concern the link, and querying through it
//! needs DESCRIBE on the link as well as SELECT on the target. Queries through a
//! link read the target with the share intersected with the caller's own
//! grants (`crate::share`); once the share is revoked the link answers like
//! a table that does not exist.

use std::collections::{BTreeMap, BTreeSet};

use super::{Governance, Snapshot, grant_id};
use crate::access::table_not_found;
use crate::authorize::{Authorizer, PrincipalCtx, Target};
use crate::catalog::Change;
use crate::error::{Error, Result};
use crate::model::{
    AccountId, Caller, Grant, GrantOrigin, Permission, Resource, ResourceLink, Table, TableName,
};

/// Parses `ACCOUNT:DB.TABLE`.
fn parse_target(s: &str) -> Result<(AccountId, TableName)> {
    let Some((a, t)) = s.split_once(':') else {
        return Err(Error::invalid(format!(
            "`{}` is not a shared table; write ACCOUNT:DB.TABLE, e.g. 111111111111:sales.orders",
            crate::model::clip(s)
        )));
    };
    Ok((AccountId::parse(a)?, TableName::parse(t)?))
}

/// Whether `owner` shares `table` with account `receiver` at all (any
/// right on it, DESCRIBE included, with or without the grant option): what
/// a link may point at. What the receiving account's principals may read
/// through it is decided when they read.
pub(crate) fn is_shared(
    snap: &Snapshot,
    receiver: &AccountId,
    owner: &AccountId,
    table: &TableName,
) -> Result<bool> {
    crate::access::shared_with(&snap.catalog, &snap.compiled, receiver, owner, table)
}

impl Governance {
    /// The caller's account's link named `name`, if there is one and the
    /// caller may see it (DESCRIBE or DROP on the link, as a table);
    /// `None` if `name` is not a link, and "not found" if it is one the
    /// caller may not see.
    pub(crate) fn named_link<'s>(
        &self,
        snap: &'s Snapshot,
        caller: &Caller,
        name: &str,
    ) -> Result<Option<&'s ResourceLink>> {
        let tn = TableName::parse(name)?;
        let acct = caller.account();
        if snap.catalog.table(acct, &tn).is_some() {
            return Ok(None);
        }
        let Some(link) = snap.catalog.links.get(&(acct.clone(), tn.clone())) else {
            return Ok(None);
        };
        if !self.may_describe_link(snap, caller, &tn)? {
            return Err(table_not_found(&tn));
        }
        Ok(Some(link))
    }

    /// Whether the caller may see the link `name` of its account.
    pub(crate) fn may_describe_link(
        &self,
        snap: &Snapshot,
        caller: &Caller,
        name: &TableName,
    ) -> Result<bool> {
        let authz = Authorizer::new(&snap.catalog, &snap.compiled);
        let p = PrincipalCtx::new(caller)?;
        crate::access::can_describe_table(&snap.catalog, &authz, &p, caller.account(), name)
    }

    /// A link as the caller sees it in its catalog's metadata (GetTables,
    /// `table list`): named as the link, with the target's columns the
    /// caller may read through it (none if it may only DESCRIBE the link).
    pub(crate) fn link_view(
        &self,
        snap: &Snapshot,
        caller: &Caller,
        link: &ResourceLink,
    ) -> Result<Option<Table>> {
        let Some(target) = snap.catalog.table(&link.target_account, &link.target) else {
            return Ok(None);
        };
        if !is_shared(snap, &link.account, &link.target_account, &link.target)? {
            // A revoked share: the link answers like a missing table.
            return Ok(None);
        }
        let visible: Vec<String> = match snap.table_access(caller, &link.name) {
            Ok(a) => a.columns.iter().map(|c| c.name.clone()).collect(),
            Err(Error::PermissionDenied(_) | Error::InvalidArgument(_)) => Vec::new(),
            Err(e) => return Err(e),
        };
        let mut shown = target.clone();
        shown.account = link.account.clone();
        shown.name = link.name.clone();
        shown.creator = link.created_by.clone();
        shown.columns.retain(|c| visible.contains(&c.name));
        shown
            .partition_keys
            .retain(|k| shown.columns.iter().any(|c| &c.name == k));
        Ok(Some(shown))
    }

    /// The caller's account's links in `database` that it may see, as
    /// [`Governance::link_view`] shows them.
    pub(crate) fn links_in(
        &self,
        snap: &Snapshot,
        caller: &Caller,
        database: &str,
    ) -> Result<Vec<Table>> {
        let mut out = Vec::new();
        for ((a, name), l) in &snap.catalog.links {
            if a == caller.account()
                && name.database == database
                && self.may_describe_link(snap, caller, name)?
                && let Some(t) = self.link_view(snap, caller, l)?
            {
                out.push(t);
            }
        }
        Ok(out)
    }

    /// CREATE_TABLE on the database a link is (to be) named in.
    fn require_create_table(
        &self,
        snap: &Snapshot,
        caller: &Caller,
        name: &TableName,
    ) -> Result<()> {
        self.require(
            snap,
            caller,
            Permission::CreateTable,
            &Target::Database(caller.account().clone(), name.database.clone()),
            &format!("database `{}`", name.database),
        )
    }

    /// `resource-link create DB.NAME --target ACCOUNT:DB.TABLE`.
    pub fn create_link(&self, caller: &Caller, name: &str, target: &str) -> Result<ResourceLink> {
        self.mutate(|snap| {
            let acct = caller.account();
            let name = TableName::parse(name)?;
            let (target_account, target) = parse_target(target)?;
            self.visible_database(snap, caller, &name.database)?;
            self.require_create_table(snap, caller, &name)?;
            if &target_account == acct {
                return Err(Error::invalid(format!(
                    "`{target_account}:{target}` is in your own account; query it by its name, \
                     a link is for a table another account shares with yours"
                )));
            }
            if !is_shared(snap, acct, &target_account, &target)? {
                return Err(table_not_found(&target));
            }
            let key = (acct.clone(), name.clone());
            if snap.catalog.table(acct, &name).is_some() || snap.catalog.links.contains_key(&key) {
                return Err(Error::AlreadyExists(format!(
                    "table `{name}` already exists; choose another name"
                )));
            }
            // The creator's rights on the link itself, as for a table it
            // creates (DESCRIBE and DROP, with the grant option).
            let resource = Resource::ResourceLink { link: name.clone() };
            let rights: BTreeSet<Permission> = [Permission::Describe, Permission::Drop].into();
            let creator = Grant {
                id: grant_id(acct, &caller.principal, &resource),
                account: acct.clone(),
                principal: caller.principal.clone(),
                resource,
                permissions: rights.clone(),
                grantable: rights,
                masks: BTreeMap::new(),
                origin: GrantOrigin::Creator,
            };
            let link = ResourceLink {
                account: acct.clone(),
                name,
                target_account: target_account.clone(),
                target,
                created_by: caller.principal.clone(),
            };
            Ok((
                vec![Change::PutLink(link.clone()), Change::PutGrant(creator)],
                link,
            ))
        })
    }

    /// `resource-link list`: the links of the caller's account that it may
    /// see (DESCRIBE or DROP on the link; data lake admins see all).
    pub fn list_links(&self, caller: &Caller) -> Result<Vec<ResourceLink>> {
        let snap = self.snapshot()?;
        let mut out = Vec::new();
        for ((a, name), l) in &snap.catalog.links {
            if a == caller.account() && self.may_describe_link(&snap, caller, name)? {
                out.push(l.clone());
            }
        }
        Ok(out)
    }

    /// `resource-link delete DB.NAME`: needs DROP on the link; removes the
    /// link and the grants on it, never its target or the share.
    pub fn delete_link(&self, caller: &Caller, name: &str) -> Result<ResourceLink> {
        self.mutate(|snap| {
            let acct = caller.account();
            let name = TableName::parse(name)?;
            let missing = || {
                Error::invalid(format!(
                    "resource link `{name}` was not found; list your account's links with \
                     `lakegate resource-link list`"
                ))
            };
            let Some(link) = snap.catalog.links.get(&(acct.clone(), name.clone())) else {
                return Err(missing());
            };
            if !self.may_describe_link(snap, caller, &name)? {
                return Err(missing());
            }
            self.require(
                snap,
                caller,
                Permission::Drop,
                &Target::Table(acct.clone(), name.clone()),
                &format!("resource link `{name}`"),
            )?;
            let mut changes = vec![Change::DeleteLink {
                account: acct.clone(),
                name: name.clone(),
            }];
            // Grants on the link go with it, so a later link of the same
            // name starts with no rights.
            let on_link = Resource::ResourceLink { link: name.clone() };
            changes.extend(
                snap.catalog
                    .grants
                    .values()
                    .filter(|g| &g.account == acct && g.resource == on_link)
                    .map(|g| Change::DeleteGrant { id: g.id.clone() }),
            );
            Ok((changes, link.clone()))
        })
    }
}
