//! Objects: commits, trees and blobs, read by gix in process where it can (a cycle runs
//! often), else by git; and what a range of commits adds, for the secret scan.

use std::ffi::OsStr;

use anyhow::{bail, Context, Result};

use super::{nul_split, GitPath, Repo};

impl Repo {
    /// The repository opened by gix, once: config and object reads without a git process.
    pub(super) fn objects(&self) -> Option<&gix::Repository> {
        self.objects
            .get_or_init(|| gix::open(&self.git_dir).ok())
            .as_ref()
    }

    /// A commit read in process: (its tree, its parents). `None` when `rev` is not a full
    /// object id or gix cannot read it (git is asked then).
    pub(super) fn commit_read(&self, rev: &str) -> Option<(String, Vec<String>)> {
        let id = gix::ObjectId::from_hex(rev.as_bytes()).ok()?;
        let commit = self.objects()?.find_commit(id).ok()?;
        let tree = commit.tree_id().ok()?.to_string();
        let parents = commit.parent_ids().map(|p| p.to_string()).collect();
        Some((tree, parents))
    }

    /// The tree of commit `commit`, if there is such a commit.
    pub fn tree_of(&self, commit: &str) -> Result<Option<String>> {
        if let Some((tree, _)) = self.commit_read(commit) {
            return Ok(Some(tree));
        }
        let out = self
            .git([
                "rev-parse",
                "--verify",
                "--quiet",
                &format!("{commit}^{{tree}}"),
            ])
            .output()?;
        Ok(out.success.then(|| out.stdout.trim().to_string()))
    }

    /// Paths whose content differs between commits `a` and `b` (within `limit`, names
    /// taken literally, when given), as bytes.
    pub fn changed_between(&self, a: &str, b: &str, limit: &[String]) -> Result<Vec<GitPath>> {
        let mut args = vec!["diff", "--name-only", "-z", "--no-renames", a, b, "--"];
        args.extend(limit.iter().map(String::as_str));
        let out = self.git(args).literal_pathspecs().run_bytes()?;
        Ok(nul_split(&out).map(GitPath::from).collect())
    }

    /// A blob's bytes.
    pub fn blob(&self, oid: &str) -> Result<Vec<u8>> {
        let out = self.git(["cat-file", "blob", oid]).output_bytes()?;
        if !out.success {
            bail!("cannot read blob {oid}: {}", out.stderr.trim());
        }
        Ok(out.stdout)
    }

    /// The blobs `ids` read by gix; `None` if any cannot be (git is asked then).
    fn blobs_in_process(&self, ids: &[&str]) -> Option<Vec<Vec<u8>>> {
        let repo = self.objects()?;
        ids.iter()
            .map(|id| {
                let id = gix::ObjectId::from_hex(id.as_bytes()).ok()?;
                let mut blob = repo.find_blob(id).ok()?;
                Some(blob.take_data())
            })
            .collect()
    }

    /// Every file path in the tree of `rev` (none when it does not exist).
    pub fn tree_paths(&self, rev: &str) -> Result<Vec<GitPath>> {
        // No such commit (an unborn branch): no paths.
        let Ok(out) = self
            .git(["ls-tree", "-r", "-z", "--name-only", rev])
            .run_bytes()
        else {
            return Ok(Vec::new());
        };
        Ok(nul_split(&out).map(GitPath::from).collect())
    }

    /// The contents of the blobs `ids`, in order: read in process, else by one `git
    /// cat-file --batch`.
    pub fn blobs(&self, ids: &[&str]) -> Result<Vec<Vec<u8>>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(blobs) = self.blobs_in_process(ids) {
            return Ok(blobs);
        }
        let mut input = String::new();
        for id in ids {
            input.push_str(id);
            input.push('\n');
        }
        let out = self
            .git(["cat-file", "--batch", "--buffer"])
            .stdin(input.into_bytes())
            .output_bytes()?;
        if !out.success {
            bail!("cannot read the staged contents: {}", out.stderr.trim());
        }
        let stdout = out.stdout;
        // Each answer: "<oid> blob <size>\n<content>\n". Anything else (a missing object,
        // a short answer) is an error: content that cannot be read is not content that
        // passed the scan.
        let mut blobs = Vec::with_capacity(ids.len());
        let mut rest = &stdout[..];
        for id in ids {
            let nl = rest
                .iter()
                .position(|&b| b == b'\n')
                .with_context(|| format!("git cat-file gave no answer for {id}"))?;
            let header = String::from_utf8_lossy(&rest[..nl]).into_owned();
            rest = &rest[nl + 1..];
            let size = match header.split(' ').collect::<Vec<_>>()[..] {
                [_, "blob", size] => size.parse::<usize>().ok(),
                _ => None,
            };
            match size {
                Some(n) if rest.len() > n => {
                    blobs.push(rest[..n].to_vec());
                    rest = &rest[n + 1..];
                }
                _ => bail!("cannot read the staged blob {id}: git cat-file said `{header}`"),
            }
        }
        Ok(blobs)
    }

    /// The blobs the commits in `range` add (`A..B`, or a tip and `--not --remotes`), each
    /// with the path it came at, as bytes: a commit's new and changed files, a merge's only
    /// where it differs from every parent (what matches a parent came from that parent). Read
    /// from `diff-tree -z` on git's own records, so no name is quoted and no attribute
    /// (binary, `-diff`, textconv) hides a file. Each (path, blob) once; submodules aside.
    pub fn added_blobs(&self, range: &[&str]) -> Result<Vec<(GitPath, String)>> {
        let mut args = vec!["rev-list"];
        args.extend_from_slice(range);
        let commits = self.git(args).run()?.stdout;
        if commits.trim().is_empty() {
            return Ok(Vec::new());
        }
        let listed = self
            .git([
                "diff-tree",
                "--stdin",
                "-r",
                "-z",
                "-c",
                "--root",
                "--no-renames",
                "--no-abbrev",
                "--no-commit-id",
                "--no-ext-diff",
            ])
            .stdin(commits.into_bytes())
            .output_bytes()?;
        if !listed.success {
            bail!("cannot list what the commits add: {}", listed.stderr.trim());
        }
        let out = listed.stdout;
        // Per file: `:`×N, N+1 modes, N+1 ids, the status (N parents; the last mode and id
        // are the commit's), NUL, the path, NUL.
        let mut seen = std::collections::HashSet::new();
        let mut added = Vec::new();
        let mut fields = out.split(|&b| b == 0);
        while let (Some(meta), Some(path)) = (fields.next(), fields.next()) {
            let parents = meta.iter().take_while(|&&b| b == b':').count();
            let meta = String::from_utf8_lossy(&meta[parents..]);
            let parts: Vec<&str> = meta.split(' ').collect();
            let (Some(mode), Some(oid)) = (parts.get(parents), parts.get(2 * parents + 1)) else {
                continue;
            };
            let gone = oid.bytes().all(|b| b == b'0');
            if !gone && *mode != "160000" && seen.insert((path.to_vec(), oid.to_string())) {
                added.push((path.into(), oid.to_string()));
            }
        }
        Ok(added)
    }

    /// The entry `path` (bytes, taken literally) has in `commit`: (mode, blob id).
    pub fn tree_entry(&self, commit: &str, path: &[u8]) -> Result<Option<(String, String)>> {
        use std::os::unix::ffi::OsStrExt;
        let args: [&OsStr; 7] = [
            OsStr::new("--literal-pathspecs"),
            OsStr::new("ls-tree"),
            OsStr::new("-z"),
            OsStr::new("--full-tree"),
            OsStr::new(commit),
            OsStr::new("--"),
            OsStr::from_bytes(path),
        ];
        let listed = self.git(args).output_bytes()?;
        if !listed.success {
            bail!("cannot read the tree of {commit}: {}", listed.stderr.trim());
        }
        let out = listed.stdout;
        // `<mode> <type> <id>\t<path>` NUL: the entry whose path is exactly `path`.
        Ok(out.split(|&b| b == 0).find_map(|entry| {
            let tab = entry.iter().position(|&b| b == b'\t')?;
            if &entry[tab + 1..] != path {
                return None;
            }
            let meta = String::from_utf8_lossy(&entry[..tab]).into_owned();
            let mut m = meta.split(' ');
            let mode = m.next()?.to_string();
            let _kind = m.next()?;
            Some((mode, m.next()?.to_string()))
        }))
    }
}
