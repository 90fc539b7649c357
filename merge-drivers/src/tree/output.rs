//! A merged container written out: its entries in order, and the layout around them (what
//! opens and closes it, separators, each item's lead) chosen three-way.

use std::borrow::Cow;
use std::ops::Range;

use super::{Container, Entry, Fallback, Merger, Stamps, Step, Syntax, Val};
use crate::sides::{Side, Sides};
use crate::text;

impl<'a, S: Syntax> Merger<'a, S> {
    /// `pick` for an item's lead. In line formats a lead holds comments: two different edits
    /// of one are merged line by line rather than one dropped.
    pub(crate) fn pick_lead(&self, spans: Sides<Option<(Side, Range<usize>)>>) -> Cow<'a, [u8]> {
        self.pick_lead_in(spans, false)
    }

    /// `pick_lead` inside a flow collection (`flow`): its leads are only layout.
    fn pick_lead_in(
        &self,
        spans: Sides<Option<(Side, Range<usize>)>>,
        flow: bool,
    ) -> Cow<'a, [u8]> {
        if flow {
            return self.pick(spans);
        }
        if S::OWN_LEADS || S::SEPARATOR.is_empty() || S::COMMENT_LEADS {
            let texts = spans.clone().map(|x| x.map(|(side, r)| self.text(side, r)));
            if let Some(Sides { base, ours, theirs }) = texts.diverged() {
                if S::OWN_LEADS || S::COMMENT_LEADS {
                    // Comments: two different edits of one keep both sides' lines.
                    return Cow::Owned(text::merge_keep_both(base, ours, theirs));
                }
                // Lines of a line format: both sides' inserts kept.
                if let Some(merged) = text::merge_union(base, ours, theirs) {
                    return Cow::Owned(merged);
                }
            }
        }
        self.pick(spans)
    }

    /// Writes a container from its merged entries, taking the layout (what opens it, the white
    /// space after that, between items and before the end, what closes it) three-way.
    pub(super) fn write_container(
        &mut self,
        vals: Sides<Option<Val>>,
        cs: &Sides<Option<Container>>,
        entries: &[Entry],
        stamps: Option<Stamps>,
        segment: impl Fn(usize) -> String,
    ) -> Step {
        let item = |(side, i): (Side, usize)| cs[side].as_ref().map(|c| c.items[i]);
        let nonempty = |side: Side| cs[side].as_ref().filter(|c| !c.items.is_empty());
        let both = |f: &dyn Fn(Val, &Container) -> Range<usize>| {
            Sides::from_fn(|s| match (vals[s], &cs[s]) {
                (Some(v), Some(c)) => Some((s, f(v, c))),
                _ => None,
            })
        };
        // A flow collection in a line format lays out like JSON.
        let flow = cs.iter().flatten().any(|c| c.flow);
        if cs.iter().flatten().any(|c| c.flow != flow) {
            // One side rewrote `[a, b]` as a block list (or back): the line merge says it.
            return Err(Fallback);
        }
        let (separator_text, own_leads) = if flow {
            (&b","[..], false)
        } else {
            (S::SEPARATOR, S::OWN_LEADS)
        };
        let opening = self.pick(both(&|v, c| v.start..c.open));
        let closing = self.pick(both(&|v, c| c.end..v.end));
        self.out.extend_from_slice(&opening);
        if entries.is_empty() {
            let inner = self.pick(Sides::from_fn(|s| {
                cs[s]
                    .as_ref()
                    .filter(|c| c.items.is_empty())
                    .map(|c| (s, c.open..c.end))
            }));
            self.out.extend_from_slice(&inner);
            self.out.extend_from_slice(&closing);
            return Ok(());
        }
        for (n, e) in entries.iter().enumerate() {
            let at = e.places();
            if n > 0 {
                self.out.extend_from_slice(separator_text);
            }
            let own_lead = |first_too: bool| {
                at.map(|x| {
                    x.filter(|&(_, i)| first_too || i > 0)
                        .and_then(|x| item(x).map(|it| (x.0, it.lead..it.start)))
                })
            };
            // A container's separator: the white space before its second item (or first).
            let separator = |this: &Self| {
                this.pick(at.map(|x| {
                    x.and_then(|(s, _)| nonempty(s).map(|c| (s, c)))
                        .map(|(s, c)| {
                            let it = c.items.get(1).unwrap_or(&c.items[0]);
                            (s, it.lead..it.start)
                        })
                }))
            };
            let lead = if own_leads {
                self.own_lead(cs, entries, n, own_lead(true), &separator(self))
            } else if n == 0 {
                self.pick_lead_in(
                    Sides::from_fn(|s| nonempty(s).map(|c| (s, c.items[0].lead..c.items[0].start))),
                    flow || !S::COMMENT_LEADS,
                )
            } else {
                // Its own separator where it followed another item; else its container's.
                // Where it follows here the item it followed on a side, that side's separator
                // says how the two are apart (a blank line before a list, say); a side where
                // something else came between has none to say.
                let own = own_lead(false);
                let prev_at = entries[n - 1].places();
                let mut following = own.clone();
                for side in Side::ALL {
                    let follows = matches!(
                        (at[side], prev_at[side]),
                        (Some((s, i)), Some((ps, pi))) if s == ps && pi + 1 == i
                    );
                    if !follows {
                        following[side] = None;
                    }
                }
                if following.iter().any(Option::is_some) {
                    self.pick_lead_in(following, flow)
                } else if own.iter().any(Option::is_some) {
                    self.pick_lead_in(own, flow)
                } else {
                    separator(self)
                }
            };
            self.out.extend_from_slice(&lead);
            let head =
                self.pick(at.map(|x| x.and_then(|x| item(x).map(|it| (x.0, it.start..it.value)))));
            self.out.extend_from_slice(&head);
            // A heading that ended its file without a line break, now followed by text.
            let unended = (S::HEAD_IS_LINE && !head.is_empty() && !head.ends_with(b"\n"))
                .then_some(self.out.len());
            self.pointer.push(segment(n));
            let vals = at.map(|x| x.and_then(|x| item(x).map(|it| Val::of(x.0, &it))));
            self.value(vals, stamps)?;
            if let Some(at) = unended.filter(|&at| self.out.len() > at) {
                let eol = self.out_eol().bytes();
                self.out.splice(at..at, eol.iter().copied());
            }
            self.pointer.pop();
            self.end_line_if_more(n + 1 < entries.len());
        }
        let trail = self.pick_lead_in(
            Sides::from_fn(|s| nonempty(s).map(|c| (s, c.close..c.end))),
            flow,
        );
        self.out.extend_from_slice(&trail);
        self.out.extend_from_slice(&closing);
        Ok(())
    }

    /// The lead of entry `n` in a format where each item keeps its own lead (YAML: the
    /// comments above an entry). A lead that opened its file or block holds no line break
    /// before its comments; leads are compared and merged as if it did, so an entry that
    /// moved to or from the top is no change, and the result gets the break its position
    /// needs: a comment never joins the value before it.
    fn own_lead(
        &self,
        cs: &Sides<Option<Container>>,
        entries: &[Entry],
        n: usize,
        mut spans: Sides<Option<(Side, Range<usize>)>>,
        separator: &[u8],
    ) -> Cow<'a, [u8]> {
        let raw = spans.clone();
        let eol = self.out_eol().bytes();
        // The start of a line in this container: a break and the indentation.
        let line_start: Vec<u8> = match separator.iter().rposition(|&b| b == b'\n') {
            Some(nl) => {
                let from = if nl > 0 && separator[nl - 1] == b'\r' {
                    nl - 1
                } else {
                    nl
                };
                separator[from..].to_vec()
            }
            None => eol.to_vec(),
        };
        let starts_line = |t: &[u8]| t.starts_with(b"\n") || t.starts_with(b"\r\n");
        let normal = |t: Cow<'a, [u8]>| -> Cow<'a, [u8]> {
            if starts_line(&t) {
                t
            } else if !t.contains(&b'\n') {
                Cow::Owned(line_start.clone())
            } else {
                Cow::Owned([eol, &t[..]].concat())
            }
        };
        let lead_of = |x: Option<(Side, Range<usize>)>| x.map(|(s, r)| normal(self.text(s, r)));
        // A side that deleted the entry before this one (which the other side changed, so it
        // stays) may have left that entry's comments here: they are already written above it.
        if n > 0 {
            let prev = &entries[n - 1];
            let deleter = match (prev.ours, prev.theirs) {
                (Some(_), None) => Some(Side::Theirs),
                (None, Some(_)) => Some(Side::Ours),
                _ => None,
            };
            let prev_base = prev.base.and_then(|(s, i)| {
                cs[s]
                    .as_ref()
                    .map(|c| (s, c.items[i].lead..c.items[i].start))
            });
            if let (Some(d), Some(pb)) = (deleter, prev_base) {
                let (here, base_here) = (
                    lead_of(spans[d].clone()),
                    lead_of(spans[Side::Base].clone()),
                );
                if here.is_some() && here != base_here && here == lead_of(Some(pb)) {
                    spans[d] = spans[Side::Base].clone();
                }
            }
        }
        let leads = spans.map(lead_of);
        let merged = match leads.diverged() {
            Some(Sides { base, ours, theirs }) => {
                Cow::Owned(text::merge_keep_both(base, ours, theirs))
            }
            None => leads.choose().unwrap_or(Cow::Borrowed(b"")),
        };
        if n > 0 {
            return merged;
        }
        // The first entry: its container says whether a first lead starts its own line.
        let first = |s: Side| {
            cs[s]
                .as_ref()
                .and_then(|c| c.items.first())
                .map(|i| starts_line(&self.src[s][i.lead..i.start]))
        };
        if Sides::from_fn(first).choose() != Some(false) {
            return merged;
        }
        let rest = merged
            .strip_prefix(b"\r\n")
            .or_else(|| merged.strip_prefix(b"\n"))
            .map(<[u8]>::to_vec);
        match rest {
            Some(rest) if rest.contains(&b'\n') => Cow::Owned(rest),
            // Only indentation: the raw leads say it best (a mapping on its dash's line).
            _ => self.pick(raw),
        }
    }

    /// Line-based formats: an item that ended its side without a line break (the last line
    /// of a file) gets one when another item follows it.
    pub(super) fn end_line_if_more(&mut self, more: bool) {
        // (YAML items end before their line break: the next item's lead starts with it.)
        if more
            && S::SEPARATOR.is_empty()
            && !S::OWN_LEADS
            && !self.out.is_empty()
            && self.out.last() != Some(&b'\n')
        {
            let eol = self.out_eol().bytes();
            self.out.extend_from_slice(eol);
        }
    }
}
