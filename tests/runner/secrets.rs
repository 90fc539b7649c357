//! The secret gate: generated fake secrets (made here, never real keys) embedded the way
//! assistants write them are caught at every gate, and none reaches the hub.

use crate::common;

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

/// (rule, secret) pairs: three of each kind, in the spellings people use.
fn fake_secrets() -> Vec<(&'static str, String)> {
    let mut seed = 0x9e3779b97f4a7c15u64;
    let mut out = Vec::new();
    for copy in 0..3 {
        let s = &mut seed;
        out.push((
            "aws-access-key-id",
            format!("AKIA{}", random(s, UPPER_DIGITS, 16)),
        ));
        out.push((
            "aws-secret-access-key",
            match copy {
                0 => format!("aws_secret_access_key = {}", random(s, ALNUM, 40)),
                1 => format!("AWS_SECRET_ACCESS_KEY={}", random(s, ALNUM, 40)),
                _ => format!("aws secret key: {}", random(s, ALNUM, 40)),
            },
        ));
        out.push((
            "github-token",
            match copy {
                0 => format!("ghp_{}", random(s, ALNUM, 36)),
                1 => format!("gho_{}", random(s, ALNUM, 36)),
                _ => format!(
                    "github_pat_{}_{}",
                    random(s, ALNUM, 22),
                    random(s, ALNUM, 59)
                ),
            },
        ));
        out.push((
            "gitlab-token",
            match copy {
                1 => format!("glptt-{}", random(s, ALNUM, 40)),
                _ => format!("glpat-{}", random(s, ALNUM, 20)),
            },
        ));
        out.push((
            "slack-token",
            match copy {
                1 => format!(
                    "xapp-1-A{}-{}-{}",
                    random(s, UPPER_DIGITS, 10),
                    random(s, b"0123456789", 13),
                    random(s, b"0123456789abcdef", 64)
                ),
                _ => format!(
                    "xoxb-{}-{}",
                    random(s, b"0123456789", 12),
                    random(s, ALNUM, 24)
                ),
            },
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
        out.push((
            "stripe-key",
            match copy {
                0 => format!("sk_live_{}", random(s, ALNUM, 24)),
                1 => format!("rk_live_{}", random(s, ALNUM, 24)),
                _ => format!("sk_test_{}", random(s, ALNUM, 24)),
            },
        ));
        out.push((
            "openai-api-key",
            match copy {
                0 => format!("sk-proj-{}", random(s, ALNUM, 40)),
                1 => format!("sk-{}", random(s, ALNUM, 48)),
                _ => format!(
                    "sk-{}T3BlbkFJ{}",
                    random(s, ALNUM, 20),
                    random(s, ALNUM, 20)
                ),
            },
        ));
        out.push((
            "anthropic-api-key",
            format!("sk-ant-api03-{}", random(s, ALNUM, 40)),
        ));
        out.push(("google-api-key", format!("AIza{}", random(s, ALNUM, 35))));
        out.push((
            "google-oauth-secret",
            format!("GOCSPX-{}", random(s, ALNUM, 28)),
        ));
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
            match copy {
                0 => format!(
                    "postgres://app:{}@db.internal:5432/app",
                    random(s, ALNUM, 16)
                ),
                1 => format!(
                    "postgresql://app:{}/{}+{}@db/app",
                    random(s, ALNUM, 6),
                    random(s, ALNUM, 6),
                    random(s, ALNUM, 6)
                ),
                _ => format!("redis://:{}@cache:6379/0", random(s, ALNUM, 18)),
            },
        ));
        let value = random(s, ALNUM, 24);
        for generic in [
            format!("password: \"{value}\""),
            format!("API_TOKEN={value}"),
            format!("DB_PASSWORD={value}"),
            format!("client_secret: {value}"),
            format!("\"accessToken\": \"{value}\""),
            format!("OPENAI_API_KEY={value}"),
        ]
        .into_iter()
        .skip(copy)
        .step_by(3)
        {
            out.push(("generic-secret", generic));
        }
        out.push((
            "private-key",
            [
                "-----BEGIN RSA PRIVATE KEY-----",
                "-----BEGIN OPENSSH PRIVATE KEY-----",
                "-----BEGIN PGP PRIVATE KEY BLOCK-----",
            ][copy]
                .to_string(),
        ));
    }
    out
}

/// The ways an assistant writes a secret down.
const STYLES: [&str; 5] = ["markdown", "json", "yaml", "jsonl", "fence"];

/// A secret embedded the way an assistant writes notes, in style `style`: (file, content).
fn embedded(style: usize, i: usize, secret: &str) -> (String, String) {
    let quoted = secret.replace('"', "'");
    match style % 5 {
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

/// The whole corpus: every fake secret in every style, one file each:
/// (rule, secret, file, content).
fn corpus() -> Vec<(&'static str, String, String, String)> {
    let mut out = Vec::new();
    for (i, (rule, secret)) in fake_secrets().into_iter().enumerate() {
        for style in 0..STYLES.len() {
            let (path, content) = embedded(style, i, &secret);
            out.push((rule, secret.clone(), path, content));
        }
    }
    out
}

/// Asserts that `report` (what a gate printed) names every file of `corpus` with its rule,
/// and never prints a secret.
fn names_every_file(gate: &str, report: &str, corpus: &[(&str, String, String, String)]) {
    for (rule, secret, path, _) in corpus {
        assert!(
            report
                .lines()
                .any(|l| l.contains(&format!("{path}:")) && l.contains(rule)),
            "{gate} missed {rule} in {path}:\n{report}"
        );
        if *rule != "private-key" {
            assert!(
                !report.contains(secret_part(secret)),
                "{gate} printed a {rule}"
            );
        }
    }
}

fn git(dir: &Path, args: &[&str]) -> std::process::Output {
    git_cmd(dir).args(args).output().unwrap()
}

fn machine(root: &Path, hub: &Path, name: &str) -> PathBuf {
    let dir = root.join(name);
    common::init_joined(&dir, hub);
    dir
}

fn hub(root: &Path) -> PathBuf {
    let hub = root.join("hub.git");
    init_bare(&hub);
    hub
}

/// Every object in a repository (`git rev-list --all --objects`), as text, to search for
/// secrets: read by one `git cat-file --batch`.
fn all_objects(repo: &Path) -> String {
    let list = git(repo, &["rev-list", "--all", "--objects"]);
    let ids: String = String::from_utf8_lossy(&list.stdout)
        .lines()
        .map(|l| format!("{}\n", l.split(' ').next().unwrap_or_default()))
        .collect();
    let mut cat = git_cmd(repo)
        .args(["cat-file", "--batch"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = cat.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        stdin.write_all(ids.as_bytes()).unwrap();
    });
    let out = cat.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).into_owned()
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
    let corpus = corpus();
    for (_, _, path, content) in &corpus {
        let p = tmp.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, content).unwrap();
    }
    let out = aisync(tmp.path(), &["scan", "memory", "logs"]);
    assert_eq!(out.status.code(), Some(1));
    names_every_file("scan", &String::from_utf8_lossy(&out.stdout), &corpus);
    let out = aisync(tmp.path(), &["scan", "--json", "memory", "logs"]);
    let found: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    for (rule, _, path, _) in &corpus {
        assert!(
            found.iter().any(|f| f["path"]
                .as_str()
                .is_some_and(|p| p.ends_with(path.as_str()))
                && f["rule"] == *rule),
            "{rule} in {path}: {found:?}"
        );
    }

    let clean = tempfile::tempdir().unwrap();
    let files = [
        ("notes.md", "# Notes\n\n- prefers tabs over spaces\n- the password field needs 12+ chars\n- see https://docs.rs/regex and https://example.com/path?q=1\n- commit 4f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a3f\n- uuid 550e8400-e29b-41d4-a716-446655440000\n- word: antidisestablishmentarianism\n- token: (none yet)\n"),
        ("store.json", "{\"facts\": [{\"id\": \"f1\", \"text\": \"uses scikit-learn and sk-learn-like APIs\", \"updated_at\": \"2026-01-01T00:00:00Z\"}], \"image\": \"iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==\"}\n"),
        ("conf.yaml", "service:\n  url: https://api.example.com/v1\n  timeout: 30\n  secret_ref: ${VAULT_SECRET}\n  api_key: <your api key here>\n"),
        ("log.jsonl", "{\"ts\":1700000000,\"msg\":\"ran git push origin main\"}\n{\"ts\":1700000001,\"msg\":\"sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\"}\n"),
        ("code.md", "```rust\nlet token = env::var(\"GITHUB_TOKEN\")?;\nlet password = prompt_password()?;\n```\n"),
        ("auth.md", "# Auth notes\n\n- the token expires after 1 hour\n- password: see vault\n- API_TOKEN=${API_TOKEN}\n- DB_PASSWORD=<ask ops>\n- client_secret: YOUR_CLIENT_SECRET\n- \"accessToken\": \"<token>\"\n- tokenizer = AutoTokenizer.from_pretrained(name)\n- AWS's example key AKIAIOSFODNN7EXAMPLE\n- postgres://db.internal:5432/app\n"),
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
fn every_fake_secret_is_caught_at_each_gate_and_none_reaches_the_hub() {
    let tmp = tempfile::tempdir().unwrap();
    let hub = hub(tmp.path());
    let machines = [
        machine(tmp.path(), &hub, "laptop"),
        machine(tmp.path(), &hub, "server"),
        machine(tmp.path(), &hub, "desktop"),
    ];
    let corpus = corpus();
    // Each machine's assistant writes a third of the corpus.
    let share = |k: usize| -> Vec<_> {
        corpus
            .iter()
            .enumerate()
            .filter(|(i, _)| i % machines.len() == k)
            .map(|(_, c)| c.clone())
            .collect()
    };
    for (k, dir) in machines.iter().enumerate() {
        for (_, _, path, content) in share(k) {
            common::write(dir, &path, &content);
        }
        // Gate 1: pre-commit blocks a person's commit of all of them, naming each.
        assert!(git(dir, &["add", "-A"]).status.success());
        let commit = git(dir, &["commit", "-q", "-m", "notes"]);
        assert!(
            !commit.status.success(),
            "pre-commit let the corpus through"
        );
        names_every_file(
            "pre-commit",
            &String::from_utf8_lossy(&commit.stderr),
            &share(k),
        );
        assert!(git(dir, &["reset", "-q"]).status.success());
    }
    // Gate 2: the cycle holds every one of them back before its commit, and syncs what is
    // clean.
    for (k, dir) in machines.iter().enumerate() {
        common::write(dir, &format!("memory/clean-{k}.md"), "- fine\n");
    }
    for round in 0..2 {
        for (k, dir) in machines.iter().enumerate() {
            let out = aisync(dir, &["sync"]);
            assert_exit(&out, 4);
            if round == 0 {
                names_every_file(
                    "the cycle",
                    &String::from_utf8_lossy(&out.stderr),
                    &share(k),
                );
            }
        }
    }
    for dir in &machines {
        for k in 0..machines.len() {
            assert!(
                dir.join(format!("memory/clean-{k}.md")).exists(),
                "clean files still sync"
            );
        }
    }
    // Gate 3: a person commits them with --no-verify; pre-push stops the push, naming each.
    for (k, dir) in machines.iter().enumerate() {
        assert_exit(&aisync(dir, &["sync"]), 4);
        assert!(git(dir, &["add", "-A"]).status.success());
        assert!(git(dir, &["commit", "-q", "--no-verify", "-m", "oops"])
            .status
            .success());
        let push = git(dir, &["push", "-q", "origin", "main"]);
        assert!(
            !push.status.success(),
            "pre-push let a --no-verify commit out"
        );
        let said = String::from_utf8_lossy(&push.stderr);
        assert!(said.contains("git aisync quarantine"), "{said}");
        names_every_file("pre-push", &said, &share(k));
        // And the cycle will not push it either, whatever the hooks do.
        let out = aisync(dir, &["sync"]);
        assert_exit(&out, 4);
        assert!(String::from_utf8_lossy(&out.stderr).contains("git aisync quarantine"));
    }

    let objects = all_objects(&hub);
    assert!(objects.contains("- fine"), "the hub has the clean notes");
    for (rule, secret, path, _) in &corpus {
        assert!(
            !objects.contains(secret_part(secret)),
            "{rule} from {path} reached the hub"
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

/// A fake GitHub token, made here.
fn fake_token(seed: u64) -> String {
    let mut seed = seed;
    format!("ghp_{}", random(&mut seed, ALNUM, 36))
}

#[test]
fn pre_push_and_the_cycle_scan_merge_commits_and_files_git_will_not_diff() {
    let tmp = tempfile::tempdir().unwrap();
    let hub = hub(tmp.path());
    let laptop = machine(tmp.path(), &hub, "laptop");
    common::write(
        &laptop,
        ".gitattributes",
        "*.cfg -diff\n*.dat binary\n*.txt diff=hidden\n",
    );
    common::write(&laptop, "memory/notes.md", "- published\n");
    assert_exit(&aisync(&laptop, &["sync"]), 0);
    // textconv that shows nothing: `git log -p` would see no added line at all.
    assert!(git(&laptop, &["config", "diff.hidden.textconv", "true"])
        .status
        .success());
    let keys: Vec<String> = (1..=4).map(|n| fake_token(0x5eed + n)).collect();

    // A side branch, then a merge commit that adds a key of its own (made with --no-verify).
    assert!(git(&laptop, &["checkout", "-q", "-b", "side"])
        .status
        .success());
    common::write(&laptop, "memory/side.md", "- from the side\n");
    assert!(git(&laptop, &["add", "-A"]).status.success());
    assert!(git(&laptop, &["commit", "-q", "-m", "side"])
        .status
        .success());
    assert!(git(&laptop, &["checkout", "-q", "main"]).status.success());
    common::write(&laptop, "memory/main.md", "- on main\n");
    assert!(git(&laptop, &["add", "-A"]).status.success());
    assert!(git(&laptop, &["commit", "-q", "-m", "main"])
        .status
        .success());
    let merge = git(&laptop, &["merge", "-q", "--no-commit", "--no-ff", "side"]);
    assert!(merge.status.success(), "{merge:?}");
    common::write(&laptop, "memory/merged.md", &format!("- key {}\n", keys[0]));
    common::write(&laptop, "memory/app.cfg", &format!("token = {}\n", keys[1]));
    common::write(&laptop, "memory/blob.dat", &format!("key {}\n", keys[2]));
    common::write(&laptop, "memory/hidden.txt", &format!("key {}\n", keys[3]));
    assert!(git(&laptop, &["add", "-A"]).status.success());
    assert!(
        git(&laptop, &["commit", "-q", "--no-verify", "-m", "merge"])
            .status
            .success()
    );

    let push = git(&laptop, &["push", "-q", "origin", "main"]);
    assert!(!push.status.success(), "pre-push let the merge out");
    let said = String::from_utf8_lossy(&push.stderr);
    for file in [
        "memory/merged.md:",
        "memory/app.cfg:",
        "memory/blob.dat:",
        "memory/hidden.txt:",
    ] {
        assert!(said.contains(file), "pre-push missed {file}:\n{said}");
    }
    let out = aisync(&laptop, &["sync"]);
    assert_exit(&out, 4);
    let objects = all_objects(&hub);
    for key in &keys {
        assert!(!objects.contains(key.as_str()), "a key reached the hub");
    }
}

#[test]
fn quarantine_and_the_messages_take_file_names_as_they_are() {
    use std::os::unix::ffi::OsStrExt;
    let tmp = tempfile::tempdir().unwrap();
    let hub = hub(tmp.path());
    let laptop = machine(tmp.path(), &hub, "laptop");
    common::write(&laptop, "memory/my notes.md", "- published\n");
    assert_exit(&aisync(&laptop, &["sync"]), 0);
    let names: Vec<&[u8]> = vec![
        b"memory/my notes.md",
        b"memory/it's \"quoted\".md",
        "memory/café – résumé.md".as_bytes(),
        b"memory/new\nline.md",
        b"memory/-leading dash.md",
        b"memory/bad\xffname.md",
    ];
    let keys: Vec<String> = (0..names.len() as u64)
        .map(|n| fake_token(0xfeed + n))
        .collect();
    for (name, key) in names.iter().zip(&keys) {
        let path = laptop.join(std::ffi::OsStr::from_bytes(name));
        std::fs::write(&path, format!("- published\n- token {key}\n")).unwrap();
    }
    common::write(&laptop, "memory/other.md", "- unrelated, unpublished\n");
    // A copy of a leaked file: the same blob at a second path goes too.
    std::fs::copy(
        laptop.join("memory/my notes.md"),
        laptop.join("memory/copy.md"),
    )
    .unwrap();
    assert!(git(&laptop, &["add", "-A"]).status.success());
    assert!(git(&laptop, &["commit", "-q", "--no-verify", "-m", "leak"])
        .status
        .success());

    // pre-push names each file on one line, an odd name quoted.
    let push = git(&laptop, &["push", "-q", "origin", "main"]);
    assert!(!push.status.success());
    let said = String::from_utf8_lossy(&push.stderr);
    for shown in [
        "memory/my notes.md:2:",
        r#""memory/it's \"quoted\".md":2:"#,
        "memory/café – résumé.md:2:",
        r#""memory/new\nline.md":2:"#,
        "memory/-leading dash.md:2:",
        r#""memory/bad\xffname.md":2:"#,
    ] {
        assert!(said.contains(shown), "pre-push: {shown} not in\n{said}");
    }
    for key in &keys {
        assert!(!said.contains(key.as_str()), "pre-push printed a key");
    }

    let out = aisync(&laptop, &["quarantine"]);
    assert_exit(&out, 0);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("rewrote 1 unpublished commit"), "{said}");
    assert!(said.contains(r#""memory/new\nline.md""#), "{said}");
    for (name, key) in names.iter().zip(&keys) {
        let path = laptop.join(std::ffi::OsStr::from_bytes(name));
        assert!(
            std::fs::read_to_string(&path)
                .unwrap()
                .contains(key.as_str()),
            "the file stays as it is"
        );
    }
    let committed = git(&laptop, &["show", "HEAD:memory/my notes.md"]);
    assert_eq!(String::from_utf8_lossy(&committed.stdout), "- published\n");
    let tree = git(&laptop, &["ls-tree", "-r", "-z", "--name-only", "HEAD"]);
    let tree: Vec<&[u8]> = tree.stdout.split(|&b| b == 0).collect();
    assert!(tree.contains(&&b"memory/other.md"[..]), "the rest is kept");
    for name in names[1..].iter().chain([&&b"memory/copy.md"[..]]) {
        assert!(!tree.contains(name), "{}", String::from_utf8_lossy(name));
    }
    let push = git(&laptop, &["push", "-q", "origin", "main"]);
    assert!(
        push.status.success(),
        "{}",
        String::from_utf8_lossy(&push.stderr)
    );
    let objects = all_objects(&hub);
    for key in &keys {
        assert!(!objects.contains(key.as_str()), "a key reached the hub");
    }
}

#[test]
fn scanning_the_working_tree_skips_where_secrets_belong_and_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let hub = hub(tmp.path());
    let laptop = machine(tmp.path(), &hub, "laptop");
    let policy = std::fs::read_to_string(laptop.join(".aisync.yml")).unwrap();
    std::fs::write(
        laptop.join(".aisync.yml"),
        policy.replace("paths:\n", "paths:\n  private/**: never\n"),
    )
    .unwrap();
    common::write(
        &laptop,
        ".credentials/github.env",
        &format!("GITHUB_TOKEN={}\n", fake_token(1)),
    );
    common::write(
        &laptop,
        "private/keys.md",
        &format!("- {}\n", fake_token(2)),
    );
    common::write(&laptop, "memory/notes.md", "- nothing secret\n");
    let out = aisync(&laptop, &["scan"]);
    assert_exit(&out, 0);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("not scanned") && said.contains(".credentials/") && said.contains("private/"),
        "{said}"
    );
    // Named, they are scanned.
    assert_exit(&aisync(&laptop, &["scan", ".credentials", "private"]), 1);
    // A secret elsewhere is still found.
    common::write(&laptop, "memory/leak.md", &format!("- {}\n", fake_token(3)));
    assert_exit(&aisync(&laptop, &["scan"]), 1);
}

#[test]
fn a_push_url_or_push_rewrite_to_an_unencrypted_transport_is_refused_by_the_hook() {
    let tmp = tempfile::tempdir().unwrap();
    let hub = hub(tmp.path());
    let laptop = machine(tmp.path(), &hub, "laptop");
    let hub_url = hub.to_str().unwrap();
    // git hands the hook the URL it pushes to; the remote's other push URLs count too.
    assert!(git(
        &laptop,
        &[
            "config",
            "remote.origin.pushurl",
            "http://127.0.0.1:9/hub.git"
        ]
    )
    .status
    .success());
    let out = aisync(&laptop, &["hook", "pre-push", "origin", hub_url]);
    assert_exit(&out, 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("http://127.0.0.1:9/hub.git"));
    assert!(
        git(&laptop, &["config", "--unset", "remote.origin.pushurl"])
            .status
            .success()
    );
    let rewrite = format!("url.git://127.0.0.1:9/{}.pushInsteadOf", "x");
    assert!(git(&laptop, &["config", &rewrite, hub_url])
        .status
        .success());
    let out = aisync(&laptop, &["hook", "pre-push", "origin", hub_url]);
    assert_exit(&out, 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("not encrypted"));
    // Allowed explicitly, it goes.
    assert!(git(
        &laptop,
        &["config", "aisync.allowInsecureTransport", "true"]
    )
    .status
    .success());
    let out = aisync(&laptop, &["hook", "pre-push", "origin", hub_url]);
    assert_exit(&out, 0);
}

#[test]
fn the_cycle_refuses_a_push_url_to_an_unencrypted_transport_and_pushes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let hub = hub(tmp.path());
    let laptop = machine(tmp.path(), &hub, "laptop");
    let before = all_objects(&hub);
    assert!(git(
        &laptop,
        &[
            "config",
            "remote.origin.pushurl",
            "http://127.0.0.1:9/hub.git"
        ]
    )
    .status
    .success());
    common::write(&laptop, "memory/note.md", "- a note\n");
    let out = aisync(&laptop, &["sync"]);
    assert_exit(&out, 1);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not encrypted") && err.contains("http://127.0.0.1:9/hub.git"),
        "{err}"
    );
    assert_eq!(all_objects(&hub), before, "the cycle pushed somewhere");
}

#[test]
fn pre_push_scans_when_the_remote_moved_on_since_the_last_fetch() {
    let tmp = tempfile::tempdir().unwrap();
    let hub = hub(tmp.path());
    let laptop = machine(tmp.path(), &hub, "laptop");
    let server = machine(tmp.path(), &hub, "server");
    common::write(&server, "memory/server.md", "- from the server\n");
    assert_exit(&aisync(&server, &["sync"]), 0);
    // The laptop has not fetched the server's commit: its id means nothing here.
    let key = fake_token(0xabc);
    common::write(&laptop, "memory/leak.md", &format!("- {key}\n"));
    assert!(git(&laptop, &["add", "-A"]).status.success());
    assert!(git(&laptop, &["commit", "-q", "--no-verify", "-m", "leak"])
        .status
        .success());
    for force in [false, true] {
        let args: &[&str] = if force {
            &["push", "-q", "--force", "origin", "main"]
        } else {
            &["push", "-q", "origin", "main"]
        };
        let push = git(&laptop, args);
        assert!(!push.status.success());
        let said = String::from_utf8_lossy(&push.stderr);
        assert!(said.contains("memory/leak.md:1:"), "{said}");
    }
    // Without the secret, git's own answer comes through: fetch first.
    assert!(git(&laptop, &["reset", "-q", "--hard", "HEAD~1"])
        .status
        .success());
    common::write(&laptop, "memory/fine.md", "- fine\n");
    assert!(git(&laptop, &["add", "-A"]).status.success());
    assert!(git(&laptop, &["commit", "-q", "-m", "fine"])
        .status
        .success());
    let push = git(&laptop, &["push", "origin", "main"]);
    let said = String::from_utf8_lossy(&push.stderr);
    assert!(!push.status.success());
    assert!(!said.contains("rev-list"), "{said}");
    assert!(!all_objects(&hub).contains(key.as_str()));
}
