//! Blueprint runs against real sources, read back from the Delta tables.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failed test"
)]

mod direct;
mod sqlite;

use std::sync::Mutex;

use blueprints::run::{FailKind, Governance, RunError};
use deltalake_core::arrow::array::RecordBatch;
use deltalake_core::arrow::util::pretty::pretty_format_batches;
use deltalake_core::datafusion::prelude::SessionContext;
use futures::future::BoxFuture;

/// Records what the runner asked governance for; refuses when told to.
#[derive(Default)]
pub struct FakeGov {
    /// Refuse `authorize`.
    pub deny: bool,
    /// Tables registered, with their locations.
    pub registered: Mutex<Vec<(String, String)>>,
}

impl Governance for FakeGov {
    fn authorize(
        &self,
        _db: &str,
        _location: &str,
        _tables: &[String],
        _replaces: bool,
    ) -> Result<(), RunError> {
        if self.deny {
            return Err(RunError::new(FailKind::Denied, "denied"));
        }
        Ok(())
    }
    fn authorize_source(&self, _uri: &str) -> Result<(), RunError> {
        Ok(())
    }
    fn register<'a>(
        &'a self,
        _database: &'a str,
        table: &'a str,
        location: &'a str,
    ) -> BoxFuture<'a, Result<(), RunError>> {
        self.registered
            .lock()
            .unwrap()
            .push((table.to_string(), location.to_string()));
        Box::pin(async { Ok(()) })
    }
}

/// The rows of the Delta table at `location`, sorted, as a pretty table.
pub async fn read_delta(location: &str, order_by: &str) -> String {
    let table = blueprints::delta::open(location).await.unwrap();
    let ctx = SessionContext::new();
    table.update_datafusion_session(&ctx.state()).unwrap();
    let provider = table.table_provider().await.unwrap();
    ctx.register_table("t", provider).unwrap();
    let batches: Vec<RecordBatch> = ctx
        .sql(&format!("SELECT * FROM t ORDER BY {order_by}"))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    pretty_format_batches(&batches).unwrap().to_string()
}
