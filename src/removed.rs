//! What an automatic commit really removes from a memory file, for the journal (DESIGN §3
//! step 3): content that is gone, not content that moved, was re-indented or was changed.
//! A value edited in place is an edit, and journaling it on every change is only noise.

use merge_drivers::Kind;
use serde_json::Value;

/// Keys by which array elements and JSONL records are the same item across versions (the
/// identity keys of the JSON driver's defaults, DESIGN §5).
const IDENTITY: [&str; 4] = ["id", "uuid", "key", "name"];

/// What `new` no longer has of `old`, one entry a line: for JSON the members and elements
/// that are gone (`/facts[]: {"id":"f2",…}`), for JSONL the records that are gone, for the
/// others the lines whose text appears nowhere in `new`.
pub fn removed(kind: Kind, old: &[u8], new: &[u8]) -> Vec<String> {
    match kind {
        Kind::Json => match (
            serde_json::from_slice::<Value>(old),
            serde_json::from_slice::<Value>(new),
        ) {
            (Ok(o), Ok(n)) => {
                let mut gone = Vec::new();
                gone_values("", &o, &n, &mut gone);
                gone
            }
            _ => gone_lines(old, new),
        },
        Kind::Jsonl => gone_records(old, new),
        _ => gone_lines(old, new),
    }
}

/// Lines of `old` whose trimmed text `new` holds nowhere (blank lines, brackets and front
/// matter fences aside): a line moved, re-indented or re-wrapped into a longer one stays.
fn gone_lines(old: &[u8], new: &[u8]) -> Vec<String> {
    let old = String::from_utf8_lossy(old);
    let new = String::from_utf8_lossy(new);
    old.lines()
        .filter(|l| {
            let t = l.trim().trim_end_matches(',');
            !t.is_empty()
                && !t.chars().all(|c| "{}[],".contains(c))
                && t != "---"
                && !new.contains(t)
        })
        .map(str::to_string)
        .collect()
}

/// The identity of an object (`id: 7`), if it carries one.
fn identity(v: &Value) -> Option<(&'static str, &Value)> {
    let o = v.as_object()?;
    IDENTITY.iter().find_map(|k| o.get(*k).map(|id| (*k, id)))
}

/// Members and elements of `old` that `new` no longer has, at JSON path `at`. A changed
/// scalar is an edit, not a removal; an element is the same item by its identity key, else
/// by equal content.
fn gone_values(at: &str, old: &Value, new: &Value, gone: &mut Vec<String>) {
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => {
            for (k, v) in o {
                let here = format!("{at}/{k}");
                match n.get(k) {
                    Some(nv) => gone_values(&here, v, nv, gone),
                    None => gone.push(format!("{here}: {v}")),
                }
            }
        }
        (Value::Array(o), Value::Array(n)) => {
            for v in o {
                let same = match identity(v) {
                    Some(id) => n.iter().find(|nv| identity(nv) == Some(id)),
                    None => n.iter().find(|nv| *nv == v),
                };
                match same {
                    Some(nv) => gone_values(&format!("{at}[]"), v, nv, gone),
                    None => gone.push(format!("{at}[]: {v}")),
                }
            }
        }
        // A scalar edited, or a value whose type changed: an edit.
        _ => {}
    }
}

/// Records of a JSONL file that `new` no longer has: by identity key where they carry one
/// (an edited record is still there), else by content (whatever its spacing).
fn gone_records(old: &[u8], new: &[u8]) -> Vec<String> {
    let parse = |l: &str| serde_json::from_str::<Value>(l.trim()).ok();
    let new_text = String::from_utf8_lossy(new);
    let kept: Vec<Value> = new_text.lines().filter_map(parse).collect();
    String::from_utf8_lossy(old)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter(|l| match parse(l) {
            Some(v) => match identity(&v) {
                Some(id) => !kept.iter().any(|k| identity(k) == Some(id)),
                None => !kept.contains(&v),
            },
            None => !new_text.contains(l.trim()),
        })
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_json_value_is_an_edit_and_a_deleted_element_is_gone() {
        let old = b"{\n  \"facts\": [\n    {\"id\": \"f1\", \"text\": \"likes tea\"},\n    \"b\"\n  ],\n  \"n\": 1\n}\n";
        let edited = b"{\n  \"facts\": [\n    {\"id\": \"f1\", \"text\": \"likes coffee\"},\n    \"b\"\n  ],\n  \"n\": 2\n}\n";
        assert!(removed(Kind::Json, old, edited).is_empty());
        let reindented =
            b"{\"facts\": [{\"id\": \"f1\", \"text\": \"likes tea\"}, \"b\"], \"n\": 1}";
        assert!(removed(Kind::Json, old, reindented).is_empty());
        let without = b"{\n  \"facts\": [\n    {\"id\": \"f1\", \"text\": \"likes tea\"}\n  ]\n}\n";
        assert_eq!(
            removed(Kind::Json, old, without),
            ["/facts[]: \"b\"", "/n: 1"]
        );
    }

    #[test]
    fn markdown_lines_count_as_gone_only_when_their_text_is_nowhere() {
        assert!(removed(Kind::Markdown, b"- a\n- b\n", b"- b\n- a\n").is_empty());
        assert!(removed(Kind::Markdown, b"- a\n- b\n", b"  - a\n  - b\n").is_empty());
        assert_eq!(removed(Kind::Markdown, b"- a\n- b\n", b"- a\n"), ["- b"]);
    }

    #[test]
    fn jsonl_records_are_gone_by_identity_or_content() {
        let old = b"{\"id\":1,\"m\":\"x\"}\n{\"m\":\"y\"}\n{\"id\":3}\n";
        let new = b"{\"id\": 1, \"m\": \"edited\"}\n{\"m\": \"y\"}\n";
        assert_eq!(removed(Kind::Jsonl, old, new), ["{\"id\":3}"]);
    }
}
