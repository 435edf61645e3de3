//! # lakegate-engine
//!
//! lakegate's embedded query engine: DataFusion over the catalog's tables,
//! served over Flight SQL, plus the schema inference `table create` uses.
//!
//! ```text
//!  table create ──▶ infer::infer_table(location, format) ──▶ Vec<Column> ──▶ catalog
//!
//!  catalog snapshot ──Engine::refresh──▶ Engine: "ACCOUNT"."DB"."TABLE" ListingTables
//!                                          │
//!  grpc-proxy (in process) ──execute_secured(sql, [SecuredTable])──▶ per-query session
//!        rewritten SQL names __lg_tN           │  holding only SecureTable providers:
//!                                              │  scan → row filter → masks/cells
//!                                              │  under a SecureBoundaryExec
//!  lakegate engine ──Flight SQL──▶ EngineFlightService ──execute(sql)──▶ plain session
//! ```
//!
//! Key types: [`Engine`], [`SecuredTable`], [`SecureBoundaryExec`],
//! [`EngineFlightService`] / [`serve_engine`],
//! [`infer::Inferred`], [`EngineError`].
//!
//! Decisions we made:
//! - We apply row filters, cell conditions and masks inside the scan, under
//!   an execution node that refuses every pushdown from above, because a
//!   user expression evaluated on a hidden row can leak it through an error
//!   (`1/(CASE WHEN region='US' THEN 0 ELSE 1 END)`); DataFusion's optimizer
//!   may otherwise reorder or merge the user's filter with ours.
//! - We report user filters as `Inexact` (never `Exact`) and only when they
//!   are plain comparisons on unmasked columns, because they are used for
//!   partition and row-group pruning only; the user's filter always stays
//!   above the boundary.
//! - A secured query runs in a session that holds only its secured tables,
//!   because a rewrite bug must fail ("table not found"), not read raw data.
//! - The keyed hash mask is embedded in plans but not registered by name,
//!   because a callable hash would let users hash guessed values and compare.
//! - We refuse Parquet files whose columns differ from the catalog (checked
//!   as each file is opened) and CSV files whose header differs (checked once
//!   per file version before a scan), because DataFusion would fill missing
//!   columns with NULLs, cast changed types, or read CSV values by position.
//! - We read exactly the files DataFusion reads: those directly under the
//!   location or under `key=value/` folders; other subfolders are ignored.
//! - We read only `file://` locations, because the embedded engine is the
//!   single-machine default; other stores are served by an upstream engine.
//! - We never lower-case column names found in files, because a query must
//!   name exactly the column the files hold; a non-identifier name is an
//!   error at `table create`, not a surprise at query time.
//! - Parquet strings are `Utf8`, not `Utf8View`, because the catalog records
//!   `Utf8` and many Flight SQL clients do not understand view types.
//! - Every statement runs under its own memory pool (a per-statement limit)
//!   drawing from one shared pool (a total limit), with a deadline, and
//!   `repeat`/`lpad`/`rpad`/`array_repeat` refuse outputs over the
//!   per-statement limit, because scalar functions allocate outside the pool
//!   (see [`limits`]).
//! - The file-listing cache is off, because files written by blueprints must
//!   show up in the next query.

mod bounded;
pub mod crawl;
pub mod ddl;
pub mod delta;
mod engine;
pub mod error;
mod flight;
mod format;
pub mod infer;
pub mod limits;
mod masks;
mod positional;
mod secure;
mod tables;

pub use datafusion::execution::SendableRecordBatchStream;
pub use engine::{Engine, Query, TableInfo};
pub use error::EngineError;
pub use flight::{EngineFlightService, serve_engine, status};
pub use limits::EngineLimits;
pub use secure::{SecureBoundaryExec, SecuredTable};
