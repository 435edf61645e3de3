//! Parse cost is bounded before anything is authorized: shapes that make
//! sqlparser backtrack exponentially are refused, and the ordinary shapes
//! they resemble are not.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test code: a panic is a failed test"
)]

use policy_engine::Error;
use policy_engine::access::{TableAccess, table_not_found};
use policy_engine::model::{AccountId, TableName};
use policy_engine::rewrite::{MAX_PARENTHESISED_JOINS, Placement, RewriteOptions, rewrite};

fn unknown(t: &TableName) -> policy_engine::Result<TableAccess> {
    Err(table_not_found(t))
}

/// The rewriter's error for `sql` (every table is unknown, so a statement
/// that parses fails only at name resolution).
fn error(sql: &str) -> String {
    let mut o = RewriteOptions::new(AccountId::parse("111111111111").unwrap());
    o.placement = Placement::Inline;
    match rewrite(sql, &o, &unknown) {
        Err(Error::InvalidArgument(m)) => m,
        other => panic!("{sql}: {other:?}"),
    }
}

fn refused_for_parentheses(m: &str) -> bool {
    m.contains("joins in parentheses")
}

/// `L0 = db.t`, `Lk = ((SELECT * FROM L(k-1)) AS ak CROSS JOIN db.b)`:
/// sqlparser parses each level twice (0.65 s for k = 15 in a debug build,
/// doubling per level) without touching the expression parser.
fn chain(k: usize) -> String {
    let mut l = "db.t".to_string();
    for i in 1..=k {
        l = format!("((SELECT * FROM {l}) AS a{i} CROSS JOIN db.b)");
    }
    l
}

#[test]
fn reviewer_finding_nested_parenthesised_joins_are_refused_before_they_cost() {
    for k in MAX_PARENTHESISED_JOINS + 1..=15 {
        let m = error(&format!("SELECT * FROM {}", chain(k)));
        assert!(refused_for_parentheses(&m), "k={k}: {m}");
        // Anywhere a table may stand: after a comma, a JOIN, in a subquery.
        let m = error(&format!("SELECT * FROM db.x, {}", chain(k)));
        assert!(refused_for_parentheses(&m), "k={k}: {m}");
        let m = error(&format!("SELECT * FROM db.x JOIN {} ON true", chain(k)));
        assert!(refused_for_parentheses(&m), "k={k}: {m}");
        let m = error(&format!(
            "SELECT 1 WHERE EXISTS (SELECT * FROM db.x JOIN db.y ON 1 = 1, {})",
            chain(k)
        ));
        assert!(refused_for_parentheses(&m), "k={k}: {m}");
    }
    // Many copies side by side, as an attacker would send them.
    let copies = vec![chain(15); 40].join(", ");
    let m = error(&format!("SELECT * FROM {copies}"));
    assert!(refused_for_parentheses(&m), "{m}");
}

#[test]
fn ordinary_nesting_still_parses() {
    let nested_derived = (0..12).fold("db.t".to_string(), |inner, i| {
        format!("(SELECT * FROM {inner}) AS d{i}")
    });
    let right_nested_joins = (0..12).fold("db.t".to_string(), |inner, i| {
        format!("(db.x{i} CROSS JOIN {inner})")
    });
    for sql in [
        format!("SELECT * FROM {}", chain(MAX_PARENTHESISED_JOINS)),
        format!("SELECT * FROM {nested_derived}"),
        format!("SELECT * FROM {right_nested_joins}"),
        "SELECT ((1 + 2) * ((3))) FROM db.t WHERE ((a)) IN ((1), (2))".to_string(),
        "SELECT * FROM ((db.a JOIN db.b ON a.x = b.x) JOIN db.c ON c.y = b.y)".to_string(),
    ] {
        let m = error(&sql);
        assert!(
            m.contains("not found") || m.contains("does not exist") || m.contains("unknown"),
            "{sql}: {m}"
        );
    }
}
