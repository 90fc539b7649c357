//! `git aisync init [DIR] [--remote URL]`: make DIR a synced repository (layout, policy,
//! drivers, hooks, a first commit), or join the hub at URL.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use super::CommandContext;
use git_aisync::init::{self, Pushed};

#[derive(clap::Args)]
pub struct Args {
    /// The folder to sync (created if missing; `git init` if it is not a repository yet).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// The shared remote (a bare hub over SSH or on a path). Empty, or with another
    /// machine's history to join.
    #[arg(long, value_name = "URL")]
    remote: Option<String>,
}

pub fn run(ctx: &CommandContext, args: Args) -> Result<ExitCode> {
    let ui = &ctx.ui;
    let exe = git_aisync::platform::own_path()?;
    let done = init::init(&args.dir, args.remote.as_deref(), &exe)?;
    let top = done.repo.work_tree.display();
    if done.joined {
        ui.status(&format!(
            "joined the shared history on branch {}",
            done.branch
        ));
    }
    ui.status(&format!(
        "{top} is set up on branch {}{}",
        done.branch,
        if done.committed {
            " (first commit made)"
        } else {
            ""
        }
    ));
    if let Ok(Some(path)) = git_aisync::connect::record_repo(&done.repo) {
        ui.status(&format!(
            "recorded {path} as this machine's synced repository (git config --global aisync.repo)"
        ));
    }
    match done.pushed {
        Pushed::NoRemote => {
            ui.status("no remote yet: add one with `git remote add origin URL` and push");
            Ok(ExitCode::SUCCESS)
        }
        Pushed::Yes(branch) => {
            ui.status(&format!("pushed {branch} to origin and set it as upstream"));
            Ok(ExitCode::SUCCESS)
        }
        Pushed::Offline(why) => {
            ui.status(&format!(
                "could not push yet ({}); your commits wait locally for the next sync",
                why.lines().last().unwrap_or("remote unreachable")
            ));
            Ok(ExitCode::from(3))
        }
    }
}
