//! Session helpers of the flow tests: bring a Host/Guest pair to an active session through the
//! in-process relay (both pipes open and proven with a round of bytes), wait for a message
//! matching a predicate, and wait for a relay pipe to be closed by the relay.
//!
//! Every wait is bounded; a helper fails with a message rather than hanging.

use std::time::Duration;

use switchboard_codec::{ControlMessage, DeviceId, PermissionSet, SessionId, Side};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::client::{self, ControlClient};

/// An active session: its id and both raw relay pipes.
pub struct Active {
    pub sid: SessionId,
    pub host_pipe: TcpStream,
    pub guest_pipe: TcpStream,
}

/// The next message `pick` accepts, skipping at most `skip` others (each bounded by
/// `client::WAIT`).
pub async fn recv_matching<T>(
    c: &mut ControlClient,
    skip: usize,
    mut pick: impl FnMut(&ControlMessage) -> Option<T>,
) -> anyhow::Result<T> {
    let mut seen = Vec::new();
    for _ in 0..=skip {
        let m = c.recv().await?;
        if let Some(t) = pick(&m) {
            return Ok(t);
        }
        seen.push(m);
    }
    anyhow::bail!("no matching message; got {seen:?}")
}

/// Requests a session on `device`, has the Host accept, binds both sides at the relay and
/// moves one round of bytes each way.
pub async fn activate(
    host: &mut ControlClient,
    guest: &mut ControlClient,
    request_id: u64,
    device: DeviceId,
) -> anyhow::Result<Active> {
    guest
        .send(ControlMessage::SessionRequest {
            request_id,
            device_id: device,
            wanted: PermissionSet::EMPTY,
            guest_static_key: client::GUEST_STATIC_KEY,
        })
        .await?;
    let sid = recv_matching(guest, 0, |m| match m {
        ControlMessage::SessionCreated { session_id, .. } => Some(*session_id),
        _ => None,
    })
    .await?;
    recv_matching(host, 2, |m| match m {
        ControlMessage::SessionOffer { session_id, .. } if *session_id == sid => Some(()),
        _ => None,
    })
    .await?;
    host.send(ControlMessage::SessionAccept { session_id: sid })
        .await?;
    let ticket_of = |m: &ControlMessage| match m {
        ControlMessage::RelayAssignment {
            session_id,
            relay_addr,
            ticket,
            ..
        } if *session_id == sid => Some((relay_addr.clone(), ticket.clone())),
        _ => None,
    };
    let (host_relay, host_ticket) = recv_matching(host, 2, ticket_of).await?;
    let (guest_relay, guest_ticket) = recv_matching(guest, 2, ticket_of).await?;
    let (h, g) = tokio::join!(
        client::bind(&host_relay, Side::Host, host_ticket),
        client::bind(&guest_relay, Side::Guest, guest_ticket),
    );
    let ((mut hp, hl), (mut gp, gl)) = (h?, g?);
    anyhow::ensure!(
        hl.is_empty() && gl.is_empty(),
        "nothing was sent before Ready"
    );
    hp.write_all(b"ping").await?;
    gp.write_all(b"pong").await?;
    let mut buf = [0u8; 4];
    tokio::time::timeout(client::WAIT, gp.read_exact(&mut buf)).await??;
    anyhow::ensure!(&buf == b"ping", "guest got {buf:?}");
    tokio::time::timeout(client::WAIT, hp.read_exact(&mut buf)).await??;
    anyhow::ensure!(&buf == b"pong", "host got {buf:?}");
    Ok(Active {
        sid,
        host_pipe: hp,
        guest_pipe: gp,
    })
}

/// Waits (at most `within`) until the relay closes `pipe`: end of file or a reset. Bytes
/// that arrive meanwhile are an error (nobody sends in these tests).
pub async fn expect_closed(pipe: &mut TcpStream, within: Duration) -> anyhow::Result<()> {
    let mut buf = [0u8; 256];
    match tokio::time::timeout(within, pipe.read(&mut buf)).await {
        Err(_) => anyhow::bail!("the relay pipe is still open after {within:?}"),
        Ok(Ok(0) | Err(_)) => Ok(()),
        Ok(Ok(n)) => anyhow::bail!("unexpected {n} bytes on a pipe that should close"),
    }
}
