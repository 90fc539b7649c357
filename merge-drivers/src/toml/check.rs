//! Whether a text is TOML, without building a document: toml_parser's lexer and parser with
//! every key, scalar, comment and line break decoded (the syntax), then TOML's rules on the
//! statements (no key or table defined twice, no table both a header's and dotted keys', no
//! inline table or value extended, no `[[array]]` that is a table).
//!
//! A document of toml_edit holds some 30 times its text; this check holds its tokens and a
//! map of the keys. Where in doubt it says no (the merge then is the line merge).

use std::borrow::Cow;

use foldhash::{HashMap, HashSet};
use toml_parser::decoder::Encoding;
use toml_parser::parser::{EventReceiver, RecursionGuard, ValidateWhitespace};
use toml_parser::{ErrorSink, ParseError, Raw, Source, Span};

use super::layout::{statements, Kind, Stmt};
use super::scan;

/// Nesting deeper than this is refused (toml_edit's limit).
const DEPTH: u32 = 80;

/// A piece is at least this long ...
const PIECE_MIN: usize = 2 * 1024;
/// ... and at most this long, unless one statement is longer.
const PIECE_MAX: usize = 16 * 1024;

/// Checks the sides of a merge and its result. Each text is cut into pieces by content (see
/// [`pieces`]), so the three sides and the result, mostly the same text, mostly cut the
/// same: a piece already found sound is not read again.
#[derive(Default)]
pub(crate) struct Checker<'t> {
    sound: HashSet<&'t str>,
}

impl<'t> Checker<'t> {
    /// The statements of `text` if it is one TOML document (its pieces remembered).
    pub(crate) fn read(&mut self, text: &'t [u8]) -> Option<Vec<Stmt>> {
        let s = std::str::from_utf8(text).ok()?;
        let stmts = statements(text);
        for piece in pieces(s, &stmts) {
            if !self.sound.contains(piece) {
                if !syntax(piece) {
                    return None;
                }
                self.sound.insert(piece);
            }
        }
        rules(text, &stmts).then_some(stmts)
    }

    /// Whether `text` is one TOML document.
    pub(crate) fn valid(&self, text: &[u8]) -> bool {
        let Ok(s) = std::str::from_utf8(text) else {
            return false;
        };
        let stmts = statements(text);
        pieces(s, &stmts)
            .into_iter()
            .all(|piece| self.sound.contains(piece) || syntax(piece))
            && rules(text, &stmts)
    }
}

/// Whether `text` is one TOML document.
#[cfg(test)]
fn valid(text: &[u8]) -> bool {
    Checker::default().valid(text)
}

/// `s` cut into pieces, each ending with a line break where a statement starts a line: at
/// such a line whose text hashes to a multiple of 16 once the piece is [`PIECE_MIN`] long,
/// or at [`PIECE_MAX`]. TOML's top level is lines: pieces that are each a document make one
/// when put end to end (what a piece's grammar cannot see, the rules check on the whole). A
/// cut in the wrong place (a text that is not TOML, read by a lexer that trusts it) leaves a
/// piece with an open string or bracket, which is no document: no cut makes a text pass.
fn pieces<'s>(s: &'s str, stmts: &[Stmt]) -> Vec<&'s str> {
    let text = s.as_bytes();
    let mut out = Vec::with_capacity(s.len() / PIECE_MIN + 1);
    let mut from = 0;
    for st in stmts {
        let len = st.start - from;
        if len < PIECE_MIN || text[st.start - 1] != b'\n' {
            continue;
        }
        let line = &text[st.start..scan::line_end(text, st.start).min(st.start + 64)];
        let hash = line.iter().fold(0x811c_9dc5u32, |h, &b| {
            (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
        });
        if len >= PIECE_MAX || hash % 16 == 0 {
            out.push(&s[from..st.start]);
            from = st.start;
        }
    }
    out.push(&s[from..]);
    out
}

/// Decodes what the parser reads; an error anywhere makes the text no TOML.
struct Decode<'s> {
    source: Source<'s>,
    scratch: String,
}

impl Decode<'_> {
    fn raw(&self, span: Span, encoding: Option<Encoding>) -> Option<Raw<'_>> {
        let text = self.source.input().get(span.start()..span.end())?;
        Some(Raw::new_unchecked(text, encoding, span))
    }
}

impl EventReceiver for Decode<'_> {
    fn simple_key(&mut self, span: Span, encoding: Option<Encoding>, error: &mut dyn ErrorSink) {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        match self.raw(span, encoding) {
            Some(raw) => raw.decode_key(&mut scratch, error),
            None => error.report_error(ParseError::new("bad span")),
        }
        self.scratch = scratch;
    }

    fn scalar(&mut self, span: Span, encoding: Option<Encoding>, error: &mut dyn ErrorSink) {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        match self.raw(span, encoding) {
            Some(raw) => {
                let _ = raw.decode_scalar(&mut scratch, error);
            }
            None => error.report_error(ParseError::new("bad span")),
        }
        self.scratch = scratch;
    }

    fn comment(&mut self, span: Span, error: &mut dyn ErrorSink) {
        if let Some(raw) = self.raw(span, None) {
            raw.decode_comment(error);
        }
    }

    fn newline(&mut self, span: Span, error: &mut dyn ErrorSink) {
        if let Some(raw) = self.raw(span, None) {
            raw.decode_newline(error);
        }
    }

    fn error(&mut self, _span: Span, error: &mut dyn ErrorSink) {
        error.report_error(ParseError::new("not TOML"));
    }
}

/// TOML's grammar, and every token's content.
fn syntax(s: &str) -> bool {
    let source = Source::new(s);
    let tokens = source.lex().into_vec();
    let mut decode = Decode {
        source,
        scratch: String::new(),
    };
    let mut whitespace = ValidateWhitespace::new(&mut decode, source);
    let mut guard = RecursionGuard::new(&mut whitespace, DEPTH);
    let mut error: Option<ParseError> = None;
    toml_parser::parser::parse_document(&tokens, &mut guard, &mut error);
    error.is_none()
}

/// What a key holds, as far as TOML's rules go.
enum Node<'t> {
    Table(Table<'t>),
    /// An array of tables: its entries.
    Array(Vec<Table<'t>>),
    /// A value (an inline table or array too: closed to headers and dotted keys).
    Value,
}

/// A table's keys, borrowed from the text (or from the statements' paths) where they can be.
#[derive(Default)]
struct Table<'t> {
    children: HashMap<Cow<'t, [u8]>, Node<'t>>,
    /// Defined by its header (or the document).
    header: bool,
    /// Defined by dotted keys.
    dotted: bool,
}

impl<'t> Table<'t> {
    /// The table at `path` below this one, created (implicitly) where missing; through an
    /// array of tables, its last entry.
    fn walk(&mut self, path: &'t [Vec<u8>]) -> Option<&mut Table<'t>> {
        let Some((first, rest)) = path.split_first() else {
            return Some(self);
        };
        if !self.children.contains_key(&first[..]) {
            let implied = Node::Table(Table::default());
            self.children.insert(Cow::Borrowed(&first[..]), implied);
        }
        match self.children.get_mut(&first[..])? {
            Node::Table(t) => t.walk(rest),
            Node::Array(entries) => entries.last_mut()?.walk(rest),
            Node::Value => None,
        }
    }

    /// Defines key `parts` (dotted) here; whether TOML allows it.
    fn define(&mut self, mut parts: Vec<Cow<'t, [u8]>>, value: Node<'t>) -> bool {
        let Some(last) = parts.pop() else {
            return false;
        };
        let mut table = self;
        for part in parts {
            let node = table.children.entry(part).or_insert_with(|| {
                Node::Table(Table {
                    dotted: true,
                    ..Table::default()
                })
            });
            match node {
                Node::Table(t) if t.dotted => table = t,
                _ => return false,
            }
        }
        table.children.insert(last, value).is_none()
    }
}

/// TOML's rules over the statements of a text whose syntax is sound.
fn rules<'t>(text: &'t [u8], stmts: &'t [Stmt]) -> bool {
    let mut root = Table {
        header: true,
        ..Table::default()
    };
    let mut current: &'t [Vec<u8>] = &[];
    for s in stmts {
        match s.kind {
            Kind::KeyValue => {
                let (parts, _) = scan::key(text, s.start);
                if !inline_ok(text, s.head_end) {
                    return false;
                }
                let Some(table) = root.walk(current) else {
                    return false;
                };
                if !table.define(parts, Node::Value) {
                    return false;
                }
            }
            Kind::Table | Kind::ArrayTable => {
                let Some((last, parent)) = s.path.split_last() else {
                    return false;
                };
                let Some(parent) = root.walk(parent) else {
                    return false;
                };
                let array = s.kind == Kind::ArrayTable;
                let entry = || Table {
                    header: true,
                    ..Table::default()
                };
                match parent.children.get_mut(&last[..]) {
                    None => {
                        let node = if array {
                            Node::Array(vec![entry()])
                        } else {
                            Node::Table(entry())
                        };
                        parent.children.insert(Cow::Borrowed(&last[..]), node);
                    }
                    Some(Node::Array(entries)) if array => entries.push(entry()),
                    // A table so far only implied by the headers below it.
                    Some(Node::Table(t)) if !array && !t.header && !t.dotted => t.header = true,
                    Some(_) => return false,
                }
                current = &s.path;
            }
        }
    }
    true
}

/// Whether the value at `pos`, if an inline table (or an array holding some), defines each
/// of its keys once.
fn inline_ok(text: &[u8], pos: usize) -> bool {
    match text.get(pos) {
        Some(b'{') => {
            let c = scan::inline(text, pos);
            let mut table = Table::default();
            c.items.iter().all(|item| {
                let (parts, _) = scan::key(text, item.start);
                inline_ok(text, item.value) && table.define(parts, Node::Value)
            })
        }
        Some(b'[') => scan::inline(text, pos)
            .items
            .iter()
            .all(|item| inline_ok(text, item.value)),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const PIECES: &[&str] = &[
        "[a]\n",
        "[a.b]\n",
        "[[a]]\n",
        "[[a.b]]\n",
        "[b]\n",
        "[a.b.c]\n",
        "a = 1\n",
        "b = 2\n",
        "a.b = 1\n",
        "a.c = 2\n",
        "b.c.d = 3\n",
        "c = {x = 1}\n",
        "c = {x = 1, x = 2}\n",
        "d = [1, {e = 1}]\n",
        "\"a\" = 3\n",
        "a . b = 4 # c\n",
        "x = 1979-05-27\n",
        "y = 'lit'\n",
        "z = \"\"\"\nml\n\"\"\"\n",
        "# note\n",
        "\n",
        "[ a ]\n",
        "[c]\n",
        "[c.x]\n",
        "e = [\n 1,\n 2,\n]\n",
        "bad = \n",
        "[x\n",
        "= 1\n",
    ];

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 2000,
            failure_persistence: None,
            rng_seed: proptest::test_runner::RngSeed::Fixed(0x70e1),
            ..ProptestConfig::default()
        })]

        #[test]
        fn never_says_yes_where_toml_edit_says_no(
            picks in proptest::collection::vec(proptest::sample::select(PIECES), 0..8)
        ) {
            let text = picks.concat();
            // (The other way round it may be stricter: `[[a.b]]`, `[a]`, `b.c = 1`, which
            // toml_edit takes, goes to the line merge.)
            if valid(text.as_bytes()) {
                prop_assert!(toml_edit::Document::parse(text.as_str()).is_ok(), "{:?}", text);
            }
        }
    }

    #[test]
    fn agrees_with_toml_edit() {
        let cases: &[&str] = &[
            "a = 1\nb.c = 2\nb.d = 3\n",
            "a = 1\na = 2\n",
            "[a]\nx = 1\n[a]\ny = 2\n",
            "[a.b]\nx = 1\n[a]\ny = 2\n",
            "a.b = 1\n[a]\nx = 1\n",
            "a.b = 1\n[a.c]\nx = 1\n",
            "[fruit]\napple.color = 'red'\n[fruit.apple.texture]\nsmooth = true\n",
            "[fruit]\napple.color = 'red'\n[fruit.apple]\nx = 1\n",
            "[[s]]\nname = 'a'\n[s.env]\nk = 1\n[[s]]\nname = 'b'\n[s.env]\nk = 2\n",
            "[[s]]\nx = 1\n[s]\ny = 2\n",
            "[s]\nx = 1\n[[s]]\ny = 2\n",
            "a = {x = 1}\n[a]\ny = 2\n",
            "a = {x = 1}\na.y = 2\n",
            "a = {x = 1, x = 2}\n",
            "a = [{x = 1, y = {z = 1, z = 2}}]\n",
            "a = [1]\n[[a]]\n",
            "a = 1979-05-27 07:32:00Z\nb = 0xff\nc = 1_000\nd = inf\n",
            "a = 1__0\n",
            "a = \"\\q\"\n",
            "a = 'x' # c\u{7}\n",
            "[a]\nb = 1\n[a.b.c]\n",
            "a = 1 b = 2\n",
            "[x]\n[x.y]\n[x]\n",
        ];
        for case in cases {
            let want = toml_edit::Document::parse(*case).is_ok();
            assert_eq!(valid(case.as_bytes()), want, "{case:?}");
        }
    }
}
