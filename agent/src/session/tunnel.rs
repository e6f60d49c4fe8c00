//! [`TunnelStream`] (one tunnel channel as `AsyncRead + AsyncWrite`) and the two ends of a
//! tunnel: the host side (policy check, bounded target connect, two-way pump with half-close)
//! and the guest side (forwarding a local listener).
//!
//! A stream never touches the mux: it exchanges bytes with the driver through a small shared
//! state per channel (bounded inbound and outbound queues plus wakers). The driver pulls from
//! the mux — and so grants the peer window credit — only while the inbound queue has room,
//! i.e. only as fast as this stream's reader consumes.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use parking_lot::Mutex;
use switchboard_codec::Permission;
use switchboard_codec::mux::{ChannelId, CloseReason};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

use super::HostPolicy;
use super::driver::{Incoming, Session, Wakeup};

/// Bytes the driver queues for a stream's reader before it stops pulling from the mux.
pub(super) const INBOUND_CAP: usize = 256 * 1024;
/// Bytes a stream's writer may queue before `poll_write` waits for the driver.
pub(super) const OUTBOUND_CAP: usize = 256 * 1024;
/// How long the host may take to connect a tunnel target.
pub(super) const TARGET_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Copy buffer of the pumps.
const PUMP_BUF: usize = 64 * 1024;

/// The state one channel's stream and the driver share (never locked across an await).
#[derive(Debug, Default)]
pub(super) struct ChanState {
    /// Driver → stream: data in order.
    pub(super) inbound: VecDeque<Bytes>,
    pub(super) inbound_len: usize,
    /// The peer sent Eof and all data before it is in `inbound`.
    pub(super) inbound_eof: bool,
    /// The driver stopped pulling because `inbound` was full.
    pub(super) pull_blocked: bool,
    /// The channel is gone (peer reset, session over): the sentence for the error.
    pub(super) reset: Option<String>,
    pub(super) read_waker: Option<Waker>,
    /// Stream → driver: bytes to send.
    pub(super) outbound: BytesMut,
    /// The stream asked for EOF (after `outbound`).
    pub(super) shutdown: bool,
    /// The stream was dropped.
    pub(super) dropped: bool,
    pub(super) write_waker: Option<Waker>,
    /// Already listed in the driver's dirty list.
    pub(super) dirty: bool,
}

impl ChanState {
    pub(super) fn wake_reader(&mut self) {
        if let Some(w) = self.read_waker.take() {
            w.wake();
        }
    }

    pub(super) fn wake_writer(&mut self) {
        if let Some(w) = self.write_waker.take() {
            w.wake();
        }
    }
}

/// One tunnel channel as a byte stream. `shutdown()` sends EOF to the peer (half-close; reading
/// goes on); dropping it before the peer finished resets the channel.
pub struct TunnelStream {
    channel: ChannelId,
    state: Arc<Mutex<ChanState>>,
    wakeup: Arc<Wakeup>,
}

impl std::fmt::Debug for TunnelStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TunnelStream")
            .field("channel", &self.channel.get())
            .finish_non_exhaustive()
    }
}

impl TunnelStream {
    pub(super) fn new(
        channel: ChannelId,
        state: Arc<Mutex<ChanState>>,
        wakeup: Arc<Wakeup>,
    ) -> Self {
        Self {
            channel,
            state,
            wakeup,
        }
    }

    /// The mux channel id (for logs).
    pub fn channel_id(&self) -> u32 {
        self.channel.get()
    }

    fn mark_dirty(&self, st: &mut ChanState) {
        if !st.dirty {
            st.dirty = true;
            self.wakeup.push(self.channel);
        }
    }
}

impl AsyncRead for TunnelStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let mut st = this.state.lock();
        if st.inbound.is_empty() {
            if st.inbound_eof {
                return Poll::Ready(Ok(()));
            }
            if let Some(why) = &st.reset {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::ConnectionReset,
                    why.clone(),
                )));
            }
            st.read_waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        while buf.remaining() > 0 {
            let Some(front) = st.inbound.front_mut() else {
                break;
            };
            let n = front.len().min(buf.remaining());
            buf.put_slice(front.get(..n).unwrap_or_default());
            front.advance(n);
            if front.is_empty() {
                st.inbound.pop_front();
            }
            st.inbound_len = st.inbound_len.saturating_sub(n);
        }
        if st.pull_blocked && st.inbound_len <= INBOUND_CAP / 2 {
            st.pull_blocked = false;
            this.mark_dirty(&mut st);
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for TunnelStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let mut st = this.state.lock();
        if let Some(why) = &st.reset {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::BrokenPipe, why.clone())));
        }
        if st.shutdown {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the tunnel's write side was shut down",
            )));
        }
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let room = OUTBOUND_CAP.saturating_sub(st.outbound.len());
        if room == 0 {
            st.write_waker = Some(cx.waker().clone());
            this.mark_dirty(&mut st);
            return Poll::Pending;
        }
        let n = room.min(data.len());
        st.outbound
            .extend_from_slice(data.get(..n).unwrap_or_default());
        this.mark_dirty(&mut st);
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let mut st = this.state.lock();
        if st.outbound.is_empty() {
            return Poll::Ready(Ok(()));
        }
        if let Some(why) = &st.reset {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::BrokenPipe, why.clone())));
        }
        st.write_waker = Some(cx.waker().clone());
        this.mark_dirty(&mut st);
        Poll::Pending
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let mut st = this.state.lock();
        if !st.shutdown {
            st.shutdown = true;
            this.mark_dirty(&mut st);
        }
        Poll::Ready(Ok(()))
    }
}

impl Drop for TunnelStream {
    fn drop(&mut self) {
        let mut st = self.state.lock();
        st.dropped = true;
        st.read_waker = None;
        st.write_waker = None;
        self.mark_dirty(&mut st);
    }
}

// ---- both ends: the pump -------------------------------------------------------------------

/// Copies `tcp` ⇄ `tunnel` until both directions ended. EOF one way becomes a half-close the
/// other way (which keeps flowing); an error either way ends both.
pub(super) async fn pump(tcp: TcpStream, tunnel: TunnelStream) -> io::Result<(u64, u64)> {
    let (mut tcp_r, mut tcp_w) = tcp.into_split();
    let (mut tun_r, mut tun_w) = tokio::io::split(tunnel);
    let up = async {
        let n = copy(&mut tcp_r, &mut tun_w).await?;
        tun_w.shutdown().await?;
        io::Result::Ok(n)
    };
    let down = async {
        let n = copy(&mut tun_r, &mut tcp_w).await?;
        tcp_w.shutdown().await?;
        io::Result::Ok(n)
    };
    tokio::try_join!(up, down)
}

async fn copy<R, W>(r: &mut R, w: &mut W) -> io::Result<u64>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0_u8; PUMP_BUF];
    let mut total = 0_u64;
    loop {
        let n = r.read(&mut buf).await?;
        if n == 0 {
            return Ok(total);
        }
        w.write_all(buf.get(..n).unwrap_or_default()).await?;
        total = total.saturating_add(u64::try_from(n).unwrap_or(u64::MAX));
    }
}

// ---- host side -----------------------------------------------------------------------------

/// Decides one incoming tunnel channel and, if accepted, pumps it until it ends.
pub(super) async fn serve_incoming(session: Session, incoming: Incoming, policy: Arc<HostPolicy>) {
    let Incoming { channel, target } = incoming;
    if !policy.granted.contains(Permission::Tunnel) {
        tracing::info!("refused: the session was not granted the tunnel permission");
        session
            .refuse(
                channel,
                CloseReason::NotPermitted,
                format!("this session was not granted the tunnel permission (target {target})"),
            )
            .await;
        return;
    }
    if !policy.allow.allows(&target) {
        tracing::info!("refused: target not in the allow list");
        session
            .refuse(
                channel,
                CloseReason::Refused,
                format!("the target {target} is not in this host's allow list"),
            )
            .await;
        return;
    }
    let tcp = match tokio::time::timeout(TARGET_CONNECT_TIMEOUT, TcpStream::connect(&target)).await
    {
        Ok(Ok(tcp)) => tcp,
        Ok(Err(e)) => {
            tracing::info!(error = %e, "target connect failed");
            session
                .refuse(
                    channel,
                    CloseReason::ConnectFailed,
                    format!("the host could not connect to {target}: {e}"),
                )
                .await;
            return;
        }
        Err(_) => {
            tracing::info!("target connect timed out");
            session
                .refuse(
                    channel,
                    CloseReason::ConnectFailed,
                    format!(
                        "the host could not connect to {target} within {} s",
                        TARGET_CONNECT_TIMEOUT.as_secs()
                    ),
                )
                .await;
            return;
        }
    };
    let _ = tcp.set_nodelay(true);
    let stream = match session.accept(channel).await {
        Ok(stream) => stream,
        Err(e) => {
            tracing::info!(error = %e, "accept failed");
            return;
        }
    };
    tracing::debug!("tunnel open");
    match pump(tcp, stream).await {
        Ok((up, down)) => {
            tracing::debug!(to_guest = up, to_target = down, "tunnel ended");
        }
        Err(e) => tracing::debug!(error = %e, "tunnel ended with an error"),
    }
}

// ---- guest side ----------------------------------------------------------------------------

/// Opens a tunnel for one accepted local connection and pumps it; a refusal closes the local
/// connection and logs why.
pub(super) async fn forward_one(session: Session, local: TcpStream, target: Arc<str>) {
    let _ = local.set_nodelay(true);
    let peer = local.peer_addr().map(|a| a.to_string()).unwrap_or_default();
    match session.open_tunnel(&target).await {
        Ok(stream) => {
            let channel = stream.channel_id();
            match pump(local, stream).await {
                Ok((up, down)) => tracing::debug!(
                    channel, %peer, to_host = up, to_local = down, "forwarded connection ended"
                ),
                Err(e) => {
                    tracing::debug!(channel, %peer, error = %e, "forwarded connection ended with an error")
                }
            }
        }
        Err(e) => {
            tracing::warn!(%peer, target = %target, "tunnel refused: {e}");
        }
    }
}

/// Reads the peer's tunnel target from channel metadata.
pub(super) fn target_from_metadata(metadata: &[u8]) -> Option<String> {
    std::str::from_utf8(metadata)
        .ok()
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_must_be_utf8() {
        assert_eq!(
            target_from_metadata(b"127.0.0.1:22").as_deref(),
            Some("127.0.0.1:22")
        );
        assert_eq!(target_from_metadata(&[0xff, 0xfe]), None);
        assert_eq!(target_from_metadata(b""), None);
    }
}
