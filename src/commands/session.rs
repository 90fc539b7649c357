//! `git aisync hook session-start` and `hook session-end`: what the assistants' own hooks
//! run (DESIGN §9), from the session's folder (a project), not the synced repository.
//!
//! Both fail open: they always exit 0, and a problem goes to the watcher's log and to
//! `status`, never in the way of the session. session-start pulls (fetch, merge, apply)
//! within a few seconds and says one short line on stdout only when something arrived
//! (some assistants show it to the model); session-end only hands the work to a cycle in
//! the background and returns at once (those hooks are killed within about 1.5 s).

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use super::CommandContext;
use git_aisync::git::Repo;

/// How long session-start waits for its pull before the session goes on without it.
const START_BUDGET: Duration = Duration::from_secs(8);

pub fn start(ctx: &CommandContext) -> ExitCode {
    let Ok(repo) = ctx.synced_repo() else {
        return ExitCode::SUCCESS;
    };
    let (work_tree, git_dir) = (repo.work_tree.clone(), repo.state_dir());
    let before = repo.read_ref("HEAD");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let Ok(repo) = Repo::find(&work_tree) else {
            return;
        };
        let _ = tx.send(git_aisync::sync::pull(&repo));
    });
    let report = match rx.recv_timeout(START_BUDGET) {
        Ok(r) => r,
        Err(_) => {
            log(&git_dir, &format!(
                "session-start: the pull took over {}s; the session started without it (the watcher or the next sync brings it)",
                START_BUDGET.as_secs()
            ));
            return ExitCode::SUCCESS;
        }
    };
    if !matches!(
        report.outcome,
        git_aisync::state::Outcome::Synced | git_aisync::state::Outcome::HeldBack
    ) {
        log(
            &git_dir,
            &format!(
                "session-start: {}: {}",
                report.outcome.word(),
                report.message
            ),
        );
    }
    let line = arrived(repo, before.as_deref(), &report);
    if let Some(line) = line {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
    }
    ExitCode::SUCCESS
}

/// One line on what other machines' commits brought (`git-aisync: 2 files from desk
/// merged: settings.json, MEMORY.md`), and a command an assistant will run among them.
fn arrived(
    repo: &Repo,
    before: Option<&str>,
    report: &git_aisync::state::Report,
) -> Option<String> {
    let after = repo.read_ref("HEAD")?;
    let before = before?;
    if before == after {
        return None;
    }
    let me = git_aisync::machine::name(repo);
    let range = format!("{before}..{after}");
    let log = repo
        .git(["log", "--no-merges", "--format=%s", &range])
        .output()
        .ok()?;
    let mut machines: Vec<String> = log
        .stdout
        .lines()
        .filter_map(|s| {
            s.strip_prefix("aisync(")?
                .split_once(')')
                .map(|(m, _)| m.to_string())
        })
        .filter(|m| *m != me)
        .collect();
    machines.sort();
    machines.dedup();
    let files = repo
        .git(["diff", "--name-only", before, &after])
        .output()
        .ok()?;
    let names: Vec<&str> = files
        .stdout
        .lines()
        .filter(|f| *f != git_aisync::journal::SYNCED)
        .map(|f| f.rsplit('/').next().unwrap_or(f))
        .collect();
    if names.is_empty() {
        return None;
    }
    let from = if machines.is_empty() {
        String::new()
    } else {
        format!(" from {}", machines.join(", "))
    };
    let shown: Vec<&str> = names.iter().take(3).copied().collect();
    let more = if names.len() > 3 {
        format!(" and {} more", names.len() - 3)
    } else {
        String::new()
    };
    let mut line = format!(
        "git-aisync: {} file{}{from} merged: {}{more}",
        names.len(),
        if names.len() == 1 { "" } else { "s" },
        shown.join(", ")
    );
    if let Some(e) = report.bridge.executables.first() {
        line.push_str(&format!(
            " (note: {} now runs a command from {}: {})",
            e.assistant, e.machine, e.what
        ));
    }
    Some(line)
}

pub fn end(ctx: &CommandContext) -> ExitCode {
    // Not from inside a cycle (a hook git runs for the cycle's own commit).
    if std::env::var_os(git_aisync::git::IN_CYCLE).is_some() {
        return ExitCode::SUCCESS;
    }
    if let Ok(repo) = ctx.synced_repo() {
        super::background::sync(repo, &[]);
    }
    ExitCode::SUCCESS
}

/// A line in the watcher's log (`status` and a person read it there).
fn log(state_dir: &std::path::Path, line: &str) {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(state_dir.join("watch.log"));
    if let Ok(mut f) = file {
        let _ = writeln!(f, "{} {line}", git_aisync::journal::now());
    }
}
