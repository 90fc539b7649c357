//! YAML: the JSON rules on YAML's data model (mappings key by key, sequences by identity or
//! as sequences, collisions decided symmetrically and journaled), with comments and layout
//! kept: each entry is its key line(s) and value, and the comments and blank lines before it
//! are its lead. Block scalars (`|`, `>`) merge line by line, keeping both sides' appends.
//!
//! saphyr-parser reads the structure; flow collections (`[a, b]`, `{x: 1}`) are taken apart
//! like JSON's. Anchors, aliases, tags, several documents, a flow collection at the top or
//! one changed on both sides that cannot be taken apart fall back to the line merge (never a
//! silent loss).

use std::borrow::Cow;
use std::ops::Range;
use std::sync::Arc;

use foldhash::{HashMap, HashSet};

use saphyr_parser::{Event, Parser, ScalarStyle};
use serde_json::Value;

use crate::eol::{bom_chosen, strip_bom, BOM};
use crate::sides::{Side, Sides};
use crate::tree::{Container, Item, Layout, Merger, Parsed, Shape, Syntax, Val};
use crate::{Merged, Method, Options};

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

/// One parsed node: where its text starts, where its content ends, and what it is.
struct Node {
    start: usize,
    content_end: usize,
    shape: Shape,
    /// For block collections: the items, not yet placed (their leads need the parent).
    items: Vec<Item>,
    block: bool,
    /// For a flow collection taken apart: its container (placed with its entry's span).
    flow: Option<Container>,
}

/// Reads one side's events into containers and keys.
struct Reader<'s, I: Iterator<Item = Spanned>> {
    syntax: &'s mut Yaml,
    side: Side,
    text: &'s [u8],
    depth: usize,
    /// The deepest `depth` yet.
    deepest: usize,
    events: std::iter::Peekable<I>,
    /// The entries read alone, for the events `Ev::Entries`, in order: each one's span and
    /// layout.
    fragments: std::vec::IntoIter<(Range<usize>, &'s Fragment)>,
}

/// An event and its byte span.
type Spanned = (Ev, usize, usize);

/// What the reader needs of an event (saphyr's events carry the scalars' decoded text:
/// kept only where it can be a key, so a store's values are not held twice).
#[derive(Clone, Debug, PartialEq)]
enum Ev {
    Scalar(ScalarStyle, Option<Name>),
    MappingStart,
    SequenceStart,
    MappingEnd,
    SequenceEnd,
    Other,
    /// Entries of a block sequence read alone (see [`Entries`]), this many, spanning their
    /// lines.
    Entries(usize),
}

/// A scalar's decoded text where it can be a key: mostly its own span (a plain key), so
/// nothing is copied.
#[derive(Clone, Debug, PartialEq)]
enum Name {
    /// The text of the event's span.
    Span,
    Owned(Box<str>),
}

impl Name {
    /// The key's bytes, `span` being its event's text.
    fn bytes<'a>(&'a self, span: &'a [u8]) -> &'a [u8] {
        match self {
            Name::Span => span,
            Name::Owned(name) => name.as_bytes(),
        }
    }
}

/// Byte offsets from saphyr's character counts, walking a cursor (spans come in order).
struct Chars<'t> {
    text: &'t str,
    ascii: bool,
    chars: usize,
    bytes: usize,
}

impl Chars<'_> {
    fn at(&mut self, target: usize) -> usize {
        if self.ascii {
            return target.min(self.text.len());
        }
        let bytes = self.text.as_bytes();
        // Up to the target, ASCII (as most of a text is): as many bytes as characters.
        if let Some(step) = target.checked_sub(self.chars) {
            if bytes
                .get(self.bytes..self.bytes + step)
                .is_some_and(|s| s.is_ascii())
            {
                self.bytes += step;
                self.chars = target;
                return self.bytes;
            }
        }
        // Whole 32-byte chunks first (counting first bytes vectorizes), then byte by byte.
        while self.chars < target {
            let Some(chunk) = bytes.get(self.bytes..self.bytes + 32) else {
                break;
            };
            let starts = chunk.iter().filter(|&&b| b & 0xC0 != 0x80).count();
            if self.chars + starts >= target {
                break;
            }
            self.bytes += 32;
            self.chars += starts;
            // A character begun in the chunk is counted: step over the rest of it.
            while self.bytes < bytes.len() && bytes[self.bytes] & 0xC0 == 0x80 {
                self.bytes += 1;
            }
        }
        while self.chars < target && self.bytes < bytes.len() {
            // One character: its first byte and its continuation bytes (10xxxxxx).
            self.bytes += 1;
            while self.bytes < bytes.len() && bytes[self.bytes] & 0xC0 == 0x80 {
                self.bytes += 1;
            }
            self.chars += 1;
        }
        while self.chars > target && self.bytes > 0 {
            self.bytes -= 1;
            while !self.text.is_char_boundary(self.bytes) {
                self.bytes -= 1;
            }
            self.chars -= 1;
        }
        self.bytes
    }
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
    (!status.failed.get() && status.documents.get() == 1)
        .then_some(root)
        .flatten()
        .map(|root| (syntax, root))
}

/// What an event stream saw: an error or an event the merge cannot take, and documents.
#[derive(Default)]
struct Status {
    failed: std::cell::Cell<bool>,
    documents: std::cell::Cell<usize>,
}

/// One side's events with byte spans, read as the reader asks for them (no side's events are
/// held whole). Ends early, `failed` set, at an error, an anchor, an alias or a tag.
struct EventStream<'t> {
    parser: Parser<'t, saphyr_parser::StrInput<'t>>,
    chars: Chars<'t>,
    /// Per open collection: `Some(next node is a key)` for a mapping, `None` for a sequence.
    /// Only keys keep their decoded text: a store's values are not held twice.
    open: Vec<Option<bool>>,
    status: &'t Status,
}

impl<'t> EventStream<'t> {
    fn new(text: &'t str, status: &'t Status) -> Self {
        EventStream {
            parser: Parser::new_from_str(text),
            // saphyr counts characters; the spans are bytes.
            chars: Chars {
                text,
                ascii: text.is_ascii(),
                chars: 0,
                bytes: 0,
            },
            open: Vec::new(),
            status,
        }
    }
}

impl Iterator for EventStream<'_> {
    type Item = Spanned;

    fn next(&mut self) -> Option<Self::Item> {
        if self.status.failed.get() {
            return None;
        }
        let (event, span) = match self.parser.next()? {
            Ok(next) => next,
            Err(_) => {
                self.status.failed.set(true);
                return None;
            }
        };
        let refused = match &event {
            Event::DocumentStart(_) => {
                self.status.documents.set(self.status.documents.get() + 1);
                false
            }
            Event::Alias(_) => true,
            Event::Scalar(_, _, anchor, tag) => *anchor != 0 || tag.is_some(),
            Event::MappingStart(anchor, tag) | Event::SequenceStart(anchor, tag) => {
                *anchor != 0 || tag.is_some()
            }
            _ => false,
        };
        if refused {
            self.status.failed.set(true);
            return None;
        }
        let is_node = matches!(
            event,
            Event::Scalar(..) | Event::MappingStart(..) | Event::SequenceStart(..)
        );
        let is_key = is_node && self.open.last() == Some(&Some(true));
        if let (true, Some(Some(key_next))) = (is_node, self.open.last_mut()) {
            // In a mapping, keys and values alternate.
            *key_next = !*key_next;
        }
        let start = self.chars.at(span.start.index());
        let end = self.chars.at(span.end.index());
        let ev = match event {
            Event::Scalar(value, style, ..) => Ev::Scalar(
                style,
                (is_key && value.len() <= 512).then(|| {
                    if self.chars.text.as_bytes().get(start..end) == Some(value.as_bytes()) {
                        Name::Span
                    } else {
                        Name::Owned(value.as_ref().into())
                    }
                }),
            ),
            Event::MappingStart(..) => {
                self.open.push(Some(true));
                Ev::MappingStart
            }
            Event::SequenceStart(..) => {
                self.open.push(None);
                Ev::SequenceStart
            }
            Event::MappingEnd => {
                self.open.pop();
                Ev::MappingEnd
            }
            Event::SequenceEnd => {
                self.open.pop();
                Ev::SequenceEnd
            }
            _ => Ev::Other,
        };
        Some((ev, start, end))
    }
}

/// Deeper than any memory file: the line merge (and no stack overflow).
const MAX_DEPTH: usize = 200;

/// The entries of a long block sequence (a store's records), read one by one.
///
/// Most of a big YAML merge is reading, and most of what the three sides hold is the same
/// entries in the same words. Each side is cut into entries: a line `- …` at the indent most
/// such lines have, with the lines after it down to the next line that is not blank, not a
/// comment and indented no further than its dash. Each distinct entry text is read once,
/// as if alone, as a document holding a sequence of that one entry (see [`read_entries`]),
/// and what the reader makes of it is kept. A side is then read as its skeleton, its text
/// with each run of such entries replaced by a placeholder entry `- 0` (see [`splice`]),
/// and each entry's layout is placed where the placeholder's scalar is read.
///
/// That is what reading the side whole gives. What a parser makes of an entry depends on
/// its text and on the parser's state where it starts: a line start, its dash read as an
/// item of a block sequence at that indent. The placeholder starts in that same state (the
/// skeleton's text up to there is the side's), and it is checked to be read so: its `0` is
/// a scalar item of a block sequence, exactly where it stands. The line after an entry
/// starts, at or left of the dash, with something other than white space or a comment (or
/// the text ends), so no scalar, flow collection or block of the entry runs on into it, and
/// the state there, all the entry's blocks closed, is the state after the placeholder. The
/// reader makes of an entry's events what it makes of them in place: it looks at the
/// entry's text only. The events' spans differ in two places: where an entry's last block
/// collections end (at the next token in place, at the end alone), which the reader does not
/// look at; and where its last block scalar ends, which the reader trims back to the
/// scalar's content. An entry that ends with a block scalar with no content (in place, its
/// span starts on the next line) is not read alone.
///
/// An entry read alone that is not exactly one item of a block sequence, or that has an
/// error or an event the merge refuses (an anchor, an alias, a tag), or that the reader does
/// not take, stays in the skeleton, read in place. A skeleton with an error or a refused
/// event, or whose placeholders are not read as entries, is not used: the side is read
/// whole.
struct Entries<'t> {
    indent: usize,
    /// Per side, its entries (each followed by a line as above, or the end of the text).
    cuts: Sides<Vec<Range<usize>>>,
    /// Each distinct entry's text, read alone.
    read: HashMap<&'t str, Alone>,
}

/// A side's skeleton events, and the entries its `Ev::Entries` stand for: their spans and
/// what the reader made of them.
type Skeleton<'f> = (Vec<Spanned>, Vec<(Range<usize>, &'f Fragment)>);

/// An entry read alone.
enum Alone {
    /// Not one entry of a block sequence without error or refused event.
    Unread,
    /// YAML, but not as the reader takes it.
    Refused,
    Read(Fragment),
}

/// What the reader made of an entry read alone, offsets from its start.
#[derive(Debug)]
struct Fragment {
    item: Item,
    /// Its containers and keys: `part` of `layout` (kept with the others read with it).
    layout: Arc<Layout>,
    part: usize,
    /// Its flow collections the merge cannot take apart.
    opaque: Vec<usize>,
    /// How deep its nodes go (its value is 1).
    depth: usize,
}

/// An entry read alone whose layout is still being kept (see [`Reading`]).
enum Pending {
    Unread,
    Refused,
    Read {
        item: Item,
        part: usize,
        opaque: Vec<usize>,
        depth: usize,
    },
}

/// Entries being read alone, their layouts kept together in one `Layout`, the reader's
/// lists reused from one to the next.
#[derive(Default)]
struct Reading {
    layout: Layout,
    scratch: Yaml,
    read: Vec<Pending>,
}

impl Reading {
    /// The entries read, in order.
    fn finish(self) -> Vec<Alone> {
        let layout = Arc::new(self.layout);
        self.read
            .into_iter()
            .map(|pending| match pending {
                Pending::Unread => Alone::Unread,
                Pending::Refused => Alone::Refused,
                Pending::Read {
                    item,
                    part,
                    opaque,
                    depth,
                } => Alone::Read(Fragment {
                    item,
                    layout: Arc::clone(&layout),
                    part,
                    opaque,
                    depth,
                }),
            })
            .collect()
    }
}

impl<'t> Entries<'t> {
    /// The entries of the sides, each distinct one read (on two threads if `parallel`); none
    /// if ours has fewer than `min` lines `- …` at any one indent.
    fn new(texts: Sides<Option<&'t str>>, min: usize, parallel: bool) -> Option<Self> {
        // A lone `\r` ends a line for YAML and not for the cutting: such texts are read whole.
        if texts.iter().flatten().any(|t| lone_cr(t)) {
            return None;
        }
        let indent = entry_indent(texts.ours?, min)?;
        let cuts = texts.map(|t| t.map_or_else(Vec::new, |t| cut(t, indent)));
        // Mostly the same entries on every side: room for the most a side has, and some.
        let most = cuts.iter().map(Vec::len).max().unwrap_or(0);
        let mut read = HashMap::with_capacity_and_hasher(most + most / 8, Default::default());
        // Each distinct entry: its side and span there.
        let mut distinct = Vec::with_capacity(most);
        for side in Side::ALL {
            let Some(text) = texts[side] else { continue };
            for r in &cuts[side] {
                read.entry(&text[r.clone()]).or_insert_with(|| {
                    distinct.push((side, r.clone()));
                    Alone::Unread
                });
            }
        }
        // Entries that follow each other in a side are read as its text.
        let read_all = |entries: &[(Side, Range<usize>)]| -> Vec<Alone> {
            let mut reading = Reading::default();
            reading.read.reserve(entries.len());
            // Room for their layouts, not grown (and copied) as they come: about a key and
            // an item per line.
            let lines = entries.iter().map(|(side, r)| {
                let text = texts[*side].unwrap_or_default().as_bytes();
                memchr::memchr_iter(b'\n', &text[r.clone()]).count()
            });
            reading.layout.reserve(entries.len(), lines.sum());
            for run in entries.chunk_by(|a, b| a.0 == b.0 && a.1.end == b.1.start) {
                let text = texts[run[0].0].unwrap_or_default();
                read_entries(text, run, indent, &mut reading);
            }
            reading.finish()
        };
        let alone = if parallel && distinct.len() > 1 {
            // Two halves of about the same size.
            let total: usize = distinct.iter().map(|(_, r)| r.len()).sum();
            let mut size = 0;
            let half = distinct
                .iter()
                .position(|(_, r)| {
                    size += r.len();
                    size * 2 >= total
                })
                .map_or(distinct.len(), |i| i + 1);
            let (first, second) = distinct.split_at(half);
            std::thread::scope(|scope| {
                let second = scope.spawn(|| read_all(second));
                let mut alone = read_all(first);
                // A thread that panicked (saphyr returns errors): the sides are read whole.
                alone.extend(second.join().ok()?);
                Some(alone)
            })?
        } else {
            read_all(&distinct)
        };
        for ((side, r), alone) in distinct.into_iter().zip(alone) {
            if let Some(text) = texts[side] {
                read.insert(&text[r], alone);
            }
        }
        Some(Entries { indent, cuts, read })
    }

    /// One side's skeleton events, and the entries of its `Ev::Entries` events in order
    /// (their spans and layouts); or `None`: read the side whole.
    fn events(&self, side: Side, text: &str) -> Option<Skeleton<'_>> {
        let entries =
            self.cuts[side]
                .iter()
                .filter_map(|r| match self.read.get(&text[r.clone()])? {
                    Alone::Read(fragment) => Some((r.clone(), (r.clone(), fragment))),
                    _ => None,
                });
        splice(text, self.indent, entries)
    }

    /// Whether `text`, the merge's result, is YAML, its entries that the sides hold read
    /// already (and new ones read alone); `false` when that does not say: read it whole.
    fn valid(&self, text: &str) -> bool {
        if lone_cr(text) {
            return false;
        }
        let cuts = cut(text, self.indent);
        let mut fresh: HashMap<&str, bool> = HashMap::default();
        for r in &cuts {
            let entry = &text[r.clone()];
            if !self.read.contains_key(entry) {
                fresh
                    .entry(entry)
                    .or_insert_with(|| entry_events(entry, self.indent).is_some());
            }
        }
        let entries = cuts.iter().filter_map(|r| {
            let entry = &text[r.clone()];
            let read = match self.read.get(entry) {
                Some(alone) => !matches!(alone, Alone::Unread),
                None => *fresh.get(entry)?,
            };
            read.then(|| (r.clone(), ()))
        });
        splice(text, self.indent, entries).is_some()
    }
}

/// Whether `text` holds a `\r` that is not part of a `\r\n`.
fn lone_cr(text: &str) -> bool {
    let bytes = text.as_bytes();
    memchr::memchr_iter(b'\r', bytes).any(|i| bytes.get(i + 1) != Some(&b'\n'))
}

/// The indent of the lines `- …` most common in `text`, if there are at least `min` of them.
fn entry_indent(text: &str, min: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut counts = [0usize; 64];
    let lines = std::iter::once(0).chain(memchr::memchr_iter(b'\n', bytes).map(|i| i + 1));
    for start in lines {
        // (From the line's start on: only its first characters are looked at.)
        let line = &bytes[start..];
        let indent = line.iter().take_while(|&&b| b == b' ').count();
        if indent < counts.len() && is_dash(&line[indent..]) {
            counts[indent] += 1;
        }
    }
    let (indent, &count) = counts
        .iter()
        .enumerate()
        .max_by_key(|&(indent, &count)| (count, std::cmp::Reverse(indent)))?;
    (count >= min).then_some(indent)
}

/// Whether a line's text after its indent starts an entry: `-` then a space or the line's end.
fn is_dash(rest: &[u8]) -> bool {
    matches!(
        rest,
        [b'-'] | [b'-', b' ' | b'\n', ..] | [b'-', b'\r', b'\n', ..]
    )
}

/// The entries of the block sequence at `indent` in `text`, as line ranges (see [`Entries`]):
/// each from a line `- …` at that indent to the next line that starts, at or left of the
/// dash, with something other than white space or `#`; only those followed by such a line
/// that does not start with a tab, or by the end of the text.
fn cut(text: &str, indent: usize) -> Vec<Range<usize>> {
    let bytes = text.as_bytes();
    let mut cuts = Vec::new();
    let mut open: Option<usize> = None;
    let lines = std::iter::once(0).chain(memchr::memchr_iter(b'\n', bytes).map(|i| i + 1));
    for at in lines.filter(|&at| at < bytes.len()) {
        // A line indented past the dash is inside whatever is open (most lines).
        if bytes
            .get(at..=at + indent)
            .is_some_and(|s| s.iter().all(|&b| b == b' '))
        {
            continue;
        }
        let spaces = bytes[at..].iter().take_while(|&&b| b == b' ').count();
        let rest = &bytes[at + spaces..];
        let line = &rest[..memchr::memchr(b'\n', rest).unwrap_or(rest.len())];
        let blank = line.iter().all(|&b| matches!(b, b' ' | b'\t' | b'\r'));
        if blank || line[0] == b'#' {
            continue;
        }
        // A line that ends the entry before it.
        if let Some(start) = open.take() {
            // After a tab, where the line's first token is is not plain.
            if line[0] != b'\t' {
                cuts.push(start..at);
            }
        }
        if spaces == indent && is_dash(rest) {
            open = Some(at);
        }
    }
    if let Some(start) = open {
        cuts.push(start..bytes.len());
    }
    cuts
}

/// Entries (at `indent`) that follow each other in `text` (`run`: their spans), each read
/// alone (see [`Entries`]).
///
/// Read together, as their text, each is read as alone: the text is a sequence of them,
/// each starting where one ends, and every entry is followed by the dash of the next (or the
/// end). If that reading has an error or a refused event, or if its items are not the
/// entries, one for one, inside them, each entry is read by itself.
fn read_entries(text: &str, run: &[(Side, Range<usize>)], indent: usize, reading: &mut Reading) {
    let (Some(first), Some(last)) = (run.first(), run.last()) else {
        return;
    };
    let at = first.1.start;
    let starts = run.iter().map(|(_, r)| r.start - at);
    let read = reading.read.len();
    let kept = reading.layout.len();
    if read_together(&text[at..last.1.end], starts, indent, reading).is_some() {
        return;
    }
    // What was read together before it failed is read again, by itself.
    reading.read.truncate(read);
    reading.layout.truncate(kept);
    for (_, r) in run {
        let entry = &text[r.clone()];
        let pending = match entry_events(entry, indent) {
            Some(events) => fragment(entry, events.into_iter(), reading),
            None => Pending::Unread,
        };
        reading.read.push(pending);
    }
}

/// Entries read together (see [`read_entries`]): `text` holds them, each starting at one of
/// `starts`; `None` if that reading says nothing of them alone.
fn read_together(
    text: &str,
    starts: impl Iterator<Item = usize>,
    indent: usize,
    reading: &mut Reading,
) -> Option<()> {
    let bytes = text.as_bytes();
    let starts: Vec<usize> = starts.chain([text.len()]).collect();
    // Each entry but the last is followed by the next on a line of its own.
    let ends = &starts[1..starts.len() - 1];
    if ends
        .iter()
        .any(|&end| bytes.get(end.wrapping_sub(1)) != Some(&b'\n'))
    {
        return None;
    }
    let status = Status::default();
    let mut stream = EventStream::new(text, &status);
    sequence_at(&mut stream, indent)?;
    let mut events = Vec::new();
    for bounds in starts.windows(2) {
        let (at, next) = (bounds[0], bounds[1]);
        let len = next - at;
        let mut depth = 0usize;
        loop {
            let (ev, start, end) = stream.next()?;
            // Each event inside its entry; but the ends of its blocks are at the next token,
            // and a block scalar ends past the next line's indent.
            let past = || bytes[next..end.max(next)].iter().all(|&b| b == b' ');
            let inside = match &ev {
                Ev::MappingEnd | Ev::SequenceEnd => at <= start,
                Ev::Scalar(ScalarStyle::Literal | ScalarStyle::Folded, _) => {
                    at <= start && start < next && past()
                }
                _ => at <= start && start < next && end <= next,
            };
            if !inside {
                return None;
            }
            match ev {
                Ev::MappingStart | Ev::SequenceStart => depth += 1,
                Ev::MappingEnd | Ev::SequenceEnd => depth = depth.checked_sub(1)?,
                Ev::Other | Ev::Entries(_) => return None,
                Ev::Scalar(..) => {}
            }
            // Read alone, what runs past the entry ends where it does.
            let event = (ev, (start - at).min(len), (end.max(start) - at).min(len));
            if empty_block_at_end(&event, &text[at..next]) {
                return None;
            }
            events.push(event);
            if depth == 0 {
                break;
            }
        }
        let pending = fragment(&text[at..next], events.drain(..), reading);
        reading.read.push(pending);
    }
    sequence_closed(&mut stream, &status)
}

/// Whether `event`, of an entry `text` read alone, is a block scalar with no content at its
/// end: read alone, its span runs from its indicator to the end of the text; in place, from
/// the line after the entry. (A block scalar with content starts at it, in the entry.)
fn empty_block_at_end(event: &Spanned, text: &str) -> bool {
    let (ev, start, end) = event;
    matches!(
        ev,
        Ev::Scalar(ScalarStyle::Literal | ScalarStyle::Folded, _)
    ) && *end >= text.len()
        && matches!(text.as_bytes().get(*start), Some(b'|' | b'>'))
}

/// What the reader makes of an entry, `text`, from its `events` read alone.
fn fragment(text: &str, events: impl Iterator<Item = Spanned>, reading: &mut Reading) -> Pending {
    let scratch = &mut reading.scratch;
    let mut reader = Reader {
        syntax: scratch,
        side: Side::Base,
        text: text.as_bytes(),
        depth: 0,
        deepest: 0,
        events: events.peekable(),
        fragments: Vec::new().into_iter(),
    };
    let item = reader.item();
    let (depth, rest) = (reader.deepest, reader.events.next().is_some());
    let item = item.filter(|_| !rest && sound(scratch.parsed.containers(Side::Base), text.len()));
    let Some(item) = item else {
        scratch.parsed.clear(Side::Base);
        scratch.opaque[Side::Base].clear();
        return Pending::Refused;
    };
    Pending::Read {
        item,
        part: reading.layout.add(&mut scratch.parsed, Side::Base),
        opaque: scratch.opaque[Side::Base].drain().collect(),
        depth,
    }
}

/// Reads the stream's and the document's starts, then the start of a block sequence whose
/// first dash is at `indent`; `None` if the text does not begin so.
fn sequence_at(stream: &mut EventStream<'_>, indent: usize) -> Option<()> {
    let (Ev::Other, ..) = stream.next()? else {
        return None;
    };
    let (Ev::Other, ..) = stream.next()? else {
        return None;
    };
    let (Ev::SequenceStart, start, end) = stream.next()? else {
        return None;
    };
    (start == indent && end == indent).then_some(())
}

/// Reads the ends of the sequence, the document and the stream, and nothing after them:
/// `None` unless the text was that one document, read without an error.
fn sequence_closed(stream: &mut EventStream<'_>, status: &Status) -> Option<()> {
    let (Ev::SequenceEnd, ..) = stream.next()? else {
        return None;
    };
    let (Ev::Other, ..) = stream.next()? else {
        return None;
    };
    let (Ev::Other, ..) = stream.next()? else {
        return None;
    };
    (stream.next().is_none() && !status.failed.get() && status.documents.get() == 1).then_some(())
}

/// The events of an entry read alone, offsets from its start: `None` unless the text is one
/// block sequence, its dash at `indent`, holding one item, with no error and no refused event.
fn entry_events(text: &str, indent: usize) -> Option<Vec<Spanned>> {
    let status = Status::default();
    let mut stream = EventStream::new(text, &status);
    sequence_at(&mut stream, indent)?;
    // The one item.
    let mut events = Vec::new();
    let mut depth = 0usize;
    loop {
        let event = stream.next()?;
        if empty_block_at_end(&event, text) {
            return None;
        }
        match event.0 {
            Ev::MappingStart | Ev::SequenceStart => depth += 1,
            Ev::MappingEnd | Ev::SequenceEnd => depth = depth.checked_sub(1)?,
            Ev::Other | Ev::Entries(_) => return None,
            Ev::Scalar(..) => {}
        }
        events.push(event);
        if depth == 0 {
            break;
        }
    }
    sequence_closed(&mut stream, &status)?;
    Some(events)
}

/// A text's events read as its skeleton: the text with each run of `entries` that follow
/// each other replaced by one placeholder entry, whose scalar's event becomes an
/// `Ev::Entries` spanning the run; and each entry's `T`, in order. `None` if there are no
/// entries, if the skeleton has an error or a refused event, or if a placeholder is not read
/// as a scalar item of a block sequence where it stands.
///
/// (One placeholder stands for a run as it does for one entry: after an entry, as after a
/// placeholder, the parser is where it is after any item of the sequence, before the next.)
fn splice<T>(
    text: &str,
    indent: usize,
    entries: impl Iterator<Item = (Range<usize>, T)>,
) -> Option<(Vec<Spanned>, Vec<T>)> {
    let placeholder = format!("{}- 0\n", " ".repeat(indent));
    // The runs: each one's span and how many entries it holds.
    let mut runs: Vec<(Range<usize>, usize)> = Vec::new();
    let mut values = Vec::new();
    for (entry, value) in entries {
        match runs.last_mut() {
            Some((run, count)) if run.end == entry.start => {
                run.end = entry.end;
                *count += 1;
            }
            _ => runs.push((entry, 1)),
        }
        values.push(value);
    }
    if runs.is_empty() {
        return None;
    }
    // Per placeholder: where it starts in the skeleton.
    let mut places = Vec::with_capacity(runs.len());
    let mut skeleton = String::new();
    let mut at = 0;
    for (run, _) in &runs {
        skeleton.push_str(&text[at..run.start]);
        places.push(skeleton.len());
        skeleton.push_str(&placeholder);
        at = run.end;
    }
    skeleton.push_str(&text[at..]);
    // A skeleton offset in the text: the placeholder's indent and dash are its run's.
    let map = |x: usize| -> Option<usize> {
        let i = places.partition_point(|&p| p <= x).checked_sub(1);
        let Some((p, (run, _))) = i.map(|i| (places[i], &runs[i])) else {
            return Some(x);
        };
        if x <= p + indent {
            Some(run.start + x - p)
        } else if x >= p + placeholder.len() {
            Some(run.end + x - p - placeholder.len())
        } else {
            None
        }
    };
    let status = Status::default();
    let mut events = Vec::new();
    // Per open collection: whether it is a block sequence.
    let mut open = Vec::new();
    let mut next = 0;
    for (ev, start, end) in EventStream::new(&skeleton, &status) {
        if let (Some(p), Some((run, count))) = (places.get(next), runs.get(next)) {
            let zero = p + indent + 2;
            if start == zero && ev == Ev::SequenceStart && end == start {
                // A block sequence at the indent of its key starts where its first entry's
                // content does: after the dash, white space and a comment.
                let bytes = text.as_bytes();
                let mut at = skip_spaces(bytes, run.start + indent + 1);
                if bytes.get(at) == Some(&b'#') {
                    at += memchr::memchr2(b'\n', b'\r', &bytes[at..]).unwrap_or(bytes.len() - at);
                }
                open.push(true);
                events.push((ev, at, at));
                continue;
            }
            if start == zero {
                // The placeholder's scalar, an item of a block sequence.
                if ev != Ev::Scalar(ScalarStyle::Plain, None)
                    || end != zero + 1
                    || open.last() != Some(&true)
                {
                    return None;
                }
                events.push((Ev::Entries(*count), run.start, run.end));
                next += 1;
                continue;
            }
        }
        match ev {
            Ev::MappingStart => open.push(false),
            Ev::SequenceStart => open.push(end == start),
            Ev::MappingEnd | Ev::SequenceEnd => {
                open.pop();
            }
            _ => {}
        }
        events.push((ev, map(start)?, map(end)?));
    }
    (!status.failed.get() && status.documents.get() == 1 && next == places.len())
        .then_some((events, values))
}

impl<'s, I: Iterator<Item = Spanned>> Reader<'s, I> {
    /// The root value of a one-document YAML text whose top is a block collection.
    fn read(
        syntax: &'s mut Yaml,
        side: Side,
        text: &'s str,
        events: I,
        fragments: Vec<(Range<usize>, &'s Fragment)>,
        head: usize,
    ) -> Option<Val> {
        let mut reader = Reader {
            syntax,
            side,
            text: text.as_bytes(),
            depth: 0,
            deepest: 0,
            events: events.peekable(),
            fragments: fragments.into_iter(),
        };
        // StreamStart, DocumentStart.
        reader.events.next()?;
        reader.events.next()?;
        let root = reader.node()?;
        if !root.block || !matches!(root.shape, Shape::Object | Shape::Array) {
            return None;
        }
        // The root starts the file: what comes before its first entry (comments, `---`) is
        // that entry's lead, and travels with it.
        let end = line_break(reader.text, root.content_end);
        let head = if root.items.first().is_some_and(|i| head <= i.start) {
            head
        } else {
            0
        };
        let root = reader.place(root, head, end);
        // The rest of the stream: errors and further documents show there.
        reader.events.by_ref().for_each(drop);
        // Spans the merge can trust, or the line merge (entries read alone were checked so).
        sound(reader.syntax.parsed.containers(side), text.len()).then_some(root)
    }

    /// Registers a block collection's container under the value span `start..end`.
    fn place(&mut self, node: Node, start: usize, end: usize) -> Val {
        let mut items = node.items;
        let mut prev = start;
        for item in &mut items {
            item.lead = prev;
            prev = item.end;
        }
        let val = Val {
            side: self.side,
            start,
            end,
            shape: node.shape,
        };
        self.syntax.parsed.add_container(
            self.side,
            start..end,
            node.shape == Shape::Object,
            Container {
                open: start,
                items,
                close: prev.max(start),
                end,
                flow: false,
            },
        );
        val
    }

    fn node(&mut self) -> Option<Node> {
        // Deeper than any memory file: the line merge (and no stack overflow).
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return None;
        }
        self.deepest = self.deepest.max(self.depth);
        let node = self.node_inner();
        self.depth -= 1;
        node
    }

    fn node_inner(&mut self) -> Option<Node> {
        let (event, start, end) = self.events.next()?;
        match event {
            Ev::Scalar(style, _) => {
                let shape = match style {
                    ScalarStyle::Plain => Shape::Scalar,
                    ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted => Shape::String,
                    ScalarStyle::Literal | ScalarStyle::Folded => Shape::Text,
                };
                let mut content_end = end;
                while content_end > start && self.text[content_end - 1].is_ascii_whitespace() {
                    content_end -= 1;
                }
                Some(Node {
                    start,
                    content_end,
                    shape,
                    items: Vec::new(),
                    block: false,
                    flow: None,
                })
            }
            Ev::MappingStart | Ev::SequenceStart => {
                let object = matches!(event, Ev::MappingStart);
                let flow = end > start; // a flow collection's start event spans its bracket
                if flow {
                    // Its events, to the matching end.
                    let mut evs = vec![(event, start, end)];
                    let mut depth = 1;
                    while depth > 0 {
                        let e = self.events.next()?;
                        match e.0 {
                            Ev::MappingStart | Ev::SequenceStart => depth += 1,
                            Ev::MappingEnd | Ev::SequenceEnd => depth -= 1,
                            _ => {}
                        }
                        evs.push(e);
                    }
                    let last = evs.last().map_or(end, |e| e.2);
                    let mut flow = Flow {
                        text: self.text,
                        evs: &evs,
                        at: 0,
                        nested: Vec::new(),
                        keys: Vec::new(),
                    };
                    if let Some((shape, span, c)) = flow.collection() {
                        let (nested, keys) = (flow.nested, flow.keys);
                        for (span, object, c) in nested {
                            self.syntax.parsed.add_container(self.side, span, object, c);
                        }
                        for (item, key) in keys {
                            self.syntax.parsed.add_key(self.side, &item, key);
                        }
                        return Some(Node {
                            start,
                            content_end: span.end,
                            shape,
                            items: Vec::new(),
                            block: false,
                            flow: Some(c),
                        });
                    }
                    // Merged as one value.
                    self.syntax.opaque[self.side].insert(start);
                    return Some(Node {
                        start,
                        content_end: last,
                        shape: Shape::Scalar,
                        items: Vec::new(),
                        block: false,
                        flow: None,
                    });
                }
                if object {
                    self.mapping(start)
                } else {
                    self.sequence(start)
                }
            }
            _ => None,
        }
    }

    fn mapping(&mut self, start: usize) -> Option<Node> {
        let mut items = Vec::new();
        let mut content_end = start;
        loop {
            if matches!(self.events.peek(), Some((Ev::MappingEnd, ..))) {
                self.events.next();
                break;
            }
            let (key, key_start, key_end) = self.events.next()?;
            let Ev::Scalar(_, Some(name)) = key else {
                return None; // a complex key (or a key longer than any name)
            };
            let name = match name {
                Name::Span => None,
                Name::Owned(name) => Some(name),
            };
            let colon = skip_spaces(self.text, key_end);
            if self.text.get(colon) != Some(&b':') {
                return None;
            }
            let after = colon + 1;
            let value = self.node()?;
            let item = self.entry(key_start, after, value)?;
            content_end = content_end.max(item.end);
            match name {
                Some(name) if self.text[key_start..key_end] != *name.as_bytes() => {
                    self.syntax
                        .parsed
                        .add_key(self.side, &item, name.into_boxed_bytes());
                }
                _ => {
                    self.syntax
                        .parsed
                        .add_key_span(self.side, &item, key_start..key_end);
                }
            }
            items.push(item);
        }
        Some(Node {
            start,
            content_end,
            shape: Shape::Object,
            items,
            block: true,
            flow: None,
        })
    }

    fn sequence(&mut self, start: usize) -> Option<Node> {
        let mut items = Vec::new();
        let mut content_end = start;
        loop {
            let new = items.len();
            match self.events.peek() {
                Some((Ev::SequenceEnd, ..)) => {
                    self.events.next();
                    break;
                }
                Some(&(Ev::Entries(count), ..)) => {
                    // Entries read alone, placed here.
                    self.events.next();
                    for _ in 0..count {
                        let (span, fragment) = self.fragments.next()?;
                        items.push(self.place_entry(span, fragment)?);
                    }
                }
                _ => {
                    let item = self.item()?;
                    items.push(item);
                }
            }
            for item in &items[new..] {
                content_end = content_end.max(item.end);
            }
        }
        Some(Node {
            start,
            content_end,
            shape: Shape::Array,
            items,
            block: true,
            flow: None,
        })
    }

    /// An entry read alone, for its text at `span`: as if read here.
    fn place_entry(&mut self, span: Range<usize>, fragment: &Fragment) -> Option<Item> {
        let at = span.start;
        if self.depth + fragment.depth > MAX_DEPTH {
            return None;
        }
        self.deepest = self.deepest.max(self.depth + fragment.depth);
        self.syntax.parsed.place(
            self.side,
            at,
            span.end,
            Arc::clone(&fragment.layout),
            fragment.part,
        );
        self.syntax.opaque[self.side].extend(fragment.opaque.iter().map(|o| o + at));
        let i = fragment.item;
        Some(Item {
            lead: i.lead + at,
            start: i.start + at,
            value: i.value + at,
            end: i.end + at,
            shape: i.shape,
        })
    }

    /// The next item of a block sequence: its value, the dash before it.
    fn item(&mut self) -> Option<Item> {
        let value = self.node()?;
        // The dash before the value, on its line (a block scalar's, before its indicator:
        // its span may start at its content, lines below).
        let mut dash = value.start;
        if value.shape == Shape::Text {
            let mut end = dash;
            while end > 0 && self.text[end - 1].is_ascii_whitespace() {
                end -= 1;
            }
            let line = self.text[..end]
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |i| i + 1);
            if let Some(at) = self.text[line..end]
                .iter()
                .position(|&b| b == b'|' || b == b'>')
            {
                dash = line + at;
            }
        }
        while dash > 0 && matches!(self.text[dash - 1], b' ' | b'\t') {
            dash -= 1;
        }
        if dash == 0 || self.text[dash - 1] != b'-' {
            return None;
        }
        self.entry(dash - 1, dash, value)
    }

    /// An entry whose head (`key:` or `-`) runs from `start` to `after`, holding `value`.
    fn entry(&mut self, start: usize, after: usize, value: Node) -> Option<Item> {
        let text = self.text;
        let same_line = !text[after..value.start.max(after)].contains(&b'\n');
        let empty = value.content_end <= value.start && !value.block;
        // An entry ends where its last line's text ends: the line break after it belongs to
        // what follows, so a file's missing final newline changes no entry.
        let (value_start, end) = if empty {
            // `key:` with nothing after it: the rest of the line is the value.
            (after, line_break(text, after))
        } else if value.block {
            let end = line_break(text, value.content_end);
            let value_start = if same_line {
                value.start
            } else {
                line_break(text, after)
            };
            (value_start, end)
        } else {
            // A scalar, or a block scalar whose indicator follows the colon.
            let first = skip_spaces(text, after);
            let value_start =
                if same_line || text.get(first).is_some_and(|&c| c == b'|' || c == b'>') {
                    first
                } else {
                    value.start
                };
            (
                value_start,
                line_break(text, value.content_end.max(value_start)),
            )
        };
        let shape = value.shape;
        if let Some(c) = value.flow {
            // The entry's value runs to its line's end (a comment after `]` closes it).
            self.syntax.parsed.add_container(
                self.side,
                value_start..end,
                shape == Shape::Object,
                c,
            );
        } else if value.block {
            self.place(value, value_start, end);
        }
        Some(Item {
            lead: start,
            start,
            value: value_start,
            end,
            shape,
        })
    }
}

/// Takes a flow collection (`[a, b]`, `{x: 1, y: [2]}`) apart into containers, as JSON's
/// are: items apart by commas, leads only white space. Anything else inside (a comment, a
/// `[k: v]` pair, an empty entry) leaves it one value.
struct Flow<'e> {
    text: &'e [u8],
    evs: &'e [Spanned],
    at: usize,
    /// Collections inside it, by their exact spans.
    nested: Vec<(Range<usize>, bool, Container)>,
    keys: Vec<(Item, Vec<u8>)>,
}

impl Flow<'_> {
    /// The collection at `at`: its shape, span (brackets included) and container.
    fn collection(&mut self) -> Option<(Shape, Range<usize>, Container)> {
        let text = self.text;
        let (ev, start, _) = self.evs.get(self.at)?;
        self.at += 1;
        let (object, closer) = match ev {
            Ev::MappingStart if text.get(*start) == Some(&b'{') => (true, b'}'),
            Ev::SequenceStart if text.get(*start) == Some(&b'[') => (false, b']'),
            _ => return None,
        };
        let open = start + 1;
        let mut items = Vec::new();
        let mut lead = open;
        let bracket = loop {
            let (ev, s, e) = self.evs.get(self.at)?;
            let (s, e) = (*s, *e);
            if matches!(ev, Ev::MappingEnd | Ev::SequenceEnd) {
                self.at += 1;
                if text.get(s) != Some(&closer) || !blank(&text[lead..s]) {
                    return None;
                }
                break s;
            }
            if !blank(&text[lead..s]) {
                return None;
            }
            let (item_start, key) = if object {
                let Ev::Scalar(_, Some(name)) = ev else {
                    return None;
                };
                let colon = skip_spaces(text, e);
                if e <= s || text.get(colon) != Some(&b':') {
                    return None;
                }
                self.at += 1;
                (s, Some((name.bytes(&text[s..e]).to_vec(), colon + 1)))
            } else {
                (s, None)
            };
            let (shape, value) = self.value()?;
            if let Some((_, after)) = &key {
                if value.start < *after || !blank(&text[*after..value.start]) {
                    return None;
                }
            }
            let item = Item {
                lead,
                start: item_start,
                value: value.start,
                end: value.end,
                shape,
            };
            if let Some((name, _)) = key {
                self.keys.push((item, name));
            }
            items.push(item);
            let next = skip_blank(text, value.end);
            match text.get(next) {
                Some(b',') => lead = next + 1,
                Some(&c) if c == closer => lead = value.end,
                _ => return None,
            }
        };
        let close = items.last().map_or(open, |i: &Item| i.end);
        let shape = if object { Shape::Object } else { Shape::Array };
        let container = Container {
            open,
            items,
            close,
            end: bracket,
            flow: true,
        };
        Some((shape, *start..bracket + 1, container))
    }

    /// An entry's value: a scalar, or a collection (placed among the nested ones).
    fn value(&mut self) -> Option<(Shape, Range<usize>)> {
        let (ev, s, e) = self.evs.get(self.at)?;
        let (s, e) = (*s, *e);
        match ev {
            Ev::Scalar(style, _) => {
                self.at += 1;
                let shape = match style {
                    ScalarStyle::Plain => Shape::Scalar,
                    ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted => Shape::String,
                    ScalarStyle::Literal | ScalarStyle::Folded => return None,
                };
                let mut end = e;
                while end > s && self.text[end - 1].is_ascii_whitespace() {
                    end -= 1;
                }
                (end > s).then_some((shape, s..end))
            }
            Ev::MappingStart | Ev::SequenceStart => {
                let (shape, span, c) = self.collection()?;
                self.nested.push((span.clone(), shape == Shape::Object, c));
                Some((shape, span))
            }
            _ => None,
        }
    }
}

/// Whether containers' spans are in order, and inside a text of `len` bytes.
fn sound<'c>(
    mut containers: impl Iterator<Item = (&'c (usize, usize, bool), &'c Container)>,
    len: usize,
) -> bool {
    containers.all(|(&(start, end, _), c)| {
        let mut at = c.open;
        let ordered = c.items.iter().all(|i| {
            let ok = at <= i.lead && i.lead <= i.start && i.start <= i.value && i.value <= i.end;
            at = i.end;
            ok
        });
        start <= c.open
            && ordered
            && at <= c.close
            && c.close <= c.end
            && c.end <= end
            && end <= len
    })
}

fn blank(text: &[u8]) -> bool {
    text.iter().all(u8::is_ascii_whitespace)
}

fn skip_blank(text: &[u8], mut pos: usize) -> usize {
    while pos < text.len() && text[pos].is_ascii_whitespace() {
        pos += 1;
    }
    pos
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

fn skip_spaces(text: &[u8], mut pos: usize) -> usize {
    while pos < text.len() && matches!(text[pos], b' ' | b'\t') {
        pos += 1;
    }
    pos
}

/// Where the line holding `pos` ends: its line break (`\r\n` or `\n`), or the end of the text.
fn line_break(text: &[u8], pos: usize) -> usize {
    let pos = pos.min(text.len());
    match text[pos..].iter().position(|&b| b == b'\n') {
        Some(i) if pos + i > 0 && text[pos + i - 1] == b'\r' => pos + i - 1,
        Some(i) => pos + i,
        None => text.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Policy;

    /// The merge of three texts.
    fn merge(base: &[u8], ours: &[u8], theirs: &[u8], options: &Options) -> Option<Merged> {
        super::merge(Sides::new(base, ours, theirs), options)
    }

    fn yaml(base: &str, ours: &str, theirs: &str) -> String {
        let run = |o: &str, t: &str| {
            merge(
                base.as_bytes(),
                o.as_bytes(),
                t.as_bytes(),
                &Options::default(),
            )
            .map(|m| String::from_utf8(m.output).unwrap())
        };
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
    fn character_counts_become_byte_offsets() {
        let text = "a: café λ →\n".repeat(20) + &"x".repeat(70) + "é€𝄞 end";
        let offsets: Vec<usize> = text
            .char_indices()
            .map(|(i, _)| i)
            .chain([text.len()])
            .collect();
        let mut chars = Chars {
            text: &text,
            ascii: false,
            chars: 0,
            bytes: 0,
        };
        // Forward in steps of every size, then back.
        for step in [1, 3, 31, 32, 33, 100] {
            chars.chars = 0;
            chars.bytes = 0;
            for target in (0..offsets.len()).step_by(step) {
                assert_eq!(chars.at(target), offsets[target], "step {step} to {target}");
            }
        }
        assert_eq!(chars.at(5), offsets[5]);
        assert_eq!(chars.at(offsets.len() + 10), text.len());
    }

    #[test]
    fn flow_sequences_keep_both_sides_inserts() {
        assert_eq!(
            yaml(
                "tags: [a, b]  # topics\nname: x\n",
                "tags: [a, b, c]  # topics\nname: x\n",
                "tags: [a, b, d]  # topics\nname: x\n"
            ),
            "tags: [a, b, c, d]  # topics\nname: x\n"
        );
        assert_eq!(
            yaml(
                "- [a, \"b\", {x: 1, z: 0}]\n",
                "- [a, \"b\", {x: 2, z: 0}, c]\n",
                "- [\"b\", {x: 1, z: 0, y: [3]}]\n"
            ),
            "- [\"b\", {x: 2, z: 0, y: [3]}, c]\n"
        );
    }

    #[test]
    fn flow_mappings_merge_key_by_key() {
        assert_eq!(
            yaml(
                "limits: {cpu: 1, mem: 512}\n",
                "limits: {cpu: 2, mem: 512}\n",
                "limits: {cpu: 1, mem: 1024, disk: 9}\n"
            ),
            "limits: {cpu: 2, mem: 1024, disk: 9}\n"
        );
    }

    #[test]
    fn a_flow_collection_with_a_comment_inside_goes_to_the_line_merge() {
        let base = "tags: [a, # first\n  b]\n";
        let run = |o: &str, t: &str| {
            merge(
                base.as_bytes(),
                o.as_bytes(),
                t.as_bytes(),
                &Options::default(),
            )
        };
        assert!(run(
            "tags: [a, # first\n  b, c]\n",
            "tags: [a, # first\n  b, d]\n"
        )
        .is_none());
        // Changed on one side only, it is that side's value.
        let one = run(
            "tags: [a, # first\n  b, c]\n",
            "tags: [a, # first\n  b]\nk: 1\n",
        );
        assert_eq!(
            one.map(|m| m.output),
            Some(b"tags: [a, # first\n  b, c]\nk: 1\n".to_vec())
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

    // ─────────────── entries read alone (`Entries`) ───────────────

    /// Entries read alone at any size, their reading on two threads.
    const FORCED: Tuning = Tuning {
        parallel: 0,
        entries: 0,
        min_entries: 1,
    };

    /// Entries read alone at any size, on one thread.
    const FORCED_ONE_THREAD: Tuning = Tuning {
        parallel: usize::MAX,
        entries: 0,
        min_entries: 1,
    };

    /// Every side read whole.
    const WHOLE: Tuning = Tuning {
        parallel: usize::MAX,
        entries: usize::MAX,
        min_entries: usize::MAX,
    };

    /// A side's layout as the merge sees it: its root, every container and key, and the
    /// flow collections it cannot take apart.
    fn layout(side: Side, text: &str, entries: Option<&Entries>) -> Option<String> {
        let (mut y, root) = read_side(side, text, 0, entries)?;
        y.parsed.seal(side);
        let mut opaque: Vec<usize> = y.opaque[side].iter().copied().collect();
        opaque.sort_unstable();
        Some(format!(
            "{root:?}\n{}\n{opaque:?}",
            y.parsed.flattened(side, text.as_bytes())
        ))
    }

    /// Reads base, ours and theirs whole and entry by entry: the same layouts. Returns how
    /// many sides were read entry by entry.
    fn same_layouts(texts: [&str; 3]) -> usize {
        let sides = Sides::from(texts);
        let entries = Entries::new(sides.map(Some), 1, false);
        let mut spliced = 0;
        for side in Side::ALL {
            let whole = layout(side, sides[side], None);
            let by_entries = layout(side, sides[side], entries.as_ref());
            assert_eq!(whole, by_entries, "side {side} of {texts:#?}");
            let e = entries.as_ref();
            spliced += usize::from(e.is_some_and(|e| e.events(side, sides[side]).is_some()));
        }
        spliced
    }

    type Outcome = Option<(String, bool, Vec<crate::Record>)>;

    fn merge_with(base: &str, ours: &str, theirs: &str, tuning: Tuning) -> Outcome {
        let input = Sides::new(base, ours, theirs).map(str::as_bytes);
        merge_tuned(input, &Options::default(), tuning).map(|m| {
            let output = String::from_utf8(m.output).expect("UTF-8 in, UTF-8 out");
            (output, m.conflicted, m.records)
        })
    }

    /// Merges both ways, whole and entry by entry (on one thread and on two): the same
    /// results. Returns the result of the first way.
    fn same_merges(base: &str, ours: &str, theirs: &str) -> Outcome {
        for (o, t) in [(ours, theirs), (theirs, ours)] {
            let whole = merge_with(base, o, t, WHOLE);
            for tuning in [FORCED, FORCED_ONE_THREAD] {
                let by_entries = merge_with(base, o, t, tuning);
                assert_eq!(whole, by_entries, "{tuning:?}\n{base}\n--\n{o}\n--\n{t}");
            }
        }
        merge_with(base, ours, theirs, FORCED)
    }

    /// A store: a header, `memories:` holding entries at `indent`, a trailer.
    fn store(indent: usize, entries: &[String]) -> String {
        let mut out = String::from("# memory\nversion: 1\nmemories:\n");
        for e in entries {
            for (i, line) in e.lines().enumerate() {
                let pad = " ".repeat(indent + if i == 0 { 0 } else { 2 });
                let dash = if i == 0 { "- " } else { "" };
                out.push_str(&format!("{pad}{dash}{line}\n"));
            }
        }
        out.push_str("settings:\n  theme: dark\n");
        out
    }

    fn memory(id: usize, text: &str) -> String {
        format!("id: \"m{id}\"\ntext: \"{text}\"\ntag: fact  # kind\nnote: |\n  line {id}\n")
    }

    #[test]
    fn a_store_read_entry_by_entry_merges_as_read_whole() {
        let mems: Vec<String> = (0..6).map(|i| memory(i, "plain")).collect();
        let base = store(2, &mems);
        let mut o = mems.clone();
        o[1] = memory(1, "edited by ours");
        o.push(memory(10, "added by ours"));
        let mut t = mems.clone();
        t[4] = memory(4, "edited by theirs");
        t.remove(2);
        let (ours, theirs) = (store(2, &o), store(2, &t));
        assert_eq!(same_layouts([&base, &ours, &theirs]), 3);
        let mut expected = mems.clone();
        expected[1] = memory(1, "edited by ours");
        expected[4] = memory(4, "edited by theirs");
        expected.remove(2);
        expected.push(memory(10, "added by ours"));
        let (output, conflicted, records) = same_merges(&base, &ours, &theirs).unwrap();
        assert_eq!(output, store(2, &expected));
        assert!(!conflicted && records.is_empty());
        // Entries at the indent of their key (a sequence without indent), and at the top.
        let top = |es: &[String]| {
            let list = store(0, es);
            list["# memory\nversion: 1\nmemories:\n".len()..]
                .replace("settings:\n  theme: dark\n", "")
        };
        for render in [|es: &[String]| store(0, es), top] {
            let texts = [render(&mems), render(&o), render(&t)];
            assert_eq!(same_layouts([&texts[0], &texts[1], &texts[2]]), 3);
            let merged = same_merges(&texts[0], &texts[1], &texts[2]).unwrap();
            assert_eq!(merged.0, render(&expected));
        }
    }

    #[test]
    fn an_entry_edited_on_both_sides_is_merged_inside() {
        let mems: Vec<String> = (0..3).map(|i| memory(i, "plain")).collect();
        let base = store(2, &mems);
        let (mut o, mut t) = (mems.clone(), mems.clone());
        o[1] = memory(1, "edited by ours");
        t[1] = memory(1, "plain").replace("  line 1\n", "  line 1\n  line from theirs\n");
        let merged = same_merges(&base, &store(2, &o), &store(2, &t)).unwrap();
        let mut expected = mems.clone();
        expected[1] =
            memory(1, "edited by ours").replace("  line 1\n", "  line 1\n  line from theirs\n");
        assert_eq!(merged.0, store(2, &expected));
    }

    #[test]
    fn anchors_around_entries_still_go_to_the_line_merge() {
        let mems: Vec<String> = (0..3).map(|i| memory(i, "plain")).collect();
        let base = store(2, &mems).replace("version: 1", "defaults: &d {tag: fact}");
        // An alias in an entry to the anchor before the list; an anchor in one entry and
        // its alias in another.
        let mut aliased = mems.clone();
        aliased[1] = "<<: *d\nid: \"m1\"".to_string();
        let mut anchored = mems.clone();
        anchored[0] = "id: &first \"m0\"".to_string();
        anchored[2] = "id: \"m2\"\nsame_as: *first".to_string();
        for (ours, theirs) in [
            (
                store(2, &aliased).replace("version: 1", "defaults: &d {tag: fact}"),
                base.clone(),
            ),
            (store(2, &anchored), store(2, &mems)),
        ] {
            let mut edited = mems.clone();
            edited[2] = memory(2, "edited");
            let other = if theirs == base {
                store(2, &edited).replace("version: 1", "defaults: &d {tag: fact}")
            } else {
                store(2, &edited)
            };
            same_layouts([&theirs, &ours, &other]);
            assert_eq!(same_merges(&theirs, &ours, &other), None);
            // The line merge, as git would: both edits, the anchors kept.
            let lines = crate::merge(
                crate::Kind::Yaml,
                theirs.as_bytes(),
                ours.as_bytes(),
                other.as_bytes(),
                &Options::default(),
            );
            assert_eq!(lines.method, crate::Method::Lines);
            let text = String::from_utf8(lines.output).unwrap();
            assert!(text.contains("\"edited\"") && text.contains('&') && text.contains('*'));
        }
    }

    #[test]
    fn duplicate_keys_and_ids_across_entries_merge_as_read_whole() {
        let mems: Vec<String> = (0..4).map(|i| memory(i, "plain")).collect();
        let base = store(2, &mems);
        let lines = |ours: &str, theirs: &str| {
            let m = crate::merge(
                crate::Kind::Yaml,
                base.as_bytes(),
                ours.as_bytes(),
                theirs.as_bytes(),
                &Options::default(),
            );
            assert_eq!(m.method, crate::Method::Lines);
            String::from_utf8(m.output).unwrap()
        };
        // A key twice in an entry that the other side edited: the line merge.
        let mut twice = mems.clone();
        twice[2] = format!("{}id: \"m9\"", memory(2, "plain"));
        let mut edited = mems.clone();
        edited[0] = memory(0, "edited");
        edited[2] = memory(2, "edited");
        let (ours, theirs) = (store(2, &twice), store(2, &edited));
        assert_eq!(same_merges(&base, &ours, &theirs), None);
        let merged = lines(&ours, &theirs);
        assert!(merged.contains("id: \"m9\"") && merged.contains("text: \"edited\""));
        // Not edited by the other side, the entry is the side's.
        edited[2] = memory(2, "plain");
        let merged = same_merges(&base, &ours, &store(2, &edited)).unwrap();
        let mut expected = twice.clone();
        expected[0] = memory(0, "edited");
        assert_eq!(merged.0, store(2, &expected));
        // A key before the entries repeated by a side, the other side changing the top: the
        // line merge; the top unchanged by the other side: the side's.
        let repeated = store(2, &edited).replace("version: 1\n", "version: 1\nmemories: []\n");
        let top = base.replace("version: 1", "version: 2");
        assert_eq!(same_merges(&base, &repeated, &top), None);
        let merged = lines(&repeated, &top);
        assert!(merged.contains("version: 2\n") && merged.contains("memories: []\n"));
        assert_eq!(same_merges(&base, &repeated, &base).unwrap().0, repeated);
        // An id that another entry holds (the list is no longer keyed by it): merged as a
        // sequence, the same whole or entry by entry.
        let mut copied = mems.clone();
        copied.push(memory(1, "plain"));
        let merged = same_merges(&base, &store(2, &copied), &store(2, &edited)).unwrap();
        let mut expected = edited.clone();
        expected.push(memory(1, "plain"));
        assert_eq!(merged.0, store(2, &expected));
    }

    #[test]
    fn crlf_bom_and_comments_between_entries() {
        let mems: Vec<String> = (0..4).map(|i| memory(i, "plain")).collect();
        let base = store(2, &mems);
        let mut o = mems.clone();
        o[3] = memory(3, "edited by ours");
        // A comment above an entry (at the dash's column and at column 0) goes with it.
        let commented = base
            .replace("  - id: \"m2\"", "  # about m2\n  - id: \"m2\"")
            .replace("  - id: \"m1\"", "# about m1\n  - id: \"m1\"");
        let crlf = |s: &str| s.replace('\n', "\r\n");
        let bom = |s: &str| format!("\u{feff}{s}");
        let ours = store(2, &o);
        let expected = store(2, &o)
            .replace("  - id: \"m2\"", "  # about m2\n  - id: \"m2\"")
            .replace("  - id: \"m1\"", "# about m1\n  - id: \"m1\"");
        assert_eq!(same_layouts([&base, &ours, &commented]), 3);
        assert_eq!(same_merges(&base, &ours, &commented).unwrap().0, expected);
        let crlf_texts = [crlf(&base), crlf(&ours), crlf(&commented)];
        assert_eq!(
            same_layouts([&crlf_texts[0], &crlf_texts[1], &crlf_texts[2]]),
            3
        );
        let merged = same_merges(&crlf_texts[0], &crlf_texts[1], &crlf_texts[2]).unwrap();
        assert_eq!(merged.0, crlf(&expected));
        let merged = same_merges(&bom(&base), &bom(&ours), &bom(&commented)).unwrap();
        assert_eq!(merged.0, bom(&expected));
        // A comment line inside an entry, left of its dash.
        let inside = base.replace(
            "    tag: fact  # kind\n    note: |\n      line 1",
            "# inside m1\n    tag: fact  # kind\n    note: |\n      line 1",
        );
        assert_eq!(same_layouts([&base, &ours, &inside]), 3);
        let merged = same_merges(&base, &ours, &inside).unwrap();
        assert!(merged.0.contains("# inside m1\n") && merged.0.contains("edited by ours"));
    }

    #[test]
    fn entries_that_cannot_be_read_alone_are_read_in_place() {
        let mems: Vec<String> = (0..4).map(|i| memory(i, "plain")).collect();
        let base = store(2, &mems);
        let mut edited = mems.clone();
        edited[0] = memory(0, "edited");
        let ours = store(2, &edited);
        for theirs in [
            // A quoted text whose next line looks like an entry.
            base.replace(
                "text: \"plain\"\n    tag: fact  # kind\n    note: |\n      line 2\n",
                "text: \"two\n  - lines\"\n",
            ),
            // A block kept with its blank lines, before the next entry.
            base.replace("note: |\n      line 1\n", "note: |+\n      line 1\n\n\n"),
            // A line after an entry that starts with a tab.
            base.replace("  - id: \"m3\"", "\t# tab\n  - id: \"m3\""),
            // A line at the entries' indent that is not an entry.
            base.replace("  - id: \"m3\"", "  other: 1\n  - id: \"m3\""),
            // Documents.
            base.replace("  - id: \"m3\"", "---\n  - id: \"m3\""),
            base.replace("  - id: \"m3\"", "...\n  - id: \"m3\""),
            // An entry with no line break at the end of the text.
            store(2, &mems)
                .replace("settings:\n  theme: dark\n", "")
                .trim_end()
                .to_string(),
            // A lone carriage return.
            base.replace("line 1\n", "line 1\r"),
        ] {
            same_layouts([&base, &ours, &theirs]);
            same_merges(&base, &ours, &theirs);
        }
    }

    #[test]
    fn the_result_is_checked_entry_by_entry() {
        let mems: Vec<String> = (0..4).map(|i| memory(i, "plain")).collect();
        let texts = [store(2, &mems), store(2, &mems[1..]), store(2, &mems[..3])];
        let entries = Entries::new(
            Sides::from([&texts[0], &texts[1], &texts[2]]).map(|t| Some(t.as_str())),
            1,
            false,
        )
        .expect("entries");
        assert!(entries.valid(&store(2, &mems[1..3])));
        // A new entry, read alone.
        assert!(entries.valid(&store(2, &[memory(7, "new"), mems[0].clone()])));
        // Not YAML: never said valid.
        let broken = store(2, &mems).replace("text: \"plain\"\n    tag", "text: \"plain\n    tag");
        assert!(!entries.valid(&broken));
        assert!(!entries.valid(&store(2, &mems).replace("settings:", "settings: [")));
    }

    #[test]
    fn the_fixtures_merge_entry_by_entry_as_whole() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/merge/yaml");
        let mut cases = 0;
        for dir in std::fs::read_dir(&root).expect("the YAML fixtures") {
            let dir = dir.unwrap().path();
            let read = |name: &str| std::fs::read(dir.join(name)).unwrap();
            let (base, ours, theirs) = (read("base"), read("ours"), read("theirs"));
            for policy in [Policy::Journal, Policy::Ours, Policy::Theirs] {
                let options = Options {
                    policy,
                    ..Options::default()
                };
                for (o, t) in [(&ours, &theirs), (&theirs, &ours)] {
                    let run = |tuning| {
                        merge_tuned(Sides::new(&base[..], o, t), &options, tuning)
                            .map(|m| (m.output, m.conflicted, m.records))
                    };
                    let whole = run(WHOLE);
                    assert_eq!(whole, run(FORCED), "{}", dir.display());
                    assert_eq!(whole, run(FORCED_ONE_THREAD), "{}", dir.display());
                }
            }
            cases += 1;
        }
        assert!(cases >= 15);
    }

    // Random documents around the cutting: entries of every kind of YAML node (plain,
    // quoted and block scalars, continued lines, flow collections, nested mappings and
    // sequences, empty values, comments at every column), at indents 0 (a sequence at the
    // indent of its key), 2 and 4, CRLF, a missing final newline; and now and then a line
    // that breaks the rules (tabs, document markers, directives, anchors, aliases, tags,
    // unclosed quotes and brackets, a lone carriage return).

    /// Choices for a rendering, from random bytes.
    struct Choices<'a> {
        bytes: &'a [u8],
        at: usize,
    }

    impl Choices<'_> {
        fn pick(&mut self, n: usize) -> usize {
            let b = self.bytes.get(self.at).copied().unwrap_or(0);
            self.at += 1;
            b as usize % n
        }
    }

    const NOISE: &[&str] = &[
        "\tk: v",
        "\t",
        "...",
        "---",
        "%YAML 1.2",
        "k: &x 1",
        "k: *x",
        "!t v",
        "? complex",
        ": v",
        "k: \"open",
        "k: [1,",
        "- ",
        "-",
        "k: v\r",
        "  - x",
        "x",
        "# c",
        "",
    ];

    /// What follows `key:` or `-` on its line (and the lines below, at `col`).
    fn node(c: &mut Choices, col: usize, depth: usize) -> String {
        let pad = " ".repeat(col);
        let comment = [" # c", "", "", ""][c.pick(4)];
        match c.pick(if depth > 2 { 7 } else { 10 }) {
            0 => [" x", " a b", " 12", " true", " x:y"][c.pick(5)].to_string() + comment + "\n",
            1 => {
                [" \"q\"", " 'it''s'", " \"a\\\"b\"", " \"é→\""][c.pick(4)].to_string()
                    + comment
                    + "\n"
            }
            2 => format!(" \"a\n{pad}b\"{comment}\n"),
            3 => format!(" a\n{pad}b{comment}\n"),
            4 => {
                let mut out = [" |", " |-", " |+", " >", " >-", " |2"][c.pick(6)].to_string()
                    + comment
                    + "\n";
                for _ in 0..c.pick(4) {
                    out += &[
                        format!("{pad}line\n"),
                        "\n".into(),
                        format!("{pad}  more\n"),
                        format!("{pad}# not a comment\n"),
                    ][c.pick(4)];
                }
                out
            }
            5 => comment.to_string() + "\n",
            6 => {
                [" [a, b]", " {k: v, l: [1]}", " []", " {}"][c.pick(4)].to_string()
                    + comment
                    + "\n"
                    + &[String::new(), String::new()][c.pick(2)]
            }
            7 => format!(" [a,\n{pad}b]\n"),
            8 => "\n".to_string() + &mapping(c, col, depth + 1),
            _ => {
                let mut out = "\n".to_string();
                for _ in 0..1 + c.pick(3) {
                    out += &format!("{pad}-{}", item(c, col + 2, depth + 1));
                }
                out
            }
        }
    }

    /// Members of a mapping at `col`, each on a line of its own.
    fn mapping(c: &mut Choices, col: usize, depth: usize) -> String {
        let mut out = String::new();
        for k in 0..1 + c.pick(3) {
            if c.pick(5) == 0 {
                out += &format!("{}# note\n", " ".repeat([0, col, col + 1][c.pick(3)]));
            }
            out += &format!("{}k{k}:{}", " ".repeat(col), node(c, col + 2, depth));
        }
        out
    }

    /// What follows the dash of an entry whose content is at `col`: a mapping starting on
    /// the dash's line, or any node.
    fn item(c: &mut Choices, col: usize, depth: usize) -> String {
        if c.pick(2) == 0 {
            let first = format!(" id:{}", node(c, col + 2, depth));
            let rest = mapping(c, col, depth);
            first + &rest
        } else {
            node(c, col, depth)
        }
    }

    /// An entry at `indent`, with blank and comment lines after it now and then.
    fn random_entry(bytes: &[u8], indent: usize) -> String {
        let c = &mut Choices { bytes, at: 0 };
        let mut out = format!("{}-{}", " ".repeat(indent), item(c, indent + 2, 0));
        match c.pick(6) {
            0 => out += "\n",
            1 => {
                out += &format!(
                    "{}# after\n",
                    " ".repeat([0, indent, indent + 2][c.pick(3)])
                )
            }
            2 => out += "  \n",
            _ => {}
        }
        out
    }

    /// A document: `head`, `list:` and the entries at `indent`, `tail` (or the entries
    /// alone, at the top); a line of `NOISE` at `noise` if that is a line.
    fn render(
        indent: usize,
        entries: &[String],
        top: bool,
        noise: (usize, usize),
        crlf: bool,
        end: bool,
    ) -> String {
        let mut lines: Vec<String> = Vec::new();
        if !top {
            lines.extend(["# top".into(), "head: 1".into(), "list:".into()]);
        }
        for e in entries {
            lines.extend(e.lines().map(str::to_string));
        }
        if !top {
            lines.push("tail: 2".into());
        }
        if let (Some(line), Some(&text)) = (noise.0.checked_sub(1), NOISE.get(noise.1)) {
            let column = " ".repeat([0, indent, indent + 2][line % 3]);
            lines.insert(line % (lines.len() + 1), column + text);
        }
        let mut out = lines.join("\n") + "\n";
        if !end {
            out.pop();
        }
        if crlf {
            out = out.replace('\n', "\r\n");
        }
        out
    }

    fn config() -> ProptestConfig {
        ProptestConfig {
            cases: std::env::var("PROPTEST_CASES")
                .ok()
                .and_then(|n| n.parse().ok())
                .unwrap_or(256),
            failure_persistence: None,
            // The same cases on every run; `PROPTEST_RNG_SEED=N` for others.
            rng_seed: if std::env::var_os("PROPTEST_RNG_SEED").is_some() {
                ProptestConfig::default().rng_seed
            } else {
                proptest::test_runner::RngSeed::Fixed(0x7a31_e17e)
            },
            ..ProptestConfig::default()
        }
    }

    use proptest::collection::vec;
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;

    fn document() -> impl Strategy<Value = (Vec<Vec<u8>>, usize, bool)> {
        (
            vec(vec(any::<u8>(), 0..40), 1..8),
            prop_oneof![Just(0usize), Just(2), Just(4)],
            any::<bool>(),
        )
    }

    /// The random documents below are read entry by entry often enough to test it.
    #[test]
    fn random_documents_are_often_read_entry_by_entry() {
        let mut runner = proptest::test_runner::TestRunner::new(config());
        let (mut documents, mut spliced) = (0, 0);
        for _ in 0..300 {
            let (pool, indent, top) = document().new_tree(&mut runner).unwrap().current();
            let entries: Vec<String> = pool.iter().map(|b| random_entry(b, indent)).collect();
            let text = render(indent, &entries, top, (0, 0), false, true);
            documents += 1;
            spliced += same_layouts([&text, &text, &text]) / 3;
        }
        eprintln!("{spliced} of {documents} read entry by entry");
        assert!(spliced * 2 >= documents, "{spliced} of {documents}");
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn entries_read_alone_read_as_whole(
            (pool, indent, top) in document(),
            sides in [vec(0usize..8, 0..8), vec(0usize..8, 0..8), vec(0usize..8, 0..8)],
            noise in [
                (0usize..40, 0usize..NOISE.len() * 4),
                (0usize..40, 0usize..NOISE.len() * 4),
                (0usize..40, 0usize..NOISE.len() * 4),
            ],
            crlf in any::<bool>(),
            end in any::<bool>(),
        ) {
            let entries: Vec<String> = pool.iter().map(|b| random_entry(b, indent)).collect();
            let mut side = 0;
            let texts = sides.map(|chosen| {
                let chosen: Vec<String> = chosen.iter().map(|&i| entries[i % entries.len()].clone()).collect();
                side += 1;
                render(indent, &chosen, top, noise[side - 1], crlf, end)
            });
            same_layouts([&texts[0], &texts[1], &texts[2]]);
            same_merges(&texts[0], &texts[1], &texts[2]);
            // What the entries say of a text's validity, the text says too.
            let e = Entries::new(Sides::from([&texts[0], &texts[1], &texts[2]]).map(|t| Some(t.as_str())), 1, false);
            if let Some(e) = e {
                for text in &texts {
                    if e.valid(text) {
                        prop_assert!(Parser::new_from_str(text).all(|event| event.is_ok()));
                    }
                }
            }
        }

        #[test]
        fn plain_stores_are_read_entry_by_entry(
            sides in [vec(0usize..12, 1..12), vec(0usize..12, 1..12), vec(0usize..12, 1..12)],
            edits in vec((0usize..12, 0usize..3), 0..4),
            indent in prop_oneof![Just(0usize), Just(2), Just(4)],
        ) {
            let texts = sides.map(|side| {
                let mems: Vec<String> = side.iter().map(|&i| {
                    let edit = edits.iter().find(|e| e.0 == i).map_or(0, |e| e.1);
                    memory(i, ["plain", "edited", "other"][edit])
                }).collect();
                store(indent, &mems)
            });
            prop_assert_eq!(same_layouts([&texts[0], &texts[1], &texts[2]]), 3);
            same_merges(&texts[0], &texts[1], &texts[2]);
        }
    }
}
