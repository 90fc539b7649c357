//! `git aisync conflicts [--json]`: the values merges overrode, newest first, with both
//! versions: the synced journal and this machine's records not yet folded into it.

use std::process::ExitCode;

use anyhow::{bail, Result};
use serde_json::{Map, Value};

use super::CommandContext;
use git_aisync::journal;

#[derive(clap::Args)]
pub struct Args {
    /// Print the records as a JSON array.
    #[arg(long)]
    json: bool,
}

pub fn run(ctx: &CommandContext, args: Args) -> Result<ExitCode> {
    let ui = &ctx.ui;
    let cwd = ctx.cwd()?;
    let Some(repo) = git_aisync::git::Location::find(cwd) else {
        bail!("not inside a git repository: run this in a synced repo");
    };
    let (entries, unreadable) = journal::all(&repo.state_dir(), repo.work_tree.as_deref())?;
    for (file, skipped) in unreadable {
        ui.status(&format!(
            "{}: skipped {skipped} unreadable line(s)",
            file.display()
        ));
    }

    if args.json {
        ui.data(&serde_json::to_string_pretty(&entries)?);
    } else if entries.is_empty() {
        ui.status("no conflicts recorded");
    } else {
        let mut text = String::new();
        for e in &entries {
            text.push_str(&format!(
                "{}  {}{}  ({}, {})\n",
                field(e, "time"),
                field(e, "path"),
                field(e, "location"),
                field(e, "rule"),
                field(e, "id"),
            ));
            // What each record holds: both values of a merge, where the other copy of a
            // file went, or the text a commit removed.
            let removal = field(e, "rule") == "removed-by-commit";
            for (side, label) in [
                ("ours", "ours"),
                ("theirs", "theirs"),
                ("chosen", "chosen"),
                ("base", if removal { "removed" } else { "base" }),
                ("beside", "other copy at"),
            ] {
                let merged = ["ours", "theirs", "chosen"]
                    .iter()
                    .any(|k| e.contains_key(*k));
                let Some(value) = e.get(side) else {
                    // A value one side of a merge did not have.
                    if merged && ["ours", "theirs", "chosen"].contains(&side) {
                        text.push_str(&format!("    {label:<7} (absent)\n"));
                    }
                    continue;
                };
                match value {
                    // Text as it was, one line under another.
                    Value::String(s) if removal || side == "beside" => {
                        let mut lines = shorten(s, 2000);
                        lines = lines.replace('\n', "\n            ");
                        text.push_str(&format!("    {label:<7} {lines}\n"));
                    }
                    v => text.push_str(&format!(
                        "    {label:<7} {}\n",
                        shorten(&v.to_string(), 200)
                    )),
                }
            }
        }
        ui.data(&text);
    }
    Ok(ExitCode::SUCCESS)
}

fn field<'a>(e: &'a Map<String, Value>, name: &str) -> &'a str {
    e.get(name).and_then(Value::as_str).unwrap_or("")
}

fn shorten(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_string(),
    }
}
