//! The repository lock (`<git dir>/aisync/lock`: pid, host, start time): one sync cycle at a
//! time. A lock whose process is gone is stale and taken over; a live one queues the request
//! (`<git dir>/aisync/queued`), and the running cycle runs once more before it lets go, so no
//! request (a post-commit push) is ever dropped. A pid alone does not name a process for
//! long (pids are reused): the lock records when it was taken, and a process that started
//! after that is not its holder.

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
            "since": unix_now(),
        })
        .to_string();
        for _ in 0..3 {
            match create_whole(&path, me.as_bytes()) {
                Ok(()) => {
                    // Whatever was queued before now, this cycle covers.
                    let _ = fs::remove_file(&queued);
                    return Ok(Acquired::Held(Lock { path, queued }));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    match holder(&path) {
                        Some((pid, holder_host, since))
                            if holder_host == host && holds(pid, since) =>
                        {
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

/// The holder a lock file names: pid, host, and when it took the lock (Unix seconds; from
/// `started` for a lock an older version wrote).
fn holder(path: &Path) -> Option<(u32, String, Option<u64>)> {
    let v: Value = serde_json::from_slice(&fs::read(path).ok()?).ok()?;
    let since = v.get("since").and_then(Value::as_u64).or_else(|| {
        v.get("started")
            .and_then(Value::as_str)
            .and_then(rfc3339_seconds)
    });
    Some((
        u32::try_from(v.get("pid")?.as_u64()?).ok()?,
        v.get("host")?.as_str()?.to_string(),
        since,
    ))
}

/// Whether process `pid`, alive, is the one that took the lock at `since`: a process that
/// started after that (a reused pid) is not.
fn holds(pid: u32, since: Option<u64>) -> bool {
    if !alive(pid) {
        return false;
    }
    match (since, process_started(pid)) {
        // Both clocks count whole seconds (boot time is rounded): a little slack.
        (Some(since), Some(started)) => started <= since + 2,
        _ => true,
    }
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

/// Waits for the cycle of `pid` that a request was queued for.
pub fn wait_for_holder(state_dir: &Path, pid: u32, limit: std::time::Duration) -> Wait {
    let (path, queued) = (state_dir.join("lock"), state_dir.join("queued"));
    let deadline = std::time::Instant::now() + limit;
    loop {
        let same = holder(&path).is_some_and(|(p, _, since)| p == pid && holds(p, since));
        if !same {
            // Taken (by the holder's last round, or by a cycle that started since): served.
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

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `2020-01-01T00:00:00Z` (what [`crate::journal::now`] writes) as Unix seconds.
fn rfc3339_seconds(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> { text.get(r)?.parse().ok() };
    if b.len() < 19 || b[4] != b'-' || b[10] != b'T' {
        return None;
    }
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + hh * 3600 + mm * 60 + ss).ok()
}

/// When process `pid` started, in Unix seconds; `None` where that cannot be told.
fn process_started(pid: u32) -> Option<u64> {
    if let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The name (field 2) may hold spaces and parentheses: count from its end. The
        // start time is field 22, in clock ticks since boot.
        let ticks: u64 = stat
            .rsplit_once(')')?
            .1
            .split_whitespace()
            .nth(19)?
            .parse()
            .ok()?;
        let boot: u64 = fs::read_to_string("/proc/stat")
            .ok()?
            .lines()
            .find_map(|l| l.strip_prefix("btime "))?
            .trim()
            .parse()
            .ok()?;
        // SAFETY: sysconf has no preconditions.
        let hz = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).ok()?;
        return Some(boot + ticks / hz.max(1));
    }
    // No /proc (macOS): the elapsed time `ps` gives, `[[dd-]hh:]mm:ss`.
    let out = std::process::Command::new("ps")
        .args(["-o", "etime=", "-p", &pid.to_string()])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let text = text.trim();
    let (days, rest) = match text.split_once('-') {
        Some((d, r)) => (d.parse::<u64>().ok()?, r),
        None => (0, text),
    };
    let mut secs = 0;
    for part in rest.split(':') {
        secs = secs * 60 + part.parse::<u64>().ok()?;
    }
    Some(unix_now().saturating_sub(days * 86_400 + secs))
}

/// Whether process `pid` exists on this machine.
pub fn alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // Signal 0 checks existence; EPERM means it exists but is not ours.
    // SAFETY: kill with signal 0 sends nothing; it only checks the process.
    let r = unsafe { libc::kill(pid, 0) };
    let exists = r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    // A zombie (dead, not yet reaped by its parent) holds nothing.
    exists
        && !fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            stat.rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
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

    #[test]
    fn a_lock_older_than_the_process_its_pid_names_now_is_stale() {
        assert_eq!(rfc3339_seconds("1970-01-02T00:00:01Z"), Some(86_401));
        assert_eq!(rfc3339_seconds("2020-01-01T00:00:00Z"), Some(1_577_836_800));
        let me = std::process::id();
        assert!(holds(me, Some(unix_now())));
        assert!(
            !holds(me, Some(1_577_836_800)),
            "taken in 2020, by a pid reused since"
        );
        let tmp = tempfile::tempdir().unwrap();
        let lock = format!(r#"{{"pid": {me}, "host": "here", "started": "2020-01-01T00:00:00Z"}}"#);
        fs::write(tmp.path().join("lock"), lock).unwrap();
        assert!(matches!(
            Lock::acquire(tmp.path(), "here").unwrap(),
            Acquired::Held(_)
        ));
    }
}
