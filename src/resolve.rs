//! Conflicts no merge driver could resolve (a binary file or an unknown format changed on both
//! sides, modify/delete, add/add, what git leaves of rename and file/directory clashes): every
//! version is kept. Where two cannot share the path, the one with the greater blob id stays
//! and the other goes beside it as `NAME.conflict-<short blob id>.EXT`: chosen by content, so
//! two machines resolving the same conflict make the same tree.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::{json, Map, Value};

use crate::repo::Repo;

/// How one path was resolved, for the journal.
pub struct Resolved {
    pub path: String,
    pub beside: Option<String>,
    pub rule: &'static str,
}

/// Resolves every unmerged path left by a merge.
pub fn resolve_all(repo: &Repo) -> Result<Vec<Resolved>> {
    let mut done = Vec::new();
    for (path, stages) in repo.unmerged()? {
        let stage = |n: u8| {
            stages
                .iter()
                .find(|s| s.0 == n)
                .map(|s| (s.1.clone(), s.2.clone()))
        };
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
            let beside = beside_name(&folder, &file.1);
            place(repo, &beside, &file)?;
            unstage(repo, &path)?;
            let _ = fs::remove_file(repo.work_tree.join(&path));
            done.push(Resolved {
                path: folder,
                beside: Some(beside),
                rule: "file-vs-folder",
            });
            continue;
        }
        let resolved = match (ours, theirs) {
            (Some(o), Some(t)) if o.1 == t.1 => {
                place(repo, &path, &o)?;
                Resolved {
                    path,
                    beside: None,
                    rule: "same-content",
                }
            }
            (Some(o), Some(t)) => {
                let (keep, other) = if o.1 > t.1 { (o, t) } else { (t, o) };
                let beside = beside_name(&path, &other.1);
                place(repo, &path, &keep)?;
                place(repo, &beside, &other)?;
                Resolved {
                    path,
                    beside: Some(beside),
                    rule: "kept-both-files",
                }
            }
            (Some(kept), None) | (None, Some(kept)) => {
                // One side deleted what the other changed: the change stays.
                place(repo, &path, &kept)?;
                Resolved {
                    path,
                    beside: None,
                    rule: "modify-beats-delete",
                }
            }
            (None, None) => {
                repo.run(["rm", "--cached", "--quiet", "--ignore-unmatch", "--", &path])?;
                let _ = fs::remove_file(repo.work_tree.join(&path));
                Resolved {
                    path,
                    beside: None,
                    rule: "deleted-on-both",
                }
            }
        };
        done.push(resolved);
    }
    Ok(done)
}

/// The folder a file was moved aside for: git names it `NAME~SIDE` when a folder `NAME`
/// took its place, and only one side has it.
fn moved_aside_for_folder(repo: &Repo, path: &str, one_side: bool) -> Option<String> {
    let (name, side) = path.rsplit_once('~')?;
    (one_side && !side.is_empty() && !side.contains('/') && repo.work_tree.join(name).is_dir())
        .then(|| name.to_string())
}

/// Names that differ only in case (`Note.md`, `note.md`), which a macOS or Windows clone
/// cannot hold both of, brought together by this merge: the one with the greater blob id
/// keeps its name, the other goes beside it as `NAME.conflict-<short blob id>.EXT` (the
/// same content twice: one copy is enough).
pub fn case_clashes(repo: &Repo) -> Result<Vec<Resolved>> {
    let in_head: std::collections::HashSet<String> = repo.tree_paths("HEAD")?.into_iter().collect();
    let mut groups: std::collections::BTreeMap<String, Vec<(String, String, String)>> =
        std::collections::BTreeMap::new();
    for (mode, oid, path) in repo.index()? {
        groups
            .entry(path.to_lowercase())
            .or_default()
            .push((mode, oid, path));
    }
    let mut done = Vec::new();
    for (_, mut group) in groups {
        if group.len() < 2 || group.iter().all(|(_, _, p)| in_head.contains(p)) {
            continue;
        }
        // Greater blob id first (then the greater name): the same choice everywhere.
        group.sort_by(|a, b| b.1.cmp(&a.1).then(b.2.cmp(&a.2)));
        let (keep, others) = group.split_first().expect("two or more");
        for (mode, oid, path) in others {
            unstage(repo, path)?;
            let _ = fs::remove_file(repo.work_tree.join(path));
            if *oid == keep.1 {
                done.push(Resolved {
                    path: path.clone(),
                    beside: Some(keep.2.clone()),
                    rule: "case-clash-same-content",
                });
                continue;
            }
            let beside = beside_name(path, oid);
            place(repo, &beside, &(mode.clone(), oid.clone()))?;
            done.push(Resolved {
                path: keep.2.clone(),
                beside: Some(beside),
                rule: "case-clash",
            });
        }
        // Written again: on a file system that ignores case, removing the other name
        // removed this one.
        place(repo, &keep.2, &(keep.0.clone(), keep.1.clone()))?;
    }
    Ok(done)
}

fn unstage(repo: &Repo, path: &str) -> Result<()> {
    repo.run(["update-index", "--force-remove", "--", path])
        .map(drop)
}

/// `notes/a.png` with blob `1a2b3c…` → `notes/a.conflict-1a2b3c4d.png`.
pub fn beside_name(path: &str, oid: &str) -> String {
    let short = &oid[..8.min(oid.len())];
    let (dir, name) = match path.rfind('/') {
        Some(i) => (&path[..=i], &path[i + 1..]),
        None => ("", path),
    };
    match name.rfind('.').filter(|&i| i > 0) {
        Some(i) => format!("{dir}{}.conflict-{short}{}", &name[..i], &name[i..]),
        None => format!("{dir}{name}.conflict-{short}"),
    }
}

/// Puts blob `oid` (with `mode`) at `path` in the index and the working tree.
fn place(repo: &Repo, path: &str, (mode, oid): &(String, String)) -> Result<()> {
    let file = repo.work_tree.join(path);
    if let Some(dir) = file.parent() {
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let bytes = repo.blob(oid)?;
    write_file(&file, &bytes, mode == "100755")?;
    // Drop the conflict stages, then stage exactly this blob.
    repo.run(["rm", "--cached", "--quiet", "--ignore-unmatch", "--", path])?;
    repo.run([
        "update-index",
        "--add",
        "--cacheinfo",
        &format!("{mode},{oid},{path}"),
    ])?;
    Ok(())
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
            beside_name("memory/note.md", "ab12cd34ef"),
            "memory/note.conflict-ab12cd34.md"
        );
    }

    #[test]
    fn the_other_version_goes_beside_with_its_blob_id() {
        assert_eq!(
            beside_name("notes/a.png", "1a2b3c4d5e6f"),
            "notes/a.conflict-1a2b3c4d.png"
        );
        assert_eq!(
            beside_name("Makefile", "abcdef0123"),
            "Makefile.conflict-abcdef01"
        );
        assert_eq!(beside_name(".env", "abcdef0123"), ".env.conflict-abcdef01");
    }
}
