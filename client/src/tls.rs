//! Which certificates a `wss://` connection trusts: the Web PKI roots
//! (webpki-roots), plus optionally the certificates of one PEM file, such
//! as a server's self-signed demo certificate or a private CA. rustls with
//! ring, its default versions (TLS 1.2 and 1.3).

use std::path::Path;
use std::sync::{Arc, LazyLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::RootCertStore;

use crate::error::ClientError;

/// The TLS client configuration for `wss://` URLs (ignored for `ws://`).
#[derive(Debug, Clone)]
pub struct TlsTrust {
    config: Arc<rustls::ClientConfig>,
}

static WEBPKI: LazyLock<TlsTrust> = LazyLock::new(|| TlsTrust::from_roots(web_pki_roots()));

impl Default for TlsTrust {
    /// The Web PKI roots only.
    fn default() -> Self {
        WEBPKI.clone()
    }
}

impl TlsTrust {
    /// The Web PKI roots and every certificate in the PEM file at `path`.
    pub fn with_ca_file(path: &Path) -> Result<TlsTrust, ClientError> {
        let bad =
            |e: rustls::pki_types::pem::Error| ClientError::InvalidInput(format!("CA file {}: {e}", path.display()));
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(bad)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(bad)?;
        if certs.is_empty() {
            return Err(ClientError::InvalidInput(format!(
                "CA file {} holds no certificate",
                path.display()
            )));
        }
        let mut roots = web_pki_roots();
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| ClientError::InvalidInput(format!("CA file {}: {e}", path.display())))?;
        }
        Ok(TlsTrust::from_roots(roots))
    }

    fn from_roots(roots: RootCertStore) -> TlsTrust {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            // infallible: ring supports rustls' default versions.
            .expect("ring supports TLS 1.2 and 1.3")
            .with_root_certificates(roots)
            .with_no_client_auth();
        // WebSockets upgrade over HTTP/1.1.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        TlsTrust {
            config: Arc::new(config),
        }
    }

    pub(crate) fn connector(&self) -> tokio_tungstenite::Connector {
        tokio_tungstenite::Connector::Rustls(self.config.clone())
    }
}

fn web_pki_roots() -> RootCertStore {
    RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    }
}
