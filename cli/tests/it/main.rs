//! End-to-end tests of the `lakegate` binary: each test starts a real
//! `lakegate serve` on a free port with its own data directory, mints tokens
//! with `lakegate token`, and drives the CLI as a user would.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs,
    reason = "test code: a panic is a failed test, and test items are not API"
)]

mod admin_flow;
mod audit;
mod auth;
mod bad_input;
mod blueprint_kills;
mod blueprint_logs;
mod blueprint_mysql;
mod blueprint_schedule;
mod blueprints;
mod crash;
mod crawl;
mod cross_account;
mod data_filters;
mod explain;
mod grant_option;
mod harness;
mod leaks;
mod lf_tags;
mod limits;
mod policy;
mod query_path;
mod scale_out;
mod security;
mod startup;
mod store_faults;
mod stream_faults;
