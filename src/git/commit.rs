//! Making commits: the identity a machine without one commits as, the commits made on the
//! user's behalf, and the cycle's own commits (written in process where gix can).

use std::ffi::OsStr;

use anyhow::Result;

use super::command::{Cycle, Git};
use super::error::GitError;
use super::Repo;

impl Repo {
    /// A git command that makes commits (commit, merge). A machine with no identity
    /// configured (a fresh server) still commits, as "git-aisync on MACHINE", rather than
    /// stopping unattended work.
    pub fn git_committing<I, S>(&self, args: I) -> Git
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.git(args).leading(self.identity_args())
    }

    /// `-c user.name=… -c user.email=…` when this machine has no identity configured; in a
    /// cycle, `-c commit.gpgSign=false`: a signer may ask for a passphrase or a touch, and an
    /// unattended cycle must never wait on one (its own commits go unsigned).
    fn identity_args(&self) -> Vec<String> {
        let mut full: Vec<String> = Vec::new();
        if self.cycle.get() != Cycle::Outside {
            full.extend(["-c".into(), "commit.gpgSign=false".into()]);
        }
        let has =
            |key: &str, env: &str| std::env::var_os(env).is_some() || self.setting(key).is_some();
        let machine = self
            .setting("aisync.machine")
            .unwrap_or("this machine")
            .to_string();
        if !has("user.name", "GIT_AUTHOR_NAME") {
            full.extend(["-c".into(), format!("user.name=git-aisync on {machine}")]);
        }
        if !has("user.email", "GIT_AUTHOR_EMAIL") {
            let host: String = machine
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' {
                        c
                    } else {
                        '-'
                    }
                })
                .collect();
            full.extend(["-c".into(), format!("user.email=git-aisync@{host}.invalid")]);
        }
        full
    }

    /// Commits exactly `paths` (whatever else is staged stays staged);
    /// [`GitError::NothingToCommit`] when they hold no change.
    pub fn commit_paths(&self, message: &str, paths: &[String]) -> Result<(), GitError> {
        let out = self
            .git_committing([
                "commit",
                "--quiet",
                "--no-verify",
                "-m",
                message,
                "--pathspec-from-file=-",
                "--pathspec-file-nul",
            ])
            .paths(paths)
            .output()?;
        if out.success {
            return Ok(());
        }
        // Told apart by what git reports of the paths, not by its (translated) message:
        // nothing to commit when none of them differs from HEAD.
        let status = self
            .git([
                "status",
                "--porcelain=v1",
                "-z",
                "--untracked-files=all",
                "--pathspec-from-file=-",
                "--pathspec-file-nul",
            ])
            .paths(paths)
            .output_bytes()?;
        if status.success && status.stdout.is_empty() {
            return Err(GitError::NothingToCommit);
        }
        Err(GitError::failed("git commit".into(), &out.stderr))
    }

    /// A commit of `tree` on `parent` (none: the first commit), as this machine. Made with
    /// `commit-tree`, which never signs unless told: an unattended cycle must not wait on a
    /// signing prompt.
    pub fn commit_tree(&self, tree: &str, parent: Option<&str>, message: &str) -> Result<String> {
        if let Some(id) = self.commit_in_process(tree, parent, message) {
            return Ok(id);
        }
        let mut args = vec!["commit-tree", tree];
        if let Some(p) = parent {
            args.extend(["-p", p]);
        }
        args.extend(["-m", message]);
        Ok(self.git_committing(args).run()?.stdout.trim().to_string())
    }

    /// [`Repo::commit_tree`] written by gix, one git process less per cycle: where gix reads
    /// the config git reads and finds the identity `git commit-tree` would take, unaltered
    /// (no fallback identity, no name git would trim, no date, encoding or shared-repository
    /// permissions to honour). `None`
    /// where git must make it.
    fn commit_in_process(&self, tree: &str, parent: Option<&str>, message: &str) -> Option<String> {
        let dated = ["GIT_AUTHOR_DATE", "GIT_COMMITTER_DATE"];
        if !self.settings().in_process
            || dated.iter().any(|v| std::env::var_os(v).is_some())
            || self.setting("i18n.commitEncoding").is_some()
            // git makes its objects group-writable there; gix would not.
            || self.setting("core.sharedRepository").is_some()
        {
            return None;
        }
        let repo = self.objects()?;
        let now = gix::date::Time::now_local_or_utc();
        let plain = |s: &gix::bstr::BStr| {
            let crud = |c: u8| c.is_ascii_whitespace() || b".,:;<>\"\\'".contains(&c);
            !s.is_empty()
                && !crud(s[0])
                && !crud(s[s.len() - 1])
                && !s.iter().any(|&c| c == b'<' || c == b'>' || c == b'\n')
        };
        let person = |who: gix::actor::SignatureRef<'_>| {
            (plain(who.name) && plain(who.email)).then(|| gix::actor::Signature {
                name: who.name.to_owned(),
                email: who.email.to_owned(),
                time: now,
            })
        };
        let author = person(repo.author()?.ok()?)?;
        let committer = person(repo.committer()?.ok()?)?;
        let mut parents = Vec::new();
        if let Some(p) = parent {
            parents.push(gix::ObjectId::from_hex(p.as_bytes()).ok()?);
        }
        let commit = gix::objs::Commit {
            tree: gix::ObjectId::from_hex(tree.as_bytes()).ok()?,
            parents: parents.into(),
            author,
            committer,
            encoding: None,
            // As `commit-tree -m` writes it: the message, then a line end.
            message: format!("{message}\n").into(),
            extra_headers: Vec::new(),
        };
        repo.write_object(&commit).ok().map(|id| id.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::super::config::Settings;
    use super::*;
    /// A cycle's commit written in process is the commit `git commit-tree` writes: the same
    /// identity, time zone, message and line ends (only the second it was made may differ).
    #[test]
    fn commits_written_in_process_are_git_s() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        assert!(crate::git::git_in(dir, ["init", "-q"]).succeeds().unwrap());
        for (k, v) in [
            ("user.name", "Ann Example"),
            ("user.email", "ann@example.invalid"),
        ] {
            assert!(crate::git::git_in(dir, ["config", k, v])
                .succeeds()
                .unwrap());
        }
        let repo = Repo::find(dir).unwrap();
        // Read as gix reads it, whichever reader this machine's git allows.
        let read = Settings::read_with_gix(repo.objects().unwrap()).unwrap();
        assert!(repo.settings.set(read).is_ok());
        let tree = repo
            .git(["write-tree"])
            .run()
            .unwrap()
            .stdout
            .trim()
            .to_string();
        let ours = repo
            .commit_in_process(&tree, None, "aisync(m): a.md")
            .expect("written in process");
        let theirs = repo
            .git(["commit-tree", &tree, "-m", "aisync(m): a.md"])
            .run()
            .unwrap()
            .stdout
            .trim()
            .to_string();
        let parent = repo
            .commit_in_process(&tree, Some(&ours), "second")
            .unwrap();
        let shown = |id: &str| {
            let text = repo.git(["cat-file", "commit", id]).run().unwrap().stdout;
            // "<name> <email> <seconds> <zone>": the seconds may differ.
            text.lines()
                .map(|l| match l.rsplitn(3, ' ').collect::<Vec<_>>()[..] {
                    [zone, _, rest] if l.starts_with("author ") || l.starts_with("committer ") => {
                        format!("{rest} <time> {zone}")
                    }
                    _ => l.to_string(),
                })
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(shown(&ours), shown(&theirs));
        assert!(shown(&parent).contains(&format!("parent {ours}")));
        assert!(crate::git::git_in(dir, ["fsck", "--strict", &parent])
            .succeeds()
            .unwrap());
    }
}
