//! What the hooks cost a person's `git commit`: 100 commits in a repository without
//! git-aisync, 100 with its hooks (autopush off) and 100 with autopush on, three rounds
//! alternating, in one run; prints the quartiles and the medians' ratios to the plain commit.
//!
//! cargo bench --bench hooks

use std::path::Path;
use std::time::{Duration, Instant};

use aisync_testkit::{git_cmd, git_ok as git, init_bare, init_repo, GitAisync};
use tempfile::TempDir;

/// The binary under test.
enum Bin {}

impl GitAisync for Bin {
    const EXE: &'static str = env!("CARGO_BIN_EXE_git-aisync");
}

const COMMITS: usize = 100;
const PAUSE: Duration = Duration::from_millis(50);

/// A repository: plain, with git-aisync's hooks (autopush off), or with autopush on and a
/// hub to push to (each commit then starts a background sync).
#[derive(Clone, Copy, PartialEq)]
enum Setup {
    Plain,
    Hooks,
    Autopush,
}

fn repo(setup: Setup) -> TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let dir = &tmp.path().join("work");
    std::fs::create_dir_all(dir.join("memory")).unwrap();
    init_repo(dir);
    if setup != Setup::Plain {
        let ok = Bin::run(dir, &["install"]).status.success();
        assert!(ok, "install failed");
    }
    match setup {
        Setup::Plain => {}
        Setup::Hooks => {
            git(dir, &["config", "aisync.autopush", "false"]);
        }
        Setup::Autopush => {
            let hub = tmp.path().join("hub.git");
            init_bare(&hub);
            git(dir, &["remote", "add", "origin", hub.to_str().unwrap()]);
            git(dir, &["push", "-q", "-u", "origin", "main"]);
        }
    }
    tmp
}

/// Time of `COMMITS` commits in the repository [`repo`] made for `setup` in `tmp`, each a
/// memory note added and committed. (The `git commit` alone is timed: the hooks run there, not in `git add`.) With
/// autopush on, each commit comes alone: the background sync it starts is let finish before
/// the next note is added (a script that adds and commits in a tight loop would meet the
/// index lock of the sync still running).
fn commits(tmp: &TempDir, setup: Setup) -> Vec<Duration> {
    let dir = tmp.path().join("work");
    // The kit's environment turns autopush off; the autopush repository turns it on.
    let autopush = if setup == Setup::Autopush { "1" } else { "0" };
    let mut took = Vec::with_capacity(COMMITS);
    for i in 0..COMMITS {
        std::fs::write(
            dir.join(format!("memory/note-{i}.md")),
            format!("- note {i}\n"),
        )
        .unwrap();
        git(&dir, &["add", "memory"]);
        // The same pause before every timed commit in all three setups (a person commits now
        // and then): on a machine busy with other work a process that slept is scheduled
        // sooner, and the autopush setup sleeps while its push completes.
        std::thread::sleep(PAUSE);
        let start = Instant::now();
        let ok = git_cmd(&dir)
            .env("AISYNC_AUTOPUSH", autopush)
            .args(["commit", "-q", "-m", &format!("note {i}")])
            .status()
            .is_ok_and(|s| s.success());
        took.push(start.elapsed());
        assert!(ok, "git commit failed");
        if setup == Setup::Autopush {
            pushed(tmp.path());
        }
    }
    took
}

/// Waits (a minute at most) until the background syncs have pushed everything.
fn pushed(tmp: &Path) {
    let rev = |dir: &Path, r: &str| {
        git_cmd(dir)
            .args(["rev-parse", r])
            .output()
            .map(|o| o.stdout)
            .unwrap_or_default()
    };
    let start = Instant::now();
    while rev(&tmp.join("work"), "HEAD") != rev(&tmp.join("hub.git"), "main")
        && start.elapsed() < Duration::from_secs(60)
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    // The last cycle lets go of its lock just after its push.
    std::thread::sleep(Duration::from_millis(200));
}

/// The quartiles, in milliseconds.
fn quartiles(mut times: Vec<Duration>) -> [f64; 3] {
    times.sort();
    let at = |q: usize| times[times.len() * q / 4].as_secs_f64() * 1000.0;
    [at(1), at(2), at(3)]
}

fn main() {
    // Alternate, to spread a busy machine's noise over all three.
    let (mut plain, mut hooked, mut autopush) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..3 {
        plain.extend(commits(&repo(Setup::Plain), Setup::Plain));
        hooked.extend(commits(&repo(Setup::Hooks), Setup::Hooks));
        autopush.extend(commits(&repo(Setup::Autopush), Setup::Autopush));
    }
    let (plain, hooked, autopush) = (quartiles(plain), quartiles(hooked), quartiles(autopush));
    let line = |what: &str, q: [f64; 3], note: &str| {
        println!(
            "{what:<27} median {:.2} ms (quartiles {:.2}-{:.2}){note}",
            q[1], q[0], q[2]
        )
    };
    println!("{} commits each:", 3 * COMMITS);
    line("commit without git-aisync:", plain, "");
    line(
        "commit with its hooks:",
        hooked,
        " (autopush off; pre-commit: policy, never-paths, secrets, syntax)",
    );
    line(
        "commit with autopush on:",
        autopush,
        " (post-commit hands the push to a background sync)",
    );
    println!(
        "medians: hooks/plain = {:.2}, autopush/plain = {:.2} (target <= 1.5)",
        hooked[1] / plain[1],
        autopush[1] / plain[1]
    );
}
