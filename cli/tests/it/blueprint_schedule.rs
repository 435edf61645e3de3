//! `serve --blueprints DIR --blueprints-as ID` (DESIGN §7): blueprints run
//! on their cron schedules, a schedule that falls due while the previous
//! run still runs is recorded as SKIPPED, and a bad file stops the server.
//!
//! Cron's finest unit is the minute, so the first test waits for real
//! minute boundaries (up to about two and a half minutes).

use std::time::{Duration, Instant};

use crate::harness::*;

fn write_source(dir: &std::path::Path) -> String {
    let db = dir.join("s.db");
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute_batch("CREATE TABLE t (id INTEGER); INSERT INTO t VALUES (1), (2);")
        .unwrap();
    db.to_str().unwrap().to_string()
}

#[test]
fn a_schedule_runs_the_blueprint_and_skips_while_it_still_runs() {
    let dir = tempfile::tempdir().unwrap();
    let bps = dir.path().join("bps");
    std::fs::create_dir_all(&bps).unwrap();
    let lake = dir.path().join("lake");
    std::fs::create_dir_all(&lake).unwrap();
    let db = write_source(&lake);
    std::fs::write(
        bps.join("every_minute.toml"),
        format!(
            "name = \"tick\"\nkind = \"snapshot\"\n[source]\nurl = \"sqlite://{db}\"\n\
             [target]\ndatabase = \"sched\"\nlocation = \"file://{}/\"\n\
             [run]\nschedule = \"* * * * *\"\n",
            lake.display()
        ),
    )
    .unwrap();
    // Each commit takes 70 s, so the run of one minute still runs at the next.
    let s = Server::start_env(
        &[
            "--blueprints",
            bps.to_str().unwrap(),
            "--blueprints-as",
            ADMIN,
        ],
        &[("LAKEGATE_FAULT_COMMIT_DELAY_MS", "70000")],
    );
    s.admin(&[
        "location",
        "register",
        &format!("file://{}/", lake.display()),
    ])
    .ok();
    let list = s.admin(&["blueprint", "list", "--json"]).json();
    assert_eq!(list[0]["name"], "tick");
    assert_eq!(list[0]["schedule"], "* * * * *");
    assert!(!list[0]["next_run"].as_str().unwrap().is_empty(), "{list}");

    let deadline = Instant::now() + Duration::from_secs(200);
    loop {
        let runs = s.admin(&["blueprint", "runs", "tick", "--json"]).json();
        let states: Vec<(String, String)> = runs
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["state"].as_str().unwrap().to_string(),
                    r["trigger"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let has = |st: &str| states.iter().any(|(s, t)| s == st && t == "schedule");
        if has("SKIPPED") && has("SUCCEEDED") {
            let skipped = runs
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["state"] == "SKIPPED")
                .unwrap();
            assert!(
                skipped["error"].as_str().unwrap().contains("still ran"),
                "{skipped}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no scheduled run and skip: {runs}"
        );
        std::thread::sleep(Duration::from_secs(2));
    }
    let rows = s.admin(&["query", "--json", "SELECT count(*) AS n FROM sched.t"]);
    rows.ok();
    assert_eq!(rows.json()[0]["n"], 2);
}

#[test]
fn a_bad_blueprint_in_the_folder_stops_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let bps = dir.path().join("bps");
    std::fs::create_dir_all(&bps).unwrap();
    std::fs::write(
        bps.join("bad.toml"),
        "name = \"bad\"\nkind = \"snapshot\"\n[source]\nurl = \"sqlite:///x.db\"\n\
         [target]\ndatabase = \"d\"\nlocation = \"file:///l/\"\n[run]\nschedule = \"61 * * * *\"\n",
    )
    .unwrap();
    let data = dir.path().join("data");
    let err = spawn_serve(
        &data,
        &dir.path().join("log"),
        &[
            "--blueprints",
            bps.to_str().unwrap(),
            "--blueprints-as",
            ADMIN,
        ],
    )
    .expect_err("the server must not start");
    assert!(err.contains("bad.toml:9"), "{err}");
}
