//! The repository lock (`<git dir>/aisync/lock`: pid, host, start time): one sync cycle at a
//! time. A lock whose process is gone is stale and taken over; a live one queues the request
//! (`<git dir>/aisync/queued`), and the running cycle runs once more before it lets go, so no
//! request (a post-commit push) is ever dropped.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::{json, Value};

pub struct Lock {
    path: PathBuf,
    queued: PathBuf,
}

pub enum Acquired {
    Held(Lock),
    /// Another live cycle holds it; this request is queued for it.
    Queued {
        pid: u32,
    },
}

impl Lock {
    pub fn acquire(state_dir: &Path, host: &str) -> Result<Acquired> {
        fs::create_dir_all(state_dir)
            .with_context(|| format!("cannot create {}", state_dir.display()))?;
        let path = state_dir.join("lock");
        let queued = state_dir.join("queued");
        let me = json!({
            "pid": std::process::id(),
            "host": host,
            "started": crate::journal::now(),
        })
        .to_string();
        for _ in 0..3 {
            match create_whole(&path, me.as_bytes()) {
                Ok(()) => return Ok(Acquired::Held(Lock { path, queued })),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    match holder(&path) {
                        Some((pid, holder_host)) if holder_host == host && alive(pid) => {
                            fs::write(&queued, b"").context("cannot queue the sync request")?;
                            // It may have let go just now, before seeing the request.
                            if path.exists() {
                                return Ok(Acquired::Queued { pid });
                            }
                            continue;
                        }
                        // Unreadable: written by hand, or half-written by an old version;
                        // taken over once it is not new.
                        None if young(&path) => {
                            fs::write(&queued, b"").context("cannot queue the sync request")?;
                            return Ok(Acquired::Queued { pid: 0 });
                        }
                        // Its process is gone: stale.
                        _ => {
                            let _ = fs::remove_file(&path);
                            continue;
                        }
                    }
                }
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot create {}", path.display()))
                }
            }
        }
        anyhow::bail!(
            "cannot take the repository lock {}; remove it if no git-aisync is running",
            path.display()
        )
    }

    /// Whether a request came in while we held the lock (and clears it).
    pub fn take_queued(&self) -> bool {
        fs::remove_file(&self.queued).is_ok()
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Creates `path` with `content`, whole or not at all: written to a file of our own, then
/// linked into place (a second process never reads a lock half-written). Where the file
/// system has no hard links, an exclusive create and a write.
fn create_whole(path: &Path, content: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("{}.tmp", std::process::id()));
    fs::write(&tmp, content)?;
    let linked = fs::hard_link(&tmp, path);
    let _ = fs::remove_file(&tmp);
    match linked {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
            let mut file = OpenOptions::new().write(true).create_new(true).open(path)?;
            file.write_all(content)
        }
        other => other,
    }
}

/// Whether the file at `path` was written in the last few seconds.
fn young(path: &Path) -> bool {
    fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age < std::time::Duration::from_secs(5))
}

fn holder(path: &Path) -> Option<(u32, String)> {
    let v: Value = serde_json::from_slice(&fs::read(path).ok()?).ok()?;
    Some((
        u32::try_from(v.get("pid")?.as_u64()?).ok()?,
        v.get("host")?.as_str()?.to_string(),
    ))
}

/// Whether process `pid` exists on this machine.
pub fn alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // Signal 0 checks existence; EPERM means it exists but is not ours.
    // SAFETY: kill with signal 0 sends nothing; it only checks the process.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Whether a git process may be holding a lock in the repository at `work_tree`: one that
/// has the lock file open, or any git process working there (git closes a lock file's
/// descriptor while it still holds the lock: `git commit` does during its hooks). Read from
/// `/proc`; `None` where that cannot tell: no `/proc` (macOS), or WSL, where Windows' git
/// works on the same files unseen.
pub fn git_may_hold(lock: &Path, work_tree: &Path) -> Option<bool> {
    if crate::platform::is_wsl() {
        return None;
    }
    let target = fs::canonicalize(lock).ok()?;
    let top = fs::canonicalize(work_tree).ok()?;
    let procs = fs::read_dir("/proc").ok()?;
    let me = std::process::id().to_string();
    for entry in procs.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !name.bytes().all(|b| b.is_ascii_digit()) || name == me {
            continue;
        }
        let dir = entry.path();
        // Another user's processes cannot be read: they cannot hold our index either.
        let comm = fs::read_to_string(dir.join("comm")).unwrap_or_default();
        let comm = comm.trim();
        let git = comm == "git" || (comm.starts_with("git-") && !comm.starts_with("git-aisync"));
        if git && fs::read_link(dir.join("cwd")).is_ok_and(|cwd| cwd.starts_with(&top)) {
            return Some(true);
        }
        if let Ok(fds) = fs::read_dir(dir.join("fd")) {
            for fd in fds.flatten() {
                if fs::read_link(fd.path()).is_ok_and(|p| p == target) {
                    return Some(true);
                }
            }
        }
    }
    Some(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn one_holder_at_a_time_and_a_stale_lock_is_taken_over() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        // Eight at once: never two holders, and every request held or queued.
        let (holding, most, queued) = (
            AtomicUsize::new(0),
            AtomicUsize::new(0),
            AtomicUsize::new(0),
        );
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| match Lock::acquire(dir, "here").unwrap() {
                    Acquired::Held(lock) => {
                        let now = holding.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(std::time::Duration::from_millis(30));
                        holding.fetch_sub(1, Ordering::SeqCst);
                        drop(lock);
                    }
                    Acquired::Queued { .. } => {
                        queued.fetch_add(1, Ordering::SeqCst);
                    }
                });
            }
        });
        assert_eq!(most.load(Ordering::SeqCst), 1);
        assert!(!dir.join("lock").exists(), "let go");
        // A lock whose process is gone is taken over.
        fs::write(dir.join("lock"), r#"{"pid": 4000000, "host": "here"}"#).unwrap();
        assert!(matches!(
            Lock::acquire(dir, "here").unwrap(),
            Acquired::Held(_)
        ));
        let leftovers: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}
