//! `lakegate permissions list`: explicit grants and the implicit admin and
//! creator rights, as an aligned table or JSON.

use grpc_proxy::proto::ListPermissionsRequest;

use super::Global;
use crate::client::connect;
use crate::exit::CliError;
use crate::output;

/// Permissions subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// List permissions (admins see all of their account; others their own and those they granted).
    List {
        /// Only this principal's entries.
        #[arg(long, value_name = "ID")]
        principal: Option<String>,
        /// Only entries on this database and its tables.
        #[arg(long, value_name = "DB", conflicts_with = "table")]
        database: Option<String>,
        /// Only entries on this table.
        #[arg(long, value_name = "DB.TABLE")]
        table: Option<String>,
    },
}

/// Runs a permissions subcommand.
pub async fn run(cmd: Cmd, g: &Global) -> Result<(), CliError> {
    let Cmd::List {
        principal,
        database,
        table,
    } = cmd;
    let mut c = connect(g).await?;
    let es = c
        .client
        .list_permissions(ListPermissionsRequest {
            principal,
            database,
            table,
        })
        .await
        .map_err(|s| c.fail(s))?
        .into_inner()
        .entries;
    if g.json {
        return output::json(&es);
    }
    if es.is_empty() {
        println!("no permissions match");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = es
        .into_iter()
        .map(|e| {
            vec![
                e.principal,
                e.resource,
                output::list(&e.permissions),
                output::list(&e.grantable),
                output::list(&e.masks),
                match e.granted_by {
                    Some(by) => format!("{} by {by}", e.origin),
                    None => e.origin,
                },
                e.id,
            ]
        })
        .collect();
    println!(
        "{}",
        output::table(
            &[
                "PRINCIPAL",
                "RESOURCE",
                "PERMISSIONS",
                "GRANTABLE",
                "MASKS",
                "ORIGIN",
                "ID"
            ],
            &rows
        )
    );
    Ok(())
}
