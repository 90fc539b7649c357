//! Merging orders: which items a merged sequence holds and in what order, decided the same
//! way whichever side is ours.
//!
//! Used for object keys, arrays of records with an identity, JSONL records and (through
//! `combine_runs`) for anything both sides inserted at the same place.

use foldhash::{HashMap, HashSet};
use std::cmp::Ordering;
use std::hash::Hash;
use std::ops::Range;

use crate::sides::{Side, Sides};

/// One item of a merged keyed sequence: its index on each side where it exists.
pub(crate) type Slot = Sides<Option<usize>>;

/// Orders a sequence whose items carry a unique identity (`keys`) on each side.
///
/// Base items that `keep` accepts stay in base order. Items new on one side follow the
/// nearest item before them on that side that the result keeps. Where both sides inserted
/// at the same place, `combine` orders the two runs (it must not depend on which is ours).
/// An item both sides added appears once.
pub(crate) fn keyed_order<K: Hash + Eq>(
    keys: &Sides<Vec<K>>,
    mut keep: impl FnMut(Slot) -> bool,
    mut combine: impl FnMut(&[usize], &[usize]) -> Vec<(Side, usize)>,
) -> Vec<Slot> {
    let at = Sides::from_fn(|side| by_key(&keys[side]));
    let slot_of = |k: &K| Sides::from_fn(|side| at[side].get(k).copied());
    let (base, b_at) = (&keys.base, &at.base);
    let kept: Vec<bool> = base.iter().map(|k| keep(slot_of(k))).collect();

    // New items of ours and theirs, grouped by the kept base item they follow (`None`: the
    // start).
    let mut runs: HashMap<Option<usize>, Sides<Vec<usize>>> = HashMap::default();
    for side in [Side::Ours, Side::Theirs] {
        let mut anchor = None;
        for (i, k) in keys[side].iter().enumerate() {
            match b_at.get(k) {
                Some(&b) if kept[b] => anchor = Some(b),
                Some(_) => {}
                None => runs.entry(anchor).or_default()[side].push(i),
            }
        }
    }

    let most = keys.iter().map(|k| k.len()).max().unwrap_or(0);
    let mut out = Vec::with_capacity(most);
    let mut placed: HashSet<&K> = HashSet::default();
    let mut place_run = |anchor: Option<usize>, out: &mut Vec<Slot>| {
        if let Some(run) = runs.get(&anchor) {
            let (o, t) = (&run.ours, &run.theirs);
            let ordered = if t.is_empty() {
                o.iter().map(|&i| (Side::Ours, i)).collect()
            } else if o.is_empty() {
                t.iter().map(|&i| (Side::Theirs, i)).collect()
            } else {
                combine(o, t)
            };
            for (side, i) in ordered {
                let k = &keys[side][i];
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

/// `combine_runs` for runs of ours and theirs (`o`, `t`: indexes there), each item with
/// its side.
pub(crate) fn combine_sides<'a>(
    o: &[usize],
    t: &[usize],
    key: impl Fn((Side, usize)) -> SortKey<'a>,
) -> Vec<(Side, usize)> {
    let tag = |side, idx: &[usize]| idx.iter().map(|&i| (side, i)).collect::<Vec<_>>();
    combine_runs(&tag(Side::Ours, o), &tag(Side::Theirs, t), key)
}

fn by_key<K: Hash + Eq>(keys: &[K]) -> HashMap<&K, usize> {
    keys.iter().enumerate().map(|(i, k)| (k, i)).collect()
}

/// A stretch of a three-way sequence merge (ranges index base, ours, theirs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Region {
    /// Unchanged on both sides (base, ours, theirs).
    Same(Range<usize>, Range<usize>, Range<usize>),
    /// Only ours changed it: base `0` became ours `1`.
    Ours(Range<usize>, Range<usize>),
    /// Only theirs changed it.
    Theirs(Range<usize>, Range<usize>),
    /// Both changed overlapping stretches (maybe the same way).
    Both(Range<usize>, Range<usize>, Range<usize>),
}

/// The changed stretches of `side` against `base`: (base range, side range).
fn hunks<T: Hash + Eq>(
    base: &[T],
    side: &[T],
    pair: Option<Likeness<T>>,
) -> Vec<(Range<usize>, Range<usize>)> {
    let mut out: Vec<(Range<usize>, Range<usize>)> = Vec::new();
    for op in similar::capture_diff_slices(similar::Algorithm::Myers, base, side) {
        let (tag, old, new) = op.as_tag_tuple();
        if tag == similar::DiffTag::Equal {
            continue;
        }
        match out.last_mut() {
            Some((o, n)) if o.end == old.start && n.end == new.start => {
                o.end = old.end;
                n.end = new.end;
            }
            _ => out.push((old, new)),
        }
    }
    let Some(likeness) = pair else {
        return out;
    };
    // In a replaced stretch, items that share text pair up (the best alignment by likeness),
    // so a block edited while blocks are added or removed around it is still one block
    // changed: the other side's edit of it can merge with this one line by line. Unpaired
    // items are inserted or deleted.
    out.into_iter()
        .flat_map(|(old, new)| align(base, side, old, new, likeness))
        .collect()
}

/// Splits one replaced stretch into pairs (one item for one) and the unpaired runs between.
fn align<T>(
    base: &[T],
    side: &[T],
    old: Range<usize>,
    new: Range<usize>,
    likeness: Likeness<T>,
) -> Vec<(Range<usize>, Range<usize>)> {
    let (m, n) = (old.len(), new.len());
    if m == 0 || n == 0 || m * n > 10_000 {
        return vec![(old, new)];
    }
    let like: Vec<usize> = (0..m * n)
        .map(|k| likeness(&base[old.start + k / n], &side[new.start + k % n]))
        .collect();
    // score[i][j]: the best total likeness of old[..i] aligned with new[..j].
    let mut score = vec![0usize; (m + 1) * (n + 1)];
    let at = |i: usize, j: usize| i * (n + 1) + j;
    for i in 1..=m {
        for j in 1..=n {
            let l = like[(i - 1) * n + (j - 1)];
            let diag = if l > 0 {
                score[at(i - 1, j - 1)] + l
            } else {
                0
            };
            score[at(i, j)] = score[at(i - 1, j)].max(score[at(i, j - 1)]).max(diag);
        }
    }
    let mut pairs = Vec::new();
    let (mut i, mut j) = (m, n);
    while i > 0 && j > 0 {
        let l = like[(i - 1) * n + (j - 1)];
        if l > 0 && score[at(i, j)] == score[at(i - 1, j - 1)] + l {
            pairs.push((i - 1, j - 1));
            i -= 1;
            j -= 1;
        } else if score[at(i, j)] == score[at(i - 1, j)] {
            i -= 1;
        } else {
            j -= 1;
        }
    }
    pairs.reverse();
    let mut parts = Vec::new();
    let (mut oi, mut nj) = (0, 0);
    for (pi, pj) in pairs {
        if oi < pi || nj < pj {
            parts.push((
                old.start + oi..old.start + pi,
                new.start + nj..new.start + pj,
            ));
        }
        parts.push((
            old.start + pi..old.start + pi + 1,
            new.start + pj..new.start + pj + 1,
        ));
        (oi, nj) = (pi + 1, pj + 1);
    }
    if oi < m || nj < n {
        parts.push((old.start + oi..old.end, new.start + nj..new.end));
    }
    parts
}

/// How alike a base item and a side's item are (shared lines, say).
pub(crate) type Likeness<'f, T> = &'f dyn Fn(&T, &T) -> usize;

/// Whether two changes of the base collide: they overlap, or both insert at one place, or
/// one inserts strictly inside what the other replaced. Changes that merely touch do not:
/// an element inserted next to one the other side edited is no conflict.
fn collide(a: &Range<usize>, b: &Range<usize>) -> bool {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => a.start == b.start,
        (true, false) => b.start < a.start && a.start < b.end,
        (false, true) => a.start < b.start && b.start < a.end,
        (false, false) => a.start < b.end && b.start < a.end,
    }
}

/// A diff3 over sequences of items, where only colliding changes (see `collide`) meet in a
/// `Both` region. Symmetric: swapping ours and theirs swaps `Ours` and `Theirs`.
///
/// With `pair`, a stretch replaced by a longer or shorter one counts as items replaced one for
/// one plus items inserted or deleted (right for blocks of prose, which then merge line by
/// line; values keep the whole-stretch reading).
pub(crate) fn regions<T: Hash + Eq>(
    base: &[T],
    ours: &[T],
    theirs: &[T],
    pair: Option<Likeness<T>>,
) -> Vec<Region> {
    let (oh, th) = (hunks(base, ours, pair), hunks(base, theirs, pair));
    let (mut i, mut j) = (0, 0);
    let (mut b, mut o, mut t) = (0usize, 0usize, 0usize);
    let mut out = Vec::new();
    // Where a side stands at base `at`, when it stands at `pos` at base `b` and nothing
    // between them changed on that side.
    let side_at = |pos: usize, b: usize, at: usize| pos + (at - b);
    loop {
        let (next_o, next_t) = (oh.get(i), th.get(j));
        let start = match (next_o, next_t) {
            (None, None) => break,
            (Some(x), None) | (None, Some(x)) => x.0.start,
            (Some(x), Some(y)) => x.0.start.min(y.0.start),
        };
        if start > b {
            let (o2, t2) = (side_at(o, b, start), side_at(t, b, start));
            out.push(Region::Same(b..start, o..o2, t..t2));
            (o, t, b) = (o2, t2, start);
        }
        match (next_o, next_t) {
            (Some(x), Some(y)) if collide(&x.0, &y.0) => {
                let mut range = x.0.start.min(y.0.start)..x.0.end.max(y.0.end);
                let (oi, ti) = (i, j);
                i += 1;
                j += 1;
                loop {
                    if let Some(h) = oh.get(i).filter(|h| collide(&h.0, &range)) {
                        range = range.start.min(h.0.start)..range.end.max(h.0.end);
                        i += 1;
                    } else if let Some(h) = th.get(j).filter(|h| collide(&h.0, &range)) {
                        range = range.start.min(h.0.start)..range.end.max(h.0.end);
                        j += 1;
                    } else {
                        break;
                    }
                }
                // Each side's stretch: its changes plus the unchanged items around them.
                let span = |hs: &[(Range<usize>, Range<usize>)]| {
                    let (first, last) = (&hs[0], &hs[hs.len() - 1]);
                    first.1.start - (first.0.start - range.start)
                        ..last.1.end + (range.end - last.0.end)
                };
                let (ro, rt) = (span(&oh[oi..i]), span(&th[ti..j]));
                o = ro.end;
                t = rt.end;
                b = range.end;
                out.push(Region::Both(range, ro, rt));
            }
            _ => {
                // The earlier change goes first; at one place an insertion precedes a replacement.
                let ours_first = match (next_o, next_t) {
                    (Some(x), Some(y)) => {
                        (x.0.start, !x.0.is_empty()) < (y.0.start, !y.0.is_empty())
                    }
                    (Some(_), None) => true,
                    _ => false,
                };
                if ours_first {
                    let (rb, ro) = oh[i].clone();
                    t = side_at(t, b, rb.end);
                    o = ro.end;
                    b = rb.end;
                    out.push(Region::Ours(rb, ro));
                    i += 1;
                } else {
                    let (rb, rt) = th[j].clone();
                    o = side_at(o, b, rb.end);
                    t = rt.end;
                    b = rb.end;
                    out.push(Region::Theirs(rb, rt));
                    j += 1;
                }
            }
        }
    }
    if b < base.len() {
        let end = base.len();
        out.push(Region::Same(
            b..end,
            o..side_at(o, b, end),
            t..side_at(t, b, end),
        ));
    }
    out
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
            match key(b[j]).cmp_items(&key(a[i])) {
                Ordering::Less => {
                    out.push(b[j]);
                    j += 1;
                }
                // The same item at the head of both runs (both added it): one step for both,
                // or the rest would interleave differently depending on which run is first.
                Ordering::Equal => {
                    out.push(a[i]);
                    out.push(b[j]);
                    i += 1;
                    j += 1;
                }
                Ordering::Greater => {
                    out.push(a[i]);
                    i += 1;
                }
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
        let keys = Sides::new(base.to_vec(), ours.to_vec(), theirs.to_vec());
        let slots = keyed_order(
            &keys,
            |s| s.ours.is_some() && s.theirs.is_some(),
            |o, t| {
                let mut v: Vec<_> = o.iter().map(|&i| (Side::Ours, i)).collect();
                v.extend(t.iter().map(|&i| (Side::Theirs, i)));
                v.sort_by_key(|&(s, i)| keys[s][i]);
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

    fn apply(base: &[char], ours: &[char], theirs: &[char]) -> String {
        let mut s = String::new();
        for r in regions(base, ours, theirs, None) {
            match r {
                Region::Same(b, _, _) => s.extend(&base[b]),
                Region::Ours(_, o) => s.extend(&ours[o]),
                Region::Theirs(_, t) => s.extend(&theirs[t]),
                Region::Both(_, o, t) => {
                    s.push('(');
                    s.extend(&ours[o]);
                    s.push('|');
                    s.extend(&theirs[t]);
                    s.push(')');
                }
            }
        }
        s
    }

    fn chars(s: &str) -> Vec<char> {
        s.chars().collect()
    }

    #[test]
    fn an_insert_next_to_an_edit_is_no_conflict() {
        assert_eq!(apply(&chars("c"), &chars("cn"), &chars("C")), "Cn");
        assert_eq!(apply(&chars("abc"), &chars("xabc"), &chars("aBc")), "xaBc");
        assert_eq!(
            apply(&chars("abc"), &chars("abcx"), &chars("abcy")),
            "abc(x|y)"
        );
        assert_eq!(
            apply(&chars("abcd"), &chars("aXd"), &chars("abYd")),
            "a(X|bY)d"
        );
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
