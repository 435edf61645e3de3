//! LF-tag administration (DESIGN §3 rule 5): `lf-tag create|update|delete|list`
//! and `lf-tag assign|unassign`.
//!
//! Keys and values are stored lower case. A resource carries at most one value
//! per key: assigning a new value replaces the old one, and one command naming
//! two values of one key for the same resource is an error. A value still
//! assigned (or named by a grant) cannot be removed, and a key still in use
//! cannot be deleted, because that would silently change what grants mean.

use std::collections::BTreeSet;

use crate::authorize::{Authorizer, PrincipalCtx, Target};
use crate::catalog::Change;
use crate::error::{Error, Result};
use crate::governance::{Governance, Snapshot, grant_id};
use crate::model::{
    Caller, GrantOrigin, LfTag, Permission, Resource, Table, TagAssignment, TagTarget, clip, ident,
};

/// The table permissions Lake Formation asks for, with the grant option, to
/// assign a tag to a table or column (DESIGN §3 rule 5).
const TABLE_TAG_RIGHTS: [Permission; 6] = [
    Permission::Describe,
    Permission::Alter,
    Permission::Drop,
    Permission::Insert,
    Permission::Select,
    Permission::Delete,
];

/// Most values one LF-tag key may have.
pub const MAX_TAG_VALUES: usize = 1000;

fn tag_value(v: &str) -> Result<String> {
    let v = v.trim().to_ascii_lowercase();
    if v.is_empty()
        || v.len() > 256
        || !v
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.:/@+=".contains(c))
    {
        return Err(Error::invalid(format!(
            "LF-tag value `{}` is not valid; use letters, digits and `_-.:/@+=`, at most 256 characters",
            clip(&v)
        )));
    }
    Ok(v)
}

/// Where an assignment goes, as the CLI names it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TagAssignRequest {
    /// `--database DB`
    pub database: Option<String>,
    /// `--table DB.TABLE`
    pub table: Option<String>,
    /// `--columns a,b` (with `--table`)
    pub columns: Vec<String>,
    /// `--tag KEY=VALUE`, possibly repeated.
    pub tags: Vec<(String, String)>,
}

impl Governance {
    fn require_admin(&self, snap: &Snapshot, caller: &Caller, what: &str) -> Result<()> {
        if self.is_admin(snap, caller) {
            Ok(())
        } else {
            Err(Error::denied(format!(
                "only a data lake admin of `{}` may {what}; ask one",
                caller.account()
            )))
        }
    }

    /// `lf-tag create KEY --values V1,V2` (admins).
    pub fn create_lf_tag(&self, caller: &Caller, key: &str, values: &[String]) -> Result<LfTag> {
        let key = ident(key, "LF-tag key")?;
        let vals = values
            .iter()
            .map(|v| tag_value(v))
            .collect::<Result<BTreeSet<_>>>()?;
        if vals.is_empty() || vals.len() > MAX_TAG_VALUES {
            return Err(Error::invalid(format!(
                "an LF-tag needs 1 to {MAX_TAG_VALUES} values; give them with --values V1,V2"
            )));
        }
        self.mutate(|snap| {
            self.require_admin(snap, caller, "create LF-tags")?;
            if snap
                .catalog
                .tags
                .contains_key(&(caller.account().clone(), key.clone()))
            {
                return Err(Error::AlreadyExists(format!(
                    "LF-tag `{key}` already exists; use `lakegate lf-tag update` to change its values"
                )));
            }
            let t = LfTag {
                account: caller.account().clone(),
                key: key.clone(),
                values: vals.clone(),
            };
            Ok((vec![Change::PutTag(t.clone())], t))
        })
    }

    /// `lf-tag update KEY [--add V..] [--remove V..]` (admins). Removing a
    /// value that is assigned or granted on is refused.
    pub fn update_lf_tag(
        &self,
        caller: &Caller,
        key: &str,
        add: &[String],
        remove: &[String],
    ) -> Result<LfTag> {
        let key = ident(key, "LF-tag key")?;
        let add = add
            .iter()
            .map(|v| tag_value(v))
            .collect::<Result<BTreeSet<_>>>()?;
        let remove = remove
            .iter()
            .map(|v| tag_value(v))
            .collect::<Result<BTreeSet<_>>>()?;
        self.mutate(|snap| {
            self.require_admin(snap, caller, "change LF-tags")?;
            let acct = caller.account().clone();
            let Some(old) = snap.catalog.tags.get(&(acct.clone(), key.clone())) else {
                return Err(Error::invalid(format!(
                    "LF-tag `{key}` does not exist; create it with `lakegate lf-tag create`"
                )));
            };
            for v in &remove {
                if !old.values.contains(v) {
                    return Err(Error::invalid(format!(
                        "`{v}` is not a value of LF-tag `{key}`; values are: {}",
                        old.values.iter().cloned().collect::<Vec<_>>().join(", ")
                    )));
                }
                if let Some(use_) = tag_value_in_use(snap, &acct, &key, Some(v)) {
                    return Err(Error::FailedPrecondition(format!(
                        "value `{v}` of LF-tag `{key}` is still {use_}; unassign or revoke it first"
                    )));
                }
            }
            let mut t = old.clone();
            t.values.extend(add.iter().cloned());
            t.values.retain(|v| !remove.contains(v));
            if t.values.is_empty() || t.values.len() > MAX_TAG_VALUES {
                return Err(Error::invalid(format!(
                    "an LF-tag needs 1 to {MAX_TAG_VALUES} values; delete the tag instead"
                )));
            }
            Ok((vec![Change::PutTag(t.clone())], t))
        })
    }

    /// `lf-tag delete KEY` (admins); refused while the key is in use.
    pub fn delete_lf_tag(&self, caller: &Caller, key: &str) -> Result<()> {
        let key = ident(key, "LF-tag key")?;
        self.mutate(|snap| {
            self.require_admin(snap, caller, "delete LF-tags")?;
            let acct = caller.account().clone();
            if !snap.catalog.tags.contains_key(&(acct.clone(), key.clone())) {
                return Err(Error::invalid(format!("LF-tag `{key}` does not exist")));
            }
            if let Some(use_) = tag_value_in_use(snap, &acct, &key, None) {
                return Err(Error::FailedPrecondition(format!(
                    "LF-tag `{key}` is still {use_}; unassign or revoke it first"
                )));
            }
            Ok((
                vec![Change::DeleteTag {
                    account: acct,
                    key: key.clone(),
                }],
                (),
            ))
        })
    }

    /// LF-tags of the caller's account (every principal may list them, as in
    /// Lake Formation with DESCRIBE on the catalog).
    pub fn list_lf_tags(&self, caller: &Caller) -> Result<Vec<LfTag>> {
        let snap = self.snapshot()?;
        Ok(snap
            .catalog
            .tags
            .iter()
            .filter(|((a, _), _)| a == caller.account())
            .map(|(_, t)| t.clone())
            .collect())
    }

    /// Resolves and authorizes the resources of an assign or unassign (DESIGN
    /// §3 rule 5, Lake Formation's "permissions needed to assign a tag").
    ///
    /// Authorization comes before validation (DESIGN §4): a database or
    /// table the caller may not describe is "not found" exactly like a
    /// missing one; the caller's rights on the table are checked before any
    /// column name is looked at; and a column the caller may not SELECT
    /// (including one a `forbid` hides) is reported exactly like a missing
    /// column, listing only the columns it can see.
    fn assign_targets(
        &self,
        snap: &Snapshot,
        caller: &Caller,
        req: &TagAssignRequest,
    ) -> Result<Vec<TagTarget>> {
        let admin = self.is_admin(snap, caller);
        let acct = caller.account();
        match (&req.database, &req.table) {
            (Some(db), None) => {
                if !req.columns.is_empty() {
                    return Err(Error::invalid(
                        "--columns goes with --table, not --database",
                    ));
                }
                let d = self.visible_database(snap, caller, db)?.name.clone();
                let target = TagTarget::Database {
                    database: d.clone(),
                };
                if !admin {
                    self.require_resource_rights(snap, caller, &target)?;
                    // Re-tagging the database changes the tags every table
                    // and column in it inherits: a forbid that hides any of
                    // them from the caller must not be defeatable that way.
                    for t in snap.catalog.tables_in(acct, &d) {
                        self.require_nothing_forbidden(snap, caller, t, &target)?;
                    }
                }
                Ok(vec![target])
            }
            (None, Some(t)) => {
                let table = self.visible_table(snap, caller, t)?;
                let table_target = TagTarget::Table {
                    table: table.name.clone(),
                };
                if req.columns.is_empty() {
                    if !admin {
                        self.require_resource_rights(snap, caller, &table_target)?;
                        self.require_nothing_forbidden(snap, caller, table, &table_target)?;
                    }
                    return Ok(vec![table_target]);
                }
                if admin {
                    return Ok(table
                        .check_columns(&req.columns)?
                        .into_iter()
                        .map(|c| TagTarget::Column {
                            table: table.name.clone(),
                            column: c,
                        })
                        .collect());
                }
                // The table-level part of the rule first, so that a caller
                // without rights learns nothing about the columns.
                self.require_column_table_rights(snap, caller, table)?;
                // Columns the caller may SELECT are the ones that exist for
                // it (a forbid-hidden column does not).
                let seen = self.selectable_columns(snap, caller, table)?;
                let mut shown = table.clone();
                shown.columns.retain(|c| seen.contains(&c.name));
                let cols = shown.check_columns(&req.columns)?;
                let mut out = Vec::with_capacity(cols.len());
                for c in cols {
                    let target = TagTarget::Column {
                        table: table.name.clone(),
                        column: c,
                    };
                    self.require_resource_rights(snap, caller, &target)?;
                    out.push(target);
                }
                Ok(out)
            }
            _ => Err(Error::invalid(
                "name exactly one of --database DB or --table DB.TABLE [--columns a,b]",
            )),
        }
    }

    /// Columns of `table` the caller may SELECT (Cedar decides, forbids
    /// included).
    fn selectable_columns(
        &self,
        snap: &Snapshot,
        caller: &Caller,
        table: &Table,
    ) -> Result<BTreeSet<String>> {
        let authz = Authorizer::new(&snap.catalog, &snap.compiled);
        let p = PrincipalCtx::new(caller)?;
        let names: Vec<String> = table.columns.iter().map(|c| c.name.clone()).collect();
        let ds = authz.decide_columns(
            &p,
            Permission::Select.as_str(),
            caller.account(),
            &table.name,
            &names,
        )?;
        Ok(names
            .into_iter()
            .zip(ds)
            .filter(|(_, d)| d.allowed)
            .map(|(n, _)| n)
            .collect())
    }

    /// Whether the caller owns the resource: it created it and still holds
    /// the creator's grant on it (an admin may revoke that, and with it the
    /// ownership).
    fn owns(&self, snap: &Snapshot, caller: &Caller, target: &TagTarget) -> bool {
        let acct = caller.account();
        let (creator, resource) = match target {
            TagTarget::Database { database } => (
                snap.catalog.database(acct, database).map(|d| &d.creator),
                Resource::Database {
                    database: database.clone(),
                },
            ),
            TagTarget::Table { table } | TagTarget::Column { table, .. } => (
                snap.catalog.table(acct, table).map(|t| &t.creator),
                Resource::Table {
                    table: table.clone(),
                },
            ),
        };
        creator == Some(&caller.principal)
            && snap
                .catalog
                .grants
                .get(&grant_id(acct, &caller.principal, &resource))
                .is_some_and(|g| g.origin == GrantOrigin::Creator)
    }

    /// Lake Formation's rule for assigning a tag to a resource, beyond
    /// ASSOCIATE on the value: ownership of the resource, or **all** of the
    /// resource's permissions listed below with the grant option. The note
    /// (`shared/notes/lake-formation.md`, "Permissions needed to assign a
    /// tag") lists three alternatives ("one of": owner; `Super` with the
    /// grant option; "these permissions with the grant option") and the last
    /// one names a set, so it is read as *all of* them (Super, i.e. ALL with
    /// the grant option, implies every one):
    /// - database: DESCRIBE, CREATE_TABLE, ALTER, DROP;
    /// - table and column: DESCRIBE, ALTER, DROP, INSERT, SELECT, DELETE
    ///   (for a column, SELECT on that column and the rest on its table).
    ///
    /// Each permission must be held (Cedar, so a `forbid` takes it away) as
    /// well as grantable, because a forbid covers only the action it names,
    /// never the `GRANT:` action. Ownership does not bypass forbids either.
    fn require_resource_rights(
        &self,
        snap: &Snapshot,
        caller: &Caller,
        target: &TagTarget,
    ) -> Result<()> {
        let acct = caller.account();
        let owner = self.owns(snap, caller, target);
        let checks: Vec<(Permission, Target)> = match target {
            TagTarget::Database { database } => [
                Permission::Describe,
                Permission::CreateTable,
                Permission::Alter,
                Permission::Drop,
            ]
            .into_iter()
            .map(|p| (p, Target::Database(acct.clone(), database.clone())))
            .collect(),
            TagTarget::Table { table } => TABLE_TAG_RIGHTS
                .into_iter()
                .map(|p| (p, Target::Table(acct.clone(), table.clone())))
                .collect(),
            TagTarget::Column { table, column } => vec![(
                Permission::Select,
                Target::Column(acct.clone(), table.clone(), column.clone()),
            )],
        };
        self.require_rights(snap, caller, target, owner, &checks)
    }

    /// The table-level half of the rule for column targets: DESCRIBE, ALTER,
    /// DROP, INSERT and DELETE on the table with the grant option (SELECT is
    /// checked per column).
    fn require_column_table_rights(
        &self,
        snap: &Snapshot,
        caller: &Caller,
        table: &Table,
    ) -> Result<()> {
        let acct = caller.account();
        let target = TagTarget::Table {
            table: table.name.clone(),
        };
        let owner = self.owns(snap, caller, &target);
        let checks: Vec<(Permission, Target)> = TABLE_TAG_RIGHTS
            .into_iter()
            .filter(|p| *p != Permission::Select)
            .map(|p| (p, Target::Table(acct.clone(), table.name.clone())))
            .collect();
        self.require_rights(snap, caller, &target, owner, &checks)
    }

    fn require_rights(
        &self,
        snap: &Snapshot,
        caller: &Caller,
        target: &TagTarget,
        owner: bool,
        checks: &[(Permission, Target)],
    ) -> Result<()> {
        let authz = Authorizer::new(&snap.catalog, &snap.compiled);
        let p = PrincipalCtx::new(caller)?;
        let mut missing = Vec::new();
        for (perm, t) in checks {
            let held = authz.decide(&p, perm.as_str(), t)?.allowed;
            let grantable = held
                && (owner
                    || authz
                        .decide(&p, &crate::compile::grant_action_name(*perm), t)?
                        .allowed);
            if !grantable {
                missing.push(perm.as_str());
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        let needed = checks
            .iter()
            .map(|(p, _)| p.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        Err(Error::denied(format!(
            "`{}` may not assign or remove LF-tags on {}: that needs ownership of it or {needed} \
             on it with the grant option, and it lacks {} with the grant option; ask a data lake \
             admin",
            caller.principal,
            describe_target(target),
            missing.join(", ")
        )))
    }

    /// Refuses a re-tag that would change the effective tags of a table or
    /// column a `forbid` hides from the caller (the table or any column of it).
    fn require_nothing_forbidden(
        &self,
        snap: &Snapshot,
        caller: &Caller,
        table: &Table,
        target: &TagTarget,
    ) -> Result<()> {
        let authz = Authorizer::new(&snap.catalog, &snap.compiled);
        let p = PrincipalCtx::new(caller)?;
        let acct = caller.account();
        let mut targets = vec![Target::Table(acct.clone(), table.name.clone())];
        targets.extend(
            table
                .columns
                .iter()
                .map(|c| Target::Column(acct.clone(), table.name.clone(), c.name.clone())),
        );
        for t in &targets {
            if !authz
                .forbidding(&p, Permission::Select.as_str(), t)?
                .is_empty()
            {
                return Err(Error::denied(format!(
                    "`{}` may not assign or remove LF-tags on {}: a policy of the account hides \
                     part of it from the caller, and re-tagging must not change what that policy \
                     covers; ask a data lake admin",
                    caller.principal,
                    describe_target(target)
                )));
            }
        }
        Ok(())
    }

    /// Validates `--tag KEY=VALUE` and checks ASSOCIATE on each value.
    fn check_tags(
        &self,
        snap: &Snapshot,
        caller: &Caller,
        req: &TagAssignRequest,
    ) -> Result<Vec<(String, String)>> {
        if req.tags.is_empty() {
            return Err(Error::invalid("give at least one --tag KEY=VALUE"));
        }
        let mut out: Vec<(String, String)> = Vec::new();
        for (k, v) in &req.tags {
            let k = ident(k, "LF-tag key")?;
            let v = tag_value(v)?;
            if out.iter().any(|(ok, _)| ok == &k) {
                return Err(Error::invalid(format!(
                    "LF-tag `{k}` is given twice; a resource carries one value per key"
                )));
            }
            let Some(tag) = snap
                .catalog
                .tags
                .get(&(caller.account().clone(), k.clone()))
            else {
                return Err(Error::invalid(format!(
                    "LF-tag `{k}` does not exist; create it with `lakegate lf-tag create`"
                )));
            };
            if !tag.values.contains(&v) {
                return Err(Error::invalid(format!(
                    "`{v}` is not a value of LF-tag `{k}`; values are: {}",
                    tag.values.iter().cloned().collect::<Vec<_>>().join(", ")
                )));
            }
            self.require_associate(snap, caller, &k, &v)?;
            out.push((k, v));
        }
        Ok(out)
    }

    fn require_associate(&self, snap: &Snapshot, caller: &Caller, k: &str, v: &str) -> Result<()> {
        if self.is_admin(snap, caller) {
            return Ok(());
        }
        self.require(
            snap,
            caller,
            Permission::Associate,
            &Target::TagValue(caller.account().clone(), k.to_string(), v.to_string()),
            &format!("LF-tag `{k}={v}`"),
        )
    }

    /// `lf-tag assign`: sets (replacing) one value per key on each target.
    /// Replacing a value also needs ASSOCIATE on the value it removes.
    pub fn assign_lf_tags(
        &self,
        caller: &Caller,
        req: &TagAssignRequest,
    ) -> Result<Vec<TagAssignment>> {
        self.mutate(|snap| {
            let targets = self.assign_targets(snap, caller, req)?;
            let tags = self.check_tags(snap, caller, req)?;
            let mut changes = Vec::new();
            let mut out = Vec::new();
            for t in &targets {
                for (k, v) in &tags {
                    let key = (caller.account().clone(), t.clone(), k.clone());
                    if let Some(old) = snap.catalog.tag_assignments.get(&key)
                        && &old.value != v
                    {
                        self.require_associate(snap, caller, k, &old.value)
                            .map_err(|_| {
                                Error::denied(format!(
                                    "`{}` lacks ASSOCIATE on LF-tag `{k}={}`, which `{k}={v}` \
                                     would replace on {}; replacing a value needs ASSOCIATE on \
                                     both; ask a data lake admin",
                                    caller.principal,
                                    old.value,
                                    describe_target(t)
                                ))
                            })?;
                    }
                    let a = TagAssignment {
                        account: caller.account().clone(),
                        target: t.clone(),
                        key: k.clone(),
                        value: v.clone(),
                    };
                    changes.push(Change::PutTagAssignment(a.clone()));
                    out.push(a);
                }
            }
            Ok((changes, out))
        })
    }

    /// `lf-tag unassign`: removes the assignment of each key (the inherited
    /// value, if any, applies again). Needs the same rights on the resource
    /// as assign, and ASSOCIATE on the value removed.
    pub fn unassign_lf_tags(&self, caller: &Caller, req: &TagAssignRequest) -> Result<usize> {
        self.mutate(|snap| {
            let targets = self.assign_targets(snap, caller, req)?;
            let tags = self.check_tags(snap, caller, req)?;
            let mut changes = Vec::new();
            for t in &targets {
                for (k, v) in &tags {
                    let key = (caller.account().clone(), t.clone(), k.clone());
                    match snap.catalog.tag_assignments.get(&key) {
                        Some(a) if &a.value == v => changes.push(Change::DeleteTagAssignment {
                            account: caller.account().clone(),
                            target: t.clone(),
                            key: k.clone(),
                        }),
                        _ => {
                            return Err(Error::FailedPrecondition(format!(
                                "`{k}={v}` is not assigned directly to that resource; nothing was unassigned"
                            )));
                        }
                    }
                }
            }
            let n = changes.len();
            Ok((changes, n))
        })
    }

    /// The effective tags of a table and its columns, for explain and tests.
    pub fn effective_tags(
        &self,
        caller: &Caller,
        table: &str,
    ) -> Result<(crate::tags::Tags, Vec<(String, crate::tags::Tags)>)> {
        let snap = self.snapshot()?;
        let t = self.visible_table(&snap, caller, table)?;
        // Only the columns the caller can see (admins: all of them).
        let t = &if self.is_admin(&snap, caller) {
            t.clone()
        } else {
            self.visible_schema(&snap, caller, t)?
        };
        let tt = crate::tags::table_tags(&snap.catalog, caller.account(), &t.name);
        let cols = t
            .columns
            .iter()
            .map(|c| {
                (
                    c.name.clone(),
                    crate::tags::column_tags(
                        &snap.catalog,
                        caller.account(),
                        &t.name,
                        &tt,
                        &c.name,
                    ),
                )
            })
            .collect();
        Ok((tt, cols))
    }
}

/// Where a tag (value) is still used, if anywhere.
fn tag_value_in_use(
    snap: &Snapshot,
    account: &crate::model::AccountId,
    key: &str,
    value: Option<&str>,
) -> Option<String> {
    for ((a, target, k), asg) in &snap.catalog.tag_assignments {
        if a == account && k == key && value.is_none_or(|v| v == asg.value) {
            return Some(format!("assigned to {}", describe_target(target)));
        }
    }
    for g in snap.catalog.grants.values() {
        // A receiving account's re-grants of a shared tag expression are
        // kept under the owner but are not the owner's to see or to be
        // held up by: they reach nothing once the share is revoked, and
        // the share itself (a grant to the account) does count.
        if &g.account != account
            || (g.principal.kind().is_some() && g.principal.account() != account)
        {
            continue;
        }
        let used = match &g.resource {
            Resource::LfTag { key: k, values } => {
                k == key && value.is_none_or(|v| values.contains(v))
            }
            Resource::LfTagPolicy { expression, .. } => expression
                .get(key)
                .is_some_and(|vs| value.is_none_or(|v| vs.contains(v))),
            _ => false,
        };
        if used {
            return Some(format!("named by grant {} to {}", g.id, g.principal));
        }
    }
    None
}

fn describe_target(t: &TagTarget) -> String {
    match t {
        TagTarget::Database { database } => format!("database `{database}`"),
        TagTarget::Table { table } => format!("table `{table}`"),
        TagTarget::Column { table, column } => format!("column `{table}.{column}`"),
    }
}
