//! Records the git revision the loadgen is built from as `SWITCHBOARD_GIT_REV` (`git rev-parse
//! --short HEAD` in the package's directory), so the JSON results name it even when the binary
//! runs outside the repository.
//!
//! It does not record whether the tree was dirty (that is asked at run time, see
//! `report::git_rev`). Without git or outside a checkout it sets nothing, and the run-time
//! lookup (then `unknown`) takes over. It reruns when HEAD or the branch it points to moves.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (out.status.success() && !text.is_empty()).then_some(text)
}

/// A path git printed, relative to this package's directory when not absolute.
fn git_path(args: &[&str]) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(git(args)?);
    Some(std::fs::canonicalize(&p).unwrap_or(p))
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if let Some(git_dir) = git_path(&["rev-parse", "--git-dir"]) {
        println!("cargo:rerun-if-changed={}", git_dir.join("HEAD").display());
        let common = git_path(&["rev-parse", "--git-common-dir"]).unwrap_or(git_dir);
        // A commit moves the branch HEAD points to, not HEAD itself.
        if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
            let loose = common.join(branch);
            if loose.is_file() {
                println!("cargo:rerun-if-changed={}", loose.display());
            }
        }
        let packed = common.join("packed-refs");
        if packed.is_file() {
            println!("cargo:rerun-if-changed={}", packed.display());
        }
    }
    if let Some(rev) = git(&["rev-parse", "--short", "HEAD"]) {
        println!("cargo:rustc-env=SWITCHBOARD_GIT_REV={rev}");
    }
}
