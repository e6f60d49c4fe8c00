//! The TLS control listener: accept TCP connections, bound them (a global semaphore and a
//! per-IP cap), finish TLS within a deadline and hand each stream to `connection`.
//!
//! Accept errors back off (5 ms doubling to 1 s) instead of spinning. Dropping the
//! [`ControlListener`] stops accepting; connections already served run on until they close.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use super::ControlContext;
use super::connection::serve_connection;
use crate::error::BrokerError;
use crate::metrics as m;

/// Connection limits of the control listener.
#[derive(Debug, Clone, Copy)]
pub struct ControlLimits {
    /// Control connections open at once, all addresses together.
    pub max_connections: usize,
    /// Control connections open at once from one IP address.
    pub max_per_ip: usize,
    /// Time a client has to finish the TLS handshake.
    pub tls_timeout: Duration,
}

impl Default for ControlLimits {
    fn default() -> Self {
        Self {
            max_connections: 50_000,
            max_per_ip: 1_000,
            tls_timeout: Duration::from_secs(10),
        }
    }
}

/// Open connections per IP address.
#[derive(Debug, Default)]
pub(crate) struct PerIp {
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One counted connection of an IP; uncounts when dropped.
#[derive(Debug)]
pub(crate) struct IpSlot {
    table: Arc<PerIp>,
    ip: IpAddr,
}

impl PerIp {
    pub(crate) fn try_take(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<IpSlot> {
        let mut m = self.open.lock();
        let n = m.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(IpSlot {
            table: Arc::clone(self),
            ip,
        })
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut m = self.table.open.lock();
        if let Some(n) = m.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
    }
}

/// The running control listeners.
#[derive(Debug)]
pub struct ControlListener {
    addrs: Vec<SocketAddr>,
    tasks: Vec<JoinHandle<()>>,
}

impl ControlListener {
    /// Binds every address and starts accepting.
    pub async fn bind(
        addrs: &[SocketAddr],
        tls: rustls::ServerConfig,
        ctx: Arc<ControlContext>,
        limits: ControlLimits,
    ) -> Result<Self, BrokerError> {
        let acceptor = TlsAcceptor::from(Arc::new(tls));
        let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
        let per_ip = Arc::new(PerIp::default());
        let mut bound = Vec::new();
        let mut tasks = Vec::new();
        for addr in addrs {
            let tcp = TcpListener::bind(addr)
                .await
                .map_err(|source| BrokerError::Listen {
                    addr: *addr,
                    source,
                })?;
            let local = tcp.local_addr().map_err(|source| BrokerError::Listen {
                addr: *addr,
                source,
            })?;
            bound.push(local);
            tasks.push(tokio::spawn(accept_loop(
                tcp,
                acceptor.clone(),
                Arc::clone(&ctx),
                Arc::clone(&permits),
                Arc::clone(&per_ip),
                limits,
            )));
        }
        Ok(Self {
            addrs: bound,
            tasks,
        })
    }

    /// The bound addresses (port 0 resolved).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }
}

impl Drop for ControlListener {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

async fn accept_loop(
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    ctx: Arc<ControlContext>,
    permits: Arc<Semaphore>,
    per_ip: Arc<PerIp>,
    limits: ControlLimits,
) {
    let mut backoff = Duration::from_millis(5);
    loop {
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
            return;
        };
        let (stream, peer) = match tcp.accept().await {
            Ok(x) => {
                backoff = Duration::from_millis(5);
                x
            }
            Err(e) => {
                tracing::warn!(error = %e, "control accept failed; backing off");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        let Some(slot) = per_ip.try_take(peer.ip(), limits.max_per_ip) else {
            tracing::debug!(%peer, "control connection refused: per-IP cap");
            metrics::counter!(m::CONTROL_REFUSED_TOTAL, m::LABEL_REASON => "per_ip").increment(1);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        let ctx = Arc::clone(&ctx);
        tokio::spawn(async move {
            let _permit = permit;
            let _slot = slot;
            match tokio::time::timeout(limits.tls_timeout, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => {
                    let open = metrics::gauge!(m::CONTROL_CONNECTIONS, m::LABEL_TRANSPORT => "tls");
                    open.increment(1.0);
                    serve_connection(tls, peer, ctx).await;
                    open.decrement(1.0);
                }
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "control TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "control TLS handshake timed out"),
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_ip_cap_counts_and_releases() {
        let t = Arc::new(PerIp::default());
        let ip: IpAddr = [127, 0, 0, 1].into();
        let other: IpAddr = [127, 0, 0, 2].into();
        let a = t.try_take(ip, 2).unwrap();
        let _b = t.try_take(ip, 2).unwrap();
        assert!(t.try_take(ip, 2).is_none(), "third connection from one IP");
        assert!(t.try_take(other, 2).is_some(), "another IP is not affected");
        drop(a);
        assert!(
            t.try_take(ip, 2).is_some(),
            "a closed connection frees its slot"
        );
    }
}
