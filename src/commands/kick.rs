//! `git aisync kick PEER`: make a peer run a sync now (over SSH, or directly for a peer on a
//! local path). Exits with the peer's sync status; the peer's own words say what it did (a
//! cycle already running there takes the request as one more run, and says so).

use std::process::ExitCode;

use anyhow::Result;

use super::CommandContext;
use git_aisync::peer;

#[derive(clap::Args)]
pub struct Args {
    /// The peer (or any remote that is a machine's working repository).
    peer: String,
}

pub fn run(ctx: &CommandContext, args: Args) -> Result<ExitCode> {
    let repo = ctx.repo()?;
    let code = peer::remote_command(repo, &args.peer, &["sync"], None)?;
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
}
