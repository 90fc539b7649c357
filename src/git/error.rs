//! The failures of git commands that callers tell apart, decided from exit codes and
//! porcelain output (never from git's messages, which are translated).

use std::fmt;

/// Why a git operation did not do what was asked.
#[derive(Debug)]
pub enum GitError {
    /// git could not be started, or not waited for.
    Spawn(std::io::Error),
    /// The child ran past its time limit and was killed.
    TimedOut { secs: u64 },
    /// The command failed; `message` is git's first line of complaint (for people).
    Failed { command: String, message: String },
    /// A merge would overwrite these paths' uncommitted edits or untracked files; git
    /// refused and changed nothing.
    MergeBlocked { paths: Vec<Blocked> },
    /// The two histories share no commit.
    UnrelatedHistories,
    /// A commit of the given paths would change nothing.
    NothingToCommit,
    /// The remote refused the push: another machine pushed first (`raced`), or it refuses
    /// for a reason of its own (`reason`, as the remote gave it, e.g. a checked-out branch).
    PushRejected { raced: bool, reason: String },
}

/// A path a merge would overwrite, and what is there now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blocked {
    pub path: Vec<u8>,
    /// An untracked file (else: a tracked one with uncommitted edits).
    pub untracked: bool,
}

impl GitError {
    /// A failed command, with the first line of what it said.
    pub fn failed(command: String, stderr: &str) -> GitError {
        let message = stderr
            .trim()
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no message")
            .to_string();
        GitError::Failed { command, message }
    }
}

impl fmt::Display for GitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GitError::Spawn(e) => write!(f, "cannot run git ({e}): is it installed and on PATH?"),
            GitError::TimedOut { secs } => {
                write!(f, "git took longer than {secs}s and was stopped")
            }
            GitError::Failed { command, message } => write!(f, "{command} failed: {message}"),
            GitError::MergeBlocked { paths } => {
                let names: Vec<_> = paths
                    .iter()
                    .map(|b| String::from_utf8_lossy(&b.path).into_owned())
                    .collect();
                write!(
                    f,
                    "the merge would overwrite local changes to {}",
                    names.join(", ")
                )
            }
            GitError::UnrelatedHistories => write!(f, "the two histories share no commit"),
            GitError::NothingToCommit => write!(f, "nothing to commit"),
            GitError::PushRejected { reason, .. } => write!(f, "the push was rejected: {reason}"),
        }
    }
}

impl std::error::Error for GitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            GitError::Spawn(e) => Some(e),
            _ => None,
        }
    }
}
