//! `Hub`: the broker's entry point into the actor layer.
//!
//! It owns the shared tables (tenants, connected devices, live sessions), the supervisor every
//! actor is linked to, and the collaborators (directory, relay registry, presence, audit sink,
//! ticket signer). The broker's listeners call its methods with decoded messages and a bounded
//! sender to each connection's writer; the hub answers with `ErrorCode` refusals. Table locks
//! are `parking_lot` mutexes held only for a lookup or an insert, never across an await.
//!
//! Session requests are authorized here, on the tenant's shared policy snapshot, before any
//! session actor exists: a refusal costs no actor (admission control), and is audited.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use parking_lot::Mutex;
use ractor::{Actor, ActorId, ActorRef};
use switchboard_codec::message::GuestIdentity;
use switchboard_codec::{
    ControlMessage, DeviceId, ErrorCode, PermissionSet, RelayId, SessionId, Side, TenantId,
    TicketSigner, UserId,
};
use switchboard_directory::DirectoryError;
use switchboard_directory::model::{
    AuditActor, AuditId, AuditKind, AuditOutcome, AuditRecord, EnrollmentState, OnDemandId,
};
use switchboard_directory::rules::access::HostState;
use switchboard_directory::rules::wire::to_wire;
use switchboard_directory::service::Directory;
use tokio::sync::mpsc;

use crate::audit::AuditSink;
use crate::config::ActorConfig;
use crate::counts::{ActorCounts, ActorKind, CountSnapshot, Envelope};
use crate::device::{DeviceActor, DeviceArgs, DeviceMsg};
use crate::error::ActorError;
use crate::ids::{dir_device, dir_session, dir_tenant, dir_user, new_session_id};
use crate::metrics;
use crate::presence::PresenceStore;
use crate::rate_limit::TokenBucket;
use crate::relay_registry::{RelayKill, RelayRegistry};
use crate::session::{SessionActor, SessionArgs, SessionEvent, SessionMsg};
use crate::supervisor::{Supervisor, SupervisorMsg};
use crate::tenant::{TenantActor, TenantArgs, TenantHandle};

/// How long a call into an actor may take before the caller gives up.
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// What the hub is built from.
#[derive(Debug)]
pub struct HubDeps {
    /// The directory (its clock is the wall clock of schedules, tickets and OnDemand keys).
    pub directory: Directory,
    /// Signs session tickets.
    pub signer: TicketSigner,
    /// Where relays are found.
    pub relays: Arc<dyn RelayRegistry>,
    /// Where presence is written.
    pub presence: Arc<dyn PresenceStore>,
    /// Where session transitions are audited.
    pub audit: Arc<dyn AuditSink>,
    /// Limits and timeouts.
    pub config: ActorConfig,
}

/// One side of a session the broker holds a connection for: a Guest (technician).
#[derive(Debug, Clone)]
pub struct GuestLink {
    /// The authenticated user.
    pub user: UserId,
    /// Shown to the Host.
    pub display_name: String,
    /// The Guest's static X25519 key (sent to the Host for Noise).
    pub static_key: [u8; 32],
    /// The Guest connection's writer.
    pub tx: mpsc::Sender<ControlMessage>,
}

/// A decoded `SessionRequest` from an authenticated Guest.
#[derive(Debug, Clone)]
pub struct SessionRequest {
    /// The Guest's tenant (chosen at login).
    pub tenant: TenantId,
    /// The Guest.
    pub guest: GuestLink,
    /// Echoed in the answer.
    pub request_id: u64,
    /// The device asked for.
    pub device: DeviceId,
    /// The actions wanted.
    pub wanted: PermissionSet,
    /// Preferred relay region, if any.
    pub region: Option<String>,
}

/// An authenticated Host control connection.
#[derive(Debug, Clone)]
pub struct DeviceConnection {
    /// The device's tenant.
    pub tenant: TenantId,
    /// The device.
    pub device: DeviceId,
    /// The connection's writer (bounded); dropping every clone ends the writer.
    pub tx: mpsc::Sender<ControlMessage>,
    /// What the Host reports about its local session (lock / logged-in user).
    pub host_state: HostState,
}

/// Where a session's Host is reached.
#[derive(Debug, Clone)]
pub(crate) enum HostPeer {
    /// An enrolled device, through its (current) device actor.
    Device(DeviceId),
    /// An OnDemand agent's connection.
    Direct(mpsc::Sender<ControlMessage>),
    /// An enrolled device connected to another broker node (messages go through it).
    Remote {
        /// The node holding the device's connection.
        node: String,
        /// The device's tenant.
        tenant: TenantId,
        /// The device.
        device: DeviceId,
        /// Its connection number there (a newer connection does not get the messages).
        conn: u64,
    },
}

/// A connected device in the table.
#[derive(Debug, Clone)]
pub(crate) struct DeviceEntry {
    pub(crate) actor: ActorRef<Envelope<DeviceMsg>>,
    pub(crate) tenant: TenantId,
    pub(crate) conn: u64,
    pub(crate) host_state: HostState,
    pub(crate) static_key: [u8; 32],
}

/// A live session in the table (what the supervisor needs to clean up after a panic).
#[derive(Debug, Clone)]
pub(crate) struct SessionEntry {
    pub(crate) actor_id: ActorId,
    pub(crate) actor: ActorRef<Envelope<SessionMsg>>,
    pub(crate) tenant: TenantId,
    pub(crate) device: Option<DeviceId>,
    /// The device connection the session was offered on.
    pub(crate) host_conn: Option<u64>,
    pub(crate) user: UserId,
    pub(crate) guest_tx: mpsc::Sender<ControlMessage>,
    pub(crate) host: HostPeer,
    pub(crate) relay: Option<RelayId>,
    pub(crate) ondemand: Option<OnDemandId>,
}

/// Per-tenant admission state, shared by the tenant handle.
#[derive(Debug)]
pub(crate) struct TenantLimits {
    pub(crate) sessions_rate: Mutex<TokenBucket>,
    pub(crate) logins_rate: Mutex<TokenBucket>,
    pub(crate) sessions: AtomicUsize,
}

/// State shared by the hub, the supervisor and every actor.
pub(crate) struct Shared {
    pub(crate) directory: Directory,
    pub(crate) signer: TicketSigner,
    pub(crate) relays: Arc<dyn RelayRegistry>,
    pub(crate) presence: Arc<dyn PresenceStore>,
    pub(crate) audit: Arc<dyn AuditSink>,
    pub(crate) config: ActorConfig,
    pub(crate) counts: Arc<ActorCounts>,
    pub(crate) tenants: Mutex<HashMap<TenantId, TenantHandle>>,
    pub(crate) devices: Mutex<HashMap<DeviceId, DeviceEntry>>,
    pub(crate) sessions: Mutex<HashMap<SessionId, SessionEntry>>,
    pub(crate) total_sessions: AtomicUsize,
    pub(crate) next_conn: AtomicU64,
    /// Cuts relay pipes of sessions the broker ends (set once the relay is up).
    pub(crate) relay_kill: OnceLock<Arc<dyn RelayKill>>,
    /// Connected Guests (technicians), by connection number.
    pub(crate) guests: Mutex<HashMap<u64, GuestConn>>,
    /// The other broker nodes (set once when this node joins a cluster).
    pub(crate) cluster: OnceLock<Arc<crate::hub_cluster::ClusterState>>,
}

/// A connected Guest in the table (closed when its account is disabled or removed).
#[derive(Debug, Clone)]
pub(crate) struct GuestConn {
    pub(crate) tenant: TenantId,
    pub(crate) user: UserId,
    pub(crate) tx: mpsc::Sender<ControlMessage>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("config", &self.config)
            .field("counts", &self.counts)
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// Sends to a device's current actor; false when it is not connected here.
    pub(crate) fn send_device(&self, device: DeviceId, msg: DeviceMsg) -> bool {
        let actor = self.devices.lock().get(&device).map(|e| e.actor.clone());
        match actor {
            Some(a) => a
                .cast(Envelope::new(&self.counts, ActorKind::Device, msg))
                .is_ok(),
            None => false,
        }
    }

    /// Sends a control message to a session's Host.
    pub(crate) fn send_host(&self, host: &HostPeer, msg: ControlMessage) -> bool {
        match host {
            HostPeer::Device(d) => self.send_device(*d, DeviceMsg::Deliver(msg)),
            HostPeer::Direct(tx) => try_send(tx, msg),
            HostPeer::Remote {
                node,
                tenant,
                device,
                conn,
            } => self.send_remote_host(node, *tenant, *device, *conn, msg),
        }
    }

    /// Queues one audit entry about a session (or a refusal); [`Shared::audit_flush`] makes
    /// it durable.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn audit(
        &self,
        tenant: TenantId,
        actor: AuditActor,
        kind: AuditKind,
        what: String,
        outcome: AuditOutcome,
        device: Option<DeviceId>,
        session: Option<SessionId>,
    ) {
        let record = AuditRecord {
            id: AuditId::new_random(),
            tenant: dir_tenant(tenant),
            at: self.directory.now(),
            actor,
            kind,
            what,
            from: None,
            outcome,
            device: device.map(dir_device),
            session: session.map(dir_session),
        };
        self.audit.record(record).await;
    }

    /// Returns once every audit entry queued so far is stored.
    pub(crate) async fn audit_flush(&self) {
        self.audit.flush().await;
    }

    /// Asks the relay to cut `session`'s pipes (no-op without a kill hook).
    pub(crate) fn kill_at_relay(&self, relay: RelayId, session: SessionId, reason: ErrorCode) {
        if let Some(k) = self.relay_kill.get() {
            k.kill(relay, session, reason);
        }
    }

    /// Drops `id`'s entry if `actor` still holds it (the session ended here).
    pub(crate) fn remove_session(&self, id: SessionId, actor: ActorId) -> Option<SessionEntry> {
        let entry = {
            let mut m = self.sessions.lock();
            if m.get(&id).is_none_or(|e| e.actor_id != actor) {
                return None;
            }
            self.total_sessions.fetch_sub(1, Ordering::Relaxed);
            m.remove(&id)
        };
        self.session_ended_here(id);
        entry
    }
}

/// Sends without waiting; a full or closed writer drops the message (counted).
pub(crate) fn try_send(tx: &mpsc::Sender<ControlMessage>, msg: ControlMessage) -> bool {
    match tx.try_send(msg) {
        Ok(()) => true,
        Err(_) => {
            ::metrics::counter!(metrics::CONTROL_DROPPED_TOTAL).increment(1);
            false
        }
    }
}

/// An outcome code as an audit outcome.
pub(crate) fn outcome_of(code: ErrorCode) -> AuditOutcome {
    match code {
        ErrorCode::Internal => AuditOutcome::Failure(code.name().to_owned()),
        _ => AuditOutcome::Denied(code.name().to_owned()),
    }
}

/// What a session actor is started with, before the hub adds its shared parts.
#[derive(Debug)]
pub(crate) struct SessionSpec {
    pub(crate) tenant: TenantId,
    pub(crate) request_id: u64,
    pub(crate) guest: GuestLink,
    pub(crate) host: HostPeer,
    pub(crate) host_static_key: [u8; 32],
    pub(crate) device: Option<DeviceId>,
    pub(crate) host_conn: Option<u64>,
    pub(crate) granted: PermissionSet,
    pub(crate) confirm_required: bool,
    pub(crate) region: Option<String>,
    pub(crate) ondemand: Option<OnDemandId>,
}

/// The actor layer of one broker. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Hub {
    pub(crate) shared: Arc<Shared>,
    pub(crate) supervisor: ActorRef<SupervisorMsg>,
}

impl Hub {
    /// Starts the supervisor; tenant actors start on first use.
    pub async fn start(deps: HubDeps) -> Result<Self, ActorError> {
        let shared = Arc::new(Shared {
            directory: deps.directory,
            signer: deps.signer,
            relays: deps.relays,
            presence: deps.presence,
            audit: deps.audit,
            config: deps.config,
            counts: Arc::new(ActorCounts::default()),
            tenants: Mutex::new(HashMap::new()),
            devices: Mutex::new(HashMap::new()),
            sessions: Mutex::new(HashMap::new()),
            total_sessions: AtomicUsize::new(0),
            next_conn: AtomicU64::new(1),
            relay_kill: OnceLock::new(),
            guests: Mutex::new(HashMap::new()),
            cluster: OnceLock::new(),
        });
        let (supervisor, _) = Actor::spawn(None, Supervisor, Arc::clone(&shared))
            .await
            .map_err(ActorError::actor)?;
        Ok(Self { shared, supervisor })
    }

    /// Stops every actor (sessions, devices, tenants) and the supervisor.
    pub async fn shutdown(&self) {
        self.leave_cluster();
        // Every child runs its `post_stop`: sessions release relay slots and OnDemand keys,
        // devices clear their presence.
        self.supervisor
            .stop_children_and_wait(Some("shutdown".into()), Some(Duration::from_secs(5)))
            .await;
        self.supervisor.stop(None);
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            while !matches!(self.supervisor.get_status(), ractor::ActorStatus::Stopped) {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
    }

    /// Installs the hook that cuts relay pipes of sessions the broker ends (once; later calls
    /// are ignored).
    pub fn set_relay_kill(&self, kill: Arc<dyn RelayKill>) {
        let _ = self.shared.relay_kill.set(kill);
    }

    /// Returns once every audit line the actors queued so far is stored (audit readers call
    /// it first, so they see every transition that happened before they asked).
    pub async fn flush_audit(&self) {
        self.shared.audit_flush().await;
    }

    /// Live actors per kind.
    pub fn counts(&self) -> CountSnapshot {
        self.shared.counts.snapshot()
    }

    /// Messages queued to actors of `kind` and not handled yet.
    pub fn mailbox_depth(&self, kind: ActorKind) -> i64 {
        self.shared.counts.mailbox_depth(kind)
    }

    /// Sessions currently live on this broker.
    pub fn session_count(&self) -> usize {
        self.shared.sessions.lock().len()
    }

    /// Devices connected to this broker.
    pub fn device_count(&self) -> usize {
        self.shared.devices.lock().len()
    }

    /// The directory the hub uses.
    pub fn directory(&self) -> &Directory {
        &self.shared.directory
    }

    /// The tenant's handle, starting its actor (and loading its policy) on first use.
    pub async fn tenant(&self, tenant: TenantId) -> Result<TenantHandle, ActorError> {
        if let Some(h) = self.shared.tenants.lock().get(&tenant) {
            return Ok(h.clone());
        }
        let (actor, _) = Actor::spawn_linked(
            None,
            TenantActor,
            TenantArgs {
                hub: self.clone(),
                tenant,
            },
            self.supervisor.get_cell(),
        )
        .await
        .map_err(ActorError::actor)?;
        // The actor registered its handle in pre_start (or found a concurrent one there).
        let found = self.shared.tenants.lock().get(&tenant).cloned();
        match found {
            Some(h) if h.actor.get_id() == actor.get_id() => Ok(h),
            Some(h) => {
                actor.stop(None);
                Ok(h)
            }
            None => Err(ActorError::Actor("tenant actor stopped at start".into())),
        }
    }

    /// Takes one login token of the tenant (`rate_limited` when none is left).
    pub async fn check_login_rate(&self, tenant: TenantId) -> Result<(), ActorError> {
        let h = self.tenant(tenant).await?;
        if h.limits.logins_rate.lock().try_take() {
            Ok(())
        } else {
            ::metrics::counter!(metrics::RATE_LIMITED_TOTAL, "limit" => "login").increment(1);
            Err(ActorError::Refused(ErrorCode::RateLimited))
        }
    }

    /// A Host finished the control handshake: checks the device against the directory and
    /// starts its actor, replacing (and closing) an older connection of the same device. A
    /// refused device is told why on `tx` and gets `Err` with the code.
    pub async fn connect_device(&self, conn: DeviceConnection) -> Result<DeviceRef, ActorError> {
        // The tenant actor watches for revocations of connected devices: make sure it runs.
        self.tenant(conn.tenant).await?;
        let static_key = match self.device_state(conn.tenant, conn.device).await {
            Ok((EnrollmentState::Enrolled, key)) => key,
            Ok((state, _)) => {
                let code = match state {
                    EnrollmentState::Pending => ErrorCode::DevicePending,
                    _ => ErrorCode::DeviceRevoked,
                };
                try_send(&conn.tx, ControlMessage::error(code, code.sentence()));
                return Err(ActorError::Refused(code));
            }
            Err(e) => {
                let code = e.code();
                try_send(&conn.tx, ControlMessage::error(code, code.sentence()));
                return Err(e);
            }
        };
        let conn_no = self.shared.next_conn.fetch_add(1, Ordering::Relaxed);
        let (actor, _) = Actor::spawn_linked(
            None,
            DeviceActor,
            DeviceArgs {
                shared: Arc::clone(&self.shared),
                tenant: conn.tenant,
                device: conn.device,
                conn: conn_no,
                tx: conn.tx,
                host_state: conn.host_state,
                static_key,
            },
            self.supervisor.get_cell(),
        )
        .await
        .map_err(ActorError::actor)?;
        Ok(DeviceRef {
            device: conn.device,
            actor,
            counts: Arc::clone(&self.shared.counts),
        })
    }

    /// The enrollment state and Noise key of a device, read from the directory itself (not
    /// the snapshot, which may predate an enrollment or a revocation).
    async fn device_state(
        &self,
        tenant: TenantId,
        device: DeviceId,
    ) -> Result<(EnrollmentState, [u8; 32]), ActorError> {
        match self
            .shared
            .directory
            .device(dir_tenant(tenant), dir_device(device))
            .await
        {
            Ok(d) => Ok((d.enrollment, d.keys.noise_x25519)),
            Err(DirectoryError::UnknownId { .. }) => {
                Err(ActorError::Refused(ErrorCode::DeviceUnknown))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The Host reported a new local state (locked, nobody logged in).
    pub fn set_host_state(&self, device: DeviceId, state: HostState) {
        if let Some(e) = self.shared.devices.lock().get_mut(&device) {
            e.host_state = state;
        }
    }

    /// A Guest asks for a session. On success the Guest has been sent `SessionCreated` and
    /// the Host `SessionOffer`; on refusal the Guest has been sent `SessionDenied` and the
    /// refusal is audited.
    pub async fn request_session(&self, req: SessionRequest) -> Result<SessionId, ActorError> {
        let guest_actor = AuditActor::User(dir_user(req.guest.user));
        match self.authorize(&req).await {
            Ok(spec) => self.spawn_session(spec).await,
            Err(err) => {
                let code = err.code();
                ::metrics::counter!(metrics::SESSION_REFUSALS_TOTAL, "code" => code.name())
                    .increment(1);
                try_send(
                    &req.guest.tx,
                    ControlMessage::SessionDenied {
                        request_id: req.request_id,
                        code,
                        message: code.sentence().to_owned(),
                    },
                );
                self.shared
                    .audit(
                        req.tenant,
                        guest_actor,
                        AuditKind::Session,
                        format!("session request refused: {code}"),
                        outcome_of(code),
                        Some(req.device),
                        None,
                    )
                    .await;
                self.shared.audit_flush().await;
                Err(err)
            }
        }
    }

    async fn authorize(&self, req: &SessionRequest) -> Result<SessionSpec, ActorError> {
        let h = self.tenant(req.tenant).await?;
        if !h.limits.sessions_rate.lock().try_take() {
            ::metrics::counter!(metrics::RATE_LIMITED_TOTAL, "limit" => "session").increment(1);
            return Err(ActorError::Refused(ErrorCode::RateLimited));
        }
        let cfg = &self.shared.config;
        if h.limits.sessions.load(Ordering::Relaxed) >= cfg.max_sessions_per_tenant
            || self.shared.total_sessions.load(Ordering::Relaxed) >= cfg.max_sessions
        {
            return Err(ActorError::Refused(ErrorCode::QuotaExceeded));
        }
        let (user, device) = (dir_user(req.guest.user), dir_device(req.device));
        let mut policy = h.policy.load();
        if policy.snapshot.device_state(&device).is_none() {
            // The snapshot's rebuild is debounced, so it may predate this device's enrollment:
            // ask the directory, and compile a fresh policy only when the device exists there
            // (an unknown id costs one read; requests are rate-limited above).
            self.device_state(req.tenant, req.device).await?;
            h.policy.store(
                crate::policy::CompiledPolicy::load(&self.shared.directory, dir_tenant(req.tenant))
                    .await?,
            );
            policy = h.policy.load();
        }
        let snap = &policy.snapshot;
        match snap.device_state(&device) {
            None => return Err(ActorError::Refused(ErrorCode::DeviceUnknown)),
            Some(EnrollmentState::Pending) => {
                return Err(ActorError::Refused(ErrorCode::DevicePending));
            }
            Some(EnrollmentState::Revoked) => {
                return Err(ActorError::Refused(ErrorCode::DeviceRevoked));
            }
            Some(EnrollmentState::Enrolled) => {}
        }
        let at = self.shared.directory.now();
        let access = snap.evaluate(&user, &device, at);
        // An empty wanted set asks for everything the user may do.
        let wanted = if req.wanted.is_empty() {
            PermissionSet::all_known()
        } else {
            req.wanted
        };
        let granted = to_wire(access.permissions).intersection(wanted);
        if access.is_empty() || granted.is_empty() {
            // 002/004 §5.4: an assignment outside its schedule grants nothing now; say so
            // only when some assignment would grant the wanted actions at another time.
            let other_time = to_wire(policy.unscheduled.evaluate(&user, &device, at).permissions)
                .intersection(wanted);
            return Err(ActorError::Refused(if other_time.is_empty() {
                ErrorCode::NotPermitted
            } else {
                ErrorCode::OutsideSchedule
            }));
        }
        let here = {
            let devices = self.shared.devices.lock();
            devices
                .get(&req.device)
                .filter(|e| e.tenant == req.tenant)
                .map(|e| (e.host_state, e.static_key, e.conn))
        };
        let (host, host_state, host_key, host_conn) = match here {
            Some((state, key, conn)) => (HostPeer::Device(req.device), state, key, conn),
            None => self.find_remote_host(req.tenant, req.device).await?,
        };
        let gate = access.session_gate(host_state);
        let host_conn = matches!(host, HostPeer::Device(_)).then_some(host_conn);
        Ok(SessionSpec {
            tenant: req.tenant,
            request_id: req.request_id,
            guest: req.guest.clone(),
            host,
            host_static_key: host_key,
            device: Some(req.device),
            // Connection numbers are per node: only a local connection's is comparable.
            host_conn,
            granted,
            confirm_required: gate.prompt_host || gate.email_approvers,
            region: req.region.clone(),
            ondemand: None,
        })
    }

    /// A device not connected here: where presence says it is, if that node answers the
    /// probe in time (else `device_offline`). Its Noise key comes from the directory.
    async fn find_remote_host(
        &self,
        tenant: TenantId,
        device: DeviceId,
    ) -> Result<(HostPeer, HostState, [u8; 32], u64), ActorError> {
        let offline = ActorError::Refused(ErrorCode::DeviceOffline);
        if self.shared.cluster().is_none() {
            return Err(offline);
        }
        let Some(at) = self.shared.presence.lookup(tenant, device).await else {
            return Err(offline);
        };
        if at.node == self.shared.config.node {
            // Our own stale entry: the device is not connected here.
            return Err(offline);
        }
        let Some((conn, state)) = self.probe(&at.node, tenant, device).await else {
            return Err(offline);
        };
        let (_, key) = self.device_state(tenant, device).await?;
        let host = HostPeer::Remote {
            node: at.node,
            tenant,
            device,
            conn,
        };
        Ok((host, state, key, conn))
    }

    pub(crate) async fn spawn_session(&self, spec: SessionSpec) -> Result<SessionId, ActorError> {
        self.spawn_session_with_id(new_session_id(), spec).await
    }

    pub(crate) async fn spawn_session_with_id(
        &self,
        id: SessionId,
        spec: SessionSpec,
    ) -> Result<SessionId, ActorError> {
        let h = self.tenant(spec.tenant).await?;
        Actor::spawn_linked(
            None,
            SessionActor,
            SessionArgs {
                shared: Arc::clone(&self.shared),
                limits: Arc::clone(&h.limits),
                id,
                spec,
            },
            self.supervisor.get_cell(),
        )
        .await
        .map_err(ActorError::actor)?;
        Ok(id)
    }

    /// Forwards an event to a session (from the Host or Guest connection, or the relay's
    /// end-of-session record): to its actor here, or, for a Host connected here whose session
    /// another node owns, to that node. False when the session is neither.
    pub fn session_event(&self, session: SessionId, event: SessionEvent) -> bool {
        self.session_event_local(session, event.clone()) || self.forward_host_event(session, event)
    }

    /// Which side `device` is in `session`, for the broker to check a Host's message belongs
    /// to its own session.
    pub fn session_host_is(&self, session: SessionId, device: DeviceId) -> bool {
        self.shared
            .sessions
            .lock()
            .get(&session)
            .is_some_and(|e| e.device == Some(device))
            || self
                .remote_host_of(session)
                .is_some_and(|r| r.device == device)
    }

    /// The relay a session live here was assigned to, once assigned.
    pub fn session_relay(&self, session: SessionId) -> Option<RelayId> {
        self.shared
            .sessions
            .lock()
            .get(&session)
            .and_then(|e| e.relay)
    }

    /// Whether `user` is the Guest of `session`.
    pub fn session_guest_is(&self, session: SessionId, user: UserId) -> bool {
        self.shared
            .sessions
            .lock()
            .get(&session)
            .is_some_and(|e| e.user == user)
    }

    /// The side a connection plays in a session (convenience for the broker's routing).
    pub fn side_of(
        &self,
        session: SessionId,
        device: Option<DeviceId>,
        user: Option<UserId>,
    ) -> Option<Side> {
        let local = {
            let m = self.shared.sessions.lock();
            m.get(&session).map(|e| {
                if device.is_some() && e.device == device {
                    Some(Side::Host)
                } else if user == Some(e.user) {
                    Some(Side::Guest)
                } else {
                    None
                }
            })
        };
        match local {
            Some(side) => side,
            None => self
                .remote_host_of(session)
                .filter(|r| Some(r.device) == device)
                .map(|_| Side::Host),
        }
    }

    #[doc(hidden)]
    #[cfg(feature = "test-hooks")]
    /// Test hook: makes the named actor panic (supervision tests; feature `test-hooks`, which
    /// only the crate's own dev-dependencies turn on).
    pub fn inject_panic_session(&self, session: SessionId) -> bool {
        let actor = self
            .shared
            .sessions
            .lock()
            .get(&session)
            .map(|e| e.actor.clone());
        actor.is_some_and(|a| {
            a.cast(Envelope::new(
                &self.shared.counts,
                ActorKind::Session,
                SessionMsg::InjectPanic,
            ))
            .is_ok()
        })
    }

    #[doc(hidden)]
    #[cfg(feature = "test-hooks")]
    /// Test hook: makes a device actor panic (supervision tests; feature `test-hooks`).
    pub fn inject_panic_device(&self, device: DeviceId) -> bool {
        self.shared.send_device(device, DeviceMsg::InjectPanic)
    }
}

/// A Guest control connection registered with the hub; dropping it unregisters it.
#[derive(Debug)]
pub struct GuestRegistration {
    shared: Arc<Shared>,
    conn: u64,
}

impl Drop for GuestRegistration {
    fn drop(&mut self) {
        self.shared.guests.lock().remove(&self.conn);
    }
}

impl Hub {
    /// A Guest (technician) finished the control handshake: registers its writer so the
    /// tenant actor can close it (`account_disabled`) when the account is disabled or
    /// removed, and makes sure the tenant actor runs. Keep the registration for the
    /// connection's lifetime.
    pub async fn connect_guest(
        &self,
        tenant: TenantId,
        user: UserId,
        tx: mpsc::Sender<ControlMessage>,
    ) -> Result<GuestRegistration, ActorError> {
        self.tenant(tenant).await?;
        let conn = self.shared.next_conn.fetch_add(1, Ordering::Relaxed);
        self.shared
            .guests
            .lock()
            .insert(conn, GuestConn { tenant, user, tx });
        Ok(GuestRegistration {
            shared: Arc::clone(&self.shared),
            conn,
        })
    }

    /// Guest control connections registered now.
    pub fn guest_count(&self) -> usize {
        self.shared.guests.lock().len()
    }

    /// The tenant's current compiled policy: the very snapshot session requests are
    /// authorized against (starts the tenant actor on first use).
    pub async fn policy(
        &self,
        tenant: TenantId,
    ) -> Result<Arc<crate::policy::CompiledPolicy>, ActorError> {
        Ok(self.tenant(tenant).await?.policy())
    }

    /// Whether `device` holds a control connection: on this broker, or (shared presence) on
    /// another one.
    pub async fn device_online(&self, tenant: TenantId, device: DeviceId) -> bool {
        let here = self
            .shared
            .devices
            .lock()
            .get(&device)
            .is_some_and(|e| e.tenant == tenant);
        here || self.shared.presence.lookup(tenant, device).await.is_some()
    }
}

/// The broker's handle on a connected device's actor.
#[derive(Debug, Clone)]
pub struct DeviceRef {
    device: DeviceId,
    actor: ActorRef<Envelope<DeviceMsg>>,
    counts: Arc<ActorCounts>,
}

impl DeviceRef {
    /// The device.
    pub fn device(&self) -> DeviceId {
        self.device
    }

    /// The connection ended (the broker's reader saw EOF or an error): stops the actor,
    /// clears presence and cancels the device's sessions that are not active yet.
    pub fn connection_closed(&self) {
        let _ = self.actor.cast(Envelope::new(
            &self.counts,
            ActorKind::Device,
            DeviceMsg::ConnectionClosed,
        ));
    }

    /// Whether the actor is still running.
    pub fn is_alive(&self) -> bool {
        matches!(
            self.actor.get_status(),
            ractor::ActorStatus::Running | ractor::ActorStatus::Starting
        )
    }

    /// Waits (at most `limit`) until the actor has stopped.
    pub async fn wait_stopped(&self, limit: Duration) -> bool {
        tokio::time::timeout(limit, async {
            while self.is_alive() {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await
        .is_ok()
    }

    /// The audit actor of this device.
    pub fn audit_actor(&self) -> AuditActor {
        AuditActor::Device(dir_device(self.device))
    }
}

/// For GuestIdentity in offers.
pub(crate) fn guest_identity(g: &GuestLink) -> GuestIdentity {
    GuestIdentity {
        user_id: g.user,
        display_name: g.display_name.clone(),
    }
}
