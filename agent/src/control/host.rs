//! The Host: `enroll` (a new device asks to join with a package key and stores its identity)
//! and `run` (the reconnect loop that keeps the device online and serves sessions).
//!
//! `HostSide` is the part shared with the OnDemand agent: it answers offers (asking the local
//! user when the offer requires confirmation, unless auto-accept), starts one session task per
//! `RelayAssignment` (`session::establish` + `serve_host` with the offer's granted set and the
//! `--allow` list), and closes a session on `SessionCancel`. Sessions live on the relay, so a
//! dropped control connection does not end them; a revoked device's sessions are closed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use switchboard_codec::message::{EnrollRequest, EnrollState, GuestIdentity};
use switchboard_codec::noise::{StaticKeypair, generate_static_keypair};
use switchboard_codec::{
    ControlCredentials, ControlMessage, ErrorCode, PermissionSet, SessionId, Side,
};
use tokio::sync::{mpsc, oneshot};

use super::backoff::Backoff;
use super::client::{ControlClient, ControlSender, Endpoint, Incoming, Outcome};
use super::{Printer, permission_names};
use crate::error::AgentError;
use crate::prompt::Confirmer;
use crate::session::{AllowList, HostPolicy, SessionPlan};
use crate::state::{HostState, StateDir};

/// How long a session task waits for the session to wind down after a cancel.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// What `host enroll` needs.
#[derive(Debug, Clone)]
pub struct EnrollOptions {
    /// Where the broker is (fingerprint already decided).
    pub endpoint: Endpoint,
    /// The deployment package's enrollment key.
    pub key: String,
    /// The host name to report (default: this machine's).
    pub hostname: Option<String>,
}

/// Enrolls this machine and writes `host.json`; the stored state.
pub async fn enroll(dir: &StateDir, opts: &EnrollOptions) -> Result<HostState, AgentError> {
    let mut signing_key = [0u8; 32];
    getrandom::fill(&mut signing_key).map_err(|e| AgentError::Usage(format!("random: {e}")))?;
    let statics = generate_static_keypair().map_err(|e| AgentError::Usage(e.to_string()))?;
    let req = EnrollRequest {
        enrollment_key: opts.key.clone(),
        device: super::device_info(opts.hostname.as_deref()),
        device_public_key: switchboard_codec::control_handshake::device_public_key(&signing_key),
        device_static_key: statics.public,
    };
    match ControlClient::connect(&opts.endpoint, ControlCredentials::Enroll(req)).await? {
        Outcome::Enrolled(r) => {
            let state = HostState {
                server: opts.endpoint.server.clone(),
                fingerprint: crate::pin::normalize(&opts.endpoint.fingerprint),
                device_id: r.device_id.to_string(),
                credential: hex::encode(&r.credential),
                enroll_state: match r.state {
                    EnrollState::Enrolled => "Enrolled".to_owned(),
                    EnrollState::Pending => "Pending".to_owned(),
                },
                signing_key: hex::encode(signing_key),
                static_private: hex::encode(statics.private),
            };
            dir.save_host(&state)?;
            Ok(state)
        }
        Outcome::Refused { code, message } => Err(AgentError::Refused { code, message }),
        Outcome::Established(_) => Err(AgentError::Control {
            server: opts.endpoint.server.clone(),
            message: "the broker welcomed an enrollment instead of answering it".into(),
        }),
    }
}

/// What `host run` needs.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// TLS or QUIC.
    pub transport: super::Transport,
    /// Targets tunnels may reach.
    pub allow: AllowList,
    /// Upper bound of the reconnect delay.
    pub reconnect_max: Duration,
    /// Answers offers that need confirmation.
    pub confirmer: Confirmer,
    /// Reported in `HostState`.
    pub user_logged_in: bool,
}

/// Codes that end `host run` (exit 2): the device cannot come back by retrying.
pub fn is_fatal(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::DeviceRevoked | ErrorCode::DeviceUnknown | ErrorCode::AuthFailed
    )
}

/// The reconnect loop; returns only with the broker's fatal refusal (revoked, unknown).
pub async fn run(state: &HostState, opts: RunOptions, print: Printer) -> AgentError {
    let ep = Endpoint {
        server: state.server.clone(),
        fingerprint: state.fingerprint.clone(),
        transport: opts.transport,
    };
    let (device_id, credential, signing_key, statics) = match (
        state.device_id(),
        state.credential(),
        state.signing_key(),
        state.static_keypair(),
    ) {
        (Ok(a), Ok(b), Ok(c), Ok(d)) => (a, b, c, d),
        (Err(e), ..) | (_, Err(e), ..) | (_, _, Err(e), _) | (.., Err(e)) => return e,
    };
    let (mut side, mut events) =
        HostSide::new(print.clone(), opts.confirmer.clone(), opts.allow, statics);
    let mut backoff = Backoff::new(opts.reconnect_max);
    loop {
        let creds = ControlCredentials::Device {
            device_id,
            credential: credential.clone(),
            signing_key,
        };
        let why = match ControlClient::connect(&ep, creds).await {
            Ok(Outcome::Established(mut client)) => {
                print(&format!("connected to {} as device {device_id}", ep.server));
                backoff.reset();
                let hs = ControlMessage::HostState {
                    locked: false,
                    user_logged_in: opts.user_logged_in,
                };
                let _ = client.send(hs).await;
                let (code, message) = side.serve(&mut client, &mut events).await;
                match code {
                    Some(c) if is_fatal(c) => {
                        side.close_all(c.sentence());
                        return AgentError::Refused { code: c, message };
                    }
                    Some(c) => format!("control connection closed: {}: {message}", c.name()),
                    None => format!("control connection lost: {message}"),
                }
            }
            Ok(Outcome::Refused { code, message }) if is_fatal(code) => {
                side.close_all(code.sentence());
                return AgentError::Refused { code, message };
            }
            Ok(Outcome::Refused {
                code: ErrorCode::DevicePending,
                ..
            }) => {
                let d = backoff.next_delay();
                print(&format!(
                    "device is pending approval; retrying in {}s",
                    secs(d)
                ));
                tokio::time::sleep(d).await;
                continue;
            }
            Ok(Outcome::Refused { code, message }) => {
                format!("refused: {}: {message}", code.name())
            }
            Ok(Outcome::Enrolled(_)) => "unexpected enrollment answer".to_owned(),
            Err(e) => e.to_string(),
        };
        let d = backoff.next_delay();
        print(&format!("{why}; reconnecting in {}s", secs(d)));
        tokio::time::sleep(d).await;
    }
}

fn secs(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64())
}

/// An accepted offer waiting for its relay assignment.
#[derive(Debug, Clone)]
struct Offer {
    granted: PermissionSet,
}

/// Answers offers and runs sessions for one Host identity (a device or an OnDemand agent).
#[derive(Debug)]
pub struct HostSide {
    print: PrinterDebug,
    confirmer: Confirmer,
    allow: AllowList,
    statics: StaticKeypair,
    offers: HashMap<SessionId, Offer>,
    prompts: HashMap<SessionId, tokio::task::JoinHandle<()>>,
    decisions_tx: mpsc::Sender<Decision>,
    live: Arc<parking_lot::Mutex<HashMap<SessionId, oneshot::Sender<String>>>>,
    ended_tx: mpsc::UnboundedSender<(SessionId, String)>,
}

/// The local user's answer to an offer: session, who asked, allowed.
pub type Decision = (SessionId, String, bool);

/// What a `HostSide` reports back to its owner's loop.
#[derive(Debug)]
pub struct HostEvents {
    /// Answers of the local user, to pass to `HostSide::decide`.
    pub decisions: mpsc::Receiver<Decision>,
    /// Sessions that ended, with why.
    pub ended: mpsc::UnboundedReceiver<(SessionId, String)>,
}

/// A `Printer` that `Debug` can skip.
#[derive(Clone)]
struct PrinterDebug(Printer);

impl std::fmt::Debug for PrinterDebug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Printer")
    }
}

impl HostSide {
    /// A Host with static key pair `statics` serving targets in `allow`.
    pub fn new(
        print: Printer,
        confirmer: Confirmer,
        allow: AllowList,
        statics: StaticKeypair,
    ) -> (Self, HostEvents) {
        let (decisions_tx, decisions) = mpsc::channel(16);
        let (ended_tx, ended) = mpsc::unbounded_channel();
        let me = Self {
            print: PrinterDebug(print),
            confirmer,
            allow,
            statics,
            offers: HashMap::new(),
            prompts: HashMap::new(),
            decisions_tx,
            live: Arc::default(),
            ended_tx,
        };
        (me, HostEvents { decisions, ended })
    }

    fn say(&self, line: &str) {
        (self.print.0)(line);
    }

    /// Serves one established connection until it closes; its close code and sentence.
    pub async fn serve(
        &mut self,
        client: &mut ControlClient,
        events: &mut HostEvents,
    ) -> (Option<ErrorCode>, String) {
        let sender = client.sender();
        loop {
            tokio::select! {
                inc = client.recv() => match inc {
                    Incoming::Message(m) => {
                        if let Some(other) = self.handle(m, &sender).await {
                            tracing::debug!(kind = other.type_number(), "control message ignored");
                        }
                    }
                    Incoming::Closed { code, message } => return (code, message),
                },
                Some(d) = events.decisions.recv() => self.decide(d, &sender).await,
            }
        }
    }

    /// Acts on one broker message; gives back the messages it does not handle.
    pub async fn handle(
        &mut self,
        msg: ControlMessage,
        sender: &ControlSender,
    ) -> Option<ControlMessage> {
        match msg {
            ControlMessage::SessionOffer {
                session_id,
                guest,
                granted,
                confirm_required,
            } => {
                self.on_offer(session_id, &guest, granted, confirm_required, sender)
                    .await;
                None
            }
            ControlMessage::RelayAssignment {
                session_id,
                relay_addr,
                ticket,
                peer_static_key,
            } => {
                let Some(offer) = self.offers.remove(&session_id) else {
                    tracing::warn!(%session_id, "relay assignment for a session not accepted here");
                    return None;
                };
                let plan = SessionPlan {
                    session_id,
                    side: Side::Host,
                    relay_addr,
                    ticket,
                    local_static: self.statics.clone(),
                    peer_static: peer_static_key,
                };
                self.start_session(plan, offer.granted);
                None
            }
            ControlMessage::SessionCancel { session_id, code } => {
                if let Some(p) = self.prompts.remove(&session_id) {
                    p.abort();
                }
                if self.offers.remove(&session_id).is_some() {
                    self.say(&format!("session {session_id} ended: {}", code.sentence()));
                }
                if let Some(tx) = self.live.lock().remove(&session_id) {
                    let _ = tx.send(code.sentence().to_owned());
                }
                None
            }
            other => Some(other),
        }
    }

    async fn on_offer(
        &mut self,
        sid: SessionId,
        guest: &GuestIdentity,
        granted: PermissionSet,
        confirm_required: bool,
        sender: &ControlSender,
    ) {
        let who = if guest.display_name.is_empty() {
            guest.user_id.to_string()
        } else {
            guest.display_name.clone()
        };
        self.offers.insert(sid, Offer { granted });
        if !confirm_required {
            self.decide((sid, who, true), sender).await;
            return;
        }
        let question = format!("Allow {who} ({})? [y/N]", permission_names(granted));
        let confirmer = self.confirmer.clone();
        let tx = self.decisions_tx.clone();
        let task = tokio::spawn(async move {
            let yes = confirmer.confirm(&question).await;
            let _ = tx.send((sid, who, yes)).await;
        });
        self.prompts.insert(sid, task);
    }

    /// Sends the answer to an offer and says so.
    pub async fn decide(&mut self, (sid, who, yes): Decision, s: &ControlSender) {
        self.prompts.remove(&sid);
        if !self.offers.contains_key(&sid) {
            return; // cancelled meanwhile
        }
        if yes {
            self.say(&format!("session {sid} from {who}: accepted"));
            s.send(ControlMessage::SessionAccept { session_id: sid })
                .await;
        } else {
            self.offers.remove(&sid);
            self.say(&format!(
                "session {sid} from {who}: refused (denied at this device)"
            ));
            let code = ErrorCode::ConfirmDenied;
            s.send(ControlMessage::SessionReject {
                session_id: sid,
                code,
                message: code.sentence().to_owned(),
            })
            .await;
        }
    }

    fn start_session(&mut self, plan: SessionPlan, granted: PermissionSet) {
        let sid = plan.session_id;
        let (cancel_tx, mut cancel_rx) = oneshot::channel::<String>();
        self.live.lock().insert(sid, cancel_tx);
        let live = self.live.clone();
        let print = self.print.clone();
        let ended = self.ended_tx.clone();
        let policy = HostPolicy {
            allow: self.allow.clone(),
            granted,
        };
        tokio::spawn(async move {
            let why = tokio::select! {
                s = crate::session::establish(plan) => match s {
                    Ok(session) => {
                        let serve = session.serve_host(policy);
                        tokio::pin!(serve);
                        tokio::select! {
                            r = &mut serve => match r {
                                Ok(end) => end.to_string(),
                                Err(e) => e.to_string(),
                            },
                            why = &mut cancel_rx => {
                                session.close();
                                let _ = tokio::time::timeout(CLOSE_WAIT, &mut serve).await;
                                why.unwrap_or_else(|_| "closed".to_owned())
                            }
                        }
                    }
                    Err(e) => e.to_string(),
                },
                why = &mut cancel_rx => why.unwrap_or_else(|_| "closed".to_owned()),
            };
            live.lock().remove(&sid);
            (print.0)(&format!("session {sid} ended: {why}"));
            let _ = ended.send((sid, why));
        });
    }

    /// Closes every running session (the device was revoked).
    pub fn close_all(&mut self, why: &str) {
        for (_, p) in self.prompts.drain() {
            p.abort();
        }
        self.offers.clear();
        let live: Vec<_> = self.live.lock().drain().collect();
        for (_, tx) in live {
            let _ = tx.send(why.to_owned());
        }
    }

    /// How many sessions run now.
    pub fn live_sessions(&self) -> usize {
        self.live.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fatal_codes() {
        assert!(is_fatal(ErrorCode::DeviceRevoked));
        assert!(is_fatal(ErrorCode::DeviceUnknown));
        assert!(!is_fatal(ErrorCode::DevicePending));
        assert!(!is_fatal(ErrorCode::Internal));
    }
}
