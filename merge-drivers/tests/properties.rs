//! Property tests of the merge contract (README.md).
//!
//! The JSON tests build a model document, render it in one style (pretty with 2 spaces, 4
//! spaces or tabs, compact, or `", "`/`": "` spaced; optionally CRLF, BOM, final newline), apply
//! two random edit scripts to copies while logging which paths each side touched, and check
//! the merge against what the README says must happen. Paths go through object keys and the
//! identities of id-keyed records; an edit anywhere inside an array without identity touches
//! that whole array (its indices are not stable across sides). An edit is expected in the
//! result unless the other side touched the same path or an ancestor or descendant of it.
//!
//! The JSONL tests build record lines (plus non-JSON lines), give every base record a plan
//! (kept, edited, deleted, edited by both, deleted by one and edited by the other), append
//! records on both sides, and check each plan's outcome, the appends and the order.
//!
//! The last tests feed arbitrary bytes (invalid UTF-8, BOMs, marker lines) to every kind.
//!
//! Every check belongs to one property ([`Prop`]) and each property has its own test, so one
//! failure hides no other and each shrinks to its own minimal input. A panicking merge is
//! the `*_never_panics` property only. `PROPTEST_CASES=3000` hunts longer.
mod common;

use std::collections::{HashMap, HashSet};

use aisync_testkit::dates::{epoch_of, rfc3339};
use common::config;
use merge_drivers::{merge, Kind, Merged, Method, Options, Policy, Rule};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;

const TIMESTAMP_KEYS: [&str; 5] = ["updated_at", "updatedAt", "modified", "timestamp", "ts"];

// ───────────────────────────── the model ─────────────────────────────

/// A JSON value that keeps number text (`1.50`, big integers) and key order.
#[derive(Clone, Debug, PartialEq)]
enum J {
    Null,
    Bool(bool),
    Num(String),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Seg {
    Key(String),
    /// An element of an id-keyed array, by the text of its `id`.
    Id(String),
}

type Path = Vec<Seg>;

impl J {
    fn member(&self, key: &str) -> Option<&J> {
        match self {
            J::Obj(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn is_scalar(&self) -> bool {
        !matches!(self, J::Arr(_) | J::Obj(_))
    }
}

fn id_text(v: &J) -> Option<String> {
    match v.member("id")? {
        x @ (J::Num(_) | J::Str(_)) => Some(compact(x)),
        _ => None,
    }
}

/// An array the merge treats by identity on its own: every element an object with a unique
/// scalar `id`.
fn is_rec(a: &[J]) -> bool {
    let mut seen = HashSet::new();
    !a.is_empty()
        && a.iter()
            .all(|x| id_text(x).is_some_and(|id| seen.insert(id)))
}

/// Whether the merge of these arrays (base first, if it is an array) goes by identity.
fn ident_ok(sides: &[&J]) -> bool {
    let mut total = 0;
    for s in sides {
        let J::Arr(a) = s else { return false };
        total += a.len();
        if !a.is_empty() && !is_rec(a) {
            return false;
        }
    }
    total > 0
}

fn get<'a>(v: &'a J, p: &[Seg]) -> Option<&'a J> {
    let Some((first, rest)) = p.split_first() else {
        return Some(v);
    };
    let next = match (first, v) {
        (Seg::Key(k), J::Obj(_)) => v.member(k)?,
        (Seg::Id(id), J::Arr(a)) => a
            .iter()
            .find(|x| id_text(x).as_deref() == Some(id.as_str()))?,
        _ => return None,
    };
    get(next, rest)
}

/// Equal as JSON: objects as maps, arrays in order, numbers by their text.
fn same(a: &J, b: &J) -> bool {
    match (a, b) {
        (J::Obj(x), J::Obj(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| b.member(k).is_some_and(|w| same(v, w)))
        }
        (J::Arr(x), J::Arr(y)) => x.len() == y.len() && x.iter().zip(y).all(|(v, w)| same(v, w)),
        _ => a == b,
    }
}

fn same_opt(a: Option<&J>, b: Option<&J>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => same(a, b),
        (None, None) => true,
        _ => false,
    }
}

/// Every path through keys and record identities (not into arrays without identity).
fn paths(v: &J, prefix: &mut Path, out: &mut Vec<Path>) {
    match v {
        J::Obj(m) => {
            for (k, x) in m {
                prefix.push(Seg::Key(k.clone()));
                out.push(prefix.clone());
                paths(x, prefix, out);
                prefix.pop();
            }
        }
        J::Arr(a) if is_rec(a) => {
            for x in a {
                prefix.push(Seg::Id(id_text(x).unwrap()));
                out.push(prefix.clone());
                paths(x, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

fn all_paths(v: &J) -> Vec<Path> {
    let mut out = vec![Vec::new()];
    paths(v, &mut Vec::new(), &mut out);
    out
}

fn related(a: &[Seg], b: &[Seg]) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

/// Nesting depth of the value at `p` (an identity step enters an array and an object).
fn depth_of(p: &[Seg]) -> usize {
    p.iter()
        .map(|s| if matches!(s, Seg::Id(_)) { 2 } else { 1 })
        .sum()
}

// ───────────────────────────── rendering ─────────────────────────────

#[derive(Clone, Copy, Debug)]
enum Layout {
    Compact,
    /// `{"a": 1, "b": 2}` (Python's default).
    Spaced,
    Pretty(&'static str),
}

#[derive(Clone, Copy, Debug)]
struct Style {
    layout: Layout,
    crlf: bool,
    final_nl: bool,
    bom: bool,
}

fn quote(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn write(v: &J, depth: usize, layout: Layout, out: &mut String) {
    match v {
        J::Null => out.push_str("null"),
        J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        J::Num(n) => out.push_str(n),
        J::Str(s) => quote(s, out),
        J::Arr(a) => write_container(
            out,
            depth,
            layout,
            ['[', ']'],
            a.iter().map(|v| (None, v)).collect(),
        ),
        J::Obj(m) => write_container(
            out,
            depth,
            layout,
            ['{', '}'],
            m.iter().map(|(k, v)| (Some(k.as_str()), v)).collect(),
        ),
    }
}

fn write_container(
    out: &mut String,
    depth: usize,
    layout: Layout,
    br: [char; 2],
    items: Vec<(Option<&str>, &J)>,
) {
    out.push(br[0]);
    if items.is_empty() {
        out.push(br[1]);
        return;
    }
    for (i, (k, v)) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
            if matches!(layout, Layout::Spaced) {
                out.push(' ');
            }
        }
        if let Layout::Pretty(ind) = layout {
            out.push('\n');
            for _ in 0..=depth {
                out.push_str(ind);
            }
        }
        if let Some(k) = k {
            quote(k, out);
            out.push(':');
            if !matches!(layout, Layout::Compact) {
                out.push(' ');
            }
        }
        write(v, depth + 1, layout, out);
    }
    if let Layout::Pretty(ind) = layout {
        out.push('\n');
        for _ in 0..depth {
            out.push_str(ind);
        }
    }
    out.push(br[1]);
}

fn compact(v: &J) -> String {
    let mut s = String::new();
    write(v, 0, Layout::Compact, &mut s);
    s
}

/// The text of `v` as it appears at nesting `depth` of a document in `style`.
fn text_at(v: &J, depth: usize, style: Style) -> String {
    let mut s = String::new();
    write(v, depth, style.layout, &mut s);
    if style.crlf {
        s.replace('\n', "\r\n")
    } else {
        s
    }
}

fn render(v: &J, style: Style) -> Vec<u8> {
    let mut s = String::new();
    if style.bom {
        s.push('\u{feff}');
    }
    write(v, 0, style.layout, &mut s);
    if style.final_nl {
        s.push('\n');
    }
    if style.crlf {
        s = s.replace('\n', "\r\n");
    }
    s.into_bytes()
}

// ───────────────────────────── parsing ─────────────────────────────

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        self.ws();
        (self.s.get(self.i) == Some(&c)).then(|| self.i += 1)
    }

    fn value(&mut self) -> Option<J> {
        self.ws();
        match *self.s.get(self.i)? {
            b'{' => {
                self.i += 1;
                let mut m = Vec::new();
                if self.eat(b'}').is_some() {
                    return Some(J::Obj(m));
                }
                loop {
                    self.ws();
                    let k = self.string()?;
                    self.eat(b':')?;
                    m.push((k, self.value()?));
                    if self.eat(b',').is_none() {
                        self.eat(b'}')?;
                        return Some(J::Obj(m));
                    }
                }
            }
            b'[' => {
                self.i += 1;
                let mut a = Vec::new();
                if self.eat(b']').is_some() {
                    return Some(J::Arr(a));
                }
                loop {
                    a.push(self.value()?);
                    if self.eat(b',').is_none() {
                        self.eat(b']')?;
                        return Some(J::Arr(a));
                    }
                }
            }
            b'"' => self.string().map(J::Str),
            b't' => self.word("true", J::Bool(true)),
            b'f' => self.word("false", J::Bool(false)),
            b'n' => self.word("null", J::Null),
            _ => {
                let start = self.i;
                while self.i < self.s.len()
                    && matches!(
                        self.s[self.i],
                        b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'
                    )
                {
                    self.i += 1;
                }
                (self.i > start)
                    .then(|| J::Num(String::from_utf8_lossy(&self.s[start..self.i]).into_owned()))
            }
        }
    }

    fn word(&mut self, w: &str, v: J) -> Option<J> {
        self.s[self.i..].starts_with(w.as_bytes()).then(|| {
            self.i += w.len();
            v
        })
    }

    fn hex4(&mut self) -> Option<u32> {
        let h = std::str::from_utf8(self.s.get(self.i..self.i + 4)?).ok()?;
        self.i += 4;
        u32::from_str_radix(h, 16).ok()
    }

    fn string(&mut self) -> Option<String> {
        if self.s.get(self.i) != Some(&b'"') {
            return None;
        }
        self.i += 1;
        let mut out = Vec::new();
        loop {
            let c = *self.s.get(self.i)?;
            self.i += 1;
            match c {
                b'"' => return String::from_utf8(out).ok(),
                b'\\' => {
                    let e = *self.s.get(self.i)?;
                    self.i += 1;
                    let ch = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            if (0xD800..0xDC00).contains(&hi) {
                                self.i += 2; // `\u`
                                let lo = self.hex4()?;
                                char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))?
                            } else {
                                char::from_u32(hi)?
                            }
                        }
                        _ => return None,
                    };
                    let mut buf = [0; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                c => out.push(c),
            }
        }
    }
}

fn strip_bom(b: &[u8]) -> &[u8] {
    b.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(b)
}

/// Parses a whole document (after checking it with serde_json).
fn parse(bytes: &[u8]) -> Option<J> {
    let bytes = strip_bom(bytes);
    serde_json::from_slice::<serde_json::Value>(bytes).ok()?;
    let mut p = Parser { s: bytes, i: 0 };
    let v = p.value()?;
    p.ws();
    (p.i == bytes.len()).then_some(v)
}

// ───────────────────────────── instants and ordering (README §5, §6) ─────────────────────────────

/// Reads what [`rfc3339`] writes, as ns since the epoch.
fn parse_rfc3339(s: &str) -> Option<i128> {
    epoch_of(s).map(|secs| i128::from(secs) * 1_000_000_000)
}

/// A timestamp: epoch seconds, epoch milliseconds, or RFC 3339 with an offset (so that text
/// order and time order disagree).
fn stamp() -> impl Strategy<Value = J> {
    (0i64..1000, 0u8..3, select(&[0i64, 120, -300, 330][..])).prop_map(|(n, kind, offset)| {
        let secs = 1_700_000_000 + n;
        match kind {
            0 => J::Num(secs.to_string()),
            1 => J::Num((secs * 1000).to_string()),
            _ => J::Str(rfc3339(secs, offset)),
        }
    })
}

/// An instant (ns) from a value's JSON text: epoch seconds or milliseconds (a number or a
/// string), or RFC 3339.
fn instant(v: &J) -> Option<i128> {
    let raw = match v {
        J::Num(n) => n.clone(),
        J::Str(_) => {
            let q = compact(v);
            q[1..q.len() - 1].to_string()
        }
        _ => return None,
    };
    if raw.is_empty()
        || !raw
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-')
    {
        return parse_rfc3339(&raw);
    }
    let value: f64 = raw.parse().ok()?;
    if !value.is_finite() {
        return None;
    }
    let seconds = if value.abs() >= 1e11 {
        value / 1000.0
    } else {
        value
    };
    Some((seconds * 1e9) as i128)
}

/// The instant of an inserted item: its first timestamp field that reads as one.
fn item_instant(v: &J) -> Option<i128> {
    TIMESTAMP_KEYS
        .iter()
        .find_map(|f| v.member(f).and_then(instant))
}

/// Rule 6: two runs inserted at one place.
fn combine(a: &[J], b: &[J], depth: usize, style: Style) -> Vec<J> {
    let key = |x: &J| (item_instant(x), text_at(x, depth, style));
    let cmp = |x: &J, y: &J| {
        let (kx, ky) = (key(x), key(y));
        match (kx.0, ky.0) {
            (Some(p), Some(q)) if p != q => p.cmp(&q),
            _ => kx.1.as_bytes().cmp(ky.1.as_bytes()),
        }
    };
    let timed = a.iter().chain(b).all(|x| item_instant(x).is_some());
    let mut out = Vec::new();
    if timed {
        let (mut i, mut j) = (0, 0);
        while i < a.len() && j < b.len() {
            if cmp(&b[j], &a[i]).is_lt() {
                out.push(b[j].clone());
                j += 1;
            } else {
                out.push(a[i].clone());
                i += 1;
            }
        }
        out.extend_from_slice(&a[i..]);
        out.extend_from_slice(&b[j..]);
    } else {
        let order = a
            .iter()
            .zip(b)
            .map(|(x, y)| cmp(x, y))
            .find(|o| o.is_ne())
            .unwrap_or(a.len().cmp(&b.len()));
        let (first, second) = if order.is_gt() { (b, a) } else { (a, b) };
        out.extend_from_slice(first);
        out.extend_from_slice(second);
    }
    out
}

#[test]
fn rfc3339_helpers_agree_with_each_other() {
    for (secs, off) in [
        (1_700_000_000, 0),
        (1_700_000_000, 330),
        (1_700_000_000, -300),
        (0, 120),
    ] {
        let s = rfc3339(secs, off);
        assert_eq!(
            parse_rfc3339(&s),
            Some(i128::from(secs) * 1_000_000_000),
            "{s}"
        );
    }
    assert_eq!(rfc3339(1_700_000_000, 0), "2023-11-14T22:13:20Z");
    assert_eq!(rfc3339(1_700_000_000, 120), "2023-11-15T00:13:20+02:00");
}

// ───────────────────────────── generators ─────────────────────────────

const NUMS: &[&str] = &[
    "0",
    "1",
    "-7",
    "42",
    "1.50",
    "1.5",
    "-0.25",
    "3.0e10",
    "1E-7",
    "12345678901234567890123",
    "18446744073709551616",
    "-9223372036854775809",
    "1700000000",
];
const STRS: &[&str] = &[
    "",
    "hello",
    "é ü",
    "tab\there",
    "quote\"d",
    "back\\slash",
    "line\nbreak",
    "😀",
    "<<<<<<< not a marker",
    "7",
    "1700000500",
];
const KEYS: &[&str] = &[
    "a", "b", "c", "d", "e", "f", "g", "x y", "é", "q\"k", "sl\\ash", "n\nl",
];

fn scalar() -> impl Strategy<Value = J> {
    prop_oneof![
        Just(J::Null),
        any::<bool>().prop_map(J::Bool),
        select(NUMS).prop_map(|s| J::Num(s.to_string())),
        any::<i64>().prop_map(|n| J::Num(n.to_string())),
        select(STRS).prop_map(|s| J::Str(s.to_string())),
        "[a-z]{0,5}".prop_map(J::Str),
    ]
}

fn key() -> impl Strategy<Value = String> {
    select(KEYS).prop_map(str::to_string)
}

fn id() -> impl Strategy<Value = J> {
    prop_oneof![
        (1u32..60).prop_map(|n| J::Num(n.to_string())),
        (1u32..60).prop_map(|n| J::Str(format!("r{n}"))),
    ]
}

fn obj(members: Vec<(String, J)>) -> J {
    let mut seen = HashSet::new();
    J::Obj(
        members
            .into_iter()
            .filter(|(k, _)| seen.insert(k.clone()))
            .collect(),
    )
}

fn record(inner: BoxedStrategy<J>) -> impl Strategy<Value = J> {
    let field = select(&["ts", "updated_at"][..]);
    (
        id(),
        proptest::option::of((field, stamp())),
        vec((key(), inner), 0..3),
    )
        .prop_map(|(id, ts, fields)| {
            let mut m = vec![("id".to_string(), id)];
            if let Some((field, ts)) = ts {
                m.push((field.to_string(), ts));
            }
            m.extend(fields);
            obj(m)
        })
}

fn records(recs: Vec<J>) -> J {
    let mut seen = HashSet::new();
    J::Arr(
        recs.into_iter()
            .filter(|r| seen.insert(id_text(r).unwrap()))
            .collect(),
    )
}

fn value() -> BoxedStrategy<J> {
    scalar()
        .prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                vec(inner.clone(), 0..4).prop_map(J::Arr),
                vec((key(), inner.clone()), 0..4).prop_map(obj),
                vec(record(inner.clone().boxed()), 0..4).prop_map(records),
            ]
        })
        .boxed()
}

fn document() -> impl Strategy<Value = J> {
    prop_oneof![
        8 => vec((key(), value()), 1..6).prop_map(obj),
        1 => vec(record(value()), 1..5).prop_map(records),
        1 => value(),
    ]
}

fn style() -> impl Strategy<Value = Style> {
    (
        prop_oneof![
            Just(Layout::Compact),
            Just(Layout::Spaced),
            Just(Layout::Pretty("  ")),
            Just(Layout::Pretty("    ")),
            Just(Layout::Pretty("\t")),
        ],
        prop::bool::weighted(0.2),
        any::<bool>(),
        prop::bool::weighted(0.1),
    )
        .prop_map(|(layout, crlf, final_nl, bom)| Style {
            layout,
            crlf,
            final_nl,
            bom,
        })
}

// ───────────────────────────── edits ─────────────────────────────

#[derive(Clone, Debug)]
enum Op {
    /// Replace the value (not a whole record).
    Set(J),
    /// Object: add (or overwrite) `key`. Array with identity (or empty, `as_rec`): add `rec`.
    /// Other array: insert `val`. At the end, or at `pos`.
    Add {
        key: String,
        val: J,
        rec: J,
        pos: u32,
        end: bool,
        as_rec: bool,
    },
    /// Delete a member (not a record's `id`), a record or an element.
    Del(u32),
    /// Set a record's `updated_at` if it has one, else its `ts`.
    Ts(J),
}

#[derive(Clone, Debug)]
struct Edit {
    /// Which child to step into at each level (modulo the number of children).
    sel: Vec<u32>,
    op: Op,
}

fn edit() -> impl Strategy<Value = Edit> {
    let op = prop_oneof![
        2 => value().prop_map(Op::Set),
        3 => scalar().prop_map(Op::Set),
        5 => (key(), value(), record(value()), any::<u32>(), any::<bool>(), any::<bool>()).prop_map(
            |(key, val, rec, pos, end, as_rec)| Op::Add { key, val, rec, pos, end, as_rec }
        ),
        3 => any::<u32>().prop_map(Op::Del),
        1 => stamp().prop_map(Op::Ts),
    ];
    (vec(any::<u32>(), 0..5), op).prop_map(|(sel, op)| Edit { sel, op })
}

/// Two edit scripts. Theirs also gets some edits at places ours edited (the same selectors,
/// other operations, or other scalars), and both sometimes append at one place, so that
/// collisions and appends to one array by both sides are common.
fn edit_pair() -> impl Strategy<Value = (Vec<Edit>, Vec<Edit>)> {
    let add = || {
        (key(), value(), record(value())).prop_map(|(key, val, rec)| Op::Add {
            key,
            val,
            rec,
            pos: 0,
            end: true,
            as_rec: true,
        })
    };
    (
        vec(edit(), 0..6),
        vec(edit(), 0..6),
        vec((any::<prop::sample::Index>(), edit()), 0..3),
        vec((any::<prop::sample::Index>(), scalar()), 0..3),
        vec((vec(any::<u32>(), 0..4), add(), add()), 0..2),
    )
        .prop_map(|(mut eo, mut et, shared, scalars, appends)| {
            if !eo.is_empty() {
                for (i, e) in shared {
                    et.push(Edit {
                        sel: eo[i.index(eo.len())].sel.clone(),
                        op: e.op,
                    });
                }
                for (i, v) in scalars {
                    et.push(Edit {
                        sel: eo[i.index(eo.len())].sel.clone(),
                        op: Op::Set(v),
                    });
                }
            }
            for (sel, o, t) in appends {
                eo.push(Edit {
                    sel: sel.clone(),
                    op: o,
                });
                et.push(Edit { sel, op: t });
            }
            (eo, et)
        })
}

/// What one side did.
#[derive(Default, Debug)]
struct Log {
    /// Paths whose value this side changed (an array without identity as a whole).
    touched: Vec<Path>,
    /// Elements appended, in order, at the end of an array (a path).
    appended: HashMap<Path, Vec<J>>,
    /// Arrays changed other than by appending at their end.
    dirty: HashSet<Path>,
}

impl Log {
    /// Touched paths with no touched ancestor.
    fn minimal(&self) -> Vec<&Path> {
        self.touched
            .iter()
            .filter(|p| {
                !self
                    .touched
                    .iter()
                    .any(|q| q.len() < p.len() && p.starts_with(q))
            })
            .collect()
    }
}

fn child_mut<'a>(v: &'a mut J, idx: &[usize]) -> &'a mut J {
    match idx.split_first() {
        None => v,
        Some((&i, rest)) => match v {
            J::Obj(m) => child_mut(&mut m[i].1, rest),
            J::Arr(a) => child_mut(&mut a[i], rest),
            _ => unreachable!(),
        },
    }
}

fn apply(doc: &mut J, e: &Edit, log: &mut Log) {
    let mut idx = Vec::new();
    let mut path: Path = Vec::new();
    // The outermost array without identity on the way: what any edit below it touches.
    let mut plain: Option<Path> = None;
    let mut in_record = false;
    {
        let mut node: &J = doc;
        for &s in &e.sel {
            match node {
                J::Obj(m) => {
                    let cands: Vec<usize> = (0..m.len())
                        .filter(|&i| !(in_record && m[i].0 == "id"))
                        .collect();
                    if cands.is_empty() {
                        break;
                    }
                    let i = cands[s as usize % cands.len()];
                    if plain.is_none() {
                        path.push(Seg::Key(m[i].0.clone()));
                    }
                    idx.push(i);
                    node = &m[i].1;
                    in_record = false;
                }
                J::Arr(a) if !a.is_empty() => {
                    let i = s as usize % a.len();
                    let rec = is_rec(a);
                    if plain.is_none() {
                        log.dirty.insert(path.clone());
                        if rec {
                            path.push(Seg::Id(id_text(&a[i]).unwrap()));
                        } else {
                            plain = Some(path.clone());
                        }
                    }
                    idx.push(i);
                    node = &a[i];
                    in_record = rec;
                }
                _ => break,
            }
        }
    }
    let node = child_mut(doc, &idx);
    let touch = |p: Path| plain.clone().unwrap_or(p);
    let with = |s: Seg| {
        let mut p = path.clone();
        p.push(s);
        p
    };
    match &e.op {
        Op::Set(v) => {
            if in_record {
                return;
            }
            *node = v.clone();
            log.touched.push(touch(path.clone()));
            log.dirty.insert(path.clone());
        }
        Op::Add {
            key,
            val,
            rec,
            pos,
            end,
            as_rec,
        } => match node {
            J::Obj(m) => {
                if let Some(slot) = m.iter_mut().find(|(k, _)| k == key) {
                    slot.1 = val.clone();
                    log.dirty.insert(with(Seg::Key(key.clone())));
                } else {
                    let at = if *end {
                        m.len()
                    } else {
                        *pos as usize % (m.len() + 1)
                    };
                    m.insert(at, (key.clone(), val.clone()));
                }
                log.touched.push(touch(with(Seg::Key(key.clone()))));
            }
            J::Arr(a) => {
                let len = a.len();
                let at = if *end { len } else { *pos as usize % (len + 1) };
                let record = if a.is_empty() { *as_rec } else { is_rec(a) };
                let item = if record {
                    let id = id_text(rec).unwrap();
                    if a.iter().any(|x| id_text(x).as_deref() == Some(id.as_str())) {
                        return;
                    }
                    log.touched.push(touch(with(Seg::Id(id))));
                    rec.clone()
                } else {
                    log.touched.push(touch(path.clone()));
                    val.clone()
                };
                a.insert(at, item.clone());
                if plain.is_none() {
                    if at == len {
                        log.appended.entry(path.clone()).or_default().push(item);
                    } else {
                        log.dirty.insert(path.clone());
                    }
                }
            }
            _ => {}
        },
        Op::Del(i) => match node {
            J::Obj(m) => {
                let cands: Vec<usize> = (0..m.len())
                    .filter(|&i| !(in_record && m[i].0 == "id"))
                    .collect();
                if cands.is_empty() {
                    return;
                }
                let (k, _) = m.remove(cands[*i as usize % cands.len()]);
                log.touched.push(touch(with(Seg::Key(k))));
            }
            J::Arr(a) if !a.is_empty() => {
                let j = *i as usize % a.len();
                if is_rec(a) {
                    log.touched
                        .push(touch(with(Seg::Id(id_text(&a[j]).unwrap()))));
                } else {
                    log.touched.push(touch(path.clone()));
                }
                log.dirty.insert(path.clone());
                a.remove(j);
            }
            _ => {}
        },
        Op::Ts(n) => {
            if let (true, J::Obj(m)) = (in_record, node) {
                let field = if m.iter().any(|(k, _)| k == "updated_at") {
                    "updated_at"
                } else {
                    "ts"
                };
                match m.iter_mut().find(|(k, _)| k == field) {
                    Some(slot) => slot.1 = n.clone(),
                    None => m.push((field.to_string(), n.clone())),
                }
                log.touched.push(touch(with(Seg::Key(field.to_string()))));
            }
        }
    }
}

// ───────────────────────────── checks ─────────────────────────────

/// Which property a check belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Prop {
    /// merge(B, X, X) == X, merge(B, B, X) == X, merge(B, X, B) == X.
    Trivial,
    /// Not conflicted under the default policy, output valid.
    Clean,
    /// merge(B, O, T) == merge(B, T, O) byte for byte.
    Symmetric,
    /// The same records (by id) either way round.
    RecordIds,
    /// Faithful layout: the output is the sides' style.
    Layout,
    /// An edit only one side made (nothing related on the other) is in the result.
    OneSided,
    /// Kept base keys/records in base order; a one-sided insert right after its anchor.
    ItemOrder,
    /// What neither side touched is as in the base.
    Untouched,
    /// No key or record that no input has.
    NoPhantom,
    ModifyBeatsDelete,
    /// Two new scalars: newer timestamp, else the text that sorts last.
    Collision,
    /// Overrides leave records.
    Records,
    /// Appends by both sides to one array: all kept, ordered by rule 6.
    BothAppended,
    /// `ours`/`theirs` policies: clean and valid.
    Policies,
    /// The merge never panics.
    NoPanic,
    /// Empty base: clean, valid, symmetric.
    NoBase,
    /// JSONL: each base record as its plan says.
    Plans,
    /// JSONL: appended records present exactly once.
    Appends,
    /// JSONL: base order kept, appends after their side's lines, each side's order, by time.
    Order,
}

#[derive(Default)]
struct Failures(Vec<(Prop, String)>);

impl Failures {
    fn push(&mut self, p: Prop, msg: String) {
        self.0.push((p, msg));
    }

    fn only(self, p: Prop) -> Result<(), TestCaseError> {
        match self.0.into_iter().find(|(q, _)| *q == p) {
            Some((_, msg)) => Err(TestCaseError::fail(msg)),
            None => Ok(()),
        }
    }

    fn any(self) -> Result<(), TestCaseError> {
        match self.0.into_iter().next() {
            Some((p, msg)) => Err(TestCaseError::fail(format!("{p:?}: {msg}"))),
            None => Ok(()),
        }
    }
}

macro_rules! check {
    ($f:expr, $prop:expr, $cond:expr, $($fmt:tt)+) => {
        if !$cond {
            $f.push($prop, format!($($fmt)+));
        }
    };
}

fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn esc(b: &[u8]) -> String {
    b.escape_ascii().to_string()
}

thread_local! {
    /// The inputs of the merge in progress, for the report if it panics.
    static LAST: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

fn run(kind: Kind, base: &[u8], ours: &[u8], theirs: &[u8], options: &Options) -> Merged {
    LAST.with(|l| {
        *l.borrow_mut() = format!(
            "merge({kind}, policy {:?})\n--- base\n{}\n--- ours\n{}\n--- theirs\n{}",
            options.policy,
            esc(base),
            esc(ours),
            esc(theirs)
        )
    });
    merge(kind, base, ours, theirs, options)
}

/// Runs a check; a panic (of the merge) becomes a [`Prop::NoPanic`] failure, so that the tests
/// of the other properties go on looking for their own counterexamples.
fn guarded(check: impl FnOnce() -> Failures) -> Failures {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(check)) {
        Ok(f) => f,
        Err(e) => {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            let mut f = Failures::default();
            f.push(
                Prop::NoPanic,
                format!("panicked: {msg}\n{}", LAST.with(|l| l.borrow().clone())),
            );
            f
        }
    }
}

fn record_ids(m: &Merged) -> Vec<String> {
    let mut ids: Vec<String> = m.records.iter().map(|r| r.id()).collect();
    ids.sort();
    ids
}

/// Whether the merge reaches `p` by recursion on both sides: every proper ancestor is an
/// object on both sides, or an array merged by identity. With `strict`, the base has the same
/// containers too.
/// The items of a keyed container: member names, or record identities.
fn items(v: &J) -> Option<Vec<Seg>> {
    match v {
        J::Obj(m) => Some(m.iter().map(|(k, _)| Seg::Key(k.clone())).collect()),
        J::Arr(a) if a.is_empty() || is_rec(a) => {
            Some(a.iter().map(|x| Seg::Id(id_text(x).unwrap())).collect())
        }
        _ => None,
    }
}

fn recursive_to(p: &[Seg], b: &J, x: &J, y: &J, strict: bool) -> bool {
    (0..p.len()).all(|n| {
        let a = &p[..n];
        let (Some(xa), Some(ya)) = (get(x, a), get(y, a)) else {
            return false;
        };
        let ba = get(b, a);
        match &p[n] {
            Seg::Key(_) => {
                matches!((xa, ya), (J::Obj(_), J::Obj(_)))
                    && (!strict || matches!(ba, Some(J::Obj(_))))
            }
            Seg::Id(_) => {
                let mut sides = vec![xa, ya];
                match ba {
                    Some(ba @ J::Arr(_)) => sides.push(ba),
                    _ if strict => return false,
                    _ => {}
                }
                ident_ok(&sides)
            }
        }
    })
}

/// Both sides: the base with each edit script applied, and what each side did.
fn sides(base: &J, eo: &[Edit], et: &[Edit]) -> (J, J, Log, Log) {
    let (mut x, mut y) = (base.clone(), base.clone());
    let (mut lx, mut ly) = (Log::default(), Log::default());
    for e in eo {
        apply(&mut x, e, &mut lx);
    }
    for e in et {
        apply(&mut y, e, &mut ly);
    }
    (x, y, lx, ly)
}

fn context(bb: &[u8], xb: &[u8], yb: &[u8]) -> String {
    format!(
        "\n--- base\n{}\n--- ours\n{}\n--- theirs\n{}\n",
        show(bb),
        show(xb),
        show(yb)
    )
}

/// README: "An empty base means added on both sides": clean, valid and symmetric.
fn check_json_without_base(base: &J, style: Style, eo: &[Edit], et: &[Edit]) -> Failures {
    guarded(|| check_json_without_base_unguarded(base, style, eo, et))
}

fn check_json_without_base_unguarded(base: &J, style: Style, eo: &[Edit], et: &[Edit]) -> Failures {
    let mut f = Failures::default();
    let (x, y, _, _) = sides(base, eo, et);
    let (xb, yb) = (render(&x, style), render(&y, style));
    let ctx = context(b"", &xb, &yb);
    let opts = Options::default();
    // An empty base: added on both sides.
    for empty in [&b""[..], b"\n"] {
        let m = run(Kind::Json, empty, &xb, &yb, &opts);
        let r = run(Kind::Json, empty, &yb, &xb, &opts);
        check!(
            f,
            Prop::NoBase,
            !m.conflicted,
            "added on both sides: conflicted{ctx}--- got\n{}",
            show(&m.output)
        );
        check!(
            f,
            Prop::NoBase,
            parse(&m.output).is_some(),
            "added on both sides: invalid{ctx}--- got\n{}",
            show(&m.output)
        );
        check!(
            f,
            Prop::NoBase,
            m.output == r.output,
            "added on both sides: not symmetric{ctx}--- merge(O,T)\n{}\n--- merge(T,O)\n{}",
            show(&m.output),
            show(&r.output)
        );
    }

    f
}

fn check_json(base: &J, style: Style, eo: &[Edit], et: &[Edit]) -> Failures {
    guarded(|| check_json_unguarded(base, style, eo, et))
}

fn check_json_unguarded(base: &J, style: Style, eo: &[Edit], et: &[Edit]) -> Failures {
    let mut f = Failures::default();
    let (x, y, lx, ly) = sides(base, eo, et);
    let (bb, xb, yb) = (render(base, style), render(&x, style), render(&y, style));
    let opts = Options::default();
    let ctx = context(&bb, &xb, &yb);

    // (e) a side equal to the base, or both sides equal: that side, byte for byte.
    for (o, t, want) in [(&xb, &xb, &xb), (&bb, &xb, &xb), (&xb, &bb, &xb)] {
        let m = run(Kind::Json, &bb, o, t, &opts);
        check!(
            f,
            Prop::Trivial,
            m.output == *want && !m.conflicted,
            "trivial merge did not give the changed side{ctx}--- got\n{}",
            show(&m.output)
        );
    }

    let m = run(Kind::Json, &bb, &xb, &yb, &opts);
    let r = run(Kind::Json, &bb, &yb, &xb, &opts);
    let out = show(&m.output);
    // (b) clean and valid.
    check!(
        f,
        Prop::Clean,
        !m.conflicted,
        "conflicted with the default policy{ctx}--- got\n{out}"
    );
    let Some(res) = parse(&m.output) else {
        f.push(
            Prop::Clean,
            format!("output is not valid JSON{ctx}--- got\n{out}"),
        );
        return f;
    };
    // (c) symmetric, records too.
    check!(
        f,
        Prop::Symmetric,
        m.output == r.output,
        "not symmetric{ctx}--- merge(B,O,T)\n{out}\n--- merge(B,T,O)\n{}",
        show(&r.output)
    );
    check!(
        f,
        Prop::RecordIds,
        (record_ids(&m)) == (record_ids(&r)),
        "record ids differ between sides: {:?} vs {:?}{}",
        record_ids(&m),
        record_ids(&r),
        ctx
    );
    // Faithful: every item keeps its text and the layout is the sides' (all in one style).
    let canonical = render(&res, style);
    // With `", "` separators, an item that was alone in its container on its side and is not
    // first in the result takes "the white space before its first item" (README json 7):
    // none. So there the separator may be `,`; everything else must match.
    let loose = |b: &[u8]| match style.layout {
        Layout::Spaced => show(b).replace(", ", ","),
        _ => show(b),
    };
    check!(
        f,
        Prop::Layout,
        loose(&m.output) == loose(&canonical),
        "layout not kept{ctx}--- got\n{out}\n--- same value in the sides' style\n{}",
        show(&canonical)
    );

    // (d) one-sided edits are in the result.
    for (side, log, other, name) in [(&x, &lx, &ly, "ours"), (&y, &ly, &lx, "theirs")] {
        for p in log.minimal() {
            if other.touched.iter().any(|q| related(p, q)) {
                continue;
            }
            check!(
                f,
                Prop::OneSided,
                same_opt(get(&res, p), get(side, p)),
                "edit by {name} only at {p:?} lost: want {:?}, got {:?}{ctx}--- got\n{out}",
                get(side, p),
                get(&res, p)
            );
        }
    }
    // What neither side touched stays as in the base.
    for p in all_paths(base) {
        if lx.touched.iter().chain(&ly.touched).any(|q| related(&p, q)) {
            continue;
        }
        check!(
            f,
            Prop::Untouched,
            same_opt(get(&res, &p), get(base, &p)),
            "untouched {p:?} changed: base {:?}, got {:?}{ctx}--- got\n{out}",
            get(base, &p),
            get(&res, &p)
        );
    }
    // Nothing appears that no side had. (Only along identities every input has: an array
    // without identity on some side merges element by element, not by `id`.)
    let by_identity = |p: &[Seg]| {
        (0..p.len()).all(|n| {
            !matches!(p[n], Seg::Id(_))
                || [base, &x, &y].iter().all(|d| match get(d, &p[..n]) {
                    Some(J::Arr(a)) => a.is_empty() || is_rec(a),
                    _ => true,
                })
        })
    };
    for p in all_paths(&res) {
        if !by_identity(&p) {
            continue;
        }
        check!(
            f,
            Prop::NoPhantom,
            get(base, &p).is_some() || get(&x, &p).is_some() || get(&y, &p).is_some(),
            "{p:?} is in no input{ctx}--- got\n{out}"
        );
    }

    // Modify beats delete (README json 2, 3).
    for p in all_paths(base) {
        let Some(bv) = get(base, &p) else { continue };
        for (del, kept, name) in [(&x, &y, "ours"), (&y, &x, "theirs")] {
            let Some(kv) = get(kept, &p) else { continue };
            if p.is_empty()
                || get(del, &p).is_some()
                || same(kv, bv)
                || !recursive_to(&p, base, &x, &y, true)
            {
                continue;
            }
            check!(f, Prop::ModifyBeatsDelete, get(&res, &p).is_some_and(|v| same(v, kv)),
                "{name} deleted {p:?}, the other side changed it: want {kv:?}, got {:?}{ctx}--- got\n{out}",
                get(&res, &p));
            check!(
                f,
                Prop::Records,
                m.records.iter().any(|r| r.rule == Rule::ModifyBeatsDelete),
                "no modify-beats-delete record for {p:?}{ctx}"
            );
        }
    }

    // Scalar collisions (README json 5).
    let mut collisions = Vec::new();
    for p in all_paths(&x) {
        let (Some(xv), Some(yv)) = (get(&x, &p), get(&y, &p)) else {
            continue;
        };
        if !xv.is_scalar() || !yv.is_scalar() || same(xv, yv) {
            continue;
        }
        if get(base, &p).is_some_and(|bv| same(bv, xv) || same(bv, yv))
            || !recursive_to(&p, base, &x, &y, false)
        {
            continue;
        }
        let mut stamps = None;
        for n in (0..p.len()).rev() {
            let (xa, ya) = (get(&x, &p[..n]).unwrap(), get(&y, &p[..n]).unwrap());
            if !matches!(xa, J::Obj(_)) {
                continue;
            }
            stamps = TIMESTAMP_KEYS.iter().find_map(|f| {
                Some((
                    xa.member(f).and_then(instant)?,
                    ya.member(f).and_then(instant)?,
                ))
            });
            if stamps.is_some() {
                break;
            }
        }
        let winner = match stamps {
            Some((sx, sy)) if sx != sy => {
                if sx > sy {
                    xv
                } else {
                    yv
                }
            }
            _ => {
                if compact(xv).as_bytes() > compact(yv).as_bytes() {
                    xv
                } else {
                    yv
                }
            }
        };
        check!(f, Prop::Collision, get(&res, &p).is_some_and(|v| same(v, winner)),
            "collision at {p:?} (ours {xv:?}, theirs {yv:?}, stamps {stamps:?}): want {winner:?}, got {:?}{ctx}--- got\n{out}",
            get(&res, &p));
        check!(
            f,
            Prop::Records,
            m.records
                .iter()
                .any(|r| matches!(r.rule, Rule::Canonical | Rule::Newer { .. })),
            "no record for the collision at {p:?}{ctx}"
        );
        collisions.push(p);
    }

    // Order of keys and records where both sides changed a container (README json 6).
    if m.method == Method::Structural {
        for p in all_paths(&res) {
            let (Some(rv), Some(xv), Some(yv)) = (get(&res, &p), get(&x, &p), get(&y, &p)) else {
                continue;
            };
            let bv =
                get(base, &p).filter(|b| std::mem::discriminant(*b) == std::mem::discriminant(xv));
            let keyed = match (xv, yv) {
                (J::Obj(_), J::Obj(_)) => true,
                (J::Arr(_), J::Arr(_)) => {
                    ident_ok(&[xv, yv].into_iter().chain(bv).collect::<Vec<_>>())
                }
                _ => false,
            };
            let (xt, yt) = (compact(xv), compact(yv));
            if !keyed
                || xt == yt
                || bv.is_some_and(|b| compact(b) == xt || compact(b) == yt)
                || !recursive_to(&p, base, &x, &y, false)
            {
                continue;
            }
            let (Some(ri), Some(xi), Some(yi)) = (items(rv), items(xv), items(yv)) else {
                continue;
            };
            let bi = bv.and_then(items).unwrap_or_default();
            let kept: Vec<&Seg> = ri.iter().filter(|k| bi.contains(k)).collect();
            let base_order: Vec<&Seg> = bi.iter().filter(|k| ri.contains(k)).collect();
            check!(
                f,
                Prop::ItemOrder,
                kept == base_order,
                "at {p:?} kept base items {kept:?} are not in base order {base_order:?}{ctx}--- got\n{out}"
            );
            for (mine, theirs, name) in [(&xi, &yi, "ours"), (&yi, &xi, "theirs")] {
                for (n, k) in mine.iter().enumerate() {
                    if bi.contains(k) || theirs.contains(k) {
                        continue;
                    }
                    let Some(at) = ri.iter().position(|r| r == k) else {
                        continue;
                    };
                    let anchor = mine[..n].iter().rev().find(|a| ri.contains(a));
                    let from = anchor.map(|a| ri.iter().position(|r| r == a).unwrap());
                    let between = &ri[from.map_or(0, |i| i + 1)..at.max(from.map_or(0, |i| i + 1))];
                    let shared_anchor =
                        anchor.is_some_and(|a| !bi.contains(a) && theirs.contains(a));
                    check!(
                        f,
                        Prop::ItemOrder,
                        from.is_none_or(|i| i < at) && (shared_anchor || between.iter().all(|b| !bi.contains(b))),
                        "at {p:?} {k:?}, inserted by {name} after {anchor:?}, is not right after it{ctx}--- got\n{out}"
                    );
                }
            }
        }
    }

    // Both sides only appended to one array (README json 4, 6).
    for (p, xa) in &lx.appended {
        let Some(ya) = ly.appended.get(p) else {
            continue;
        };
        let only_appends = |log: &Log, added: &[J]| {
            let ids: HashSet<String> = added.iter().filter_map(id_text).collect();
            !log.dirty.contains(p)
                && log.touched.iter().filter(|q| related(p, q)).all(|q| {
                    q == p
                        || (q.len() == p.len() + 1
                            && q.starts_with(p)
                            && matches!(&q[p.len()], Seg::Id(id) if ids.contains(id)))
                })
        };
        if !only_appends(&lx, xa) || !only_appends(&ly, ya) || !recursive_to(p, base, &x, &y, true)
        {
            continue;
        }
        let (Some(J::Arr(ba)), Some(xv), Some(yv)) = (get(base, p), get(&x, p), get(&y, p)) else {
            continue;
        };
        let depth = depth_of(p) + 1;
        let want: Vec<J> = if ident_ok(&[get(base, p).unwrap(), xv, yv]) {
            let xi: HashSet<String> = xa.iter().filter_map(id_text).collect();
            if ya.iter().filter_map(id_text).any(|i| xi.contains(&i)) {
                continue;
            }
            ba.iter()
                .cloned()
                .chain(combine(xa, ya, depth, style))
                .collect()
        } else {
            if xa.iter().chain(ya).any(|e| ba.iter().any(|b| same(b, e))) {
                continue;
            }
            let key = |e: &J| text_at(e, depth, style);
            let count = |v: &[J]| {
                let mut c: HashMap<String, usize> = HashMap::new();
                for e in v {
                    *c.entry(key(e)).or_default() += 1;
                }
                c
            };
            let (cx, cy) = (count(xa), count(ya));
            let mut emitted: HashMap<String, usize> = HashMap::new();
            let mut want = ba.clone();
            for e in combine(xa, ya, depth, style) {
                let k = key(&e);
                let n = emitted.entry(k.clone()).or_default();
                if *n
                    < cx.get(&k)
                        .copied()
                        .unwrap_or(0)
                        .max(cy.get(&k).copied().unwrap_or(0))
                {
                    *n += 1;
                    want.push(e);
                }
            }
            want
        };
        let want = J::Arr(want);
        check!(
            f,
            Prop::BothAppended,
            get(&res, p).is_some_and(|v| same(v, &want)),
            "both appended to {p:?}: want {}, got {:?}{ctx}--- got\n{out}",
            compact(&want),
            get(&res, p).map(compact)
        );
    }

    // Other policies (README json 5): `ours`/`theirs` stay clean and valid and differ from
    // the default only where two new values collided; `markers` leaves a conflict block
    // exactly when there was such a collision, and otherwise is the default result.
    let collided = m
        .records
        .iter()
        .any(|r| matches!(r.rule, Rule::Canonical | Rule::Newer { .. }));
    for policy in [Policy::Ours, Policy::Theirs, Policy::Markers] {
        let o = Options {
            policy,
            ..Options::default()
        };
        let p = run(Kind::Json, &bb, &xb, &yb, &o);
        let got = show(&p.output);
        if policy == Policy::Markers {
            check!(
                f,
                Prop::Policies,
                p.conflicted == collided && (!collided || has_block(&p.output, 7)),
                "policy markers: conflicted {} but collided {collided}{ctx}--- got\n{got}",
                p.conflicted
            );
        } else {
            check!(
                f,
                Prop::Policies,
                !p.conflicted && parse(&p.output).is_some(),
                "policy {policy:?}: conflicted or invalid{ctx}--- got\n{got}"
            );
        }
        if !collided {
            check!(
                f,
                Prop::Policies,
                p.output == m.output,
                "policy {policy:?} differs from the default without a collision{ctx}--- default\n{out}\n--- got\n{got}"
            );
        }
        if policy == Policy::Markers {
            continue;
        }
        // Where two new scalars collided, the policy's side wins.
        let Some(pres) = parse(&p.output) else {
            continue;
        };
        for c in &collisions {
            let want = get(if policy == Policy::Ours { &x } else { &y }, c);
            check!(
                f,
                Prop::Policies,
                same_opt(get(&pres, c), want),
                "policy {policy:?}: collision at {c:?} should give {want:?}, got {:?}{ctx}--- got\n{got}",
                get(&pres, c)
            );
        }
    }
    f
}

/// One test per property, so that one failure does not hide the others and each shrinks to
/// its own minimal input.
macro_rules! json_props {
    ($($name:ident => $prop:ident,)*) => {
        proptest! {
            #![proptest_config(config())]
            $(
                #[test]
                fn $name(base in document(), style in style(), (eo, et) in edit_pair()) {
                    check_json(&base, style, &eo, &et).only(Prop::$prop)?;
                }
            )*
        }
    };
}

json_props! {
    json_never_panics => NoPanic,
    json_trivial_merges_give_the_changed_side => Trivial,
    json_default_policy_is_clean_and_valid => Clean,
    json_is_symmetric => Symmetric,
    json_record_ids_are_symmetric => RecordIds,
    json_keeps_the_layout => Layout,
    json_keeps_one_sided_edits => OneSided,
    json_orders_keys_and_records_by_rule_6 => ItemOrder,
    json_keeps_untouched_values => Untouched,
    json_invents_nothing => NoPhantom,
    json_modify_beats_delete => ModifyBeatsDelete,
    json_collisions_follow_time_then_canonical_order => Collision,
    json_records_every_override => Records,
    json_keeps_both_appends_in_order => BothAppended,
    json_other_policies_stay_valid => Policies,
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn json_added_on_both_sides_merges_cleanly(
        base in document(),
        style in style(),
        (eo, et) in edit_pair(),
    ) {        check_json_without_base(&base, style, &eo, &et).any()?;
    }

    /// Arrays of records that all carry a timestamp (README json 6: interleaved by time),
    /// with and without a base; every property at once.
    #[test]
    fn json_timed_record_arrays(
        base in vec(timed_record(), 1..6).prop_map(records),
        style in style(),
        (eo, et) in edit_pair(),
    ) {
        check_json(&base, style, &eo, &et).any()?;
        check_json_without_base(&base, style, &eo, &et).any()?;
    }
}

/// A record with an `id`, a timestamp and a value.
fn timed_record() -> impl Strategy<Value = J> {
    (id(), select(&["ts", "updated_at"][..]), stamp(), scalar()).prop_map(|(id, field, ts, v)| {
        J::Obj(vec![("id".into(), id), (field.into(), ts), ("v".into(), v)])
    })
}
/// A document whose first member is an array both sides append to (plain values, or records
/// with or without timestamps), with other edits elsewhere.
fn append_case() -> impl Strategy<Value = (J, Vec<Edit>, Vec<Edit>)> {
    let timed_record = (id(), stamp(), scalar())
        .prop_map(|(id, ts, v)| J::Obj(vec![("id".into(), id), ("ts".into(), ts), ("v".into(), v)]))
        .boxed();
    let list = prop_oneof![
        vec(scalar(), 0..4).prop_map(J::Arr),
        vec(record(value()), 0..4).prop_map(records),
        vec(timed_record.clone(), 0..4).prop_map(records),
    ];
    let appends = || {
        vec(
            (
                prop_oneof![scalar().boxed(), value()],
                prop_oneof![timed_record.clone(), record(value()).boxed()],
            ),
            1..4,
        )
    };
    let others = || vec(edit(), 0..3);
    (
        list,
        vec((key(), value()), 0..3),
        appends(),
        appends(),
        others(),
        others(),
    )
        .prop_map(|(list, rest, ao, at, mut eo, mut et)| {
            let mut m = vec![("list".to_string(), list)];
            m.extend(rest.into_iter().filter(|(k, _)| k != "list"));
            let base = obj(m);
            // Other edits never step into `list` (the first member).
            for e in eo.iter_mut().chain(et.iter_mut()) {
                if let Some(first) = e.sel.first_mut() {
                    *first = first.saturating_add(1).max(1);
                } else {
                    e.sel.push(1);
                }
            }
            let add = |(val, rec): (J, J)| Edit {
                sel: vec![0],
                op: Op::Add {
                    key: String::new(),
                    val,
                    rec,
                    pos: 0,
                    end: true,
                    as_rec: true,
                },
            };
            eo.extend(ao.into_iter().map(add));
            et.extend(at.into_iter().map(add));
            (base, eo, et)
        })
}

proptest! {
    #![proptest_config(config())]

    /// README json 4, 6: both sides append to one array; everything else must hold too.
    #[test]
    fn json_appends_by_both_sides((base, eo, et) in append_case(), style in style()) {
        check_json(&base, style, &eo, &et).any()?;
    }
}

// ───────────────────────────── JSONL ─────────────────────────────

const RAW: &[&str] = &[
    "# a comment",
    "not json at all",
    "{\"broken\": ",
    "[1, 2]",
    "{\"x\":1}",
    "\"just a string\"",
    "42",
];

#[derive(Clone, Copy, Debug, PartialEq)]
enum Plan {
    Keep,
    Edit(bool),
    Del(bool),
    BothEdit,
    DelEdit(bool),
    BothDel,
}

#[derive(Clone, Debug)]
enum Line {
    Rec(J),
    Raw(&'static str),
}

#[derive(Clone, Debug)]
struct JsonlCase {
    base: Vec<(Line, Plan)>,
    /// Per side, for every base record in order: new `v`, and a new `ts`.
    bump: [Vec<(J, Option<u32>)>; 2],
    appends: [Vec<(J, Option<u32>)>; 2],
    timed: bool,
    spaced: bool,
    crlf: bool,
    final_nl: bool,
    /// White space around record lines (valid JSON still), by record id: 0 none, 1 leading,
    /// 2 trailing, 3 both. For base, ours, theirs; all the base's unless `repad`.
    pad: [Vec<u8>; 3],
    /// Each side lays its lines out in its own way (white-space-only changes).
    repad: bool,
}

fn plan() -> impl Strategy<Value = Plan> {
    prop_oneof![
        4 => Just(Plan::Keep),
        2 => any::<bool>().prop_map(Plan::Edit),
        1 => any::<bool>().prop_map(Plan::Del),
        1 => Just(Plan::BothEdit),
        1 => any::<bool>().prop_map(Plan::DelEdit),
        1 => Just(Plan::BothDel),
    ]
}

fn jsonl_case() -> impl Strategy<Value = JsonlCase> {
    let line = prop_oneof![
        5 => (proptest::option::of(0u32..500), scalar()).prop_map(|(ts, v)| (ts, v)).prop_map(Some),
        1 => Just(None),
    ];
    let side = || vec((scalar(), proptest::option::of(0u32..300)), 1..4);
    let appends = || vec((scalar(), proptest::option::of(0u32..100)), 0..4);
    let pad = || {
        vec(
            prop_oneof![6 => Just(0u8), 1 => Just(1u8), 1 => Just(2u8), 1 => Just(3u8)],
            1..4,
        )
    };
    (
        vec((line, select(RAW), plan()), 0..10),
        side(),
        side(),
        appends(),
        appends(),
        any::<bool>(),
        any::<bool>(),
        prop::bool::weighted(0.2),
        any::<bool>(),
        [pad(), pad(), pad()],
        prop::bool::weighted(0.3),
    )
        .prop_map(
            |(lines, bo, bt, ao, at, timed, spaced, crlf, final_nl, pad, repad)| {
                let base = lines
                    .into_iter()
                    .enumerate()
                    .map(|(i, (l, raw, plan))| match l {
                        Some((ts, v)) => {
                            let mut m = vec![("id".to_string(), J::Num((i + 1).to_string()))];
                            if let Some(ts) = ts {
                                m.push((
                                    "ts".to_string(),
                                    J::Num((1_700_000_000 + ts).to_string()),
                                ));
                            }
                            m.push(("v".to_string(), v));
                            (Line::Rec(J::Obj(m)), plan)
                        }
                        None => (Line::Raw(raw), Plan::Keep),
                    })
                    .collect();
                JsonlCase {
                    base,
                    bump: [bo, bt],
                    appends: [ao, at],
                    timed,
                    spaced,
                    crlf,
                    final_nl,
                    pad,
                    repad,
                }
            },
        )
}

fn line_text(l: &Line, spaced: bool) -> String {
    match l {
        Line::Rec(v) => {
            let mut s = String::new();
            write(
                v,
                0,
                if spaced {
                    Layout::Spaced
                } else {
                    Layout::Compact
                },
                &mut s,
            );
            s
        }
        Line::Raw(r) => r.to_string(),
    }
}

fn join_lines(lines: &[String], crlf: bool, final_nl: bool) -> Vec<u8> {
    let eol = if crlf { "\r\n" } else { "\n" };
    let mut s = lines.join(eol);
    if final_nl && !lines.is_empty() {
        s.push_str(eol);
    }
    s.into_bytes()
}

fn split_lines(b: &[u8]) -> Vec<String> {
    let s = show(b);
    let mut v: Vec<String> = s
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l).to_string())
        .collect();
    if v.last().is_some_and(String::is_empty) {
        v.pop();
    }
    v
}

fn set(v: &mut J, key: &str, val: J) {
    let J::Obj(m) = v else { unreachable!() };
    match m.iter_mut().find(|(k, _)| k == key) {
        Some(slot) => slot.1 = val,
        None => m.push((key.to_string(), val)),
    }
}

fn line_id(l: &str) -> Option<u64> {
    let v = parse(l.as_bytes())?;
    match v.member("id")? {
        J::Num(n) => n.parse().ok(),
        _ => None,
    }
}

fn check_jsonl(c: &JsonlCase) -> Failures {
    guarded(|| check_jsonl_unguarded(c))
}

fn check_jsonl_unguarded(c: &JsonlCase) -> Failures {
    let mut f = Failures::default();
    // Build both sides.
    let mut sides: [Vec<Line>; 2] = [Vec::new(), Vec::new()];
    // Per base record: what each side's line is (None: deleted).
    let mut expect_rec: Vec<(u64, Option<J>)> = Vec::new();
    let mut rec_n = 0;
    for (line, plan) in &c.base {
        let Line::Rec(b) = line else {
            sides[0].push(line.clone());
            sides[1].push(line.clone());
            continue;
        };
        let id = line_id(&line_text(line, false)).unwrap();
        let k = rec_n;
        rec_n += 1;
        let edited = |s: usize| {
            let (v, ts) = &c.bump[s][k % c.bump[s].len()];
            let mut e = b.clone();
            set(
                &mut e,
                "v",
                J::Str(format!("{}-{}", ["ours", "theirs"][s], compact(v))),
            );
            if let (Some(ts), Some(_)) = (ts, b.member("ts")) {
                set(&mut e, "ts", J::Num((1_700_000_600 + ts).to_string()));
            }
            e
        };
        let (o, t) = match *plan {
            Plan::Keep => (Some(b.clone()), Some(b.clone())),
            Plan::Edit(ours) => {
                if ours {
                    (Some(edited(0)), Some(b.clone()))
                } else {
                    (Some(b.clone()), Some(edited(1)))
                }
            }
            Plan::Del(ours) => {
                if ours {
                    (None, Some(b.clone()))
                } else {
                    (Some(b.clone()), None)
                }
            }
            Plan::BothEdit => {
                // Different fields: ours `v` (and maybe `ts`), theirs a new `w` (and maybe `ts`).
                let o = edited(0);
                let mut t = b.clone();
                set(&mut t, "w", J::Str("theirs".into()));
                if let (Some(ts), Some(_)) = (c.bump[1][k % c.bump[1].len()].1, b.member("ts")) {
                    set(&mut t, "ts", J::Num((1_700_000_600 + ts).to_string()));
                }
                (Some(o), Some(t))
            }
            Plan::DelEdit(ours_del) => {
                if ours_del {
                    (None, Some(edited(1)))
                } else {
                    (Some(edited(0)), None)
                }
            }
            Plan::BothDel => (None, None),
        };
        let want = match (&o, &t) {
            (None, None) => None,
            (Some(v), None) | (None, Some(v)) => (!same(v, b)).then(|| v.clone()),
            (Some(o), Some(t)) if same(o, b) => Some(t.clone()),
            (Some(o), Some(t)) if same(t, b) => Some(o.clone()),
            (Some(o), Some(t)) => {
                // Merged as objects: ours' `v`, theirs' `w`, the later `ts`.
                let mut m = o.clone();
                set(&mut m, "w", t.member("w").unwrap().clone());
                if let (Some(J::Num(a)), Some(J::Num(bt))) = (o.member("ts"), t.member("ts")) {
                    let later = if a.parse::<u64>().unwrap() >= bt.parse::<u64>().unwrap() {
                        a
                    } else {
                        bt
                    };
                    set(&mut m, "ts", J::Num(later.clone()));
                }
                Some(m)
            }
        };
        expect_rec.push((id, want));
        if let Some(o) = o {
            sides[0].push(Line::Rec(o));
        }
        if let Some(t) = t {
            sides[1].push(Line::Rec(t));
        }
    }
    let mut appended: [Vec<J>; 2] = [Vec::new(), Vec::new()];
    for s in 0..2 {
        let mut ts = 1_700_000_000u64;
        for (i, (v, t)) in c.appends[s].iter().enumerate() {
            let id = 1000 * (s as u64 + 1) + i as u64;
            let mut m = vec![("id".to_string(), J::Num(id.to_string()))];
            if c.timed || t.is_some() {
                ts += 1 + t.unwrap_or(7) as u64;
                m.push(("ts".to_string(), J::Num(ts.to_string())));
            }
            m.push(("v".to_string(), v.clone()));
            appended[s].push(J::Obj(m.clone()));
            sides[s].push(Line::Rec(J::Obj(m)));
        }
    }
    let texts = |ls: &[Line], side: usize| {
        let pad = &c.pad[if c.repad { side } else { 0 }];
        ls.iter()
            .map(|l| {
                let text = line_text(l, c.spaced);
                let id = line_id(&text).filter(|_| matches!(l, Line::Rec(_)));
                match id.map(|id| pad[id as usize % pad.len()]) {
                    Some(1) => format!(" {text}"),
                    Some(2) => format!("{text} "),
                    Some(3) => format!("\t{text} "),
                    _ => text,
                }
            })
            .collect::<Vec<_>>()
    };
    let base_lines: Vec<Line> = c.base.iter().map(|(l, _)| l.clone()).collect();
    let (bt, ot, tt) = (
        texts(&base_lines, 0),
        texts(&sides[0], 1),
        texts(&sides[1], 2),
    );
    let (bb, xb, yb) = (
        join_lines(&bt, c.crlf, c.final_nl),
        join_lines(&ot, c.crlf, c.final_nl),
        join_lines(&tt, c.crlf, c.final_nl),
    );
    let ctx = format!(
        "\n--- base\n{}\n--- ours\n{}\n--- theirs\n{}\n",
        show(&bb),
        show(&xb),
        show(&yb)
    );
    let opts = Options::default();
    for (o, t, want) in [
        (&xb, &xb, &xb),
        (&bb, &xb, &xb),
        (&xb, &bb, &xb),
        (&bb, &yb, &yb),
    ] {
        let m = run(Kind::Jsonl, &bb, o, t, &opts);
        check!(
            f,
            Prop::Trivial,
            m.output == *want && !m.conflicted,
            "trivial merge did not give the changed side{ctx}--- got\n{}",
            show(&m.output)
        );
    }
    let m = run(Kind::Jsonl, &bb, &xb, &yb, &opts);
    let r = run(Kind::Jsonl, &bb, &yb, &xb, &opts);
    let out = show(&m.output);
    check!(
        f,
        Prop::Clean,
        !m.conflicted,
        "conflicted{ctx}--- got\n{out}"
    );
    check!(
        f,
        Prop::Symmetric,
        m.output == r.output,
        "not symmetric{ctx}--- merge(B,O,T)\n{out}\n--- merge(B,T,O)\n{}",
        show(&r.output)
    );
    check!(
        f,
        Prop::RecordIds,
        (record_ids(&m)) == (record_ids(&r)),
        "record ids differ between sides: {:?} vs {:?}{}",
        record_ids(&m),
        record_ids(&r),
        ctx
    );
    let lines = split_lines(&m.output);
    // Every line is valid JSON or an input's own non-JSON line.
    for l in &lines {
        check!(
            f,
            Prop::Clean,
            parse(l.as_bytes()).is_some() || RAW.contains(&l.as_str()),
            "line {l:?} is neither JSON nor an input line{ctx}--- got\n{out}"
        );
    }
    // Final newline kept (all inputs agree).
    if !lines.is_empty() {
        check!(
            f,
            Prop::Layout,
            (m.output.ends_with(b"\n")) == (c.final_nl),
            "final newline{}--- got\n{}",
            ctx,
            out
        );
    }
    // Untouched non-record lines: each as often as in the base.
    for raw in RAW {
        let n = |v: &[String]| v.iter().filter(|l| l == raw).count();
        check!(
            f,
            Prop::Untouched,
            (n(&lines)) == (n(&bt)),
            "line {:?} count changed from {}{}--- got\n{}",
            raw,
            n(&bt),
            ctx,
            out
        );
    }
    let pos_of = |id: u64| lines.iter().position(|l| line_id(l) == Some(id));
    // Base records: as planned, once, in base order.
    let mut last = None;
    for (id, want) in &expect_rec {
        let found: Vec<&String> = lines.iter().filter(|l| line_id(l) == Some(*id)).collect();
        match want {
            None => check!(
                f,
                Prop::Plans,
                found.is_empty(),
                "record {id} should be deleted{ctx}--- got\n{out}"
            ),
            Some(w) => {
                check!(
                    f,
                    Prop::Plans,
                    found.len() == 1 && parse(found[0].as_bytes()).is_some_and(|v| same(&v, w)),
                    "record {id}: want {} once, got {found:?}{ctx}--- got\n{out}",
                    compact(w)
                );
                let p = pos_of(*id);
                check!(
                    f,
                    Prop::Order,
                    last < p,
                    "record {id} out of base order{ctx}--- got\n{out}"
                );
                last = p;
            }
        }
    }
    // Appended records: each exactly once, verbatim, after that side's other lines, in that
    // side's order; by time when all carry one.
    let mut all_timed = true;
    let mut appended_pos = Vec::new();
    // Where each side's appends go: after its last line the result keeps (README json 6).
    let mut anchors = [None, None];
    for s in 0..2 {
        let side_lines = [&ot, &tt][s];
        let own_before = side_lines.len() - appended[s].len();
        let mut after = None;
        for l in &side_lines[..own_before] {
            let p = match line_id(l) {
                Some(id) => pos_of(id),
                None => lines.iter().position(|x| x == l),
            };
            after = after.max(p);
        }
        anchors[s] = after;
        let mut prev = None;
        for (a, text) in appended[s].iter().zip(&side_lines[own_before..]) {
            let id = line_id(text);
            let n = lines.iter().filter(|l| line_id(l) == id).count();
            let p = lines.iter().position(|l| line_id(l) == id);
            check!(
                f,
                Prop::Appends,
                n == 1
                    && p.is_some_and(|p| parse(lines[p].as_bytes()).is_some_and(|v| same(&v, a))),
                "appended {} there {} times (or changed){}--- got\n{}",
                text,
                n,
                ctx,
                out
            );
            check!(
                f,
                Prop::Order,
                p > after && p > prev,
                "appended {text} out of place{ctx}--- got\n{out}"
            );
            prev = p;
            all_timed &= a.member("ts").is_some();
            if let Some(p) = p {
                appended_pos.push((p, a.member("ts").and_then(instant)));
            }
        }
    }
    // Interleaved by time only where both sides inserted at the same place.
    if all_timed && anchors[0] == anchors[1] {
        appended_pos.sort();
        check!(
            f,
            Prop::Order,
            appended_pos.windows(2).all(|w| w[0].1 <= w[1].1),
            "appended records not in time order{ctx}--- got\n{out}"
        );
    }
    f
}

macro_rules! jsonl_props {
    ($($name:ident => $prop:ident,)*) => {
        proptest! {
            #![proptest_config(config())]
            $(
                #[test]
                fn $name(c in jsonl_case()) {
                    check_jsonl(&c).only(Prop::$prop)?;
                }
            )*
        }
    };
}

jsonl_props! {
    jsonl_never_panics => NoPanic,
    jsonl_trivial_merges_give_the_changed_side => Trivial,
    jsonl_is_clean_and_every_line_valid => Clean,
    jsonl_is_symmetric => Symmetric,
    jsonl_record_ids_are_symmetric => RecordIds,
    jsonl_keeps_the_final_newline => Layout,
    jsonl_keeps_untouched_lines => Untouched,
    jsonl_applies_edits_deletes_and_modify_beats_delete => Plans,
    jsonl_keeps_every_append_once => Appends,
    jsonl_keeps_base_order_and_orders_appends => Order,
}

// ───────────────────────────── arbitrary bytes ─────────────────────────────

const FRAGS: &[&str] = &[
    "\u{feff}",
    "<<<<<<< ours\n",
    "=======\n",
    ">>>>>>> theirs\n",
    "<<<<<<<\n",
    ">>>>>>>\r\n",
    "<<<<<<<<\n",
    "{",
    "}",
    "[",
    "]",
    "\"a\":",
    "\"id\":1",
    ",",
    "\n",
    "\r\n",
    "1",
    "\"x\"",
    "{\"id\":1,\"v\":2}\n",
    "{\"id\":2,\"ts\":1700000000}\n",
    "{\"a\":1}",
    "null",
    " ",
];

fn junk() -> impl Strategy<Value = Vec<u8>> {
    vec(
        prop_oneof![
            vec(any::<u8>(), 0..5),
            select(FRAGS).prop_map(|s| s.as_bytes().to_vec()),
        ],
        0..10,
    )
    .prop_map(|v| v.concat())
}

/// A variant of `base`: bytes `from..from+len` replaced by `with`.
fn splice(base: &[u8], from: usize, len: usize, with: &[u8]) -> Vec<u8> {
    let from = if base.is_empty() {
        0
    } else {
        from % (base.len() + 1)
    };
    let to = (from + len).min(base.len());
    [&base[..from], with, &base[to..]].concat()
}

fn triple() -> impl Strategy<Value = (Vec<u8>, Vec<u8>, Vec<u8>)> {
    prop_oneof![
        (junk(), junk(), junk()),
        (
            junk(),
            any::<usize>(),
            0usize..6,
            junk(),
            any::<usize>(),
            0usize..6,
            junk()
        )
            .prop_map(|(b, fo, lo, wo, ft, lt, wt)| {
                let (o, t) = (splice(&b, fo, lo, &wo), splice(&b, ft, lt, &wt));
                (b, o, t)
            }),
    ]
}

/// A complete conflict block of markers exactly `size` long (README: always reported).
fn has_block(text: &[u8], size: usize) -> bool {
    let is = |line: &[u8], c: u8| {
        line.len() >= size
            && line[..size].iter().all(|&b| b == c)
            && matches!(line.get(size), None | Some(b' ' | b'\t' | b'\r'))
    };
    let mut open = false;
    for line in text.split(|&b| b == b'\n') {
        if is(line, b'<') {
            open = true;
        } else if open && is(line, b'>') {
            return true;
        }
    }
    false
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_never_panic_nor_hide_markers((b, o, t) in triple(), size in 1usize..10) {
        let opts = Options { marker_size: size, ..Options::default() };
        for kind in Kind::ALL {
            let m = merge(kind, &b, &o, &t, &opts);
            prop_assert!(
                m.conflicted || !has_block(&m.output, size),
                "{kind}: clean result holds a conflict block (size {size})\n--- base\n{}\n--- ours\n{}\n--- theirs\n{}\n--- got\n{}",
                esc(&b), esc(&o), esc(&t), esc(&m.output)
            );
        }
    }

    #[test]
    fn arbitrary_bytes_clean_merges_are_symmetric((b, o, t) in triple()) {
        let opts = Options::default();
        for kind in Kind::ALL {
            let m = merge(kind, &b, &o, &t, &opts);
            let r = merge(kind, &b, &t, &o, &opts);
            if !m.conflicted && !r.conflicted {
                prop_assert!(
                    m.output == r.output,
                    "{kind}: clean but not symmetric\n--- base\n{}\n--- ours\n{}\n--- theirs\n{}\n--- merge(B,O,T)\n{}\n--- merge(B,T,O)\n{}",
                    esc(&b), esc(&o), esc(&t), esc(&m.output), show(&r.output)
                );
            }
            prop_assert_eq!(m.conflicted, r.conflicted, "{}: conflicted one way only", kind);
        }
    }
}
