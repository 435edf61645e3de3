//! Re-granting a shared tag expression (DESIGN §3 rules 6 and 10; issue 10
//! item 3). Account A shares a DATABASE or TABLE tag expression with account
//! B; B's data lake admin re-grants it to B's principals naming A's
//! expression with `--catalog-id A`: the same expression, or a narrower one
//! (the same keys, each with some of the shared values), and only
//! permissions the share holds with the grant option. Like a re-grant of a
//! shared table, the grant is kept under A (its tags are A's), and what the
//! principal reads is the share intersected with it, at query time.

use std::collections::{BTreeMap, BTreeSet};

use super::permissions::GrantRequest;
use super::resources::ResourceSpec;
use super::shares::Checked;
use super::{Governance, Snapshot};
use crate::compile;
use crate::error::{Error, Result};
use crate::model::{
    AccountId, Caller, ColumnMask, Grant, Permission, Principal, Resource, TagExpression,
    TagResourceType, clip, ident,
};

/// The expression a request names, keys and values lower-cased.
fn expression(spec: &ResourceSpec) -> Result<(TagResourceType, TagExpression)> {
    let ResourceSpec::LfTagPolicy {
        resource_type,
        tags,
        ..
    } = spec
    else {
        return Err(Error::invalid(
            "name a tag expression with --resource-type and --tag",
        ));
    };
    let rt = match resource_type.to_ascii_uppercase().as_str() {
        "DATABASE" => TagResourceType::Database,
        "TABLE" => TagResourceType::Table,
        _ => {
            return Err(Error::invalid(format!(
                "resource type `{}` is not DATABASE or TABLE",
                clip(resource_type)
            )));
        }
    };
    let mut expr: TagExpression = BTreeMap::new();
    for (k, vs) in tags {
        let key = ident(k, "LF-tag key")?;
        let values: BTreeSet<String> = vs.iter().map(|v| v.to_ascii_lowercase()).collect();
        if values.is_empty() {
            return Err(Error::invalid(format!(
                "name at least one value of LF-tag `{key}`"
            )));
        }
        if expr.insert(key.clone(), values).is_some() {
            return Err(Error::invalid(format!(
                "LF-tag key `{key}` appears twice in the expression; list its values once, \
                 comma-separated"
            )));
        }
    }
    if expr.is_empty() {
        return Err(Error::invalid(
            "a tag expression needs at least one --tag KEY=V1,V2",
        ));
    }
    Ok((rt, expr))
}

/// Whether `asked` is `held` or narrower: the same keys, each with a subset
/// of the held values.
fn within(asked: &TagExpression, held: &TagExpression) -> bool {
    asked.len() == held.len()
        && held
            .iter()
            .all(|(k, hv)| asked.get(k).is_some_and(|av| av.is_subset(hv)))
}

impl Governance {
    /// Checks a re-grant (or revoke) of `owner`'s shared tag expression by
    /// the receiving account's admin.
    pub(super) fn check_tag_share_regrant(
        &self,
        snap: &Snapshot,
        caller: &Caller,
        owner: &AccountId,
        req: &GrantRequest,
        revoke: bool,
    ) -> Result<Checked> {
        let (principal, perms) = self.regrant_basics(snap, caller, owner, req)?;
        let (resource_type, expr) = expression(&req.resource)?;
        let resource = Resource::LfTagPolicy {
            resource_type,
            expression: expr.clone(),
        };
        if let Some(p) = perms
            .iter()
            .find(|p| !resource.valid_permissions().contains(p))
        {
            return Err(Error::invalid(format!(
                "{p} cannot be granted on a {}",
                resource.kind_name()
            )));
        }
        // A revoke needs no share: the admin can always take back its own
        // re-grants.
        if revoke {
            return Ok((principal, resource, perms, BTreeMap::new()));
        }
        let home = caller.account();
        let receiver = Principal::Account(home.clone());
        let shares: Vec<&Grant> = snap
            .catalog
            .grants
            .values()
            .filter(|g| &g.account == owner && g.principal == receiver)
            .filter(|g| {
                matches!(&g.resource, Resource::LfTagPolicy { resource_type: rt, expression: held }
                    if *rt == resource_type && within(&expr, held))
            })
            .collect();
        let passes_on = shares
            .iter()
            .any(|g| compile::expand(&g.grantable, &g.resource).is_superset(&perms));
        if !passes_on {
            let held = shares
                .iter()
                .any(|g| compile::expand(&g.permissions, &g.resource).is_superset(&perms));
            return Err(Error::denied(if held {
                format!(
                    "account `{owner}` shares this tag expression with `{home}` without the \
                     grant option, so it reaches no principal of `{home}`; ask `{owner}` to \
                     grant it with --grantable"
                )
            } else {
                format!(
                    "account `{owner}` shares no {} with `{home}` that covers `{resource}` with \
                     {}; re-grant a shared expression (see `lakegate permissions list`) or a \
                     narrower one: the same keys, each with some of the shared values",
                    resource.kind_name(),
                    perms
                        .iter()
                        .map(|p| p.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }));
        }
        let mut masks = BTreeMap::new();
        for (c, m) in &req.masks {
            if resource_type != TagResourceType::Table || !perms.contains(&Permission::Select) {
                return Err(Error::invalid(
                    "--mask applies only to SELECT through a TABLE tag expression",
                ));
            }
            let mask = ColumnMask::parse(m)?;
            if matches!(mask, ColumnMask::Expr(_)) {
                return Err(Error::invalid(format!(
                    "an expression mask cannot be set on another account's tables (it could \
                     read columns `{owner}` does not share); use null, redact, last4 or hash"
                )));
            }
            masks.insert(ident(c, "mask column")?, mask);
        }
        Ok((principal, resource, perms, masks))
    }
}
