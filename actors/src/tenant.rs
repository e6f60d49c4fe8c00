//! `TenantActor`: one per active tenant. It owns the tenant's compiled policy (rebuilt when
//! the directory reports a newer tenant version, coalesced by a short debounce, then swapped
//! into the shared [`PolicyCell`]), the tenant's rate limits and session counter (shared with
//! the hub through [`TenantHandle`]), and the OnDemand queue (`crate::ondemand`).
//!
//! After each rebuild it closes connections of devices that are no longer enrolled (revoked
//! packages cut connected devices off at once), and ends what belongs to technicians whose
//! membership is no longer active (disabled, removed): their sessions are ended for both sides
//! (`account_disabled`, relay pipes cut) and their Guest control connections closed with
//! `account_disabled`, each audited (`crate::cutoff`). The rebuild follows the directory's change notification
//! after `rebuild_debounce` (100 ms by default), so this works whichever broker or admin CLI
//! made the change. It does not evaluate requests: readers take the `Arc<CompiledPolicy>` from
//! the cell (see `crate::policy` for why).

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use parking_lot::Mutex;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use switchboard_codec::{ErrorCode, SessionId, TenantId, UserId};
use switchboard_directory::model::EnrollmentState;
use switchboard_directory::store::{Scope, StoreEvent};
use tokio::sync::broadcast::error::RecvError;

use crate::counts::{ActorCounts, ActorKind, Envelope, LiveGuard, TaskGuard};
use crate::device::DeviceMsg;
use crate::error::ActorError;
use crate::hub::{CALL_TIMEOUT, GuestLink, Hub, TenantLimits};
use crate::ids::dir_tenant;
use crate::metrics;
use crate::ondemand::{OnDemandAgent, OnDemandQueue, QueueView};
use crate::policy::{CompiledPolicy, PolicyCell};
use crate::rate_limit::TokenBucket;

/// The hub's handle on a tenant: its actor, its policy cell and its admission state.
#[derive(Debug, Clone)]
pub struct TenantHandle {
    pub(crate) actor: ActorRef<Envelope<TenantMsg>>,
    pub(crate) policy: Arc<PolicyCell>,
    pub(crate) limits: Arc<TenantLimits>,
}

impl TenantHandle {
    /// The current compiled policy (no mailbox round trip).
    pub fn policy(&self) -> Arc<CompiledPolicy> {
        self.policy.load()
    }

    /// Sessions of this tenant live on this broker.
    pub fn session_count(&self) -> usize {
        self.limits
            .sessions
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(crate) async fn call<R: Send + 'static>(
        &self,
        counts: &Arc<ActorCounts>,
        f: impl FnOnce(RpcReplyPort<R>) -> TenantMsg,
    ) -> Result<R, ActorError> {
        let counts = Arc::clone(counts);
        match self
            .actor
            .call(
                move |port| Envelope::new(&counts, ActorKind::Tenant, f(port)),
                Some(CALL_TIMEOUT),
            )
            .await
        {
            Ok(ractor::rpc::CallResult::Success(r)) => Ok(r),
            Ok(ractor::rpc::CallResult::Timeout) => {
                Err(ActorError::Actor("tenant call timed out".into()))
            }
            Ok(ractor::rpc::CallResult::SenderError) => {
                Err(ActorError::Actor("tenant actor dropped the call".into()))
            }
            Err(e) => Err(ActorError::actor(e)),
        }
    }
}

/// Messages of the tenant actor.
#[derive(Debug)]
pub(crate) enum TenantMsg {
    /// The directory committed a change of this tenant.
    Changed { version: u64 },
    /// Notifications may have been lost: re-check the version.
    Resync,
    /// The debounce elapsed: rebuild now.
    Rebuild,
    /// An OnDemand agent joins with a key.
    Join {
        key: String,
        agent: OnDemandAgent,
        reply: RpcReplyPort<Result<u32, ErrorCode>>,
    },
    /// The queue as a viewer sees it.
    Queue {
        viewer: UserId,
        reply: RpcReplyPort<QueueView>,
    },
    /// A technician starts a queued session.
    Start {
        key: String,
        technician: GuestLink,
        region: Option<String>,
        reply: RpcReplyPort<Result<SessionId, ErrorCode>>,
    },
    /// A technician rejects a queued session.
    Reject {
        key: String,
        viewer: UserId,
        reply: RpcReplyPort<Result<(), ErrorCode>>,
    },
    /// An agent waited its maximum in the queue, or left it.
    QueueTimeout {
        key: String,
        generation: u64,
        agent_left: bool,
    },
}

/// What a tenant actor starts with.
#[derive(Debug)]
pub(crate) struct TenantArgs {
    pub(crate) hub: Hub,
    pub(crate) tenant: TenantId,
}

/// State of a tenant actor.
#[derive(Debug)]
pub(crate) struct TenantState {
    pub(crate) hub: Hub,
    pub(crate) tenant: TenantId,
    pub(crate) handle: TenantHandle,
    pub(crate) queue: OnDemandQueue,
    seen_version: u64,
    rebuild_pending: bool,
    _events: TaskGuard,
    _rebuild_timer: TaskGuard,
    _live: LiveGuard,
}

/// The tenant actor. See the module documentation.
#[derive(Debug)]
pub(crate) struct TenantActor;

fn forward_changes(
    hub: &Hub,
    tenant: TenantId,
    myself: ActorRef<Envelope<TenantMsg>>,
) -> Result<TaskGuard, ActorError> {
    let scope = Scope::tenant(&dir_tenant(tenant).to_string())?;
    let mut rx = hub.shared.directory.subscribe();
    let counts = Arc::clone(&hub.shared.counts);
    let task = tokio::spawn(async move {
        loop {
            let msg = match rx.recv().await {
                Ok(StoreEvent::Changed { scope: s, version }) if s == scope => {
                    TenantMsg::Changed { version }
                }
                Ok(StoreEvent::Changed { .. }) => continue,
                Ok(StoreEvent::Resync) | Err(RecvError::Lagged(_)) => TenantMsg::Resync,
                Err(RecvError::Closed) => break,
            };
            if myself
                .cast(Envelope::new(&counts, ActorKind::Tenant, msg))
                .is_err()
            {
                break;
            }
        }
    });
    Ok(TaskGuard::new(task.abort_handle()))
}

impl Actor for TenantActor {
    type Msg = Envelope<TenantMsg>;
    type State = TenantState;
    type Arguments = TenantArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: TenantArgs,
    ) -> Result<TenantState, ActorProcessingErr> {
        let live = LiveGuard::new(&args.hub.shared.counts, ActorKind::Tenant);
        // Subscribe before loading, so no change between the load and the subscription is
        // missed.
        let events = forward_changes(&args.hub, args.tenant, myself.clone())?;
        let policy =
            CompiledPolicy::load(&args.hub.shared.directory, dir_tenant(args.tenant)).await?;
        let cfg = &args.hub.shared.config;
        let handle = TenantHandle {
            actor: myself,
            limits: Arc::new(TenantLimits {
                sessions_rate: Mutex::new(TokenBucket::new(
                    cfg.session_rate_burst,
                    cfg.session_rate_per_second,
                )),
                logins_rate: Mutex::new(TokenBucket::new(
                    cfg.login_rate_burst,
                    cfg.login_rate_per_second,
                )),
                sessions: AtomicUsize::new(0),
            }),
            policy: Arc::new(PolicyCell::new(policy)),
        };
        args.hub
            .shared
            .tenants
            .lock()
            .entry(args.tenant)
            .or_insert_with(|| handle.clone());
        let seen_version = handle.policy.load().version();
        Ok(TenantState {
            queue: OnDemandQueue::default(),
            hub: args.hub,
            tenant: args.tenant,
            handle,
            seen_version,
            rebuild_pending: false,
            _events: events,
            _rebuild_timer: TaskGuard::default(),
            _live: live,
        })
    }

    async fn post_stop(
        &self,
        myself: ActorRef<Self::Msg>,
        state: &mut TenantState,
    ) -> Result<(), ActorProcessingErr> {
        let mut m = state.hub.shared.tenants.lock();
        if m.get(&state.tenant)
            .is_some_and(|h| h.actor.get_id() == myself.get_id())
        {
            m.remove(&state.tenant);
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut TenantState,
    ) -> Result<(), ActorProcessingErr> {
        match msg.msg {
            TenantMsg::Changed { version } => {
                if version > state.seen_version {
                    state.seen_version = version;
                    schedule_rebuild(&myself, state);
                }
            }
            TenantMsg::Resync => {
                let v = state
                    .hub
                    .shared
                    .directory
                    .tenant_version(dir_tenant(state.tenant))
                    .await?;
                if v != state.handle.policy.load().version() {
                    state.seen_version = state.seen_version.max(v);
                    schedule_rebuild(&myself, state);
                }
            }
            TenantMsg::Rebuild => rebuild(state).await,
            TenantMsg::Join { key, agent, reply } => {
                let r = crate::ondemand::join(state, &myself, key, agent).await;
                let _ = reply.send(r);
            }
            TenantMsg::Queue { viewer, reply } => {
                let _ = reply.send(crate::ondemand::view(state, viewer));
            }
            TenantMsg::Start {
                key,
                technician,
                region,
                reply,
            } => {
                let r = crate::ondemand::start(state, key, technician, region).await;
                let _ = reply.send(r);
            }
            TenantMsg::Reject { key, viewer, reply } => {
                let r = crate::ondemand::reject(state, key, viewer).await;
                let _ = reply.send(r);
            }
            TenantMsg::QueueTimeout {
                key,
                generation,
                agent_left,
            } => {
                crate::ondemand::timeout(state, key, generation, agent_left).await;
            }
        }
        Ok(())
    }
}

fn schedule_rebuild(myself: &ActorRef<Envelope<TenantMsg>>, state: &mut TenantState) {
    if state.rebuild_pending {
        return;
    }
    state.rebuild_pending = true;
    let me = myself.clone();
    let counts = Arc::clone(&state.hub.shared.counts);
    let wait = state.hub.shared.config.rebuild_debounce;
    let task = tokio::spawn(async move {
        tokio::time::sleep(wait).await;
        let _ = me.cast(Envelope::new(
            &counts,
            ActorKind::Tenant,
            TenantMsg::Rebuild,
        ));
    });
    state._rebuild_timer = TaskGuard::new(task.abort_handle());
}

async fn rebuild(state: &mut TenantState) {
    state.rebuild_pending = false;
    let shared = Arc::clone(&state.hub.shared);
    match CompiledPolicy::load(&shared.directory, dir_tenant(state.tenant)).await {
        Ok(policy) => {
            ::metrics::counter!(metrics::SNAPSHOT_REBUILDS_TOTAL).increment(1);
            // Connected devices that are no longer enrolled (revoked, pending again, removed)
            // are disconnected at once.
            let cut: Vec<(switchboard_codec::DeviceId, ErrorCode)> = shared
                .devices
                .lock()
                .iter()
                .filter(|(_, e)| e.tenant == state.tenant)
                .filter_map(|(d, _)| {
                    match policy.snapshot.device_state(&crate::ids::dir_device(*d)) {
                        Some(EnrollmentState::Enrolled) => None,
                        Some(EnrollmentState::Pending) => Some((*d, ErrorCode::DevicePending)),
                        Some(EnrollmentState::Revoked) => Some((*d, ErrorCode::DeviceRevoked)),
                        None => Some((*d, ErrorCode::DeviceUnknown)),
                    }
                })
                .collect();
            let gone = crate::cutoff::inactive_users(&shared, state.tenant, &policy).await;
            state.handle.policy.store(policy);
            for (d, code) in cut {
                shared.send_device(d, DeviceMsg::Close(code));
            }
            for user in gone {
                crate::cutoff::cut_user(&shared, state.tenant, user).await;
            }
        }
        Err(e) => {
            tracing::warn!(tenant = %state.tenant, error = %e, "policy rebuild failed; keeping the old one");
        }
    }
}
