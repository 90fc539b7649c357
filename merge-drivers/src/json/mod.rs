//! JSON: objects key by key, arrays by identity or as sequences, collisions decided
//! symmetrically and journaled (the engine in `tree`); this module reads JSON's layout.
//!
//! JSON with comments (JSONC) and JSON5 merge by the same rules: comments are layout that
//! stays where it stands (a comment before a member is that member's lead, one after a
//! member on its line the next one's, or the container's last), trailing commas stay, and
//! JSON5's bare keys, single quotes, hex numbers and `Infinity` are copied as written. A
//! document strict JSON reads takes the strict path, so its dialect never changes.

mod relaxed;
pub(crate) mod scan;
pub mod spans;

use std::borrow::Cow;

use serde_json::Value;

use crate::eol::{bom_chosen, strip_bom, BOM};
use crate::sides::{Side, Sides};
use crate::tree::{Container, Item, Merger, Syntax, Val};
use crate::{text, Merged, Method, Options};

/// JSON's layout: brackets, commas, quoted keys; `RELAXED`, JSONC's and JSON5's too.
pub(crate) struct Json<const RELAXED: bool>;

impl<const RELAXED: bool> Syntax for Json<RELAXED> {
    fn open(&self, text: &[u8], v: Val) -> Container {
        scan::container(text, v.start..v.end)
    }

    fn key<'t>(&'t self, _side: Side, text: &'t [u8], item: &Item) -> Cow<'t, [u8]> {
        scan::key(text, item)
    }

    fn record(&self, text: &[u8]) -> Value {
        serde_json::from_slice(text)
            .ok()
            .or_else(|| relaxed::parse(text))
            .unwrap_or(Value::Null)
    }

    const SEPARATOR: &'static [u8] = b",";
    const COMMENT_LEADS: bool = RELAXED;
}

/// Merges three JSON documents, or `None` when a side is not JSON (the caller falls back).
pub(crate) fn merge(texts: Sides<&[u8]>, options: &Options) -> Option<Merged> {
    let (boms, src) = texts.map(strip_bom).unzip();
    let has_base = !src.base.iter().all(u8::is_ascii_whitespace);
    let sides = || {
        Side::ALL
            .into_iter()
            .filter(|&s| s != Side::Base || has_base)
    };
    let strict = sides().all(|s| scan::validate(src[s]));
    if !strict && !sides().all(|s| scan::validate(src[s]) || relaxed::validate(src[s])) {
        return None;
    }
    let (out, conflicted, records) = if strict {
        let m = merge_spans(&Json::<false>, src, has_base, boms, options)?;
        (m.out, m.conflicted, m.records)
    } else {
        let m = merge_spans(&Json::<true>, src, has_base, boms, options)?;
        // Layout from three files can disagree: a result that is not JSON5 is no merge.
        if !relaxed::validate(strip_bom(&m.out).1) {
            return None;
        }
        (m.out, m.conflicted, m.records)
    };

    let mut merged = Merged {
        output: out,
        conflicted,
        records,
        method: Method::Structural,
    };
    // Where the plain line merge is clean and means the same, its text is the answer.
    if !merged.conflicted {
        let lines = text::merge(texts.base, texts.ours, texts.theirs, options.marker_size);
        if !lines.conflicted
            && lines.output != merged.output
            && means_the_same(&lines.output, &merged.output, strict)
        {
            merged.output = lines.output;
            merged.method = Method::Lines;
        }
    }
    Some(merged)
}

/// What keeps `text` from being JSON, JSONC or JSON5 (serde_json's message), if anything.
pub(crate) fn syntax_problem(text: &[u8]) -> Option<String> {
    let strict = serde_json::from_slice::<serde::de::IgnoredAny>(text).err()?;
    (!relaxed::validate(text)).then(|| format!("not valid JSON, JSONC or JSON5 ({strict})"))
}

/// The structural merge of three valid documents (BOMs stripped, `boms` saying where there
/// was one).
fn merge_spans<'a, S: Syntax>(
    syntax: &'a S,
    src: Sides<&'a [u8]>,
    has_base: bool,
    boms: Sides<bool>,
    options: &'a Options,
) -> Option<Merger<'a, S>> {
    let mut m = Merger::new(syntax, src, options);
    // Each side's document: its value, and the white space before and after it.
    let docs = Sides::from_fn(|side| {
        if side == Side::Base && !has_base {
            return None;
        }
        let text = src[side];
        let (range, shape) = scan::document(text);
        let val = Val {
            side,
            start: range.start,
            end: range.end,
            shape,
        };
        Some((val, 0..range.start, range.end..text.len()))
    });
    if bom_chosen(boms, has_base) {
        m.out.extend_from_slice(BOM);
    }
    let lead = m.pick_lead(docs.clone().map(|d| d.map(|(v, lead, _)| (v.side, lead))));
    m.out.extend_from_slice(&lead);
    m.value(docs.clone().map(|d| d.map(|(v, ..)| v)), None)
        .ok()?;
    let trail = m.pick_lead(docs.map(|d| d.map(|(v, _, trail)| (v.side, trail))));
    m.out.extend_from_slice(&trail);
    Some(m)
}

fn means_the_same(a: &[u8], b: &[u8], strict: bool) -> bool {
    let (a, b) = (strip_bom(a).1, strip_bom(b).1);
    if strict {
        if !scan::validate(a) || !scan::validate(b) {
            return false;
        }
        let (ra, rb) = (scan::document(a).0, scan::document(b).0);
        return scan::equivalent(a, ra, b, rb);
    }
    // (A line merge that made a strict side's text relaxed is not the same file.)
    match (relaxed::parse(a), relaxed::parse(b)) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}
