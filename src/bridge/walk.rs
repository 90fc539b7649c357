//! Finding the bridged files: the live side walked without following a symlink and without
//! going into folders that cannot hold a synced file; the repository side, where a committed
//! symlink is reported, never followed; and the working folders transcripts name.

use std::path::{Path, PathBuf};

use super::{live, shown, Found};
use crate::assistants::{self, Class, Place};
use crate::state::Stuck;
use live::Blocked;

/// A project folder's parts: (`projects`, the encoded folder, the rest), for a path in a
/// place whose project folders are under `pd`.
pub(super) fn project_parts<'a>(rel: &'a str, pd: &'a str) -> Option<(&'a str, &'a str, &'a str)> {
    let rest = rel.strip_prefix(pd)?.strip_prefix('/')?;
    let (folder, inner) = rest.split_once('/')?;
    Some((pd, folder, inner))
}

/// Files under `root/rel` of the classes wanted, not following symlinks (a synced one is
/// reported), not going into folders that cannot hold one.
#[allow(clippy::too_many_arguments)]
pub(super) fn walk_live(
    root: &Path,
    rel: &str,
    place: &Place,
    classes: &[Class],
    busy: &[&str],
    out: &mut Vec<String>,
    found: &mut Found,
    name: &str,
) {
    let Ok(entries) = std::fs::read_dir(root.join(rel)) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        if file_name.contains(live::TEMP_MARK)
            || busy.iter().any(|p| assistants::glob_match(p, &file_name))
        {
            continue;
        }
        let child = if rel.is_empty() {
            file_name
        } else {
            format!("{rel}/{file_name}")
        };
        let Ok(ft) = entry.file_type() else { continue };
        if ft.is_dir() {
            if place.may_hold(&child, classes) {
                walk_live(root, &child, place, classes, busy, out, found, name);
            }
        } else if classes.contains(&place.class_of(&child)) {
            if ft.is_symlink() {
                found.stuck.push(Stuck {
                    assistant: name.into(),
                    path: shown(&root.join(&child)),
                    reason: Blocked::Symlink.reason(),
                });
            } else if ft.is_file() {
                out.push(child);
            }
        } else if ft.is_symlink() && place.may_hold(&child, classes) {
            found.stuck.push(Stuck {
                assistant: name.into(),
                path: shown(&root.join(&child)),
                reason: Blocked::Symlink.reason(),
            });
        }
    }
}

/// Files of the repository copy under `work_tree/base/rel`; a symlink there (committed by
/// someone) is reported and never applied.
pub(super) fn walk_repo(
    work_tree: &Path,
    base: &str,
    rel: &str,
    out: &mut Vec<String>,
    found: &mut Found,
    name: &str,
) {
    let dir = work_tree.join(base).join(rel);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let child = if rel.is_empty() {
            file_name
        } else {
            format!("{rel}/{file_name}")
        };
        let Ok(ft) = entry.file_type() else { continue };
        if ft.is_symlink() {
            found.stuck.push(Stuck {
                assistant: name.into(),
                path: format!("{base}/{child}"),
                reason: "a symlink in the repository: never followed or applied".into(),
            });
        } else if ft.is_dir() {
            walk_repo(work_tree, base, &child, out, found, name);
        } else if ft.is_file() {
            out.push(child);
        }
    }
}

/// The working folders (`cwd`) the transcripts under `projects` name: one line of one
/// transcript per project folder is enough.
pub(super) fn transcript_cwds(projects: &Path) -> Vec<PathBuf> {
    use std::io::BufRead;
    let mut cwds = Vec::new();
    let Ok(folders) = std::fs::read_dir(projects) else {
        return cwds;
    };
    for folder in folders.flatten() {
        let Ok(files) = std::fs::read_dir(folder.path()) else {
            continue;
        };
        let transcript = files
            .flatten()
            .map(|f| f.path())
            .find(|p| p.extension().is_some_and(|e| e == "jsonl"));
        let Some(file) = transcript.and_then(|t| std::fs::File::open(t).ok()) else {
            continue;
        };
        for line in std::io::BufReader::new(file)
            .lines()
            .take(20)
            .map_while(Result::ok)
        {
            if let Ok(serde_json::Value::Object(m)) = serde_json::from_str(&line) {
                if let Some(cwd) = m.get("cwd").and_then(|c| c.as_str()) {
                    cwds.push(PathBuf::from(cwd));
                    break;
                }
            }
        }
    }
    cwds
}
