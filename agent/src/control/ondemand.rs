//! OnDemand: the technician creates a one-time nine-digit key, starts (or rejects) the session
//! of the end user who joined with it; the end user's agent joins the queue with the key and,
//! once its local user allows, serves the session like a Host (with `--allow`).
//!
//! The agent's Noise key is a fresh one-off pair sent in the join; the technician's is a fresh
//! pair sent in `OnDemandStart`. This module does not keep any state file.

use std::time::Duration;

use switchboard_codec::message::{OnDemandJoin, OnDemandKey};
use switchboard_codec::{ControlCredentials, ControlMessage, ErrorCode};

use super::Printer;
use super::client::{ControlClient, Endpoint, Incoming, Outcome};
use super::guest::{GuestError, GuestSession, await_session, fresh_keys};
use super::host::HostSide;
use crate::error::AgentError;
use crate::prompt::Confirmer;
use crate::session::AllowList;

/// How long a technician command waits for the broker's answer.
pub const ANSWER_WAIT: Duration = Duration::from_secs(15);

/// How long an end user's agent waits in the queue at most (the broker's queue timeout ends
/// it sooner).
pub const QUEUE_WAIT: Duration = Duration::from_secs(3600);

fn refused(code: ErrorCode) -> GuestError {
    GuestError::Refused {
        code,
        message: code.sentence().to_owned(),
    }
}

/// Creates a key; the key and its expiry (Unix ms).
pub async fn create_key(control: &mut ControlClient) -> Result<(OnDemandKey, u64), GuestError> {
    let mut rid = [0u8; 8];
    let _ = getrandom::fill(&mut rid);
    let request_id = u64::from_le_bytes(rid);
    control
        .send(ControlMessage::OnDemandCreateKey { request_id })
        .await?;
    let deadline = tokio::time::Instant::now() + ANSWER_WAIT;
    loop {
        let Ok(inc) = tokio::time::timeout_at(deadline, control.recv()).await else {
            return Err(AgentError::Usage("the broker did not answer within 15 s".into()).into());
        };
        match inc {
            Incoming::Message(ControlMessage::OnDemandKeyCreated {
                request_id: r,
                key,
                expires_at_unix_ms,
            }) if r == request_id => return Ok((key, expires_at_unix_ms)),
            Incoming::Message(ControlMessage::OnDemandRejected { code }) => {
                return Err(refused(code));
            }
            Incoming::Message(_) => {}
            Incoming::Closed { code, message } => return Err(closed(control, code, message)),
        }
    }
}

fn closed(control: &ControlClient, code: Option<ErrorCode>, message: String) -> GuestError {
    match code {
        Some(c) => GuestError::Refused { code: c, message },
        None => AgentError::Control {
            server: control.server().to_owned(),
            message,
        }
        .into(),
    }
}

/// RFC 3339 text of a Unix-millisecond instant.
pub fn rfc3339(unix_ms: u64) -> String {
    i64::try_from(unix_ms)
        .ok()
        .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
        .map_or_else(|| unix_ms.to_string(), |t| t.to_string())
}

/// Starts the session waiting on `key`; established like a Guest session.
pub async fn start(control: ControlClient, key: OnDemandKey) -> Result<GuestSession, GuestError> {
    let keys = fresh_keys()?;
    control
        .send(ControlMessage::OnDemandStart {
            key,
            guest_static_key: keys.public,
        })
        .await?;
    await_session(control, keys, None).await
}

/// Rejects the session waiting on `key` (the broker answers only failures: a short wait).
pub async fn reject(mut control: ControlClient, key: OnDemandKey) -> Result<(), GuestError> {
    control.send(ControlMessage::OnDemandReject { key }).await?;
    match control.recv_timeout(Duration::from_secs(1)).await {
        Some(Incoming::Message(ControlMessage::OnDemandRejected { code })) => Err(refused(code)),
        Some(Incoming::Closed {
            code: Some(code),
            message,
        }) => Err(GuestError::Refused { code, message }),
        _ => {
            control.close(ErrorCode::Cancelled, "done").await;
            Ok(())
        }
    }
}

/// What `ondemand join` needs.
#[derive(Debug, Clone)]
pub struct JoinOptions {
    /// The broker.
    pub endpoint: Endpoint,
    /// The key the end user typed.
    pub key: OnDemandKey,
    /// Asks the local user (or `--yes`).
    pub confirmer: Confirmer,
    /// Targets the technician's tunnels may reach.
    pub allow: AllowList,
}

/// Joins the queue, answers the offer, serves one session; returns when it ends.
pub async fn join(opts: JoinOptions, print: Printer) -> Result<(), GuestError> {
    let keys = fresh_keys()?;
    let creds = ControlCredentials::OnDemand(OnDemandJoin {
        key: opts.key,
        device: super::device_info(None),
        static_key: keys.public,
    });
    let mut control = match ControlClient::connect(&opts.endpoint, creds).await? {
        Outcome::Established(c) => c,
        Outcome::Refused { code, message } => return Err(GuestError::Refused { code, message }),
        Outcome::Enrolled(_) => {
            return Err(AgentError::Usage("unexpected enrollment answer".into()).into());
        }
    };
    let (mut side, mut events) = HostSide::new(print.clone(), opts.confirmer, opts.allow, keys);
    let sender = control.sender();
    let deadline = tokio::time::Instant::now() + QUEUE_WAIT;
    let mut control_up = true;
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(deadline) => {
                return Err(refused(ErrorCode::OndemandQueueTimeout));
            }
            inc = control.recv(), if control_up => match inc {
                Incoming::Message(m) => match side.handle(m, &sender).await {
                    Some(ControlMessage::OnDemandQueued { position }) => {
                        print(&format!("queued at position {position}"));
                    }
                    Some(ControlMessage::OnDemandStarted { session_id }) => {
                        tracing::info!(%session_id, "the technician started the session");
                    }
                    Some(ControlMessage::OnDemandRejected { code }) => return Err(refused(code)),
                    Some(other) => {
                        tracing::debug!(kind = other.type_number(), "control message ignored");
                    }
                    None => {}
                },
                Incoming::Closed { code, message } => {
                    if side.live_sessions() == 0 {
                        return Err(closed(&control, code, message));
                    }
                    control_up = false;
                }
            },
            Some(d) = events.decisions.recv() => {
                let refused_here = !d.2;
                side.decide(d, &sender).await;
                if refused_here {
                    control.close(ErrorCode::ConfirmDenied, "the user denied the session").await;
                    return Ok(());
                }
            }
            Some((_, _why)) = events.ended.recv() => {
                control.close(ErrorCode::Cancelled, "the session ended").await;
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_is_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    }
}
