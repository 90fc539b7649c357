//! `git aisync scan [PATHS…] [--staged] [--json]`: the secret scanner on files or on the
//! staged content. Exit 1 when something is found (nothing is printed in full).

use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::gate;
use crate::repo::Repo;
use crate::ui::Ui;

#[derive(clap::Args)]
pub struct Args {
    /// Files or folders to scan (default: the working tree).
    paths: Vec<std::path::PathBuf>,
    /// Scan what is staged for the next commit instead.
    #[arg(long, conflicts_with = "paths")]
    staged: bool,
    /// Print the findings as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(ui: &Ui, args: Args) -> Result<ExitCode> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let found = if args.staged {
        gate::staged(&Repo::find(&cwd)?)?
    } else {
        let top = Repo::find(&cwd)
            .map(|r| r.work_tree)
            .unwrap_or_else(|_| cwd.clone());
        let roots = if args.paths.is_empty() {
            vec![top.clone()]
        } else {
            args.paths.clone()
        };
        let roots: Vec<_> = roots
            .into_iter()
            .map(|p| if p.is_absolute() { p } else { cwd.join(p) })
            .collect();
        gate::files(&top, &roots)?
    };
    if args.json {
        let list: Vec<_> = found.iter().map(gate::Found::to_json).collect();
        ui.data(&serde_json::to_string_pretty(&list)?);
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
