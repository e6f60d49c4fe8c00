//! A throwaway OpenSSH server on a free loopback port, as the current user: its own host key,
//! one authorized client key, `sshd_config` and pid file in a temp dir; plus `ssh`/`scp` client
//! invocations that trust nothing on the machine (`-F /dev/null`, no known-hosts file, batch
//! mode, the test key).
//!
//! It is killed on drop. It needs `/usr/sbin/sshd` and `ssh-keygen` (Debian `openssh-server`,
//! `openssh-client`); as root it creates `/run/sshd` (the privilege-separation directory).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::process::Command;

use crate::child::ChildProcess;

const SSHD: &str = "/usr/sbin/sshd";
/// Bound on the server's start.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A running sshd.
#[derive(Debug)]
pub struct Sshd {
    proc: ChildProcess,
    dir: tempfile::TempDir,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// The login name (the current user).
    pub user: String,
}

/// What a client command did.
#[derive(Debug, Clone)]
pub struct ClientRun {
    /// Exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    /// stdout.
    pub stdout: String,
    /// stderr.
    pub stderr: String,
}

impl Sshd {
    /// Starts the server, or `None` (with a line saying why) when this process is not root
    /// and sshd cannot run as this user: the only case a test may skip. As root every
    /// failure is an error.
    pub async fn start_or_skip() -> anyhow::Result<Option<Self>> {
        match Self::start().await {
            Ok(s) => Ok(Some(s)),
            Err(e) if !is_root().await && Path::new(SSHD).is_file() => {
                println!("SKIPPED: not root and sshd cannot run as this user: {e:#}");
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Starts the server. An error says why (missing package, not root and sshd refusing).
    pub async fn start() -> anyhow::Result<Self> {
        anyhow::ensure!(
            Path::new(SSHD).is_file(),
            "{SSHD} not found: install the Debian package `openssh-server`"
        );
        let dir = tempfile::tempdir()?;
        let user = current_user().await?;
        for (name, comment) in [("host_key", "host"), ("client_key", "client")] {
            let out = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
                .arg(dir.path().join(name))
                .stdin(Stdio::null())
                .output()
                .await
                .map_err(|e| {
                    anyhow::anyhow!("ssh-keygen (Debian package `openssh-client`): {e}")
                })?;
            anyhow::ensure!(
                out.status.success(),
                "ssh-keygen: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        tokio::fs::copy(
            dir.path().join("client_key.pub"),
            dir.path().join("authorized_keys"),
        )
        .await?;
        if is_root().await && !Path::new("/run/sshd").is_dir() {
            tokio::fs::create_dir_all("/run/sshd").await?;
        }
        let port = crate::free_tcp_port()?;
        let d = dir.path().display();
        let config = format!(
            "ListenAddress 127.0.0.1\nPort {port}\nHostKey {d}/host_key\n\
             AuthorizedKeysFile {d}/authorized_keys\nPidFile {d}/sshd.pid\nUsePAM no\n\
             StrictModes no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             PubkeyAuthentication yes\nPermitRootLogin prohibit-password\n\
             Subsystem sftp internal-sftp\nMaxStartups 100\nMaxSessions 100\nLogLevel VERBOSE\n"
        );
        let cfg_path = dir.path().join("sshd_config");
        tokio::fs::write(&cfg_path, config).await?;
        let args = vec![
            "-D".to_owned(),
            "-e".to_owned(),
            "-f".to_owned(),
            cfg_path.display().to_string(),
        ];
        let proc = ChildProcess::spawn("sshd", Path::new(SSHD), &args, &[], None)?;
        let mut s = Self {
            proc,
            dir,
            port,
            user,
        };
        s.wait_banner().await?;
        Ok(s)
    }

    async fn wait_banner(&mut self) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        loop {
            if let Some(code) = self.proc.try_exit() {
                anyhow::bail!(
                    "sshd exited ({code:?}) at start{}:\n{}",
                    if is_root().await {
                        ""
                    } else {
                        " (not root: sshd may need root on this machine)"
                    },
                    self.proc.tail(40)
                );
            }
            if banner(self.port).await {
                return Ok(());
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "sshd did not answer on port {} within {START_TIMEOUT:?}:\n{}",
                self.port,
                self.proc.tail(40)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The client's private key.
    pub fn client_key(&self) -> PathBuf {
        self.dir.path().join("client_key")
    }

    /// The temp dir (scp targets may go here).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn client_options(&self) -> Vec<String> {
        [
            "-F",
            "/dev/null",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "LogLevel=ERROR",
            "-o",
            "ConnectTimeout=10",
            "-i",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .chain([self.client_key().display().to_string()])
        .collect()
    }

    /// `ssh ... -p port user@127.0.0.1 command` (through a tunnel when `port` is the local
    /// end of one), bounded by `timeout`.
    pub async fn ssh(
        &self,
        port: u16,
        command: &str,
        timeout: Duration,
    ) -> anyhow::Result<ClientRun> {
        let mut cmd = Command::new("ssh");
        cmd.args(self.client_options())
            .args(["-p", &port.to_string()])
            .arg(format!("{}@127.0.0.1", self.user))
            .arg(command);
        run_client(cmd, timeout).await
    }

    /// `scp ... -P port local user@127.0.0.1:remote`, bounded by `timeout`.
    pub async fn scp_to(
        &self,
        port: u16,
        local: &Path,
        remote: &Path,
        timeout: Duration,
    ) -> anyhow::Result<ClientRun> {
        let mut cmd = Command::new("scp");
        cmd.args(self.client_options())
            .args(["-P", &port.to_string()])
            .arg(local)
            .arg(format!("{}@127.0.0.1:{}", self.user, remote.display()));
        run_client(cmd, timeout).await
    }
}

async fn run_client(mut cmd: Command, timeout: Duration) -> anyhow::Result<ClientRun> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn()?;
    let mut out = child.stdout.take();
    let mut err = child.stderr.take();
    let run = async {
        let (mut o, mut e) = (Vec::new(), Vec::new());
        let read_out = async {
            if let Some(s) = out.as_mut() {
                let _ = s.read_to_end(&mut o).await;
            }
        };
        let read_err = async {
            if let Some(s) = err.as_mut() {
                let _ = s.read_to_end(&mut e).await;
            }
        };
        tokio::join!(read_out, read_err);
        let status = child.wait().await?;
        Ok::<_, anyhow::Error>(ClientRun {
            code: status.code(),
            stdout: String::from_utf8_lossy(&o).into_owned(),
            stderr: String::from_utf8_lossy(&e).into_owned(),
        })
    };
    tokio::time::timeout(timeout, run)
        .await
        .map_err(|_| anyhow::anyhow!("ssh client still running after {timeout:?}"))?
}

async fn banner(port: u16) -> bool {
    let Ok(Ok(mut s)) = tokio::time::timeout(
        Duration::from_secs(1),
        tokio::net::TcpStream::connect(("127.0.0.1", port)),
    )
    .await
    else {
        return false;
    };
    let mut buf = [0u8; 4];
    matches!(
        tokio::time::timeout(Duration::from_secs(2), s.read_exact(&mut buf)).await,
        Ok(Ok(_)) if &buf == b"SSH-"
    )
}

async fn current_user() -> anyhow::Result<String> {
    let out = Command::new("id").arg("-un").output().await?;
    let name = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    anyhow::ensure!(!name.is_empty(), "`id -un` printed no user name");
    Ok(name)
}

async fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .await
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}
