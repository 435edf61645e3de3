//! The leak classes of the red-team pass (issue 8) through the `lakegate`
//! binary, on an embedded server and on a sidecar (`lakegate engine` plus
//! `lakegate serve --upstream`) sharing its data directory.

use std::process::Child;

use crate::harness::{Engine, Server, run_cli, spawn_engine, spawn_serve};

const BOB: &str = "111111111111:user/bob";

/// The embedded server with bob's filters, a sidecar's endpoint, and the
/// processes behind it.
fn deployments() -> (Server, String, Engine, Child) {
    let s = Server::start();
    s.setup_sales();
    for (name, rows, cols) in [
        ("eu", "region = 'EU'", "id,amount,region"),
        (
            "mine",
            "region = ${principal.attrs.region}",
            "id,amount,region",
        ),
        (
            "above",
            "id > ${principal.attrs.min} AND region = 'EU'",
            "id,region",
        ),
    ] {
        let full = format!("sales.orders.{name}");
        s.admin(&[
            "data-filter",
            "create",
            &full,
            "--row-filter",
            rows,
            "--columns",
            cols,
        ])
        .ok();
        s.admin(&[
            "grant",
            "--principal",
            BOB,
            "--permissions",
            "SELECT",
            "--data-filter",
            &full,
        ])
        .ok();
    }
    let (engine, up) = spawn_engine(&s.data_dir);
    let log = s.data_dir.with_file_name("sidecar.log");
    let upstream = format!("grpc://{up}");
    let (side, _out, addr) = spawn_serve(&s.data_dir, &log, &["--upstream", &upstream]).unwrap();
    (s, format!("http://{addr}"), engine, side)
}

fn token(s: &Server, attrs: &[(&str, &str)]) -> String {
    let dir = s.data_dir.to_str().unwrap().to_string();
    let mut args = vec!["token", "--data-dir", &dir, "--principal", BOB];
    let pairs: Vec<String> = attrs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    for p in &pairs {
        args.push("--attr");
        args.push(p);
    }
    let out = run_cli(None, None, &args);
    out.ok();
    out.stdout.trim().to_string()
}

fn ids(endpoint: &str, token: &str, sql: &str) -> Result<Vec<i64>, String> {
    let out = run_cli(Some(endpoint), Some(token), &["query", "--json", sql]);
    if out.code != 0 {
        return Err(out.stderr);
    }
    let v = out.json();
    Ok(v.as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect())
}

#[test]
fn leak_classes_are_closed_through_the_cli_on_both_deployments() {
    let (s, sidecar, _engine, mut side) = deployments();
    for endpoint in [s.endpoint.clone(), sidecar.clone()] {
        // attributes_are_literals: a spliced value would match every row.
        for evil in ["x\\' OR 1=1 --", "x' OR 1=1 --", "EU' OR region <> '"] {
            let t = token(&s, &[("region", evil), ("min", "5")]);
            let got = ids(
                &endpoint,
                &t,
                "SELECT id FROM sales.orders WHERE region <> 'EU' ORDER BY id",
            );
            assert_eq!(got, Ok(vec![]), "{endpoint} region={evil}");
        }
        for evil in ["inf", "NaN", "infinity", "1e999"] {
            let t = token(&s, &[("min", evil)]);
            let out = run_cli(
                Some(&endpoint),
                Some(&t),
                &[
                    "query",
                    "--json",
                    "SELECT id, region FROM sales.orders WHERE region = 'US'",
                ],
            );
            out.ok();
            assert!(
                !out.stdout.contains("US"),
                "{endpoint} min={evil}: {out:#?}"
            );
        }

        // reserialisation: the smuggled UNION must not run.
        let t = token(&s, &[]);
        let out = run_cli(
            Some(&endpoint),
            Some(&t),
            &[
                "query",
                "--json",
                "SELECT region FROM sales.orders WHERE region = 'x\\'' UNION ALL \
                 SELECT ssn FROM \"111111111111\".sales.orders --'",
            ],
        );
        assert!(
            !out.stdout.contains("-45-") && !out.stdout.contains("-65-"),
            "{endpoint}: {out:#?}"
        );

        // hidden_rows_never_influence_errors: division by zero on US rows.
        let got = ids(
            &endpoint,
            &t,
            "SELECT id FROM sales.orders WHERE 1/(CASE WHEN region = 'US' THEN 0 ELSE 1 END) = 1 \
             ORDER BY id",
        );
        assert_eq!(got, Ok(vec![1, 2]), "{endpoint}");
        let got = ids(
            &endpoint,
            &t,
            "SELECT id FROM sales.orders WHERE 1/(CASE WHEN id = 4 THEN 0 ELSE 1 END) = 1 \
             ORDER BY id",
        );
        assert_eq!(got, Ok(vec![1, 2]), "{endpoint}");
    }
    let _ = side.kill();
    let _ = side.wait();
}
