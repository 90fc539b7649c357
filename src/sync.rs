//! The sync cycle (DESIGN §3): under the repository lock, refuse a repository that is in the
//! middle of something; commit what the policy lets the cycle commit (never a `never` path, a
//! secret or a file with conflict markers); then for each remote fetch, merge with the
//! drivers (a snapshot first), and push, retrying when another machine pushed first. Never a
//! force push, never a rewrite, never a lost side.

use std::fs;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::gate;
use crate::journal;
use crate::lock::{Acquired, Lock};
use crate::peer;
use crate::policy::{Mode, Policy};
use crate::remote;
use crate::repo::Repo;
use crate::resolve;
use crate::scanner;
use crate::snapshot;
use crate::state::{self, HeldBack, Outcome, Report};

/// Set in the environment of every git command a cycle runs: the hooks see it and start no
/// other cycle (no loops, no storms).
pub const IN_CYCLE: &str = "AISYNC_CYCLE";

/// Set with [`IN_CYCLE`] when the cycle's git commands must run the hooks after all (LFS).
pub const KEEP_HOOKS: &str = "AISYNC_CYCLE_KEEPS_HOOKS";

/// A path the cycle commits, and whether it is new to git (then it removed nothing).
type Change = (String, bool);

/// Tries of fetch-merge-push when another machine keeps pushing first.
const PUSH_TRIES: u32 = 6;

/// Stops the process at a named step when the test environment asks (crash tests).
fn checkpoint(step: &str) {
    if std::env::var("AISYNC_TEST_CRASH_AT").is_ok_and(|s| s == step) {
        // SAFETY: raising SIGKILL on ourselves: what a power cut looks like to the repo.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}

/// One full cycle (and once more for every request queued while it ran).
pub fn sync(repo: &Repo, only_remote: Option<&str>) -> Report {
    // SAFETY (edition 2021 API): set before any thread of ours starts.
    std::env::set_var(IN_CYCLE, "1");
    // git-lfs uploads its objects from a pre-push hook: with LFS in use the cycle keeps the
    // hooks (ours see the cycle and stand aside), or other machines would get pointers to
    // objects that exist nowhere else.
    if repo.any_setting(|key| key.starts_with("filter.lfs.")) {
        std::env::set_var(KEEP_HOOKS, "1");
    } else {
        std::env::remove_var(KEEP_HOOKS);
    }
    let machine = machine(repo);
    let lock = match Lock::acquire(&repo.state_dir(), &crate::install::host_name()) {
        Ok(Acquired::Held(lock)) => lock,
        Ok(Acquired::Queued { pid }) => {
            return Report::new(
                Outcome::Synced,
                format!("a sync is running (pid {pid}); this request is queued and it will run once more"),
            );
        }
        Err(e) => return Report::new(Outcome::Error, format!("{e:#}")),
    };
    loop {
        let report = match Cycle::new(repo, &machine).and_then(|c| c.run(only_remote)) {
            Ok(r) => r,
            Err(e) => Report::new(Outcome::Error, format!("{e:#}")),
        };
        state::save(&repo.state_dir(), &report);
        if !lock.take_queued() || report.outcome == Outcome::Refused {
            return report;
        }
    }
}

/// This machine's name (`aisync.machine`, else the host name).
pub fn machine(repo: &Repo) -> String {
    repo.setting("aisync.machine")
        .map(str::to_string)
        .unwrap_or_else(crate::install::host_name)
}

struct Cycle<'r> {
    repo: &'r Repo,
    machine: &'r str,
}

impl<'r> Cycle<'r> {
    fn new(repo: &'r Repo, machine: &'r str) -> Result<Cycle<'r>> {
        Ok(Cycle { repo, machine })
    }

    fn run(&self, only_remote: Option<&str>) -> Result<Report> {
        let repo = self.repo;
        // A merge of ours that a crash interrupted is finished first.
        let ours_interrupted =
            repo.git_dir.join("MERGE_HEAD").exists() && merging_marker(repo).exists();
        if let Some(why) = self.refusal(ours_interrupted)? {
            return Ok(Report::new(Outcome::Refused, why));
        }
        let policy = match Policy::load(&repo.work_tree) {
            Ok(p) => p,
            Err(e) => return Ok(Report::new(Outcome::Refused, format!("{e:#}"))),
        };
        self.clear_stale_index_lock()?;
        let branch = repo.head_branch().context("HEAD is detached")?;
        let mut report = Report::new(Outcome::Synced, "");
        if ours_interrupted {
            self.finish_merge(&mut report, "an interrupted merge")?;
        }

        let (to_stage, held) = self.changes_to_commit(&policy)?;
        report.held_back = held;
        checkpoint("staged");
        let before = repo.read_ref("HEAD");
        if !to_stage.is_empty() {
            report.committed = self.commit(&to_stage)?;
        }
        // The cycle's own commit holds only what it scanned as it staged.
        let own = report.committed.clone().map(|c| (before, c));
        checkpoint("committed");

        // What peers delivered to this machine's inbox merges first, then goes on with ours.
        for (sender, tip) in repo.refs_under(peer::INBOX) {
            self.merge("inbox", &sender, &tip, &mut report)?;
        }
        let remotes: Vec<String> = repo
            .remotes()?
            .into_iter()
            .filter(|r| only_remote.is_none_or(|o| o == r))
            .collect();
        for remote in &remotes {
            self.sync_remote(remote, &branch, own.as_ref(), &mut report)?;
        }
        if !report.merged.is_empty() {
            let _ = snapshot::prune(repo);
        }

        report.outcome = if !report.offline.is_empty() {
            Outcome::Offline
        } else if !report.held_back.is_empty() {
            Outcome::HeldBack
        } else {
            Outcome::Synced
        };
        report.message = summary(&report, &remotes);
        Ok(report)
    }

    /// Why this repository must not be touched now, if it must not.
    fn refusal(&self, ours_interrupted: bool) -> Result<Option<String>> {
        let gd = &self.repo.git_dir;
        let busy = [
            ("MERGE_HEAD", "a merge"),
            ("rebase-merge", "a rebase"),
            ("rebase-apply", "a rebase or git am"),
            ("CHERRY_PICK_HEAD", "a cherry-pick"),
            ("REVERT_HEAD", "a revert"),
            ("BISECT_LOG", "a bisect"),
        ];
        for (file, what) in busy {
            if file == "MERGE_HEAD" && ours_interrupted {
                continue;
            }
            if gd.join(file).exists() {
                return Ok(Some(format!(
                    "the repository is in the middle of {what}: finish or abort it (git status says how); nothing was changed"
                )));
            }
        }
        let Some(branch) = self.repo.head_branch() else {
            return Ok(Some(
                "HEAD is detached: check out the synced branch; nothing was changed".into(),
            ));
        };
        let synced = self.repo.setting("aisync.branch").map(str::to_string);
        if let Some(synced) = synced.filter(|s| *s != branch) {
            return Ok(Some(format!(
                "on branch {branch}, but git-aisync syncs {synced}: git checkout {synced} (or git config aisync.branch {branch}); nothing was changed"
            )));
        }
        Ok(None)
    }

    /// A lock file left by a git that died is removed; one a live git holds is waited for.
    /// Where no git process is working in this repository and none has the lock open (read
    /// from `/proc`) it is stale after a few seconds; where that cannot be told, only when
    /// old (a live git never holds the index that long).
    fn clear_stale_index_lock(&self) -> Result<()> {
        let lock = self.repo.git_dir.join("index.lock");
        let Ok(meta) = fs::metadata(&lock) else {
            return Ok(());
        };
        let age = meta
            .modified()
            .ok()
            .and_then(|m| m.elapsed().ok())
            .unwrap_or_default();
        let stale = match crate::lock::git_may_hold(&lock, &self.repo.work_tree) {
            Some(held) => !held && age > Duration::from_secs(5),
            None => age > Duration::from_secs(600),
        };
        if stale {
            fs::remove_file(&lock)
                .with_context(|| format!("cannot remove the stale {}", lock.display()))?;
            Ok(())
        } else {
            anyhow::bail!(
                "another git command holds {} (for {}s); the next cycle tries again",
                lock.display(),
                age.as_secs()
            )
        }
    }

    /// The changed paths the cycle may commit, and the ones it holds back.
    /// (What is new to git is marked: it removed nothing.)
    fn changes_to_commit(&self, policy: &Policy) -> Result<(Vec<Change>, Vec<HeldBack>)> {
        let allow = scanner::Allow::load(&self.repo.work_tree);
        let mut stage = Vec::new();
        let mut held = Vec::new();
        for (status, path) in self.repo.changes()? {
            if policy.mode(&path) != Mode::Realtime
                || policy.is_ignored(&path)
                || path.starts_with(".credentials/")
                || status == "!!"
            {
                continue;
            }
            let file = self.repo.work_tree.join(&path);
            let new = status == "??" || status.starts_with('A');
            if status.contains('D') || !file.exists() {
                stage.push((path, false));
                continue;
            }
            let Ok(bytes) = fs::read(&file) else { continue };
            if merge_drivers::text::has_conflict_markers(&bytes, 7) {
                held.push(HeldBack {
                    path,
                    reason: "holds conflict markers: resolve them, then it syncs".into(),
                });
                continue;
            }
            let secrets = scanner::scan_allowed(&path, &bytes, &allow);
            if let Some(f) = secrets.first() {
                held.push(HeldBack {
                    reason: format!(
                        "line {}, column {}: {} ({}); it stays on this machine",
                        f.line, f.column, f.rule, f.redacted
                    ),
                    path,
                });
                continue;
            }
            stage.push((path, new));
        }
        Ok((stage, held))
    }

    /// Commits `paths` (and the journal of what they removed); returns the new commit.
    fn commit(&self, changed: &[Change]) -> Result<Option<String>> {
        let repo = self.repo;
        let tracked: Vec<String> = changed
            .iter()
            .filter(|c| !c.1)
            .map(|c| c.0.clone())
            .collect();
        let removed = self.removed_content(&tracked)?;
        let mut paths: Vec<String> = changed.iter().map(|c| c.0.clone()).collect();
        if !removed.is_empty() {
            journal::append(&repo.work_tree.join(journal::SYNCED), &removed)?;
            paths.push(journal::SYNCED.to_string());
        }
        repo.add_paths(&paths)?;
        let mut names: Vec<&str> = paths
            .iter()
            .map(String::as_str)
            .filter(|p| *p != journal::SYNCED)
            .collect();
        names.sort_unstable();
        let shown = if names.len() > 5 {
            format!("{} and {} more", names[..5].join(", "), names.len() - 5)
        } else {
            names.join(", ")
        };
        let message = format!("aisync({}): {shown}", self.machine);
        if !repo.commit_paths(&message, &paths)? {
            return Ok(None);
        }
        Ok(repo.read_ref("HEAD"))
    }

    /// Records and blocks an automatic commit removes from memory files, journaled with the
    /// machine that removed them (an assistant rewriting a file from a stale copy must not
    /// silently delete what other machines added).
    fn removed_content(
        &self,
        paths: &[String],
    ) -> Result<Vec<serde_json::Map<String, serde_json::Value>>> {
        let time = journal::now();
        let mut entries = Vec::new();
        for path in paths {
            let memory = [".md", ".json", ".jsonl", ".yml", ".yaml"]
                .iter()
                .any(|e| path.ends_with(e));
            if !memory || path == journal::SYNCED {
                continue;
            }
            let Some(old) = self.repo.head_blob(path)? else {
                continue;
            };
            let new = fs::read(self.repo.work_tree.join(path)).unwrap_or_default();
            let removed = removed_lines(&old, &new);
            if removed.is_empty() {
                continue;
            }
            let text = removed.join("\n");
            let mut m = serde_json::Map::new();
            m.insert(
                "id".into(),
                journal::content_id(&format!("{path}\0{text}\0{}", self.machine)).into(),
            );
            m.insert("path".into(), path.clone().into());
            m.insert("location".into(), "(removed lines)".into());
            m.insert("base".into(), text.into());
            m.insert("rule".into(), "removed-by-commit".into());
            m.insert("machine".into(), self.machine.into());
            m.insert("time".into(), time.clone().into());
            entries.push(m);
        }
        Ok(entries)
    }

    fn sync_remote(
        &self,
        remote: &str,
        branch: &str,
        own: Option<&(Option<String>, String)>,
        report: &mut Report,
    ) -> Result<()> {
        let repo = self.repo;
        let url = repo.remote_url(remote).unwrap_or_default();
        let insecure_ok = repo.flag("aisync.allowInsecureTransport") == Some(true);
        // Every URL: git pushes to all of a remote's URLs.
        let insecure = repo
            .remote_urls(remote)
            .into_iter()
            .find(|u| u.starts_with("http://") || u.starts_with("git://"));
        if let Some(insecure) = insecure.filter(|_| !insecure_ok) {
            report.offline.push(remote.to_string());
            anyhow::bail!("{remote} ({insecure}) is not encrypted: use https:// or ssh://, or set aisync.allowInsecureTransport");
        }
        let tracking = format!("refs/remotes/{remote}/{branch}");
        for attempt in 0..PUSH_TRIES {
            // Ask what the remote has first: fetch only when it moved. A hub on this
            // machine answers from its ref files, anything else through `git ls-remote`.
            let remote_tip = match remote::tip_from_files(repo, remote, branch) {
                Some(tip) => tip,
                None => {
                    let listed = repo.git_remote([
                        "ls-remote",
                        "--heads",
                        remote,
                        &format!("refs/heads/{branch}"),
                    ])?;
                    if !listed.success {
                        if let Some(fix) = needs_a_person(&listed.stderr, &url) {
                            anyhow::bail!("{remote}: {fix}");
                        }
                        report.offline.push(remote.to_string());
                        return Ok(());
                    }
                    listed.stdout.split_whitespace().next().map(str::to_string)
                }
            };
            if remote_tip.is_some() && remote_tip != repo.read_ref(&tracking) {
                let fetched = repo.git_remote([
                    "fetch",
                    "--quiet",
                    "--no-tags",
                    remote,
                    &format!("+refs/heads/{branch}:{tracking}"),
                ])?;
                if !fetched.success {
                    report.offline.push(remote.to_string());
                    return Ok(());
                }
            }
            checkpoint("fetched");
            let theirs = remote_tip.and_then(|_| repo.read_ref(&tracking));
            if let Some(theirs) = &theirs {
                self.merge(remote, branch, theirs, report)?;
            }
            let head = repo.read_ref("HEAD");
            if head.is_none() || head == theirs {
                return Ok(());
            }
            let only_ours = own
                .is_some_and(|(before, after)| *before == theirs && head.as_ref() == Some(after));
            if let Some(why) = (!only_ours)
                .then(|| self.secrets_in_push(theirs.as_deref()))
                .transpose()?
                .flatten()
            {
                report.held_back.push(HeldBack {
                    path: "(commits to push)".into(),
                    reason: why,
                });
                return Ok(());
            }
            // A peer (a machine's working repository) gets our commits in its inbox, never
            // in the branch it has checked out.
            let peer = peer::is_peer(repo, remote);
            let target = if peer {
                format!("{}{}", peer::INBOX, self.machine)
            } else {
                format!("refs/heads/{branch}")
            };
            let pushed =
                repo.git_remote(["push", "--porcelain", remote, &format!("HEAD:{target}")])?;
            checkpoint("pushed");
            if pushed.success {
                // Keep the tracking ref in step even when the remote has no fetch refspec.
                if let Some(h) = head
                    .as_ref()
                    .filter(|h| !peer && repo.read_ref(&tracking).as_ref() != Some(*h))
                {
                    let _ = repo.git(["update-ref", &tracking, h]);
                }
                report.pushed.push(remote.to_string());
                return Ok(());
            }
            let text = format!("{}{}", pushed.stdout, pushed.stderr);
            if !peer && (text.contains("checked out") || text.contains("denyCurrentBranch")) {
                // A non-bare origin: a machine cloned straight from another machine's repo.
                peer::mark(repo, remote)?;
                let peer_target = format!("HEAD:{}{}", peer::INBOX, self.machine);
                if repo
                    .git_remote(["push", "--porcelain", remote, &peer_target])?
                    .success
                {
                    report.pushed.push(remote.to_string());
                    return Ok(());
                }
            }
            let raced = [
                "[rejected]",
                "non-fast-forward",
                "fetch first",
                "stale info",
                "cannot lock ref",
            ]
            .iter()
            .any(|s| text.contains(s));
            if !raced {
                report.offline.push(remote.to_string());
                return Ok(());
            }
            // Another machine pushed first: fetch, merge, push again, after a jittered wait.
            std::thread::sleep(backoff(attempt));
        }
        report.offline.push(remote.to_string());
        Ok(())
    }

    /// Merges `theirs` into the branch: fast-forward when we have nothing of our own, else a
    /// real merge (the drivers run), with a snapshot of our tip first.
    fn merge(&self, remote: &str, branch: &str, theirs: &str, report: &mut Report) -> Result<()> {
        let repo = self.repo;
        let Some(head) = repo.read_ref("HEAD") else {
            repo.run(["merge", "--quiet", "--ff-only", theirs])?;
            report.merged.push(remote.to_string());
            return Ok(());
        };
        if head == theirs || repo.is_ancestor(theirs, &head)? {
            return Ok(());
        }
        snapshot::save(repo, &format!("aisync: before merging {remote}/{branch}"))?;
        if repo.is_ancestor(&head, theirs)? {
            repo.run(["merge", "--quiet", "--ff-only", "--autostash", theirs])?;
            report.merged.push(remote.to_string());
            return Ok(());
        }
        fs::write(merging_marker(repo), theirs).context("cannot mark the merge in progress")?;
        checkpoint("merging");
        let out = repo.run_committing_unchecked(&[
            "merge",
            "--no-ff",
            "--no-commit",
            "--autostash",
            theirs,
        ])?;
        if !out.success && repo.unmerged()?.is_empty() && !repo.git_dir.join("MERGE_HEAD").exists()
        {
            let _ = fs::remove_file(merging_marker(repo));
            anyhow::bail!("cannot merge {remote}/{branch}: {}", out.stderr.trim());
        }
        self.finish_merge(report, &format!("{remote}/{branch}"))?;
        report.merged.push(remote.to_string());
        Ok(())
    }

    /// Resolves what no driver could, folds the journal into the merge, commits it.
    fn finish_merge(&self, report: &mut Report, what: &str) -> Result<()> {
        let repo = self.repo;
        let resolved = resolve::resolve_all(repo)?;
        let time = journal::now();
        let entries: Vec<_> = resolved
            .iter()
            .filter(|r| r.rule != "same-content")
            .map(|r| resolve::entry(r, self.machine, &time))
            .collect();
        let synced = repo.work_tree.join(journal::SYNCED);
        journal::append(&synced, &entries)?;
        let state = crate::git_dir::Repo {
            git_dir: repo.git_dir.clone(),
            work_tree: Some(repo.work_tree.clone()),
        };
        let folded = journal::fold(&state, &repo.work_tree)?;
        report.conflicts += folded + entries.len();
        if synced.exists() {
            repo.add_paths(&[journal::SYNCED.to_string()])?;
        }
        checkpoint("merged");
        repo.run_committing(&[
            "commit",
            "--quiet",
            "--no-verify",
            "--no-edit",
            "-m",
            &format!("aisync({}): merge {what}", self.machine),
        ])?;
        let _ = fs::remove_file(merging_marker(repo));
        Ok(())
    }

    /// Secrets in the commits about to be pushed (whatever the hooks did).
    fn secrets_in_push(&self, theirs: Option<&str>) -> Result<Option<String>> {
        let range = match theirs {
            Some(t) => vec![format!("{t}..HEAD")],
            None => vec!["HEAD".to_string()],
        };
        let range: Vec<&str> = range.iter().map(String::as_str).collect();
        Ok(gate::commits(self.repo, &range)?.first().map(|f| {
            format!(
                "a commit to push adds a secret ({}); nothing was pushed: `git aisync quarantine` drops it from the unpublished commits and keeps the file here",
                f.line()
            )
        }))
    }
}

/// A remote that answered but will not let us in is no passing outage: it needs a person,
/// and the message says what to do.
fn needs_a_person(stderr: &str, url: &str) -> Option<String> {
    let host = url
        .split_once("://")
        .map_or(url, |(_, rest)| rest)
        .split(['/', ':'])
        .next()
        .unwrap_or(url);
    if stderr.contains("Host key verification failed")
        || stderr.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
    {
        return Some(format!(
            "the SSH host key of {host} is not known (or changed): check it and accept it once with `ssh {host}`, then sync again"
        ));
    }
    if stderr.contains("Permission denied") {
        return Some(format!(
            "{host} refused this machine's SSH key: add it there (ssh-copy-id {host}) or name the right key in ~/.ssh/config"
        ));
    }
    // (A path remote that is not there may be an unmounted drive: that is offline.)
    None
}

fn merging_marker(repo: &Repo) -> std::path::PathBuf {
    repo.state_dir().join("merging")
}

/// 50 ms doubling, with ±50 % jitter so racing machines spread out.
fn backoff(attempt: u32) -> Duration {
    let base = 50u64 << attempt.min(6);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let jitter = u64::from((nanos ^ std::process::id()) % 1000);
    Duration::from_millis(base / 2 + base * jitter / 1000)
}

/// Lines of `old` that `new` no longer has (blank and bracket-only lines aside).
fn removed_lines(old: &[u8], new: &[u8]) -> Vec<String> {
    let keep = |l: &&str| {
        let t = l.trim().trim_end_matches(',');
        !t.is_empty() && !t.chars().all(|c| "{}[],".contains(c)) && t != "---"
    };
    let old = String::from_utf8_lossy(old);
    let new = String::from_utf8_lossy(new);
    let mut left: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for l in new.lines() {
        *left.entry(l.trim().trim_end_matches(',')).or_insert(0) += 1;
    }
    old.lines()
        .filter(keep)
        .filter(|l| match left.get_mut(l.trim().trim_end_matches(',')) {
            Some(n) if *n > 0 => {
                *n -= 1;
                false
            }
            _ => true,
        })
        .map(str::to_string)
        .collect()
}

fn summary(r: &Report, remotes: &[String]) -> String {
    let mut parts = Vec::new();
    if r.committed.is_some() {
        parts.push("committed local changes".to_string());
    }
    if !r.merged.is_empty() {
        parts.push(format!("merged {}", r.merged.join(", ")));
    }
    if !r.pushed.is_empty() {
        parts.push(format!("pushed to {}", r.pushed.join(", ")));
    }
    if !r.offline.is_empty() {
        parts.push(format!(
            "{} unreachable: local commits wait for the next cycle",
            r.offline.join(", ")
        ));
    }
    if !r.held_back.is_empty() {
        parts.push(format!("{} file(s) held back", r.held_back.len()));
    }
    if parts.is_empty() {
        parts.push(
            if remotes.is_empty() {
                "nothing to do (no remote)"
            } else {
                "up to date"
            }
            .to_string(),
        );
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removed_lines_ignore_layout() {
        let old = b"{\n  \"facts\": [\n    \"a\",\n    \"b\"\n  ]\n}\n";
        let new = b"{\n  \"facts\": [\n    \"a\"\n  ]\n}\n";
        assert_eq!(removed_lines(old, new), ["    \"b\""]);
        assert!(removed_lines(b"- a\n- b\n", b"- b\n- a\n").is_empty());
    }
}
