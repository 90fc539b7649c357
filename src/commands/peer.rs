//! `git aisync peer add NAME URL | list | remove NAME`: other machines' own working
//! repositories as remotes, with no hub between them.

use std::process::ExitCode;

use anyhow::Result;

use super::CommandContext;
use git_aisync::peer::{self, Added};

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

pub fn run(ctx: &CommandContext, args: Args) -> Result<ExitCode> {
    let ui = &ctx.ui;
    let repo = ctx.repo()?;
    match args.action {
        Action::Add { name, url } => match peer::add(repo, &name, &url, ctx.cwd()?)? {
            Added::New => ui.status(&format!(
                "{name} ({url}) is a peer: each sync fetches from it and delivers to it"
            )),
            Added::Adopted(remote) => {
                ui.status(&format!("the remote {remote} ({url}) is now a peer"))
            }
        },
        Action::List => {
            let text: String = peer::list(repo)?
                .into_iter()
                .map(|(name, url)| format!("{name}\t{url}\n"))
                .collect();
            ui.data(&text);
        }
        Action::Remove { name } => {
            peer::remove(repo, &name)?;
            ui.status(&format!("{name} is no longer a peer"));
        }
    }
    Ok(ExitCode::SUCCESS)
}
