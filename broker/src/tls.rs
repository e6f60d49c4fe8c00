//! Key material in the data directory: the control-plane TLS certificate and the relay
//! ticket-signing keys.
//!
//! On first start a self-signed certificate (rcgen) is written to `control-cert.pem` /
//! `control-key.pem` (key 0600); its SHA-256 fingerprint is what agents pin. Ticket keys are
//! 32-byte ed25519 secrets in `ticket-key-<id>.key` (hex, 0600), generated once each; a second
//! (next) key id may be configured during a rotation. Later starts load what is there. This
//! module builds no listener: the control-listener step does.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use switchboard_codec::TicketSigner;

use crate::error::BrokerError;

/// File names in the data directory.
pub const CERT_FILE: &str = "control-cert.pem";
/// The certificate's private key.
pub const KEY_FILE: &str = "control-key.pem";

/// The control-plane certificate.
#[derive(Debug, Clone)]
pub struct ControlCert {
    /// DER certificate chain (one self-signed certificate unless replaced by the operator).
    pub chain: Vec<CertificateDer<'static>>,
    /// PEM of the private key (kept as text; parse with [`ControlCert::private_key`]).
    key_pem: String,
    /// SHA-256 of the leaf certificate's DER, lowercase hex.
    pub fingerprint: String,
    /// True when this start generated it.
    pub generated: bool,
}

impl ControlCert {
    /// The private key.
    pub fn private_key(&self) -> Result<PrivateKeyDer<'static>, BrokerError> {
        PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes()).map_err(|e| {
            BrokerError::BadKeyMaterial {
                path: KEY_FILE.into(),
                detail: e.to_string(),
            }
        })
    }

    /// A rustls server configuration over this certificate.
    pub fn server_config(&self) -> Result<rustls::ServerConfig, BrokerError> {
        rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), self.private_key()?)
            .map_err(|e| BrokerError::Tls(e.to_string()))
    }
}

/// SHA-256 fingerprint (lowercase hex) of a DER certificate.
pub fn fingerprint(der: &[u8]) -> String {
    switchboard_agent::pin::fingerprint(der)
}

/// Writes `bytes` to a new file with mode 0600 (refuses to overwrite).
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), BrokerError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| BrokerError::file(dir, e))?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| BrokerError::file(path, e))?;
    f.write_all(bytes).map_err(|e| BrokerError::file(path, e))
}

/// Loads `cert`/`key` PEM files (operator-supplied, or ours from an earlier start).
pub fn load_cert(cert: &Path, key: &Path) -> Result<ControlCert, BrokerError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| BrokerError::BadKeyMaterial {
            path: cert.to_owned(),
            detail: e.to_string(),
        })?
        .collect::<Result<_, _>>()
        .map_err(|e| BrokerError::BadKeyMaterial {
            path: cert.to_owned(),
            detail: e.to_string(),
        })?;
    let Some(leaf) = chain.first() else {
        return Err(BrokerError::BadKeyMaterial {
            path: cert.to_owned(),
            detail: "no certificate in the file".into(),
        });
    };
    let fingerprint = fingerprint(leaf);
    let key_pem = std::fs::read_to_string(key).map_err(|e| BrokerError::file(key, e))?;
    let c = ControlCert {
        chain,
        key_pem,
        fingerprint,
        generated: false,
    };
    c.private_key().map_err(|_| BrokerError::BadKeyMaterial {
        path: key.to_owned(),
        detail: "no usable private key".into(),
    })?;
    Ok(c)
}

/// Loads the control certificate from `data_dir`, generating a self-signed one on first start.
pub fn load_or_create_cert(data_dir: &Path) -> Result<ControlCert, BrokerError> {
    let (cert, key) = (data_dir.join(CERT_FILE), data_dir.join(KEY_FILE));
    if cert.exists() {
        return load_cert(&cert, &key);
    }
    let names = vec!["switchboard".to_owned(), "localhost".to_owned()];
    let ck = rcgen::generate_simple_self_signed(names)
        .map_err(|e| BrokerError::Generate(e.to_string()))?;
    write_private(&key, ck.signing_key.serialize_pem().as_bytes())?;
    write_private(&cert, ck.cert.pem().as_bytes())?;
    let mut c = load_cert(&cert, &key)?;
    c.generated = true;
    Ok(c)
}

/// The file of ticket key `id`.
pub fn ticket_key_path(data_dir: &Path, id: u32) -> PathBuf {
    data_dir.join(format!("ticket-key-{id}.key"))
}

/// Loads ticket key `id` from `data_dir`, generating it (0600) on first use.
pub fn load_or_create_ticket_key(data_dir: &Path, id: u32) -> Result<TicketSigner, BrokerError> {
    let path = ticket_key_path(data_dir, id);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let secret = switchboard_relay::config::parse_key_hex(text.trim()).map_err(|e| {
                BrokerError::BadKeyMaterial {
                    path: path.clone(),
                    detail: e,
                }
            })?;
            Ok(TicketSigner::new(id, secret))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut secret = [0u8; 32];
            getrandom::fill(&mut secret).map_err(|e| BrokerError::Generate(e.to_string()))?;
            write_private(&path, format!("{}\n", hex::encode(secret)).as_bytes())?;
            tracing::info!(path = %path.display(), key_id = id, "generated a ticket-signing key");
            Ok(TicketSigner::new(id, secret))
        }
        Err(e) => Err(BrokerError::file(&path, e)),
    }
}

/// The ticket keys in use: the current signer and, during a rotation, the next one.
#[derive(Debug)]
pub struct TicketKeys {
    /// Signs tickets now.
    pub current: TicketSigner,
    /// Published so relays accept it before it signs.
    pub next: Option<TicketSigner>,
}

impl TicketKeys {
    /// Loads (or creates) the configured keys.
    pub fn load(data_dir: &Path, cfg: &crate::config::TicketsConfig) -> Result<Self, BrokerError> {
        Ok(Self {
            current: load_or_create_ticket_key(data_dir, cfg.key_id)?,
            next: cfg
                .next_key_id
                .map(|id| load_or_create_ticket_key(data_dir, id))
                .transpose()?,
        })
    }

    /// The public keys a relay must accept.
    pub fn broker_keys(&self) -> Vec<switchboard_relay::config::BrokerKey> {
        std::iter::once(&self.current)
            .chain(self.next.as_ref())
            .map(|s| switchboard_relay::config::BrokerKey {
                id: s.key_id(),
                public_key: s.public_key(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn cert_is_generated_once_and_reloaded() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::tempdir().unwrap();
        let a = load_or_create_cert(dir.path()).unwrap();
        assert!(a.generated);
        assert_eq!(a.fingerprint.len(), 64);
        let b = load_or_create_cert(dir.path()).unwrap();
        assert!(!b.generated);
        assert_eq!(a.fingerprint, b.fingerprint);
        b.server_config().unwrap();
        let mode = std::fs::metadata(dir.path().join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn ticket_keys_persist_with_owner_only_mode() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = crate::config::TicketsConfig {
            key_id: 3,
            next_key_id: Some(4),
        };
        let a = TicketKeys::load(dir.path(), &cfg).unwrap();
        let b = TicketKeys::load(dir.path(), &cfg).unwrap();
        assert_eq!(a.current.public_key(), b.current.public_key());
        assert_eq!(a.broker_keys().len(), 2);
        let mode = std::fs::metadata(ticket_key_path(dir.path(), 3))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
