//! Instant notice from a hub over SSH: one `git aisync notify-wait` session kept open on a
//! thread, which tells the loop when the hub's branch moves.

// The session blocks on the hub until the branch moves and prints the new commit; the thread
// passes that on and opens the next session from the new tip. A hub without git-aisync is
// polled for good; a session that drops is tried again later and later, polling meanwhile.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::schedule::{backoff, IDLE_CAP};
use super::Msg;
use crate::git::Repo;

/// How long one notify-wait waits on the hub before the session starts over.
const SESSION_WAIT_SECS: u64 = 600;
/// A session that ends sooner than this with no news counts as a failure (never a tight loop).
const SESSION_MIN: Duration = Duration::from_secs(5);
/// What the hub's shell prints once the session is there and in the repository.
const READY: &str = "aisync-notify-ready";
/// How long notify-wait runs on the hub before the session counts as open.
const SESSION_SETTLE: Duration = Duration::from_millis(500);

/// A hub reached over SSH (`ssh://[user@]host[:port]/path`, `[user@]host:path`).
pub(super) use crate::url::SshUrl as SshHub;

/// The SSH hub a remote URL names, if it names one.
pub(super) fn ssh_hub(url: &str) -> Option<SshHub> {
    crate::url::ssh(url)
}

/// The user's SSH command (`GIT_SSH_COMMAND`, `core.sshCommand`, else `ssh`) in batch mode,
/// as `peer` runs it; a session that stays open also has ssh check that the hub is still
/// there, so a connection that died quietly (a suspend, a new network) ends within a minute.
/// It shares the connection the cycle's git commands keep (the same control socket), so a
/// new session after each push is a new channel, not a new SSH handshake.
pub(super) fn ssh_command(repo: &Repo) -> String {
    format!(
        "{} -o ServerAliveInterval=15 -o ServerAliveCountMax=3",
        repo.ssh_command()
    )
}

/// What the hub runs (through `peer::remote_script`, as kick and run do): `git aisync
/// notify-wait …` in the hub's repository, behind a guard that ends notify-wait as soon as the
/// connection goes (its standard input closes), so a watcher that stops or restarts a session
/// leaves nothing running on the hub.
fn remote_script(spec: &SessionSpec, since: Option<&str>) -> String {
    // Nothing known yet: any tip of the branch is news.
    let since = since.unwrap_or("0000000000000000000000000000000000000000");
    let script = format!(
        "echo {READY}\n\
         {find}\
         exec 3<&0 </dev/null\n\
         \"$aisync\" notify-wait --branch {branch} --since {since} --timeout {SESSION_WAIT_SECS} 3<&- &\n\
         w=$!\n\
         (while read -r _ <&3; do :; done; kill $w) >/dev/null 2>&1 &\n\
         g=$!\n\
         wait $w\n\
         s=$?\n\
         kill $g 2>/dev/null\n\
         exit $s\n",
        find = crate::ssh::find_program(&spec.remote, spec.program.as_deref()),
        branch = crate::shell::quote(&spec.branch),
        since = crate::shell::quote(since),
    );
    crate::ssh::remote_script(&spec.hub.path, &script)
}

/// What a session thread tells the loop.
pub(super) enum SessionEvent {
    /// notify-wait runs on the hub.
    Up,
    /// The branch on the hub moved to this commit.
    Moved(String),
    /// The session ended for this reason; another is tried after a pause.
    Down(String),
    /// The hub cannot run notify-wait: no more sessions.
    Unavailable(String),
}

/// How a session ended.
enum Ended {
    Moved(String),
    /// notify-wait's time limit: start over.
    Quiet,
    Down(String),
    Unavailable(String),
}

/// Shared between the loop and a session thread.
#[derive(Default)]
struct Slot {
    /// The watcher is done with this session.
    stop: bool,
    /// Start over at once (after a suspend): the end of the current child is no failure.
    restart: bool,
    /// The running child (its process group), until it is reaped.
    child: Option<u32>,
    /// The hub's tip as last known, for the next session's `--since`.
    known: Option<String>,
}

/// One remote's notify-wait session: a thread and the ssh child it runs. Dropping it ends
/// both (the child is killed, the thread returns).
pub(super) struct Session {
    pub(super) id: u64,
    shared: Arc<(Mutex<Slot>, Condvar)>,
}

fn lock(shared: &(Mutex<Slot>, Condvar)) -> MutexGuard<'_, Slot> {
    // A panic elsewhere cannot leave a Slot half-changed: take it as it is.
    shared.0.lock().unwrap_or_else(|e| e.into_inner())
}

/// Ends a session's ssh (and the shell around it) by its process group.
fn kill_group(pid: u32) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: signals a process group we made and have not reaped the leader of.
        unsafe {
            libc::kill(-pid, libc::SIGTERM);
        }
    }
}

/// What a session thread needs to know.
pub(super) struct SessionSpec {
    pub(super) remote: String,
    /// `remote.<name>.aisyncProgram`: git-aisync's path on the hub, when set.
    pub(super) program: Option<String>,
    pub(super) hub: SshHub,
    pub(super) ssh: String,
    pub(super) branch: String,
    pub(super) poll: Duration,
}

impl Session {
    pub(super) fn start(spec: SessionSpec, known: Option<String>, tx: Sender<Msg>) -> Session {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let shared = Arc::new((
            Mutex::new(Slot {
                known,
                ..Slot::default()
            }),
            Condvar::new(),
        ));
        let theirs = shared.clone();
        std::thread::spawn(move || session_thread(&theirs, &spec, id, &tx));
        Session { id, shared }
    }

    /// The hub's tip as the loop knows it now (after a cycle).
    pub(super) fn know(&self, tip: Option<String>) {
        if tip.is_some() {
            lock(&self.shared).known = tip;
        }
    }

    /// Ends the current session and opens a new one at once.
    pub(super) fn restart(&self) {
        let mut slot = lock(&self.shared);
        slot.restart = true;
        if let Some(pid) = slot.child {
            kill_group(pid);
        }
        self.shared.1.notify_all();
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let mut slot = lock(&self.shared);
        slot.stop = true;
        if let Some(pid) = slot.child {
            kill_group(pid);
        }
        self.shared.1.notify_all();
    }
}

fn session_thread(shared: &(Mutex<Slot>, Condvar), spec: &SessionSpec, id: u64, tx: &Sender<Msg>) {
    let send = |event| {
        let _ = tx.send(Msg::Session {
            remote: spec.remote.clone(),
            id,
            event,
        });
    };
    let mut failures = 0u32;
    loop {
        // Spawned under the lock: a stop that comes now finds the child to kill.
        let mut slot = lock(shared);
        if slot.stop {
            return;
        }
        slot.restart = false;
        let since = slot.known.clone();
        let child = spawn_session(spec, since.as_deref());
        let ended = match child {
            Ok(child) => {
                slot.child = Some(child.id());
                drop(slot);
                let started = Instant::now();
                let ended = follow_session(shared, child, || send(SessionEvent::Up));
                match ended {
                    Ended::Quiet if started.elapsed() < SESSION_MIN => {
                        Ended::Down("notify-wait ended at once with no news".into())
                    }
                    other => other,
                }
            }
            Err(e) => {
                drop(slot);
                Ended::Down(format!("cannot run ssh: {e}"))
            }
        };
        let slot = lock(shared);
        if slot.stop {
            return;
        }
        if slot.restart {
            failures = 0;
            continue;
        }
        drop(slot);
        match ended {
            Ended::Moved(tip) => {
                failures = 0;
                lock(shared).known = Some(tip.clone());
                send(SessionEvent::Moved(tip));
            }
            Ended::Quiet => failures = 0,
            Ended::Unavailable(why) => {
                send(SessionEvent::Unavailable(why));
                return;
            }
            Ended::Down(why) => {
                failures += 1;
                send(SessionEvent::Down(why));
                let pause = backoff(spec.poll, failures);
                let slot = lock(shared);
                let _ = shared
                    .1
                    .wait_timeout_while(slot, pause, |s| !s.stop && !s.restart);
            }
        }
    }
}

fn spawn_session(spec: &SessionSpec, since: Option<&str>) -> std::io::Result<Child> {
    use std::os::unix::process::CommandExt;
    let script = remote_script(spec, since);
    // Its own process group: the loop ends ssh and the shell around it together, and a
    // Ctrl-C in the terminal reaches the watcher alone, which then ends them.
    crate::ssh::command(&spec.ssh, &spec.hub.host, spec.hub.port.as_deref(), &script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
}

/// Reads a session to its end: the ready line (then `up`), the new tip, ssh's and the hub's
/// complaints; reaps the child and says how it ended.
fn follow_session(shared: &(Mutex<Slot>, Condvar), mut child: Child, up: impl Fn()) -> Ended {
    // Held open while the session runs: the hub's guard ends notify-wait when it closes.
    let keep_open = child.stdin.take();
    let errors = child.stderr.take().map(|mut err| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = (&mut err).take(64 * 1024).read_to_end(&mut text);
            // Whatever comes past that is drained, so the child never blocks on it.
            let _ = std::io::copy(&mut err, &mut std::io::sink());
            String::from_utf8_lossy(&text).into_owned()
        })
    });
    let (line_tx, lines) = mpsc::channel();
    if let Some(out) = child.stdout.take() {
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if line_tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    // The session is up once notify-wait has run a moment on the hub: a hub without it
    // says so at once.
    let mut ready: Option<Instant> = None;
    let mut announced = false;
    let mut tip = None;
    loop {
        let wait = match ready {
            Some(at) if !announced => {
                (at + SESSION_SETTLE).saturating_duration_since(Instant::now())
            }
            _ => IDLE_CAP,
        };
        match lines.recv_timeout(wait) {
            Ok(line) => {
                let line = line.trim();
                if line == READY {
                    ready = Some(Instant::now());
                } else if ready.is_some()
                    && line.len() >= 40
                    && line.chars().all(|c| c.is_ascii_hexdigit())
                {
                    tip = Some(line.to_string());
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                if ready.is_some() && !announced {
                    announced = true;
                    up();
                }
            }
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    let ready = ready.is_some();
    // Not ours to kill any more: it is reaped next.
    lock(shared).child = None;
    let status = child.wait();
    drop(keep_open);
    let err = errors.and_then(|t| t.join().ok()).unwrap_or_default();
    let code = status.ok().and_then(|s| s.code());
    classify(ready, code, tip, &err)
}

/// How a session ended, from what it said.
fn classify(ready: bool, code: Option<i32>, tip: Option<String>, err: &str) -> Ended {
    let why = err
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or("")
        .to_string();
    if !ready {
        // ssh could not connect, or the repository is not at that path.
        return Ended::Down(if why.is_empty() {
            format!(
                "ssh ended with status {}",
                code.map_or("?".into(), |c| c.to_string())
            )
        } else {
            why
        });
    }
    match (code, tip) {
        (Some(0), Some(tip)) => return Ended::Moved(tip),
        (Some(3), _) => return Ended::Quiet,
        _ => {}
    }
    let missing = [
        "not a git command",
        "command not found",
        ": not found",
        "unrecognized subcommand",
    ];
    if code == Some(127) || missing.iter().any(|m| err.contains(m)) {
        return Ended::Unavailable(if why.is_empty() {
            "git or git-aisync not found".into()
        } else {
            why
        });
    }
    Ended::Down(if why.is_empty() {
        format!(
            "the session ended with status {}",
            code.map_or("?".into(), |c| c.to_string())
        )
    } else {
        why
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::path::Path;
    use std::process::Command;

    #[test]
    fn ssh_hubs_are_told_from_other_urls() {
        let hub = |host: &str, port: Option<&str>, path: &str| {
            Some(SshHub {
                host: host.into(),
                port: port.map(str::to_string),
                path: path.into(),
            })
        };
        assert_eq!(
            ssh_hub("ssh://me@host:2222/srv/hub.git"),
            hub("me@host", Some("2222"), "/srv/hub.git")
        );
        assert_eq!(
            ssh_hub("git+ssh://host/srv/hub.git"),
            hub("host", None, "/srv/hub.git")
        );
        assert_eq!(ssh_hub("host:hub.git"), hub("host", None, "hub.git"));
        assert_eq!(
            ssh_hub("git@example.org:me/hub.git"),
            hub("git@example.org", None, "me/hub.git")
        );
        assert_eq!(
            ssh_hub("ssh://[::1]:22/hub"),
            hub("::1", Some("22"), "/hub")
        );
        for not_ssh in [
            "https://host/hub.git",
            "git://host/hub.git",
            "file:///srv/hub.git",
            "/srv/hub.git",
            "-oProxyCommand=x:hub.git",
        ] {
            assert_eq!(ssh_hub(not_ssh), None, "{not_ssh}");
        }
    }

    #[test]
    fn a_session_end_says_whether_to_retry_or_to_poll_for_good() {
        let tip = "a".repeat(40);
        assert!(matches!(
            classify(true, Some(0), Some(tip.clone()), ""),
            Ended::Moved(t) if t == tip
        ));
        assert!(matches!(classify(true, Some(3), None, ""), Ended::Quiet));
        for missing in [
            (1, "git: 'aisync' is not a git command. See 'git --help'."),
            (127, "sh: 1: git: not found"),
            (127, ""),
            (2, "error: unrecognized subcommand 'notify-wait'"),
        ] {
            assert!(
                matches!(
                    classify(true, Some(missing.0), None, missing.1),
                    Ended::Unavailable(_)
                ),
                "{missing:?}"
            );
        }
        // Before the hub's shell answered, nothing says the hub lacks git-aisync.
        assert!(matches!(
            classify(false, Some(127), None, "sh: 1: ssh: not found"),
            Ended::Down(why) if why.contains("ssh: not found")
        ));
        assert!(matches!(
            classify(true, Some(255), None, "Connection to host closed by remote host.\n"),
            Ended::Down(why) if why == "Connection to host closed by remote host."
        ));
    }

    #[test]
    fn the_remote_script_quotes_what_it_is_given_and_runs_notify_wait() {
        // The hub's shell, played here by sh, with a `git-aisync` that says what it was asked.
        let tmp = std::env::temp_dir().join(format!("aisync-watch-script-{}", std::process::id()));
        let repo = tmp.join("it's a hub");
        fs::create_dir_all(&repo).unwrap();
        let bin = tmp.join("bin");
        fs::create_dir_all(&bin).unwrap();
        let git = bin.join("git-aisync");
        fs::write(&git, "#!/bin/sh\npwd\nprintf '%s|' \"$@\"\necho\nexit 3\n").unwrap();
        let mut perms = fs::metadata(&git).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        fs::set_permissions(&git, perms).unwrap();
        let spec = SessionSpec {
            remote: "origin".into(),
            program: None,
            hub: SshHub {
                host: "h".into(),
                port: None,
                path: repo.to_string_lossy().into_owned(),
            },
            ssh: "ssh".into(),
            branch: "ma in".into(),
            poll: Duration::from_secs(2),
        };
        let script = remote_script(&spec, Some("$(boom)"));
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(&script)
            .env("PATH", path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let keep = child.stdin.take();
        let out = child.wait_with_output().unwrap();
        drop(keep);
        assert_eq!(out.status.code(), Some(3));
        let text = String::from_utf8_lossy(&out.stdout);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], READY, "{text}");
        assert_eq!(Path::new(lines[1]), repo, "{text}");
        assert_eq!(
            lines[2], "notify-wait|--branch|ma in|--since|$(boom)|--timeout|600|",
            "{text}"
        );
        fs::remove_dir_all(&tmp).unwrap();
    }
}
