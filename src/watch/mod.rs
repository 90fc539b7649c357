//! The watcher (`git aisync watch`): writes to realtime paths and moves of the remotes' branch
//! become sync cycles, one at a time, in this process, until SIGINT or SIGTERM.
//!
//! Everything arrives on one channel (file events, remote ref events, poll answers, news from
//! the notify-wait sessions with SSH hubs, peers' deliveries to the inbox, the stop signal).
//! The loop blocks on it until the next deadline of its schedule (`schedule.rs`: the debounce,
//! max-wait, remote checks, retries), so an idle watcher sleeps; the other files here are the
//! parts it drives: signals, the watcher's lock, its record, the working tree, the remotes and
//! their SSH notify sessions, the inbox.

mod inbox;
mod live;
mod lock;
mod record;
mod remotes;
mod schedule;
mod session;
mod signals;
mod tree;

use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context, Result};
use serde_json::json;

use crate::git::Repo;
use crate::policy::{self, Policy};
use crate::state::{Outcome, Report};
use crate::sync;

use inbox::Inbox;
use lock::WatchLock;
use record::{Log, Record};
use remotes::Remotes;
use schedule::{CycleEnd, Due, Schedule, Timing};
use session::SessionEvent;
use tree::{limit_message, Changes, Tree};

pub use record::running;
pub use signals::StopSignals;

/// How `watch` was asked to run.
pub struct Options {
    /// Scan the working tree instead of using file events.
    pub poll: bool,
    /// Ask every remote with `git ls-remote`, even one on a local path or an SSH hub (no
    /// ref files watched, no notify-wait session).
    pub poll_remotes: bool,
}

/// Where the watcher's log lines go besides its log file (a terminal, for a person).
pub type Echo<'a> = &'a dyn Fn(&str);

enum Msg {
    Tree(notify::Result<notify::Event>),
    /// A connected assistant's live files.
    Live(notify::Result<notify::Event>),
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
// The loop.

/// Runs the watcher in `repo` until SIGINT or SIGTERM (blocked by `signals` before any thread
/// started). Returns once the cycle in flight has finished.
pub fn run(repo: &Repo, opts: Options, signals: StopSignals, echo: Option<Echo>) -> Result<()> {
    let state_dir = repo.state_dir();
    let _lock = WatchLock::acquire(&state_dir)?;
    // The watcher's own git children, like its cycles', start no cycle from their hooks.
    let _cycle = repo.enter_cycle();
    let (tx, rx) = mpsc::channel();
    signals.forward(tx.clone());
    let log = Log::new(&state_dir, echo);
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
        schedule: Schedule::new(Timing::of(&policy), Instant::now(), SystemTime::now()),
        policy,
        log,
        tree,
        remotes: Remotes::new(opts.poll_remotes, &tx),
        inbox: Inbox::new(&repo.git_dir, &tx),
        live: live::Live::new(&tx),
    };
    watch.follow_tree();
    watch.live.follow(repo);
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
    log: Log<'u>,
    tree: Tree,
    remotes: Remotes,
    inbox: Inbox,
    live: live::Live,
    /// When to do what: the debounce, wanted cycles, retries, remote checks.
    schedule: Schedule,
}

fn branch_of(repo: &Repo) -> String {
    repo.setting("aisync.branch")
        .map(str::to_string)
        .or_else(|| repo.head_branch())
        .unwrap_or_else(|| "main".into())
}

impl Watch<'_> {
    fn poll(&self) -> Duration {
        self.schedule.poll()
    }

    fn run(&mut self, rx: &Receiver<Msg>) -> Result<()> {
        loop {
            let now = Instant::now();
            let timeout = self
                .schedule
                .next_deadline(now)
                .saturating_duration_since(now);
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
                    Msg::Live(event) => self.live_event(event),
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
                if self.schedule.take_writes() {
                    if let Some(reason) = self.local_due() {
                        self.cycle(&format!("{reason}, before stopping on {name}"));
                    }
                }
                // The sessions' ssh children end with them (no session is left on a hub).
                for r in &mut self.remotes.list {
                    r.session = None;
                }
                self.log.line(&format!("{name}: stopped"));
                self.record.set("stopped", crate::journal::now().into());
                self.record.save();
                return Ok(());
            }
            self.check_clock();
            self.check_remotes();
            if self.schedule.inbox_due(Instant::now()) {
                self.inbox_event();
            }
            if let Some(reason) = self.due() {
                self.cycle(&reason);
            }
        }
    }

    /// The cycle to run now, if one is due, and why.
    fn due(&mut self) -> Option<String> {
        let now = Instant::now();
        loop {
            match self.schedule.due(now)? {
                Due::Wanted(reason) => {
                    // The writes go with it, whatever they were.
                    self.tree.changes = Changes::default();
                    self.live.changed = false;
                    return Some(reason);
                }
                Due::Writes => {
                    let live = std::mem::take(&mut self.live.changed);
                    if let Some(reason) = self.local_due() {
                        return Some(reason);
                    }
                    if live {
                        return Some("an assistant's file changed".into());
                    }
                }
                Due::Retry => return Some("retry after an error".into()),
            }
        }
    }

    fn check_clock(&mut self) {
        let Some(jump) = self.schedule.tick(Instant::now(), SystemTime::now()) else {
            return;
        };
        self.log.line(&format!(
            "the clock jumped {}s ahead (a suspend?): syncing now",
            jump.as_secs()
        ));
        for r in &self.remotes.list {
            // Its connection is likely dead after a suspend: a new one at once.
            if let Some(s) = &r.session {
                s.restart();
            }
        }
    }

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
            .list
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
        self.record.cycle(json!({
            "time": crate::journal::now(),
            "reason": reason,
            "outcome": report.outcome.word(),
            "message": report.message,
            "ms": ms,
        }));
        self.after_cycle(&repo, &report);
        self.record.save();
    }

    fn after_cycle(&mut self, repo: &Repo, report: &Report) {
        let branch = branch_of(repo);
        if branch != self.branch {
            self.branch = branch;
            self.reopen_sessions(repo);
        }
        self.follow_remotes(repo);
        self.follow_inbox();
        self.live.follow(repo);
        let now = Instant::now();
        let reached = matches!(
            report.outcome,
            Outcome::Synced | Outcome::HeldBack | Outcome::Offline
        );
        let end = CycleEnd {
            error: report.outcome == Outcome::Error,
            reached,
            offline: &report.offline,
        };
        let first_failures = self.schedule.cycle_ended(now, &end);
        self.remotes_after_cycle(repo, &end, &first_failures, now);
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
