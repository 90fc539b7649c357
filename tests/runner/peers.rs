//! Peers without a hub: machines' own working repositories as each other's remotes.

use crate::common;

use common::watcher::Watcher;
use common::{aisync, git_ok, init_bare};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = aisync(dir, args);
    assert!(
        matches!(out.status.code(), Some(0)),
        "git aisync {args:?} in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Machine `a` made by init; the others cloned straight from it; every one a peer of the
/// others. No bare repository anywhere.
fn peers(root: &Path, names: &[&str]) -> Vec<PathBuf> {
    let first = root.join(names[0]);
    ok(Path::new("/"), &["init", first.to_str().unwrap()]);
    git_ok(&first, &["config", "aisync.machine", names[0]]);
    let mut dirs = vec![first.clone()];
    for name in &names[1..] {
        let dir = root.join(name);
        git_ok(
            root,
            &[
                "clone",
                "-q",
                first.to_str().unwrap(),
                dir.to_str().unwrap(),
            ],
        );
        git_ok(&dir, &["config", "aisync.machine", name]);
        ok(&dir, &["install"]);
        dirs.push(dir);
    }
    for (i, dir) in dirs.iter().enumerate() {
        for (j, other) in dirs.iter().enumerate() {
            if i != j {
                ok(dir, &["peer", "add", names[j], other.to_str().unwrap()]);
            }
        }
    }
    dirs
}

#[test]
fn three_peers_converge_with_no_hub() {
    let tmp = tempfile::tempdir().unwrap();
    let dirs = peers(tmp.path(), &["a", "b", "c"]);
    // b's origin (a) was adopted, not doubled.
    let listed = ok(&dirs[1], &["peer", "list"]);
    assert_eq!(listed.lines().count(), 2, "{listed}");
    assert!(listed.contains("origin"), "{listed}");

    for (i, dir) in dirs.iter().enumerate() {
        std::fs::write(
            dir.join("memory/shared.md"),
            format!("# Shared\n\n- note from {i}\n"),
        )
        .unwrap();
        std::fs::write(dir.join(format!("memory/own-{i}.md")), "- mine\n").unwrap();
    }
    for _ in 0..3 {
        for dir in &dirs {
            let out = aisync(dir, &["sync"]);
            assert!(
                out.status.code() == Some(0),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    let tree = |d: &Path| git_ok(d, &["rev-parse", "HEAD^{tree}"]);
    assert_eq!(tree(&dirs[0]), tree(&dirs[1]));
    assert_eq!(tree(&dirs[1]), tree(&dirs[2]));
    let shared = std::fs::read_to_string(dirs[2].join("memory/shared.md")).unwrap();
    for i in 0..3 {
        assert!(shared.contains(&format!("note from {i}")), "{shared}");
        assert!(dirs[0].join(format!("memory/own-{i}.md")).exists());
    }
    for dir in &dirs {
        assert_eq!(
            git_ok(dir, &["status", "--porcelain"]),
            "",
            "clean in {}",
            dir.display()
        );
    }
}

#[test]
fn a_delivery_never_touches_a_peers_uncommitted_work() {
    let tmp = tempfile::tempdir().unwrap();
    let dirs = peers(tmp.path(), &["a", "b"]);
    let (a, b) = (&dirs[0], &dirs[1]);
    std::fs::write(b.join("rules/draft.md"), "- half-written rule\n").unwrap();
    let head_before = git_ok(b, &["rev-parse", "HEAD"]);
    std::fs::write(a.join("memory/from-a.md"), "- from a\n").unwrap();
    ok(a, &["sync"]);
    // Delivered to b's inbox; b's branch and working tree are as they were.
    assert_eq!(git_ok(b, &["rev-parse", "HEAD"]), head_before);
    assert!(!b.join("memory/from-a.md").exists());
    assert_eq!(
        std::fs::read_to_string(b.join("rules/draft.md")).unwrap(),
        "- half-written rule\n"
    );
    assert!(!git_ok(b, &["for-each-ref", "refs/aisync/inbox/"]).is_empty());
    // b's own cycle merges it, and the draft is still there.
    ok(b, &["sync"]);
    assert!(b.join("memory/from-a.md").exists());
    assert_eq!(
        std::fs::read_to_string(b.join("rules/draft.md")).unwrap(),
        "- half-written rule\n"
    );
}

#[test]
fn kick_makes_a_peer_sync_and_run_passes_the_exit_status_back() {
    let tmp = tempfile::tempdir().unwrap();
    let dirs = peers(tmp.path(), &["a", "b"]);
    let (a, b) = (&dirs[0], &dirs[1]);
    std::fs::write(a.join("memory/news.md"), "- fresh\n").unwrap();
    ok(a, &["sync"]);
    ok(a, &["kick", "b"]);
    assert_eq!(
        std::fs::read_to_string(b.join("memory/news.md")).unwrap(),
        "- fresh\n"
    );

    let out = aisync(a, &["run", "b", "--", "cat", "memory/news.md"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "- fresh\n");
    let out = aisync(a, &["run", "b", "--", "sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7));
}

#[test]
fn notify_wait_on_a_hub_hears_a_push_in_well_under_a_second() {
    let tmp = tempfile::tempdir().unwrap();
    let hub = tmp.path().join("hub.git");
    init_bare(&hub);
    let laptop = tmp.path().join("laptop");
    ok(
        Path::new("/"),
        &[
            "init",
            laptop.to_str().unwrap(),
            "--remote",
            hub.to_str().unwrap(),
        ],
    );
    // Waits for a move from the tip it is told (a slow start cannot miss the push), for a
    // minute at most (a failing test does not hang).
    let before = git_ok(&hub, &["rev-parse", "main"]);
    let waiter = std::process::Command::new(common::bin())
        .args(["notify-wait", "--since", before.trim(), "--timeout", "60"])
        .current_dir(&hub)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::fs::write(laptop.join("memory/n.md"), "- n\n").unwrap();
    ok(&laptop, &["sync"]);
    let pushed_at = Instant::now();
    let out = waiter.wait_with_output().unwrap();
    let heard = pushed_at.elapsed();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        git_ok(&laptop, &["rev-parse", "HEAD"]).trim()
    );
    // Told, not found by a poll: well under a second even on a busy machine.
    assert!(heard < Duration::from_secs(2), "heard after {heard:?}");
}

#[test]
fn run_waits_for_the_cycle_the_peers_watcher_is_in_and_sees_what_was_delivered() {
    let tmp = tempfile::tempdir().unwrap();
    let dirs = peers(tmp.path(), &["a", "b"]);
    let (a, b) = (&dirs[0], &dirs[1]);
    // b's deliveries to a take a while, and say when they start: b's watcher is caught in
    // the middle of a cycle.
    let fetching = tmp.path().join("b-is-delivering");
    git_ok(
        b,
        &[
            "config",
            "remote.origin.receivepack",
            &format!("touch '{}'; sleep 3; git-receive-pack", fetching.display()),
        ],
    );
    let wb = Watcher::start(b, &[]);
    let _ = std::fs::remove_file(&fetching);
    std::fs::write(b.join("memory/b.md"), "- b writes\n").unwrap();
    wb.wait_for("b's watcher in the middle of a cycle", || fetching.exists());

    // Meanwhile a delivers news to b, then asks b to show it.
    std::fs::write(a.join("memory/news.md"), "- fresh\n").unwrap();
    ok(a, &["sync"]);
    let out = aisync(a, &["run", "b", "--", "cat", "memory/news.md"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "- fresh\n");
    assert_eq!(wb.stop().code(), Some(0));
}

/// How many times the threads of process `pid` have gone to sleep and woken up.
fn wakeups(pid: u32) -> u64 {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).unwrap();
    tasks
        .flatten()
        .map(|t| {
            let status = std::fs::read_to_string(t.path().join("status")).unwrap_or_default();
            status
                .lines()
                .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
                .and_then(|n| n.trim().parse::<u64>().ok())
                .unwrap_or(0)
        })
        .sum()
}

#[test]
fn notify_wait_sleeps_on_the_hub_while_nothing_is_pushed() {
    let tmp = tempfile::tempdir().unwrap();
    let hub = tmp.path().join("hub.git");
    init_bare(&hub);
    let laptop = tmp.path().join("laptop");
    ok(
        Path::new("/"),
        &[
            "init",
            laptop.to_str().unwrap(),
            "--remote",
            hub.to_str().unwrap(),
        ],
    );
    let before = git_ok(&hub, &["rev-parse", "main"]);
    let mut waiter = std::process::Command::new(common::bin())
        .args(["notify-wait", "--since", before.trim(), "--timeout", "60"])
        .current_dir(&hub)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Settled (its threads started), then two quiet seconds: a few wake-ups at most, where
    // looking at the ref every 20 ms would be a hundred.
    std::thread::sleep(Duration::from_millis(500));
    let start = wakeups(waiter.id());
    std::thread::sleep(Duration::from_secs(2));
    let woke = wakeups(waiter.id()) - start;
    let _ = waiter.kill();
    let _ = waiter.wait();
    assert!(woke < 20, "woke {woke} times in 2 s with nothing pushed");
}

#[test]
fn a_peer_added_by_another_spelling_of_its_remotes_path_is_adopted_not_doubled() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    ok(Path::new("/"), &["init", a.to_str().unwrap()]);
    git_ok(&a, &["config", "aisync.machine", "a"]);
    git_ok(
        tmp.path(),
        &["clone", "-q", a.to_str().unwrap(), b.to_str().unwrap()],
    );
    git_ok(&b, &["config", "aisync.machine", "b"]);
    ok(&b, &["install"]);

    // origin is /…/a; the person types it from where they are, or as a URL.
    let said = aisync(&b, &["peer", "add", "a", "../a"]);
    assert!(
        said.status.success(),
        "{}",
        String::from_utf8_lossy(&said.stderr)
    );
    assert!(
        String::from_utf8_lossy(&said.stderr).contains("the remote origin"),
        "{}",
        String::from_utf8_lossy(&said.stderr)
    );
    ok(
        &b,
        &["peer", "add", "a2", &format!("file://{}/", a.display())],
    );
    assert_eq!(git_ok(&b, &["remote"]), "origin\n");
    assert_eq!(ok(&b, &["peer", "list"]).lines().count(), 1);
}

#[test]
fn two_clones_with_one_machine_name_are_told_to_name_themselves_before_peering() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    // Neither names itself: both are this host, as two clones on one machine are.
    ok(Path::new("/"), &["init", a.to_str().unwrap()]);
    git_ok(
        tmp.path(),
        &["clone", "-q", a.to_str().unwrap(), b.to_str().unwrap()],
    );
    ok(&b, &["install"]);

    let said = aisync(&b, &["peer", "add", "a", a.to_str().unwrap()]);
    assert_eq!(said.status.code(), Some(1));
    let err = String::from_utf8_lossy(&said.stderr);
    assert!(err.contains("git config aisync.machine NAME"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert_eq!(ok(&b, &["peer", "list"]).trim(), "");

    git_ok(&b, &["config", "aisync.machine", "b"]);
    ok(&b, &["peer", "add", "a", a.to_str().unwrap()]);
    assert_eq!(ok(&b, &["peer", "list"]).lines().count(), 1);
}

/// a (named), and b and c: two clones of a on this host, neither named (both default to the
/// host name, so one inbox ref in a for both). b has delivered a change; c has one to deliver.
fn unnamed_clones(root: &Path) -> (PathBuf, PathBuf) {
    let a = root.join("a");
    ok(Path::new("/"), &["init", a.to_str().unwrap()]);
    git_ok(&a, &["config", "aisync.machine", "a"]);
    let clone = |name: &str| {
        let dir = root.join(name);
        git_ok(
            root,
            &["clone", "-q", a.to_str().unwrap(), dir.to_str().unwrap()],
        );
        ok(&dir, &["install"]);
        dir
    };
    let (b, c) = (clone("b"), clone("c"));
    std::fs::write(b.join("memory/b.md"), "- b\n").unwrap();
    let _ = aisync(&b, &["sync"]);
    std::fs::write(c.join("memory/c.md"), "- c\n").unwrap();
    (b, c)
}

#[test]
fn doctor_says_when_another_machine_of_our_name_fills_a_peers_inbox() {
    let tmp = tempfile::tempdir().unwrap();
    let (b, c) = unnamed_clones(tmp.path());
    // c's delivery lands on the inbox ref b's filled: rejected.
    let _ = aisync(&c, &["sync"]);

    let doctor = |dir: &Path| {
        let out = aisync(dir, &["doctor", "--json"]);
        let list: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
        list.into_iter()
            .filter(|f| f["check"] == "machine name")
            .collect::<Vec<_>>()
    };
    let found = doctor(&c);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0]["message"]
            .as_str()
            .unwrap()
            .contains("another machine is named"),
        "{found:?}"
    );
    assert_eq!(
        found[0]["fix"],
        "give each machine its own name: git config aisync.machine NAME"
    );
    assert!(doctor(&b).is_empty(), "b's inbox ref holds its own commits");

    // Named, c delivers to an inbox of its own; the doctor has nothing to say.
    git_ok(&c, &["config", "aisync.machine", "c"]);
    let out = aisync(&c, &["sync"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(doctor(&c).is_empty());
}

#[test]
fn a_watcher_whose_deliveries_land_in_another_machines_inbox_says_why_in_its_log() {
    let tmp = tempfile::tempdir().unwrap();
    let (_b, c) = unnamed_clones(tmp.path());

    let wc = Watcher::start(&c, &[]);
    wc.wait_for("the reason in c's log", || {
        wc.log().contains("another machine is named")
    });
    assert!(
        wc.log().contains("git config aisync.machine NAME"),
        "{}",
        wc.log()
    );
    assert_eq!(wc.stop().code(), Some(0));
}

/// Every ref of every machine (HEAD, branches, tracking refs, inboxes, snapshots).
fn all_refs(dirs: &[PathBuf]) -> Vec<String> {
    dirs.iter()
        .map(|d| {
            let head = git_ok(d, &["rev-parse", "HEAD"]);
            head + &git_ok(d, &["for-each-ref", "--format=%(objectname) %(refname)"])
        })
        .collect()
}

fn commit_counts(dirs: &[PathBuf]) -> Vec<String> {
    dirs.iter()
        .map(|d| git_ok(d, &["rev-list", "--all", "--count"]))
        .collect()
}

fn trees(dirs: &[PathBuf]) -> Vec<String> {
    dirs.iter()
        .map(|d| git_ok(d, &["rev-parse", "HEAD^{tree}"]))
        .collect()
}

#[test]
fn three_peers_syncing_at_once_reach_a_round_that_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dirs = peers(tmp.path(), &["a", "b", "c"]);
    for (i, dir) in dirs.iter().enumerate() {
        std::fs::write(dir.join(format!("memory/own-{i}.md")), "- mine\n").unwrap();
        std::fs::write(
            dir.join("memory/shared.md"),
            format!("# Shared\n\n- note from {i}\n"),
        )
        .unwrap();
    }
    let mut before = all_refs(&dirs);
    let mut quiet_round = None;
    for round in 0..8 {
        // At the same moment, as machines with watchers do.
        std::thread::scope(|s| {
            for dir in &dirs {
                s.spawn(move || ok(dir, &["sync"]));
            }
        });
        let after = all_refs(&dirs);
        if after == before {
            quiet_round = Some(round);
            break;
        }
        before = after;
    }
    assert!(
        quiet_round.is_some(),
        "eight rounds of syncs at once and the refs still move: commits {:?}",
        commit_counts(&dirs)
    );
    let t = trees(&dirs);
    assert!(t.iter().all(|x| *x == t[0]), "{t:?}");
    let shared = std::fs::read_to_string(dirs[1].join("memory/shared.md")).unwrap();
    for i in 0..3 {
        assert!(shared.contains(&format!("note from {i}")), "{shared}");
        assert!(dirs[1].join(format!("memory/own-{i}.md")).exists());
    }
    // In that state every machine says it is synced, with nothing to push or merge.
    for dir in &dirs {
        let out = ok(dir, &["sync", "--json"]);
        assert!(out.contains("\"synced\""), "{out}");
        let status: serde_json::Value =
            serde_json::from_str(&ok(dir, &["status", "--json"])).unwrap();
        for remote in status["remotes"].as_array().unwrap() {
            assert_eq!(remote["ahead"], 0, "{status}");
            assert_eq!(remote["behind"], 0, "{status}");
        }
    }
}

#[test]
fn three_peers_with_watchers_writing_at_once_converge_and_go_quiet() {
    let tmp = tempfile::tempdir().unwrap();
    let dirs = peers(tmp.path(), &["a", "b", "c"]);
    let patience = Duration::from_secs(90);
    let watchers: Vec<Watcher> = dirs
        .iter()
        .map(|d| Watcher::spawn(d, &[], &[], patience))
        .collect();
    for (i, dir) in dirs.iter().enumerate() {
        std::fs::write(dir.join(format!("memory/own-{i}.md")), "- mine\n").unwrap();
        std::fs::write(
            dir.join("memory/shared.md"),
            format!("# Shared\n\n- note from {i}\n"),
        )
        .unwrap();
    }
    let refs: Vec<&Watcher> = watchers.iter().collect();
    let all_there = || {
        dirs.iter().all(|d| {
            (0..3).all(|i| d.join(format!("memory/own-{i}.md")).exists())
                && (0..3).all(|i| {
                    std::fs::read_to_string(d.join("memory/shared.md"))
                        .unwrap_or_default()
                        .contains(&format!("note from {i}"))
                })
        })
    };
    common::watcher::wait_until("every note on every machine", &refs, all_there);
    // Then quiet, soon: the trees match and no commit is made for three seconds. (Merging
    // each other's merges of equal trees, they made a few commits a second for a minute.)
    let start = Instant::now();
    let soon = Duration::from_secs(30);
    loop {
        let (t, counts) = (trees(&dirs), commit_counts(&dirs));
        std::thread::sleep(Duration::from_secs(3));
        if t.iter().all(|x| *x == t[0]) && trees(&dirs) == t && commit_counts(&dirs) == counts {
            break;
        }
        assert!(
            start.elapsed() < soon,
            "the peers did not go quiet: commits {:?}, trees {t:?}",
            commit_counts(&dirs)
        );
    }
    for w in watchers {
        assert_eq!(w.stop().code(), Some(0));
    }
}

#[test]
fn a_delivery_to_a_file_a_person_is_editing_waits_and_the_edit_survives() {
    let tmp = tempfile::tempdir().unwrap();
    let dirs = peers(tmp.path(), &["a", "b"]);
    common::an_edit_in_progress_holds_back_the_incoming_change(&dirs[0], &dirs[1]);
}
