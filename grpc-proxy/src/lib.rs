//! # grpc-proxy
//!
//! lakegate's network front door: one gRPC port that authenticates every
//! caller and serves the governance admin API (and, later, the Flight SQL
//! proxy) over the policy engine.
//!
//! ```text
//!  lakegate CLI ──gRPC, authorization: Bearer JWT──▶ ┌───────────── grpc-proxy ─────────────┐
//!  (Flight SQL clients, later) ─────────────────────▶ │ server::routes  (one tonic port)     │
//!                                                     │   auth::Authenticator ─▶ Caller      │
//!                                                     │   governance::GovernanceService      │
//!                                                     │     spawn_blocking ─▶ policy-engine  │
//!                                                     │     CreateTable ─▶ engine::infer     │
//!                                                     │   status::from_error (errors→Status) │
//!                                                     └──────────────┬───────────────────────┘
//!                                                                    ▼
//!                                        policy_engine::Governance over SqliteStore
//!                                        (DATA_DIR/lakegate.db; key in DATA_DIR/signing.key)
//! ```
//!
//! Key types: [`server::ServerConfig`], [`server::AppState`] (the shared
//! `Arc<policy_engine::Governance>` and [`auth::Authenticator`]),
//! [`server::routes`] (every service on the port), [`governance::GovernanceService`],
//! [`auth::mint_token`] / [`auth::verify`], [`status::from_error`], and the
//! generated wire types in [`proto`].
//!
//! Decisions we made:
//! - We authenticate inside each RPC handler (first line, returning the
//!   [`policy_engine::Caller`]) rather than in a layer that stashes an
//!   optional caller in request extensions, because a handler that forgot to
//!   look could otherwise run unauthenticated; here a handler cannot get a
//!   caller without verifying the token.
//! - We map policy-engine errors to gRPC statuses in exactly one function
//!   ([`status::from_error`]) with an exhaustive match, because a new error
//!   kind must be given a status code deliberately, and internal details must
//!   go to the log, never to the client.
//! - We run policy-engine calls on tokio's blocking pool, because they do
//!   SQLite I/O and must not stall the async workers that serve other calls.
//! - For `CreateTable` we check the caller's rights before inferring the
//!   schema, because inference reads files: a denied caller must not be able
//!   to make the server read (or time) a location.
//! - We sign development tokens with HS256 and a 32-byte key created once in
//!   the data directory (mode 0600), because `lakegate token` must work
//!   offline against the same directory; production deployments would verify
//!   an identity provider's tokens instead (DESIGN §5).
//! - We generate the protobuf code at build time with a vendored `protoc`
//!   (`protoc-bin-vendored`), because the build must not need a system
//!   `protoc`.
//! - We bind tickets and prepared-statement handles to the whole caller
//!   (a digest of principal, groups and attributes, see
//!   [`flight_tickets::caller_fingerprint`]) and to the token's `exp`,
//!   because a ticket made with one token must never return its view to
//!   another token of the same `sub`, nor outlive the token.
//! - We keep plans for tickets in a cache bounded by estimated bytes per
//!   principal and in total ([`plan_cache`]), because a plan is only an
//!   optimisation (a ticket re-plans from its sealed SQL), so evicting is
//!   always safe, and keeping plans without bound let any caller exhaust
//!   memory.
//! - Every bound (token lifetime, statement time and memory, plan cache) is
//!   a field of [`server::Limits`] and a `lakegate serve` flag.
//! - We print `lakegate listening on ADDR` only after the port is bound, with
//!   the bound address, because scripts and tests start the server on port 0
//!   and read the line to learn where to connect.

pub mod audit;
pub mod auth;
mod convert;
mod crawl_rpc;
pub mod demo;
pub mod error;
pub mod flight;
pub mod flight_tickets;
pub mod governance;
pub mod ingest;
mod ingest_rpc;
pub mod metrics;
mod ops_http;
pub mod plan_cache;
pub mod proto;
mod repo_rpc;
pub mod schedule;
pub mod server;
pub mod status;
pub mod store;
pub mod upstream;

pub use error::{Error, Result};

/// Makes ring the process's rustls crypto provider (idempotent). The Delta
/// Lake crate's HTTP client brings a second provider (aws-lc-rs) into the
/// build, and rustls then refuses to choose one itself, so every TLS
/// configuration tonic builds needs this first. Called by
/// [`AppState::open`] and the CLI's `main`.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
pub use server::{AppState, ServerConfig, routes, serve};
