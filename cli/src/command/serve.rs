//! `lakegate serve`: run the server until Ctrl-C or SIGTERM.

use std::path::PathBuf;
use std::time::Duration;

use grpc_proxy::auth::jwks::{ClaimMapping, JwksConfig, JwksSource};
use grpc_proxy::server::{DEFAULT_LISTEN, Limits, ServerConfig, serve, shutdown_signal};
use policy_engine::Principal;
use policy_engine::model::AccountId;

use super::limits::{parse_bytes, parse_duration};
use super::{DEFAULT_DATA_DIR, parse_principal};
use crate::exit::CliError;

/// `serve [--data-dir DIR] [--listen ADDR] [--upstream URL] [--demo] [--admin ID]... [--audit-log FILE]`
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory holding the audit log and blueprint runs, and, without
    /// --store, the store (lakegate.db) and the token signing key.
    #[arg(long, default_value = DEFAULT_DATA_DIR, value_name = "DIR")]
    data_dir: PathBuf,
    /// Keep the governance state in this PostgreSQL database instead of
    /// DATA_DIR/lakegate.db, shared by every node started with the same URL:
    /// postgres://USER@HOST:PORT/DB (TLS with a verified certificate, unless
    /// ?sslmode=disable; the password from the URL or PGPASSWORD).
    #[arg(long, env = "LAKEGATE_STORE", value_name = "URL")]
    store: Option<String>,
    /// Trust this CA (PEM) for the store's TLS certificate (default: the
    /// system's roots).
    #[arg(
        long,
        env = "LAKEGATE_STORE_CA",
        value_name = "FILE",
        requires = "store"
    )]
    store_ca: Option<PathBuf>,
    /// Address to listen on; port 0 picks a free port (printed on start).
    #[arg(long, default_value = DEFAULT_LISTEN, value_name = "ADDR")]
    listen: String,
    /// Serve Prometheus metrics at /metrics, readiness at /healthz and
    /// liveness at /livez (HTTP, no authentication) on this address, e.g.
    /// 127.0.0.1:9464.
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<String>,
    /// Forward rewritten queries to this Flight SQL engine (sidecar mode),
    /// e.g. grpc://127.0.0.1:50052, or grpcs://HOST:PORT with --upstream-ca;
    /// default: the embedded engine, in process.
    #[arg(long, value_name = "URL")]
    upstream: Option<String>,
    /// Trust this CA (PEM) for a grpcs:// upstream's certificate.
    #[arg(long, value_name = "FILE", requires = "upstream")]
    upstream_ca: Option<PathBuf>,
    /// What serves at --upstream: `engine` (lakegate engine over the same
    /// store) or `ballista` (Ballista's scheduler started with --flight-sql:
    /// lakegate signs in with the Flight handshake and declares the
    /// catalog's tables in its session).
    #[arg(
        long,
        value_name = "KIND",
        default_value = "engine",
        requires = "upstream"
    )]
    upstream_kind: grpc_proxy::upstream::UpstreamKind,
    /// Sign in to the upstream's handshake as this user (HTTP Basic), with
    /// the password in the environment variable LAKEGATE_UPSTREAM_PASSWORD.
    #[arg(long, value_name = "USER", requires = "upstream")]
    upstream_user: Option<String>,
    /// Build a demo catalog (two databases, demo principals and grants) in
    /// the data directory, and print what to try next.
    #[arg(long)]
    demo: bool,
    /// Where to append the audit log (default: DATA_DIR/audit.jsonl).
    #[arg(long, value_name = "FILE")]
    audit_log: Option<PathBuf>,
    /// Serve decisions even when their audit line cannot be written (a full
    /// or failing disk). This gives up the guarantee that every decision
    /// that released data is in the audit log: lost lines are only logged
    /// and counted (lakegate_audit_write_failures_total). Without it such
    /// decisions are denied with UNAVAILABLE until the log can be written.
    #[arg(long)]
    audit_best_effort: bool,
    /// Sync the audit log to disk at least this often (lines are written to
    /// the file before their data flows; this bounds what a power loss can
    /// take), e.g. 1s, 200ms.
    #[arg(long, default_value = "1s", value_name = "DURATION", value_parser = parse_duration)]
    audit_sync_interval: Duration,
    /// Rotate the audit log when it reaches this size: it is renamed to
    /// FILE.TIMESTAMP and a new FILE is started; rotated files are kept
    /// (remove or ship them yourself). 0 never rotates.
    #[arg(long, default_value = "256MiB", value_name = "BYTES", value_parser = parse_rotate_size)]
    audit_rotate_size: usize,
    /// Serve TLS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The TLS private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Trust client certificates issued by this CA (PEM) for mTLS; map them to
    /// principals in DATA_DIR/client-certs.json.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    client_ca: Option<PathBuf>,
    /// Also accept RS256/ES256 tokens of the identity provider whose key set
    /// (JWKS) is at this URL; keys are cached and fetched again on an unknown
    /// `kid`. Needs --jwt-issuer, --jwt-audience and --jwt-account.
    #[arg(long, value_name = "URL", conflicts_with = "jwks_file",
          requires_all = ["jwt_issuer", "jwt_audience", "jwt_account"])]
    jwks_url: Option<String>,
    /// Like --jwks-url, with the key set in a file (read again on an
    /// unknown `kid`).
    #[arg(long, value_name = "FILE",
          requires_all = ["jwt_issuer", "jwt_audience", "jwt_account"])]
    jwks_file: Option<PathBuf>,
    /// Fetch the key set again on an unknown `kid` at most this often.
    #[arg(long, default_value = "10s", value_name = "DURATION", value_parser = parse_duration)]
    jwks_min_refresh: Duration,
    /// The `iss` the identity provider's tokens must carry.
    #[arg(long, value_name = "ISSUER")]
    jwt_issuer: Option<String>,
    /// The `aud` the identity provider's tokens must include.
    #[arg(long, value_name = "AUDIENCE")]
    jwt_audience: Option<String>,
    /// The account the identity provider's principals belong to: a bare
    /// name NAME in a token becomes ACCOUNT:user/NAME (groups:
    /// ACCOUNT:group/NAME).
    #[arg(long, value_name = "ACCOUNT")]
    jwt_account: Option<String>,
    /// The claim naming the principal.
    #[arg(long, default_value = "sub", value_name = "CLAIM")]
    jwt_principal_claim: String,
    /// The claim listing the principal's groups.
    #[arg(long, default_value = "groups", value_name = "CLAIM")]
    jwt_groups_claim: String,
    /// Take a token without the groups claim as "no groups". Off by
    /// default: a missing claim is refused, so that a misconfigured provider
    /// cannot let callers escape deny rules written for their groups.
    #[arg(long)]
    jwt_groups_optional: bool,
    /// Refuse development tokens (`lakegate token`): only the identity
    /// provider's tokens and client certificates authenticate.
    #[arg(long)]
    no_dev_tokens: bool,
    /// Take attribute NAME (for row filters' ${principal.attrs.NAME}) from
    /// CLAIM (dotted for nested claims), e.g. region=custom.region
    /// (repeatable).
    #[arg(long = "jwt-attr", value_name = "NAME=CLAIM", value_parser = parse_attr_claim)]
    jwt_attrs: Vec<(String, String)>,
    /// Make this principal a data lake admin of its account (repeatable).
    #[arg(long = "admin", value_name = "ID", value_parser = parse_principal)]
    admins: Vec<Principal>,
    /// Refuse bearer tokens valid for longer than this (`exp - iat`, or
    /// `exp - now` without `iat`), e.g. 24h, 90m, 3600.
    #[arg(long, default_value = "24h", value_name = "DURATION", value_parser = parse_duration)]
    max_token_lifetime: Duration,
    /// Stop a statement that plans, or runs, for longer than this
    /// (DEADLINE_EXCEEDED), e.g. 30s, 5m.
    #[arg(long, default_value = "5m", value_name = "DURATION", value_parser = parse_duration)]
    statement_timeout: Duration,
    /// Memory one statement may use in the embedded engine
    /// (RESOURCE_EXHAUSTED beyond it), e.g. 512MiB, 1GiB.
    #[arg(long, default_value = "1GiB", value_name = "BYTES", value_parser = parse_bytes)]
    max_statement_memory: usize,
    /// Memory all statements together may use in the embedded engine.
    #[arg(long, default_value = "4GiB", value_name = "BYTES", value_parser = parse_bytes)]
    max_total_memory: usize,
    /// Estimated memory of all plans kept for tickets (oldest dropped first;
    /// a dropped plan is planned again when its ticket is redeemed).
    #[arg(long, default_value = "256MiB", value_name = "BYTES", value_parser = parse_bytes)]
    max_plan_cache_bytes: usize,
    /// Estimated memory of one principal's plans kept for tickets (its own
    /// oldest dropped first).
    #[arg(long, default_value = "32MiB", value_name = "BYTES", value_parser = parse_bytes)]
    max_plan_cache_bytes_per_principal: usize,
    /// Statements one principal may plan or run at once; one more is
    /// refused with RESOURCE_EXHAUSTED (0: no limit).
    #[arg(long, default_value_t = grpc_proxy::flight::DEFAULT_MAX_CONCURRENT_STATEMENTS_PER_PRINCIPAL, value_name = "N")]
    max_concurrent_statements_per_principal: usize,
    /// Rows one statement may return; a result that would pass it is
    /// cancelled with RESOURCE_EXHAUSTED (default: no limit).
    #[arg(long, value_name = "N")]
    max_result_rows: Option<u64>,
    /// Bytes (Arrow IPC) one statement may return, e.g. 1GiB; a result that
    /// would pass it is cancelled with RESOURCE_EXHAUSTED (default: no limit).
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
    max_result_bytes: Option<usize>,
    /// Run the blueprints (`*.toml`) in this folder on their schedules
    /// (needs --blueprints-as).
    #[arg(long, value_name = "DIR", requires = "blueprints_as")]
    blueprints: Option<PathBuf>,
    /// The principal scheduled blueprints run as; its rights decide what
    /// they may write.
    #[arg(long, value_name = "ID", value_parser = parse_principal, requires = "blueprints")]
    blueprints_as: Option<Principal>,
    /// Let blueprints use environment variable VAR as `password_env`, sent
    /// only to the source URL given (repeatable), e.g.
    /// `CRM_PASSWORD=postgres://reader@db:5432/crm`.
    #[arg(long = "source-secret", value_name = "VAR=URL", value_parser = parse_secret)]
    source_secrets: Vec<(String, String)>,
}

fn parse_secret(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((var, url)) if !var.is_empty() && url.contains("://") => {
            Ok((var.to_string(), url.to_string()))
        }
        _ => Err("write VAR=URL, e.g. CRM_PASSWORD=postgres://reader@db:5432/crm".into()),
    }
}

fn parse_attr_claim(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((name, claim))
            if !claim.is_empty()
                && name
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
        {
            Ok((name.to_string(), claim.to_string()))
        }
        _ => Err(
            "write NAME=CLAIM, NAME of letters, digits and `_`, e.g. region=custom.region".into(),
        ),
    }
}

/// `--jwks-*` and `--jwt-*` as the server's configuration.
fn jwks(a: &mut Args) -> Result<Option<JwksConfig>, CliError> {
    let source = match (a.jwks_url.take(), a.jwks_file.take()) {
        (Some(url), _) => JwksSource::Url(url),
        (None, Some(file)) => JwksSource::File(file),
        (None, None) => return Ok(None),
    };
    // clap's requires_all guarantees these with either source.
    let (Some(issuer), Some(audience), Some(account)) = (
        a.jwt_issuer.take(),
        a.jwt_audience.take(),
        a.jwt_account.take(),
    ) else {
        return Err(CliError::usage(
            "--jwks-url and --jwks-file need --jwt-issuer, --jwt-audience and --jwt-account",
        ));
    };
    let account =
        AccountId::parse(&account).map_err(|e| CliError::usage(format!("--jwt-account: {e}")))?;
    Ok(Some(JwksConfig {
        source,
        issuer,
        audience,
        mapping: ClaimMapping {
            account,
            principal_claim: a.jwt_principal_claim.clone(),
            groups_claim: a.jwt_groups_claim.clone(),
            groups_optional: a.jwt_groups_optional,
            attrs: std::mem::take(&mut a.jwt_attrs),
        },
        min_refresh: a.jwks_min_refresh,
    }))
}

/// `--audit-rotate-size`: a size, or 0 for never.
fn parse_rotate_size(s: &str) -> Result<usize, String> {
    if s.trim() == "0" {
        Ok(0)
    } else {
        parse_bytes(s)
    }
}

/// Runs the server.
pub async fn run(mut a: Args) -> Result<(), CliError> {
    init_logging();
    let jwks = jwks(&mut a)?;
    let cfg = ServerConfig {
        jwks,
        dev_tokens: !a.no_dev_tokens,
        data_dir: a.data_dir,
        store: a.store.map(|url| grpc_proxy::store::StoreConfig {
            url,
            ca_file: a.store_ca,
        }),
        listen: a.listen,
        metrics_listen: a.metrics_listen,
        admins: a.admins,
        upstream: match a.upstream {
            Some(url) => Some(grpc_proxy::upstream::UpstreamConfig {
                url,
                ca: a.upstream_ca,
                kind: a.upstream_kind,
                credentials: match a.upstream_user {
                    Some(user) => Some((user, upstream_password()?)),
                    None => None,
                },
            }),
            None => None,
        },
        demo: a.demo,
        audit_log: a.audit_log,
        audit: grpc_proxy::audit::AuditOptions {
            best_effort: a.audit_best_effort,
            sync_interval: a.audit_sync_interval,
            rotate_bytes: (a.audit_rotate_size > 0).then_some(a.audit_rotate_size as u64),
        },
        tls: match (a.tls_cert, a.tls_key) {
            (Some(cert), Some(key)) => Some(grpc_proxy::server::TlsFiles {
                cert,
                key,
                client_ca: a.client_ca,
            }),
            _ => None,
        },
        limits: Limits {
            max_token_lifetime: a.max_token_lifetime,
            statement_timeout: a.statement_timeout,
            max_statement_memory: a.max_statement_memory,
            max_total_memory: a.max_total_memory,
            max_plan_cache_bytes: a.max_plan_cache_bytes,
            max_plan_cache_bytes_per_principal: a.max_plan_cache_bytes_per_principal,
            max_concurrent_statements_per_principal: a.max_concurrent_statements_per_principal,
            max_result_rows: a.max_result_rows,
            max_result_bytes: a.max_result_bytes.map(|b| b as u64),
        },
        blueprints: a.blueprints.zip(a.blueprints_as),
        source_secrets: a.source_secrets.into_iter().collect(),
    };
    serve(cfg, shutdown_signal())
        .await
        .map_err(|e| CliError::error(e.to_string()))
}

/// Logs to stderr (stdout carries only `lakegate listening on ADDR`);
/// `RUST_LOG` sets the level, default `warn`.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// The upstream password, from `LAKEGATE_UPSTREAM_PASSWORD` (never a flag:
/// flags show in `ps`).
fn upstream_password() -> Result<String, CliError> {
    std::env::var("LAKEGATE_UPSTREAM_PASSWORD").map_err(|_| {
        CliError::usage(
            "--upstream-user needs the password in the environment variable \
             LAKEGATE_UPSTREAM_PASSWORD",
        )
    })
}
