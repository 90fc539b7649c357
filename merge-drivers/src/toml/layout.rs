//! A TOML side read as the merge sees it: the document is a table whose members are its own
//! keys, its `[table]` sections (each a table of its keys) and its `[[array]]` entries (each a
//! table of its keys and of the sections under it), keyed by identity.
//!
//! TOML writes its tables flat: `[a.b]` is a line, not a nesting. The merge keeps that shape:
//! the sections are members of the document keyed by their header's path, an entry of an
//! array of tables by the path and its identity (the JSON rules: the first of the identity
//! keys that every entry of that array has, on all sides, with a scalar value unique in its
//! array; else its text and its place among equal ones). A key of the document or of a
//! section is keyed by its whole dotted path, so `a.b = 1` and `a.c = 2` are two members.

use std::borrow::Cow;

use foldhash::HashMap;

use super::scan::{self, SEP};
use crate::sides::{Side, Sides};
use crate::tree::{Container, Item, Shape, Val};

/// A statement of a TOML text: a key-value or a header.
#[derive(Debug)]
pub(super) struct Stmt {
    pub(super) start: usize,
    /// Key-value: where its value starts. Header: where its line ends (comment included).
    pub(super) head_end: usize,
    /// Key-value: where its value's line ends (a trailing comment included).
    pub(super) end: usize,
    pub(super) kind: Kind,
    /// A header's path (decoded parts).
    pub(super) path: Vec<Vec<u8>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    KeyValue,
    Table,
    ArrayTable,
}

/// An entry of an array of tables on one side, waiting for its key.
struct Entry {
    side: Side,
    start: usize,
    /// Its body's span (a container).
    body: (usize, usize),
    /// Its header's path, joined.
    path: Vec<u8>,
    /// Where its array is: the container holding it.
    parent: usize,
}

/// The three sides' layouts.
#[derive(Default)]
pub(crate) struct Layout {
    /// Every section and entry body (and the document) by its span.
    containers: Sides<HashMap<(usize, usize), Container>>,
    /// The keys of headers, by where the header starts.
    keys: Sides<HashMap<usize, Box<[u8]>>>,
    entries: Vec<Entry>,
}

/// What starts the key of a section: never the first byte of a key-value's key.
pub(crate) const TABLE: &[u8] = b"\x00[";
/// What starts the key of an entry of an array of tables.
pub(crate) const ENTRY: &[u8] = b"\x00[[";
/// Between an entry's path and its identity.
pub(crate) const ID: u8 = 0x1e;

impl Layout {
    /// Reads one side; returns its document's value.
    pub(crate) fn read(&mut self, side: Side, text: &[u8], stmts: &[Stmt]) -> Val {
        let mut at = 0;
        let root = self.body(side, text, stmts, &mut at, 0, None);
        Val {
            side,
            start: 0,
            end: root,
            shape: Shape::Object,
        }
    }

    /// Reads a body from `stmts[*at..]` starting at `open`: key-values, then (at the top or
    /// in an entry of an array of tables at `within`) the headers under it. Registers its
    /// container; returns where it ends.
    fn body(
        &mut self,
        side: Side,
        text: &[u8],
        stmts: &[Stmt],
        at: &mut usize,
        open: usize,
        within: Option<&[Vec<u8>]>,
    ) -> usize {
        let mut items: Vec<Item> = Vec::new();
        let mut prev = open;
        while let Some(s) = stmts.get(*at) {
            let item = match s.kind {
                Kind::KeyValue => {
                    *at += 1;
                    Item {
                        lead: prev,
                        start: s.start,
                        value: s.head_end,
                        end: s.end,
                        shape: scan::shape(text.get(s.head_end)),
                    }
                }
                Kind::Table | Kind::ArrayTable => {
                    if let Some(p) = within {
                        let under = s.path.len() > p.len() && s.path.starts_with(p);
                        if !under {
                            break;
                        }
                    }
                    *at += 1;
                    let end = if s.kind == Kind::Table {
                        self.keys[side].insert(s.start, [TABLE, &join(&s.path)].concat().into());
                        self.section(side, text, stmts, at, s.head_end)
                    } else {
                        let end = self.body(side, text, stmts, at, s.head_end, Some(&s.path));
                        self.entries.push(Entry {
                            side,
                            start: s.start,
                            body: (s.head_end, end),
                            path: join(&s.path),
                            parent: open,
                        });
                        end
                    };
                    Item {
                        lead: prev,
                        start: s.start,
                        value: s.head_end,
                        end,
                        shape: Shape::Object,
                    }
                }
            };
            prev = item.end;
            items.push(item);
        }
        self.containers[side].insert(
            (open, prev),
            Container {
                open,
                items,
                close: prev,
                end: prev,
                flow: false,
            },
        );
        prev
    }

    /// A `[table]` section's body: the key-values after its header.
    fn section(
        &mut self,
        side: Side,
        text: &[u8],
        stmts: &[Stmt],
        at: &mut usize,
        open: usize,
    ) -> usize {
        let mut items = Vec::new();
        let mut prev = open;
        while let Some(s) = stmts.get(*at).filter(|s| s.kind == Kind::KeyValue) {
            *at += 1;
            items.push(Item {
                lead: prev,
                start: s.start,
                value: s.head_end,
                end: s.end,
                shape: scan::shape(text.get(s.head_end)),
            });
            prev = s.end;
        }
        self.containers[side].insert(
            (open, prev),
            Container {
                open,
                items,
                close: prev,
                end: prev,
                flow: false,
            },
        );
        prev
    }

    /// Keys the entries of arrays of tables once all sides are read: by identity where every
    /// entry of a path has one, else by their text.
    pub(crate) fn key_entries(&mut self, src: Sides<&[u8]>, identity_keys: &[&str]) {
        let mut by_path: HashMap<&[u8], Vec<usize>> = HashMap::default();
        for (n, e) in self.entries.iter().enumerate() {
            by_path.entry(&e.path).or_default().push(n);
        }
        let mut keys = Vec::with_capacity(self.entries.len());
        for (path, list) in &by_path {
            let ids = identity_keys.iter().find_map(|name| {
                let mut seen = foldhash::HashSet::default();
                let mut ids = Vec::with_capacity(list.len());
                for &n in list {
                    let e = &self.entries[n];
                    let text = src[e.side];
                    let body = self.containers[e.side].get(&e.body)?;
                    let id = body.items.iter().find(|i| {
                        text[i.start] != b'['
                            && matches!(i.shape, Shape::String | Shape::Scalar)
                            && scan::key_at(text, i.start).as_ref() == name.as_bytes()
                    })?;
                    let value = &text[id.value..scan::value_end(text, id.value)];
                    if !seen.insert((e.side, e.parent, value)) {
                        return None;
                    }
                    ids.push([name.as_bytes(), b"=", value].concat());
                }
                Some(ids)
            });
            // Without identity: the entry's text, and its place among equal ones.
            let mut count: HashMap<(Side, usize, Vec<u8>), usize> = HashMap::default();
            for (k, &n) in list.iter().enumerate() {
                let e = &self.entries[n];
                let id = match &ids {
                    Some(ids) => ids[k].clone(),
                    None => {
                        let body = src[e.side][e.body.0..e.body.1].to_vec();
                        let body: Vec<u8> = body.into_iter().filter(|&b| b != b'\r').collect();
                        let seen = count.entry((e.side, e.parent, body.clone())).or_insert(0);
                        *seen += 1;
                        [&body[..], format!("\x1d{seen}").as_bytes()].concat()
                    }
                };
                let key: Box<[u8]> = [ENTRY, path, &[ID][..], &id].concat().into();
                keys.push((e.side, e.start, key));
            }
        }
        for (side, start, key) in keys {
            self.keys[side].insert(start, key);
        }
        self.entries.clear();
    }

    /// The container at `v`, if the reading registered one there.
    pub(crate) fn container(&self, v: Val) -> Option<&Container> {
        self.containers[v.side].get(&(v.start, v.end))
    }

    /// A header's key (a section's or an entry's), by where it starts.
    pub(crate) fn header_key(&self, side: Side, start: usize) -> Option<&[u8]> {
        self.keys[side].get(&start).map(|k| &k[..])
    }
}

fn join(path: &[Vec<u8>]) -> Vec<u8> {
    let parts: Vec<Cow<[u8]>> = path.iter().map(|p| Cow::Borrowed(&p[..])).collect();
    scan::joined(&parts)
}

/// The statements of a TOML text, in order (of any text: the check reads them first; on a
/// text that is not TOML they are what they are, within its bounds).
pub(super) fn statements(text: &[u8]) -> Vec<Stmt> {
    let mut out = Vec::with_capacity(text.len() / 32);
    let mut pos = scan::skip_layout(text, 0);
    while pos < text.len() {
        let start = pos;
        let stmt = if text[pos] == b'[' {
            let array = text.get(pos + 1) == Some(&b'[');
            let (parts, key_end) = scan::key(text, pos + if array { 2 } else { 1 });
            let close = scan::skip_blanks(text, key_end) + if array { 2 } else { 1 };
            let head_end = scan::line_rest(text, close);
            Stmt {
                start,
                head_end,
                end: head_end,
                kind: if array { Kind::ArrayTable } else { Kind::Table },
                path: parts.into_iter().map(Cow::into_owned).collect(),
            }
        } else {
            let (_, key_end) = scan::key(text, pos);
            let eq = scan::skip_blanks(text, key_end);
            let value = scan::skip_blanks(text, eq + 1).min(text.len());
            let end = scan::line_rest(text, scan::value_end(text, value));
            Stmt {
                start,
                head_end: value,
                end,
                kind: Kind::KeyValue,
                path: Vec::new(),
            }
        };
        // (Checked input always moves on; never loop on a stray byte.)
        pos = scan::skip_layout(text, stmt.end.max(start + 1));
        out.push(stmt);
    }
    out
}

/// Whether a joined key is a header's.
pub(crate) fn is_header(key: &[u8]) -> bool {
    key.starts_with(TABLE)
}

/// A key as a person reads it.
pub(crate) fn describe(key: &[u8]) -> String {
    let dotted = |k: &[u8]| String::from_utf8_lossy(k).replace(SEP as char, ".");
    if let Some(rest) = key.strip_prefix(ENTRY) {
        let mut parts = rest.splitn(2, |&b| b == ID);
        let path = dotted(parts.next().unwrap_or_default());
        let id = parts.next().unwrap_or_default();
        let id = String::from_utf8_lossy(id.split(|&b| b == 0x1d).next().unwrap_or_default());
        return format!("[[{path}]] {}", id.trim());
    }
    if let Some(rest) = key.strip_prefix(TABLE) {
        return format!("[{}]", dotted(rest));
    }
    dotted(key)
}
