//! `git aisync status [--json]`: machine, branch, pending changes by policy, ahead/behind per
//! remote (as of the last fetch), the last cycle and its outcome, recorded conflicts.

use std::process::ExitCode;

use anyhow::{Context, Result};
use serde_json::{json, Value};

use crate::git::Repo;
use crate::journal;
use crate::policy::{Mode, Policy};
use crate::state;
use crate::ui::Ui;

#[derive(clap::Args)]
pub struct Args {
    /// Print the status as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(ui: &Ui, args: Args) -> Result<ExitCode> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let repo = Repo::discover(&cwd)?;
    let machine = crate::sync::machine(&repo);
    let branch = repo
        .current_branch()?
        .unwrap_or_else(|| "(detached)".into());
    let policy = Policy::load(&repo.work_tree);
    let mut pending = json!({ "realtime": [], "versioned": [], "never": [] });
    if let Ok(policy) = &policy {
        for change in repo.changes()? {
            let path = crate::git::readable(&change.path).into_owned();
            // What the cycle leaves alone (an editor's swap file, the policy's ignores) is
            // no change waiting for it.
            if change.is_ignored() || policy.is_ignored(&path) {
                continue;
            }
            let key = match policy.mode(&path) {
                Mode::Realtime => "realtime",
                Mode::Versioned => "versioned",
                Mode::Never => "never",
            };
            if let Some(list) = pending[key].as_array_mut() {
                list.push(Value::from(path));
            }
        }
    }
    let mut remotes = Vec::new();
    for remote in repo
        .git(["remote"])
        .output()?
        .stdout
        .lines()
        .filter(|l| !l.is_empty())
    {
        let tracking = format!("refs/remotes/{remote}/{branch}");
        let counts = match repo.rev(&tracking)? {
            Some(_) => repo.ahead_behind("HEAD", &tracking).ok(),
            None => None,
        };
        remotes.push(json!({
            "name": remote,
            "ahead": counts.map(|c| c.0),
            "behind": counts.map(|c| c.1),
        }));
    }
    let last = state::load(&repo.state_dir());
    let (pending_records, _) = journal::read(&journal::pending_path(&repo.state_dir()))?;
    let (synced_records, _) = journal::read(&repo.work_tree.join(journal::SYNCED))?;
    let watcher = crate::watch::running(&repo.state_dir());
    let status = json!({
        "machine": machine,
        "branch": branch,
        "policy": policy.as_ref().map(|_| "ok".to_string()).unwrap_or_else(|e| format!("{e:#}")),
        "pending": pending,
        "remotes": remotes,
        "last_sync": last.map(Value::Object),
        "watcher": watcher.map(|w| json!({
            "pid": w["pid"],
            "started": w["started"],
            "uptime_seconds": w["uptime_seconds"],
            "tree": w["tree"],
            "remotes": w["remotes"],
            "last_event": w["last_event"],
            "last_cycle": w["last_cycle"],
            "cycles": w["cycles"],
        })),
        "conflicts": { "recorded": synced_records.len(), "pending": pending_records.len() },
    });
    if args.json {
        ui.data(&serde_json::to_string_pretty(&status)?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut text = format!("machine {machine}, branch {branch}\n");
    if let Err(e) = &policy {
        text.push_str(&format!("policy: {e:#}\n"));
    }
    for key in ["realtime", "versioned", "never"] {
        let list = pending[key].as_array().map(Vec::len).unwrap_or(0);
        if list > 0 {
            text.push_str(&format!("{list} {key} change(s) not committed\n"));
        }
    }
    for r in &remotes {
        match (r["ahead"].as_u64(), r["behind"].as_u64()) {
            (Some(a), Some(b)) => text.push_str(&format!(
                "{}: {a} to push, {b} to merge (as of the last fetch)\n",
                r["name"].as_str().unwrap_or("")
            )),
            _ => text.push_str(&format!(
                "{}: never synced\n",
                r["name"].as_str().unwrap_or("")
            )),
        }
    }
    match &status["last_sync"] {
        Value::Object(m) => text.push_str(&format!(
            "last sync {}: {} ({})\n",
            m.get("time").and_then(Value::as_str).unwrap_or("?"),
            m.get("outcome").and_then(Value::as_str).unwrap_or("?"),
            m.get("message").and_then(Value::as_str).unwrap_or("")
        )),
        _ => text.push_str("never synced on this machine\n"),
    }
    if let Some(held) = status["last_sync"]["held_back"]
        .as_array()
        .filter(|h| !h.is_empty())
    {
        for h in held {
            text.push_str(&format!(
                "held back {}: {}\n",
                h["path"].as_str().unwrap_or(""),
                h["reason"].as_str().unwrap_or("")
            ));
        }
    }
    text.push_str(&watcher_line(&status["watcher"]));
    text.push_str(&format!(
        "conflicts: {} recorded, {} pending (git aisync conflicts)\n",
        synced_records.len(),
        pending_records.len()
    ));
    ui.data(&text);
    Ok(ExitCode::SUCCESS)
}

/// `watcher: running (pid 12, up 3h05m); last event …; last cycle …`, or not running.
fn watcher_line(w: &Value) -> String {
    let Some(pid) = w["pid"].as_u64() else {
        return "watcher: not running (git aisync watch, or git aisync service install)\n".into();
    };
    let up = w["uptime_seconds"].as_u64().unwrap_or(0);
    let uptime = match up {
        0..=59 => format!("{up}s"),
        60..=3599 => format!("{}m{:02}s", up / 60, up % 60),
        _ => format!("{}h{:02}m", up / 3600, up % 3600 / 60),
    };
    let mut line = format!("watcher: running (pid {pid}, up {uptime})");
    if let Some(t) = w["last_event"].as_str() {
        line.push_str(&format!("; last event {t}"));
    }
    if let Some(c) = w["last_cycle"].as_object() {
        line.push_str(&format!(
            "; last cycle {}: {}",
            c.get("time").and_then(Value::as_str).unwrap_or("?"),
            c.get("outcome").and_then(Value::as_str).unwrap_or("?")
        ));
    }
    line.push('\n');
    line
}
