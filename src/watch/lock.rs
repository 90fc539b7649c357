//! One watcher per repository: `<git dir>/aisync/watch.lock`, an advisory lock the watcher
//! holds for as long as it runs, and the question `status` asks of it.

use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

/// `<git dir>/aisync/watch.lock`: an advisory lock (flock) the watcher holds for as long as it
/// runs. The kernel lets go of it when the process ends, however it ends, so a lock left by a
/// watcher that died (a reboot, kill -9) is free, and a reused pid never looks like a watcher.
/// The pid written inside is for people.
pub(super) struct WatchLock {
    path: PathBuf,
    file: fs::File,
}

/// flock(2) without waiting: `Ok(false)` when another process holds a conflicting lock.
fn try_flock(file: &fs::File, how: libc::c_int) -> std::io::Result<bool> {
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
fn still_at(file: &fs::File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Whether a watcher holds the lock in `state_dir` now.
pub(super) fn watch_lock_held(state_dir: &Path) -> bool {
    let Ok(file) = fs::File::open(state_dir.join("watch.lock")) else {
        return false;
    };
    // Shared, for an instant: a watcher starting now tries again a moment later.
    matches!(try_flock(&file, libc::LOCK_SH), Ok(false))
}

impl WatchLock {
    pub(super) fn acquire(state_dir: &Path) -> Result<WatchLock> {
        fs::create_dir_all(state_dir)
            .with_context(|| format!("cannot create {}", state_dir.display()))?;
        let path = state_dir.join("watch.lock");
        let mut busy = 0;
        loop {
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .with_context(|| format!("cannot open {}", path.display()))?;
            let locked = try_flock(&file, libc::LOCK_EX)
                .with_context(|| format!("cannot lock {}", path.display()))?;
            if locked {
                // A watcher that stopped just now removed the file we opened: take the new one.
                if !still_at(&file, &path) {
                    continue;
                }
                let me = json!({
                    "pid": std::process::id(),
                    "host": crate::machine::host_name(),
                    "started": crate::journal::now(),
                });
                file.set_len(0)
                    .and_then(|()| file.write_all(me.to_string().as_bytes()))
                    .with_context(|| format!("cannot write {}", path.display()))?;
                return Ok(WatchLock { path, file });
            }
            // Held: by a watcher, or for an instant by a `status` looking at it.
            busy += 1;
            if busy >= 20 {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                let pid = serde_json::from_str::<Value>(&text)
                    .ok()
                    .and_then(|v| v["pid"].as_u64());
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
