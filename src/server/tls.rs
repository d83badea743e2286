//! TLS from a PEM certificate chain and key (rustls, with the aws-lc-rs
//! provider pgwire already links). Clients ask with `sslmode=require` (an
//! SSLRequest) or PostgreSQL 17's direct negotiation (ALPN "postgresql").

use std::path::Path;
use std::sync::Arc;

use pgwire::tokio::TlsAcceptor;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::aws_lc_rs;

use crate::error::{BrookError, Result};

/// Build the acceptor once at start-up: a bad file stops the server with a
/// message naming it rather than failing every handshake later.
pub fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor> {
    let bad = |what: &str, path: &Path, e: &dyn std::fmt::Display| {
        BrookError::InvalidText(format!("TLS {what} {}: {e}", path.display()))
    };
    let certs = CertificateDer::pem_file_iter(cert)
        .map_err(|e| bad("certificate", cert, &e))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| bad("certificate", cert, &e))?;
    if certs.is_empty() {
        return Err(bad(
            "certificate",
            cert,
            &"no CERTIFICATE block in the file",
        ));
    }
    // The key's error names the file, never its content.
    let private_key = PrivateKeyDer::from_pem_file(key).map_err(|e| bad("key", key, &e))?;
    let mut config = ServerConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| bad("setup for", cert, &e))?
        .with_no_client_auth()
        .with_single_cert(certs, private_key)
        .map_err(|e| bad("certificate and key", cert, &e))?;
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
