//! git-aisync inside the assistants (DESIGN §9): the session hooks (`git-aisync hook
//! session-start` when a session starts, `git-aisync hook session-end` when a turn or a
//! session ends) and the MCP server (`git-aisync mcp`), written into each connected
//! assistant's own settings by `connect` and taken out again by `disconnect`.
//!
//! The entries carry no absolute path (the commands find the synced repository through
//! `aisync.repo`), so they are the same on every machine and sync like any setting. Edits
//! are structural and keep the rest of the file: JSON through the json driver's faithful
//! merge (comments of a JSONC file stay), TOML through its document model. What connect
//! changed is recorded, so disconnect puts back the very bytes where nothing else changed.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::assistants::Adapter;
use crate::bridge::{self, jsonedit, live};
use crate::git::Repo;

pub const SESSION_START: &str = "git-aisync hook session-start";
pub const SESSION_END: &str = "git-aisync hook session-end";
pub const MCP_COMMAND: &str = "git-aisync";
pub const MCP_NAME: &str = "aisync";

/// Where an assistant takes hooks and MCP servers, and their shapes.
#[derive(Clone, Copy)]
enum Shape {
    /// Claude Code's `settings.json` `hooks` (and Gemini's: timeouts in milliseconds).
    ClaudeHooks {
        start_matcher: Option<&'static str>,
        end_events: &'static [&'static str],
        millis: bool,
    },
    /// Codex's `hooks.json`: the same nesting under `hooks`.
    CodexHooks,
    /// Cursor's `hooks.json`: version 1, flat entries.
    CursorHooks,
    /// `mcpServers.aisync` in a JSON file.
    JsonMcp,
    /// `[mcp_servers.aisync]` in a TOML file.
    TomlMcp,
}

/// One file of an assistant's that gets an entry: which place (by index) and where in it.
struct Target {
    assistant: &'static str,
    /// The place it is in, by index in the adapter's places, and its path inside.
    place: usize,
    rel: &'static str,
    shape: Shape,
}

const TARGETS: &[Target] = &[
    Target {
        assistant: "claude-code",
        place: 0,
        rel: "settings.json",
        shape: Shape::ClaudeHooks {
            start_matcher: Some("startup|resume"),
            end_events: &["Stop", "SessionEnd"],
            millis: false,
        },
    },
    Target {
        assistant: "claude-code",
        place: 1,
        rel: "",
        shape: Shape::JsonMcp,
    },
    Target {
        assistant: "codex",
        place: 0,
        rel: "hooks.json",
        shape: Shape::CodexHooks,
    },
    Target {
        assistant: "codex",
        place: 1,
        rel: "",
        shape: Shape::TomlMcp,
    },
    Target {
        assistant: "gemini",
        place: 0,
        rel: "settings.json",
        shape: Shape::ClaudeHooks {
            start_matcher: None,
            end_events: &["SessionEnd"],
            millis: true,
        },
    },
    Target {
        assistant: "gemini",
        place: 0,
        rel: "settings.json",
        shape: Shape::JsonMcp,
    },
    Target {
        assistant: "cursor",
        place: 0,
        rel: "hooks.json",
        shape: Shape::CursorHooks,
    },
    Target {
        assistant: "cursor",
        place: 0,
        rel: "mcp.json",
        shape: Shape::JsonMcp,
    },
];

/// What `connect` may add.
#[derive(Clone, Copy, Debug, Default)]
pub struct Wanted {
    pub hooks: bool,
    pub mcp: bool,
}

impl Wanted {
    /// Both: what the doctor checks and disconnect takes out.
    pub const BOTH: Wanted = Wanted {
        hooks: true,
        mcp: true,
    };
}

impl Shape {
    fn is_hooks(self) -> bool {
        !matches!(self, Shape::JsonMcp | Shape::TomlMcp)
    }
}

/// A file of an assistant's that `connect` edits, located on this machine.
pub struct Located {
    pub path: PathBuf,
    root: PathBuf,
    shape: Shape,
}

fn targets(repo: &Repo, adapter: &Adapter, wanted: Wanted) -> Vec<Located> {
    TARGETS
        .iter()
        .filter(|t| t.assistant == adapter.name)
        .filter(|t| {
            if t.shape.is_hooks() {
                wanted.hooks
            } else {
                wanted.mcp
            }
        })
        .filter_map(|t| {
            let place = adapter.places.get(t.place)?;
            let at = bridge::locate(repo, adapter, place)?;
            let (root, path) = if place.file {
                (at.parent()?.to_path_buf(), at)
            } else {
                (at.clone(), at.join(t.rel))
            };
            Some(Located {
                path,
                root,
                shape: t.shape,
            })
        })
        .collect()
}

/// The hook and MCP entries this assistant takes, for the doctor: those missing.
pub fn missing(repo: &Repo, adapter: &Adapter) -> Vec<String> {
    let mut out = Vec::new();
    for t in targets(repo, adapter, Wanted::BOTH) {
        let Ok(Some(bytes)) = live::read(&t.root, &t.path, &[]) else {
            if t.root.exists() {
                out.push(format!("{} {}", what(t.shape), bridge::shown(&t.path)));
            }
            continue;
        };
        if !present(t.shape, &bytes) {
            out.push(format!("{} {}", what(t.shape), bridge::shown(&t.path)));
        }
    }
    out
}

fn what(shape: Shape) -> &'static str {
    if shape.is_hooks() {
        "the session hooks are not in"
    } else {
        "the MCP server is not registered in"
    }
}

/// Whether the file holds our entries already.
fn present(shape: Shape, bytes: &[u8]) -> bool {
    match shape {
        Shape::TomlMcp => std::str::from_utf8(bytes)
            .ok()
            .and_then(|t| t.parse::<toml_edit::DocumentMut>().ok())
            .is_some_and(|d| d.get("mcp_servers").and_then(|m| m.get(MCP_NAME)).is_some()),
        _ => read_json(bytes).is_some_and(|v| with_ours(shape, &v) == v),
    }
}

/// Where connect's changes are recorded, per file: the bytes before and the bytes written.
fn record_dir(repo: &Repo) -> PathBuf {
    repo.state_dir().join("bridge").join("integrations")
}

fn record_name(path: &Path) -> String {
    crate::journal::content_id(&path.to_string_lossy())
}

/// Adds the wanted entries to the connected assistant's files (those that are missing);
/// returns the files changed.
pub fn add(repo: &Repo, adapter: &Adapter, wanted: Wanted) -> Vec<Result<PathBuf, String>> {
    let mut out = Vec::new();
    for t in targets(repo, adapter, wanted) {
        if !t.root.exists() {
            continue;
        }
        let before = match live::read(&t.root, &t.path, adapter.busy) {
            Ok(b) => b,
            Err(b) => {
                out.push(Err(format!("{}: {}", bridge::shown(&t.path), b.reason())));
                continue;
            }
        };
        let current = before.clone().unwrap_or_default();
        if before.is_some() && present(t.shape, &current) {
            continue;
        }
        // Codex asks each machine to trust a hook by its hash: an existing hooks.json is
        // never rewritten.
        if matches!(t.shape, Shape::CodexHooks) && before.is_some() {
            continue;
        }
        let new = match edit(t.shape, &current, true) {
            Ok(n) => n,
            Err(e) => {
                out.push(Err(format!("{}: {e}", bridge::shown(&t.path))));
                continue;
            }
        };
        let dir = record_dir(repo);
        let name = record_name(&t.path);
        let _ = fs::create_dir_all(&dir);
        // The first connect's "before" is the one disconnect restores.
        if !dir.join(format!("{name}.before")).exists() {
            let _ = match &before {
                Some(b) => fs::write(dir.join(format!("{name}.before")), b),
                None => fs::write(dir.join(format!("{name}.absent")), b""),
            };
        }
        match live::write(&t.root, &t.path, &new) {
            Ok(()) => {
                let _ = fs::write(dir.join(format!("{name}.written")), &new);
                out.push(Ok(t.path));
            }
            Err(b) => out.push(Err(format!("{}: {}", bridge::shown(&t.path), b.reason()))),
        }
    }
    out
}

/// Takes our entries out of the assistant's files: where the file is still what connect
/// wrote, the bytes from before connect come back; else only our entries go.
pub fn remove(repo: &Repo, adapter: &Adapter) -> Vec<Result<PathBuf, String>> {
    let mut out = Vec::new();
    let dir = record_dir(repo);
    for t in targets(repo, adapter, Wanted::BOTH) {
        let name = record_name(&t.path);
        let Ok(Some(now)) = live::read(&t.root, &t.path, adapter.busy) else {
            continue;
        };
        let written = fs::read(dir.join(format!("{name}.written"))).ok();
        let result = if written.as_deref() == Some(now.as_slice()) {
            match fs::read(dir.join(format!("{name}.before"))) {
                Ok(before) => live::write(&t.root, &t.path, &before).map_err(|b| b.reason()),
                Err(_) if dir.join(format!("{name}.absent")).exists() => {
                    live::remove(&t.root, &t.path).map_err(|b| b.reason())
                }
                Err(_) => take_out(&t, &now),
            }
        } else if present_any(t.shape, &now) {
            take_out(&t, &now)
        } else {
            continue;
        };
        for ext in ["before", "written", "absent"] {
            let _ = fs::remove_file(dir.join(format!("{name}.{ext}")));
        }
        out.push(
            result
                .map(|()| t.path.clone())
                .map_err(|e| format!("{}: {e}", bridge::shown(&t.path))),
        );
    }
    out
}

fn take_out(t: &Located, now: &[u8]) -> Result<(), String> {
    let new = edit(t.shape, now, false)?;
    if new != now {
        live::write(&t.root, &t.path, &new).map_err(|b| b.reason())?;
    }
    Ok(())
}

/// Whether any entry of ours is in the file.
fn present_any(shape: Shape, bytes: &[u8]) -> bool {
    match shape {
        Shape::TomlMcp => present(shape, bytes),
        _ => read_json(bytes).is_some_and(|v| without_ours(shape, &v) != v),
    }
}

/// The file with our entries added (`add`) or taken out.
fn edit(shape: Shape, bytes: &[u8], add: bool) -> Result<Vec<u8>, String> {
    if let Shape::TomlMcp = shape {
        let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8".to_string())?;
        let mut doc: toml_edit::DocumentMut = text
            .parse()
            .map_err(|_| "does not parse as TOML".to_string())?;
        if add {
            let mut server = toml_edit::Table::new();
            server.insert("command", toml_edit::value(MCP_COMMAND));
            let mut args = toml_edit::Array::new();
            args.push("mcp");
            server.insert("args", toml_edit::value(args));
            if doc.get("mcp_servers").is_none() {
                let mut t = toml_edit::Table::new();
                t.set_implicit(true);
                doc.insert("mcp_servers", toml_edit::Item::Table(t));
            }
            if let Some(t) = doc["mcp_servers"].as_table_like_mut() {
                t.insert(MCP_NAME, toml_edit::Item::Table(server));
            }
        } else if let Some(t) = doc
            .get_mut("mcp_servers")
            .and_then(|m| m.as_table_like_mut())
        {
            t.remove(MCP_NAME);
        }
        return Ok(doc.to_string().into_bytes());
    }
    let empty = bytes.iter().all(u8::is_ascii_whitespace);
    let mut text = if empty {
        b"{}\n".to_vec()
    } else {
        bytes.to_vec()
    };
    let value = jsonedit::read(&text).ok_or("does not parse as JSON")?;
    if !value.is_object() {
        return Err("is not a JSON object".into());
    }
    let wanted = if add {
        with_ours(shape, &value)
    } else {
        without_ours(shape, &value)
    };
    if wanted == value {
        return Ok(bytes.to_vec());
    }
    text = if add {
        add_json(shape, text)
    } else {
        remove_json(shape, text)
    };
    if jsonedit::read(&text).as_ref() == Some(&wanted) {
        return Ok(text);
    }
    if serde_json::from_slice::<Value>(bytes).is_ok() {
        // Strict JSON laid out in a way the edit did not follow: the value, plainly.
        let mut text = serde_json::to_string_pretty(&wanted).map_err(|e| e.to_string())?;
        text.push('\n');
        return Ok(text.into_bytes());
    }
    Err("is laid out in a way this version cannot edit without losing its comments: add the entry by hand".into())
}

/// `text` with the objects along `path` made where missing.
fn ensure_object(mut text: Vec<u8>, path: &[&str]) -> Vec<u8> {
    for i in 0..path.len() {
        if jsonedit::value_at(&text, &path[..=i]).is_none() {
            let Some(parent) = jsonedit::value_at(&text, &path[..i]) else {
                return text;
            };
            text = jsonedit::add_member(&text, parent, path[i], "{}");
        }
    }
    text
}

/// `group` added to the array `hooks.<event>` unless a group there runs `command`.
fn add_group(text: Vec<u8>, event: &str, group: &Value, command: &str) -> Vec<u8> {
    let text = ensure_object(text, &["hooks"]);
    let compact = group.to_string();
    match jsonedit::value_at(&text, &["hooks", event]) {
        None => {
            let hooks = jsonedit::value_at(&text, &["hooks"]).unwrap_or(0..0);
            jsonedit::add_member(&text, hooks, event, &format!("[{compact}]"))
        }
        Some(list) => {
            let has = jsonedit::read(&text).is_some_and(|v| {
                v["hooks"][event].as_array().is_some_and(|groups| {
                    groups.iter().any(|g| {
                        g["command"] == command
                            || g["hooks"]
                                .as_array()
                                .is_some_and(|hs| hs.iter().any(|e| e["command"] == command))
                    })
                })
            });
            if has {
                text
            } else {
                jsonedit::add_element(&text, list, &compact)
            }
        }
    }
}

/// The text edits that [`with_ours`] describes.
fn add_json(shape: Shape, mut text: Vec<u8>) -> Vec<u8> {
    match shape {
        Shape::JsonMcp => {
            text = ensure_object(text, &["mcpServers"]);
            if jsonedit::value_at(&text, &["mcpServers", MCP_NAME]).is_none() {
                if let Some(servers) = jsonedit::value_at(&text, &["mcpServers"]) {
                    let entry = json!({"command": MCP_COMMAND, "args": ["mcp"]}).to_string();
                    text = jsonedit::add_member(&text, servers, MCP_NAME, &entry);
                }
            }
            text
        }
        Shape::ClaudeHooks { .. } | Shape::CodexHooks => {
            for (event, group, command) in groups(shape) {
                text = add_group(text, event, &group, command);
            }
            text
        }
        Shape::CursorHooks => {
            if jsonedit::value_at(&text, &["version"]).is_none() {
                text = jsonedit::add_member(&text, jsonedit::document(&text), "version", "1");
            }
            for (event, command) in [("sessionStart", SESSION_START), ("stop", SESSION_END)] {
                text = add_group(text, event, &json!({"command": command}), command);
            }
            text
        }
        Shape::TomlMcp => text,
    }
}

/// Removes the member `key` of the object at `path`, if it is there.
fn drop_member(text: Vec<u8>, path: &[&str], key: &str) -> Vec<u8> {
    let Some(object) = jsonedit::value_at(&text, path) else {
        return text;
    };
    let members = jsonedit::members(&text, object);
    let all: Vec<_> = members.iter().map(|m| m.start..m.value.end).collect();
    match members.iter().position(|m| m.key == key) {
        Some(i) => jsonedit::remove_item(&text, &all, i),
        None => text,
    }
}

/// One of our entries taken out of the list `hooks.<event>` (the last found); `None` when
/// there is none.
fn drop_one_hook(text: &[u8], event: &str) -> Option<Vec<u8>> {
    let ours = |v: &Value| v["command"] == SESSION_START || v["command"] == SESSION_END;
    let list = jsonedit::value_at(text, &["hooks", event])?;
    let groups = jsonedit::elements(text, list);
    for (gi, g) in groups.iter().enumerate().rev() {
        let value = jsonedit::read(&text[g.clone()])?;
        if ours(&value) {
            return Some(jsonedit::remove_item(text, &groups, gi));
        }
        let Some(inner) = jsonedit::value_at(&text[g.clone()], &["hooks"]) else {
            continue;
        };
        let inner = g.start + inner.start..g.start + inner.end;
        let entries = jsonedit::elements(text, inner);
        let mine: Vec<usize> = entries
            .iter()
            .enumerate()
            .filter(|(_, e)| jsonedit::read(&text[(*e).clone()]).is_some_and(|v| ours(&v)))
            .map(|(i, _)| i)
            .collect();
        match mine.last() {
            None => continue,
            Some(_) if mine.len() == entries.len() => {
                return Some(jsonedit::remove_item(text, &groups, gi))
            }
            Some(&last) => return Some(jsonedit::remove_item(text, &entries, last)),
        }
    }
    None
}

/// The text edits that [`without_ours`] describes.
fn remove_json(shape: Shape, mut text: Vec<u8>) -> Vec<u8> {
    match shape {
        Shape::JsonMcp => {
            let ours = jsonedit::value_at(&text, &["mcpServers", MCP_NAME])
                .and_then(|r| jsonedit::read(&text[r]))
                .is_some_and(|v| v["command"] == MCP_COMMAND);
            if ours {
                text = drop_member(text, &["mcpServers"], MCP_NAME);
                // Emptied by that: it goes too (as `without_ours` says).
                let emptied = jsonedit::value_at(&text, &["mcpServers"])
                    .is_some_and(|m| jsonedit::members(&text, m).is_empty());
                if emptied {
                    text = drop_member(text, &[], "mcpServers");
                }
            }
            text
        }
        Shape::ClaudeHooks { .. } | Shape::CodexHooks | Shape::CursorHooks => {
            let Some(hooks) = jsonedit::value_at(&text, &["hooks"]) else {
                return text;
            };
            let events: Vec<String> = jsonedit::members(&text, hooks)
                .into_iter()
                .map(|m| m.key)
                .collect();
            for event in &events {
                while let Some(t) = drop_one_hook(&text, event) {
                    text = t;
                }
                // An event left with no group goes too.
                let emptied = jsonedit::value_at(&text, &["hooks", event])
                    .is_some_and(|l| jsonedit::elements(&text, l).is_empty());
                if emptied {
                    text = drop_member(text, &["hooks"], event);
                }
            }
            let emptied = jsonedit::value_at(&text, &["hooks"])
                .is_some_and(|h| jsonedit::members(&text, h).is_empty());
            if emptied && !matches!(shape, Shape::CursorHooks) {
                text = drop_member(text, &[], "hooks");
            }
            text
        }
        Shape::TomlMcp => text,
    }
}

/// The hook groups of a Claude-shaped `hooks` object: (event, group, command).
fn groups(shape: Shape) -> Vec<(&'static str, Value, &'static str)> {
    match shape {
        Shape::ClaudeHooks {
            start_matcher,
            end_events,
            millis,
        } => {
            let scale = if millis { 1000 } else { 1 };
            let start = match start_matcher {
                Some(m) => {
                    json!({"matcher": m, "hooks": [command_entry(SESSION_START, 10 * scale)]})
                }
                None => json!({"hooks": [command_entry(SESSION_START, 10 * scale)]}),
            };
            let mut out = vec![("SessionStart", start, SESSION_START)];
            for event in end_events {
                out.push((
                    event,
                    json!({"hooks": [command_entry(SESSION_END, 5 * scale)]}),
                    SESSION_END,
                ));
            }
            out
        }
        Shape::CodexHooks => vec![
            (
                "SessionStart",
                json!({"hooks": [command_entry(SESSION_START, 10)]}),
                SESSION_START,
            ),
            (
                "Stop",
                json!({"hooks": [command_entry(SESSION_END, 5)]}),
                SESSION_END,
            ),
        ],
        _ => Vec::new(),
    }
}

fn read_json(bytes: &[u8]) -> Option<Value> {
    jsonedit::read(bytes)
}

fn command_entry(command: &str, timeout: u64) -> Value {
    json!({"type": "command", "command": command, "timeout": timeout})
}

/// `value` with our entries in it.
fn with_ours(shape: Shape, value: &Value) -> Value {
    let mut v = value.clone();
    if !v.is_object() {
        return v;
    }
    match shape {
        Shape::JsonMcp => {
            let servers = v
                .as_object_mut()
                .map(|o| o.entry("mcpServers").or_insert_with(|| json!({})));
            if let Some(Value::Object(s)) = servers {
                s.entry(MCP_NAME)
                    .or_insert_with(|| json!({"command": MCP_COMMAND, "args": ["mcp"]}));
            }
        }
        Shape::ClaudeHooks { .. } | Shape::CodexHooks => {
            for (event, group, command) in groups(shape) {
                add_hook(&mut v, event, group, command);
            }
        }
        Shape::CursorHooks => {
            if let Some(o) = v.as_object_mut() {
                o.entry("version").or_insert(json!(1));
                let hooks = o.entry("hooks").or_insert_with(|| json!({}));
                for (event, command) in [("sessionStart", SESSION_START), ("stop", SESSION_END)] {
                    if let Some(h) = hooks.as_object_mut() {
                        let list = h.entry(event).or_insert_with(|| json!([]));
                        if let Some(list) = list.as_array_mut() {
                            if !list.iter().any(|e| e["command"] == command) {
                                list.push(json!({"command": command}));
                            }
                        }
                    }
                }
            }
        }
        Shape::TomlMcp => {}
    }
    v
}

/// Adds `group` under `hooks.<event>` unless a group there already runs `command`.
fn add_hook(v: &mut Value, event: &str, group: Value, command: &str) {
    let Some(o) = v.as_object_mut() else { return };
    let hooks = o.entry("hooks").or_insert_with(|| json!({}));
    let Some(h) = hooks.as_object_mut() else {
        return;
    };
    let list = h.entry(event).or_insert_with(|| json!([]));
    let Some(list) = list.as_array_mut() else {
        return;
    };
    let has = list.iter().any(|g| {
        g["hooks"]
            .as_array()
            .is_some_and(|hs| hs.iter().any(|e| e["command"] == command))
    });
    if !has {
        list.push(group);
    }
}

/// `value` without our entries (and without the containers only they filled).
fn without_ours(shape: Shape, value: &Value) -> Value {
    let mut v = value.clone();
    let ours = |c: &Value| c == SESSION_START || c == SESSION_END;
    match shape {
        Shape::JsonMcp => {
            if let Some(Value::Object(s)) = v.get_mut("mcpServers") {
                if s.get(MCP_NAME).is_some_and(|e| e["command"] == MCP_COMMAND) {
                    s.shift_remove(MCP_NAME);
                }
            }
            if v.get("mcpServers")
                .is_some_and(|s| s.as_object().is_some_and(|o| o.is_empty()))
                && !value
                    .get("mcpServers")
                    .is_some_and(|s| s.as_object().is_some_and(|o| o.is_empty()))
            {
                if let Some(o) = v.as_object_mut() {
                    o.shift_remove("mcpServers");
                }
            }
        }
        Shape::CursorHooks => {
            if let Some(Value::Object(h)) = v.get_mut("hooks") {
                for list in h.values_mut() {
                    if let Some(list) = list.as_array_mut() {
                        list.retain(|e| !ours(&e["command"]));
                    }
                }
                h.retain(|_, l| !l.as_array().is_some_and(|a| a.is_empty()));
            }
        }
        Shape::ClaudeHooks { .. } | Shape::CodexHooks => {
            if let Some(Value::Object(h)) = v.get_mut("hooks") {
                for list in h.values_mut() {
                    if let Some(groups) = list.as_array_mut() {
                        for g in groups.iter_mut() {
                            if let Some(hs) = g.get_mut("hooks").and_then(Value::as_array_mut) {
                                hs.retain(|e| !ours(&e["command"]));
                            }
                        }
                        groups.retain(|g| !g["hooks"].as_array().is_some_and(|a| a.is_empty()));
                    }
                }
                h.retain(|_, l| !l.as_array().is_some_and(|a| a.is_empty()));
            }
            let emptied = v
                .get("hooks")
                .is_some_and(|h| h.as_object().is_some_and(|o| o.is_empty()));
            if emptied
                && value
                    .get("hooks")
                    .is_some_and(|h| h.as_object().is_some_and(|o| !o.is_empty()))
            {
                if let Some(o) = v.as_object_mut() {
                    o.shift_remove("hooks");
                }
            }
        }
        Shape::TomlMcp => {}
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLAUDE: Shape = Shape::ClaudeHooks {
        start_matcher: Some("startup|resume"),
        end_events: &["Stop", "SessionEnd"],
        millis: false,
    };

    #[test]
    fn claude_hooks_are_added_once_and_taken_out_exactly() {
        let before = b"{\n  \"model\": \"opus\",\n  \"hooks\": {\n    \"Stop\": [{\"hooks\": [{\"type\": \"command\", \"command\": \"say done\"}]}]\n  }\n}\n";
        let added = edit(CLAUDE, before, true).unwrap();
        let v: Value = serde_json::from_slice(&added).unwrap();
        assert_eq!(v["hooks"]["SessionStart"][0]["matcher"], "startup|resume");
        assert_eq!(
            v["hooks"]["SessionStart"][0]["hooks"][0]["command"],
            SESSION_START
        );
        assert_eq!(v["hooks"]["Stop"].as_array().unwrap().len(), 2);
        assert_eq!(
            v["hooks"]["SessionEnd"][0]["hooks"][0]["command"],
            SESSION_END
        );
        assert!(present(CLAUDE, &added));
        assert_eq!(edit(CLAUDE, &added, true).unwrap(), added, "added twice");
        let removed = edit(CLAUDE, &added, false).unwrap();
        let r: Value = serde_json::from_slice(&removed).unwrap();
        assert_eq!(r, serde_json::from_slice::<Value>(before).unwrap());
    }

    #[test]
    fn a_jsonc_settings_file_keeps_its_comments_and_comes_back_byte_for_byte() {
        let gemini = Shape::ClaudeHooks {
            start_matcher: None,
            end_events: &["SessionEnd"],
            millis: true,
        };
        let before = b"{\n  // my theme\n  \"theme\": \"dark\", /* dark */\n}\n";
        let hooks = edit(gemini, before, true).unwrap();
        let both = edit(Shape::JsonMcp, &hooks, true).unwrap();
        let text = String::from_utf8(both.clone()).unwrap();
        assert!(
            text.starts_with("{\n  // my theme\n  \"theme\": \"dark\""),
            "{text}"
        );
        let v = read_json(&both).unwrap();
        assert_eq!(v["hooks"]["SessionStart"][0]["hooks"][0]["timeout"], 10000);
        assert_eq!(v["mcpServers"]["aisync"]["args"][0], "mcp");
        let back = edit(Shape::JsonMcp, &both, false).unwrap();
        let back = edit(gemini, &back, false).unwrap();
        assert_eq!(
            String::from_utf8(back).unwrap(),
            String::from_utf8(before.to_vec()).unwrap()
        );
    }

    #[test]
    fn codex_gets_its_mcp_server_in_toml_and_keeps_the_rest() {
        let before = b"model = \"gpt-5\" # mine\n\n[projects.\"/x\"]\ntrust_level = \"trusted\"\n";
        let added = String::from_utf8(edit(Shape::TomlMcp, before, true).unwrap()).unwrap();
        assert!(added.starts_with("model = \"gpt-5\" # mine\n"));
        assert!(added.contains("[mcp_servers.aisync]"), "{added}");
        assert!(present(Shape::TomlMcp, added.as_bytes()));
        let removed = edit(Shape::TomlMcp, added.as_bytes(), false).unwrap();
        assert!(!String::from_utf8(removed).unwrap().contains("aisync"));
    }

    #[test]
    fn jsonc_is_read_with_comments_and_trailing_commas() {
        let v =
            read_json(b"{\n // c\n \"a\": \"x // not a comment\", /* b */\n \"b\": [1, 2,],\n}")
                .unwrap();
        assert_eq!(v, json!({"a": "x // not a comment", "b": [1, 2]}));
    }
}
