//! The Guest (technician) side of a control connection: the access-token check of the
//! handshake, and a Guest's messages once connected (session requests, cancels, OnDemand key
//! creation, start and reject).
//!
//! The access token is the admin API's bearer token from `POST /api/v1/login`, looked up in
//! the same hashed token store; MFA-enrolment-only tokens are refused. The Guest's Noise static
//! key comes with each `SessionRequest` / `OnDemandStart` and is handed to the Host (or agent)
//! as its peer key.

use switchboard_actors::ids::dir_tenant;
use switchboard_actors::{GuestLink, Hub, SessionEvent, SessionRequest};
use switchboard_codec::message::OnDemandKey;
use switchboard_codec::{ControlMessage, ErrorCode, SessionTicket, Side, TenantId, UserId};
use tokio::sync::mpsc;

use super::ControlContext;
use crate::api::AdminState;

/// An authenticated technician.
#[derive(Debug, Clone)]
pub(crate) struct Guest {
    pub(crate) tenant: TenantId,
    pub(crate) user: UserId,
    pub(crate) display_name: String,
}

/// Checks an access token; the technician it belongs to, or the refusal code
/// (`account_disabled` when the membership is disabled or gone: a token issued before that
/// no longer opens a control connection).
pub(crate) async fn check_token(admin: &AdminState, token: &str) -> Result<Guest, ErrorCode> {
    let owner = admin.tokens.get(token).ok_or(ErrorCode::AuthFailed)?;
    if owner.enrol_only {
        return Err(ErrorCode::AuthFailed);
    }
    match admin.dir.membership(owner.tenant, owner.user).await {
        Ok(m) if m.state.is_active() => {}
        Ok(_) | Err(switchboard_directory::DirectoryError::UnknownId { .. }) => {
            return Err(ErrorCode::AccountDisabled);
        }
        Err(_) => return Err(ErrorCode::Internal),
    }
    let display_name = match admin.dir.user(owner.user).await {
        Ok(u) => {
            let full = format!("{} {}", u.first_name, u.last_name);
            if full.trim().is_empty() {
                u.username
            } else {
                full.trim().to_owned()
            }
        }
        Err(_) => return Err(ErrorCode::AuthFailed),
    };
    Ok(Guest {
        tenant: TenantId(*owner.tenant.as_bytes()),
        user: UserId(*owner.user.as_bytes()),
        display_name,
    })
}

impl Guest {
    fn link(&self, tx: &mpsc::Sender<ControlMessage>, static_key: [u8; 32]) -> GuestLink {
        GuestLink {
            user: self.user,
            display_name: self.display_name.clone(),
            static_key,
            tx: tx.clone(),
        }
    }
}

/// A connected Guest's message. `tx` is the connection's writer (answers and session traffic
/// go there).
pub(crate) async fn on_guest_message(
    ctx: &ControlContext,
    guest: &Guest,
    tx: &mpsc::Sender<ControlMessage>,
    msg: ControlMessage,
) {
    let hub = &ctx.hub;
    match msg {
        ControlMessage::SessionRequest {
            request_id,
            device_id,
            wanted,
            guest_static_key,
        } => {
            let req = SessionRequest {
                tenant: guest.tenant,
                guest: guest.link(tx, guest_static_key),
                request_id,
                device: device_id,
                wanted,
                region: None,
            };
            // The hub answers the Guest itself (SessionCreated or SessionDenied).
            if let Ok(sid) = hub.request_session(req).await {
                ctx.sessions.track(
                    sid,
                    dir_tenant(guest.tenant),
                    guest.user,
                    device_id.to_string(),
                    tx.clone(),
                );
            }
        }
        ControlMessage::SessionCancel { session_id, .. } => {
            if hub.side_of(session_id, None, Some(guest.user)) == Some(Side::Guest) {
                hub.session_event(session_id, SessionEvent::Cancelled { by: Side::Guest });
            }
        }
        ControlMessage::OnDemandCreateKey { request_id } => {
            on_create_key(hub, guest, tx, request_id).await;
        }
        ControlMessage::OnDemandStart {
            key,
            guest_static_key,
        } => {
            let link = guest.link(tx, guest_static_key);
            let r = hub
                .ondemand_start(guest.tenant, &key.to_string(), link, None)
                .await;
            match r {
                Ok(sid) => ctx.sessions.track(
                    sid,
                    dir_tenant(guest.tenant),
                    guest.user,
                    format!("ondemand:{key}"),
                    tx.clone(),
                ),
                Err(e) => refuse(tx, e.code()),
            }
        }
        ControlMessage::OnDemandReject { key } => {
            if let Err(e) = hub
                .ondemand_reject(guest.tenant, guest.user, &key.to_string())
                .await
            {
                refuse(tx, e.code());
            }
        }
        other => {
            tracing::debug!(user = %guest.user, kind = other.type_number(), "Guest message ignored");
        }
    }
}

async fn on_create_key(
    hub: &Hub,
    guest: &Guest,
    tx: &mpsc::Sender<ControlMessage>,
    request_id: u64,
) {
    match hub.ondemand_create_key(guest.tenant, guest.user).await {
        Ok(s) => {
            let key = s.key.parse::<OnDemandKey>();
            let expires = u64::try_from(s.expires_at.as_millisecond()).unwrap_or(0);
            match key {
                Ok(key) => {
                    let _ = tx.try_send(ControlMessage::OnDemandKeyCreated {
                        request_id,
                        key,
                        expires_at_unix_ms: expires,
                    });
                }
                Err(_) => refuse(tx, ErrorCode::Internal),
            }
        }
        Err(e) => refuse(tx, e.code()),
    }
}

/// A refusal that does not end the connection: the technician's OnDemand request failed
/// (the protocol has no technician-side refusal message yet; `OnDemandRejected` carries it).
fn refuse(tx: &mpsc::Sender<ControlMessage>, code: ErrorCode) {
    let _ = tx.try_send(ControlMessage::OnDemandRejected { code });
}

/// Watches what the hub sends a Guest, for the admin view: the relay a session was assigned
/// to, and sessions that ended.
pub(crate) fn observe_outbound(ctx: &ControlContext, msg: &ControlMessage) {
    match msg {
        ControlMessage::RelayAssignment {
            session_id, ticket, ..
        } => {
            if let Ok((t, _)) = SessionTicket::parse_unverified(ticket) {
                ctx.sessions.set_relay(*session_id, t.relay_id.0);
            }
        }
        ControlMessage::SessionCancel { session_id, .. }
        | ControlMessage::SessionReject { session_id, .. } => ctx.sessions.forget(*session_id),
        _ => {}
    }
}
