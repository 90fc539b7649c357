//! Where a remote lives, when it lives on this machine: a plain path or a `file://` URL
//! names a repository whose ref files can be read directly. The cycle and the watcher ask
//! such a hub for its tip without a git process (a no-op cycle and an idle watcher run
//! often); anything else is asked with `git ls-remote`.

use std::fs;
use std::path::{Path, PathBuf};

use crate::git::Repo;

/// The tip of `branch` on `remote` read from the remote's own ref files, when the remote is
/// a repository on this machine (`Some(None)`: it has no such branch yet). `None` when git
/// must be asked: a remote elsewhere, one not there now, or one that pushes elsewhere than
/// it fetches from or runs its own upload-pack (`pushurl`, `pushInsteadOf`, `uploadpack`).
pub fn tip_from_files(repo: &Repo, remote: &str, branch: &str) -> Option<Option<String>> {
    if repo.any_setting(|key| key.starts_with("url.") && key.ends_with(".pushinsteadof"))
        || repo.setting(&format!("remote.{remote}.pushurl")).is_some()
        || repo
            .setting(&format!("remote.{remote}.uploadpack"))
            .is_some()
    {
        return None;
    }
    // Several URLs: git pushes to all of them, and it is asked.
    let [url] = &repo.remote_urls(remote)[..] else {
        return None;
    };
    let git_dir = remote_git_dir(&crate::url::local_path(url, &repo.work_tree)?)?;
    read_tip(&git_dir, branch).ok()
}

/// The git directory at a remote's path, as git looks for it (`path/.git`, `path`,
/// `path.git`); `None` when none is there now or its refs are not plain files (reftable).
pub fn remote_git_dir(path: &Path) -> Option<PathBuf> {
    git_dir_at(path).filter(|d| !d.join("reftable").exists())
}

/// Whether the repository at a remote's path keeps its refs in a reftable: there are no ref
/// files to read or watch, so it is asked with `git ls-remote` like a remote elsewhere.
pub fn uses_reftable(path: &Path) -> bool {
    git_dir_at(path).is_some_and(|d| d.join("reftable").is_dir())
}

fn git_dir_at(path: &Path) -> Option<PathBuf> {
    let mut with_ext = path.as_os_str().to_owned();
    with_ext.push(".git");
    [
        path.join(".git"),
        path.to_path_buf(),
        PathBuf::from(with_ext),
    ]
    .into_iter()
    .find(|d| d.join("HEAD").is_file() && d.join("refs").is_dir())
}

/// A branch tip read from a repository's ref files: the loose ref, else packed-refs.
/// `Err` when the repository is not there.
pub fn read_tip(git_dir: &Path, branch: &str) -> std::result::Result<Option<String>, String> {
    if !git_dir.join("HEAD").is_file() {
        return Err(format!("{} is not there", git_dir.display()));
    }
    read_ref_in(git_dir, &format!("refs/heads/{branch}"), 0)
}

/// A ref of the repository at `git_dir` (`refs/aisync/inbox/NAME`, say), read from its files.
pub fn read_ref(git_dir: &Path, name: &str) -> std::result::Result<Option<String>, String> {
    read_ref_in(git_dir, name, 0)
}

/// A ref of the repository at `git_dir`: the loose file, else packed-refs; a symbolic ref
/// (`ref: refs/heads/other`) is followed, as `git ls-remote` would.
fn read_ref_in(
    git_dir: &Path,
    name: &str,
    depth: usize,
) -> std::result::Result<Option<String>, String> {
    if depth > 5 {
        return Err(format!("{name}: symbolic refs that go round"));
    }
    match fs::read_to_string(git_dir.join(name)) {
        Ok(text) => {
            let text = text.trim();
            return match text.strip_prefix("ref:") {
                Some(target) => read_ref_in(git_dir, target.trim(), depth + 1),
                None => Ok(Some(text.to_string())),
            };
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot read {name}: {e}")),
    }
    match fs::read_to_string(git_dir.join("packed-refs")) {
        Ok(text) => Ok(text.lines().find_map(|l| {
            let (oid, refname) = l.split_once(' ')?;
            (refname == name && !l.starts_with('#') && !l.starts_with('^')).then(|| oid.to_string())
        })),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read packed-refs: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hub_on_this_machine_answers_from_its_files_unless_config_redirects_it() {
        let tmp = tempfile::tempdir().unwrap();
        let run = |dir: &Path, args: &[&str]| {
            assert!(
                crate::git::git_in(dir, args).succeeds().unwrap(),
                "git {args:?}"
            );
        };
        let (hub, work) = (tmp.path().join("hub.git"), tmp.path().join("work"));
        run(tmp.path(), &["init", "-q", "--bare", "hub.git"]);
        run(tmp.path(), &["init", "-q", "-b", "main", "work"]);
        let hub_url = hub.to_str().unwrap();
        run(&work, &["remote", "add", "origin", hub_url]);
        let repo = Repo::find(&work).unwrap();
        assert_eq!(tip_from_files(&repo, "origin", "main"), Some(None));
        fs::create_dir_all(hub.join("refs/heads")).unwrap();
        fs::write(hub.join("refs/heads/main"), "abc\n").unwrap();
        assert_eq!(
            tip_from_files(&Repo::find(&work).unwrap(), "origin", "main"),
            Some(Some("abc".into()))
        );
        // A short name that git rewrites to the hub: the same hub, read the same way.
        run(
            &work,
            &["config", &format!("url.{hub_url}.insteadOf"), "hub:"],
        );
        run(&work, &["remote", "set-url", "origin", "hub:"]);
        assert_eq!(
            tip_from_files(&Repo::find(&work).unwrap(), "origin", "main"),
            Some(Some("abc".into()))
        );
        // Pushing elsewhere than it reads from: ask git.
        run(
            &work,
            &["remote", "set-url", "--push", "origin", "/elsewhere"],
        );
        assert_eq!(
            tip_from_files(&Repo::find(&work).unwrap(), "origin", "main"),
            None
        );
    }

    #[test]
    fn tips_are_read_from_loose_and_packed_refs() {
        let tmp = std::env::temp_dir().join(format!("aisync-remote-refs-{}", std::process::id()));
        fs::create_dir_all(tmp.join("refs/heads")).unwrap();
        assert!(read_tip(&tmp, "main").is_err(), "no HEAD: not a repository");
        fs::write(tmp.join("HEAD"), "ref: refs/heads/main\n").unwrap();
        assert_eq!(read_tip(&tmp, "main"), Ok(None));
        fs::write(
            tmp.join("packed-refs"),
            "# pack-refs with: peeled\naaa refs/heads/main\n^bbb\n",
        )
        .unwrap();
        assert_eq!(read_tip(&tmp, "main"), Ok(Some("aaa".into())));
        fs::write(tmp.join("refs/heads/main"), "ccc\n").unwrap();
        assert_eq!(read_tip(&tmp, "main"), Ok(Some("ccc".into())));
        // A branch that is a symbolic ref reads as what it points at.
        fs::write(tmp.join("refs/heads/alias"), "ref: refs/heads/main\n").unwrap();
        assert_eq!(read_tip(&tmp, "alias"), Ok(Some("ccc".into())));
        assert_eq!(remote_git_dir(&tmp), Some(tmp.clone()));
        fs::remove_dir_all(&tmp).unwrap();
    }
}
