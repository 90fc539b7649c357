//! Line endings (which one a file uses, copying text from one file into another's) and the
//! byte order mark.

use std::borrow::Cow;

use crate::sides::choose3;
use crate::sides::Sides;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Eol {
    Lf,
    CrLf,
}

impl Eol {
    /// The ending of the first line break, or `None` for a single-line text.
    pub(crate) fn of(text: &[u8]) -> Option<Eol> {
        let nl = text.iter().position(|&b| b == b'\n')?;
        Some(if nl > 0 && text[nl - 1] == b'\r' {
            Eol::CrLf
        } else {
            Eol::Lf
        })
    }

    /// Whether `text` ends lines both ways (`\r\n` and a bare `\n`).
    pub(crate) fn mixed(text: &[u8]) -> bool {
        // No `\r` at all (as in most texts): found at once, without looking at every line.
        if memchr::memchr(b'\r', text).is_none() {
            return false;
        }
        let (mut crlf, mut lf) = (false, false);
        for nl in memchr::memchr_iter(b'\n', text) {
            if nl > 0 && text[nl - 1] == b'\r' {
                crlf = true;
            } else {
                lf = true;
            }
            if crlf && lf {
                return true;
            }
        }
        false
    }

    /// The ending a merge of three texts should use: what the sides agree on, else the one
    /// a side changed to, else a fixed choice (symmetric).
    pub(crate) fn choose(base: &[u8], ours: &[u8], theirs: &[u8]) -> Option<Eol> {
        choose3(Eol::of(base), Eol::of(ours), Eol::of(theirs))
    }

    pub(crate) fn bytes(self) -> &'static [u8] {
        match self {
            Eol::Lf => b"\n",
            Eol::CrLf => b"\r\n",
        }
    }
}

pub(crate) const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Whether a merge's result starts with a byte order mark: the three-way choice among the
/// sides' (`boms`: whether each had one), the base's counting only where it has data.
pub(crate) fn bom_chosen(boms: Sides<bool>, has_base: bool) -> bool {
    let base = has_base.then_some(boms.base);
    Sides::new(base, Some(boms.ours), Some(boms.theirs)).choose() == Some(true)
}

/// Whether `text` starts with a UTF-8 byte order mark, and the text after it.
pub(crate) fn strip_bom(text: &[u8]) -> (bool, &[u8]) {
    match text.strip_prefix(BOM) {
        Some(rest) => (true, rest),
        None => (false, text),
    }
}

/// `text` from a file ending lines with `from`, rewritten for a file ending them with `to`.
pub(crate) fn convert(text: &[u8], from: Option<Eol>, to: Option<Eol>) -> Cow<'_, [u8]> {
    match (from, to) {
        (Some(from), Some(to)) if from != to && text.contains(&b'\n') => {
            let mut out = Vec::with_capacity(text.len() + text.len() / 32);
            let mut prev = 0u8;
            for &b in text {
                match (to, b) {
                    (Eol::CrLf, b'\n') if prev != b'\r' => out.extend_from_slice(b"\r\n"),
                    (Eol::Lf, b'\n') if prev == b'\r' => {
                        out.pop();
                        out.push(b'\n');
                    }
                    _ => out.push(b),
                }
                prev = b;
            }
            Cow::Owned(out)
        }
        _ => Cow::Borrowed(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_both_ways() {
        assert_eq!(
            &*convert(b"a\nb\n", Some(Eol::Lf), Some(Eol::CrLf)),
            b"a\r\nb\r\n"
        );
        assert_eq!(
            &*convert(b"a\r\nb\r\n", Some(Eol::CrLf), Some(Eol::Lf)),
            b"a\nb\n"
        );
        assert_eq!(&*convert(b"a\nb", None, Some(Eol::CrLf)), b"a\nb");
    }
}
