//! The repository, and the only place that talks to git: gix for reads where it can, the
//! git CLI (through [`command::Git`], the one builder) for the rest.
//!
//! - `command`: the child process builder (safe environment, time limits, cycle mode)
//! - `error`: the failures callers tell apart
//! - `config`: settings in force, remote URLs as git resolves them
//! - `refs`: refs, HEAD, ancestry
//! - `index`: the index, the cycle's scratch index, the working tree's status
//! - `index_file`: the index file read in process (for pre-commit)
//! - `objects`: blobs, trees, what commits add
//! - `commit`: making commits (identity, in process where gix can)
//! - `merge`: merges and pushes, with their typed failures
//! - `transport`: the SSH command git's transport runs

pub mod command;
mod commit;
mod config;
pub mod error;
mod index;
mod index_file;
mod merge;
mod objects;
mod refs;
mod transport;

use std::cell::{Cell, OnceCell};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

pub use command::{Cycle, Git, IN_CYCLE};
pub use error::{Blocked, GitError};
pub use index::{IndexChange, IndexEntry, Stage, Staged};
pub use merge::MergeHow;

/// A repository with a working tree, as git-aisync works on it.
pub struct Repo {
    pub work_tree: PathBuf,
    pub git_dir: PathBuf,
    /// Every config value in force, read once on first use.
    settings: OnceCell<config::Settings>,
    /// The object database as gix reads it, opened once on first use (`None`: gix cannot
    /// open the repository, and git answers instead).
    objects: OnceCell<Option<gix::Repository>>,
    /// Whether the git children made now belong to a sync cycle (see [`Repo::enter_cycle`]).
    cycle: Cell<Cycle>,
}

/// Where a repository is, found by reading files alone (the merge driver runs inside git's
/// own merge and must not run git): its git directory and, unless bare, its working tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub git_dir: PathBuf,
    pub work_tree: Option<PathBuf>,
}

impl Location {
    /// The repository for `start`: `$GIT_DIR` when git set it, else the nearest `.git` (a
    /// directory, or a file pointing at a linked worktree's directory), walking up.
    pub fn find(start: &Path) -> Option<Location> {
        if let Some(dir) = std::env::var_os("GIT_DIR") {
            let dir = PathBuf::from(dir);
            let work_tree = std::env::var_os("GIT_WORK_TREE").map(PathBuf::from);
            return Some(Location {
                git_dir: if dir.is_absolute() {
                    dir
                } else {
                    start.join(dir)
                },
                work_tree: work_tree.or_else(|| Some(start.to_path_buf())),
            });
        }
        for dir in start.ancestors() {
            let dot_git = dir.join(".git");
            let git_dir = if dot_git.is_dir() {
                Some(dot_git)
            } else if dot_git.is_file() {
                linked(&dot_git)
            } else {
                None
            };
            if let Some(git_dir) = git_dir {
                return Some(Location {
                    git_dir,
                    work_tree: Some(dir.to_path_buf()),
                });
            }
            // A bare repository or a `.git` itself: git stops here too (and says so).
            if dir.join("HEAD").is_file() && dir.join("objects").is_dir() {
                return None;
            }
        }
        None
    }

    /// git-aisync's own per-machine files: `<git dir>/aisync/`.
    pub fn state_dir(&self) -> PathBuf {
        state_dir(&self.git_dir)
    }
}

/// A `.git` file says `gitdir: <path>`, relative to the file's directory or absolute.
fn linked(file: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(file).ok()?;
    let target = text.lines().find_map(|l| l.strip_prefix("gitdir:"))?.trim();
    let path = Path::new(target);
    Some(match file.parent() {
        Some(parent) if path.is_relative() => parent.join(path),
        _ => path.to_path_buf(),
    })
}

/// git-aisync's per-machine files in the git directory `git_dir`.
pub fn state_dir(git_dir: &Path) -> PathBuf {
    git_dir.join("aisync")
}

/// A path as git stores it: bytes, never decoded (a name need not be UTF-8), relative to
/// the top of the working tree.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GitPath(Vec<u8>);

impl GitPath {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl<const N: usize> PartialEq<&[u8; N]> for GitPath {
    fn eq(&self, other: &&[u8; N]) -> bool {
        self.0 == other[..]
    }
}

impl From<Vec<u8>> for GitPath {
    fn from(bytes: Vec<u8>) -> GitPath {
        GitPath(bytes)
    }
}

impl From<&[u8]> for GitPath {
    fn from(bytes: &[u8]) -> GitPath {
        GitPath(bytes.to_vec())
    }
}

impl std::ops::Deref for GitPath {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl AsRef<[u8]> for GitPath {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl std::borrow::Borrow<[u8]> for GitPath {
    fn borrow(&self) -> &[u8] {
        &self.0
    }
}

/// A path as text, for the policy's patterns and for records (invalid UTF-8 replaced);
/// never handed back to git. Messages quote names with [`crate::gate::shown`].
pub fn readable(path: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(path)
}

/// A git path as a path under the working tree.
pub fn os_path(path: &[u8]) -> &Path {
    Path::new(<OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(path))
}

/// The NUL-terminated list git reads with `--pathspec-from-file=- --pathspec-file-nul` or
/// `-z --stdin`.
fn nul_separated<P: AsRef<[u8]>>(paths: &[P]) -> Vec<u8> {
    let mut input = Vec::new();
    for p in paths {
        input.extend_from_slice(p.as_ref());
        input.push(0);
    }
    input
}

/// The non-empty NUL-terminated records of `-z` output.
fn nul_split(out: &[u8]) -> impl Iterator<Item = &[u8]> {
    out.split(|&b| b == 0).filter(|e| !e.is_empty())
}

/// The git directory refs live in: a linked worktree's `commondir`, else `git_dir` itself.
pub fn common_dir(git_dir: &Path) -> PathBuf {
    std::fs::read_to_string(git_dir.join("commondir"))
        .ok()
        .map(|c| git_dir.join(c.trim()))
        .unwrap_or_else(|| git_dir.to_path_buf())
}

/// `git ARGS` in `dir`, for git children that run without a repository yet (`git init`,
/// `git --version`): the one builder all the same.
pub fn git_in<I, S>(dir: &Path, args: I) -> Git
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Git::new(dir, args)
}

impl Repo {
    /// The repository around `cwd`, found by reading files where it can (hooks and the
    /// cycle run often: every git process saved counts), else by asking git.
    pub fn find(cwd: &Path) -> Result<Repo> {
        match Location::find(cwd) {
            Some(Location {
                git_dir,
                work_tree: Some(work_tree),
            }) => Ok(Repo::at(work_tree, git_dir)),
            _ => Repo::discover(cwd),
        }
    }

    /// The repository around `dir`, with a working tree, as git finds it.
    pub fn discover(dir: &Path) -> Result<Repo> {
        let out = git_in(
            dir,
            ["rev-parse", "--is-bare-repository", "--absolute-git-dir"],
        )
        .output()?;
        if !out.success {
            bail!("{} is not inside a git repository: run `git init` there first, or cd into your repo", dir.display());
        }
        let mut lines = out.stdout.lines();
        if lines.next() == Some("true") {
            bail!(
                "{} is a bare repository: run this in a clone with a working tree",
                dir.display()
            );
        }
        let git_dir = PathBuf::from(lines.next().unwrap_or_default());
        let top = git_in(dir, ["rev-parse", "--show-toplevel"]).output()?;
        if !top.success {
            bail!(
                "{} is inside a git directory, not a working tree: cd to the top of your repo",
                dir.display()
            );
        }
        Ok(Repo::at(
            PathBuf::from(top.stdout.trim_end_matches('\n')),
            git_dir,
        ))
    }

    fn at(work_tree: PathBuf, git_dir: PathBuf) -> Repo {
        Repo {
            work_tree,
            git_dir,
            settings: OnceCell::new(),
            objects: OnceCell::new(),
            cycle: Cell::new(Cycle::Outside),
        }
    }

    /// git-aisync's per-machine files.
    pub fn state_dir(&self) -> PathBuf {
        state_dir(&self.git_dir)
    }

    /// From now on (until the guard is dropped), the git children made through this
    /// repository do git-aisync's own work (a sync cycle, init's first commit and push):
    /// their hooks see it and start no cycle (no loops, no storms, no background push racing
    /// ours), and they run no hooks at all, unless the repository uses git-lfs, which uploads
    /// its objects from pre-push (without them other machines would get pointers to objects
    /// that exist nowhere else).
    pub fn enter_cycle(&self) -> CycleGuard<'_> {
        let lfs = self.any_setting(|key| key.starts_with("filter.lfs."));
        let before = self.cycle.replace(if lfs {
            Cycle::InsideWithHooks
        } else {
            Cycle::Inside
        });
        CycleGuard { repo: self, before }
    }

    /// `git ARGS` in the working tree.
    pub fn git<I, S>(&self, args: I) -> Git
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Git::new(&self.work_tree, args).cycle(self.cycle.get())
    }

    /// A git command that talks to a remote (fetch, push, ls-remote): a longer time limit,
    /// SSH in batch mode through the user's own SSH setup, and git's messages in English:
    /// what a remote said is read to tell a refused key or credential from an outage, and
    /// the person reads git-aisync's own sentence about it.
    pub fn git_remote<I, S>(&self, args: I) -> Git
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.git(args)
            .remote()
            .env("GIT_SSH_COMMAND", self.ssh_command())
            .env("LC_ALL", "C")
            .env("LANGUAGE", "C")
    }

    /// Whether HEAD points at a commit yet.
    pub fn has_commits(&self) -> Result<bool> {
        Ok(self
            .git(["rev-parse", "--verify", "--quiet", "HEAD"])
            .succeeds()?)
    }
}

/// Restores the repository's cycle mode when dropped.
pub struct CycleGuard<'r> {
    repo: &'r Repo,
    before: Cycle,
}

impl Drop for CycleGuard<'_> {
    fn drop(&mut self) {
        self.repo.cycle.set(self.before);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_linked_worktree_dir() {
        let tmp = tempfile::tempdir().unwrap();
        let sub = tmp.path().join("wt/sub");
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(
            tmp.path().join("wt/.git"),
            "gitdir: ../main/.git/worktrees/wt\n",
        )
        .unwrap();
        if std::env::var_os("GIT_DIR").is_none() {
            let found = Location::find(&sub).unwrap();
            assert_eq!(
                found.git_dir,
                tmp.path().join("wt/../main/.git/worktrees/wt")
            );
            assert_eq!(found.work_tree, Some(tmp.path().join("wt")));
        }
    }
}
