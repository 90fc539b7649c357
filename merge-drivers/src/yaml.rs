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

use foldhash::HashSet;

use saphyr_parser::{Event, Parser, ScalarStyle};
use serde_json::Value;

use crate::eol::{strip_bom, BOM};
use crate::sequence::choose3;
use crate::tree::{Container, Item, Merger, Parsed, Shape, Syntax, Val, BASE, OURS, THEIRS};
use crate::{Merged, Method, Options};

#[derive(Default)]
struct Yaml {
    parsed: Parsed,
    /// Where each side has a flow collection the merge cannot take apart (comments inside,
    /// a `[k: v]` pair): changed differently on both sides, it goes to the line merge.
    opaque: [HashSet<usize>; 3],
}

impl Yaml {
    fn absorb(&mut self, side: usize, mut part: Yaml) {
        self.parsed.absorb(side, part.parsed);
        self.opaque[side] = std::mem::take(&mut part.opaque[side]);
    }
}

impl Syntax for Yaml {
    fn open(&self, _text: &[u8], v: Val) -> Container {
        self.parsed.open(v)
    }

    fn key<'t>(&'t self, side: usize, text: &'t [u8], item: &Item) -> Cow<'t, [u8]> {
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

pub(crate) fn merge(base: &[u8], ours: &[u8], theirs: &[u8], options: &Options) -> Option<Merged> {
    let (bom_b, b) = strip_bom(base);
    let (bom_o, o) = strip_bom(ours);
    let (bom_t, t) = strip_bom(theirs);
    let src = [b, o, t];
    let has_base = !b.iter().all(u8::is_ascii_whitespace);
    let texts = [
        if has_base {
            Some(std::str::from_utf8(b).ok()?)
        } else {
            None
        },
        Some(std::str::from_utf8(o).ok()?),
        Some(std::str::from_utf8(t).ok()?),
    ];
    // A base with no data (comments, `---`, `{}`): both sides added what they hold, and
    // the base's text, where a side starts with it, stands before that side's first entry.
    let empty_base = has_base && empty_document(texts[BASE]?);
    let head = |side: &[u8]| {
        if empty_base && side.starts_with(b) {
            b.len()
        } else {
            0
        }
    };
    let heads = [0, head(o), head(t)];
    let read = |side: usize| -> Option<Option<(Yaml, Val)>> {
        if side == BASE && empty_base {
            return Some(None);
        }
        match texts[side] {
            Some(text) => read_side(side, text, heads[side]).map(Some),
            None => Some(None),
        }
    };
    // Reading is most of a YAML merge's time (saphyr reads some 60 MB/s) and the sides are
    // independent: past PARALLEL_READ bytes in all, ours and theirs are read on threads.
    let total: usize = texts.iter().flatten().map(|t| t.len()).sum();
    let sides = if total < PARALLEL_READ {
        [read(BASE), read(OURS), read(THEIRS)]
    } else {
        std::thread::scope(|scope| {
            let ours = scope.spawn(|| read(OURS));
            let theirs = scope.spawn(|| read(THEIRS));
            let base = read(BASE);
            // A reader thread that panicked (it cannot: saphyr returns errors) gives the
            // line merge.
            let join = |h: std::thread::ScopedJoinHandle<'_, _>| h.join().unwrap_or(None);
            [base, join(ours), join(theirs)]
        })
    };
    let mut syntax = Yaml::default();
    let mut roots = [None, None, None];
    for (side, read) in sides.into_iter().enumerate() {
        if let Some((part, root)) = read? {
            syntax.absorb(side, part);
            roots[side] = Some(root);
        }
    }
    let [rb, Some(ro), Some(rt)] = roots else {
        return None;
    };
    let rb = rb.or_else(|| {
        empty_base.then_some(Val {
            side: BASE,
            start: b.len(),
            end: b.len(),
            shape: ro.shape,
        })
    });
    let mut m = Merger::new(&syntax, src, options);
    if choose3(has_base.then_some(bom_b), Some(bom_o), Some(bom_t)) == Some(true) {
        m.out.extend_from_slice(BOM);
    }
    let lead = m.pick([
        rb.map(|v| (BASE, 0..v.start)),
        Some((OURS, 0..ro.start)),
        Some((THEIRS, 0..rt.start)),
    ]);
    m.out.extend_from_slice(&lead);
    m.value(rb, ro, rt, None).ok()?;
    // Comments after the last entry: both sides' additions kept.
    let trail = m.pick_lead([
        rb.map(|v| (BASE, v.end..b.len())),
        Some((OURS, ro.end..o.len())),
        Some((THEIRS, rt.end..t.len())),
    ]);
    m.out.extend_from_slice(&trail);
    // Layout from three files can disagree (one side re-indented a block the other added
    // to): a result that is not YAML goes to the line merge instead. A result byte for byte
    // one side's text (no BOM added) is that side, read whole above without an error: it
    // needs no second reading.
    let as_side = m.out == o || m.out == t;
    let valid = as_side
        || std::str::from_utf8(&m.out)
            .is_ok_and(|text| Parser::new_from_str(text).all(|event| event.is_ok()));
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
struct Reader<'s> {
    syntax: &'s mut Yaml,
    side: usize,
    text: &'s [u8],
    depth: usize,
    events: std::iter::Peekable<EventStream<'s>>,
}

/// What the reader needs of an event (saphyr's events carry the scalars' decoded text:
/// kept only where it can be a key, so a store's values are not held twice).
enum Ev {
    Scalar(ScalarStyle, Option<Box<str>>),
    MappingStart,
    SequenceStart,
    MappingEnd,
    SequenceEnd,
    Other,
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

/// Past this many bytes in all, ours and theirs are read on threads of their own.
const PARALLEL_READ: usize = 256 * 1024;

/// One side's layout and root value, or `None` for a text the structural merge does not take
/// (not YAML, not one document, anchors, aliases or tags, a top that is not a block).
fn read_side(side: usize, text: &str, head: usize) -> Option<(Yaml, Val)> {
    let mut syntax = Yaml::default();
    let status = Status::default();
    let root = Reader::read(
        &mut syntax,
        side,
        text,
        EventStream::new(text, &status),
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
    type Item = (Ev, usize, usize);

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
        let ev = match event {
            Event::Scalar(value, style, ..) => Ev::Scalar(
                style,
                (is_key && value.len() <= 512).then(|| value.as_ref().into()),
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
        let start = self.chars.at(span.start.index());
        let end = self.chars.at(span.end.index());
        Some((ev, start, end))
    }
}

impl<'s> Reader<'s> {
    /// The root value of a one-document YAML text whose top is a block collection.
    fn read(
        syntax: &'s mut Yaml,
        side: usize,
        text: &'s str,
        events: EventStream<'s>,
        head: usize,
    ) -> Option<Val> {
        let mut reader = Reader {
            syntax,
            side,
            text: text.as_bytes(),
            depth: 0,
            events: events.peekable(),
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
        // Spans the merge can trust, or the line merge.
        let sound = reader
            .syntax
            .parsed
            .containers(side)
            .all(|(&(start, end, _), c)| {
                let mut at = c.open;
                let ordered = c.items.iter().all(|i| {
                    let ok =
                        at <= i.lead && i.lead <= i.start && i.start <= i.value && i.value <= i.end;
                    at = i.end;
                    ok
                });
                start <= c.open
                    && ordered
                    && at <= c.close
                    && c.close <= c.end
                    && c.end <= end
                    && end <= text.len()
            });
        sound.then_some(root)
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
        if self.depth > 200 {
            return None;
        }
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
            let colon = skip_spaces(self.text, key_end);
            if self.text.get(colon) != Some(&b':') {
                return None;
            }
            let after = colon + 1;
            let value = self.node()?;
            let item = self.entry(key_start, after, value)?;
            content_end = content_end.max(item.end);
            if self.text[key_start..key_end] == *name.as_bytes() {
                self.syntax
                    .parsed
                    .add_key_span(self.side, &item, key_start..key_end);
            } else {
                self.syntax
                    .parsed
                    .add_key(self.side, &item, name.into_boxed_bytes());
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
            if matches!(self.events.peek(), Some((Ev::SequenceEnd, ..))) {
                self.events.next();
                break;
            }
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
            let item = self.entry(dash - 1, dash, value)?;
            content_end = content_end.max(item.end);
            items.push(item);
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
    evs: &'e [(Ev, usize, usize)],
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
                (s, Some((name.as_bytes().to_vec(), colon + 1)))
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
}
