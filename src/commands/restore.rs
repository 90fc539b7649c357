//! `git aisync restore [REF] [-- PATHS…]`: list the snapshots taken before merges, or bring
//! one back as a new commit (history is never rewritten, so every machine gets it too),
//! under the cycle's lock, leaving the journal, `never` paths and held-back files as they are.

use std::collections::HashSet;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use super::CommandContext;
use git_aisync::git::{readable, GitPath, Repo};
use git_aisync::journal;
use git_aisync::lock::{self, Acquired, Lock, Wait};
use git_aisync::policy::Mode;
use git_aisync::snapshot;
use git_aisync::state;

#[derive(clap::Args)]
pub struct Args {
    /// The snapshot (its name, the number `restore` lists, or any commit).
    reference: Option<String>,
    /// Only these paths.
    #[arg(last = true)]
    paths: Vec<String>,
    /// A connected assistant's file (`~/.claude/settings.json`): list the versions the
    /// bridge replaced in it, or with REF (a number from that list) put one back.
    #[arg(long, value_name = "FILE")]
    live: Option<std::path::PathBuf>,
}

pub fn run(ctx: &CommandContext, args: Args) -> Result<ExitCode> {
    let ui = &ctx.ui;
    let repo = ctx.synced_repo()?;
    if let Some(file) = &args.live {
        return live(ctx, repo, file, args.reference.as_deref());
    }
    let list = snapshot::list(repo)?;
    let Some(reference) = args.reference else {
        if list.is_empty() {
            ui.status("no snapshots yet (one is taken before every merge a sync makes)");
        }
        let mut text = String::new();
        for (n, s) in list.iter().enumerate() {
            let when = time::OffsetDateTime::from_unix_timestamp(s.time as i64)
                .ok()
                .and_then(|t| {
                    t.format(&time::format_description::well_known::Rfc3339)
                        .ok()
                })
                .unwrap_or_default();
            text.push_str(&format!(
                "{:>3}  {when}  {}  {}\n",
                n + 1,
                &s.commit[..12.min(s.commit.len())],
                s.subject
            ));
        }
        ui.data(&text);
        return Ok(ExitCode::SUCCESS);
    };
    let target = match reference.parse::<usize>() {
        Ok(n) if n >= 1 && n <= list.len() => list[n - 1].commit.clone(),
        _ => repo.rev(&reference)?.with_context(|| {
            format!("no snapshot or commit `{reference}`: run `git aisync restore` to list them")
        })?,
    };
    // The cycle's lock: a sync must not commit or merge under a restore, nor it under one.
    let _lock = hold_the_lock(repo)?;

    // What the snapshot has differently, less what a restore must never rewind: the journal
    // (it only grows: rewinding it would drop records of other machines' conflicts), `never`
    // paths, and files the cycle holds back (a secret, conflict markers: the person's work
    // in progress).
    let policy = ctx.policy()?;
    let held: HashSet<String> = state::load(&repo.state_dir())
        .map(|s| s.report.held_back)
        .unwrap_or_default()
        .into_iter()
        .map(|h| h.path)
        .collect();
    let paths: Vec<GitPath> = repo
        .changed_between("HEAD", &target, &args.paths)?
        .into_iter()
        .filter(|p| {
            let name = readable(p);
            name != journal::SYNCED
                && policy.mode(&name) != Mode::Never
                && !held.contains(&git_aisync::gate::shown(p))
        })
        .collect();
    if paths.is_empty() {
        ui.status("the snapshot matches what you have: nothing to restore");
        return Ok(ExitCode::SUCCESS);
    }
    // Uncommitted work on a path the restore would put back is never overwritten, and
    // nothing a person staged is swept into the restore's commit.
    let wanted: HashSet<&[u8]> = paths.iter().map(GitPath::as_bytes).collect();
    for change in repo.changes()? {
        let path = change.path.as_bytes();
        if change.is_staged() || wanted.contains(path) {
            bail!(
                "{} has uncommitted changes: commit or stash them first, so nothing is lost; nothing was restored",
                git_aisync::gate::shown(path)
            );
        }
    }
    snapshot::save(repo, "aisync: before restore")?;
    repo.restore_paths(&target, &paths)?;
    let short = &target[..12.min(target.len())];
    repo.git_committing([
        "commit",
        "--quiet",
        "--no-verify",
        "-m",
        &format!("aisync: restore {short}"),
    ])
    .run()?;
    ui.status(&format!("restored {short} as a new commit; the next sync shares it (the state before is a snapshot too)"));
    Ok(ExitCode::SUCCESS)
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

/// `restore --live FILE [N]`: the versions of a live file that the bridge's applies
/// replaced; with N, that one written back (what it replaces is kept too).
fn live(
    ctx: &CommandContext,
    repo: &Repo,
    file: &std::path::Path,
    pick: Option<&str>,
) -> Result<ExitCode> {
    let ui = &ctx.ui;
    let machine = git_aisync::machine::name(repo);
    let connections = git_aisync::bridge::connections(repo);
    let bridge = git_aisync::bridge::Bridge::of(repo, &machine, connections);
    let Some(pair) = bridge.pair_of(file) else {
        bail!(
            "{} is not a file a connected assistant syncs here: `git aisync status` lists them",
            file.display()
        );
    };
    let kept = bridge.kept(&pair);
    let Some(pick) = pick else {
        if kept.is_empty() {
            ui.status("no version kept yet (one is kept each time a sync writes the file)");
        }
        let mut text = String::new();
        for (n, path) in kept.iter().enumerate().rev() {
            let ms: i128 = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.parse().ok())
                .unwrap_or_default();
            let when = time::OffsetDateTime::from_unix_timestamp_nanos(ms * 1_000_000)
                .ok()
                .and_then(|t| {
                    t.format(&time::format_description::well_known::Rfc3339)
                        .ok()
                })
                .unwrap_or_default();
            let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or_default();
            text.push_str(&format!("{:>3}  {when}  {size} bytes\n", kept.len() - n));
        }
        ui.data(&text);
        return Ok(ExitCode::SUCCESS);
    };
    let n: usize = pick
        .parse()
        .ok()
        .filter(|n| *n >= 1 && *n <= kept.len())
        .with_context(|| {
            format!(
                "no kept version {pick}: `git aisync restore --live {}` lists them",
                file.display()
            )
        })?;
    let chosen = &kept[kept.len() - n];
    bridge
        .restore(&pair, chosen)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", file.display()))?;
    ui.status(&format!(
        "{} is back to version {n}; the next sync shares it (what it replaced is kept as version 1)",
        git_aisync::bridge::shown(&pair.live)
    ));
    Ok(ExitCode::SUCCESS)
}
