//! `policy validate|plan|apply|test|export` over a whole repository
//! (DESIGN §8), through the CLI against a real server, and the example
//! repository `policies/`.

use std::path::{Path, PathBuf};

use crate::harness::*;

const ALICE: &str = "111111111111:user/alice";

fn example() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../policies")
}

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

const PII: &str =
    "forbid (principal, action == Lakegate::Action::\"SELECT\", resource is Lakegate::Column)
when { resource.hasTag(\"classification\") && resource.getTag(\"classification\") == \"pii\" }
unless { principal in Lakegate::Group::\"111111111111:group/privacy\" };
";

const GRANTS: &str = "\
filters:
  - name: sales.orders.eu
    row_filter: region = 'EU'
    columns: [id, amount, region]
grants:
  - principal: 111111111111:group/analysts
    permissions: [SELECT]
    data_filter: sales.orders.eu
  - principal: 111111111111:user/alice
    permissions: [SELECT]
    table: sales.customers
    columns: [id, name]
  - principal: 111111111111:group/privacy
    permissions: [SELECT]
    table: sales.customers
    masks: {email: hash}
";

/// A repository over `Server::setup_sales`'s catalog.
fn repository(dir: &Path) {
    write(
        dir,
        "lakegate.toml",
        "account = \"111111111111\"\n\n[[principals]]\nid = \"111111111111:user/alice\"\ngroups = [\"analysts\"]\n",
    );
    write(
        dir,
        "grants/tags.yaml",
        "tags:\n  - key: classification\n    values: [pii]\ntag_assignments:\n  - table: sales.customers\n    columns: [email]\n    tags: {classification: pii}\n",
    );
    write(dir, "grants/db_sales.yaml", GRANTS);
    write(dir, "pii.cedar", PII);
    write(
        dir,
        "invariants/pii.yaml",
        "invariants:\n  - name: only privacy reads pii\n    no_read:\n      columns_tagged: classification=pii\n      except_groups: [privacy]\n      except_principals: [111111111111:user/admin]\n",
    );
}

#[test]
fn the_example_repository_validates_without_a_server() {
    let dir = example();
    let out = run_cli(
        Some("http://127.0.0.1:1"),
        None,
        &["policy", "validate", dir.to_str().unwrap()],
    );
    let o = out.ok();
    assert!(
        o.stdout.contains("1 policies, 4 grants, 1 filters"),
        "{out:#?}"
    );
    assert!(!o.stdout.contains("warning"), "{out:#?}");
}

#[test]
fn bad_files_are_reported_with_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("sub")).unwrap();
    write(
        tmp.path(),
        "a.cedar",
        "forbid (principal, action, resource);\n",
    );
    write(
        tmp.path(),
        "sub/b.cedar",
        "// fine so far\n\npermit (principal,\n action resource);\n",
    );
    let dir = tmp.path().to_str().unwrap();
    run_cli(None, None, &["policy", "validate", dir])
        .fails(1, &format!("{dir}/sub/b.cedar:4: does not parse"));
    // Valid syntax, unknown entity type: a validation error, with its line.
    write(
        tmp.path(),
        "sub/b.cedar",
        "\nforbid (principal, action == Lakegate::Action::\"SELECT\", resource is Lakegate::Nope);\n",
    );
    run_cli(None, None, &["policy", "validate", dir]).fails(1, "sub/b.cedar:2: does not validate");
    run_cli(None, None, &["policy", "validate", "/nonexistent/dir"]).fails(1, "is not a directory");

    // YAML: an unknown field, two resources in one grant, a bad permission.
    let repo = tempfile::tempdir().unwrap();
    repository(repo.path());
    let d = repo.path().to_str().unwrap();
    run_cli(None, None, &["policy", "validate", d]).ok();
    for (text, want) in [
        (
            GRANTS.replace(
                "permissions: [SELECT]\n    data_filter",
                "permisions: [SELECT]\n    data_filter",
            ),
            "grants/db_sales.yaml:",
        ),
        (
            GRANTS.replace(
                "data_filter: sales.orders.eu",
                "data_filter: sales.orders.eu\n    database: sales",
            ),
            "grants/db_sales.yaml:6: a grant names exactly one resource",
        ),
        (
            GRANTS.replace(
                "permissions: [SELECT]\n    table: sales.customers\n    columns",
                "permissions: [READ]\n    table: sales.customers\n    columns",
            ),
            "grants/db_sales.yaml:9: ",
        ),
        (
            GRANTS.replace("principal: 111111111111:user/alice", "principal: alice"),
            "grants/db_sales.yaml:9: ",
        ),
    ] {
        write(repo.path(), "grants/db_sales.yaml", &text);
        run_cli(None, None, &["policy", "validate", d]).fails(1, &format!("{d}/{want}"));
    }
    write(
        repo.path(),
        "invariants/pii.yaml",
        "invariants:\n  - name: x\n",
    );
    write(repo.path(), "grants/db_sales.yaml", GRANTS);
    run_cli(None, None, &["policy", "validate", d]).fails(
        1,
        "invariants/pii.yaml:2: invariant `x` needs exactly one of",
    );
}

#[test]
fn lint_warnings_name_file_and_line() {
    let repo = tempfile::tempdir().unwrap();
    repository(repo.path());
    write(
        repo.path(),
        "grants/db_sales.yaml",
        "grants:
  - principal: 111111111111:group/analysts
    permissions: [SELECT]
    data_filter: sales.orders.eu
  - principal: 111111111111:group/analysts
    permissions: [SELECT]
    table: sales.orders
  - principal: 111111111111:user/bob
    permissions: [SELECT]
    table: sales.orders
    exclude_columns: [ssn]
filters:
  - name: sales.orders.eu
    row_filter: region = 'EU'
    columns: [id, amount, region]
  - name: sales.orders.unused
    all_rows: true
",
    );
    write(
        repo.path(),
        "more.cedar",
        "// never matches: another account's user\nforbid (principal == Lakegate::User::\"222222222222:user/x\", action, resource);\n",
    );
    let d = repo.path().to_str().unwrap();
    let out = run_cli(None, None, &["policy", "validate", d]);
    let s = &out.ok().stdout;
    for want in [
        "grants/db_sales.yaml:8: the grant to `111111111111:user/bob` lists columns to exclude",
        "grants/db_sales.yaml:2: `111111111111:group/analysts` also has SELECT on all of `sales.orders`",
        "grants/db_sales.yaml:16: nothing grants filter `sales.orders.unused`",
        "more.cedar:2: this forbid names `222222222222:user/x`",
    ] {
        assert!(
            s.contains(&format!("warning: {d}/{want}")),
            "{want}: {out:#?}"
        );
    }
}

/// Tags, tables and grants as the CLI would make them, before any repository.
fn start() -> Server {
    let s = Server::start();
    s.setup_sales();
    s.admin(&[
        "grant",
        "--principal",
        ALICE,
        "--permissions",
        "SELECT",
        "--table",
        "sales.orders",
    ])
    .ok();
    s
}

#[test]
fn plan_apply_export_round_trip_and_access_diff() {
    let s = start();
    let repo = tempfile::tempdir().unwrap();
    repository(repo.path());
    let d = repo.path().to_str().unwrap();

    // The plan: alice (declared in lakegate.toml as a member of analysts)
    // keeps only the filter's rows and columns of sales.orders (her CLI
    // grant is not in the repository), and gains two columns of customers.
    let p = s.admin(&["policy", "plan", d, "--json"]);
    let plan = p.ok().json();
    let access = plan["access"].as_array().unwrap();
    let alice_orders = access
        .iter()
        .find(|a| a["principal"] == ALICE && a["table"] == "sales.orders")
        .unwrap();
    assert_eq!(
        alice_orders["before"],
        serde_json::json!({"columns": ["id", "amount", "ssn", "region"], "rows": null, "masks": {}})
    );
    assert_eq!(
        alice_orders["after"],
        serde_json::json!({"columns": ["id", "amount", "region"], "rows": "region = 'EU'", "masks": {}})
    );
    let alice_customers = access
        .iter()
        .find(|a| a["principal"] == ALICE && a["table"] == "sales.customers")
        .unwrap();
    assert_eq!(alice_customers["before"], serde_json::Value::Null);
    assert_eq!(
        alice_customers["after"]["columns"],
        serde_json::json!(["id", "name"])
    );
    assert!(plan["invariants"][0]["ok"].as_bool().unwrap(), "{plan:#}");

    // Only admins plan or apply.
    let alice = s.token(ALICE, &["analysts"]);
    s.cli(&alice, &["policy", "apply", d])
        .fails(3, "data lake admin");
    s.cli(&alice, &["policy", "plan", d])
        .fails(3, "data lake admin");

    // Apply exactly the reviewed plan.
    let saved = repo.path().join("../plan.json");
    let saved = saved.to_str().unwrap();
    s.admin(&["policy", "plan", d, "--out", saved]).ok();
    let a = s.admin(&["policy", "apply", d, "--plan", saved]);
    assert!(a.ok().stdout.contains("applied"), "{a:#?}");

    // Enforced as planned: alice (analysts) reads EU orders through the
    // filter, and customers without the pii column.
    let rows = s.query_json(&alice, "SELECT * FROM sales.orders ORDER BY id");
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(
        rows.iter()
            .all(|r| r["region"] == "EU" && r.get("ssn").is_none())
    );
    let d2 = s.cli(&alice, &["table", "describe", "sales.customers", "--json"]);
    assert_eq!(columns(&d2.ok().json()), ["id", "name"]);

    // Export, then plan: nothing to change, nobody gains or loses.
    let exported = tempfile::tempdir().unwrap();
    let e = exported.path().join("repo");
    let e = e.to_str().unwrap();
    s.admin(&["policy", "export", e]).ok();
    let again = s.admin(&["policy", "plan", e, "--json"]);
    let again = again.ok().json();
    assert_eq!(again["changes"], serde_json::json!([]), "{again:#}");
    assert_eq!(again["access"], serde_json::json!([]), "{again:#}");
    // Export never overwrites.
    s.admin(&["policy", "export", e]).fails(1, "is not empty");

    // A one-line change: the exact diff, and nothing else.
    write(
        repo.path(),
        "grants/db_sales.yaml",
        &GRANTS.replace("columns: [id, name]\n", "columns: [id]\n"),
    );
    let plan = s.admin(&["policy", "plan", d, "--json"]);
    let plan = plan.ok().json();
    assert_eq!(plan["changes"].as_array().unwrap().len(), 1, "{plan:#}");
    assert_eq!(plan["changes"][0]["op"], "change", "{plan:#}");
    assert_eq!(
        plan["access"],
        serde_json::json!([{
            "principal": ALICE,
            "table": "sales.customers",
            "before": {"columns": ["id", "name"], "rows": null, "masks": {}},
            "after": {"columns": ["id"], "rows": null, "masks": {}},
        }]),
        "{plan:#}"
    );
    // A new grantee is analysed as well.
    let bob_line = GRANTS.to_string()
        + "  - principal: 111111111111:user/bob\n    permissions: [SELECT]\n    table: sales.customers\n    columns: [id]\n";
    write(repo.path(), "grants/db_sales.yaml", &bob_line);
    let plan = s.admin(&["policy", "plan", d, "--json"]);
    let plan = plan.ok().json();
    assert_eq!(
        plan["access"],
        serde_json::json!([{
            "principal": "111111111111:user/bob",
            "table": "sales.customers",
            "before": null,
            "after": {"columns": ["id"], "rows": null, "masks": {}},
        }]),
        "{plan:#}"
    );

    // An invariant broken (the forbid dropped, alice granted email): the
    // plan names the violation and exits 1, and apply changes nothing.
    write(repo.path(), "pii.cedar", "// no forbid any more\n");
    write(
        repo.path(),
        "grants/db_sales.yaml",
        &GRANTS.replace("columns: [id, name]\n", "columns: [id, name, email]\n"),
    );
    let before = s.state();
    let p = s.admin(&["policy", "plan", d]);
    p.fails(1, "1 invariant(s) fail");
    assert!(
        p.stdout.contains("FAIL  only privacy reads pii")
            && p.stdout
                .contains("111111111111:user/alice on sales.customers column email"),
        "{p:#?}"
    );
    s.admin(&["policy", "apply", d])
        .fails(1, "invariant `only privacy reads pii` would be violated");
    assert_eq!(s.state(), before);
}

#[test]
fn a_stale_plan_and_a_partial_directory_change_nothing() {
    let s = start();
    let repo = tempfile::tempdir().unwrap();
    repository(repo.path());
    let d = repo.path().to_str().unwrap();
    let saved = repo.path().join("../stale.json");
    let saved = saved.to_str().unwrap();
    s.admin(&["policy", "plan", d, "--out", saved]).ok();
    // Someone grants in between: the plan is stale.
    s.admin(&[
        "grant",
        "--principal",
        "111111111111:user/bob",
        "--permissions",
        "SELECT",
        "--table",
        "sales.orders",
    ])
    .ok();
    let before = s.state();
    s.admin(&["policy", "apply", d, "--plan", saved])
        .fails(1, "run `lakegate policy plan` again");
    assert_eq!(s.state(), before);

    // A reviewed plan, then the files edited: the server refuses it.
    let fresh = repo.path().join("../fresh.json");
    let fresh = fresh.to_str().unwrap();
    s.admin(&["policy", "plan", d, "--out", fresh]).ok();
    write(
        repo.path(),
        "grants/db_sales.yaml",
        &GRANTS.replace("columns: [id, name]\n", "columns: [id]\n"),
    );
    s.admin(&["policy", "apply", d, "--plan", fresh])
        .fails(1, "no longer plans to the reviewed plan");
    assert_eq!(s.state(), before);
    write(repo.path(), "grants/db_sales.yaml", GRANTS);

    // Cedar files alone are not a repository: applying them would remove
    // every grant, so plan and apply refuse.
    let cedar_only = tempfile::tempdir().unwrap();
    write(cedar_only.path(), "pii.cedar", PII);
    let c = cedar_only.path().to_str().unwrap();
    s.admin(&["policy", "apply", c])
        .fails(1, "has no lakegate.toml");
    s.admin(&["policy", "plan", c])
        .fails(1, "has no lakegate.toml");
    assert_eq!(s.state(), before);

    // A grant on a table that does not exist: FILE:LINE, nothing applied.
    write(
        repo.path(),
        "grants/db_sales.yaml",
        &GRANTS.replace(
            "table: sales.customers\n    columns",
            "table: sales.nope\n    columns",
        ),
    );
    s.admin(&["policy", "apply", d])
        .fails(1, "grants/db_sales.yaml:9: ");
    assert_eq!(s.state(), before);
}

#[test]
fn test_runs_checks_on_the_planned_state_with_coverage() {
    let s = start();
    let repo = tempfile::tempdir().unwrap();
    repository(repo.path());
    let d = repo.path().to_str().unwrap();
    write(
        repo.path(),
        "tests/access.yaml",
        "tests:
  - name: analysts read EU orders
    principal: \"111111111111:user/alice\"
    groups: [analysts]
    table: sales.orders
    visible_columns: [id, amount, region]
    row_filter: region = 'EU'
    masks: {}
  - name: analysts read EU rows, run on the planned state
    principal: \"111111111111:user/alice\"
    groups: [analysts]
    sql: SELECT * FROM sales.orders ORDER BY id
    rows: [[1, 10.5, \"EU\"], [2, 20.25, \"EU\"]]
  - name: privacy sees emails hashed
    principal: \"111111111111:user/carol\"
    groups: [privacy]
    table: sales.customers
    visible_columns: [id, name, email]
    masks: {email: hash}
",
    );
    // Nothing applied: the checks run on the state the repository leads to.
    let before = s.state();
    let t = s.admin(&["policy", "test", d]);
    let out = t.ok();
    assert!(out.stdout.contains("3 policy tests passed"), "{t:#?}");
    // The statement the rows check ran is audited: the admin who asked,
    // and the principal it ran as.
    let audit = std::fs::read_to_string(s.data_dir.join("audit.jsonl")).unwrap();
    let line = audit
        .lines()
        .find(|l| l.contains("policy_test as 111111111111:user/alice"))
        .unwrap_or_else(|| panic!("no audit line for the rows check: {audit}"));
    assert!(line.contains("111111111111:user/admin"), "{line}");
    assert!(
        out.stdout
            .contains("coverage: 2 grant(s) and policies no check exercised")
            && out.stdout.contains(
                "SELECT on table sales.customers columns (id, name) to 111111111111:user/alice"
            )
            && out.stdout.contains("policy #0 in pii.cedar"),
        "{t:#?}"
    );
    assert_eq!(s.state(), before);

    // A failing check is reported and exits 1.
    write(
        repo.path(),
        "tests/wrong.yaml",
        "tests:\n  - name: wrong on purpose\n    principal: \"111111111111:user/alice\"\n    table: sales.customers\n    visible_columns: [id, name, email]\n",
    );
    let out = s.admin(&["policy", "test", d]);
    out.fails(1, "1 of 4 policy tests failed");
    assert!(
        out.stdout.contains("FAIL  wrong on purpose") && out.stdout.contains("got [id, name]"),
        "{out:#?}"
    );
}

#[test]
fn the_example_repository_passes_its_tests_on_the_demo_catalog() {
    let s = Server::start_with(&["--demo"]);
    let dir = example();
    let t = s.admin(&["policy", "test", dir.to_str().unwrap()]);
    assert!(t.ok().stdout.contains("8 policy tests passed"), "{t:#?}");
    let p = s.admin(&["policy", "plan", dir.to_str().unwrap()]);
    assert!(
        p.ok()
            .stdout
            .contains("ok    only the privacy group reads pii"),
        "{p:#?}"
    );
}
