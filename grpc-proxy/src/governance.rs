//! The governance admin API: the generated `Governance` gRPC service
//! implemented over [`policy_engine::Governance`].
//!
//! Every call is authenticated first (no token, no work), its input is
//! bounded (strings ≤ 4096 bytes, lists ≤ 4096 entries, requests ≤ 4 MiB),
//! and the blocking policy-engine call (SQLite) runs on tokio's blocking
//! pool. Errors become statuses only in [`crate::status`].

use std::sync::Arc;

use policy_engine::governance::NewTable;
use policy_engine::model::{LocationUri, MAX_TEXT_LEN, ident};
use policy_engine::{Caller, Error, Governance as PolicyGovernance, Principal};
use tonic::{Request, Response, Status};

use crate::auth::Authenticator;
use crate::proto::governance_server::{Governance, GovernanceServer};
use crate::proto::{
    self, ApplyPoliciesResponse, AssignLfTagsRequest, AssignLfTagsResponse,
    CreateDataFilterRequest, CreateDatabaseRequest, CreateLfTagRequest, CreateResourceLinkRequest,
    CreateTableRequest, DataFilter, DataLocation, Database, DeleteDataFilterRequest,
    DeleteDataFilterResponse, DeleteLfTagRequest, DeleteLfTagResponse, DeleteResourceLinkRequest,
    DescribeTableRequest, ExplainRequest, ExplainResponse, GrantRequest, GrantResponse, LfTag,
    ListDataFiltersRequest, ListDataFiltersResponse, ListDatabasesRequest, ListDatabasesResponse,
    ListLfTagsRequest, ListLfTagsResponse, ListLocationsRequest, ListLocationsResponse,
    ListPermissionsRequest, ListPermissionsResponse, ListPoliciesRequest, ListResourceLinksRequest,
    ListResourceLinksResponse, ListTablesRequest, ListTablesResponse, PolicyBundle,
    RegisterLocationRequest, ResourceLink, RevokeResponse, Table, UnassignLfTagsResponse,
    UpdateLfTagRequest, WhoAmIRequest, WhoAmIResponse,
};
use crate::status;

/// Largest encoded request the service accepts.
pub const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;
/// Longest string field accepted.
pub const MAX_STRING_BYTES: usize = MAX_TEXT_LEN;
/// Most entries in one repeated or map field.
pub const MAX_LIST_LEN: usize = 4096;

/// The governance service: shared policy engine plus the authenticator.
#[derive(Clone)]
pub struct GovernanceService {
    pub(crate) governance: Arc<PolicyGovernance>,
    pub(crate) auth: Arc<Authenticator>,
    pub(crate) ingest: Option<Arc<crate::ingest::Ingest>>,
    pub(crate) flight: Option<Arc<crate::flight::FlightProxy>>,
}

impl GovernanceService {
    /// A service over `governance`, authenticating with `auth`.
    pub fn new(governance: Arc<PolicyGovernance>, auth: Arc<Authenticator>) -> Self {
        Self {
            governance,
            auth,
            ingest: None,
            flight: None,
        }
    }

    /// Runs `policy test`'s `rows` checks through `flight`'s engine
    /// (without it, those checks are FAILED_PRECONDITION).
    pub fn with_flight(mut self, flight: Option<Arc<crate::flight::FlightProxy>>) -> Self {
        self.flight = flight;
        self
    }

    /// Serves blueprint runs with `ingest` (without it, those calls are
    /// FAILED_PRECONDITION).
    pub fn with_ingest(mut self, ingest: Arc<crate::ingest::Ingest>) -> Self {
        self.ingest = Some(ingest);
        self
    }

    /// The tonic server for this service, with the request size limit set.
    pub fn into_server(self) -> GovernanceServer<Self> {
        GovernanceServer::new(self).max_decoding_message_size(MAX_REQUEST_BYTES)
    }

    /// Runs a blocking policy-engine call on the blocking pool.
    pub(crate) async fn blocking<T, F>(&self, f: F) -> Result<T, Status>
    where
        T: Send + 'static,
        F: FnOnce(&PolicyGovernance) -> policy_engine::Result<T> + Send + 'static,
    {
        let g = self.governance.clone();
        match tokio::task::spawn_blocking(move || f(&g)).await {
            Ok(r) => r.map_err(status::from_error),
            Err(e) => Err(status::from_error(Error::internal(format!(
                "policy-engine task failed: {e}"
            )))),
        }
    }

    pub(crate) fn caller<T>(&self, req: &Request<T>) -> Result<Caller, Status> {
        self.auth.authenticate_request(req).map(|c| c.caller)
    }
}

/// Bounds one string field.
pub(crate) fn text(field: &str, s: &str) -> Result<(), Status> {
    if s.len() > MAX_STRING_BYTES {
        return Err(status::from_error(Error::invalid(format!(
            "`{field}` is {} bytes long; at most {MAX_STRING_BYTES} bytes are accepted",
            s.len()
        ))));
    }
    Ok(())
}

/// Bounds a list of strings.
fn texts(field: &str, v: &[String]) -> Result<(), Status> {
    if v.len() > MAX_LIST_LEN {
        return Err(status::from_error(Error::invalid(format!(
            "`{field}` has {} entries; at most {MAX_LIST_LEN} are accepted",
            v.len()
        ))));
    }
    v.iter().try_for_each(|s| text(field, s))
}

fn check_resource(r: &proto::ResourceSpec) -> Result<(), Status> {
    use proto::resource_spec::Kind;
    match &r.kind {
        None | Some(Kind::Catalog(_)) => Ok(()),
        Some(Kind::Database(d)) => text("database", &d.name),
        Some(Kind::Table(t)) => {
            text("table", &t.name)?;
            texts("columns", &t.columns)?;
            texts("exclude_columns", &t.exclude_columns)
        }
        Some(Kind::DataFilter(f)) => text("data_filter", &f.name),
        Some(Kind::Location(l)) => text("location", &l.uri),
        Some(Kind::LfTag(t)) => {
            text("lf_tag", &t.key)?;
            texts("lf_tag values", &t.values)
        }
        Some(Kind::LfTagPolicy(p)) => {
            text("resource_type", &p.resource_type)?;
            text("account", &p.account)?;
            if p.tags.len() > MAX_LIST_LEN {
                return Err(status::from_error(Error::invalid(format!(
                    "`tags` has {} entries; at most {MAX_LIST_LEN} are accepted",
                    p.tags.len()
                ))));
            }
            p.tags.iter().try_for_each(|t| {
                text("tag", &t.key)?;
                texts("tag values", &t.values)
            })
        }
    }
}

fn check_grant(g: &GrantRequest) -> Result<(), Status> {
    text("principal", &g.principal)?;
    texts("permissions", &g.permissions)?;
    texts("grantable", &g.grantable)?;
    if let Some(r) = &g.resource {
        check_resource(r)?;
    }
    if g.masks.len() > MAX_LIST_LEN {
        return Err(status::from_error(Error::invalid(format!(
            "`masks` has {} entries; at most {MAX_LIST_LEN} are accepted",
            g.masks.len()
        ))));
    }
    g.masks.iter().try_for_each(|(c, m)| {
        text("mask column", c)?;
        text("mask", m)
    })
}

fn check_assign(r: &AssignLfTagsRequest) -> Result<(), Status> {
    for v in [&r.database, &r.table].into_iter().flatten() {
        text("resource", v)?;
    }
    texts("columns", &r.columns)?;
    if r.tags.len() > MAX_LIST_LEN {
        return Err(status::from_error(Error::invalid(format!(
            "`tags` has {} entries; at most {MAX_LIST_LEN} are accepted",
            r.tags.len()
        ))));
    }
    r.tags.iter().try_for_each(|t| {
        text("tag", &t.key)?;
        text("tag value", &t.value)
    })
}

/// The principal an explain request is about: the caller itself when the
/// request names no one else and gives no groups or attributes.
fn explain_subject(caller: &Caller, r: &ExplainRequest) -> Result<Caller, Status> {
    text("principal", &r.principal)?;
    texts("groups", &r.groups)?;
    if r.attrs.len() > MAX_LIST_LEN {
        return Err(status::from_error(Error::invalid(format!(
            "`attrs` has {} entries; at most {MAX_LIST_LEN} are accepted",
            r.attrs.len()
        ))));
    }
    r.attrs.iter().try_for_each(|(k, v)| {
        text("attribute", k)?;
        text("attribute value", v)
    })?;
    let principal = if r.principal.trim().is_empty() {
        caller.principal.clone()
    } else {
        Principal::parse(r.principal.trim()).map_err(status::from_error)?
    };
    if principal == caller.principal && r.groups.is_empty() && r.attrs.is_empty() {
        return Ok(caller.clone());
    }
    let groups = r
        .groups
        .iter()
        .map(|g| Principal::parse(g.trim()))
        .collect::<policy_engine::Result<Vec<_>>>()
        .map_err(status::from_error)?;
    Ok(Caller {
        principal,
        groups,
        attrs: r.attrs.clone(),
    })
}

#[tonic::async_trait]
impl Governance for GovernanceService {
    async fn who_am_i(
        &self,
        request: Request<WhoAmIRequest>,
    ) -> Result<Response<WhoAmIResponse>, Status> {
        let caller = self.caller(&request)?;
        let c = caller.clone();
        let is_admin = self
            .blocking(move |g| {
                let snap = g.snapshot()?;
                Ok(g.is_admin(&snap, &c))
            })
            .await?;
        Ok(Response::new(WhoAmIResponse {
            principal: caller.principal.to_string(),
            groups: caller.groups.iter().map(|g| g.to_string()).collect(),
            account: caller.account().to_string(),
            attrs: caller.attrs,
            is_admin,
        }))
    }

    async fn create_database(
        &self,
        request: Request<CreateDatabaseRequest>,
    ) -> Result<Response<Database>, Status> {
        let caller = self.caller(&request)?;
        let r = request.into_inner();
        text("name", &r.name)?;
        if let Some(l) = &r.location {
            text("location", l)?;
        }
        let db = self
            .blocking(move |g| g.create_database(&caller, &r.name, r.location.as_deref()))
            .await?;
        Ok(Response::new(db.into()))
    }

    async fn list_databases(
        &self,
        request: Request<ListDatabasesRequest>,
    ) -> Result<Response<ListDatabasesResponse>, Status> {
        let caller = self.caller(&request)?;
        let dbs = self.blocking(move |g| g.list_databases(&caller)).await?;
        Ok(Response::new(ListDatabasesResponse {
            databases: dbs.into_iter().map(Into::into).collect(),
        }))
    }

    async fn register_location(
        &self,
        request: Request<RegisterLocationRequest>,
    ) -> Result<Response<DataLocation>, Status> {
        let caller = self.caller(&request)?;
        let r = request.into_inner();
        text("uri", &r.uri)?;
        let l = self
            .blocking(move |g| g.register_location(&caller, &r.uri))
            .await?;
        Ok(Response::new(l.into()))
    }

    async fn list_locations(
        &self,
        request: Request<ListLocationsRequest>,
    ) -> Result<Response<ListLocationsResponse>, Status> {
        let caller = self.caller(&request)?;
        let ls = self.blocking(move |g| g.list_locations(&caller)).await?;
        Ok(Response::new(ListLocationsResponse {
            locations: ls.into_iter().map(Into::into).collect(),
        }))
    }

    async fn create_table(
        &self,
        request: Request<CreateTableRequest>,
    ) -> Result<Response<Table>, Status> {
        let caller = self.caller(&request)?;
        let r = request.into_inner();
        text("name", &r.name)?;
        text("location", &r.location)?;
        texts("partition_keys", &r.partition_keys)?;
        let format = proto::Format::decode(r.format).map_err(status::from_error)?;
        for k in &r.partition_keys {
            ident(k, "partition key").map_err(status::from_error)?;
        }
        let location = LocationUri::parse(&r.location).map_err(status::from_error)?;
        // Check the caller's rights before touching any file: a denied
        // caller must not be able to make the server read a location.
        {
            let (c, name, loc) = (caller.clone(), r.name.clone(), r.location.clone());
            self.blocking(move |g| g.check_create_table(&c, &name, &loc))
                .await?;
        }
        let inferred = lakegate_engine::infer::infer_table(&location, format, &r.partition_keys)
            .await
            .map_err(|e| status::from_error(e.into()))?;
        let spec = NewTable {
            name: r.name,
            location: r.location,
            format,
            columns: inferred.columns,
            partition_keys: inferred.partition_keys,
        };
        let t = self
            .blocking(move |g| g.create_table(&caller, &spec))
            .await?;
        Ok(Response::new(t.into()))
    }

    async fn list_tables(
        &self,
        request: Request<ListTablesRequest>,
    ) -> Result<Response<ListTablesResponse>, Status> {
        let caller = self.caller(&request)?;
        let r = request.into_inner();
        text("database", &r.database)?;
        let ts = self
            .blocking(move |g| g.list_tables(&caller, &r.database))
            .await?;
        Ok(Response::new(ListTablesResponse {
            tables: ts.into_iter().map(Into::into).collect(),
        }))
    }

    async fn describe_table(
        &self,
        request: Request<DescribeTableRequest>,
    ) -> Result<Response<Table>, Status> {
        let caller = self.caller(&request)?;
        let r = request.into_inner();
        text("name", &r.name)?;
        let t = self
            .blocking(move |g| g.describe_table(&caller, &r.name))
            .await?;
        Ok(Response::new(t.into()))
    }

    async fn grant(
        &self,
        request: Request<GrantRequest>,
    ) -> Result<Response<GrantResponse>, Status> {
        let caller = self.caller(&request)?;
        let r = request.into_inner();
        check_grant(&r)?;
        let req: policy_engine::GrantRequest = r.try_into().map_err(status::from_error)?;
        let g = self.blocking(move |g| g.grant(&caller, &req)).await?;
        Ok(Response::new(GrantResponse {
            grant: Some(g.into()),
        }))
    }

    async fn revoke(
        &self,
        request: Request<GrantRequest>,
    ) -> Result<Response<RevokeResponse>, Status> {
        let caller = self.caller(&request)?;
        let r = request.into_inner();
        check_grant(&r)?;
        if !r.masks.is_empty() {
            return Err(status::from_error(Error::invalid(
                "--mask applies to grant only; revoke the column's SELECT instead",
            )));
        }
        let req: policy_engine::GrantRequest = r.try_into().map_err(status::from_error)?;
        let out = self.blocking(move |g| g.revoke(&caller, &req)).await?;
        Ok(Response::new(RevokeResponse {
            removed: out.removed,
            narrowed: out.narrowed.into_iter().map(Into::into).collect(),
        }))
    }

    async fn list_permissions(
        &self,
        request: Request<ListPermissionsRequest>,
    ) -> Result<Response<ListPermissionsResponse>, Status> {
        let caller = self.caller(&request)?;
        let r = request.into_inner();
        for (f, v) in [
            ("principal", &r.principal),
            ("database", &r.database),
            ("table", &r.table),
        ] {
            if let Some(v) = v {
                text(f, v)?;
            }
        }
        let filter = r.into();
        let es = self
            .blocking(move |g| g.list_permissions(&caller, &filter))
            .await?;
        Ok(Response::new(ListPermissionsResponse {
            entries: es.into_iter().map(Into::into).collect(),
        }))
    }

    async fn create_data_filter(
        &self,
        request: Request<CreateDataFilterRequest>,
    ) -> Result<Response<DataFilter>, Status> {
        let caller = self.caller(&request)?;
        let r = request.into_inner();
        text("name", &r.name)?;
        if let Some(p) = &r.row_filter {
            text("row_filter", p)?;
        }
        texts("columns", &r.columns)?;
        texts("exclude_columns", &r.exclude_columns)?;
        let spec = r.into();
        let f = self
            .blocking(move |g| g.create_data_filter(&caller, &spec))
            .await?;
        Ok(Response::new(f.into()))
    }

    async fn list_data_filters(
        &self,
        request: Request<ListDataFiltersRequest>,
    ) -> Result<Response<ListDataFiltersResponse>, Status> {
        let caller = self.caller(&request)?;
        let r = request.into_inner();
        if let Some(t) = &r.table {
            text("table", t)?;
        }
        let fs = self
            .blocking(move |g| g.list_data_filters(&caller, r.table.as_deref()))
            .await?;
        Ok(Response::new(ListDataFiltersResponse {
            filters: fs.into_iter().map(Into::into).collect(),
        }))
    }

    async fn delete_data_filter(
        &self,
        request: Request<DeleteDataFilterRequest>,
    ) -> Result<Response<DeleteDataFilterResponse>, Status> {
        let caller = self.caller(&request)?;
        let r = request.into_inner();
        text("name", &r.name)?;
        self.blocking(move |g| g.delete_data_filter(&caller, &r.name))
            .await?;
        Ok(Response::new(DeleteDataFilterResponse {}))
    }

    async fn create_resource_link(
        &self,
        request: Request<CreateResourceLinkRequest>,
    ) -> Result<Response<ResourceLink>, Status> {
        let caller = self.caller(&request)?;
        let r = request.into_inner();
        text("name", &r.name)?;
        text("target", &r.target)?;
        let l = self
            .blocking(move |g| g.create_link(&caller, &r.name, &r.target))
            .await?;
        Ok(Response::new(l.into()))
    }

    async fn list_resource_links(
        &self,
        request: Request<ListResourceLinksRequest>,
    ) -> Result<Response<ListResourceLinksResponse>, Status> {
        let caller = self.caller(&request)?;
        let ls = self.blocking(move |g| g.list_links(&caller)).await?;
        Ok(Response::new(ListResourceLinksResponse {
            links: ls.into_iter().map(Into::into).collect(),
        }))
    }

    async fn delete_resource_link(
        &self,
        request: Request<DeleteResourceLinkRequest>,
    ) -> Result<Response<ResourceLink>, Status> {
        let caller = self.caller(&request)?;
        let r = request.into_inner();
        text("name", &r.name)?;
        let l = self
            .blocking(move |g| g.delete_link(&caller, &r.name))
            .await?;
        Ok(Response::new(l.into()))
    }

    async fn create_lf_tag(
        &self,
        request: Request<CreateLfTagRequest>,
    ) -> Result<Response<LfTag>, Status> {
        let caller = self.caller(&request)?;
        let r = request.into_inner();
        text("key", &r.key)?;
        texts("values", &r.values)?;
        let t = self
            .blocking(move |g| g.create_lf_tag(&caller, &r.key, &r.values))
            .await?;
        Ok(Response::new(t.into()))
    }

    async fn update_lf_tag(
        &self,
        request: Request<UpdateLfTagRequest>,
    ) -> Result<Response<LfTag>, Status> {
        let caller = self.caller(&request)?;
        let r = request.into_inner();
        text("key", &r.key)?;
        texts("add", &r.add)?;
        texts("remove", &r.remove)?;
        let t = self
            .blocking(move |g| g.update_lf_tag(&caller, &r.key, &r.add, &r.remove))
            .await?;
        Ok(Response::new(t.into()))
    }

    async fn delete_lf_tag(
        &self,
        request: Request<DeleteLfTagRequest>,
    ) -> Result<Response<DeleteLfTagResponse>, Status> {
        let caller = self.caller(&request)?;
        let r = request.into_inner();
        text("key", &r.key)?;
        self.blocking(move |g| g.delete_lf_tag(&caller, &r.key))
            .await?;
        Ok(Response::new(DeleteLfTagResponse {}))
    }

    async fn list_lf_tags(
        &self,
        request: Request<ListLfTagsRequest>,
    ) -> Result<Response<ListLfTagsResponse>, Status> {
        let caller = self.caller(&request)?;
        let ts = self.blocking(move |g| g.list_lf_tags(&caller)).await?;
        Ok(Response::new(ListLfTagsResponse {
            tags: ts.into_iter().map(Into::into).collect(),
        }))
    }

    async fn assign_lf_tags(
        &self,
        request: Request<AssignLfTagsRequest>,
    ) -> Result<Response<AssignLfTagsResponse>, Status> {
        let caller = self.caller(&request)?;
        let r = request.into_inner();
        check_assign(&r)?;
        let req = r.into();
        let out = self
            .blocking(move |g| g.assign_lf_tags(&caller, &req))
            .await?;
        Ok(Response::new(AssignLfTagsResponse {
            assignments: out.into_iter().map(Into::into).collect(),
        }))
    }

    async fn unassign_lf_tags(
        &self,
        request: Request<AssignLfTagsRequest>,
    ) -> Result<Response<UnassignLfTagsResponse>, Status> {
        let caller = self.caller(&request)?;
        let r = request.into_inner();
        check_assign(&r)?;
        let req = r.into();
        let n = self
            .blocking(move |g| g.unassign_lf_tags(&caller, &req))
            .await?;
        Ok(Response::new(UnassignLfTagsResponse {
            removed: u32::try_from(n).unwrap_or(u32::MAX),
        }))
    }

    async fn apply_policies(
        &self,
        request: Request<PolicyBundle>,
    ) -> Result<Response<ApplyPoliciesResponse>, Status> {
        let caller = self.caller(&request)?;
        let r = request.into_inner();
        if r.files.len() > policy_engine::policies::MAX_FILES {
            return Err(status::from_error(Error::invalid(format!(
                "a policy bundle may have at most {} files",
                policy_engine::policies::MAX_FILES
            ))));
        }
        for f in &r.files {
            text("path", &f.path)?;
        }
        let files: Vec<policy_engine::model::PolicyFile> =
            r.files.into_iter().map(Into::into).collect();
        let n = self
            .blocking(move |g| g.apply_policies(&caller, &files))
            .await?;
        Ok(Response::new(ApplyPoliciesResponse {
            policies: u32::try_from(n).unwrap_or(u32::MAX),
        }))
    }

    async fn list_policies(
        &self,
        request: Request<ListPoliciesRequest>,
    ) -> Result<Response<PolicyBundle>, Status> {
        let caller = self.caller(&request)?;
        let fs = self.blocking(move |g| g.list_policies(&caller)).await?;
        Ok(Response::new(PolicyBundle {
            files: fs.into_iter().map(Into::into).collect(),
        }))
    }

    async fn export_repository(
        &self,
        request: Request<proto::ExportRepositoryRequest>,
    ) -> Result<Response<proto::RepositoryBundle>, Status> {
        let caller = self.caller(&request)?;
        let (version, files) = self.blocking(move |g| g.export_repository(&caller)).await?;
        Ok(Response::new(proto::RepositoryBundle {
            files: files.into_iter().map(Into::into).collect(),
            version,
        }))
    }

    async fn plan_repository(
        &self,
        request: Request<proto::RepositoryBundle>,
    ) -> Result<Response<proto::RepositoryPlan>, Status> {
        let caller = self.caller(&request)?;
        let files = crate::repo_rpc::bundle(request.into_inner().files)?;
        let p = self
            .blocking(move |g| g.plan_repository(&caller, &files))
            .await?;
        crate::repo_rpc::plan(&p).map(Response::new)
    }

    async fn apply_repository(
        &self,
        request: Request<proto::ApplyRepositoryRequest>,
    ) -> Result<Response<proto::RepositoryPlan>, Status> {
        let caller = self.caller(&request)?;
        let r = request.into_inner();
        let files = crate::repo_rpc::bundle(r.files)?;
        let at = r.expected_version;
        let digest = r.plan_digest;
        if let Some(d) = &digest {
            text("plan_digest", d)?;
        }
        let p = self
            .blocking(move |g| g.apply_repository(&caller, &files, at, digest.as_deref()))
            .await?;
        crate::repo_rpc::plan(&p).map(Response::new)
    }

    async fn test_repository(
        &self,
        request: Request<proto::TestRepositoryRequest>,
    ) -> Result<Response<proto::TestRepositoryResponse>, Status> {
        let caller = self.caller(&request)?;
        let r = request.into_inner();
        let files = crate::repo_rpc::bundle(r.files)?;
        if r.checks.len() > crate::repo_rpc::MAX_CHECKS {
            return Err(status::from_error(Error::invalid(format!(
                "at most {} checks run in one test; split the tests",
                crate::repo_rpc::MAX_CHECKS
            ))));
        }
        let checks = r
            .checks
            .into_iter()
            .map(|c| {
                let e = c.explain.unwrap_or_default();
                text("sql", &e.sql)?;
                Ok(crate::repo_rpc::Check {
                    subject: explain_subject(&caller, &e)?,
                    sql: e.sql,
                    run: c.run,
                })
            })
            .collect::<Result<Vec<_>, Status>>()?;
        let admin = caller.clone();
        let (planned, mut out, checks) = self
            .blocking(move |g| {
                let (planned, out) = crate::repo_rpc::test(g, &caller, &files, &checks)?;
                Ok((planned, out, checks))
            })
            .await?;
        crate::repo_rpc::run_rows(self.flight.as_deref(), &planned, &admin, &checks, &mut out)
            .await?;
        Ok(Response::new(out))
    }

    async fn explain(
        &self,
        request: Request<ExplainRequest>,
    ) -> Result<Response<ExplainResponse>, Status> {
        let caller = self.caller(&request)?;
        let r = request.into_inner();
        let subject = explain_subject(&caller, &r)?;
        let sql = r.sql;
        let e = self
            .blocking(move |g| g.explain(&caller, &subject, &sql))
            .await?;
        Ok(Response::new(e.into()))
    }

    type RunBlueprintStream = crate::ingest_rpc::RunStream;

    async fn run_blueprint(
        &self,
        request: Request<proto::RunBlueprintRequest>,
    ) -> Result<Response<Self::RunBlueprintStream>, Status> {
        self.rpc_run_blueprint(request).await
    }

    async fn list_blueprints(
        &self,
        request: Request<proto::ListBlueprintsRequest>,
    ) -> Result<Response<proto::ListBlueprintsResponse>, Status> {
        self.rpc_list_blueprints(request).await
    }

    async fn list_blueprint_runs(
        &self,
        request: Request<proto::ListBlueprintRunsRequest>,
    ) -> Result<Response<proto::ListBlueprintRunsResponse>, Status> {
        self.rpc_list_blueprint_runs(request).await
    }

    async fn get_blueprint_run(
        &self,
        request: Request<proto::GetBlueprintRunRequest>,
    ) -> Result<Response<proto::BlueprintRun>, Status> {
        self.rpc_get_blueprint_run(request).await
    }

    async fn crawl(
        &self,
        request: Request<proto::CrawlRequest>,
    ) -> Result<Response<proto::CrawlResponse>, Status> {
        self.rpc_crawl(request).await
    }
}
