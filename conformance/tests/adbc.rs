//! Runs every conformance case through a real lakegate server with the
//! Python ADBC Flight SQL driver (`adbc-driver-flightsql`), on the embedded
//! deployment and on a sidecar (`lakegate engine` behind a proxy with
//! `--upstream`). Catalog changes go through the policy-engine API; every
//! `access:` step runs `SELECT * … LIMIT 0` through ADBC (visible columns,
//! refusals) and asks the governance API's Explain for the masks; every
//! `query:` step runs through ADBC. `scripts/test` installs the driver and
//! sets `LAKEGATE_PYTHON`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs,
    reason = "test code: a panic is a failed test, and test items are not API"
)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use conformance::{Case, Outcome, Target, build_catalog, load_cases, run_case};
use grpc_proxy::proto::governance_client::GovernanceClient;
use policy_engine::model::Format;
use policy_engine::{Caller, Governance};
use test_kit::{Builder, Deployment, TestServer};

fn python() -> String {
    std::env::var("LAKEGATE_PYTHON").unwrap_or_else(|_| "python3".into())
}

fn runner() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("adbc_runner.py")
}

/// Where a case's statements run.
#[derive(Debug, Clone)]
enum Via {
    /// The embedded engine, or `lakegate engine` behind `--upstream`.
    Lakegate(Deployment),
    /// Ballista's scheduler at this URL (`--upstream-kind ballista`).
    Ballista(String),
}

/// A case's server, reached through ADBC and the governance API.
struct AdbcTarget {
    server: TestServer,
    rt: tokio::runtime::Handle,
    upstream: bool,
}

impl AdbcTarget {
    /// Builds the case's catalog (declared columns, JSON-lines files of its
    /// rows in the server's lake) and starts the proxy.
    fn start(rt: &tokio::runtime::Runtime, case: &Case, via: &Via) -> Result<Self> {
        let builder = Builder::new().admins(case.catalog.admins.clone());
        let (staged, upstream) = match via {
            Via::Lakegate(d) => (builder.deployment(*d).open(), *d == Deployment::Sidecar),
            Via::Ballista(url) => (builder.ballista(url.clone()).open(), true),
        };
        let root = format!("file://{}/", staged.lake().display());
        build_catalog(staged.governance(), case, Format::Json, &root)?;
        for t in &case.catalog.tables {
            let names: Vec<String> = t.columns.iter().flat_map(|c| c.keys().cloned()).collect();
            let uri = Case::table_location(t, &root);
            let folder = PathBuf::from(
                uri.strip_prefix("file://")
                    .ok_or_else(|| anyhow!("{uri} is not a file location"))?,
            );
            test_kit::lake::write_json_rows(&folder.join("part-0.json"), &names, &t.rows);
        }
        let server = rt.block_on(staged.serve());
        Ok(Self {
            server,
            rt: rt.handle().clone(),
            upstream,
        })
    }

    fn token(&self, caller: &Caller) -> String {
        self.server.token_of(
            &caller.principal,
            &caller.groups,
            &caller.attrs,
            Duration::from_secs(600),
        )
    }

    /// Runs `sql` through ADBC, the sidecar engine first brought up to date
    /// with the catalog.
    fn adbc(&self, caller: &Caller, sql: &str) -> Result<Outcome> {
        if let Some(engine) = &self.server.engine {
            engine
                .engine
                .refresh(&self.server.gov.snapshot()?.catalog)
                .map_err(|e| anyhow!("{e}"))?;
        }
        let got = adbc(&self.server.grpc_url(), &self.token(caller), sql)?;
        if let Some(e) = got.get("error") {
            return Ok(Outcome::Failed {
                kind: got["kind"].as_str().unwrap_or("other").into(),
                message: e.as_str().unwrap_or_default().into(),
            });
        }
        let columns = got["columns"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|c| c.as_str().unwrap_or_default().to_string())
            .collect();
        let rows = got["rows"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|r| r.as_array().cloned().unwrap_or_default())
            .collect();
        Ok(Outcome::Rows { columns, rows })
    }

    /// The masks the governance API's Explain reports for `table`.
    fn explained_masks(&self, caller: &Caller, table: &str) -> Result<BTreeMap<String, String>> {
        let token = self.token(caller);
        let addr = self.server.addr.clone();
        let sql = format!("SELECT * FROM {table}");
        let e = self.rt.block_on(async move {
            let mut c = GovernanceClient::connect(addr).await?;
            let mut req = tonic::Request::new(grpc_proxy::proto::ExplainRequest {
                sql,
                ..Default::default()
            });
            req.metadata_mut()
                .insert("authorization", format!("Bearer {token}").parse()?);
            anyhow::Ok(c.explain(req).await?.into_inner())
        })?;
        Ok(e.tables
            .iter()
            .flat_map(|t| &t.columns)
            .filter_map(|c| c.mask.as_ref().map(|m| (c.name.clone(), m.clone())))
            .collect())
    }
}

impl Target for AdbcTarget {
    fn governance(&self) -> &Governance {
        &self.server.gov
    }

    fn access(&mut self, caller: &Caller, table: &str) -> Result<Outcome> {
        // Another account's table is queried through a resource link in the
        // caller's catalog (issue 10, not built yet); the library target
        // checks these steps meanwhile.
        if table.contains(':') {
            return Ok(Outcome::Skipped);
        }
        match self.adbc(caller, &format!("SELECT * FROM {table} LIMIT 0"))? {
            Outcome::Rows { columns, .. } => Ok(Outcome::Access {
                columns,
                masks: self.explained_masks(caller, table)?,
            }),
            other => Ok(other),
        }
    }

    fn query(&mut self, caller: &Caller, sql: &str) -> Result<Outcome> {
        self.adbc(caller, sql)
    }

    fn tables(&mut self, caller: &Caller, database: &str) -> Result<Outcome> {
        let got = run_adbc(serde_json::json!({
            "endpoint": self.server.grpc_url(),
            "token": self.token(caller),
            "tables": database,
        }))?;
        if let Some(e) = got.get("error") {
            return Ok(Outcome::Failed {
                kind: got["kind"].as_str().unwrap_or("other").into(),
                message: e.as_str().unwrap_or_default().into(),
            });
        }
        Ok(Outcome::Tables(serde_json::from_value(
            got["tables"].clone(),
        )?))
    }

    fn upstream(&self) -> bool {
        self.upstream
    }
}

fn adbc(endpoint: &str, token: &str, sql: &str) -> Result<serde_json::Value> {
    run_adbc(serde_json::json!({"endpoint": endpoint, "token": token, "sql": sql}))
}

/// One request to the ADBC runner (`adbc_runner.py` says what it takes).
fn run_adbc(req: serde_json::Value) -> Result<serde_json::Value> {
    let mut child = Command::new(python())
        .arg(runner())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {}; run the tests with scripts/test", python()))?;
    child
        .stdin
        .take()
        .ok_or_else(|| anyhow!("no stdin"))?
        .write_all(req.to_string().as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "the ADBC runner failed ({}); is adbc-driver-flightsql installed? run the tests \
             with scripts/test. stderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

fn every_case_holds(via: &Via) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("cases");
    let cases = load_cases(&dir).unwrap();
    let mut failures = Vec::new();
    let (mut access, mut queries) = (0, 0);
    for c in &cases {
        let run = AdbcTarget::start(&rt, c, via).and_then(|mut t| run_case(c, &mut t));
        match run {
            Ok(ran) => {
                access += ran.access;
                queries += ran.queries;
            }
            Err(e) => failures.push(format!("{}: {e:#}", c.path.display())),
        }
    }
    assert!(
        failures.is_empty(),
        "failing cases ({via:?}):\n{}",
        failures.join("\n")
    );
    assert!(
        access >= 20,
        "too few access steps ran through ADBC: {access}"
    );
    assert!(
        queries >= 10,
        "too few query steps ran through ADBC: {queries}"
    );
}

#[test]
fn every_case_holds_through_adbc() {
    every_case_holds(&Via::Lakegate(Deployment::Embedded));
}

#[test]
fn every_case_holds_through_adbc_on_a_sidecar() {
    every_case_holds(&Via::Lakegate(Deployment::Sidecar));
}

/// The corpus through a sidecar in front of a real Ballista cluster (a
/// scheduler with Flight SQL and two executors): the same rows and the same
/// refusals as the embedded engine, with the catalog's tables declared in
/// lakegate's Ballista session.
#[test]
fn every_case_holds_through_adbc_on_ballista() {
    let cluster = test_kit::ballista::BallistaCluster::start(2);
    let url = cluster.url();
    let outcome = std::panic::catch_unwind(|| every_case_holds(&Via::Ballista(url)));
    if let Err(panic) = outcome {
        eprintln!("Ballista's logs:\n{}", cluster.logs());
        std::panic::resume_unwind(panic);
    }
}
