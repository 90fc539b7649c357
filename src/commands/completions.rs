//! `git aisync completions SHELL`: shell completions, from the same definition as the help.

use std::process::ExitCode;

use anyhow::Result;
use clap::CommandFactory;
use clap_complete::Shell;

#[derive(clap::Args)]
pub struct Args {
    /// bash, zsh, fish, elvish or powershell.
    shell: Shell,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let mut cmd = crate::Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "git-aisync", &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}
