//! Audit records (002/004 §9): who did what, when, from where, with which outcome.
//!
//! Data only; the store persists, purges (six months) and queries them.

use crate::model::ids::{AuditId, DeviceId, SessionId, TenantId, UserId};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// Who acted.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AuditActor {
    /// A known user.
    User(UserId),
    /// A device (agent).
    Device(DeviceId),
    /// Switchboard itself (schedules, purges, automatic disables).
    System,
    /// An unauthenticated party, with the username it gave, if any.
    Anonymous(Option<String>),
}

/// What kind of event (the seeds' audited categories).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AuditKind {
    /// Sign-in attempts and sign-outs.
    SignIn,
    /// Users: invite, create, edit, disable, remove, ownership transfer.
    User,
    /// Groups.
    Group,
    /// Devices: enroll, approve, edit, remove.
    Device,
    /// Roles.
    Role,
    /// Role assignments and schedules.
    RoleAssignment,
    /// Deployment packages.
    Package,
    /// Account configuration and security settings.
    AccountConfiguration,
    /// Remote sessions: start, end.
    Session,
    /// File transfers in a session.
    FileTransfer,
    /// Confirm-access decisions (host prompt or email).
    ConfirmAccess,
    /// OnDemand sessions.
    OnDemand,
    /// Anything else.
    Other,
}

/// How it ended.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AuditOutcome {
    /// Done.
    Success,
    /// Refused by a rule; the reason is a stable machine-readable code.
    Denied(String),
    /// Failed for another reason.
    Failure(String),
}

/// One audit record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Its id.
    pub id: AuditId,
    /// Its tenant.
    pub tenant: TenantId,
    /// When.
    pub at: Timestamp,
    /// Who.
    pub actor: AuditActor,
    /// Kind of event.
    pub kind: AuditKind,
    /// What happened, a short human sentence.
    pub what: String,
    /// From where (client IP), if known.
    pub from: Option<IpAddr>,
    /// Outcome.
    pub outcome: AuditOutcome,
    /// The device concerned, if any.
    pub device: Option<DeviceId>,
    /// The session concerned, if any.
    pub session: Option<SessionId>,
}
