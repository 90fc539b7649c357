//! What a sync cycle costs against the git commands it stands for, as ratios measured in one
//! run: a no-op cycle vs `git status --porcelain` + `git ls-remote`, and a one-file cycle vs
//! `git add` + `commit` + `pull` + `push`.
//!
//! cargo bench --bench sync

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aisync_testkit::{clone, git_ok as git, init_bare, GitAisync};

/// The binary under test.
enum Bin {}

impl GitAisync for Bin {
    const EXE: &'static str = env!("CARGO_BIN_EXE_git-aisync");
}

const ROUNDS: usize = 40;
/// One-file rounds come in this many alternating blocks.
const BLOCKS: usize = 4;

fn aisync(dir: &Path, args: &[&str]) -> i32 {
    Bin::run(dir, args).status.code().unwrap_or(-1)
}

/// A hub and one machine made by `git aisync init`, plus a plain clone for the git baseline.
fn setup(root: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let hub = root.join("hub.git");
    init_bare(&hub);
    let machine = root.join("machine");
    Bin::init(&machine, hub.to_str(), None);
    let plain = root.join("plain");
    clone(&hub, &plain);
    (hub, machine, plain)
}

fn time(mut f: impl FnMut(usize)) -> Duration {
    let start = Instant::now();
    for i in 0..ROUNDS {
        f(i);
    }
    start.elapsed() / ROUNDS as u32
}

fn time_once(f: impl FnOnce()) -> Duration {
    let start = Instant::now();
    f();
    start.elapsed()
}

fn median(mut rounds: Vec<Duration>) -> Duration {
    rounds.sort_unstable();
    rounds[rounds.len() / 2]
}

fn main() {
    let tmp = tempfile::tempdir().unwrap();
    let (hub, machine, plain) = setup(tmp.path());
    let hub = hub.to_str().unwrap().to_string();

    let noop_git = time(|_| {
        git(&plain, &["status", "--porcelain"]);
        git(&plain, &["ls-remote", &hub, "refs/heads/main"]);
    });
    let noop_ours = time(|_| assert_eq!(aisync(&machine, &["sync"]), 0));

    // Alternating blocks, each round timed: a busy moment hits both sides alike. The
    // median keeps the first round of a block (which merges what the other side pushed
    // meanwhile) from weighing in.
    let (mut git_rounds, mut our_rounds) = (Vec::new(), Vec::new());
    for block in 0..BLOCKS {
        for r in 0..ROUNDS / BLOCKS {
            let i = block * ROUNDS + r;
            git_rounds.push(time_once(|| {
                std::fs::write(plain.join(format!("note-{i}.md")), format!("- {i}\n")).unwrap();
                git(&plain, &["add", "-A"]);
                git(&plain, &["commit", "-q", "-m", "note"]);
                git(&plain, &["pull", "-q", "--no-rebase", "--no-edit"]);
                git(&plain, &["push", "-q", "origin", "HEAD:main"]);
            }));
        }
        for r in 0..ROUNDS / BLOCKS {
            let i = block * ROUNDS + r;
            our_rounds.push(time_once(|| {
                std::fs::write(
                    machine.join(format!("memory/note-{i}.md")),
                    format!("- {i}\n"),
                )
                .unwrap();
                assert_eq!(aisync(&machine, &["sync"]), 0);
            }));
        }
    }
    let (one_git, one_ours) = (median(git_rounds), median(our_rounds));

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "no-op:    sync {:.1} ms, git status + ls-remote {:.1} ms, ratio {:.2} (target <= 1.5)",
        ms(noop_ours),
        ms(noop_git),
        noop_ours.as_secs_f64() / noop_git.as_secs_f64()
    );
    println!(
        "one file: sync {:.1} ms, git add/commit/pull/push {:.1} ms (medians), ratio {:.2} (target <= 1.2)",
        ms(one_ours),
        ms(one_git),
        one_ours.as_secs_f64() / one_git.as_secs_f64()
    );
}
