//! Objects merged member by member in keyed order (a member one side deleted and the other
//! changed stays), and the timestamps in them that decide collisions.

use std::borrow::Cow;

use foldhash::HashSet;

use super::{Container, Entry, Fallback, Merger, Stamps, Step, Syntax, Val};
use crate::sequence::{combine_sides, keyed_order, Slot, SortKey};
use crate::sides::{Side, Sides};
use crate::{instant, TIMESTAMP_KEYS};

impl<'a, S: Syntax> Merger<'a, S> {
    /// Writes the merge of an object (`vals`: its versions, both sides' there), member by
    /// member.
    pub(super) fn object(&mut self, vals: Sides<Option<Val>>, stamps: Option<Stamps>) -> Step {
        let cs = self.containers(vals);
        let keys: Sides<Vec<Cow<[u8]>>> = Sides::from_fn(|side| match &cs[side] {
            Some(c) => c
                .items
                .iter()
                .map(|i| self.syntax.key(side, self.src[side], i))
                .collect(),
            None => Vec::new(),
        });
        for k in keys.iter() {
            if k.iter().collect::<HashSet<_>>().len() != k.len() {
                return Err(Fallback);
            }
        }
        let stamps = self.stamps(&cs).or(stamps);
        let slots = keyed_order(
            &keys,
            |slot| self.keeps(&cs, slot),
            |o, t| {
                let member = |(side, i): (Side, usize)| {
                    let item = cs[side]
                        .as_ref()
                        .map(|c| c.items[i])
                        .expect("side container");
                    SortKey {
                        instant: None,
                        bytes: &self.src[side][item.start..item.end],
                    }
                };
                combine_sides(o, t, member)
            },
        );
        // A member's key: as ours has it, else theirs, else the base.
        let key_of = |s: &Slot| match (s.ours, s.theirs, s.base) {
            (Some(i), _, _) => Some(&keys.ours[i]),
            (None, Some(i), _) => Some(&keys.theirs[i]),
            (None, None, Some(i)) => Some(&keys.base[i]),
            _ => None,
        };
        let names: Vec<String> = slots
            .iter()
            .map(|s| key_of(s).map_or_else(String::new, |k| self.syntax.describe_key(k)))
            .collect();
        let mut order: Vec<usize> = (0..slots.len()).collect();
        if let Some(first) = S::FIRST_KEY {
            // The format wants this member before all others (a section's own text).
            order.sort_by_key(|&i| key_of(&slots[i]).map_or(b"".as_slice(), |k| k) != first);
        }
        // (A stable sort: members of one rank keep the merge's order.)
        order.sort_by_key(|&i| key_of(&slots[i]).map_or(0, |k| self.syntax.rank(k)));
        let names: Vec<String> = order.iter().map(|&i| names[i].clone()).collect();
        let entries: Vec<Entry> = order.iter().map(|&i| Entry::from(slots[i])).collect();
        self.write_container(vals, &cs, &entries, stamps, |i| names[i].clone())
    }

    /// Whether a base member/record that `slot` names stays in the result: both sides kept
    /// it, or one deleted it while the other changed it (the change wins).
    pub(super) fn keeps(&self, cs: &Sides<Option<Container>>, slot: Slot) -> bool {
        let item = |side: Side, i: usize| {
            Val::of(side, &cs[side].as_ref().expect("side container").items[i])
        };
        // Where items own their leads, a comment added above one is a change too.
        let commented = |side: Side, i: usize, b: usize| {
            S::OWN_LEADS && {
                let lead = |side: Side, i: usize| {
                    let it = cs[side].as_ref().expect("side container").items[i];
                    self.text(side, it.lead..it.start)
                };
                let (base_lead, side_lead) = (lead(Side::Base, b), lead(side, i));
                let in_base: HashSet<&[u8]> = comment_lines(&base_lead).collect();
                let mut new = comment_lines(&side_lead).filter(|l| !in_base.contains(l));
                // A comment the base had above another item moved here (the file's first
                // comment, when the item before it was deleted): not an addition.
                new.any(|l| {
                    let base = cs[Side::Base].as_ref().expect("side container");
                    !(0..base.items.len())
                        .any(|k| comment_lines(&lead(Side::Base, k)).any(|c| c == l))
                })
            }
        };
        match (slot.base, slot.ours, slot.theirs) {
            (_, Some(_), Some(_)) => true,
            (Some(b), Some(i), None) => {
                !self.same(item(Side::Base, b), item(Side::Ours, i)) || commented(Side::Ours, i, b)
            }
            (Some(b), None, Some(i)) => {
                !self.same(item(Side::Base, b), item(Side::Theirs, i))
                    || commented(Side::Theirs, i, b)
            }
            _ => false,
        }
    }

    /// The instant in an object's timestamp field, if it has one.
    pub(super) fn instant_of(&self, side: Side, c: &Container) -> Option<(i128, &'static str)> {
        TIMESTAMP_KEYS.iter().find_map(|&field| {
            let item = self.member(side, c, field)?;
            instant::parse(&self.src[side][item.value_range()]).map(|i| (i, field))
        })
    }

    /// The timestamp that decides collisions inside these objects, if both sides carry one.
    fn stamps(&self, cs: &Sides<Option<Container>>) -> Option<Stamps> {
        let (o, t) = (cs[Side::Ours].as_ref()?, cs[Side::Theirs].as_ref()?);
        TIMESTAMP_KEYS.iter().find_map(|&field| {
            let at = |side: Side, c: &Container| {
                self.member(side, c, field)
                    .and_then(|i| instant::parse(&self.src[side][i.value_range()]))
            };
            Some(Stamps {
                ours: at(Side::Ours, o)?,
                theirs: at(Side::Theirs, t)?,
                field,
            })
        })
    }
}

/// The comment lines of a lead (`#` lines, trimmed).
fn comment_lines(lead: &[u8]) -> impl Iterator<Item = &[u8]> {
    lead.split(|&b| b == b'\n')
        .map(<[u8]>::trim_ascii)
        .filter(|l| l.starts_with(b"#"))
}
