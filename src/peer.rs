//! Peers: other machines' own working repositories as remotes, with no hub. A cycle fetches a
//! peer's branch and merges it like a hub's, but delivers its own commits to a side ref of
//! the peer (`refs/aisync/inbox/<machine>`), never into the branch checked out there, so a
//! peer's uncommitted work is never overwritten: the peer's own cycle merges its inbox.
//! `kick` makes a peer sync now and `run` runs a command in its synced repository, over
//! SSH (batch mode, the user's own SSH setup) or directly for a peer on a local path.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use crate::git::Repo;
use crate::url::{Location, SshUrl};

/// Where peers deliver their commits, one ref per sending machine.
pub const INBOX: &str = "refs/aisync/inbox/";

/// Whether `remote` is a peer (a working repository, not a hub).
pub fn is_peer(repo: &Repo, remote: &str) -> bool {
    repo.flag(&format!("remote.{remote}.aisyncpeer")) == Some(true)
}

/// Marks `remote` as a peer (a non-bare origin found at push time, say).
pub fn mark(repo: &Repo, remote: &str) -> Result<()> {
    repo.config_set(&format!("remote.{remote}.aisyncpeer"), "true")
}

pub enum Added {
    New,
    /// A remote with that URL existed (under this name or another): it is a peer now.
    Adopted(String),
}

/// Adds the peer `name` at `url` (a path read from `cwd`, where the person typed it), or
/// adopts the remote that already leads there, however its URL is spelled.
pub fn add(repo: &Repo, name: &str, url: &str, cwd: &Path) -> Result<Added> {
    crate::url::refuse_insecure(url)?;
    // A path is kept absolute: git reads a relative one from the top of the working tree.
    let url = match crate::url::local_path(url, cwd) {
        Some(path) if !url.starts_with("file://") => {
            // (Links kept: a mount point linked into the home folder stays as typed.)
            let path = lexical(&path);
            path.to_str()
                .map(str::to_string)
                .unwrap_or_else(|| url.to_string())
        }
        _ => url.to_string(),
    };
    let url = url.as_str();
    let ours = crate::machine::name(repo);
    if local_machine_name(repo, url).as_deref() == Some(ours.as_str()) {
        bail!("{url} is a machine named {ours} too, and two machines of one name deliver to the same inbox: give this one its own name with `git config aisync.machine NAME` and add the peer again");
    }
    let here = place(url, &repo.work_tree);
    let existing = repo.remotes()?.into_iter().find(|r| {
        repo.remote_urls(r)
            .iter()
            .any(|u| place(u, &repo.work_tree) == here)
    });
    if let Some(remote) = existing {
        mark(repo, &remote)?;
        return Ok(Added::Adopted(remote));
    }
    if repo.setting(&format!("remote.{name}.url")).is_some() {
        bail!("a remote named {name} already points elsewhere: choose another name, or `git remote set-url {name} {url}`");
    }
    repo.git(["remote", "add", name, url]).run()?;
    mark(repo, name)?;
    repo.config_set(&format!("remote.{name}.aisyncpeeradded"), "true")?;
    Ok(Added::New)
}

/// Where a remote URL leads, spelled one way, so that two spellings of one place compare
/// equal: a path (plain, relative to `base`, or `file://`) as its git directory's canonical
/// path; an SSH URL as host, port and path; any URL without trailing slashes or `.git`.
fn place(url: &str, base: &Path) -> String {
    fn trimmed(s: &str) -> &str {
        let s = s.trim_end_matches('/');
        s.strip_suffix(".git").unwrap_or(s).trim_end_matches('/')
    }
    if let Some(path) = crate::url::local_path(url, base) {
        let path = lexical(&path);
        let dir = crate::remote::remote_git_dir(&path)
            .or_else(|| path.canonicalize().ok())
            .unwrap_or(path);
        let dir = dir.canonicalize().unwrap_or(dir);
        return format!("path {}", trimmed(&dir.to_string_lossy()));
    }
    if let Some(ssh) = crate::url::ssh(url) {
        let port = ssh.port.unwrap_or_else(|| "22".into());
        return format!("ssh {} {port} {}", ssh.host, trimmed(&ssh.path));
    }
    format!("url {}", trimmed(url))
}

/// `path` made absolute with `.` and `..` taken out by their names (for a path that is not
/// there to be canonicalized).
fn lexical(path: &Path) -> PathBuf {
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}

/// The machine name of a peer on this machine (its `aisync.machine`, else the host name, as
/// its own cycle reads it); `None` for a peer elsewhere, a hub, or nothing there.
pub fn local_machine_name(repo: &Repo, url: &str) -> Option<String> {
    let path = crate::url::local_path(url, &repo.work_tree)?;
    let path = path.canonicalize().ok()?;
    let peer = Repo::discover(&path).ok()?;
    // (Not a repository of a folder above it.)
    if peer.work_tree.canonicalize().ok()? != path {
        return None;
    }
    Some(crate::machine::name(&peer))
}

/// Why `remote` and this machine would write to one inbox, when they would (two machines
/// of one name: each delivery of one is rejected, and the peer looks offline): a repository
/// on this machine named as we are, or a peer's inbox for our name holding commits we never
/// made. Read from files; a peer elsewhere is not asked.
pub fn name_clash(repo: &Repo, remote: &str) -> Option<String> {
    let ours = crate::machine::name(repo);
    let url = repo.remote_url(remote)?;
    if local_machine_name(repo, &url).as_deref() == Some(ours.as_str()) {
        return Some(format!(
            "{remote} ({url}) is a machine named {ours} too: both deliver to one inbox"
        ));
    }
    // (Any remote on this machine: a non-bare origin becomes a peer in the cycle itself.)
    let path = crate::url::local_path(&url, &repo.work_tree)?;
    let git_dir = crate::remote::remote_git_dir(&path)?;
    let tip = crate::remote::read_ref(&git_dir, &format!("{INBOX}{ours}")).ok()??;
    // What we delivered is in our history: we never drop a commit.
    let ours_made =
        repo.rev(&tip).ok().flatten().is_some() && repo.is_ancestor(&tip, "HEAD").unwrap_or(false);
    (!ours_made).then(|| {
        format!("{remote}'s inbox for {ours} holds commits this machine never made: another machine is named {ours} too")
    })
}

pub fn remove(repo: &Repo, name: &str) -> Result<()> {
    if !is_peer(repo, name) {
        bail!("{name} is not a peer (git aisync peer list shows them)");
    }
    if repo.flag(&format!("remote.{name}.aisyncpeeradded")) == Some(true) {
        repo.git(["remote", "remove", name]).run()?;
    } else {
        repo.config_unset(&format!("remote.{name}.aisyncpeer"))?;
    }
    Ok(())
}

pub fn list(repo: &Repo) -> Result<Vec<(String, String)>> {
    Ok(repo
        .remotes()?
        .into_iter()
        .filter(|r| is_peer(repo, r))
        .map(|r| {
            let url = repo
                .setting(&format!("remote.{r}.url"))
                .unwrap_or("")
                .to_string();
            (r, url)
        })
        .collect())
}

/// Runs `git aisync ARGS…` in the peer's repository (then, with `then`, that command
/// there); returns its exit status and output passed through.
pub fn remote_command(
    repo: &Repo,
    peer: &str,
    aisync: &[&str],
    then: Option<&[String]>,
) -> Result<i32> {
    if !is_peer(repo, peer) && repo.setting(&format!("remote.{peer}.url")).is_none() {
        bail!("no peer or remote named {peer}: git aisync peer add {peer} URL");
    }
    let url = repo.remote_url(peer).unwrap_or_default();
    let status = match crate::url::parse(&url)? {
        Location::Local(dir) => {
            let dir = if dir.is_relative() {
                repo.work_tree.join(dir)
            } else {
                dir
            };
            let exe = crate::platform::own_path()?;
            let sync = Command::new(&exe)
                .args(aisync)
                .current_dir(&dir)
                .env_remove("GIT_DIR")
                .env_remove("GIT_WORK_TREE")
                .env_remove("GIT_INDEX_FILE")
                .stdin(Stdio::null())
                .status()
                .with_context(|| format!("cannot run git-aisync in {}", dir.display()))?;
            match then {
                Some([cmd, args @ ..]) if sync.code().is_some_and(|c| c != 1 && c != 2) => {
                    Command::new(cmd)
                        .args(args)
                        .current_dir(&dir)
                        .status()
                        .with_context(|| format!("cannot run {cmd} in {}", dir.display()))?
                }
                _ => sync,
            }
        }
        Location::Other => {
            bail!("{peer} ({url}) is neither a path nor an SSH URL: a peer is reached over SSH or on this machine")
        }
        Location::Ssh(SshUrl { host, port, path }) => {
            let quoted = |words: &mut dyn Iterator<Item = &str>| {
                words.map(crate::shell::quote).collect::<Vec<_>>().join(" ")
            };
            let mut script = format!(
                "{}\"$aisync\" {}",
                crate::ssh::find_program(
                    peer,
                    repo.setting(&format!("remote.{peer}.aisyncProgram"))
                ),
                quoted(&mut aisync.iter().copied())
            );
            if let Some(cmd) = then {
                // Synced (or offline, or held back): then the command, its status passed back.
                script = format!(
                    "{script}\ns=$?\nif [ $s -eq 1 ] || [ $s -eq 2 ]; then exit $s; fi\n{}",
                    quoted(&mut cmd.iter().map(String::as_str))
                );
            }
            crate::ssh::command(
                &repo.ssh_command(),
                &host,
                port.as_deref(),
                &crate::ssh::remote_script(&path, &script),
            )
            .stdin(Stdio::null())
            .status()
            .context("cannot run ssh")?
        }
    };
    Ok(status.code().unwrap_or(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_place_compare_equal() {
        let base = Path::new("/nowhere/b");
        for (a, b) in [
            ("/nowhere/a", "../a"),
            ("/nowhere/a", "/nowhere/a/"),
            ("/nowhere/hub.git", "file:///nowhere/hub"),
            ("ssh://host/srv/ai.git", "ssh://host:22/srv/ai/"),
            ("host:ai", "host:ai.git"),
            (
                "https://example.com/me/ai",
                "https://example.com/me/ai.git/",
            ),
        ] {
            assert_eq!(place(a, base), place(b, base), "{a} and {b}");
        }
        for (a, b) in [
            ("/nowhere/a", "/nowhere/c"),
            ("ssh://host/srv/ai", "ssh://host:2222/srv/ai"),
            ("host:ai", "other:ai"),
        ] {
            assert_ne!(place(a, base), place(b, base), "{a} and {b}");
        }
    }
}
