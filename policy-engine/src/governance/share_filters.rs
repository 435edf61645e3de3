//! Data cells filters a receiving account defines on a table another
//! account shares with it (DESIGN §3 rule 6; issue 10 item 3). Account B's
//! data lake admin writes `data-filter create 111111111111:sales.orders.eu
//! …`, over the columns the share shows it (a predicate on an unshared
//! column would leak its values through which rows come back), and
//! re-grants the filter to B's principals with `grant --data-filter
//! 111111111111:sales.orders.eu`. Like every grant on A's table, the filter
//! and its grants are kept under A; what a principal reads is still the
//! share intersected with them, at query time.
//!
//! The filter is stored as `NAME@ACCOUNT` (B's account): `@` never appears
//! in a name the owner can create, so the two accounts' filters never
//! collide, a name B picks reveals nothing about A's, and A's listings skip
//! B's filters.

use std::collections::BTreeSet;

use super::permissions::GrantRequest;
use super::resources::ResourceSpec;
use super::shares::Checked;
use super::{Governance, Snapshot};
use crate::access::table_not_found;
use crate::catalog::Change;
use crate::error::{Error, Result};
use crate::filters::{NewDataFilter, split_filter_name};
use crate::model::{
    AccountId, Caller, ColumnSelection, DataFilter, Permission, Resource, RowFilter, TableName,
};
use crate::predicate;

/// The stored name of account `definer`'s filter `name` on another
/// account's table.
pub(crate) fn stored_name(name: &str, definer: &AccountId) -> String {
    format!("{name}@{definer}")
}

/// The definer of a stored filter name, if it is another account's filter.
pub(crate) fn definer(stored: &str) -> Option<&str> {
    stored.split_once('@').map(|(_, a)| a)
}

/// `ACCOUNT:DB.TABLE.NAME` naming another account's table: (owner, table,
/// filter name as the caller wrote it).
pub(crate) fn foreign_filter(
    caller: &Caller,
    name: &str,
) -> Result<Option<(AccountId, TableName, String)>> {
    let Some((acct, rest)) = name.split_once(':') else {
        return Ok(None);
    };
    let owner = AccountId::parse(acct)?;
    if &owner == caller.account() {
        return Ok(None);
    }
    let (table, filter) = split_filter_name(rest)?;
    Ok(Some((owner, table, filter)))
}

impl Governance {
    /// The receiving admin's view of `owner`'s shared table: the table
    /// with only the shared columns. Nothing shared (or shared without the
    /// grant option, which reaches none of its principals) is refused as a
    /// re-grant would be.
    fn shared_table_view(
        &self,
        snap: &Snapshot,
        caller: &Caller,
        owner: &AccountId,
        table: &TableName,
    ) -> Result<crate::model::Table> {
        let home = caller.account();
        if !self.is_admin(snap, caller) {
            return Err(Error::denied(format!(
                "only a data lake admin of `{home}` defines data filters on what account \
                 `{owner}` shares; ask one"
            )));
        }
        let Some(t) = snap.catalog.table(owner, table) else {
            return Err(table_not_found(table));
        };
        let share = crate::access::share_access(&snap.catalog, &snap.compiled, home, owner, table)
            .map_err(|_| table_not_found(table))?;
        let mut shown = t.clone();
        shown
            .columns
            .retain(|c| share.columns.iter().any(|s| s.name == c.name));
        Ok(shown)
    }

    /// `data-filter create ACCOUNT:DB.TABLE.NAME`.
    pub(crate) fn create_shared_filter(
        &self,
        caller: &Caller,
        owner: &AccountId,
        table: &TableName,
        name: &str,
        req: &NewDataFilter,
    ) -> Result<DataFilter> {
        self.mutate(|snap| {
            let shown = self.shared_table_view(snap, caller, owner, table)?;
            let stored = stored_name(name, caller.account());
            if snap
                .catalog
                .filters
                .contains_key(&(owner.clone(), table.clone(), stored.clone()))
            {
                return Err(Error::AlreadyExists(format!(
                    "data filter `{name}` already exists on `{owner}:{table}`; delete it first or \
                     choose another name"
                )));
            }
            // Only the shared columns exist here; a predicate may compare
            // only those shared in the clear on every shared row (which
            // rows come back would otherwise reveal masked values).
            let rows = match (&req.row_filter, req.all_rows) {
                (Some(p), false) => {
                    let src = predicate::validate(p, &shown)?;
                    let clear = crate::access::clear_shared_columns(
                        &snap.catalog,
                        &snap.compiled,
                        caller,
                        owner,
                        table,
                    );
                    if !predicate::compares_only(p, &shown, &clear) {
                        return Err(Error::invalid(format!(
                            "a row filter on another account's table may compare only the \
                             columns it shares in the clear on every row it shares: {}; the \
                             others are masked or shown on some rows only",
                            predicate::listed(&shown, &clear)
                        )));
                    }
                    RowFilter::Predicate(src)
                }
                (None, true) => RowFilter::AllRows,
                _ => {
                    return Err(Error::invalid(
                        "give exactly one of --row-filter EXPR or --all-rows",
                    ));
                }
            };
            // Always an include list: columns the owner shares later are
            // not silently added.
            let columns: BTreeSet<String> =
                match (req.columns.is_empty(), req.exclude_columns.is_empty()) {
                    (true, true) => shown.columns.iter().map(|c| c.name.clone()).collect(),
                    (false, true) => shown.check_columns(&req.columns)?.into_iter().collect(),
                    (true, false) => {
                        let off: BTreeSet<String> = shown
                            .check_columns(&req.exclude_columns)?
                            .into_iter()
                            .collect();
                        shown
                            .columns
                            .iter()
                            .map(|c| c.name.clone())
                            .filter(|c| !off.contains(c))
                            .collect()
                    }
                    (false, false) => {
                        return Err(Error::invalid(
                            "give either --columns or --exclude-columns, not both",
                        ));
                    }
                };
            let f = DataFilter {
                account: owner.clone(),
                table: table.clone(),
                name: stored,
                rows,
                columns: ColumnSelection::Include(columns),
            };
            let mut shown_f = f.clone();
            shown_f.name = name.to_string();
            Ok((vec![Change::PutFilter(f)], shown_f))
        })
    }

    /// The filters the caller's account defined on other accounts' tables,
    /// named as it wrote them (for its admins' `data-filter list`).
    pub(crate) fn shared_filters_of(&self, snap: &Snapshot, caller: &Caller) -> Vec<DataFilter> {
        if !self.is_admin(snap, caller) {
            return Vec::new();
        }
        let me = caller.account().as_str();
        snap.catalog
            .filters
            .values()
            .filter(|f| definer(&f.name) == Some(me))
            .map(|f| {
                let mut shown = f.clone();
                if let Some((n, _)) = f.name.split_once('@') {
                    shown.name = n.to_string();
                }
                shown
            })
            .collect()
    }

    /// `data-filter delete ACCOUNT:DB.TABLE.NAME`: the filter and the
    /// grants on it.
    pub(crate) fn delete_shared_filter(
        &self,
        caller: &Caller,
        owner: &AccountId,
        table: &TableName,
        name: &str,
    ) -> Result<()> {
        self.mutate(|snap| {
            if !self.is_admin(snap, caller) {
                return Err(Error::denied(format!(
                    "only a data lake admin of `{}` deletes its data filters on what account \
                     `{owner}` shares; ask one",
                    caller.account()
                )));
            }
            let stored = stored_name(name, caller.account());
            let key = (owner.clone(), table.clone(), stored.clone());
            if !snap.catalog.filters.contains_key(&key) {
                return Err(Error::invalid(format!(
                    "data filter `{name}` does not exist on `{owner}:{table}`; see `lakegate \
                     data-filter list`"
                )));
            }
            let mut changes = vec![Change::DeleteFilter {
                account: owner.clone(),
                table: table.clone(),
                name: stored.clone(),
            }];
            for g in snap.catalog.grants.values() {
                if &g.account == owner
                    && matches!(&g.resource, Resource::DataFilter { table: t, filter }
                        if t == table && filter == &stored)
                {
                    changes.push(Change::DeleteGrant { id: g.id.clone() });
                }
            }
            Ok((changes, ()))
        })
    }

    /// Checks a re-grant (or revoke) of the caller's account's own filter
    /// on `owner`'s shared table.
    pub(super) fn check_filter_share_regrant(
        &self,
        snap: &Snapshot,
        caller: &Caller,
        owner: &AccountId,
        req: &GrantRequest,
        revoke: bool,
    ) -> Result<Checked> {
        let (principal, perms) = self.regrant_basics(snap, caller, owner, req)?;
        let ResourceSpec::DataFilter { name } = &req.resource else {
            return Err(Error::invalid(
                "name the data filter as ACCOUNT:DB.TABLE.FILTER",
            ));
        };
        let Some((_, table, fname)) = foreign_filter(caller, name)? else {
            return Err(Error::invalid(
                "name the data filter as ACCOUNT:DB.TABLE.FILTER",
            ));
        };
        if !req.masks.is_empty() {
            return Err(Error::invalid(
                "--mask applies only to table and TABLE tag grants; name a --table",
            ));
        }
        let stored = stored_name(&fname, caller.account());
        let resource = Resource::DataFilter {
            table: table.clone(),
            filter: stored.clone(),
        };
        if let Some(p) = perms
            .iter()
            .find(|p| !matches!(p, Permission::Select | Permission::Describe))
        {
            return Err(Error::invalid(format!(
                "{p} cannot be re-granted on another account's data filter"
            )));
        }
        if revoke {
            return Ok((principal, resource, perms, Default::default()));
        }
        // The share must still reach the account's principals.
        self.shared_table_view(snap, caller, owner, &table)?;
        if !snap
            .catalog
            .filters
            .contains_key(&(owner.clone(), table.clone(), stored))
        {
            return Err(Error::invalid(format!(
                "data filter `{fname}` does not exist on `{owner}:{table}`; create it with \
                 `lakegate data-filter create {owner}:{table}.{fname} …`"
            )));
        }
        Ok((principal, resource, perms, Default::default()))
    }
}
