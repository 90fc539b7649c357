//! Refs: read from the ref files where a no-op cycle must stay cheap, HEAD and the branch,
//! ancestry, and moving the branch only from where the cycle saw it.

use anyhow::{bail, Result};

use super::Repo;

impl Repo {
    /// The object a ref names, read from the ref files (no git process): a loose ref, else
    /// packed-refs. `None` when there is no such ref.
    pub fn read_ref(&self, name: &str) -> Option<String> {
        let common = super::common_dir(&self.git_dir);
        let dir = if name == "HEAD" {
            &self.git_dir
        } else {
            &common
        };
        if let Ok(text) = std::fs::read_to_string(dir.join(name)) {
            let text = text.trim();
            return match text.strip_prefix("ref: ") {
                Some(target) => self.read_ref(target),
                None => Some(text.to_string()),
            };
        }
        let packed = std::fs::read_to_string(common.join("packed-refs")).ok()?;
        packed.lines().find_map(|l| {
            let (oid, refname) = l.split_once(' ')?;
            (refname == name && !l.starts_with('#') && !l.starts_with('^')).then(|| oid.to_string())
        })
    }

    /// The refs under `prefix` (`refs/aisync/inbox/`), loose and packed: (name after the
    /// prefix, commit). Read from the files: a no-op cycle must stay cheap.
    pub fn refs_under(&self, prefix: &str) -> Vec<(String, String)> {
        let common = super::common_dir(&self.git_dir);
        let mut found: std::collections::BTreeMap<String, String> =
            std::collections::BTreeMap::new();
        if let Ok(packed) = std::fs::read_to_string(common.join("packed-refs")) {
            for l in packed.lines() {
                if let Some((oid, name)) = l.split_once(' ') {
                    if let Some(rest) = name.strip_prefix(prefix) {
                        found.insert(rest.to_string(), oid.to_string());
                    }
                }
            }
        }
        if let Ok(entries) = std::fs::read_dir(common.join(prefix)) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                // A ref being written (`name.lock`) is not a ref yet.
                if name.ends_with(".lock") {
                    continue;
                }
                if let Ok(oid) = std::fs::read_to_string(e.path()) {
                    found.insert(name, oid.trim().to_string());
                }
            }
        }
        found.into_iter().collect()
    }

    /// The branch HEAD names, read from HEAD itself (no git process).
    pub fn head_branch(&self) -> Option<String> {
        let head = std::fs::read_to_string(self.git_dir.join("HEAD")).ok()?;
        head.trim()
            .strip_prefix("ref: refs/heads/")
            .map(str::to_string)
    }

    /// The branch checked out now, or `None` on a detached HEAD.
    pub fn current_branch(&self) -> Result<Option<String>> {
        let out = self
            .git(["symbolic-ref", "--quiet", "--short", "HEAD"])
            .output()?;
        Ok(out.success.then(|| out.stdout.trim().to_string()))
    }

    /// The commit HEAD points at, if any.
    pub fn head(&self) -> Result<Option<String>> {
        self.rev("HEAD")
    }

    /// The object a revision names, if it exists.
    pub fn rev(&self, rev: &str) -> Result<Option<String>> {
        let out = self
            .git([
                "rev-parse",
                "--verify",
                "--quiet",
                &format!("{rev}^{{commit}}"),
            ])
            .output()?;
        Ok(out.success.then(|| out.stdout.trim().to_string()))
    }

    /// Whether `a` is an ancestor of `b`.
    pub fn is_ancestor(&self, a: &str, b: &str) -> Result<bool> {
        // The cycle's usual question, answered without a git process: is `b` our commit
        // on `a`?
        if let Some((_, parents)) = self.commit_read(b) {
            if a == b || parents.iter().any(|p| p == a) {
                return Ok(true);
            }
        }
        Ok(self.git(["merge-base", "--is-ancestor", a, b]).succeeds()?)
    }

    /// Commits on `a` not on `b`, and on `b` not on `a`: none either way when both hold the
    /// same tree (peers that each kept their own commits of one content: nothing to push or
    /// merge, and the cycle makes no merge of them).
    pub fn ahead_behind(&self, a: &str, b: &str) -> Result<(usize, usize)> {
        let tree = self.tree_of(a)?;
        if tree.is_some() && tree == self.tree_of(b)? {
            return Ok((0, 0));
        }
        let out = self
            .git(["rev-list", "--left-right", "--count", &format!("{a}...{b}")])
            .run()?;
        let mut n = out
            .stdout
            .split_whitespace()
            .map(|x| x.parse().unwrap_or(0));
        Ok((n.next().unwrap_or(0), n.next().unwrap_or(0)))
    }

    /// Moves the branch HEAD names from `old` (none: it has no commit yet) to `new`; fails,
    /// changing nothing, when it is no longer at `old` (someone committed meanwhile).
    pub fn advance_head(&self, new: &str, old: Option<&str>, why: &str) -> Result<()> {
        let out = self
            .git(["update-ref", "-m", why, "HEAD", new, old.unwrap_or("")])
            .output()?;
        if !out.success {
            bail!(
                "the branch moved while the cycle committed (a commit of yours, probably); nothing is lost and the next cycle tries again: {}",
                out.stderr.trim()
            );
        }
        Ok(())
    }
}
