//! `git aisync scan [PATHS…] [--staged] [--json]`: the secret scanner on files or on the
//! staged content. Exit 1 when something is found (nothing is printed in full).

use std::process::ExitCode;

use anyhow::Result;

use super::CommandContext;
use git_aisync::gate;
use git_aisync::git::Repo;

#[derive(clap::Args)]
pub struct Args {
    /// Files or folders to scan (default: the working tree, less `.credentials/` and the
    /// policy's `never` paths, which are never committed).
    paths: Vec<std::path::PathBuf>,
    /// Scan what is staged for the next commit instead.
    #[arg(long, conflicts_with = "paths")]
    staged: bool,
    /// Print the findings as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(ctx: &CommandContext, args: Args) -> Result<ExitCode> {
    let ui = &ctx.ui;
    let cwd = ctx.cwd()?;
    let mut skipped = Vec::new();
    let found = if args.staged {
        gate::staged(&Repo::find(cwd)?)?
    } else if args.paths.is_empty() {
        // The whole working tree, less where secrets belong (`.credentials/`, `never`
        // paths): those are never committed, so a key there is where it should be.
        let top = Repo::find(cwd)
            .map(|r| r.work_tree)
            .unwrap_or_else(|_| cwd.to_path_buf());
        let (found, left_out) = gate::work_tree(&top)?;
        skipped = left_out;
        found
    } else {
        let top = Repo::find(cwd)
            .map(|r| r.work_tree)
            .unwrap_or_else(|_| cwd.to_path_buf());
        let roots: Vec<_> = args
            .paths
            .iter()
            .map(|p| {
                if p.is_absolute() {
                    p.clone()
                } else {
                    cwd.join(p)
                }
            })
            .collect();
        gate::files(&top, &roots)?
    };
    if !skipped.is_empty() {
        let shown = if skipped.len() > 5 {
            format!("{} and {} more", skipped[..5].join(", "), skipped.len() - 5)
        } else {
            skipped.join(", ")
        };
        ui.status(&format!(
            "not scanned (never committed, where secrets belong): {shown}; name them to scan them"
        ));
    }
    if args.json {
        ui.data(&serde_json::to_string_pretty(&found)?);
    } else if found.is_empty() {
        ui.status("no secrets found");
    } else {
        let text: String = found.iter().map(|f| f.line() + "\n").collect();
        ui.data(&text);
        ui.status(&format!(
            "{} secret(s) found; a false positive goes into .aisync-allow (its fingerprint, rule: or path:), or mark the line aisync:allow",
            found.len()
        ));
    }
    Ok(ExitCode::from(u8::from(!found.is_empty())))
}
