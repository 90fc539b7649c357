//! git-aisync's test kit: what the root package's integration tests (`tests/runner`), its
//! benches (`benches/*.rs`) and merge-drivers' tests share. A dev-dependency only.
//!
//! - [`isolated`]: the environment every git and git-aisync process they start runs in;
//! - git in a folder ([`git_cmd`], [`git_ok`]), repositories ([`init_repo`], [`init_bare`]);
//! - files ([`write`], [`read`], [`read_or_empty`]), and programs written to be run
//!   ([`executable`], [`copy_executable`]);
//! - the binary under test ([`GitAisync`]), which the caller names;
//! - [`sshd`]: a real sshd on 127.0.0.1; [`watcher`]: a `git aisync watch` process;
//! - [`rng`]: the seeded generator; [`dates`]: the timestamps of generated cases.

pub mod dates;
pub mod https;
pub mod rng;
pub mod sshd;
pub mod watcher;

use std::path::Path;
use std::process::{Command, Output, Stdio};

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

/// A git command in `dir` that sees none of the user's or the system's configuration.
pub fn git_cmd(dir: &Path) -> Command {
    let mut c = Command::new("git");
    isolated(c.current_dir(dir).env("GIT_TERMINAL_PROMPT", "0"));
    c
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

/// A repository at `dir` (made if need be) on branch `main`, with one empty commit.
pub fn init_repo(dir: &Path) {
    std::fs::create_dir_all(dir).expect("mkdir");
    git_ok(dir, &["init", "-q", "-b", "main"]);
    git_ok(dir, &["commit", "-q", "--allow-empty", "-m", "start"]);
}

/// A bare repository on branch `main` at `dir`, made with the folders it needs.
pub fn init_bare(dir: &Path) {
    std::fs::create_dir_all(dir).expect("mkdir");
    git_ok(dir, &["init", "-q", "--bare", "-b", "main"]);
}

/// A clone of the repository at `from`, made at `to`.
pub fn clone(from: &Path, to: &Path) {
    let (from, to) = (from.to_str().unwrap(), to.to_str().unwrap());
    git_ok(Path::new("/"), &["clone", "-q", from, to]);
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

/// Writes an executable script (a hook, say) at `path`, ready to be run at once: see
/// [`copy_executable`].
pub fn executable(path: &Path, text: &str) {
    let mut staged = tempfile::NamedTempFile::new().expect("temp file");
    std::io::Write::write_all(&mut staged, text.as_bytes()).expect("write the script");
    copy_executable(staged.path(), path);
}

/// Copies the program at `from` (the binary under test, say) to `to`, mode 0755, ready to be
/// run at once, by the caller or by any process it starts (git running a hook).
///
/// Linux refuses to run a file that any process holds open for writing (ETXTBSY, "Text file
/// busy"). Written here with `std::fs`, the file would be open for writing in this process
/// for a moment, and the tests run on many threads of one process: a thread that forks then
/// (any `Command::spawn`) hands its child a copy of that descriptor, which the child holds
/// until its own exec, after we have closed ours. A retry of the spawn on ExecutableFileBusy
/// would only cover the spawns the caller makes itself, not a hook git runs. So a child, `cp`,
/// writes the file: the descriptor is never open in this process, no fork of ours can inherit
/// it, and once `cp` has exited nothing holds it.
pub fn copy_executable(from: &Path, to: &Path) {
    let out = Command::new("cp")
        .arg("--")
        .arg(from)
        .arg(to)
        .stdin(Stdio::null())
        .output()
        .expect("run cp");
    assert!(
        out.status.success(),
        "cp {} {}: {}",
        from.display(),
        to.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    // chmod by path: no descriptor either.
    let mode = std::os::unix::fs::PermissionsExt::from_mode(0o755);
    std::fs::set_permissions(to, mode).expect("chmod 755");
}

/// The git-aisync binary under test, named by its caller. Cargo tells where it is only to the
/// root package's integration tests and benches, as they are compiled
/// (`env!("CARGO_BIN_EXE_git-aisync")`), so the kit cannot know it: each of them implements
/// this once, on a type of its own,
///
/// ```ignore
/// enum Bin {}
/// impl aisync_testkit::GitAisync for Bin {
///     const EXE: &'static str = env!("CARGO_BIN_EXE_git-aisync");
/// }
/// ```
///
/// and the kit's helpers that run the binary take that type (`Bin::run(dir, &["sync"])`,
/// `Watcher::<Bin>::start(dir, &[])`).
pub trait GitAisync {
    /// The binary's path.
    const EXE: &'static str;

    fn exe() -> &'static Path {
        Path::new(Self::EXE)
    }

    /// A git-aisync command in `dir`, isolated from the user's git config.
    fn cmd(dir: &Path) -> Command {
        let mut c = Command::new(Self::EXE);
        isolated(c.current_dir(dir));
        c
    }

    /// Runs git-aisync in `dir`, isolated from the user's git config.
    fn run(dir: &Path, args: &[&str]) -> Output {
        Self::cmd(dir).args(args).output().expect("run git-aisync")
    }

    /// Runs git-aisync in `dir` with `ssh` as git's ssh command, and nothing on stdin.
    fn run_ssh(dir: &Path, ssh: &str, args: &[&str]) -> Output {
        Self::cmd(dir)
            .env("GIT_SSH_COMMAND", ssh)
            .stdin(Stdio::null())
            .args(args)
            .output()
            .expect("run git-aisync")
    }

    /// Makes `dir` a synced repository: `git aisync init DIR`, joining (or first filling) the
    /// hub at `remote` if given, through `ssh` as git's ssh command if given. Fails the test
    /// if init fails.
    fn init(dir: &Path, remote: Option<&str>, ssh: Option<&str>) {
        let mut args = vec!["init", dir.to_str().unwrap()];
        if let Some(remote) = remote {
            args.extend(["--remote", remote]);
        }
        let root = Path::new("/");
        let out = match ssh {
            Some(ssh) => Self::run_ssh(root, ssh, &args),
            None => Self::run(root, &args),
        };
        assert!(
            out.status.success(),
            "git aisync {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[cfg(test)]
mod tests {
    use std::process::Command;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// Programs written by the kit run at once while other threads fork all the time (with
    /// `std::fs::copy` in place of `copy_executable`, about one run in fifteen here failed
    /// with "Text file busy").
    #[test]
    fn a_program_written_while_other_threads_fork_runs_at_once() {
        /// Stops the forking threads however the test ends (a failure must not hang it).
        struct Stop<'a>(&'a AtomicBool);
        impl Drop for Stop<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Relaxed);
            }
        }
        let tmp = tempfile::tempdir().unwrap();
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    while !stop.load(Ordering::Relaxed) {
                        let _ = Command::new("true").status();
                    }
                });
            }
            let _stop = Stop(&stop);
            for i in 0..100 {
                let copy = tmp.path().join(format!("copy-{i}"));
                super::copy_executable("/bin/true".as_ref(), &copy);
                let script = tmp.path().join(format!("script-{i}"));
                super::executable(&script, "#!/bin/sh\nexit 0\n");
                for program in [copy, script] {
                    let ran = Command::new(&program).status();
                    assert!(matches!(ran, Ok(s) if s.success()), "{program:?}: {ran:?}");
                }
            }
        });
    }
}
