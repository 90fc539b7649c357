//! What kind of machine this is, for the parts that behave differently on it (WSL), and
//! the path this binary was started by (what hooks and drivers call back).

/// Whether this is Linux under WSL: Windows programs work on the same files unseen by
/// inotify and `/proc`.
pub fn is_wsl() -> bool {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .is_ok_and(|r| r.to_lowercase().contains("microsoft"))
}

/// The path this binary was started by, for the hooks and drivers to run it again: the
/// link a package manager keeps in place across upgrades (`bin/git-aisync`), not the file it
/// points at now (`cellar/0.1.0/git-aisync`, gone after the next upgrade). Started by name
/// (`git aisync`), the first `git-aisync` on PATH that is this binary; else the binary's own
/// file.
pub fn own_path() -> anyhow::Result<std::path::PathBuf> {
    use anyhow::Context;
    use std::path::{Path, PathBuf};
    let real = std::env::current_exe().context("cannot find the git-aisync binary's own path")?;
    let same = |p: &Path| p.is_file() && p.canonicalize().is_ok_and(|c| c == real);
    let Some(arg0) = std::env::args_os().next().map(PathBuf::from) else {
        return Ok(real);
    };
    if arg0.components().count() > 1 {
        // A path, absolute or from the current directory: made absolute, links kept.
        if let Ok(path) = std::path::absolute(&arg0) {
            if same(&path) {
                return Ok(path);
            }
        }
    } else if let Some(path) = std::env::var_os("PATH") {
        let name = arg0.file_name().unwrap_or(arg0.as_os_str());
        if let Some(found) = std::env::split_paths(&path)
            .filter(|dir| dir.is_absolute())
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
        {
            if same(&found) {
                return Ok(found);
            }
        }
    }
    Ok(real)
}
