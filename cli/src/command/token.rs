//! `lakegate token`: mint a development bearer token with the server's
//! signing key (the data directory's, or the shared store's with
//! `--store`). Prints the token only.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use grpc_proxy::auth::{load_key, mint_token};
use policy_engine::Principal;

use super::{DEFAULT_DATA_DIR, parse_principal};
use crate::exit::CliError;

/// `token [--data-dir DIR | --store URL] --principal ID [--group G]... [--attr k=v]... [--ttl S]`
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The server's data directory (holds the signing key).
    #[arg(long, default_value = DEFAULT_DATA_DIR, value_name = "DIR")]
    data_dir: PathBuf,
    /// Read the signing key from the PostgreSQL store the servers share
    /// (`serve --store`) instead of the data directory.
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
    /// The user or role the token names, e.g. 111111111111:user/alice.
    #[arg(long, value_name = "ID", value_parser = parse_principal)]
    principal: Principal,
    /// A group of the principal's account: ACCOUNT:group/NAME or a bare NAME (repeatable).
    #[arg(long = "group", value_name = "G")]
    groups: Vec<String>,
    /// An attribute for row filters, KEY=VALUE (repeatable).
    #[arg(long = "attr", value_name = "k=v", value_parser = parse_attr)]
    attrs: Vec<(String, String)>,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 3600, value_name = "S")]
    ttl: u64,
}

fn parse_attr(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("`{s}` is not KEY=VALUE")),
    }
}

/// Resolves `--group`: `ACCOUNT:group/NAME`, or a bare NAME in the principal's account.
fn group(principal: &Principal, g: &str) -> Result<Principal, CliError> {
    let text = if g.contains(':') {
        g.to_string()
    } else {
        format!("{}:group/{g}", principal.account())
    };
    let p = Principal::parse(&text).map_err(|e| CliError::usage(e.to_string()))?;
    if !p.is_group() || p.account() != principal.account() {
        return Err(CliError::usage(format!(
            "`{g}` is not a group of account `{}`; write `{}:group/NAME` or a bare NAME",
            principal.account(),
            principal.account()
        )));
    }
    Ok(p)
}

/// Mints and prints the token.
pub fn run(a: Args) -> Result<(), CliError> {
    let groups = a
        .groups
        .iter()
        .map(|g| group(&a.principal, g))
        .collect::<Result<Vec<_>, _>>()?;
    let mut attrs = BTreeMap::new();
    for (k, v) in a.attrs {
        if attrs.insert(k.clone(), v).is_some() {
            return Err(CliError::usage(format!(
                "attribute `{k}` is given twice; give each --attr key once"
            )));
        }
    }
    let key = match a.store {
        Some(url) => grpc_proxy::store::signing_key(&grpc_proxy::store::StoreConfig {
            url,
            ca_file: a.store_ca,
        }),
        None => load_key(&a.data_dir),
    }
    .map_err(|e| CliError::error(e.to_string()))?;
    let token = mint_token(
        &key,
        &a.principal,
        &groups,
        &attrs,
        Duration::from_secs(a.ttl),
    )
    .map_err(|e| CliError::error(e.to_string()))?;
    println!("{token}");
    Ok(())
}
