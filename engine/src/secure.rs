//! Secured scans: a table provider that applies the caller's row filter,
//! cell conditions and masks inside the scan, below every user expression.
//!
//! ```text
//!   user plan (filters, projections, joins, limits ...)
//!        │   nothing crosses this line
//!   SecureBoundaryExec ── refuses filter / projection / limit / sort pushdown
//!        │
//!   ProjectionExec   visible columns: masks, CASE WHEN cells THEN col END
//!        │
//!   FilterExec       row predicate (OR of the AnyOf predicates)
//!        │
//!   DataSourceExec   ListingTable scan; pruning only (partitions, row groups)
//! ```

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DFSchema, project_schema};
use datafusion::datasource::TableType;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::{SendableRecordBatchStream, SessionState, TaskContext};
use datafusion::logical_expr::expr_rewriter::unnormalize_col;
use datafusion::logical_expr::{Expr, Operator, TableProviderFilterPushDown, lit, or, when};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::filter_pushdown::{
    ChildPushdownResult, FilterDescription, FilterPushdownPhase, FilterPushdownPropagation,
};
use datafusion::physical_plan::projection::{ProjectionExec, ProjectionExpr};
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use datafusion::sql::sqlparser::ast::ExprWithAlias;
use policy_engine::access::{RowPredicate, TableAccess};
use policy_engine::predicate::RowExpr;

use crate::error::EngineError;
use crate::infer::is_lower_ident;
use crate::masks::{col_ref, mask_expr, parse_expr};
use crate::tables::EngineTable;

/// A table the query may read, as the caller may see it.
#[derive(Clone, Debug)]
pub struct SecuredTable {
    /// The single identifier the SQL uses for it, e.g. `__lg_t0`.
    pub name: String,
    /// What the caller may see.
    pub access: TableAccess,
    /// The key of the `hash` mask (equal values hash equally under one key).
    pub hash_key: Vec<u8>,
}

/// A table provider whose scan applies a caller's [`TableAccess`].
#[derive(Debug)]
pub(crate) struct SecureTable {
    table: String,
    inner: Arc<dyn TableProvider>,
    /// Visible columns, typed as their masks produce.
    schema: SchemaRef,
    /// One expression per visible column, over the table's columns.
    exprs: Vec<Expr>,
    /// The row predicate, `None` for every row.
    rows: Option<Expr>,
    /// Visible columns that are shown as stored (no mask, no cell condition):
    /// user filters on only these may be used for pruning.
    plain: BTreeSet<String>,
}

impl SecureTable {
    /// Builds the secured view of `table` for `secured.access`.
    pub(crate) fn try_new(
        state: &SessionState,
        table: &EngineTable,
        secured: &SecuredTable,
    ) -> Result<Self, EngineError> {
        let access = &secured.access;
        let t = &table.table;
        let name = t.name.to_string();
        if !is_lower_ident(&secured.name) {
            return Err(EngineError::internal(format!(
                "secured table name `{}` is not a lower-case identifier",
                secured.name
            )));
        }
        if access.account != t.account
            || access.table != t.name
            || access.location != t.location
            || access.format != t.format
            || access.partition_keys != t.partition_keys
        {
            return Err(EngineError::FailedPrecondition(format!(
                "table `{name}` changed while the query was being planned; run the query again"
            )));
        }
        let full: SchemaRef = table.provider.schema();
        let df_full = DFSchema::try_from(full.as_ref().clone())
            .map_err(|e| EngineError::internal(format!("schema of `{name}`: {e}")))?;
        let parse = |sql: &str| parse_expr(state, sql, &df_full);
        // Row predicates are typed ASTs (attributes are literal nodes): they
        // are planned as they are, never printed and parsed again.
        let plan_pred = |e: &RowExpr| {
            state
                .create_logical_expr_from_sql_expr(
                    ExprWithAlias {
                        expr: e.expr().clone(),
                        alias: None,
                    },
                    &df_full,
                )
                .map_err(|e| e.strip_backtrace())
        };
        let predicate = |p: &RowPredicate, what: &str| -> Result<Option<Expr>, EngineError> {
            match p {
                RowPredicate::All => Ok(None),
                RowPredicate::AnyOf(ps) => {
                    let mut acc: Option<Expr> = None;
                    for pred in ps {
                        let e = plan_pred(pred).map_err(|e| {
                            EngineError::FailedPrecondition(format!(
                                "the {what} of table `{name}` cannot be applied ({e}); ask a \
                                 data lake admin to fix the data filter"
                            ))
                        })?;
                        acc = Some(match acc {
                            None => e,
                            Some(a) => or(a, e),
                        });
                    }
                    // No predicate at all: no row is visible.
                    Ok(Some(acc.unwrap_or_else(|| lit(false))))
                }
            }
        };
        let rows = predicate(&access.rows, "row filter")?;

        let mut exprs = Vec::with_capacity(access.columns.len());
        let mut plain = BTreeSet::new();
        for c in &access.columns {
            let field = full.field_with_name(&c.name).map_err(|_| {
                EngineError::FailedPrecondition(format!(
                    "column `{}` of table `{name}` is not in the engine's copy of the catalog; \
                     run the query again",
                    c.name
                ))
            })?;
            let mut e = match &c.mask {
                None => col_ref(&c.name),
                Some(m) => mask_expr(&c.name, field.data_type(), m, &secured.hash_key, &parse)?,
            };
            // Rule 8 per cell: in the rows a filter shows it unmasked, the
            // clear value wins over the mask.
            if c.mask.is_some()
                && let Some(clear) = predicate(
                    c.unmasked.as_ref().unwrap_or(&RowPredicate::All),
                    "cell filter",
                )?
            {
                e = when(clear, col_ref(&c.name))
                    .otherwise(e)
                    .map_err(|e| EngineError::internal(format!("cell condition: {e}")))?;
            }
            if let Some(cells) = predicate(
                c.cells.as_ref().unwrap_or(&RowPredicate::All),
                "cell filter",
            )? {
                e = when(cells, e)
                    .end()
                    .map_err(|e| EngineError::internal(format!("cell condition: {e}")))?;
            }
            if c.mask.is_none() && c.cells.is_none() && c.unmasked.is_none() {
                plain.insert(c.name.clone());
            }
            exprs.push(e);
        }

        // Type every visible column as its expression produces it.
        let mut fields = Vec::with_capacity(exprs.len());
        for (c, e) in access.columns.iter().zip(&exprs) {
            let phys = state
                .create_physical_expr(e.clone(), &df_full)
                .map_err(|e| {
                    EngineError::FailedPrecondition(format!(
                        "column `{}` of table `{name}` cannot be shown ({}); ask a data lake admin \
                     to check its mask",
                        c.name,
                        e.strip_backtrace()
                    ))
                })?;
            let f = phys
                .return_field(&full)
                .map_err(|e| EngineError::internal(format!("type of `{}`: {e}", c.name)))?;
            fields.push(Field::new(&c.name, f.data_type().clone(), f.is_nullable()));
        }
        Ok(Self {
            table: name,
            inner: table.provider.clone(),
            schema: Arc::new(Schema::new(fields)),
            exprs,
            rows,
            plain,
        })
    }

    /// Whether a user filter may be used for pruning: only columns shown as
    /// stored, literals, comparisons, AND/OR/NOT, IS [NOT] NULL, IN lists,
    /// BETWEEN and LIKE. Anything that could fail or compute is refused.
    fn is_safe(&self, e: &Expr) -> bool {
        match e {
            Expr::Column(c) => self.plain.contains(&c.name),
            Expr::Literal(..) => true,
            Expr::BinaryExpr(b) => {
                matches!(
                    b.op,
                    Operator::Eq
                        | Operator::NotEq
                        | Operator::Lt
                        | Operator::LtEq
                        | Operator::Gt
                        | Operator::GtEq
                        | Operator::IsDistinctFrom
                        | Operator::IsNotDistinctFrom
                        | Operator::And
                        | Operator::Or
                ) && self.is_safe(&b.left)
                    && self.is_safe(&b.right)
            }
            Expr::Not(x) | Expr::IsNull(x) | Expr::IsNotNull(x) => self.is_safe(x),
            Expr::InList(l) => self.is_safe(&l.expr) && l.list.iter().all(|x| self.is_safe(x)),
            Expr::Between(b) => {
                self.is_safe(&b.expr) && self.is_safe(&b.low) && self.is_safe(&b.high)
            }
            Expr::Like(l) => self.is_safe(&l.expr) && self.is_safe(&l.pattern),
            _ => false,
        }
    }
}

#[tonic::async_trait]
impl TableProvider for SecureTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        // Never Exact: the user's filter always stays above the boundary.
        Ok(filters
            .iter()
            .map(|f| {
                if self.is_safe(f) {
                    TableProviderFilterPushDown::Inexact
                } else {
                    TableProviderFilterPushDown::Unsupported
                }
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let wanted: Vec<usize> = match projection {
            Some(p) => p.clone(),
            None => (0..self.exprs.len()).collect(),
        };
        let mut out = Vec::with_capacity(wanted.len());
        for &i in &wanted {
            let (Some(e), Ok(f)) = (self.exprs.get(i), self.schema.fields().get(i).ok_or(()))
            else {
                return Err(DataFusionError::Internal(format!(
                    "projection index {i} out of range for `{}`",
                    self.table
                )));
            };
            out.push((e.clone(), f.name().clone()));
        }

        // The table columns the visible columns and the row filter read.
        let full = self.inner.schema();
        let mut needed = BTreeSet::new();
        for e in out.iter().map(|(e, _)| e).chain(self.rows.iter()) {
            for c in e.column_refs() {
                needed.insert(full.index_of(&c.name)?);
            }
        }
        let inner_projection: Vec<usize> = needed.into_iter().collect();

        // Filters for pruning only: the safe user filters and the row filter.
        let mut pruning: Vec<Expr> = filters
            .iter()
            .filter(|f| self.is_safe(f))
            .map(|f| unnormalize_col(f.clone()))
            .collect();
        pruning.extend(self.rows.iter().cloned());
        // A limit may reach the files only if every row read is shown.
        let inner_limit = if self.rows.is_none() { limit } else { None };
        let mut plan = self
            .inner
            .scan(state, Some(&inner_projection), &pruning, inner_limit)
            .await?;

        let df_inner = DFSchema::try_from(plan.schema().as_ref().clone())?;
        if let Some(rows) = &self.rows {
            let p = state.create_physical_expr(rows.clone(), &df_inner)?;
            plan = Arc::new(FilterExec::try_new(p, plan)?);
        }
        let mut proj: Vec<ProjectionExpr> = Vec::with_capacity(out.len());
        for (e, name) in out {
            let p: Arc<dyn PhysicalExpr> = state.create_physical_expr(e, &df_inner)?;
            proj.push((p, name).into());
        }
        let plan: Arc<dyn ExecutionPlan> = Arc::new(ProjectionExec::try_new(proj, plan)?);
        let want = project_schema(&self.schema, Some(&wanted))?;
        let got = plan.schema();
        if want.fields().len() != got.fields().len()
            || want
                .fields()
                .iter()
                .zip(got.fields())
                .any(|(a, b)| a.name() != b.name() || a.data_type() != b.data_type())
        {
            return Err(DataFusionError::Internal(format!(
                "secured scan of `{}` produced {got:?}, expected {want:?}",
                self.table
            )));
        }
        Ok(Arc::new(SecureBoundaryExec::new(plan, self.table.clone())))
    }
}

/// The top of a secured scan. Nothing from the user's plan may move below
/// it: it refuses filter, projection, limit and sort pushdown and reports no
/// statistics, so user expressions only ever see rows and cells the policy
/// shows.
#[derive(Debug)]
pub struct SecureBoundaryExec {
    input: Arc<dyn ExecutionPlan>,
    table: String,
    props: Arc<PlanProperties>,
}

impl SecureBoundaryExec {
    fn new(input: Arc<dyn ExecutionPlan>, table: String) -> Self {
        let props = Arc::clone(input.properties());
        Self {
            input,
            table,
            props,
        }
    }
}

impl DisplayAs for SecureBoundaryExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "SecureBoundaryExec: table={}", self.table)
    }
}

impl ExecutionPlan for SecureBoundaryExec {
    fn name(&self) -> &str {
        "SecureBoundaryExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.props
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let mut children = children;
        match (children.pop(), children.is_empty()) {
            (Some(input), true) => Ok(Arc::new(SecureBoundaryExec::new(input, self.table.clone()))),
            _ => Err(DataFusionError::Internal(
                "SecureBoundaryExec has exactly one child".into(),
            )),
        }
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> DfResult<SendableRecordBatchStream> {
        self.input.execute(partition, context)
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn supports_limit_pushdown(&self) -> bool {
        false
    }

    fn with_fetch(&self, _limit: Option<usize>) -> Option<Arc<dyn ExecutionPlan>> {
        None
    }

    fn try_swapping_with_projection(
        &self,
        _projection: &ProjectionExec,
    ) -> DfResult<Option<Arc<dyn ExecutionPlan>>> {
        Ok(None)
    }

    fn gather_filters_for_pushdown(
        &self,
        _phase: FilterPushdownPhase,
        parent_filters: Vec<Arc<dyn PhysicalExpr>>,
        _config: &ConfigOptions,
    ) -> DfResult<FilterDescription> {
        Ok(FilterDescription::all_unsupported(
            &parent_filters,
            &self.children(),
        ))
    }

    fn handle_child_pushdown_result(
        &self,
        _phase: FilterPushdownPhase,
        child_pushdown_result: ChildPushdownResult,
        _config: &ConfigOptions,
    ) -> DfResult<FilterPushdownPropagation<Arc<dyn ExecutionPlan>>> {
        Ok(FilterPushdownPropagation::all_unsupported(
            child_pushdown_result,
        ))
    }
}
