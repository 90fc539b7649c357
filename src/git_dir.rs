//! Finding the git directory without running git: the merge driver must not run git (it runs
//! inside git's own merge), so it reads `.git` (a directory, or a file pointing at a linked
//! worktree's directory) from the directory git runs it in, walking up.

use std::fs;
use std::path::{Path, PathBuf};

/// Where a repository keeps its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repo {
    pub git_dir: PathBuf,
    /// The top of the working tree, when the repository has one.
    pub work_tree: Option<PathBuf>,
}

impl Repo {
    /// git-aisync's own per-machine files: `<git dir>/aisync/`.
    pub fn state_dir(&self) -> PathBuf {
        self.git_dir.join("aisync")
    }
}

/// The repository for `start`: `$GIT_DIR` when git set it, else the nearest `.git`.
pub fn find(start: &Path) -> Option<Repo> {
    if let Some(dir) = std::env::var_os("GIT_DIR") {
        let dir = PathBuf::from(dir);
        let work_tree = std::env::var_os("GIT_WORK_TREE").map(PathBuf::from);
        return Some(Repo {
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
            return Some(Repo {
                git_dir,
                work_tree: Some(dir.to_path_buf()),
            });
        }
    }
    None
}

/// A `.git` file says `gitdir: <path>`, relative to the file's directory or absolute.
fn linked(file: &Path) -> Option<PathBuf> {
    let text = fs::read_to_string(file).ok()?;
    let target = text.lines().find_map(|l| l.strip_prefix("gitdir:"))?.trim();
    let path = Path::new(target);
    Some(match file.parent() {
        Some(parent) if path.is_relative() => parent.join(path),
        _ => path.to_path_buf(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_linked_worktree_dir() {
        let tmp = std::env::temp_dir().join(format!("aisync-gitdir-{}", std::process::id()));
        let sub = tmp.join("wt/sub");
        fs::create_dir_all(&sub).unwrap();
        fs::write(tmp.join("wt/.git"), "gitdir: ../main/.git/worktrees/wt\n").unwrap();
        if std::env::var_os("GIT_DIR").is_none() {
            let repo = find(&sub).unwrap();
            assert_eq!(repo.git_dir, tmp.join("wt/../main/.git/worktrees/wt"));
            assert_eq!(repo.work_tree, Some(tmp.join("wt")));
        }
        fs::remove_dir_all(&tmp).unwrap();
    }
}
