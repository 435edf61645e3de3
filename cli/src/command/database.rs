//! `lakegate database create|list`.

use grpc_proxy::proto::{CreateDatabaseRequest, ListDatabasesRequest};

use super::Global;
use crate::client::connect;
use crate::exit::CliError;
use crate::output;

/// Database subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// Create a database (you get CREATE_TABLE, ALTER, DROP, DESCRIBE on it).
    Create {
        /// Database name.
        #[arg(value_name = "DB")]
        name: String,
        /// Location of the database's tables (inside a registered location).
        #[arg(long, value_name = "URI")]
        location: Option<String>,
    },
    /// List the databases you can see; data lake admins also see other
    /// accounts' databases that share something with theirs, as
    /// `ACCOUNT:DB` (list their tables with `table list ACCOUNT:DB`).
    List,
}

/// Runs a database subcommand.
pub async fn run(cmd: Cmd, g: &Global) -> Result<(), CliError> {
    let mut c = connect(g).await?;
    match cmd {
        Cmd::Create { name, location } => {
            let db = c
                .client
                .create_database(CreateDatabaseRequest { name, location })
                .await
                .map_err(|s| c.fail(s))?
                .into_inner();
            if g.json {
                return output::json(&db);
            }
            println!("created database `{}`", db.name);
        }
        Cmd::List => {
            let dbs = c
                .client
                .list_databases(ListDatabasesRequest {})
                .await
                .map_err(|s| c.fail(s))?
                .into_inner()
                .databases;
            if g.json {
                return output::json(&dbs);
            }
            if dbs.is_empty() {
                println!("no databases you can see");
                return Ok(());
            }
            let rows: Vec<Vec<String>> = dbs
                .into_iter()
                .map(|d| {
                    // Another account's database (a received share) is
                    // listed with the owning account as its creator.
                    let name = if d.creator == d.account {
                        format!("{}:{}", d.account, d.name)
                    } else {
                        d.name
                    };
                    vec![name, d.location.unwrap_or_else(|| "-".into()), d.creator]
                })
                .collect();
            println!("{}", output::table(&["NAME", "LOCATION", "CREATOR"], &rows));
        }
    }
    Ok(())
}
