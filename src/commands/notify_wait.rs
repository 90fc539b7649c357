//! `git aisync notify-wait [--branch B] [--since OID] [--timeout SECS]`: run on a hub (over
//! SSH, by a watcher), wait until the branch moves and print its new commit. A watcher keeps
//! one such session open to hear of other machines' pushes at once instead of polling. It
//! sleeps on file events (the ref files), with a slow look every few seconds as a safety net.
//! Exit 0 with the commit, 3 when the time limit passed first.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use notify::{RecursiveMode, Watcher as _};

use super::CommandContext;

/// How often the ref is read with no file event (a network file system may send none).
const SAFETY_LOOK: Duration = Duration::from_secs(5);

#[derive(clap::Args)]
pub struct Args {
    /// The branch to wait on (default: what HEAD names).
    #[arg(long)]
    branch: Option<String>,
    /// Wait until the branch is no longer at this commit (default: where it is now).
    #[arg(long)]
    since: Option<String>,
    /// Give up after this many seconds (exit 3).
    #[arg(long, default_value_t = 3600)]
    timeout: u64,
}

/// The git directory here: a bare repository (a hub) or a working tree's.
fn git_dir(cwd: &Path) -> Option<PathBuf> {
    if cwd.join("HEAD").is_file() && cwd.join("objects").is_dir() {
        return Some(cwd.to_path_buf());
    }
    git_aisync::git::Location::find(cwd).map(|r| r.git_dir)
}

/// A ref's commit, read from the files (no git process: this runs often).
fn read_ref(git_dir: &Path, name: &str) -> Option<String> {
    if let Ok(text) = std::fs::read_to_string(git_dir.join(name)) {
        let text = text.trim();
        return match text.strip_prefix("ref: ") {
            Some(target) => read_ref(git_dir, target),
            None => Some(text.to_string()),
        };
    }
    let packed = std::fs::read_to_string(git_dir.join("packed-refs")).ok()?;
    packed.lines().find_map(|l| {
        let (oid, refname) = l.split_once(' ')?;
        (refname == name).then(|| oid.to_string())
    })
}

pub fn run(ctx: &CommandContext, args: Args) -> Result<ExitCode> {
    let cwd = ctx.cwd()?;
    let dir =
        git_dir(cwd).context("not in a git repository: run notify-wait in the hub's repository")?;
    let branch = match args.branch {
        Some(b) => b,
        None => std::fs::read_to_string(dir.join("HEAD"))
            .ok()
            .and_then(|h| {
                h.trim()
                    .strip_prefix("ref: refs/heads/")
                    .map(str::to_string)
            })
            .context("HEAD names no branch: say which with --branch")?,
    };
    let name = format!("refs/heads/{branch}");
    let since = args.since.or_else(|| read_ref(&dir, &name));
    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    // Woken by file events on the ref files (the git directory for packed-refs, the refs
    // folder for the loose ref); a slow look as well, for file systems without events.
    let (tx, rx) = mpsc::channel();
    let mut events = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok_and(|e| !matches!(e.kind, notify::EventKind::Access(_))) {
            let _ = tx.send(());
        }
    })
    .ok();
    if let Some(w) = events.as_mut() {
        let _ = w.watch(&dir, RecursiveMode::NonRecursive);
        let _ = w.watch(&dir.join("refs/heads"), RecursiveMode::Recursive);
    }
    loop {
        let now = read_ref(&dir, &name);
        if now.is_some() && now != since {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{}", now.unwrap_or_default());
            let _ = out.flush();
            return Ok(ExitCode::SUCCESS);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(ExitCode::from(3));
        }
        match rx.recv_timeout(left.min(SAFETY_LOOK)) {
            // A burst of events is one look.
            Ok(()) => while rx.try_recv().is_ok() {},
            Err(RecvTimeoutError::Timeout) => {}
            // No file events here: the slow look alone.
            Err(RecvTimeoutError::Disconnected) => std::thread::sleep(left.min(SAFETY_LOOK)),
        }
    }
}
