//! The `switchboard` binary: `--check-config` and the admin CLI.

use crate::{Backend, OWNER_PW, server};

/// The `switchboard` binary: `serve --check-config` names an unknown key and fails;
/// `admin login --password-stdin` stores a 0600 token file that `admin users list` uses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_check_config_and_admin_cli() {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    use std::process::{Command, Stdio};
    let bin = env!("CARGO_BIN_EXE_switchboard");
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[admin]\nlisten = \"127.0.0.1:0\"\ntoken_tll = \"1h\"\n",
    )
    .unwrap();
    let out = Command::new(bin)
        .args(["serve", "--check-config", "--config"])
        .arg(&bad)
        .env_remove("RUST_BACKTRACE")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("token_tll"));

    let s = server(Backend::Redb).await;
    let token_file = tmp.path().join("token");
    let server_url = format!("http://{}", s.started.admin.addr);
    let tf = token_file.clone();
    let admin = move |args: &[&str]| {
        let mut c = Command::new(bin);
        c.arg("admin")
            .args(["--server", &server_url, "--token-file"])
            .arg(&tf)
            .args(args)
            .env_remove("SWITCHBOARD_PASSWORD")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    };
    let login = tokio::task::spawn_blocking(move || {
        let mut child = admin(&["login", "--user", "admin", "--password-stdin"])
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{OWNER_PW}\n").as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let list = admin(&["users", "list"]).output().unwrap();
        assert!(
            list.status.success(),
            "{}",
            String::from_utf8_lossy(&list.stderr)
        );
        let nope = admin(&["raw", "GET", "/api/v1/nope"]).output().unwrap();
        assert!(!nope.status.success());
        (
            String::from_utf8_lossy(&list.stdout).into_owned(),
            String::from_utf8_lossy(&nope.stderr).into_owned(),
        )
    });
    let (list, nope) = login.await.unwrap();
    assert!(list.contains("\"username\": \"admin\""), "{list}");
    assert!(nope.contains("no_route"), "{nope}");
    let mode = std::fs::metadata(&token_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}
