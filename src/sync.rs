//! The sync cycle (DESIGN §3): under the repository lock, refuse a repository that is in the
//! middle of something; commit what the policy lets the cycle commit (never a `never` path, a
//! secret or a file with conflict markers); then for each remote fetch, merge with the
//! drivers (a snapshot first), and push, retrying when another machine pushed first. Never a
//! force push, never a rewrite, never a lost side.

use std::fs;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::bridge::{self, Bridge};
use crate::gate;
use crate::git::{
    os_path, readable, Blocked, GitError, GitPath, IndexChange, IndexEntry, MergeHow, Repo,
};
use crate::journal;
use crate::lock::{self, Acquired, Lock, Wait};
use crate::peer;
use crate::policy::{Mode, Policy};
use crate::remote;
use crate::resolve;
use crate::scanner;
use crate::snapshot;
use crate::state::{self, HeldBack, Outcome, Report};

/// Git config naming the remote whose unrelated history the next cycle merges: set by an
/// `init` that could not reach its hub (it began a history of its own), cleared once merged.
/// Any other unrelated history is refused: a wrong URL must not merge a stranger's repo.
pub const PENDING_JOIN: &str = "aisync.pendingJoin";

/// How long a queued request waits for the cycle that runs it.
const QUEUE_WAIT: Duration = Duration::from_secs(15 * 60);

/// Passes of one cycle when each applies an assistant's write merged meanwhile (it is
/// committed by the next pass; a third means the assistant keeps writing: the next cycle).
const BRIDGE_PASSES: u32 = 3;

/// How long a cycle goes back to fetch-merge-push while other machines' pushes keep
/// landing first. Each landed push moves the hub on for the others, so with many machines
/// pushing at once (64 on one hub) the last ones need many tries: bounded by time, not by
/// a count that a crowd always exhausts.
const PUSH_PATIENCE: Duration = Duration::from_secs(20);

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
    sync_knowing(repo, only_remote, &Known::new())
}

/// Remote tips a caller heard of moments ago (remote name → commit): the watcher's
/// notify-wait sessions and checks. Where one is known the cycle asks no `git ls-remote`
/// first: over SSH each question is a round trip. Wrong (the remote moved again) costs
/// nothing: a push it rejects is retried after asking, a move not fetched is heard next.
pub type Known = std::collections::HashMap<String, String>;

/// [`sync`], first trusting `known` for where remotes stand.
pub fn sync_knowing(repo: &Repo, only_remote: Option<&str>, known: &Known) -> Report {
    cycles(repo, only_remote, known, false)
}

/// Only what other machines did: fetch, merge, apply to the connected assistants' files;
/// nothing of this machine's is committed or pushed (the watcher or the next cycle does
/// that). What an assistant's session-start hook runs.
pub fn pull(repo: &Repo) -> Report {
    cycles(repo, None, &Known::new(), true)
}

fn cycles(repo: &Repo, only_remote: Option<&str>, known: &Known, pull_only: bool) -> Report {
    let _cycle = repo.enter_cycle();
    let machine = crate::machine::name(repo);
    let lock = loop {
        match Lock::acquire(&repo.state_dir()) {
            Ok(Acquired::Held(lock)) => break lock,
            // The running cycle runs once more for this request: wait for it and say how it
            // ended, so the exit status keeps DESIGN §3's meaning (0: every remote holds
            // this machine's work) rather than claiming a sync that has not happened yet.
            Ok(Acquired::Queued { pid }) => {
                match lock::wait_for_holder(&repo.state_dir(), QUEUE_WAIT) {
                    Wait::Served => return served_by(repo, pid),
                    Wait::Free => std::thread::sleep(Duration::from_millis(20)),
                    Wait::TooLong => {
                        return Report::new(
                            Outcome::Error,
                            format!(
                                "a sync (pid {pid}) has run for over {} minutes; this request stays queued for it (if it hangs: kill {pid})",
                                QUEUE_WAIT.as_secs() / 60
                            ),
                        )
                    }
                }
            }
            Err(e) => return Report::new(Outcome::Error, format!("{e:#}")),
        }
    };
    let mut known = known.clone();
    // What the bridge did in passes before this one (a pass that merged an assistant's
    // write into a copy runs once more, to commit and push it).
    let mut bridged = state::Bridged::default();
    let mut passes = 0;
    loop {
        let cycle = Cycle::new(repo, &machine, std::mem::take(&mut known), pull_only);
        let mut report = match cycle.and_then(|c| c.run(only_remote)) {
            Ok(r) => r,
            Err(e) => Report::new(Outcome::Error, format!("{e:#}")),
        };
        passes += 1;
        let again = std::mem::take(&mut report.again) && passes < BRIDGE_PASSES;
        report.bridge = bridged.then(std::mem::take(&mut report.bridge));
        state::save(&repo.state_dir(), &report);
        if again {
            bridged = std::mem::take(&mut report.bridge);
            continue;
        }
        if !lock.take_queued() || report.outcome == Outcome::Refused {
            return report;
        }
        bridged = state::Bridged::default();
    }
}

/// The outcome of the cycle (of process `pid`) that did a queued request's work.
fn served_by(repo: &Repo, pid: u32) -> Report {
    let Some(saved) = state::load(&repo.state_dir()) else {
        return Report::new(
            Outcome::Error,
            format!("the sync of pid {pid} that ran this request left no outcome"),
        );
    };
    let saved = saved.report;
    let mut report = Report::new(
        saved.outcome,
        format!(
            "done by the sync that was running (pid {pid}): {}",
            saved.message
        ),
    );
    report.held_back = saved.held_back;
    report
}

struct Cycle<'r> {
    repo: &'r Repo,
    machine: &'r str,
    /// The commit this cycle made, if it made one.
    made: std::cell::RefCell<Option<Made>>,
    /// Where remotes stood moments ago, as the caller heard ([`Known`]).
    known: Known,
    /// Fetch, merge and apply only ([`pull`]).
    pull_only: bool,
}

/// A commit of the cycle's own and exactly what it adds to its parent, known from building
/// it: the push scan reads those blobs again without asking git for the diff.
struct Made {
    commit: String,
    parent: Option<String>,
    /// (path, blob id) of every file the commit adds or changes.
    added: Vec<(GitPath, String)>,
}

impl<'r> Cycle<'r> {
    fn new(repo: &'r Repo, machine: &'r str, known: Known, pull_only: bool) -> Result<Cycle<'r>> {
        Ok(Cycle {
            repo,
            machine,
            made: std::cell::RefCell::new(None),
            known,
            pull_only,
        })
    }

    fn run(&self, only_remote: Option<&str>) -> Result<Report> {
        let repo = self.repo;
        // A merge of ours that a crash interrupted is finished first: ours only when the
        // marker names the commit being merged. Any other marker is stale (a person's own
        // merge is theirs to finish, and is refused below).
        let marker = fs::read_to_string(merging_marker(repo)).ok();
        let merging = fs::read_to_string(repo.git_dir.join("MERGE_HEAD")).ok();
        let ours_interrupted = match (&marker, &merging) {
            (Some(m), Some(h)) => h.lines().next().map(str::trim) == Some(m.trim()),
            _ => false,
        };
        if marker.is_some() && !ours_interrupted {
            let _ = fs::remove_file(merging_marker(repo));
        }
        if let Some(why) = self.refusal(ours_interrupted)? {
            return Ok(Report::new(Outcome::Refused, why));
        }
        let policy = match Policy::load(&repo.work_tree) {
            Ok(p) => p,
            Err(e) => return Ok(Report::new(Outcome::Refused, format!("{e:#}"))),
        };
        let remotes: Vec<String> = repo
            .remotes()?
            .into_iter()
            .filter(|r| only_remote.is_none_or(|o| o == r))
            .collect();
        if let (Some(name), true) = (only_remote, remotes.is_empty()) {
            return Ok(Report::new(
                Outcome::Error,
                format!("there is no remote named {name} (with a URL): `git remote -v` lists them; nothing was changed"),
            ));
        }
        self.clear_stale_index_lock()?;
        let branch = repo.head_branch().context("HEAD is detached")?;
        let mut report = Report::new(Outcome::Synced, "");
        if ours_interrupted {
            self.finish_merge(&mut report, "an interrupted merge")?;
        }

        // Connected assistants' live changes go into their repository copies first, to be
        // committed with the rest.
        let bridge = Bridge::new(repo, self.machine);
        if !self.pull_only {
            if let Some(bridge) = &bridge {
                bridge.import(&mut report);
            }
            report.committed = self.commit_local(&policy, &mut report)?;
        }

        // What peers delivered to this machine's inbox merges first, then goes on with ours.
        for (sender, tip) in repo.refs_under(peer::INBOX) {
            let _ = self.merge("inbox", &sender, &tip, &mut report)?;
        }
        // One remote that needs a person (an insecure URL, a refused key) does not keep the
        // others from syncing: its error is reported after they have had their turn.
        let mut errors = Vec::new();
        for remote in &remotes {
            if let Err(e) = self.sync_remote(remote, &branch, &mut report) {
                errors.push(format!("{e:#}"));
            }
        }
        if !report.merged.is_empty() {
            let _ = snapshot::prune(repo);
        }
        // Last, what the cycle changed goes to the live files.
        if let Some(bridge) = &bridge {
            report.again = bridge.apply(&mut report);
        }

        report.set_outcome(if !errors.is_empty() {
            Outcome::Error
        } else if !report.offline.is_empty() {
            Outcome::Offline
        } else if !report.held_back.is_empty() {
            Outcome::HeldBack
        } else {
            Outcome::Synced
        });
        report.message = summary(&report, &remotes);
        for e in errors {
            report.message.push_str("; ");
            report.message.push_str(&e);
        }
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

    /// Commits what changed locally, as the policy allows: the changed paths are staged in a
    /// scratch index on HEAD (a person's own staging is never swept in), the staged blobs
    /// are scanned (not the files: a writer may change one between the scan and the commit)
    /// and what holds a secret or conflict markers is taken out again and reported. What
    /// the commit removes from memory files, and the drivers' records a person's pull,
    /// rebase or stash left pending, are journaled in the same commit. Returns the commit.
    fn commit_local(&self, policy: &Policy, report: &mut Report) -> Result<Option<String>> {
        let repo = self.repo;
        let base = repo.read_ref("HEAD");
        let synced = GitPath::from(journal::SYNCED.as_bytes());
        let (mut present, mut gone) = (Vec::new(), Vec::new());
        let mut journal_changed = false;
        let mut seen = std::collections::HashSet::new();
        for change in repo.changes()? {
            let path = change.path;
            let name = readable(&path);
            if path == synced {
                journal_changed = true;
                continue;
            }
            if change.status == *b"!!"
                || (policy.mode(&name) != Mode::Realtime && !bridge::is_bridged(&name))
                || policy.is_ignored(&name)
                || name.starts_with(".credentials/")
                || !seen.insert(path.clone())
            {
                continue;
            }
            // A staged deletion or rename (`D ` and `A `), a file deleted, a file that is a
            // folder now (its files come as entries of their own): each leaves the index.
            match fs::symlink_metadata(repo.work_tree.join(os_path(&path))) {
                Ok(m) if !m.is_dir() => present.push(path),
                _ => gone.push(path),
            }
        }
        // Records from a person's `git pull --rebase`, cherry-pick or stash pop (no
        // post-merge ran): folded whenever there are any, not only when the cycle merges.
        let folded = journal::fold(&repo.state_dir(), &repo.work_tree)?;
        report.conflicts += folded;
        journal_changed |= folded > 0;
        if present.is_empty() && gone.is_empty() && !journal_changed {
            return Ok(None);
        }

        let scratch = repo.scratch_index(base.as_deref())?;
        scratch.remove(&gone)?;
        scratch.add(&present)?;
        let mut changes = scratch.changes(base.as_deref())?;
        // What is staged, read back once: the blobs to scan, and what a change replaced.
        let is_file = |e: &IndexEntry| e.mode != "0" && e.mode != "160000";
        let mut ids: Vec<&str> = Vec::new();
        for c in &changes {
            if is_file(&c.after) {
                ids.push(&c.after.oid);
            }
            if is_file(&c.before) && is_memory(&c.before.path) {
                ids.push(&c.before.oid);
            }
        }
        let mut blobs: std::collections::HashMap<String, Vec<u8>> =
            std::collections::HashMap::new();
        for (id, bytes) in ids.iter().zip(repo.blobs(&ids)?) {
            blobs.insert(id.to_string(), bytes);
        }
        let allow = scanner::Allow::load(&repo.work_tree);
        let mut reverted = Vec::new();
        changes.retain(|c| {
            let Some(bytes) = blobs.get(&c.after.oid).filter(|_| is_file(&c.after)) else {
                return true;
            };
            // Quoted where the name needs it (a line break in it, say): this is a message.
            let path = gate::shown(&c.after.path);
            // As the file's driver sees it (a Markdown fence showing markers is content).
            let kind = crate::install::kind_of(&c.after.path);
            let reason = if merge_drivers::has_conflict_markers(kind, bytes, 7) {
                "holds conflict markers: resolve them, then it syncs".to_string()
            } else if let Some(f) = scanner::scan_allowed(&path, bytes, &allow).first() {
                format!(
                    "line {}, column {}: {} ({}); it stays on this machine",
                    f.line, f.column, f.rule, f.redacted
                )
            } else {
                return true;
            };
            report.held_back.push(HeldBack { path, reason });
            reverted.push(c.before.clone());
            false
        });
        scratch.set(&reverted)?;
        checkpoint("staged");

        let removed = self.removed_content(&changes, &blobs);
        let journal_file = repo.work_tree.join(journal::SYNCED);
        journal::append(&journal_file, &removed)?;
        journal_changed |= !removed.is_empty();
        // Where the commit puts the journal (its blob id is read back below).
        let journal_entry = (journal_changed && journal_file.exists()).then(|| synced.clone());
        if let Some(j) = &journal_entry {
            scratch.add(std::slice::from_ref(j))?;
        }
        let tree = scratch.write_tree()?;
        // The index entries of every path the cycle took: what `changes` says, and for the
        // rest (the journal, a file whose content is HEAD's all along) the scratch index's.
        let held: std::collections::HashSet<&[u8]> =
            reverted.iter().map(|e| e.path.as_bytes()).collect();
        let mut taken: Vec<GitPath> = present
            .into_iter()
            .chain(gone)
            .filter(|p| !held.contains(p.as_bytes()))
            .collect();
        if journal_changed {
            taken.push(synced);
        }
        let mut entries: Vec<IndexEntry> = changes.iter().map(|c| c.after.clone()).collect();
        let unknown: Vec<GitPath> = taken
            .iter()
            .filter(|p| !entries.iter().any(|e| &e.path == *p))
            .cloned()
            .collect();
        entries.extend(scratch.entries(&unknown)?);
        for path in unknown {
            if !entries.iter().any(|e| e.path == path) {
                entries.push(IndexEntry {
                    mode: "0".into(),
                    oid: String::new(),
                    path,
                });
            }
        }
        let commit = if scratch.base_tree.as_deref() == Some(tree.as_str()) {
            None
        } else {
            let mut names: Vec<String> = changes
                .iter()
                .map(|c| readable(&c.after.path).into_owned())
                .collect();
            names.sort_unstable();
            let listed = match names.len() {
                0 => "conflict journal".to_string(),
                1..=5 => names.join(", "),
                n => format!("{} and {} more", names[..5].join(", "), n - 5),
            };
            let message = format!("aisync({}): {listed}", self.machine);
            let commit = repo.commit_tree(&tree, base.as_deref(), &message)?;
            repo.advance_head(&commit, base.as_deref(), &format!("commit: {message}"))?;
            checkpoint("committed");
            let journal = journal_entry.as_ref();
            let added = entries
                .iter()
                .filter(|e| {
                    is_file(e)
                        && (changes.iter().any(|c| c.after.path == e.path)
                            || Some(&e.path) == journal)
                })
                .map(|e| (e.path.clone(), e.oid.clone()))
                .collect();
            *self.made.borrow_mut() = Some(Made {
                commit: commit.clone(),
                parent: base.clone(),
                added,
            });
            Some(commit)
        };
        // The repository's index follows for every path the cycle took, so a person's `git
        // status` shows nothing there (and a cycle killed after its commit is mended by the
        // next). A failure here loses nothing: the next cycle sees those paths and sets them.
        // Their file times are left for the next `git status` to record (it compares the
        // content of an entry without them, as a refresh would): one git process less.
        let _ = repo.stage_entries(&entries);
        // HEAD's tree is the scratch index's now (committed, or the same as before).
        scratch.keep(&tree);
        Ok(commit)
    }

    /// This repository as the journal module knows it.
    /// Records and blocks an automatic commit removes from memory files, journaled with the
    /// machine that removed them (an assistant rewriting a file from a stale copy must not
    /// silently delete what other machines added).
    fn removed_content(
        &self,
        changes: &[IndexChange],
        blobs: &std::collections::HashMap<String, Vec<u8>>,
    ) -> Vec<serde_json::Map<String, serde_json::Value>> {
        let time = journal::now();
        let mut entries = Vec::new();
        for c in changes {
            let Some(old) = blobs
                .get(&c.before.oid)
                .filter(|_| is_memory(&c.before.path))
            else {
                continue;
            };
            let new = match c.after.mode.as_str() {
                "0" => &[][..],
                _ => blobs.get(&c.after.oid).map_or(&[][..], Vec::as_slice),
            };
            let kind = crate::install::kind_of(&c.before.path);
            let removed = crate::removed::removed(kind, old, new);
            if removed.is_empty() {
                continue;
            }
            let path = readable(&c.before.path).into_owned();
            let text = removed.join("\n");
            let mut m = serde_json::Map::new();
            m.insert(
                "id".into(),
                journal::content_id(&format!("{path}\0{text}\0{}", self.machine)).into(),
            );
            m.insert("path".into(), path.into());
            m.insert("location".into(), "(removed content)".into());
            m.insert("base".into(), text.into());
            m.insert("rule".into(), "removed-by-commit".into());
            m.insert("machine".into(), self.machine.into());
            m.insert("time".into(), time.clone().into());
            entries.push(m);
        }
        entries
    }

    fn sync_remote(&self, remote: &str, branch: &str, report: &mut Report) -> Result<()> {
        let repo = self.repo;
        let url = repo.remote_url(remote).unwrap_or_default();
        // Every URL the cycle fetches from or pushes to (`pushurl`, `pushInsteadOf`).
        let insecure = match gate::insecure_push_url(repo, remote)? {
            Some(u) => Some(u),
            None => repo
                .remote_urls(remote)
                .into_iter()
                .find(|u| crate::url::is_insecure(u))
                .filter(|_| repo.flag("aisync.allowInsecureTransport") != Some(true)),
        };
        if let Some(insecure) = insecure {
            anyhow::bail!("{remote} ({insecure}) is not encrypted: use https:// or ssh://, or set aisync.allowInsecureTransport");
        }
        let tracking = format!("refs/remotes/{remote}/{branch}");
        let started = std::time::Instant::now();
        for attempt in 0.. {
            // Ask what the remote has first: fetch only when it moved. A hub on this
            // machine answers from its ref files; else what the caller heard moments ago
            // (first try only: a rejected push means it moved since); else `git ls-remote`.
            let heard = self.known.get(remote).filter(|_| attempt == 0);
            let remote_tip = match remote::tip_from_files(repo, remote, branch) {
                Some(tip) => tip,
                None if heard.is_some() => heard.cloned(),
                None => {
                    let listed = repo
                        .git_remote([
                            "ls-remote",
                            "--heads",
                            remote,
                            &format!("refs/heads/{branch}"),
                        ])
                        .output()?;
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
                let fetched = repo
                    .git_remote([
                        "fetch",
                        "--quiet",
                        "--no-tags",
                        remote,
                        &format!("+refs/heads/{branch}:{tracking}"),
                    ])
                    .output()?;
                if !fetched.success {
                    report.offline.push(remote.to_string());
                    return Ok(());
                }
            }
            checkpoint("fetched");
            let theirs = remote_tip.and_then(|_| repo.read_ref(&tracking));
            // Held back by a person's edits, the merge waits; a hub would refuse our push
            // (not a fast-forward), a peer's inbox takes it all the same.
            if let Some(theirs) = &theirs {
                if !self.merge(remote, branch, theirs, report)? && !peer::is_peer(repo, remote) {
                    return Ok(());
                }
            }
            let head = repo.read_ref("HEAD");
            if head.is_none() || head == theirs || self.pull_only {
                return Ok(());
            }
            // A peer whose branch holds our tree (whose commits we did not merge, their
            // tree being ours) needs nothing: delivering would only start a round of
            // equal-tree commits travelling back and forth.
            let peer = peer::is_peer(repo, remote);
            if let (true, Some(theirs), Some(head)) = (peer, &theirs, &head) {
                if self.same_tree(head, theirs)? && !repo.is_ancestor(theirs, head)? {
                    return Ok(());
                }
            }
            // Every push, the cycle's own commit included (DESIGN §3): it was scanned as
            // staged, but the push is the last gate and must not take that on trust.
            if let Some(why) = self.secrets_in_push(theirs.as_deref())? {
                report.held_back.push(HeldBack {
                    path: "(commits to push)".into(),
                    reason: why,
                });
                return Ok(());
            }
            // A peer (a machine's working repository) gets our commits in its inbox, never
            // in the branch it has checked out.
            let target = if peer {
                format!("{}{}", peer::INBOX, self.machine)
            } else {
                format!("refs/heads/{branch}")
            };
            let pushed = repo.push(remote, &format!("HEAD:{target}"));
            checkpoint("pushed");
            if pushed.is_ok() {
                // Keep the tracking ref in step even when the remote has no fetch refspec.
                if let Some(h) = head
                    .as_ref()
                    .filter(|h| !peer && repo.read_ref(&tracking).as_ref() != Some(*h))
                {
                    let _ = repo.git(["update-ref", &tracking, h]).output();
                }
                report.pushed.push(remote.to_string());
                return Ok(());
            }
            let raced = match pushed {
                Err(GitError::PushRejected { raced, reason }) => {
                    // A non-bare origin: a machine cloned straight from another machine's
                    // repo refuses a push to the branch it has checked out.
                    if !peer && reason.contains("checked out") {
                        peer::mark(repo, remote)?;
                        let peer_target = format!("HEAD:{}{}", peer::INBOX, self.machine);
                        if repo.push(remote, &peer_target).is_ok() {
                            report.pushed.push(remote.to_string());
                            return Ok(());
                        }
                    }
                    raced
                }
                Err(GitError::Spawn(e)) => return Err(e.into()),
                _ => false,
            };
            if !raced {
                report.offline.push(remote.to_string());
                return Ok(());
            }
            // Another machine pushed first: fetch, merge, push again, after a jittered wait.
            let wait = backoff(attempt);
            if started.elapsed() + wait > PUSH_PATIENCE {
                break;
            }
            std::thread::sleep(wait);
        }
        // Reachable, but another machine's push landed first every time: the commits wait
        // for the next cycle, as for an unreachable remote, and the message says why.
        report.offline.push(remote.to_string());
        report.contended.push(remote.to_string());
        Ok(())
    }

    /// Merges `theirs` into the branch: fast-forward when we have nothing of our own, else a
    /// real merge (the drivers run), with a snapshot of our tip first. False when the merge
    /// waits because it would overwrite a person's uncommitted edits or untracked files
    /// (reported as held back; nothing changed).
    fn merge(&self, remote: &str, branch: &str, theirs: &str, report: &mut Report) -> Result<bool> {
        let repo = self.repo;
        let what = format!("{remote}/{branch}");
        let Some(head) = repo.read_ref("HEAD") else {
            return match repo.merge(theirs, MergeHow::FastForwardOnly, &[]) {
                Ok(_) => {
                    report.merged.push(remote.to_string());
                    Ok(true)
                }
                Err(GitError::MergeBlocked { paths }) => {
                    hold_back(&paths, report);
                    Ok(false)
                }
                Err(e) => Err(anyhow::anyhow!("cannot merge {what}: {e}")),
            };
        };
        if head == theirs || repo.is_ancestor(theirs, &head)? {
            return Ok(true);
        }
        let fast_forward = repo.is_ancestor(&head, theirs)?;
        // From a peer or an inbox, a commit whose tree is HEAD's is already integrated: a
        // merge commit of two equal trees would only be delivered back, merged again, and
        // so on for ever between peers. Nothing is lost, the content is the same. (A bare
        // hub's tip must be merged all the same: our push has to fast-forward it.)
        let from_peer = remote == "inbox" || peer::is_peer(repo, remote);
        if !fast_forward && from_peer && self.same_tree(&head, theirs)? {
            return Ok(true);
        }
        let snapshot = snapshot::save(repo, &format!("aisync: before merging {what}"))?;
        // Unrelated histories come from an `init` that could not reach its hub and began one
        // of its own: merged when init said so (every file then is an add/add with an empty
        // base, which the drivers and the resolver handle, keeping both sides).
        let joining = repo.setting(PENDING_JOIN) == Some(remote);
        let how = if fast_forward {
            MergeHow::FastForwardOnly
        } else {
            fs::write(merging_marker(repo), theirs).context("cannot mark the merge in progress")?;
            checkpoint("merging");
            MergeHow::NoCommit {
                allow_unrelated: joining,
            }
        };
        // No --autostash: a stash that does not pop cleanly leaves the person's edit in a
        // stash and the repository mid-conflict. git refuses, changing nothing, a merge that
        // would overwrite uncommitted edits or untracked files; the merge then waits.
        match repo.merge(theirs, how, &[]) {
            Ok(_) => {}
            Err(e) => {
                let _ = fs::remove_file(merging_marker(repo));
                return match e {
                    GitError::MergeBlocked { paths } => {
                        hold_back(&paths, report);
                        if let Some(name) = &snapshot {
                            let _ = snapshot::discard(repo, name);
                        }
                        Ok(false)
                    }
                    GitError::UnrelatedHistories => Err(anyhow::anyhow!(
                        "{what} shares no history with this repository: check the remote's URL; to merge the two anyway, run `git config {PENDING_JOIN} {remote}` and sync again"
                    )),
                    e => Err(anyhow::anyhow!("cannot merge {what}: {e}")),
                };
            }
        }
        if !fast_forward {
            self.finish_merge(report, &what)?;
            if joining {
                let _ = repo.config_unset(PENDING_JOIN);
            }
        }
        report.merged.push(remote.to_string());
        Ok(true)
    }

    /// Whether commits `a` and `b` hold the same tree.
    fn same_tree(&self, a: &str, b: &str) -> Result<bool> {
        let a = self.repo.tree_of(a)?;
        Ok(a.is_some() && a == self.repo.tree_of(b)?)
    }

    /// Concludes the merge in progress and leaves no marker of it.
    fn finish_merge(&self, report: &mut Report, what: &str) -> Result<()> {
        let message = format!("aisync({}): merge {what}", self.machine);
        report.conflicts += conclude_merge(self.repo, self.machine, &message)?;
        let _ = fs::remove_file(merging_marker(self.repo));
        Ok(())
    }

    /// Secrets in the commits about to be pushed (whatever the hooks did). When that is
    /// exactly the commit this cycle made on `theirs`, what it adds is known (no git
    /// process lists it) and read again for the scan.
    fn secrets_in_push(&self, theirs: Option<&str>) -> Result<Option<String>> {
        let head = self.repo.read_ref("HEAD");
        let found = match (&*self.made.borrow(), theirs) {
            (Some(made), Some(theirs))
                if head.as_deref() == Some(made.commit.as_str())
                    && made.parent.as_deref() == Some(theirs) =>
            {
                gate::added(self.repo, &made.added)?
            }
            _ => {
                let range = match theirs {
                    Some(t) => vec![format!("{t}..HEAD")],
                    None => vec!["HEAD".to_string()],
                };
                let range: Vec<&str> = range.iter().map(String::as_str).collect();
                gate::commits(self.repo, &range)?
            }
        };
        Ok(found.first().map(|f| {
            format!(
                "a commit to push adds a secret ({}); nothing was pushed: `git aisync quarantine` drops it from the unpublished commits and keeps the file here",
                f.line()
            )
        }))
    }
}

/// Concludes a merge left uncommitted (`--no-commit`), the cycle's or `init`'s join: what no
/// driver could merge keeps every version (resolve, case-only name clashes included), the
/// resolutions and the drivers' records go into the synced journal, and the merge is
/// committed with them as `message`. Returns how many records were journaled.
pub fn conclude_merge(repo: &Repo, machine: &str, message: &str) -> Result<usize> {
    let mut resolved = resolve::resolve_all(repo)?;
    resolved.extend(resolve::case_clashes(repo)?);
    let time = journal::now();
    let entries: Vec<_> = resolved
        .iter()
        .filter(|r| r.rule != "same-content")
        .map(|r| resolve::entry(r, machine, &time))
        .collect();
    let synced = repo.work_tree.join(journal::SYNCED);
    journal::append(&synced, &entries).context("cannot write the conflict journal")?;
    let folded = journal::fold(&repo.state_dir(), &repo.work_tree)
        .context("cannot fold the merge's records")?;
    if synced.exists() {
        repo.add_paths(&[journal::SYNCED.to_string()])?;
    }
    checkpoint("merged");
    repo.git_committing([
        "commit",
        "--quiet",
        "--no-verify",
        "--no-edit",
        "-m",
        message,
    ])
    .run()?;
    Ok(folded + entries.len())
}

/// A remote that answered but will not let us in is no passing outage: it needs a person,
/// and the message says what to do.
fn needs_a_person(stderr: &str, url: &str) -> Option<String> {
    // As a person types it to ssh and ssh-copy-id: `-p 2222 me@host` keeps the port.
    let host = crate::url::host(url);
    if stderr.contains("Host key verification failed")
        || stderr.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
    {
        return Some(format!(
            "the SSH host key of {host} is not known (or changed): check it and accept it once with `ssh {host}`, then sync again"
        ));
    }
    // An HTTPS hub that wants a credential: a wrong one, or none (prompts are off).
    if [
        "Authentication failed",
        "could not read Username",
        "could not read Password",
        "returned error: 401",
        "returned error: 403",
    ]
    .iter()
    .any(|m| stderr.contains(m))
    {
        return Some(format!(
            "{host} refused this machine's credentials, or got none (git never prompts here): store the right ones for {url} with your credential helper (git config credential.helper; a first `git fetch` in a terminal asks for them), then sync again"
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

/// A merge git refused because it would overwrite uncommitted edits or untracked files (it
/// changed nothing then): each such path is reported as held back, with what to do.
fn hold_back(blocked: &[Blocked], report: &mut Report) {
    for b in blocked {
        let path = gate::shown(&b.path);
        let reason = if b.untracked {
            format!("an incoming change needs the path of the untracked {path}: move it away or commit it; the incoming change waits")
        } else {
            format!("an incoming change touches {path}, which has uncommitted edits here: commit or stash your edits to {path}; the incoming change waits")
        };
        if !report.held_back.iter().any(|h| h.path == path) {
            report.held_back.push(HeldBack { path, reason });
        }
    }
}

/// Memory files: what an automatic commit removes from these is journaled.
fn is_memory(path: &[u8]) -> bool {
    [".md", ".json", ".jsonl", ".yml", ".yaml"]
        .iter()
        .any(|e| path.ends_with(e.as_bytes()))
        && path != journal::SYNCED.as_bytes()
}

fn merging_marker(repo: &Repo) -> std::path::PathBuf {
    repo.state_dir().join("merging")
}

/// 50 ms doubling, with ±50 % jitter so racing machines spread out.
fn backoff(attempt: u32) -> Duration {
    let base = 50u64 << attempt.min(5);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let jitter = u64::from((nanos ^ std::process::id()) % 1000);
    Duration::from_millis(base / 2 + base * jitter / 1000)
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
    let (contended, unreachable): (Vec<&String>, Vec<&String>) =
        r.offline.iter().partition(|o| r.contended.contains(o));
    if !unreachable.is_empty() {
        let names: Vec<&str> = unreachable.iter().map(|s| s.as_str()).collect();
        parts.push(format!(
            "{} unreachable: local commits wait for the next cycle",
            names.join(", ")
        ));
    }
    if !contended.is_empty() {
        let names: Vec<&str> = contended.iter().map(|s| s.as_str()).collect();
        parts.push(format!(
            "other machines' pushes to {} kept landing first for {}s: local commits wait for the next cycle",
            names.join(", "),
            PUSH_PATIENCE.as_secs()
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
