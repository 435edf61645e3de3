//! `lakegate resource-link create|list|delete`: names in your account's
//! catalog for tables other accounts share with it (DESIGN §3 rule 6).

use grpc_proxy::proto::{
    CreateResourceLinkRequest, DeleteResourceLinkRequest, ListResourceLinksRequest,
};

use super::Global;
use crate::client::connect;
use crate::exit::CliError;
use crate::output;

/// Resource-link subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// Create a link to a table another account shares with yours (needs
    /// CREATE_TABLE on the database). Query it by its name; reading it needs
    /// SELECT on the target, granted by your data lake admin.
    Create {
        /// The link's name in your catalog.
        #[arg(value_name = "DB.NAME")]
        name: String,
        /// The shared table.
        #[arg(long, value_name = "ACCOUNT:DB.TABLE")]
        target: String,
    },
    /// List your account's links.
    List,
    /// Delete a link (never its target).
    Delete {
        /// The link's name.
        #[arg(value_name = "DB.NAME")]
        name: String,
    },
}

/// Runs a resource-link subcommand.
pub async fn run(cmd: Cmd, g: &Global) -> Result<(), CliError> {
    let mut c = connect(g).await?;
    match cmd {
        Cmd::Create { name, target } => {
            let l = c
                .client
                .create_resource_link(CreateResourceLinkRequest { name, target })
                .await
                .map_err(|s| c.fail(s))?
                .into_inner();
            if g.json {
                return output::json(&l);
            }
            println!("created resource link `{}` → `{}`", l.name, l.target);
        }
        Cmd::List => {
            let links = c
                .client
                .list_resource_links(ListResourceLinksRequest {})
                .await
                .map_err(|s| c.fail(s))?
                .into_inner()
                .links;
            if g.json {
                return output::json(&links);
            }
            if links.is_empty() {
                println!("no resource links you can see");
                return Ok(());
            }
            let rows: Vec<Vec<String>> = links
                .into_iter()
                .map(|l| vec![l.name, l.target, l.created_by])
                .collect();
            println!("{}", output::table(&["NAME", "TARGET", "CREATOR"], &rows));
        }
        Cmd::Delete { name } => {
            let l = c
                .client
                .delete_resource_link(DeleteResourceLinkRequest { name })
                .await
                .map_err(|s| c.fail(s))?
                .into_inner();
            if g.json {
                return output::json(&l);
            }
            println!("deleted resource link `{}`", l.name);
        }
    }
    Ok(())
}
