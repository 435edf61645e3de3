//! Flight SQL client helpers: connecting with a bearer token, fetching a
//! FlightInfo's batches, and reading them as strings for comparisons.

use arrow::array::Array;
use arrow::record_batch::RecordBatch;
use arrow_flight::error::FlightError;
use arrow_flight::sql::client::FlightSqlServiceClient;
use futures::TryStreamExt;
use tonic::transport::Channel;

/// A Flight SQL client of the server at `url` (`http://HOST:PORT`) that
/// sends `token` as its bearer token.
pub async fn connect(url: &str, token: &str) -> FlightSqlServiceClient<Channel> {
    let ch = Channel::from_shared(url.to_string())
        .expect("endpoint")
        .connect()
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {url}: {e}"));
    let mut c = FlightSqlServiceClient::new(ch);
    c.set_header("authorization", format!("Bearer {token}"));
    c
}

/// Every endpoint's batches of a FlightInfo, in order (DoGet on each ticket).
pub async fn fetch(
    c: &mut FlightSqlServiceClient<Channel>,
    info: arrow_flight::FlightInfo,
) -> Result<Vec<RecordBatch>, tonic::Status> {
    let mut out = Vec::new();
    for ep in info.endpoint {
        let ticket = ep
            .ticket
            .ok_or_else(|| tonic::Status::internal("an endpoint without a ticket"))?;
        let s = c.do_get(ticket).await.map_err(status)?;
        let mut b: Vec<RecordBatch> = s.try_collect().await.map_err(status)?;
        out.append(&mut b);
    }
    Ok(out)
}

/// The gRPC status a Flight client error carries (INTERNAL for others).
pub fn status(e: FlightError) -> tonic::Status {
    match e {
        FlightError::Tonic(s) => *s,
        other => tonic::Status::internal(other.to_string()),
    }
}

/// Rows as strings (`NULL` for null), for easy comparison.
pub fn rows(batches: &[RecordBatch]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for b in batches {
        for i in 0..b.num_rows() {
            out.push(
                b.columns()
                    .iter()
                    .map(|a| {
                        if a.is_null(i) {
                            "NULL".to_string()
                        } else {
                            arrow::util::display::array_value_to_string(a, i)
                                .expect("displayable value")
                        }
                    })
                    .collect(),
            );
        }
    }
    out
}

/// The column names of the first batch.
pub fn names(batches: &[RecordBatch]) -> Vec<String> {
    batches
        .first()
        .map(|b| {
            b.schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect()
        })
        .unwrap_or_default()
}

/// A row of strings, to compare with [`rows`].
pub fn r(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}
