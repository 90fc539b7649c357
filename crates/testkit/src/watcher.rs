//! A `git aisync watch` process for the watcher tests and benches: started with the test git
//! environment, stopped with SIGTERM, killed if the test fails first.

use std::marker::PhantomData;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::GitAisync;

/// Long enough for a busy two-core machine; the waits return as soon as the thing holds.
pub const DEFAULT_PATIENCE: Duration = Duration::from_secs(20);

/// A running `B watch` (`B`: the binary under test); killed if the test fails before it
/// stops it.
pub struct Watcher<B: GitAisync> {
    child: Option<Child>,
    pub dir: PathBuf,
    patience: Duration,
    binary: PhantomData<B>,
}

impl<B: GitAisync> Watcher<B> {
    /// Started in `dir` with `extra` arguments; ready once its first cycle is done.
    pub fn start(dir: &Path, extra: &[&str]) -> Self {
        Self::spawn(dir, extra, &[], DEFAULT_PATIENCE)
    }

    pub fn start_with(dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Self {
        Self::spawn(dir, extra, env, DEFAULT_PATIENCE)
    }

    /// `patience`: how long its waits may take before the test fails.
    pub fn spawn(dir: &Path, extra: &[&str], env: &[(&str, &str)], patience: Duration) -> Self {
        let child = B::cmd(dir)
            .args(["watch", "--quiet"])
            .args(extra)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // A group of its own, as a shell makes for a command in a terminal.
            .process_group(0)
            .spawn()
            .expect("start git-aisync watch");
        let w = Watcher {
            child: Some(child),
            dir: dir.to_path_buf(),
            patience,
            binary: PhantomData,
        };
        // Ready once its first cycle (catching up) is done.
        w.wait_for("the watcher's first cycle", || w.cycles() >= 1);
        w
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// What `<git dir>/aisync/watch.json` says.
    pub fn record(&self) -> serde_json::Value {
        std::fs::read(self.dir.join(".git/aisync/watch.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .filter(|v: &serde_json::Value| v["pid"] == self.pid())
            .unwrap_or(serde_json::Value::Null)
    }

    pub fn cycles(&self) -> u64 {
        self.record()["cycles"].as_u64().unwrap_or(0)
    }

    /// The notify-wait session of its first remote, as the record says.
    pub fn session(&self) -> String {
        self.record()["remotes"][0]["session"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join(".git/aisync/watch.log")).unwrap_or_default()
    }

    pub fn wait_for(&self, what: &str, mut ok: impl FnMut() -> bool) {
        let start = Instant::now();
        while !ok() {
            assert!(
                start.elapsed() < self.patience,
                "timed out waiting for {what}; watch.log in {}:\n{}",
                self.dir.display(),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn signal(&self, sig: libc::c_int) {
        // SAFETY: signals our own child, which we have not reaped yet.
        unsafe {
            libc::kill(self.pid() as libc::pid_t, sig);
        }
    }

    /// SIGTERM, then its exit status.
    pub fn stop(self) -> ExitStatus {
        self.signal(libc::SIGTERM);
        self.exit_status()
    }

    /// What Ctrl-C in its terminal does (SIGINT to its whole process group, git children
    /// and all), then its exit status.
    pub fn interrupt(self) -> ExitStatus {
        // SAFETY: signals the group our own child leads; it has not been reaped yet.
        unsafe {
            libc::kill(-(self.pid() as libc::pid_t), libc::SIGINT);
        }
        self.exit_status()
    }

    fn exit_status(mut self) -> ExitStatus {
        let mut child = self.child.take().unwrap();
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if start.elapsed() > self.patience {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the watcher did not stop on the signal:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Waits until `ok` holds, as long as the most patient of `watchers`; on a timeout, fails
/// with all their logs.
pub fn wait_until<B: GitAisync>(
    what: &str,
    watchers: &[&Watcher<B>],
    mut ok: impl FnMut() -> bool,
) {
    let patience = watchers
        .iter()
        .map(|w| w.patience)
        .max()
        .unwrap_or(DEFAULT_PATIENCE);
    let start = Instant::now();
    while !ok() {
        if start.elapsed() > patience {
            let logs: Vec<String> = watchers
                .iter()
                .map(|w| format!("--- {}:\n{}", w.dir.display(), w.log()))
                .collect();
            panic!("timed out waiting for {what}\n{}", logs.join("\n"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl<B: GitAisync> Drop for Watcher<B> {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
