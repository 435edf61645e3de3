//! TLS to the database: rustls (ring), verified against a CA file or the
//! system's roots. `sslmode=disable` is the only way to connect in the clear
//! ([`crate::PgStore::connect`] turns libpq's default `prefer` into
//! `require`).

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::pool::Tls;

/// The connector for `mode`, trusting `ca_file`'s certificates (PEM) or,
/// without one, the system's roots.
pub(crate) fn connector(mode: SslMode, ca_file: Option<&Path>) -> Result<Tls, String> {
    if mode == SslMode::Disable {
        return Ok(Tls::Off);
    }
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .and_then(|it| it.collect::<Result<_, _>>())
                .map_err(|e| {
                    format!(
                        "cannot read the CA file `{}` ({e}); pass a PEM file with \
                         --store-ca",
                        path.display()
                    )
                })?;
            if certs.is_empty() {
                return Err(format!(
                    "the CA file `{}` holds no certificate; pass a PEM file with --store-ca",
                    path.display()
                ));
            }
            for cert in certs {
                roots.add(cert).map_err(|e| {
                    format!(
                        "the CA file `{}` holds a bad certificate: {e}",
                        path.display()
                    )
                })?;
            }
        }
        None => {
            let native = rustls_native_certs::load_native_certs();
            for cert in native.certs {
                // A system root rustls cannot parse is skipped, as browsers do.
                let _ = roots.add(cert);
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot configure TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Tls::On(MakeRustlsConnect::new(config)))
}
