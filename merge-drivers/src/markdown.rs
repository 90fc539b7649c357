//! Markdown: front matter merges as YAML; the body is a tree of sections by heading, matched
//! by heading path; inside a section the blocks (paragraphs, list items, code fences, tables,
//! quotes, HTML) merge as a sequence, and a block both sides edited merges line by line, or
//! both versions are kept.
//!
//! pulldown-cmark finds the blocks (so a `#` line in a code fence is no heading); the merge
//! itself is the shared engine in `tree`.

use std::borrow::Cow;
use std::ops::Range;

use foldhash::HashMap;
use pulldown_cmark::{Event, Options as Extensions, Parser, Tag};
use serde_json::Value;

use crate::eol::{bom_chosen, strip_bom, BOM};
use crate::record::{Record, Rule};
use crate::sides::choose3;
use crate::sides::{Side, Sides};
use crate::tree::{Container, Item, Merger, Parsed, Shape, Syntax, Val};
use crate::{Kind, Merged, Method, Options};

/// The parsed layout of the three sides.
#[derive(Default)]
struct Markdown {
    parsed: Parsed,
}

impl Syntax for Markdown {
    fn open(&self, _text: &[u8], v: Val) -> Container {
        self.parsed.open(v)
    }

    fn key<'t>(&'t self, side: Side, text: &'t [u8], item: &Item) -> Cow<'t, [u8]> {
        self.parsed.key(side, text, item)
    }

    fn record(&self, text: &[u8]) -> Value {
        Value::String(String::from_utf8_lossy(text).into_owned())
    }

    const KEEP_BOTH: bool = true;

    /// A section's own text comes before its subsections.
    const FIRST_KEY: Option<&'static [u8]> = Some(b"");

    const HEAD_IS_LINE: bool = true;

    /// Two versions of a list item sit on consecutive lines; anything else needs a blank line
    /// (or the second would join the first).
    fn gap(&self, first: &[u8], second: &[u8]) -> &'static [u8] {
        if list_item(first) && list_item(second) {
            b""
        } else {
            b"\n"
        }
    }

    /// `## Notes`, `## Notes (2)` for the second of that name, `(text)` for a section's own
    /// blocks.
    fn describe_key(&self, key: &[u8]) -> String {
        let Some((&level, rest)) = key.split_first() else {
            return "(text)".into();
        };
        let mut parts = rest.split(|&b| b == 0);
        let text = String::from_utf8_lossy(parts.next().unwrap_or_default());
        let n = parts
            .next()
            .map(String::from_utf8_lossy)
            .unwrap_or_default();
        let hashes = "#".repeat(usize::from(level));
        if n.is_empty() || n == "1" {
            format!("{hashes} {text}")
        } else {
            format!("{hashes} {text} ({n})")
        }
    }
}

fn list_item(block: &[u8]) -> bool {
    let t = block.trim_ascii_start();
    let digits = t.iter().take_while(|b| b.is_ascii_digit()).count();
    match t.get(digits) {
        Some(b'-' | b'*' | b'+') if digits == 0 => matches!(t.get(1), Some(b' ' | b'\t')),
        Some(b'.' | b')') if digits > 0 => matches!(t.get(digits + 1), Some(b' ' | b'\t')),
        _ => false,
    }
}

/// A section: its heading (none for the text before the first heading) and what follows.
struct Section {
    level: u8,
    /// The heading's lines, and its identity among its siblings.
    heading: Option<(Range<usize>, Vec<u8>)>,
    blocks: Vec<Range<usize>>,
    children: Vec<Section>,
}

pub(crate) fn merge(input: Sides<&[u8]>, options: &Options) -> Option<Merged> {
    let (boms, stripped) = input.map(strip_bom).unzip();
    let (b, o, t) = (stripped.base, stripped.ours, stripped.theirs);
    let texts = Sides::new(
        std::str::from_utf8(b).ok()?,
        std::str::from_utf8(o).ok()?,
        std::str::from_utf8(t).ok()?,
    );
    // Old Mac line endings (a lone CR): the parser breaks lines there, our spans do not.
    if stripped
        .iter()
        .any(|x| x.windows(2).any(|w| w[0] == b'\r' && w[1] != b'\n') || x.ends_with(b"\r"))
    {
        return None;
    }
    let has_base = !b.is_empty();
    let fronts = texts.map(front_matter);

    let mut out = Vec::with_capacity(o.len().max(t.len()) + 64);
    if bom_chosen(boms, has_base) {
        out.extend_from_slice(BOM);
    }
    let mut records: Vec<Record> = Vec::new();
    let mut conflicted = false;
    // Front matter merges as YAML, inside its fences. Whether there is any is chosen three-way
    // (one side removing it removes it), unless the other side changed it (the change stays).
    let front_text = |side: Side| {
        fronts[side]
            .as_ref()
            .map(|f| &texts[side].as_bytes()[f.inner.clone()])
    };
    let present = |side: Side| fronts[side].is_some();
    let changed = |side: Side| present(side) && front_text(side) != front_text(Side::Base);
    let keep_front = choose3(
        has_base.then(|| present(Side::Base)),
        Some(present(Side::Ours)),
        Some(present(Side::Theirs)),
    ) == Some(true)
        || changed(Side::Ours)
        || changed(Side::Theirs);
    if keep_front {
        let part = |side: Side| {
            fronts[side]
                .as_ref()
                .map_or(&b""[..], |f| &texts[side].as_bytes()[f.inner.clone()])
        };
        let fm = crate::merge(
            Kind::Yaml,
            part(Side::Base),
            part(Side::Ours),
            part(Side::Theirs),
            options,
        );
        let fence = |side: Side, pick: fn(&FrontMatter) -> Range<usize>| {
            fronts[side]
                .as_ref()
                .map(|f| &texts[side].as_bytes()[pick(f)])
        };
        let open = choose3(
            fence(Side::Base, |f| f.open.clone()),
            fence(Side::Ours, |f| f.open.clone()),
            fence(Side::Theirs, |f| f.open.clone()),
        );
        let close = choose3(
            fence(Side::Base, |f| f.close.clone()),
            fence(Side::Ours, |f| f.close.clone()),
            fence(Side::Theirs, |f| f.close.clone()),
        );
        out.extend_from_slice(open.unwrap_or(b"---\n"));
        out.extend_from_slice(&fm.output);
        if !fm.output.is_empty() && !fm.output.ends_with(b"\n") {
            out.push(b'\n');
        }
        out.extend_from_slice(close.unwrap_or(b"---\n"));
        conflicted |= fm.conflicted;
        records.extend(fm.records);
    }
    let bodies = Sides::from_fn(|side| {
        let from = fronts[side].as_ref().map_or(0, |f| f.close.end);
        &texts[side][from..]
    });

    let mut syntax = Markdown::default();
    let roots = bodies.map(sections);
    // Per side, the sections it renamed (none for the base).
    let renamed = Sides::from_fn(|side| {
        let mut found = HashMap::default();
        if side != Side::Base {
            let other = side.other();
            let texts = Sides::new(bodies.base, bodies[side], bodies[other]).map(str::as_bytes);
            renames(
                Sides::new(&roots.base, &roots[side], &roots[other]),
                texts,
                &mut found,
            );
        }
        found
    });
    let docs = Sides::from_fn(|side| {
        let aliases = &renamed[side];
        let shape = index(
            &mut syntax,
            side,
            &roots[side],
            0,
            bodies[side].len(),
            aliases,
        );
        syntax.parsed.seal(side);
        shape
    });
    let src = bodies.map(str::as_bytes);
    let mut m = Merger::new(&syntax, src, options);
    let val = |side: Side| Val {
        side,
        start: 0,
        end: src[side].len(),
        shape: docs[side],
    };
    let base_body = (has_base && !(src[Side::Base].is_empty() && fronts[Side::Base].is_some()))
        .then(|| val(Side::Base));
    let vals = Sides::new(base_body, Some(val(Side::Ours)), Some(val(Side::Theirs)));
    m.value(vals, None).ok()?;
    // The final newline, or its absence, is chosen three-way.
    let final_nl = |side: Side| (!src[side].is_empty()).then(|| src[side].ends_with(b"\n"));
    let want = choose3(
        has_base.then(|| final_nl(Side::Base)).flatten(),
        final_nl(Side::Ours),
        final_nl(Side::Theirs),
    );
    match want {
        Some(true) if !m.out.is_empty() && !m.out.ends_with(b"\n") => {
            let eol = m.out_eol().bytes();
            m.out.extend_from_slice(eol);
        }
        Some(false) if m.out.ends_with(b"\n") => {
            m.out.pop();
            if m.out.ends_with(b"\r") {
                m.out.pop();
            }
        }
        _ => {}
    }
    out.extend_from_slice(&m.out);
    records.extend(m.records);
    let conflicted = conflicted || m.conflicted;
    // A section kept because one side changed what the other deleted (a parent heading
    // removed, a heading renamed) can stand twice where the line merge has it once.
    let kept_deleted = records
        .iter()
        .any(|r| matches!(r.rule, Rule::ModifyBeatsDelete));
    if !conflicted && kept_deleted {
        if let Some(lines) = line_merge_instead(input, &out, options) {
            return Some(lines);
        }
    }
    Some(Merged {
        output: out,
        conflicted,
        records,
        method: Method::Structural,
    })
}

/// The clean line merge, where the structural result doubles a heading or block that it
/// holds once and keeps every block either side added exactly as often as that side has it
/// (DESIGN §5: where a clean line merge is valid and means the same, its text is the
/// result). Both directions must agree, so the choice does not depend on the side.
fn line_merge_instead(input: Sides<&[u8]>, structural: &[u8], options: &Options) -> Option<Merged> {
    let Sides { base, ours, theirs } = input;
    let counts = |text: &[u8]| block_counts(strip_bom(text).1);
    let (b, o, t) = (counts(base), counts(ours), counts(theirs));
    let most = |block: &[u8]| {
        let n = |c: &HashMap<Vec<u8>, usize>| c.get(block).copied().unwrap_or(0);
        n(&o).max(n(&t))
    };
    let doubled = counts(structural).iter().any(|(block, &n)| n > most(block));
    if !doubled {
        return None;
    }
    let lines = crate::text::merge(base, ours, theirs, options.marker_size);
    let swapped = crate::text::merge(base, theirs, ours, options.marker_size);
    if lines.conflicted || swapped.conflicted || lines.output != swapped.output {
        return None;
    }
    let l = counts(&lines.output);
    let added = [&o, &t].into_iter().flat_map(|side| {
        side.iter()
            .filter(|(block, &n)| n > b.get(*block).copied().unwrap_or(0))
            .map(|(block, _)| block)
    });
    let keeps_all = added
        .clone()
        .all(|block| l.get(block).copied().unwrap_or(0) == most(block));
    let doubles = l.iter().any(|(block, &n)| n > most(block));
    (keeps_all && !doubles).then(|| Merged {
        output: lines.output,
        conflicted: false,
        records: Vec::new(),
        method: Method::Lines,
    })
}

/// How often each heading and block stands in a Markdown text (line endings and trailing
/// white space aside).
fn block_counts(text: &[u8]) -> HashMap<Vec<u8>, usize> {
    let mut counts = HashMap::default();
    let Ok(text) = std::str::from_utf8(text) else {
        return counts;
    };
    let bytes = text.as_bytes();
    let mut add = |range: &Range<usize>| {
        let key: Vec<u8> = bytes[range.clone()]
            .split(|&c| c == b'\n')
            .flat_map(|line| line.trim_ascii_end().iter().copied().chain([b'\n']))
            .collect();
        *counts.entry(key).or_insert(0) += 1;
    };
    let mut stack = vec![sections(text)];
    while let Some(section) = stack.pop() {
        if let Some((heading, _)) = &section.heading {
            add(heading);
        }
        section.blocks.iter().for_each(&mut add);
        stack.extend(section.children);
    }
    counts
}

/// Whether a Markdown text holds conflict markers outside its fenced code blocks (a fence
/// showing an example of markers is content, not a conflict).
pub(crate) fn has_conflict_markers(text: &[u8], size: usize) -> bool {
    let mut fence: Option<(u8, usize)> = None;
    let lines = text.split(|&b| b == b'\n').filter(move |line| {
        let indent = line.iter().take_while(|&&b| b == b' ').count();
        let rest = &line[indent..];
        let run = |c: u8| rest.iter().take_while(|&&b| b == c).count();
        let opener = [b'`', b'~']
            .into_iter()
            .map(|c| (c, run(c)))
            .find(|&(_, n)| n >= 3 && indent < 4);
        match (fence, opener) {
            (None, Some(f)) => {
                fence = Some(f);
                false
            }
            (Some((c, n)), Some((c2, n2)))
                if c == c2 && n2 >= n && rest[n2..].trim_ascii().is_empty() =>
            {
                fence = None;
                false
            }
            (Some(_), _) => false,
            (None, None) => true,
        }
    });
    crate::text::markers_in(lines, size)
}

struct FrontMatter {
    /// The opening `---` line, the YAML inside, the closing `---` or `...` line.
    open: Range<usize>,
    inner: Range<usize>,
    close: Range<usize>,
}

fn front_matter(text: &str) -> Option<FrontMatter> {
    let first = text.find('\n')? + 1;
    if text[..first].trim_end() != "---" {
        return None;
    }
    let mut pos = first;
    while pos < text.len() {
        let end = text[pos..].find('\n').map_or(text.len(), |i| pos + i + 1);
        let line = text[pos..end].trim_end();
        if line == "---" || line == "..." {
            return Some(FrontMatter {
                open: 0..first,
                inner: first..pos,
                close: pos..end,
            });
        }
        pos = end;
    }
    None
}

/// The sections of a Markdown text, with every byte that is not white space in some block.
fn sections(text: &str) -> Section {
    let bytes = text.as_bytes();
    let mut root = Section {
        level: 0,
        heading: None,
        blocks: Vec::new(),
        children: Vec::new(),
    };
    // Blocks and headings in order, as whole lines.
    let mut parts: Vec<(Range<usize>, Option<u8>)> = Vec::new();
    let mut depth = 0usize;
    let mut in_list = false;
    let parser = Parser::new_ext(
        text,
        Extensions::ENABLE_TABLES | Extensions::ENABLE_STRIKETHROUGH | Extensions::ENABLE_TASKLISTS,
    );
    for (event, range) in parser.into_offset_iter() {
        match event {
            Event::Start(tag) => {
                if depth == 0 {
                    match &tag {
                        Tag::List(_) => in_list = true,
                        Tag::Heading { level, .. } => parts.push((range, Some(*level as u8))),
                        _ => parts.push((range, None)),
                    }
                } else if depth == 1 && in_list && matches!(tag, Tag::Item) {
                    parts.push((range, None));
                }
                depth += 1;
            }
            Event::End(_) => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    in_list = false;
                }
            }
            _ if depth == 0 => parts.push((range, None)),
            _ => {}
        }
    }
    // Whole lines, trailing blank lines left out; text no event covered becomes a block.
    let mut lines: Vec<(Range<usize>, Option<u8>)> = Vec::new();
    let mut covered = 0;
    for (range, level) in parts {
        let r = whole_lines(bytes, range);
        if r.start < covered {
            continue;
        }
        let gap = whole_lines(bytes, covered..r.start);
        if !gap.is_empty() {
            lines.push((gap, None));
        }
        covered = r.end;
        if !r.is_empty() {
            lines.push((r, level));
        }
    }
    let gap = whole_lines(bytes, covered..bytes.len());
    if !gap.is_empty() {
        lines.push((gap, None));
    }

    // Nest sections by heading level.
    let mut stack: Vec<Section> = vec![root];
    for (range, level) in lines {
        match level {
            Some(level) => {
                while stack.len() > 1 && stack.last().is_some_and(|s| s.level >= level) {
                    let done = stack.pop().expect("nonempty stack");
                    stack.last_mut().expect("root").children.push(done);
                }
                stack.push(Section {
                    level,
                    heading: Some((range.clone(), heading_text(&bytes[range], level))),
                    blocks: Vec::new(),
                    children: Vec::new(),
                });
            }
            // A block belongs to the innermost open section.
            None => stack.last_mut().expect("root").blocks.push(range),
        }
    }
    while stack.len() > 1 {
        let done = stack.pop().expect("nonempty stack");
        stack.last_mut().expect("root").children.push(done);
    }
    root = stack.pop().expect("root");
    root
}

/// `range` grown to whole lines, with leading and trailing blank lines left out.
fn whole_lines(text: &[u8], range: Range<usize>) -> Range<usize> {
    let mut start = range.start.min(text.len());
    let mut end = range.end.min(text.len()).max(start);
    // Skip blank lines at both ends.
    while start < end && text[start].is_ascii_whitespace() {
        start += 1;
    }
    while end > start && text[end - 1].is_ascii_whitespace() {
        end -= 1;
    }
    if start == end {
        return start..start;
    }
    while start > 0 && text[start - 1] != b'\n' {
        start -= 1;
    }
    match text[end..].iter().position(|&b| b == b'\n') {
        Some(i) => end += i + 1,
        None => end = text.len(),
    }
    start..end
}

/// A heading's identity: its level and its text without markers.
fn heading_text(line: &[u8], level: u8) -> Vec<u8> {
    let text = String::from_utf8_lossy(line);
    let mut lines: Vec<&str> = text.lines().collect();
    let setext = lines.len() > 1
        && lines.last().is_some_and(|l| {
            !l.trim().is_empty() && l.trim().chars().all(|c| c == '=' || c == '-')
        });
    if setext {
        lines.pop();
    }
    let joined = lines.join(" ");
    let mut t = joined.trim();
    if !setext {
        t = t.trim_start_matches('#').trim();
        let stripped = t.trim_end_matches('#');
        if stripped.is_empty() || stripped.ends_with(' ') {
            t = stripped.trim_end();
        }
    }
    let mut key = vec![level];
    key.extend_from_slice(t.as_bytes());
    key
}

/// Sections one side renamed (`sides`: base, that side as ours, the other as theirs): a
/// section of that side's that is new, at the level and under the parent of one of base's
/// that it no longer has, and holds exactly what that one held, is that section under a new
/// heading. Found, it is matched by base's key (`found`: its heading's offset → the key), so
/// the other side's changes under the old name merge into it instead of keeping the old
/// section too. Not where the other side has a section of the new name too (the two then
/// match by name), nor where it no longer has the old one.
fn renames(sides: Sides<&Section>, texts: Sides<&[u8]>, found: &mut HashMap<usize, Vec<u8>>) {
    let keys = sides.map(child_keys);
    let has = |side: Side, key: &[u8]| keys[side].iter().any(|(x, _)| x.as_slice() == key);
    let body = |side: Side, c: &Section| {
        let heading = c.heading.as_ref().map_or(0, |(h, _)| h.end);
        &texts[side][heading..section_end(c, heading).max(heading)]
    };
    let mut taken = Vec::new();
    for (key, child) in &keys.ours {
        if let Some((_, base_child)) = keys.base.iter().find(|(k, _)| k == key) {
            // The same section on both: renames further down.
            if let Some((_, other_child)) = keys.theirs.iter().find(|(k, _)| k == key) {
                renames(Sides::new(base_child, child, other_child), texts, found);
            }
            continue;
        }
        if has(Side::Theirs, key) || body(Side::Ours, child).trim_ascii().is_empty() {
            continue;
        }
        // (Still there on the other side: renamed there too, or deleted, it is no rename to
        // merge into.)
        let mut was = keys.base.iter().filter(|(k, b)| {
            !has(Side::Ours, k)
                && has(Side::Theirs, k)
                && b.level == child.level
                && body(Side::Base, b) == body(Side::Ours, child)
        });
        if let (Some((old, _)), None) = (was.next(), was.next()) {
            if !taken.contains(old) {
                taken.push(old.clone());
                if let Some((h, _)) = &child.heading {
                    found.insert(h.start, old.clone());
                }
            }
        }
    }
}

/// A section's subsections with their keys: the heading's text, then which occurrence of it
/// among its siblings (the first `Notes` and the second are two sections).
fn child_keys(s: &Section) -> Vec<(Vec<u8>, &Section)> {
    let mut seen: HashMap<Vec<u8>, usize> = HashMap::default();
    s.children
        .iter()
        .filter_map(|child| {
            let (_, name) = child.heading.as_ref()?;
            let n = seen.entry(name.clone()).or_insert(0);
            *n += 1;
            let mut key = name.clone();
            key.extend_from_slice(format!("\0{n}").as_bytes());
            Some((key, child))
        })
        .collect()
}

/// Records a section's containers and keys for one side; returns the shape of its content.
/// `content` is the span after the heading up to the section's end. `aliases`: the keys of
/// sections this side renamed ([`renames`]), by their heading's offset.
fn index(
    syntax: &mut Markdown,
    side: Side,
    s: &Section,
    start: usize,
    end: usize,
    aliases: &HashMap<usize, Vec<u8>>,
) -> Shape {
    let mut items = Vec::new();
    let mut prev = start;
    // Every section has its own text, maybe empty: one side clearing it is a sequence of
    // deletions, not the deletion of a member the other side might have changed.
    {
        let body = match (s.blocks.first(), s.blocks.last()) {
            (Some(first), Some(last)) => first.start..last.end,
            _ => start..start,
        };
        let mut blocks = Vec::new();
        let mut block_prev = body.start;
        for b in &s.blocks {
            blocks.push(Item {
                lead: block_prev,
                start: b.start,
                value: b.start,
                end: b.end,
                shape: Shape::Text,
            });
            block_prev = b.end;
        }
        syntax.parsed.add_container(
            side,
            body.clone(),
            false,
            Container {
                open: body.start,
                items: blocks,
                close: body.end,
                end: body.end,
                flow: false,
            },
        );
        let item = Item {
            lead: prev,
            start: body.start,
            value: body.start,
            end: body.end,
            shape: Shape::Array,
        };
        syntax.parsed.add_key(side, &item, Vec::new());
        items.push(item);
        prev = body.end;
    }
    let keyed = child_keys(s);
    for (i, (key, child)) in keyed.iter().enumerate() {
        let Some((heading, _)) = &child.heading else {
            continue;
        };
        let child_end = keyed
            .get(i + 1)
            .and_then(|(_, c)| c.heading.as_ref())
            .map_or(end, |(h, _)| h.start);
        let child_end = section_end(child, heading.end).min(child_end);
        let key = aliases.get(&heading.start).unwrap_or(key).clone();
        let shape = index(syntax, side, child, heading.end, child_end, aliases);
        let item = Item {
            lead: prev,
            start: heading.start,
            value: heading.end,
            end: child_end,
            shape,
        };
        syntax.parsed.add_key(side, &item, key);
        items.push(item);
        prev = child_end;
    }
    let close = prev.max(start);
    syntax.parsed.add_container(
        side,
        start..end,
        true,
        Container {
            open: start,
            items,
            close,
            end,
            flow: false,
        },
    );
    Shape::Object
}

/// Where a section's own text ends: its last block or its last subsection.
fn section_end(s: &Section, heading_end: usize) -> usize {
    let blocks = s.blocks.last().map_or(heading_end, |b| b.end);
    match s.children.last() {
        Some(c) => {
            let h = c.heading.as_ref().map_or(heading_end, |(h, _)| h.end);
            section_end(c, h).max(blocks)
        }
        None => blocks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The merge of three texts.
    fn merge(base: &[u8], ours: &[u8], theirs: &[u8], options: &Options) -> Option<Merged> {
        super::merge(Sides::new(base, ours, theirs), options)
    }

    fn md(base: &str, ours: &str, theirs: &str) -> (String, bool) {
        let m = merge(
            base.as_bytes(),
            ours.as_bytes(),
            theirs.as_bytes(),
            &Options::default(),
        )
        .unwrap();
        let swapped = merge(
            base.as_bytes(),
            theirs.as_bytes(),
            ours.as_bytes(),
            &Options::default(),
        )
        .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&m.output),
            String::from_utf8_lossy(&swapped.output),
            "not symmetric"
        );
        (String::from_utf8(m.output).unwrap(), m.conflicted)
    }

    #[test]
    fn bullets_appended_under_one_heading_on_both_sides_are_all_kept() {
        let base = "# Notes\n\n## Prefs\n- tea\n\n## Work\n- rust\n";
        let ours = "# Notes\n\n## Prefs\n- tea\n- dark mode\n\n## Work\n- rust\n";
        let theirs = "# Notes\n\n## Prefs\n- tea\n- vim\n\n## Work\n- rust\n- go\n";
        let (out, conflicted) = md(base, ours, theirs);
        assert!(!conflicted);
        assert_eq!(
            out,
            "# Notes\n\n## Prefs\n- tea\n- dark mode\n- vim\n\n## Work\n- rust\n- go\n"
        );
    }

    #[test]
    fn a_hash_line_in_a_code_fence_is_not_a_heading() {
        let base = "## Setup\n```sh\n# install\nmake\n```\n";
        let ours = "## Setup\n```sh\n# install\nmake\n```\n- note a\n";
        let theirs = "## Setup\n```sh\n# install\nmake install\n```\n";
        let (out, _) = md(base, ours, theirs);
        assert_eq!(
            out,
            "## Setup\n```sh\n# install\nmake install\n```\n- note a\n"
        );
    }

    #[test]
    fn an_empty_base_merges_the_same_whichever_side_is_ours() {
        let (out, _) = md("", "- a\n- b\n", "- b\n- a\n");
        assert_eq!(out.matches("- a").count(), 1, "{out}");
        assert_eq!(out.matches("- b").count(), 1, "{out}");
        md("", "- a\n\n- b\n", "- a\n- b\n- c\n");
    }

    #[test]
    fn a_sections_own_text_stays_before_a_new_subsection() {
        let (out, _) = md("intro\n", "# N\n", "intro 2\n");
        assert!(out.starts_with("intro 2\n"), "{out}");
    }

    #[test]
    fn a_list_item_and_a_paragraph_kept_side_by_side_get_a_blank_line() {
        let (out, _) = md("- a\n", "- b\n", "Para\n");
        assert!(out.contains("\n\n"), "{out:?}");
    }

    #[test]
    fn a_heading_ending_the_file_gets_its_line_break_back() {
        // (No final newline: the side that removed it decides, three-way.)
        let (out, _) = md("# A\n", "# A\n- b\n", "# A");
        assert_eq!(out, "# A\n- b");
    }

    #[test]
    fn journal_locations_read_as_headings() {
        let m = merge(
            b"# Notes\n## Todo\nold\n",
            b"# Notes\n## Todo\nmine\n",
            b"# Notes\n## Todo\ntheirs\n",
            &Options::default(),
        )
        .unwrap();
        assert_eq!(m.records[0].location, "/# Notes/## Todo/(text)/0");
    }

    #[test]
    fn a_renamed_section_takes_what_the_other_side_added_under_the_old_name() {
        let base = "# Notes\n\n## Todo\n- write tests\n\n### Later\n- docs\n\n## Done\n- setup\n";
        let ours = "# Notes\n\n## Tasks\n- write tests\n\n### Later\n- docs\n\n## Done\n- setup\n";
        let theirs = "# Notes\n\n## Todo\n- fix bug\n- write tests\n\n### Later\n- docs\n- release\n\n## Done\n- setup\n";
        let want = "# Notes\n\n## Tasks\n- fix bug\n- write tests\n\n### Later\n- docs\n- release\n\n## Done\n- setup\n";
        assert_eq!(md(base, ours, theirs), (want.to_string(), false));
        assert_eq!(md(base, theirs, ours), (want.to_string(), false));
    }

    #[test]
    fn sections_renamed_apart_on_both_sides_keep_both_names() {
        let base = "## Todo\n- a\n";
        let ours = "## Tasks\n- a\n";
        let theirs = "## Jobs\n- a\n";
        for (o, t) in [(ours, theirs), (theirs, ours)] {
            let (out, _) = md(base, o, t);
            assert!(out.contains("## Tasks") && out.contains("## Jobs"), "{out}");
        }
    }

    #[test]
    fn a_new_section_like_a_deleted_one_is_no_rename_when_the_other_side_deleted_it_too() {
        // Both sides dropped Todo; ours also has a new Tasks with Todo's bullet: kept as new.
        let base = "## Todo\n- a\n\n## Done\n- b\n";
        let ours = "## Done\n- b\n\n## Tasks\n- a\n";
        let theirs = "## Done\n- b\n- c\n";
        let want = "## Done\n- b\n- c\n\n## Tasks\n- a\n";
        assert_eq!(md(base, ours, theirs), (want.to_string(), false));
        assert_eq!(md(base, theirs, ours), (want.to_string(), false));
    }

    #[test]
    fn two_new_sections_are_both_kept() {
        let base = "# A\ntext\n";
        let (out, _) = md(base, "# A\ntext\n\n# B\nbee\n", "# A\ntext\n\n# C\nsea\n");
        assert_eq!(out, "# A\ntext\n\n# B\nbee\n\n# C\nsea\n");
    }
}
