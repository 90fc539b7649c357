//! `git aisync install`: register the merge drivers (and their `.gitattributes` lines) in the
//! current repository. Idempotent; `uninstall` undoes it exactly.

use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::git::Repo;
use crate::install;
use crate::policy::Policy;
use crate::ui::Ui;

#[derive(clap::Args)]
pub struct Args {}

pub fn run(ui: &Ui, _args: Args) -> Result<ExitCode> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let repo = Repo::discover(&cwd)?;
    // The absolute path, so git finds the driver from a GUI, cron or systemd with a bare PATH.
    let exe = crate::platform::own_path()?;
    let policy = Policy::load(&repo.work_tree)?;
    let done = install::install(&repo, &exe, &policy)?;
    ui.status(&format!(
        "installed {} merge drivers in {} and their lines in {}",
        done.drivers,
        repo.work_tree.display(),
        done.attributes.display()
    ));
    Ok(ExitCode::SUCCESS)
}
