//! One module per command; each has an `Args` (its help text) and a `run` that takes the
//! [`CommandContext`]: where the command runs, the repository, its policy, and the `Ui`.

pub mod background;
pub mod completions;
pub mod conflicts;
pub mod connect;
pub mod disconnect;
pub mod doctor;
pub mod hook;
pub mod init;
pub mod install;
pub mod kick;
pub mod mcp;
pub mod merge_driver;
pub mod notify_wait;
pub mod peer;
pub mod quarantine;
pub mod restore;
pub mod run_on;
pub mod scan;
pub mod service;
pub mod session;
pub mod status;
pub mod sync;
pub mod uninstall;
pub mod watch;

use std::cell::OnceCell;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::ui::Ui;
use git_aisync::git::Repo;
use git_aisync::policy::Policy;

/// What every command starts from, found once: the directory it runs in, the synced
/// repository around it and that repository's policy (each on first use: `completions`
/// needs none of them, a hook needs the repository before anything else), and the `Ui`.
pub struct CommandContext {
    pub ui: Ui,
    cwd: OnceCell<PathBuf>,
    repo: OnceCell<Repo>,
}

impl CommandContext {
    /// `dir`: where `-C` says to run (read from the current directory when relative).
    pub fn new(ui: Ui, dir: Option<PathBuf>) -> CommandContext {
        let cwd = OnceCell::new();
        if let Some(dir) = dir {
            let _ = cwd.set(std::path::absolute(&dir).unwrap_or(dir));
        }
        CommandContext {
            ui,
            cwd,
            repo: OnceCell::new(),
        }
    }

    /// The directory the command runs in.
    pub fn cwd(&self) -> Result<&Path> {
        if let Some(cwd) = self.cwd.get() {
            return Ok(cwd);
        }
        let cwd = std::env::current_dir().context("cannot read the current directory")?;
        Ok(self.cwd.get_or_init(|| cwd))
    }

    /// The repository the command works on: the one around the current directory.
    pub fn repo(&self) -> Result<&Repo> {
        if let Some(repo) = self.repo.get() {
            return Ok(repo);
        }
        let repo = Repo::find(self.cwd()?)?;
        Ok(self.repo.get_or_init(|| repo))
    }

    /// The synced repository: the one around the current directory when it is set up for
    /// git-aisync, else this machine's recorded one (`aisync.repo`, DESIGN §9): assistants
    /// run hooks and MCP servers in a project's folder, not in the synced repository.
    pub fn synced_repo(&self) -> Result<&Repo> {
        if let Some(repo) = self.repo.get() {
            return Ok(repo);
        }
        let cwd = self.cwd()?;
        let here = Repo::find(cwd);
        let repo = match here {
            Ok(repo) if git_aisync::install::is_installed(&repo) => repo,
            here => match git_aisync::connect::recorded_repo(cwd) {
                Some(path) => Repo::find(&path).with_context(|| {
                    format!(
                        "this machine's synced repository (git config --global aisync.repo) is {}, which cannot be opened: fix or unset it",
                        path.display()
                    )
                })?,
                // Never a project's own repository (an assistant's hook or MCP server starts
                // in one): a sync there would commit and push the project's files.
                None => anyhow::bail!(
                    "{} is not a synced repository (git-aisync is not set up {}), and this machine records none: run `git aisync init DIR` (or `git aisync install` in the repository), or cd into it",
                    cwd.display(),
                    if here.is_ok() { "in this git repository" } else { "here" }
                ),
            },
        };
        Ok(self.repo.get_or_init(|| repo))
    }

    /// The repository's policy (`.aisync.yml`); an error that names the line when it is bad.
    pub fn policy(&self) -> Result<Policy> {
        Policy::load(&self.repo()?.work_tree)
    }
}
