//! The upstream engine of a sidecar (`serve --upstream`): the channel, how
//! lakegate signs in to it, and, for an upstream that does not read
//! lakegate's store, the session the catalog's tables are declared in.
//!
//! ```text
//!  kind      sign-in                         tables
//!  engine    none (loopback, same store)     `lakegate engine` reads the store itself
//!  ballista  Flight handshake → bearer       CREATE DATABASE / SCHEMA / EXTERNAL TABLE
//!            (Basic credentials if given,    in lakegate's own session, per table set
//!            over TLS or loopback only)
//! ```
//!
//! Decisions we made:
//! - A Ballista session is declared for one set of tables and replaced (a
//!   new handshake, every table declared again) when a statement brings a
//!   catalog whose tables differ, rather than altered in place, because a
//!   replaced session cannot keep a dropped table or an old location. A
//!   catalog that differs only in grants keeps the session.
//! - Each declared table's schema is read back from the upstream (a prepared
//!   statement, which plans without running) and compared with the catalog;
//!   a table whose schema differs, or that cannot be declared exactly (see
//!   `lakegate_engine::ddl`: Delta, CSV, some types), is refused by name for
//!   every statement that reads it. A table the upstream itself refused (an
//!   unreadable location) is tried again after `RETRY_REFUSED`.
//! - The session pins the SQL dialect and identifier normalisation lakegate
//!   prints for, so the scheduler parses the text that was checked as it
//!   was checked, whatever its defaults.
//! - When the upstream forgets the session (its idle timeout, a restart) it
//!   answers UNAUTHENTICATED; the statement signs in again, declares the
//!   tables again and is planned once more. A second refusal is the
//!   operator's problem and is reported as such.
//! - Declaring is sequential, under one lock: concurrent statements wait
//!   for it rather than declaring their own (its cost grows with the
//!   number of tables; see the issue notes).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::datatypes::Schema;
use arrow_flight::flight_service_client::FlightServiceClient;
use arrow_flight::sql::{
    ActionClosePreparedStatementRequest, ActionCreatePreparedStatementRequest,
    ActionCreatePreparedStatementResult, Any, CommandStatementQuery, ProstMessageExt,
};
use arrow_flight::{Action, FlightData, FlightDescriptor, FlightInfo, HandshakeRequest, Ticket};
use base64::Engine as _;
use policy_engine::catalog::Catalog;
use policy_engine::model::{AccountId, TableName};
use prost::Message;
use tonic::metadata::{AsciiMetadataValue, MetadataValue};
use tonic::transport::Channel;
use tonic::{Code, Request, Status, Streaming};

use crate::error::{Error, Result};

/// What kind of Flight SQL server the upstream is (`--upstream-kind`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UpstreamKind {
    /// `lakegate engine` over the same store: no sign-in, no declarations.
    #[default]
    Engine,
    /// Apache DataFusion Ballista's scheduler with its Flight SQL endpoint:
    /// a handshake, then the catalog's tables declared in the session.
    Ballista,
}

impl std::str::FromStr for UpstreamKind {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "engine" => Ok(Self::Engine),
            "ballista" => Ok(Self::Ballista),
            other => Err(format!(
                "`{other}` is not an upstream kind; write `engine` (lakegate engine) or \
                 `ballista` (Ballista's scheduler with --flight-sql)"
            )),
        }
    }
}

/// The upstream a sidecar forwards statements to.
#[derive(Clone, Default)]
pub struct UpstreamConfig {
    /// `grpc://HOST:PORT`, or `grpcs://HOST:PORT` with `ca`.
    pub url: String,
    /// CA certificates (PEM) for a `grpcs://` upstream (`--upstream-ca`).
    pub ca: Option<PathBuf>,
    /// What serves at `url` (`--upstream-kind`).
    pub kind: UpstreamKind,
    /// HTTP Basic credentials for the handshake (`--upstream-user` and
    /// `LAKEGATE_UPSTREAM_PASSWORD`); `None`: an anonymous handshake.
    pub credentials: Option<(String, String)>,
}

impl std::fmt::Debug for UpstreamConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamConfig")
            .field("url", &self.url)
            .field("ca", &self.ca)
            .field("kind", &self.kind)
            .field(
                "credentials",
                &self
                    .credentials
                    .as_ref()
                    .map(|(user, _)| (user, "<redacted>")),
            )
            .finish()
    }
}

/// A session in the upstream: the bearer token its calls carry, the catalog
/// version its tables were declared for, and the tables it refused.
struct Session {
    bearer: Option<AsciiMetadataValue>,
    version: u64,
    /// The databases and tables declared (a newer catalog version with the
    /// same ones, say after a grant, keeps the session).
    databases: Vec<(AccountId, String)>,
    tables: BTreeMap<(AccountId, TableName), policy_engine::model::Table>,
    refused: BTreeMap<(AccountId, TableName), String>,
    /// When the upstream refused a table (an unreadable location, say,
    /// which an operator may fix without changing the catalog): declare
    /// again after this.
    retry_after: Option<std::time::Instant>,
}

/// How long a table the upstream refused stays refused before the session
/// is declared again.
const RETRY_REFUSED: std::time::Duration = std::time::Duration::from_secs(60);

impl Session {
    fn declares(&self, catalog: &Catalog) -> bool {
        self.tables == catalog.tables && self.databases.iter().eq(catalog.databases.keys())
    }
}

/// The connection to the upstream, and (Ballista) lakegate's session there.
pub struct Upstream {
    channel: Channel,
    kind: UpstreamKind,
    basic: Option<AsciiMetadataValue>,
    session: tokio::sync::Mutex<Option<Arc<Session>>>,
    /// The current session's bearer token, for DoGet, which must not wait
    /// while a new session's tables are declared.
    bearer: std::sync::RwLock<Option<AsciiMetadataValue>>,
}

impl Upstream {
    /// A lazy connection to `cfg.url`: an upstream that is down fails each
    /// statement with UNAVAILABLE, not the start.
    pub fn connect(cfg: &UpstreamConfig) -> Result<Self> {
        let basic = match &cfg.credentials {
            Some(_) if cfg.kind == UpstreamKind::Engine => {
                return Err(Error::Engine(
                    "--upstream-user is for an upstream that signs in with the Flight handshake \
                     (`--upstream-kind ballista`); `lakegate engine` takes no credentials"
                        .into(),
                ));
            }
            Some((user, _)) if user.contains(':') || user.is_empty() => {
                return Err(Error::Engine(
                    "--upstream-user must be a non-empty name without `:` (HTTP Basic \
                     credentials are `USER:PASSWORD`)"
                        .into(),
                ));
            }
            Some(_) if cfg.url.starts_with("grpc://") && !loopback(&cfg.url) => {
                return Err(Error::Engine(format!(
                    "--upstream-user would send a password in the clear to `{}`; use \
                     grpcs://HOST:PORT with --upstream-ca (plain grpc:// is allowed to a \
                     loopback address only)",
                    cfg.url
                )));
            }
            Some((user, password)) => {
                let encoded =
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
                let mut v: AsciiMetadataValue =
                    format!("Basic {encoded}").parse().map_err(|_| {
                        Error::Engine("--upstream-user is not usable in a header".into())
                    })?;
                v.set_sensitive(true);
                Some(v)
            }
            None => None,
        };
        Ok(Self {
            channel: channel(&cfg.url, cfg.ca.as_deref())?,
            kind: cfg.kind,
            basic,
            session: tokio::sync::Mutex::new(None),
            bearer: std::sync::RwLock::new(None),
        })
    }

    /// GetFlightInfo for `sql` (rewritten over the tables `reads`, from
    /// `catalog`), in a session whose tables match `catalog`.
    pub(crate) async fn plan(
        &self,
        catalog: &Catalog,
        reads: &[(AccountId, TableName)],
        sql: &str,
    ) -> std::result::Result<FlightInfo, Status> {
        let cmd = CommandStatementQuery {
            query: sql.to_string(),
            transaction_id: None,
        };
        let descriptor = FlightDescriptor::new_cmd(cmd.as_any().encode_to_vec());
        let mut retried = false;
        loop {
            let session = self.session(catalog).await?;
            for t in reads {
                if let Some(why) = session.refused.get(t) {
                    return Err(Status::failed_precondition(why.clone()));
                }
                // A session declared for a newer catalog, by a concurrent
                // statement: its tables must be the ones this one checked.
                if self.kind == UpstreamKind::Ballista
                    && session.tables.get(t) != catalog.tables.get(t)
                {
                    return Err(Status::aborted(format!(
                        "table `{}` changed while this statement was planned; run it again",
                        t.1
                    )));
                }
            }
            let req = self.authorized(Request::new(descriptor.clone()), &session);
            match FlightServiceClient::new(self.channel.clone())
                .get_flight_info(req)
                .await
            {
                Err(s) if self.forgot(&s, &session, &mut retried).await => continue,
                r => return r.map(tonic::Response::into_inner),
            }
        }
    }

    /// DoGet on one of the upstream's tickets, in the current session.
    pub(crate) async fn do_get(
        &self,
        ticket: Ticket,
    ) -> std::result::Result<Streaming<FlightData>, Status> {
        let bearer = match self.bearer.read() {
            Ok(b) => b.clone(),
            Err(p) => p.into_inner().clone(),
        };
        let mut req = Request::new(ticket);
        if let Some(b) = bearer {
            req.metadata_mut().insert("authorization", b);
        }
        FlightServiceClient::new(self.channel.clone())
            .do_get(req)
            .await
            .map(tonic::Response::into_inner)
    }

    /// Whether `s` says the upstream forgot `session` (and this is the first
    /// time for this statement); if so, the session is dropped so the next
    /// attempt signs in again.
    async fn forgot(&self, s: &Status, session: &Arc<Session>, retried: &mut bool) -> bool {
        if self.kind != UpstreamKind::Ballista || s.code() != Code::Unauthenticated || *retried {
            return false;
        }
        *retried = true;
        let mut cur = self.session.lock().await;
        if cur.as_ref().is_some_and(|c| Arc::ptr_eq(c, session)) {
            tracing::info!("the upstream forgot lakegate's session; signing in again");
            *cur = None;
        }
        true
    }

    /// The session for `catalog`: the current one if it was declared for
    /// this version or a newer one, else a new one.
    async fn session(&self, catalog: &Catalog) -> std::result::Result<Arc<Session>, Status> {
        if self.kind == UpstreamKind::Engine {
            return Ok(Arc::new(Session {
                bearer: None,
                version: catalog.version,
                databases: Vec::new(),
                tables: BTreeMap::new(),
                refused: BTreeMap::new(),
                retry_after: None,
            }));
        }
        // Held while a new session is declared, so concurrent statements
        // wait for it instead of declaring their own.
        let mut cur = self.session.lock().await;
        let stale = |s: &Session| {
            s.retry_after
                .is_some_and(|t| std::time::Instant::now() >= t)
        };
        if let Some(s) = cur.as_ref().filter(|s| !stale(s)) {
            if s.version >= catalog.version {
                return Ok(s.clone());
            }
            if s.declares(catalog) {
                let kept = Arc::new(Session {
                    bearer: s.bearer.clone(),
                    version: catalog.version,
                    databases: s.databases.clone(),
                    tables: s.tables.clone(),
                    refused: s.refused.clone(),
                    retry_after: s.retry_after,
                });
                *cur = Some(kept.clone());
                return Ok(kept);
            }
        }
        let fresh = Arc::new(self.declare(catalog).await?);
        *cur = Some(fresh.clone());
        match self.bearer.write() {
            Ok(mut b) => *b = fresh.bearer.clone(),
            Err(p) => *p.into_inner() = fresh.bearer.clone(),
        }
        Ok(fresh)
    }

    /// Signs in and declares every table of `catalog` in the new session.
    async fn declare(&self, catalog: &Catalog) -> std::result::Result<Session, Status> {
        let mut session = Session {
            bearer: Some(self.handshake().await?),
            version: catalog.version,
            databases: catalog.databases.keys().cloned().collect(),
            tables: catalog.tables.clone(),
            refused: BTreeMap::new(),
            retry_after: None,
        };
        // The dialect lakegate prints in (the rewritten SQL's round trip and
        // the declarations' are checked against it), whatever the
        // scheduler's default.
        self.update(&session, "SET datafusion.sql_parser.dialect = 'generic'")
            .await?;
        self.update(
            &session,
            "SET datafusion.sql_parser.enable_ident_normalization = true",
        )
        .await?;
        // Strings as the catalog records them (Utf8), not view types.
        self.update(
            &session,
            "SET datafusion.sql_parser.map_string_types_to_utf8view = false",
        )
        .await?;
        self.update(
            &session,
            "SET datafusion.execution.parquet.schema_force_view_types = false",
        )
        .await?;
        let mut accounts = std::collections::BTreeSet::new();
        for (account, db) in catalog.databases.keys() {
            if accounts.insert(account.clone()) {
                self.update(
                    &session,
                    &lakegate_engine::ddl::create_catalog(account.as_str()),
                )
                .await?;
            }
            self.update(
                &session,
                &lakegate_engine::ddl::create_schema(account.as_str(), db),
            )
            .await?;
        }
        for (key, table) in &catalog.tables {
            let checked = match lakegate_engine::ddl::create_external_table(table) {
                Ok(sql) => match self.update(&session, &sql).await {
                    Ok(()) => self.check_schema(&session, table).await,
                    Err(s) => Err(s),
                },
                Err(why) => Ok(Err(why)),
            };
            // An outage fails the whole session (nothing is kept, the next
            // statement tries again); the upstream's refusal of one table
            // refuses that table. Its reason may name the location's files:
            // it goes to the log, not to callers.
            let checked = match checked {
                Ok(r) => r,
                Err(s) if transient(&s) => return Err(s),
                Err(s) => {
                    session.retry_after = Some(std::time::Instant::now() + RETRY_REFUSED);
                    tracing::warn!(table = %table.name, detail = %s.message(), "the upstream refused a table");
                    Err(format!(
                        "the upstream could not read table `{}` (details are in lakegate's \
                         log); ask the operator to check that its location is readable from \
                         the upstream's executors",
                        table.name
                    ))
                }
            };
            if let Err(why) = checked {
                tracing::warn!(table = %table.name, %why, "table not declared to the upstream");
                session.refused.insert(key.clone(), why);
            }
        }
        tracing::info!(
            version = catalog.version,
            tables = catalog.tables.len(),
            refused = session.refused.len(),
            "declared the catalog's tables in a new upstream session"
        );
        Ok(session)
    }

    /// Reads `table`'s schema back from the upstream (a prepared statement
    /// plans without running) and compares it with the catalog's columns.
    async fn check_schema(
        &self,
        session: &Session,
        table: &policy_engine::model::Table,
    ) -> std::result::Result<std::result::Result<(), String>, Status> {
        let prepared = self
            .action(
                session,
                "CreatePreparedStatement",
                ActionCreatePreparedStatementRequest {
                    query: lakegate_engine::ddl::select_all(table),
                    transaction_id: None,
                }
                .as_any()
                .encode_to_vec(),
            )
            .await?;
        let result = Any::decode(prepared.as_slice())
            .ok()
            .and_then(|any| {
                any.unpack::<ActionCreatePreparedStatementResult>()
                    .ok()
                    .flatten()
            })
            .ok_or_else(|| {
                Status::internal("the upstream's CreatePreparedStatement answer does not decode")
            })?;
        self.action(
            session,
            "ClosePreparedStatement",
            ActionClosePreparedStatementRequest {
                prepared_statement_handle: result.prepared_statement_handle.clone(),
            }
            .as_any()
            .encode_to_vec(),
        )
        .await?;
        let schema = Schema::try_from(arrow_flight::IpcMessage(result.dataset_schema))
            .map_err(|e| Status::internal(format!("the upstream's schema does not decode: {e}")))?;
        let got: Vec<(String, String)> = schema
            .fields()
            .iter()
            .map(|f| (f.name().clone(), f.data_type().to_string()))
            .collect();
        let want: Vec<(String, String)> = table
            .columns
            .iter()
            .map(|c| (c.name.clone(), c.data_type.clone()))
            .collect();
        Ok(if got == want {
            Ok(())
        } else {
            Err(format!(
                "the upstream reads table `{}` with columns {got:?}, not the catalog's {want:?}; \
                 query it on a server with the embedded engine",
                table.name
            ))
        })
    }

    /// The Flight handshake: Basic credentials if configured, and the
    /// bearer token the upstream answers with (header or payload).
    async fn handshake(&self) -> std::result::Result<AsciiMetadataValue, Status> {
        let mut req = Request::new(futures::stream::iter([HandshakeRequest::default()]));
        if let Some(b) = &self.basic {
            req.metadata_mut().insert("authorization", b.clone());
        }
        let resp = FlightServiceClient::new(self.channel.clone())
            .handshake(req)
            .await
            .map_err(signing_in)?;
        let header = resp.metadata().get("authorization").cloned();
        let mut stream = resp.into_inner();
        let mut payload = Vec::new();
        while let Some(m) = stream.message().await.map_err(signing_in)? {
            if !m.payload.is_empty() {
                payload = m.payload.to_vec();
            }
        }
        let bearer = match header {
            Some(h) if h.to_str().is_ok_and(|v| v.starts_with("Bearer ")) => Some(h),
            _ => std::str::from_utf8(&payload)
                .ok()
                .filter(|t| !t.is_empty())
                .and_then(|t| MetadataValue::try_from(format!("Bearer {t}")).ok()),
        };
        let Some(mut bearer) = bearer else {
            return Err(signing_in(Status::unauthenticated(
                "the handshake answered with no bearer token",
            )));
        };
        bearer.set_sensitive(true);
        Ok(bearer)
    }

    /// Runs a statement that returns no rows (DDL, SET) in `session`.
    async fn update(&self, session: &Session, sql: &str) -> std::result::Result<(), Status> {
        let cmd = arrow_flight::sql::CommandStatementUpdate {
            query: sql.to_string(),
            transaction_id: None,
        };
        let descriptor = FlightDescriptor::new_cmd(cmd.as_any().encode_to_vec());
        let first = arrow_flight::FlightData {
            flight_descriptor: Some(descriptor),
            ..Default::default()
        };
        let req = self.authorized(Request::new(futures::stream::iter([first])), session);
        let mut answers = FlightServiceClient::new(self.channel.clone())
            .do_put(req)
            .await
            .map_err(|s| declaring(sql, s))?
            .into_inner();
        while answers
            .message()
            .await
            .map_err(|s| declaring(sql, s))?
            .is_some()
        {}
        Ok(())
    }

    /// Runs a Flight action in `session`, returning its first answer's body.
    async fn action(
        &self,
        session: &Session,
        kind: &str,
        body: Vec<u8>,
    ) -> std::result::Result<Vec<u8>, Status> {
        let req = self.authorized(
            Request::new(Action {
                r#type: kind.to_string(),
                body: body.into(),
            }),
            session,
        );
        let mut answers = FlightServiceClient::new(self.channel.clone())
            .do_action(req)
            .await
            .map_err(|s| declaring(kind, s))?
            .into_inner();
        let mut first = None;
        while let Some(r) = answers.message().await.map_err(|s| declaring(kind, s))? {
            first.get_or_insert(r.body.to_vec());
        }
        Ok(first.unwrap_or_default())
    }

    fn authorized<T>(&self, mut req: Request<T>, session: &Session) -> Request<T> {
        if let Some(b) = &session.bearer {
            req.metadata_mut().insert("authorization", b.clone());
        }
        req
    }
}

/// Whether a `grpc://` URL's host is a loopback address.
fn loopback(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("grpc://") else {
        return false;
    };
    let host = rest.split('/').next().unwrap_or_default();
    let host = match host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Whether `s` says the upstream (or the way to it) failed, rather than
/// that it refused the request.
fn transient(s: &Status) -> bool {
    matches!(
        s.code(),
        Code::Unavailable
            | Code::Unauthenticated
            | Code::Cancelled
            | Code::DeadlineExceeded
            | Code::ResourceExhausted
            | Code::Aborted
            | Code::Unknown
    )
}

/// A failed sign-in: the upstream is unusable until the operator acts, so
/// the caller gets UNAVAILABLE with what failed (the detail is logged).
fn signing_in(s: Status) -> Status {
    tracing::error!(code = ?s.code(), detail = %s.message(), "signing in to the upstream failed");
    crate::metrics::metrics().upstream_error();
    Status::unavailable(format!(
        "lakegate cannot sign in to its upstream query engine ({:?}); check that it runs and \
         `--upstream`, `--upstream-kind` and `--upstream-user` (details are in the server log)",
        s.code()
    ))
}

/// A failed declaration or schema read: the session is not usable.
fn declaring(what: &str, s: Status) -> Status {
    if s.code() == Code::Unavailable {
        return signing_in(s);
    }
    tracing::error!(code = ?s.code(), detail = %s.message(), %what, "declaring tables to the upstream failed");
    crate::metrics::metrics().upstream_error();
    Status::new(s.code(), s.message().to_string())
}

/// The channel to the upstream engine: `grpc://HOST:PORT` in the clear, or
/// `grpcs://HOST:PORT` (also `grpc+tls://`) over TLS, verified against
/// `ca` (PEM). Connected lazily.
fn channel(url: &str, ca: Option<&Path>) -> Result<Channel> {
    let bad = |e: String| {
        Error::Engine(format!(
            "upstream `{url}` is not usable ({e}); write grpc://HOST:PORT, or grpcs://HOST:PORT \
             with --upstream-ca"
        ))
    };
    let (http, tls) = if let Some(rest) = url.strip_prefix("grpc://") {
        (format!("http://{rest}"), false)
    } else if let Some(rest) = url
        .strip_prefix("grpcs://")
        .or_else(|| url.strip_prefix("grpc+tls://"))
    {
        (format!("https://{rest}"), true)
    } else {
        return Err(bad("the scheme is not grpc:// or grpcs://".into()));
    };
    let mut endpoint = Channel::from_shared(http).map_err(|e| bad(e.to_string()))?;
    if tls {
        let Some(ca) = ca else {
            return Err(bad(
                "a grpcs:// upstream needs --upstream-ca, the CA that issued its certificate"
                    .into(),
            ));
        };
        let pem = crate::server::read_pem(ca)?;
        endpoint = endpoint
            .tls_config(
                tonic::transport::ClientTlsConfig::new()
                    .ca_certificate(tonic::transport::Certificate::from_pem(pem)),
            )
            .map_err(|e| bad(e.to_string()))?;
    } else if ca.is_some() {
        return Err(bad("--upstream-ca needs a grpcs:// upstream".into()));
    }
    Ok(endpoint.connect_lazy())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic, reason = "test code")]

    use super::*;

    fn cfg(url: &str, kind: UpstreamKind, user: &str) -> UpstreamConfig {
        UpstreamConfig {
            url: url.into(),
            ca: None,
            kind,
            credentials: Some((user.into(), "s3cret".into())),
        }
    }

    #[tokio::test]
    async fn credentials_are_refused_where_they_could_leak_or_mean_nothing() {
        let refused = |c: UpstreamConfig| match Upstream::connect(&c) {
            Ok(_) => panic!("accepted {c:?}"),
            Err(e) => e.to_string(),
        };
        let e = refused(cfg("grpc://10.0.0.7:50050", UpstreamKind::Ballista, "lg"));
        assert!(e.contains("in the clear"), "{e}");
        assert!(!e.contains("s3cret"), "{e}");
        let e = refused(cfg("grpc://127.0.0.1:50050", UpstreamKind::Engine, "lg"));
        assert!(e.contains("takes no credentials"), "{e}");
        let e = refused(cfg("grpc://127.0.0.1:50050", UpstreamKind::Ballista, "a:b"));
        assert!(e.contains("without `:`"), "{e}");
        for ok in [
            "grpc://127.0.0.1:50050",
            "grpc://localhost:50050",
            "grpc://[::1]:50050",
        ] {
            assert!(
                Upstream::connect(&cfg(ok, UpstreamKind::Ballista, "lg")).is_ok(),
                "{ok}"
            );
        }
        let debug = format!("{:?}", cfg("grpc://x:1", UpstreamKind::Ballista, "lg"));
        assert!(!debug.contains("s3cret"), "{debug}");
    }
}
