//! `git aisync sync [--remote R] [--wait] [--json]`: one full, safe sync cycle.
//! Exit 0 synced, 1 error, 2 refused, 3 offline, 4 held back.

use std::path::Path;
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use notify::Watcher as _;

use crate::lock::{Acquired, Lock};
use crate::repo::Repo;
use crate::sync;
use crate::ui::Ui;

/// How long `--wait` waits for a running cycle before it gives up.
const WAIT_LIMIT: Duration = Duration::from_secs(600);
/// A lock older than this is asked whether its process is still there.
const LOCK_SUSPECT: Duration = Duration::from_secs(10);

#[derive(clap::Args)]
pub struct Args {
    /// Sync with this remote only (default: every remote, in order).
    #[arg(long)]
    remote: Option<String>,
    /// When a cycle is running (the watcher's, say), wait for it to finish and run this one
    /// after it, instead of queuing the request and returning at once.
    #[arg(long)]
    wait: bool,
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

pub fn run(ui: &Ui, args: Args) -> Result<ExitCode> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let repo = Repo::find(&cwd)?;
    if args.if_autopush && repo.flag("aisync.autopush") == Some(false) {
        return Ok(ExitCode::SUCCESS);
    }
    if args.wait {
        // The cycle below then runs itself, after everything that came before this request.
        wait_until_free(&repo.state_dir())?;
    }
    let report = sync::sync(&repo, args.remote.as_deref());
    if args.wait {
        // Another cycle took the lock first after all, and queued this request: it runs
        // once more for it before it lets go.
        wait_until_free(&repo.state_dir())?;
    }
    if args.json {
        ui.data(&serde_json::to_string_pretty(&report.to_json())?);
    } else {
        let quiet = args.quiet && report.outcome == crate::state::Outcome::Synced;
        if !quiet {
            ui.status(&format!("{}: {}", report.outcome.word(), report.message));
            for h in &report.held_back {
                ui.status(&format!("held back {}: {}", h.path, h.reason));
            }
        }
    }
    Ok(report.outcome.code())
}

/// Waits until no cycle holds the repository lock: its file gone (file events on the state
/// folder wake this up, and it looks every second as well), or its process gone (a lock
/// that has been there a while is offered to `Lock::acquire`, which takes over a stale one).
fn wait_until_free(state_dir: &Path) -> Result<()> {
    let lock = state_dir.join("lock");
    if !lock.exists() {
        return Ok(());
    }
    let (tx, rx) = mpsc::channel();
    let mut events = notify::recommended_watcher(move |_| {
        let _ = tx.send(());
    })
    .ok();
    if let Some(w) = events.as_mut() {
        let _ = w.watch(state_dir, notify::RecursiveMode::NonRecursive);
    }
    let start = Instant::now();
    loop {
        if !lock.exists() {
            return Ok(());
        }
        let age = std::fs::metadata(&lock)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .unwrap_or_default();
        if age > LOCK_SUSPECT {
            if let Acquired::Held(taken) = Lock::acquire(state_dir, &crate::install::host_name())? {
                drop(taken);
                return Ok(());
            }
        }
        if start.elapsed() > WAIT_LIMIT {
            bail!(
                "a sync has been running here for over {} minutes: see git aisync status, then try again",
                WAIT_LIMIT.as_secs() / 60
            );
        }
        let _ = rx.recv_timeout(Duration::from_secs(1));
    }
}
