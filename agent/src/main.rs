//! `switchboard-agent`: the Host and Guest command line (filled by the agent issue).
#![forbid(unsafe_code)]

fn main() -> anyhow::Result<()> {
    anyhow::bail!("switchboard-agent: not built yet; see the agent issue")
}
