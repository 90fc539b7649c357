//! How fast a write on one machine reaches another through `git aisync watch`, against the
//! plain-git baseline, measured in one run; and what an idle watcher costs.
//!
//! Latency: write a unique line in A, time until B's working tree has it, `WRITES` times:
//!   0. the plain-git floor: in A `git commit` + `git push`, then in B `git pull`, one after
//!      the other (nothing waits on a timer): the baseline the watcher's figures are
//!      divided by, measured in this run (over SSH too, where sshd is there),
//!   1. a hub on a local path (B watches its ref files),
//!   2. the same kind of hub asked by polling (`watch --poll-remotes`, every `poll`),
//!   3. plain git: commit + push in A, `git pull` every `poll` in B,
//!   4. a hub over SSH (a real sshd on 127.0.0.1, started by the test kit's sshd) with
//!      git-aisync on the sessions' PATH: B keeps a `notify-wait` session open,
//!   5. the same hub where the sessions find no git-aisync: B falls back to `ls-remote`
//!      every `poll`.
//!
//! Without sshd (`/usr/sbin/sshd`) the SSH cases are skipped, and the output says so.
//!
//! Burst: 100 whole writes 3 ms apart to one file (a writer in a loop) through a local hub:
//! how many commits the watcher makes of them, and that B gets all 100.
//!
//! Idle: CPU (the watcher and the git children it reaped) and RSS of a watcher on a repository
//! of 10 000 files, over `AISYNC_BENCH_IDLE_SECS` seconds (default 60: at 100 clock ticks a
//! second, 0.1 % of 60 s is 6 ticks, so a shorter window cannot tell 0.05 % from 0.1 %).
//!
//! cargo bench --bench watch

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aisync_testkit::sshd::start_sshd;
use aisync_testkit::{clone, git_ok as git, init_bare, GitAisync};

/// The binary under test.
enum Bin {}

impl GitAisync for Bin {
    const EXE: &'static str = env!("CARGO_BIN_EXE_git-aisync");
}

type Watcher = aisync_testkit::watcher::Watcher<Bin>;

const WRITES: usize = 25;
/// The policy's default poll interval, which both the polled watcher and the baseline use.
const POLL: Duration = Duration::from_secs(2);
const FILES: usize = 10_000;
/// How long a watcher may take to start, or to stop on SIGTERM.
const PATIENCE: Duration = Duration::from_secs(60);

fn aisync(dir: &Path, args: &[&str]) {
    let out = Bin::run(dir, args);
    assert!(
        matches!(out.status.code(), Some(0 | 4)),
        "git aisync {args:?} failed in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn hub(root: &Path, name: &str) -> PathBuf {
    let hub = root.join(name);
    init_bare(&hub);
    hub
}

fn machine(root: &Path, hub: &Path, name: &str) -> PathBuf {
    let dir = root.join(name);
    Bin::init(&dir, hub.to_str(), None);
    dir
}

/// A watcher in `dir`, ready once its first cycle is done; `vars` in its environment.
fn watcher(dir: &Path, extra: &[&str], vars: &[(&str, &str)]) -> Watcher {
    Watcher::spawn(dir, extra, vars, PATIENCE)
}

/// A machine that joined a hub at `url` over ssh.
fn machine_ssh(root: &Path, url: &str, ssh: &str, name: &str) -> PathBuf {
    let dir = root.join(name);
    Bin::init(&dir, Some(url), Some(ssh));
    git(&dir, &["config", "aisync.machine", name]);
    dir
}

/// Where the hub has git-aisync.
#[derive(Clone, Copy, PartialEq)]
enum OnHub {
    /// On the ssh sessions' PATH.
    OnPath,
    /// Only in `~/.cargo/bin`, where `cargo install` puts it (not on a non-interactive
    /// session's PATH).
    CargoBin,
    /// Nowhere (the machines are told a program the hub does not have: the hub is this
    /// machine, where git-aisync is).
    Absent,
}

/// Latencies through a hub over ssh; where the hub has git-aisync, B waits until its
/// notify-wait session is open before the first write. With `floor`, the plain-git floor
/// through the same hub and sshd follows.
fn ssh_case(
    root: &Path,
    name: &str,
    on_hub: OnHub,
    with_floor: bool,
) -> Option<(Vec<Duration>, Option<Vec<Duration>>)> {
    let sshd = start_sshd::<Bin>(&root.join(format!("sshd-{name}")), on_hub == OnHub::OnPath)?;
    if on_hub == OnHub::CargoBin {
        let cargo_bin = sshd.dir.join("home/.cargo/bin");
        std::fs::create_dir_all(&cargo_bin).unwrap();
        aisync_testkit::copy_executable(Bin::exe(), &cargo_bin.join("git-aisync"));
    }
    let known = sshd.dir.join("known_hosts");
    sshd.trust(&known);
    let ssh = sshd.ssh_command(&known);
    let hub = hub(root, &format!("hub-{name}.git"));
    let url = sshd.url(&hub);
    let a = machine_ssh(root, &url, &ssh, &format!("a-{name}"));
    let b = machine_ssh(root, &url, &ssh, &format!("b-{name}"));
    if on_hub == OnHub::Absent {
        for dir in [&a, &b] {
            git(
                dir,
                &[
                    "config",
                    "remote.origin.aisyncProgram",
                    "/nowhere/git-aisync",
                ],
            );
        }
    }
    let wa = watcher(&a, &[], &[("GIT_SSH_COMMAND", &ssh)]);
    let wb = watcher(&b, &[], &[("GIT_SSH_COMMAND", &ssh)]);
    let want = if on_hub == OnHub::Absent {
        "unavailable"
    } else {
        "open"
    };
    wb.wait_for(&format!("b's notify-wait session {want}"), || {
        wb.session() == want
    });
    let times = latencies(&a, &b, "memory/bench.md", |_| {});
    wa.stop();
    wb.stop();
    let floor = with_floor.then(|| {
        let hub = self::hub(root, &format!("hub-floor-{name}.git"));
        floor(root, &format!("ssh-{name}"), &sshd.url(&hub), Some(&ssh))
    });
    Some((times, floor))
}

/// Writes a unique line in `a` (through `after_write`), and times until `b` has it.
fn latencies(a: &Path, b: &Path, rel: &str, mut after_write: impl FnMut(usize)) -> Vec<Duration> {
    let mut text = std::fs::read_to_string(a.join(rel)).unwrap_or_default();
    let mut times = Vec::new();
    for i in 0..WRITES {
        let line = format!(
            "- write {i} at {:?}\n",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
        );
        text.push_str(&line);
        let start = Instant::now();
        std::fs::write(a.join(rel), &text).unwrap();
        after_write(i);
        loop {
            if std::fs::read_to_string(b.join(rel)).is_ok_and(|t| t.contains(&line)) {
                times.push(start.elapsed());
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "write {i} did not reach {}",
                b.display()
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        // A pause spread over a whole poll interval: writes fall at every phase of the
        // receiver's poll timer, as real writes do (a fixed pause would keep them in step).
        std::thread::sleep(Duration::from_millis(100) + POLL.mul_f64(spread(i)));
    }
    times
}

/// The plain-git floor through the hub at `url` (`ssh`: the SSH command, for a hub over
/// SSH): A commits and pushes each write, then B pulls, one after the other.
fn floor(root: &Path, name: &str, url: &str, ssh: Option<&str>) -> Vec<Duration> {
    let (fa, fb) = (
        root.join(format!("fa-{name}")),
        root.join(format!("fb-{name}")),
    );
    let run = |dir: &Path, args: &[&str]| {
        let mut cmd = aisync_testkit::git_cmd(dir);
        if let Some(ssh) = ssh {
            cmd.env("GIT_SSH_COMMAND", ssh);
        }
        let out = cmd.args(args).output().unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(root, &["clone", "-q", url, fa.to_str().unwrap()]);
    std::fs::write(fa.join("notes.md"), "# Notes\n").unwrap();
    run(&fa, &["add", "-A"]);
    run(&fa, &["commit", "-q", "-m", "start"]);
    run(&fa, &["push", "-q", "origin", "HEAD:main"]);
    run(root, &["clone", "-q", url, fb.to_str().unwrap()]);
    latencies(&fa, &fb, "notes.md", |i| {
        run(&fa, &["commit", "-q", "-am", &format!("write {i}")]);
        run(&fa, &["push", "-q", "origin", "HEAD:main"]);
        run(&fb, &["pull", "-q", "--no-rebase", "--no-edit"]);
    })
}

/// A hundred whole writes 3 ms apart in A through a local hub: A's commits of them (all 100
/// must reach B).
fn burst(root: &Path) -> usize {
    let hub = hub(root, "hub-burst.git");
    let (a, b) = (
        machine(root, &hub, "a-burst"),
        machine(root, &hub, "b-burst"),
    );
    let (wa, wb) = (watcher(&a, &[], &[]), watcher(&b, &[], &[]));
    let before = git(&a, &["rev-parse", "HEAD"]).trim().to_string();
    let mut log = String::new();
    for i in 0..100 {
        log.push_str(&format!("{{\"id\":{i},\"msg\":\"write {i}\"}}\n"));
        std::fs::write(a.join("logs/burst.jsonl"), &log).unwrap();
        std::thread::sleep(Duration::from_millis(3));
    }
    wb.wait_for("all 100 writes on b", || {
        std::fs::read_to_string(b.join("logs/burst.jsonl")).is_ok_and(|t| t == log)
    });
    wa.stop();
    wb.stop();
    let commits = git(
        &a,
        &[
            "log",
            "--no-merges",
            "--format=%s",
            &format!("{before}..HEAD"),
        ],
    );
    commits.lines().filter(|s| s.starts_with("aisync(")).count()
}

/// A fixed pseudo-random sequence in [0, 1) (the same for every scenario and run).
fn spread(i: usize) -> f64 {
    let mut x = (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x ^= x >> 29;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 32;
    (x % 10_000) as f64 / 10_000.0
}

/// p50 and p95.
fn percentiles(mut times: Vec<Duration>) -> (Duration, Duration) {
    times.sort();
    let n = times.len();
    (times[n / 2], times[(n * 95).div_ceil(100) - 1])
}

/// One line: p50, p95, and each against `floor` (the plain-git floor's p50 of this run)
/// with its target, or an absolute target.
fn report(what: &str, times: Vec<Duration>, floor: Option<Duration>, target: Option<Duration>) {
    let n = times.len();
    let (p50, p95) = percentiles(times);
    let ratios = floor
        .map(|f| {
            format!(
                "  = {:.2}x / {:.2}x the floor",
                p50.as_secs_f64() / f.as_secs_f64(),
                p95.as_secs_f64() / f.as_secs_f64()
            )
        })
        .unwrap_or_default();
    let target = target
        .map(|t| format!(" (target p50 <= {:.2} s)", t.as_secs_f64()))
        .unwrap_or_default();
    println!(
        "{what:<54} p50 {:.3} s  p95 {:.3} s  ({n} writes){ratios}{target}",
        p50.as_secs_f64(),
        p95.as_secs_f64(),
    );
}

/// (user + system CPU ticks of the process and its reaped children, VmRSS kB, VmHWM kB).
fn usage(pid: u32) -> (u64, u64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // utime, stime, cutime, cstime are fields 14-17 of the whole line: 11-14 after ')'.
    let ticks = f.get(11..15).map(|s| s.iter().sum()).unwrap_or(0);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (ticks, kb("VmRSS:"), kb("VmHWM:"))
}

fn idle(root: &Path, window: Duration, extra: &[&str], what: &str) {
    let hub = hub(root, &format!("idle-hub-{}.git", extra.len()));
    let dir = machine(root, &hub, &format!("idle-{}", extra.len()));
    for i in 0..FILES {
        let sub = dir.join(format!("memory/topic-{:03}", i / 100));
        if i % 100 == 0 {
            std::fs::create_dir_all(&sub).unwrap();
        }
        std::fs::write(
            sub.join(format!("note-{i:05}.md")),
            format!("# Note {i}\n\n- fact {i}\n"),
        )
        .unwrap();
    }
    aisync(&dir, &["sync", "--quiet"]);
    let w = watcher(&dir, extra, &[]);
    std::thread::sleep(Duration::from_secs(2));
    // SAFETY: sysconf reads a constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let (t0, _, _) = usage(w.pid());
    std::thread::sleep(window);
    let (t1, rss, hwm) = usage(w.pid());
    w.stop();
    let cpu = (t1 - t0) as f64 / hz / window.as_secs_f64() * 100.0;
    println!(
        "idle, {FILES} files, {what:<28} CPU {cpu:.3} % over {} s ({} ticks)  RSS {:.1} MB (peak {:.1} MB)  (target < 0.1 %, < 20 MB)",
        window.as_secs(),
        t1 - t0,
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
}

fn main() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let idle_window = Duration::from_secs(
        std::env::var("AISYNC_BENCH_IDLE_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(60),
    );

    // 0. The plain-git floor through a local hub: commit + push, then pull.
    let hub0 = hub(root, "hub0.git");
    let floor_local = floor(root, "local", hub0.to_str().unwrap(), None);

    // 1. A local hub: B hears of A's push from the hub's ref files.
    let hub1 = hub(root, "hub1.git");
    let (a, b) = (machine(root, &hub1, "a1"), machine(root, &hub1, "b1"));
    let local = {
        let (wa, wb) = (watcher(&a, &[], &[]), watcher(&b, &[], &[]));
        let times = latencies(&a, &b, "memory/bench.md", |_| {});
        wa.stop();
        wb.stop();
        times
    };

    // 2. The same, asked by polling every POLL.
    let hub2 = hub(root, "hub2.git");
    let (a, b) = (machine(root, &hub2, "a2"), machine(root, &hub2, "b2"));
    let polled = {
        let poll = ["--poll-remotes"];
        let (wa, wb) = (watcher(&a, &poll, &[]), watcher(&b, &poll, &[]));
        let times = latencies(&a, &b, "memory/bench.md", |_| {});
        wa.stop();
        wb.stop();
        times
    };

    // 3. Plain git: commit + push in A; B pulls every POLL.
    let hub3 = hub(root, "hub3.git");
    let (pa, pb) = (root.join("pa"), root.join("pb"));
    clone(&hub3, &pa);
    std::fs::write(pa.join("notes.md"), "# Notes\n").unwrap();
    git(&pa, &["add", "-A"]);
    git(&pa, &["commit", "-q", "-m", "start"]);
    git(&pa, &["push", "-q", "origin", "HEAD:main"]);
    clone(&hub3, &pb);
    let stop = Arc::new(AtomicBool::new(false));
    let puller = {
        let (stop, pb) = (stop.clone(), pb.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                git(&pb, &["pull", "-q", "--no-rebase", "--no-edit"]);
                std::thread::sleep(POLL);
            }
        })
    };
    let baseline = latencies(&pa, &pb, "notes.md", |i| {
        git(&pa, &["commit", "-q", "-am", &format!("write {i}")]);
        git(&pa, &["push", "-q", "origin", "HEAD:main"]);
    });
    stop.store(true, Ordering::Relaxed);
    let _ = puller.join();

    // 4, 5 and 6. A hub over ssh: git-aisync on the sessions' PATH (and the plain-git floor
    // over the same sshd), only in ~/.cargo/bin (as `cargo install` leaves it), and not at
    // all.
    let notified = ssh_case(root, "notified", OnHub::OnPath, true);
    let cargo_bin = notified
        .as_ref()
        .and_then(|_| ssh_case(root, "cargo-bin", OnHub::CargoBin, false));
    let ssh_polled = notified
        .as_ref()
        .and_then(|_| ssh_case(root, "polled", OnHub::Absent, false));

    // 7. A burst.
    let burst_commits = burst(root);

    let floor = percentiles(floor_local.clone()).0;
    println!("propagation latency, write in A -> in B's working tree (the floor: plain git's commit + push, then pull, one after the other):");
    report("plain git floor, local hub", floor_local, None, None);
    report(
        "watch, local hub (ref files watched)",
        local,
        Some(floor),
        None,
    );
    println!(
        "{:<54} target p50 <= 3x, p95 <= 4x the floor ({:.3} s, {:.3} s here)",
        "",
        3.0 * floor.as_secs_f64(),
        4.0 * floor.as_secs_f64()
    );
    match (notified, cargo_bin) {
        (Some((notified, ssh_floor)), Some((cargo_bin, _))) => {
            if let Some(ssh_floor) = ssh_floor {
                report("plain git floor, ssh hub", ssh_floor, None, None);
            }
            report(
                "watch, ssh hub, git-aisync in ~/.cargo/bin (notify-wait)",
                cargo_bin,
                None,
                Some(Duration::from_millis(500)),
            );
            report(
                "watch, ssh hub, git-aisync on PATH (notify-wait)",
                notified,
                None,
                Some(Duration::from_millis(500)),
            );
        }
        _ => println!(
            "ssh hub cases skipped: no sshd at /usr/sbin/sshd (apt-get install openssh-server)"
        ),
    }
    report(
        &format!("plain git: commit+push / pull every {} s", POLL.as_secs()),
        baseline,
        None,
        None,
    );
    report(
        &format!("watch, hub polled every {} s", POLL.as_secs()),
        polled,
        None,
        Some(POLL + Duration::from_millis(500)),
    );
    if let Some((polled, _)) = ssh_polled {
        report(
            &format!(
                "watch, ssh hub, no git-aisync (polled {} s)",
                POLL.as_secs()
            ),
            polled,
            None,
            Some(POLL + Duration::from_millis(500)),
        );
    }
    println!(
        "burst: 100 whole writes 3 ms apart to one file: {burst_commits} commit(s), all 100 arrived"
    );

    idle(root, idle_window, &[], "local hub (refs watched)");
    idle(
        root,
        idle_window,
        &["--poll-remotes"],
        "hub polled (ls-remote/2 s)",
    );
}
