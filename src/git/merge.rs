//! Merges into the working tree (git runs the drivers) and pushes, each failure a caller
//! must act on told apart by exit codes and porcelain output, never by git's messages.

use std::collections::HashSet;

use super::error::{Blocked, GitError};
use super::{nul_split, GitPath, Repo};

/// How to merge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MergeHow {
    /// Only a fast-forward.
    FastForwardOnly,
    /// A real merge that stops before committing (the caller concludes it), histories
    /// without a common commit allowed or not.
    NoCommit { allow_unrelated: bool },
}

/// A merge that git carried out: whatever it could not resolve is left in the index for
/// the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Merged {
    /// Nothing was left to resolve (or it was a fast-forward).
    Clean,
    /// Paths are left unmerged (or the merge stopped with `MERGE_HEAD`) for the caller.
    Conflicted,
}

impl Repo {
    /// Merges `theirs` into the branch checked out, with `settings` (`-c key=value`) in force
    /// for this one command. A merge git refuses, changing nothing, is
    /// [`GitError::MergeBlocked`] (a person's uncommitted edits or untracked files in the
    /// way) or [`GitError::UnrelatedHistories`].
    pub fn merge(
        &self,
        theirs: &str,
        how: MergeHow,
        settings: &[(String, String)],
    ) -> Result<Merged, GitError> {
        let mut args = vec!["merge", "--quiet"];
        match how {
            MergeHow::FastForwardOnly => args.push("--ff-only"),
            MergeHow::NoCommit { allow_unrelated } => {
                args.extend(["--no-ff", "--no-commit"]);
                if allow_unrelated {
                    args.push("--allow-unrelated-histories");
                }
            }
        }
        args.push(theirs);
        let leading: Vec<String> = settings
            .iter()
            .flat_map(|(k, v)| ["-c".to_string(), format!("{k}={v}")])
            .collect();
        let out = self.git_committing(args).leading(leading).output()?;
        let in_progress = self.git_dir.join("MERGE_HEAD").exists();
        if out.success {
            return Ok(if in_progress && !self.unmerged_paths()?.is_empty() {
                Merged::Conflicted
            } else {
                Merged::Clean
            });
        }
        if in_progress || !self.unmerged_paths()?.is_empty() {
            return Ok(Merged::Conflicted);
        }
        // git stopped before touching anything. Why, from what the repository says.
        let head = self.read_ref("HEAD");
        let base = match &head {
            Some(head) => {
                let out = self.git(["merge-base", head, theirs]).output()?;
                match out.code {
                    Some(0) => Some(out.stdout.trim().to_string()),
                    // Exit 1: no common commit.
                    Some(1)
                        if how
                            != (MergeHow::NoCommit {
                                allow_unrelated: true,
                            }) =>
                    {
                        return Err(GitError::UnrelatedHistories)
                    }
                    _ => None,
                }
            }
            None => None,
        };
        let real_merge = matches!(how, MergeHow::NoCommit { .. });
        let blocked = self.in_the_way(base.as_deref(), theirs, real_merge)?;
        if !blocked.is_empty() {
            return Err(GitError::MergeBlocked { paths: blocked });
        }
        Err(GitError::failed("git merge".into(), &out.stderr))
    }

    /// The paths with conflict stages in the index.
    fn unmerged_paths(&self) -> Result<Vec<GitPath>, GitError> {
        let out = self
            .git(["diff", "--name-only", "-z", "--diff-filter=U"])
            .output_bytes()?;
        Ok(nul_split(&out.stdout).map(GitPath::from).collect())
    }

    /// The local changes a merge of `theirs` (from `base`; none: every path it has) would
    /// overwrite: paths it changes that have uncommitted edits here, or that it brings
    /// where an untracked file stands; for a `real_merge`, also anything staged (git merges
    /// three ways only on an index that matches HEAD).
    fn in_the_way(
        &self,
        base: Option<&str>,
        theirs: &str,
        real_merge: bool,
    ) -> Result<Vec<Blocked>, GitError> {
        let incoming = match base {
            Some(base) => self
                .git(["diff", "--name-only", "-z", "--no-renames", base, theirs])
                .run_bytes()?,
            None => self
                .git(["ls-tree", "-r", "-z", "--name-only", theirs])
                .run_bytes()?,
        };
        let incoming: HashSet<&[u8]> = nul_split(&incoming).collect();
        let under_incoming = |path: &[u8]| {
            incoming.contains(path)
                || path
                    .iter()
                    .enumerate()
                    .any(|(i, &b)| b == b'/' && incoming.contains(&path[..i]))
        };
        Ok(self
            .changes()
            .map_err(|e| GitError::Failed {
                command: "git status".into(),
                message: format!("{e:#}"),
            })?
            .into_iter()
            .filter(|e| {
                !e.is_ignored() && (under_incoming(&e.path) || (real_merge && e.is_staged()))
            })
            .map(|e| Blocked {
                untracked: e.is_untracked(),
                path: e.path.to_vec(),
            })
            .collect())
    }

    /// Pushes `refspec` to `remote`. A refusal is [`GitError::PushRejected`] (read from the
    /// porcelain status lines: `!` is a rejected ref); any other failure (the remote cannot
    /// be reached) is [`GitError::Failed`].
    pub fn push(&self, remote: &str, refspec: &str) -> Result<(), GitError> {
        let out = self
            .git_remote(["push", "--porcelain", remote, refspec])
            .output()?;
        if out.success {
            return Ok(());
        }
        // `<flag>\t<from>:<to>\t<summary> (<reason>)`; the summaries are git's fixed
        // porcelain words, not translated.
        let rejected = out.stdout.lines().find_map(|line| {
            let mut fields = line.split('\t');
            (fields.next() == Some("!")).then(|| fields.nth(1).unwrap_or("").to_string())
        });
        match rejected {
            Some(summary) => Err(GitError::PushRejected {
                // Another machine moved the branch first: git's own check (`[rejected]`), or
                // the remote's ref lock taken by a push landing at the same moment
                // (`[remote rejected] (failed to update ref)`, `(failed to lock)` from an
                // older git; its `cannot lock ref` goes to stderr).
                raced: summary.starts_with("[rejected]")
                    || summary.contains("failed to update ref")
                    || summary.contains("failed to lock")
                    || out.stderr.contains("cannot lock ref"),
                reason: summary,
            }),
            None => Err(GitError::failed("git push".into(), &out.stderr)),
        }
    }
}
