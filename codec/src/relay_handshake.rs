//! The relay handshake as two sans-IO state machines: `RelayAcceptor` (relay side, one per
//! accepted connection) and `RelayConnector` (Host or Guest side).
//!
//! The client sends one `RelayBind` frame; the relay hands the ticket to its driver (which
//! verifies it and checks the nonce cache), then answers `RelayReady` once both sides are
//! present or `RelayClose` with a code. After `RelayReady` the connection is an opaque byte pipe;
//! bytes that arrived behind the frame are handed back as leftover. Neither machine does IO or
//! reads a clock: bytes and instants come in through `handle_*`, output leaves through `poll_*`.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use crate::error_code::ErrorCode;
use crate::frame::{DEFAULT_MAX_FRAME, FrameDecoder, FrameError, MAX_FRAME_LIMIT};
use crate::ids::Side;
use crate::message::{ControlMessage, MessageError};

/// ALPN protocol id of a relay connection over QUIC: the relay's listener offers it and every
/// endpoint (agent, bench) asks for it. The connection carries this same handshake on its one
/// bidirectional stream.
pub const RELAY_ALPN: &[u8] = b"switchboard-relay/1";

/// Limits of one relay handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayHandshakeConfig {
    /// Largest frame payload accepted (clamped to `MAX_FRAME_LIMIT`); also caps the leftover
    /// bytes a client may send behind its bind before `Ready`.
    pub max_frame: usize,
    /// Acceptor: how long after accept the bind frame may take. Connector: how long after
    /// start the relay may take to answer `Ready` (this includes waiting for the peer).
    pub bind_timeout: Duration,
}

impl Default for RelayHandshakeConfig {
    fn default() -> Self {
        Self {
            max_frame: DEFAULT_MAX_FRAME,
            bind_timeout: Duration::from_secs(10),
        }
    }
}

impl RelayHandshakeConfig {
    /// Refuses a `max_frame` above 1 MiB (call at configuration load).
    pub fn validate(&self) -> Result<(), FrameError> {
        FrameDecoder::new(self.max_frame).map(|_| ())
    }

    fn decoder(&self) -> FrameDecoder {
        FrameDecoder::new(self.max_frame.min(MAX_FRAME_LIMIT)).unwrap_or_default()
    }
}

/// Why a relay handshake failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelayHandshakeError {
    /// A frame violation.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// A control payload that does not decode.
    #[error(transparent)]
    Message(#[from] MessageError),
    /// A message that is not allowed here (type number).
    #[error("unexpected message type {0:#06x} in the relay handshake")]
    Unexpected(u16),
    /// More bytes arrived behind the bind than the leftover cap allows.
    #[error("too many bytes sent before Ready")]
    LeftoverTooLarge,
    /// The handshake is over; input is no longer taken.
    #[error("the relay handshake is already finished")]
    Finished,
}

impl RelayHandshakeError {
    /// The code the peer is told.
    pub const fn code(&self) -> ErrorCode {
        match self {
            Self::Frame(e) => e.code(),
            Self::Message(e) => e.code(),
            Self::Unexpected(_) | Self::LeftoverTooLarge | Self::Finished => {
                ErrorCode::ProtocolViolation
            }
        }
    }
}

/// What the relay's driver must act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcceptorEvent {
    /// A bind arrived: verify the ticket for `side`, then `accept` or `refuse`.
    Bind {
        /// The side the client declares.
        side: Side,
        /// The signed ticket bytes.
        ticket: Bytes,
    },
    /// The handshake failed; send what `poll_transmit` yields, then close.
    Failed(ErrorCode),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AcceptorState {
    AwaitBind { deadline: Instant },
    AwaitDecision,
    Ready,
    Closed,
}

/// Relay side of the handshake, one per accepted connection.
#[derive(Debug)]
pub struct RelayAcceptor {
    state: AcceptorState,
    decoder: FrameDecoder,
    max_leftover: usize,
    inbuf: BytesMut,
    events: VecDeque<AcceptorEvent>,
    transmit: VecDeque<Bytes>,
}

impl RelayAcceptor {
    /// A fresh acceptor; the bind must arrive by `now + cfg.bind_timeout`.
    pub fn new(cfg: RelayHandshakeConfig, now: Instant) -> Self {
        let decoder = cfg.decoder();
        Self {
            state: AcceptorState::AwaitBind {
                deadline: now + cfg.bind_timeout,
            },
            max_leftover: decoder.max_len(),
            decoder,
            inbuf: BytesMut::new(),
            events: VecDeque::new(),
            transmit: VecDeque::new(),
        }
    }

    fn fail(&mut self, err: RelayHandshakeError) -> RelayHandshakeError {
        let code = err.code();
        self.close_with(code, &err.to_string());
        self.events.push_back(AcceptorEvent::Failed(code));
        err
    }

    fn close_with(&mut self, code: ErrorCode, message: &str) {
        if let Ok(frame) = ControlMessage::relay_close(code, message).to_frame() {
            self.transmit.push_back(frame.to_bytes());
        }
        self.state = AcceptorState::Closed;
        self.inbuf.clear();
    }

    /// Feeds bytes read from the socket.
    pub fn handle_bytes(&mut self, data: &[u8]) -> Result<(), RelayHandshakeError> {
        match self.state {
            AcceptorState::AwaitBind { .. } => {}
            AcceptorState::AwaitDecision => {
                if self.inbuf.len() + data.len() > self.max_leftover {
                    return Err(self.fail(RelayHandshakeError::LeftoverTooLarge));
                }
                self.inbuf.extend_from_slice(data);
                return Ok(());
            }
            AcceptorState::Ready | AcceptorState::Closed => {
                return Err(RelayHandshakeError::Finished);
            }
        }
        self.inbuf.extend_from_slice(data);
        let frame = match self.decoder.decode(&mut self.inbuf) {
            Ok(Some(frame)) => frame,
            Ok(None) => return Ok(()),
            Err(e) => return Err(self.fail(e.into())),
        };
        match ControlMessage::from_frame(&frame) {
            Ok(ControlMessage::RelayBind { side, ticket }) => {
                if self.inbuf.len() > self.max_leftover {
                    return Err(self.fail(RelayHandshakeError::LeftoverTooLarge));
                }
                self.state = AcceptorState::AwaitDecision;
                self.events.push_back(AcceptorEvent::Bind { side, ticket });
                Ok(())
            }
            Ok(other) => Err(self.fail(RelayHandshakeError::Unexpected(other.type_number()))),
            Err(e) => Err(self.fail(e.into())),
        }
    }

    /// Fails the handshake with `bind_timeout` when the bind has not arrived by its deadline.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let AcceptorState::AwaitBind { deadline } = self.state
            && now >= deadline
        {
            let code = ErrorCode::BindTimeout;
            self.close_with(code, code.sentence());
            self.events.push_back(AcceptorEvent::Failed(code));
        }
    }

    /// When `handle_timeout` must be called next, if at all.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            AcceptorState::AwaitBind { deadline } => Some(deadline),
            _ => None,
        }
    }

    /// The next event for the driver.
    pub fn poll_event(&mut self) -> Option<AcceptorEvent> {
        self.events.pop_front()
    }

    /// Both sides are present: queues the `RelayReady` frame. Ignored unless a bind is pending.
    pub fn accept(&mut self) {
        if self.state != AcceptorState::AwaitDecision {
            return;
        }
        if let Ok(frame) = ControlMessage::RelayReady.to_frame() {
            self.transmit.push_back(frame.to_bytes());
        }
        self.state = AcceptorState::Ready;
    }

    /// Refuses the connection: queues `RelayClose { code, message }`; the driver then closes.
    pub fn refuse(&mut self, code: ErrorCode, message: &str) {
        if matches!(self.state, AcceptorState::Ready | AcceptorState::Closed) {
            return;
        }
        self.close_with(code, message);
    }

    /// Bytes to write to the socket.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.transmit.pop_front()
    }

    /// Bytes received behind the bind frame (forward them to the peer after `Ready`).
    pub fn take_leftover(&mut self) -> Bytes {
        self.inbuf.split().freeze()
    }

    /// Whether `Ready` was queued.
    pub fn is_ready(&self) -> bool {
        self.state == AcceptorState::Ready
    }

    /// Whether the handshake failed or was refused.
    pub fn is_closed(&self) -> bool {
        self.state == AcceptorState::Closed
    }
}

/// What the client's driver must act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectorEvent {
    /// Paired: from now on the connection is the payload stream; `leftover` belongs to it.
    Ready {
        /// Bytes that arrived behind the Ready frame.
        leftover: Bytes,
    },
    /// The relay refused (or the handshake failed locally); close the connection.
    Closed {
        /// Why.
        code: ErrorCode,
        /// A human sentence.
        message: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConnectorState {
    AwaitReady { deadline: Instant },
    Done,
}

/// Host or Guest side of the relay handshake.
#[derive(Debug)]
pub struct RelayConnector {
    state: ConnectorState,
    decoder: FrameDecoder,
    inbuf: BytesMut,
    transmit: Option<Bytes>,
    events: VecDeque<ConnectorEvent>,
}

impl RelayConnector {
    /// Starts a handshake for `side` with the signed `ticket`; `Ready` must arrive by
    /// `now + cfg.bind_timeout`. A ticket over the message cap fails at once with `Closed`.
    pub fn new(side: Side, ticket: Bytes, cfg: RelayHandshakeConfig, now: Instant) -> Self {
        let mut me = Self {
            state: ConnectorState::AwaitReady {
                deadline: now + cfg.bind_timeout,
            },
            decoder: cfg.decoder(),
            inbuf: BytesMut::new(),
            transmit: None,
            events: VecDeque::new(),
        };
        match (ControlMessage::RelayBind { side, ticket }).to_frame() {
            Ok(frame) => me.transmit = Some(frame.to_bytes()),
            Err(e) => me.finish_closed(ErrorCode::TicketMalformed, e.to_string()),
        }
        me
    }

    fn finish_closed(&mut self, code: ErrorCode, message: String) {
        self.state = ConnectorState::Done;
        self.inbuf.clear();
        self.events
            .push_back(ConnectorEvent::Closed { code, message });
    }

    /// The bind frame to write (once).
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.transmit.take()
    }

    /// Feeds bytes read from the socket.
    pub fn handle_bytes(&mut self, data: &[u8]) -> Result<(), RelayHandshakeError> {
        if self.state == ConnectorState::Done {
            return Err(RelayHandshakeError::Finished);
        }
        self.inbuf.extend_from_slice(data);
        let frame = match self.decoder.decode(&mut self.inbuf) {
            Ok(Some(frame)) => frame,
            Ok(None) => return Ok(()),
            Err(e) => {
                self.finish_closed(e.code(), e.to_string());
                return Err(e.into());
            }
        };
        match ControlMessage::from_frame(&frame) {
            Ok(ControlMessage::RelayReady) => {
                let leftover = self.inbuf.split().freeze();
                self.state = ConnectorState::Done;
                self.events.push_back(ConnectorEvent::Ready { leftover });
                Ok(())
            }
            Ok(ControlMessage::RelayClose { code, message }) => {
                self.finish_closed(code, message);
                Ok(())
            }
            Ok(other) => {
                let err = RelayHandshakeError::Unexpected(other.type_number());
                self.finish_closed(err.code(), err.to_string());
                Err(err)
            }
            Err(e) => {
                self.finish_closed(e.code(), e.to_string());
                Err(e.into())
            }
        }
    }

    /// Closes with `ready_timeout` when `Ready` has not arrived by the deadline.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let ConnectorState::AwaitReady { deadline } = self.state
            && now >= deadline
        {
            let code = ErrorCode::ReadyTimeout;
            self.finish_closed(code, code.sentence().to_owned());
        }
    }

    /// When `handle_timeout` must be called next, if at all.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            ConnectorState::AwaitReady { deadline } => Some(deadline),
            ConnectorState::Done => None,
        }
    }

    /// The next event for the driver.
    pub fn poll_event(&mut self) -> Option<ConnectorEvent> {
        self.events.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Frame;

    #[allow(clippy::disallowed_methods)] // a base for simulated time; nothing waits on it
    fn t0() -> Instant {
        Instant::now()
    }

    fn decode_one(bytes: &[u8]) -> ControlMessage {
        let (frame, used) = FrameDecoder::default()
            .decode_slice(bytes)
            .unwrap()
            .unwrap();
        assert_eq!(used, bytes.len());
        ControlMessage::from_frame(&frame).unwrap()
    }

    #[test]
    fn bind_accept_ready_with_leftover_both_ways() {
        let now = t0();
        let cfg = RelayHandshakeConfig::default();
        let mut client = RelayConnector::new(Side::Guest, Bytes::from_static(b"tkt"), cfg, now);
        let mut relay = RelayAcceptor::new(cfg, now);
        let mut bind = client.poll_transmit().unwrap().to_vec();
        assert_eq!(client.poll_transmit(), None);
        bind.extend_from_slice(b"early");
        // Byte by byte: the relay sees the bind only when the frame is complete.
        for b in &bind {
            relay.handle_bytes(&[*b]).unwrap();
        }
        assert_eq!(
            relay.poll_event(),
            Some(AcceptorEvent::Bind {
                side: Side::Guest,
                ticket: Bytes::from_static(b"tkt")
            })
        );
        assert_eq!(relay.poll_timeout(), None);
        relay.accept();
        assert!(relay.is_ready());
        assert_eq!(&relay.take_leftover()[..], b"early");
        let mut ready = relay.poll_transmit().unwrap().to_vec();
        ready.extend_from_slice(b"payload");
        client.handle_bytes(&ready).unwrap();
        assert_eq!(
            client.poll_event(),
            Some(ConnectorEvent::Ready {
                leftover: Bytes::from_static(b"payload")
            })
        );
        assert_eq!(client.poll_timeout(), None);
        assert_eq!(
            client.handle_bytes(b"x"),
            Err(RelayHandshakeError::Finished)
        );
    }

    #[test]
    fn refuse_reaches_the_client_as_closed() {
        let now = t0();
        let cfg = RelayHandshakeConfig::default();
        let mut client = RelayConnector::new(Side::Host, Bytes::from_static(b"t"), cfg, now);
        let mut relay = RelayAcceptor::new(cfg, now);
        relay
            .handle_bytes(&client.poll_transmit().unwrap())
            .unwrap();
        assert!(matches!(
            relay.poll_event(),
            Some(AcceptorEvent::Bind { .. })
        ));
        relay.refuse(ErrorCode::TicketExpired, "expired");
        assert!(relay.is_closed());
        client
            .handle_bytes(&relay.poll_transmit().unwrap())
            .unwrap();
        assert_eq!(
            client.poll_event(),
            Some(ConnectorEvent::Closed {
                code: ErrorCode::TicketExpired,
                message: "expired".into()
            })
        );
    }

    #[test]
    fn bind_timeout_without_sleeping() {
        let now = t0();
        let cfg = RelayHandshakeConfig {
            max_frame: 1024,
            bind_timeout: Duration::from_secs(5),
        };
        let mut relay = RelayAcceptor::new(cfg, now);
        assert_eq!(relay.poll_timeout(), Some(now + Duration::from_secs(5)));
        relay.handle_timeout(now + Duration::from_millis(4999));
        assert_eq!(relay.poll_event(), None);
        relay.handle_timeout(now + Duration::from_secs(5));
        assert_eq!(
            relay.poll_event(),
            Some(AcceptorEvent::Failed(ErrorCode::BindTimeout))
        );
        assert!(matches!(
            decode_one(&relay.poll_transmit().unwrap()),
            ControlMessage::RelayClose {
                code: ErrorCode::BindTimeout,
                ..
            }
        ));
        assert_eq!(relay.poll_timeout(), None);
    }

    #[test]
    fn garbage_and_wrong_messages_fail_with_codes() {
        let now = t0();
        let cfg = RelayHandshakeConfig::default();
        let mut relay = RelayAcceptor::new(cfg, now);
        assert!(relay.handle_bytes(b"GET / HTTP/1.1\r\n").is_err());
        assert_eq!(
            relay.poll_event(),
            Some(AcceptorEvent::Failed(ErrorCode::UnsupportedVersion))
        );
        assert!(relay.poll_transmit().is_some());

        let mut relay = RelayAcceptor::new(cfg, now);
        let ready = ControlMessage::RelayReady.to_frame().unwrap().to_bytes();
        assert_eq!(
            relay.handle_bytes(&ready),
            Err(RelayHandshakeError::Unexpected(0x0102))
        );
        assert_eq!(
            relay.poll_event(),
            Some(AcceptorEvent::Failed(ErrorCode::ProtocolViolation))
        );

        let mut relay = RelayAcceptor::new(cfg, now);
        let junk = Frame::new(
            crate::frame::FrameKind::Control,
            Bytes::from_static(&[0xee, 0xee]),
        );
        assert!(relay.handle_bytes(&junk.to_bytes()).is_err());
        assert_eq!(
            relay.poll_event(),
            Some(AcceptorEvent::Failed(ErrorCode::ProtocolViolation))
        );
        assert_eq!(
            relay.handle_bytes(b"more"),
            Err(RelayHandshakeError::Finished)
        );
    }

    #[test]
    fn leftover_is_capped_before_ready() {
        let now = t0();
        let cfg = RelayHandshakeConfig {
            max_frame: 64,
            bind_timeout: Duration::from_secs(1),
        };
        let mut relay = RelayAcceptor::new(cfg, now);
        let bind = ControlMessage::RelayBind {
            side: Side::Host,
            ticket: Bytes::new(),
        };
        relay
            .handle_bytes(&bind.to_frame().unwrap().to_bytes())
            .unwrap();
        relay.handle_bytes(&[0; 64]).unwrap();
        assert_eq!(
            relay.handle_bytes(&[0]),
            Err(RelayHandshakeError::LeftoverTooLarge)
        );
    }

    #[test]
    fn connector_ready_timeout() {
        let now = t0();
        let cfg = RelayHandshakeConfig {
            max_frame: 1024,
            bind_timeout: Duration::from_secs(3),
        };
        let mut client = RelayConnector::new(Side::Host, Bytes::new(), cfg, now);
        client.handle_timeout(now + Duration::from_secs(3));
        assert!(matches!(
            client.poll_event(),
            Some(ConnectorEvent::Closed {
                code: ErrorCode::ReadyTimeout,
                ..
            })
        ));
    }
}
