//! `git aisync sync [--remote R] [--json]`: one full, safe sync cycle.
//! Exit 0 synced, 1 error, 2 refused, 3 offline, 4 held back.

use std::process::ExitCode;

use anyhow::Result;

use super::CommandContext;
use git_aisync::state::Report;
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
    let repo = ctx.synced_repo()?;
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
            for line in details(&report) {
                ui.status(&line);
            }
        }
    }
    Ok(report.outcome.code())
}

/// The lines under a cycle's outcome: what was held back, and what the bridge did with the
/// connected assistants (a command an assistant will run, arriving from another machine,
/// is never silent).
pub fn details(report: &Report) -> Vec<String> {
    let mut lines = Vec::new();
    for h in &report.held_back {
        lines.push(format!("held back {}: {}", h.path, h.reason));
    }
    let b = &report.bridge;
    if !b.imported.is_empty() {
        lines.push(format!("imported {}", b.imported.join(", ")));
    }
    if !b.applied.is_empty() {
        lines.push(format!("applied to {}", b.applied.join(", ")));
    }
    for o in &b.overrides {
        lines.push(format!("merged {o}"));
    }
    for e in &b.executables {
        lines.push(format!(
            "NOTE: {} will run something new from {}: {} ({})",
            e.assistant, e.machine, e.what, e.path
        ));
    }
    for s in &b.stuck {
        lines.push(format!("{} {}: {}", s.assistant, s.path, s.reason));
    }
    lines
}
