//! DESIGN §6 budget: authorization of one query ≤ 1.3× raw Cedar
//! `is_authorized` on the same slice; flat (≤ 1.6×) from 100 to 100,000
//! grants; linear in referenced columns.
//!
//! Run with `cargo bench -p policy-engine --bench authorize`. Each line prints
//! the lakegate time per query, the raw Cedar time on exactly the same policy
//! slice and entities (measured in the same run), and their ratio.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs,
    reason = "bench code: a panic aborts the run, and bench items are not API"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cedar_policy::{Context, Request};
use policy_engine::authorize::{Authorizer, PrincipalCtx, action_uid};
use policy_engine::catalog::Change;
use policy_engine::model::{
    AccountId, Column, ColumnSelection, Format, Grant, GrantOrigin, LocationUri, Permission,
    Resource, Table, TableName,
};
use policy_engine::{Caller, Governance, MemStore, Principal, Store, access};

const ACCT: &str = "111111111111";

fn table(ncols: usize) -> Table {
    Table {
        account: AccountId::parse(ACCT).unwrap(),
        name: TableName::parse("sales.orders").unwrap(),
        columns: (0..ncols)
            .map(|i| Column {
                name: format!("c{i}"),
                data_type: "Int64".into(),
                partition: false,
            })
            .collect(),
        partition_keys: vec![],
        location: LocationUri::parse("file:///data/sales/orders/").unwrap(),
        format: Format::Parquet,
        creator: Principal::parse("111111111111:user/admin").unwrap(),
    }
}

/// A catalog with `ngrants` grants spread over 100 tables and many users,
/// plus alice's column grant on sales.orders.
fn build(ngrants: usize, ncols: usize) -> Governance {
    let store = Arc::new(MemStore::new());
    let acct = AccountId::parse(ACCT).unwrap();
    let mut changes = vec![Change::PutTable(table(ncols))];
    for t in 0..100 {
        let mut tb = table(8);
        tb.name = TableName::parse(&format!("sales.t{t}")).unwrap();
        changes.push(Change::PutTable(tb));
    }
    for i in 0..ngrants {
        let t = if i % 10 == 0 {
            "sales.orders".to_string()
        } else {
            format!("sales.t{}", i % 100)
        };
        changes.push(Change::PutGrant(Grant {
            id: format!("g{i}"),
            account: acct.clone(),
            principal: Principal::parse(&format!("111111111111:user/u{i}")).unwrap(),
            resource: Resource::TableWithColumns {
                table: TableName::parse(&t).unwrap(),
                columns: ColumnSelection::Include(BTreeSet::from(["c0".to_string()])),
            },
            permissions: BTreeSet::from([Permission::Select]),
            grantable: BTreeSet::new(),
            masks: BTreeMap::new(),
            origin: GrantOrigin::Creator,
        }));
    }
    changes.push(Change::PutGrant(Grant {
        id: "alice".into(),
        account: acct.clone(),
        principal: Principal::parse("111111111111:user/alice").unwrap(),
        resource: Resource::TableWithColumns {
            table: TableName::parse("sales.orders").unwrap(),
            columns: ColumnSelection::Exclude(BTreeSet::from(["c1".to_string()])),
        },
        permissions: BTreeSet::from([Permission::Select]),
        grantable: BTreeSet::new(),
        masks: BTreeMap::new(),
        origin: GrantOrigin::Creator,
    }));
    changes.push(Change::PutGrant(Grant {
        id: "analysts".into(),
        account: acct,
        principal: Principal::parse("111111111111:group/analysts").unwrap(),
        resource: Resource::Table {
            table: TableName::parse("sales.orders").unwrap(),
        },
        permissions: BTreeSet::from([Permission::Describe]),
        grantable: BTreeSet::new(),
        masks: BTreeMap::new(),
        origin: GrantOrigin::Creator,
    }));
    store.commit(0, &changes).unwrap();
    Governance::new(store).unwrap()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time<F: FnMut()>(mut f: F) -> Duration {
    // Warm up, then take the median of batches.
    for _ in 0..20 {
        f();
    }
    let mut samples = Vec::new();
    let deadline = Instant::now() + Duration::from_millis(600);
    while Instant::now() < deadline || samples.len() < 15 {
        let t = Instant::now();
        for _ in 0..10 {
            f();
        }
        samples.push(t.elapsed() / 10);
    }
    median(samples)
}

/// (cold effective access, raw Cedar on the same slice, per-query cost as
/// the proxy pays it: `Snapshot::table_access`, decided once per caller,
/// table and catalog version, then a cache hit).
fn run(ngrants: usize, ncols: usize) -> (Duration, Duration, Duration) {
    let gov = build(ngrants, ncols);
    let snap = gov.snapshot().unwrap();
    let mut caller = Caller::new(Principal::parse("111111111111:user/alice").unwrap());
    caller
        .groups
        .push(Principal::parse("111111111111:group/analysts").unwrap());
    let acct = AccountId::parse(ACCT).unwrap();
    let tn = TableName::parse("sales.orders").unwrap();
    let ours = time(|| {
        let a =
            access::effective_access(&snap.catalog, &snap.compiled, &caller, &acct, &tn).unwrap();
        assert_eq!(a.columns.len(), ncols - 1);
    });
    let cached = time(|| {
        let a = snap.table_access(&caller, &tn).unwrap();
        assert_eq!(a.columns.len(), ncols - 1);
    });
    // Raw Cedar on exactly the same slice and entities.
    let authz = Authorizer::new(&snap.catalog, &snap.compiled);
    let p = PrincipalCtx::new(&caller).unwrap();
    let names: Vec<String> = (0..ncols).map(|i| format!("c{i}")).collect();
    let prepared = authz.prepare_columns(&p, &acct, &tn, &names).unwrap();
    let cedar = cedar_policy::Authorizer::new();
    let select = action_uid("SELECT").unwrap();
    let raw = time(|| {
        let mut allowed = 0;
        for u in &prepared.uids {
            let req = Request::new(
                prepared.principal.clone(),
                select.clone(),
                u.clone(),
                Context::empty(),
                None,
            )
            .unwrap();
            let r = cedar.is_authorized(&req, &prepared.slice, &prepared.entities);
            if r.decision() == cedar_policy::Decision::Allow {
                allowed += 1;
            }
        }
        assert_eq!(allowed, ncols - 1);
    });
    (ours, raw, cached)
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    println!(
        "# authorization of one query: lakegate effective_access vs raw Cedar is_authorized (same slice)"
    );
    println!(
        "# lakegate_us: decided cold; per_query_cached_us: as the proxy pays it per query (decided once per caller, table and catalog version)"
    );
    let grant_counts: &[usize] = if quick {
        &[100, 10_000]
    } else {
        &[100, 1_000, 10_000, 100_000]
    };
    let mut base = None;
    for &n in grant_counts {
        let (ours, raw, cached) = run(n, 8);
        let b = *base.get_or_insert(ours);
        let per_query = cached.as_secs_f64() / raw.as_secs_f64();
        println!(
            "authorize/grants={n} cols=8: lakegate_us={:.1} raw_cedar_us={:.1} ratio_vs_raw={:.2} ratio_vs_100_grants={:.2} per_query_cached_us={:.2} per_query_ratio_vs_raw={:.3} budget_ratio=1.3 {}",
            ours.as_secs_f64() * 1e6,
            raw.as_secs_f64() * 1e6,
            ours.as_secs_f64() / raw.as_secs_f64(),
            ours.as_secs_f64() / b.as_secs_f64(),
            cached.as_secs_f64() * 1e6,
            per_query,
            if per_query <= 1.3 { "PASS" } else { "FAIL" }
        );
    }
    let col_counts: &[usize] = if quick {
        &[2, 100]
    } else {
        &[2, 10, 100, 1000]
    };
    let mut per_col_base = None;
    for &c in col_counts {
        let (ours, raw, _) = run(1_000, c);
        let per_col = ours.as_secs_f64() / c as f64;
        let b = *per_col_base.get_or_insert(per_col);
        println!(
            "authorize/grants=1000 cols={c}: lakegate_us={:.1} raw_cedar_us={:.1} ratio_vs_raw={:.2} us_per_column={:.2} per_column_vs_2_cols={:.2}",
            ours.as_secs_f64() * 1e6,
            raw.as_secs_f64() * 1e6,
            ours.as_secs_f64() / raw.as_secs_f64(),
            per_col * 1e6,
            per_col / b
        );
    }
}
