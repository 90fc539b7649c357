//! `git aisync run PEER -- CMD…`: sync the peer's repository, then run a command there; its
//! exit status comes back as ours. The peer's sync waits for a cycle already running there
//! (its watcher's, say), so the command sees what was delivered before it was asked.

use std::process::ExitCode;

use anyhow::Result;

use super::CommandContext;
use git_aisync::peer;

#[derive(clap::Args)]
pub struct Args {
    /// The peer.
    peer: String,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true)]
    command: Vec<String>,
}

pub fn run(ctx: &CommandContext, args: Args) -> Result<ExitCode> {
    let repo = ctx.repo()?;
    let code = peer::remote_command(repo, &args.peer, &["sync", "--quiet"], Some(&args.command))?;
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
}
