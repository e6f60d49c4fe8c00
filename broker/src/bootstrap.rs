//! First start: the first tenant and its Account owner.
//!
//! Runs when the directory holds no tenant at all; on every later start it does nothing (never
//! recreates, never reprints). The owner's password comes from the configuration (flag or
//! `SWITCHBOARD_BOOTSTRAP_PASSWORD`) or is generated here and handed back once so the binary
//! prints it. This module prints nothing itself.

use switchboard_directory::model::{Quotas, Tenant, User};
use switchboard_directory::rules::random::string_from;
use switchboard_directory::service::{Directory, NewTenant, NewUser};

use crate::config::BootstrapConfig;
use crate::error::BrokerError;

/// What a first start created.
#[derive(Debug, Clone)]
pub struct Bootstrapped {
    /// The tenant.
    pub tenant: Tenant,
    /// Its owner.
    pub owner: User,
    /// The generated password (`None` when the configuration supplied one).
    pub generated_password: Option<String>,
}

const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// A random password that meets the policy (8+ chars, upper, lower, digit).
pub fn generate_password() -> Result<String, BrokerError> {
    let body = string_from(ALPHABET, 20)?;
    Ok(format!("Sb{body}7"))
}

/// Creates the first tenant and owner unless a tenant exists.
pub async fn bootstrap(
    dir: &Directory,
    cfg: &BootstrapConfig,
) -> Result<Option<Bootstrapped>, BrokerError> {
    if !dir.tenants().await?.is_empty() {
        return Ok(None);
    }
    let (password, generated) = match &cfg.password {
        Some(p) => (p.clone(), None),
        None => {
            let p = generate_password()?;
            (p.clone(), Some(p))
        }
    };
    let (tenant, owner) = dir
        .create_tenant(NewTenant {
            name: cfg.tenant.clone(),
            timezone: cfg.timezone.clone(),
            quotas: Quotas::default(),
            owner: NewUser {
                username: cfg.owner.clone(),
                password: Some(password),
                ..NewUser::default()
            },
        })
        .await?;
    Ok(Some(Bootstrapped {
        tenant,
        owner,
        generated_password: generated,
    }))
}
