//! The agent's state files: `host.json` (an enrolled device's identity and keys) and
//! `guest.json` (a technician's login), JSON in a private directory.
//!
//! Files are created 0600 in a 0700 directory and replaced atomically (a temp file in the same
//! directory, fsync, rename). A state file that group or others may read is refused with a
//! sentence saying how to fix it, since it holds private keys or a bearer token. This module
//! does not decide what goes into the files beyond their fields; it never prints a secret.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use switchboard_codec::DeviceId;
use switchboard_codec::noise::StaticKeypair;

use crate::error::AgentError;

/// The host state file name.
pub const HOST_FILE: &str = "host.json";
/// The guest state file name.
pub const GUEST_FILE: &str = "guest.json";

/// An enrolled device, as `host enroll` leaves it.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct HostState {
    /// The broker's control address `host:port`.
    pub server: String,
    /// SHA-256 fingerprint of the broker's certificate (lowercase hex).
    pub fingerprint: String,
    /// The device id.
    pub device_id: String,
    /// The credential from enrollment (hex).
    pub credential: String,
    /// `Enrolled` or `Pending` at enrollment time.
    pub enroll_state: String,
    /// The ed25519 device secret (hex, 32 bytes).
    pub signing_key: String,
    /// The X25519 static private key (hex, 32 bytes).
    pub static_private: String,
}

impl std::fmt::Debug for HostState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostState")
            .field("server", &self.server)
            .field("device_id", &self.device_id)
            .field("enroll_state", &self.enroll_state)
            .finish_non_exhaustive()
    }
}

fn bad(path: &Path, message: impl std::fmt::Display) -> AgentError {
    AgentError::State {
        path: path.display().to_string(),
        message: message.to_string(),
    }
}

fn key32(path: &Path, field: &str, text: &str) -> Result<[u8; 32], AgentError> {
    let v = hex::decode(text).map_err(|e| bad(path, format!("{field}: {e}")))?;
    <[u8; 32]>::try_from(v.as_slice()).map_err(|_| bad(path, format!("{field}: not 32 bytes")))
}

impl HostState {
    /// The device id.
    pub fn device_id(&self) -> Result<DeviceId, AgentError> {
        self.device_id
            .parse()
            .map_err(|e| bad(Path::new(HOST_FILE), format!("device_id: {e}")))
    }

    /// The credential bytes.
    pub fn credential(&self) -> Result<bytes::Bytes, AgentError> {
        hex::decode(&self.credential)
            .map(bytes::Bytes::from)
            .map_err(|e| bad(Path::new(HOST_FILE), format!("credential: {e}")))
    }

    /// The ed25519 device secret.
    pub fn signing_key(&self) -> Result<[u8; 32], AgentError> {
        key32(Path::new(HOST_FILE), "signing_key", &self.signing_key)
    }

    /// The X25519 static key pair.
    pub fn static_keypair(&self) -> Result<StaticKeypair, AgentError> {
        let private = key32(Path::new(HOST_FILE), "static_private", &self.static_private)?;
        StaticKeypair::from_private(&private)
            .map_err(|e| bad(Path::new(HOST_FILE), format!("static_private: {e}")))
    }
}

/// A technician's login, as `guest login` leaves it.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct GuestState {
    /// The broker's control address `host:port`.
    pub server: String,
    /// The admin API URL (`http://...` or `https://...`).
    pub admin: String,
    /// SHA-256 fingerprint of the broker's certificate (lowercase hex).
    pub fingerprint: String,
    /// The bearer token.
    pub token: String,
    /// The user name logged in.
    pub user: String,
}

impl std::fmt::Debug for GuestState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuestState")
            .field("server", &self.server)
            .field("admin", &self.admin)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// The state directory.
#[derive(Debug, Clone)]
pub struct StateDir {
    dir: PathBuf,
}

impl StateDir {
    /// The directory at `dir` (not created until a file is written).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// `$SWITCHBOARD_AGENT_STATE`, else `$XDG_STATE_HOME/switchboard-agent`, else
    /// `~/.local/state/switchboard-agent`.
    pub fn default_path(env: &dyn Fn(&str) -> Option<String>) -> Result<PathBuf, AgentError> {
        let set = |k: &str| env(k).filter(|v| !v.is_empty());
        if let Some(p) = set("SWITCHBOARD_AGENT_STATE") {
            return Ok(PathBuf::from(p));
        }
        if let Some(p) = set("XDG_STATE_HOME") {
            return Ok(PathBuf::from(p).join("switchboard-agent"));
        }
        if let Some(h) = set("HOME") {
            return Ok(PathBuf::from(h).join(".local/state/switchboard-agent"));
        }
        Err(AgentError::Usage(
            "no state directory: pass --state DIR or set SWITCHBOARD_AGENT_STATE".into(),
        ))
    }

    /// The directory path.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Reads `host.json`.
    pub fn load_host(&self) -> Result<HostState, AgentError> {
        self.load(
            HOST_FILE,
            "no host state: run `switchboard-agent host enroll` first",
        )
    }

    /// Writes `host.json`.
    pub fn save_host(&self, s: &HostState) -> Result<(), AgentError> {
        self.save(HOST_FILE, s)
    }

    /// Reads `guest.json`.
    pub fn load_guest(&self) -> Result<GuestState, AgentError> {
        self.load(
            GUEST_FILE,
            "not logged in: run `switchboard-agent guest login` first",
        )
    }

    /// Writes `guest.json`.
    pub fn save_guest(&self, s: &GuestState) -> Result<(), AgentError> {
        self.save(GUEST_FILE, s)
    }

    fn load<T: DeserializeOwned>(&self, name: &str, missing: &str) -> Result<T, AgentError> {
        let path = self.dir.join(name);
        let meta = match fs::metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(bad(&path, missing));
            }
            Err(e) => return Err(bad(&path, e)),
        };
        check_private_file(&path, meta.mode())?;
        let text = fs::read_to_string(&path).map_err(|e| bad(&path, e))?;
        serde_json::from_str(&text).map_err(|e| bad(&path, format!("not valid state JSON: {e}")))
    }

    fn save<T: Serialize>(&self, name: &str, value: &T) -> Result<(), AgentError> {
        self.ensure_dir()?;
        let path = self.dir.join(name);
        let text = serde_json::to_string_pretty(value).map_err(|e| bad(&path, e))?;
        write_atomic(&path, text.as_bytes())
    }

    fn ensure_dir(&self) -> Result<(), AgentError> {
        match fs::metadata(&self.dir) {
            Ok(m) if !m.is_dir() => Err(bad(&self.dir, "exists and is not a directory")),
            Ok(m) if m.mode() & 0o022 != 0 => Err(bad(
                &self.dir,
                format!(
                    "the state directory is writable by others (mode {:o}); run `chmod 700 {}`",
                    m.mode() & 0o777,
                    self.dir.display()
                ),
            )),
            Ok(_) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&self.dir)
                .map_err(|e| bad(&self.dir, e)),
            Err(e) => Err(bad(&self.dir, e)),
        }
    }
}

/// Refuses a state file group or others may access.
pub fn check_private_file(path: &Path, mode: u32) -> Result<(), AgentError> {
    if mode & 0o077 != 0 {
        return Err(bad(
            path,
            format!(
                "the state file is accessible by other users (mode {:o}); it holds secrets, \
                 run `chmod 600 {}`",
                mode & 0o777,
                path.display()
            ),
        ));
    }
    Ok(())
}

/// Writes `bytes` to `path` through a 0600 temp file in the same directory and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), AgentError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("state");
    let mut nonce = [0u8; 6];
    getrandom::fill(&mut nonce).map_err(|e| bad(path, format!("random: {e}")))?;
    let tmp = dir.join(format!(".{name}.{}.tmp", hex::encode(nonce)));
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok::<_, std::io::Error>(())
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(bad(path, e));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn guest() -> GuestState {
        GuestState {
            server: "127.0.0.1:7443".into(),
            admin: "http://127.0.0.1:8080".into(),
            fingerprint: "ab".into(),
            token: "secret-token".into(),
            user: "tech".into(),
        }
    }

    #[test]
    fn files_are_private_and_round_trip() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = StateDir::new(tmp.path().join("a/b"));
        dir.save_guest(&guest()).unwrap();
        let dmode = fs::metadata(dir.path()).unwrap().mode() & 0o777;
        let fmode = fs::metadata(dir.path().join(GUEST_FILE)).unwrap().mode() & 0o777;
        assert_eq!((dmode, fmode), (0o700, 0o600));
        assert_eq!(dir.load_guest().unwrap(), guest());
        // Overwrite keeps 0600 and leaves no temp file behind.
        let mut g = guest();
        g.user = "other".into();
        dir.save_guest(&g).unwrap();
        assert_eq!(dir.load_guest().unwrap().user, "other");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, vec![GUEST_FILE.to_owned()]);
    }

    #[test]
    fn world_readable_state_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = StateDir::new(tmp.path());
        dir.save_guest(&guest()).unwrap();
        let p = tmp.path().join(GUEST_FILE);
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        let e = dir.load_guest().unwrap_err().to_string();
        assert!(
            e.contains("accessible by other users") && e.contains("chmod 600"),
            "{e}"
        );
    }

    #[test]
    fn missing_state_says_what_to_run() {
        let tmp = tempfile::tempdir().unwrap();
        let e = StateDir::new(tmp.path())
            .load_host()
            .unwrap_err()
            .to_string();
        assert!(e.contains("host enroll"), "{e}");
    }

    #[test]
    fn a_failed_write_leaves_the_old_file() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("x.json");
        write_atomic(&p, b"old").unwrap();
        // A directory in the way of the rename makes the write fail.
        let blocked = tmp.path().join("dir.json");
        fs::create_dir(&blocked).unwrap();
        fs::write(blocked.join("f"), b"x").unwrap();
        assert!(write_atomic(&blocked, b"new").is_err());
        assert_eq!(fs::read(&p).unwrap(), b"old");
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 2);
    }

    #[test]
    fn default_path_order() {
        let env = |k: &str| match k {
            "XDG_STATE_HOME" => Some("/x".to_owned()),
            "HOME" => Some("/h".to_owned()),
            _ => None,
        };
        assert_eq!(
            StateDir::default_path(&env).unwrap(),
            PathBuf::from("/x/switchboard-agent")
        );
        let env = |k: &str| (k == "HOME").then(|| "/h".to_owned());
        assert_eq!(
            StateDir::default_path(&env).unwrap(),
            PathBuf::from("/h/.local/state/switchboard-agent")
        );
        let env = |k: &str| (k == "SWITCHBOARD_AGENT_STATE").then(|| "/s".to_owned());
        assert_eq!(StateDir::default_path(&env).unwrap(), PathBuf::from("/s"));
    }
}
