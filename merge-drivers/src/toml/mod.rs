//! TOML, merged by the engine in `tree` with comments and layout kept.
//!
//! Each side is checked ([`check`]: toml_parser's grammar and decoding, then TOML's rules:
//! no key or table defined twice) and then read as spans over its text ([`scan`], [`layout`]): the document
//! is a table of its own keys, its `[table]` sections and its `[[array]]` entries, and each
//! section a table of its keys, all merged key by key; inline tables and arrays are opened
//! like JSON's. A statement is its key and value to the end of its line, so a comment on
//! that line travels with it; comment and blank lines before it are its lead. The result is
//! checked again: a merge that is not TOML (one side wrote `a.b = 1`, the other `[a]`) goes
//! to the line merge, as does any side that is not TOML.

mod check;
mod layout;
mod repair;
mod scan;

use std::borrow::Cow;

use serde_json::Value;

use crate::eol::{bom_chosen, strip_bom, BOM};
use crate::sides::{Side, Sides};
use crate::tree::{Container, Item, Merger, Syntax, Val};
use crate::{Merged, Method, Options};

use layout::Layout;

/// TOML's layout of the three sides, read up front.
struct Toml<'a> {
    layout: Layout,
    src: Sides<&'a [u8]>,
}

impl Syntax for Toml<'_> {
    fn open(&self, text: &[u8], v: Val) -> Container {
        match self.layout.container(v) {
            Some(c) => c.clone(),
            None if matches!(text.get(v.start), Some(b'[' | b'{')) => scan::inline(text, v.start),
            None => Container {
                open: v.start,
                items: Vec::new(),
                close: v.end,
                end: v.end,
                flow: false,
            },
        }
    }

    fn key<'t>(&'t self, side: Side, text: &'t [u8], item: &Item) -> Cow<'t, [u8]> {
        match self.layout.header_key(side, item.start) {
            Some(key) if text.get(item.start) == Some(&b'[') => Cow::Borrowed(key),
            _ => scan::key_at(text, item.start),
        }
    }

    fn record(&self, text: &[u8]) -> Value {
        record(text)
    }

    fn opaque(&self, v: Val) -> bool {
        let text = self.src[v.side];
        self.layout.container(v).is_none()
            && matches!(text.get(v.start), Some(b'[' | b'{'))
            && scan::has_comment(text, v.start..v.end)
    }

    fn rank(&self, key: &[u8]) -> u8 {
        u8::from(layout::is_header(key))
    }

    fn describe_key(&self, key: &[u8]) -> String {
        layout::describe(key)
    }

    const OWN_LEADS: bool = true;
}

/// Merges three TOML documents, or `None` when a side (or the merge) is not TOML.
pub(crate) fn merge(input: Sides<&[u8]>, options: &Options) -> Option<Merged> {
    // Identical sides, or a side as the base: the other side, as it is.
    let (b, o, t) = (input.base, input.ours, input.theirs);
    if o == t || b == t || b == o {
        let output = if b == o { t } else { o }.to_vec();
        return Some(Merged {
            output,
            conflicted: false,
            records: Vec::new(),
            method: Method::Structural,
        });
    }
    let (boms, src) = input.map(strip_bom).unzip();
    let has_base = !src.base.iter().all(u8::is_ascii_whitespace);
    // Each side checked, then read (its statements dropped before the next side's).
    let mut checker = check::Checker::default();
    let mut layout = Layout::default();
    let mut roots = Sides::default();
    for side in Side::ALL {
        if side != Side::Base || has_base {
            let stmts = checker.read(src[side])?;
            roots[side] = Some(layout.read(side, src[side], &stmts));
        }
    }
    let identity: Vec<&str> = options.identity_keys().collect();
    layout.key_entries(src, &identity);
    let syntax = Toml { layout, src };
    let mut m = Merger::new(&syntax, src, options);
    if bom_chosen(boms, has_base) {
        m.out.extend_from_slice(BOM);
    }
    m.value(roots, None).ok()?;
    let trail = m.pick_lead(roots.map(|r| r.map(|v| (v.side, v.end..src[v.side].len()))));
    m.out.extend_from_slice(&trail);
    let (bom, out) = strip_bom(&m.out);
    if out != src.ours && out != src.theirs && !checker.valid(out) {
        // One table written as dotted keys on one side and under a header on the other:
        // the keys go under the header. Anything else that is no TOML: the line merge.
        let fixed = repair::dotted_under_headers(out).filter(|f| checker.valid(f))?;
        m.out = [if bom { BOM } else { &[][..] }, &fixed].concat();
    }
    Some(Merged {
        output: m.out,
        conflicted: m.conflicted,
        records: m.records,
        method: Method::Structural,
    })
}

/// What keeps `text` from being TOML (the parser's message, on one line), if anything.
pub(crate) fn syntax_problem(text: &[u8]) -> Option<String> {
    let Ok(s) = std::str::from_utf8(text) else {
        return Some("not UTF-8 text".into());
    };
    let e = toml_edit::Document::parse(s).err()?;
    let at = e.span().map(|r| {
        let line = s[..r.start.min(s.len())].matches('\n').count() + 1;
        format!("line {line}: ")
    });
    let message = e.message().trim().replace('\n', " ");
    Some(format!(
        "not valid TOML ({}{message})",
        at.unwrap_or_default()
    ))
}

/// A TOML value's text (a trailing comment aside), or a section's body, as JSON.
fn record(text: &[u8]) -> Value {
    let Ok(s) = std::str::from_utf8(text) else {
        return Value::String(String::from_utf8_lossy(text).into_owned());
    };
    let first = scan::skip_layout(text, 0);
    let value = &s[first..scan::value_end(text, first).max(first)];
    if let Ok(v) = value.parse::<toml_edit::Value>() {
        return to_json_value(&v);
    }
    match toml_edit::Document::parse(s) {
        Ok(doc) => to_json_item(doc.as_item()),
        Err(_) => Value::String(s.trim().to_string()),
    }
}

fn to_json_value(v: &toml_edit::Value) -> Value {
    use toml_edit::Value as V;
    match v {
        V::String(s) => Value::String(s.value().clone()),
        V::Integer(i) => Value::from(*i.value()),
        V::Float(f) => serde_json::Number::from_f64(*f.value())
            .map_or_else(|| Value::String(f.value().to_string()), Value::Number),
        V::Boolean(b) => Value::Bool(*b.value()),
        V::Datetime(d) => Value::String(d.value().to_string()),
        V::Array(a) => Value::Array(a.iter().map(to_json_value).collect()),
        V::InlineTable(t) => Value::Object(
            t.iter()
                .map(|(k, v)| (k.to_string(), to_json_value(v)))
                .collect(),
        ),
    }
}

fn to_json_item(item: &toml_edit::Item) -> Value {
    use toml_edit::Item as I;
    match item {
        I::None => Value::Null,
        I::Value(v) => to_json_value(v),
        I::Table(t) => Value::Object(
            t.iter()
                .map(|(k, v)| (k.to_string(), to_json_item(v)))
                .collect(),
        ),
        I::ArrayOfTables(a) => Value::Array(
            a.iter()
                .map(|t| {
                    Value::Object(
                        t.iter()
                            .map(|(k, v)| (k.to_string(), to_json_item(v)))
                            .collect(),
                    )
                })
                .collect(),
        ),
    }
}
