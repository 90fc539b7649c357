//! The config in force, read once per process (in process by gix where it reads what git
//! reads, else by `git config --list`), and remote URLs resolved as git resolves them.

use std::path::Path;

use anyhow::{bail, Result};

use super::Repo;

/// The config in force: the last value of each key (keys as [`config_key`] spells them) and
/// the remotes that have a URL, in config order.
#[derive(Default)]
pub(super) struct Settings {
    /// `None`: the key alone, without `=` (git's true).
    values: std::collections::HashMap<String, Option<String>>,
    remotes: Vec<String>,
    /// Every URL of each remote, in order: git fetches from the first, pushes to all.
    urls: std::collections::HashMap<String, Vec<String>>,
    /// Every `remote.<name>.pushurl` of each remote, in order.
    pushurls: std::collections::HashMap<String, Vec<String>>,
    /// Every `url.<base>.insteadOf` value as (prefix, base): the key has several values.
    rewrites: Vec<(String, String)>,
    /// Every `url.<base>.pushInsteadOf` value, the same way.
    push_rewrites: Vec<(String, String)>,
    /// Read by gix (which then sees the config git sees), not by `git config --list`.
    pub(super) in_process: bool,
}

impl Settings {
    /// The last value wins, as in git.
    fn insert(&mut self, key: String, value: Option<String>) {
        if let (Some(base), Some(prefix)) = (
            key.strip_prefix("url.")
                .and_then(|k| k.strip_suffix(".insteadof")),
            &value,
        ) {
            self.rewrites.push((prefix.clone(), base.to_string()));
        }
        if let (Some(base), Some(prefix)) = (
            key.strip_prefix("url.")
                .and_then(|k| k.strip_suffix(".pushinsteadof")),
            &value,
        ) {
            self.push_rewrites.push((prefix.clone(), base.to_string()));
        }
        if let (Some(name), Some(url)) = (
            key.strip_prefix("remote.")
                .and_then(|r| r.strip_suffix(".pushurl")),
            &value,
        ) {
            self.pushurls
                .entry(name.to_string())
                .or_default()
                .push(url.clone());
        }
        if let Some(name) = key
            .strip_prefix("remote.")
            .and_then(|r| r.strip_suffix(".url"))
        {
            if !self.remotes.iter().any(|r| r == name) {
                self.remotes.push(name.to_string());
            }
            if let Some(url) = &value {
                self.urls
                    .entry(name.to_string())
                    .or_default()
                    .push(url.clone());
            }
        }
        self.values.insert(key, value);
    }

    /// Every URL of `remote`, `url.<base>.insteadOf` applied: the longest prefix wins, of
    /// equal ones the first in config order.
    fn remote_urls(&self, remote: &str) -> Vec<String> {
        let urls = self.urls.get(remote).map(Vec::as_slice).unwrap_or_default();
        urls.iter()
            .map(|url| rewritten(url, &self.rewrites).unwrap_or_else(|| url.clone()))
            .collect()
    }

    /// Every URL git pushes to for `remote`, as git's remote.c resolves them: the
    /// `pushurl`s (with `insteadOf` applied) when there are any; else each URL that a
    /// `pushInsteadOf` rewrites, rewritten so; else the URLs as [`Settings::remote_urls`].
    fn push_urls(&self, remote: &str) -> Vec<String> {
        if let Some(push) = self.pushurls.get(remote).filter(|p| !p.is_empty()) {
            return push
                .iter()
                .map(|url| rewritten(url, &self.rewrites).unwrap_or_else(|| url.clone()))
                .collect();
        }
        let urls = self.urls.get(remote).map(Vec::as_slice).unwrap_or_default();
        let pushed: Vec<String> = urls
            .iter()
            .filter_map(|url| rewritten(url, &self.push_rewrites))
            .collect();
        if pushed.is_empty() {
            self.remote_urls(remote)
        } else {
            pushed
        }
    }

    /// Read by gix from the same files git reads (system, global, repository, includes,
    /// `GIT_CONFIG_COUNT`), without a git process. `None` where git itself must answer: a
    /// repository gix cannot open, or `git -c` settings (`GIT_CONFIG_PARAMETERS`), which
    /// only git reads.
    pub(super) fn read_in_process(repo: Option<&gix::Repository>) -> Option<Settings> {
        if std::env::var_os("GIT_CONFIG_PARAMETERS").is_some()
            || std::env::var_os("GIT_CONFIG_SYSTEM").is_some()
            || !same_system_config()
        {
            return None;
        }
        Settings::read_with_gix(repo?)
    }

    pub(super) fn read_with_gix(repo: &gix::Repository) -> Option<Settings> {
        let snapshot = repo.config_snapshot();
        let mut settings = Settings {
            in_process: true,
            ..Settings::default()
        };
        for section in snapshot.plumbing().sections() {
            // gix's own bookkeeping of the environment, not the user's config.
            if section.meta().source == gix::config::Source::EnvOverride {
                continue;
            }
            let header = section.header();
            let prefix = match header.subsection_name() {
                // `[remote.Origin]`, the old spelling: git reads the subsection in lower case.
                Some(sub) if header.is_legacy() => format!(
                    "{}.{}.",
                    header.name().to_string().to_lowercase(),
                    sub.to_string().to_lowercase()
                ),
                Some(sub) => format!("{}.{}.", header.name().to_string().to_lowercase(), sub),
                None => format!("{}.", header.name().to_string().to_lowercase()),
            };
            let body = section.body();
            let mut seen = std::collections::HashSet::new();
            for name in body.value_names() {
                let name: &str = name.as_ref();
                let key = format!("{prefix}{}", name.to_lowercase());
                if !seen.insert(key.clone()) {
                    continue;
                }
                // Every value of a key that has several, in order; `None` when the last
                // has no `=` (gix reads that as no value).
                if body.value(name).is_none() {
                    settings.insert(key, None);
                    continue;
                }
                for value in body.values(name) {
                    settings.insert(key.clone(), Some(value.to_string()));
                }
            }
        }
        Some(settings)
    }
}

/// `url` with the longest matching prefix of `rewrites` ((prefix, base), of equal ones the
/// first in config order) replaced by its base; `None` when none matches.
fn rewritten(url: &str, rewrites: &[(String, String)]) -> Option<String> {
    let mut best: Option<&(String, String)> = None;
    for r in rewrites.iter().filter(|(p, _)| url.starts_with(p.as_str())) {
        if best.is_none_or(|b| r.0.len() > b.0.len()) {
            best = Some(r);
        }
    }
    best.map(|(prefix, base)| format!("{base}{}", &url[prefix.len()..]))
}

/// Whether gix reads the system config git reads: gix takes `/etc/gitconfig`, git its own
/// `<prefix>/etc/gitconfig` (`/etc/gitconfig` for a git in `/usr/bin`, as distributions
/// install it; `/usr/local/etc/gitconfig` or `/opt/homebrew/etc/gitconfig` for others).
fn same_system_config() -> bool {
    if std::env::var_os("GIT_CONFIG_NOSYSTEM").is_some() {
        return true;
    }
    let etc = Path::new("/etc/gitconfig");
    let git_dir = std::env::var_os("PATH")
        .and_then(|path| std::env::split_paths(&path).find(|dir| dir.join("git").is_file()));
    let git_system = git_dir.map(|dir| match dir.parent() {
        Some(prefix)
            if dir.ends_with("bin") && prefix != Path::new("/usr") && prefix != Path::new("/") =>
        {
            prefix.join("etc/gitconfig")
        }
        _ => etc.to_path_buf(),
    });
    match git_system {
        Some(file) if file == etc => true,
        // Another file: the same only when neither is there.
        Some(file) => !file.exists() && !etc.exists(),
        None => false,
    }
}

/// A config key as git compares it: section and name in lower case, the subsection as it
/// is (`remote.MyHub.url`).
fn config_key(key: &str) -> String {
    match (key.find('.'), key.rfind('.')) {
        (Some(first), Some(last)) if first < last => format!(
            "{}{}{}",
            key[..first].to_lowercase(),
            &key[first..last],
            key[last..].to_lowercase()
        ),
        _ => key.to_lowercase(),
    }
}

impl Repo {
    /// A config value in force (local, global, system or the environment's), from one read
    /// of the config.
    pub fn setting(&self, key: &str) -> Option<&str> {
        self.settings()
            .values
            .get(&config_key(key))
            .map(|v| v.as_deref().unwrap_or(""))
    }

    /// A boolean setting as git reads one (`true`/`yes`/`on`/`1`, or the key alone;
    /// `false`/`no`/`off`/`0`/empty); `None` when unset or not a boolean.
    pub fn flag(&self, key: &str) -> Option<bool> {
        let value = self.settings().values.get(&config_key(key))?;
        let Some(value) = value else {
            return Some(true);
        };
        match value.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => Some(true),
            "false" | "no" | "off" | "0" | "" => Some(false),
            _ => None,
        }
    }

    /// The settings whose keys start with `prefix` (section in lower case, the subsection
    /// as written: `aisync.project.`), as (the rest of the key, value), sorted.
    pub fn settings_under(&self, prefix: &str) -> Vec<(String, String)> {
        let mut found: Vec<(String, String)> = self
            .settings()
            .values
            .iter()
            .filter_map(|(k, v)| {
                k.strip_prefix(prefix)
                    .map(|rest| (rest.to_string(), v.clone().unwrap_or_default()))
            })
            .collect();
        found.sort();
        found
    }

    /// Whether any key in force (spelled as [`config_key`] does) satisfies `pred`.
    pub fn any_setting(&self, pred: impl Fn(&str) -> bool) -> bool {
        self.settings().values.keys().any(|k| pred(k))
    }

    /// Where git goes for `remote`: its URL with the longest matching `url.<base>.insteadOf`
    /// prefix rewritten, as git does it.
    /// (Its first URL: git fetches from that one.)
    pub fn remote_url(&self, remote: &str) -> Option<String> {
        self.remote_urls(remote).into_iter().next()
    }

    /// Every URL of `remote`, rewritten as [`Repo::remote_url`] says (git pushes to all).
    pub fn remote_urls(&self, remote: &str) -> Vec<String> {
        self.settings().remote_urls(remote)
    }

    /// Every URL git pushes to for `remote`, as git itself resolves them: `pushurl` when set,
    /// else the URLs, with `url.<base>.pushInsteadOf` (and `insteadOf`) applied.
    pub fn push_urls(&self, remote: &str) -> Result<Vec<String>> {
        Ok(self.settings().push_urls(remote))
    }

    /// The remotes (those with a URL), in config order.
    pub fn remotes(&self) -> Result<Vec<String>> {
        Ok(self.settings().remotes.clone())
    }

    pub(super) fn settings(&self) -> &Settings {
        self.settings.get_or_init(|| {
            Settings::read_in_process(self.objects()).unwrap_or_else(|| self.settings_from_git())
        })
    }

    /// `git config --list`: the reference, for what the in-process read does not cover.
    fn settings_from_git(&self) -> Settings {
        let mut settings = Settings::default();
        if let Ok(out) = self.git(["config", "--list", "-z"]).output() {
            for entry in out.stdout.split('\0') {
                // `key\nvalue`, or `key` alone for a key without `=`.
                let (k, v) = match entry.split_once('\n') {
                    Some((k, v)) => (k, Some(v.to_string())),
                    None => (entry, None),
                };
                if !k.is_empty() {
                    settings.insert(config_key(k), v);
                }
            }
        }
        settings
    }

    /// A local config value (`None` when unset).
    pub fn config_get(&self, key: &str) -> Result<Option<String>> {
        let out = self.git(["config", "--local", "--get", key]).output()?;
        Ok(out
            .success
            .then(|| out.stdout.trim_end_matches('\n').to_string()))
    }

    pub fn config_set(&self, key: &str, value: &str) -> Result<()> {
        self.git(["config", "--local", key, value]).run()?;
        Ok(())
    }

    pub fn config_unset(&self, key: &str) -> Result<()> {
        let out = self
            .git(["config", "--local", "--unset-all", key])
            .output()?;
        // Exit 5: the key was not set, which is what we wanted.
        if !out.success && self.config_get(key)?.is_some() {
            bail!("git config --unset {key} failed: {}", out.stderr.trim());
        }
        Ok(())
    }

    /// Removes a config section if it exists and holds nothing.
    pub fn config_remove_section_if_empty(&self, section: &str) -> Result<()> {
        let out = self
            .git([
                "config",
                "--local",
                "--get-regexp",
                &format!("^{}\\.", regex_escape(section)),
            ])
            .output()?;
        if out.stdout.trim().is_empty() {
            self.git(["config", "--local", "--remove-section", section])
                .output()?;
        }
        Ok(())
    }
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let special = "\\.+*?()|[]{}^$".contains(c);
            special
                .then_some('\\')
                .into_iter()
                .chain(std::iter::once(c))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The in-process read agrees with `git config` on what git-aisync reads: case rules,
    /// includes, last-value-wins, keys without a value, remotes in config order.
    /// A new repository in `dir` with `extra` added to its config, and its settings as
    /// read in process and by `git config --list` (both, whichever this machine uses).
    fn configured(dir: &Path, extra: &str) -> (Repo, Settings, Settings) {
        assert!(crate::git::git_in(dir, ["init", "-q"]).succeeds().unwrap());
        let config = dir.join(".git/config");
        let mut text = std::fs::read_to_string(&config).unwrap();
        text.push_str(extra);
        std::fs::write(&config, text).unwrap();
        let repo = Repo::find(dir).unwrap();
        let in_process =
            Settings::read_with_gix(repo.objects().expect("gix opens it")).expect("gix reads it");
        let via_git = repo.settings_from_git();
        (repo, in_process, via_git)
    }

    #[test]
    fn settings_read_in_process_agree_with_git() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        assert!(crate::git::git_in(dir, ["init", "-q"]).succeeds().unwrap());
        std::fs::write(
            dir.join("extra.cfg"),
            "[aisync]\n\tmachine = from-include\n",
        )
        .unwrap();
        let (repo, in_process, via_git) = configured(
            dir,
            concat!(
                "[aisync]\n\tmachine = first\n\tflag\n\tempty =\n",
                "[remote \"Zeta\"]\n\turl = /z\n",
                "[include]\n\tpath = ../extra.cfg\n",
                "[AiSync]\n\tAutoPush = Off\n",
                "[remote \"alpha\"]\n\turl = /a1\n\turl = /a2\n",
                "[url \"/srv/hubs/\"]\n\tinsteadOf = /\n\tinsteadOf = /nothing/\n",
                "[url \"/srv/\"]\n\tinsteadOf = /y\n",
                "[url \"/other/\"]\n\tinsteadOf = /y\n",
                "[remote \"why\"]\n\turl = /yz\n",
                "[remote.Legacy]\n\turl = /l\n",
            ),
        );
        for settings in [&in_process, &via_git] {
            let get = |key: &str| {
                settings
                    .values
                    .get(&config_key(key))
                    .map(|v| v.as_deref().unwrap_or(""))
            };
            for key in [
                "aisync.machine",
                "aisync.autopush",
                "remote.Zeta.url",
                "remote.alpha.url",
            ] {
                let out = repo.git(["config", "--get", key]).output().unwrap();
                assert_eq!(get(key), Some(out.stdout.trim_end()), "{key}");
            }
            assert_eq!(get("aisync.machine"), Some("from-include"));
            assert_eq!(get("remote.zeta.url"), None, "subsections keep their case");
            assert_eq!(
                settings.values.get("aisync.flag"),
                Some(&None),
                "a key alone"
            );
            assert_eq!(get("aisync.empty"), Some(""));
            assert_eq!(settings.remotes, ["Zeta", "alpha", "why", "legacy"]);
            // Where git fetches from: the first URL, the longest rewrite (the first of
            // equals), the old `[remote.Name]` spelling read in lower case.
            for remote in ["Zeta", "alpha", "why", "legacy"] {
                let ls = repo
                    .git(["ls-remote", "--get-url", remote])
                    .output()
                    .unwrap();
                let urls = settings.remote_urls(remote);
                assert_eq!(
                    urls.first().map(String::as_str),
                    Some(ls.stdout.trim_end()),
                    "{remote}"
                );
            }
            assert_eq!(
                settings.remote_urls("alpha"),
                ["/srv/hubs/a1", "/srv/hubs/a2"]
            );
        }
        // And through the repository, as the rest of git-aisync asks.
        assert_eq!(repo.flag("aisync.flag"), Some(true));
        assert_eq!(repo.flag("aisync.empty"), Some(false));
        assert_eq!(repo.flag("aisync.autopush"), Some(false));
        assert_eq!(repo.flag("aisync.machine"), None);
        assert_eq!(repo.remote_url("Zeta").as_deref(), Some("/srv/hubs/z"));
    }

    /// Where a push goes (the insecure-transport gate reads it for every push), read in
    /// process, against `git remote get-url --push --all` for each way of configuring it.
    #[test]
    fn push_urls_read_in_process_agree_with_git() {
        let tmp = tempfile::tempdir().unwrap();
        let (repo, in_process, via_git) = configured(
            tmp.path(),
            concat!(
            "[url \"ssh://hub/\"]\n\tinsteadOf = hub:\n",
            "[url \"git://plain/\"]\n\tpushInsteadOf = ssh://hub/\n\tpushInsteadOf = https://x/\n",
            "[url \"ssh://longer/\"]\n\tpushInsteadOf = https://x/y/\n",
            // Plain URLs only; one rewritten by insteadOf.
            "[remote \"plain\"]\n\turl = /a\n\turl = hub:b\n",
            // pushurls (insteadOf applies, pushInsteadOf does not).
            "[remote \"pushurl\"]\n\turl = /a\n\tpushurl = hub:c\n\tpushurl = ssh://hub/d\n",
            // pushInsteadOf on one URL of two: git pushes to that one only.
            "[remote \"some\"]\n\turl = /a\n\turl = https://x/e\n",
            // The longest pushInsteadOf prefix wins.
            "[remote \"longest\"]\n\turl = https://x/y/f\n",
            ),
        );
        for remote in ["plain", "pushurl", "some", "longest", "none"] {
            let out = repo
                .git(["remote", "get-url", "--push", "--all", "--", remote])
                .output()
                .unwrap();
            let git_says: Vec<&str> = out.stdout.lines().collect();
            assert_eq!(in_process.push_urls(remote), git_says, "{remote}");
            assert_eq!(via_git.push_urls(remote), git_says, "{remote}");
        }
        assert_eq!(in_process.push_urls("some"), ["git://plain/e"]);
    }
}
