//! The layouts the line formats (YAML, Markdown) read up front: each side's containers and
//! keys, looked up by span, and parts read apart (YAML entries) placed by reference.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::Arc;

use super::{Container, Item, Shape, Val};
use crate::sides::{Side, Sides};

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
