//! `git aisync watch [--poll] [--poll-remotes] [--quiet]`: the daemon. Writes to realtime
//! paths and other machines' pushes become sync cycles until SIGINT or SIGTERM (exit 0).

use std::process::ExitCode;

use anyhow::Result;

use super::CommandContext;
use git_aisync::watch::{self, Options, StopSignals};

#[derive(clap::Args)]
pub struct Args {
    /// Scan the working tree every second instead of using file events (chosen by itself
    /// under WSL on /mnt/* and when the inotify watch limit is reached).
    #[arg(long)]
    poll: bool,
    /// Ask every remote with `git ls-remote`, even a hub on a local path (whose ref files are
    /// otherwise watched) or over SSH (where a notify-wait session otherwise hears pushes).
    #[arg(long)]
    poll_remotes: bool,
    /// Log to <git dir>/aisync/watch.log only, not to the terminal as well.
    #[arg(long, short)]
    quiet: bool,
}

pub fn run(ctx: &CommandContext, args: Args) -> Result<ExitCode> {
    // First, before any thread exists: every thread inherits the blocked signals.
    let signals = StopSignals::block()?;
    let repo = ctx.repo()?;
    let echo = |line: &str| ctx.ui.status(line);
    let options = Options {
        poll: args.poll,
        poll_remotes: args.poll_remotes,
    };
    watch::run(repo, options, signals, (!args.quiet).then_some(&echo))?;
    Ok(ExitCode::SUCCESS)
}
