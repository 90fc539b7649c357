//! Flow collections (`[a, b]`, `{x: 1}`) taken apart into containers as JSON's are, or
//! merged as one value where they cannot be (a comment inside, a `[k: v]` pair).

use std::ops::Range;

use super::events::{Ev, Spanned};
use super::reader::{scalar_shape, skip_spaces, trim_end, Node, Reader};
use crate::tree::{Container, Item, Shape};

impl<I: Iterator<Item = Spanned>> Reader<'_, I> {
    /// The flow collection whose start `event` (`start..end`, its bracket) was just read:
    /// taken apart, its containers and keys registered; else merged as one value.
    pub(super) fn flow(&mut self, event: Ev, start: usize, end: usize) -> Option<Node> {
        // Its events, to the matching end.
        let mut evs = vec![(event, start, end)];
        let mut depth = 1;
        while depth > 0 {
            let e = self.events.next()?;
            match e.0 {
                Ev::MappingStart | Ev::SequenceStart => depth += 1,
                Ev::MappingEnd | Ev::SequenceEnd => depth -= 1,
                _ => {}
            }
            evs.push(e);
        }
        let last = evs.last().map_or(end, |e| e.2);
        let mut flow = Flow {
            text: self.text,
            evs: &evs,
            at: 0,
            nested: Vec::new(),
            keys: Vec::new(),
        };
        if let Some((shape, span, c)) = flow.collection() {
            let (nested, keys) = (flow.nested, flow.keys);
            for (span, object, c) in nested {
                self.syntax.parsed.add_container(self.side, span, object, c);
            }
            for (item, key) in keys {
                self.syntax.parsed.add_key(self.side, &item, key);
            }
            return Some(Node::flow(start..span.end, shape, c));
        }
        // Merged as one value.
        self.syntax.opaque[self.side].insert(start);
        Some(Node::leaf(start, last, Shape::Scalar))
    }
}

/// Takes a flow collection (`[a, b]`, `{x: 1, y: [2]}`) apart into containers, as JSON's
/// are: items apart by commas, leads only white space. Anything else inside (a comment, a
/// `[k: v]` pair, an empty entry) leaves it one value.
struct Flow<'e> {
    text: &'e [u8],
    evs: &'e [Spanned],
    at: usize,
    /// Collections inside it, by their exact spans.
    nested: Vec<(Range<usize>, bool, Container)>,
    keys: Vec<(Item, Vec<u8>)>,
}

impl Flow<'_> {
    /// The collection at `at`: its shape, span (brackets included) and container.
    fn collection(&mut self) -> Option<(Shape, Range<usize>, Container)> {
        let text = self.text;
        let (ev, start, _) = self.evs.get(self.at)?;
        self.at += 1;
        let (object, closer) = match ev {
            Ev::MappingStart if text.get(*start) == Some(&b'{') => (true, b'}'),
            Ev::SequenceStart if text.get(*start) == Some(&b'[') => (false, b']'),
            _ => return None,
        };
        let open = start + 1;
        let mut items = Vec::new();
        let mut lead = open;
        let bracket = loop {
            let (ev, s, e) = self.evs.get(self.at)?;
            let (s, e) = (*s, *e);
            if matches!(ev, Ev::MappingEnd | Ev::SequenceEnd) {
                self.at += 1;
                if text.get(s) != Some(&closer) || !blank(&text[lead..s]) {
                    return None;
                }
                break s;
            }
            if !blank(&text[lead..s]) {
                return None;
            }
            let (item_start, key) = if object {
                let Ev::Scalar(_, Some(name)) = ev else {
                    return None;
                };
                let colon = skip_spaces(text, e);
                if e <= s || text.get(colon) != Some(&b':') {
                    return None;
                }
                self.at += 1;
                (s, Some((name.bytes(&text[s..e]).to_vec(), colon + 1)))
            } else {
                (s, None)
            };
            let (shape, value) = self.value()?;
            if let Some((_, after)) = &key {
                if value.start < *after || !blank(&text[*after..value.start]) {
                    return None;
                }
            }
            let item = Item {
                lead,
                start: item_start,
                value: value.start,
                end: value.end,
                shape,
            };
            if let Some((name, _)) = key {
                self.keys.push((item, name));
            }
            items.push(item);
            let next = skip_blank(text, value.end);
            match text.get(next) {
                Some(b',') => lead = next + 1,
                Some(&c) if c == closer => lead = value.end,
                _ => return None,
            }
        };
        let close = items.last().map_or(open, |i: &Item| i.end);
        let shape = if object { Shape::Object } else { Shape::Array };
        let container = Container {
            open,
            items,
            close,
            end: bracket,
            flow: true,
        };
        Some((shape, *start..bracket + 1, container))
    }

    /// An entry's value: a scalar, or a collection (placed among the nested ones).
    fn value(&mut self) -> Option<(Shape, Range<usize>)> {
        let (ev, s, e) = self.evs.get(self.at)?;
        let (s, e) = (*s, *e);
        match ev {
            Ev::Scalar(style, _) => {
                self.at += 1;
                // (A block scalar cannot stand in a flow collection.)
                let shape = scalar_shape(*style);
                if shape == Shape::Text {
                    return None;
                }
                let end = trim_end(self.text, s, e);
                (end > s).then_some((shape, s..end))
            }
            Ev::MappingStart | Ev::SequenceStart => {
                let (shape, span, c) = self.collection()?;
                self.nested.push((span.clone(), shape == Shape::Object, c));
                Some((shape, span))
            }
            _ => None,
        }
    }
}

fn blank(text: &[u8]) -> bool {
    text.iter().all(u8::is_ascii_whitespace)
}

fn skip_blank(text: &[u8], mut pos: usize) -> usize {
    while pos < text.len() && text[pos].is_ascii_whitespace() {
        pos += 1;
    }
    pos
}

#[cfg(test)]
mod tests {
    use super::super::tests::{merged, yaml};

    #[test]
    fn flow_sequences_keep_both_sides_inserts() {
        assert_eq!(
            yaml(
                "tags: [a, b]  # topics\nname: x\n",
                "tags: [a, b, c]  # topics\nname: x\n",
                "tags: [a, b, d]  # topics\nname: x\n"
            ),
            "tags: [a, b, c, d]  # topics\nname: x\n"
        );
        assert_eq!(
            yaml(
                "- [a, \"b\", {x: 1, z: 0}]\n",
                "- [a, \"b\", {x: 2, z: 0}, c]\n",
                "- [\"b\", {x: 1, z: 0, y: [3]}]\n"
            ),
            "- [\"b\", {x: 2, z: 0, y: [3]}, c]\n"
        );
    }

    #[test]
    fn flow_mappings_merge_key_by_key() {
        assert_eq!(
            yaml(
                "limits: {cpu: 1, mem: 512}\n",
                "limits: {cpu: 2, mem: 512}\n",
                "limits: {cpu: 1, mem: 1024, disk: 9}\n"
            ),
            "limits: {cpu: 2, mem: 1024, disk: 9}\n"
        );
    }

    #[test]
    fn a_flow_collection_with_a_comment_inside_goes_to_the_line_merge() {
        let base = "tags: [a, # first\n  b]\n";
        let run = |o: &str, t: &str| merged(base, o, t);
        assert!(run(
            "tags: [a, # first\n  b, c]\n",
            "tags: [a, # first\n  b, d]\n"
        )
        .is_none());
        // Changed on one side only, it is that side's value.
        let one = run(
            "tags: [a, # first\n  b, c]\n",
            "tags: [a, # first\n  b]\nk: 1\n",
        );
        assert_eq!(
            one.map(|m| m.output),
            Some(b"tags: [a, # first\n  b, c]\nk: 1\n".to_vec())
        );
    }
}
