//! The agent's side of the control plane: the control connection (`client`), the reconnect
//! backoff, and the commands built on them — a Host's enrollment and run loop (`host`), a
//! Guest's login, device list and sessions (`guest`), and OnDemand (`ondemand`).
//!
//! User-facing lines go through a `Printer` (stdout in the binary, a capture in tests); logs go
//! through `tracing`. The end-to-end session itself is `crate::session`'s job.

pub mod backoff;
pub mod client;
pub mod guest;
pub mod host;
pub mod ondemand;

use std::sync::Arc;

pub use client::{ControlClient, ControlSender, Endpoint, Incoming, Outcome, Transport};

/// Where user-facing lines go.
pub type Printer = Arc<dyn Fn(&str) + Send + Sync>;

/// A printer writing lines to stdout.
pub fn stdout_printer() -> Printer {
    Arc::new(|line: &str| {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    })
}

/// The permission names of a set, comma separated (`none` when empty).
pub fn permission_names(set: switchboard_codec::PermissionSet) -> String {
    let names: Vec<&str> = set
        .iter()
        .map(switchboard_codec::Permission::name)
        .collect();
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

/// Facts about this machine for enrollment and OnDemand join.
pub fn device_info(hostname: Option<&str>) -> switchboard_codec::message::DeviceInfo {
    let hostname = hostname.map_or_else(local_hostname, str::to_owned);
    let mut os = std::env::consts::OS.to_owned();
    if let Ok(text) = std::fs::read_to_string("/etc/os-release")
        && let Some(pretty) = text.lines().find_map(|l| l.strip_prefix("PRETTY_NAME="))
    {
        os = format!("{os} ({})", pretty.trim().trim_matches('"'));
    }
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_default();
    switchboard_codec::message::DeviceInfo {
        hostname: truncate(&hostname, switchboard_codec::message::MAX_HOSTNAME_LEN),
        os: truncate(&os, switchboard_codec::message::MAX_OS_LEN),
        agent_version: truncate(
            client::AGENT_VERSION,
            switchboard_codec::message::MAX_VERSION_LEN,
        ),
        logged_in_user: truncate(&user, switchboard_codec::message::MAX_USERNAME_LEN),
    }
}

fn truncate(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

/// This machine's host name (`/etc/hostname`, else `hostname`, else `unknown`).
pub fn local_hostname() -> String {
    if let Ok(h) = std::fs::read_to_string("/etc/hostname") {
        let h = h.trim();
        if !h.is_empty() {
            return h.to_owned();
        }
    }
    std::process::Command::new("hostname")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_facts_fit_their_caps() {
        let long = "h".repeat(400);
        let d = device_info(Some(&long));
        assert_eq!(d.hostname.len(), 255);
        assert!(d.os.starts_with(std::env::consts::OS));
        assert!(d.agent_version.starts_with("switchboard-agent/"));
        assert_eq!(truncate("héllo", 2), "h");
    }

    #[test]
    fn permission_list() {
        use switchboard_codec::{Permission, PermissionSet};
        assert_eq!(permission_names(PermissionSet::EMPTY), "none");
        let s: PermissionSet = [Permission::RemoteSession, Permission::Tunnel]
            .into_iter()
            .collect();
        assert_eq!(permission_names(s), "remote_session, tunnel");
    }
}
