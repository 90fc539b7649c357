//! `git aisync quarantine`: drop a secret that reached a local commit from the unpublished
//! commits, keeping the file in the working tree; what a remote already has is never touched.

use std::process::ExitCode;

use anyhow::Result;

use super::CommandContext;
use git_aisync::quarantine;

#[derive(clap::Args)]
pub struct Args {}

pub fn run(ctx: &CommandContext, _args: Args) -> Result<ExitCode> {
    let ui = &ctx.ui;
    let repo = ctx.repo()?;
    let done = quarantine::quarantine(repo)?;
    if done.paths.is_empty() {
        ui.status("no secret in the unpublished commits: nothing to do");
        return Ok(ExitCode::SUCCESS);
    }
    ui.status(&format!(
        "rewrote {} unpublished commit(s) without the secret in {}; the files stay here as they are (move the secret under .credentials/); the old history is snapshot {}",
        done.rewritten,
        done.paths.join(", "),
        done.snapshot.as_deref().unwrap_or("(none)")
    ));
    Ok(ExitCode::SUCCESS)
}
