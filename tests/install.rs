//! `install` and `uninstall` in real repositories: what a person sees in their config and
//! attributes, and that a merge afterwards uses the drivers.

mod common;

use common::{aisync, git_cmd, Repo};

fn snapshot(repo: &Repo) -> (Vec<u8>, Option<Vec<u8>>) {
    let attributes = std::fs::read(repo.path().join(".gitattributes")).ok();
    (repo.read(".git/config"), attributes)
}

#[test]
fn uninstall_leaves_config_and_attributes_byte_for_byte_as_before() {
    for existing in [
        None,
        Some(&b"*.png binary\n"[..]),
        Some(&b"*.png binary"[..]),
    ] {
        let repo = Repo::new();
        repo.git(&["config", "user.name", "Someone"]);
        if let Some(text) = existing {
            repo.write(".gitattributes", text);
        }
        let before = snapshot(&repo);
        let out = aisync(repo.path(), &["install"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let installed = snapshot(&repo);
        assert_ne!(installed, before);
        let attributes = String::from_utf8(installed.1.clone().unwrap()).unwrap();
        assert!(attributes.contains("memory/**/*.json merge=aisync-json"));
        assert!(attributes.contains(".aisync/conflicts.jsonl merge=aisync-jsonl"));

        let again = aisync(repo.path(), &["install"]);
        assert!(again.status.success());
        assert_eq!(snapshot(&repo), installed, "install twice = install once");

        let out = aisync(repo.path(), &["uninstall"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(snapshot(&repo), before, "existing attributes: {existing:?}");
        assert!(!repo.path().join(".git/aisync").exists());
    }
}

#[test]
fn install_records_the_branch_and_a_machine_name_and_keeps_a_set_one() {
    let repo = Repo::new();
    repo.git(&["config", "aisync.machine", "laptop"]);
    assert!(aisync(repo.path(), &["install"]).status.success());
    assert_eq!(repo.git(&["config", "aisync.branch"]).trim(), "main");
    assert_eq!(repo.git(&["config", "aisync.machine"]).trim(), "laptop");
    let driver = repo.git(&["config", "merge.aisync-json.driver"]);
    assert!(
        driver.contains("merge-driver json %O %A %B %L %P"),
        "{driver}"
    );
    assert_eq!(
        repo.git(&["config", "merge.aisync-json.recursive"]).trim(),
        "aisync-json-inner"
    );
    assert!(repo
        .git(&["config", "merge.aisync-json-inner.driver"])
        .contains("--no-journal"));
    assert!(aisync(repo.path(), &["uninstall"]).status.success());
    assert_eq!(repo.git(&["config", "aisync.machine"]).trim(), "laptop");
}

#[test]
fn after_install_a_pull_merges_memory_files_by_format() {
    let repo = Repo::new();
    let out = aisync(repo.path(), &["install"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    repo.write("memory/facts.json", b"{\"facts\": [\"a\"]}\n");
    repo.commit_all("base");
    repo.git(&["checkout", "-q", "-b", "server"]);
    repo.write(
        "memory/facts.json",
        b"{\"facts\": [\"a\", \"from server\"]}\n",
    );
    repo.commit_all("server");
    repo.git(&["checkout", "-q", "main"]);
    repo.write(
        "memory/facts.json",
        b"{\"facts\": [\"a\", \"from laptop\"]}\n",
    );
    repo.commit_all("laptop");
    repo.git(&["merge", "-q", "--no-edit", "server"]);
    assert_eq!(
        repo.read("memory/facts.json"),
        b"{\"facts\": [\"a\", \"from laptop\", \"from server\"]}\n"
    );
}

#[test]
fn install_outside_a_repository_or_in_a_bare_one_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let out = aisync(dir.path(), &["install"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not inside a git repository") && err.lines().count() == 1,
        "{err}"
    );

    let bare = tempfile::tempdir().unwrap();
    assert!(git_cmd(bare.path())
        .args(["init", "-q", "--bare"])
        .status()
        .unwrap()
        .success());
    let out = aisync(bare.path(), &["install"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bare repository"));
}

fn hook_file(repo: &Repo, dir: &str, name: &str, body: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = repo.path().join(dir).join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, body).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[test]
fn a_foreign_pre_commit_runs_first_still_blocks_and_comes_back_on_uninstall() {
    let repo = Repo::new();
    let body =
        "#!/bin/sh\n# team hook\n[ -f allow ] || { echo 'team hook says no' >&2; exit 3; }\n";
    let foreign = hook_file(&repo, ".git/hooks", "pre-commit", body);
    let before = std::fs::read(&foreign).unwrap();
    assert!(aisync(repo.path(), &["install"]).status.success());

    repo.write("memory/a.md", b"- a\n");
    repo.git(&["add", "-A"]);
    let blocked = repo.try_git(&["commit", "-q", "-m", "x"]);
    assert!(!blocked.status.success(), "the team hook must still block");
    assert!(String::from_utf8_lossy(&blocked.stderr).contains("team hook says no"));

    repo.write("allow", b"");
    repo.git(&["add", "-A"]);
    let ok = repo.try_git(&["commit", "-q", "-m", "x"]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );

    assert!(aisync(repo.path(), &["uninstall"]).status.success());
    assert_eq!(std::fs::read(&foreign).unwrap(), before);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&foreign).unwrap().permissions().mode() & 0o777,
        0o755
    );
}

#[test]
fn hooks_go_where_core_hooks_path_says_and_a_husky_style_hook_keeps_its_name() {
    let repo = Repo::new();
    repo.git(&["config", "core.hooksPath", ".husky/_"]);
    // Like husky: the hook finds the user's script by its own file name ($0).
    hook_file(
        &repo,
        ".husky/_",
        "pre-commit",
        "#!/usr/bin/env sh\n. \"$(dirname \"$0\")/h\"\n",
    );
    hook_file(&repo, ".husky/_", "h", "n=$(basename \"$0\")\ns=$(dirname \"$(dirname \"$0\")\")/$n\n[ -f \"$s\" ] || exit 0\nsh -e \"$s\" \"$@\"\n");
    hook_file(
        &repo,
        ".husky",
        "pre-commit",
        "echo husky-ran > husky.out\n",
    );
    let before = std::fs::read(repo.path().join(".husky/_/pre-commit")).unwrap();
    assert!(aisync(repo.path(), &["install"]).status.success());
    assert!(repo
        .path()
        .join(".husky/_/pre-commit.aisync-chained")
        .exists());

    repo.write("memory/a.md", b"- a\n");
    repo.git(&["add", "memory/a.md"]);
    repo.git(&["commit", "-q", "-m", "x"]);
    assert_eq!(
        repo.read("husky.out"),
        b"husky-ran\n",
        "husky's hook ran under its own name"
    );

    assert!(aisync(repo.path(), &["uninstall"]).status.success());
    assert_eq!(
        std::fs::read(repo.path().join(".husky/_/pre-commit")).unwrap(),
        before
    );
    assert!(!repo
        .path()
        .join(".husky/_/pre-commit.aisync-chained")
        .exists());
}

#[test]
fn pre_commit_refuses_credentials_even_when_forced_in() {
    let repo = Repo::new();
    assert!(aisync(repo.path(), &["install"]).status.success());
    repo.write(".credentials/token", b"secret\n");
    repo.git(&["add", "-f", ".credentials/token"]);
    let out = repo.try_git(&["commit", "-q", "-m", "oops"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(".credentials/token is never committed"),
        "{err}"
    );
    assert!(
        err.contains("git rm --cached -- .credentials/token"),
        "{err}"
    );
}

#[test]
fn pre_commit_warns_about_a_broken_memory_file_but_commits_it() {
    let repo = Repo::new();
    assert!(aisync(repo.path(), &["install"]).status.success());
    repo.write("memory/store.json", b"{\"a\": [1, 2\n");
    repo.git(&["add", "-A"]);
    let out = repo.try_git(&["commit", "-q", "-m", "half"]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("memory/store.json: not valid JSON"), "{err}");
}

#[test]
fn a_plain_git_merge_folds_the_overridden_values_into_the_synced_journal() {
    let repo = Repo::new();
    assert!(aisync(repo.path(), &["install"]).status.success());
    repo.write("memory/s.json", b"{\"theme\": \"light\"}\n");
    repo.commit_all("base");
    repo.git(&["checkout", "-q", "-b", "other"]);
    repo.write("memory/s.json", b"{\"theme\": \"dark\"}\n");
    repo.commit_all("other");
    repo.git(&["checkout", "-q", "main"]);
    repo.write("memory/s.json", b"{\"theme\": \"blue\"}\n");
    repo.commit_all("main");
    repo.git(&["merge", "-q", "--no-edit", "other"]);
    let journal = String::from_utf8(repo.read(".aisync/conflicts.jsonl")).unwrap();
    assert_eq!(journal.lines().count(), 1, "{journal}");
    assert!(journal.contains("\"location\":\"/theme\""), "{journal}");
    assert!(!repo
        .path()
        .join(".git/aisync/pending-conflicts.jsonl")
        .exists());
}
