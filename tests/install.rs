//! `install` and `uninstall` in real repositories: what a person sees in their config and
//! attributes, and that a merge afterwards uses the drivers.

mod common;

use common::{aisync, git_cmd, Repo};

fn snapshot(repo: &Repo) -> (Vec<u8>, Option<Vec<u8>>) {
    let attributes = std::fs::read(repo.path().join(".gitattributes")).ok();
    (repo.read(".git/config"), attributes)
}

#[test]
fn uninstall_leaves_config_and_attributes_byte_for_byte_as_before() {
    for existing in [
        None,
        Some(&b"*.png binary\n"[..]),
        Some(&b"*.png binary"[..]),
    ] {
        let repo = Repo::new();
        repo.git(&["config", "user.name", "Someone"]);
        if let Some(text) = existing {
            repo.write(".gitattributes", text);
        }
        let before = snapshot(&repo);
        let out = aisync(repo.path(), &["install"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let installed = snapshot(&repo);
        assert_ne!(installed, before);
        let attributes = String::from_utf8(installed.1.clone().unwrap()).unwrap();
        assert!(attributes.contains("memory/**/*.json merge=aisync-json"));
        assert!(attributes.contains(".aisync/conflicts.jsonl merge=aisync-jsonl"));

        let again = aisync(repo.path(), &["install"]);
        assert!(again.status.success());
        assert_eq!(snapshot(&repo), installed, "install twice = install once");

        let out = aisync(repo.path(), &["uninstall"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(snapshot(&repo), before, "existing attributes: {existing:?}");
        assert!(!repo.path().join(".git/aisync").exists());
    }
}

#[test]
fn install_records_the_branch_and_a_machine_name_and_keeps_a_set_one() {
    let repo = Repo::new();
    repo.git(&["config", "aisync.machine", "laptop"]);
    assert!(aisync(repo.path(), &["install"]).status.success());
    assert_eq!(repo.git(&["config", "aisync.branch"]).trim(), "main");
    assert_eq!(repo.git(&["config", "aisync.machine"]).trim(), "laptop");
    let driver = repo.git(&["config", "merge.aisync-json.driver"]);
    assert!(
        driver.contains("merge-driver json %O %A %B %L %P"),
        "{driver}"
    );
    assert_eq!(
        repo.git(&["config", "merge.aisync-json.recursive"]).trim(),
        "aisync-json-inner"
    );
    assert!(repo
        .git(&["config", "merge.aisync-json-inner.driver"])
        .contains("--no-journal"));
    assert!(aisync(repo.path(), &["uninstall"]).status.success());
    assert_eq!(repo.git(&["config", "aisync.machine"]).trim(), "laptop");
}

#[test]
fn after_install_a_pull_merges_memory_files_by_format() {
    let repo = Repo::new();
    let out = aisync(repo.path(), &["install"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    repo.write("memory/facts.json", b"{\"facts\": [\"a\"]}\n");
    repo.commit_all("base");
    repo.git(&["checkout", "-q", "-b", "server"]);
    repo.write(
        "memory/facts.json",
        b"{\"facts\": [\"a\", \"from server\"]}\n",
    );
    repo.commit_all("server");
    repo.git(&["checkout", "-q", "main"]);
    repo.write(
        "memory/facts.json",
        b"{\"facts\": [\"a\", \"from laptop\"]}\n",
    );
    repo.commit_all("laptop");
    repo.git(&["merge", "-q", "--no-edit", "server"]);
    assert_eq!(
        repo.read("memory/facts.json"),
        b"{\"facts\": [\"a\", \"from laptop\", \"from server\"]}\n"
    );
}

#[test]
fn install_outside_a_repository_or_in_a_bare_one_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let out = aisync(dir.path(), &["install"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not inside a git repository") && err.lines().count() == 1,
        "{err}"
    );

    let bare = tempfile::tempdir().unwrap();
    assert!(git_cmd(bare.path())
        .args(["init", "-q", "--bare"])
        .status()
        .unwrap()
        .success());
    let out = aisync(bare.path(), &["install"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bare repository"));
}
