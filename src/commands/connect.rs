//! `git aisync connect [ASSISTANT…] [--dry-run] [--with-transcripts] [--json]`: without a
//! name, what each assistant installed here would sync and what stays on this machine (and
//! why); with names, connect them on this machine: import, merge, commit, apply.

use std::process::ExitCode;

use anyhow::Result;

use super::CommandContext;
use git_aisync::connect::{self, Assistant};

#[derive(clap::Args)]
pub struct Args {
    /// The assistants to connect (claude-code, codex, gemini, cursor, copilot, cline,
    /// windsurf, continue, aider, mcp-memory). Without one: only show what is here.
    names: Vec<String>,
    /// Show what connecting would sync, and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Also sync session transcripts and prompt history (large; may hold secrets, which
    /// the scanner keeps back).
    #[arg(long)]
    with_transcripts: bool,
    /// Do not add the session hooks (`git-aisync hook session-start` / `session-end`) to
    /// the assistants' settings.
    #[arg(long)]
    no_hooks: bool,
    /// Do not register the MCP server (`git-aisync mcp`) in the assistants' settings.
    #[arg(long)]
    no_mcp: bool,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(ctx: &CommandContext, args: Args) -> Result<ExitCode> {
    let ui = &ctx.ui;
    let repo = ctx.synced_repo()?;
    if args.names.is_empty() || args.dry_run {
        let survey = connect::survey(repo, &args.names);
        if let Some(unknown) = args
            .names
            .iter()
            .find(|n| !survey.iter().any(|a| a.name == n.as_str()))
        {
            anyhow::bail!(
                "no assistant is called {unknown}: the names are {}",
                git_aisync::assistants::names()
            );
        }
        if args.json {
            ui.data(&serde_json::to_string_pretty(&survey)?);
        } else {
            ui.data(&render(&survey, args.names.is_empty()));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let exe = git_aisync::platform::own_path()?;
    let options = connect::Options {
        transcripts: args.with_transcripts,
        inside: git_aisync::integrate::Wanted {
            hooks: !args.no_hooks,
            mcp: !args.no_mcp,
        },
    };
    let done = connect::connect(repo, &exe, &args.names, &options)?;
    if args.json {
        ui.data(&serde_json::to_string_pretty(&done)?);
    } else {
        ui.status(&format!(
            "connected {} on this machine",
            done.connected.join(", ")
        ));
        if let Some(path) = &done.recorded_repo {
            ui.status(&format!("recorded {path} as this machine's synced repository (git config --global aisync.repo)"));
        }
        if !done.inside.is_empty() {
            ui.status(&format!(
                "added the session hooks and the MCP server to {} (git aisync disconnect takes them out)",
                done.inside.join(", ")
            ));
        }
        for e in &done.inside_failed {
            ui.status(&format!(
                "could not add git-aisync's hooks or MCP server to {e}"
            ));
        }
        let report = &done.report;
        ui.status(&format!("{}: {}", report.outcome.word(), report.message));
        for line in super::sync::details(report) {
            ui.status(&line);
        }
    }
    Ok(report_code(&done.report))
}

fn report_code(report: &git_aisync::state::Report) -> ExitCode {
    report.outcome.code()
}

/// The survey as a person reads it: one block per assistant, installed ones first.
fn render(survey: &[Assistant], all: bool) -> String {
    let mut out = String::new();
    let (here, absent): (Vec<&Assistant>, Vec<&Assistant>) =
        survey.iter().partition(|a| a.installed || a.connected);
    for a in &here {
        let state = match (a.connected, a.transcripts) {
            (true, true) => "connected, with transcripts",
            (true, false) => "connected",
            (false, _) => "not connected",
        };
        out.push_str(&format!("{} ({}): {}\n", a.name, a.title, state));
        if !a.places.is_empty() {
            out.push_str(&format!("  lives in  {}\n", a.places.join(", ")));
        }
        let synced = if a.synced.is_empty() {
            "nothing yet".to_string()
        } else {
            a.synced.join(", ")
        };
        out.push_str(&format!("  syncs     {synced}\n"));
        if !a.local.is_empty() {
            let local: Vec<String> = a
                .local
                .iter()
                .map(|l| format!("{} ({})", l.what, l.why))
                .collect();
            out.push_str(&format!("  stays     {}\n", local.join(", ")));
        }
        for s in &a.stuck {
            out.push_str(&format!("  stuck     {}: {}\n", s.path, s.reason));
        }
        if !a.waiting.is_empty() {
            out.push_str(&format!(
                "  waiting   projects with no checkout here: {}\n",
                a.waiting.join(", ")
            ));
        }
    }
    if here.is_empty() {
        out.push_str("no assistant found on this machine\n");
    }
    if all && !absent.is_empty() {
        let names: Vec<&str> = absent.iter().map(|a| a.name).collect();
        out.push_str(&format!("not installed here: {}\n", names.join(", ")));
    }
    if all && here.iter().any(|a| !a.connected) {
        out.push_str(
            "connect one with: git aisync connect NAME (--dry-run first to see it alone)\n",
        );
    }
    out
}
