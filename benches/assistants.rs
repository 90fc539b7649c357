//! The assistant bridge under `git aisync watch`, measured in one run against the watcher's
//! own figure:
//!
//!   1. the working-tree baseline: a write to `memory/bench.md` in A's synced repository,
//!      timed until B's repository has it (a local hub, both watching);
//!   2. live to live: Claude Code's `~/.claude/CLAUDE.md` written on A (whole, as the tool
//!      saves it), timed until B's own `~/.claude/CLAUDE.md` has it (import, commit, push,
//!      B's merge, apply). Target: the baseline's p50 plus at most 50 ms.
//!
//! And idle: a watcher for a connected, real-sized `~/.claude` (`TRANSCRIPTS` transcript
//! files in 40 project folders, not opted in) against one with nothing connected, over
//! `AISYNC_BENCH_IDLE_SECS` seconds (default 30), while a session appends to a transcript
//! every 100 ms: CPU, RSS and the cycles those appends started (target: none).
//!
//! cargo bench --bench assistants

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aisync_testkit::{git_ok as git, init_bare, GitAisync};

enum Bin {}

impl GitAisync for Bin {
    const EXE: &'static str = env!("CARGO_BIN_EXE_git-aisync");
}

type Watcher = aisync_testkit::watcher::Watcher<Bin>;

const WRITES: usize = 20;
const TRANSCRIPTS: usize = 4_000;

struct Machine {
    home: PathBuf,
    repo: PathBuf,
}

impl Machine {
    fn new(root: &Path, name: &str, hub: &Path) -> Machine {
        let home = root.join(name).join("home");
        std::fs::create_dir_all(home.join(".claude")).unwrap();
        std::fs::write(home.join(".gitconfig"), "").unwrap();
        let repo = root.join(name).join("repo");
        Bin::init(&repo, hub.to_str(), None);
        git(&repo, &["config", "aisync.machine", name]);
        Machine { home, repo }
    }

    fn vars(&self) -> Vec<(String, String)> {
        vec![
            ("HOME".into(), self.home.to_string_lossy().into_owned()),
            (
                "GIT_CONFIG_GLOBAL".into(),
                self.home.join(".gitconfig").to_string_lossy().into_owned(),
            ),
        ]
    }

    fn aisync(&self, args: &[&str]) {
        let out = Bin::cmd(&self.repo)
            .envs(self.vars())
            .args(args)
            .output()
            .expect("run git-aisync");
        assert!(
            matches!(out.status.code(), Some(0 | 4)),
            "git aisync {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn watch(&self) -> Watcher {
        let vars = self.vars();
        let refs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        Watcher::spawn(&self.repo, &[], &refs, Duration::from_secs(60))
    }
}

/// Writes a new line into `a`'s file `rel` (whole, through a temp file and a rename, as the
/// assistants save) `WRITES` times, timing each until `b`'s `rel` has it.
fn latencies(a: &Path, b: &Path, rel: &str) -> Vec<Duration> {
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
        let tmp = a.join(format!("{rel}.tmp.{}", std::process::id()));
        std::fs::write(&tmp, &text).unwrap();
        let start = Instant::now();
        std::fs::rename(&tmp, a.join(rel)).unwrap();
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
        std::thread::sleep(Duration::from_millis(300 + (i as u64 * 37) % 400));
    }
    times
}

fn percentiles(mut times: Vec<Duration>) -> (Duration, Duration) {
    times.sort();
    let n = times.len();
    (times[n / 2], times[(n * 95).div_ceil(100) - 1])
}

/// (user + system CPU ticks of the process and its reaped children, VmRSS kB).
fn usage(pid: u32) -> (u64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    let ticks = f.get(11..15).map(|s| s.iter().sum()).unwrap_or(0);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    (ticks, rss)
}

/// A `~/.claude` as months of use leave it: project folders full of transcripts, a few
/// memory files, caches.
fn real_sized_claude(home: &Path) {
    let claude = home.join(".claude");
    std::fs::write(claude.join("CLAUDE.md"), "# Rules\n").unwrap();
    std::fs::write(
        claude.join("settings.json"),
        "{\"permissions\":{\"allow\":[]}}\n",
    )
    .unwrap();
    for p in 0..40 {
        let dir = claude.join(format!("projects/-home-u-code-p{p}"));
        std::fs::create_dir_all(dir.join("memory")).unwrap();
        for t in 0..TRANSCRIPTS / 40 {
            let line = format!(
                "{{\"type\":\"user\",\"cwd\":\"/home/u/code/p{p}\",\"sessionId\":\"{t}\",\"message\":\"hello\"}}\n"
            );
            std::fs::write(dir.join(format!("{t:08x}-session.jsonl")), line.repeat(20)).unwrap();
        }
    }
    for d in [
        "todos",
        "file-history",
        "shell-snapshots",
        "statsig",
        "debug",
    ] {
        let dir = claude.join(d);
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..200 {
            std::fs::write(dir.join(format!("{i}.json")), "{}").unwrap();
        }
    }
}

fn idle(root: &Path, window: Duration, connect: bool) -> (f64, f64, u64) {
    let name = if connect {
        "idle-connected"
    } else {
        "idle-plain"
    };
    let hub = root.join(format!("{name}.git"));
    init_bare(&hub);
    let m = Machine::new(root, name, &hub);
    real_sized_claude(&m.home);
    if connect {
        m.aisync(&["connect", "claude-code"]);
    }
    let w = m.watch();
    std::thread::sleep(Duration::from_secs(2));
    let before = w.cycles();
    // SAFETY: sysconf reads a constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let (t0, _) = usage(w.pid());
    let transcript = m
        .home
        .join(".claude/projects/-home-u-code-p0/00000000-session.jsonl");
    let start = Instant::now();
    let mut n = 0;
    while start.elapsed() < window {
        let mut text = std::fs::read_to_string(&transcript).unwrap_or_default();
        text.push_str(&format!("{{\"type\":\"assistant\",\"n\":{n}}}\n"));
        std::fs::write(&transcript, text).unwrap();
        n += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    let (t1, rss) = usage(w.pid());
    let cycles = w.cycles() - before;
    w.stop();
    let cpu = (t1 - t0) as f64 / hz / window.as_secs_f64() * 100.0;
    (cpu, rss as f64 / 1024.0, cycles)
}

fn main() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let window = Duration::from_secs(
        std::env::var("AISYNC_BENCH_IDLE_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(30),
    );

    let hub = root.join("hub.git");
    init_bare(&hub);
    let (a, b) = (
        Machine::new(root, "laptop", &hub),
        Machine::new(root, "desk", &hub),
    );
    for m in [&a, &b] {
        std::fs::write(m.home.join(".claude/CLAUDE.md"), "# Rules\n").unwrap();
        std::fs::write(m.home.join(".claude/settings.json"), "{}\n").unwrap();
    }
    a.aisync(&["connect", "claude-code"]);
    b.aisync(&["connect", "claude-code"]);
    a.aisync(&["sync"]);
    let (wa, wb) = (a.watch(), b.watch());
    let baseline = latencies(&a.repo, &b.repo, "memory/bench.md");
    let live = latencies(&a.home, &b.home, ".claude/CLAUDE.md");
    wa.stop();
    wb.stop();
    let (b50, b95) = percentiles(baseline);
    let (l50, l95) = percentiles(live);
    println!("propagation, write on A -> on B ({WRITES} writes, both watching, local hub):");
    println!(
        "  {:<44} p50 {:.3} s  p95 {:.3} s",
        "repository file (the watcher's figure)",
        b50.as_secs_f64(),
        b95.as_secs_f64()
    );
    println!(
        "  {:<44} p50 {:.3} s  p95 {:.3} s  (p50 {:+.0} ms against the repository figure; target <= +50 ms)",
        "~/.claude/CLAUDE.md, live file to live file",
        l50.as_secs_f64(),
        l95.as_secs_f64(),
        (l50.as_secs_f64() - b50.as_secs_f64()) * 1000.0
    );

    let plain = idle(root, window, false);
    let connected = idle(root, window, true);
    println!(
        "idle watcher, ~/.claude with {TRANSCRIPTS} transcripts, a session appending every 100 ms, over {} s:",
        window.as_secs()
    );
    for (what, (cpu, rss, cycles)) in [
        ("nothing connected", plain),
        ("claude-code connected", connected),
    ] {
        println!(
            "  {what:<44} CPU {cpu:.3} %  RSS {rss:.1} MB  cycles started {cycles} (target: 0)"
        );
    }
}
