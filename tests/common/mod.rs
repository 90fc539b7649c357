//! Test support: real git repositories in temp dirs, isolated from the user's git config.

#![allow(dead_code)]

pub mod sshd;
pub mod watcher;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use tempfile::TempDir;

/// The git-aisync binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_git-aisync"))
}

/// `c` isolated from the user's and the system's git configuration, with a fixed identity.
pub fn isolated(c: &mut Command) -> &mut Command {
    c.env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        // Tests that want commits pushed by the hooks turn this back on.
        .env("AISYNC_AUTOPUSH", "0")
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.invalid")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.invalid")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
}

/// A git command that sees none of the user's or the system's configuration.
pub fn git_cmd(dir: &Path) -> Command {
    let mut c = Command::new("git");
    isolated(c.current_dir(dir).env("GIT_TERMINAL_PROMPT", "0"));
    c
}

/// A git-aisync command in `dir` (isolated from the user's git config).
pub fn aisync_cmd(dir: &Path) -> Command {
    let mut c = Command::new(bin());
    isolated(c.current_dir(dir));
    c
}

pub struct Repo {
    pub dir: TempDir,
}

impl Repo {
    /// A new repository on branch `main` with one empty commit.
    pub fn new() -> Repo {
        let dir = tempfile::tempdir().expect("temp dir");
        let repo = Repo { dir };
        repo.git(&["init", "-q", "-b", "main"]);
        repo.git(&["commit", "-q", "--allow-empty", "-m", "start"]);
        repo
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Runs git and asserts it succeeded.
    pub fn git(&self, args: &[&str]) -> String {
        let out = self.try_git(args);
        assert!(
            out.status.success(),
            "git {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn try_git(&self, args: &[&str]) -> Output {
        git_cmd(self.path()).args(args).output().expect("run git")
    }

    pub fn write(&self, rel: &str, content: &[u8]) {
        let p = self.path().join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(p, content).expect("write");
    }

    pub fn read(&self, rel: &str) -> Vec<u8> {
        std::fs::read(self.path().join(rel)).expect("read")
    }

    pub fn commit_all(&self, message: &str) {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", message]);
    }

    /// Registers the merge drivers by hand (what `install` will do) and selects them for
    /// `memory/` by extension.
    pub fn register_drivers(&self) {
        let bin = bin();
        for kind in ["json", "jsonl", "yaml", "markdown", "text"] {
            let driver = format!("'{}' merge-driver {kind} %O %A %B %L %P", bin.display());
            self.git(&["config", &format!("merge.aisync-{kind}.driver"), &driver]);
        }
        self.write(
            ".gitattributes",
            b"memory/**/*.json merge=aisync-json\nmemory/**/*.jsonl merge=aisync-jsonl\n*.txt merge=aisync-text\n",
        );
        self.commit_all("register drivers");
    }
}

/// Runs git-aisync in `dir` (isolated from the user's git config).
pub fn aisync(dir: &Path, args: &[&str]) -> Output {
    aisync_cmd(dir).args(args).output().expect("run git-aisync")
}

/// Runs git-aisync in `dir` with `ssh` as git's ssh command, and nothing on stdin.
pub fn aisync_ssh(dir: &Path, ssh: &str, args: &[&str]) -> Output {
    aisync_cmd(dir)
        .env("GIT_SSH_COMMAND", ssh)
        .stdin(Stdio::null())
        .args(args)
        .output()
        .expect("run git-aisync")
}

/// Runs git in `dir` and asserts it succeeded; its output.
pub fn git_ok(dir: &Path, args: &[&str]) -> String {
    let out = git_cmd(dir).args(args).output().expect("run git");
    assert!(
        out.status.success(),
        "git {args:?} in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Asserts that `out` exited with `code`, its stderr as the failure message.
pub fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A bare repository on branch `main` at `dir`, made with the folders it needs.
pub fn init_bare(dir: &Path) {
    std::fs::create_dir_all(dir).expect("mkdir");
    git_ok(dir, &["init", "-q", "--bare", "-b", "main"]);
}

/// Makes `dir` a synced repository on its own (`git aisync init DIR`, no remote).
pub fn init_alone(dir: &Path) {
    let out = aisync(Path::new("/"), &["init", dir.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "init {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Makes `dir` a machine that joined (or first filled) the hub at `hub` with
/// `git aisync init DIR --remote HUB`.
pub fn init_joined(dir: &Path, hub: &Path) {
    let out = aisync(
        Path::new("/"),
        &[
            "init",
            dir.to_str().unwrap(),
            "--remote",
            hub.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "init {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Makes `dir` a machine that joined the hub at `url` with `git aisync init` over ssh.
pub fn init_over_ssh(dir: &Path, ssh: &str, url: &str) {
    let out = aisync_ssh(
        Path::new("/"),
        ssh,
        &["init", dir.to_str().unwrap(), "--remote", url],
    );
    assert!(
        out.status.success(),
        "init {} over ssh: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Writes `text` to `rel` in `dir`, making the folders it needs.
pub fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// The text of `rel` in `dir`; fails the test if it cannot be read.
pub fn read(dir: &Path, rel: &str) -> String {
    std::fs::read_to_string(dir.join(rel)).unwrap()
}

/// The text of `rel` in `dir`, or "" while it is not there (for the waits).
pub fn read_or_empty(dir: &Path, rel: &str) -> String {
    std::fs::read_to_string(dir.join(rel)).unwrap_or_default()
}

/// Writes an executable script (a hook, say) at `path`.
pub fn executable(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    let mut perms = std::fs::metadata(path).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(path, perms).unwrap();
}

/// A bare hub in a temp dir, and machines that join it with `git aisync init`.
pub struct Net {
    _tmp: TempDir,
    pub hub: PathBuf,
    pub root: PathBuf,
}

impl Net {
    pub fn new() -> Net {
        let tmp = tempfile::tempdir().expect("temp dir");
        let root = tmp.path().to_path_buf();
        let hub = root.join("hub.git");
        init_bare(&hub);
        // The hub's reflog shows how its branch moved (only fast-forwards, say).
        git_ok(&hub, &["config", "core.logAllRefUpdates", "always"]);
        Net {
            _tmp: tmp,
            hub,
            root,
        }
    }

    /// A hub that keeps its refs in a reftable (no ref files to watch), and no machine yet.
    pub fn reftable() -> Net {
        let tmp = tempfile::tempdir().expect("temp dir");
        let root = tmp.path().to_path_buf();
        let hub = root.join("hub.git");
        git_ok(
            &root,
            &[
                "init",
                "-q",
                "--bare",
                "--ref-format=reftable",
                "-b",
                "main",
                "hub.git",
            ],
        );
        Net {
            _tmp: tmp,
            hub,
            root,
        }
    }

    /// A machine named `name` that joined the hub with `git aisync init`.
    pub fn machine(&self, name: &str) -> PathBuf {
        let dir = self.root.join(name);
        let out = aisync(
            Path::new("/"),
            &[
                "init",
                dir.to_str().unwrap(),
                "--remote",
                self.hub.to_str().unwrap(),
            ],
        );
        assert!(
            out.status.success(),
            "init {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        git_ok(&dir, &["config", "aisync.machine", name]);
        dir
    }
}

/// b is editing rules/style.md (a versioned file: the cycle leaves it to the person) when a
/// change to it comes from a: the change waits, b's edit stays byte for byte, no stash is
/// made; once b commits, everything merges.
pub fn an_edit_in_progress_holds_back_the_incoming_change(a: &Path, b: &Path) {
    let synced = |dir: &Path| assert_exit(&aisync(dir, &["sync"]), 0);
    let person_commits = |dir: &Path, message: &str| {
        git_ok(dir, &["add", "rules/style.md"]);
        git_ok(dir, &["commit", "-q", "-m", message]);
    };
    write(
        a,
        "rules/style.md",
        "# Style\n\n- one\n- two\n- three\n- four\n",
    );
    person_commits(a, "style");
    synced(a);
    synced(b);
    let edit = "# Style\n\n- one\n- two\n- three\n- four\n- five, half written\n";
    write(b, "rules/style.md", edit);
    write(
        a,
        "rules/style.md",
        "# Style\n\n- ONE\n- two\n- three\n- four\n",
    );
    person_commits(a, "style: ONE");
    synced(a);

    let waits = |b: &Path| {
        let out = aisync(b, &["sync"]);
        assert_exit(&out, 4);
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(
            said.contains("commit or stash your edits to rules/style.md"),
            "{said}"
        );
        assert_eq!(read(b, "rules/style.md"), edit);
        assert_eq!(git_ok(b, &["stash", "list"]), "");
        assert_eq!(git_ok(b, &["status", "--porcelain"]), " M rules/style.md\n");
        assert!(!b.join(".git/MERGE_HEAD").exists());
        assert!(!b.join(".git/aisync/merging").exists());
    };
    // b has nothing of its own: a fast-forward would overwrite the edit.
    waits(b);
    // b has a note of its own: a real merge would.
    write(b, "memory/b.md", "- from b\n");
    waits(b);
    assert!(git_ok(b, &["log", "--name-only", "-1"]).contains("memory/b.md"));

    person_commits(b, "style: five");
    synced(b);
    synced(a);
    let both = "# Style\n\n- ONE\n- two\n- three\n- four\n- five, half written\n";
    assert_eq!(read(b, "rules/style.md"), both);
    assert_eq!(read(a, "rules/style.md"), both);
    assert_eq!(read(a, "memory/b.md"), "- from b\n");
}
