//! A pool of simulated Hosts: one task per enrolled device identity, each holding one control
//! connection (TLS, or QUIC with `--quic`), announcing itself online and answering offers with
//! the agent library's own `HostSide` (auto-accept, real relay bind, real Noise, real tunnel
//! serving).
//!
//! What a session does is chosen by the Guest through the tunnel target: the pool runs an
//! `echo` service (RTT, bulk both ways) and a `sink` service (upload only) on loopback and
//! allows exactly those two; a session with no tunnel is simply held (idle). Connects are
//! spread with a bounded number in flight; a host whose connection drops reconnects after a
//! second, and every refusal or drop is counted by reason. It provisions nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use switchboard_agent::control::host::{HostEvents, HostSide, is_fatal};
use switchboard_agent::control::{ControlClient, Endpoint, Incoming, Outcome, Printer};
use switchboard_agent::prompt::Confirmer;
use switchboard_agent::session::AllowList;
use switchboard_agent::state::HostState;
use switchboard_codec::{ControlCredentials, ControlMessage};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::error::LoadgenError;
use crate::results::{ErrorCounts, reason_of};
use crate::services::{self, Service};

/// Control connects in flight at once while a pool starts.
pub const CONNECT_CONCURRENCY: usize = 64;
/// Delay before a dropped host reconnects.
const RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// Running simulated hosts.
#[derive(Debug)]
pub struct HostPool {
    tasks: JoinSet<()>,
    online: Arc<AtomicUsize>,
    /// Host-side failures by reason (refused connects, drops, failed sessions).
    pub errors: Arc<ErrorCounts>,
    /// Sessions the hosts' `HostSide` saw end.
    ended: Arc<AtomicUsize>,
    echo: Service,
    sink: Service,
    size: usize,
}

fn quiet_printer() -> Printer {
    Arc::new(|_: &str| {})
}

impl HostPool {
    /// Starts one host per identity in `devices` against `ep`; waits (at most `wait`) until
    /// all are online. Hosts that are not online by then keep trying; see [`Self::online`].
    pub async fn start(
        ep: &Endpoint,
        devices: &[HostState],
        wait: Duration,
    ) -> Result<Self, LoadgenError> {
        let echo = services::start(services::Kind::Echo).await?;
        let sink = services::start(services::Kind::Sink).await?;
        let allow = AllowList::parse_entries([echo.target().as_str(), sink.target().as_str()])?;
        let online = Arc::new(AtomicUsize::new(0));
        let errors = Arc::new(ErrorCounts::new());
        let ended = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new(Semaphore::new(CONNECT_CONCURRENCY));
        let mut tasks = JoinSet::new();
        for d in devices {
            let host = SimHost {
                ep: ep.clone(),
                state: d.clone(),
                allow: allow.clone(),
                online: online.clone(),
                errors: errors.clone(),
                ended: ended.clone(),
                gate: gate.clone(),
            };
            tasks.spawn(host.run());
        }
        let pool = Self {
            tasks,
            online,
            errors,
            ended,
            echo,
            sink,
            size: devices.len(),
        };
        let deadline = tokio::time::Instant::now() + wait;
        while pool.online() < pool.size && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(pool)
    }

    /// Hosts connected now.
    pub fn online(&self) -> usize {
        self.online.load(Ordering::Relaxed)
    }

    /// Hosts in the pool.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Sessions the hosts saw end so far.
    pub fn sessions_ended(&self) -> usize {
        self.ended.load(Ordering::Relaxed)
    }

    /// The echo service's `host:port` (the tunnel target for RTT and bulk).
    pub fn echo_target(&self) -> String {
        self.echo.target()
    }

    /// The sink service's `host:port`.
    pub fn sink_target(&self) -> String {
        self.sink.target()
    }

    /// Disconnects every host (their running sessions end with their guests).
    pub async fn shutdown(mut self) {
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
    }
}

struct SimHost {
    ep: Endpoint,
    state: HostState,
    allow: AllowList,
    online: Arc<AtomicUsize>,
    errors: Arc<ErrorCounts>,
    ended: Arc<AtomicUsize>,
    gate: Arc<Semaphore>,
}

impl SimHost {
    async fn run(self) {
        let ids = (
            self.state.device_id(),
            self.state.credential(),
            self.state.signing_key(),
            self.state.static_keypair(),
        );
        let (device_id, credential, signing_key, statics) = match ids {
            (Ok(a), Ok(b), Ok(c), Ok(d)) => (a, b, c, d),
            (Err(e), ..) | (_, Err(e), ..) | (_, _, Err(e), _) | (.., Err(e)) => {
                self.errors.add_error(&e);
                return;
            }
        };
        let print = quiet_printer();
        let (mut side, mut events) = HostSide::new(
            print.clone(),
            Confirmer::auto_accept(print),
            self.allow.clone(),
            statics,
        );
        loop {
            let creds = ControlCredentials::Device {
                device_id,
                credential: credential.clone(),
                signing_key,
            };
            let permit = self.gate.clone().acquire_owned().await;
            let outcome = ControlClient::connect(&self.ep, creds).await;
            drop(permit);
            match outcome {
                Ok(Outcome::Established(mut client)) => {
                    let _ = client
                        .send(ControlMessage::HostState {
                            locked: false,
                            user_logged_in: true,
                        })
                        .await;
                    self.online.fetch_add(1, Ordering::Relaxed);
                    let code = self.serve(&mut side, &mut client, &mut events).await;
                    self.online.fetch_sub(1, Ordering::Relaxed);
                    self.errors.add(&format!(
                        "host_disconnected_{}",
                        code.map_or("network", |c| c.name())
                    ));
                    if code.is_some_and(is_fatal) {
                        side.close_all("device refused");
                        return;
                    }
                }
                Ok(Outcome::Refused { code, .. }) => {
                    self.errors.add(&format!("host_{}", code.name()));
                    if is_fatal(code) {
                        return;
                    }
                }
                Ok(Outcome::Enrolled(_)) => self.errors.add("host_unexpected_enrolled"),
                Err(e) => self.errors.add(&format!("host_{}", reason_of(&e))),
            }
            tokio::time::sleep(RECONNECT_DELAY).await;
        }
    }

    /// Serves one connection until it closes; the broker's close code, if any.
    async fn serve(
        &self,
        side: &mut HostSide,
        client: &mut ControlClient,
        events: &mut HostEvents,
    ) -> Option<switchboard_codec::ErrorCode> {
        let sender = client.sender();
        loop {
            tokio::select! {
                inc = client.recv() => match inc {
                    Incoming::Message(m) => {
                        if let Some(other) = side.handle(m, &sender).await {
                            tracing::debug!(kind = other.type_number(), "host: message ignored");
                        }
                    }
                    Incoming::Closed { code, .. } => return code,
                },
                Some(d) = events.decisions.recv() => side.decide(d, &sender).await,
                Some((sid, why)) = events.ended.recv() => {
                    self.ended.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%sid, %why, "host: session ended");
                }
            }
        }
    }
}
