//! `git aisync mcp`, driven as an assistant drives it: the server started in a project's
//! folder (outside the synced repository, found through the machine's `aisync.repo`),
//! newline-delimited JSON-RPC on its stdin and stdout, two machines on a bare hub, real git.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

use serde_json::{json, Value};

use crate::common::*;

/// How long one answer may take (a sync over loopback takes well under a second; the
/// shared test machine may be slow).
const ANSWER_WITHIN: Duration = Duration::from_secs(120);

/// A running `git-aisync mcp` and its client side.
struct Client {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    /// Every line the server wrote on stdout.
    seen: Vec<String>,
    next_id: u64,
}

impl Client {
    /// Starts the server in `cwd` as a machine whose home (and global git config) is `home`.
    fn start(home: &Path, cwd: &Path) -> Client {
        let mut child = aisync_cmd(cwd)
            .env("HOME", home)
            .env("GIT_CONFIG_GLOBAL", home.join(".gitconfig"))
            .arg("mcp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start git-aisync mcp");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // stderr is for people: drained so the server never blocks on it.
        let stderr = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                eprintln!("[mcp stderr] {line}");
            }
        });
        Client {
            child,
            stdin,
            lines,
            seen: Vec::new(),
            next_id: 1,
        }
    }

    fn send_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin
            .write_all(line.as_bytes())
            .expect("write to the server");
        stdin.write_all(b"\n").expect("write to the server");
        stdin.flush().expect("flush");
    }

    /// The next line on stdout, within the time limit.
    fn next_line(&mut self) -> String {
        let line = self
            .lines
            .recv_timeout(ANSWER_WITHIN)
            .expect("the server answers in time (and is still running)");
        self.seen.push(line.clone());
        line
    }

    /// Sends a request and waits for the message that answers it.
    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let message = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
        self.send_line(&message.to_string());
        self.answer_to(json!(id))
    }

    fn answer_to(&mut self, id: Value) -> Value {
        loop {
            let line = self.next_line();
            let message: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("stdout carries only JSON-RPC, got {line:?}: {e}"));
            if message["id"] == id && message.get("method").is_none() {
                return message;
            }
        }
    }

    fn notify(&mut self, method: &str) {
        self.send_line(&json!({ "jsonrpc": "2.0", "method": method }).to_string());
    }

    /// initialize, then notifications/initialized, as clients open a session.
    fn handshake(&mut self) -> Value {
        let answer = self.request(
            "initialize",
            json!({
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": { "name": "aisync-test", "version": "0" }
            }),
        );
        self.notify("notifications/initialized");
        answer
    }

    /// Calls a tool; its result (`content`, `isError`, `structuredContent`).
    fn call(&mut self, tool: &str, arguments: Value) -> Value {
        let answer = self.request(
            "tools/call",
            json!({ "name": tool, "arguments": arguments }),
        );
        assert!(
            answer.get("result").is_some(),
            "{tool} answered a protocol error: {answer}"
        );
        answer["result"].clone()
    }

    /// Closes stdin and waits for the server to end; every line it wrote was JSON-RPC.
    fn finish(mut self) {
        drop(self.stdin.take());
        while let Ok(line) = self.lines.recv_timeout(ANSWER_WITHIN) {
            self.seen.push(line);
        }
        let status = self.child.wait().expect("wait for the server");
        assert!(status.success(), "the server ends cleanly at EOF: {status}");
        for line in &self.seen {
            let message: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("stdout carries only JSON-RPC, got {line:?}: {e}"));
            assert_eq!(message["jsonrpc"], "2.0", "{line}");
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        if self.stdin.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The text of a tool result.
fn text(result: &Value) -> String {
    result["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn is_error(result: &Value) -> bool {
    result["isError"] == json!(true)
}

/// A machine's home whose global git config records `repo` as its synced repository, and a
/// project folder (a git repository of its own, not synced) the assistant runs in.
fn home_and_project(root: &Path, name: &str, repo: Option<&Path>) -> (PathBuf, PathBuf) {
    let home = root.join(format!("{name}-home"));
    std::fs::create_dir_all(&home).unwrap();
    let config = match repo {
        Some(repo) => format!("[aisync]\n\trepo = {}\n", repo.display()),
        None => String::new(),
    };
    std::fs::write(home.join(".gitconfig"), config).unwrap();
    let project = home.join("code/shop");
    aisync_testkit::init_repo(&project);
    (home, project)
}

fn head(dir: &Path) -> String {
    git_ok(dir, &["rev-parse", "HEAD"]).trim().to_string()
}

fn sync(dir: &Path) {
    assert_exit(&aisync(dir, &["sync"]), 0);
}

#[test]
fn an_assistant_sees_status_changes_and_conflicts_syncs_and_restores_through_mcp() {
    let net = Net::new();
    let desk = net.machine("desk");
    let laptop = net.machine("laptop");
    // A shared memory file, and a diary the desk wrote twice.
    write(&desk, "memory/prefs.json", "{\n  \"editor\": \"vim\"\n}\n");
    write(&desk, "memory/diary.md", "# Diary\n\nfirst entry\n");
    sync(&desk);
    write(&desk, "memory/diary.md", "# Diary\n\nsecond entry\n");
    sync(&desk);
    sync(&laptop);
    let before = head(&desk);
    // Both edit the same key; the laptop also adds a note. The laptop syncs first.
    write(
        &desk,
        "memory/prefs.json",
        "{\n  \"editor\": \"emacs\"\n}\n",
    );
    sync(&desk);
    let before_laptop = head(&desk);
    write(
        &laptop,
        "memory/prefs.json",
        "{\n  \"editor\": \"helix\"\n}\n",
    );
    write(
        &laptop,
        "memory/laptop-note.md",
        "# From the laptop\n\nuse ripgrep\n",
    );
    sync(&laptop);

    let (home, project) = home_and_project(&net.root, "desk", Some(&desk));
    let mut client = Client::start(&home, &project);
    let init = client.handshake();
    assert_eq!(init["result"]["serverInfo"]["name"], "git-aisync");
    assert!(init["result"]["capabilities"]["tools"].is_object());

    // Every tool is listed with an object schema and a description.
    let list = client.request("tools/list", json!({}));
    let tools = list["result"]["tools"].as_array().expect("tools").clone();
    let names: Vec<&str> = tools.iter().filter_map(|t| t["name"].as_str()).collect();
    assert_eq!(
        names,
        [
            "sync_status",
            "sync_now",
            "recent_changes",
            "conflicts",
            "restore"
        ]
    );
    for tool in &tools {
        assert_eq!(tool["inputSchema"]["type"], "object", "{tool}");
        assert!(tool["description"].as_str().unwrap_or_default().len() > 40);
    }
    let restore_tool = tools.iter().find(|t| t["name"] == "restore").unwrap();
    assert_eq!(
        restore_tool["inputSchema"]["required"],
        json!(["reference"])
    );

    // Status before: this machine, its branch, the hub.
    let status = client.call("sync_status", json!({}));
    assert!(!is_error(&status), "{status}");
    let data = &status["structuredContent"];
    assert_eq!(data["machine"], "desk");
    assert_eq!(data["branch"], "main");
    assert_eq!(data["remotes"][0]["name"], "origin");
    assert!(text(&status).contains("machine desk on branch main"));

    // sync_now pulls the laptop's change and merges the conflicting key.
    let synced = client.call("sync_now", json!({}));
    assert!(!is_error(&synced), "{synced}");
    assert_eq!(synced["structuredContent"]["outcome"], "synced", "{synced}");
    assert!(
        text(&synced).starts_with("sync synced"),
        "{}",
        text(&synced)
    );
    assert_eq!(
        read(&desk, "memory/laptop-note.md"),
        "# From the laptop\n\nuse ripgrep\n"
    );
    assert_eq!(head(&desk), head(&net.hub));

    // recent_changes: the laptop's commit and its files, none of the desk's own.
    let recent = client.call("recent_changes", json!({}));
    assert!(!is_error(&recent), "{recent}");
    let commits = recent["structuredContent"]["commits"]
        .as_array()
        .expect("commits")
        .clone();
    assert!(!commits.is_empty(), "{recent}");
    assert!(commits.iter().all(|c| c["machine"] == "laptop"), "{recent}");
    let files: Vec<&str> = commits
        .iter()
        .flat_map(|c| c["files"].as_array().into_iter().flatten())
        .filter_map(|f| f["path"].as_str())
        .collect();
    assert!(files.contains(&"memory/laptop-note.md"), "{files:?}");
    assert!(files.contains(&"memory/prefs.json"), "{files:?}");
    assert!(
        text(&recent).contains("laptop (1 commit)"),
        "{}",
        text(&recent)
    );
    // After a commit: the same; from a time to come: nothing.
    let after = client.call("recent_changes", json!({ "since": before_laptop }));
    assert_eq!(after["structuredContent"]["commits"], json!(commits));
    let after = client.call("recent_changes", json!({ "since": before }));
    assert_eq!(after["structuredContent"]["commits"], json!(commits));
    let future = client.call("recent_changes", json!({ "since": "2999-01-01T00:00:00Z" }));
    assert_eq!(future["structuredContent"]["commits"], json!([]));
    let only_desk = client.call("recent_changes", json!({ "machine": "desk" }));
    assert_eq!(only_desk["structuredContent"]["commits"], json!([]));
    let bad = client.call("recent_changes", json!({ "since": "last tuesday-ish" }));
    assert!(is_error(&bad) && text(&bad).contains("RFC 3339"), "{bad}");

    // conflicts: the overridden value, with both versions.
    let conflicts = client.call("conflicts", json!({ "path": "memory/prefs.json" }));
    assert!(!is_error(&conflicts), "{conflicts}");
    let records = conflicts["structuredContent"]["records"]
        .as_array()
        .expect("records")
        .clone();
    let record = records
        .iter()
        .find(|r| r["path"] == "memory/prefs.json")
        .unwrap_or_else(|| panic!("a record for prefs.json: {conflicts}"));
    let sides = [record["ours"].to_string(), record["theirs"].to_string()];
    assert!(sides.iter().any(|s| s.contains("emacs")), "{record}");
    assert!(sides.iter().any(|s| s.contains("helix")), "{record}");
    let elsewhere = client.call("conflicts", json!({ "path": "rules" }));
    assert_eq!(elsewhere["structuredContent"]["total"], 0);
    let limited = client.call("conflicts", json!({ "limit": 1 }));
    assert_eq!(
        limited["structuredContent"]["records"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    // restore without a reference does nothing; with one, it brings the diary back.
    let head_before = head(&desk);
    for arguments in [
        json!({}),
        json!({ "reference": "  " }),
        json!({ "paths": ["memory/diary.md"] }),
    ] {
        let refused = client.call("restore", arguments);
        assert!(is_error(&refused), "{refused}");
        assert!(text(&refused).contains("nothing was restored"), "{refused}");
    }
    let refused = client.call("restore", json!({ "reference": "--hard" }));
    assert!(is_error(&refused), "{refused}");
    let refused = client.call("restore", json!({ "reference": "no-such-thing" }));
    assert!(is_error(&refused), "{refused}");
    assert_eq!(head(&desk), head_before);
    assert_eq!(read(&desk, "memory/diary.md"), "# Diary\n\nsecond entry\n");
    let restored = client.call(
        "restore",
        json!({ "reference": "previous", "paths": ["memory/diary.md"] }),
    );
    assert!(!is_error(&restored), "{restored}");
    assert_eq!(restored["structuredContent"]["restored"], true);
    assert_eq!(
        restored["structuredContent"]["paths"],
        json!(["memory/diary.md"])
    );
    assert_eq!(read(&desk, "memory/diary.md"), "# Diary\n\nfirst entry\n");
    assert!(git_ok(&desk, &["log", "-1", "--format=%s"]).starts_with("aisync: restore"));
    // A snapshot by number: the one taken before the merge sync_now made.
    let snapshot = client.call(
        "restore",
        json!({ "reference": "2", "paths": ["memory/laptop-note.md"] }),
    );
    assert!(!is_error(&snapshot), "{snapshot}");
    assert!(!desk.join("memory/laptop-note.md").exists(), "{snapshot}");

    client.finish();
}

#[test]
fn malformed_lines_and_unknown_calls_get_errors_and_the_server_keeps_serving() {
    let net = Net::new();
    let desk = net.machine("desk");
    let (home, project) = home_and_project(&net.root, "desk", Some(&desk));
    let mut client = Client::start(&home, &project);
    client.handshake();
    client.send_line("this is not json");
    client.send_line("{\"jsonrpc\": \"2.0\", \"id\": 70, \"method\": \"tools/call\", \"params\":");
    client.send_line("[1, 2");
    client.send_line("");
    // Well-formed JSON that is no request, a tool that does not exist, arguments of the
    // wrong kind, an unknown method.
    client.send_line(r#"{"jsonrpc": "2.0", "id": 71, "method": "tools/call", "params": {"name": "conflicts", "arguments": "oops"}}"#);
    let odd = client.answer_to(json!(71));
    assert!(
        odd.get("error").is_some() || odd["result"]["isError"] == true,
        "{odd}"
    );
    let unknown = client.request("tools/call", json!({ "name": "rm_rf", "arguments": {} }));
    assert!(unknown.get("error").is_some(), "{unknown}");
    let wrong = client.call("conflicts", json!({ "limit": "ten" }));
    assert!(
        is_error(&wrong) && text(&wrong).contains("whole number"),
        "{wrong}"
    );
    let wrong = client.call("sync_now", json!({ "timeout_seconds": -3 }));
    assert!(is_error(&wrong), "{wrong}");
    let wrong = client.call("restore", json!({ "reference": 7, "paths": "x" }));
    assert!(is_error(&wrong), "{wrong}");
    let none = client.request("no/such/method", json!({}));
    assert!(none.get("error").is_some(), "{none}");
    // Still serving.
    let list = client.request("tools/list", json!({}));
    assert_eq!(list["result"]["tools"].as_array().map(Vec::len), Some(5));
    let status = client.call("sync_status", json!({}));
    assert_eq!(status["structuredContent"]["machine"], "desk", "{status}");
    client.finish();
}

#[test]
fn with_no_synced_repository_every_tool_says_how_to_make_one() {
    let net = Net::new();
    let (home, project) = home_and_project(&net.root, "bare", None);
    // The project the assistant runs in is a git repository, but no synced one: the tools
    // must not take it for one (sync_now would commit the project's files).
    write(&project, "src/main.rs", "fn main() {}\n");
    let project_head = head(&project);
    let mut client = Client::start(&home, &project);
    client.handshake();
    let list = client.request("tools/list", json!({}));
    assert_eq!(list["result"]["tools"].as_array().map(Vec::len), Some(5));
    for (tool, arguments) in [
        ("sync_status", json!({})),
        ("sync_now", json!({})),
        ("recent_changes", json!({})),
        ("conflicts", json!({})),
        ("restore", json!({ "reference": "1" })),
    ] {
        let answer = client.call(tool, arguments);
        assert!(is_error(&answer), "{tool}: {answer}");
        assert!(
            text(&answer).contains("git aisync init"),
            "{tool}: {answer}"
        );
    }
    client.finish();
    assert_eq!(head(&project), project_head);
    assert!(git_ok(&project, &["status", "--porcelain"]).contains("src/"));
}

/// `sync_now` answers within its bound: a cycle that waits (here for another holder of the
/// repository lock) goes on in the background and finishes once it can.
#[test]
fn sync_now_answers_within_its_bound_and_the_cycle_goes_on() {
    let net = Net::new();
    let desk = net.machine("desk");
    let (home, project) = home_and_project(&net.root, "desk", Some(&desk));
    // Another process holds the repository lock (as a running cycle would) until its stdin
    // closes.
    let lock = desk.join(".git/aisync/lock");
    std::fs::create_dir_all(lock.parent().unwrap()).unwrap();
    let mut holder = std::process::Command::new("flock")
        .arg(&lock)
        .arg("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
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
        std::thread::sleep(Duration::from_millis(10));
    }
    write(&desk, "memory/late.md", "- written while a cycle ran\n");
    let mut client = Client::start(&home, &project);
    client.handshake();
    let started = std::time::Instant::now();
    let answer = client.call("sync_now", json!({ "timeout_seconds": 1 }));
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "answered in time"
    );
    assert!(!is_error(&answer), "{answer}");
    assert_eq!(
        answer["structuredContent"]["outcome"], "running",
        "{answer}"
    );
    assert!(text(&answer).contains("in the background"), "{answer}");
    // The other holder lets go: the cycle the call started runs, and the server, closed,
    // lets it finish before it ends.
    drop(holder.stdin.take());
    let _ = holder.wait();
    client.finish();
    let hub_files = git_ok(&net.hub, &["ls-tree", "-r", "--name-only", "main"]);
    assert!(hub_files.contains("memory/late.md"), "{hub_files}");
}
