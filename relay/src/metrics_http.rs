//! The relay's tiny HTTP endpoint: `GET /metrics` (Prometheus text) and `POST /drain`.
//!
//! Hand-written HTTP/1.1, one request per connection, `Connection: close`: the request head is
//! read with a 5 s timeout and an 8 KiB cap, the body ignored. `POST /drain` is honoured only
//! from a loopback peer (403 otherwise). The Prometheus recorder is installed once per process
//! ([`prometheus_handle`]), with histogram buckets for the relay's two histograms.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::metrics as m;
use crate::server::Inner;

const MAX_HEAD: usize = 8 * 1024;
const HEAD_TIMEOUT: Duration = Duration::from_secs(5);

/// The process-wide Prometheus handle, installing the recorder on first call. `None` when
/// another global recorder was installed first.
pub fn prometheus_handle() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(m::SESSION_DURATION_SECONDS.to_owned()),
                    m::DURATION_BUCKETS,
                )
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(m::SETUP_SECONDS.to_owned()),
                        m::SETUP_BUCKETS,
                    )
                });
            match builder.map(PrometheusBuilder::install_recorder) {
                Ok(Ok(h)) => Some(h),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "prometheus recorder not installed");
                    None
                }
                Err(e) => {
                    tracing::warn!(error = %e, "prometheus buckets refused");
                    None
                }
            }
        })
        .clone()
}

pub(crate) async fn serve(listener: TcpListener, prom: PrometheusHandle, inner: Arc<Inner>) {
    let stop = inner.stop_token();
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => return,
            r = listener.accept() => r,
        };
        match accepted {
            Ok((stream, _)) => {
                tokio::spawn(answer(stream, prom.clone(), inner.clone()));
            }
            Err(e) => {
                tracing::warn!(error = %e, "metrics accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn answer(mut stream: TcpStream, prom: PrometheusHandle, inner: Arc<Inner>) {
    let loopback = stream.peer_addr().is_ok_and(|a| a.ip().is_loopback());
    let Ok(Some(head)) = tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut stream)).await else {
        return;
    };
    let mut words = head.split_whitespace();
    let method = words.next().unwrap_or("");
    let path = words.next().unwrap_or("");
    let (status, ctype, body) = match (method, path) {
        ("GET", "/metrics") => ("200 OK", "text/plain; version=0.0.4", prom.render()),
        ("POST", "/drain") if loopback => {
            inner.start_drain();
            ("202 Accepted", "text/plain", "draining\n".to_owned())
        }
        ("POST", "/drain") => ("403 Forbidden", "text/plain", "loopback only\n".to_owned()),
        _ => ("404 Not Found", "text/plain", "not found\n".to_owned()),
    };
    let resp = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(resp.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Reads up to the end of the request head; `None` when it is too long or the peer left.
async fn read_head(stream: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 512];
    loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(chunk.get(..n)?);
        if buf.windows(4).any(|w| w == b"\r\n\r\n") {
            let line_end = buf.iter().position(|&b| b == b'\r')?;
            return String::from_utf8(buf.get(..line_end)?.to_vec()).ok();
        }
        if buf.len() > MAX_HEAD {
            return None;
        }
    }
}
