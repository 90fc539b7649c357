//! Property tests of the Markdown merge (README "markdown").
//!
//! A model document (optional front matter; sections with ATX or setext headings, each holding
//! bullet lists, paragraphs and the odd fenced code block with a `# comment` line in it) is
//! rendered with LF or CRLF; two random edit scripts (append bullets, add a section, edit a
//! bullet, delete one, a few or all of a section's bullets, edit a paragraph line, drop the
//! front matter) make ours and theirs. Every bullet and paragraph line carries an identity in
//! the model, so what the merge must hold is known exactly:
//!
//! - a bullet (or line) untouched by both sides: exactly once;
//! - deleted by one side, untouched by the other: gone;
//! - added by one side: exactly once;
//! - edited by one side, untouched or deleted by the other: the edit, exactly once, and the
//!   base text gone (json rule 4: what either side added is kept; modify beats delete);
//! - edited differently by both sides (the only genuine collision): both versions, once each
//!   (markdown rule 5, `keep-both`), the base text gone; for a paragraph both edited on one
//!   line, both versions of the paragraph; on different lines, a line-by-line merge.
//!
//! Plus: no panic, symmetry byte for byte, no conflict, headings once each, code blocks
//! verbatim, dropped front matter gone, line endings kept, merge(B, X, X) = X and
//! merge(B, B, X) = merge(B, X, B) = X; bullets both sides added where the base has nothing to
//! match them (a section of the same name, text before the first heading, a new file): once
//! each, symmetric. A last property mangles the rendered documents line by line (stray
//! fences, setext underlines, nested lists, tables, HTML) and asks only for no panic,
//! symmetry and merge(B, X, X) = X.
//!
//! 256 cases per property, a few seconds in a debug build; `PROPTEST_CASES=N` and
//! `PROPTEST_RNG_SEED=N` for more.

mod common;

use std::collections::{BTreeSet, HashMap};

use common::config;
use merge_drivers::{merge, Kind, Merged, Options};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{select, Index};

// ───────────────────────────── the model ─────────────────────────────

/// A bullet or a paragraph line: an identity that survives edits, and its current text.
#[derive(Clone, Debug)]
struct Item {
    id: String,
    text: String,
}

#[derive(Clone, Debug)]
enum Block {
    List(Vec<Item>),
    /// A paragraph, one item per line.
    Para(Vec<Item>),
    /// A fenced code block (never edited).
    Code(usize),
}

#[derive(Clone, Debug)]
struct Section {
    level: u8,
    title: String,
    setext: bool,
    blocks: Vec<Block>,
}

#[derive(Clone, Debug)]
struct Doc {
    /// YAML front matter (the lines between the `---` fences), never edited, maybe dropped.
    front: Option<Vec<String>>,
    sections: Vec<Section>,
}

const FRONT: [&str; 2] = ["title: Memory notes", "updated: 2025-03-01"];

#[derive(Clone, Copy, Debug)]
struct Style {
    crlf: bool,
    /// No blank line between a heading and its first block.
    tight: bool,
}

impl Style {
    fn eol(self) -> &'static str {
        if self.crlf {
            "\r\n"
        } else {
            "\n"
        }
    }
}

fn heading_lines(s: &Section) -> Vec<String> {
    if s.setext {
        let under = if s.level == 1 { "=" } else { "-" };
        vec![s.title.clone(), under.repeat(s.title.len())]
    } else {
        vec![format!("{} {}", "#".repeat(s.level as usize), s.title)]
    }
}

/// The line that identifies a heading in the output (setext: the title line).
fn heading_key(s: &Section) -> String {
    heading_lines(s).swap_remove(0)
}

fn code_lines(c: usize) -> Vec<String> {
    vec![
        "```sh".into(),
        format!("# comment-{c}"),
        format!("make step-{c}"),
        "```".into(),
    ]
}

fn render(doc: &Doc, style: Style) -> Vec<u8> {
    let mut lines: Vec<String> = Vec::new();
    if let Some(front) = &doc.front {
        lines.push("---".into());
        lines.extend(front.iter().cloned());
        lines.push("---".into());
    }
    for (i, s) in doc.sections.iter().enumerate() {
        if i > 0 {
            lines.push(String::new());
        }
        lines.extend(heading_lines(s));
        let mut first = true;
        for b in &s.blocks {
            let body: Vec<String> = match b {
                Block::List(items) => items.iter().map(|it| format!("- {}", it.text)).collect(),
                Block::Para(items) => items.iter().map(|it| it.text.clone()).collect(),
                Block::Code(c) => code_lines(*c),
            };
            if body.is_empty() {
                continue;
            }
            if !(first && style.tight) {
                lines.push(String::new());
            }
            first = false;
            lines.extend(body);
        }
    }
    let eol = style.eol();
    let mut out = lines.join(eol);
    out.push_str(eol);
    out.into_bytes()
}

// ───────────────────────────── generation ─────────────────────────────

#[derive(Clone, Debug)]
enum Shape {
    List(usize),
    Para(usize),
    Code,
}

fn build(front: bool, spec: Vec<(u8, bool, Vec<Shape>)>) -> Doc {
    let (mut nb, mut np, mut nc) = (0, 0, 0);
    let mut sections = Vec::new();
    for (i, (level, setext, shapes)) in spec.into_iter().enumerate() {
        let mut blocks: Vec<Block> = Vec::new();
        for shape in shapes {
            match shape {
                Shape::List(n) => {
                    let items: Vec<Item> = (0..n)
                        .map(|_| {
                            nb += 1;
                            Item {
                                id: format!("b{nb}"),
                                text: format!("note-{nb}"),
                            }
                        })
                        .collect();
                    // Two lists in a row would be one list: keep them one block.
                    if let Some(Block::List(prev)) = blocks.last_mut() {
                        prev.extend(items);
                    } else {
                        blocks.push(Block::List(items));
                    }
                }
                Shape::Para(n) => {
                    np += 1;
                    blocks.push(Block::Para(
                        (1..=n)
                            .map(|j| Item {
                                id: format!("p{np}.{j}"),
                                text: format!("para-{np} line-{j}"),
                            })
                            .collect(),
                    ));
                }
                Shape::Code => {
                    nc += 1;
                    blocks.push(Block::Code(nc));
                }
            }
        }
        sections.push(Section {
            level,
            title: format!("Topic {}", i + 1),
            setext: setext && level <= 2,
            blocks,
        });
    }
    Doc {
        front: front.then(|| FRONT.map(String::from).to_vec()),
        sections,
    }
}

fn doc() -> impl Strategy<Value = Doc> {
    let shape = prop_oneof![
        5 => (1usize..=4).prop_map(Shape::List),
        3 => (1usize..=3).prop_map(Shape::Para),
        1 => Just(Shape::Code),
    ];
    let section = (1u8..=3, prop::bool::weighted(0.3), vec(shape, 0..=4));
    (prop::bool::weighted(0.25), vec(section, 1..=5)).prop_map(|(front, spec)| build(front, spec))
}

fn style() -> impl Strategy<Value = Style> {
    (prop::bool::weighted(0.25), prop::bool::weighted(0.3))
        .prop_map(|(crlf, tight)| Style { crlf, tight })
}

#[derive(Clone, Debug)]
enum Op {
    /// Bullets at the end of a list of a section (a new list if it has none).
    Append {
        section: Index,
        list: Index,
        count: usize,
    },
    /// A new section where it reparents nothing (before a section of its level or a higher
    /// one, or at the end), with some bullets and maybe a paragraph.
    AddSection {
        at: Index,
        level: u8,
        setext: bool,
        bullets: usize,
        para: bool,
    },
    EditBullet(Index),
    /// Up to `count` bullets of one list, from a chosen one on.
    DeleteBullets(Index, usize),
    /// Every bullet of a section.
    ClearSection(Index),
    /// The front matter, fences and all.
    DropFront,
    EditLine(Index),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (any::<Index>(), any::<Index>(), 1usize..=3)
            .prop_map(|(section, list, count)| Op::Append { section, list, count }),
        1 => (any::<Index>(), 1u8..=3, prop::bool::weighted(0.3), 0usize..=3, any::<bool>())
            .prop_map(|(at, level, setext, bullets, para)| Op::AddSection {
                at,
                level,
                setext: setext && level <= 2,
                bullets,
                para,
            }),
        2 => any::<Index>().prop_map(Op::EditBullet),
        2 => (any::<Index>(), prop_oneof![3 => Just(1usize), 1 => 2usize..=4])
            .prop_map(|(i, n)| Op::DeleteBullets(i, n)),
        1 => any::<Index>().prop_map(Op::ClearSection),
        1 => Just(Op::DropFront),
        2 => any::<Index>().prop_map(Op::EditLine),
    ]
}

/// One side's fresh names: `o3`, `t7`.
struct Namer {
    tag: char,
    next: usize,
}

impl Namer {
    fn fresh(&mut self) -> String {
        self.next += 1;
        format!("{}{}", self.tag, self.next)
    }
}

/// Positions (section, block, item) of every bullet or every paragraph line.
fn items_of(doc: &Doc, bullets: bool) -> Vec<(usize, usize, usize)> {
    let mut out = Vec::new();
    for (s, sec) in doc.sections.iter().enumerate() {
        for (b, block) in sec.blocks.iter().enumerate() {
            let items = match (block, bullets) {
                (Block::List(items), true) | (Block::Para(items), false) => items,
                _ => continue,
            };
            for i in 0..items.len() {
                out.push((s, b, i));
            }
        }
    }
    out
}

/// The items of the list or paragraph at `(s, b, _)`.
fn item_mut(doc: &mut Doc, (s, b, _): (usize, usize, usize)) -> &mut Vec<Item> {
    match &mut doc.sections[s].blocks[b] {
        Block::List(items) | Block::Para(items) => items,
        Block::Code(_) => unreachable!(),
    }
}

fn apply(doc: &mut Doc, op: &Op, names: &mut Namer) {
    match op {
        Op::Append {
            section,
            list,
            count,
        } => {
            let at = section.index(doc.sections.len());
            let sec = &mut doc.sections[at];
            let lists: Vec<usize> = (0..sec.blocks.len())
                .filter(|&b| matches!(sec.blocks[b], Block::List(_)))
                .collect();
            let new: Vec<Item> = (0..*count)
                .map(|_| {
                    let n = names.fresh();
                    Item {
                        text: format!("note-{n}"),
                        id: n,
                    }
                })
                .collect();
            if lists.is_empty() {
                sec.blocks.push(Block::List(new));
            } else if let Block::List(items) = &mut sec.blocks[lists[list.index(lists.len())]] {
                items.extend(new);
            }
        }
        Op::AddSection {
            at,
            level,
            setext,
            bullets,
            para,
        } => {
            let spots: Vec<usize> = (0..=doc.sections.len())
                .filter(|&i| i == doc.sections.len() || doc.sections[i].level <= *level)
                .collect();
            let n = names.fresh();
            let mut blocks = Vec::new();
            if *bullets > 0 {
                blocks.push(Block::List(
                    (0..*bullets)
                        .map(|_| {
                            let b = names.fresh();
                            Item {
                                text: format!("note-{b}"),
                                id: b,
                            }
                        })
                        .collect(),
                ));
            }
            if *para {
                blocks.push(Block::Para(vec![Item {
                    id: format!("{n}.1"),
                    text: format!("para-{n} line-1"),
                }]));
            }
            doc.sections.insert(
                spots[at.index(spots.len())],
                Section {
                    level: *level,
                    title: format!("Topic {n}"),
                    setext: *setext,
                    blocks,
                },
            );
        }
        Op::EditBullet(which) | Op::EditLine(which) => {
            let all = items_of(doc, matches!(op, Op::EditBullet(_)));
            if all.is_empty() {
                return;
            }
            let at = all[which.index(all.len())];
            let suffix = names.fresh();
            let item = &mut item_mut(doc, at)[at.2];
            item.text = format!("{} {suffix}", item.text);
        }
        Op::DeleteBullets(which, count) => {
            let all = items_of(doc, true);
            if all.is_empty() {
                return;
            }
            let at = all[which.index(all.len())];
            let items = item_mut(doc, at);
            let end = (at.2 + count).min(items.len());
            items.drain(at.2..end);
        }
        Op::DropFront => doc.front = None,
        Op::ClearSection(which) => {
            let at = which.index(doc.sections.len());
            for b in &mut doc.sections[at].blocks {
                if let Block::List(items) = b {
                    items.clear();
                }
            }
        }
    }
}

// ───────────────────────────── a case ─────────────────────────────

struct Case {
    docs: [Doc; 3],
    style: Style,
    bytes: [Vec<u8>; 3],
}

const B: usize = 0;
const O: usize = 1;
const T: usize = 2;

impl Case {
    fn new(base: Doc, style: Style, ours: &[Op], theirs: &[Op]) -> Case {
        let mut o = base.clone();
        let mut names = Namer { tag: 'o', next: 0 };
        for op in ours {
            apply(&mut o, op, &mut names);
        }
        let mut t = base.clone();
        let mut names = Namer { tag: 't', next: 0 };
        for op in theirs {
            apply(&mut t, op, &mut names);
        }
        let bytes = [render(&base, style), render(&o, style), render(&t, style)];
        Case {
            docs: [base, o, t],
            style,
            bytes,
        }
    }

    fn merge(&self) -> Merged {
        run(&self.bytes[B], &self.bytes[O], &self.bytes[T])
    }

    fn context(&self) -> String {
        format!(
            "\n--- base\n{}--- ours\n{}--- theirs\n{}",
            show(&self.bytes[B]),
            show(&self.bytes[O]),
            show(&self.bytes[T])
        )
    }
}

fn case() -> impl Strategy<Value = Case> {
    (doc(), style(), vec(op(), 0..=5), vec(op(), 0..=5))
        .prop_map(|(base, style, o, t)| Case::new(base, style, &o, &t))
}

impl std::fmt::Debug for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.context())
    }
}

fn run(base: &[u8], ours: &[u8], theirs: &[u8]) -> Merged {
    merge(Kind::Markdown, base, ours, theirs, &Options::default())
}

/// Text with the line endings made visible.
fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(b).replace('\r', "␍")
}

fn lines(out: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(out)
        .split('\n')
        .map(|l| l.trim_end_matches('\r').to_owned())
        .collect()
}

fn count_lines(lines: &[String], want: &str) -> usize {
    lines.iter().filter(|l| *l == want).count()
}

fn count_sub(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).filter(|w| *w == needle).count()
}

// ───────────────────────────── what must hold ─────────────────────────────

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Prop {
    Added,
    Deleted,
    Untouched,
    EditedOnce,
    BothEdited,
    /// Lines of one paragraph edited by the two sides, no line by both.
    LineMerge,
    Headings,
    Code,
    Front,
}

/// Every bullet (`bullets`) or paragraph line, by identity, with its text.
fn texts(doc: &Doc, bullets: bool) -> HashMap<String, String> {
    items_of(doc, bullets)
        .into_iter()
        .map(|(s, b, i)| match &doc.sections[s].blocks[b] {
            Block::List(items) | Block::Para(items) => (items[i].id.clone(), items[i].text.clone()),
            Block::Code(_) => unreachable!(),
        })
        .collect()
}

/// Every paragraph by identity (`p3`, `o2`), with its lines.
fn paragraphs(doc: &Doc) -> HashMap<String, Vec<Item>> {
    let mut out = HashMap::new();
    for s in &doc.sections {
        for b in &s.blocks {
            if let Block::Para(items) = b {
                out.insert(para_of(&items[0].id).to_owned(), items.clone());
            }
        }
    }
    out
}

/// The paragraph a line's identity belongs to: `p3.2` → `p3`.
fn para_of(id: &str) -> &str {
    id.split('.').next().unwrap_or(id)
}

fn side_name(side: usize) -> &'static str {
    ["base", "ours", "theirs"][side]
}

/// `v` if it differs from the base text `vb`.
fn changed<'a>(v: Option<&'a String>, vb: &String) -> Option<&'a String> {
    v.filter(|v| *v != vb)
}

/// The failures of `out` against the model, each under the property it breaks.
fn failures(c: &Case, out: &[u8]) -> Vec<(Prop, String)> {
    let ls = lines(out);
    let mut f = Vec::new();
    // Paragraphs both sides edited: on a common line, a genuine collision (both versions of
    // the paragraph kept, rule 5); on different lines, a line-by-line merge (own property).
    let paras = [B, O, T].map(|s| paragraphs(&c.docs[s]));
    let mut para_prop: HashMap<String, Prop> = HashMap::new();
    for (pid, base_lines) in &paras[B] {
        let edited = |side: usize| -> BTreeSet<usize> {
            let Some(ls) = paras[side].get(pid) else {
                return BTreeSet::new();
            };
            (0..ls.len())
                .filter(|&j| ls[j].text != base_lines[j].text)
                .collect()
        };
        let (eo, et) = (edited(O), edited(T));
        if eo.is_empty() || et.is_empty() {
            continue;
        }
        if eo.intersection(&et).next().is_some() {
            para_prop.insert(pid.clone(), Prop::BothEdited);
            for side in [O, T] {
                let want: Vec<String> = paras[side][pid].iter().map(|it| it.text.clone()).collect();
                let n = ls.windows(want.len()).filter(|w| *w == &want[..]).count();
                if n != 1 {
                    f.push((
                        Prop::BothEdited,
                        format!(
                            "paragraph {pid} as {} is there {n} times, want once",
                            side_name(side)
                        ),
                    ));
                }
            }
        } else {
            para_prop.insert(pid.clone(), Prop::LineMerge);
        }
    }
    for bullets in [true, false] {
        let kind = if bullets { "bullet" } else { "line" };
        let line = |text: &str| {
            if bullets {
                format!("- {text}")
            } else {
                text.to_owned()
            }
        };
        let [b, o, t] = [B, O, T].map(|s| texts(&c.docs[s], bullets));
        let ids: BTreeSet<&String> = b.keys().chain(o.keys()).chain(t.keys()).collect();
        for id in ids {
            let para = para_prop.get(para_of(id)).copied();
            if !bullets && para == Some(Prop::BothEdited) {
                continue;
            }
            let (vb, vo, vt) = (b.get(id), o.get(id), t.get(id));
            // (property, texts that must be there exactly once, texts that must be gone)
            let (mut prop, once, gone): (Prop, Vec<&String>, Vec<&String>) = match vb {
                None => (Prop::Added, vo.into_iter().chain(vt).collect(), vec![]),
                Some(vb) => match (vo, vt) {
                    (Some(x), Some(y)) if x == vb && y == vb => (Prop::Untouched, vec![vb], vec![]),
                    (None, None) => (Prop::Deleted, vec![], vec![vb]),
                    (None, Some(x)) | (Some(x), None) if x == vb => {
                        (Prop::Deleted, vec![], vec![vb])
                    }
                    (Some(x), Some(y)) if x != vb && y != vb => {
                        (Prop::BothEdited, vec![x, y], vec![vb])
                    }
                    _ => (
                        Prop::EditedOnce,
                        changed(vo, vb).into_iter().chain(changed(vt, vb)).collect(),
                        vec![vb],
                    ),
                },
            };
            if !bullets && para == Some(Prop::LineMerge) {
                prop = Prop::LineMerge;
            }
            for text in once {
                let n = count_lines(&ls, &line(text));
                if n != 1 {
                    f.push((
                        prop,
                        format!("{kind} {id} `{text}` is there {n} times, want once"),
                    ));
                }
            }
            for text in gone {
                let n = count_lines(&ls, &line(text));
                if n != 0 {
                    f.push((
                        prop,
                        format!("{kind} {id} `{text}` is there {n} times, want gone"),
                    ));
                }
            }
        }
    }
    // Sections are never deleted: every heading once.
    let mut headings: BTreeSet<String> = BTreeSet::new();
    for d in &c.docs {
        headings.extend(d.sections.iter().map(heading_key));
    }
    for h in headings {
        let n = count_lines(&ls, &h);
        if n != 1 {
            f.push((Prop::Headings, format!("heading `{h}` is there {n} times")));
        }
    }
    // Front matter: at the top if both sides kept it, else gone (fences too).
    if c.docs[B].front.is_some() {
        let kept = c.docs[O].front.is_some() && c.docs[T].front.is_some();
        let text = String::from_utf8_lossy(out);
        let want = format!("---\n{}\n---\n", FRONT.join("\n"));
        let at_top = text.replace('\r', "").starts_with(&want);
        let fences = count_lines(&ls, "---");
        let keys = FRONT.iter().map(|k| count_lines(&ls, k)).sum::<usize>();
        if kept && (!at_top || keys != FRONT.len()) {
            f.push((
                Prop::Front,
                "the front matter both sides kept is not at the top once".into(),
            ));
        }
        if !kept && (fences > 0 || keys > 0) {
            f.push((
                Prop::Front,
                format!(
                    "the front matter a side dropped is back: {fences} fence lines, {keys} keys"
                ),
            ));
        }
    }
    // Code blocks are never edited: verbatim, once.
    for s in &c.docs[B].sections {
        for b in &s.blocks {
            if let Block::Code(n) = b {
                let text = code_lines(*n).join(c.style.eol());
                let k = count_sub(out, text.as_bytes());
                if k != 1 {
                    f.push((
                        Prop::Code,
                        format!("code block {n} is there verbatim {k} times, want once"),
                    ));
                }
            }
        }
    }
    f
}

fn check(c: &Case, props: &[Prop]) -> Result<(), TestCaseError> {
    let m = c.merge();
    let got: Vec<String> = failures(c, &m.output)
        .into_iter()
        .filter(|(p, _)| props.contains(p))
        .map(|(p, msg)| format!("{p:?}: {msg}"))
        .collect();
    prop_assert!(
        got.is_empty(),
        "{}{}--- merged\n{}",
        got.join("\n"),
        c.context(),
        show(&m.output)
    );
    Ok(())
}

// ───────────────────────────── mangling ─────────────────────────────

const ODD_LINES: &[&str] = &[
    "",
    "```",
    "~~~",
    "```sh",
    "# x",
    "## Topic 1",
    "#",
    "#no-space",
    "Topic 1",
    "===",
    "---",
    "***",
    "- a",
    "- note-1",
    "  - nested",
    "    indented code",
    "1. first",
    "2) second",
    "* star",
    "+ plus",
    "- [ ] task",
    "> quote",
    "> - quoted item",
    "| a | b |",
    "|---|---|",
    "<div>",
    "</div>",
    "<!-- note -->",
    "text with trailing space  ",
    "\t- tab item",
    "café → λ",
    "[link]: https://example.com",
];

#[derive(Clone, Debug)]
enum Mangle {
    Delete(Index),
    Insert(Index, &'static str),
    Replace(Index, &'static str),
    Duplicate(Index),
}

fn mangle() -> impl Strategy<Value = Mangle> {
    prop_oneof![
        any::<Index>().prop_map(Mangle::Delete),
        (any::<Index>(), select(ODD_LINES)).prop_map(|(i, l)| Mangle::Insert(i, l)),
        (any::<Index>(), select(ODD_LINES)).prop_map(|(i, l)| Mangle::Replace(i, l)),
        any::<Index>().prop_map(Mangle::Duplicate),
    ]
}

/// `text` with its lines mangled; `cut` drops the final newline.
fn mangled(text: &[u8], eol: &str, ms: &[Mangle], cut: bool) -> Vec<u8> {
    let s = String::from_utf8_lossy(text);
    let mut ls: Vec<String> = s
        .strip_suffix(eol)
        .unwrap_or(&s)
        .split(eol)
        .map(str::to_owned)
        .collect();
    for m in ms {
        match m {
            Mangle::Delete(i) if !ls.is_empty() => {
                ls.remove(i.index(ls.len()));
            }
            Mangle::Insert(i, l) => ls.insert(i.index(ls.len() + 1), (*l).to_owned()),
            Mangle::Replace(i, l) if !ls.is_empty() => {
                let at = i.index(ls.len());
                ls[at] = (*l).to_owned();
            }
            Mangle::Duplicate(i) if !ls.is_empty() => {
                let at = i.index(ls.len());
                ls.insert(at, ls[at].clone());
            }
            _ => {}
        }
    }
    let mut out = ls.join(eol);
    if !cut {
        out.push_str(eol);
    }
    out.into_bytes()
}

// ───────────────────────── text both sides added ─────────────────────────

/// Where both sides add the same bullets: a new section `## Topic new` at the end, text
/// before the first heading (the base has none), or the whole file (the base is empty).
#[derive(Clone, Copy, Debug)]
enum Place {
    NewSection,
    Preamble,
    NewFile,
}

/// The base for `place`, and a side adding the bullets `note-n{i}` for `picks` in that
/// order, a blank line before those whose `gaps` bit is set.
fn both_added(
    base: &[u8],
    eol: &str,
    place: Place,
    picks: &[usize],
    gaps: &[bool],
) -> [Vec<u8>; 2] {
    let mut list = String::new();
    for (k, i) in picks.iter().enumerate() {
        if k > 0 && gaps[k] {
            list.push_str(eol);
        }
        list.push_str(&format!("- note-n{i}{eol}"));
    }
    let base_text = String::from_utf8_lossy(base);
    match place {
        Place::NewSection => [
            base.to_vec(),
            format!("{base_text}{eol}## Topic new{eol}{eol}{list}").into_bytes(),
        ],
        Place::Preamble if list.is_empty() => [base.to_vec(), base.to_vec()],
        Place::Preamble => [
            base.to_vec(),
            format!("{list}{eol}{base_text}").into_bytes(),
        ],
        Place::NewFile => [Vec::new(), list.into_bytes()],
    }
}

/// The same bullets from a pool of five, some of them, in some order.
fn picks() -> impl Strategy<Value = Vec<usize>> {
    (
        Just((1..=5).collect::<Vec<usize>>()).prop_shuffle(),
        0usize..=5,
    )
        .prop_map(|(mut v, n)| {
            v.truncate(n);
            v
        })
}

// ───────────────────────────── the properties ─────────────────────────────

proptest! {
    #![proptest_config(config())]

    /// No panic; clean (keep-both never leaves markers); the same bytes whichever side is
    /// ours.
    #[test]
    fn merge_is_clean_and_symmetric(c in case()) {
        let m = c.merge();
        let swapped = run(&c.bytes[B], &c.bytes[T], &c.bytes[O]);
        prop_assert!(!m.conflicted, "conflicted{}--- merged\n{}", c.context(), show(&m.output));
        prop_assert!(
            m.output == swapped.output,
            "not symmetric{}--- merge(B, O, T)\n{}--- merge(B, T, O)\n{}",
            c.context(), show(&m.output), show(&swapped.output)
        );
    }

    /// Every bullet or paragraph line either side added: exactly once.
    #[test]
    fn added_bullets_are_there_exactly_once(c in case()) {
        check(&c, &[Prop::Added])?;
    }

    /// A bullet one side deleted and the other left alone: gone.
    #[test]
    fn deleted_bullets_stay_deleted(c in case()) {
        check(&c, &[Prop::Deleted])?;
    }

    /// A bullet or paragraph line neither side touched: exactly once; every heading once.
    #[test]
    fn untouched_bullets_and_headings_stay_exactly_once(c in case()) {
        check(&c, &[Prop::Untouched, Prop::Headings])?;
    }

    /// A bullet or line one side edited (the other left it alone or deleted it): the edit,
    /// once; the base text gone.
    #[test]
    fn one_sided_edits_win(c in case()) {
        check(&c, &[Prop::EditedOnce])?;
    }

    /// A bullet both sides edited differently: both versions once, the base text gone; a
    /// paragraph both sides edited on a common line: both versions of the paragraph once
    /// (keep-both).
    #[test]
    fn edits_on_both_sides_are_both_kept(c in case()) {
        check(&c, &[Prop::BothEdited])?;
    }

    /// A paragraph both sides edited on different lines merges line by line (rule 5): each
    /// side's edit once, the base text of the edited lines gone, the other lines once.
    #[test]
    fn paragraph_edits_on_different_lines_merge_line_by_line(c in case()) {
        check(&c, &[Prop::LineMerge])?;
    }

    /// A fenced code block (with a `# comment` line in it) neither side edited: verbatim,
    /// once: the `#` line opened no section.
    #[test]
    fn code_blocks_stay_verbatim(c in case()) {
        check(&c, &[Prop::Code])?;
    }

    /// Front matter one side dropped is gone, fences and all; kept by both, it stays on top.
    #[test]
    fn dropped_front_matter_stays_dropped(c in case()) {
        check(&c, &[Prop::Front])?;
    }

    /// All three inputs share a line ending; so does the result.
    #[test]
    fn line_endings_are_kept(c in case()) {
        let m = c.merge();
        let text = String::from_utf8_lossy(&m.output);
        let bare_lf = text.split('\n').rev().skip(1).any(|l| !l.ends_with('\r'));
        let ok = if c.style.crlf { !bare_lf } else { !text.contains('\r') };
        prop_assert!(ok, "line endings not kept (crlf: {}){}--- merged\n{}",
            c.style.crlf, c.context(), show(&m.output));
    }

    /// merge(B, X, X) = X.
    #[test]
    fn identical_sides_give_that_side(c in case()) {
        for x in [&c.bytes[O], &c.bytes[T]] {
            let m = run(&c.bytes[B], x, x);
            prop_assert!(&m.output == x && !m.conflicted,
                "merge(B, X, X) != X{}--- X\n{}--- merged\n{}",
                c.context(), show(x), show(&m.output));
        }
    }

    /// merge(B, B, X) = merge(B, X, B) = X.
    #[test]
    fn one_changed_side_wins_whole(c in case()) {
        let b = &c.bytes[B];
        for x in [&c.bytes[O], &c.bytes[T]] {
            for (name, m) in [("merge(B, B, X)", run(b, b, x)), ("merge(B, X, B)", run(b, x, b))] {
                prop_assert!(&m.output == x && !m.conflicted,
                    "{name} != X{}--- X\n{}--- merged\n{}",
                    c.context(), show(x), show(&m.output));
            }
        }
    }

    /// Both sides added the same bullets where the base has nothing to match them with (a
    /// section of the same name, text before the first heading, a new file), in their own
    /// orders and with their own blank lines: the merge is symmetric and every bullet either
    /// side has is there exactly once (json rule 4: an element both inserted appears once).
    #[test]
    fn text_both_sides_added_merges_symmetrically(
        c in case(),
        place in prop_oneof![Just(Place::NewSection), Just(Place::Preamble), Just(Place::NewFile)],
        po in picks(),
        pt in picks(),
        same in any::<bool>(),
        go in vec(any::<bool>(), 5),
        gt in vec(any::<bool>(), 5),
    ) {
        // Half the time the same bullets in the same order: only the blank lines differ.
        let pt = if same { po.clone() } else { pt };
        let eol = c.style.eol();
        let [b, o] = both_added(&c.bytes[B], eol, place, &po, &go);
        let [_, t] = both_added(&c.bytes[B], eol, place, &pt, &gt);
        let m = run(&b, &o, &t);
        let swapped = run(&b, &t, &o);
        let ctx = format!(
            "\n--- base\n{}--- ours\n{}--- theirs\n{}--- merge(B, O, T)\n{}--- merge(B, T, O)\n{}",
            show(&b), show(&o), show(&t), show(&m.output), show(&swapped.output)
        );
        prop_assert!(!m.conflicted && m.output == swapped.output, "not symmetric{ctx}");
        let ls = lines(&m.output);
        for i in po.iter().chain(&pt).collect::<BTreeSet<_>>() {
            let n = count_lines(&ls, &format!("- note-n{i}"));
            prop_assert!(n == 1, "note-n{i} is there {n} times, want once{ctx}");
        }
    }

    /// Odd Markdown (stray fences, setext underlines, nested lists, tables, HTML, no final
    /// newline): no panic, and the same bytes whichever side is ours when clean.
    #[test]
    fn mangled_markdown_merges_symmetrically(
        c in case(),
        mb in vec(mangle(), 0..=2),
        mo in vec(mangle(), 0..=4),
        mt in vec(mangle(), 0..=4),
        cuts in (prop::bool::weighted(0.2), prop::bool::weighted(0.2), prop::bool::weighted(0.2)),
    ) {
        let eol = c.style.eol();
        let b = mangled(&c.bytes[B], eol, &mb, cuts.0);
        let o = mangled(&c.bytes[O], eol, &mo, cuts.1);
        let t = mangled(&c.bytes[T], eol, &mt, cuts.2);
        let m = run(&b, &o, &t);
        let swapped = run(&b, &t, &o);
        if !m.conflicted && !swapped.conflicted {
            prop_assert!(m.output == swapped.output,
                "not symmetric\n--- base\n{}--- ours\n{}--- theirs\n{}--- merge(B, O, T)\n{}--- merge(B, T, O)\n{}",
                show(&b), show(&o), show(&t), show(&m.output), show(&swapped.output));
        }
        for x in [&o, &t] {
            let m = run(&b, x, x);
            prop_assert!(&m.output == x, "merge(B, X, X) != X\n--- base\n{}--- X\n{}--- merged\n{}",
                show(&b), show(x), show(&m.output));
        }
    }
}
