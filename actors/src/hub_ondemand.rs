//! The OnDemand part of the hub's API (002/004 §6.2): create a key, join the queue, view it,
//! start or reject a waiting session. The queue itself runs in the tenant actor
//! (`crate::ondemand`); these methods route to it and turn directory refusals into codes.

use switchboard_codec::{ControlMessage, ErrorCode, SessionId, TenantId, UserId};
use switchboard_directory::DirectoryError;
use switchboard_directory::error::OnDemandRefusal;
use switchboard_directory::model::OnDemandSession;
use switchboard_directory::rules::ondemand_key::check_ondemand_user;
use switchboard_directory::service::Actor as DirActor;

use crate::error::ActorError;
use crate::hub::{GuestLink, Hub, try_send};
use crate::ids::{dir_tenant, dir_user};
use crate::ondemand::{OnDemandAgent, QueueView};
use crate::tenant::TenantMsg;

impl Hub {
    /// A technician creates an OnDemand key (002/004 §6.2: the user's OnDemand flag and an
    /// applicable OnDemand role assignment are both needed).
    pub async fn ondemand_create_key(
        &self,
        tenant: TenantId,
        user: UserId,
    ) -> Result<OnDemandSession, ActorError> {
        let h = self.tenant(tenant).await?;
        let policy = h.policy.load();
        let u = dir_user(user);
        let member = policy
            .members
            .get(&u)
            .ok_or(ActorError::Refused(ErrorCode::NotPermitted))?;
        let access = policy
            .snapshot
            .evaluate_ondemand(&u, self.shared.directory.now());
        check_ondemand_user(member, &access)
            .map_err(|_| ActorError::Refused(ErrorCode::NotPermitted))?;
        Ok(self
            .shared
            .directory
            .create_ondemand(dir_tenant(tenant), &DirActor::user(u))
            .await?)
    }

    /// An end user's agent joins with a key; it waits in its tenant's queue (told its
    /// position with `OnDemandQueued`). Refusals are also sent to the agent.
    pub async fn ondemand_join(&self, key: &str, agent: OnDemandAgent) -> Result<u32, ActorError> {
        let found = match self.shared.directory.ondemand_by_key(key).await {
            Ok(s) => s,
            Err(e) => {
                let code = ondemand_code(&e);
                try_send(&agent.tx, ControlMessage::OnDemandRejected { code });
                return Err(ActorError::Refused(code));
            }
        };
        let tenant = crate::ids::wire_tenant(found.tenant);
        let h = self.tenant(tenant).await?;
        let tx = agent.tx.clone();
        let r = h
            .call(&self.shared.counts, |reply| TenantMsg::Join {
                key: found.key.clone(),
                agent,
                reply,
            })
            .await?;
        if let Err(code) = r {
            try_send(&tx, ControlMessage::OnDemandRejected { code });
        }
        r.map_err(ActorError::Refused)
    }

    /// The OnDemand queue as `viewer` sees it (own or all invitations, per role).
    pub async fn ondemand_queue(
        &self,
        tenant: TenantId,
        viewer: UserId,
    ) -> Result<QueueView, ActorError> {
        let h = self.tenant(tenant).await?;
        h.call(&self.shared.counts, |reply| TenantMsg::Queue {
            viewer,
            reply,
        })
        .await
    }

    /// The technician starts the session waiting on `key`; the agent must still allow it.
    pub async fn ondemand_start(
        &self,
        tenant: TenantId,
        key: &str,
        technician: GuestLink,
        region: Option<String>,
    ) -> Result<SessionId, ActorError> {
        let h = self.tenant(tenant).await?;
        h.call(&self.shared.counts, |reply| TenantMsg::Start {
            key: key.to_owned(),
            technician,
            region,
            reply,
        })
        .await?
        .map_err(ActorError::Refused)
    }

    /// The technician rejects the session waiting on `key`: the agent is disconnected and the
    /// key disabled.
    pub async fn ondemand_reject(
        &self,
        tenant: TenantId,
        viewer: UserId,
        key: &str,
    ) -> Result<(), ActorError> {
        let h = self.tenant(tenant).await?;
        h.call(&self.shared.counts, |reply| TenantMsg::Reject {
            key: key.to_owned(),
            viewer,
            reply,
        })
        .await?
        .map_err(ActorError::Refused)
    }
}

/// The code an OnDemand agent is told for a directory refusal.
pub(crate) fn ondemand_code(e: &DirectoryError) -> ErrorCode {
    match e {
        DirectoryError::OnDemandRefused(OnDemandRefusal::Expired) => ErrorCode::OndemandKeyExpired,
        DirectoryError::OnDemandRefused(OnDemandRefusal::QueueTimeout) => {
            ErrorCode::OndemandQueueTimeout
        }
        DirectoryError::OnDemandRefused(OnDemandRefusal::Rejected) => ErrorCode::OndemandRejected,
        DirectoryError::OnDemandRefused(_) | DirectoryError::UnknownId { .. } => {
            ErrorCode::OndemandKeyInvalid
        }
        _ => ErrorCode::Internal,
    }
}
