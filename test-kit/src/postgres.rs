//! A real PostgreSQL server for one test: Debian's `postgresql` package,
//! initialised in a temporary folder, listening on a free loopback port.
//!
//! Password authentication is on for TCP (SCRAM), so tests can check a
//! wrong password; the superuser `postgres` connects over the server's own
//! socket folder without one (for set-up). `.ci/run` installs the package.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A running PostgreSQL server; stopped when dropped.
pub struct PgServer {
    dir: tempfile::TempDir,
    bin: PathBuf,
    /// The TCP port on 127.0.0.1.
    pub port: u16,
}

/// The folder with `initdb`, `pg_ctl` and `psql` of the newest installed
/// PostgreSQL.
fn bin_dir() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .collect()
        })
        .unwrap_or_default();
    versions.sort();
    versions
        .pop()
        .filter(|b| b.join("initdb").exists())
        .unwrap_or_else(|| {
            panic!(
                "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb); \
                 `.ci/run` installs Debian's `postgresql` package"
            )
        })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Runs a PostgreSQL program as the `postgres` user when we are root
/// (PostgreSQL refuses to run as root).
fn pg_command(bin: &Path, program: &str) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin.join(program));
        c
    } else {
        Command::new(bin.join(program))
    }
}

fn run(mut c: Command, what: &str) -> String {
    let out = c.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl PgServer {
    /// Initialises and starts a server.
    pub fn start() -> PgServer {
        let bin = bin_dir();
        let dir = tempfile::Builder::new()
            .prefix("lakegate-pg")
            .tempdir()
            .unwrap();
        if is_root() {
            run(
                {
                    let mut c = Command::new("chown");
                    c.args(["-R", "postgres:postgres"]).arg(dir.path());
                    c
                },
                "chown",
            );
        }
        let data = dir.path().join("data");
        let mut init = pg_command(&bin, "initdb");
        init.args([
            "-U",
            "postgres",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
            "--no-sync",
            "-D",
        ])
        .arg(&data);
        run(init, "initdb");
        let port = crate::free_port();
        let server = PgServer { dir, bin, port };
        server.start_again();
        server
    }

    /// Starts the server again after [`PgServer::stop`], on the same port.
    pub fn start_again(&self) {
        let mut start = pg_command(&self.bin, "pg_ctl");
        start
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-w", "-l"])
            .arg(self.dir.path().join("log"))
            .arg("-o")
            .arg(format!(
                "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off",
                self.port,
                self.dir.path().display()
            ))
            .arg("start");
        run(start, "pg_ctl start");
    }

    /// Stops the server at once (`pg_ctl stop -m immediate`): connections
    /// break as in an outage.
    pub fn stop(&self) {
        let mut stop = pg_command(&self.bin, "pg_ctl");
        stop.arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "-w", "stop"]);
        run(stop, "pg_ctl stop");
    }

    /// Turns TLS on with this certificate and key (PEM), and restarts the
    /// server; clients may then use `sslmode=require`.
    pub fn enable_tls(&self, cert_pem: &str, key_pem: &str) {
        let data = self.dir.path().join("data");
        std::fs::write(data.join("server.crt"), cert_pem).unwrap();
        std::fs::write(data.join("server.key"), key_pem).unwrap();
        if is_root() {
            let mut c = Command::new("chown");
            c.args(["postgres:postgres"])
                .arg(data.join("server.crt"))
                .arg(data.join("server.key"));
            run(c, "chown");
        }
        let mut c = Command::new("chmod");
        c.arg("600").arg(data.join("server.key"));
        run(c, "chmod");
        self.sql("postgres", "ALTER SYSTEM SET ssl = on");
        self.stop();
        self.start_again();
    }

    /// Runs SQL as the superuser in database `db`; returns psql's output
    /// (unaligned, tuples only).
    pub fn sql(&self, db: &str, sql: &str) -> String {
        let mut c = pg_command(&self.bin, "psql");
        c.args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-U",
            "postgres",
            "-h",
        ])
        .arg(self.dir.path())
        .args(["-p", &self.port.to_string(), "-d", db, "-c", sql]);
        run(c, "psql")
    }

    /// Creates a login role with a password and a database it owns.
    pub fn create_user_db(&self, user: &str, password: &str, db: &str) {
        self.sql(
            "postgres",
            &format!("CREATE ROLE {user} LOGIN PASSWORD '{password}'"),
        );
        self.sql("postgres", &format!("CREATE DATABASE {db} OWNER {user}"));
    }

    /// `postgres://USER@127.0.0.1:PORT/DB`.
    pub fn url(&self, user: &str, db: &str) -> String {
        format!("postgres://{user}@127.0.0.1:{}/{db}", self.port)
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let mut stop = pg_command(&self.bin, "pg_ctl");
        stop.arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "-w", "stop"]);
        let _ = stop.output();
    }
}
