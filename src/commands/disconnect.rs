//! `git aisync disconnect NAME`: stop bridging an assistant on this machine. Its copy in the
//! repository and its live files stay as they are; other machines keep syncing it.

use std::process::ExitCode;

use anyhow::Result;

use super::CommandContext;
use git_aisync::connect;

#[derive(clap::Args)]
pub struct Args {
    /// The assistant to disconnect (as `git aisync connect` names it).
    name: String,
}

pub fn run(ctx: &CommandContext, args: Args) -> Result<ExitCode> {
    let ui = &ctx.ui;
    let repo = ctx.synced_repo()?;
    let done = connect::disconnect(repo, &args.name)?;
    if done.was_connected {
        ui.status(&format!(
            "{} is no longer bridged on this machine; its files here and its copy in the repository are as they were",
            args.name
        ));
    } else {
        ui.status(&format!("{} was not connected on this machine", args.name));
    }
    if !done.inside.is_empty() {
        ui.status(&format!(
            "took git-aisync's hooks and MCP server out of {}",
            done.inside.join(", ")
        ));
    }
    for e in &done.inside_failed {
        ui.error(&format!("could not take git-aisync's entries out of {e}"));
    }
    Ok(ExitCode::SUCCESS)
}
