//! One table written two ways: a merge whose sides wrote `tui.theme = "dark"` (dotted keys)
//! and `[tui]` (a header) holds both, which TOML refuses (a table defined twice). The keys go
//! under the header, the rest of their path as their key (`theme = "dark"` under `[tui]`):
//! the same data, written as the side with the header wrote the table.

use std::ops::Range;

use super::layout::{statements, Kind, Stmt};
use super::scan;

/// `text` with every dotted key whose path continues a `[table]` header of the text moved
/// under that header; `None` where there is none.
pub(crate) fn dotted_under_headers(text: &[u8]) -> Option<Vec<u8>> {
    let stmts = statements(text);
    // Tables with a header, outside arrays of tables (an entry's tables are its own).
    let arrays: Vec<&[Vec<u8>]> = stmts
        .iter()
        .filter(|s| s.kind == Kind::ArrayTable)
        .map(|s| &s.path[..])
        .collect();
    let tables: Vec<(usize, &[Vec<u8>])> = stmts
        .iter()
        .enumerate()
        .filter(|(_, s)| s.kind == Kind::Table)
        .filter(|(_, s)| !arrays.iter().any(|a| s.path.starts_with(a)))
        .map(|(n, s)| (n, &s.path[..]))
        .collect();
    if tables.is_empty() {
        return None;
    }
    // Each key to move: its statement, the header it goes under, where its rest of key
    // starts.
    let mut moves: Vec<(usize, usize, usize)> = Vec::new();
    let mut context: Option<&[Vec<u8>]> = Some(&[]);
    for (n, s) in stmts.iter().enumerate() {
        match s.kind {
            Kind::Table => {
                context = (!arrays.iter().any(|a| s.path.starts_with(a))).then_some(&s.path[..])
            }
            Kind::ArrayTable => context = None,
            Kind::KeyValue => {
                let Some(ctx) = context else { continue };
                let spans = key_spans(text, s.start);
                if spans.len() < 2 {
                    continue;
                }
                let parts: Vec<Vec<u8>> = scan::key(text, s.start)
                    .0
                    .into_iter()
                    .map(|p| p.into_owned())
                    .collect();
                let full: Vec<Vec<u8>> = ctx.iter().cloned().chain(parts).collect();
                // The longest header the key's path continues (not its own table).
                let target = (ctx.len() + 1..full.len()).rev().find_map(|k| {
                    tables
                        .iter()
                        .find(|(_, t)| *t == &full[..k])
                        .map(|t| (t.0, k))
                });
                if let Some((header, k)) = target {
                    moves.push((n, header, spans[k - ctx.len()].start));
                }
            }
        }
    }
    if moves.is_empty() {
        return None;
    }
    let eol: &[u8] = match scan::line_end(text, 0) {
        at if text.get(at) == Some(&b'\r') => b"\r\n",
        _ => b"\n",
    };
    // Where each section's body ends: its last statement's end.
    let body_end = |header: usize| -> usize {
        let mut end = stmts[header].end;
        for s in &stmts[header + 1..] {
            if s.kind != Kind::KeyValue {
                break;
            }
            end = s.end;
        }
        end
    };
    let mut cut: Vec<Range<usize>> = moves
        .iter()
        .map(|&(n, ..)| line_of(text, &stmts[n]))
        .collect();
    cut.sort_by_key(|r| r.start);
    let mut inserts: Vec<(usize, Vec<u8>)> = moves
        .iter()
        .map(|&(n, header, rest)| {
            let s = &stmts[n];
            (body_end(header), [eol, &text[rest..s.end]].concat())
        })
        .collect();
    inserts.sort_by_key(|(at, _)| *at);
    let mut out = Vec::with_capacity(text.len() + 64);
    let mut pos = 0;
    let mut cuts = cut.into_iter().peekable();
    let mut adds = inserts.into_iter().peekable();
    while pos < text.len() {
        let next_cut = cuts.peek().map(|r| r.start);
        let next_add = adds.peek().map(|(at, _)| *at);
        let stop = next_cut
            .into_iter()
            .chain(next_add)
            .min()
            .unwrap_or(text.len());
        if stop > pos {
            out.extend_from_slice(&text[pos..stop]);
            pos = stop;
        }
        if next_add.is_some_and(|at| at <= pos) {
            if let Some((_, line)) = adds.next() {
                out.extend_from_slice(&line);
            }
        } else if next_cut.is_some_and(|at| at <= pos) {
            if let Some(r) = cuts.next() {
                pos = r.end.max(pos);
            }
        } else if stop >= text.len() {
            break;
        }
    }
    for (_, line) in adds {
        out.extend_from_slice(&line);
    }
    Some(out)
}

/// The whole line of a statement: from its line's start to its line break, included.
fn line_of(text: &[u8], s: &Stmt) -> Range<usize> {
    let start = text[..s.start]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let end = match text.get(s.end) {
        Some(b'\r') => s.end + 2,
        Some(b'\n') => s.end + 1,
        _ => s.end,
    };
    start..end.min(text.len())
}

/// Where each part of the dotted key at `pos` is.
fn key_spans(text: &[u8], pos: usize) -> Vec<Range<usize>> {
    let mut spans = Vec::new();
    let mut i = pos;
    loop {
        let start = scan::skip_blanks(text, i);
        let end = match text.get(start) {
            Some(b'"' | b'\'') => scan::string_end(text, start),
            _ => {
                let mut end = start;
                while end < text.len()
                    && (text[end].is_ascii_alphanumeric() || matches!(text[end], b'_' | b'-'))
                {
                    end += 1;
                }
                end
            }
        };
        spans.push(start..end);
        let after = scan::skip_blanks(text, end);
        if text.get(after) != Some(&b'.') || end == start {
            return spans;
        }
        i = after + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_keys_go_under_the_header() {
        let text = b"model = \"o3\"\ntui.theme = \"dark\"  # mine\n\n[tui]\nanimations = false\n";
        let out = dotted_under_headers(text).expect("moved");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "model = \"o3\"\n\n[tui]\nanimations = false\ntheme = \"dark\"  # mine\n"
        );
        assert!(dotted_under_headers(b"a.b = 1\n[c]\nd = 1\n").is_none());
    }
}
