//! Tests of the statement classifier and scan rewriter (`policy_engine::rewrite`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a panic is a failed test"
)]

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ops::ControlFlow;

use policy_engine::access::{ColumnAccess, RowPredicate, TableAccess, table_not_found};
use policy_engine::model::{AccountId, ColumnMask, Format, LocationUri, TableName};
use policy_engine::predicate::RowExpr;
use policy_engine::rewrite::{Placement, RewriteOptions, Rewritten, TableResolver, rewrite};
use policy_engine::{Error, Result};
use sqlparser::ast::{Expr, ObjectName, SelectItem, SetExpr, TableFactor, Visit, Visitor};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;

const ACCOUNT: &str = "111111111111";

// ---------------------------------------------------------------- fixtures

fn column(name: &str, ty: &str) -> ColumnAccess {
    ColumnAccess {
        name: name.into(),
        data_type: ty.into(),
        partition: false,
        mask: None,
        cells: None,
        unmasked: None,
        reasons: vec!["g1".into()],
    }
}

fn access(db: &str, t: &str, cols: &[(&str, &str)]) -> TableAccess {
    TableAccess {
        account: AccountId::parse(ACCOUNT).unwrap(),
        table: TableName {
            database: db.into(),
            table: t.into(),
        },
        location: LocationUri::parse(&format!("file:///data/{db}/{t}/")).unwrap(),
        format: Format::Parquet,
        partition_keys: vec![],
        columns: cols.iter().map(|(n, ty)| column(n, ty)).collect(),
        rows: RowPredicate::All,
        trail: vec![],
    }
}

/// A resolver over an in-memory map; `denied` tables may be described but
/// not selected; it records every call.
struct Fake {
    tables: BTreeMap<TableName, TableAccess>,
    denied: Vec<TableName>,
    calls: RefCell<Vec<TableName>>,
}

impl Fake {
    fn new() -> Self {
        Self {
            tables: BTreeMap::new(),
            denied: vec![TableName::parse("hr.salaries").unwrap()],
            calls: RefCell::new(vec![]),
        }
        .with(access(
            "sales",
            "orders",
            &[
                ("id", "Int64"),
                ("region", "Utf8"),
                ("amount", "Float64"),
                ("customer", "Int64"),
            ],
        ))
        .with(access(
            "sales",
            "customers",
            &[("id", "Int64"), ("name", "Utf8"), ("region", "Utf8")],
        ))
    }
    fn with(mut self, a: TableAccess) -> Self {
        self.tables.insert(a.table.clone(), a);
        self
    }
    fn calls(&self) -> Vec<String> {
        self.calls.borrow().iter().map(|t| t.to_string()).collect()
    }
}

impl TableResolver for Fake {
    fn access(&self, table: &TableName) -> Result<TableAccess> {
        self.calls.borrow_mut().push(table.clone());
        if self.denied.contains(table) {
            return Err(Error::denied(format!(
                "SELECT on table `{table}` is denied; ask a data lake admin to grant SELECT"
            )));
        }
        self.tables
            .get(table)
            .cloned()
            .ok_or_else(|| table_not_found(table))
    }
}

fn opts(placement: Placement) -> RewriteOptions {
    let mut o = RewriteOptions::new(AccountId::parse(ACCOUNT).unwrap());
    o.placement = placement;
    o
}

fn secured(sql: &str) -> Result<Rewritten> {
    rewrite(sql, &opts(Placement::Secured), &Fake::new())
}

fn inline(sql: &str) -> Result<Rewritten> {
    rewrite(sql, &opts(Placement::Inline), &Fake::new())
}

fn ok(sql: &str) -> String {
    match secured(sql) {
        Ok(r) => r.sql,
        Err(e) => panic!("`{sql}` failed: {e:?}"),
    }
}

const ORDERS: &str = r#"(SELECT "id", "region", "amount", "customer" FROM "__lg_t0")"#;
const ORDERS_INLINE: &str =
    r#"(SELECT "id", "region", "amount", "customer" FROM "111111111111"."sales"."orders")"#;

fn invalid(r: Result<Rewritten>) -> String {
    match r {
        Err(Error::InvalidArgument(m)) => m,
        other => panic!("expected InvalidArgument, got {other:?}"),
    }
}

fn denied(r: Result<Rewritten>) -> String {
    match r {
        Err(Error::PermissionDenied(m)) => m,
        other => panic!("expected PermissionDenied, got {other:?}"),
    }
}

/// Error messages are lower case at the start and say what to do.
fn assert_style(msg: &str) {
    let first = msg.chars().next().unwrap();
    assert!(!first.is_uppercase(), "message starts upper case: {msg}");
    assert!(msg.contains(';'), "message does not say what to do: {msg}");
}

// ---------------------------------------------------------------- basics

#[test]
fn plain_select_becomes_derived_table_with_table_name_alias() {
    let r = secured("SELECT * FROM sales.orders").unwrap();
    assert_eq!(r.sql, format!(r#"SELECT * FROM {ORDERS} AS "orders""#));
    assert_eq!(r.tables.len(), 1);
    assert_eq!(r.tables[0].physical, "__lg_t0");
    assert_eq!(r.tables[0].aliases, vec!["orders"]);
    assert_eq!(r.tables[0].access.table.to_string(), "sales.orders");

    let r = inline("SELECT * FROM sales.orders").unwrap();
    assert_eq!(
        r.sql,
        format!(r#"SELECT * FROM {ORDERS_INLINE} AS "orders""#)
    );
    assert_eq!(r.tables[0].physical, r#""111111111111"."sales"."orders""#);
}

#[test]
fn output_is_the_reserialised_ast_and_printing_is_optional_when_secured() {
    let r = secured("SELECT * FROM sales.orders").unwrap();
    let other = secured("select * from sales.orders").unwrap();
    assert_eq!(r.sql, other.sql, "the output is the re-serialised AST");
    assert_eq!(r.source_len, "SELECT * FROM sales.orders".len());
    let mut o = opts(Placement::Secured);
    o.print_secured = false;
    let quiet = rewrite("SELECT * FROM sales.orders", &o, &Fake::new()).unwrap();
    assert_eq!(quiet.sql, "");
    assert_eq!(quiet.statement.to_string(), r.sql);
    assert_eq!(quiet.tables, r.tables);
}

#[test]
fn joins_keep_user_aliases_and_each_table_resolves_once() {
    let fake = Fake::new();
    let r = rewrite(
        "SELECT o.id, c.name FROM sales.orders o JOIN sales.customers AS c ON o.customer = c.id \
         LEFT JOIN sales.orders o2 ON o2.id = o.id",
        &opts(Placement::Secured),
        &fake,
    )
    .unwrap();
    assert_eq!(
        r.sql,
        format!(
            r#"SELECT o.id, c.name FROM {ORDERS} o JOIN (SELECT "id", "name", "region" FROM "__lg_t1") AS c ON o.customer = c.id LEFT JOIN {ORDERS} o2 ON o2.id = o.id"#
        )
    );
    assert_eq!(fake.calls(), vec!["sales.orders", "sales.customers"]);
    assert_eq!(r.tables.len(), 2);
    assert_eq!(r.tables[0].aliases, vec!["o", "o2"]);
    assert_eq!(r.tables[1].physical, "__lg_t1");
}

#[test]
fn self_join_uses_one_physical_name() {
    let fake = Fake::new();
    let r = rewrite(
        "SELECT a.id FROM sales.orders a, sales.orders b WHERE a.id = b.id",
        &opts(Placement::Secured),
        &fake,
    )
    .unwrap();
    assert_eq!(
        r.sql,
        format!("SELECT a.id FROM {ORDERS} a, {ORDERS} b WHERE a.id = b.id")
    );
    assert_eq!(fake.calls(), vec!["sales.orders"]);
    assert_eq!(r.tables.len(), 1);
}

#[test]
fn alias_column_lists_are_kept() {
    assert_eq!(
        ok("SELECT a FROM sales.orders AS o (a, b)"),
        format!("SELECT a FROM {ORDERS} AS o (a, b)")
    );
}

#[test]
fn subqueries_in_every_position_are_rewritten() {
    let out = ok(
        "SELECT (SELECT max(id) FROM sales.customers) AS m, id FROM sales.orders \
         WHERE id IN (SELECT id FROM sales.orders) \
         AND EXISTS (SELECT 1 FROM sales.customers c WHERE c.id = orders.customer) \
         GROUP BY id HAVING count(*) > (SELECT count(*) FROM sales.customers) \
         ORDER BY (SELECT min(id) FROM sales.customers)",
    );
    assert!(!out.contains("sales."), "{out}");
    assert_eq!(out.matches("FROM \"__lg_t1\"").count(), 4, "{out}");
    assert_eq!(out.matches("FROM \"__lg_t0\"").count(), 2, "{out}");
    let on = ok("SELECT * FROM sales.orders o JOIN sales.customers c \
         ON c.id = (SELECT max(id) FROM sales.customers)");
    assert_eq!(on.matches("FROM \"__lg_t1\"").count(), 2, "{on}");
    let func_arg = ok("SELECT coalesce((SELECT max(id) FROM sales.orders), 0)");
    assert!(func_arg.contains(ORDERS), "{func_arg}");
}

#[test]
fn derived_lateral_and_nested_tables_are_rewritten() {
    let out = ok("SELECT * FROM (SELECT * FROM (SELECT id FROM sales.orders) x) y");
    assert_eq!(
        out,
        format!(r#"SELECT * FROM (SELECT * FROM (SELECT id FROM {ORDERS} AS "orders") x) y"#)
    );
    let lateral = ok("SELECT * FROM sales.orders o, \
         LATERAL (SELECT * FROM sales.customers c WHERE c.id = o.customer) x");
    assert!(lateral.contains(r#"LATERAL (SELECT * FROM (SELECT "id", "name", "region" FROM "__lg_t1") c WHERE c.id = o.customer) x"#), "{lateral}");
    let nested = ok("SELECT * FROM (sales.orders o JOIN sales.customers c ON o.customer = c.id)");
    assert!(
        nested.starts_with(&format!("SELECT * FROM ({ORDERS} o JOIN")),
        "{nested}"
    );
}

#[test]
fn set_operations_rewrite_every_branch() {
    for op in ["UNION", "UNION ALL", "INTERSECT", "EXCEPT"] {
        let out = ok(&format!(
            "SELECT id FROM sales.orders {op} SELECT id FROM sales.customers {op} (SELECT id FROM sales.orders)"
        ));
        assert!(!out.contains("sales."), "{out}");
        assert_eq!(out.matches("__lg_t0").count(), 2, "{out}");
        assert_eq!(out.matches("__lg_t1").count(), 1, "{out}");
    }
}

#[test]
fn window_functions_order_by_and_limit_are_left_as_written() {
    let out = ok(
        "SELECT region, sum(amount) OVER (PARTITION BY region ORDER BY id ROWS BETWEEN \
         UNBOUNDED PRECEDING AND CURRENT ROW) AS running FROM sales.orders \
         WINDOW w AS (PARTITION BY region) ORDER BY region DESC NULLS LAST LIMIT 10 OFFSET 5",
    );
    assert_eq!(
        out,
        format!(
            r#"SELECT region, sum(amount) OVER (PARTITION BY region ORDER BY id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS running FROM {ORDERS} AS "orders" WINDOW w AS (PARTITION BY region) ORDER BY region DESC NULLS LAST LIMIT 10 OFFSET 5"#
        )
    );
}

#[test]
fn unnest_and_values_are_allowed() {
    assert_eq!(
        ok("SELECT * FROM UNNEST([1, 2]) AS u (x)"),
        "SELECT * FROM UNNEST([1, 2]) AS u (x)"
    );
    assert_eq!(ok("VALUES (1, 'a'), (2, 'b')"), "VALUES (1, 'a'), (2, 'b')");
    let out = ok("SELECT * FROM UNNEST((SELECT array_agg(id) FROM sales.orders)) AS u (x)");
    assert!(out.contains(ORDERS), "{out}");
}

// ---------------------------------------------------------------- names

#[test]
fn full_table_qualifiers_on_columns_become_the_alias() {
    let out = ok(
        r#"SELECT sales.orders.id, "111111111111".sales.orders.region, sales.orders.*,
         count(sales.orders.*) FROM sales.orders WHERE sales.orders.amount > 1
         GROUP BY sales.orders.id, sales.orders.region ORDER BY sales.orders.id"#,
    );
    assert_eq!(
        out,
        format!(
            r#"SELECT "orders".id, "orders".region, "orders".*, count("orders".*) FROM {ORDERS} AS "orders" WHERE "orders".amount > 1 GROUP BY "orders".id, "orders".region ORDER BY "orders".id"#
        )
    );
    // Unquoted account ids work too (the tokenizer would read `111111111111.` as a number).
    let out = ok("SELECT 111111111111.sales.orders.id FROM 111111111111.sales.orders");
    assert_eq!(
        out,
        format!(r#"SELECT "orders".id FROM {ORDERS} AS "orders""#)
    );
    // Correlated: the inner query names the outer table by its full name.
    let out = ok("SELECT id FROM sales.orders WHERE EXISTS \
         (SELECT 1 FROM sales.customers c WHERE c.id = sales.orders.customer)");
    assert!(out.contains(r#"c.id = "orders".customer"#), "{out}");
    // With a user alias the table name no longer qualifies (as in SQL); left alone.
    let out = ok("SELECT sales.orders.id FROM sales.orders o");
    assert!(out.starts_with("SELECT sales.orders.id FROM"), "{out}");
}

#[test]
fn quoting_and_case_fold_like_datafusion() {
    for sql in [
        "SELECT * FROM SALES.Orders",
        r#"SELECT * FROM "sales"."orders""#,
        r#"SELECT * FROM sales."orders""#,
        r#"SELECT * FROM "111111111111"."sales"."orders""#,
        "SELECT * FROM 111111111111.SALES.ORDERS",
    ] {
        assert_eq!(
            ok(sql),
            format!(r#"SELECT * FROM {ORDERS} AS "orders""#),
            "{sql}"
        );
    }
    for (sql, shown) in [
        (r#"SELECT * FROM "SALES".orders"#, "SALES.orders"),
        (r#"SELECT * FROM sales."Orders""#, "sales.Orders"),
        ("SELECT * FROM a.b.c.d", "a.b.c.d"),
        (
            "SELECT * FROM \"222222222222\".sales.orders",
            "222222222222.sales.orders",
        ),
        ("SELECT * FROM sales.nope", "sales.nope"),
    ] {
        let fake = Fake::new();
        let m = invalid(rewrite(sql, &opts(Placement::Secured), &fake));
        assert!(
            m.contains(&format!("table `{shown}` was not found")),
            "{sql}: {m}"
        );
        assert_style(&m);
    }
    // A quoted single part is one name, not `db.table`, so it is unqualified.
    let fake = Fake::new();
    let _ = rewrite(
        r#"SELECT * FROM "SALES".orders"#,
        &opts(Placement::Secured),
        &fake,
    );
    assert!(
        fake.calls().is_empty(),
        "names that cannot exist are not resolved"
    );
}

#[test]
fn unqualified_names_need_a_database() {
    let m = invalid(secured(r#"SELECT * FROM "sales.orders""#));
    assert!(m.contains("`\"sales.orders\"` is not qualified"), "{m}");
    let m = invalid(secured("SELECT * FROM orders"));
    assert!(m.contains("`orders` is not qualified"), "{m}");
    assert!(m.contains("DB.TABLE"), "{m}");
    assert_style(&m);

    let mut o = opts(Placement::Secured);
    o.default_database = Some("sales".into());
    let r = rewrite(
        "SELECT * FROM Orders JOIN customers c ON c.id = orders.customer",
        &o,
        &Fake::new(),
    )
    .unwrap();
    assert_eq!(
        r.sql,
        format!(
            r#"SELECT * FROM {ORDERS} AS "orders" JOIN (SELECT "id", "name", "region" FROM "__lg_t1") c ON c.id = orders.customer"#
        )
    );
}

#[test]
fn unknown_hidden_and_denied_tables() {
    let m = invalid(secured("SELECT * FROM sales.missing"));
    assert_eq!(
        m,
        "table `sales.missing` was not found; check the name with `lakegate permissions list` or ask a data lake admin for access"
    );
    let m = denied(secured("SELECT * FROM hr.salaries"));
    assert!(m.contains("SELECT on table `hr.salaries` is denied"), "{m}");
    // A table with no visible column is denied, not rendered as `SELECT  FROM`.
    let fake = Fake::new().with(access("hr", "empty", &[]));
    let m = denied(rewrite(
        "SELECT 1 FROM hr.empty",
        &opts(Placement::Secured),
        &fake,
    ));
    assert_style(&m);
}

// ---------------------------------------------------------------- CTEs

#[test]
fn cte_named_like_a_table_shadows_it() {
    assert_eq!(
        ok("WITH orders AS (SELECT 1 AS x) SELECT * FROM orders"),
        "WITH orders AS (SELECT 1 AS x) SELECT * FROM orders"
    );
    assert_eq!(
        ok("WITH orders AS (SELECT id FROM sales.orders) SELECT * FROM orders"),
        format!(r#"WITH orders AS (SELECT id FROM {ORDERS} AS "orders") SELECT * FROM orders"#)
    );
    // Qualified names are never CTEs.
    assert_eq!(
        ok("WITH orders AS (SELECT 1 AS x) SELECT * FROM sales.orders"),
        format!(r#"WITH orders AS (SELECT 1 AS x) SELECT * FROM {ORDERS} AS "orders""#)
    );
    // Case folding applies to CTE names as to tables.
    assert_eq!(
        ok("WITH Orders AS (SELECT 1 AS x) SELECT * FROM ORDERS"),
        "WITH Orders AS (SELECT 1 AS x) SELECT * FROM ORDERS"
    );
    // A quoted CTE name is exact: `orders` is not `"Orders"`.
    let m = invalid(secured(
        r#"WITH "Orders" AS (SELECT 1 AS x) SELECT * FROM orders"#,
    ));
    assert!(m.contains("not qualified"), "{m}");
}

#[test]
fn cte_scopes_follow_sql_order() {
    let mut o = opts(Placement::Secured);
    o.default_database = Some("sales".into());
    let run = |sql: &str| rewrite(sql, &o, &Fake::new()).map(|r| r.sql);
    // A non-recursive CTE does not see itself: `orders` in its body is the table.
    assert_eq!(
        run("WITH orders AS (SELECT id FROM orders) SELECT * FROM orders").unwrap(),
        format!(r#"WITH orders AS (SELECT id FROM {ORDERS} AS "orders") SELECT * FROM orders"#)
    );
    // Later siblings are not visible to earlier ones; earlier ones are.
    assert_eq!(
        run("WITH a AS (SELECT id FROM customers), customers AS (SELECT * FROM a) SELECT * FROM customers").unwrap(),
        r#"WITH a AS (SELECT id FROM (SELECT "id", "name", "region" FROM "__lg_t0") AS "customers"), customers AS (SELECT * FROM a) SELECT * FROM customers"#
    );
    // A recursive CTE sees itself.
    assert_eq!(
        run("WITH RECURSIVE orders AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM orders WHERE n < 3) SELECT * FROM orders").unwrap(),
        "WITH RECURSIVE orders AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM orders WHERE n < 3) SELECT * FROM orders"
    );
    // A CTE defined in a subquery is visible only inside it.
    assert_eq!(
        run("SELECT * FROM (WITH orders AS (SELECT 1 AS x) SELECT * FROM orders) s, orders")
            .unwrap(),
        format!(
            r#"SELECT * FROM (WITH orders AS (SELECT 1 AS x) SELECT * FROM orders) s, {ORDERS} AS "orders""#
        )
    );
    // Outer CTEs are visible in nested subqueries, expressions and CTE bodies.
    assert_eq!(
        run("WITH orders AS (SELECT 1 AS id) SELECT * FROM customers WHERE id IN (SELECT id FROM orders) \
             AND EXISTS (WITH x AS (SELECT * FROM orders) SELECT * FROM x)").unwrap(),
        r#"WITH orders AS (SELECT 1 AS id) SELECT * FROM (SELECT "id", "name", "region" FROM "__lg_t0") AS "customers" WHERE id IN (SELECT id FROM orders) AND EXISTS (WITH x AS (SELECT * FROM orders) SELECT * FROM x)"#
    );
    // Nested WITH inside a CTE body shadows the outer one.
    assert_eq!(
        run("WITH c AS (WITH orders AS (SELECT 2 AS y) SELECT * FROM orders) SELECT * FROM c, orders").unwrap(),
        format!(r#"WITH c AS (WITH orders AS (SELECT 2 AS y) SELECT * FROM orders) SELECT * FROM c, {ORDERS} AS "orders""#)
    );
}

#[test]
fn reserved_cte_names_are_refused() {
    let m = invalid(secured(
        "WITH __lg_t0 AS (SELECT 1) SELECT * FROM sales.orders",
    ));
    assert!(m.contains("reserved"), "{m}");
    assert_style(&m);
}

// ---------------------------------------------------------------- denials

#[test]
fn only_single_queries_are_accepted() {
    let cases: &[(&str, &str)] = &[
        ("INSERT INTO sales.orders VALUES (1)", "`INSERT`"),
        ("UPDATE sales.orders SET id = 1", "`UPDATE`"),
        ("DELETE FROM sales.orders", "`DELETE`"),
        (
            "MERGE INTO sales.orders USING sales.customers c ON true WHEN MATCHED THEN DELETE",
            "`MERGE`",
        ),
        ("COPY sales.orders TO '/tmp/x'", "`COPY`"),
        ("CREATE TABLE sales.x (a INT)", "`CREATE TABLE`"),
        (
            "CREATE OR REPLACE VIEW sales.v AS SELECT 1",
            "`CREATE VIEW`",
        ),
        (
            "CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION '/tmp'",
            "`CREATE TABLE`",
        ),
        ("DROP TABLE sales.orders", "`DROP TABLE`"),
        ("ALTER TABLE sales.orders ADD COLUMN x INT", "`ALTER TABLE`"),
        ("TRUNCATE TABLE sales.orders", "`TRUNCATE`"),
        ("SET datafusion.execution.batch_size = 1", "`SET`"),
        ("SHOW TABLES", "`SHOW TABLES`"),
        ("SHOW COLUMNS FROM sales.orders", "`SHOW COLUMNS`"),
        ("USE sales", "`USE`"),
        ("EXPLAIN SELECT * FROM sales.orders", "lakegate explain"),
        (
            "EXPLAIN ANALYZE SELECT * FROM sales.orders",
            "lakegate explain",
        ),
        ("DESCRIBE sales.orders", "`DESCRIBE`"),
        ("PREPARE p AS SELECT * FROM sales.orders", "`PREPARE`"),
        ("EXECUTE p", "`EXECUTE`"),
        ("DEALLOCATE p", "`DEALLOCATE`"),
        ("BEGIN", "`BEGIN`"),
        ("START TRANSACTION", "`START TRANSACTION`"),
        ("COMMIT", "`COMMIT`"),
        ("ROLLBACK", "`ROLLBACK`"),
        ("GRANT SELECT ON sales.orders TO bob", "lakegate grant"),
        ("ANALYZE TABLE sales.orders", "`ANALYZE`"),
    ];
    for (sql, want) in cases {
        let m = denied(secured(sql));
        assert!(m.contains(want), "{sql}: {m}");
        assert!(m.contains("not allowed"), "{sql}: {m}");
        assert_style(&m);
    }
    let m = denied(secured("SELECT 1; SELECT 2"));
    assert!(m.contains("multi-statement"), "{m}");
    let m = denied(secured(
        "SELECT * FROM sales.orders; DROP TABLE sales.orders",
    ));
    assert!(m.contains("multi-statement"), "{m}");
    assert!(
        secured("SELECT 1;").is_ok(),
        "a trailing semicolon is one statement"
    );
    for empty in ["", "   ", ";", "-- just a comment", "/* c */ ;"] {
        let m = invalid(secured(empty));
        assert!(m.contains("empty"), "{empty:?}: {m}");
    }
}

#[test]
fn writes_inside_queries_are_denied() {
    let m = denied(secured("SELECT * INTO sales.copy FROM sales.orders"));
    assert!(m.contains("INTO"), "{m}");
    let m = denied(secured("SELECT * FROM sales.orders FOR UPDATE"));
    assert!(m.contains("FOR UPDATE"), "{m}");
}

#[test]
fn table_functions_files_and_system_catalogs_are_denied() {
    for sql in [
        "SELECT * FROM read_parquet('/etc/passwd')",
        "SELECT * FROM read_csv('s3://bucket/x.csv')",
        "SELECT * FROM generate_series(1, 3)",
        "SELECT * FROM sales.orders o, LATERAL read_json('x') j",
        "SELECT * FROM TABLE(my_function(1))",
        "SELECT * FROM 'data/x.parquet'",
        "SELECT * FROM sales.orders JOIN 'x.csv' ON true",
        "SELECT read_parquet('x')",
        "SELECT * FROM sales.orders WHERE id IN (SELECT parquet_metadata('x'))",
        "SELECT * FROM information_schema.tables",
        "SELECT * FROM INFORMATION_SCHEMA.columns",
        "SELECT * FROM datafusion.information_schema.tables",
        "SELECT * FROM pg_catalog.pg_tables",
        "SELECT x.f(1)",
        "SELECT * FROM sales.orders PIVOT (sum(amount) FOR region IN ('EU'))",
        "SELECT * FROM sales.orders TABLESAMPLE (10 PERCENT)",
        "SELECT * FROM JSON_TABLE('[]', '$[*]' COLUMNS (a INT PATH '$.a')) AS j",
    ] {
        let m = denied(secured(sql));
        assert_style(&m);
    }
}

// ---------------------------------------------------------------- limits

/// Runs `f` on a thread with tokio's default 2 MiB stack.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

fn big_opts() -> RewriteOptions {
    let mut o = opts(Placement::Inline);
    o.max_sql_bytes = 8 << 20;
    o
}

#[test]
fn deep_nesting_fails_cleanly() {
    on_small_stack(|| {
        let parens = format!("SELECT {}1{}", "(".repeat(5000), ")".repeat(5000));
        let m = invalid(rewrite(&parens, &big_opts(), &Fake::new()));
        assert!(m.contains("nested too deeply"), "{m}");
        assert_style(&m);

        let mut sub = "SELECT * FROM sales.orders".to_string();
        for _ in 0..5000 {
            sub = format!("SELECT * FROM ({sub}) t");
        }
        let m = invalid(rewrite(&sub, &big_opts(), &Fake::new()));
        assert!(m.contains("nested too deeply"), "{m}");

        let mut scalar = "1".to_string();
        for _ in 0..5000 {
            scalar = format!("(SELECT {scalar})");
        }
        let m = invalid(rewrite(
            &format!("SELECT {scalar}"),
            &big_opts(),
            &Fake::new(),
        ));
        assert!(m.contains("nested too deeply"), "{m}");

        // Beyond the parser's recursion limit but within the token estimate.
        let mut sub = "SELECT * FROM sales.orders".to_string();
        for _ in 0..60 {
            sub = format!("SELECT * FROM ({sub}) t");
        }
        let m = invalid(rewrite(&sub, &big_opts(), &Fake::new()));
        assert!(m.contains("nested too deeply (more than 50 levels)"), "{m}");

        // Left-deep chains are not bounded by the parser's recursion limit.
        for chain in [
            format!("SELECT 1{}", "+1".repeat(200_000)),
            format!(
                "SELECT 1 FROM sales.orders WHERE {}",
                "id = 1 OR ".repeat(50_000) + "true"
            ),
            format!("SELECT 1{}", " UNION SELECT 1".repeat(20_000)),
            format!("SELECT a{}", "::int".repeat(50_000)),
            format!("SELECT a{}", "[1]".repeat(50_000)),
            format!("SELECT {}1", "NOT ".repeat(50_000)),
            format!("SELECT {}1{}", "[".repeat(50_000), "]".repeat(50_000)),
        ] {
            let m = invalid(rewrite(&chain, &big_opts(), &Fake::new()));
            assert!(m.contains("nested too deeply"), "{m}");
        }
    });
}

#[test]
fn the_deepest_accepted_statements_fit_a_small_stack() {
    on_small_stack(|| {
        // Just under the nesting estimate: walked, printed and dropped.
        for sql in [
            format!("SELECT 1{} FROM sales.orders", "+1".repeat(1990)),
            format!(
                "SELECT id FROM sales.orders{}",
                " UNION SELECT id FROM sales.orders".repeat(1900)
            ),
            format!(
                "SELECT * FROM sales.orders WHERE {}true",
                "k = 1 OR ".repeat(900)
            ),
        ] {
            let r = rewrite(&sql, &big_opts(), &Fake::new());
            assert!(
                r.is_ok(),
                "{}: {:?}",
                sql.get(..60).unwrap_or(&sql),
                r.err()
            );
        }
        // The deepest query nesting: max_depth is capped at MAX_PARSER_DEPTH.
        let mut o = big_opts();
        o.max_depth = usize::MAX;
        let mut sub = "SELECT * FROM sales.orders".to_string();
        for _ in 0..48 {
            sub = format!("SELECT * FROM ({sub}) t");
        }
        let r = rewrite(&sub, &o, &Fake::new());
        assert!(r.is_ok(), "{:?}", r.err());
        let mut scalar = "(SELECT * FROM sales.orders)".to_string();
        for _ in 0..32 {
            scalar = format!("(SELECT {scalar})");
        }
        let r = rewrite(&format!("SELECT {scalar}"), &o, &Fake::new());
        assert!(r.is_ok(), "{:?}", r.err());
        sub = format!("SELECT * FROM ({sub}) t");
        let m = invalid(rewrite(&sub, &o, &Fake::new()));
        assert!(m.contains("more than 100 levels"), "{m}");
    });
}

#[test]
fn oversize_sql_is_rejected() {
    let mut o = opts(Placement::Secured);
    o.max_sql_bytes = 64;
    let sql = format!(
        "SELECT * FROM sales.orders WHERE id IN ({})",
        "1, ".repeat(20) + "1"
    );
    let m = invalid(rewrite(&sql, &o, &Fake::new()));
    assert!(m.contains("more than the limit of 64 bytes"), "{m}");
    assert_style(&m);
    o.max_sql_bytes = sql.len();
    assert!(rewrite(&sql, &o, &Fake::new()).is_ok());
}

#[test]
fn syntax_errors_are_invalid_argument() {
    for sql in [
        "SELEC 1",
        "SELECT * FROM",
        "SELECT (1",
        "SELECT 'unterminated",
    ] {
        let m = invalid(secured(sql));
        assert!(m.contains("is not valid SQL"), "{sql}: {m}");
        assert_style(&m);
    }
}

// ---------------------------------------------------------------- inline policies

fn masked_fake() -> Fake {
    masked_fake_with(ColumnMask::Hash)
}

/// [`masked_fake`] with `email` masked as `email_mask`.
fn masked_fake_with(email_mask: ColumnMask) -> Fake {
    let mut a = access(
        "hr",
        "people",
        &[
            ("id", "Int64"),
            ("name", "Utf8"),
            ("ssn", "Utf8"),
            ("phone", "Int64"),
            ("email", "Utf8"),
            ("salary", "Decimal128(10, 2)"),
            ("born", "Date32"),
            ("seen", "Timestamp(µs, \"UTC\")"),
            ("note", "LargeUtf8"),
            ("region", "Utf8"),
        ],
    );
    let masks = [
        ("name", ColumnMask::Redact),
        ("ssn", ColumnMask::Last4),
        ("phone", ColumnMask::Last4),
        ("email", email_mask),
        ("salary", ColumnMask::Null),
        ("born", ColumnMask::Null),
        ("seen", ColumnMask::Null),
        ("note", ColumnMask::Expr("upper(substr(note, 1, 3))".into())),
    ];
    for c in &mut a.columns {
        c.mask = masks
            .iter()
            .find(|(n, _)| *n == c.name)
            .map(|(_, m)| m.clone());
    }
    a.columns[2].cells = Some(RowPredicate::AnyOf(vec![
        RowExpr::parse("region = 'EU'").unwrap(),
        RowExpr::parse("id < 10").unwrap(),
    ]));
    a.columns[0].cells = Some(RowPredicate::All);
    a.columns[9].cells = Some(RowPredicate::AnyOf(vec![
        RowExpr::parse("region IN ('EU', 'US')").unwrap(),
    ]));
    a.rows = RowPredicate::AnyOf(vec![
        RowExpr::parse("region = 'EU'").unwrap(),
        RowExpr::parse("region = 'US' AND id > 5").unwrap(),
    ]);
    Fake::new().with(a)
}

#[test]
fn inline_renders_masks_cells_and_rows() {
    // The keyed hash never goes upstream: refused, naming the column.
    let e = rewrite(
        "SELECT * FROM hr.people p",
        &opts(Placement::Inline),
        &masked_fake(),
    )
    .unwrap_err();
    assert!(matches!(e, Error::FailedPrecondition(_)), "{e:?}");
    assert!(e.to_string().contains("`email`"), "{e}");
    let r = rewrite(
        "SELECT * FROM hr.people p",
        &opts(Placement::Inline),
        &masked_fake_with(ColumnMask::Redact),
    )
    .unwrap();
    // Every column outside a cell rule reads NULL in rows the filter hides
    // (DESIGN §4), so nothing pushed below the WHERE sees a hidden value.
    let rows = "(region = 'EU') OR (region = 'US' AND id > 5)";
    let want = [
        format!(r#"SELECT * FROM (SELECT CASE WHEN {rows} THEN "id" END AS "id", "#),
        format!(
            r#"CASE WHEN {rows} THEN CASE WHEN "name" IS NULL THEN NULL ELSE 'REDACTED' END END AS "name", "#
        ),
        r#"CASE WHEN (region = 'EU') OR (id < 10) THEN regexp_replace(left("ssn", greatest(character_length("ssn") - 4, 0)), E'[\\p{L}\\p{N}]', 'x', 'g') || right("ssn", 4) END AS "ssn", "#.to_string(),
        format!(
            r#"CASE WHEN {rows} THEN regexp_replace(left(CAST("phone" AS VARCHAR), greatest(character_length(CAST("phone" AS VARCHAR)) - 4, 0)), E'[\\p{{L}}\\p{{N}}]', 'x', 'g') || right(CAST("phone" AS VARCHAR), 4) END AS "phone", "#
        ),
        format!(
            r#"CASE WHEN {rows} THEN CASE WHEN "email" IS NULL THEN NULL ELSE 'REDACTED' END END AS "email", "#
        ),
        format!(r#"CASE WHEN {rows} THEN CAST(NULL AS DECIMAL(10,2)) END AS "salary", "#),
        format!(r#"CASE WHEN {rows} THEN CAST(NULL AS DATE) END AS "born", "#),
        format!(
            r#"CASE WHEN {rows} THEN arrow_cast(NULL, 'Timestamp(µs, "UTC")') END AS "seen", "#
        ),
        format!(
            r#"CASE WHEN {rows} THEN CASE WHEN "note" IS NULL THEN NULL ELSE (upper(SUBSTR(note, 1, 3))) END END AS "note", "#
        ),
        r#"CASE WHEN (region IN ('EU', 'US')) THEN "region" END AS "region" "#.to_string(),
        format!(r#"FROM "111111111111"."hr"."people" WHERE {rows}) p"#),
    ]
    .concat();
    assert_eq!(r.sql, want);
    // Secured placement leaves all of it to the scan.
    let r = rewrite(
        "SELECT * FROM hr.people p",
        &opts(Placement::Secured),
        &masked_fake(),
    )
    .unwrap();
    assert_eq!(
        r.sql,
        r#"SELECT * FROM (SELECT "id", "name", "ssn", "phone", "email", "salary", "born", "seen", "note", "region" FROM "__lg_t0") p"#
    );
    assert_eq!(
        r.tables[0].access.rows,
        masked_fake().tables[&TableName::parse("hr.people").unwrap()].rows
    );
}

#[test]
fn null_masks_use_the_column_type() {
    let types = [
        ("Int8", "CAST(NULL AS TINYINT)"),
        ("Int16", "CAST(NULL AS SMALLINT)"),
        ("Int32", "CAST(NULL AS INT)"),
        ("Int64", "CAST(NULL AS BIGINT)"),
        ("UInt8", "CAST(NULL AS TINYINT UNSIGNED)"),
        ("UInt16", "CAST(NULL AS SMALLINT UNSIGNED)"),
        ("UInt32", "CAST(NULL AS INT UNSIGNED)"),
        ("UInt64", "CAST(NULL AS BIGINT UNSIGNED)"),
        ("Float32", "CAST(NULL AS REAL)"),
        ("Float64", "CAST(NULL AS DOUBLE)"),
        ("Utf8", "CAST(NULL AS VARCHAR)"),
        ("LargeUtf8", "CAST(NULL AS VARCHAR)"),
        ("Utf8View", "CAST(NULL AS VARCHAR)"),
        ("Boolean", "CAST(NULL AS BOOLEAN)"),
        ("Date32", "CAST(NULL AS DATE)"),
        ("Timestamp(ns)", "CAST(NULL AS TIMESTAMP)"),
        ("Timestamp(Nanosecond, None)", "CAST(NULL AS TIMESTAMP)"),
        ("Decimal128(38, 0)", "CAST(NULL AS DECIMAL(38,0))"),
        ("Timestamp(ms)", "arrow_cast(NULL, 'Timestamp(ms)')"),
        ("Binary", "arrow_cast(NULL, 'Binary')"),
        ("List(Int64)", "arrow_cast(NULL, 'List(Int64)')"),
        ("Decimal256(50, 2)", "arrow_cast(NULL, 'Decimal256(50, 2)')"),
        ("it's", "arrow_cast(NULL, E'it\\'s')"),
    ];
    for (ty, want) in types {
        let mut a = access("t", "x", &[("c", ty)]);
        a.columns[0].mask = Some(ColumnMask::Null);
        let r = rewrite(
            "SELECT c FROM t.x",
            &opts(Placement::Inline),
            &Fake::new().with(a),
        )
        .unwrap();
        assert_eq!(
            r.sql,
            format!(r#"SELECT c FROM (SELECT {want} AS "c" FROM "111111111111"."t"."x") AS "x""#),
            "{ty}"
        );
    }
}

#[test]
fn empty_predicate_lists_match_nothing() {
    let mut a = access("t", "x", &[("c", "Int64"), ("d", "Int64")]);
    a.rows = RowPredicate::AnyOf(vec![]);
    a.columns[1].cells = Some(RowPredicate::AnyOf(vec![]));
    let r = rewrite(
        "SELECT * FROM t.x",
        &opts(Placement::Inline),
        &Fake::new().with(a),
    )
    .unwrap();
    assert_eq!(
        r.sql,
        r#"SELECT * FROM (SELECT CASE WHEN false THEN "c" END AS "c", CASE WHEN false THEN "d" END AS "d" FROM "111111111111"."t"."x" WHERE false) AS "x""#
    );
}

#[test]
fn bad_policy_fragments_fail_closed() {
    // Row predicates are typed values: a bad one cannot even be built.
    for rows in [
        "region = 'EU') OR (1 = 1",
        "region = 'EU'; DROP TABLE x",
        "",
        "region = ${principal.attrs.region}",
    ] {
        assert!(RowExpr::parse(rows).is_err(), "{rows}");
    }
    for mask in [
        "(SELECT max(ssn) FROM hr.people)",
        "read_parquet('x')",
        "c FROM t",
    ] {
        let mut a = access("t", "x", &[("c", "Utf8")]);
        a.columns[0].mask = Some(ColumnMask::Expr(mask.into()));
        match rewrite(
            "SELECT * FROM t.x",
            &opts(Placement::Inline),
            &Fake::new().with(a),
        ) {
            Err(Error::FailedPrecondition(m)) => {
                assert!(m.contains("ask a data lake admin"), "{m}");
                assert_style(&m);
            }
            other => panic!("{mask:?}: {other:?}"),
        }
    }
}

// ---------------------------------------------------------------- properties

/// `a.b.c` without quotes.
fn plain(name: &ObjectName) -> String {
    name.0
        .iter()
        .map(|p| p.as_ident().unwrap().value.clone())
        .collect::<Vec<_>>()
        .join(".")
}

/// Every table factor in the output reads either a derived table, a CTE name
/// or a physical name; every physical name is the FROM of a derived table that
/// projects exactly the visible columns.
fn check_output(r: &Rewritten, visible: &BTreeMap<String, Vec<String>>, cte_ok: bool) {
    let stmts = Parser::parse_sql(&GenericDialect {}, &r.sql)
        .unwrap_or_else(|e| panic!("output does not parse: {e}\n{}", r.sql));
    assert_eq!(stmts.len(), 1);
    struct V<'a> {
        visible: &'a BTreeMap<String, Vec<String>>,
        cte_ok: bool,
        sql: &'a str,
    }
    impl Visitor for V<'_> {
        type Break = ();
        fn pre_visit_query(&mut self, q: &sqlparser::ast::Query) -> ControlFlow<()> {
            if let SetExpr::Select(s) = q.body.as_ref()
                && let [twj] = s.from.as_slice()
                && let TableFactor::Table { name, .. } = &twj.relation
            {
                let n = plain(name);
                if let Some(cols) = self.visible.get(&n) {
                    let proj: Vec<String> = s
                        .projection
                        .iter()
                        .map(|p| match p {
                            SelectItem::UnnamedExpr(Expr::Identifier(i)) => i.value.clone(),
                            SelectItem::ExprWithAlias { alias, .. } => alias.value.clone(),
                            other => panic!("unexpected projection {other}"),
                        })
                        .collect();
                    assert_eq!(&proj, cols, "{}", self.sql);
                    assert!(twj.joins.is_empty());
                }
            }
            ControlFlow::Continue(())
        }
        fn pre_visit_table_factor(&mut self, tf: &TableFactor) -> ControlFlow<()> {
            if let TableFactor::Table { name, .. } = tf {
                let n = plain(name);
                assert!(
                    self.visible.contains_key(&n) || (self.cte_ok && name.0.len() == 1),
                    "table `{n}` read outside a derived table: {}",
                    self.sql
                );
            }
            ControlFlow::Continue(())
        }
    }
    let _ = stmts.visit(&mut V {
        visible,
        cte_ok,
        sql: &r.sql,
    });
}

/// A tiny deterministic generator (xorshift), so the tests need no new crates.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

const ALL_COLUMNS: [&str; 8] = [
    "id", "region", "amount", "customer", "secret_a", "secret_b", "ssn", "salary",
];

const SHAPES: &[&str] = &[
    "SELECT * FROM sales.t",
    "SELECT t.* FROM sales.t",
    "SELECT sales.t.* FROM sales.t",
    "SELECT x.* FROM sales.t x JOIN sales.t y ON true",
    "SELECT * FROM sales.t a, sales.t b",
    "WITH c AS (SELECT * FROM sales.t) SELECT * FROM c",
    "WITH t AS (SELECT * FROM sales.t) SELECT * FROM t UNION ALL SELECT * FROM sales.t",
    "SELECT * FROM (SELECT * FROM sales.t) s WHERE EXISTS (SELECT * FROM sales.t)",
    "SELECT (SELECT count(*) FROM sales.t) FROM sales.t",
    "SELECT * FROM sales.t WHERE 1 IN (SELECT 1 FROM sales.t)",
    "SELECT * FROM sales.t o, LATERAL (SELECT * FROM sales.t i) l",
    "SELECT * FROM (sales.t a JOIN sales.t b ON true)",
];

#[test]
fn hidden_columns_never_reach_the_output() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for round in 0..400 {
        let cols: Vec<&str> = ALL_COLUMNS
            .iter()
            .copied()
            .filter(|_| rng.below(2) == 0)
            .collect();
        if cols.is_empty() {
            continue;
        }
        let mut a = access(
            "sales",
            "t",
            &cols.iter().map(|c| (*c, "Utf8")).collect::<Vec<_>>(),
        );
        if rng.below(2) == 0 {
            a.columns[0].mask = Some(ColumnMask::Redact);
        }
        let fake = Fake::new().with(a);
        let shape = *rng.pick(SHAPES);
        let placement = if round % 2 == 0 {
            Placement::Secured
        } else {
            Placement::Inline
        };
        let r = rewrite(shape, &opts(placement), &fake).unwrap_or_else(|e| panic!("{shape}: {e}"));
        for hidden in ALL_COLUMNS.iter().filter(|c| !cols.contains(c)) {
            assert!(!r.sql.contains(hidden), "{hidden} leaked: {}", r.sql);
        }
        let physical = match placement {
            Placement::Secured => "__lg_t0".to_string(),
            Placement::Inline => "111111111111.sales.t".to_string(),
        };
        let visible = BTreeMap::from([(physical, cols.iter().map(|c| c.to_string()).collect())]);
        check_output(&r, &visible, true);
        assert_eq!(fake.calls().len(), 1, "resolved once: {shape}");
    }
}

// ---------------------------------------------------------------- fuzz

const CORPUS: &[&str] = &[
    "SELECT * FROM sales.orders",
    "SELECT o.id, c.name FROM sales.orders o JOIN sales.customers c ON o.customer = c.id WHERE o.amount > 10 ORDER BY 1 LIMIT 5",
    "WITH orders AS (SELECT * FROM sales.orders WHERE id IN (SELECT id FROM sales.customers)) SELECT * FROM orders",
    "WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT * FROM r, sales.orders",
    "SELECT region, sum(amount) OVER (PARTITION BY region) FROM sales.orders GROUP BY region HAVING count(*) > 1",
    "SELECT * FROM sales.orders WHERE EXISTS (SELECT 1 FROM sales.customers c WHERE c.id = sales.orders.customer)",
    "SELECT id FROM sales.orders UNION SELECT id FROM sales.customers EXCEPT SELECT 1",
    "SELECT * FROM (SELECT * FROM sales.orders) x, LATERAL (SELECT * FROM sales.customers WHERE id = x.id) y",
    "SELECT CASE WHEN id > 1 THEN 'a' ELSE 'b' END, CAST(amount AS INT), id::text FROM sales.orders",
    "SELECT * FROM UNNEST([1,2,3]) AS u(x) CROSS JOIN sales.orders",
];

const FRAGMENTS: &[&str] = &[
    "SELECT",
    "FROM",
    "WHERE",
    "(",
    ")",
    ",",
    ".",
    ";",
    "*",
    "'x.parquet'",
    "\"",
    "'",
    "sales.orders",
    "orders",
    "read_parquet('x')",
    "WITH",
    "AS",
    "UNION",
    "JOIN",
    "ON",
    "LATERAL",
    "EXISTS",
    "IN",
    "NOT",
    "NULL",
    "1",
    "+",
    "::",
    "[",
    "]",
    "{",
    "}",
    "--",
    "/*",
    "*/",
    "$1",
    "?",
    "INSERT",
    "DROP",
    "information_schema.tables",
    "__lg_t0",
    "111111111111.",
    "\"111111111111\".",
    "TABLE",
    "VALUES",
    "RECURSIVE",
    "\u{0}",
    "é",
    "\\",
    "E'\\x'",
    "$$",
    "OVER (",
    "PARTITION BY",
    "ORDER BY",
    "LIMIT",
    "CASE WHEN",
    "END",
    "INTERVAL",
    "ARRAY[",
];

fn mutate(rng: &mut Rng, s: &str) -> String {
    let mut out: Vec<char> = s.chars().collect();
    for _ in 0..1 + rng.below(4) {
        let len = out.len();
        match rng.below(6) {
            0 if len > 0 => {
                let a = rng.below(len);
                let b = (a + 1 + rng.below(8)).min(len);
                out.drain(a..b);
            }
            1 if len > 0 => {
                let a = rng.below(len);
                let b = (a + 1 + rng.below(16)).min(len);
                let piece: Vec<char> = out[a..b].to_vec();
                let at = rng.below(len);
                out.splice(at..at, piece);
            }
            2 | 3 => {
                let at = rng.below(len + 1);
                let frag = format!(" {} ", rng.pick(FRAGMENTS));
                out.splice(at..at, frag.chars());
            }
            4 if len > 0 => {
                let at = rng.below(len);
                out[at] = char::from(b' ' + rng.below(95) as u8);
            }
            _ => {
                let other: Vec<char> = rng.pick(CORPUS).chars().collect();
                let cut = rng.below(other.len());
                let at = rng.below(len + 1);
                out.splice(at..at, other[cut..].iter().copied());
            }
        }
    }
    out.into_iter().collect()
}

#[test]
fn fuzz_never_panics_and_never_reads_outside_derived_tables() {
    on_small_stack(|| {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let mut accepted = 0;
        for i in 0..6000 {
            let sql = if i % 5 == 0 {
                (0..1 + rng.below(20))
                    .map(|_| *rng.pick(FRAGMENTS))
                    .collect::<Vec<_>>()
                    .join(" ")
            } else {
                let base = rng.pick(CORPUS).to_string();
                mutate(&mut rng, &base)
            };
            let mut o = opts(if i % 2 == 0 {
                Placement::Secured
            } else {
                Placement::Inline
            });
            if i % 3 == 0 {
                o.default_database = Some("sales".into());
            }
            let fake = Fake::new();
            let Ok(r) = rewrite(&sql, &o, &fake) else {
                continue;
            };
            accepted += 1;
            // Every physical name the output reads is one we emitted, inside a
            // derived table with exactly the visible columns.
            let mut visible = BTreeMap::new();
            for t in &r.tables {
                visible.insert(
                    t.physical.replace('"', ""),
                    t.access.columns.iter().map(|c| c.name.clone()).collect(),
                );
            }
            check_output(&r, &visible, true);
            assert!(!r.sql.contains("sales.orders\""), "{}", r.sql);
            let calls = fake.calls();
            let mut distinct = calls.clone();
            distinct.sort();
            distinct.dedup();
            assert_eq!(
                calls.len(),
                distinct.len(),
                "each table resolved once: {sql}"
            );
        }
        assert!(
            accepted > 100,
            "the fuzzer should produce some valid queries ({accepted})"
        );
    });
}

#[test]
fn resolver_can_be_a_closure() {
    let resolver = |t: &TableName| -> Result<TableAccess> {
        Ok(access(&t.database, &t.table, &[("a", "Int64")]))
    };
    let r = rewrite("SELECT * FROM x.y", &opts(Placement::Secured), &resolver).unwrap();
    assert_eq!(r.sql, r#"SELECT * FROM (SELECT "a" FROM "__lg_t0") AS "y""#);
}

/// Every string value a statement holds, in order.
fn string_values(sql: &str) -> Vec<String> {
    struct V(Vec<String>);
    impl Visitor for V {
        type Break = ();
        fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
            if let Expr::Value(v) = e {
                match &v.value {
                    sqlparser::ast::Value::SingleQuotedString(s)
                    | sqlparser::ast::Value::EscapedStringLiteral(s) => self.0.push(s.clone()),
                    _ => {}
                }
            }
            ControlFlow::Continue(())
        }
    }
    let statements = Parser::parse_sql(&GenericDialect {}, sql).unwrap();
    let mut v = V(vec![]);
    let _ = statements.visit(&mut v);
    v.0
}

/// Aliases (quoted identifiers) of the outer projection.
fn aliases(sql: &str) -> Vec<String> {
    let statements = Parser::parse_sql(&GenericDialect {}, sql).unwrap();
    let sqlparser::ast::Statement::Query(q) = &statements[0] else {
        panic!("{sql}")
    };
    let SetExpr::Select(s) = q.body.as_ref() else {
        panic!("{sql}")
    };
    s.projection
        .iter()
        .filter_map(|i| match i {
            SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn reserialisation_keeps_meaning_for_every_quote_and_backslash() {
    // The class of the red-team finding: a literal or quoted identifier whose
    // printed form means something else (`'x\''` printed as `'x\'`). For
    // every combination of troublesome pieces, the text sent upstream either
    // parses back to the same statement, holding exactly the value the
    // client wrote, or the statement is refused.
    let pieces = [
        "'", "''", "\\", "\\'", "\"", "\"\"", "\\\"", "\n", "--", "/*", ";", "x", "E'", "$$",
    ];
    let mut values = Vec::new();
    for a in pieces {
        for b in pieces {
            for c in ["", "'", "\\", " UNION SELECT ssn FROM hr.people --"] {
                values.push(format!("{a}{b}{c}"));
            }
        }
    }
    let (mut kept, mut refused) = (0, 0);
    for v in &values {
        let literal = format!("'{}'", v.replace('\'', "''"));
        let sql = format!("SELECT id FROM sales.orders WHERE region = {literal}");
        let wrote = string_values(&sql);
        assert_eq!(wrote, std::slice::from_ref(v), "{sql}");
        match inline(&sql) {
            Ok(rw) => {
                let again = Parser::parse_sql(&GenericDialect {}, &rw.sql).unwrap();
                assert_eq!(again, std::slice::from_ref(&rw.statement), "{sql}");
                assert_eq!(string_values(&rw.sql), wrote, "{sql} => {}", rw.sql);
                kept += 1;
            }
            Err(Error::PermissionDenied(m)) => {
                assert!(m.contains("upstream"), "{m}");
                refused += 1;
            }
            Err(e) => panic!("{sql}: {e:?}"),
        }
        let ident = format!("\"{}\"", v.replace('"', "\"\""));
        let sql = format!("SELECT id AS {ident} FROM sales.orders");
        match inline(&sql) {
            Ok(rw) => {
                let again = Parser::parse_sql(&GenericDialect {}, &rw.sql).unwrap();
                assert_eq!(again, std::slice::from_ref(&rw.statement), "{sql}");
                assert_eq!(aliases(&rw.sql), aliases(&sql), "{sql} => {}", rw.sql);
                kept += 1;
            }
            Err(Error::PermissionDenied(m)) => {
                assert!(m.contains("upstream"), "{m}");
                refused += 1;
            }
            Err(e) => panic!("{sql}: {e:?}"),
        }
    }
    // Every string literal round-trips (as `E'…'` where needed); only
    // identifiers the printer cannot express are refused.
    assert!(kept > values.len(), "kept {kept}, refused {refused}");
}

#[test]
fn reserialisation_red_team_example_is_harmless() {
    let sql = "SELECT region FROM sales.orders WHERE region = 'x\\'' UNION ALL \
               SELECT ssn FROM \"111111111111\".hr.people --'";
    let rw = inline(sql).unwrap();
    // One literal, exactly what the rewriter saw; no second table.
    assert_eq!(
        string_values(&rw.sql),
        ["x\\' UNION ALL SELECT ssn FROM \"111111111111\".hr.people --"]
    );
    assert_eq!(rw.tables.len(), 1);
}

/// Found by the `rewrite` fuzz target: a field access on a call, `f(*) . 1`,
/// prints as `f(*).1`, which the tokenizer reads as `f(*)` then the number
/// `.1`. Such text never goes upstream; the embedded engine plans the AST,
/// so there it is the AST, not the text, that has to be right.
#[test]
fn fuzz_finding_text_that_does_not_parse_back_is_not_sent_upstream() {
    let sql = "SELECT region1nt(*) . 1";
    match inline(sql) {
        Err(Error::PermissionDenied(m)) => assert!(m.contains("upstream"), "{m}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    let secured = rewrite(sql, &opts(Placement::Secured), &Fake::new()).unwrap();
    assert!(Parser::parse_sql(&GenericDialect {}, &secured.sql).is_err());
    assert!(secured.tables.is_empty());
}

/// Found by the `rewrite` fuzz target (a timeout): sqlparser reads the
/// field access after each `.` twice when the rest fails to parse, so this
/// 190-byte statement took 8.6 s to reach its syntax error, and a few more
/// repetitions would hold a worker for hours, before any authorization.
/// The parse is bounded; the statement is refused saying why.
#[test]
fn fuzz_finding_a_statement_whose_parse_goes_exponential_is_refused() {
    let found = "SELECT $111111s011.L.o55.sale55salesswm.o111111sa111.L.o55.sale5salses5.\
                 rdez11.sal[~s.o&rda011.L.o55.sale55salesswm.o111111sa111.L.o55.sale5salses5.\
                 rdez11.sal[~s.o&rderswm.ordez11.sal[s.o&rders";
    for placement in [Placement::Secured, Placement::Inline] {
        match rewrite(found, &opts(placement), &Fake::new()) {
            Err(Error::InvalidArgument(m)) => assert!(m.contains("too costly to parse"), "{m}"),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
}
