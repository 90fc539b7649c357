//! Merging orders: which items a merged sequence holds and in what order, decided the same
//! way whichever side is ours.
//!
//! Used for object keys, arrays of records with an identity, JSONL records and (through
//! `combine_runs`) for anything both sides inserted at the same place.

use foldhash::{HashMap, HashSet};
use std::cmp::Ordering;
use std::hash::Hash;

/// Three-way choice of one attribute (a line ending, a separator, a flag): what both sides
/// have; else what the side that changed it has; else the lesser of the two, so the choice
/// never depends on which side is ours. `None` means "not known on that side".
pub(crate) fn choose3<T: PartialEq + Ord>(
    base: Option<T>,
    ours: Option<T>,
    theirs: Option<T>,
) -> Option<T> {
    match (ours, theirs) {
        (Some(o), Some(t)) => {
            if o == t {
                Some(o)
            } else if base.as_ref() == Some(&o) {
                Some(t)
            } else if base.as_ref() == Some(&t) {
                Some(o)
            } else {
                Some(o.min(t))
            }
        }
        (Some(o), None) => Some(o),
        (None, Some(t)) => Some(t),
        (None, None) => base,
    }
}

/// Which side an item of a merged sequence was taken from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    Ours,
    Theirs,
}

/// One item of a merged keyed sequence: its index on each side where it exists.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Slot {
    pub base: Option<usize>,
    pub ours: Option<usize>,
    pub theirs: Option<usize>,
}

/// Orders a sequence whose items carry a unique identity on each side.
///
/// Base items that `keep` accepts stay in base order. Items new on one side follow the
/// nearest item before them on that side that the result keeps. Where both sides inserted
/// at the same place, `combine` orders the two runs (it must not depend on which is ours).
/// An item both sides added appears once.
pub(crate) fn keyed_order<K: Hash + Eq>(
    base: &[K],
    ours: &[K],
    theirs: &[K],
    mut keep: impl FnMut(Slot) -> bool,
    mut combine: impl FnMut(&[usize], &[usize]) -> Vec<(Side, usize)>,
) -> Vec<Slot> {
    let (b_at, o_at, t_at) = (by_key(base), by_key(ours), by_key(theirs));
    let slot_of = |k: &K| Slot {
        base: b_at.get(k).copied(),
        ours: o_at.get(k).copied(),
        theirs: t_at.get(k).copied(),
    };
    let kept: Vec<bool> = base.iter().map(|k| keep(slot_of(k))).collect();

    // New items, grouped by the kept base item they follow (`None`: the start).
    let mut runs: HashMap<Option<usize>, (Vec<usize>, Vec<usize>)> = HashMap::default();
    for (side, keys) in [(Side::Ours, ours), (Side::Theirs, theirs)] {
        let mut anchor = None;
        for (i, k) in keys.iter().enumerate() {
            match b_at.get(k) {
                Some(&b) if kept[b] => anchor = Some(b),
                Some(_) => {}
                None => {
                    let run = runs.entry(anchor).or_default();
                    match side {
                        Side::Ours => run.0.push(i),
                        Side::Theirs => run.1.push(i),
                    }
                }
            }
        }
    }

    let mut out = Vec::with_capacity(base.len().max(ours.len()).max(theirs.len()));
    let mut placed: HashSet<&K> = HashSet::default();
    let mut place_run = |anchor: Option<usize>, out: &mut Vec<Slot>| {
        if let Some((o, t)) = runs.get(&anchor) {
            let ordered = if t.is_empty() {
                o.iter().map(|&i| (Side::Ours, i)).collect()
            } else if o.is_empty() {
                t.iter().map(|&i| (Side::Theirs, i)).collect()
            } else {
                combine(o, t)
            };
            for (side, i) in ordered {
                let k = match side {
                    Side::Ours => &ours[i],
                    Side::Theirs => &theirs[i],
                };
                if placed.insert(k) {
                    out.push(slot_of(k));
                }
            }
        }
    };
    place_run(None, &mut out);
    for (b, k) in base.iter().enumerate() {
        if kept[b] {
            out.push(slot_of(k));
            place_run(Some(b), &mut out);
        }
    }
    out
}

fn by_key<K: Hash + Eq>(keys: &[K]) -> HashMap<&K, usize> {
    keys.iter().enumerate().map(|(i, k)| (k, i)).collect()
}

/// What orders inserted items: an instant where the item has one, then its bytes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SortKey<'a> {
    pub instant: Option<i128>,
    pub bytes: &'a [u8],
}

impl SortKey<'_> {
    fn cmp_items(&self, other: &Self) -> Ordering {
        match (self.instant, other.instant) {
            (Some(a), Some(b)) if a != b => a.cmp(&b),
            _ => self.bytes.cmp(other.bytes),
        }
    }
}

/// Orders two runs inserted at the same place. When every item carries an instant the runs
/// are interleaved by time (each side's own order kept); otherwise the runs stay whole and
/// the one whose items sort first goes first.
pub(crate) fn combine_runs<'a, T: Copy>(
    a: &[T],
    b: &[T],
    key: impl Fn(T) -> SortKey<'a>,
) -> Vec<T> {
    let timed = a.iter().chain(b).all(|&x| key(x).instant.is_some());
    let mut out = Vec::with_capacity(a.len() + b.len());
    if timed {
        let (mut i, mut j) = (0, 0);
        while i < a.len() && j < b.len() {
            if key(b[j]).cmp_items(&key(a[i])) == Ordering::Less {
                out.push(b[j]);
                j += 1;
            } else {
                out.push(a[i]);
                i += 1;
            }
        }
        out.extend_from_slice(&a[i..]);
        out.extend_from_slice(&b[j..]);
    } else {
        let order = a
            .iter()
            .map(|&x| key(x))
            .zip(b.iter().map(|&x| key(x)))
            .map(|(x, y)| x.cmp_items(&y))
            .find(|o| o.is_ne())
            .unwrap_or(a.len().cmp(&b.len()));
        let (first, second) = if order == Ordering::Greater {
            (b, a)
        } else {
            (a, b)
        };
        out.extend_from_slice(first);
        out.extend_from_slice(second);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merged(base: &[&str], ours: &[&str], theirs: &[&str]) -> Vec<String> {
        let slots = keyed_order(
            base,
            ours,
            theirs,
            |s| s.ours.is_some() && s.theirs.is_some(),
            |o, t| {
                let mut v: Vec<_> = o.iter().map(|&i| (Side::Ours, i)).collect();
                v.extend(t.iter().map(|&i| (Side::Theirs, i)));
                v.sort_by_key(|&(s, i)| match s {
                    Side::Ours => ours[i],
                    Side::Theirs => theirs[i],
                });
                v
            },
        );
        slots
            .iter()
            .map(|s| match (s.ours, s.theirs) {
                (Some(i), _) => ours[i].to_string(),
                (None, Some(i)) => theirs[i].to_string(),
                _ => base[s.base.unwrap()].to_string(),
            })
            .collect()
    }

    #[test]
    fn inserts_follow_their_anchor_and_deletes_are_honoured() {
        assert_eq!(
            merged(&["a", "b", "c"], &["a", "x", "b", "c"], &["a", "b", "y"]),
            ["a", "x", "b", "y"]
        );
    }

    #[test]
    fn both_sides_adding_one_item_gives_it_once() {
        assert_eq!(
            merged(&["a"], &["a", "n", "p"], &["a", "n", "q"]),
            ["a", "n", "p", "q"]
        );
    }

    #[test]
    fn choose3_prefers_the_changed_side_then_the_lesser() {
        assert_eq!(choose3(Some(1), Some(1), Some(2)), Some(2));
        assert_eq!(choose3(Some(1), Some(3), Some(2)), Some(2));
        assert_eq!(choose3(None, None, Some(2)), Some(2));
    }

    #[test]
    fn timed_runs_interleave_by_instant() {
        let key = |x: (i128, &'static str)| SortKey {
            instant: Some(x.0),
            bytes: x.1.as_bytes(),
        };
        let a = [(1, "a1"), (5, "a5")];
        let b = [(3, "b3")];
        let ab = combine_runs(&a, &b, key);
        let ba = combine_runs(&b, &a, key);
        assert_eq!(ab, vec![(1, "a1"), (3, "b3"), (5, "a5")]);
        assert_eq!(ab, ba);
    }
}
