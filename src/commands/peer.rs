//! `git aisync peer add NAME URL | list | remove NAME`: other machines' own working
//! repositories as remotes, with no hub between them.

use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::git::Repo;
use crate::peer::{self, Added};
use crate::ui::Ui;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Add a peer (a URL that is already a remote is adopted as a peer).
    Add { name: String, url: String },
    /// List the peers.
    List,
    /// Stop syncing with a peer (a remote that was there before stays a plain remote).
    Remove { name: String },
}

pub fn run(ui: &Ui, args: Args) -> Result<ExitCode> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let repo = Repo::find(&cwd)?;
    match args.action {
        Action::Add { name, url } => match peer::add(&repo, &name, &url, &cwd)? {
            Added::New => ui.status(&format!(
                "{name} ({url}) is a peer: each sync fetches from it and delivers to it"
            )),
            Added::Adopted(remote) => {
                ui.status(&format!("the remote {remote} ({url}) is now a peer"))
            }
        },
        Action::List => {
            let text: String = peer::list(&repo)?
                .into_iter()
                .map(|(name, url)| format!("{name}\t{url}\n"))
                .collect();
            ui.data(&text);
        }
        Action::Remove { name } => {
            peer::remove(&repo, &name)?;
            ui.status(&format!("{name} is no longer a peer"));
        }
    }
    Ok(ExitCode::SUCCESS)
}
