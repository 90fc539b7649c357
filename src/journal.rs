//! The conflict journal: every value a merge overrode, with both versions.
//!
//! The merge driver appends to `<git dir>/aisync/pending-conflicts.jsonl` (per machine, never
//! committed); the sync cycle folds those records into the synced `.aisync/conflicts.jsonl`.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use merge_drivers::Record;
use serde_json::{Map, Value};

/// The synced journal, relative to the top of the working tree.
pub const SYNCED: &str = ".aisync/conflicts.jsonl";

/// The drivers' records waiting to be folded, in a repository's state dir.
pub fn pending_path(state_dir: &Path) -> PathBuf {
    state_dir.join("pending-conflicts.jsonl")
}

/// One journal line: the record, the merge kind and when it was made.
pub fn entry(record: &Record, kind: &str, time: &str) -> Map<String, Value> {
    let mut m = record.to_json();
    m.insert("kind".into(), Value::from(kind));
    m.insert("time".into(), Value::from(time));
    m
}

/// Appends entries as JSON lines, in one write so concurrent drivers do not interleave.
pub fn append(path: &Path, entries: &[Map<String, Value>]) -> io::Result<()> {
    append_lines(path, entries)
}

fn append_lines(path: &Path, entries: &[Map<String, Value>]) -> io::Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    // A file that lost its final newline (a hand edit) must not glue two records together.
    let mut text = String::new();
    if fs::read(path).is_ok_and(|t| !t.is_empty() && !t.ends_with(b"\n")) {
        text.push('\n');
    }
    for e in entries {
        text.push_str(&Value::Object(e.clone()).to_string());
        text.push('\n');
    }
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?
        .write_all(text.as_bytes())
}

/// The entries of a journal file, oldest first. A missing file is empty; lines that are not
/// JSON objects (a half-written last line) are skipped and counted.
pub fn read(path: &Path) -> io::Result<(Vec<Map<String, Value>>, usize)> {
    let text = match fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(e) => return Err(e),
    };
    let mut entries = Vec::new();
    let mut skipped = 0;
    for line in text.split(|&b| b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Value>(line) {
            Ok(Value::Object(m)) => entries.push(m),
            _ => skipped += 1,
        }
    }
    Ok((entries, skipped))
}

/// A journal's records, and the files that had unreadable lines with how many.
pub type Records = (Vec<Map<String, Value>>, Vec<(PathBuf, usize)>);

/// Every record of a repository's journal: this machine's pending records (not folded yet)
/// and the synced ones, each id once, newest first; with the files that had unreadable lines
/// and how many.
pub fn all(state_dir: &Path, work_tree: Option<&Path>) -> anyhow::Result<Records> {
    use anyhow::Context;
    let mut files = vec![pending_path(state_dir)];
    if let Some(top) = work_tree {
        files.push(top.join(SYNCED));
    }
    let mut entries: Vec<Map<String, Value>> = Vec::new();
    let mut unreadable = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for file in files {
        let (found, skipped) =
            read(&file).with_context(|| format!("cannot read {}", file.display()))?;
        if skipped > 0 {
            unreadable.push((file, skipped));
        }
        for e in found {
            let id = e
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            if id.is_empty() || seen.insert(id) {
                entries.push(e);
            }
        }
    }
    // Newest first; RFC 3339 UTC times sort as text.
    let time = |e: &Map<String, Value>| {
        e.get("time")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    entries.sort_by_key(|e| std::cmp::Reverse(time(e)));
    Ok((entries, unreadable))
}

/// Now, as RFC 3339 UTC.
pub fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Moves this machine's pending records into the synced journal (each id once), so they
/// travel with the next commit. Returns how many were added.
pub fn fold(state_dir: &Path, work_tree: &Path) -> io::Result<usize> {
    let pending = pending_path(state_dir);
    let (entries, _) = read(&pending)?;
    if entries.is_empty() {
        return Ok(0);
    }
    let synced = work_tree.join(SYNCED);
    let (known, _) = read(&synced)?;
    let known: std::collections::HashSet<String> = known
        .iter()
        .filter_map(|e| e.get("id").and_then(Value::as_str).map(str::to_string))
        .collect();
    let mut seen = known;
    let fresh: Vec<_> = entries
        .into_iter()
        .filter(|e| {
            let id = e
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            id.is_empty() || seen.insert(id)
        })
        .collect();
    // The synced file first: a cycle killed in between leaves a record twice, never none.
    append_lines(&synced, &fresh)?;
    fs::remove_file(&pending)?;
    Ok(fresh.len())
}

/// A content-derived id for records the CLI makes itself (same text, same id everywhere).
pub fn content_id(text: &str) -> String {
    // FNV-1a over 128 bits: stable across machines and versions, no dependency.
    let mut h: u128 = 0x6c62272e07bb014262b821756295c58d;
    for b in text.bytes() {
        h ^= u128::from(b);
        h = h.wrapping_mul(0x0000000001000000000000000000013B);
    }
    format!("{:020x}", h >> 48)
}
