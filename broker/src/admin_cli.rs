//! `switchboard admin`: a thin command-line client of the admin API.
//!
//! `login` stores the bearer token (with the server address) in a file with mode 0600
//! (`--token-file`, default `$HOME/.switchboard/admin-token`); every other command sends it and
//! prints the JSON answer (CSV for `audit --csv`). The password comes from `--password-stdin`,
//! `SWITCHBOARD_PASSWORD`, or a line typed on stdin (echoed: no terminal handling here).
//! `raw METHOD PATH [JSON]` reaches any endpoint. An error answer prints its message and makes
//! the command fail.

use std::io::BufRead as _;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::error::BrokerError;
use switchboard_agent::http::{HttpClient, HttpResponse};

/// `switchboard admin ...`.
#[derive(Debug, Args)]
pub struct AdminArgs {
    /// Admin API address.
    #[arg(
        long,
        env = "SWITCHBOARD_SERVER",
        default_value = "http://127.0.0.1:8080"
    )]
    pub server: String,
    /// SHA-256 fingerprint of the server certificate (https).
    #[arg(long, env = "SWITCHBOARD_FINGERPRINT")]
    pub fingerprint: Option<String>,
    /// Where the token is kept.
    #[arg(long, env = "SWITCHBOARD_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: AdminCommand,
}

/// The admin commands.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Log in and store the token.
    Login {
        /// Username.
        #[arg(long)]
        user: String,
        /// Tenant id or name (default: the user's primary account).
        #[arg(long)]
        tenant: Option<String>,
        /// Read the password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
        /// TOTP code (asked for on stdin when needed and absent).
        #[arg(long)]
        code: Option<String>,
        /// A recovery code instead of a TOTP code.
        #[arg(long)]
        recovery_code: Option<String>,
    },
    /// End the stored token.
    Logout,
    /// Who am I.
    Me,
    /// The tenant.
    Tenant,
    /// Users.
    Users {
        #[command(subcommand)]
        op: UsersOp,
    },
    /// User groups.
    Groups {
        #[command(subcommand)]
        op: GroupsOp,
    },
    /// Device groups.
    DeviceGroups {
        #[command(subcommand)]
        op: GroupsOp,
    },
    /// Roles.
    Roles {
        #[command(subcommand)]
        op: JsonResourceOp,
    },
    /// Role assignments.
    Assignments {
        #[command(subcommand)]
        op: JsonResourceOp,
    },
    /// Deployment packages.
    Packages {
        #[command(subcommand)]
        op: PackagesOp,
    },
    /// Devices.
    Devices {
        #[command(subcommand)]
        op: DevicesOp,
    },
    /// OnDemand keys: `create` or `list`.
    Ondemand {
        /// `create` or `list`.
        op: String,
    },
    /// Check permissions of a user on a device.
    Check {
        /// User id.
        #[arg(long)]
        user: String,
        /// Device id.
        #[arg(long)]
        device: String,
        /// Instant (RFC 3339).
        #[arg(long)]
        at: Option<String>,
    },
    /// Active sessions.
    Sessions,
    /// The audit log.
    Audit {
        /// From (RFC 3339).
        #[arg(long)]
        from: Option<String>,
        /// To (RFC 3339).
        #[arg(long)]
        to: Option<String>,
        /// Actor user id.
        #[arg(long)]
        user: Option<String>,
        /// Device id.
        #[arg(long)]
        device: Option<String>,
        /// Kind (SignIn, User, Role, ...).
        #[arg(long)]
        kind: Option<String>,
        /// CSV report.
        #[arg(long)]
        csv: bool,
    },
    /// Any endpoint: METHOD PATH [JSON].
    Raw {
        /// GET, POST, PUT, PATCH, DELETE.
        method: String,
        /// Path, e.g. /api/v1/users.
        path: String,
        /// JSON body.
        body: Option<String>,
    },
}

/// Users operations.
#[derive(Debug, Subcommand)]
pub enum UsersOp {
    /// List.
    List,
    /// Show one.
    Show {
        /// Id.
        id: String,
    },
    /// Create (with --password) or invite.
    Create {
        /// Username.
        #[arg(long)]
        username: String,
        /// Password (read from stdin with `-`).
        #[arg(long)]
        password: Option<String>,
        /// User, GroupManager, AccountAdministrator.
        #[arg(long = "type")]
        user_type: Option<String>,
        /// Email.
        #[arg(long, default_value = "")]
        email: String,
    },
    /// Disable.
    Disable {
        /// Id.
        id: String,
    },
    /// Enable.
    Enable {
        /// Id.
        id: String,
    },
    /// Remove.
    Remove {
        /// Id.
        id: String,
    },
}

/// Group operations.
#[derive(Debug, Subcommand)]
pub enum GroupsOp {
    /// List.
    List,
    /// Show one with members.
    Show {
        /// Id.
        id: String,
    },
    /// Create.
    Create {
        /// Name.
        name: String,
        /// Description.
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Delete.
    Delete {
        /// Id.
        id: String,
    },
    /// Add members.
    Add {
        /// Group id.
        id: String,
        /// Member ids.
        members: Vec<String>,
    },
    /// Remove members.
    Remove {
        /// Group id.
        id: String,
        /// Member ids.
        members: Vec<String>,
    },
}

/// Operations on resources whose bodies are given as JSON.
#[derive(Debug, Subcommand)]
pub enum JsonResourceOp {
    /// List.
    List,
    /// Show one.
    Show {
        /// Id.
        id: String,
    },
    /// Create from a JSON body.
    Create {
        /// JSON body.
        json: String,
    },
    /// Delete.
    Delete {
        /// Id.
        id: String,
    },
    /// Copy (roles only).
    Copy {
        /// Id.
        id: String,
        /// Name of the copy.
        #[arg(long)]
        name: Option<String>,
    },
}

/// Package operations.
#[derive(Debug, Subcommand)]
pub enum PackagesOp {
    /// List.
    List,
    /// Create (the enrollment key is printed once).
    Create {
        /// Name.
        #[arg(long)]
        name: String,
        /// New devices wait for approval.
        #[arg(long)]
        pending: bool,
        /// Device limit.
        #[arg(long)]
        device_limit: Option<u32>,
        /// Target device group id.
        #[arg(long)]
        target_group: Option<String>,
    },
    /// Revoke (cuts off every device of the package).
    Revoke {
        /// Id.
        id: String,
    },
    /// Remove.
    Remove {
        /// Id.
        id: String,
    },
}

/// Device operations.
#[derive(Debug, Subcommand)]
pub enum DevicesOp {
    /// List.
    List,
    /// Show one.
    Show {
        /// Id.
        id: String,
    },
    /// Approve a pending device.
    Approve {
        /// Id.
        id: String,
    },
    /// Remove.
    Remove {
        /// Id.
        id: String,
    },
}

fn err(m: impl std::fmt::Display) -> BrokerError {
    BrokerError::Client(m.to_string())
}

fn token_path(args: &AdminArgs) -> Result<PathBuf, BrokerError> {
    if let Some(p) = &args.token_file {
        return Ok(p.clone());
    }
    let home = std::env::var_os("HOME").ok_or_else(|| err("HOME is not set; give --token-file"))?;
    Ok(PathBuf::from(home).join(".switchboard").join("admin-token"))
}

fn save_token(path: &std::path::Path, server: &str, token: &str) -> Result<(), BrokerError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).map_err(|e| BrokerError::file(d, e))?;
    }
    let _ = std::fs::remove_file(path);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| BrokerError::file(path, e))?;
    let text = json!({"server": server, "token": token}).to_string();
    f.write_all(text.as_bytes())
        .map_err(|e| BrokerError::file(path, e))
}

fn load_token(path: &std::path::Path) -> Result<String, BrokerError> {
    let text = std::fs::read_to_string(path).map_err(|_| {
        err(format!(
            "not logged in (no {}); run `switchboard admin login`",
            path.display()
        ))
    })?;
    let v: Value = serde_json::from_str(&text).map_err(err)?;
    v["token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| err("token file without a token"))
}

fn read_line(prompt: &str) -> Result<String, BrokerError> {
    eprint!("{prompt}");
    let mut s = String::new();
    std::io::stdin().lock().read_line(&mut s).map_err(err)?;
    Ok(s.trim_end_matches(['\r', '\n']).to_owned())
}

fn print(r: &HttpResponse) -> Result<(), BrokerError> {
    let v = r.json();
    if r.status >= 400 {
        let msg = v["message"].as_str().unwrap_or(&r.body);
        let code = v["code"].as_str().unwrap_or("error");
        return Err(err(format!("{} {code}: {msg}", r.status)));
    }
    if v.is_null() {
        println!("{}", r.body);
    } else {
        println!(
            "{}",
            serde_json::to_string_pretty(&v).unwrap_or_else(|_| r.body.clone())
        );
    }
    Ok(())
}

fn query(pairs: &[(&str, &Option<String>)]) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect::<String>()
    };
    let parts: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", enc(v))))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

/// Runs one admin command.
pub async fn run(args: AdminArgs) -> Result<(), BrokerError> {
    let client = HttpClient::new(&args.server, args.fingerprint.clone())?;
    let path = token_path(&args)?;
    if let AdminCommand::Login {
        user,
        tenant,
        password_stdin,
        code,
        recovery_code,
    } = &args.command
    {
        let password = if *password_stdin {
            read_line("")?
        } else if let Ok(p) = std::env::var("SWITCHBOARD_PASSWORD") {
            p
        } else {
            read_line("password (echoed): ")?
        };
        let r = client
            .request(
                "POST",
                "/api/v1/login",
                None,
                Some(&json!({"tenant": tenant, "username": user, "password": password})),
            )
            .await?;
        let mut v = r.json();
        if r.status >= 400 {
            return print(&r);
        }
        if v["status"] == "mfa_required" {
            let body = match (code, recovery_code) {
                (_, Some(rc)) => json!({"ticket": v["ticket"], "recovery_code": rc}),
                (Some(c), None) => json!({"ticket": v["ticket"], "code": c}),
                (None, None) => json!({"ticket": v["ticket"], "code": read_line("TOTP code: ")?}),
            };
            let r2 = client
                .request("POST", "/api/v1/login/mfa", None, Some(&body))
                .await?;
            if r2.status >= 400 {
                return print(&r2);
            }
            v = r2.json();
        }
        let token = v["token"]
            .as_str()
            .ok_or_else(|| err("no token in the answer"))?;
        save_token(&path, &args.server, token)?;
        println!(
            "logged in ({}); token saved in {}",
            v["status"].as_str().unwrap_or("ok"),
            path.display()
        );
        return Ok(());
    }
    let token = load_token(&path)?;
    let t = Some(token.as_str());
    let (method, url, body): (&str, String, Option<Value>) = match args.command {
        AdminCommand::Login { .. } => return Ok(()),
        AdminCommand::Logout => {
            let r = client.request("POST", "/api/v1/logout", t, None).await?;
            let _ = std::fs::remove_file(&path);
            return print(&r);
        }
        AdminCommand::Me => ("GET", "/api/v1/me".into(), None),
        AdminCommand::Tenant => ("GET", "/api/v1/tenant".into(), None),
        AdminCommand::Users { op } => match op {
            UsersOp::List => ("GET", "/api/v1/users".into(), None),
            UsersOp::Show { id } => ("GET", format!("/api/v1/users/{id}"), None),
            UsersOp::Create {
                username,
                password,
                user_type,
                email,
            } => {
                let password = match password.as_deref() {
                    Some("-") => Some(read_line("")?),
                    other => other.map(str::to_owned),
                };
                let mut b = json!({"username": username, "email": email, "password": password});
                if let Some(ty) = user_type {
                    b["type"] = json!(ty);
                }
                ("POST", "/api/v1/users".into(), Some(b))
            }
            UsersOp::Disable { id } => ("POST", format!("/api/v1/users/{id}/disable"), None),
            UsersOp::Enable { id } => ("POST", format!("/api/v1/users/{id}/enable"), None),
            UsersOp::Remove { id } => ("DELETE", format!("/api/v1/users/{id}"), None),
        },
        AdminCommand::Groups { op } => groups_request("user-groups", "users", op),
        AdminCommand::DeviceGroups { op } => groups_request("device-groups", "devices", op),
        AdminCommand::Roles { op } => json_request("roles", op)?,
        AdminCommand::Assignments { op } => json_request("assignments", op)?,
        AdminCommand::Packages { op } => match op {
            PackagesOp::List => ("GET", "/api/v1/packages".into(), None),
            PackagesOp::Create {
                name,
                pending,
                device_limit,
                target_group,
            } => (
                "POST",
                "/api/v1/packages".into(),
                Some(
                    json!({"name": name, "pending": pending, "device_limit": device_limit, "target_group": target_group}),
                ),
            ),
            PackagesOp::Revoke { id } => (
                "POST",
                format!("/api/v1/packages/{id}/revoke"),
                Some(json!({"confirm": "revoke"})),
            ),
            PackagesOp::Remove { id } => ("DELETE", format!("/api/v1/packages/{id}"), None),
        },
        AdminCommand::Devices { op } => match op {
            DevicesOp::List => ("GET", "/api/v1/devices".into(), None),
            DevicesOp::Show { id } => ("GET", format!("/api/v1/devices/{id}"), None),
            DevicesOp::Approve { id } => ("POST", format!("/api/v1/devices/{id}/approve"), None),
            DevicesOp::Remove { id } => ("DELETE", format!("/api/v1/devices/{id}"), None),
        },
        AdminCommand::Ondemand { op } => match op.as_str() {
            "create" => ("POST", "/api/v1/ondemand".into(), None),
            "list" => ("GET", "/api/v1/ondemand".into(), None),
            other => {
                return Err(err(format!(
                    "ondemand: {other:?} is neither create nor list"
                )));
            }
        },
        AdminCommand::Check { user, device, at } => (
            "GET",
            format!(
                "/api/v1/check{}",
                query(&[
                    ("user", &Some(user)),
                    ("device", &Some(device)),
                    ("at", &at)
                ])
            ),
            None,
        ),
        AdminCommand::Sessions => ("GET", "/api/v1/sessions".into(), None),
        AdminCommand::Audit {
            from,
            to,
            user,
            device,
            kind,
            csv,
        } => {
            let format = csv.then(|| "csv".to_owned());
            (
                "GET",
                format!(
                    "/api/v1/audit{}",
                    query(&[
                        ("from", &from),
                        ("to", &to),
                        ("user", &user),
                        ("device", &device),
                        ("kind", &kind),
                        ("format", &format)
                    ])
                ),
                None,
            )
        }
        AdminCommand::Raw { method, path, body } => {
            let body = match body {
                Some(b) => Some(serde_json::from_str(&b).map_err(|e| err(format!("body: {e}")))?),
                None => None,
            };
            let m: &'static str = match method.to_ascii_uppercase().as_str() {
                "GET" => "GET",
                "POST" => "POST",
                "PUT" => "PUT",
                "PATCH" => "PATCH",
                "DELETE" => "DELETE",
                other => return Err(err(format!("method {other:?}"))),
            };
            (m, path, body)
        }
    };
    let r = client.request(method, &url, t, body.as_ref()).await?;
    print(&r)
}

fn groups_request(
    kind: &str,
    members: &str,
    op: GroupsOp,
) -> (&'static str, String, Option<Value>) {
    match op {
        GroupsOp::List => ("GET", format!("/api/v1/{kind}"), None),
        GroupsOp::Show { id } => ("GET", format!("/api/v1/{kind}/{id}"), None),
        GroupsOp::Create { name, description } => (
            "POST",
            format!("/api/v1/{kind}"),
            Some(json!({"name": name, "description": description})),
        ),
        GroupsOp::Delete { id } => ("DELETE", format!("/api/v1/{kind}/{id}"), None),
        GroupsOp::Add { id, members: m } => (
            "POST",
            format!("/api/v1/{kind}/{id}/members"),
            Some(json!({ members: m })),
        ),
        GroupsOp::Remove { id, members: m } => (
            "POST",
            format!("/api/v1/{kind}/{id}/members/remove"),
            Some(json!({ members: m })),
        ),
    }
}

fn json_request(
    kind: &str,
    op: JsonResourceOp,
) -> Result<(&'static str, String, Option<Value>), BrokerError> {
    Ok(match op {
        JsonResourceOp::List => ("GET", format!("/api/v1/{kind}"), None),
        JsonResourceOp::Show { id } => ("GET", format!("/api/v1/{kind}/{id}"), None),
        JsonResourceOp::Create { json } => (
            "POST",
            format!("/api/v1/{kind}"),
            Some(serde_json::from_str(&json).map_err(|e| err(format!("json: {e}")))?),
        ),
        JsonResourceOp::Delete { id } => ("DELETE", format!("/api/v1/{kind}/{id}"), None),
        JsonResourceOp::Copy { id, name } => (
            "POST",
            format!("/api/v1/{kind}/{id}/copy"),
            Some(json!({ "name": name })),
        ),
    })
}
