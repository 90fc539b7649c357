//! One side's YAML read into the merge's layout: block mappings and sequences become
//! containers, each entry its head and value, the comments and lines before it its lead.

use std::ops::Range;
use std::sync::Arc;

use saphyr_parser::ScalarStyle;

use super::events::{Ev, Name, Spanned};
use super::Yaml;
use crate::sides::Side;
use crate::tree::{Container, Item, Layout, Shape, Val};

/// One parsed node: where its text starts, where its content ends, and what it is.
pub(super) struct Node {
    start: usize,
    content_end: usize,
    shape: Shape,
    /// For block collections: the items, not yet placed (their leads need the parent).
    items: Vec<Item>,
    block: bool,
    /// For a flow collection taken apart: its container (placed with its entry's span).
    flow: Option<Container>,
}

impl Node {
    /// A node that is one value: a scalar, or a flow collection.
    pub(super) fn leaf(start: usize, content_end: usize, shape: Shape) -> Node {
        Node {
            start,
            content_end,
            shape,
            items: Vec::new(),
            block: false,
            flow: None,
        }
    }

    /// A flow collection taken apart (`span`: its brackets).
    pub(super) fn flow(span: Range<usize>, shape: Shape, container: Container) -> Node {
        Node {
            flow: Some(container),
            ..Node::leaf(span.start, span.end, shape)
        }
    }
}

/// Reads one side's events into containers and keys.
pub(super) struct Reader<'s, I: Iterator<Item = Spanned>> {
    pub(super) syntax: &'s mut Yaml,
    pub(super) side: Side,
    pub(super) text: &'s [u8],
    depth: usize,
    /// The deepest `depth` yet.
    pub(super) deepest: usize,
    pub(super) events: std::iter::Peekable<I>,
    /// The entries read alone, for the events `Ev::Entries`, in order: each one's span and
    /// layout.
    fragments: std::vec::IntoIter<(Range<usize>, &'s Fragment)>,
}

/// What the reader made of an entry read alone, offsets from its start.
#[derive(Debug)]
pub(super) struct Fragment {
    pub(super) item: Item,
    /// Its containers and keys: `part` of `layout` (kept with the others read with it).
    pub(super) layout: Arc<Layout>,
    pub(super) part: usize,
    /// Its flow collections the merge cannot take apart.
    pub(super) opaque: Vec<usize>,
    /// How deep its nodes go (its value is 1).
    pub(super) depth: usize,
}

/// Deeper than any memory file: the line merge (and no stack overflow).
const MAX_DEPTH: usize = 200;

impl<'s, I: Iterator<Item = Spanned>> Reader<'s, I> {
    /// A reader of `side`'s `text` from its `events`, placing `fragments` (entries read
    /// alone) where they stand.
    pub(super) fn new(
        syntax: &'s mut Yaml,
        side: Side,
        text: &'s [u8],
        events: I,
        fragments: Vec<(Range<usize>, &'s Fragment)>,
    ) -> Self {
        Reader {
            syntax,
            side,
            text,
            depth: 0,
            deepest: 0,
            events: events.peekable(),
            fragments: fragments.into_iter(),
        }
    }

    /// The root value of a one-document YAML text whose top is a block collection.
    pub(super) fn read(
        syntax: &'s mut Yaml,
        side: Side,
        text: &'s str,
        events: I,
        fragments: Vec<(Range<usize>, &'s Fragment)>,
        head: usize,
    ) -> Option<Val> {
        let mut reader = Reader::new(syntax, side, text.as_bytes(), events, fragments);
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
                let content_end = trim_end(self.text, start, end);
                Some(Node::leaf(start, content_end, scalar_shape(style)))
            }
            // A flow collection's start event spans its bracket.
            Ev::MappingStart | Ev::SequenceStart if end > start => self.flow(event, start, end),
            Ev::MappingStart => self.mapping(start),
            Ev::SequenceStart => self.sequence(start),
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
        Some(fragment.item.shifted(at))
    }

    /// The next item of a block sequence: its value, the dash before it.
    pub(super) fn item(&mut self) -> Option<Item> {
        let value = self.node()?;
        // The dash before the value, on its line (a block scalar's, before its indicator:
        // its span may start at its content, lines below).
        let mut dash = value.start;
        if value.shape == Shape::Text {
            let end = trim_end(self.text, 0, dash);
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

/// Whether containers' spans are in order, and inside a text of `len` bytes.
pub(super) fn sound<'c>(
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

/// Where the spaces and tabs from `pos` on end.
pub(super) fn skip_spaces(text: &[u8], mut pos: usize) -> usize {
    while pos < text.len() && matches!(text[pos], b' ' | b'\t') {
        pos += 1;
    }
    pos
}

/// What a scalar of `style` is to the merge.
pub(super) fn scalar_shape(style: ScalarStyle) -> Shape {
    match style {
        ScalarStyle::Plain => Shape::Scalar,
        ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted => Shape::String,
        ScalarStyle::Literal | ScalarStyle::Folded => Shape::Text,
    }
}

/// Where the span `start..end` of `text` ends without the white space at its end.
pub(super) fn trim_end(text: &[u8], start: usize, mut end: usize) -> usize {
    while end > start && text[end - 1].is_ascii_whitespace() {
        end -= 1;
    }
    end
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
