//! `git aisync service install|uninstall|status`: run `watch` as a systemd user unit (Linux)
//! or a launchd agent (macOS), or `sync` from a crontab line every N minutes (`--cron`).

use std::process::ExitCode;

use anyhow::Result;
use serde_json::json;

use super::CommandContext;
use git_aisync::service::{self, Manager, Service};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Install the service for this repository and start it.
    Install(InstallArgs),
    /// Stop and remove what `service install` put in place for this repository.
    Uninstall,
    /// Whether a service is installed for this repository, and whether the watcher runs.
    Status(StatusArgs),
}

#[derive(clap::Args)]
pub struct InstallArgs {
    /// Run `git aisync sync` from a crontab line instead of a watcher (no daemon).
    #[arg(long, conflicts_with = "manager")]
    cron: bool,
    /// With --cron: every this many minutes (1 to 59, or whole hours; default 5).
    #[arg(long, value_name = "MINUTES")]
    every: Option<u32>,
    /// The service manager (default: launchd on macOS, systemd elsewhere).
    #[arg(long, value_enum)]
    manager: Option<Manager>,
    /// Write the service file only; do not ask the service manager to start it.
    #[arg(long)]
    no_start: bool,
}

#[derive(clap::Args)]
pub struct StatusArgs {
    /// Print the status as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(ctx: &CommandContext, command: Command) -> Result<ExitCode> {
    let ui = &ctx.ui;
    let repo = ctx.repo()?;
    // The path we were started by (a package manager's bin/ link survives an upgrade).
    let exe = git_aisync::platform::own_path()?;
    let svc = Service::new(&repo.work_tree, &exe)?;
    match command {
        Command::Install(args) => {
            let manager = if args.cron {
                Manager::Cron
            } else {
                args.manager.unwrap_or_else(Manager::native)
            };
            if args.every.is_some() && manager != Manager::Cron {
                anyhow::bail!("--every is for the crontab line: add --cron, or leave --every out");
            }
            let every = args.every.unwrap_or(5);
            let done = service::install(&svc, manager, !args.no_start, every)?;
            match manager {
                Manager::Cron => ui.status(&format!("added to your crontab: {}", done.written)),
                _ => ui.status(&format!("wrote {}", done.written)),
            }
            match done.started {
                Ok(()) if manager != Manager::Cron => {
                    ui.status(&format!("started {} ({})", svc.name, manager.word()))
                }
                Ok(()) => {}
                Err(how) => ui.status(&how),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Uninstall => {
            let removed = service::uninstall(&svc)?;
            if removed.is_empty() {
                ui.status("no service was installed for this repository");
            }
            for r in removed {
                ui.status(&format!("removed {r}"));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Status(args) => {
            let inst = service::installation(&svc);
            let watcher = git_aisync::watch::running(&repo.state_dir());
            if args.json {
                let v = json!({
                    "name": svc.name,
                    "systemd": inst.unit.as_ref().map(|p| json!({"unit": p, "state": inst.unit_state})),
                    "launchd": inst.plist.as_ref().map(|p| json!({"plist": p})),
                    "cron": inst.cron,
                    "watcher": watcher,
                });
                ui.data(&serde_json::to_string_pretty(&v)?);
                return Ok(ExitCode::SUCCESS);
            }
            let mut text = String::new();
            if let Some(unit) = &inst.unit {
                text.push_str(&format!(
                    "systemd: {} ({})\n",
                    unit.display(),
                    inst.unit_state
                        .as_deref()
                        .unwrap_or("systemd does not answer here")
                ));
            }
            if let Some(plist) = &inst.plist {
                text.push_str(&format!("launchd: {}\n", plist.display()));
            }
            if let Some(line) = &inst.cron {
                text.push_str(&format!("cron: {line}\n"));
            }
            if inst.unit.is_none() && inst.plist.is_none() && inst.cron.is_none() {
                text.push_str("no service installed (git aisync service install)\n");
            }
            match watcher {
                Some(w) => text.push_str(&format!(
                    "watcher: running (pid {})\n",
                    w["pid"].as_u64().unwrap_or(0)
                )),
                None => text.push_str("watcher: not running\n"),
            }
            ui.data(&text);
            Ok(ExitCode::SUCCESS)
        }
    }
}
