//! Making a folder a synced repository: `git init` if needed, the recommended layout, the
//! policy, `install`, a first commit, and with a remote the upstream and the first push
//! (joining a hub that already has history is the common case).

use std::fs;
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::install;
use crate::policy::{self, Policy};
use crate::repo::{self, Repo};

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
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let dir = dir
        .canonicalize()
        .with_context(|| format!("cannot read {}", dir.display()))?;
    let top = repo::git(&dir, ["rev-parse", "--show-toplevel"])?;
    let fresh = !top.success;
    if top.success && Path::new(top.stdout.trim_end_matches('\n')) != dir {
        bail!(
            "{} is inside the repository at {}: run init at its top, or choose a folder outside it",
            dir.display(),
            top.stdout.trim()
        );
    }
    if let Some(url) = remote {
        refuse_insecure(url)?;
    }
    if fresh {
        let out = repo::git(&dir, ["init", "-q", "-b", "main"])?;
        if !out.success {
            bail!(
                "git init failed in {}: {}",
                dir.display(),
                out.stderr.trim()
            );
        }
    }
    let repo = Repo::discover(&dir)?;

    // Join the hub's history first, so the layout lands on top of it.
    let mut joined = false;
    if let Some(url) = remote {
        match repo.config_get("remote.origin.url")? {
            Some(existing) if existing != url => bail!(
                "this repository's origin is {existing}, not {url}: remove it with `git remote remove origin` or leave out --remote"
            ),
            Some(_) => {}
            None => {
                repo.run(["remote", "add", "origin", url])?;
            }
        }
        if let Some(branch) = remote_branch(&repo)? {
            let fetched = repo.git_remote(["fetch", "--quiet", "origin", &branch])?;
            if !fetched.success {
                bail!(
                    "cannot fetch {branch} from {url}: {}",
                    fetched.stderr.trim()
                );
            }
            let theirs = format!("origin/{branch}");
            if repo.has_commits()? {
                // Unrelated histories: the drivers must be registered before the merge (the
                // hub's .gitattributes selects them).
                install::register_drivers(&repo, exe)?;
                repo.run_committing(&[
                    "merge",
                    "--no-edit",
                    "--allow-unrelated-histories",
                    "-m",
                    "git-aisync: join the shared history",
                    &theirs,
                ])?;
            } else {
                repo.run(["checkout", "-q", "-B", &branch, &theirs])?;
            }
            joined = true;
        }
    }

    scaffold(&repo.work_tree)?;
    let policy = Policy::load(&repo.work_tree)?;
    install::install(&repo, exe, &policy)?;

    let mut paths: Vec<String> = LAYOUT
        .iter()
        .filter(|(d, _)| !d.starts_with(".credentials"))
        .map(|(d, _)| format!("{d}/README.md"))
        .collect();
    paths.extend([policy::FILE, ".gitignore", ".gitattributes"].map(String::from));
    let mut add = vec!["add".to_string(), "--".to_string()];
    add.extend(paths);
    repo.run(&add)?;
    let staged = !repo.git(["diff", "--cached", "--quiet"])?.success || !repo.has_commits()?;
    if staged {
        let machine = repo.config_get("aisync.machine")?.unwrap_or_default();
        repo.commit(&format!("git-aisync: set up on {machine}"))?;
    }
    let branch = repo
        .current_branch()?
        .context("HEAD is detached; check out a branch and run init again")?;
    repo.config_set("aisync.branch", &branch)?;

    let pushed = match remote {
        None => Pushed::NoRemote,
        Some(_) => {
            let out = repo.git_remote(["push", "--quiet", "-u", "origin", &branch])?;
            if out.success {
                Pushed::Yes(branch.clone())
            } else {
                Pushed::Offline(out.stderr.trim().to_string())
            }
        }
    };
    Ok(Initialized {
        repo,
        branch,
        committed: staged,
        joined,
        pushed,
    })
}

/// The remote's default branch, if it has any commits.
fn remote_branch(repo: &Repo) -> Result<Option<String>> {
    let out = repo.git_remote(["ls-remote", "--symref", "origin", "HEAD"])?;
    if !out.success {
        bail!("cannot reach the remote: {}", out.stderr.trim());
    }
    let head = out.stdout.lines().find_map(|l| {
        l.strip_prefix("ref: refs/heads/")
            .and_then(|rest| rest.split('\t').next())
            .map(str::to_string)
    });
    if head.is_some() {
        return Ok(head);
    }
    // A bare hub whose HEAD names an unborn branch: use the first branch it has.
    let heads = repo.git_remote(["ls-remote", "--heads", "origin"])?;
    Ok(heads.stdout.lines().find_map(|l| {
        l.split('\t')
            .nth(1)?
            .strip_prefix("refs/heads/")
            .map(str::to_string)
    }))
}

/// Pushing in clear text would publish memory to anyone on the path.
pub fn refuse_insecure(url: &str) -> Result<()> {
    if url.starts_with("http://") || url.starts_with("git://") {
        bail!("{url} is not encrypted: use https:// or ssh:// (memory and configs would cross the network in clear text)");
    }
    Ok(())
}

/// The layout, `.aisync.yml` and `.gitignore`, leaving every existing file as it is.
fn scaffold(top: &Path) -> Result<()> {
    for (dir, about) in LAYOUT {
        let path = top.join(dir);
        fs::create_dir_all(&path).with_context(|| format!("cannot create {}", path.display()))?;
        write_new(&path.join("README.md"), &format!("# {dir}/\n\n{about}\n"))?;
    }
    write_new(&top.join(policy::FILE), policy::DEFAULT)?;
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
    }
    Ok(())
}

fn write_new(path: &Path, text: &str) -> Result<()> {
    if !path.exists() {
        fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}
