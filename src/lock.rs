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
        for _ in 0..3 {
            let mut file = match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(f) => f,
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
                        // Its process is gone (or the file is half-written): stale.
                        _ => {
                            let _ = fs::remove_file(&path);
                            continue;
                        }
                    }
                }
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot create {}", path.display()))
                }
            };
            let me = json!({
                "pid": std::process::id(),
                "host": host,
                "started": crate::journal::now(),
            });
            file.write_all(me.to_string().as_bytes())
                .with_context(|| format!("cannot write {}", path.display()))?;
            return Ok(Acquired::Held(Lock { path, queued }));
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

/// Whether some process has `path` open (read from `/proc`; `None` where that cannot be
/// told: no `/proc`, as on macOS). git keeps a lock file open while it holds it.
pub fn held_open(path: &Path) -> Option<bool> {
    let target = fs::canonicalize(path).ok()?;
    let procs = fs::read_dir("/proc").ok()?;
    for entry in procs.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        // Another user's processes cannot be read: they cannot hold our index either.
        let Ok(fds) = fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if fs::read_link(fd.path()).is_ok_and(|p| p == target) {
                return Some(true);
            }
        }
    }
    Some(false)
}
