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
    crate::init::refuse_insecure(url)?;
    // A path is kept absolute: git reads a relative one from the top of the working tree.
    let url = match crate::remote::local_path(url, cwd) {
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
    let ours = crate::sync::machine(repo);
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
    if let Some(path) = crate::remote::local_path(url, base) {
        let path = lexical(&path);
        let dir = crate::remote::remote_git_dir(&path)
            .or_else(|| path.canonicalize().ok())
            .unwrap_or(path);
        let dir = dir.canonicalize().unwrap_or(dir);
        return format!("path {}", trimmed(&dir.to_string_lossy()));
    }
    if let Some(Location::Ssh { host, port, path }) = over_ssh(url) {
        let port = port.unwrap_or_else(|| "22".into());
        return format!("ssh {host} {port} {}", trimmed(&path));
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
    let path = crate::remote::local_path(url, &repo.work_tree)?;
    let path = path.canonicalize().ok()?;
    let peer = Repo::discover(&path).ok()?;
    // (Not a repository of a folder above it.)
    if peer.work_tree.canonicalize().ok()? != path {
        return None;
    }
    Some(crate::sync::machine(&peer))
}

/// Why `remote` and this machine would write to one inbox, when they would (two machines
/// of one name: each delivery of one is rejected, and the peer looks offline): a repository
/// on this machine named as we are, or a peer's inbox for our name holding commits we never
/// made. Read from files; a peer elsewhere is not asked.
pub fn name_clash(repo: &Repo, remote: &str) -> Option<String> {
    let ours = crate::sync::machine(repo);
    let url = repo.remote_url(remote)?;
    if local_machine_name(repo, &url).as_deref() == Some(ours.as_str()) {
        return Some(format!(
            "{remote} ({url}) is a machine named {ours} too: both deliver to one inbox"
        ));
    }
    // (Any remote on this machine: a non-bare origin becomes a peer in the cycle itself.)
    let path = crate::remote::local_path(&url, &repo.work_tree)?;
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

/// Where a peer's repository is.
#[derive(Debug, PartialEq, Eq)]
pub enum Location {
    Local(PathBuf),
    /// Reached over SSH. `path` as git reads it: `~/x` and `~user/x` start from a home
    /// directory, a relative path from the login directory.
    Ssh {
        host: String,
        port: Option<String>,
        path: String,
    },
}

pub fn locate(url: &str) -> Result<Location> {
    if let Some(rest) = url.strip_prefix("ssh://") {
        let (authority, path) = rest.split_once('/').context("an ssh:// URL needs a path")?;
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) && !p.is_empty() => {
                (h, Some(p.to_string()))
            }
            _ => (authority, None),
        };
        // git reads `ssh://host/~user/x` as `~user/x`.
        let path = if path.starts_with('~') {
            path.to_string()
        } else {
            format!("/{path}")
        };
        return ssh_location(host, port, path);
    }
    if let Some(path) = url.strip_prefix("file://") {
        return Ok(Location::Local(PathBuf::from(path)));
    }
    // scp-style `host:path` (a colon before any slash), else a plain path.
    match url.split_once(':') {
        Some((host, path)) if !host.contains('/') && !host.is_empty() && host.len() > 1 => {
            ssh_location(host, None, path.to_string())
        }
        _ => Ok(Location::Local(PathBuf::from(url))),
    }
}

/// `[::1]` is how a URL writes an IPv6 address; ssh wants it bare. A host that starts with
/// a dash would be read as an option: git refuses those too.
fn ssh_location(host: &str, port: Option<String>, path: String) -> Result<Location> {
    let bare = |h: &str| h.trim_start_matches('[').trim_end_matches(']').to_string();
    let host = match host.rsplit_once('@') {
        Some((user, h)) => format!("{user}@{}", bare(h)),
        None => bare(host),
    };
    if host.is_empty() || host.starts_with('-') || path.is_empty() {
        bail!("{host}:{path} is not a host and a path git would use: check the URL");
    }
    Ok(Location::Ssh { host, port, path })
}

/// Where a remote URL points over SSH (`ssh://`, `git+ssh://`, scp-like `host:path`);
/// `None` for any other URL or a path.
pub fn over_ssh(url: &str) -> Option<Location> {
    let url = ["git+ssh://", "ssh+git://"]
        .iter()
        .find_map(|p| url.strip_prefix(p))
        .map_or_else(|| url.to_string(), |rest| format!("ssh://{rest}"));
    if url.contains("://") && !url.starts_with("ssh://") {
        return None;
    }
    locate(&url)
        .ok()
        .filter(|l| matches!(l, Location::Ssh { .. }))
}

/// The SSH destination of a remote URL as a person types it to ssh or ssh-copy-id
/// (`-p 2222 me@host`), for messages that tell what to run; `None` when the URL is no SSH one.
pub fn ssh_destination(url: &str) -> Option<String> {
    match over_ssh(url)? {
        Location::Ssh {
            host,
            port: Some(port),
            ..
        } => Some(format!("-p {port} {host}")),
        Location::Ssh { host, .. } => Some(host),
        Location::Local(_) => None,
    }
}

/// Shell words that go to `path` from the login directory, as git reads a path in an SSH
/// URL: `~` and `~/x` from the home directory, `~user/x` from that user's.
fn cd_to(path: &str) -> String {
    let Some(rest) = path.strip_prefix('~') else {
        return format!("cd -- {}", crate::shell::quote(path));
    };
    let (user, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let valid_user = user
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && !user.starts_with('-');
    if !valid_user {
        return format!("cd -- {}", crate::shell::quote(path));
    }
    // An unquoted `~user` is expanded by the shell; the rest stays quoted.
    let home = if user.is_empty() {
        "cd".to_string()
    } else {
        format!("cd ~{user}")
    };
    let tail = tail.trim_start_matches('/');
    if tail.is_empty() {
        home
    } else {
        format!("{home} && cd -- {}", crate::shell::quote(tail))
    }
}

/// What a machine reached over SSH runs: `script` in the repository at `path` (ended with
/// status 1 when it is not there), in `sh -c` so a login shell of another family (fish, csh)
/// runs it the same. kick, run and the watcher's notify-wait sessions all go through here.
pub fn remote_script(path: &str, script: &str) -> String {
    let script = format!("{} || exit 1\n{script}", cd_to(path));
    format!("sh -c {}", crate::shell::quote(&script))
}

/// `ssh [-p PORT] HOST SCRIPT` with the user's own SSH command in batch mode (the cycle's:
/// `GIT_SSH_COMMAND`, `core.sshCommand`, else `ssh`, sharing its kept connection). That
/// command is shell words (it may quote a key's path), so a shell reads it.
pub fn ssh(ssh_command: &str, host: &str, port: Option<&str>, script: &str) -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(format!("{ssh_command} \"$@\"")).arg("sh");
    if let Some(p) = port {
        cmd.arg(format!("-p{p}"));
    }
    cmd.arg(host).arg(script).env("GIT_TERMINAL_PROMPT", "0");
    cmd
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
    let status = match locate(&url)? {
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
        Location::Ssh { host, port, path } => {
            let quoted = |words: &mut dyn Iterator<Item = &str>| {
                words.map(crate::shell::quote).collect::<Vec<_>>().join(" ")
            };
            let mut script = format!("git aisync {}", quoted(&mut aisync.iter().copied()));
            if let Some(cmd) = then {
                // Synced (or offline, or held back): then the command, its status passed back.
                script = format!(
                    "{script}\ns=$?\nif [ $s -eq 1 ] || [ $s -eq 2 ]; then exit $s; fi\n{}",
                    quoted(&mut cmd.iter().map(String::as_str))
                );
            }
            ssh(
                &repo.ssh_command(),
                &host,
                port.as_deref(),
                &remote_script(&path, &script),
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

    #[test]
    fn urls_name_where_the_peer_is() {
        // `~` as git reads it, in both URL forms.
        for (url, path) in [
            ("ssh://host/~/ai", "~/ai"),
            ("ssh://host/~me/ai", "~me/ai"),
            ("host:~/ai", "~/ai"),
            ("ssh://[::1]:22/srv/ai", "/srv/ai"),
        ] {
            assert!(
                matches!(locate(url).unwrap(), Location::Ssh { path: p, .. } if p == path),
                "{url}"
            );
        }
        assert!(locate("-oProxyCommand=x:ai").is_err());
        // What a message tells the user to run keeps the port.
        assert_eq!(
            ssh_destination("ssh://127.0.0.1:2222/srv/hub.git").as_deref(),
            Some("-p 2222 127.0.0.1")
        );
        assert_eq!(
            ssh_destination("me@host:hub.git").as_deref(),
            Some("me@host")
        );
        assert_eq!(ssh_destination("https://host/hub.git"), None);
        assert_eq!(ssh_destination("/srv/hub.git"), None);
        assert_eq!(
            locate("ssh://me@host:2222/srv/ai").unwrap(),
            Location::Ssh {
                host: "me@host".into(),
                port: Some("2222".into()),
                path: "/srv/ai".into()
            }
        );
        assert_eq!(
            locate("laptop:ai-memory").unwrap(),
            Location::Ssh {
                host: "laptop".into(),
                port: None,
                path: "ai-memory".into()
            }
        );
        assert_eq!(
            locate("/home/me/ai").unwrap(),
            Location::Local("/home/me/ai".into())
        );
        assert_eq!(
            locate("file:///home/me/ai").unwrap(),
            Location::Local("/home/me/ai".into())
        );
    }
}
