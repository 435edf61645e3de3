//! Cross-account shares (DESIGN §3 rule 6). Account A grants to account B;
//! B's admin re-grants to B's principals. What a principal of B may read of
//! A's table is the **intersection** of the two halves, each decided by the
//! same code as any other access ([`crate::access::effective_access`] asks
//! once as the receiving account, once as the principal):
//!
//! - rows: both halves' row predicates (AND);
//! - columns: those both halves show (∩), in table order;
//! - cells: visible where both halves show them;
//! - masks: the less revealing of the two, and in the clear only where both
//!   halves show the cell in the clear.
//!
//! A masked cell takes the less revealing of the two halves' masks even
//! where only one half masks it: never more revealing than either half,
//! sometimes less. Access is evaluated on every statement, never copied:
//! revoking A→B ends every B principal's access at once, and granting it
//! again restores it.

use std::collections::BTreeSet;

use crate::access::{ColumnAccess, RowPredicate, TableAccess, TrailEntry};
use crate::catalog::Catalog;
use crate::error::{Error, Result};
use crate::model::{AccountId, Caller, ColumnMask, Permission, Resource, TagResourceType};
use crate::predicate::RowExpr;

/// Whether account `owner` may share with account `receiver`: another
/// account, known to this server (its admins were bootstrapped).
///
/// Errors: INVALID_ARGUMENT naming what to do instead.
pub fn check_grantee(cat: &Catalog, owner: &AccountId, receiver: &AccountId) -> Result<()> {
    if receiver == owner {
        return Err(Error::invalid(format!(
            "`{receiver}` is your own account; grant to its principals by name, e.g. \
             `{receiver}:user/NAME` or `{receiver}:group/NAME`"
        )));
    }
    if !cat.admins.iter().any(|(a, _)| a == receiver) {
        return Err(Error::invalid(format!(
            "account `{receiver}` is not known to this server; its data lake admin must be \
             bootstrapped first (`lakegate serve --admin {receiver}:user/NAME`)"
        )));
    }
    Ok(())
}

/// What may be shared with another account (as in Lake Formation): a
/// database, a table (whole or some columns), a data cells filter, or a
/// DATABASE or TABLE tag expression; never DROP or ALL on a database.
///
/// Errors: INVALID_ARGUMENT saying what cannot be shared and why.
pub fn check_shareable(
    receiver: &AccountId,
    resource: &Resource,
    perms: &BTreeSet<Permission>,
) -> Result<()> {
    match resource {
        Resource::Database { .. }
        | Resource::LfTagPolicy {
            resource_type: TagResourceType::Database,
            ..
        } => {
            if let Some(p) = perms
                .iter()
                .find(|p| matches!(p, Permission::Drop | Permission::All))
            {
                return Err(Error::invalid(format!(
                    "{p} on a {} cannot be granted to another account (`{receiver}`); \
                     share DESCRIBE, CREATE_TABLE or ALTER instead",
                    resource.kind_name()
                )));
            }
            Ok(())
        }
        Resource::Table { .. }
        | Resource::TableWithColumns { .. }
        | Resource::DataFilter { .. }
        | Resource::LfTagPolicy { .. } => Ok(()),
        Resource::ResourceLink { link } => Err(Error::invalid(format!(
            "`{link}` is a resource link, which cannot be shared with another account \
             (`{receiver}`); only the owner of the table it points at can share that table"
        ))),
        Resource::Catalog | Resource::DataLocation { .. } | Resource::LfTag { .. } => {
            Err(Error::invalid(format!(
                "a {} cannot be shared with another account (`{receiver}`); share a database, a \
                 table, a data cells filter or a tag expression",
                resource.kind_name()
            )))
        }
    }
}

/// Rows both predicates admit.
pub fn both(a: &RowPredicate, b: &RowPredicate) -> RowPredicate {
    match (a, b) {
        (RowPredicate::All, x) | (x, RowPredicate::All) => x.clone(),
        (RowPredicate::AnyOf(x), RowPredicate::AnyOf(y)) => {
            if x.is_empty() || y.is_empty() {
                RowPredicate::AnyOf(Vec::new())
            } else {
                RowPredicate::AnyOf(vec![RowExpr::and(&RowExpr::any(x), &RowExpr::any(y))])
            }
        }
    }
}

/// Where a column is shown in the clear: everywhere without a mask, else
/// where a filter unmasks it (possibly nowhere).
fn clear(c: &ColumnAccess) -> RowPredicate {
    match (&c.mask, &c.unmasked) {
        (None, _) => RowPredicate::All,
        (Some(_), Some(u)) => u.clone(),
        (Some(_), None) => RowPredicate::AnyOf(Vec::new()),
    }
}

/// A mask that reveals no more than either half: a half's mask where the
/// other shows the clear value, the common mask where both agree, and
/// `null` where they differ. Masks are not ordered by what they reveal
/// (`last4` shows a suffix that `hash` hides; a hash lets anyone holding
/// the other half confirm guesses), so choosing either one by rank could
/// reveal what the other half withheld.
fn weaker(a: Option<&ColumnMask>, b: Option<&ColumnMask>) -> Option<ColumnMask> {
    match (a, b) {
        (None, None) => None,
        (Some(m), None) | (None, Some(m)) => Some(m.clone()),
        (Some(x), Some(y)) if x == y => Some(x.clone()),
        (Some(_), Some(_)) => Some(ColumnMask::Null),
    }
}

/// One column as both halves show it.
fn column(s: &ColumnAccess, l: ColumnAccess) -> ColumnAccess {
    let (mask, unmasked) = match both(&clear(s), &clear(&l)) {
        RowPredicate::All => (None, None),
        RowPredicate::AnyOf(v) if v.is_empty() => (weaker(s.mask.as_ref(), l.mask.as_ref()), None),
        p => (weaker(s.mask.as_ref(), l.mask.as_ref()), Some(p)),
    };
    let cells = match (&s.cells, &l.cells) {
        (None, None) => None,
        (Some(x), None) | (None, Some(x)) => Some(x.clone()),
        (Some(x), Some(y)) => Some(both(x, y)),
    };
    let mut reasons = s.reasons.clone();
    reasons.extend(l.reasons);
    ColumnAccess {
        mask,
        unmasked,
        cells,
        reasons,
        ..l
    }
}

/// Both halves of one table's access met: columns both show (in `b`'s
/// order), rows both admit, cells and masks per [`column`]; `a`'s trail
/// then `b`'s.
///
/// Errors: PERMISSION_DENIED (naming the table's account) when the halves
/// have no column in common.
pub fn meet(a: &TableAccess, b: TableAccess) -> Result<TableAccess> {
    let columns: Vec<ColumnAccess> = b
        .columns
        .into_iter()
        .filter_map(|l| {
            a.columns
                .iter()
                .find(|s| s.name == l.name)
                .map(|s| column(s, l))
        })
        .collect();
    if columns.is_empty() {
        return Err(Error::denied(format!(
            "no column of table `{}:{}` is both shared and granted",
            a.account, a.table
        )));
    }
    let mut trail = a.trail.clone();
    trail.extend(b.trail);
    Ok(TableAccess {
        rows: both(&a.rows, &b.rows),
        columns,
        trail,
        ..b
    })
}

/// The access of a principal of the receiving account on a shared table:
/// `share` (what the owner granted the receiving account) intersected with
/// `local` (what the receiving account granted the principal).
///
/// Errors: PERMISSION_DENIED when the two halves have no column in common.
pub fn intersect(share: &TableAccess, local: TableAccess, caller: &Caller) -> Result<TableAccess> {
    let mut met = meet(share, local).map_err(|_| {
        Error::denied(format!(
            "SELECT on table `{}:{}` is denied for `{}`: account `{}` shares none of the \
             columns your account granted you; ask your data lake admin",
            share.account, share.table, caller.principal, share.account
        ))
    })?;
    // The owner's half of the trail is the owner's business (its policy
    // files, and which columns its forbids hide): one line says it shared.
    let shared = share.trail.len().min(met.trail.len());
    let mut trail = vec![TrailEntry {
        policy: "share".into(),
        effect: "permit".into(),
        source: format!(
            "shared by account {} with account {} (with the grant option)",
            share.account,
            caller.account()
        ),
        decided: format!(
            "columns {}; {}",
            share
                .columns
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            match &share.rows {
                RowPredicate::All => "all rows".to_string(),
                RowPredicate::AnyOf(ps) if ps.is_empty() => "no rows".to_string(),
                // The owner's predicates may name columns it does not
                // share (rule 3): only that rows are restricted is said.
                RowPredicate::AnyOf(_) => "only the rows its filters allow".to_string(),
            }
        ),
    }];
    trail.extend(met.trail.drain(shared..).map(|t| TrailEntry {
        source: format!("granted by account {}: {}", caller.account(), t.source),
        ..t
    }));
    met.trail = trail;
    Ok(met)
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::indexing_slicing,
        clippy::panic,
        reason = "test code: a panic is a failed test"
    )]

    use super::*;
    use crate::model::{Format, LocationUri, Principal, TableName};

    fn col(name: &str, mask: Option<ColumnMask>, unmasked: Option<&str>) -> ColumnAccess {
        ColumnAccess {
            name: name.into(),
            data_type: "Utf8".into(),
            partition: false,
            mask,
            cells: None,
            unmasked: unmasked.map(|p| RowPredicate::AnyOf(vec![RowExpr::parse(p).unwrap()])),
            reasons: vec![format!("p-{name}")],
        }
    }

    fn access(columns: Vec<ColumnAccess>, rows: RowPredicate) -> TableAccess {
        TableAccess {
            account: AccountId::parse("111111111111").unwrap(),
            table: TableName::parse("sales.orders").unwrap(),
            location: LocationUri::parse("file:///lake/sales/orders/").unwrap(),
            format: Format::Parquet,
            partition_keys: vec![],
            columns,
            rows,
            trail: vec![],
        }
    }

    fn bob() -> Caller {
        Caller::new(Principal::parse("222222222222:user/bob").unwrap())
    }

    fn pred(p: &str) -> RowPredicate {
        RowPredicate::AnyOf(vec![RowExpr::parse(p).unwrap()])
    }

    #[test]
    fn columns_are_intersected_in_table_order_and_rows_anded() {
        let share = access(
            vec![col("id", None, None), col("region", None, None)],
            pred("region = 'EU'"),
        );
        let local = access(
            vec![col("id", None, None), col("email", None, None)],
            pred("id > 1"),
        );
        let a = intersect(&share, local, &bob()).unwrap();
        let names: Vec<&str> = a.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["id"]);
        let RowPredicate::AnyOf(ps) = &a.rows else {
            panic!("rows should be restricted: {:?}", a.rows)
        };
        assert_eq!(ps.len(), 1);
        let text = ps[0].to_string();
        assert!(
            text.contains("region = 'EU'") && text.contains("id > 1"),
            "{text}"
        );
        assert!(text.contains("AND"), "{text}");
    }

    #[test]
    fn all_rows_on_one_side_keeps_the_other_sides_rows() {
        let share = access(vec![col("id", None, None)], RowPredicate::All);
        let local = access(vec![col("id", None, None)], pred("id > 1"));
        assert_eq!(
            intersect(&share, local, &bob()).unwrap().rows,
            pred("id > 1")
        );
        let none = RowPredicate::AnyOf(vec![]);
        let share = access(vec![col("id", None, None)], none.clone());
        let local = access(vec![col("id", None, None)], pred("id > 1"));
        assert_eq!(intersect(&share, local, &bob()).unwrap().rows, none);
    }

    #[test]
    fn masks_never_reveal_more_than_either_half_and_clear_only_where_both_are_clear() {
        // Two different masks: null (neither reveals what the other hides;
        // last4 + hash would give a hash of the full value, for one).
        for (a, b) in [
            (ColumnMask::Last4, ColumnMask::Redact),
            (ColumnMask::Last4, ColumnMask::Hash),
            (ColumnMask::Expr("'x'".into()), ColumnMask::Last4),
        ] {
            let share = access(vec![col("e", Some(a.clone()), None)], RowPredicate::All);
            let local = access(vec![col("e", Some(b.clone()), None)], RowPredicate::All);
            let c = &intersect(&share, local, &bob()).unwrap().columns[0];
            assert_eq!(
                (c.mask.clone(), c.unmasked.clone()),
                (Some(ColumnMask::Null), None)
            );
        }
        // The same mask on both halves stays.
        let share = access(
            vec![col("e", Some(ColumnMask::Last4), None)],
            RowPredicate::All,
        );
        let local = access(
            vec![col("e", Some(ColumnMask::Last4), None)],
            RowPredicate::All,
        );
        let c = &intersect(&share, local, &bob()).unwrap().columns[0];
        assert_eq!(c.mask, Some(ColumnMask::Last4));
        // share: clear; local: hash → hash.
        let share = access(vec![col("e", None, None)], RowPredicate::All);
        let local = access(
            vec![col("e", Some(ColumnMask::Hash), None)],
            RowPredicate::All,
        );
        let c = &intersect(&share, local, &bob()).unwrap().columns[0];
        assert_eq!(c.mask, Some(ColumnMask::Hash));
        // Both clear: clear.
        let share = access(vec![col("e", None, None)], RowPredicate::All);
        let local = access(vec![col("e", None, None)], RowPredicate::All);
        assert_eq!(
            intersect(&share, local, &bob()).unwrap().columns[0].mask,
            None
        );
        // Clear on EU rows in the share, everywhere locally: clear on EU rows only.
        let share = access(
            vec![col("e", Some(ColumnMask::Null), Some("region = 'EU'"))],
            RowPredicate::All,
        );
        let local = access(vec![col("e", None, None)], RowPredicate::All);
        let c = &intersect(&share, local, &bob()).unwrap().columns[0];
        assert_eq!(c.mask, Some(ColumnMask::Null));
        assert_eq!(c.unmasked, Some(pred("region = 'EU'")));
    }

    #[test]
    fn cells_are_visible_where_both_halves_show_them() {
        let mut s = col("e", None, None);
        s.cells = Some(pred("region = 'EU'"));
        let share = access(vec![s], RowPredicate::All);
        let local = access(vec![col("e", None, None)], RowPredicate::All);
        let c = &intersect(&share, local, &bob()).unwrap().columns[0];
        assert_eq!(c.cells, Some(pred("region = 'EU'")));
    }

    #[test]
    fn no_common_column_is_denied_naming_the_owner() {
        let share = access(vec![col("id", None, None)], RowPredicate::All);
        let local = access(vec![col("email", None, None)], RowPredicate::All);
        let e = intersect(&share, local, &bob()).unwrap_err();
        assert!(matches!(e, Error::PermissionDenied(_)), "{e:?}");
        assert!(e.to_string().contains("111111111111"), "{e}");
    }
}
