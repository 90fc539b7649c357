//! `git aisync uninstall`: remove what `install` added, leaving config and `.gitattributes`
//! as they were before.

use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::git::Repo;
use crate::install;
use crate::ui::Ui;

#[derive(clap::Args)]
pub struct Args {}

pub fn run(ui: &Ui, _args: Args) -> Result<ExitCode> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let repo = Repo::discover(&cwd)?;
    if !install::is_installed(&repo) {
        // Without install's record nothing says what was there before: change nothing.
        ui.status(&format!(
            "git-aisync is not installed in {} (no record of an install): nothing to undo",
            repo.work_tree.display()
        ));
        return Ok(ExitCode::SUCCESS);
    }
    install::uninstall(&repo)?;
    ui.status(&format!("uninstalled from {}", repo.work_tree.display()));
    Ok(ExitCode::SUCCESS)
}
