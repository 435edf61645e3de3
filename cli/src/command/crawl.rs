//! `lakegate crawl --location URI --database DB [--dry-run]` (DESIGN §7).

use grpc_proxy::proto::CrawlRequest;

use super::Global;
use crate::client::connect;
use crate::exit::CliError;
use crate::output;

/// Crawl flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The folder to crawl (`file:///abs/dir/`), inside a registered location.
    #[arg(long, value_name = "URI")]
    location: String,
    /// The database the tables go into (created when missing, which needs CREATE_DATABASE).
    #[arg(long, value_name = "DB")]
    database: String,
    /// Say what would be registered, and why, without registering anything.
    #[arg(long)]
    dry_run: bool,
}

/// Runs `crawl`.
pub async fn run(a: Args, g: &Global) -> Result<(), CliError> {
    let mut c = connect(g).await?;
    let r = c
        .client
        .crawl(CrawlRequest {
            location: a.location,
            database: a.database,
            dry_run: a.dry_run,
        })
        .await
        .map_err(|s| c.fail(s))?
        .into_inner();
    if g.json {
        return output::json(&r);
    }
    if r.folders.is_empty() {
        println!("no folders under the location");
    } else {
        let rows: Vec<Vec<String>> = r
            .folders
            .iter()
            .map(|f| vec![f.path.clone(), f.verdict.to_uppercase(), f.reason.clone()])
            .collect();
        println!("{}", output::table(&["FOLDER", "IS", "WHY"], &rows));
    }
    let verb = |action: &str| match (action, r.dry_run) {
        ("create", false) => "registered",
        ("create", true) => "would register",
        ("add_columns", false) => "added columns to",
        ("add_columns", true) => "would add columns to",
        ("unchanged", _) => "unchanged:",
        _ => "skipped",
    };
    for t in &r.tables {
        let mut line = format!("{} {} ({}", verb(&t.action), t.name, t.format);
        if !t.partition_keys.is_empty() {
            line.push_str(&format!(
                ", partitioned by {}, {} partitions",
                t.partition_keys.join(", "),
                t.partitions.len()
            ));
        }
        line.push(')');
        if t.action == "add_columns" {
            line.push_str(&format!(": {}", t.columns.join(", ")));
        }
        if t.action == "skip" {
            line.push_str(&format!(": {}", t.reason));
        }
        println!("{line}");
    }
    if r.tables.is_empty() {
        println!("no tables found; the notes above say why for each folder");
    }
    Ok(())
}
