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

/// The next steps `serve --demo` prints work when pasted into a shell as
/// they are (the binary is not on the PATH, and the Python line reads the
/// exported token).
#[test]
fn demo_next_steps_work_when_pasted() {
    use std::io::{BufRead, Read};
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let log = tmp.path().join("server.log");
    let (child, mut stdout, _addr) =
        crate::harness::spawn_serve(&data_dir, &log, &["--demo"]).unwrap();
    let _guard = crate::harness::Engine::from_child(child);
    let mut steps = String::new();
    loop {
        let mut line = String::new();
        if stdout.read_line(&mut line).unwrap() == 0 {
            break;
        }
        steps.push_str(&line);
        if line.contains("fetch_arrow_table") {
            break;
        }
    }
    let mut script = String::new();
    for line in steps.lines().filter(|l| l.starts_with("  ")) {
        let line = line.trim_start();
        match line.strip_prefix("python3 ") {
            Some(rest) => {
                if let Ok(py) = std::env::var("LAKEGATE_PYTHON") {
                    script.push_str(&format!("{py} {rest}\n"));
                }
            }
            None => script.push_str(&format!("{line}\n")),
        }
    }
    assert!(script.contains("export ALICE="), "{steps}");
    let mut out = String::new();
    let mut sh = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!("exec 2>&1\n{script}"))
        .env_remove("LAKEGATE_ENDPOINT")
        .env_remove("LAKEGATE_TOKEN")
        .current_dir(tmp.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    sh.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    sh.wait().unwrap();
    for bad in ["command not found", "KeyError", "No such file", "Traceback"] {
        assert!(!out.contains(bad), "{bad}:\n{script}\n{out}");
    }
    assert!(out.matches("(5 rows)").count() >= 2, "{script}\n{out}");
    assert!(out.contains("not found"), "{out}");
    if std::env::var("LAKEGATE_PYTHON").is_ok() {
        assert!(out.contains("pyarrow.Table"), "{out}");
    }
}
