//! What the MCP server (`git aisync mcp`, DESIGN §9) offers an assistant: five tools, each
//! with its JSON schema and a description a model understands, and what each answers. The
//! protocol itself (stdio, JSON-RPC, the handshake) is the binary's (`commands/mcp.rs`);
//! here a call is a name and its arguments in, an [`Answer`] out. Nothing here prints.

use std::collections::HashSet;

use anyhow::{bail, Context, Result};
use serde_json::{json, Map, Value};

use crate::git::Repo;
use crate::state::Report;
use crate::{journal, restore, snapshot, status};

/// A tool as `tools/list` shows it.
pub struct Tool {
    pub name: &'static str,
    pub description: &'static str,
    /// The JSON schema of its arguments (an object schema).
    pub schema: Value,
    /// It only reads.
    pub read_only: bool,
}

/// What a tool call answers: a short text for the model to read first, the data as JSON
/// (an object), and whether the call failed.
#[derive(Debug)]
pub struct Answer {
    pub summary: String,
    pub data: Value,
    pub is_error: bool,
}

impl Answer {
    fn ok(summary: impl Into<String>, data: Value) -> Answer {
        Answer {
            summary: summary.into(),
            data,
            is_error: false,
        }
    }

    /// A failed call: the text says what to do about it.
    pub fn error(text: impl Into<String>) -> Answer {
        let summary = text.into();
        Answer {
            data: json!({ "error": summary }),
            summary,
            is_error: true,
        }
    }

    /// The text an assistant reads: the summary, then the data.
    pub fn text(&self) -> String {
        if self.is_error {
            return self.summary.clone();
        }
        let data = serde_json::to_string_pretty(&self.data).unwrap_or_default();
        format!("{}\n\n{data}", self.summary)
    }
}

pub const SYNC_STATUS: &str = "sync_status";
pub const SYNC_NOW: &str = "sync_now";
pub const RECENT_CHANGES: &str = "recent_changes";
pub const CONFLICTS: &str = "conflicts";
pub const RESTORE: &str = "restore";

/// How many commits `recent_changes` lists at most, and looks through.
const MAX_COMMITS: usize = 200;
const SCAN_COMMITS: usize = 5000;
/// How many files of one commit it names.
const MAX_FILES: usize = 100;

/// The tools, in the order `tools/list` gives them.
pub fn tools() -> Vec<Tool> {
    vec![
        Tool {
            name: SYNC_STATUS,
            description: "State of git-aisync on this machine: machine name, branch, each remote with commits to push (ahead) and to merge (behind), the last sync cycle with when and how it ended, files held back (secrets, conflict markers), changes waiting, connected assistants and their files that cannot be synced now.",
            schema: json!({ "type": "object", "properties": {}, "additionalProperties": false }),
            read_only: true,
        },
        Tool {
            name: SYNC_NOW,
            description: "Run one sync cycle now: commit this machine's changes to memory and settings, fetch and merge the other machines' changes, push. Returns the outcome (synced, offline, held-back, refused or error) with what was committed, merged and pushed. Waits at most timeout_seconds; a longer cycle goes on in the background.",
            schema: json!({
                "type": "object",
                "properties": {
                    "timeout_seconds": {
                        "type": "integer", "minimum": 1, "maximum": 600, "default": 60,
                        "description": "How long to wait for the cycle to end."
                    }
                },
                "additionalProperties": false
            }),
            read_only: false,
        },
        Tool {
            name: RECENT_CHANGES,
            description: "What OTHER machines changed in the synced memory and settings: their commits, newest first, each with the machine's name, when, a one-line summary and the files it added, modified or deleted. By default the last 24 hours.",
            schema: json!({
                "type": "object",
                "properties": {
                    "since": {
                        "type": "string",
                        "description": "Start from this time (RFC 3339, e.g. 2026-01-31T09:00:00Z) or after this commit (a commit id or ref). Default: 24 hours ago."
                    },
                    "machine": { "type": "string", "description": "Only this machine's changes." },
                    "limit": { "type": "integer", "minimum": 1, "maximum": MAX_COMMITS, "default": 50, "description": "At most this many commits." }
                },
                "additionalProperties": false
            }),
            read_only: true,
        },
        Tool {
            name: CONFLICTS,
            description: "The conflict journal: every value a merge had to override when two machines changed the same thing (and content an automatic commit removed), newest first, with both versions (ours, theirs), the one chosen, the file, the location in it and the rule that chose. Nothing is lost: the overridden version is here.",
            schema: json!({
                "type": "object",
                "properties": {
                    "path": { "type": "string", "description": "Only records for this file, or for files under this folder." },
                    "limit": { "type": "integer", "minimum": 1, "maximum": 1000, "default": 20, "description": "At most this many records." }
                },
                "additionalProperties": false
            }),
            read_only: true,
        },
        Tool {
            name: RESTORE,
            description: "Bring back an earlier state of synced files as a new commit (history is kept; other machines get it on their next sync). Needs an explicit reference: a snapshot number (1 = newest snapshot taken before a merge), a snapshot name, a commit id, or \"previous\" with one path for that file's version before its last change. Optional paths limit it to those files. Without a reference nothing is done and the snapshots are listed.",
            schema: json!({
                "type": "object",
                "properties": {
                    "reference": { "type": "string", "description": "Snapshot number or name, a commit, or \"previous\" (with exactly one path)." },
                    "paths": { "type": "array", "items": { "type": "string" }, "description": "Only these files (paths in the synced repository)." }
                },
                "required": ["reference"],
                "additionalProperties": false
            }),
            read_only: false,
        },
    ]
}

/// What every tool answers when this machine has no synced repository.
pub fn no_repository(why: &str) -> Answer {
    Answer::error(format!(
        "git-aisync has no synced repository on this machine ({why}). Run `git aisync init DIR --remote URL` to make or join one (or `git aisync connect` inside it), then try again."
    ))
}

/// Calls the tool `name` with `args` on `repo`. `sync_now`'s time bound is the caller's
/// (the cycle itself cannot be cut short safely).
pub fn call(repo: &Repo, name: &str, args: &Map<String, Value>) -> Answer {
    let result = match name {
        SYNC_STATUS => sync_status(repo),
        SYNC_NOW => Ok(sync_now(repo)),
        RECENT_CHANGES => recent_changes(repo, args),
        CONFLICTS => conflicts(repo, args),
        RESTORE => restore_tool(repo, args),
        other => Err(anyhow::anyhow!(
            "no tool `{other}`: the tools are {SYNC_STATUS}, {SYNC_NOW}, {RECENT_CHANGES}, {CONFLICTS}, {RESTORE}"
        )),
    };
    result.unwrap_or_else(|e| Answer::error(format!("{e:#}")))
}

/// A string argument; `None` when absent or null.
fn string_arg(args: &Map<String, Value>, key: &str) -> Result<Option<String>> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => bail!("`{key}` must be a string, not {other}"),
    }
}

/// A whole number argument within `1..=max`; `default` when absent.
pub fn count_arg(args: &Map<String, Value>, key: &str, default: u64, max: u64) -> Result<u64> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => match v.as_u64() {
            Some(n) if (1..=max).contains(&n) => Ok(n),
            _ => bail!("`{key}` must be a whole number from 1 to {max}, not {v}"),
        },
    }
}

fn sync_status(repo: &Repo) -> Result<Answer> {
    let status = status::collect(repo)?;
    let mut parts = vec![format!(
        "machine {} on branch {}",
        status.machine, status.branch
    )];
    match &status.last_sync {
        Some(last) => parts.push(format!(
            "last sync {} at {}: {}",
            last.report.outcome.word(),
            last.time,
            last.report.message
        )),
        None => parts.push("no sync yet".into()),
    }
    for r in &status.remotes {
        parts.push(match (r.ahead, r.behind) {
            (Some(a), Some(b)) => format!("{}: {a} to push, {b} to merge", r.name),
            _ => format!("{}: never fetched", r.name),
        });
    }
    if let Some(last) = &status.last_sync {
        if !last.report.held_back.is_empty() {
            let held: Vec<_> = last
                .report
                .held_back
                .iter()
                .map(|h| h.path.as_str())
                .collect();
            parts.push(format!("held back: {}", held.join(", ")));
        }
    }
    if !status.assistants.is_empty() {
        let names: Vec<_> = status.assistants.iter().map(|a| a.name.as_str()).collect();
        parts.push(format!("assistants: {}", names.join(", ")));
    }
    if !status.stuck.is_empty() {
        parts.push(format!("{} file(s) stuck", status.stuck.len()));
    }
    let data = serde_json::to_value(&status)?;
    Ok(Answer::ok(parts.join("; "), data))
}

/// One cycle, as `git aisync sync` runs it.
pub fn sync_now(repo: &Repo) -> Answer {
    let report = crate::sync::sync(repo, None);
    report_answer(&report)
}

/// A cycle's report as an answer.
pub fn report_answer(report: &Report) -> Answer {
    let mut summary = format!("sync {}: {}", report.outcome.word(), report.message);
    if !report.merged.is_empty() {
        summary.push_str(&format!("; merged from {}", report.merged.join(", ")));
    }
    if !report.pushed.is_empty() {
        summary.push_str(&format!("; pushed to {}", report.pushed.join(", ")));
    }
    if !report.held_back.is_empty() {
        summary.push_str(&format!("; {} file(s) held back", report.held_back.len()));
    }
    let data = serde_json::to_value(report).unwrap_or_else(|_| json!({}));
    Answer {
        summary,
        data,
        is_error: report.outcome == crate::state::Outcome::Error,
    }
}

/// The machine a cycle commit's title names (`aisync(<machine>): …`).
fn machine_of(subject: &str) -> Option<&str> {
    subject
        .strip_prefix("aisync(")?
        .split_once("): ")
        .map(|(m, _)| m)
        .filter(|m| !m.is_empty())
}

/// Commits this machine made by hand (its branch's reflog says `commit…`), which no title
/// names a machine for.
fn made_here(repo: &Repo) -> HashSet<String> {
    let out = repo
        .git(["reflog", "show", "--format=%H %gs", "HEAD", "--"])
        .output();
    let Ok(out) = out else {
        return HashSet::new();
    };
    out.stdout
        .lines()
        .filter_map(|l| l.split_once(' '))
        .filter(|(_, what)| what.starts_with("commit"))
        .map(|(id, _)| id.to_string())
        .collect()
}

fn recent_changes(repo: &Repo, args: &Map<String, Value>) -> Result<Answer> {
    let limit = count_arg(args, "limit", 50, MAX_COMMITS as u64)? as usize;
    let only = string_arg(args, "machine")?;
    let since = string_arg(args, "since")?.filter(|s| !s.trim().is_empty());
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    // From a time or after a commit.
    let (range, after, since_shown) = match since.as_deref().map(str::trim) {
        None => ("HEAD".to_string(), now - 24 * 3600, "the last 24 hours".to_string()),
        Some(s) => match time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339) {
            Ok(t) => ("HEAD".to_string(), t.unix_timestamp(), format!("since {s}")),
            Err(_) if s.starts_with('-') => bail!("`since` must be an RFC 3339 time or a commit, not {s}"),
            Err(_) => match repo.rev(s)? {
                Some(commit) => (format!("{commit}..HEAD"), i64::MIN, format!("after {s}")),
                None => bail!("`since` must be an RFC 3339 time (2026-01-31T09:00:00Z) or a commit this repository has; `{s}` is neither"),
            },
        },
    };
    if !repo.has_commits()? {
        return Ok(Answer::ok(
            "no commits yet",
            json!({ "since": since_shown, "commits": [] }),
        ));
    }
    let me = crate::machine::name(repo);
    let here = made_here(repo);
    let max = format!("--max-count={SCAN_COMMITS}");
    let out = repo
        .git([
            "log",
            "--no-merges",
            &max,
            "--format=%H%x1f%ct%x1f%cI%x1f%an%x1f%s",
            &range,
            "--",
        ])
        .run()?;
    let mut commits = Vec::new();
    let mut by_machine: Vec<(String, usize)> = Vec::new();
    let mut more = false;
    for line in out.stdout.lines() {
        let f: Vec<&str> = line.splitn(5, '\x1f').collect();
        let [id, ct, when, author, subject] = f[..] else {
            continue;
        };
        if ct.parse::<i64>().unwrap_or(0) < after {
            continue;
        }
        let machine = machine_of(subject);
        let from_elsewhere = match machine {
            Some(m) => m != me,
            None => !here.contains(id),
        };
        if !from_elsewhere || only.as_deref().is_some_and(|o| Some(o) != machine) {
            continue;
        }
        if commits.len() == limit {
            more = true;
            break;
        }
        let name = machine
            .unwrap_or("(unknown: a commit made by hand)")
            .to_string();
        match by_machine.iter_mut().find(|(m, _)| *m == name) {
            Some((_, n)) => *n += 1,
            None => by_machine.push((name.clone(), 1)),
        }
        let summary = subject
            .strip_prefix(&format!("aisync({name}): "))
            .unwrap_or(subject);
        commits.push(json!({
            "commit": id,
            "time": when,
            "machine": machine,
            "author": author,
            "summary": summary,
            "files": files_of(repo, id)?,
        }));
    }
    let summary = if commits.is_empty() {
        format!("no changes from other machines in {since_shown}")
    } else {
        let who: Vec<String> = by_machine
            .iter()
            .map(|(m, n)| format!("{m} ({n} commit{})", if *n == 1 { "" } else { "s" }))
            .collect();
        format!(
            "changes from other machines in {since_shown}: {}{}",
            who.join(", "),
            if more {
                "; older ones left out (raise limit)"
            } else {
                ""
            }
        )
    };
    Ok(Answer::ok(
        summary,
        json!({ "since": since_shown, "this_machine": me, "commits": commits, "more": more }),
    ))
}

/// The files a commit added, modified or deleted (compared with its first parent).
fn files_of(repo: &Repo, commit: &str) -> Result<Vec<Value>> {
    let out = repo
        .git([
            "diff-tree",
            "--no-commit-id",
            "-r",
            "--root",
            "--no-renames",
            "--name-status",
            "-z",
            commit,
        ])
        .run_bytes()?;
    let mut fields = out.split(|&b| b == 0).filter(|f| !f.is_empty());
    let mut files = Vec::new();
    while let (Some(status), Some(path)) = (fields.next(), fields.next()) {
        if files.len() == MAX_FILES {
            files.push(json!({ "path": "…", "change": "more files left out" }));
            break;
        }
        let change = match status.first() {
            Some(b'A') => "added",
            Some(b'D') => "deleted",
            _ => "modified",
        };
        files.push(json!({ "path": crate::gate::shown(path), "change": change }));
    }
    Ok(files)
}

fn conflicts(repo: &Repo, args: &Map<String, Value>) -> Result<Answer> {
    let limit = count_arg(args, "limit", 20, 1000)? as usize;
    let path = string_arg(args, "path")?.map(|p| p.trim().trim_matches('/').to_string());
    let (entries, unreadable) = journal::all(&repo.state_dir(), Some(&repo.work_tree))?;
    let matching: Vec<Map<String, Value>> = entries
        .into_iter()
        .filter(|e| match &path {
            None => true,
            Some(p) if p.is_empty() => true,
            Some(p) => {
                let of = e.get("path").and_then(Value::as_str).unwrap_or_default();
                of == p || of.starts_with(&format!("{p}/"))
            }
        })
        .collect();
    let total = matching.len();
    let shown: Vec<Value> = matching
        .into_iter()
        .take(limit)
        .map(Value::Object)
        .collect();
    let mut summary = match total {
        0 => "no conflicts recorded".to_string(),
        n if n == shown.len() => format!("{n} conflict record(s), newest first"),
        n => format!("{n} conflict records; the newest {} shown", shown.len()),
    };
    if path.as_deref().is_some_and(|p| !p.is_empty()) {
        summary.push_str(&format!(" (for {})", path.as_deref().unwrap_or_default()));
    }
    summary.push_str(". In each record `ours` and `theirs` are the two versions, `chosen` the one kept in the file; the other one is only here.");
    let skipped: Vec<Value> = unreadable
        .iter()
        .map(|(f, n)| json!({ "file": f.display().to_string(), "unreadable_lines": n }))
        .collect();
    Ok(Answer::ok(
        summary,
        json!({ "total": total, "records": shown, "unreadable": skipped }),
    ))
}

fn restore_tool(repo: &Repo, args: &Map<String, Value>) -> Result<Answer> {
    let paths: Vec<String> = match args.get("paths") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<_>>()
            .context("`paths` must be a list of strings")?,
        Some(_) => bail!("`paths` must be a list of strings"),
    };
    let reference = string_arg(args, "reference")?.filter(|r| !r.trim().is_empty());
    let Some(reference) = reference else {
        let list: Vec<Value> = snapshot::list(repo)?
            .iter()
            .enumerate()
            .map(|(n, s)| {
                json!({
                    "number": n + 1,
                    "name": s.name,
                    "commit": s.commit,
                    "time": rfc3339(s.time),
                    "subject": s.subject,
                })
            })
            .collect();
        return Ok(Answer {
            summary: format!(
                "nothing was restored: restore needs an explicit `reference` (a snapshot number or name, a commit, or \"previous\" with one path). Snapshots here, newest first: {}",
                serde_json::to_string(&list).unwrap_or_default()
            ),
            data: json!({ "restored": false, "snapshots": list }),
            is_error: true,
        });
    };
    let restored = restore::restore(repo, &reference, &paths)?;
    let short = &restored.target[..12.min(restored.target.len())];
    let summary = if restored.commit.is_none() {
        format!("nothing to restore: the files already match {short}")
    } else {
        format!(
            "restored {} file(s) from {short} as a new commit ({}); the next sync shares it; the state before is snapshot {}",
            restored.paths.len(),
            restored.paths.join(", "),
            restored.snapshot_before.as_deref().unwrap_or("(none)")
        )
    };
    let mut data = serde_json::to_value(&restored)?;
    if let Value::Object(m) = &mut data {
        m.insert("restored".into(), Value::Bool(restored.commit.is_some()));
    }
    Ok(Answer::ok(summary, data))
}

fn rfc3339(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cycle_commit_names_its_machine() {
        assert_eq!(machine_of("aisync(laptop): memory/a.md"), Some("laptop"));
        assert_eq!(machine_of("aisync(laptop): merge origin"), Some("laptop"));
        assert_eq!(machine_of("aisync: restore 0123"), None);
        assert_eq!(machine_of("aisync(): x"), None);
        assert_eq!(machine_of("fix typo"), None);
    }

    #[test]
    fn arguments_of_the_wrong_kind_are_refused_not_panicked_on() {
        let args = json!({ "limit": "ten", "since": 3, "n": -1 });
        let args = args.as_object().cloned().unwrap_or_default();
        assert!(count_arg(&args, "limit", 5, 10).is_err());
        assert!(string_arg(&args, "since").is_err());
        assert!(count_arg(&args, "n", 5, 10).is_err());
        assert_eq!(count_arg(&args, "absent", 5, 10).ok(), Some(5));
        let big = json!({ "limit": 100000 });
        assert!(count_arg(big.as_object().unwrap_or(&Map::new()), "limit", 5, 10).is_err());
    }

    #[test]
    fn every_tool_has_an_object_schema_and_a_description() {
        for tool in tools() {
            assert_eq!(tool.schema["type"], "object", "{}", tool.name);
            assert!(tool.description.len() > 40, "{}", tool.name);
        }
    }
}
