//! What the hooks cost a person's `git commit`: 100 commits in a repository without
//! git-aisync, then 100 with it installed, in one run; prints both and the ratio.
//!
//! cargo bench --bench hooks

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const COMMITS: usize = 100;

fn git(dir: &Path, args: &[&str]) {
    let ok = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Bench")
        .env("GIT_AUTHOR_EMAIL", "bench@example.invalid")
        .env("GIT_COMMITTER_NAME", "Bench")
        .env("GIT_COMMITTER_EMAIL", "bench@example.invalid")
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "git {args:?} failed");
}

/// Time of `COMMITS` commits, each a memory note added and committed.
fn commits(dir: &Path) -> Duration {
    let start = Instant::now();
    for i in 0..COMMITS {
        std::fs::write(
            dir.join(format!("memory/note-{i}.md")),
            format!("- note {i}\n"),
        )
        .unwrap();
        git(dir, &["add", "memory"]);
        git(dir, &["commit", "-q", "-m", &format!("note {i}")]);
    }
    start.elapsed()
}

fn repo(install: bool) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    git(dir, &["init", "-q", "-b", "main"]);
    std::fs::create_dir_all(dir.join("memory")).unwrap();
    git(dir, &["commit", "-q", "--allow-empty", "-m", "start"]);
    if install {
        let ok = Command::new(env!("CARGO_BIN_EXE_git-aisync"))
            .arg("install")
            .current_dir(dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .status()
            .unwrap()
            .success();
        assert!(ok, "install failed");
        git(dir, &["config", "aisync.autopush", "false"]);
    }
    tmp
}

fn main() {
    // Alternate, to spread a busy machine's noise over both.
    let (mut plain, mut hooked) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..3 {
        plain += commits(repo(false).path());
        hooked += commits(repo(true).path());
    }
    let per = |d: Duration| d.as_secs_f64() * 1000.0 / (3 * COMMITS) as f64;
    println!("commit without git-aisync: {:.2} ms", per(plain));
    println!(
        "commit with its hooks:     {:.2} ms (pre-commit: policy, never-paths, syntax check)",
        per(hooked)
    );
    println!(
        "hooks/plain = {:.2} (target <= 1.05 with autopush off)",
        hooked.as_secs_f64() / plain.as_secs_f64()
    );
}
