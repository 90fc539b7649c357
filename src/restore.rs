//! Bringing back a snapshot (or any commit, or one file's previous version) as a new commit:
//! history is never rewritten, so every machine gets the restore too. It runs under the
//! cycle's lock and leaves the journal, `never` paths and held-back files as they are. The
//! `restore` command and the MCP server's `restore` tool both call [`restore`].

use std::collections::HashSet;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::git::{readable, GitPath, Repo};
use crate::journal;
use crate::lock::{self, Acquired, Lock, Wait};
use crate::policy::{Mode, Policy};
use crate::snapshot;
use crate::state;

/// The reference that means "the version of the one path given before its last change".
pub const PREVIOUS: &str = "previous";

/// What a restore did.
#[derive(Debug, Serialize)]
pub struct Restored {
    /// The commit whose content was brought back.
    pub target: String,
    /// The paths put back (empty: the snapshot already matched, nothing was done).
    pub paths: Vec<String>,
    /// The new commit that holds the restore (`None` when nothing was done).
    pub commit: Option<String>,
    /// The snapshot of the state before the restore.
    pub snapshot_before: Option<String>,
}

/// The commit `reference` names: a number from [`snapshot::list`] (1 is the newest), a
/// snapshot's ref name, any commit git knows, or [`PREVIOUS`] with exactly one path.
pub fn target(repo: &Repo, reference: &str, paths: &[String]) -> Result<String> {
    let reference = reference.trim();
    if reference.is_empty() {
        bail!("a reference is needed: a snapshot number or name (`git aisync restore` lists them), a commit, or `previous` with one path");
    }
    if reference == PREVIOUS {
        let [path] = paths else {
            bail!(
                "`previous` needs exactly one path: the file whose previous version to bring back"
            );
        };
        let out = repo
            .git(["log", "-n", "1", "--format=%H", "HEAD", "--", path])
            .literal_pathspecs()
            .run()?;
        let last = out.stdout.trim();
        if last.is_empty() {
            bail!("{path} has no history here: nothing to bring back");
        }
        return repo.rev(&format!("{last}^"))?.with_context(|| {
            format!("{path} has no version before its first commit: nothing to bring back")
        });
    }
    let list = snapshot::list(repo)?;
    if let Ok(n) = reference.parse::<usize>() {
        if n >= 1 && n <= list.len() {
            return Ok(list[n - 1].commit.clone());
        }
    }
    // A name git would take for an option is never passed to it as one.
    if reference.starts_with('-') {
        bail!("no snapshot or commit `{reference}`: run `git aisync restore` to list them");
    }
    repo.rev(reference)?.with_context(|| {
        format!("no snapshot or commit `{reference}`: run `git aisync restore` to list them")
    })
}

/// Brings back what `reference` (see [`target`]) holds, for `paths` or everything, as a new
/// commit. Uncommitted work on a path it would put back, or anything staged, refuses it.
pub fn restore(repo: &Repo, reference: &str, paths: &[String]) -> Result<Restored> {
    let target = target(repo, reference, paths)?;
    // The cycle's lock: a sync must not commit or merge under a restore, nor it under one.
    let _lock = hold_the_lock(repo)?;

    // What the snapshot has differently, less what a restore must never rewind: the journal
    // (it only grows: rewinding it would drop records of other machines' conflicts), `never`
    // paths, and files the cycle holds back (a secret, conflict markers: the person's work
    // in progress).
    let policy = Policy::load(&repo.work_tree)?;
    let held: HashSet<String> = state::load(&repo.state_dir())
        .map(|s| s.report.held_back)
        .unwrap_or_default()
        .into_iter()
        .map(|h| h.path)
        .collect();
    let changed: Vec<GitPath> = repo
        .changed_between("HEAD", &target, paths)?
        .into_iter()
        .filter(|p| {
            let name = readable(p);
            name != journal::SYNCED
                && policy.mode(&name) != Mode::Never
                && !held.contains(&crate::gate::shown(p))
        })
        .collect();
    let mut restored = Restored {
        target: target.clone(),
        paths: changed.iter().map(|p| crate::gate::shown(p)).collect(),
        commit: None,
        snapshot_before: None,
    };
    if changed.is_empty() {
        return Ok(restored);
    }
    // Uncommitted work on a path the restore would put back is never overwritten, and
    // nothing a person staged is swept into the restore's commit.
    let wanted: HashSet<&[u8]> = changed.iter().map(GitPath::as_bytes).collect();
    for change in repo.changes()? {
        let path = change.path.as_bytes();
        if change.is_staged() || wanted.contains(path) {
            bail!(
                "{} has uncommitted changes: commit or stash them first, so nothing is lost; nothing was restored",
                crate::gate::shown(path)
            );
        }
    }
    restored.snapshot_before = snapshot::save(repo, "aisync: before restore")?;
    repo.restore_paths(&target, &changed)?;
    let short = &target[..12.min(target.len())];
    repo.git_committing([
        "commit",
        "--quiet",
        "--no-verify",
        "-m",
        &format!("aisync: restore {short}"),
    ])
    .run()?;
    restored.commit = repo.head()?;
    Ok(restored)
}

/// The repository lock, once any running sync is done with it.
fn hold_the_lock(repo: &Repo) -> Result<Lock> {
    loop {
        match Lock::acquire(&repo.state_dir())? {
            Acquired::Held(lock) => return Ok(lock),
            Acquired::Queued { pid } => {
                if let Wait::TooLong =
                    lock::wait_for_holder(&repo.state_dir(), Duration::from_secs(120))
                {
                    bail!("a sync (pid {pid}) has held the repository for minutes: try again when it is done; nothing was restored");
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}
