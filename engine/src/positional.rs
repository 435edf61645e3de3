//! Tables whose partition levels are unnamed folders (`2024/01/31/`), as the
//! crawler registers them (DESIGN §7): the keys are `partition_0` ..
//! `partition_{n-1}`, one per level, and a file's values are its folder
//! names. A level written `partition_i=VALUE/` gives `VALUE`, so a table
//! reads the same whether its folders name their keys or not.
//!
//! DataFusion's listing reads only `key=value/` folders, so each leaf
//! folder is scanned as a table of its own (with every check a plain table
//! has) and its partition values are added as constants; the leaves are
//! listed at every scan, so new partitions need no registration. Filters
//! are not pushed into the scan: the plan filters above it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::ScalarValue;
use datafusion::datasource::TableType;
use datafusion::error::DataFusionError;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::{Column as ColumnExpr, Literal};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::union::UnionExec;
use policy_engine::model::{Format, LocationUri, Table};

use crate::error::EngineError;

/// Most leaf folders one scan reads.
const MAX_LEAVES: usize = 100_000;

/// Whether `t`'s partition keys are the unnamed levels `partition_0..n-1`.
pub(crate) fn is_positional(t: &Table) -> bool {
    t.format != Format::Delta
        && !t.partition_keys.is_empty()
        && t.partition_keys
            .iter()
            .enumerate()
            .all(|(i, k)| *k == format!("partition_{i}"))
}

/// A table over unnamed partition levels.
#[derive(Debug)]
pub(crate) struct PositionalTable {
    table: Table,
    schema: SchemaRef,
    /// The table without its partition columns, as each leaf is read.
    leaf: Table,
}

impl PositionalTable {
    /// The provider for catalog table `t` (no I/O until a scan).
    pub fn new(t: &Table) -> Result<Self, EngineError> {
        let fields = t
            .columns
            .iter()
            .map(|c| crate::tables::data_type(&t.name, c).map(|dt| Field::new(&c.name, dt, true)))
            .collect::<Result<Vec<_>, _>>()?;
        // Output columns are mapped by position below, so the layout must
        // be exactly: file columns, then partition_0..n-1 in order.
        let files = t.columns.len().saturating_sub(t.partition_keys.len());
        let in_order = t.columns.iter().enumerate().all(|(i, c)| {
            if i < files {
                !c.partition
            } else {
                c.partition
                    && t.partition_keys
                        .get(i - files)
                        .is_some_and(|k| *k == c.name)
            }
        });
        if !in_order {
            return Err(EngineError::FailedPrecondition(format!(
                "table `{}` lists its columns out of order (file columns, then {}); \
                 re-create the table",
                t.name,
                t.partition_keys.join(", ")
            )));
        }
        let mut leaf = t.clone();
        leaf.columns.retain(|c| !c.partition);
        leaf.partition_keys.clear();
        Ok(Self {
            table: t.clone(),
            schema: Arc::new(Schema::new(fields)),
            leaf,
        })
    }

    fn failed(&self, what: String) -> DataFusionError {
        DataFusionError::External(Box::new(EngineError::FailedPrecondition(format!(
            "table `{}` at `{}`: {what}",
            self.table.name, self.table.location
        ))))
    }
}

/// A leaf folder: its folder names below the table, and each level's value.
type Leaf = (Vec<String>, Vec<String>);

/// The leaf folders `depth` levels below `root`. Hidden and temporary
/// folders (`.`, `_`) and symbolic links are skipped.
fn leaves(root: &Path, depth: usize) -> std::io::Result<Vec<Leaf>> {
    let mut out = Vec::new();
    let mut stack = vec![(
        root.to_path_buf(),
        Vec::<String>::new(),
        Vec::<String>::new(),
    )];
    while let Some((dir, names, values)) = stack.pop() {
        if values.len() == depth {
            out.push((names, values));
            if out.len() > MAX_LEAVES {
                return Err(std::io::Error::other(format!(
                    "more than {MAX_LEAVES} partition folders"
                )));
            }
            continue;
        }
        let mut entries = std::fs::read_dir(&dir)?.collect::<Result<Vec<_>, _>>()?;
        entries.sort_by_key(|e| std::cmp::Reverse(e.file_name()));
        for e in entries {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(['.', '_']) || !e.file_type()?.is_dir() {
                continue;
            }
            let key = format!("partition_{}=", values.len());
            let value = name.strip_prefix(&key).unwrap_or(&name).to_string();
            let (mut n, mut v) = (names.clone(), values.clone());
            n.push(name);
            v.push(value);
            stack.push((e.path(), n, v));
        }
    }
    Ok(out)
}

#[tonic::async_trait]
impl TableProvider for PositionalTable {
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
        _limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        let wanted: Vec<usize> = match projection {
            Some(p) => p.clone(),
            None => (0..self.schema.fields().len()).collect(),
        };
        let projected = Arc::new(self.schema.project(&wanted)?);
        let Some(root) = self.table.location.local_path().map(PathBuf::from) else {
            return Err(self.failed("the embedded engine reads only `file://` locations".into()));
        };
        let depth = self.table.partition_keys.len();
        let found = tokio::task::spawn_blocking(move || leaves(&root, depth))
            .await
            .map_err(|e| DataFusionError::Internal(format!("folder listing task failed: {e}")))?
            .map_err(|e| self.failed(format!("its partition folders cannot be listed ({e})")))?;
        let files = self.leaf.columns.len();
        // Each output column: a file column (its place in the leaf's
        // projection) or a partition level (its index).
        let mut leaf_projection = Vec::new();
        let mut sources = Vec::with_capacity(wanted.len());
        for &i in &wanted {
            if i < files {
                sources.push(Err(leaf_projection.len()));
                leaf_projection.push(i);
            } else {
                sources.push(Ok(i - files));
            }
        }
        let mut children: Vec<Arc<dyn ExecutionPlan>> = Vec::with_capacity(found.len());
        for (names, values) in found {
            let mut leaf = self.leaf.clone();
            leaf.location = LocationUri::parse(&format!(
                "{}/{}/",
                self.table.location.as_str().trim_end_matches('/'),
                names.join("/")
            ))
            .map_err(|e| {
                self.failed(format!("a partition folder is not a usable location: {e}"))
            })?;
            let provider = crate::tables::listing_table(&leaf)
                .map_err(|e| DataFusionError::External(Box::new(e)))?;
            let input = provider
                .scan(state, Some(&leaf_projection), &[], None)
                .await?;
            let input_schema = input.schema();
            let mut exprs: Vec<(Arc<dyn PhysicalExpr>, String)> = Vec::new();
            for (out, source) in wanted.iter().zip(&sources) {
                let field = self.schema.field(*out);
                let e: Arc<dyn PhysicalExpr> = match source {
                    Err(j) => Arc::new(ColumnExpr::new(input_schema.field(*j).name(), *j)),
                    Ok(level) => {
                        Arc::new(Literal::new(ScalarValue::Utf8(values.get(*level).cloned())))
                    }
                };
                exprs.push((e, field.name().clone()));
            }
            children.push(Arc::new(ProjectionExec::try_new(exprs, input)?));
        }
        if children.is_empty() {
            return Ok(Arc::new(EmptyExec::new(projected)));
        }
        UnionExec::try_new(children)
    }
}
