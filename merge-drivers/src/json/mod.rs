//! JSON: objects key by key, arrays by identity or as sequences, collisions decided
//! symmetrically and journaled (the engine in `tree`); this module reads JSON's layout.

pub(crate) mod scan;

use std::borrow::Cow;

use serde_json::Value;

use crate::eol::{strip_bom, BOM};
use crate::sequence::choose3;
use crate::sides::{Side, Sides};
use crate::tree::{Container, Item, Merger, Syntax, Val};
use crate::{text, Merged, Method, Options};

/// JSON's layout: brackets, commas, quoted keys.
pub(crate) struct Json;

impl Syntax for Json {
    fn open(&self, text: &[u8], v: Val) -> Container {
        scan::container(text, v.start..v.end)
    }

    fn key<'t>(&'t self, _side: Side, text: &'t [u8], item: &Item) -> Cow<'t, [u8]> {
        scan::key(text, item)
    }

    fn record(&self, text: &[u8]) -> Value {
        serde_json::from_slice(text).unwrap_or(Value::Null)
    }

    const SEPARATOR: &'static [u8] = b",";
}

/// Merges three JSON documents, or `None` when a side is not JSON (the caller falls back).
pub(crate) fn merge(base: &[u8], ours: &[u8], theirs: &[u8], options: &Options) -> Option<Merged> {
    let (bom_b, b) = strip_bom(base);
    let (bom_o, o) = strip_bom(ours);
    let (bom_t, t) = strip_bom(theirs);
    let has_base = !b.iter().all(u8::is_ascii_whitespace);
    if (has_base && !scan::validate(b)) || !scan::validate(o) || !scan::validate(t) {
        return None;
    }
    let m = merge_spans([b, o, t], has_base, [bom_b, bom_o, bom_t], options)?;

    let mut merged = Merged {
        output: m.out,
        conflicted: m.conflicted,
        records: m.records,
        method: Method::Structural,
    };
    // Where the plain line merge is clean and means the same, its text is the answer.
    if !merged.conflicted {
        let lines = text::merge(base, ours, theirs, options.marker_size);
        if !lines.conflicted
            && lines.output != merged.output
            && means_the_same(&lines.output, &merged.output)
        {
            merged.output = lines.output;
            merged.method = Method::Lines;
        }
    }
    Some(merged)
}

/// The structural merge of three valid documents (BOMs stripped).
fn merge_spans<'a>(
    [b, o, t]: [&'a [u8]; 3],
    has_base: bool,
    [bom_b, bom_o, bom_t]: [bool; 3],
    options: &'a Options,
) -> Option<Merger<'a, Json>> {
    let mut m = Merger::new(&Json, Sides::new(b, o, t), options);
    let doc = |side: Side, text: &[u8]| {
        let (range, shape) = scan::document(text);
        (
            Val {
                side,
                start: range.start,
                end: range.end,
                shape,
            },
            0..range.start,
            range.end..text.len(),
        )
    };
    let based = has_base.then(|| doc(Side::Base, b));
    let (vo, lead_o, trail_o) = doc(Side::Ours, o);
    let (vt, lead_t, trail_t) = doc(Side::Theirs, t);
    let base_val = based.as_ref().map(|x| x.0);
    if choose3(has_base.then_some(bom_b), Some(bom_o), Some(bom_t)) == Some(true) {
        m.out.extend_from_slice(BOM);
    }
    let lead = m.pick(Sides::new(
        based.as_ref().map(|x| (Side::Base, x.1.clone())),
        Some((Side::Ours, lead_o)),
        Some((Side::Theirs, lead_t)),
    ));
    m.out.extend_from_slice(&lead);
    m.value(base_val, vo, vt, None).ok()?;
    let trail = m.pick(Sides::new(
        based.as_ref().map(|x| (Side::Base, x.2.clone())),
        Some((Side::Ours, trail_o)),
        Some((Side::Theirs, trail_t)),
    ));
    m.out.extend_from_slice(&trail);
    Some(m)
}

fn means_the_same(a: &[u8], b: &[u8]) -> bool {
    let (a, b) = (strip_bom(a).1, strip_bom(b).1);
    if !scan::validate(a) || !scan::validate(b) {
        return false;
    }
    let (ra, rb) = (scan::document(a).0, scan::document(b).0);
    scan::equivalent(a, ra, b, rb)
}
