//! Snapshots: before every merge the cycle saves the local tip under a hidden ref
//! (`refs/aisync/backup/…`, never pushed), pruned by age; `restore` brings one back.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Result;

use crate::git::Repo;

pub const PREFIX: &str = "refs/aisync/backup/";
/// Snapshots older than this go, but the newest few always stay.
const KEEP_FOR: Duration = Duration::from_secs(30 * 24 * 3600);
const KEEP_AT_LEAST: usize = 20;

pub struct Snapshot {
    pub name: String,
    pub commit: String,
    pub time: u64,
    pub subject: String,
}

/// Saves HEAD as a snapshot; returns its ref.
pub fn save(repo: &Repo, reason: &str) -> Result<Option<String>> {
    let Some(head) = repo.head()? else {
        return Ok(None);
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let name = format!(
        "{PREFIX}{}-{}",
        now.as_millis(),
        &head[..12.min(head.len())]
    );
    repo.git(["update-ref", "-m", reason, &name, &head]).run()?;
    Ok(Some(name))
}

/// Drops the snapshot `name` saved for a merge that did not happen (HEAD never moved).
pub fn discard(repo: &Repo, name: &str) -> Result<()> {
    repo.git(["update-ref", "-d", name]).run()?;
    Ok(())
}

/// Every snapshot, newest first.
pub fn list(repo: &Repo) -> Result<Vec<Snapshot>> {
    let out = repo
        .git([
            "for-each-ref",
            "--sort=-refname",
            "--format=%(refname)%09%(objectname)%09%(subject)",
            PREFIX,
        ])
        .run()?;
    let mut list: Vec<Snapshot> = out
        .stdout
        .lines()
        .filter_map(|l| {
            let mut parts = l.splitn(3, '\t');
            let name = parts.next()?.to_string();
            let commit = parts.next()?.to_string();
            let subject = parts.next().unwrap_or("").to_string();
            let millis: u64 = name.strip_prefix(PREFIX)?.split('-').next()?.parse().ok()?;
            Some(Snapshot {
                name,
                commit,
                time: millis / 1000,
                subject,
            })
        })
        .collect();
    list.sort_by(|a, b| b.time.cmp(&a.time).then(b.name.cmp(&a.name)));
    Ok(list)
}

/// Drops old snapshots (keeping the newest few whatever their age).
pub fn prune(repo: &Repo) -> Result<()> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    for s in list(repo)?.into_iter().skip(KEEP_AT_LEAST) {
        if now.saturating_sub(s.time) > KEEP_FOR.as_secs() {
            repo.git(["update-ref", "-d", &s.name]).run()?;
        }
    }
    Ok(())
}
