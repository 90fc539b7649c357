//! Path identity (DESIGN §9): a project's memory folder, named by the assistant after the
//! checkout's absolute path (`-home-alice-code-shop`), is named in the repository by a
//! portable project key (`github.com/alice/shop`), and on each machine the key finds that
//! machine's checkout. Names are matched by encoding the paths this machine knows the way
//! the assistant does, never by decoding a name back into a path.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::assistants::{encode_project_path, names_checkout};
use crate::git::Repo;
use crate::url::{self, Location};

/// Git config naming a checkout per machine: `aisync.project.<key>.path /abs/path`.
pub const MAPPING: &str = "aisync.project.";

/// The checkouts this machine knows and their keys.
#[derive(Default)]
pub struct Projects {
    /// Key → this machine's checkout.
    pub checkouts: BTreeMap<String, PathBuf>,
}

impl Projects {
    /// From the candidate paths (`~/.claude.json`'s `projects`, transcripts' `cwd`) and
    /// the per-machine mappings in git config.
    pub fn find(repo: &Repo, candidates: &[PathBuf]) -> Projects {
        let mut projects = Projects::default();
        let mut named: Vec<(String, PathBuf)> = Vec::new();
        for (key, value) in repo.settings_under(MAPPING) {
            if let Some(name) = key.strip_suffix(".path") {
                named.push((name.to_string(), PathBuf::from(value)));
            }
        }
        let mut seen = std::collections::HashSet::new();
        let paths = candidates.iter().chain(named.iter().map(|(_, p)| p));
        for path in paths {
            if !seen.insert(path.clone()) || !path.is_dir() {
                continue;
            }
            let name = named
                .iter()
                .find(|(_, p)| p == path)
                .map(|(n, _)| n.as_str());
            if let Some(key) = key_of(path).or_else(|| name.and_then(clean_key)) {
                projects
                    .checkouts
                    .entry(key)
                    .or_insert_with(|| path.clone());
            }
        }
        projects
    }

    /// The key of the project whose assistant folder is named `folder`.
    pub fn key_for_folder(&self, folder: &str) -> Option<&str> {
        self.checkouts
            .iter()
            .find(|(_, path)| names_checkout(folder, &path.to_string_lossy()))
            .map(|(k, _)| k.as_str())
    }

    /// The folder name the assistant uses here for the project `key` (an existing folder
    /// under `parent` that names the checkout, else the name it would make).
    pub fn folder_for_key(&self, key: &str, parent: &Path) -> Option<String> {
        let checkout = self.checkouts.get(key)?.to_string_lossy().into_owned();
        if let Ok(entries) = std::fs::read_dir(parent) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if names_checkout(&name, &checkout) {
                    return Some(name);
                }
            }
        }
        let encoded = encode_project_path(&checkout);
        // A long name carries a hash of the assistant's own that cannot be made here: the
        // folder must exist first (the assistant makes it when it opens the project).
        (encoded.len() <= crate::assistants::ENCODED_MAX).then_some(encoded)
    }

    /// The known key that `rel` (a path under the repository's `projects/`) starts with,
    /// and the rest of it.
    pub fn split_key<'p>(&self, rel: &'p str) -> Option<(&str, &'p str)> {
        self.checkouts
            .keys()
            .filter_map(|k| {
                rel.strip_prefix(k.as_str())
                    .and_then(|rest| rest.strip_prefix('/'))
                    .map(|rest| (k.as_str(), rest))
            })
            .max_by_key(|(k, _)| k.len())
    }
}

/// The key of the checkout at `path`: its `origin` remote's normalized URL (else its first
/// remote's), else its root commit; `None` for a folder that is not a repository.
pub fn key_of(path: &Path) -> Option<String> {
    let repo = Repo::find(path).ok()?;
    let remotes = repo.remotes().ok()?;
    let remote = remotes
        .iter()
        .find(|r| *r == "origin")
        .or_else(|| remotes.first());
    if let Some(url) = remote.and_then(|r| repo.remote_url(r)) {
        if let Some(key) = normalize_url(&url) {
            return Some(key);
        }
    }
    let out = repo
        .git(["rev-list", "--max-parents=0", "HEAD"])
        .output()
        .ok()?;
    let mut roots: Vec<&str> = out.stdout.lines().filter(|l| !l.is_empty()).collect();
    roots.sort_unstable();
    roots.first().map(|r| r.to_string())
}

/// A remote URL as a key: host (lower case) and path, without scheme, user, port or a
/// `.git` suffix (`git@github.com:alice/shop.git` and `https://github.com/alice/shop` are
/// both `github.com/alice/shop`); `None` for a path on this machine.
pub fn normalize_url(remote: &str) -> Option<String> {
    let (host, path) = match url::parse(remote).ok()? {
        Location::Local(_) => return None,
        Location::Ssh(ssh) => {
            let host = ssh.host.rsplit('@').next().unwrap_or(&ssh.host).to_string();
            (host, ssh.path)
        }
        Location::Other => {
            let rest = remote.split_once("://")?.1;
            let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
            let host = authority.rsplit('@').next().unwrap_or(authority);
            let host = match host.rsplit_once(':') {
                Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
                _ => host,
            };
            (host.to_string(), path.to_string())
        }
    };
    let path = path.trim_start_matches(['/', '~']).trim_end_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path);
    clean_key(&format!("{}/{}", host.to_ascii_lowercase(), path))
}

/// A key made safe as a path inside the repository: no empty, `.` or `..` segment, no
/// backslash or control character.
fn clean_key(key: &str) -> Option<String> {
    let segments: Vec<String> = key
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.chars()
                .map(|c| if c == '\\' || c.is_control() { '-' } else { c })
                .collect::<String>()
        })
        .collect();
    if segments.is_empty() || segments.iter().any(|s| s == "." || s == "..") {
        return None;
    }
    Some(segments.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_project_has_one_key_whatever_the_url_form() {
        for url in [
            "git@github.com:alice/shop.git",
            "https://github.com/alice/shop",
            "https://alice@GitHub.com:443/alice/shop.git",
            "ssh://git@github.com:22/alice/shop.git",
            "ssh://git@github.com/alice/shop/",
        ] {
            assert_eq!(
                normalize_url(url).as_deref(),
                Some("github.com/alice/shop"),
                "{url}"
            );
        }
        assert_eq!(normalize_url("/srv/git/shop.git"), None);
        assert_eq!(normalize_url("https://evil/../../etc"), None);
    }

    #[test]
    fn a_repo_path_splits_at_the_longest_known_key() {
        let mut p = Projects::default();
        p.checkouts.insert("github.com/a".into(), "/x".into());
        p.checkouts.insert("github.com/a/shop".into(), "/y".into());
        assert_eq!(
            p.split_key("github.com/a/shop/memory/MEMORY.md"),
            Some(("github.com/a/shop", "memory/MEMORY.md"))
        );
        assert_eq!(p.split_key("gitlab.com/a/memory/x.md"), None);
    }
}
