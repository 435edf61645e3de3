//! # lakegate test kit
//!
//! One in-process server builder for the integration tests, the benches and
//! the conformance runner, so that they start lakegate the same way:
//!
//! ```text
//!  Builder ──open()──▶ Staged ──serve()──▶ TestServer
//!  (admins, upstream,   (store open; build   (proxy on loopback; tokens,
//!   TLS, limits,         the catalog, write   Flight SQL clients, grants;
//!   deployment)          the lake)            sidecar() for a second proxy)
//! ```
//!
//! A [`Deployment::Sidecar`] server is the proxy with `--upstream` in front
//! of `lakegate engine` (the embedded engine served alone) over the same
//! store, both in this process. Anything that must not run in process (the
//! CLI, separate-process benchmarks) spawns the `lakegate` binary instead.
//!
//! The kit is test infrastructure: a failure to start is a failed test, so
//! it panics with what went wrong rather than returning errors.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test infrastructure: a panic is a failed test with the reason in it"
)]

pub mod ballista;
pub mod engine;
pub mod flight;
pub mod lake;
pub mod mariadb;
pub mod postgres;
pub mod server;

pub use engine::EngineServer;
pub use flight::{connect, fetch, names, r, rows, status};
pub use mariadb::MariaServer;
pub use postgres::PgServer;
pub use server::{
    ADMIN, BOTH, Builder, Deployment, Staged, TestServer, admin, grant_select, table,
};

/// A loopback port that was free a moment ago (another process may take it
/// before the caller binds it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}
