//! The outcome of the last sync cycle (`<git dir>/aisync/state.json`), which `status` reads.

use std::fs;
use std::path::Path;
use std::process::ExitCode;

use serde_json::{json, Map, Value};

/// How a cycle ended; the exit status of `sync`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every remote holds the local branch's work and the other way round.
    Synced = 0,
    Error = 1,
    /// The repository is mid-operation, on another branch, or `.aisync.yml` is bad.
    Refused = 2,
    /// Local work is committed and waits for a remote that cannot be reached.
    Offline = 3,
    /// Done, but files were held back (secrets, conflict markers).
    HeldBack = 4,
}

impl Outcome {
    pub fn word(self) -> &'static str {
        match self {
            Outcome::Synced => "synced",
            Outcome::Error => "error",
            Outcome::Refused => "refused",
            Outcome::Offline => "offline",
            Outcome::HeldBack => "held-back",
        }
    }

    /// The outcome an exit status stands for.
    pub fn from_code(code: u64) -> Option<Outcome> {
        [
            Outcome::Synced,
            Outcome::Error,
            Outcome::Refused,
            Outcome::Offline,
            Outcome::HeldBack,
        ]
        .into_iter()
        .find(|o| *o as u64 == code)
    }

    pub fn code(self) -> ExitCode {
        ExitCode::from(self as u8)
    }
}

/// Why a file stayed local.
#[derive(Clone, Debug)]
pub struct HeldBack {
    pub path: String,
    pub reason: String,
}

/// What a cycle did, for `state.json`, `sync --json` and `status`.
#[derive(Debug)]
pub struct Report {
    pub outcome: Outcome,
    pub message: String,
    pub committed: Option<String>,
    pub merged: Vec<String>,
    pub pushed: Vec<String>,
    pub offline: Vec<String>,
    pub held_back: Vec<HeldBack>,
    pub conflicts: usize,
}

impl Report {
    pub fn new(outcome: Outcome, message: impl Into<String>) -> Report {
        Report {
            outcome,
            message: message.into(),
            committed: None,
            merged: Vec::new(),
            pushed: Vec::new(),
            offline: Vec::new(),
            held_back: Vec::new(),
            conflicts: 0,
        }
    }

    pub fn to_json(&self) -> Value {
        json!({
            "outcome": self.outcome.word(),
            "exit": self.outcome as u8,
            "message": self.message,
            "committed": self.committed,
            "merged": self.merged,
            "pushed": self.pushed,
            "offline": self.offline,
            "held_back": self.held_back.iter().map(|h| json!({"path": h.path, "reason": h.reason})).collect::<Vec<_>>(),
            "conflicts_recorded": self.conflicts,
        })
    }
}

pub fn save(state_dir: &Path, report: &Report) {
    let mut v = report.to_json();
    if let Value::Object(m) = &mut v {
        m.insert("time".into(), Value::from(crate::journal::now()));
    }
    let _ = fs::create_dir_all(state_dir);
    let tmp = state_dir.join("state.json.tmp");
    // Written whole, then renamed: a reader never sees half a state.
    if fs::write(&tmp, serde_json::to_vec_pretty(&v).unwrap_or_default()).is_ok() {
        let _ = fs::rename(&tmp, state_dir.join("state.json"));
    }
}

pub fn load(state_dir: &Path) -> Option<Map<String, Value>> {
    serde_json::from_slice(&fs::read(state_dir.join("state.json")).ok()?).ok()
}
