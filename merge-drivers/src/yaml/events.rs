//! saphyr-parser's events as the reader needs them: what each is, its byte span (saphyr
//! counts characters), and a stop at anything the merge refuses (anchors, aliases, tags).

use saphyr_parser::{Event, Parser, ScalarStyle};

/// An event and its byte span.
pub(super) type Spanned = (Ev, usize, usize);

/// What the reader needs of an event (saphyr's events carry the scalars' decoded text:
/// kept only where it can be a key, so a store's values are not held twice).
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Ev {
    Scalar(ScalarStyle, Option<Name>),
    MappingStart,
    SequenceStart,
    MappingEnd,
    SequenceEnd,
    Other,
    /// Entries of a block sequence read alone (see [`Entries`](super::entries::Entries)),
    /// this many, spanning their lines.
    Entries(usize),
}

/// A scalar's decoded text where it can be a key: mostly its own span (a plain key), so
/// nothing is copied.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Name {
    /// The text of the event's span.
    Span,
    Owned(Box<str>),
}

impl Name {
    /// The key's bytes, `span` being its event's text.
    pub(super) fn bytes<'a>(&'a self, span: &'a [u8]) -> &'a [u8] {
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

/// What an event stream saw: an error or an event the merge cannot take, and documents.
#[derive(Default)]
pub(super) struct Status {
    failed: std::cell::Cell<bool>,
    documents: std::cell::Cell<usize>,
}

impl Status {
    /// Whether the stream was one document, read without an error or a refused event.
    pub(super) fn one_document(&self) -> bool {
        !self.failed.get() && self.documents.get() == 1
    }
}

/// One side's events with byte spans, read as the reader asks for them (no side's events are
/// held whole). Ends early, `failed` set, at an error, an anchor, an alias or a tag.
pub(super) struct EventStream<'t> {
    parser: Parser<'t, saphyr_parser::StrInput<'t>>,
    chars: Chars<'t>,
    /// Per open collection: `Some(next node is a key)` for a mapping, `None` for a sequence.
    /// Only keys keep their decoded text: a store's values are not held twice.
    open: Vec<Option<bool>>,
    status: &'t Status,
}

impl<'t> EventStream<'t> {
    pub(super) fn new(text: &'t str, status: &'t Status) -> Self {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
