//! The fast path for stores: a long block sequence cut into entries, each distinct entry read
//! once, alone, and each side read as a skeleton with those entries placed in it.

use std::ops::Range;

use foldhash::HashMap;
use saphyr_parser::ScalarStyle;

use super::events::{Ev, EventStream, Spanned, Status};
use super::fragments::{entry_events, read_alone, Alone};
use super::reader::{skip_spaces, Fragment};
use crate::sides::{Side, Sides};

/// The entries of a long block sequence (a store's records), read one by one.
///
/// Most of a big YAML merge is reading, and most of what the three sides hold is the same
/// entries in the same words. Each side is cut into entries: a line `- …` at the indent most
/// such lines have, with the lines after it down to the next line that is not blank, not a
/// comment and indented no further than its dash. Each distinct entry text is read once,
/// as if alone, as a document holding a sequence of that one entry (see [`super::fragments`]),
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
pub(super) struct Entries<'t> {
    indent: usize,
    /// Per side, its entries (each followed by a line as above, or the end of the text).
    cuts: Sides<Vec<Range<usize>>>,
    /// Each distinct entry's text, read alone.
    read: HashMap<&'t str, Alone>,
}

/// A side's skeleton events, and the entries its `Ev::Entries` stand for: their spans and
/// what the reader made of them.
pub(super) type Skeleton<'f> = (Vec<Spanned>, Vec<(Range<usize>, &'f Fragment)>);

impl<'t> Entries<'t> {
    /// The entries of the sides, each distinct one read (on two threads if `parallel`); none
    /// if ours has fewer than `min` lines `- …` at any one indent.
    pub(super) fn new(texts: Sides<Option<&'t str>>, min: usize, parallel: bool) -> Option<Self> {
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
        let read_all = |entries: &[(Side, Range<usize>)]| read_alone(texts, entries, indent);
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
    pub(super) fn events(&self, side: Side, text: &str) -> Option<Skeleton<'_>> {
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
    pub(super) fn valid(&self, text: &str) -> bool {
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
    (status.one_document() && next == places.len()).then_some((events, values))
}

#[cfg(test)]
mod tests;
