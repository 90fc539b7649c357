//! How git reaches a remote over SSH when git-aisync runs it: the user's own SSH command,
//! in batch mode (never a prompt), with the connection kept for polling.

use std::path::{Path, PathBuf};

use super::Repo;

impl Repo {
    /// The user's own SSH command (`GIT_SSH_COMMAND`, `core.sshCommand`, else `ssh`), with
    /// batch mode added: an unattended sync never waits on a password or a host-key question
    /// (it fails with ssh's one-line reason instead). The connection is kept a minute, so
    /// polling over SSH costs one handshake, not one per poll.
    pub fn ssh_command(&self) -> String {
        let base = std::env::var("GIT_SSH_COMMAND")
            .ok()
            .filter(|c| !c.trim().is_empty())
            .or_else(|| self.setting("core.sshCommand").map(str::to_string))
            .unwrap_or_else(|| "ssh".to_string());
        let mut cmd = format!("{base} -o BatchMode=yes -o ConnectTimeout=15");
        // ssh expands `%x` and `${VAR}` in the path: a `%` of the folder is written `%%`, and
        // a folder with `${` keeps no connection.
        let dir = self
            .control_dir()
            .map(|d| d.to_string_lossy().replace('%', "%%"))
            .filter(|d| !d.contains("${"));
        if let Some(dir) = dir {
            let socket = format!("{dir}/ssh-%C");
            let quoted = crate::shell::quote(&socket);
            cmd.push_str(&format!(
                " -o ControlMaster=auto -o ControlPersist=60 -o ControlPath={quoted}"
            ));
        }
        cmd
    }

    /// Where the kept SSH connection's socket goes: a socket path holds ~100 bytes (104 on
    /// macOS), and ssh's `%C` is 40 characters. The repository's own folder when short
    /// enough, else a private folder of this user's (`$XDG_RUNTIME_DIR`, `/tmp`); `None`:
    /// no connection is kept.
    fn control_dir(&self) -> Option<PathBuf> {
        let fits = |dir: &Path| dir.as_os_str().len() + "/ssh-".len() + 40 < 100;
        let state = self.state_dir();
        if fits(&state) {
            return std::fs::create_dir_all(&state).is_ok().then_some(state);
        }
        // SAFETY: getuid has no preconditions.
        let uid = unsafe { libc::getuid() };
        let private = [
            std::env::var_os("XDG_RUNTIME_DIR").map(|d| PathBuf::from(d).join("git-aisync")),
            // /tmp, not $TMPDIR: macOS's is too deep for a socket.
            Some(PathBuf::from(format!("/tmp/git-aisync-{uid}"))),
        ];
        private.into_iter().flatten().find(|dir| {
            use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
            if !fits(dir) {
                return false;
            }
            let _ = std::fs::DirBuilder::new().mode(0o700).create(dir);
            // Ours alone: another user's folder there could take over the connection.
            std::fs::symlink_metadata(dir)
                .is_ok_and(|m| m.is_dir() && m.uid() == uid && m.permissions().mode() & 0o077 == 0)
        })
    }
}
