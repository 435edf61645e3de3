//! Authentication through the CLI: bad tokens are exit 3 and say how to get
//! a good one.

use std::time::Duration;

use crate::harness::*;

#[test]
fn bad_tokens_are_refused() {
    let s = Server::start();
    s.admin(&["database", "create", "sales"]).ok();

    // No token.
    run_cli(Some(&s.endpoint), None, &["database", "list"]).fails(3, "lakegate token");
    // Garbage.
    s.cli("not-a-token", &["database", "list"])
        .fails(3, "lakegate token");
    // A token from another data directory's key.
    let other = Server::start();
    s.cli(&other.admin_token, &["database", "list"])
        .fails(3, "signature");
    // A tampered token: the admin's signature on a different payload.
    let mut parts: Vec<&str> = s.admin_token.split('.').collect();
    let alice = s.token("111111111111:user/alice", &[]);
    let alice_payload = alice.split('.').nth(1).unwrap().to_string();
    parts[1] = &alice_payload;
    s.cli(&parts.join("."), &["database", "list"])
        .fails(3, "signature");
    // Expired.
    let short = run_cli(
        None,
        None,
        &[
            "token",
            "--data-dir",
            s.data_dir.to_str().unwrap(),
            "--principal",
            ADMIN,
            "--ttl",
            "1",
        ],
    );
    short.ok();
    std::thread::sleep(Duration::from_millis(2100));
    s.cli(short.stdout.trim(), &["database", "list"])
        .fails(3, "expired");
    // Via --token too (flag after the subcommand).
    run_cli(
        Some(&s.endpoint),
        None,
        &["database", "list", "--token", "x.y.z"],
    )
    .fails(3, "malformed");
}

#[test]
fn token_minting_checks_its_input() {
    let s = Server::start();
    let dir = s.data_dir.to_str().unwrap();
    // Groups cannot authenticate.
    run_cli(
        None,
        None,
        &[
            "token",
            "--data-dir",
            dir,
            "--principal",
            "111111111111:group/admins",
        ],
    )
    .fails(1, "not a user or role");
    // Groups must be in the principal's account.
    run_cli(
        None,
        None,
        &[
            "token",
            "--data-dir",
            dir,
            "--principal",
            "111111111111:user/alice",
            "--group",
            "222222222222:group/x",
        ],
    )
    .fails(2, "is not a group of account `111111111111`");
    // A bare group name is in the principal's account.
    let t = run_cli(
        None,
        None,
        &[
            "token",
            "--data-dir",
            dir,
            "--principal",
            "111111111111:user/alice",
            "--group",
            "analysts",
            "--attr",
            "region=EU",
        ],
    );
    t.ok();
    let who = s.cli(t.stdout.trim(), &["whoami", "--json"]);
    who.ok();
    let w = who.json();
    assert_eq!(w["groups"][0], "111111111111:group/analysts");
    assert_eq!(w["attrs"]["region"], "EU");
    assert_eq!(w["is_admin"], false);
    // No key in the directory.
    let empty = tempfile::tempdir().unwrap();
    run_cli(
        None,
        None,
        &[
            "token",
            "--data-dir",
            empty.path().to_str().unwrap(),
            "--principal",
            ADMIN,
        ],
    )
    .fails(1, "lakegate serve --data-dir");
    // Malformed principal is a usage error.
    run_cli(
        None,
        None,
        &["token", "--data-dir", dir, "--principal", "alice"],
    )
    .fails(2, "is not a principal");
}
