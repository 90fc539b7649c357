//! Conflicts no merge driver could resolve (a binary file or an unknown format changed on both
//! sides, modify/delete, add/add, what git leaves of rename and file/directory clashes): every
//! version is kept. Where two cannot share the path, the one with the greater blob id stays
//! and the other goes beside it as `NAME.conflict-<short blob id>.EXT`: chosen by content, so
//! two machines resolving the same conflict make the same tree.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::{json, Map, Value};

use crate::git::{os_path, readable, GitPath, IndexEntry, Repo, Stage};

/// How one path was resolved, for the journal (names as shown to people).
pub struct Resolved {
    pub path: String,
    pub beside: Option<String>,
    pub rule: &'static str,
}

impl Resolved {
    fn new(path: &[u8], beside: Option<&[u8]>, rule: &'static str) -> Resolved {
        Resolved {
            path: readable(path).into_owned(),
            beside: beside.map(|b| readable(b).into_owned()),
            rule,
        }
    }
}

/// Resolves every unmerged path left by a merge. Paths stay bytes, as git has them: a name
/// that is not UTF-8 must reach git and the file system unchanged.
pub fn resolve_all(repo: &Repo) -> Result<Vec<Resolved>> {
    let mut done = Vec::new();
    for (path, stages) in repo.unmerged()? {
        let stage = |n: u8| stages.iter().find(|s| s.number == n);
        let (ours, theirs) = (stage(2), stage(3));
        if let Some(folder) =
            moved_aside_for_folder(repo, &path, ours.is_some() != theirs.is_some())
        {
            // File vs folder: git put the file at `NAME~HEAD` or `NAME~<commit>` (the name
            // depends on which side merged). The folder keeps the name on every machine; the
            // file goes beside it by its blob id, so both machines make the same tree.
            let Some(file) = ours.or(theirs) else {
                continue;
            };
            let beside = beside_name(&folder, &file.oid);
            place(repo, &beside, file)?;
            unstage(repo, &path)?;
            let _ = fs::remove_file(repo.work_tree.join(os_path(&path)));
            done.push(Resolved::new(&folder, Some(&beside), "file-vs-folder"));
            continue;
        }
        let resolved = match (ours, theirs) {
            (Some(o), Some(t)) if o.oid == t.oid => {
                place(repo, &path, o)?;
                Resolved::new(&path, None, "same-content")
            }
            (Some(o), Some(t)) => {
                let (keep, other) = if o.oid > t.oid { (o, t) } else { (t, o) };
                let beside = beside_name(&path, &other.oid);
                place(repo, &path, keep)?;
                place(repo, &beside, other)?;
                Resolved::new(&path, Some(&beside), "kept-both-files")
            }
            (Some(kept), None) | (None, Some(kept)) => {
                // One side deleted what the other changed: the change stays.
                place(repo, &path, kept)?;
                Resolved::new(&path, None, "modify-beats-delete")
            }
            (None, None) => {
                unstage(repo, &path)?;
                let _ = fs::remove_file(repo.work_tree.join(os_path(&path)));
                Resolved::new(&path, None, "deleted-on-both")
            }
        };
        done.push(resolved);
    }
    Ok(done)
}

/// The folder a file was moved aside for: git names it `NAME~SIDE` when a folder `NAME`
/// took its place, and only one side has it.
fn moved_aside_for_folder(repo: &Repo, path: &[u8], one_side: bool) -> Option<GitPath> {
    let tilde = path.iter().rposition(|&b| b == b'~')?;
    let (name, side) = (&path[..tilde], &path[tilde + 1..]);
    (one_side
        && !side.is_empty()
        && !side.contains(&b'/')
        && repo.work_tree.join(os_path(name)).is_dir())
    .then(|| name.into())
}

/// A name as a case-insensitive file system compares it (Unicode case where the name is
/// UTF-8, ASCII case otherwise).
fn folded(path: &[u8]) -> Vec<u8> {
    match std::str::from_utf8(path) {
        Ok(text) => text.to_lowercase().into_bytes(),
        Err(_) => path.to_ascii_lowercase(),
    }
}

/// Names that differ only in case (`Note.md`, `note.md`), which a macOS or Windows clone
/// cannot hold both of, brought together by this merge: the one with the greater blob id
/// keeps its name, the other goes beside it as `NAME.conflict-<short blob id>.EXT` (the
/// same content twice: one copy is enough).
pub fn case_clashes(repo: &Repo) -> Result<Vec<Resolved>> {
    let in_head: std::collections::HashSet<GitPath> =
        repo.tree_paths("HEAD")?.into_iter().collect();
    let mut groups: std::collections::BTreeMap<Vec<u8>, Vec<IndexEntry>> =
        std::collections::BTreeMap::new();
    for entry in repo.index()? {
        groups.entry(folded(&entry.path)).or_default().push(entry);
    }
    let mut done = Vec::new();
    for (_, mut group) in groups {
        if group.len() < 2 || group.iter().all(|e| in_head.contains(&e.path)) {
            continue;
        }
        // Greater blob id first (then the greater name): the same choice everywhere.
        group.sort_by(|a, b| b.oid.cmp(&a.oid).then(b.path.cmp(&a.path)));
        let Some((keep, others)) = group.split_first() else {
            continue;
        };
        for other in others {
            unstage(repo, &other.path)?;
            let _ = fs::remove_file(repo.work_tree.join(os_path(&other.path)));
            if other.oid == keep.oid {
                done.push(Resolved::new(
                    &other.path,
                    Some(&keep.path),
                    "case-clash-same-content",
                ));
                continue;
            }
            let beside = beside_name(&other.path, &other.oid);
            place(repo, &beside, other)?;
            done.push(Resolved::new(&keep.path, Some(&beside), "case-clash"));
        }
        // Written again: on a file system that ignores case, removing the other name
        // removed this one.
        place(repo, &keep.path, keep)?;
    }
    Ok(done)
}

fn unstage(repo: &Repo, path: &[u8]) -> Result<()> {
    repo.stage_entries(&[IndexEntry {
        mode: "0".into(),
        oid: String::new(),
        path: path.into(),
    }])
}

/// `notes/a.png` with blob `1a2b3c…` → `notes/a.conflict-1a2b3c4d.png`.
pub fn beside_name(path: &[u8], oid: &str) -> GitPath {
    let short = &oid.as_bytes()[..8.min(oid.len())];
    let cut = path.iter().rposition(|&b| b == b'/').map_or(0, |i| i + 1);
    let (dir, name) = path.split_at(cut);
    let mut out = dir.to_vec();
    match name.iter().rposition(|&b| b == b'.').filter(|&i| i > 0) {
        Some(i) => {
            out.extend_from_slice(&name[..i]);
            out.extend_from_slice(b".conflict-");
            out.extend_from_slice(short);
            out.extend_from_slice(&name[i..]);
        }
        None => {
            out.extend_from_slice(name);
            out.extend_from_slice(b".conflict-");
            out.extend_from_slice(short);
        }
    }
    out.into()
}

/// Puts blob `oid` (with `mode`) at `path` in the index (replacing its conflict stages)
/// and the working tree.
/// Writes the blob `what` names at `path` (executable if its mode says so) and stages it.
fn place(repo: &Repo, path: &[u8], what: &impl Blob) -> Result<()> {
    let (mode, oid) = (what.mode(), what.oid());
    let file = repo.work_tree.join(os_path(path));
    if let Some(dir) = file.parent() {
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let bytes = repo.blob(oid)?;
    write_file(&file, &bytes, mode == "100755")?;
    repo.stage_entries(&[IndexEntry {
        mode: mode.to_string(),
        oid: oid.to_string(),
        path: path.into(),
    }])
}

/// A blob with its mode: a conflict stage or an index entry.
trait Blob {
    fn mode(&self) -> &str;
    fn oid(&self) -> &str;
}

impl Blob for Stage {
    fn mode(&self) -> &str {
        &self.mode
    }
    fn oid(&self) -> &str {
        &self.oid
    }
}

impl Blob for IndexEntry {
    fn mode(&self) -> &str {
        &self.mode
    }
    fn oid(&self) -> &str {
        &self.oid
    }
}

fn write_file(path: &Path, bytes: &[u8], executable: bool) -> Result<()> {
    if path.is_dir() {
        anyhow::bail!("{} is a directory where a file must go", path.display());
    }
    fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    #[cfg(unix)]
    if executable {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

/// The journal line for a resolution.
pub fn entry(r: &Resolved, machine: &str, time: &str) -> Map<String, Value> {
    let text = format!(
        "{}\u{0}{}\u{0}{}",
        r.path,
        r.beside.as_deref().unwrap_or(""),
        r.rule
    );
    let id = crate::journal::content_id(&text);
    let mut m = Map::new();
    m.insert("id".into(), json!(id));
    m.insert("path".into(), json!(r.path));
    m.insert("location".into(), json!("(file)"));
    if let Some(b) = &r.beside {
        m.insert("beside".into(), json!(b));
    }
    m.insert("rule".into(), json!(r.rule));
    m.insert("machine".into(), json!(machine));
    m.insert("time".into(), json!(time));
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_other_version_is_found_by_the_same_name_whatever_the_case() {
        assert_eq!(
            beside_name(b"memory/note.md", "ab12cd34ef"),
            b"memory/note.conflict-ab12cd34.md"
        );
    }

    #[test]
    fn the_other_version_goes_beside_with_its_blob_id() {
        assert_eq!(
            beside_name(b"notes/a.png", "1a2b3c4d5e6f"),
            b"notes/a.conflict-1a2b3c4d.png"
        );
        assert_eq!(
            beside_name(b"Makefile", "abcdef0123"),
            b"Makefile.conflict-abcdef01"
        );
        assert_eq!(
            beside_name(b".env", "abcdef0123"),
            b".env.conflict-abcdef01"
        );
    }
}
