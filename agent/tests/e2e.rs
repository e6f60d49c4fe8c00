//! End to end through the agent LIBRARY (not the binary): an in-process node (broker + relay
//! on loopback, redb in a temp dir), a Host enrolled with `control::host::enroll` and kept
//! online by `control::host::run`, a Guest logged in with `control::guest::login` that asks
//! for a session and opens a tunnel to a local echo server through it; revoking the package
//! then stops the Host's run loop with `device_revoked`.

mod support;

use std::time::Duration;

use support::{Lines, PASSWORD, WAIT, echo_server, node_full};
use switchboard_agent::AgentError;
use switchboard_agent::control::guest::{self, GuestError, LoginOptions};
use switchboard_agent::control::host::{self, EnrollOptions, RunOptions};
use switchboard_agent::control::{Endpoint, Transport};
use switchboard_agent::prompt::Confirmer;
use switchboard_agent::session::AllowList;
use switchboard_agent::state::StateDir;
use switchboard_codec::ErrorCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_and_guest_tunnel_through_the_library() -> anyhow::Result<()> {
    let support::TestNode {
        node,
        data: _data,
        key,
        package,
        tenant,
        owner,
    } = node_full().await?;
    let control = *node
        .control
        .local_addrs()
        .first()
        .ok_or_else(|| anyhow::anyhow!("no control address"))?;
    let cert = node
        .started
        .cert
        .chain
        .first()
        .ok_or_else(|| anyhow::anyhow!("no certificate"))?;
    let fingerprint = switchboard_agent::pin::fingerprint(cert);
    let echo = echo_server().await?;

    // Host: enroll, then run.
    let host_dir = tempfile::tempdir()?;
    let state_dir = StateDir::new(host_dir.path().join("state"));
    let endpoint = Endpoint {
        server: control.to_string(),
        fingerprint: fingerprint.clone(),
        transport: Transport::Tls,
    };
    let enroll = EnrollOptions {
        endpoint,
        key,
        hostname: Some("e2e-host".into()),
    };
    let state = host::enroll(&state_dir, &enroll).await?;
    assert_eq!(state.enroll_state, "Enrolled");
    assert_eq!(state_dir.load_host()?, state);
    let (host_lines, host_print) = Lines::new();
    let opts = RunOptions {
        transport: Transport::Tls,
        allow: AllowList::parse_entries([echo.to_string().as_str()])?,
        reconnect_max: Duration::from_secs(2),
        confirmer: Confirmer::auto_accept(host_print.clone()),
        user_logged_in: false,
    };
    let host_task = tokio::spawn({
        let state = state.clone();
        async move { host::run(&state, opts, host_print).await }
    });
    host_lines
        .wait_for(&format!(
            "connected to {control} as device {}",
            state.device_id
        ))
        .await?;

    // Guest: login, session, tunnel.
    let login = LoginOptions {
        server: control.to_string(),
        admin: format!("http://{}", node.started.admin.addr),
        fingerprint,
        user: "tech".into(),
        tenant: None,
    };
    let no_mfa = async || -> Result<String, AgentError> {
        Err(AgentError::Usage("no MFA in this test".into()))
    };
    let gstate = guest::login(&login, PASSWORD, no_mfa).await?;
    let ep = guest::endpoint(&gstate, Transport::Tls);
    let device = state.device_id()?;
    let gs = tokio::time::timeout(WAIT, async {
        // The Host's presence may lag its Welcome by a moment.
        for _ in 0..50 {
            let c = guest::connect_guest(&ep, &gstate.token).await?;
            match guest::request_session(c, device, guest::tunnel_wanted()).await {
                Err(GuestError::Refused {
                    code: ErrorCode::DeviceOffline,
                    ..
                }) => tokio::time::sleep(Duration::from_millis(100)).await,
                other => return other,
            }
        }
        Err(GuestError::Other(AgentError::Usage(
            "device stayed offline".into(),
        )))
    })
    .await??;
    assert!(gs.granted.contains(switchboard_codec::Permission::Tunnel));
    host_lines.wait_for("accepted").await?;

    let mut t = tokio::time::timeout(WAIT, gs.session.open_tunnel(&echo.to_string())).await??;
    t.write_all(b"hello through the tunnel").await?;
    let mut back = [0u8; 24];
    tokio::time::timeout(WAIT, t.read_exact(&mut back)).await??;
    assert_eq!(&back, b"hello through the tunnel");

    // A target outside --allow is refused by the Host, in a sentence.
    let refused = tokio::time::timeout(WAIT, gs.session.open_tunnel("127.0.0.1:1")).await?;
    let e = refused
        .err()
        .ok_or_else(|| anyhow::anyhow!("tunnel outside --allow opened"))?;
    assert!(matches!(e, AgentError::TunnelRefused { .. }), "{e}");

    // The Guest ends the session: the Host says so.
    gs.control
        .send(switchboard_codec::ControlMessage::SessionCancel {
            session_id: gs.session.id(),
            code: ErrorCode::Cancelled,
        })
        .await?;
    gs.session.close();
    host_lines
        .wait_for(&format!("session {} ended", gs.session.id()))
        .await?;

    // 002/004: revoking the package cuts the device off; `host run` stops (exit 2 in the
    // binary) instead of retrying.
    node.started
        .dir
        .revoke_package(tenant, &owner, package, "revoke")
        .await?;
    let e = tokio::time::timeout(Duration::from_secs(20), host_task).await??;
    assert!(
        matches!(
            e,
            AgentError::Refused {
                code: ErrorCode::DeviceRevoked,
                ..
            }
        ),
        "{e}"
    );
    node.shutdown().await;
    Ok(())
}
