//! Crash tests (issue 14): `kill -9` of a real `lakegate serve` during a
//! grant, a revoke and a policy apply, at many points, leaves every change
//! whole or absent, and the server starts again with no repair.
//!
//! The server runs with `LAKEGATE_FAULT_STORE_COMMIT_DELAY_MS`, so each
//! commit waits inside its store transaction (after its writes, before
//! `COMMIT`); kills land before the command reaches the server, inside
//! that window, and after the commit.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{ACCOUNT, BIN, Server, grant_orders_args};

/// How long a commit waits inside its transaction.
const DELAY_MS: &str = "300";
/// When, after the command starts, the server is killed.
const KILL_AT_MS: [u64; 10] = [0, 150, 300, 450, 600, 750, 900, 1050, 1300, 1600];

/// Starts `lakegate ARGS` against `s` and kills the server `after` later;
/// restarts the server and returns once the command has ended.
fn kill_during(s: &mut Server, args: &[&str], after: Duration) {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("RUST_LOG")
        .env("LAKEGATE_ENDPOINT", &s.endpoint)
        .env("LAKEGATE_TOKEN", &s.admin_token)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().expect("run lakegate");
    std::thread::sleep(after);
    // SIGKILL, as `kill -9`, then a plain start on the same data directory.
    s.restart();
    let until = Instant::now() + Duration::from_secs(30);
    while child.try_wait().expect("wait for the command").is_none() {
        assert!(Instant::now() < until, "the command hung after the kill");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The columns of `principal`'s grants on `sales.orders`, sorted; `None`
/// when it has none.
fn columns_of(s: &Server, principal: &str) -> Option<Vec<String>> {
    let out = s.admin(&["permissions", "list", "--principal", principal, "--json"]);
    out.ok();
    let entries = out.json();
    let entries = entries.as_array().expect("a list");
    if entries.is_empty() {
        return None;
    }
    assert_eq!(entries.len(), 1, "one grant, whole: {entries:?}");
    let mut cols: Vec<String> = entries[0]["resource_detail"]["table"]["columns"]
        .as_array()
        .unwrap_or_else(|| panic!("columns: {entries:?}"))
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    cols.sort();
    Some(cols)
}

/// Whether the plan of `dir` against the server changes nothing.
fn plan_is_empty(s: &Server, dir: &std::path::Path) -> bool {
    let out = s.admin(&["policy", "plan", dir.to_str().unwrap(), "--json"]);
    out.ok();
    let plan = out.json();
    plan["changes"].as_array().is_some_and(Vec::is_empty)
}

#[test]
fn kill_9_during_grant_revoke_and_apply_leaves_each_change_whole_or_absent() {
    let mut s = Server::start_env(&[], &[("LAKEGATE_FAULT_STORE_COMMIT_DELAY_MS", DELAY_MS)]);
    s.setup_sales();
    let mut seen = std::collections::BTreeMap::<(&str, &str), usize>::new();

    // A grant of two columns: both or neither.
    for (i, at) in KILL_AT_MS.iter().enumerate() {
        let p = format!("{ACCOUNT}:user/g{i}");
        let args = grant_orders_args(&p, "id,amount");
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        kill_during(&mut s, &args, Duration::from_millis(*at));
        let outcome = match columns_of(&s, &p) {
            None => "absent",
            Some(c) if c == ["amount", "id"] => "whole",
            Some(c) => panic!("grant to {p} killed at {at} ms is partial: {c:?}"),
        };
        *seen.entry(("grant", outcome)).or_default() += 1;
    }

    // A revoke of one of two granted columns: before or after, never between.
    for (i, at) in KILL_AT_MS.iter().enumerate() {
        let p = format!("{ACCOUNT}:user/r{i}");
        s.grant_orders(&p, "id,amount").ok();
        kill_during(
            &mut s,
            &[
                "revoke",
                "--principal",
                &p,
                "--permissions",
                "SELECT",
                "--table",
                "sales.orders",
                "--columns",
                "amount",
            ],
            Duration::from_millis(*at),
        );
        let outcome = match columns_of(&s, &p) {
            Some(c) if c == ["amount", "id"] => "absent",
            Some(c) if c == ["id"] => "whole",
            other => panic!("revoke from {p} killed at {at} ms left {other:?}"),
        };
        *seen.entry(("revoke", outcome)).or_default() += 1;
    }

    // A policy apply of thirty grants, a filter and a Cedar policy: all of
    // it or none of it.
    let tmp = tempfile::tempdir().unwrap();
    let before = tmp.path().join("before");
    let after = tmp.path().join("after");
    s.admin(&["policy", "export", before.to_str().unwrap()])
        .ok();
    s.admin(&["policy", "export", after.to_str().unwrap()]).ok();
    let mut yaml = String::from(
        "filters:\n  - name: sales.orders.eu\n    row_filter: region = 'EU'\n    columns: [id, amount]\ngrants:\n",
    );
    for i in 0..30 {
        yaml.push_str(&format!(
            "  - principal: {ACCOUNT}:user/a{i}\n    permissions: [SELECT]\n    table: sales.orders\n    columns: [id]\n"
        ));
    }
    std::fs::write(after.join("grants").join("crash.yaml"), yaml).unwrap();
    std::fs::write(
        after.join("crash.cedar"),
        "forbid (principal == Lakegate::User::\"111111111111:user/a0\", action == Lakegate::Action::\"SELECT\", resource is Lakegate::Column);\n",
    )
    .unwrap();
    assert!(!plan_is_empty(&s, &after), "the plan must change something");
    for at in KILL_AT_MS {
        kill_during(
            &mut s,
            &["policy", "apply", after.to_str().unwrap()],
            Duration::from_millis(at),
        );
        let applied = plan_is_empty(&s, &after);
        let untouched = plan_is_empty(&s, &before);
        assert!(
            applied != untouched,
            "apply killed at {at} ms: applied={applied} untouched={untouched}"
        );
        let outcome = if applied { "whole" } else { "absent" };
        *seen.entry(("apply", outcome)).or_default() += 1;
        if applied {
            s.admin(&["policy", "apply", before.to_str().unwrap()]).ok();
            assert!(plan_is_empty(&s, &before));
        }
    }
    eprintln!("kill outcomes: {seen:?}");
    // The kills landed on both sides of the commit for every command.
    for op in ["grant", "revoke", "apply"] {
        for outcome in ["whole", "absent"] {
            assert!(
                seen.contains_key(&(op, outcome)),
                "no {op} ended {outcome}: {seen:?}"
            );
        }
    }
}
