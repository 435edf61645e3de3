//! The blueprint file (DESIGN §7) through its public parser: the example in
//! DESIGN parses; every kind of mistake is an error naming the line.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_docs,
    reason = "test code: a panic is a failed test"
)]

use blueprints::{Blueprint, Kind};

const EXAMPLE: &str = r#"name = "crm_orders"
kind = "incremental"

[source]
url = "postgres://reader@127.0.0.1:5432/crm"
password_env = "CRM_PASSWORD"
include = ["public.orders", "public.cust%"]
exclude = ["public.%_tmp"]

[source.bookmark]
keys = ["updated_at", "id"]
order = "asc"

[target]
database = "crm"
location = "file:///srv/lake/crm/"
table_prefix = "crm_"
partition_by = ["region"]

[run]
max_errors = 0
schedule = "cron(0 */6 * * ? *)"
"#;

fn error(text: &str) -> (usize, String) {
    let e = Blueprint::parse(text, "bp.toml").unwrap_err();
    assert_eq!(e.file, "bp.toml");
    assert!(
        e.to_string().starts_with(&format!("bp.toml:{}: ", e.line)),
        "{e}"
    );
    (e.line, e.message)
}

#[test]
fn the_design_example_parses() {
    let bp = Blueprint::parse(EXAMPLE, "bp.toml").unwrap();
    assert_eq!(bp.name, "crm_orders");
    assert_eq!(bp.kind, Kind::Incremental);
    assert_eq!(bp.source.bookmark.unwrap().keys, ["updated_at", "id"]);
    assert_eq!(bp.target.partition_by, ["region"]);
    assert!(bp.run.schedule.is_some());
}

#[test]
fn a_logs_and_a_snapshot_blueprint_parse() {
    let logs = r#"name = "web"
kind = "logs"
[source]
url = "s3://logs/web/"
format = "combined"
[target]
database = "web"
location = "s3://lake/web/"
"#;
    assert_eq!(Blueprint::parse(logs, "l.toml").unwrap().kind, Kind::Logs);
    let snap = r#"name = "inv"
kind = "snapshot"
[source]
url = "sqlite:///srv/inv.db"
[target]
database = "inv"
location = "file:///lake/inv/"
[run]
schedule = "0 3 * * *"
"#;
    assert!(
        Blueprint::parse(snap, "s.toml")
            .unwrap()
            .schedule()
            .is_some()
    );
}

#[test]
fn mistakes_are_errors_that_name_the_line() {
    let cases: Vec<(String, usize, &str)> = vec![
        // An unknown key anywhere.
        (
            EXAMPLE.replace("order = \"asc\"", "order = \"asc\"\nwhatever = 1"),
            13,
            "unknown field",
        ),
        // A wrong value.
        (
            EXAMPLE.replace("kind = \"incremental\"", "kind = \"full\""),
            2,
            "unknown variant",
        ),
        // A password in the file.
        (
            EXAMPLE.replace("reader@", "reader:hunter2@"),
            5,
            "holds a password",
        ),
        // Keys that do not belong to the kind.
        (
            EXAMPLE.replace("kind = \"incremental\"", "kind = \"snapshot\""),
            10,
            "incremental blueprints only",
        ),
        (
            EXAMPLE.replace(
                "[source.bookmark]\nkeys = [\"updated_at\", \"id\"]\norder = \"asc\"\n",
                "",
            ),
            4,
            "needs `[source.bookmark]`",
        ),
        (
            EXAMPLE.replace(
                "exclude = [\"public.%_tmp\"]",
                "exclude = [\"x; DROP TABLE y\"]",
            ),
            8,
            "not a table pattern",
        ),
        (
            EXAMPLE.replace("keys = [\"updated_at\", \"id\"]", "keys = [\"id\", \"ID\"]"),
            11,
            "appears twice",
        ),
        (
            EXAMPLE.replace("database = \"crm\"", "database = \"Crm-DB\""),
            15,
            "not an identifier",
        ),
        (
            EXAMPLE.replace("file:///srv/lake/crm/", "/srv/lake/crm"),
            16,
            "folder URL",
        ),
        (
            EXAMPLE.replace("cron(0 */6 * * ? *)", "cron(0 */6 * * * *)"),
            22,
            "exactly one of",
        ),
        (
            EXAMPLE.replace(
                "password_env = \"CRM_PASSWORD\"",
                "password_env = \"crm password\"",
            ),
            6,
            "environment variable",
        ),
        (
            EXAMPLE.replace("postgres://reader@127.0.0.1:5432/crm", "file:///srv/crm/"),
            5,
            "reads a database",
        ),
        (
            EXAMPLE.replace("name = \"crm_orders\"", "name = \"crm orders\""),
            1,
            "not an identifier",
        ),
        ("name = ".to_string(), 1, ""),
    ];
    for (text, line, says) in cases {
        let (got_line, msg) = error(&text);
        assert!(msg.contains(says), "want `{says}` in: {msg}\n{text}");
        assert_eq!(got_line, line, "{msg}\n{text}");
    }
}

#[test]
fn a_logs_blueprint_needs_a_format_and_no_tables() {
    let base = r#"name = "web"
kind = "logs"
[source]
url = "file:///var/log/web/"
format = "alb"
[target]
database = "web"
location = "file:///lake/web/"
"#;
    assert!(Blueprint::parse(base, "l.toml").is_ok());
    let (_, m) = error(&base.replace("format = \"alb\"\n", ""));
    assert!(m.contains("needs `format`"), "{m}");
    let (line, m) = error(&base.replace("format = \"alb\"", "format = \"alb\"\ninclude = [\"a\"]"));
    assert!(m.contains("a logs blueprint has none"), "{m}");
    assert_eq!(line, 6);
    let (_, m) = error(&base.replace("file:///var/log/web/", "file:///var/log/web"));
    assert!(m.contains("end the URL with `/`"), "{m}");
}

#[test]
fn secrets_never_ride_in_the_url() {
    for url in [
        "postgresql://reader@127.0.0.1:5432/crm?password=x",
        "postgres://reader@127.0.0.1:5432/crm?sslmode=require&PASSWORD=x",
        "mysql://127.0.0.1/crm?user=u&password=x",
        "mysql://u:secret@127.0.0.1/crm",
    ] {
        let text = EXAMPLE.replace("postgres://reader@127.0.0.1:5432/crm", url);
        let (line, m) = error(&text);
        assert!(m.contains("holds a password"), "{url}: {m}");
        assert_eq!(line, 5, "{url}");
    }
    // Options, encoded characters and an `@` after the first `/` could make
    // a client connect elsewhere than the host this check reads (tokio-
    // postgres takes the user part up to the first `@`): all refused.
    for url in [
        "postgres://127.0.0.1:5432/crm?options=a@b",
        "postgres://h/x@%2Fvar%2Frun%2Fpostgresql/crm",
        "postgres://reader@h%2Fx:5432/crm",
        "mysql://reader@127.0.0.1/crm?socket=/run/mysqld/mysqld.sock",
    ] {
        let text = EXAMPLE.replace("postgres://reader@127.0.0.1:5432/crm", url);
        let (_, m) = error(&text);
        assert!(
            m.contains("takes no options") || m.contains("one TCP host"),
            "{url}: {m}"
        );
    }
}

#[test]
fn headers_with_comments_and_spaces_still_name_the_line() {
    let text = EXAMPLE
        .replace(
            "[source.bookmark]",
            "[ source . bookmark ]   # incremental only",
        )
        .replace("kind = \"incremental\"", "kind = \"snapshot\"");
    let (line, m) = error(&text);
    assert!(m.contains("incremental blueprints only"), "{m}");
    assert_eq!(line, 10);
}

#[test]
fn locations_are_checked_as_data_locations() {
    let (line, _) = error(&EXAMPLE.replace("file:///srv/lake/crm/", "file:///srv/lake/../etc/"));
    assert_eq!(line, 16);
    let logs = r#"name = "web"
kind = "logs"
[source]
url = "file:///srv/lake/web/"
format = "parquet"
[target]
database = "web"
location = "file:///srv/lake/"
"#;
    let (line, m) = error(logs);
    assert!(m.contains("overlaps the logs it reads"), "{m}");
    assert_eq!(line, 8);
    let (_, m) = error(&logs.replace("file:///srv/lake/web/", "file://host/web/"));
    assert!(m.contains("absolute path"), "{m}");
    let sqlite = r#"name = "inv"
kind = "snapshot"
[source]
url = "sqlite:///srv/inv.db"
password_env = "X"
[target]
database = "inv"
location = "file:///lake/inv/"
"#;
    let (line, m) = error(sqlite);
    assert!(m.contains("takes no password"), "{m}");
    assert_eq!(line, 5);
}

#[test]
fn only_small_regular_files_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let e = Blueprint::load(dir.path()).unwrap_err();
    assert!(e.message.contains("not a regular file"), "{e}");
    let big = dir.path().join("big.toml");
    std::fs::write(&big, "#".repeat(2 << 20)).unwrap();
    let e = Blueprint::load(&big).unwrap_err();
    assert!(e.message.contains("larger than"), "{e}");
}
