//! lakegate blueprints (DESIGN §7): ingestion workflows that write Delta
//! Lake tables into registered locations.
//!
//! This crate holds, so far, the blueprint file ([`spec`]), schedules
//! ([`cron`]) and table selection ([`select`]). Sources, the Delta writer, runs and the scheduler are not
//! built yet (issue 11).

pub mod cron;
pub mod select;
pub mod spec;

pub use cron::{CronError, Schedule};
pub use spec::{Blueprint, Kind, SpecError};
