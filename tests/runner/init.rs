//! `init`: from nothing, in an existing repository, with an empty hub, and a second machine
//! joining a hub that already has history.

use crate::common;

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

/// A hub that another machine set up with `init`, holding `files` on top.
fn hub_with(files: &[(&str, &str)]) -> (tempfile::TempDir, tempfile::TempDir) {
    let hub = bare_hub();
    let tmp = tempfile::tempdir().unwrap();
    let first = tmp.path().join("first");
    init(&first, Some(hub.path()));
    for (path, text) in files {
        common::write(&first, path, text);
    }
    git_ok(&first, &["add", "-A"]);
    git_ok(&first, &["commit", "-q", "-m", "first machine's files"]);
    git_ok(&first, &["push", "-q"]);
    (hub, tmp)
}

fn assert_settled(dir: &Path) {
    assert_eq!(
        git_ok(dir, &["status", "--porcelain", "--untracked-files=no"]),
        "",
        "a clean tree"
    );
    assert!(!dir.join(".git/MERGE_HEAD").exists(), "left mid-merge");
    let grep = common::git_cmd(dir)
        .args(["grep", "-q", "-e", "^<<<<<<<", "HEAD"])
        .status()
        .unwrap();
    assert!(!grep.success(), "conflict markers committed");
}

#[test]
fn a_repo_with_files_the_hub_also_has_joins_and_keeps_both_sides() {
    let (hub, _first) = hub_with(&[
        ("memory/facts.json", "{\"facts\": [\"from the hub\"]}\n"),
        ("memory/notes.md", "# Notes\n\n- hub note\n"),
        ("notes.txt", "the hub's text\n"),
    ]);
    let repo = Repo::new();
    repo.write(".gitignore", b"*.log\n");
    repo.write(".gitattributes", b"*.png binary\n");
    repo.write("memory/facts.json", b"{\"facts\": [\"from here\"]}\n");
    repo.write("memory/notes.md", b"# Notes\n\n- my note\n");
    repo.write("notes.txt", b"my text\n");
    repo.commit_all("my own setup");

    init(repo.path(), Some(hub.path()));
    assert_settled(repo.path());
    let facts = String::from_utf8(repo.read("memory/facts.json")).unwrap();
    assert!(
        facts.contains("from the hub") && facts.contains("from here"),
        "{facts}"
    );
    let notes = String::from_utf8(repo.read("memory/notes.md")).unwrap();
    assert!(
        notes.contains("hub note") && notes.contains("my note"),
        "{notes}"
    );
    let ignore = String::from_utf8(repo.read(".gitignore")).unwrap();
    assert!(
        ignore.contains("*.log") && ignore.contains(".credentials/"),
        "{ignore}"
    );
    let attributes = String::from_utf8(repo.read(".gitattributes")).unwrap();
    assert!(attributes.contains("*.png binary"), "{attributes}");
    // A text file no driver merges: both versions kept, one beside the other.
    let all = git_ok(repo.path(), &["ls-files"]);
    let beside: Vec<&str> = all
        .lines()
        .filter(|l| l.starts_with("notes.conflict-"))
        .collect();
    assert_eq!(beside.len(), 1, "{all}");
    let mut texts = [
        String::from_utf8(repo.read("notes.txt")).unwrap(),
        String::from_utf8(repo.read(beside[0])).unwrap(),
    ];
    texts.sort();
    assert_eq!(texts, ["my text\n", "the hub's text\n"]);
    // And the hub has all of it.
    let hub_head = git_ok(hub.path(), &["rev-parse", "main"]);
    assert_eq!(hub_head, repo.git(&["rev-parse", "HEAD"]));
}

#[test]
fn a_plain_folder_with_a_memory_file_the_hub_also_has_joins_without_losing_it() {
    let (hub, _first) = hub_with(&[("memory/x.json", "{\"facts\": [\"hub\"]}\n")]);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("folder");
    common::write(&dir, "memory/x.json", "{\"facts\": [\"mine\"]}\n");
    common::write(&dir, "scratch.txt", "not the hub's business\n");
    init(&dir, Some(hub.path()));
    assert_settled(&dir);
    let x = common::read(&dir, "memory/x.json");
    assert!(x.contains("hub") && x.contains("mine"), "{x}");
    assert_eq!(
        common::read(&dir, "scratch.txt"),
        "not the hub's business\n"
    );
}

#[test]
fn a_repo_on_master_joins_the_hubs_main_instead_of_pushing_a_second_branch() {
    let (hub, _first) = hub_with(&[("memory/a.md", "- a\n")]);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("old");
    std::fs::create_dir_all(&dir).unwrap();
    git_ok(&dir, &["init", "-q", "-b", "master"]);
    common::write(&dir, "memory/b.md", "- b\n");
    git_ok(&dir, &["add", "-A"]);
    git_ok(&dir, &["commit", "-q", "-m", "b"]);
    init(&dir, Some(hub.path()));
    assert_eq!(git_ok(&dir, &["branch", "--show-current"]).trim(), "main");
    assert_eq!(git_ok(&dir, &["config", "aisync.branch"]).trim(), "main");
    assert_eq!(
        git_ok(
            hub.path(),
            &["for-each-ref", "--format=%(refname)", "refs/heads"]
        )
        .trim(),
        "refs/heads/main"
    );
    let files = git_ok(hub.path(), &["ls-tree", "-r", "--name-only", "main"]);
    assert!(
        files.contains("memory/a.md") && files.contains("memory/b.md"),
        "{files}"
    );
}

#[test]
fn init_in_a_bare_repository_says_so_in_one_line_and_makes_nothing() {
    let hub = bare_hub();
    let before: Vec<_> = std::fs::read_dir(hub.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    let out = aisync(Path::new("/"), &["init", hub.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is a bare repository") && err.trim().lines().count() == 1,
        "{err}"
    );
    let after: Vec<_> = std::fs::read_dir(hub.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(after, before);
}

#[test]
fn init_commits_only_what_it_wrote_and_leaves_staged_work_staged() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ai");
    std::fs::create_dir_all(&dir).unwrap();
    git_ok(&dir, &["init", "-q", "-b", "main"]);
    common::write(&dir, "wip.txt", "half done\n");
    git_ok(&dir, &["add", "wip.txt"]);
    init(&dir, None);
    let committed = git_ok(&dir, &["show", "--name-only", "--format=", "HEAD"]);
    assert!(!committed.contains("wip.txt"), "{committed}");
    assert_eq!(
        git_ok(&dir, &["status", "--porcelain", "wip.txt"]),
        "A  wip.txt\n"
    );
}

#[test]
fn a_relative_remote_is_read_from_the_current_folder_and_a_wrong_one_can_be_retried() {
    let tmp = tempfile::tempdir().unwrap();
    git_ok(
        tmp.path(),
        &["init", "-q", "--bare", "-b", "main", "hub.git"],
    );
    // A typo first: one line, and origin is not left behind.
    let out = aisync(tmp.path(), &["init", "ai", "--remote", "hbu.git"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no repository at") && err.trim().lines().count() == 1,
        "{err}"
    );
    // Then the right one, relative to here (not to ai/).
    let out = aisync(tmp.path(), &["init", "ai", "--remote", "hub.git"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = tmp.path().join("ai");
    let url = git_ok(&dir, &["config", "remote.origin.url"]);
    assert_eq!(
        Path::new(url.trim()),
        tmp.path().canonicalize().unwrap().join("hub.git")
    );
    assert_eq!(
        git_ok(
            &tmp.path().join("hub.git"),
            &["rev-list", "--count", "main"]
        )
        .trim(),
        "1"
    );
}

#[test]
fn an_unreachable_hub_leaves_a_repo_that_works_locally_and_pushes_later() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ai");
    let out = common::aisync_cmd(Path::new("/"))
        .env(
            "GIT_SSH_COMMAND",
            "ssh -o BatchMode=yes -o ConnectTimeout=2",
        )
        .args([
            "init",
            dir.to_str().unwrap(),
            "--remote",
            "ssh://127.0.0.1:9/hub.git",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("could not push yet"), "{err}");
    assert_eq!(git_ok(&dir, &["rev-list", "--count", "HEAD"]).trim(), "1");
    assert!(dir.join("memory/README.md").exists());
}

/// A repository joining a hub while a person has uncommitted edits to a file the hub also
/// has: the edit is never stashed away nor mixed with conflict markers (git merges a stash
/// without the drivers). Init stops, the file as it was, and says what to do; after a
/// commit, the join keeps both sides.
#[test]
fn uncommitted_edits_to_a_file_the_hub_has_stop_the_join_until_committed() {
    let (hub, _first) = hub_with(&[("memory/notes.md", "# Notes\n\n- hub note\n")]);
    let repo = Repo::new();
    repo.write("memory/notes.md", b"# Notes\n\n- my note\n");
    repo.commit_all("mine");
    let edit = b"# Notes\n\n- my note (edited)\n- being written\n";
    repo.write("memory/notes.md", edit);

    let args = [
        "init",
        repo.path().to_str().unwrap(),
        "--remote",
        hub.path().to_str().unwrap(),
    ];
    let out = aisync(Path::new("/"), &args);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("memory/notes.md")
            && err.contains("commit")
            && err.trim().lines().count() == 1,
        "{err}"
    );
    assert_eq!(repo.read("memory/notes.md"), edit);
    assert_eq!(repo.git(&["stash", "list"]), "");
    assert!(!repo.path().join(".git/MERGE_HEAD").exists());

    repo.commit_all("my edit");
    init(repo.path(), Some(hub.path()));
    assert_settled(repo.path());
    let notes = String::from_utf8(repo.read("memory/notes.md")).unwrap();
    assert!(
        notes.contains("- hub note\n") && notes.contains("- my note (edited)\n- being written\n"),
        "{notes}"
    );
    assert_eq!(
        git_ok(hub.path(), &["rev-parse", "main"]),
        repo.git(&["rev-parse", "HEAD"])
    );
}

/// `git aisync init DIR --remote HUB` with autopush on (as a user has it) on an empty hub:
/// `init`'s own first commit must not start a background sync that races its push. The hub
/// has the commit, init says it pushed and exits 0 — twenty times, since a race shows only
/// in some.
#[test]
fn init_with_an_empty_hub_pushes_its_first_commit_and_says_so_every_time() {
    for round in 0..20 {
        let tmp = tempfile::tempdir().unwrap();
        let hub = tmp.path().join("hub.git");
        common::init_bare(&hub);
        let dir = tmp.path().join("ai");
        let out = common::aisync_cmd(Path::new("/"))
            .env_remove("AISYNC_AUTOPUSH")
            .args(["init", dir.to_str().unwrap(), "--remote"])
            .arg(&hub)
            .output()
            .unwrap();
        common::assert_exit(&out, 0);
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(
            said.contains("pushed main to origin"),
            "round {round}: {said}"
        );
        let head = git_ok(&dir, &["rev-parse", "HEAD"]);
        let on_hub = git_ok(&hub, &["rev-parse", "refs/heads/main"]);
        assert_eq!(head, on_hub, "round {round}");
    }
}

/// A machine is named by the OS's host name, not by `$HOSTNAME` (which a shell exports and
/// a service or cron does not, and which macOS does not have at all).
#[test]
fn a_machine_is_named_after_the_os_host_name_not_the_shells_variable() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ai");
    let out = common::aisync_cmd(Path::new("/"))
        .env("HOSTNAME", "what-the-shell-says")
        .args(["init", dir.to_str().unwrap()])
        .output()
        .unwrap();
    common::assert_exit(&out, 0);
    let uname = std::process::Command::new("uname")
        .arg("-n")
        .output()
        .unwrap();
    let host = String::from_utf8_lossy(&uname.stdout).trim().to_string();
    assert_eq!(
        git_ok(&dir, &["config", "aisync.machine"]).trim(),
        host.strip_suffix(".local").unwrap_or(&host)
    );
}

/// History older than init that holds a secret (a `--no-verify` commit) is not published by
/// init's first push: its pre-push scan still runs (init's own commit runs no hooks).
#[test]
fn init_does_not_publish_a_secret_from_older_history() {
    let tmp = tempfile::tempdir().unwrap();
    let hub = tmp.path().join("hub.git");
    common::init_bare(&hub);
    let dir = tmp.path().join("ai");
    std::fs::create_dir_all(dir.join("memory")).unwrap();
    git_ok(&dir, &["init", "-q", "-b", "main"]);
    let token = format!("ghp_{}", "Zq8vLm3Kp9Xw2Rt7a8F3kL9mQ2wE7rT5yU1iZ");
    std::fs::write(dir.join("memory/notes.md"), format!("- token {token}\n")).unwrap();
    git_ok(&dir, &["add", "-A"]);
    git_ok(&dir, &["commit", "-q", "--no-verify", "-m", "notes"]);
    let out = common::aisync_cmd(Path::new("/"))
        .env_remove("AISYNC_AUTOPUSH")
        .args(["init", dir.to_str().unwrap(), "--remote"])
        .arg(&hub)
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0), "{out:?}");
    let on_hub = git_ok(&hub, &["log", "--all", "--oneline"]);
    assert!(on_hub.trim().is_empty(), "published: {on_hub}");
}
