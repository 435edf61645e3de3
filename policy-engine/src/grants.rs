//! The grant option (DESIGN §3 rule 10): who may grant or revoke what through
//! it, and what a re-grant carries.
//!
//! Decisions:
//! - We check the grant option with Cedar's `GRANT:P` actions on every
//!   resource the new grant covers (each column of a column grant), so group
//!   grants, tag grants and creator rights all count, in one place.
//! - A non-admin's re-grant of SELECT is at most as revealing as what the
//!   grantor holds, column by column: the grantor must itself be allowed to
//!   SELECT every column it passes on (a `forbid` that hides a column from the
//!   grantor also stops it from re-granting that column), and the grantor's
//!   mask travels with the grant. We take the grantor's mask from the grants
//!   that give it the grant option (`GRANT:SELECT` reasons), not from its
//!   effective view, because a clear grant without the grant option must not
//!   unmask a masked grantable one. The grantor may add a stronger mask, never
//!   a weaker one.
//! - No principal changes its own grants through the grant option: a
//!   non-admin may not grant to or revoke from itself or a group its
//!   credential says it belongs to, because the grant id is per (principal,
//!   resource) and such a grant would replace (and could unmask) the very
//!   grant the right comes from. Admins may, since they hold every right.

use std::collections::{BTreeMap, BTreeSet};

use crate::access::table_not_found;
use crate::authorize::{Authorizer, Decision, PrincipalCtx, Target};
use crate::compile::{self, PolicySource};
use crate::error::{Error, Result};
use crate::governance::{Governance, Snapshot};
use crate::model::{
    Caller, ColumnMask, ColumnSelection, Grant, Permission, Principal, Resource, TagResourceType,
    ident,
};

/// Whether `requested` hides at least as much as `held` (DESIGN §3 rule 8
/// order, most to least revealing: clear > expression > last4 > hash >
/// redact > null). Two different expressions cannot be compared, so only the
/// same expression, or a fixed mask, is at least as strong as an expression.
pub fn at_least_as_strong(requested: &ColumnMask, held: &ColumnMask) -> bool {
    requested == held
        || (!matches!(requested, ColumnMask::Expr(_))
            && requested.revealing_rank() <= held.revealing_rank())
}

/// The mask a column carries for the grantor through the policies in
/// `reasons` (the permits of a `GRANT:SELECT` or `SELECT` decision): the most
/// revealing one; `None` (clear) as soon as one of them shows it unmasked.
/// Admin rights and account policy files carry no mask.
fn held_mask(snap: &Snapshot, reasons: &[String], column: &str) -> Option<ColumnMask> {
    let mut best: Option<ColumnMask> = None;
    for r in reasons {
        let mask = match snap.compiled.get(r).map(|p| &p.source) {
            Some(PolicySource::Grant(id)) | Some(PolicySource::GrantOption(id)) => snap
                .catalog
                .grants
                .get(id)
                .and_then(|g| g.masks.get(column)),
            _ => None,
        };
        let m = mask?;
        if best
            .as_ref()
            .is_none_or(|b| m.revealing_rank() > b.revealing_rank())
        {
            best = Some(m.clone());
        }
    }
    best
}

/// Combines the grantor's mask with the one it asked for: the request may
/// only make the column less revealing.
fn travel(
    caller: &Caller,
    column: &str,
    held: Option<&ColumnMask>,
    requested: Option<&ColumnMask>,
) -> Result<Option<ColumnMask>> {
    match (held, requested) {
        (None, r) => Ok(r.cloned()),
        (Some(h), None) => Ok(Some(h.clone())),
        (Some(h), Some(r)) if at_least_as_strong(r, h) => Ok(Some(r.clone())),
        (Some(h), Some(r)) => Err(Error::denied(format!(
            "`{}` holds column `{column}` masked as `{h}`, so it may not re-grant it as `{r}`: \
             a re-grant carries the grantor's mask or a stronger one (clear > expression > \
             last4 > hash > redact > null); give `--mask {column}={h}` or a stronger mask, or \
             ask a data lake admin",
            caller.principal
        ))),
    }
}

impl Governance {
    /// Existence checks that must come after authorization: a data filter
    /// or a registered location, which a caller without the right must not
    /// learn about.
    pub(crate) fn check_exists(
        &self,
        snap: &Snapshot,
        caller: &Caller,
        resource: &Resource,
    ) -> Result<()> {
        let acct = caller.account();
        match resource {
            Resource::DataFilter { table, filter }
                if !snap.catalog.filters.contains_key(&(
                    acct.clone(),
                    table.clone(),
                    filter.clone(),
                )) =>
            {
                Err(Error::invalid(format!(
                    "data filter `{filter}` does not exist on table `{table}`; create it with \
                     `lakegate data-filter create`"
                )))
            }
            Resource::DataLocation { uri }
                if snap.catalog.registered_location_for(acct, uri).is_none() =>
            {
                Err(Error::invalid(format!(
                    "location `{uri}` is not inside any registered data location; \
                     register it first with `lakegate location register`"
                )))
            }
            _ => Ok(()),
        }
    }

    /// Validates `--mask COL=KIND` against the resource, after the caller is
    /// authorized: a hidden column is reported like a missing one.
    pub(crate) fn check_masks(
        &self,
        snap: &Snapshot,
        caller: &Caller,
        resource: &Resource,
        perms: &BTreeSet<Permission>,
        requested: &[(String, String)],
    ) -> Result<BTreeMap<String, ColumnMask>> {
        let mut masks = BTreeMap::new();
        for (col, kind) in requested {
            if !perms.contains(&Permission::Select) && !perms.contains(&Permission::All) {
                return Err(Error::invalid("--mask needs SELECT in --permissions"));
            }
            // A TABLE tag grant may mask columns by name, in whatever
            // table they match.
            if let Resource::LfTagPolicy {
                resource_type: TagResourceType::Table,
                ..
            } = resource
            {
                masks.insert(ident(col, "mask column")?, ColumnMask::parse(kind)?);
                continue;
            }
            let Some(t) = resource
                .table()
                .filter(|_| !matches!(resource, Resource::DataFilter { .. }))
                .and_then(|t| snap.catalog.table(caller.account(), t))
            else {
                return Err(Error::invalid(
                    "--mask applies only to table and TABLE tag grants; name a --table",
                ));
            };
            let col = self
                .check_visible_columns(snap, caller, t, std::slice::from_ref(col))?
                .into_iter()
                .next()
                .ok_or_else(|| Error::invalid("name a column with --mask COLUMN=KIND"))?;
            if let Resource::TableWithColumns { columns, .. } = resource
                && !columns.contains(&col)
            {
                return Err(Error::invalid(format!(
                    "mask column `{col}` is not among the granted columns"
                )));
            }
            masks.insert(col, ColumnMask::parse(kind)?);
        }
        Ok(masks)
    }

    /// Refuses a non-admin changing its own grants through the grant option:
    /// granting to, or revoking from, itself or a group it belongs to.
    pub(crate) fn refuse_own_grants(
        &self,
        snap: &Snapshot,
        caller: &Caller,
        grantee: &Principal,
    ) -> Result<()> {
        if self.is_admin(snap, caller) {
            return Ok(());
        }
        if grantee == &caller.principal {
            return Err(Error::denied(format!(
                "`{}` may not change its own grants through the grant option; ask a data lake \
                 admin to grant or revoke them",
                caller.principal
            )));
        }
        if caller.groups.contains(grantee) {
            return Err(Error::denied(format!(
                "`{}` may not change the grants of group `{grantee}`, which it belongs to, \
                 through the grant option; ask a data lake admin to grant or revoke them",
                caller.principal
            )));
        }
        Ok(())
    }

    /// Whether the caller may grant (or revoke) `perms` on `resource`:
    /// admins may; others need the grant option on the same or a wider
    /// resource (rule 10).
    pub(crate) fn check_grant_option(
        &self,
        snap: &Snapshot,
        caller: &Caller,
        resource: &Resource,
        perms: &BTreeSet<Permission>,
    ) -> Result<()> {
        if self.is_admin(snap, caller) {
            return Ok(());
        }
        let acct = caller.account();
        let authz = Authorizer::new(&snap.catalog, &snap.compiled);
        let p = PrincipalCtx::new(caller)?;
        let perms = compile::expand(perms, resource);
        let targets: Vec<Target> = match resource {
            Resource::Catalog => vec![Target::Catalog(acct.clone())],
            Resource::Database { database } => {
                vec![Target::Database(acct.clone(), database.clone())]
            }
            Resource::Table { table } | Resource::ResourceLink { link: table } => {
                vec![Target::Table(acct.clone(), table.clone())]
            }
            Resource::TableWithColumns { table, columns } => {
                let t = snap
                    .catalog
                    .table(acct, table)
                    .ok_or_else(|| table_not_found(table))?;
                t.columns
                    .iter()
                    .filter(|c| columns.contains(&c.name))
                    .map(|c| Target::Column(acct.clone(), table.clone(), c.name.clone()))
                    .collect()
            }
            Resource::DataFilter { table, filter } => vec![Target::DataFilter(
                acct.clone(),
                table.clone(),
                filter.clone(),
            )],
            Resource::DataLocation { uri } => vec![Target::Location(acct.clone(), uri.clone())],
            Resource::LfTag { key, values } => values
                .iter()
                .map(|v| Target::TagValue(acct.clone(), key.clone(), v.clone()))
                .collect(),
            Resource::LfTagPolicy { .. } => {
                // Granting through a tag expression needs
                // GRANT_WITH_LF_TAG_EXPRESSION on every key=value it names,
                // or a grantable tag policy grant at least as wide.
                if self.holds_tag_expression_right(snap, caller, resource)?
                    || !self
                        .wider_tag_grants(snap, caller, resource, &perms)
                        .is_empty()
                {
                    return Ok(());
                }
                return Err(Error::denied(format!(
                    "`{}` may not grant on {resource}: it needs GRANT_WITH_LF_TAG_EXPRESSION on \
                     every tag value named, or a grantable grant with the same or a narrower \
                     expression; ask a data lake admin",
                    caller.principal
                )));
            }
        };
        if targets.is_empty() {
            return Err(Error::denied(format!(
                "`{}` may not grant or revoke on {resource}: it names nothing the caller holds a \
                 grant option for; ask a data lake admin",
                caller.principal
            )));
        }
        for perm in &perms {
            for t in &targets {
                let d = authz.decide(&p, &compile::grant_action_name(*perm), t)?;
                if !d.allowed {
                    return Err(Error::denied(format!(
                        "`{}` may not grant or revoke {perm} on {resource}: it holds no grant \
                         option for it on this or a wider resource; ask a data lake admin",
                        caller.principal
                    )));
                }
            }
        }
        Ok(())
    }

    /// Whether the caller holds GRANT_WITH_LF_TAG_EXPRESSION on every value a
    /// tag expression names.
    fn holds_tag_expression_right(
        &self,
        snap: &Snapshot,
        caller: &Caller,
        resource: &Resource,
    ) -> Result<bool> {
        let Resource::LfTagPolicy { expression, .. } = resource else {
            return Ok(false);
        };
        let authz = Authorizer::new(&snap.catalog, &snap.compiled);
        let p = PrincipalCtx::new(caller)?;
        let acct = caller.account();
        for (k, vs) in expression {
            for v in vs {
                let d = authz.decide(
                    &p,
                    Permission::GrantWithLfTagExpression.as_str(),
                    &Target::TagValue(acct.clone(), k.clone(), v.clone()),
                )?;
                if !d.allowed {
                    return Ok(false);
                }
            }
        }
        Ok(!expression.is_empty())
    }

    /// The caller's (and its groups') grantable tag policy grants of the same
    /// resource type that are at least as wide as `resource` and hold `perms`
    /// with the grant option.
    fn wider_tag_grants<'s>(
        &self,
        snap: &'s Snapshot,
        caller: &Caller,
        resource: &Resource,
        perms: &BTreeSet<Permission>,
    ) -> Vec<&'s Grant> {
        let Resource::LfTagPolicy {
            resource_type,
            expression,
        } = resource
        else {
            return Vec::new();
        };
        let mine: Vec<&Principal> = std::iter::once(&caller.principal)
            .chain(caller.groups.iter())
            .collect();
        snap.catalog
            .grants
            .values()
            .filter(|g| {
                if &g.account != caller.account() || !mine.contains(&&g.principal) {
                    return false;
                }
                let Resource::LfTagPolicy {
                    resource_type: rt,
                    expression: held,
                } = &g.resource
                else {
                    return false;
                };
                // Narrower: every key the held grant constrains is constrained
                // at least as tightly by the new expression.
                rt == resource_type
                    && compile::expand(&g.grantable, &g.resource).is_superset(perms)
                    && held
                        .iter()
                        .all(|(k, hv)| expression.get(k).is_some_and(|nv| nv.is_subset(hv)))
            })
            .collect()
    }

    /// The masks a non-admin's re-grant of SELECT must carry (rules 8, 10):
    /// for every column the grant covers, the grantor's own mask, or the
    /// stronger one it asked for. Fails if the grantor asks for a weaker
    /// mask, or if the grant would cover a column hidden from the grantor.
    /// Admins' requests are returned unchanged.
    pub(crate) fn regrant_masks(
        &self,
        snap: &Snapshot,
        caller: &Caller,
        resource: &Resource,
        perms: &BTreeSet<Permission>,
        requested: BTreeMap<String, ColumnMask>,
    ) -> Result<BTreeMap<String, ColumnMask>> {
        if self.is_admin(snap, caller)
            || !compile::expand(perms, resource).contains(&Permission::Select)
        {
            return Ok(requested);
        }
        let acct = caller.account();
        match resource {
            Resource::Table { table } | Resource::TableWithColumns { table, .. } => {
                let cols = match resource {
                    Resource::TableWithColumns { columns, .. } => columns.clone(),
                    _ => ColumnSelection::All,
                };
                let t = snap
                    .catalog
                    .table(acct, table)
                    .ok_or_else(|| table_not_found(table))?;
                let names: Vec<String> = t
                    .columns
                    .iter()
                    .filter(|c| cols.contains(&c.name))
                    .map(|c| c.name.clone())
                    .collect();
                let authz = Authorizer::new(&snap.catalog, &snap.compiled);
                let p = PrincipalCtx::new(caller)?;
                let select: Vec<Decision> =
                    authz.decide_columns(&p, Permission::Select.as_str(), acct, table, &names)?;
                if select.len() != names.len() || select.iter().any(|d| !d.allowed) {
                    // Only a table-level grant can get here (named columns
                    // were checked against the caller's visible ones): do not
                    // name the hidden columns.
                    return Err(Error::denied(format!(
                        "`{}` may not grant SELECT on the whole table `{table}`: part of it is \
                         hidden from it, and a re-grant may not reveal more than the grantor \
                         sees; grant an explicit --columns list of the columns it can see",
                        caller.principal
                    )));
                }
                let grant_opt = authz.decide_columns(
                    &p,
                    &compile::grant_action_name(Permission::Select),
                    acct,
                    table,
                    &names,
                )?;
                let mut out = BTreeMap::new();
                for (name, d) in names.iter().zip(grant_opt.iter()) {
                    if !d.allowed {
                        return Err(Error::denied(format!(
                            "`{}` may not grant or revoke SELECT on {resource}: it holds no \
                             grant option for it on this or a wider resource; ask a data lake \
                             admin",
                            caller.principal
                        )));
                    }
                    let held = held_mask(snap, &d.reasons, name);
                    if let Some(m) = travel(caller, name, held.as_ref(), requested.get(name))? {
                        out.insert(name.clone(), m);
                    }
                }
                Ok(out)
            }
            Resource::LfTagPolicy {
                resource_type: TagResourceType::Table,
                ..
            } => {
                if self.holds_tag_expression_right(snap, caller, resource)? {
                    // Delegated by an admin through the tag values themselves:
                    // no grant of data, so no mask to carry.
                    return Ok(requested);
                }
                let held = self.wider_tag_grants(snap, caller, resource, perms);
                // A column name masked by every held grant keeps the most
                // revealing of those masks; one held grant without a mask for
                // it shows it in the clear.
                let mut names: BTreeSet<&String> = requested.keys().collect();
                for g in &held {
                    names.extend(g.masks.keys());
                }
                let mut out = BTreeMap::new();
                for name in names {
                    let mut best: Option<&ColumnMask> = None;
                    let mut clear = held.is_empty();
                    for g in &held {
                        match g.masks.get(name) {
                            None => clear = true,
                            Some(m) => {
                                if best.is_none_or(|b| m.revealing_rank() > b.revealing_rank()) {
                                    best = Some(m);
                                }
                            }
                        }
                    }
                    let h = if clear { None } else { best };
                    if let Some(m) = travel(caller, name, h, requested.get(name))? {
                        out.insert(name.clone(), m);
                    }
                }
                Ok(out)
            }
            Resource::DataFilter { table, filter } => {
                self.check_filter_regrant(snap, caller, table, filter)?;
                Ok(requested)
            }
            _ => Ok(requested),
        }
    }

    /// A data filter carries no masks, so a non-admin may re-grant SELECT on
    /// one only if that reveals nothing it holds masked or hidden: either its
    /// grant option is on the filter itself (a grant on the filter, admin
    /// rights or an account policy), or it holds every column the filter
    /// shows unmasked through grants with the grant option.
    fn check_filter_regrant(
        &self,
        snap: &Snapshot,
        caller: &Caller,
        table: &crate::model::TableName,
        filter: &str,
    ) -> Result<()> {
        let acct = caller.account();
        let authz = Authorizer::new(&snap.catalog, &snap.compiled);
        let p = PrincipalCtx::new(caller)?;
        let d = authz.decide(
            &p,
            &compile::grant_action_name(Permission::Select),
            &Target::DataFilter(acct.clone(), table.clone(), filter.to_string()),
        )?;
        let on_filter = d
            .reasons
            .iter()
            .any(|r| match snap.compiled.get(r).map(|p| &p.source) {
                Some(PolicySource::GrantOption(id)) => snap
                    .catalog
                    .grants
                    .get(id)
                    .is_some_and(|g| matches!(g.resource, Resource::DataFilter { .. })),
                Some(PolicySource::Admin { .. }) | Some(PolicySource::File { .. }) => true,
                _ => false,
            });
        if on_filter {
            return Ok(());
        }
        let (Some(f), Some(t)) = (
            snap.catalog
                .filters
                .get(&(acct.clone(), table.clone(), filter.to_string())),
            snap.catalog.table(acct, table),
        ) else {
            return Err(Error::invalid(format!(
                "data filter `{filter}` does not exist on table `{table}`; create it with \
                 `lakegate data-filter create`"
            )));
        };
        let names: Vec<String> = t
            .columns
            .iter()
            .filter(|c| f.columns.contains(&c.name))
            .map(|c| c.name.clone())
            .collect();
        let select = authz.decide_columns(&p, Permission::Select.as_str(), acct, table, &names)?;
        if select.len() != names.len() || select.iter().any(|d| !d.allowed) {
            return Err(Error::denied(format!(
                "`{}` may not grant SELECT on data filter `{table}.{filter}`: it shows columns \
                 hidden from the grantor; ask a data lake admin",
                caller.principal
            )));
        }
        let grant_opt = authz.decide_columns(
            &p,
            &compile::grant_action_name(Permission::Select),
            acct,
            table,
            &names,
        )?;
        for (name, d) in names.iter().zip(grant_opt.iter()) {
            if let Some(m) = held_mask(snap, &d.reasons, name) {
                return Err(Error::denied(format!(
                    "`{}` holds column `{name}` masked as `{m}`, and data filter \
                     `{table}.{filter}` shows it unmasked (filters carry no masks), so it may not \
                     grant SELECT on the filter; grant `--table {table} --columns ...` with \
                     `--mask {name}={m}` instead, or ask a data lake admin",
                    caller.principal
                )));
            }
        }
        // Which rows a filter returns depends on its predicate: one over a
        // column the grantor sees only masked (or on some rows) would tell
        // the grantee what the grantor may not read.
        if let crate::model::RowFilter::Predicate(src) = &f.rows
            && !crate::predicate::compares_only(src, t, &self.clear_columns(snap, caller, t)?)
        {
            return Err(Error::denied(format!(
                "`{}` may not grant SELECT on data filter `{table}.{filter}`: its row filter \
                 compares a column the grantor does not see in the clear; ask a data lake admin",
                caller.principal
            )));
        }
        Ok(())
    }

    /// The columns of `t` the caller sees in the clear on every row it sees
    /// (data lake admins: all of them).
    pub(crate) fn clear_columns(
        &self,
        snap: &Snapshot,
        caller: &Caller,
        t: &crate::model::Table,
    ) -> Result<BTreeSet<String>> {
        if self.is_admin(snap, caller) {
            return Ok(t.columns.iter().map(|c| c.name.clone()).collect());
        }
        match snap.table_access(caller, &t.name) {
            Ok(a) => Ok(a.clear_columns()),
            Err(Error::PermissionDenied(_) | Error::InvalidArgument(_)) => Ok(BTreeSet::new()),
            Err(e) => Err(e),
        }
    }
}
