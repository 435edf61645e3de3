//! `policy validate|plan|apply|test` and the example repository `policies/`.

use std::path::PathBuf;

use crate::harness::*;

const ALICE: &str = "111111111111:user/alice";

fn example() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../policies")
}

#[test]
fn the_example_policies_validate_without_a_server() {
    let dir = example();
    let out = run_cli(
        Some("http://127.0.0.1:1"),
        None,
        &["policy", "validate", dir.to_str().unwrap()],
    );
    assert!(out.ok().stdout.contains("1 policies"), "{out:#?}");
}

#[test]
fn a_bad_file_is_reported_with_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("sub")).unwrap();
    std::fs::write(
        tmp.path().join("a.cedar"),
        "forbid (principal, action, resource);\n",
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("sub/b.cedar"),
        "// fine so far\n\npermit (principal,\n action resource);\n",
    )
    .unwrap();
    let dir = tmp.path().to_str().unwrap();
    let out = run_cli(None, None, &["policy", "validate", dir]);
    out.fails(1, &format!("{dir}/sub/b.cedar:4: does not parse"));
    // Valid syntax, unknown entity type: a validation error, with its line.
    std::fs::write(
        tmp.path().join("sub/b.cedar"),
        "\nforbid (principal, action == Lakegate::Action::\"SELECT\", resource is Lakegate::Nope);\n",
    )
    .unwrap();
    run_cli(None, None, &["policy", "validate", dir]).fails(1, "sub/b.cedar:2: does not validate");
    run_cli(None, None, &["policy", "validate", "/nonexistent/dir"]).fails(1, "is not a directory");
}

#[test]
fn apply_plan_and_test_through_a_server() {
    let s = Server::start();
    s.setup_sales();
    let dir = example();
    let dir = dir.to_str().unwrap();
    // Tag email pii; alice may select the table.
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
        "sales.customers",
        "--columns",
        "email",
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
        "--table",
        "sales.customers",
    ])
    .ok();

    // Tests refuse to run against a different policy set.
    s.admin(&["policy", "test", dir]).fails(1, "differs from");
    let plan = s.admin(&["policy", "plan", dir]);
    assert!(
        plan.ok().stdout.contains("+ pii.cedar (1 policies)"),
        "{plan:#?}"
    );
    // Only admins apply.
    let alice = s.token(ALICE, &[]);
    s.cli(&alice, &["policy", "apply", dir])
        .fails(3, "data lake admin");
    let a = s.admin(&["policy", "apply", dir]);
    assert!(a.ok().stdout.contains("applied 1 policies"), "{a:#?}");
    let plan = s.admin(&["policy", "plan", dir]);
    assert!(plan.ok().stdout.contains("no changes"), "{plan:#?}");
    let t = s.admin(&["policy", "test", dir]);
    assert!(t.ok().stdout.contains("3 policy tests passed"), "{t:#?}");

    // The forbid applies to queries: email does not exist for alice.
    let d = s.cli(&alice, &["table", "describe", "sales.customers", "--json"]);
    assert_eq!(columns(&d.ok().json()), ["id", "name"]);
    let privacy = s.token(ALICE, &["privacy"]);
    let d = s.cli(
        &privacy,
        &["table", "describe", "sales.customers", "--json"],
    );
    assert_eq!(columns(&d.ok().json()), ["id", "name", "email"]);

    // A bundle with one bad file is rejected whole: nothing half-applied.
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(example().join("pii.cedar"), tmp.path().join("pii.cedar")).unwrap();
    std::fs::write(
        tmp.path().join("more.cedar"),
        "forbid (principal, action, resource is Lakegate::Table);\nforbid (principal, action, resource is Lakegate::Nope);\n",
    )
    .unwrap();
    let bad = tmp.path().to_str().unwrap();
    s.admin(&["policy", "apply", bad])
        .fails(1, "more.cedar:2: does not validate");
    let plan = s.admin(&["policy", "plan", dir]);
    assert!(plan.ok().stdout.contains("no changes"), "{plan:#?}");

    // A failing test is reported and exits 1.
    let tdir = tempfile::tempdir().unwrap();
    std::fs::copy(example().join("pii.cedar"), tdir.path().join("pii.cedar")).unwrap();
    std::fs::create_dir_all(tdir.path().join("tests")).unwrap();
    std::fs::write(
        tdir.path().join("tests/t.yaml"),
        "tests:\n  - name: wrong on purpose\n    principal: \"111111111111:user/alice\"\n    table: sales.customers\n    visible_columns: [id, name, email]\n",
    )
    .unwrap();
    let out = s.admin(&["policy", "test", tdir.path().to_str().unwrap()]);
    out.fails(1, "1 of 1 policy tests failed");
    assert!(
        out.stdout.contains("FAIL  wrong on purpose") && out.stdout.contains("got [id, name]"),
        "{out:#?}"
    );
    // No tests: validate only, and say so.
    let empty = tempfile::tempdir().unwrap();
    let out = run_cli(
        None,
        None,
        &["policy", "test", empty.path().to_str().unwrap()],
    );
    assert!(out.ok().stdout.contains("no tests found"), "{out:#?}");

    // Applying an empty directory removes the policy set (plan shows it first).
    let plan = s.admin(&["policy", "plan", empty.path().to_str().unwrap()]);
    assert!(plan.ok().stdout.contains("- pii.cedar"), "{plan:#?}");
}
