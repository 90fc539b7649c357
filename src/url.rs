//! Remote URLs as git reads them: one parser for where a remote leads (a folder on this
//! machine, a host over SSH, anything else), and the transport policy (no clear text).

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

/// Where a remote URL leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A repository on this machine: a plain path (as written: relative ones are read from
    /// where git runs) or a `file:///` URL (percent-decoded).
    Local(PathBuf),
    /// Reached over SSH (`ssh://`, `git+ssh://`, scp-like `[user@]host:path`).
    Ssh(SshUrl),
    /// Any other transport (`https://`, `git://`, a remote helper's `x::…`).
    Other,
}

/// A repository reached over SSH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshUrl {
    /// `[user@]host`, an IPv6 address without its brackets.
    pub host: String,
    pub port: Option<String>,
    /// As git reads it: `~/x` and `~user/x` start from a home directory, a relative path
    /// from the login directory.
    pub path: String,
}

impl SshUrl {
    /// The destination as a person types it to ssh or ssh-copy-id (`-p 2222 me@host`), for
    /// messages that say what to run.
    pub fn destination(&self) -> String {
        match &self.port {
            Some(port) => format!("-p {port} {}", self.host),
            None => self.host.clone(),
        }
    }
}

/// Where `url` leads. An SSH URL whose host git would refuse (one that starts with a dash,
/// which ssh would read as an option) is an error.
pub fn parse(url: &str) -> Result<Location> {
    let ssh = ["git+ssh://", "ssh+git://", "ssh://"]
        .iter()
        .find_map(|p| url.strip_prefix(p));
    if let Some(rest) = ssh {
        let Some((authority, path)) = rest.split_once('/') else {
            bail!("{url} has no path: an ssh:// URL needs one");
        };
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
        return ssh_url(host, port, path);
    }
    if let Some(rest) = url.strip_prefix("file://") {
        // `file://host/path` names another machine's file system: not ours to read.
        if !rest.starts_with('/') {
            return Ok(Location::Other);
        }
        return Ok(Location::Local(PathBuf::from(percent_decode(rest))));
    }
    if url.contains("://") || url.contains("::") || url.is_empty() {
        return Ok(Location::Other);
    }
    // scp-like `host:path` when a colon comes before any slash (a one-letter "host" is a
    // Windows drive), else a plain path.
    match url.split_once(':') {
        Some((host, path)) if !host.contains('/') && host.len() > 1 => {
            ssh_url(host, None, path.to_string())
        }
        _ => Ok(Location::Local(PathBuf::from(url))),
    }
}

/// `[::1]` is how a URL writes an IPv6 address; ssh wants it bare. A host that starts with
/// a dash would be read as an option: git refuses those too.
fn ssh_url(host: &str, port: Option<String>, path: String) -> Result<Location> {
    let bare = |h: &str| h.trim_start_matches('[').trim_end_matches(']').to_string();
    let host = match host.rsplit_once('@') {
        Some((user, h)) => format!("{user}@{}", bare(h)),
        None => bare(host),
    };
    if host.is_empty() || host.starts_with('-') || path.is_empty() {
        bail!("{host}:{path} is not a host and a path git would use: check the URL");
    }
    Ok(Location::Ssh(SshUrl { host, port, path }))
}

/// The folder a URL names on this machine, a relative path read from `base` (where git
/// runs); `None` for anything reached through a transport.
pub fn local_path(url: &str, base: &Path) -> Option<PathBuf> {
    match parse(url).ok()? {
        Location::Local(path) if path.is_relative() => Some(base.join(path)),
        Location::Local(path) => Some(path),
        _ => None,
    }
}

/// Whether `url` is a path as a person types it (no `file://`, no transport).
pub fn is_plain_path(url: &str) -> bool {
    !url.contains("://") && matches!(parse(url), Ok(Location::Local(_)))
}

/// Where `url` points over SSH; `None` for any other URL or a path.
pub fn ssh(url: &str) -> Option<SshUrl> {
    match parse(url).ok()? {
        Location::Ssh(ssh) => Some(ssh),
        _ => None,
    }
}

/// The host a URL names, for messages: the SSH destination as a person types it, else the
/// host of `scheme://host/…`, else the URL.
pub fn host(url: &str) -> String {
    if let Some(ssh) = ssh(url) {
        return ssh.destination();
    }
    url.split_once("://")
        .map_or(url, |(_, rest)| rest)
        .split(['/', ':'])
        .next()
        .unwrap_or(url)
        .to_string()
}

/// Whether `url` travels unencrypted.
pub fn is_insecure(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("git://")
}

/// Pushing in clear text would publish memory to anyone on the path.
pub fn refuse_insecure(url: &str) -> Result<()> {
    if is_insecure(url) {
        bail!("{url} is not encrypted: use https:// or ssh:// (memory and configs would cross the network in clear text)");
    }
    Ok(())
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_remotes_are_paths_and_file_urls() {
        let wt = Path::new("/home/me/repo");
        assert_eq!(
            local_path("/srv/hub.git", wt),
            Some(PathBuf::from("/srv/hub.git"))
        );
        assert_eq!(local_path("../hub.git", wt), Some(wt.join("../hub.git")));
        assert_eq!(
            local_path("file:///srv/my%20hub.git", wt),
            Some(PathBuf::from("/srv/my hub.git"))
        );
        assert_eq!(local_path("host:hub.git", wt), None);
        assert_eq!(local_path("git@host:me/hub.git", wt), None);
        assert_eq!(local_path("ssh://host/hub.git", wt), None);
        assert_eq!(local_path("https://host/hub.git", wt), None);
        assert_eq!(local_path("file://otherhost/srv/hub.git", wt), None);
        assert_eq!(local_path("./a:b", wt), Some(wt.join("./a:b")));
        assert!(is_plain_path("../hub.git"));
        assert!(!is_plain_path("file:///srv/hub.git"));
        assert!(!is_plain_path("host:hub.git"));
    }

    #[test]
    fn urls_name_where_the_repository_is() {
        // `~` as git reads it, in both URL forms.
        for (url, path) in [
            ("ssh://host/~/ai", "~/ai"),
            ("ssh://host/~me/ai", "~me/ai"),
            ("host:~/ai", "~/ai"),
            ("ssh://[::1]:22/srv/ai", "/srv/ai"),
            ("git+ssh://host/srv/ai", "/srv/ai"),
        ] {
            assert_eq!(ssh(url).map(|s| s.path).as_deref(), Some(path), "{url}");
        }
        assert!(parse("-oProxyCommand=x:ai").is_err());
        // What a message tells the user to run keeps the port.
        assert_eq!(
            host("ssh://127.0.0.1:2222/srv/hub.git"),
            "-p 2222 127.0.0.1"
        );
        assert_eq!(host("me@host:hub.git"), "me@host");
        assert_eq!(host("https://host/hub.git"), "host");
        assert_eq!(ssh("https://host/hub.git"), None);
        assert_eq!(ssh("/srv/hub.git"), None);
        assert_eq!(
            parse("ssh://me@host:2222/srv/ai").unwrap(),
            Location::Ssh(SshUrl {
                host: "me@host".into(),
                port: Some("2222".into()),
                path: "/srv/ai".into()
            })
        );
        assert_eq!(
            parse("laptop:ai-memory").unwrap(),
            Location::Ssh(SshUrl {
                host: "laptop".into(),
                port: None,
                path: "ai-memory".into()
            })
        );
        assert_eq!(
            parse("/home/me/ai").unwrap(),
            Location::Local("/home/me/ai".into())
        );
        assert_eq!(
            parse("file:///home/me/ai").unwrap(),
            Location::Local("/home/me/ai".into())
        );
        assert_eq!(parse("https://host/ai.git").unwrap(), Location::Other);
    }

    #[test]
    fn clear_text_transports_are_refused() {
        assert!(is_insecure("http://host/x.git"));
        assert!(is_insecure("GIT://host/x.git"));
        assert!(!is_insecure("https://host/x.git"));
        assert!(!is_insecure("ssh://host/x.git"));
        assert!(!is_insecure("/srv/hub.git"));
        assert!(refuse_insecure("HTTP://host/x.git").is_err());
        assert!(refuse_insecure("https://host/x.git").is_ok());
    }
}
