//! The Guest (technician): `login` through the admin API (password, then a TOTP code when the
//! answer is `mfa_required`), `devices` (`GET /api/v1/me/devices`), and sessions: `request`
//! asks the broker for a session to a device and, on `RelayAssignment`, establishes the
//! end-to-end session; `connect` adds one local listener per tunnel and runs until a signal
//! or the end of the session.
//!
//! Refusals come back as `GuestError::Refused` (exit 3) and mid-session disconnects as
//! `GuestError::Disconnected` (exit 4); the binary maps them. It keeps no state beyond
//! `guest.json`.

use std::time::Duration;

use switchboard_codec::noise::{StaticKeypair, generate_static_keypair};
use switchboard_codec::{
    ControlCredentials, ControlMessage, DeviceId, ErrorCode, Permission, PermissionSet, SessionId,
    Side,
};
use tokio::net::TcpListener;

use super::Printer;
use super::client::{ControlClient, Endpoint, Incoming, Outcome, Transport};
use crate::error::AgentError;
use crate::http::HttpClient;
use crate::session::{Session, SessionPlan};
use crate::state::GuestState;

/// How long a Guest waits for the Host to accept (confirm prompts take up to a minute).
pub const ACCEPT_WAIT: Duration = Duration::from_secs(90);

/// How a guest command failed, as the exit code sees it.
#[derive(Debug, thiserror::Error)]
pub enum GuestError {
    /// The broker or the Host refused (exit 3).
    #[error("refused: {}: {message}", .code.name())]
    Refused {
        /// Why.
        code: ErrorCode,
        /// A sentence.
        message: String,
    },
    /// The session was ended by the broker or the peer (exit 4).
    #[error("disconnected: {what}: {message}")]
    Disconnected {
        /// A code name or short reason.
        what: String,
        /// A sentence.
        message: String,
    },
    /// Anything else (exit 1).
    #[error(transparent)]
    Other(#[from] AgentError),
}

fn refused(code: ErrorCode, message: String) -> GuestError {
    let message = if message.is_empty() {
        code.sentence().to_owned()
    } else {
        message
    };
    GuestError::Refused { code, message }
}

/// What `login` needs.
#[derive(Debug, Clone)]
pub struct LoginOptions {
    /// Control `host:port`.
    pub server: String,
    /// Admin API URL.
    pub admin: String,
    /// Certificate fingerprint.
    pub fingerprint: String,
    /// User name.
    pub user: String,
    /// Tenant name or id, when the user belongs to several.
    pub tenant: Option<String>,
}

/// Logs in; the state to store. `totp` is asked only when the broker wants a second factor.
pub async fn login(
    opts: &LoginOptions,
    password: &str,
    totp: impl AsyncFnOnce() -> Result<String, AgentError>,
) -> Result<GuestState, AgentError> {
    let http = admin_client(&opts.admin, &opts.fingerprint)?;
    let mut body = serde_json::json!({ "username": opts.user, "password": password });
    if let Some(t) = &opts.tenant {
        body["tenant"] = serde_json::Value::String(t.clone());
    }
    let r = http
        .request("POST", "/api/v1/login", None, Some(&body))
        .await?;
    let mut answer = r.json();
    if r.status != 200 {
        return Err(api_refusal("login", r.status, &answer));
    }
    if answer["status"] == "mfa_required" {
        let ticket = answer["ticket"].as_str().unwrap_or_default().to_owned();
        let code = totp().await?;
        let body = serde_json::json!({ "ticket": ticket, "code": code.trim() });
        let r = http
            .request("POST", "/api/v1/login/mfa", None, Some(&body))
            .await?;
        answer = r.json();
        if r.status != 200 {
            return Err(api_refusal("MFA", r.status, &answer));
        }
    }
    let token = answer["token"]
        .as_str()
        .ok_or_else(|| AgentError::Http(format!("no token in the login answer: {answer}")))?;
    Ok(GuestState {
        server: opts.server.clone(),
        admin: opts.admin.clone(),
        fingerprint: crate::pin::normalize(&opts.fingerprint),
        token: token.to_owned(),
        user: opts.user.clone(),
    })
}

fn admin_client(admin: &str, fingerprint: &str) -> Result<HttpClient, AgentError> {
    let fp = admin
        .starts_with("https://")
        .then(|| fingerprint.to_owned());
    HttpClient::new(admin, fp)
}

fn api_refusal(what: &str, status: u16, body: &serde_json::Value) -> AgentError {
    let code = body["error"]["code"]
        .as_str()
        .or_else(|| body["code"].as_str())
        .or_else(|| body["error"].as_str())
        .unwrap_or("error");
    let msg = body["error"]["message"]
        .as_str()
        .or_else(|| body["message"].as_str())
        .unwrap_or("");
    AgentError::Http(
        format!("{what} refused ({status} {code}) {msg}")
            .trim_end()
            .to_owned(),
    )
}

/// One entry of `GET /api/v1/me/devices`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceEntry {
    /// Device id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Connected now.
    pub online: bool,
    /// Permission names the caller holds on it.
    pub permissions: Vec<String>,
}

/// The raw device list answer.
pub async fn devices_json(state: &GuestState) -> Result<serde_json::Value, AgentError> {
    let http = admin_client(&state.admin, &state.fingerprint)?;
    let r = http
        .request("GET", "/api/v1/me/devices", Some(&state.token), None)
        .await?;
    match r.status {
        200 => Ok(r.json()),
        401 => Err(AgentError::Usage(
            "the login has expired or was revoked: run `switchboard-agent guest login` again"
                .into(),
        )),
        404 => Err(AgentError::Usage(
            "this broker has no device list for guests (GET /api/v1/me/devices answered 404); \
             give the device id instead of its name"
                .into(),
        )),
        s => Err(api_refusal("device list", s, &r.json())),
    }
}

/// The device list, parsed.
pub fn parse_devices(v: &serde_json::Value) -> Vec<DeviceEntry> {
    let list = v["devices"].as_array().cloned().unwrap_or_default();
    list.iter()
        .map(|d| DeviceEntry {
            id: d["id"].as_str().unwrap_or_default().to_owned(),
            name: d["name"].as_str().unwrap_or_default().to_owned(),
            online: d["online"].as_bool().unwrap_or(false),
            permissions: d["permissions"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|p| p.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect()
}

/// `DEVICE` as given (an id, or a unique name in the device list) to a device id.
pub async fn resolve_device(state: &GuestState, device: &str) -> Result<DeviceId, AgentError> {
    if let Ok(id) = device.parse::<DeviceId>() {
        return Ok(id);
    }
    let list = parse_devices(&devices_json(state).await?);
    pick_device(&list, device)
}

/// The one device named `name` (case-insensitive) in `list`.
pub fn pick_device(list: &[DeviceEntry], name: &str) -> Result<DeviceId, AgentError> {
    let hits: Vec<&DeviceEntry> = list
        .iter()
        .filter(|d| d.name.eq_ignore_ascii_case(name))
        .collect();
    match hits.as_slice() {
        [one] => one
            .id
            .parse()
            .map_err(|_| AgentError::Usage(format!("device {name:?} has a malformed id"))),
        [] => Err(AgentError::Usage(format!(
            "no device named {name:?} in your device list (`switchboard-agent guest devices`)"
        ))),
        _ => Err(AgentError::Usage(format!(
            "{} devices are named {name:?}; give the device id",
            hits.len()
        ))),
    }
}

/// The endpoint of a logged-in Guest.
pub fn endpoint(state: &GuestState, transport: Transport) -> Endpoint {
    Endpoint {
        server: state.server.clone(),
        fingerprint: state.fingerprint.clone(),
        transport,
    }
}

/// Connects as a Guest with `token`.
pub async fn connect_guest(ep: &Endpoint, token: &str) -> Result<ControlClient, GuestError> {
    let creds = ControlCredentials::Guest {
        access_token: token.to_owned(),
    };
    match ControlClient::connect(ep, creds).await? {
        Outcome::Established(c) => Ok(c),
        Outcome::Refused { code, message } => Err(refused(code, message)),
        Outcome::Enrolled(_) => {
            Err(AgentError::Usage("unexpected enrollment answer".into()).into())
        }
    }
}

/// What a Guest asks for: tunnels (and the right to a session at all).
pub fn tunnel_wanted() -> PermissionSet {
    [Permission::RemoteSession, Permission::Tunnel]
        .into_iter()
        .collect()
}

/// An established Guest session and the control connection that set it up.
#[derive(Debug)]
pub struct GuestSession {
    /// The end-to-end session.
    pub session: Session,
    /// The control connection (carries `SessionCancel` both ways).
    pub control: ControlClient,
    /// What the broker granted.
    pub granted: PermissionSet,
}

/// Asks for a session to `device` on `control` and establishes it.
pub async fn request_session(
    control: ControlClient,
    device: DeviceId,
    wanted: PermissionSet,
) -> Result<GuestSession, GuestError> {
    let keys = fresh_keys()?;
    let mut rid = [0u8; 8];
    let _ = getrandom::fill(&mut rid);
    let request_id = u64::from_le_bytes(rid);
    control
        .send(ControlMessage::SessionRequest {
            request_id,
            device_id: device,
            wanted,
            guest_static_key: keys.public,
        })
        .await?;
    await_session(control, keys, Some(request_id)).await
}

/// A fresh X25519 static key pair (one per session).
pub fn fresh_keys() -> Result<StaticKeypair, AgentError> {
    generate_static_keypair().map_err(|e| AgentError::Usage(format!("key generation: {e}")))
}

/// Waits for `SessionCreated` then the `RelayAssignment`, and establishes the session.
/// `request_id` is `None` for an OnDemand start (the answer is not tied to a request id).
pub async fn await_session(
    mut control: ControlClient,
    keys: StaticKeypair,
    request_id: Option<u64>,
) -> Result<GuestSession, GuestError> {
    let deadline = tokio::time::Instant::now() + ACCEPT_WAIT;
    let mut created: Option<(SessionId, PermissionSet)> = None;
    loop {
        let inc = tokio::time::timeout_at(deadline, control.recv())
            .await
            .map_err(|_| {
                refused(
                    ErrorCode::ConfirmTimeout,
                    "no answer from the device in time".into(),
                )
            })?;
        let msg = match inc {
            Incoming::Message(m) => m,
            Incoming::Closed { code, message } => {
                return Err(match code {
                    Some(c) => refused(c, message),
                    None => AgentError::Control {
                        server: control.server().to_owned(),
                        message,
                    }
                    .into(),
                });
            }
        };
        match msg {
            ControlMessage::SessionCreated {
                request_id: rid,
                session_id,
                granted,
                ..
            } if request_id.is_none_or(|r| r == rid) => created = Some((session_id, granted)),
            ControlMessage::SessionDenied {
                request_id: rid,
                code,
                message,
            } if request_id.is_none_or(|r| r == rid) => return Err(refused(code, message)),
            ControlMessage::SessionReject { code, message, .. } => {
                return Err(refused(code, message));
            }
            ControlMessage::SessionCancel { code, .. } => {
                return Err(refused(code, code.sentence().to_owned()));
            }
            ControlMessage::OnDemandRejected { code } => {
                return Err(refused(code, code.sentence().to_owned()));
            }
            ControlMessage::RelayAssignment {
                session_id,
                relay_addr,
                ticket,
                peer_static_key,
            } => {
                let granted = match created {
                    Some((sid, g)) if sid == session_id => g,
                    _ if request_id.is_none() => PermissionSet::EMPTY,
                    _ => continue,
                };
                let plan = SessionPlan {
                    session_id,
                    side: Side::Guest,
                    relay_addr,
                    ticket,
                    local_static: keys,
                    peer_static: peer_static_key,
                };
                let session = match crate::session::establish(plan).await {
                    Ok(s) => s,
                    Err(e) => {
                        let _ = control
                            .send(ControlMessage::SessionCancel {
                                session_id,
                                code: ErrorCode::Cancelled,
                            })
                            .await;
                        return Err(e.into());
                    }
                };
                return Ok(GuestSession {
                    session,
                    control,
                    granted,
                });
            }
            other => tracing::debug!(kind = other.type_number(), "message ignored while waiting"),
        }
    }
}

/// A `--tunnel LOCAL=TARGET` whose listener is bound.
#[derive(Debug)]
pub struct BoundTunnel {
    /// The local address as bound.
    pub local: std::net::SocketAddr,
    /// The listener.
    pub listener: TcpListener,
    /// `host:port` on the Host's side.
    pub target: String,
}

/// Binds each tunnel's local address (before asking for the session, so a busy port fails
/// early).
pub async fn bind_tunnels(
    specs: &[crate::cli::TunnelSpec],
) -> Result<Vec<BoundTunnel>, AgentError> {
    let mut out = Vec::with_capacity(specs.len());
    for t in specs {
        let listener = TcpListener::bind(&t.local)
            .await
            .map_err(|e| AgentError::Usage(format!("cannot listen on {}: {e}", t.local)))?;
        let local = listener
            .local_addr()
            .map_err(|e| AgentError::Usage(format!("{}: {e}", t.local)))?;
        out.push(BoundTunnel {
            local,
            listener,
            target: t.target.clone(),
        });
    }
    Ok(out)
}

/// Forwards each tunnel over `gs`, prints the ready lines, and runs until `stop` resolves
/// (then sends `SessionCancel` and returns `Ok`) or the session ends (`Disconnected`).
pub async fn run_tunnels(
    mut gs: GuestSession,
    tunnels: Vec<BoundTunnel>,
    print: Printer,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), GuestError> {
    let sid = gs.session.id();
    for t in tunnels {
        let s = gs.session.clone();
        let (local, target) = (t.local, t.target.clone());
        tokio::spawn(async move {
            if let Err(e) = s.forward_listener(t.listener, t.target).await {
                tracing::warn!(%local, error = %e, "tunnel listener ended");
            }
        });
        print(&format!("tunnel {local} -> {target} ready"));
    }
    tokio::pin!(stop);
    let mut control_up = true;
    // The broker's code when it closed the control connection (e.g. `account_disabled`).
    let mut control_code: Option<ErrorCode> = None;
    let cancelled = |code: ErrorCode| GuestError::Disconnected {
        what: code.name().to_owned(),
        message: code.sentence().to_owned(),
    };
    loop {
        tokio::select! {
            // The broker's word first: its SessionCancel names the reason the pipe ends.
            biased;
            () = &mut stop => {
                let _ = gs.control.send(ControlMessage::SessionCancel {
                    session_id: sid,
                    code: ErrorCode::Cancelled,
                }).await;
                gs.session.close();
                let _ = tokio::time::timeout(Duration::from_secs(2), gs.session.closed()).await;
                gs.control.close(ErrorCode::Cancelled, "the technician ended the session").await;
                return Ok(());
            }
            inc = gs.control.recv(), if control_up => match inc {
                Incoming::Message(ControlMessage::SessionCancel { session_id, code })
                    if session_id == sid =>
                {
                    gs.session.close();
                    print(&format!("session {sid} ended: {}", code.sentence()));
                    return Err(cancelled(code));
                }
                Incoming::Message(other) => {
                    tracing::debug!(kind = other.type_number(), "control message ignored");
                }
                Incoming::Closed { code, message } => {
                    // The session lives on the relay; it goes on without the control link.
                    tracing::warn!(?code, %message, "control connection ended; the session continues");
                    control_code = code;
                    control_up = false;
                }
            },
            end = gs.session.closed() => {
                // The broker may be telling us why right now: give it a moment.
                if control_up
                    && let Some(inc) = gs.control.recv_timeout(Duration::from_millis(500)).await
                {
                    match inc {
                        Incoming::Message(ControlMessage::SessionCancel { code, .. })
                        | Incoming::Closed { code: Some(code), .. } => control_code = Some(code),
                        _ => {}
                    }
                }
                print(&format!("session {sid} ended: {end}"));
                return Err(match control_code {
                    Some(code) => cancelled(code),
                    None => GuestError::Disconnected {
                        what: "session_ended".into(),
                        message: end.to_string(),
                    },
                });
            }
        }
    }
}

/// A future resolving on SIGINT or SIGTERM. The handlers are installed when this is called
/// (not when first polled), so a signal right after a printed line is not lost.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send {
    use tokio::signal::unix::{SignalKind, signal};
    let int = signal(SignalKind::interrupt()).ok();
    let term = signal(SignalKind::terminate()).ok();
    async move {
        let wait = |s: Option<tokio::signal::unix::Signal>| async move {
            match s {
                Some(mut s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            () = wait(int) => {}
            () = wait(term) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_list_and_names() {
        let v = serde_json::json!({"devices": [
            {"id": "00000000-0000-0000-0000-000000000001", "name": "web-1", "online": true,
             "permissions": ["remote_session", "tunnel"]},
            {"id": "00000000-0000-0000-0000-000000000002", "name": "db", "online": false,
             "permissions": []},
            {"id": "00000000-0000-0000-0000-000000000003", "name": "DB", "online": false},
        ]});
        let list = parse_devices(&v);
        assert_eq!(list.len(), 3);
        assert_eq!(list[0].permissions, ["remote_session", "tunnel"]);
        assert!(list[0].online && !list[1].online);
        let id = pick_device(&list, "WEB-1").unwrap();
        assert_eq!(id.to_string(), "00000000-0000-0000-0000-000000000001");
        assert!(
            pick_device(&list, "db")
                .unwrap_err()
                .to_string()
                .contains("2 devices")
        );
        assert!(
            pick_device(&list, "nope")
                .unwrap_err()
                .to_string()
                .contains("no device")
        );
        assert!(parse_devices(&serde_json::json!({})).is_empty());
    }

    #[test]
    fn refusal_sentences() {
        let e = refused(ErrorCode::NotPermitted, String::new());
        assert_eq!(
            e.to_string(),
            "refused: not_permitted: You are not permitted to do this on this device."
        );
        let e = api_refusal(
            "login",
            401,
            &serde_json::json!({"error": {"code": "auth_failed", "message": "Authentication failed."}}),
        );
        assert!(e.to_string().contains("401 auth_failed"), "{e}");
    }

    #[test]
    fn wanted_set() {
        let w = tunnel_wanted();
        assert!(w.contains(Permission::Tunnel) && w.contains(Permission::RemoteSession));
    }
}
