//! The table of stable error codes: every refusal a client can see carries one.
//!
//! A code has a number (sent on the wire as u16, never reused), a snake_case machine name and a
//! human sentence. Numbers are grouped by hundreds: 1xx protocol, 2xx ticket, 3xx relay,
//! 4xx session, 5xx authentication and enrollment, 6xx OnDemand. `docs/protocol.md` lists the
//! same table (a test checks they agree). This module does not decide when a code applies.

use std::fmt;

macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident = $number:literal, $name:literal, $sentence:literal;)*) => {
        /// A stable, client-visible reason for a refusal or a close.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u16)]
        pub enum ErrorCode {
            $($(#[$doc])* $variant = $number,)*
        }

        impl ErrorCode {
            /// Every code, in number order.
            pub const ALL: &'static [ErrorCode] = &[$(Self::$variant,)*];

            /// The wire number.
            pub const fn number(self) -> u16 {
                self as u16
            }

            /// The snake_case machine name.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)*
                }
            }

            /// A human sentence a client can show as is.
            pub const fn sentence(self) -> &'static str {
                match self {
                    $(Self::$variant => $sentence,)*
                }
            }

            /// The code with wire number `n`, `None` when unknown.
            pub const fn from_number(n: u16) -> Option<Self> {
                match n {
                    $($number => Some(Self::$variant),)*
                    _ => None,
                }
            }

            /// The code with machine name `name`.
            pub fn from_name(name: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|c| c.name() == name)
            }
        }
    };
}

error_codes! {
    /// The peer sent something the protocol does not allow at this point.
    ProtocolViolation = 100, "protocol_violation", "The peer broke the protocol.";
    /// The frame or protocol version is not one this server speaks.
    UnsupportedVersion = 101, "unsupported_version", "This protocol version is not supported.";
    /// A frame declared a length above the configured maximum.
    FrameTooLarge = 102, "frame_too_large", "A frame was larger than the allowed maximum.";
    /// The control handshake did not complete in time.
    HandshakeTimeout = 103, "handshake_timeout", "The handshake did not complete in time.";
    /// A server-side failure unrelated to the request.
    Internal = 199, "internal", "An internal server error occurred.";

    /// The ticket bytes do not parse.
    TicketMalformed = 200, "ticket_malformed", "The session ticket is malformed.";
    /// The ticket names a signing key the relay does not know.
    TicketUnknownKey = 201, "ticket_unknown_key", "The session ticket was signed with an unknown key.";
    /// The ticket signature does not verify.
    TicketForged = 202, "ticket_forged", "The session ticket signature is invalid.";
    /// The ticket has expired.
    TicketExpired = 203, "ticket_expired", "The session ticket has expired.";
    /// The ticket was already used once.
    TicketReused = 204, "ticket_reused", "The session ticket was already used.";
    /// The ticket is for another relay.
    TicketWrongRelay = 205, "ticket_wrong_relay", "The session ticket is for another relay.";
    /// The ticket is for the other side of the session.
    TicketWrongSide = 206, "ticket_wrong_side", "The session ticket is for the other side of the session.";

    /// No bind frame arrived in time.
    BindTimeout = 300, "bind_timeout", "The relay did not receive a bind in time.";
    /// The relay holds too many half-paired connections.
    WaitingRoomFull = 301, "waiting_room_full", "The relay waiting room is full.";
    /// The other side did not arrive in time.
    WaitingRoomTimeout = 302, "waiting_room_timeout", "The other side did not join the relay in time.";
    /// The relay is at its connection limit.
    RelayFull = 303, "relay_full", "The relay is at capacity.";
    /// The relay is shutting down and takes no new sessions.
    Draining = 304, "draining", "The relay is draining and accepts no new sessions.";
    /// No bytes moved for too long.
    IdleTimeout = 305, "idle_timeout", "The session was idle for too long.";
    /// The other side closed its connection.
    PeerClosed = 306, "peer_closed", "The other side closed the connection.";
    /// The relay did not answer Ready in time (client side).
    ReadyTimeout = 307, "ready_timeout", "The relay did not answer in time.";

    /// The user holds no role assignment allowing this.
    NotPermitted = 400, "not_permitted", "You are not permitted to do this on this device.";
    /// The device is not connected.
    DeviceOffline = 401, "device_offline", "The device is offline.";
    /// The device is enrolled but waits for an administrator.
    DevicePending = 402, "device_pending", "The device is pending approval by an administrator.";
    /// The device (or its enrollment package) was revoked.
    DeviceRevoked = 403, "device_revoked", "The device has been revoked.";
    /// No such device.
    DeviceUnknown = 404, "device_unknown", "The device is unknown.";
    /// The role assignment is outside its schedule now.
    OutsideSchedule = 405, "outside_schedule", "Access to this device is not allowed at this time.";
    /// The local user refused the session.
    ConfirmDenied = 406, "confirm_denied", "The user at the device denied the session.";
    /// The local user did not answer in time.
    ConfirmTimeout = 407, "confirm_timeout", "The user at the device did not answer in time.";
    /// A party cancelled the session.
    Cancelled = 408, "cancelled", "The session was cancelled.";
    /// Too many requests; try again later.
    RateLimited = 409, "rate_limited", "Too many requests; try again later.";
    /// A tenant quota (sessions, devices, bandwidth) is used up.
    QuotaExceeded = 410, "quota_exceeded", "A quota of this account is exhausted.";

    /// Credentials, token or device signature were not accepted.
    AuthFailed = 500, "auth_failed", "Authentication failed.";
    /// The account needs multi-factor authentication first.
    MfaRequired = 501, "mfa_required", "Multi-factor authentication is required.";
    /// The enrollment key or request was refused.
    EnrollmentRefused = 502, "enrollment_refused", "Enrollment was refused.";
    /// The user's account was disabled or removed (a live connection is closed with it).
    AccountDisabled = 503, "account_disabled", "The account has been disabled or removed.";

    /// No OnDemand key with these digits.
    OndemandKeyInvalid = 600, "ondemand_key_invalid", "The OnDemand key is not valid.";
    /// The OnDemand key is past its validity.
    OndemandKeyExpired = 601, "ondemand_key_expired", "The OnDemand key has expired.";
    /// Nobody started the OnDemand session in time.
    OndemandQueueTimeout = 602, "ondemand_queue_timeout", "Nobody started the OnDemand session in time.";
    /// The technician rejected the OnDemand session.
    OndemandRejected = 603, "ondemand_rejected", "The technician rejected the OnDemand session.";
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn numbers_and_names_are_unique_and_round_trip() {
        let mut numbers = HashSet::new();
        let mut names = HashSet::new();
        for &code in ErrorCode::ALL {
            assert!(numbers.insert(code.number()));
            assert!(names.insert(code.name()));
            assert_eq!(ErrorCode::from_number(code.number()), Some(code));
            assert_eq!(ErrorCode::from_name(code.name()), Some(code));
            assert!(code.sentence().ends_with('.'));
        }
        assert_eq!(ErrorCode::from_number(0), None);
        assert_eq!(ErrorCode::from_number(u16::MAX), None);
    }

    #[test]
    fn contract_names_exist() {
        for name in [
            "protocol_violation",
            "unsupported_version",
            "frame_too_large",
            "ticket_malformed",
            "ticket_unknown_key",
            "ticket_forged",
            "ticket_expired",
            "ticket_reused",
            "ticket_wrong_relay",
            "ticket_wrong_side",
            "bind_timeout",
            "waiting_room_full",
            "waiting_room_timeout",
            "relay_full",
            "draining",
            "idle_timeout",
            "peer_closed",
            "internal",
            "not_permitted",
            "device_offline",
            "device_pending",
            "device_revoked",
            "device_unknown",
            "outside_schedule",
            "confirm_denied",
            "confirm_timeout",
            "cancelled",
            "rate_limited",
            "quota_exceeded",
            "auth_failed",
            "mfa_required",
            "enrollment_refused",
            "ondemand_key_invalid",
            "ondemand_key_expired",
            "ondemand_queue_timeout",
            "ondemand_rejected",
        ] {
            assert!(ErrorCode::from_name(name).is_some(), "{name}");
        }
    }
}
