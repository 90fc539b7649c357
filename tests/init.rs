//! `init`: from nothing, in an existing repository, with an empty hub, and a second machine
//! joining a hub that already has history.

mod common;

use common::{aisync, git_ok, Repo};
use std::path::Path;

fn bare_hub() -> tempfile::TempDir {
    let hub = tempfile::tempdir().unwrap();
    git_ok(hub.path(), &["init", "-q", "--bare", "-b", "main"]);
    hub
}

fn init(dir: &Path, remote: Option<&Path>) -> std::process::Output {
    let mut args = vec!["init".to_string(), dir.to_string_lossy().into_owned()];
    if let Some(r) = remote {
        args.push("--remote".into());
        args.push(r.to_string_lossy().into_owned());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = aisync(Path::new("/"), &args);
    assert!(
        out.status.success(),
        "init failed ({:?}): {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn init_makes_an_empty_folder_a_synced_repo() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ai");
    init(&dir, None);
    for d in ["rules", "configs", "docs", "memory", "logs", ".credentials"] {
        assert!(dir.join(d).join("README.md").is_file(), "{d}/README.md");
    }
    assert!(std::fs::read_to_string(dir.join(".gitignore"))
        .unwrap()
        .contains(".credentials/"));
    assert!(std::fs::read_to_string(dir.join(".aisync.yml"))
        .unwrap()
        .contains("memory/**: realtime"));
    let files = git_ok(&dir, &["ls-files"]);
    assert!(
        files.contains("memory/README.md")
            && files.contains(".aisync.yml")
            && files.contains(".gitattributes")
    );
    assert!(
        !files.contains(".credentials"),
        "secrets folder committed: {files}"
    );
    assert_eq!(git_ok(&dir, &["rev-list", "--count", "HEAD"]).trim(), "1");
    assert!(
        git_ok(&dir, &["config", "merge.aisync-markdown.driver"]).contains("merge-driver markdown")
    );
    assert!(dir.join(".git/hooks/pre-commit").exists());
    assert_eq!(git_ok(&dir, &["status", "--porcelain"]), "");
}

#[test]
fn init_in_an_existing_repo_keeps_the_users_files_out_of_its_commit() {
    let repo = Repo::new();
    repo.write("notes.txt", b"mine\n");
    repo.write("memory/old.md", b"- kept\n");
    init(repo.path(), None);
    assert_eq!(repo.read("notes.txt"), b"mine\n");
    let last = repo.git(&["show", "--name-only", "--format=", "HEAD"]);
    assert!(
        !last.contains("notes.txt") && !last.contains("old.md"),
        "{last}"
    );
    assert!(last.contains(".aisync.yml"));
}

#[test]
fn a_second_machine_joins_the_hub_and_merges_by_format_with_the_first() {
    let hub = bare_hub();
    let tmp = tempfile::tempdir().unwrap();
    let (laptop, server) = (tmp.path().join("laptop"), tmp.path().join("server"));
    init(&laptop, Some(hub.path()));
    assert_eq!(
        git_ok(hub.path(), &["rev-list", "--count", "main"]).trim(),
        "1"
    );
    assert_eq!(
        git_ok(&laptop, &["rev-parse", "--abbrev-ref", "@{u}"]).trim(),
        "origin/main"
    );

    init(&server, Some(hub.path()));
    assert_eq!(
        git_ok(&server, &["rev-parse", "HEAD"]),
        git_ok(&laptop, &["rev-parse", "HEAD"]),
        "nothing new to commit: the server is on the laptop's history"
    );
    assert!(git_ok(&server, &["config", "merge.aisync-json.driver"]).contains("merge-driver json"));

    // Both machines append to one memory file; a plain pull merges it by format.
    let store = "memory/facts.json";
    std::fs::write(laptop.join(store), "{\"facts\": [\"a\"]}\n").unwrap();
    git_ok(&laptop, &["add", store]);
    git_ok(&laptop, &["commit", "-q", "-m", "facts"]);
    git_ok(&laptop, &["push", "-q"]);
    git_ok(&server, &["pull", "-q", "--no-rebase"]);
    std::fs::write(server.join(store), "{\"facts\": [\"a\", \"server\"]}\n").unwrap();
    git_ok(&server, &["commit", "-q", "-am", "server fact"]);
    git_ok(&server, &["push", "-q"]);
    std::fs::write(laptop.join(store), "{\"facts\": [\"a\", \"laptop\"]}\n").unwrap();
    git_ok(&laptop, &["commit", "-q", "-am", "laptop fact"]);
    git_ok(&laptop, &["pull", "-q", "--no-rebase", "--no-edit"]);
    assert_eq!(
        std::fs::read_to_string(laptop.join(store)).unwrap(),
        "{\"facts\": [\"a\", \"laptop\", \"server\"]}\n"
    );
}

#[test]
fn an_existing_repo_with_its_own_history_joins_a_hub_with_another() {
    let hub = bare_hub();
    let tmp = tempfile::tempdir().unwrap();
    let first = tmp.path().join("first");
    init(&first, Some(hub.path()));
    std::fs::write(first.join("memory/a.md"), "- from first\n").unwrap();
    git_ok(&first, &["add", "-A"]);
    git_ok(&first, &["commit", "-q", "-m", "a"]);
    git_ok(&first, &["push", "-q"]);

    let repo = Repo::new();
    repo.write("memory/b.md", b"- from second\n");
    repo.commit_all("b");
    init(repo.path(), Some(hub.path()));
    assert_eq!(repo.read("memory/a.md"), b"- from first\n");
    assert_eq!(repo.read("memory/b.md"), b"- from second\n");
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
    let hub_files = git_ok(hub.path(), &["ls-tree", "-r", "--name-only", "main"]);
    assert!(
        hub_files.contains("memory/a.md") && hub_files.contains("memory/b.md"),
        "{hub_files}"
    );
}

#[test]
fn an_unencrypted_remote_is_refused_in_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ai");
    let out = aisync(
        Path::new("/"),
        &[
            "init",
            dir.to_str().unwrap(),
            "--remote",
            "http://example.invalid/x.git",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not encrypted") && err.trim().lines().count() == 1,
        "{err}"
    );
    assert!(!dir.join(".git").exists());
}

#[test]
fn init_inside_another_repository_says_where_to_run_it() {
    let repo = Repo::new();
    let sub = repo.path().join("sub");
    let out = aisync(Path::new("/"), &["init", sub.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is inside the repository at"));
}
