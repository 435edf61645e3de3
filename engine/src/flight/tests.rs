#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a panic is a failed test"
)]

use std::sync::Arc;

use arrow_flight::sql::client::FlightSqlServiceClient;
use arrow_flight::sql::{CommandGetDbSchemas, CommandGetTables, SqlInfo};
use datafusion::arrow::array::{Array, RecordBatch, StringArray};
use futures::TryStreamExt;
use tonic::transport::Channel;

use super::serve_engine;
use crate::engine::Engine;
use crate::engine::tests::lake;

async fn fetch(
    client: &mut FlightSqlServiceClient<Channel>,
    info: arrow_flight::FlightInfo,
) -> Vec<RecordBatch> {
    let mut out = Vec::new();
    for ep in info.endpoint {
        let stream = client.do_get(ep.ticket.unwrap()).await.unwrap();
        let mut batches: Vec<RecordBatch> = stream.try_collect().await.unwrap();
        out.append(&mut batches);
    }
    out
}

fn strings(batches: &[RecordBatch], col: &str) -> Vec<String> {
    let mut v = Vec::new();
    for b in batches {
        let a = b.column_by_name(col).unwrap();
        let a = a.as_any().downcast_ref::<StringArray>().unwrap();
        for i in 0..a.len() {
            v.push(a.value(i).to_string());
        }
    }
    v
}

#[tokio::test]
async fn flight_sql_round_trip() {
    let lake = lake().await;
    let engine = Arc::new(Engine::new(&lake.catalog).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve_engine(engine, listener, async {
        let _ = rx.await;
    }));

    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = FlightSqlServiceClient::new(channel);

    // A statement.
    let info = client
        .execute(
            r#"SELECT id, region FROM "111111111111".sales.orders WHERE region = 'EU' ORDER BY id"#
                .to_string(),
            None,
        )
        .await
        .unwrap();
    let batches = fetch(&mut client, info).await;
    assert_eq!(strings(&batches, "region"), vec!["EU", "EU"]);

    // An empty result still carries its schema.
    let info = client
        .execute(
            r#"SELECT id FROM "111111111111".sales.orders WHERE id < 0"#.to_string(),
            None,
        )
        .await
        .unwrap();
    let batches = fetch(&mut client, info).await;
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 0);

    // A prepared statement without parameters.
    let mut prepared = client
        .prepare(
            r#"SELECT count(*) AS n FROM "111111111111".sales.events"#.to_string(),
            None,
        )
        .await
        .unwrap();
    let info = prepared.execute().await.unwrap();
    let batches = fetch(&mut client, info).await;
    assert_eq!(batches[0].num_rows(), 1);
    prepared.close().await.unwrap();

    // Errors are statuses with the engine's message.
    let err = client
        .execute("SELECT nope FROM nowhere".to_string(), None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("nowhere"), "{err}");
    let err = client
        .execute("CREATE TABLE t (a INT)".to_string(), None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("only queries"), "{err}");

    // Metadata.
    let info = client.get_catalogs().await.unwrap();
    let batches = fetch(&mut client, info).await;
    assert_eq!(strings(&batches, "catalog_name"), vec!["111111111111"]);
    let info = client
        .get_db_schemas(CommandGetDbSchemas {
            catalog: None,
            db_schema_filter_pattern: None,
        })
        .await
        .unwrap();
    let batches = fetch(&mut client, info).await;
    assert_eq!(strings(&batches, "db_schema_name"), vec!["sales"]);
    let info = client
        .get_tables(CommandGetTables {
            catalog: None,
            db_schema_filter_pattern: None,
            table_name_filter_pattern: Some("ord%".into()),
            table_types: vec![],
            include_schema: true,
        })
        .await
        .unwrap();
    let batches = fetch(&mut client, info).await;
    assert_eq!(strings(&batches, "table_name"), vec!["orders"]);
    let info = client.get_table_types().await.unwrap();
    let batches = fetch(&mut client, info).await;
    assert_eq!(strings(&batches, "table_type"), vec!["TABLE"]);
    let info = client
        .get_sql_info(vec![SqlInfo::FlightSqlServerName])
        .await
        .unwrap();
    let batches = fetch(&mut client, info).await;
    assert_eq!(batches[0].num_rows(), 1);

    tx.send(()).unwrap();
    server.await.unwrap().unwrap();
}
