//! One end-to-end session between a Host and a Guest, and the TCP tunnels it carries.
//!
//! [`establish`] binds at the relay with the broker's ticket (`relay.rs`, over TCP or, with
//! [`establish_via`] and a [`RelayTransport::Quic`], over QUIC through a process-wide
//! [`QuicDialer`]: `quic.rs`, `pipe.rs`), runs the Noise KK handshake over the relay pipe
//! (`e2e.rs`, the Guest initiates, the session id is bound in the prologue), then hands the
//! pipe and a `SealedMux` to ONE driver task (`driver.rs`). The
//! [`Session`] handle and every [`TunnelStream`] talk to that task through bounded queues; flow
//! control is the mux's per-channel window, granted back only as a stream's reader consumes,
//! so one stalled stream does not stall the others. `tunnel.rs` has the host side (allow-list
//! and permission checks, target connect, two-way pump with half-close) and the guest side
//! (`open_tunnel`, `forward_listener`); `allow.rs` the [`AllowList`].
//!
//! It does not talk to the broker (the caller brings a [`SessionPlan`] from a
//! `RelayAssignment`) and it never trusts the relay: past the handshake every byte is sealed.

mod allow;
pub(crate) mod driver;
mod e2e;
mod pipe;
mod quic;
mod relay;
mod tunnel;

use std::fmt;
use std::net::SocketAddr;

use bytes::Bytes;
use switchboard_codec::mux::{Mux, SealedMux};
use switchboard_codec::noise::StaticKeypair;
use switchboard_codec::{PermissionSet, SessionId, Side};
use tracing::Instrument;

pub use allow::{AllowEntry, AllowList};
pub use driver::Session;
pub use quic::{QuicDialer, RELAY_ALPN};
pub use tunnel::TunnelStream;

use crate::error::AgentError;

/// What the broker told this side about one session (from `RelayAssignment`).
#[derive(Clone)]
pub struct SessionPlan {
    /// The session.
    pub session_id: SessionId,
    /// Which end this is (the Guest initiates the Noise handshake).
    pub side: Side,
    /// The relay's `host:port`.
    pub relay_addr: String,
    /// The signed ticket for this side.
    pub ticket: Bytes,
    /// This side's X25519 static key pair.
    pub local_static: StaticKeypair,
    /// The peer's X25519 static public key, as the broker announced it.
    pub peer_static: [u8; 32],
}

impl fmt::Debug for SessionPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionPlan")
            .field("session_id", &self.session_id)
            .field("side", &self.side)
            .field("relay_addr", &self.relay_addr)
            .field("ticket_len", &self.ticket.len())
            .field("local_static", &self.local_static)
            .finish_non_exhaustive()
    }
}

/// How this side reaches the relay. Each side chooses on its own: the relay pairs a TCP side
/// with a QUIC side of the same session.
#[derive(Clone, Debug, Default)]
pub enum RelayTransport {
    /// TCP to the assignment's `relay_addr` (one socket per session).
    #[default]
    Tcp,
    /// QUIC (UDP) through `dialer`, whose one socket carries every session of the process.
    Quic {
        /// The shared client endpoint.
        dialer: QuicDialer,
        /// The relay's QUIC address, when it is not the assignment's `host:port` (UDP on the
        /// same port as the TCP listener otherwise).
        addr: Option<SocketAddr>,
    },
}

impl RelayTransport {
    /// QUIC through `dialer` at the assignment's `host:port`.
    pub fn quic(dialer: QuicDialer) -> Self {
        Self::Quic { dialer, addr: None }
    }

    /// `tcp` or `quic`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Quic { .. } => "quic",
        }
    }
}

/// The transport [`establish`] uses: a process setting (like a proxy), set once at start by
/// a program whose sessions should reach relays over QUIC (the loadgen's `--relay-quic`), so
/// code that calls `establish` (the host loop, the guest commands) follows it unchanged.
static DEFAULT_TRANSPORT: parking_lot::RwLock<RelayTransport> =
    parking_lot::RwLock::new(RelayTransport::Tcp);

/// Sets the transport [`establish`] uses from now on in this process (default TCP). A QUIC
/// dialer must have been created on the runtime the sessions run on.
pub fn set_default_relay_transport(transport: RelayTransport) {
    *DEFAULT_TRANSPORT.write() = transport;
}

/// The transport [`establish`] uses now.
pub fn default_relay_transport() -> RelayTransport {
    DEFAULT_TRANSPORT.read().clone()
}

/// What a Host lets the Guest do: tunnels need `Permission::Tunnel` in `granted` AND the
/// target in `allow`.
#[derive(Clone, Debug, Default)]
pub struct HostPolicy {
    /// Targets tunnels may reach.
    pub allow: AllowList,
    /// The permissions the broker granted for this session.
    pub granted: PermissionSet,
}

/// Why a session ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionEnd {
    /// The peer ended the session (it said goodbye, or closed its end of the pipe).
    PeerClosed,
    /// The relay ended the pipe without the peer saying goodbye (relay restart, idle
    /// timeout, network loss).
    RelayClosed(String),
    /// This side closed it (`Session::close`, e.g. the broker sent `SessionCancel`).
    Cancelled,
    /// The end-to-end channel failed: a Noise or mux error, or the peer stopped answering.
    Failed(String),
}

impl fmt::Display for SessionEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PeerClosed => f.write_str("the peer closed the session"),
            Self::RelayClosed(why) => write!(f, "the relay connection ended: {why}"),
            Self::Cancelled => f.write_str("closed locally"),
            Self::Failed(why) => write!(f, "the end-to-end channel failed: {why}"),
        }
    }
}

/// Binds at the relay (over the process's [`default_relay_transport`], TCP unless set), runs
/// the end-to-end handshake and starts the session's driver task.
///
/// Every wait is bounded: connect 10 s, relay `Ready` 30 s (the peer must bind too),
/// handshake 15 s. A relay refusal, a wrong peer key or a different session id ends here with
/// a clear error and no application data exchanged.
pub async fn establish(plan: SessionPlan) -> Result<Session, AgentError> {
    establish_via(plan, &default_relay_transport()).await
}

/// [`establish`] reaching the relay over `transport` (TCP or QUIC).
pub async fn establish_via(
    plan: SessionPlan,
    transport: &RelayTransport,
) -> Result<Session, AgentError> {
    let cfg = driver::mux_config(plan.side, transport);
    establish_with(plan, transport, cfg).await
}

/// [`establish_via`] with an explicit mux configuration (tests shorten the keep-alive timers).
pub(crate) async fn establish_with(
    plan: SessionPlan,
    transport: &RelayTransport,
    mux_config: switchboard_codec::mux::MuxConfig,
) -> Result<Session, AgentError> {
    let span = tracing::info_span!(
        "session",
        session_id = %plan.session_id,
        side = ?plan.side,
        relay_transport = transport.name()
    );
    let setup = async {
        let (mut stream, mut rbuf) = relay::bind(&plan, transport).await?;
        tracing::debug!(pipe = stream.kind(), "paired at the relay");
        let transport = e2e::handshake(&mut stream, &mut rbuf, &plan).await?;
        let mux = Mux::new(mux_config, tokio::time::Instant::now().into_std())
            .map_err(|e| AgentError::Session(format!("mux configuration: {e}")))?;
        tracing::info!("session established");
        Ok((stream, rbuf, SealedMux::new(transport, mux)))
    };
    let (stream, rbuf, sealed) = setup.instrument(span.clone()).await.inspect_err(|e| {
        tracing::info!(parent: &span, error = %e, "session setup failed");
    })?;
    Ok(driver::start(
        plan.session_id,
        plan.side,
        stream,
        rbuf,
        sealed,
        span,
    ))
}

#[cfg(test)]
mod tests;
