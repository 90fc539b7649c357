//! `install` and `uninstall` in real repositories: what a person sees in their config and
//! attributes, and that a merge afterwards uses the drivers.

use crate::common;
use std::os::unix::ffi::OsStrExt;

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

fn hook_file(repo: &Repo, dir: &str, name: &str, body: &str) -> std::path::PathBuf {
    let path = repo.path().join(dir).join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    common::executable(&path, body);
    path
}

#[test]
fn a_foreign_pre_commit_runs_first_still_blocks_and_comes_back_on_uninstall() {
    let repo = Repo::new();
    let body =
        "#!/bin/sh\n# team hook\n[ -f allow ] || { echo 'team hook says no' >&2; exit 3; }\n";
    let foreign = hook_file(&repo, ".git/hooks", "pre-commit", body);
    let before = std::fs::read(&foreign).unwrap();
    assert!(aisync(repo.path(), &["install"]).status.success());

    repo.write("memory/a.md", b"- a\n");
    repo.git(&["add", "-A"]);
    let blocked = repo.try_git(&["commit", "-q", "-m", "x"]);
    assert!(!blocked.status.success(), "the team hook must still block");
    assert!(String::from_utf8_lossy(&blocked.stderr).contains("team hook says no"));

    repo.write("allow", b"");
    repo.git(&["add", "-A"]);
    let ok = repo.try_git(&["commit", "-q", "-m", "x"]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );

    assert!(aisync(repo.path(), &["uninstall"]).status.success());
    assert_eq!(std::fs::read(&foreign).unwrap(), before);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&foreign).unwrap().permissions().mode() & 0o777,
        0o755
    );
}

#[test]
fn hooks_go_where_core_hooks_path_says_and_a_husky_style_hook_keeps_its_name() {
    let repo = Repo::new();
    repo.git(&["config", "core.hooksPath", ".husky/_"]);
    // Like husky: the hook finds the user's script by its own file name ($0).
    hook_file(
        &repo,
        ".husky/_",
        "pre-commit",
        "#!/usr/bin/env sh\n. \"$(dirname \"$0\")/h\"\n",
    );
    hook_file(&repo, ".husky/_", "h", "n=$(basename \"$0\")\ns=$(dirname \"$(dirname \"$0\")\")/$n\n[ -f \"$s\" ] || exit 0\nsh -e \"$s\" \"$@\"\n");
    hook_file(
        &repo,
        ".husky",
        "pre-commit",
        "echo husky-ran > husky.out\n",
    );
    let before = std::fs::read(repo.path().join(".husky/_/pre-commit")).unwrap();
    assert!(aisync(repo.path(), &["install"]).status.success());
    assert!(repo
        .path()
        .join(".husky/_/pre-commit.aisync-chained")
        .exists());

    repo.write("memory/a.md", b"- a\n");
    repo.git(&["add", "memory/a.md"]);
    repo.git(&["commit", "-q", "-m", "x"]);
    assert_eq!(
        repo.read("husky.out"),
        b"husky-ran\n",
        "husky's hook ran under its own name"
    );

    assert!(aisync(repo.path(), &["uninstall"]).status.success());
    assert_eq!(
        std::fs::read(repo.path().join(".husky/_/pre-commit")).unwrap(),
        before
    );
    assert!(!repo
        .path()
        .join(".husky/_/pre-commit.aisync-chained")
        .exists());
}

#[test]
fn pre_commit_refuses_credentials_even_when_forced_in() {
    let repo = Repo::new();
    assert!(aisync(repo.path(), &["install"]).status.success());
    repo.write(".credentials/token", b"secret\n");
    repo.git(&["add", "-f", ".credentials/token"]);
    let out = repo.try_git(&["commit", "-q", "-m", "oops"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(".credentials/token is never committed"),
        "{err}"
    );
    assert!(
        err.contains("git rm --cached -- .credentials/token"),
        "{err}"
    );
}

/// A name that is not UTF-8 under a `never` path: refused by pre-commit even when forced
/// in, named with its byte as it is (`\xff`, not a replacement character a person could
/// not type), and left out by the cycle.
#[test]
fn a_never_file_whose_name_is_not_utf8_is_never_committed() {
    let repo = Repo::new();
    assert!(aisync(repo.path(), &["install"]).status.success());
    std::fs::write(
        repo.path().join(".aisync.yml"),
        "paths:\n  private/**: never\n",
    )
    .unwrap();
    repo.git(&["add", ".aisync.yml"]);
    repo.git(&["commit", "-q", "-m", "policy"]);
    std::fs::create_dir_all(repo.path().join("private")).unwrap();
    let name = std::ffi::OsStr::from_bytes(b"private/k\xffy.txt");
    std::fs::write(repo.path().join(name), "token\n").unwrap();
    repo.git(&["add", "-f", "private"]);
    let out = repo.try_git(&["commit", "-q", "-m", "oops"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(r#""private/k\xffy.txt" is never committed"#),
        "{err}"
    );
    assert!(!err.contains('\u{fffd}'), "{err}");
    repo.git(&["reset", "-q"]);
    // The cycle leaves it out too.
    let out = aisync(repo.path(), &["sync"]);
    assert!(matches!(out.status.code(), Some(0 | 3)), "{out:?}");
    let tracked = repo.git(&["ls-files", "-z"]);
    assert!(!tracked.contains("private/"), "{tracked}");
}

/// `git commit -a` and `git commit PATHS` stage into an index of their own and run
/// pre-commit on it (`GIT_INDEX_FILE`): what they are about to commit is what is scanned,
/// not the repository's index (which holds none of it yet).
#[test]
fn pre_commit_scans_what_commit_all_and_commit_paths_are_about_to_commit() {
    let repo = Repo::new();
    assert!(aisync(repo.path(), &["install"]).status.success());
    repo.write("memory/notes.md", b"- tea\n");
    repo.write("memory/other.md", b"- other\n");
    repo.commit_all("notes");
    // A made-up GitHub token (built here: no token-shaped text in the sources).
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let token: String = std::iter::once("ghp_".to_string())
        .chain((0..36).map(|i| (alphabet[(i * 17 + 5) % 62] as char).to_string()))
        .collect();
    let token = token.as_str();
    let leak = format!("- tea\n- token {token}\n");
    for how in [
        &["-a"][..],
        &["--", "memory/notes.md"],
        &["-o", "memory/notes.md"],
    ] {
        repo.write("memory/notes.md", leak.as_bytes());
        let mut args = vec!["commit", "-q", "-m", "leak"];
        args.extend_from_slice(how);
        let out = repo.try_git(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "git commit {how:?} went through: {err}"
        );
        assert!(err.contains("memory/notes.md:2:"), "{how:?}: {err}");
        assert!(!err.contains(token), "{err}");
        let head = repo.git(&["show", "HEAD:memory/notes.md"]);
        assert_eq!(head, "- tea\n", "{how:?}");
    }
    // A clean `git commit -a` goes through, and so does one where the repository's index
    // holds a secret the commit leaves out.
    repo.write("memory/other.md", format!("- {token}\n").as_bytes());
    repo.git(&["add", "memory/other.md"]);
    repo.write("memory/notes.md", b"- tea\n- coffee\n");
    let out = repo.try_git(&["commit", "-q", "-m", "coffee", "--", "memory/notes.md"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn pre_commit_warns_about_a_broken_memory_file_but_commits_it() {
    let repo = Repo::new();
    assert!(aisync(repo.path(), &["install"]).status.success());
    repo.write("memory/store.json", b"{\"a\": [1, 2\n");
    repo.git(&["add", "-A"]);
    let out = repo.try_git(&["commit", "-q", "-m", "half"]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("memory/store.json: not valid JSON"), "{err}");
}

#[test]
fn a_plain_git_merge_folds_the_overridden_values_into_the_synced_journal() {
    let repo = Repo::new();
    assert!(aisync(repo.path(), &["install"]).status.success());
    repo.write("memory/s.json", b"{\"theme\": \"light\"}\n");
    repo.commit_all("base");
    repo.git(&["checkout", "-q", "-b", "other"]);
    repo.write("memory/s.json", b"{\"theme\": \"dark\"}\n");
    repo.commit_all("other");
    repo.git(&["checkout", "-q", "main"]);
    repo.write("memory/s.json", b"{\"theme\": \"blue\"}\n");
    repo.commit_all("main");
    repo.git(&["merge", "-q", "--no-edit", "other"]);
    let journal = String::from_utf8(repo.read(".aisync/conflicts.jsonl")).unwrap();
    assert_eq!(journal.lines().count(), 1, "{journal}");
    assert!(journal.contains("\"location\":\"/theme\""), "{journal}");
    assert!(!repo
        .path()
        .join(".git/aisync/pending-conflicts.jsonl")
        .exists());
}

/// The repository's config, attributes and every file of its hooks folder (name, bytes, mode).
type Setup = (Vec<u8>, Option<Vec<u8>>, Vec<(String, Vec<u8>, u32)>);

fn whole_setup(repo: &Repo) -> Setup {
    use std::os::unix::fs::PermissionsExt;
    let hooks = repo.path().join(".git/hooks");
    let mut files: Vec<(String, Vec<u8>, u32)> = std::fs::read_dir(&hooks)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| {
                    let mode = e.metadata().unwrap().permissions().mode();
                    let name = e.file_name().to_string_lossy().into_owned();
                    (name, std::fs::read(e.path()).unwrap(), mode)
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    let (config, attributes) = snapshot(repo);
    (config, attributes, files)
}

fn commit_output(repo: &Repo, path: &str) -> std::process::Output {
    repo.write(path, b"x\n");
    repo.git(&["add", "-f", "--", path]);
    repo.try_git(&["commit", "-q", "-m", path])
}

#[test]
fn a_global_hooks_path_is_refused_so_other_repositories_never_run_our_hooks() {
    let tmp = tempfile::tempdir().unwrap();
    let shared = tmp.path().join("shared-hooks");
    std::fs::create_dir_all(&shared).unwrap();
    let global = tmp.path().join("gitconfig");
    std::fs::write(
        &global,
        format!("[core]\n\thooksPath = {}\n", shared.display()),
    )
    .unwrap();
    let repo = Repo::new();
    let before = whole_setup(&repo);
    let out = common::aisync_cmd(repo.path())
        .env("GIT_CONFIG_GLOBAL", &global)
        .arg("install")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("core.hooksPath is set in your global git config")
            && err.contains("git config core.hooksPath .git/hooks")
            && err.trim().lines().count() == 1,
        "{err}"
    );
    assert_eq!(whole_setup(&repo), before, "nothing changed");
    assert_eq!(std::fs::read_dir(&shared).unwrap().count(), 0);
}

#[test]
fn hooks_in_a_shared_folder_do_nothing_in_a_repository_without_git_aisync() {
    let tmp = tempfile::tempdir().unwrap();
    let shared = tmp.path().join("shared-hooks");
    let (ours, theirs) = (Repo::new(), Repo::new());
    for repo in [&ours, &theirs] {
        repo.git(&["config", "core.hooksPath", shared.to_str().unwrap()]);
    }
    assert!(aisync(ours.path(), &["install"]).status.success());
    // Our repository refuses a forced-in secret; the other one is none of our business.
    let out = commit_output(&ours, ".credentials/token");
    assert!(!out.status.success(), "git-aisync's repo lets a secret in");
    let out = commit_output(&theirs, ".credentials/token");
    assert!(
        out.status.success(),
        "a repository without git-aisync ran its checks: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_foreign_hook_runs_exactly_as_git_would_run_it() {
    let repo = Repo::new();
    // Options on the #! line count: `sh -e` stops at the first failing command.
    hook_file(
        &repo,
        ".git/hooks",
        "pre-commit",
        "#!/bin/sh -e\nfalse\necho 'fell through' >&2\n",
    );
    assert!(aisync(repo.path(), &["install"]).status.success());
    let out = commit_output(&repo, "a.txt");
    assert!(!out.status.success(), "the `sh -e` hook no longer blocks");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("fell through"));
    assert!(aisync(repo.path(), &["uninstall"]).status.success());
    repo.git(&["reset", "-q"]);

    // An interpreter whose path merely holds "sh" (a pyenv shim) is not a shell.
    let shims = repo.path().join(".shims");
    std::fs::create_dir_all(&shims).unwrap();
    let python = std::process::Command::new("sh")
        .args(["-c", "command -v python3"])
        .output()
        .unwrap();
    let python = String::from_utf8_lossy(&python.stdout).trim().to_string();
    if !python.is_empty() {
        std::os::unix::fs::symlink(&python, shims.join("python3")).unwrap();
        let body = format!(
            "#!{}/python3\nimport sys\nopen('py.out', 'w').write('python ran')\nsys.exit(0)\n",
            shims.display()
        );
        hook_file(&repo, ".git/hooks", "pre-commit", &body);
        assert!(aisync(repo.path(), &["install"]).status.success());
        let out = commit_output(&repo, "b.txt");
        assert!(
            out.status.success(),
            "the python hook was run by a shell: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(repo.read("py.out"), b"python ran");
        assert!(aisync(repo.path(), &["uninstall"]).status.success());
    }

    // A hook switched off with chmod -x stays off, as git leaves it.
    let off = hook_file(
        &repo,
        ".git/hooks",
        "pre-commit",
        "#!/bin/sh\necho 'disabled hook ran' >&2\nexit 1\n",
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&off, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(aisync(repo.path(), &["install"]).status.success());
    let out = commit_output(&repo, "c.txt");
    assert!(
        out.status.success(),
        "a disabled hook ran: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(aisync(repo.path(), &["uninstall"]).status.success());
    assert_eq!(
        std::fs::metadata(&off).unwrap().permissions().mode() & 0o777,
        0o644
    );
}

#[test]
fn uninstall_in_a_clone_keeps_the_attributes_that_came_committed_from_the_hub() {
    let first = Repo::new();
    assert!(aisync(first.path(), &["install"]).status.success());
    first.commit_all("share the attributes");
    let tmp = tempfile::tempdir().unwrap();
    let clone = tmp.path().join("clone");
    common::git_ok(
        tmp.path(),
        &["clone", "-q", first.path().to_str().unwrap(), "clone"],
    );
    let committed = std::fs::read(clone.join(".gitattributes")).unwrap();
    assert!(aisync(&clone, &["install"]).status.success());
    assert!(aisync(&clone, &["uninstall"]).status.success());
    assert_eq!(
        std::fs::read(clone.join(".gitattributes")).unwrap(),
        committed
    );
    assert_eq!(common::git_ok(&clone, &["status", "--porcelain"]), "");
}

#[test]
fn a_machine_name_set_globally_is_not_shadowed_by_install() {
    let tmp = tempfile::tempdir().unwrap();
    let global = tmp.path().join("gitconfig");
    std::fs::write(&global, "[aisync]\n\tmachine = desk\n").unwrap();
    let repo = Repo::new();
    let before = repo.read(".git/config");
    let run = |args: &[&str]| {
        let out = common::aisync_cmd(repo.path())
            .env("GIT_CONFIG_GLOBAL", &global)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&["install"]);
    let local = repo.try_git(&["config", "--local", "aisync.machine"]);
    assert!(
        !local.status.success(),
        "install wrote a local machine name: {}",
        String::from_utf8_lossy(&local.stdout)
    );
    run(&["uninstall"]);
    assert_eq!(repo.read(".git/config"), before);
}

#[test]
fn install_records_the_link_it_was_started_by_so_upgrades_keep_working() {
    let tmp = tempfile::tempdir().unwrap();
    let cellar = tmp.path().join("cellar/0.1.0");
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&cellar).unwrap();
    std::fs::create_dir_all(&bin).unwrap();
    common::copy_executable(&common::bin(), &cellar.join("git-aisync"));
    std::os::unix::fs::symlink(cellar.join("git-aisync"), bin.join("git-aisync")).unwrap();
    let link = bin.join("git-aisync");
    // Started by its path, and by name from PATH (as `git aisync` starts it).
    for by_name in [false, true] {
        let repo = Repo::new();
        let mut cmd = if by_name {
            let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
            let mut c = std::process::Command::new("git-aisync");
            c.env("PATH", path);
            c
        } else {
            std::process::Command::new(&link)
        };
        common::isolated(cmd.current_dir(repo.path()).arg("install"));
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let driver = repo.git(&["config", "merge.aisync-json.driver"]);
        assert!(
            driver.starts_with(&format!("'{}' ", link.display())),
            "by name: {by_name}: {driver}"
        );
        let hook = String::from_utf8(repo.read(".git/hooks/pre-commit")).unwrap();
        assert!(
            hook.contains(&format!("bin='{}'", link.display())),
            "{hook}"
        );
    }
}

#[test]
fn uninstall_where_nothing_was_installed_changes_nothing() {
    let repo = Repo::new();
    repo.git(&["config", "aisync.machine", "laptop"]);
    repo.git(&["config", "aisync.branch", "main"]);
    let before = whole_setup(&repo);
    for _ in 0..2 {
        let out = aisync(repo.path(), &["uninstall"]);
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("not installed"));
        assert_eq!(whole_setup(&repo), before);
    }
    // And after a real install, a second uninstall is the same no-op.
    assert!(aisync(repo.path(), &["install"]).status.success());
    assert!(aisync(repo.path(), &["uninstall"]).status.success());
    assert!(aisync(repo.path(), &["uninstall"]).status.success());
    assert_eq!(whole_setup(&repo), before);
}

#[test]
fn a_moved_binary_stops_a_commit_with_one_line_saying_to_install_again() {
    let tmp = tempfile::tempdir().unwrap();
    let copy = tmp.path().join("git-aisync");
    common::copy_executable(&common::bin(), &copy);
    let repo = Repo::new();
    let mut install = std::process::Command::new(&copy);
    common::isolated(install.current_dir(repo.path()).arg("install"));
    assert!(install.status().unwrap().success());
    std::fs::remove_file(&copy).unwrap();
    repo.write("a.txt", b"a\n");
    repo.git(&["add", "a.txt"]);
    // A GUI's or cron's PATH: git, and no git-aisync.
    let out = common::git_cmd(repo.path())
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .args(["commit", "-q", "-m", "a"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("is gone") && err.contains("git aisync install") && err.lines().count() == 1,
        "{err}"
    );
}

#[test]
fn install_uninstall_round_trip_covers_the_hooks_folder_and_a_reformatted_branch() {
    let repo = Repo::new();
    // Set by hand before install, in a spelling git config would not write.
    let mut config = String::from_utf8(repo.read(".git/config")).unwrap();
    config.push_str("[aisync]\n\tbranch = \"main\"\n");
    repo.write(".git/config", config.as_bytes());
    hook_file(&repo, ".git/hooks", "pre-push", "#!/bin/sh\nexit 0\n");
    let before = whole_setup(&repo);
    assert!(aisync(repo.path(), &["install"]).status.success());
    assert!(aisync(repo.path(), &["install"]).status.success());
    assert!(aisync(repo.path(), &["uninstall"]).status.success());
    assert_eq!(whole_setup(&repo), before);
}

#[test]
fn a_hooks_folder_that_cannot_be_made_leaves_the_repository_untouched() {
    let repo = Repo::new();
    repo.write("not-a-dir", b"a file\n");
    repo.git(&["config", "core.hooksPath", "not-a-dir/hooks"]);
    let before = whole_setup(&repo);
    let out = aisync(repo.path(), &["install"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("hooks directory") && err.trim().lines().count() == 1,
        "{err}"
    );
    assert_eq!(whole_setup(&repo), before);
    assert!(!repo.path().join(".git/aisync").exists());
}

#[test]
fn a_never_folder_named_without_a_glob_still_keeps_its_files_out() {
    let repo = Repo::new();
    repo.write(
        ".aisync.yml",
        b"paths:\n  private: never\n  private2/: never\n",
    );
    repo.commit_all("policy");
    assert!(aisync(repo.path(), &["install"]).status.success());
    for path in ["private/a.txt", "private2/b.txt"] {
        let out = commit_output(&repo, path);
        assert!(!out.status.success(), "{path} was committed");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("is never committed"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        repo.git(&["reset", "-q"]);
    }
}

#[test]
fn a_realtime_folder_with_a_space_in_its_name_gets_the_drivers() {
    let repo = Repo::new();
    repo.write(".aisync.yml", b"paths:\n  \"my notes/**\": realtime\n");
    repo.commit_all("policy");
    let out = aisync(repo.path(), &["install"]);
    assert!(out.status.success());
    let check = repo.try_git(&["check-attr", "merge", "--", "my notes/a.json"]);
    assert_eq!(
        String::from_utf8_lossy(&check.stdout),
        "my notes/a.json: merge: aisync-json\n",
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(
        check.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
}

#[test]
fn a_file_name_with_a_line_break_is_reported_on_one_line() {
    let repo = Repo::new();
    assert!(aisync(repo.path(), &["install"]).status.success());
    repo.write("memory/two\nlines.json", b"{\"a\": \n");
    repo.git(&["add", "-A"]);
    let out = repo.try_git(&["commit", "-q", "-m", "odd name"]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err
        .lines()
        .find(|l| l.contains("not valid JSON"))
        .unwrap_or_else(|| panic!("no warning: {err}"));
    assert!(line.contains("memory/two\\nlines.json"), "{err}");
}
