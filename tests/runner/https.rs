//! Syncing through an HTTPS hub the way most people have one (GitHub, GitLab): a real web
//! server (nginx in front of `git http-backend`) on 127.0.0.1, TLS trusted through
//! `http.sslCAInfo`, basic auth answered by a credential helper, and never a prompt.
//!
//! Needs nginx and fcgiwrap (Debian: nginx-light, fcgiwrap; `.ci/run` installs them).

use crate::common;

use aisync_testkit::https::{HttpsHub, PASSWORD};
use common::watcher::{wait_until, Watcher};
use common::{assert_exit, git_ok, read_or_empty, write};
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

/// git-aisync in `dir` with `env` (the hub's certificate, a credential helper), nothing on
/// stdin: a prompt would have nobody to answer it.
fn aisync_with(dir: &Path, env: &[(String, String)], args: &[&str]) -> Output {
    common::aisync_cmd(dir)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(std::process::Stdio::null())
        .args(args)
        .output()
        .unwrap()
}

fn init(dir: &Path, url: &str, env: &[(String, String)]) {
    let out = aisync_with(
        Path::new("/"),
        env,
        &["init", dir.to_str().unwrap(), "--remote", url],
    );
    assert_exit(&out, 0);
}

#[test]
fn two_machines_sync_through_an_https_hub_with_a_credential_helper() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(hub) = HttpsHub::start(&tmp.path().join("hub")) else {
        return;
    };
    let url = hub.repo("ai.git");
    let env = hub.client_env(Some(PASSWORD));
    let (laptop, server) = (tmp.path().join("laptop"), tmp.path().join("server"));
    init(&laptop, &url, &env);
    init(&server, &url, &env);
    write(&laptop, "memory/notes.md", "- from the laptop\n");
    assert_exit(&aisync_with(&laptop, &env, &["sync"]), 0);
    assert_exit(&aisync_with(&server, &env, &["sync"]), 0);
    assert_eq!(
        read_or_empty(&server, "memory/notes.md"),
        "- from the laptop\n"
    );
    // The server's watcher polls the hub with the helper, never a prompt.
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let watcher = Watcher::start_with(&server, &[], &env_refs);
    write(
        &laptop,
        "memory/later.md",
        "- written while the server watches\n",
    );
    assert_exit(&aisync_with(&laptop, &env, &["sync"]), 0);
    wait_until("the note on the server", &[&watcher], || {
        read_or_empty(&server, "memory/later.md") == "- written while the server watches\n"
    });
    assert_eq!(watcher.stop().code(), Some(0));
}

#[test]
fn a_wrong_or_missing_credential_says_what_to_do_in_one_line_and_loses_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(hub) = HttpsHub::start(&tmp.path().join("hub")) else {
        return;
    };
    let url = hub.repo("ai.git");
    let laptop = tmp.path().join("laptop");
    init(&laptop, &url, &hub.client_env(Some(PASSWORD)));
    write(&laptop, "memory/kept.md", "- mine\n");
    for env in [hub.client_env(Some("wrong")), hub.client_env(None)] {
        let start = Instant::now();
        let out = aisync_with(&laptop, &env, &["sync"]);
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "waited on a prompt?"
        );
        assert_exit(&out, 1);
        let said = String::from_utf8_lossy(&out.stderr);
        assert_eq!(said.trim().lines().count(), 1, "{said}");
        assert!(
            said.contains("credential") && said.contains("127.0.0.1"),
            "{said}"
        );
        // The note is committed here, waiting.
        assert!(git_ok(&laptop, &["log", "--name-only"]).contains("memory/kept.md"));
    }
    assert_exit(
        &aisync_with(&laptop, &hub.client_env(Some(PASSWORD)), &["sync"]),
        0,
    );
    let on_hub = git_ok(
        &hub.dir.join("repos/ai.git"),
        &["ls-tree", "-r", "--name-only", "main"],
    );
    assert!(on_hub.contains("memory/kept.md"), "{on_hub}");
}
