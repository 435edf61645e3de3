//! lakegate blueprints (DESIGN §7): ingestion workflows that write Delta
//! Lake tables into registered locations.
//!
//! - [`spec`]: the blueprint file; [`cron`]: schedules; [`select`]: table
//!   selection.
//! - [`source`]: database sources (PostgreSQL, MySQL/MariaDB, SQLite) read into Arrow
//!   ([`columns`] maps their types).
//! - [`logs`]: log files from `file://` folders and `s3://` prefixes
//!   ([`logs::formats`] parses each format's lines).
//! - [`delta`]: Delta Lake targets, one commit per table per run with the
//!   bookmark inside it; [`run`]: one run of a blueprint, against the
//!   [`run::Governance`] the server implements with the caller's rights.
//! - [`runs`]: run records; [`fault`]: the commit delay crash tests use.
//!
//! The crawler (`lakegate crawl`) lives in the engine (`lakegate_engine::crawl`),
//! which reads the folders, and the governance layer, which registers.

pub mod columns;
pub mod cron;
pub mod delta;
pub mod fault;
pub mod logs;
pub mod run;
pub mod runs;
pub mod select;
pub mod source;
pub mod spec;

pub use cron::{CronError, Schedule};
pub use spec::{Blueprint, Kind, SpecError};
