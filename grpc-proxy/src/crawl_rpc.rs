//! The `Crawl` RPC (DESIGN §7 "Crawler"): the caller's rights are checked
//! before any file is read; the engine's crawler reads the location; each
//! table found is registered (or planned, in a dry run) with the caller's
//! rights, and a table that cannot be is reported as skipped, not failed.

use lakegate_engine::crawl::crawl;
use policy_engine::model::{LocationUri, ident};
use policy_engine::{CrawlAction, NewTable};
use tonic::{Request, Response, Status};

use crate::governance::{GovernanceService, text};
use crate::proto::{CrawlFolder, CrawlRequest, CrawlResponse, CrawledTable};
use crate::status;

impl GovernanceService {
    pub(crate) async fn rpc_crawl(
        &self,
        request: Request<CrawlRequest>,
    ) -> Result<Response<CrawlResponse>, Status> {
        let caller = self.caller(&request)?;
        let r = request.into_inner();
        text("location", &r.location)?;
        text("database", &r.database)?;
        let database = ident(&r.database, "database").map_err(status::from_error)?;
        let location = LocationUri::parse(&r.location).map_err(status::from_error)?;
        {
            let (c, db, loc) = (caller.clone(), database.clone(), r.location.clone());
            self.blocking(move |g| g.authorize_crawl(&c, &db, &loc))
                .await?;
        }
        if let (Some(ingest), Some(path)) = (&self.ingest, location.local_path()) {
            let real = std::path::Path::new(path)
                .canonicalize()
                .unwrap_or_else(|_| path.into());
            if crate::ingest::overlaps_data_dir(ingest.data_dir(), &real) {
                return Err(Status::permission_denied(format!(
                    "`{location}` is or holds the server's data directory, which is never crawled"
                )));
            }
        }
        let plan = crawl(&location)
            .await
            .map_err(|e| status::from_error(e.into()))?;
        let mut tables = Vec::with_capacity(plan.tables.len());
        for t in plan.tables {
            let spec = NewTable {
                name: format!("{database}.{}", t.name),
                location: t.location.to_string(),
                format: t.format,
                columns: t.columns.clone(),
                partition_keys: t.partition_keys.clone(),
            };
            let c = caller.clone();
            let dry_run = r.dry_run;
            let action = self
                .blocking(move |g| {
                    if dry_run {
                        g.plan_crawled(&c, &spec)
                    } else {
                        g.register_crawled(&c, &spec)
                    }
                })
                .await?;
            let (action, columns, reason) = match action {
                CrawlAction::Create => (
                    "create",
                    t.columns
                        .iter()
                        .map(|c| format!("{}:{}", c.name, c.data_type))
                        .collect(),
                    String::new(),
                ),
                CrawlAction::AddColumns(added) => ("add_columns", added, String::new()),
                CrawlAction::Unchanged => ("unchanged", Vec::new(), String::new()),
                CrawlAction::Skip(why) => ("skip", Vec::new(), why),
            };
            tables.push(CrawledTable {
                name: format!("{database}.{}", t.name),
                location: t.location.to_string(),
                format: t.format.as_str().to_string(),
                action: action.to_string(),
                partition_keys: t.partition_keys,
                partitions: t.partitions,
                columns,
                reason,
            });
        }
        let folders = plan
            .folders
            .into_iter()
            .map(|f| CrawlFolder {
                path: f.path,
                verdict: f.verdict.as_str().to_string(),
                reason: f.reason,
            })
            .collect();
        Ok(Response::new(CrawlResponse {
            folders,
            tables,
            dry_run: r.dry_run,
        }))
    }
}
