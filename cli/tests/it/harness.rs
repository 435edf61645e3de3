//! Starting a server, running the CLI, writing data files.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use tempfile::TempDir;

pub const BIN: &str = env!("CARGO_BIN_EXE_lakegate");
pub const ADMIN: &str = "111111111111:user/admin";
pub const ACCOUNT: &str = "111111111111";

/// A CLI invocation's result.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    #[track_caller]
    pub fn ok(&self) -> &Self {
        assert_eq!(self.code, 0, "expected success, got {self:#?}");
        self
    }
    /// Asserts the exit code and that stderr is `error: ...` containing `needle`.
    #[track_caller]
    pub fn fails(&self, code: i32, needle: &str) -> &Self {
        assert_eq!(self.code, code, "expected exit {code}, got {self:#?}");
        assert!(
            self.stderr.contains(needle),
            "expected stderr to contain {needle:?}, got {self:#?}"
        );
        self
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:#?}"))
    }
}

/// The `grant` arguments for SELECT on `columns` (comma-separated) of
/// `sales.orders` to `principal`.
pub fn grant_orders_args(principal: &str, columns: &str) -> Vec<String> {
    [
        "grant",
        "--principal",
        principal,
        "--permissions",
        "SELECT",
        "--table",
        "sales.orders",
        "--columns",
        columns,
    ]
    .map(String::from)
    .to_vec()
}

/// Runs `lakegate ARGS` with the given endpoint and token.
pub fn run_cli(endpoint: Option<&str>, token: Option<&str>, args: &[&str]) -> Out {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("LAKEGATE_ENDPOINT")
        .env_remove("LAKEGATE_TOKEN")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    if let Some(e) = endpoint {
        cmd.env("LAKEGATE_ENDPOINT", e);
    }
    if let Some(t) = token {
        cmd.env("LAKEGATE_TOKEN", t);
    }
    let out = cmd.output().expect("run lakegate");
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A running `lakegate serve`, killed on drop.
pub struct Server {
    child: Child,
    _stdout: BufReader<ChildStdout>,
    pub endpoint: String,
    pub data_dir: PathBuf,
    /// Where tests put their data files.
    pub lake: PathBuf,
    /// Holds the data directory and the lake; removed on drop.
    _tmp: TempDir,
    pub admin_token: String,
    /// The server's `serve` flags and environment, for [`Server::restart`].
    extra: Vec<String>,
    envs: Vec<(String, String)>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Spawns `lakegate serve` on a free port and waits for its ready line.
/// Returns the child, its stdout reader and the address, or the exit output.
pub fn spawn_serve(
    data_dir: &Path,
    log: &Path,
    extra: &[&str],
) -> Result<(Child, BufReader<ChildStdout>, String), String> {
    spawn_serve_env(data_dir, log, extra, &[])
}

/// [`spawn_serve`] with environment variables for the server.
pub fn spawn_serve_env(
    data_dir: &Path,
    log: &Path,
    extra: &[&str],
    envs: &[(&str, &str)],
) -> Result<(Child, BufReader<ChildStdout>, String), String> {
    let mut args = vec![
        "serve",
        "--data-dir",
        data_dir.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--admin",
        ADMIN,
    ];
    args.extend_from_slice(extra);
    let mut child = Command::new(BIN)
        .args(&args)
        .env_remove("RUST_LOG")
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(File::create(log).unwrap()))
        .spawn()
        .expect("spawn lakegate serve");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut r = BufReader::new(stdout);
        let mut line = String::new();
        let n = r.read_line(&mut line).unwrap_or(0);
        let _ = tx.send((n, line, r));
    });
    match rx.recv_timeout(Duration::from_secs(120)) {
        Ok((n, line, r)) if n > 0 => {
            let addr = line
                .trim_end()
                .strip_prefix("lakegate listening on ")
                .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
                .to_string();
            Ok((child, r, addr))
        }
        Ok(_) => {
            let status = child.wait().unwrap();
            Err(format!(
                "exit {:?}: {}",
                status.code(),
                std::fs::read_to_string(log).unwrap_or_default()
            ))
        }
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "server did not start in time: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            )
        }
    }
}

/// A `lakegate engine` (or other) process; killed on drop.
pub struct Engine(Child);

impl Engine {
    /// Kills `child` on drop.
    pub fn from_child(child: Child) -> Self {
        Self(child)
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `lakegate engine` over `data_dir` (plus `extra` flags) on a free
/// port; returns the process and its address.
/// `extra` may hold `--listen ADDR` (default: a free loopback port).
pub fn spawn_engine_with(data_dir: &Path, extra: &[&str]) -> (Engine, String) {
    let mut args = vec!["engine", "--data-dir", data_dir.to_str().unwrap()];
    if !extra.contains(&"--listen") {
        args.extend(["--listen", "127.0.0.1:0"]);
    }
    args.extend_from_slice(extra);
    let mut child = Command::new(BIN)
        .args(&args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let engine = Engine(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(Duration::from_secs(120)).unwrap();
    let up = line
        .trim()
        .strip_prefix("lakegate engine listening on ")
        .unwrap_or_else(|| panic!("{line:?}"))
        .to_string();
    (engine, up)
}

/// Starts `lakegate engine` over `data_dir` on a free port.
pub fn spawn_engine(data_dir: &Path) -> (Engine, String) {
    spawn_engine_with(data_dir, &[])
}

impl Server {
    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the server process (the data directory stays until drop).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops the server with SIGTERM, as a service manager would, and waits
    /// for it to exit cleanly.
    pub fn terminate(&mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let start = std::time::Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                assert!(st.success(), "exit {st:?}");
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "server did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the server (as `kill -9` would) and starts it again on the same
    /// data directory; the endpoint changes, tokens stay valid.
    pub fn restart(&mut self) {
        self.kill();
        let log = self.data_dir.parent().unwrap().join("server.log");
        let extra: Vec<&str> = self.extra.iter().map(String::as_str).collect();
        let envs: Vec<(&str, &str)> = self
            .envs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let (child, stdout, addr) = spawn_serve_env(&self.data_dir, &log, &extra, &envs)
            .unwrap_or_else(|e| panic!("serve failed: {e}"));
        self.child = child;
        self._stdout = stdout;
        self.endpoint = format!("http://{addr}");
    }

    pub fn start() -> Server {
        Self::start_with(&[])
    }

    /// Like [`Server::start`], with more `serve` flags (e.g. a second
    /// account's `--admin`).
    pub fn start_with(extra: &[&str]) -> Server {
        Self::start_env(extra, &[])
    }

    /// Like [`Server::start_with`], with environment variables for the
    /// server (a blueprint's `password_env`).
    pub fn start_env(extra: &[&str], envs: &[(&str, &str)]) -> Server {
        Self::start_in(tempfile::tempdir().unwrap(), extra, envs)
    }

    /// Like [`Server::start_env`], in `tmp`, which the caller may have
    /// prepared (e.g. a small file system mounted at `tmp/data`).
    pub fn start_in(tmp: TempDir, extra: &[&str], envs: &[(&str, &str)]) -> Server {
        let data_dir = tmp.path().join("data");
        let lake = tmp.path().join("lake");
        std::fs::create_dir_all(&lake).unwrap();
        let log = tmp.path().join("server.log");
        let (child, stdout, addr) = spawn_serve_env(&data_dir, &log, extra, envs)
            .unwrap_or_else(|e| panic!("serve failed: {e}"));
        let mut s = Server {
            child,
            _stdout: stdout,
            endpoint: format!("http://{addr}"),
            data_dir,
            lake,
            _tmp: tmp,
            admin_token: String::new(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            envs: envs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        s.admin_token = s.token(ADMIN, &[]);
        s
    }

    /// Mints a token with `lakegate token`: with the data directory's key,
    /// or the shared store's if the server runs with `--store`.
    pub fn token(&self, principal: &str, groups: &[&str]) -> String {
        let store = self
            .extra
            .iter()
            .position(|a| a == "--store")
            .and_then(|i| self.extra.get(i + 1));
        let mut args = match store {
            Some(url) => vec!["token", "--store", url.as_str()],
            None => vec!["token", "--data-dir", self.data_dir.to_str().unwrap()],
        };
        args.extend(["--principal", principal]);
        for g in groups {
            args.push("--group");
            args.push(g);
        }
        let out = run_cli(None, None, &args);
        out.ok();
        let t = out.stdout.trim().to_string();
        assert!(
            !t.is_empty() && !t.contains(char::is_whitespace),
            "{out:#?}"
        );
        t
    }

    /// Runs the CLI against this server with `token`.
    pub fn cli(&self, token: &str, args: &[&str]) -> Out {
        run_cli(Some(&self.endpoint), Some(token), args)
    }

    /// Runs the CLI as the bootstrap admin.
    pub fn admin(&self, args: &[&str]) -> Out {
        self.cli(&self.admin_token, args)
    }

    /// Grants SELECT on `columns` of `sales.orders` to `principal` as the
    /// admin (see [`grant_orders_args`]); the caller checks the outcome.
    pub fn grant_orders(&self, principal: &str, columns: &str) -> Out {
        let args = grant_orders_args(principal, columns);
        self.admin(&args.iter().map(String::as_str).collect::<Vec<_>>())
    }

    /// Writes blueprint file `NAME.toml` beside the lake; returns its path.
    pub fn blueprint(&self, name: &str, body: &str) -> String {
        let path = self.lake.parent().unwrap().join(format!("{name}.toml"));
        std::fs::write(&path, body).unwrap();
        path.to_str().unwrap().to_string()
    }

    /// `query --json SQL` as `token`, which must succeed; its rows.
    pub fn query_json(&self, token: &str, sql: &str) -> serde_json::Value {
        let out = self.cli(token, &["query", "--json", sql]);
        out.ok();
        out.json()
    }

    /// `file://` URI of a directory under the lake (with trailing `/`).
    pub fn uri(&self, rel: &str) -> String {
        let p = self.lake.join(rel);
        format!("file://{}/", p.to_str().unwrap().trim_end_matches('/'))
    }

    /// Registers the lake, creates database `sales` with tables `orders`
    /// (Parquet, partitioned by region) and `customers` (CSV).
    pub fn setup_sales(&self) {
        write_orders(&self.lake.join("sales/orders"));
        write_customers(&self.lake.join("sales/customers"));
        self.admin(&["location", "register", &self.uri("")]).ok();
        self.admin(&["database", "create", "sales"]).ok();
        self.admin(&[
            "table",
            "create",
            "sales.orders",
            "--location",
            &self.uri("sales/orders"),
            "--partition-keys",
            "region",
        ])
        .ok();
        self.admin(&[
            "table",
            "create",
            "sales.customers",
            "--location",
            &self.uri("sales/customers"),
            "--format",
            "csv",
        ])
        .ok();
    }

    /// Adds Cedar file `name` to the account's governance: exports it as a
    /// policy repository, writes the file there and applies it. The
    /// returned directory holds the repository.
    pub fn apply_cedar(&self, name: &str, text: &str) -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("repo");
        self.admin(&["policy", "export", dir.to_str().unwrap()])
            .ok();
        std::fs::write(dir.join(name), text).unwrap();
        self.admin(&["policy", "apply", dir.to_str().unwrap()]).ok();
        tmp
    }

    /// `permissions list`, `database list` and `table list sales` as JSON:
    /// what a failed command must leave unchanged.
    pub fn state(&self) -> String {
        let p = self.admin(&["permissions", "list", "--json"]);
        p.ok();
        let d = self.admin(&["database", "list", "--json"]);
        d.ok();
        let t = self.admin(&["table", "list", "sales", "--json"]);
        t.ok();
        let l = self.admin(&["location", "list", "--json"]);
        l.ok();
        format!("{}\n{}\n{}\n{}", p.stdout, d.stdout, t.stdout, l.stdout)
    }
}

/// Writes a hive-partitioned Parquet dataset: `region=EU/`, `region=US/`,
/// columns id (Int64), amount (Float64), ssn (Utf8).
pub fn write_orders(dir: &Path) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("amount", DataType::Float64, true),
        Field::new("ssn", DataType::Utf8, true),
    ]));
    for (region, ids) in [("EU", [1i64, 2]), ("US", [3, 4])] {
        let d = dir.join(format!("region={region}"));
        std::fs::create_dir_all(&d).unwrap();
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(ids.to_vec())) as ArrayRef,
                Arc::new(Float64Array::from(vec![10.5, 20.25])) as ArrayRef,
                Arc::new(StringArray::from(vec!["123-45-6789", "987-65-4321"])) as ArrayRef,
            ],
        )
        .unwrap();
        let f = File::create(d.join("part-0.parquet")).unwrap();
        let mut w = ArrowWriter::try_new(f, schema.clone(), None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
    }
}

/// Writes a CSV table: id, name, email.
pub fn write_customers(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("customers.csv"),
        "id,name,email\n1,Ann,ann@example.com\n2,Bo,bo@example.com\n",
    )
    .unwrap();
}

/// Column names of a `table describe --json` output.
pub fn columns(v: &serde_json::Value) -> Vec<String> {
    v["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

/// Entries of `permissions list --json` for a principal.
pub fn entries_of<'a>(v: &'a serde_json::Value, principal: &str) -> Vec<&'a serde_json::Value> {
    v.as_array()
        .unwrap()
        .iter()
        .filter(|e| e["principal"] == principal)
        .collect()
}
