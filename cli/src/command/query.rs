//! `lakegate query [--json] SQL`: a Flight SQL client. Runs the statement
//! through the proxy as the token's principal and prints the result.

use arrow::record_batch::RecordBatch;
use arrow_flight::sql::client::FlightSqlServiceClient;
use futures::TryStreamExt;
use tonic::transport::Endpoint;

use super::Global;
use crate::exit::CliError;

/// Most rows printed as a table (JSON output is not capped).
const MAX_TABLE_ROWS: usize = 10_000;

/// `query [--json] SQL`
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The SQL query (tables are `DB.TABLE`).
    #[arg(value_name = "SQL")]
    sql: String,
}

/// A Flight SQL client for the server named by `--endpoint`, with the token.
pub async fn flight_client(
    g: &Global,
) -> Result<FlightSqlServiceClient<tonic::transport::Channel>, CliError> {
    let endpoint = g.endpoint.clone();
    let ep = Endpoint::from_shared(endpoint.clone())
        .map_err(|e| {
            CliError::usage(format!(
                "`{endpoint}` is not a valid endpoint ({e}); write http://HOST:PORT"
            ))
        })?
        .connect_timeout(std::time::Duration::from_secs(5))
        .tcp_nodelay(true);
    let channel = ep.connect().await.map_err(|e| {
        CliError::error(format!(
            "cannot connect to lakegate at {endpoint} ({e}); is `lakegate serve` running there? \
             set --endpoint or LAKEGATE_ENDPOINT"
        ))
    })?;
    let mut client = FlightSqlServiceClient::new(channel);
    match &g.token {
        Some(t) => client.set_header("authorization", format!("Bearer {}", t.trim())),
        None => {
            return Err(CliError::denied(
                "no token: pass --token or set LAKEGATE_TOKEN (mint one with `lakegate token`)",
            ));
        }
    }
    Ok(client)
}

fn flight_error(e: arrow_flight::error::FlightError, endpoint: &str) -> CliError {
    match e {
        arrow_flight::error::FlightError::Tonic(status) => CliError::from_status(*status, endpoint),
        other => CliError::error(format!("the result stream failed: {other}")),
    }
}

/// Runs the query and prints the result.
pub async fn run(a: Args, g: &Global) -> Result<(), CliError> {
    let mut client = flight_client(g).await?;
    let info = client
        .execute(a.sql.clone(), None)
        .await
        .map_err(|e| flight_error(e, &g.endpoint))?;
    let mut batches: Vec<RecordBatch> = Vec::new();
    for ep in info.endpoint {
        let Some(ticket) = ep.ticket else { continue };
        let stream = client
            .do_get(ticket)
            .await
            .map_err(|e| flight_error(e, &g.endpoint))?;
        let mut got: Vec<RecordBatch> = stream
            .try_collect()
            .await
            .map_err(|e| flight_error(e, &g.endpoint))?;
        batches.append(&mut got);
    }
    if g.json {
        let mut w = arrow::json::ArrayWriter::new(std::io::stdout().lock());
        let refs: Vec<&RecordBatch> = batches.iter().collect();
        w.write_batches(&refs)
            .map_err(|e| CliError::error(format!("cannot print the result: {e}")))?;
        w.finish()
            .map_err(|e| CliError::error(format!("cannot print the result: {e}")))?;
        println!();
        return Ok(());
    }
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    let mut shown = Vec::new();
    let mut left = MAX_TABLE_ROWS;
    for b in &batches {
        if left == 0 {
            break;
        }
        let n = b.num_rows().min(left);
        shown.push(b.slice(0, n));
        left -= n;
    }
    // NULL must not look like an empty string.
    let options = arrow::util::display::FormatOptions::default().with_null("NULL");
    let text = arrow::util::pretty::pretty_format_batches_with_options(&shown, &options)
        .map_err(|e| CliError::error(format!("cannot print the result: {e}")))?;
    println!("{text}");
    if rows > MAX_TABLE_ROWS {
        println!("({rows} rows; showing the first {MAX_TABLE_ROWS}; use --json for all)");
    } else {
        println!("({rows} row{})", if rows == 1 { "" } else { "s" });
    }
    Ok(())
}
