//! What a caller may see (DESIGN §3 rules 3 and 12): a database or table it
//! may not DESCRIBE is reported exactly like one that does not exist, and a
//! table shows only the columns it may SELECT. Every operation that names a
//! database, table or column looks it up through these helpers, so that no
//! error message reveals what is hidden.

use std::collections::BTreeSet;

use crate::access::{self, table_not_found};
use crate::authorize::{Authorizer, PrincipalCtx, Target};
use crate::error::{Error, Result};
use crate::governance::{Governance, Snapshot};
use crate::model::{Caller, Database, Permission, Table, TableName, clip, ident};

impl Governance {
    /// Whether the caller may see database `db` of its account: some
    /// database-level right on it, or a table in it that it may DESCRIBE.
    pub(crate) fn can_describe_database(
        &self,
        snap: &Snapshot,
        caller: &Caller,
        db: &str,
    ) -> Result<bool> {
        let authz = Authorizer::new(&snap.catalog, &snap.compiled);
        let p = PrincipalCtx::new(caller)?;
        let acct = caller.account();
        let target = Target::Database(acct.clone(), db.to_string());
        for perm in [
            Permission::Describe,
            Permission::CreateTable,
            Permission::Alter,
            Permission::Drop,
        ] {
            if authz.decide(&p, perm.as_str(), &target)?.allowed {
                return Ok(true);
            }
        }
        for t in snap.catalog.tables_in(acct, db) {
            if access::can_describe_table(&snap.catalog, &authz, &p, acct, &t.name)? {
                return Ok(true);
            }
        }
        Ok(!self.links_in(snap, caller, db)?.is_empty())
    }

    /// The "not found" error for a database, listing those the caller may see.
    fn database_not_found(&self, snap: &Snapshot, caller: &Caller, db: &str) -> Result<Error> {
        let visible = self.list_databases_in(snap, caller)?;
        Ok(Error::invalid(format!(
            "database `{}` was not found; databases you can see: {}",
            clip(db),
            if visible.is_empty() {
                "none".to_string()
            } else {
                visible
                    .iter()
                    .map(|d| d.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        )))
    }

    /// Databases of the caller's account that it may see, in `snap`.
    pub(crate) fn list_databases_in(
        &self,
        snap: &Snapshot,
        caller: &Caller,
    ) -> Result<Vec<Database>> {
        let mut out = Vec::new();
        for ((a, n), d) in &snap.catalog.databases {
            if a == caller.account() && self.can_describe_database(snap, caller, n)? {
                out.push(d.clone());
            }
        }
        Ok(out)
    }

    /// Looks up a database the caller may see; hidden ones are "not found".
    pub(crate) fn visible_database<'s>(
        &self,
        snap: &'s Snapshot,
        caller: &Caller,
        name: &str,
    ) -> Result<&'s Database> {
        let n = ident(name, "database")?;
        match snap.catalog.database(caller.account(), &n) {
            Some(d) if self.can_describe_database(snap, caller, &n)? => Ok(d),
            _ => Err(self.database_not_found(snap, caller, name)?),
        }
    }

    /// Looks up a table the caller may see; hidden ones are "not found".
    pub(crate) fn visible_table<'s>(
        &self,
        snap: &'s Snapshot,
        caller: &Caller,
        name: &str,
    ) -> Result<&'s Table> {
        let tn = TableName::parse(name)?;
        let authz = Authorizer::new(&snap.catalog, &snap.compiled);
        let p = PrincipalCtx::new(caller)?;
        match snap.catalog.table(caller.account(), &tn) {
            Some(t)
                if access::can_describe_table(
                    &snap.catalog,
                    &authz,
                    &p,
                    caller.account(),
                    &tn,
                )? =>
            {
                Ok(t)
            }
            _ => Err(table_not_found(&tn)),
        }
    }

    /// A table as the caller may see it: only visible columns (DESIGN §3 rule 3).
    pub(crate) fn visible_schema(
        &self,
        snap: &Snapshot,
        caller: &Caller,
        t: &Table,
    ) -> Result<Table> {
        let mut shown = t.clone();
        match snap.table_access(caller, &t.name) {
            Ok(a) => {
                shown
                    .columns
                    .retain(|c| a.columns.iter().any(|v| v.name == c.name));
            }
            Err(Error::PermissionDenied(_)) => {
                // DESCRIBE without SELECT: the table is shown, its data
                // columns are not, unless the caller may alter or drop it
                // (which needs the whole schema).
                let full = [Permission::Alter, Permission::Drop, Permission::Insert]
                    .into_iter()
                    .map(|perm| {
                        self.authorize(
                            snap,
                            caller,
                            perm,
                            &Target::Table(t.account.clone(), t.name.clone()),
                        )
                        .map(|d| d.allowed)
                    })
                    .collect::<Result<Vec<bool>>>()?
                    .into_iter()
                    .any(|b| b);
                if !full {
                    shown.columns.clear();
                }
            }
            Err(e) => return Err(e),
        }
        shown
            .partition_keys
            .retain(|k| shown.columns.iter().any(|c| &c.name == k));
        Ok(shown)
    }

    /// Checks column names exist and are visible to the caller (hidden
    /// columns are reported exactly like missing ones, and only visible
    /// columns are listed). Data lake admins see every column.
    pub(crate) fn check_visible_columns(
        &self,
        snap: &Snapshot,
        caller: &Caller,
        t: &Table,
        names: &[String],
    ) -> Result<BTreeSet<String>> {
        if self.is_admin(snap, caller) {
            return Ok(t.check_columns(names)?.into_iter().collect());
        }
        let shown = self.visible_schema(snap, caller, t)?;
        if shown.columns.is_empty() {
            // A DESCRIBE-only caller sees no column: every name is unknown
            // to it, whether or not the column exists.
            let first = names.first().map(String::as_str).unwrap_or_default();
            return Err(Error::invalid(format!(
                "column `{}` is not in table `{}`; you can see none of its columns (see \
                 `lakegate table describe {}`)",
                clip(first),
                t.name,
                t.name
            )));
        }
        Ok(shown.check_columns(names)?.into_iter().collect())
    }
}
