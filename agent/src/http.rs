//! A minimal HTTP/1.1 client for the admin API (the Guest's login and device list, the
//! `switchboard admin` CLI and the black-box tests use it).
//!
//! One request per connection (`Connection: close`), JSON bodies, bearer token, a 30 s bound
//! on the whole exchange and a 64 MiB bound on the answer. `http://` only, or `https://` when
//! the server certificate's SHA-256 fingerprint is pinned. No redirects, no proxies.

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::error::AgentError;

/// Bound on one exchange.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest answer read.
pub const MAX_RESPONSE: usize = 64 * 1024 * 1024;

/// An answer.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// `Content-Type`, if any.
    pub content_type: Option<String>,
    /// Body as text.
    pub body: String,
}

impl HttpResponse {
    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// Where the server is.
#[derive(Debug, Clone)]
pub struct HttpClient {
    host: String,
    port: u16,
    tls_fingerprint: Option<String>,
    https: bool,
}

fn err(m: impl std::fmt::Display) -> AgentError {
    AgentError::Http(m.to_string())
}

impl HttpClient {
    /// A client for `http://host:port` or `https://host:port` (https needs `fingerprint`).
    pub fn new(server: &str, fingerprint: Option<String>) -> Result<Self, AgentError> {
        let (https, rest) = if let Some(r) = server.strip_prefix("http://") {
            (false, r)
        } else if let Some(r) = server.strip_prefix("https://") {
            (true, r)
        } else {
            return Err(err("the server address starts with http:// or https://"));
        };
        if https && fingerprint.is_none() {
            return Err(err(
                "https needs --fingerprint (the SHA-256 of the server certificate)",
            ));
        }
        let hostport = rest.trim_end_matches('/');
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => {
                (h.to_owned(), p.parse().map_err(|_| err("bad port"))?)
            }
            _ => (hostport.to_owned(), if https { 443 } else { 80 }),
        };
        Ok(Self {
            host,
            port,
            tls_fingerprint: fingerprint.as_deref().map(crate::pin::normalize),
            https,
        })
    }

    /// Sends one request; `body` is sent as JSON.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&serde_json::Value>,
    ) -> Result<HttpResponse, AgentError> {
        let body = body.map(serde_json::Value::to_string);
        tokio::time::timeout(
            REQUEST_TIMEOUT,
            self.exchange(method, path, token, body.as_deref()),
        )
        .await
        .map_err(|_| err("the server did not answer within 30 s"))?
    }

    /// Sends raw bytes as the body with the given content type (tests of malformed input).
    pub async fn request_raw(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: &str,
    ) -> Result<HttpResponse, AgentError> {
        tokio::time::timeout(
            REQUEST_TIMEOUT,
            self.exchange(method, path, token, Some(body)),
        )
        .await
        .map_err(|_| err("the server did not answer within 30 s"))?
    }

    async fn exchange(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> Result<HttpResponse, AgentError> {
        let tcp = TcpStream::connect((self.host.trim_matches(['[', ']']), self.port))
            .await
            .map_err(|e| err(format!("connecting to {}:{}: {e}", self.host, self.port)))?;
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}:{}\r\nConnection: close\r\nAccept: application/json\r\n",
            self.host, self.port
        );
        if let Some(t) = token {
            head.push_str(&format!("Authorization: Bearer {t}\r\n"));
        }
        if let Some(b) = body {
            head.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                b.len()
            ));
        } else {
            head.push_str("Content-Length: 0\r\n");
        }
        head.push_str("\r\n");
        let mut req = head.into_bytes();
        req.extend_from_slice(body.unwrap_or("").as_bytes());
        if self.https {
            let fp = self.tls_fingerprint.clone().unwrap_or_default();
            let cfg = crate::pin::pinned_client_config(&fp)?;
            let name = ServerName::try_from(self.host.trim_matches(['[', ']']).to_owned())
                .map_err(|e| err(format!("server name: {e}")))?;
            let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
                .connect(name, tcp)
                .await
                .map_err(|e| err(format!("TLS: {e}")))?;
            Box::pin(roundtrip(tls, &req)).await
        } else {
            roundtrip(tcp, &req).await
        }
    }
}

async fn roundtrip<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    req: &[u8],
) -> Result<HttpResponse, AgentError> {
    s.write_all(req).await.map_err(err)?;
    s.flush().await.map_err(err)?;
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        let n = match s.read(&mut chunk).await {
            Ok(n) => n,
            // A TLS peer that closes without close_notify: keep what we have.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => 0,
            Err(e) => return Err(err(e)),
        };
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > MAX_RESPONSE {
            return Err(err("answer larger than 64 MiB"));
        }
    }
    parse_response(&buf)
}

/// Parses a whole HTTP/1.1 answer (content-length, chunked, or until close).
pub fn parse_response(buf: &[u8]) -> Result<HttpResponse, AgentError> {
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| err("incomplete answer"))?;
    let head = std::str::from_utf8(&buf[..split]).map_err(err)?;
    let raw = &buf[split + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| err(format!("bad status line {status_line:?}")))?;
    let mut content_type = None;
    let mut chunked = false;
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
            if k == "content-type" {
                content_type = Some(v.to_owned());
            } else if k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked") {
                chunked = true;
            }
        }
    }
    let body = if chunked { dechunk(raw)? } else { raw.to_vec() };
    Ok(HttpResponse {
        status,
        content_type,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn dechunk(mut raw: &[u8]) -> Result<Vec<u8>, AgentError> {
    let mut out = Vec::new();
    loop {
        let eol = raw
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| err("bad chunk"))?;
        let size_text = std::str::from_utf8(&raw[..eol]).map_err(err)?;
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| err("bad chunk size"))?;
        raw = &raw[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        if raw.len() < size + 2 {
            return Err(err("truncated chunk"));
        }
        out.extend_from_slice(&raw[..size]);
        raw = &raw[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_chunked() {
        let r = parse_response(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}",
        )
        .unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.body, "{}");
        let r = parse_response(b"HTTP/1.1 404 Not Found\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n").unwrap();
        assert_eq!(r.status, 404);
        assert_eq!(r.body, "abcde");
        assert!(parse_response(b"garbage").is_err());
    }

    #[test]
    fn server_addresses() {
        assert!(HttpClient::new("127.0.0.1:80", None).is_err());
        assert!(HttpClient::new("https://127.0.0.1:8443", None).is_err());
        let c = HttpClient::new("http://127.0.0.1:8080/", None).unwrap();
        assert_eq!(c.port, 8080);
    }
}
