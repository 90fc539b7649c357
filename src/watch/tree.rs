//! The working tree: the folders watched (file events, or polling when inotify cannot), and
//! which of the paths that moved may start a cycle.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs;
use std::path::{Component, Path, PathBuf};
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

use notify::event::{AccessKind, AccessMode, CreateKind, EventKind, ModifyKind, RenameMode};
use notify::{RecursiveMode, Watcher as _};

use super::schedule::Timing;
use super::{Msg, Watch};
use crate::git::{Cycle, Repo};
use crate::policy::{self, Mode, Policy};

/// How often the working tree is scanned in poll mode.
const TREE_POLL: Duration = Duration::from_secs(1);
/// Past this many changed paths, the cycle runs without asking git first which changed.
const PRECHECK_MAX: usize = 512;
/// A JSON file larger than this is taken as whole when its writer closes it, unparsed (the
/// check must cost the loop next to nothing).
const PARSE_MAX: u64 = 1 << 20;

fn inotify_limit() -> Option<String> {
    fs::read_to_string("/proc/sys/fs/inotify/max_user_watches")
        .ok()
        .map(|s| s.trim().to_string())
}

/// The log line for a full inotify table: what happened and how to raise the limit.
pub(super) fn limit_message() -> String {
    format!(
        "the inotify watch limit is exhausted (fs.inotify.max_user_watches = {}): polling the working tree every {}s instead; raise the limit with: sudo sysctl fs.inotify.max_user_watches=524288 (and a line in /etc/sysctl.d/ to keep it), then restart the watcher",
        inotify_limit().unwrap_or_else(|| "?".into()),
        TREE_POLL.as_secs()
    )
}

/// The watches on the working tree: its top directory alone (for `.aisync.yml` and new
/// folders) and, recursively, each top-level folder where a realtime path can live. `.git`
/// is never watched.
pub(super) struct Tree {
    root: PathBuf,
    watcher: Box<dyn notify::Watcher>,
    pub(super) polling: bool,
    dirs: BTreeSet<PathBuf>,
    /// What moved since the last cycle.
    pub(super) changes: Changes,
    tx: Sender<Msg>,
}

/// What moved in the working tree since the last cycle, not looked at yet.
#[derive(Default)]
pub(super) struct Changes {
    /// Paths that may hold something the cycle commits.
    paths: BTreeSet<PathBuf>,
    /// `.aisync.yml` or a `.gitignore` changed.
    policy: bool,
    /// The event queue overflowed: what changed is unknown.
    rescan: bool,
    /// Paths written and not closed since (or closed but not whole yet): a writer may still
    /// be at it, so no leading edge for this burst.
    open: BTreeSet<PathBuf>,
}

/// What an event says about its file being whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Effect {
    /// Written (or created) and maybe still open: not whole until it is closed.
    Opens,
    /// Closed by a writer, or renamed into place: whole, if its content says so too.
    Completes,
    /// Gone from that name (removed, renamed away): nothing of it is still being written.
    Leaves,
    /// Says nothing either way (a folder made, a mode changed).
    Neutral,
}

/// The event's effect on the path at `index` of its paths (a rename `Both` names the old
/// path, then the new).
fn effect(kind: &EventKind, index: usize) -> Effect {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => Effect::Completes,
        EventKind::Access(_) => Effect::Neutral,
        EventKind::Create(CreateKind::Folder) => Effect::Neutral,
        EventKind::Modify(ModifyKind::Metadata(_)) => Effect::Neutral,
        EventKind::Modify(ModifyKind::Name(RenameMode::To)) => Effect::Completes,
        EventKind::Modify(ModifyKind::Name(RenameMode::From)) => Effect::Leaves,
        EventKind::Modify(ModifyKind::Name(RenameMode::Both)) if index == 0 => Effect::Leaves,
        EventKind::Modify(ModifyKind::Name(RenameMode::Both)) => Effect::Completes,
        EventKind::Remove(_) => Effect::Leaves,
        _ => Effect::Opens,
    }
}

/// Whether a file its writer closed (or renamed into place) reads as whole: a JSON document
/// that parses, a JSONL file that ends its last line; anything else, or a file that is gone
/// or too large to check cheaply, is taken as whole.
fn whole(path: &Path) -> bool {
    let ext = path.extension().and_then(|e| e.to_str());
    let Ok(meta) = fs::metadata(path) else {
        return true;
    };
    if !meta.is_file() || meta.len() == 0 || meta.len() > PARSE_MAX {
        return true;
    }
    match ext {
        Some("json") => fs::read(path).is_ok_and(|bytes| {
            let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
            serde_json::from_slice::<serde::de::IgnoredAny>(text).is_ok()
        }),
        Some("jsonl") => fs::read(path).is_ok_and(|bytes| bytes.ends_with(b"\n")),
        _ => true,
    }
}

impl Tree {
    pub(super) fn new(root: &Path, poll: bool, tx: &Sender<Msg>) -> notify::Result<Tree> {
        let watcher = tree_watcher(poll, tx)?;
        let mut tree = Tree {
            root: root.to_path_buf(),
            watcher,
            polling: poll,
            dirs: BTreeSet::new(),
            changes: Changes::default(),
            tx: tx.clone(),
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
    fn switch_to_polling(&mut self, policy: &Policy) -> notify::Result<()> {
        self.watcher = tree_watcher(true, &self.tx)?;
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
        // Reads (git status opening files, a person's editor) are not changes; a writer
        // closing its file is: the file is whole (the leading edge waits for it).
        if event.as_ref().is_ok_and(|e| {
            matches!(e.kind, EventKind::Access(_))
                && e.kind != EventKind::Access(AccessKind::Close(AccessMode::Write))
        }) {
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

impl Watch<'_> {
    pub(super) fn tree_event(&mut self, event: notify::Result<notify::Event>) {
        let event = match event {
            Ok(e) => e,
            Err(e) if matches!(e.kind, notify::ErrorKind::MaxFilesWatch) && !self.tree.polling => {
                self.poll_the_tree();
                return;
            }
            Err(e) => {
                self.log.line(&format!("file events: {e}"));
                return;
            }
        };
        if event.need_rescan() {
            self.tree.changes.rescan = true;
            self.note_event(None, Effect::Opens);
            return;
        }
        let mut new_folder = false;
        for (index, path) in event.paths.iter().enumerate() {
            let Some(rel) = tree_path(&self.work_tree, path) else {
                continue;
            };
            let effect = effect(&event.kind, index);
            // A new policy, or a .gitignore that may let files through that saw no event.
            if rel == policy::FILE || rel == ".gitignore" {
                self.tree.changes.policy = true;
                self.note_event(Some(path), effect);
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
                self.tree.changes.paths.insert(rel.to_path_buf());
                self.note_event(Some(path), effect);
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

    /// A write to `path` (`None`: somewhere unknown) with its effect on the file being whole,
    /// for the schedule: the burst is complete while no file of it is open (polling cannot
    /// tell, so it never is).
    fn note_event(&mut self, path: Option<&Path>, effect: Effect) {
        let now = Instant::now();
        // Whether the file reads whole matters only while the burst may lead (a burst of
        // writes to a large JSON file is not parsed at every close).
        let check = self.schedule.may_lead(now);
        let open = &mut self.tree.changes.open;
        match (path, effect) {
            (Some(p), Effect::Completes) if !check || whole(p) => {
                open.remove(p);
            }
            (Some(p), Effect::Leaves) => {
                open.remove(p);
            }
            (Some(p), Effect::Opens | Effect::Completes) => {
                open.insert(p.to_path_buf());
            }
            (Some(_), Effect::Neutral) => {}
            (None, _) => self.tree.changes.rescan = true,
        }
        let complete = !self.tree.polling && !self.tree.changes.rescan && open.is_empty();
        let new_burst = self.schedule.wrote(now, complete);
        self.record.set("last_event", crate::journal::now().into());
        if new_burst {
            // Once a burst, not once an event: `status` shows writes are being taken in.
            self.record.save();
        }
    }

    /// A write in a connected assistant's folder (DESIGN §9): a write like any other for the
    /// schedule, whole when the event says the file was closed or renamed into place.
    pub(super) fn note_live_write(&mut self, whole: bool) {
        let now = Instant::now();
        let complete = whole
            && !self.tree.polling
            && !self.tree.changes.rescan
            && self.tree.changes.open.is_empty();
        let new_burst = self.schedule.wrote(now, complete);
        self.record.set("last_event", crate::journal::now().into());
        if new_burst {
            self.record.save();
        }
    }

    pub(super) fn follow_tree(&mut self) {
        if let Err(e) = self.tree.follow(&self.policy) {
            if matches!(e.kind, notify::ErrorKind::MaxFilesWatch) && !self.tree.polling {
                self.poll_the_tree();
            }
        }
    }

    /// The inotify table is full: the tree is polled from now on, and what changed meanwhile
    /// is unknown.
    fn poll_the_tree(&mut self) {
        self.log.line(&limit_message());
        if let Err(e) = self.tree.switch_to_polling(&self.policy) {
            self.log
                .line(&format!("cannot poll the working tree either: {e}"));
        }
        self.record.set("tree", "poll".into());
        self.note_event(None, Effect::Opens);
    }

    /// Local changes settled: a cycle when the policy changed, or when git sees a change to
    /// commit among the paths that moved (gitignored files and writes that changed nothing
    /// start no cycle).
    pub(super) fn local_due(&mut self) -> Option<String> {
        let Changes {
            paths,
            policy: policy_changed,
            rescan,
            open: _,
        } = std::mem::take(&mut self.tree.changes);
        if policy_changed {
            match Policy::load(&self.work_tree) {
                Ok(p) => {
                    self.policy = p;
                    self.schedule.set_timing(Timing::of(&self.policy));
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
        let out = Repo::find(&self.work_tree)
            .and_then(|repo| Ok(repo.git(&args).cycle(Cycle::Inside).output()?));
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn a_file_is_whole_once_closed_or_renamed_in_and_its_content_reads_whole() {
        let close = EventKind::Access(AccessKind::Close(AccessMode::Write));
        let data = EventKind::Modify(ModifyKind::Data(notify::event::DataChange::Content));
        let both = EventKind::Modify(ModifyKind::Name(RenameMode::Both));
        assert_eq!(effect(&close, 0), Effect::Completes);
        assert_eq!(effect(&data, 0), Effect::Opens);
        assert_eq!(
            effect(&EventKind::Create(CreateKind::File), 0),
            Effect::Opens
        );
        assert_eq!(effect(&both, 0), Effect::Leaves, "the old name");
        assert_eq!(effect(&both, 1), Effect::Completes, "the new name");
        let read = EventKind::Access(AccessKind::Close(AccessMode::Read));
        assert_eq!(effect(&read, 0), Effect::Neutral);

        let tmp = tempfile::tempdir().unwrap();
        let file = |name: &str, text: &str| {
            let p = tmp.path().join(name);
            fs::write(&p, text).unwrap();
            p
        };
        assert!(whole(&file("a.json", "{\"a\": [1, 2]}\n")));
        assert!(!whole(&file("b.json", "{\"a\": [1, ")), "cut short");
        assert!(whole(&file("c.jsonl", "{\"a\":1}\n{\"b\":2}\n")));
        assert!(
            !whole(&file("d.jsonl", "{\"a\":1}\n{\"b\"")),
            "a line cut short"
        );
        assert!(
            whole(&file("e.md", "# half a")),
            "no way to tell: closed is whole"
        );
        assert!(
            whole(&tmp.path().join("gone.json")),
            "nothing left to write"
        );
    }

    #[test]
    fn a_full_inotify_table_is_named_with_the_way_to_raise_it() {
        assert!(limit_message().contains("max_user_watches"));
    }
}
