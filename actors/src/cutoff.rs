//! Cutting off a technician whose membership is no longer active (disabled or removed), run
//! by the tenant actor after each policy rebuild: find the users with a live session or Guest
//! control connection here whose membership the new policy (and the directory itself) no
//! longer holds active, end their sessions for both sides (`account_disabled`; the session
//! actor's end cuts the relay pipes and audits), then close their Guest connections with
//! `Error{account_disabled}`, audited. It holds no state of its own and no lock across an
//! await.

use std::sync::Arc;

use switchboard_codec::{ControlMessage, ErrorCode, TenantId, UserId};

use crate::counts::{ActorKind, Envelope};
use crate::ids::dir_tenant;
use crate::policy::CompiledPolicy;

/// Users with a live session or Guest connection of `tenant` on this broker whose
/// membership is not active in `policy` (confirmed against the directory itself, so a user
/// newer than the loaded policy is never cut).
pub(crate) async fn inactive_users(
    shared: &Arc<crate::hub::Shared>,
    tenant: TenantId,
    policy: &CompiledPolicy,
) -> Vec<UserId> {
    let mut candidates: Vec<UserId> = {
        let sessions = shared.sessions.lock();
        let guests = shared.guests.lock();
        sessions
            .values()
            .filter(|e| e.tenant == tenant)
            .map(|e| e.user)
            .chain(
                guests
                    .values()
                    .filter(|g| g.tenant == tenant)
                    .map(|g| g.user),
            )
            .filter(|u| {
                !policy
                    .members
                    .get(&crate::ids::dir_user(*u))
                    .is_some_and(|m| m.state.is_active())
            })
            .collect()
    };
    candidates.sort_unstable();
    candidates.dedup();
    let mut out = Vec::new();
    for user in candidates {
        let still = shared
            .directory
            .membership(dir_tenant(tenant), crate::ids::dir_user(user))
            .await;
        match still {
            Ok(m) if m.state.is_active() => {}
            Ok(_) | Err(switchboard_directory::DirectoryError::UnknownId { .. }) => out.push(user),
            Err(e) => {
                tracing::warn!(%user, error = %e, "membership check failed; not cutting the user now");
            }
        }
    }
    out
}

/// Ends `user`'s sessions (both sides told, relay pipes cut) and closes their Guest control
/// connections with `account_disabled`; audits each.
pub(crate) async fn cut_user(shared: &Arc<crate::hub::Shared>, tenant: TenantId, user: UserId) {
    let code = ErrorCode::AccountDisabled;
    let sessions: Vec<_> = shared
        .sessions
        .lock()
        .values()
        .filter(|e| e.tenant == tenant && e.user == user)
        .map(|e| e.actor.clone())
        .collect();
    let mut ended = Vec::new();
    for actor in sessions {
        // The session actor audits its own end.
        let (done, rx) = tokio::sync::oneshot::channel();
        let sent = actor.cast(Envelope::new(
            &shared.counts,
            ActorKind::Session,
            crate::session::SessionMsg::ForceEnd {
                code,
                why: "the technician's account was disabled or removed".into(),
                done,
            },
        ));
        if sent.is_ok() {
            ended.push(rx);
        }
    }
    // The Guest hears each `SessionCancel` before its connection is closed (bounded wait: a
    // stuck session actor does not hold the connection open).
    let _ = tokio::time::timeout(FORCE_END_WAIT, async {
        for rx in ended {
            let _ = rx.await;
        }
    })
    .await;
    let conns: Vec<_> = shared
        .guests
        .lock()
        .iter()
        .filter(|(_, g)| g.tenant == tenant && g.user == user)
        .map(|(c, g)| (*c, g.tx.clone()))
        .collect();
    for (conn, tx) in conns {
        // An `Error` makes the connection's driver say why and close.
        crate::hub::try_send(&tx, ControlMessage::error(code, code.sentence()));
        shared.guests.lock().remove(&conn);
        ::metrics::counter!(crate::metrics::FORCED_GUEST_CLOSES_TOTAL).increment(1);
        shared
            .audit(
                tenant,
                switchboard_directory::model::AuditActor::User(crate::ids::dir_user(user)),
                switchboard_directory::model::AuditKind::User,
                "control connection closed: account disabled or removed".into(),
                crate::hub::outcome_of(code),
                None,
                None,
            )
            .await;
    }
}

/// How long closing a disabled user's connections waits for their sessions to end first.
const FORCE_END_WAIT: std::time::Duration = std::time::Duration::from_secs(2);
