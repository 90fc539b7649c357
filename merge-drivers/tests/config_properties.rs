//! Property tests of the TOML driver and of the json driver on JSONC (README: the contract,
//! the json rules on TOML's data model; comments and trailing commas kept).
//!
//! A model document (keys at the top, `[table]` sections, `[[servers]]` entries keyed by
//! `name`) is rendered in one style (LF or CRLF, a final newline or not, comments on some
//! lines), two random edit scripts change copies of it, and the merge is checked: the same
//! bytes whichever side is ours, TOML again, every change kept where the other side did not
//! touch the same value (a change beats a deletion; two different changes of one value keep
//! one of them), and merge(O, A, A) = A, merge(O, O, B) = B, merge(O, A, O) = A.
mod common;

use common::config;
use merge_drivers::{merge, Kind, Options};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Map, Value};

#[derive(Clone, Debug, PartialEq)]
enum V {
    Int(i64),
    Str(String),
    Bool(bool),
    Arr(Vec<i64>),
    Inline(Vec<(String, i64)>),
}

type Kvs = Vec<(String, V)>;

#[derive(Clone, Debug, Default, PartialEq)]
struct Doc {
    root: Kvs,
    tables: Vec<(String, Kvs)>,
    servers: Vec<(String, Kvs)>,
}

#[derive(Clone, Copy, Debug)]
struct Style {
    crlf: bool,
    final_newline: bool,
    comments: bool,
}

fn text_of(v: &V) -> String {
    match v {
        V::Int(i) => i.to_string(),
        V::Str(s) => format!("{s:?}"),
        V::Bool(b) => b.to_string(),
        V::Arr(a) => format!(
            "[{}]",
            a.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")
        ),
        V::Inline(m) => format!(
            "{{ {} }}",
            m.iter()
                .map(|(k, v)| format!("{k} = {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn kv_lines(kvs: &Kvs, style: Style, out: &mut Vec<String>) {
    for (k, v) in kvs {
        let comment = if style.comments && k == "c" {
            "  # about c"
        } else {
            ""
        };
        if style.comments && k == "d" {
            out.push("# d below".into());
        }
        out.push(format!("{k} = {}{comment}", text_of(v)));
    }
}

fn render(doc: &Doc, style: Style) -> Vec<u8> {
    let mut lines = Vec::new();
    if style.comments {
        lines.push("# settings".to_string());
    }
    kv_lines(&doc.root, style, &mut lines);
    for (name, kvs) in &doc.tables {
        lines.push(String::new());
        lines.push(format!("[{name}]"));
        kv_lines(kvs, style, &mut lines);
    }
    for (name, kvs) in &doc.servers {
        lines.push(String::new());
        lines.push("[[servers]]".into());
        lines.push(format!("name = {name:?}"));
        kv_lines(kvs, style, &mut lines);
    }
    let eol = if style.crlf { "\r\n" } else { "\n" };
    let mut text = lines.join(eol);
    if style.final_newline && !text.is_empty() {
        text.push_str(eol);
    }
    text.into_bytes()
}

/// The document as data: tables as objects, servers an object by name.
fn model_value(doc: &Doc) -> Value {
    let kvs = |kvs: &Kvs| -> Map<String, Value> {
        kvs.iter()
            .map(|(k, v)| (k.clone(), atom(v)))
            .collect::<Map<_, _>>()
    };
    let mut root = kvs(&doc.root);
    for (name, t) in &doc.tables {
        root.insert(name.clone(), Value::Object(kvs(t)));
    }
    // (Entries of an array of tables are members of the document each: no entries left is
    // no array, as no entries at first.)
    let servers = doc
        .servers
        .iter()
        .map(|(n, t)| (n.clone(), Value::Object(kvs(t))))
        .collect();
    root.insert("servers".into(), Value::Object(servers));
    Value::Object(root)
}

fn atom(v: &V) -> Value {
    match v {
        V::Int(i) => Value::from(*i),
        V::Str(s) => Value::from(s.clone()),
        V::Bool(b) => Value::from(*b),
        V::Arr(a) => Value::from(a.clone()),
        V::Inline(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), Value::from(*v)))
                .collect(),
        ),
    }
}

/// The document as JSONC: comments above and after some members and trailing commas where
/// `style.comments` says (none at all otherwise: strict JSON).
fn render_jsonc(doc: &Doc, style: Style) -> Vec<u8> {
    let c = style.comments;
    let members = |kvs: &Kvs, indent: &str, out: &mut Vec<String>| {
        for (k, v) in kvs {
            if c && k == "d" {
                out.push(format!("{indent}// d below"));
            }
            let trailing = if c && k == "c" { " // about c" } else { "" };
            out.push(format!("{indent}{k:?}: {},{trailing}", atom(v)));
        }
    };
    let mut lines = vec!["{".to_string()];
    if c {
        lines.push("  // settings".into());
    }
    members(&doc.root, "  ", &mut lines);
    for (name, kvs) in &doc.tables {
        lines.push(format!("  {name:?}: {{"));
        members(kvs, "    ", &mut lines);
        lines.push("  },".into());
    }
    lines.push("  \"servers\": [".into());
    for (name, kvs) in &doc.servers {
        lines.push("    {".into());
        lines.push(format!("      \"name\": {name:?},"));
        members(kvs, "      ", &mut lines);
        lines.push("    },".into());
    }
    lines.push("  ]".into());
    lines.push("}".into());
    let mut text = lines.join(if style.crlf { "\r\n" } else { "\n" });
    if !c {
        // Strict JSON: no comma before a closing bracket.
        for close in ["}", "]"] {
            for indent in ["", "  ", "    ", "      "] {
                for eol in ["\n", "\r\n"] {
                    text = text.replace(
                        &format!(",{eol}{indent}{close}"),
                        &format!("{eol}{indent}{close}"),
                    );
                }
            }
        }
    }
    if style.final_newline {
        text.push_str(if style.crlf { "\r\n" } else { "\n" });
    }
    text.into_bytes()
}

/// A merged JSONC text as data in the model's shape (comments and trailing commas dropped
/// first: the test's own reading); `None` if that is not JSON.
fn read_jsonc(text: &[u8]) -> Option<Value> {
    let text = std::str::from_utf8(text).ok()?;
    let mut plain = String::new();
    let mut in_string = false;
    let mut chars = text.chars().peekable();
    while let Some(ch) = chars.next() {
        if in_string {
            plain.push(ch);
            if ch == '\\' {
                plain.extend(chars.next());
            } else if ch == '"' {
                in_string = false;
            }
        } else if ch == '/' && chars.peek() == Some(&'/') {
            while chars.peek().is_some_and(|&c| c != '\n') {
                chars.next();
            }
        } else {
            in_string = ch == '"';
            plain.push(ch);
        }
    }
    let plain = regex_lite_trailing(&plain);
    let mut v: Value = serde_json::from_str(&plain).ok()?;
    let servers = v.get_mut("servers")?.take();
    let by_name = servers
        .as_array()?
        .iter()
        .map(|s| {
            let mut m = s.as_object()?.clone();
            let name = m.remove("name")?.as_str()?.to_string();
            Some((name, Value::Object(m)))
        })
        .collect::<Option<Map<_, _>>>()?;
    v["servers"] = Value::Object(by_name);
    Some(v)
}

/// `text` without commas before a closing bracket (white space between).
fn regex_lite_trailing(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    for (i, ch) in text.char_indices() {
        if ch == ',' {
            let next = b[i + 1..].iter().find(|c| !c.is_ascii_whitespace());
            if matches!(next, Some(b'}' | b']')) {
                continue;
            }
        }
        out.push(ch);
    }
    out
}

/// A merged TOML text as data, in the model's shape; `None` if it is not TOML.
fn read(text: &[u8]) -> Option<Value> {
    let text = std::str::from_utf8(text).ok()?;
    let doc = toml_edit::Document::parse(text).ok()?;
    fn value(v: &toml_edit::Value) -> Value {
        match v {
            toml_edit::Value::String(s) => Value::from(s.value().clone()),
            toml_edit::Value::Integer(i) => Value::from(*i.value()),
            toml_edit::Value::Boolean(b) => Value::from(*b.value()),
            toml_edit::Value::Array(a) => Value::Array(a.iter().map(value).collect()),
            toml_edit::Value::InlineTable(t) => {
                Value::Object(t.iter().map(|(k, v)| (k.to_string(), value(v))).collect())
            }
            other => Value::from(format!("{other:?}")),
        }
    }
    fn item(i: &toml_edit::Item) -> Value {
        match i {
            toml_edit::Item::Value(v) => value(v),
            toml_edit::Item::Table(t) => {
                Value::Object(t.iter().map(|(k, v)| (k.to_string(), item(v))).collect())
            }
            toml_edit::Item::ArrayOfTables(a) => Value::Object(
                a.iter()
                    .map(|t| {
                        let mut m: Map<String, Value> =
                            t.iter().map(|(k, v)| (k.to_string(), item(v))).collect();
                        let name = m.remove("name").and_then(|n| n.as_str().map(String::from));
                        (name.unwrap_or_default(), Value::Object(m))
                    })
                    .collect(),
            ),
            toml_edit::Item::None => Value::Null,
        }
    }
    let mut v = item(doc.as_item());
    if let Value::Object(m) = &mut v {
        m.entry("servers")
            .or_insert_with(|| Value::Object(Map::new()));
    }
    Some(v)
}

/// What the merge must give at one place: exactly a value, absent, an object merged member
/// by member, or either side's (two different changes of one value).
#[derive(Debug)]
enum Expect {
    Exactly(Option<Value>),
    Members(Vec<(String, Expect)>),
    Either,
}

fn expect(b: Option<&Value>, o: Option<&Value>, t: Option<&Value>) -> Expect {
    if o == t {
        return Expect::Exactly(o.cloned());
    }
    if b == o {
        return Expect::Exactly(t.cloned());
    }
    if b == t {
        return Expect::Exactly(o.cloned());
    }
    match (o, t) {
        (Some(Value::Object(x)), Some(Value::Object(y))) => {
            let base = b.and_then(Value::as_object).filter(|_| b.is_some());
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            if let Some(base) = base {
                keys.extend(base.keys());
            }
            keys.sort();
            keys.dedup();
            Expect::Members(
                keys.into_iter()
                    .map(|k| {
                        let e = expect(base.and_then(|m| m.get(k)), x.get(k), y.get(k));
                        (k.clone(), e)
                    })
                    .collect(),
            )
        }
        // A change beats a deletion: the changed side's value, whole.
        (None, Some(v)) | (Some(v), None) => Expect::Exactly(Some(v.clone())),
        _ => Expect::Either,
    }
}

fn check(e: &Expect, got: Option<&Value>, at: &str, problems: &mut Vec<String>) {
    match e {
        Expect::Either => {}
        Expect::Exactly(v) => {
            if v.as_ref() != got {
                problems.push(format!("{at}: expected {v:?}, got {got:?}"));
            }
        }
        Expect::Members(members) => {
            let Some(Value::Object(m)) = got else {
                problems.push(format!("{at}: expected a table, got {got:?}"));
                return;
            };
            for (k, e) in members {
                check(e, m.get(k), &format!("{at}/{k}"), problems);
            }
            for k in m.keys() {
                if !members.iter().any(|(n, _)| n == k) {
                    problems.push(format!("{at}: unexpected key {k}"));
                }
            }
        }
    }
}

#[derive(Clone, Debug)]
enum Edit {
    SetRoot(String, V),
    DelRoot(String),
    SetIn(String, String, V),
    DelIn(String, String),
    DelTable(String),
    SetServer(String, String, V),
    DelServer(String),
}

fn set(kvs: &mut Kvs, k: &str, v: V) {
    match kvs.iter_mut().find(|(n, _)| n == k) {
        Some(slot) => slot.1 = v,
        None => kvs.push((k.to_string(), v)),
    }
}

fn apply(doc: &mut Doc, e: &Edit) {
    match e {
        Edit::SetRoot(k, v) => set(&mut doc.root, k, v.clone()),
        Edit::DelRoot(k) => doc.root.retain(|(n, _)| n != k),
        Edit::SetIn(t, k, v) => match doc.tables.iter_mut().find(|(n, _)| n == t) {
            Some((_, kvs)) => set(kvs, k, v.clone()),
            None => doc.tables.push((t.clone(), vec![(k.clone(), v.clone())])),
        },
        Edit::DelIn(t, k) => {
            if let Some((_, kvs)) = doc.tables.iter_mut().find(|(n, _)| n == t) {
                kvs.retain(|(n, _)| n != k);
            }
        }
        Edit::DelTable(t) => doc.tables.retain(|(n, _)| n != t),
        Edit::SetServer(s, k, v) => match doc.servers.iter_mut().find(|(n, _)| n == s) {
            Some((_, kvs)) => set(kvs, k, v.clone()),
            None => doc.servers.push((s.clone(), vec![(k.clone(), v.clone())])),
        },
        Edit::DelServer(s) => doc.servers.retain(|(n, _)| n != s),
    }
}

fn key() -> impl Strategy<Value = String> {
    select(vec!["a", "b", "c", "d", "e"]).prop_map(String::from)
}

fn table() -> impl Strategy<Value = String> {
    select(vec!["tui", "history", "tools"]).prop_map(String::from)
}

fn server() -> impl Strategy<Value = String> {
    select(vec!["docs", "github", "search", "web"]).prop_map(String::from)
}

fn value() -> impl Strategy<Value = V> {
    prop_oneof![
        (0i64..5).prop_map(V::Int),
        select(vec!["x", "y", "a b", "q\"t"]).prop_map(|s| V::Str(s.to_string())),
        any::<bool>().prop_map(V::Bool),
        vec(0i64..4, 0..3).prop_map(V::Arr),
        vec((key(), 0i64..3), 0..3).prop_map(|m| {
            let mut seen = std::collections::HashSet::new();
            V::Inline(
                m.into_iter()
                    .filter(|(k, _)| seen.insert(k.clone()))
                    .collect(),
            )
        }),
    ]
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (key(), value()).prop_map(|(k, v)| Edit::SetRoot(k, v)),
        key().prop_map(Edit::DelRoot),
        (table(), key(), value()).prop_map(|(t, k, v)| Edit::SetIn(t, k, v)),
        (table(), key()).prop_map(|(t, k)| Edit::DelIn(t, k)),
        table().prop_map(Edit::DelTable),
        (server(), key(), value()).prop_map(|(s, k, v)| Edit::SetServer(s, k, v)),
        server().prop_map(Edit::DelServer),
    ]
}

fn document() -> impl Strategy<Value = Doc> {
    vec(edit(), 0..10).prop_map(|edits| {
        let mut doc = Doc::default();
        for e in &edits {
            apply(&mut doc, e);
        }
        doc
    })
}

fn style() -> impl Strategy<Value = Style> {
    (any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(crlf, final_newline, comments)| {
        Style {
            crlf,
            final_newline,
            comments,
        }
    })
}

fn esc(b: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(b))
}

fn toml(base: &[u8], ours: &[u8], theirs: &[u8]) -> merge_drivers::Merged {
    merge(Kind::Toml, base, ours, theirs, &Options::default())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn toml_merges_are_symmetric_valid_and_lose_nothing(
        base in document(),
        eo in vec(edit(), 0..5),
        et in vec(edit(), 0..5),
        style in style(),
    ) {
        let (mut ours, mut theirs) = (base.clone(), base.clone());
        eo.iter().for_each(|e| apply(&mut ours, e));
        et.iter().for_each(|e| apply(&mut theirs, e));
        let (b, o, t) = (render(&base, style), render(&ours, style), render(&theirs, style));
        let m = toml(&b, &o, &t);
        let r = toml(&b, &t, &o);
        let context = format!("\n--- base\n{}\n--- ours\n{}\n--- theirs\n{}\n--- merged\n{}", esc(&b), esc(&o), esc(&t), esc(&m.output));
        prop_assert!(!m.conflicted, "conflicted{context}");
        prop_assert!(m.output == r.output, "not symmetric: theirs-first gives {}{context}", esc(&r.output));
        let got = read(&m.output);
        prop_assert!(got.is_some(), "the result is not TOML{context}");
        let e = expect(Some(&model_value(&base)), Some(&model_value(&ours)), Some(&model_value(&theirs)));
        let mut problems = Vec::new();
        check(&e, got.as_ref(), "", &mut problems);
        prop_assert!(problems.is_empty(), "{problems:?}{context}");
    }

    #[test]
    fn jsonc_merges_are_symmetric_valid_and_lose_nothing(
        base in document(),
        eo in vec(edit(), 0..5),
        et in vec(edit(), 0..5),
        style in style(),
    ) {
        let (mut ours, mut theirs) = (base.clone(), base.clone());
        eo.iter().for_each(|e| apply(&mut ours, e));
        et.iter().for_each(|e| apply(&mut theirs, e));
        let (b, o, t) = (render_jsonc(&base, style), render_jsonc(&ours, style), render_jsonc(&theirs, style));
        let opts = Options::default();
        let m = merge(Kind::Json, &b, &o, &t, &opts);
        let r = merge(Kind::Json, &b, &t, &o, &opts);
        let context = format!("\n--- base\n{}\n--- ours\n{}\n--- theirs\n{}\n--- merged\n{}", esc(&b), esc(&o), esc(&t), esc(&m.output));
        prop_assert!(!m.conflicted, "conflicted{context}");
        prop_assert!(m.output == r.output, "not symmetric: theirs-first gives {}{context}", esc(&r.output));
        if !style.comments {
            // A strict file stays strict.
            prop_assert!(serde_json::from_slice::<Value>(&m.output).is_ok(), "strict JSON became something else{context}");
        }
        prop_assert!(merge_drivers::syntax_problem(Kind::Json, &m.output).is_none(), "not JSONC{context}");
        let got = read_jsonc(&m.output);
        prop_assert!(got.is_some(), "unreadable{context}");
        let e = expect(Some(&model_value(&base)), Some(&model_value(&ours)), Some(&model_value(&theirs)));
        let mut problems = Vec::new();
        check(&e, got.as_ref(), "", &mut problems);
        prop_assert!(problems.is_empty(), "{problems:?}{context}");
        // merge(O, A, A) = A, merge(O, O, B) = B.
        prop_assert_eq!(esc(&merge(Kind::Json, &b, &o, &o, &opts).output), esc(&o));
        prop_assert_eq!(esc(&merge(Kind::Json, &b, &b, &t, &opts).output), esc(&t));
    }

    #[test]
    fn toml_merges_are_idempotent(
        base in document(),
        edits in vec(edit(), 0..6),
        style in style(),
    ) {
        let mut side = base.clone();
        edits.iter().for_each(|e| apply(&mut side, e));
        let (b, a) = (render(&base, style), render(&side, style));
        prop_assert_eq!(esc(&toml(&b, &a, &a).output), esc(&a), "merge(O, A, A) = A");
        prop_assert_eq!(esc(&toml(&b, &b, &a).output), esc(&a), "merge(O, O, B) = B");
        prop_assert_eq!(esc(&toml(&b, &a, &b).output), esc(&a), "merge(O, A, O) = A");
    }
}

/// TOML-looking junk: statements, brackets, quotes, comments, bytes.
fn toml_junk() -> impl Strategy<Value = Vec<u8>> {
    const BITS: &[&str] = &[
        "[a]\n",
        "[[a]]\n",
        "[a.b",
        "a = 1\n",
        "a.b = 'x'\n",
        "\"k\" = \"\"\"\n",
        "'''",
        "\"\"\"",
        "= ",
        "[",
        "]",
        "{",
        "}",
        ",",
        "# c\n",
        "\r\n",
        "\n",
        "x = [1,\n",
        "y = {z = 1}\n",
        "1979-05-27 07:",
        "\u{e9}",
        "\\",
        "\"",
        "'",
        " ",
        "<<<<<<< ours\n",
        ">>>>>>> theirs\n",
    ];
    vec(
        prop_oneof![
            select(BITS).prop_map(|s| s.as_bytes().to_vec()),
            vec(any::<u8>(), 0..3),
        ],
        0..14,
    )
    .prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn toml_junk_never_panics_and_clean_merges_are_symmetric(
        b in toml_junk(),
        o in toml_junk(),
        t in toml_junk(),
    ) {
        let m = toml(&b, &o, &t);
        let r = toml(&b, &t, &o);
        if !m.conflicted && !r.conflicted {
            prop_assert!(m.output == r.output, "not symmetric\n{}\n{}\n{}", esc(&b), esc(&o), esc(&t));
        }
        prop_assert_eq!(m.conflicted, r.conflicted);
        // A side glued to the others' text: mostly the same statements, one changed.
        let mixed = [&b[..], &o[..]].concat();
        let _ = toml(&b, &mixed, &[&b[..], &t[..]].concat());
    }
}
