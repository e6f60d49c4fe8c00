//! A tenant's compiled policy and the shared cell it lives in.
//!
//! The tenant actor builds a [`CompiledPolicy`] from the directory (one consistent load) and
//! swaps it into the [`PolicyCell`]; readers (session requests, OnDemand checks) clone the
//! `Arc` out of the cell without a mailbox round trip. Choice and reason: evaluation is a pure,
//! allocation-free function of an immutable snapshot, so sending it through the tenant actor's
//! mailbox would only add a queue hop, an allocation per message and a single-threaded
//! bottleneck per tenant; the actor keeps ownership of *building* and *replacing* the snapshot.
//! The lock is held only to clone or replace an `Arc`, never across an await.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;
use switchboard_directory::model::{Membership, TenantId, UserId};
use switchboard_directory::rules::evaluate::TenantModel;
use switchboard_directory::rules::snapshot::PolicySnapshot;
use switchboard_directory::service::Directory;

use crate::error::ActorError;

/// One tenant's policy at one version.
#[derive(Debug)]
pub struct CompiledPolicy {
    /// The snapshot sessions are evaluated against.
    pub snapshot: PolicySnapshot,
    /// The same policy with every schedule removed: a user it grants but `snapshot` does not
    /// at an instant is refused with `outside_schedule` rather than `not_permitted`.
    pub unscheduled: PolicySnapshot,
    /// Memberships by user (the OnDemand flag, the member state).
    pub members: HashMap<UserId, Membership>,
    /// The tenant.
    pub tenant: TenantId,
}

impl CompiledPolicy {
    /// Compiles a loaded model.
    pub fn compile(model: TenantModel) -> Self {
        let snapshot = PolicySnapshot::build(&model.input());
        let mut unscheduled_model = model;
        for a in &mut unscheduled_model.assignments {
            a.schedule = None;
        }
        let unscheduled = PolicySnapshot::build(&unscheduled_model.input());
        let members = unscheduled_model
            .memberships
            .into_iter()
            .map(|m| (m.user, m))
            .collect();
        Self {
            tenant: snapshot.tenant(),
            snapshot,
            unscheduled,
            members,
        }
    }

    /// Loads and compiles the tenant's current policy.
    pub async fn load(directory: &Directory, tenant: TenantId) -> Result<Self, ActorError> {
        let model = directory.load_model(tenant).await?;
        Ok(Self::compile(model))
    }

    /// The tenant version it was built from.
    pub fn version(&self) -> u64 {
        self.snapshot.version()
    }
}

/// The shared cell holding a tenant's current policy.
#[derive(Debug)]
pub struct PolicyCell {
    current: RwLock<Arc<CompiledPolicy>>,
}

impl PolicyCell {
    /// A cell holding `policy`.
    pub fn new(policy: CompiledPolicy) -> Self {
        Self {
            current: RwLock::new(Arc::new(policy)),
        }
    }

    /// The current policy.
    pub fn load(&self) -> Arc<CompiledPolicy> {
        Arc::clone(&self.current.read())
    }

    /// Replaces the policy.
    pub fn store(&self, policy: CompiledPolicy) {
        *self.current.write() = Arc::new(policy);
    }
}
