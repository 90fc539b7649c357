//! The one place that runs git. Every child gets the same safe environment (no prompt, no
//! pager, no editor) and a time limit, so an unattended command can never hang.

use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::git_dir;

/// How long a local git command may take before it is killed.
const LOCAL_LIMIT: Duration = Duration::from_secs(60);
/// How long a command that talks to a remote may take.
const REMOTE_LIMIT: Duration = Duration::from_secs(120);

pub struct Repo {
    pub work_tree: PathBuf,
    pub git_dir: PathBuf,
    /// Every config value in force, read once on first use.
    settings: std::cell::OnceCell<Settings>,
    /// The object database as gix reads it, opened once on first use (`None`: gix cannot
    /// open the repository, and git answers instead).
    objects: std::cell::OnceCell<Option<gix::Repository>>,
}

/// The config in force: the last value of each key (keys as [`config_key`] spells them) and
/// the remotes that have a URL, in config order.
#[derive(Default)]
struct Settings {
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
    in_process: bool,
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
    fn read_in_process(repo: Option<&gix::Repository>) -> Option<Settings> {
        if std::env::var_os("GIT_CONFIG_PARAMETERS").is_some()
            || std::env::var_os("GIT_CONFIG_SYSTEM").is_some()
            || !same_system_config()
        {
            return None;
        }
        Settings::read_with_gix(repo?)
    }

    fn read_with_gix(repo: &gix::Repository) -> Option<Settings> {
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

/// A path as git stores it: bytes, never decoded (a name need not be UTF-8).
pub type GitPath = Vec<u8>;

/// A path as text, for the policy's patterns and for records (invalid UTF-8 replaced);
/// never handed back to git. Messages quote names with [`crate::gate::shown`].
pub fn readable(path: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(path)
}

/// A git path as a path under the working tree.
pub fn os_path(path: &[u8]) -> &Path {
    Path::new(<OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(path))
}

const ZERO_OID: &str = "0000000000000000000000000000000000000000";

/// An index entry: mode (`"0"`: none), blob id, path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexEntry {
    pub mode: String,
    pub oid: String,
    pub path: GitPath,
}

/// How a path differs between a tree and an index (`git diff --raw`): the entry before and
/// after (mode `"0"` where there is none).
#[derive(Clone, Debug)]
pub struct IndexChange {
    pub before: IndexEntry,
    pub after: IndexEntry,
}

/// A scratch index of the cycle's own (see [`Repo::scratch_index`]); gone when dropped,
/// unless kept for the next cycle.
pub struct Scratch<'r> {
    repo: &'r Repo,
    path: PathBuf,
    kept: std::cell::Cell<bool>,
    /// The tree of the commit it was made on.
    pub base_tree: Option<String>,
}

impl Scratch<'_> {
    fn run(&self, args: &[&str], input: Option<Vec<u8>>) -> Result<Vec<u8>> {
        self.repo.raw(Some(&self.path), args, input)
    }

    /// Stages these paths as they are in the working tree now, names taken literally.
    pub fn add(&self, paths: &[GitPath]) -> Result<()> {
        if paths.is_empty() {
            return Ok(());
        }
        let input = nul_separated(paths);
        self.run(
            &["add", "-A", "--pathspec-from-file=-", "--pathspec-file-nul"],
            Some(input),
        )
        .map(drop)
    }

    /// Takes these paths out of the index (a file deleted, or now a folder).
    pub fn remove(&self, paths: &[GitPath]) -> Result<()> {
        if paths.is_empty() {
            return Ok(());
        }
        self.run(
            &["update-index", "-z", "--force-remove", "--stdin"],
            Some(nul_separated(paths)),
        )
        .map(drop)
    }

    /// Sets entries (`mode == "0"`: the path leaves the index).
    pub fn set(&self, entries: &[IndexEntry]) -> Result<()> {
        self.repo.set_entries(Some(&self.path), entries)
    }

    /// How this index differs from `base` (none: the empty tree), submodules included.
    pub fn changes(&self, base: Option<&str>) -> Result<Vec<IndexChange>> {
        let mut args = vec![
            "diff-index",
            "--cached",
            "--raw",
            "-z",
            "--no-renames",
            "--no-abbrev",
        ];
        let empty;
        match base {
            Some(b) => args.push(b),
            None => {
                empty = String::from_utf8_lossy(
                    &self.run(&["hash-object", "-t", "tree", "--stdin"], Some(Vec::new()))?,
                )
                .trim()
                .to_string();
                args.push(&empty);
            }
        }
        let out = self.run(&args, None)?;
        // `:<old mode> <new mode> <old id> <new id> <status>` NUL `<path>` NUL, per path.
        let mut fields = out.split(|&b| b == 0);
        let mut list = Vec::new();
        while let (Some(meta), Some(path)) = (fields.next(), fields.next()) {
            let meta = String::from_utf8_lossy(meta);
            let parts: Vec<&str> = meta.trim_start_matches(':').split(' ').collect();
            if let [old_mode, new_mode, old_id, new_id, _] = parts[..] {
                let entry = |mode: &str, oid: &str| IndexEntry {
                    mode: if mode.trim_start_matches('0').is_empty() {
                        "0".into()
                    } else {
                        mode.into()
                    },
                    oid: oid.into(),
                    path: path.to_vec(),
                };
                list.push(IndexChange {
                    before: entry(old_mode, old_id),
                    after: entry(new_mode, new_id),
                });
            }
        }
        Ok(list)
    }

    /// The entries this index holds for exactly these paths.
    pub fn entries(&self, paths: &[GitPath]) -> Result<Vec<IndexEntry>> {
        if paths.is_empty() {
            return Ok(Vec::new());
        }
        // (ls-files reads no pathspec file: the whole index, then only these paths.)
        let out = self.run(&["ls-files", "-s", "-z"], None)?;
        let wanted: std::collections::HashSet<&[u8]> = paths.iter().map(Vec::as_slice).collect();
        let mut list = Vec::new();
        for entry in out.split(|&b| b == 0) {
            // "<mode> <oid> <stage>\t<path>"
            let Some(tab) = entry.iter().position(|&b| b == b'\t') else {
                continue;
            };
            let (meta, path) = (String::from_utf8_lossy(&entry[..tab]), &entry[tab + 1..]);
            let parts: Vec<&str> = meta.split(' ').collect();
            if let ([mode, oid, _], true) = (&parts[..], wanted.contains(path)) {
                list.push(IndexEntry {
                    mode: mode.to_string(),
                    oid: oid.to_string(),
                    path: path.to_vec(),
                });
            }
        }
        Ok(list)
    }

    /// The tree this index holds.
    pub fn write_tree(&self) -> Result<String> {
        Ok(String::from_utf8_lossy(&self.run(&["write-tree"], None)?)
            .trim()
            .to_string())
    }
}

impl Scratch<'_> {
    /// Keeps this index for the next cycle, saying it holds `tree` (HEAD's tree now).
    pub fn keep(&self, tree: &str) {
        let holds = self.path.with_extension("cycle.tree");
        self.kept.set(std::fs::write(holds, tree).is_ok());
    }
}

impl Drop for Scratch<'_> {
    fn drop(&mut self) {
        if !self.kept.get() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The non-empty NUL-terminated records of `-z` output.
fn nul_split(out: &[u8]) -> impl Iterator<Item = &[u8]> {
    out.split(|&b| b == 0).filter(|e| !e.is_empty())
}

/// `<meta>\t<path>` (an `ls-files -s` line): the meta as text, the path as bytes.
fn meta_and_path(entry: &[u8]) -> Option<(&str, &[u8])> {
    let tab = entry.iter().position(|&b| b == b'\t')?;
    Some((std::str::from_utf8(&entry[..tab]).ok()?, &entry[tab + 1..]))
}

fn nul_separated(paths: &[GitPath]) -> Vec<u8> {
    let mut input = Vec::new();
    for p in paths {
        input.extend_from_slice(p);
        input.push(0);
    }
    input
}

/// One stage of an unmerged path: (stage number, mode, blob id).
pub type Stage = (u8, String, String);

/// What a finished git command printed.
pub struct Output {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Repo {
    /// The repository around `dir`, with a working tree.
    pub fn discover(dir: &Path) -> Result<Repo> {
        let out = git(
            dir,
            ["rev-parse", "--is-bare-repository", "--absolute-git-dir"],
        )?;
        if !out.success {
            bail!("{} is not inside a git repository: run `git init` there first, or cd into your repo", dir.display());
        }
        let mut lines = out.stdout.lines();
        if lines.next() == Some("true") {
            bail!(
                "{} is a bare repository: run this in a clone with a working tree",
                dir.display()
            );
        }
        let git_dir = PathBuf::from(lines.next().unwrap_or_default());
        let top = git(dir, ["rev-parse", "--show-toplevel"])?;
        if !top.success {
            bail!(
                "{} is inside a git directory, not a working tree: cd to the top of your repo",
                dir.display()
            );
        }
        Ok(Repo::at(
            PathBuf::from(top.stdout.trim_end_matches('\n')),
            git_dir,
        ))
    }

    fn at(work_tree: PathBuf, git_dir: PathBuf) -> Repo {
        Repo {
            work_tree,
            git_dir,
            settings: std::cell::OnceCell::new(),
            objects: std::cell::OnceCell::new(),
        }
    }

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

    /// The repository opened by gix, once: config and object reads without a git process.
    fn objects(&self) -> Option<&gix::Repository> {
        self.objects
            .get_or_init(|| gix::open(&self.git_dir).ok())
            .as_ref()
    }

    /// A commit read in process: (its tree, its parents). `None` when `rev` is not a full
    /// object id or gix cannot read it (git is asked then).
    fn commit_read(&self, rev: &str) -> Option<(String, Vec<String>)> {
        let id = gix::ObjectId::from_hex(rev.as_bytes()).ok()?;
        let commit = self.objects()?.find_commit(id).ok()?;
        let tree = commit.tree_id().ok()?.to_string();
        let parents = commit.parent_ids().map(|p| p.to_string()).collect();
        Some((tree, parents))
    }

    fn settings(&self) -> &Settings {
        self.settings.get_or_init(|| {
            Settings::read_in_process(self.objects()).unwrap_or_else(|| self.settings_from_git())
        })
    }

    /// `git config --list`: the reference, for what the in-process read does not cover.
    fn settings_from_git(&self) -> Settings {
        let mut settings = Settings::default();
        if let Ok(out) = self.git(["config", "--list", "-z"]) {
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

    /// The object a ref names, read from the ref files (no git process): a loose ref, else
    /// packed-refs. `None` when there is no such ref.
    pub fn read_ref(&self, name: &str) -> Option<String> {
        let common = std::fs::read_to_string(self.git_dir.join("commondir"))
            .ok()
            .map(|c| self.git_dir.join(c.trim()))
            .unwrap_or_else(|| self.git_dir.clone());
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
        let common = std::fs::read_to_string(self.git_dir.join("commondir"))
            .ok()
            .map(|c| self.git_dir.join(c.trim()))
            .unwrap_or_else(|| self.git_dir.clone());
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

    /// The repository around `cwd`, found by reading files where it can (hooks and the
    /// cycle run often: every git process saved counts), else by asking git.
    pub fn find(cwd: &Path) -> Result<Repo> {
        match git_dir::find(cwd) {
            Some(git_dir::Repo {
                git_dir,
                work_tree: Some(work_tree),
            }) => Ok(Repo::at(work_tree, git_dir)),
            _ => Repo::discover(cwd),
        }
    }

    /// git-aisync's per-machine files.
    pub fn state_dir(&self) -> PathBuf {
        git_dir::Repo {
            git_dir: self.git_dir.clone(),
            work_tree: Some(self.work_tree.clone()),
        }
        .state_dir()
    }

    pub fn git<I, S>(&self, args: I) -> Result<Output>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        git(&self.work_tree, args)
    }

    /// A git command that talks to a remote (fetch, push, ls-remote): a longer time limit.
    pub fn git_remote<I, S>(&self, args: I) -> Result<Output>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = command(&self.work_tree, args);
        cmd.env("GIT_SSH_COMMAND", self.ssh_command());
        let (success, stdout, stderr) = run_limited_bytes(cmd, REMOTE_LIMIT)?;
        Ok(Output {
            success,
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        })
    }

    /// The user's own SSH command (`GIT_SSH_COMMAND`, `core.sshCommand`, else `ssh`), with
    /// batch mode added: an unattended sync never waits on a password or a host-key question
    /// (it fails with ssh's one-line reason instead). The connection is kept a minute, so
    /// polling over SSH costs one handshake, not one per poll.
    pub fn ssh_command(&self) -> String {
        let base = std::env::var("GIT_SSH_COMMAND")
            .ok()
            .filter(|c| !c.trim().is_empty())
            .or_else(|| self.setting("core.sshCommand").map(str::to_string))
            .unwrap_or_else(|| "ssh".to_string());
        let mut cmd = format!("{base} -o BatchMode=yes -o ConnectTimeout=15");
        // ssh expands `%x` and `${VAR}` in the path: a `%` of the folder is written `%%`, and
        // a folder with `${` keeps no connection.
        let dir = self
            .control_dir()
            .map(|d| d.to_string_lossy().replace('%', "%%"))
            .filter(|d| !d.contains("${"));
        if let Some(dir) = dir {
            let socket = format!("{dir}/ssh-%C");
            let quoted = format!("'{}'", socket.replace('\'', "'\\''"));
            cmd.push_str(&format!(
                " -o ControlMaster=auto -o ControlPersist=60 -o ControlPath={quoted}"
            ));
        }
        cmd
    }

    /// Where the kept SSH connection's socket goes: a socket path holds ~100 bytes (104 on
    /// macOS), and ssh's `%C` is 40 characters. The repository's own folder when short
    /// enough, else a private folder of this user's (`$XDG_RUNTIME_DIR`, `/tmp`); `None`:
    /// no connection is kept.
    fn control_dir(&self) -> Option<PathBuf> {
        let fits = |dir: &Path| dir.as_os_str().len() + "/ssh-".len() + 40 < 100;
        let state = self.state_dir();
        if fits(&state) {
            return std::fs::create_dir_all(&state).is_ok().then_some(state);
        }
        // SAFETY: getuid has no preconditions.
        let uid = unsafe { libc::getuid() };
        let private = [
            std::env::var_os("XDG_RUNTIME_DIR").map(|d| PathBuf::from(d).join("git-aisync")),
            // /tmp, not $TMPDIR: macOS's is too deep for a socket.
            Some(PathBuf::from(format!("/tmp/git-aisync-{uid}"))),
        ];
        private.into_iter().flatten().find(|dir| {
            use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
            if !fits(dir) {
                return false;
            }
            let _ = std::fs::DirBuilder::new().mode(0o700).create(dir);
            // Ours alone: another user's folder there could take over the connection.
            std::fs::symlink_metadata(dir)
                .is_ok_and(|m| m.is_dir() && m.uid() == uid && m.permissions().mode() & 0o077 == 0)
        })
    }

    /// Whether HEAD points at a commit yet.
    pub fn has_commits(&self) -> Result<bool> {
        Ok(self
            .git(["rev-parse", "--verify", "--quiet", "HEAD"])?
            .success)
    }

    /// `run` with extra environment (a temporary index, an author).
    pub fn run_env(&self, env: &[(&str, &str)], args: &[&str]) -> Result<Output> {
        let mut cmd = command(&self.work_tree, args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let (success, stdout, stderr) = run_limited_bytes(cmd, LOCAL_LIMIT)?;
        if !success {
            let why = String::from_utf8_lossy(&stderr);
            bail!(
                "git {} failed: {}",
                args.join(" "),
                why.trim().lines().next().unwrap_or("no message")
            );
        }
        Ok(Output {
            success,
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        })
    }

    /// Runs git and fails with its message when it fails.
    pub fn run<I, S>(&self, args: I) -> Result<Output>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let args: Vec<S> = args.into_iter().collect();
        let out = self.git(&args)?;
        if !out.success {
            let shown: Vec<_> = args
                .iter()
                .map(|a| a.as_ref().to_string_lossy().into_owned())
                .collect();
            let why = out
                .stderr
                .trim()
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("no message");
            bail!("git {} failed: {why}", shown.join(" "));
        }
        Ok(out)
    }

    /// Runs a git command that makes commits (commit, merge). A machine with no identity
    /// configured (a fresh server) still commits, as "git-aisync on MACHINE", rather than
    /// stopping unattended work.
    pub fn run_committing(&self, args: &[&str]) -> Result<Output> {
        let mut full = self.identity_args()?;
        full.extend(args.iter().map(|a| a.to_string()));
        self.run(&full)
    }

    /// `-c user.name=… -c user.email=…` when this machine has no identity configured; in a
    /// cycle, `-c commit.gpgSign=false`: a signer may ask for a passphrase or a touch, and an
    /// unattended cycle must never wait on one (its own commits go unsigned).
    fn identity_args(&self) -> Result<Vec<String>> {
        let mut full: Vec<String> = Vec::new();
        if std::env::var_os(crate::sync::IN_CYCLE).is_some() {
            full.extend(["-c".into(), "commit.gpgSign=false".into()]);
        }
        let has =
            |key: &str, env: &str| std::env::var_os(env).is_some() || self.setting(key).is_some();
        let machine = self
            .setting("aisync.machine")
            .unwrap_or("this machine")
            .to_string();
        if !has("user.name", "GIT_AUTHOR_NAME") {
            full.extend(["-c".into(), format!("user.name=git-aisync on {machine}")]);
        }
        if !has("user.email", "GIT_AUTHOR_EMAIL") {
            let host: String = machine
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' {
                        c
                    } else {
                        '-'
                    }
                })
                .collect();
            full.extend(["-c".into(), format!("user.email=git-aisync@{host}.invalid")]);
        }
        Ok(full)
    }

    /// `run_committing` that returns a failure instead of raising it (a merge that stops at
    /// conflicts is not an error to its caller).
    pub fn run_committing_unchecked(&self, args: &[&str]) -> Result<Output> {
        let mut full = self.identity_args()?;
        full.extend(args.iter().map(|a| a.to_string()));
        self.git(&full)
    }

    /// Commits exactly `paths` (whatever else is staged stays staged); false when they held
    /// no change.
    pub fn commit_paths(&self, message: &str, paths: &[String]) -> Result<bool> {
        let mut input = Vec::new();
        for p in paths {
            input.extend_from_slice(p.as_bytes());
            input.push(0);
        }
        let mut args = self.identity_args()?;
        args.extend(
            [
                "commit",
                "--quiet",
                "--no-verify",
                "-m",
                message,
                "--pathspec-from-file=-",
                "--pathspec-file-nul",
            ]
            .map(String::from),
        );
        let out = self.git_with_input(&args, input)?;
        if out.success {
            return Ok(true);
        }
        if out.stdout.contains("nothing to commit") || out.stdout.contains("no changes added") {
            return Ok(false);
        }
        bail!(
            "git commit failed: {}",
            out.stderr.trim().lines().next().unwrap_or("no message")
        );
    }

    /// A local config value (`None` when unset).
    pub fn config_get(&self, key: &str) -> Result<Option<String>> {
        let out = self.git(["config", "--local", "--get", key])?;
        Ok(out
            .success
            .then(|| out.stdout.trim_end_matches('\n').to_string()))
    }

    pub fn config_set(&self, key: &str, value: &str) -> Result<()> {
        self.checked(["config", "--local", key, value])
    }

    pub fn config_unset(&self, key: &str) -> Result<()> {
        let out = self.git(["config", "--local", "--unset-all", key])?;
        // Exit 5: the key was not set, which is what we wanted.
        if !out.success && self.config_get(key)?.is_some() {
            bail!("git config --unset {key} failed: {}", out.stderr.trim());
        }
        Ok(())
    }

    /// Removes a config section if it exists and holds nothing.
    pub fn config_remove_section_if_empty(&self, section: &str) -> Result<()> {
        let out = self.git([
            "config",
            "--local",
            "--get-regexp",
            &format!("^{}\\.", regex_escape(section)),
        ])?;
        if out.stdout.trim().is_empty() {
            let _ = self.git(["config", "--local", "--remove-section", section])?;
        }
        Ok(())
    }

    /// The branch checked out now, or `None` on a detached HEAD.
    pub fn current_branch(&self) -> Result<Option<String>> {
        let out = self.git(["symbolic-ref", "--quiet", "--short", "HEAD"])?;
        Ok(out.success.then(|| out.stdout.trim().to_string()))
    }

    /// What the next commit adds or changes: (path, blob id), submodules aside.
    pub fn staged(&self) -> Result<Vec<(String, String)>> {
        let out = self.git([
            "diff",
            "--cached",
            "--raw",
            "-z",
            "--no-abbrev",
            "--no-renames",
            // T: a symlink or submodule that became a file has content to scan too.
            "--diff-filter=ACMRT",
        ])?;
        if !out.success {
            bail!("cannot list the staged files: {}", out.stderr.trim());
        }
        // `:<old mode> <new mode> <old id> <new id> <status>` NUL `<path>` NUL, per file.
        let mut fields = out.stdout.split('\0');
        let mut staged = Vec::new();
        while let (Some(meta), Some(path)) = (fields.next(), fields.next()) {
            let parts: Vec<&str> = meta.trim_start_matches(':').split(' ').collect();
            if let [_, mode, _, oid, _] = parts[..] {
                if mode != "160000" {
                    staged.push((path.to_string(), oid.to_string()));
                }
            }
        }
        Ok(staged)
    }

    /// The commit HEAD points at, if any.
    pub fn head(&self) -> Result<Option<String>> {
        self.rev("HEAD")
    }

    /// The object a revision names, if it exists.
    pub fn rev(&self, rev: &str) -> Result<Option<String>> {
        let out = self.git([
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{rev}^{{commit}}"),
        ])?;
        Ok(out.success.then(|| out.stdout.trim().to_string()))
    }

    /// The tree of commit `commit`, if there is such a commit.
    pub fn tree_of(&self, commit: &str) -> Result<Option<String>> {
        if let Some((tree, _)) = self.commit_read(commit) {
            return Ok(Some(tree));
        }
        let out = self.git([
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{commit}^{{tree}}"),
        ])?;
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
        Ok(self.git(["merge-base", "--is-ancestor", a, b])?.success)
    }

    /// Commits on `a` not on `b`, and on `b` not on `a`: none either way when both hold the
    /// same tree (peers that each kept their own commits of one content: nothing to push or
    /// merge, and the cycle makes no merge of them).
    pub fn ahead_behind(&self, a: &str, b: &str) -> Result<(usize, usize)> {
        let tree = self.tree_of(a)?;
        if tree.is_some() && tree == self.tree_of(b)? {
            return Ok((0, 0));
        }
        let out = self.run(["rev-list", "--left-right", "--count", &format!("{a}...{b}")])?;
        let mut n = out
            .stdout
            .split_whitespace()
            .map(|x| x.parse().unwrap_or(0));
        Ok((n.next().unwrap_or(0), n.next().unwrap_or(0)))
    }

    /// Changed, deleted and untracked paths: (status letters, path). Paths stay bytes, as git
    /// has them: a name that is not UTF-8 must still reach git unchanged.
    pub fn changes(&self) -> Result<Vec<(String, GitPath)>> {
        let out = self.raw(
            None,
            &[
                "status",
                "--porcelain=v1",
                "-z",
                "--untracked-files=all",
                "--no-renames",
            ],
            None,
        )?;
        let mut list = Vec::new();
        for entry in out.split(|&b| b == 0) {
            if entry.len() > 3 {
                list.push((
                    String::from_utf8_lossy(&entry[..2]).into_owned(),
                    entry[3..].to_vec(),
                ));
            }
        }
        Ok(list)
    }

    /// An index of the cycle's own (`GIT_INDEX_FILE`) holding `base`'s tree (nothing for an
    /// unborn branch): the cycle builds its commit there, so what a person staged is never
    /// swept in, and what it scans is exactly what it commits. The last cycle's index is
    /// taken again when it holds `base`'s tree (it said so with [`Scratch::keep`]), its file
    /// times included: `git add` then hashes only what changed.
    pub fn scratch_index(&self, base: Option<&str>) -> Result<Scratch<'_>> {
        let path = self.state_dir().join("index.cycle");
        let holds = path.with_extension("cycle.tree");
        std::fs::create_dir_all(self.state_dir())
            .with_context(|| format!("cannot create {}", self.state_dir().display()))?;
        let kept = std::fs::read_to_string(&holds).ok();
        // Gone before the index changes: a cycle killed now leaves no claim behind.
        let _ = std::fs::remove_file(&holds);
        let _ = std::fs::remove_file(path.with_extension("cycle.lock"));
        let base_tree = match base {
            Some(b) => self.tree_of(b)?,
            None => None,
        };
        let scratch = Scratch {
            repo: self,
            path,
            kept: std::cell::Cell::new(false),
            base_tree,
        };
        if kept.is_some() && kept.as_deref().map(str::trim) == scratch.base_tree.as_deref() {
            return Ok(scratch);
        }
        // Left by a cycle that was killed, or made for another tree.
        let _ = std::fs::remove_file(&scratch.path);
        match base {
            Some(base) => scratch.run(&["read-tree", base], None)?,
            None => scratch.run(&["read-tree", "--empty"], None)?,
        };
        Ok(scratch)
    }

    /// Sets index entries (`mode == "0"`: the path leaves the index) in the repository's
    /// own index, or in `index`.
    fn set_entries(&self, index: Option<&Path>, entries: &[IndexEntry]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut input = Vec::new();
        for e in entries {
            let oid = if e.mode == "0" { ZERO_OID } else { &e.oid };
            input.extend_from_slice(format!("{} {oid}\t", e.mode).as_bytes());
            input.extend_from_slice(&e.path);
            input.push(0);
        }
        self.raw(index, &["update-index", "-z", "--index-info"], Some(input))?;
        Ok(())
    }

    /// Puts `entries` in the repository's index as they are (a stage-0 entry replaces a
    /// path's conflict stages; mode "0" removes the path), names taken as bytes.
    pub fn stage_entries(&self, entries: &[IndexEntry]) -> Result<()> {
        self.set_entries(None, entries)
    }

    /// A commit of `tree` on `parent` (none: the first commit), as this machine. Made with
    /// `commit-tree`, which never signs unless told: an unattended cycle must not wait on a
    /// signing prompt.
    pub fn commit_tree(&self, tree: &str, parent: Option<&str>, message: &str) -> Result<String> {
        if let Some(id) = self.commit_in_process(tree, parent, message) {
            return Ok(id);
        }
        let mut args = self.identity_args()?;
        args.extend(["commit-tree".to_string(), tree.to_string()]);
        if let Some(p) = parent {
            args.extend(["-p".to_string(), p.to_string()]);
        }
        args.extend(["-m".to_string(), message.to_string()]);
        Ok(self.run(&args)?.stdout.trim().to_string())
    }

    /// [`Repo::commit_tree`] written by gix, one git process less per cycle: where gix reads
    /// the config git reads and finds the identity `git commit-tree` would take, unaltered
    /// (no fallback identity, no name git would trim, no date, encoding or shared-repository
    /// permissions to honour). `None`
    /// where git must make it.
    fn commit_in_process(&self, tree: &str, parent: Option<&str>, message: &str) -> Option<String> {
        let dated = ["GIT_AUTHOR_DATE", "GIT_COMMITTER_DATE"];
        if !self.settings().in_process
            || dated.iter().any(|v| std::env::var_os(v).is_some())
            || self.setting("i18n.commitEncoding").is_some()
            // git makes its objects group-writable there; gix would not.
            || self.setting("core.sharedRepository").is_some()
        {
            return None;
        }
        let repo = self.objects()?;
        let now = gix::date::Time::now_local_or_utc();
        let plain = |s: &gix::bstr::BStr| {
            let crud = |c: u8| c.is_ascii_whitespace() || b".,:;<>\"\\'".contains(&c);
            !s.is_empty()
                && !crud(s[0])
                && !crud(s[s.len() - 1])
                && !s.iter().any(|&c| c == b'<' || c == b'>' || c == b'\n')
        };
        let person = |who: gix::actor::SignatureRef<'_>| {
            (plain(who.name) && plain(who.email)).then(|| gix::actor::Signature {
                name: who.name.to_owned(),
                email: who.email.to_owned(),
                time: now,
            })
        };
        let author = person(repo.author()?.ok()?)?;
        let committer = person(repo.committer()?.ok()?)?;
        let mut parents = Vec::new();
        if let Some(p) = parent {
            parents.push(gix::ObjectId::from_hex(p.as_bytes()).ok()?);
        }
        let commit = gix::objs::Commit {
            tree: gix::ObjectId::from_hex(tree.as_bytes()).ok()?,
            parents: parents.into(),
            author,
            committer,
            encoding: None,
            // As `commit-tree -m` writes it: the message, then a line end.
            message: format!("{message}\n").into(),
            extra_headers: Vec::new(),
        };
        repo.write_object(&commit).ok().map(|id| id.to_string())
    }

    /// Moves the branch HEAD names from `old` (none: it has no commit yet) to `new`; fails,
    /// changing nothing, when it is no longer at `old` (someone committed meanwhile).
    pub fn advance_head(&self, new: &str, old: Option<&str>, why: &str) -> Result<()> {
        let out = self.git(["update-ref", "-m", why, "HEAD", new, old.unwrap_or("")])?;
        if !out.success {
            bail!(
                "the branch moved while the cycle committed (a commit of yours, probably); nothing is lost and the next cycle tries again: {}",
                out.stderr.trim()
            );
        }
        Ok(())
    }

    /// Runs git with `input` on stdin and, when given, `index` as its index; fails with its
    /// message, else returns its output as bytes.
    fn raw(&self, index: Option<&Path>, args: &[&str], input: Option<Vec<u8>>) -> Result<Vec<u8>> {
        let mut cmd = command(&self.work_tree, args);
        cmd.env("GIT_LITERAL_PATHSPECS", "1");
        if let Some(index) = index {
            cmd.env("GIT_INDEX_FILE", index);
        }
        let (ok, stdout, stderr) = run_limited_input(cmd, LOCAL_LIMIT, input)?;
        if !ok {
            let why = String::from_utf8_lossy(&stderr);
            bail!(
                "git {} failed: {}",
                args.join(" "),
                why.trim().lines().next().unwrap_or("no message")
            );
        }
        Ok(stdout)
    }

    /// Paths whose content differs between commits `a` and `b` (within `limit`, names
    /// taken literally, when given), as bytes.
    pub fn changed_between(&self, a: &str, b: &str, limit: &[String]) -> Result<Vec<GitPath>> {
        let mut args = vec!["diff", "--name-only", "-z", "--no-renames", a, b, "--"];
        args.extend(limit.iter().map(String::as_str));
        let out = self.raw(None, &args, None)?;
        Ok(out
            .split(|&b| b == 0)
            .filter(|p| !p.is_empty())
            .map(<[u8]>::to_vec)
            .collect())
    }

    /// Puts exactly `paths` as commit `source` has them, in the index and the work tree (a
    /// path `source` lacks is removed).
    pub fn restore_paths(&self, source: &str, paths: &[GitPath]) -> Result<()> {
        if paths.is_empty() {
            return Ok(());
        }
        let source = format!("--source={source}");
        self.raw(
            None,
            &[
                "restore",
                &source,
                "--staged",
                "--worktree",
                "--pathspec-from-file=-",
                "--pathspec-file-nul",
            ],
            Some(nul_separated(paths)),
        )?;
        Ok(())
    }

    /// Stages exactly these paths (additions, changes, deletions), names taken literally.
    pub fn add_paths(&self, paths: &[String]) -> Result<()> {
        if paths.is_empty() {
            return Ok(());
        }
        let mut input = Vec::new();
        for p in paths {
            input.extend_from_slice(p.as_bytes());
            input.push(0);
        }
        let out = self.git_with_input(
            ["add", "-A", "--pathspec-from-file=-", "--pathspec-file-nul"],
            input,
        )?;
        if !out.success {
            bail!("git add failed: {}", out.stderr.trim());
        }
        Ok(())
    }

    /// Runs git with `input` on its stdin.
    fn git_with_input<I, S>(&self, args: I, input: Vec<u8>) -> Result<Output>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = command(&self.work_tree, args);
        cmd.env("GIT_LITERAL_PATHSPECS", "1");
        let (success, stdout, stderr) = run_limited_input(cmd, LOCAL_LIMIT, Some(input))?;
        Ok(Output {
            success,
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        })
    }

    /// A blob's bytes.
    pub fn blob(&self, oid: &str) -> Result<Vec<u8>> {
        let (ok, out, err) = run_limited_bytes(
            command(&self.work_tree, ["cat-file", "blob", oid]),
            LOCAL_LIMIT,
        )?;
        if !ok {
            bail!(
                "cannot read blob {oid}: {}",
                String::from_utf8_lossy(&err).trim()
            );
        }
        Ok(out)
    }

    /// The blobs `ids` read by gix; `None` if any cannot be (git is asked then).
    fn blobs_in_process(&self, ids: &[&str]) -> Option<Vec<Vec<u8>>> {
        let repo = self.objects()?;
        ids.iter()
            .map(|id| {
                let id = gix::ObjectId::from_hex(id.as_bytes()).ok()?;
                let mut blob = repo.find_blob(id).ok()?;
                Some(blob.take_data())
            })
            .collect()
    }

    /// The index's merged entries: (mode, blob id, path).
    pub fn index(&self) -> Result<Vec<(String, String, GitPath)>> {
        let out = self.raw(None, &["ls-files", "-s", "-z"], None)?;
        let mut list = Vec::new();
        for (meta, path) in nul_split(&out).filter_map(meta_and_path) {
            if let [mode, oid, "0"] = meta.split(' ').collect::<Vec<_>>()[..] {
                list.push((mode.to_string(), oid.to_string(), path.to_vec()));
            }
        }
        Ok(list)
    }

    /// Every file path in the tree of `rev` (none when it does not exist).
    pub fn tree_paths(&self, rev: &str) -> Result<Vec<GitPath>> {
        // No such commit (an unborn branch): no paths.
        let Ok(out) = self.raw(None, &["ls-tree", "-r", "-z", "--name-only", rev], None) else {
            return Ok(Vec::new());
        };
        Ok(nul_split(&out).map(<[u8]>::to_vec).collect())
    }

    /// Unmerged index entries: each path with its stages (1 base, 2 ours, 3 theirs).
    pub fn unmerged(&self) -> Result<Vec<(GitPath, Vec<Stage>)>> {
        let out = self.raw(None, &["ls-files", "-u", "-z"], None)?;
        let mut by_path: Vec<(GitPath, Vec<Stage>)> = Vec::new();
        for (meta, path) in nul_split(&out).filter_map(meta_and_path) {
            // "<mode> <oid> <stage>"
            let mut parts = meta.split(' ');
            let (Some(mode), Some(oid), Some(stage)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let stage: u8 = stage.parse().unwrap_or(0);
            match by_path.last_mut() {
                Some((p, stages)) if p.as_slice() == path => {
                    stages.push((stage, mode.into(), oid.into()))
                }
                _ => by_path.push((path.to_vec(), vec![(stage, mode.into(), oid.into())])),
            }
        }
        Ok(by_path)
    }

    /// The contents of the blobs `ids`, in order: read in process, else by one `git
    /// cat-file --batch`.
    pub fn blobs(&self, ids: &[&str]) -> Result<Vec<Vec<u8>>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(blobs) = self.blobs_in_process(ids) {
            return Ok(blobs);
        }
        let mut input = String::new();
        for id in ids {
            input.push_str(id);
            input.push('\n');
        }
        let cmd = command(&self.work_tree, ["cat-file", "--batch", "--buffer"]);
        let (ok, stdout, stderr) = run_limited_input(cmd, LOCAL_LIMIT, Some(input.into_bytes()))?;
        if !ok {
            bail!(
                "cannot read the staged contents: {}",
                String::from_utf8_lossy(&stderr).trim()
            );
        }
        // Each answer: "<oid> blob <size>\n<content>\n". Anything else (a missing object,
        // a short answer) is an error: content that cannot be read is not content that
        // passed the scan.
        let mut blobs = Vec::with_capacity(ids.len());
        let mut rest = &stdout[..];
        for id in ids {
            let nl = rest
                .iter()
                .position(|&b| b == b'\n')
                .with_context(|| format!("git cat-file gave no answer for {id}"))?;
            let header = String::from_utf8_lossy(&rest[..nl]).into_owned();
            rest = &rest[nl + 1..];
            let size = match header.split(' ').collect::<Vec<_>>()[..] {
                [_, "blob", size] => size.parse::<usize>().ok(),
                _ => None,
            };
            match size {
                Some(n) if rest.len() > n => {
                    blobs.push(rest[..n].to_vec());
                    rest = &rest[n + 1..];
                }
                _ => bail!("cannot read the staged blob {id}: git cat-file said `{header}`"),
            }
        }
        Ok(blobs)
    }

    /// The blobs the commits in `range` add (`A..B`, or a tip and `--not --remotes`), each
    /// with the path it came at, as bytes: a commit's new and changed files, a merge's only
    /// where it differs from every parent (what matches a parent came from that parent). Read
    /// from `diff-tree -z` on git's own records, so no name is quoted and no attribute
    /// (binary, `-diff`, textconv) hides a file. Each (path, blob) once; submodules aside.
    pub fn added_blobs(&self, range: &[&str]) -> Result<Vec<(Vec<u8>, String)>> {
        let mut args = vec!["rev-list"];
        args.extend_from_slice(range);
        let commits = self.run(&args)?.stdout;
        if commits.trim().is_empty() {
            return Ok(Vec::new());
        }
        let cmd = command(
            &self.work_tree,
            [
                "diff-tree",
                "--stdin",
                "-r",
                "-z",
                "-c",
                "--root",
                "--no-renames",
                "--no-abbrev",
                "--no-commit-id",
                "--no-ext-diff",
            ],
        );
        let (ok, out, err) = run_limited_input(cmd, LOCAL_LIMIT, Some(commits.into_bytes()))?;
        if !ok {
            bail!(
                "cannot list what the commits add: {}",
                String::from_utf8_lossy(&err).trim()
            );
        }
        // Per file: `:`×N, N+1 modes, N+1 ids, the status (N parents; the last mode and id
        // are the commit's), NUL, the path, NUL.
        let mut seen = std::collections::HashSet::new();
        let mut added = Vec::new();
        let mut fields = out.split(|&b| b == 0);
        while let (Some(meta), Some(path)) = (fields.next(), fields.next()) {
            let parents = meta.iter().take_while(|&&b| b == b':').count();
            let meta = String::from_utf8_lossy(&meta[parents..]);
            let parts: Vec<&str> = meta.split(' ').collect();
            let (Some(mode), Some(oid)) = (parts.get(parents), parts.get(2 * parents + 1)) else {
                continue;
            };
            let gone = oid.bytes().all(|b| b == b'0');
            if !gone && *mode != "160000" && seen.insert((path.to_vec(), oid.to_string())) {
                added.push((path.to_vec(), oid.to_string()));
            }
        }
        Ok(added)
    }

    /// The entry `path` (bytes, taken literally) has in `commit`: (mode, blob id).
    pub fn tree_entry(&self, commit: &str, path: &[u8]) -> Result<Option<(String, String)>> {
        use std::os::unix::ffi::OsStrExt;
        let args: [&OsStr; 7] = [
            OsStr::new("--literal-pathspecs"),
            OsStr::new("ls-tree"),
            OsStr::new("-z"),
            OsStr::new("--full-tree"),
            OsStr::new(commit),
            OsStr::new("--"),
            OsStr::from_bytes(path),
        ];
        let (ok, out, err) = run_limited_bytes(command(&self.work_tree, args), LOCAL_LIMIT)?;
        if !ok {
            bail!(
                "cannot read the tree of {commit}: {}",
                String::from_utf8_lossy(&err).trim()
            );
        }
        // `<mode> <type> <id>\t<path>` NUL: the entry whose path is exactly `path`.
        Ok(out.split(|&b| b == 0).find_map(|entry| {
            let tab = entry.iter().position(|&b| b == b'\t')?;
            if &entry[tab + 1..] != path {
                return None;
            }
            let meta = String::from_utf8_lossy(&entry[..tab]).into_owned();
            let mut m = meta.split(' ');
            let mode = m.next()?.to_string();
            let _kind = m.next()?;
            Some((mode, m.next()?.to_string()))
        }))
    }

    /// `run_env` with `input` on git's standard input (`update-index -z --index-info`).
    pub fn run_env_input(
        &self,
        env: &[(&str, &str)],
        args: &[&str],
        input: Vec<u8>,
    ) -> Result<Output> {
        let mut cmd = command(&self.work_tree, args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let (success, stdout, stderr) = run_limited_input(cmd, LOCAL_LIMIT, Some(input))?;
        if !success {
            bail!(
                "git {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&stderr)
                    .trim()
                    .lines()
                    .next()
                    .unwrap_or("no message")
            );
        }
        Ok(Output {
            success,
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        })
    }

    fn checked<I, S>(&self, args: I) -> Result<()>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.run(args).map(drop)
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

/// Runs git in `dir` with the safe environment and the local time limit.
pub fn git<I, S>(dir: &Path, args: I) -> Result<Output>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let (success, stdout, stderr) = run_limited_bytes(command(dir, args), LOCAL_LIMIT)?;
    Ok(Output {
        success,
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    })
}

/// A git command with the safe environment: no prompt, no pager, no editor.
fn command<I, S>(dir: &Path, args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_PAGER", "cat")
        .env("PAGER", "cat")
        .env("GIT_EDITOR", "true")
        .env("GIT_SEQUENCE_EDITOR", "true")
        // `git status` and friends take no lock they can do without: a person's (or an
        // assistant's) next `git add` must not meet our index.lock.
        .env("GIT_OPTIONAL_LOCKS", "0")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        // A hook's environment may name a temporary index (git commit -o): never ours.
        .env_remove("GIT_INDEX_FILE")
        .env_remove("GIT_PREFIX")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let in_cycle = std::env::var_os(crate::sync::IN_CYCLE).is_some();
    if in_cycle && std::env::var_os(crate::sync::KEEP_HOOKS).is_none() {
        // The cycle's own commits, merges and pushes run no hooks: it scans what it commits
        // and pushes itself, a person's hook (a linter, a test run) must not stop unattended
        // sync, and ours would only start and see the cycle. Added after any
        // `GIT_CONFIG_COUNT` settings already in force.
        let n: usize = std::env::var("GIT_CONFIG_COUNT")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        cmd.env(format!("GIT_CONFIG_KEY_{n}"), "core.hooksPath")
            .env(format!("GIT_CONFIG_VALUE_{n}"), "/dev/null")
            .env("GIT_CONFIG_COUNT", (n + 1).to_string());
    }
    if in_cycle {
        // A group of its own: Ctrl-C in the terminal of `git aisync watch` reaches the whole
        // foreground group, and must not kill a merge or a push half-way; the watcher
        // finishes the cycle in flight and stops (its time limits still apply).
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    }
    cmd
}

/// Runs `cmd`, killing it past `limit`: (success, stdout, stderr).
fn run_limited_bytes(cmd: Command, limit: Duration) -> Result<(bool, Vec<u8>, Vec<u8>)> {
    run_limited_input(cmd, limit, None)
}

/// `run_limited_bytes`, with `input` written to the child's standard input (on a thread of
/// its own: the child may answer while it reads).
fn run_limited_input(
    mut cmd: Command,
    limit: Duration,
    input: Option<Vec<u8>>,
) -> Result<(bool, Vec<u8>, Vec<u8>)> {
    let deadline = Instant::now() + limit;
    if input.is_some() {
        cmd.stdin(Stdio::piped());
    }
    let mut child = cmd
        .spawn()
        .context("cannot run git: is it installed and on PATH?")?;
    let writer = match (input, child.stdin.take()) {
        (Some(input), Some(mut stdin)) => Some(std::thread::spawn(move || {
            use std::io::Write;
            let _ = stdin.write_all(&input);
        })),
        _ => None,
    };
    // Drain the pipes on threads so a chatty child cannot block on a full pipe; each says
    // when its pipe closed, which is when the child is done (no polling delay on the
    // hundreds of short git commands a day of syncing runs).
    let (closed, pipes_closed) = std::sync::mpsc::channel::<()>();
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        let closed = closed.clone();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            let _ = closed.send(());
            buf
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stop = |mut child: std::process::Child| -> anyhow::Error {
        // A cycle's git leads a process group of its own: its ssh and helpers go too.
        if std::env::var_os(crate::sync::IN_CYCLE).is_some() {
            // SAFETY: signals the group our own unreaped child leads.
            unsafe {
                libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL);
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        anyhow::anyhow!("git took longer than {}s and was stopped", limit.as_secs())
    };
    for _ in 0..2 {
        let left = deadline.saturating_duration_since(Instant::now());
        if pipes_closed.recv_timeout(left).is_err() {
            return Err(stop(child));
        }
    }
    // Both pipes closed: the child is exiting (or closed them and carries on: still bounded).
    let mut pause = Duration::from_micros(50);
    let status = loop {
        if let Some(status) = child.try_wait().context("waiting for git")? {
            break status;
        }
        if Instant::now() > deadline {
            return Err(stop(child));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(5));
    };
    if let Some(writer) = writer {
        let _ = writer.join();
    }
    Ok((
        status.success(),
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The in-process read agrees with `git config` on what git-aisync reads: case rules,
    /// includes, last-value-wins, keys without a value, remotes in config order.
    /// A new repository in `dir` with `extra` added to its config, and its settings as
    /// read in process and by `git config --list` (both, whichever this machine uses).
    fn configured(dir: &Path, extra: &str) -> (Repo, Settings, Settings) {
        assert!(git(dir, ["init", "-q"]).unwrap().success);
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
        assert!(git(dir, ["init", "-q"]).unwrap().success);
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
                let out = repo.git(["config", "--get", key]).unwrap();
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
                let ls = repo.git(["ls-remote", "--get-url", remote]).unwrap();
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

    /// A cycle's commit written in process is the commit `git commit-tree` writes: the same
    /// identity, time zone, message and line ends (only the second it was made may differ).
    #[test]
    fn commits_written_in_process_are_git_s() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        assert!(git(dir, ["init", "-q"]).unwrap().success);
        for (k, v) in [
            ("user.name", "Ann Example"),
            ("user.email", "ann@example.invalid"),
        ] {
            assert!(git(dir, ["config", k, v]).unwrap().success);
        }
        let repo = Repo::find(dir).unwrap();
        // Read as gix reads it, whichever reader this machine's git allows.
        let read = Settings::read_with_gix(repo.objects().unwrap()).unwrap();
        assert!(repo.settings.set(read).is_ok());
        let tree = repo.run(["write-tree"]).unwrap().stdout.trim().to_string();
        let ours = repo
            .commit_in_process(&tree, None, "aisync(m): a.md")
            .expect("written in process");
        let theirs = repo
            .run(["commit-tree", &tree, "-m", "aisync(m): a.md"])
            .unwrap()
            .stdout
            .trim()
            .to_string();
        let parent = repo
            .commit_in_process(&tree, Some(&ours), "second")
            .unwrap();
        let shown = |id: &str| {
            let text = repo.run(["cat-file", "commit", id]).unwrap().stdout;
            // "<name> <email> <seconds> <zone>": the seconds may differ.
            text.lines()
                .map(|l| match l.rsplitn(3, ' ').collect::<Vec<_>>()[..] {
                    [zone, _, rest] if l.starts_with("author ") || l.starts_with("committer ") => {
                        format!("{rest} <time> {zone}")
                    }
                    _ => l.to_string(),
                })
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(shown(&ours), shown(&theirs));
        assert!(shown(&parent).contains(&format!("parent {ours}")));
        assert!(git(dir, ["fsck", "--strict", &parent]).unwrap().success);
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
                .unwrap();
            let git_says: Vec<&str> = out.stdout.lines().collect();
            assert_eq!(in_process.push_urls(remote), git_says, "{remote}");
            assert_eq!(via_git.push_urls(remote), git_says, "{remote}");
        }
        assert_eq!(in_process.push_urls("some"), ["git://plain/e"]);
    }
}
