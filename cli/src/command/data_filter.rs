//! `lakegate data-filter create|list|delete`: data cells filters (DESIGN §3
//! rules 2 and 4). A filter's predicate is checked against the table when it
//! is created, so a bad filter never reaches a query.

use grpc_proxy::proto::{
    CreateDataFilterRequest, DataFilter, DeleteDataFilterRequest, ListDataFiltersRequest,
    WhoAmIRequest,
};

use super::Global;
use crate::client::connect;
use crate::exit::CliError;
use crate::output;

/// Data filter subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// Create a filter: rows (a predicate, or all rows) and columns of one table.
    Create {
        /// The filter's name: DB.TABLE.NAME, or ACCOUNT:DB.TABLE.NAME on a
        /// table another account shares with yours (data lake admins).
        #[arg(value_name = "DB.TABLE.NAME")]
        name: String,
        /// Visible rows: comparisons of columns with constants (=, <>, <, <=, >, >=,
        /// BETWEEN, IN, LIKE, IS [NOT] NULL, AND/OR/NOT); a constant may be
        /// `${principal.attrs.KEY}`.
        #[arg(
            long,
            value_name = "EXPR",
            required_unless_present = "all_rows",
            conflicts_with = "all_rows"
        )]
        row_filter: Option<String>,
        /// Every row is visible.
        #[arg(long)]
        all_rows: bool,
        /// Only these columns (default: all).
        #[arg(
            long,
            value_delimiter = ',',
            value_name = "a,b",
            conflicts_with = "exclude_columns"
        )]
        columns: Vec<String>,
        /// All columns except these.
        #[arg(long, value_delimiter = ',', value_name = "a,b")]
        exclude_columns: Vec<String>,
    },
    /// List the filters you may see (data lake admins: also those your
    /// account defined on other accounts' shared tables).
    List {
        /// Only this table's filters; `ACCOUNT:DB.TABLE` for your account's
        /// filters on another account's shared table.
        #[arg(long, value_name = "DB.TABLE")]
        table: Option<String>,
    },
    /// Delete a filter and the grants on it.
    Delete {
        /// The filter's name: DB.TABLE.NAME.
        #[arg(value_name = "DB.TABLE.NAME")]
        name: String,
    },
}

fn rows(f: &DataFilter) -> String {
    f.row_filter
        .clone()
        .unwrap_or_else(|| "all rows".to_string())
}

fn columns(f: &DataFilter) -> String {
    if !f.columns.is_empty() {
        f.columns.join(",")
    } else if !f.exclude_columns.is_empty() {
        format!("all except {}", f.exclude_columns.join(","))
    } else {
        "all".to_string()
    }
}

/// Checks the shape of `DB.TABLE.NAME` before asking the server, which
/// would otherwise read `DB.TABLE` as `TABLE.NAME`.
fn check_name(name: &str) -> Result<(), CliError> {
    // `ACCOUNT:` names another account's shared table.
    let local = name.split_once(':').map_or(name, |(_, rest)| rest);
    if local.split('.').count() == 3 && local.split('.').all(|p| !p.trim().is_empty()) {
        Ok(())
    } else {
        Err(CliError::usage(format!(
            "`{name}` is not a data filter name; write DB.TABLE.NAME, e.g. sales.orders.eu \
             (ACCOUNT:DB.TABLE.NAME on another account's shared table)"
        )))
    }
}

/// Runs a data-filter subcommand.
pub async fn run(cmd: Cmd, g: &Global) -> Result<(), CliError> {
    if let Cmd::Create { name, .. } | Cmd::Delete { name } = &cmd {
        check_name(name)?;
    }
    let mut c = connect(g).await?;
    match cmd {
        Cmd::Create {
            name,
            row_filter,
            all_rows,
            columns: cols,
            exclude_columns,
        } => {
            let f = c
                .client
                .create_data_filter(CreateDataFilterRequest {
                    name,
                    row_filter,
                    all_rows,
                    columns: cols,
                    exclude_columns,
                })
                .await
                .map_err(|s| c.fail(s))?
                .into_inner();
            if g.json {
                return output::json(&f);
            }
            println!(
                "created data filter {}.{} (rows: {}; columns: {})",
                f.table,
                f.name,
                rows(&f),
                columns(&f)
            );
        }
        Cmd::List { table } => {
            let fs = c
                .client
                .list_data_filters(ListDataFiltersRequest { table })
                .await
                .map_err(|s| c.fail(s))?
                .into_inner()
                .filters;
            if g.json {
                return output::json(&fs);
            }
            if fs.is_empty() {
                println!("no data filters");
                return Ok(());
            }
            // A filter on another account's shared table is named as it
            // was created: ACCOUNT:DB.TABLE.NAME.
            let me = c
                .client
                .who_am_i(WhoAmIRequest {})
                .await
                .map_err(|s| c.fail(s))?
                .into_inner()
                .account;
            let rs: Vec<Vec<String>> = fs
                .iter()
                .map(|f| {
                    let name = if f.account == me {
                        format!("{}.{}", f.table, f.name)
                    } else {
                        format!("{}:{}.{}", f.account, f.table, f.name)
                    };
                    vec![name, rows(f), columns(f)]
                })
                .collect();
            println!("{}", output::table(&["FILTER", "ROWS", "COLUMNS"], &rs));
        }
        Cmd::Delete { name } => {
            c.client
                .delete_data_filter(DeleteDataFilterRequest { name: name.clone() })
                .await
                .map_err(|s| c.fail(s))?;
            if g.json {
                return output::json(&serde_json::json!({ "deleted": name }));
            }
            println!("deleted data filter {name} and the grants on it");
        }
    }
    Ok(())
}
