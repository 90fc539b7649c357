//! YAML, merged by the engine in `tree` with comments and layout kept: this module reads the
//! three sides (on threads, entry by entry when they are big), merges them, checks the result.
//!
//! The JSON rules on YAML's data model (mappings key by key, sequences by identity or as
//! sequences, collisions decided symmetrically and journaled), with comments and layout kept:
//! each entry is its key line(s) and value, and the comments and blank lines before it are its
//! lead. Block scalars (`|`, `>`) merge line by line, keeping both sides' appends.
//!
//! saphyr-parser reads the structure ([`events`], [`reader`]); flow collections (`[a, b]`,
//! `{x: 1}`) are taken apart like JSON's ([`flow`]); a store's long list is read entry by
//! entry ([`entries`], [`fragments`]). Anchors, aliases, tags, several documents, a flow
//! collection at the top or one changed on both sides that cannot be taken apart fall back to
//! the line merge (never a silent loss).

mod entries;
mod events;
mod flow;
mod fragments;
mod reader;

use std::borrow::Cow;

use foldhash::HashSet;
use saphyr_parser::{Event, Parser, ScalarStyle};
use serde_json::Value;

use crate::eol::{bom_chosen, strip_bom, BOM};
use crate::sides::{Side, Sides};
use crate::tree::{Container, Item, Merger, Parsed, Syntax, Val};
use crate::{Merged, Method, Options};

use entries::Entries;
use events::{EventStream, Status};
use reader::Reader;

/// YAML's layout of the three sides, read up front.
#[derive(Default)]
struct Yaml {
    parsed: Parsed,
    /// Where each side has a flow collection the merge cannot take apart (comments inside,
    /// a `[k: v]` pair): changed differently on both sides, it goes to the line merge.
    opaque: Sides<HashSet<usize>>,
}

impl Yaml {
    fn absorb(&mut self, side: Side, mut part: Yaml) {
        self.parsed.absorb(side, part.parsed);
        self.opaque[side] = std::mem::take(&mut part.opaque[side]);
    }
}

impl Syntax for Yaml {
    fn open(&self, _text: &[u8], v: Val) -> Container {
        self.parsed.open(v)
    }

    fn key<'t>(&'t self, side: Side, text: &'t [u8], item: &Item) -> Cow<'t, [u8]> {
        self.parsed.key(side, text, item)
    }

    fn record(&self, text: &[u8]) -> Value {
        Value::String(String::from_utf8_lossy(text).trim().to_string())
    }

    fn opaque(&self, v: Val) -> bool {
        self.opaque[v.side].contains(&v.start)
    }

    const OWN_LEADS: bool = true;
}

pub(crate) fn merge(input: Sides<&[u8]>, options: &Options) -> Option<Merged> {
    merge_tuned(input, options, TUNING)
}

/// When a merge is big enough to read its sides on threads, and entry by entry.
#[derive(Clone, Copy, Debug)]
struct Tuning {
    /// Past this many bytes in all, ours and theirs are read on threads of their own.
    parallel: usize,
    /// Past this many bytes in all, the entries of a long block sequence are read one by one
    /// (see [`Entries`]).
    entries: usize,
    /// ... when ours holds at least this many of them.
    min_entries: usize,
}

const TUNING: Tuning = Tuning {
    parallel: 256 * 1024,
    entries: 256 * 1024,
    min_entries: 64,
};

fn merge_tuned(input: Sides<&[u8]>, options: &Options, tuning: Tuning) -> Option<Merged> {
    let (boms, src) = input.map(strip_bom).unzip();
    let (b, o, t) = (src.base, src.ours, src.theirs);
    let has_base = !b.iter().all(u8::is_ascii_whitespace);
    let texts = Sides::new(
        if has_base {
            Some(std::str::from_utf8(b).ok()?)
        } else {
            None
        },
        Some(std::str::from_utf8(o).ok()?),
        Some(std::str::from_utf8(t).ok()?),
    );
    // A base with no data (comments, `---`, `{}`): both sides added what they hold, and
    // the base's text, where a side starts with it, stands before that side's first entry.
    let empty_base = has_base && empty_document(texts.base?);
    let head = |side: &[u8]| {
        if empty_base && side.starts_with(b) {
            b.len()
        } else {
            0
        }
    };
    let heads = Sides::new(0, head(o), head(t));
    // Reading is most of a YAML merge's time (saphyr reads some 60 MB/s), and a store is
    // mostly one long list whose entries are the same text on all sides: each distinct entry
    // is read once, alone (see `Entries`).
    let total: usize = texts.iter().flatten().map(|t| t.len()).sum();
    let parallel = total >= tuning.parallel;
    let entries = if total >= tuning.entries {
        Entries::new(texts, tuning.min_entries, parallel)
    } else {
        None
    };
    let read = |side: Side| -> Option<Option<(Yaml, Val)>> {
        if side == Side::Base && empty_base {
            return Some(None);
        }
        match texts[side] {
            Some(text) => read_side(side, text, heads[side], entries.as_ref()).map(Some),
            None => Some(None),
        }
    };
    // The sides are independent: past `tuning.parallel` bytes in all, ours and theirs are
    // read on threads.
    let sides = if !parallel {
        Sides::from_fn(read)
    } else {
        std::thread::scope(|scope| {
            let ours = scope.spawn(|| read(Side::Ours));
            let theirs = scope.spawn(|| read(Side::Theirs));
            let base = read(Side::Base);
            // A reader thread that panicked (it cannot: saphyr returns errors) gives the
            // line merge.
            let join = |h: std::thread::ScopedJoinHandle<'_, _>| h.join().unwrap_or(None);
            Sides::new(base, join(ours), join(theirs))
        })
    };
    let mut syntax = Yaml::default();
    let mut roots = Sides::default();
    for (side, read) in Side::ALL.into_iter().zip(sides) {
        if let Some((part, root)) = read? {
            syntax.absorb(side, part);
            roots[side] = Some(root);
        }
    }
    let (Some(ours), Some(_)) = (roots.ours, roots.theirs) else {
        return None;
    };
    if empty_base && roots.base.is_none() {
        roots.base = Some(Val {
            side: Side::Base,
            start: b.len(),
            end: b.len(),
            shape: ours.shape,
        });
    }
    let mut m = Merger::new(&syntax, src, options);
    if bom_chosen(boms, has_base) {
        m.out.extend_from_slice(BOM);
    }
    let lead = m.pick(roots.map(|r| r.map(|v| (v.side, 0..v.start))));
    m.out.extend_from_slice(&lead);
    m.value(roots, None).ok()?;
    // Comments after the last entry: both sides' additions kept.
    let trail = m.pick_lead(roots.map(|r| r.map(|v| (v.side, v.end..src[v.side].len()))));
    m.out.extend_from_slice(&trail);
    // Layout from three files can disagree (one side re-indented a block the other added
    // to): a result that is not YAML goes to the line merge instead. A result byte for byte
    // one side's text (no BOM added) is that side, read whole above without an error: it
    // needs no second reading.
    // Read entry by entry, the entries the sides hold need no second reading either.
    let as_side = m.out == o || m.out == t;
    let valid = as_side
        || std::str::from_utf8(&m.out).is_ok_and(|text| {
            entries.as_ref().is_some_and(|e| e.valid(text))
                || Parser::new_from_str(text).all(|event| event.is_ok())
        });
    if !valid {
        return None;
    }
    Some(Merged {
        output: m.out,
        conflicted: m.conflicted,
        records: m.records,
        method: Method::Structural,
    })
}

/// Whether `text` is one YAML document holding no data: nothing but comments, `---`, a
/// null, or an empty flow collection.
fn empty_document(text: &str) -> bool {
    let mut nodes = Vec::new();
    let mut documents = 0;
    for event in Parser::new_from_str(text) {
        let Ok((event, _)) = event else {
            return false;
        };
        match event {
            Event::DocumentStart(_) => documents += 1,
            Event::Scalar(value, style, anchor, tag) => {
                let null = style == ScalarStyle::Plain
                    && matches!(&*value, "" | "~" | "null" | "Null" | "NULL");
                if !null || anchor != 0 || tag.is_some() {
                    return false;
                }
                nodes.push(0);
            }
            Event::MappingStart(anchor, tag) | Event::SequenceStart(anchor, tag) => {
                if anchor != 0 || tag.is_some() {
                    return false;
                }
                nodes.push(1);
            }
            Event::MappingEnd | Event::SequenceEnd => nodes.push(2),
            Event::Alias(_) => return false,
            _ => {}
        }
    }
    documents <= 1 && matches!(&nodes[..], [] | [0] | [1, 2])
}

/// One side's layout and root value, or `None` for a text the structural merge does not take
/// (not YAML, not one document, anchors, aliases or tags, a top that is not a block).
fn read_side(
    side: Side,
    text: &str,
    head: usize,
    entries: Option<&Entries<'_>>,
) -> Option<(Yaml, Val)> {
    if let Some((events, fragments)) = entries.and_then(|e| e.events(side, text)) {
        // What reading the text whole gives, checked (see `Entries`).
        let mut syntax = Yaml::default();
        let root = Reader::read(&mut syntax, side, text, events.into_iter(), fragments, head);
        return root.map(|root| (syntax, root));
    }
    let mut syntax = Yaml::default();
    let status = Status::default();
    let root = Reader::read(
        &mut syntax,
        side,
        text,
        EventStream::new(text, &status),
        Vec::new(),
        head,
    );
    status
        .one_document()
        .then_some(root)
        .flatten()
        .map(|root| (syntax, root))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The merge of three texts.
    fn merge(base: &[u8], ours: &[u8], theirs: &[u8], options: &Options) -> Option<Merged> {
        super::merge(Sides::new(base, ours, theirs), options)
    }

    /// The merge of three texts under the default options.
    pub(super) fn merged(base: &str, ours: &str, theirs: &str) -> Option<Merged> {
        let input = Sides::new(base, ours, theirs).map(str::as_bytes);
        super::merge(input, &Options::default())
    }

    pub(super) fn yaml(base: &str, ours: &str, theirs: &str) -> String {
        let run =
            |o: &str, t: &str| merged(base, o, t).map(|m| String::from_utf8(m.output).unwrap());
        let (a, b) = (run(ours, theirs), run(theirs, ours));
        assert_eq!(a, b, "not symmetric");
        a.expect("structural")
    }

    #[test]
    fn keys_added_under_one_mapping_keep_comments() {
        let base = "# settings\nui:\n  theme: dark  # my pick\n  font: 12\nname: x\n";
        let ours = "# settings\nui:\n  theme: dark  # my pick\n  font: 12\n  zoom: 2\nname: x\n";
        let theirs =
            "# settings\nui:\n  theme: dark  # my pick\n  font: 14\nname: x\nextra: true\n";
        assert_eq!(
            yaml(base, ours, theirs),
            "# settings\nui:\n  theme: dark  # my pick\n  font: 14\n  zoom: 2\nname: x\nextra: true\n"
        );
    }

    #[test]
    fn a_block_scalar_appended_on_both_sides_keeps_both_lines() {
        let base = "notes: |\n  one\n  two\nk: v\n";
        let ours = "notes: |\n  one\n  two\n  three\nk: v\n";
        let theirs = "notes: |\n  one\n  two\n  four\nk: v\n";
        assert_eq!(
            yaml(base, ours, theirs),
            "notes: |\n  one\n  two\n  four\n  three\nk: v\n"
        );
    }

    #[test]
    fn sequences_of_named_mappings_merge_by_name() {
        let base = "tools:\n  - name: a\n    on: true\n  - name: b\n    on: true\n";
        let ours = "tools:\n  - name: a\n    on: false\n  - name: b\n    on: true\n  - name: c\n    on: true\n";
        let theirs = "tools:\n  - name: a\n    on: true\n  - name: b\n    on: true\n    note: hi\n";
        assert_eq!(
            yaml(base, ours, theirs),
            "tools:\n  - name: a\n    on: false\n  - name: b\n    on: true\n    note: hi\n  - name: c\n    on: true\n"
        );
    }

    #[test]
    fn anchors_fall_back_to_the_line_merge() {
        assert!(merge(
            b"a: &x 1\nb: *x\n",
            b"a: &x 2\nb: *x\n",
            b"a: &x 1\nb: *x\nc: 3\n",
            &Options::default()
        )
        .is_none());
    }
}
