//! All or nothing (DESIGN §7, MUST): a blueprint run killed with SIGKILL at
//! any moment leaves every table and bookmark as it was, and the next run
//! loads exactly what was not committed.
//!
//! The server runs the blueprint, so killing the server kills the run. We
//! kill it at a spread of moments after the run reports it is reading and
//! after it reports it is writing, restart it on the same data directory,
//! and check after every kill that the table holds either the rows of the
//! last committed run or the rows of the killed one, never a part and never
//! a duplicate. Which state each kill left (nothing new, data files without
//! a commit, a commit) is printed; the test fails if no kill landed between
//! the data files and the commit, since that is the moment that matters.
//! The server is started with `LAKEGATE_FAULT_COMMIT_DELAY_MS` so that the
//! window between the two is wide enough to hit (blueprints/src/fault.rs).

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::harness::*;

const ROWS: i64 = 150_000;

fn fill(db: &Path, from: i64, to: i64) {
    let c = rusqlite::Connection::open(db).unwrap();
    c.execute_batch(&format!(
        "CREATE TABLE IF NOT EXISTS events (id INTEGER, at DATETIME, note TEXT);
         WITH RECURSIVE n(x) AS (SELECT {from} UNION ALL SELECT x + 1 FROM n WHERE x < {to})
         INSERT INTO events SELECT x, '2024-01-01 00:00:00', 'event number ' || x FROM n;"
    ))
    .unwrap();
}

/// `(rows, distinct ids)` of the table, or `None` if it is not registered.
fn counts(s: &Server) -> Option<(i64, i64)> {
    let out = s.admin(&[
        "query",
        "--json",
        "SELECT count(*) AS n, count(DISTINCT id) AS d FROM lake.ev_events",
    ]);
    if out.code != 0 {
        assert!(
            out.stderr.contains("not found") || out.stderr.contains("ev_events"),
            "{out:#?}"
        );
        return None;
    }
    let v = out.json();
    Some((v[0]["n"].as_i64().unwrap(), v[0]["d"].as_i64().unwrap()))
}

/// Parquet files under the table folder and the number of commits.
fn files_and_commits(table: &Path) -> (usize, usize) {
    let count = |dir: &Path, ext: &str| {
        std::fs::read_dir(dir)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter(|e| e.file_name().to_string_lossy().ends_with(ext))
                    .count()
            })
            .unwrap_or(0)
    };
    (
        count(table, ".parquet"),
        count(&table.join("_delta_log"), ".json"),
    )
}

/// Starts `blueprint run FILE`, waits for a progress line of `phase`, then
/// sleeps `delay` and kills the server. Returns whether the phase was seen.
fn kill_during(s: &mut Server, file: &str, phase: &str, delay: Duration) -> bool {
    let mut child = Command::new(BIN)
        .args(["blueprint", "run", file])
        .env("LAKEGATE_ENDPOINT", &s.endpoint)
        .env("LAKEGATE_TOKEN", &s.admin_token)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = false;
    for line in stderr.lines() {
        let Ok(line) = line else { break };
        if line.starts_with(phase) {
            seen = true;
            break;
        }
    }
    std::thread::sleep(delay);
    s.restart();
    let _ = child.kill();
    let _ = child.wait();
    seen
}

#[test]
fn a_run_killed_at_any_moment_commits_all_of_a_table_or_nothing() {
    // Every commit waits 1 s between its data files and its commit file, so
    // kills shortly after `write` land in that window.
    let mut s = Server::start_env(&[], &[("LAKEGATE_FAULT_COMMIT_DELAY_MS", "1000")]);
    s.admin(&["location", "register", &s.uri("")]).ok();
    let db = s.lake.join("src/events.db");
    std::fs::create_dir_all(s.lake.join("src")).unwrap();
    fill(&db, 1, ROWS);
    let file = s.lake.parent().unwrap().join("ev.toml");
    std::fs::write(
        &file,
        format!(
            "name = \"ev\"\nkind = \"incremental\"\n[source]\nurl = \"sqlite://{}\"\n\
             [source.bookmark]\nkeys = [\"id\"]\n[target]\ndatabase = \"lake\"\n\
             location = \"{}\"\ntable_prefix = \"ev_\"\n",
            db.display(),
            s.uri("ev")
        ),
    )
    .unwrap();
    let file = file.to_str().unwrap().to_string();
    let table = s.lake.join("ev/ev_events");

    // A second run of a blueprint that is running is refused with the
    // running one's id, and recorded as FAILED; the first goes on.
    let mut first = Command::new(BIN)
        .args(["blueprint", "run", &file])
        .env("LAKEGATE_ENDPOINT", &s.endpoint)
        .env("LAKEGATE_TOKEN", &s.admin_token)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(first.stderr.take().unwrap()).lines();
    while let Some(Ok(line)) = lines.next() {
        if line.starts_with("write") {
            break;
        }
    }
    s.admin(&["blueprint", "run", &file])
        .fails(1, "is already running as run");
    assert!(first.wait().unwrap().success());
    let runs = s.admin(&["blueprint", "runs", "ev", "--json"]).json();
    let states: Vec<&str> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["FAILED", "SUCCEEDED"], "{runs}");
    assert_eq!(counts(&s), Some((ROWS, ROWS)));

    let mut committed: i64 = ROWS;
    let mut source: i64 = ROWS;
    let mut landed = std::collections::BTreeMap::<&str, usize>::new();
    let plan: Vec<(&str, u64)> = [0u64, 50, 300]
        .iter()
        .map(|d| ("read", *d))
        .chain(
            [0u64, 20, 120, 500, 900, 1500, 2500]
                .iter()
                .map(|d| ("write", *d)),
        )
        .collect();
    for (round, (phase, delay)) in plan.into_iter().enumerate() {
        let before = files_and_commits(&table);
        kill_during(&mut s, &file, phase, Duration::from_millis(delay));
        let after = files_and_commits(&table);
        let state = if after.1 > before.1 {
            "committed"
        } else if after.0 > before.0 {
            "files without a commit"
        } else {
            "nothing new"
        };
        *landed.entry(state).or_default() += 1;
        eprintln!("kill {round} ({phase} + {delay} ms): {state}");

        // Either the old rows or all of the killed run's rows; never a part,
        // never a duplicate. (A run killed after its commit but before the
        // catalog heard of the table leaves it unregistered until the next run.)
        if let Some((n, d)) = counts(&s) {
            assert_eq!(n, d, "duplicates after kill {round}");
            assert!(
                n == committed || n == source,
                "kill {round}: {n} rows, expected {committed} or {source}"
            );
            committed = n;
        } else if after.1 > 0 {
            committed = source;
        }
        // The killed run is closed as FAILED (unless it finished first).
        let runs = s.admin(&["blueprint", "runs", "ev", "--json"]).json();
        let last = &runs[0];
        assert!(
            last["state"] == "SUCCEEDED"
                || (last["state"] == "FAILED"
                    && last["error"].as_str().unwrap().contains("server stopped")),
            "{last}"
        );

        // Every other round: add rows, so the next kill hits an incremental load.
        if round % 2 == 1 {
            s.admin(&["blueprint", "run", &file]).ok();
            assert_eq!(counts(&s), Some((source, source)));
            committed = source;
            fill(&db, source + 1, source + 20_000);
            source += 20_000;
        }
    }
    // The next run loads exactly what was not committed.
    s.admin(&["blueprint", "run", &file]).ok();
    assert_eq!(counts(&s), Some((source, source)));
    eprintln!("kill outcomes: {landed:?}");
    for state in ["nothing new", "files without a commit", "committed"] {
        assert!(
            landed.contains_key(state),
            "no kill left `{state}`: {landed:?}"
        );
    }
}
