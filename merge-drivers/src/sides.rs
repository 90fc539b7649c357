//! The three versions every merge reads: [`Side`] names one of base, ours and theirs, and
//! [`Sides`] holds one thing for each of them.

use std::fmt;
use std::ops::{Index, IndexMut};

/// One of the three versions of a merge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Side {
    Base,
    Ours,
    Theirs,
}

impl Side {
    /// The three, in the order base, ours, theirs.
    pub(crate) const ALL: [Side; 3] = [Side::Base, Side::Ours, Side::Theirs];

    /// Theirs for ours, ours for theirs (the base has no other).
    pub(crate) fn other(self) -> Side {
        match self {
            Side::Base => Side::Base,
            Side::Ours => Side::Theirs,
            Side::Theirs => Side::Ours,
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Base => "base",
            Side::Ours => "ours",
            Side::Theirs => "theirs",
        })
    }
}

/// One thing for each side: its text, its layout, its version of a value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Sides<T> {
    pub base: T,
    pub ours: T,
    pub theirs: T,
}

impl<T> Sides<T> {
    pub(crate) const fn new(base: T, ours: T, theirs: T) -> Self {
        Sides { base, ours, theirs }
    }

    /// What `f` gives for each side, called in the order base, ours, theirs.
    pub(crate) fn from_fn(mut f: impl FnMut(Side) -> T) -> Self {
        Sides {
            base: f(Side::Base),
            ours: f(Side::Ours),
            theirs: f(Side::Theirs),
        }
    }

    /// Each side's thing through `f`, in the order base, ours, theirs.
    pub(crate) fn map<U>(self, mut f: impl FnMut(T) -> U) -> Sides<U> {
        Sides {
            base: f(self.base),
            ours: f(self.ours),
            theirs: f(self.theirs),
        }
    }

    /// The three, in the order base, ours, theirs.
    pub(crate) fn iter(&self) -> std::array::IntoIter<&T, 3> {
        [&self.base, &self.ours, &self.theirs].into_iter()
    }
}

impl<A, B> Sides<(A, B)> {
    /// The sides' pairs taken apart.
    pub(crate) fn unzip(self) -> (Sides<A>, Sides<B>) {
        let Sides { base, ours, theirs } = self;
        (
            Sides::new(base.0, ours.0, theirs.0),
            Sides::new(base.1, ours.1, theirs.1),
        )
    }
}

impl<T: PartialEq> Sides<Option<T>> {
    /// The three versions where each differs from the other two: both sides changed the
    /// base's, differently.
    pub(crate) fn diverged(&self) -> Option<Sides<&T>> {
        match (&self.base, &self.ours, &self.theirs) {
            (Some(b), Some(o), Some(t)) if o != t && b != o && b != t => Some(Sides::new(b, o, t)),
            _ => None,
        }
    }
}

impl<T: PartialEq + Ord> Sides<Option<T>> {
    /// The three-way choice among the sides' versions of one attribute (see [`choose3`]).
    pub(crate) fn choose(self) -> Option<T> {
        choose3(self.base, self.ours, self.theirs)
    }
}

impl<T> From<[T; 3]> for Sides<T> {
    fn from([base, ours, theirs]: [T; 3]) -> Self {
        Sides { base, ours, theirs }
    }
}

impl<T> IntoIterator for Sides<T> {
    type Item = T;
    type IntoIter = std::array::IntoIter<T, 3>;

    /// The three, in the order base, ours, theirs.
    fn into_iter(self) -> Self::IntoIter {
        [self.base, self.ours, self.theirs].into_iter()
    }
}

impl<T> Index<Side> for Sides<T> {
    type Output = T;

    fn index(&self, side: Side) -> &T {
        match side {
            Side::Base => &self.base,
            Side::Ours => &self.ours,
            Side::Theirs => &self.theirs,
        }
    }
}

impl<T> IndexMut<Side> for Sides<T> {
    fn index_mut(&mut self, side: Side) -> &mut T {
        match side {
            Side::Base => &mut self.base,
            Side::Ours => &mut self.ours,
            Side::Theirs => &mut self.theirs,
        }
    }
}

/// Three-way choice of one attribute (a line ending, a separator, a flag): what both sides
/// have; else what the side that changed it has; else the lesser of the two, so the choice
/// never depends on which side is ours. `None` means "not known on that side".
pub(crate) fn choose3<T: PartialEq + Ord>(
    base: Option<T>,
    ours: Option<T>,
    theirs: Option<T>,
) -> Option<T> {
    match (ours, theirs) {
        (Some(o), Some(t)) => {
            if o == t {
                Some(o)
            } else if base.as_ref() == Some(&o) {
                Some(t)
            } else if base.as_ref() == Some(&t) {
                Some(o)
            } else {
                Some(o.min(t))
            }
        }
        (Some(o), None) => Some(o),
        (None, Some(t)) => Some(t),
        (None, None) => base,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choose3_prefers_the_changed_side_then_the_lesser() {
        assert_eq!(choose3(Some(1), Some(1), Some(2)), Some(2));
        assert_eq!(choose3(Some(1), Some(3), Some(2)), Some(2));
        assert_eq!(choose3(None, None, Some(2)), Some(2));
    }
}
