//! Peers: other machines' own working repositories as remotes, with no hub. A cycle fetches a
//! peer's branch and merges it like a hub's, but delivers its own commits to a side ref of
//! the peer (`refs/aisync/inbox/<machine>`), never into the branch checked out there, so a
//! peer's uncommitted work is never overwritten: the peer's own cycle merges its inbox.
//! `kick` makes a peer sync now and `run` runs a command in its synced repository, over
//! SSH (batch mode, the user's own SSH setup) or directly for a peer on a local path.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use crate::repo::Repo;

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

pub fn add(repo: &Repo, name: &str, url: &str) -> Result<Added> {
    crate::init::refuse_insecure(url)?;
    let existing = repo
        .remotes()?
        .into_iter()
        .find(|r| repo.setting(&format!("remote.{r}.url")) == Some(url));
    if let Some(remote) = existing {
        mark(repo, &remote)?;
        return Ok(Added::Adopted(remote));
    }
    if repo.setting(&format!("remote.{name}.url")).is_some() {
        bail!("a remote named {name} already points elsewhere: choose another name, or `git remote set-url {name} {url}`");
    }
    repo.run(["remote", "add", name, url])?;
    mark(repo, name)?;
    repo.config_set(&format!("remote.{name}.aisyncpeeradded"), "true")?;
    Ok(Added::New)
}

pub fn remove(repo: &Repo, name: &str) -> Result<()> {
    if !is_peer(repo, name) {
        bail!("{name} is not a peer (git aisync peer list shows them)");
    }
    if repo.flag(&format!("remote.{name}.aisyncpeeradded")) == Some(true) {
        repo.run(["remote", "remove", name])?;
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
            Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => {
                (h.to_string(), Some(p.to_string()))
            }
            _ => (authority.to_string(), None),
        };
        return Ok(Location::Ssh {
            host,
            port,
            path: format!("/{path}"),
        });
    }
    if let Some(path) = url.strip_prefix("file://") {
        return Ok(Location::Local(PathBuf::from(path)));
    }
    // scp-style `host:path` (a colon before any slash), else a plain path.
    match url.split_once(':') {
        Some((host, path)) if !host.contains('/') && !host.is_empty() && host.len() > 1 => {
            Ok(Location::Ssh {
                host: host.to_string(),
                port: None,
                path: path.to_string(),
            })
        }
        _ => Ok(Location::Local(PathBuf::from(url))),
    }
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
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
            let exe =
                std::env::current_exe().context("cannot find the git-aisync binary's own path")?;
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
            let mut script = format!(
                "cd {} && git aisync {}",
                shell_quote(&path),
                aisync
                    .iter()
                    .map(|a| shell_quote(a))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
            if let Some(cmd) = then {
                // Synced (or offline, or held back): then the command, its status passed back.
                script = format!(
                    "{script}; s=$?; if [ $s -eq 1 ] || [ $s -eq 2 ]; then exit $s; fi; {}",
                    cmd.iter()
                        .map(|a| shell_quote(a))
                        .collect::<Vec<_>>()
                        .join(" ")
                );
            }
            let mut args = Vec::new();
            if let Some(p) = port {
                args.push(format!("-p{p}"));
            }
            args.push(host);
            args.push(script);
            // The user's SSH command is shell words (it may quote a key's path): let a shell
            // read it, with batch mode added.
            Command::new("sh")
                .arg("-c")
                .arg(format!("{} \"$@\"", ssh_command(repo)))
                .arg("sh")
                .args(&args)
                .stdin(Stdio::null())
                .status()
                .context("cannot run ssh")?
        }
    };
    Ok(status.code().unwrap_or(1))
}

/// The user's SSH command (`GIT_SSH_COMMAND`, `core.sshCommand`, else `ssh`) in batch mode.
fn ssh_command(repo: &Repo) -> String {
    let base = std::env::var("GIT_SSH_COMMAND")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(|| repo.setting("core.sshCommand").map(str::to_string))
        .unwrap_or_else(|| "ssh".to_string());
    format!("{base} -o BatchMode=yes -o ConnectTimeout=15")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_where_the_peer_is() {
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
