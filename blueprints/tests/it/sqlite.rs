//! SQLite sources: types, snapshot, incremental with a compound bookmark.

use blueprints::Blueprint;
use blueprints::run::{FailKind, run_database};

use super::{FakeGov, read_delta};

fn blueprint(kind: &str, db: &std::path::Path, lake: &std::path::Path, extra: &str) -> Blueprint {
    let text = format!(
        r#"
name = "shop"
kind = "{kind}"
[source]
url = "sqlite://{}"
include = ["orders"]
{extra}
[target]
database = "shop"
location = "file://{}/"
table_prefix = "s_"
"#,
        db.display(),
        lake.display()
    );
    Blueprint::parse(&text, "shop.toml").unwrap()
}

fn source(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("shop.db");
    let c = rusqlite::Connection::open(&path).unwrap();
    c.execute_batch(
        "CREATE TABLE orders (id INTEGER, updated_at DATETIME, amount DECIMAL(10,2),
                              note TEXT, paid BOOLEAN, day DATE, raw BLOB);
         INSERT INTO orders VALUES
           (1, '2024-01-01 10:00:00', '12.50', 'first', 1, '2024-01-01', x'00ff'),
           (2, '2024-01-01 10:00:00', 7, NULL, 0, '2024-01-02', NULL),
           (3, '2024-01-02 09:30:00.250', NULL, 'x', NULL, NULL, x'');",
    )
    .unwrap();
    path
}

#[tokio::test]
async fn snapshot_maps_every_type_and_replaces_the_contents() {
    let dir = tempfile::tempdir().unwrap();
    let db = source(dir.path());
    let lake = dir.path().join("lake");
    std::fs::create_dir_all(&lake).unwrap();
    let bp = blueprint("snapshot", &db, &lake, "");
    let gov = FakeGov::default();
    let out = run_database(&bp, "r1", None, &gov, &|_| {}).await.unwrap();
    assert_eq!(out.rows_read, 3);
    assert_eq!(out.rows_written, 3);
    let loc = format!("file://{}/s_orders/", lake.display());
    let got = read_delta(&loc, "id").await;
    let want = "\
+----+-------------------------+--------+-------+-------+------------+------+
| id | updated_at              | amount | note  | paid  | day        | raw  |
+----+-------------------------+--------+-------+-------+------------+------+
| 1  | 2024-01-01T10:00:00     | 12.50  | first | true  | 2024-01-01 | 00ff |
| 2  | 2024-01-01T10:00:00     | 7.00   |       | false | 2024-01-02 |      |
| 3  | 2024-01-02T09:30:00.250 |        | x     |       |            |      |
+----+-------------------------+--------+-------+-------+------------+------+";
    assert_eq!(got, want);
    let reg = gov.registered.lock().unwrap().clone();
    assert_eq!(reg.len(), 1);
    assert_eq!(reg[0].0, "s_orders");
    assert!(reg[0].1.ends_with("/lake/s_orders/"), "{}", reg[0].1);

    // A second snapshot replaces the contents.
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute_batch("DELETE FROM orders WHERE id < 3").unwrap();
    run_database(&bp, "r2", None, &gov, &|_| {}).await.unwrap();
    let got = read_delta(&loc, "id").await;
    assert_eq!(got.lines().count(), 5, "{got}");
}

#[tokio::test]
async fn incremental_loads_beyond_a_compound_bookmark_without_losing_ties() {
    let dir = tempfile::tempdir().unwrap();
    let db = source(dir.path());
    let lake = dir.path().join("lake");
    std::fs::create_dir_all(&lake).unwrap();
    let bp = blueprint(
        "incremental",
        &db,
        &lake,
        "[source.bookmark]\nkeys = [\"updated_at\", \"id\"]\n",
    );
    let gov = FakeGov::default();
    let loc = format!("file://{}/s_orders/", lake.display());
    let out = run_database(&bp, "r1", None, &gov, &|_| {}).await.unwrap();
    assert_eq!(out.rows_written, 3);
    // Nothing new: no commit.
    let out = run_database(&bp, "r2", None, &gov, &|_| {}).await.unwrap();
    assert_eq!(out.rows_written, 0);
    // A tie on the first key with a larger id, and a later row.
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute_batch(
        "INSERT INTO orders (id, updated_at) VALUES
           (4, '2024-01-02 09:30:00.250'),
           (5, '2024-02-01 00:00:00');",
    )
    .unwrap();
    let out = run_database(&bp, "r3", None, &gov, &|_| {}).await.unwrap();
    assert_eq!(out.rows_written, 2);
    let got = read_delta(&loc, "id").await;
    let ids: Vec<&str> = got
        .lines()
        .skip(3)
        .filter_map(|l| l.split('|').nth(1))
        .map(str::trim)
        .collect();
    assert_eq!(ids, ["1", "2", "3", "4", "5"], "{got}");

    // A NULL key fails the run and commits nothing.
    c.execute_batch("INSERT INTO orders (id, updated_at) VALUES (6, NULL)")
        .unwrap();
    let err = run_database(&bp, "r4", None, &gov, &|_| {})
        .await
        .unwrap_err();
    assert_eq!(err.kind, FailKind::Invalid);
    assert!(err.message.contains("NULL bookmark key"), "{}", err.message);
    assert_eq!(read_delta(&loc, "id").await, got);
}

#[tokio::test]
async fn bad_sources_fail_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let db = source(dir.path());
    let lake = dir.path().join("lake");
    std::fs::create_dir_all(&lake).unwrap();
    // Denied: nothing is read or written.
    let denied = FakeGov {
        deny: true,
        ..FakeGov::default()
    };
    let bp = blueprint("snapshot", &db, &lake, "");
    let err = run_database(&bp, "r", None, &denied, &|_| {})
        .await
        .unwrap_err();
    assert_eq!(err.kind, FailKind::Denied);

    let gov = FakeGov::default();

    // A missing bookmark key.
    let bp = blueprint(
        "incremental",
        &db,
        &lake,
        "[source.bookmark]\nkeys = [\"changed\"]\n",
    );
    let err = run_database(&bp, "r", None, &gov, &|_| {})
        .await
        .unwrap_err();
    assert!(
        err.message.contains("bookmark key `changed`"),
        "{}",
        err.message
    );

    // A pattern that matches nothing.
    let mut bp = blueprint("snapshot", &db, &lake, "");
    bp.source.include = vec!["nothing%".into()];
    let err = run_database(&bp, "r", None, &gov, &|_| {})
        .await
        .unwrap_err();
    assert!(
        err.message.contains("no source table matches"),
        "{}",
        err.message
    );

    // A type with no faithful mapping names the table, column and type.
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute_batch("CREATE TABLE odd (id INTEGER, geo GEOMETRY)")
        .unwrap();
    let mut bp = blueprint("snapshot", &db, &lake, "");
    bp.source.include = vec!["odd".into()];
    let err = run_database(&bp, "r", None, &gov, &|_| {})
        .await
        .unwrap_err();
    assert!(
        err.message
            .contains("column `geo` of source table `odd` has type `GEOMETRY`"),
        "{}",
        err.message
    );

    // A value that does not fit its declared type names the row.
    c.execute_batch("INSERT INTO orders (id) VALUES ('seven')")
        .unwrap();
    let bp = blueprint("snapshot", &db, &lake, "");
    let err = run_database(&bp, "r", None, &gov, &|_| {})
        .await
        .unwrap_err();
    assert!(err.message.contains("row 4"), "{}", err.message);

    assert!(std::fs::read_dir(&lake).unwrap().next().is_none());
}
