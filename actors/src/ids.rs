//! Conversions between the wire ids (`switchboard_codec`) and the directory's typed ids: both
//! are the same 16 bytes.

use switchboard_codec as wire;
use switchboard_directory::model as dir;

/// The directory's tenant id for a wire tenant id.
pub fn dir_tenant(t: wire::TenantId) -> dir::TenantId {
    dir::TenantId::from_bytes(t.0)
}
/// The wire tenant id for a directory tenant id.
pub fn wire_tenant(t: dir::TenantId) -> wire::TenantId {
    wire::TenantId(*t.as_bytes())
}
/// The directory's device id.
pub fn dir_device(d: wire::DeviceId) -> dir::DeviceId {
    dir::DeviceId::from_bytes(d.0)
}
/// The wire device id.
pub fn wire_device(d: dir::DeviceId) -> wire::DeviceId {
    wire::DeviceId(*d.as_bytes())
}
/// The directory's user id.
pub fn dir_user(u: wire::UserId) -> dir::UserId {
    dir::UserId::from_bytes(u.0)
}
/// The wire user id.
pub fn wire_user(u: dir::UserId) -> wire::UserId {
    wire::UserId(*u.as_bytes())
}
/// The directory's session id.
pub fn dir_session(s: wire::SessionId) -> dir::SessionId {
    dir::SessionId::from_bytes(s.0)
}

/// A fresh random session id.
pub fn new_session_id() -> wire::SessionId {
    wire::SessionId(*dir::SessionId::new_random().as_bytes())
}
