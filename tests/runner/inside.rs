//! Inside the assistants (DESIGN §9): the session hooks and the MCP server that `connect`
//! writes into each assistant's own settings, in the shapes each documents, what the hooks
//! do when a session starts and ends, and `disconnect` taking them out byte for byte.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::assistants::{claude_home, World};
use crate::common::*;

const START: &str = "git-aisync hook session-start";
const END: &str = "git-aisync hook session-end";

#[test]
fn connect_writes_hooks_and_the_mcp_server_in_each_assistants_shape_and_disconnect_takes_them_out()
{
    let world = World::new();
    let laptop = world.machine("laptop");
    claude_home(&laptop, "Bash(ls)", "a");
    laptop.put(".codex/AGENTS.md", "# rules\n");
    laptop.put(
        ".codex/config.toml",
        "model = \"gpt-5\" # mine\n\n[projects.\"/home/x\"]\ntrust_level = \"trusted\"\n",
    );
    let gemini_settings = "{\n  // the theme I like\n  \"theme\": \"GitHub\",\n  \"mcpServers\": {\n    \"memory\": {\"command\": \"npx\"}, // the memory server\n  },\n}\n";
    laptop.put(".gemini/settings.json", gemini_settings);
    laptop.put(".cursor/mcp.json", "{\n  \"mcpServers\": {}\n}\n");
    let before: Vec<(&str, String)> = [
        ".claude/settings.json",
        ".claude.json",
        ".codex/config.toml",
        ".gemini/settings.json",
        ".cursor/mcp.json",
    ]
    .into_iter()
    .map(|f| (f, laptop.read(f)))
    .collect();

    let said = laptop.ok(&["connect", "claude-code", "codex", "gemini", "cursor"]);
    assert!(
        said.contains("added the session hooks and the MCP server"),
        "{said}"
    );

    // Claude Code: settings.json `hooks`, and user-scope `mcpServers` in ~/.claude.json.
    let claude = laptop.json(".claude/settings.json");
    let start = &claude["hooks"]["SessionStart"][0];
    assert_eq!(start["matcher"], "startup|resume");
    assert_eq!(
        start["hooks"][0],
        json!({"type": "command", "command": START, "timeout": 10})
    );
    for event in ["Stop", "SessionEnd"] {
        assert_eq!(
            claude["hooks"][event][0]["hooks"][0]["command"], END,
            "{event}"
        );
    }
    assert_eq!(
        laptop.json(".claude.json")["mcpServers"]["aisync"],
        json!({"command": "git-aisync", "args": ["mcp"]})
    );
    // Codex: hooks.json with the same nesting, [mcp_servers.aisync] in config.toml.
    let codex = laptop.json(".codex/hooks.json");
    assert_eq!(
        codex["hooks"]["SessionStart"][0]["hooks"][0]["command"],
        START
    );
    assert_eq!(codex["hooks"]["Stop"][0]["hooks"][0]["command"], END);
    let toml = laptop.read(".codex/config.toml");
    assert!(toml.starts_with("model = \"gpt-5\" # mine\n"), "{toml}");
    assert!(
        toml.contains("[mcp_servers.aisync]") && toml.contains("command = \"git-aisync\""),
        "{toml}"
    );
    assert!(toml.contains("trust_level = \"trusted\""));
    // Gemini: JSONC kept (comments), timeouts in milliseconds, mcpServers beside memory.
    let gemini = laptop.read(".gemini/settings.json");
    assert!(
        gemini.contains("// the theme I like") && gemini.contains("// the memory server"),
        "{gemini}"
    );
    let stripped: String = gemini
        .lines()
        .map(|l| l.split(" //").next().unwrap_or(l))
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
        .replace(",\n}", "\n}")
        .replace(",\n  }", "\n  }");
    let g: Value = serde_json::from_str(&stripped).unwrap_or_else(|e| panic!("{e}: {stripped}"));
    assert_eq!(g["hooks"]["SessionStart"][0]["hooks"][0]["timeout"], 10000);
    assert_eq!(g["hooks"]["SessionEnd"][0]["hooks"][0]["command"], END);
    assert_eq!(g["mcpServers"]["aisync"]["command"], "git-aisync");
    assert_eq!(g["mcpServers"]["memory"]["command"], "npx");
    // Cursor: hooks.json version 1, flat entries; mcp.json.
    assert_eq!(
        laptop.json(".cursor/hooks.json"),
        json!({"version": 1, "hooks": {"sessionStart": [{"command": START}], "stop": [{"command": END}]}})
    );
    assert_eq!(
        laptop.json(".cursor/mcp.json")["mcpServers"]["aisync"]["args"],
        json!(["mcp"])
    );
    // The entries hold no absolute path: the same on every machine.
    let hub = world.hub_objects();
    assert!(
        hub.contains(START),
        "the hooks did not travel with the settings"
    );

    // A second connect adds nothing twice.
    let again = laptop.json(".claude/settings.json");
    laptop.ok(&["connect", "claude-code"]);
    assert_eq!(laptop.json(".claude/settings.json"), again);

    for name in ["claude-code", "codex", "gemini", "cursor"] {
        laptop.ok(&["disconnect", name]);
    }
    for (file, text) in &before {
        assert_eq!(
            &laptop.read(file),
            text,
            "{file} is not as it was before connect"
        );
    }
    assert!(!laptop.path(".codex/hooks.json").exists());
    assert!(!laptop.path(".cursor/hooks.json").exists());
}

#[test]
fn session_start_brings_the_other_machines_work_and_says_so_in_one_line() {
    let (world, laptop, desk) = World::connected(&[]);
    // Nothing new: nothing on stdout.
    let project = world.dir.path().join("desk/home/code/shop");
    std::fs::create_dir_all(&project).unwrap();
    let out = desk.run(&project, &["hook", "session-start"]);
    assert_exit(&out, 0);
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    laptop.allow("Bash(make deploy)");
    laptop.put(
        ".claude/CLAUDE.md",
        &format!(
            "{}- laptop: deploy on Fridays? never\n",
            laptop.read(".claude/CLAUDE.md")
        ),
    );
    laptop.ok(&["sync"]);
    let out = desk.run(&project, &["hook", "session-start"]);
    assert_exit(&out, 0);
    let line = String::from_utf8_lossy(&out.stdout);
    assert_eq!(line.lines().count(), 1, "{line}");
    assert!(
        line.starts_with("git-aisync: ") && line.contains("from laptop"),
        "{line}"
    );
    assert!(
        line.contains("settings.json") && line.contains("CLAUDE.md"),
        "{line}"
    );
    assert!(desk
        .read(".claude/settings.json")
        .contains("Bash(make deploy)"));
    assert!(desk.read(".claude/CLAUDE.md").contains("never"));
    // It committed and pushed nothing of the desk's own.
    let desk_log = git_ok(&desk.repo, &["log", "--format=%s", "-1"]);
    assert!(!desk_log.contains("aisync(desk)"), "{desk_log}");
}

#[test]
fn session_start_with_the_hub_gone_returns_zero_quickly_and_quietly() {
    let world = World::new();
    let laptop = world.machine("laptop");
    claude_home(&laptop, "Bash(ls)", "a");
    laptop.ok(&["connect", "claude-code"]);
    // The hub moves away (a dead server, no network).
    std::fs::rename(&world.hub, world.dir.path().join("gone.git")).unwrap();
    let project = world.dir.path().join("laptop/home/code/shop");
    std::fs::create_dir_all(&project).unwrap();
    let start = Instant::now();
    let out = laptop.run(&project, &["hook", "session-start"]);
    assert_exit(&out, 0);
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "beyond the hook's timeout"
    );
    assert!(out.stdout.is_empty());
    // Outside any synced repository and with none recorded: still 0, still quiet.
    let stranger = world.dir.path().join("stranger");
    std::fs::create_dir_all(&stranger).unwrap();
    let out = aisync_cmd(&stranger)
        .env("HOME", &stranger)
        .args(["hook", "session-start"])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert!(out.stdout.is_empty());
    // In a project's own repository, with no synced one recorded: the project is left alone
    // (no fetch, no merge, no commit of its files).
    let project = world.dir.path().join("stranger/shop");
    aisync_testkit::init_repo(&project);
    let upstream = world.dir.path().join("stranger/upstream.git");
    init_bare(&upstream);
    git_ok(
        &project,
        &["remote", "add", "origin", upstream.to_str().unwrap()],
    );
    git_ok(&project, &["push", "-q", "origin", "main"]);
    // A file where the default policy would have a cycle commit it.
    std::fs::create_dir_all(project.join("memory")).unwrap();
    std::fs::write(project.join("memory/wip.md"), "work in progress\n").unwrap();
    let head = git_ok(&project, &["rev-parse", "HEAD"]);
    for hook in ["session-start", "session-end"] {
        let out = aisync_cmd(&project)
            .env("HOME", &stranger)
            .args(["hook", hook])
            .output()
            .unwrap();
        assert_exit(&out, 0);
    }
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(git_ok(&project, &["rev-parse", "HEAD"]), head);
    assert_eq!(git_ok(&project, &["status", "--porcelain"]), "?? memory/\n");
}

#[test]
fn session_end_returns_at_once_and_a_cycle_follows() {
    let world = World::new();
    let laptop = world.machine("laptop");
    claude_home(&laptop, "Bash(ls)", "a");
    laptop.ok(&["connect", "claude-code"]);
    laptop.put(
        ".claude/CLAUDE.md",
        "# Rules\n\n- written during the session\n",
    );
    let project = world.dir.path().join("laptop/home/code/shop");
    std::fs::create_dir_all(&project).unwrap();
    let start = Instant::now();
    let out = laptop.run(&project, &["hook", "session-end"]);
    let took = start.elapsed();
    assert_exit(&out, 0);
    // Well inside the ~1.5 s an assistant gives its session-end hooks.
    assert!(took < Duration::from_millis(1000), "took {took:?}");
    assert!(out.stdout.is_empty());
    watcher::wait_until::<crate::common::Bin>("the note to reach the hub", &[], || {
        git_cmd(&world.hub)
            .args(["show", "main:assistants/claude-code/CLAUDE.md"])
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("during the session"))
    });
}

#[test]
fn doctor_says_when_the_hooks_or_the_mcp_server_are_missing() {
    let world = World::new();
    let laptop = world.machine("laptop");
    claude_home(&laptop, "Bash(ls)", "a");
    laptop.ok(&["connect", "claude-code", "--no-hooks"]);
    let out = laptop.aisync(&["doctor", "--json"]);
    let findings: Value = serde_json::from_slice(&out.stdout).unwrap();
    let messages: Vec<&str> = findings
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["status"] == "warn")
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    assert!(
        messages.iter().any(
            |m| m.contains("claude-code: the session hooks are not in ~/.claude/settings.json")
        ),
        "{messages:?}"
    );
    assert!(
        !messages.iter().any(|m| m.contains("MCP server")),
        "{messages:?}"
    );
    laptop.ok(&["connect", "claude-code"]);
    let out = laptop.aisync(&["doctor", "--json"]);
    assert!(!String::from_utf8_lossy(&out.stdout).contains("session hooks are not in"));
}
