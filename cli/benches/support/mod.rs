//! What the process benches share: the `lakegate` binary, running its CLI,
//! and reading a process's memory from `/proc`.

use std::process::{Command, Stdio};

/// The `lakegate` binary cargo built for these benches.
pub const BIN: &str = env!("CARGO_BIN_EXE_lakegate");

/// Runs `lakegate ARGS` to completion; returns stdout, panics with stderr.
pub fn lakegate(endpoint: Option<&str>, token: Option<&str>, args: &[&str]) -> String {
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
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "lakegate {args:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `VmHWM` and `VmRSS` of a process (`PID` or `self`), in KiB.
pub fn mem_kib(pid: &str) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|r| r.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}
