//! The remotes: how the watcher learns that one moved (its ref files read, `git ls-remote`, a
//! notify-wait session), and what an answer, a failure or a cycle means for the next check.

use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

use notify::event::EventKind;
use notify::{RecursiveMode, Watcher as _};
use serde_json::{json, Value};

use super::schedule::{CycleEnd, SAFETY_POLL};
use super::session::{ssh_command, ssh_hub, Session, SessionEvent, SessionSpec, SshHub};
use super::{human, Msg, Watch};
use crate::git::{Cycle, Repo};
use crate::remote::{read_tip, remote_git_dir, uses_reftable};
use crate::url::local_path;

/// A remote's tip heard this recently (without a session open) is where it stands for a
/// cycle: the cycle a check's answer starts asks no second time.
const HEARD_FRESH: Duration = Duration::from_secs(1);

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

/// A remote as the watcher follows it: how it is reached, its session, what was last heard
/// of it (its timers are in the schedule).
pub(super) struct Remote {
    pub(super) name: String,
    reach: Reach,
    /// The git directory found at the local path (it may be away for a while).
    git_dir: Option<PathBuf>,
    watched: Vec<PathBuf>,
    /// The notify-wait session with an SSH hub, while one is wanted.
    pub(super) session: Option<Session>,
    notice: Notice,
    /// The remote's tip as last heard (a session, a check, a cycle), and when.
    pub(super) heard: Option<(String, Instant)>,
}

impl Remote {
    /// Where the remote stands, if heard recently enough for a cycle to take it without
    /// asking again ([`sync::Known`]): a second ago, or while a notify-wait session is
    /// open (it tells every move; the safety net asks every `SAFETY_POLL` all the same).
    pub(super) fn known_tip(&self, poll: Duration) -> Option<&str> {
        let (tip, at) = self.heard.as_ref()?;
        let fresh = if self.notice == Notice::Up {
            2 * SAFETY_POLL.max(poll)
        } else {
            HEARD_FRESH
        };
        (at.elapsed() < fresh).then_some(tip.as_str())
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

/// The remotes followed, in the repository's order, and the means to hear from them.
pub(super) struct Remotes {
    pub(super) list: Vec<Remote>,
    refs: RemoteRefs,
    /// Every remote asked with `git ls-remote` (`watch --poll-remotes`).
    poll_only: bool,
    /// For the answers of `git ls-remote` and the news of notify-wait sessions.
    tx: Sender<Msg>,
}

impl Remotes {
    pub(super) fn new(poll_only: bool, tx: &Sender<Msg>) -> Remotes {
        Remotes {
            list: Vec::new(),
            refs: RemoteRefs {
                watcher: None,
                tx: tx.clone(),
            },
            poll_only,
            tx: tx.clone(),
        }
    }
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

impl Watch<'_> {
    /// Brings the remote list in line with the repository's (remotes come and go).
    pub(super) fn follow_remotes(&mut self, repo: &Repo) {
        let wanted = remotes_of(repo, self.remotes.poll_only);
        let same = wanted.len() == self.remotes.list.len()
            && wanted
                .iter()
                .zip(&self.remotes.list)
                .all(|((n, reach), r)| *n == r.name && *reach == r.reach);
        if same {
            return;
        }
        let now = Instant::now();
        let mut old = std::mem::take(&mut self.remotes.list);
        for r in &mut old {
            self.remotes.refs.unwatch(r);
        }
        for (name, reach) in wanted {
            let kept = old
                .iter()
                .position(|r| r.name == name && r.reach == reach)
                .map(|i| old.swap_remove(i));
            let mut remote = kept.unwrap_or_else(|| {
                self.schedule.add_remote(&name, reach.is_asked(), now);
                Remote {
                    name,
                    reach,
                    git_dir: None,
                    watched: Vec::new(),
                    session: None,
                    notice: Notice::Off,
                    heard: None,
                }
            });
            self.remotes.refs.watch(&mut remote, &self.branch);
            if remote.notice == Notice::Off {
                self.open_session(&mut remote, repo);
            }
            self.remotes.list.push(remote);
        }
        // (Remotes gone or changed drop here, and with them their sessions.)
        drop(old);
        self.schedule
            .keep_remotes(self.remotes.list.iter().map(|r| r.name.as_str()));
        self.record_remotes();
    }

    /// Starts the notify-wait session of an SSH hub.
    fn open_session(&mut self, r: &mut Remote, repo: &Repo) {
        let Reach::Notified(hub) = &r.reach else {
            return;
        };
        let spec = SessionSpec {
            remote: r.name.clone(),
            program: repo
                .setting(&format!("remote.{}.aisyncProgram", r.name))
                .map(str::to_string),
            hub: hub.clone(),
            ssh: ssh_command(repo),
            branch: self.branch.clone(),
            poll: self.poll(),
        };
        let known = repo.read_ref(&format!("refs/remotes/{}/{}", r.name, self.branch));
        r.session = Some(Session::start(spec, known, self.remotes.tx.clone()));
        r.notice = Notice::Starting;
        self.schedule.notified(&r.name, false);
    }

    /// The sessions wait on the branch that was synced: on the new one from now on.
    pub(super) fn reopen_sessions(&mut self, repo: &Repo) {
        let mut remotes = std::mem::take(&mut self.remotes.list);
        for r in &mut remotes {
            if r.session.take().is_some() {
                self.open_session(r, repo);
            }
        }
        self.remotes.list = remotes;
    }

    /// What a cycle says of each remote: where it left it, and, where a peer answered yet
    /// took nothing for the first time, whether another machine has its name.
    pub(super) fn remotes_after_cycle(
        &mut self,
        repo: &Repo,
        end: &CycleEnd,
        first_failures: &[String],
        now: Instant,
    ) {
        for r in &mut self.remotes.list {
            // A peer that answers yet takes nothing may be another machine's inbox.
            if first_failures.contains(&r.name) {
                if let Some(why) = crate::peer::name_clash(repo, &r.name) {
                    self.log.line(&format!(
                        "{why}: give each machine its own name: git config aisync.machine NAME"
                    ));
                }
            }
            let tracking = repo.read_ref(&format!("refs/remotes/{}/{}", r.name, self.branch));
            // Where the cycle left the remote (fetched from it, or pushed to it) is the
            // latest word on it; news since then is still in the loop's queue.
            let synced = end.reached && !end.offline.contains(&r.name);
            r.heard = match &tracking {
                Some(tip) if synced => Some((tip.clone(), now)),
                _ => None,
            };
            if let Some(s) = &r.session {
                // The next session waits from the tip this cycle saw.
                s.know(tracking);
            }
        }
    }

    /// The remotes as `watch.json` shows them.
    fn record_remotes(&mut self) {
        let list: Vec<Value> = self
            .remotes
            .list
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

    pub(super) fn describe_remotes(&self) -> String {
        if self.remotes.list.is_empty() {
            return "none".into();
        }
        self.remotes
            .list
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
    pub(super) fn session_event(&mut self, name: &str, id: u64, event: SessionEvent) {
        let poll = self.poll();
        let now = Instant::now();
        let Some(r) = self.remotes.list.iter_mut().find(|r| r.name == name) else {
            return;
        };
        if r.session.as_ref().map(|s| s.id) != Some(id) {
            // A session already ended (the remote changed): not news.
            return;
        }
        let before = r.notice;
        if matches!(event, SessionEvent::Up | SessionEvent::Moved(_)) {
            r.notice = Notice::Up;
            self.schedule.notified(name, true);
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
                self.schedule.notified(name, false);
                self.schedule.check_soon(name, now);
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
                self.schedule.notified(name, false);
                self.schedule.check_soon(name, now);
                self.log.line(&format!(
                    "{name}: the hub cannot run git aisync notify-wait ({why}): asking every {} instead; for instant notice, install git-aisync on the hub where its ssh sessions find it on PATH, then restart the watcher",
                    human(poll)
                ));
            }
        }
        if self
            .remotes
            .list
            .iter()
            .any(|r| r.name == name && r.notice != before)
        {
            self.record_remotes();
            self.record.save();
        }
    }

    pub(super) fn remote_event(&mut self, paths: &[PathBuf]) {
        let now = Instant::now();
        for r in &self.remotes.list {
            let hit = r
                .git_dir
                .as_ref()
                .is_some_and(|d| paths.iter().any(|p| p.starts_with(d)));
            if hit {
                self.schedule.refs_changed(&r.name, now);
            }
        }
    }

    /// Asks every remote whose check is due: local ones by reading their ref files here,
    /// the others by `git ls-remote` on a thread (the loop never waits on the network).
    pub(super) fn check_remotes(&mut self) {
        let now = Instant::now();
        let mut answers = Vec::new();
        let mut reached_anew = false;
        for r in &mut self.remotes.list {
            if !self.schedule.check_due(&r.name, now) {
                continue;
            }
            match r.reach.clone() {
                Reach::Local(path) if uses_reftable(&path) => {
                    // Back (or made anew) with its refs in a reftable: asked from now on.
                    self.remotes.refs.unwatch(r);
                    r.reach = Reach::Polled;
                    self.schedule.asked_from_now(&r.name, now);
                    reached_anew = true;
                }
                Reach::Local(path) => {
                    let git_dir = r.git_dir.clone().or_else(|| remote_git_dir(&path));
                    let answer = match &git_dir {
                        Some(d) => read_tip(d, &self.branch),
                        None => Err(format!("{} is not there", path.display())),
                    };
                    self.schedule.checking(&r.name, now);
                    if answer.is_ok() && (self.schedule.is_offline(&r.name) || r.git_dir.is_none())
                    {
                        // Back (maybe a new directory): watch its refs again.
                        self.remotes.refs.watch(r, &self.branch);
                    }
                    answers.push((r.name.clone(), answer));
                }
                Reach::Polled | Reach::Notified(_) => {
                    self.schedule.checking(&r.name, now);
                    let (tx, remote, branch, dir) = (
                        self.remotes.tx.clone(),
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

    pub(super) fn polled(
        &mut self,
        name: &str,
        answer: std::result::Result<Option<String>, String>,
    ) {
        self.schedule.polled(name, Instant::now());
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
        let now = Instant::now();
        let Some(r) = self.remotes.list.iter_mut().find(|r| r.name == name) else {
            return;
        };
        r.heard = match &answer {
            Ok(Some(tip)) => Some((tip.clone(), now)),
            _ => None,
        };
        match answer {
            Err(why) => {
                if self.schedule.unreachable(name, now) {
                    self.log.line(&format!(
                        "{name} does not answer ({why}): local work waits until it does"
                    ));
                }
            }
            Ok(tip) => {
                self.schedule
                    .reached(name, now, tip.as_deref(), tracking.as_deref(), via);
            }
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
        // In the watcher's process group of its own, like its cycles: Ctrl-C stops the
        // watcher, which ends its children itself.
        .cycle(Cycle::Inside)
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
