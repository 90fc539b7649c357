//! `git aisync sync [--remote R] [--json]`: one full, safe sync cycle.
//! Exit 0 synced, 1 error, 2 refused, 3 offline, 4 held back.

use std::process::ExitCode;

use anyhow::Result;

use super::CommandContext;
use git_aisync::sync;

#[derive(clap::Args)]
pub struct Args {
    /// Sync with this remote only (default: every remote, in order).
    #[arg(long)]
    remote: Option<String>,
    /// Print the outcome as JSON.
    #[arg(long)]
    json: bool,
    /// Say nothing unless something needs a person (for hooks and timers).
    #[arg(long, short)]
    quiet: bool,
    /// Only when `aisync.autopush` is on (what the hooks start).
    #[arg(long, hide = true)]
    if_autopush: bool,
}

pub fn run(ctx: &CommandContext, args: Args) -> Result<ExitCode> {
    let ui = &ctx.ui;
    let repo = ctx.repo()?;
    if args.if_autopush && repo.flag("aisync.autopush") == Some(false) {
        return Ok(ExitCode::SUCCESS);
    }
    let report = sync::sync(repo, args.remote.as_deref());
    if args.json {
        ui.data(&serde_json::to_string_pretty(&report)?);
    } else {
        let quiet = args.quiet && report.outcome == git_aisync::state::Outcome::Synced;
        if !quiet {
            ui.status(&format!("{}: {}", report.outcome.word(), report.message));
            for h in &report.held_back {
                ui.status(&format!("held back {}: {}", h.path, h.reason));
            }
        }
    }
    Ok(report.outcome.code())
}
