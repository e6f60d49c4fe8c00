//! [`AllowList`]: the `host:port` targets a Host lets tunnels reach.
//!
//! Matching is exact on the host (case-insensitive, IPv6 with or without brackets) and the
//! port; there are no wildcards and no DNS resolution here (a name matches only itself). It
//! does not check permissions: that is the session's `granted` set.

use std::fmt;
use std::str::FromStr;

use crate::error::AgentError;

/// One allowed target, `host:port`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AllowEntry {
    host: String,
    port: u16,
}

impl AllowEntry {
    /// The host part, lower-case, IPv6 without brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl fmt::Display for AllowEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Splits `host:port` (IPv6 as `[addr]:port`) into a normalized host and a port.
pub(crate) fn split_target(target: &str) -> Result<(String, u16), &'static str> {
    let target = target.trim();
    let (host, port) = target
        .rsplit_once(':')
        .ok_or("expected host:port (e.g. 127.0.0.1:22)")?;
    let host = match host.strip_prefix('[') {
        Some(rest) => rest
            .strip_suffix(']')
            .ok_or("an IPv6 address must be written [addr]:port")?,
        None if host.contains(':') => return Err("an IPv6 address must be written [addr]:port"),
        None => host,
    };
    if host.is_empty() {
        return Err("the host is empty");
    }
    if host
        .chars()
        .any(|c| c.is_whitespace() || c == '/' || c == '@')
    {
        return Err("the host contains an invalid character");
    }
    let port: u16 = port
        .parse()
        .map_err(|_| "the port is not a number 1-65535")?;
    if port == 0 {
        return Err("the port is not a number 1-65535");
    }
    Ok((host.to_ascii_lowercase(), port))
}

impl FromStr for AllowEntry {
    type Err = AgentError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (host, port) = split_target(s).map_err(|why| AgentError::AllowEntry {
            entry: s.to_owned(),
            why,
        })?;
        Ok(Self { host, port })
    }
}

/// The targets a Host lets tunnels reach. Empty = nothing is allowed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowList {
    entries: Vec<AllowEntry>,
}

impl AllowList {
    /// An empty list (allows nothing).
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses every entry (`host:port`); the first invalid one is the error.
    pub fn parse_entries<'a>(
        entries: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, AgentError> {
        let mut list = Self::new();
        for entry in entries {
            list.push(entry.parse()?);
        }
        Ok(list)
    }

    /// Adds an entry (duplicates are ignored).
    pub fn push(&mut self, entry: AllowEntry) {
        if !self.entries.contains(&entry) {
            self.entries.push(entry);
        }
    }

    /// The entries, in insertion order.
    pub fn entries(&self) -> &[AllowEntry] {
        &self.entries
    }

    /// Whether no target is allowed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether `target` (`host:port`) is allowed. A malformed target is not.
    pub fn allows(&self, target: &str) -> bool {
        match split_target(target) {
            Ok((host, port)) => self
                .entries
                .iter()
                .any(|e| e.host == host && e.port == port),
            Err(_) => false,
        }
    }
}

/// A comma-separated list, e.g. `127.0.0.1:22,localhost:5900`.
impl FromStr for AllowList {
    type Err = AgentError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse_entries(s.split(',').map(str::trim).filter(|e| !e.is_empty()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_match_only() {
        let list: AllowList = "127.0.0.1:22, LocalHost:5900,[::1]:80".parse().unwrap();
        assert!(list.allows("127.0.0.1:22"));
        assert!(list.allows("localhost:5900"));
        assert!(list.allows("[::1]:80"));
        assert!(!list.allows("127.0.0.1:23"));
        assert!(!list.allows("127.0.0.2:22"));
        assert!(
            !list.allows("::1:80"),
            "unbracketed IPv6 is malformed, not allowed"
        );
        assert!(!list.allows("127.0.0.1"));
        assert!(!list.allows(""));
        assert_eq!(list.entries().len(), 3);
        assert_eq!(list.entries()[2].to_string(), "[::1]:80");
    }

    #[test]
    fn empty_list_allows_nothing() {
        assert!(!AllowList::new().allows("127.0.0.1:22"));
        assert!("".parse::<AllowList>().unwrap().is_empty());
    }

    #[test]
    fn bad_entries_are_refused_with_a_reason() {
        for bad in [
            "127.0.0.1",
            "127.0.0.1:0",
            "127.0.0.1:70000",
            ":22",
            "a b:22",
            "::1:22",
        ] {
            let err = bad.parse::<AllowEntry>().unwrap_err();
            assert!(
                err.to_string().contains("invalid allow-list entry"),
                "{bad}: {err}"
            );
        }
    }
}
