//! The command line: global flags, the subcommand enum and dispatch. One
//! file per subcommand; to add one (e.g. `query`, `explain`), add a module,
//! a variant to [`Command`] and an arm to [`dispatch`].

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::exit::{CliError, report};

mod blueprint;
mod crawl;
mod data_filter;
mod database;
mod engine;
mod explain;
mod grant;
mod lf_tag;
mod limits;
mod location;
mod permissions;
mod policy;
pub mod query;
mod resource_link;
mod revoke;
mod serve;
mod table;
mod token;
mod whoami;

/// Default server endpoint.
pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:50051";
/// Default data directory.
pub const DEFAULT_DATA_DIR: &str = "./lakegate-data";

/// lakegate: fine-grained access control for your data lake, as a Flight SQL proxy.
#[derive(Debug, Parser)]
#[command(name = "lakegate", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command accepts, before or after the subcommand.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// The lakegate server to talk to.
    #[arg(long, global = true, env = "LAKEGATE_ENDPOINT", default_value = DEFAULT_ENDPOINT, value_name = "URL")]
    pub endpoint: String,
    /// Bearer token (mint one with `lakegate token`).
    #[arg(
        long,
        global = true,
        env = "LAKEGATE_TOKEN",
        hide_env_values = true,
        value_name = "T"
    )]
    pub token: Option<String>,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the lakegate server (governance API; Flight SQL later).
    Serve(Box<serve::Args>),
    /// Print a signed development bearer token for a principal.
    Token(token::Args),
    /// Create and list databases.
    #[command(subcommand)]
    Database(database::Cmd),
    /// Register and list data locations.
    #[command(subcommand)]
    Location(location::Cmd),
    /// Create, list and describe tables.
    #[command(subcommand)]
    Table(table::Cmd),
    /// Grant permissions on a resource to a principal.
    Grant(grant::Args),
    /// Revoke permissions on a resource from a principal.
    Revoke(revoke::Args),
    /// List permissions.
    #[command(subcommand)]
    Permissions(permissions::Cmd),
    /// Show who the server takes you to be.
    Whoami,
    /// Run SQL through the Flight SQL proxy as the token's principal.
    Query(query::Args),
    /// Show how a query is rewritten for a principal, what it may read, and why.
    Explain(explain::Args),
    /// Create, list and delete data cells filters.
    #[command(subcommand)]
    DataFilter(data_filter::Cmd),
    /// Create, change, list and assign LF-tags.
    #[command(subcommand)]
    LfTag(lf_tag::Cmd),
    /// Create, list and delete resource links to tables other accounts share.
    #[command(subcommand)]
    ResourceLink(resource_link::Cmd),
    /// Policy-as-code: validate, plan, apply and test a directory of Cedar policies.
    #[command(subcommand)]
    Policy(policy::Cmd),
    /// Run the embedded engine alone as a plain Flight SQL server (sidecar upstream, benchmark baseline).
    Engine(engine::Args),
    /// Ingestion workflows (DESIGN §7): run a blueprint, list blueprints and runs.
    #[command(subcommand)]
    Blueprint(blueprint::Cmd),
    /// Infer and register the tables, schemas and partitions of a location's folders.
    Crawl(crawl::Args),
}

/// Runs the parsed command line and returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    let multi_thread = matches!(cli.command, Command::Serve(_) | Command::Engine(_));
    let rt = if multi_thread {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    };
    let rt = match rt {
        Ok(rt) => rt,
        Err(e) => return report(CliError::error(format!("cannot start the runtime: {e}"))),
    };
    match rt.block_on(dispatch(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report(e),
    }
}

async fn dispatch(cli: Cli) -> Result<(), CliError> {
    let g = &cli.global;
    match cli.command {
        Command::Serve(a) => serve::run(*a).await,
        Command::Token(a) => token::run(a),
        Command::Database(c) => database::run(c, g).await,
        Command::Location(c) => location::run(c, g).await,
        Command::Table(c) => table::run(c, g).await,
        Command::Grant(a) => grant::run(a, g).await,
        Command::Revoke(a) => revoke::run(a, g).await,
        Command::Permissions(c) => permissions::run(c, g).await,
        Command::Whoami => whoami::run(g).await,
        Command::Query(a) => query::run(a, g).await,
        Command::Explain(a) => explain::run(a, g).await,
        Command::ResourceLink(c) => resource_link::run(c, g).await,
        Command::DataFilter(c) => data_filter::run(c, g).await,
        Command::LfTag(c) => lf_tag::run(c, g).await,
        Command::Policy(c) => policy::run(c, g).await,
        Command::Engine(a) => engine::run(a).await,
        Command::Blueprint(c) => blueprint::run(c, g).await,
        Command::Crawl(a) => crawl::run(a, g).await,
    }
}

/// Parses a principal id for clap (a usage error if malformed).
pub fn parse_principal(s: &str) -> Result<policy_engine::Principal, String> {
    policy_engine::Principal::parse(s).map_err(|e| e.to_string())
}
