//! Mixed files (DESIGN §9): the portable part of a file that also holds machine state
//! (`~/.claude.json`'s `mcpServers`, Codex's `config.toml` without its trust tables), and
//! the way back: the live file with only that part rewritten, every other byte kept.

use super::jsonedit::{self, Member};
use crate::assistants::Projection;

/// Why a file cannot be projected or applied: it does not parse as its format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable(pub String);

/// The part of `live` that syncs (the whole file without a projection).
pub fn project(projection: Option<Projection>, live: &[u8]) -> Result<Vec<u8>, Unreadable> {
    match projection {
        None => Ok(live.to_vec()),
        Some(Projection::JsonMembers(keys)) => json_project(keys, live),
        Some(Projection::TomlWithout(tables)) => toml_project(tables, live),
    }
}

/// `live` with its portable part replaced by `portable` (a projection), every other byte
/// as it was; without a projection, `portable` itself.
pub fn splice(
    projection: Option<Projection>,
    live: &[u8],
    portable: &[u8],
) -> Result<Vec<u8>, Unreadable> {
    match projection {
        None => Ok(portable.to_vec()),
        Some(Projection::JsonMembers(keys)) => json_splice(keys, live, portable),
        Some(Projection::TomlWithout(tables)) => toml_splice(tables, live, portable),
    }
}

fn json_object(text: &[u8]) -> Result<Vec<Member>, Unreadable> {
    let parsed: serde_json::Value =
        serde_json::from_slice(text).map_err(|e| Unreadable(format!("not JSON ({e})")))?;
    if !parsed.is_object() {
        return Err(Unreadable("not a JSON object".into()));
    }
    Ok(jsonedit::members(text, jsonedit::document(text)))
}

fn json_project(keys: &[&str], live: &[u8]) -> Result<Vec<u8>, Unreadable> {
    let members = json_object(live)?;
    let mut out = String::from("{");
    let mut first = true;
    for key in keys {
        if let Some(m) = members.iter().find(|m| m.key == *key) {
            out.push_str(if first { "\n  " } else { ",\n  " });
            first = false;
            out.push_str(&serde_json::Value::from(*key).to_string());
            out.push_str(": ");
            out.push_str(&String::from_utf8_lossy(&live[m.value.clone()]));
        }
    }
    out.push_str(if first { "}\n" } else { "\n}\n" });
    Ok(out.into_bytes())
}

fn json_splice(keys: &[&str], live: &[u8], portable: &[u8]) -> Result<Vec<u8>, Unreadable> {
    let theirs = json_object(portable)?;
    let mut text = live.to_vec();
    for key in keys {
        let live_members = json_object(&text)?;
        let new = theirs.iter().find(|m| m.key == *key);
        let old = live_members.iter().position(|m| m.key == *key);
        text = match (old, new) {
            (Some(i), Some(new)) => jsonedit::splice(
                &text,
                live_members[i].value.clone(),
                &portable[new.value.clone()],
            ),
            (Some(i), None) => {
                let all: Vec<_> = live_members.iter().map(|m| m.start..m.value.end).collect();
                jsonedit::remove_item(&text, &all, i)
            }
            (None, Some(new)) => {
                let value = String::from_utf8_lossy(&portable[new.value.clone()]).into_owned();
                jsonedit::add_member(&text, jsonedit::document(&text), key, &value)
            }
            (None, None) => text,
        };
    }
    serde_json::from_slice::<serde::de::IgnoredAny>(&text)
        .map_err(|e| Unreadable(format!("the spliced file is not JSON ({e})")))?;
    Ok(text)
}

fn toml_doc(text: &[u8]) -> Result<toml_edit::DocumentMut, Unreadable> {
    let text = std::str::from_utf8(text).map_err(|_| Unreadable("not UTF-8".into()))?;
    text.parse::<toml_edit::DocumentMut>().map_err(|e| {
        Unreadable(format!(
            "not TOML ({})",
            e.to_string().lines().next().unwrap_or("")
        ))
    })
}

/// Removes the table at the dotted `path` (`hooks.state`); the tables above it stay.
fn toml_remove(doc: &mut toml_edit::DocumentMut, path: &str) -> Option<toml_edit::Item> {
    let mut segments: Vec<&str> = path.split('.').collect();
    let last = segments.pop()?;
    let mut table: &mut dyn toml_edit::TableLike = doc.as_table_mut();
    for seg in segments {
        table = table.get_mut(seg)?.as_table_like_mut()?;
    }
    table.remove(last)
}

/// `key = item` as a document of its own: a table's sub-tables are written by the document,
/// not by the item, so two items compare by this.
fn rendered(key: &str, item: &toml_edit::Item) -> String {
    let mut doc = toml_edit::DocumentMut::new();
    doc.insert(key, item.clone());
    doc.to_string()
}

fn toml_project(tables: &[&str], live: &[u8]) -> Result<Vec<u8>, Unreadable> {
    let mut doc = toml_doc(live)?;
    for path in tables {
        toml_remove(&mut doc, path);
    }
    Ok(doc.to_string().into_bytes())
}

/// The live document with every portable top-level item made the repository's: items the
/// same in both keep their live bytes; the local tables stay where they are.
fn toml_splice(tables: &[&str], live: &[u8], portable: &[u8]) -> Result<Vec<u8>, Unreadable> {
    let mut doc = toml_doc(live)?;
    let theirs = toml_doc(portable)?;
    let local_top: Vec<&str> = tables
        .iter()
        .map(|t| t.split('.').next().unwrap_or(t))
        .collect();
    let live_keys: Vec<String> = doc.as_table().iter().map(|(k, _)| k.to_string()).collect();
    for key in &live_keys {
        if tables.contains(&key.as_str()) {
            continue;
        }
        match theirs.get(key) {
            None if !local_top.contains(&key.as_str()) => {
                doc.remove(key);
            }
            None => {
                // A table partly local (`hooks` around `hooks.state`): only its local part stays.
                let mut kept = toml_edit::DocumentMut::new();
                for path in tables.iter().filter(|t| t.starts_with(&format!("{key}."))) {
                    if let Some(item) = toml_remove(&mut doc, path) {
                        let rest = &path[key.len() + 1..];
                        kept.insert(rest, item);
                    }
                }
                let mut table = toml_edit::Table::new();
                table.set_implicit(true);
                for (k, v) in kept.as_table().iter() {
                    table.insert(k, v.clone());
                }
                doc.insert(key, toml_edit::Item::Table(table));
            }
            Some(item) => {
                let mut wanted = item.clone();
                // The local parts of a partly local table come from the live file.
                for path in tables.iter().filter(|t| t.starts_with(&format!("{key}."))) {
                    let mut probe = toml_edit::DocumentMut::new();
                    probe.insert(key, doc.get(key).cloned().unwrap_or(toml_edit::Item::None));
                    if let Some(local) = toml_remove(&mut probe, path) {
                        if let Some(t) = wanted.as_table_like_mut() {
                            t.insert(&path[key.len() + 1..], local);
                        }
                    }
                }
                let same = doc
                    .get(key)
                    .is_some_and(|now| rendered(key, now) == rendered(key, &wanted));
                if !same {
                    doc.insert(key, wanted);
                }
            }
        }
    }
    for (key, item) in theirs.as_table().iter() {
        if !doc.contains_key(key) {
            doc.insert(key, item.clone());
        }
    }
    let out = doc.to_string();
    toml_doc(out.as_bytes())?;
    Ok(out.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLAUDE_JSON: &str = r#"{
  "numStartups": 42,
  "projects": {
    "/home/u/code/shop": {"allowedTools": [], "hasTrustDialogAccepted": true}
  },
  "mcpServers": {
    "memory": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-memory"]}
  },
  "oauthAccount": {"emailAddress": "u@example.com"},
  "userID": "abc"
}
"#;

    const MCP: Projection = Projection::JsonMembers(&["mcpServers"]);

    #[test]
    fn only_mcp_servers_leave_claude_json() {
        let p = String::from_utf8(project(Some(MCP), CLAUDE_JSON.as_bytes()).unwrap()).unwrap();
        assert!(p.contains("server-memory"));
        assert!(!p.contains("projects") && !p.contains("oauthAccount") && !p.contains("abc"));
        let v: serde_json::Value = serde_json::from_str(&p).unwrap();
        assert_eq!(v.as_object().unwrap().len(), 1);
    }

    #[test]
    fn applying_mcp_servers_keeps_every_other_byte() {
        let portable = br#"{
  "mcpServers": {
    "memory": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-memory"]},
    "aisync": {"command": "git-aisync", "args": ["mcp"]}
  }
}
"#;
        let out = String::from_utf8(splice(Some(MCP), CLAUDE_JSON.as_bytes(), portable).unwrap())
            .unwrap();
        let (before, after) = CLAUDE_JSON.split_once("  \"mcpServers\"").unwrap();
        assert!(out.starts_with(before));
        assert!(out.ends_with(after.split_once("\n  },\n").unwrap().1));
        assert!(out.contains("git-aisync"));
        // Removed and added back.
        let none = splice(Some(MCP), CLAUDE_JSON.as_bytes(), b"{}").unwrap();
        let none_text = String::from_utf8(none.clone()).unwrap();
        assert!(!none_text.contains("mcpServers"));
        assert!(none_text.contains("\"oauthAccount\""));
        let again = splice(Some(MCP), &none, portable).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&again).unwrap();
        assert_eq!(v["mcpServers"]["aisync"]["command"], "git-aisync");
        assert_eq!(v["numStartups"], 42);
        let empty = splice(Some(MCP), b"{}", portable).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&empty).unwrap();
        assert_eq!(v["mcpServers"]["memory"]["command"], "npx");
    }

    #[test]
    fn a_broken_live_file_is_not_projected() {
        assert!(project(Some(MCP), b"{\"mcpServers\": {").is_err());
        assert!(project(Some(MCP), b"[1]").is_err());
    }

    const CODEX: Projection = Projection::TomlWithout(&["projects", "hooks.state"]);
    const CONFIG_TOML: &str = r#"# my codex
model = "gpt-5"   # the default

[projects."/home/u/code/shop"]
trust_level = "trusted"

[mcp_servers.memory]
command = "npx"
args = ["-y", "@modelcontextprotocol/server-memory"]

[hooks.state."/home/u/.codex/hooks.json:stop:0:0"]
trusted_hash = "abc"
"#;

    #[test]
    fn codex_config_leaves_without_trust() {
        let p = String::from_utf8(project(Some(CODEX), CONFIG_TOML.as_bytes()).unwrap()).unwrap();
        assert!(p.contains("# my codex") && p.contains("model = \"gpt-5\"   # the default"));
        assert!(p.contains("[mcp_servers.memory]"));
        assert!(!p.contains("/home/u"), "{p}");
        assert!(!p.contains("trusted_hash"));
    }

    #[test]
    fn codex_config_applied_keeps_trust_and_unchanged_bytes() {
        let portable = project(Some(CODEX), CONFIG_TOML.as_bytes()).unwrap();
        let same = splice(Some(CODEX), CONFIG_TOML.as_bytes(), &portable).unwrap();
        assert_eq!(String::from_utf8(same).unwrap(), CONFIG_TOML);
        let changed = String::from_utf8(portable)
            .unwrap()
            .replace("gpt-5", "gpt-6");
        let out = String::from_utf8(
            splice(Some(CODEX), CONFIG_TOML.as_bytes(), changed.as_bytes()).unwrap(),
        )
        .unwrap();
        assert!(out.contains("model = \"gpt-6\""), "{out}");
        assert!(out.contains("trust_level = \"trusted\""));
        assert!(out.contains("trusted_hash = \"abc\""));
        assert!(out.contains("[mcp_servers.memory]"));
        // A server another machine added, in a table of tables.
        let added = format!(
            "{}\n[mcp_servers.other]\ncommand = \"uvx\"\n",
            String::from_utf8(project(Some(CODEX), CONFIG_TOML.as_bytes()).unwrap()).unwrap()
        );
        let out = String::from_utf8(
            splice(Some(CODEX), CONFIG_TOML.as_bytes(), added.as_bytes()).unwrap(),
        )
        .unwrap();
        assert!(
            out.contains("[mcp_servers.other]") && out.contains("uvx"),
            "{out}"
        );
        assert!(
            out.contains("[mcp_servers.memory]") && out.contains("trusted_hash"),
            "{out}"
        );
    }
}
