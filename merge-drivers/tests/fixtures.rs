//! The fixture corpus: `fixtures/merge/<kind>/<case>/` at the workspace root.
//!
//! Each case holds `base`, `ours`, `theirs` and `expected` (the exact bytes of the merge), and
//! optionally `policy` (journal|ours|theirs|markers, default journal), `conflicted` (the result
//! must hold conflict markers), `records` (how many journal records the merge returns) and
//! `note` (one line: what the case shows).
//!
//! Every case is merged both ways. Theirs-first, a clean case must give the same bytes (the
//! result must not depend on the side); a conflicted case must be conflicted again, with
//! markers and as many records (its marker blocks list the other side first); an `ours` or
//! `theirs` case, run with the other policy, must give the same bytes (the side it favours is
//! the same file). All failures are collected and reported together, so one run shows
//! everything.

use std::fmt::Write as _;
use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use merge_drivers::{merge, Kind, Merged, Options, Policy};

const MIN_JSON_CASES: usize = 25;
const MIN_JSONL_CASES: usize = 10;
const MIN_MARKDOWN_CASES: usize = 25;
const MIN_YAML_CASES: usize = 15;
const MIN_TOML_CASES: usize = 15;

struct Case {
    kind: Kind,
    name: String,
    dir: PathBuf,
    base: Vec<u8>,
    ours: Vec<u8>,
    theirs: Vec<u8>,
    expected: Vec<u8>,
    policy: Policy,
    conflicted: bool,
    records: Option<usize>,
    note: String,
}

fn corpus_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/merge")
}

fn sorted_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

/// Reads every case; a malformed case is a failure, not a panic.
fn load(failures: &mut Vec<String>) -> Vec<Case> {
    let mut cases = Vec::new();
    for kind_dir in sorted_dirs(&corpus_root()) {
        let kind_name = kind_dir.file_name().unwrap().to_string_lossy().into_owned();
        let kind: Kind = match kind_name.parse() {
            Ok(k) => k,
            Err(e) => {
                failures.push(format!("{}: {e}", kind_dir.display()));
                continue;
            }
        };
        for dir in sorted_dirs(&kind_dir) {
            let name = format!("{kind_name}/{}", dir.file_name().unwrap().to_string_lossy());
            match load_case(kind, &name, &dir) {
                Ok(case) => cases.push(case),
                Err(e) => failures.push(format!("{name}: malformed case: {e}")),
            }
        }
    }
    cases
}

fn load_case(kind: Kind, name: &str, dir: &Path) -> Result<Case, String> {
    let read = |file: &str| fs::read(dir.join(file)).map_err(|e| format!("{file}: {e}"));
    let optional = |file: &str| -> Result<Option<String>, String> {
        let path = dir.join(file);
        if !path.exists() {
            return Ok(None);
        }
        let bytes = fs::read(&path).map_err(|e| format!("{file}: {e}"))?;
        String::from_utf8(bytes)
            .map(|s| Some(s.trim().to_owned()))
            .map_err(|e| format!("{file}: {e}"))
    };
    for entry in fs::read_dir(dir).map_err(|e| e.to_string())? {
        let file = entry.map_err(|e| e.to_string())?.file_name();
        let file = file.to_string_lossy();
        if !matches!(
            &*file,
            "base" | "ours" | "theirs" | "expected" | "policy" | "conflicted" | "records" | "note"
        ) {
            return Err(format!("unknown file `{file}`"));
        }
    }
    let policy = match optional("policy")? {
        None => Policy::Journal,
        Some(p) => p.parse()?,
    };
    let records = match optional("records")? {
        None => None,
        Some(n) => Some(
            n.parse::<usize>()
                .map_err(|e| format!("records `{n}`: {e}"))?,
        ),
    };
    Ok(Case {
        kind,
        name: name.to_owned(),
        dir: dir.to_owned(),
        base: read("base")?,
        ours: read("ours")?,
        theirs: read("theirs")?,
        expected: read("expected")?,
        policy,
        conflicted: dir.join("conflicted").exists(),
        records,
        note: optional("note")?.unwrap_or_default(),
    })
}

fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

fn is_json(bytes: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(strip_bom(bytes)).is_ok()
}

/// Shows text so that a reader sees the difference: the lossy text, and if that hides it
/// (line endings, BOM, final newline), an escaped rendering.
fn show(label: &str, bytes: &[u8], out: &mut String) {
    let text = String::from_utf8_lossy(bytes);
    let _ = writeln!(out, "  --- {label} ({} bytes) ---", bytes.len());
    for line in text.split_inclusive('\n') {
        let _ = writeln!(out, "  | {}", line.trim_end_matches(['\n', '\r']));
    }
    let _ = writeln!(out, "  escaped: {text:?}");
}

fn first_difference(a: &[u8], b: &[u8]) -> usize {
    a.iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()))
}

fn run(case: &Case, ours_first: bool) -> Result<Merged, String> {
    // Swapped, the side the `ours`/`theirs` policy favours is the other one.
    let policy = match (case.policy, ours_first) {
        (Policy::Ours, false) => Policy::Theirs,
        (Policy::Theirs, false) => Policy::Ours,
        (policy, _) => policy,
    };
    let options = Options {
        policy,
        path: case.name.clone(),
        ..Options::default()
    };
    let (a, b) = if ours_first {
        (&case.ours, &case.theirs)
    } else {
        (&case.theirs, &case.ours)
    };
    catch_unwind(AssertUnwindSafe(|| {
        merge(case.kind, &case.base, a, b, &options)
    }))
    .map_err(|p| {
        let msg = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(non-string panic)".into());
        format!("merge panicked: {msg}")
    })
}

/// Checks one direction; returns the problems found.
fn check(case: &Case, merged: &Merged, ours_first: bool) -> Vec<String> {
    let mut problems = Vec::new();
    if case.conflicted && !ours_first {
        if !merge_drivers::text::has_conflict_markers(&merged.output, 7) {
            let mut msg = "conflicted, but the result holds no markers\n".to_owned();
            show("actual", &merged.output, &mut msg);
            problems.push(msg);
        }
    } else if merged.output != case.expected {
        let mut msg = format!(
            "output differs from `expected` (first difference at byte {}; method {:?})\n",
            first_difference(&merged.output, &case.expected),
            merged.method
        );
        show("expected", &case.expected, &mut msg);
        show("actual", &merged.output, &mut msg);
        problems.push(msg);
    }
    if merged.conflicted != case.conflicted {
        problems.push(format!(
            "conflicted is {}, expected {}",
            merged.conflicted, case.conflicted
        ));
    }
    if let Some(n) = case.records {
        if merged.records.len() != n {
            let mut msg = format!("{} records, expected {n}:\n", merged.records.len());
            for r in &merged.records {
                let _ = writeln!(msg, "  {}", serde_json::Value::Object(r.to_json()));
            }
            problems.push(msg);
        }
    }
    // A clean JSON merge of JSON inputs must be JSON. (A fallback from an input that is not
    // JSON, such as a half-written file, cannot promise that.)
    let inputs_are_json = (case.base.is_empty() || is_json(&case.base))
        && is_json(&case.ours)
        && is_json(&case.theirs);
    if case.kind == Kind::Json && !merged.conflicted && inputs_are_json && !is_json(&merged.output)
    {
        let mut msg = "clean result is not valid JSON\n".to_owned();
        show("actual", &merged.output, &mut msg);
        problems.push(msg);
    }
    problems
}

fn record_ids(merged: &Merged) -> Vec<String> {
    let mut ids: Vec<String> = merged.records.iter().map(|r| r.id()).collect();
    ids.sort();
    ids
}

#[test]
fn merge_fixtures() {
    let mut failures = Vec::new();
    let cases = load(&mut failures);

    let count = |kind: Kind| cases.iter().filter(|c| c.kind == kind).count();
    if count(Kind::Json) < MIN_JSON_CASES {
        failures.push(format!(
            "corpus: {} json cases, expected at least {MIN_JSON_CASES}",
            count(Kind::Json)
        ));
    }
    for (kind, min) in [
        (Kind::Jsonl, MIN_JSONL_CASES),
        (Kind::Markdown, MIN_MARKDOWN_CASES),
        (Kind::Yaml, MIN_YAML_CASES),
        (Kind::Toml, MIN_TOML_CASES),
    ] {
        if count(kind) < min {
            failures.push(format!(
                "corpus: {} {kind} cases, expected at least {min}",
                count(kind)
            ));
        }
    }

    let mut failed_cases = 0;
    for case in &cases {
        let mut problems: Vec<String> = Vec::new();
        let mut results = Vec::new();
        for ours_first in [true, false] {
            let direction = if ours_first {
                "ours-first"
            } else {
                "theirs-first"
            };
            match run(case, ours_first) {
                Ok(merged) => {
                    for p in check(case, &merged, ours_first) {
                        problems.push(format!("[{direction}] {p}"));
                    }
                    results.push(merged);
                }
                Err(e) => problems.push(format!("[{direction}] {e}")),
            }
        }
        if let [a, b] = &results[..] {
            // (Under `ours`/`theirs` a record names the side, which the swap changes.)
            let sided = matches!(case.policy, Policy::Ours | Policy::Theirs);
            if !sided && !a.conflicted && !b.conflicted && record_ids(a) != record_ids(b) {
                problems.push(format!(
                    "[both] record ids depend on the side: ours-first {:?}, theirs-first {:?}",
                    record_ids(a),
                    record_ids(b)
                ));
            }
        }
        if !problems.is_empty() {
            failed_cases += 1;
            let mut msg = format!("=== {} ({})", case.name, case.dir.display());
            if !case.note.is_empty() {
                let _ = write!(msg, "\n  note: {}", case.note);
            }
            for p in problems {
                let _ = write!(msg, "\n{p}");
            }
            failures.push(msg);
        }
    }

    if !failures.is_empty() {
        let names: Vec<&str> = failures
            .iter()
            .filter_map(|f| f.strip_prefix("=== "))
            .map(|f| f.split(' ').next().unwrap_or(f))
            .collect();
        panic!(
            "{failed_cases} of {} fixture cases failed:\n\n{}\n\nfailed: {}",
            cases.len(),
            failures.join("\n\n"),
            names.join(", ")
        );
    }
    eprintln!("{} fixture cases passed", cases.len());
}
