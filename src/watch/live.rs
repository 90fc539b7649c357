//! The connected assistants' live files (DESIGN §9): watched where they live, so that an
//! assistant's write starts a cycle like a write in the working tree. Only folders that can
//! hold a synced file are watched (never a cache or, unless opted in, a transcript folder),
//! and an event on anything but a synced file starts nothing.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;

use notify::event::{AccessKind, AccessMode, EventKind, ModifyKind};
use notify::{RecursiveMode, Watcher as _};

use super::{Msg, Watch};
use crate::assistants::{Class, Place};
use crate::bridge::{self, live::TEMP_MARK};
use crate::git::Repo;

/// A place of a connected assistant, as watched.
struct Watched {
    path: PathBuf,
    place: &'static Place,
    classes: &'static [Class],
}

pub(super) struct Live {
    watcher: Option<Box<dyn notify::Watcher>>,
    places: Vec<Watched>,
    dirs: BTreeSet<PathBuf>,
    /// A synced live file moved since the last cycle.
    pub(super) changed: bool,
    tx: Sender<Msg>,
}

impl Live {
    pub(super) fn new(tx: &Sender<Msg>) -> Live {
        Live {
            watcher: None,
            places: Vec::new(),
            dirs: BTreeSet::new(),
            changed: false,
            tx: tx.clone(),
        }
    }

    /// Watches the places of the assistants connected now (after each cycle: a `connect`
    /// may have run, an assistant may have made a folder).
    pub(super) fn follow(&mut self, repo: &Repo) {
        let mut places = Vec::new();
        for conn in bridge::connections(repo) {
            for place in conn.adapter.places {
                if let Some(path) = bridge::locate(repo, conn.adapter, place) {
                    places.push(Watched {
                        path,
                        place,
                        classes: conn.classes(),
                    });
                }
            }
        }
        let mut wanted = BTreeSet::new();
        for w in &places {
            if w.place.file {
                if let Some(dir) = w.path.parent() {
                    wanted.insert(dir.to_path_buf());
                }
            } else if w.path.is_dir() {
                wanted.insert(w.path.clone());
                folders(&w.path, "", w.place, w.classes, &mut wanted);
            }
        }
        self.places = places;
        if wanted.is_empty() && self.watcher.is_none() {
            return;
        }
        if self.watcher.is_none() {
            let tx = self.tx.clone();
            let handler = move |event: notify::Result<notify::Event>| {
                // Reads are no changes; a writer closing a file is (it is whole now).
                let read = |k: &EventKind| matches!(k, EventKind::Access(a) if *a != AccessKind::Close(AccessMode::Write));
                if event.as_ref().is_ok_and(|e| read(&e.kind)) {
                    return;
                }
                let _ = tx.send(Msg::Live(event));
            };
            match notify::RecommendedWatcher::new(handler, notify::Config::default()) {
                Ok(w) => self.watcher = Some(Box::new(w)),
                Err(_) => return,
            }
        }
        let Some(watcher) = self.watcher.as_mut() else {
            return;
        };
        for gone in self.dirs.difference(&wanted).cloned().collect::<Vec<_>>() {
            let _ = watcher.unwatch(&gone);
            self.dirs.remove(&gone);
        }
        for dir in wanted.difference(&self.dirs).cloned().collect::<Vec<_>>() {
            if watcher.watch(&dir, RecursiveMode::NonRecursive).is_ok() {
                self.dirs.insert(dir);
            }
        }
    }

    /// Whether a change at `path` is one of a synced live file (or a folder that may hold
    /// some), and whether it is a folder to start watching.
    fn matters(&self, path: &Path) -> (bool, bool) {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        if name.as_deref().is_some_and(|n| n.contains(TEMP_MARK)) {
            return (false, false);
        }
        for w in &self.places {
            if w.place.file {
                if path == w.path {
                    return (true, false);
                }
                continue;
            }
            let Ok(rel) = path.strip_prefix(&w.path) else {
                continue;
            };
            let rel = rel.to_string_lossy().replace('\\', "/");
            if rel.is_empty() {
                continue;
            }
            if w.classes.contains(&w.place.class_of(&rel)) {
                return (true, false);
            }
            if path.is_dir() && w.place.may_hold(&rel, w.classes) {
                // A new folder (a project's first session) is watched from now on; it
                // starts a cycle only if a synced file got there before its watch.
                return (holds_synced(path, &rel, w.place, w.classes), true);
            }
        }
        (false, false)
    }
}

/// Whether a synced file is already somewhere under the folder `dir` (at `rel`).
fn holds_synced(dir: &Path, rel: &str, place: &Place, classes: &[Class]) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|entry| {
        let child = format!("{rel}/{}", entry.file_name().to_string_lossy());
        match entry.file_type() {
            Ok(t) if t.is_dir() => {
                place.may_hold(&child, classes)
                    && holds_synced(&entry.path(), &child, place, classes)
            }
            Ok(t) if t.is_file() => classes.contains(&place.class_of(&child)),
            _ => false,
        }
    })
}

/// Every folder under `root/rel` that can hold a synced file (symlinks not followed).
fn folders(root: &Path, rel: &str, place: &Place, classes: &[Class], out: &mut BTreeSet<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(root.join(rel)) else {
        return;
    };
    for entry in entries.flatten() {
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let child = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        if place.may_hold(&child, classes) {
            out.insert(entry.path());
            folders(root, &child, place, classes, out);
        }
    }
}

impl Watch<'_> {
    pub(super) fn live_event(&mut self, event: notify::Result<notify::Event>) {
        let Ok(event) = event else {
            return;
        };
        let mut any = false;
        let mut new_folder = false;
        for path in &event.paths {
            let (matters, folder) = self.live.matters(path);
            any |= matters;
            new_folder |= folder;
        }
        if any {
            self.live.changed = true;
            // Whole once closed or renamed into place (how assistants save); a write that
            // may still go on waits for its close.
            let whole = matches!(
                event.kind,
                EventKind::Access(AccessKind::Close(AccessMode::Write))
                    | EventKind::Modify(ModifyKind::Name(_))
                    | EventKind::Create(_)
                    | EventKind::Remove(_)
            );
            self.note_live_write(whole);
        }
        if new_folder {
            if let Ok(repo) = Repo::find(&self.work_tree) {
                self.live.follow(&repo);
            }
        }
    }
}
