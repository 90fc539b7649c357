//! The JSON scanner's spans for callers outside the crate that edit one member of a settings
//! file and keep every other byte (the bridge's projections, `connect`'s entries): the same
//! reading of JSON, JSONC and JSON5 as the driver's, so there is one scanner.

use std::ops::Range;

use super::{relaxed, scan};

/// A member of an object: where its key starts, the key (decoded), its value's span.
pub struct Member {
    pub start: usize,
    pub key: String,
    pub value: Range<usize>,
}

/// The span of a whole document's value (white space and comments around it left out).
/// `text` must be one JSON, JSONC or JSON5 document ([`read`] says).
pub fn document(text: &[u8]) -> Range<usize> {
    let start = scan::skip_ws(text, 0);
    if start >= text.len() {
        return start..start;
    }
    scan::document_in(text, 0..text.len())
}

fn is(text: &[u8], range: &Range<usize>, open: u8) -> bool {
    range.end > range.start && text.get(range.start) == Some(&open)
}

/// The members of the object at `range` (none when it is not an object).
pub fn members(text: &[u8], range: Range<usize>) -> Vec<Member> {
    if !is(text, &range, b'{') {
        return Vec::new();
    }
    scan::container(text, range)
        .items
        .iter()
        .map(|item| Member {
            start: item.start,
            key: String::from_utf8_lossy(&scan::key(text, item)).into_owned(),
            value: item.value_range(),
        })
        .collect()
}

/// The elements of the array at `range` (none when it is not an array).
pub fn elements(text: &[u8], range: Range<usize>) -> Vec<Range<usize>> {
    if !is(text, &range, b'[') {
        return Vec::new();
    }
    scan::container(text, range)
        .items
        .iter()
        .map(|item| item.value_range())
        .collect()
}

/// The value of a JSON, JSONC or JSON5 document; `None` when it is none of them.
pub fn read(text: &[u8]) -> Option<serde_json::Value> {
    serde_json::from_slice(text)
        .ok()
        .or_else(|| relaxed::parse(text))
}
