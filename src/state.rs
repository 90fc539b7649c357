//! What a sync cycle did (`Report`), and the last one saved as `<git dir>/aisync/state.json`
//! (`State`), which `status`, a queued request and `restore` read back.

use std::fs;
use std::path::Path;
use std::process::ExitCode;

use serde::{Deserialize, Serialize};

/// How a cycle ended; the exit status of `sync`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
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

    pub fn code(self) -> ExitCode {
        ExitCode::from(self as u8)
    }
}

/// Why a file stayed local.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldBack {
    pub path: String,
    pub reason: String,
}

/// A connected assistant's file the bridge could not bring across, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stuck {
    pub assistant: String,
    pub path: String,
    pub reason: String,
}

/// Something an assistant will run (a hook command, an MCP server's command) that an apply
/// added or changed: never silent (DESIGN §7).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Executable {
    pub assistant: String,
    /// The live file it was written to.
    pub path: String,
    /// What it is and its new value (`/hooks/Stop/0/hooks/0/command = "…"`).
    pub what: String,
    /// The machine whose change brought it.
    pub machine: String,
    /// When it was applied here.
    #[serde(default)]
    pub time: String,
}

/// Where every apply of something an assistant runs is logged, in a state dir.
pub fn executables_log(state_dir: &Path) -> std::path::PathBuf {
    state_dir.join("executables.jsonl")
}

/// The logged applies of things an assistant runs, newest last (at most `last`).
pub fn executables(state_dir: &Path, last: usize) -> Vec<Executable> {
    let text = fs::read_to_string(executables_log(state_dir)).unwrap_or_default();
    let all: Vec<Executable> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    all[all.len().saturating_sub(last)..].to_vec()
}

/// What the bridge did in a cycle (DESIGN §9).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bridged {
    /// Repository copies a live change went into.
    pub imported: Vec<String>,
    /// Live files the cycle's changes were written to.
    pub applied: Vec<String>,
    pub stuck: Vec<Stuck>,
    pub executables: Vec<Executable>,
    /// Values a merge of live and repository had to override (journaled), one line each.
    pub overrides: Vec<String>,
    /// Project keys in the repository with no checkout on this machine: they wait.
    pub waiting: Vec<String>,
}

impl Bridged {
    pub fn is_empty(&self) -> bool {
        *self == Bridged::default()
    }

    /// What an earlier pass did, then this one (stuck and waiting: this pass's word).
    pub fn then(mut self, later: Bridged) -> Bridged {
        fn add<T: PartialEq>(to: &mut Vec<T>, more: Vec<T>) {
            for m in more {
                if !to.contains(&m) {
                    to.push(m);
                }
            }
        }
        add(&mut self.imported, later.imported);
        add(&mut self.applied, later.applied);
        add(&mut self.executables, later.executables);
        add(&mut self.overrides, later.overrides);
        self.stuck = later.stuck;
        self.waiting = later.waiting;
        self
    }
}

/// What a cycle did, for `state.json`, `sync --json` and `status`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    pub outcome: Outcome,
    /// The exit status `sync` gives for it (for programs that read the JSON).
    exit: u8,
    pub message: String,
    pub committed: Option<String>,
    pub merged: Vec<String>,
    pub pushed: Vec<String>,
    /// Remotes never reached (or refusing): the commits wait.
    pub offline: Vec<String>,
    /// Of those, the ones that answered but where other machines' pushes landed first on
    /// every try.
    #[serde(default)]
    pub contended: Vec<String>,
    pub held_back: Vec<HeldBack>,
    #[serde(rename = "conflicts_recorded")]
    pub conflicts: usize,
    /// The connected assistants' side of the cycle.
    #[serde(default, skip_serializing_if = "Bridged::is_empty")]
    pub bridge: Bridged,
    /// The bridge changed a repository copy after the commit: run the cycle once more.
    #[serde(skip)]
    pub again: bool,
}

impl Report {
    pub fn new(outcome: Outcome, message: impl Into<String>) -> Report {
        Report {
            outcome,
            exit: outcome as u8,
            message: message.into(),
            committed: None,
            merged: Vec::new(),
            pushed: Vec::new(),
            offline: Vec::new(),
            contended: Vec::new(),
            held_back: Vec::new(),
            conflicts: 0,
            bridge: Bridged::default(),
            again: false,
        }
    }

    /// Says how the cycle ended (the exit status follows).
    pub fn set_outcome(&mut self, outcome: Outcome) {
        self.outcome = outcome;
        self.exit = outcome as u8;
    }
}

/// The last cycle's report, as saved, with when it ended.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct State {
    #[serde(flatten)]
    pub report: Report,
    pub time: String,
}

/// Saves `report` as the last cycle's, written whole then renamed: a reader never sees half
/// a state.
pub fn save(state_dir: &Path, report: &Report) {
    let state = State {
        report: report.clone(),
        time: crate::journal::now(),
    };
    let _ = fs::create_dir_all(state_dir);
    let tmp = state_dir.join("state.json.tmp");
    if fs::write(&tmp, serde_json::to_vec_pretty(&state).unwrap_or_default()).is_ok() {
        let _ = fs::rename(&tmp, state_dir.join("state.json"));
    }
}

/// The last cycle's state; `None` when none was saved or it cannot be read.
pub fn load(state_dir: &Path) -> Option<State> {
    serde_json::from_slice(&fs::read(state_dir.join("state.json")).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_report_reads_back_as_it_was() {
        let tmp = tempfile::tempdir().unwrap();
        let mut report = Report::new(Outcome::Synced, "one commit");
        report.set_outcome(Outcome::HeldBack);
        report.held_back.push(HeldBack {
            path: "memory/a.md".into(),
            reason: "a secret".into(),
        });
        report.pushed.push("origin".into());
        save(tmp.path(), &report);
        let text = fs::read_to_string(tmp.path().join("state.json")).unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json["outcome"], "held-back");
        assert_eq!(json["exit"], 4);
        assert_eq!(json["conflicts_recorded"], 0);
        assert!(json["time"].is_string());
        let state = load(tmp.path()).unwrap();
        assert_eq!(state.report.outcome, Outcome::HeldBack);
        assert_eq!(state.report.held_back, report.held_back);
        assert_eq!(state.report.pushed, ["origin"]);
    }
}
