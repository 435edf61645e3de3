//! `kind = "logs"` blueprints through the CLI: access logs, JSON lines, CSV
//! and CloudTrail files from a `file://` folder; new files only; malformed
//! lines counted, reported as `file:line`, and failing the run beyond
//! `max_errors`.

use std::path::Path;
use std::process::Command;

use crate::harness::*;

fn gzip(path: &Path) {
    let st = Command::new("gzip").arg("-f").arg(path).status().unwrap();
    assert!(st.success());
}

fn logs_blueprint(s: &Server, name: &str, folder: &Path, format: &str, max_errors: u64) -> String {
    let path = s.lake.parent().unwrap().join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            "name = \"{name}\"\nkind = \"logs\"\n[source]\nurl = \"file://{}/\"\nformat = \"{format}\"\n\
             [target]\ndatabase = \"logs\"\nlocation = \"{}\"\ntable_prefix = \"l_\"\n\
             [run]\nmax_errors = {max_errors}\n",
            folder.display(),
            s.uri("tables")
        ),
    )
    .unwrap();
    path.to_str().unwrap().to_string()
}

fn query(s: &Server, sql: &str) -> String {
    let out = s.admin(&["query", "--json", sql]);
    out.ok();
    out.json().to_string()
}

#[test]
fn access_logs_load_new_files_once_and_count_malformed_lines() {
    let s = Server::start();
    s.admin(&["location", "register", &s.uri("")]).ok();
    let web = s.lake.join("src/web");
    std::fs::create_dir_all(&web).unwrap();
    std::fs::write(
        web.join("access.log"),
        "10.0.0.1 - alice [10/Oct/2000:13:55:36 -0700] \"GET /a HTTP/1.1\" 200 2326 \"-\" \"curl/8\"\n\
         this line is not a log line\n\
         10.0.0.2 - - [10/Oct/2000:13:55:37 -0700] \"POST /b HTTP/1.1\" 404 - \"http://r/\" \"Mozilla\"\n",
    )
    .unwrap();

    // A symlink in the folder is never followed (it could point anywhere,
    // here at the server's signing key).
    std::os::unix::fs::symlink(s.data_dir.join("signing.key"), web.join("key.log")).unwrap();

    // One malformed line, none tolerated: the run fails, naming file:line.
    let strict = logs_blueprint(&s, "web", &web, "combined", 0);
    s.admin(&["blueprint", "run", &strict])
        .fails(1, "access.log:2");
    assert!(!s.lake.join("tables").exists());

    let lenient = logs_blueprint(&s, "web", &web, "combined", 1);
    let run = s.admin(&["blueprint", "run", &lenient, "--json"]).json();
    assert_eq!(run["state"], "SUCCEEDED", "{run}");
    assert_eq!(run["rows_written"], 2);
    assert_eq!(run["rows_rejected"], 1);
    assert_eq!(
        query(
            &s,
            "SELECT host, \"user\", time, method, path, status, bytes, user_agent FROM logs.l_web ORDER BY host"
        ),
        r#"[{"host":"10.0.0.1","user":"alice","time":"2000-10-10T20:55:36Z","method":"GET","path":"/a","status":200,"bytes":2326,"user_agent":"curl/8"},{"host":"10.0.0.2","time":"2000-10-10T20:55:37Z","method":"POST","path":"/b","status":404,"user_agent":"Mozilla"}]"#
    );

    // Nothing new: nothing loaded.
    let run = s.admin(&["blueprint", "run", &lenient, "--json"]).json();
    assert_eq!(run["rows_written"], 0, "{run}");

    // A new gzip file: only it is loaded.
    let next = web.join("access.1.log");
    std::fs::write(
        &next,
        "10.0.0.3 - - [11/Oct/2000:00:00:00 +0000] \"GET /c HTTP/1.1\" 200 1 \"-\" \"x\"\n",
    )
    .unwrap();
    gzip(&next);
    let run = s.admin(&["blueprint", "run", &lenient, "--json"]).json();
    assert_eq!(run["rows_written"], 1, "{run}");
    assert_eq!(
        query(&s, "SELECT count(*) AS n FROM logs.l_web"),
        r#"[{"n":3}]"#
    );
}

#[test]
fn json_lines_csv_and_cloudtrail_load_typed_columns() {
    let s = Server::start();
    s.admin(&["location", "register", &s.uri("")]).ok();
    let root = &s.lake.join("src");

    let events = root.join("events");
    std::fs::create_dir_all(&events).unwrap();
    std::fs::write(
        events.join("a.jsonl"),
        "{\"id\": 1, \"name\": \"x\", \"score\": 1.5, \"ok\": true, \"tags\": [\"a\"]}\n\
         {\"id\": 2, \"name\": null, \"score\": 2}\n\
         not json\n",
    )
    .unwrap();
    let file = logs_blueprint(&s, "events", &events, "jsonl", 1);
    s.admin(&["blueprint", "run", &file]).ok();
    let t = s
        .admin(&["table", "describe", "logs.l_events", "--json"])
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
            "name:Utf8",
            "score:Float64",
            "ok:Boolean",
            "tags:Utf8"
        ]
    );
    assert_eq!(
        query(&s, "SELECT id, score, tags FROM logs.l_events ORDER BY id"),
        r#"[{"id":1,"score":1.5,"tags":"[\"a\"]"},{"id":2,"score":2.0}]"#
    );

    let sales = root.join("sales");
    std::fs::create_dir_all(&sales).unwrap();
    std::fs::write(
        sales.join("day1.csv"),
        "Id,Region,Amount\n1,\"eu, west\",10.5\n2,us,3\n3,us\n",
    )
    .unwrap();
    let file = logs_blueprint(&s, "sales", &sales, "csv", 5);
    let run = s.admin(&["blueprint", "run", &file, "--json"]).json();
    assert_eq!(run["rows_rejected"], 1, "{run}");
    assert!(run["error"].as_str().unwrap().is_empty());
    assert_eq!(
        query(
            &s,
            "SELECT id, region, amount FROM logs.l_sales ORDER BY id"
        ),
        r#"[{"id":1,"region":"eu, west","amount":10.5},{"id":2,"region":"us","amount":3.0}]"#
    );

    let trail = root.join("trail");
    std::fs::create_dir_all(&trail).unwrap();
    let doc = trail.join("111111111111_CloudTrail_eu-west-1_20240101T0000Z.json");
    std::fs::write(
        &doc,
        r#"{"Records": [
          {"eventVersion": "1.08", "eventTime": "2024-01-01T00:00:01Z", "eventSource": "s3.amazonaws.com",
           "eventName": "GetObject", "awsRegion": "eu-west-1", "sourceIPAddress": "10.1.1.1",
           "userIdentity": {"type": "IAMUser", "userName": "bob"}, "readOnly": true, "eventID": "e1"},
          {"eventTime": "2024-01-01T00:00:02Z", "eventName": "PutObject", "readOnly": false, "eventID": "e2"}
        ]}"#,
    )
    .unwrap();
    gzip(&doc);
    let file = logs_blueprint(&s, "trail", &trail, "cloudtrail", 0);
    s.admin(&["blueprint", "run", &file]).ok();
    assert_eq!(
        query(
            &s,
            "SELECT event_id, event_time, event_name, read_only, user_identity FROM logs.l_trail ORDER BY event_id"
        ),
        r#"[{"event_id":"e1","event_time":"2024-01-01T00:00:01Z","event_name":"GetObject","read_only":true,"user_identity":"{\"type\":\"IAMUser\",\"userName\":\"bob\"}"},{"event_id":"e2","event_time":"2024-01-01T00:00:02Z","event_name":"PutObject","read_only":false}]"#
    );
}
