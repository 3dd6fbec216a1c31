//! HTTPS/WSS: the rustls configuration from PEM files or a self-signed
//! demo certificate, and its reload on SIGHUP.
//!
//! rustls defaults (TLS 1.2 and 1.3, its cipher suites) with ring; ALPN
//! offers only http/1.1, since WebSockets upgrade over HTTP/1.1.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum_server::tls_rustls::RustlsConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;
use sha2::{Digest, Sha256};

use crate::config::TlsConfig;

/// Names the demo certificate is valid for.
const SELF_SIGNED_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// Where the demo certificate is written, for clients to trust it
/// (`parasol --ca-file`). Only the certificate: its key stays in memory.
pub const SELF_SIGNED_CERT_FILE: &str = "tls-self-signed.pem";

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error("{0} holds no certificate")]
    NoCertificate(PathBuf),
    #[error("certificate and key are not usable together: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("cannot make the self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

/// The TLS side of a running server.
pub struct Tls {
    /// Swapped in place on reload: new handshakes see the new certificate,
    /// open connections keep theirs.
    pub rustls: RustlsConfig,
    /// The certificate files, re-read on SIGHUP (None: self-signed).
    files: Option<(PathBuf, PathBuf)>,
    /// The leaf certificate's SHA-256, as browsers show it.
    pub fingerprint: String,
}

impl Tls {
    /// The configured certificate, or None when TLS is off. A self-signed
    /// certificate is written to `data_dir` (see [`SELF_SIGNED_CERT_FILE`]).
    pub fn load(config: &TlsConfig, data_dir: &Path) -> Result<Option<Tls>, TlsError> {
        if config.self_signed {
            let (server_config, cert, pem) = self_signed()?;
            let path = data_dir.join(SELF_SIGNED_CERT_FILE);
            std::fs::write(&path, pem).map_err(|source| TlsError::Write { path, source })?;
            return Ok(Some(Tls {
                rustls: RustlsConfig::from_config(server_config),
                files: None,
                fingerprint: fingerprint(&cert),
            }));
        }
        let (Some(cert), Some(key)) = (&config.cert_file, &config.key_file) else {
            return Ok(None);
        };
        let (server_config, leaf) = from_pem_files(cert, key)?;
        Ok(Some(Tls {
            rustls: RustlsConfig::from_config(server_config),
            files: Some((cert.clone(), key.clone())),
            fingerprint: fingerprint(&leaf),
        }))
    }

    /// Re-read the certificate files. On any error the current certificate
    /// stays and the error is returned.
    pub async fn reload(&self) -> Result<String, TlsError> {
        let Some((cert, key)) = self.files.clone() else {
            return Ok(self.fingerprint.clone());
        };
        let loaded = tokio::task::spawn_blocking(move || from_pem_files(&cert, &key))
            .await
            .map_err(|e| TlsError::Read {
                path: PathBuf::new(),
                message: e.to_string(),
            })?;
        let (server_config, leaf) = loaded?;
        self.rustls.reload_from_config(server_config);
        Ok(fingerprint(&leaf))
    }

    /// Reload on every SIGHUP until `stop` is cancelled. A bad file is
    /// logged and the current certificate kept; the server stays up. The
    /// handler is installed at once, before the returned future runs, so a
    /// SIGHUP right after start cannot kill the process.
    #[cfg(unix)]
    pub fn reload_on_sighup(
        self: Arc<Self>,
        stop: tokio_util::sync::CancellationToken,
    ) -> impl std::future::Future<Output = ()> {
        use tokio::signal::unix::{signal, SignalKind};
        let hangups = signal(SignalKind::hangup());
        async move {
            let mut hangups = match hangups {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "no SIGHUP handler; the certificate will not be reloaded");
                    return;
                }
            };
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    Some(()) = hangups.recv() => match self.reload().await {
                        Ok(fingerprint) => tracing::info!(%fingerprint, "TLS certificate reloaded"),
                        Err(e) => tracing::warn!(error = %e, "TLS certificate reload failed; keeping the current one"),
                    },
                }
            }
        }
    }
}

/// A server configuration from a PEM chain (leaf first) and key, with the
/// leaf certificate.
fn from_pem_files(cert: &Path, key: &Path) -> Result<(Arc<ServerConfig>, CertificateDer<'static>), TlsError> {
    let read_error = |path: &Path| {
        let path = path.to_path_buf();
        move |e: rustls::pki_types::pem::Error| TlsError::Read {
            path,
            message: e.to_string(),
        }
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(read_error(cert))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(read_error(cert))?;
    let leaf = chain
        .first()
        .cloned()
        .ok_or_else(|| TlsError::NoCertificate(cert.into()))?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(read_error(key))?;
    Ok((server_config(chain, key)?, leaf))
}

fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    // Checks that the key belongs to the leaf certificate.
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A fresh self-signed certificate for localhost, 127.0.0.1 and ::1, and
/// the certificate in PEM.
fn self_signed() -> Result<(Arc<ServerConfig>, CertificateDer<'static>, String), TlsError> {
    let names: Vec<String> = SELF_SIGNED_NAMES.iter().map(|n| n.to_string()).collect();
    let rcgen::CertifiedKey { cert, signing_key } = rcgen::generate_simple_self_signed(names)?;
    let der = cert.der().clone();
    let key = PrivateKeyDer::try_from(signing_key.serialize_der()).map_err(|e| TlsError::Read {
        path: PathBuf::new(),
        message: e.to_string(),
    })?;
    Ok((server_config(vec![der.clone()], key)?, der, cert.pem()))
}

/// SHA-256 of the DER certificate, as `AB:CD:…`.
pub fn fingerprint(cert: &CertificateDer<'_>) -> String {
    Sha256::digest(cert.as_ref())
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_certificate_is_usable_and_written_for_clients() {
        let dir = tempfile::tempdir().unwrap();
        let config = TlsConfig {
            self_signed: true,
            ..TlsConfig::default()
        };
        let tls = Tls::load(&config, dir.path()).unwrap().expect("TLS on");
        let written = std::fs::read(dir.path().join(SELF_SIGNED_CERT_FILE)).unwrap();
        let cert = CertificateDer::from_pem_slice(&written).unwrap();
        assert_eq!(fingerprint(&cert), tls.fingerprint);
        assert_eq!(tls.fingerprint.len(), 32 * 3 - 1);
        assert_eq!(tls.rustls.get_inner().alpn_protocols, vec![b"http/1.1".to_vec()]);
    }

    #[test]
    fn a_key_that_does_not_match_the_certificate_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let a = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let b = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        std::fs::write(&cert, a.cert.pem()).unwrap();
        std::fs::write(&key, b.signing_key.serialize_pem()).unwrap();
        assert!(from_pem_files(&cert, &key).is_err());
        std::fs::write(&key, a.signing_key.serialize_pem()).unwrap();
        assert!(from_pem_files(&cert, &key).is_ok());
        std::fs::write(&cert, "not a certificate").unwrap();
        assert!(matches!(from_pem_files(&cert, &key), Err(TlsError::NoCertificate(_))));
    }
}
