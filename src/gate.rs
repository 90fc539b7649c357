//! Where the secret scanner stands guard: the staged content (pre-commit), the commits about
//! to be pushed (pre-push, and the sync cycle whatever the hooks did), and files on demand.

use std::path::Path;

use anyhow::Result;
use serde_json::{json, Value};

use crate::repo::Repo;
use crate::scanner::{self, Allow, Finding};

/// A finding in a named file.
pub struct Found {
    pub path: String,
    pub finding: Finding,
}

impl Found {
    /// `memory/a.md:3:14: aws-access-key-id (AKIA…) fingerprint 1a2b…`
    pub fn line(&self) -> String {
        let f = &self.finding;
        format!(
            "{}:{}:{}: {} ({}) fingerprint {}",
            self.path, f.line, f.column, f.rule, f.redacted, f.fingerprint
        )
    }

    pub fn to_json(&self) -> Value {
        let f = &self.finding;
        json!({
            "path": self.path, "line": f.line, "column": f.column, "rule": f.rule,
            "redacted": f.redacted, "fingerprint": f.fingerprint,
        })
    }
}

/// Secrets in what is staged for the next commit.
pub fn staged(repo: &Repo) -> Result<Vec<Found>> {
    let staged = repo.staged()?;
    let names: Vec<&str> = staged.iter().map(|(p, _)| p.as_str()).collect();
    let ids: Vec<&str> = staged.iter().map(|(_, id)| id.as_str()).collect();
    let blobs = repo.blobs(&ids)?;
    Ok(contents(&repo.work_tree, &names, &blobs))
}

/// Secrets in contents already read: `blobs[i]` is what `paths[i]` holds.
pub fn contents(work_tree: &Path, paths: &[&str], blobs: &[Vec<u8>]) -> Vec<Found> {
    let allow = Allow::load(work_tree);
    paths
        .iter()
        .zip(blobs)
        .flat_map(|(path, bytes)| found(path, bytes, &allow))
        .collect()
}

/// Secrets added by the commits in `range` (`A..B`, or a tip and `--not --remotes`).
pub fn commits(repo: &Repo, range: &[&str]) -> Result<Vec<Found>> {
    let allow = Allow::load(&repo.work_tree);
    let mut args = vec![
        "log",
        "-p",
        "--no-color",
        "--no-ext-diff",
        "--no-renames",
        "--format=commit %H",
    ];
    args.extend_from_slice(range);
    let out = repo.run(&args)?;
    // Added lines, gathered per file.
    let mut added: Vec<(String, String)> = Vec::new();
    for line in out.stdout.lines() {
        if let Some(path) = line.strip_prefix("+++ ") {
            let path = path.strip_prefix("b/").unwrap_or(path).to_string();
            added.push((path, String::new()));
        } else if let (Some(body), Some((_, text))) = (line.strip_prefix('+'), added.last_mut()) {
            text.push_str(body);
            text.push('\n');
        }
    }
    Ok(added
        .iter()
        .flat_map(|(path, text)| found(path, text.as_bytes(), &allow))
        .collect())
}

/// Secrets in files and folders (a folder: every file in it, `.git` aside).
pub fn files(work_tree: &Path, roots: &[std::path::PathBuf]) -> Result<Vec<Found>> {
    let allow = Allow::load(work_tree);
    let mut out = Vec::new();
    let mut stack: Vec<std::path::PathBuf> = roots.to_vec();
    while let Some(p) = stack.pop() {
        let meta = std::fs::symlink_metadata(&p)?;
        if meta.is_dir() {
            if p.file_name().is_some_and(|n| n == ".git") {
                continue;
            }
            let mut entries: Vec<_> = std::fs::read_dir(&p)?.flatten().map(|e| e.path()).collect();
            entries.sort();
            stack.extend(entries.into_iter().rev());
        } else if meta.is_file() {
            let bytes = std::fs::read(&p)?;
            let shown = p
                .strip_prefix(work_tree)
                .unwrap_or(&p)
                .to_string_lossy()
                .replace('\\', "/");
            out.extend(found(&shown, &bytes, &allow));
        }
    }
    Ok(out)
}

fn found(path: &str, bytes: &[u8], allow: &Allow) -> Vec<Found> {
    scanner::scan_allowed(path, bytes, allow)
        .into_iter()
        .map(|finding| Found {
            path: path.to_string(),
            finding,
        })
        .collect()
}
