//! `lakegate explain` (DESIGN §5): what a query becomes for a principal, and
//! why.
//!
//! We rewrite the statement exactly as the proxy would for an external
//! engine ([`Placement::Inline`], so the row filters, cell rules and masks
//! are visible in the SQL), over one snapshot, with the same resolver
//! ([`access::effective_access`]). Errors from the rewrite are returned
//! unchanged, because explain must show the error a query would get (not
//! found, denied, bad SQL), not a friendlier one that would diverge.
//!
//! Only data lake admins may explain for another principal, or for other
//! groups or attributes than the caller's own credential carries: an
//! explanation shows filter predicates and where access came from, which is
//! admin-level metadata for anyone but the subject itself.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::access::{self, RowPredicate, TrailEntry};
use crate::error::{Error, Result};
use crate::governance::Governance;
use crate::model::{AccountId, Caller, ColumnMask, TableName};
use crate::rewrite::{self, Placement, RewriteOptions};
use crate::tags::{self, Tags};

/// What one table of the statement becomes for the subject.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TableExplanation {
    /// The owning account.
    pub account: AccountId,
    /// The table.
    pub table: TableName,
    /// The table as the subject's account names it: `DB.TABLE`, or
    /// `ACCOUNT:DB.TABLE` for another account's table read through a
    /// resource link.
    pub display: String,
    /// Columns the subject sees, in table order.
    pub visible_columns: Vec<String>,
    /// Arrow data type of each visible column.
    pub data_types: BTreeMap<String, String>,
    /// Rows the subject sees.
    pub rows: RowPredicate,
    /// Per visible column whose cells are visible in fewer rows than the
    /// table's visible rows: the rows where they are (elsewhere NULL).
    pub cells: BTreeMap<String, RowPredicate>,
    /// Per masked visible column: its mask.
    pub masks: BTreeMap<String, ColumnMask>,
    /// Per masked visible column that a data filter shows in the clear on
    /// some rows: those rows (rule 8, most revealing per cell).
    pub unmasked: BTreeMap<String, RowPredicate>,
    /// Effective LF-tags of each visible column that has any.
    pub tags: BTreeMap<String, Tags>,
    /// The grants, filters and policies that decided, in decision order.
    pub trail: Vec<TrailEntry>,
}

/// The explanation of one statement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Explanation {
    /// The SQL the proxy would send to an external engine; when a keyed-hash
    /// mask applies (its key never goes upstream), the statement as the
    /// embedded engine runs it.
    pub rewritten_sql: String,
    /// Each distinct table the statement reads, in order of first reference.
    pub tables: Vec<TableExplanation>,
}

/// Whether `subject` is the caller as its credential describes it.
fn same_identity(caller: &Caller, subject: &Caller) -> bool {
    let groups = |c: &Caller| c.groups.iter().cloned().collect::<BTreeSet<_>>();
    subject.principal == caller.principal
        && groups(subject) == groups(caller)
        && subject.attrs == caller.attrs
}

impl Governance {
    /// Rewrites `sql` as `subject` would have it run, and says why.
    ///
    /// Anyone may explain for themselves (with their credential's groups and
    /// attributes); only data lake admins may explain for another principal
    /// of their account, or with other groups or attributes.
    pub fn explain(&self, caller: &Caller, subject: &Caller, sql: &str) -> Result<Explanation> {
        let snap = self.snapshot()?;
        if subject.account() != caller.account() {
            return Err(Error::denied(format!(
                "`{}` is not in account `{}`; explain principals of your own account",
                subject.principal,
                caller.account()
            )));
        }
        if subject.principal.kind().is_none() || subject.principal.is_group() {
            return Err(Error::invalid(format!(
                "`{}` is not a user or role; explain for a user or role, with --group for its \
                 groups",
                subject.principal
            )));
        }
        if let Some(g) = subject
            .groups
            .iter()
            .find(|g| !g.is_group() || g.account() != caller.account())
        {
            return Err(Error::invalid(format!(
                "`{g}` is not a group of account `{}`; write `{}:group/NAME`",
                caller.account(),
                caller.account()
            )));
        }
        if !same_identity(caller, subject) && !self.is_admin(&snap, caller) {
            return Err(Error::denied(format!(
                "only a data lake admin of `{}` may explain for another principal or with other \
                 groups or attributes; run `lakegate explain` for yourself without --group or \
                 --attr",
                caller.account()
            )));
        }
        // Only admins see which account policies decided (file names and
        // indexes) and which columns a forbid hides: to anyone else a
        // hidden column does not exist (DESIGN §3 rule 3).
        let admin = self.is_admin(&snap, caller);
        let mut opts = RewriteOptions::new(caller.account().clone());
        opts.placement = Placement::Inline;
        let resolver = |t: &TableName| {
            access::effective_access(&snap.catalog, &snap.compiled, subject, subject.account(), t)
        };
        // The SQL an upstream would run; a keyed-hash mask has none (its key
        // never leaves lakegate), so then it is the statement as the embedded
        // engine runs it. Any other refusal stands.
        let rw = match rewrite::rewrite(sql, &opts, &resolver) {
            Err(Error::FailedPrecondition(m)) => {
                opts.placement = Placement::Secured;
                opts.print_secured = true;
                let rw = rewrite::rewrite(sql, &opts, &resolver)?;
                let hashed = rw.tables.iter().any(|t| {
                    t.access
                        .columns
                        .iter()
                        .any(|c| c.mask == Some(ColumnMask::Hash))
                });
                if !hashed {
                    return Err(Error::FailedPrecondition(m));
                }
                rw
            }
            other => other?,
        };
        let tables = rw
            .tables
            .into_iter()
            .map(|t| {
                let a = t.access;
                let table_tags = tags::table_tags(&snap.catalog, &a.account, &a.table);
                let mut cells = BTreeMap::new();
                let mut masks = BTreeMap::new();
                let mut unmasked = BTreeMap::new();
                let mut col_tags = BTreeMap::new();
                for c in &a.columns {
                    if let Some(p) = &c.cells {
                        cells.insert(c.name.clone(), p.clone());
                    }
                    if let Some(m) = &c.mask {
                        masks.insert(c.name.clone(), m.clone());
                    }
                    if let Some(p) = &c.unmasked {
                        unmasked.insert(c.name.clone(), p.clone());
                    }
                    let ct = tags::column_tags(
                        &snap.catalog,
                        &a.account,
                        &a.table,
                        &table_tags,
                        &c.name,
                    );
                    if !ct.is_empty() {
                        col_tags.insert(c.name.clone(), ct);
                    }
                }
                TableExplanation {
                    display: if &a.account == subject.account() {
                        a.table.to_string()
                    } else {
                        format!("{}:{}", a.account, a.table)
                    },
                    account: a.account.clone(),
                    visible_columns: a.columns.iter().map(|c| c.name.clone()).collect(),
                    data_types: a
                        .columns
                        .iter()
                        .map(|c| (c.name.clone(), c.data_type.clone()))
                        .collect(),
                    table: a.table,
                    rows: a.rows,
                    cells,
                    masks,
                    unmasked,
                    tags: col_tags,
                    trail: if admin {
                        a.trail
                    } else {
                        redact_trail(a.trail)
                    },
                }
            })
            .collect();
        Ok(Explanation {
            rewritten_sql: rw.sql,
            tables,
        })
    }
}

/// The trail as a non-admin may see it: no `forbid` lines (they name
/// hidden columns), and account policies named without file or index.
fn redact_trail(trail: Vec<TrailEntry>) -> Vec<TrailEntry> {
    trail
        .into_iter()
        .filter(|t| t.effect != "forbid")
        .map(|mut t| {
            if t.policy.starts_with("file:") {
                t.policy = "account-policy".into();
                t.source = "a policy of the account".into();
            }
            t
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        reason = "test code: a panic is a failed test"
    )]
    use std::sync::Arc;

    use super::*;
    use crate::filters::NewDataFilter;
    use crate::governance::{GrantRequest, NewTable, ResourceSpec};
    use crate::lftags::TagAssignRequest;
    use crate::model::{AccountId, Column, Format, PolicyFile, Principal};
    use crate::store::MemStore;

    fn caller(p: &str) -> Caller {
        Caller::new(Principal::parse(p).unwrap())
    }
    fn admin() -> Caller {
        caller("111111111111:user/admin")
    }
    fn alice() -> Caller {
        caller("111111111111:user/alice")
    }

    fn col(name: &str, ty: &str) -> Column {
        Column {
            name: name.into(),
            data_type: ty.into(),
            partition: false,
        }
    }

    fn setup() -> Governance {
        let g = Governance::new(Arc::new(MemStore::new())).unwrap();
        g.bootstrap(
            &AccountId::parse("111111111111").unwrap(),
            &[Principal::parse("111111111111:user/admin").unwrap()],
        )
        .unwrap();
        g.register_location(&admin(), "file:///data/").unwrap();
        g.create_database(&admin(), "sales", Some("file:///data/sales/"))
            .unwrap();
        g.create_table(
            &admin(),
            &NewTable {
                name: "sales.orders".into(),
                location: "file:///data/sales/orders/".into(),
                format: Format::Parquet,
                columns: vec![
                    col("id", "Int64"),
                    col("region", "Utf8"),
                    col("amount", "Float64"),
                    col("ssn", "Utf8"),
                ],
                partition_keys: vec![],
            },
        )
        .unwrap();
        g
    }

    fn grant(principal: &str, resource: ResourceSpec, masks: &[(&str, &str)]) -> GrantRequest {
        GrantRequest {
            principal: principal.into(),
            permissions: vec!["SELECT".into()],
            grantable: vec![],
            resource,
            masks: masks
                .iter()
                .map(|(c, m)| (c.to_string(), m.to_string()))
                .collect(),
        }
    }

    fn table(name: &str, columns: &[&str]) -> ResourceSpec {
        ResourceSpec::Table {
            name: name.into(),
            columns: columns.iter().map(|c| c.to_string()).collect(),
            exclude_columns: vec![],
        }
    }

    const SQL: &str = "SELECT * FROM sales.orders";

    #[test]
    fn a_filter_shows_rows_and_its_trail() {
        let g = setup();
        g.create_data_filter(
            &admin(),
            &NewDataFilter {
                name: "sales.orders.eu".into(),
                row_filter: Some("region = 'EU'".into()),
                all_rows: false,
                columns: vec!["id".into(), "region".into()],
                exclude_columns: vec![],
            },
        )
        .unwrap();
        g.grant(
            &admin(),
            &grant(
                "111111111111:user/alice",
                ResourceSpec::DataFilter {
                    name: "sales.orders.eu".into(),
                },
                &[],
            ),
        )
        .unwrap();
        let e = g.explain(&admin(), &alice(), SQL).unwrap();
        let t = &e.tables[0];
        assert_eq!(t.visible_columns, ["id", "region"]);
        assert_eq!(
            t.rows,
            RowPredicate::AnyOf(vec![
                crate::predicate::RowExpr::parse("region = 'EU'").unwrap()
            ])
        );
        assert!(e.rewritten_sql.contains("'EU'"), "{}", e.rewritten_sql);
        assert!(!e.rewritten_sql.contains("ssn"), "{}", e.rewritten_sql);
        assert!(
            t.trail
                .iter()
                .any(|l| l.source.contains("data filter sales.orders.eu")),
            "{:?}",
            t.trail
        );
        // Alice may explain for herself, and gets the same answer.
        assert_eq!(g.explain(&alice(), &alice(), SQL).unwrap(), e);
    }

    #[test]
    fn masks_tags_and_forbids_are_explained() {
        let g = setup();
        g.create_lf_tag(&admin(), "classification", &["pii".into(), "public".into()])
            .unwrap();
        g.assign_lf_tags(
            &admin(),
            &TagAssignRequest {
                database: None,
                table: Some("sales.orders".into()),
                columns: vec![],
                tags: vec![("classification".into(), "public".into())],
            },
        )
        .unwrap();
        g.assign_lf_tags(
            &admin(),
            &TagAssignRequest {
                database: None,
                table: Some("sales.orders".into()),
                columns: vec!["ssn".into()],
                tags: vec![("classification".into(), "pii".into())],
            },
        )
        .unwrap();
        // A tag grant on everything, a column grant with a mask.
        g.grant(
            &admin(),
            &grant(
                "111111111111:user/alice",
                ResourceSpec::LfTagPolicy {
                    resource_type: "TABLE".into(),
                    tags: vec![("classification".into(), vec!["public".into(), "pii".into()])],
                    account: None,
                },
                &[],
            ),
        )
        .unwrap();
        let e = g.explain(&admin(), &alice(), SQL).unwrap();
        let t = &e.tables[0];
        assert_eq!(t.visible_columns, ["id", "region", "amount", "ssn"]);
        assert_eq!(t.tags["ssn"]["classification"], "pii");
        assert!(
            t.trail.iter().any(|l| l.source.contains("classification")),
            "{:?}",
            t.trail
        );
        // A forbid on pii columns hides ssn and shows up in the trail.
        g.apply_policies(
            &admin(),
            &[PolicyFile {
                path: "pii.cedar".into(),
                source: r#"forbid (principal, action == Lakegate::Action::"SELECT", resource is Lakegate::Column)
when { resource.hasTag("classification") && resource.getTag("classification") == "pii" };"#
                    .into(),
            }],
        )
        .unwrap();
        let e = g.explain(&admin(), &alice(), SQL).unwrap();
        let t = &e.tables[0];
        assert_eq!(t.visible_columns, ["id", "region", "amount"]);
        assert!(
            t.trail
                .iter()
                .any(|l| l.effect == "forbid" && l.source.contains("pii.cedar")),
            "{:?}",
            t.trail
        );
        // A mask on a column grant (bob).
        g.grant(
            &admin(),
            &grant(
                "111111111111:user/bob",
                table("sales.orders", &["id", "region"]),
                &[("region", "redact")],
            ),
        )
        .unwrap();
        let e = g
            .explain(&admin(), &caller("111111111111:user/bob"), SQL)
            .unwrap();
        assert_eq!(e.tables[0].masks["region"], ColumnMask::Redact);
        assert!(e.rewritten_sql.contains("REDACTED"), "{}", e.rewritten_sql);
    }

    #[test]
    fn errors_are_those_of_a_query() {
        let g = setup();
        // Not found, worded as for a missing table.
        let hidden = g.explain(&admin(), &alice(), SQL).unwrap_err();
        let missing = g
            .explain(&admin(), &alice(), "SELECT * FROM sales.nope")
            .unwrap_err();
        assert!(matches!(hidden, Error::InvalidArgument(_)), "{hidden:?}");
        assert_eq!(
            hidden.to_string().replace("orders", "X"),
            missing.to_string().replace("nope", "X")
        );
        // Not a query.
        let e = g
            .explain(&admin(), &admin(), "DROP TABLE sales.orders")
            .unwrap_err();
        assert!(matches!(e, Error::PermissionDenied(_)), "{e:?}");
    }

    #[test]
    fn only_admins_explain_for_others() {
        let g = setup();
        g.grant(
            &admin(),
            &grant("111111111111:user/alice", table("sales.orders", &[]), &[]),
        )
        .unwrap();
        let e = g
            .explain(&alice(), &caller("111111111111:user/bob"), SQL)
            .unwrap_err();
        assert!(matches!(e, Error::PermissionDenied(_)), "{e:?}");
        // Nor for herself with a group her credential does not carry.
        let mut more = alice();
        more.groups
            .push(Principal::parse("111111111111:group/privacy").unwrap());
        let e = g.explain(&alice(), &more, SQL).unwrap_err();
        assert!(matches!(e, Error::PermissionDenied(_)), "{e:?}");
        // Groups are not subjects; other accounts are refused.
        let e = g
            .explain(&admin(), &caller("111111111111:group/privacy"), SQL)
            .unwrap_err();
        assert!(matches!(e, Error::InvalidArgument(_)), "{e:?}");
        let e = g
            .explain(&admin(), &caller("222222222222:user/x"), SQL)
            .unwrap_err();
        assert!(matches!(e, Error::PermissionDenied(_)), "{e:?}");
        // Herself: fine.
        let e = g.explain(&alice(), &alice(), SQL).unwrap();
        assert_eq!(e.tables[0].rows, RowPredicate::All);
    }
}
