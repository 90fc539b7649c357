//! The watcher (`git aisync watch`): writes to realtime paths and moves of the remotes' branch
//! become sync cycles, one at a time, in this process, until SIGINT or SIGTERM.
//!
//! Everything arrives on one channel (file events, remote ref events, poll answers, news from
//! the notify-wait sessions with SSH hubs, peers' deliveries to the inbox, the stop signal).
//! The loop blocks on it with a timeout no longer than the next timer it owns (debounce,
//! max-wait, the next remote check), so an idle watcher sleeps.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs::{self, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use notify::event::{EventKind, ModifyKind, RenameMode};
use notify::{RecursiveMode, Watcher as _};
use serde_json::{json, Value};

use crate::git::Repo;
use crate::policy::{self, Mode, Policy};
use crate::remote::{read_tip, remote_git_dir, uses_reftable};
use crate::state::{Outcome, Report};
use crate::sync;
use crate::ui::Ui;
use crate::url::local_path;
use crate::url::SshUrl as SshHub;

/// The log rotates past this size, keeping one old file (`watch.log.1`).
const LOG_LIMIT: u64 = 1024 * 1024;
/// The longest the loop sleeps with nothing to do: the suspend check's resolution.
const IDLE_CAP: Duration = Duration::from_secs(60);
/// Offline remotes are asked again at most this far apart.
const BACKOFF_CAP: Duration = Duration::from_secs(60);
/// A wall clock ahead of the monotonic clock by more than this was a suspend.
const CLOCK_JUMP: Duration = Duration::from_secs(10);
/// How often the working tree is scanned in poll mode.
const TREE_POLL: Duration = Duration::from_secs(1);
/// Past this many changed paths, the cycle runs without asking git first which changed.
const PRECHECK_MAX: usize = 512;
/// While a notify-wait session with an SSH hub is open, the hub is still asked this often
/// (or every `poll`, if longer): a safety net for a session that died without a word.
const SAFETY_POLL: Duration = Duration::from_secs(30);
/// A remote's tip heard this recently (without a session open) is where it stands for a
/// cycle: the cycle a check's answer starts asks no second time.
const HEARD_FRESH: Duration = Duration::from_secs(1);
/// How long one notify-wait waits on the hub before the session starts over.
const SESSION_WAIT_SECS: u64 = 600;
/// A session that ends sooner than this with no news counts as a failure (never a tight loop).
const SESSION_MIN: Duration = Duration::from_secs(5);
/// What the hub's shell prints once the session is there and in the repository.
const READY: &str = "aisync-notify-ready";
/// How long notify-wait runs on the hub before the session counts as open.
const SESSION_SETTLE: Duration = Duration::from_millis(500);

/// How `watch` was asked to run.
pub struct Options {
    /// Scan the working tree instead of using file events.
    pub poll: bool,
    /// Ask every remote with `git ls-remote`, even one on a local path or an SSH hub (no
    /// ref files watched, no notify-wait session).
    pub poll_remotes: bool,
    /// Log to the file only.
    pub quiet: bool,
}

enum Msg {
    Tree(notify::Result<notify::Event>),
    /// Something changed in a local remote's ref files.
    RemoteRefs(Vec<PathBuf>),
    /// A remote's tip as `git ls-remote` answered, or why it did not.
    Polled {
        remote: String,
        answer: std::result::Result<Option<String>, String>,
    },
    /// News from a remote's notify-wait session (`id` tells sessions of one remote apart).
    Session {
        remote: String,
        id: u64,
        event: SessionEvent,
    },
    /// Something changed in this repository's inbox folder (a peer delivered).
    Inbox,
    Stop(i32),
}

// ---------------------------------------------------------------------------------------
// Signals. libc (already a dependency) rather than signal-hook: SIGINT and SIGTERM are
// blocked in every thread and one thread takes them with sigwait(2), sending Stop down the
// loop's channel. No handler runs in signal context, and std clears the mask in the git
// children it spawns, so they keep the usual signals.

/// SIGINT and SIGTERM, blocked; `forward` turns them into a stop request.
pub struct StopSignals(libc::sigset_t);

impl StopSignals {
    /// Blocks SIGINT and SIGTERM in this thread and in every thread it starts later: call it
    /// before any thread exists.
    pub fn block() -> Result<StopSignals> {
        // SAFETY: sigset_t is plain data that sigemptyset initialises; pthread_sigmask only
        // reads it.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGINT);
            libc::sigaddset(&mut set, libc::SIGTERM);
            if libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) != 0 {
                bail!("cannot block SIGINT and SIGTERM for a clean stop");
            }
            Ok(StopSignals(set))
        }
    }

    /// The first signal asks the loop to stop after the cycle in flight; a second one stops
    /// the process at once.
    fn forward(self, tx: Sender<Msg>) {
        std::thread::spawn(move || {
            let mut asked = false;
            loop {
                let mut sig: libc::c_int = 0;
                // SAFETY: waits for one of the blocked signals in the set we own.
                if unsafe { libc::sigwait(&self.0, &mut sig) } != 0 {
                    continue;
                }
                if asked {
                    eprintln!("git-aisync: a second signal: stopping now");
                    std::process::exit(1);
                }
                asked = true;
                let _ = tx.send(Msg::Stop(sig));
            }
        });
    }
}

// ---------------------------------------------------------------------------------------
// One watcher per repository.

/// `<git dir>/aisync/watch.lock`: an advisory lock (flock) the watcher holds for as long as it
/// runs. The kernel lets go of it when the process ends, however it ends, so a lock left by a
/// watcher that died (a reboot, kill -9) is free, and a reused pid never looks like a watcher.
/// The pid written inside is for people.
struct WatchLock {
    path: PathBuf,
    file: fs::File,
}

/// flock(2) without waiting: `Ok(false)` when another process holds a conflicting lock.
fn try_flock(file: &fs::File, how: libc::c_int) -> std::io::Result<bool> {
    use std::os::unix::io::AsRawFd;
    loop {
        // SAFETY: flock on a descriptor this File owns for the whole call.
        if unsafe { libc::flock(file.as_raw_fd(), how | libc::LOCK_NB) } == 0 {
            return Ok(true);
        }
        let e = std::io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EWOULDBLOCK) => return Ok(false),
            Some(libc::EINTR) => continue,
            _ => return Err(e),
        }
    }
}

/// Whether `file` is still the file at `path` (not one removed since it was opened).
fn still_at(file: &fs::File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Whether a watcher holds the lock in `state_dir` now.
fn watch_lock_held(state_dir: &Path) -> bool {
    let Ok(file) = fs::File::open(state_dir.join("watch.lock")) else {
        return false;
    };
    // Shared, for an instant: a watcher starting now tries again a moment later.
    matches!(try_flock(&file, libc::LOCK_SH), Ok(false))
}

impl WatchLock {
    fn acquire(state_dir: &Path) -> Result<WatchLock> {
        fs::create_dir_all(state_dir)
            .with_context(|| format!("cannot create {}", state_dir.display()))?;
        let path = state_dir.join("watch.lock");
        let mut busy = 0;
        loop {
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .with_context(|| format!("cannot open {}", path.display()))?;
            let locked = try_flock(&file, libc::LOCK_EX)
                .with_context(|| format!("cannot lock {}", path.display()))?;
            if locked {
                // A watcher that stopped just now removed the file we opened: take the new one.
                if !still_at(&file, &path) {
                    continue;
                }
                let me = json!({
                    "pid": std::process::id(),
                    "host": crate::machine::host_name(),
                    "started": crate::journal::now(),
                });
                file.set_len(0)
                    .and_then(|()| file.write_all(me.to_string().as_bytes()))
                    .with_context(|| format!("cannot write {}", path.display()))?;
                return Ok(WatchLock { path, file });
            }
            // Held: by a watcher, or for an instant by a `status` looking at it.
            busy += 1;
            if busy >= 20 {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                let pid = serde_json::from_str::<Value>(&text)
                    .ok()
                    .and_then(|v| v["pid"].as_u64());
                match pid {
                    Some(pid) => bail!(
                        "a watcher is already running in this repository (pid {pid}); stop it first with: kill {pid}"
                    ),
                    None => bail!(
                        "a watcher is already running in this repository; check with: git aisync status"
                    ),
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for WatchLock {
    fn drop(&mut self) {
        // Removed while still held (the lock goes with the descriptor, just after): a watcher
        // starting meanwhile sees that the file it locked is gone and takes a new one.
        if still_at(&self.file, &self.path) {
            let _ = fs::remove_file(&self.path);
        }
    }
}

// ---------------------------------------------------------------------------------------
// The log and the record `status` reads.

/// `<git dir>/aisync/watch.log`, rotated by size; each line also on stderr unless quiet.
struct Log<'u> {
    path: PathBuf,
    ui: Option<&'u Ui>,
}

impl Log<'_> {
    fn line(&self, text: &str) {
        if let Some(ui) = self.ui {
            ui.status(text);
        }
        if fs::metadata(&self.path).is_ok_and(|m| m.len() > LOG_LIMIT) {
            let _ = fs::rename(&self.path, self.path.with_extension("log.1"));
        }
        let line = format!("{} {}\n", crate::journal::now(), text.replace('\n', " "));
        let _ = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .and_then(|mut f| f.write_all(line.as_bytes()));
    }
}

/// What `<git dir>/aisync/watch.json` holds: who watches, how, and what happened last.
struct Record {
    path: PathBuf,
    value: Value,
}

impl Record {
    fn new(state_dir: &Path, tree: &str) -> Record {
        let started_unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Record {
            path: state_dir.join("watch.json"),
            value: json!({
                "pid": std::process::id(),
                "host": crate::machine::host_name(),
                "started": crate::journal::now(),
                "started_unix": started_unix,
                "tree": tree,
                "remotes": [],
                "last_event": null,
                "last_cycle": null,
                "cycles": 0,
            }),
        }
    }

    fn set(&mut self, key: &str, value: Value) {
        self.value[key] = value;
    }

    /// Written whole, then renamed: `status` never reads half a record.
    fn save(&self) {
        let tmp = self.path.with_extension("json.tmp");
        if fs::write(
            &tmp,
            serde_json::to_vec_pretty(&self.value).unwrap_or_default(),
        )
        .is_ok()
        {
            let _ = fs::rename(&tmp, &self.path);
        }
    }
}

/// The running watcher of a repository, as `status` shows it: its record with `uptime_seconds`
/// added, or `None` when no watcher runs (never started, stopped, or its process is gone).
pub fn running(state_dir: &Path) -> Option<Value> {
    let mut v: Value =
        serde_json::from_slice(&fs::read(state_dir.join("watch.json")).ok()?).ok()?;
    // The lock says whether a watcher runs; a pid alone cannot (it may be reused).
    if !v["stopped"].is_null() || !watch_lock_held(state_dir) {
        return None;
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let uptime = now.saturating_sub(v["started_unix"].as_u64().unwrap_or(now));
    v["uptime_seconds"] = uptime.into();
    Some(v)
}

// ---------------------------------------------------------------------------------------
// Environment.

fn inotify_limit() -> Option<String> {
    fs::read_to_string("/proc/sys/fs/inotify/max_user_watches")
        .ok()
        .map(|s| s.trim().to_string())
}

/// The log line for a full inotify table: what happened and how to raise the limit.
fn limit_message() -> String {
    format!(
        "the inotify watch limit is exhausted (fs.inotify.max_user_watches = {}): polling the working tree every {}s instead; raise the limit with: sudo sysctl fs.inotify.max_user_watches=524288 (and a line in /etc/sysctl.d/ to keep it), then restart the watcher",
        inotify_limit().unwrap_or_else(|| "?".into()),
        TREE_POLL.as_secs()
    )
}

// ---------------------------------------------------------------------------------------
// The working tree.

/// The watches on the working tree: its top directory alone (for `.aisync.yml` and new
/// folders) and, recursively, each top-level folder where a realtime path can live. `.git`
/// is never watched.
struct Tree {
    root: PathBuf,
    watcher: Box<dyn notify::Watcher>,
    polling: bool,
    dirs: BTreeSet<PathBuf>,
}

impl Tree {
    fn new(root: &Path, poll: bool, tx: &Sender<Msg>) -> notify::Result<Tree> {
        let watcher = tree_watcher(poll, tx)?;
        let mut tree = Tree {
            root: root.to_path_buf(),
            watcher,
            polling: poll,
            dirs: BTreeSet::new(),
        };
        tree.watcher.watch(root, RecursiveMode::NonRecursive)?;
        Ok(tree)
    }

    /// Watches the folders the policy needs, and no others.
    fn follow(&mut self, policy: &Policy) -> notify::Result<()> {
        // The test environment can make the inotify table look full (a real one needs root).
        if !self.polling && std::env::var_os("AISYNC_TEST_WATCH_LIMIT").is_some() {
            return Err(notify::Error::new(notify::ErrorKind::MaxFilesWatch));
        }
        let wanted = watched_dirs(&self.root, policy);
        for gone in self.dirs.difference(&wanted).cloned().collect::<Vec<_>>() {
            let _ = self.watcher.unwatch(&gone);
            self.dirs.remove(&gone);
        }
        for dir in wanted.difference(&self.dirs).cloned().collect::<Vec<_>>() {
            match self.watcher.watch(&dir, RecursiveMode::Recursive) {
                Ok(()) => {
                    self.dirs.insert(dir);
                }
                Err(e) if matches!(e.kind, notify::ErrorKind::MaxFilesWatch) => return Err(e),
                // Gone again already: the next event on the top folder tries again.
                Err(_) => {}
            }
        }
        Ok(())
    }

    /// Starts over with the poll watcher (the inotify table is full).
    fn switch_to_polling(&mut self, policy: &Policy, tx: &Sender<Msg>) -> notify::Result<()> {
        self.watcher = tree_watcher(true, tx)?;
        self.polling = true;
        self.dirs.clear();
        self.watcher
            .watch(&self.root, RecursiveMode::NonRecursive)?;
        self.follow(policy)
    }
}

fn tree_watcher(poll: bool, tx: &Sender<Msg>) -> notify::Result<Box<dyn notify::Watcher>> {
    let tx = tx.clone();
    let handler = move |event: notify::Result<notify::Event>| {
        // Reads (git status opening files, a person's editor) are not changes.
        if event
            .as_ref()
            .is_ok_and(|e| matches!(e.kind, EventKind::Access(_)))
        {
            return;
        }
        let _ = tx.send(Msg::Tree(event));
    };
    Ok(if poll {
        let config = notify::Config::default()
            .with_poll_interval(TREE_POLL)
            .with_compare_contents(false);
        Box::new(notify::PollWatcher::new(handler, config)?)
    } else {
        Box::new(notify::RecommendedWatcher::new(
            handler,
            notify::Config::default(),
        )?)
    })
}

/// The top-level folders that can hold a realtime path (`memory/**` → `memory`; a pattern
/// that can match anywhere → every folder but `.git`), plus `.aisync` (the journal).
fn watched_dirs(root: &Path, policy: &Policy) -> BTreeSet<PathBuf> {
    let Ok(entries) = fs::read_dir(root) else {
        return BTreeSet::new();
    };
    entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name != ".git" && may_hold_realtime(&name, policy)
        })
        .map(|e| e.path())
        .collect()
}

fn may_hold_realtime(dir: &str, policy: &Policy) -> bool {
    if dir == ".aisync" {
        return true;
    }
    policy.realtime_patterns().iter().any(|pattern| {
        let pattern = pattern.trim_start_matches('/');
        // A pattern without a slash matches at any depth.
        let Some((first, _)) = pattern.split_once('/') else {
            return true;
        };
        first.contains(['*', '?', '[', '{', '\\']) || first == dir
    })
}

/// The path of `path` inside the working tree, `/`-separated, when it is one the watcher may
/// care about (not `.git` internals; the policy tells editors' leftovers).
fn tree_path(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?;
    let mut parts = Vec::new();
    for c in rel.components() {
        match c {
            Component::Normal(s) if s == ".git" => return None,
            Component::Normal(s) => parts.push(s.to_string_lossy()),
            _ => return None,
        }
    }
    parts.last()?;
    Some(parts.join("/"))
}

/// Whether a change at `rel` may be one the cycle commits: a realtime path, or a folder that
/// can hold one (a folder created, moved or removed), not ignored by the policy.
fn may_commit(rel: &str, policy: &Policy) -> bool {
    if policy.is_ignored(rel) || rel.starts_with(".credentials/") || rel == ".credentials" {
        return false;
    }
    policy.mode(rel) == Mode::Realtime || policy.mode(&format!("{rel}/x")) == Mode::Realtime
}

/// What to ask git about for these changed paths: the paths themselves; past `PRECHECK_MAX`
/// (a command line has its limits) their folders; past that too, or with a top-level file
/// among them, nothing: the whole tree. Any of these leaves ignored files out.
fn pathspecs(paths: BTreeSet<PathBuf>) -> BTreeSet<PathBuf> {
    if paths.len() <= PRECHECK_MAX {
        return paths;
    }
    let mut folders = BTreeSet::new();
    for p in &paths {
        match p.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => {
                folders.insert(dir.to_path_buf());
            }
            _ => return BTreeSet::new(),
        }
    }
    if folders.len() <= PRECHECK_MAX {
        folders
    } else {
        BTreeSet::new()
    }
}

// ---------------------------------------------------------------------------------------
// Remotes.

/// How the watcher learns that a remote moved.
#[derive(Clone, PartialEq, Eq)]
enum Reach {
    /// A repository on a path: its ref files are watched and read.
    Local(PathBuf),
    /// Anything else: `git ls-remote` every poll interval.
    Polled,
    /// A hub over SSH: a notify-wait session tells at once, `git ls-remote` is the safety net
    /// (and the fallback when the hub has no git-aisync or the session is down).
    Notified(SshHub),
}

impl Reach {
    /// Asked with `git ls-remote` (not read from files here).
    fn is_asked(&self) -> bool {
        !matches!(self, Reach::Local(_))
    }
}

/// Where the notify-wait session of a remote stands.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Notice {
    /// No session: not an SSH hub, or polling was asked for.
    Off,
    /// Connecting.
    Starting,
    /// notify-wait runs on the hub: polling slows to the safety net.
    Up,
    /// Dropped: polled every `poll` while a new session is tried, later and later.
    Down,
    /// The hub has no git-aisync (or one without notify-wait): polled from now on.
    Unavailable,
}

impl Notice {
    fn word(self) -> &'static str {
        match self {
            Notice::Off => "off",
            Notice::Starting => "starting",
            Notice::Up => "open",
            Notice::Down => "down",
            Notice::Unavailable => "unavailable",
        }
    }
}

struct Remote {
    name: String,
    reach: Reach,
    /// The git directory found at the local path (it may be away for a while).
    git_dir: Option<PathBuf>,
    watched: Vec<PathBuf>,
    next_check: Instant,
    /// Consecutive failures: the backoff's exponent.
    failures: u32,
    /// Unreachable at the last check or cycle: an answer starts a cycle.
    offline: bool,
    /// Not before this, though, when the last cycle failed with the remote answering.
    resume_at: Instant,
    /// The last check found it unreachable (so a failed cycle was no surprise).
    seen_away: bool,
    in_flight: bool,
    /// The remote tip a cycle already ran for (a failed cycle is not retried for the same tip
    /// by remote checks; the error retry and local events do that).
    acted_on: Option<String>,
    /// The notify-wait session with an SSH hub, while one is wanted.
    session: Option<Session>,
    notice: Notice,
    /// The remote's tip as last heard (a session, a check, a cycle), and when.
    heard: Option<(String, Instant)>,
}

impl Remote {
    /// Where the remote stands, if heard recently enough for a cycle to take it without
    /// asking again ([`sync::Known`]): a second ago, or while a notify-wait session is
    /// open (it tells every move; the safety net asks every `SAFETY_POLL` all the same).
    fn known_tip(&self, poll: Duration) -> Option<&str> {
        let (tip, at) = self.heard.as_ref()?;
        let fresh = if self.notice == Notice::Up {
            2 * SAFETY_POLL.max(poll)
        } else {
            HEARD_FRESH
        };
        (at.elapsed() < fresh).then_some(tip.as_str())
    }

    /// How long until the next `ls-remote` when nothing is wrong: `poll`, or the safety net's
    /// slower pace while a notify-wait session is open.
    fn every(&self, poll: Duration) -> Duration {
        if self.notice == Notice::Up {
            SAFETY_POLL.max(poll)
        } else {
            poll
        }
    }
}

/// The remotes of `repo` and how each is reached.
fn remotes_of(repo: &Repo, poll_remotes: bool) -> Vec<(String, Reach)> {
    repo.remotes()
        .unwrap_or_default()
        .into_iter()
        .map(|name| {
            // Where git goes: `url.<base>.insteadOf` applied.
            let url = repo.remote_url(&name).unwrap_or_default();
            let reach = match local_path(&url, &repo.work_tree) {
                // (A reftable repository has no ref files to watch: it is asked.)
                Some(path) if !poll_remotes && !uses_reftable(&path) => Reach::Local(path),
                Some(_) => Reach::Polled,
                None => match ssh_hub(&url) {
                    Some(hub) if !poll_remotes => Reach::Notified(hub),
                    _ => Reach::Polled,
                },
            };
            (name, reach)
        })
        .collect()
}

/// The watches on local remotes' ref files (one inotify instance for all of them, made when
/// the first local remote shows up).
struct RemoteRefs {
    watcher: Option<notify::RecommendedWatcher>,
    tx: Sender<Msg>,
}

impl RemoteRefs {
    /// Watches a local remote's git directory (packed-refs) and the folder of the branch's
    /// loose ref. Where that fails the remote is still read every poll interval.
    fn watch(&mut self, remote: &mut Remote, branch: &str) {
        self.unwatch(remote);
        let Reach::Local(path) = &remote.reach else {
            return;
        };
        remote.git_dir = remote_git_dir(path);
        let Some(git_dir) = remote.git_dir.clone() else {
            return;
        };
        if self.watcher.is_none() {
            let tx = self.tx.clone();
            self.watcher = notify::RecommendedWatcher::new(
                move |event: notify::Result<notify::Event>| {
                    if let Ok(e) = event {
                        // Reads (a fetch) are not moves.
                        if !matches!(e.kind, EventKind::Access(_)) {
                            let _ = tx.send(Msg::RemoteRefs(e.paths));
                        }
                    }
                },
                notify::Config::default(),
            )
            .ok();
        }
        let Some(watcher) = self.watcher.as_mut() else {
            return;
        };
        let leaf = git_dir.join("refs/heads").join(branch);
        let mut dirs = vec![git_dir.clone()];
        dirs.extend(leaf.parent().map(Path::to_path_buf));
        for dir in dirs {
            if watcher.watch(&dir, RecursiveMode::NonRecursive).is_ok() {
                remote.watched.push(dir);
            }
        }
    }

    fn unwatch(&mut self, remote: &mut Remote) {
        if let Some(w) = self.watcher.as_mut() {
            for dir in &remote.watched {
                let _ = w.unwatch(dir);
            }
        }
        remote.watched.clear();
    }
}

/// `poll`, doubled per failure, at most a minute.
fn backoff(poll: Duration, failures: u32) -> Duration {
    poll.saturating_mul(1 << failures.min(8)).min(BACKOFF_CAP)
}

// ---------------------------------------------------------------------------------------
// Instant notice from a hub over SSH: one `git aisync notify-wait` session kept open on a
// thread. It blocks on the hub until the branch moves and prints the new commit; the thread
// passes that on and opens the next session from the new tip. A hub without git-aisync is
// polled for good; a session that drops is tried again later and later, polling meanwhile.

/// The SSH hub a remote URL names, if it names one.
fn ssh_hub(url: &str) -> Option<SshHub> {
    crate::url::ssh(url)
}

/// The user's SSH command (`GIT_SSH_COMMAND`, `core.sshCommand`, else `ssh`) in batch mode,
/// as `peer` runs it; a session that stays open also has ssh check that the hub is still
/// there, so a connection that died quietly (a suspend, a new network) ends within a minute.
/// It shares the connection the cycle's git commands keep (the same control socket), so a
/// new session after each push is a new channel, not a new SSH handshake.
fn ssh_command(repo: &Repo) -> String {
    format!(
        "{} -o ServerAliveInterval=15 -o ServerAliveCountMax=3",
        repo.ssh_command()
    )
}

/// What the hub runs (through `peer::remote_script`, as kick and run do): `git aisync
/// notify-wait …` in the hub's repository, behind a guard that ends notify-wait as soon as the
/// connection goes (its standard input closes), so a watcher that stops or restarts a session
/// leaves nothing running on the hub.
fn remote_script(hub: &SshHub, branch: &str, since: Option<&str>) -> String {
    // Nothing known yet: any tip of the branch is news.
    let since = since.unwrap_or("0000000000000000000000000000000000000000");
    let script = format!(
        "echo {READY}\n\
         exec 3<&0 </dev/null\n\
         git aisync notify-wait --branch {branch} --since {since} --timeout {SESSION_WAIT_SECS} 3<&- &\n\
         w=$!\n\
         (while read -r _ <&3; do :; done; kill $w) >/dev/null 2>&1 &\n\
         g=$!\n\
         wait $w\n\
         s=$?\n\
         kill $g 2>/dev/null\n\
         exit $s\n",
        branch = crate::shell::quote(branch),
        since = crate::shell::quote(since),
    );
    crate::ssh::remote_script(&hub.path, &script)
}

/// What a session thread tells the loop.
enum SessionEvent {
    /// notify-wait runs on the hub.
    Up,
    /// The branch on the hub moved to this commit.
    Moved(String),
    /// The session ended for this reason; another is tried after a pause.
    Down(String),
    /// The hub cannot run notify-wait: no more sessions.
    Unavailable(String),
}

/// How a session ended.
enum Ended {
    Moved(String),
    /// notify-wait's time limit: start over.
    Quiet,
    Down(String),
    Unavailable(String),
}

/// Shared between the loop and a session thread.
#[derive(Default)]
struct Slot {
    /// The watcher is done with this session.
    stop: bool,
    /// Start over at once (after a suspend): the end of the current child is no failure.
    restart: bool,
    /// The running child (its process group), until it is reaped.
    child: Option<u32>,
    /// The hub's tip as last known, for the next session's `--since`.
    known: Option<String>,
}

/// One remote's notify-wait session: a thread and the ssh child it runs. Dropping it ends
/// both (the child is killed, the thread returns).
struct Session {
    id: u64,
    shared: Arc<(Mutex<Slot>, Condvar)>,
}

fn lock(shared: &(Mutex<Slot>, Condvar)) -> MutexGuard<'_, Slot> {
    // A panic elsewhere cannot leave a Slot half-changed: take it as it is.
    shared.0.lock().unwrap_or_else(|e| e.into_inner())
}

/// Ends a session's ssh (and the shell around it) by its process group.
fn kill_group(pid: u32) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: signals a process group we made and have not reaped the leader of.
        unsafe {
            libc::kill(-pid, libc::SIGTERM);
        }
    }
}

/// What a session thread needs to know.
struct SessionSpec {
    remote: String,
    hub: SshHub,
    ssh: String,
    branch: String,
    poll: Duration,
}

impl Session {
    fn start(spec: SessionSpec, known: Option<String>, tx: Sender<Msg>) -> Session {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let shared = Arc::new((
            Mutex::new(Slot {
                known,
                ..Slot::default()
            }),
            Condvar::new(),
        ));
        let theirs = shared.clone();
        std::thread::spawn(move || session_thread(&theirs, &spec, id, &tx));
        Session { id, shared }
    }

    /// The hub's tip as the loop knows it now (after a cycle).
    fn know(&self, tip: Option<String>) {
        if tip.is_some() {
            lock(&self.shared).known = tip;
        }
    }

    /// Ends the current session and opens a new one at once.
    fn restart(&self) {
        let mut slot = lock(&self.shared);
        slot.restart = true;
        if let Some(pid) = slot.child {
            kill_group(pid);
        }
        self.shared.1.notify_all();
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let mut slot = lock(&self.shared);
        slot.stop = true;
        if let Some(pid) = slot.child {
            kill_group(pid);
        }
        self.shared.1.notify_all();
    }
}

fn session_thread(shared: &(Mutex<Slot>, Condvar), spec: &SessionSpec, id: u64, tx: &Sender<Msg>) {
    let send = |event| {
        let _ = tx.send(Msg::Session {
            remote: spec.remote.clone(),
            id,
            event,
        });
    };
    let mut failures = 0u32;
    loop {
        // Spawned under the lock: a stop that comes now finds the child to kill.
        let mut slot = lock(shared);
        if slot.stop {
            return;
        }
        slot.restart = false;
        let since = slot.known.clone();
        let child = spawn_session(spec, since.as_deref());
        let ended = match child {
            Ok(child) => {
                slot.child = Some(child.id());
                drop(slot);
                let started = Instant::now();
                let ended = follow_session(shared, child, || send(SessionEvent::Up));
                match ended {
                    Ended::Quiet if started.elapsed() < SESSION_MIN => {
                        Ended::Down("notify-wait ended at once with no news".into())
                    }
                    other => other,
                }
            }
            Err(e) => {
                drop(slot);
                Ended::Down(format!("cannot run ssh: {e}"))
            }
        };
        let slot = lock(shared);
        if slot.stop {
            return;
        }
        if slot.restart {
            failures = 0;
            continue;
        }
        drop(slot);
        match ended {
            Ended::Moved(tip) => {
                failures = 0;
                lock(shared).known = Some(tip.clone());
                send(SessionEvent::Moved(tip));
            }
            Ended::Quiet => failures = 0,
            Ended::Unavailable(why) => {
                send(SessionEvent::Unavailable(why));
                return;
            }
            Ended::Down(why) => {
                failures += 1;
                send(SessionEvent::Down(why));
                let pause = backoff(spec.poll, failures);
                let slot = lock(shared);
                let _ = shared
                    .1
                    .wait_timeout_while(slot, pause, |s| !s.stop && !s.restart);
            }
        }
    }
}

fn spawn_session(spec: &SessionSpec, since: Option<&str>) -> std::io::Result<Child> {
    use std::os::unix::process::CommandExt;
    let script = remote_script(&spec.hub, &spec.branch, since);
    // Its own process group: the loop ends ssh and the shell around it together, and a
    // Ctrl-C in the terminal reaches the watcher alone, which then ends them.
    crate::ssh::command(&spec.ssh, &spec.hub.host, spec.hub.port.as_deref(), &script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
}

/// Reads a session to its end: the ready line (then `up`), the new tip, ssh's and the hub's
/// complaints; reaps the child and says how it ended.
fn follow_session(shared: &(Mutex<Slot>, Condvar), mut child: Child, up: impl Fn()) -> Ended {
    // Held open while the session runs: the hub's guard ends notify-wait when it closes.
    let keep_open = child.stdin.take();
    let errors = child.stderr.take().map(|mut err| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = (&mut err).take(64 * 1024).read_to_end(&mut text);
            // Whatever comes past that is drained, so the child never blocks on it.
            let _ = std::io::copy(&mut err, &mut std::io::sink());
            String::from_utf8_lossy(&text).into_owned()
        })
    });
    let (line_tx, lines) = mpsc::channel();
    if let Some(out) = child.stdout.take() {
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if line_tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    // The session is up once notify-wait has run a moment on the hub: a hub without it
    // says so at once.
    let mut ready: Option<Instant> = None;
    let mut announced = false;
    let mut tip = None;
    loop {
        let wait = match ready {
            Some(at) if !announced => {
                (at + SESSION_SETTLE).saturating_duration_since(Instant::now())
            }
            _ => IDLE_CAP,
        };
        match lines.recv_timeout(wait) {
            Ok(line) => {
                let line = line.trim();
                if line == READY {
                    ready = Some(Instant::now());
                } else if ready.is_some()
                    && line.len() >= 40
                    && line.chars().all(|c| c.is_ascii_hexdigit())
                {
                    tip = Some(line.to_string());
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                if ready.is_some() && !announced {
                    announced = true;
                    up();
                }
            }
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    let ready = ready.is_some();
    // Not ours to kill any more: it is reaped next.
    lock(shared).child = None;
    let status = child.wait();
    drop(keep_open);
    let err = errors.and_then(|t| t.join().ok()).unwrap_or_default();
    let code = status.ok().and_then(|s| s.code());
    classify(ready, code, tip, &err)
}

/// How a session ended, from what it said.
fn classify(ready: bool, code: Option<i32>, tip: Option<String>, err: &str) -> Ended {
    let why = err
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or("")
        .to_string();
    if !ready {
        // ssh could not connect, or the repository is not at that path.
        return Ended::Down(if why.is_empty() {
            format!(
                "ssh ended with status {}",
                code.map_or("?".into(), |c| c.to_string())
            )
        } else {
            why
        });
    }
    match (code, tip) {
        (Some(0), Some(tip)) => return Ended::Moved(tip),
        (Some(3), _) => return Ended::Quiet,
        _ => {}
    }
    let missing = [
        "not a git command",
        "command not found",
        ": not found",
        "unrecognized subcommand",
    ];
    if code == Some(127) || missing.iter().any(|m| err.contains(m)) {
        return Ended::Unavailable(if why.is_empty() {
            "git or git-aisync not found".into()
        } else {
            why
        });
    }
    Ended::Down(if why.is_empty() {
        format!(
            "the session ended with status {}",
            code.map_or("?".into(), |c| c.to_string())
        )
    } else {
        why
    })
}

// ---------------------------------------------------------------------------------------
// The inbox: peers deliver their commits to `refs/aisync/inbox/<machine>` here (the cycle
// merges them first thing). Its folder is watched, so a delivery starts a cycle at once.

/// The git directory shared by every worktree (where refs live).
fn common_dir(git_dir: &Path) -> PathBuf {
    fs::read_to_string(git_dir.join("commondir"))
        .ok()
        .map(|c| git_dir.join(c.trim()))
        .unwrap_or_else(|| git_dir.to_path_buf())
}

struct Inbox {
    /// `<common git dir>/refs/aisync/inbox`.
    dir: PathBuf,
    watcher: Option<notify::RecommendedWatcher>,
    /// The folder watched (its inode): git may remove an empty folder and make it anew.
    watched: Option<u64>,
    /// The deliveries a cycle has already run for (sender, commit).
    seen: Vec<(String, String)>,
    /// Without file events, when to look again.
    next_check: Option<Instant>,
    tx: Sender<Msg>,
}

impl Inbox {
    fn new(git_dir: &Path, tx: &Sender<Msg>) -> Inbox {
        Inbox {
            dir: common_dir(git_dir).join(crate::peer::INBOX.trim_end_matches('/')),
            watcher: None,
            watched: None,
            seen: Vec::new(),
            next_check: None,
            tx: tx.clone(),
        }
    }

    fn inode(&self) -> Option<u64> {
        use std::os::unix::fs::MetadataExt;
        fs::metadata(&self.dir).ok().map(|m| m.ino())
    }

    /// Makes the folder if it is missing and watches it (again, if it was made anew).
    /// `Err` says why it cannot be watched (it is then looked at every poll interval).
    fn follow(&mut self) -> std::result::Result<(), String> {
        if self.watched.is_some() && self.watched == self.inode() {
            return Ok(());
        }
        fs::create_dir_all(&self.dir)
            .map_err(|e| format!("cannot create {}: {e}", self.dir.display()))?;
        if self.watcher.is_none() {
            let tx = self.tx.clone();
            let watcher = notify::RecommendedWatcher::new(
                move |event: notify::Result<notify::Event>| {
                    if event.is_ok_and(|e| !matches!(e.kind, EventKind::Access(_))) {
                        let _ = tx.send(Msg::Inbox);
                    }
                },
                notify::Config::default(),
            )
            .map_err(|e| format!("no file events for the inbox: {e}"))?;
            self.watcher = Some(watcher);
        }
        let Some(watcher) = self.watcher.as_mut() else {
            return Err("no file events for the inbox".into());
        };
        if self.watched.is_some() {
            let _ = watcher.unwatch(&self.dir);
        }
        self.watched = None;
        watcher
            .watch(&self.dir, RecursiveMode::NonRecursive)
            .map_err(|e| format!("cannot watch {}: {e}", self.dir.display()))?;
        self.watched = self.inode();
        Ok(())
    }

    /// Deliveries not seen before (new senders, or new commits from one), remembered now.
    fn news(&mut self, repo: &Repo) -> Vec<String> {
        // A ref being written is `<name>.lock` until git renames it: not a delivery yet.
        let now: Vec<(String, String)> = repo
            .refs_under(crate::peer::INBOX)
            .into_iter()
            .filter(|(name, oid)| {
                !name.ends_with(".lock")
                    && oid.len() >= 40
                    && oid.chars().all(|c| c.is_ascii_hexdigit())
            })
            .collect();
        let new = now
            .iter()
            .filter(|entry| !self.seen.contains(entry))
            .map(|(sender, _)| sender.clone())
            .collect();
        self.seen = now;
        new
    }
}

// ---------------------------------------------------------------------------------------
// The loop.

/// Runs the watcher in `repo` until SIGINT or SIGTERM (blocked by `signals` before any thread
/// started). Returns once the cycle in flight has finished.
pub fn run(ui: &Ui, repo: &Repo, opts: Options, signals: StopSignals) -> Result<()> {
    let state_dir = repo.state_dir();
    let _lock = WatchLock::acquire(&state_dir)?;
    // The watcher's own git children, like its cycles', start no cycle from their hooks.
    let _cycle = repo.enter_cycle(false);
    let (tx, rx) = mpsc::channel();
    signals.forward(tx.clone());
    let log = Log {
        path: state_dir.join("watch.log"),
        ui: (!opts.quiet).then_some(ui),
    };
    let policy = match Policy::load(&repo.work_tree) {
        Ok(p) => p,
        Err(e) => {
            log.line(&format!(
                "{e:#}; watching with the default policy until it is fixed"
            ));
            Policy::parse(policy::DEFAULT).expect("the default policy parses")
        }
    };
    let mut poll = opts.poll;
    if !poll && crate::platform::is_wsl() && repo.work_tree.starts_with("/mnt/") {
        log.line("WSL with the repository on a Windows drive: inotify does not see Windows-side writes there, so the working tree is polled");
        poll = true;
    }
    let tree = match Tree::new(&repo.work_tree, poll, &tx) {
        Ok(t) => t,
        Err(e) if !poll => {
            let why = if matches!(e.kind, notify::ErrorKind::MaxFilesWatch) {
                limit_message()
            } else {
                format!("file events are not available ({e}): polling the working tree; if inotify instances ran out, raise fs.inotify.max_user_instances")
            };
            log.line(&why);
            Tree::new(&repo.work_tree, true, &tx)
                .with_context(|| format!("cannot watch {}", repo.work_tree.display()))?
        }
        Err(e) => {
            return Err(e).with_context(|| format!("cannot watch {}", repo.work_tree.display()))
        }
    };
    let mut watch = Watch {
        work_tree: repo.work_tree.clone(),
        branch: branch_of(repo),
        record: Record::new(&state_dir, if tree.polling { "poll" } else { "events" }),
        policy,
        poll_remotes: opts.poll_remotes,
        log,
        tx: tx.clone(),
        tree,
        remote_refs: RemoteRefs {
            watcher: None,
            tx: tx.clone(),
        },
        remotes: Vec::new(),
        inbox: Inbox::new(&repo.git_dir, &tx),
        pending: BTreeSet::new(),
        first_event: None,
        last_event: None,
        policy_changed: false,
        rescan: false,
        wanted: None,
        errors: 0,
        retry_at: None,
        clock: (Instant::now(), SystemTime::now()),
    };
    watch.follow_tree();
    watch.follow_inbox();
    // What is in the inbox now, the first cycle merges.
    watch.inbox.news(repo);
    watch.follow_remotes(repo);
    watch.log.line(&format!(
        "watching {} ({}; remotes: {})",
        watch.work_tree.display(),
        if watch.tree.polling {
            "polling the files"
        } else {
            "file events"
        },
        watch.describe_remotes()
    ));
    watch.cycle("start");
    watch.run(&rx)
}

struct Watch<'u> {
    work_tree: PathBuf,
    branch: String,
    record: Record,
    policy: Policy,
    poll_remotes: bool,
    log: Log<'u>,
    tx: Sender<Msg>,
    tree: Tree,
    remote_refs: RemoteRefs,
    remotes: Vec<Remote>,
    inbox: Inbox,
    /// Changed paths since the last cycle, not yet checked.
    pending: BTreeSet<PathBuf>,
    first_event: Option<Instant>,
    last_event: Option<Instant>,
    policy_changed: bool,
    /// The event queue overflowed: what changed is unknown.
    rescan: bool,
    /// A cycle wanted at once, and why (a remote moved or answers again, a suspend).
    wanted: Option<String>,
    /// Consecutive cycles that ended in an error, and when to try again.
    errors: u32,
    retry_at: Option<Instant>,
    /// The monotonic and the wall clock at the last look: a gap between them is a suspend.
    clock: (Instant, SystemTime),
}

fn branch_of(repo: &Repo) -> String {
    repo.setting("aisync.branch")
        .map(str::to_string)
        .or_else(|| repo.head_branch())
        .unwrap_or_else(|| "main".into())
}

impl Watch<'_> {
    fn poll(&self) -> Duration {
        // A zero poll interval in the policy must not make a busy loop.
        self.policy.poll.max(Duration::from_millis(250))
    }

    fn run(&mut self, rx: &Receiver<Msg>) -> Result<()> {
        loop {
            let now = Instant::now();
            let timeout = self
                .next_deadline()
                .map_or(IDLE_CAP, |d| d.saturating_duration_since(now).min(IDLE_CAP));
            let first = match rx.recv_timeout(timeout) {
                Ok(msg) => Some(msg),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => bail!("the watcher's event channel closed"),
            };
            let mut stop = None;
            for msg in first
                .into_iter()
                .chain(std::iter::from_fn(|| rx.try_recv().ok()))
            {
                match msg {
                    Msg::Stop(sig) => stop = Some(sig),
                    Msg::Tree(event) => self.tree_event(event),
                    Msg::RemoteRefs(paths) => self.remote_event(&paths),
                    Msg::Polled { remote, answer } => self.polled(&remote, answer),
                    Msg::Session { remote, id, event } => self.session_event(&remote, id, event),
                    Msg::Inbox => self.inbox_event(),
                }
            }
            if let Some(sig) = stop {
                let name = if sig == libc::SIGINT {
                    "SIGINT"
                } else {
                    "SIGTERM"
                };
                // Writes still settling would wait for the next start: synced now instead.
                if self.first_event.is_some() {
                    if let Some(reason) = self.local_due() {
                        self.cycle(&format!("{reason}, before stopping on {name}"));
                    }
                }
                // The sessions' ssh children end with them (no session is left on a hub).
                for r in &mut self.remotes {
                    r.session = None;
                }
                self.log.line(&format!("{name}: stopped"));
                self.record.set("stopped", crate::journal::now().into());
                self.record.save();
                return Ok(());
            }
            self.check_clock();
            self.check_remotes();
            if self.inbox.next_check.is_some_and(|t| Instant::now() >= t) {
                self.inbox_event();
            }
            if let Some(reason) = self.due() {
                self.cycle(&reason);
            }
        }
    }

    /// The earliest timer: the end of the debounce, the next remote check, an error retry.
    fn next_deadline(&self) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        let mut at = |t: Instant| next = Some(next.map_or(t, |n| n.min(t)));
        if self.wanted.is_some() && !self.settling() {
            at(Instant::now());
        }
        // (A wanted cycle waiting for writes to settle runs at this deadline.)
        if let (Some(first), Some(last)) = (self.first_event, self.last_event) {
            at((last + self.policy.delay).min(first + self.policy.max_wait));
        }
        for r in self.remotes.iter().filter(|r| !r.in_flight) {
            at(r.next_check);
        }
        if let Some(t) = self.retry_at {
            at(t);
        }
        if let Some(t) = self.inbox.next_check {
            at(t);
        }
        next
    }

    fn tree_event(&mut self, event: notify::Result<notify::Event>) {
        let event = match event {
            Ok(e) => e,
            Err(e) if matches!(e.kind, notify::ErrorKind::MaxFilesWatch) && !self.tree.polling => {
                self.log.line(&limit_message());
                if let Err(e) = self.tree.switch_to_polling(&self.policy, &self.tx) {
                    self.log
                        .line(&format!("cannot poll the working tree either: {e}"));
                }
                self.record.set("tree", "poll".into());
                self.note_event(None);
                self.rescan = true;
                return;
            }
            Err(e) => {
                self.log.line(&format!("file events: {e}"));
                return;
            }
        };
        if event.need_rescan() {
            self.rescan = true;
            self.note_event(None);
            return;
        }
        let mut new_folder = false;
        for path in &event.paths {
            let Some(rel) = tree_path(&self.work_tree, path) else {
                continue;
            };
            // A new policy, or a .gitignore that may let files through that saw no event.
            if rel == policy::FILE || rel == ".gitignore" {
                self.policy_changed = true;
                self.note_event(None);
                continue;
            }
            let top_level = !rel.contains('/');
            if top_level
                && matches!(
                    event.kind,
                    EventKind::Create(_)
                        | EventKind::Remove(_)
                        | EventKind::Modify(ModifyKind::Name(_))
                )
            {
                new_folder = true;
            }
            if may_commit(&rel, &self.policy) {
                let rel = path.strip_prefix(&self.work_tree).unwrap_or(path);
                self.note_event(Some(rel.to_path_buf()));
            }
        }
        // Rename events name both ends only in `Both`; either way a top-level change may
        // be a folder to start or stop watching.
        if new_folder
            || matches!(
                event.kind,
                EventKind::Modify(ModifyKind::Name(RenameMode::Both))
            )
        {
            self.follow_tree();
        }
    }

    fn note_event(&mut self, path: Option<PathBuf>) {
        let now = Instant::now();
        let new_burst = self.first_event.is_none();
        self.first_event.get_or_insert(now);
        self.last_event = Some(now);
        self.record.set("last_event", crate::journal::now().into());
        if new_burst {
            // Once a burst, not once an event: `status` shows writes are being taken in.
            self.record.save();
        }
        if let Some(p) = path {
            self.pending.insert(p);
        }
    }

    fn follow_tree(&mut self) {
        if let Err(e) = self.tree.follow(&self.policy) {
            if matches!(e.kind, notify::ErrorKind::MaxFilesWatch) && !self.tree.polling {
                self.log.line(&limit_message());
                if let Err(e) = self.tree.switch_to_polling(&self.policy, &self.tx) {
                    self.log
                        .line(&format!("cannot poll the working tree either: {e}"));
                }
                self.record.set("tree", "poll".into());
                self.rescan = true;
                self.note_event(None);
            }
        }
    }

    /// The cycle to run now, if one is due, and why.
    fn due(&mut self) -> Option<String> {
        if self.settling() {
            // Files are being written: no cycle (not even for a remote) commits them half-way.
            return None;
        }
        let now = Instant::now();
        if let Some(reason) = self.wanted.take() {
            self.clear_pending();
            return Some(reason);
        }
        if self.first_event.is_some() {
            if let Some(reason) = self.local_due() {
                return Some(reason);
            }
        }
        if self.retry_at.is_some_and(|t| now >= t) {
            self.retry_at = None;
            return Some("retry after an error".into());
        }
        None
    }

    /// Local writes came in and have neither paused for `delay` nor gone on for `max_wait`.
    fn settling(&self) -> bool {
        let now = Instant::now();
        match (self.first_event, self.last_event) {
            (Some(first), Some(last)) => {
                now < last + self.policy.delay && now < first + self.policy.max_wait
            }
            _ => false,
        }
    }

    fn clear_pending(&mut self) {
        self.pending.clear();
        self.first_event = None;
        self.last_event = None;
        self.rescan = false;
        self.policy_changed = false;
    }

    /// Local changes settled: a cycle when the policy changed, or when git sees a change to
    /// commit among the paths that moved (gitignored files and writes that changed nothing
    /// start no cycle).
    fn local_due(&mut self) -> Option<String> {
        let policy_changed = self.policy_changed;
        let rescan = self.rescan;
        let paths = std::mem::take(&mut self.pending);
        self.clear_pending();
        if policy_changed {
            match Policy::load(&self.work_tree) {
                Ok(p) => {
                    self.policy = p;
                    self.follow_tree();
                    self.log
                        .line(&format!("{} changed: reloaded", policy::FILE));
                }
                Err(e) => self.log.line(&format!("{e:#}")),
            }
            return Some(format!("{} changed", policy::FILE));
        }
        if rescan {
            // What changed is unknown: git looks at the whole tree (ignores and all).
            return self.changed(&BTreeSet::new());
        }
        if paths.is_empty() {
            return None;
        }
        self.changed(&pathspecs(paths))
    }

    /// The first path under `paths` (the whole tree when empty) that git sees changed and the
    /// cycle may commit, as a reason. Git applies `.gitignore`, the policy the rest.
    fn changed(&self, paths: &BTreeSet<PathBuf>) -> Option<String> {
        let mut args: Vec<OsString> = [
            "status",
            "--porcelain=v1",
            "-z",
            "--untracked-files=all",
            "--no-renames",
            "--",
        ]
        .into_iter()
        .map(OsString::from)
        .collect();
        for p in paths {
            let mut literal = OsString::from(":(literal)");
            literal.push(p.as_os_str());
            args.push(literal);
        }
        let out = Repo::find(&self.work_tree).and_then(|repo| Ok(repo.git(&args).output()?));
        let out = match out {
            Ok(o) if o.success => o,
            // Git could not tell: let the cycle look.
            _ => return Some("changes".into()),
        };
        let changed: Vec<&str> = out
            .stdout
            .split('\0')
            .filter(|e| e.len() > 3)
            .map(|e| &e[3..])
            .filter(|p| may_commit(p, &self.policy) && self.policy.mode(p) == Mode::Realtime)
            .collect();
        match changed.as_slice() {
            [] => None,
            [one] => Some(format!("{one} changed")),
            [first, rest @ ..] => Some(format!("{first} and {} more changed", rest.len())),
        }
    }

    fn check_clock(&mut self) {
        let (mono, wall) = (Instant::now(), SystemTime::now());
        let (last_mono, last_wall) = self.clock;
        self.clock = (mono, wall);
        let Ok(wall_gap) = wall.duration_since(last_wall) else {
            return;
        };
        let mono_gap = mono.duration_since(last_mono);
        if wall_gap > mono_gap + CLOCK_JUMP {
            self.log.line(&format!(
                "the clock jumped {}s ahead (a suspend?): syncing now",
                (wall_gap - mono_gap).as_secs()
            ));
            for r in &mut self.remotes {
                r.failures = 0;
                r.next_check = mono;
                r.resume_at = mono;
                // Its connection is likely dead after a suspend: a new one at once.
                if let Some(s) = &r.session {
                    s.restart();
                }
            }
            self.wanted = Some("resumed after a suspend".into());
        }
    }

    // -- remotes --

    /// Brings the remote list in line with the repository's (remotes come and go).
    fn follow_remotes(&mut self, repo: &Repo) {
        let wanted = remotes_of(repo, self.poll_remotes);
        let same = wanted.len() == self.remotes.len()
            && wanted
                .iter()
                .zip(&self.remotes)
                .all(|((n, reach), r)| *n == r.name && *reach == r.reach);
        if same {
            return;
        }
        let now = Instant::now();
        let mut old = std::mem::take(&mut self.remotes);
        for r in &mut old {
            self.remote_refs.unwatch(r);
        }
        for (name, reach) in wanted {
            let kept = old
                .iter()
                .position(|r| r.name == name && r.reach == reach)
                .map(|i| old.swap_remove(i));
            let mut remote = kept.unwrap_or(Remote {
                name,
                reach,
                git_dir: None,
                watched: Vec::new(),
                next_check: now + self.poll(),
                failures: 0,
                offline: false,
                resume_at: now,
                seen_away: false,
                in_flight: false,
                acted_on: None,
                session: None,
                notice: Notice::Off,
                heard: None,
            });
            self.remote_refs.watch(&mut remote, &self.branch);
            if remote.notice == Notice::Off {
                self.open_session(&mut remote, repo);
            }
            self.remotes.push(remote);
        }
        // (Remotes gone or changed drop here, and with them their sessions.)
        drop(old);
        self.record_remotes();
    }

    /// Starts the notify-wait session of an SSH hub.
    fn open_session(&self, r: &mut Remote, repo: &Repo) {
        let Reach::Notified(hub) = &r.reach else {
            return;
        };
        let spec = SessionSpec {
            remote: r.name.clone(),
            hub: hub.clone(),
            ssh: ssh_command(repo),
            branch: self.branch.clone(),
            poll: self.poll(),
        };
        let known = repo.read_ref(&format!("refs/remotes/{}/{}", r.name, self.branch));
        r.session = Some(Session::start(spec, known, self.tx.clone()));
        r.notice = Notice::Starting;
    }

    /// The remotes as `watch.json` shows them.
    fn record_remotes(&mut self) {
        let list: Vec<Value> = self
            .remotes
            .iter()
            .map(|r| {
                let how = match (&r.reach, r.notice) {
                    (Reach::Local(_), _) => "ref files watched",
                    (Reach::Polled, _) | (_, Notice::Off | Notice::Unavailable) => "polled",
                    (Reach::Notified(_), _) => "notify-wait over ssh",
                };
                let mut v = json!({"name": r.name, "how": how});
                if matches!(r.reach, Reach::Notified(_)) {
                    v["session"] = r.notice.word().into();
                }
                v
            })
            .collect();
        self.record.set("remotes", list.into());
    }

    fn describe_remotes(&self) -> String {
        if self.remotes.is_empty() {
            return "none".into();
        }
        self.remotes
            .iter()
            .map(|r| match &r.reach {
                Reach::Local(p) => format!("{} at {} (its refs watched)", r.name, p.display()),
                Reach::Polled => format!("{} (asked every {})", r.name, human(self.poll())),
                Reach::Notified(hub) => format!(
                    "{} on {} over ssh (notify-wait session; asked every {} meanwhile)",
                    r.name,
                    hub.host,
                    human(self.poll())
                ),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// News from a notify-wait session.
    fn session_event(&mut self, name: &str, id: u64, event: SessionEvent) {
        let poll = self.poll();
        let now = Instant::now();
        let Some(r) = self.remotes.iter_mut().find(|r| r.name == name) else {
            return;
        };
        if r.session.as_ref().map(|s| s.id) != Some(id) {
            // A session already ended (the remote changed): not news.
            return;
        }
        let before = r.notice;
        if matches!(event, SessionEvent::Up | SessionEvent::Moved(_)) {
            r.notice = Notice::Up;
            if before != Notice::Up {
                let again = if before == Notice::Down { " again" } else { "" };
                self.log.line(&format!(
                    "{name}: notify-wait session open{again}: the hub's pushes are heard at once (asked every {} as a safety net)",
                    human(SAFETY_POLL.max(poll))
                ));
            }
        }
        match event {
            SessionEvent::Up => {}
            SessionEvent::Moved(tip) => self.answered(name, Ok(Some(tip)), " (notified)"),
            SessionEvent::Down(why) => {
                r.notice = Notice::Down;
                // Polled at the usual pace until a session is back.
                r.next_check = r.next_check.min(now + poll);
                if before != Notice::Down {
                    self.log.line(&format!(
                        "{name}: the notify-wait session is down ({why}): asking every {} until it is back",
                        human(poll)
                    ));
                }
            }
            SessionEvent::Unavailable(why) => {
                r.notice = Notice::Unavailable;
                r.session = None;
                r.next_check = r.next_check.min(now + poll);
                self.log.line(&format!(
                    "{name}: the hub cannot run git aisync notify-wait ({why}): asking every {} instead; for instant notice, install git-aisync on the hub where its ssh sessions find it on PATH, then restart the watcher",
                    human(poll)
                ));
            }
        }
        if self
            .remotes
            .iter()
            .any(|r| r.name == name && r.notice != before)
        {
            self.record_remotes();
            self.record.save();
        }
    }

    fn remote_event(&mut self, paths: &[PathBuf]) {
        let now = Instant::now();
        for r in &mut self.remotes {
            let hit = r
                .git_dir
                .as_ref()
                .is_some_and(|d| paths.iter().any(|p| p.starts_with(d)));
            if hit && !r.offline {
                r.next_check = now;
            }
        }
    }

    /// Asks every remote whose check is due: local ones by reading their ref files here,
    /// the others by `git ls-remote` on a thread (the loop never waits on the network).
    fn check_remotes(&mut self) {
        let now = Instant::now();
        let poll = self.poll();
        let mut answers = Vec::new();
        let mut reached_anew = false;
        for r in &mut self.remotes {
            if r.in_flight || r.next_check > now {
                continue;
            }
            match r.reach.clone() {
                Reach::Local(path) if uses_reftable(&path) => {
                    // Back (or made anew) with its refs in a reftable: asked from now on.
                    self.remote_refs.unwatch(r);
                    r.reach = Reach::Polled;
                    r.next_check = now;
                    reached_anew = true;
                }
                Reach::Local(path) => {
                    let git_dir = r.git_dir.clone().or_else(|| remote_git_dir(&path));
                    let answer = match &git_dir {
                        Some(d) => read_tip(d, &self.branch),
                        None => Err(format!("{} is not there", path.display())),
                    };
                    // A file read costs nothing: a local remote that is away is looked at
                    // every poll interval, so it resumes as soon as it is back.
                    r.next_check = now + poll;
                    if answer.is_ok() && (r.offline || r.git_dir.is_none()) {
                        // Back (maybe a new directory): watch its refs again.
                        self.remote_refs.watch(r, &self.branch);
                    }
                    answers.push((r.name.clone(), answer));
                }
                Reach::Polled | Reach::Notified(_) => {
                    r.in_flight = true;
                    let (tx, remote, branch, dir) = (
                        self.tx.clone(),
                        r.name.clone(),
                        self.branch.clone(),
                        self.work_tree.clone(),
                    );
                    std::thread::spawn(move || {
                        let answer = ls_remote(&dir, &remote, &branch);
                        let _ = tx.send(Msg::Polled { remote, answer });
                    });
                }
            }
        }
        for (name, answer) in answers {
            self.answered(&name, answer, "");
        }
        if reached_anew {
            self.record_remotes();
            self.record.save();
        }
    }

    fn polled(&mut self, name: &str, answer: std::result::Result<Option<String>, String>) {
        let poll = self.poll();
        if let Some(r) = self.remotes.iter_mut().find(|r| r.name == name) {
            r.in_flight = false;
            r.next_check = Instant::now() + r.every(poll);
        }
        self.answered(name, answer, "");
    }

    /// What a remote check found: a cycle when the remote moved or answers again. `via` says
    /// how it was heard, for the log.
    fn answered(
        &mut self,
        name: &str,
        answer: std::result::Result<Option<String>, String>,
        via: &str,
    ) {
        let tracking = Repo::find(&self.work_tree)
            .ok()
            .and_then(|repo| repo.read_ref(&format!("refs/remotes/{name}/{}", self.branch)));
        let poll = self.poll();
        let now = Instant::now();
        let Some(r) = self.remotes.iter_mut().find(|r| r.name == name) else {
            return;
        };
        r.heard = match &answer {
            Ok(Some(tip)) => Some((tip.clone(), now)),
            _ => None,
        };
        match answer {
            Err(why) => {
                r.failures += 1;
                if !r.offline {
                    self.log.line(&format!(
                        "{name} does not answer ({why}): local work waits until it does"
                    ));
                }
                r.offline = true;
                // Seen away: the cycle runs as soon as it is seen back.
                r.resume_at = now;
                r.seen_away = true;
                if r.reach.is_asked() {
                    r.next_check = now + backoff(poll, r.failures);
                }
            }
            Ok(tip) => {
                r.seen_away = false;
                if r.offline {
                    if now >= r.resume_at {
                        self.wanted
                            .get_or_insert_with(|| format!("{name} answers again{via}"));
                    }
                } else if tip.is_some() && tip != tracking && tip != r.acted_on {
                    r.acted_on = tip;
                    self.wanted
                        .get_or_insert_with(|| format!("{name} moved{via}"));
                } else {
                    r.failures = 0;
                }
            }
        }
    }

    // -- the inbox --

    /// Watches the inbox folder; without file events it is looked at every poll interval.
    fn follow_inbox(&mut self) {
        match self.inbox.follow() {
            Ok(()) => self.inbox.next_check = None,
            Err(why) => {
                if self.inbox.next_check.is_none() {
                    self.log.line(&format!(
                        "{why}: peers' deliveries are looked for every {}",
                        human(self.poll())
                    ));
                }
                self.inbox.next_check = Some(Instant::now() + self.poll());
            }
        }
    }

    /// Something moved in the inbox folder (or it is time to look): a cycle for a delivery
    /// not merged yet.
    fn inbox_event(&mut self) {
        // The folder itself may be gone (git removes empty ref folders): watch it anew.
        self.follow_inbox();
        let Ok(repo) = Repo::find(&self.work_tree) else {
            return;
        };
        let news = self.inbox.news(&repo);
        if !news.is_empty() {
            self.wanted
                .get_or_insert_with(|| format!("{} delivered to the inbox", news.join(", ")));
        }
    }

    // -- cycles --

    fn cycle(&mut self, reason: &str) {
        let start = Instant::now();
        let repo = match Repo::find(&self.work_tree) {
            Ok(r) => r,
            Err(e) => {
                self.log.line(&format!("cannot open the repository: {e:#}"));
                return;
            }
        };
        let poll = self.poll();
        let known: sync::Known = self
            .remotes
            .iter()
            .filter_map(|r| Some((r.name.clone(), r.known_tip(poll)?.to_string())))
            .collect();
        let report = sync::sync_knowing(&repo, None, &known);
        let ms = start.elapsed().as_millis();
        self.log.line(&format!(
            "cycle ({reason}): {}: {} ({ms} ms)",
            report.outcome.word(),
            report.message
        ));
        for h in &report.held_back {
            self.log
                .line(&format!("held back {}: {}", h.path, h.reason));
        }
        let cycles = self.record.value["cycles"].as_u64().unwrap_or(0) + 1;
        self.record.set("cycles", cycles.into());
        self.record.set(
            "last_cycle",
            json!({
                "time": crate::journal::now(),
                "reason": reason,
                "outcome": report.outcome.word(),
                "message": report.message,
                "ms": ms,
            }),
        );
        self.after_cycle(&repo, &report);
        self.record.save();
    }

    fn after_cycle(&mut self, repo: &Repo, report: &Report) {
        let branch = branch_of(repo);
        if branch != self.branch {
            self.branch = branch;
            // The sessions wait on the branch that was synced: on the new one from now on.
            let mut remotes = std::mem::take(&mut self.remotes);
            for r in &mut remotes {
                if r.session.take().is_some() {
                    self.open_session(r, repo);
                }
            }
            self.remotes = remotes;
        }
        self.follow_remotes(repo);
        self.follow_inbox();
        let now = Instant::now();
        let poll = self.poll();
        let reached = matches!(
            report.outcome,
            Outcome::Synced | Outcome::HeldBack | Outcome::Offline
        );
        let mut said = Vec::new();
        for r in &mut self.remotes {
            let failed = report.offline.contains(&r.name) || (!reached && r.offline);
            if failed {
                // It answered the last check, yet the cycle could not sync with it (or could
                // not run): try again later and later, not at every check.
                r.offline = true;
                r.failures += 1;
                // A peer that answers yet takes nothing may be another machine's inbox.
                if r.failures == 1 && report.offline.contains(&r.name) {
                    if let Some(why) = crate::peer::name_clash(repo, &r.name) {
                        said.push(format!(
                            "{why}: give each machine its own name: git config aisync.machine NAME"
                        ));
                    }
                }
                r.resume_at = if r.seen_away {
                    now
                } else {
                    now + backoff(poll, r.failures)
                };
            } else if reached {
                r.offline = false;
                r.failures = 0;
            }
            r.next_check = now
                + if failed && r.reach.is_asked() {
                    backoff(poll, r.failures)
                } else {
                    r.every(poll)
                };
            let tracking = repo.read_ref(&format!("refs/remotes/{}/{}", r.name, self.branch));
            // Where the cycle left the remote (fetched from it, or pushed to it) is the
            // latest word on it; news since then is still in the loop's queue.
            r.heard = match (&tracking, failed || !reached) {
                (Some(tip), false) => Some((tip.clone(), now)),
                _ => None,
            };
            if let Some(s) = &r.session {
                // The next session waits from the tip this cycle saw.
                s.know(tracking);
            }
        }
        for line in said {
            self.log.line(&line);
        }
        if report.outcome == Outcome::Error {
            self.errors += 1;
            self.retry_at = Some(now + backoff(poll, self.errors));
        } else {
            self.errors = 0;
            self.retry_at = None;
        }
    }
}

/// `git ls-remote` for one branch: its tip (`None`: no such branch yet), or why it failed.
fn ls_remote(
    work_tree: &Path,
    remote: &str,
    branch: &str,
) -> std::result::Result<Option<String>, String> {
    let repo = Repo::find(work_tree).map_err(|e| format!("{e:#}"))?;
    let out = repo
        .git_remote([
            "ls-remote",
            "--heads",
            remote,
            &format!("refs/heads/{branch}"),
        ])
        .output()
        .map_err(|e| format!("{e:#}"))?;
    if !out.success {
        return Err(why_not(&out.stderr));
    }
    Ok(out.stdout.split_whitespace().next().map(str::to_string))
}

/// What git said when it could not reach a remote, without the lines it adds to every such
/// failure ("Could not read from remote repository", "make sure … the repository exists"),
/// which would hide ssh's own reason ("Host key verification failed").
fn why_not(stderr: &str) -> String {
    let boilerplate = [
        "Could not read from remote repository",
        "Please make sure you have the correct access rights",
        "and the repository exists.",
    ];
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let meaningful: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| !boilerplate.iter().any(|b| l.contains(b)))
        .collect();
    match (meaningful.as_slice(), lines.last()) {
        ([], Some(last)) => (*last).to_string(),
        ([], None) => "no answer".into(),
        (some, _) => some.join("; "),
    }
}

/// `2s`, `300ms`.
fn human(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn editor_leftovers_are_not_changes() {
        let p = Policy::parse(policy::DEFAULT).unwrap();
        let bare = Policy::parse("paths:\n  \"memory/**\": realtime\n").unwrap();
        for name in [
            ".notes.md.swp",
            ".notes.md.swo",
            "notes.md.swx",
            "notes.md~",
            ".#notes.md",
            "#notes.md#",
            "4913",
        ] {
            for policy in [&p, &bare] {
                assert!(!may_commit(&format!("memory/{name}"), policy), "{name}");
            }
        }
        for name in ["notes.md", "swp.md", "a#b.md", "49130"] {
            assert!(may_commit(&format!("memory/{name}"), &bare), "{name}");
        }
        let root = Path::new("/r");
        assert_eq!(
            tree_path(root, Path::new("/r/memory/a.md")).as_deref(),
            Some("memory/a.md")
        );
        assert_eq!(tree_path(root, Path::new("/r/.git/index")), None);
        assert_eq!(tree_path(root, Path::new("/r/memory/sub/.git/HEAD")), None);
    }

    #[test]
    fn only_realtime_paths_may_start_a_cycle() {
        let p = Policy::parse(policy::DEFAULT).unwrap();
        assert!(may_commit("memory/a.md", &p));
        assert!(
            may_commit("memory/deep", &p),
            "a folder that holds realtime paths"
        );
        assert!(may_commit("memory", &p));
        assert!(!may_commit("rules/style.md", &p));
        assert!(!may_commit(".credentials/token", &p));
        assert!(!may_commit("memory/x.tmp", &p));
        assert!(may_hold_realtime("memory", &p));
        assert!(may_hold_realtime(".aisync", &p));
        assert!(!may_hold_realtime("rules", &p));
        let anywhere = Policy::parse("paths:\n  \"*.md\": realtime\n").unwrap();
        assert!(may_hold_realtime("rules", &anywhere));
    }

    #[test]
    fn many_changes_are_asked_of_git_by_folder_or_for_the_whole_tree() {
        let few: BTreeSet<PathBuf> = ["memory/a.md", "notes.md"].map(PathBuf::from).into();
        assert_eq!(pathspecs(few.clone()), few);
        let many: BTreeSet<PathBuf> = (0..600)
            .map(|i| PathBuf::from(format!("memory/scratch/{i}.md")))
            .chain([PathBuf::from("memory/a.md")])
            .collect();
        assert_eq!(
            pathspecs(many.clone()),
            ["memory", "memory/scratch"].map(PathBuf::from).into()
        );
        let mut top = many;
        top.insert(PathBuf::from("notes.md"));
        assert!(pathspecs(top).is_empty(), "the whole tree");
    }

    #[test]
    fn the_log_keeps_one_old_file() {
        let dir = std::env::temp_dir().join(format!("aisync-watch-log-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let log = Log {
            path: dir.join("watch.log"),
            ui: None,
        };
        fs::write(&log.path, vec![b'x'; LOG_LIMIT as usize + 1]).unwrap();
        log.line("after the limit");
        let old = fs::metadata(dir.join("watch.log.1")).unwrap().len();
        assert_eq!(old, LOG_LIMIT + 1);
        let new = fs::read_to_string(&log.path).unwrap();
        assert!(
            new.ends_with(" after the limit\n") && new.lines().count() == 1,
            "{new}"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn backoff_doubles_up_to_a_minute() {
        let poll = Duration::from_secs(2);
        assert_eq!(backoff(poll, 1), Duration::from_secs(4));
        assert_eq!(backoff(poll, 3), Duration::from_secs(16));
        assert_eq!(backoff(poll, 10), Duration::from_secs(60));
        assert!(limit_message().contains("max_user_watches"));
    }

    #[test]
    fn ssh_hubs_are_told_from_other_urls() {
        let hub = |host: &str, port: Option<&str>, path: &str| {
            Some(SshHub {
                host: host.into(),
                port: port.map(str::to_string),
                path: path.into(),
            })
        };
        assert_eq!(
            ssh_hub("ssh://me@host:2222/srv/hub.git"),
            hub("me@host", Some("2222"), "/srv/hub.git")
        );
        assert_eq!(
            ssh_hub("git+ssh://host/srv/hub.git"),
            hub("host", None, "/srv/hub.git")
        );
        assert_eq!(ssh_hub("host:hub.git"), hub("host", None, "hub.git"));
        assert_eq!(
            ssh_hub("git@example.org:me/hub.git"),
            hub("git@example.org", None, "me/hub.git")
        );
        assert_eq!(
            ssh_hub("ssh://[::1]:22/hub"),
            hub("::1", Some("22"), "/hub")
        );
        for not_ssh in [
            "https://host/hub.git",
            "git://host/hub.git",
            "file:///srv/hub.git",
            "/srv/hub.git",
            "-oProxyCommand=x:hub.git",
        ] {
            assert_eq!(ssh_hub(not_ssh), None, "{not_ssh}");
        }
    }

    #[test]
    fn a_session_end_says_whether_to_retry_or_to_poll_for_good() {
        let tip = "a".repeat(40);
        assert!(matches!(
            classify(true, Some(0), Some(tip.clone()), ""),
            Ended::Moved(t) if t == tip
        ));
        assert!(matches!(classify(true, Some(3), None, ""), Ended::Quiet));
        for missing in [
            (1, "git: 'aisync' is not a git command. See 'git --help'."),
            (127, "sh: 1: git: not found"),
            (127, ""),
            (2, "error: unrecognized subcommand 'notify-wait'"),
        ] {
            assert!(
                matches!(
                    classify(true, Some(missing.0), None, missing.1),
                    Ended::Unavailable(_)
                ),
                "{missing:?}"
            );
        }
        // Before the hub's shell answered, nothing says the hub lacks git-aisync.
        assert!(matches!(
            classify(false, Some(127), None, "sh: 1: ssh: not found"),
            Ended::Down(why) if why.contains("ssh: not found")
        ));
        assert!(matches!(
            classify(true, Some(255), None, "Connection to host closed by remote host.\n"),
            Ended::Down(why) if why == "Connection to host closed by remote host."
        ));
    }

    #[test]
    fn the_remote_script_quotes_what_it_is_given_and_runs_notify_wait() {
        // The hub's shell, played here by sh, with a `git` that says what it was asked.
        let tmp = std::env::temp_dir().join(format!("aisync-watch-script-{}", std::process::id()));
        let repo = tmp.join("it's a hub");
        fs::create_dir_all(&repo).unwrap();
        let bin = tmp.join("bin");
        fs::create_dir_all(&bin).unwrap();
        let git = bin.join("git");
        fs::write(&git, "#!/bin/sh\npwd\nprintf '%s|' \"$@\"\necho\nexit 3\n").unwrap();
        let mut perms = fs::metadata(&git).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        fs::set_permissions(&git, perms).unwrap();
        let hub = SshHub {
            host: "h".into(),
            port: None,
            path: repo.to_string_lossy().into_owned(),
        };
        let script = remote_script(&hub, "ma in", Some("$(boom)"));
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(&script)
            .env("PATH", path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let keep = child.stdin.take();
        let out = child.wait_with_output().unwrap();
        drop(keep);
        assert_eq!(out.status.code(), Some(3));
        let text = String::from_utf8_lossy(&out.stdout);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], READY, "{text}");
        assert_eq!(Path::new(lines[1]), repo, "{text}");
        assert_eq!(
            lines[2], "aisync|notify-wait|--branch|ma in|--since|$(boom)|--timeout|600|",
            "{text}"
        );
        fs::remove_dir_all(&tmp).unwrap();
    }
}
