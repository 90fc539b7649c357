//! `doctor`: a healthy repository, and one failure at a time with its fix.

use crate::common;

use common::{aisync, git_cmd};
use serde_json::Value;
use std::path::Path;

fn synced_repo() -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ai");
    common::init_alone(&dir);
    (tmp, dir)
}

fn doctor(dir: &Path) -> (i32, Vec<Value>) {
    let out = aisync(dir, &["doctor", "--json"]);
    let list: Vec<Value> = serde_json::from_slice(&out.stdout).expect("doctor --json prints JSON");
    (out.status.code().unwrap(), list)
}

fn status_of<'a>(list: &'a [Value], check: &str) -> Vec<&'a str> {
    list.iter()
        .filter(|f| f["check"] == check)
        .map(|f| f["status"].as_str().unwrap())
        .collect()
}

#[test]
fn a_fresh_repo_is_healthy_but_for_its_missing_remote() {
    let (_tmp, dir) = synced_repo();
    let (code, list) = doctor(&dir);
    assert_eq!(code, 0, "{list:#?}");
    for f in &list {
        assert_ne!(f["status"], "fail", "{f}");
    }
    assert_eq!(status_of(&list, "drivers"), ["ok"]);
    assert_eq!(status_of(&list, "hooks"), ["ok", "ok", "ok", "ok"]);
    assert_eq!(status_of(&list, "secrets"), ["ok"]);
    assert_eq!(status_of(&list, "remote"), ["warn"]);
    let human = aisync(&dir, &["doctor"]);
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(text.contains("fix: git remote add origin URL"), "{text}");
}

#[test]
fn each_failure_is_named_with_its_fix() {
    let (_tmp, dir) = synced_repo();
    let git = |args: &[&str]| assert!(git_cmd(&dir).args(args).status().unwrap().success());

    git(&[
        "remote",
        "add",
        "origin",
        "git://example.invalid/memory.git",
    ]);
    git(&[
        "config",
        "merge.aisync-json.driver",
        "'/nowhere/git-aisync' merge-driver json %O %A %B %L %P",
    ]);
    std::fs::write(dir.join(".aisync.yml"), "paths:\n  memory/**: sometimes\n").unwrap();
    std::fs::write(dir.join(".gitignore"), "").unwrap();
    let (code, list) = doctor(&dir);
    assert_eq!(code, 1);
    let find = |check: &str| {
        list.iter()
            .find(|f| f["check"] == check && f["status"] == "fail")
            .unwrap_or_else(|| panic!("no {check} failure in {list:#?}"))
    };
    assert!(find("remote")["message"]
        .as_str()
        .unwrap()
        .contains("not encrypted"));
    assert!(find("drivers")["message"]
        .as_str()
        .unwrap()
        .contains("/nowhere/git-aisync"));
    assert!(find("policy")["message"]
        .as_str()
        .unwrap()
        .contains(".aisync.yml:2:14"));
    assert!(find("secrets")["fix"]
        .as_str()
        .unwrap()
        .contains(".credentials/"));

    assert!(aisync(&dir, &["uninstall"]).status.success());
    let (_, list) = doctor(&dir);
    assert_eq!(status_of(&list, "hooks"), ["fail", "fail", "fail", "fail"]);
    assert!(list
        .iter()
        .any(|f| f["check"] == "drivers" && f["fix"] == "git aisync install"));
}

#[test]
fn doctor_outside_a_repository_points_at_init() {
    let tmp = tempfile::tempdir().unwrap();
    let (code, list) = doctor(tmp.path());
    assert_eq!(code, 1);
    assert!(list
        .iter()
        .any(|f| f["check"] == "repository"
            && f["fix"].as_str().unwrap().contains("git aisync init")));
}

/// What bash offers at `words`' last word, the generated script loaded (and git's own
/// completion, which `git aisync …` goes through).
fn bash_offers(script: &Path, words: &[&str]) -> Vec<String> {
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let line = words.join(" ");
    let program = format!(
        "source {GIT_COMPLETION}; source '{}'; COMP_WORDS=({}); COMP_CWORD={}; COMP_LINE='{line}'; COMP_POINT=${{#COMP_LINE}}; if [ \"${{COMP_WORDS[0]}}\" = git ]; then __git_func_wrap __git_main; else _gitaisync git-aisync \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; fi; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display(),
        quoted.join(" "),
        words.len() - 1
    );
    let out = std::process::Command::new("bash")
        .args(["--norc", "-c", &program])
        .env(
            "PATH",
            format!(
                "{}:{}",
                common::bin().parent().unwrap().display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .collect()
}

/// Where Debian's git keeps its bash completion.
const GIT_COMPLETION: &str = "/usr/share/bash-completion/completions/git";

#[test]
fn bash_completes_git_aisync_and_git_space_aisync_down_to_options() {
    let out = aisync(Path::new("/"), &["completions", "bash"]);
    assert!(out.status.success());
    if !Path::new(GIT_COMPLETION).exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{GIT_COMPLETION} is missing: git's package installs it"
        );
        eprintln!("skipping: no {GIT_COMPLETION} here");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let script = tmp.path().join("git-aisync.bash");
    std::fs::write(&script, &out.stdout).unwrap();
    let offers = |words: &[&str]| bash_offers(&script, words);
    assert_eq!(offers(&["git-aisync", "sy"]), ["sync"]);
    assert_eq!(offers(&["git", "aisync", "sy"]), ["sync"]);
    assert_eq!(offers(&["git", "ais"]), ["aisync"]);
    for words in [
        &["git-aisync", "sync", "--"][..],
        &["git", "aisync", "sync", "--"],
        &["git", "-C", "/tmp", "aisync", "sync", "--"],
    ] {
        let options = offers(words);
        assert!(
            options.iter().any(|o| o == "--remote") && options.iter().any(|o| o == "--json"),
            "{words:?}: {options:?}"
        );
    }
    let peer = offers(&["git", "aisync", "peer", ""]);
    for sub in ["add", "list", "remove"] {
        assert!(peer.iter().any(|o| o == sub), "{peer:?}");
    }
}

#[test]
fn a_man_page_comes_from_the_same_definition() {
    let out = aisync(Path::new("/"), &["completions", "man"]);
    assert!(out.status.success());
    let page = String::from_utf8_lossy(&out.stdout);
    // A roff page for section 1 that lists the commands a person looks up.
    assert!(page.contains(".TH git-aisync 1"), "{page}");
    for command in ["init", "sync", "watch", "conflicts", "restore", "doctor"] {
        assert!(
            page.contains(command),
            "{command} missing from the man page"
        );
    }
}

#[test]
fn a_global_autocrlf_is_caught_too() {
    let (tmp, dir) = synced_repo();
    let global = tmp.path().join("gitconfig");
    std::fs::write(&global, "[core]\n\tautocrlf = true\n").unwrap();
    let out = common::aisync_cmd(&dir)
        .env("GIT_CONFIG_GLOBAL", &global)
        .args(["doctor", "--json"])
        .output()
        .unwrap();
    let list: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let finding = list
        .iter()
        .find(|f| f["check"] == "line endings")
        .unwrap_or_else(|| panic!("no line-endings finding in {list:#?}"));
    assert_eq!(finding["status"], "warn");
    assert!(finding["fix"]
        .as_str()
        .unwrap()
        .contains("core.autocrlf input"));
}

#[test]
fn a_binary_in_a_folder_with_a_quote_in_its_name_is_found() {
    let tmp = tempfile::tempdir().unwrap();
    let folder = tmp.path().join("it's here");
    std::fs::create_dir_all(&folder).unwrap();
    let copy = folder.join("git-aisync");
    common::copy_executable(&common::bin(), &copy);
    let dir = tmp.path().join("ai");
    let mut init = std::process::Command::new(&copy);
    common::isolated(init.args(["init", dir.to_str().unwrap()]));
    assert!(init.status().unwrap().success());
    let (_, list) = doctor(&dir);
    assert_eq!(status_of(&list, "drivers"), ["ok"], "{list:#?}");
    assert_eq!(
        status_of(&list, "hooks"),
        ["ok", "ok", "ok", "ok"],
        "{list:#?}"
    );
}

#[test]
fn a_machine_joined_to_a_hub_is_healthy_through_and_through() {
    let tmp = tempfile::tempdir().unwrap();
    let hub = tmp.path().join("hub.git");
    common::init_bare(&hub);
    let dir = tmp.path().join("ai");
    common::init_joined(&dir, &hub);
    let (code, list) = doctor(&dir);
    assert_eq!(code, 0, "{list:#?}");
    for f in &list {
        if f["check"] != "path" {
            assert_eq!(f["status"], "ok", "{f}");
        }
    }
    assert_eq!(status_of(&list, "remote"), ["ok"]);
}
