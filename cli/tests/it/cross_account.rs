//! Cross-account shares through the CLI (DESIGN §3 rule 6): two accounts'
//! admins on one server, each acting in its own account; a share with the
//! grant option re-granted by the receiving admin; refusals that change
//! nothing.

use crate::harness::*;

const B: &str = "222222222222";
const B_ADMIN: &str = "222222222222:user/admin";
const BOB: &str = "222222222222:user/bob";

fn grant(table: &str, principal: &str, extra: &[&'static str]) -> Vec<String> {
    let mut v: Vec<String> = [
        "grant",
        "--principal",
        principal,
        "--permissions",
        "SELECT",
        "--table",
        table,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

fn args(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// `resource-link create NAME --target TARGET`, as `token`.
fn create_link(s: &Server, token: &str, name: &str, target: &str) -> Out {
    s.cli(
        token,
        &["resource-link", "create", name, "--target", target],
    )
}

/// `grant --principal PRINCIPAL --permissions PERMISSION --table TABLE`.
fn grant_one(s: &Server, token: &str, principal: &str, permission: &str, table: &str) -> Out {
    s.cli(
        token,
        &[
            "grant",
            "--principal",
            principal,
            "--permissions",
            permission,
            "--table",
            table,
        ],
    )
}

#[test]
fn a_share_reaches_the_other_account_only_through_its_admin() {
    let s = Server::start_with(&["--admin", B_ADMIN]);
    s.setup_sales();
    let b_admin = s.token(B_ADMIN, &[]);
    // Each admin acts in its own account: B sees none of A's catalog.
    let dbs = s.cli(&b_admin, &["database", "list", "--json"]);
    dbs.ok();
    assert!(!dbs.stdout.contains("sales"), "{dbs:#?}");

    // Refusals change nothing.
    let before = s.state();
    s.admin(&args(&grant("sales.orders", "333333333333", &[])))
        .fails(1, "not known to this server");
    s.admin(&args(&grant("sales.orders", BOB, &[])))
        .fails(1, "share with that account itself");
    s.admin(&[
        "grant",
        "--principal",
        B,
        "--permissions",
        "DROP",
        "--database",
        "sales",
    ])
    .fails(1, "cannot be granted to another account");
    s.cli(
        &b_admin,
        &args(&grant("111111111111:sales.orders", BOB, &[])),
    )
    .fails(1, "was not found");
    assert_eq!(s.state(), before, "a refused command changed the store");

    // A shares two columns with the grant option; B's admin sees the share.
    s.admin(&args(&grant(
        "sales.orders",
        B,
        &["--grantable", "SELECT", "--columns", "id,amount"],
    )))
    .ok();
    let list = s.cli(&b_admin, &["permissions", "list", "--json"]);
    list.ok();
    let shares = entries_of(&list.json(), B)
        .into_iter()
        .map(|e| {
            (
                e["resource"].as_str().unwrap().to_string(),
                e["origin"].clone(),
            )
        })
        .collect::<Vec<_>>();
    assert_eq!(
        shares,
        [(
            "table 111111111111:sales.orders columns (amount, id)".to_string(),
            serde_json::json!("share")
        )],
        "{list:#?}"
    );

    // ... and in `database list` and `table list ACCOUNT:DB`, with only the
    // shared table and columns, and the owner's principals not named.
    let dbs = s.cli(&b_admin, &["database", "list"]);
    dbs.ok();
    assert!(dbs.stdout.contains("111111111111:sales"), "{dbs:#?}");
    assert!(!dbs.stdout.contains("111111111111:user"), "{dbs:#?}");
    let tables = s.cli(&b_admin, &["table", "list", "111111111111:sales", "--json"]);
    tables.ok();
    let shown: Vec<(String, Vec<String>)> = tables
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let cols = t["columns"].as_array().unwrap();
            (
                t["name"].as_str().unwrap().to_string(),
                cols.iter()
                    .map(|c| c["name"].as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect();
    assert_eq!(
        shown,
        [(
            "orders".to_string(),
            vec!["id".to_string(), "amount".to_string()]
        )],
        "{tables:#?}"
    );
    // Nobody else of B sees A's databases.
    let bob = s.token(BOB, &[]);
    s.cli(&bob, &["table", "list", "111111111111:sales"])
        .fails(1, "was not found");

    // B's admin re-grants to bob (any column may be named) and sees it.
    s.cli(
        &b_admin,
        &args(&grant("111111111111:sales.orders", BOB, &[])),
    )
    .ok();
    let list = s.cli(&b_admin, &["permissions", "list", "--json"]);
    assert_eq!(entries_of(&list.json(), BOB).len(), 1, "{list:#?}");
    // B cannot share A's table on, nor can bob re-grant it.
    s.cli(
        &b_admin,
        &args(&grant("111111111111:sales.orders", "111111111111", &[])),
    )
    .fails(1, "never shared on");
    s.cli(
        &bob,
        &args(&grant(
            "111111111111:sales.orders",
            "222222222222:user/carol",
            &[],
        )),
    )
    .fails(3, "only a data lake admin");
    // Bob queries A's table through a link in B's catalog: the share's two
    // columns, whatever B granted.
    s.cli(&b_admin, &["database", "create", "shared"]).ok();
    create_link(&s, &b_admin, "shared.nope", "111111111111:sales.customers")
        .fails(1, "was not found");
    create_link(&s, &b_admin, "shared.orders", "111111111111:sales.orders").ok();
    let links = s.cli(&b_admin, &["resource-link", "list", "--json"]);
    links.ok();
    assert_eq!(
        links.json()[0]["target"],
        "111111111111:sales.orders",
        "{links:#?}"
    );
    // Querying through the link also needs DESCRIBE on the link itself.
    s.cli(&bob, &["query", "SELECT id FROM shared.orders"])
        .fails(1, "was not found");
    grant_one(&s, &b_admin, BOB, "SELECT", "shared.orders")
        .fails(1, "grant SELECT on the table it points at");
    grant_one(&s, &b_admin, BOB, "DESCRIBE", "shared.orders").ok();
    let tables = s.cli(&bob, &["table", "list", "shared", "--json"]);
    tables.ok();
    assert!(
        tables.stdout.contains("orders")
            && tables.stdout.contains("amount")
            && !tables.stdout.contains("ssn"),
        "{tables:#?}"
    );
    let q = s.cli(
        &bob,
        &["query", "--json", "SELECT * FROM shared.orders ORDER BY id"],
    );
    q.ok();
    assert!(
        q.stdout.contains("amount") && !q.stdout.contains("ssn"),
        "{q:#?}"
    );
    assert!(q.stdout.contains("20.25"), "{q:#?}");
    // Explain names the owner's table and shows both halves of the
    // intersection: the share, then B's own grant.
    let e = s
        .cli(
            &b_admin,
            &[
                "explain",
                "--json",
                "--principal",
                BOB,
                "SELECT * FROM shared.orders",
            ],
        )
        .json();
    assert_eq!(e["tables"][0]["table"], "111111111111:sales.orders", "{e}");
    let trail = e["tables"][0]["trail"].to_string();
    assert!(
        trail.contains("shared by account 111111111111 with account 222222222222")
            && trail.contains("columns id, amount; all rows")
            && trail.contains("granted by account 222222222222"),
        "{trail}"
    );
    // The audit line names both accounts: the caller's (its principal) and
    // the table's owner.
    let audit = std::fs::read_to_string(s.data_dir.join("audit.jsonl")).unwrap();
    let line = audit
        .lines()
        .rev()
        .find(|l| l.contains(BOB) && l.contains("shared.orders"))
        .unwrap_or_else(|| panic!("no audit line for bob's query: {audit}"));
    assert!(line.contains("111111111111.sales.orders"), "{line}");
    // A revoked share: the link is a missing table for bob at once.
    s.admin(&[
        "revoke",
        "--principal",
        B,
        "--permissions",
        "SELECT",
        "--table",
        "sales.orders",
    ])
    .ok();
    s.cli(&bob, &["query", "SELECT id FROM shared.orders"])
        .fails(1, "was not found");
    s.cli(&b_admin, &["resource-link", "delete", "shared.orders"])
        .ok();
    // A's own principals get nothing from a share to B.
    let a_list = s.admin(&["permissions", "list", "--json"]);
    assert!(
        entries_of(&a_list.json(), BOB).is_empty(),
        "A's admin lists only its own account's grants and shares: {a_list:#?}"
    );
}

#[test]
fn a_shared_tag_expression_is_re_granted_with_catalog_id() {
    let s = Server::start_with(&["--admin", B_ADMIN]);
    s.setup_sales();
    let b_admin = s.token(B_ADMIN, &[]);
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
        "grant",
        "--principal",
        B,
        "--permissions",
        "SELECT",
        "--grantable",
        "SELECT",
        "--resource-type",
        "TABLE",
        "--tag",
        "classification=public",
    ])
    .ok();
    let regrant = |values: &str| {
        s.cli(
            &b_admin,
            &[
                "grant",
                "--principal",
                BOB,
                "--permissions",
                "SELECT",
                "--catalog-id",
                "111111111111",
                "--resource-type",
                "TABLE",
                "--tag",
                &format!("classification={values}"),
            ],
        )
    };
    // Wider than the share: refused (exit 3), nothing changes.
    let before = s.state();
    regrant("public,pii").fails(3, "narrower one");
    assert_eq!(s.state(), before, "a refused re-grant changed the store");
    regrant("public").ok();
    s.cli(&b_admin, &["database", "create", "shared"]).ok();
    create_link(&s, &b_admin, "shared.orders", "111111111111:sales.orders").ok();
    grant_one(&s, &b_admin, BOB, "DESCRIBE", "shared.orders").ok();
    let bob = s.token(BOB, &[]);
    let q = s.cli(
        &bob,
        &["query", "--json", "SELECT count(*) AS n FROM shared.orders"],
    );
    q.ok();
    assert!(q.stdout.contains("\"n\""), "{q:#?}");
}

#[test]
fn the_receiving_admin_keeps_its_own_filters_on_a_shared_table() {
    let s = Server::start_with(&["--admin", B_ADMIN]);
    s.setup_sales();
    let b_admin = s.token(B_ADMIN, &[]);
    s.admin(&args(&grant(
        "sales.orders",
        B,
        &["--grantable", "SELECT", "--columns", "id,amount"],
    )))
    .ok();
    // A column the share does not show does not exist for B; nothing changes.
    let before = s.state();
    s.cli(
        &b_admin,
        &[
            "data-filter",
            "create",
            "111111111111:sales.orders.big",
            "--row-filter",
            "ssn IS NOT NULL",
            "--columns",
            "id",
        ],
    )
    .fails(1, "column `ssn` is not in the table");
    assert_eq!(s.state(), before, "a refused filter changed the store");
    s.cli(
        &b_admin,
        &[
            "data-filter",
            "create",
            "111111111111:sales.orders.big",
            "--row-filter",
            "amount > 15",
            "--columns",
            "id,amount",
        ],
    )
    .ok();
    s.cli(
        &b_admin,
        &[
            "grant",
            "--principal",
            BOB,
            "--permissions",
            "SELECT",
            "--data-filter",
            "111111111111:sales.orders.big",
        ],
    )
    .ok();
    // B sees bob's grant on it by the name it gave.
    let list = s.cli(&b_admin, &["permissions", "list", "--json"]);
    let json = list.json();
    let bobs = entries_of(&json, BOB);
    assert!(
        bobs.iter().any(|e| e["resource"]
            .as_str()
            .is_some_and(|r| r.contains("111111111111:sales.orders.big") && !r.contains('@'))),
        "{list:#?}"
    );
    // B lists it by the name it gave; A does not see it at all.
    let mine = s.cli(&b_admin, &["data-filter", "list"]);
    mine.ok();
    assert!(
        mine.stdout.contains("111111111111:sales.orders.big"),
        "{mine:#?}"
    );
    let theirs = s.admin(&["data-filter", "list", "--json"]);
    theirs.ok();
    assert!(!theirs.stdout.contains("big"), "{theirs:#?}");
    // Deleting it takes bob's grant along.
    s.cli(
        &b_admin,
        &["data-filter", "delete", "111111111111:sales.orders.big"],
    )
    .ok();
    let list = s.cli(&b_admin, &["permissions", "list", "--json"]);
    assert!(entries_of(&list.json(), BOB).is_empty(), "{list:#?}");
}
