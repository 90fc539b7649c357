//! Edits of JSON text that change one member or element and keep every other byte: the
//! bridge's projection of mixed files, and the hook and MCP entries `connect` adds to an
//! assistant's settings. The spans come from the json driver's own scanner (JSONC and JSON5
//! included), so a commented settings file keeps its comments. The text is checked by the
//! caller ([`read`]) before it is edited.

use std::ops::Range;

pub use merge_drivers::json_spans::{document, elements, members, read, Member};

/// The span of the value at `path` (object keys from the top).
pub fn value_at(text: &[u8], path: &[&str]) -> Option<Range<usize>> {
    let mut range = document(text);
    for key in path {
        range = members(text, range)
            .into_iter()
            .find(|m| m.key == *key)?
            .value;
    }
    Some(range)
}

/// Adds the member `key: value` (compact JSON) at the end of the object at `range`.
pub fn add_member(text: &[u8], range: Range<usize>, key: &str, value: &str) -> Vec<u8> {
    let entry = format!("{}: {value}", serde_json::Value::from(key));
    let last = members(text, range.clone())
        .last()
        .map(|m| (m.start, m.value.end));
    append(text, range, last, &entry)
}

/// Adds `value` (compact JSON) at the end of the array at `range`.
pub fn add_element(text: &[u8], range: Range<usize>, value: &str) -> Vec<u8> {
    let last = elements(text, range.clone())
        .last()
        .map(|e| (e.start, e.end));
    append(text, range, last, value)
}

/// `entry` after the container's last item (`last`: its start and end), indented as it is,
/// or as the container's only item.
fn append(text: &[u8], range: Range<usize>, last: Option<(usize, usize)>, entry: &str) -> Vec<u8> {
    match last {
        Some((start, end)) => {
            let line_start = text[..start]
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |p| p + 1);
            let indent = &text[line_start..start];
            let own_line =
                line_start > range.start && indent.iter().all(|b| *b == b' ' || *b == b'\t');
            let mut insert = b",".to_vec();
            if own_line {
                insert.push(b'\n');
                insert.extend_from_slice(indent);
            } else {
                insert.push(b' ');
            }
            insert.extend_from_slice(entry.as_bytes());
            // A trailing comma after the last item (JSONC) stays where it is: ours goes
            // before it.
            splice(text, end..end, &insert)
        }
        None => {
            // `{}` or `[]` (maybe with white space or comments inside): the entry alone,
            // on its own line, indented one step deeper than the container's line.
            let line_start = text[..range.start]
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |p| p + 1);
            let indent: Vec<u8> = text[line_start..range.start]
                .iter()
                .take_while(|b| **b == b' ' || **b == b'\t')
                .copied()
                .collect();
            let mut insert = b"\n".to_vec();
            insert.extend_from_slice(&indent);
            insert.extend_from_slice(b"  ");
            insert.extend_from_slice(entry.as_bytes());
            insert.push(b'\n');
            insert.extend_from_slice(&indent);
            let close = range.end - 1;
            // Keep what is inside (a comment) before ours.
            let inner_end = text[..close]
                .iter()
                .rposition(|b| !b.is_ascii_whitespace())
                .map_or(close, |p| p + 1)
                .max(range.start + 1);
            splice(text, inner_end..close, &insert)
        }
    }
}

/// Removes the item at `item` (a member from its key, or an element) of a container whose
/// items are `all`, with the comma that joins it to a neighbour.
pub fn remove_item(text: &[u8], all: &[Range<usize>], item: usize) -> Vec<u8> {
    let range = if item + 1 < all.len() {
        all[item].start..all[item + 1].start
    } else if item > 0 {
        all[item - 1].end..all[item].end
    } else {
        all[item].clone()
    };
    splice(text, range, b"")
}

pub fn splice(text: &[u8], range: Range<usize>, with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + with.len());
    out.extend_from_slice(&text[..range.start]);
    out.extend_from_slice(with);
    out.extend_from_slice(&text[range.end..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &[u8] = b"{\n  // the theme\n  \"theme\": \"dark\", /* inline */\n  \"hooks\": {\n    \"Stop\": [\n      {\"hooks\": []}\n    ]\n  },\n  \"empty\": {},\n}\n";

    #[test]
    fn spans_are_found_past_comments_and_trailing_commas() {
        let hooks = value_at(TEXT, &["hooks", "Stop"]).unwrap();
        assert_eq!(elements(TEXT, hooks).len(), 1);
        assert!(value_at(TEXT, &["nope"]).is_none());
        assert_eq!(
            read(TEXT).unwrap()["theme"],
            serde_json::Value::from("dark")
        );
    }

    #[test]
    fn additions_keep_every_other_byte() {
        let stop = value_at(TEXT, &["hooks", "Stop"]).unwrap();
        let out = add_element(TEXT, stop, "{\"hooks\": [1]}");
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(text.contains("// the theme") && text.contains("/* inline */"));
        assert!(
            text.contains("{\"hooks\": []},\n      {\"hooks\": [1]}"),
            "{text}"
        );
        assert_eq!(read(&out).unwrap()["hooks"]["Stop"][1]["hooks"][0], 1);
        let empty = value_at(&out, &["empty"]).unwrap();
        let out = add_member(&out, empty, "a", "1");
        assert_eq!(read(&out).unwrap()["empty"]["a"], 1);
        let top = document(&out);
        let out = add_member(&out, top, "last", "true");
        let v = read(&out).unwrap();
        assert_eq!(v["last"], true);
        assert_eq!(v["theme"], "dark");
        let all: Vec<_> = members(&out, document(&out))
            .iter()
            .map(|m| m.start..m.value.end)
            .collect();
        let out = remove_item(&out, &all, all.len() - 1);
        assert!(read(&out).unwrap().get("last").is_none());
    }
}
