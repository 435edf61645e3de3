//! `lakegate serve` limit flags end to end: token lifetime, statement
//! memory and statement timeout, each followed by a normal query to show
//! the server lives on.

use crate::harness::{ADMIN, run_cli, spawn_serve};

#[test]
fn serve_limit_flags_token_nbf_and_lifetime_statement_memory_limit_and_statement_timeout() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let (mut child, _out, addr) = spawn_serve(
        &data_dir,
        &tmp.path().join("log"),
        &[
            "--max-token-lifetime",
            "1h",
            "--statement-timeout",
            "1s",
            "--max-statement-memory",
            "8MiB",
            "--max-total-memory",
            "64MiB",
            "--max-plan-cache-bytes",
            "1MiB",
            "--max-plan-cache-bytes-per-principal",
            "128KiB",
        ],
    )
    .expect("serve");
    let endpoint = format!("http://{addr}");
    let dir = data_dir.to_str().unwrap();
    let token = |ttl: &str| {
        let out = run_cli(
            None,
            None,
            &[
                "token",
                "--data-dir",
                dir,
                "--principal",
                ADMIN,
                "--ttl",
                ttl,
            ],
        );
        out.ok();
        out.stdout.trim().to_string()
    };
    let long = token("7200");
    let ok = token("600");
    let q = |t: &str, sql: &str| run_cli(Some(&endpoint), Some(t), &["query", sql]);
    q(&long, "SELECT 1").fails(3, "--max-token-lifetime");
    q(&ok, "SELECT length(repeat('x', 100000000)) AS n").fails(1, "--max-statement-memory");
    q(&ok, "SELECT 1 AS one").ok();
    let ten = "(VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9))";
    let endless = format!(
        "SELECT sum(t0.column1 * t9.column1) AS s FROM {}",
        (0..10)
            .map(|i| format!("{ten} AS t{i}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    q(&ok, &endless).fails(1, "--statement-timeout");
    let out = q(&ok, "SELECT 41 + 1 AS answer");
    out.ok();
    assert!(out.stdout.contains("42"), "{out:#?}");
    // A bad limit is a usage error that says what to write.
    let bad = run_cli(None, None, &["serve", "--statement-timeout", "soon"]);
    assert_eq!(bad.code, 2, "{bad:#?}");
    assert!(bad.stderr.contains("30s"), "{bad:#?}");
    let _ = child.kill();
    let _ = child.wait();
}
