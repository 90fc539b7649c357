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
        // `~/x` from the home directory, as a person writes it; anything else as it is.
        let word = match program.strip_prefix("~/") {
            Some(rest) => format!("\"$HOME\"/{}", quote(rest)),
            None => quote(program),
        };
        // (`command -v` of a path says yes to any file: a folder or a file that cannot be
        // run must end here too, as "not found", not as a session that fails for ever.)
        return format!(
            "aisync=$(command -v {word}) && [ -x \"$aisync\" ] && [ ! -d \"$aisync\" ] || {{ echo {why} >&2; exit 127; }}\n",
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
        "aisync=$(command -v git-aisync) || for aisync in {places}; do [ -x \"$aisync\" ] && [ ! -d \"$aisync\" ] && break; aisync=; done\n\
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

#[cfg(test)]
mod tests {
    use super::*;

    /// What the far side's shell finds, played here by sh with `home` as its home.
    fn found(configured: Option<&str>, home: &std::path::Path) -> (Option<i32>, String) {
        let script = format!("{}echo \"$aisync\"", find_program("hub", configured));
        let out = std::process::Command::new("sh")
            .args(["-c", &script])
            .env("HOME", home)
            .env("PATH", "/usr/bin:/bin")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
        )
    }

    #[test]
    fn a_configured_program_is_found_from_home_and_must_be_runnable() {
        let home = tempfile::tempdir().unwrap();
        let bin = home.path().join("my bin");
        std::fs::create_dir_all(&bin).unwrap();
        let program = bin.join("git-aisync");
        std::fs::write(&program, "#!/bin/sh\n").unwrap();
        // Not executable yet: not found (127), not a session failing for ever.
        assert_eq!(found(Some("~/my bin/git-aisync"), home.path()).0, Some(127));
        assert_eq!(found(Some(bin.to_str().unwrap()), home.path()).0, Some(127));
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(
            found(Some("~/my bin/git-aisync"), home.path()),
            (Some(0), program.to_string_lossy().into_owned())
        );
        // Nothing configured: ~/.cargo/bin is looked in.
        let cargo = home.path().join(".cargo/bin");
        std::fs::create_dir_all(&cargo).unwrap();
        std::fs::copy(&program, cargo.join("git-aisync")).unwrap();
        assert_eq!(
            found(None, home.path()),
            (
                Some(0),
                cargo.join("git-aisync").to_string_lossy().into_owned()
            )
        );
    }
}
