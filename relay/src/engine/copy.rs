//! The portable `copy` engine's pieces: the pool of 64 KiB buffers and the generic pump.
//!
//! TCP↔TCP sessions with `copy` run in `tcp_forward.rs`, which borrows a [`BigBuf`] from the
//! process-wide pool only while data is in flight. Every pairing that involves QUIC runs
//! [`forward_halves`] here: one pump per direction over `AsyncRead`/`AsyncWrite`, so a peer
//! that does not read stalls only the direction toward it. Each pump reads a chunk, asks the
//! limits, writes it whole, and repeats; EOF becomes a `shutdown` of the other side's write
//! half.
//!
//! Buffers of the generic pump: an idle pump holds no 64 KiB buffer. It waits on a 512-byte
//! inline buffer; when a read fills that completely (data is streaming) it borrows a 64 KiB
//! buffer from the pool, and it gives the buffer back the moment a read on it would block
//! (the poll returned `Pending`, which retains nothing), falling back to the small buffer for
//! the wait. Keep-alives and interactive traffic therefore never take a big buffer, and a bulk
//! transfer keeps one as long as the socket has data ready.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};

use super::{Direction, EngineError, ForwardCounters, ForwardLimits};

/// Size of a streaming buffer.
pub(crate) const COPY_BUF: usize = 64 * 1024;
/// Size of the inline buffer an idle pump waits on.
const SMALL_BUF: usize = 512;
/// Most idle streaming buffers the process keeps for reuse (16 MiB).
const POOL_MAX: usize = 256;

static BUFFERS: Mutex<Vec<Box<[u8]>>> = Mutex::new(Vec::new());

fn take_buffer() -> Box<[u8]> {
    BUFFERS
        .lock()
        .pop()
        .unwrap_or_else(|| vec![0u8; COPY_BUF].into_boxed_slice())
}

fn put_buffer(buf: Box<[u8]>) {
    let mut pool = BUFFERS.lock();
    if pool.len() < POOL_MAX {
        pool.push(buf);
    }
}

/// A borrowed streaming buffer of [`COPY_BUF`] bytes that goes back to the pool on drop.
#[derive(Debug)]
pub(crate) struct BigBuf(Box<[u8]>);

impl BigBuf {
    /// Borrows a buffer from the pool (allocates when the pool is empty).
    pub(crate) fn take() -> Self {
        Self(take_buffer())
    }
    /// The buffer.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }
    /// The buffer, to read into.
    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }
}

impl Drop for BigBuf {
    fn drop(&mut self) {
        let b = std::mem::take(&mut self.0);
        if !b.is_empty() {
            put_buffer(b);
        }
    }
}

/// Forwards between two (reader, writer) pairs until both directions end or one fails.
pub(crate) async fn forward_halves<AR, AW, BR, BW>(
    a: (&mut AR, &mut AW),
    b: (&mut BR, &mut BW),
    a_leftover: Bytes,
    b_leftover: Bytes,
    limits: &ForwardLimits,
    counters: &ForwardCounters,
) -> Result<(), EngineError>
where
    AR: AsyncRead + Unpin + ?Sized,
    AW: AsyncWrite + Unpin + ?Sized,
    BR: AsyncRead + Unpin + ?Sized,
    BW: AsyncWrite + Unpin + ?Sized,
{
    let (ar, aw) = a;
    let (br, bw) = b;
    let a_to_b = pump(ar, bw, a_leftover, Direction::AToB, limits, counters);
    let b_to_a = pump(br, aw, b_leftover, Direction::BToA, limits, counters);
    tokio::try_join!(a_to_b, b_to_a).map(|_| ())
}

/// Writes `leftover`, then copies `src` to `dst` until EOF, then shuts `dst`'s write side.
pub(crate) async fn pump<R, W>(
    src: &mut R,
    dst: &mut W,
    leftover: Bytes,
    dir: Direction,
    limits: &ForwardLimits,
    counters: &ForwardCounters,
) -> Result<(), EngineError>
where
    R: AsyncRead + Unpin + ?Sized,
    W: AsyncWrite + Unpin + ?Sized,
{
    let wr = |e| EngineError::write(dir.sink(), e);
    let rd = |e| EngineError::read(dir.source(), e);
    if !leftover.is_empty() {
        limits.throttle(leftover.len()).await;
        dst.write_all(&leftover).await.map_err(wr)?;
        counters.record(dir, leftover.len());
    }
    drop(leftover);
    let mut small = [0u8; SMALL_BUF];
    let mut big: Option<BigBuf> = None;
    loop {
        let cap = limits.chunk_cap(COPY_BUF);
        let (n, in_big) = std::future::poll_fn(|cx| poll_chunk(cx, src, &mut big, &mut small, cap))
            .await
            .map_err(rd)?;
        if n == 0 {
            dst.shutdown().await.map_err(wr)?;
            return Ok(());
        }
        limits.throttle(n).await;
        let chunk = if in_big {
            big.as_ref().and_then(|b| b.bytes().get(..n))
        } else {
            small.get(..n)
        };
        let chunk = chunk.ok_or_else(|| rd(io::Error::other("read past buffer")))?;
        dst.write_all(chunk).await.map_err(wr)?;
        counters.record(dir, n);
        if !in_big && n == SMALL_BUF {
            big = Some(BigBuf::take());
        }
    }
}

/// Reads one chunk into the big buffer if held (releasing it when the read would block),
/// else into the small one. Returns `(bytes, read_into_big)`.
fn poll_chunk<R: AsyncRead + Unpin + ?Sized>(
    cx: &mut Context<'_>,
    src: &mut R,
    big: &mut Option<BigBuf>,
    small: &mut [u8; SMALL_BUF],
    cap: usize,
) -> Poll<io::Result<(usize, bool)>> {
    if let Some(buf) = big.as_mut().map(BigBuf::bytes_mut) {
        let len = cap.min(buf.len());
        let slice = buf.get_mut(..len).unwrap_or_default();
        let mut rb = ReadBuf::new(slice);
        match Pin::new(&mut *src).poll_read(cx, &mut rb) {
            Poll::Ready(Ok(())) => return Poll::Ready(Ok((rb.filled().len(), true))),
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => {
                // Nothing in flight: give the buffer back and wait on the small one.
                *big = None;
                return Poll::Pending;
            }
        }
    }
    let mut rb = ReadBuf::new(&mut small[..]);
    match Pin::new(&mut *src).poll_read(cx, &mut rb) {
        Poll::Ready(Ok(())) => Poll::Ready(Ok((rb.filled().len(), false))),
        Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
        Poll::Pending => Poll::Pending,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn pump_streams_and_releases_buffer() {
        let (mut client, mut relay_side) = tokio::io::duplex(1 << 20);
        let (mut relay_out, mut peer) = tokio::io::duplex(1 << 20);
        let counters = ForwardCounters::new(super::super::EngineKind::Copy);
        let limits = ForwardLimits::unlimited();
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let sent = data.clone();
        let writer = tokio::spawn(async move {
            client.write_all(&sent).await.unwrap();
            client.shutdown().await.unwrap();
            client
        });
        let pump_task = pump(
            &mut relay_side,
            &mut relay_out,
            Bytes::from_static(b"lead"),
            Direction::AToB,
            &limits,
            &counters,
        );
        let reader = async {
            let mut got = Vec::new();
            peer.read_to_end(&mut got).await.unwrap();
            got
        };
        let (r, got) = tokio::join!(pump_task, reader);
        r.unwrap();
        writer.await.unwrap();
        assert_eq!(got.get(..4), Some(&b"lead"[..]));
        assert_eq!(got.get(4..), Some(&data[..]));
        assert_eq!(counters.bytes(Direction::AToB), 300_004);
        // The stream was big enough to borrow a 64 KiB buffer, and it went back to the pool.
        assert!(!BUFFERS.lock().is_empty());
    }
}
