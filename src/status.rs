//! What `git aisync status` reports, collected as one typed value: this machine, its branch,
//! changes waiting by policy mode, each remote, the last cycle, the watcher, the journal.

use anyhow::Result;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::git::Repo;
use crate::journal;
use crate::policy::{Mode, Policy};
use crate::state::{self, Executable, State, Stuck};

/// The status of a synced repository on this machine.
#[derive(Debug, Serialize)]
pub struct Status {
    pub machine: String,
    pub branch: String,
    /// `ok`, or why `.aisync.yml` cannot be read.
    pub policy: String,
    /// Settings of `.aisync.yml` this version ignores (written by a newer one).
    pub policy_warnings: Vec<String>,
    pub pending: Pending,
    pub remotes: Vec<RemoteStatus>,
    pub last_sync: Option<State>,
    pub watcher: Option<Watcher>,
    pub conflicts: Conflicts,
    /// Assistants connected on this machine (DESIGN §9).
    pub assistants: Vec<AssistantStatus>,
    /// Their files that cannot be bridged now, with why and the fix.
    pub stuck: Vec<Stuck>,
    /// Project keys in the repository with no checkout on this machine (they wait).
    pub waiting: Vec<String>,
    /// The latest things an assistant runs that arrived from another machine.
    pub executables: Vec<Executable>,
}

/// A connected assistant.
#[derive(Debug, Serialize)]
pub struct AssistantStatus {
    pub name: String,
    /// Where its files are on this machine.
    pub places: Vec<String>,
    pub transcripts: bool,
}

/// Changed paths not committed yet, by the mode the policy gives them.
#[derive(Debug, Default, Serialize)]
pub struct Pending {
    pub realtime: Vec<String>,
    pub versioned: Vec<String>,
    pub never: Vec<String>,
}

/// Commits to push and to merge for one remote, as of its last fetch (`None`: never
/// fetched).
#[derive(Debug, Serialize)]
pub struct RemoteStatus {
    pub name: String,
    pub ahead: Option<usize>,
    pub behind: Option<usize>,
}

/// The running watcher, from its record.
#[derive(Debug, Serialize, Deserialize)]
pub struct Watcher {
    pub pid: u32,
    pub started: Option<String>,
    pub uptime_seconds: u64,
    pub tree: Option<String>,
    pub remotes: Value,
    pub last_event: Option<String>,
    pub last_cycle: Option<LastCycle>,
    pub cycles: u64,
}

/// The watcher's last cycle.
#[derive(Debug, Serialize, Deserialize)]
pub struct LastCycle {
    pub time: Option<String>,
    pub outcome: Option<String>,
    #[serde(flatten)]
    pub rest: serde_json::Map<String, Value>,
}

/// Records in the conflict journal: synced, and pending here (not folded yet).
#[derive(Debug, Serialize)]
pub struct Conflicts {
    pub recorded: usize,
    pub pending: usize,
}

/// Collects the status of `repo`.
pub fn collect(repo: &Repo) -> Result<Status> {
    let branch = repo
        .current_branch()?
        .unwrap_or_else(|| "(detached)".into());
    let policy = Policy::load(&repo.work_tree);
    let mut pending = Pending::default();
    if let Ok(policy) = &policy {
        for change in repo.changes()? {
            let path = crate::git::readable(&change.path).into_owned();
            // What the cycle leaves alone (an editor's swap file, the policy's ignores) is
            // no change waiting for it.
            if change.is_ignored() || policy.is_ignored(&path) {
                continue;
            }
            match policy.mode(&path) {
                _ if crate::bridge::is_bridged(&path) => pending.realtime.push(path),
                Mode::Realtime => pending.realtime.push(path),
                Mode::Versioned => pending.versioned.push(path),
                Mode::Never => pending.never.push(path),
            }
        }
    }
    let mut remotes = Vec::new();
    for name in repo.remotes()? {
        let tracking = format!("refs/remotes/{name}/{branch}");
        let counts = match repo.rev(&tracking)? {
            Some(_) => repo.ahead_behind("HEAD", &tracking).ok(),
            None => None,
        };
        remotes.push(RemoteStatus {
            name,
            ahead: counts.map(|c| c.0),
            behind: counts.map(|c| c.1),
        });
    }
    let (pending_records, _) = journal::read(&journal::pending_path(&repo.state_dir()))?;
    let (synced_records, _) = journal::read(&repo.work_tree.join(journal::SYNCED))?;
    let machine = crate::machine::name(repo);
    let last_sync = state::load(&repo.state_dir());
    let connections = crate::bridge::connections(repo);
    let (stuck, waiting) = crate::bridge::stuck_now(repo, last_sync.as_ref());
    let assistants = connections
        .iter()
        .map(|c| AssistantStatus {
            name: c.adapter.name.to_string(),
            places: crate::bridge::places_here(repo, c.adapter),
            transcripts: c.transcripts,
        })
        .collect();
    Ok(Status {
        assistants,
        stuck,
        waiting,
        executables: state::executables(&repo.state_dir(), 10),
        machine,
        branch,
        policy: match &policy {
            Ok(_) => "ok".to_string(),
            Err(e) => format!("{e:#}"),
        },
        policy_warnings: policy
            .as_ref()
            .map(|p| p.warnings.iter().map(ToString::to_string).collect())
            .unwrap_or_default(),
        pending,
        remotes,
        last_sync,
        watcher: crate::watch::running(&repo.state_dir())
            .and_then(|record| serde_json::from_value(record).ok()),
        conflicts: Conflicts {
            recorded: synced_records.len(),
            pending: pending_records.len(),
        },
    })
}
