//! The governance API's wire types and gRPC stubs, generated at build time
//! from `proto/lakegate/v1/governance.proto` (see `build.rs`), and their
//! conversions to and from `policy_engine` types.
//!
//! Every message mirrors one `policy_engine::governance` type; module
//! `convert` is the only place the two meet. Generated code is exempt from
//! the workspace's documentation and panic lints.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use policy_engine::Error;
use policy_engine::model::Format as PeFormat;

tonic::include_proto!("lakegate.v1");

/// Serializes a `Format` field (an `i32` on the wire) by name, for JSON output.
pub fn serialize_format<S: serde::Serializer>(v: &i32, s: S) -> Result<S::Ok, S::Error> {
    match Format::try_from(*v) {
        Ok(Format::Parquet) | Ok(Format::Unspecified) => s.serialize_str("parquet"),
        Ok(Format::Csv) => s.serialize_str("csv"),
        Ok(Format::Json) => s.serialize_str("json"),
        Err(_) => s.serialize_i32(*v),
    }
}

impl Format {
    /// The policy engine's format; `FORMAT_UNSPECIFIED` means Parquet.
    pub fn to_model(self) -> PeFormat {
        match self {
            Format::Unspecified | Format::Parquet => PeFormat::Parquet,
            Format::Csv => PeFormat::Csv,
            Format::Json => PeFormat::Json,
        }
    }

    /// Decodes a wire value, rejecting values this build does not know.
    pub fn decode(v: i32) -> Result<PeFormat, Error> {
        Format::try_from(v).map(Format::to_model).map_err(|_| {
            Error::invalid(format!(
                "format number {v} is not known; use parquet, csv or json"
            ))
        })
    }
}
