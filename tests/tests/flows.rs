//! Black-box flows of `switchboard serve` over real loopback sockets: an in-process node
//! (TLS control listener, actors, in-process relay, admin API) and minimal codec-built Host
//! and Guest clients.
//!
//! The main flow runs against the embedded redb directory and a private Redis: a Host enrolls
//! through a package over the control connection and connects; a technician logs in through
//! the admin API and uses the token on the control connection; the session is requested,
//! offered, accepted, both sides get relay tickets, bind, move bytes end to end through the
//! relay, close; the relay's record ends the session in the audit log (with Redis, the Guest
//! uses the QUIC control listener). The refusal test checks
//! `not_permitted`, `device_offline`, `device_pending` and a bad token, then an administrator
//! terminating a session through the admin API. The OnDemand test runs a key from creation
//! over the wire to its one session through the relay (each side is told the other's Noise
//! key, as in the main flow). The lock test checks that a Host reporting `HostState { locked }`
//! skips the "Confirm Access Required" prompt, and gets it back once unlocked.
//!
//! The broker ending sessions: an administrator's terminate and a disabled or removed
//! technician (`account_disabled`) cut both relay pipes (the relay kill switch) and, for the
//! disabled user, close the Guest's control connection; confirm access accepted, denied and
//! timed out over the wire; a package revoked through the admin API disconnects its Host and
//! refuses its reconnect; "my devices" agrees with the session decision.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::Context;
use bytes::BytesMut;
use jiff::Timestamp;
use switchboard_broker::control::ControlLimits;
use switchboard_broker::sessions::SessionRegistry;
use switchboard_codec::message::{DeviceInfo, EnrollState, OnDemandJoin};
use switchboard_codec::{
    ControlConfig, ControlCredentials, ControlMessage, DeviceId, ErrorCode, FrameDecoder,
    PermissionSet, SessionId, Side,
};
use switchboard_directory::model::SessionId as DirSessionId;
use switchboard_directory::model::{DisabledReason, SystemRole};
use switchboard_directory::service::{AuditQuery, NewAssignment};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use support::client::{self, ControlClient, HostIdentity, Outcome, Transport};
use support::{Backend, Server, session};

async fn enroll_host(
    s: &Server,
    key: &str,
    name: &str,
) -> anyhow::Result<(HostIdentity, EnrollState)> {
    let (r, signing_key) = client::enroll(s.control, &s.cert_der, key, name).await?;
    Ok((
        HostIdentity {
            signing_key,
            device_id: r.device_id,
            credential: r.credential,
        },
        r.state,
    ))
}

async fn request(
    guest: &mut ControlClient,
    request_id: u64,
    device_id: DeviceId,
) -> anyhow::Result<ControlMessage> {
    guest
        .send(ControlMessage::SessionRequest {
            request_id,
            device_id,
            wanted: PermissionSet::EMPTY,
            guest_static_key: client::GUEST_STATIC_KEY,
        })
        .await?;
    guest.recv().await
}

/// Reads exactly `n` bytes from a relay pipe, starting with what came behind `Ready`.
async fn read_exact(
    pipe: &mut TcpStream,
    leftover: &mut Vec<u8>,
    n: usize,
) -> anyhow::Result<Vec<u8>> {
    let mut out = std::mem::take(leftover);
    let mut buf = [0u8; 1024];
    tokio::time::timeout(client::WAIT, async {
        while out.len() < n {
            let k = pipe.read(&mut buf).await?;
            anyhow::ensure!(k > 0, "pipe closed early");
            out.extend_from_slice(&buf[..k]);
        }
        Ok(())
    })
    .await
    .map_err(|_| anyhow::anyhow!("relay pipe stalled"))??;
    Ok(out)
}

/// A side's relay assignment for `sid`: the relay, the ticket and the peer's static key.
fn assignment(
    m: ControlMessage,
    sid: SessionId,
) -> anyhow::Result<(String, bytes::Bytes, [u8; 32])> {
    match m {
        ControlMessage::RelayAssignment {
            session_id,
            relay_addr,
            ticket,
            peer_static_key,
        } if session_id == sid => Ok((relay_addr, ticket, peer_static_key)),
        other => anyhow::bail!("expected RelayAssignment for {sid}, got {other:?}"),
    }
}

/// The whole flow; the Guest's control connection uses `transport`.
async fn main_flow(backend: Backend, transport: Transport) -> anyhow::Result<()> {
    let s = Server::start(backend).await?;
    let p = support::policy(&s).await?;

    // 002/004 enrollment: "Enrollment state: Pending ... or Enrolled" -- this package enrolls.
    let (host_id, state) = enroll_host(&s, &p.servers_key, "srv-1").await?;
    assert_eq!(state, EnrollState::Enrolled);
    let (mut host, o) = client::host(s.control, &s.cert_der, &host_id).await?;
    assert!(matches!(o, Outcome::Established), "host: {o:?}");

    let token = s.login("tech").await?;
    let addr = match transport {
        Transport::Tls => s.control,
        Transport::Quic => s.quic_control,
    };
    let (mut guest, o) = client::guest_over(transport, addr, &s.cert_der, &token).await?;
    assert!(matches!(o, Outcome::Established), "guest: {o:?}");

    // The Host heard `Welcome` only once its device actor was registered: no retry needed.
    let sid = match request(&mut guest, 1, host_id.device_id).await? {
        ControlMessage::SessionCreated {
            session_id,
            granted,
            ..
        } => {
            assert!(!granted.is_empty());
            session_id
        }
        other => anyhow::bail!("session request: {other:?}"),
    };

    match host.recv().await? {
        ControlMessage::SessionOffer {
            session_id,
            guest: g,
            ..
        } => {
            assert_eq!(session_id, sid);
            assert!(g.display_name.contains("tech"), "{g:?}");
        }
        other => anyhow::bail!("expected an offer, got {other:?}"),
    }
    host.send(ControlMessage::SessionAccept { session_id: sid })
        .await?;
    let (host_relay, host_ticket, host_peer) = assignment(host.recv().await?, sid)?;
    let (guest_relay, guest_ticket, guest_peer) = assignment(guest.recv().await?, sid)?;
    // Each side is told exactly the other's Noise static key: the Guest's from its request,
    // the Host's from enrollment.
    assert_eq!(host_peer, client::GUEST_STATIC_KEY);
    assert_eq!(guest_peer, client::HOST_STATIC_KEY);
    assert_eq!(host_relay, guest_relay);
    assert_eq!(host_relay, s.node.relay_addr);

    // The admin view lists it, with its relay.
    let live = s.node.sessions.list(s.tenant);
    assert_eq!(live.len(), 1, "{live:?}");
    assert_eq!(live[0].id, sid.to_string());
    assert_eq!(live[0].relay, Some(s.node.relay.config().relay_id));

    let (h, g) = tokio::join!(
        client::bind(&host_relay, Side::Host, host_ticket),
        client::bind(&guest_relay, Side::Guest, guest_ticket),
    );
    let ((mut hp, hl), (mut gp, gl)) = (h?, g?);
    let (mut hl, mut gl) = (hl.to_vec(), gl.to_vec());
    hp.write_all(b"hello from the host").await?;
    gp.write_all(b"hello from the guest!").await?;
    assert_eq!(
        read_exact(&mut gp, &mut gl, 19).await?,
        b"hello from the host"
    );
    assert_eq!(
        read_exact(&mut hp, &mut hl, 21).await?,
        b"hello from the guest!"
    );
    // The relay reported the pair while it is still open: the session is active (its bind
    // timer is off), not merely ended later.
    let dir_sid = DirSessionId::from_bytes(sid.0);
    let q = AuditQuery::range(Timestamp::UNIX_EPOCH, Timestamp::MAX);
    let mut active = false;
    for _ in 0..200 {
        let recs = s.dir().query_audit(s.tenant, &q).await?;
        active = recs.iter().any(|r| {
            r.session == Some(dir_sid) && r.what.starts_with("session active: both sides bound")
        });
        if active {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(active, "the pair is reported active while open");
    hp.shutdown().await?;
    gp.shutdown().await?;
    drop((hp, gp));

    // 002/004 (digest 58): "remote-session start/end" is audited; the relay's record (bytes,
    // duration, reason) is joined into the session's final audit entry.
    let mut ended = None;
    for _ in 0..200 {
        let recs = s.dir().query_audit(s.tenant, &q).await?;
        ended = recs
            .into_iter()
            .find(|r| r.session == Some(dir_sid) && r.what.starts_with("session ended"));
        if ended.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let ended = ended.ok_or_else(|| anyhow::anyhow!("no session-end audit record"))?;
    assert!(ended.what.contains("peer_closed"), "{}", ended.what);
    assert!(ended.what.contains("40 bytes"), "{}", ended.what);
    assert!(s.node.sessions.list(s.tenant).is_empty());
    drop((host, guest));
    s.node.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_end_to_end_through_the_relay_on_redb() -> anyhow::Result<()> {
    Box::pin(main_flow(Backend::Redb, Transport::Tls)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_end_to_end_through_the_relay_on_redis_guest_over_quic() -> anyhow::Result<()> {
    Box::pin(main_flow(Backend::Redis, Transport::Quic)).await
}

/// Gives the "Techs" on the "Servers" the predefined "Confirm Access Required" role as well.
async fn confirm_unless_locked(s: &Server) -> anyhow::Result<()> {
    let (d, t, owner) = (s.dir(), s.tenant, &s.owner);
    let techs = d
        .user_groups(t)
        .await?
        .into_iter()
        .find(|g| g.name == "Techs");
    let servers = d
        .device_groups(t)
        .await?
        .into_iter()
        .find(|g| g.name == "Servers");
    let (Some(techs), Some(servers)) = (techs, servers) else {
        anyhow::bail!("support::policy made no Techs / Servers groups");
    };
    let role = d
        .roles(t)
        .await?
        .into_iter()
        .find(|r| r.system == Some(SystemRole::ConfirmAccessRequired))
        .ok_or_else(|| anyhow::anyhow!("no Confirm Access Required role"))?;
    // 002/004: "Requires that the local user ... confirm a session before it starts; except
    // for when the computer is locked, or no one is logged in."
    assert!(role.confirm.host_prompt && role.confirm.except_when_locked);
    d.create_assignment(
        t,
        owner,
        NewAssignment {
            name: "techs-servers-confirm".into(),
            description: String::new(),
            role: role.id,
            user_groups: BTreeSet::from([techs.id]),
            device_groups: BTreeSet::from([servers.id]),
            schedule: None,
        },
    )
    .await?;
    Ok(())
}

/// The `confirm_required` of the offer the Host gets for a new request, after the Guest's
/// answer; the Host then rejects it so the next request starts clean.
async fn offer_confirm_required(
    host: &mut ControlClient,
    guest: &mut ControlClient,
    request_id: u64,
    device_id: DeviceId,
) -> anyhow::Result<bool> {
    let (sid, created_confirm) = match request(guest, request_id, device_id)
        .await
        .context("SessionCreated")?
    {
        ControlMessage::SessionCreated {
            session_id,
            confirm_required,
            ..
        } => (session_id, confirm_required),
        other => anyhow::bail!("session request: {other:?}"),
    };
    let offered = match host.recv().await.context("offer")? {
        ControlMessage::SessionOffer {
            session_id,
            confirm_required,
            ..
        } if session_id == sid => confirm_required,
        other => anyhow::bail!("expected an offer, got {other:?}"),
    };
    assert_eq!(created_confirm, offered, "Guest and Host agree");
    host.send(ControlMessage::SessionReject {
        session_id: sid,
        code: ErrorCode::ConfirmDenied,
        message: "test".into(),
    })
    .await?;
    match guest.recv().await.context("reject")? {
        ControlMessage::SessionReject { session_id, .. } if session_id == sid => {}
        other => anyhow::bail!("expected the rejection, got {other:?}"),
    }
    Ok(offered)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locked_host_skips_the_confirm_prompt() -> anyhow::Result<()> {
    let s = Server::start(Backend::Redb).await?;
    let p = support::policy(&s).await?;
    confirm_unless_locked(&s).await?;
    let (host_id, _) = enroll_host(&s, &p.servers_key, "srv-locked").await?;
    let (mut host, o) = client::host(s.control, &s.cert_der, &host_id).await?;
    assert!(matches!(o, Outcome::Established), "host: {o:?}");
    let (mut guest, _) = client::guest(s.control, &s.cert_der, &s.login("tech").await?).await?;

    // Before any report the Host counts as unable to report: the prompt applies.
    assert!(offer_confirm_required(&mut host, &mut guest, 1, host_id.device_id).await?);

    // 002/004 §5.5: confirm access "except for when the computer is locked".
    host.send(ControlMessage::HostState {
        locked: true,
        user_logged_in: true,
    })
    .await?;
    // The report travels on the Host's connection, the request on the Guest's: retry a few
    // times until the broker has read the report (the client's codec swallows heartbeat acks,
    // so there is no round trip to wait on).
    let mut id = 2;
    let mut confirm = true;
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(25)).await;
        confirm = offer_confirm_required(&mut host, &mut guest, id, host_id.device_id).await?;
        id += 1;
        if !confirm {
            break;
        }
    }
    assert!(!confirm, "a locked Host gets no confirm prompt");

    // Unlocked again: the prompt is back.
    host.send(ControlMessage::HostState {
        locked: false,
        user_logged_in: true,
    })
    .await?;
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(25)).await;
        confirm = offer_confirm_required(&mut host, &mut guest, id, host_id.device_id).await?;
        id += 1;
        if confirm {
            break;
        }
    }
    assert!(confirm, "an unlocked Host gets the prompt again");
    drop((host, guest));
    s.node.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_carry_their_codes() -> anyhow::Result<()> {
    let s = Server::start(Backend::Redb).await?;
    let p = support::policy(&s).await?;
    let (online, _) = enroll_host(&s, &p.servers_key, "srv-online").await?;
    let (offline, _) = enroll_host(&s, &p.servers_key, "srv-offline").await?;
    let (pending, state) = enroll_host(&s, &p.pending_key, "srv-pending").await?;
    assert_eq!(state, EnrollState::Pending);

    // 004: Pending: "an administrator is required to review" -- it cannot connect yet.
    let (_c, o) = client::host(s.control, &s.cert_der, &pending).await?;
    assert!(
        matches!(o, Outcome::Closed(ErrorCode::DevicePending)),
        "{o:?}"
    );
    let (mut host, o) = client::host(s.control, &s.cert_der, &online).await?;
    assert!(matches!(o, Outcome::Established), "{o:?}");

    let (_c, o) = client::guest(s.control, &s.cert_der, "not-a-token").await?;
    assert!(matches!(o, Outcome::Closed(ErrorCode::AuthFailed)), "{o:?}");

    // No role assignment covers `nobody`.
    let (mut nobody, _) = client::guest(s.control, &s.cert_der, &s.login("nobody").await?).await?;
    match request(&mut nobody, 1, online.device_id).await? {
        ControlMessage::SessionDenied { code, .. } => assert_eq!(code, ErrorCode::NotPermitted),
        other => anyhow::bail!("{other:?}"),
    }
    let (mut tech, _) = client::guest(s.control, &s.cert_der, &s.login("tech").await?).await?;
    match request(&mut tech, 2, offline.device_id).await? {
        ControlMessage::SessionDenied { code, .. } => assert_eq!(code, ErrorCode::DeviceOffline),
        other => anyhow::bail!("{other:?}"),
    }
    match request(&mut tech, 3, pending.device_id).await? {
        ControlMessage::SessionDenied { code, .. } => assert_eq!(code, ErrorCode::DevicePending),
        other => anyhow::bail!("{other:?}"),
    }

    // The Host's user refuses an offer: the Guest hears the Host's code.
    let sid = match request(&mut tech, 5, online.device_id).await? {
        ControlMessage::SessionCreated { session_id, .. } => session_id,
        other => anyhow::bail!("{other:?}"),
    };
    match host.recv().await? {
        ControlMessage::SessionOffer { session_id, .. } => assert_eq!(session_id, sid),
        other => anyhow::bail!("{other:?}"),
    }
    host.send(ControlMessage::SessionReject {
        session_id: sid,
        code: ErrorCode::ConfirmDenied,
        message: "no".into(),
    })
    .await?;
    match tech.recv().await? {
        ControlMessage::SessionReject {
            session_id, code, ..
        } => {
            assert_eq!((session_id, code), (sid, ErrorCode::ConfirmDenied));
        }
        other => anyhow::bail!("{other:?}"),
    }

    // An administrator sees the offered session in the admin API and terminates it: both
    // sides are told `cancelled`.
    let sid = match request(&mut tech, 4, online.device_id).await? {
        ControlMessage::SessionCreated { session_id, .. } => session_id,
        other => anyhow::bail!("{other:?}"),
    };
    let admin = s.login("owner").await?;
    let r = s
        .http
        .request("GET", "/api/v1/sessions", Some(&admin), None)
        .await?;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["sessions"][0]["id"], sid.to_string(), "{}", r.body);
    let path = format!("/api/v1/sessions/{sid}");
    let r = s.http.request("DELETE", &path, Some(&admin), None).await?;
    assert_eq!(r.status, 200, "{}", r.body);
    match tech.recv().await? {
        ControlMessage::SessionCancel { session_id, code } => {
            assert_eq!((session_id, code), (sid, ErrorCode::Cancelled));
        }
        other => anyhow::bail!("{other:?}"),
    }
    let mut host_told = false;
    for _ in 0..3 {
        if let ControlMessage::SessionCancel { session_id, .. } = host.recv().await?
            && session_id == sid
        {
            host_told = true;
            break;
        }
    }
    assert!(host_told, "the Host is told the session is cancelled");
    let r = s.http.request("DELETE", &path, Some(&admin), None).await?;
    assert_eq!(r.status, 404, "a terminated session is gone: {}", r.body);

    // 002/004: "Revoking a package ... cuts off every device enrolled through it" -- the
    // connected Host is told `device_revoked` and disconnected.
    s.dir()
        .revoke_package(s.tenant, &s.owner, p.servers_package, "revoke")
        .await?;
    let mut revoked = false;
    for _ in 0..5 {
        match host.recv().await {
            Err(e) => {
                revoked = e.to_string().contains("device_revoked");
                break;
            }
            Ok(ControlMessage::Error { code, .. }) => {
                revoked = code == ErrorCode::DeviceRevoked;
                break;
            }
            Ok(_) => {}
        }
    }
    assert!(revoked, "the revoked Host is cut off with device_revoked");
    s.node.shutdown().await;
    Ok(())
}

/// The technician's static key in the OnDemand test.
const TECH_STATIC_KEY: [u8; 32] = [0x54; 32];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ondemand_session_over_the_wire() -> anyhow::Result<()> {
    let s = Server::start(Backend::Redb).await?;
    support::policy(&s).await?;
    let (mut tech, _) = client::guest(s.control, &s.cert_der, &s.login("tech").await?).await?;
    tech.send(ControlMessage::OnDemandCreateKey { request_id: 7 })
        .await?;
    let key = match tech.recv().await? {
        ControlMessage::OnDemandKeyCreated {
            request_id, key, ..
        } => {
            assert_eq!(request_id, 7);
            key
        }
        other => anyhow::bail!("{other:?}"),
    };
    let join = |host: &str| {
        ControlCredentials::OnDemand(OnDemandJoin {
            key,
            device: DeviceInfo {
                hostname: host.into(),
                os: "Windows".into(),
                agent_version: "test/1".into(),
                logged_in_user: "enduser".into(),
            },
            static_key: [3; 32],
        })
    };
    let (mut agent, o) = ControlClient::connect(s.control, &s.cert_der, join("pc-1")).await?;
    assert!(matches!(o, Outcome::Established), "{o:?}");
    assert_eq!(
        agent.recv().await?,
        ControlMessage::OnDemandQueued { position: 1 }
    );

    tech.send(ControlMessage::OnDemandStart {
        key,
        guest_static_key: TECH_STATIC_KEY,
    })
    .await?;
    let sid = match agent.recv().await? {
        ControlMessage::OnDemandStarted { session_id } => session_id,
        other => anyhow::bail!("{other:?}"),
    };
    match agent.recv().await? {
        // 002/004 §6.2: the end user must allow the session (confirm access on the agent).
        ControlMessage::SessionOffer {
            session_id,
            confirm_required,
            ..
        } => assert!(session_id == sid && confirm_required),
        other => anyhow::bail!("{other:?}"),
    }
    match tech.recv().await? {
        ControlMessage::SessionCreated { session_id, .. } => assert_eq!(session_id, sid),
        other => anyhow::bail!("{other:?}"),
    }
    agent
        .send(ControlMessage::SessionAccept { session_id: sid })
        .await?;
    let (relay, agent_ticket, agent_peer) = assignment(agent.recv().await?, sid)?;
    let (_, tech_ticket, tech_peer) = assignment(tech.recv().await?, sid)?;
    // The technician is the agent's Noise peer, and the agent's one-off key is the technician's.
    assert_eq!(agent_peer, TECH_STATIC_KEY);
    assert_eq!(tech_peer, [3; 32]);
    let (a, t) = tokio::join!(
        client::bind(&relay, Side::Host, agent_ticket),
        client::bind(&relay, Side::Guest, tech_ticket),
    );
    let ((mut ap, al), (mut tp, tl)) = (a?, t?);
    ap.write_all(b"screen").await?;
    assert_eq!(read_exact(&mut tp, &mut tl.to_vec(), 6).await?, b"screen");
    tp.write_all(b"input").await?;
    assert_eq!(read_exact(&mut ap, &mut al.to_vec(), 5).await?, b"input");
    drop((ap, tp));

    // 002/004 §6.2: one connection, then the key is gone.
    let mut refused = None;
    for _ in 0..200 {
        let (_c, o) = ControlClient::connect(s.control, &s.cert_der, join("pc-2")).await?;
        if let Outcome::Closed(code) = o {
            refused = Some(code);
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(refused, Some(ErrorCode::OndemandKeyInvalid));
    s.node.shutdown().await;
    Ok(())
}

/// Reads what the broker sends on a silent connection until it closes; the control messages.
async fn drain_messages(mut tls: impl AsyncReadExt + Unpin) -> anyhow::Result<Vec<ControlMessage>> {
    let mut raw = BytesMut::new();
    let mut buf = [0u8; 1024];
    tokio::time::timeout(client::WAIT, async {
        loop {
            match tls.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => raw.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .map_err(|_| anyhow::anyhow!("the broker kept a silent connection open"))?;
    let mut dec = FrameDecoder::default();
    let mut out = Vec::new();
    while let Some(frame) = dec.decode(&mut raw)? {
        out.push(ControlMessage::from_frame(&frame)?);
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_timeout_and_per_ip_cap() -> anyhow::Result<()> {
    let control = ControlConfig {
        auth_timeout: Duration::from_millis(300),
        ..ControlConfig::default()
    };
    let limits = ControlLimits {
        max_per_ip: 2,
        ..ControlLimits::default()
    };
    let s = Server::start_with(Backend::Redb, control, limits).await?;
    let a = client::connect_tls(s.control, &s.cert_der).await?;
    let b = client::connect_tls(s.control, &s.cert_der).await?;
    // A third connection from the same IP is dropped before TLS completes.
    let third = client::connect_tls(s.control, &s.cert_der).await;
    assert!(third.is_err(), "per-IP cap of 2");
    // Silent clients are told `handshake_timeout`, then closed.
    for tls in [a, b] {
        let msgs = drain_messages(tls).await?;
        assert!(
            matches!(
                msgs.as_slice(),
                [ControlMessage::Error {
                    code: ErrorCode::HandshakeTimeout,
                    ..
                }]
            ),
            "{msgs:?}"
        );
    }
    // Their slots are free again.
    let mut accepted = false;
    for _ in 0..100 {
        if let Ok((_c, Outcome::Closed(ErrorCode::AuthFailed))) =
            client::guest(s.control, &s.cert_der, "no-such-token").await
        {
            accepted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(accepted, "closed connections release their per-IP slots");
    s.node.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnecting_hosts_replace_their_old_connections() -> anyhow::Result<()> {
    const HOSTS: usize = 20;
    let s = Server::start(Backend::Redb).await?;
    let p = support::policy(&s).await?;
    let mut ids = Vec::new();
    for i in 0..HOSTS {
        ids.push(
            enroll_host(&s, &p.servers_key, &format!("storm-{i}"))
                .await?
                .0,
        );
    }
    // Every Host connects, then all reconnect at once (a small reconnect storm).
    let mut first = Vec::new();
    for id in &ids {
        let (c, o) = client::host(s.control, &s.cert_der, id).await?;
        assert!(matches!(o, Outcome::Established), "{o:?}");
        first.push(c);
    }
    let storm = ids
        .iter()
        .map(|id| client::host(s.control, &s.cert_der, id));
    let mut second = Vec::new();
    for r in futures::future::join_all(storm).await {
        let (c, o) = r?;
        assert!(matches!(o, Outcome::Established), "{o:?}");
        second.push(c);
    }
    // The old connections are closed by the broker.
    for mut old in first {
        assert!(old.recv().await.is_err(), "a replaced connection is closed");
    }
    assert_eq!(s.node.hub.device_count(), HOSTS);
    // An offer reaches the newest connection.
    let (mut tech, _) = client::guest(s.control, &s.cert_der, &s.login("tech").await?).await?;
    let sid = match request(&mut tech, 1, ids[7].device_id).await? {
        ControlMessage::SessionCreated { session_id, .. } => session_id,
        other => anyhow::bail!("{other:?}"),
    };
    match second[7].recv().await? {
        ControlMessage::SessionOffer { session_id, .. } => assert_eq!(session_id, sid),
        other => anyhow::bail!("{other:?}"),
    }
    s.node.shutdown().await;
    Ok(())
}

/// Bounds the relay has to close a killed session's pipes in (generous for a loaded CI
/// machine; the kill itself is a direct call).
const CUT_WITHIN: Duration = Duration::from_secs(5);

/// An administrator terminates an active session through the admin API: both sides are told
/// `cancelled`, and the in-process relay closes both pipes (EOF) at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_terminate_cuts_both_relay_pipes() -> anyhow::Result<()> {
    let s = Server::start(Backend::Redb).await?;
    let p = support::policy(&s).await?;
    let (id, _) = enroll_host(&s, &p.servers_key, "srv-kill").await?;
    let (mut host, _) = client::host(s.control, &s.cert_der, &id).await?;
    let (mut guest, _) = client::guest(s.control, &s.cert_der, &s.login("tech").await?).await?;
    let mut a = session::activate(&mut host, &mut guest, 1, id.device_id).await?;
    assert_eq!(s.node.relay.active_sessions(), 1);

    let admin = s.login("owner").await?;
    let path = format!("/api/v1/sessions/{}", a.sid);
    let r = s.http.request("DELETE", &path, Some(&admin), None).await?;
    assert_eq!(r.status, 200, "{}", r.body);
    let sid = a.sid;
    let cancel = |m: &ControlMessage| match m {
        ControlMessage::SessionCancel { session_id, code } if *session_id == sid => Some(*code),
        _ => None,
    };
    assert_eq!(
        session::recv_matching(&mut guest, 2, cancel).await?,
        ErrorCode::Cancelled
    );
    assert_eq!(
        session::recv_matching(&mut host, 2, cancel).await?,
        ErrorCode::Cancelled
    );
    session::expect_closed(&mut a.host_pipe, CUT_WITHIN).await?;
    session::expect_closed(&mut a.guest_pipe, CUT_WITHIN).await?;
    tokio::time::timeout(CUT_WITHIN, s.node.relay.wait_idle()).await?;
    // The control connections stay up: the Guest may ask again.
    let b = session::activate(&mut host, &mut guest, 2, id.device_id).await?;
    assert_ne!(b.sid, a.sid);
    drop(b);
    tokio::time::timeout(CUT_WITHIN, s.node.relay.wait_idle()).await?;
    s.node.shutdown().await;
    Ok(())
}

/// Disabling a technician mid-session straight in the directory (as another broker or the
/// admin CLI would; this broker's token store is not touched): within the rebuild debounce
/// after the directory's change notification, the session is cancelled for both sides with
/// `account_disabled`, both relay pipes close, the Guest's control connection is closed with
/// `account_disabled`, and the token still held opens no new one (`account_disabled`). Each
/// forced end is audited.
async fn disabled_user_is_cut_off(backend: Backend) -> anyhow::Result<()> {
    let s = Server::start(backend).await?;
    let p = support::policy(&s).await?;
    let (id, _) = enroll_host(&s, &p.servers_key, "srv-disable").await?;
    let (mut host, _) = client::host(s.control, &s.cert_der, &id).await?;
    let token = s.login("tech").await?;
    let (mut guest, _) = client::guest(s.control, &s.cert_der, &token).await?;
    let mut a = session::activate(&mut host, &mut guest, 1, id.device_id).await?;
    assert_eq!(s.node.hub.guest_count(), 1);

    let started = tokio::time::Instant::now();
    s.dir()
        .set_member_disabled(s.tenant, &s.owner, p.tech, Some(DisabledReason::Manual))
        .await?;
    let sid = a.sid;
    let host_code = session::recv_matching(&mut host, 2, |m| match m {
        ControlMessage::SessionCancel { session_id, code } if *session_id == sid => Some(*code),
        _ => None,
    })
    .await?;
    assert_eq!(host_code, ErrorCode::AccountDisabled);
    session::expect_closed(&mut a.host_pipe, CUT_WITHIN).await?;
    session::expect_closed(&mut a.guest_pipe, CUT_WITHIN).await?;
    // The Guest hears the cancel, then the connection closes with the code.
    let mut guest_cancel = None;
    let mut closed = None;
    for _ in 0..4 {
        match guest.recv().await {
            Ok(ControlMessage::SessionCancel { session_id, code }) if session_id == sid => {
                guest_cancel = Some(code);
            }
            Ok(ControlMessage::Error { code, .. }) => {
                closed = Some(code.name().to_owned());
                break;
            }
            Ok(_) => {}
            Err(e) => {
                closed = Some(e.to_string());
                break;
            }
        }
    }
    assert_eq!(guest_cancel, Some(ErrorCode::AccountDisabled));
    let closed = closed.unwrap_or_default();
    assert!(closed.contains("account_disabled"), "{closed}");
    let took = started.elapsed();
    println!("disable -> both sides cut in {took:?}");
    assert!(took < CUT_WITHIN, "cut off after {took:?}");
    assert_eq!(s.node.hub.guest_count(), 0);

    // The token issued before the disable opens no control connection any more.
    let (_c, o) = client::guest(s.control, &s.cert_der, &token).await?;
    assert!(
        matches!(o, Outcome::Closed(ErrorCode::AccountDisabled)),
        "{o:?}"
    );
    // Both forced ends are in the audit log (written just after the cut).
    let q = AuditQuery::range(Timestamp::UNIX_EPOCH, Timestamp::MAX);
    let dir_sid = DirSessionId::from_bytes(sid.0);
    let (mut session_end, mut conn_close) = (false, false);
    for _ in 0..200 {
        let recs = s.dir().query_audit(s.tenant, &q).await?;
        session_end = recs
            .iter()
            .any(|r| r.session == Some(dir_sid) && r.what.contains("account was disabled"));
        conn_close = recs
            .iter()
            .any(|r| r.what == "control connection closed: account disabled or removed");
        if session_end && conn_close {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(session_end, "session end audited");
    assert!(conn_close, "connection close audited");
    drop(host);
    s.node.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_user_is_cut_off_on_redb() -> anyhow::Result<()> {
    Box::pin(disabled_user_is_cut_off(Backend::Redb)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_user_is_cut_off_on_redis() -> anyhow::Result<()> {
    Box::pin(disabled_user_is_cut_off(Backend::Redis)).await
}

/// Removing the technician (not only disabling) ends the session and closes the connection
/// the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_user_is_cut_off() -> anyhow::Result<()> {
    let s = Server::start(Backend::Redb).await?;
    let p = support::policy(&s).await?;
    let (id, _) = enroll_host(&s, &p.servers_key, "srv-remove").await?;
    let (mut host, _) = client::host(s.control, &s.cert_der, &id).await?;
    let (mut guest, _) = client::guest(s.control, &s.cert_der, &s.login("tech").await?).await?;
    let mut a = session::activate(&mut host, &mut guest, 1, id.device_id).await?;
    let admin = s.login("owner").await?;
    let r = s
        .http
        .request(
            "DELETE",
            &format!("/api/v1/users/{}", p.tech),
            Some(&admin),
            None,
        )
        .await?;
    assert_eq!(r.status, 200, "{}", r.body);
    let sid = a.sid;
    let code = session::recv_matching(&mut host, 2, |m| match m {
        ControlMessage::SessionCancel { session_id, code } if *session_id == sid => Some(*code),
        _ => None,
    })
    .await?;
    assert_eq!(code, ErrorCode::AccountDisabled);
    session::expect_closed(&mut a.guest_pipe, CUT_WITHIN).await?;
    let mut closed = String::new();
    for _ in 0..4 {
        match guest.recv().await {
            Ok(ControlMessage::Error { code, .. }) => {
                closed = code.name().to_owned();
                break;
            }
            Ok(_) => {}
            Err(e) => {
                closed = e.to_string();
                break;
            }
        }
    }
    assert!(closed.contains("account_disabled"), "{closed}");
    s.node.shutdown().await;
    Ok(())
}

/// A node whose confirm timeout is short (the product default stays 60 s), with the Techs
/// given the predefined "Confirm Access Required" role on the Servers.
async fn confirm_node(timeout: Duration) -> anyhow::Result<(Server, HostIdentity)> {
    let s = Server::start_opts(Backend::Redb, |o| o.confirm_timeout = Some(timeout)).await?;
    let p = support::policy(&s).await?;
    confirm_unless_locked(&s).await?;
    let (id, _) = enroll_host(&s, &p.servers_key, "srv-confirm").await?;
    Ok((s, id))
}

/// The Guest's request; the Host's offer (asserted to require confirmation).
async fn confirm_offer(
    host: &mut ControlClient,
    guest: &mut ControlClient,
    request_id: u64,
    device: DeviceId,
) -> anyhow::Result<SessionId> {
    let sid = match request(guest, request_id, device).await? {
        ControlMessage::SessionCreated {
            session_id,
            confirm_required,
            ..
        } => {
            assert!(confirm_required, "the Guest is told confirmation is needed");
            session_id
        }
        other => anyhow::bail!("session request: {other:?}"),
    };
    session::recv_matching(host, 2, |m| match m {
        ControlMessage::SessionOffer {
            session_id,
            confirm_required,
            ..
        } if *session_id == sid => Some(*confirm_required),
        _ => None,
    })
    .await?
    .then_some(sid)
    .ok_or_else(|| anyhow::anyhow!("the offer does not ask the Host to confirm"))
}

/// 002 (Predefined roles): "Confirm Access Required -- Requires that the local user at a
/// remote device to confirm a session before it starts; except for when the computer is
/// locked, or no one is logged in." Over the wire: the Host's `SessionAccept` lets the
/// session proceed to the relay, `SessionReject{confirm_denied}` reaches the Guest as
/// `confirm_denied`, and no answer ends it with `confirm_timeout` for both sides.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirm_access_accept_deny_and_timeout() -> anyhow::Result<()> {
    let timeout = Duration::from_millis(800);
    let (s, id) = confirm_node(timeout).await?;
    let (mut host, _) = client::host(s.control, &s.cert_der, &id).await?;
    let (mut guest, _) = client::guest(s.control, &s.cert_der, &s.login("tech").await?).await?;

    // Accepted: the session proceeds (both sides get their relay assignment).
    let sid = confirm_offer(&mut host, &mut guest, 1, id.device_id).await?;
    host.send(ControlMessage::SessionAccept { session_id: sid })
        .await?;
    assignment(host.recv().await?, sid)?;
    assignment(guest.recv().await?, sid)?;
    guest
        .send(ControlMessage::SessionCancel {
            session_id: sid,
            code: ErrorCode::Cancelled,
        })
        .await?;
    session::recv_matching(&mut host, 2, |m| match m {
        ControlMessage::SessionCancel { session_id, .. } if *session_id == sid => Some(()),
        _ => None,
    })
    .await?;

    // Denied by the local user: the Guest hears `confirm_denied`.
    let sid = confirm_offer(&mut host, &mut guest, 2, id.device_id).await?;
    host.send(ControlMessage::SessionReject {
        session_id: sid,
        code: ErrorCode::ConfirmDenied,
        message: "the user said no".into(),
    })
    .await?;
    let denied = session::recv_matching(&mut guest, 2, |m| match m {
        ControlMessage::SessionReject {
            session_id, code, ..
        } if *session_id == sid => Some(*code),
        _ => None,
    })
    .await?;
    assert_eq!(denied, ErrorCode::ConfirmDenied);

    // Nobody answers: after the confirm timeout both sides are told `confirm_timeout`.
    let started = tokio::time::Instant::now();
    let sid = confirm_offer(&mut host, &mut guest, 3, id.device_id).await?;
    let cancel = |m: &ControlMessage| match m {
        ControlMessage::SessionCancel { session_id, code } if *session_id == sid => Some(*code),
        _ => None,
    };
    assert_eq!(
        session::recv_matching(&mut guest, 2, cancel).await?,
        ErrorCode::ConfirmTimeout
    );
    assert_eq!(
        session::recv_matching(&mut host, 2, cancel).await?,
        ErrorCode::ConfirmTimeout
    );
    assert!(
        started.elapsed() >= timeout,
        "not before the timeout: {:?}",
        started.elapsed()
    );
    s.node.shutdown().await;
    Ok(())
}

/// 002/004: revoking a deployment package cuts off every device enrolled through it, here
/// through the admin API while the Host is connected: its control connection is closed with
/// `device_revoked`, and reconnecting is refused with `device_revoked`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn package_revoke_over_the_admin_api_disconnects_the_host() -> anyhow::Result<()> {
    let s = Server::start(Backend::Redb).await?;
    let p = support::policy(&s).await?;
    let (id, _) = enroll_host(&s, &p.servers_key, "srv-revoke").await?;
    let (mut host, o) = client::host(s.control, &s.cert_der, &id).await?;
    assert!(matches!(o, Outcome::Established), "{o:?}");
    let admin = s.login("owner").await?;
    let r = s
        .http
        .request(
            "POST",
            &format!("/api/v1/packages/{}/revoke", p.servers_package),
            Some(&admin),
            Some(&serde_json::json!({"confirm": "revoke"})),
        )
        .await?;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut closed = String::new();
    for _ in 0..4 {
        match host.recv().await {
            Ok(ControlMessage::Error { code, .. }) => {
                closed = code.name().to_owned();
                break;
            }
            Ok(_) => {}
            Err(e) => {
                closed = e.to_string();
                break;
            }
        }
    }
    assert!(closed.contains("device_revoked"), "{closed}");
    let (_c, o) = client::host(s.control, &s.cert_der, &id).await?;
    assert!(
        matches!(o, Outcome::Closed(ErrorCode::DeviceRevoked)),
        "reconnect: {o:?}"
    );
    s.node.shutdown().await;
    Ok(())
}

/// "My devices" over the running node: the technician sees the device their role reaches,
/// online while its Host is connected, with the permissions a session would be granted; a
/// user without an assignment sees none, and is refused a session on it (the list and the
/// decision agree).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn my_devices_match_the_session_decision() -> anyhow::Result<()> {
    let s = Server::start(Backend::Redb).await?;
    let p = support::policy(&s).await?;
    let (id, _) = enroll_host(&s, &p.servers_key, "srv-mine").await?;
    let tech = s.login("tech").await?;
    let list = |token: String| {
        let http = &s.http;
        async move {
            let r = http
                .request("GET", "/api/v1/me/devices", Some(&token), None)
                .await?;
            anyhow::ensure!(r.status == 200, "{} {}", r.status, r.body);
            Ok::<_, anyhow::Error>(r.json()["devices"].clone())
        }
    };
    let d = list(tech.clone()).await?;
    assert_eq!(d.as_array().map(Vec::len), Some(1), "{d}");
    assert_eq!(d[0]["id"], id.device_id.to_string(), "{d}");
    assert_eq!(d[0]["name"], "srv-mine");
    assert_eq!(d[0]["online"], false);
    assert_eq!(d[0]["state"], "enrolled");
    assert_eq!(d[0]["groups"], serde_json::json!(["Servers"]));
    let perms: Vec<&str> = d[0]["permissions"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    assert!(perms.contains(&"remote_session"), "{perms:?}");

    let (mut host, _) = client::host(s.control, &s.cert_der, &id).await?;
    let d = list(tech.clone()).await?;
    assert_eq!(d[0]["online"], true, "{d}");
    let (mut guest, _) = client::guest(s.control, &s.cert_der, &tech).await?;
    match request(&mut guest, 1, id.device_id).await? {
        ControlMessage::SessionCreated { granted, .. } => {
            let names: Vec<&str> = granted.iter().map(|p| p.name()).collect();
            assert_eq!(names, perms, "the list shows what the session grants");
        }
        other => anyhow::bail!("{other:?}"),
    }
    let _ = host.recv().await?;

    let nobody = s.login("nobody").await?;
    assert_eq!(list(nobody.clone()).await?, serde_json::json!([]));
    let (mut g2, _) = client::guest(s.control, &s.cert_der, &nobody).await?;
    match request(&mut g2, 1, id.device_id).await? {
        ControlMessage::SessionDenied { code, .. } => assert_eq!(code, ErrorCode::NotPermitted),
        other => anyhow::bail!("{other:?}"),
    }
    s.node.shutdown().await;
    Ok(())
}
