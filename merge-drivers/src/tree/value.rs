//! One value's merge: the same on both sides, changed on one, containers merged member by
//! member, texts line by line; else a collision, decided by the policy and journaled.

use super::{Fallback, Merger, Shape, Stamps, Step, Syntax, Val};
use crate::eol::{convert, Eol};
use crate::record::{Record, Rule};
use crate::sides::Sides;
use crate::{text, Policy};

impl<'a, S: Syntax> Merger<'a, S> {
    /// Writes the merge of one value (`vals`: its versions; where only one side still has
    /// it, that side's).
    pub(crate) fn value(&mut self, vals: Sides<Option<Val>>, stamps: Option<Stamps>) -> Step {
        let (base, Some(ours), Some(theirs)) = (vals.base, vals.ours, vals.theirs) else {
            self.survivor(vals);
            return Ok(());
        };
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
        if vals.iter().flatten().any(|&v| self.syntax.opaque(v)) {
            return Err(Fallback);
        }
        // A base of another shape holds nothing to merge against: both sides added.
        let same_shape = Sides {
            base: base.filter(|b| b.shape == ours.shape),
            ..vals
        };
        match (ours.shape, theirs.shape) {
            (Shape::Object, Shape::Object) => self.object(same_shape, stamps),
            (Shape::Array, Shape::Array) => self.array(same_shape, stamps),
            (Shape::Text, Shape::Text) => {
                // Every line ends with a break for the merge (a YAML value ends before its
                // last one), so an appended line is an insertion, not a changed last line.
                let unended = !self.val_text(ours).ends_with(b"\n")
                    && !self.val_text(theirs).ends_with(b"\n");
                // (The file's own line ending: a bare `\n` on one line of a CRLF text makes
                // it a different line, and an append on both sides a collision.)
                let eol = self.out_eol().bytes();
                let lines = |v: Option<Val>| {
                    let mut t = v.map(|v| self.val_text(v).into_owned()).unwrap_or_default();
                    if !t.is_empty() && !t.ends_with(b"\n") {
                        t.extend_from_slice(eol);
                    }
                    t
                };
                let (b, o, t) = (
                    lines(same_shape.base),
                    lines(Some(ours)),
                    lines(Some(theirs)),
                );
                match text::merge_union(&b, &o, &t) {
                    Some(mut merged) => {
                        if unended && merged.ends_with(b"\n") {
                            merged.pop();
                            if merged.ends_with(b"\r") {
                                merged.pop();
                            }
                        }
                        self.out.extend_from_slice(&merged)
                    }
                    None => self.collide(vals, stamps),
                }
                Ok(())
            }
            _ => {
                self.collide(vals, stamps);
                Ok(())
            }
        }
    }

    /// Two different new values for one scalar (or values of different shapes, or a text
    /// both sides edited differently).
    fn collide(&mut self, vals: Sides<Option<Val>>, stamps: Option<Stamps>) {
        let (Some(ours), Some(theirs)) = (vals.ours, vals.theirs) else {
            return self.survivor(vals);
        };
        let text_leaves = ours.shape == Shape::Text && theirs.shape == Shape::Text;
        let keep_both = text_leaves
            && (self.options.policy == Policy::KeepBoth
                || (self.options.policy == Policy::Journal && S::KEEP_BOTH));
        if keep_both {
            // Both versions, one after the other, in an order chosen by content.
            let (first, second) = if self.val_text(ours) <= self.val_text(theirs) {
                (ours, theirs)
            } else {
                (theirs, ours)
            };
            self.put(first);
            self.end_line_if_more(true);
            let gap = self.syntax.gap(
                &self.src[first.side][first.start..first.end],
                &self.src[second.side][second.start..second.end],
            );
            let gap = convert(gap, Some(Eol::Lf), self.out_eol).into_owned();
            self.out.extend_from_slice(&gap);
            self.put(second);
            self.journal(vals, None, Rule::KeepBoth);
            return;
        }
        let (winner, rule) = match self.options.policy {
            Policy::Ours => (ours, Rule::Policy("ours")),
            Policy::Theirs => (theirs, Rule::Policy("theirs")),
            Policy::Markers => {
                // The format's merge resolves markers by merging twice; should a collision
                // still get here, keep ours and never call the result clean.
                self.conflicted = true;
                self.put(ours);
                return;
            }
            Policy::Journal | Policy::KeepBoth => match stamps {
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
        self.journal(vals, Some(winner), rule);
        self.put(winner);
    }

    /// What only one side still has (the other deleted it; `vals`: its versions) stays: where
    /// the base had it, that side changed it, and the change beat the deletion (journaled).
    pub(crate) fn survivor(&mut self, vals: Sides<Option<Val>>) {
        let Some(kept) = vals.ours.or(vals.theirs) else {
            return;
        };
        if vals.base.is_some() {
            self.journal(vals, Some(kept), Rule::ModifyBeatsDelete);
        }
        self.put(kept);
    }

    /// Records the versions of a value the merge decided among (`vals`), what it chose and by
    /// which rule.
    fn journal(&mut self, vals: Sides<Option<Val>>, chosen: Option<Val>, rule: Rule) {
        let value = |v: Option<Val>| v.map(|v| self.syntax.record(&self.val_text(v)));
        let record = Record {
            path: self.options.path.clone(),
            location: self.location(),
            base: value(vals.base),
            ours: value(vals.ours),
            theirs: value(vals.theirs),
            chosen: value(chosen),
            rule,
        };
        self.records.push(record);
    }
}
