//! `lakegate table create|list|describe`.

use grpc_proxy::proto::{self, CreateTableRequest, DescribeTableRequest, ListTablesRequest, Table};

use super::Global;
use crate::client::connect;
use crate::exit::CliError;
use crate::output;

/// File formats `table create` understands.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum FormatArg {
    /// Apache Parquet.
    Parquet,
    /// CSV with a header row.
    Csv,
    /// Newline-delimited JSON.
    Json,
    /// A Delta Lake table (the schema comes from its `_delta_log`).
    Delta,
}

impl From<FormatArg> for proto::Format {
    fn from(f: FormatArg) -> Self {
        match f {
            FormatArg::Parquet => proto::Format::Parquet,
            FormatArg::Csv => proto::Format::Csv,
            FormatArg::Json => proto::Format::Json,
            FormatArg::Delta => proto::Format::Delta,
        }
    }
}

/// Table subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// Create a table over files in a location; the schema is inferred from the files.
    Create {
        /// `DB.TABLE`.
        #[arg(value_name = "DB.TABLE")]
        name: String,
        /// Where the files are (inside a registered location).
        #[arg(long, value_name = "URI")]
        location: String,
        /// File format.
        #[arg(long, value_enum, default_value = "parquet")]
        format: FormatArg,
        /// Hive-style partition keys (`k=v/` folders), in key order.
        #[arg(long, value_delimiter = ',', value_name = "k1,k2")]
        partition_keys: Vec<String>,
    },
    /// List the tables of a database you can see; `ACCOUNT:DB` lists what
    /// that account shares with yours (data lake admins).
    List {
        /// Database name, or `ACCOUNT:DB` for another account's database.
        #[arg(value_name = "DB")]
        database: String,
    },
    /// Show a table's columns (those you can see).
    Describe {
        /// `DB.TABLE`.
        #[arg(value_name = "DB.TABLE")]
        name: String,
    },
}

fn format_name(t: &Table) -> &'static str {
    match proto::Format::try_from(t.format) {
        Ok(proto::Format::Csv) => "csv",
        Ok(proto::Format::Json) => "json",
        Ok(proto::Format::Delta) => "delta",
        Ok(proto::Format::Parquet) | Ok(proto::Format::Unspecified) | Err(_) => "parquet",
    }
}

fn print_table(t: &Table) {
    println!(
        "table {}.{} ({}) at {}",
        t.database,
        t.name,
        format_name(t),
        t.location
    );
    if !t.partition_keys.is_empty() {
        println!("partition keys: {}", t.partition_keys.join(", "));
    }
    if t.columns.is_empty() {
        println!("no columns you can see");
        return;
    }
    let rows: Vec<Vec<String>> = t
        .columns
        .iter()
        .map(|c| {
            vec![
                c.name.clone(),
                c.data_type.clone(),
                if c.partition {
                    "yes".into()
                } else {
                    String::new()
                },
            ]
        })
        .collect();
    println!("{}", output::table(&["COLUMN", "TYPE", "PARTITION"], &rows));
}

/// Runs a table subcommand.
pub async fn run(cmd: Cmd, g: &Global) -> Result<(), CliError> {
    let mut c = connect(g).await?;
    match cmd {
        Cmd::Create {
            name,
            location,
            format,
            partition_keys,
        } => {
            let t = c
                .client
                .create_table(CreateTableRequest {
                    name,
                    location,
                    format: proto::Format::from(format).into(),
                    partition_keys,
                })
                .await
                .map_err(|s| c.fail(s))?
                .into_inner();
            if g.json {
                return output::json(&t);
            }
            println!(
                "created table `{}.{}` with {} columns",
                t.database,
                t.name,
                t.columns.len()
            );
            print_table(&t);
        }
        Cmd::List { database } => {
            let ts = c
                .client
                .list_tables(ListTablesRequest { database })
                .await
                .map_err(|s| c.fail(s))?
                .into_inner()
                .tables;
            if g.json {
                return output::json(&ts);
            }
            if ts.is_empty() {
                println!("no tables you can see");
                return Ok(());
            }
            let rows: Vec<Vec<String>> = ts
                .iter()
                .map(|t| {
                    vec![
                        // A table another account shares is listed with
                        // the owning account as its creator.
                        if t.creator == t.account {
                            format!("{}:{}.{}", t.account, t.database, t.name)
                        } else {
                            format!("{}.{}", t.database, t.name)
                        },
                        format_name(t).to_string(),
                        t.columns.len().to_string(),
                        t.location.clone(),
                    ]
                })
                .collect();
            println!(
                "{}",
                output::table(&["TABLE", "FORMAT", "COLUMNS", "LOCATION"], &rows)
            );
        }
        Cmd::Describe { name } => {
            let t = c
                .client
                .describe_table(DescribeTableRequest { name })
                .await
                .map_err(|s| c.fail(s))?
                .into_inner();
            if g.json {
                return output::json(&t);
            }
            print_table(&t);
        }
    }
    Ok(())
}
