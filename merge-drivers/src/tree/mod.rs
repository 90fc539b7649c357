//! The merge engine every structured format shares: the tree model (containers of items over
//! each side's text), the `Syntax` a format gives it, and the `Merger` that writes the result.
//!
//! Each side is a tree of spans over its own text (containers of items, each item a lead, a
//! head and a value), merged by the rules of the README, and written by copying spans, so
//! unchanged text keeps its bytes. A format only says how to open a container and read a key
//! (`Syntax`); JSON, YAML and the sections and blocks of Markdown all merge here: one value in
//! [`value`], objects member by member in [`object`], arrays in [`array`], a merged container
//! written out in [`output`]; [`parsed`] holds the layouts the line formats read up front.

mod array;
mod object;
mod output;
mod parsed;
mod value;

use std::borrow::Cow;
use std::ops::Range;

use serde_json::Value;

use crate::eol::{convert, Eol};
use crate::record::Record;
use crate::sequence::Slot;
use crate::sides::{Side, Sides};
use crate::Options;

pub(crate) use parsed::{Layout, Parsed};

/// What a value is to the merge.
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
    /// Leads may hold comments (JSONC): where all three differ, they merge line by line,
    /// every side's lines kept, rather than one picked.
    const COMMENT_LEADS: bool = false;
    /// A member that always comes first in its object.
    const FIRST_KEY: Option<&'static [u8]> = None;
    /// Members of a lower rank come before members of a higher one, whatever the merge's
    /// order (TOML: a table's keys before the table headers that follow them).
    fn rank(&self, _key: &[u8]) -> u8 {
        0
    }
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

impl From<Slot> for Entry {
    /// The entry of an item merged in keyed order (its base on the base).
    fn from(slot: Slot) -> Entry {
        Entry {
            base: slot.base.map(|i| (Side::Base, i)),
            ours: slot.ours,
            theirs: slot.theirs,
        }
    }
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

/// One merge under way: the three sides' texts, the output written so far, the records of
/// what it decided, and where in the document it is (for those records).
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
            out: Vec::with_capacity(src.ours.len().max(src.theirs.len()) + 1024),
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
}
