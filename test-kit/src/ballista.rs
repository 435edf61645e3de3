//! A real Apache DataFusion Ballista cluster on loopback: one scheduler with
//! its Flight SQL endpoint (`--flight-sql`) and two executors, from the
//! binaries `.ci/run` installs (`scripts/install-ballista`). Stopped when
//! dropped.
//!
//! The binaries are looked up in `LAKEGATE_BALLISTA_BIN`, else in
//! `${LAKEGATE_TOOLS:-$HOME/.cache/lakegate-tools}/ballista-VERSION/bin`;
//! a test that needs them and finds none fails and says how to install
//! them, rather than passing without Ballista.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The Ballista release `scripts/install-ballista` installs.
pub const VERSION: &str = "55.0.0";

/// A running cluster: scheduler and executors, each a child process.
#[derive(Debug)]
pub struct BallistaCluster {
    scheduler: SocketAddr,
    /// The scheduler process (`None` while stopped).
    scheduler_process: Option<Child>,
    executors: Vec<Child>,
    dir: tempfile::TempDir,
}

impl BallistaCluster {
    /// Starts a scheduler and `executors` executors, and waits until each
    /// listens.
    pub fn start(executors: usize) -> Self {
        let bin = bin_dir();
        for name in ["ballista-scheduler", "ballista-executor"] {
            assert!(
                bin.join(name).is_file(),
                "{} is missing: install Ballista {VERSION} with scripts/install-ballista (.ci/run \
                 does), or point LAKEGATE_BALLISTA_BIN at a folder holding ballista-scheduler \
                 and ballista-executor built with the flight-sql feature",
                bin.join(name).display()
            );
        }
        let dir = tempfile::tempdir().expect("a folder for Ballista");
        let scheduler = free_addr();
        let mut cluster = Self {
            scheduler,
            scheduler_process: None,
            executors: Vec::new(),
            dir,
        };
        let port = scheduler.port().to_string();
        cluster.scheduler_process = Some(cluster.start_scheduler("scheduler"));
        for i in 0..executors {
            let (flight, grpc, health) = (free_addr(), free_addr(), free_addr());
            let work = cluster.dir.path().join(format!("executor-{i}"));
            std::fs::create_dir_all(&work).expect("executor work folder");
            let executor = cluster.command(
                &format!("executor-{i}"),
                Command::new(bin.join("ballista-executor")).args([
                    "--bind-host",
                    "127.0.0.1",
                    "--external-host",
                    "127.0.0.1",
                    "--bind-port",
                    &flight.port().to_string(),
                    "--bind-grpc-port",
                    &grpc.port().to_string(),
                    "--bind-health-port",
                    &health.port().to_string(),
                    "--scheduler-host",
                    "127.0.0.1",
                    "--scheduler-port",
                    &port,
                    "--scheduler-connect-timeout-seconds",
                    "30",
                    "--vcores",
                    "2",
                    // A restarted scheduler learns of its executors from
                    // their next heartbeat (default every 60 s).
                    "--executor-heartbeat-interval-seconds",
                    "2",
                    "--work-dir",
                    &work.display().to_string(),
                ]),
            );
            let executor = wait_for(flight, "a Ballista executor", executor);
            cluster.executors.push(executor);
        }
        cluster
    }

    /// The scheduler's Flight SQL endpoint, as `--upstream` takes it.
    pub fn url(&self) -> String {
        format!("grpc://{}", self.scheduler)
    }

    /// Stops the scheduler only (executors keep running), as a crash would.
    pub fn stop_scheduler(&mut self) {
        if let Some(mut c) = self.scheduler_process.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the scheduler again on the same port; its sessions are gone.
    pub fn restart_scheduler(&mut self) {
        self.stop_scheduler();
        self.scheduler_process = Some(self.start_scheduler("scheduler-again"));
    }

    /// Starts the scheduler with Flight SQL on its port, and waits until it
    /// listens.
    fn start_scheduler(&self, log: &str) -> Child {
        let child = self.command(
            log,
            Command::new(bin_dir().join("ballista-scheduler")).args([
                "--bind-host",
                "127.0.0.1",
                "--external-host",
                "127.0.0.1",
                "--bind-port",
                &self.scheduler.port().to_string(),
                "--flight-sql",
            ]),
        );
        wait_for(self.scheduler, "the Ballista scheduler", child)
    }

    /// What the cluster's processes wrote (for a failing test's message).
    pub fn logs(&self) -> String {
        let mut out = String::new();
        if let Ok(entries) = std::fs::read_dir(self.dir.path()) {
            for e in entries.flatten() {
                if e.path().extension().is_some_and(|x| x == "log") {
                    let text = std::fs::read_to_string(e.path()).unwrap_or_default();
                    let tail: Vec<&str> = text.lines().rev().take(30).collect();
                    out.push_str(&format!("--- {}\n", e.path().display()));
                    for l in tail.into_iter().rev() {
                        out.push_str(l);
                        out.push('\n');
                    }
                }
            }
        }
        out
    }

    fn command(&self, name: &str, cmd: &mut Command) -> Child {
        let log = std::fs::File::create(self.dir.path().join(format!("{name}.log")))
            .expect("a Ballista log file");
        let err = log.try_clone().expect("a Ballista log file");
        cmd.current_dir(self.dir.path())
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start Ballista's {name}: {e}"))
    }
}

impl Drop for BallistaCluster {
    fn drop(&mut self) {
        for c in self.executors.iter_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.stop_scheduler();
    }
}

/// Where the Ballista binaries are.
pub fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("LAKEGATE_BALLISTA_BIN") {
        return PathBuf::from(dir);
    }
    let tools = std::env::var_os("LAKEGATE_TOOLS").map_or_else(
        || {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/lakegate-tools")
        },
        PathBuf::from,
    );
    tools.join(format!("ballista-{VERSION}")).join("bin")
}

fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
}

/// Waits until `addr` accepts connections, then hands `child` back; kills
/// it (and fails) if it does not within a minute.
fn wait_for(addr: SocketAddr, what: &str, mut child: Child) -> Child {
    let until = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if Instant::now() >= until || child.try_wait().ok().flatten().is_some() {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not listen on {addr} within 60 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // Something listens; if our process died meanwhile, it is another's
    // (the port was free when picked, then released for the child).
    std::thread::sleep(Duration::from_millis(200));
    if child.try_wait().ok().flatten().is_some() {
        panic!("{what} exited; another process took {addr}");
    }
    child
}
