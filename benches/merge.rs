//! Merge benchmark: `git-aisync merge-driver` against `git merge-file` on realistic memory files.
//!
//! Run with `cargo bench --bench merge` (release build). Optional arguments after `--` filter
//! the cases by name (`cargo bench --bench merge -- jsonl`). Environment:
//! `MERGE_BENCH_RUNS` (timed runs per tool, default 5), `MERGE_BENCH_KEEP=1` (keep the temp
//! dir with the generated inputs and outputs).
//!
//! Every input is generated from a fixed seed, so every run merges the same bytes. For each case
//! the driver and `git merge-file` run as child processes, spawned by a small helper process
//! (see "Measuring child processes") and reaped with `wait4` to read their peak RSS. Times are
//! reported, never asserted; the bench exits non-zero only when the driver fails or leaves
//! conflict markers, or our result is invalid, not reproducible, or loses, duplicates or
//! resurrects a record. Records that differ from the expected merge are reported as notes.
//!
//! To add a case (Markdown, YAML, …): write a generator returning a [`Case`] (the three inputs,
//! the ids the result must hold or must not hold, a few edit needles that must survive; leave
//! `records` empty for kinds whose records are not JSON objects) and add it to the list in
//! `main`; give [`valid`] a rule for its kind if it has one.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aisync_testkit::dates::{epoch_of, rfc3339};
use aisync_testkit::rng::Rng;
use serde_json::{json, Value};

const SEED: u64 = 0x5eed_a15c_0de5_1a7e;
const MB: usize = 1 << 20;
/// Past this much time spent on one tool in one case, stop taking further timed runs.
const CASE_TOOL_BUDGET: Duration = Duration::from_secs(15);

// ---------------------------------------------------------------------------------------------
// Cases

struct Case {
    name: String,
    /// The driver kind: json, jsonl, yaml, markdown, toml, text.
    kind: &'static str,
    /// The path handed to the driver (as git's %P).
    path: &'static str,
    base: Vec<u8>,
    ours: Vec<u8>,
    theirs: Vec<u8>,
    expect: Expect,
}

/// What a correct merge result holds.
struct Expect {
    /// Text before every record id in the file (`"id": "` for the JSON kinds); the id runs to
    /// the next `"`.
    id_marker: &'static str,
    /// Every id the result must hold exactly once (kept base records and both sides' appends).
    kept: Vec<String>,
    /// The ids either side appended (a subset of `kept`), counted separately for git's result.
    appended: Vec<String>,
    /// Ids deleted on one side and untouched on the other: must be gone.
    deleted: Vec<String>,
    /// Text of edits (from either side) that must survive the merge.
    needles: Vec<String>,
    /// For kinds whose records are JSON objects (json, jsonl): every record the result must
    /// hold, compared by value (key order aside) with the result's record of the same `id`.
    records: Vec<Value>,
    /// The timestamp field of the records: appended records must come out in its order.
    ts_key: Option<&'static str>,
}

// ---------------------------------------------------------------------------------------------
// Deterministic generation

const WORDS: &[&str] = &[
    "the",
    "user",
    "prefers",
    "tabs",
    "over",
    "spaces",
    "in",
    "rust",
    "projects",
    "and",
    "uses",
    "neovim",
    "with",
    "a",
    "dark",
    "theme",
    "project",
    "build",
    "runs",
    "through",
    "cargo",
    "nextest",
    "deploys",
    "go",
    "to",
    "staging",
    "first",
    "never",
    "force",
    "push",
    "main",
    "branch",
    "reviews",
    "are",
    "required",
    "for",
    "every",
    "change",
    "database",
    "is",
    "postgres",
    "16",
    "migrations",
    "live",
    "under",
    "db/migrations",
    "API",
    "keys",
    "come",
    "from",
    "the",
    "vault",
    "not",
    "env",
    "files",
    "tests",
    "should",
    "be",
    "deterministic",
    "timezone",
    "Europe/Berlin",
    "meetings",
    "on",
    "Tuesday",
    "afternoons",
    "answer",
    "briefly",
    "explain",
    "trade-offs",
    "café",
    "naïve",
    "résumé",
    "→",
    "λ",
    "日本語",
    "documentation",
    "lives",
    "in",
    "docs/",
    "CI",
    "takes",
    "about",
    "twelve",
    "minutes",
    "flaky",
    "test",
    "quarantined",
    "owner",
    "is",
    "Alice",
    "Bob",
    "on-call",
    "rotation",
    "weekly",
    "latency",
    "budget",
    "p99",
    "under",
    "200ms",
    "cache",
    "invalidation",
    "uses",
    "etags",
    "service",
    "mesh",
    "retries",
    "idempotent",
    "handlers",
    "only",
    "feature",
    "flags",
    "cleanup",
    "quarterly",
    "prefers",
    "small",
    "commits",
    "squash",
    "merge",
    "disabled",
    "semver",
    "release",
    "notes",
    "written",
    "by",
    "hand",
];

const TAGS: &[&str] = &[
    "preference",
    "project",
    "workflow",
    "style",
    "infra",
    "people",
    "schedule",
    "security",
    "testing",
    "release",
    "db",
    "editor",
    "language",
    "ci",
    "oncall",
];

fn sentence(rng: &mut Rng, lo: usize, hi: usize) -> String {
    let n = rng.range(lo, hi);
    let mut s = String::new();
    for i in 0..n {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(rng.pick(WORDS));
    }
    // Some escapes: quotes, newlines, tabs, backslashes.
    match rng.below(12) {
        0 => s.push_str(" (said \"always\")"),
        1 => s.push_str("\nsee also: the wiki"),
        2 => s.push_str("\tpath: C:\\work\\repo"),
        _ => s.push('.'),
    }
    s
}

/// 2024-01-01T00:00:00Z.
const T_BASE: i64 = 1_704_067_200;
/// 2025-03-01T08:00:00Z: when the two machines diverged.
const T_FORK: i64 = 1_740_816_000;

/// Distinct indices in `0..n` not in `taken`, which receives them.
fn sample(rng: &mut Rng, n: usize, k: usize, taken: &mut HashSet<usize>) -> Vec<usize> {
    let mut out = Vec::with_capacity(k);
    while out.len() < k {
        let i = rng.below(n);
        if taken.insert(i) {
            out.push(i);
        }
    }
    out
}

/// Which base records each side edits and deletes.
struct EditPlan {
    /// Edited on both sides, in different fields.
    both: Vec<usize>,
    ours_only: Vec<usize>,
    theirs_only: Vec<usize>,
    /// Deleted by ours (the last one was edited by theirs: modify beats delete, so it stays).
    ours_deletes: Vec<usize>,
    /// Deleted by theirs (the last one was edited by ours, so it stays).
    theirs_deletes: Vec<usize>,
}

impl EditPlan {
    fn new(rng: &mut Rng, n: usize) -> EditPlan {
        let mut taken = HashSet::new();
        let both = sample(rng, n, 4, &mut taken);
        let ours_only = sample(rng, n, 6, &mut taken);
        let theirs_only = sample(rng, n, 6, &mut taken);
        let mut ours_deletes = sample(rng, n, 2, &mut taken);
        ours_deletes.push(theirs_only[0]);
        let mut theirs_deletes = sample(rng, n, 2, &mut taken);
        theirs_deletes.push(ours_only[0]);
        EditPlan {
            both,
            ours_only,
            theirs_only,
            ours_deletes,
            theirs_deletes,
        }
    }

    /// Ids that must be gone: deleted on one side, untouched on the other.
    fn gone(&self) -> HashSet<usize> {
        let ours_edits: HashSet<usize> = self.both.iter().chain(&self.ours_only).copied().collect();
        let theirs_edits: HashSet<usize> =
            self.both.iter().chain(&self.theirs_only).copied().collect();
        self.ours_deletes
            .iter()
            .filter(|i| !theirs_edits.contains(i))
            .chain(
                self.theirs_deletes
                    .iter()
                    .filter(|i| !ours_edits.contains(i)),
            )
            .copied()
            .collect()
    }
}

/// Applies one side's edits and deletes to a copy of `base`, then appends.
fn derive(
    base: &[Value],
    deletes: &[usize],
    mut edit: impl FnMut(usize, &mut Value),
    appends: Vec<Value>,
) -> Vec<Value> {
    let deletes: HashSet<usize> = deletes.iter().copied().collect();
    let mut out = Vec::with_capacity(base.len() + appends.len());
    for (i, rec) in base.iter().enumerate() {
        if deletes.contains(&i) {
            continue;
        }
        let mut rec = rec.clone();
        edit(i, &mut rec);
        out.push(rec);
    }
    out.extend(appends);
    out
}

fn ids_of(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

/// What merging `base` edited by `ours_edit` and `theirs_edit` (and the plan's deletes and the
/// appends) must give.
#[allow(clippy::too_many_arguments)]
fn expect_for(
    base: &[Value],
    plan: &EditPlan,
    ours_edit: impl Fn(usize, &mut Value),
    theirs_edit: impl Fn(usize, &mut Value),
    ours_app: &[Value],
    theirs_app: &[Value],
    needles: Vec<String>,
    ts_key: &'static str,
) -> Expect {
    let gone = plan.gone();
    let mut records = Vec::new();
    for (i, rec) in base.iter().enumerate() {
        if gone.contains(&i) {
            continue;
        }
        let (mut a, mut b) = (rec.clone(), rec.clone());
        ours_edit(i, &mut a);
        theirs_edit(i, &mut b);
        records.push(merge_record(rec, &a, &b, ts_key));
    }
    records.extend(ours_app.iter().cloned());
    records.extend(theirs_app.iter().cloned());
    let base_ids = ids_of(base);
    let appended: Vec<String> = ids_of(ours_app)
        .into_iter()
        .chain(ids_of(theirs_app))
        .collect();
    let kept = base_ids
        .iter()
        .enumerate()
        .filter(|(i, _)| !gone.contains(i))
        .map(|(_, id)| id.clone())
        .chain(appended.iter().cloned())
        .collect();
    let deleted = gone.iter().map(|&i| base_ids[i].clone()).collect();
    Expect {
        id_marker: "\"id\": \"",
        kept,
        appended,
        deleted,
        needles,
        records,
        ts_key: Some(ts_key),
    }
}

/// The field-by-field merge the README specifies, for the edits this bench makes: a field
/// changed on one side takes that change; the timestamp field changed on both takes the later
/// instant (equal instants: the bytewise greater JSON text).
fn merge_record(o: &Value, a: &Value, b: &Value, ts_key: &str) -> Value {
    let (o, a, b) = (
        o.as_object().unwrap(),
        a.as_object().unwrap(),
        b.as_object().unwrap(),
    );
    let mut keys: Vec<&String> = o.keys().collect();
    for k in a.keys().chain(b.keys()) {
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    let mut out = serde_json::Map::new();
    for k in keys {
        let (vo, va, vb) = (o.get(k), a.get(k), b.get(k));
        let v = if va == vb || vb == vo {
            va
        } else if va == vo {
            vb
        } else if k == ts_key {
            let instant = |v: Option<&Value>| v.and_then(Value::as_str).and_then(epoch_of);
            let text = |v: Option<&Value>| v.map(Value::to_string);
            if (instant(va), text(va)) > (instant(vb), text(vb)) {
                va
            } else {
                vb
            }
        } else {
            panic!("bench generator edited `{k}` on both sides");
        };
        if let Some(v) = v {
            out.insert(k.clone(), v.clone());
        }
    }
    Value::Object(out)
}

// --- JSON memory store ------------------------------------------------------------------------

fn memory(rng: &mut Rng, id: String, created: i64, updated: i64, offset: i64) -> Value {
    let ntags = rng.range(1, 4);
    let mut tags: Vec<&str> = Vec::new();
    while tags.len() < ntags {
        let t = rng.pick(TAGS);
        if !tags.contains(&t) {
            tags.push(t);
        }
    }
    let machine = rng.pick(&["laptop", "desktop", "ci-runner"]);
    json!({
        "id": id,
        "text": sentence(rng, 12, 45),
        "tags": tags,
        "created_at": rfc3339(created, offset),
        "updated_at": rfc3339(updated, offset),
        "source": {
            "tool": rng.pick(&["claude-code", "cursor", "aider"]),
            "machine": machine,
            "session_id": format!("s-{:08x}", rng.next_u64() as u32),
            "confidence": (rng.below(100) as f64) / 100.0,
        },
    })
}

fn json_store(records: &[Value], retention_days: u64, auto_save: bool) -> Vec<u8> {
    let doc = json!({
        "version": 1,
        "memories": records,
        "settings": {
            "auto_save": auto_save,
            "max_memories": 50_000,
            "embedding_model": "text-embedding-3-small",
            "retention_days": retention_days,
        },
    });
    let mut s = serde_json::to_vec_pretty(&doc).unwrap();
    s.push(b'\n');
    s
}

fn json_case(target: usize) -> Case {
    let mut rng = Rng::new(SEED ^ target as u64);
    // Base: records until the pretty-printed store reaches the target size.
    let mut base = Vec::new();
    let mut size = 200;
    let mut t = T_BASE;
    while size < target {
        t += rng.range(60, 3600) as i64;
        let updated = t + if rng.chance(30) {
            rng.range(60, 86_400) as i64
        } else {
            0
        };
        let rec = memory(&mut rng, format!("m-{:06}", base.len()), t, updated, 0);
        // Nested four more spaces deep than on its own, one line per text line.
        let text = serde_json::to_string_pretty(&rec).unwrap();
        size += text.len() + 4 * text.lines().count() + 2;
        base.push(rec);
    }
    let n = base.len();
    assert!(n < 100_000, "ids of appended records would collide");
    let plan = EditPlan::new(&mut rng, n);
    let appends = (n / 100).max(1);

    // Ours: a laptop writing UTC. Theirs: a desktop writing local time (+02:00), so instants
    // and byte order disagree for some timestamps.
    let ours_app: Vec<Value> = (0..appends)
        .map(|i| {
            let at = T_FORK + 600 * i as i64;
            memory(&mut rng, format!("m-{:06}", 100_000 + i), at, at, 0)
        })
        .collect();
    let theirs_app: Vec<Value> = (0..appends)
        .map(|i| {
            let at = T_FORK + 300 + 600 * i as i64;
            memory(&mut rng, format!("m-{:06}", 200_000 + i), at, at, 120)
        })
        .collect();

    let mut needles = Vec::new();
    let ours_text: HashMap<usize, String> = plan
        .both
        .iter()
        .chain(&plan.ours_only)
        .enumerate()
        .map(|(k, &i)| {
            (
                i,
                format!("{} [edited on laptop #{k}]", sentence(&mut rng, 8, 20)),
            )
        })
        .collect();
    let theirs_text: HashMap<usize, String> = plan
        .theirs_only
        .iter()
        .enumerate()
        .map(|(k, &i)| {
            (
                i,
                format!("{} [revised on desktop #{k}]", sentence(&mut rng, 8, 20)),
            )
        })
        .collect();
    for s in ours_text.values().chain(theirs_text.values()) {
        needles.push(serde_json::to_string(s).unwrap());
    }
    let theirs_tag: HashMap<usize, String> = plan
        .both
        .iter()
        .enumerate()
        .map(|(k, &i)| (i, format!("reviewed-{k}")))
        .collect();
    for tag in theirs_tag.values() {
        needles.push(format!("\"{tag}\""));
    }

    // Settings: ours changes one, theirs another.
    needles.push("\"retention_days\": 180".into());
    needles.push("\"auto_save\": false".into());

    let ours_edit = |i: usize, rec: &mut Value| {
        if let Some(text) = ours_text.get(&i) {
            rec["text"] = json!(text);
            // 09:00Z to 10:59Z: before or after theirs' 11:30+02:00 (09:30Z) on the same records.
            rec["updated_at"] = json!(rfc3339(T_FORK + 3600 + (60 * i as i64) % 7200, 0));
        }
    };
    let theirs_edit = |i: usize, rec: &mut Value| {
        if let Some(text) = theirs_text.get(&i) {
            rec["text"] = json!(text);
            rec["updated_at"] = json!(rfc3339(T_FORK + 1800, 120));
        }
        if let Some(tag) = theirs_tag.get(&i) {
            rec["tags"].as_array_mut().unwrap().push(json!(tag));
            rec["updated_at"] = json!(rfc3339(T_FORK + 5400, 120));
        }
    };
    let ours = derive(&base, &plan.ours_deletes, ours_edit, ours_app.clone());
    let theirs = derive(&base, &plan.theirs_deletes, theirs_edit, theirs_app.clone());
    let expect = expect_for(
        &base,
        &plan,
        ours_edit,
        theirs_edit,
        &ours_app,
        &theirs_app,
        needles,
        "updated_at",
    );
    Case {
        name: format!("json {}MB", target / MB),
        kind: "json",
        path: "memory/store.json",
        base: json_store(&base, 365, true),
        // Ours changes one setting, theirs another.
        ours: json_store(&ours, 180, true),
        theirs: json_store(&theirs, 365, false),
        expect,
    }
}

// --- JSONL session log ------------------------------------------------------------------------

fn event(rng: &mut Rng, id: String, ts: i64, offset: i64) -> Value {
    let role = rng.pick(&["user", "assistant", "assistant", "tool"]);
    let content = match role {
        "tool" => format!("$ cargo test\n{}", sentence(rng, 5, 25)),
        _ => sentence(rng, 8, 60),
    };
    json!({ "ts": rfc3339(ts, offset), "id": id, "role": role, "content": content })
}

/// One record per line, with `": "` and `", "` separators (as Python's `json.dumps` writes).
fn jsonl_line(rec: &Value, out: &mut Vec<u8>) {
    out.push(b'{');
    for (k, (key, value)) in rec.as_object().unwrap().iter().enumerate() {
        if k > 0 {
            out.extend_from_slice(b", ");
        }
        serde_json::to_writer(&mut *out, key).unwrap();
        out.extend_from_slice(b": ");
        serde_json::to_writer(&mut *out, value).unwrap();
    }
    out.extend_from_slice(b"}\n");
}

fn jsonl_log(records: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    for rec in records {
        jsonl_line(rec, &mut out);
    }
    out
}

fn jsonl_case(target: usize) -> Case {
    let mut rng = Rng::new(SEED ^ (target as u64).rotate_left(17));
    let mut base = Vec::new();
    let mut size = 0;
    let mut t = T_BASE;
    let mut line = Vec::new();
    while size < target {
        t += rng.range(1, 120) as i64;
        let rec = event(&mut rng, format!("e-{:07}", base.len()), t, 0);
        line.clear();
        jsonl_line(&rec, &mut line);
        size += line.len();
        base.push(rec);
    }
    let n = base.len();
    assert!(n < 1_000_000, "ids of appended records would collide");
    let plan = EditPlan::new(&mut rng, n);
    let appends = (n / 100).max(1);
    let ours_app: Vec<Value> = (0..appends)
        .map(|i| {
            event(
                &mut rng,
                format!("e-{:07}", 1_000_000 + i),
                T_FORK + 20 * i as i64,
                0,
            )
        })
        .collect();
    let theirs_app: Vec<Value> = (0..appends)
        .map(|i| {
            event(
                &mut rng,
                format!("e-{:07}", 2_000_000 + i),
                T_FORK + 10 + 20 * i as i64,
                120,
            )
        })
        .collect();

    let mut needles = Vec::new();
    let ours_content: HashMap<usize, String> = plan
        .both
        .iter()
        .chain(&plan.ours_only)
        .enumerate()
        .map(|(k, &i)| (i, format!("[redacted on laptop #{k}]")))
        .collect();
    let theirs_content: HashMap<usize, String> = plan
        .theirs_only
        .iter()
        .enumerate()
        .map(|(k, &i)| (i, format!("[redacted on desktop #{k}]")))
        .collect();
    let theirs_note: HashMap<usize, String> = plan
        .both
        .iter()
        .enumerate()
        .map(|(k, &i)| (i, format!("pinned on desktop #{k}")))
        .collect();
    for s in ours_content
        .values()
        .chain(theirs_content.values())
        .chain(theirs_note.values())
    {
        needles.push(serde_json::to_string(s).unwrap());
    }

    let ours_edit = |i: usize, rec: &mut Value| {
        if let Some(c) = ours_content.get(&i) {
            rec["content"] = json!(c);
        }
    };
    let theirs_edit = |i: usize, rec: &mut Value| {
        if let Some(c) = theirs_content.get(&i) {
            rec["content"] = json!(c);
        }
        if let Some(note) = theirs_note.get(&i) {
            rec["note"] = json!(note);
        }
    };
    let ours = derive(&base, &plan.ours_deletes, ours_edit, ours_app.clone());
    let theirs = derive(&base, &plan.theirs_deletes, theirs_edit, theirs_app.clone());
    let expect = expect_for(
        &base,
        &plan,
        ours_edit,
        theirs_edit,
        &ours_app,
        &theirs_app,
        needles,
        "ts",
    );
    Case {
        name: format!("jsonl {}MB", target / MB),
        kind: "jsonl",
        path: "memory/sessions/log.jsonl",
        base: jsonl_log(&base),
        ours: jsonl_log(&ours),
        theirs: jsonl_log(&theirs),
        expect,
    }
}

// --- Markdown memory notes -------------------------------------------------------------------

/// One bullet of the notes: `- text ^id` (an Obsidian-style block id ends every bullet, so
/// the id checks find it with the marker `^`).
#[derive(Clone)]
struct Note {
    id: String,
    text: String,
}

impl Note {
    fn line(&self) -> String {
        format!("- {} ^{}\n", self.text, self.id)
    }
}

#[derive(Clone)]
enum MdBlock {
    List(Vec<Note>),
    /// Whole lines, each ending in `\n`.
    Text(String),
}

#[derive(Clone)]
struct MdSection {
    heading: String,
    blocks: Vec<MdBlock>,
}

/// A sentence for a bullet: a second line becomes an indented continuation line.
fn note_text(rng: &mut Rng) -> String {
    sentence(rng, 6, 22).replace('\n', "\n  ")
}

fn md_paragraph(rng: &mut Rng) -> String {
    let mut s = String::new();
    for _ in 0..rng.range(2, 4) {
        s.push_str(&sentence(rng, 8, 16).replace('\n', " "));
        s.push('\n');
    }
    s
}

/// A fenced code block whose `#` comment lines are no headings.
fn md_code(rng: &mut Rng) -> String {
    let mut s = String::from("```sh\n");
    for _ in 0..rng.range(1, 3) {
        s.push_str(&format!("# {}\n", sentence(rng, 3, 8).replace('\n', " ")));
        s.push_str(rng.pick(&[
            "cargo nextest run --workspace\n",
            "psql \"$DATABASE_URL\" -f db/migrations/0042_memories.sql\n",
            "git push origin HEAD:staging\n",
            "make deploy ENV=staging\n",
        ]));
    }
    s.push_str("```\n");
    s
}

fn md_render(sections: &[MdSection]) -> Vec<u8> {
    let mut out = String::from("# Memory notes\n\nWhat the assistant keeps between sessions.\n");
    for s in sections {
        out.push('\n');
        out.push_str(&s.heading);
        out.push('\n');
        for b in &s.blocks {
            match b {
                MdBlock::List(notes) if notes.is_empty() => continue,
                MdBlock::List(notes) => {
                    out.push('\n');
                    for n in notes {
                        out.push_str(&n.line());
                    }
                }
                MdBlock::Text(t) => {
                    out.push('\n');
                    out.push_str(t);
                }
            }
        }
    }
    out.into_bytes()
}

/// Where every base note is: (section, block, index in the list).
fn md_positions(sections: &[MdSection]) -> Vec<(usize, usize, usize)> {
    let mut out = Vec::new();
    for (s, sec) in sections.iter().enumerate() {
        for (b, block) in sec.blocks.iter().enumerate() {
            if let MdBlock::List(notes) = block {
                out.extend((0..notes.len()).map(|i| (s, b, i)));
            }
        }
    }
    out
}

fn md_case(target: usize) -> Case {
    let mut rng = Rng::new(SEED ^ (target as u64).rotate_left(41));
    const SECTIONS: usize = 40;
    let per_section = target / SECTIONS;
    let mut next_id = 0usize;
    let fresh = |rng: &mut Rng, next: &mut usize| {
        *next += 1;
        Note {
            id: format!("n-{:06}", *next - 1),
            text: note_text(rng),
        }
    };
    // Base: 40 sections, each lists of bullets with the odd paragraph or code fence between.
    let mut sections = Vec::with_capacity(SECTIONS);
    for s in 0..SECTIONS {
        let mut blocks = Vec::new();
        let mut size = 0;
        if rng.chance(50) {
            let p = md_paragraph(&mut rng);
            size += p.len();
            blocks.push(MdBlock::Text(p));
        }
        while size < per_section {
            let mut notes = Vec::new();
            for _ in 0..rng.range(5, 25) {
                let n = fresh(&mut rng, &mut next_id);
                size += n.line().len();
                notes.push(n);
            }
            blocks.push(MdBlock::List(notes));
            if size < per_section {
                let t = if rng.chance(30) {
                    md_code(&mut rng)
                } else {
                    md_paragraph(&mut rng)
                };
                size += t.len();
                blocks.push(MdBlock::Text(t));
            }
        }
        sections.push(MdSection {
            heading: format!("## Topic {}", s + 1),
            blocks,
        });
    }
    let positions = md_positions(&sections);
    let n = positions.len();
    assert!(n < 100_000, "ids of appended notes would collide");

    // Edits and deletes, disjoint but for one modify/delete pair each way.
    let mut taken = HashSet::new();
    let ours_edits = sample(&mut rng, n, 6, &mut taken);
    let theirs_edits = sample(&mut rng, n, 6, &mut taken);
    let mut ours_deletes = sample(&mut rng, n, 3, &mut taken);
    ours_deletes.push(theirs_edits[0]);
    let mut theirs_deletes = sample(&mut rng, n, 3, &mut taken);
    theirs_deletes.push(ours_edits[0]);

    // Appends: ours at the end of 10 sections, theirs at the end of 5 of those and in the
    // middle of 3 others.
    let mut picked = HashSet::new();
    let ours_sections = sample(&mut rng, SECTIONS, 10, &mut picked);
    let mut theirs_sections: Vec<(usize, bool)> =
        ours_sections[..5].iter().map(|&s| (s, true)).collect();
    theirs_sections.extend(
        sample(&mut rng, SECTIONS, 3, &mut picked)
            .into_iter()
            .map(|s| (s, false)),
    );
    let appends_per_section = (n / 100 / 10).max(3);

    let mut needles = Vec::new();
    let mut appended = Vec::new();
    let mut edit = |rng: &mut Rng, side: &mut [MdSection], edits: &[usize], tag: &str| {
        for (k, &i) in edits.iter().enumerate() {
            let (s, b, j) = positions[i];
            if let MdBlock::List(notes) = &mut side[s].blocks[b] {
                notes[j].text = format!("{} [{tag} #{k}]", note_text(rng));
                needles.push(notes[j].line());
            }
        }
    };
    let mut ours = sections.clone();
    let mut theirs = sections.clone();
    edit(&mut rng, &mut ours, &ours_edits, "edited on laptop");
    edit(&mut rng, &mut theirs, &theirs_edits, "revised on desktop");
    let delete = |side: &mut [MdSection], deletes: &[usize]| {
        let mut gone: Vec<(usize, usize, usize)> = deletes.iter().map(|&i| positions[i]).collect();
        // From the back, so earlier indices stay valid.
        gone.sort_unstable_by(|a, b| b.cmp(a));
        for (s, b, j) in gone {
            if let MdBlock::List(notes) = &mut side[s].blocks[b] {
                notes.remove(j);
            }
        }
    };
    delete(&mut ours, &ours_deletes);
    delete(&mut theirs, &theirs_deletes);

    let append_at = |rng: &mut Rng,
                     side: &mut [MdSection],
                     s: usize,
                     at_end: bool,
                     base_id: usize,
                     appended: &mut Vec<String>| {
        let lists: Vec<usize> = (0..side[s].blocks.len())
            .filter(|&b| matches!(side[s].blocks[b], MdBlock::List(_)))
            .collect();
        let b = if at_end {
            *lists.last().unwrap()
        } else {
            lists[rng.below(lists.len())]
        };
        if let MdBlock::List(notes) = &mut side[s].blocks[b] {
            for k in 0..appends_per_section {
                let id = format!("n-{:06}", base_id + k);
                appended.push(id.clone());
                notes.push(Note {
                    id,
                    text: note_text(rng),
                });
            }
        }
    };
    for (k, &s) in ours_sections.iter().enumerate() {
        append_at(
            &mut rng,
            &mut ours,
            s,
            true,
            100_000 + 1000 * k,
            &mut appended,
        );
    }
    for (k, &(s, at_end)) in theirs_sections.iter().enumerate() {
        append_at(
            &mut rng,
            &mut theirs,
            s,
            at_end,
            200_000 + 1000 * k,
            &mut appended,
        );
    }
    // Ours also opens a new section after Topic 20.
    let mut notes = Vec::new();
    for k in 0..appends_per_section {
        let id = format!("n-{:06}", 300_000 + k);
        appended.push(id.clone());
        notes.push(Note {
            id,
            text: note_text(&mut rng),
        });
    }
    let heading = "## Deploy checklist (laptop)".to_string();
    needles.push(format!("{heading}\n"));
    ours.insert(
        20,
        MdSection {
            heading,
            blocks: vec![MdBlock::Text(md_paragraph(&mut rng)), MdBlock::List(notes)],
        },
    );

    // Ids: deleted on one side and untouched on the other must be gone.
    let base_ids: Vec<&str> = positions
        .iter()
        .map(|&(s, b, j)| match &sections[s].blocks[b] {
            MdBlock::List(notes) => notes[j].id.as_str(),
            MdBlock::Text(_) => unreachable!(),
        })
        .collect();
    let ours_touched: HashSet<usize> = ours_edits.iter().copied().collect();
    let theirs_touched: HashSet<usize> = theirs_edits.iter().copied().collect();
    let gone: HashSet<usize> = ours_deletes
        .iter()
        .filter(|i| !theirs_touched.contains(i))
        .chain(theirs_deletes.iter().filter(|i| !ours_touched.contains(i)))
        .copied()
        .collect();
    let kept = (0..n)
        .filter(|i| !gone.contains(i))
        .map(|i| base_ids[i].to_owned())
        .chain(appended.iter().cloned())
        .collect();
    let deleted = gone.iter().map(|&i| base_ids[i].to_owned()).collect();

    Case {
        name: format!("markdown {}MB", target / MB),
        kind: "markdown",
        path: "memory/notes.md",
        base: md_render(&sections),
        ours: md_render(&ours),
        theirs: md_render(&theirs),
        expect: Expect {
            id_marker: "^",
            kept,
            appended,
            deleted,
            needles,
            records: Vec::new(),
            ts_key: None,
        },
    }
}

// ---------------------------------------------------------------------------------------------
// Checks

/// Whether `bytes` is a valid file of `kind`.
fn valid(kind: &str, bytes: &[u8]) -> Result<(), String> {
    match kind {
        "json" => serde_json::from_slice::<Value>(bytes)
            .map(drop)
            .map_err(|e| e.to_string()),
        "jsonl" => {
            for (n, line) in bytes.split(|&b| b == b'\n').enumerate() {
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                if let Err(e) = serde_json::from_slice::<Value>(line) {
                    return Err(format!("line {}: {e}", n + 1));
                }
            }
            Ok(())
        }
        // No parser here yet: at least no conflict markers.
        _ => {
            let markers = bytes
                .split(|&b| b == b'\n')
                .any(|l| l.starts_with(b"<<<<<<< ") || l.starts_with(b">>>>>>> "));
            if markers {
                Err("conflict markers".into())
            } else {
                Ok(())
            }
        }
    }
}

/// Occurrences of every id in `bytes`.
fn id_counts<'a>(bytes: &'a [u8], marker: &str) -> HashMap<&'a [u8], usize> {
    let marker = marker.as_bytes();
    let mut counts = HashMap::new();
    let mut rest = bytes;
    while let Some(at) = find(rest, marker) {
        rest = &rest[at + marker.len()..];
        let end = rest
            .iter()
            .position(|&b| b == b'"' || b == b'\n')
            .unwrap_or(rest.len());
        *counts.entry(&rest[..end]).or_insert(0) += 1;
        rest = &rest[end..];
    }
    counts
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let first = needle[0];
    let mut from = 0;
    while let Some(p) = hay[from..].iter().position(|&b| b == first) {
        let at = from + p;
        if hay[at..].starts_with(needle) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

struct IdReport {
    kept_present: usize,
    missing: Vec<String>,
    duplicated: Vec<String>,
    resurrected: Vec<String>,
    appended_present: usize,
    needles_missing: Vec<String>,
}

impl IdReport {
    fn new(bytes: &[u8], expect: &Expect) -> IdReport {
        let counts = id_counts(bytes, expect.id_marker);
        let count = |id: &String| counts.get(id.as_bytes()).copied().unwrap_or(0);
        IdReport {
            kept_present: expect.kept.iter().filter(|id| count(id) > 0).count(),
            missing: expect
                .kept
                .iter()
                .filter(|id| count(id) == 0)
                .cloned()
                .collect(),
            duplicated: expect
                .kept
                .iter()
                .filter(|id| count(id) > 1)
                .cloned()
                .collect(),
            resurrected: expect
                .deleted
                .iter()
                .filter(|id| count(id) > 0)
                .cloned()
                .collect(),
            appended_present: expect.appended.iter().filter(|id| count(id) > 0).count(),
            needles_missing: expect
                .needles
                .iter()
                .filter(|n| find(bytes, n.as_bytes()).is_none())
                .cloned()
                .collect(),
        }
    }

    fn ok(&self) -> bool {
        self.missing.is_empty() && self.duplicated.is_empty() && self.resurrected.is_empty()
    }
}

/// The records of a json/jsonl result: every object with a string `id` (not looked into).
fn records_in(kind: &str, bytes: &[u8]) -> Option<Vec<Value>> {
    fn walk(v: Value, out: &mut Vec<Value>) {
        match v {
            Value::Object(map) if map.get("id").is_some_and(Value::is_string) => {
                out.push(Value::Object(map))
            }
            Value::Object(map) => map.into_iter().for_each(|(_, v)| walk(v, out)),
            Value::Array(items) => items.into_iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    match kind {
        "json" => walk(serde_json::from_slice(bytes).ok()?, &mut out),
        "jsonl" => {
            for line in bytes.split(|&b| b == b'\n') {
                if !line.iter().all(u8::is_ascii_whitespace) {
                    walk(serde_json::from_slice(line).ok()?, &mut out);
                }
            }
        }
        _ => return None,
    }
    Some(out)
}

/// Checks the result's records against the expected ones; None if the kind has none to check.
struct ContentReport {
    expected: usize,
    /// Expected records found in the result (and compared).
    compared: usize,
    /// Ids whose record differs from the expected one.
    wrong: Vec<String>,
    /// Appended records out of their timestamp order, as (earlier id, later id) pairs.
    out_of_order: Vec<String>,
}

fn check_content(kind: &str, bytes: &[u8], expect: &Expect) -> Option<ContentReport> {
    if expect.records.is_empty() {
        return None;
    }
    let got = records_in(kind, bytes)?;
    let by_id: HashMap<&str, &Value> = got.iter().map(|r| (r["id"].as_str().unwrap(), r)).collect();
    let mut compared = 0;
    let mut wrong = Vec::new();
    for want in &expect.records {
        let id = want["id"].as_str().unwrap();
        // A missing record is reported by the id check.
        if let Some(got) = by_id.get(id) {
            compared += 1;
            if *got != want {
                wrong.push(id.to_owned());
            }
        }
    }
    let mut out_of_order = Vec::new();
    if let Some(key) = expect.ts_key {
        let appended: HashSet<&str> = expect.appended.iter().map(String::as_str).collect();
        let seq: Vec<(&str, Option<i64>)> = got
            .iter()
            .map(|r| r["id"].as_str().unwrap())
            .filter(|id| appended.contains(id))
            .map(|id| (id, by_id[id][key].as_str().and_then(epoch_of)))
            .collect();
        for w in seq.windows(2) {
            if w[0].1 > w[1].1 {
                out_of_order.push(format!("{} before {}", w[0].0, w[1].0));
            }
        }
    }
    Some(ContentReport {
        expected: expect.records.len(),
        compared,
        wrong,
        out_of_order,
    })
}

fn few(ids: &[String]) -> String {
    let mut s = ids.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
    if ids.len() > 5 {
        s.push_str(&format!(", … ({} in all)", ids.len()));
    }
    s
}

// ---------------------------------------------------------------------------------------------
// Measuring child processes
//
// On Linux a child's `ru_maxrss` starts from the RSS of the process that spawned it: std spawns
// with vfork/posix_spawn, and exec records the high-water mark of the memory it replaces, which
// for a vfork child is the parent's. This bench holds hundreds of MB of generated inputs, so
// children spawned from it would all report at least that. They are therefore spawned by a small
// helper: this same executable, started with `--measure-server` first thing in `main` (while
// the bench is still a few MB), which runs each command it is sent, reaps it with `wait4` and
// answers with the wall time, peak RSS and exit code.

/// One command for the helper to run.
struct Spec {
    argv: Vec<String>,
    cwd: PathBuf,
    /// File for the child's stdout; `None` discards it.
    stdout: Option<PathBuf>,
    /// File for the child's stderr; `None` discards it.
    stderr: Option<PathBuf>,
}

struct Run {
    wall: Duration,
    /// Peak resident set of the child, KiB.
    maxrss_kib: u64,
    /// Exit code, or None if killed by a signal.
    code: Option<i32>,
}

const SERVER_ARG: &str = "--measure-server";

/// Spawns `cmd` and reaps it with `wait4` to read its peak RSS.
fn measure(cmd: &mut Command) -> io::Result<Run> {
    let start = Instant::now();
    let child = cmd.spawn()?;
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = loop {
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == -1 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
            continue;
        }
        break r;
    };
    let wall = start.elapsed();
    // Reaped already: `child` must not be waited on again (dropping it does not wait).
    drop(child);
    if reaped != pid {
        return Err(io::Error::last_os_error());
    }
    let code = if libc::WIFEXITED(status) {
        Some(libc::WEXITSTATUS(status))
    } else {
        None
    };
    Ok(Run {
        wall,
        maxrss_kib: usage.ru_maxrss as u64,
        code,
    })
}

/// The helper's loop: one JSON request per line on stdin, one JSON answer per line on stdout.
fn serve() {
    use std::io::{BufRead, Write};
    let stdin = io::stdin();
    let mut stdout = io::stdout();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let answer = (|| -> Result<Value, String> {
            let req: Value = serde_json::from_str(&line).map_err(|e| e.to_string())?;
            let argv: Vec<&str> = req["argv"]
                .as_array()
                .ok_or("no argv")?
                .iter()
                .map(|a| a.as_str().ok_or("argv holds a non-string"))
                .collect::<Result<_, _>>()?;
            let (program, args) = argv.split_first().ok_or("empty argv")?;
            let file = |key: &str| -> Result<Stdio, String> {
                match req[key].as_str() {
                    Some(p) => fs::File::create(p)
                        .map(Stdio::from)
                        .map_err(|e| format!("{p}: {e}")),
                    None => Ok(Stdio::null()),
                }
            };
            let mut cmd = Command::new(program);
            cmd.args(args)
                .current_dir(req["cwd"].as_str().ok_or("no cwd")?)
                .stdin(Stdio::null())
                .stdout(file("stdout")?)
                .stderr(file("stderr")?);
            let run = measure(&mut cmd).map_err(|e| format!("{program}: {e}"))?;
            Ok(json!({
                "wall_ns": run.wall.as_nanos() as u64,
                "maxrss_kib": run.maxrss_kib,
                "code": run.code,
            }))
        })()
        .unwrap_or_else(|e| json!({ "error": e }));
        if writeln!(stdout, "{answer}")
            .and_then(|()| stdout.flush())
            .is_err()
        {
            break;
        }
    }
}

/// The bench's end of the helper.
struct Measurer {
    child: std::process::Child,
    requests: Option<std::process::ChildStdin>,
    answers: io::BufReader<std::process::ChildStdout>,
}

impl Measurer {
    fn start() -> io::Result<Measurer> {
        let mut child = Command::new(std::env::current_exe()?)
            .arg(SERVER_ARG)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let requests = child.stdin.take();
        let answers = io::BufReader::new(child.stdout.take().unwrap());
        Ok(Measurer {
            child,
            requests,
            answers,
        })
    }

    fn run(&mut self, spec: &Spec) -> Result<Run, String> {
        use std::io::{BufRead, Write};
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.to_string_lossy().into_owned());
        let req = json!({
            "argv": spec.argv,
            "cwd": spec.cwd.to_string_lossy(),
            "stdout": path(&spec.stdout),
            "stderr": path(&spec.stderr),
        });
        let requests = self.requests.as_mut().expect("helper running");
        writeln!(requests, "{req}")
            .and_then(|()| requests.flush())
            .map_err(|e| format!("measure helper: {e}"))?;
        let mut line = String::new();
        self.answers
            .read_line(&mut line)
            .map_err(|e| format!("measure helper: {e}"))?;
        let answer: Value = serde_json::from_str(&line)
            .map_err(|e| format!("measure helper answered {line:?}: {e}"))?;
        if let Some(e) = answer["error"].as_str() {
            return Err(format!("running {:?}: {e}", spec.argv));
        }
        Ok(Run {
            wall: Duration::from_nanos(answer["wall_ns"].as_u64().unwrap_or(0)),
            maxrss_kib: answer["maxrss_kib"].as_u64().unwrap_or(0),
            code: answer["code"].as_i64().map(|c| c as i32),
        })
    }
}

impl Drop for Measurer {
    fn drop(&mut self) {
        // Closing its stdin ends the helper's loop.
        drop(self.requests.take());
        let _ = self.child.wait();
    }
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2
    }
}

/// Runs `spec` up to `runs` times (fewer once the budget is spent), calling `before` before
/// each run (outside the timing) and `after` after it.
fn bench(
    m: &mut Measurer,
    runs: usize,
    spec: &Spec,
    mut before: impl FnMut() -> io::Result<()>,
    mut after: impl FnMut(usize, &Run) -> Result<(), String>,
) -> Result<(Vec<Run>, Duration), String> {
    let mut done = Vec::new();
    let mut spent = Duration::ZERO;
    for i in 0..runs {
        before().map_err(|e| format!("preparing run: {e}"))?;
        let run = m.run(spec)?;
        after(i, &run)?;
        spent += run.wall;
        done.push(run);
        if spent > CASE_TOOL_BUDGET && i + 1 < runs {
            break;
        }
    }
    let med = median(done.iter().map(|r| r.wall).collect());
    Ok((done, med))
}

// ---------------------------------------------------------------------------------------------
// Running a case

struct Outcome {
    name: String,
    size: usize,
    ours_ms: f64,
    ours_runs: usize,
    ours_peak_mb: f64,
    ours_exit: Option<i32>,
    git_ms: f64,
    git_runs: usize,
    git_peak_mb: f64,
    git_valid: bool,
    git_exit: Option<i32>,
    ours_ids: IdReport,
    content: Option<ContentReport>,
    git_ids: IdReport,
    appended_total: usize,
    kept_total: usize,
    failures: Vec<String>,
    notes: Vec<String>,
}

fn run_case(
    m: &mut Measurer,
    case: &Case,
    root: &Path,
    driver: &Path,
    runs: usize,
) -> Result<Outcome, String> {
    let dir = root.join(case.name.replace(' ', "-"));
    let io_err = |e: io::Error| format!("{}: {e}", dir.display());
    fs::create_dir_all(&dir).map_err(io_err)?;
    let base = dir.join("base");
    let ours = dir.join("ours");
    let theirs = dir.join("theirs");
    fs::write(&base, &case.base).map_err(io_err)?;
    fs::write(&ours, &case.ours).map_err(io_err)?;
    fs::write(&theirs, &case.theirs).map_err(io_err)?;

    let mut failures = Vec::new();
    let mut notes = Vec::new();

    // --- ours ---
    let merged = dir.join("merged");
    let driver_err = dir.join("driver.stderr");
    let arg = |p: &Path| p.to_string_lossy().into_owned();
    let driver_spec = |current: &Path, other: &Path| Spec {
        argv: vec![
            arg(driver),
            "merge-driver".into(),
            "--no-journal".into(),
            case.kind.into(),
            arg(&base),
            arg(current),
            arg(other),
            "7".into(),
            case.path.into(),
        ],
        cwd: root.to_owned(),
        stdout: None,
        stderr: Some(driver_err.clone()),
    };
    let mut first_output: Option<Vec<u8>> = None;
    let (our_runs, our_median) = bench(
        m,
        runs,
        &driver_spec(&merged, &theirs),
        || fs::copy(&ours, &merged).map(drop),
        |i, run| {
            let out = fs::read(&merged).map_err(io_err)?;
            if run.code.is_none_or(|c| c > 1) {
                let stderr = fs::read_to_string(&driver_err).unwrap_or_default();
                return Err(format!(
                    "{}: driver failed (exit {:?}): {}",
                    case.name,
                    run.code,
                    stderr.trim()
                ));
            }
            match &first_output {
                None => first_output = Some(out),
                Some(first) if *first != out => {
                    return Err(format!(
                        "{}: run {} gave different bytes than run 1",
                        case.name,
                        i + 1
                    ))
                }
                Some(_) => {}
            }
            Ok(())
        },
    )?;
    let ours_out = first_output.unwrap();
    let ours_exit = our_runs[0].code;
    let ours_peak_kib = our_runs.iter().map(|r| r.maxrss_kib).max().unwrap();
    if ours_exit != Some(0) {
        failures.push(format!(
            "driver exited {ours_exit:?} (conflict markers left)"
        ));
    }
    if let Err(e) = valid(case.kind, &ours_out) {
        failures.push(format!("our result is not valid {}: {e}", case.kind));
    }
    let ours_ids = IdReport::new(&ours_out, &case.expect);
    if !ours_ids.missing.is_empty() {
        failures.push(format!(
            "our result lost records: {}",
            few(&ours_ids.missing)
        ));
    }
    if !ours_ids.duplicated.is_empty() {
        failures.push(format!(
            "our result duplicated records: {}",
            few(&ours_ids.duplicated)
        ));
    }
    if !ours_ids.resurrected.is_empty() {
        failures.push(format!(
            "our result resurrected deleted records: {}",
            few(&ours_ids.resurrected)
        ));
    }
    let content = check_content(case.kind, &ours_out, &case.expect);
    if let Some(c) = &content {
        if !c.wrong.is_empty() {
            notes.push(format!(
                "records differing from the expected merge: {}",
                few(&c.wrong)
            ));
        }
        if !c.out_of_order.is_empty() {
            notes.push(format!(
                "appended records not in timestamp order: {}",
                few(&c.out_of_order)
            ));
        }
    }
    if !ours_ids.needles_missing.is_empty() {
        notes.push(format!(
            "edits missing from our result: {}",
            few(&ours_ids.needles_missing)
        ));
    }

    // Symmetry (README contract): swapping the sides gives the same bytes when clean.
    let swapped = dir.join("merged-swapped");
    fs::copy(&theirs, &swapped).map_err(io_err)?;
    let run = m
        .run(&driver_spec(&swapped, &ours))
        .map_err(|e| format!("{}: swapped run: {e}", case.name))?;
    let swapped_out = fs::read(&swapped).map_err(io_err)?;
    if run.code == Some(0) && ours_exit == Some(0) && swapped_out != ours_out {
        notes.push(
            "not symmetric: merge(base, theirs, ours) differs from merge(base, ours, theirs)"
                .into(),
        );
    }

    // --- git merge-file ---
    let git_out_path = dir.join("git-merged");
    let git_spec = Spec {
        argv: vec![
            "git".into(),
            "merge-file".into(),
            "-p".into(),
            arg(&ours),
            arg(&base),
            arg(&theirs),
        ],
        cwd: root.to_owned(),
        stdout: Some(git_out_path.clone()),
        stderr: None,
    };
    let (git_runs, git_median) = bench(
        m,
        runs,
        &git_spec,
        || Ok(()),
        |_, run| match run.code {
            Some(c) if c < 128 => Ok(()),
            c => Err(format!("{}: git merge-file failed (exit {c:?})", case.name)),
        },
    )?;
    let git_out = fs::read(&git_out_path).map_err(io_err)?;
    let git_ids = IdReport::new(&git_out, &case.expect);

    Ok(Outcome {
        name: case.name.clone(),
        size: case.base.len(),
        ours_ms: ms(our_median),
        ours_runs: our_runs.len(),
        ours_peak_mb: ours_peak_kib as f64 / 1024.0,
        ours_exit,
        git_ms: ms(git_median),
        git_runs: git_runs.len(),
        git_peak_mb: git_runs.iter().map(|r| r.maxrss_kib).max().unwrap_or(0) as f64 / 1024.0,
        git_valid: valid(case.kind, &git_out).is_ok(),
        git_exit: git_runs[0].code,
        ours_ids,
        content,
        git_ids,
        appended_total: case.expect.appended.len(),
        kept_total: case.expect.kept.len(),
        failures,
        notes,
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

// ---------------------------------------------------------------------------------------------
// Locating the binary

fn driver_binary() -> Result<PathBuf, String> {
    // Cargo builds the package's binaries for its benches and says where.
    if let Some(p) = option_env!("CARGO_BIN_EXE_git-aisync") {
        let p = PathBuf::from(p);
        if p.is_file() {
            return Ok(p);
        }
    }
    // Otherwise next to this bench: target/release/deps/merge-… → target/release/git-aisync.
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| format!("no target dir above {}", exe.display()))?;
    let bin = dir.join(format!("git-aisync{}", std::env::consts::EXE_SUFFIX));
    if bin.is_file() {
        return Ok(bin);
    }
    eprintln!(
        "{} is missing: running cargo build --release --bin git-aisync",
        bin.display()
    );
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "--bin", "git-aisync"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .map_err(|e| format!("running cargo: {e}"))?;
    if status.success() && bin.is_file() {
        Ok(bin)
    } else {
        Err(format!(
            "could not build {}: run `cargo build --release --bin git-aisync` and retry",
            bin.display()
        ))
    }
}

// ---------------------------------------------------------------------------------------------

/// A YAML memory store of about `target` bytes: a list of id-keyed memories with comments,
/// block scalars and timestamps; both sides append, edit different fields, and delete.
fn yaml_case(target: usize) -> Case {
    struct Mem {
        id: String,
        text: String,
        note: Vec<String>,
        tag: &'static str,
        updated: String,
    }
    let render = |mems: &[Mem]| -> Vec<u8> {
        let mut out = String::from("# assistant memory (YAML)\nversion: 1\nmemories:\n");
        for m in mems {
            out.push_str(&format!(
                "  - id: \"{}\"\n    text: \"{}\"\n    tag: {}  # kind\n    updated_at: \"{}\"\n    note: |\n",
                m.id,
                m.text.replace('\\', "\\\\").replace('"', "\\\""),
                m.tag,
                m.updated
            ));
            for l in &m.note {
                out.push_str(&format!("      {l}\n"));
            }
        }
        out.push_str("settings:\n  theme: dark\n  font: 12\n");
        out.into_bytes()
    };
    let mut rng = Rng::new(0x7a31);
    let tags = ["fact", "preference", "project", "person"];
    let mut base: Vec<Mem> = Vec::new();
    let mut size = 0;
    while size < target {
        let i = base.len();
        let m = Mem {
            id: format!("y-{i:06}"),
            // (One line each: the word list holds line breaks for other cases.)
            text: sentence(&mut rng, 6, 14).replace(['\n', '\r'], " "),
            note: (0..rng.range(1, 3))
                .map(|_| sentence(&mut rng, 4, 10).replace(['\n', '\r'], " "))
                .collect(),
            tag: rng.pick(&tags),
            updated: format!("2026-01-{:02}T{:02}:00:00Z", 1 + i % 28, i % 24),
        };
        size += 140 + m.text.len() + m.note.iter().map(String::len).sum::<usize>();
        base.push(m);
    }
    let n = base.len();
    let copy = |m: &Mem| Mem {
        id: m.id.clone(),
        text: m.text.clone(),
        note: m.note.clone(),
        tag: m.tag,
        updated: m.updated.clone(),
    };
    let mut ours: Vec<Mem> = base.iter().map(copy).collect();
    let mut theirs: Vec<Mem> = base.iter().map(copy).collect();
    let mut needles = Vec::new();
    // Ours edits texts; theirs appends lines to the same records' notes: both kept.
    for k in 0..10 {
        let i = (k * 97 + 13) % n;
        ours[i].text = format!("edited by ours {k}");
        needles.push(ours[i].text.clone());
        theirs[i].note.push(format!("note line from theirs {k}"));
        needles.push(format!("note line from theirs {k}"));
    }
    let ours_deletes = [n / 3, n / 3 + 7];
    let theirs_deletes = [n / 2, n / 2 + 5];
    let mut appended = Vec::new();
    for (side, tag) in [(&mut ours, "o"), (&mut theirs, "t")] {
        for k in 0..(n / 100).max(3) {
            let id = format!("y-{tag}-{k:04}");
            appended.push(id.clone());
            side.push(Mem {
                id,
                text: format!("appended by {tag} {k}"),
                note: vec![format!("new note {tag} {k}")],
                tag: "fact",
                updated: "2026-02-01T00:00:00Z".into(),
            });
        }
    }
    ours.retain(|m| !ours_deletes.iter().any(|&d| m.id == format!("y-{d:06}")));
    theirs.retain(|m| !theirs_deletes.iter().any(|&d| m.id == format!("y-{d:06}")));
    let gone: Vec<usize> = ours_deletes
        .iter()
        .chain(&theirs_deletes)
        .copied()
        .collect();
    let kept = (0..n)
        .filter(|i| !gone.contains(i))
        .map(|i| format!("y-{i:06}"))
        .chain(appended.iter().cloned())
        .collect();
    Case {
        name: format!("yaml {}MB", target / MB),
        kind: "yaml",
        path: "memory/store.yaml",
        base: render(&base),
        ours: render(&ours),
        theirs: render(&theirs),
        expect: Expect {
            id_marker: "id: \"",
            kept,
            appended,
            deleted: gone.iter().map(|i| format!("y-{i:06}")).collect(),
            needles,
            records: Vec::new(),
            ts_key: None,
        },
    }
}

/// A TOML memory store: `[[memories]]` entries keyed by `id`, each with a commented line and
/// an RFC 3339 date-time, after a few settings tables.
fn toml_case(target: usize) -> Case {
    struct Mem {
        id: String,
        text: String,
        tag: &'static str,
        tags: Vec<&'static str>,
        updated: String,
    }
    let render = |mems: &[Mem]| -> Vec<u8> {
        let mut out = String::from(
            "# assistant memory (TOML)\nversion = 1\nmodel = \"o3\"  # default\n\n[settings]\ntheme = \"dark\"\nfont = 12\n\n[projects.\"/home/u/x\"]\ntrust_level = \"trusted\"\n",
        );
        for m in mems {
            let tags: Vec<String> = m.tags.iter().map(|t| format!("\"{t}\"")).collect();
            out.push_str(&format!(
                "\n[[memories]]\nid = \"{}\"\ntext = \"{}\"\ntag = \"{}\"  # kind\ntags = [{}]\nupdated_at = {}\n",
                m.id,
                m.text.replace('\\', "\\\\").replace('"', "\\\""),
                m.tag,
                tags.join(", "),
                m.updated
            ));
        }
        out.into_bytes()
    };
    let mut rng = Rng::new(0x70e1);
    let kinds = ["fact", "preference", "project", "person"];
    let mut base: Vec<Mem> = Vec::new();
    let mut size = 0;
    while size < target {
        let i = base.len();
        let m = Mem {
            id: format!("t-{i:06}"),
            text: sentence(&mut rng, 6, 14).replace(['\n', '\r'], " "),
            tag: rng.pick(&kinds),
            tags: (0..rng.range(1, 3)).map(|_| rng.pick(TAGS)).collect(),
            updated: format!("2026-01-{:02}T{:02}:00:00Z", 1 + i % 28, i % 24),
        };
        size += 110 + m.text.len() + m.tags.iter().map(|t| t.len() + 4).sum::<usize>();
        base.push(m);
    }
    let n = base.len();
    let copy = |m: &Mem| Mem {
        id: m.id.clone(),
        text: m.text.clone(),
        tag: m.tag,
        tags: m.tags.clone(),
        updated: m.updated.clone(),
    };
    let mut ours: Vec<Mem> = base.iter().map(copy).collect();
    let mut theirs: Vec<Mem> = base.iter().map(copy).collect();
    let mut needles = Vec::new();
    // Ours edits texts; theirs changes the same records' kinds: both kept.
    for k in 0..10 {
        let i = (k * 97 + 13) % n;
        ours[i].text = format!("edited by ours {k}");
        needles.push(ours[i].text.clone());
        theirs[i].tag = "edited-by-theirs";
        needles.push(format!(
            "id = \"{}\"\ntext = \"edited by ours {k}\"\ntag = \"edited-by-theirs\"",
            base[i].id
        ));
    }
    let ours_deletes = [n / 3, n / 3 + 7];
    let theirs_deletes = [n / 2, n / 2 + 5];
    let mut appended = Vec::new();
    for (side, tag) in [(&mut ours, "o"), (&mut theirs, "t")] {
        for k in 0..(n / 100).max(3) {
            let id = format!("t-{tag}-{k:04}");
            appended.push(id.clone());
            side.push(Mem {
                id,
                text: format!("appended by {tag} {k}"),
                tag: "fact",
                tags: vec!["new"],
                updated: "2026-02-01T00:00:00Z".into(),
            });
        }
    }
    ours.retain(|m| !ours_deletes.iter().any(|&d| m.id == format!("t-{d:06}")));
    theirs.retain(|m| !theirs_deletes.iter().any(|&d| m.id == format!("t-{d:06}")));
    let gone: Vec<usize> = ours_deletes
        .iter()
        .chain(&theirs_deletes)
        .copied()
        .collect();
    let kept = (0..n)
        .filter(|i| !gone.contains(i))
        .map(|i| format!("t-{i:06}"))
        .chain(appended.iter().cloned())
        .collect();
    Case {
        name: format!("toml {}MB", target / MB),
        kind: "toml",
        path: "memory/store.toml",
        base: render(&base),
        ours: render(&ours),
        theirs: render(&theirs),
        expect: Expect {
            id_marker: "id = \"",
            kept,
            appended,
            deleted: gone.iter().map(|i| format!("t-{i:06}")).collect(),
            needles,
            records: Vec::new(),
            ts_key: None,
        },
    }
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some(SERVER_ARG) {
        serve();
        return;
    }
    // Start the measuring helper before this process grows (see "Measuring child processes").
    let mut measurer = match Measurer::start() {
        Ok(m) => m,
        Err(e) => {
            eprintln!("merge bench: starting the measuring helper: {e}");
            std::process::exit(2);
        }
    };
    let total = Instant::now();
    // `cargo bench` passes `--bench`; other arguments filter cases by name.
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let runs: usize = std::env::var("MERGE_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(5);

    let driver = match driver_binary() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("merge bench: {e}");
            std::process::exit(2);
        }
    };
    if Command::new("git")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_err()
    {
        eprintln!("merge bench: git not found on PATH");
        std::process::exit(2);
    }

    let root = std::env::temp_dir().join(format!("aisync-merge-bench-{}", std::process::id()));
    fs::create_dir_all(&root).expect("creating the temp dir");
    // Run inside a repository, as git runs drivers.
    let _ = Command::new("git")
        .args(["init", "-q"])
        .current_dir(&root)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();

    // Generators, lazily: each case's inputs live only while it runs.
    type Gen = Box<dyn Fn() -> Case>;
    let cases: Vec<(&str, Gen)> = vec![
        ("json 1MB", Box::new(|| json_case(MB))),
        ("json 10MB", Box::new(|| json_case(10 * MB))),
        ("jsonl 1MB", Box::new(|| jsonl_case(MB))),
        ("jsonl 10MB", Box::new(|| jsonl_case(10 * MB))),
        ("markdown 1MB", Box::new(|| md_case(MB))),
        ("yaml 1MB", Box::new(|| yaml_case(MB))),
        ("toml 1MB", Box::new(|| toml_case(MB))),
    ];

    println!(
        "merge bench: {} · {runs} timed runs per tool (median)",
        driver.display()
    );
    let mut outcomes = Vec::new();
    let mut errors = Vec::new();
    for (name, generate) in &cases {
        if !filters.is_empty() && !filters.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        let gen_start = Instant::now();
        let case = generate();
        eprintln!(
            "{:<12} generated {:.1} MB ({} kept ids, {} appended) in {:.0} ms; merging…",
            case.name,
            case.base.len() as f64 / MB as f64,
            case.expect.kept.len(),
            case.expect.appended.len(),
            ms(gen_start.elapsed())
        );
        match run_case(&mut measurer, &case, &root, &driver, runs) {
            Ok(o) => outcomes.push(o),
            Err(e) => errors.push(e),
        }
    }

    // The driver's fixed cost: its peak RSS doing nothing (the binary's pages, the runtime).
    let idle = measurer
        .run(&Spec {
            argv: vec![driver.to_string_lossy().into_owned(), "--version".into()],
            cwd: root.clone(),
            stdout: None,
            stderr: None,
        })
        .ok();
    drop(measurer);

    // The case column fits the longest name ("markdown 1MB").
    let w = outcomes.iter().map(|o| o.name.len()).fold(11, usize::max);
    println!();
    let idle_mb = idle.as_ref().map_or(0.0, |i| i.maxrss_kib as f64 / 1024.0);
    println!(
        "{:<w$} {:>7} {:>9} {:>8} {:>10} {:>10} {:>8} {:>8} {:>9} {:>9} {:>9} {:>14} {:>14} {:>12}",
        "case",
        "size MB",
        "ours ms",
        "peak MB",
        "peak/input",
        "work/input",
        "git peak",
        "git ms",
        "ours/git",
        "git valid",
        "git clean",
        "ours records",
        "ours content",
        "git appended"
    );
    for o in &outcomes {
        let records = if o.ours_ids.ok() {
            format!("ok {}/{}", o.ours_ids.kept_present, o.kept_total)
        } else {
            format!("BAD {}/{}", o.ours_ids.kept_present, o.kept_total)
        };
        let runs_note = |n: usize| {
            if n < runs {
                format!("({n})")
            } else {
                String::new()
            }
        };
        let input_mb = o.size as f64 / MB as f64;
        println!(
            "{:<w$} {:>7.2} {:>9} {:>8.1} {:>10.1} {:>10.1} {:>8.1} {:>8} {:>9.2} {:>9} {:>9} {:>14} {:>14} {:>12}",
            o.name,
            input_mb,
            format!("{:.1}{}", o.ours_ms, runs_note(o.ours_runs)),
            o.ours_peak_mb,
            o.ours_peak_mb / input_mb,
            (o.ours_peak_mb - idle_mb).max(0.0) / input_mb,
            o.git_peak_mb,
            format!("{:.1}{}", o.git_ms, runs_note(o.git_runs)),
            o.ours_ms / o.git_ms,
            if o.git_valid { "yes" } else { "no" },
            match o.git_exit {
                Some(0) => "yes".to_string(),
                Some(n) => format!("no ({n})"),
                None => "killed".to_string(),
            },
            records,
            match &o.content {
                None => "-".to_string(),
                Some(c) if c.wrong.is_empty() && c.out_of_order.is_empty() => {
                    format!("ok {}/{}", c.compared, c.expected)
                }
                Some(c) => format!("DIFF {}/{}", c.compared - c.wrong.len(), c.expected),
            },
            format!("{}/{}", o.git_ids.appended_present, o.appended_total),
        );
    }
    println!(
        "  size = base file; times = median wall time of (n) runs, spawn to reap; peak = ru_maxrss"
    );
    println!("  peak = the whole driver process's high-water RSS (binary, runtime and merge);");
    println!(
        "  work/input = that peak less the driver's idle peak (baseline below), per MB of input;"
    );
    println!("  git peak = `git merge-file -p`'s own ru_maxrss on the same files");
    println!("  ours records = ids (kept base + both sides' appends) present exactly once, no deleted id back");
    println!("  ours content = records equal to the expected field-wise merge, appends in timestamp order");
    println!("  git appended = appended ids anywhere in git's output, conflict blocks included");
    if let Some(idle) = idle {
        println!(
            "  driver baseline (`git-aisync --version`): peak {:.1} MB, {:.1} ms",
            idle.maxrss_kib as f64 / 1024.0,
            ms(idle.wall)
        );
    }
    println!();
    for o in &outcomes {
        let ratio = o.ours_ms / o.git_ms;
        let input_mb = o.size as f64 / MB as f64;
        let peak = o.ours_peak_mb / input_mb;
        let work = (o.ours_peak_mb - idle_mb).max(0.0) / input_mb;
        println!(
            "{}: ours/git = {ratio:.2} (target ≤ 3.0){}",
            o.name,
            if ratio <= 3.0 { "" } else { "  MISSED" }
        );
        println!(
            "{}: peak/input = {peak:.1} whole process (target ≤ 10){}; above the idle {idle_mb:.1} MB: {work:.1}",
            o.name,
            if peak <= 10.0 { "" } else { "  MISSED" }
        );
    }

    let mut failed = !errors.is_empty();
    for e in &errors {
        println!("ERROR {e}");
    }
    for o in &outcomes {
        for n in &o.notes {
            println!("note  {}: {n}", o.name);
        }
        for f in &o.failures {
            println!("FAIL  {}: {f}", o.name);
            failed = true;
        }
        let _ = o.ours_exit;
        if !o.git_ids.missing.is_empty()
            || !o.git_ids.duplicated.is_empty()
            || !o.git_ids.resurrected.is_empty()
        {
            println!(
                "info  {}: git's result: {} ids missing, {} doubled, {} deleted ids back, {} edits missing",
                o.name,
                o.git_ids.missing.len(),
                o.git_ids.duplicated.len(),
                o.git_ids.resurrected.len(),
                o.git_ids.needles_missing.len()
            );
        }
    }
    println!("total bench time {:.1} s", total.elapsed().as_secs_f64());

    if std::env::var_os("MERGE_BENCH_KEEP").is_some() {
        println!("inputs and outputs kept in {}", root.display());
    } else {
        let _ = fs::remove_dir_all(&root);
    }
    if failed {
        std::process::exit(1);
    }
}
