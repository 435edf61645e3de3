//! `lakegate engine` (the embedded engine served alone over Flight SQL) in
//! this process: the upstream of a sidecar, and the direct baseline of the
//! benches.

use std::sync::Arc;

use grpc_proxy::server::Limits;
use policy_engine::catalog::Catalog;
use tokio::sync::oneshot;

/// A running engine server; stopped when dropped.
pub struct EngineServer {
    /// `http://127.0.0.1:PORT`.
    pub addr: String,
    /// The engine, to refresh with a newer catalog.
    pub engine: Arc<lakegate_engine::Engine>,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for EngineServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

impl std::fmt::Debug for EngineServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineServer")
            .field("addr", &self.addr)
            .finish()
    }
}

impl EngineServer {
    /// Serves the tables of `catalog` with the engine half of `limits` on
    /// a free loopback port, as `lakegate engine` does.
    pub async fn start(catalog: &Catalog, limits: &Limits) -> Self {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the engine");
        Self::start_on(catalog, limits, l)
    }

    /// Like [`EngineServer::start`], on `listener`.
    pub fn start_on(catalog: &Catalog, limits: &Limits, listener: tokio::net::TcpListener) -> Self {
        let addr = format!("http://{}", listener.local_addr().expect("engine address"));
        let engine = Arc::new(
            lakegate_engine::Engine::with_limits(catalog, limits.engine())
                .expect("start the engine"),
        );
        let (tx, rx) = oneshot::channel::<()>();
        let served = engine.clone();
        tokio::spawn(async move {
            let _ = lakegate_engine::serve_engine(served, listener, async {
                let _ = rx.await;
            })
            .await;
        });
        Self {
            addr,
            engine,
            stop: Some(tx),
        }
    }

    /// The address as a `grpc://` URL (for `--upstream`).
    pub fn grpc_url(&self) -> String {
        self.addr.replacen("http://", "grpc://", 1)
    }
}
