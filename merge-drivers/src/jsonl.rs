//! JSONL: one record per line. Records with an identity key merge by it (field by field, as
//! JSON objects), other lines by their content; both sides' appends are all kept, once each,
//! in time order where records carry a timestamp.

use foldhash::{HashMap, HashSet};

use crate::eol::Eol;
use crate::eol::{bom_chosen, strip_bom};
use crate::json::scan;
use crate::json::Json;
use crate::sequence::{combine_sides, keyed_order, Slot, SortKey};
use crate::sides::choose3;
use crate::sides::{Side, Sides};
use crate::tree::{Merger, Shape, Val};
use crate::{instant, Merged, Method, Options, TIMESTAMP_KEYS};

/// One line: `start..end` is its text without the line ending.
#[derive(Clone, Copy, Debug)]
struct Line {
    start: usize,
    end: usize,
    object: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Id<'a> {
    /// A record's identity key and its value's text.
    Keyed(&'a str, &'a [u8]),
    /// Any other line: its text and which occurrence of that text it is.
    Content(&'a [u8], usize),
}

pub(crate) fn merge(texts: Sides<&[u8]>, options: &Options) -> Option<Merged> {
    let (boms, src) = texts.map(strip_bom).unzip();
    let (b, o, t) = (src.base, src.ours, src.theirs);
    let lines = src.map(split);
    let has_base = !b.is_empty();
    let ids = identify(&src, &lines, options);

    let mut m = Merger::new(&Json::<false>, src, options);
    let same = |(s1, l1): (Side, Line), (s2, l2): (Side, Line)| {
        src[s1][l1.start..l1.end] == src[s2][l2.start..l2.end]
    };
    let line = |side: Side, i: usize| (side, lines[side][i]);
    // A record whose only change is white space was not changed.
    let alike = |(s1, l1): (Side, Line), (s2, l2): (Side, Line)| {
        l1.object && l2.object && {
            let (r1, r2) = (
                scan::document_in(src[s1], l1.start..l1.end),
                scan::document_in(src[s2], l2.start..l2.end),
            );
            scan::equivalent(src[s1], r1, src[s2], r2)
        }
    };
    let slots = keyed_order(
        &ids,
        |s: Slot| match (s.base, s.ours, s.theirs) {
            (_, Some(_), Some(_)) => true,
            (Some(bi), Some(i), None) => {
                let (b, o) = (line(Side::Base, bi), line(Side::Ours, i));
                !same(b, o) && !alike(b, o)
            }
            (Some(bi), None, Some(i)) => {
                let (b, t) = (line(Side::Base, bi), line(Side::Theirs, i));
                !same(b, t) && !alike(b, t)
            }
            _ => false,
        },
        |ro, rt| {
            let key = |(side, i): (Side, usize)| sort_key(src[side], lines[side][i]);
            combine_sides(ro, rt, key)
        },
    );

    if bom_chosen(boms, has_base) {
        m.out.extend_from_slice(b"\xEF\xBB\xBF");
    }
    let out_eol = choose3(Eol::of(b), Eol::of(o), Eol::of(t)).unwrap_or(Eol::Lf);
    for slot in &slots {
        let at = Sides::new(
            slot.base.map(|i| line(Side::Base, i)),
            slot.ours.map(|i| line(Side::Ours, i)),
            slot.theirs.map(|i| line(Side::Theirs, i)),
        );
        let whole = |x: Option<(Side, Line)>| {
            x.map(|(side, l)| Val {
                side,
                start: l.start,
                end: l.end,
                shape: Shape::Scalar,
            })
        };
        // A record's object, without the white space around it on its line.
        let object = |x: Option<(Side, Line)>| {
            x.filter(|(_, l)| l.object).map(|(side, l)| {
                let r = scan::document_in(src[side], l.start..l.end);
                Val {
                    side,
                    start: r.start,
                    end: r.end,
                    shape: Shape::Object,
                }
            })
        };
        let (vals, objects) = (at.map(whole), at.map(object));
        let id = match (slot.ours, slot.theirs) {
            (Some(i), _) => &ids.ours[i],
            (None, Some(i)) => &ids.theirs[i],
            _ => continue,
        };
        m.enter(describe(id));
        let both_objects = objects.ours.is_some() && objects.theirs.is_some();
        match (vals.ours, vals.theirs) {
            (Some(vo), Some(vt)) if both_objects && !m.same_text(vo, vt) => {
                // Each side's line: its object, and the white space around it.
                let lines = Sides::from_fn(|side| vals[side].zip(objects[side]));
                let lead = lines.map(|l| l.map(|(v, o)| (v.side, v.start..o.start)));
                let lead = m.pick(lead);
                m.out.extend_from_slice(&lead);
                m.value(objects, None).ok()?;
                let trail = lines.map(|l| l.map(|(v, o)| (v.side, o.end..v.end)));
                let trail = m.pick(trail);
                m.out.extend_from_slice(&trail);
            }
            // The same line on both sides.
            (Some(kept), Some(_)) => m.put(kept),
            _ => m.survivor(vals),
        }
        m.leave();
        m.out.extend_from_slice(out_eol.bytes());
    }
    // The final newline, or its absence, is chosen three-way.
    // An empty side says nothing about line endings.
    let final_nl = |text: &[u8]| (!text.is_empty()).then(|| text.last() == Some(&b'\n'));
    let keep_final = choose3(
        has_base.then(|| final_nl(b)).flatten(),
        final_nl(o),
        final_nl(t),
    )
    .unwrap_or(true);
    if !keep_final && !slots.is_empty() {
        let cut = out_eol.bytes().len();
        m.out.truncate(m.out.len() - cut);
    }
    Some(Merged {
        output: m.out,
        conflicted: m.conflicted,
        records: m.records,
        method: Method::Structural,
    })
}

fn split(text: &[u8]) -> Vec<Line> {
    let mut lines = Vec::new();
    let mut start = 0;
    while start < text.len() {
        let (end, next) = match memchr::memchr(b'\n', &text[start..]) {
            Some(off) => {
                let nl = start + off;
                let end = if nl > start && text[nl - 1] == b'\r' {
                    nl - 1
                } else {
                    nl
                };
                (end, nl + 1)
            }
            None => (text.len(), text.len()),
        };
        let body = &text[start..end];
        let object =
            body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') && scan::validate(body);
        lines.push(Line { start, end, object });
        start = next;
    }
    lines
}

/// Every line's identity. Records are identified by the first identity key they carry; if
/// that is not unique on some side, every line is identified by its content.
fn identify<'a>(
    src: &Sides<&'a [u8]>,
    lines: &Sides<Vec<Line>>,
    options: &'a Options,
) -> Sides<Vec<Id<'a>>> {
    let keyed = Sides::from_fn(|side| {
        let text = src[side];
        let mut seen = HashSet::default();
        let mut occurrences: HashMap<&[u8], usize> = HashMap::default();
        let mut ids = Vec::with_capacity(lines[side].len());
        for l in &lines[side] {
            let id = l
                .object
                .then(|| {
                    let object = scan::container(text, scan::document_in(text, l.start..l.end));
                    options.identity_keys().find_map(|name| {
                        scan::member(text, &object, name)
                            .filter(|m| matches!(m.shape, Shape::String | Shape::Scalar))
                            .map(|m| Id::Keyed(name, &text[m.value_range()]))
                    })
                })
                .flatten();
            match id {
                Some(id) if !seen.insert(id.clone()) => return None,
                Some(id) => ids.push(id),
                None => ids.push(content(&mut occurrences, &text[l.start..l.end])),
            }
        }
        Some(ids)
    });
    match keyed {
        Sides {
            base: Some(b),
            ours: Some(o),
            theirs: Some(t),
        } => Sides::new(b, o, t),
        _ => Sides::from_fn(|side| {
            let mut occurrences = HashMap::default();
            let text = src[side];
            lines[side]
                .iter()
                .map(|l| content(&mut occurrences, &text[l.start..l.end]))
                .collect()
        }),
    }
}

/// The identity of a line by its text: the text and which occurrence of it this is.
fn content<'a>(seen: &mut HashMap<&'a [u8], usize>, text: &'a [u8]) -> Id<'a> {
    let n = seen.entry(text).or_insert(0);
    *n += 1;
    Id::Content(text, *n)
}

fn sort_key(text: &[u8], line: Line) -> SortKey<'_> {
    let body = &text[line.start..line.end];
    let instant = line
        .object
        .then(|| {
            let object = scan::container(text, scan::document_in(text, line.start..line.end));
            TIMESTAMP_KEYS.iter().find_map(|f| {
                scan::member(text, &object, f).and_then(|m| instant::parse(&text[m.value_range()]))
            })
        })
        .flatten();
    SortKey {
        instant,
        bytes: body,
    }
}

fn describe(id: &Id<'_>) -> String {
    match id {
        Id::Keyed(name, value) => format!("{name}={}", String::from_utf8_lossy(value)),
        Id::Content(text, n) => format!(
            "line {:?}#{n}",
            String::from_utf8_lossy(&text[..text.len().min(40)])
        ),
    }
}
