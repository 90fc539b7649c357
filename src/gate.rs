//! Where the secret scanner stands guard: the staged content (pre-commit), the commits about
//! to be pushed (pre-push, and the sync cycle whatever the hooks did), and files on demand.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::git::{GitPath, Repo, Staged};
use crate::policy::{Mode, Policy};
use crate::scanner::{self, Allow, Finding};

/// How many blobs one `git cat-file --batch` reads: a push of a long history is read in
/// slices, not all at once.
const BLOBS_PER_READ: usize = 512;

/// A finding in a named file. As JSON: its path (as text) and the finding's fields.
#[derive(serde::Serialize)]
pub struct Found {
    /// The file's name as text (bytes that are not UTF-8 replaced), for messages and JSON.
    pub path: String,
    /// The file's name as git has it, byte for byte: what a rewrite must name.
    #[serde(skip)]
    pub raw_path: GitPath,
    #[serde(flatten)]
    pub finding: Finding,
}

impl Found {
    /// `memory/a.md:3:14: aws-access-key-id (AKIA…) fingerprint 1a2b…` (an odd name quoted).
    pub fn line(&self) -> String {
        let f = &self.finding;
        format!(
            "{}:{}:{}: {} ({}) fingerprint {}",
            shown(&self.raw_path),
            f.line,
            f.column,
            f.rule,
            f.redacted,
            f.fingerprint
        )
    }
}

/// A file name for a message on one line: as it is when it is plain, else in double quotes
/// with `\n`, `\t`, `\"`, `\\` and `\xNN` (a byte that is not UTF-8 or a control) escaped.
pub fn shown(path: &[u8]) -> String {
    let plain = std::str::from_utf8(path)
        .is_ok_and(|s| !s.chars().any(|c| c.is_control() || c == '"' || c == '\\'));
    if plain {
        return String::from_utf8_lossy(path).into_owned();
    }
    let mut out = String::from("\"");
    for chunk in path.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c if c.is_control() => {
                    let mut buf = [0; 4];
                    for b in c.encode_utf8(&mut buf).bytes() {
                        out.push_str(&format!("\\x{b:02x}"));
                    }
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out.push('"');
    out
}

/// Secrets in what is staged for the next commit.
pub fn staged(repo: &Repo) -> Result<Vec<Found>> {
    let staged = repo.staged()?;
    let ids: Vec<&str> = staged.iter().map(|s| s.oid.as_str()).collect();
    let blobs = repo.blobs(&ids)?;
    Ok(contents(&repo.work_tree, &staged, &blobs))
}

/// Secrets in staged contents already read: `blobs[i]` is what `staged[i]` holds.
pub fn contents(work_tree: &Path, staged: &[Staged], blobs: &[Vec<u8>]) -> Vec<Found> {
    let allow = Allow::load(work_tree);
    staged
        .iter()
        .zip(blobs)
        .flat_map(|(s, bytes)| found(&s.path, bytes, &allow))
        .collect()
}

/// Secrets added by the commits in `range` (`A..B`, or a tip and `--not --remotes`): every
/// blob those commits bring, merge commits included, whatever `.gitattributes` says about
/// diffing it (binary content is skipped by the scanner, as everywhere).
pub fn commits(repo: &Repo, range: &[&str]) -> Result<Vec<Found>> {
    added(repo, &repo.added_blobs(range)?)
}

/// Secrets in blobs that commits add: (path, blob id) each.
pub fn added(repo: &Repo, added: &[(GitPath, String)]) -> Result<Vec<Found>> {
    let allow = Allow::load(&repo.work_tree);
    // One blob at several paths (a copy, a rename) is read and scanned once, and reported
    // at each path: quarantine must drop every one.
    let mut ids: Vec<&str> = added.iter().map(|(_, id)| id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut scanned: HashMap<&str, Vec<Finding>> = HashMap::new();
    for slice in ids.chunks(BLOBS_PER_READ) {
        for (id, bytes) in slice.iter().zip(repo.blobs(slice)?) {
            scanned.insert(id, scanner::scan(&bytes));
        }
    }
    let mut out = Vec::new();
    for (path, id) in added {
        let text = String::from_utf8_lossy(path);
        if allow.allows_path(&text) {
            continue;
        }
        for finding in scanned.get(id.as_str()).into_iter().flatten() {
            if !allow.allows(finding) {
                out.push(Found {
                    path: text.clone().into_owned(),
                    raw_path: path.clone(),
                    finding: finding.clone(),
                });
            }
        }
    }
    Ok(out)
}

/// Secrets in files and folders (a folder: every file in it, `.git` aside).
pub fn files(work_tree: &Path, roots: &[PathBuf]) -> Result<Vec<Found>> {
    Ok(walk(work_tree, roots, |_| false)?.0)
}

/// Secrets in the whole working tree, less the places secrets are meant to live: the
/// `.credentials/` folder and the policy's `never` paths are not scanned (they are never
/// committed); their names come back second, so the caller can say so.
pub fn work_tree(work_tree: &Path) -> Result<(Vec<Found>, Vec<String>)> {
    let policy = Policy::load(work_tree)
        .or_else(|_| Policy::parse(crate::policy::DEFAULT).map_err(anyhow::Error::from))
        .context("cannot read the policy")?;
    walk(work_tree, &[work_tree.to_path_buf()], |rel| {
        rel == ".credentials" || rel.starts_with(".credentials/") || policy.mode(rel) == Mode::Never
    })
}

/// Walks `roots`, scanning every file; `skip` (given the path relative to the working tree)
/// leaves a file or a whole folder out, and its name goes into the second list.
fn walk(
    work_tree: &Path,
    roots: &[PathBuf],
    skip: impl Fn(&str) -> bool,
) -> Result<(Vec<Found>, Vec<String>)> {
    let allow = Allow::load(work_tree);
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    let mut stack: Vec<PathBuf> = roots.to_vec();
    while let Some(p) = stack.pop() {
        let meta = std::fs::symlink_metadata(&p)
            .with_context(|| format!("cannot read {}", p.display()))?;
        let rel = relative(work_tree, &p);
        if p != work_tree && skip(&String::from_utf8_lossy(&rel)) {
            let mut name = shown(&rel);
            if meta.is_dir() {
                name.push('/');
            }
            skipped.push(name);
            continue;
        }
        if meta.is_dir() {
            if p.file_name().is_some_and(|n| n == ".git") {
                continue;
            }
            let mut entries: Vec<_> = std::fs::read_dir(&p)
                .with_context(|| format!("cannot read the folder {}", p.display()))?
                .flatten()
                .map(|e| e.path())
                .collect();
            entries.sort();
            stack.extend(entries.into_iter().rev());
        } else if meta.is_file() {
            let bytes =
                std::fs::read(&p).with_context(|| format!("cannot read {}", p.display()))?;
            out.extend(found(&rel, &bytes, &allow));
        }
    }
    Ok((out, skipped))
}

/// `p` relative to the working tree (as it is when outside it), as bytes, `/`-separated.
fn relative(work_tree: &Path, p: &Path) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    p.strip_prefix(work_tree)
        .unwrap_or(p)
        .as_os_str()
        .as_bytes()
        .to_vec()
}

/// The first URL `remote` pushes to that is not encrypted (`http://`, `git://`), unless
/// `aisync.allowInsecureTransport` is set: every push URL as git resolves it (`pushurl`,
/// `url.<base>.pushInsteadOf`), not only `remote.<name>.url`.
pub fn insecure_push_url(repo: &Repo, remote: &str) -> Result<Option<String>> {
    if repo.flag("aisync.allowInsecureTransport") == Some(true) {
        return Ok(None);
    }
    Ok(repo
        .push_urls(remote)?
        .into_iter()
        .find(|u| crate::url::is_insecure(u)))
}

/// For pre-push: git names the remote (or the URL pushed to directly) and the URL it is
/// pushing to now; the unencrypted one of those, or of the remote's other push URLs.
pub fn insecure_in_push(repo: &Repo, remote: &str, url: &str) -> Option<String> {
    if repo.flag("aisync.allowInsecureTransport") == Some(true) {
        return None;
    }
    if crate::url::is_insecure(url) {
        return Some(url.to_string());
    }
    if crate::url::is_insecure(remote) {
        return Some(remote.to_string());
    }
    // A remote's name (a URL pushed to directly is not one: git says so, and that is no
    // reason to refuse).
    insecure_push_url(repo, remote).ok().flatten()
}

fn found(path: &[u8], bytes: &[u8], allow: &Allow) -> Vec<Found> {
    let text = String::from_utf8_lossy(path);
    scanner::scan_allowed(&text, bytes, allow)
        .into_iter()
        .map(|finding| Found {
            path: text.clone().into_owned(),
            raw_path: path.into(),
            finding,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_are_shown_as_they_are_and_odd_ones_quoted() {
        assert_eq!(shown(b"memory/my notes.md"), "memory/my notes.md");
        assert_eq!(shown("memory/café.md".as_bytes()), "memory/café.md");
        assert_eq!(shown(b"a\nb\"c\\.md"), r#""a\nb\"c\\.md""#);
        assert_eq!(shown(b"bad\xffname.md"), r#""bad\xffname.md""#);
    }
}
