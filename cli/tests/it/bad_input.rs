//! Bad input: every case exits non-zero with a message that says what is
//! wrong, and changes nothing.

use crate::harness::*;

const ALICE: &str = "111111111111:user/alice";
const DAVE: &str = "111111111111:user/dave";

fn grant(extra: &[&str]) -> Vec<String> {
    let mut v = vec!["grant".to_string()];
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

#[test]
fn bad_input_is_refused_and_changes_nothing() {
    let s = Server::start();
    s.setup_sales();
    // Dave may create tables in `sales` but may not use any location.
    s.admin(&[
        "grant",
        "--principal",
        DAVE,
        "--permissions",
        "CREATE_TABLE",
        "--database",
        "sales",
    ])
    .ok();
    std::fs::create_dir_all(s.lake.join("sales/more")).unwrap();
    write_customers(&s.lake.join("sales/more"));
    let before = s.state();
    let dave = s.token(DAVE, &[]);
    let lake = s.uri("");
    let more = s.uri("sales/more");
    let long = "a".repeat(5000);
    let long_ident = "a".repeat(200);
    let many_columns = (0..5000)
        .map(|i| format!("c{i}"))
        .collect::<Vec<_>>()
        .join(",");

    let admin_cases: Vec<(Vec<String>, i32, &str)> = vec![
        // Malformed principal ids.
        (
            grant(&[
                "--principal",
                "alice",
                "--permissions",
                "SELECT",
                "--table",
                "sales.orders",
            ]),
            1,
            "is not a principal",
        ),
        (
            grant(&[
                "--principal",
                "111111111111:usr/alice",
                "--permissions",
                "SELECT",
                "--table",
                "sales.orders",
            ]),
            1,
            "is not a principal",
        ),
        (
            grant(&[
                "--principal",
                "12ab:user/alice",
                "--permissions",
                "SELECT",
                "--table",
                "sales.orders",
            ]),
            1,
            "is not a principal",
        ),
        // Unknown database, table, column; unknown permission.
        (
            grant(&[
                "--principal",
                ALICE,
                "--permissions",
                "DESCRIBE",
                "--database",
                "nosuch",
            ]),
            1,
            "database `nosuch` was not found; databases you can see: sales",
        ),
        (
            grant(&[
                "--principal",
                ALICE,
                "--permissions",
                "SELECT",
                "--table",
                "sales.nosuch",
            ]),
            1,
            "table `sales.nosuch` was not found",
        ),
        (
            grant(&[
                "--principal",
                ALICE,
                "--permissions",
                "SELECT",
                "--table",
                "sales.orders",
                "--columns",
                "id,nosuch",
            ]),
            1,
            "column `nosuch` is not in table `sales.orders`; columns are: id, amount, ssn, region",
        ),
        (
            grant(&[
                "--principal",
                ALICE,
                "--permissions",
                "READ",
                "--table",
                "sales.orders",
            ]),
            1,
            "`READ` is not a permission; permissions are:",
        ),
        // Permissions that do not apply to the resource.
        (
            grant(&[
                "--principal",
                ALICE,
                "--permissions",
                "INSERT",
                "--database",
                "sales",
            ]),
            1,
            "INSERT cannot be granted on a database",
        ),
        (
            grant(&[
                "--principal",
                ALICE,
                "--permissions",
                "SELECT",
                "--location",
                &lake,
            ]),
            1,
            "SELECT cannot be granted on a data location",
        ),
        // A grantable exclude list.
        (
            grant(&[
                "--principal",
                ALICE,
                "--permissions",
                "SELECT",
                "--grantable",
                "SELECT",
                "--table",
                "sales.orders",
                "--exclude-columns",
                "ssn",
            ]),
            1,
            "an exclude column list cannot be granted with the grant option",
        ),
        // A bad mask.
        (
            grant(&[
                "--principal",
                ALICE,
                "--permissions",
                "SELECT",
                "--table",
                "sales.orders",
                "--mask",
                "ssn=scramble",
            ]),
            1,
            "mask `scramble` is not known",
        ),
        // Revoking what is not held.
        (
            vec![
                "revoke".into(),
                "--principal".into(),
                ALICE.into(),
                "--permissions".into(),
                "SELECT".into(),
                "--table".into(),
                "sales.orders".into(),
            ],
            1,
            "nothing was revoked",
        ),
        // A table outside every registered location.
        (
            vec![
                "table".into(),
                "create".into(),
                "sales.elsewhere".into(),
                "--location".into(),
                "file:///definitely/not/registered/".into(),
            ],
            1,
            "is not inside any registered data location",
        ),
        (
            vec![
                "table".into(),
                "create".into(),
                "sales.relative".into(),
                "--location".into(),
                "lake/sales".into(),
            ],
            1,
            "is not a data location",
        ),
        (
            vec![
                "table".into(),
                "create".into(),
                "nosuch.t".into(),
                "--location".into(),
                more.clone(),
            ],
            1,
            "database `nosuch` was not found; databases you can see: sales",
        ),
        // Duplicate names.
        (
            vec!["database".into(), "create".into(), "sales".into()],
            1,
            "database `sales` already exists",
        ),
        (
            vec![
                "table".into(),
                "create".into(),
                "sales.orders".into(),
                "--location".into(),
                s.uri("sales/orders"),
            ],
            1,
            "table `sales.orders` already exists",
        ),
        (
            vec!["location".into(), "register".into(), lake.clone()],
            1,
            "is already registered",
        ),
        // Non-identifier names.
        (
            vec!["database".into(), "create".into(), "bad-name".into()],
            1,
            "database name `bad-name` is not an identifier",
        ),
        (
            vec!["database".into(), "create".into(), "1abc".into()],
            1,
            "is not an identifier",
        ),
        (
            vec![
                "table".into(),
                "create".into(),
                "sales.bad name".into(),
                "--location".into(),
                more.clone(),
            ],
            1,
            "table name `bad name` is not an identifier",
        ),
        (
            vec!["database".into(), "create".into(), long_ident.clone()],
            1,
            "is not an identifier",
        ),
        // Oversized input.
        (
            vec!["database".into(), "create".into(), long.clone()],
            1,
            "at most 4096 bytes",
        ),
        (
            grant(&[
                "--principal",
                &long,
                "--permissions",
                "SELECT",
                "--table",
                "sales.orders",
            ]),
            1,
            "at most 4096 bytes",
        ),
        (
            grant(&[
                "--principal",
                ALICE,
                "--permissions",
                "SELECT",
                "--table",
                "sales.orders",
                "--columns",
                &many_columns,
            ]),
            1,
            "has 5000 entries; at most 4096 are accepted",
        ),
    ];
    for (args, code, needle) in &admin_cases {
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = s.admin(&argv);
        // Long inputs are shortened in failure messages.
        let shown: Vec<String> = args.iter().map(|a| a.chars().take(60).collect()).collect();
        assert_eq!(out.code, *code, "{shown:?}: {out:#?}");
        assert!(
            out.stderr.starts_with("error: ") && out.stderr.contains(needle),
            "{shown:?}: expected {needle:?} in {out:#?}"
        );
        assert!(out.stdout.is_empty(), "{shown:?}: {out:#?}");
    }

    // No DATA_LOCATION_ACCESS: refused before any file is read.
    s.cli(
        &dave,
        &[
            "table",
            "create",
            "sales.more",
            "--location",
            &more,
            "--format",
            "csv",
        ],
    )
    .fails(3, "lacks DATA_LOCATION_ACCESS");

    assert_eq!(s.state(), before, "a refused command changed the catalog");
}

#[test]
fn conflicting_flags_are_usage_errors() {
    let s = Server::start();
    let cases: &[&[&str]] = &[
        // Two resources.
        &[
            "grant",
            "--principal",
            ALICE,
            "--permissions",
            "SELECT",
            "--database",
            "a",
            "--table",
            "a.b",
        ],
        &[
            "grant",
            "--principal",
            ALICE,
            "--permissions",
            "SELECT",
            "--catalog",
            "--location",
            "file:///x/",
        ],
        // No resource.
        &["grant", "--principal", ALICE, "--permissions", "SELECT"],
        // Column flags without --table, or both lists.
        &[
            "grant",
            "--principal",
            ALICE,
            "--permissions",
            "SELECT",
            "--database",
            "a",
            "--columns",
            "x",
        ],
        &[
            "grant",
            "--principal",
            ALICE,
            "--permissions",
            "SELECT",
            "--table",
            "a.b",
            "--columns",
            "x",
            "--exclude-columns",
            "y",
        ],
        &[
            "grant",
            "--principal",
            ALICE,
            "--permissions",
            "SELECT",
            "--database",
            "a",
            "--mask",
            "x=null",
        ],
        // A tag policy needs both halves.
        &[
            "grant",
            "--principal",
            ALICE,
            "--permissions",
            "SELECT",
            "--resource-type",
            "TABLE",
        ],
        &[
            "grant",
            "--principal",
            ALICE,
            "--permissions",
            "SELECT",
            "--database",
            "a",
            "--tag",
            "k=v",
        ],
        // No permissions.
        &["grant", "--principal", ALICE, "--table", "a.b"],
        &[
            "revoke",
            "--principal",
            ALICE,
            "--table",
            "a.b",
            "--mask",
            "x=null",
        ],
        &["permissions", "list", "--database", "a", "--table", "a.b"],
        &["table", "create", "a.b"],
        &[
            "table",
            "create",
            "a.b",
            "--location",
            "file:///x/",
            "--format",
            "xml",
        ],
        &["frobnicate"],
    ];
    for args in cases {
        let out = s.admin(args);
        assert_eq!(out.code, 2, "{args:?}: {out:#?}");
    }
}

#[test]
fn oversized_request_is_refused_and_the_server_stays_up() {
    use grpc_proxy::proto::CreateDatabaseRequest;
    use grpc_proxy::proto::governance_client::GovernanceClient;

    let s = Server::start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut c = GovernanceClient::connect(s.endpoint.clone()).await.unwrap();
        let mut req = tonic::Request::new(CreateDatabaseRequest {
            name: "a".repeat(5 << 20),
            location: None,
        });
        req.metadata_mut().insert(
            "authorization",
            format!("Bearer {}", s.admin_token).parse().unwrap(),
        );
        let err = c.create_database(req).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::OutOfRange, "{err:?}");
    });
    let dbs = s.admin(&["database", "list", "--json"]);
    dbs.ok();
    assert_eq!(dbs.json(), serde_json::json!([]));
    // An oversized token is refused before it is sent.
    s.cli(&"a".repeat(20_000), &["database", "list"])
        .fails(3, "at most 16384 are accepted");
}
