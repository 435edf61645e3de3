//! `lakegate engine`: the embedded DataFusion engine alone, as a plain,
//! unprotected Flight SQL server over the catalog's tables — the upstream of
//! a sidecar deployment and the direct baseline of the benchmarks.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use policy_engine::{Governance, SqliteStore};

use super::DEFAULT_DATA_DIR;
use crate::exit::CliError;

/// `engine [--data-dir DIR] [--listen ADDR]`
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The data directory whose catalog (lakegate.db) names the tables.
    #[arg(long, default_value = DEFAULT_DATA_DIR, value_name = "DIR")]
    data_dir: PathBuf,
    /// Address to listen on; keep it reachable by lakegate only.
    #[arg(long, default_value = "127.0.0.1:50052", value_name = "ADDR")]
    listen: String,
}

/// Runs the engine until Ctrl-C or SIGTERM.
pub async fn run(a: Args) -> Result<(), CliError> {
    let store_path = a.data_dir.join(grpc_proxy::server::STORE_FILE);
    if !store_path.exists() {
        return Err(CliError::error(format!(
            "`{}` has no lakegate store; run `lakegate serve --data-dir {}` first",
            a.data_dir.display(),
            a.data_dir.display()
        )));
    }
    let store = SqliteStore::open(&store_path)
        .map_err(|e| CliError::error(format!("cannot open `{}`: {e}", store_path.display())))?;
    let gov = Governance::new(Arc::new(store)).map_err(|e| CliError::error(e.to_string()))?;
    let snap = gov.snapshot().map_err(|e| CliError::error(e.to_string()))?;
    let engine = Arc::new(
        lakegate_engine::Engine::new(&snap.catalog).map_err(|e| CliError::error(e.to_string()))?,
    );
    // Keep the engine's tables in step with the catalog.
    {
        let engine = engine.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                match gov.snapshot() {
                    Ok(s) => {
                        if let Err(e) = engine.refresh(&s.catalog) {
                            tracing::warn!("engine refresh: {e}");
                        }
                    }
                    Err(e) => tracing::warn!("catalog unreadable: {e}"),
                }
            }
        });
    }
    let listener = tokio::net::TcpListener::bind(&a.listen)
        .await
        .map_err(|e| CliError::error(format!("cannot listen on `{}`: {e}", a.listen)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| CliError::error(e.to_string()))?;
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "lakegate engine listening on {addr}");
        let _ = out.flush();
    }
    lakegate_engine::serve_engine(engine, listener, grpc_proxy::server::shutdown_signal())
        .await
        .map_err(|e| CliError::error(e.to_string()))
}
