//! `lakegate engine`: the embedded DataFusion engine alone, as a plain,
//! unprotected Flight SQL server over the catalog's tables — the upstream of
//! a sidecar deployment and the direct baseline of the benchmarks.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use policy_engine::{Governance, SqliteStore, Store};

use super::DEFAULT_DATA_DIR;
use super::limits::{parse_bytes, parse_duration};
use crate::exit::CliError;

/// `engine [--data-dir DIR | --store URL] [--listen ADDR] [--account ACCOUNT] [--statement-timeout D] [--max-statement-memory B] [--max-total-memory B]`
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The data directory whose catalog (lakegate.db) names the tables.
    #[arg(long, default_value = DEFAULT_DATA_DIR, value_name = "DIR")]
    data_dir: PathBuf,
    /// Read the catalog from the PostgreSQL store the proxies share
    /// (`serve --store`) instead of DATA_DIR/lakegate.db.
    #[arg(long, env = "LAKEGATE_STORE", value_name = "URL")]
    store: Option<String>,
    /// Trust this CA (PEM) for the store's TLS certificate.
    #[arg(
        long,
        env = "LAKEGATE_STORE_CA",
        value_name = "FILE",
        requires = "store"
    )]
    store_ca: Option<PathBuf>,
    /// Address to listen on; keep it reachable by lakegate only.
    #[arg(long, default_value = "127.0.0.1:50052", value_name = "ADDR")]
    listen: String,
    /// Stop a statement that plans, or runs, for longer than this
    /// (DEADLINE_EXCEEDED), e.g. 30s, 5m.
    #[arg(long, default_value = "5m", value_name = "DURATION", value_parser = parse_duration)]
    statement_timeout: Duration,
    /// Memory one statement may use (RESOURCE_EXHAUSTED beyond it).
    #[arg(long, default_value = "1GiB", value_name = "BYTES", value_parser = parse_bytes)]
    max_statement_memory: usize,
    /// Memory all statements together may use.
    #[arg(long, default_value = "4GiB", value_name = "BYTES", value_parser = parse_bytes)]
    max_total_memory: usize,
    /// The account whose tables `DB.TABLE` names, as the proxy does for a
    /// caller of that account; by default the store's only account.
    /// `"ACCOUNT".DB.TABLE` names any account's tables.
    #[arg(long, value_name = "ACCOUNT")]
    account: Option<String>,
}

/// Runs the engine until Ctrl-C or SIGTERM.
pub async fn run(a: Args) -> Result<(), CliError> {
    let store: Arc<dyn Store> = match a.store {
        Some(url) => {
            let config = grpc_proxy::store::StoreConfig {
                url,
                ca_file: a.store_ca,
            };
            tokio::task::spawn_blocking(move || grpc_proxy::store::connect_shared(&config))
                .await
                .map_err(|e| CliError::error(e.to_string()))?
                .map_err(|e| CliError::error(e.to_string()))?
        }
        None => {
            let store_path = a.data_dir.join(grpc_proxy::server::STORE_FILE);
            if !store_path.exists() {
                return Err(CliError::error(format!(
                    "`{}` has no lakegate store; run `lakegate serve --data-dir {}` first, \
                     or pass the --store the servers share",
                    a.data_dir.display(),
                    a.data_dir.display()
                )));
            }
            Arc::new(SqliteStore::open(&store_path).map_err(|e| {
                CliError::error(format!("cannot open `{}`: {e}", store_path.display()))
            })?)
        }
    };
    let gov = Governance::new(store).map_err(|e| CliError::error(e.to_string()))?;
    let snap = gov.snapshot().map_err(|e| CliError::error(e.to_string()))?;
    let engine = lakegate_engine::Engine::with_limits(
        &snap.catalog,
        lakegate_engine::EngineLimits {
            max_statement_memory: a.max_statement_memory,
            max_total_memory: a.max_total_memory,
            statement_timeout: a.statement_timeout,
        },
    )
    .map_err(|e| CliError::error(e.to_string()))?;
    let engine = Arc::new(
        match default_account(a.account.as_deref(), &snap.catalog)? {
            Some(account) => engine.with_default_account(account),
            None => engine,
        },
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

/// The account `DB.TABLE` names: the one given, else the store's only
/// account (none when it holds several: then only `"ACCOUNT".DB.TABLE` works).
fn default_account(
    given: Option<&str>,
    catalog: &policy_engine::catalog::Catalog,
) -> Result<Option<policy_engine::model::AccountId>, CliError> {
    if let Some(a) = given {
        return policy_engine::model::AccountId::parse(a)
            .map(Some)
            .map_err(|e| CliError::usage(format!("--account: {e}")));
    }
    let mut accounts = std::collections::BTreeSet::new();
    accounts.extend(catalog.admins.iter().map(|(a, _)| a.clone()));
    accounts.extend(catalog.databases.keys().map(|(a, _)| a.clone()));
    Ok(match accounts.len() {
        1 => accounts.into_iter().next(),
        0 => None,
        n => {
            tracing::warn!(
                "the store holds {n} accounts; name tables as \"ACCOUNT\".DB.TABLE, or start \
                 with --account ACCOUNT to let DB.TABLE name one account's tables"
            );
            None
        }
    })
}
