//! Where statements run: one interface over two backends, so that the rest
//! of the proxy never looks inside either.
//!
//! | | embedded | upstream (sidecar) |
//! |---|---|---|
//! | placement | `Secured`: rows, cells and masks inside the engine's scans | `Inline`: the rewritten SQL carries them |
//! | plan | the engine's prepared query | the upstream's GetFlightInfo: schema and tickets |
//! | open | run the prepared query (or plan the AST again) | DoGet on the upstream's ticket |
//! | result | record batches, encoded here | Flight frames, passed through |
//!
//! A closed set with exhaustive matches rather than a trait object: both
//! sides are known, and a third (Ballista) is another Flight SQL upstream.

use super::*;

/// Where statements run.
#[derive(Clone)]
pub enum Backend {
    /// The embedded DataFusion engine, in process; filters and masks are
    /// applied inside its scans.
    Embedded(Arc<Engine>),
    /// An external Flight SQL server; the rewritten SQL carries the filters
    /// and masks inline.
    Upstream(Arc<crate::upstream::Upstream>),
}

/// What a backend planned for one statement.
pub(super) struct Planned {
    /// The result schema.
    pub(super) schema: SchemaRef,
    /// The upstream's tickets, one per endpoint (upstream only).
    pub(super) tickets: Vec<Ticket>,
    /// The engine's prepared query (embedded only).
    pub(super) query: Option<lakegate_engine::Query>,
}

/// An opened result.
pub(super) enum Opened {
    /// Record batches from the embedded engine.
    Batches(lakegate_engine::SendableRecordBatchStream),
    /// Flight frames from the upstream, passed through as they come.
    Frames(Box<Streaming<FlightData>>),
}

impl Backend {
    /// Where the rewrite puts rows, cells and masks for this backend.
    pub(super) fn placement(&self) -> Placement {
        match self {
            Backend::Embedded(_) => Placement::Secured,
            Backend::Upstream(_) => Placement::Inline,
        }
    }

    /// Plans a rewritten statement: the engine's prepared query over the
    /// catalog of `snap`, or the upstream's schema and tickets.
    pub(super) async fn plan(
        &self,
        snap: &Snapshot,
        rewritten: &Rewritten,
        secured: &[SecuredTable],
    ) -> Result<Planned, Status> {
        match self {
            Backend::Embedded(engine) => {
                engine.refresh(&snap.catalog).map_err(engine_status)?;
                let q = engine
                    .prepare_secured(&rewritten.statement, secured)
                    .await
                    .map_err(engine_status)?;
                Ok(Planned {
                    schema: q.schema(),
                    tickets: Vec::new(),
                    query: Some(q),
                })
            }
            Backend::Upstream(upstream) => {
                let reads: Vec<_> = rewritten
                    .tables
                    .iter()
                    .map(|t| (t.access.account.clone(), t.access.table.clone()))
                    .collect();
                let info = upstream
                    .plan(&snap.catalog, &reads, &rewritten.sql)
                    .await
                    .map_err(upstream_error)?;
                let schema: Schema = info.clone().try_decode_schema().map_err(|e| {
                    status(ProxyError::Internal(format!(
                        "the upstream's FlightInfo has no usable schema: {e}"
                    )))
                })?;
                Ok(Planned {
                    schema: Arc::new(schema),
                    tickets: info
                        .endpoint
                        .into_iter()
                        .filter_map(|ep| ep.ticket)
                        .collect(),
                    query: None,
                })
            }
        }
    }

    /// Opens endpoint `endpoint` of `plan`: runs the prepared query (or
    /// plans the rewritten AST again, with the tables `secured` gives, if
    /// it was taken), or calls DoGet on the upstream's ticket.
    pub(super) async fn open(
        &self,
        plan: &Plan,
        endpoint: usize,
        secured: impl FnOnce() -> Vec<SecuredTable>,
    ) -> Result<Opened, Status> {
        match self {
            Backend::Embedded(engine) => {
                let ready = plan.prepared.lock().ok().and_then(|mut q| q.take());
                let batches = match ready {
                    Some(q) => q.execute().await,
                    None => {
                        engine
                            .execute_secured(&plan.rewritten.statement, &secured())
                            .await
                    }
                };
                batches.map(Opened::Batches).map_err(engine_status)
            }
            Backend::Upstream(upstream) => {
                let Some(ticket) = plan.upstream.get(endpoint).cloned() else {
                    return Err(status(ProxyError::BadTicket(
                        "this ticket names no endpoint of its query; run the query again",
                    )));
                };
                let frames = upstream.do_get(ticket).await.map_err(upstream_error)?;
                Ok(Opened::Frames(Box::new(frames)))
            }
        }
    }
}
