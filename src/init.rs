//! Making a folder a synced repository: `git init` if needed, the recommended layout, the
//! policy, `install`, a first commit, and with a remote the upstream and the first push
//! (joining a hub that already has history is the common case).

use std::fs;
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::git::{GitError, MergeHow, Repo};
use crate::install;
use crate::policy::{self, Policy};
use crate::snapshot;

/// The folders `init` makes, each with a README saying what belongs there.
pub const LAYOUT: [(&str, &str); 6] = [
    ("rules", "Shared guidelines for assistants (coding rules, house style). Versioned: commit by hand; pushed after each commit."),
    ("configs", "Tool configurations (MCP servers, editor and agent settings). Versioned: commit by hand; pushed after each commit."),
    ("docs", "Documentation for people and assistants. Versioned: commit by hand; pushed after each commit."),
    ("memory", "Assistant memory: notes, learned facts, memory banks (Markdown, JSON, YAML). Realtime: committed and pushed within a second of each change, and merged by format when two machines edit one file."),
    ("logs", "Session logs (JSONL). Realtime: appends from every machine are all kept, in time order."),
    (".credentials", "Secrets (tokens, keys). Never committed, never pushed: this folder is in .gitignore and git-aisync refuses to commit it."),
];

pub enum Pushed {
    /// No remote was given.
    NoRemote,
    /// The branch is on the remote and tracks it.
    Yes(String),
    /// The remote could not be reached: local commits wait for the next sync.
    Offline(String),
}

pub struct Initialized {
    pub repo: Repo,
    pub branch: String,
    pub committed: bool,
    pub joined: bool,
    pub pushed: Pushed,
}

pub fn init(dir: &Path, remote: Option<&str>, exe: &Path) -> Result<Initialized> {
    // A path to a hub means a path from here, not from DIR.
    let remote = remote.map(absolute_remote).transpose()?;
    if let Some(url) = &remote {
        crate::url::refuse_insecure(url)?;
        if crate::url::is_plain_path(url) && !Path::new(url).exists() {
            bail!("there is no repository at {url}: check the path, or make a hub there first with `git init --bare {url}`");
        }
    }
    if dir.exists() {
        refuse_git_dir(dir)?;
    }
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let dir = dir
        .canonicalize()
        .with_context(|| format!("cannot read {}", dir.display()))?;
    let top = crate::git::git_in(&dir, ["rev-parse", "--show-toplevel"]).output()?;
    let fresh = !top.success;
    if top.success && Path::new(top.stdout.trim_end_matches('\n')) != dir {
        bail!(
            "{} is inside the repository at {}: run init at its top, or choose a folder outside it",
            dir.display(),
            top.stdout.trim()
        );
    }
    if fresh {
        let out = crate::git::git_in(&dir, ["init", "-q", "-b", "main"]).output()?;
        if !out.success {
            bail!(
                "git init failed in {}: {}",
                dir.display(),
                one_line(&out.stderr)
            );
        }
    }
    let repo = Repo::discover(&dir)?;

    // Join the hub's history first, so the layout lands on top of it.
    let mut joined = false;
    let mut unreachable = None;
    if let Some(url) = &remote {
        let added = match repo.config_get("remote.origin.url")? {
            Some(existing) if existing != *url => bail!(
                "this repository's origin is {existing}, not {url}: remove it with `git remote remove origin` or leave out --remote"
            ),
            Some(_) => false,
            None => {
                repo.git(["remote", "add", "origin", url]).run()?;
                true
            }
        };
        match join(&repo, url, exe) {
            Ok(Joined::Yes) => joined = true,
            Ok(Joined::EmptyHub) => {}
            Ok(Joined::Unreachable(why)) => unreachable = Some(why),
            Err(e) => {
                // A retry with another URL must not meet this one.
                if added {
                    let _ = repo.git(["remote", "remove", "origin"]).output();
                }
                return Err(e);
            }
        }
    }

    let mut paths = scaffold(&repo.work_tree)?;
    let policy = Policy::load(&repo.work_tree)?;
    install::install(&repo, exe, &policy)?;
    paths.push(".gitattributes".to_string());

    // Init's commit and push are git-aisync's own work, as the join's merge is: their hooks
    // start no background sync (which would race init's own first push to the hub and win).
    let cycle = repo.enter_cycle();
    // Only what init wrote: whatever the person had staged stays staged, uncommitted.
    repo.add_paths(&paths)?;
    let mut diff = vec!["diff", "--cached", "--quiet", "--"];
    diff.extend(paths.iter().map(String::as_str));
    let changed = !repo.has_commits()? || !repo.git(&diff).output()?.success;
    let machine = repo.config_get("aisync.machine")?.unwrap_or_default();
    let committed = changed
        && match repo.commit_paths(&format!("git-aisync: set up on {machine}"), &paths) {
            Ok(()) => true,
            Err(GitError::NothingToCommit) => false,
            Err(e) => return Err(e.into()),
        };
    let branch = repo
        .current_branch()?
        .context("HEAD is detached; check out a branch and run init again")?;
    if repo.config_get("aisync.branch")?.as_deref() != Some(branch.as_str()) {
        repo.config_set("aisync.branch", &branch)?;
    }

    // The push runs the hooks: pre-push scans what it publishes (history older than init
    // may hold a secret) and refuses a clear-text push URL; no hook of a push starts a cycle.
    drop(cycle);
    let pushed = match (&remote, unreachable) {
        (None, _) => Pushed::NoRemote,
        (Some(_), Some(why)) => {
            // The history begun here shares nothing with the hub's: the first cycle that
            // reaches it merges the two (only then, only from origin; see sync.rs).
            repo.config_set(crate::sync::PENDING_JOIN, "origin")?;
            Pushed::Offline(why)
        }
        (Some(_), None) => {
            let out = repo
                .git_remote(["push", "--quiet", "-u", "origin", &branch])
                .output()?;
            if out.success {
                Pushed::Yes(branch.clone())
            } else {
                Pushed::Offline(one_line(&out.stderr))
            }
        }
    };
    Ok(Initialized {
        repo,
        branch,
        committed,
        joined,
        pushed,
    })
}

enum Joined {
    /// The hub's history is merged in (or checked out), on the hub's branch.
    Yes,
    /// The hub has no commits yet: ours will be its first.
    EmptyHub,
    /// The hub cannot be reached now: everything works locally, the join waits.
    Unreachable(String),
}

/// Brings the hub's history into this repository, losslessly: on the hub's branch, with the
/// merge drivers and the hub's attributes in force, and every version of a file no driver
/// could merge kept (as the sync cycle keeps them).
fn join(repo: &Repo, url: &str, exe: &Path) -> Result<Joined> {
    let _cycle = repo.enter_cycle();
    let branch = match remote_branch(repo)? {
        Ok(Some(branch)) => branch,
        Ok(None) => return Ok(Joined::EmptyHub),
        Err(why) => return Ok(Joined::Unreachable(why)),
    };
    let fetched = repo
        .git_remote(["fetch", "--quiet", "origin", &branch])
        .output()?;
    if !fetched.success {
        return Ok(Joined::Unreachable(one_line(&fetched.stderr)));
    }
    let theirs = format!("refs/remotes/origin/{branch}");
    if repo.rev(&theirs)?.is_none() {
        // A remote without the usual fetch refspec: keep what was fetched ourselves.
        repo.git(["update-ref", &theirs, "FETCH_HEAD"]).run()?;
    }

    // The hub's branch is the synced one: a repository on another branch name moves to it
    // (its own branch stays as it is), or the machines would split.
    match repo.current_branch()? {
        Some(current) if current == branch => {}
        _ if !repo.has_commits()? => {
            repo.git(["symbolic-ref", "HEAD", &format!("refs/heads/{branch}")])
                .run()?;
        }
        current => {
            if repo.rev(&format!("refs/heads/{branch}"))?.is_some() {
                bail!(
                    "this repository is on {}, and the hub syncs {branch}, which is a branch here too: `git checkout {branch}` (merge what you need into it), then run init again",
                    current.as_deref().unwrap_or("a detached HEAD")
                );
            }
            repo.git(["checkout", "-q", "-b", &branch]).run()?;
        }
    }

    // Files here that the hub also has, and git does not track yet, would be overwritten:
    // they are committed first, so the merge keeps both sides.
    let hub_files = repo
        .git(["ls-tree", "-r", "-z", "--name-only", &theirs])
        .run()?;
    let tracked = repo.git(["ls-files", "-z"]).run()?;
    let tracked: std::collections::HashSet<&str> = tracked.stdout.split('\0').collect();
    let mine: Vec<String> = hub_files
        .stdout
        .split('\0')
        .filter(|p| !p.is_empty() && !tracked.contains(p))
        .filter(|p| fs::symlink_metadata(repo.work_tree.join(p)).is_ok_and(|m| !m.is_dir()))
        .map(str::to_string)
        .collect();
    if !mine.is_empty() {
        let mut add = vec!["add".to_string(), "-f".to_string(), "--".to_string()];
        add.extend(mine.iter().map(|p| format!(":(literal){p}")));
        repo.git(&add).run()?;
        let machine = crate::machine::name(repo);
        match repo.commit_paths(
            &format!("git-aisync: {machine}'s copies of files the hub also has"),
            &mine,
        ) {
            Ok(()) | Err(GitError::NothingToCommit) => {}
            Err(e) => return Err(e.into()),
        }
    }

    if !repo.has_commits()? {
        repo.git(["checkout", "-q", "-B", &branch, &theirs]).run()?;
        return Ok(Joined::Yes);
    }
    let head = repo.head()?.unwrap_or_default();
    let tip = repo.rev(&theirs)?.unwrap_or_default();
    if head == tip || repo.is_ancestor(&tip, &head)? {
        return Ok(Joined::Yes);
    }
    snapshot::save(repo, &format!("aisync: before joining {url}"))?;
    let attributes = HubAttributes::put(repo, &theirs)?;
    // No --autostash: a stash that does not apply cleanly on the joined files (git uses no
    // driver there) would leave markers in a memory file.
    let how = MergeHow::NoCommit {
        allow_unrelated: true,
    };
    let merged = repo.merge(&theirs, how, &install::driver_settings(exe));
    let restored = attributes.restore();
    match merged {
        Ok(_) => restored?,
        Err(GitError::MergeBlocked { paths }) => {
            restored?;
            let first = paths
                .first()
                .map(|b| crate::gate::shown(&b.path))
                .unwrap_or_default();
            let more = match paths.len() {
                1 => String::new(),
                n => format!(" (and {} more)", n - 1),
            };
            bail!(
                "the hub also has {first}{more}, which has uncommitted changes here: commit them (or move them away), then run git aisync init again; nothing was merged"
            );
        }
        Err(e) => {
            restored?;
            bail!("cannot merge the hub's {branch} here: {e}; nothing was merged");
        }
    }
    finish_join(repo, &branch)?;
    Ok(Joined::Yes)
}

/// Concludes the join's merge as the sync cycle concludes its own (every version kept,
/// the journal committed with the merge).
fn finish_join(repo: &Repo, branch: &str) -> Result<()> {
    let machine = crate::machine::name(repo);
    let message = format!("git-aisync: {machine} joins the shared history of {branch}");
    crate::sync::conclude_merge(repo, &machine, &message)?;
    Ok(())
}

/// The hub's `.gitattributes` (and the drivers for its policy's realtime paths) in force in
/// `$GIT_DIR/info/attributes` while the join merges: git reads the attributes of the work
/// tree, which does not hold the hub's yet. `.gitignore` and `.gitattributes` added on both
/// sides merge as a union of their lines.
struct HubAttributes {
    path: std::path::PathBuf,
    before: Option<Vec<u8>>,
}

impl HubAttributes {
    fn put(repo: &Repo, theirs: &str) -> Result<HubAttributes> {
        let path = repo.git_dir.join("info/attributes");
        let before = match fs::read(&path) {
            Ok(bytes) => Some(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).context(format!("cannot read {}", path.display())),
        };
        let file = |name: &str| {
            repo.git(["cat-file", "blob", &format!("{theirs}:{name}")])
                .output()
                .ok()
                .filter(|o| o.success)
                .map(|o| o.stdout)
        };
        let policy = file(policy::FILE)
            .and_then(|text| Policy::parse(&text).ok())
            .or_else(|| Policy::load(&repo.work_tree).ok())
            .unwrap_or_else(|| Policy::parse(policy::DEFAULT).expect("the default policy parses"));
        let mut text = before
            .as_deref()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&file(".gitattributes").unwrap_or_default());
        text.push('\n');
        for line in install::attribute_lines(&policy) {
            text.push_str(&line);
            text.push('\n');
        }
        text.push_str(".gitignore merge=union\n.gitattributes merge=union\n");
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(HubAttributes { path, before })
    }

    /// Puts `info/attributes` back as it was.
    fn restore(self) -> Result<()> {
        match &self.before {
            Some(bytes) => fs::write(&self.path, bytes),
            None => fs::remove_file(&self.path),
        }
        .with_context(|| format!("cannot put back {}", self.path.display()))
    }
}

/// The remote's default branch (`None`: it has no commits yet), or why it cannot be reached.
fn remote_branch(repo: &Repo) -> Result<std::result::Result<Option<String>, String>> {
    let out = repo
        .git_remote(["ls-remote", "--symref", "origin", "HEAD"])
        .output()?;
    if !out.success {
        let why = one_line(&out.stderr);
        // A hub that answered but will not let us in needs a person, not a later retry.
        if why.contains("Permission denied") || why.contains("Host key verification failed") {
            bail!("the hub refused this machine: {why}; fix the access (ssh-copy-id, ~/.ssh/config) and run init again");
        }
        return Ok(Err(why));
    }
    let head = out.stdout.lines().find_map(|l| {
        l.strip_prefix("ref: refs/heads/")
            .and_then(|rest| rest.split('\t').next())
            .map(str::to_string)
    });
    if head.is_some() {
        return Ok(Ok(head));
    }
    // A bare hub whose HEAD names an unborn branch: use the first branch it has.
    let heads = repo
        .git_remote(["ls-remote", "--heads", "origin"])
        .output()?;
    Ok(Ok(heads.stdout.lines().find_map(|l| {
        l.split('\t')
            .nth(1)?
            .strip_prefix("refs/heads/")
            .map(str::to_string)
    })))
}

/// git's one line that says what went wrong (its `fatal:`/`error:` line), not the advice
/// around it.
fn one_line(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines
        .iter()
        .find(|l| l.starts_with("fatal:") || l.starts_with("error:"))
        .or(lines.first())
        .map(|l| l.to_string())
        .unwrap_or_else(|| "no message".to_string())
}

/// A local path made absolute from the current directory (git would read it from DIR).
fn absolute_remote(url: &str) -> Result<String> {
    if !crate::url::is_plain_path(url) || Path::new(url).is_absolute() {
        return Ok(url.to_string());
    }
    let path = std::path::absolute(url).with_context(|| format!("cannot resolve {url}"))?;
    Ok(path.to_string_lossy().into_owned())
}

/// init makes a working tree: not in a bare repository, nor inside a `.git`.
fn refuse_git_dir(dir: &Path) -> Result<()> {
    let out = crate::git::git_in(
        dir,
        ["rev-parse", "--is-bare-repository", "--is-inside-git-dir"],
    )
    .output()?;
    let mut answers = out.stdout.lines();
    if out.success && answers.next() == Some("true") {
        bail!(
            "{} is a bare repository: run init in a clone with a working tree, or give --remote {} to a new folder",
            dir.display(),
            dir.display()
        );
    }
    if out.success && answers.next() == Some("true") {
        bail!(
            "{} is inside a git directory, not a working tree: choose another folder",
            dir.display()
        );
    }
    Ok(())
}

/// The layout, `.aisync.yml` and `.gitignore`, leaving every existing file as it is; the
/// files it wrote (`.credentials/` aside: never committed).
fn scaffold(top: &Path) -> Result<Vec<String>> {
    let mut written = Vec::new();
    for (dir, about) in LAYOUT {
        let path = top.join(dir);
        fs::create_dir_all(&path).with_context(|| format!("cannot create {}", path.display()))?;
        if write_new(&path.join("README.md"), &format!("# {dir}/\n\n{about}\n"))?
            && !dir.starts_with(".credentials")
        {
            written.push(format!("{dir}/README.md"));
        }
    }
    if write_new(&top.join(policy::FILE), policy::DEFAULT)? {
        written.push(policy::FILE.to_string());
    }
    let ignore = top.join(".gitignore");
    let text = match fs::read_to_string(&ignore) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).context("cannot read .gitignore"),
    };
    if !text.lines().any(|l| {
        matches!(
            l.trim(),
            ".credentials/" | ".credentials" | "/.credentials/"
        )
    }) {
        let mut out = text;
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str("# Secrets never leave this machine (git-aisync).\n.credentials/\n");
        fs::write(&ignore, out).context("cannot write .gitignore")?;
        written.push(".gitignore".to_string());
    }
    Ok(written)
}

/// Writes `path` unless it exists; whether it did.
fn write_new(path: &Path, text: &str) -> Result<bool> {
    if path.exists() {
        return Ok(false);
    }
    fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(true)
}
