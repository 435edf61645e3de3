//! Statements: GetFlightInfo plans and seals a ticket per endpoint; DoGet
//! opens it, takes the cached plan (or plans again) and streams the result,
//! writing one audit record per call.

use super::*;

/// A statement's id in the audit log: unique per process and start time.
fn statement_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// `p1 OR p2 OR …`, for the audit log.
pub(super) fn join_or(ps: &[policy_engine::predicate::RowExpr]) -> String {
    ps.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" OR ")
}

impl FlightProxy {
    pub(super) fn audit_base(&self, caller: &Caller, op: &str, sql: Option<&str>) -> AuditRecord {
        AuditRecord {
            principal: caller.principal.to_string(),
            groups: caller.groups.iter().map(|g| g.to_string()).collect(),
            operation: op.into(),
            // Hashed by the audit writer, off the request path.
            statement_hash: None,
            statement: sql.map(String::from),
            ..Default::default()
        }
    }

    pub(super) fn describe_plan(rec: &mut AuditRecord, rw: &Arc<Rewritten>) {
        for t in &rw.tables {
            let name = format!("{}.{}", t.access.account, t.access.table);
            rec.tables.push(name.clone());
            rec.columns.push(format!(
                "{name}: {}",
                t.access
                    .columns
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            if let policy_engine::RowPredicate::AnyOf(ps) = &t.access.rows {
                rec.filters.push(format!("{name}: {}", join_or(ps)));
            }
            for c in &t.access.columns {
                if let Some(m) = &c.mask {
                    rec.masks.push(format!("{name}.{}={m}", c.name));
                }
                if let Some(policy_engine::RowPredicate::AnyOf(ps)) = &c.cells {
                    rec.filters
                        .push(format!("{name}.{} cells: {}", c.name, join_or(ps)));
                }
            }
            for e in &t.access.trail {
                rec.policies.push(format!("{} ({})", e.policy, e.source));
            }
        }
        // Printed by the audit writer, off the request path.
        rec.rewritten_from = Some(rw.clone());
    }

    /// Audits a metadata answer (the databases or tables `caller` may
    /// describe, in `shown`) before it is sent; like a statement's, an
    /// answer whose line cannot be written is not sent.
    pub(super) async fn audit_listing(
        &self,
        caller: &Caller,
        op: &str,
        shown: Vec<String>,
        peer: Option<String>,
        started: Instant,
    ) -> Result<(), Status> {
        let mut rec = self.audit_base(caller, op, None);
        rec.source = peer;
        rec.decision = "allow".into();
        rec.rows = Some(shown.len() as u64);
        rec.tables = shown;
        rec.duration_ms = started.elapsed().as_secs_f64() * 1e3;
        self.audit
            .write(rec)
            .await
            .map_err(|e| super::status(ProxyError::Audit(e)))
    }

    pub(super) async fn deny(
        &self,
        mut rec: AuditRecord,
        started: Instant,
        status: Status,
    ) -> Status {
        rec.decision = "deny".into();
        rec.error = Some(status.message().to_string());
        rec.duration_ms = started.elapsed().as_secs_f64() * 1e3;
        // A denial's message may say something about the statement; if its
        // line cannot be written the caller learns only that.
        match self.audit.write(rec).await {
            Ok(()) => status,
            Err(e) => super::status(ProxyError::Audit(e)),
        }
    }

    /// GetFlightInfo for a statement: plan it and return a sealed ticket.
    /// `prepared` names the cached plan of a prepared statement being run.
    pub(super) async fn statement_info(
        &self,
        caller: &Caller,
        token_exp: u64,
        sql: &str,
        prepared: Option<&str>,
        descriptor: FlightDescriptor,
        peer: Option<String>,
    ) -> Result<FlightInfo, Status> {
        let started = Instant::now();
        let mut rec = self.audit_base(caller, "plan", Some(sql));
        rec.source = peer;
        let _running = match self.running.enter(&caller.principal.to_string()) {
            Ok(guard) => guard,
            Err(s) => return Err(self.deny(rec, started, s).await),
        };
        let planned = match prepared {
            Some(prep) => self.prepared_plan(caller, token_exp, prep, sql).await,
            None => self
                .plan_bounded(caller, sql)
                .await
                .map(|plan| self.remember(plan, caller, token_exp)),
        };
        let (id, plan) = match planned {
            Ok(p) => p,
            Err(s) => return Err(self.deny(rec, started, s).await),
        };
        let schema = plan.schema.clone();
        let nendpoints = plan.upstream.len().max(1);
        // The plan was made (or checked) for this very caller.
        let fingerprint = plan.caller.clone();
        drop(plan);
        let mut info = FlightInfo::new()
            .try_with_schema(&schema)
            .map_err(ProxyError::from)?
            .with_descriptor(descriptor)
            .with_ordered(true);
        for endpoint in 0..nendpoints {
            let handle = self.sealer.seal(
                Sealed {
                    kind: "stmt".into(),
                    principal: caller.principal.to_string(),
                    caller: fingerprint.clone(),
                    exp: 0,
                    sql: sql.to_string(),
                    plan: id.clone(),
                    endpoint,
                },
                TICKET_TTL_SECS,
                token_exp,
            )?;
            let ticket = TicketStatementQuery {
                statement_handle: handle.into(),
            };
            info = info.with_endpoint(
                FlightEndpoint::new().with_ticket(Ticket::new(ticket.as_any().encode_to_vec())),
            );
        }
        Ok(info)
    }

    /// DoGet for a sealed statement: run it and stream the result. The
    /// decision's audit line is written before the first byte of the
    /// result is returned; a line that cannot be written denies it.
    pub(super) async fn statement_stream(
        &self,
        caller: Caller,
        sealed: Sealed,
        peer: Option<String>,
    ) -> Result<BoxStream<FlightData>, Status> {
        let started = Instant::now();
        let mut rec = self.audit_base(&caller, "statement", Some(&sealed.sql));
        rec.source = peer;
        // Held until the stream ends or is dropped.
        let running = match self.running.enter(&caller.principal.to_string()) {
            Ok(guard) => guard,
            Err(s) => return Err(self.deny(rec, started, s).await),
        };
        let snap = self.snapshot().await?;
        // Opening the seal checked that it names this very caller.
        let plan = match self.cached(&sealed.plan, &sealed.caller, snap.catalog.version) {
            Some(p) => p,
            None => match self.plan_bounded(&caller, &sealed.sql).await {
                Ok(p) => Arc::new(p),
                Err(s) => return Err(self.deny(rec, started, s).await),
            },
        };
        Self::describe_plan(&mut rec, &plan.rewritten);
        // The statement's time counts from here; the producer stops at the
        // deadline or as soon as the client goes away.
        let timeout = self.limits.statement_timeout;
        let deadline = tokio::time::Instant::now() + timeout;
        let opened = self
            .backend
            .open(&plan, sealed.endpoint, || self.secured(&plan.rewritten));
        let opened = match tokio::time::timeout_at(deadline, opened).await {
            Ok(Ok(o)) => o,
            Ok(Err(s)) => return Err(self.deny(rec, started, s).await),
            Err(_) => return Err(self.deny(rec, started, deadline_status(timeout)).await),
        };
        rec.decision = "allow".into();
        rec.id = Some(statement_id());
        rec.duration_ms = started.elapsed().as_secs_f64() * 1e3;
        let end = stream::end_record(&rec);
        // Nothing of the result has left yet: dropping `opened` cancels it.
        self.audit
            .write(rec)
            .await
            .map_err(|e| status(ProxyError::Audit(e)))?;
        let frames: BoxStream<FlightData> = match opened {
            Opened::Batches(batches) => {
                let schema = batches.schema();
                let batches = batches.map_err(|e| {
                    FlightError::Tonic(Box::new(engine_status(
                        lakegate_engine::EngineError::from_datafusion(e),
                    )))
                });
                Box::pin(
                    FlightDataEncoderBuilder::new()
                        .with_schema(schema)
                        .build(batches)
                        .map_err(flight_err),
                )
            }
            Opened::Frames(frames) => Box::pin(frames.map_err(upstream_stream_error)),
        };
        Ok(Box::pin(RowCounter::new(
            frames,
            running,
            stream::Bounds {
                deadline,
                timeout,
                max_rows: self.limits.max_result_rows,
                max_bytes: self.limits.max_result_bytes,
            },
            stream::Audit::new(end, started, self.audit.clone()),
        )))
    }

    pub(super) fn encode_batch(batch: RecordBatch) -> BoxStream<FlightData> {
        let schema = batch.schema();
        let stream = FlightDataEncoderBuilder::new()
            .with_schema(schema)
            .build(futures::stream::iter([Ok(batch)]))
            .map_err(flight_err);
        Box::pin(stream)
    }
}
