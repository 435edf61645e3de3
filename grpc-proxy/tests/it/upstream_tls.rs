//! TLS to the upstream engine (issue 13 §5): `--upstream grpcs://HOST:PORT
//! --upstream-ca FILE` in front of a Flight SQL engine that serves TLS
//! (`lakegate engine`'s service behind tonic's rustls), through a real
//! Flight SQL client. A certificate the CA did not issue is refused, so the
//! statement fails UNAVAILABLE instead of reaching an impostor.

use std::path::Path;
use std::sync::Arc;

use test_kit::*;
use tonic::Code;
use tonic::transport::{Identity, Server, ServerTlsConfig};

/// A CA, and a certificate for 127.0.0.1 that it issued: (CA PEM, cert
/// PEM, key PEM).
fn issued() -> (String, String, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &rcgen::Issuer::new(ca, ca_key))
        .unwrap();
    (ca_cert.pem(), leaf.pem(), key.serialize_pem())
}

/// A proxy with `--upstream grpcs://…` trusting `trusted_ca`, in front of an
/// engine serving TLS with `cert`/`key` over the proxy's catalog.
async fn tls_sidecar(dir: &Path, trusted_ca: &str, cert: &str, key: &str) -> TestServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let ca_file = dir.join(format!("ca-{port}.pem"));
    std::fs::write(&ca_file, trusted_ca).unwrap();
    let staged = Builder::new()
        .upstream(format!("grpcs://127.0.0.1:{port}"))
        .upstream_ca(&ca_file)
        .open()
        .with_sales()
        .await;
    let snap = staged.governance().snapshot().unwrap();
    let engine = Arc::new(lakegate_engine::Engine::new(&snap.catalog).unwrap());
    let service = lakegate_engine::EngineFlightService::new(engine).unwrap();
    let tls = ServerTlsConfig::new().identity(Identity::from_pem(cert, key));
    tokio::spawn(
        Server::builder()
            .tls_config(tls)
            .unwrap()
            .add_service(service.into_server())
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    staged.serve().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grpcs_upstream_is_verified_against_its_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = issued();
    let h = tls_sidecar(dir.path(), &ca, &cert, &key).await;
    h.grant(
        "111111111111:user/alice",
        table("sales.orders", &["id"]),
        &[],
    );
    let alice = h.token("111111111111:user/alice", &[], &[]);
    let got = h
        .query(&alice, "SELECT id FROM sales.orders ORDER BY id")
        .await
        .unwrap();
    assert_eq!(rows(&got), vec![r(&["1"]), r(&["2"]), r(&["3"]), r(&["4"])]);

    // An engine whose certificate another CA issued is not trusted.
    let (other_ca, _, _) = issued();
    let h = tls_sidecar(dir.path(), &other_ca, &cert, &key).await;
    h.grant(
        "111111111111:user/alice",
        table("sales.orders", &["id"]),
        &[],
    );
    let alice = h.token("111111111111:user/alice", &[], &[]);
    let e = h
        .query(&alice, "SELECT id FROM sales.orders")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unavailable, "{e:?}");
    assert!(e.message().contains("upstream"), "{}", e.message());
}
