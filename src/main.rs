//! git-aisync: keep AI assistants' memory and configuration in sync across machines with
//! plain git. This file defines the command line and hands each command to its module.

mod commands;
mod ui;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::ui::Ui;

/// Keep AI assistants' memory and configuration in sync across machines, with plain git.
#[derive(Parser)]
#[command(name = "git-aisync", version, about, propagate_version = true)]
pub struct Cli {
    /// Run as if started in PATH (as git's own -C): the synced repository to work on.
    #[arg(short = 'C', global = true, value_name = "PATH")]
    dir: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Make a folder a synced repository: layout, policy, drivers, hooks, first commit.
    Init(commands::init::Args),
    /// One full, safe sync cycle: commit what policy allows, fetch, merge, push.
    Sync(commands::sync::Args),
    /// Sync by itself: file events and other machines' pushes become sync cycles.
    Watch(commands::watch::Args),
    /// Run `watch` as a systemd user unit or a launchd agent, or `sync` from cron.
    #[command(subcommand)]
    Service(commands::service::Command),
    /// Bring assistants' memory and settings where they live into the synced repository.
    Connect(commands::connect::Args),
    /// Stop bridging an assistant on this machine (its files stay as they are).
    Disconnect(commands::disconnect::Args),
    /// Machine, branch, pending changes, remotes, the last sync, conflicts.
    Status(commands::status::Args),
    /// List the snapshots taken before merges, or bring one back.
    Restore(commands::restore::Args),
    /// Other machines' working repositories as peers, with no hub: add, list, remove.
    Peer(commands::peer::Args),
    /// Make a peer sync now.
    Kick(commands::kick::Args),
    /// Sync a peer, then run a command in its repository: run PEER -- CMD…
    Run(commands::run_on::Args),
    /// On a hub: wait until the branch moves and print its new commit (for watchers).
    NotifyWait(commands::notify_wait::Args),
    /// Scan files, or the staged content, for secrets.
    Scan(commands::scan::Args),
    /// Drop a secret from the unpublished commits, keeping the file here.
    Quarantine(commands::quarantine::Args),
    /// Register the merge drivers and their .gitattributes lines in this repository.
    Install(commands::install::Args),
    /// Remove what `install` added, exactly.
    Uninstall(commands::uninstall::Args),
    /// The merge driver git calls: merge BASE, OURS and THEIRS into OURS.
    MergeDriver(commands::merge_driver::Args),
    /// List the values merges overrode, with both versions, newest first.
    Conflicts(commands::conflicts::Args),
    /// Check the setup and the environment, with a fix for each finding.
    Doctor(commands::doctor::Args),
    /// An MCP server on stdio: assistants see sync status and conflicts, sync, restore.
    Mcp(commands::mcp::Args),
    /// Print shell completions.
    Completions(commands::completions::Args),
    /// What the installed hook files run.
    Hook(commands::hook::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let ctx = commands::CommandContext::new(Ui::new(), cli.dir);
    let ui = &ctx.ui;
    let result = match cli.command {
        Command::Init(args) => commands::init::run(&ctx, args),
        Command::Sync(args) => commands::sync::run(&ctx, args),
        Command::Watch(args) => commands::watch::run(&ctx, args),
        Command::Service(command) => commands::service::run(&ctx, command),
        Command::Connect(args) => commands::connect::run(&ctx, args),
        Command::Disconnect(args) => commands::disconnect::run(&ctx, args),
        Command::Status(args) => commands::status::run(&ctx, args),
        Command::Restore(args) => commands::restore::run(&ctx, args),
        Command::Peer(args) => commands::peer::run(&ctx, args),
        Command::Kick(args) => commands::kick::run(&ctx, args),
        Command::Run(args) => commands::run_on::run(&ctx, args),
        Command::NotifyWait(args) => commands::notify_wait::run(&ctx, args),
        Command::Scan(args) => commands::scan::run(&ctx, args),
        Command::Quarantine(args) => commands::quarantine::run(&ctx, args),
        Command::Install(args) => commands::install::run(&ctx, args),
        Command::Uninstall(args) => commands::uninstall::run(&ctx, args),
        Command::MergeDriver(args) => commands::merge_driver::run(&ctx, args),
        Command::Conflicts(args) => commands::conflicts::run(&ctx, args),
        Command::Doctor(args) => commands::doctor::run(&ctx, args),
        Command::Mcp(args) => commands::mcp::run(&ctx, args),
        Command::Completions(args) => commands::completions::run(args),
        Command::Hook(args) => commands::hook::run(&ctx, args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            ui.error(&format!("{err:#}"));
            ExitCode::from(1)
        }
    }
}
