//! Runs every conformance case through a real lakegate server with the
//! Python ADBC Flight SQL driver (`adbc-driver-flightsql`): catalog changes
//! and access checks through the policy-engine API, every `query:` step
//! through ADBC. `scripts/test` installs the driver and sets
//! `LAKEGATE_PYTHON`.
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
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use conformance::{Case, error_kind, load_cases, run_admin_step};
use grpc_proxy::server::{AppState, ServerConfig, bind, serve_on};
use policy_engine::model::{Format, LocationUri, TableName};
use policy_engine::{Governance, NewTable, Principal};

fn python() -> String {
    std::env::var("LAKEGATE_PYTHON").unwrap_or_else(|_| "python3".into())
}

fn runner() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("adbc_runner.py")
}

struct Server {
    endpoint: String,
    /// The upstream engine of a sidecar deployment, kept in step with the
    /// catalog before each query.
    engine: Option<Arc<lakegate_engine::Engine>>,
    key: Vec<u8>,
    gov: Arc<Governance>,
    _dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// Writes the case's rows as newline-delimited JSON and builds the catalog.
/// With `sidecar`, the proxy forwards to `lakegate engine` (the embedded
/// engine served alone) over Flight SQL, as `serve --upstream` does.
async fn start(case: &Case, sidecar: bool) -> Result<Server> {
    let dir = tempfile::tempdir()?;
    let upstream = if sidecar {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = l.local_addr()?;
        Some((l, addr))
    } else {
        None
    };
    let lake = dir.path().join("lake");
    let data = dir.path().join("data");
    let admins = case
        .catalog
        .admins
        .iter()
        .map(|a| Principal::parse(a))
        .collect::<Result<Vec<_>, _>>()?;
    let mut state = AppState::open(ServerConfig {
        data_dir: data.clone(),
        listen: "127.0.0.1:0".into(),
        admins,
        upstream: upstream.as_ref().map(|(_, a)| format!("grpc://{a}")),
        demo: false,
        audit_log: None,
        tls: None,
        limits: Default::default(),
    })?;
    let gov = state.governance.clone();
    let admin = case.caller(&conformance::As::default())?;
    let loc = format!("file://{}/", lake.display());
    gov.register_location(&admin, &loc)?;
    for d in &case.catalog.databases {
        gov.create_database(&admin, &d.name, None)?;
    }
    for t in &case.catalog.tables {
        let tn = TableName::parse(&t.name)?;
        let folder = lake.join(&tn.database).join(&tn.table);
        std::fs::create_dir_all(&folder)?;
        let names: Vec<String> = t.columns.iter().flat_map(|c| c.keys().cloned()).collect();
        let mut text = String::new();
        for row in &t.rows {
            let obj: serde_json::Map<String, serde_json::Value> =
                names.iter().cloned().zip(row.iter().cloned()).collect();
            text.push_str(&serde_json::to_string(&obj)?);
            text.push('\n');
        }
        std::fs::write(folder.join("part-0.json"), text)?;
        let uri = LocationUri::parse(&format!("file://{}/", folder.display()))?;
        let inf = lakegate_engine::infer::infer_table(&uri, Format::Json, &[])
            .await
            .map_err(|e| anyhow!("{e}"))?;
        gov.create_table(
            &admin,
            &NewTable {
                name: t.name.clone(),
                location: uri.to_string(),
                format: Format::Json,
                columns: inf.columns,
                partition_keys: vec![],
            },
        )?;
    }
    let engine = match upstream {
        Some((listener, _)) => {
            let engine = Arc::new(
                lakegate_engine::Engine::new(&gov.snapshot()?.catalog)
                    .map_err(|e| anyhow!("{e}"))?,
            );
            let served = engine.clone();
            tokio::spawn(async move {
                let _ =
                    lakegate_engine::serve_engine(served, listener, std::future::pending::<()>())
                        .await;
            });
            Some(engine)
        }
        None => None,
    };
    state.attach_flight().await?;
    let key = grpc_proxy::auth::load_key(&data)?;
    let (listener, addr) = bind("127.0.0.1:0").await?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = serve_on(state, listener, async {
            let _ = rx.await;
        })
        .await;
    });
    Ok(Server {
        endpoint: format!("grpc://{addr}"),
        engine,
        key,
        gov,
        _dir: dir,
        stop: Some(tx),
    })
}

fn adbc(endpoint: &str, token: &str, sql: &str) -> Result<serde_json::Value> {
    let mut child = Command::new(python())
        .arg(runner())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {}; run the tests with scripts/test", python()))?;
    let req = serde_json::json!({"endpoint": endpoint, "token": token, "sql": sql});
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

/// JSON values equal, treating integers and floats by value.
fn same(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => (x - y).abs() < 1e-9,
        _ => a == b,
    }
}

async fn run_case(case: &Case, sidecar: bool) -> Result<usize> {
    let server = start(case, sidecar).await?;
    let mut queries = 0;
    for (i, step) in case.steps.iter().enumerate() {
        let ctx = || format!("{} step {}", case.path.display(), i + 1);
        let caller = case.caller(&step.who).with_context(ctx)?;
        let gov = server.gov.clone();
        let outcome: Option<Result<(), policy_engine::Error>> =
            if let Some(r) = run_admin_step(&gov, &caller, step).with_context(ctx)? {
                Some(r)
            } else if let Some(g) = &step.grant {
                Some(gov.grant(&caller, &g.request()?).map(|_| ()))
            } else if let Some(g) = &step.revoke {
                Some(gov.revoke(&caller, &g.request()?).map(|_| ()))
            } else {
                None
            };
        if let Some(o) = outcome {
            match (&step.want_error, o) {
                (None, Ok(())) => {}
                (Some(w), Err(e)) if error_kind(&e) == w.kind => {}
                (w, o) => bail!(
                    "{}: want {:?}, got {:?}",
                    ctx(),
                    w.as_ref().map(|w| &w.kind),
                    o
                ),
            }
            continue;
        }
        let Some(sql) = &step.query else { continue };
        queries += 1;
        if let Some(engine) = &server.engine {
            engine
                .refresh(&server.gov.snapshot()?.catalog)
                .map_err(|e| anyhow!("{e}"))?;
        }
        let token = grpc_proxy::auth::mint_token(
            &server.key,
            &caller.principal,
            &caller.groups,
            &caller.attrs,
            Duration::from_secs(600),
        )?;
        let got = adbc(&server.endpoint, &token, sql).with_context(ctx)?;
        match (&step.want_error, got.get("error")) {
            (Some(w), Some(_)) => {
                let kind = got["kind"].as_str().unwrap_or("other");
                if kind != w.kind {
                    bail!("{}: want {} error, got {got}", ctx(), w.kind);
                }
                if let Some(s) = &w.contains
                    && !got["error"].as_str().unwrap_or("").contains(s.as_str())
                {
                    bail!("{}: error does not contain `{s}`: {got}", ctx());
                }
            }
            (Some(w), None) => bail!("{}: want {} error, got rows {got}", ctx(), w.kind),
            (None, Some(e)) => bail!("{}: unexpected error {e}", ctx()),
            (None, None) => {
                if let Some(want) = &step.want_rows {
                    let rows = got["rows"].as_array().cloned().unwrap_or_default();
                    let ok = rows.len() == want.len()
                        && rows.iter().zip(want).all(|(r, w)| {
                            let r = r.as_array().cloned().unwrap_or_default();
                            r.len() == w.len() && r.iter().zip(w).all(|(a, b)| same(a, b))
                        });
                    if !ok {
                        bail!("{}: want rows {want:?}, got {}", ctx(), got["rows"]);
                    }
                }
                if let Some(want) = &step.want_columns {
                    let cols: Vec<String> = got["columns"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                        .iter()
                        .map(|c| c.as_str().unwrap_or("").to_string())
                        .collect();
                    if &cols != want {
                        bail!("{}: want columns {want:?}, got {cols:?}", ctx());
                    }
                }
            }
        }
    }
    Ok(queries)
}

async fn every_query_case_holds(sidecar: bool) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("cases");
    let cases = load_cases(&dir).unwrap();
    let mut failures = Vec::new();
    let mut total = 0;
    let mut per_case: BTreeMap<String, usize> = BTreeMap::new();
    for c in cases
        .iter()
        .filter(|c| c.steps.iter().any(|s| s.query.is_some()))
    {
        match run_case(c, sidecar).await {
            Ok(n) => {
                total += n;
                per_case.insert(c.path.display().to_string(), n);
            }
            Err(e) => failures.push(format!("{}: {e:#}", c.path.display())),
        }
    }
    assert!(
        failures.is_empty(),
        "failing cases (sidecar: {sidecar}):\n{}",
        failures.join("\n")
    );
    assert!(total >= 10, "too few ADBC query steps ran: {per_case:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_query_case_holds_through_adbc() {
    every_query_case_holds(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_query_case_holds_through_adbc_on_a_sidecar() {
    every_query_case_holds(true).await;
}
