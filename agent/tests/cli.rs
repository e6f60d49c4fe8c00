//! The real `switchboard-agent` binary: help, bad arguments (a clear error and a non-zero
//! exit), and refusing a state file other users can read.

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output};

fn agent(args: &[&str]) -> std::io::Result<Output> {
    Command::new(env!("CARGO_BIN_EXE_switchboard-agent"))
        .args(args)
        .env_remove("SWITCHBOARD_AGENT_STATE")
        .output()
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn help_lists_the_commands() {
    let o = agent(&["--help"]).unwrap();
    let (out, _) = text(&o);
    assert!(o.status.success());
    for c in ["host", "guest", "ondemand", "--state", "--log-format"] {
        assert!(out.contains(c), "{c} missing from help:\n{out}");
    }
    let o = agent(&["guest", "connect", "--help"]).unwrap();
    let (out, _) = text(&o);
    assert!(o.status.success() && out.contains("LOCAL=TARGET"), "{out}");
}

#[test]
fn bad_arguments_are_refused_clearly() {
    let cases: &[(&[&str], &str)] = &[
        (&["host", "run", "--allow", "no-port"], "HOST:PORT"),
        (
            &["guest", "connect", "web-1", "--tunnel", "2222"],
            "LOCAL=TARGET",
        ),
        (&["guest", "connect", "web-1"], "--tunnel"),
        (
            &[
                "ondemand",
                "join",
                "12",
                "--server",
                "h:1",
                "--fingerprint",
                "ab",
            ],
            "nine digits",
        ),
        (&["host", "enroll", "--server", "h:1"], "--key"),
        (&["frobnicate"], "frobnicate"),
    ];
    for (args, hint) in cases {
        let o = agent(args).unwrap();
        let (_, err) = text(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(hint), "{args:?}: no {hint:?} in {err}");
    }
}

#[test]
fn a_world_readable_state_file_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    std::fs::create_dir(&state).unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).unwrap();
    let file = state.join("guest.json");
    std::fs::write(
        &file,
        r#"{"server":"127.0.0.1:1","admin":"http://127.0.0.1:1","fingerprint":"ab","token":"t","user":"u"}"#,
    )
    .unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = agent(&["--state", state.to_str().unwrap(), "guest", "devices"]).unwrap();
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.starts_with("error: ") && err.contains("chmod 600"),
        "{err}"
    );

    // Once private, the same file is read (and the closed admin port is the next problem).
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let o = agent(&["--state", state.to_str().unwrap(), "guest", "devices"]).unwrap();
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        !err.contains("chmod") && err.contains("127.0.0.1:1"),
        "{err}"
    );
}

#[test]
fn commands_without_state_say_what_to_run() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_str().unwrap();
    let o = agent(&["--state", dir, "host", "run"]).unwrap();
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("host enroll"), "{err}");
    let o = agent(&[
        "--state",
        dir,
        "guest",
        "connect",
        "web-1",
        "--tunnel",
        "0=127.0.0.1:22",
    ])
    .unwrap();
    let (_, err) = text(&o);
    assert!(err.contains("guest login"), "{err}");
}

#[test]
fn an_unreachable_broker_is_an_error_not_a_hang() {
    let tmp = tempfile::tempdir().unwrap();
    let port = switchboard_tests::free_tcp_port().unwrap();
    let server = format!("127.0.0.1:{port}");
    let o = agent(&[
        "--state",
        tmp.path().to_str().unwrap(),
        "host",
        "enroll",
        "--server",
        &server,
        "--key",
        "k",
        "--fingerprint",
        "ab",
    ])
    .unwrap();
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.starts_with("error: ") && err.contains(&server), "{err}");
    assert!(!tmp.path().join("host.json").exists());
}
