//! `git aisync restore [REF] [-- PATHS…]`: list the snapshots taken before merges, or bring
//! one back as a new commit (history is never rewritten, so every machine gets it too).

use std::process::ExitCode;

use anyhow::{bail, Context, Result};

use crate::repo::Repo;
use crate::snapshot;
use crate::ui::Ui;

#[derive(clap::Args)]
pub struct Args {
    /// The snapshot (its name, the number `restore` lists, or any commit).
    reference: Option<String>,
    /// Only these paths.
    #[arg(last = true)]
    paths: Vec<String>,
}

pub fn run(ui: &Ui, args: Args) -> Result<ExitCode> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let repo = Repo::discover(&cwd)?;
    let list = snapshot::list(&repo)?;
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
    if !repo.git(["diff", "--quiet", "HEAD"])?.success {
        bail!("you have uncommitted changes: commit or stash them first, so nothing is lost");
    }
    snapshot::save(&repo, "aisync: before restore")?;
    let mut cmd = vec![
        "restore".to_string(),
        format!("--source={target}"),
        "--staged".into(),
        "--worktree".into(),
        "--".into(),
    ];
    if args.paths.is_empty() {
        cmd.push(":/".into());
    } else {
        cmd.extend(args.paths.iter().cloned());
    }
    repo.run(&cmd)?;
    if repo.git(["diff", "--cached", "--quiet"])?.success {
        ui.status("the snapshot matches what you have: nothing to restore");
        return Ok(ExitCode::SUCCESS);
    }
    let short = &target[..12.min(target.len())];
    repo.run_committing(&[
        "commit",
        "--quiet",
        "--no-verify",
        "-m",
        &format!("aisync: restore {short}"),
    ])?;
    ui.status(&format!("restored {short} as a new commit; the next sync shares it (the state before is a snapshot too)"));
    Ok(ExitCode::SUCCESS)
}
