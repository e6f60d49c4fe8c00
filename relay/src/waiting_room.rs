//! The waiting room: pairing decisions for verified binds, under one lock.
//!
//! A verified bind either parks (first side of its session), pairs (the other side is
//! parked: its connection is handed to the parked side's task through a oneshot, while the
//! lock is held, so a timeout racing a pairing is decided exactly once), or is refused with a
//! code: `ticket_reused` (nonce seen, or the session is already paired), `ticket_wrong_side`
//! (this side is already waiting: the waiting connection is left alone), `waiting_room_full`
//! (per-source-IP or total cap), `relay_full` (max sessions, or the nonce cache is full of
//! live nonces). A nonce is recorded only when its bind parks or pairs, so a bind refused for
//! load can be retried with the same ticket.
//!
//! No IO and no await here; callers hold the lock only for a call.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use tokio::sync::oneshot;

use switchboard_codec::{ErrorCode, SessionId, SessionTicket, Side, TenantId};

use crate::metrics as m;
use crate::nonce_cache::{NonceCache, NonceRefusal};

/// Caps of the room.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RoomLimits {
    pub(crate) waiting_per_ip: usize,
    pub(crate) waiting_total: usize,
    pub(crate) max_sessions: usize,
    pub(crate) nonce_cache_size: usize,
}

/// A parked first side.
#[derive(Debug)]
struct Waiting<A> {
    id: u64,
    side: Side,
    tenant: TenantId,
    ip: IpAddr,
    tx: oneshot::Sender<A>,
}

/// What became of a bind. `A` is the arriving connection (moved to the peer on pairing).
#[derive(Debug)]
pub(crate) enum BindResult<A> {
    /// First side: wait on `rx` for the peer; leave with [`Room::leave`] using `id`.
    Parked {
        id: u64,
        rx: oneshot::Receiver<A>,
        arrival: A,
    },
    /// Handed to the waiting side, whose task now runs the session.
    Paired,
    /// Refused with `code`.
    Refused {
        code: ErrorCode,
        message: &'static str,
        arrival: A,
    },
}

/// The room's state.
#[derive(Debug)]
pub(crate) struct Room<A> {
    limits: RoomLimits,
    waiting: HashMap<SessionId, Waiting<A>>,
    per_ip: HashMap<IpAddr, usize>,
    active: HashSet<SessionId>,
    nonces: NonceCache,
    next_id: u64,
}

impl<A> Room<A> {
    pub(crate) fn new(limits: RoomLimits) -> Self {
        Self {
            limits,
            waiting: HashMap::new(),
            per_ip: HashMap::new(),
            active: HashSet::new(),
            nonces: NonceCache::new(limits.nonce_cache_size),
            next_id: 1,
        }
    }

    pub(crate) fn waiting_len(&self) -> usize {
        self.waiting.len()
    }

    pub(crate) fn active_len(&self) -> usize {
        self.active.len()
    }

    /// Decides a verified bind.
    pub(crate) fn bind(
        &mut self,
        ticket: &SessionTicket,
        ip: IpAddr,
        now_ms: u64,
        arrival: A,
    ) -> BindResult<A> {
        let refuse = |code, message, arrival| BindResult::Refused {
            code,
            message,
            arrival,
        };
        if self.nonces.contains(&ticket.nonce, now_ms) {
            return refuse(ErrorCode::TicketReused, "ticket already used", arrival);
        }
        if self.active.contains(&ticket.session_id) {
            return refuse(ErrorCode::TicketReused, "session already paired", arrival);
        }
        let mut arrival = arrival;
        if let Some(w) = self.waiting.get(&ticket.session_id) {
            if w.side == ticket.side {
                return refuse(
                    ErrorCode::TicketWrongSide,
                    "this side of the session is already waiting",
                    arrival,
                );
            }
            if w.tenant != ticket.tenant_id {
                return refuse(
                    ErrorCode::TicketMalformed,
                    "the two tickets name different tenants",
                    arrival,
                );
            }
            if self.active.len() >= self.limits.max_sessions {
                return refuse(ErrorCode::RelayFull, "relay at its session limit", arrival);
            }
            if !self.nonce_room(now_ms) {
                return refuse(ErrorCode::RelayFull, "ticket cache full", arrival);
            }
            if let Some(w) = self.waiting.remove(&ticket.session_id) {
                self.release_ip(w.ip);
                match w.tx.send(arrival) {
                    Ok(()) => {
                        self.record_nonce(ticket, now_ms);
                        self.active.insert(ticket.session_id);
                        self.publish();
                        return BindResult::Paired;
                    }
                    // The waiting task is gone: park this side instead.
                    Err(back) => arrival = back,
                }
            }
        }
        if self.active.len() >= self.limits.max_sessions {
            return refuse(ErrorCode::RelayFull, "relay at its session limit", arrival);
        }
        if self.waiting.len() >= self.limits.waiting_total {
            return refuse(ErrorCode::WaitingRoomFull, "waiting room full", arrival);
        }
        if self.per_ip.get(&ip).copied().unwrap_or(0) >= self.limits.waiting_per_ip {
            return refuse(
                ErrorCode::WaitingRoomFull,
                "too many waiting connections from this address",
                arrival,
            );
        }
        if !self.nonce_room(now_ms) {
            return refuse(ErrorCode::RelayFull, "ticket cache full", arrival);
        }
        self.record_nonce(ticket, now_ms);
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        let (tx, rx) = oneshot::channel();
        self.waiting.insert(
            ticket.session_id,
            Waiting {
                id,
                side: ticket.side,
                tenant: ticket.tenant_id,
                ip,
                tx,
            },
        );
        *self.per_ip.entry(ip).or_insert(0) += 1;
        self.publish();
        BindResult::Parked { id, rx, arrival }
    }

    /// Removes the parked entry `id` of `session` if it is still there (true), else a peer
    /// has already been handed over (false).
    pub(crate) fn leave(&mut self, session: &SessionId, id: u64) -> bool {
        match self.waiting.get(session) {
            Some(w) if w.id == id => {
                if let Some(w) = self.waiting.remove(session) {
                    self.release_ip(w.ip);
                }
                self.publish();
                true
            }
            _ => false,
        }
    }

    /// A paired session ended.
    pub(crate) fn end_session(&mut self, session: &SessionId) {
        self.active.remove(session);
        self.publish();
    }

    fn nonce_room(&mut self, now_ms: u64) -> bool {
        self.nonces.prune_expired(now_ms);
        self.nonces.len() < self.limits.nonce_cache_size
    }

    fn record_nonce(&mut self, ticket: &SessionTicket, now_ms: u64) {
        match self
            .nonces
            .insert(ticket.nonce, ticket.expires_at_unix_ms, now_ms)
        {
            Ok(()) | Err(NonceRefusal::Reused) | Err(NonceRefusal::Full) => {}
        }
    }

    fn release_ip(&mut self, ip: IpAddr) {
        if let Some(n) = self.per_ip.get_mut(&ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_ip.remove(&ip);
            }
        }
    }

    fn publish(&self) {
        metrics::gauge!(m::WAITING_ROOM_SIZE).set(self.waiting.len() as f64);
        metrics::gauge!(m::SESSIONS_ACTIVE).set(self.active.len() as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_codec::{PermissionSet, RelayId};

    fn ticket(session: u8, side: Side, nonce: u8) -> SessionTicket {
        SessionTicket {
            key_id: 1,
            session_id: SessionId([session; 16]),
            tenant_id: TenantId([9; 16]),
            side,
            relay_id: RelayId(1),
            permissions: PermissionSet::default(),
            byte_rate_limit: 0,
            expires_at_unix_ms: 10_000,
            nonce: [nonce; 16],
        }
    }

    fn room(per_ip: usize, total: usize) -> Room<u32> {
        Room::new(RoomLimits {
            waiting_per_ip: per_ip,
            waiting_total: total,
            max_sessions: 10,
            nonce_cache_size: 100,
        })
    }

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[test]
    fn pairs_refuses_reuse_and_duplicate_side() {
        let mut r = room(10, 10);
        let BindResult::Parked { mut rx, id, .. } = r.bind(&ticket(1, Side::Host, 1), IP, 0, 1)
        else {
            panic!("first side should park")
        };
        // Same side again with a fresh ticket: refused, the waiting one stays.
        assert!(matches!(
            r.bind(&ticket(1, Side::Host, 2), IP, 0, 2),
            BindResult::Refused {
                code: ErrorCode::TicketWrongSide,
                ..
            }
        ));
        // Replay of the parked ticket.
        assert!(matches!(
            r.bind(&ticket(1, Side::Guest, 1), IP, 0, 3),
            BindResult::Refused {
                code: ErrorCode::TicketReused,
                ..
            }
        ));
        assert!(matches!(
            r.bind(&ticket(1, Side::Guest, 3), IP, 0, 4),
            BindResult::Paired
        ));
        assert_eq!(rx.try_recv().unwrap(), 4);
        assert!(!r.leave(&SessionId([1; 16]), id), "already paired");
        assert_eq!(r.active_len(), 1);
        assert!(matches!(
            r.bind(&ticket(1, Side::Guest, 5), IP, 0, 5),
            BindResult::Refused {
                code: ErrorCode::TicketReused,
                ..
            }
        ));
        r.end_session(&SessionId([1; 16]));
        assert_eq!(r.active_len(), 0);
    }

    #[test]
    fn caps_per_ip_and_total() {
        let mut r = room(1, 2);
        let other: IpAddr = "127.0.0.2".parse().unwrap();
        assert!(matches!(
            r.bind(&ticket(1, Side::Host, 1), IP, 0, 1),
            BindResult::Parked { .. }
        ));
        assert!(matches!(
            r.bind(&ticket(2, Side::Host, 2), IP, 0, 2),
            BindResult::Refused {
                code: ErrorCode::WaitingRoomFull,
                ..
            }
        ));
        assert!(matches!(
            r.bind(&ticket(3, Side::Host, 3), other, 0, 3),
            BindResult::Parked { .. }
        ));
        assert!(matches!(
            r.bind(
                &ticket(4, Side::Host, 4),
                "127.0.0.3".parse().unwrap(),
                0,
                4
            ),
            BindResult::Refused {
                code: ErrorCode::WaitingRoomFull,
                ..
            }
        ));
        // A refused-for-load ticket was not burnt: once there is room it parks.
        assert!(r.leave(&SessionId([1; 16]), 1));
        assert!(matches!(
            r.bind(&ticket(2, Side::Host, 2), IP, 0, 2),
            BindResult::Parked { .. }
        ));
    }

    #[test]
    fn stale_waiter_is_replaced() {
        let mut r = room(10, 10);
        let BindResult::Parked { rx, .. } = r.bind(&ticket(1, Side::Host, 1), IP, 0, 1) else {
            panic!("park")
        };
        drop(rx);
        assert!(matches!(
            r.bind(&ticket(1, Side::Guest, 2), IP, 0, 2),
            BindResult::Parked { .. }
        ));
        assert_eq!(r.waiting_len(), 1);
    }
}
