//! The `Directory` service: the access model stored on a [`KvStore`], one async method per
//! administrative action.
//!
//! Every method reads what it needs (with versions), asks `crate::rules` or checks its inputs,
//! then commits ONE atomic batch per scope whose preconditions are the versions it read; a lost
//! race gives a `Conflict`, and the method starts over from a fresh read (bounded retries). The
//! batch also appends the audit record (when the tenant's audit log is on) and, being a commit,
//! bumps the tenant's version and notifies subscribers, so a compiled `PolicySnapshot` is only
//! rebuilt when its tenant changed. Bad input is refused before anything is written.
//!
//! A user identity and the username index are global (`Scope::global()`); memberships and every
//! other object are per tenant. An action that touches both scopes writes the global scope
//! first and the tenant second, so a crash in between leaves at worst an identity without a
//! membership (inert), never a membership without an identity.
//!
//! Layout: `keys` (key shapes), `codec` (JSON records and batches), `records` (typed reads of
//! per-id records), `tenants`, `users`, `credentials` (TOTP, recovery codes), `groups` (with
//! `group_kind`: what differs between user and device groups), `devices`, `roles`, `assignments`, `packages`, `ondemand`, `audit`, `snapshot`.
//! This module holds no socket, actor or clock of its own: time comes from a [`Clock`].

mod assignments;
mod audit;
mod codec;
mod credentials;
mod devices;
mod group_kind;
mod groups;
mod keys;
mod ondemand;
mod packages;
mod records;
mod roles;
mod snapshot;
mod tenants;
mod users;

use std::sync::Arc;

use jiff::Timestamp;
use tokio::sync::broadcast;

use crate::error::DirectoryError;
use crate::model::{AuditActor, TenantId};
use crate::rules::user_types::{Capability, has_capability};
use crate::store::{Scope, SharedStore, StoreEvent};

pub use assignments::NewAssignment;
pub use audit::{AUDIT_RETENTION, AuditQuery, MAX_AUDIT_QUERY, retention_cutoff, to_csv};
pub use packages::{Enrollment, NewPackage, PackageSummary};
pub use tenants::NewTenant;
pub use users::NewUser;

/// Where the service reads the time (tests substitute a fixed or stepping clock).
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// How many times a method re-reads and retries after losing a race.
pub const MAX_CONFLICT_RETRIES: u32 = 32;

/// The directory service. Cheap to clone.
#[derive(Clone)]
pub struct Directory {
    store: SharedStore,
    clock: Clock,
}

impl std::fmt::Debug for Directory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Directory")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

/// Who performs an action (for audit records and hierarchy checks).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    /// The acting identity, as recorded in the audit log.
    pub audit: AuditActor,
}

impl Actor {
    /// Switchboard itself.
    pub fn system() -> Self {
        Self {
            audit: AuditActor::System,
        }
    }

    /// A user.
    pub fn user(id: crate::model::UserId) -> Self {
        Self {
            audit: AuditActor::User(id),
        }
    }

    /// The user id, if a user acts.
    pub fn user_id(&self) -> Option<crate::model::UserId> {
        match self.audit {
            AuditActor::User(u) => Some(u),
            _ => None,
        }
    }
}

impl Directory {
    /// A directory over `store`, reading the system clock.
    pub fn new(store: SharedStore) -> Self {
        Self::with_clock(store, Arc::new(Timestamp::now))
    }

    /// A directory over `store` with the given clock.
    pub fn with_clock(store: SharedStore, clock: Clock) -> Self {
        Self { store, clock }
    }

    /// The store underneath.
    pub fn store(&self) -> &SharedStore {
        &self.store
    }

    /// The current instant according to the clock.
    pub fn now(&self) -> Timestamp {
        (self.clock)()
    }

    /// Change notifications of every tenant (see [`StoreEvent`]).
    pub fn subscribe(&self) -> broadcast::Receiver<StoreEvent> {
        self.store.subscribe()
    }

    /// Refuses unless `actor` is the system or an active member whose type has `capability`
    /// (002/004 §2.2, `rules::user_types`). The admin API checks too; this is the last line.
    pub(crate) async fn require(
        &self,
        tenant: TenantId,
        actor: &Actor,
        capability: Capability,
    ) -> Result<(), DirectoryError> {
        let user = match &actor.audit {
            AuditActor::System => return Ok(()),
            AuditActor::User(u) => *u,
            _ => {
                return Err(DirectoryError::NotAllowed(
                    "only users administer an account",
                ));
            }
        };
        let m = self.membership(tenant, user).await.map_err(|e| match e {
            DirectoryError::UnknownId { .. } => {
                DirectoryError::NotAllowed("the acting user is not a member of this account")
            }
            e => e,
        })?;
        if m.state.is_active() && has_capability(m.user_type, capability) {
            Ok(())
        } else {
            Err(DirectoryError::NotAllowed(
                "the acting user's type does not allow this",
            ))
        }
    }

    /// The tenant's version: bumped by every committed change of that tenant.
    pub async fn tenant_version(&self, tenant: TenantId) -> Result<u64, DirectoryError> {
        self.store.scope_version(&scope(tenant)?).await
    }
}

/// The store scope of a tenant.
pub(crate) fn scope(tenant: TenantId) -> Result<Scope, DirectoryError> {
    Scope::tenant(&tenant.to_string())
}

/// Runs `attempt` until it does not end in a store `Conflict` (at most
/// [`MAX_CONFLICT_RETRIES`] times; then the last conflict is returned).
pub(crate) async fn retry<T, F, Fut>(mut attempt: F) -> Result<T, DirectoryError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, DirectoryError>>,
{
    let mut tries = 0;
    loop {
        match attempt().await {
            Err(DirectoryError::Conflict { .. }) if tries + 1 < MAX_CONFLICT_RETRIES => {
                tries += 1;
                tokio::task::yield_now().await;
            }
            other => return other,
        }
    }
}
