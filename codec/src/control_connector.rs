//! `ControlConnector`: the agent side (Host, Guest, enrolling device, OnDemand agent) of a
//! control connection as a sans-IO state machine.
//!
//! It sends the hello for its credentials, signs the broker's challenge with the device key
//! (domain-separated, see `control_handshake`), and reports `Established` on `Welcome`,
//! `Enrolled` on `EnrollResponse`, or `Closed` on `Error` / timeout. Once established it sends
//! a `Heartbeat` every interval the broker announced and fails with `idle_timeout` when the
//! broker stays silent. It holds the device key only to sign (zeroized on drop) and never prints it.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ed25519_dalek::{Signer, SigningKey};

use crate::control_handshake::{
    Channel, ControlConfig, ControlHandshakeError, device_auth_message, is_handshake_message,
};
use crate::error_code::ErrorCode;
use crate::ids::DeviceId;
use crate::message::{ControlMessage, EnrollRequest, EnrollResponse, OnDemandJoin};

/// Who the client is.
pub enum ControlCredentials {
    /// An enrolled device: signs the challenge with its ed25519 secret.
    Device {
        /// Its id.
        device_id: DeviceId,
        /// The credential from enrollment.
        credential: Bytes,
        /// The device's ed25519 secret key.
        signing_key: [u8; 32],
    },
    /// A technician with an access token.
    Guest {
        /// The token.
        access_token: String,
    },
    /// A new device enrolling.
    Enroll(EnrollRequest),
    /// An OnDemand agent joining with a key.
    OnDemand(OnDemandJoin),
}

impl std::fmt::Debug for ControlCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Device { device_id, .. } => write!(f, "Device({device_id})"),
            Self::Guest { .. } => f.write_str("Guest"),
            Self::Enroll(_) => f.write_str("Enroll"),
            Self::OnDemand(j) => write!(f, "OnDemand({})", j.key),
        }
    }
}

/// What the agent's driver must act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlConnectorEvent {
    /// The broker welcomed us.
    Established {
        /// Heartbeat interval the broker asked for.
        heartbeat_interval: Duration,
    },
    /// Enrollment succeeded; store the response, then close.
    Enrolled(EnrollResponse),
    /// A message after the handshake (heartbeat acks are not surfaced).
    Message(ControlMessage),
    /// The connection is over: refused by the broker or failed here.
    Closed {
        /// Why.
        code: ErrorCode,
        /// A human sentence.
        message: String,
    },
}

#[derive(Debug)]
enum State {
    AwaitChallengeOrWelcome,
    AwaitWelcome,
    Established {
        interval: Duration,
        next_heartbeat: Instant,
        idle_deadline: Instant,
    },
    Closed,
}

/// Client side of a control connection.
pub struct ControlConnector {
    cfg: ControlConfig,
    state: State,
    device: Option<(DeviceId, SigningKey)>,
    auth_deadline: Instant,
    next_seq: u64,
    channel: Channel,
    events: VecDeque<ControlConnectorEvent>,
}

impl std::fmt::Debug for ControlConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlConnector")
            .field("state", &self.state)
            .field("device", &self.device.as_ref().map(|(id, _)| id))
            .finish_non_exhaustive()
    }
}

impl ControlConnector {
    /// Starts a handshake at `now`: the hello is queued for `poll_transmit`. Fails when a field
    /// of the hello exceeds its cap.
    pub fn new(
        cfg: ControlConfig,
        credentials: ControlCredentials,
        agent_version: &str,
        now: Instant,
    ) -> Result<Self, ControlHandshakeError> {
        let mut device = None;
        let hello = match credentials {
            ControlCredentials::Device {
                device_id,
                credential,
                signing_key,
            } => {
                device = Some((device_id, SigningKey::from_bytes(&signing_key)));
                ControlMessage::HostHello {
                    device_id,
                    credential,
                    agent_version: agent_version.to_owned(),
                }
            }
            ControlCredentials::Guest { access_token } => ControlMessage::GuestHello {
                access_token,
                agent_version: agent_version.to_owned(),
            },
            ControlCredentials::Enroll(req) => ControlMessage::EnrollRequest(req),
            ControlCredentials::OnDemand(join) => ControlMessage::OnDemandJoin(join),
        };
        let mut channel = Channel::new(cfg.max_frame);
        channel.push(&hello)?;
        Ok(Self {
            cfg,
            state: State::AwaitChallengeOrWelcome,
            device,
            auth_deadline: now + cfg.auth_timeout,
            next_seq: 1,
            channel,
            events: VecDeque::new(),
        })
    }

    fn close_local(&mut self, code: ErrorCode, message: String, tell_peer: bool) {
        if !matches!(self.state, State::Closed) {
            self.shut(code, message, tell_peer);
        }
    }

    /// Emits `Closed` (and tells the broker when `tell_peer`) whatever the state.
    fn shut(&mut self, code: ErrorCode, message: String, tell_peer: bool) {
        if tell_peer {
            let _ = self.channel.push(&ControlMessage::error(code, &message));
        }
        self.channel.clear_input();
        self.state = State::Closed;
        self.events
            .push_back(ControlConnectorEvent::Closed { code, message });
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
                Err(e) => {
                    self.close_local(e.code(), e.to_string(), true);
                    return Err(e);
                }
            };
            if let Err(e) = self.handle_message(msg, now) {
                self.shut(e.code(), e.to_string(), true);
                return Err(e);
            }
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
        // The old state is consumed; an error leaves the machine closed.
        let state = std::mem::replace(&mut self.state, State::Closed);
        self.state = match (state, msg) {
            (_, ControlMessage::Error { code, message }) => {
                self.shut(code, message, false);
                return Ok(());
            }
            (State::AwaitChallengeOrWelcome, ControlMessage::AuthChallenge { challenge }) => {
                let Some((device_id, key)) = &self.device else {
                    return Err(ControlHandshakeError::Unexpected(0x0203));
                };
                let signature = key
                    .sign(&device_auth_message(*device_id, &challenge))
                    .to_bytes();
                self.channel
                    .push(&ControlMessage::AuthResponse { signature })?;
                State::AwaitWelcome
            }
            (
                State::AwaitChallengeOrWelcome | State::AwaitWelcome,
                ControlMessage::Welcome {
                    heartbeat_interval_ms,
                },
            ) => {
                let interval = Duration::from_millis(u64::from(heartbeat_interval_ms.max(1)));
                self.events.push_back(ControlConnectorEvent::Established {
                    heartbeat_interval: interval,
                });
                State::Established {
                    interval,
                    next_heartbeat: now + interval,
                    idle_deadline: now + self.cfg.idle_timeout,
                }
            }
            (State::AwaitChallengeOrWelcome, ControlMessage::EnrollResponse(resp)) => {
                self.channel.clear_input();
                self.events.push_back(ControlConnectorEvent::Enrolled(resp));
                State::Closed
            }
            (
                State::Established {
                    interval,
                    next_heartbeat,
                    ..
                },
                msg,
            ) if !is_handshake_message(&msg) => {
                if !matches!(msg, ControlMessage::HeartbeatAck { .. }) {
                    self.events.push_back(ControlConnectorEvent::Message(msg));
                }
                State::Established {
                    interval,
                    next_heartbeat,
                    idle_deadline: now + self.cfg.idle_timeout,
                }
            }
            (_, msg) => return Err(ControlHandshakeError::Unexpected(msg.type_number())),
        };
        Ok(())
    }

    /// Queues a message to the broker (after the handshake only).
    pub fn send(&mut self, msg: &ControlMessage) -> Result<(), ControlHandshakeError> {
        match self.state {
            State::Established { .. } => self.channel.push(msg),
            State::Closed => Err(ControlHandshakeError::Closed),
            _ => Err(ControlHandshakeError::NotEstablished),
        }
    }

    /// Closes on our side, telling the broker why.
    pub fn close(&mut self, code: ErrorCode, message: &str) {
        self.close_local(code, message.to_owned(), true);
    }

    /// Sends a due heartbeat, or fails with `handshake_timeout` / `idle_timeout`.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.state {
            State::Closed => {}
            State::Established {
                interval,
                next_heartbeat,
                idle_deadline,
            } => {
                if now >= idle_deadline {
                    let code = ErrorCode::IdleTimeout;
                    self.close_local(code, code.sentence().to_owned(), true);
                } else if now >= next_heartbeat {
                    let seq = self.next_seq;
                    self.next_seq = self.next_seq.wrapping_add(1);
                    let _ = self.channel.push(&ControlMessage::Heartbeat { seq });
                    self.state = State::Established {
                        interval,
                        next_heartbeat: now + interval,
                        idle_deadline,
                    };
                }
            }
            _ => {
                if now >= self.auth_deadline {
                    let code = ErrorCode::HandshakeTimeout;
                    self.close_local(code, code.sentence().to_owned(), true);
                }
            }
        }
    }

    /// When `handle_timeout` must be called next, if at all.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Closed => None,
            State::Established {
                next_heartbeat,
                idle_deadline,
                ..
            } => Some(next_heartbeat.min(idle_deadline)),
            _ => Some(self.auth_deadline),
        }
    }

    /// The next event for the driver.
    pub fn poll_event(&mut self) -> Option<ControlConnectorEvent> {
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

    /// Whether the connection is over.
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }
}
