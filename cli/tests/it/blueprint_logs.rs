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

/// moto's S3-compatible server on a free loopback port, stopped on drop.
struct Moto(std::process::Child, u16);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn s3_put(py: &str, port: u16, bucket: &str, key: &str, body: &str) {
    let script = "import sys, boto3\n\
        s3 = boto3.client('s3', endpoint_url=sys.argv[1], aws_access_key_id='test', \
        aws_secret_access_key='test', region_name='us-east-1')\n\
        try:\n    s3.create_bucket(Bucket=sys.argv[2])\nexcept Exception:\n    pass\n\
        s3.put_object(Bucket=sys.argv[2], Key=sys.argv[3], Body=sys.argv[4].encode())\n";
    let out = Command::new(py)
        .args([
            "-c",
            script,
            &format!("http://127.0.0.1:{port}"),
            bucket,
            key,
            body,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn logs_load_from_an_s3_compatible_server() {
    let Ok(py) = std::env::var("LAKEGATE_PYTHON") else {
        eprintln!("LAKEGATE_PYTHON is not set (scripts/test sets it): skipping the S3 test");
        return;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let moto = Moto(
        Command::new(&py)
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
        port,
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", moto.1)).is_err() {
        assert!(std::time::Instant::now() < deadline, "moto did not start");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let line = |n: u32| {
        format!(
            "10.0.0.{n} - - [10/Oct/2000:13:55:36 -0700] \"GET /{n} HTTP/1.1\" 200 1 \"-\" \"x\"\n"
        )
    };
    s3_put(&py, port, "logs", "web/a.log", &(line(1) + &line(2)));
    s3_put(&py, port, "logs", "other/skip.log", &line(9));
    let endpoint = format!("http://127.0.0.1:{port}");
    let s = Server::start_env(
        &[],
        &[
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ENDPOINT", &endpoint),
            ("AWS_ALLOW_HTTP", "true"),
        ],
    );
    s.admin(&["location", "register", &s.uri("")]).ok();
    let file = s.lake.parent().unwrap().join("s3.toml");
    std::fs::write(
        &file,
        format!(
            "name = \"s3web\"\nkind = \"logs\"\n[source]\nurl = \"s3://logs/web/\"\nformat = \"combined\"\n\
             [target]\ndatabase = \"logs\"\nlocation = \"{}\"\ntable_prefix = \"s3_\"\n",
            s.uri("tables")
        ),
    )
    .unwrap();
    let file = file.to_str().unwrap().to_string();
    // The bucket is not a registered location yet: refused before reading.
    s.admin(&["blueprint", "run", &file])
        .fails(1, "not inside any registered data location");
    s.admin(&["location", "register", "s3://logs/"]).ok();
    let run = s.admin(&["blueprint", "run", &file, "--json"]).json();
    assert_eq!(run["state"], "SUCCEEDED", "{run}");
    assert_eq!(run["rows_written"], 2);
    s3_put(&py, port, "logs", "web/b.log", &line(3));
    let run = s.admin(&["blueprint", "run", &file, "--json"]).json();
    assert_eq!(run["rows_written"], 1, "{run}");
    assert_eq!(
        query(&s, "SELECT host FROM logs.s3_web ORDER BY host"),
        r#"[{"host":"10.0.0.1"},{"host":"10.0.0.2"},{"host":"10.0.0.3"}]"#
    );
}
