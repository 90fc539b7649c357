//! `git aisync hook NAME [ARGS…]`: what the installed hook files run.
//!
//! pre-commit refuses `never` paths (even forced in with `git add -f`) and warns about memory
//! files that are not valid JSON/JSONL/YAML; post-commit hands the push to a background sync
//! (autopush), so `git commit` returns at once; post-merge folds the merge drivers' records
//! into the synced journal and, with autopush, has the merge pushed. None of them starts a
//! sync from inside a sync.

use std::process::ExitCode;

use anyhow::{bail, Context, Result};

use super::CommandContext;
use crate::ui::Ui;
use git_aisync::gate;
use git_aisync::git::Repo;
use git_aisync::journal;
use git_aisync::policy::{Mode, Policy};

#[derive(clap::Args)]
pub struct Args {
    /// The hook: pre-commit or post-merge.
    name: String,
    /// What git passed the hook.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

pub fn run(ctx: &CommandContext, args: Args) -> Result<ExitCode> {
    // The assistants' hooks: run in a project's folder, and never fail the session.
    match args.name.as_str() {
        "session-start" => return Ok(super::session::start(ctx)),
        "session-end" => return Ok(super::session::end(ctx)),
        _ => {}
    }
    let ui = &ctx.ui;
    let repo = ctx.repo()?;
    // Hooks in a folder other repositories share (core.hooksPath) run there too: where
    // git-aisync is not installed they do nothing.
    if !git_aisync::install::is_installed(repo) {
        return Ok(ExitCode::SUCCESS);
    }
    match args.name.as_str() {
        "pre-commit" => pre_commit(ui, repo),
        "pre-push" => pre_push(ui, repo, &args.args),
        "post-commit" => {
            background_sync(repo);
            Ok(ExitCode::SUCCESS)
        }
        "post-merge" => {
            // On a branch that does not sync, the records wait (pending, per machine) for the
            // synced branch, where the next cycle folds them: a journal written here would
            // be an untracked file on a branch no cycle commits.
            if !on_synced_branch(repo) {
                return Ok(ExitCode::SUCCESS);
            }
            let code = post_merge(ui, repo)?;
            background_sync(repo);
            Ok(code)
        }
        other => bail!("unknown hook `{other}` (git-aisync handles pre-commit, post-commit, post-merge, pre-push, session-start and session-end); run `git aisync install` again"),
    }
}

fn pre_commit(ui: &Ui, repo: &Repo) -> Result<ExitCode> {
    // A broken policy must not stop the commit that fixes it; the secret paths stay closed.
    let policy = match Policy::load(&repo.work_tree) {
        Ok(p) => p,
        Err(e) => {
            ui.status(&format!("{e:#}"));
            Policy::parse(git_aisync::policy::DEFAULT).expect("the default policy parses")
        }
    };
    let staged = repo.staged()?;
    // The policy reads names as text; a name that is not UTF-8 is matched with its odd
    // bytes replaced (the folders around them, which the patterns name, are intact).
    let refused: Vec<&[u8]> = staged
        .iter()
        .map(|s| s.path.as_bytes())
        .filter(|p| {
            let name = git_aisync::git::readable(p);
            policy.mode(&name) == Mode::Never || name.starts_with(".credentials/")
        })
        .collect();
    if !refused.is_empty() {
        for p in &refused {
            let unstage = match std::str::from_utf8(p) {
                Ok(name) if !name.chars().any(char::is_control) => {
                    format!("git rm --cached -- {}", git_aisync::shell::word(name))
                }
                // A line break would split the command over lines, and a byte that is not
                // UTF-8 cannot be typed: let git find it.
                _ => "git restore --staged (the name holds a control character or a byte that is not UTF-8)".to_string(),
            };
            ui.error(&format!(
                "{} is never committed (policy: never); unstage it with: {unstage}",
                gate::shown(p)
            ));
        }
        return Ok(ExitCode::from(1));
    }
    // One read of the staged contents serves the secret scan and the syntax check.
    let ids: Vec<&str> = staged.iter().map(|s| s.oid.as_str()).collect();
    let blobs = repo.blobs(&ids)?;
    let secrets = gate::contents(&repo.work_tree, &staged, &blobs);
    if !secrets.is_empty() {
        for f in &secrets {
            ui.error(&format!("secret in the commit: {}", f.line()));
        }
        ui.error("nothing was committed: remove the secret (keep it under .credentials/), or if it is a false positive add its fingerprint to .aisync-allow or mark the line aisync:allow");
        return Ok(ExitCode::from(1));
    }
    for (s, bytes) in staged.iter().zip(&blobs) {
        let path = s.path.as_bytes();
        let kind = match path.rsplit(|&b| b == b'.').next() {
            // (A settings.json may hold comments: JSONC and JSON5 are not warned about.)
            Some(b"json" | b"jsonc" | b"json5") => "json",
            Some(b"jsonl") => "jsonl",
            Some(b"yml" | b"yaml") => "yaml",
            Some(b"toml") => "toml",
            _ => continue,
        };
        if let Some(problem) = syntax_problem(kind, bytes) {
            ui.status(&format!(
                "warning: {}: {problem}; it will merge line by line until fixed",
                gate::shown(path)
            ));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What is wrong with a memory file's syntax, if anything.
fn syntax_problem(kind: &str, bytes: &[u8]) -> Option<String> {
    let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match kind {
        "json" => merge_drivers::syntax_problem(merge_drivers::Kind::Json, text),
        "toml" => merge_drivers::syntax_problem(merge_drivers::Kind::Toml, text),
        "jsonl" => text
            .split(|&b| b == b'\n')
            .enumerate()
            .find(|(_, l)| {
                !l.iter().all(u8::is_ascii_whitespace)
                    && serde_json::from_slice::<serde_json::Value>(l).is_err()
            })
            .map(|(n, _)| format!("line {} is not valid JSON", n + 1)),
        _ => {
            let Ok(text) = std::str::from_utf8(text) else {
                return Some("not UTF-8 text".into());
            };
            let loaded: Result<Vec<saphyr::Yaml>, saphyr::ScanError> =
                saphyr::LoadableYamlNode::load_from_str(text);
            loaded.err().map(|e| {
                format!(
                    "not valid YAML (line {}, column {}: {})",
                    e.marker().line(),
                    e.marker().col() + 1,
                    e.info()
                )
            })
        }
    }
}

/// Scans the commits being pushed (a `--no-verify` commit is still caught here) and refuses
/// an unencrypted transport. git passes the remote's name and URL, and the refs on stdin.
fn pre_push(ui: &Ui, repo: &Repo, args: &[String]) -> Result<ExitCode> {
    if std::env::var_os(git_aisync::git::IN_CYCLE).is_some() {
        return Ok(ExitCode::SUCCESS); // the cycle scanned its push itself
    }
    let remote = args.first().map(String::as_str).unwrap_or_default();
    let url = args.get(1).map(String::as_str).unwrap_or_default();
    if let Some(url) = gate::insecure_in_push(repo, remote, url) {
        ui.error(&format!(
            "{url} is not encrypted: push over https:// or ssh:// (or git config aisync.allowInsecureTransport true)"
        ));
        return Ok(ExitCode::from(1));
    }
    let mut input = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin(), &mut input)
        .context("cannot read the refs to push")?;
    let zero = |s: &str| s.bytes().all(|b| b == b'0');
    let mut found = Vec::new();
    for line in input.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        let [_, local, _, remote] = parts[..] else {
            continue;
        };
        if zero(local) {
            continue; // a deletion pushes no content
        }
        // A remote tip this clone has not fetched (someone pushed first, or a --force
        // push) cannot bound the range: what no remote-tracking ref has is what is new.
        let range = if zero(remote) || repo.rev(remote)?.is_none() {
            vec![local.to_string(), "--not".into(), "--remotes".into()]
        } else {
            vec![format!("{remote}..{local}")]
        };
        let range: Vec<&str> = range.iter().map(String::as_str).collect();
        found.extend(gate::commits(repo, &range)?);
    }
    if found.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    for f in &found {
        ui.error(&format!("secret in a commit to push: {}", f.line()));
    }
    ui.error("nothing was pushed: `git aisync quarantine` drops the secret from the unpublished commits and keeps the file here");
    Ok(ExitCode::from(1))
}

fn post_merge(ui: &Ui, repo: &Repo) -> Result<ExitCode> {
    let n = journal::fold(&repo.state_dir(), &repo.work_tree)
        .context("cannot fold the merge's records into the journal")?;
    if n > 0 {
        ui.status(&format!(
            "{n} overridden value(s) recorded in {} (git aisync conflicts)",
            journal::SYNCED
        ));
    }
    Ok(ExitCode::SUCCESS)
}

/// Whether HEAD is the branch the cycle syncs (`aisync.branch`; any branch before install
/// set one).
fn on_synced_branch(repo: &Repo) -> bool {
    match repo.setting("aisync.branch") {
        Some(synced) => repo.head_branch().as_deref() == Some(synced),
        None => true,
    }
}

/// `AISYNC_AUTOPUSH=0` turns autopush off for one shell.
fn autopush_env_off() -> bool {
    std::env::var("AISYNC_AUTOPUSH")
        .is_ok_and(|v| matches!(v.as_str(), "0" | "false" | "no" | "off"))
}

/// Starts `git aisync sync` detached from this hook (and from git's terminal), so the
/// person's git command returns at once. Nothing when autopush is off (`aisync.autopush`,
/// read in-process, or `AISYNC_AUTOPUSH=0`); a cycle's own commits and merges start none.
fn background_sync(repo: &Repo) {
    if std::env::var_os(git_aisync::git::IN_CYCLE).is_some()
        || autopush_env_off()
        || repo.flag("aisync.autopush") == Some(false)
    {
        return;
    }
    super::background::sync(repo, &["--if-autopush"]);
}
