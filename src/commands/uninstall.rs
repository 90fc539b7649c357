//! `git aisync uninstall`: remove what `install` added, leaving config and `.gitattributes`
//! as they were before.

use std::process::ExitCode;

use anyhow::Result;

use super::CommandContext;
use git_aisync::install;

#[derive(clap::Args)]
pub struct Args {}

pub fn run(ctx: &CommandContext, _args: Args) -> Result<ExitCode> {
    let ui = &ctx.ui;
    let repo = ctx.repo()?;
    if !install::is_installed(repo) {
        // Without install's record nothing says what was there before: change nothing.
        ui.status(&format!(
            "git-aisync is not installed in {} (no record of an install): nothing to undo",
            repo.work_tree.display()
        ));
        return Ok(ExitCode::SUCCESS);
    }
    install::uninstall(repo)?;
    ui.status(&format!("uninstalled from {}", repo.work_tree.display()));
    Ok(ExitCode::SUCCESS)
}
