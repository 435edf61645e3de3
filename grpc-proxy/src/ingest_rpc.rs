//! The blueprint RPCs of the governance service: `RunBlueprint` streams a
//! run's progress and record; the others read the run store. A caller sees
//! its own account's runs: admins all of them, others the runs they started.

use std::pin::Pin;
use std::sync::Arc;

use blueprints::runs::RunRecord;
use futures::Stream;
use policy_engine::Error;
use tonic::{Request, Response, Status};

use crate::governance::{GovernanceService, text};
use crate::ingest::{Ingest, RunEvent, visible_latest};
use crate::proto::{
    BlueprintProgress, BlueprintRun, BlueprintSummary, GetBlueprintRunRequest,
    ListBlueprintRunsRequest, ListBlueprintRunsResponse, ListBlueprintsRequest,
    ListBlueprintsResponse, RunBlueprintEvent, RunBlueprintRequest, run_blueprint_event,
};
use crate::status;

/// The stream of a `RunBlueprint` call.
pub type RunStream =
    Pin<Box<dyn Stream<Item = Result<RunBlueprintEvent, Status>> + Send + 'static>>;

/// Largest blueprint text accepted.
const MAX_BLUEPRINT_BYTES: usize = 1 << 20;
/// Most runs one list returns.
const MAX_RUNS: usize = 1000;

impl From<RunRecord> for BlueprintRun {
    fn from(r: RunRecord) -> Self {
        Self {
            id: r.id,
            account: r.account,
            blueprint: r.blueprint,
            principal: r.principal,
            trigger: r.trigger,
            state: r.state.as_str().to_string(),
            started: r.started,
            ended: r.ended,
            rows_read: r.outcome.rows_read,
            rows_written: r.outcome.rows_written,
            rows_rejected: r.outcome.rows_rejected,
            bytes: r.outcome.bytes,
            files: r.outcome.files,
            versions: r.outcome.versions.into_iter().collect(),
            error: r.error,
            error_kind: r.error_kind,
        }
    }
}

fn store_error(e: blueprints::runs::RunsError) -> Status {
    status::from_error(Error::StoreUnavailable(e.to_string()))
}

impl GovernanceService {
    fn ingest(&self) -> Result<Arc<Ingest>, Status> {
        self.ingest
            .clone()
            .ok_or_else(|| Status::failed_precondition("this server does not run blueprints"))
    }

    async fn admin(&self, caller: &policy_engine::Caller) -> Result<bool, Status> {
        let c = caller.clone();
        self.blocking(move |g| {
            let snap = g.snapshot()?;
            Ok(g.is_admin(&snap, &c))
        })
        .await
    }

    pub(crate) async fn rpc_run_blueprint(
        &self,
        request: Request<RunBlueprintRequest>,
    ) -> Result<Response<RunStream>, Status> {
        let caller = self.caller(&request)?;
        let r = request.into_inner();
        text("file", &r.file)?;
        if r.text.len() > MAX_BLUEPRINT_BYTES {
            return Err(status::from_error(Error::invalid(format!(
                "the blueprint is {} bytes; at most {MAX_BLUEPRINT_BYTES} are accepted",
                r.text.len()
            ))));
        }
        let mut rx = self.ingest()?.start(caller, r.file, r.text, "cli");
        let stream = async_stream(move |emit| async move {
            while let Some(ev) = rx.recv().await {
                let kind = match ev {
                    RunEvent::Progress(p) => {
                        run_blueprint_event::Kind::Progress(BlueprintProgress {
                            phase: p.phase,
                            table: p.table.unwrap_or_default(),
                            rows: p.rows,
                            bytes: p.bytes,
                            files: p.files,
                            done: p.done,
                            total: p.total,
                        })
                    }
                    RunEvent::Done(rec) => run_blueprint_event::Kind::Run((*rec).into()),
                };
                if emit
                    .send(Ok(RunBlueprintEvent { kind: Some(kind) }))
                    .await
                    .is_err()
                {
                    break;
                }
            }
        });
        Ok(Response::new(stream))
    }

    pub(crate) async fn rpc_list_blueprints(
        &self,
        request: Request<ListBlueprintsRequest>,
    ) -> Result<Response<ListBlueprintsResponse>, Status> {
        let caller = self.caller(&request)?;
        let admin = self.admin(&caller).await?;
        let ingest = self.ingest()?;
        let account = caller.account().to_string();
        let plan: std::collections::BTreeMap<
            String,
            (String, Option<chrono::DateTime<chrono::Utc>>),
        > = ingest
            .plan()
            .lock()
            .map(|p| {
                p.iter()
                    .filter(|((a, _), _)| *a == account)
                    .map(|((_, n), v)| (n.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default();
        let mut latest =
            tokio::task::spawn_blocking(move || visible_latest(ingest.runs(), &caller, admin))
                .await
                .map_err(|e| status::from_error(Error::internal(e.to_string())))?
                .map_err(store_error)?;
        let mut names: std::collections::BTreeSet<String> = latest.keys().cloned().collect();
        if admin {
            names.extend(plan.keys().cloned());
        }
        Ok(Response::new(ListBlueprintsResponse {
            blueprints: names
                .into_iter()
                .map(|name| {
                    let (schedule, next) = plan.get(&name).cloned().unwrap_or_default();
                    BlueprintSummary {
                        schedule,
                        next_run: next.map(|n| n.to_rfc3339()).unwrap_or_default(),
                        last_run: latest.remove(&name).map(Into::into),
                        name,
                    }
                })
                .collect(),
        }))
    }

    pub(crate) async fn rpc_list_blueprint_runs(
        &self,
        request: Request<ListBlueprintRunsRequest>,
    ) -> Result<Response<ListBlueprintRunsResponse>, Status> {
        let caller = self.caller(&request)?;
        let r = request.into_inner();
        text("blueprint", &r.blueprint)?;
        let admin = self.admin(&caller).await?;
        let ingest = self.ingest()?;
        let limit = match r.limit {
            0 => 50,
            n => (n as usize).min(MAX_RUNS),
        };
        let me = caller.principal.to_string();
        let account = caller.account().to_string();
        let runs = tokio::task::spawn_blocking(move || {
            let name = (!r.blueprint.is_empty()).then_some(r.blueprint.as_str());
            ingest.runs().list(&account, name, MAX_RUNS)
        })
        .await
        .map_err(|e| status::from_error(Error::internal(e.to_string())))?
        .map_err(store_error)?;
        Ok(Response::new(ListBlueprintRunsResponse {
            runs: runs
                .into_iter()
                .filter(|r| admin || r.principal == me)
                .take(limit)
                .map(Into::into)
                .collect(),
        }))
    }

    pub(crate) async fn rpc_get_blueprint_run(
        &self,
        request: Request<GetBlueprintRunRequest>,
    ) -> Result<Response<BlueprintRun>, Status> {
        let caller = self.caller(&request)?;
        let r = request.into_inner();
        text("id", &r.id)?;
        let admin = self.admin(&caller).await?;
        let ingest = self.ingest()?;
        let account = caller.account().to_string();
        let id = r.id.clone();
        let run = tokio::task::spawn_blocking(move || ingest.runs().get(&account, &id))
            .await
            .map_err(|e| status::from_error(Error::internal(e.to_string())))?
            .map_err(store_error)?
            .filter(|run| admin || run.principal == caller.principal.to_string());
        match run {
            Some(run) => Ok(Response::new(run.into())),
            None => Err(Status::not_found(format!(
                "no run `{}` that you may see; `lakegate blueprint runs` lists them",
                r.id.chars().take(80).collect::<String>()
            ))),
        }
    }
}

/// A stream fed by `body` through a channel.
fn async_stream<F, Fut>(body: F) -> RunStream
where
    F: FnOnce(tokio::sync::mpsc::Sender<Result<RunBlueprintEvent, Status>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(body(tx));
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))
}
