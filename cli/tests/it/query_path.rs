//! The query path as a user meets it through the `lakegate` binary (issue 9):
//! `lakegate engine` takes the names the proxy takes, and `lakegate query`
//! prints NULL so that it cannot be mistaken for an empty string.

use crate::harness::{Server, run_cli, spawn_engine};

#[test]
fn engine_accepts_db_table_for_its_account_as_the_proxy_does() {
    let s = Server::start();
    s.setup_sales();
    let (_engine, up) = spawn_engine(&s.data_dir);
    let engine = format!("http://{up}");
    let t = s.token(crate::harness::ADMIN, &[]);
    for endpoint in [&s.endpoint, &engine] {
        for sql in [
            "SELECT count(*) AS n FROM sales.orders",
            "SELECT count(*) AS n FROM \"111111111111\".sales.orders",
        ] {
            let out = run_cli(Some(endpoint), Some(&t), &["query", "--json", sql]);
            out.ok();
            assert_eq!(out.json()[0]["n"], 4, "{endpoint}: {sql}");
        }
    }
    // An unknown table names the forms that work.
    let out = run_cli(
        Some(&engine),
        Some(&t),
        &["query", "SELECT * FROM sales.nope"],
    );
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("DB.TABLE"), "{}", out.stderr);
}

#[test]
fn query_prints_null_as_null() {
    let s = Server::start();
    let t = s.token(crate::harness::ADMIN, &[]);
    let out = s.cli(
        &t,
        &[
            "query",
            "SELECT CAST(NULL AS VARCHAR) AS a, '' AS b, 'x' AS c",
        ],
    );
    out.ok();
    let row = out
        .stdout
        .lines()
        .find(|l| l.contains('x'))
        .unwrap_or_else(|| panic!("{}", out.stdout));
    let cells: Vec<&str> = row.split('|').map(str::trim).collect();
    assert_eq!(cells, ["", "NULL", "", "x", ""], "{row}");
}
