//! Many machines, one hub: N clones (64; `AISYNC_BENCH_MACHINES`) and R rounds (5;
//! `AISYNC_BENCH_ROUNDS`). In each round every machine edits at once (a note of its own, a
//! record in one shared JSONL log, a bullet in one shared Markdown file), then every machine
//! runs `git aisync sync` at the same moment, and again, until a pass moves nothing.
//!
//! Printed per round: the passes to quiescence, the cycles of the first pass that gave up
//! pushing (exit 3: another machine kept pushing first, for all its tries), the hub's
//! updates, and the median and max cycle time of the first pass. At the end: whether every
//! machine holds every edit (nothing lost). Figures, never asserted; the bench exits non-zero
//! only when an edit is lost or the machines do not converge.
//!
//! cargo bench --bench converge

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use aisync_testkit::{git_ok as git, init_bare, GitAisync};

/// The binary under test.
enum Bin {}

impl GitAisync for Bin {
    const EXE: &'static str = env!("CARGO_BIN_EXE_git-aisync");
}

/// Passes of `sync` on every machine after which a round counts as not converging.
const MAX_PASSES: usize = 12;

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn append(dir: &Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    let mut old = std::fs::read_to_string(&path).unwrap_or_default();
    old.push_str(text);
    std::fs::write(path, old).unwrap();
}

/// What one machine's cycle did in a pass.
struct Cycle {
    code: Option<i32>,
    took: Duration,
    moved: bool,
}

/// `git aisync sync --json` on every machine at once.
fn pass(machines: &[PathBuf]) -> Vec<Cycle> {
    let started: Vec<_> = machines
        .iter()
        .map(|dir| {
            let child = Bin::cmd(dir)
                .args(["sync", "--json"])
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("git-aisync starts");
            (Instant::now(), child)
        })
        .collect();
    started
        .into_iter()
        .map(|(start, child)| {
            let out = child.wait_with_output().expect("git-aisync ends");
            let took = start.elapsed();
            let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
            let listed = |k: &str| report[k].as_array().is_some_and(|a| !a.is_empty());
            Cycle {
                code: out.status.code(),
                took,
                moved: listed("pushed") || listed("merged") || !report["committed"].is_null(),
            }
        })
        .collect()
}

fn hub_updates(hub: &Path) -> usize {
    git(hub, &["reflog", "show", "--format=%H", "main"])
        .lines()
        .count()
}

fn main() {
    let n = setting("AISYNC_BENCH_MACHINES", 64);
    let rounds = setting("AISYNC_BENCH_ROUNDS", 5);
    let tmp = tempfile::tempdir().unwrap();
    let hub = tmp.path().join("hub.git");
    init_bare(&hub);
    git(&hub, &["config", "core.logAllRefUpdates", "always"]);
    let setup = Instant::now();
    let machines: Vec<PathBuf> = (0..n)
        .map(|i| {
            let dir = tmp.path().join(format!("m{i:02}"));
            Bin::init(&dir, hub.to_str(), None);
            git(&dir, &["config", "aisync.machine", &format!("m{i:02}")]);
            dir
        })
        .collect();
    // Everyone starts from the same history.
    pass(&machines);
    println!(
        "{n} machines, {rounds} rounds (set up in {:.1} s); every machine edits, then all sync at once:",
        setup.elapsed().as_secs_f64()
    );
    let mut failed = false;
    for round in 0..rounds {
        for (i, dir) in machines.iter().enumerate() {
            append(
                dir,
                &format!("memory/own-m{i:02}.md"),
                &format!("- round {round}\n"),
            );
            append(
                dir,
                "logs/shared.jsonl",
                &format!("{{\"id\":\"m{i:02}-r{round}\",\"round\":{round}}}\n"),
            );
            append(
                dir,
                "memory/shared.md",
                &format!("- m{i:02} in round {round}\n"),
            );
        }
        let before = hub_updates(&hub);
        let first = pass(&machines);
        let mut times: Vec<Duration> = first.iter().map(|c| c.took).collect();
        times.sort_unstable();
        let gave_up = first.iter().filter(|c| c.code == Some(3)).count();
        let errors = first
            .iter()
            .filter(|c| !matches!(c.code, Some(0 | 3)))
            .count();
        let mut passes = 1;
        let mut last = first;
        let mut converged = true;
        while last.iter().any(|c| c.moved || c.code != Some(0)) {
            if passes == MAX_PASSES {
                converged = false;
                failed = true;
                break;
            }
            last = pass(&machines);
            passes += 1;
        }
        let quiet = if converged {
            format!(
                "converged after {} passes that moved something (the next moved nothing)",
                passes - 1
            )
        } else {
            format!("NOT converged after {MAX_PASSES} passes")
        };
        println!(
            "round {round}: {quiet}; first pass: {gave_up} cycles gave up pushing (exit 3), {errors} errors, cycle median {:.2} s, max {:.2} s; hub updated {} times",
            times[times.len() / 2].as_secs_f64(),
            times[times.len() - 1].as_secs_f64(),
            hub_updates(&hub) - before,
        );
    }
    // Nothing lost: every machine holds every machine's every edit.
    for dir in &machines {
        let log = std::fs::read_to_string(dir.join("logs/shared.jsonl")).unwrap_or_default();
        let notes = std::fs::read_to_string(dir.join("memory/shared.md")).unwrap_or_default();
        for i in 0..n {
            for round in 0..rounds {
                let record = format!("\"id\":\"m{i:02}-r{round}\"");
                let bullet = format!("- m{i:02} in round {round}\n");
                if log.matches(&record).count() != 1 || !notes.contains(&bullet) {
                    eprintln!(
                        "{}: m{i:02}'s round {round} edit is missing or doubled",
                        dir.display()
                    );
                    failed = true;
                }
            }
        }
    }
    println!(
        "nothing lost: {}",
        if failed {
            "NO (see above)"
        } else {
            "every edit on every machine, once"
        }
    );
    if failed {
        std::process::exit(1);
    }
}
