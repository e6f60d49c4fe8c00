//! Messages between broker nodes sharing one Redis, and the bus that carries them.
//!
//! A session has one owner: the node whose Guest asked for it runs its `SessionActor`. When
//! the device's presence names another node, the owner probes that node ([`NodeMessage::Probe`],
//! bounded wait, `device_offline` without an answer), then sends the Host's control messages
//! through it ([`NodeMessage::ToHost`]: the offer, the relay assignment, a cancel); the
//! device's node delivers them to its `DeviceActor` and routes the Host's answers back
//! ([`NodeMessage::HostEvent`]). Relay reports (`paired`, end-of-session record) reach the
//! owner wherever the relay runs ([`NodeMessage::Relay`], broadcast when the owner is not
//! known), and an administrator on any node can end a session ([`NodeMessage::Terminate`]).
//!
//! [`NodeBus`] is the transport (`cluster_redis` holds the Redis pub/sub one); this module
//! only defines the messages and their text form (JSON, the control message inside as the
//! codec's own encoding in hex). It holds no state: the hub's side is in `hub_cluster`.

use serde::{Deserialize, Serialize};
use switchboard_codec::{ControlMessage, DeviceId, ErrorCode, SessionId, Side, TenantId};
use switchboard_directory::rules::access::HostState;

use crate::session::{RelayRecord, SessionEvent};

/// A message from one broker node to another (or to all).
#[derive(Debug, Clone, PartialEq)]
pub enum NodeMessage {
    /// "Do you hold `device`'s control connection?" Answered with `ProbeAnswer` to `reply_to`.
    Probe {
        /// Matches the answer to the question.
        probe: u64,
        /// The asking node.
        reply_to: String,
        /// The device's tenant.
        tenant: TenantId,
        /// The device.
        device: DeviceId,
    },
    /// The answer: the connection number and the Host's reported state, or `None`.
    ProbeAnswer {
        /// The probe answered.
        probe: u64,
        /// The connection and its state, when the device is connected there.
        host: Option<(u64, HostState)>,
    },
    /// Deliver `msg` to the Host of `session` (on connection `conn` of `device`).
    ToHost {
        /// The session.
        session: SessionId,
        /// The node that owns it (answers go there).
        owner: String,
        /// The device's tenant.
        tenant: TenantId,
        /// The device.
        device: DeviceId,
        /// The connection the probe found; a newer one does not get the message.
        conn: u64,
        /// `SessionOffer`, `RelayAssignment` or `SessionCancel`.
        msg: ControlMessage,
    },
    /// What the Host of `session` said (or that it went away), for its owner.
    HostEvent {
        /// The session.
        session: SessionId,
        /// `HostAccepted`, `HostRejected`, `Cancelled { by: Host }` or `HostGone`.
        event: SessionEvent,
    },
    /// The owner ended `session`: the device's node forgets its route.
    SessionOver {
        /// The session.
        session: SessionId,
    },
    /// A relay's report about `session` (`RelayBound` or `RelayRecord`).
    Relay {
        /// The session.
        session: SessionId,
        /// The event.
        event: SessionEvent,
    },
    /// An administrator of `tenant` ends `session`; its owner answers `Terminated` to
    /// `reply_to`.
    Terminate {
        /// Matches the answer.
        request: u64,
        /// The asking node.
        reply_to: String,
        /// The administrator's tenant.
        tenant: TenantId,
        /// The session.
        session: SessionId,
    },
    /// The owner ended the session an administrator asked to end.
    Terminated {
        /// The request answered.
        request: u64,
    },
}

/// Sends node messages. Implementations queue and never block; a message that cannot be sent
/// is dropped and counted (every wait on an answer is bounded).
pub trait NodeBus: Send + Sync + std::fmt::Debug {
    /// Sends to node `node`.
    fn send(&self, node: &str, msg: NodeMessage);
    /// Sends to every node (this one included).
    fn broadcast(&self, msg: NodeMessage);
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
enum Wire {
    Probe {
        probe: u64,
        reply_to: String,
        tenant: String,
        device: String,
    },
    ProbeAnswer {
        probe: u64,
        conn: Option<u64>,
        #[serde(default)]
        state: [bool; 3],
    },
    ToHost {
        session: String,
        owner: String,
        tenant: String,
        device: String,
        conn: u64,
        msg: String,
    },
    HostEvent {
        session: String,
        event: WireEvent,
    },
    SessionOver {
        session: String,
    },
    Relay {
        session: String,
        event: WireEvent,
    },
    Terminate {
        request: u64,
        reply_to: String,
        tenant: String,
        session: String,
    },
    Terminated {
        request: u64,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "e", rename_all = "snake_case")]
enum WireEvent {
    HostAccepted,
    HostRejected { code: String },
    Cancelled { by: u8 },
    RelayBound { side: u8 },
    RelayRecord { bytes: u64, ms: u64, reason: String },
    HostGone,
    GuestGone,
}

fn event_to_wire(e: &SessionEvent) -> WireEvent {
    match e {
        SessionEvent::HostAccepted => WireEvent::HostAccepted,
        SessionEvent::HostRejected { code } => WireEvent::HostRejected {
            code: code.name().to_owned(),
        },
        SessionEvent::Cancelled { by } => WireEvent::Cancelled { by: by.number() },
        SessionEvent::RelayBound { side } => WireEvent::RelayBound {
            side: side.number(),
        },
        SessionEvent::RelayRecord(r) => WireEvent::RelayRecord {
            bytes: r.bytes,
            ms: u64::try_from(r.duration.as_millis()).unwrap_or(u64::MAX),
            reason: r.reason.name().to_owned(),
        },
        SessionEvent::HostGone => WireEvent::HostGone,
        SessionEvent::GuestGone => WireEvent::GuestGone,
    }
}

fn event_from_wire(e: WireEvent) -> Option<SessionEvent> {
    Some(match e {
        WireEvent::HostAccepted => SessionEvent::HostAccepted,
        WireEvent::HostRejected { code } => SessionEvent::HostRejected {
            code: ErrorCode::from_name(&code)?,
        },
        WireEvent::Cancelled { by } => SessionEvent::Cancelled {
            by: Side::from_number(by)?,
        },
        WireEvent::RelayBound { side } => SessionEvent::RelayBound {
            side: Side::from_number(side)?,
        },
        WireEvent::RelayRecord { bytes, ms, reason } => SessionEvent::RelayRecord(RelayRecord {
            bytes,
            duration: std::time::Duration::from_millis(ms),
            reason: ErrorCode::from_name(&reason)?,
        }),
        WireEvent::HostGone => SessionEvent::HostGone,
        WireEvent::GuestGone => SessionEvent::GuestGone,
    })
}

impl NodeMessage {
    /// The text form sent over the bus; `None` when the control message inside cannot be
    /// encoded (a field over its cap).
    pub fn encode(&self) -> Option<String> {
        let w = match self {
            Self::Probe {
                probe,
                reply_to,
                tenant,
                device,
            } => Wire::Probe {
                probe: *probe,
                reply_to: reply_to.clone(),
                tenant: tenant.to_string(),
                device: device.to_string(),
            },
            Self::ProbeAnswer { probe, host } => Wire::ProbeAnswer {
                probe: *probe,
                conn: host.map(|(c, _)| c),
                state: host.map_or([false; 3], |(_, s)| [s.reports_state, s.locked, s.no_user]),
            },
            Self::ToHost {
                session,
                owner,
                tenant,
                device,
                conn,
                msg,
            } => Wire::ToHost {
                session: session.to_string(),
                owner: owner.clone(),
                tenant: tenant.to_string(),
                device: device.to_string(),
                conn: *conn,
                msg: hex::encode(msg.to_bytes().ok()?),
            },
            Self::HostEvent { session, event } => Wire::HostEvent {
                session: session.to_string(),
                event: event_to_wire(event),
            },
            Self::SessionOver { session } => Wire::SessionOver {
                session: session.to_string(),
            },
            Self::Relay { session, event } => Wire::Relay {
                session: session.to_string(),
                event: event_to_wire(event),
            },
            Self::Terminate {
                request,
                reply_to,
                tenant,
                session,
            } => Wire::Terminate {
                request: *request,
                reply_to: reply_to.clone(),
                tenant: tenant.to_string(),
                session: session.to_string(),
            },
            Self::Terminated { request } => Wire::Terminated { request: *request },
        };
        serde_json::to_string(&w).ok()
    }

    /// Parses the text form; `None` for anything malformed.
    pub fn decode(text: &str) -> Option<Self> {
        let w: Wire = serde_json::from_str(text).ok()?;
        Some(match w {
            Wire::Probe {
                probe,
                reply_to,
                tenant,
                device,
            } => Self::Probe {
                probe,
                reply_to,
                tenant: tenant.parse().ok()?,
                device: device.parse().ok()?,
            },
            Wire::ProbeAnswer { probe, conn, state } => Self::ProbeAnswer {
                probe,
                host: conn.map(|c| {
                    (
                        c,
                        HostState {
                            reports_state: state[0],
                            locked: state[1],
                            no_user: state[2],
                        },
                    )
                }),
            },
            Wire::ToHost {
                session,
                owner,
                tenant,
                device,
                conn,
                msg,
            } => Self::ToHost {
                session: session.parse().ok()?,
                owner,
                tenant: tenant.parse().ok()?,
                device: device.parse().ok()?,
                conn,
                msg: ControlMessage::decode(&hex::decode(msg).ok()?).ok()?,
            },
            Wire::HostEvent { session, event } => Self::HostEvent {
                session: session.parse().ok()?,
                event: event_from_wire(event)?,
            },
            Wire::SessionOver { session } => Self::SessionOver {
                session: session.parse().ok()?,
            },
            Wire::Relay { session, event } => Self::Relay {
                session: session.parse().ok()?,
                event: event_from_wire(event)?,
            },
            Wire::Terminate {
                request,
                reply_to,
                tenant,
                session,
            } => Self::Terminate {
                request,
                reply_to,
                tenant: tenant.parse().ok()?,
                session: session.parse().ok()?,
            },
            Wire::Terminated { request } => Self::Terminated { request },
        })
    }

    /// A short name for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Probe { .. } => "probe",
            Self::ProbeAnswer { .. } => "probe_answer",
            Self::ToHost { .. } => "to_host",
            Self::HostEvent { .. } => "host_event",
            Self::SessionOver { .. } => "session_over",
            Self::Relay { .. } => "relay",
            Self::Terminate { .. } => "terminate",
            Self::Terminated { .. } => "terminated",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_codec::PermissionSet;
    use switchboard_codec::message::GuestIdentity;

    #[test]
    fn every_message_round_trips_and_garbage_is_refused() {
        let (s, t, d) = (SessionId([1; 16]), TenantId([2; 16]), DeviceId([3; 16]));
        let msgs = vec![
            NodeMessage::Probe {
                probe: 7,
                reply_to: "a".into(),
                tenant: t,
                device: d,
            },
            NodeMessage::ProbeAnswer {
                probe: 7,
                host: Some((
                    4,
                    HostState {
                        reports_state: true,
                        locked: true,
                        no_user: false,
                    },
                )),
            },
            NodeMessage::ProbeAnswer {
                probe: 8,
                host: None,
            },
            NodeMessage::ToHost {
                session: s,
                owner: "a".into(),
                tenant: t,
                device: d,
                conn: 4,
                msg: ControlMessage::SessionOffer {
                    session_id: s,
                    guest: GuestIdentity {
                        user_id: switchboard_codec::UserId([5; 16]),
                        display_name: "Bob".into(),
                    },
                    granted: PermissionSet::all_known(),
                    confirm_required: true,
                },
            },
            NodeMessage::HostEvent {
                session: s,
                event: SessionEvent::HostRejected {
                    code: ErrorCode::ConfirmDenied,
                },
            },
            NodeMessage::HostEvent {
                session: s,
                event: SessionEvent::Cancelled { by: Side::Host },
            },
            NodeMessage::SessionOver { session: s },
            NodeMessage::Relay {
                session: s,
                event: SessionEvent::RelayRecord(RelayRecord {
                    bytes: 9,
                    duration: std::time::Duration::from_millis(12),
                    reason: ErrorCode::PeerClosed,
                }),
            },
            NodeMessage::Relay {
                session: s,
                event: SessionEvent::RelayBound { side: Side::Guest },
            },
            NodeMessage::Terminate {
                request: 1,
                reply_to: "b".into(),
                tenant: t,
                session: s,
            },
            NodeMessage::Terminated { request: 1 },
        ];
        for m in msgs {
            let text = m.encode().unwrap();
            assert_eq!(NodeMessage::decode(&text), Some(m), "{text}");
        }
        for bad in [
            "",
            "{}",
            r#"{"t":"probe","probe":1}"#,
            r#"{"t":"session_over","session":"zz"}"#,
            r#"{"t":"host_event","session":"01010101010101010101010101010101","event":{"e":"cancelled","by":9}}"#,
            r#"{"t":"to_host","session":"01010101010101010101010101010101","owner":"a","tenant":"01010101010101010101010101010101","device":"01010101010101010101010101010101","conn":1,"msg":"ffff"}"#,
        ] {
            assert_eq!(NodeMessage::decode(bad), None, "{bad}");
        }
    }
}
