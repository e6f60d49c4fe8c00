//! The local TCP services simulated hosts let tunnels reach: `echo` (every byte comes back)
//! and `sink` (bytes are discarded; at EOF it answers the count as 8 bytes big-endian, so the
//! sender can verify what arrived). Both listen on 127.0.0.1, port chosen by the OS.
//!
//! They serve connections until the returned handle is dropped. They know nothing about
//! sessions: the host side of a tunnel connects here like to any allowed target.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

use crate::error::LoadgenError;

/// Copy buffer of a service connection.
const BUF: usize = 64 * 1024;

/// A running service (stops accepting when dropped; open connections finish on their own).
#[derive(Debug)]
pub struct Service {
    /// Where it listens.
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Service {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Service {
    /// `host:port` as an allow-list entry and tunnel target.
    pub fn target(&self) -> String {
        self.addr.to_string()
    }
}

/// Which service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Returns every byte.
    Echo,
    /// Discards, answers the count at EOF.
    Sink,
}

/// Starts a service of `kind` on a free loopback port.
pub async fn start(kind: Kind) -> Result<Service, LoadgenError> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((socket, _)) => {
                    let _ = socket.set_nodelay(true);
                    tokio::spawn(async move {
                        let _ = match kind {
                            Kind::Echo => echo(socket).await,
                            Kind::Sink => sink(socket).await,
                        };
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "service accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
    });
    Ok(Service { addr, task })
}

async fn echo(mut s: TcpStream) -> std::io::Result<()> {
    let (mut r, mut w) = s.split();
    tokio::io::copy(&mut r, &mut w).await?;
    w.shutdown().await
}

async fn sink(mut s: TcpStream) -> std::io::Result<()> {
    let mut buf = vec![0u8; BUF];
    let mut total: u64 = 0;
    loop {
        let n = s.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    s.write_all(&total.to_be_bytes()).await?;
    s.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn echo_and_sink_over_loopback() {
        let e = start(Kind::Echo).await.unwrap();
        let mut c = TcpStream::connect(e.addr).await.unwrap();
        c.write_all(b"hello").await.unwrap();
        c.shutdown().await.unwrap();
        let mut back = Vec::new();
        c.read_to_end(&mut back).await.unwrap();
        assert_eq!(back, b"hello");

        let s = start(Kind::Sink).await.unwrap();
        let mut c = TcpStream::connect(s.addr).await.unwrap();
        c.write_all(&[7u8; 100_000]).await.unwrap();
        c.shutdown().await.unwrap();
        let mut back = Vec::new();
        c.read_to_end(&mut back).await.unwrap();
        assert_eq!(back, 100_000u64.to_be_bytes());
    }
}
