//! What the bridge last agreed on, per bridged file, under `<git dir>/aisync/bridge/`: the
//! *base* (the portable content the live file and the repository copy last both held), the
//! live content an apply wrote *over* (until the next import, to tell a stale write), and
//! the live bytes each apply replaced (*kept*, for `restore`). Every file is written whole
//! and renamed, so a crash leaves the old version or the new, and the next cycle's three-way
//! merge (base, live, repository) finishes the work without losing either side.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// How many replaced live versions are kept per file.
const KEPT: usize = 10;

pub struct Ledger {
    dir: PathBuf,
}

impl Ledger {
    pub fn new(state_dir: &Path) -> Ledger {
        Ledger {
            dir: state_dir.join("bridge"),
        }
    }

    fn at(&self, what: &str, rel: &str) -> PathBuf {
        self.dir.join(what).join(rel)
    }

    pub fn base(&self, rel: &str) -> Option<Vec<u8>> {
        fs::read(self.at("base", rel)).ok()
    }

    pub fn set_base(&self, rel: &str, bytes: &[u8]) -> io::Result<()> {
        write_whole(&self.at("base", rel), bytes)
    }

    /// The live content an apply replaced, while no import has followed it.
    pub fn over(&self, rel: &str) -> Option<Vec<u8>> {
        fs::read(self.at("over", rel)).ok()
    }

    pub fn set_over(&self, rel: &str, bytes: &[u8]) -> io::Result<()> {
        write_whole(&self.at("over", rel), bytes)
    }

    pub fn clear_over(&self, rel: &str) {
        let _ = fs::remove_file(self.at("over", rel));
    }

    /// Forgets a file: it is no longer bridged (deleted on both sides).
    pub fn forget(&self, rel: &str) {
        let _ = fs::remove_file(self.at("base", rel));
        self.clear_over(rel);
    }

    /// Forgets every file under `prefix` (an assistant disconnected here).
    pub fn forget_all(&self, prefix: &str) {
        for what in ["base", "over"] {
            let _ = fs::remove_dir_all(self.at(what, prefix));
        }
    }

    /// Keeps `bytes` (the live file before an apply) for `restore`; the oldest beyond
    /// [`KEPT`] go.
    pub fn keep(&self, rel: &str, bytes: &[u8]) -> io::Result<PathBuf> {
        let dir = self.at("kept", rel);
        fs::create_dir_all(&dir)?;
        let stamp = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
        let path = dir.join(format!("{stamp}"));
        write_whole(&path, bytes)?;
        let mut all: Vec<PathBuf> = fs::read_dir(&dir)?.flatten().map(|e| e.path()).collect();
        all.sort();
        while all.len() > KEPT {
            let _ = fs::remove_file(all.remove(0));
        }
        Ok(path)
    }

    /// The kept versions of `rel`, oldest first.
    pub fn kept(&self, rel: &str) -> Vec<PathBuf> {
        let mut all: Vec<PathBuf> = fs::read_dir(self.at("kept", rel))
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        all.sort();
        all
    }
}

fn write_whole(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::other("a ledger path without a folder"))?;
    fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.tmp.{}",
        path.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    fs::write(&tmp, bytes)?;
    fs::rename(&tmp, path)
}
