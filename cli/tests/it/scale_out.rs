//! Two `lakegate serve` processes on one PostgreSQL store (a real server),
//! driven through the CLI as users run them: a grant or revoke through one
//! node holds on the other at the next statement, `lakegate token --store`
//! mints tokens every node accepts, and concurrent admin commands through
//! both nodes lose no update.

use crate::harness::*;
use test_kit::PgServer;

const ALICE: &str = "111111111111:user/alice";
const SQL: &str = "SELECT id FROM sales.orders ORDER BY id";

#[test]
fn two_serve_processes_on_one_postgres_store_act_as_one_service() {
    let pg = PgServer::start();
    pg.create_user_db("lake", "pw", "lake");
    let url = format!(
        "postgres://lake:pw@127.0.0.1:{}/lake?sslmode=disable",
        pg.port
    );
    let a = Server::start_with(&["--store", &url]);
    let b = Server::start_with(&["--store", &url]);
    assert!(
        !a.data_dir.join("signing.key").exists(),
        "the key must come from the store, not a file"
    );
    a.setup_sales();
    let alice = b.token(ALICE, &[]);
    b.cli(&alice, &["query", SQL]).fails(1, "sales.orders");

    a.admin(&[
        "grant",
        "--principal",
        ALICE,
        "--permissions",
        "SELECT",
        "--table",
        "sales.orders",
    ])
    .ok();
    let rows = b.query_json(&alice, SQL);
    assert_eq!(rows.to_string(), r#"[{"id":1},{"id":2},{"id":3},{"id":4}]"#);

    // Admin commands through both nodes at once: every one lands.
    let workers: Vec<_> = [&a, &b]
        .iter()
        .enumerate()
        .flat_map(|(n, node)| {
            (0..2).map(move |t| {
                let (endpoint, token) = (node.endpoint.clone(), node.admin_token.clone());
                std::thread::spawn(move || {
                    for i in 0..5 {
                        let who = format!("111111111111:user/n{n}t{t}u{i}");
                        run_cli(
                            Some(&endpoint),
                            Some(&token),
                            &[
                                "grant",
                                "--principal",
                                &who,
                                "--permissions",
                                "DESCRIBE",
                                "--database",
                                "sales",
                            ],
                        )
                        .ok();
                    }
                })
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    for node in [&a, &b] {
        let list = node.admin(&["permissions", "list", "--json"]);
        list.ok();
        let list = list.json();
        for (n, t, i) in
            (0..2).flat_map(|n| (0..2).flat_map(move |t| (0..5).map(move |i| (n, t, i))))
        {
            let who = format!("111111111111:user/n{n}t{t}u{i}");
            assert!(
                !entries_of(&list, &who).is_empty(),
                "the grant to {who} was lost"
            );
        }
    }

    a.admin(&[
        "revoke",
        "--principal",
        ALICE,
        "--permissions",
        "SELECT",
        "--table",
        "sales.orders",
    ])
    .ok();
    b.cli(&alice, &["query", SQL]).fails(1, "sales.orders");
}
