//! `git aisync completions SHELL`: shell completions, and the man page, from the same
//! definition as the help.

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::CommandFactory;
use clap_complete::Shell;

#[derive(clap::Args)]
pub struct Args {
    /// bash, zsh, fish, elvish or powershell; `man` prints the man page instead
    /// (put it in a man1 folder on MANPATH and `git aisync --help` shows it).
    target: Target,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Target {
    Bash,
    Zsh,
    Fish,
    Elvish,
    Powershell,
    Man,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let mut cmd = crate::Cli::command();
    let mut out = std::io::stdout();
    let shell = match args.target {
        Target::Bash => Shell::Bash,
        Target::Zsh => Shell::Zsh,
        Target::Fish => Shell::Fish,
        Target::Elvish => Shell::Elvish,
        Target::Powershell => Shell::PowerShell,
        Target::Man => {
            clap_mangen::Man::new(cmd)
                .render(&mut out)
                .context("cannot write the man page")?;
            return Ok(ExitCode::SUCCESS);
        }
    };
    clap_complete::generate(shell, &mut cmd, "git-aisync", &mut out);
    Ok(ExitCode::SUCCESS)
}
