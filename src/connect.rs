//! `connect` and `disconnect` (DESIGN §9): what this machine's assistants would sync (a
//! survey, which changes nothing), and connecting one: recorded per machine in git config,
//! its live files imported (merged with what other machines put in the repository: nothing
//! lost on either side) and committed by a sync cycle, which applies the merge back.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::assistants::{self, Adapter, ADAPTERS};
use crate::bridge::{self, Bridge, Connection};
use crate::git::{GitError, Repo};
use crate::state::{Report, Stuck};

/// Global git config: the synced repository of this machine, for commands run elsewhere
/// (hooks and MCP servers start in a project's folder).
pub const REPO_KEY: &str = "aisync.repo";

/// One assistant as this machine has it.
#[derive(Debug, Serialize)]
pub struct Assistant {
    pub name: &'static str,
    pub title: &'static str,
    pub installed: bool,
    pub connected: bool,
    pub transcripts: bool,
    /// Where its files are here (those that exist).
    pub places: Vec<String>,
    /// What syncs, grouped (`agents/ (3 files)`).
    pub synced: Vec<String>,
    /// What stays on this machine, and why.
    pub local: Vec<Local>,
    pub stuck: Vec<Stuck>,
    /// Project keys in the repository with no checkout here.
    pub waiting: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Local {
    pub what: String,
    pub why: &'static str,
}

/// Every assistant the tables know, as this machine has it (`only`: those names).
pub fn survey(repo: &Repo, only: &[String]) -> Vec<Assistant> {
    let machine = crate::machine::name(repo);
    let connected = bridge::connections(repo);
    ADAPTERS
        .iter()
        .filter(|a| only.is_empty() || only.iter().any(|n| n == a.name))
        .map(|adapter| {
            let conn = connected.iter().find(|c| c.adapter.name == adapter.name);
            let connection = conn.copied().unwrap_or(Connection {
                adapter,
                transcripts: false,
            });
            describe(repo, &machine, adapter, connection, conn.is_some())
        })
        .collect()
}

fn describe(
    repo: &Repo,
    machine: &str,
    adapter: &'static Adapter,
    connection: Connection,
    connected: bool,
) -> Assistant {
    let installed = bridge::installed(repo, adapter);
    let mut view = Assistant {
        name: adapter.name,
        title: adapter.title,
        installed,
        connected,
        transcripts: connection.transcripts,
        places: Vec::new(),
        synced: Vec::new(),
        local: Vec::new(),
        stuck: Vec::new(),
        waiting: Vec::new(),
    };
    if !installed && !connected {
        return view;
    }
    let found = Bridge::of(repo, machine, vec![connection]).find();
    for place in adapter.places {
        if place.in_project {
            let inside = format!("/{}/", place.repo);
            let mut keys: Vec<&str> = found
                .pairs
                .iter()
                .filter_map(|p| p.rel.split_once("/projects/").map(|(_, r)| r))
                .filter_map(|r| r.split_once(&inside).map(|(key, _)| key))
                .collect();
            keys.sort_unstable();
            keys.dedup();
            if !keys.is_empty() {
                view.synced.push(format!(
                    "{} in {} project{} ({})",
                    place.repo,
                    keys.len(),
                    if keys.len() == 1 { "" } else { "s" },
                    keys.join(", ")
                ));
            }
            continue;
        }
        let Some(path) = bridge::locate(repo, adapter, place) else {
            continue;
        };
        if path.symlink_metadata().is_err() {
            continue;
        }
        view.places.push(bridge::shown(&path));
        if place.file {
            view.synced.push(match place.projection {
                Some(assistants::Projection::JsonMembers(keys)) => format!(
                    "{}: {} only (the rest is machine state)",
                    bridge::shown(&path),
                    keys.join(", ")
                ),
                Some(assistants::Projection::TomlWithout(tables)) => format!(
                    "{}: without [{}] (machine state)",
                    bridge::shown(&path),
                    tables.join("], [")
                ),
                None => bridge::shown(&path),
            });
            continue;
        }
        // Synced files, grouped by their first folder.
        let mut groups: std::collections::BTreeMap<String, usize> = Default::default();
        for pair in found.pairs.iter().filter(|p| p.live.starts_with(&path)) {
            if place_of_file(adapter, &pair.live, repo) {
                continue;
            }
            let rel = pair.live.strip_prefix(&path).unwrap_or(&pair.live);
            let mut parts = rel.iter();
            let first = parts
                .next()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let key = if parts.next().is_some() {
                format!("{first}/")
            } else {
                first
            };
            *groups.entry(key).or_default() += 1;
        }
        for (group, n) in groups {
            view.synced.push(if group.ends_with('/') {
                format!("{group} ({n} file{})", if n == 1 { "" } else { "s" })
            } else {
                group
            });
        }
        // What stays, by rule, where something of it is here (named as it is here).
        for rule in place.rules {
            if connection.classes().contains(&rule.class) {
                continue;
            }
            // A catch-all for the rest of a folder whose files also sync (`projects/**`)
            // says nothing a person needs.
            let shared = |name: &str| {
                place.rules.iter().any(|r| {
                    connection.classes().contains(&r.class)
                        && r.pattern.split('/').next() == Some(name)
                })
            };
            for what in present(&path, rule.pattern) {
                if what.ends_with('/') && shared(what.trim_end_matches('/')) {
                    continue;
                }
                if !view.local.iter().any(|l| l.what == what) {
                    view.local.push(Local {
                        what,
                        why: rule.class.why_local(),
                    });
                }
            }
        }
    }
    view.stuck = found.stuck;
    view.waiting = found.waiting;
    view
}

/// Whether `live` is one of the assistant's single-file places (listed on its own line).
fn place_of_file(adapter: &Adapter, live: &Path, repo: &Repo) -> bool {
    adapter
        .places
        .iter()
        .filter(|p| p.file)
        .any(|p| bridge::locate(repo, adapter, p).as_deref() == Some(live))
}

/// What of `pattern` is at `root`: its first segment read as the entries there that it
/// matches (`{todos,plans}/**` → `todos/`, `plans/`; `projects/*/*.jsonl` as it is).
fn present(root: &Path, pattern: &str) -> Vec<String> {
    let (first, rest) = pattern.split_once('/').unwrap_or((pattern, ""));
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| assistants::glob_match(first, name))
        .collect();
    names.sort();
    if !first.contains(['*', '{', '?', '[']) || names.is_empty() {
        return if names.is_empty() {
            Vec::new()
        } else {
            vec![pattern.to_string()]
        };
    }
    names
        .into_iter()
        .map(|n| match rest {
            "" => n,
            "**" => format!("{n}/"),
            rest => format!("{n}/{rest}"),
        })
        .collect()
}

/// How to connect.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub transcripts: bool,
    /// What to put inside the assistants: the session hooks, the MCP server.
    pub inside: crate::integrate::Wanted,
}

/// What connecting did.
#[derive(Debug, Serialize)]
pub struct Connected {
    pub connected: Vec<String>,
    /// Set just now (it was unset).
    pub recorded_repo: Option<String>,
    /// The assistants' files the session hooks or the MCP server were added to.
    pub inside: Vec<String>,
    /// Files they could not be added to, and why.
    pub inside_failed: Vec<String>,
    pub report: Report,
}

/// Connects the assistants `names` on this machine and syncs.
pub fn connect(repo: &Repo, exe: &Path, names: &[String], options: &Options) -> Result<Connected> {
    let adapters = adapters(names)?;
    let policy = crate::policy::Policy::load(&repo.work_tree)?;
    if !crate::install::is_installed(repo) {
        bail!(
            "{} is not set up for git-aisync: run `git aisync init` (or `git aisync install`) there first",
            repo.work_tree.display()
        );
    }
    // What other machines put in the repository first: a machine that connects second
    // merges its live files with theirs (three ways, nothing lost).
    if !repo.remotes()?.is_empty() {
        let _ = crate::sync::sync(repo, None);
    }
    // The drivers must be selected for the copies before they are merged by git.
    if !crate::install::attributes_current(repo, &policy) {
        crate::install::install(repo, exe, &policy)?;
        match repo.commit_paths(
            "git-aisync: merge drivers for assistants/",
            &[".gitattributes".to_string()],
        ) {
            Ok(()) | Err(GitError::NothingToCommit) => {}
            Err(e) => return Err(e).context("cannot commit .gitattributes"),
        }
    }
    for adapter in &adapters {
        repo.config_set(&bridge::connected_key(adapter.name), "true")?;
        if options.transcripts {
            repo.config_set(&bridge::transcripts_key(adapter.name), "true")?;
        }
    }
    let recorded_repo = record_repo(repo)?;
    // A fresh look at the config (the connections just made), then one cycle.
    let fresh = Repo::find(&repo.work_tree)?;
    let mut report = crate::sync::sync(&fresh, None);
    // The hooks and the MCP server, where another machine's connect has not brought them
    // already (they are the same everywhere): then one more cycle shares them.
    let (mut inside, mut inside_failed) = (Vec::new(), Vec::new());
    for adapter in &adapters {
        for result in crate::integrate::add(&fresh, adapter, options.inside) {
            match result {
                Ok(path) if !inside.contains(&bridge::shown(&path)) => {
                    inside.push(bridge::shown(&path))
                }
                Ok(_) => {}
                Err(e) => inside_failed.push(e),
            }
        }
    }
    if !inside.is_empty() {
        let earlier = std::mem::take(&mut report.bridge);
        report = crate::sync::sync(&fresh, None);
        report.bridge = earlier.then(std::mem::take(&mut report.bridge));
    }
    Ok(Connected {
        connected: adapters.iter().map(|a| a.name.to_string()).collect(),
        recorded_repo,
        inside,
        inside_failed,
        report,
    })
}

/// What disconnecting did.
#[derive(Debug, Serialize)]
pub struct Disconnected {
    pub was_connected: bool,
    /// Files the session hooks and the MCP server were taken out of.
    pub inside: Vec<String>,
    pub inside_failed: Vec<String>,
}

/// Stops bridging `name` on this machine, then takes the hooks and the MCP server out of
/// its files (the bridge stopped first: the removal does not travel to other machines).
/// The repository copy stays as it is; what the bridge knew is forgotten (a later connect
/// merges again).
pub fn disconnect(repo: &Repo, name: &str) -> Result<Disconnected> {
    let was_connected = stop_bridging(repo, name)?;
    let adapter = adapters(&[name.to_string()])?[0];
    let (mut inside, mut inside_failed) = (Vec::new(), Vec::new());
    for result in crate::integrate::remove(repo, adapter) {
        match result {
            Ok(path) => inside.push(bridge::shown(&path)),
            Err(e) => inside_failed.push(e),
        }
    }
    Ok(Disconnected {
        was_connected,
        inside,
        inside_failed,
    })
}

fn stop_bridging(repo: &Repo, name: &str) -> Result<bool> {
    let adapter = adapters(&[name.to_string()])?[0];
    let was = repo.flag(&bridge::connected_key(adapter.name)) == Some(true);
    // Under the repository lock: a cycle running now finishes before the bridge stops.
    let _lock = crate::lock::Lock::acquire(&repo.state_dir());
    repo.config_unset(&bridge::connected_key(adapter.name))?;
    repo.config_unset(&bridge::transcripts_key(adapter.name))?;
    repo.config_remove_section_if_empty(&format!("aisync.assistant.{}", adapter.name))?;
    Bridge::forget(&repo.state_dir(), adapter.name);
    Ok(was)
}

fn adapters(names: &[String]) -> Result<Vec<&'static Adapter>> {
    names
        .iter()
        .map(|n| {
            assistants::find(n).with_context(|| {
                format!(
                    "no assistant is called {n}: the names are {}",
                    assistants::names()
                )
            })
        })
        .collect()
}

/// Records `repo` as this machine's synced repository in the global git config, when
/// nothing is recorded there yet. Never where the global config is not a real file of the
/// user's (`GIT_CONFIG_GLOBAL=/dev/null`).
pub fn record_repo(repo: &Repo) -> Result<Option<String>> {
    if std::env::var_os("GIT_CONFIG_GLOBAL").is_some_and(|g| g == "/dev/null") {
        return Ok(None);
    }
    let path = repo.work_tree.to_string_lossy().into_owned();
    let current = repo
        .git(["config", "--global", "--get", REPO_KEY])
        .output()?;
    if current.success && !current.stdout.trim().is_empty() {
        return Ok(None);
    }
    repo.git(["config", "--global", REPO_KEY, &path]).run()?;
    Ok(Some(path))
}

/// The synced repository recorded for this machine (`aisync.repo`), if any.
pub fn recorded_repo(cwd: &Path) -> Option<PathBuf> {
    let out = crate::git::git_in(cwd, ["config", "--global", "--get", REPO_KEY])
        .output()
        .ok()?;
    let path = out.stdout.trim();
    (out.success && !path.is_empty()).then(|| PathBuf::from(path))
}
