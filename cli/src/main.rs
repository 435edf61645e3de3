//! `lakegate`: the server, token minting, and the admin client.
//!
//! `main` only parses the command line and dispatches; each subcommand lives
//! in its own file under `command/`. Exit codes: 0 ok, 1 error, 2 usage,
//! 3 permission denied (see [`exit`]).

mod client;
mod command;
mod exit;
mod output;

use clap::Parser;

fn main() -> std::process::ExitCode {
    grpc_proxy::install_crypto_provider();
    let cli = command::Cli::parse();
    command::run(cli)
}
