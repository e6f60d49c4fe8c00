//! The end-to-end Noise KK handshake over the relay pipe (the Guest initiates; the prologue
//! binds the session id, so a handshake only completes between the two parties of this
//! session holding the keys the broker announced).
//!
//! Bounded by [`HANDSHAKE_TIMEOUT`]. Bytes read past the last handshake message stay in the
//! caller's buffer for the transport. It does not send or accept any application data.

use std::time::Duration;

use bytes::BytesMut;
use switchboard_codec::noise::{NoiseHandshake, NoiseTransport};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::SessionPlan;
use crate::error::AgentError;

/// How long the whole handshake may take once the relay said `Ready`.
pub(super) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);

/// Runs the handshake on `stream`; `rbuf` holds bytes already read (the relay's leftover) and
/// keeps whatever follows the handshake.
pub(super) async fn handshake<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    rbuf: &mut BytesMut,
    plan: &SessionPlan,
) -> Result<NoiseTransport, AgentError> {
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, run(stream, rbuf, plan)).await {
        Ok(result) => result,
        Err(_) => Err(AgentError::Handshake(format!(
            "the peer did not complete the handshake within {} s",
            HANDSHAKE_TIMEOUT.as_secs()
        ))),
    }
}

async fn run<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    rbuf: &mut BytesMut,
    plan: &SessionPlan,
) -> Result<NoiseTransport, AgentError> {
    let noise_err = |e: switchboard_codec::noise::NoiseError| AgentError::Handshake(e.to_string());
    let mut hs = NoiseHandshake::for_side(
        plan.side,
        &plan.local_static.private,
        &plan.peer_static,
        plan.session_id,
    )
    .map_err(noise_err)?;
    let mut out = BytesMut::new();
    while !hs.is_finished() {
        if hs.is_my_turn() {
            out.clear();
            hs.write_message(&mut out).map_err(noise_err)?;
            stream
                .write_all(&out)
                .await
                .map_err(|e| AgentError::Handshake(format!("the pipe broke while sending: {e}")))?;
            continue;
        }
        if hs.read_message(rbuf).map_err(noise_err)? {
            continue;
        }
        rbuf.reserve(4 * 1024);
        let n = stream
            .read_buf(rbuf)
            .await
            .map_err(|e| AgentError::Handshake(format!("the pipe broke while reading: {e}")))?;
        if n == 0 {
            return Err(AgentError::Handshake(
                "the peer closed the pipe during the handshake: it did not accept our key or \
                 this session id (or the relay ended the pipe)"
                    .to_owned(),
            ));
        }
    }
    hs.into_transport().map_err(noise_err)
}
