//! The inbox: peers deliver their commits to `refs/aisync/inbox/<machine>` here, and the cycle
//! merges them first thing. Its folder is watched, so a delivery starts a cycle at once.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use std::time::Instant;

use notify::event::EventKind;
use notify::{RecursiveMode, Watcher as _};

use super::{human, Msg, Watch};
use crate::git::Repo;

/// The git directory shared by every worktree (where refs live).
pub(super) struct Inbox {
    /// `<common git dir>/refs/aisync/inbox`.
    dir: PathBuf,
    watcher: Option<notify::RecommendedWatcher>,
    /// The folder watched (its inode): git may remove an empty folder and make it anew.
    watched: Option<u64>,
    /// The deliveries a cycle has already run for (sender, commit).
    seen: Vec<(String, String)>,
    tx: Sender<Msg>,
}

impl Inbox {
    pub(super) fn new(git_dir: &Path, tx: &Sender<Msg>) -> Inbox {
        Inbox {
            dir: crate::git::common_dir(git_dir).join(crate::peer::INBOX.trim_end_matches('/')),
            watcher: None,
            watched: None,
            seen: Vec::new(),
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
    pub(super) fn news(&mut self, repo: &Repo) -> Vec<String> {
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

impl Watch<'_> {
    /// Watches the inbox folder; without file events it is looked at every poll interval.
    pub(super) fn follow_inbox(&mut self) {
        match self.inbox.follow() {
            Ok(()) => self.schedule.inbox_watched(),
            Err(why) => {
                if self.schedule.inbox_unwatched(Instant::now()) {
                    self.log.line(&format!(
                        "{why}: peers' deliveries are looked for every {}",
                        human(self.poll())
                    ));
                }
            }
        }
    }

    /// Something moved in the inbox folder (or it is time to look): a cycle for a delivery
    /// not merged yet.
    pub(super) fn inbox_event(&mut self) {
        // The folder itself may be gone (git removes empty ref folders): watch it anew.
        self.follow_inbox();
        let Ok(repo) = Repo::find(&self.work_tree) else {
            return;
        };
        let news = self.inbox.news(&repo);
        if !news.is_empty() {
            self.schedule
                .want(|| format!("{} delivered to the inbox", news.join(", ")));
        }
    }
}
