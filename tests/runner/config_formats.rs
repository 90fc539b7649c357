//! Configuration files the assistants write, synced across machines: a commented
//! settings.json (JSONC) and a config.toml, each machine editing different keys.

use crate::common;

use common::{aisync, read, write, Net};
use std::path::Path;

fn synced(dir: &Path) {
    let out = aisync(dir, &["sync"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "sync in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn two_machines_edit_different_keys_of_a_commented_settings_json_and_a_config_toml() {
    let net = Net::new();
    let (laptop, server) = (net.machine("laptop"), net.machine("server"));
    let settings = "{\n  // Gemini CLI settings\n  \"theme\": \"GitHub\", // light theme\n  \"autoAccept\": false,\n  /* MCP servers */\n  \"mcpServers\": {\n    \"docs\": {\"command\": \"npx\"}\n  }\n}\n";
    let config = "# Codex\nmodel = \"o3\"  # default\n\n[projects.\"/home/u/a\"]\ntrust_level = \"trusted\"\n";
    write(&laptop, "memory/settings.json", settings);
    write(&laptop, "memory/config.toml", config);
    synced(&laptop);
    synced(&server);
    assert_eq!(read(&server, "memory/settings.json"), settings);

    // Each machine changes other keys of both files before either syncs.
    write(
        &laptop,
        "memory/settings.json",
        &settings.replace("\"autoAccept\": false", "\"autoAccept\": true"),
    );
    write(
        &server,
        "memory/settings.json",
        &settings.replace(
            "    \"docs\": {\"command\": \"npx\"}\n",
            "    \"docs\": {\"command\": \"npx\"},\n    // code search\n    \"search\": {\"command\": \"uvx\"}\n",
        ),
    );
    write(
        &laptop,
        "memory/config.toml",
        &config.replace("model = \"o3\"", "model = \"gpt-5\""),
    );
    write(
        &server,
        "memory/config.toml",
        &format!("{config}\n[projects.\"/home/u/x\"]\ntrust_level = \"trusted\"\n"),
    );
    synced(&laptop);
    synced(&server);
    synced(&laptop);

    let want_settings = "{\n  // Gemini CLI settings\n  \"theme\": \"GitHub\", // light theme\n  \"autoAccept\": true,\n  /* MCP servers */\n  \"mcpServers\": {\n    \"docs\": {\"command\": \"npx\"},\n    // code search\n    \"search\": {\"command\": \"uvx\"}\n  }\n}\n";
    let want_config = "# Codex\nmodel = \"gpt-5\"  # default\n\n[projects.\"/home/u/a\"]\ntrust_level = \"trusted\"\n\n[projects.\"/home/u/x\"]\ntrust_level = \"trusted\"\n";
    for dir in [&laptop, &server] {
        assert_eq!(read(dir, "memory/settings.json"), want_settings);
        assert_eq!(read(dir, "memory/config.toml"), want_config);
    }
    let attributes = read(&laptop, ".gitattributes");
    assert!(
        attributes.contains("memory/**/*.toml merge=aisync-toml"),
        "{attributes}"
    );
}
