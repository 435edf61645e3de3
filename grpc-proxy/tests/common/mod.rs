//! The in-process server harness shared by the proxy's integration tests:
//! a lake of Parquet files, an embedded `lakegate serve` on loopback, an
//! optional sidecar (`lakegate engine` plus a proxy with `--upstream`), tokens
//! and a Flight SQL client.
#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test crate uses a different part of the harness"
)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array, ArrayRef, Float64Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use arrow_flight::error::FlightError;
use arrow_flight::sql::client::FlightSqlServiceClient;
use futures::TryStreamExt;
use grpc_proxy::server::{AppState, ServerConfig, bind, serve_on};
use parquet::arrow::ArrowWriter;
use policy_engine::model::{Format, LocationUri};
use policy_engine::{Caller, Governance, GrantRequest, NewTable, Principal, ResourceSpec};
use tonic::transport::Channel;

pub const ADMIN: &str = "111111111111:user/admin";

pub struct Harness {
    pub addr: String,
    pub key: Vec<u8>,
    pub gov: Arc<Governance>,
    pub dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _task: tokio::task::JoinHandle<()>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

pub fn write_parquet(path: &Path, batch: &RecordBatch) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let f = std::fs::File::create(path).unwrap();
    let mut w = ArrowWriter::try_new(f, batch.schema(), None).unwrap();
    w.write(batch).unwrap();
    w.close().unwrap();
}

/// orders (partitioned by region): id, amount, email | region
/// customers: id, name
pub fn write_data(root: &Path) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("amount", DataType::Float64, false),
        Field::new("email", DataType::Utf8, true),
    ]));
    for (region, ids, amounts, emails) in [
        (
            "EU",
            vec![1i64, 2],
            vec![10.0, 20.0],
            vec![Some("ann@x.com"), None],
        ),
        ("US", vec![3], vec![30.0], vec![Some("cy@y.com")]),
        ("APAC", vec![4], vec![40.0], vec![Some("dee@z.com")]),
    ] {
        let cols: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(ids)),
            Arc::new(Float64Array::from(amounts)),
            Arc::new(StringArray::from(emails)),
        ];
        write_parquet(
            &root.join(format!("sales/orders/region={region}/part-0.parquet")),
            &RecordBatch::try_new(schema.clone(), cols).unwrap(),
        );
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, false),
    ]));
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(vec![1i64, 2, 3, 4])),
        Arc::new(StringArray::from(vec!["ann", "bo", "cy", "dee"])),
    ];
    write_parquet(
        &root.join("sales/customers/part-0.parquet"),
        &RecordBatch::try_new(schema, cols).unwrap(),
    );
}

pub fn admin() -> Caller {
    Caller::new(Principal::parse(ADMIN).unwrap())
}

impl Harness {
    pub async fn start(upstream: Option<String>, data_dir: Option<&Path>) -> Self {
        Self::start_with(upstream, data_dir, None, None).await
    }

    pub async fn start_with(
        upstream: Option<String>,
        data_dir: Option<&Path>,
        tls: Option<grpc_proxy::server::TlsFiles>,
        client_certs: Option<String>,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data = data_dir
            .map(Path::to_path_buf)
            .unwrap_or_else(|| dir.path().join("data"));
        let cfg = ServerConfig {
            data_dir: data.clone(),
            listen: "127.0.0.1:0".into(),
            admins: vec![Principal::parse(ADMIN).unwrap()],
            upstream,
            demo: false,
            audit_log: None,
            tls,
            limits: Default::default(),
        };
        if let Some(map) = client_certs {
            std::fs::create_dir_all(&data).unwrap();
            std::fs::write(data.join(grpc_proxy::server::CLIENT_CERTS_FILE), map).unwrap();
        }
        let mut state = AppState::open(cfg).unwrap();
        let gov = state.governance.clone();
        if data_dir.is_none() {
            let lake = dir.path().join("lake");
            write_data(&lake);
            let loc = format!("file://{}/", lake.display());
            gov.register_location(&admin(), &loc).unwrap();
            gov.create_database(&admin(), "sales", Some(&format!("{loc}sales/")))
                .unwrap();
            for (name, rel, keys) in [
                ("sales.orders", "sales/orders/", vec!["region".to_string()]),
                ("sales.customers", "sales/customers/", vec![]),
            ] {
                let uri = LocationUri::parse(&format!("{loc}{rel}")).unwrap();
                let inf = lakegate_engine::infer::infer_table(&uri, Format::Parquet, &keys)
                    .await
                    .unwrap();
                gov.create_table(
                    &admin(),
                    &NewTable {
                        name: name.into(),
                        location: uri.to_string(),
                        format: Format::Parquet,
                        columns: inf.columns,
                        partition_keys: inf.partition_keys,
                    },
                )
                .unwrap();
            }
        }
        state.attach_flight().await.unwrap();
        let key = grpc_proxy::auth::load_key(&data).unwrap();
        let (listener, addr) = bind("127.0.0.1:0").await.unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            serve_on(state, listener, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        Harness {
            addr: format!("http://{addr}"),
            key,
            gov,
            dir,
            stop: Some(tx),
            _task: task,
        }
    }

    /// A sidecar deployment over the same data directory: `lakegate engine`
    /// (the embedded engine served alone, over the tables that exist now)
    /// and a proxy with `--upstream` in front of it. Grants made through
    /// either harness reach both proxies (one store).
    pub async fn sidecar(&self) -> Harness {
        let snap = self.gov.snapshot().unwrap();
        let engine = Arc::new(lakegate_engine::Engine::new(&snap.catalog).unwrap());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let up = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ =
                lakegate_engine::serve_engine(engine, listener, std::future::pending::<()>()).await;
        });
        let data = self.dir.path().join("data");
        Harness::start(Some(format!("grpc://{up}")), Some(&data)).await
    }

    pub fn token(&self, principal: &str, groups: &[&str], attrs: &[(&str, &str)]) -> String {
        grpc_proxy::auth::mint_token(
            &self.key,
            &Principal::parse(principal).unwrap(),
            &groups
                .iter()
                .map(|g| Principal::parse(g).unwrap())
                .collect::<Vec<_>>(),
            &attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
            Duration::from_secs(600),
        )
        .unwrap()
    }

    pub async fn client(&self, token: &str) -> FlightSqlServiceClient<Channel> {
        let ch = Channel::from_shared(self.addr.clone())
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut c = FlightSqlServiceClient::new(ch);
        c.set_header("authorization", format!("Bearer {token}"));
        c
    }

    pub async fn query(&self, token: &str, sql: &str) -> Result<Vec<RecordBatch>, tonic::Status> {
        let mut c = self.client(token).await;
        let info = c.execute(sql.to_string(), None).await.map_err(status)?;
        fetch(&mut c, info).await
    }

    pub fn grant(&self, principal: &str, resource: ResourceSpec, masks: &[(&str, &str)]) {
        self.gov
            .grant(
                &admin(),
                &GrantRequest {
                    principal: principal.into(),
                    permissions: vec!["SELECT".into()],
                    grantable: vec![],
                    resource,
                    masks: masks
                        .iter()
                        .map(|(a, b)| (a.to_string(), b.to_string()))
                        .collect(),
                },
            )
            .unwrap();
    }
}

/// Every endpoint's batches of a FlightInfo, in order (DoGet on each ticket).
pub async fn fetch(
    c: &mut FlightSqlServiceClient<Channel>,
    info: arrow_flight::FlightInfo,
) -> Result<Vec<RecordBatch>, tonic::Status> {
    let mut out = Vec::new();
    for ep in info.endpoint {
        let s = c.do_get(ep.ticket.unwrap()).await.map_err(status)?;
        let mut b: Vec<RecordBatch> = s.try_collect().await.map_err(status)?;
        out.append(&mut b);
    }
    Ok(out)
}

pub fn status(e: FlightError) -> tonic::Status {
    match e {
        FlightError::Tonic(s) => *s,
        other => tonic::Status::internal(other.to_string()),
    }
}

pub fn table(name: &str, cols: &[&str]) -> ResourceSpec {
    ResourceSpec::Table {
        name: name.into(),
        columns: cols.iter().map(|c| c.to_string()).collect(),
        exclude_columns: vec![],
    }
}

/// Rows as strings, for easy comparison.
pub fn rows(batches: &[RecordBatch]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for b in batches {
        for r in 0..b.num_rows() {
            out.push(
                (0..b.num_columns())
                    .map(|c| {
                        let a = b.column(c);
                        if a.is_null(r) {
                            "NULL".to_string()
                        } else {
                            arrow::util::display::array_value_to_string(a, r).unwrap()
                        }
                    })
                    .collect(),
            );
        }
    }
    out
}

pub fn names(batches: &[RecordBatch]) -> Vec<String> {
    batches
        .first()
        .map(|b| {
            b.schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect()
        })
        .unwrap_or_default()
}

pub fn r(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}
