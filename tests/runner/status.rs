//! `git aisync status`: what it counts as waiting for the cycle.

use crate::common;

use common::{aisync, write};

#[test]
fn an_editors_swap_and_backup_files_are_not_changes_waiting_to_sync() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ai");
    common::init_alone(&dir);
    // What vim, emacs and a tool's temp files leave beside a note, and one real change.
    for leftover in [
        ".notes.md.swp",
        "notes.md~",
        ".#notes.md",
        "#notes.md#",
        "dump.tmp",
    ] {
        write(&dir, &format!("memory/{leftover}"), "leftover\n");
    }
    write(&dir, "memory/notes.md", "- a real note\n");

    let out = aisync(&dir, &["status", "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        status["pending"]["realtime"],
        serde_json::json!(["memory/notes.md"]),
        "{status}"
    );
    let text = String::from_utf8_lossy(&aisync(&dir, &["status"]).stdout).into_owned();
    assert!(
        text.contains("1 realtime change(s) not committed"),
        "{text}"
    );
}
