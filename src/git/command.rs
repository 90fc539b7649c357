//! The one way a git child process is made. Every child gets the same safe environment (no
//! prompt, no pager, no editor) and a time limit, so an unattended command can never hang.

use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::error::GitError;

/// Set in the environment of every git child a cycle runs: the hooks git starts from there
/// see it and start no other cycle (no loops, no storms).
pub const IN_CYCLE: &str = "AISYNC_CYCLE";

/// How long a local git command may take before it is killed.
const LOCAL_LIMIT: Duration = Duration::from_secs(60);
/// How long a command that talks to a remote may take.
const REMOTE_LIMIT: Duration = Duration::from_secs(120);

/// Whether a git child runs inside a sync cycle, and whether it runs hooks there.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Cycle {
    /// A person's command (or a hook's): hooks run, the child shares our process group.
    #[default]
    Outside,
    /// The cycle's own commits, merges and pushes run no hooks: it scans what it commits and
    /// pushes itself, a person's hook (a linter, a test run) must not stop unattended sync,
    /// and ours would only start and see the cycle.
    Inside,
    /// Inside a cycle, hooks kept (git-lfs uploads its objects from pre-push: without them
    /// other machines would get pointers to objects that exist nowhere else). Ours see
    /// [`IN_CYCLE`] and stand aside.
    InsideWithHooks,
}

/// A git command to run: build it, then finish with [`Git::output`] (any exit status) or
/// [`Git::run`] (fails with git's message unless it succeeds).
#[must_use = "a git command does nothing until it is run"]
pub struct Git {
    dir: PathBuf,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    input: Option<Vec<u8>>,
    limit: Duration,
    cycle: Cycle,
}

/// What a finished git command printed: `T` is `String` (lossy text) or `Vec<u8>`.
#[derive(Debug)]
pub struct Output<T = String> {
    pub success: bool,
    /// The exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    pub stdout: T,
    pub stderr: String,
}

impl Git {
    /// `git ARGS` in `dir`.
    pub fn new<I, S>(dir: &Path, args: I) -> Git
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Git {
            dir: dir.to_path_buf(),
            args: args.into_iter().map(|a| a.as_ref().to_owned()).collect(),
            env: Vec::new(),
            input: None,
            limit: LOCAL_LIMIT,
            cycle: Cycle::Outside,
        }
    }

    /// Arguments before the ones given so far (`-c key=value` settings).
    pub fn leading<I, S>(mut self, args: I) -> Git
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut all: Vec<OsString> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        all.append(&mut self.args);
        self.args = all;
        self
    }

    /// An environment variable for this child only.
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Git {
        self.env
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    /// `index` as git's index instead of the repository's own.
    pub fn index(self, index: &Path) -> Git {
        self.env("GIT_INDEX_FILE", index)
    }

    /// Pathspecs are names, never patterns (a file may be called `*.md`).
    pub fn literal_pathspecs(self) -> Git {
        self.env("GIT_LITERAL_PATHSPECS", "1")
    }

    /// `paths` for `--pathspec-from-file=- --pathspec-file-nul` or `-z --stdin`: NUL-separated
    /// on the child's standard input, taken literally (a file may be called `*.md`).
    pub fn paths<P: AsRef<[u8]>>(self, paths: &[P]) -> Git {
        self.literal_pathspecs().stdin(super::nul_separated(paths))
    }

    /// Runs it on `paths` (see [`Git::paths`]); nothing to do when there are none.
    pub fn run_on<P: AsRef<[u8]>>(self, paths: &[P]) -> Result<(), GitError> {
        if paths.is_empty() {
            return Ok(());
        }
        self.paths(paths).run().map(drop)
    }

    /// `input` on the child's standard input.
    pub fn stdin(mut self, input: Vec<u8>) -> Git {
        self.input = Some(input);
        self
    }

    /// A command that talks to a remote (fetch, push, ls-remote): the longer time limit.
    pub fn remote(mut self) -> Git {
        self.limit = REMOTE_LIMIT;
        self
    }

    /// Run as part of a sync cycle (or not).
    pub fn cycle(mut self, cycle: Cycle) -> Git {
        self.cycle = cycle;
        self
    }

    /// The command line as a person would type it, for messages.
    fn shown(&self) -> String {
        let args: Vec<_> = self.args.iter().map(|a| a.to_string_lossy()).collect();
        format!("git {}", args.join(" "))
    }

    fn command(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new("git");
        cmd.current_dir(&self.dir)
            .args(&self.args)
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_PAGER", "cat")
            .env("PAGER", "cat")
            .env("GIT_EDITOR", "true")
            .env("GIT_SEQUENCE_EDITOR", "true")
            // `git status` and friends take no lock they can do without: a person's (or an
            // assistant's) next `git add` must not meet our index.lock.
            .env("GIT_OPTIONAL_LOCKS", "0")
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            // A hook's environment may name a temporary index (git commit -o): never ours.
            .env_remove("GIT_INDEX_FILE")
            .env_remove("GIT_PREFIX")
            .stdin(if self.input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if self.cycle != Cycle::Outside {
            cmd.env(IN_CYCLE, "1");
            // A group of its own: Ctrl-C in the terminal of `git aisync watch` reaches the
            // whole foreground group, and must not kill a merge or a push half-way; the
            // watcher finishes the cycle in flight and stops (its time limits still apply).
            std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        }
        if self.cycle == Cycle::Inside {
            // Added after any `GIT_CONFIG_COUNT` settings already in force.
            let n: usize = std::env::var("GIT_CONFIG_COUNT")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            cmd.env(format!("GIT_CONFIG_KEY_{n}"), "core.hooksPath")
                .env(format!("GIT_CONFIG_VALUE_{n}"), "/dev/null")
                .env("GIT_CONFIG_COUNT", (n + 1).to_string());
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs it, whatever its exit status; stdout as bytes.
    pub fn output_bytes(self) -> Result<Output<Vec<u8>>, GitError> {
        let (status, stdout, stderr) = self.spawn_and_wait()?;
        Ok(Output {
            success: status.success(),
            code: status.code(),
            stdout,
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        })
    }

    /// Runs it, whatever its exit status; stdout as text (invalid UTF-8 replaced).
    pub fn output(self) -> Result<Output, GitError> {
        let out = self.output_bytes()?;
        Ok(Output {
            success: out.success,
            code: out.code,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: out.stderr,
        })
    }

    /// Runs it; fails with git's first line of complaint unless it succeeds.
    pub fn run(self) -> Result<Output, GitError> {
        let shown = self.shown();
        let out = self.output()?;
        if !out.success {
            return Err(GitError::failed(shown, &out.stderr));
        }
        Ok(out)
    }

    /// [`Git::run`], stdout as bytes.
    pub fn run_bytes(self) -> Result<Vec<u8>, GitError> {
        let shown = self.shown();
        let out = self.output_bytes()?;
        if !out.success {
            return Err(GitError::failed(shown, &out.stderr));
        }
        Ok(out.stdout)
    }

    /// Runs it and says whether it exited 0 (a question git answers by its exit status).
    pub fn succeeds(self) -> Result<bool, GitError> {
        Ok(self.output_bytes()?.success)
    }

    /// Spawns the child, feeds its stdin, drains its pipes and waits, killing it past the
    /// time limit.
    fn spawn_and_wait(self) -> Result<(std::process::ExitStatus, Vec<u8>, Vec<u8>), GitError> {
        let deadline = Instant::now() + self.limit;
        let mut child = self.command().spawn().map_err(GitError::Spawn)?;
        let writer = match (self.input, child.stdin.take()) {
            // On a thread of its own: the child may answer while it reads.
            (Some(input), Some(mut stdin)) => Some(std::thread::spawn(move || {
                use std::io::Write;
                let _ = stdin.write_all(&input);
            })),
            _ => None,
        };
        // Drain the pipes on threads so a chatty child cannot block on a full pipe; each
        // says when its pipe closed, which is when the child is done (no polling delay on
        // the hundreds of short git commands a day of syncing runs).
        let (closed, pipes_closed) = std::sync::mpsc::channel::<()>();
        let drain = |pipe: Option<Box<dyn Read + Send>>| {
            let closed = closed.clone();
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                if let Some(mut p) = pipe {
                    let _ = p.read_to_end(&mut buf);
                }
                let _ = closed.send(());
                buf
            })
        };
        let out = drain(
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        let err = drain(
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        let own_group = self.cycle != Cycle::Outside;
        let limit = self.limit;
        let stop = |mut child: std::process::Child| -> GitError {
            // A cycle's git leads a process group of its own: its ssh and helpers go too.
            if own_group {
                // SAFETY: signals the group our own unreaped child leads.
                unsafe {
                    libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL);
                }
            }
            let _ = child.kill();
            let _ = child.wait();
            GitError::TimedOut {
                secs: limit.as_secs(),
            }
        };
        for _ in 0..2 {
            let left = deadline.saturating_duration_since(Instant::now());
            if pipes_closed.recv_timeout(left).is_err() {
                return Err(stop(child));
            }
        }
        // Both pipes closed: the child is exiting (or closed them and carries on: still
        // bounded).
        let mut pause = Duration::from_micros(50);
        let status = loop {
            if let Some(status) = child.try_wait().map_err(GitError::Spawn)? {
                break status;
            }
            if Instant::now() > deadline {
                return Err(stop(child));
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(5));
        };
        if let Some(writer) = writer {
            let _ = writer.join();
        }
        Ok((
            status,
            out.join().unwrap_or_default(),
            err.join().unwrap_or_default(),
        ))
    }
}
