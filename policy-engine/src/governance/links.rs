//! Resource links (DESIGN §3 rule 6): `DB.NAME` in the caller's catalog
//! standing for a table another account shares with it. Creating one needs
//! CREATE_TABLE on the database (as a table would) and a share of the target
//! with the caller's account; a link to a table that does not exist, or is
//! not shared, is refused exactly as a missing table is. Queries through a
//! link read the target with the share intersected with the caller's own
//! grants (`crate::share`); once the share is revoked the link answers like
//! a table that does not exist.

use super::{Governance, Snapshot};
use crate::access::table_not_found;
use crate::authorize::Target;
use crate::catalog::Change;
use crate::error::{Error, Result};
use crate::model::{AccountId, Caller, Permission, ResourceLink, TableName};

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

/// Whether `owner` shares `table` with account `receiver` at all: the
/// receiving half of rule 6 shows it some column, decided by the same code
/// that enforces access.
pub(crate) fn is_shared(
    snap: &Snapshot,
    receiver: &AccountId,
    owner: &AccountId,
    table: &TableName,
) -> bool {
    crate::access::share_access(&snap.catalog, &snap.compiled, receiver, owner, table).is_ok()
}

impl Governance {
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
            if !is_shared(snap, acct, &target_account, &target) {
                return Err(table_not_found(&target));
            }
            let key = (acct.clone(), name.clone());
            if snap.catalog.table(acct, &name).is_some() || snap.catalog.links.contains_key(&key) {
                return Err(Error::AlreadyExists(format!(
                    "table `{name}` already exists; choose another name"
                )));
            }
            let link = ResourceLink {
                account: acct.clone(),
                name,
                target_account: target_account.clone(),
                target,
                created_by: caller.principal.clone(),
            };
            Ok((vec![Change::PutLink(link.clone())], link))
        })
    }

    /// `resource-link list`: the links of the caller's account, for its
    /// admins and for principals with CREATE_TABLE on their database.
    pub fn list_links(&self, caller: &Caller) -> Result<Vec<ResourceLink>> {
        let snap = self.snapshot()?;
        let admin = self.is_admin(&snap, caller);
        let mut out = Vec::new();
        for ((a, _), l) in &snap.catalog.links {
            if a != caller.account() {
                continue;
            }
            let may = admin
                || self
                    .authorize(
                        &snap,
                        caller,
                        Permission::CreateTable,
                        &Target::Database(a.clone(), l.name.database.clone()),
                    )?
                    .allowed;
            if may {
                out.push(l.clone());
            }
        }
        Ok(out)
    }

    /// `resource-link delete DB.NAME`: the link only, never its target.
    pub fn delete_link(&self, caller: &Caller, name: &str) -> Result<ResourceLink> {
        self.mutate(|snap| {
            let acct = caller.account();
            let name = TableName::parse(name)?;
            self.require_create_table(snap, caller, &name)?;
            let Some(link) = snap.catalog.links.get(&(acct.clone(), name.clone())) else {
                return Err(Error::invalid(format!(
                    "resource link `{name}` was not found; list your account's links with \
                     `lakegate resource-link list`"
                )));
            };
            Ok((
                vec![Change::DeleteLink {
                    account: acct.clone(),
                    name: name.clone(),
                }],
                link.clone(),
            ))
        })
    }
}
