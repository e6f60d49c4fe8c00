//! The Host side of a control connection: the device-key lookup of the challenge handshake,
//! enrollment with a package key, and a Host's messages once connected.
//!
//! The credential handed out at enrollment names the device's tenant (`HostHello` carries only
//! the device id); it is not a secret: the device proves itself by signing the broker's
//! challenge with the ed25519 key registered at enrollment. Pending, revoked and unknown
//! devices are refused with their codes before `Welcome`. Nothing here touches sockets.

use bytes::Bytes;
use switchboard_actors::ids::{dir_device, dir_tenant, wire_device};
use switchboard_actors::{HostState, Hub, SessionEvent};
use switchboard_codec::message::{EnrollRequest, EnrollResponse, EnrollState};
use switchboard_codec::{ControlMessage, DeviceId, ErrorCode, Side, TenantId};
use switchboard_directory::DirectoryError;
use switchboard_directory::model::{DeviceKeys, EnrollmentState};
use switchboard_directory::service::{Directory, Enrollment};

/// Prefix of a device credential; the tenant id's 16 bytes follow.
const CREDENTIAL_PREFIX: &[u8] = b"sbdev1:";

/// The credential a device enrolled in `tenant` presents in `HostHello`.
pub(crate) fn credential_for(tenant: TenantId) -> Bytes {
    let mut v = Vec::with_capacity(CREDENTIAL_PREFIX.len() + 16);
    v.extend_from_slice(CREDENTIAL_PREFIX);
    v.extend_from_slice(&tenant.0);
    Bytes::from(v)
}

/// The tenant a credential names, if it is well formed.
pub(crate) fn tenant_of(credential: &[u8]) -> Option<TenantId> {
    let rest = credential.strip_prefix(CREDENTIAL_PREFIX)?;
    let bytes: [u8; 16] = rest.try_into().ok()?;
    Some(TenantId(bytes))
}

/// The ed25519 key to check the challenge with, or the refusal code.
pub(crate) async fn device_key(
    dir: &Directory,
    device: DeviceId,
    credential: &[u8],
) -> Result<(TenantId, [u8; 32]), ErrorCode> {
    let tenant = tenant_of(credential).ok_or(ErrorCode::AuthFailed)?;
    match dir.device(dir_tenant(tenant), dir_device(device)).await {
        Ok(d) => match d.enrollment {
            EnrollmentState::Enrolled => Ok((tenant, d.keys.auth_ed25519)),
            EnrollmentState::Pending => Err(ErrorCode::DevicePending),
            EnrollmentState::Revoked => Err(ErrorCode::DeviceRevoked),
        },
        Err(DirectoryError::UnknownId { .. } | DirectoryError::NotAllowed(_)) => {
            Err(ErrorCode::DeviceUnknown)
        }
        Err(e) => {
            tracing::warn!(error = %e, "device lookup failed");
            Err(ErrorCode::Internal)
        }
    }
}

/// Enrolls a device with a package key.
pub(crate) async fn enroll(
    dir: &Directory,
    req: &EnrollRequest,
) -> Result<EnrollResponse, ErrorCode> {
    let info = Enrollment {
        hostname: req.device.hostname.clone(),
        os: req.device.os.clone(),
        agent_version: req.device.agent_version.clone(),
        keys: DeviceKeys {
            auth_ed25519: req.device_public_key,
            noise_x25519: req.device_static_key,
        },
    };
    let result = enroll_with(dir, &req.enrollment_key, info).await;
    let outcome = match &result {
        Ok(r) if r.state == EnrollState::Enrolled => "enrolled",
        Ok(_) => "pending",
        Err(code) => code.name(),
    };
    metrics::counter!(crate::metrics::ENROLLMENTS_TOTAL, crate::metrics::LABEL_OUTCOME => outcome)
        .increment(1);
    result
}

async fn enroll_with(
    dir: &Directory,
    key: &str,
    info: Enrollment,
) -> Result<EnrollResponse, ErrorCode> {
    match dir.enroll_device(key, info).await {
        Ok(d) => Ok(EnrollResponse {
            device_id: wire_device(d.id),
            credential: credential_for(TenantId(*d.tenant.as_bytes())),
            state: match d.enrollment {
                EnrollmentState::Enrolled => EnrollState::Enrolled,
                _ => EnrollState::Pending,
            },
        }),
        Err(DirectoryError::EnrollmentRefused(r)) => {
            tracing::info!(reason = r.code(), "enrollment refused");
            Err(ErrorCode::EnrollmentRefused)
        }
        Err(DirectoryError::QuotaExceeded { .. }) => Err(ErrorCode::QuotaExceeded),
        Err(e) => {
            tracing::warn!(error = %e, "enrollment failed");
            Err(ErrorCode::Internal)
        }
    }
}

/// A connected Host's message: its local state goes to the hub; session answers go to the hub
/// after checking the session is this device's. Anything else is ignored (logged).
pub(crate) fn on_host_message(hub: &Hub, device: DeviceId, msg: ControlMessage) {
    let (session, event) = match msg {
        ControlMessage::HostState {
            locked,
            user_logged_in,
        } => {
            hub.set_host_state(device, host_state(locked, user_logged_in));
            return;
        }
        ControlMessage::SessionAccept { session_id } => (session_id, SessionEvent::HostAccepted),
        ControlMessage::SessionReject {
            session_id, code, ..
        } => (session_id, SessionEvent::HostRejected { code }),
        ControlMessage::SessionCancel { session_id, .. } => {
            (session_id, SessionEvent::Cancelled { by: Side::Host })
        }
        other => {
            tracing::debug!(%device, kind = other.type_number(), "Host message ignored");
            return;
        }
    };
    if hub.side_of(session, Some(device), None) == Some(Side::Host) {
        hub.session_event(session, event);
    } else {
        tracing::debug!(%device, %session, "Host message about a session it is not in");
    }
}

/// The directory's view of a Host's report. A Host that sends `HostState` can report its
/// state (002/004 §5.5: the lock / logged-in exceptions need a Host that reports them).
fn host_state(locked: bool, user_logged_in: bool) -> HostState {
    HostState {
        reports_state: true,
        locked,
        no_user: !user_logged_in,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_state_report_maps_to_the_directory_state() {
        let s = host_state(true, false);
        assert!(s.reports_state && s.locked && s.no_user);
        let s = host_state(false, true);
        assert!(s.reports_state && !s.locked && !s.no_user);
    }

    #[test]
    fn credential_names_the_tenant_and_rejects_garbage() {
        let t = TenantId([7; 16]);
        let c = credential_for(t);
        assert_eq!(tenant_of(&c), Some(t));
        assert_eq!(tenant_of(b""), None);
        assert_eq!(tenant_of(&c[..c.len() - 1]), None, "short");
        let mut long = c.to_vec();
        long.push(0);
        assert_eq!(tenant_of(&long), None, "trailing byte");
        assert_eq!(tenant_of(&[0u8; 23]), None, "no prefix");
    }
}
