//! A lexer of TOML text that trusts its input (toml_edit checked it first): where each
//! statement, key, value and comment is, not what they hold.

use std::borrow::Cow;
use std::ops::Range;

use crate::tree::{Container, Item, Shape};

/// The first byte at or after `pos` that is not a space or a tab.
pub(crate) fn skip_blanks(text: &[u8], mut pos: usize) -> usize {
    while pos < text.len() && matches!(text[pos], b' ' | b'\t') {
        pos += 1;
    }
    pos
}

/// Where the line holding `pos` ends: its `\n`, or the `\r` of its `\r\n`, or the text's end.
pub(crate) fn line_end(text: &[u8], pos: usize) -> usize {
    let pos = pos.min(text.len());
    match memchr::memchr(b'\n', &text[pos..]) {
        Some(at) => {
            let nl = pos + at;
            if nl > pos && text[nl - 1] == b'\r' {
                nl - 1
            } else {
                nl
            }
        }
        None => text.len(),
    }
}

/// Past white space, line breaks and comments from `pos`: where the next token starts.
pub(crate) fn skip_layout(text: &[u8], mut pos: usize) -> usize {
    while pos < text.len() {
        match text[pos] {
            b' ' | b'\t' | b'\r' | b'\n' => pos += 1,
            b'#' => pos = line_end(text, pos),
            _ => break,
        }
    }
    pos
}

/// The end of the value's line after `end` (its trailing comment included), or `end` itself
/// where something other than a comment follows on the line.
pub(crate) fn line_rest(text: &[u8], end: usize) -> usize {
    let after = skip_blanks(text, end);
    match text.get(after) {
        None | Some(b'\r' | b'\n' | b'#') => line_end(text, after),
        _ => end,
    }
}

/// The end of the string starting at `pos` (just past its closing quotes).
pub(crate) fn string_end(text: &[u8], pos: usize) -> usize {
    let quote = text[pos];
    let triple = text.get(pos..pos + 3) == Some(&[quote; 3][..]);
    let mut i = pos + if triple { 3 } else { 1 };
    while i < text.len() {
        let b = text[i];
        if b == b'\\' && quote == b'"' {
            i += 2;
            continue;
        }
        if b == quote {
            if !triple {
                return i + 1;
            }
            if text.get(i..i + 3) == Some(&[quote; 3][..]) {
                // Up to two quotes more belong to the content (`""""` ends with one).
                let mut end = i + 3;
                while end < text.len() && end < i + 5 && text[end] == quote {
                    end += 1;
                }
                return end;
            }
        }
        i += 1;
    }
    text.len()
}

/// The end of the value starting at `pos`.
pub(crate) fn value_end(text: &[u8], pos: usize) -> usize {
    // (The statements of a text not yet checked are read too: never past its end.)
    let pos = pos.min(text.len());
    match text.get(pos) {
        Some(b'"' | b'\'') => string_end(text, pos),
        Some(b'[' | b'{') => {
            let mut depth = 0usize;
            let mut i = pos;
            while i < text.len() {
                match text[i] {
                    b'"' | b'\'' => {
                        i = string_end(text, i);
                        continue;
                    }
                    b'#' => {
                        i = line_end(text, i);
                        continue;
                    }
                    b'[' | b'{' => depth += 1,
                    b']' | b'}' => {
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
            let stop =
                |b: u8| matches!(b, b',' | b']' | b'}' | b' ' | b'\t' | b'\r' | b'\n' | b'#');
            let mut i = pos;
            while i < text.len() && !stop(text[i]) {
                i += 1;
            }
            // A date and a time apart by a space are one value (`1979-05-27 07:32:00`).
            let date = |t: &[u8]| {
                t.len() == 10
                    && t.iter().enumerate().all(|(k, &c)| {
                        if k == 4 || k == 7 {
                            c == b'-'
                        } else {
                            c.is_ascii_digit()
                        }
                    })
            };
            let time = |t: &[u8]| {
                t.len() >= 3 && t[0].is_ascii_digit() && t[1].is_ascii_digit() && t[2] == b':'
            };
            if date(&text[pos..i]) && text.get(i) == Some(&b' ') && time(&text[i + 1..]) {
                i += 1;
                while i < text.len() && !stop(text[i]) {
                    i += 1;
                }
            }
            i
        }
    }
}

/// What a value is to the merge, by its first byte.
pub(crate) fn shape(first: Option<&u8>) -> Shape {
    match first {
        Some(b'{') => Shape::Object,
        Some(b'[') => Shape::Array,
        Some(b'"' | b'\'') => Shape::String,
        _ => Shape::Scalar,
    }
}

/// Reads a dotted key at `pos`: its parts (decoded) and where it ends.
pub(crate) fn key(text: &[u8], pos: usize) -> (Vec<Cow<'_, [u8]>>, usize) {
    let mut parts = Vec::new();
    let mut i = pos.min(text.len());
    loop {
        let start = skip_blanks(text, i);
        let (part, end) = match text.get(start) {
            Some(b'"' | b'\'') => {
                let end = string_end(text, start);
                (decode_string(&text[start..end]), end)
            }
            _ => {
                let mut end = start;
                while end < text.len()
                    && (text[end].is_ascii_alphanumeric() || matches!(text[end], b'_' | b'-'))
                {
                    end += 1;
                }
                (Cow::Borrowed(&text[start..end]), end)
            }
        };
        parts.push(part);
        let after = skip_blanks(text, end);
        if text.get(after) == Some(&b'.') {
            i = after + 1;
        } else {
            return (parts, end);
        }
        if end == start {
            // (Cannot happen on checked input; never loop on a stray byte.)
            return (parts, end);
        }
    }
}

/// Parts of a key joined as the merge compares them.
pub(crate) fn joined(parts: &[Cow<'_, [u8]>]) -> Vec<u8> {
    let mut out = Vec::new();
    for (n, p) in parts.iter().enumerate() {
        if n > 0 {
            out.push(SEP);
        }
        out.extend_from_slice(p);
    }
    out
}

/// Between the parts of a joined key.
pub(crate) const SEP: u8 = 0x1f;

/// A key as the merge compares it: a bare single part is its own text.
pub(crate) fn key_at(text: &[u8], pos: usize) -> Cow<'_, [u8]> {
    let (mut parts, _) = key(text, pos);
    if parts.len() == 1 {
        parts.pop().unwrap_or_default()
    } else {
        Cow::Owned(joined(&parts))
    }
}

/// The content of a quoted TOML string (`quoted`, quotes included), escapes decoded.
pub(crate) fn decode_string(quoted: &[u8]) -> Cow<'_, [u8]> {
    let q = quoted[0];
    let n = if quoted.len() >= 6 && quoted.starts_with(&[q; 3]) {
        3
    } else {
        1
    };
    let mut inner = &quoted[n.min(quoted.len())..quoted.len().saturating_sub(n).max(n)];
    if n == 3 {
        // A line break right after the opening quotes is not content.
        inner = inner
            .strip_prefix(b"\r\n")
            .or_else(|| inner.strip_prefix(b"\n"))
            .unwrap_or(inner);
    }
    if q == b'\'' || !inner.contains(&b'\\') {
        return Cow::Borrowed(inner);
    }
    let mut out = Vec::with_capacity(inner.len());
    let mut i = 0;
    while i < inner.len() {
        let b = inner[i];
        if b != b'\\' || i + 1 >= inner.len() {
            out.push(b);
            i += 1;
            continue;
        }
        let e = inner[i + 1];
        i += 2;
        let simple = match e {
            b'b' => Some(8),
            b't' => Some(b'\t'),
            b'n' => Some(b'\n'),
            b'f' => Some(12),
            b'r' => Some(b'\r'),
            b'e' => Some(27),
            b'"' => Some(b'"'),
            b'\\' => Some(b'\\'),
            _ => None,
        };
        if let Some(c) = simple {
            out.push(c);
            continue;
        }
        let digits = match e {
            b'x' => 2,
            b'u' => 4,
            b'U' => 8,
            _ => 0,
        };
        if digits > 0 {
            let hex = inner.get(i..i + digits).unwrap_or_default();
            let c = std::str::from_utf8(hex)
                .ok()
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .and_then(char::from_u32);
            if let Some(c) = c {
                let mut buf = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                i += digits;
                continue;
            }
        }
        // A line-ending backslash: the break and the white space after it are no content.
        if matches!(e, b' ' | b'\t' | b'\r' | b'\n') {
            while i < inner.len() && matches!(inner[i], b' ' | b'\t' | b'\r' | b'\n') {
                i += 1;
            }
            continue;
        }
        out.push(b'\\');
        out.push(e);
    }
    Cow::Owned(out)
}

/// Opens the inline array or table that starts at `start`.
pub(crate) fn inline(text: &[u8], start: usize) -> Container {
    let is_table = text[start] == b'{';
    let end = value_end(text, start).saturating_sub(1).max(start + 1);
    let open = start + 1;
    let mut items = Vec::new();
    let mut pos = open;
    let mut close = open;
    loop {
        let lead = pos;
        let first = skip_layout(text, pos);
        if first >= end {
            break;
        }
        let value = if is_table {
            let (_, key_end) = key(text, first);
            let eq = skip_blanks(text, key_end);
            skip_blanks(text, eq + 1)
        } else {
            first
        };
        let value_stop = value_end(text, value);
        items.push(Item {
            lead,
            start: first,
            value,
            end: value_stop,
            shape: shape(text.get(value)),
        });
        close = value_stop;
        let next = skip_layout(text, value_stop);
        if next < end && text[next] == b',' && value_stop > first {
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
        flow: true,
    }
}

/// Whether the inline array or table at `range` holds a comment (it is then one value).
pub(crate) fn has_comment(text: &[u8], range: Range<usize>) -> bool {
    let end = value_end(text, range.start).min(range.end);
    let mut i = range.start;
    while i < end {
        match text[i] {
            b'"' | b'\'' => i = string_end(text, i),
            b'#' => return true,
            _ => i += 1,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_end_where_toml_says() {
        let t = b"a = \"x\\\"y\" # c";
        assert_eq!(value_end(t, 4), 10);
        assert_eq!(line_rest(t, 10), t.len());
        assert_eq!(value_end(b"1979-05-27 07:32:00Z\n", 0), 20);
        assert_eq!(value_end(b"1979-05-27 # day", 0), 10);
        assert_eq!(value_end(b"[1, [2], \"]\"] # x", 0), 13);
        assert_eq!(value_end(b"'''a''''' x", 0), 9);
        assert_eq!(value_end(b"[ # ]\n 1]", 0), 9);
    }

    #[test]
    fn keys_are_decoded_and_joined() {
        let t = b"a . \"b.c\" .'d' = 1";
        let (parts, end) = key(t, 0);
        assert_eq!(parts.len(), 3);
        assert_eq!(&t[end..], b" = 1");
        assert_eq!(&*key_at(t, 0), b"a\x1fb.c\x1fd");
        assert_eq!(&*decode_string(b"\"\\u00e9\\t\""), "é\t".as_bytes());
    }

    #[test]
    fn inline_tables_open_into_items() {
        let t = b"{ a = 1, b.c = [2, 3] }";
        let c = inline(t, 0);
        assert_eq!(c.items.len(), 2);
        assert_eq!(&t[c.items[1].value..c.items[1].end], b"[2, 3]");
        assert_eq!(&*key_at(t, c.items[1].start), b"b\x1fc");
        assert_eq!(&t[c.close..c.end], b" ");
    }
}
