//! Mixed files (DESIGN §9): the portable part of a file that also holds machine state
//! (`~/.claude.json`'s `mcpServers`, Codex's `config.toml` without its trust tables), and
//! the way back: the live file with only that part rewritten, every other byte kept.

use std::ops::Range;

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
    Ok(members(text))
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
        let old = live_members.iter().find(|m| m.key == *key);
        text = match (old, new) {
            (Some(old), Some(new)) => {
                replace(&text, old.value.clone(), &portable[new.value.clone()])
            }
            (Some(old), None) => remove_member(&text, &live_members, old),
            (None, Some(new)) => {
                insert_member(&text, &live_members, key, &portable[new.value.clone()])
            }
            (None, None) => text,
        };
    }
    serde_json::from_slice::<serde::de::IgnoredAny>(&text)
        .map_err(|e| Unreadable(format!("the spliced file is not JSON ({e})")))?;
    Ok(text)
}

fn replace(text: &[u8], range: Range<usize>, with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + with.len());
    out.extend_from_slice(&text[..range.start]);
    out.extend_from_slice(with);
    out.extend_from_slice(&text[range.end..]);
    out
}

/// Drops a member with the comma that joins it to a neighbour.
fn remove_member(text: &[u8], members: &[Member], old: &Member) -> Vec<u8> {
    let i = members
        .iter()
        .position(|m| m.start == old.start)
        .unwrap_or(0);
    let range = if i + 1 < members.len() {
        // From this member's start to the next one's.
        old.start..members[i + 1].start
    } else if i > 0 {
        // The last: from the end of the one before (its comma goes too).
        members[i - 1].value.end..old.value.end
    } else {
        old.start..old.value.end
    };
    replace(text, range, b"")
}

/// Adds a member after the last one, indented as the others are.
fn insert_member(text: &[u8], members: &[Member], key: &str, value: &[u8]) -> Vec<u8> {
    let key = serde_json::Value::from(key).to_string();
    match members.last() {
        Some(last) => {
            let line_start = text[..last.start]
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |p| p + 1);
            let indent = &text[line_start..last.start];
            let joint = if indent.iter().all(|b| *b == b' ' || *b == b'\t') && line_start > 0 {
                [b",\n".as_slice(), indent].concat()
            } else {
                b", ".to_vec()
            };
            let mut insert = joint;
            insert.extend_from_slice(key.as_bytes());
            insert.extend_from_slice(b": ");
            insert.extend_from_slice(value);
            replace(text, last.value.end..last.value.end, &insert)
        }
        None => {
            let open = text.iter().position(|&b| b == b'{').unwrap_or(0);
            let close = text.iter().rposition(|&b| b == b'}').unwrap_or(text.len());
            let mut insert = b"{\n  ".to_vec();
            insert.extend_from_slice(key.as_bytes());
            insert.extend_from_slice(b": ");
            insert.extend_from_slice(value);
            insert.extend_from_slice(b"\n}");
            replace(text, open..close + 1, &insert)
        }
    }
}

/// A top-level member of a JSON object: where it starts (its key's quote), its key, and
/// the span of its value.
struct Member {
    start: usize,
    key: String,
    value: Range<usize>,
}

/// The members of the top-level object of `text` (valid JSON, checked by the caller).
fn members(text: &[u8]) -> Vec<Member> {
    let mut out = Vec::new();
    let mut i = skip_ws(text, 0);
    if text.get(i) != Some(&b'{') {
        return out;
    }
    i += 1;
    loop {
        i = skip_ws(text, i);
        if text.get(i) != Some(&b'"') {
            return out;
        }
        let start = i;
        let key_end = string_end(text, i);
        let key: String = serde_json::from_slice(&text[start..key_end]).unwrap_or_default();
        i = skip_ws(text, key_end);
        i = skip_ws(text, i + 1); // the colon
        let value_end = value_end(text, i);
        out.push(Member {
            start,
            key,
            value: i..value_end,
        });
        i = skip_ws(text, value_end);
        if text.get(i) == Some(&b',') {
            i += 1;
        } else {
            return out;
        }
    }
}

fn skip_ws(text: &[u8], mut i: usize) -> usize {
    while i < text.len() && matches!(text[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// Just past the closing quote of the string that starts at `i`.
fn string_end(text: &[u8], mut i: usize) -> usize {
    i += 1;
    while i < text.len() {
        match text[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    text.len()
}

/// Just past the value that starts at `i`.
fn value_end(text: &[u8], i: usize) -> usize {
    match text.get(i) {
        Some(b'"') => string_end(text, i),
        Some(b'{') | Some(b'[') => {
            let mut depth = 0usize;
            let mut j = i;
            while j < text.len() {
                match text[j] {
                    b'"' => {
                        j = string_end(text, j);
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return j + 1;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            text.len()
        }
        _ => {
            let mut j = i;
            while j < text.len()
                && !matches!(text[j], b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t')
            {
                j += 1;
            }
            j
        }
    }
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
                if doc.get(key).map(|i| i.to_string()) != Some(wanted.to_string()) {
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
    }
}
