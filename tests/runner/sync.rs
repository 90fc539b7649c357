//! The sync cycle across machines: clones of one bare hub in temp dirs, real git throughout.

use crate::common;

use common::{aisync, assert_exit, executable, git_cmd, git_ok, read, write, Net};
use std::path::{Path, PathBuf};
use std::process::Output;

fn sync(dir: &Path) -> Output {
    aisync(dir, &["sync"])
}

fn synced(dir: &Path) {
    let out = sync(dir);
    assert_eq!(
        out.status.code(),
        Some(0),
        "sync in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn tree(dir: &Path) -> String {
    git_ok(dir, &["rev-parse", "HEAD^{tree}"])
}

#[test]
fn two_machines_edit_the_same_memory_files_and_both_edits_are_everywhere() {
    let net = Net::new();
    let (laptop, server) = (net.machine("laptop"), net.machine("server"));
    write(
        &laptop,
        "memory/facts.json",
        "{\n  \"facts\": [\n    {\"id\": \"f1\", \"text\": \"likes tea\"}\n  ]\n}\n",
    );
    write(
        &laptop,
        "logs/session.jsonl",
        "{\"id\":1,\"ts\":\"2026-01-01T10:00:00Z\",\"msg\":\"start\"}\n",
    );
    write(&laptop, "memory/notes.md", "# Notes\n\n## Prefs\n- tea\n");
    synced(&laptop);
    synced(&server);
    assert_eq!(
        read(&server, "memory/notes.md"),
        "# Notes\n\n## Prefs\n- tea\n"
    );

    // Both machines edit all three files before either syncs.
    write(&laptop, "memory/facts.json", "{\n  \"facts\": [\n    {\"id\": \"f1\", \"text\": \"likes tea\"},\n    {\"id\": \"f2\", \"text\": \"uses rust\"}\n  ]\n}\n");
    write(&server, "memory/facts.json", "{\n  \"facts\": [\n    {\"id\": \"f1\", \"text\": \"likes tea\"},\n    {\"id\": \"f3\", \"text\": \"lives in Lyon\"}\n  ]\n}\n");
    std::fs::write(
        laptop.join("logs/session.jsonl"),
        format!(
            "{}{}",
            read(&laptop, "logs/session.jsonl"),
            "{\"id\":2,\"ts\":\"2026-01-01T10:05:00Z\",\"msg\":\"laptop\"}\n"
        ),
    )
    .unwrap();
    std::fs::write(
        server.join("logs/session.jsonl"),
        format!(
            "{}{}",
            read(&server, "logs/session.jsonl"),
            "{\"id\":3,\"ts\":\"2026-01-01T10:01:00Z\",\"msg\":\"server\"}\n"
        ),
    )
    .unwrap();
    write(
        &laptop,
        "memory/notes.md",
        "# Notes\n\n## Prefs\n- tea\n- dark mode\n",
    );
    write(
        &server,
        "memory/notes.md",
        "# Notes\n\n## Prefs\n- tea\n- vim\n",
    );
    synced(&laptop);
    synced(&server);
    synced(&laptop);

    assert_eq!(
        tree(&laptop),
        tree(&server),
        "both machines hold the same tree"
    );
    let facts = read(&laptop, "memory/facts.json");
    assert!(
        facts.contains("uses rust") && facts.contains("lives in Lyon"),
        "{facts}"
    );
    serde_json::from_str::<serde_json::Value>(&facts).expect("valid JSON");
    let log = read(&laptop, "logs/session.jsonl");
    let order: Vec<&str> = log
        .lines()
        .map(|l| {
            if l.contains("laptop") {
                "laptop"
            } else if l.contains("server") {
                "server"
            } else {
                "start"
            }
        })
        .collect();
    assert_eq!(order, ["start", "server", "laptop"], "{log}");
    assert_eq!(
        read(&laptop, "memory/notes.md"),
        "# Notes\n\n## Prefs\n- tea\n- dark mode\n- vim\n"
    );
    assert_eq!(git_ok(&laptop, &["status", "--porcelain"]), "");
}

#[test]
fn eight_machines_syncing_at_once_converge_without_force_pushes() {
    let net = Net::new();
    let machines: Vec<PathBuf> = (0..8).map(|i| net.machine(&format!("m{i}"))).collect();
    for (i, m) in machines.iter().enumerate() {
        write(
            m,
            "logs/all.jsonl",
            &format!("{{\"id\":\"m{i}\",\"ts\":{}}}\n", 1_700_000_000 + i),
        );
        write(
            m,
            &format!("memory/m{i}.md"),
            &format!("- note from m{i}\n"),
        );
    }
    std::thread::scope(|s| {
        for m in &machines {
            s.spawn(move || sync(m));
        }
    });
    // A second round lets every machine take in what the others pushed.
    for m in &machines {
        synced(m);
    }
    for m in &machines {
        synced(m);
    }
    let hub_head = git_ok(&net.hub, &["rev-parse", "main"]);
    for m in &machines {
        assert_eq!(
            git_ok(m, &["rev-parse", "HEAD"]),
            hub_head,
            "{} converged",
            m.display()
        );
    }
    let log = read(&machines[0], "logs/all.jsonl");
    for i in 0..8 {
        assert_eq!(
            log.matches(&format!("\"m{i}\"")).count(),
            1,
            "m{i} once in {log}"
        );
        assert!(machines[0].join(format!("memory/m{i}.md")).exists());
    }
    // Every update of the hub's branch was a fast-forward.
    let moves = git_ok(&net.hub, &["reflog", "--format=%H", "main"]);
    let moves: Vec<&str> = moves.lines().collect();
    for pair in moves.windows(2) {
        let ok = git_cmd(&net.hub)
            .args(["merge-base", "--is-ancestor", pair[1], pair[0]])
            .status()
            .unwrap()
            .success();
        assert!(ok, "{} -> {} was not a fast-forward", pair[1], pair[0]);
    }
}

#[test]
fn an_unreachable_remote_keeps_commits_local_until_it_is_back() {
    let net = Net::new();
    let laptop = net.machine("laptop");
    let moved = net.root.join("hub-away.git");
    std::fs::rename(&net.hub, &moved).unwrap();
    write(&laptop, "memory/a.md", "- written offline\n");
    let out = sync(&laptop);
    assert_exit(&out, 3);
    assert!(
        git_ok(&laptop, &["log", "-1", "--format=%s"]).contains("memory/a.md"),
        "committed locally"
    );
    let status = aisync(&laptop, &["status", "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["last_sync"]["outcome"], "offline");
    assert_eq!(status["remotes"][0]["ahead"], 1);

    std::fs::rename(&moved, &net.hub).unwrap();
    synced(&laptop);
    assert_eq!(
        git_ok(&net.hub, &["rev-parse", "main"]),
        git_ok(&laptop, &["rev-parse", "HEAD"])
    );
}

#[test]
fn a_repository_in_the_middle_of_a_rebase_or_on_another_branch_is_left_alone() {
    let net = Net::new();
    let laptop = net.machine("laptop");
    write(&laptop, "memory/a.md", "- a\n");
    std::fs::create_dir_all(laptop.join(".git/rebase-merge")).unwrap();
    let before = git_ok(&laptop, &["rev-parse", "HEAD"]);
    let out = sync(&laptop);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("middle of a rebase"));
    assert_eq!(
        git_ok(&laptop, &["rev-parse", "HEAD"]),
        before,
        "nothing committed"
    );
    std::fs::remove_dir_all(laptop.join(".git/rebase-merge")).unwrap();

    git_ok(&laptop, &["checkout", "-q", "-b", "experiment"]);
    let out = sync(&laptop);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("git checkout main"));
}

#[test]
fn a_binary_file_changed_on_both_machines_keeps_both_versions_the_same_way_everywhere() {
    let net = Net::new();
    let (laptop, server) = (net.machine("laptop"), net.machine("server"));
    std::fs::write(laptop.join("memory/pic.png"), b"\x89PNG\x00base").unwrap();
    synced(&laptop);
    synced(&server);
    std::fs::write(laptop.join("memory/pic.png"), b"\x89PNG\x00laptop").unwrap();
    std::fs::write(server.join("memory/pic.png"), b"\x89PNG\x00server").unwrap();
    synced(&laptop);
    synced(&server);
    synced(&laptop);
    assert_eq!(tree(&laptop), tree(&server));
    let files = git_ok(&server, &["ls-files", "memory"]);
    let copies: Vec<&str> = files
        .lines()
        .filter(|f| f.starts_with("memory/pic"))
        .collect();
    assert_eq!(copies.len(), 2, "{files}");
    let contents: Vec<Vec<u8>> = copies
        .iter()
        .map(|f| std::fs::read(server.join(f)).unwrap())
        .collect();
    assert!(
        contents.contains(&b"\x89PNG\x00laptop".to_vec())
            && contents.contains(&b"\x89PNG\x00server".to_vec())
    );
    let journal = read(&server, ".aisync/conflicts.jsonl");
    assert!(journal.contains("kept-both-files"), "{journal}");
}

#[test]
fn a_secret_stays_on_its_machine_and_everything_else_syncs() {
    let net = Net::new();
    let laptop = net.machine("laptop");
    let key = format!("AKIA{}", "QWERTYUIOPASDFGH");
    write(&laptop, "memory/creds.md", &format!("- aws key {key}\n"));
    write(&laptop, "memory/ok.md", "- fine\n");
    let out = sync(&laptop);
    assert_exit(&out, 4);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("memory/creds.md") && err.contains("aws-access-key-id") && !err.contains(&key),
        "{err}"
    );
    let hub_files = git_ok(&net.hub, &["ls-tree", "-r", "--name-only", "main"]);
    assert!(
        hub_files.contains("memory/ok.md") && !hub_files.contains("creds.md"),
        "{hub_files}"
    );
}

#[test]
fn versioned_and_never_paths_are_not_committed_by_the_cycle() {
    let net = Net::new();
    let laptop = net.machine("laptop");
    write(&laptop, "rules/style.md", "- be brief\n");
    write(&laptop, ".credentials/token", "secret\n");
    write(&laptop, "memory/a.md", "- a\n");
    synced(&laptop);
    let committed = git_ok(&laptop, &["ls-files"]);
    assert!(committed.contains("memory/a.md"));
    assert!(
        !committed.contains("rules/style.md"),
        "versioned files are for people to commit"
    );
    assert!(!committed.contains(".credentials"));
    assert!(git_ok(&laptop, &["status", "--porcelain"]).contains("rules/style.md"));
}

#[test]
fn criss_cross_merges_converge() {
    let net = Net::new();
    let (a, b) = (net.machine("a"), net.machine("b"));
    write(&a, "memory/x.json", "{\"items\": [1]}\n");
    synced(&a);
    synced(&b);
    // Both commit, then each merges the other's commit directly (two hubs' worth of history).
    write(&a, "memory/x.json", "{\"items\": [1, 2]}\n");
    git_ok(&a, &["commit", "-qam", "a2"]);
    write(&b, "memory/x.json", "{\"items\": [1, 3]}\n");
    git_ok(&b, &["commit", "-qam", "b3"]);
    git_ok(
        &a,
        &[
            "fetch",
            "-q",
            b.to_str().unwrap(),
            "main:refs/remotes/b/main",
        ],
    );
    git_ok(
        &b,
        &[
            "fetch",
            "-q",
            a.to_str().unwrap(),
            "main:refs/remotes/a/main",
        ],
    );
    git_ok(&a, &["merge", "-q", "--no-edit", "refs/remotes/b/main"]);
    git_ok(&b, &["merge", "-q", "--no-edit", "refs/remotes/a/main"]);
    write(
        &a,
        "memory/x.json",
        &read(&a, "memory/x.json").replace("]}", ", 4]}"),
    );
    write(&b, "memory/y.md", "- b\n");
    synced(&a);
    synced(&b);
    synced(&a);
    assert_eq!(tree(&a), tree(&b));
    let x: serde_json::Value = serde_json::from_str(&read(&a, "memory/x.json")).unwrap();
    let items: Vec<i64> = x["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    for n in [1, 2, 3, 4] {
        assert_eq!(items.iter().filter(|&&v| v == n).count(), 1, "{items:?}");
    }
}

#[test]
fn a_cycle_killed_at_any_step_leaves_a_sound_repo_and_the_next_one_finishes() {
    for step in [
        "staged",
        "committed",
        "fetched",
        "merging",
        "merged",
        "pushed",
    ] {
        let net = Net::new();
        let (laptop, server) = (net.machine("laptop"), net.machine("server"));
        write(&server, "memory/notes.md", "- from server\n");
        synced(&server);
        write(&laptop, "memory/notes.md", "- from laptop\n");
        write(&laptop, "logs/l.jsonl", "{\"id\":1}\n");
        let crashed = std::process::Command::new(common::bin())
            .arg("sync")
            .current_dir(&laptop)
            .env("AISYNC_TEST_CRASH_AT", step)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("AISYNC_AUTOPUSH", "0")
            .status()
            .unwrap();
        assert!(
            !crashed.success(),
            "{step}: the test switch should have killed the cycle"
        );
        let fsck = git_cmd(&laptop)
            .args(["fsck", "--no-progress"])
            .output()
            .unwrap();
        assert!(
            fsck.status.success(),
            "{step}: fsck: {}",
            String::from_utf8_lossy(&fsck.stderr)
        );
        synced(&laptop);
        synced(&server);
        for dir in [&laptop, &server] {
            let notes = read(dir, "memory/notes.md");
            assert!(
                notes.contains("from laptop") && notes.contains("from server"),
                "{step}: {notes}"
            );
            assert_eq!(read(dir, "logs/l.jsonl"), "{\"id\":1}\n", "{step}");
        }
        assert_eq!(tree(&laptop), tree(&server), "{step}");
    }
}

#[test]
fn a_commit_returns_at_once_and_the_post_commit_hook_pushes_it() {
    let net = Net::new();
    let laptop = net.machine("laptop");
    write(&laptop, "rules/style.md", "- be brief\n");
    git_ok(&laptop, &["add", "rules/style.md"]);
    let start = std::time::Instant::now();
    let out = git_cmd(&laptop)
        .env("AISYNC_AUTOPUSH", "1")
        .args(["commit", "-q", "-m", "style"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let local = git_ok(&laptop, &["rev-parse", "HEAD"]);
    let returned = start.elapsed();
    let mut pushed = false;
    for _ in 0..200 {
        if git_ok(&net.hub, &["rev-parse", "main"]) == local {
            pushed = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(pushed, "the background sync pushed the commit");
    assert!(
        returned < std::time::Duration::from_secs(5),
        "commit took {returned:?}"
    );
}

#[test]
fn restore_lists_the_snapshots_and_brings_one_back_as_a_new_commit() {
    let net = Net::new();
    let (laptop, server) = (net.machine("laptop"), net.machine("server"));
    write(&laptop, "memory/a.md", "- mine\n");
    synced(&laptop);
    write(&server, "memory/b.md", "- theirs\n");
    synced(&server);
    write(&laptop, "memory/c.md", "- more\n");
    synced(&laptop); // merges the server's work: a snapshot first
    let list = aisync(&laptop, &["restore"]);
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(
        text.contains("aisync(laptop): memory/c.md"),
        "the tip before the merge: {text}"
    );
    let out = aisync(&laptop, &["restore", "1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !laptop.join("memory/b.md").exists(),
        "back to before the merge"
    );
    assert!(git_ok(&laptop, &["log", "-1", "--format=%s"]).starts_with("aisync: restore"));
    assert!(
        git_ok(&laptop, &["log", "--format=%s"]).contains("merge origin/main"),
        "history kept"
    );
}

#[test]
fn the_cycle_runs_none_of_the_machines_hooks_but_the_hub_runs_its_own() {
    let net = Net::new();
    let a = net.machine("a");
    // A person's own hooks, chained behind ours, each leaving a mark; and the hub's.
    let marks = net.root.join("marks");
    std::fs::create_dir_all(&marks).unwrap();
    assert!(aisync(&a, &["uninstall"]).status.success());
    for hook in ["pre-commit", "post-commit", "pre-push"] {
        executable(
            &a.join(".git/hooks").join(hook),
            &format!("#!/bin/sh\ntouch '{}'\n", marks.join(hook).display()),
        );
    }
    assert!(aisync(&a, &["install"]).status.success());
    executable(
        &net.hub.join("hooks/post-receive"),
        &format!("#!/bin/sh\ntouch '{}'\n", marks.join("hub").display()),
    );

    write(&a, "memory/a.md", "- synced by the cycle\n");
    synced(&a);
    assert_eq!(
        git_ok(&net.hub, &["rev-parse", "main"]),
        git_ok(&a, &["rev-parse", "HEAD"])
    );
    let marked = || {
        let mut names: Vec<String> = std::fs::read_dir(&marks)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    assert_eq!(marked(), ["hub"], "only the hub's hook ran");

    // A person's own commit still runs every hook.
    write(&a, "rules/style.md", "- short lines\n");
    git_ok(&a, &["add", "rules/style.md"]);
    git_ok(&a, &["commit", "-q", "-m", "style"]);
    assert_eq!(marked(), ["hub", "post-commit", "pre-commit"]);

    // With git-lfs in use (it uploads from pre-push), the cycle keeps the hooks.
    git_ok(&a, &["config", "filter.lfs.clean", "cat"]);
    write(&a, "memory/b.md", "- pushed with the hooks\n");
    synced(&a);
    assert!(marked().contains(&"pre-push".to_string()), "{:?}", marked());
}

/// An `index.lock` dated `ago` in the past.
fn old_index_lock(dir: &Path, ago: std::time::Duration) -> PathBuf {
    let lock = dir.join(".git/index.lock");
    let file = std::fs::File::create(&lock).unwrap();
    file.set_modified(std::time::SystemTime::now() - ago)
        .unwrap();
    lock
}

#[test]
fn an_index_lock_left_by_a_dead_git_is_cleared_one_a_live_git_holds_is_waited_for() {
    let net = Net::new();
    let a = net.machine("a");
    let minute = std::time::Duration::from_secs(60);

    // Held open by a live process (as a running git holds it): never taken away.
    let lock = old_index_lock(&a, minute);
    let mut holder = std::process::Command::new("sh")
        .args(["-c", "exec 3>>\"$1\"; echo held; exec sleep 60", "sh"])
        .arg(&lock)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut said = [0u8; 5];
    std::io::Read::read_exact(holder.stdout.as_mut().unwrap(), &mut said).unwrap();
    write(&a, "memory/a.md", "- waits for the lock\n");
    let out = sync(&a);
    let _ = holder.kill();
    let _ = holder.wait();
    assert_exit(&out, 1);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("another git command holds"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(lock.exists(), "a lock a live process holds stays");

    // Open in no process, but a git is at work in the repository (git closes the lock's
    // descriptor while it still holds it, as `git commit` does while its hooks run).
    old_index_lock(&a, minute);
    let mut git_at_work = git_cmd(&a)
        .args(["hash-object", "--stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let out = sync(&a);
    drop(git_at_work.stdin.take());
    let _ = git_at_work.wait();
    assert_exit(&out, 1);
    assert!(lock.exists(), "a lock a git at work may hold stays");

    // Nobody holds it now (the holder is gone): stale, cleared, and the cycle goes on.
    old_index_lock(&a, minute);
    synced(&a);
    assert!(!lock.exists());
    assert_eq!(
        git_ok(&net.hub, &["show", "main:memory/a.md"]),
        "- waits for the lock\n"
    );
}

#[test]
fn a_cycle_with_nothing_to_commit_leaves_the_index_alone() {
    // A person's (or an assistant's) next `git add` must not meet the cycle's index.lock:
    // the cycle takes no lock it can do without, so the index of a repository where only
    // file times changed is not rewritten.
    let net = Net::new();
    let a = net.machine("a");
    write(&a, "memory/a.md", "- same words\n");
    synced(&a);
    let index = std::fs::read(a.join(".git/index")).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    write(&a, "memory/a.md", "- same words\n");
    synced(&a);
    assert!(
        std::fs::read(a.join(".git/index")).unwrap() == index,
        "the index was rewritten"
    );
    // git itself would have refreshed it.
    git_ok(&a, &["status", "--porcelain"]);
    assert!(std::fs::read(a.join(".git/index")).unwrap() != index);
}

/// Every object the hub holds, as text (to look for what must never reach it).
fn hub_history(hub: &Path) -> String {
    git_ok(hub, &["log", "-p", "--all", "--format=%H %s"])
}

#[test]
fn a_staged_rename_a_staged_deletion_and_a_file_turned_folder_are_synced_like_any_edit() {
    let net = Net::new();
    let (laptop, server) = (net.machine("laptop"), net.machine("server"));
    write(&laptop, "memory/a.md", "- a\n");
    write(&laptop, "memory/x.md", "- x\n");
    write(&laptop, "memory/fd", "- a file for now\n");
    synced(&laptop);
    // A person tidies up with git, and commits nothing.
    git_ok(&laptop, &["mv", "memory/a.md", "memory/b.md"]);
    git_ok(&laptop, &["rm", "-q", "memory/x.md"]);
    std::fs::remove_file(laptop.join("memory/fd")).unwrap();
    write(&laptop, "memory/fd/i.md", "- inside\n");
    synced(&laptop);
    synced(&laptop);
    synced(&server);
    assert_eq!(read(&server, "memory/b.md"), "- a\n");
    assert_eq!(read(&server, "memory/fd/i.md"), "- inside\n");
    assert!(!server.join("memory/a.md").exists() && !server.join("memory/x.md").exists());
    assert_eq!(git_ok(&laptop, &["status", "--porcelain"]), "");
    assert_eq!(tree(&laptop), tree(&server));
}

#[test]
fn a_note_whose_name_is_not_utf8_syncs_under_its_own_name() {
    use std::os::unix::ffi::OsStrExt;
    let net = Net::new();
    let (laptop, server) = (net.machine("laptop"), net.machine("server"));
    let name = std::ffi::OsStr::from_bytes(b"bad\xffname.md");
    std::fs::create_dir_all(laptop.join("memory")).unwrap();
    std::fs::write(laptop.join("memory").join(name), "- latin-1 name\n").unwrap();
    write(&laptop, "memory/ok.md", "- ok\n");
    synced(&laptop);
    synced(&server);
    assert_eq!(
        std::fs::read(server.join("memory").join(name)).unwrap(),
        b"- latin-1 name\n"
    );
    assert_eq!(git_ok(&laptop, &["status", "--porcelain"]), "");
}

#[test]
fn the_cycle_scans_what_it_stages_not_an_earlier_copy_of_the_file() {
    // What `git add` stores can differ from the file the cycle read: a writer racing the
    // cycle, or (deterministic here) a clean filter. The stored bytes are what is pushed.
    let net = Net::new();
    let laptop = net.machine("laptop");
    let key = format!("ghp_{}", "Zq3k".repeat(9));
    git_ok(
        &laptop,
        &[
            "config",
            "filter.fill.clean",
            &format!("sed s/PLACEHOLDER/{key}/"),
        ],
    );
    git_ok(&laptop, &["config", "filter.fill.smudge", "cat"]);
    write(
        &laptop,
        ".git/info/attributes",
        "memory/filled.md filter=fill\n",
    );
    write(&laptop, "memory/filled.md", "- token PLACEHOLDER\n");
    write(&laptop, "memory/ok.md", "- fine\n");
    let out = sync(&laptop);
    assert_exit(&out, 4);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("memory/filled.md") && !err.contains(&key),
        "{err}"
    );
    let hub = hub_history(&net.hub);
    assert!(hub.contains("memory/ok.md") && !hub.contains(&key), "{hub}");
}

#[test]
fn a_file_a_person_unstaged_with_a_secret_in_it_stays_on_the_machine() {
    let net = Net::new();
    let laptop = net.machine("laptop");
    write(&laptop, "memory/x.md", "- harmless\n");
    synced(&laptop);
    let key = format!("ghp_{}", "Zq3k".repeat(9));
    git_ok(&laptop, &["rm", "-q", "--cached", "memory/x.md"]);
    write(
        &laptop,
        "memory/x.md",
        &format!("- harmless\n- token {key}\n"),
    );
    assert_exit(&sync(&laptop), 4);
    assert!(!hub_history(&net.hub).contains(&key));
    // The file is still here, with the secret, for the person to deal with.
    assert!(read(&laptop, "memory/x.md").contains(&key));
}

#[test]
fn a_signing_setup_that_cannot_sign_unattended_does_not_stop_sync() {
    let net = Net::new();
    let (laptop, server) = (net.machine("laptop"), net.machine("server"));
    // A signer that would wait for a passphrase or a touch; here one that fails at once.
    let signer = net.root.join("signer");
    executable(&signer, "#!/bin/sh\necho 'no pinentry' >&2\nexit 1\n");
    git_ok(&laptop, &["config", "commit.gpgSign", "true"]);
    git_ok(
        &laptop,
        &["config", "gpg.program", signer.to_str().unwrap()],
    );
    write(&server, "memory/s.md", "- from server\n");
    synced(&server);
    write(&laptop, "memory/l.md", "- from laptop\n");
    synced(&laptop);
    synced(&server);
    assert_eq!(read(&server, "memory/l.md"), "- from laptop\n");
    assert_eq!(tree(&laptop), tree(&server));
}

#[test]
fn conflict_records_left_by_a_persons_rebase_travel_with_the_next_cycle() {
    let net = Net::new();
    let (laptop, server) = (net.machine("laptop"), net.machine("server"));
    write(
        &laptop,
        "memory/facts.json",
        "{\"editor\": \"vim\", \"tz\": \"UTC\"}\n",
    );
    synced(&laptop);
    synced(&server);
    write(
        &server,
        "memory/facts.json",
        "{\"editor\": \"emacs\", \"tz\": \"UTC\"}\n",
    );
    synced(&server);
    // The person commits and rebases by hand: no post-merge hook runs for a rebase.
    write(
        &laptop,
        "memory/facts.json",
        "{\"editor\": \"helix\", \"tz\": \"UTC\"}\n",
    );
    git_ok(&laptop, &["commit", "-qam", "editor"]);
    git_ok(&laptop, &["pull", "-q", "--rebase", "origin", "main"]);
    assert!(laptop.join(".git/aisync/pending-conflicts.jsonl").exists());
    synced(&laptop);
    synced(&server);
    let journal = read(&server, ".aisync/conflicts.jsonl");
    assert!(journal.contains("memory/facts.json"), "{journal}");
    assert!(!laptop.join(".git/aisync/pending-conflicts.jsonl").exists());
}

/// Writes the repository lock as a cycle of process `pid` on host `host` would.
fn lock_as(dir: &Path, pid: u32, host: &str, started: &str) {
    write(
        dir,
        ".git/aisync/lock",
        &format!(r#"{{"pid":{pid},"host":"{host}","started":"{started}"}}"#),
    );
}

fn sync_on_host(dir: &Path, host: &str) -> Output {
    common::aisync_cmd(dir)
        .env("HOSTNAME", host)
        .arg("sync")
        .output()
        .unwrap()
}

#[test]
fn a_lock_left_long_ago_by_a_pid_now_reused_does_not_stop_syncing() {
    let net = Net::new();
    let laptop = net.machine("laptop");
    // Pid 1 is alive, but it is not the cycle that took this lock in 2020.
    lock_as(&laptop, 1, "laptop-host", "2020-01-01T00:00:00Z");
    write(&laptop, "memory/a.md", "- a\n");
    assert_exit(&sync_on_host(&laptop, "laptop-host"), 0);
    let hub_files = git_ok(&net.hub, &["ls-tree", "-r", "--name-only", "main"]);
    assert!(hub_files.contains("memory/a.md"), "{hub_files}");
}

#[test]
fn a_request_made_while_a_cycle_runs_reports_what_happened_to_it_not_success_in_advance() {
    let net = Net::new();
    let laptop = net.machine("laptop");
    // A cycle holds the lock for a moment, then dies without seeing the request.
    let mut holder = hold_the_lock(&laptop, 2);
    write(&laptop, "memory/a.md", "- a\n");
    let out = sync_on_host(&laptop, "laptop-host");
    let _ = holder.wait();
    assert_exit(&out, 0);
    let hub_files = git_ok(&net.hub, &["ls-tree", "-r", "--name-only", "main"]);
    assert!(
        hub_files.contains("memory/a.md"),
        "the request ran: {hub_files}"
    );
}

/// A process that holds the repository lock of `dir` (a real advisory lock, as a cycle
/// holds it) for `secs` seconds, once it holds it.
fn hold_the_lock(dir: &Path, secs: u32) -> std::process::Child {
    let lock = dir.join(".git/aisync/lock");
    std::fs::create_dir_all(lock.parent().unwrap()).unwrap();
    let holder = std::process::Command::new("flock")
        .arg(&lock)
        .args(["sleep", &secs.to_string()])
        .spawn()
        .expect("flock (util-linux)");
    let held = || {
        !std::process::Command::new("flock")
            .args(["-n", "-s"])
            .arg(&lock)
            .arg("true")
            .status()
            .unwrap()
            .success()
    };
    let start = std::time::Instant::now();
    while !held() {
        assert!(
            start.elapsed().as_secs() < 10,
            "the holder never took the lock"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    holder
}

/// Eight `sync`s started at once in one clone, half of them seeing another host name (a
/// service and a shell see it differently): one cycle at a time, none dropped, all exit 0,
/// and every file written before they started is on the hub when the last one exits.
#[test]
fn eight_syncs_at_once_take_turns_and_none_is_dropped() {
    let net = Net::new();
    let laptop = net.machine("laptop");
    for i in 0..8 {
        write(
            &laptop,
            &format!("memory/n{i}.md"),
            &format!("- note {i}\n"),
        );
    }
    let children: Vec<_> = (0..8)
        .map(|i| {
            let mut cmd = common::aisync_cmd(&laptop);
            if i % 2 == 0 {
                cmd.env("HOSTNAME", "somewhere-else");
            } else {
                cmd.env_remove("HOSTNAME");
            }
            cmd.arg("sync")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert_exit(&out, 0);
    }
    let on_hub = git_ok(&net.hub, &["ls-tree", "-r", "--name-only", "main"]);
    for i in 0..8 {
        assert!(on_hub.contains(&format!("memory/n{i}.md")), "{on_hub}");
    }
    assert_eq!(git_ok(&laptop, &["status", "--porcelain"]), "");
}

#[test]
fn a_persons_own_conflicted_pull_is_left_to_them_even_after_a_killed_cycle() {
    let net = Net::new();
    let (laptop, server) = (net.machine("laptop"), net.machine("server"));
    write(&laptop, "memory/t.bin", "\0base\n");
    synced(&laptop);
    synced(&server);
    write(&server, "memory/t.bin", "\0server\n");
    synced(&server);
    write(&laptop, "memory/t.bin", "\0laptop\n");
    git_ok(&laptop, &["commit", "-qam", "mine"]);
    // A cycle killed mid-merge long ago left its marker behind.
    write(
        &laptop,
        ".git/aisync/merging",
        "0123456789012345678901234567890123456789",
    );
    let pulled = git_cmd(&laptop)
        .args(["pull", "-q", "--no-rebase", "origin", "main"])
        .output()
        .unwrap();
    assert!(
        !pulled.status.success(),
        "the person's pull stops at the conflict"
    );
    let head = git_ok(&laptop, &["rev-parse", "HEAD"]);
    assert_exit(&sync(&laptop), 2);
    assert_eq!(
        git_ok(&laptop, &["rev-parse", "HEAD"]),
        head,
        "nothing committed"
    );
    assert!(
        laptop.join(".git/MERGE_HEAD").exists(),
        "the merge is still theirs"
    );
    assert!(
        !laptop.join(".git/aisync/merging").exists(),
        "the stale marker is gone"
    );
}

/// The journal's records with `rule`.
fn journaled(dir: &Path, rule: &str) -> Vec<serde_json::Value> {
    common::read_or_empty(dir, ".aisync/conflicts.jsonl")
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|r| r["rule"] == rule)
        .collect()
}

#[test]
fn a_file_on_one_machine_and_a_folder_of_the_same_name_on_another_both_survive() {
    let net = Net::new();
    let (laptop, server) = (net.machine("laptop"), net.machine("server"));
    write(&laptop, "memory/topic", "- a file\n");
    write(&server, "memory/topic/inside.md", "- in a folder\n");
    synced(&laptop);
    synced(&server);
    synced(&laptop);
    assert_eq!(tree(&laptop), tree(&server), "the same tree everywhere");
    assert_eq!(read(&server, "memory/topic/inside.md"), "- in a folder\n");
    let files = git_ok(&server, &["ls-files", "memory"]);
    let beside: Vec<&str> = files
        .lines()
        .filter(|f| f.starts_with("memory/topic.conflict-"))
        .collect();
    assert_eq!(beside.len(), 1, "{files}");
    assert!(!files.contains('~'), "{files}");
    assert_eq!(read(&server, beside[0]), "- a file\n");
    let records = journaled(&server, "file-vs-folder");
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["beside"], beside[0]);
}

#[test]
fn notes_whose_names_differ_only_in_case_do_not_both_keep_the_name() {
    let net = Net::new();
    let (laptop, server) = (net.machine("laptop"), net.machine("server"));
    write(&laptop, "memory/Note.md", "- from the laptop\n");
    write(&server, "memory/note.md", "- from the server\n");
    synced(&laptop);
    synced(&server);
    synced(&laptop);
    assert_eq!(tree(&laptop), tree(&server), "the same tree everywhere");
    let files = git_ok(&laptop, &["ls-files", "memory"]);
    let names: Vec<&str> = files
        .lines()
        .filter(|n| n.to_lowercase().starts_with("memory/note"))
        .collect();
    assert_eq!(names.len(), 2, "{files}");
    let lower: std::collections::HashSet<String> = names.iter().map(|n| n.to_lowercase()).collect();
    assert_eq!(lower.len(), 2, "no two names differ only in case: {files}");
    assert!(names.iter().any(|n| n.contains(".conflict-")), "{files}");
    let texts: String = names.iter().map(|n| read(&laptop, n)).collect();
    assert!(
        texts.contains("from the laptop") && texts.contains("from the server"),
        "{texts}"
    );
    assert_eq!(journaled(&laptop, "case-clash").len(), 1);
}

#[test]
fn conflicts_shows_where_the_other_copy_went_and_what_a_commit_removed() {
    let net = Net::new();
    let (laptop, server) = (net.machine("laptop"), net.machine("server"));
    write(&laptop, "memory/Note.md", "- from the laptop\n");
    write(&server, "memory/note.md", "- from the server\n");
    write(&server, "memory/list.md", "- keep\n- drop me\n");
    synced(&laptop);
    synced(&server);
    // An assistant rewrites the list from a stale copy.
    write(&server, "memory/list.md", "- keep\n");
    synced(&server);
    let out = aisync(&server, &["conflicts"]);
    assert_exit(&out, 0);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("other copy at memory/") && text.contains(".conflict-"),
        "{text}"
    );
    assert!(
        text.contains("removed") && text.contains("- drop me"),
        "{text}"
    );
}

#[test]
fn a_remote_that_is_not_there_by_name_is_an_error_and_one_bad_remote_does_not_stop_the_others() {
    let net = Net::new();
    let laptop = net.machine("laptop");
    write(&laptop, "memory/a.md", "- a\n");
    let out = aisync(&laptop, &["sync", "--remote", "nosuch"]);
    assert_exit(&out, 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("nosuch"));
    // An insecure remote first in line: refused, and the hub after it still syncs.
    git_ok(&laptop, &["remote", "remove", "origin"]);
    git_ok(
        &laptop,
        &["remote", "add", "plain", "http://example.invalid/r.git"],
    );
    git_ok(
        &laptop,
        &["remote", "add", "origin", net.hub.to_str().unwrap()],
    );
    let remotes = git_ok(&laptop, &["config", "--get-regexp", "remote.*url"]);
    let out = sync(&laptop);
    assert_exit(&out, 1);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not encrypted"), "{err}");
    let hub_files = git_ok(&net.hub, &["ls-tree", "-r", "--name-only", "main"]);
    assert!(
        hub_files.contains("memory/a.md"),
        "{remotes} {err} {hub_files}"
    );
}

#[test]
fn an_incoming_change_to_a_file_a_person_is_editing_waits_and_the_edit_survives() {
    let net = Net::new();
    let (a, b) = (net.machine("a"), net.machine("b"));
    common::an_edit_in_progress_holds_back_the_incoming_change(&a, &b);
}

#[test]
fn a_machine_that_began_alone_because_its_hub_was_not_there_yet_merges_the_hubs_history() {
    let tmp = tempfile::tempdir().unwrap();
    let hub = tmp.path().join("later/hub.git");
    let (early, other) = (tmp.path().join("early"), tmp.path().join("other"));
    // The hub is not there yet (a mount not up, say): init makes a history of its own.
    let url = format!("file://{}", hub.display());
    let out = aisync(
        Path::new("/"),
        &["init", early.to_str().unwrap(), "--remote", &url],
    );
    assert_exit(&out, 3);
    git_ok(&early, &["config", "aisync.machine", "early"]);
    write(
        &early,
        "memory/early.md",
        "- written before the hub existed\n",
    );
    assert_exit(&sync(&early), 3);

    // Another machine makes the hub, with its own history.
    common::init_bare(&hub);
    common::init_joined(&other, &hub);
    git_ok(&other, &["config", "aisync.machine", "other"]);
    write(
        &other,
        "memory/other.md",
        "- from the hub's first machine\n",
    );
    synced(&other);

    synced(&early);
    // Joined once: the permission to merge an unrelated history is used up.
    let pending = common::git_cmd(&early)
        .args(["config", "--get", "aisync.pendingJoin"])
        .output()
        .unwrap();
    assert!(!pending.status.success(), "aisync.pendingJoin is still set");
    synced(&other);
    assert_eq!(tree(&early), tree(&other));
    assert_eq!(
        read(&other, "memory/early.md"),
        "- written before the hub existed\n"
    );
    assert_eq!(
        read(&early, "memory/other.md"),
        "- from the hub's first machine\n"
    );
}

#[test]
fn a_remote_pointing_at_a_strangers_repository_is_not_merged() {
    let net = Net::new();
    let laptop = net.machine("laptop");
    write(&laptop, "memory/mine.md", "- mine\n");
    synced(&laptop);
    let before = git_ok(&laptop, &["rev-parse", "HEAD"]);
    // origin now leads somewhere else: a repository with a history of its own.
    let tmp = tempfile::tempdir().unwrap();
    let stranger = tmp.path().join("stranger");
    std::fs::create_dir_all(&stranger).unwrap();
    git_ok(&stranger, &["init", "-q", "-b", "main"]);
    write(&stranger, "secret-project.txt", "not yours\n");
    git_ok(&stranger, &["add", "-A"]);
    git_ok(&stranger, &["commit", "-q", "-m", "theirs"]);
    let bare = tmp.path().join("stranger.git");
    git_ok(
        tmp.path(),
        &[
            "clone",
            "-q",
            "--bare",
            stranger.to_str().unwrap(),
            bare.to_str().unwrap(),
        ],
    );
    git_ok(
        &laptop,
        &["remote", "set-url", "origin", bare.to_str().unwrap()],
    );
    let out = sync(&laptop);
    assert_exit(&out, 1);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("shares no history"), "{err}");
    assert_eq!(git_ok(&laptop, &["rev-parse", "HEAD"]), before);
    assert!(!laptop.join("secret-project.txt").exists());
    assert_eq!(
        git_ok(&bare, &["ls-tree", "--name-only", "main"]),
        "secret-project.txt\n"
    );
}

#[test]
fn a_note_that_shows_conflict_markers_in_a_code_fence_syncs() {
    let net = Net::new();
    let (laptop, server) = (net.machine("laptop"), net.machine("server"));
    let note = "# Resolving conflicts\n\nGit marks them like this:\n\n```\n<<<<<<< ours\nmine\n=======\ntheirs\n>>>>>>> theirs\n```\n";
    write(&laptop, "memory/git.md", note);
    let out = sync(&laptop);
    assert_exit(&out, 0);
    assert!(git_ok(&laptop, &["log", "-1", "--name-only"]).contains("memory/git.md"));
    synced(&server);
    assert_eq!(read(&server, "memory/git.md"), note);
    // The same markers outside a fence are a conflict left unresolved: held back.
    write(
        &laptop,
        "memory/half.md",
        "<<<<<<< ours\nmine\n=======\ntheirs\n>>>>>>> theirs\n",
    );
    assert_exit(&sync(&laptop), 4);
}

#[test]
fn an_edited_value_is_not_journaled_as_removed_but_a_deleted_bullet_is() {
    let net = Net::new();
    let laptop = net.machine("laptop");
    write(
        &laptop,
        "memory/facts.json",
        "{\n  \"facts\": [\n    {\"id\": \"f1\", \"text\": \"likes tea\"}\n  ],\n  \"count\": 1\n}\n",
    );
    write(
        &laptop,
        "memory/notes.md",
        "# Notes\n\n- keep me\n- drop me\n",
    );
    synced(&laptop);

    // One value changed, and the file re-indented: an edit, nothing gone.
    write(
        &laptop,
        "memory/facts.json",
        "{\n    \"facts\": [\n        {\"id\": \"f1\", \"text\": \"likes coffee\"}\n    ],\n    \"count\": 2\n}\n",
    );
    synced(&laptop);
    assert!(journaled(&laptop, "removed-by-commit").is_empty());

    // A bullet deleted: it is gone, and the journal keeps it.
    write(&laptop, "memory/notes.md", "# Notes\n\n- keep me\n");
    synced(&laptop);
    let records = journaled(&laptop, "removed-by-commit");
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["path"], "memory/notes.md");
    assert_eq!(records[0]["base"], "- drop me");
}

#[test]
fn restore_waits_for_a_running_sync_and_keeps_the_journal_and_a_held_back_file() {
    let net = Net::new();
    let (laptop, server) = (net.machine("laptop"), net.machine("server"));
    write(&laptop, "memory/a.md", "- mine\n");
    write(&laptop, "memory/notes.md", "- keep me\n- drop me\n");
    synced(&laptop);
    write(&server, "memory/b.md", "- theirs\n");
    synced(&server);
    write(&laptop, "memory/c.md", "- more\n");
    synced(&laptop); // merges the server's work: a snapshot first
                     // After the snapshot: a bullet deleted (journaled), and a file held back mid-edit.
    write(&laptop, "memory/notes.md", "- keep me\n");
    synced(&laptop);
    let journal_before = read(&laptop, ".aisync/conflicts.jsonl");
    assert!(journal_before.contains("drop me"));
    let half = "<<<<<<< ours\n- mine\n=======\n- mine, edited\n>>>>>>> theirs\n";
    write(&laptop, "memory/a.md", half);
    assert_exit(&sync(&laptop), 4);

    // A sync holds the lock for a moment: restore waits for it.
    let mut holder = hold_the_lock(&laptop, 2);
    let start = std::time::Instant::now();
    let out = common::aisync_cmd(&laptop)
        .env("HOSTNAME", "laptop-host")
        .args(["restore", "1"])
        .output()
        .unwrap();
    let _ = holder.wait();
    assert_exit(&out, 0);
    assert!(
        start.elapsed() >= std::time::Duration::from_millis(1500),
        "restore ran under a live sync's lock"
    );
    assert!(
        !laptop.join("memory/b.md").exists(),
        "back to before the merge"
    );
    assert_eq!(read(&laptop, "memory/notes.md"), "- keep me\n- drop me\n");
    // The journal and the held-back file are as they were.
    assert_eq!(read(&laptop, ".aisync/conflicts.jsonl"), journal_before);
    assert_eq!(read(&laptop, "memory/a.md"), half);
    assert!(git_ok(&laptop, &["log", "-1", "--format=%s"]).starts_with("aisync: restore"));
}

#[test]
fn a_binary_file_whose_name_is_not_utf8_changed_on_both_machines_keeps_both_under_its_name() {
    use std::os::unix::ffi::OsStrExt;
    let net = Net::new();
    let (laptop, server) = (net.machine("laptop"), net.machine("server"));
    let name = std::ffi::OsStr::from_bytes(b"pic\xff.png");
    let at = |dir: &Path| dir.join("memory").join(name);
    std::fs::create_dir_all(laptop.join("memory")).unwrap();
    std::fs::write(at(&laptop), b"\x89PNG\x00base").unwrap();
    synced(&laptop);
    synced(&server);
    std::fs::write(at(&laptop), b"\x89PNG\x00laptop").unwrap();
    std::fs::write(at(&server), b"\x89PNG\x00server").unwrap();
    synced(&laptop);
    synced(&server);
    synced(&laptop);
    assert_eq!(tree(&laptop), tree(&server));
    // Both versions, under the name's own bytes and beside it: nothing lossily renamed.
    let mut found: Vec<(Vec<u8>, Vec<u8>)> = std::fs::read_dir(server.join("memory"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().as_bytes().to_vec())
        .filter(|n| n.starts_with(b"pic"))
        .map(|n| {
            let bytes = std::fs::read(server.join("memory").join(std::ffi::OsStr::from_bytes(&n)));
            (n, bytes.unwrap())
        })
        .collect();
    found.sort();
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found.iter().any(|(n, _)| n == b"pic\xff.png"));
    assert!(found
        .iter()
        .all(|(n, _)| n.starts_with(b"pic\xff") && !n.contains(&b'\xef')));
    let contents: Vec<&Vec<u8>> = found.iter().map(|(_, c)| c).collect();
    assert!(contents.contains(&&b"\x89PNG\x00laptop".to_vec()));
    assert!(contents.contains(&&b"\x89PNG\x00server".to_vec()));
    assert_eq!(git_ok(&server, &["status", "--porcelain"]), "");
}

/// The cycle keeps its scratch index from one cycle to the next; a commit of a person's in
/// between (here: a newer version of a file the last cycle committed) must be built on, never
/// undone by a commit made from the older index.
#[test]
fn a_persons_commit_between_cycles_is_built_on_not_undone() {
    let net = Net::new();
    let laptop = net.machine("laptop");
    write(&laptop, "memory/a.md", "- first\n");
    synced(&laptop);
    write(&laptop, "memory/a.md", "- first\n- the person's own\n");
    git_ok(&laptop, &["commit", "-q", "-am", "by hand"]);
    write(&laptop, "memory/b.md", "- new\n");
    synced(&laptop);
    for dir in [&laptop, &net.hub] {
        let shown = |rev: &str| git_ok(dir, &["show", rev]);
        assert_eq!(shown("main:memory/a.md"), "- first\n- the person's own\n");
        assert_eq!(shown("main:memory/b.md"), "- new\n");
    }
    let log = git_ok(&laptop, &["log", "--format=%s", "-3"]);
    assert!(
        log.starts_with("aisync(laptop): memory/b.md\nby hand\n"),
        "{log}"
    );
    assert_eq!(git_ok(&laptop, &["status", "--porcelain"]), "");
}

/// Text a commit removes from a memory file goes into the synced journal: if that text holds
/// a secret (one that reached the hub past the hooks), the journal would carry it again, and
/// the push gate (which reads what the cycle's own commit adds) holds the commit back.
#[test]
fn a_secret_in_removed_text_keeps_the_journal_off_the_hub() {
    let net = Net::new();
    let laptop = net.machine("laptop");
    let key = format!("AKIA{}", "ZXCVBNMASDFGHJKL");
    write(
        &laptop,
        "memory/notes.md",
        &format!("# Notes\n\n- keep me\n- aws {key}\n"),
    );
    // Past every hook: committed and pushed by hand with the hooks off.
    let no_hooks = ["-c", "core.hooksPath=/nonexistent"];
    git_ok(&laptop, &[&no_hooks[..], &["add", "-A"]].concat());
    git_ok(
        &laptop,
        &[&no_hooks[..], &["commit", "-q", "-m", "oops"]].concat(),
    );
    git_ok(
        &laptop,
        &[&no_hooks[..], &["push", "-q", "origin", "main"]].concat(),
    );
    let hub_tip = git_ok(&net.hub, &["rev-parse", "main"]);

    write(&laptop, "memory/notes.md", "# Notes\n\n- keep me\n");
    let out = sync(&laptop);
    assert_exit(&out, 4);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("a commit to push adds a secret") && !err.contains(&key),
        "{err}"
    );
    assert_eq!(git_ok(&net.hub, &["rev-parse", "main"]), hub_tip);
    // Committed here, with the removed line journaled: nothing is lost.
    let journal = git_ok(&laptop, &["show", "HEAD:.aisync/conflicts.jsonl"]);
    assert!(journal.contains(&key), "{journal}");
}

/// A held-back file's name is quoted in the cycle's message when it needs to be (a line break
/// in it): one line per file, as git quotes names.
#[test]
fn a_held_back_file_with_a_line_break_in_its_name_is_named_on_one_line() {
    let net = Net::new();
    let laptop = net.machine("laptop");
    let key = format!("AKIA{}", "POIUYTREWQLKJHGF");
    write(&laptop, "memory/two\nlines.md", &format!("- {key}\n"));
    let out = sync(&laptop);
    assert_exit(&out, 4);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.lines().any(|l| l.contains(r#""memory/two\nlines.md""#)),
        "{err}"
    );
}

/// The first machine to upgrade writes a setting the others do not know yet: they keep
/// syncing (it is ignored and said, by status and doctor), and nothing stops.
#[test]
fn a_setting_from_a_newer_version_does_not_stop_older_machines() {
    let net = Net::new();
    let (laptop, server) = (net.machine("laptop"), net.machine("server"));
    let policy = read(&laptop, ".aisync.yml");
    write(
        &laptop,
        ".aisync.yml",
        &format!("{policy}\nassistants:\n  claude-code: {{}}\n"),
    );
    git_ok(&laptop, &["commit", "-qam", "policy of a newer version"]);
    write(&laptop, "memory/a.md", "- from the laptop\n");
    synced(&laptop);
    synced(&server);
    write(&server, "memory/b.md", "- from the server\n");
    synced(&server);
    synced(&laptop);
    assert_eq!(read(&laptop, "memory/b.md"), "- from the server\n");
    assert_eq!(read(&server, "memory/a.md"), "- from the laptop\n");
    let status = aisync(&server, &["status"]);
    let said = String::from_utf8_lossy(&status.stdout);
    assert!(
        said.contains("unknown setting `assistants`, ignored"),
        "{said}"
    );
    let doctor = aisync(&server, &["doctor", "--json"]);
    let findings: serde_json::Value = serde_json::from_slice(&doctor.stdout).unwrap();
    assert!(
        findings
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["check"] == "policy"
                && f["status"] == "warn"
                && f["message"].as_str().unwrap().contains("assistants")),
        "{findings:#}"
    );
}

/// A person merges on a branch of their own (not the synced one): what the drivers had to
/// override waits in this machine's pending records (nothing written on that branch, no
/// stray journal file there), and travels with the next cycle once the synced branch is
/// back.
#[test]
fn a_merge_on_another_branch_keeps_its_records_pending_until_the_synced_branch_is_back() {
    let net = Net::new();
    let (laptop, server) = (net.machine("laptop"), net.machine("server"));
    write(
        &laptop,
        "memory/facts.json",
        "{\"editor\": \"vim\", \"tz\": \"UTC\"}\n",
    );
    synced(&laptop);
    git_ok(&laptop, &["checkout", "-q", "-b", "experiment"]);
    write(
        &laptop,
        "memory/facts.json",
        "{\"editor\": \"emacs\", \"tz\": \"UTC\"}\n",
    );
    git_ok(&laptop, &["commit", "-qam", "emacs"]);
    git_ok(&laptop, &["checkout", "-q", "-b", "other", "main"]);
    write(
        &laptop,
        "memory/facts.json",
        "{\"editor\": \"helix\", \"tz\": \"UTC\"}\n",
    );
    git_ok(&laptop, &["commit", "-qam", "helix"]);
    git_ok(&laptop, &["merge", "-q", "--no-edit", "experiment"]);
    assert!(
        !laptop.join(".aisync/conflicts.jsonl").exists(),
        "no journal written on a branch that does not sync"
    );
    assert_eq!(git_ok(&laptop, &["status", "--porcelain"]), "");
    assert!(laptop.join(".git/aisync/pending-conflicts.jsonl").exists());
    // Back on the synced branch, with that work merged in: the records travel.
    git_ok(&laptop, &["checkout", "-q", "main"]);
    git_ok(&laptop, &["merge", "-q", "--no-edit", "other"]);
    synced(&laptop);
    synced(&server);
    let journal = read(&server, ".aisync/conflicts.jsonl");
    assert!(journal.contains("memory/facts.json"), "{journal}");
    assert!(!laptop.join(".git/aisync/pending-conflicts.jsonl").exists());
}

/// A git that speaks German, where this machine has one: the directory of a `git` whose
/// messages come out translated with `LANGUAGE=de`.
fn german_git() -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin")])
        .find(|dir| {
            let git = dir.join("git");
            git.is_file()
                && std::process::Command::new(&git)
                    .args(["checkout", "--no-such-option"])
                    .env("LANGUAGE", "de")
                    .env("LC_ALL", "C.UTF-8")
                    .output()
                    .is_ok_and(|o| String::from_utf8_lossy(&o.stderr).contains("Unbekannte"))
        })
}

/// git speaks the user's language: with a German git, an incoming change to a file being
/// edited still waits (exit 4, the edit kept, no merge left half done), as in English.
#[test]
fn with_git_in_german_an_edit_in_progress_still_holds_back_the_incoming_change() {
    let Some(dir) = german_git() else {
        eprintln!("skipping: no git with German messages here (Debian's git has them)");
        return;
    };
    let path = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let net = Net::new();
    let (a, b) = (net.machine("a"), net.machine("b"));
    write(&a, "rules/style.md", "# Style\n\n- one\n");
    git_ok(&a, &["add", "rules/style.md"]);
    git_ok(&a, &["commit", "-q", "-m", "style"]);
    synced(&a);
    synced(&b);
    let edit = "# Style\n\n- one\n- two, half written\n";
    write(&b, "rules/style.md", edit);
    write(&a, "rules/style.md", "# Style\n\n- ONE\n");
    git_ok(&a, &["commit", "-qam", "ONE"]);
    synced(&a);
    let out = common::aisync_cmd(&b)
        .env("LANGUAGE", "de")
        .env("LC_ALL", "C.UTF-8")
        .env("PATH", &path)
        .arg("sync")
        .output()
        .unwrap();
    assert_exit(&out, 4);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("commit or stash your edits to rules/style.md"),
        "{said}"
    );
    assert_eq!(read(&b, "rules/style.md"), edit);
    assert!(!b.join(".git/MERGE_HEAD").exists());
}

/// A person has staged a change (to a versioned file they commit by hand) when another
/// machine's change arrives: git merges three ways only on an index that matches HEAD, so
/// the merge waits (exit 4, what to do said), the staged change and the index untouched.
#[test]
fn a_staged_change_holds_back_the_incoming_merge_and_stays_staged() {
    let net = Net::new();
    let (a, b) = (net.machine("a"), net.machine("b"));
    write(&a, "rules/style.md", "# Style\n\n- one\n");
    git_ok(&a, &["add", "rules/style.md"]);
    git_ok(&a, &["commit", "-q", "-m", "style"]);
    synced(&a);
    synced(&b);
    write(&b, "rules/style.md", "# Style\n\n- one\n- two, staged\n");
    git_ok(&b, &["add", "rules/style.md"]);
    write(&a, "memory/a.md", "- from a\n");
    synced(&a);
    write(&b, "memory/b.md", "- from b\n");
    let out = sync(&b);
    assert_exit(&out, 4);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("commit or stash your edits to rules/style.md"),
        "{said}"
    );
    assert_eq!(
        git_ok(&b, &["diff", "--cached", "--name-only"]),
        "rules/style.md\n"
    );
    assert!(!b.join(".git/MERGE_HEAD").exists());
}

/// The hub's branch is locked by a push landing at that moment, every time this machine tries
/// (a stale `main.lock` plays the other machines): the cycle retries as for a push another
/// machine beat, then says so (not "unreachable"), exit 3, the commit waiting; once the hub is
/// free, the next cycle pushes it.
#[test]
fn a_hub_whose_branch_stays_locked_is_retried_and_said_so_and_the_commit_waits() {
    let net = Net::new();
    let laptop = net.machine("laptop");
    let lock = net.hub.join("refs/heads/main.lock");
    std::fs::write(&lock, "").unwrap();
    write(&laptop, "memory/a.md", "- waits\n");
    let out = sync(&laptop);
    assert_exit(&out, 3);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("other machines' pushes to origin kept landing first"),
        "{said}"
    );
    assert!(!said.contains("unreachable"), "{said}");
    std::fs::remove_file(&lock).unwrap();
    synced(&laptop);
    let on_hub = git_ok(&net.hub, &["ls-tree", "-r", "--name-only", "main"]);
    assert!(on_hub.contains("memory/a.md"), "{on_hub}");
}
