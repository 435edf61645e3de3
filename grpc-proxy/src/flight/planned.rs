//! Statements run on a state that is not the store's: `policy test` runs a
//! check's query as its principal on the catalog a policy repository would
//! lead to (DESIGN §8), through the same rewrite and the same secured scan
//! as any statement, on the embedded engine. The admin who asked is
//! audited, with the principal the statement ran as.

use super::plan::SnapResolver;
use super::*;

/// Most rows one check's query may return.
pub const MAX_CHECK_ROWS: usize = 1000;

impl FlightProxy {
    /// Runs `sql` as `subject` on `snap` (a planned state), for `admin`;
    /// returns at most [`MAX_CHECK_ROWS`] rows, within the statement timeout.
    pub async fn run_planned(
        &self,
        snap: &Snapshot,
        admin: &Caller,
        subject: &Caller,
        sql: &str,
    ) -> Result<Vec<RecordBatch>, Status> {
        let started = Instant::now();
        let mut rec = AuditRecord {
            time: crate::audit::now_rfc3339(),
            principal: admin.principal.to_string(),
            groups: admin.groups.iter().map(ToString::to_string).collect(),
            operation: format!(
                "policy_test as {} (groups: {}; attributes: {})",
                subject.principal,
                subject
                    .groups
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                subject
                    .attrs
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            statement: Some(sql.to_string()),
            ..AuditRecord::default()
        };
        let t = self.limits.statement_timeout;
        let ran = tokio::time::timeout(t, self.run_planned_inner(snap, subject, sql, &mut rec))
            .await
            .unwrap_or_else(|_| Err(deadline_status(t)));
        rec.duration_ms = started.elapsed().as_secs_f64() * 1e3;
        match &ran {
            Ok(batches) => {
                rec.decision = "allow".into();
                rec.rows = Some(batches.iter().map(|b| b.num_rows() as u64).sum());
            }
            Err(s) => {
                rec.decision = "deny".into();
                rec.error = Some(s.message().to_string());
            }
        }
        // The rows were computed but not yet handed over: a check whose
        // line cannot be written returns nothing.
        self.audit
            .write(rec)
            .await
            .map_err(|e| status(ProxyError::Audit(e)))?;
        ran
    }

    async fn run_planned_inner(
        &self,
        snap: &Snapshot,
        subject: &Caller,
        sql: &str,
        rec: &mut AuditRecord,
    ) -> Result<Vec<RecordBatch>, Status> {
        let Backend::Embedded(engine) = &self.backend else {
            return Err(Status::failed_precondition(
                "`rows` checks run statements on the embedded engine, and this server sends \
                 them to an upstream; check `row_filter`, `visible_columns` and `masks` \
                 instead, or run `policy test` against a server with the embedded engine",
            ));
        };
        // The planned state has the live catalog's tables (a repository
        // never changes tables): the engine serves the live version.
        let live = self.snapshot().await?;
        engine.refresh(&live.catalog).map_err(engine_status)?;
        let mut opts = RewriteOptions::new(subject.account().clone());
        opts.placement = Placement::Secured;
        opts.print_secured = false;
        let rewritten = rewrite::rewrite(
            sql,
            &opts,
            &SnapResolver {
                snap,
                caller: subject,
            },
        )
        .map_err(from_error)?;
        let rewritten = Arc::new(rewritten);
        // Tables, columns, filters and masks, as for any statement.
        Self::describe_plan(rec, &rewritten);
        let mut stream = engine
            .execute_secured(&rewritten.statement, &self.secured(&rewritten))
            .await
            .map_err(engine_status)?;
        let mut out = Vec::new();
        let mut rows = 0usize;
        while let Some(batch) = stream
            .try_next()
            .await
            .map_err(|e| engine_status(lakegate_engine::EngineError::from_datafusion(e)))?
        {
            rows = rows.saturating_add(batch.num_rows());
            if rows > MAX_CHECK_ROWS {
                return Err(Status::invalid_argument(format!(
                    "the check's query returns more than {MAX_CHECK_ROWS} rows; narrow it (a \
                     WHERE or LIMIT)"
                )));
            }
            out.push(batch);
        }
        Ok(out)
    }
}
