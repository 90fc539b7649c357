//! `git aisync status [--json]`: machine, branch, pending changes by policy, ahead/behind per
//! remote (as of the last fetch), the last cycle and its outcome, recorded conflicts.

use std::process::ExitCode;

use anyhow::Result;

use super::CommandContext;
use git_aisync::status::{self, Status, Watcher};

#[derive(clap::Args)]
pub struct Args {
    /// Print the status as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(ctx: &CommandContext, args: Args) -> Result<ExitCode> {
    let ui = &ctx.ui;
    let repo = ctx.synced_repo()?;
    let status = status::collect(repo)?;
    if args.json {
        ui.data(&serde_json::to_string_pretty(&status)?);
    } else {
        ui.data(&render(&status));
    }
    Ok(ExitCode::SUCCESS)
}

/// The status for a person, a line per fact.
fn render(status: &Status) -> String {
    let mut text = format!("machine {}, branch {}\n", status.machine, status.branch);
    if status.policy != "ok" {
        text.push_str(&format!("policy: {}\n", status.policy));
    }
    for w in &status.policy_warnings {
        text.push_str(&format!("policy: {w}\n"));
    }
    let pending = &status.pending;
    for (key, list) in [
        ("realtime", &pending.realtime),
        ("versioned", &pending.versioned),
        ("never", &pending.never),
    ] {
        if !list.is_empty() {
            text.push_str(&format!("{} {key} change(s) not committed\n", list.len()));
        }
    }
    for r in &status.remotes {
        match (r.ahead, r.behind) {
            (Some(a), Some(b)) => text.push_str(&format!(
                "{}: {a} to push, {b} to merge (as of the last fetch)\n",
                r.name
            )),
            _ => text.push_str(&format!("{}: never synced\n", r.name)),
        }
    }
    match &status.last_sync {
        Some(last) => {
            text.push_str(&format!(
                "last sync {}: {} ({})\n",
                last.time,
                last.report.outcome.word(),
                last.report.message
            ));
            for h in &last.report.held_back {
                text.push_str(&format!("held back {}: {}\n", h.path, h.reason));
            }
        }
        None => text.push_str("never synced on this machine\n"),
    }
    text.push_str(&watcher_line(status.watcher.as_ref()));
    if !status.assistants.is_empty() {
        let names: Vec<String> = status
            .assistants
            .iter()
            .map(|a| format!("{} ({})", a.name, a.places.join(", ")))
            .collect();
        text.push_str(&format!("assistants: {}\n", names.join("; ")));
    }
    for s in &status.stuck {
        text.push_str(&format!("stuck {} {}: {}\n", s.assistant, s.path, s.reason));
    }
    if !status.waiting.is_empty() {
        text.push_str(&format!(
            "waiting for a checkout here: {}\n",
            status.waiting.join(", ")
        ));
    }
    for e in &status.executables {
        text.push_str(&format!(
            "{} {} runs something from {}: {} ({})\n",
            e.time, e.assistant, e.machine, e.what, e.path
        ));
    }
    text.push_str(&format!(
        "conflicts: {} recorded, {} pending (git aisync conflicts)\n",
        status.conflicts.recorded, status.conflicts.pending
    ));
    text
}

/// `watcher: running (pid 12, up 3h05m); last event …; last cycle …`, or not running.
fn watcher_line(w: Option<&Watcher>) -> String {
    let Some(w) = w else {
        return "watcher: not running (git aisync watch, or git aisync service install)\n".into();
    };
    let up = w.uptime_seconds;
    let uptime = match up {
        0..=59 => format!("{up}s"),
        60..=3599 => format!("{}m{:02}s", up / 60, up % 60),
        _ => format!("{}h{:02}m", up / 3600, up % 3600 / 60),
    };
    let mut line = format!("watcher: running (pid {}, up {uptime})", w.pid);
    if let Some(t) = &w.last_event {
        line.push_str(&format!("; last event {t}"));
    }
    if let Some(c) = &w.last_cycle {
        line.push_str(&format!(
            "; last cycle {}: {}",
            c.time.as_deref().unwrap_or("?"),
            c.outcome.as_deref().unwrap_or("?")
        ));
    }
    line.push('\n');
    line
}
