//! The watcher across machines: clones of one bare hub in temp dirs, a `git aisync watch`
//! process in each (started here, stopped with SIGTERM), real git throughout.

use crate::common;

use common::watcher::{wait_until, Watcher};
use common::{aisync, assert_exit, executable, git_cmd, git_ok, read_or_empty, write, Net};
use std::time::Duration;

#[test]
fn a_note_written_on_one_machine_appears_on_the_other() {
    let net = Net::new();
    let (a, b) = (net.machine("a"), net.machine("b"));
    let (wa, wb) = (Watcher::start(&a, &[]), Watcher::start(&b, &[]));

    write(&a, "memory/notes.md", "# Notes\n\n- likes tea\n");
    wait_until("the note on b", &[&wa, &wb], || {
        read_or_empty(&b, "memory/notes.md") == "# Notes\n\n- likes tea\n"
    });

    // a records its cycle after the push that b may already have merged.
    wa.wait_for("a's cycle for the note in its record", || {
        wa.cycles() >= 2 && wa.record()["last_event"].is_string()
    });
    // `status` shows the watcher; a second one is refused.
    let status = aisync(&a, &["status", "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["watcher"]["pid"], wa.pid(), "{status}");
    assert_eq!(status["watcher"]["last_cycle"]["outcome"], "synced");
    assert!(status["watcher"]["last_event"].is_string(), "{status}");
    let text = String::from_utf8_lossy(&aisync(&a, &["status"]).stdout).into_owned();
    assert!(
        text.contains(&format!("watcher: running (pid {}", wa.pid())),
        "{text}"
    );
    let second = aisync(&a, &["watch"]);
    assert_eq!(second.status.code(), Some(1));
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(
        err.contains("already running") && err.contains(&wa.pid().to_string()),
        "{err}"
    );

    assert_eq!(wa.stop().code(), Some(0));
    assert_eq!(wb.stop().code(), Some(0));
    let status = aisync(&a, &["status", "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert!(status["watcher"].is_null(), "stopped: {status}");
    assert!(!a.join(".git/aisync/watch.lock").exists());
}

#[test]
fn a_burst_of_a_hundred_writes_makes_a_few_commits_and_every_write_arrives() {
    let net = Net::new();
    let (a, b) = (net.machine("a"), net.machine("b"));
    let (wa, wb) = (Watcher::start(&a, &[]), Watcher::start(&b, &[]));
    let before = git_ok(&a, &["rev-parse", "HEAD"]).trim().to_string();

    let mut log = String::new();
    for i in 0..100 {
        log.push_str(&format!("{{\"id\":{i},\"msg\":\"write {i}\"}}\n"));
        write(&a, "logs/burst.jsonl", &log);
        std::thread::sleep(Duration::from_millis(3));
    }
    wait_until("all 100 lines on b", &[&wa, &wb], || {
        read_or_empty(&b, "logs/burst.jsonl").lines().count() == 100
    });
    assert_eq!(read_or_empty(&b, "logs/burst.jsonl"), log);
    let commits = git_ok(
        &a,
        &[
            "log",
            "--no-merges",
            "--format=%s",
            &format!("{before}..HEAD"),
        ],
    );
    let ours = commits
        .lines()
        .filter(|s| s.starts_with("aisync(a)"))
        .count();
    assert!((1..=5).contains(&ours), "{ours} commits:\n{commits}");
    assert_eq!(wa.stop().code(), Some(0));
    assert_eq!(wb.stop().code(), Some(0));
}

#[test]
fn both_machines_edit_the_same_json_and_markdown_at_once_and_keep_both_edits() {
    let net = Net::new();
    let (a, b) = (net.machine("a"), net.machine("b"));
    let (wa, wb) = (Watcher::start(&a, &[]), Watcher::start(&b, &[]));
    let facts = |extra: &str| {
        format!(
            "{{\n  \"facts\": [\n    {{\"id\": \"f1\", \"text\": \"likes tea\"}}{extra}\n  ]\n}}\n"
        )
    };
    write(&a, "memory/facts.json", &facts(""));
    write(&a, "memory/notes.md", "# Notes\n\n## Prefs\n- tea\n");
    wait_until("the base files on b", &[&wa, &wb], || {
        read_or_empty(&b, "memory/facts.json") == facts("")
            && read_or_empty(&b, "memory/notes.md") == "# Notes\n\n## Prefs\n- tea\n"
    });

    // The same moment on both machines.
    write(
        &a,
        "memory/facts.json",
        &facts(",\n    {\"id\": \"f2\", \"text\": \"uses rust\"}"),
    );
    write(
        &b,
        "memory/facts.json",
        &facts(",\n    {\"id\": \"f3\", \"text\": \"lives in Lyon\"}"),
    );
    write(
        &a,
        "memory/notes.md",
        "# Notes\n\n## Prefs\n- tea\n- dark mode\n",
    );
    write(&b, "memory/notes.md", "# Notes\n\n## Prefs\n- tea\n- vim\n");

    wait_until(
        "both machines on one tree with both edits",
        &[&wa, &wb],
        || {
            let (fa, fb) = (
                read_or_empty(&a, "memory/facts.json"),
                read_or_empty(&b, "memory/facts.json"),
            );
            let (na, nb) = (
                read_or_empty(&a, "memory/notes.md"),
                read_or_empty(&b, "memory/notes.md"),
            );
            fa == fb
                && na == nb
                && fa.contains("uses rust")
                && fa.contains("lives in Lyon")
                && na.contains("dark mode")
                && na.contains("vim")
                && git_ok(&a, &["rev-parse", "HEAD"]) == git_ok(&b, &["rev-parse", "HEAD"])
        },
    );
    serde_json::from_str::<serde_json::Value>(&read_or_empty(&a, "memory/facts.json"))
        .expect("valid JSON");
    assert_eq!(wa.stop().code(), Some(0));
    assert_eq!(wb.stop().code(), Some(0));
    assert_eq!(git_ok(&a, &["status", "--porcelain"]), "");
}

#[test]
fn ignored_never_and_editor_files_stay_local_and_start_no_cycle() {
    let net = Net::new();
    let (a, b) = (net.machine("a"), net.machine("b"));
    std::fs::write(
        a.join(".gitignore"),
        format!("{}memory/scratch/\n", read_or_empty(&a, ".gitignore")),
    )
    .unwrap();
    git_ok(&a, &["commit", "-qam", "ignore scratch"]);
    let (wa, wb) = (Watcher::start(&a, &[]), Watcher::start(&b, &[]));

    write(&a, "memory/scratch/draft.md", "- a draft\n");
    write(&a, ".credentials/token", "hunter2\n");
    // What vim, emacs and backups leave beside a note.
    for leftover in [
        ".notes.md.swp",
        ".notes.md.swo",
        "notes.md~",
        ".#notes.md",
        "#notes.md#",
        "4913",
    ] {
        write(&a, &format!("memory/{leftover}"), "leftover\n");
    }
    write(&a, "rules/style.md", "- versioned: people commit it\n");
    // (A pause so these fall in a debounce window of their own when the machine keeps up;
    // the checks below hold either way.)
    std::thread::sleep(Duration::from_millis(800));

    write(&a, "memory/ok.md", "- fine\n");
    wait_until("memory/ok.md on b", &[&wa, &wb], || {
        b.join("memory/ok.md").exists()
    });
    // None of it started a cycle: the only one since the start was for memory/ok.md (or a
    // look at the hub's move that a's own push made).
    only_ok_md_started_cycles(&wa.log());
    let on_hub = git_ok(&net.hub, &["ls-tree", "-r", "--name-only", "main"]);
    for local in [
        "scratch",
        ".credentials",
        ".swp",
        ".swo",
        "notes.md~",
        ".#notes",
        "#notes.md#",
        "4913",
        "rules/style.md",
    ] {
        assert!(!on_hub.contains(local), "{local} left a:\n{on_hub}");
    }

    // A policy change is taken in without a restart: rules/ becomes realtime.
    std::fs::write(
        a.join(".aisync.yml"),
        read_or_empty(&a, ".aisync.yml").replace("rules/**: versioned", "rules/**: realtime"),
    )
    .unwrap();
    wait_until("rules/style.md on b", &[&wa, &wb], || {
        read_or_empty(&b, "rules/style.md").contains("people commit it")
    });
    write(&a, "rules/new.md", "- watched now\n");
    wait_until("rules/new.md on b", &[&wa, &wb], || {
        b.join("rules/new.md").exists()
    });
    assert_eq!(wa.stop().code(), Some(0));
    assert_eq!(wb.stop().code(), Some(0));
}

#[test]
fn the_hub_away_and_back_resumes_without_a_restart() {
    let net = Net::new();
    let (a, b) = (net.machine("a"), net.machine("b"));
    // a watches the hub's ref files; b asks it with ls-remote.
    // Patient: b backs off while the hub is away (4 s, 8 s, 16 s … between its asks), so on
    // a busy machine its next ask may come well after the hub is back.
    let patience = Duration::from_secs(120);
    let (wa, wb) = (
        Watcher::spawn(&a, &[], &[], patience),
        Watcher::spawn(&b, &["--poll-remotes"], &[], patience),
    );
    let away = net.root.join("hub-away.git");
    std::fs::rename(&net.hub, &away).unwrap();

    write(
        &a,
        "memory/offline.md",
        "- written while the hub was away\n",
    );
    wa.wait_for("an offline cycle on a", || {
        wa.record()["last_cycle"]["outcome"] == "offline"
    });
    assert!(git_ok(&a, &["log", "-1", "--format=%s"]).contains("memory/offline.md"));
    std::thread::sleep(Duration::from_millis(500));

    std::fs::rename(&away, &net.hub).unwrap();
    wait_until("the offline note on b", &[&wa, &wb], || {
        b.join("memory/offline.md").exists()
    });
    // And b's own writes still travel.
    write(&b, "memory/back.md", "- b\n");
    wait_until("b's note on a", &[&wa, &wb], || {
        a.join("memory/back.md").exists()
    });
    assert_eq!(wa.stop().code(), Some(0));
    assert_eq!(wb.stop().code(), Some(0));
}

#[test]
fn sigterm_in_the_middle_of_a_cycle_finishes_it_and_leaves_a_clean_repo() {
    stop_in_the_middle_of_a_cycle(Watcher::stop);
}

#[test]
fn ctrl_c_in_the_terminal_finishes_the_cycle_too_its_git_children_keep_going() {
    stop_in_the_middle_of_a_cycle(Watcher::interrupt);
}

/// `stop` arrives while the cycle's push is under way: the cycle finishes, then the watcher
/// exits 0 and leaves a clean repository.
fn stop_in_the_middle_of_a_cycle(stop: fn(Watcher) -> std::process::ExitStatus) {
    let net = Net::new();
    let a = net.machine("a");
    let wa = Watcher::start(&a, &[]);
    // The push's ref update on the hub takes a second, and says so (the cycle runs none
    // of a's own hooks, but the hub's run as they always do).
    let marker = net.root.join("mid-cycle");
    let hook = net.hub.join("hooks/reference-transaction");
    executable(
        &hook,
        &format!(
            "#!/bin/sh\n[ \"$1\" = committed ] || exit 0\ntouch '{}'\nsleep 1\n",
            marker.display()
        ),
    );

    write(&a, "memory/a.md", "- the last word\n");
    wa.wait_for("the cycle to be under way", || marker.exists());
    let log = || std::fs::read_to_string(a.join(".git/aisync/watch.log")).unwrap_or_default();
    let status = stop(wa);
    assert_eq!(status.code(), Some(0), "exit 0 after finishing the cycle");
    assert!(log().contains("pushed to origin"), "{}", log());

    assert_eq!(
        git_ok(&net.hub, &["rev-parse", "main"]),
        git_ok(&a, &["rev-parse", "HEAD"]),
        "the cycle in flight finished: committed and pushed"
    );
    let fsck = git_cmd(&a)
        .args(["fsck", "--no-progress"])
        .output()
        .unwrap();
    assert!(
        fsck.status.success(),
        "{}",
        String::from_utf8_lossy(&fsck.stderr)
    );
    for left in [
        "index.lock",
        "aisync/lock",
        "aisync/watch.lock",
        "MERGE_HEAD",
    ] {
        assert!(
            !a.join(".git").join(left).exists(),
            "{left} was left behind"
        );
    }
    assert_eq!(git_ok(&a, &["status", "--porcelain"]), "");
}

#[test]
fn with_the_inotify_table_full_the_watcher_polls_says_why_and_still_syncs() {
    let net = Net::new();
    let (a, b) = (net.machine("a"), net.machine("b"));
    let wa = Watcher::start_with(&a, &[], &[("AISYNC_TEST_WATCH_LIMIT", "1")]);
    let wb = Watcher::start(&b, &["--poll"]);
    let log = wa.log();
    assert!(
        log.contains("inotify watch limit is exhausted")
            && log.contains("sudo sysctl fs.inotify.max_user_watches="),
        "{log}"
    );
    assert_eq!(wa.record()["tree"], "poll");
    assert_eq!(wb.record()["tree"], "poll");

    write(&a, "memory/polled.md", "- seen by a scan\n");
    wait_until("the note on b", &[&wa, &wb], || {
        b.join("memory/polled.md").exists()
    });
    write(&b, "memory/deep/er/back.md", "- and back\n");
    wait_until("b's note on a", &[&wa, &wb], || {
        a.join("memory/deep/er/back.md").exists()
    });
    assert_eq!(wa.stop().code(), Some(0));
    assert_eq!(wb.stop().code(), Some(0));
}

#[test]
fn a_peer_delivery_to_the_inbox_wakes_the_watcher_and_is_merged() {
    // b is a machine with no remote at all: only its inbox can bring it news. c is a clone of
    // b with b as its peer (the setup of the peers tests), so c's cycle delivers to
    // refs/aisync/inbox/c in b.
    let tmp = tempfile::tempdir().unwrap();
    let (b, c) = (tmp.path().join("b"), tmp.path().join("c"));
    common::init_alone(&b);
    git_ok(&b, &["config", "aisync.machine", "b"]);
    git_ok(
        tmp.path(),
        &["clone", "-q", b.to_str().unwrap(), c.to_str().unwrap()],
    );
    git_ok(&c, &["config", "aisync.machine", "c"]);
    for args in [&["install"][..], &["peer", "add", "b", b.to_str().unwrap()]] {
        let out = aisync(&c, args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let wb = Watcher::start(&b, &[]);
    assert!(
        b.join(".git/refs/aisync/inbox").is_dir(),
        "the watcher made the inbox folder to watch it"
    );
    let head = git_ok(&b, &["rev-parse", "HEAD"]);

    write(&c, "memory/from-c.md", "- delivered by c\n");
    let out = aisync(&c, &["sync"]);
    assert_exit(&out, 0);
    wb.wait_for("c's note in b's working tree", || {
        read_or_empty(&b, "memory/from-c.md") == "- delivered by c\n"
    });
    // The note lands in the tree during the merge; the log line follows when the cycle ends.
    wb.wait_for("the inbox cycle in b's log", || {
        wb.log().contains("c delivered to the inbox")
    });
    assert_ne!(git_ok(&b, &["rev-parse", "HEAD"]), head);
    assert_eq!(git_ok(&b, &["status", "--porcelain"]), "");
    assert_eq!(wb.stop().code(), Some(0));
}

/// The host name as git-aisync reads it (what it writes in its lock files).
fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "this-machine".into())
}

#[test]
fn after_a_reboot_a_watcher_that_died_neither_blocks_a_new_one_nor_shows_in_status() {
    let net = Net::new();
    let a = net.machine("a");
    // What a watcher killed by a power cut leaves; after the reboot its pid (here 1, which
    // is alive) belongs to another process.
    let state = a.join(".git/aisync");
    std::fs::create_dir_all(&state).unwrap();
    let host = host_name();
    write(
        &state,
        "watch.lock",
        &format!(r#"{{"pid":1,"host":"{host}","started":"2020-01-01T00:00:00Z"}}"#),
    );
    write(
        &state,
        "watch.json",
        &format!(r#"{{"pid":1,"host":"{host}","started_unix":0,"cycles":3}}"#),
    );
    let status = aisync(&a, &["status", "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert!(status["watcher"].is_null(), "no watcher runs: {status}");

    let wa = Watcher::start(&a, &[]);
    let status = aisync(&a, &["status", "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["watcher"]["pid"], wa.pid(), "{status}");
    assert_eq!(wa.stop().code(), Some(0));
}

#[test]
fn a_hub_on_this_machine_with_its_refs_in_a_reftable_is_asked_and_syncs() {
    let net = Net::reftable();
    let (a, b) = (net.machine("a"), net.machine("b"));
    let (wa, wb) = (Watcher::start(&a, &[]), Watcher::start(&b, &[]));
    write(&a, "memory/notes.md", "- through a reftable hub\n");
    wait_until("the note on b", &[&wa, &wb], || {
        read_or_empty(&b, "memory/notes.md") == "- through a reftable hub\n"
    });
    assert!(!wb.log().contains("does not answer"), "{}", wb.log());
    assert_eq!(wb.record()["remotes"][0]["how"], "polled");
    assert_eq!(wa.stop().code(), Some(0));
    assert_eq!(wb.stop().code(), Some(0));
}

#[test]
fn a_write_still_settling_when_the_watcher_is_stopped_is_synced_before_it_exits() {
    let net = Net::new();
    let a = net.machine("a");
    // A long debounce: the stop comes while the write is still settling.
    std::fs::write(
        a.join(".aisync.yml"),
        read_or_empty(&a, ".aisync.yml").replace("delay: 300ms", "delay: 10s"),
    )
    .unwrap();
    git_ok(&a, &["commit", "-qam", "a long debounce"]);
    let wa = Watcher::start(&a, &[]);
    let before = wa.record()["last_event"].clone();
    write(&a, "memory/last.md", "- written just before the stop\n");
    // The write reached the watcher (and is settling: the debounce is far longer).
    wa.wait_for("the write's event in the record", || {
        wa.record()["last_event"] != before
    });
    assert_eq!(wa.stop().code(), Some(0));
    let on_hub = git_ok(&net.hub, &["ls-tree", "-r", "--name-only", "main"]);
    assert!(on_hub.contains("memory/last.md"), "{on_hub}");
}

#[test]
fn a_thousand_files_written_into_an_ignored_folder_start_no_cycle() {
    let net = Net::new();
    let a = net.machine("a");
    std::fs::write(
        a.join(".gitignore"),
        format!("{}memory/scratch/\n", read_or_empty(&a, ".gitignore")),
    )
    .unwrap();
    git_ok(&a, &["commit", "-qam", "ignore scratch"]);
    // (There before the watcher, so that it sees every write in it.)
    std::fs::create_dir_all(a.join("memory/scratch")).unwrap();
    let wa = Watcher::start(&a, &[]);

    // Far more files than the watcher asks git about one by one: a build, a cache, a dump.
    for i in 0..1500 {
        write(&a, &format!("memory/scratch/{i}.md"), "- scratch\n");
    }
    write(&a, "memory/ok.md", "- fine\n");
    // (The log line comes once the cycle is done, after its push.)
    wa.wait_for("memory/ok.md on the hub and its cycle in the log", || {
        git_ok(&net.hub, &["ls-tree", "-r", "--name-only", "main"]).contains("memory/ok.md")
            && wa.log().lines().filter(|l| l.contains(" cycle (")).count() >= 2
    });
    only_ok_md_started_cycles(&wa.log());
    let on_hub = git_ok(&net.hub, &["ls-tree", "-r", "--name-only", "main"]);
    assert!(!on_hub.contains("scratch"), "{on_hub}");
    assert_eq!(wa.stop().code(), Some(0));
}

/// Every cycle in the watcher's `log` since its start was for memory/ok.md (or a look at the
/// hub's move that its own push made): nothing else the test wrote started one.
fn only_ok_md_started_cycles(log: &str) {
    let reasons: Vec<&str> = log
        .lines()
        .filter_map(|l| l.split_once(" cycle (").map(|(_, r)| r))
        .filter(|r| !r.starts_with("start)"))
        .collect();
    assert!(
        reasons
            .iter()
            .all(|r| r.starts_with("memory/ok.md changed)") || r.starts_with("origin")),
        "{log}"
    );
}
