//! What the watcher leaves for people and for `status`: the log (`watch.log`, rotated) and the
//! record of who watches, how, and what happened last (`watch.json`).

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use super::lock::watch_lock_held;
use super::Echo;

/// The log rotates past this size, keeping one old file (`watch.log.1`).
const LOG_LIMIT: u64 = 1024 * 1024;

/// `<git dir>/aisync/watch.log`, rotated by size; each line also given to the echo (the
/// command shows it to a person) when there is one.
pub(super) struct Log<'u> {
    path: PathBuf,
    echo: Option<Echo<'u>>,
}

impl<'u> Log<'u> {
    pub(super) fn new(state_dir: &Path, echo: Option<Echo<'u>>) -> Log<'u> {
        Log {
            path: state_dir.join("watch.log"),
            echo,
        }
    }

    pub(super) fn line(&self, text: &str) {
        if let Some(echo) = self.echo {
            echo(text);
        }
        if fs::metadata(&self.path).is_ok_and(|m| m.len() > LOG_LIMIT) {
            let _ = fs::rename(&self.path, self.path.with_extension("log.1"));
        }
        let line = format!("{} {}\n", crate::journal::now(), text.replace('\n', " "));
        let _ = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .and_then(|mut f| f.write_all(line.as_bytes()));
    }
}

/// What `<git dir>/aisync/watch.json` holds: who watches, how, and what happened last.
pub(super) struct Record {
    path: PathBuf,
    value: Value,
}

impl Record {
    pub(super) fn new(state_dir: &Path, tree: &str) -> Record {
        let started_unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Record {
            path: state_dir.join("watch.json"),
            value: json!({
                "pid": std::process::id(),
                "host": crate::machine::host_name(),
                "started": crate::journal::now(),
                "started_unix": started_unix,
                "tree": tree,
                "remotes": [],
                "last_event": null,
                "last_cycle": null,
                "cycles": 0,
            }),
        }
    }

    pub(super) fn set(&mut self, key: &str, value: Value) {
        self.value[key] = value;
    }

    /// A cycle ran: one more, and this one the last.
    pub(super) fn cycle(&mut self, last: Value) {
        let cycles = self.value["cycles"].as_u64().unwrap_or(0) + 1;
        self.set("cycles", cycles.into());
        self.set("last_cycle", last);
    }

    /// Written whole, then renamed: `status` never reads half a record.
    pub(super) fn save(&self) {
        let tmp = self.path.with_extension("json.tmp");
        if fs::write(
            &tmp,
            serde_json::to_vec_pretty(&self.value).unwrap_or_default(),
        )
        .is_ok()
        {
            let _ = fs::rename(&tmp, &self.path);
        }
    }
}

/// The running watcher of a repository, as `status` shows it: its record with `uptime_seconds`
/// added, or `None` when no watcher runs (never started, stopped, or its process is gone).
pub fn running(state_dir: &Path) -> Option<Value> {
    let mut v: Value =
        serde_json::from_slice(&fs::read(state_dir.join("watch.json")).ok()?).ok()?;
    // The lock says whether a watcher runs; a pid alone cannot (it may be reused).
    if !v["stopped"].is_null() || !watch_lock_held(state_dir) {
        return None;
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let uptime = now.saturating_sub(v["started_unix"].as_u64().unwrap_or(now));
    v["uptime_seconds"] = uptime.into();
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_keeps_one_old_file() {
        let dir = std::env::temp_dir().join(format!("aisync-watch-log-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let log = Log {
            path: dir.join("watch.log"),
            echo: None,
        };
        fs::write(&log.path, vec![b'x'; LOG_LIMIT as usize + 1]).unwrap();
        log.line("after the limit");
        let old = fs::metadata(dir.join("watch.log.1")).unwrap().len();
        assert_eq!(old, LOG_LIMIT + 1);
        let new = fs::read_to_string(&log.path).unwrap();
        assert!(
            new.ends_with(" after the limit\n") && new.lines().count() == 1,
            "{new}"
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
