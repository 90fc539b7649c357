//! The repository lock (`<git dir>/aisync/lock`): one sync cycle at a time. An OS advisory
//! lock (flock) that the kernel lets go of when its holder ends, however it ends: no pid,
//! host or clock decides that a lock is stale. A held lock queues the request
//! (`<git dir>/aisync/queued`), and the running cycle runs once more before it lets go, so no
//! request (a post-commit push) is ever dropped. The file also says who holds it (pid, host,
//! since when), for people and `status` only.

use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::{json, Value};

/// The repository lock, held until dropped.
pub struct Lock {
    path: PathBuf,
    file: fs::File,
    queued: PathBuf,
}

pub enum Acquired {
    Held(Lock),
    /// Another cycle holds it (process `pid`, as its record says; 0 when it wrote none);
    /// this request is queued for it.
    Queued {
        pid: u32,
    },
}

impl Lock {
    pub fn acquire(state_dir: &Path) -> Result<Acquired> {
        fs::create_dir_all(state_dir)
            .with_context(|| format!("cannot create {}", state_dir.display()))?;
        let path = state_dir.join("lock");
        let queued = state_dir.join("queued");
        loop {
            let mut file = open_lock_file(&path)?;
            if try_flock(&file, libc::LOCK_EX)
                .with_context(|| format!("cannot lock {}", path.display()))?
            {
                // A holder that let go just now removed the file we opened: take the new one.
                if !still_at(&file, &path) {
                    continue;
                }
                // Who holds it is for people: a failure to say so does not stop the cycle.
                let _ = write_holder(&mut file);
                // Whatever was queued before now, this cycle covers.
                let _ = fs::remove_file(&queued);
                return Ok(Acquired::Held(Lock { path, file, queued }));
            }
            fs::write(&queued, b"").context("cannot queue the sync request")?;
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            return Ok(Acquired::Queued {
                pid: record_pid(&text).unwrap_or(0),
            });
        }
    }

    /// Whether a request came in while we held the lock (and clears it).
    pub fn take_queued(&self) -> bool {
        fs::remove_file(&self.queued).is_ok()
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        // Removed while still held (the lock goes with the descriptor, just after): a cycle
        // starting meanwhile sees that the file it locked is gone and takes a new one.
        if still_at(&self.file, &self.path) {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// A lock file opened to be locked (made if missing, its record left as it is).
pub(crate) fn open_lock_file(path: &Path) -> Result<fs::File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))
}

/// Writes who holds a lock just taken into its file: pid, host, since when.
pub(crate) fn write_holder(file: &mut fs::File) -> std::io::Result<()> {
    let me = json!({
        "pid": std::process::id(),
        "host": crate::machine::host_name(),
        "started": crate::journal::now(),
    });
    file.set_len(0)?;
    file.write_all(me.to_string().as_bytes())
}

/// The pid a lock's record names.
pub(crate) fn record_pid(text: &str) -> Option<u32> {
    let v: Value = serde_json::from_str(text).ok()?;
    u32::try_from(v.get("pid")?.as_u64()?).ok()
}

/// flock(2) without waiting: `Ok(false)` when another process holds a conflicting lock.
pub(crate) fn try_flock(file: &fs::File, how: libc::c_int) -> std::io::Result<bool> {
    use std::os::unix::io::AsRawFd;
    loop {
        // SAFETY: flock on a descriptor this File owns for the whole call.
        if unsafe { libc::flock(file.as_raw_fd(), how | libc::LOCK_NB) } == 0 {
            return Ok(true);
        }
        let e = std::io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EWOULDBLOCK) => return Ok(false),
            Some(libc::EINTR) => continue,
            _ => return Err(e),
        }
    }
}

/// Whether `file` is still the file at `path` (not one removed since it was opened).
pub(crate) fn still_at(file: &fs::File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// The process holding the lock file at `path` now, as its record names it (0: a holder
/// that wrote none); `None` when nobody holds it.
pub(crate) fn held_by(path: &Path) -> Option<u32> {
    let mut file = fs::File::open(path).ok()?;
    // Shared, for an instant: a cycle starting now and meeting it queues, and is served.
    if !matches!(try_flock(&file, libc::LOCK_SH), Ok(false)) {
        return None;
    }
    let mut text = String::new();
    let _ = file.read_to_string(&mut text);
    Some(record_pid(&text).unwrap_or(0))
}

/// What the running cycle did with a queued request.
pub enum Wait {
    /// A cycle that started after the request ran to its end: it did the request's work.
    Served,
    /// The holder let go (or died) without taking the request: run it here.
    Free,
    /// It still runs after `limit`.
    TooLong,
}

/// Waits until no cycle holds the lock, a request having been queued while one did. Whoever held it since then started after the request, so a queue marker
/// gone means the request's work was done; one still there, that it is to be done here. (A
/// holder that took the lock a moment before writing its pid must not pass for a new one.)
pub fn wait_for_holder(state_dir: &Path, limit: std::time::Duration) -> Wait {
    let (path, queued) = (state_dir.join("lock"), state_dir.join("queued"));
    let deadline = std::time::Instant::now() + limit;
    loop {
        if held_by(&path).is_none() {
            return if queued.exists() {
                Wait::Free
            } else {
                Wait::Served
            };
        }
        if std::time::Instant::now() > deadline {
            return Wait::TooLong;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
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
    fn one_holder_at_a_time_and_a_lock_nobody_holds_is_free() {
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
                s.spawn(|| match Lock::acquire(dir).unwrap() {
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
        // A lock file whose holder is gone (a record, but no lock on it) is free, whatever
        // its record says: a reused pid, another host.
        let me = std::process::id();
        fs::write(
            dir.join("lock"),
            format!(r#"{{"pid": {me}, "host": "elsewhere"}}"#),
        )
        .unwrap();
        assert_eq!(held_by(&dir.join("lock")), None);
        assert!(matches!(Lock::acquire(dir).unwrap(), Acquired::Held(_)));
    }
}
