//! Blueprints through the CLI (DESIGN §7): runs against a real SQLite file
//! and a real PostgreSQL server, the Delta tables they write read back
//! through the secured query path, run records, rights, and bad input that
//! fails a run without touching the target.

use std::path::Path;

use test_kit::PgServer;

use crate::harness::*;

fn sqlite_source(dir: &Path) -> String {
    let dir = dir.join("src");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("shop.db");
    let c = rusqlite::Connection::open(&path).unwrap();
    c.execute_batch(
        "CREATE TABLE orders (id INTEGER, updated_at DATETIME, amount DECIMAL(10,2),
                              region TEXT, paid BOOLEAN);
         INSERT INTO orders VALUES
           (1, '2024-01-01 10:00:00', '12.50', 'eu', 1),
           (2, '2024-01-01 10:00:00', 7, 'us', 0),
           (3, '2024-01-02 09:30:00', NULL, 'eu', NULL);",
    )
    .unwrap();
    path.to_str().unwrap().to_string()
}

fn shop_blueprint(s: &Server, kind: &str, db: &str, extra: &str) -> String {
    s.blueprint(
        "shop",
        &format!(
            r#"name = "shop"
kind = "{kind}"
[source]
url = "sqlite://{db}"
include = ["orders"]
{extra}
[target]
database = "shop"
location = "{}"
table_prefix = "s_"
"#,
            s.uri("shop")
        ),
    )
}

#[test]
fn a_sqlite_blueprint_loads_a_delta_table_that_queries_govern() {
    let s = Server::start();
    s.admin(&["location", "register", &s.uri("")]).ok();
    let db = sqlite_source(&s.lake);
    let file = shop_blueprint(
        &s,
        "incremental",
        &db,
        "[source.bookmark]\nkeys = [\"updated_at\", \"id\"]",
    );

    let out = s.admin(&["blueprint", "run", &file, "--json"]);
    out.ok();
    let run = out.json();
    assert_eq!(run["state"], "SUCCEEDED", "{run}");
    assert_eq!(run["rows_written"], 3);
    assert_eq!(run["versions"]["s_orders"], 0);

    // The runner created the database and the table, and is its creator.
    let t = s
        .admin(&["table", "describe", "shop.s_orders", "--json"])
        .json();
    assert_eq!(t["format"], "delta");
    assert_eq!(t["creator"], ADMIN);
    assert_eq!(
        columns(&t),
        ["id", "updated_at", "amount", "region", "paid"]
    );

    // Queries read the Delta table through the secured scan.
    let rows = s.query_json(
        &s.admin_token,
        "SELECT id, amount FROM shop.s_orders ORDER BY id",
    );
    assert_eq!(
        rows.to_string(),
        r#"[{"id":1,"amount":12.5},{"id":2,"amount":7.0},{"id":3}]"#
    );

    // Another principal's data cells filter applies to an ingested table.
    let bob = s.token("111111111111:user/bob", &[]);
    s.admin(&[
        "data-filter",
        "create",
        "shop.s_orders.eu_only",
        "--row-filter",
        "region = 'eu'",
        "--columns",
        "id,region",
    ])
    .ok();
    s.admin(&[
        "grant",
        "--principal",
        "111111111111:user/bob",
        "--permissions",
        "SELECT",
        "--data-filter",
        "shop.s_orders.eu_only",
    ])
    .ok();
    let rows = s.query_json(&bob, "SELECT * FROM shop.s_orders ORDER BY id");
    assert_eq!(
        rows.to_string(),
        r#"[{"id":1,"region":"eu"},{"id":3,"region":"eu"}]"#
    );
    // The same through the Python ADBC Flight SQL driver.
    if let Ok(py) = std::env::var("LAKEGATE_PYTHON") {
        let script = "import sys, adbc_driver_flightsql.dbapi as f\n\
            c = f.connect(sys.argv[1], db_kwargs={'adbc.flight.sql.authorization_header': 'Bearer ' + sys.argv[2]})\n\
            cur = c.cursor()\n\
            cur.execute('SELECT * FROM shop.s_orders ORDER BY id')\n\
            t = cur.fetch_arrow_table()\n\
            print(t.column_names, t.to_pydict())\n";
        let out = std::process::Command::new(py)
            .args([
                "-c",
                script,
                &s.endpoint.replace("http://", "grpc://"),
                &bob,
            ])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            text.trim(),
            "['id', 'region'] {'id': [1, 3], 'region': ['eu', 'eu']}",
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    s.cli(&bob, &["query", "SELECT amount FROM shop.s_orders"])
        .fails(1, "No field named amount");

    // The next run loads only the new rows, including a tie on the first key.
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute_batch(
        "INSERT INTO orders VALUES (4, '2024-01-02 09:30:00', 1, 'eu', 1),
                                   (5, '2024-03-01 00:00:00', 2, 'us', 0);",
    )
    .unwrap();
    let run = s.admin(&["blueprint", "run", &file, "--json"]).json();
    assert_eq!(run["rows_written"], 2, "{run}");
    let rows = s.query_json(
        &s.admin_token,
        "SELECT count(*) AS n, count(DISTINCT id) AS d FROM shop.s_orders",
    );
    assert_eq!(rows.to_string(), r#"[{"n":5,"d":5}]"#);

    // Runs are recorded and listed.
    let runs = s.admin(&["blueprint", "runs", "shop", "--json"]).json();
    assert_eq!(runs.as_array().unwrap().len(), 2);
    let id = runs[0]["id"].as_str().unwrap().to_string();
    let shown = s.admin(&["blueprint", "show", &id, "--json"]).json();
    assert_eq!(shown["rows_written"], 2);
    let list = s.admin(&["blueprint", "list"]);
    list.ok();
    assert!(
        list.stdout.contains("shop") && list.stdout.contains("SUCCEEDED"),
        "{}",
        list.stdout
    );
    // Plain output (not a terminal): one line per phase, then the record.
    let out = s.admin(&["blueprint", "run", &file]);
    out.ok();
    assert!(out.stderr.contains("read"), "{}", out.stderr);
    assert!(out.stdout.contains(": SUCCEEDED"), "{}", out.stdout);

    // `table create --format delta` registers an existing Delta table.
    s.admin(&[
        "table",
        "create",
        "shop.copy",
        "--location",
        &s.uri("shop/s_orders"),
        "--format",
        "delta",
    ])
    .ok();
    let rows = s.query_json(&s.admin_token, "SELECT count(*) AS n FROM shop.copy");
    assert_eq!(rows.to_string(), r#"[{"n":5}]"#);
    s.admin(&[
        "table",
        "create",
        "shop.nope",
        "--location",
        &s.uri("src"),
        "--format",
        "delta",
    ])
    .fails(1, "not a Delta table");

    // Partitioned by a source column: `k=v/` folders, a partition column.
    let part = s.blueprint(
        "parts",
        &format!(
            "name = \"parts\"\nkind = \"snapshot\"\n[source]\nurl = \"sqlite://{db}\"\n\
             include = [\"orders\"]\n[target]\ndatabase = \"shop\"\nlocation = \"{}\"\n\
             table_prefix = \"p_\"\npartition_by = [\"region\"]\n",
            s.uri("parts")
        ),
    );
    s.admin(&["blueprint", "run", &part]).ok();
    assert!(s.lake.join("parts/p_orders/region=eu").is_dir());
    let t = s
        .admin(&["table", "describe", "shop.p_orders", "--json"])
        .json();
    assert_eq!(t["partition_keys"], serde_json::json!(["region"]), "{t}");
    let rows = s.query_json(
        &s.admin_token,
        "SELECT region, count(*) AS n FROM shop.p_orders GROUP BY region ORDER BY region",
    );
    assert_eq!(
        rows.to_string(),
        r#"[{"region":"eu","n":3},{"region":"us","n":2}]"#
    );
}

#[test]
fn a_run_without_rights_or_outside_the_locations_fails_and_writes_nothing() {
    let s = Server::start();
    let db = sqlite_source(&s.lake);
    s.admin(&["location", "register", &s.uri("src")]).ok();

    // A target outside every registered location.
    let file = shop_blueprint(&s, "snapshot", &db, "");
    let out = s.admin(&["blueprint", "run", &file]);
    out.fails(1, "not inside any registered data location");
    assert!(!s.lake.join("shop").exists());

    // A principal with no rights: denied (exit 3) on the database, then on
    // the location (checked before the source is opened); nothing written.
    s.admin(&["location", "register", &s.uri("")]).ok();
    let carol = s.token("111111111111:user/carol", &[]);
    s.cli(&carol, &["blueprint", "run", &file])
        .fails(3, "CREATE_DATABASE");
    s.admin(&[
        "grant",
        "--principal",
        "111111111111:user/carol",
        "--permissions",
        "CREATE_DATABASE",
        "--catalog",
    ])
    .ok();
    s.cli(&carol, &["blueprint", "run", &file])
        .fails(3, "DATA_LOCATION_ACCESS");
    assert!(!s.lake.join("shop").exists());

    // Both failures are recorded as FAILED runs.
    let runs = s.admin(&["blueprint", "runs", "--json"]).json();
    let states: Vec<&str> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["FAILED", "FAILED", "FAILED"]);
    // Carol sees her own runs only.
    let mine = s.cli(&carol, &["blueprint", "runs", "--json"]).json();
    assert_eq!(mine.as_array().unwrap().len(), 2);
    assert_eq!(mine[0]["error_kind"], "permission_denied");

    // The server's own files are never a source, not even for an admin:
    // not its store, and not through a symlink in a registered location.
    let store = s.data_dir.join("lakegate.db");
    let file = shop_blueprint(&s, "snapshot", store.to_str().unwrap(), "");
    s.admin(&["blueprint", "run", &file])
        .fails(3, "server's data directory");
    std::os::unix::fs::symlink(&store, s.lake.join("src/link.db")).unwrap();
    let file = shop_blueprint(
        &s,
        "snapshot",
        s.lake.join("src/link.db").to_str().unwrap(),
        "",
    );
    s.admin(&["blueprint", "run", &file])
        .fails(3, "server's data directory");
    // Nor a source outside the registered locations.
    let outside = sqlite_source(s.lake.parent().unwrap());
    let file = shop_blueprint(&s, "snapshot", &outside, "");
    s.admin(&["blueprint", "run", &file])
        .fails(1, "not inside any registered data location");
}

#[test]
fn a_bad_blueprint_file_fails_with_its_line_and_is_recorded() {
    let s = Server::start();
    s.admin(&["location", "register", &s.uri("")]).ok();
    let db = sqlite_source(&s.lake);
    let file = s.blueprint("typo",
        &format!(
            "name = \"typo\"\nkind = \"snapshot\"\n[source]\nurl = \"sqlite://{db}\"\nincldue = [\"orders\"]\n[target]\ndatabase = \"shop\"\nlocation = \"{}\"\n",
            s.uri("shop")
        ),
    );
    let out = s.admin(&["blueprint", "run", &file]);
    out.fails(1, "typo.toml:5");
    let runs = s.admin(&["blueprint", "runs", "typo", "--json"]).json();
    assert_eq!(runs[0]["state"], "FAILED");
    assert_eq!(runs[0]["error_kind"], "invalid_argument");
}

#[test]
fn a_postgres_blueprint_maps_types_and_never_shows_the_password() {
    let pg = PgServer::start();
    pg.create_user_db("reader", "s3cret-PW-42", "crm");
    pg.sql(
        "crm",
        "SET ROLE reader;
         CREATE TABLE public.orders (
           id bigint PRIMARY KEY, small smallint, n integer, amount numeric(12,3),
           ratio real, score double precision, note text, code varchar(8), ok boolean,
           day date, at timestamp, at_tz timestamptz, raw bytea);
         INSERT INTO public.orders VALUES
           (1, 1, 10, 123.456, 0.5, 1.25, 'a', 'x', true, '2024-01-01',
            '2024-01-01 10:00:00.123456', '2024-01-01 10:00:00+02', '\\x00ff'),
           (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
         CREATE TABLE public.geo (id int, pt point);",
    );
    let url = pg.url("reader", "crm");
    let s = Server::start_env(
        &[
            "--source-secret",
            &format!("CRM_PASSWORD={url}"),
            "--source-secret",
            &format!("BAD_PASSWORD={url}"),
            "--source-secret",
            "OTHER_PASSWORD=postgres://reader@127.0.0.1:1/other",
        ],
        &[
            ("CRM_PASSWORD", "s3cret-PW-42"),
            ("BAD_PASSWORD", "NotThePassword-77"),
            ("OTHER_PASSWORD", "s3cret-PW-42"),
        ],
    );
    s.admin(&["location", "register", &s.uri("")]).ok();
    let body = |name: &str, env: &str, include: &str| {
        format!(
            r#"name = "{name}"
kind = "snapshot"
[source]
url = "{}"
password_env = "{env}"
include = ["{include}"]
[target]
database = "crm"
location = "{}"
"#,
            pg.url("reader", "crm"),
            s.uri("crm")
        )
    };
    let file = s.blueprint("crm", &body("crm", "CRM_PASSWORD", "public.orders"));
    let run = s.admin(&["blueprint", "run", &file, "--json"]).json();
    assert_eq!(run["state"], "SUCCEEDED", "{run}");
    let t = s
        .admin(&["table", "describe", "crm.orders", "--json"])
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
            "small:Int16",
            "n:Int32",
            "amount:Decimal128(12, 3)",
            "ratio:Float32",
            "score:Float64",
            "note:Utf8",
            "code:Utf8",
            "ok:Boolean",
            "day:Date32",
            "at:Timestamp(µs)",
            "at_tz:Timestamp(µs, \"UTC\")",
            "raw:Binary"
        ]
    );
    let rows = s.query_json(
        &s.admin_token,
        "SELECT id, amount, at, at_tz, day FROM crm.orders ORDER BY id",
    );
    assert_eq!(
        rows.to_string(),
        r#"[{"id":1,"amount":123.456,"at":"2024-01-01T10:00:00.123456","at_tz":"2024-01-01T08:00:00Z","day":"2024-01-01"},{"id":2}]"#
    );

    // A type with no faithful mapping fails, naming table, column and type.
    let file = s.blueprint("geo", &body("geo", "CRM_PASSWORD", "public.geo"));
    s.admin(&["blueprint", "run", &file]).fails(
        1,
        "column `pt` of source table `public.geo` has type `point`",
    );

    // A wrong password fails the run; the password appears nowhere.
    let file = s.blueprint("bad", &body("bad", "BAD_PASSWORD", "public.orders"));
    let out = s.admin(&["blueprint", "run", &file, "--json"]);
    out.fails(1, "password authentication failed");
    let runs = s.admin(&["blueprint", "runs", "--json"]);
    let log = std::fs::read_to_string(s.data_dir.parent().unwrap().join("server.log")).unwrap();
    for text in [&out.stdout, &out.stderr, &runs.stdout, &log] {
        assert!(
            !text.contains("s3cret-PW-42") && !text.contains("NotThePassword-77"),
            "{text}"
        );
    }

    // A secret goes only to the source it is bound to, and a variable that
    // is not bound is never read.
    let file = s.blueprint("other", &body("other", "OTHER_PASSWORD", "public.orders"));
    s.admin(&["blueprint", "run", &file])
        .fails(3, "bound to another source");
    let file = s.blueprint("home", &body("home", "HOME", "public.orders"));
    s.admin(&["blueprint", "run", &file])
        .fails(3, "not bound to a source");

    // An unreachable source fails clearly.
    let unreachable = body("gone", "OTHER_PASSWORD", "public.orders")
        .replace(&format!(":{}/crm", pg.port), ":1/other");
    let file = s.blueprint("gone", &unreachable);
    s.admin(&["blueprint", "run", &file])
        .fails(1, "PostgreSQL source `other`");
}
