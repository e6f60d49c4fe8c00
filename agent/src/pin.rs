//! Certificate pinning: the agent trusts exactly one server certificate, named by the SHA-256
//! fingerprint `switchboard serve` prints, for both the control connection and the admin API.
//!
//! It does not check names, expiry or chains: the pin is the whole trust decision.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};

use crate::AgentError;

/// SHA-256 fingerprint (lowercase hex) of a DER certificate.
pub fn fingerprint(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

/// A fingerprint as typed by a person (`AB:CD:...` or `abcd...`), in the form compared.
pub fn normalize(fingerprint: &str) -> String {
    fingerprint.trim().replace(':', "").to_lowercase()
}

/// A TLS client configuration (ring provider) that trusts only the pinned certificate.
pub fn pinned_client_config(fingerprint: &str) -> Result<rustls::ClientConfig, AgentError> {
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| AgentError::Tls(e.to_string()))?
    .dangerous()
    .with_custom_certificate_verifier(Arc::new(PinnedCert::new(fingerprint)))
    .with_no_client_auth();
    Ok(cfg)
}

/// Accepts exactly the certificate with the pinned SHA-256 fingerprint (or, built with
/// [`PinnedCert::any_certificate`], any certificate); the handshake signature is always checked.
#[derive(Debug)]
pub struct PinnedCert {
    /// `None`: any certificate (the relay, which is untrusted by design).
    fingerprint: Option<String>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl PinnedCert {
    /// A verifier for the certificate whose fingerprint is `fingerprint` (hex, `:` allowed).
    pub fn new(fingerprint: &str) -> Self {
        Self {
            fingerprint: Some(normalize(fingerprint)),
            provider: Arc::new(rustls::crypto::ring::default_provider()),
        }
    }

    /// A verifier that accepts any certificate. Only for the relay's QUIC endpoint: tickets
    /// authenticate us to it, and Noise authenticates the peer and protects every byte.
    pub fn any_certificate() -> Self {
        Self {
            fingerprint: None,
            provider: Arc::new(rustls::crypto::ring::default_provider()),
        }
    }
}

impl ServerCertVerifier for PinnedCert {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let pinned = self.fingerprint.as_ref();
        if pinned.is_none_or(|want| fingerprint(end_entity) == *want) {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(
                "server certificate fingerprint does not match the pinned one".into(),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_compare_in_one_form() {
        assert_eq!(normalize(" AB:cd:EF "), "abcdef");
        assert_eq!(fingerprint(b"x").len(), 64);
        let v = PinnedCert::new(&fingerprint(b"cert").to_uppercase());
        let name = ServerName::try_from("localhost").unwrap();
        let ok = v.verify_server_cert(
            &CertificateDer::from(b"cert".to_vec()),
            &[],
            &name,
            &[],
            UnixTime::now(),
        );
        assert!(ok.is_ok());
        let bad = v.verify_server_cert(
            &CertificateDer::from(b"other".to_vec()),
            &[],
            &name,
            &[],
            UnixTime::now(),
        );
        assert!(bad.is_err());
    }
}
