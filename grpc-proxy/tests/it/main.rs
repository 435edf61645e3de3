//! grpc-proxy's integration tests, in one binary: each links the whole
//! server and DataFusion, and one binary instead of four saves about 1 GB of
//! disk and three links per build.
//!
//! - `flight`: the Flight SQL proxy through a real Flight SQL client;
//! - `leaks`: regression tests for the red-team pass's leak classes;
//! - `limits`: bounds and bindings of tickets, handles, memory and time;
//! - `query_path`: the query path's correctness rules;
//! - `jwks`: identity provider tokens (RS256, ES256), key rotation;
//! - `scale_out`: two nodes on one PostgreSQL store, /metrics and /healthz;
//! - `upstream_tls`: a grpcs:// upstream verified against its CA;
//! - `ballista`: a real Ballista cluster as the upstream;
//! - `hardening`: the audit written before data flows, result and concurrency limits.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs,
    reason = "test code: a panic is a failed test, and test items are not API"
)]

mod ballista;
mod flight;
mod hardening;
mod jwks;
mod leaks;
mod limits;
mod query_path;
mod scale_out;
mod upstream_tls;
