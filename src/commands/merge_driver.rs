//! `git aisync merge-driver KIND %O %A %B %L %P`: the merge driver git calls.
//!
//! Reads the three versions, merges them with the format-aware driver for KIND, writes the
//! result over OURS and journals every overridden value. Exit 0 clean, 1 conflict markers left.
//! It never runs git and never touches the index.

use std::ffi::OsString;
use std::fs;
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use merge_drivers::{Kind, Merged, Options, Policy};

use super::CommandContext;
use crate::ui::Ui;
use git_aisync::journal;

#[derive(clap::Args)]
pub struct Args {
    /// The format: json (JSONC and JSON5 too), jsonl, yaml, markdown, toml or text.
    #[arg(value_parser = parse_kind)]
    kind: Kind,
    /// The common ancestor (git's %O). Empty when both sides added the file.
    base: PathBuf,
    /// Our version (git's %A); the result is written here.
    ours: PathBuf,
    /// Their version (git's %B).
    theirs: PathBuf,
    /// Length of conflict markers (git's %L).
    #[arg(default_value_t = 7)]
    marker_size: usize,
    /// The path being merged, as recorded in the journal (git's %P).
    path: Option<OsString>,
    /// Do not journal overridden values (git's inner merge of a criss-cross merge's bases).
    #[arg(long)]
    no_journal: bool,
    /// What to do with two different new values for one field: journal, keep-both, ours,
    /// theirs or markers (default: what .aisync.yml says for PATH, else journal).
    #[arg(long, value_parser = parse_policy)]
    policy: Option<Policy>,
    /// An identity key for records in arrays and JSONL, tried before id, uuid, key, name.
    #[arg(long = "identity-key", value_name = "KEY")]
    identity_keys: Vec<String>,
}

fn parse_kind(s: &str) -> Result<Kind, String> {
    s.parse()
}

fn parse_policy(s: &str) -> Result<Policy, String> {
    s.parse()
}

pub fn run(ctx: &CommandContext, args: Args) -> Result<ExitCode> {
    let ui = &ctx.ui;
    let read = |p: &PathBuf| {
        fs::read(p)
            .with_context(|| format!("cannot read {}; the merge is left to git", p.display()))
    };
    let (base, ours, theirs) = (read(&args.base)?, read(&args.ours)?, read(&args.theirs)?);
    let path = args
        .path
        .as_ref()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    // The shared policy, read from the working tree git runs us in. A broken one must not
    // stop a merge in flight: say so, and merge with the defaults.
    let shared = std::env::current_dir()
        .ok()
        .and_then(|d| git_aisync::git::Location::find(&d))
        .and_then(|r| r.work_tree)
        .map(|top| git_aisync::policy::Policy::load(&top));
    let shared = match shared {
        Some(Ok(p)) => Some(p),
        Some(Err(e)) => {
            ui.status(&format!("{e:#} (merging {path} with the default rules)"));
            None
        }
        None => None,
    };
    let mut identity_keys = args.identity_keys.clone();
    if let Some(p) = &shared {
        identity_keys.extend(p.identity_keys.iter().cloned());
    }
    let policy = args
        .policy
        .or_else(|| shared.as_ref().and_then(|p| p.conflict_policy(&path)))
        .unwrap_or_default();
    let options = Options {
        policy,
        identity_keys,
        marker_size: args.marker_size,
        path: path.clone(),
    };
    let merged = merge_safely(args.kind, &base, &ours, &theirs, &options)
        .context("the merge failed; the file is left as ours for git to report")?;
    fs::write(&args.ours, &merged.output)
        .with_context(|| format!("cannot write the merged {path} to {}", args.ours.display()))?;

    if !merged.records.is_empty() && !args.no_journal {
        journal_records(ui, &merged, args.kind, &path);
    }
    Ok(ExitCode::from(u8::from(merged.conflicted)))
}

/// The format-aware merge; should it ever panic, the line merge; should that panic too, an
/// error (git then reports a conflict and keeps every version).
fn merge_safely(
    kind: Kind,
    base: &[u8],
    ours: &[u8],
    theirs: &[u8],
    options: &Options,
) -> Option<Merged> {
    let quiet = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let result = panic::catch_unwind(AssertUnwindSafe(|| {
        merge_drivers::merge(kind, base, ours, theirs, options)
    }))
    .or_else(|_| {
        panic::catch_unwind(AssertUnwindSafe(|| {
            merge_drivers::merge(Kind::Text, base, ours, theirs, options)
        }))
    })
    .ok();
    panic::set_hook(quiet);
    result
}

fn journal_records(ui: &Ui, merged: &Merged, kind: Kind, path: &str) {
    let time = journal::now();
    let entries: Vec<_> = merged
        .records
        .iter()
        .map(|r| journal::entry(r, kind.name(), &time))
        .collect();
    let n = entries.len();
    let repo = std::env::current_dir()
        .ok()
        .and_then(|d| git_aisync::git::Location::find(&d));
    let written = repo.as_ref().map(|repo| {
        let file = journal::pending_path(&repo.state_dir());
        journal::append(&file, &entries).map(|()| file)
    });
    match written {
        Some(Ok(_)) => ui.status(&format!(
            "merged {path}: {n} overridden value(s) kept in the journal (git aisync conflicts)"
        )),
        failed => {
            // Nothing may be lost: with no journal to write, the records go to stderr.
            let why = match failed {
                Some(Err(e)) => format!("cannot write the journal: {e}"),
                _ => "not inside a git repository, no journal".to_string(),
            };
            ui.status(&format!(
                "merged {path}: {why}; the overridden values follow"
            ));
            for e in entries {
                eprintln!("{}", serde_json::Value::Object(e));
            }
        }
    }
}
