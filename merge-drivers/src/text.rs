//! The line merge: diff3 over lines, with git-style conflict markers.
//!
//! It is the `text` kind and the fallback of every structural kind. A clean result never
//! depends on which side is ours; marker blocks list ours first, as git does.

use similar::{MergeResolution, TextMerge};

use crate::eol::Eol;
use crate::sequence::Region;

pub struct LineMerge {
    pub output: Vec<u8>,
    pub conflicted: bool,
}

/// Merges three texts line by line. Markers are `marker_size` long and use the line ending of
/// the file (CRLF files get CRLF marker lines).
pub fn merge(base: &[u8], ours: &[u8], theirs: &[u8], marker_size: usize) -> LineMerge {
    let marker_size = marker_size.clamp(1, 1024);
    if ours == theirs {
        return LineMerge {
            output: ours.to_vec(),
            conflicted: false,
        };
    }
    if base == ours {
        return clean(theirs);
    }
    if base == theirs {
        return clean(ours);
    }
    let merge = TextMerge::configure().merge_lines(base, ours, theirs);
    let eol = Eol::choose(base, ours, theirs).unwrap_or(Eol::Lf).bytes();
    let mut out = Vec::with_capacity(ours.len().max(theirs.len()) + 64);
    let mut conflicted = false;
    for region in merge.regions() {
        match region.resolution() {
            MergeResolution::Theirs => push(&mut out, &merge, Pick::Theirs, region.theirs_range()),
            MergeResolution::Conflict => {
                conflicted = true;
                end_line(&mut out, eol);
                marker(&mut out, b'<', marker_size, " ours", eol);
                push(&mut out, &merge, Pick::Ours, region.ours_range());
                end_line(&mut out, eol);
                marker(&mut out, b'=', marker_size, "", eol);
                push(&mut out, &merge, Pick::Theirs, region.theirs_range());
                end_line(&mut out, eol);
                marker(&mut out, b'>', marker_size, " theirs", eol);
            }
            _ => push(&mut out, &merge, Pick::Ours, region.ours_range()),
        }
    }
    LineMerge {
        output: out,
        conflicted,
    }
}

/// A line merge that keeps both sides' insertions: where both sides only inserted lines at
/// one place, both runs are kept (the one whose lines sort first goes first; a line both
/// inserted appears once). `None` when a stretch was changed differently on both sides.
pub fn merge_union(base: &[u8], ours: &[u8], theirs: &[u8]) -> Option<Vec<u8>> {
    merge_lines(base, ours, theirs, false)
}

/// `merge_union`, except that a stretch changed differently on both sides keeps both
/// versions (the one whose lines sort first goes first; lines both have stand once): for
/// comments, where nothing may be lost and no value has to win.
pub fn merge_keep_both(base: &[u8], ours: &[u8], theirs: &[u8]) -> Vec<u8> {
    // Keeping both, no stretch makes the merge give up.
    merge_lines(base, ours, theirs, true).unwrap_or_default()
}

/// The line merge of `merge_union` and `merge_keep_both`; `keep_both` says what a stretch
/// changed differently on both sides becomes (both versions, or no merge).
fn merge_lines(base: &[u8], ours: &[u8], theirs: &[u8], keep_both: bool) -> Option<Vec<u8>> {
    if ours == theirs || base == theirs {
        return Some(ours.to_vec());
    }
    if base == ours {
        return Some(theirs.to_vec());
    }
    // Lines, as items: only edits that overlap collide (two neighbouring lines of a
    // paragraph edited by two machines is no conflict), unlike git's line merge.
    let (lb, lo, lt) = (lines(base), lines(ours), lines(theirs));
    let eol = Eol::choose(base, ours, theirs).unwrap_or(Eol::Lf).bytes();
    let mut out = Vec::with_capacity(ours.len().max(theirs.len()));
    let put = |out: &mut Vec<u8>, lines: &[&[u8]]| {
        for l in lines {
            end_line(out, eol);
            out.extend_from_slice(l);
        }
    };
    for region in crate::sequence::regions(&lb, &lo, &lt, None) {
        match region {
            Region::Same(_, o, _) | Region::Ours(_, o) => put(&mut out, &lo[o]),
            Region::Theirs(_, t) => put(&mut out, &lt[t]),
            Region::Both(_, o, t) if lo[o.clone()] == lt[t.clone()] => put(&mut out, &lo[o]),
            Region::Both(b, o, t) if b.is_empty() || keep_both => {
                put(&mut out, &both_once(&lo[o], &lt[t]));
            }
            Region::Both(..) => return None,
        }
    }
    Some(out)
}

/// Two runs of lines as one: the run that sorts first, then what the other adds to it (a
/// line both have stands once), so the order never depends on which side is ours.
fn both_once<'a>(ours: &[&'a [u8]], theirs: &[&'a [u8]]) -> Vec<&'a [u8]> {
    let (a, z) = if theirs < ours {
        (theirs, ours)
    } else {
        (ours, theirs)
    };
    let mut left: std::collections::HashMap<&[u8], usize> = Default::default();
    for l in a {
        *left.entry(l).or_default() += 1;
    }
    let mut run: Vec<&[u8]> = a.to_vec();
    for l in z {
        match left.get_mut(l) {
            Some(n) if *n > 0 => *n -= 1,
            _ => run.push(l),
        }
    }
    run
}

fn lines(text: &[u8]) -> Vec<&[u8]> {
    text.split_inclusive(|&b| b == b'\n').collect()
}

/// Marks where two versions of one text differ, line by line: the lines both share as they
/// are, each stretch that differs as a conflict block (ours first).
pub fn mark_differences(ours: &[u8], theirs: &[u8], marker_size: usize) -> Vec<u8> {
    let marker_size = marker_size.clamp(1, 1024);
    let eol = Eol::choose(b"", ours, theirs).unwrap_or(Eol::Lf).bytes();
    let a: Vec<&[u8]> = ours.split_inclusive(|&b| b == b'\n').collect();
    let b: Vec<&[u8]> = theirs.split_inclusive(|&b| b == b'\n').collect();
    let mut out = Vec::with_capacity(ours.len() + 64);
    let mut pending: (Vec<&[u8]>, Vec<&[u8]>) = (Vec::new(), Vec::new());
    let flush = |out: &mut Vec<u8>, pending: &mut (Vec<&[u8]>, Vec<&[u8]>)| {
        if pending.0.is_empty() && pending.1.is_empty() {
            return;
        }
        end_line(out, eol);
        marker(out, b'<', marker_size, " ours", eol);
        pending.0.drain(..).for_each(|l| out.extend_from_slice(l));
        end_line(out, eol);
        marker(out, b'=', marker_size, "", eol);
        pending.1.drain(..).for_each(|l| out.extend_from_slice(l));
        end_line(out, eol);
        marker(out, b'>', marker_size, " theirs", eol);
    };
    for op in similar::capture_diff_slices(similar::Algorithm::Myers, &a, &b) {
        let (tag, old, new) = op.as_tag_tuple();
        if tag == similar::DiffTag::Equal {
            flush(&mut out, &mut pending);
            a[old].iter().for_each(|l| out.extend_from_slice(l));
        } else {
            pending.0.extend_from_slice(&a[old]);
            pending.1.extend_from_slice(&b[new]);
        }
    }
    flush(&mut out, &mut pending);
    out
}

#[derive(Clone, Copy)]
enum Pick {
    Ours,
    Theirs,
}

fn push(
    out: &mut Vec<u8>,
    merge: &TextMerge<'_, '_, '_, [u8]>,
    pick: Pick,
    lines: std::ops::Range<usize>,
) {
    for i in lines {
        let line = match pick {
            Pick::Ours => merge.ours_line(i),
            Pick::Theirs => merge.theirs_line(i),
        };
        out.extend_from_slice(line.unwrap_or_default());
    }
}

fn clean(side: &[u8]) -> LineMerge {
    LineMerge {
        output: side.to_vec(),
        conflicted: false,
    }
}

fn end_line(out: &mut Vec<u8>, eol: &[u8]) {
    if !out.is_empty() && out.last() != Some(&b'\n') {
        out.extend_from_slice(eol);
    }
}

fn marker(out: &mut Vec<u8>, c: u8, size: usize, label: &str, eol: &[u8]) {
    out.extend(std::iter::repeat_n(c, size));
    out.extend_from_slice(label.as_bytes());
    out.extend_from_slice(eol);
}

/// Whether `text` holds conflict markers: an opening and a closing marker line of exactly
/// `size` characters (in any order: a structural merge may have moved lines apart).
pub fn has_conflict_markers(text: &[u8], size: usize) -> bool {
    if size == 0 {
        return markers_in(text.split(|&b| b == b'\n'), size);
    }
    // Only a line that starts with `<` or `>` can be a marker: those lines alone, found by
    // their first character rather than by reading every line.
    let starting = |c: u8| {
        memchr::memchr_iter(c, text)
            .filter(move |&i| i == 0 || text[i - 1] == b'\n')
            .map(move |i| {
                let end = memchr::memchr(b'\n', &text[i..]).map_or(text.len(), |n| i + n);
                &text[i..end]
            })
    };
    markers_in(starting(b'<').chain(starting(b'>')), size)
}

/// `has_conflict_markers` over some lines of a text.
pub(crate) fn markers_in<'t>(lines: impl Iterator<Item = &'t [u8]>, size: usize) -> bool {
    let is_marker = |line: &[u8], c: u8| {
        line.len() >= size
            && line[..size].iter().all(|&b| b == c)
            && matches!(line.get(size), None | Some(b' ' | b'\t' | b'\r' | b'\n'))
    };
    let (mut open, mut close) = (false, false);
    for line in lines {
        open |= is_marker(line, b'<');
        close |= is_marker(line, b'>');
        if open && close {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_on_different_lines_merge_cleanly() {
        let m = merge(b"a\nb\nc\nd\n", b"A\nb\nc\nd\n", b"a\nb\nc\nD\n", 7);
        assert!(!m.conflicted);
        assert_eq!(m.output, b"A\nb\nc\nD\n");
    }

    #[test]
    fn same_line_edited_twice_leaves_markers_of_the_asked_length() {
        let m = merge(b"a\n", b"b\n", b"c\n", 9);
        assert!(m.conflicted);
        assert_eq!(
            String::from_utf8(m.output).unwrap(),
            "<<<<<<<<< ours\nb\n=========\nc\n>>>>>>>>> theirs\n"
        );
    }

    #[test]
    fn crlf_files_get_crlf_markers() {
        let m = merge(b"a\r\n", b"b\r\n", b"c\r\n", 7);
        assert_eq!(
            m.output,
            b"<<<<<<< ours\r\nb\r\n=======\r\nc\r\n>>>>>>> theirs\r\n"
        );
    }

    #[test]
    fn both_appends_are_kept_once_each() {
        let m = merge_union(b"- a\n", b"- a\n- b\n- c\n", b"- a\n- b\n- d\n").unwrap();
        assert_eq!(m, b"- a\n- b\n- c\n- d\n");
        assert_eq!(
            merge_union(b"- a\n", b"- a\n- b\n- d\n", b"- a\n- b\n- c\n").unwrap(),
            m
        );
        assert_eq!(merge_union(b"a\n", b"b\n", b"c\n"), None);
    }

    #[test]
    fn markers_need_open_and_close() {
        assert!(has_conflict_markers(
            b"<<<<<<< a\nx\n=======\ny\n>>>>>>> b\n",
            7
        ));
        assert!(!has_conflict_markers(b"Title\n=======\n", 7));
        assert!(!has_conflict_markers(b"<<<<<<<< a\n>>>>>>>> b\n", 7));
    }

    #[test]
    fn markers_are_found_as_reading_every_line_finds_them() {
        let every_line = |text: &[u8], size| markers_in(text.split(|&b| b == b'\n'), size);
        let lines = [
            "<<<<<<< ours",
            ">>>>>>> theirs",
            "<<<<<<<",
            ">>>>>>>\r",
            "<<<<<<<< x",
            "x <<<<<<<",
            " >>>>>>>",
            "=======",
            "<",
            ">",
            "",
            "a<b>c",
            "<<<<<<<\t",
            ">>>>>>>>",
        ];
        for a in lines {
            for b in lines {
                for c in ["", "\n", "x\n"] {
                    let text = format!("{c}{a}\n{b}");
                    for size in [0, 1, 7, 8] {
                        assert_eq!(
                            has_conflict_markers(text.as_bytes(), size),
                            every_line(text.as_bytes(), size),
                            "{text:?} {size}"
                        );
                    }
                }
            }
        }
    }
}
