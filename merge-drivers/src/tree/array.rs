//! Arrays: elements with an identity merged in keyed order, others as a sequence (a diff3
//! over the elements, blocks of prose and objects paired by what they share).

use std::borrow::Cow;
use std::ops::Range;

use foldhash::{HashMap, HashSet};
use similar::{Algorithm, DiffOp};

use super::{Container, Entry, Merger, Shape, Stamps, Step, Syntax, Val};
use crate::sequence::{combine_sides, keyed_order, regions, Likeness, Region, SortKey};
use crate::sides::{Side, Sides};

impl<'a, S: Syntax> Merger<'a, S> {
    /// Writes the merge of an array (`vals`: its versions, both sides' there): by the
    /// elements' identities where they all have one, else as a sequence.
    pub(super) fn array(&mut self, vals: Sides<Option<Val>>, stamps: Option<Stamps>) -> Step {
        let cs = self.containers(vals);
        let entries = match self.identities(&cs) {
            Some(ids) => {
                let slots = keyed_order(
                    &ids,
                    |slot| self.keeps(&cs, slot),
                    |o, t| {
                        let key = |(side, i): (Side, usize)| self.sort_key(&cs, side, i);
                        combine_sides(o, t, key)
                    },
                );
                slots.into_iter().map(Entry::from).collect()
            }
            None => self.sequence(&cs),
        };
        self.write_container(vals, &cs, &entries, stamps, |i| i.to_string())
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
            let most = |id| count(&added.ours, id).max(count(&added.theirs, id));
            keep_most(&mut out, |e| one_sided(e).map(|(_, id)| id), most);
        }
        if cs[Side::Base].is_none() {
            // Added on both sides: an element both have stands once (as often as the side
            // that has it most), wherever the two put it.
            let (co, ct) = (counts(&ids[Side::Ours]), counts(&ids[Side::Theirs]));
            let id_of = |e: &Entry| match (e.ours, e.theirs) {
                (Some(i), _) => Some(ids[Side::Ours][i]),
                (None, Some(i)) => Some(ids[Side::Theirs][i]),
                _ => None,
            };
            keep_most(&mut out, id_of, |id| count(&co, id).max(count(&ct, id)));
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
        for (side, i) in combine_sides(o, t, key) {
            let id = ids[side][i];
            let want = count(&co, id).max(count(&ct, id));
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
}

/// An object's members, key and value text.
type Members = HashSet<(Vec<u8>, Vec<u8>)>;

/// How often each id stands in `ids`.
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

/// How often `id` stands in a multiset.
fn count(set: &HashMap<usize, usize>, id: usize) -> usize {
    set.get(&id).copied().unwrap_or(0)
}

/// Keeps of the entries that `id_of` gives an id (the others all stay) the first `most(id)`
/// of each id.
fn keep_most(
    entries: &mut Vec<Entry>,
    id_of: impl Fn(&Entry) -> Option<usize>,
    most: impl Fn(usize) -> usize,
) {
    let mut emitted: HashMap<usize, usize> = HashMap::default();
    entries.retain(|e| {
        let Some(id) = id_of(e) else {
            return true;
        };
        let n = emitted.entry(id).or_insert(0);
        *n += 1;
        *n <= most(id)
    });
}
