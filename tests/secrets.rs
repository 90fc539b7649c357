//! The secret gate: generated fake secrets (made here, never real keys) embedded the way
//! assistants write them are caught at every gate, and none reaches the hub.

mod common;

use common::{aisync, assert_exit, git_cmd, init_bare};
use std::path::{Path, PathBuf};

/// A deterministic pseudo-random string over `alphabet`.
fn random(seed: &mut u64, alphabet: &[u8], n: usize) -> String {
    (0..n)
        .map(|_| {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            alphabet[(*seed % alphabet.len() as u64) as usize] as char
        })
        .collect()
}

const UPPER_DIGITS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// (rule, secret) pairs: three of each kind.
fn fake_secrets() -> Vec<(&'static str, String)> {
    let mut seed = 0x9e3779b97f4a7c15u64;
    let mut out = Vec::new();
    for _ in 0..3 {
        let s = &mut seed;
        out.push((
            "aws-access-key-id",
            format!("AKIA{}", random(s, UPPER_DIGITS, 16)),
        ));
        out.push((
            "aws-secret-access-key",
            format!("aws_secret_access_key = {}", random(s, ALNUM, 40)),
        ));
        out.push(("github-token", format!("ghp_{}", random(s, ALNUM, 36))));
        out.push(("gitlab-token", format!("glpat-{}", random(s, ALNUM, 20))));
        out.push((
            "slack-token",
            format!(
                "xoxb-{}-{}",
                random(s, b"0123456789", 12),
                random(s, ALNUM, 24)
            ),
        ));
        out.push((
            "slack-webhook",
            format!(
                "https://hooks.slack.com/services/T{}/B{}/{}",
                random(s, UPPER_DIGITS, 8),
                random(s, UPPER_DIGITS, 8),
                random(s, ALNUM, 24)
            ),
        ));
        out.push(("stripe-key", format!("sk_live_{}", random(s, ALNUM, 24))));
        out.push((
            "openai-api-key",
            format!("sk-proj-{}", random(s, ALNUM, 40)),
        ));
        out.push((
            "anthropic-api-key",
            format!("sk-ant-api03-{}", random(s, ALNUM, 40)),
        ));
        out.push(("google-api-key", format!("AIza{}", random(s, ALNUM, 35))));
        out.push((
            "jwt",
            format!(
                "eyJ{}.eyJ{}.{}",
                random(s, ALNUM, 20),
                random(s, ALNUM, 30),
                random(s, ALNUM, 30)
            ),
        ));
        out.push((
            "database-url-password",
            format!(
                "postgres://app:{}@db.internal:5432/app",
                random(s, ALNUM, 16)
            ),
        ));
        out.push((
            "generic-secret",
            format!("password: \"{}\"", random(s, ALNUM, 20)),
        ));
        out.push(("private-key", "-----BEGIN RSA PRIVATE KEY-----".to_string()));
    }
    out
}

/// A secret embedded the way an assistant writes notes: (file, content).
fn embedded(i: usize, secret: &str) -> (String, String) {
    let quoted = secret.replace('"', "'");
    match i % 5 {
        0 => (
            format!("memory/notes-{i}.md"),
            format!("# Deploy\n\n- use {secret} for staging\n"),
        ),
        1 => (
            format!("memory/store-{i}.json"),
            format!("{{\"facts\": [{{\"id\": \"k{i}\", \"text\": \"key is {quoted}\"}}]}}\n"),
        ),
        2 => (
            format!("memory/conf-{i}.yaml"),
            format!("service:\n  credential: \"{quoted}\"\n"),
        ),
        3 => (
            format!("logs/session-{i}.jsonl"),
            format!("{{\"ts\": 1700000000, \"msg\": \"set {quoted}\"}}\n"),
        ),
        _ => (
            format!("memory/setup-{i}.md"),
            format!("```sh\nexport KEY={secret}\n```\n"),
        ),
    }
}

fn git(dir: &Path, args: &[&str]) -> std::process::Output {
    git_cmd(dir).args(args).output().unwrap()
}

fn machine(root: &Path, hub: &Path, name: &str) -> PathBuf {
    let dir = root.join(name);
    let out = aisync(
        Path::new("/"),
        &[
            "init",
            dir.to_str().unwrap(),
            "--remote",
            hub.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

fn hub(root: &Path) -> PathBuf {
    let hub = root.join("hub.git");
    init_bare(&hub);
    hub
}

/// Every object in a repository, as text, to search for secrets.
fn all_objects(repo: &Path) -> String {
    let list = git(repo, &["rev-list", "--all", "--objects"]);
    let mut text = String::new();
    for line in String::from_utf8_lossy(&list.stdout).lines() {
        let oid = line.split(' ').next().unwrap();
        let obj = git(repo, &["cat-file", "-p", oid]);
        text.push_str(&String::from_utf8_lossy(&obj.stdout));
    }
    text
}

fn secret_part(secret: &str) -> &str {
    // What must never appear: the distinctive random part (the longest token).
    secret
        .split([' ', ':', '/', '=', '@', '"', '\'', '.'])
        .max_by_key(|t| t.len())
        .unwrap_or(secret)
}

#[test]
fn every_fake_secret_is_caught_by_scan_and_the_clean_corpus_is_clean() {
    let tmp = tempfile::tempdir().unwrap();
    let secrets = fake_secrets();
    for (i, (rule, secret)) in secrets.iter().enumerate() {
        let (path, content) = embedded(i, secret);
        let p = tmp.path().join(&path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, content).unwrap();
        let out = aisync(tmp.path(), &["scan", "--json", &path]);
        assert_eq!(out.status.code(), Some(1), "{rule} in {path} not caught");
        let found: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
        assert!(
            found.iter().any(|f| f["rule"] == *rule),
            "{rule}: {found:?}"
        );
        let shown = String::from_utf8_lossy(&out.stdout);
        if secret.len() > 12 && *rule != "private-key" {
            assert!(
                !shown.contains(secret_part(secret)),
                "{rule}: the secret was printed"
            );
        }
    }

    let clean = tempfile::tempdir().unwrap();
    let files = [
        ("notes.md", "# Notes\n\n- prefers tabs over spaces\n- the password field needs 12+ chars\n- see https://docs.rs/regex and https://example.com/path?q=1\n- commit 4f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a3f\n- uuid 550e8400-e29b-41d4-a716-446655440000\n- word: antidisestablishmentarianism\n- token: (none yet)\n"),
        ("store.json", "{\"facts\": [{\"id\": \"f1\", \"text\": \"uses scikit-learn and sk-learn-like APIs\", \"updated_at\": \"2026-01-01T00:00:00Z\"}], \"image\": \"iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==\"}\n"),
        ("conf.yaml", "service:\n  url: https://api.example.com/v1\n  timeout: 30\n  secret_ref: ${VAULT_SECRET}\n  api_key: <your api key here>\n"),
        ("log.jsonl", "{\"ts\":1700000000,\"msg\":\"ran git push origin main\"}\n{\"ts\":1700000001,\"msg\":\"sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\"}\n"),
        ("code.md", "```rust\nlet token = env::var(\"GITHUB_TOKEN\")?;\nlet password = prompt_password()?;\n```\n"),
    ];
    for (name, text) in files {
        std::fs::write(clean.path().join(name), text).unwrap();
    }
    let out = aisync(clean.path(), &["scan", "--json"]);
    let found: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert!(found.is_empty(), "false positives: {found:#?}");
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn no_fake_secret_reaches_the_hub_through_commits_pushes_or_sync() {
    let tmp = tempfile::tempdir().unwrap();
    let hub = hub(tmp.path());
    let laptop = machine(tmp.path(), &hub, "laptop");
    let server = machine(tmp.path(), &hub, "server");
    let secrets = fake_secrets();
    for (i, (rule, secret)) in secrets.iter().enumerate() {
        let (path, content) = embedded(i, secret);
        let dir = if i % 2 == 0 { &laptop } else { &server };
        let file = dir.join(&path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, &content).unwrap();
        // Gate 1: pre-commit blocks a person's commit.
        assert!(git(dir, &["add", "--", &path]).status.success());
        let commit = git(dir, &["commit", "-q", "-m", "notes"]);
        assert!(
            !commit.status.success(),
            "{rule}: pre-commit let {path} through"
        );
        assert!(git(dir, &["reset", "-q"]).status.success());
    }
    // Gate 2: the cycle holds every one of them back, and syncs what is clean.
    std::fs::write(laptop.join("memory/clean.md"), "- fine\n").unwrap();
    for dir in [&laptop, &server, &laptop] {
        let out = aisync(dir, &["sync"]);
        assert_exit(&out, 4);
    }
    assert!(
        server.join("memory/clean.md").exists(),
        "clean files still sync"
    );
    // Gate 3: a --no-verify commit is caught by pre-push.
    let (path, content) = embedded(0, &secrets[0].1);
    std::fs::write(laptop.join(&path), content).unwrap();
    assert!(git(&laptop, &["add", "--", &path]).status.success());
    assert!(git(&laptop, &["commit", "-q", "--no-verify", "-m", "oops"])
        .status
        .success());
    let push = git(&laptop, &["push", "-q", "origin", "main"]);
    assert!(
        !push.status.success(),
        "pre-push let a --no-verify commit out"
    );
    assert!(String::from_utf8_lossy(&push.stderr).contains("git aisync quarantine"));
    // And the cycle will not push it either.
    assert_eq!(aisync(&laptop, &["sync"]).status.code(), Some(4));

    let objects = all_objects(&hub);
    for (rule, secret) in &secrets {
        assert!(
            !objects.contains(secret_part(secret)),
            "{rule} reached the hub"
        );
    }
}

#[test]
fn quarantine_drops_the_secret_from_unpublished_commits_and_keeps_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let hub = hub(tmp.path());
    let laptop = machine(tmp.path(), &hub, "laptop");
    std::fs::write(laptop.join("memory/notes.md"), "- published note\n").unwrap();
    assert_eq!(aisync(&laptop, &["sync"]).status.code(), Some(0));
    let key = format!("ghp_{}", "Zq3k".repeat(9));
    std::fs::write(
        laptop.join("memory/notes.md"),
        format!("- published note\n- token {key}\n"),
    )
    .unwrap();
    std::fs::write(laptop.join("memory/other.md"), "- unrelated, unpublished\n").unwrap();
    assert!(git(&laptop, &["add", "-A"]).status.success());
    assert!(git(&laptop, &["commit", "-q", "--no-verify", "-m", "leak"])
        .status
        .success());
    let hub_before = String::from_utf8_lossy(&git(&hub, &["rev-parse", "main"]).stdout).to_string();

    let out = aisync(&laptop, &["quarantine"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        std::fs::read_to_string(laptop.join("memory/notes.md"))
            .unwrap()
            .contains(&key),
        "the file stays as it is"
    );
    let committed = git(&laptop, &["show", "HEAD:memory/notes.md"]);
    assert_eq!(
        String::from_utf8_lossy(&committed.stdout),
        "- published note\n"
    );
    let other = git(&laptop, &["show", "HEAD:memory/other.md"]);
    assert!(other.status.success(), "the rest of the commit is kept");
    assert_eq!(
        String::from_utf8_lossy(&git(&hub, &["rev-parse", "main"]).stdout),
        hub_before,
        "the hub untouched"
    );

    assert!(git(&laptop, &["push", "-q", "origin", "main"])
        .status
        .success());
    assert!(!all_objects(&hub).contains(&key));
}

#[test]
fn an_unencrypted_remote_is_refused_by_the_hook_and_by_the_cycle() {
    let tmp = tempfile::tempdir().unwrap();
    let hub = hub(tmp.path());
    let laptop = machine(tmp.path(), &hub, "laptop");
    // What git runs before a push: the hook with the remote's name and URL.
    let out = aisync(
        &laptop,
        &["hook", "pre-push", "plain", "http://127.0.0.1:9/none.git"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not encrypted"));
    assert!(git(
        &laptop,
        &["remote", "set-url", "origin", "git://127.0.0.1:9/none.git"]
    )
    .status
    .success());
    let out = aisync(&laptop, &["sync"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not encrypted"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
