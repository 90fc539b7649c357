//! `git aisync doctor [--json]`: check the setup and the environment, with a fix for each
//! finding. Exits 1 when a check fails.

use std::process::ExitCode;

use anyhow::Result;

use super::CommandContext;
use git_aisync::doctor::{self, Status};

#[derive(clap::Args)]
pub struct Args {
    /// Print the findings as a JSON array.
    #[arg(long)]
    json: bool,
}

pub fn run(ctx: &CommandContext, args: Args) -> Result<ExitCode> {
    let ui = &ctx.ui;
    // Outside a synced repository (a project's folder), this machine's recorded one.
    let dir = match ctx.synced_repo() {
        Ok(repo) => repo.work_tree.clone(),
        Err(_) => ctx.cwd()?.to_path_buf(),
    };
    let findings = doctor::run(&dir);
    if args.json {
        ui.data(&serde_json::to_string_pretty(&findings)?);
    } else {
        let mut text = String::new();
        for f in &findings {
            text.push_str(&format!(
                "{:<4}  {:<12} {}\n",
                f.status.word(),
                f.check,
                f.message
            ));
            if !f.fix.is_empty() && f.status != Status::Ok {
                text.push_str(&format!("      {:<12} fix: {}\n", "", f.fix));
            }
        }
        ui.data(&text);
    }
    let failed = findings.iter().any(|f| f.status == Status::Fail);
    Ok(ExitCode::from(u8::from(failed)))
}
