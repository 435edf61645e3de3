//! `lakegate explain` through a real server: the rewritten SQL, effective
//! access per table, and the trail for a data filter, a tag grant, a mask
//! and a forbid.

use crate::harness::*;

const ALICE: &str = "111111111111:user/alice";
const BOB: &str = "111111111111:user/bob";
const SQL: &str = "SELECT * FROM sales.orders";

fn trail(v: &serde_json::Value) -> Vec<String> {
    v["tables"][0]["trail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            format!(
                "{} {}: {}",
                l["effect"].as_str().unwrap(),
                l["decided"].as_str().unwrap(),
                l["source"].as_str().unwrap()
            )
        })
        .collect()
}

fn visible(v: &serde_json::Value) -> Vec<String> {
    v["tables"][0]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn explain_shows_filters_tag_grants_masks_and_forbids() {
    let s = Server::start();
    s.setup_sales();
    // Alice: a row filter on orders.
    s.admin(&[
        "data-filter",
        "create",
        "sales.orders.eu",
        "--row-filter",
        "region = 'EU'",
        "--columns",
        "id,region",
    ])
    .ok();
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
    let e = s.admin(&["explain", "--principal", ALICE, SQL]);
    let out = &e.ok().stdout;
    assert!(out.starts_with("rewritten SQL:"), "{out}");
    assert!(out.contains("region = 'EU'"), "{out}");
    assert!(out.contains("visible columns: id, region"), "{out}");
    assert!(out.contains("data filter sales.orders.eu"), "{out}");
    let j = s
        .admin(&["explain", "--json", "--principal", ALICE, SQL])
        .json();
    assert_eq!(visible(&j), ["id", "region"]);
    assert_eq!(
        j["tables"][0]["rows"],
        serde_json::json!({"all": false, "any_of": ["region = 'EU'"]})
    );
    assert!(!j["rewritten_sql"].as_str().unwrap().contains("ssn"), "{j}");

    // Bob: a tag grant, and a mask.
    s.admin(&[
        "lf-tag",
        "create",
        "classification",
        "--values",
        "pii,public",
    ])
    .ok();
    s.admin(&[
        "lf-tag",
        "assign",
        "--table",
        "sales.orders",
        "--tag",
        "classification=public",
    ])
    .ok();
    s.admin(&[
        "lf-tag",
        "assign",
        "--table",
        "sales.orders",
        "--columns",
        "ssn",
        "--tag",
        "classification=pii",
    ])
    .ok();
    s.admin(&[
        "grant",
        "--principal",
        BOB,
        "--permissions",
        "SELECT",
        "--resource-type",
        "TABLE",
        "--tag",
        "classification=public",
    ])
    .ok();
    // A mask on a column that does not exist is refused, and changes nothing.
    let before = s.state();
    s.admin(&[
        "grant",
        "--principal",
        BOB,
        "--permissions",
        "SELECT",
        "--table",
        "sales.orders",
        "--columns",
        "ssn",
        "--mask",
        "nope=redact",
    ])
    .fails(1, "nope");
    s.admin(&[
        "grant",
        "--principal",
        BOB,
        "--permissions",
        "SELECT",
        "--table",
        "sales.orders",
        "--columns",
        "ssn",
        "--mask",
        "ssn=bogus",
    ])
    .fails(1, "is not known");
    assert_eq!(s.state(), before);
    s.admin(&[
        "grant",
        "--principal",
        BOB,
        "--permissions",
        "SELECT",
        "--table",
        "sales.orders",
        "--columns",
        "ssn",
        "--mask",
        "ssn=last4",
    ])
    .ok();
    let j = s
        .admin(&["explain", "--json", "--principal", BOB, SQL])
        .json();
    assert_eq!(visible(&j), ["id", "amount", "ssn", "region"]);
    let cols = j["tables"][0]["columns"].as_array().unwrap();
    let ssn = cols.iter().find(|c| c["name"] == "ssn").unwrap();
    assert_eq!(ssn["mask"], "last4");
    assert_eq!(ssn["tags"]["classification"], "pii");
    let t = trail(&j);
    assert!(
        t.iter()
            .any(|l| l.starts_with("permit columns id, amount, region")
                && l.contains("classification")),
        "{t:?}"
    );
    assert!(
        t.iter()
            .any(|l| l.starts_with("permit columns ssn") && l.contains("grant")),
        "{t:?}"
    );
    let text = s.admin(&["explain", "--principal", BOB, SQL]);
    assert!(text.ok().stdout.contains("last4"), "{text:#?}");

    // A forbid on pii columns: ssn disappears, the trail says which file.
    let _repo = s.apply_cedar(
        "pii.cedar",
        "forbid (principal, action == Lakegate::Action::\"SELECT\", resource is Lakegate::Column)\nwhen { resource.hasTag(\"classification\") && resource.getTag(\"classification\") == \"pii\" };\n",
    );
    let j = s
        .admin(&["explain", "--json", "--principal", BOB, SQL])
        .json();
    assert_eq!(visible(&j), ["id", "amount", "region"]);
    let t = trail(&j);
    assert!(
        t.iter()
            .any(|l| l.starts_with("forbid column ssn hidden") && l.contains("pii.cedar")),
        "{t:?}"
    );

    // Errors are those a query gets.
    s.admin(&["explain", "--principal", "111111111111:user/carol", SQL])
        .fails(1, "was not found");
    s.admin(&["explain", "--principal", ALICE, "DROP TABLE sales.orders"])
        .fails(3, "");
    s.admin(&["explain", "--principal", ALICE, "SELEC 1"])
        .fails(1, "is not valid SQL");

    // Anyone may explain for themselves; only admins for others.
    let alice = s.token(ALICE, &[]);
    let mine = s.cli(&alice, &["explain", "--json", SQL]).json();
    assert_eq!(visible(&mine), ["id", "region"]);
    s.cli(&alice, &["explain", "--principal", BOB, SQL])
        .fails(3, "only a data lake admin");
    s.cli(
        &alice,
        &["explain", "--principal", ALICE, "--group", "privacy", SQL],
    )
    .fails(3, "only a data lake admin");
    s.admin(&["explain", "--principal", "111111111111:group/privacy", SQL])
        .fails(1, "is not a user or role");
}
