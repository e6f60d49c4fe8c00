//! The real `switchboard-agent` binary against an in-process node: enroll + `host run` +
//! `guest login` + `guest connect` with a tunnel to an echo server; and the OnDemand path
//! (`guest ondemand create`, `ondemand join --yes`, `guest ondemand start`; its tunnels are
//! refused since OnDemand grants no tunnel permission). Ctrl-C (SIGTERM here) ends a Guest
//! with exit 0.

mod support;

use std::path::Path;
use std::process::Stdio;

use support::{PASSWORD, WAIT, echo_server, node};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};

const BIN: &str = env!("CARGO_BIN_EXE_switchboard-agent");

fn agent(state: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.arg("--state")
        .arg(state)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    c
}

async fn run_ok(mut c: Command) -> anyhow::Result<String> {
    let o = tokio::time::timeout(WAIT, c.output()).await??;
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    );
    anyhow::ensure!(o.status.success(), "{:?}: {out}{err}", o.status);
    Ok(out)
}

/// Reads stdout lines until one contains `needle`; that line.
async fn line_with(out: &mut BufReader<ChildStdout>, needle: &str) -> anyhow::Result<String> {
    tokio::time::timeout(WAIT, async {
        let mut seen = Vec::new();
        loop {
            let mut l = String::new();
            if out.read_line(&mut l).await? == 0 {
                anyhow::bail!("stdout ended without {needle:?}: {seen:?}");
            }
            if l.contains(needle) {
                return Ok(l.trim_end().to_owned());
            }
            seen.push(l);
        }
    })
    .await
    .map_err(|_| anyhow::anyhow!("no {needle:?} within {WAIT:?}"))?
}

fn stdout_of(c: &mut Child) -> anyhow::Result<BufReader<ChildStdout>> {
    Ok(BufReader::new(
        c.stdout
            .take()
            .ok_or_else(|| anyhow::anyhow!("no stdout"))?,
    ))
}

async fn sigterm_exits_zero(mut c: Child) -> anyhow::Result<()> {
    let pid = c.id().ok_or_else(|| anyhow::anyhow!("exited early"))?;
    let st = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()?;
    anyhow::ensure!(st.success(), "kill failed");
    let st = tokio::time::timeout(WAIT, c.wait()).await??;
    anyhow::ensure!(st.code() == Some(0), "exit {st:?} after SIGTERM");
    Ok(())
}

async fn echo_through(port: u16) -> anyhow::Result<()> {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    s.write_all(b"ping through the agent").await?;
    let mut back = [0u8; 22];
    tokio::time::timeout(WAIT, s.read_exact(&mut back)).await??;
    anyhow::ensure!(&back == b"ping through the agent", "{back:?}");
    Ok(())
}

struct Setup {
    node: switchboard_broker::control::Node,
    _data: tempfile::TempDir,
    key: String,
    control: String,
    admin: String,
    fingerprint: String,
    echo: String,
    tmp: tempfile::TempDir,
}

async fn setup() -> anyhow::Result<Setup> {
    let (node, data, key) = node().await?;
    let control = node
        .control
        .local_addrs()
        .first()
        .ok_or_else(|| anyhow::anyhow!("no control address"))?
        .to_string();
    let cert = node
        .started
        .cert
        .chain
        .first()
        .ok_or_else(|| anyhow::anyhow!("no certificate"))?;
    let fingerprint = switchboard_agent::pin::fingerprint(cert);
    let admin = format!("http://{}", node.started.admin.addr);
    Ok(Setup {
        node,
        _data: data,
        key,
        control,
        admin,
        fingerprint,
        echo: echo_server().await?.to_string(),
        tmp: tempfile::tempdir()?,
    })
}

async fn login(s: &Setup, guest: &Path) -> anyhow::Result<()> {
    let mut c = agent(
        guest,
        &[
            "guest",
            "login",
            "--server",
            &s.control,
            "--admin",
            &s.admin,
            "--user",
            "tech",
            "--fingerprint",
            &s.fingerprint,
            "--password-stdin",
        ],
    );
    c.stdin(Stdio::piped());
    let mut child = c.spawn()?;
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdin"))?;
    stdin.write_all(format!("{PASSWORD}\n").as_bytes()).await?;
    drop(stdin);
    let o = tokio::time::timeout(WAIT, child.wait_with_output()).await??;
    let out = String::from_utf8_lossy(&o.stdout);
    anyhow::ensure!(
        o.status.success() && out.contains("logged in as tech"),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enroll_run_login_connect_with_the_binary() -> anyhow::Result<()> {
    let s = setup().await?;
    let (host, guest) = (s.tmp.path().join("host"), s.tmp.path().join("guest"));
    let out = run_ok(agent(
        &host,
        &[
            "host",
            "enroll",
            "--server",
            &s.control,
            "--key",
            &s.key,
            "--fingerprint",
            &s.fingerprint,
            "--hostname",
            "bin-host",
        ],
    ))
    .await?;
    let device = out
        .trim()
        .strip_prefix("enrolled: device ")
        .and_then(|r| r.strip_suffix(" (Enrolled)"))
        .ok_or_else(|| anyhow::anyhow!("enroll printed {out:?}"))?
        .to_owned();

    let allow = s.echo.clone();
    let mut host_run =
        agent(&host, &["host", "run", "--auto-accept", "--allow", &allow]).spawn()?;
    let mut host_out = stdout_of(&mut host_run)?;
    let l = line_with(&mut host_out, "connected to").await?;
    assert_eq!(l, format!("connected to {} as device {device}", s.control));

    login(&s, &guest).await?;
    let port = switchboard_tests::free_tcp_port()?;
    let tunnel = format!("{port}={}", s.echo);
    let mut g = agent(&guest, &["guest", "connect", &device, "--tunnel", &tunnel]).spawn()?;
    let mut g_out = stdout_of(&mut g)?;
    let l = line_with(&mut g_out, "ready").await?;
    assert_eq!(l, format!("tunnel 127.0.0.1:{port} -> {} ready", s.echo));
    line_with(&mut host_out, ": accepted").await?;
    echo_through(port).await?;

    sigterm_exits_zero(g).await?;
    line_with(&mut host_out, "ended").await?;
    drop(host_run);
    s.node.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ondemand_with_the_binary() -> anyhow::Result<()> {
    let s = setup().await?;
    let (user, guest) = (s.tmp.path().join("user"), s.tmp.path().join("guest"));
    login(&s, &guest).await?;
    let out = run_ok(agent(&guest, &["guest", "ondemand", "create"])).await?;
    let key = out
        .trim()
        .strip_prefix("key ")
        .and_then(|r| r.split_once(" expires "))
        .map(|(k, _)| k.to_owned())
        .ok_or_else(|| anyhow::anyhow!("create printed {out:?}"))?;
    assert_eq!(key.len(), 9, "{out}");

    let allow = s.echo.clone();
    let mut join = agent(
        &user,
        &[
            "ondemand",
            "join",
            &key,
            "--server",
            &s.control,
            "--fingerprint",
            &s.fingerprint,
            "--yes",
            "--allow",
            &allow,
        ],
    )
    .spawn()?;
    let mut j_out = stdout_of(&mut join)?;
    assert_eq!(
        line_with(&mut j_out, "queued").await?,
        "queued at position 1"
    );

    let port = switchboard_tests::free_tcp_port()?;
    let tunnel = format!("{port}={}", s.echo);
    let mut t = agent(
        &guest,
        &["guest", "ondemand", "start", &key, "--tunnel", &tunnel],
    )
    .spawn()?;
    let mut t_out = stdout_of(&mut t)?;
    line_with(&mut t_out, "ready").await?;
    // The OnDemand role purpose cannot hold the tunnel permission (the directory refuses it),
    // so the end user's agent refuses tunnels even inside its --allow list: the local
    // connection is closed without an echo.
    assert!(
        echo_through(port).await.is_err(),
        "a tunnel without the permission echoed"
    );
    sigterm_exits_zero(t).await?;
    line_with(&mut j_out, "ended").await?;
    let st = tokio::time::timeout(WAIT, join.wait()).await??;
    assert_eq!(st.code(), Some(0));
    s.node.shutdown().await;
    Ok(())
}
