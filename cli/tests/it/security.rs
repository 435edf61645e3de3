//! Issue 8 regressions through the CLI and a real server: masks kept through
//! the grant option (item 3), tag assignment needing rights on the resource
//! (item 4), and admin commands authorizing before they validate (item 7).

use crate::harness::*;

const ALICE: &str = "111111111111:user/alice";
const CAROL: &str = "111111111111:user/carol";

/// Asserts two failed commands exit alike and print the same error once
/// the differing names are replaced.
#[track_caller]
fn same_failure(existing: &Out, existing_name: &str, missing: &Out, missing_name: &str) {
    assert_ne!(existing.code, 0, "{existing:#?}");
    assert_eq!(existing.code, missing.code, "{existing:#?} vs {missing:#?}");
    assert_eq!(
        existing.stderr.replace(existing_name, "X"),
        missing.stderr.replace(missing_name, "X")
    );
}

fn apply_policy(s: &Server, name: &str, text: &str) -> tempfile::TempDir {
    s.apply_cedar(name, text)
}

const FORBID_PII: &str = "forbid (principal, action == Lakegate::Action::\"SELECT\", resource is Lakegate::Column)\nwhen { resource.hasTag(\"classification\") && resource.getTag(\"classification\") == \"pii\" };\n";

fn masks_of(s: &Server, principal: &str) -> Vec<String> {
    let p = s.admin(&["permissions", "list", "--principal", principal, "--json"]);
    let v = p.ok().json();
    entries_of(&v, principal)
        .iter()
        .flat_map(|e| e["masks"].as_array().unwrap().clone())
        .map(|m| m.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn grant_option_keeps_masks_through_the_cli() {
    let s = Server::start();
    s.setup_sales();
    s.admin(&[
        "grant",
        "--principal",
        ALICE,
        "--permissions",
        "SELECT",
        "--grantable",
        "SELECT",
        "--table",
        "sales.orders",
        "--mask",
        "ssn=last4",
    ])
    .ok();
    let alice = s.token(ALICE, &[]);
    let regrant = |extra: &[&str], to: &str| {
        let mut args = vec![
            "grant",
            "--principal",
            to,
            "--permissions",
            "SELECT",
            "--table",
            "sales.orders",
        ];
        args.extend_from_slice(extra);
        s.cli(&alice, &args)
    };
    // A weaker mask is refused; re-granting to herself is refused.
    regrant(&["--mask", "ssn=expr:ssn"], CAROL).fails(3, "masked as `last4`");
    regrant(&[], ALICE).fails(3, "its own grants");
    assert_eq!(masks_of(&s, ALICE), ["ssn=last4"]);
    // Without a mask, hers travels with the grant.
    regrant(&[], CAROL).ok();
    assert_eq!(masks_of(&s, CAROL), ["ssn=last4"]);
    let carol = s.token(CAROL, &[]);
    let q = s.cli(
        &carol,
        &[
            "query",
            "--json",
            "SELECT ssn FROM sales.orders ORDER BY id",
        ],
    );
    let rows = q.ok().json();
    assert_eq!(rows[0]["ssn"], "xxx-xx-6789", "{rows}");
    // A stronger one is fine.
    regrant(&["--mask", "ssn=null"], CAROL).ok();
    assert_eq!(masks_of(&s, CAROL), ["ssn=null"]);
}

#[test]
fn tag_assign_needs_resource_rights_through_the_cli() {
    let s = Server::start();
    s.setup_sales();
    s.admin(&["lf-tag", "create", "team", "--values", "sales,ops"])
        .ok();
    s.admin(&[
        "grant",
        "--principal",
        ALICE,
        "--permissions",
        "ASSOCIATE",
        "--lf-tag",
        "team=ops",
    ])
    .ok();
    s.admin(&[
        "grant",
        "--principal",
        ALICE,
        "--permissions",
        "SELECT",
        "--resource-type",
        "TABLE",
        "--tag",
        "team=ops",
    ])
    .ok();
    let alice = s.token(ALICE, &[]);
    // Tagging a database she cannot describe reads like a missing one, and
    // opens nothing.
    let hidden = s.cli(
        &alice,
        &[
            "lf-tag",
            "assign",
            "--database",
            "sales",
            "--tag",
            "team=ops",
        ],
    );
    let missing = s.cli(
        &alice,
        &[
            "lf-tag",
            "assign",
            "--database",
            "nope",
            "--tag",
            "team=ops",
        ],
    );
    hidden.fails(1, "was not found");
    same_failure(&hidden, "sales", &missing, "nope");
    s.cli(&alice, &["query", "SELECT id FROM sales.orders"])
        .fails(1, "was not found");
    // DESCRIBE without the grant option is not enough either.
    s.admin(&[
        "grant",
        "--principal",
        ALICE,
        "--permissions",
        "DESCRIBE",
        "--table",
        "sales.orders",
    ])
    .ok();
    s.cli(
        &alice,
        &[
            "lf-tag",
            "assign",
            "--table",
            "sales.orders",
            "--tag",
            "team=ops",
        ],
    )
    .fails(3, "with the grant option");
    // ALL with the grant option is.
    s.admin(&[
        "grant",
        "--principal",
        ALICE,
        "--permissions",
        "ALL",
        "--grantable",
        "ALL",
        "--table",
        "sales.orders",
    ])
    .ok();
    s.cli(
        &alice,
        &[
            "lf-tag",
            "assign",
            "--table",
            "sales.orders",
            "--tag",
            "team=ops",
        ],
    )
    .ok();
}

#[test]
fn tag_assign_needs_resource_rights_a_forbid_survives_retagging_through_the_cli() {
    let s = Server::start();
    s.setup_sales();
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
        "--columns",
        "ssn",
        "--tag",
        "classification=pii",
    ])
    .ok();
    s.admin(&[
        "grant",
        "--principal",
        ALICE,
        "--permissions",
        "ALL",
        "--grantable",
        "ALL",
        "--table",
        "sales.orders",
    ])
    .ok();
    s.admin(&[
        "grant",
        "--principal",
        ALICE,
        "--permissions",
        "ASSOCIATE",
        "--lf-tag",
        "classification=pii,public",
    ])
    .ok();
    let _p = apply_policy(&s, "pii.cedar", FORBID_PII);
    let alice = s.token(ALICE, &[]);
    let assign = |col: &str| {
        s.cli(
            &alice,
            &[
                "lf-tag",
                "assign",
                "--table",
                "sales.orders",
                "--columns",
                col,
                "--tag",
                "classification=public",
            ],
        )
    };
    let hidden = assign("ssn");
    let missing = assign("nosuch");
    hidden.fails(1, "is not in table");
    same_failure(&hidden, "ssn", &missing, "nosuch");
    s.cli(
        &alice,
        &[
            "lf-tag",
            "assign",
            "--table",
            "sales.orders",
            "--tag",
            "classification=public",
        ],
    )
    .fails(3, "policy of the account");
    let q = s.cli(&alice, &["query", "--json", "SELECT * FROM sales.orders"]);
    let rows = q.ok().json();
    assert!(rows[0].get("ssn").is_none(), "{rows}");
}

#[test]
fn admin_errors_authorize_first_through_the_cli() {
    let s = Server::start();
    s.setup_sales();
    s.admin(&["lf-tag", "create", "team", "--values", "sales"])
        .ok();
    s.admin(&[
        "grant",
        "--principal",
        ALICE,
        "--permissions",
        "ASSOCIATE",
        "--lf-tag",
        "team=sales",
    ])
    .ok();
    s.admin(&[
        "grant",
        "--principal",
        ALICE,
        "--permissions",
        "DESCRIBE",
        "--table",
        "sales.orders",
    ])
    .ok();
    s.admin(&[
        "data-filter",
        "create",
        "sales.orders.eu",
        "--row-filter",
        "region = 'EU'",
    ])
    .ok();
    let alice = s.token(ALICE, &[]);

    // lf-tag assign --columns: denied before any column is looked at.
    let assign = |col: &str| {
        s.cli(
            &alice,
            &[
                "lf-tag",
                "assign",
                "--table",
                "sales.orders",
                "--columns",
                col,
                "--tag",
                "team=sales",
            ],
        )
    };
    let (e, m) = (assign("ssn"), assign("nosuch"));
    e.fails(3, "");
    same_failure(&e, "ssn", &m, "nosuch");
    assert!(!m.stderr.contains("amount"), "{m:#?}");

    // grant --mask: the same.
    let mask = |col: &str| {
        s.cli(
            &alice,
            &[
                "grant",
                "--principal",
                CAROL,
                "--permissions",
                "SELECT",
                "--table",
                "sales.orders",
                "--mask",
                &format!("{col}=hash"),
            ],
        )
    };
    let (e, m) = (mask("ssn"), mask("nosuch"));
    e.fails(3, "");
    same_failure(&e, "ssn", &m, "nosuch");
    assert!(!m.stderr.contains("amount"), "{m:#?}");

    // Another principal's data filter: carol sees the table through one
    // column only, nothing about its filters.
    s.admin(&[
        "grant",
        "--principal",
        CAROL,
        "--permissions",
        "SELECT",
        "--table",
        "sales.orders",
        "--columns",
        "id",
    ])
    .ok();
    let carol = s.token(CAROL, &[]);
    let del = |f: &str| {
        s.cli(
            &carol,
            &["data-filter", "delete", &format!("sales.orders.{f}")],
        )
    };
    let (e, m) = (del("eu"), del("nope"));
    same_failure(&e, "eu", &m, "nope");
    let g = |f: &str| {
        s.cli(
            &carol,
            &[
                "grant",
                "--principal",
                ALICE,
                "--permissions",
                "SELECT",
                "--data-filter",
                &format!("sales.orders.{f}"),
            ],
        )
    };
    let (e, m) = (g("eu"), g("nope"));
    same_failure(&e, "eu", &m, "nope");

    // data-filter create naming a column a forbid hides from the creator.
    s.admin(&["lf-tag", "create", "classification", "--values", "pii"])
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
        ALICE,
        "--permissions",
        "SELECT",
        "--grantable",
        "SELECT",
        "--table",
        "sales.orders",
    ])
    .ok();
    let _p = apply_policy(&s, "pii.cedar", FORBID_PII);
    let before_filters = s.state();
    let create = |cols: &str| {
        s.cli(
            &alice,
            &[
                "data-filter",
                "create",
                "sales.orders.mine",
                "--all-rows",
                "--columns",
                cols,
            ],
        )
    };
    let (e, m) = (create("id,ssn"), create("id,nosuch"));
    e.fails(1, "is not in table");
    same_failure(&e, "ssn", &m, "nosuch");
    assert!(!m.stderr.contains("ssn"), "{m:#?}");
    assert_eq!(
        s.state(),
        before_filters,
        "a refused command changed something"
    );
}
