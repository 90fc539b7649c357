//! The merge engine every structured format shares: each side is a tree of spans over its
//! own text (containers of items, each item a lead, a head and a value), merged by the rules of
//! the README, and written by copying spans, so unchanged text keeps its bytes.
//!
//! A format only says how to open a container and read a key (`Syntax`); JSON, YAML and the
//! sections and blocks of Markdown all merge here.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::Arc;

use foldhash::{HashMap, HashSet};
use serde_json::Value;
use similar::{Algorithm, DiffOp};

use crate::eol::{convert, Eol};
use crate::record::{Record, Rule};
use crate::sequence::{combine_runs, keyed_order, regions, Likeness, Region, Slot, SortKey};
use crate::sides::{Side, Sides};
use crate::{instant, text, Options, Policy, TIMESTAMP_KEYS};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    /// Items with keys (a JSON object, a YAML mapping, a Markdown section's parts).
    Object,
    /// Items in order (an array, a sequence, the blocks of a section).
    Array,
    /// A quoted string (its identity may be an identity key's value).
    String,
    /// Any other atomic value.
    Scalar,
    /// Lines of prose that merge line by line (a Markdown block, a YAML block scalar).
    Text,
}

/// One member or element of a container.
///
/// `lead..start` is what separates it from the item before (white space, comments);
/// `start..value` is its key part (`"key": `, `key:`, `- `, a heading; empty for array
/// elements); `value..end` is its value.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Item {
    pub lead: usize,
    pub start: usize,
    pub value: usize,
    pub end: usize,
    pub shape: Shape,
}

impl Item {
    pub(crate) fn value_range(&self) -> Range<usize> {
        self.value..self.end
    }

    /// The item `by` bytes further on (read apart, placed where it stands).
    pub(crate) fn shifted(&self, by: usize) -> Item {
        Item {
            lead: self.lead + by,
            start: self.start + by,
            value: self.value + by,
            end: self.end + by,
            shape: self.shape,
        }
    }
}

/// The items of one container value. `value.start..open` comes before the first item's lead
/// (`{`), `close..end` after the last item (white space), `end..value.end` closes it (`}`).
#[derive(Clone, Debug)]
pub(crate) struct Container {
    pub open: usize,
    pub items: Vec<Item>,
    pub close: usize,
    pub end: usize,
    /// A flow collection inside a line format (YAML's `[a, b]`, `{x: 1}`): its items are
    /// apart by commas and its leads are only layout, as in JSON.
    pub flow: bool,
}

/// A value on one side.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Val {
    pub side: Side,
    pub start: usize,
    pub end: usize,
    pub shape: Shape,
}

impl Val {
    pub(crate) fn of(side: Side, item: &Item) -> Val {
        Val {
            side,
            start: item.value,
            end: item.end,
            shape: item.shape,
        }
    }
}

/// A container value's place: its start, its end, whether it is a mapping.
type Span = (usize, usize, bool);

/// The layout of a line-based format, parsed up front (YAML, Markdown): every container by
/// its span, every member's key by where the member starts.
#[derive(Default)]
pub(crate) struct Parsed {
    /// By the value's span and whether it is a mapping; sorted by `seal`.
    containers: Sides<Vec<(Span, Container)>>,
    /// By the member's start, and whether it holds an array (a Markdown section's own text
    /// starts where the next heading does when it is empty); sorted by `seal`. A store has a
    /// key per value: a sorted list, mostly spans of the text, is a fraction of a map of
    /// owned keys.
    keys: Sides<Vec<(usize, bool, Key)>>,
    /// Parts read apart (see [`Layout`]): where each starts and ends, and its layout and
    /// part there; sorted by `seal`.
    placed: Sides<Vec<Placed>>,
}

/// A part read apart, placed: where it starts and ends, its layout and its part there.
type Placed = (usize, usize, Arc<Layout>, usize);

/// A member's key: its text where that is the key (a plain YAML key), else its own bytes.
#[derive(Debug)]
enum Key {
    Span(usize, usize),
    Owned(Box<[u8]>),
}

impl Parsed {
    pub(crate) fn add_container(
        &mut self,
        side: Side,
        value: std::ops::Range<usize>,
        object: bool,
        c: Container,
    ) {
        self.containers[side].push(((value.start, value.end, object), c));
    }

    pub(crate) fn add_key(&mut self, side: Side, item: &Item, key: impl Into<Box<[u8]>>) {
        let array = item.shape == Shape::Array;
        self.keys[side].push((item.start, array, Key::Owned(key.into())));
    }

    /// A key that is the text `range` of its side.
    pub(crate) fn add_key_span(&mut self, side: Side, item: &Item, range: Range<usize>) {
        let array = item.shape == Shape::Array;
        self.keys[side].push((item.start, array, Key::Span(range.start, range.end)));
    }

    /// Ends a side's reading: its keys are looked up from here on.
    pub(crate) fn seal(&mut self, side: Side) {
        one_of_each(&mut self.keys[side], |&(start, array, _)| (start, array));
        one_of_each(&mut self.containers[side], |&(span, _)| span);
        self.placed[side].sort_unstable_by_key(|&(at, ..)| at);
    }

    /// Takes one side's layout, read apart from the others (on a thread of its own).
    pub(crate) fn absorb(&mut self, side: Side, mut other: Parsed) {
        self.containers[side] = std::mem::take(&mut other.containers[side]);
        self.keys[side] = std::mem::take(&mut other.keys[side]);
        self.placed[side] = std::mem::take(&mut other.placed[side]);
        self.seal(side);
    }

    pub(crate) fn containers(
        &self,
        side: Side,
    ) -> impl Iterator<Item = (&(usize, usize, bool), &Container)> {
        self.containers[side].iter().map(|(span, c)| (span, c))
    }

    /// The container at `v` (an empty one if `v` holds none).
    pub(crate) fn open(&self, v: Val) -> Container {
        let object = v.shape == Shape::Object;
        fn find(containers: &[(Span, Container)], key: Span) -> Option<&Container> {
            debug_assert!(containers.is_sorted_by_key(|&(span, _)| span));
            containers
                .binary_search_by_key(&key, |&(span, _)| span)
                .ok()
                .map(|i| &containers[i].1)
        }
        let placed = || {
            let (at, layout, part) = self.placed_at(v.side, v.start)?;
            let heads = &layout.containers[layout.parts[part].0.clone()];
            let key = (v.start - at, v.end - at, object);
            let c = &heads[heads.binary_search_by_key(&key, |&(span, _)| span).ok()?].1;
            Some(Container {
                open: c.open + at,
                items: layout.items[c.items.clone()]
                    .iter()
                    .map(|i| i.shifted(at))
                    .collect(),
                close: c.close + at,
                end: c.end + at,
                flow: c.flow,
            })
        };
        find(&self.containers[v.side], (v.start, v.end, object))
            .cloned()
            .or_else(placed)
            .unwrap_or(Container {
                open: v.start,
                items: Vec::new(),
                close: v.end,
                end: v.end,
                flow: false,
            })
    }

    pub(crate) fn key<'t>(&'t self, side: Side, text: &'t [u8], item: &Item) -> Cow<'t, [u8]> {
        let array = item.shape == Shape::Array;
        let find = |keys: &'t [(usize, bool, Key)], start: usize, at: usize| {
            debug_assert!(keys.is_sorted_by_key(|&(start, array, _)| (start, array)));
            keys.binary_search_by_key(&(start, array), |&(start, array, _)| (start, array))
                .ok()
                .map(|i| match &keys[i].2 {
                    Key::Span(start, end) => text.get(start + at..end + at).unwrap_or_default(),
                    Key::Owned(key) => &key[..],
                })
        };
        let key = find(&self.keys[side], item.start, 0).or_else(|| {
            let (at, layout, part) = self.placed_at(side, item.start)?;
            find(
                &layout.keys[layout.parts[part].1.clone()],
                item.start - at,
                at,
            )
        });
        Cow::Borrowed(key.unwrap_or_default())
    }
}

/// The layouts of parts of sides read apart (YAML entries read alone), offsets from each
/// part's start, kept together: placed where a part is with [`Parsed::place`], by
/// reference (a store's entries are the same text on all three sides: their layout is kept
/// once, and in one place rather than in small allocations of its own).
#[derive(Debug, Default)]
pub(crate) struct Layout {
    /// Per part: its containers and its keys, ranges of the lists below.
    parts: Vec<(Range<usize>, Range<usize>)>,
    /// Containers by span (sorted in each part), their items a range of `items`.
    containers: Vec<(Span, Head)>,
    items: Vec<Item>,
    keys: Vec<(usize, bool, Key)>,
}

/// A container kept in a layout: its items are a range of the layout's.
#[derive(Debug)]
struct Head {
    open: usize,
    items: Range<usize>,
    close: usize,
    end: usize,
    flow: bool,
}

impl Layout {
    /// Takes what `side` of `parsed` holds (read apart, alone) as a new part; returns its
    /// index. `parsed` keeps its lists' room for the next part.
    pub(crate) fn add(&mut self, parsed: &mut Parsed, side: Side) -> usize {
        let (containers, keys) = (&mut parsed.containers[side], &mut parsed.keys[side]);
        one_of_each(keys, |&(start, array, _)| (start, array));
        one_of_each(containers, |&(span, _)| span);
        let heads = self.containers.len()..self.containers.len() + containers.len();
        for (span, c) in containers.drain(..) {
            let items = self.items.len()..self.items.len() + c.items.len();
            self.items.extend_from_slice(&c.items);
            let head = Head {
                open: c.open,
                items,
                close: c.close,
                end: c.end,
                flow: c.flow,
            };
            self.containers.push((span, head));
        }
        let key_range = self.keys.len()..self.keys.len() + keys.len();
        self.keys.append(keys);
        self.parts.push((heads, key_range));
        self.parts.len() - 1
    }

    /// Room for `parts` parts over `lines` lines of text (a key and an item a line).
    pub(crate) fn reserve(&mut self, parts: usize, lines: usize) {
        self.parts.reserve(parts);
        self.containers.reserve(parts + lines / 4);
        self.items.reserve(lines);
        self.keys.reserve(lines);
    }

    /// How much it holds, to go back to with `truncate`.
    pub(crate) fn len(&self) -> [usize; 4] {
        [
            self.parts.len(),
            self.containers.len(),
            self.items.len(),
            self.keys.len(),
        ]
    }

    /// Drops the parts added since it held `len`.
    pub(crate) fn truncate(&mut self, len: [usize; 4]) {
        self.parts.truncate(len[0]);
        self.containers.truncate(len[1]);
        self.items.truncate(len[2]);
        self.keys.truncate(len[3]);
    }
}

impl Parsed {
    /// Forgets what `side` holds.
    pub(crate) fn clear(&mut self, side: Side) {
        self.containers[side].clear();
        self.keys[side].clear();
        self.placed[side].clear();
    }

    /// Places `part` of `layout`, read apart, for the part of `side` at `at..end`.
    pub(crate) fn place(
        &mut self,
        side: Side,
        at: usize,
        end: usize,
        layout: Arc<Layout>,
        part: usize,
    ) {
        self.placed[side].push((at, end, layout, part));
    }

    /// The part placed where `pos` is: where it is placed, its layout and part there.
    fn placed_at(&self, side: Side, pos: usize) -> Option<(usize, &Layout, usize)> {
        let placed = &self.placed[side];
        let i = placed
            .partition_point(|&(at, ..)| at <= pos)
            .checked_sub(1)?;
        let (at, end, layout, part) = &placed[i];
        (pos < *end).then_some((*at, &**layout, *part))
    }
}

#[cfg(test)]
impl Parsed {
    /// Every container and key of `side` as the merge looks them up (placed layouts where
    /// they are placed), in order: for comparing two readings.
    pub(crate) fn flattened(&self, side: Side, text: &[u8]) -> String {
        let mut containers: Vec<(Span, Container)> = self.containers[side].clone();
        let mut keys: Vec<(usize, bool, Vec<u8>)> = Vec::new();
        let mut add_keys = |list: &[(usize, bool, Key)], at: usize| {
            keys.extend(list.iter().map(|(start, array, key)| {
                let bytes = match key {
                    Key::Span(s, e) => text.get(s + at..e + at).unwrap_or_default().to_vec(),
                    Key::Owned(key) => key.to_vec(),
                };
                (start + at, *array, bytes)
            }));
        };
        add_keys(&self.keys[side], 0);
        for (at, _, layout, part) in &self.placed[side] {
            let (heads, key_range) = layout.parts[*part].clone();
            for ((start, end, object), _) in &layout.containers[heads] {
                let v = Val {
                    side,
                    start: start + at,
                    end: end + at,
                    shape: if *object { Shape::Object } else { Shape::Array },
                };
                containers.push(((v.start, v.end, *object), self.open(v)));
            }
            add_keys(&layout.keys[key_range], *at);
        }
        containers.sort_by_key(|&(span, _)| span);
        keys.sort_by_key(|&(start, array, _)| (start, array));
        format!("{containers:?}\n{keys:?}")
    }
}

/// Sorts `list` by `key` in place, keeping one entry per key (readers add each once).
fn one_of_each<T, K: Ord>(list: &mut Vec<T>, key: impl Fn(&T) -> K) {
    list.sort_unstable_by_key(&key);
    list.dedup_by(|a, b| key(a) == key(b));
}

/// How a format lays out its containers.
pub(crate) trait Syntax {
    /// The items of a container value (`v.shape` is `Object` or `Array`).
    fn open(&self, text: &[u8], v: Val) -> Container;
    /// The identity of an object member (`side` is `v.side` of its container).
    fn key<'t>(&'t self, side: Side, text: &'t [u8], item: &Item) -> Cow<'t, [u8]>;
    /// What a value is in the journal.
    fn record(&self, text: &[u8]) -> Value;
    /// Written between two items (`,` in JSON).
    const SEPARATOR: &'static [u8] = b"";
    /// Whether two different edits of one text keep both versions under the default policy
    /// (Markdown notes do; a YAML value picks one).
    const KEEP_BOTH: bool = false;
    /// What goes between two versions kept side by side.
    fn gap(&self, _first: &[u8], _second: &[u8]) -> &'static [u8] {
        b""
    }
    /// Each item keeps its own lead wherever it goes (YAML: the comments above an entry
    /// belong to it); else leads are layout, chosen by position (JSON, Markdown).
    const OWN_LEADS: bool = false;
    /// A member that always comes first in its object.
    const FIRST_KEY: Option<&'static [u8]> = None;
    /// An item's head is whole lines: its value starts on a new line.
    const HEAD_IS_LINE: bool = false;
    /// A value the format could not take apart (a YAML flow collection with comments in
    /// it): changed differently on both sides, the whole file goes to the line merge.
    fn opaque(&self, _v: Val) -> bool {
        false
    }
    /// A key as a person reads it, in journal locations.
    fn describe_key(&self, key: &[u8]) -> String {
        String::from_utf8_lossy(key).into_owned()
    }
}

/// The structural merge gave up (duplicate keys): the caller falls back to the line merge.
#[derive(Debug)]
pub(crate) struct Fallback;

pub(crate) type Step = Result<(), Fallback>;

/// Timestamps of the nearest enclosing objects that carry one on both sides.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Stamps {
    ours: i128,
    theirs: i128,
    field: &'static str,
}

/// An item of a merged container: where it is on each side (a side, an index there). The
/// base may stand on another side: without a base, what both share stands in for it.
#[derive(Clone, Copy, Debug, Default)]
struct Entry {
    base: Option<(Side, usize)>,
    ours: Option<usize>,
    theirs: Option<usize>,
}

impl Entry {
    /// Where it stands on each side: a side and an index there.
    fn places(&self) -> Sides<Option<(Side, usize)>> {
        Sides::new(
            self.base,
            self.ours.map(|i| (Side::Ours, i)),
            self.theirs.map(|i| (Side::Theirs, i)),
        )
    }
}

pub(crate) struct Merger<'a, S: Syntax> {
    syntax: &'a S,
    src: Sides<&'a [u8]>,
    eol: Sides<Option<Eol>>,
    /// Sides that end lines both ways: their text is always given the output's endings, so
    /// which side a line is copied from never shows.
    mixed: Sides<bool>,
    out_eol: Option<Eol>,
    pub out: Vec<u8>,
    options: &'a Options,
    pub records: Vec<Record>,
    pub conflicted: bool,
    pointer: Vec<String>,
}

impl<'a, S: Syntax> Merger<'a, S> {
    pub(crate) fn new(syntax: &'a S, src: Sides<&'a [u8]>, options: &'a Options) -> Self {
        let eol = src.map(Eol::of);
        Merger {
            syntax,
            src,
            eol,
            mixed: src.map(Eol::mixed),
            out_eol: eol.choose(),
            out: Vec::with_capacity(src[Side::Ours].len().max(src[Side::Theirs].len()) + 1024),
            options,
            records: Vec::new(),
            conflicted: false,
            pointer: Vec::new(),
        }
    }

    pub(crate) fn out_eol(&self) -> Eol {
        self.out_eol.unwrap_or(Eol::Lf)
    }

    /// A span of one side, with its line endings made the output's.
    pub(crate) fn text(&self, side: Side, range: Range<usize>) -> Cow<'a, [u8]> {
        let from = match (self.mixed[side], self.out_eol) {
            (true, Some(Eol::Lf)) => Some(Eol::CrLf),
            (true, Some(Eol::CrLf)) => Some(Eol::Lf),
            _ => self.eol[side],
        };
        convert(&self.src[side][range], from, self.out_eol)
    }

    fn val_text(&self, v: Val) -> Cow<'a, [u8]> {
        self.text(v.side, v.start..v.end)
    }

    /// Whether two values have the same text (line endings aside).
    pub(crate) fn same_text(&self, a: Val, b: Val) -> bool {
        self.same(a, b)
    }

    fn same(&self, a: Val, b: Val) -> bool {
        let (x, y) = (
            &self.src[a.side][a.start..a.end],
            &self.src[b.side][b.start..b.end],
        );
        x == y
            || ((self.eol[a.side] != self.eol[b.side] || self.mixed[a.side] || self.mixed[b.side])
                && self.val_text(a) == self.val_text(b))
    }

    pub(crate) fn put(&mut self, v: Val) {
        let text = self.val_text(v);
        self.out.extend_from_slice(&text);
    }

    /// Three-way choice among spans standing for base, ours and theirs (`None`: not there).
    pub(crate) fn pick(&self, spans: Sides<Option<(Side, Range<usize>)>>) -> Cow<'a, [u8]> {
        let texts = spans.map(|x| x.map(|(side, r)| self.text(side, r)));
        texts.choose().unwrap_or(Cow::Borrowed(b""))
    }

    /// `pick` for an item's lead. In line formats a lead holds comments: two different edits
    /// of one are merged line by line rather than one dropped.
    pub(crate) fn pick_lead(&self, spans: Sides<Option<(Side, Range<usize>)>>) -> Cow<'a, [u8]> {
        self.pick_lead_in(spans, false)
    }

    /// `pick_lead` inside a flow collection (`flow`): its leads are only layout.
    fn pick_lead_in(
        &self,
        spans: Sides<Option<(Side, Range<usize>)>>,
        flow: bool,
    ) -> Cow<'a, [u8]> {
        if flow {
            return self.pick(spans);
        }
        if S::OWN_LEADS {
            // Comments: two different edits of one keep both sides' lines.
            let texts = spans.clone().map(|x| x.map(|(side, r)| self.text(side, r)));
            if let (Some(b), Some(o), Some(t)) = (&texts.base, &texts.ours, &texts.theirs) {
                if o != t && b != o && b != t {
                    return Cow::Owned(text::merge_keep_both(b, o, t));
                }
            }
        }
        if S::SEPARATOR.is_empty() {
            let texts = spans.clone().map(|x| x.map(|(side, r)| self.text(side, r)));
            if let (Some(b), Some(o), Some(t)) = (&texts.base, &texts.ours, &texts.theirs) {
                if o != t && b != o && b != t {
                    if let Some(merged) = text::merge_union(b, o, t) {
                        return Cow::Owned(merged);
                    }
                }
            }
        }
        self.pick(spans)
    }

    /// Descends into a named part of the document, for journal locations.
    pub(crate) fn enter(&mut self, segment: String) {
        self.pointer.push(segment);
    }

    pub(crate) fn leave(&mut self) {
        self.pointer.pop();
    }

    fn location(&self) -> String {
        self.pointer
            .iter()
            .map(|s| format!("/{}", s.replace('~', "~0").replace('/', "~1")))
            .collect()
    }

    /// Writes the merge of one value (`vals`: its versions; where only one side still has
    /// it, that side's).
    pub(crate) fn value(&mut self, vals: Sides<Option<Val>>, stamps: Option<Stamps>) -> Step {
        let (base, Some(ours), Some(theirs)) = (vals.base, vals.ours, vals.theirs) else {
            self.survivor(vals);
            return Ok(());
        };
        if self.same(ours, theirs) {
            self.put(ours);
            return Ok(());
        }
        if let Some(b) = base {
            if self.same(b, ours) {
                self.put(theirs);
                return Ok(());
            }
            if self.same(b, theirs) {
                self.put(ours);
                return Ok(());
            }
        }
        if vals.iter().flatten().any(|&v| self.syntax.opaque(v)) {
            return Err(Fallback);
        }
        // A base of another shape holds nothing to merge against: both sides added.
        let same_shape = Sides {
            base: base.filter(|b| b.shape == ours.shape),
            ..vals
        };
        match (ours.shape, theirs.shape) {
            (Shape::Object, Shape::Object) => self.object(same_shape, stamps),
            (Shape::Array, Shape::Array) => self.array(same_shape, stamps),
            (Shape::Text, Shape::Text) => {
                // Every line ends with a break for the merge (a YAML value ends before its
                // last one), so an appended line is an insertion, not a changed last line.
                let unended = !self.val_text(ours).ends_with(b"\n")
                    && !self.val_text(theirs).ends_with(b"\n");
                // (The file's own line ending: a bare `\n` on one line of a CRLF text makes
                // it a different line, and an append on both sides a collision.)
                let eol = self.out_eol().bytes();
                let lines = |v: Option<Val>| {
                    let mut t = v.map(|v| self.val_text(v).into_owned()).unwrap_or_default();
                    if !t.is_empty() && !t.ends_with(b"\n") {
                        t.extend_from_slice(eol);
                    }
                    t
                };
                let (b, o, t) = (
                    lines(same_shape.base),
                    lines(Some(ours)),
                    lines(Some(theirs)),
                );
                match text::merge_union(&b, &o, &t) {
                    Some(mut merged) => {
                        if unended && merged.ends_with(b"\n") {
                            merged.pop();
                            if merged.ends_with(b"\r") {
                                merged.pop();
                            }
                        }
                        self.out.extend_from_slice(&merged)
                    }
                    None => self.collide(vals, stamps),
                }
                Ok(())
            }
            _ => {
                self.collide(vals, stamps);
                Ok(())
            }
        }
    }

    fn open(&self, v: Val) -> Container {
        self.syntax.open(self.src[v.side], v)
    }

    /// The member `name` of an object on `side`.
    fn member(&self, side: Side, c: &Container, name: &str) -> Option<Item> {
        let text = self.src[side];
        c.items
            .iter()
            .find(|i| self.syntax.key(side, text, i).as_ref() == name.as_bytes())
            .copied()
    }

    /// The containers of a value's versions.
    fn containers(&self, vals: Sides<Option<Val>>) -> Sides<Option<Container>> {
        vals.map(|v| v.map(|v| self.open(v)))
    }

    fn object(&mut self, vals: Sides<Option<Val>>, stamps: Option<Stamps>) -> Step {
        let cs = self.containers(vals);
        let keys: Sides<Vec<Cow<[u8]>>> = Sides::from_fn(|side| match &cs[side] {
            Some(c) => c
                .items
                .iter()
                .map(|i| self.syntax.key(side, self.src[side], i))
                .collect(),
            None => Vec::new(),
        });
        for k in keys.iter() {
            if k.iter().collect::<HashSet<_>>().len() != k.len() {
                return Err(Fallback);
            }
        }
        let stamps = self.stamps(&cs).or(stamps);
        let slots = keyed_order(
            &keys,
            |slot| self.keeps(&cs, slot),
            |o, t| {
                let member = |(side, i): (Side, usize)| {
                    let item = cs[side]
                        .as_ref()
                        .map(|c| c.items[i])
                        .expect("side container");
                    SortKey {
                        instant: None,
                        bytes: &self.src[side][item.start..item.end],
                    }
                };
                combine_runs(&tag(Side::Ours, o), &tag(Side::Theirs, t), member)
            },
        );
        let names: Vec<String> = slots
            .iter()
            .map(|s| {
                let k = match (s.ours, s.theirs, s.base) {
                    (Some(i), _, _) => &keys[Side::Ours][i],
                    (None, Some(i), _) => &keys[Side::Theirs][i],
                    (None, None, Some(i)) => &keys[Side::Base][i],
                    _ => return String::new(),
                };
                self.syntax.describe_key(k)
            })
            .collect();
        let mut order: Vec<usize> = (0..slots.len()).collect();
        if let Some(first) = S::FIRST_KEY {
            // The format wants this member before all others (a section's own text).
            let key_of = |s: &Slot| match (s.ours, s.theirs, s.base) {
                (Some(i), _, _) => keys[Side::Ours][i].as_ref(),
                (None, Some(i), _) => keys[Side::Theirs][i].as_ref(),
                (None, None, Some(i)) => keys[Side::Base][i].as_ref(),
                _ => b"".as_slice(),
            };
            order.sort_by_key(|&i| key_of(&slots[i]) != first);
        }
        let names: Vec<String> = order.iter().map(|&i| names[i].clone()).collect();
        let entries: Vec<Entry> = order.iter().map(|&i| entry(slots[i])).collect();
        self.write_container(vals, &cs, &entries, stamps, |i| names[i].clone())
    }

    fn array(&mut self, vals: Sides<Option<Val>>, stamps: Option<Stamps>) -> Step {
        let cs = self.containers(vals);
        let entries = match self.identities(&cs) {
            Some(ids) => {
                let slots = keyed_order(
                    &ids,
                    |slot| self.keeps(&cs, slot),
                    |o, t| {
                        let key = |(side, i): (Side, usize)| self.sort_key(&cs, side, i);
                        combine_runs(&tag(Side::Ours, o), &tag(Side::Theirs, t), key)
                    },
                );
                slots.into_iter().map(entry).collect()
            }
            None => self.sequence(&cs),
        };
        self.write_container(vals, &cs, &entries, stamps, |i| i.to_string())
    }

    /// Whether a base member/record that `slot` names stays in the result: both sides kept
    /// it, or one deleted it while the other changed it (the change wins).
    fn keeps(&self, cs: &Sides<Option<Container>>, slot: Slot) -> bool {
        let item = |side: Side, i: usize| {
            Val::of(side, &cs[side].as_ref().expect("side container").items[i])
        };
        // Where items own their leads, a comment added above one is a change too.
        let commented = |side: Side, i: usize, b: usize| {
            S::OWN_LEADS && {
                let lead = |side: Side, i: usize| {
                    let it = cs[side].as_ref().expect("side container").items[i];
                    self.text(side, it.lead..it.start)
                };
                let (base_lead, side_lead) = (lead(Side::Base, b), lead(side, i));
                let in_base: HashSet<&[u8]> = comment_lines(&base_lead).collect();
                let added = comment_lines(&side_lead).any(|l| !in_base.contains(l));
                added
            }
        };
        match (slot.base, slot.ours, slot.theirs) {
            (_, Some(_), Some(_)) => true,
            (Some(b), Some(i), None) => {
                !self.same(item(Side::Base, b), item(Side::Ours, i)) || commented(Side::Ours, i, b)
            }
            (Some(b), None, Some(i)) => {
                !self.same(item(Side::Base, b), item(Side::Theirs, i))
                    || commented(Side::Theirs, i, b)
            }
            _ => false,
        }
    }

    /// The instant in an object's timestamp field, if it has one.
    fn instant_of(&self, side: Side, c: &Container) -> Option<(i128, &'static str)> {
        TIMESTAMP_KEYS.iter().find_map(|&field| {
            let item = self.member(side, c, field)?;
            instant::parse(&self.src[side][item.value_range()]).map(|i| (i, field))
        })
    }

    /// The timestamp that decides collisions inside these objects, if both sides carry one.
    fn stamps(&self, cs: &Sides<Option<Container>>) -> Option<Stamps> {
        let (o, t) = (cs[Side::Ours].as_ref()?, cs[Side::Theirs].as_ref()?);
        TIMESTAMP_KEYS.iter().find_map(|&field| {
            let at = |side: Side, c: &Container| {
                self.member(side, c, field)
                    .and_then(|i| instant::parse(&self.src[side][i.value_range()]))
            };
            Some(Stamps {
                ours: at(Side::Ours, o)?,
                theirs: at(Side::Theirs, t)?,
                field,
            })
        })
    }

    fn sort_key(&self, cs: &Sides<Option<Container>>, side: Side, i: usize) -> SortKey<'a> {
        let item = cs[side].as_ref().expect("side container").items[i];
        let instant = (item.shape == Shape::Object)
            .then(|| self.instant_of(side, &self.open(Val::of(side, &item))))
            .flatten()
            .map(|(i, _)| i);
        SortKey {
            instant,
            bytes: &self.src[side][item.value_range()],
        }
    }

    /// The identity of every element, when all elements on all sides are objects that carry
    /// one identity key with a scalar value, unique on each side.
    fn identities(&self, cs: &Sides<Option<Container>>) -> Option<Sides<Vec<&'a [u8]>>> {
        let total: usize = cs.iter().flatten().map(|c| c.items.len()).sum();
        if total == 0
            || cs
                .iter()
                .flatten()
                .flat_map(|c| &c.items)
                .any(|i| i.shape != Shape::Object)
        {
            return None;
        }
        // Each element's container is opened, asked for its identity and dropped: a store's
        // elements are not all held at once.
        'keys: for name in self.options.identity_keys() {
            let mut ids: Sides<Vec<&'a [u8]>> = Sides::default();
            for side in Side::ALL {
                let Some(c) = &cs[side] else {
                    continue;
                };
                let text = self.src[side];
                let mut seen = HashSet::with_capacity_and_hasher(c.items.len(), Default::default());
                for item in &c.items {
                    let object = self.open(Val::of(side, item));
                    let Some(id) = self.member(side, &object, name) else {
                        continue 'keys;
                    };
                    if !matches!(id.shape, Shape::String | Shape::Scalar) {
                        continue 'keys;
                    }
                    let id = &text[id.value_range()];
                    if !seen.insert(id) {
                        continue 'keys;
                    }
                    ids[side].push(id);
                }
            }
            return Some(ids);
        }
        None
    }

    /// Elements without identity merge as a sequence: a diff3 over the elements, where both
    /// sides' inserts are kept and deletes honoured.
    fn sequence(&self, cs: &Sides<Option<Container>>) -> Vec<Entry> {
        // Elements are compared by their text (line endings made the output's).
        let mut interned: HashMap<Cow<'a, [u8]>, usize> = HashMap::default();
        // Where each distinct element first stands (a side, an index there).
        let mut first_at: Vec<(Side, usize)> = Vec::new();
        let ids: Sides<Vec<usize>> = Sides::from_fn(|side| match &cs[side] {
            Some(c) => c
                .items
                .iter()
                .enumerate()
                .map(|(k, i)| {
                    let n = interned.len();
                    let id = *interned
                        .entry(self.text(side, i.value_range()))
                        .or_insert(n);
                    if id == n {
                        first_at.push((side, k));
                    }
                    id
                })
                .collect(),
            None => Vec::new(),
        });
        // Without a base, what both sides share stands in for it.
        let (base_side, base_ids, base_index): (Side, Vec<usize>, Vec<usize>) = if cs[Side::Base]
            .is_some()
        {
            (
                Side::Base,
                ids[Side::Base].clone(),
                (0..ids[Side::Base].len()).collect(),
            )
        } else {
            // Diffed in an order chosen by content, so the result does not depend on
            // which side is ours.
            let texts = |side: Side| {
                cs[side]
                    .iter()
                    .flat_map(|c| &c.items)
                    .map(move |i| self.text(side, i.lead..i.end))
            };
            let first = if texts(Side::Ours).le(texts(Side::Theirs)) {
                Side::Ours
            } else {
                Side::Theirs
            };
            let second = first.other();
            let mut shared = (Vec::new(), Vec::new());
            for op in similar::capture_diff_slices(Algorithm::Myers, &ids[first], &ids[second]) {
                if let DiffOp::Equal { old_index, len, .. } = op {
                    let run = old_index..old_index + len;
                    shared.0.extend_from_slice(&ids[first][run.clone()]);
                    shared.1.extend(run);
                }
            }
            (first, shared.0, shared.1)
        };
        let ours_only = |i: usize| Entry {
            ours: Some(i),
            ..Entry::default()
        };
        let theirs_only = |i: usize| Entry {
            theirs: Some(i),
            ..Entry::default()
        };
        let mut out = Vec::new();
        // Blocks of prose pair up by the lines they share, to merge line by line.
        let prose = cs
            .iter()
            .flatten()
            .flat_map(|c| &c.items)
            .all(|i| i.shape == Shape::Text);
        let mut texts: Vec<&[u8]> = vec![&[]; interned.len()];
        for (text, &id) in &interned {
            texts[id] = text;
        }
        let shared_lines = |a: &usize, b: &usize| {
            let theirs: HashSet<&[u8]> = texts[*b]
                .split(|&c| c == b'\n')
                .filter(|l| !l.is_empty())
                .collect();
            texts[*a]
                .split(|&c| c == b'\n')
                .filter(|l| !l.is_empty() && theirs.contains(l))
                .count()
        };
        // Objects pair up by the members they share (key and value), so an object edited
        // while others are inserted next to it is still one object changed: the other
        // side's edit of it merges with this one member by member.
        let objects = cs
            .iter()
            .flatten()
            .flat_map(|c| &c.items)
            .any(|i| i.shape == Shape::Object);
        let members: std::cell::RefCell<HashMap<usize, Members>> = Default::default();
        let members_of = |id: usize| {
            let (side, k) = first_at[id];
            let item = cs[side].as_ref().expect("side container").items[k];
            if item.shape != Shape::Object {
                return HashSet::default();
            }
            let c = self.open(Val::of(side, &item));
            c.items
                .iter()
                .map(|m| {
                    let key = self.syntax.key(side, self.src[side], m).into_owned();
                    (key, self.text(side, m.value_range()).into_owned())
                })
                .collect()
        };
        let shared_members = |a: &usize, b: &usize| {
            let mut cache = members.borrow_mut();
            for id in [*a, *b] {
                cache.entry(id).or_insert_with(|| members_of(id));
            }
            let (ma, mb) = (&cache[a], &cache[b]);
            ma.iter().filter(|m| mb.contains(*m)).count()
        };
        let pair: Option<Likeness<usize>> = if prose {
            Some(&shared_lines)
        } else if objects {
            Some(&shared_members)
        } else {
            None
        };
        for region in regions(&base_ids, &ids[Side::Ours], &ids[Side::Theirs], pair) {
            match region {
                Region::Same(rb, ro, rt) | Region::Both(rb, ro, rt)
                    if rb.len() == ro.len() && rb.len() == rt.len() =>
                {
                    // Unchanged, or changed element by element: each triple merges as values.
                    out.extend(rb.zip(ro).zip(rt).map(|((b, o), t)| Entry {
                        base: Some((base_side, base_index[b])),
                        ours: Some(o),
                        theirs: Some(t),
                    }))
                }
                Region::Ours(_, ro) => out.extend(ro.map(ours_only)),
                Region::Theirs(_, rt) => out.extend(rt.map(theirs_only)),
                Region::Same(_, ro, _) => out.extend(ro.map(ours_only)),
                Region::Both(_, ro, rt)
                    if ids[Side::Ours][ro.clone()] == ids[Side::Theirs][rt.clone()] =>
                {
                    // The same change on both sides.
                    out.extend(ro.zip(rt).map(|(o, t)| Entry {
                        ours: Some(o),
                        theirs: Some(t),
                        ..Entry::default()
                    }))
                }
                Region::Both(rb, ro, rt) => {
                    // Keep what both kept, and everything either side added.
                    let mut in_ours = counts(&ids[Side::Ours][ro.clone()]);
                    let mut in_theirs = counts(&ids[Side::Theirs][rt.clone()]);
                    for &b in &base_ids[rb.clone()] {
                        let kept_by_ours = take(&mut in_ours, b);
                        if take(&mut in_theirs, b) && kept_by_ours {
                            out.push(ours_only(
                                ro.clone()
                                    .find(|&i| ids[Side::Ours][i] == b)
                                    .unwrap_or(ro.start),
                            ));
                        }
                    }
                    let in_base = counts(&base_ids[rb.clone()]);
                    let added = |side: Side, range: Range<usize>| {
                        let mut base_left = in_base.clone();
                        range
                            .filter(|&i| !take(&mut base_left, ids[side][i]))
                            .collect::<Vec<usize>>()
                    };
                    let (new_o, new_t) = (added(Side::Ours, ro), added(Side::Theirs, rt));
                    out.extend(self.both_added(cs, &ids, &new_o, &new_t));
                }
            }
        }
        if cs[Side::Base].is_some() {
            // An element both sides added, each at its own place, stands once (at the first
            // of its places): as often as the side that added it most.
            let one_sided = |e: &Entry| match (e.base, e.ours, e.theirs) {
                (None, Some(i), None) => Some((Side::Ours, ids[Side::Ours][i])),
                (None, None, Some(i)) => Some((Side::Theirs, ids[Side::Theirs][i])),
                _ => None,
            };
            let mut added: Sides<HashMap<usize, usize>> = Sides::default();
            for (side, id) in out.iter().filter_map(one_sided) {
                *added[side].entry(id).or_insert(0) += 1;
            }
            let mut emitted: HashMap<usize, usize> = HashMap::default();
            out.retain(|e| {
                let Some((_, id)) = one_sided(e) else {
                    return true;
                };
                let want = added[Side::Ours]
                    .get(&id)
                    .copied()
                    .unwrap_or(0)
                    .max(added[Side::Theirs].get(&id).copied().unwrap_or(0));
                let n = emitted.entry(id).or_insert(0);
                *n += 1;
                *n <= want
            });
        }
        if cs[Side::Base].is_none() {
            // Added on both sides: an element both have stands once (as often as the side
            // that has it most), wherever the two put it.
            let (co, ct) = (counts(&ids[Side::Ours]), counts(&ids[Side::Theirs]));
            let mut emitted: HashMap<usize, usize> = HashMap::default();
            out.retain(|e| {
                let id = match (e.ours, e.theirs) {
                    (Some(i), _) => ids[Side::Ours][i],
                    (None, Some(i)) => ids[Side::Theirs][i],
                    _ => return true,
                };
                let want = co
                    .get(&id)
                    .copied()
                    .unwrap_or(0)
                    .max(ct.get(&id).copied().unwrap_or(0));
                let n = emitted.entry(id).or_insert(0);
                *n += 1;
                *n <= want
            });
        }
        out
    }

    /// Elements both sides inserted at one place: ordered by time or content, each element
    /// as many times as the side that added it most often.
    fn both_added(
        &self,
        cs: &Sides<Option<Container>>,
        ids: &Sides<Vec<usize>>,
        o: &[usize],
        t: &[usize],
    ) -> Vec<Entry> {
        let key = |(side, i): (Side, usize)| self.sort_key(cs, side, i);
        let (co, ct) = (
            counts(&o.iter().map(|&i| ids[Side::Ours][i]).collect::<Vec<_>>()),
            counts(&t.iter().map(|&i| ids[Side::Theirs][i]).collect::<Vec<_>>()),
        );
        // Where each element stands on each side, in order: the n-th copy of an element both
        // sides added is one entry holding both (its layout then chosen from both, the same
        // whichever side is ours).
        let mut places: HashMap<usize, Sides<Vec<usize>>> = HashMap::default();
        for (side, side_items) in [(Side::Ours, o), (Side::Theirs, t)] {
            for &i in side_items {
                places.entry(ids[side][i]).or_default()[side].push(i);
            }
        }
        let mut emitted: HashMap<usize, usize> = HashMap::default();
        let mut out = Vec::new();
        for (side, i) in combine_runs(&tag(Side::Ours, o), &tag(Side::Theirs, t), key) {
            let id = ids[side][i];
            let want = co
                .get(&id)
                .copied()
                .unwrap_or(0)
                .max(ct.get(&id).copied().unwrap_or(0));
            let n = emitted.entry(id).or_insert(0);
            if *n < want {
                let at = places.get(&id);
                let copy = |side: Side| at.and_then(|p| p[side].get(*n).copied());
                out.push(Entry {
                    ours: copy(Side::Ours),
                    theirs: copy(Side::Theirs),
                    ..Entry::default()
                });
                *n += 1;
            }
        }
        out
    }

    /// Writes a container from its merged entries, taking the layout (what opens it, the white
    /// space after that, between items and before the end, what closes it) three-way.
    fn write_container(
        &mut self,
        vals: Sides<Option<Val>>,
        cs: &Sides<Option<Container>>,
        entries: &[Entry],
        stamps: Option<Stamps>,
        segment: impl Fn(usize) -> String,
    ) -> Step {
        let item = |(side, i): (Side, usize)| cs[side].as_ref().map(|c| c.items[i]);
        let nonempty = |side: Side| cs[side].as_ref().filter(|c| !c.items.is_empty());
        let both = |f: &dyn Fn(Val, &Container) -> Range<usize>| {
            Sides::from_fn(|s| match (vals[s], &cs[s]) {
                (Some(v), Some(c)) => Some((s, f(v, c))),
                _ => None,
            })
        };
        // A flow collection in a line format lays out like JSON.
        let flow = cs.iter().flatten().any(|c| c.flow);
        if cs.iter().flatten().any(|c| c.flow != flow) {
            // One side rewrote `[a, b]` as a block list (or back): the line merge says it.
            return Err(Fallback);
        }
        let (separator_text, own_leads) = if flow {
            (&b","[..], false)
        } else {
            (S::SEPARATOR, S::OWN_LEADS)
        };
        let opening = self.pick(both(&|v, c| v.start..c.open));
        let closing = self.pick(both(&|v, c| c.end..v.end));
        self.out.extend_from_slice(&opening);
        if entries.is_empty() {
            let inner = self.pick(Sides::from_fn(|s| {
                cs[s]
                    .as_ref()
                    .filter(|c| c.items.is_empty())
                    .map(|c| (s, c.open..c.end))
            }));
            self.out.extend_from_slice(&inner);
            self.out.extend_from_slice(&closing);
            return Ok(());
        }
        for (n, e) in entries.iter().enumerate() {
            let at = e.places();
            if n > 0 {
                self.out.extend_from_slice(separator_text);
            }
            let own_lead = |first_too: bool| {
                at.map(|x| {
                    x.filter(|&(_, i)| first_too || i > 0)
                        .and_then(|x| item(x).map(|it| (x.0, it.lead..it.start)))
                })
            };
            // A container's separator: the white space before its second item (or first).
            let separator = |this: &Self| {
                this.pick(at.map(|x| {
                    x.and_then(|(s, _)| nonempty(s).map(|c| (s, c)))
                        .map(|(s, c)| {
                            let it = c.items.get(1).unwrap_or(&c.items[0]);
                            (s, it.lead..it.start)
                        })
                }))
            };
            let lead = if own_leads {
                self.own_lead(cs, entries, n, own_lead(true), &separator(self))
            } else if n == 0 {
                self.pick(Sides::from_fn(|s| {
                    nonempty(s).map(|c| (s, c.items[0].lead..c.items[0].start))
                }))
            } else {
                // Its own separator where it followed another item; else its container's.
                // Where it follows here the item it followed on a side, that side's separator
                // says how the two are apart (a blank line before a list, say); a side where
                // something else came between has none to say.
                let own = own_lead(false);
                let prev_at = entries[n - 1].places();
                let mut following = own.clone();
                for side in Side::ALL {
                    let follows = matches!(
                        (at[side], prev_at[side]),
                        (Some((s, i)), Some((ps, pi))) if s == ps && pi + 1 == i
                    );
                    if !follows {
                        following[side] = None;
                    }
                }
                if following.iter().any(Option::is_some) {
                    self.pick_lead_in(following, flow)
                } else if own.iter().any(Option::is_some) {
                    self.pick_lead_in(own, flow)
                } else {
                    separator(self)
                }
            };
            self.out.extend_from_slice(&lead);
            let head =
                self.pick(at.map(|x| x.and_then(|x| item(x).map(|it| (x.0, it.start..it.value)))));
            self.out.extend_from_slice(&head);
            // A heading that ended its file without a line break, now followed by text.
            let unended = (S::HEAD_IS_LINE && !head.is_empty() && !head.ends_with(b"\n"))
                .then_some(self.out.len());
            self.pointer.push(segment(n));
            let vals = at.map(|x| x.and_then(|x| item(x).map(|it| Val::of(x.0, &it))));
            self.value(vals, stamps)?;
            if let Some(at) = unended.filter(|&at| self.out.len() > at) {
                let eol = self.out_eol().bytes();
                self.out.splice(at..at, eol.iter().copied());
            }
            self.pointer.pop();
            self.end_line_if_more(n + 1 < entries.len());
        }
        let trail = self.pick_lead_in(
            Sides::from_fn(|s| nonempty(s).map(|c| (s, c.close..c.end))),
            flow,
        );
        self.out.extend_from_slice(&trail);
        self.out.extend_from_slice(&closing);
        Ok(())
    }

    /// The lead of entry `n` in a format where each item keeps its own lead (YAML: the
    /// comments above an entry). A lead that opened its file or block holds no line break
    /// before its comments; leads are compared and merged as if it did, so an entry that
    /// moved to or from the top is no change, and the result gets the break its position
    /// needs: a comment never joins the value before it.
    fn own_lead(
        &self,
        cs: &Sides<Option<Container>>,
        entries: &[Entry],
        n: usize,
        mut spans: Sides<Option<(Side, Range<usize>)>>,
        separator: &[u8],
    ) -> Cow<'a, [u8]> {
        let raw = spans.clone();
        let eol = self.out_eol().bytes();
        // The start of a line in this container: a break and the indentation.
        let line_start: Vec<u8> = match separator.iter().rposition(|&b| b == b'\n') {
            Some(nl) => {
                let from = if nl > 0 && separator[nl - 1] == b'\r' {
                    nl - 1
                } else {
                    nl
                };
                separator[from..].to_vec()
            }
            None => eol.to_vec(),
        };
        let starts_line = |t: &[u8]| t.starts_with(b"\n") || t.starts_with(b"\r\n");
        let normal = |t: Cow<'a, [u8]>| -> Cow<'a, [u8]> {
            if starts_line(&t) {
                t
            } else if !t.contains(&b'\n') {
                Cow::Owned(line_start.clone())
            } else {
                Cow::Owned([eol, &t[..]].concat())
            }
        };
        let lead_of = |x: Option<(Side, Range<usize>)>| x.map(|(s, r)| normal(self.text(s, r)));
        // A side that deleted the entry before this one (which the other side changed, so it
        // stays) may have left that entry's comments here: they are already written above it.
        if n > 0 {
            let prev = &entries[n - 1];
            let deleter = match (prev.ours, prev.theirs) {
                (Some(_), None) => Some(Side::Theirs),
                (None, Some(_)) => Some(Side::Ours),
                _ => None,
            };
            let prev_base = prev.base.and_then(|(s, i)| {
                cs[s]
                    .as_ref()
                    .map(|c| (s, c.items[i].lead..c.items[i].start))
            });
            if let (Some(d), Some(pb)) = (deleter, prev_base) {
                let (here, base_here) = (
                    lead_of(spans[d].clone()),
                    lead_of(spans[Side::Base].clone()),
                );
                if here.is_some() && here != base_here && here == lead_of(Some(pb)) {
                    spans[d] = spans[Side::Base].clone();
                }
            }
        }
        let leads = spans.map(lead_of);
        let merged = match (&leads.base, &leads.ours, &leads.theirs) {
            (Some(b), Some(o), Some(t)) if o != t && b != o && b != t => {
                Cow::Owned(text::merge_keep_both(b, o, t))
            }
            _ => leads.choose().unwrap_or(Cow::Borrowed(b"")),
        };
        if n > 0 {
            return merged;
        }
        // The first entry: its container says whether a first lead starts its own line.
        let first = |s: Side| {
            cs[s]
                .as_ref()
                .and_then(|c| c.items.first())
                .map(|i| starts_line(&self.src[s][i.lead..i.start]))
        };
        if Sides::from_fn(first).choose() != Some(false) {
            return merged;
        }
        let rest = merged
            .strip_prefix(b"\r\n")
            .or_else(|| merged.strip_prefix(b"\n"))
            .map(<[u8]>::to_vec);
        match rest {
            Some(rest) if rest.contains(&b'\n') => Cow::Owned(rest),
            // Only indentation: the raw leads say it best (a mapping on its dash's line).
            _ => self.pick(raw),
        }
    }

    /// Line-based formats: an item that ended its side without a line break (the last line
    /// of a file) gets one when another item follows it.
    fn end_line_if_more(&mut self, more: bool) {
        // (YAML items end before their line break: the next item's lead starts with it.)
        if more
            && S::SEPARATOR.is_empty()
            && !S::OWN_LEADS
            && !self.out.is_empty()
            && self.out.last() != Some(&b'\n')
        {
            let eol = self.out_eol().bytes();
            self.out.extend_from_slice(eol);
        }
    }

    /// Two different new values for one scalar (or values of different shapes, or a text
    /// both sides edited differently).
    fn collide(&mut self, vals: Sides<Option<Val>>, stamps: Option<Stamps>) {
        let (Some(ours), Some(theirs)) = (vals.ours, vals.theirs) else {
            return self.survivor(vals);
        };
        let text_leaves = ours.shape == Shape::Text && theirs.shape == Shape::Text;
        let keep_both = text_leaves
            && (self.options.policy == Policy::KeepBoth
                || (self.options.policy == Policy::Journal && S::KEEP_BOTH));
        if keep_both {
            // Both versions, one after the other, in an order chosen by content.
            let (first, second) = if self.val_text(ours) <= self.val_text(theirs) {
                (ours, theirs)
            } else {
                (theirs, ours)
            };
            self.put(first);
            self.end_line_if_more(true);
            let gap = self.syntax.gap(
                &self.src[first.side][first.start..first.end],
                &self.src[second.side][second.start..second.end],
            );
            let gap = convert(gap, Some(Eol::Lf), self.out_eol).into_owned();
            self.out.extend_from_slice(&gap);
            self.put(second);
            self.journal(vals, None, Rule::KeepBoth);
            return;
        }
        let (winner, rule) = match self.options.policy {
            Policy::Ours => (ours, Rule::Policy("ours")),
            Policy::Theirs => (theirs, Rule::Policy("theirs")),
            Policy::Markers => {
                // The format's merge resolves markers by merging twice; should a collision
                // still get here, keep ours and never call the result clean.
                self.conflicted = true;
                self.put(ours);
                return;
            }
            Policy::Journal | Policy::KeepBoth => match stamps {
                Some(s) if s.ours != s.theirs => {
                    let newer = if s.ours > s.theirs { ours } else { theirs };
                    (
                        newer,
                        Rule::Newer {
                            field: s.field.to_string(),
                        },
                    )
                }
                _ => {
                    let last = if self.val_text(ours) > self.val_text(theirs) {
                        ours
                    } else {
                        theirs
                    };
                    (last, Rule::Canonical)
                }
            },
        };
        self.journal(vals, Some(winner), rule);
        self.put(winner);
    }

    /// What only one side still has (the other deleted it; `vals`: its versions) stays: where
    /// the base had it, that side changed it, and the change beat the deletion (journaled).
    pub(crate) fn survivor(&mut self, vals: Sides<Option<Val>>) {
        let Some(kept) = vals.ours.or(vals.theirs) else {
            return;
        };
        if vals.base.is_some() {
            self.journal(vals, Some(kept), Rule::ModifyBeatsDelete);
        }
        self.put(kept);
    }

    /// Records the versions of a value the merge decided among (`vals`), what it chose and by
    /// which rule.
    fn journal(&mut self, vals: Sides<Option<Val>>, chosen: Option<Val>, rule: Rule) {
        let value = |v: Option<Val>| v.map(|v| self.syntax.record(&self.val_text(v)));
        let record = Record {
            path: self.options.path.clone(),
            location: self.location(),
            base: value(vals.base),
            ours: value(vals.ours),
            theirs: value(vals.theirs),
            chosen: value(chosen),
            rule,
        };
        self.records.push(record);
    }
}

/// An object's members, key and value text.
type Members = HashSet<(Vec<u8>, Vec<u8>)>;

/// The comment lines of a lead (`#` lines, trimmed).
fn comment_lines(lead: &[u8]) -> impl Iterator<Item = &[u8]> {
    lead.split(|&b| b == b'\n')
        .map(<[u8]>::trim_ascii)
        .filter(|l| l.starts_with(b"#"))
}

fn tag(side: Side, idx: &[usize]) -> Vec<(Side, usize)> {
    idx.iter().map(|&i| (side, i)).collect()
}

fn entry(slot: Slot) -> Entry {
    Entry {
        base: slot.base.map(|i| (Side::Base, i)),
        ours: slot.ours,
        theirs: slot.theirs,
    }
}

fn counts(ids: &[usize]) -> HashMap<usize, usize> {
    let mut m = HashMap::default();
    for &i in ids {
        *m.entry(i).or_insert(0) += 1;
    }
    m
}

/// Takes one `id` from a multiset; whether there was one.
fn take(set: &mut HashMap<usize, usize>, id: usize) -> bool {
    match set.get_mut(&id) {
        Some(n) if *n > 0 => {
            *n -= 1;
            true
        }
        _ => false,
    }
}
