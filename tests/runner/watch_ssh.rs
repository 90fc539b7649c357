//! The watcher with a hub over SSH: a real sshd on 127.0.0.1 (its own host key and an
//! authorized key made here, as in ssh.rs), two machines each running `git aisync watch`.
//! With git-aisync on the hub's session PATH the watcher keeps a `notify-wait` session open and
//! hears a push at once; without it, it falls back to polling and still syncs.
//!
//! Needs `sshd` (Debian: openssh-server; `.ci/run` installs it). Without it these tests fail
//! under CI and say so plainly when run locally.

use crate::common;

use common::sshd::{start_sshd_with, Sshd};
use common::watcher::{wait_until, Watcher};
use common::{git_ok, init_bare, init_over_ssh, read_or_empty};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Long enough for a busy two-core machine; the loops return as soon as the thing holds.
const PATIENCE: Duration = Duration::from_secs(30);

/// A bare hub reached at `ssh://127.0.0.1:PORT/…` and two machines that joined it with
/// `git aisync init` over ssh.
struct Net {
    sshd: Sshd,
    hub: PathBuf,
    ssh: String,
    a: PathBuf,
    b: PathBuf,
}

fn net(root: &Path, with_aisync: bool) -> Option<Net> {
    net_with(root, with_aisync, None)
}

fn net_with(root: &Path, with_aisync: bool, first_on_path: Option<&Path>) -> Option<Net> {
    let sshd = start_sshd_with(&root.join("sshd"), with_aisync, first_on_path)?;
    let hub = root.join("hub.git");
    init_bare(&hub);
    let url = sshd.url(&hub);
    let known = root.join("known_hosts");
    sshd.trust(&known);
    let ssh = sshd.ssh_command(&known);
    let (a, b) = (root.join("a"), root.join("b"));
    for (dir, name) in [(&a, "a"), (&b, "b")] {
        init_over_ssh(dir, &ssh, &url);
        git_ok(dir, &["config", "aisync.machine", name]);
    }
    Some(Net {
        sshd,
        hub,
        ssh,
        a,
        b,
    })
}

impl Net {
    /// A watcher on each machine, both reaching the hub over ssh.
    fn watchers(&self) -> (Watcher, Watcher) {
        let env = [("GIT_SSH_COMMAND", self.ssh.as_str())];
        (
            Watcher::spawn(&self.a, &[], &env, PATIENCE),
            Watcher::spawn(&self.b, &[], &env, PATIENCE),
        )
    }
}

/// The processes whose working directory is `dir` (a notify-wait left on the hub): pid and
/// command line.
fn processes_in(dir: &Path) -> Vec<(i32, String)> {
    let Ok(dir) = dir.canonicalize() else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        let proc_dir = entry.path();
        if std::fs::read_link(proc_dir.join("cwd")).is_ok_and(|cwd| cwd == dir) {
            let cmd = std::fs::read(proc_dir.join("cmdline")).unwrap_or_default();
            found.push((pid, String::from_utf8_lossy(&cmd).replace('\0', " ")));
        }
    }
    found
}

#[test]
fn a_write_reaches_the_other_machine_at_once_through_an_ssh_hub_with_notify_wait() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(net) = net(tmp.path(), true) else {
        return;
    };
    let (a, b) = (&net.a, &net.b);
    let (wa, wb) = net.watchers();
    wb.wait_for("b's notify-wait session", || wb.session() == "open");
    wa.wait_for("a's notify-wait session", || wa.session() == "open");
    assert_eq!(wb.record()["remotes"][0]["how"], "notify-wait over ssh");

    for (i, (from, to, wto)) in [(a, b, &wb), (b, a, &wa)].into_iter().enumerate() {
        let rel = format!("memory/over-ssh-{i}.md");
        let text = format!("- written in {} for the other\n", from.display());
        let start = Instant::now();
        std::fs::write(from.join(&rel), &text).unwrap();
        wait_until(&format!("{rel} on the other machine"), &[&wa, &wb], || {
            read_or_empty(to, &rel) == text
        });
        let took = start.elapsed();
        println!(
            "write in {} -> in {}'s working tree over the ssh hub: {:.3} s",
            from.file_name().unwrap().to_string_lossy(),
            to.file_name().unwrap().to_string_lossy(),
            took.as_secs_f64()
        );
        assert!(
            took < Duration::from_secs(15),
            "took {took:?}:\n{}",
            wto.log()
        );
        // Heard from the session, not from the (30 s) safety-net poll.
        wto.wait_for("the notified cycle in the log", || {
            wto.log().contains("origin moved (notified)")
        });
    }
    // (A session may drop and open again under load: the notified cycles above are the
    // point, not an unbroken session.)
    wb.wait_for("b's session open", || wb.session() == "open");

    assert_eq!(wa.stop().code(), Some(0));
    assert_eq!(wb.stop().code(), Some(0));
    // Stopping the watchers ended their sessions on the hub too.
    let start = Instant::now();
    while !processes_in(&net.hub).is_empty() {
        assert!(
            start.elapsed() < PATIENCE,
            "left running on the hub: {:?}",
            processes_in(&net.hub)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        git_ok(&net.hub, &["rev-parse", "main"]),
        git_ok(a, &["rev-parse", "HEAD"])
    );
    drop(net.sshd);
}

/// Over SSH every question to the hub is a round trip. With notify-wait sessions open, the
/// watchers take what the sessions told them for where the hub stands: the writer pushes
/// without asking first, the reader fetches without asking first. Counted on the hub, by a
/// `git-upload-pack` (what both `ls-remote` and `fetch` run there) that logs each call.
#[test]
fn with_a_session_open_a_change_costs_the_reader_one_fetch_and_the_writer_no_question() {
    let tmp = tempfile::tempdir().unwrap();
    let wrappers = tmp.path().join("wrappers");
    let calls = tmp.path().join("upload-pack.log");
    std::fs::create_dir_all(&wrappers).unwrap();
    common::executable(
        &wrappers.join("git-upload-pack"),
        &format!(
            "#!/bin/sh\necho call >> '{}'\nexec git upload-pack \"$@\"\n",
            calls.display()
        ),
    );
    let Some(net) = net_with(tmp.path(), true, Some(&wrappers)) else {
        return;
    };
    let (a, b) = (&net.a, &net.b);
    let (wa, wb) = net.watchers();
    wb.wait_for("b's notify-wait session", || wb.session() == "open");
    wa.wait_for("a's notify-wait session", || wa.session() == "open");
    let count = || {
        std::fs::read_to_string(&calls)
            .unwrap_or_default()
            .lines()
            .count()
    };
    // Each write: a's cycle pushes, b hears of it and fetches. (The safety net may ask the
    // hub once in the meantime: one call of slack, never the two more of asking first.)
    for i in 0..3 {
        let rel = format!("memory/counted-{i}.md");
        let text = format!("- {i}\n");
        // Both watchers at rest: their start-up and earlier cycles are done.
        std::thread::sleep(Duration::from_millis(1500));
        let before = count();
        std::fs::write(a.join(&rel), &text).unwrap();
        wait_until(&format!("{rel} on b"), &[&wa, &wb], || {
            read_or_empty(b, &rel) == text
        });
        std::thread::sleep(Duration::from_millis(500));
        let asked = count() - before;
        assert!(
            (1..=2).contains(&asked),
            "the hub was asked {asked} times for one change\na:\n{}\nb:\n{}",
            wa.log(),
            wb.log()
        );
    }
    assert_eq!(wa.stop().code(), Some(0));
    assert_eq!(wb.stop().code(), Some(0));
    drop(net.sshd);
}

#[test]
fn a_hub_without_git_aisync_is_polled_and_the_write_still_arrives() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(net) = net(tmp.path(), false) else {
        return;
    };
    let (a, b) = (&net.a, &net.b);
    // The hub is this machine, where git-aisync is where this binary is: name a program
    // the hub does not have, as a hub without git-aisync would answer.
    for dir in [a, b] {
        git_ok(
            dir,
            &[
                "config",
                "remote.origin.aisyncProgram",
                "/nowhere/git-aisync",
            ],
        );
    }
    let (wa, wb) = net.watchers();
    wb.wait_for("b to fall back to polling", || {
        wb.session() == "unavailable"
    });
    assert_eq!(wb.record()["remotes"][0]["how"], "polled");
    let log = wb.log();
    assert!(
        log.contains("cannot run git aisync notify-wait") && log.contains("asking every 2s"),
        "{log}"
    );

    let start = Instant::now();
    std::fs::write(a.join("memory/polled.md"), "- asked for, not told\n").unwrap();
    wait_until("the note on b", &[&wa, &wb], || {
        read_or_empty(b, "memory/polled.md") == "- asked for, not told\n"
    });
    println!(
        "write in a -> in b's working tree, hub without git-aisync (polled): {:.3} s",
        start.elapsed().as_secs_f64()
    );
    wb.wait_for("the polled cycle in the log", || {
        wb.log().contains("origin moved")
    });
    let log = wb.log();
    assert!(
        !log.contains("(notified)") && !log.contains("session open"),
        "{log}"
    );
    assert_eq!(
        log.matches("cannot run git aisync notify-wait").count(),
        1,
        "said once: {log}"
    );
    // doctor says why pushes arrive late, and what to do.
    let doctor = common::aisync(b, &["doctor", "--json"]);
    let findings: serde_json::Value = serde_json::from_slice(&doctor.stdout).unwrap();
    let hub = findings
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "hub")
        .unwrap_or_else(|| panic!("{findings:#}"));
    assert_eq!(hub["status"], "warn");
    assert!(
        hub["message"]
            .as_str()
            .unwrap()
            .contains("polling every 2s")
            && hub["fix"]
                .as_str()
                .unwrap()
                .contains("remote.origin.aisyncProgram"),
        "{hub}"
    );
    assert_eq!(wa.stop().code(), Some(0));
    assert_eq!(wb.stop().code(), Some(0));
}

#[test]
fn a_dropped_session_falls_back_to_polling_and_opens_again() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(net) = net(tmp.path(), true) else {
        return;
    };
    let (a, b) = (&net.a, &net.b);
    let (wa, wb) = net.watchers();
    wb.wait_for("b's notify-wait session", || wb.session() == "open");
    wa.wait_for("a's notify-wait session", || wa.session() == "open");

    // The hub ends every notify-wait it runs (a session that drops). "open" means the hub
    // answered; the command itself may still be starting there on a busy machine.
    let waiters = || -> Vec<i32> {
        processes_in(&net.hub)
            .iter()
            .filter(|(_, cmd)| {
                cmd.starts_with("git-aisync notify-wait") || cmd.contains("/git-aisync notify-wait")
            })
            .map(|(pid, _)| *pid)
            .collect()
    };
    wb.wait_for("one notify-wait per watcher on the hub", || {
        waiters().len() == 2
    });
    let waiters = waiters();
    for pid in waiters {
        // SAFETY: a process of this test's own hub, found by its working directory.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
    }
    // (Its record may already say "open" again by the time we look: the log says it.)
    wb.wait_for("b to see the session down", || {
        wb.log().contains("the notify-wait session is down")
    });
    // Meanwhile a write still travels (by polling, or by the next session if it is back).
    std::fs::write(a.join("memory/while-down.md"), "- still travels\n").unwrap();
    wait_until("the note on b", &[&wa, &wb], || {
        read_or_empty(b, "memory/while-down.md") == "- still travels\n"
    });
    wb.wait_for("b's session open again", || wb.session() == "open");
    assert!(
        wb.log().contains("notify-wait session open again"),
        "{}",
        wb.log()
    );
    wa.wait_for("a's session open again", || wa.session() == "open");

    let start = Instant::now();
    std::fs::write(a.join("memory/after.md"), "- heard at once again\n").unwrap();
    wait_until("the next note on b", &[&wa, &wb], || {
        read_or_empty(b, "memory/after.md") == "- heard at once again\n"
    });
    let took = start.elapsed();
    assert!(
        took < Duration::from_secs(15),
        "took {took:?}:\n{}",
        wb.log()
    );
    assert_eq!(wa.stop().code(), Some(0));
    assert_eq!(wb.stop().code(), Some(0));
}

#[test]
fn an_unknown_host_key_is_named_in_the_watchers_log() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(net) = net(tmp.path(), true) else {
        return;
    };
    // A new machine that does not know the hub's host key yet.
    let c = tmp.path().join("c");
    let out = common::aisync(Path::new("/"), &["init", c.to_str().unwrap()]);
    assert!(out.status.success());
    git_ok(&c, &["remote", "add", "origin", &net.sshd.url(&net.hub)]);
    let empty = tmp.path().join("empty_known_hosts");
    std::fs::write(&empty, "").unwrap();
    let ssh = net.sshd.ssh_command(&empty);
    let wb = Watcher::spawn(
        &c,
        &["--poll-remotes"],
        &[("GIT_SSH_COMMAND", ssh.as_str())],
        PATIENCE,
    );
    wb.wait_for("b's log to say the hub does not answer", || {
        wb.log().contains("origin does not answer")
    });
    let log = wb.log();
    let line = log
        .lines()
        .find(|l| l.contains("origin does not answer"))
        .unwrap_or_default();
    assert!(line.contains("Host key verification failed"), "{log}");
    assert_eq!(wb.stop().code(), Some(0));
}

/// `cargo install` puts git-aisync in `~/.cargo/bin`, which a non-interactive SSH session's
/// PATH lacks: the watcher finds it there all the same, with nothing configured, and hears
/// the hub through a notify-wait session (not by polling).
#[test]
fn a_hub_with_git_aisync_in_cargo_bin_but_not_on_the_session_path_is_heard_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(net) = net(tmp.path(), false) else {
        return;
    };
    // The hub's ~/.cargo/bin (the sessions' home is the sshd's own): git-aisync, through a
    // wrapper that says it was the one run.
    let cargo_bin = net.sshd.dir.join("home/.cargo/bin");
    std::fs::create_dir_all(&cargo_bin).unwrap();
    let called = tmp.path().join("cargo-bin-called");
    common::executable(
        &cargo_bin.join("git-aisync"),
        &format!(
            "#!/bin/sh\necho \"$1\" >> '{}'\nexec '{}' \"$@\"\n",
            called.display(),
            common::bin().display()
        ),
    );
    let (a, b) = (&net.a, &net.b);
    let (wa, wb) = net.watchers();
    wb.wait_for("b's notify-wait session", || wb.session() == "open");
    assert_eq!(wb.record()["remotes"][0]["how"], "notify-wait over ssh");
    std::fs::write(a.join("memory/cargo.md"), "- told, not asked\n").unwrap();
    wait_until("the note on b", &[&wa, &wb], || {
        read_or_empty(b, "memory/cargo.md") == "- told, not asked\n"
    });
    wb.wait_for("the notified cycle in the log", || {
        wb.log().contains("origin moved (notified)")
    });
    let ran = std::fs::read_to_string(&called).unwrap_or_default();
    assert!(ran.lines().any(|l| l == "notify-wait"), "{ran}");
    assert_eq!(wa.stop().code(), Some(0));
    assert_eq!(wb.stop().code(), Some(0));
}
