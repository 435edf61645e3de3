//! `lakegate crawl` (DESIGN §7): tables, schemas and partitions inferred
//! from a location's folders, a dry run that explains every folder and
//! registers nothing, re-crawls that add partitions and columns, and the
//! rights checked before any file is read.

use std::path::Path;

use crate::harness::*;

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A location with one table of each layout, and folders the rules skip.
fn lake(root: &Path) {
    write_orders(&root.join("orders"));
    write_customers(&root.join("customers"));
    for (day, rows) in [("30", 2), ("31", 3)] {
        let mut text = String::new();
        for i in 0..rows {
            text.push_str(&format!("{{\"path\":\"/p{i}\",\"status\":200}}\n"));
        }
        write(&root.join(format!("web/2024/01/{day}/part-0.json")), &text);
    }
    write(&root.join("web/2024/01/_SUCCESS"), "");
    write(&root.join("mixed/a.csv"), "x\n1\n");
    write(&root.join("mixed/b.json"), "{\"x\":1}\n");
    write(&root.join("uneven/a.csv"), "x\n1\n");
    write(&root.join("uneven/deeper/b.csv"), "x\n2\n");
    write(&root.join("halfnamed/year=2024/01/a.csv"), "x\n1\n");
    write(&root.join("_tmp/a.csv"), "x\n1\n");
    write(&root.join("Bad Name/a.csv"), "x\n1\n");
    // A link would be followed by the readers, out of the folder.
    std::fs::create_dir_all(root.join("linked")).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", root.join("linked/a.csv")).unwrap();
}

fn verdicts(out: &serde_json::Value) -> Vec<String> {
    out["folders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{} {}",
                f["path"].as_str().unwrap(),
                f["verdict"].as_str().unwrap()
            )
        })
        .collect()
}

fn reason<'a>(out: &'a serde_json::Value, path: &str) -> &'a str {
    out["folders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == path)
        .and_then(|f| f["reason"].as_str())
        .unwrap_or_else(|| panic!("no folder {path} in {out}"))
}

#[test]
fn a_crawl_explains_every_folder_and_registers_what_it_infers() {
    let s = Server::start();
    let raw = s.lake.join("raw");
    lake(&raw);
    s.admin(&["location", "register", &s.uri("")]).ok();
    let loc = s.uri("raw");

    // The dry run explains each folder and registers nothing.
    let dry = s
        .admin(&[
            "crawl",
            "--location",
            &loc,
            "--database",
            "raw",
            "--dry-run",
            "--json",
        ])
        .json();
    assert_eq!(
        verdicts(&dry),
        [
            "Bad Name skipped",
            "_tmp ignored",
            "customers table",
            "halfnamed skipped",
            "linked skipped",
            "linked/a.csv ignored",
            "mixed skipped",
            "orders table",
            "orders/region=EU partition",
            "orders/region=US partition",
            "uneven skipped",
            "web table",
            "web/2024 partition",
            "web/2024/01 partition",
            "web/2024/01/30 partition",
            "web/2024/01/31 partition",
        ]
    );
    assert!(
        reason(&dry, "web")
            .contains("3 unnamed levels, read as partition_0, partition_1, partition_2")
    );
    assert!(reason(&dry, "orders").contains("1 `key=value/` levels (region)"));
    assert!(reason(&dry, "mixed").contains("mixes .csv and .json files"));
    assert!(reason(&dry, "uneven").contains("same number of partition levels"));
    assert!(reason(&dry, "halfnamed").contains("name every level"));
    assert!(reason(&dry, "Bad Name").contains("not a table name"));
    assert!(reason(&dry, "_tmp").contains("never read"));
    assert!(reason(&dry, "linked").contains("symbolic link `linked/a.csv`"));
    let actions: Vec<String> = dry["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            format!(
                "{} {}",
                t["name"].as_str().unwrap(),
                t["action"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            "raw.customers create",
            "raw.orders create",
            "raw.web create"
        ]
    );
    s.admin(&["table", "describe", "raw.web"])
        .fails(1, "table `raw.web` was not found");

    // The human form reads as a review.
    let text = s.admin(&[
        "crawl",
        "--location",
        &loc,
        "--database",
        "raw",
        "--dry-run",
    ]);
    text.ok();
    assert!(
        text.stdout.contains("would register raw.web (json, partitioned by partition_0, partition_1, partition_2, 2 partitions)"),
        "{}",
        text.stdout
    );

    // The crawl registers them; unnamed levels read as partition columns.
    let done = s
        .admin(&["crawl", "--location", &loc, "--database", "raw", "--json"])
        .json();
    assert_eq!(done["tables"][2]["action"], "create");
    let web = s.admin(&["table", "describe", "raw.web", "--json"]).json();
    assert_eq!(
        columns(&web),
        [
            "path",
            "status",
            "partition_0",
            "partition_1",
            "partition_2"
        ]
    );
    let rows = s.query_json(
        &s.admin_token,
        "SELECT partition_2 AS day, count(*) AS n FROM raw.web \
         WHERE partition_0 = '2024' GROUP BY partition_2 ORDER BY day",
    );
    assert_eq!(
        rows.to_string(),
        r#"[{"day":"30","n":2},{"day":"31","n":3}]"#
    );
    let rows = s.query_json(
        &s.admin_token,
        "SELECT region, count(*) AS n FROM raw.orders GROUP BY region ORDER BY region",
    );
    assert_eq!(
        rows.to_string(),
        r#"[{"region":"EU","n":2},{"region":"US","n":2}]"#
    );

    // A new partition is read at once; a new column is added by a re-crawl,
    // before the partition columns, and older files read it as NULL.
    write(
        &raw.join("web/2024/02/01/part-0.json"),
        "{\"path\":\"/new\",\"status\":404,\"bytes\":7}\n",
    );
    let rows = s.query_json(&s.admin_token, "SELECT count(*) AS n FROM raw.web");
    assert_eq!(rows.to_string(), r#"[{"n":6}]"#);
    let again = s
        .admin(&["crawl", "--location", &loc, "--database", "raw", "--json"])
        .json();
    let web_entry = &again["tables"][2];
    assert_eq!(web_entry["action"], "add_columns", "{again}");
    assert_eq!(web_entry["columns"], serde_json::json!(["bytes"]));
    assert_eq!(again["tables"][0]["action"], "unchanged");
    let web = s.admin(&["table", "describe", "raw.web", "--json"]).json();
    assert_eq!(
        columns(&web),
        [
            "path",
            "status",
            "bytes",
            "partition_0",
            "partition_1",
            "partition_2"
        ]
    );
    let rows = s.query_json(
        &s.admin_token,
        "SELECT partition_1 AS m, sum(bytes) AS b, count(*) AS n FROM raw.web \
         GROUP BY partition_1 ORDER BY m",
    );
    assert_eq!(
        rows.to_string(),
        r#"[{"m":"01","n":5},{"m":"02","b":7,"n":1}]"#
    );

    // Files that disagree skip the folder; a changed type is never applied:
    // the table is skipped with the reason, and keeps its columns.
    write(
        &raw.join("customers/more.csv"),
        "id,name,email\nx,Cy,cy@example.com\n",
    );
    let mixed = s
        .admin(&["crawl", "--location", &loc, "--database", "raw", "--json"])
        .json();
    assert_eq!(verdicts(&mixed)[2], "customers skipped");
    assert!(reason(&mixed, "customers").contains("Fail to merge schema field 'id'"));
    std::fs::remove_file(raw.join("customers/customers.csv")).unwrap();
    let typed = s
        .admin(&["crawl", "--location", &loc, "--database", "raw", "--json"])
        .json();
    assert_eq!(typed["tables"][0]["action"], "skip", "{typed}");
    assert!(
        typed["tables"][0]["reason"].as_str().unwrap().contains(
            "column `id` of table `raw.customers` is `Int64` in the catalog but `Utf8` in the files"
        ),
        "{typed}"
    );
    let customers = s
        .admin(&["table", "describe", "raw.customers", "--json"])
        .json();
    assert_eq!(customers["columns"][0]["data_type"], "Int64");

    // The same folders crawled into another database: each one is already
    // a table's location, so none is registered twice.
    let twice = s
        .admin(&["crawl", "--location", &loc, "--database", "copy", "--json"])
        .json();
    for t in twice["tables"].as_array().unwrap() {
        assert_eq!(t["action"], "skip", "{twice}");
        assert!(
            t["reason"]
                .as_str()
                .unwrap()
                .contains("overlaps the location of another table")
        );
    }
}

#[test]
fn crawling_needs_the_rights_first_and_the_crawler_owns_what_it_registers() {
    let s = Server::start();
    lake(&s.lake.join("raw"));
    s.admin(&["location", "register", &s.uri("")]).ok();
    let loc = s.uri("raw");
    let carol_id = "111111111111:user/carol";
    let carol = s.token(carol_id, &[]);

    // No rights: denied before any file is read, dry run included.
    s.cli(
        &carol,
        &[
            "crawl",
            "--location",
            &loc,
            "--database",
            "raw",
            "--dry-run",
        ],
    )
    .fails(3, "CREATE_DATABASE");
    s.admin(&[
        "grant",
        "--principal",
        carol_id,
        "--permissions",
        "CREATE_DATABASE",
        "--catalog",
    ])
    .ok();
    s.cli(&carol, &["crawl", "--location", &loc, "--database", "raw"])
        .fails(3, "DATA_LOCATION_ACCESS");
    s.admin(&["database", "list"]).ok();
    s.admin(&["table", "describe", "raw.web"])
        .fails(1, "table `raw.web` was not found");

    // Outside every registered location, or the server's own data folder.
    let outside = format!(
        "file://{}/",
        s.lake.parent().unwrap().join("elsewhere").display()
    );
    std::fs::create_dir_all(s.lake.parent().unwrap().join("elsewhere")).unwrap();
    s.admin(&["crawl", "--location", &outside, "--database", "raw"])
        .fails(1, "not inside any registered data location");
    let data = format!("file://{}/", s.data_dir.display());
    s.admin(&["location", "register", &data]).ok();
    s.admin(&["crawl", "--location", &data, "--database", "raw"])
        .fails(3, "server's data directory");

    // With the rights, Carol crawls and is the creator of what she
    // registers: she reads it, Dan (no grant) does not.
    s.admin(&[
        "grant",
        "--principal",
        carol_id,
        "--permissions",
        "DATA_LOCATION_ACCESS",
        "--location",
        &s.uri(""),
    ])
    .ok();
    s.cli(&carol, &["crawl", "--location", &loc, "--database", "raw"])
        .ok();
    let rows = s.query_json(&carol, "SELECT count(*) AS n FROM raw.web");
    assert_eq!(rows.to_string(), r#"[{"n":5}]"#);
    let dan_id = "111111111111:user/dan";
    let dan = s.token(dan_id, &[]);
    let out = s.cli(&dan, &["query", "SELECT count(*) FROM raw.web"]);
    assert_ne!(out.code, 0, "{out:#?}");

    // A data cells filter on an unnamed partition level governs the crawled
    // table like any other: Dan sees the 31st only, without `status`.
    s.admin(&[
        "data-filter",
        "create",
        "raw.web.late",
        "--row-filter",
        "partition_2 = '31'",
        "--exclude-columns",
        "status",
    ])
    .ok();
    s.admin(&[
        "grant",
        "--principal",
        dan_id,
        "--permissions",
        "SELECT",
        "--data-filter",
        "raw.web.late",
    ])
    .ok();
    let rows = s.query_json(&dan, "SELECT * FROM raw.web");
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert!(
        rows.iter()
            .all(|r| r["partition_2"] == "31" && r.get("status").is_none())
    );
}
