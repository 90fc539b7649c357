//! Syncing through a hub reached over SSH: a real sshd on 127.0.0.1 (its own host key and an
//! authorized key made here), git's own transport, and never a prompt.
//!
//! Needs `sshd` (Debian: openssh-server; `.ci/run` installs it). Without it these tests fail
//! under CI and say so plainly when run locally.

use crate::common;

use common::sshd::start_sshd;
use common::{aisync, aisync_ssh, assert_exit, git_ok, init_bare, init_over_ssh};
use std::path::Path;
use std::time::{Duration, Instant};

#[test]
fn two_machines_sync_through_a_hub_over_ssh() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(sshd) = start_sshd(&tmp.path().join("sshd"), true) else {
        return;
    };
    let hub = tmp.path().join("hub.git");
    init_bare(&hub);
    let url = sshd.url(&hub);
    let known = tmp.path().join("known_hosts");
    sshd.trust(&known);
    let ssh = sshd.ssh_command(&known);

    // The server's repository sits where `<git dir>/aisync/ssh-<40 hex>` is too long for a
    // socket (~100 bytes) though the folder itself is not: its kept connection lives elsewhere.
    // The laptop's has a `%` in its path (ssh reads `%t` in a socket path as a token).
    let pad = 70usize
        .saturating_sub(tmp.path().as_os_str().len() + "/".len() + "/.git/aisync".len())
        .max(1);
    let (laptop, server) = (tmp.path().join("lap%top"), tmp.path().join("s".repeat(pad)));
    for dir in [&laptop, &server] {
        init_over_ssh(dir, &ssh, &url);
    }
    std::fs::write(laptop.join("memory/notes.md"), "- from the laptop\n").unwrap();
    let out = aisync_ssh(&laptop, &ssh, &["sync"]);
    assert_exit(&out, 0);
    std::fs::write(server.join("memory/notes.md"), "- from the server\n").unwrap();
    let out = aisync_ssh(&server, &ssh, &["sync"]);
    assert_exit(&out, 0);
    let out = aisync_ssh(&laptop, &ssh, &["sync"]);
    assert_exit(&out, 0);
    let notes = std::fs::read_to_string(laptop.join("memory/notes.md")).unwrap();
    assert!(
        notes.contains("from the laptop") && notes.contains("from the server"),
        "{notes}"
    );
}

#[test]
fn an_unknown_host_key_is_refused_without_a_prompt_and_says_what_to_do() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(sshd) = start_sshd(&tmp.path().join("sshd"), true) else {
        return;
    };
    let hub = tmp.path().join("hub.git");
    init_bare(&hub);
    let laptop = tmp.path().join("laptop");
    let out = aisync(Path::new("/"), &["init", laptop.to_str().unwrap()]);
    assert!(out.status.success());
    let url = sshd.url(&hub);
    git_ok(&laptop, &["remote", "add", "origin", &url]);
    std::fs::write(laptop.join("memory/a.md"), "- a\n").unwrap();
    // An empty known_hosts: the host is unknown. ssh must not ask; the sync must not hang.
    let known = tmp.path().join("empty_known_hosts");
    std::fs::write(&known, "").unwrap();
    let start = Instant::now();
    let out = aisync_ssh(&laptop, &sshd.ssh_command(&known), &["sync"]);
    assert!(start.elapsed() < Duration::from_secs(30), "it waited");
    assert_exit(&out, 1);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("host key") && err.contains(&format!("ssh -p {} 127.0.0.1", sshd.port)),
        "{err}"
    );
    assert!(
        git_ok(&laptop, &["log", "-1", "--format=%s"]).contains("memory/a.md"),
        "the local commit is kept"
    );
}

#[test]
fn kick_and_run_reach_a_peer_over_ssh() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(sshd) = start_sshd(&tmp.path().join("sshd"), true) else {
        return;
    };
    let known = tmp.path().join("known_hosts");
    sshd.trust(&known);
    let ssh = sshd.ssh_command(&known);
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    assert!(aisync(Path::new("/"), &["init", a.to_str().unwrap()])
        .status
        .success());
    git_ok(
        tmp.path(),
        &["clone", "-q", a.to_str().unwrap(), b.to_str().unwrap()],
    );
    git_ok(&b, &["config", "aisync.machine", "b"]);
    assert!(aisync(&b, &["install"]).status.success());
    let url = sshd.url(&b);
    assert!(aisync_ssh(&a, &ssh, &["peer", "add", "b", &url])
        .status
        .success());

    std::fs::write(a.join("memory/news.md"), "- over ssh\n").unwrap();
    let out = aisync_ssh(&a, &ssh, &["sync"]);
    assert_exit(&out, 0);
    let out = aisync_ssh(&a, &ssh, &["run", "b", "--", "cat", "memory/news.md"]);
    assert_exit(&out, 0);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "- over ssh\n");
    let out = aisync_ssh(&a, &ssh, &["run", "b", "--", "sh", "-c", "exit 5"]);
    assert_eq!(out.status.code(), Some(5));
}

#[test]
fn a_peer_in_a_home_directory_is_reached_with_a_tilde_path_in_both_url_forms() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(sshd) = start_sshd(&tmp.path().join("sshd"), true) else {
        return;
    };
    let known = tmp.path().join("known_hosts");
    sshd.trust(&known);
    // The ssh command names the port, so the scp-like form reaches the same server.
    let ssh = sshd.ssh_command(&known);
    let a = tmp.path().join("a");
    // b lives in the home directory the server's sessions have.
    let b = sshd.dir.join("home/b");
    assert!(aisync(Path::new("/"), &["init", a.to_str().unwrap()])
        .status
        .success());
    git_ok(
        tmp.path(),
        &["clone", "-q", a.to_str().unwrap(), b.to_str().unwrap()],
    );
    git_ok(&b, &["config", "aisync.machine", "b"]);
    assert!(aisync(&b, &["install"]).status.success());

    for (name, url) in [
        ("b", format!("ssh://127.0.0.1:{}/~/b", sshd.port)),
        ("b2", "127.0.0.1:~/b".to_string()),
    ] {
        let out = aisync_ssh(&a, &ssh, &["peer", "add", name, &url]);
        assert_exit(&out, 0);
        std::fs::write(a.join("memory/news.md"), format!("- for {name}\n")).unwrap();
        let out = aisync_ssh(&a, &ssh, &["sync"]);
        assert_exit(&out, 0);
        let out = aisync_ssh(&a, &ssh, &["kick", name]);
        assert_exit(&out, 0);
        let out = aisync_ssh(&a, &ssh, &["run", name, "--", "cat", "memory/news.md"]);
        assert_exit(&out, 0);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("- for {name}\n"),
            "{url}"
        );
        let out = aisync_ssh(&a, &ssh, &["peer", "remove", name]);
        assert_exit(&out, 0);
    }
}

/// The same first command over SSH, with autopush on: init pushes its first commit to the
/// empty hub, says so and exits 0, twenty times over.
#[test]
fn init_with_an_empty_hub_over_ssh_pushes_its_first_commit_every_time() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(sshd) = start_sshd(&tmp.path().join("sshd"), true) else {
        return;
    };
    let known = tmp.path().join("known_hosts");
    sshd.trust(&known);
    let ssh = sshd.ssh_command(&known);
    for round in 0..20 {
        let hub = tmp.path().join(format!("hub{round}.git"));
        init_bare(&hub);
        let dir = tmp.path().join(format!("ai{round}"));
        let out = common::aisync_cmd(Path::new("/"))
            .env_remove("AISYNC_AUTOPUSH")
            .env("GIT_SSH_COMMAND", &ssh)
            .stdin(std::process::Stdio::null())
            .args(["init", dir.to_str().unwrap(), "--remote", &sshd.url(&hub)])
            .output()
            .unwrap();
        assert_exit(&out, 0);
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(
            said.contains("pushed main to origin"),
            "round {round}: {said}"
        );
        let head = git_ok(&dir, &["rev-parse", "HEAD"]);
        assert_eq!(
            head,
            git_ok(&hub, &["rev-parse", "refs/heads/main"]),
            "round {round}"
        );
    }
}
