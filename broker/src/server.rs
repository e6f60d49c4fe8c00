//! Serving the admin API: plain HTTP, or HTTPS when a certificate is configured.
//!
//! HTTPS uses a small axum `Listener` whose TLS handshakes run in their own tasks (bounded in
//! number and time) and hand finished streams over a bounded channel, so a slow handshake
//! never holds up the others. The peer address reaches handlers as [`PeerAddr`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use abort_on_drop::CancelOnDrop;
use axum::Router;
use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::error::BrokerError;

/// Time a client has to finish the TLS handshake.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Most TLS handshakes at once.
pub const MAX_TLS_HANDSHAKES: usize = 256;

/// The peer address of an admin connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

impl Connected<IncomingStream<'_, TcpListener>> for PeerAddr {
    fn connect_info(stream: IncomingStream<'_, TcpListener>) -> Self {
        Self(*stream.remote_addr())
    }
}

impl Connected<IncomingStream<'_, TlsListener>> for PeerAddr {
    fn connect_info(stream: IncomingStream<'_, TlsListener>) -> Self {
        Self(*stream.remote_addr())
    }
}

/// A TLS listener for `axum::serve`.
#[derive(Debug)]
pub struct TlsListener {
    rx: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
    _accept: CancelOnDrop,
}

mod abort_on_drop {
    //! Aborts a task when dropped.
    #[derive(Debug)]
    pub(crate) struct CancelOnDrop(pub(crate) tokio::task::JoinHandle<()>);
    impl Drop for CancelOnDrop {
        fn drop(&mut self) {
            self.0.abort();
        }
    }
}

impl TlsListener {
    /// Wraps a bound TCP listener.
    pub fn new(tcp: TcpListener, config: rustls::ServerConfig) -> Result<Self, BrokerError> {
        let local = tcp
            .local_addr()
            .map_err(|e| BrokerError::Tls(e.to_string()))?;
        let mut config = config;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let (tx, rx) = mpsc::channel(64);
        let permits = Arc::new(Semaphore::new(MAX_TLS_HANDSHAKES));
        let task = tokio::spawn(async move {
            let mut backoff = Duration::from_millis(5);
            loop {
                let Ok(permit) = permits.clone().acquire_owned().await else {
                    return;
                };
                let (stream, addr) = match tcp.accept().await {
                    Ok(x) => {
                        backoff = Duration::from_millis(5);
                        x
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "admin accept failed");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(1));
                        continue;
                    }
                };
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    let _permit = permit;
                    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await
                    {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, addr)).await;
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(peer = %addr, error = %e, "admin TLS handshake failed")
                        }
                        Err(_) => tracing::debug!(peer = %addr, "admin TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(Self {
            rx,
            local,
            _accept: CancelOnDrop(task),
        })
    }
}

impl Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(x) => x,
            // The accept task ended (runtime shutting down): never yield again.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

/// A running admin server.
#[derive(Debug)]
pub struct AdminServer {
    /// The bound address.
    pub addr: SocketAddr,
    /// True for HTTPS.
    pub tls: bool,
    task: tokio::task::JoinHandle<()>,
}

impl AdminServer {
    /// Binds `addr` and serves `router` (HTTPS with `tls`).
    pub async fn start(
        addr: SocketAddr,
        router: Router,
        tls: Option<rustls::ServerConfig>,
    ) -> Result<Self, BrokerError> {
        let tcp = TcpListener::bind(addr)
            .await
            .map_err(|source| BrokerError::Listen { addr, source })?;
        let bound = tcp
            .local_addr()
            .map_err(|source| BrokerError::Listen { addr, source })?;
        let is_tls = tls.is_some();
        let task = match tls {
            None => {
                let svc = router.into_make_service_with_connect_info::<PeerAddr>();
                tokio::spawn(async move {
                    if let Err(e) = axum::serve(tcp, svc).await {
                        tracing::error!(error = %e, "admin API stopped");
                    }
                })
            }
            Some(cfg) => {
                let l = TlsListener::new(tcp, cfg)?;
                let svc = router.into_make_service_with_connect_info::<PeerAddr>();
                tokio::spawn(async move {
                    if let Err(e) = axum::serve(l, svc).await {
                        tracing::error!(error = %e, "admin API stopped");
                    }
                })
            }
        };
        Ok(Self {
            addr: bound,
            tls: is_tls,
            task,
        })
    }

    /// Stops serving.
    pub fn stop(&self) {
        self.task.abort();
    }
}

impl Drop for AdminServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
