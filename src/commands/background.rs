//! A sync cycle in the background: what a hook starts so that it can return at once (the
//! child outlives it; its outcome goes to state.json, which `git aisync status` reads).

use git_aisync::git::Repo;

/// `git-aisync sync --quiet EXTRA…` in `repo`, detached, in a process group of its own,
/// without the git environment of the hook that starts it.
pub fn sync(repo: &Repo, extra: &[&str]) {
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut cmd = std::process::Command::new(exe);
    cmd.args(["sync", "--quiet"])
        .args(extra)
        .current_dir(&repo.work_tree)
        .env_remove("GIT_INDEX_FILE")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_PREFIX")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
    }
    // The child outlives us; its outcome goes to state.json (git aisync status).
    let _ = cmd.spawn();
}
