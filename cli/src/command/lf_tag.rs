//! `lakegate lf-tag create|update|delete|list|assign|unassign` (DESIGN §3
//! rule 5): tag keys with allowed values, and one value per key on
//! databases, tables and columns.

use grpc_proxy::proto::{
    AssignLfTagsRequest, CreateLfTagRequest, DeleteLfTagRequest, LfTag, ListLfTagsRequest,
    TagAssignment, TagValue, UpdateLfTagRequest,
};

use super::Global;
use crate::client::connect;
use crate::exit::CliError;
use crate::output;

/// Where an assignment goes and what it says.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("target").required(true).multiple(false).args(["database", "table"])))]
pub struct AssignArgs {
    /// A database (its tables and columns inherit the value).
    #[arg(long, value_name = "DB")]
    database: Option<String>,
    /// A table (its columns inherit the value).
    #[arg(long, value_name = "DB.TABLE")]
    table: Option<String>,
    /// Only these columns of --table.
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "a,b",
        requires = "table",
        conflicts_with = "database"
    )]
    columns: Vec<String>,
    /// KEY=VALUE, one value per key (repeatable for several keys).
    #[arg(long = "tag", value_name = "KEY=VALUE", required = true, value_parser = parse_tag_value)]
    tags: Vec<(String, String)>,
}

/// Parses `KEY=VALUE` (one value).
fn parse_tag_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() && !v.trim().is_empty() => {
            if v.contains(',') {
                Err(format!(
                    "`{s}` names several values; a resource carries one value per key, so give one"
                ))
            } else {
                Ok((k.trim().to_string(), v.trim().to_string()))
            }
        }
        _ => Err(format!("`{s}` is not KEY=VALUE")),
    }
}

impl AssignArgs {
    fn request(self) -> AssignLfTagsRequest {
        AssignLfTagsRequest {
            database: self.database,
            table: self.table,
            columns: self.columns,
            tags: self
                .tags
                .into_iter()
                .map(|(key, value)| TagValue { key, value })
                .collect(),
        }
    }
}

/// LF-tag subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// Create a tag key with its allowed values (data lake admins).
    Create {
        /// The key.
        key: String,
        /// Allowed values, comma-separated.
        #[arg(long, value_delimiter = ',', value_name = "V1,V2", required = true)]
        values: Vec<String>,
    },
    /// Add or remove allowed values (a value still in use cannot be removed).
    #[command(group(clap::ArgGroup::new("change").required(true).multiple(true).args(["add", "remove"])))]
    Update {
        /// The key.
        key: String,
        /// Values to add, comma-separated.
        #[arg(long, value_delimiter = ',', value_name = "V,..")]
        add: Vec<String>,
        /// Values to remove, comma-separated.
        #[arg(long, value_delimiter = ',', value_name = "V,..")]
        remove: Vec<String>,
    },
    /// Delete a tag key that nothing uses any more.
    Delete {
        /// The key.
        key: String,
    },
    /// List the account's tags.
    List,
    /// Assign values to a database, a table or columns (replacing the key's old value there).
    Assign(AssignArgs),
    /// Remove assignments (the inherited value, if any, applies again).
    Unassign(AssignArgs),
}

fn show(t: &LfTag) -> String {
    format!("{}: {}", t.key, t.values.join(","))
}

fn target(a: &TagAssignment) -> String {
    match (&a.table, &a.column) {
        (Some(t), Some(c)) => format!("column {t}.{c}"),
        (Some(t), None) => format!("table {t}"),
        _ => format!("database {}", a.database),
    }
}

/// Runs an lf-tag subcommand.
pub async fn run(cmd: Cmd, g: &Global) -> Result<(), CliError> {
    let mut c = connect(g).await?;
    match cmd {
        Cmd::Create { key, values } => {
            let t = c
                .client
                .create_lf_tag(CreateLfTagRequest { key, values })
                .await
                .map_err(|s| c.fail(s))?
                .into_inner();
            if g.json {
                return output::json(&t);
            }
            println!("created LF-tag {}", show(&t));
        }
        Cmd::Update { key, add, remove } => {
            let t = c
                .client
                .update_lf_tag(UpdateLfTagRequest { key, add, remove })
                .await
                .map_err(|s| c.fail(s))?
                .into_inner();
            if g.json {
                return output::json(&t);
            }
            println!("updated LF-tag {}", show(&t));
        }
        Cmd::Delete { key } => {
            c.client
                .delete_lf_tag(DeleteLfTagRequest { key: key.clone() })
                .await
                .map_err(|s| c.fail(s))?;
            if g.json {
                return output::json(&serde_json::json!({ "deleted": key }));
            }
            println!("deleted LF-tag {key}");
        }
        Cmd::List => {
            let ts = c
                .client
                .list_lf_tags(ListLfTagsRequest {})
                .await
                .map_err(|s| c.fail(s))?
                .into_inner()
                .tags;
            if g.json {
                return output::json(&ts);
            }
            if ts.is_empty() {
                println!("no LF-tags");
                return Ok(());
            }
            let rows: Vec<Vec<String>> = ts
                .iter()
                .map(|t| vec![t.key.clone(), t.values.join(",")])
                .collect();
            println!("{}", output::table(&["KEY", "VALUES"], &rows));
        }
        Cmd::Assign(a) => {
            let r = c
                .client
                .assign_lf_tags(a.request())
                .await
                .map_err(|s| c.fail(s))?
                .into_inner();
            if g.json {
                return output::json(&r);
            }
            for x in &r.assignments {
                println!("assigned {}={} to {}", x.key, x.value, target(x));
            }
        }
        Cmd::Unassign(a) => {
            let r = c
                .client
                .unassign_lf_tags(a.request())
                .await
                .map_err(|s| c.fail(s))?
                .into_inner();
            if g.json {
                return output::json(&r);
            }
            println!("removed {} assignment(s)", r.removed);
        }
    }
    Ok(())
}
