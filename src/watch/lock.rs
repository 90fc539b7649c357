//! One watcher per repository: `<git dir>/aisync/watch.lock`, an advisory lock the watcher
//! holds for as long as it runs, and the question `status` asks of it.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::lock::{held_by, open_lock_file, record_pid, still_at, try_flock, write_holder};

/// `<git dir>/aisync/watch.lock`: an advisory lock (flock) the watcher holds for as long as it
/// runs. The kernel lets go of it when the process ends, however it ends, so a lock left by a
/// watcher that died (a reboot, kill -9) is free, and a reused pid never looks like a watcher.
/// The pid written inside is for people.
pub(super) struct WatchLock {
    path: PathBuf,
    file: fs::File,
}

/// Whether a watcher holds the lock in `state_dir` now.
pub(super) fn watch_lock_held(state_dir: &Path) -> bool {
    // (A watcher starting at that instant tries again a moment later.)
    held_by(&state_dir.join("watch.lock")).is_some()
}

impl WatchLock {
    pub(super) fn acquire(state_dir: &Path) -> Result<WatchLock> {
        fs::create_dir_all(state_dir)
            .with_context(|| format!("cannot create {}", state_dir.display()))?;
        let path = state_dir.join("watch.lock");
        let mut busy = 0;
        loop {
            let mut file = open_lock_file(&path)?;
            let locked = try_flock(&file, libc::LOCK_EX)
                .with_context(|| format!("cannot lock {}", path.display()))?;
            if locked {
                // A watcher that stopped just now removed the file we opened: take the new one.
                if !still_at(&file, &path) {
                    continue;
                }
                write_holder(&mut file)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                return Ok(WatchLock { path, file });
            }
            // Held: by a watcher, or for an instant by a `status` looking at it.
            busy += 1;
            if busy >= 20 {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                let pid = record_pid(&text);
                match pid {
                    Some(pid) => bail!(
                        "a watcher is already running in this repository (pid {pid}); stop it first with: kill {pid}"
                    ),
                    None => bail!(
                        "a watcher is already running in this repository; check with: git aisync status"
                    ),
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for WatchLock {
    fn drop(&mut self) {
        // Removed while still held (the lock goes with the descriptor, just after): a watcher
        // starting meanwhile sees that the file it locked is gone and takes a new one.
        if still_at(&self.file, &self.path) {
            let _ = fs::remove_file(&self.path);
        }
    }
}
