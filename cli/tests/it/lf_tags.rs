//! `lf-tag create|update|delete|list|assign|unassign` through a real server,
//! and `grant --lf-tag` / `grant --resource-type TABLE --tag` end to end.

use crate::harness::*;

const ALICE: &str = "111111111111:user/alice";

#[test]
fn lf_tags_are_managed_assigned_and_granted_on() {
    let s = Server::start();
    s.setup_sales();
    s.admin(&[
        "lf-tag",
        "create",
        "Classification",
        "--values",
        "PII,public",
    ])
    .ok();
    s.admin(&["lf-tag", "create", "classification", "--values", "x"])
        .fails(1, "already exists");
    s.admin(&["lf-tag", "create", "bad key", "--values", "x"])
        .fails(1, "not an identifier");
    s.admin(&["lf-tag", "create", "k"]).fails(2, "--values");
    let l = s.admin(&["lf-tag", "list", "--json"]);
    let v = l.ok().json();
    assert_eq!(v[0]["key"], "classification");
    assert_eq!(v[0]["values"], serde_json::json!(["pii", "public"]));

    // Bad assignments change nothing.
    let before = s
        .admin(&["table", "describe", "sales.orders", "--json"])
        .stdout;
    let bad: Vec<(Vec<&str>, i32, &str)> = vec![
        (
            vec!["--table", "sales.orders", "--tag", "classification=secret"],
            1,
            "is not a value of LF-tag",
        ),
        (
            vec!["--table", "sales.orders", "--tag", "nokey=x"],
            1,
            "does not exist",
        ),
        (
            vec![
                "--table",
                "sales.orders",
                "--tag",
                "classification=pii",
                "--tag",
                "classification=public",
            ],
            1,
            "given twice",
        ),
        (
            vec![
                "--table",
                "sales.orders",
                "--tag",
                "classification=pii,public",
            ],
            2,
            "one value per key",
        ),
        (
            vec![
                "--table",
                "sales.orders",
                "--columns",
                "nope",
                "--tag",
                "classification=pii",
            ],
            1,
            "nope",
        ),
        (
            vec!["--database", "nope", "--tag", "classification=pii"],
            1,
            "was not found",
        ),
        (vec!["--tag", "classification=pii"], 2, "required"),
    ];
    for (args, code, msg) in bad {
        let mut a = vec!["lf-tag", "assign"];
        a.extend(args);
        s.admin(&a).fails(code, msg);
    }
    assert_eq!(
        s.admin(&["table", "describe", "sales.orders", "--json"])
            .stdout,
        before
    );

    // Table public, ssn pii.
    s.admin(&[
        "lf-tag",
        "assign",
        "--database",
        "sales",
        "--tag",
        "classification=public",
    ])
    .ok();
    let a = s.admin(&[
        "lf-tag",
        "assign",
        "--table",
        "sales.orders",
        "--columns",
        "ssn",
        "--tag",
        "classification=pii",
    ]);
    assert!(a.ok().stdout.contains("column sales.orders.ssn"), "{a:#?}");

    // A TABLE tag policy grant gives alice the public columns only.
    s.admin(&[
        "grant",
        "--principal",
        ALICE,
        "--permissions",
        "SELECT",
        "--resource-type",
        "TABLE",
        "--tag",
        "classification=public",
    ])
    .ok();
    let alice = s.token(ALICE, &[]);
    let d = s.cli(&alice, &["table", "describe", "sales.orders", "--json"]);
    assert_eq!(columns(&d.ok().json()), ["id", "amount", "region"]);
    // A value in use cannot be removed, a key in use cannot be deleted.
    s.admin(&["lf-tag", "update", "classification", "--remove", "pii"])
        .fails(1, "still assigned");
    s.admin(&["lf-tag", "delete", "classification"])
        .fails(1, "still");
    s.admin(&["lf-tag", "update", "classification", "--add", "internal"])
        .ok();
    s.admin(&["lf-tag", "update", "classification"])
        .fails(2, "required");
    // Unassigning ssn's pii value: it inherits public again, so alice sees it.
    s.admin(&[
        "lf-tag",
        "unassign",
        "--table",
        "sales.orders",
        "--columns",
        "ssn",
        "--tag",
        "classification=pii",
    ])
    .ok();
    s.admin(&[
        "lf-tag",
        "unassign",
        "--table",
        "sales.orders",
        "--columns",
        "ssn",
        "--tag",
        "classification=pii",
    ])
    .fails(1, "not assigned directly");
    let d = s.cli(&alice, &["table", "describe", "sales.orders", "--json"]);
    assert_eq!(columns(&d.ok().json()), ["id", "amount", "ssn", "region"]);
    s.admin(&["lf-tag", "update", "classification", "--remove", "pii"])
        .ok();

    // Assigning needs rights on the resource with the grant option (issue 8
    // item 4) and ASSOCIATE on the value.
    let assign_internal = || {
        s.cli(
            &alice,
            &[
                "lf-tag",
                "assign",
                "--table",
                "sales.customers",
                "--tag",
                "classification=internal",
            ],
        )
    };
    assign_internal().fails(3, "with the grant option");
    s.admin(&[
        "grant",
        "--principal",
        ALICE,
        "--permissions",
        "ALL",
        "--grantable",
        "ALL",
        "--table",
        "sales.customers",
    ])
    .ok();
    assign_internal().fails(3, "ASSOCIATE");
    s.admin(&[
        "grant",
        "--principal",
        ALICE,
        "--permissions",
        "ASSOCIATE",
        "--lf-tag",
        "classification=internal",
    ])
    .ok();
    assign_internal().ok();
    // Non-admins may not create tags.
    s.cli(&alice, &["lf-tag", "create", "k", "--values", "v"])
        .fails(3, "data lake admin");
}
