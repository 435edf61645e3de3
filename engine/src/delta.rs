//! Delta Lake tables: the schema for `table create --format delta`, and the
//! provider the secured scan reads them through.
//!
//! The provider shows the catalog's columns, not the Delta table's: each
//! scan loads the table's latest version, finds the catalog's columns in it
//! by name, and refuses if one is missing or changed type. A column added to
//! the Delta table later (by another writer) stays invisible until the
//! table is registered again, so nothing reaches a query that governance has
//! not seen. The Delta log decides which Parquet files are live; reading the
//! folder as plain Parquet would also return removed files.

use std::sync::Arc;

use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::TableType;
use datafusion::error::DataFusionError;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use deltalake_core::DeltaTable;
use policy_engine::model::{Column, LocationUri, Table};

use datafusion::execution::session_state::SessionStateBuilder;

use crate::error::EngineError;
use crate::format::session_config;
use crate::infer::{Inferred, check_round_trip, is_lower_ident};
use crate::tables::data_type;

async fn open(location: &LocationUri) -> Result<DeltaTable, EngineError> {
    let Some(path) = location.local_path() else {
        return Err(EngineError::Unsupported(format!(
            "Delta table `{location}` is not in a local folder; the embedded engine reads only \
             `file://` locations"
        )));
    };
    if !std::path::Path::new(path).join("_delta_log").is_dir() {
        return Err(EngineError::invalid(format!(
            "`{location}` is not a Delta table (it has no `_delta_log/` folder); point at the \
             table's root folder, or pick the format of its files"
        )));
    }
    let url = url::Url::parse(location.as_str()).map_err(|e| {
        EngineError::invalid(format!("location `{location}` is not a usable URL ({e})"))
    })?;
    DeltaTable::try_from_url(url).await.map_err(|e| {
        EngineError::invalid(format!("cannot read the Delta table at `{location}`: {e}"))
    })
}

/// The Delta provider, with the engine's session settings: strings and
/// bytes as `Utf8`/`Binary`, not view types (see [`crate::format`]).
async fn provider(
    table: &DeltaTable,
    location: &LocationUri,
) -> Result<Arc<dyn TableProvider>, EngineError> {
    let session = SessionStateBuilder::new()
        .with_config(session_config())
        .build();
    table
        .table_provider()
        .with_session(Arc::new(session))
        .await
        .map_err(|e| {
            EngineError::FailedPrecondition(format!(
                "cannot read the Delta table at `{location}`: {e}"
            ))
        })
}

/// The columns of the Delta table at `location`, partition columns marked.
/// `partition_keys`, when given, must be the table's own.
pub async fn infer(
    location: &LocationUri,
    partition_keys: &[String],
) -> Result<Inferred, EngineError> {
    let table = open(location).await?;
    let parts: Vec<String> = table
        .snapshot()
        .map(|s| s.metadata().partition_columns().to_vec())
        .map_err(|e| {
            EngineError::invalid(format!(
                "the Delta table at `{location}` has no snapshot: {e}"
            ))
        })?;
    if !partition_keys.is_empty() && partition_keys != parts.as_slice() {
        return Err(EngineError::invalid(format!(
            "partition keys `{}` are not the Delta table's (`{}`); leave `--partition-keys` out \
             for a Delta table",
            partition_keys.join(","),
            parts.join(",")
        )));
    }
    let schema = provider(&table, location).await?.schema();
    let mut columns = Vec::with_capacity(schema.fields().len());
    for f in schema.fields() {
        if !is_lower_ident(f.name()) {
            return Err(EngineError::invalid(format!(
                "column `{}` of the Delta table at `{location}` is not a lower-case identifier; \
                 rename it in the table",
                f.name()
            )));
        }
        check_round_trip(f.name(), f.data_type())?;
        columns.push(Column {
            name: f.name().clone(),
            data_type: format!("{}", f.data_type()),
            partition: parts.contains(f.name()),
        });
    }
    Ok(Inferred {
        columns,
        partition_keys: parts,
    })
}

/// A catalog table stored as Delta.
#[derive(Debug)]
pub(crate) struct DeltaCatalogTable {
    table: Table,
    schema: SchemaRef,
}

impl DeltaCatalogTable {
    /// The provider for catalog table `t` (no I/O until a scan).
    pub fn new(t: &Table) -> Result<Self, EngineError> {
        if t.location.local_path().is_none() {
            return Err(EngineError::Unsupported(format!(
                "table `{}` is at `{}`; the embedded engine reads only `file://` locations, so \
                 serve it with `lakegate serve --upstream` and an engine that reads it",
                t.name, t.location
            )));
        }
        let fields = t
            .columns
            .iter()
            .map(|c| data_type(&t.name, c).map(|dt| Field::new(&c.name, dt, true)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            table: t.clone(),
            schema: Arc::new(Schema::new(fields)),
        })
    }

    fn changed(&self, problem: String) -> DataFusionError {
        DataFusionError::External(Box::new(EngineError::FailedPrecondition(format!(
            "the Delta table behind `{}` no longer matches the catalog: {problem}; restore it, or \
             drop and register the table again",
            self.table.name
        ))))
    }
}

#[tonic::async_trait]
impl TableProvider for DeltaCatalogTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> datafusion::error::Result<Vec<TableProviderFilterPushDown>> {
        Ok(vec![
            TableProviderFilterPushDown::Unsupported;
            filters.len()
        ])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        let loc = &self.table.location;
        let table = open(loc)
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        table
            .update_datafusion_session(state)
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        let inner = provider(&table, loc)
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        let have = inner.schema();
        let wanted: Vec<usize> = match projection {
            Some(p) => p.clone(),
            None => (0..self.schema.fields().len()).collect(),
        };
        let mut mapped = Vec::with_capacity(wanted.len());
        for i in wanted {
            let Some(want) = self.schema.fields().get(i) else {
                return Err(DataFusionError::Internal(format!(
                    "projection index {i} out of range"
                )));
            };
            let Ok(j) = have.index_of(want.name()) else {
                return Err(self.changed(format!("it has no column `{}`", want.name())));
            };
            let got = have.field(j).data_type();
            if got != want.data_type() {
                return Err(self.changed(format!(
                    "column `{}` is `{got}` in the table but `{}` in the catalog",
                    want.name(),
                    want.data_type()
                )));
            }
            mapped.push(j);
        }
        inner.scan(state, Some(&mapped), &[], limit).await
    }
}
