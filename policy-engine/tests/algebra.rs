//! Property test of the access algebra (DESIGN §3 rules 1, 2, 5): for random
//! column grants, TABLE tag grants with random column tags, and random data
//! cells filters, the effective access the library computes, evaluated over a
//! small table, shows exactly the cells a naive reference shows.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs,
    reason = "test code: a panic is a failed test, and test items are not API"
)]

use std::sync::Arc;

use policy_engine::filters::NewDataFilter;
use policy_engine::lftags::TagAssignRequest;
use policy_engine::model::{AccountId, Column, Format, TableName};
use policy_engine::{
    Caller, Governance, GrantRequest, MemStore, NewTable, Principal, ResourceSpec, RowPredicate,
};
use proptest::prelude::*;

const NCOLS: usize = 4;
/// Rows of the reference table: column k of row r is (r + k) % 3.
const NROWS: i64 = 6;

fn value(r: i64, c: usize) -> i64 {
    (r + c as i64) % 3
}

#[derive(Clone, Debug)]
struct Filter {
    /// `None` = all rows, `Some((col, v))` = `c{col} = v`.
    rows: Option<(usize, i64)>,
    cols: Vec<bool>,
}

#[derive(Clone, Debug)]
struct Scenario {
    grant_cols: Vec<bool>,
    /// Tag value per column: 0 = none, 1 = "a", 2 = "b".
    tags: Vec<u8>,
    tag_grant: bool,
    filters: Vec<Filter>,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    let filter = (
        prop::option::of((0..NCOLS, 0i64..3)),
        prop::collection::vec(any::<bool>(), NCOLS),
    )
        .prop_map(|(rows, cols)| Filter { rows, cols });
    (
        prop::collection::vec(any::<bool>(), NCOLS),
        prop::collection::vec(0u8..3, NCOLS),
        any::<bool>(),
        prop::collection::vec(filter, 0..4),
    )
        .prop_map(|(grant_cols, tags, tag_grant, filters)| Scenario {
            grant_cols,
            tags,
            tag_grant,
            filters,
        })
}

/// A source of visibility: (rows predicate, columns).
type Source = (Option<(usize, i64)>, Vec<bool>);

/// The naive reference: per row, per column, `Some(value)` if visible,
/// `None` if NULL; rows nobody may see are absent; `None` overall if no
/// column is visible.
fn reference(s: &Scenario) -> Option<Vec<Vec<Option<i64>>>> {
    // Sources: (rows predicate, columns).
    let mut sources: Vec<Source> = Vec::new();
    sources.push((None, s.grant_cols.clone()));
    if s.tag_grant {
        sources.push((None, s.tags.iter().map(|t| *t == 1).collect()));
    }
    for f in &s.filters {
        if f.cols.iter().any(|c| *c) {
            sources.push((f.rows, f.cols.clone()));
        }
    }
    let visible: Vec<bool> = (0..NCOLS)
        .map(|c| sources.iter().any(|(_, cols)| cols[c]))
        .collect();
    if !visible.iter().any(|v| *v) {
        return None;
    }
    let holds = |p: &Option<(usize, i64)>, r: i64| p.is_none_or(|(c, v)| value(r, c) == v);
    let mut out = Vec::new();
    for r in 0..NROWS {
        let row_visible = sources
            .iter()
            .any(|(p, cols)| cols.iter().any(|c| *c) && holds(p, r));
        if !row_visible {
            continue;
        }
        out.push(
            (0..NCOLS)
                .filter(|c| visible[*c])
                .map(|c| {
                    sources
                        .iter()
                        .any(|(p, cols)| cols[c] && holds(p, r))
                        .then(|| value(r, c))
                })
                .collect(),
        );
    }
    Some(out)
}

/// Evaluates a predicate the library produced (`cK = V`, as we generated it).
fn eval(pred: &str, r: i64) -> bool {
    if pred == "false" {
        return false;
    }
    let (c, v) = pred.split_once(" = ").unwrap();
    let c: usize = c.trim_start_matches('c').parse().unwrap();
    value(r, c) == v.parse::<i64>().unwrap()
}

fn any_of(p: &RowPredicate, r: i64) -> bool {
    match p {
        RowPredicate::All => true,
        RowPredicate::AnyOf(ps) => ps.iter().any(|q| eval(&q.to_string(), r)),
    }
}

fn library(s: &Scenario) -> Option<Vec<Vec<Option<i64>>>> {
    let g = Governance::new(Arc::new(MemStore::new())).unwrap();
    let admin = Caller::new(Principal::parse("111111111111:user/admin").unwrap());
    g.bootstrap(
        &AccountId::parse("111111111111").unwrap(),
        std::slice::from_ref(&admin.principal),
    )
    .unwrap();
    g.register_location(&admin, "file:///d/").unwrap();
    g.create_database(&admin, "db", None).unwrap();
    g.create_table(
        &admin,
        &NewTable {
            name: "db.t".into(),
            location: "file:///d/t/".into(),
            format: Format::Parquet,
            columns: (0..NCOLS)
                .map(|c| Column {
                    name: format!("c{c}"),
                    data_type: "Int64".into(),
                    partition: false,
                })
                .collect(),
            partition_keys: vec![],
        },
    )
    .unwrap();
    let alice = "111111111111:user/alice";
    let names = |sel: &[bool]| -> Vec<String> {
        (0..NCOLS)
            .filter(|c| sel[*c])
            .map(|c| format!("c{c}"))
            .collect()
    };
    let grant = |resource: ResourceSpec| {
        g.grant(
            &admin,
            &GrantRequest {
                principal: alice.into(),
                permissions: vec!["SELECT".into()],
                grantable: vec![],
                resource,
                masks: vec![],
            },
        )
        .unwrap();
    };
    if s.grant_cols.iter().any(|c| *c) {
        grant(ResourceSpec::Table {
            name: "db.t".into(),
            columns: names(&s.grant_cols),
            exclude_columns: vec![],
        });
    }
    g.create_lf_tag(&admin, "k", &["a".into(), "b".into()])
        .unwrap();
    for (c, t) in s.tags.iter().enumerate() {
        if *t > 0 {
            g.assign_lf_tags(
                &admin,
                &TagAssignRequest {
                    database: None,
                    table: Some("db.t".into()),
                    columns: vec![format!("c{c}")],
                    tags: vec![("k".into(), if *t == 1 { "a" } else { "b" }.into())],
                },
            )
            .unwrap();
        }
    }
    if s.tag_grant {
        grant(ResourceSpec::LfTagPolicy {
            resource_type: "TABLE".into(),
            tags: vec![("k".into(), vec!["a".into()])],
            account: None,
        });
    }
    for (i, f) in s.filters.iter().enumerate() {
        if !f.cols.iter().any(|c| *c) {
            continue;
        }
        let name = format!("db.t.f{i}");
        g.create_data_filter(
            &admin,
            &NewDataFilter {
                name: name.clone(),
                row_filter: f.rows.map(|(c, v)| format!("c{c} = {v}")),
                all_rows: f.rows.is_none(),
                columns: names(&f.cols),
                exclude_columns: vec![],
            },
        )
        .unwrap();
        grant(ResourceSpec::DataFilter { name });
    }
    let caller = Caller::new(Principal::parse(alice).unwrap());
    let access = match g.effective_access(&caller, &TableName::parse("db.t").unwrap()) {
        Ok(a) => a,
        Err(_) => return None,
    };
    let mut out = Vec::new();
    for r in 0..NROWS {
        if !any_of(&access.rows, r) {
            continue;
        }
        out.push(
            access
                .columns
                .iter()
                .map(|col| {
                    let c: usize = col.name.trim_start_matches('c').parse().unwrap();
                    let shown = col.cells.as_ref().is_none_or(|p| any_of(p, r));
                    shown.then(|| value(r, c))
                })
                .collect(),
        );
    }
    Some(out)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]
    #[test]
    fn library_matches_the_naive_reference(s in scenario()) {
        prop_assert_eq!(library(&s), reference(&s), "{:?}", s);
    }
}
