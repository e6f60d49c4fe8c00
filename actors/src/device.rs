//! `DeviceActor`: one per connected Host. It registers itself as the device's current
//! connection (closing the one it replaces), keeps the device's presence entry alive on a
//! timer, delivers offers and other control messages to the Host's writer, and ends when the
//! connection does (the writer's receiver is dropped, or the broker says so).
//!
//! The actor holds the connection's only long-lived `Sender`; when it stops or panics its state
//! is dropped, the sender with it, and the broker's writer ends (the Host reconnects). It never
//! reads from the connection: the broker decodes and routes.

use std::sync::Arc;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use switchboard_codec::{ControlMessage, DeviceId, ErrorCode, TenantId};
use switchboard_directory::rules::access::HostState;
use tokio::sync::mpsc;

use crate::counts::{ActorKind, Envelope, LiveGuard, TaskGuard};
use crate::hub::{DeviceEntry, Shared};
use crate::presence::PresenceEntry;
use crate::session::{SessionEvent, SessionMsg};

/// Messages of the device actor.
#[derive(Debug)]
pub(crate) enum DeviceMsg {
    /// Send this to the Host.
    Deliver(ControlMessage),
    /// A newer connection of the same device took over: tell this one and stop.
    Replaced,
    /// Close the connection with this reason (device revoked, pending, removed).
    Close(ErrorCode),
    /// The connection ended.
    ConnectionClosed,
    /// Refresh the presence entry.
    RefreshPresence,
    /// Test hook for supervision tests (feature `test-hooks`).
    #[cfg(feature = "test-hooks")]
    InjectPanic,
}

/// What a device actor starts with.
#[derive(Debug)]
pub(crate) struct DeviceArgs {
    pub(crate) shared: Arc<Shared>,
    pub(crate) tenant: TenantId,
    pub(crate) device: DeviceId,
    pub(crate) conn: u64,
    pub(crate) tx: mpsc::Sender<ControlMessage>,
    pub(crate) host_state: HostState,
    pub(crate) static_key: [u8; 32],
}

/// State of a device actor.
#[derive(Debug)]
pub(crate) struct DeviceState {
    shared: Arc<Shared>,
    tenant: TenantId,
    device: DeviceId,
    conn: u64,
    tx: Option<mpsc::Sender<ControlMessage>>,
    _refresh: TaskGuard,
    _watch: TaskGuard,
    _live: LiveGuard,
}

/// The device actor. See the module documentation.
#[derive(Debug)]
pub(crate) struct DeviceActor;

impl DeviceState {
    fn presence_entry(&self) -> PresenceEntry {
        PresenceEntry {
            node: self.shared.config.node.clone(),
            conn: self.conn,
        }
    }

    fn close(&mut self, code: ErrorCode, sentence: &str) {
        if let Some(tx) = self.tx.take() {
            crate::hub::try_send(&tx, ControlMessage::error(code, sentence));
        }
    }
}

impl Actor for DeviceActor {
    type Msg = Envelope<DeviceMsg>;
    type State = DeviceState;
    type Arguments = DeviceArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        a: DeviceArgs,
    ) -> Result<DeviceState, ActorProcessingErr> {
        let live = LiveGuard::new(&a.shared.counts, ActorKind::Device);
        let counts = Arc::clone(&a.shared.counts);
        // The connection ends when the broker's writer drops its receiver.
        let watched = a.tx.clone();
        let me = myself.clone();
        let c = Arc::clone(&counts);
        let watch = tokio::spawn(async move {
            watched.closed().await;
            drop(watched);
            let _ = me.cast(Envelope::new(
                &c,
                ActorKind::Device,
                DeviceMsg::ConnectionClosed,
            ));
        });
        let period = a.shared.config.presence_ttl / 3;
        let me = myself.clone();
        let refresh = tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.tick().await;
            loop {
                tick.tick().await;
                if me
                    .cast(Envelope::new(
                        &counts,
                        ActorKind::Device,
                        DeviceMsg::RefreshPresence,
                    ))
                    .is_err()
                {
                    break;
                }
            }
        });
        let state = DeviceState {
            shared: Arc::clone(&a.shared),
            tenant: a.tenant,
            device: a.device,
            conn: a.conn,
            tx: Some(a.tx),
            _refresh: TaskGuard::new(refresh.abort_handle()),
            _watch: TaskGuard::new(watch.abort_handle()),
            _live: live,
        };
        a.shared
            .presence
            .mark_online(
                a.tenant,
                a.device,
                state.presence_entry(),
                a.shared.config.presence_ttl,
            )
            .await;
        // Become the device's current connection; the previous one is told and stopped.
        let old = a.shared.devices.lock().insert(
            a.device,
            DeviceEntry {
                actor: myself,
                tenant: a.tenant,
                conn: a.conn,
                host_state: a.host_state,
                static_key: a.static_key,
            },
        );
        if let Some(old) = old {
            let _ = old.actor.cast(Envelope::new(
                &a.shared.counts,
                ActorKind::Device,
                DeviceMsg::Replaced,
            ));
        }
        Ok(state)
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut DeviceState,
    ) -> Result<(), ActorProcessingErr> {
        state.tx = None;
        release_device(&state.shared, state.tenant, state.device, state.conn).await;
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut DeviceState,
    ) -> Result<(), ActorProcessingErr> {
        match msg.msg {
            DeviceMsg::Deliver(m) => {
                let delivered = state
                    .tx
                    .as_ref()
                    .is_some_and(|tx| crate::hub::try_send(tx, m));
                if !delivered {
                    // A Host that does not drain its control queue is cut off; it reconnects.
                    state.close(ErrorCode::Internal, "control queue full");
                    myself.stop(Some("control queue full".into()));
                }
            }
            DeviceMsg::Replaced => {
                state.close(
                    ErrorCode::Cancelled,
                    "Replaced by a newer connection of this device.",
                );
                myself.stop(Some("replaced".into()));
            }
            DeviceMsg::Close(code) => {
                state.close(code, code.sentence());
                myself.stop(Some(code.name().into()));
            }
            DeviceMsg::ConnectionClosed => myself.stop(Some("connection closed".into())),
            DeviceMsg::RefreshPresence => {
                state
                    .shared
                    .presence
                    .mark_online(
                        state.tenant,
                        state.device,
                        state.presence_entry(),
                        state.shared.config.presence_ttl,
                    )
                    .await;
            }
            #[cfg(feature = "test-hooks")]
            DeviceMsg::InjectPanic => inject_panic(),
        }
        Ok(())
    }
}

#[cfg(feature = "test-hooks")]
#[allow(clippy::panic)] // The supervision tests need a real panic inside an actor.
fn inject_panic() {
    panic!("injected device actor panic (test hook)");
}

/// Clears a device connection's traces: its table entry and presence (only if still this
/// connection's), and cancels the sessions offered on this connection that are not active yet
/// (a replaced connection's pending offers die with it). Used by `post_stop` and by the
/// supervisor after a panic.
pub(crate) async fn release_device(shared: &Shared, tenant: TenantId, device: DeviceId, conn: u64) {
    {
        let mut m = shared.devices.lock();
        if m.get(&device).is_some_and(|e| e.conn == conn) {
            m.remove(&device);
        }
    }
    shared.remote_hosts_gone(device, conn);
    shared.presence.mark_offline(tenant, device, conn).await;
    let sessions: Vec<_> = shared
        .sessions
        .lock()
        .values()
        .filter(|e| e.device == Some(device) && e.host_conn == Some(conn))
        .map(|e| e.actor.clone())
        .collect();
    for s in sessions {
        let _ = s.cast(Envelope::new(
            &shared.counts,
            ActorKind::Session,
            SessionMsg::Event(SessionEvent::HostGone),
        ));
    }
}
