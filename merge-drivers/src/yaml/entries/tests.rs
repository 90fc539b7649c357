//! Entries read alone give what reading the sides whole gives: the same layouts and the
//! same merges, for stores, the fixtures and random documents around the cutting.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use saphyr_parser::Parser;

use super::Entries;
use crate::sides::{Side, Sides};
use crate::yaml::read_side;
use crate::yaml::{merge_tuned, Tuning};
use crate::{Options, Policy};

/// Entries read alone at any size, their reading on two threads.
const FORCED: Tuning = Tuning {
    parallel: 0,
    entries: 0,
    min_entries: 1,
};

/// Entries read alone at any size, on one thread.
const FORCED_ONE_THREAD: Tuning = Tuning {
    parallel: usize::MAX,
    entries: 0,
    min_entries: 1,
};

/// Every side read whole.
const WHOLE: Tuning = Tuning {
    parallel: usize::MAX,
    entries: usize::MAX,
    min_entries: usize::MAX,
};

/// A side's layout as the merge sees it: its root, every container and key, and the
/// flow collections it cannot take apart.
fn layout(side: Side, text: &str, entries: Option<&Entries>) -> Option<String> {
    let (mut y, root) = read_side(side, text, 0, entries)?;
    y.parsed.seal(side);
    let mut opaque: Vec<usize> = y.opaque[side].iter().copied().collect();
    opaque.sort_unstable();
    Some(format!(
        "{root:?}\n{}\n{opaque:?}",
        y.parsed.flattened(side, text.as_bytes())
    ))
}

/// Reads base, ours and theirs whole and entry by entry: the same layouts. Returns how
/// many sides were read entry by entry.
fn same_layouts(texts: [&str; 3]) -> usize {
    let sides = Sides::from(texts);
    let entries = Entries::new(sides.map(Some), 1, false);
    let mut spliced = 0;
    for side in Side::ALL {
        let whole = layout(side, sides[side], None);
        let by_entries = layout(side, sides[side], entries.as_ref());
        assert_eq!(whole, by_entries, "side {side} of {texts:#?}");
        let e = entries.as_ref();
        spliced += usize::from(e.is_some_and(|e| e.events(side, sides[side]).is_some()));
    }
    spliced
}

/// The crate's merge of three YAML texts (the structural merge, or the line merge).
fn whole_merge(base: &str, ours: &str, theirs: &str) -> crate::Merged {
    let (base, ours, theirs) = (base.as_bytes(), ours.as_bytes(), theirs.as_bytes());
    crate::merge(crate::Kind::Yaml, base, ours, theirs, &Options::default())
}

type Outcome = Option<(String, bool, Vec<crate::Record>)>;

fn merge_with(base: &str, ours: &str, theirs: &str, tuning: Tuning) -> Outcome {
    let input = Sides::new(base, ours, theirs).map(str::as_bytes);
    merge_tuned(input, &Options::default(), tuning).map(|m| {
        let output = String::from_utf8(m.output).expect("UTF-8 in, UTF-8 out");
        (output, m.conflicted, m.records)
    })
}

/// Merges both ways, whole and entry by entry (on one thread and on two): the same
/// results. Returns the result of the first way.
fn same_merges(base: &str, ours: &str, theirs: &str) -> Outcome {
    for (o, t) in [(ours, theirs), (theirs, ours)] {
        let whole = merge_with(base, o, t, WHOLE);
        for tuning in [FORCED, FORCED_ONE_THREAD] {
            let by_entries = merge_with(base, o, t, tuning);
            assert_eq!(whole, by_entries, "{tuning:?}\n{base}\n--\n{o}\n--\n{t}");
        }
    }
    merge_with(base, ours, theirs, FORCED)
}

/// A store: a header, `memories:` holding entries at `indent`, a trailer.
fn store(indent: usize, entries: &[String]) -> String {
    let mut out = String::from("# memory\nversion: 1\nmemories:\n");
    for e in entries {
        for (i, line) in e.lines().enumerate() {
            let pad = " ".repeat(indent + if i == 0 { 0 } else { 2 });
            let dash = if i == 0 { "- " } else { "" };
            out.push_str(&format!("{pad}{dash}{line}\n"));
        }
    }
    out.push_str("settings:\n  theme: dark\n");
    out
}

fn memory(id: usize, text: &str) -> String {
    format!("id: \"m{id}\"\ntext: \"{text}\"\ntag: fact  # kind\nnote: |\n  line {id}\n")
}

/// `n` memories, each in its plain version, and their store.
fn plain_store(n: usize) -> (Vec<String>, String) {
    let mems: Vec<String> = (0..n).map(|i| memory(i, "plain")).collect();
    let base = store(2, &mems);
    (mems, base)
}

#[test]
fn a_store_read_entry_by_entry_merges_as_read_whole() {
    let (mems, base) = plain_store(6);
    let mut o = mems.clone();
    o[1] = memory(1, "edited by ours");
    o.push(memory(10, "added by ours"));
    let mut t = mems.clone();
    t[4] = memory(4, "edited by theirs");
    t.remove(2);
    let (ours, theirs) = (store(2, &o), store(2, &t));
    assert_eq!(same_layouts([&base, &ours, &theirs]), 3);
    let mut expected = mems.clone();
    expected[1] = memory(1, "edited by ours");
    expected[4] = memory(4, "edited by theirs");
    expected.remove(2);
    expected.push(memory(10, "added by ours"));
    let (output, conflicted, records) = same_merges(&base, &ours, &theirs).unwrap();
    assert_eq!(output, store(2, &expected));
    assert!(!conflicted && records.is_empty());
    // Entries at the indent of their key (a sequence without indent), and at the top.
    let top = |es: &[String]| {
        let list = store(0, es);
        list["# memory\nversion: 1\nmemories:\n".len()..].replace("settings:\n  theme: dark\n", "")
    };
    for render in [|es: &[String]| store(0, es), top] {
        let texts = [render(&mems), render(&o), render(&t)];
        assert_eq!(same_layouts([&texts[0], &texts[1], &texts[2]]), 3);
        let merged = same_merges(&texts[0], &texts[1], &texts[2]).unwrap();
        assert_eq!(merged.0, render(&expected));
    }
}

#[test]
fn an_entry_edited_on_both_sides_is_merged_inside() {
    let (mems, base) = plain_store(3);
    let (mut o, mut t) = (mems.clone(), mems.clone());
    o[1] = memory(1, "edited by ours");
    t[1] = memory(1, "plain").replace("  line 1\n", "  line 1\n  line from theirs\n");
    let merged = same_merges(&base, &store(2, &o), &store(2, &t)).unwrap();
    let mut expected = mems.clone();
    expected[1] =
        memory(1, "edited by ours").replace("  line 1\n", "  line 1\n  line from theirs\n");
    assert_eq!(merged.0, store(2, &expected));
}

#[test]
fn anchors_around_entries_still_go_to_the_line_merge() {
    let mems: Vec<String> = (0..3).map(|i| memory(i, "plain")).collect();
    let base = store(2, &mems).replace("version: 1", "defaults: &d {tag: fact}");
    // An alias in an entry to the anchor before the list; an anchor in one entry and
    // its alias in another.
    let mut aliased = mems.clone();
    aliased[1] = "<<: *d\nid: \"m1\"".to_string();
    let mut anchored = mems.clone();
    anchored[0] = "id: &first \"m0\"".to_string();
    anchored[2] = "id: \"m2\"\nsame_as: *first".to_string();
    for (ours, theirs) in [
        (
            store(2, &aliased).replace("version: 1", "defaults: &d {tag: fact}"),
            base.clone(),
        ),
        (store(2, &anchored), store(2, &mems)),
    ] {
        let mut edited = mems.clone();
        edited[2] = memory(2, "edited");
        let other = if theirs == base {
            store(2, &edited).replace("version: 1", "defaults: &d {tag: fact}")
        } else {
            store(2, &edited)
        };
        same_layouts([&theirs, &ours, &other]);
        assert_eq!(same_merges(&theirs, &ours, &other), None);
        // The line merge, as git would: both edits, the anchors kept.
        let lines = whole_merge(&theirs, &ours, &other);
        assert_eq!(lines.method, crate::Method::Lines);
        let text = String::from_utf8(lines.output).unwrap();
        assert!(text.contains("\"edited\"") && text.contains('&') && text.contains('*'));
    }
}

#[test]
fn duplicate_keys_and_ids_across_entries_merge_as_read_whole() {
    let (mems, base) = plain_store(4);
    let lines = |ours: &str, theirs: &str| {
        let m = whole_merge(&base, ours, theirs);
        assert_eq!(m.method, crate::Method::Lines);
        String::from_utf8(m.output).unwrap()
    };
    // A key twice in an entry that the other side edited: the line merge.
    let mut twice = mems.clone();
    twice[2] = format!("{}id: \"m9\"", memory(2, "plain"));
    let mut edited = mems.clone();
    edited[0] = memory(0, "edited");
    edited[2] = memory(2, "edited");
    let (ours, theirs) = (store(2, &twice), store(2, &edited));
    assert_eq!(same_merges(&base, &ours, &theirs), None);
    let merged = lines(&ours, &theirs);
    assert!(merged.contains("id: \"m9\"") && merged.contains("text: \"edited\""));
    // Not edited by the other side, the entry is the side's.
    edited[2] = memory(2, "plain");
    let merged = same_merges(&base, &ours, &store(2, &edited)).unwrap();
    let mut expected = twice.clone();
    expected[0] = memory(0, "edited");
    assert_eq!(merged.0, store(2, &expected));
    // A key before the entries repeated by a side, the other side changing the top: the
    // line merge; the top unchanged by the other side: the side's.
    let repeated = store(2, &edited).replace("version: 1\n", "version: 1\nmemories: []\n");
    let top = base.replace("version: 1", "version: 2");
    assert_eq!(same_merges(&base, &repeated, &top), None);
    let merged = lines(&repeated, &top);
    assert!(merged.contains("version: 2\n") && merged.contains("memories: []\n"));
    assert_eq!(same_merges(&base, &repeated, &base).unwrap().0, repeated);
    // An id that another entry holds (the list is no longer keyed by it): merged as a
    // sequence, the same whole or entry by entry.
    let mut copied = mems.clone();
    copied.push(memory(1, "plain"));
    let merged = same_merges(&base, &store(2, &copied), &store(2, &edited)).unwrap();
    let mut expected = edited.clone();
    expected.push(memory(1, "plain"));
    assert_eq!(merged.0, store(2, &expected));
}

#[test]
fn crlf_bom_and_comments_between_entries() {
    let (mems, base) = plain_store(4);
    let mut o = mems.clone();
    o[3] = memory(3, "edited by ours");
    // A comment above an entry (at the dash's column and at column 0) goes with it.
    let commented = base
        .replace("  - id: \"m2\"", "  # about m2\n  - id: \"m2\"")
        .replace("  - id: \"m1\"", "# about m1\n  - id: \"m1\"");
    let crlf = |s: &str| s.replace('\n', "\r\n");
    let bom = |s: &str| format!("\u{feff}{s}");
    let ours = store(2, &o);
    let expected = store(2, &o)
        .replace("  - id: \"m2\"", "  # about m2\n  - id: \"m2\"")
        .replace("  - id: \"m1\"", "# about m1\n  - id: \"m1\"");
    assert_eq!(same_layouts([&base, &ours, &commented]), 3);
    assert_eq!(same_merges(&base, &ours, &commented).unwrap().0, expected);
    let crlf_texts = [crlf(&base), crlf(&ours), crlf(&commented)];
    assert_eq!(
        same_layouts([&crlf_texts[0], &crlf_texts[1], &crlf_texts[2]]),
        3
    );
    let merged = same_merges(&crlf_texts[0], &crlf_texts[1], &crlf_texts[2]).unwrap();
    assert_eq!(merged.0, crlf(&expected));
    let merged = same_merges(&bom(&base), &bom(&ours), &bom(&commented)).unwrap();
    assert_eq!(merged.0, bom(&expected));
    // A comment line inside an entry, left of its dash.
    let inside = base.replace(
        "    tag: fact  # kind\n    note: |\n      line 1",
        "# inside m1\n    tag: fact  # kind\n    note: |\n      line 1",
    );
    assert_eq!(same_layouts([&base, &ours, &inside]), 3);
    let merged = same_merges(&base, &ours, &inside).unwrap();
    assert!(merged.0.contains("# inside m1\n") && merged.0.contains("edited by ours"));
}

#[test]
fn entries_that_cannot_be_read_alone_are_read_in_place() {
    let (mems, base) = plain_store(4);
    let mut edited = mems.clone();
    edited[0] = memory(0, "edited");
    let ours = store(2, &edited);
    for theirs in [
        // A quoted text whose next line looks like an entry.
        base.replace(
            "text: \"plain\"\n    tag: fact  # kind\n    note: |\n      line 2\n",
            "text: \"two\n  - lines\"\n",
        ),
        // A block kept with its blank lines, before the next entry.
        base.replace("note: |\n      line 1\n", "note: |+\n      line 1\n\n\n"),
        // A line after an entry that starts with a tab.
        base.replace("  - id: \"m3\"", "\t# tab\n  - id: \"m3\""),
        // A line at the entries' indent that is not an entry.
        base.replace("  - id: \"m3\"", "  other: 1\n  - id: \"m3\""),
        // Documents.
        base.replace("  - id: \"m3\"", "---\n  - id: \"m3\""),
        base.replace("  - id: \"m3\"", "...\n  - id: \"m3\""),
        // An entry with no line break at the end of the text.
        store(2, &mems)
            .replace("settings:\n  theme: dark\n", "")
            .trim_end()
            .to_string(),
        // A lone carriage return.
        base.replace("line 1\n", "line 1\r"),
    ] {
        same_layouts([&base, &ours, &theirs]);
        same_merges(&base, &ours, &theirs);
    }
}

#[test]
fn the_result_is_checked_entry_by_entry() {
    let mems: Vec<String> = (0..4).map(|i| memory(i, "plain")).collect();
    let texts = [store(2, &mems), store(2, &mems[1..]), store(2, &mems[..3])];
    let entries = Entries::new(
        Sides::from([&texts[0], &texts[1], &texts[2]]).map(|t| Some(t.as_str())),
        1,
        false,
    )
    .expect("entries");
    assert!(entries.valid(&store(2, &mems[1..3])));
    // A new entry, read alone.
    assert!(entries.valid(&store(2, &[memory(7, "new"), mems[0].clone()])));
    // Not YAML: never said valid.
    let broken = store(2, &mems).replace("text: \"plain\"\n    tag", "text: \"plain\n    tag");
    assert!(!entries.valid(&broken));
    assert!(!entries.valid(&store(2, &mems).replace("settings:", "settings: [")));
}

#[test]
fn the_fixtures_merge_entry_by_entry_as_whole() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/merge/yaml");
    let mut cases = 0;
    for dir in std::fs::read_dir(&root).expect("the YAML fixtures") {
        let dir = dir.unwrap().path();
        let read = |name: &str| std::fs::read(dir.join(name)).unwrap();
        let (base, ours, theirs) = (read("base"), read("ours"), read("theirs"));
        for policy in [Policy::Journal, Policy::Ours, Policy::Theirs] {
            let options = Options {
                policy,
                ..Options::default()
            };
            for (o, t) in [(&ours, &theirs), (&theirs, &ours)] {
                let run = |tuning| {
                    merge_tuned(Sides::new(&base[..], o, t), &options, tuning)
                        .map(|m| (m.output, m.conflicted, m.records))
                };
                let whole = run(WHOLE);
                assert_eq!(whole, run(FORCED), "{}", dir.display());
                assert_eq!(whole, run(FORCED_ONE_THREAD), "{}", dir.display());
            }
        }
        cases += 1;
    }
    assert!(cases >= 15);
}

// Random documents around the cutting: entries of every kind of YAML node (plain,
// quoted and block scalars, continued lines, flow collections, nested mappings and
// sequences, empty values, comments at every column), at indents 0 (a sequence at the
// indent of its key), 2 and 4, CRLF, a missing final newline; and now and then a line
// that breaks the rules (tabs, document markers, directives, anchors, aliases, tags,
// unclosed quotes and brackets, a lone carriage return).

/// Choices for a rendering, from random bytes.
struct Choices<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Choices<'_> {
    fn pick(&mut self, n: usize) -> usize {
        let b = self.bytes.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        b as usize % n
    }
}

const NOISE: &[&str] = &[
    "\tk: v",
    "\t",
    "...",
    "---",
    "%YAML 1.2",
    "k: &x 1",
    "k: *x",
    "!t v",
    "? complex",
    ": v",
    "k: \"open",
    "k: [1,",
    "- ",
    "-",
    "k: v\r",
    "  - x",
    "x",
    "# c",
    "",
];

/// What follows `key:` or `-` on its line (and the lines below, at `col`).
fn node(c: &mut Choices, col: usize, depth: usize) -> String {
    let pad = " ".repeat(col);
    let comment = [" # c", "", "", ""][c.pick(4)];
    match c.pick(if depth > 2 { 7 } else { 10 }) {
        0 => [" x", " a b", " 12", " true", " x:y"][c.pick(5)].to_string() + comment + "\n",
        1 => {
            [" \"q\"", " 'it''s'", " \"a\\\"b\"", " \"é→\""][c.pick(4)].to_string() + comment + "\n"
        }
        2 => format!(" \"a\n{pad}b\"{comment}\n"),
        3 => format!(" a\n{pad}b{comment}\n"),
        4 => {
            let mut out =
                [" |", " |-", " |+", " >", " >-", " |2"][c.pick(6)].to_string() + comment + "\n";
            for _ in 0..c.pick(4) {
                out += &[
                    format!("{pad}line\n"),
                    "\n".into(),
                    format!("{pad}  more\n"),
                    format!("{pad}# not a comment\n"),
                ][c.pick(4)];
            }
            out
        }
        5 => comment.to_string() + "\n",
        6 => {
            [" [a, b]", " {k: v, l: [1]}", " []", " {}"][c.pick(4)].to_string()
                + comment
                + "\n"
                + &[String::new(), String::new()][c.pick(2)]
        }
        7 => format!(" [a,\n{pad}b]\n"),
        8 => "\n".to_string() + &mapping(c, col, depth + 1),
        _ => {
            let mut out = "\n".to_string();
            for _ in 0..1 + c.pick(3) {
                out += &format!("{pad}-{}", item(c, col + 2, depth + 1));
            }
            out
        }
    }
}

/// Members of a mapping at `col`, each on a line of its own.
fn mapping(c: &mut Choices, col: usize, depth: usize) -> String {
    let mut out = String::new();
    for k in 0..1 + c.pick(3) {
        if c.pick(5) == 0 {
            out += &format!("{}# note\n", " ".repeat([0, col, col + 1][c.pick(3)]));
        }
        out += &format!("{}k{k}:{}", " ".repeat(col), node(c, col + 2, depth));
    }
    out
}

/// What follows the dash of an entry whose content is at `col`: a mapping starting on
/// the dash's line, or any node.
fn item(c: &mut Choices, col: usize, depth: usize) -> String {
    if c.pick(2) == 0 {
        let first = format!(" id:{}", node(c, col + 2, depth));
        let rest = mapping(c, col, depth);
        first + &rest
    } else {
        node(c, col, depth)
    }
}

/// An entry at `indent`, with blank and comment lines after it now and then.
fn random_entry(bytes: &[u8], indent: usize) -> String {
    let c = &mut Choices { bytes, at: 0 };
    let mut out = format!("{}-{}", " ".repeat(indent), item(c, indent + 2, 0));
    match c.pick(6) {
        0 => out += "\n",
        1 => {
            out += &format!(
                "{}# after\n",
                " ".repeat([0, indent, indent + 2][c.pick(3)])
            )
        }
        2 => out += "  \n",
        _ => {}
    }
    out
}

/// A document: `head`, `list:` and the entries at `indent`, `tail` (or the entries
/// alone, at the top); a line of `NOISE` at `noise` if that is a line.
fn render(
    indent: usize,
    entries: &[String],
    top: bool,
    noise: (usize, usize),
    crlf: bool,
    end: bool,
) -> String {
    let mut lines: Vec<String> = Vec::new();
    if !top {
        lines.extend(["# top".into(), "head: 1".into(), "list:".into()]);
    }
    for e in entries {
        lines.extend(e.lines().map(str::to_string));
    }
    if !top {
        lines.push("tail: 2".into());
    }
    if let (Some(line), Some(&text)) = (noise.0.checked_sub(1), NOISE.get(noise.1)) {
        let column = " ".repeat([0, indent, indent + 2][line % 3]);
        lines.insert(line % (lines.len() + 1), column + text);
    }
    let mut out = lines.join("\n") + "\n";
    if !end {
        out.pop();
    }
    if crlf {
        out = out.replace('\n', "\r\n");
    }
    out
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(256),
        failure_persistence: None,
        // The same cases on every run; `PROPTEST_RNG_SEED=N` for others.
        rng_seed: if std::env::var_os("PROPTEST_RNG_SEED").is_some() {
            ProptestConfig::default().rng_seed
        } else {
            proptest::test_runner::RngSeed::Fixed(0x7a31_e17e)
        },
        ..ProptestConfig::default()
    }
}

fn document() -> impl Strategy<Value = (Vec<Vec<u8>>, usize, bool)> {
    (
        vec(vec(any::<u8>(), 0..40), 1..8),
        prop_oneof![Just(0usize), Just(2), Just(4)],
        any::<bool>(),
    )
}

/// The random documents below are read entry by entry often enough to test it.
#[test]
fn random_documents_are_often_read_entry_by_entry() {
    let mut runner = proptest::test_runner::TestRunner::new(config());
    let (mut documents, mut spliced) = (0, 0);
    for _ in 0..300 {
        let (pool, indent, top) = document().new_tree(&mut runner).unwrap().current();
        let entries: Vec<String> = pool.iter().map(|b| random_entry(b, indent)).collect();
        let text = render(indent, &entries, top, (0, 0), false, true);
        documents += 1;
        spliced += same_layouts([&text, &text, &text]) / 3;
    }
    eprintln!("{spliced} of {documents} read entry by entry");
    assert!(spliced * 2 >= documents, "{spliced} of {documents}");
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn entries_read_alone_read_as_whole(
        (pool, indent, top) in document(),
        sides in [vec(0usize..8, 0..8), vec(0usize..8, 0..8), vec(0usize..8, 0..8)],
        noise in [
            (0usize..40, 0usize..NOISE.len() * 4),
            (0usize..40, 0usize..NOISE.len() * 4),
            (0usize..40, 0usize..NOISE.len() * 4),
        ],
        crlf in any::<bool>(),
        end in any::<bool>(),
    ) {
        let entries: Vec<String> = pool.iter().map(|b| random_entry(b, indent)).collect();
        let mut side = 0;
        let texts = sides.map(|chosen| {
            let chosen: Vec<String> = chosen.iter().map(|&i| entries[i % entries.len()].clone()).collect();
            side += 1;
            render(indent, &chosen, top, noise[side - 1], crlf, end)
        });
        same_layouts([&texts[0], &texts[1], &texts[2]]);
        same_merges(&texts[0], &texts[1], &texts[2]);
        // What the entries say of a text's validity, the text says too.
        let e = Entries::new(Sides::from([&texts[0], &texts[1], &texts[2]]).map(|t| Some(t.as_str())), 1, false);
        if let Some(e) = e {
            for text in &texts {
                if e.valid(text) {
                    prop_assert!(Parser::new_from_str(text).all(|event| event.is_ok()));
                }
            }
        }
    }

    #[test]
    fn plain_stores_are_read_entry_by_entry(
        sides in [vec(0usize..12, 1..12), vec(0usize..12, 1..12), vec(0usize..12, 1..12)],
        edits in vec((0usize..12, 0usize..3), 0..4),
        indent in prop_oneof![Just(0usize), Just(2), Just(4)],
    ) {
        let texts = sides.map(|side| {
            let mems: Vec<String> = side.iter().map(|&i| {
                let edit = edits.iter().find(|e| e.0 == i).map_or(0, |e| e.1);
                memory(i, ["plain", "edited", "other"][edit])
            }).collect();
            store(indent, &mems)
        });
        prop_assert_eq!(same_layouts([&texts[0], &texts[1], &texts[2]]), 3);
        same_merges(&texts[0], &texts[1], &texts[2]);
    }
}
