//! `data-filter create|list|delete` through a real server, and
//! `grant --data-filter` end to end (the filter applies to queries).

use crate::harness::*;

const ALICE: &str = "111111111111:user/alice";

#[test]
fn data_filters_are_validated_listed_granted_and_deleted() {
    let s = Server::start();
    s.setup_sales();
    let before = s.state();
    // Bad predicates are refused at create time and change nothing.
    let bad: Vec<(&str, &str)> = vec![
        ("nope = 1", "column `nope` is not in the table"),
        ("id = 'x'", "column `id` holds"),
        ("upper(ssn) = 'A'", "functions are not allowed"),
        (
            "id IN (SELECT id FROM sales.customers)",
            "subqueries are not allowed",
        ),
        ("id = ", "does not parse"),
        ("id = other_col", "not in the table"),
    ];
    for (pred, msg) in bad {
        s.admin(&[
            "data-filter",
            "create",
            "sales.orders.bad",
            "--row-filter",
            pred,
        ])
        .fails(1, msg);
    }
    s.admin(&[
        "data-filter",
        "create",
        "sales.orders.bad",
        "--all-rows",
        "--columns",
        "id,nope",
    ])
    .fails(1, "nope");
    s.admin(&["data-filter", "create", "sales.nope.f", "--all-rows"])
        .fails(1, "was not found");
    s.admin(&["data-filter", "create", "sales.orders", "--all-rows"])
        .fails(2, "write DB.TABLE.NAME");
    // Usage errors: neither or both of --row-filter and --all-rows.
    s.admin(&["data-filter", "create", "sales.orders.f"])
        .fails(2, "--row-filter");
    s.admin(&[
        "data-filter",
        "create",
        "sales.orders.f",
        "--all-rows",
        "--row-filter",
        "id = 1",
    ])
    .fails(2, "cannot be used with");
    assert_eq!(s.state(), before, "a refused filter changed something");
    let none = s.admin(&["data-filter", "list", "--json"]);
    assert_eq!(none.ok().json(), serde_json::json!([]));

    // A good one, listed.
    s.admin(&[
        "data-filter",
        "create",
        "sales.orders.eu",
        "--row-filter",
        "region = 'EU' AND amount > 1",
        "--exclude-columns",
        "ssn",
    ])
    .ok();
    s.admin(&["data-filter", "create", "sales.orders.eu", "--all-rows"])
        .fails(1, "already exists");
    let l = s.admin(&["data-filter", "list", "--table", "sales.orders", "--json"]);
    let v = l.ok().json();
    assert_eq!(v.as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v[0]["name"], "eu");
    assert_eq!(v[0]["row_filter"], "region = 'EU' AND amount > 1");
    assert_eq!(v[0]["exclude_columns"], serde_json::json!(["ssn"]));
    let text = s.admin(&["data-filter", "list"]);
    assert!(text.ok().stdout.contains("sales.orders.eu"), "{text:#?}");

    // Granted, it shows alice only EU rows and not ssn.
    s.admin(&[
        "grant",
        "--principal",
        ALICE,
        "--permissions",
        "SELECT",
        "--data-filter",
        "sales.orders.eu",
    ])
    .ok();
    let alice = s.token(ALICE, &[]);
    let q = s.cli(
        &alice,
        &["query", "--json", "SELECT * FROM sales.orders ORDER BY id"],
    );
    let rows = q.ok().json();
    let ids: Vec<i64> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [1, 2], "{rows}");
    assert!(rows[0].get("ssn").is_none(), "{rows}");
    // Alice sees the filter she may use; she may not delete it.
    let mine = s.cli(&alice, &["data-filter", "list", "--json"]);
    assert_eq!(mine.ok().json().as_array().unwrap().len(), 1);
    s.cli(&alice, &["data-filter", "delete", "sales.orders.eu"])
        .fails(3, "DROP");

    // Deleting takes the grants with it.
    s.admin(&["data-filter", "delete", "sales.orders.eu"]).ok();
    s.admin(&["data-filter", "delete", "sales.orders.eu"])
        .fails(1, "does not exist");
    let p = s.admin(&["permissions", "list", "--principal", ALICE, "--json"]);
    assert!(entries_of(&p.ok().json(), ALICE).is_empty());
    s.cli(&alice, &["query", "SELECT * FROM sales.orders"])
        .fails(1, "was not found");
}
