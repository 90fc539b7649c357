//! `git aisync restore [REF] [-- PATHS…]`: list the snapshots taken before merges, or bring
//! one back as a new commit ([`git_aisync::restore`]: history is never rewritten, so every
//! machine gets it too, and the journal, `never` paths and held-back files stay as they are).

use std::process::ExitCode;

use anyhow::{bail, Context, Result};

use super::CommandContext;
use git_aisync::git::Repo;
use git_aisync::restore;
use git_aisync::snapshot;

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
    let restored = restore::restore(repo, &reference, &args.paths)?;
    let short = &restored.target[..12.min(restored.target.len())];
    if restored.commit.is_none() {
        ui.status("the snapshot matches what you have: nothing to restore");
    } else {
        ui.status(&format!("restored {short} as a new commit; the next sync shares it (the state before is a snapshot too)"));
    }
    Ok(ExitCode::SUCCESS)
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
