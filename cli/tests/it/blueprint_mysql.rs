//! MySQL sources through the CLI, against a real MariaDB server (Debian's
//! `mariadb-server`, started by the test): type mapping, an incremental
//! bookmark with 64-bit keys, and URLs that could reach a local socket.

use test_kit::MariaServer;

use crate::harness::*;

const PASSWORD: &str = "Maria-s3cret-91";

fn body(m: &MariaServer, s: &Server, name: &str, kind: &str, include: &str, extra: &str) -> String {
    format!(
        r#"name = "{name}"
kind = "{kind}"
[source]
url = "{}"
password_env = "SHOP_PASSWORD"
include = ["{include}"]
{extra}
[target]
database = "shop"
location = "{}"
"#,
        m.url("reader", "shop"),
        s.uri("shop")
    )
}

fn start() -> (MariaServer, Server) {
    let m = MariaServer::start();
    m.create_reader("reader", PASSWORD, "shop");
    let url = m.url("reader", "shop");
    let s = Server::start_env(
        &["--source-secret", &format!("SHOP_PASSWORD={url}")],
        &[("SHOP_PASSWORD", PASSWORD)],
    );
    s.admin(&["location", "register", &s.uri("")]).ok();
    (m, s)
}

#[test]
fn a_mariadb_snapshot_maps_every_type_faithfully() {
    let (m, s) = start();
    m.sql(
        "shop",
        "SET time_zone = '+02:00';
         CREATE TABLE orders (
           id BIGINT PRIMARY KEY, tiny TINYINT, flag TINYINT(1), small_u SMALLINT UNSIGNED,
           mid MEDIUMINT, n INT, n_u INT UNSIGNED, big_u BIGINT UNSIGNED, amount DECIMAL(12,3),
           ratio FLOAT, score DOUBLE, note TEXT, code VARCHAR(8), kind ENUM('a','b'), doc JSON,
           day DATE, at DATETIME(6), at_tz TIMESTAMP(6) NULL, raw VARBINARY(8), yr YEAR);
         INSERT INTO orders VALUES
           (1, -128, 1, 65535, -8388608, -2147483648, 4294967295, 18446744073709551615,
            123.456, 0.5, 1.25, 'é', 'x', 'b', '{\"k\": 1}', '2024-01-01',
            '2024-01-01 10:00:00.123456', '2024-01-01 10:00:00', x'00ff', 2024),
           (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
            NULL, NULL, NULL, NULL, NULL, NULL);
         CREATE TABLE geo (id INT, pt POINT);
         CREATE TABLE clock (id INT, t TIME);",
    );
    let file = s.blueprint("orders", &body(&m, &s, "orders", "snapshot", "orders", ""));
    let run = s.admin(&["blueprint", "run", &file, "--json"]).json();
    assert_eq!(run["state"], "SUCCEEDED", "{run}");
    let t = s
        .admin(&["table", "describe", "shop.orders", "--json"])
        .json();
    let types: Vec<String> = t["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{}:{}",
                c["name"].as_str().unwrap(),
                c["data_type"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        types,
        [
            "id:Int64",
            "tiny:Int16",
            "flag:Int16",
            "small_u:Int32",
            "mid:Int32",
            "n:Int32",
            "n_u:Int64",
            "big_u:Decimal128(20, 0)",
            "amount:Decimal128(12, 3)",
            "ratio:Float32",
            "score:Float64",
            "note:Utf8",
            "code:Utf8",
            "kind:Utf8",
            "doc:Utf8",
            "day:Date32",
            "at:Timestamp(µs)",
            "at_tz:Timestamp(µs, \"UTC\")",
            "raw:Binary",
            "yr:Int16"
        ]
    );
    let rows = s.query_json(
        &s.admin_token,
        "SELECT id, tiny, small_u, mid, n, n_u, CAST(big_u AS VARCHAR) AS big_u, \
                CAST(amount AS VARCHAR) AS amount, ratio, note, kind, doc, day, at, at_tz, \
                encode(raw, 'hex') AS raw, yr \
         FROM shop.orders ORDER BY id",
    );
    assert_eq!(
        rows.to_string(),
        r#"[{"id":1,"tiny":-128,"small_u":65535,"mid":-8388608,"n":-2147483648,"n_u":4294967295,"big_u":"18446744073709551615","amount":"123.456","ratio":0.5,"note":"é","kind":"b","doc":"{\"k\": 1}","day":"2024-01-01","at":"2024-01-01T10:00:00.123456","at_tz":"2024-01-01T08:00:00Z","raw":"00ff","yr":2024},{"id":2}]"#
    );

    // Types with no faithful mapping fail, naming table, column and type.
    for (table, needle) in [
        ("geo", "column `pt` of source table `geo` has type `point`"),
        (
            "clock",
            "column `t` of source table `clock` has type `time`",
        ),
    ] {
        let file = s.blueprint(table, &body(&m, &s, table, "snapshot", table, ""));
        s.admin(&["blueprint", "run", &file]).fails(1, needle);
    }
}

#[test]
fn a_mariadb_incremental_load_compares_64_bit_keys_exactly() {
    let (m, s) = start();
    // 2^53 and 2^53 + 1 are one double apart from nothing: a comparison
    // through floating point would call them equal and lose the second.
    m.sql(
        "shop",
        "CREATE TABLE events (at DATETIME(6) NOT NULL, id BIGINT NOT NULL, v TEXT);
         INSERT INTO events VALUES
           ('2024-01-01 00:00:00', 1, 'a'),
           ('2024-01-02 00:00:00', 9007199254740992, 'b');",
    );
    let bookmark = "[source.bookmark]\nkeys = [\"at\", \"id\"]\norder = \"asc\"";
    let file = s.blueprint(
        "events",
        &body(&m, &s, "events", "incremental", "events", bookmark),
    );
    let run = s.admin(&["blueprint", "run", &file, "--json"]).json();
    assert_eq!(run["rows_written"], 2, "{run}");

    // A tie on the first key beyond the bookmark, a later row, and a row
    // before it (never loaded: it is behind the bookmark).
    m.sql(
        "shop",
        "INSERT INTO events VALUES
           ('2024-01-02 00:00:00', 9007199254740993, 'tie'),
           ('2024-01-03 00:00:00', 2, 'later'),
           ('2023-12-31 00:00:00', 3, 'behind');",
    );
    let run = s.admin(&["blueprint", "run", &file, "--json"]).json();
    assert_eq!(run["rows_written"], 2, "{run}");
    // Without `--json` and off a terminal, progress is plain lines, with a
    // bar over the phase's tables.
    let out = s.admin(&["blueprint", "run", &file]);
    out.ok();
    assert!(
        out.stderr.contains("[####################] 1/1"),
        "{}",
        out.stderr
    );
    let rows = s.query_json(
        &s.admin_token,
        "SELECT CAST(id AS VARCHAR) AS id, v FROM shop.events ORDER BY at, id",
    );
    assert_eq!(
        rows.to_string(),
        r#"[{"id":"1","v":"a"},{"id":"9007199254740992","v":"b"},{"id":"9007199254740993","v":"tie"},{"id":"2","v":"later"}]"#
    );

    // A float bookmark key is refused before anything is read.
    m.sql("shop", "CREATE TABLE gauges (x DOUBLE, v TEXT)");
    let file = s.blueprint(
        "gauges",
        &body(
            &m,
            &s,
            "gauges",
            "incremental",
            "gauges",
            "[source.bookmark]\nkeys = [\"x\"]",
        ),
    );
    s.admin(&["blueprint", "run", &file]).fails(
        1,
        "bookmark key `x` of source table `gauges` is floating-point",
    );

    // An ENUM sorts by its index, not its text: refused as a key too.
    m.sql("shop", "CREATE TABLE states (s ENUM('z','a'), v TEXT)");
    let file = s.blueprint(
        "states",
        &body(
            &m,
            &s,
            "states",
            "incremental",
            "states",
            "[source.bookmark]\nkeys = [\"s\"]",
        ),
    );
    s.admin(&["blueprint", "run", &file])
        .fails(1, "is an ENUM, SET or JSON column");
}

#[test]
fn a_mariadb_url_never_reaches_a_local_socket_nor_shows_the_password() {
    let (m, s) = start();
    m.sql("shop", "CREATE TABLE t (id INT)");
    // Options and encoded hosts could point the client at the server's
    // own socket, where `root` needs no password: refused when the file is
    // read, for every database scheme.
    let sock = "%2Frun%2Fmysqld%2Fmysqld.sock";
    for url in [
        format!(
            "mysql://root@127.0.0.1:{}/shop?socket=/run/mysqld/mysqld.sock",
            m.port
        ),
        format!("mysql://root@127.0.0.1:{}/shop?prefer_socket=true", m.port),
        format!("mysql://root@{sock}/shop"),
        "postgres://postgres@/postgres?host=/run/postgresql".to_string(),
        "postgres://postgres@%2Frun%2Fpostgresql/postgres".to_string(),
        "postgres://postgres@h1,h2/postgres".to_string(),
    ] {
        let text = format!(
            "name = \"sock\"\nkind = \"snapshot\"\n[source]\nurl = \"{url}\"\n\
             [target]\ndatabase = \"shop\"\nlocation = \"{}\"\n",
            s.uri("shop")
        );
        let file = s.blueprint("sock", &text);
        let out = s.admin(&["blueprint", "run", &file]);
        assert!(
            out.stderr.contains("takes no options") || out.stderr.contains("one TCP host"),
            "{url}: {}",
            out.stderr
        );
    }
    assert!(!s.lake.join("shop").exists());

    // A wrong password fails the run, and no password appears anywhere.
    let wrong = Server::start_env(
        &[
            "--source-secret",
            &format!("SHOP_PASSWORD={}", m.url("reader", "shop")),
        ],
        &[("SHOP_PASSWORD", "Not-The-Password-5")],
    );
    wrong.admin(&["location", "register", &wrong.uri("")]).ok();
    let file = wrong.blueprint("t", &body(&m, &wrong, "t", "snapshot", "t", ""));
    let out = wrong.admin(&["blueprint", "run", &file, "--json"]);
    out.fails(1, "Access denied for user 'reader'");
    let runs = wrong.admin(&["blueprint", "runs", "--json"]);
    let log = std::fs::read_to_string(wrong.data_dir.parent().unwrap().join("server.log")).unwrap();
    for text in [&out.stdout, &out.stderr, &runs.stdout, &log] {
        assert!(!text.contains("Not-The-Password-5"), "{text}");
    }
}
