//! The SQL rewriter: any input either errors, or yields a statement that
//! reads each table only through a derived table projecting exactly the
//! caller's visible columns. For `Placement::Inline` (an upstream runs the
//! text) the text must also parse back to that very statement
//! (re-serialising must not change meaning); for `Placement::Secured` the
//! embedded engine plans the AST and the text is only for people (audit,
//! explain), so it is not required to parse.
#![no_main]

use std::collections::BTreeMap;
use std::ops::ControlFlow;

use libfuzzer_sys::fuzz_target;
use policy_engine::access::{ColumnAccess, RowPredicate, TableAccess, table_not_found};
use policy_engine::model::{AccountId, Format, LocationUri, TableName};
use policy_engine::predicate::RowExpr;
use policy_engine::rewrite::{Placement, RewriteOptions, Rewritten, rewrite};
use sqlparser::ast::{Expr, SelectItem, SetExpr, TableFactor, Visit, Visitor};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;

const ACCOUNT: &str = "111111111111";

fn access(db: &str, t: &str, cols: &[&str], rows: RowPredicate) -> Option<TableAccess> {
    Some(TableAccess {
        account: AccountId::parse(ACCOUNT).ok()?,
        table: TableName {
            database: db.into(),
            table: t.into(),
        },
        location: LocationUri::parse(&format!("file:///data/{db}/{t}/")).ok()?,
        format: Format::Parquet,
        partition_keys: vec![],
        columns: cols
            .iter()
            .map(|n| ColumnAccess {
                name: (*n).into(),
                data_type: "Int64".into(),
                partition: false,
                mask: None,
                cells: None,
                unmasked: None,
                reasons: vec!["g1".into()],
            })
            .collect(),
        rows,
        trail: vec![],
    })
}

/// What the caller may read: `sales.orders` without its `secret` column
/// and only EU rows, `sales.customers` whole; anything else is not found.
fn resolve(t: &TableName) -> policy_engine::Result<TableAccess> {
    let eu = RowExpr::parse("region = 'EU'").map(|e| RowPredicate::AnyOf(vec![e]));
    let found = match (t.database.as_str(), t.table.as_str(), eu) {
        ("sales", "orders", Ok(eu)) => access("sales", "orders", &["id", "region", "amount"], eu),
        ("sales", "customers", _) => access(
            "sales",
            "customers",
            &["id", "name", "region"],
            RowPredicate::All,
        ),
        _ => None,
    };
    found.ok_or_else(|| table_not_found(t))
}

fn plain(name: &sqlparser::ast::ObjectName) -> String {
    name.0
        .iter()
        .filter_map(|p| p.as_ident().map(|i| i.value.clone()))
        .collect::<Vec<_>>()
        .join(".")
}

/// Panics unless every physical name in `r.statement` is read by a derived
/// table projecting exactly its visible columns.
fn check(r: &Rewritten) {
    let visible: BTreeMap<String, Vec<String>> = r
        .tables
        .iter()
        .map(|t| {
            (
                t.physical.replace('"', ""),
                t.access.columns.iter().map(|c| c.name.clone()).collect(),
            )
        })
        .collect();
    let sql = r.statement.to_string();
    struct V<'a> {
        visible: &'a BTreeMap<String, Vec<String>>,
        sql: &'a str,
    }
    impl Visitor for V<'_> {
        type Break = ();
        fn pre_visit_query(&mut self, q: &sqlparser::ast::Query) -> ControlFlow<()> {
            if let SetExpr::Select(s) = q.body.as_ref()
                && let [twj] = s.from.as_slice()
                && let TableFactor::Table { name, .. } = &twj.relation
                && let Some(cols) = self.visible.get(&plain(name))
            {
                let proj: Vec<String> = s
                    .projection
                    .iter()
                    .map(|p| match p {
                        SelectItem::UnnamedExpr(Expr::Identifier(i)) => i.value.clone(),
                        SelectItem::ExprWithAlias { alias, .. } => alias.value.clone(),
                        other => panic!("unexpected projection {other}: {}", self.sql),
                    })
                    .collect();
                assert_eq!(&proj, cols, "{}", self.sql);
                assert!(twj.joins.is_empty(), "{}", self.sql);
            }
            ControlFlow::Continue(())
        }
        fn pre_visit_table_factor(&mut self, tf: &TableFactor) -> ControlFlow<()> {
            if let TableFactor::Table { name, .. } = tf {
                let n = plain(name);
                // Physical tables are ours; one-part names are CTEs.
                assert!(
                    self.visible.contains_key(&n) || name.0.len() == 1,
                    "table `{n}` read outside a derived table: {}",
                    self.sql
                );
            }
            ControlFlow::Continue(())
        }
    }
    let _ = r.statement.visit(&mut V {
        visible: &visible,
        sql: &sql,
    });
}

fuzz_target!(|data: &[u8]| {
    let Ok(sql) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(account) = AccountId::parse(ACCOUNT) else {
        return;
    };
    for placement in [Placement::Secured, Placement::Inline] {
        let mut o = RewriteOptions::new(account.clone());
        o.placement = placement;
        o.print_secured = true;
        o.default_database = Some("sales".into());
        let Ok(r) = rewrite(sql, &o, &resolve) else {
            continue;
        };
        check(&r);
        if placement == Placement::Inline {
            // The text an upstream runs means what was checked.
            let back = match Parser::parse_sql(&GenericDialect {}, &r.sql) {
                Ok(back) => back,
                Err(e) => panic!("inline output does not parse: {e}\n{}", r.sql),
            };
            assert_eq!(back.as_slice(), [r.statement.clone()], "{}", r.sql);
        }
    }
});
