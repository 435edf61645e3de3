//! # lakegate-engine
//!
//! lakegate's embedded query engine: DataFusion over the catalog's tables,
//! served over Flight SQL, plus the schema inference `table create` uses.
//!
//! ```text
//!  table create ──▶ infer::infer_table(location, format) ──▶ Vec<Column> ──▶ catalog
//! ```
//!
//! Key types: [`infer::Inferred`], [`EngineError`].
//!
//! Decisions we made:
//! - We read only `file://` locations, because the embedded engine is the
//!   single-machine default; other stores are served by an upstream engine.
//! - We never lower-case column names found in files, because a query must
//!   name exactly the column the files hold; a non-identifier name is an
//!   error at `table create`, not a surprise at query time.
//! - Parquet strings are `Utf8`, not `Utf8View`, because the catalog records
//!   `Utf8` and many Flight SQL clients do not understand view types.

pub mod error;
mod format;
pub mod infer;

pub use error::EngineError;
