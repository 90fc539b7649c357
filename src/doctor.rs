//! Checks of the setup and the environment, each with a fix: hooks and drivers installed and
//! pointing at a binary that exists, PATH, git, remotes, secrets ignored, WSL, line endings,
//! the policy file, the inotify watch limit.

use std::fs;
use std::path::{Path, PathBuf};

use crate::git::Repo;
use crate::install;
use crate::policy::{Mode, Policy};

/// How a check came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

impl Status {
    pub fn word(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

#[derive(Debug, serde::Serialize)]
pub struct Finding {
    pub check: &'static str,
    pub status: Status,
    pub message: String,
    /// What to do about it (empty when nothing).
    pub fix: String,
}

impl Finding {
    fn new(
        check: &'static str,
        status: Status,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Finding {
            check,
            status,
            message: message.into(),
            fix: fix.into(),
        }
    }
}

/// Every check, for the repository around `cwd`.
pub fn run(cwd: &Path) -> Vec<Finding> {
    let mut out = Vec::new();
    out.push(git_version(cwd));
    out.push(on_path());
    let repo = match Repo::discover(cwd) {
        Ok(r) => r,
        Err(e) => {
            out.push(Finding::new(
                "repository",
                Status::Fail,
                format!("{e:#}"),
                "run `git aisync init DIR` to make a synced repository",
            ));
            return out;
        }
    };
    out.push(Finding::new(
        "repository",
        Status::Ok,
        repo.work_tree.display().to_string(),
        "",
    ));
    let policy = match Policy::load(&repo.work_tree) {
        Ok(p) if !p.warnings.is_empty() => {
            for w in &p.warnings {
                out.push(Finding::new(
                    "policy",
                    Status::Warn,
                    w.to_string(),
                    "upgrade git-aisync here if another machine uses this setting, or remove it",
                ));
            }
            Some(p)
        }
        Ok(p) => {
            out.push(Finding::new(
                "policy",
                Status::Ok,
                ".aisync.yml is valid (or absent: defaults)",
                "",
            ));
            Some(p)
        }
        Err(e) => {
            out.push(Finding::new(
                "policy",
                Status::Fail,
                format!("{e:#}"),
                "fix .aisync.yml at the line and column named",
            ));
            None
        }
    };
    out.push(drivers(&repo));
    out.extend(hooks(&repo));
    out.push(attributes(&repo));
    out.extend(remotes(&repo));
    out.extend(hubs_heard_by_polling(&repo));
    out.extend(machine_name(&repo));
    out.push(credentials(&repo));
    out.extend(environment(&repo));
    if let Some(p) = &policy {
        out.push(watch_limit(&repo, p));
    }
    out.extend(assistants(&repo));
    out
}

/// The connected assistants (DESIGN §9): where they live, what cannot be bridged now, and
/// the commands other machines' changes brought.
fn assistants(repo: &Repo) -> Vec<Finding> {
    let mut out = Vec::new();
    let connections = crate::bridge::connections(repo);
    for c in &connections {
        let places = crate::bridge::places_here(repo, c.adapter);
        let missing = crate::integrate::missing(repo, c.adapter);
        if !missing.is_empty() {
            out.push(Finding::new(
                "assistant",
                Status::Warn,
                format!("{}: {}", c.adapter.name, missing.join("; ")),
                format!(
                    "git aisync connect {} adds it again (or --no-hooks / --no-mcp if you took it out on purpose)",
                    c.adapter.name
                ),
            ));
        }
        out.push(if places.is_empty() {
            Finding::new(
                "assistant",
                Status::Warn,
                format!("{} is connected, but none of its files is on this machine", c.adapter.name),
                format!(
                    "install it, or say where it keeps its files: git config {} /path; or git aisync disconnect {}",
                    crate::bridge::root_key(c.adapter.name),
                    c.adapter.name
                ),
            )
        } else {
            Finding::new(
                "assistant",
                Status::Ok,
                format!("{} connected ({})", c.adapter.name, places.join(", ")),
                "",
            )
        });
    }
    if connections.is_empty() {
        return out;
    }
    let (stuck, _) = crate::bridge::stuck_now(repo, crate::state::load(&repo.state_dir()).as_ref());
    for s in stuck {
        out.push(Finding::new(
            "assistant",
            Status::Warn,
            format!("{} {}", s.assistant, s.path),
            s.reason,
        ));
    }
    // Those of the last week: a doctor that warns for ever about a settled change is noise.
    let week_ago = (time::OffsetDateTime::now_utc() - time::Duration::days(7))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let recent = crate::state::executables(&repo.state_dir(), 10)
        .into_iter()
        .filter(|e| e.time >= week_ago);
    for e in recent {
        out.push(Finding::new(
            "assistant",
            Status::Warn,
            format!(
                "{} runs something that came from {} ({}): {}",
                e.assistant, e.machine, e.time, e.what
            ),
            format!(
                "if nobody meant to add it on {}, remove it there; it is in {}",
                e.machine, e.path
            ),
        ));
    }
    out
}

/// SSH hubs the running watcher could not start git-aisync on: their pushes arrive by
/// polling, seconds late, instead of at once.
fn hubs_heard_by_polling(repo: &Repo) -> Vec<Finding> {
    let Some(record) = crate::watch::running(&repo.state_dir()) else {
        return Vec::new();
    };
    let poll = crate::policy::Policy::load(&repo.work_tree)
        .map(|p| p.poll)
        .unwrap_or(std::time::Duration::from_secs(2));
    record["remotes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["session"] == "unavailable")
        .filter_map(|r| r["name"].as_str())
        .map(|name| {
            let url = repo.remote_url(name).unwrap_or_default();
            Finding::new(
                "hub",
                Status::Warn,
                format!(
                    "the hub {name} ({url}) cannot run git-aisync over ssh: its pushes arrive by polling every {}s, not at once",
                    poll.as_secs_f64()
                ),
                format!(
                    "install git-aisync there (~/.cargo/bin and ~/.local/bin are found without PATH), or git config remote.{name}.aisyncProgram /path/to/git-aisync"
                ),
            )
        })
        .collect()
}

fn git_version(cwd: &Path) -> Finding {
    match crate::git::git_in(cwd, ["--version"]).output() {
        Ok(o) if o.success => {
            let v = o
                .stdout
                .trim()
                .trim_start_matches("git version ")
                .to_string();
            let parts: Vec<u32> = v
                .split('.')
                .take(2)
                .filter_map(|p| p.parse().ok())
                .collect();
            if parts.len() == 2 && (parts[0], parts[1]) < (2, 28) {
                Finding::new(
                    "git",
                    Status::Fail,
                    format!("git {v} is too old (2.28 or newer needed)"),
                    "upgrade git",
                )
            } else {
                Finding::new("git", Status::Ok, format!("git {v}"), "")
            }
        }
        _ => Finding::new("git", Status::Fail, "git is not on PATH", "install git"),
    }
}

/// Whether `git aisync` finds this binary by PATH.
fn on_path() -> Finding {
    let found = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("git-aisync"))
                .find(|f| f.is_file())
        })
        .unwrap_or_default();
    match found {
        Some(p) => Finding::new("path", Status::Ok, format!("git-aisync on PATH at {}", p.display()), ""),
        None => Finding::new(
            "path",
            Status::Warn,
            "git-aisync is not on PATH, so `git aisync` does not work (hooks and drivers use its full path)",
            "cargo install --locked --path . (or add its folder to PATH)",
        ),
    }
}

/// The binary a driver or hook command names: its leading word as a POSIX shell reads it
/// (`'it'\''s dir/git-aisync'` is `it's dir/git-aisync`).
fn named_binary(command: &str) -> Option<PathBuf> {
    let mut word = String::new();
    let mut chars = command.trim_start().chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                for q in chars.by_ref() {
                    if q == '\'' {
                        break;
                    }
                    word.push(q);
                }
            }
            '\\' => word.extend(chars.next()),
            c if c.is_whitespace() => break,
            c => word.push(c),
        }
    }
    (!word.is_empty()).then(|| PathBuf::from(word))
}

fn drivers(repo: &Repo) -> Finding {
    let missing: Vec<&str> = merge_drivers::Kind::ALL
        .iter()
        .map(|k| k.name())
        .filter(|k| {
            repo.config_get(&format!("merge.aisync-{k}.driver"))
                .ok()
                .flatten()
                .is_none()
        })
        .collect();
    if !missing.is_empty() {
        return Finding::new(
            "drivers",
            Status::Fail,
            format!("merge drivers not registered: {}", missing.join(", ")),
            "git aisync install",
        );
    }
    let command = repo
        .config_get("merge.aisync-json.driver")
        .ok()
        .flatten()
        .unwrap_or_default();
    match named_binary(&command) {
        Some(bin) if !bin.is_file() => Finding::new(
            "drivers",
            Status::Fail,
            format!(
                "the merge drivers run {}, which no longer exists",
                bin.display()
            ),
            "git aisync install (again, from the binary's new place)",
        ),
        _ => Finding::new("drivers", Status::Ok, "merge drivers registered", ""),
    }
}

fn hooks(repo: &Repo) -> Vec<Finding> {
    let dir = match install::hooks_dir(repo) {
        Ok(d) => d,
        Err(e) => {
            return vec![Finding::new(
                "hooks",
                Status::Fail,
                format!("{e:#}"),
                "check core.hooksPath",
            )]
        }
    };
    let mut out = Vec::new();
    for name in install::HOOKS {
        let Some(path) = install::our_hook(&dir, name) else {
            out.push(Finding::new(
                "hooks",
                Status::Fail,
                format!("{name} hook not installed in {}", dir.display()),
                "git aisync install",
            ));
            continue;
        };
        let text = fs::read_to_string(&path).unwrap_or_default();
        let bin = text
            .lines()
            .find_map(|l| l.strip_prefix("bin="))
            .and_then(named_binary);
        match bin {
            Some(bin) if !bin.is_file() => out.push(Finding::new(
                "hooks",
                Status::Warn,
                format!(
                    "the {name} hook names {}, which no longer exists (it falls back to PATH)",
                    bin.display()
                ),
                "git aisync install",
            )),
            _ => out.push(Finding::new(
                "hooks",
                Status::Ok,
                if path.ends_with(name) {
                    format!("{name} hook installed")
                } else {
                    format!("{name} hook installed (run by the pre-commit framework's hook)")
                },
                "",
            )),
        }
    }
    out
}

fn attributes(repo: &Repo) -> Finding {
    let text = fs::read_to_string(repo.work_tree.join(".gitattributes")).unwrap_or_default();
    if text.contains("merge=aisync-") {
        Finding::new(
            "attributes",
            Status::Ok,
            ".gitattributes selects the merge drivers",
            "",
        )
    } else {
        Finding::new(
            "attributes",
            Status::Fail,
            ".gitattributes does not select the merge drivers",
            "git aisync install",
        )
    }
}

fn remotes(repo: &Repo) -> Vec<Finding> {
    let names = repo
        .git(["remote"])
        .output()
        .map(|o| o.stdout)
        .unwrap_or_default();
    let names: Vec<&str> = names.lines().filter(|l| !l.is_empty()).collect();
    if names.is_empty() {
        return vec![Finding::new(
            "remote",
            Status::Warn,
            "no remote: this machine syncs with nobody",
            "git remote add origin URL && git push -u origin HEAD",
        )];
    }
    names
        .iter()
        .map(|name| {
            let url = repo
                .config_get(&format!("remote.{name}.url"))
                .ok()
                .flatten()
                .unwrap_or_default();
            if url.starts_with("http://") || url.starts_with("git://") {
                Finding::new(
                    "remote",
                    Status::Fail,
                    format!("{name} is {url}: not encrypted"),
                    "use an https:// or ssh:// URL: git remote set-url NAME URL",
                )
            } else {
                Finding::new("remote", Status::Ok, format!("{name} {url}"), "")
            }
        })
        .collect()
}

/// Two machines of one name deliver to one inbox ref of a peer: one of them is always
/// rejected. Told only when it is so (peers on this machine are read; others not asked).
fn machine_name(repo: &Repo) -> Vec<Finding> {
    repo.remotes()
        .unwrap_or_default()
        .iter()
        .filter_map(|r| crate::peer::name_clash(repo, r))
        .map(|why| {
            Finding::new(
                "machine name",
                Status::Fail,
                why,
                "give each machine its own name: git config aisync.machine NAME",
            )
        })
        .collect()
}

fn credentials(repo: &Repo) -> Finding {
    let ignored = repo
        .git(["check-ignore", "-q", "--no-index", ".credentials/probe"])
        .output()
        .is_ok_and(|o| o.success);
    if ignored {
        Finding::new("secrets", Status::Ok, ".credentials/ is ignored", "")
    } else {
        Finding::new(
            "secrets",
            Status::Fail,
            ".credentials/ is not in .gitignore",
            "echo .credentials/ >> .gitignore",
        )
    }
}

fn environment(repo: &Repo) -> Vec<Finding> {
    let mut out = Vec::new();
    let wsl = crate::platform::is_wsl();
    // In force from any config (a global `core.autocrlf=true` counts as much as a local one).
    let autocrlf = repo.setting("core.autocrlf").map(str::to_ascii_lowercase);
    let on_windows = wsl && repo.work_tree.starts_with("/mnt/");
    if wsl {
        out.push(Finding::new(
            "wsl",
            if on_windows { Status::Warn } else { Status::Ok },
            if on_windows {
                "WSL, with the repo on a Windows drive: inotify does not see Windows-side writes there, so the watcher polls"
            } else {
                "WSL, with the repo on the Linux side"
            },
            if on_windows { "keep it under ~ if you can (events instead of polling, and faster git)" } else { "" },
        ));
        if on_windows && repo.flag("core.fileMode") != Some(false) {
            out.push(Finding::new(
                "file modes",
                Status::Warn,
                "core.fileMode is on for a Windows drive: every file looks changed",
                "git config core.fileMode false",
            ));
        }
    }
    match autocrlf.as_deref() {
        Some("true") => out.push(Finding::new(
            "line endings",
            Status::Warn,
            "core.autocrlf=true on Linux/macOS writes CRLF line endings into memory files, and every machine then rewrites them",
            "git config core.autocrlf input (and `git config --global --unset core.autocrlf` if it comes from there)",
        )),
        None | Some("false") if on_windows => out.push(Finding::new(
            "line endings",
            Status::Warn,
            "Windows programs writing on this drive may save CRLF line endings, which then sync as changes to every line",
            "git config core.autocrlf input (commits LF whatever the editor wrote)",
        )),
        _ => {}
    }
    out
}

fn watch_limit(repo: &Repo, policy: &Policy) -> Finding {
    let Ok(limit) = fs::read_to_string("/proc/sys/fs/inotify/max_user_watches") else {
        return Finding::new(
            "watch limit",
            Status::Ok,
            "no inotify here (the watcher polls or uses the platform's events)",
            "",
        );
    };
    let limit: usize = limit.trim().parse().unwrap_or(0);
    let mut dirs = 0;
    let mut stack = vec![repo.work_tree.clone()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) && e.file_name() != ".git" {
                let rel = p
                    .strip_prefix(&repo.work_tree)
                    .unwrap_or(&p)
                    .to_string_lossy()
                    .replace('\\', "/");
                if policy.mode(&format!("{rel}/x")) == Mode::Realtime {
                    dirs += 1;
                }
                stack.push(p);
            }
        }
    }
    if limit > 0 && dirs * 2 > limit {
        Finding::new(
            "watch limit",
            Status::Warn,
            format!("{dirs} folders to watch, inotify allows {limit}"),
            "sudo sysctl fs.inotify.max_user_watches=524288 (and in /etc/sysctl.d/ to keep it)",
        )
    } else {
        Finding::new(
            "watch limit",
            Status::Ok,
            format!("{dirs} folders to watch, inotify allows {limit}"),
            "",
        )
    }
}
