//! `ControlAcceptor`: the broker side of a control connection as a sans-IO state machine.
//!
//! The first message decides the flow. `HostHello`: the driver looks up the device's ed25519
//! key and answers with `handle_device_key`; the acceptor sends the challenge the driver gave
//! it, verifies the signed answer and sends `Welcome`. `GuestHello`: the driver validates the
//! token (`handle_guest_token`). `OnDemandJoin`: the driver checks the key
//! (`handle_ondemand_join`). `EnrollRequest`: the driver enrolls and answers
//! (`handle_enrollment`), after which the exchange is finished. Every question comes with a
//! one-shot query token the answer consumes, so a question cannot be answered twice. The whole
//! handshake must finish by `auth_timeout`; afterwards messages are surfaced as events,
//! heartbeats are acknowledged, and silence past `idle_timeout` fails the connection.
//! The acceptor has no directory, no clock and no random source.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;

use crate::control_handshake::{
    Channel, ControlConfig, ControlHandshakeError, ControlPeer, is_handshake_message,
    verify_device_challenge,
};
use crate::error_code::ErrorCode;
use crate::ids::DeviceId;
use crate::message::{ControlMessage, EnrollRequest, EnrollResponse, OnDemandJoin, OnDemandKey};

/// One-shot question: which ed25519 key does this device have? Answer with
/// `ControlAcceptor::handle_device_key`.
#[derive(Debug)]
pub struct DeviceKeyQuery {
    device_id: DeviceId,
}

impl DeviceKeyQuery {
    /// The device to look up.
    pub fn device_id(&self) -> DeviceId {
        self.device_id
    }
}

/// One-shot question: is this access token valid? Answer with `handle_guest_token`.
#[derive(Debug)]
pub struct GuestTokenQuery(());

/// One-shot question: enroll this device? Answer with `handle_enrollment`.
#[derive(Debug)]
pub struct EnrollQuery(());

/// One-shot question: may this agent join with this key? Answer with `handle_ondemand_join`.
#[derive(Debug)]
pub struct OnDemandQuery {
    key: OnDemandKey,
}

/// What the broker's driver must act on.
#[derive(Debug)]
pub enum ControlAcceptorEvent {
    /// A device says hello: look up its key (and check its credential and state).
    DeviceHello {
        /// The device id it claims.
        device_id: DeviceId,
        /// The credential from its enrollment.
        credential: Bytes,
        /// Its agent version.
        agent_version: String,
        /// Answer with `handle_device_key`.
        query: DeviceKeyQuery,
    },
    /// A technician says hello: validate the token.
    GuestHello {
        /// The access token.
        access_token: String,
        /// Its agent version.
        agent_version: String,
        /// Answer with `handle_guest_token`.
        query: GuestTokenQuery,
    },
    /// A new device asks to enroll.
    EnrollRequest {
        /// What it sent.
        request: EnrollRequest,
        /// Answer with `handle_enrollment`.
        query: EnrollQuery,
    },
    /// An OnDemand agent joins with a key.
    OnDemandJoin {
        /// What it sent.
        join: OnDemandJoin,
        /// Answer with `handle_ondemand_join`.
        query: OnDemandQuery,
    },
    /// The handshake succeeded; `Welcome` is queued.
    Established {
        /// Who it is.
        peer: ControlPeer,
    },
    /// A message after the handshake (heartbeats are answered and not surfaced).
    Message(ControlMessage),
    /// The enrollment answer is queued: send it, then close.
    Finished,
    /// The connection failed or was refused: send what `poll_transmit` yields, then close.
    Failed(ErrorCode),
}

#[derive(Debug)]
enum State {
    AwaitHello,
    AwaitDeviceKey,
    AwaitAuthResponse {
        device_id: DeviceId,
        public_key: [u8; 32],
    },
    AwaitGuestVerdict,
    AwaitEnrollVerdict,
    AwaitOnDemandVerdict,
    Established {
        idle_deadline: Instant,
    },
    Closed,
}

/// What one incoming message leads to.
#[derive(Debug)]
enum Next {
    State(State),
    Establish(ControlPeer),
    Refuse(ErrorCode),
    PeerGaveUp(ErrorCode),
    Fail(ControlHandshakeError),
}

/// Broker side of a control connection.
#[derive(Debug)]
pub struct ControlAcceptor {
    cfg: ControlConfig,
    state: State,
    challenge: [u8; 32],
    auth_deadline: Instant,
    channel: Channel,
    events: VecDeque<ControlAcceptorEvent>,
}

impl ControlAcceptor {
    /// A fresh acceptor. `challenge` must be 32 fresh random bytes (the driver's
    /// `getrandom::fill`); the handshake must finish by `now + cfg.auth_timeout`.
    pub fn new(cfg: ControlConfig, challenge: [u8; 32], now: Instant) -> Self {
        Self {
            cfg,
            state: State::AwaitHello,
            challenge,
            auth_deadline: now + cfg.auth_timeout,
            channel: Channel::new(cfg.max_frame),
            events: VecDeque::new(),
        }
    }

    /// Refuses with `code`: queues `Error`, emits `Failed`, closes.
    pub fn close(&mut self, code: ErrorCode, message: &str) {
        if !matches!(self.state, State::Closed) {
            self.shut(code, message);
        }
    }

    /// Queues `Error`, emits `Failed` and closes, whatever the state.
    fn shut(&mut self, code: ErrorCode, message: &str) {
        let _ = self.channel.push(&ControlMessage::error(code, message));
        self.channel.clear_input();
        self.state = State::Closed;
        self.events.push_back(ControlAcceptorEvent::Failed(code));
    }

    fn fail(&mut self, err: ControlHandshakeError) -> ControlHandshakeError {
        self.shut(err.code(), &err.to_string());
        err
    }

    fn establish(&mut self, peer: ControlPeer, now: Instant) {
        let interval_ms =
            u32::try_from(self.cfg.heartbeat_interval.as_millis()).unwrap_or(u32::MAX);
        let welcome = ControlMessage::Welcome {
            heartbeat_interval_ms: interval_ms,
        };
        if let Err(e) = self.channel.push(&welcome) {
            self.fail(e);
            return;
        }
        self.state = State::Established {
            idle_deadline: now + self.cfg.idle_timeout,
        };
        self.events
            .push_back(ControlAcceptorEvent::Established { peer });
    }

    /// Feeds bytes read from the socket at `now`.
    pub fn handle_bytes(&mut self, data: &[u8], now: Instant) -> Result<(), ControlHandshakeError> {
        if matches!(self.state, State::Closed) {
            return Err(ControlHandshakeError::Closed);
        }
        self.channel.extend(data);
        loop {
            let msg = match self.channel.next_message() {
                Ok(Some(msg)) => msg,
                Ok(None) => return Ok(()),
                Err(e) => return Err(self.fail(e)),
            };
            self.handle_message(msg, now)?;
            if matches!(self.state, State::Closed) {
                return Ok(());
            }
        }
    }

    fn handle_message(
        &mut self,
        msg: ControlMessage,
        now: Instant,
    ) -> Result<(), ControlHandshakeError> {
        // The old state is consumed; every outcome below installs the next one.
        let state = std::mem::replace(&mut self.state, State::Closed);
        match self.next_state(state, msg, now) {
            Next::State(s) => {
                self.state = s;
                Ok(())
            }
            Next::Establish(peer) => {
                self.establish(peer, now);
                Ok(())
            }
            Next::Refuse(code) => {
                self.shut(code, code.sentence());
                Ok(())
            }
            Next::PeerGaveUp(code) => {
                self.channel.clear_input();
                self.events.push_back(ControlAcceptorEvent::Failed(code));
                Ok(())
            }
            Next::Fail(err) => Err(self.fail(err)),
        }
    }

    fn next_state(&mut self, state: State, msg: ControlMessage, now: Instant) -> Next {
        match (state, msg) {
            (
                State::AwaitHello,
                ControlMessage::HostHello {
                    device_id,
                    credential,
                    agent_version,
                },
            ) => {
                self.events.push_back(ControlAcceptorEvent::DeviceHello {
                    device_id,
                    credential,
                    agent_version,
                    query: DeviceKeyQuery { device_id },
                });
                Next::State(State::AwaitDeviceKey)
            }
            (
                State::AwaitHello,
                ControlMessage::GuestHello {
                    access_token,
                    agent_version,
                },
            ) => {
                self.events.push_back(ControlAcceptorEvent::GuestHello {
                    access_token,
                    agent_version,
                    query: GuestTokenQuery(()),
                });
                Next::State(State::AwaitGuestVerdict)
            }
            (State::AwaitHello, ControlMessage::EnrollRequest(request)) => {
                self.events.push_back(ControlAcceptorEvent::EnrollRequest {
                    request,
                    query: EnrollQuery(()),
                });
                Next::State(State::AwaitEnrollVerdict)
            }
            (State::AwaitHello, ControlMessage::OnDemandJoin(join)) => {
                let key = join.key;
                self.events.push_back(ControlAcceptorEvent::OnDemandJoin {
                    join,
                    query: OnDemandQuery { key },
                });
                Next::State(State::AwaitOnDemandVerdict)
            }
            (
                State::AwaitAuthResponse {
                    device_id,
                    public_key,
                },
                ControlMessage::AuthResponse { signature },
            ) => {
                if verify_device_challenge(&public_key, device_id, &self.challenge, &signature) {
                    Next::Establish(ControlPeer::Device { device_id })
                } else {
                    Next::Refuse(ErrorCode::AuthFailed)
                }
            }
            (State::Established { .. }, ControlMessage::Heartbeat { seq }) => {
                match self.channel.push(&ControlMessage::HeartbeatAck { seq }) {
                    Ok(()) => Next::State(State::Established {
                        idle_deadline: now + self.cfg.idle_timeout,
                    }),
                    Err(e) => Next::Fail(e),
                }
            }
            (State::Established { .. }, msg) if !is_handshake_message(&msg) => {
                self.events.push_back(ControlAcceptorEvent::Message(msg));
                Next::State(State::Established {
                    idle_deadline: now + self.cfg.idle_timeout,
                })
            }
            (_, ControlMessage::Error { code, .. }) => Next::PeerGaveUp(code),
            (_, msg) => Next::Fail(ControlHandshakeError::Unexpected(msg.type_number())),
        }
    }

    /// The driver's answer to `DeviceHello`: the device's ed25519 public key, or the code to
    /// refuse with (`device_unknown`, `device_revoked`, `device_pending`, `auth_failed`, ...).
    pub fn handle_device_key(
        &mut self,
        query: DeviceKeyQuery,
        result: Result<[u8; 32], ErrorCode>,
    ) {
        if !matches!(self.state, State::AwaitDeviceKey) {
            return;
        }
        match result {
            Ok(public_key) => {
                let challenge = ControlMessage::AuthChallenge {
                    challenge: self.challenge,
                };
                if let Err(e) = self.channel.push(&challenge) {
                    self.fail(e);
                    return;
                }
                self.state = State::AwaitAuthResponse {
                    device_id: query.device_id,
                    public_key,
                };
            }
            Err(code) => self.close(code, code.sentence()),
        }
    }

    /// The driver's answer to `GuestHello`.
    pub fn handle_guest_token(
        &mut self,
        _query: GuestTokenQuery,
        result: Result<(), ErrorCode>,
        now: Instant,
    ) {
        if !matches!(self.state, State::AwaitGuestVerdict) {
            return;
        }
        match result {
            Ok(()) => self.establish(ControlPeer::Guest, now),
            Err(code) => self.close(code, code.sentence()),
        }
    }

    /// The driver's answer to `OnDemandJoin`.
    pub fn handle_ondemand_join(
        &mut self,
        query: OnDemandQuery,
        result: Result<(), ErrorCode>,
        now: Instant,
    ) {
        if !matches!(self.state, State::AwaitOnDemandVerdict) {
            return;
        }
        match result {
            Ok(()) => self.establish(ControlPeer::OnDemand { key: query.key }, now),
            Err(code) => self.close(code, code.sentence()),
        }
    }

    /// The driver's answer to `EnrollRequest`: the response to send, or the refusal code.
    pub fn handle_enrollment(
        &mut self,
        _query: EnrollQuery,
        result: Result<EnrollResponse, ErrorCode>,
    ) {
        if !matches!(self.state, State::AwaitEnrollVerdict) {
            return;
        }
        match result {
            Ok(response) => {
                if let Err(e) = self.channel.push(&ControlMessage::EnrollResponse(response)) {
                    self.fail(e);
                    return;
                }
                self.channel.clear_input();
                self.state = State::Closed;
                self.events.push_back(ControlAcceptorEvent::Finished);
            }
            Err(code) => self.close(code, code.sentence()),
        }
    }

    /// Queues a message to the client (after the handshake only).
    pub fn send(&mut self, msg: &ControlMessage) -> Result<(), ControlHandshakeError> {
        match self.state {
            State::Established { .. } => self.channel.push(msg),
            State::Closed => Err(ControlHandshakeError::Closed),
            _ => Err(ControlHandshakeError::NotEstablished),
        }
    }

    /// Fails with `handshake_timeout` or `idle_timeout` when the deadline has passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.state {
            State::Closed => {}
            State::Established { idle_deadline } => {
                if now >= idle_deadline {
                    let code = ErrorCode::IdleTimeout;
                    self.close(code, code.sentence());
                }
            }
            _ => {
                if now >= self.auth_deadline {
                    let code = ErrorCode::HandshakeTimeout;
                    self.close(code, code.sentence());
                }
            }
        }
    }

    /// When `handle_timeout` must be called next, if at all.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Closed => None,
            State::Established { idle_deadline } => Some(idle_deadline),
            _ => Some(self.auth_deadline),
        }
    }

    /// The next event for the driver.
    pub fn poll_event(&mut self) -> Option<ControlAcceptorEvent> {
        self.events.pop_front()
    }

    /// Bytes to write to the socket.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.channel.pop_transmit()
    }

    /// Whether the handshake completed and the connection is open.
    pub fn is_established(&self) -> bool {
        matches!(self.state, State::Established { .. })
    }

    /// Whether the connection is over (failed, refused or enrollment finished).
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }
}
