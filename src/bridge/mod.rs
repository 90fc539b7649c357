//! The bridge between connected assistants' live files and their copies under
//! `assistants/<name>/` (DESIGN §9), run by every cycle: first [`Bridge::import`] (live
//! changes into the repository copies, merged three ways where both moved), last
//! [`Bridge::apply`] (what the cycle's merge changed, written back to the live files, only
//! where the assistant has not written since; if it has, its write is merged first).

mod executables;
pub mod jsonedit;
pub mod ledger;
pub mod live;
pub mod projection;
pub mod projects;
mod walk;

use std::path::{Path, PathBuf};

use merge_drivers::Kind;

use crate::assistants::{self, Adapter, Class, Live, Place, Projection, ADAPTERS, REPO_DIR};
use crate::git::Repo;
use crate::journal;
use crate::state::{Executable, Report, Stuck};
use ledger::Ledger;
use live::Blocked;
use projects::Projects;
use walk::{project_parts, transcript_cwds, walk_live, walk_repo};

pub use executables::executables;

/// Git config of a connection on this machine: `aisync.assistant.<name>.connected`.
pub fn connected_key(name: &str) -> String {
    format!("aisync.assistant.{name}.connected")
}

/// Git config: this machine also syncs the assistant's transcripts.
pub fn transcripts_key(name: &str) -> String {
    format!("aisync.assistant.{name}.transcripts")
}

/// Git config: where the assistant's first place is on this machine (its root).
pub fn root_key(name: &str) -> String {
    format!("aisync.assistant.{name}.root")
}

/// An assistant connected on this machine.
#[derive(Clone, Copy, Debug)]
pub struct Connection {
    pub adapter: &'static Adapter,
    pub transcripts: bool,
}

impl Connection {
    /// The classes of file this connection syncs.
    pub fn classes(&self) -> &'static [Class] {
        if self.transcripts {
            &[Class::Portable, Class::OptIn]
        } else {
            &[Class::Portable]
        }
    }
}

/// The assistants connected on this machine, in table order.
pub fn connections(repo: &Repo) -> Vec<Connection> {
    ADAPTERS
        .iter()
        .filter(|a| repo.flag(&connected_key(a.name)) == Some(true))
        .map(|adapter| Connection {
            adapter,
            transcripts: repo.flag(&transcripts_key(adapter.name)) == Some(true),
        })
        .collect()
}

/// Whether a repository path is a bridged copy (committed by the cycle, whatever the policy).
pub fn is_bridged(path: &str) -> bool {
    path.starts_with("assistants/")
}

/// Where places are on this machine, for `repo`'s settings.
/// (`None` for a place inside each project: it is in every checkout, not one place.)
pub fn locate(repo: &Repo, adapter: &Adapter, place: &Place) -> Option<PathBuf> {
    if place.in_project {
        return None;
    }
    let env = |var: &str| std::env::var(var).ok();
    let root = |name: &str| repo.setting(&root_key(name)).map(str::to_string);
    let machine = assistants::Machine {
        home: home(),
        env: &env,
        root_override: &root,
    };
    machine.locate(adapter, place)
}

/// Whether `adapter` is installed here (one of its places exists).
pub fn installed(repo: &Repo, adapter: &Adapter) -> bool {
    adapter
        .places
        .iter()
        .any(|p| locate(repo, adapter, p).is_some_and(|path| path.symlink_metadata().is_ok()))
}

/// Where `adapter`'s places that exist are on this machine, as a person reads them.
pub fn places_here(repo: &Repo, adapter: &Adapter) -> Vec<String> {
    adapter
        .places
        .iter()
        .filter_map(|p| locate(repo, adapter, p))
        .filter(|p| p.symlink_metadata().is_ok())
        .map(|p| shown(&p))
        .collect()
}

/// What cannot be bridged now (a fresh look: symlinks, projects nothing identifies) and what
/// the last cycle could not (busy, does not parse), each path once; and the project keys
/// that wait for a checkout here.
pub fn stuck_now(repo: &Repo, last: Option<&crate::state::State>) -> (Vec<Stuck>, Vec<String>) {
    let connections = connections(repo);
    if connections.is_empty() {
        return (Vec::new(), Vec::new());
    }
    let machine = crate::machine::name(repo);
    let found = Bridge::of(repo, &machine, connections).find();
    let mut stuck = found.stuck;
    for s in last
        .map(|l| l.report.bridge.stuck.as_slice())
        .unwrap_or_default()
    {
        if !stuck.iter().any(|f| f.path == s.path) {
            stuck.push(s.clone());
        }
    }
    (stuck, found.waiting)
}

/// The home folder (`$HOME`).
pub fn home() -> PathBuf {
    std::env::var_os("HOME").map_or_else(|| PathBuf::from("/"), PathBuf::from)
}

/// A path as a person reads it: `~/…` under the home folder.
pub fn shown(path: &Path) -> String {
    match path.strip_prefix(home()) {
        Ok(rel) if !rel.as_os_str().is_empty() => format!("~/{}", rel.display()),
        _ => path.display().to_string(),
    }
}

/// One file the bridge keeps in step.
#[derive(Clone, Debug)]
pub struct Pair {
    pub adapter: &'static Adapter,
    /// The live root it must stay inside (a file place: its folder).
    pub root: PathBuf,
    pub live: PathBuf,
    /// The copy, relative to the top of the working tree (`assistants/claude-code/…`).
    pub rel: String,
    pub projection: Option<Projection>,
}

impl Pair {
    fn kind(&self) -> Kind {
        crate::install::kind_of(self.rel.as_bytes())
    }
}

/// What the bridge found: the pairs, and what it could not bridge (with why).
#[derive(Default)]
pub struct Found {
    pub pairs: Vec<Pair>,
    pub stuck: Vec<Stuck>,
    /// Repository project keys with no checkout on this machine (they wait).
    pub waiting: Vec<String>,
}

pub struct Bridge<'r> {
    repo: &'r Repo,
    connections: Vec<Connection>,
    ledger: Ledger,
    machine: String,
    /// The checkouts this machine knows, found once for a cycle's import and apply.
    projects: std::cell::OnceCell<Projects>,
}

impl<'r> Bridge<'r> {
    /// The bridge of `repo`'s connected assistants; `None` when none is connected here.
    pub fn new(repo: &'r Repo, machine: &str) -> Option<Bridge<'r>> {
        let connections = connections(repo);
        (!connections.is_empty()).then(|| Bridge {
            repo,
            connections,
            ledger: Ledger::new(&repo.state_dir()),
            machine: machine.to_string(),
            projects: std::cell::OnceCell::new(),
        })
    }

    /// The bridge of one connection only (`connect` showing or importing it).
    pub fn of(repo: &'r Repo, machine: &str, connections: Vec<Connection>) -> Bridge<'r> {
        Bridge {
            repo,
            connections,
            ledger: Ledger::new(&repo.state_dir()),
            machine: machine.to_string(),
            projects: std::cell::OnceCell::new(),
        }
    }

    /// Every file of the connected assistants that syncs, live or in the repository.
    pub fn find(&self) -> Found {
        let mut found = Found::default();
        let projects = self.projects.get_or_init(|| self.projects());
        for conn in &self.connections {
            for (i, place) in conn.adapter.places.iter().enumerate() {
                self.find_place(conn, i, place, projects, &mut found);
            }
        }
        found
    }

    /// The projects this machine knows: the folders `~/.claude.json` lists, the working
    /// folders of transcripts, and the mappings in git config.
    fn projects(&self) -> Projects {
        let mut candidates = Vec::new();
        // The checkouts the assistants list, connected or not: Claude Code's
        // `~/.claude.json` `projects`, Gemini's `projects.json` (path → slug).
        let listed = [("claude-code", 1, ""), ("gemini", 0, "projects.json")];
        for (name, place, file) in listed {
            let Some(adapter) = assistants::find(name) else {
                continue;
            };
            let Some(at) = adapter
                .places
                .get(place)
                .and_then(|p| locate(self.repo, adapter, p))
            else {
                continue;
            };
            let at = if file.is_empty() { at } else { at.join(file) };
            if let Some(serde_json::Value::Object(m)) = std::fs::read(at)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
            {
                let table = match m.get("projects") {
                    Some(serde_json::Value::Object(p)) => p,
                    _ => &m,
                };
                candidates.extend(
                    table
                        .keys()
                        .filter(|k| Path::new(k).is_absolute())
                        .map(PathBuf::from),
                );
            }
        }
        let claude = self
            .connections
            .iter()
            .find(|c| c.adapter.name == "claude-code");
        if let Some(root) = claude.and_then(|c| locate(self.repo, c.adapter, &c.adapter.places[0]))
        {
            candidates.extend(transcript_cwds(&root.join("projects")));
        }
        Projects::find(self.repo, &candidates)
    }

    fn find_place(
        &self,
        conn: &Connection,
        index: usize,
        place: &Place,
        projects: &Projects,
        found: &mut Found,
    ) {
        let adapter = conn.adapter;
        let name = adapter.name;
        if place.in_project {
            let Live::Home(Some(rel)) = place.live else {
                return;
            };
            for (key, checkout) in &projects.checkouts {
                let base = format!("{REPO_DIR}/{name}/projects/{key}/{}", place.repo);
                let tracked = tracked_in(checkout, rel);
                self.find_dir(
                    conn,
                    place,
                    &checkout.join(rel),
                    &base,
                    projects,
                    &tracked,
                    found,
                );
            }
            return;
        }
        let repo_base = if place.repo.is_empty() {
            format!("{REPO_DIR}/{name}")
        } else {
            format!("{REPO_DIR}/{name}/{}", place.repo)
        };
        let Some(live) = locate(self.repo, adapter, place) else {
            if index == 0 {
                found.stuck.push(Stuck {
                    assistant: name.into(),
                    path: format!("({name})"),
                    reason: format!(
                        "nothing says where its file is: git config {} /path/to/it",
                        root_key(name)
                    ),
                });
            }
            return;
        };
        if place.file {
            let root = live.parent().map_or_else(home, Path::to_path_buf);
            found.pairs.push(Pair {
                adapter,
                root,
                live,
                rel: repo_base,
                projection: place.projection,
            });
            return;
        }
        self.find_dir(conn, place, &live, &repo_base, projects, &[], found);
    }

    /// The files of a folder place at `live`, paired with their copies under `repo_base`;
    /// `tracked`: files (relative to `live`) that a project's own git keeps, left to it.
    #[allow(clippy::too_many_arguments)]
    fn find_dir(
        &self,
        conn: &Connection,
        place: &Place,
        live: &Path,
        repo_base: &str,
        projects: &Projects,
        tracked: &[String],
        found: &mut Found,
    ) {
        let adapter = conn.adapter;
        let name = adapter.name;
        let live = live.to_path_buf();
        // Files another place of the same assistant covers (Codex's projected config.toml).
        let others: Vec<PathBuf> = adapter
            .places
            .iter()
            .filter(|p| p.file)
            .filter_map(|p| locate(self.repo, adapter, p))
            .collect();
        let mut live_files = Vec::new();
        if std::fs::symlink_metadata(&live).is_ok_and(|m| m.is_dir() || m.file_type().is_symlink())
        {
            walk_live(
                &live,
                "",
                place,
                conn.classes(),
                adapter.busy,
                &mut live_files,
                found,
                name,
            );
        }
        let mut seen = std::collections::HashSet::new();
        let mut unmapped = std::collections::BTreeSet::new();
        for rel in live_files {
            let path = live.join(&rel);
            if others.contains(&path) || tracked.contains(&rel) {
                continue;
            }
            let repo_rel = match place.projects.and_then(|pd| project_parts(&rel, pd)) {
                Some((pd, folder, rest)) => match projects.key_for_folder(folder) {
                    Some(key) => format!("{pd}/{key}/{rest}"),
                    None => {
                        unmapped.insert(format!("{pd}/{folder}"));
                        continue;
                    }
                },
                None => rel.clone(),
            };
            let rel_in_repo = format!("{repo_base}/{repo_rel}");
            seen.insert(rel_in_repo.clone());
            found.pairs.push(Pair {
                adapter,
                root: live.clone(),
                live: path,
                rel: rel_in_repo,
                projection: None,
            });
        }
        for folder in unmapped {
            found.stuck.push(Stuck {
                assistant: name.into(),
                path: shown(&live.join(&folder)),
                reason: format!(
                    "which project this is cannot be told (no git remote or commit found for it): it stays local; to sync it: git config {}<name>.path /path/to/the/checkout",
                    projects::MAPPING
                ),
            });
        }
        // Copies in the repository with no live file yet: made here by the apply.
        let mut copies = Vec::new();
        walk_repo(
            &self.repo.work_tree,
            repo_base,
            "",
            &mut copies,
            found,
            name,
        );
        let mut waiting = std::collections::BTreeSet::new();
        let other_copies: Vec<String> = adapter
            .places
            .iter()
            .filter(|p| p.file)
            .map(|p| format!("{REPO_DIR}/{name}/{}", p.repo))
            .collect();
        for rel in copies {
            let rel_in_repo = format!("{repo_base}/{rel}");
            // `projects/` holds the places inside each project (their own pairs).
            let per_project = !place.in_project
                && adapter.places.iter().any(|p| p.in_project)
                && rel.starts_with("projects/");
            if seen.contains(&rel_in_repo) || other_copies.contains(&rel_in_repo) || per_project {
                continue;
            }
            let live_rel = match place
                .projects
                .and_then(|pd| rel.strip_prefix(&format!("{pd}/")).map(|r| (pd, r)))
            {
                Some((pd, rest)) => match projects.split_key(rest) {
                    Some((key, inner)) => match projects.folder_for_key(key, &live.join(pd)) {
                        Some(folder) => format!("{pd}/{folder}/{inner}"),
                        None => {
                            waiting.insert(key.to_string());
                            continue;
                        }
                    },
                    None => {
                        waiting.insert(waiting_key(rest));
                        continue;
                    }
                },
                None => rel.clone(),
            };
            if tracked.contains(&live_rel) {
                continue;
            }
            let class = place.class_of(&live_rel);
            if !conn.classes().contains(&class) {
                found.stuck.push(Stuck {
                    assistant: name.into(),
                    path: rel_in_repo,
                    reason: format!(
                        "in the repository, but {} here: never applied",
                        class.why_local()
                    ),
                });
                continue;
            }
            found.pairs.push(Pair {
                adapter,
                root: live.clone(),
                live: live.join(&live_rel),
                rel: rel_in_repo,
                projection: None,
            });
        }
        found.waiting.extend(waiting);
    }

    /// Imports every live change into its repository copy (before the cycle commits).
    pub fn import(&self, report: &mut Report) {
        let found = self.find();
        report.bridge.stuck.extend(found.stuck);
        report.bridge.waiting = found.waiting;
        for pair in &found.pairs {
            if let Err(reason) = self.import_one(pair, report) {
                report.bridge.stuck.push(Stuck {
                    assistant: pair.adapter.name.into(),
                    path: shown(&pair.live),
                    reason,
                });
            }
        }
    }

    fn import_one(&self, pair: &Pair, report: &mut Report) -> Result<(), String> {
        let live = live::read(&pair.root, &pair.live, pair.adapter.busy).map_err(|b| b.reason())?;
        let copy_path = self.repo.work_tree.join(&pair.rel);
        let copy = live::read(&self.repo.work_tree, &copy_path, &[])
            .map_err(|b| format!("its repository copy {} is {}", pair.rel, b.reason()))?;
        let base = self.ledger.base(&pair.rel);
        let Some(live) = live else {
            // Gone from the live side since the last sync: the copy goes too, unless the
            // repository changed it meanwhile (then the apply brings it back).
            if let (Some(base), Some(copy)) = (&base, &copy) {
                if base == copy {
                    live::remove(&self.repo.work_tree, &copy_path).map_err(|b| b.reason())?;
                    self.ledger.forget(&pair.rel);
                    report.bridge.imported.push(pair.rel.clone());
                }
            }
            return Ok(());
        };
        let kind = pair.kind();
        let portable = projection::project(pair.projection, &live)
            .map_err(|e| format!("does not parse: {}; left alone until it does", e.0))?;
        if !parses(kind, &portable) {
            return Err("does not parse (half written?): retried next cycle".into());
        }
        // Unchanged. (What an apply replaced stays recorded: a session that read the file
        // before the apply may save it much later.)
        if base.as_ref().is_some_and(|b| same(kind, b, &portable)) {
            return Ok(());
        }
        // After applies, the live content before the first of them is what a save from a
        // stale copy started from: merged from there, what the applies brought stays.
        let over = self.ledger.over(&pair.rel);
        let merged = match (&base, &copy) {
            (_, None) => portable.clone(),
            (None, Some(c)) => self.merge(pair, b"", &portable, c, report)?,
            (Some(b), Some(c)) if b == c && over.is_none() => portable.clone(),
            (Some(b), Some(c)) => {
                let m = self.merge(pair, over.as_deref().unwrap_or(b), &portable, c, report)?;
                if b == c && over.is_some() {
                    self.journal_stale(pair, kind, &m, &portable);
                }
                m
            }
        };
        if copy.as_deref() != Some(merged.as_slice()) {
            live::write(&self.repo.work_tree, &copy_path, &merged)
                .map_err(|b| format!("its repository copy cannot be written: {}", b.reason()))?;
            report.bridge.imported.push(pair.rel.clone());
        }
        self.ledger
            .set_base(&pair.rel, &portable)
            .map_err(|e| format!("the bridge's record cannot be written: {e}"))?;
        self.ledger.clear_over(&pair.rel);
        Ok(())
    }

    /// Applies every repository copy that differs from what the live side last agreed on
    /// (after the cycle's merge). Returns whether a copy changed here (the assistant had
    /// written meanwhile, and its write was merged in): the cycle runs again to commit it.
    pub fn apply(&self, report: &mut Report) -> bool {
        let found = self.find();
        let mut again = false;
        for pair in &found.pairs {
            match self.apply_one(pair, report) {
                Ok(changed) => again |= changed,
                Err(reason) => {
                    // A copy once stuck stays listed once.
                    let path = shown(&pair.live);
                    if !report.bridge.stuck.iter().any(|s| s.path == path) {
                        report.bridge.stuck.push(Stuck {
                            assistant: pair.adapter.name.into(),
                            path,
                            reason,
                        });
                    }
                }
            }
        }
        again
    }

    fn apply_one(&self, pair: &Pair, report: &mut Report) -> Result<bool, String> {
        let copy_path = self.repo.work_tree.join(&pair.rel);
        let copy = live::read(&self.repo.work_tree, &copy_path, &[]).map_err(|b| match b {
            Blocked::Symlink => "a symlink in the repository: never applied".to_string(),
            other => other.reason(),
        })?;
        let base = self.ledger.base(&pair.rel);
        if copy == base {
            return Ok(false);
        }
        let kind = pair.kind();
        let live = live::read(&pair.root, &pair.live, pair.adapter.busy).map_err(|b| b.reason())?;
        let live_portable = match &live {
            Some(bytes) => Some(
                projection::project(pair.projection, bytes)
                    .map_err(|e| format!("does not parse: {}; not applied until it does", e.0))?,
            ),
            None => None,
        };
        if live_portable.as_ref().is_some_and(|l| !parses(kind, l)) {
            return Err("does not parse (half written?): not applied, retried next cycle".into());
        }
        let live_moved = match (&live_portable, &base) {
            (Some(l), Some(b)) => !same(kind, l, b),
            (None, None) => false,
            _ => true,
        };
        let mut changed_copy = false;
        let target = if live_moved {
            // The assistant wrote since the last import: its write is merged first (from
            // what an apply wrote over, if one did: that save may come from a stale copy).
            let from = self.ledger.over(&pair.rel).or_else(|| base.clone());
            let merged = match (&live_portable, &copy) {
                (Some(l), Some(c)) => {
                    Some(self.merge(pair, from.as_deref().unwrap_or_default(), l, c, report)?)
                }
                (Some(l), None) => Some(l.clone()),
                (None, c) => c.clone(),
            };
            if merged != copy {
                if let Some(m) = &merged {
                    live::write(&self.repo.work_tree, &copy_path, m).map_err(|b| b.reason())?;
                    changed_copy = true;
                }
            }
            merged
        } else {
            copy.clone()
        };
        let Some(target) = target else {
            // Deleted in the repository, unchanged here: deleted here too (its bytes kept).
            if let Some(bytes) = &live {
                let _ = self.ledger.keep(&pair.rel, bytes);
            }
            live::remove(&pair.root, &pair.live).map_err(|b| b.reason())?;
            self.ledger.forget(&pair.rel);
            report.bridge.applied.push(shown(&pair.live));
            return Ok(changed_copy);
        };
        if live_portable
            .as_ref()
            .is_some_and(|l| same(kind, l, &target))
        {
            self.ledger
                .set_base(&pair.rel, &target)
                .map_err(|e| e.to_string())?;
            return Ok(changed_copy);
        }
        if !parses(kind, &target) || merge_drivers::has_conflict_markers(kind, &target, 7) {
            return Err(
                "its repository copy does not parse or holds conflict markers: not applied".into(),
            );
        }
        let empty: &[u8] = match pair.projection {
            Some(Projection::JsonMembers(_)) => b"{}",
            _ => b"",
        };
        let new_live =
            projection::splice(pair.projection, live.as_deref().unwrap_or(empty), &target)
                .map_err(|e| format!("cannot be applied: {}", e.0))?;
        let arrived = executables(kind, live_portable.as_deref().unwrap_or_default(), &target);
        if !arrived.is_empty() {
            let machine = self.changed_by(&pair.rel);
            let time = journal::now();
            let mut log = String::new();
            for what in arrived {
                let e = Executable {
                    assistant: pair.adapter.name.into(),
                    path: shown(&pair.live),
                    what,
                    machine: machine.clone(),
                    time: time.clone(),
                };
                log.push_str(&serde_json::to_string(&e).unwrap_or_default());
                log.push('\n');
                report.bridge.executables.push(e);
            }
            append(&crate::state::executables_log(&self.repo.state_dir()), &log);
        }
        // Written by swapping it in: a save the assistant makes between our read and our
        // write comes back to us, is kept, merged in, and written again.
        let (mut on_disk, mut splice_from, mut target, mut new_live) =
            (live.clone(), live.clone(), target, new_live);
        let mut written = None;
        for _ in 0..WRITE_TRIES {
            if let Some(bytes) = &on_disk {
                self.ledger
                    .keep(&pair.rel, bytes)
                    .map_err(|e| e.to_string())?;
            }
            match live::replace(&pair.root, &pair.live, &new_live, on_disk.as_deref())
                .map_err(|b| b.reason())?
            {
                live::Replaced::AsExpected => {
                    written = Some(target.clone());
                    break;
                }
                live::Replaced::Displaced(saved) => {
                    written = Some(target.clone());
                    if let Some(bytes) = &saved {
                        self.ledger
                            .keep(&pair.rel, bytes)
                            .map_err(|e| e.to_string())?;
                    }
                    if let Some(bytes) = &saved {
                        let theirs = projection::project(pair.projection, bytes).map_err(|e| {
                            format!("was saved during the apply and does not parse ({}); that version is kept: git aisync restore --live", e.0)
                        })?;
                        let from = live_portable.as_deref().unwrap_or_default();
                        target = self.merge(pair, from, &theirs, &target, report)?;
                        live::write(&self.repo.work_tree, &copy_path, &target)
                            .map_err(|b| b.reason())?;
                        changed_copy = true;
                    }
                    on_disk = Some(new_live.clone());
                    splice_from = saved.or(splice_from);
                    new_live = projection::splice(
                        pair.projection,
                        splice_from.as_deref().unwrap_or(empty),
                        &target,
                    )
                    .map_err(|e| format!("cannot be applied: {}", e.0))?;
                }
            }
        }
        // The live file holds `written` now; a merge still to write (the assistant kept
        // saving) is in the copy, for the next cycle.
        if let Some(written) = &written {
            self.ledger
                .set_base(&pair.rel, written)
                .map_err(|e| e.to_string())?;
        }
        if let (Some(l), None) = (&live_portable, self.ledger.over(&pair.rel)) {
            let _ = self.ledger.set_over(&pair.rel, l);
        }
        report.bridge.applied.push(shown(&pair.live));
        Ok(changed_copy)
    }

    /// The drivers' three-way merge of a bridged file (an empty base: nothing in common);
    /// its overrides are journaled and listed, one line each.
    fn merge(
        &self,
        pair: &Pair,
        base: &[u8],
        live: &[u8],
        copy: &[u8],
        report: &mut Report,
    ) -> Result<Vec<u8>, String> {
        let kind = pair.kind();
        let policy = crate::policy::Policy::load(&self.repo.work_tree).ok();
        let options = merge_drivers::Options {
            policy: policy
                .as_ref()
                .and_then(|p| p.conflict_policy(&pair.rel))
                .unwrap_or(if kind == Kind::Markdown {
                    merge_drivers::Policy::KeepBoth
                } else {
                    merge_drivers::Policy::Journal
                }),
            path: pair.rel.clone(),
            ..merge_drivers::Options::default()
        };
        let merged = merge_drivers::merge(kind, base, live, copy, &options);
        if merged.conflicted {
            return Err(format!(
                "changed here and in the repository in ways that do not merge: {} keeps the repository's version until the live file is edited",
                pair.rel
            ));
        }
        let time = journal::now();
        let entries: Vec<_> = merged
            .records
            .iter()
            .map(|r| {
                let mut e = journal::entry(r, kind.name(), &time);
                e.insert("machine".into(), self.machine.clone().into());
                e
            })
            .collect();
        let _ = journal::append(&journal::pending_path(&self.repo.state_dir()), &entries);
        for r in &merged.records {
            let show = |v: &Option<serde_json::Value>| {
                v.as_ref()
                    .map_or("(none)".to_string(), |v| short(&v.to_string()))
            };
            report.bridge.overrides.push(format!(
                "{} {}: kept {}, journaled {}",
                pair.rel,
                r.location,
                show(&r.chosen),
                if r.chosen == r.ours {
                    show(&r.theirs)
                } else {
                    show(&r.ours)
                }
            ));
        }
        Ok(merged.output)
    }

    /// A stale write's dropped content, journaled: what the merge kept that the live write
    /// did not have.
    fn journal_stale(&self, pair: &Pair, kind: Kind, merged: &[u8], written: &[u8]) {
        let kept = crate::removed::removed(kind, merged, written);
        if kept.is_empty() {
            return;
        }
        let text = kept.join("\n");
        let mut m = serde_json::Map::new();
        m.insert(
            "id".into(),
            journal::content_id(&format!("{}\0{text}\0stale", pair.rel)).into(),
        );
        m.insert("path".into(), pair.rel.clone().into());
        m.insert("location".into(), "(a write from a stale copy)".into());
        m.insert("base".into(), text.into());
        m.insert("rule".into(), "stale-write-kept".into());
        m.insert("machine".into(), self.machine.clone().into());
        m.insert("time".into(), journal::now().into());
        let _ = journal::append(&journal::pending_path(&self.repo.state_dir()), &[m]);
    }

    /// The other machine whose commit last changed `rel` (named by the cycle's
    /// `aisync(<machine>): …` messages; else the commit's author).
    fn changed_by(&self, rel: &str) -> String {
        let out = self
            .repo
            .git(["log", "-20", "--no-merges", "--format=%an%x00%s", "--", rel])
            .output();
        let text = out.map(|o| o.stdout).unwrap_or_default();
        for line in text.lines() {
            let (author, subject) = line.split_once('\0').unwrap_or((line, ""));
            let machine = subject
                .strip_prefix("aisync(")
                .and_then(|s| s.split_once(')'))
                .map_or(author, |(m, _)| m);
            if !machine.is_empty() && machine != self.machine {
                return machine.to_string();
            }
        }
        "another machine".into()
    }

    /// The bridged file whose live path is `live` (as given: `~/x`, relative, absolute).
    pub fn pair_of(&self, live: &Path) -> Option<Pair> {
        let wanted = match live.strip_prefix("~") {
            Ok(rest) => home().join(rest),
            Err(_) => live.to_path_buf(),
        };
        let wanted = std::path::absolute(&wanted).unwrap_or(wanted);
        self.find().pairs.into_iter().find(|p| p.live == wanted)
    }

    /// The live versions the applies to `pair` replaced, oldest first.
    pub fn kept(&self, pair: &Pair) -> Vec<PathBuf> {
        self.ledger.kept(&pair.rel)
    }

    /// Writes a kept version back as the live file (the bytes it replaces are kept in
    /// turn); the next cycle imports it as a change of this machine's.
    pub fn restore(&self, pair: &Pair, kept: &Path) -> Result<(), String> {
        let bytes = std::fs::read(kept).map_err(|e| e.to_string())?;
        if let Some(now) = live::read(&pair.root, &pair.live, &[]).map_err(|b| b.reason())? {
            self.ledger
                .keep(&pair.rel, &now)
                .map_err(|e| e.to_string())?;
        }
        live::write(&pair.root, &pair.live, &bytes).map_err(|b| b.reason())
    }

    /// Forgets what the bridge knew of `name` (disconnected here).
    pub fn forget(state_dir: &Path, name: &str) {
        Ledger::new(state_dir).forget_all(&format!("{REPO_DIR}/{name}"));
    }
}

/// The project key of a repository path under `projects/` whose key this machine does not
/// know: before `/memory/`, before a transcript's `<session>/subagents/`, else the folder of
/// a transcript file.
fn waiting_key(rest: &str) -> String {
    if let Some(i) = rest.find("/memory/") {
        return rest[..i].to_string();
    }
    let rest = match rest.find("/subagents/") {
        Some(i) => &rest[..i],
        None => rest,
    };
    rest.rsplit_once('/')
        .map_or(rest, |(dir, _)| dir)
        .to_string()
}

/// The files under `rel` in `checkout` that its own git tracks (relative to `rel`): they
/// travel with the project, not through the bridge.
fn tracked_in(checkout: &Path, rel: &str) -> Vec<String> {
    let Ok(repo) = Repo::find(checkout) else {
        return Vec::new();
    };
    let listed = repo.git(["ls-files", "-z", "--", rel]).output_bytes();
    let Ok(out) = listed else {
        return Vec::new();
    };
    out.stdout
        .split(|&b| b == 0)
        .filter_map(|p| std::str::from_utf8(p).ok())
        .filter_map(|p| p.strip_prefix(rel).and_then(|r| r.strip_prefix('/')))
        .map(str::to_string)
        .collect()
}

/// How often an apply writes again when the assistant saves in between each time.
const WRITE_TRIES: usize = 4;

/// Appends `text` to the log at `path` (one write).
fn append(path: &Path, text: &str) {
    use std::io::Write;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path);
    if let Ok(mut f) = file {
        let _ = f.write_all(text.as_bytes());
    }
}

/// Whether `bytes` reads as `kind` (a file half written does not). JSON may hold
/// comments and trailing commas (Gemini's and Copilot's settings are JSONC).
fn parses(kind: Kind, bytes: &[u8]) -> bool {
    match kind {
        Kind::Json => jsonedit::read(bytes).is_some(),
        _ => true,
    }
}

/// Whether two versions mean the same (JSON: the same values, whatever the key order and
/// layout an assistant's rewrite gave them).
fn same(kind: Kind, a: &[u8], b: &[u8]) -> bool {
    if a == b {
        return true;
    }
    // Strict JSON only: in a file with comments, a comment is content worth syncing.
    if kind == Kind::Json {
        if let (Ok(x), Ok(y)) = (
            serde_json::from_slice::<serde_json::Value>(a),
            serde_json::from_slice::<serde_json::Value>(b),
        ) {
            return x == y;
        }
    }
    false
}

fn short(s: &str) -> String {
    if s.chars().count() > 100 {
        format!("{}…", s.chars().take(100).collect::<String>())
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reordered_json_is_the_same_settings() {
        assert!(same(
            Kind::Json,
            b"{\"a\":1,\"b\":[1,2]}",
            b"{\n  \"b\": [1, 2],\n  \"a\": 1\n}\n"
        ));
        assert!(!same(Kind::Json, b"{\"a\":1}", b"{\"a\":2}"));
    }
}
