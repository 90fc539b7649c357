//! What the tests share beyond the kit (aisync-testkit, re-exported here): the binary under
//! test, named once ([`Bin`]), the kit's helpers bound to it under the names the tests use,
//! scratch repositories and hubs, and a scenario two modules play.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub use aisync_testkit::{
    assert_exit, copy_executable, executable, git_cmd, git_ok, init_bare, isolated, read,
    read_or_empty, write, GitAisync,
};
use tempfile::TempDir;

/// The git-aisync binary under test: Cargo says where only to the root package's
/// integration tests and benches, as they are compiled.
pub enum Bin {}

impl GitAisync for Bin {
    const EXE: &'static str = env!("CARGO_BIN_EXE_git-aisync");
}

pub mod sshd {
    use std::path::Path;

    pub use aisync_testkit::sshd::Sshd;

    /// An sshd on 127.0.0.1 (see [`aisync_testkit::sshd`]); `None` without sshd.
    pub fn start_sshd(dir: &Path, with_aisync: bool) -> Option<Sshd> {
        aisync_testkit::sshd::start_sshd::<super::Bin>(dir, with_aisync)
    }

    pub fn start_sshd_with(dir: &Path, with_aisync: bool, first: Option<&Path>) -> Option<Sshd> {
        aisync_testkit::sshd::start_sshd_with::<super::Bin>(dir, with_aisync, first)
    }
}

pub mod watcher {
    pub use aisync_testkit::watcher::wait_until;

    /// A running `git aisync watch` (see [`aisync_testkit::watcher`]).
    pub type Watcher = aisync_testkit::watcher::Watcher<super::Bin>;
}

/// The git-aisync binary under test.
pub fn bin() -> PathBuf {
    Bin::exe().to_path_buf()
}

/// A git-aisync command in `dir` (isolated from the user's git config).
pub fn aisync_cmd(dir: &Path) -> Command {
    Bin::cmd(dir)
}

/// Runs git-aisync in `dir` (isolated from the user's git config).
pub fn aisync(dir: &Path, args: &[&str]) -> Output {
    Bin::run(dir, args)
}

/// Runs git-aisync in `dir` with `ssh` as git's ssh command, and nothing on stdin.
pub fn aisync_ssh(dir: &Path, ssh: &str, args: &[&str]) -> Output {
    Bin::run_ssh(dir, ssh, args)
}

/// Makes `dir` a synced repository on its own (`git aisync init DIR`, no remote).
pub fn init_alone(dir: &Path) {
    Bin::init(dir, None, None);
}

/// Makes `dir` a machine that joined (or first filled) the hub at `hub` with
/// `git aisync init DIR --remote HUB`.
pub fn init_joined(dir: &Path, hub: &Path) {
    Bin::init(dir, hub.to_str(), None);
}

/// Makes `dir` a machine that joined the hub at `url` with `git aisync init` over ssh.
pub fn init_over_ssh(dir: &Path, ssh: &str, url: &str) {
    Bin::init(dir, Some(url), Some(ssh));
}

pub struct Repo {
    pub dir: TempDir,
}

impl Repo {
    /// A new repository on branch `main` with one empty commit.
    pub fn new() -> Repo {
        let dir = tempfile::tempdir().expect("temp dir");
        aisync_testkit::init_repo(dir.path());
        Repo { dir }
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
        init_joined(&dir, &self.hub);
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
