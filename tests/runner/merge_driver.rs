//! The merge driver as git and people use it: registered in a real repository, called by
//! `git merge`, and called by hand with odd inputs.

use crate::common;

use common::{aisync, Repo};
use serde_json::Value;

/// Two branches of one repo edit `path`; returns the repo after `git merge` on main.
fn merge_branches(
    path: &str,
    base: &[u8],
    main: &[u8],
    other: &[u8],
) -> (Repo, std::process::Output) {
    let repo = Repo::new();
    repo.register_drivers();
    repo.write(path, base);
    repo.commit_all("base");
    repo.git(&["checkout", "-q", "-b", "other"]);
    repo.write(path, other);
    repo.commit_all("other machine");
    repo.git(&["checkout", "-q", "main"]);
    repo.write(path, main);
    repo.commit_all("this machine");
    let out = repo.try_git(&["merge", "--no-edit", "other"]);
    (repo, out)
}

/// `merge_branches`, asserting that git merged cleanly; the repo after the merge.
fn merged_cleanly(path: &str, base: &[u8], main: &[u8], other: &[u8]) -> Repo {
    let (repo, out) = merge_branches(path, base, main, other);
    assert!(
        out.status.success(),
        "git merge failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    repo
}

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).expect("valid JSON")
}

#[test]
fn two_machines_append_to_one_json_store_and_both_notes_survive() {
    let base = b"{\n  \"memories\": [\n    {\"id\": \"m1\", \"text\": \"likes tea\"}\n  ]\n}\n";
    let main = b"{\n  \"memories\": [\n    {\"id\": \"m1\", \"text\": \"likes tea\"},\n    {\"id\": \"m2\", \"text\": \"works on rust\"}\n  ]\n}\n";
    let other = b"{\n  \"memories\": [\n    {\"id\": \"m1\", \"text\": \"likes tea\"},\n    {\"id\": \"m3\", \"text\": \"lives in Lyon\"}\n  ]\n}\n";
    let repo = merged_cleanly("memory/store.json", base, main, other);
    let merged = repo.read("memory/store.json");
    let texts: Vec<String> = json(&merged)["memories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(texts, ["likes tea", "works on rust", "lives in Lyon"]);
    // Unchanged text kept its bytes.
    assert!(merged
        .starts_with(b"{\n  \"memories\": [\n    {\"id\": \"m1\", \"text\": \"likes tea\"},\n"));
}

#[test]
fn two_machines_append_to_one_jsonl_log_in_time_order() {
    let base = b"{\"id\":1,\"ts\":\"2026-01-01T10:00:00Z\",\"msg\":\"start\"}\n";
    let main = b"{\"id\":1,\"ts\":\"2026-01-01T10:00:00Z\",\"msg\":\"start\"}\n{\"id\":2,\"ts\":\"2026-01-01T10:05:00Z\",\"msg\":\"laptop\"}\n";
    let other = b"{\"id\":1,\"ts\":\"2026-01-01T10:00:00Z\",\"msg\":\"start\"}\n{\"id\":3,\"ts\":\"2026-01-01T12:01:00+02:00\",\"msg\":\"server\"}\n";
    let repo = merged_cleanly("memory/log.jsonl", base, main, other);
    let merged = String::from_utf8(repo.read("memory/log.jsonl")).unwrap();
    let msgs: Vec<String> = merged
        .lines()
        .map(|l| json(l.as_bytes())["msg"].as_str().unwrap().to_string())
        .collect();
    // 12:01+02:00 is 10:01Z: before the laptop's 10:05Z although it sorts after as text.
    assert_eq!(msgs, ["start", "server", "laptop"]);
}

#[test]
fn a_value_changed_on_both_machines_is_decided_and_journaled() {
    let base = b"{\"theme\": \"light\", \"font\": 12}\n";
    let main = b"{\"theme\": \"dark\", \"font\": 12}\n";
    let other = b"{\"theme\": \"solarized\", \"font\": 14}\n";
    let repo = merged_cleanly("memory/settings.json", base, main, other);
    let merged = json(&repo.read("memory/settings.json"));
    assert_eq!(merged["font"], 14);
    let chosen = merged["theme"].as_str().unwrap().to_string();

    let listed = aisync(repo.path(), &["conflicts", "--json"]);
    assert!(listed.status.success());
    let records: Vec<Value> = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(records.len(), 1, "{records:?}");
    let r = &records[0];
    assert_eq!(r["path"], "memory/settings.json");
    assert_eq!(r["location"], "/theme");
    assert_eq!(r["ours"], "dark");
    assert_eq!(r["theirs"], "solarized");
    assert_eq!(r["chosen"], chosen.as_str());
    assert!(r["id"].as_str().is_some_and(|id| !id.is_empty()));
    assert!(r["time"].as_str().is_some_and(|t| t.starts_with("20")));

    let human = aisync(repo.path(), &["conflicts"]);
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(text.contains("memory/settings.json/theme"), "{text}");
    assert!(
        text.contains("\"dark\"") && text.contains("\"solarized\""),
        "{text}"
    );
}

#[test]
fn a_text_file_edited_on_the_same_line_stops_with_markers() {
    let (repo, out) = merge_branches("notes.txt", b"one\ntwo\n", b"one\nTWO\n", b"one\n2\n");
    assert!(
        !out.status.success(),
        "the merge should stop at the conflict"
    );
    let text = String::from_utf8(repo.read("notes.txt")).unwrap();
    assert!(
        text.contains("<<<<<<< ours\nTWO\n=======\n2\n>>>>>>> theirs\n"),
        "{text}"
    );
}

#[test]
fn the_same_merge_on_two_machines_makes_the_same_bytes() {
    let base = b"{\"a\": [1, 2], \"b\": {\"x\": 1}}";
    let one = b"{\"a\": [1, 2, 3], \"b\": {\"x\": 2}}";
    let two = b"{\"a\": [0, 1, 2], \"b\": {\"x\": 3, \"y\": true}}";
    let (first, out1) = merge_branches("memory/m.json", base, one, two);
    let (second, out2) = merge_branches("memory/m.json", base, two, one);
    assert!(out1.status.success() && out2.status.success());
    assert_eq!(first.read("memory/m.json"), second.read("memory/m.json"));
}

/// Runs the driver by hand on three byte strings; returns (exit code, result, stderr).
fn drive(
    kind: &str,
    base: &[u8],
    ours: &[u8],
    theirs: &[u8],
    extra: &[&str],
) -> (i32, Vec<u8>, String) {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    std::fs::write(p("base"), base).unwrap();
    std::fs::write(p("ours"), ours).unwrap();
    std::fs::write(p("theirs"), theirs).unwrap();
    let mut args = vec!["merge-driver"];
    args.extend_from_slice(extra);
    let (b, o, t) = (p("base"), p("ours"), p("theirs"));
    args.extend([
        kind,
        b.to_str().unwrap(),
        o.to_str().unwrap(),
        t.to_str().unwrap(),
        "7",
        "memory/x",
    ]);
    let out = aisync(dir.path(), &args);
    let code = out.status.code().expect("exited, not killed");
    (
        code,
        std::fs::read(p("ours")).unwrap(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn garbage_never_crashes_the_driver_and_never_reports_markers_as_clean() {
    let inputs: [&[u8]; 7] = [
        b"",
        b"\xff\xfe\x00garbage",
        b"\xEF\xBB\xBF{\"a\": 1}",
        b"{\"a\": [1, 2",
        b"<<<<<<< ours\n{\"a\": 1}\n=======\n{\"a\": 2}\n>>>>>>> theirs\n",
        b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]",
        b"{\"a\": 1, \"a\": 2}",
    ];
    for kind in ["json", "jsonl", "text", "yaml", "markdown"] {
        for base in inputs {
            for ours in inputs {
                for theirs in [inputs[2], inputs[4]] {
                    let (code, out, err) = drive(kind, base, ours, theirs, &["--no-journal"]);
                    assert!(code == 0 || code == 1, "{kind}: exit {code}: {err}");
                    let markers = out.windows(8).any(|w| w == b"<<<<<<< ")
                        && out.windows(8).any(|w| w == b">>>>>>> ");
                    if markers {
                        assert_eq!(code, 1, "{kind}: markers in a clean result");
                    }
                }
            }
        }
    }
}

#[test]
fn outside_a_repository_overridden_values_go_to_stderr() {
    let (code, out, err) = drive("json", b"{\"a\": 1}", b"{\"a\": 2}", b"{\"a\": 3}", &[]);
    assert_eq!(code, 0);
    assert_eq!(out, b"{\"a\": 3}");
    assert!(
        err.contains("\"ours\":2") && err.contains("\"theirs\":3"),
        "{err}"
    );
}

#[test]
fn no_journal_records_nothing() {
    let repo = Repo::new();
    let p = |n: &str| repo.path().join(n);
    std::fs::write(p("b"), "{\"a\": 1}").unwrap();
    std::fs::write(p("o"), "{\"a\": 2}").unwrap();
    std::fs::write(p("t"), "{\"a\": 3}").unwrap();
    let out = aisync(
        repo.path(),
        &[
            "merge-driver",
            "--no-journal",
            "json",
            "b",
            "o",
            "t",
            "7",
            "x.json",
        ],
    );
    assert!(out.status.success());
    assert!(!repo
        .path()
        .join(".git/aisync/pending-conflicts.jsonl")
        .exists());
    std::fs::write(p("o"), "{\"a\": 2}").unwrap();
    let out = aisync(
        repo.path(),
        &["merge-driver", "json", "b", "o", "t", "7", "x.json"],
    );
    assert!(out.status.success());
    assert!(repo
        .path()
        .join(".git/aisync/pending-conflicts.jsonl")
        .exists());
}

#[test]
fn policy_markers_marks_the_colliding_lines_and_merges_the_rest() {
    let (code, out, _) = drive(
        "json",
        b"{\n  \"a\": 1,\n  \"b\": 1\n}\n",
        b"{\n  \"a\": 2,\n  \"b\": 1\n}\n",
        b"{\n  \"a\": 3,\n  \"b\": 2\n}\n",
        &["--policy", "markers", "--no-journal"],
    );
    assert_eq!(code, 1);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "{\n<<<<<<< ours\n  \"a\": 2,\n=======\n  \"a\": 3,\n>>>>>>> theirs\n  \"b\": 2\n}\n"
    );
}

#[test]
fn an_unknown_kind_is_a_usage_error() {
    let out = aisync(
        std::path::Path::new("."),
        &["merge-driver", "xml", "a", "b", "c", "7", "p"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown merge kind"));
}

#[test]
fn two_machines_add_notes_under_one_heading_and_git_merges_cleanly() {
    let repo = Repo::new();
    repo.register_drivers();
    let mut attributes = repo.read(".gitattributes");
    attributes.extend_from_slice(b"memory/**/*.md merge=aisync-markdown\n");
    repo.write(".gitattributes", &attributes);
    let path = "memory/notes.md";
    repo.write(path, b"# Notes\n\n## Prefs\n- tea\n\n## Work\n- rust\n");
    repo.commit_all("base");
    repo.git(&["checkout", "-q", "-b", "other"]);
    repo.write(
        path,
        b"# Notes\n\n## Prefs\n- tea\n- vim\n\n## Work\n- rust\n- go\n",
    );
    repo.commit_all("other machine");
    repo.git(&["checkout", "-q", "main"]);
    repo.write(
        path,
        b"# Notes\n\n## Prefs\n- tea\n- dark mode\n\n## Work\n- rust\n",
    );
    repo.commit_all("this machine");
    let out = repo.try_git(&["merge", "--no-edit", "other"]);
    assert!(
        out.status.success(),
        "git merge failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // (git's own line merge stops here: both sides appended under `## Prefs`.)
    assert_eq!(
        String::from_utf8(repo.read(path)).unwrap(),
        "# Notes\n\n## Prefs\n- tea\n- dark mode\n- vim\n\n## Work\n- rust\n- go\n"
    );
}
