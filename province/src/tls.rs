//! Mutual TLS for the entries listener: the server certificate, client
//! certificates required and issued by the configured CA, and the client
//! certificate's subject CN required to be one of `accepted_senders`.
//!
//! Everything runs on rustls with the `ring` provider. A client without a
//! certificate, with one another CA issued, or with a CN not accepted, fails
//! the handshake and never reaches HTTP.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, RootCertStore};
use rustls_pki_types::{CertificateDer, UnixTime};

use crate::config::Config;

/// Why the TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A `client_ca` certificate is not a usable trust anchor.
    #[error("client_ca: {0}")]
    ClientCa(String),
    /// The server certificate or key is unusable.
    #[error("tls_cert/tls_key: {0}")]
    ServerCert(String),
}

/// The subject common name of a DER certificate, if it has one.
pub fn common_name(cert: &CertificateDer<'_>) -> Option<String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    let cn = parsed.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_owned)
}

/// The rustls server config of the entries listener.
pub fn server_config(config: &Config) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    for cert in &config.client_ca {
        roots
            .add(cert.clone())
            .map_err(|e| TlsError::ClientCa(e.to_string()))?;
    }
    let webpki = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| TlsError::ClientCa(e.to_string()))?;
    let verifier = SenderVerifier {
        inner: webpki,
        accepted: config.accepted_senders.clone(),
    };
    let mut server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::ServerCert(e.to_string()))?
        .with_client_cert_verifier(Arc::new(verifier))
        .with_single_cert(config.tls_cert.clone(), config.tls_key.clone_key())
        .map_err(|e| TlsError::ServerCert(e.to_string()))?;
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(server))
}

/// WebPKI client verification, then the subject CN against `accepted_senders`.
#[derive(Debug)]
struct SenderVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    accepted: Vec<String>,
}

impl ClientCertVerifier for SenderVerifier {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        match common_name(end_entity) {
            Some(cn) if self.accepted.contains(&cn) => Ok(verified),
            cn => {
                tracing::warn!(
                    client_cn = cn.as_deref().unwrap_or("(none)"),
                    accepted = ?self.accepted,
                    "refusing a client certificate whose subject CN is not in accepted_senders"
                );
                Err(rustls::Error::InvalidCertificate(
                    CertificateError::ApplicationVerificationFailure,
                ))
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
