//! `switchboard-loadgen`: the load generator command line (filled by the loadgen issue).
#![forbid(unsafe_code)]

fn main() -> anyhow::Result<()> {
    anyhow::bail!("switchboard-loadgen: not built yet; see the loadgen issue")
}
