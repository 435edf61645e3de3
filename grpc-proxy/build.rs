//! Generates the governance API's Rust code from `proto/lakegate/v1/governance.proto`.
//!
//! We use the protoc binary vendored by `protoc-bin-vendored`, so building
//! lakegate never needs a system `protoc`.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("..");
    let proto_dir = root.join("proto");
    let proto = proto_dir.join("lakegate/v1/governance.proto");
    println!("cargo:rerun-if-changed={}", proto.display());

    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // Sorted maps: deterministic output in the CLI and in tests.
        .btree_map(".")
        // The CLI prints responses as JSON with `--json`.
        .type_attribute(".lakegate.v1", "#[derive(serde::Serialize)]")
        .type_attribute(
            ".lakegate.v1.ResourceSpec.kind",
            "#[serde(rename_all = \"snake_case\")]",
        )
        // `{"table": {...}}` rather than `{"kind": {"table": {...}}}`.
        .message_attribute(".lakegate.v1.ResourceSpec", "#[serde(transparent)]")
        .field_attribute(
            ".lakegate.v1.Table.format",
            "#[serde(serialize_with = \"crate::proto::serialize_format\")]",
        )
        .compile_with_config(config, &[proto], &[proto_dir])?;
    Ok(())
}
