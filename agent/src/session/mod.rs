//! One end-to-end session between a Host and a Guest, and the TCP tunnels it carries.
//!
//! [`establish`] binds at the relay with the broker's ticket (`relay.rs`), runs the Noise KK
//! handshake over the relay pipe (`e2e.rs`, the Guest initiates, the session id is bound in
//! the prologue), then hands the pipe and a `SealedMux` to ONE driver task (`driver.rs`). The
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
mod relay;
mod tunnel;

use std::fmt;

use bytes::Bytes;
use switchboard_codec::mux::{Mux, SealedMux};
use switchboard_codec::noise::StaticKeypair;
use switchboard_codec::{PermissionSet, SessionId, Side};
use tracing::Instrument;

pub use allow::{AllowEntry, AllowList};
pub use driver::Session;
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

/// Binds at the relay, runs the end-to-end handshake and starts the session's driver task.
///
/// Every wait is bounded: connect 10 s, relay `Ready` 30 s (the peer must bind too),
/// handshake 15 s. A relay refusal, a wrong peer key or a different session id ends here with
/// a clear error and no application data exchanged.
pub async fn establish(plan: SessionPlan) -> Result<Session, AgentError> {
    let cfg = driver::mux_config(plan.side);
    establish_with(plan, cfg).await
}

/// [`establish`] with an explicit mux configuration (tests shorten the keep-alive timers).
pub(crate) async fn establish_with(
    plan: SessionPlan,
    mux_config: switchboard_codec::mux::MuxConfig,
) -> Result<Session, AgentError> {
    let span = tracing::info_span!("session", session_id = %plan.session_id, side = ?plan.side);
    let setup = async {
        let (mut stream, mut rbuf) = relay::bind(&plan).await?;
        tracing::debug!("paired at the relay");
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
