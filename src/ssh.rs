//! Commands on another machine over SSH: the user's own SSH command in batch mode, and the
//! script run there (in the synced repository, in `sh -c` whatever the login shell).

use std::process::Command;

/// Shell lines that find git-aisync on the other machine and leave its path in `$aisync`
/// (or end with status 127 and one line on what to do). `cargo install` puts it in
/// `~/.cargo/bin`, which a non-interactive SSH session's PATH usually lacks: as git does for
/// `git-upload-pack` (`remote.<name>.uploadpack`), a per-remote setting names it
/// (`remote.<name>.aisyncProgram`, `configured`); else PATH, then the usual install places,
/// then where this machine has it (people install alike on their machines).
pub fn find_program(remote: &str, configured: Option<&str>) -> String {
    let quote = crate::shell::quote;
    if let Some(program) = configured {
        return format!(
            "aisync=$(command -v {p}) || {{ echo {why} >&2; exit 127; }}\n",
            p = quote(program),
            why = quote(&format!(
                "git-aisync: {program} (remote.{remote}.aisyncProgram) cannot be run here"
            )),
        );
    }
    let mut places = vec![
        "\"$HOME/.cargo/bin/git-aisync\"".to_string(),
        "\"$HOME/.local/bin/git-aisync\"".to_string(),
    ];
    let own = crate::platform::own_path().ok();
    let own = own
        .as_ref()
        .and_then(|p| p.to_str())
        .filter(|p| p.starts_with('/'));
    places.extend(own.map(quote));
    format!(
        "aisync=$(command -v git-aisync) || for aisync in {places}; do [ -x \"$aisync\" ] && break; aisync=; done\n\
         [ -n \"$aisync\" ] || {{ echo {why} >&2; exit 127; }}\n",
        places = places.join(" "),
        why = quote(&format!(
            "git-aisync is not on the PATH of ssh sessions here, nor in ~/.cargo/bin or ~/.local/bin{}: set git config remote.{remote}.aisyncProgram /path/to/git-aisync on the machine that connects",
            own.map(|p| format!(" or {p}")).unwrap_or_default()
        )),
    )
}

/// Shell words that go to `path` from the login directory, as git reads a path in an SSH
/// URL: `~` and `~/x` from the home directory, `~user/x` from that user's.
fn cd_to(path: &str) -> String {
    let Some(rest) = path.strip_prefix('~') else {
        return format!("cd -- {}", crate::shell::quote(path));
    };
    let (user, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let valid_user = user
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && !user.starts_with('-');
    if !valid_user {
        return format!("cd -- {}", crate::shell::quote(path));
    }
    // An unquoted `~user` is expanded by the shell; the rest stays quoted.
    let home = if user.is_empty() {
        "cd".to_string()
    } else {
        format!("cd ~{user}")
    };
    let tail = tail.trim_start_matches('/');
    if tail.is_empty() {
        home
    } else {
        format!("{home} && cd -- {}", crate::shell::quote(tail))
    }
}

/// What a machine reached over SSH runs: `script` in the repository at `path` (ended with
/// status 1 when it is not there), in `sh -c` so a login shell of another family (fish, csh)
/// runs it the same. kick, run and the watcher's notify-wait sessions all go through here.
pub fn remote_script(path: &str, script: &str) -> String {
    let script = format!("{} || exit 1\n{script}", cd_to(path));
    format!("sh -c {}", crate::shell::quote(&script))
}

/// `ssh [-p PORT] HOST SCRIPT` with the user's own SSH command in batch mode (the cycle's:
/// `GIT_SSH_COMMAND`, `core.sshCommand`, else `ssh`, sharing its kept connection). That
/// command is shell words (it may quote a key's path), so a shell reads it.
pub fn command(ssh_command: &str, host: &str, port: Option<&str>, script: &str) -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(format!("{ssh_command} \"$@\"")).arg("sh");
    if let Some(p) = port {
        cmd.arg(format!("-p{p}"));
    }
    cmd.arg(host).arg(script).env("GIT_TERMINAL_PROMPT", "0");
    cmd
}
