//! The pre-commit framework (https://pre-commit.com) installed before git-aisync keeps
//! working: its hooks still block, ours still run, and `uninstall` hands its hooks directory
//! back byte for byte. Real `pre-commit` (Debian: pre-commit; `.ci/run` installs it), a
//! `repo: local` config (nothing downloaded), its cache in a temp dir: without it the tests
//! fail under CI and are skipped, saying so, elsewhere.

use crate::common;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{aisync, git_cmd, git_ok, Repo};
use tempfile::TempDir;

/// A repository with the framework's hooks installed (`pre-commit install`).
struct Setup {
    repo: Repo,
    /// PRE_COMMIT_HOME: the framework's cache, out of ~/.cache.
    home: TempDir,
    /// The hub the pushes go to (a bare repository in a temp dir).
    hub: TempDir,
}

/// The framework's stage name for pre-push: `push` before 3.2, `pre-push` since.
fn push_stage(version: &str) -> &'static str {
    let number = version.split_whitespace().last().unwrap_or_default();
    let mut parts = number.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    if (major, minor) >= (3, 2) {
        "pre-push"
    } else {
        "push"
    }
}

/// `program` in `dir`, as isolated as `git_cmd` (the same environment), with the framework's
/// cache in `home` and none of a developer's SKIP.
fn isolated(program: &str, dir: &Path, home: &Path) -> Command {
    let mut c = Command::new(program);
    c.current_dir(dir);
    for (key, value) in git_cmd(dir).get_envs() {
        match value {
            Some(v) => c.env(key, v),
            None => c.env_remove(key),
        };
    }
    c.env("PRE_COMMIT_HOME", home)
        .env_remove("SKIP")
        .env_remove("PRE_COMMIT_RUNNING_LEGACY");
    c
}

/// stdout and stderr together (git shows a hook's stdout on stderr anyway).
fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

impl Setup {
    /// `None` (after saying so) without `pre-commit` on PATH; under CI, a failure instead.
    fn new() -> Option<Setup> {
        let version = match Command::new("pre-commit").arg("--version").output() {
            Ok(out) => {
                assert!(out.status.success(), "pre-commit --version: {}", text(&out));
                String::from_utf8_lossy(&out.stdout).trim().to_string()
            }
            Err(e) => {
                assert!(
                    std::env::var_os("CI").is_none(),
                    "pre-commit is missing ({e}): .ci/run must install it (apt-get install pre-commit)"
                );
                eprintln!("skipping: no pre-commit here (apt-get install pre-commit)");
                return None;
            }
        };
        let setup = Setup {
            repo: Repo::new(),
            home: tempfile::tempdir().expect("temp dir"),
            hub: tempfile::tempdir().expect("temp dir"),
        };
        // Local hooks only: a word no staged file may hold, and one no pushed file may hold.
        // The patterns do not match themselves, so the config passes its own hooks.
        let config = format!(
            "repos:\n\
             - repo: local\n  \
               hooks:\n  \
               - id: no-forbidden\n    \
                 name: no forbidden word\n    \
                 entry: 'FORBIDD[E]N'\n    \
                 language: pygrep\n  \
               - id: no-nopush\n    \
                 name: nothing marked nopush\n    \
                 entry: 'NOPUS[H]'\n    \
                 language: pygrep\n    \
                 stages: [{}]\n",
            push_stage(&version)
        );
        setup
            .repo
            .write(".pre-commit-config.yaml", config.as_bytes());
        setup.repo.commit_all("pre-commit config");
        let out = setup.pre_commit(&["install", "-t", "pre-commit", "-t", "pre-push"]);
        assert!(out.status.success(), "pre-commit install: {}", text(&out));
        let hub = setup.hub.path();
        git_ok(hub, &["init", "-q", "--bare", "-b", "main"]);
        setup.git(&["remote", "add", "hub", hub.to_str().unwrap()]);
        Some(setup)
    }

    fn pre_commit(&self, args: &[&str]) -> Output {
        isolated("pre-commit", self.repo.path(), self.home.path())
            .args(args)
            .output()
            .expect("run pre-commit")
    }

    /// git, with the framework's cache where its hooks look for it.
    fn try_git(&self, args: &[&str]) -> Output {
        isolated("git", self.repo.path(), self.home.path())
            .args(args)
            .output()
            .expect("run git")
    }

    fn git(&self, args: &[&str]) -> String {
        let out = self.try_git(args);
        assert!(out.status.success(), "git {args:?}: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"])
    }

    /// Stages `files` (forced, so `.credentials/` goes in too) and commits; git's output.
    fn commit(&self, files: &[(&str, &str)]) -> Output {
        for (path, content) in files {
            self.repo.write(path, content.as_bytes());
            self.git(&["add", "-f", "--", path]);
        }
        self.try_git(&["commit", "-q", "-m", "change"])
    }

    /// A commit the hooks refuse: HEAD stays, and the output holds `expected`.
    fn refused(&self, files: &[(&str, &str)], expected: &[&str]) {
        let before = self.head();
        let out = self.commit(files);
        let said = text(&out);
        assert!(!out.status.success(), "the commit went through: {said}");
        for e in expected {
            assert!(said.contains(e), "expected {e:?} in: {said}");
        }
        assert_eq!(self.head(), before);
        self.git(&["reset", "-q", "--hard"]);
    }

    fn hooks_dir(&self) -> PathBuf {
        self.repo.path().join(".git/hooks")
    }

    /// Every file of the hooks directory: name → (content, mode).
    fn hooks(&self) -> BTreeMap<String, (Vec<u8>, u32)> {
        std::fs::read_dir(self.hooks_dir())
            .expect("read the hooks directory")
            .map(|entry| {
                let entry = entry.unwrap();
                let mode = entry.metadata().unwrap().permissions().mode();
                let name = entry.file_name().to_string_lossy().into_owned();
                (name, (std::fs::read(entry.path()).unwrap(), mode))
            })
            .collect()
    }

    fn aisync_ok(&self, args: &[&str]) {
        let out = aisync(self.repo.path(), args);
        assert!(out.status.success(), "git aisync {args:?}: {}", text(&out));
    }

    /// The framework's hook and ours both hold commits back.
    fn both_block_commits(&self) {
        self.refused(
            &[("notes/a.txt", "a FORBIDDEN word\n")],
            &[
                "no forbidden word",
                "- hook id: no-forbidden",
                "notes/a.txt:1:a FORBIDDEN word",
            ],
        );
        // Past the framework's hook (nothing forbidden), ours refuses.
        self.refused(
            &[(".credentials/token", "hunter2\n")],
            &[".credentials/token is never committed"],
        );
        let key = format!("ghp_{}", "Zq3k".repeat(9));
        self.refused(
            &[("memory/notes.md", &format!("- token {key}\n"))],
            &["secret in the commit"],
        );
    }

    /// A clean commit goes through, and the framework's hook did look at it.
    fn clean_commit_passes(&self, path: &str) {
        let out = self.commit(&[(path, "all fine\n")]);
        let said = text(&out);
        assert!(out.status.success(), "clean commit refused: {said}");
        assert!(
            said.lines()
                .any(|l| l.starts_with("no forbidden word") && l.ends_with("Passed")),
            "the framework's hook did not run: {said}"
        );
    }
}

#[test]
fn the_pre_commit_framework_keeps_working_under_aisync_and_gets_its_hooks_back() {
    let Some(s) = Setup::new() else { return };
    let framework = s.hooks();
    assert!(framework.contains_key("pre-commit") && framework.contains_key("pre-push"));
    // The config works on its own before git-aisync comes in.
    s.refused(&[("a.txt", "FORBIDDEN\n")], &["a.txt:1:FORBIDDEN"]);

    s.aisync_ok(&["install"]);
    let hooks = s.hooks();
    for name in ["pre-commit", "pre-push"] {
        assert_eq!(
            hooks[&format!("{name}.aisync-chained")],
            framework[name],
            "the framework's {name} hook is kept, as it was"
        );
        assert_ne!(hooks[name], framework[name]);
    }

    s.both_block_commits();
    s.clean_commit_passes("notes/ok.txt");

    // pre-push: the framework gets the refs on stdin (without them it checks nothing).
    let out = s.commit(&[("notes/later.txt", "NOPUSH: a draft\n")]);
    assert!(out.status.success(), "{}", text(&out));
    let out = s.try_git(&["push", "-q", "hub", "main"]);
    let said = text(&out);
    assert!(
        !out.status.success(),
        "the framework's pre-push let it through: {said}"
    );
    assert!(
        said.contains("- hook id: no-nopush") && said.contains("notes/later.txt:1:NOPUSH"),
        "{said}"
    );
    s.git(&["rm", "-q", "notes/later.txt"]);
    s.git(&["commit", "-q", "-m", "no draft"]);
    // Past the framework's pre-push, ours scans the commits (a --no-verify one too).
    let key = format!("ghp_{}", "Zq3k".repeat(9));
    s.repo
        .write("memory/leak.md", format!("- {key}\n").as_bytes());
    s.git(&["add", "memory/leak.md"]);
    s.git(&["commit", "-q", "--no-verify", "-m", "leak"]);
    let out = s.try_git(&["push", "-q", "hub", "main"]);
    let said = text(&out);
    assert!(
        !out.status.success(),
        "our pre-push let a secret through: {said}"
    );
    assert!(said.contains("secret in a commit to push"), "{said}");
    s.git(&["reset", "-q", "--hard", "HEAD~1"]);
    let out = s.try_git(&["push", "-q", "hub", "main"]);
    assert!(out.status.success(), "clean push refused: {}", text(&out));

    s.aisync_ok(&["uninstall"]);
    assert_eq!(
        s.hooks(),
        framework,
        "the hooks directory as pre-commit left it"
    );
    s.refused(&[("b.txt", "FORBIDDEN again\n")], &["b.txt:1:FORBIDDEN"]);
    s.clean_commit_passes("notes/after.txt");
}

/// `pre-commit install` run again (a setup script, a new teammate's habit) finds our hook in
/// its place, keeps it as `pre-commit.legacy` and runs it under that name.
#[test]
fn pre_commit_install_run_again_after_aisync_keeps_both_and_uninstall_still_restores() {
    let Some(s) = Setup::new() else { return };
    let framework = s.hooks();
    s.aisync_ok(&["install"]);
    let out = s.pre_commit(&["install", "-t", "pre-commit", "-t", "pre-push"]);
    assert!(out.status.success(), "pre-commit install: {}", text(&out));
    assert!(s.hooks_dir().join("pre-commit.legacy").exists());

    s.both_block_commits();
    s.clean_commit_passes("notes/ok.txt");
    let out = s.try_git(&["push", "-q", "hub", "main"]);
    assert!(out.status.success(), "clean push refused: {}", text(&out));
    // doctor sees our hooks where the framework runs them.
    let out = aisync(s.repo.path(), &["doctor", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let hooks: Vec<&serde_json::Value> = report
        .as_array()
        .into_iter()
        .flatten()
        .chain(report["checks"].as_array().into_iter().flatten())
        .filter(|c| c["check"] == "hooks")
        .collect();
    assert_eq!(hooks.len(), 4, "{report}");
    assert!(hooks.iter().all(|c| c["status"] == "ok"), "{report}");

    // `git aisync install` again (a habit, or a script), over a `.legacy` shim of before,
    // which took its name from $0: brought up to date, and our checks still run once.
    let legacy = s.hooks_dir().join("pre-commit.legacy");
    let shim = std::fs::read_to_string(&legacy).unwrap();
    assert!(shim.contains("\nhook=pre-commit\n"), "{shim}");
    std::fs::write(
        &legacy,
        shim.replace("\nhook=pre-commit\n", "\nhook=${0##*/}\n"),
    )
    .unwrap();
    s.aisync_ok(&["install"]);
    s.clean_commit_passes("notes/again.txt");
    let out = s.commit(&[("memory/broken.json", "{\"a\": \n")]);
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert_eq!(
        said.matches("memory/broken.json: not valid JSON").count(),
        1,
        "our checks ran once: {said}"
    );
    s.refused(
        &[(".credentials/token", "hunter2\n")],
        &[".credentials/token is never committed"],
    );

    s.aisync_ok(&["uninstall"]);
    assert_eq!(
        s.hooks(),
        framework,
        "the hooks directory as pre-commit left it"
    );
    s.refused(&[("b.txt", "FORBIDDEN again\n")], &["b.txt:1:FORBIDDEN"]);
    s.clean_commit_passes("notes/after.txt");
}

/// A team's own pre-commit hook, then git-aisync, then `pre-commit install`: the framework
/// runs ours as `.legacy`, ours still runs the team's hook, and `uninstall` leaves the team's
/// hook where the framework runs it (`pre-commit.legacy`), none orphaned.
#[test]
fn a_team_hook_chained_by_aisync_survives_pre_commit_install_and_uninstall() {
    let Some(s) = Setup::new() else { return };
    // Start from the team's hook alone.
    s.pre_commit(&["uninstall", "-t", "pre-commit", "-t", "pre-push"]);
    let team = s.hooks_dir().join("pre-commit");
    let body = "#!/bin/sh\ncase $(git diff --cached --name-only) in *blocked*) echo 'team hook says no' >&2; exit 1 ;; esac\n";
    common::executable(&team, body);

    s.aisync_ok(&["install"]);
    let out = s.pre_commit(&["install", "-t", "pre-commit"]);
    assert!(out.status.success(), "pre-commit install: {}", text(&out));
    s.refused(&[("blocked.txt", "x\n")], &["team hook says no"]);
    s.clean_commit_passes("notes/ok.txt");

    s.aisync_ok(&["uninstall"]);
    let hooks = s.hooks();
    assert!(
        !hooks.keys().any(|n| n.contains("aisync")),
        "left behind: {:?}",
        hooks.keys()
    );
    assert_eq!(hooks["pre-commit.legacy"].0, body.as_bytes());
    s.refused(&[("blocked.txt", "x\n")], &["team hook says no"]);
    s.clean_commit_passes("notes/after.txt");
}
