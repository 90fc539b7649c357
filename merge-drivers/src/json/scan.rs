//! A light tree of spans over JSON text: where each value, key and separator is, not what it
//! holds. Containers are opened lazily, so the merge only walks the parts that changed, and
//! unchanged parts are copied from the original bytes.
//!
//! The scanner trusts its input: [`validate`] (serde_json) checks a document once, first.

use std::borrow::Cow;
use std::ops::Range;

use foldhash::HashMap;

use crate::tree::{Container, Item, Shape};

/// Checks that `text` is one JSON document (serde_json's parser, nesting limited to 128).
pub(crate) fn validate(text: &[u8]) -> bool {
    serde_json::from_slice::<serde::de::IgnoredAny>(text).is_ok()
}

/// The span of the single value in a valid document.
pub(crate) fn document(text: &[u8]) -> (Range<usize>, Shape) {
    let start = skip_ws(text, 0);
    (start..value_end(text, start), shape(text[start]))
}

/// The span of the value in `range` of `text` (a valid document with white space around).
pub(crate) fn document_in(text: &[u8], range: Range<usize>) -> Range<usize> {
    let start = skip_ws(text, range.start);
    start..value_end(text, start)
}

pub(crate) fn shape(first: u8) -> Shape {
    match first {
        b'{' => Shape::Object,
        b'[' => Shape::Array,
        b'"' | b'\'' => Shape::String,
        _ => Shape::Scalar,
    }
}

pub(crate) fn skip_ws(text: &[u8], mut pos: usize) -> usize {
    while pos < text.len() {
        match text[pos] {
            b' ' | b'\t' | b'\n' | b'\r' => pos += 1,
            // JSONC and JSON5: comments are layout (strict JSON has no `/` outside strings).
            b'/' => match comment_end(text, pos) {
                Some(end) => pos = end,
                None => break,
            },
            _ => break,
        }
    }
    pos
}

/// The end of the comment starting at `pos` (`// …` to its line's end, `/* … */`), if one
/// starts there.
pub(crate) fn comment_end(text: &[u8], pos: usize) -> Option<usize> {
    match text.get(pos + 1) {
        Some(b'/') => Some(memchr::memchr(b'\n', &text[pos..]).map_or(text.len(), |i| pos + i)),
        Some(b'*') => Some(
            memchr::memmem::find(&text[pos + 2..], b"*/").map_or(text.len(), |i| pos + 2 + i + 2),
        ),
        _ => None,
    }
}

/// The end of the string starting at `pos` (just past its closing quote, `"` or JSON5's `'`).
fn string_end(text: &[u8], pos: usize) -> usize {
    let quote = text[pos];
    let mut i = pos + 1;
    while let Some(off) = memchr::memchr2(quote, b'\\', text.get(i..).unwrap_or_default()) {
        i += off;
        if text[i] == b'\\' {
            i += 2;
        } else {
            return i + 1;
        }
    }
    text.len()
}

/// The end of the value starting at `pos`.
pub(crate) fn value_end(text: &[u8], pos: usize) -> usize {
    match text.get(pos) {
        Some(b'"' | b'\'') => string_end(text, pos),
        Some(b'{' | b'[') => {
            let mut depth = 0usize;
            let mut i = pos;
            while i < text.len() {
                match text[i] {
                    b'"' | b'\'' => {
                        i = string_end(text, i);
                        continue;
                    }
                    b'/' => {
                        if let Some(end) = comment_end(text, i) {
                            i = end;
                            continue;
                        }
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return i + 1;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            text.len()
        }
        _ => {
            let mut i = pos;
            while i < text.len()
                && !matches!(
                    text[i],
                    b',' | b'}' | b']' | b':' | b'/' | b' ' | b'\t' | b'\n' | b'\r'
                )
            {
                i += 1;
            }
            i
        }
    }
}

/// Opens the object or array spanning `range`.
pub(crate) fn container(text: &[u8], range: Range<usize>) -> Container {
    let is_object = text[range.start] == b'{';
    let end = range.end - 1;
    let open = range.start + 1;
    let mut items = Vec::new();
    let mut pos = open;
    let mut close = open;
    loop {
        let lead = pos;
        let start = skip_ws(text, pos);
        if start >= end {
            break;
        }
        let value = if is_object {
            let colon = skip_ws(text, key_end(text, start));
            skip_ws(text, colon + 1)
        } else {
            start
        };
        let value_stop = value_end(text, value);
        items.push(Item {
            lead,
            start,
            value,
            end: value_stop,
            shape: shape(text[value]),
        });
        close = value_stop;
        let next = skip_ws(text, value_stop);
        if next < end && text[next] == b',' {
            pos = next + 1;
        } else {
            break;
        }
    }
    Container {
        open,
        items,
        close,
        end,
        flow: false,
    }
}

/// The end of an object member's key at `start`: a string, or JSON5's bare name.
fn key_end(text: &[u8], start: usize) -> usize {
    match text.get(start) {
        Some(b'"' | b'\'') => string_end(text, start),
        _ => value_end(text, start),
    }
}

/// The decoded key of an object member.
pub(crate) fn key<'t>(text: &'t [u8], item: &Item) -> Cow<'t, [u8]> {
    let quoted = &text[item.start..key_end(text, item.start)];
    if !matches!(quoted.first(), Some(b'"' | b'\'')) {
        return Cow::Borrowed(quoted);
    }
    string_value(quoted)
}

/// The content of a string value (quotes included), escapes decoded.
pub(crate) fn string_value(quoted: &[u8]) -> Cow<'_, [u8]> {
    let raw = &quoted[1.min(quoted.len())..quoted.len().saturating_sub(1).max(1)];
    if !raw.contains(&b'\\') {
        return Cow::Borrowed(raw);
    }
    if quoted[0] == b'"' {
        if let Ok(s) = serde_json::from_slice::<String>(quoted) {
            return Cow::Owned(s.into_bytes());
        }
    }
    match super::relaxed::parse(quoted) {
        Some(serde_json::Value::String(s)) => Cow::Owned(s.into_bytes()),
        _ => Cow::Borrowed(raw),
    }
}

/// The value of member `name` in the object spanning `range`, if it has one.
pub(crate) fn member<'c>(text: &[u8], object: &'c Container, name: &str) -> Option<&'c Item> {
    object
        .items
        .iter()
        .find(|item| key(text, item).as_ref() == name.as_bytes())
}

/// Whether two valid JSON values mean the same: objects as maps, arrays in order, strings
/// decoded, numbers by their text.
pub(crate) fn equivalent(a: &[u8], ra: Range<usize>, b: &[u8], rb: Range<usize>) -> bool {
    let (sa, sb) = (shape(a[ra.start]), shape(b[rb.start]));
    if sa != sb {
        return false;
    }
    match sa {
        Shape::Scalar | Shape::Text => a[ra] == b[rb],
        Shape::String => {
            a[ra.clone()] == b[rb.clone()] || string_value(&a[ra]) == string_value(&b[rb])
        }
        Shape::Array => {
            let (ca, cb) = (container(a, ra), container(b, rb));
            ca.items.len() == cb.items.len()
                && ca
                    .items
                    .iter()
                    .zip(&cb.items)
                    .all(|(x, y)| equivalent(a, x.value_range(), b, y.value_range()))
        }
        Shape::Object => {
            let (ca, cb) = (container(a, ra), container(b, rb));
            if ca.items.len() != cb.items.len() {
                return false;
            }
            let index: HashMap<Cow<[u8]>, &Item> =
                cb.items.iter().map(|i| (key(b, i), i)).collect();
            index.len() == cb.items.len()
                && ca.items.iter().all(|x| {
                    index
                        .get(&key(a, x))
                        .is_some_and(|y| equivalent(a, x.value_range(), b, y.value_range()))
                })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_of_a_pretty_object() {
        let text = b"{\n  \"a\": 1,\n  \"b\\u0063\" : [true, \"x]\"]\n}";
        let c = container(text, 0..text.len());
        assert_eq!(c.items.len(), 2);
        let b = &c.items[1];
        assert_eq!(&text[b.lead..b.start], b"\n  ");
        assert_eq!(&text[b.value..b.end], b"[true, \"x]\"]");
        assert_eq!(key(text, b).as_ref(), b"bc");
        assert_eq!(&text[c.close..c.end], b"\n");
    }

    #[test]
    fn empty_containers_have_no_items() {
        let text = b"[ \n ]";
        let c = container(text, 0..text.len());
        assert!(c.items.is_empty());
        assert_eq!(&text[c.open..c.end], b" \n ");
    }

    #[test]
    fn equivalence_ignores_layout_and_key_order() {
        let a = br#"{"a": [1, {"b": "\u0078"}], "c": null}"#;
        let b = b"{\"c\":null,\n \"a\":[1,{\"b\":\"x\"}]}";
        assert!(equivalent(a, 0..a.len(), b, 0..b.len()));
        let c = br#"{"a": [1, {"b": "y"}], "c": null}"#;
        assert!(!equivalent(a, 0..a.len(), c, 0..c.len()));
    }
}
