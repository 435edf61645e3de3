//! LF-tag administration (DESIGN §3 rule 5): `lf-tag create|update|delete|list`
//! and `lf-tag assign|unassign`.
//!
//! Keys and values are stored lower case. A resource carries at most one value
//! per key: assigning a new value replaces the old one, and one command naming
//! two values of one key for the same resource is an error. A value still
//! assigned (or named by a grant) cannot be removed, and a key still in use
//! cannot be deleted, because that would silently change what grants mean.

use std::collections::BTreeSet;

use crate::authorize::Target;
use crate::catalog::Change;
use crate::error::{Error, Result};
use crate::governance::{Governance, Snapshot};
use crate::model::{Caller, LfTag, Permission, Resource, TagAssignment, TagTarget, clip, ident};

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

    fn assign_targets(
        &self,
        snap: &Snapshot,
        caller: &Caller,
        req: &TagAssignRequest,
    ) -> Result<Vec<TagTarget>> {
        match (&req.database, &req.table) {
            (Some(db), None) => {
                if !req.columns.is_empty() {
                    return Err(Error::invalid(
                        "--columns goes with --table, not --database",
                    ));
                }
                let d = crate::model::ident(db, "database")?;
                if snap.catalog.database(caller.account(), &d).is_none() {
                    return Err(Error::invalid(format!("database `{d}` was not found")));
                }
                Ok(vec![TagTarget::Database { database: d }])
            }
            (None, Some(t)) => {
                let table = self.visible_table(snap, caller, t)?;
                if req.columns.is_empty() {
                    Ok(vec![TagTarget::Table {
                        table: table.name.clone(),
                    }])
                } else {
                    Ok(table
                        .check_columns(&req.columns)?
                        .into_iter()
                        .map(|c| TagTarget::Column {
                            table: table.name.clone(),
                            column: c,
                        })
                        .collect())
                }
            }
            _ => Err(Error::invalid(
                "name exactly one of --database DB or --table DB.TABLE [--columns a,b]",
            )),
        }
    }

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
            if !self.is_admin(snap, caller) {
                self.require(
                    snap,
                    caller,
                    Permission::Associate,
                    &Target::TagValue(caller.account().clone(), k.clone(), v.clone()),
                    &format!("LF-tag `{k}={v}`"),
                )?;
            }
            out.push((k, v));
        }
        Ok(out)
    }

    /// `lf-tag assign`: sets (replacing) one value per key on each target.
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
    /// value, if any, applies again).
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
        if &g.account != account {
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
