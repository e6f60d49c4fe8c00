//! `switchboard-agent`: the Host and Guest command line.
//!
//! Parses the command line (`cli`), sets up logging (stderr, text or JSON), runs one command
//! through the library (`control`, `state`, `session`) and maps its outcome to the exit codes
//! of the agent contract: 0 done, 1 error, 2 device revoked/unknown, 3 refused,
//! 4 disconnected. User-facing lines go to stdout, `error: ...` lines to stderr.
#![forbid(unsafe_code)]

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use switchboard_agent::AgentError;
use switchboard_agent::cli::{
    Cli, Command, GuestCommand, GuestOnDemandCommand, HostCommand, LogFormat, OnDemandCommand,
};
use switchboard_agent::control::guest::{self, GuestError};
use switchboard_agent::control::{self, Endpoint, Printer, Transport, client, host, ondemand};
use switchboard_agent::prompt::Confirmer;
use switchboard_agent::session::AllowList;
use switchboard_agent::state::StateDir;

/// A failed command: exit code and the line after `error: `.
struct Fail {
    code: u8,
    line: String,
}

impl Fail {
    fn new(code: u8, line: impl Into<String>) -> Self {
        Self {
            code,
            line: line.into(),
        }
    }
}

impl From<AgentError> for Fail {
    fn from(e: AgentError) -> Self {
        Self::new(1, e.to_string())
    }
}

impl From<GuestError> for Fail {
    fn from(e: GuestError) -> Self {
        let code = match e {
            GuestError::Refused { .. } => 3,
            GuestError::Disconnected { .. } => 4,
            GuestError::Other(_) => 1,
        };
        Self::new(code, e.to_string())
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    init_logging(cli.log_format);
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let print = control::stdout_printer();
    match rt.block_on(run(cli, print)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            let _ = std::io::stdout().flush();
            eprintln!("error: {}", f.line);
            ExitCode::from(f.code)
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none());
    let _ = match format {
        LogFormat::Json => b.json().try_init(),
        LogFormat::Text => b.try_init(),
    };
}

fn state_dir(cli: &Cli) -> Result<StateDir, Fail> {
    let path = match &cli.state {
        Some(p) => p.clone(),
        None => StateDir::default_path(&|k| std::env::var(k).ok())?,
    };
    Ok(StateDir::new(path))
}

fn transport(quic: bool) -> Transport {
    if quic {
        Transport::Quic
    } else {
        Transport::Tls
    }
}

fn allow_list(entries: &[String]) -> Result<AllowList, Fail> {
    Ok(AllowList::parse_entries(
        entries.iter().map(String::as_str),
    )?)
}

async fn run(cli: Cli, print: Printer) -> Result<(), Fail> {
    let dir = state_dir(&cli)?;
    match cli.command {
        Command::Host(HostCommand::Enroll(a)) => {
            let fingerprint =
                decide_fingerprint(&a.server, a.fingerprint, a.trust_on_first_use, &print).await?;
            let opts = host::EnrollOptions {
                endpoint: Endpoint {
                    server: a.server.clone(),
                    fingerprint,
                    transport: Transport::Tls,
                },
                key: a.key,
                hostname: a.hostname,
            };
            let st = host::enroll(&dir, &opts).await.map_err(|e| match e {
                AgentError::Refused { code, message } => {
                    Fail::new(1, format!("enrollment refused: {}: {message}", code.name()))
                }
                other => Fail::from(other),
            })?;
            if st.enroll_state == "Pending" {
                print(&format!(
                    "enrolled: device {} is Pending: waiting for an administrator to approve it",
                    st.device_id
                ));
            } else {
                print(&format!("enrolled: device {} (Enrolled)", st.device_id));
            }
            Ok(())
        }
        Command::Host(HostCommand::Run(a)) => {
            let st = dir.load_host()?;
            let interactive = std::io::stdin().is_terminal();
            let confirmer = if a.auto_accept {
                Confirmer::auto_accept(print.clone())
            } else {
                Confirmer::terminal(print.clone())
            };
            let opts = host::RunOptions {
                transport: transport(a.quic),
                allow: allow_list(&a.allow)?,
                reconnect_max: Duration::from_secs(a.reconnect_max),
                confirmer,
                user_logged_in: interactive,
            };
            let stop = guest::shutdown_signal();
            let run = host::run(&st, opts, print.clone());
            let e = tokio::select! {
                e = run => e,
                () = stop => return Ok(()),
            };
            Err(match e {
                AgentError::Refused { code, message } if host::is_fatal(code) => {
                    let what = match code {
                        switchboard_codec::ErrorCode::DeviceRevoked => "device revoked",
                        switchboard_codec::ErrorCode::DeviceUnknown => "device unknown",
                        _ => "device credential refused",
                    };
                    Fail::new(2, format!("{what}: {message}"))
                }
                other => Fail::from(other),
            })
        }
        Command::Guest(GuestCommand::Login(a)) => {
            let fingerprint =
                decide_fingerprint(&a.server, a.fingerprint, a.trust_on_first_use, &print).await?;
            let admin = a
                .admin
                .unwrap_or_else(|| format!("http://{}:8080", client::host_of(&a.server)));
            let opts = guest::LoginOptions {
                server: a.server,
                admin,
                fingerprint,
                user: a.user.clone(),
                tenant: a.tenant,
            };
            let password = if a.password_stdin {
                read_stdin_line().await?
            } else {
                read_secret("Password: ")?
            };
            let from_stdin = a.password_stdin;
            let totp = async move || {
                if from_stdin {
                    read_stdin_line()
                        .await
                        .map_err(|f| AgentError::Usage(f.line))
                } else {
                    prompt_line("TOTP code: ")
                }
            };
            let st = guest::login(&opts, &password, totp).await?;
            dir.save_guest(&st)?;
            print(&format!("logged in as {}", st.user));
            Ok(())
        }
        Command::Guest(GuestCommand::Devices(a)) => {
            let st = dir.load_guest()?;
            let v = guest::devices_json(&st).await?;
            if a.json {
                print(&serde_json::to_string_pretty(&v).unwrap_or_default());
                return Ok(());
            }
            let list = guest::parse_devices(&v);
            if list.is_empty() {
                print("no devices");
            }
            for d in list {
                let online = if d.online { "online" } else { "offline" };
                print(&format!(
                    "{}  {}  {online}  {}",
                    d.id,
                    d.name,
                    d.permissions.join(",")
                ));
            }
            Ok(())
        }
        Command::Guest(GuestCommand::Connect(a)) => {
            let stop = guest::shutdown_signal();
            let st = dir.load_guest()?;
            let device = guest::resolve_device(&st, &a.device).await?;
            let tunnels = guest::bind_tunnels(&a.tunnel).await?;
            let control =
                guest::connect_guest(&guest::endpoint(&st, transport(a.quic)), &st.token).await?;
            tokio::pin!(stop);
            let gs = tokio::select! {
                r = guest::request_session(control, device, guest::tunnel_wanted()) => r?,
                () = &mut stop => return Ok(()),
            };
            guest::run_tunnels(gs, tunnels, print, stop).await?;
            Ok(())
        }
        Command::Guest(GuestCommand::Ondemand(c)) => {
            let st = dir.load_guest()?;
            match c {
                GuestOnDemandCommand::Create(a) => {
                    let mut control =
                        guest::connect_guest(&guest::endpoint(&st, transport(a.quic)), &st.token)
                            .await?;
                    let (key, expires) = ondemand::create_key(&mut control).await?;
                    print(&format!("key {key} expires {}", ondemand::rfc3339(expires)));
                    control
                        .close(switchboard_codec::ErrorCode::Cancelled, "done")
                        .await;
                    Ok(())
                }
                GuestOnDemandCommand::Start(a) => {
                    let stop = guest::shutdown_signal();
                    let tunnels = guest::bind_tunnels(&a.tunnel).await?;
                    let control =
                        guest::connect_guest(&guest::endpoint(&st, transport(a.quic)), &st.token)
                            .await?;
                    tokio::pin!(stop);
                    let gs = tokio::select! {
                        r = ondemand::start(control, a.key) => r?,
                        () = &mut stop => return Ok(()),
                    };
                    guest::run_tunnels(gs, tunnels, print, stop).await?;
                    Ok(())
                }
                GuestOnDemandCommand::Reject(a) => {
                    let control =
                        guest::connect_guest(&guest::endpoint(&st, transport(a.quic)), &st.token)
                            .await?;
                    ondemand::reject(control, a.key).await?;
                    print(&format!("rejected {}", a.key));
                    Ok(())
                }
            }
        }
        Command::Ondemand(OnDemandCommand::Join(a)) => {
            let stop = guest::shutdown_signal();
            let confirmer = if a.yes {
                Confirmer::auto_accept(print.clone())
            } else {
                Confirmer::terminal(print.clone())
            };
            let opts = ondemand::JoinOptions {
                endpoint: Endpoint {
                    server: a.server,
                    fingerprint: switchboard_agent::pin::normalize(&a.fingerprint),
                    transport: transport(a.quic),
                },
                key: a.key,
                confirmer,
                allow: allow_list(&a.allow)?,
            };
            tokio::select! {
                r = ondemand::join(opts, print) => r.map_err(Fail::from),
                () = stop => Ok(()),
            }
        }
    }
}

/// The pin to use: the given fingerprint, or (with `--trust-on-first-use`) the one the server
/// shows now. Without either, prints the server's and refuses.
async fn decide_fingerprint(
    server: &str,
    given: Option<String>,
    tofu: bool,
    print: &Printer,
) -> Result<String, Fail> {
    if let Some(fp) = given {
        return Ok(switchboard_agent::pin::normalize(&fp));
    }
    let fp = client::probe_fingerprint(server).await?;
    print(&format!("server certificate fingerprint: {fp}"));
    if tofu {
        print("trusting it on first use (--trust-on-first-use)");
        Ok(fp)
    } else {
        Err(Fail::new(
            1,
            format!(
                "the server certificate is not pinned: check the fingerprint above against \
                 `switchboard serve`'s output, then pass --fingerprint {fp} \
                 (or --trust-on-first-use)"
            ),
        ))
    }
}

/// One line of stdin (without the line end); end of input is an error.
async fn read_stdin_line() -> Result<String, Fail> {
    let r = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map(|n| (n, line))
    })
    .await
    .map_err(|e| Fail::new(1, e.to_string()))?;
    match r {
        Ok((0, _)) => Err(Fail::new(1, "stdin ended before the expected line")),
        Ok((_, line)) => Ok(line.trim_end_matches(['\r', '\n']).to_owned()),
        Err(e) => Err(Fail::new(1, format!("reading stdin: {e}"))),
    }
}

/// Asks on stderr and reads a line from the terminal, with echo off when it is one.
fn read_secret(question: &str) -> Result<String, Fail> {
    let tty = std::io::stdin().is_terminal();
    let stty = |arg: &str| {
        let _ = std::process::Command::new("stty")
            .arg(arg)
            .stdin(std::process::Stdio::inherit())
            .status();
    };
    if tty {
        stty("-echo");
    }
    let r = prompt_line(question);
    if tty {
        stty("echo");
        eprintln!();
    }
    r.map_err(Fail::from)
}

fn prompt_line(question: &str) -> Result<String, AgentError> {
    eprint!("{question}");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    match std::io::stdin().lock().read_line(&mut line) {
        Ok(0) => Err(AgentError::Usage("no answer (stdin ended)".into())),
        Ok(_) => Ok(line.trim_end_matches(['\r', '\n']).to_owned()),
        Err(e) => Err(AgentError::Usage(format!("reading stdin: {e}"))),
    }
}
