//! `git aisync completions SHELL`: shell completions, and the man page, from the same
//! definition as the help.

use std::process::ExitCode;

use std::io::Write;

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
    if let Shell::Bash = shell {
        out.write_all(bash(&mut cmd).as_bytes())
            .context("cannot write the completions")?;
    } else {
        clap_complete::generate(shell, &mut cmd, "git-aisync", &mut out);
    }
    Ok(ExitCode::SUCCESS)
}

/// Bash completions for `git-aisync …` and for `git aisync …`. clap_complete names the
/// script's cases inconsistently for a command with a dash in its name (a subcommand's
/// options never complete), so it writes them for `gitaisync`, registered here for
/// `git-aisync`; git's own completion calls `_git_aisync` for `git aisync`, which hands the
/// words after `aisync` on.
fn bash(cmd: &mut clap::Command) -> String {
    let mut script = Vec::new();
    clap_complete::generate(Shell::Bash, cmd, "gitaisync", &mut script);
    let script = String::from_utf8_lossy(&script)
        .replace(" -o default gitaisync\n", " -o default git-aisync\n");
    format!(
        "{script}\n\
         # `git aisync <TAB>`: git's completion calls this with its own words.\n\
         _git_aisync() {{\n\
         \x20   local idx=${{__git_cmd_idx:-1}}\n\
         \x20   local COMP_WORDS=(git-aisync \"${{COMP_WORDS[@]:idx+1}}\")\n\
         \x20   local COMP_CWORD=$((COMP_CWORD - idx))\n\
         \x20   _gitaisync git-aisync \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"\n\
         }}\n"
    )
}
