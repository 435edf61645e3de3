//! `lakegate location register|list`.

use grpc_proxy::proto::{ListLocationsRequest, RegisterLocationRequest};

use super::Global;
use crate::client::connect;
use crate::exit::CliError;
use crate::output;

/// Location subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// Register a data location (data lake admins only).
    Register {
        /// `file:///abs/dir/` or `s3://bucket/prefix/`.
        #[arg(value_name = "URI")]
        uri: String,
    },
    /// List registered locations you may use.
    List,
}

/// Runs a location subcommand.
pub async fn run(cmd: Cmd, g: &Global) -> Result<(), CliError> {
    let mut c = connect(g).await?;
    match cmd {
        Cmd::Register { uri } => {
            let l = c
                .client
                .register_location(RegisterLocationRequest { uri })
                .await
                .map_err(|s| c.fail(s))?
                .into_inner();
            if g.json {
                return output::json(&l);
            }
            println!("registered location {}", l.uri);
        }
        Cmd::List => {
            let ls = c
                .client
                .list_locations(ListLocationsRequest {})
                .await
                .map_err(|s| c.fail(s))?
                .into_inner()
                .locations;
            if g.json {
                return output::json(&ls);
            }
            if ls.is_empty() {
                println!("no registered locations you may use");
                return Ok(());
            }
            let rows: Vec<Vec<String>> = ls.into_iter().map(|l| vec![l.uri]).collect();
            println!("{}", output::table(&["URI"], &rows));
        }
    }
    Ok(())
}
