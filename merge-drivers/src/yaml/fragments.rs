//! Entries read alone (see [`Entries`](super::entries::Entries)): their events checked to
//! be what reading them in place gives, and what the reader makes of them kept as fragments.

use std::ops::Range;
use std::sync::Arc;

use saphyr_parser::ScalarStyle;

use super::events::{Ev, EventStream, Spanned, Status};
use super::reader::{sound, Fragment, Reader};
use super::Yaml;
use crate::sides::{Side, Sides};
use crate::tree::{Item, Layout};

/// An entry read alone.
pub(super) enum Alone {
    /// Not one entry of a block sequence without error or refused event.
    Unread,
    /// YAML, but not as the reader takes it.
    Refused,
    Read(Fragment),
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

/// The entries at `indent` of `texts` that `entries` names (a side and a span there), each
/// read alone, in order. Entries that follow each other in a side are read as its text.
pub(super) fn read_alone(
    texts: Sides<Option<&str>>,
    entries: &[(Side, Range<usize>)],
    indent: usize,
) -> Vec<Alone> {
    let mut reading = Reading::default();
    reading.read.reserve(entries.len());
    // Room for their layouts, not grown (and copied) as they come: about a key and an item
    // per line.
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
    let mut reader = Reader::new(scratch, Side::Base, text.as_bytes(), events, Vec::new());
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
    (stream.next().is_none() && status.one_document()).then_some(())
}

/// The events of an entry read alone, offsets from its start: `None` unless the text is one
/// block sequence, its dash at `indent`, holding one item, with no error and no refused event.
pub(super) fn entry_events(text: &str, indent: usize) -> Option<Vec<Spanned>> {
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
