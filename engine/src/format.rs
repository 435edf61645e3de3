//! File formats and the session settings every part of the engine shares.

use std::sync::Arc;

use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::csv::CsvFormat;
use datafusion::datasource::file_format::json::JsonFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::execution::context::SessionConfig;
use policy_engine::model::Format;

/// The DataFusion file format and the file extension for a catalog format.
///
/// Parquet strings are read as `Utf8`/`Binary`, not the view types, because
/// the catalog records `Utf8` and many Flight SQL clients (JDBC, older
/// pyarrow) do not understand `Utf8View`.
pub(crate) fn file_format(format: Format) -> (Arc<dyn FileFormat>, &'static str) {
    match format {
        Format::Parquet => (
            Arc::new(ParquetFormat::default().with_force_view_types(false)),
            ".parquet",
        ),
        Format::Csv => (Arc::new(CsvFormat::default().with_has_header(true)), ".csv"),
        Format::Json => (Arc::new(JsonFormat::default()), ".json"),
        // Only for listing: Delta tables are read through their log.
        Format::Delta => (
            Arc::new(ParquetFormat::default().with_force_view_types(false)),
            ".parquet",
        ),
    }
}

/// The session configuration of every engine context: no information
/// schema, no URL tables, no Parquet filter pushdown inside the decoder, no
/// view types.
pub(crate) fn session_config() -> SessionConfig {
    let mut cfg = SessionConfig::new().with_information_schema(false);
    let opts = cfg.options_mut();
    opts.execution.parquet.pushdown_filters = false;
    opts.execution.parquet.schema_force_view_types = false;
    opts.execution.parquet.binary_as_string = false;
    opts.sql_parser.map_string_types_to_utf8view = false;
    cfg
}
