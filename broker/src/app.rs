//! Starting the broker's admin half from a configuration: open the directory, create the
//! first tenant on first start, load or create the control certificate and ticket keys, and
//! serve the admin API. The control listeners and actors are started elsewhere (next step).

use std::sync::Arc;

use switchboard_directory::service::Directory;
use switchboard_directory::store::redis::RedisConfig;
use switchboard_directory::store::{StoreConfig, open};

use crate::api::{self, AdminState};
use crate::bootstrap::{Bootstrapped, bootstrap};
use crate::config::{BrokerConfig, DirectoryLocation};
use crate::error::BrokerError;
use crate::server::AdminServer;
use crate::sessions::SessionRegistry;
use crate::tls::{ControlCert, TicketKeys, load_cert, load_or_create_cert};

/// Opens the configured directory.
pub async fn open_directory(cfg: &BrokerConfig) -> Result<Directory, BrokerError> {
    let store = match cfg.directory_location()? {
        DirectoryLocation::Redb(path) => {
            if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| BrokerError::file(dir, e))?;
            }
            open(StoreConfig::Redb { path }).await?
        }
        DirectoryLocation::Redis(url) => {
            let mut rc = RedisConfig::new(url);
            rc.namespace.clone_from(&cfg.redis_namespace);
            open(StoreConfig::Redis(rc)).await?
        }
    };
    Ok(Directory::new(store))
}

/// What [`start`] brought up.
#[derive(Debug)]
pub struct Started {
    /// The directory.
    pub dir: Directory,
    /// The admin API's state (tokens, limiters).
    pub state: Arc<AdminState>,
    /// The admin server.
    pub admin: AdminServer,
    /// The control-plane certificate (agents pin its fingerprint).
    pub cert: ControlCert,
    /// Ticket-signing keys.
    pub tickets: TicketKeys,
    /// Set on the first start only.
    pub bootstrapped: Option<Bootstrapped>,
}

/// Brings up the admin half of the broker.
pub async fn start(
    cfg: &BrokerConfig,
    sessions: Arc<dyn SessionRegistry>,
) -> Result<Started, BrokerError> {
    std::fs::create_dir_all(&cfg.data_dir).map_err(|e| BrokerError::file(&cfg.data_dir, e))?;
    let cert = load_or_create_cert(&cfg.data_dir)?;
    let tickets = TicketKeys::load(&cfg.data_dir, &cfg.tickets)?;
    let dir = open_directory(cfg).await?;
    let bootstrapped = bootstrap(&dir, &cfg.bootstrap).await?;
    let state = AdminState::new(
        dir.clone(),
        cfg,
        sessions,
        crate::metrics::prometheus_handle(),
    )
    .await?;
    let (router, _) = api::router(state.clone());
    let tls = match (&cfg.admin.tls_cert, &cfg.admin.tls_key) {
        (Some(c), Some(k)) => Some(load_cert(c, k)?.server_config()?),
        _ => None,
    };
    let admin = AdminServer::start(cfg.admin.listen, router, tls).await?;
    Ok(Started {
        dir,
        state,
        admin,
        cert,
        tickets,
        bootstrapped,
    })
}
