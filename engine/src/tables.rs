//! The catalog's tables as DataFusion `ListingTable`s, and the check that
//! files still match the catalog.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::TableType;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::csv::CsvFormat;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::object_store::ObjectMeta;
use datafusion::physical_plan::ExecutionPlan;
use futures::TryStreamExt;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{CatalogProvider, MemoryCatalogProvider, MemorySchemaProvider};
use datafusion::catalog::{CatalogProviderList, MemoryCatalogProviderList, SchemaProvider};
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::error::DataFusionError;
use datafusion::physical_expr_adapter::{
    DefaultPhysicalExprAdapterFactory, PhysicalExprAdapter, PhysicalExprAdapterFactory,
};
use policy_engine::catalog::Catalog;
use policy_engine::model::{AccountId, Column, Format, Table, TableName};

use crate::error::EngineError;
use crate::format::file_format;

/// One catalog table as the engine reads it.
#[derive(Debug, Clone)]
pub(crate) struct EngineTable {
    /// The catalog's definition.
    pub table: Table,
    /// The provider over its files (file columns, then partition columns).
    pub provider: Arc<dyn TableProvider>,
}

/// Every readable table of a catalog version, by account and name.
#[derive(Debug, Default)]
pub(crate) struct EngineTables {
    pub tables: BTreeMap<(AccountId, TableName), EngineTable>,
    /// Tables the engine cannot serve, with the reason (reported when queried).
    pub broken: BTreeMap<(AccountId, TableName), String>,
    /// The catalog definitions of the broken tables.
    pub broken_defs: BTreeMap<(AccountId, TableName), Table>,
}

impl EngineTables {
    /// Builds the tables of a catalog version. A table that cannot be built
    /// (an `s3://` location, a type the engine cannot parse) is recorded as
    /// broken rather than failing the whole catalog.
    pub fn build(cat: &Catalog, previous: Option<&EngineTables>) -> Self {
        let mut out = EngineTables::default();
        for (key, t) in &cat.tables {
            if let Some(prev) = previous.and_then(|p| p.tables.get(key))
                && prev.table == *t
            {
                out.tables.insert(key.clone(), prev.clone());
                continue;
            }
            match listing_table(t) {
                Ok(provider) => {
                    out.tables.insert(
                        key.clone(),
                        EngineTable {
                            table: t.clone(),
                            provider,
                        },
                    );
                }
                Err(e) => {
                    tracing::warn!(table = %t.name, account = %t.account, error = %e,
                        "table cannot be served by the embedded engine");
                    out.broken.insert(key.clone(), e.to_string());
                    out.broken_defs.insert(key.clone(), t.clone());
                }
            }
        }
        out
    }

    /// A provider that fails every scan with the reason the table cannot be
    /// served, so a query naming it gets that reason, not "table not found".
    fn broken_provider(&self, key: &(AccountId, TableName), why: &str) -> Arc<dyn TableProvider> {
        let fields: Option<Vec<Field>> = self.broken_defs.get(key).and_then(|t| {
            t.columns
                .iter()
                .map(|c| {
                    data_type(&t.name, c)
                        .ok()
                        .map(|dt| Field::new(&c.name, dt, true))
                })
                .collect()
        });
        Arc::new(BrokenTable {
            schema: Arc::new(Schema::new(fields.unwrap_or_default())),
            why: why.to_string(),
        })
    }

    /// The catalog list exposing every table as `"ACCOUNT"."DB"."TABLE"`.
    pub fn catalog_list(&self) -> Result<Arc<dyn CatalogProviderList>, EngineError> {
        let list = MemoryCatalogProviderList::new();
        let mut catalogs: BTreeMap<&AccountId, BTreeMap<&str, Arc<MemorySchemaProvider>>> =
            BTreeMap::new();
        let broken = self
            .broken
            .iter()
            .map(|(k, why)| (k, self.broken_provider(k, why)));
        let served = self.tables.iter().map(|(k, t)| (k, t.provider.clone()));
        for ((account, name), provider) in served.chain(broken) {
            let schema = catalogs
                .entry(account)
                .or_default()
                .entry(name.database.as_str())
                .or_insert_with(|| Arc::new(MemorySchemaProvider::new()));
            schema
                .register_table(name.table.clone(), provider)
                .map_err(|e| EngineError::internal(format!("registering `{name}`: {e}")))?;
        }
        for (account, schemas) in catalogs {
            let cat = MemoryCatalogProvider::new();
            for (db, s) in schemas {
                cat.register_schema(db, s).map_err(|e| {
                    EngineError::internal(format!("registering database `{db}`: {e}"))
                })?;
            }
            list.register_catalog(account.to_string(), Arc::new(cat));
        }
        Ok(Arc::new(list))
    }
}

/// The Arrow data type of a catalog column.
pub(crate) fn data_type(table: &TableName, c: &Column) -> Result<DataType, EngineError> {
    c.data_type.parse::<DataType>().map_err(|_| {
        EngineError::FailedPrecondition(format!(
            "column `{}` of table `{table}` has type `{}`, which the engine cannot read; \
             re-create the table",
            c.name, c.data_type
        ))
    })
}

/// Builds the `ListingTable` of a catalog table, with the catalog's schema.
pub(crate) fn listing_table(t: &Table) -> Result<Arc<dyn TableProvider>, EngineError> {
    if t.format == Format::Delta {
        return Ok(Arc::new(crate::delta::DeltaCatalogTable::new(t)?));
    }
    if crate::positional::is_positional(t) {
        return Ok(Arc::new(crate::positional::PositionalTable::new(t)?));
    }
    if t.location.local_path().is_none() {
        return Err(EngineError::Unsupported(format!(
            "table `{}` is at `{}`; the embedded engine reads only `file://` locations, so \
             serve it with `lakegate serve --upstream` and an engine that reads it",
            t.name, t.location
        )));
    }
    let url = ListingTableUrl::parse(t.location.as_str()).map_err(|e| {
        EngineError::FailedPrecondition(format!(
            "table `{}` has location `{}`, which is not a usable URL ({e}); re-create the table",
            t.name, t.location
        ))
    })?;
    let mut file_fields = Vec::new();
    let mut partition_cols = Vec::new();
    for c in &t.columns {
        let dt = data_type(&t.name, c)?;
        if c.partition {
            partition_cols.push((c.name.clone(), dt));
        } else {
            file_fields.push(Field::new(&c.name, dt, true));
        }
    }
    let keys: Vec<&String> = partition_cols.iter().map(|(n, _)| n).collect();
    if keys != t.partition_keys.iter().collect::<Vec<_>>() {
        return Err(EngineError::FailedPrecondition(format!(
            "table `{}` lists partition keys `{}` but its partition columns are `{}`; \
             re-create the table",
            t.name,
            t.partition_keys.join(","),
            keys.iter()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(",")
        )));
    }
    let file_names: Vec<String> = file_fields.iter().map(|f| f.name().clone()).collect();
    let file_schema: SchemaRef = Arc::new(Schema::new(file_fields));
    let (format, ext) = file_format(t.format);
    let options = ListingOptions::new(format)
        .with_file_extension(ext)
        .with_table_partition_cols(partition_cols);
    let config = ListingTableConfig::new(url.clone())
        .with_listing_options(options)
        .with_schema(file_schema)
        .with_expr_adapter_factory(Arc::new(StrictAdapterFactory {
            table: t.name.to_string(),
        }));
    let table = ListingTable::try_new(config).map_err(|e| {
        EngineError::FailedPrecondition(format!(
            "table `{}` cannot be opened ({e}); re-create the table",
            t.name
        ))
    })?;
    match t.format {
        // Parquet files are checked as they are opened (StrictAdapterFactory).
        Format::Parquet | Format::Json | Format::Delta => Ok(Arc::new(table)),
        Format::Csv => Ok(Arc::new(CsvCheckedTable {
            inner: Arc::new(table),
            table: t.name.to_string(),
            url,
            columns: file_names,
            verified: Mutex::new(HashSet::new()),
        })),
    }
}

/// Most CSV files whose header we remember as checked.
const MAX_VERIFIED: usize = 100_000;

/// A CSV table that checks each file's header before a scan. CSV columns
/// are read by position, so a file whose header changed would silently put
/// values under the wrong column names.
#[derive(Debug)]
struct CsvCheckedTable {
    inner: Arc<ListingTable>,
    table: String,
    url: ListingTableUrl,
    /// File column names in catalog order.
    columns: Vec<String>,
    /// Files already checked: (path, size, modification time).
    verified: Mutex<HashSet<(String, u64, i64)>>,
}

impl CsvCheckedTable {
    fn is_verified(&self, key: &(String, u64, i64)) -> bool {
        self.verified
            .lock()
            .map(|v| v.contains(key))
            .unwrap_or(false)
    }

    async fn check_files(&self, state: &dyn Session) -> datafusion::error::Result<()> {
        let store = state.runtime_env().object_store(&self.url)?;
        let files: Vec<ObjectMeta> = self
            .url
            .list_all_files(state, store.as_ref(), ".csv")
            .await?
            .try_collect()
            .await?;
        let format = CsvFormat::default()
            .with_has_header(true)
            .with_schema_infer_max_rec(1);
        for meta in files {
            let key = (
                meta.location.to_string(),
                meta.size,
                meta.last_modified.timestamp_nanos_opt().unwrap_or_default(),
            );
            if meta.size == 0 || self.is_verified(&key) {
                continue;
            }
            let schema = format
                .infer_schema(state, &store, std::slice::from_ref(&meta))
                .await?;
            let names: Vec<&String> = schema.fields().iter().map(|f| f.name()).collect();
            if names.len() != self.columns.len()
                || names.iter().zip(&self.columns).any(|(a, b)| *a != b)
            {
                return Err(DataFusionError::External(Box::new(
                    EngineError::FailedPrecondition(format!(
                        "the files of table `{}` no longer match the catalog: file `{}` has \
                         columns `{}` but the catalog says `{}`; restore the file or drop and \
                         re-create the table",
                        self.table,
                        meta.location,
                        names
                            .iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(","),
                        self.columns.join(",")
                    )),
                )));
            }
            if let Ok(mut v) = self.verified.lock() {
                if v.len() >= MAX_VERIFIED {
                    v.clear();
                }
                v.insert(key);
            }
        }
        Ok(())
    }
}

#[tonic::async_trait]
impl TableProvider for CsvCheckedTable {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn table_type(&self) -> TableType {
        self.inner.table_type()
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> datafusion::error::Result<Vec<TableProviderFilterPushDown>> {
        self.inner.supports_filters_pushdown(filters)
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        self.check_files(state).await?;
        self.inner.scan(state, projection, filters, limit).await
    }
}

/// Refuses to read a Parquet file whose columns differ from the catalog's,
/// because DataFusion would otherwise fill a missing column with NULLs or
/// cast a changed type, and a query would silently return wrong values.
#[derive(Debug)]
struct StrictAdapterFactory {
    table: String,
}

impl PhysicalExprAdapterFactory for StrictAdapterFactory {
    fn create(
        &self,
        logical_file_schema: SchemaRef,
        physical_file_schema: SchemaRef,
    ) -> datafusion::error::Result<Arc<dyn PhysicalExprAdapter>> {
        for want in logical_file_schema.fields() {
            let problem = match physical_file_schema.field_with_name(want.name()) {
                Err(_) => Some(format!("a file has no column `{}`", want.name())),
                Ok(have) if have.data_type() != want.data_type() => Some(format!(
                    "column `{}` is `{}` in a file but `{}` in the catalog",
                    want.name(),
                    have.data_type(),
                    want.data_type()
                )),
                Ok(_) => None,
            };
            if let Some(problem) = problem {
                return Err(DataFusionError::External(Box::new(
                    EngineError::FailedPrecondition(format!(
                        "the files of table `{}` no longer match the catalog: {problem}; \
                         restore the files or drop and re-create the table",
                        self.table
                    )),
                )));
            }
        }
        DefaultPhysicalExprAdapterFactory.create(logical_file_schema, physical_file_schema)
    }
}

/// A catalog table the engine cannot serve.
#[derive(Debug)]
struct BrokenTable {
    schema: SchemaRef,
    why: String,
}

#[tonic::async_trait]
impl TableProvider for BrokenTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        _projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        Err(DataFusionError::External(Box::new(
            EngineError::FailedPrecondition(self.why.clone()),
        )))
    }
}
