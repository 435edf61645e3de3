//! The admin's everyday flow, end to end.

use crate::harness::*;

const ALICE: &str = "111111111111:user/alice";

#[test]
fn admin_flow() {
    let s = Server::start();

    let who = s.admin(&["whoami", "--json"]);
    who.ok();
    let w = who.json();
    assert_eq!(w["principal"], ADMIN);
    assert_eq!(w["account"], ACCOUNT);
    assert_eq!(w["is_admin"], true);

    s.setup_sales();

    let locs = s.admin(&["location", "list"]);
    locs.ok();
    assert!(locs.stdout.contains(&s.uri("")), "{locs:#?}");

    // --json is accepted before the subcommand too.
    let dbs = s.admin(&["--json", "database", "list"]);
    dbs.ok();
    assert_eq!(dbs.json()[0]["name"], "sales");

    // Schema inference, including the hive partition key, after file columns.
    let orders = s.admin(&["table", "describe", "sales.orders", "--json"]);
    orders.ok();
    let o = orders.json();
    assert_eq!(columns(&o), ["id", "amount", "ssn", "region"]);
    assert_eq!(o["columns"][0]["data_type"], "Int64");
    assert_eq!(o["columns"][1]["data_type"], "Float64");
    assert_eq!(o["columns"][3]["partition"], true);
    assert_eq!(o["partition_keys"][0], "region");
    assert_eq!(o["format"], "parquet");

    let human = s.admin(&["table", "describe", "sales.customers"]);
    human.ok();
    assert!(human.stdout.contains("(csv)"), "{human:#?}");
    for c in ["id", "name", "email"] {
        assert!(human.stdout.contains(c), "{human:#?}");
    }

    let tables = s.admin(&["table", "list", "sales"]);
    tables.ok();
    assert!(tables.stdout.contains("sales.orders"));
    assert!(tables.stdout.contains("sales.customers"));

    // Grant alice two columns; she sees exactly those.
    s.admin(&[
        "grant",
        "--principal",
        ALICE,
        "--permissions",
        "SELECT",
        "--table",
        "sales.orders",
        "--columns",
        "id,amount",
    ])
    .ok();
    let list = s.admin(&["permissions", "list", "--principal", ALICE]);
    list.ok();
    assert!(
        list.stdout.starts_with("PRINCIPAL"),
        "aligned table expected: {list:#?}"
    );
    assert!(
        list.stdout
            .contains("table sales.orders columns (amount, id)"),
        "{list:#?}"
    );
    let json = s.admin(&["permissions", "list", "--principal", ALICE, "--json"]);
    json.ok();
    let e = json.json();
    assert_eq!(entries_of(&e, ALICE).len(), 1);
    assert_eq!(e[0]["permissions"][0], "SELECT");
    assert_eq!(e[0]["origin"], "grant");
    assert_eq!(e[0]["granted_by"], ADMIN);

    let alice = s.token(ALICE, &[]);
    let seen = s.cli(&alice, &["table", "describe", "sales.orders", "--json"]);
    seen.ok();
    assert_eq!(columns(&seen.json()), ["id", "amount"]);
    // The table filter of permissions list works too.
    let by_table = s.admin(&["permissions", "list", "--table", "sales.orders", "--json"]);
    by_table.ok();
    assert_eq!(entries_of(&by_table.json(), ALICE).len(), 1);

    // Revoke shows immediately.
    s.admin(&[
        "revoke",
        "--principal",
        ALICE,
        "--permissions",
        "SELECT",
        "--table",
        "sales.orders",
    ])
    .ok();
    let after = s.admin(&["permissions", "list", "--principal", ALICE, "--json"]);
    after.ok();
    assert_eq!(entries_of(&after.json(), ALICE).len(), 0, "{after:#?}");
    s.cli(&alice, &["table", "describe", "sales.orders"])
        .fails(1, "was not found");
}

#[test]
fn non_admin_is_refused_and_nothing_changes() {
    let s = Server::start();
    s.setup_sales();
    let before = s.state();
    let bob = s.token("111111111111:user/bob", &[]);
    s.cli(
        &bob,
        &[
            "grant",
            "--principal",
            ALICE,
            "--permissions",
            "CREATE_DATABASE",
            "--catalog",
        ],
    )
    .fails(3, "may not grant");
    s.cli(&bob, &["location", "register", &s.uri("other")])
        .fails(3, "only a data lake admin");
    s.cli(&bob, &["database", "create", "mine"])
        .fails(3, "CREATE_DATABASE");
    let who = s.cli(&bob, &["whoami"]);
    who.ok();
    assert!(who.stdout.contains("admin:     no"), "{who:#?}");
    assert_eq!(s.state(), before);
}

#[test]
fn creator_rights_are_listed_and_revocable() {
    let s = Server::start();
    s.setup_sales();
    std::fs::create_dir_all(s.lake.join("mart/t")).unwrap();
    write_customers(&s.lake.join("mart/t"));
    s.admin(&[
        "grant",
        "--principal",
        ALICE,
        "--permissions",
        "CREATE_DATABASE",
        "--catalog",
    ])
    .ok();
    s.admin(&[
        "grant",
        "--principal",
        ALICE,
        "--permissions",
        "DATA_LOCATION_ACCESS",
        "--location",
        &s.uri("mart"),
    ])
    .ok();
    let alice = s.token(ALICE, &[]);
    s.cli(&alice, &["database", "create", "mart"]).ok();
    s.cli(
        &alice,
        &[
            "table",
            "create",
            "mart.t",
            "--location",
            &s.uri("mart/t"),
            "--format",
            "csv",
        ],
    )
    .ok();

    let mine = s.cli(&alice, &["permissions", "list", "--json"]);
    mine.ok();
    let v = mine.json();
    let creator: Vec<_> = entries_of(&v, ALICE)
        .into_iter()
        .filter(|e| e["origin"] == "creator")
        .collect();
    assert_eq!(creator.len(), 2, "{mine:#?}");
    assert!(creator.iter().any(|e| e["resource"] == "database mart"));
    assert!(
        creator
            .iter()
            .any(|e| e["resource"] == "table mart.t" && e["permissions"][0] == "ALL")
    );

    // Admin revokes the creator's rights on the table; the listing shows it.
    s.admin(&[
        "revoke",
        "--principal",
        ALICE,
        "--permissions",
        "ALL",
        "--grantable",
        "ALL",
        "--table",
        "mart.t",
    ])
    .ok();
    let after = s.admin(&["permissions", "list", "--principal", ALICE, "--json"]);
    after.ok();
    let v = after.json();
    assert!(
        !entries_of(&v, ALICE)
            .iter()
            .any(|e| e["resource"] == "table mart.t"),
        "{after:#?}"
    );
    // And so on the database.
    s.admin(&[
        "revoke",
        "--principal",
        ALICE,
        "--permissions",
        "CREATE_TABLE,ALTER,DROP,DESCRIBE",
        "--grantable",
        "CREATE_TABLE,ALTER,DROP,DESCRIBE",
        "--database",
        "mart",
    ])
    .ok();
    let after = s.admin(&[
        "permissions",
        "list",
        "--principal",
        ALICE,
        "--database",
        "mart",
    ]);
    after.ok();
    assert!(after.stdout.contains("no permissions match"), "{after:#?}");
}
