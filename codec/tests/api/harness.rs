//! In-memory Host–Relay–Guest harness: a broker driver with a toy directory, a relay driver with
//! a ticket verifier, nonce cache and waiting room, and the agents' state machines, all moved by
//! hand with simulated time. No sockets, no sleeping: timeouts are reached by advancing `now`.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use bytes::Bytes;
use switchboard_codec::control_handshake::device_public_key;
use switchboard_codec::message::{
    EnrollRequest, EnrollResponse, EnrollState, GuestIdentity, OnDemandJoin,
};
use switchboard_codec::{
    AcceptorEvent, ConnectorEvent, ControlAcceptor, ControlAcceptorEvent, ControlConfig,
    ControlConnector, ControlConnectorEvent, ControlCredentials, ControlMessage, ControlPeer,
    DeviceId, ErrorCode, Permission, PermissionSet, RelayAcceptor, RelayConnector,
    RelayHandshakeConfig, RelayId, SessionId, SessionTicket, Side, TenantId, TicketSigner,
    TicketVerifier, UserId,
};

use crate::support::{NOW_UNIX_MS, device_info, key, t0};

const DEVICE: DeviceId = DeviceId([0xd1; 16]);
const DEVICE_SECRET: [u8; 32] = [0x11; 32];
const TOKEN: &str = "valid-token";
const RELAY: RelayId = RelayId(9);

/// The broker's view of the world the acceptor asks about.
struct Directory {
    device_keys: HashMap<DeviceId, [u8; 32]>,
    tokens: HashSet<String>,
    answer_lookups: bool,
}

impl Directory {
    fn new() -> Self {
        Self {
            device_keys: HashMap::from([(DEVICE, device_public_key(&DEVICE_SECRET))]),
            tokens: HashSet::from([TOKEN.to_owned()]),
            answer_lookups: true,
        }
    }
}

/// Answers the acceptor's questions from the directory; returns the other events.
fn drive_broker(
    acc: &mut ControlAcceptor,
    dir: &mut Directory,
    now: Instant,
) -> Vec<ControlAcceptorEvent> {
    let mut out = Vec::new();
    while let Some(ev) = acc.poll_event() {
        if !dir.answer_lookups {
            out.push(ev);
            continue;
        }
        match ev {
            ControlAcceptorEvent::DeviceHello {
                device_id, query, ..
            } => {
                let result = dir
                    .device_keys
                    .get(&device_id)
                    .copied()
                    .ok_or(ErrorCode::DeviceUnknown);
                acc.handle_device_key(query, result);
            }
            ControlAcceptorEvent::GuestHello {
                access_token,
                query,
                ..
            } => {
                let ok = dir.tokens.contains(&access_token);
                acc.handle_guest_token(
                    query,
                    if ok {
                        Ok(())
                    } else {
                        Err(ErrorCode::AuthFailed)
                    },
                    now,
                );
            }
            ControlAcceptorEvent::EnrollRequest { request, query } => {
                if request.enrollment_key == "ENR-OK" {
                    let id = DeviceId([0xe0; 16]);
                    dir.device_keys.insert(id, request.device_public_key);
                    acc.handle_enrollment(
                        query,
                        Ok(EnrollResponse {
                            device_id: id,
                            credential: Bytes::from_static(b"cred"),
                            state: EnrollState::Enrolled,
                        }),
                    );
                } else {
                    acc.handle_enrollment(query, Err(ErrorCode::EnrollmentRefused));
                }
            }
            ControlAcceptorEvent::OnDemandJoin { join, query } => {
                let ok = join.key == key();
                acc.handle_ondemand_join(
                    query,
                    if ok {
                        Ok(())
                    } else {
                        Err(ErrorCode::OndemandKeyInvalid)
                    },
                    now,
                );
            }
            other => out.push(other),
        }
    }
    out
}

/// Moves bytes both ways between a client and the broker until both are quiet, answering the
/// acceptor's questions on the way. Returns the broker's and the client's events.
fn pump_control(
    client: &mut ControlConnector,
    acc: &mut ControlAcceptor,
    dir: &mut Directory,
    now: Instant,
) -> (Vec<ControlAcceptorEvent>, Vec<ControlConnectorEvent>) {
    let mut broker_events = Vec::new();
    let mut client_events = Vec::new();
    for _ in 0..32 {
        let mut moved = false;
        while let Some(b) = client.poll_transmit() {
            let _ = acc.handle_bytes(&b, now);
            moved = true;
        }
        broker_events.extend(drive_broker(acc, dir, now));
        while let Some(b) = acc.poll_transmit() {
            let _ = client.handle_bytes(&b, now);
            moved = true;
        }
        client_events.extend(std::iter::from_fn(|| client.poll_event()));
        if !moved {
            break;
        }
    }
    (broker_events, client_events)
}

fn host_connector(now: Instant) -> ControlConnector {
    let creds = ControlCredentials::Device {
        device_id: DEVICE,
        credential: Bytes::from_static(b"cred"),
        signing_key: DEVICE_SECRET,
    };
    ControlConnector::new(ControlConfig::default(), creds, "0.1.0", now).unwrap()
}

fn guest_connector(token: &str, now: Instant) -> ControlConnector {
    let creds = ControlCredentials::Guest {
        access_token: token.into(),
    };
    ControlConnector::new(ControlConfig::default(), creds, "0.1.0", now).unwrap()
}

fn acceptor(now: Instant) -> ControlAcceptor {
    ControlAcceptor::new(ControlConfig::default(), [0xab; 32], now)
}

fn established(events: &[ControlConnectorEvent]) -> bool {
    events
        .iter()
        .any(|e| matches!(e, ControlConnectorEvent::Established { .. }))
}

fn closed_code(events: &[ControlConnectorEvent]) -> Option<ErrorCode> {
    events.iter().find_map(|e| match e {
        ControlConnectorEvent::Closed { code, .. } => Some(*code),
        _ => None,
    })
}

fn messages(events: Vec<ControlConnectorEvent>) -> Vec<ControlMessage> {
    events
        .into_iter()
        .filter_map(|e| match e {
            ControlConnectorEvent::Message(m) => Some(m),
            _ => None,
        })
        .collect()
}

fn broker_messages(events: Vec<ControlAcceptorEvent>) -> Vec<ControlMessage> {
    events
        .into_iter()
        .filter_map(|e| match e {
            ControlAcceptorEvent::Message(m) => Some(m),
            _ => None,
        })
        .collect()
}

/// The relay's driver: ticket check, nonce cache, waiting room keyed by session and side.
struct Relay {
    verifier: TicketVerifier,
    used_nonces: HashSet<[u8; 16]>,
    waiting: HashMap<SessionId, (Side, usize)>,
    conns: Vec<RelayAcceptor>,
    paired: Vec<(usize, usize)>,
}

impl Relay {
    fn new(signer: &TicketSigner) -> Self {
        Self {
            verifier: TicketVerifier::new([(signer.key_id(), signer.public_key())]).unwrap(),
            used_nonces: HashSet::new(),
            waiting: HashMap::new(),
            conns: Vec::new(),
            paired: Vec::new(),
        }
    }

    fn accept_conn(&mut self, now: Instant) -> usize {
        self.conns
            .push(RelayAcceptor::new(RelayHandshakeConfig::default(), now));
        self.conns.len() - 1
    }

    fn drive(&mut self, idx: usize) {
        while let Some(ev) = self.conns[idx].poll_event() {
            let AcceptorEvent::Bind { side, ticket } = ev else {
                continue;
            };
            match self.verifier.verify(&ticket, RELAY, side, NOW_UNIX_MS) {
                Err(e) => self.conns[idx].refuse(e.code(), e.code().sentence()),
                // DESIGN.md flow 4: "one single-use ticket per side": a reused nonce is refused.
                Ok(t) if !self.used_nonces.insert(t.nonce) => {
                    self.conns[idx].refuse(ErrorCode::TicketReused, "ticket already used");
                }
                Ok(t) => match self.waiting.remove(&t.session_id) {
                    Some((peer_side, peer)) if peer_side != side => {
                        self.conns[idx].accept();
                        self.conns[peer].accept();
                        self.paired.push((peer, idx));
                    }
                    Some(other) => {
                        self.waiting.insert(t.session_id, other);
                        self.conns[idx].refuse(ErrorCode::ProtocolViolation, "side already bound");
                    }
                    None => {
                        self.waiting.insert(t.session_id, (side, idx));
                    }
                },
            }
        }
    }
}

/// Moves bytes between one client and its relay connection until quiet.
fn pump_relay(client: &mut RelayConnector, relay: &mut Relay, idx: usize) -> Vec<ConnectorEvent> {
    let mut events = Vec::new();
    for _ in 0..8 {
        let mut moved = false;
        while let Some(b) = client.poll_transmit() {
            let _ = relay.conns[idx].handle_bytes(&b);
            moved = true;
        }
        relay.drive(idx);
        while let Some(b) = relay.conns[idx].poll_transmit() {
            let _ = client.handle_bytes(&b);
            moved = true;
        }
        events.extend(std::iter::from_fn(|| client.poll_event()));
        if !moved {
            break;
        }
    }
    events
}

#[test]
fn host_and_guest_meet_through_broker_and_relay() {
    let now = t0();
    let mut dir = Directory::new();
    let signer = TicketSigner::new(1, [0x42; 32]);

    // Presence: the Host signs the broker's challenge.
    let mut host = host_connector(now);
    let mut host_acc = acceptor(now);
    let (b, h) = pump_control(&mut host, &mut host_acc, &mut dir, now);
    assert!(established(&h), "{h:?}");
    assert!(matches!(
        b.as_slice(),
        [ControlAcceptorEvent::Established {
            peer: ControlPeer::Device { device_id: DEVICE }
        }]
    ));

    // The Guest logs in with a token.
    let mut guest = guest_connector(TOKEN, now);
    let mut guest_acc = acceptor(now);
    let (b, g) = pump_control(&mut guest, &mut guest_acc, &mut dir, now);
    assert!(established(&g));
    assert!(matches!(
        b.as_slice(),
        [ControlAcceptorEvent::Established {
            peer: ControlPeer::Guest
        }]
    ));

    // Session request → offer → accept.
    let wanted: PermissionSet = [Permission::RemoteSession, Permission::Tunnel]
        .into_iter()
        .collect();
    guest
        .send(&ControlMessage::SessionRequest {
            request_id: 1,
            device_id: DEVICE,
            wanted,
            guest_static_key: [0x27; 32],
        })
        .unwrap();
    let (b, _) = pump_control(&mut guest, &mut guest_acc, &mut dir, now);
    let msgs = broker_messages(b);
    let [
        ControlMessage::SessionRequest {
            request_id: 1,
            device_id,
            wanted: w,
            guest_static_key: k,
        },
    ] = msgs.as_slice()
    else {
        panic!("no session request")
    };
    assert_eq!((*device_id, *w, *k), (DEVICE, wanted, [0x27; 32]));
    let sid = SessionId([0x51; 16]);
    guest_acc
        .send(&ControlMessage::SessionCreated {
            request_id: 1,
            session_id: sid,
            granted: wanted,
            confirm_required: false,
        })
        .unwrap();
    let (_, g) = pump_control(&mut guest, &mut guest_acc, &mut dir, now);
    assert!(
        matches!(messages(g).as_slice(), [ControlMessage::SessionCreated { session_id, .. }] if *session_id == sid)
    );
    host_acc
        .send(&ControlMessage::SessionOffer {
            session_id: sid,
            guest: GuestIdentity {
                user_id: UserId([0x0e; 16]),
                display_name: "Tech".into(),
            },
            granted: wanted,
            confirm_required: false,
        })
        .unwrap();
    let (_, h) = pump_control(&mut host, &mut host_acc, &mut dir, now);
    assert!(
        matches!(messages(h).as_slice(), [ControlMessage::SessionOffer { session_id, .. }] if *session_id == sid)
    );
    host.send(&ControlMessage::SessionAccept { session_id: sid })
        .unwrap();
    let (b, _) = pump_control(&mut host, &mut host_acc, &mut dir, now);
    assert_eq!(
        broker_messages(b),
        vec![ControlMessage::SessionAccept { session_id: sid }]
    );

    // Relay assignment with one ticket per side.
    let mk = |side, nonce| {
        signer.sign(&SessionTicket {
            key_id: 1,
            session_id: sid,
            tenant_id: TenantId([7; 16]),
            side,
            relay_id: RELAY,
            permissions: wanted,
            byte_rate_limit: 0,
            expires_at_unix_ms: NOW_UNIX_MS + 30_000,
            nonce,
        })
    };
    let (host_ticket, guest_ticket) = (mk(Side::Host, [1; 16]), mk(Side::Guest, [2; 16]));
    for (acc, ticket) in [
        (&mut host_acc, host_ticket.clone()),
        (&mut guest_acc, guest_ticket.clone()),
    ] {
        acc.send(&ControlMessage::RelayAssignment {
            session_id: sid,
            relay_addr: "127.0.0.1:7443".into(),
            ticket,
            peer_static_key: [0x25; 32],
        })
        .unwrap();
    }
    let (_, h) = pump_control(&mut host, &mut host_acc, &mut dir, now);
    let hm = messages(h);
    let [ControlMessage::RelayAssignment { ticket: ht, .. }] = hm.as_slice() else {
        panic!()
    };
    let (_, g) = pump_control(&mut guest, &mut guest_acc, &mut dir, now);
    let gm = messages(g);
    let [ControlMessage::RelayAssignment { ticket: gt, .. }] = gm.as_slice() else {
        panic!()
    };
    assert_eq!((ht, gt), (&host_ticket, &guest_ticket));

    // Both dial the relay; the host waits in the waiting room until the guest binds.
    let mut relay = Relay::new(&signer);
    let cfg = RelayHandshakeConfig::default();
    let mut host_rc = RelayConnector::new(Side::Host, ht.clone(), cfg, now);
    let hi = relay.accept_conn(now);
    assert!(pump_relay(&mut host_rc, &mut relay, hi).is_empty());
    let mut guest_rc = RelayConnector::new(Side::Guest, gt.clone(), cfg, now);
    let gi = relay.accept_conn(now);
    // The guest pipelines its first payload bytes behind the bind.
    let mut bind = guest_rc.poll_transmit().unwrap().to_vec();
    bind.extend_from_slice(b"noise-msg-1");
    relay.conns[gi].handle_bytes(&bind).unwrap();
    relay.drive(gi);
    assert_eq!(relay.paired, vec![(hi, gi)]);
    let g_events = pump_relay(&mut guest_rc, &mut relay, gi);
    assert_eq!(
        g_events,
        vec![ConnectorEvent::Ready {
            leftover: Bytes::new()
        }]
    );
    let h_events = pump_relay(&mut host_rc, &mut relay, hi);
    assert_eq!(
        h_events,
        vec![ConnectorEvent::Ready {
            leftover: Bytes::new()
        }]
    );
    // After Ready the relay forwards the leftover as opaque bytes.
    assert_eq!(&relay.conns[gi].take_leftover()[..], b"noise-msg-1");

    // The same ticket cannot be used twice.
    let mut replay = RelayConnector::new(Side::Guest, gt.clone(), cfg, now);
    let ri = relay.accept_conn(now);
    let ev = pump_relay(&mut replay, &mut relay, ri);
    assert!(matches!(
        ev.as_slice(),
        [ConnectorEvent::Closed {
            code: ErrorCode::TicketReused,
            ..
        }]
    ));

    // A host ticket presented as guest is refused with wrong_side.
    let mut swapped = RelayConnector::new(Side::Guest, ht.clone(), cfg, now);
    let si = relay.accept_conn(now);
    let ev = pump_relay(&mut swapped, &mut relay, si);
    assert!(matches!(
        ev.as_slice(),
        [ConnectorEvent::Closed {
            code: ErrorCode::TicketWrongSide,
            ..
        }]
    ));
}

#[test]
fn relay_bind_timeout_reaches_the_client() {
    let start = t0();
    let signer = TicketSigner::new(1, [0x42; 32]);
    let mut relay = Relay::new(&signer);
    let idx = relay.accept_conn(start);
    let deadline = relay.conns[idx].poll_timeout().unwrap();
    assert_eq!(
        deadline,
        start + RelayHandshakeConfig::default().bind_timeout
    );
    // A client that connects and says nothing.
    relay.conns[idx].handle_timeout(deadline - Duration::from_millis(1));
    assert!(relay.conns[idx].poll_event().is_none());
    relay.conns[idx].handle_timeout(deadline);
    assert_eq!(
        relay.conns[idx].poll_event(),
        Some(AcceptorEvent::Failed(ErrorCode::BindTimeout))
    );
    // What the relay sends decodes as RelayClose(bind_timeout) for a connector.
    let mut client = RelayConnector::new(
        Side::Host,
        Bytes::new(),
        RelayHandshakeConfig::default(),
        start,
    );
    let _ = client.poll_transmit();
    client
        .handle_bytes(&relay.conns[idx].poll_transmit().unwrap())
        .unwrap();
    assert!(matches!(
        client.poll_event(),
        Some(ConnectorEvent::Closed {
            code: ErrorCode::BindTimeout,
            ..
        })
    ));
}

#[test]
fn relay_ready_timeout_when_the_peer_never_comes() {
    let start = t0();
    let signer = TicketSigner::new(1, [0x42; 32]);
    let mut relay = Relay::new(&signer);
    let t = signer.sign(&crate::support::ticket(Side::Host));
    let cfg = RelayHandshakeConfig {
        max_frame: 4096,
        bind_timeout: Duration::from_secs(30),
    };
    let mut host = RelayConnector::new(Side::Host, t, cfg, start);
    let idx = relay.accept_conn(start);
    assert!(pump_relay(&mut host, &mut relay, idx).is_empty());
    assert_eq!(relay.waiting.len(), 1);
    let mut now = start;
    while let Some(deadline) = host.poll_timeout() {
        now = deadline;
        host.handle_timeout(now);
    }
    assert_eq!(now, start + Duration::from_secs(30));
    assert!(matches!(
        host.poll_event(),
        Some(ConnectorEvent::Closed {
            code: ErrorCode::ReadyTimeout,
            ..
        })
    ));
}

#[test]
fn control_auth_timeout_when_the_lookup_never_answers() {
    let start = t0();
    let mut dir = Directory::new();
    dir.answer_lookups = false;
    let mut host = host_connector(start);
    let mut acc = acceptor(start);
    let (b, _) = pump_control(&mut host, &mut acc, &mut dir, start);
    assert!(matches!(
        b.as_slice(),
        [ControlAcceptorEvent::DeviceHello { .. }]
    ));
    let deadline = acc.poll_timeout().unwrap();
    assert_eq!(deadline, start + ControlConfig::default().auth_timeout);
    acc.handle_timeout(deadline - Duration::from_millis(1));
    assert!(acc.poll_event().is_none());
    acc.handle_timeout(deadline);
    assert!(matches!(
        acc.poll_event(),
        Some(ControlAcceptorEvent::Failed(ErrorCode::HandshakeTimeout))
    ));
    let (_, h) = pump_control(&mut host, &mut acc, &mut dir, deadline);
    assert_eq!(closed_code(&h), Some(ErrorCode::HandshakeTimeout));
    assert!(acc.is_closed() && host.is_closed());
}

#[test]
fn control_connector_times_out_on_a_silent_broker() {
    let start = t0();
    let mut guest = guest_connector(TOKEN, start);
    let _hello = guest.poll_transmit().unwrap();
    let deadline = guest.poll_timeout().unwrap();
    guest.handle_timeout(deadline);
    assert!(matches!(
        guest.poll_event(),
        Some(ControlConnectorEvent::Closed {
            code: ErrorCode::HandshakeTimeout,
            ..
        })
    ));
}

#[test]
fn device_auth_refusals() {
    let now = t0();
    let mut dir = Directory::new();
    // Wrong secret for a known device: the signature does not verify.
    let creds = ControlCredentials::Device {
        device_id: DEVICE,
        credential: Bytes::new(),
        signing_key: [0x99; 32],
    };
    let mut impostor = ControlConnector::new(ControlConfig::default(), creds, "x", now).unwrap();
    let mut acc = acceptor(now);
    let (b, h) = pump_control(&mut impostor, &mut acc, &mut dir, now);
    assert!(matches!(
        b.as_slice(),
        [ControlAcceptorEvent::Failed(ErrorCode::AuthFailed)]
    ));
    assert_eq!(closed_code(&h), Some(ErrorCode::AuthFailed));

    // Unknown device.
    let creds = ControlCredentials::Device {
        device_id: DeviceId([9; 16]),
        credential: Bytes::new(),
        signing_key: DEVICE_SECRET,
    };
    let mut unknown = ControlConnector::new(ControlConfig::default(), creds, "x", now).unwrap();
    let mut acc = acceptor(now);
    let (_, h) = pump_control(&mut unknown, &mut acc, &mut dir, now);
    assert_eq!(closed_code(&h), Some(ErrorCode::DeviceUnknown));

    // Bad guest token.
    let mut g = guest_connector("nope", now);
    let mut acc = acceptor(now);
    let (_, e) = pump_control(&mut g, &mut acc, &mut dir, now);
    assert_eq!(closed_code(&e), Some(ErrorCode::AuthFailed));

    // A guest cannot send session requests before Welcome.
    let mut g = guest_connector(TOKEN, now);
    assert_eq!(
        g.send(&ControlMessage::Heartbeat { seq: 1 }),
        Err(switchboard_codec::ControlHandshakeError::NotEstablished)
    );
}

#[test]
fn enrollment_then_presence_with_the_new_identity() {
    let now = t0();
    let mut dir = Directory::new();
    let secret = [0x33; 32];
    let request = EnrollRequest {
        enrollment_key: "ENR-OK".into(),
        device: device_info(),
        device_public_key: device_public_key(&secret),
        device_static_key: [0x25; 32],
    };
    let mut c = ControlConnector::new(
        ControlConfig::default(),
        ControlCredentials::Enroll(request.clone()),
        "0.1.0",
        now,
    )
    .unwrap();
    let mut acc = acceptor(now);
    let (b, e) = pump_control(&mut c, &mut acc, &mut dir, now);
    assert!(matches!(b.as_slice(), [ControlAcceptorEvent::Finished]));
    let [ControlConnectorEvent::Enrolled(resp)] = e.as_slice() else {
        panic!("{e:?}")
    };
    assert_eq!(resp.state, EnrollState::Enrolled);
    assert!(acc.is_closed() && c.is_closed());

    let creds = ControlCredentials::Device {
        device_id: resp.device_id,
        credential: resp.credential.clone(),
        signing_key: secret,
    };
    let mut host = ControlConnector::new(ControlConfig::default(), creds, "0.1.0", now).unwrap();
    let mut acc = acceptor(now);
    let (_, h) = pump_control(&mut host, &mut acc, &mut dir, now);
    assert!(established(&h));

    // A refused enrollment key.
    let bad = EnrollRequest {
        enrollment_key: "ENR-BAD".into(),
        ..request
    };
    let mut c = ControlConnector::new(
        ControlConfig::default(),
        ControlCredentials::Enroll(bad),
        "0.1.0",
        now,
    )
    .unwrap();
    let mut acc = acceptor(now);
    let (_, e) = pump_control(&mut c, &mut acc, &mut dir, now);
    assert_eq!(closed_code(&e), Some(ErrorCode::EnrollmentRefused));
}

#[test]
fn ondemand_join_queue_and_start() {
    // 004 (digest 21): "shows the session key (9-digit example)"; the key travels as a u32.
    let now = t0();
    let mut dir = Directory::new();
    let join = OnDemandJoin {
        key: key(),
        device: device_info(),
        static_key: [0x26; 32],
    };
    let mut agent = ControlConnector::new(
        ControlConfig::default(),
        ControlCredentials::OnDemand(join.clone()),
        "0.1.0",
        now,
    )
    .unwrap();
    let mut acc = acceptor(now);
    let (b, e) = pump_control(&mut agent, &mut acc, &mut dir, now);
    assert!(matches!(
        b.as_slice(),
        [ControlAcceptorEvent::Established {
            peer: ControlPeer::OnDemand { .. }
        }]
    ));
    assert!(established(&e));
    acc.send(&ControlMessage::OnDemandQueued { position: 1 })
        .unwrap();
    acc.send(&ControlMessage::OnDemandStarted {
        session_id: SessionId([3; 16]),
    })
    .unwrap();
    let (_, e) = pump_control(&mut agent, &mut acc, &mut dir, now);
    assert_eq!(
        messages(e),
        vec![
            ControlMessage::OnDemandQueued { position: 1 },
            ControlMessage::OnDemandStarted {
                session_id: SessionId([3; 16])
            }
        ]
    );

    // A wrong key is refused.
    let wrong = OnDemandJoin {
        key: "999999999".parse().unwrap(),
        ..join
    };
    let mut agent = ControlConnector::new(
        ControlConfig::default(),
        ControlCredentials::OnDemand(wrong),
        "0.1.0",
        now,
    )
    .unwrap();
    let mut acc = acceptor(now);
    let (_, e) = pump_control(&mut agent, &mut acc, &mut dir, now);
    assert_eq!(closed_code(&e), Some(ErrorCode::OndemandKeyInvalid));
}

#[test]
fn heartbeats_keep_the_connection_and_silence_ends_it() {
    let start = t0();
    let mut dir = Directory::new();
    let mut host = host_connector(start);
    let mut acc = acceptor(start);
    let (_, h) = pump_control(&mut host, &mut acc, &mut dir, start);
    assert!(established(&h));
    let cfg = ControlConfig::default();
    // Ten heartbeat intervals pass; heartbeats flow and both stay up.
    let mut now = start;
    for _ in 0..10 {
        now = host.poll_timeout().unwrap();
        host.handle_timeout(now);
        acc.handle_timeout(now);
        pump_control(&mut host, &mut acc, &mut dir, now);
    }
    assert!(now >= start + cfg.heartbeat_interval * 10);
    assert!(acc.is_established() && host.is_established());
    // The host goes silent: the broker fails the connection at its idle deadline.
    let deadline = acc.poll_timeout().unwrap();
    assert_eq!(deadline, now + cfg.idle_timeout);
    acc.handle_timeout(deadline);
    assert!(matches!(
        acc.poll_event(),
        Some(ControlAcceptorEvent::Failed(ErrorCode::IdleTimeout))
    ));
}

#[test]
fn garbage_on_the_control_connection_is_refused_with_a_code() {
    let now = t0();
    let mut acc = acceptor(now);
    assert!(acc.handle_bytes(b"\x16\x03\x01 TLS hello", now).is_err());
    assert!(matches!(
        acc.poll_event(),
        Some(ControlAcceptorEvent::Failed(ErrorCode::UnsupportedVersion))
    ));
    assert!(acc.poll_transmit().is_some());
    // Skipping the hello is a protocol violation.
    let mut acc = acceptor(now);
    let frame = ControlMessage::AuthResponse { signature: [0; 64] }
        .to_frame()
        .unwrap()
        .to_bytes();
    assert!(acc.handle_bytes(&frame, now).is_err());
    assert!(matches!(
        acc.poll_event(),
        Some(ControlAcceptorEvent::Failed(ErrorCode::ProtocolViolation))
    ));
}

#[test]
fn a_connector_refuses_what_its_flow_does_not_expect() {
    let now = t0();
    // A challenge sent to a Guest (which has no device key) is a protocol violation: the
    // connector reports it and tells the broker why.
    let mut g = guest_connector(TOKEN, now);
    let _hello = g.poll_transmit().unwrap();
    let challenge = ControlMessage::AuthChallenge { challenge: [1; 32] }
        .to_frame()
        .unwrap()
        .to_bytes();
    assert!(g.handle_bytes(&challenge, now).is_err());
    assert!(matches!(
        g.poll_event(),
        Some(ControlConnectorEvent::Closed {
            code: ErrorCode::ProtocolViolation,
            ..
        })
    ));
    let sent = g.poll_transmit().unwrap();
    let (frame, _) = switchboard_codec::FrameDecoder::default()
        .decode_slice(&sent)
        .unwrap()
        .unwrap();
    assert!(matches!(
        ControlMessage::from_frame(&frame),
        Ok(ControlMessage::Error {
            code: ErrorCode::ProtocolViolation,
            ..
        })
    ));
    assert!(g.is_closed());
    assert_eq!(
        g.handle_bytes(b"more", now),
        Err(switchboard_codec::ControlHandshakeError::Closed)
    );
}
