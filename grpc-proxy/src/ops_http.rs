//! The operations port (`--metrics-listen`): `GET /metrics` (Prometheus'
//! text format), `GET /healthz` (ready only while the governance store
//! answers and, unless `--audit-best-effort`, the audit log can be written)
//! and `GET /livez` (the process serves), over plain HTTP/1.1, one request
//! per connection.
//!
//! Deliberately small, without an HTTP framework: three fixed routes, a
//! request head of at most 8 KiB read within 5 seconds, and nothing from the
//! request echoed back. It serves no governed data, so it carries no
//! authentication; bind it to a port only the monitoring system reaches.

use std::sync::Arc;
use std::time::Duration;

use policy_engine::Governance;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::audit::AuditHealth;

const MAX_HEAD: usize = 8 * 1024;
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves the operations port until the task is dropped.
pub(crate) async fn serve(
    listener: TcpListener,
    governance: Arc<Governance>,
    audit: Arc<AuditHealth>,
) {
    loop {
        let Ok((sock, _)) = listener.accept().await else {
            // Out of descriptors, say: wait rather than spin.
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let gov = governance.clone();
        let audit = audit.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(READ_TIMEOUT * 2, answer(sock, gov, audit)).await;
        });
    }
}

/// The request's method and path, from its head.
async fn read_head(sock: &mut TcpStream) -> Option<(String, String)> {
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        if buf.len() > MAX_HEAD {
            return None;
        }
        let n = tokio::time::timeout(READ_TIMEOUT, sock.read(&mut chunk))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(chunk.get(..n)?);
    }
    let head = std::str::from_utf8(&buf).ok()?;
    let mut parts = head.lines().next()?.split(' ');
    Some((parts.next()?.to_string(), parts.next()?.to_string()))
}

async fn answer(mut sock: TcpStream, gov: Arc<Governance>, audit: Arc<AuditHealth>) {
    let (code, kind, body) = match read_head(&mut sock).await {
        None => (400, "text/plain", "bad request\n".to_string()),
        Some((method, _)) if method != "GET" => (405, "text/plain", "only GET\n".to_string()),
        Some((_, path)) => match path.split('?').next().unwrap_or("") {
            "/metrics" => (
                200,
                "text/plain; version=0.0.4",
                format!(
                    "{}# HELP lakegate_audit_failing 1 while the audit log's last write or sync \
                     failed.\n# TYPE lakegate_audit_failing gauge\nlakegate_audit_failing {}\n",
                    crate::metrics::metrics().render(),
                    u8::from(audit.failing())
                ),
            ),
            "/healthz" => health(gov, &audit).await,
            "/livez" => (200, "text/plain", "ok\n".to_string()),
            _ => (
                404,
                "text/plain",
                "try /metrics, /healthz or /livez\n".to_string(),
            ),
        },
    };
    let reason = match code {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Service Unavailable",
    };
    let head = format!(
        "HTTP/1.1 {code} {reason}\r\ncontent-type: {kind}\r\ncontent-length: {}\r\n\
         cache-control: no-store\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let _ = sock.write_all(head.as_bytes()).await;
    let _ = sock.write_all(body.as_bytes()).await;
    let _ = sock.shutdown().await;
}

/// Ready while the store answers (the same read every statement makes)
/// and decisions are not being denied for want of an audit log.
async fn health(gov: Arc<Governance>, audit: &AuditHealth) -> (u16, &'static str, String) {
    let snap = tokio::task::spawn_blocking(move || gov.snapshot()).await;
    match snap {
        Ok(Ok(snap)) if audit.denying() => (
            503,
            "application/json",
            format!(
                "{{\"ready\":false,\"store\":\"ok\",\"store_version\":{},\"audit\":\"failing\"}}\n",
                snap.catalog.version
            ),
        ),
        Ok(Ok(snap)) => (
            200,
            "application/json",
            format!(
                "{{\"ready\":true,\"store\":\"ok\",\"store_version\":{}}}\n",
                snap.catalog.version
            ),
        ),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "health check: the governance store is unavailable");
            (
                503,
                "application/json",
                "{\"ready\":false,\"store\":\"unavailable\"}\n".to_string(),
            )
        }
        Err(_) => (
            503,
            "application/json",
            "{\"ready\":false,\"store\":\"unknown\"}\n".to_string(),
        ),
    }
}
