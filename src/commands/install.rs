//! `git aisync install`: register the merge drivers (and their `.gitattributes` lines) in the
//! current repository. Idempotent; `uninstall` undoes it exactly.

use std::process::ExitCode;

use anyhow::Result;

use super::CommandContext;
use git_aisync::install;

#[derive(clap::Args)]
pub struct Args {}

pub fn run(ctx: &CommandContext, _args: Args) -> Result<ExitCode> {
    let ui = &ctx.ui;
    let repo = ctx.repo()?;
    // The absolute path, so git finds the driver from a GUI, cron or systemd with a bare PATH.
    let exe = git_aisync::platform::own_path()?;
    let policy = ctx.policy()?;
    let done = install::install(repo, &exe, &policy)?;
    if let Ok(Some(path)) = git_aisync::connect::record_repo(repo) {
        ui.status(&format!(
            "recorded {path} as this machine's synced repository (git config --global aisync.repo)"
        ));
    }
    ui.status(&format!(
        "installed {} merge drivers in {} and their lines in {}",
        done.drivers,
        repo.work_tree.display(),
        done.attributes.display()
    ));
    Ok(ExitCode::SUCCESS)
}
