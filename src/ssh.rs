//! Commands on another machine over SSH: the user's own SSH command in batch mode, and the
//! script run there (in the synced repository, in `sh -c` whatever the login shell).

use std::process::Command;

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
