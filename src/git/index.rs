//! The index: the repository's own, the cycle's scratch index (so what a person staged is
//! never swept in), and the working tree's status as git reports it.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::command::Git;
use super::index_file;
use super::{nul_split, GitPath, Repo};

const ZERO_OID: &str = "0000000000000000000000000000000000000000";

/// An index entry: mode (`"0"`: none), blob id, path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexEntry {
    pub mode: String,
    pub oid: String,
    pub path: GitPath,
}

/// How a path differs between a tree and an index (`git diff --raw`): the entry before and
/// after (mode `"0"` where there is none).
#[derive(Clone, Debug)]
pub struct IndexChange {
    pub before: IndexEntry,
    pub after: IndexEntry,
}

/// A scratch index of the cycle's own (see [`Repo::scratch_index`]); gone when dropped,
/// unless kept for the next cycle.
pub struct Scratch<'r> {
    repo: &'r Repo,
    path: PathBuf,
    kept: std::cell::Cell<bool>,
    /// The tree of the commit it was made on.
    pub base_tree: Option<String>,
}

impl Scratch<'_> {
    /// `git ARGS` on this index, names taken literally.
    fn git<const N: usize>(&self, args: [&str; N]) -> Git {
        self.repo.git(args).index(&self.path).literal_pathspecs()
    }

    /// Stages these paths as they are in the working tree now, names taken literally.
    pub fn add(&self, paths: &[GitPath]) -> Result<()> {
        self.git(["add", "-A", "--pathspec-from-file=-", "--pathspec-file-nul"])
            .run_on(paths)?;
        Ok(())
    }

    /// Takes these paths out of the index (a file deleted, or now a folder).
    pub fn remove(&self, paths: &[GitPath]) -> Result<()> {
        self.git(["update-index", "-z", "--force-remove", "--stdin"])
            .run_on(paths)?;
        Ok(())
    }

    /// Sets entries (`mode == "0"`: the path leaves the index).
    pub fn set(&self, entries: &[IndexEntry]) -> Result<()> {
        self.repo.set_entries(Some(&self.path), entries)
    }

    /// How this index differs from `base` (none: the empty tree), submodules included.
    pub fn changes(&self, base: Option<&str>) -> Result<Vec<IndexChange>> {
        let empty;
        let base = match base {
            Some(b) => b,
            None => {
                empty = self
                    .git(["hash-object", "-t", "tree", "--stdin"])
                    .stdin(Vec::new())
                    .run()?
                    .stdout
                    .trim()
                    .to_string();
                &empty
            }
        };
        let out = self
            .git([
                "diff-index",
                "--cached",
                "--raw",
                "-z",
                "--no-renames",
                "--no-abbrev",
                base,
            ])
            .run_bytes()?;
        // `:<old mode> <new mode> <old id> <new id> <status>` NUL `<path>` NUL, per path.
        let mut fields = out.split(|&b| b == 0);
        let mut list = Vec::new();
        while let (Some(meta), Some(path)) = (fields.next(), fields.next()) {
            let meta = String::from_utf8_lossy(meta);
            let parts: Vec<&str> = meta.trim_start_matches(':').split(' ').collect();
            if let [old_mode, new_mode, old_id, new_id, _] = parts[..] {
                let entry = |mode: &str, oid: &str| IndexEntry {
                    mode: if mode.trim_start_matches('0').is_empty() {
                        "0".into()
                    } else {
                        mode.into()
                    },
                    oid: oid.into(),
                    path: path.into(),
                };
                list.push(IndexChange {
                    before: entry(old_mode, old_id),
                    after: entry(new_mode, new_id),
                });
            }
        }
        Ok(list)
    }

    /// The entries this index holds for exactly these paths.
    pub fn entries(&self, paths: &[GitPath]) -> Result<Vec<IndexEntry>> {
        if paths.is_empty() {
            return Ok(Vec::new());
        }
        // (ls-files reads no pathspec file: the whole index, then only these paths.)
        let out = self.git(["ls-files", "-s", "-z"]).run_bytes()?;
        let wanted: std::collections::HashSet<&[u8]> =
            paths.iter().map(GitPath::as_bytes).collect();
        let mut list = Vec::new();
        for entry in out.split(|&b| b == 0) {
            // "<mode> <oid> <stage>\t<path>"
            let Some(tab) = entry.iter().position(|&b| b == b'\t') else {
                continue;
            };
            let (meta, path) = (String::from_utf8_lossy(&entry[..tab]), &entry[tab + 1..]);
            let parts: Vec<&str> = meta.split(' ').collect();
            if let ([mode, oid, _], true) = (&parts[..], wanted.contains(path)) {
                list.push(IndexEntry {
                    mode: mode.to_string(),
                    oid: oid.to_string(),
                    path: path.into(),
                });
            }
        }
        Ok(list)
    }

    /// The tree this index holds.
    pub fn write_tree(&self) -> Result<String> {
        Ok(self.git(["write-tree"]).run()?.stdout.trim().to_string())
    }
}

impl Scratch<'_> {
    /// Keeps this index for the next cycle, saying it holds `tree` (HEAD's tree now).
    pub fn keep(&self, tree: &str) {
        let holds = self.path.with_extension("cycle.tree");
        self.kept.set(std::fs::write(holds, tree).is_ok());
    }
}

impl Drop for Scratch<'_> {
    fn drop(&mut self) {
        if !self.kept.get() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// `<meta>\t<path>` (an `ls-files -s` line): the meta as text, the path as bytes.
fn meta_and_path(entry: &[u8]) -> Option<(&str, &[u8])> {
    let tab = entry.iter().position(|&b| b == b'\t')?;
    Some((std::str::from_utf8(&entry[..tab]).ok()?, &entry[tab + 1..]))
}

/// A file mode as git compares them: any regular file is 100644 or 100755.
fn canonical(mode: u32) -> u32 {
    match mode & 0o170000 {
        0o100000 if mode & 0o111 != 0 => 0o100755,
        0o100000 => 0o100644,
        _ => mode,
    }
}

/// The files of HEAD's tree `tree` under `prefix` (mode and blob), read in process; a folder
/// whose tree the index's cache tree holds too goes into `same` unread: nothing under it is
/// staged. `None` when an object cannot be read.
fn head_files(
    repo: &gix::Repository,
    tree: gix::ObjectId,
    prefix: Vec<u8>,
    cached: &std::collections::HashMap<Vec<u8>, index_file::Oid>,
    files: &mut std::collections::HashMap<Vec<u8>, (u32, index_file::Oid)>,
    same: &mut std::collections::HashSet<Vec<u8>>,
) -> Option<()> {
    if cached
        .get(&prefix)
        .is_some_and(|c| c.as_slice() == tree.as_slice())
    {
        same.insert(prefix);
        return Some(());
    }
    let tree = repo.find_tree(tree).ok()?;
    let decoded = tree.decode().ok()?;
    for entry in &decoded.entries {
        let mut path = prefix.clone();
        if !path.is_empty() {
            path.push(b'/');
        }
        path.extend_from_slice(entry.filename);
        if entry.mode.is_tree() {
            head_files(repo, entry.oid.to_owned(), path, cached, files, same)?;
        } else {
            let oid: index_file::Oid = entry.oid.as_bytes().try_into().ok()?;
            files.insert(path, (canonical(u32::from(entry.mode.value())), oid));
        }
    }
    Some(())
}

/// One stage of an unmerged path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stage {
    /// 1 base, 2 ours, 3 theirs.
    pub number: u8,
    pub mode: String,
    pub oid: String,
}

/// A file the next commit adds or changes, and the blob it will hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Staged {
    pub path: GitPath,
    pub oid: String,
}

/// A path `git status` reports: its two status letters (`XY`, e.g. ` M`, `??`, `!!`) and
/// the path as bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusEntry {
    pub status: [u8; 2],
    pub path: GitPath,
}

impl StatusEntry {
    /// Something is staged for it (an index status letter other than ` `, `?`, `!`).
    pub fn is_staged(&self) -> bool {
        !matches!(self.status[0], b' ' | b'?' | b'!')
    }

    /// Ignored by git (`!!`, listed with `--ignored`).
    pub fn is_ignored(&self) -> bool {
        &self.status == b"!!"
    }

    /// Not tracked (`??`).
    pub fn is_untracked(&self) -> bool {
        &self.status == b"??"
    }
}

impl Repo {
    /// What the next commit adds or changes, submodules aside: the index against HEAD.
    /// The index is `GIT_INDEX_FILE` where git set one (`git commit -a` and `git commit
    /// PATHS` stage into an index of their own, and run pre-commit on it), else the
    /// repository's. Read in process where it can be (pre-commit runs on every commit),
    /// else by `git diff --cached`.
    pub fn staged(&self) -> Result<Vec<Staged>> {
        let index = match std::env::var_os("GIT_INDEX_FILE") {
            Some(p) if Path::new(&p).is_absolute() => Some(PathBuf::from(p)),
            Some(p) => Some(
                std::env::current_dir()
                    .context("cannot read the current directory")?
                    .join(p),
            ),
            None => None,
        };
        let file = index.clone().unwrap_or_else(|| self.git_dir.join("index"));
        if let Some(staged) = self.staged_in_process(&file) {
            return Ok(staged);
        }
        let mut git = self.git([
            "diff",
            "--cached",
            "--raw",
            "-z",
            "--no-abbrev",
            "--no-renames",
            // T: a symlink or submodule that became a file has content to scan too.
            "--diff-filter=ACMRT",
        ]);
        if let Some(index) = &index {
            git = git.index(index);
        }
        let out = git.output_bytes()?;
        if !out.success {
            bail!("cannot list the staged files: {}", out.stderr.trim());
        }
        // `:<old mode> <new mode> <old id> <new id> <status>` NUL `<path>` NUL, per file.
        let mut fields = out.stdout.split(|&b| b == 0);
        let mut staged = Vec::new();
        while let (Some(meta), Some(path)) = (fields.next(), fields.next()) {
            let meta = String::from_utf8_lossy(meta);
            let parts: Vec<&str> = meta.trim_start_matches(':').split(' ').collect();
            if let [_, mode, _, oid, _] = parts[..] {
                if mode != "160000" {
                    staged.push(Staged {
                        path: path.into(),
                        oid: oid.to_string(),
                    });
                }
            }
        }
        Ok(staged)
    }

    /// [`Repo::staged`] without git: the index file at `file` against HEAD's tree, folders
    /// whose cached tree is HEAD's skipped unread (as git does). `None` where git must
    /// answer: an index this reader does not take, an unmerged path, refs in a reftable,
    /// objects gix cannot read.
    fn staged_in_process(&self, file: &Path) -> Option<Vec<Staged>> {
        if super::common_dir(&self.git_dir).join("reftable").exists() {
            return None;
        }
        let index = index_file::read(file)?;
        if index.entries.iter().any(|e| e.stage != 0) {
            return None;
        }
        let repo = self.objects()?;
        let head = repo.head().ok()?;
        let mut files = std::collections::HashMap::new();
        let mut same = std::collections::HashSet::new();
        if !head.is_unborn() {
            let commit = repo.find_commit(head.id()?.detach()).ok()?;
            let tree = commit.tree_id().ok()?.detach();
            head_files(repo, tree, Vec::new(), &index.trees, &mut files, &mut same)?;
        }
        let unchanged = |e: &index_file::Entry| {
            // Under a folder whose tree is HEAD's, or the same mode and blob as HEAD's.
            let under_same = same.contains(b"".as_slice())
                || e.path
                    .iter()
                    .enumerate()
                    .any(|(i, &b)| b == b'/' && same.contains(&e.path[..i]));
            under_same || files.get(&e.path) == Some(&(canonical(e.mode), e.oid))
        };
        Some(
            index
                .entries
                .iter()
                // A submodule has no content here; `git add -N` adds nothing yet.
                .filter(|e| e.mode != 0o160000 && !e.intent_to_add && !unchanged(e))
                .map(|e| Staged {
                    path: e.path.as_slice().into(),
                    oid: index_file::hex(&e.oid),
                })
                .collect(),
        )
    }

    /// Changed, deleted and untracked paths. Paths stay bytes, as git has them: a name that
    /// is not UTF-8 must still reach git unchanged.
    pub fn changes(&self) -> Result<Vec<StatusEntry>> {
        let out = self
            .git([
                "status",
                "--porcelain=v1",
                "-z",
                "--untracked-files=all",
                "--no-renames",
            ])
            .literal_pathspecs()
            .run_bytes()?;
        Ok(out
            .split(|&b| b == 0)
            .filter(|entry| entry.len() > 3)
            .map(|entry| StatusEntry {
                status: [entry[0], entry[1]],
                path: entry[3..].into(),
            })
            .collect())
    }

    /// An index of the cycle's own (`GIT_INDEX_FILE`) holding `base`'s tree (nothing for an
    /// unborn branch): the cycle builds its commit there, so what a person staged is never
    /// swept in, and what it scans is exactly what it commits. The last cycle's index is
    /// taken again when it holds `base`'s tree (it said so with [`Scratch::keep`]), its file
    /// times included: `git add` then hashes only what changed.
    pub fn scratch_index(&self, base: Option<&str>) -> Result<Scratch<'_>> {
        let path = self.state_dir().join("index.cycle");
        let holds = path.with_extension("cycle.tree");
        std::fs::create_dir_all(self.state_dir())
            .with_context(|| format!("cannot create {}", self.state_dir().display()))?;
        let kept = std::fs::read_to_string(&holds).ok();
        // Gone before the index changes: a cycle killed now leaves no claim behind.
        let _ = std::fs::remove_file(&holds);
        let _ = std::fs::remove_file(path.with_extension("cycle.lock"));
        let base_tree = match base {
            Some(b) => self.tree_of(b)?,
            None => None,
        };
        let scratch = Scratch {
            repo: self,
            path,
            kept: std::cell::Cell::new(false),
            base_tree,
        };
        if kept.is_some() && kept.as_deref().map(str::trim) == scratch.base_tree.as_deref() {
            return Ok(scratch);
        }
        // Left by a cycle that was killed, or made for another tree.
        let _ = std::fs::remove_file(&scratch.path);
        match base {
            Some(base) => scratch.git(["read-tree", base]).run()?,
            None => scratch.git(["read-tree", "--empty"]).run()?,
        };
        Ok(scratch)
    }

    /// Sets index entries (`mode == "0"`: the path leaves the index) in the repository's
    /// own index, or in `index`.
    fn set_entries(&self, index: Option<&Path>, entries: &[IndexEntry]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut input = Vec::new();
        for e in entries {
            let oid = if e.mode == "0" { ZERO_OID } else { &e.oid };
            input.extend_from_slice(format!("{} {oid}\t", e.mode).as_bytes());
            input.extend_from_slice(&e.path);
            input.push(0);
        }
        let mut git = self
            .git(["update-index", "-z", "--index-info"])
            .literal_pathspecs()
            .stdin(input);
        if let Some(index) = index {
            git = git.index(index);
        }
        git.run()?;
        Ok(())
    }

    /// Puts `entries` in the repository's index as they are (a stage-0 entry replaces a
    /// path's conflict stages; mode "0" removes the path), names taken as bytes.
    pub fn stage_entries(&self, entries: &[IndexEntry]) -> Result<()> {
        self.set_entries(None, entries)
    }

    /// Puts exactly `paths` as commit `source` has them, in the index and the work tree (a
    /// path `source` lacks is removed).
    pub fn restore_paths(&self, source: &str, paths: &[GitPath]) -> Result<()> {
        let source = format!("--source={source}");
        self.git([
            "restore",
            &source,
            "--staged",
            "--worktree",
            "--pathspec-from-file=-",
            "--pathspec-file-nul",
        ])
        .run_on(paths)?;
        Ok(())
    }

    /// Stages exactly these paths (additions, changes, deletions), names taken literally.
    pub fn add_paths(&self, paths: &[String]) -> Result<()> {
        self.git(["add", "-A", "--pathspec-from-file=-", "--pathspec-file-nul"])
            .run_on(paths)?;
        Ok(())
    }

    /// The index's merged entries.
    pub fn index(&self) -> Result<Vec<IndexEntry>> {
        let out = self
            .git(["ls-files", "-s", "-z"])
            .literal_pathspecs()
            .run_bytes()?;
        let mut list = Vec::new();
        for (meta, path) in nul_split(&out).filter_map(meta_and_path) {
            if let [mode, oid, "0"] = meta.split(' ').collect::<Vec<_>>()[..] {
                list.push(IndexEntry {
                    mode: mode.to_string(),
                    oid: oid.to_string(),
                    path: path.into(),
                });
            }
        }
        Ok(list)
    }

    /// Unmerged index entries: each path with its stages.
    pub fn unmerged(&self) -> Result<Vec<(GitPath, Vec<Stage>)>> {
        let out = self
            .git(["ls-files", "-u", "-z"])
            .literal_pathspecs()
            .run_bytes()?;
        let mut by_path: Vec<(GitPath, Vec<Stage>)> = Vec::new();
        for (meta, path) in nul_split(&out).filter_map(meta_and_path) {
            // "<mode> <oid> <stage>"
            let mut parts = meta.split(' ');
            let (Some(mode), Some(oid), Some(stage)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let stage = Stage {
                number: stage.parse().unwrap_or(0),
                mode: mode.into(),
                oid: oid.into(),
            };
            match by_path.last_mut() {
                Some((p, stages)) if p.as_bytes() == path => stages.push(stage),
                _ => by_path.push((path.into(), vec![stage])),
            }
        }
        Ok(by_path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::git_in;

    fn git(dir: &Path, args: &[&str]) {
        let out = git_in(dir, args).output().unwrap();
        assert!(out.success, "git {args:?}: {}", out.stderr);
    }

    /// What `git diff --cached` lists (the reference), as (path, blob).
    fn by_git(dir: &Path) -> Vec<(Vec<u8>, String)> {
        let out = git_in(
            dir,
            [
                "diff",
                "--cached",
                "--raw",
                "-z",
                "--no-abbrev",
                "--no-renames",
                "--diff-filter=ACMRT",
            ],
        )
        .output_bytes()
        .unwrap();
        let mut fields = out.stdout.split(|&b| b == 0);
        let mut list = Vec::new();
        while let (Some(meta), Some(path)) = (fields.next(), fields.next()) {
            let meta = String::from_utf8_lossy(meta);
            let parts: Vec<&str> = meta.split(' ').collect();
            if parts[1] != "160000" {
                list.push((path.to_vec(), parts[3].to_string()));
            }
        }
        list
    }

    fn in_process(dir: &Path) -> Vec<(Vec<u8>, String)> {
        let repo = Repo::find(dir).unwrap();
        repo.staged_in_process(&repo.git_dir.join("index"))
            .expect("read in process")
            .into_iter()
            .map(|s| (s.path.as_bytes().to_vec(), s.oid))
            .collect()
    }

    #[test]
    fn the_staged_files_read_in_process_are_the_ones_git_diff_cached_lists() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        git(dir, &["init", "-q", "-b", "main"]);
        let write = |name: &str, text: &str| {
            let p = dir.join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        let commit = |msg: &str| {
            git(
                dir,
                &[
                    "-c",
                    "user.name=T",
                    "-c",
                    "user.email=t@e",
                    "commit",
                    "-q",
                    "--no-verify",
                    "-m",
                    msg,
                ],
            )
        };
        // An unborn branch: everything staged is new.
        write("a.md", "a\n");
        write("memory/deep/x.json", "{}\n");
        write("memory/notes.md", "- n\n");
        write("rules/r.md", "r\n");
        git(dir, &["add", "-A"]);
        assert_eq!(in_process(dir), by_git(dir));
        assert_eq!(in_process(dir).len(), 4);
        commit("one");
        assert!(in_process(dir).is_empty(), "nothing staged");
        // A change deep down, a new file, a deletion, a mode change, a symlink, an intent
        // to add, a file that became a folder.
        write("memory/deep/x.json", "{\"a\": 1}\n");
        write("memory/new.md", "new\n");
        git(dir, &["rm", "-q", "--cached", "rules/r.md"]);
        std::os::unix::fs::symlink("a.md", dir.join("link")).unwrap();
        write("later.md", "later\n");
        git(dir, &["add", "memory", "link"]);
        git(dir, &["update-index", "--chmod=+x", "memory/notes.md"]);
        git(dir, &["add", "-N", "later.md"]);
        git(dir, &["rm", "-q", "--cached", "a.md"]);
        std::fs::remove_file(dir.join("a.md")).unwrap();
        write("a.md/inside.md", "in\n");
        git(dir, &["add", "a.md/inside.md"]);
        let listed = in_process(dir);
        assert_eq!(listed, by_git(dir));
        assert_eq!(listed.len(), 5, "{listed:?}");
        assert!(
            listed.iter().any(|(p, _)| p == b"memory/notes.md"),
            "the mode"
        );
        // With the cache tree filled (write-tree), the folders HEAD has unchanged are
        // skipped: the same answer.
        git(dir, &["rm", "-q", "--cached", "later.md"]);
        git(dir, &["write-tree"]);
        assert_eq!(in_process(dir), by_git(dir));
        commit("two");
        git(dir, &["write-tree"]);
        assert!(in_process(dir).is_empty());
        // One change after the cache tree was written: only its folder is read.
        write("memory/deep/x.json", "{\"a\": 2}\n");
        git(dir, &["add", "memory/deep/x.json"]);
        assert_eq!(in_process(dir), by_git(dir));
        assert_eq!(in_process(dir).len(), 1);
    }

    #[test]
    fn an_unmerged_index_is_left_to_git() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        git(dir, &["init", "-q", "-b", "main"]);
        let repo = Repo::find(dir).unwrap();
        // Stage 2 of a path, as a merge leaves it.
        let out = git_in(dir, ["hash-object", "-w", "--stdin"])
            .stdin(b"x\n".to_vec())
            .output()
            .unwrap();
        let info = format!("100644 {} 2\tc.md\n", out.stdout.trim());
        git_in(dir, ["update-index", "--index-info"])
            .stdin(info.into_bytes())
            .output()
            .unwrap();
        assert!(repo
            .staged_in_process(&repo.git_dir.join("index"))
            .is_none());
    }
}
