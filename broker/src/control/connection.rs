//! One control connection, from the first byte to close.
//!
//! The codec's `ControlAcceptor` does the framing and the handshake; this driver feeds it the
//! socket's bytes with tokio time, answers its questions (device key, access token,
//! enrollment, OnDemand key) from the directory, the token store and the hub, and writes what
//! it queues. After the handshake the reader loop feeds decoded messages to the hub and moves
//! the hub's messages (a bounded `mpsc` of `ControlMessage`, the writer the actors hold) into
//! the acceptor; a separate writer task owns the socket's write half behind a bounded queue of
//! encoded frames, so a slow client is disconnected rather than buffered without end.
//!
//! The whole handshake is bounded by the acceptor's `auth_timeout` (plus a guard around the
//! driver's own lookups); idle connections fail with `idle_timeout`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use switchboard_actors::{DeviceConnection, DeviceRef, GuestRegistration, HostState};
use switchboard_codec::{
    ControlAcceptor, ControlAcceptorEvent, ControlMessage, ControlPeer, DeviceId, ErrorCode,
    TenantId,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, WriteHalf};
use tokio::sync::mpsc;

use super::ControlContext;
use super::guest::{self, Guest};
use super::host;
use super::ondemand::{self, AgentSessions};
use crate::metrics as m;

/// Bytes read from the socket at once.
const READ_CHUNK: usize = 16 * 1024;
/// A single socket write may take this long before the client counts as stuck.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Queued frames joined into one write, at most this many bytes (then the next write).
const WRITE_BATCH: usize = 16 * 1024;
/// After close, the writer has this long to flush the last frames (an `Error`).
const CLOSE_FLUSH: Duration = Duration::from_secs(2);

fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

/// Who the connection turned out to be.
enum Role {
    Host {
        device: DeviceId,
        dev: DeviceRef,
    },
    Guest {
        guest: Guest,
        tx: mpsc::Sender<ControlMessage>,
        /// Lets the hub close the connection when the account is disabled or removed.
        _registration: GuestRegistration,
    },
    Agent(AgentSessions),
}

/// What the handshake left behind.
struct Handshake {
    /// Which hello arrived (a metric label).
    kind: &'static str,
    /// Why the acceptor failed, if it did.
    failed: Option<ErrorCode>,
    /// An enrollment was answered.
    finished: bool,
    peer: Option<ControlPeer>,
    device_tenant: Option<TenantId>,
    guest: Option<Guest>,
    early: Vec<ControlMessage>,
}

/// Serves one (TLS) control connection until it closes.
pub async fn serve_connection<S>(stream: S, peer: SocketAddr, ctx: Arc<ControlContext>)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut rd, wr) = tokio::io::split(stream);
    let (wtx, wrx) = mpsc::channel::<Bytes>(ctx.writer_queue.max(1));
    let writer = tokio::spawn(write_loop(wr, wrx));
    let mut challenge = [0u8; 32];
    if getrandom::fill(&mut challenge).is_err() {
        tracing::error!("no randomness for a control challenge");
        return;
    }
    let mut acc = ControlAcceptor::new(ctx.codec, challenge, now());
    let (tx, rx) = mpsc::channel::<ControlMessage>(ctx.writer_queue.max(1));
    // The acceptor's own deadline covers the handshake; this guard also covers a lookup that
    // hangs (a directory that stopped answering).
    let guard = ctx.codec.auth_timeout + Duration::from_secs(1);
    let hs = tokio::time::timeout(guard, handshake(&mut rd, &mut acc, &wtx, &ctx, &tx)).await;
    match hs {
        Ok(Some(hs)) => {
            if let Some(role) = establish(&ctx, &mut acc, &wtx, hs.clone_parts(), tx).await {
                tracing::debug!(%peer, "control connection established");
                established(&mut rd, &mut acc, &wtx, &ctx, role, rx, hs.early).await;
            }
        }
        Ok(None) => {}
        Err(_) => {
            let code = ErrorCode::HandshakeTimeout;
            count_handshake("unknown", code.name());
            acc.close(code, code.sentence());
            flush(&mut acc, &wtx);
        }
    }
    drop(wtx);
    let _ = tokio::time::timeout(CLOSE_FLUSH, writer).await;
    tracing::debug!(%peer, "control connection closed");
}

impl Handshake {
    fn clone_parts(&self) -> (Option<ControlPeer>, Option<TenantId>, Option<Guest>) {
        (self.peer, self.device_tenant, self.guest.clone())
    }
}

/// Runs the handshake; `Some` once established, `None` when it failed or finished
/// (enrollment).
async fn handshake<R: AsyncRead + Unpin>(
    rd: &mut R,
    acc: &mut ControlAcceptor,
    wtx: &mpsc::Sender<Bytes>,
    ctx: &ControlContext,
    tx: &mpsc::Sender<ControlMessage>,
) -> Option<Handshake> {
    let mut hs = Handshake {
        kind: "unknown",
        failed: None,
        finished: false,
        peer: None,
        device_tenant: None,
        guest: None,
        early: Vec::new(),
    };
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        while let Some(ev) = acc.poll_event() {
            answer(ctx, acc, tx, &mut hs, ev).await;
        }
        if hs.peer.is_some() {
            // `Welcome` waits in the acceptor until the role is set up (a Host's device actor
            // is registered before the Host hears it is connected).
            count_handshake(hs.kind, "ok");
            return Some(hs);
        }
        for b in std::iter::from_fn(|| acc.poll_transmit()) {
            if wtx.send(b).await.is_err() {
                count_handshake(hs.kind, "closed");
                return None;
            }
        }
        if acc.is_closed() {
            let outcome = match (hs.finished, hs.failed) {
                (true, _) => "ok",
                (false, Some(code)) => code.name(),
                (false, None) => "closed",
            };
            count_handshake(hs.kind, outcome);
            return None;
        }
        let deadline = acc.poll_timeout().map(tokio::time::Instant::from_std);
        tokio::select! {
            r = rd.read(&mut buf) => match r {
                Ok(0) | Err(_) => {
                    count_handshake(hs.kind, "closed");
                    return None;
                }
                Ok(n) => {
                    let chunk = buf.get(..n).unwrap_or_default();
                    // A violation queues an Error and closes; the loop flushes it.
                    let _ = acc.handle_bytes(chunk, now());
                }
            },
            () = sleep_until(deadline) => acc.handle_timeout(now()),
        }
    }
}

fn count_handshake(peer: &'static str, outcome: &'static str) {
    metrics::counter!(m::CONTROL_HANDSHAKES_TOTAL, m::LABEL_PEER => peer, m::LABEL_OUTCOME => outcome)
        .increment(1);
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Answers one handshake question.
async fn answer(
    ctx: &ControlContext,
    acc: &mut ControlAcceptor,
    tx: &mpsc::Sender<ControlMessage>,
    hs: &mut Handshake,
    ev: ControlAcceptorEvent,
) {
    let dir = ctx.hub.directory();
    match ev {
        ControlAcceptorEvent::DeviceHello {
            device_id,
            credential,
            query,
            ..
        } => {
            hs.kind = "host";
            let r = host::device_key(dir, device_id, &credential).await;
            if let Ok((tenant, _)) = &r {
                hs.device_tenant = Some(*tenant);
            }
            acc.handle_device_key(query, r.map(|(_, key)| key));
        }
        ControlAcceptorEvent::GuestHello {
            access_token,
            query,
            ..
        } => {
            hs.kind = "guest";
            let r = guest::check_token(&ctx.admin, &access_token).await;
            let verdict = r.as_ref().map(|_| ()).map_err(|c| *c);
            hs.guest = r.ok();
            acc.handle_guest_token(query, verdict, now());
        }
        ControlAcceptorEvent::EnrollRequest { request, query } => {
            hs.kind = "enroll";
            let r = host::enroll(dir, &request).await;
            acc.handle_enrollment(query, r);
        }
        ControlAcceptorEvent::OnDemandJoin { join, query } => {
            hs.kind = "ondemand";
            let r = ondemand::join(&ctx.hub, &join, tx.clone()).await;
            acc.handle_ondemand_join(query, r.map(|_| ()), now());
        }
        ControlAcceptorEvent::Established { peer } => hs.peer = Some(peer),
        ControlAcceptorEvent::Message(m) => hs.early.push(m),
        ControlAcceptorEvent::Finished => hs.finished = true,
        ControlAcceptorEvent::Failed(code) => hs.failed = Some(code),
    }
}

/// Turns an authenticated peer into its role (a Host's device actor is started here).
async fn establish(
    ctx: &ControlContext,
    acc: &mut ControlAcceptor,
    wtx: &mpsc::Sender<Bytes>,
    (peer, tenant, guest): (Option<ControlPeer>, Option<TenantId>, Option<Guest>),
    tx: mpsc::Sender<ControlMessage>,
) -> Option<Role> {
    match (peer?, tenant, guest) {
        (ControlPeer::Device { device_id }, Some(tenant), _) => {
            let conn = DeviceConnection {
                tenant,
                device: device_id,
                tx: tx.clone(),
                host_state: HostState::default(),
            };
            match ctx.hub.connect_device(conn).await {
                Ok(dev) => Some(Role::Host {
                    device: device_id,
                    dev,
                }),
                Err(e) => {
                    let code = e.code();
                    acc.close(code, code.sentence());
                    flush(acc, wtx);
                    None
                }
            }
        }
        (ControlPeer::Guest, _, Some(guest)) => {
            match ctx
                .hub
                .connect_guest(guest.tenant, guest.user, tx.clone())
                .await
            {
                Ok(registration) => Some(Role::Guest {
                    guest,
                    tx,
                    _registration: registration,
                }),
                Err(e) => {
                    let code = e.code();
                    acc.close(code, code.sentence());
                    flush(acc, wtx);
                    None
                }
            }
        }
        (ControlPeer::OnDemand { .. }, _, _) => Some(Role::Agent(AgentSessions::default())),
        _ => {
            let code = ErrorCode::Internal;
            acc.close(code, code.sentence());
            flush(acc, wtx);
            None
        }
    }
}

/// Moves the acceptor's queued frames to the writer; false when the writer is gone or full
/// (a client that does not read is disconnected).
fn flush(acc: &mut ControlAcceptor, wtx: &mpsc::Sender<Bytes>) -> bool {
    while let Some(b) = acc.poll_transmit() {
        if wtx.try_send(b).is_err() {
            return false;
        }
    }
    true
}

/// The reader loop after the handshake.
async fn established<R: AsyncRead + Unpin>(
    rd: &mut R,
    acc: &mut ControlAcceptor,
    wtx: &mpsc::Sender<Bytes>,
    ctx: &ControlContext,
    mut role: Role,
    mut rx: mpsc::Receiver<ControlMessage>,
    early: Vec<ControlMessage>,
) {
    let mut buf = vec![0u8; READ_CHUNK];
    for m in early {
        dispatch(ctx, &role, m).await;
    }
    loop {
        if !flush(acc, wtx) {
            tracing::debug!("control client too slow: closing");
            break;
        }
        if acc.is_closed() {
            break;
        }
        let deadline = acc.poll_timeout().map(tokio::time::Instant::from_std);
        tokio::select! {
            r = rd.read(&mut buf) => match r {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let chunk = buf.get(..n).unwrap_or_default();
                    let _ = acc.handle_bytes(chunk, now());
                }
            },
            m = rx.recv() => match m {
                Some(m) => {
                    match &mut role {
                        Role::Guest { .. } => guest::observe_outbound(ctx, &m),
                        Role::Agent(s) => s.observe_outbound(&m),
                        Role::Host { .. } => {}
                    }
                    let last = matches!(m, ControlMessage::Error { .. });
                    if acc.send(&m).is_err() {
                        break;
                    }
                    if last {
                        // The hub refused the connection (replaced, revoked): say why, close.
                        let _ = flush(acc, wtx);
                        break;
                    }
                }
                // Every writer handle is gone: a newer connection replaced this device, or
                // the OnDemand queue let the agent go.
                None => break,
            },
            () = sleep_until(deadline) => acc.handle_timeout(now()),
        }
        while let Some(ev) = acc.poll_event() {
            if let ControlAcceptorEvent::Message(m) = ev {
                dispatch(ctx, &role, m).await;
            }
        }
    }
    let _ = flush(acc, wtx);
    if let Role::Host { dev, .. } = &role {
        dev.connection_closed();
    }
}

async fn dispatch(ctx: &ControlContext, role: &Role, m: ControlMessage) {
    match role {
        Role::Host { device, .. } => host::on_host_message(&ctx.hub, *device, m),
        Role::Guest { guest, tx, .. } => guest::on_guest_message(ctx, guest, tx, m).await,
        Role::Agent(s) => s.on_agent_message(&ctx.hub, m),
    }
}

/// Owns the write half: writes queued frames, flushing when the queue runs dry.
async fn write_loop<S: AsyncWrite>(mut wr: WriteHalf<S>, mut wrx: mpsc::Receiver<Bytes>) {
    let mut batch = Vec::new();
    while let Some(first) = wrx.recv().await {
        // Frames already queued go out in one write (one TLS record, one syscall).
        let bytes: &[u8] = if wrx.is_empty() {
            &first
        } else {
            batch.clear();
            batch.extend_from_slice(&first);
            while batch.len() < WRITE_BATCH {
                let Ok(more) = wrx.try_recv() else { break };
                batch.extend_from_slice(&more);
            }
            &batch
        };
        let w = tokio::time::timeout(WRITE_TIMEOUT, wr.write_all(bytes)).await;
        if !matches!(w, Ok(Ok(()))) {
            return;
        }
        if wrx.is_empty() {
            let f = tokio::time::timeout(WRITE_TIMEOUT, wr.flush()).await;
            if !matches!(f, Ok(Ok(()))) {
                return;
            }
        }
    }
    let _ = tokio::time::timeout(WRITE_TIMEOUT, wr.shutdown()).await;
}
