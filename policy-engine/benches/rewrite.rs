//! Parse + rewrite + serialise against sqlparser's parse alone (DESIGN §6:
//! the rewrite may cost at most 1.3× the parse).
//!
//! Run with `cargo bench -p policy-engine --bench rewrite` (add
//! `--profile dev` to skip the release build). For each query it prints
//!
//! ```text
//! rewrite/<query>: parse_ns=<median> rewrite_ns=<median> ratio=<rewrite/parse>
//! ```
//!
//! where `parse_ns` is `Parser::parse_statements` with the same dialect and
//! recursion limit (`parse_print_ns` adds printing the parsed statement back,
//! the floor for any rewrite that re-serialises), and `rewrite_ns` is [`policy_engine::rewrite::rewrite`]
//! end to end (size checks, tokens, nesting estimate, parse, walk, derived
//! tables) with an in-memory resolver, configured as the proxy runs it: for
//! the embedded engine (Secured) the AST is handed over and not printed (the
//! audit writer prints it later, off the request path); for an upstream
//! (`/inline`) the text is printed and parsed back to check it means the
//! same (issue 8), so that placement's floor is two parses and a print.
//! Medians are over interleaved samples of a fixed number of iterations each.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "bench code: a panic aborts the run, and bench items are not API"
)]

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Instant;

use policy_engine::access::{ColumnAccess, RowPredicate, TableAccess, table_not_found};
use policy_engine::model::{AccountId, ColumnMask, Format, LocationUri, TableName};
use policy_engine::predicate::RowExpr;
use policy_engine::rewrite::{DEFAULT_MAX_DEPTH, Placement, RewriteOptions, rewrite};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;

const ACCOUNT: &str = "111111111111";

fn table(db: &str, t: &str, cols: &[&str]) -> TableAccess {
    TableAccess {
        account: AccountId::parse(ACCOUNT).unwrap(),
        table: TableName {
            database: db.into(),
            table: t.into(),
        },
        location: LocationUri::parse(&format!("file:///data/{db}/{t}/")).unwrap(),
        format: Format::Parquet,
        partition_keys: vec![],
        columns: cols
            .iter()
            .map(|c| ColumnAccess {
                name: c.to_string(),
                data_type: "Int64".into(),
                partition: false,
                mask: None,
                cells: None,
                unmasked: None,
                reasons: vec!["g1".into()],
            })
            .collect(),
        rows: RowPredicate::All,
        trail: vec![],
    }
}

fn catalog() -> BTreeMap<TableName, TableAccess> {
    let wide: Vec<String> = (0..60).map(|i| format!("c{i}")).collect();
    let wide: Vec<&str> = wide.iter().map(String::as_str).collect();
    let mut orders = table(
        "sales",
        "orders",
        &[
            "o_orderkey",
            "o_custkey",
            "o_orderstatus",
            "o_totalprice",
            "o_orderdate",
            "o_region",
        ],
    );
    orders.rows = RowPredicate::AnyOf(vec![
        RowExpr::parse("o_region = 'EU'").unwrap(),
        RowExpr::parse("o_region = 'US'").unwrap(),
    ]);
    orders.columns[3].mask = Some(ColumnMask::Redact);
    let mut customer = table(
        "sales",
        "customer",
        &[
            "c_custkey",
            "c_name",
            "c_address",
            "c_nationkey",
            "c_phone",
            "c_acctbal",
            "c_mktsegment",
        ],
    );
    customer.columns[4].mask = Some(ColumnMask::Last4);
    customer.columns[4].data_type = "Utf8".into();
    let tables = [
        orders,
        customer,
        table(
            "sales",
            "lineitem",
            &[
                "l_orderkey",
                "l_partkey",
                "l_suppkey",
                "l_quantity",
                "l_extendedprice",
                "l_discount",
                "l_shipdate",
            ],
        ),
        table("sales", "nation", &["n_nationkey", "n_name", "n_regionkey"]),
        table("sales", "region", &["r_regionkey", "r_name"]),
        table("sales", "supplier", &["s_suppkey", "s_name", "s_nationkey"]),
        table("sales", "wide", &wide),
    ];
    tables.into_iter().map(|t| (t.table.clone(), t)).collect()
}

const QUERIES: &[(&str, &str)] = &[
    (
        "point",
        "SELECT o_totalprice FROM sales.orders WHERE o_orderkey = 42",
    ),
    ("star", "SELECT * FROM sales.orders"),
    (
        "wide_star",
        "SELECT * FROM sales.wide WHERE c1 > 10 ORDER BY c2 LIMIT 100",
    ),
    (
        "join_agg",
        "SELECT c.c_mktsegment, count(*) AS n, sum(o.o_totalprice) AS total \
         FROM sales.orders o JOIN sales.customer c ON o.o_custkey = c.c_custkey \
         WHERE o.o_orderdate >= DATE '1995-01-01' GROUP BY c.c_mktsegment \
         HAVING count(*) > 10 ORDER BY total DESC LIMIT 10",
    ),
    (
        "tpch_q5",
        "SELECT n_name, sum(l_extendedprice * (1 - l_discount)) AS revenue \
         FROM sales.customer, sales.orders, sales.lineitem, sales.supplier, sales.nation, sales.region \
         WHERE c_custkey = o_custkey AND l_orderkey = o_orderkey AND l_suppkey = s_suppkey \
         AND c_nationkey = s_nationkey AND s_nationkey = n_nationkey AND n_regionkey = r_regionkey \
         AND r_name = 'ASIA' AND o_orderdate >= DATE '1994-01-01' \
         AND o_orderdate < DATE '1994-01-01' + INTERVAL '1' YEAR \
         GROUP BY n_name ORDER BY revenue DESC",
    ),
    (
        "cte_subqueries",
        "WITH big AS (SELECT o_custkey, sum(o_totalprice) AS t FROM sales.orders GROUP BY o_custkey \
         HAVING sum(o_totalprice) > (SELECT avg(o_totalprice) FROM sales.orders)), \
         names AS (SELECT c_custkey, c_name FROM sales.customer WHERE c_custkey IN (SELECT o_custkey FROM big)) \
         SELECT n.c_name, b.t, rank() OVER (ORDER BY b.t DESC) AS r FROM big b JOIN names n \
         ON n.c_custkey = b.o_custkey WHERE EXISTS (SELECT 1 FROM sales.lineitem l WHERE l.l_orderkey = b.o_custkey) \
         UNION ALL SELECT 'none', 0, 0",
    ),
];

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    xs[xs.len() / 2]
}

fn main() {
    let cat = catalog();
    let resolver = |t: &TableName| cat.get(t).cloned().ok_or_else(|| table_not_found(t));
    let dialect = GenericDialect {};
    let samples = 101;
    let quick = std::env::args().any(|a| a == "--quick");
    let per_sample = if quick { 5 } else { 40 };
    let mut worst: f64 = 0.0;
    for placement in [Placement::Secured, Placement::Inline] {
        let mut opts = RewriteOptions::new(AccountId::parse(ACCOUNT).unwrap());
        opts.placement = placement;
        opts.print_secured = false;
        let suffix = match placement {
            Placement::Secured => "",
            Placement::Inline => "/inline",
        };
        for (name, sql) in QUERIES {
            // Warm up and check the query rewrites.
            rewrite(sql, &opts, &resolver).unwrap_or_else(|e| panic!("{name}: {e}"));
            let mut parse = Vec::with_capacity(samples);
            let mut print = Vec::with_capacity(samples);
            let mut rw = Vec::with_capacity(samples);
            for _ in 0..samples {
                let t = Instant::now();
                for _ in 0..per_sample {
                    let s = Parser::new(&dialect)
                        .with_recursion_limit(DEFAULT_MAX_DEPTH)
                        .try_with_sql(black_box(sql))
                        .and_then(|mut p| p.parse_statements());
                    black_box(s.unwrap());
                }
                parse.push(t.elapsed().as_nanos() as f64 / per_sample as f64);
                let t = Instant::now();
                for _ in 0..per_sample {
                    let s = Parser::new(&dialect)
                        .with_recursion_limit(DEFAULT_MAX_DEPTH)
                        .try_with_sql(black_box(sql))
                        .and_then(|mut p| p.parse_statements())
                        .unwrap();
                    black_box(s[0].to_string());
                }
                print.push(t.elapsed().as_nanos() as f64 / per_sample as f64);
                let t = Instant::now();
                for _ in 0..per_sample {
                    black_box(rewrite(black_box(sql), &opts, &resolver).unwrap());
                }
                rw.push(t.elapsed().as_nanos() as f64 / per_sample as f64);
            }
            let (p, pp, r) = (median(parse), median(print), median(rw));
            let ratio = r / p;
            worst = worst.max(ratio);
            println!(
                "rewrite/{name}{suffix}: parse_ns={p:.0} rewrite_ns={r:.0} ratio={ratio:.3} \
                 parse_print_ns={pp:.0} print_ratio={:.3}",
                pp / p
            );
        }
    }
    println!("rewrite/worst: ratio={worst:.3} budget=1.300");
}
