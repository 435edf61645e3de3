//! Data cells filters: `data-filter create|list|delete` (DESIGN §3 rules 2, 4).
//!
//! A filter's predicate is validated against the table when it is created, so
//! a bad filter never reaches a query. Deleting a filter also deletes the
//! grants on it, in the same transaction: a later filter with the same name
//! must not inherit them.

use std::collections::BTreeSet;

use crate::authorize::Target;
use crate::catalog::Change;
use crate::error::{Error, Result};
use crate::governance::Governance;
use crate::governance::share_filters::{definer, foreign_filter};
use crate::model::{
    Caller, ColumnSelection, DataFilter, Permission, Resource, RowFilter, TableName, clip, ident,
};
use crate::predicate;

/// What `data-filter create` asks for.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NewDataFilter {
    /// `DB.TABLE.NAME`.
    pub name: String,
    /// The row predicate, or `None` with `all_rows`.
    pub row_filter: Option<String>,
    /// `--all-rows`.
    pub all_rows: bool,
    /// `--columns`.
    pub columns: Vec<String>,
    /// `--exclude-columns`.
    pub exclude_columns: Vec<String>,
}

/// Splits `DB.TABLE.NAME`.
pub fn split_filter_name(name: &str) -> Result<(TableName, String)> {
    let Some((t, f)) = name.rsplit_once('.').filter(|(t, _)| t.contains('.')) else {
        return Err(Error::invalid(format!(
            "`{}` is not a data filter name; write `DB.TABLE.FILTER`",
            clip(name)
        )));
    };
    Ok((TableName::parse(t)?, ident(f, "data filter")?))
}

impl Governance {
    /// `data-filter create`: data lake admins, or holders of SELECT with the
    /// grant option on the whole table, may create filters.
    pub fn create_data_filter(&self, caller: &Caller, req: &NewDataFilter) -> Result<DataFilter> {
        if let Some((owner, table, name)) = foreign_filter(caller, &req.name)? {
            return self.create_shared_filter(caller, &owner, &table, &name, req);
        }
        let (tn, fname) = split_filter_name(&req.name)?;
        self.mutate(|snap| {
            let table = self.visible_table(snap, caller, &tn.to_string())?;
            if !self.is_admin(snap, caller) {
                let d = self.authorize(
                    snap,
                    caller,
                    Permission::Select,
                    &Target::Table(caller.account().clone(), tn.clone()),
                )?;
                let grant_opt = crate::authorize::Authorizer::new(&snap.catalog, &snap.compiled)
                    .decide(
                        &crate::authorize::PrincipalCtx::new(caller)?,
                        &crate::compile::grant_action_name(Permission::Select),
                        &Target::Table(caller.account().clone(), tn.clone()),
                    )?;
                if !d.allowed || !grant_opt.allowed {
                    return Err(Error::denied(format!(
                        "`{}` may not create data filters on `{tn}`: it needs SELECT with the \
                         grant option on the whole table; ask a data lake admin",
                        caller.principal
                    )));
                }
            }
            if snap.catalog.filters.contains_key(&(
                caller.account().clone(),
                tn.clone(),
                fname.clone(),
            )) {
                return Err(Error::AlreadyExists(format!(
                    "data filter `{fname}` already exists on `{tn}`; delete it first or choose \
                     another name"
                )));
            }
            // Validate against the table as the caller sees it: a column a
            // forbid hides does not exist for it here either (DESIGN §3
            // rule 3, §4 "authorize before validating").
            let shown = if self.is_admin(snap, caller) {
                table.clone()
            } else {
                self.visible_schema(snap, caller, table)?
            };
            let full_width = table.columns.len();
            let table = &shown;
            let rows = match (&req.row_filter, req.all_rows) {
                (Some(p), false) => {
                    let src = predicate::validate(p, table)?;
                    // Which rows a filter returns reveals the values its
                    // predicate compares: only columns the creator sees in
                    // the clear may be compared.
                    let clear = self.clear_columns(snap, caller, table)?;
                    if !predicate::compares_only(p, table, &clear) {
                        return Err(Error::invalid(format!(
                            "the row filter compares a column you see masked or on some rows \
                             only; compare only: {}",
                            predicate::listed(table, &clear)
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
            let columns = match (req.columns.is_empty(), req.exclude_columns.is_empty()) {
                (true, true) => ColumnSelection::All,
                (false, true) => ColumnSelection::Include(
                    table
                        .check_columns(&req.columns)?
                        .into_iter()
                        .collect::<BTreeSet<_>>(),
                ),
                (true, false) => ColumnSelection::Exclude(
                    table
                        .check_columns(&req.exclude_columns)?
                        .into_iter()
                        .collect::<BTreeSet<_>>(),
                ),
                (false, false) => {
                    return Err(Error::invalid(
                        "give either --columns or --exclude-columns, not both",
                    ));
                }
            };
            // A filter made by a caller that cannot see every column never
            // covers the others: "all" and exclude lists become the visible
            // columns, so granting the filter cannot reveal a column a forbid
            // hides from its creator.
            let columns = match columns {
                ColumnSelection::Include(c) => ColumnSelection::Include(c),
                sel if table.columns.len() < full_width => ColumnSelection::Include(
                    table
                        .columns
                        .iter()
                        .filter(|c| sel.contains(&c.name))
                        .map(|c| c.name.clone())
                        .collect(),
                ),
                sel => sel,
            };
            let f = DataFilter {
                account: caller.account().clone(),
                table: tn.clone(),
                name: fname.clone(),
                rows,
                columns,
            };
            // Its creator may see and drop it (with the grant option), as
            // the creator of a table may: a table-level grant does not
            // reach the table's filters.
            let resource = Resource::DataFilter {
                table: tn.clone(),
                filter: fname.clone(),
            };
            let rights: BTreeSet<Permission> = [Permission::Describe, Permission::Drop].into();
            let creator = crate::model::Grant {
                id: crate::governance::grant_id(caller.account(), &caller.principal, &resource),
                account: caller.account().clone(),
                principal: caller.principal.clone(),
                resource,
                permissions: rights.clone(),
                grantable: rights,
                masks: Default::default(),
                origin: crate::model::GrantOrigin::Creator,
            };
            Ok((
                vec![Change::PutFilter(f.clone()), Change::PutGrant(creator)],
                f,
            ))
        })
    }

    /// Data filters on tables the caller may see (admins: all), optionally of one table.
    pub fn list_data_filters(
        &self,
        caller: &Caller,
        table: Option<&str>,
    ) -> Result<Vec<DataFilter>> {
        let snap = self.snapshot()?;
        // `ACCOUNT:DB.TABLE`: the caller's account's filters on another
        // account's shared table.
        if let Some((acct, t)) = table.and_then(|t| t.split_once(':')) {
            let owner = crate::model::AccountId::parse(acct)?;
            let t = TableName::parse(t)?;
            return Ok(self
                .shared_filters_of(&snap, caller)
                .into_iter()
                .filter(|f| f.account == owner && f.table == t)
                .collect());
        }
        let want = table.map(TableName::parse).transpose()?;
        if let Some(t) = &want {
            self.visible_table(&snap, caller, &t.to_string())?;
        }
        let admin = self.is_admin(&snap, caller);
        let mut out = Vec::new();
        for ((a, tn, _), f) in &snap.catalog.filters {
            // Another account's filters on this account's shared tables
            // are that account's business.
            if a != caller.account()
                || want.as_ref().is_some_and(|w| w != tn)
                || definer(&f.name).is_some()
            {
                continue;
            }
            let shown = admin
                || [Permission::Describe, Permission::Select, Permission::Drop]
                    .into_iter()
                    .map(|p| {
                        self.authorize(
                            &snap,
                            caller,
                            p,
                            &Target::DataFilter(a.clone(), tn.clone(), f.name.clone()),
                        )
                        .map(|d| d.allowed)
                    })
                    .collect::<Result<Vec<bool>>>()?
                    .into_iter()
                    .any(|b| b);
            if shown {
                out.push(f.clone());
            }
        }
        if want.is_none() {
            out.extend(self.shared_filters_of(&snap, caller));
        }
        Ok(out)
    }

    /// `data-filter delete`: admins or holders of DROP on the filter. The
    /// grants on the filter go with it.
    ///
    /// Authorized before the filter is looked up: to a caller that may not
    /// see the filter (DESCRIBE, SELECT or DROP on it, as `data-filter list`
    /// shows), an existing and a missing filter read the same. A caller that
    /// may see it but not drop it is told which permission it lacks.
    pub fn delete_data_filter(&self, caller: &Caller, name: &str) -> Result<()> {
        if let Some((owner, table, fname)) = foreign_filter(caller, name)? {
            return self.delete_shared_filter(caller, &owner, &table, &fname);
        }
        let (tn, fname) = split_filter_name(name)?;
        self.mutate(|snap| {
            let acct = caller.account().clone();
            self.visible_table(snap, caller, &tn.to_string())?;
            let exists =
                snap.catalog
                    .filters
                    .contains_key(&(acct.clone(), tn.clone(), fname.clone()));
            let not_found = || {
                Error::invalid(format!(
                    "data filter `{fname}` does not exist on `{tn}`; see `lakegate data-filter list`"
                ))
            };
            if !self.is_admin(snap, caller) {
                let target = Target::DataFilter(acct.clone(), tn.clone(), fname.clone());
                let may = |p: Permission| -> Result<bool> {
                    Ok(self.authorize(snap, caller, p, &target)?.allowed)
                };
                let can_drop = may(Permission::Drop)?;
                let can_see = can_drop || may(Permission::Describe)? || may(Permission::Select)?;
                if !exists || !can_see {
                    return Err(not_found());
                }
                if !can_drop {
                    return Err(Error::denied(format!(
                        "`{}` lacks DROP on data filter `{tn}.{fname}`; ask a data lake admin to \
                         grant it",
                        caller.principal
                    )));
                }
            } else if !exists {
                return Err(not_found());
            }
            let mut changes = vec![Change::DeleteFilter {
                account: acct.clone(),
                table: tn.clone(),
                name: fname.clone(),
            }];
            for g in snap.catalog.grants.values() {
                if g.account == acct
                    && matches!(&g.resource, Resource::DataFilter { table, filter }
                        if table == &tn && filter == &fname)
                {
                    changes.push(Change::DeleteGrant { id: g.id.clone() });
                }
            }
            Ok((changes, ()))
        })
    }
}
