//! The session driver: ONE task owns the relay pipe and the `SealedMux`; [`Session`] is the
//! cheap handle the application holds.
//!
//! The task reads ciphertext in large batches, feeds the mux, services channels whose stream
//! side changed (a small "dirty" list plus a `Notify`), acts on mux events, seals everything
//! the mux wants to send into one write buffer (bounded) and drives the mux timers (keep-alive
//! pings, peer timeout). Handles reach it through a bounded command queue. It does not decide
//! whether a tunnel is allowed (that is `tunnel.rs`) and never blocks on a stream: a stream
//! that does not read simply stops being pulled, so the peer runs out of window on that
//! channel only.
//!
//! Ending: the peer's goodbye (a `Control` channel opened with [`GOODBYE`]), the pipe ending
//! without one (relay), `Session::close` or dropping every handle (local), a Noise or mux
//! error. Every stream then fails with the reason, `closed()` resolves.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use parking_lot::Mutex;
use switchboard_codec::mux::{
    self, ChannelId, ChannelKind, CloseReason, MuxConfig, MuxEvent, MuxRole, Recv, SealedMux,
};
use switchboard_codec::{SessionId, Side};
use tokio::io::AsyncWriteExt;
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::pipe::{Pipe, PipeWriter};
use super::tunnel::{self, ChanState, INBOUND_CAP, TunnelStream};
use super::{HostPolicy, RelayTransport, SessionEnd};
use crate::error::AgentError;

/// Metadata of the `Control` channel a side opens to say it is ending the session.
pub(super) const GOODBYE: &[u8] = b"switchboard/goodbye";
/// How long a tunnel open may wait for the host's answer (its target connect is 10 s).
const OPEN_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the goodbye and the last bytes may take to leave when closing.
const CLOSE_FLUSH_TIMEOUT: Duration = Duration::from_secs(2);
/// Sealed bytes buffered for the socket before the driver stops asking the mux for more.
const WBUF_HIGH: usize = 512 * 1024;
/// Plaintext budget of one `poll_ciphertext`.
const POLL_BUDGET: usize = 256 * 1024;
/// Spare room kept in the read buffer at most (each read may fill this much).
const READ_CHUNK: usize = 256 * 1024;
/// Spare room of a new session's read buffer; it doubles (up to [`READ_CHUNK`]) while reads
/// fill it, so an idle session holds little and a busy one reads in large batches.
pub(super) const READ_START: usize = 2 * 1024;
/// Capacity of a new session's write buffer; it grows (up to about
/// `WBUF_HIGH + POLL_BUDGET`) only when a session sends that much at once.
const WRITE_START: usize = 2 * 1024;
/// Largest piece taken from the mux per `recv`.
const RECV_CHUNK: usize = 256 * 1024;
/// Queued commands (open, accept, refuse) per session.
const COMMAND_QUEUE: usize = 64;
/// Tunnel requests waiting for `serve_host` to decide.
const INCOMING_QUEUE: usize = 64;

/// The mux configuration of a session whose side reaches the relay over `transport`. Over
/// QUIC the keep-alive is sparser ([`mux::QUIC_KEEPALIVE_INTERVAL`]: the QUIC connection keeps
/// NAT bindings and notices a dead path itself, relay keep-alives every 20 s); over TCP the
/// 15 s default stays, as it is what keeps NAT state there. Each side pings when it has sent
/// nothing for its interval and the peer answers, so a side on TCP paired with one on QUIC
/// still hears from its peer within its own timeout.
pub(super) fn mux_config(side: Side, transport: &RelayTransport) -> MuxConfig {
    let mut cfg = MuxConfig::new(MuxRole::for_side(side));
    cfg.initial_window = 1024 * 1024;
    cfg.send_buffer = 256 * 1024;
    cfg.max_frame_payload = 60 * 1024;
    if let RelayTransport::Quic { .. } = transport {
        cfg.keepalive_interval = Some(mux::QUIC_KEEPALIVE_INTERVAL);
        cfg.peer_timeout = Some(mux::QUIC_PEER_TIMEOUT);
    }
    cfg
}

/// Channels whose stream side changed, and the `Notify` that wakes the driver.
#[derive(Debug, Default)]
pub(super) struct Wakeup {
    dirty: Mutex<Vec<ChannelId>>,
    notify: Notify,
}

impl Wakeup {
    /// Lists `channel` for servicing and wakes the driver.
    pub(super) fn push(&self, channel: ChannelId) {
        self.dirty.lock().push(channel);
        self.notify.notify_one();
    }

    fn take(&self) -> Vec<ChannelId> {
        std::mem::take(&mut *self.dirty.lock())
    }
}

/// A tunnel channel the peer asked for, waiting for the host's decision.
#[derive(Debug)]
pub(super) struct Incoming {
    pub(super) channel: ChannelId,
    pub(super) target: String,
}

type StreamReply = oneshot::Sender<Result<TunnelStream, AgentError>>;

enum Command {
    Open {
        target: String,
        reply: StreamReply,
    },
    Accept {
        channel: ChannelId,
        reply: StreamReply,
    },
    Refuse {
        channel: ChannelId,
        reason: CloseReason,
        message: String,
    },
}

struct Inner {
    id: SessionId,
    side: Side,
    commands: mpsc::Sender<Command>,
    cancel: CancellationToken,
    end: watch::Receiver<Option<SessionEnd>>,
    incoming: Mutex<Option<mpsc::Receiver<Incoming>>>,
    span: tracing::Span,
}

/// Handle to one session's driver task. Cheap to clone; the session is closed when `close()`
/// is called or every handle is dropped.
#[derive(Clone)]
pub struct Session {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.inner.id)
            .field("side", &self.inner.side)
            .field("end", &*self.inner.end.borrow())
            .finish_non_exhaustive()
    }
}

/// Starts the driver task for an established pipe; `rbuf` holds bytes already read.
pub(super) fn start(
    id: SessionId,
    side: Side,
    stream: Pipe,
    rbuf: BytesMut,
    sealed: SealedMux,
    span: tracing::Span,
) -> Session {
    let (commands, command_rx) = mpsc::channel(COMMAND_QUEUE);
    let (end_tx, end) = watch::channel(None);
    let cancel = CancellationToken::new();
    let (incoming_tx, incoming_rx) = match side {
        Side::Host => {
            let (tx, rx) = mpsc::channel(INCOMING_QUEUE);
            (Some(tx), Some(rx))
        }
        Side::Guest => (None, None),
    };
    let wakeup = Arc::new(Wakeup::default());
    let driver = Driver {
        sealed,
        entries: HashMap::new(),
        draining: Vec::new(),
        wakeup,
        incoming: incoming_tx,
        peer_goodbye: false,
    };
    let task_cancel = cancel.clone();
    tokio::spawn(
        async move {
            let end = driver.run(stream, rbuf, command_rx, task_cancel).await;
            tracing::info!(reason = %end, "session ended");
            let _ = end_tx.send(Some(end));
        }
        .instrument(span.clone()),
    );
    Session {
        inner: Arc::new(Inner {
            id,
            side,
            commands,
            cancel,
            end,
            incoming: Mutex::new(incoming_rx),
            span,
        }),
    }
}

impl Session {
    /// The session id.
    pub fn id(&self) -> SessionId {
        self.inner.id
    }

    /// Which end this is.
    pub fn side(&self) -> Side {
        self.inner.side
    }

    fn ended(&self) -> AgentError {
        let end = self.inner.end.borrow().clone();
        AgentError::SessionEnded(
            end.unwrap_or_else(|| SessionEnd::Failed("the session driver stopped".to_owned())),
        )
    }

    async fn command(&self, command: Command) -> Result<(), AgentError> {
        self.inner
            .commands
            .send(command)
            .await
            .map_err(|_| self.ended())
    }

    /// Guest: opens a tunnel stream to `target` (`host:port`, as the host resolves it).
    /// Waits (at most 20 s) for the host's answer; a refusal is
    /// [`AgentError::TunnelRefused`].
    pub async fn open_tunnel(&self, target: &str) -> Result<TunnelStream, AgentError> {
        let (reply, answer) = oneshot::channel();
        self.command(Command::Open {
            target: target.to_owned(),
            reply,
        })
        .await?;
        match tokio::time::timeout(OPEN_TIMEOUT, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(self.ended()),
            Err(_) => Err(AgentError::Session(format!(
                "the host did not answer the tunnel request to {target} within {} s",
                OPEN_TIMEOUT.as_secs()
            ))),
        }
    }

    /// Host: accepts a channel announced as `Incoming`.
    pub(super) async fn accept(&self, channel: ChannelId) -> Result<TunnelStream, AgentError> {
        let (reply, answer) = oneshot::channel();
        self.command(Command::Accept { channel, reply }).await?;
        answer.await.map_err(|_| self.ended())?
    }

    /// Host: refuses a channel announced as `Incoming`.
    pub(super) async fn refuse(&self, channel: ChannelId, reason: CloseReason, message: String) {
        let _ = self
            .command(Command::Refuse {
                channel,
                reason,
                message,
            })
            .await;
    }

    /// Guest: every TCP connection accepted on `listener` becomes a tunnel channel to
    /// `target`; a refusal closes that connection (and is logged), the listener goes on.
    /// Returns when the session ends.
    pub async fn forward_listener(
        &self,
        listener: tokio::net::TcpListener,
        target: String,
    ) -> Result<(), AgentError> {
        let target: Arc<str> = target.into();
        let mut tasks = JoinSet::new();
        let closed = self.closed();
        tokio::pin!(closed);
        loop {
            tokio::select! {
                _ = &mut closed => break,
                accepted = listener.accept() => match accepted {
                    Ok((socket, peer)) => {
                        let span = tracing::info_span!(
                            parent: &self.inner.span, "forward", %peer, target = %target
                        );
                        tasks.spawn(
                            tunnel::forward_one(self.clone(), socket, target.clone())
                                .instrument(span),
                        );
                    }
                    Err(e) => {
                        tracing::warn!(parent: &self.inner.span, error = %e, "accept on the tunnel listener failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            }
        }
        tasks.abort_all();
        Ok(())
    }

    /// Host: serves tunnel channels allowed by `policy` (tunnel permission in `granted` AND
    /// target in `allow`) until the session ends; returns why it ended. Only one `serve_host`
    /// per session.
    pub async fn serve_host(&self, policy: HostPolicy) -> Result<SessionEnd, AgentError> {
        let mut incoming = self.inner.incoming.lock().take().ok_or_else(|| {
            AgentError::Session(
                "serve_host is already running (or this is a guest session)".to_owned(),
            )
        })?;
        let policy = Arc::new(policy);
        let mut tasks = JoinSet::new();
        loop {
            tokio::select! {
                request = incoming.recv() => match request {
                    Some(request) => {
                        let span = tracing::info_span!(
                            parent: &self.inner.span,
                            "tunnel",
                            channel = request.channel.get(),
                            target = %request.target
                        );
                        tasks.spawn(
                            tunnel::serve_incoming(self.clone(), request, policy.clone())
                                .instrument(span),
                        );
                    }
                    None => break,
                },
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            }
        }
        let end = self.closed().await;
        tasks.abort_all();
        Ok(end)
    }

    /// Ends the session (e.g. the broker sent `SessionCancel`): the peer is told goodbye,
    /// every stream fails. Idempotent.
    pub fn close(&self) {
        self.inner.cancel.cancel();
    }

    /// Whether the session is over (see [`Session::closed`] for why).
    pub fn is_closed(&self) -> bool {
        self.inner.end.borrow().is_some()
    }

    /// Resolves when the session is over, with why.
    pub async fn closed(&self) -> SessionEnd {
        let mut end = self.inner.end.clone();
        let seen = end
            .wait_for(Option::is_some)
            .await
            .ok()
            .and_then(|v| v.clone());
        seen.or_else(|| end.borrow().clone())
            .unwrap_or_else(|| SessionEnd::Failed("the session driver stopped".to_owned()))
    }
}

/// One channel as the driver sees it.
struct Entry {
    state: Arc<Mutex<ChanState>>,
    /// Guest: the open is waiting for the host's answer.
    pending_open: Option<(String, StreamReply)>,
    eof_sent: bool,
    peer_eof: bool,
}

impl Entry {
    fn new(pending_open: Option<(String, StreamReply)>) -> Self {
        Self {
            state: Arc::new(Mutex::new(ChanState::default())),
            pending_open,
            eof_sent: false,
            peer_eof: false,
        }
    }
}

struct Driver {
    sealed: SealedMux,
    entries: HashMap<u32, Entry>,
    /// Dropped streams waiting for their last bytes to leave.
    draining: Vec<ChannelId>,
    wakeup: Arc<Wakeup>,
    /// Host: where tunnel requests go (`None` on a guest).
    incoming: Option<mpsc::Sender<Incoming>>,
    peer_goodbye: bool,
}

fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

impl Driver {
    async fn run(
        mut self,
        stream: Pipe,
        mut rbuf: BytesMut,
        mut commands: mpsc::Receiver<Command>,
        cancel: CancellationToken,
    ) -> SessionEnd {
        let (mut reader, mut writer) = stream.into_split();
        let mut wbuf = BytesMut::with_capacity(WRITE_START);
        let mut read_spare = READ_START;
        let wakeup = self.wakeup.clone();
        let end = loop {
            if let Err(end) = self.step(&mut rbuf, &mut wbuf) {
                break end;
            }
            if self.peer_goodbye {
                break SessionEnd::PeerClosed;
            }
            // Write what we can without waiting; the select below waits for the rest.
            while !wbuf.is_empty() {
                match writer.try_write(&wbuf) {
                    Ok(n) => wbuf.advance(n),
                    Err(_) => break,
                }
            }
            if rbuf.capacity() - rbuf.len() < read_spare / 4 {
                rbuf.reserve(read_spare);
            }
            let spare_before = rbuf.capacity() - rbuf.len();
            let deadline = self
                .sealed
                .mux()
                .poll_timeout()
                .map(tokio::time::Instant::from_std);
            tokio::select! {
                () = cancel.cancelled() => {
                    self.say_goodbye(&mut wbuf, &mut writer).await;
                    break SessionEnd::Cancelled;
                }
                command = commands.recv() => match command {
                    Some(command) => self.on_command(command),
                    None => {
                        self.say_goodbye(&mut wbuf, &mut writer).await;
                        break SessionEnd::Cancelled;
                    }
                },
                read = tokio::io::AsyncReadExt::read_buf(&mut reader, &mut rbuf) => match read {
                    Ok(0) => break SessionEnd::RelayClosed(
                        "the pipe ended without the peer saying goodbye".to_owned(),
                    ),
                    Ok(n) => {
                        if n >= spare_before / 2 && read_spare < READ_CHUNK {
                            read_spare = (read_spare * 2).min(READ_CHUNK);
                        }
                    }
                    Err(e) => break SessionEnd::RelayClosed(format!("reading the pipe: {e}")),
                },
                written = writer.write(&wbuf), if !wbuf.is_empty() => match written {
                    Ok(n) => wbuf.advance(n),
                    Err(e) => break SessionEnd::RelayClosed(format!("writing the pipe: {e}")),
                },
                () = wakeup.notify.notified() => {}
                () = sleep_until(deadline), if deadline.is_some() => {
                    if let Err(e) = self.sealed.mux().handle_timeout(now()) {
                        break SessionEnd::Failed(e.to_string());
                    }
                }
            }
        };
        self.finish(&end);
        end
    }

    /// Feeds read bytes, services dirty channels and events, seals what is due.
    fn step(&mut self, rbuf: &mut BytesMut, wbuf: &mut BytesMut) -> Result<(), SessionEnd> {
        let now = now();
        if !rbuf.is_empty() {
            self.sealed
                .handle_ciphertext(rbuf, now)
                .map_err(|e| SessionEnd::Failed(e.to_string()))?;
        }
        for channel in self.wakeup.take() {
            self.service(channel);
        }
        self.drain_events();
        for channel in std::mem::take(&mut self.draining) {
            self.service(channel);
        }
        while wbuf.len() < WBUF_HIGH && self.sealed.mux().wants_transmit() {
            let n = self
                .sealed
                .poll_ciphertext(wbuf, POLL_BUDGET, now)
                .map_err(|e| SessionEnd::Failed(e.to_string()))?;
            self.drain_events();
            if n == 0 {
                break;
            }
        }
        Ok(())
    }

    fn drain_events(&mut self) {
        while let Some(event) = self.sealed.mux().poll_event() {
            self.on_event(event);
        }
    }

    fn on_event(&mut self, event: MuxEvent) {
        match event {
            MuxEvent::OpenRequest {
                channel,
                kind,
                metadata,
            } => self.on_open_request(channel, kind, &metadata),
            MuxEvent::Opened { channel } => {
                let Some(entry) = self.entries.get_mut(&channel.get()) else {
                    return;
                };
                if let Some((_, reply)) = entry.pending_open.take() {
                    let stream =
                        TunnelStream::new(channel, entry.state.clone(), self.wakeup.clone());
                    // If the opener gave up, dropping the stream resets the channel.
                    drop(reply.send(Ok(stream)));
                }
            }
            MuxEvent::Readable { channel } | MuxEvent::Writable { channel } => {
                self.service(channel);
            }
            MuxEvent::Closed {
                channel,
                reason,
                message,
            } => {
                let Some(mut entry) = self.entries.remove(&channel.get()) else {
                    return;
                };
                if let Some((target, reply)) = entry.pending_open.take() {
                    tracing::info!(%target, reason = reason.name(), %message, "tunnel refused by the host");
                    let _ = reply.send(Err(AgentError::TunnelRefused {
                        target,
                        reason,
                        message,
                    }));
                } else {
                    let mut st = entry.state.lock();
                    st.reset = Some(format!(
                        "the peer closed the tunnel: {}: {message}",
                        reason.name()
                    ));
                    st.wake_reader();
                    st.wake_writer();
                }
            }
            MuxEvent::Pong { .. } => {}
        }
    }

    fn on_open_request(&mut self, channel: ChannelId, kind: ChannelKind, metadata: &[u8]) {
        if kind == ChannelKind::Control && metadata == GOODBYE {
            self.peer_goodbye = true;
            return;
        }
        let refusal = if kind != ChannelKind::Tunnel {
            Some((
                CloseReason::UnsupportedKind,
                format!("this peer does not serve {} channels", kind.name()),
            ))
        } else if let Some(incoming) = &self.incoming {
            match tunnel::target_from_metadata(metadata) {
                None => Some((
                    CloseReason::Refused,
                    "the tunnel target is not valid UTF-8 host:port".to_owned(),
                )),
                Some(target) => match incoming.try_send(Incoming { channel, target }) {
                    Ok(()) => None,
                    Err(mpsc::error::TrySendError::Full(_)) => Some((
                        CloseReason::Refused,
                        "the host is busy: too many tunnel requests waiting".to_owned(),
                    )),
                    Err(mpsc::error::TrySendError::Closed(_)) => Some((
                        CloseReason::Refused,
                        "the host is not serving tunnels".to_owned(),
                    )),
                },
            }
        } else {
            Some((
                CloseReason::Refused,
                "a guest does not accept tunnels".to_owned(),
            ))
        };
        if let Some((reason, message)) = refusal {
            let _ = self.sealed.mux().close(channel, reason, &message);
        }
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Open { target, reply } => {
                match self
                    .sealed
                    .mux()
                    .open(ChannelKind::Tunnel, target.as_bytes())
                {
                    Ok(channel) => {
                        self.entries
                            .insert(channel.get(), Entry::new(Some((target, reply))));
                    }
                    Err(e) => {
                        let _ = reply.send(Err(AgentError::Session(format!(
                            "cannot open a tunnel to {target}: {e}"
                        ))));
                    }
                }
            }
            Command::Accept { channel, reply } => match self.sealed.mux().accept(channel) {
                Ok(()) => {
                    let entry = Entry::new(None);
                    let stream =
                        TunnelStream::new(channel, entry.state.clone(), self.wakeup.clone());
                    self.entries.insert(channel.get(), entry);
                    drop(reply.send(Ok(stream)));
                }
                Err(e) => {
                    let _ = reply.send(Err(AgentError::Session(format!(
                        "the tunnel channel is gone: {e}"
                    ))));
                }
            },
            Command::Refuse {
                channel,
                reason,
                message,
            } => {
                let _ = self.sealed.mux().close(channel, reason, &message);
            }
        }
    }

    /// Moves one channel's bytes between its stream and the mux, and retires dropped streams.
    fn service(&mut self, channel: ChannelId) {
        let Some(entry) = self.entries.get_mut(&channel.get()) else {
            return;
        };
        if entry.pending_open.is_some() {
            return;
        }
        let mux = self.sealed.mux();
        let state = entry.state.clone();
        let mut st = state.lock();
        st.dirty = false;
        // Stream → mux.
        if !st.outbound.is_empty() {
            match mux.send(channel, &st.outbound) {
                Ok(n) => st.outbound.advance(n),
                Err(_) => st.outbound.clear(),
            }
        }
        if st.outbound.is_empty() && (st.shutdown || st.dropped) && !entry.eof_sent {
            let _ = mux.shutdown_write(channel);
            entry.eof_sent = true;
        }
        st.wake_writer();
        // Mux → stream, only while the stream's queue has room (this is the flow control).
        if st.dropped {
            st.inbound.clear();
            st.inbound_len = 0;
        }
        let mut delivered = false;
        while !entry.peer_eof {
            if !st.dropped && st.inbound_len >= INBOUND_CAP {
                st.pull_blocked = true;
                break;
            }
            match mux.recv(channel, RECV_CHUNK) {
                Ok(Recv::Data(data)) => {
                    if !st.dropped {
                        st.inbound_len = st.inbound_len.saturating_add(data.len());
                        st.inbound.push_back(data);
                        delivered = true;
                    }
                }
                Ok(Recv::Eof) => {
                    entry.peer_eof = true;
                    st.inbound_eof = true;
                    delivered = true;
                }
                Ok(Recv::Pending) | Err(_) => break,
            }
        }
        if delivered {
            st.wake_reader();
        }
        if !st.dropped {
            return;
        }
        let flushed = st.outbound.is_empty() && mux.buffered_outbound(channel).unwrap_or(0) == 0;
        drop(st);
        if entry.peer_eof && entry.eof_sent {
            self.entries.remove(&channel.get());
        } else if flushed {
            let _ = mux.close(
                channel,
                CloseReason::Aborted,
                "the other end of the tunnel closed before the data was read",
            );
            self.entries.remove(&channel.get());
        } else {
            self.draining.push(channel);
        }
    }

    /// Closing locally: tells the peer goodbye and flushes, bounded.
    async fn say_goodbye(&mut self, wbuf: &mut BytesMut, writer: &mut PipeWriter) {
        let now = now();
        if self
            .sealed
            .mux()
            .open(ChannelKind::Control, GOODBYE)
            .is_ok()
        {
            for _ in 0..64 {
                if !self.sealed.mux().wants_transmit() {
                    break;
                }
                match self.sealed.poll_ciphertext(wbuf, POLL_BUDGET, now) {
                    Ok(n) if n > 0 => {}
                    _ => break,
                }
            }
        }
        let flush = async {
            writer.write_all(wbuf).await?;
            writer.shutdown().await?;
            writer.finish().await;
            Ok::<_, std::io::Error>(())
        };
        let _ = tokio::time::timeout(CLOSE_FLUSH_TIMEOUT, flush).await;
    }

    /// The session is over: every stream and pending open learns why.
    fn finish(&mut self, end: &SessionEnd) {
        self.incoming = None;
        for (_, mut entry) in self.entries.drain() {
            if let Some((_, reply)) = entry.pending_open.take() {
                let _ = reply.send(Err(AgentError::SessionEnded(end.clone())));
                continue;
            }
            let mut st = entry.state.lock();
            st.reset = Some(format!("the session ended: {end}"));
            st.wake_reader();
            st.wake_writer();
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
