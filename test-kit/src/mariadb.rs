//! A real MariaDB server for one test: Debian's `mariadb-server` package,
//! initialised in a temporary folder, listening on a free loopback port.
//!
//! TCP logins need a password; `root` connects over the server's own socket
//! without one (for set-up). `.ci/run` installs the package.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running MariaDB server; stopped when dropped.
pub struct MariaServer {
    dir: tempfile::TempDir,
    child: Child,
    /// The TCP port on 127.0.0.1.
    pub port: u16,
}

fn program(name: &str) -> PathBuf {
    ["/usr/sbin", "/usr/bin"]
        .iter()
        .map(|d| PathBuf::from(d).join(name))
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            panic!("MariaDB is not installed (no {name}); `.ci/run` installs `mariadb-server`")
        })
}

impl MariaServer {
    /// Initialises and starts a server.
    pub fn start() -> MariaServer {
        let dir = tempfile::Builder::new()
            .prefix("lakegate-maria")
            .tempdir()
            .unwrap();
        let data = dir.path().join("data");
        let out = Command::new(program("mariadb-install-db"))
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .args([
                "--user=root",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mariadb-install-db failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let port = crate::free_port();
        let log = std::fs::File::create(dir.path().join("log")).unwrap();
        let child = Command::new(program("mariadbd"))
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--socket={}", dir.path().join("sock").display()))
            .arg(format!("--pid-file={}", dir.path().join("pid").display()))
            .arg(format!("--port={port}"))
            .args([
                "--user=root",
                "--bind-address=127.0.0.1",
                "--skip-name-resolve",
                "--skip-log-bin",
                "--innodb-flush-log-at-trx-commit=0",
                "--innodb-buffer-pool-size=64M",
                "--character-set-server=utf8mb4",
            ])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let s = MariaServer { dir, child, port };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if s.try_sql("", "SELECT 1").is_ok() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "MariaDB did not start: {}",
                std::fs::read_to_string(s.dir.path().join("log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        s
    }

    fn try_sql(&self, db: &str, sql: &str) -> Result<String, String> {
        let mut c = Command::new(program("mariadb"));
        c.arg("--no-defaults")
            .arg(format!(
                "--socket={}",
                self.dir.path().join("sock").display()
            ))
            .args(["-u", "root", "-N", "-B", "-e", sql]);
        if !db.is_empty() {
            c.args(["-D", db]);
        }
        let out = c.output().map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Runs SQL as `root` in database `db`; returns the client's output
    /// (tab-separated, no column names).
    pub fn sql(&self, db: &str, sql: &str) -> String {
        self.try_sql(db, sql)
            .unwrap_or_else(|e| panic!("mariadb: {e}"))
    }

    /// Creates database `db` and a TCP login that may only read it.
    pub fn create_reader(&self, user: &str, password: &str, db: &str) {
        self.sql(
            "",
            &format!(
                "CREATE DATABASE {db} CHARACTER SET utf8mb4;
                 CREATE USER '{user}'@'%' IDENTIFIED BY '{password}';
                 GRANT SELECT, SHOW VIEW ON {db}.* TO '{user}'@'%';"
            ),
        );
    }

    /// `mysql://USER@127.0.0.1:PORT/DB`.
    pub fn url(&self, user: &str, db: &str) -> String {
        format!("mysql://{user}@127.0.0.1:{}/{db}", self.port)
    }
}

impl Drop for MariaServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
