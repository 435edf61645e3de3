//! What other accounts share with the caller's account, as its data lake
//! admins see it in `database list` and `table list ACCOUNT:DB` (DESIGN §3
//! rule 6; issue 10 item 3). The receiving account is the principal here:
//! a table is listed if the owner lets that account see it (DESCRIBE, or
//! any other right, on the table, its columns or filters), with the columns
//! the share lets it read; databases are listed if the account may see
//! them or any table in them. Shares with or without the grant option are
//! listed alike (the admin needs to see both to know what it may re-grant).
//! The owner's principals are never named: a listed object's creator is
//! the owning account.

use super::{Governance, Snapshot};
use crate::access;
use crate::authorize::{Authorizer, PrincipalCtx, Target};
use crate::error::{Error, Result};
use crate::model::{AccountId, Caller, Database, Permission, Principal, Table, clip, ident};

impl Governance {
    /// The databases of other accounts that share something with the
    /// caller's account; empty unless the caller is one of its admins.
    pub(crate) fn received_databases(
        &self,
        snap: &Snapshot,
        caller: &Caller,
    ) -> Result<Vec<Database>> {
        if !self.is_admin(snap, caller) {
            return Ok(Vec::new());
        }
        let me = caller.account();
        let mut out = Vec::new();
        for ((owner, name), db) in &snap.catalog.databases {
            if owner == me {
                continue;
            }
            let shown = self.receives_database(snap, me, owner, name)?
                || !self.received_tables_in(snap, me, owner, name)?.is_empty();
            if shown {
                let mut d = db.clone();
                d.creator = Principal::Account(owner.clone());
                out.push(d);
            }
        }
        Ok(out)
    }

    /// `table list ACCOUNT:DB` for the receiving account's admin: the
    /// shared tables of that database, with the columns the share shows.
    /// Anyone else, and a database nothing of which is shared, gets the
    /// "not found" error a database of its own would give.
    pub(crate) fn list_received_tables(
        &self,
        snap: &Snapshot,
        caller: &Caller,
        owner: &str,
        database: &str,
    ) -> Result<Vec<Table>> {
        let owner = AccountId::parse(owner)?;
        let db = ident(database, "database")?;
        let me = caller.account();
        let missing = || {
            Error::invalid(format!(
                "database `{owner}:{}` was not found or shares nothing with account `{me}`; \
                 see what is shared with `lakegate database list`",
                clip(database)
            ))
        };
        if &owner == me {
            return self.list_tables_in(snap, caller, &db);
        }
        if !self.is_admin(snap, caller) || snap.catalog.database(&owner, &db).is_none() {
            return Err(missing());
        }
        let tables = self.received_tables_in(snap, me, &owner, &db)?;
        if tables.is_empty() && !self.receives_database(snap, me, &owner, &db)? {
            return Err(missing());
        }
        Ok(tables)
    }

    /// Whether `owner` lets account `me` see its database `db` itself.
    fn receives_database(
        &self,
        snap: &Snapshot,
        me: &AccountId,
        owner: &AccountId,
        db: &str,
    ) -> Result<bool> {
        let authz = Authorizer::new(&snap.catalog, &snap.compiled);
        let p = PrincipalCtx::account(me)?;
        let target = Target::Database(owner.clone(), db.to_string());
        for perm in [
            Permission::Describe,
            Permission::CreateTable,
            Permission::Alter,
        ] {
            if authz.decide(&p, perm.as_str(), &target)?.allowed {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The tables of `owner`'s database `db` that account `me` may see,
    /// each with only the columns the share lets it read.
    fn received_tables_in(
        &self,
        snap: &Snapshot,
        me: &AccountId,
        owner: &AccountId,
        db: &str,
    ) -> Result<Vec<Table>> {
        let authz = Authorizer::new(&snap.catalog, &snap.compiled);
        let p = PrincipalCtx::account(me)?;
        let mut out = Vec::new();
        for t in snap.catalog.tables_in(owner, db) {
            if !access::can_describe_table(&snap.catalog, &authz, &p, owner, &t.name)? {
                continue;
            }
            let readable: Vec<String> =
                match access::received_access(&snap.catalog, &snap.compiled, me, owner, &t.name) {
                    Ok(a) => a.columns.into_iter().map(|c| c.name).collect(),
                    Err(Error::PermissionDenied(_) | Error::InvalidArgument(_)) => Vec::new(),
                    Err(e) => return Err(e),
                };
            let mut shown = t.clone();
            shown.creator = Principal::Account(owner.clone());
            shown.columns.retain(|c| readable.contains(&c.name));
            shown
                .partition_keys
                .retain(|k| shown.columns.iter().any(|c| &c.name == k));
            out.push(shown);
        }
        Ok(out)
    }
}
