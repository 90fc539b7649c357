//! The JSON merge: objects key by key, arrays by identity or as sequences, collisions
//! decided symmetrically and journaled. Output is written by copying the original spans, so
//! unchanged text keeps its bytes.

pub(crate) mod scan;

use foldhash::{HashMap, HashSet};
use std::borrow::Cow;

use serde_json::Value;
use similar::{Algorithm, DiffOp, MergeResolution, TextMerge};

use crate::eol::{convert, Eol};
use crate::record::{Record, Rule};
use crate::sequence::{choose3, combine_runs, keyed_order, Side, Slot, SortKey};
use crate::{instant, text, Merged, Method, Options, Policy, TIMESTAMP_KEYS};
use scan::{Container, Item, Shape};

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The structural merge gave up (duplicate keys): the caller falls back to the line merge.
#[derive(Debug)]
pub(crate) struct Fallback;

type Step = Result<(), Fallback>;

const BASE: usize = 0;
const OURS: usize = 1;
const THEIRS: usize = 2;

/// A value on one side.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Val {
    pub side: usize,
    pub start: usize,
    pub end: usize,
    pub shape: Shape,
}

impl Val {
    fn of(side: usize, item: &Item) -> Val {
        Val {
            side,
            start: item.value,
            end: item.end,
            shape: item.shape,
        }
    }
}

/// Timestamps of the nearest enclosing objects that carry one on both sides.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Stamps {
    ours: i128,
    theirs: i128,
    field: &'static str,
}

/// An item of a merged container: where it is on each side (a side's container, an index).
#[derive(Clone, Copy, Debug, Default)]
struct Entry {
    base: Option<(usize, usize)>,
    ours: Option<usize>,
    theirs: Option<usize>,
}

pub(crate) fn strip_bom(text: &[u8]) -> (bool, &[u8]) {
    match text.strip_prefix(BOM) {
        Some(rest) => (true, rest),
        None => (false, text),
    }
}

/// Merges three JSON documents, or `None` when a side is not JSON (the caller falls back).
pub(crate) fn merge(base: &[u8], ours: &[u8], theirs: &[u8], options: &Options) -> Option<Merged> {
    let (bom_b, b) = strip_bom(base);
    let (bom_o, o) = strip_bom(ours);
    let (bom_t, t) = strip_bom(theirs);
    let has_base = !b.iter().all(u8::is_ascii_whitespace);
    if (has_base && !scan::validate(b)) || !scan::validate(o) || !scan::validate(t) {
        return None;
    }
    if options.policy == Policy::Markers {
        // Merge twice, collisions going one way then the other, and mark where the two differ:
        // whole lines for a person to resolve, everything else merged.
        let pick = |policy| {
            let options = Options {
                policy,
                ..options.clone()
            };
            merge_spans([b, o, t], has_base, [bom_b, bom_o, bom_t], &options).map(|m| m.out)
        };
        let (with_ours, with_theirs) = (pick(Policy::Ours)?, pick(Policy::Theirs)?);
        if with_ours != with_theirs {
            return Some(Merged {
                output: text::mark_differences(&with_ours, &with_theirs, options.marker_size),
                conflicted: true,
                records: Vec::new(),
                method: Method::Structural,
            });
        }
    }
    let m = merge_spans([b, o, t], has_base, [bom_b, bom_o, bom_t], options)?;

    let mut merged = Merged {
        output: m.out,
        conflicted: m.conflicted,
        records: m.records,
        method: Method::Structural,
    };
    // Where the plain line merge is clean and means the same, its text is the answer.
    if !merged.conflicted {
        let lines = text::merge(base, ours, theirs, options.marker_size);
        if !lines.conflicted
            && lines.output != merged.output
            && means_the_same(&lines.output, &merged.output)
        {
            merged.output = lines.output;
            merged.method = Method::Lines;
        }
    }
    Some(merged)
}

/// The structural merge of three valid documents (BOMs stripped).
fn merge_spans<'a>(
    [b, o, t]: [&'a [u8]; 3],
    has_base: bool,
    [bom_b, bom_o, bom_t]: [bool; 3],
    options: &'a Options,
) -> Option<Merger<'a>> {
    let mut m = Merger::new([b, o, t], options);
    let doc = |side: usize, text: &[u8]| {
        let (range, shape) = scan::document(text);
        (
            Val {
                side,
                start: range.start,
                end: range.end,
                shape,
            },
            0..range.start,
            range.end..text.len(),
        )
    };
    let based = has_base.then(|| doc(BASE, b));
    let (vo, lead_o, trail_o) = doc(OURS, o);
    let (vt, lead_t, trail_t) = doc(THEIRS, t);
    let base_val = based.as_ref().map(|x| x.0);
    if choose3(has_base.then_some(bom_b), Some(bom_o), Some(bom_t)) == Some(true) {
        m.out.extend_from_slice(BOM);
    }
    let lead = m.pick([
        based.as_ref().map(|x| (BASE, x.1.clone())),
        Some((OURS, lead_o)),
        Some((THEIRS, lead_t)),
    ]);
    m.out.extend_from_slice(&lead);
    m.value(base_val, vo, vt, None).ok()?;
    let trail = m.pick([
        based.as_ref().map(|x| (BASE, x.2.clone())),
        Some((OURS, trail_o)),
        Some((THEIRS, trail_t)),
    ]);
    m.out.extend_from_slice(&trail);
    Some(m)
}

fn means_the_same(a: &[u8], b: &[u8]) -> bool {
    let (a, b) = (strip_bom(a).1, strip_bom(b).1);
    if !scan::validate(a) || !scan::validate(b) {
        return false;
    }
    let (ra, rb) = (scan::document(a).0, scan::document(b).0);
    scan::equivalent(a, ra, b, rb)
}

pub(crate) struct Merger<'a> {
    src: [&'a [u8]; 3],
    eol: [Option<Eol>; 3],
    out_eol: Option<Eol>,
    pub out: Vec<u8>,
    options: &'a Options,
    pub records: Vec<Record>,
    pub conflicted: bool,
    pointer: Vec<String>,
}

impl<'a> Merger<'a> {
    pub(crate) fn new(src: [&'a [u8]; 3], options: &'a Options) -> Self {
        let eol = src.map(Eol::of);
        Merger {
            src,
            eol,
            out_eol: choose3(eol[BASE], eol[OURS], eol[THEIRS]),
            out: Vec::with_capacity(src[OURS].len().max(src[THEIRS].len()) + 1024),
            options,
            records: Vec::new(),
            conflicted: false,
            pointer: Vec::new(),
        }
    }

    /// A span of one side, with its line endings made the output's.
    fn text(&self, side: usize, range: std::ops::Range<usize>) -> Cow<'a, [u8]> {
        convert(&self.src[side][range], self.eol[side], self.out_eol)
    }

    fn val_text(&self, v: Val) -> Cow<'a, [u8]> {
        self.text(v.side, v.start..v.end)
    }

    fn same(&self, a: Val, b: Val) -> bool {
        let (x, y) = (
            &self.src[a.side][a.start..a.end],
            &self.src[b.side][b.start..b.end],
        );
        x == y || (self.eol[a.side] != self.eol[b.side] && self.val_text(a) == self.val_text(b))
    }

    pub(crate) fn put(&mut self, v: Val) {
        let text = self.val_text(v);
        self.out.extend_from_slice(&text);
    }

    /// Three-way choice among spans standing for base, ours and theirs (`None`: not there).
    fn pick(&self, spans: [Option<(usize, std::ops::Range<usize>)>; 3]) -> Cow<'a, [u8]> {
        let [b, o, t] = spans.map(|x| x.map(|(side, r)| self.text(side, r)));
        choose3(b, o, t).unwrap_or(Cow::Borrowed(b""))
    }

    fn value_json(&self, v: Val) -> Value {
        serde_json::from_slice(&self.val_text(v)).unwrap_or(Value::Null)
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

    /// Writes the merge of one value.
    pub(crate) fn value(
        &mut self,
        base: Option<Val>,
        ours: Val,
        theirs: Val,
        stamps: Option<Stamps>,
    ) -> Step {
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
        // A base of another shape holds nothing to merge against: both sides added.
        let same_shape = base.filter(|b| b.shape == ours.shape);
        match (ours.shape, theirs.shape) {
            (Shape::Object, Shape::Object) => self.object(same_shape, ours, theirs, stamps),
            (Shape::Array, Shape::Array) => self.array(same_shape, ours, theirs, stamps),
            _ => {
                self.collide(base, ours, theirs, stamps);
                Ok(())
            }
        }
    }

    fn open(&self, v: Val) -> Container {
        scan::container(self.src[v.side], v.start..v.end)
    }

    fn object(
        &mut self,
        base: Option<Val>,
        ours: Val,
        theirs: Val,
        stamps: Option<Stamps>,
    ) -> Step {
        let cs = [
            base.map(|b| self.open(b)),
            Some(self.open(ours)),
            Some(self.open(theirs)),
        ];
        let keys: [Vec<Cow<[u8]>>; 3] = [BASE, OURS, THEIRS].map(|side| match &cs[side] {
            Some(c) => c
                .items
                .iter()
                .map(|i| scan::key(self.src[side], i))
                .collect(),
            None => Vec::new(),
        });
        for k in &keys {
            if k.iter().collect::<HashSet<_>>().len() != k.len() {
                return Err(Fallback);
            }
        }
        let stamps = self.stamps(&cs).or(stamps);
        let slots = keyed_order(
            &keys[BASE],
            &keys[OURS],
            &keys[THEIRS],
            |slot| self.keeps(&cs, slot),
            |o, t| {
                let member = |(side, i): (Side, usize)| {
                    let (s, c) = match side {
                        Side::Ours => (OURS, &cs[OURS]),
                        Side::Theirs => (THEIRS, &cs[THEIRS]),
                    };
                    let item = c.as_ref().map(|c| c.items[i]).expect("side container");
                    SortKey {
                        instant: None,
                        bytes: &self.src[s][item.start..item.end],
                    }
                };
                combine_runs(&tag(Side::Ours, o), &tag(Side::Theirs, t), member)
            },
        );
        let entries: Vec<Entry> = slots.iter().map(|s| entry(*s)).collect();
        let names: Vec<String> = slots
            .iter()
            .map(|s| {
                let k = match (s.ours, s.theirs) {
                    (Some(i), _) => &keys[OURS][i],
                    (None, Some(i)) => &keys[THEIRS][i],
                    _ => &keys[BASE][s.base.unwrap_or(0)],
                };
                String::from_utf8_lossy(k).into_owned()
            })
            .collect();
        self.write_container(*b"{}", &cs, &entries, true, stamps, |i| names[i].clone())
    }

    fn array(&mut self, base: Option<Val>, ours: Val, theirs: Val, stamps: Option<Stamps>) -> Step {
        let cs = [
            base.map(|b| self.open(b)),
            Some(self.open(ours)),
            Some(self.open(theirs)),
        ];
        let entries = match self.identities(&cs) {
            Some(ids) => {
                let slots = keyed_order(
                    &ids[BASE],
                    &ids[OURS],
                    &ids[THEIRS],
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
        self.write_container(*b"[]", &cs, &entries, false, stamps, |i| i.to_string())
    }

    /// Whether a base member/record that `slot` names stays in the result: both sides kept
    /// it, or one deleted it while the other changed it (the change wins).
    fn keeps(&self, cs: &[Option<Container>; 3], slot: Slot) -> bool {
        let item = |side: usize, i: usize| {
            Val::of(side, &cs[side].as_ref().expect("side container").items[i])
        };
        match (slot.base, slot.ours, slot.theirs) {
            (_, Some(_), Some(_)) => true,
            (Some(b), Some(i), None) => !self.same(item(BASE, b), item(OURS, i)),
            (Some(b), None, Some(i)) => !self.same(item(BASE, b), item(THEIRS, i)),
            _ => false,
        }
    }

    /// The timestamp that decides collisions inside these objects, if both sides carry one.
    fn stamps(&self, cs: &[Option<Container>; 3]) -> Option<Stamps> {
        let (o, t) = (cs[OURS].as_ref()?, cs[THEIRS].as_ref()?);
        TIMESTAMP_KEYS.iter().find_map(|&field| {
            let at = |side: usize, c: &Container| {
                scan::member(self.src[side], c, field)
                    .and_then(|i| instant::parse(&self.src[side][i.value_range()]))
            };
            Some(Stamps {
                ours: at(OURS, o)?,
                theirs: at(THEIRS, t)?,
                field,
            })
        })
    }

    fn sort_key(&self, cs: &[Option<Container>; 3], side: Side, i: usize) -> SortKey<'a> {
        let s = match side {
            Side::Ours => OURS,
            Side::Theirs => THEIRS,
        };
        let item = cs[s].as_ref().expect("side container").items[i];
        let text = self.src[s];
        let instant = (item.shape == Shape::Object)
            .then(|| {
                let c = scan::container(text, item.value_range());
                TIMESTAMP_KEYS.iter().find_map(|f| {
                    scan::member(text, &c, f).and_then(|m| instant::parse(&text[m.value_range()]))
                })
            })
            .flatten();
        SortKey {
            instant,
            bytes: &text[item.value_range()],
        }
    }

    /// The identity of every element, when all elements on all sides are objects that carry
    /// one identity key with a scalar value, unique on each side.
    fn identities(&self, cs: &[Option<Container>; 3]) -> Option<[Vec<&'a [u8]>; 3]> {
        let total: usize = cs.iter().flatten().map(|c| c.items.len()).sum();
        if total == 0 {
            return None;
        }
        'keys: for name in self.options.identity_keys() {
            let mut ids: [Vec<&'a [u8]>; 3] = Default::default();
            for side in [BASE, OURS, THEIRS] {
                let Some(c) = &cs[side] else { continue };
                let text = self.src[side];
                let mut seen = HashSet::with_capacity_and_hasher(c.items.len(), Default::default());
                for item in &c.items {
                    if item.shape != Shape::Object {
                        return None;
                    }
                    let object = scan::container(text, item.value_range());
                    let Some(id) = scan::member(text, &object, name) else {
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
    fn sequence(&self, cs: &[Option<Container>; 3]) -> Vec<Entry> {
        // Elements are compared by their text (line endings made the output's).
        let mut interned: HashMap<Cow<'a, [u8]>, usize> = HashMap::default();
        let ids: [Vec<usize>; 3] = [BASE, OURS, THEIRS].map(|side| match &cs[side] {
            Some(c) => c
                .items
                .iter()
                .map(|i| {
                    let n = interned.len();
                    *interned
                        .entry(self.text(side, i.value_range()))
                        .or_insert(n)
                })
                .collect(),
            None => Vec::new(),
        });
        // Without a base, what both sides share stands in for it.
        let (base_side, base_ids, base_index): (usize, Vec<usize>, Vec<usize>) =
            if cs[BASE].is_some() {
                (BASE, ids[BASE].clone(), (0..ids[BASE].len()).collect())
            } else {
                let mut shared = (Vec::new(), Vec::new());
                for op in similar::capture_diff_slices(Algorithm::Myers, &ids[OURS], &ids[THEIRS]) {
                    if let DiffOp::Equal { old_index, len, .. } = op {
                        let run = old_index..old_index + len;
                        shared.0.extend_from_slice(&ids[OURS][run.clone()]);
                        shared.1.extend(run);
                    }
                }
                (OURS, shared.0, shared.1)
            };
        let lines = |v: &[usize]| v.iter().map(|i| format!("{i}\n")).collect::<String>();
        let (lb, lo, lt) = (lines(&base_ids), lines(&ids[OURS]), lines(&ids[THEIRS]));
        let merge = TextMerge::from_lines(lb.as_str(), lo.as_str(), lt.as_str());
        let ours_only = |i: usize| Entry {
            ours: Some(i),
            ..Entry::default()
        };
        let theirs_only = |i: usize| Entry {
            theirs: Some(i),
            ..Entry::default()
        };
        let mut out = Vec::new();
        for region in merge.regions() {
            let (rb, ro, rt) = (
                region.base_range(),
                region.ours_range(),
                region.theirs_range(),
            );
            match region.resolution() {
                MergeResolution::Theirs => out.extend(rt.map(theirs_only)),
                MergeResolution::Conflict if rb.len() == ro.len() && rb.len() == rt.len() => {
                    // Element by element: each triple merges as values.
                    out.extend(rb.zip(ro).zip(rt).map(|((b, o), t)| Entry {
                        base: Some((base_side, base_index[b])),
                        ours: Some(o),
                        theirs: Some(t),
                    }))
                }
                MergeResolution::Conflict => {
                    // Keep what both kept, and everything either side added.
                    let mut in_ours = counts(&ids[OURS][ro.clone()]);
                    let mut in_theirs = counts(&ids[THEIRS][rt.clone()]);
                    let mut in_base = counts(&base_ids[rb.clone()]);
                    for &b in &base_ids[rb.clone()] {
                        if take(&mut in_ours, b) & take(&mut in_theirs, b) {
                            out.push(ours_only(
                                ro.clone().find(|&i| ids[OURS][i] == b).unwrap_or(ro.start),
                            ));
                        }
                    }
                    let added = |side: usize, range: std::ops::Range<usize>| {
                        let mut base_left = in_base.clone();
                        range
                            .filter(|&i| !take(&mut base_left, ids[side][i]))
                            .collect::<Vec<usize>>()
                    };
                    let (new_o, new_t) = (added(OURS, ro.clone()), added(THEIRS, rt.clone()));
                    in_base.clear();
                    out.extend(self.both_added(cs, &ids, &new_o, &new_t));
                }
                _ => out.extend(ro.map(ours_only)),
            }
        }
        out
    }

    /// Elements both sides inserted at one place: ordered by time or content, each element
    /// as many times as the side that added it most often.
    fn both_added(
        &self,
        cs: &[Option<Container>; 3],
        ids: &[Vec<usize>; 3],
        o: &[usize],
        t: &[usize],
    ) -> Vec<Entry> {
        let key = |(side, i): (Side, usize)| self.sort_key(cs, side, i);
        let (co, ct) = (
            counts(&o.iter().map(|&i| ids[OURS][i]).collect::<Vec<_>>()),
            counts(&t.iter().map(|&i| ids[THEIRS][i]).collect::<Vec<_>>()),
        );
        let mut emitted: HashMap<usize, usize> = HashMap::default();
        let mut out = Vec::new();
        for (side, i) in combine_runs(&tag(Side::Ours, o), &tag(Side::Theirs, t), key) {
            let id = match side {
                Side::Ours => ids[OURS][i],
                Side::Theirs => ids[THEIRS][i],
            };
            let want = co
                .get(&id)
                .copied()
                .unwrap_or(0)
                .max(ct.get(&id).copied().unwrap_or(0));
            let n = emitted.entry(id).or_insert(0);
            if *n < want {
                *n += 1;
                out.push(match side {
                    Side::Ours => Entry {
                        ours: Some(i),
                        ..Entry::default()
                    },
                    Side::Theirs => Entry {
                        theirs: Some(i),
                        ..Entry::default()
                    },
                });
            }
        }
        out
    }

    /// Writes an object or array from its merged entries, taking the layout (white space
    /// after the opening bracket, between items, before the closing one) three-way.
    #[allow(clippy::too_many_arguments)]
    fn write_container(
        &mut self,
        brackets: [u8; 2],
        cs: &[Option<Container>; 3],
        entries: &[Entry],
        keyed: bool,
        stamps: Option<Stamps>,
        segment: impl Fn(usize) -> String,
    ) -> Step {
        let item = |(side, i): (usize, usize)| cs[side].as_ref().map(|c| c.items[i]);
        let nonempty = |side: usize| cs[side].as_ref().filter(|c| !c.items.is_empty());
        self.out.push(brackets[0]);
        if entries.is_empty() {
            let inner = self.pick([BASE, OURS, THEIRS].map(|s| {
                cs[s]
                    .as_ref()
                    .filter(|c| c.items.is_empty())
                    .map(|c| (s, c.open..c.end))
            }));
            self.out.extend_from_slice(&inner);
            self.out.push(brackets[1]);
            return Ok(());
        }
        for (n, e) in entries.iter().enumerate() {
            let at = [
                e.base,
                e.ours.map(|i| (OURS, i)),
                e.theirs.map(|i| (THEIRS, i)),
            ];
            let lead = if n == 0 {
                self.pick(
                    [BASE, OURS, THEIRS]
                        .map(|s| nonempty(s).map(|c| (s, c.items[0].lead..c.items[0].start))),
                )
            } else {
                self.out.push(b',');
                // Its own separator where it followed another item; else its container's.
                let own = at.map(|x| {
                    x.filter(|&(_, i)| i > 0)
                        .and_then(|x| item(x).map(|it| (x.0, it.lead..it.start)))
                });
                if own.iter().any(Option::is_some) {
                    self.pick(own)
                } else {
                    self.pick(at.map(|x| {
                        x.and_then(|(s, _)| nonempty(s)).map(|c| {
                            let it = c.items.get(1).unwrap_or(&c.items[0]);
                            (x.map_or(OURS, |x| x.0), it.lead..it.start)
                        })
                    }))
                }
            };
            self.out.extend_from_slice(&lead);
            if keyed {
                let head = self
                    .pick(at.map(|x| x.and_then(|x| item(x).map(|it| (x.0, it.start..it.value)))));
                self.out.extend_from_slice(&head);
            }
            self.pointer.push(segment(n));
            let [vb, vo, vt] = at.map(|x| x.and_then(|x| item(x).map(|it| Val::of(x.0, &it))));
            match (vo, vt) {
                (Some(o), Some(t)) => self.value(vb, o, t, stamps)?,
                (Some(kept), None) | (None, Some(kept)) => {
                    if let Some(b) = vb {
                        // One side deleted what the other changed: the change stays.
                        let (ours, theirs) = if vo.is_some() {
                            (Some(kept), None)
                        } else {
                            (None, Some(kept))
                        };
                        self.journal(Some(b), ours, theirs, Some(kept), Rule::ModifyBeatsDelete);
                    }
                    self.put(kept);
                }
                (None, None) => {}
            }
            self.pointer.pop();
        }
        let trail =
            self.pick([BASE, OURS, THEIRS].map(|s| nonempty(s).map(|c| (s, c.close..c.end))));
        self.out.extend_from_slice(&trail);
        self.out.push(brackets[1]);
        Ok(())
    }

    /// Two different new values for one scalar (or values of different shapes).
    fn collide(&mut self, base: Option<Val>, ours: Val, theirs: Val, stamps: Option<Stamps>) {
        let (winner, rule) = match self.options.policy {
            Policy::Ours => (ours, Rule::Policy("ours")),
            Policy::Theirs => (theirs, Rule::Policy("theirs")),
            Policy::Markers => {
                // `merge` resolves markers by merging twice; should a collision still get
                // here, keep ours and never call the result clean.
                self.conflicted = true;
                self.put(ours);
                return;
            }
            Policy::Journal => match stamps {
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
        self.journal(base, Some(ours), Some(theirs), Some(winner), rule);
        self.put(winner);
    }

    pub(crate) fn journal(
        &mut self,
        base: Option<Val>,
        ours: Option<Val>,
        theirs: Option<Val>,
        chosen: Option<Val>,
        rule: Rule,
    ) {
        let record = Record {
            path: self.options.path.clone(),
            location: self.location(),
            base: base.map(|v| self.value_json(v)),
            ours: ours.map(|v| self.value_json(v)),
            theirs: theirs.map(|v| self.value_json(v)),
            chosen: chosen.map(|v| self.value_json(v)),
            rule,
        };
        self.records.push(record);
    }
}

fn tag(side: Side, idx: &[usize]) -> Vec<(Side, usize)> {
    idx.iter().map(|&i| (side, i)).collect()
}

fn entry(slot: Slot) -> Entry {
    Entry {
        base: slot.base.map(|i| (BASE, i)),
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
