//! Registering git-aisync in a repository: merge drivers in `.git/config` and the
//! `.gitattributes` lines that select them. `install` records what it changed so that
//! `uninstall` puts back exactly what was there.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use merge_drivers::Kind;
use serde_json::{json, Map, Value};

use crate::git::Repo;
use crate::policy::Policy;

const BEGIN: &str =
    "# >>> git-aisync: managed by `git aisync install`; `git aisync uninstall` removes it";
const END: &str = "# <<< git-aisync";

/// The hooks git-aisync installs.
pub const HOOKS: [&str; 4] = ["pre-commit", "post-commit", "post-merge", "pre-push"];

/// How our hook files start: what tells them from a hook that is not ours.
const SHIM: &str = include_str!("../hooks/shim.sh");
const SHIM_MARK: &str = "# git-aisync hook (written by `git aisync install`";

/// A foreign hook's new name while ours runs in its place.
const CHAINED: &str = "aisync-chained";

/// Per-machine keys `install` may set, restored by `uninstall`.
const MACHINE_KEYS: [&str; 2] = ["aisync.branch", "aisync.machine"];

pub struct Installed {
    pub attributes: PathBuf,
    pub drivers: usize,
}

fn record_path(repo: &Repo) -> PathBuf {
    repo.state_dir().join("install.json")
}

fn driver_section(kind: Kind) -> String {
    format!("merge.aisync-{kind}")
}

fn inner_section(kind: Kind) -> String {
    format!("merge.aisync-{kind}-inner")
}

/// File extensions the drivers know.
const EXTENSIONS: [(&str, Kind); 8] = [
    ("json", Kind::Json),
    ("jsonc", Kind::Json),
    ("json5", Kind::Json),
    ("jsonl", Kind::Jsonl),
    ("md", Kind::Markdown),
    ("yml", Kind::Yaml),
    ("yaml", Kind::Yaml),
    ("toml", Kind::Toml),
];

/// The driver kind `install` selects for a file by its extension (text for the others).
pub fn kind_of(path: &[u8]) -> Kind {
    EXTENSIONS
        .iter()
        .find(|(ext, _)| path.ends_with(format!(".{ext}").as_bytes()))
        .map_or(Kind::Text, |(_, kind)| *kind)
}

/// The lines `install` adds to `.gitattributes`: every realtime path of the policy, by
/// extension, and the journal.
pub fn attribute_lines(policy: &Policy) -> Vec<String> {
    // Tool configurations (Codex's config.toml, …) are TOML wherever they are, versioned
    // paths included: every `*.toml` merges by its driver.
    let mut lines = vec![attribute_line("*.toml", Kind::Toml)];
    for pattern in policy.realtime_patterns() {
        // As in the policy (gitignore-style): a pattern with no `/` but a trailing one
        // matches at any depth.
        let anchored = pattern.trim_end_matches('/').contains('/');
        let pattern = pattern.trim_start_matches('/').trim_end_matches('/');
        if let Some((_, kind)) = EXTENSIONS
            .iter()
            .find(|(ext, _)| pattern.ends_with(&format!(".{ext}")))
        {
            lines.push(attribute_line(pattern, *kind));
            continue;
        }
        // `memory/**` → `memory/**/*.json`; `notes/*` → `notes/*.json`; a folder (`notes`)
        // → everything under it.
        let last = pattern.rsplit('/').next().unwrap_or(pattern);
        let stem = match pattern.strip_suffix("/**") {
            Some(dir) => format!("{dir}/**/*"),
            None if pattern.ends_with('*') => pattern.to_string(),
            None if last.contains('.') => continue, // a file of a kind no driver knows
            None if anchored => format!("{pattern}/**/*"),
            None => format!("**/{pattern}/**/*"),
        };
        for (ext, kind) in EXTENSIONS {
            lines.push(attribute_line(&format!("{stem}.{ext}"), kind));
        }
    }
    // Connected assistants' copies (DESIGN §9): merged by extension, whatever the policy.
    for (ext, kind) in EXTENSIONS {
        lines.push(attribute_line(
            &format!("{}/**/*.{ext}", crate::assistants::REPO_DIR),
            kind,
        ));
    }
    lines.push(format!("{} merge=aisync-jsonl", crate::journal::SYNCED));
    lines
}

/// Whether `.gitattributes` already selects the drivers for everything `install` would.
pub fn attributes_current(repo: &Repo, policy: &Policy) -> bool {
    let text = fs::read_to_string(repo.work_tree.join(".gitattributes")).unwrap_or_default();
    attribute_lines(policy)
        .iter()
        .all(|l| text.lines().any(|t| t == l))
}

/// `pattern merge=aisync-KIND`, the pattern C-quoted when it holds what would otherwise end
/// it or change its meaning (a space, a quote, a backslash, a leading `#` or `!`): git
/// reads a pattern that starts with `"` as a quoted string.
fn attribute_line(pattern: &str, kind: Kind) -> String {
    let plain = !pattern.starts_with(['#', '!'])
        && !pattern
            .chars()
            .any(|c| c.is_whitespace() || c == '"' || c == '\\' || c.is_control());
    if plain {
        return format!("{pattern} merge=aisync-{kind}");
    }
    let mut quoted = String::from("\"");
    for c in pattern.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\t' => quoted.push_str("\\t"),
            '\n' => quoted.push_str("\\n"),
            c if c.is_control() => quoted.push_str(&format!("\\{:03o}", c as u32)),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    format!("{quoted} merge=aisync-{kind}")
}

pub fn install(repo: &Repo, exe: &Path, policy: &Policy) -> Result<Installed> {
    let hooks = hooks_dir(repo)?;
    refuse_shared_hooks(repo)?;
    // All or nothing: a hooks directory we cannot write stops us before anything changed.
    check_writable(&hooks)?;
    let first = !is_installed(repo);
    let attributes = repo.work_tree.join(".gitattributes");
    let done = (|| {
        register_drivers(repo, exe)?;
        let text = read_optional(&attributes)?.unwrap_or_default();
        let new = with_block(&text, &attribute_lines(policy));
        if new != text {
            fs::write(&attributes, new)
                .with_context(|| format!("cannot write {}", attributes.display()))?;
        }
        install_hooks(&hooks, &crate::shell::quote(&exe.to_string_lossy()))
    })();
    if let Err(e) = done {
        if first {
            // Take back what this first install did get to change.
            let _ = uninstall(repo);
        }
        return Err(e);
    }
    Ok(Installed {
        attributes,
        drivers: Kind::ALL.len(),
    })
}

/// Hooks in a folder every repository shares (`core.hooksPath` in the global or system
/// config) would run git-aisync in all of them, and push their commits.
fn refuse_shared_hooks(repo: &Repo) -> Result<()> {
    let out = repo
        .git(["config", "--show-scope", "--get", "core.hooksPath"])
        .output()?;
    let Some((scope, path)) = out.stdout.trim_end_matches('\n').split_once('\t') else {
        return Ok(());
    };
    if matches!(scope, "global" | "system") {
        anyhow::bail!(
            "core.hooksPath is set in your {scope} git config ({path}), so hooks there run in every repository: give this one its own with `git config core.hooksPath .git/hooks` (and copy the hooks it needs there), then run `git aisync install` again"
        );
    }
    Ok(())
}

/// Whether files can be made in `dir` (made if missing; a probe file written and removed).
fn check_writable(dir: &Path) -> Result<()> {
    let existed = dir.exists();
    let probe = dir.join(".aisync-probe");
    let ok = fs::create_dir_all(dir).is_ok() && fs::write(&probe, b"").is_ok();
    let _ = fs::remove_file(&probe);
    if !existed {
        let _ = fs::remove_dir(dir);
    }
    if !ok {
        anyhow::bail!(
            "cannot write in the hooks directory {}: make it writable (or point core.hooksPath elsewhere) and run `git aisync install` again; nothing was changed",
            dir.display()
        );
    }
    Ok(())
}

/// The config part of `install`: the merge drivers and the per-machine settings, so that a
/// merge made now (joining a hub's history) already uses the drivers.
pub fn register_drivers(repo: &Repo, exe: &Path) -> Result<()> {
    let record = record_path(repo);
    if !record.exists() {
        save_record(repo, &record)?;
    }
    for (key, value) in driver_settings(exe) {
        repo.config_set(&key, &value)?;
    }
    if let Some(branch) = repo.current_branch()? {
        // Left as it is when it already says so (its spelling in the file included).
        if repo.config_get("aisync.branch")?.as_deref() != Some(branch.as_str()) {
            repo.config_set("aisync.branch", &branch)?;
        }
    }
    // A name set for every repository (`git config --global aisync.machine`) is not shadowed.
    if !repo
        .git(["config", "--get", "aisync.machine"])
        .output()?
        .success
    {
        repo.config_set("aisync.machine", &crate::machine::host_name())?;
    }
    Ok(())
}

/// The config keys and values that register the merge drivers running `exe`.
pub fn driver_settings(exe: &Path) -> Vec<(String, String)> {
    let exe = crate::shell::quote(&exe.to_string_lossy());
    let mut settings = Vec::new();
    for kind in Kind::ALL {
        let (outer, inner) = (driver_section(kind), inner_section(kind));
        settings.extend([
            (format!("{outer}.name"), format!("git-aisync {kind} merge")),
            (
                format!("{outer}.driver"),
                format!("{exe} merge-driver {kind} %O %A %B %L %P"),
            ),
            // A criss-cross merge first merges the bases; overrides in there reach nobody.
            (format!("{outer}.recursive"), format!("aisync-{kind}-inner")),
            (
                format!("{inner}.name"),
                format!("git-aisync {kind} merge of merge bases"),
            ),
            (
                format!("{inner}.driver"),
                format!("{exe} merge-driver --no-journal {kind} %O %A %B %L %P"),
            ),
        ]);
    }
    settings
}

/// Whether `uninstall` has anything to undo.
pub fn is_installed(repo: &Repo) -> bool {
    record_path(repo).exists()
}

pub fn uninstall(repo: &Repo) -> Result<()> {
    let record_file = record_path(repo);
    let record: Map<String, Value> = match fs::read(&record_file) {
        Ok(bytes) => serde_json::from_slice(&bytes).with_context(|| {
            format!(
                "{} is damaged: remove it and the merge.aisync-* config by hand",
                record_file.display()
            )
        })?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Map::new(),
        Err(e) => return Err(e).context(format!("cannot read {}", record_file.display())),
    };
    for kind in Kind::ALL {
        for section in [driver_section(kind), inner_section(kind)] {
            let _ = repo
                .git(["config", "--local", "--remove-section", &section])
                .output()?;
        }
    }
    let before = record.get("config").and_then(Value::as_object);
    for key in MACHINE_KEYS {
        let was = before.and_then(|m| m.get(key)).and_then(Value::as_str);
        // A value that is what it was stays untouched, spelling and all.
        if repo.config_get(key)?.as_deref() == was {
            continue;
        }
        match was {
            Some(value) => repo.config_set(key, value)?,
            None => repo.config_unset(key)?,
        }
    }
    repo.config_remove_section_if_empty("aisync")?;

    let attributes = repo.work_tree.join(".gitattributes");
    if let Some(text) = read_optional(&attributes)? {
        let rest = without_block(&text);
        match record.get("attributes") {
            // What it was before install, when the person's own lines are as they were
            // (a block that came committed from the hub stays, exactly).
            Some(Value::String(was)) if without_block(was) == rest => {
                if *was != text {
                    fs::write(&attributes, was)
                        .with_context(|| format!("cannot write {}", attributes.display()))?;
                }
            }
            Some(Value::Null) if rest.is_empty() => fs::remove_file(&attributes)
                .with_context(|| format!("cannot remove {}", attributes.display()))?,
            // Edited since: only our block goes, and only if install brought it.
            Some(Value::String(was)) if was.contains(BEGIN) => {}
            _ => {
                let existed = record
                    .get("attributes_existed")
                    .and_then(Value::as_bool)
                    .unwrap_or(true);
                if rest.is_empty() && !existed {
                    fs::remove_file(&attributes)
                        .with_context(|| format!("cannot remove {}", attributes.display()))?;
                } else {
                    fs::write(&attributes, rest)
                        .with_context(|| format!("cannot write {}", attributes.display()))?;
                }
            }
        }
    }
    let hooks = hooks_dir(repo)?;
    uninstall_hooks(&hooks)?;
    if record.get("hooks_dir_existed").and_then(Value::as_bool) == Some(false) {
        let _ = fs::remove_dir(&hooks);
    }
    match fs::remove_file(&record_file) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).context(format!("cannot remove {}", record_file.display())),
    }
    // Leave the state directory only if it holds something else (a journal, say).
    let _ = fs::remove_dir(repo.state_dir());
    Ok(())
}

/// The hooks directory git uses for this repository (`core.hooksPath` honoured).
pub fn hooks_dir(repo: &Repo) -> Result<PathBuf> {
    let out = repo.git(["rev-parse", "--git-path", "hooks"]).output()?;
    if !out.success {
        anyhow::bail!("cannot find the hooks directory: {}", out.stderr.trim());
    }
    let dir = PathBuf::from(out.stdout.trim_end_matches('\n'));
    Ok(if dir.is_absolute() {
        dir
    } else {
        repo.work_tree.join(dir)
    })
}

/// Whether the hook file at `path` is one of ours.
pub fn is_ours(path: &Path) -> bool {
    fs::read_to_string(path).is_ok_and(|t| t.contains(SHIM_MARK))
}

/// Our shim that git runs for hook `name`, if any: `<name>` itself, or `<name>.legacy` where
/// the pre-commit framework, installed after us, keeps it and runs it from its own hook.
pub fn our_hook(dir: &Path, name: &str) -> Option<PathBuf> {
    let path = dir.join(name);
    let legacy = dir.join(format!("{name}.legacy"));
    // The framework's hook names its home page and runs `<name>.legacy` itself.
    let framework = || fs::read_to_string(&path).is_ok_and(|t| t.contains("pre-commit.com"));
    if is_ours(&path) {
        Some(path)
    } else if is_ours(&legacy) && framework() {
        Some(legacy)
    } else {
        None
    }
}

fn install_hooks(dir: &Path, quoted_exe: &str) -> Result<()> {
    fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the hooks directory {}", dir.display()))?;
    for name in HOOKS {
        let shim = SHIM.replace("@HOOK@", name).replace("@BIN@", quoted_exe);
        let path = dir.join(name);
        let legacy = dir.join(format!("{name}.legacy"));
        if our_hook(dir, name).as_ref() == Some(&legacy) {
            // The framework's hook runs ours as `.legacy`: bring that up to date, and chain
            // nothing (our checks would run twice).
            fs::write(&legacy, &shim)
                .with_context(|| format!("cannot write {}", legacy.display()))?;
            make_executable(&legacy)?;
            continue;
        }
        if path.exists() && !is_ours(&path) {
            // Someone else's hook: it keeps running, first.
            let chained = dir.join(format!("{name}.{CHAINED}"));
            fs::rename(&path, &chained).with_context(|| {
                format!(
                    "cannot move the existing {} aside; is the hooks directory writable?",
                    path.display()
                )
            })?;
        }
        fs::write(&path, &shim).with_context(|| {
            format!(
                "cannot write {}; is the hooks directory writable?",
                path.display()
            )
        })?;
        make_executable(&path)?;
        // Ours kept as `<name>.legacy` by the pre-commit framework: brought up to date too
        // (an earlier shim read its name from $0, and failed under that one).
        if is_ours(&legacy) {
            fs::write(&legacy, &shim)
                .with_context(|| format!("cannot write {}", legacy.display()))?;
        }
    }
    Ok(())
}

fn uninstall_hooks(dir: &Path) -> Result<()> {
    for name in HOOKS {
        let path = dir.join(name);
        // `<name>.legacy`: where the pre-commit framework, installed again after us, keeps
        // our hook (and runs it).
        let legacy = dir.join(format!("{name}.legacy"));
        let mut legacy_freed = false;
        for ours in [&path, &legacy] {
            if is_ours(ours) {
                fs::remove_file(ours)
                    .with_context(|| format!("cannot remove {}", ours.display()))?;
                legacy_freed |= *ours == legacy;
            }
        }
        let chained = dir.join(format!("{name}.{CHAINED}"));
        if chained.exists() && !path.exists() {
            fs::rename(&chained, &path)
                .with_context(|| format!("cannot put back {}", path.display()))?;
        } else if chained.exists() && fs::read(&chained).ok() == fs::read(&path).ok() {
            // The hook we had moved aside is back in its place (`pre-commit install` again):
            // the copy goes.
            fs::remove_file(&chained)
                .with_context(|| format!("cannot remove {}", chained.display()))?;
        } else if chained.exists() && legacy_freed {
            // The pre-commit framework's hook runs `<name>.legacy`: the hook we had moved
            // aside goes there, where the framework itself would have put it.
            fs::rename(&chained, &legacy)
                .with_context(|| format!("cannot put back {}", legacy.display()))?;
        }
    }
    Ok(())
}

#[cfg(unix)]
fn make_executable(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mut perms = fs::metadata(path)?.permissions();
    perms.set_mode(perms.mode() | 0o755);
    fs::set_permissions(path, perms)
        .with_context(|| format!("cannot make {} executable", path.display()))
}

#[cfg(not(unix))]
fn make_executable(_: &Path) -> Result<()> {
    Ok(())
}

fn save_record(repo: &Repo, record: &Path) -> Result<()> {
    let mut config = Map::new();
    for key in MACHINE_KEYS {
        if let Some(v) = repo.config_get(key)? {
            config.insert(key.to_string(), Value::from(v));
        }
    }
    let attributes = read_optional(&repo.work_tree.join(".gitattributes"))?;
    let hooks_dir_existed = hooks_dir(repo)?.exists();
    let value = json!({
        "config": config,
        "attributes_existed": attributes.is_some(),
        // The file as it was, so that uninstall puts back exactly that.
        "attributes": attributes,
        "hooks_dir_existed": hooks_dir_existed,
    });
    if let Some(dir) = record.parent() {
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    fs::write(record, serde_json::to_vec_pretty(&value)?)
        .with_context(|| format!("cannot write {}", record.display()))
}

fn read_optional(path: &Path) -> Result<Option<String>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).context(format!("cannot read {}", path.display())),
    }
}

/// `text` with our block at its end (replacing an earlier one), the user's lines untouched.
fn with_block(text: &str, lines: &[String]) -> String {
    let mut out = without_block(text);
    let eol = if text.contains("\r\n") { "\r\n" } else { "\n" };
    if !out.is_empty() && !out.ends_with('\n') {
        // Marked, so that uninstall can take this line break back out.
        out.push_str(eol);
        out.push_str(BEGIN);
        out.push_str(" (newline added)");
    } else {
        out.push_str(BEGIN);
    }
    out.push_str(eol);
    for line in lines {
        out.push_str(line);
        out.push_str(eol);
    }
    out.push_str(END);
    out.push_str(eol);
    out
}

/// `text` without our block: exactly what it was before `with_block`. (Every block: a union
/// merge of two machines' files can hold two.)
fn without_block(text: &str) -> String {
    let mut text = text.to_string();
    while text.contains(BEGIN) {
        text = without_first_block(&text);
    }
    text
}

fn without_first_block(text: &str) -> String {
    let Some(begin) = text.find(BEGIN) else {
        return text.to_string();
    };
    let end = text[begin..]
        .find(END)
        .map(|i| begin + i + END.len())
        .unwrap_or(text.len());
    let end = text[end..]
        .find('\n')
        .map(|i| end + i + 1)
        .unwrap_or(text.len());
    let mut start = begin;
    if text[begin..].starts_with(&format!("{BEGIN} (newline added)")) {
        // Take back the line break install added before the block.
        start -= if text[..begin].ends_with("\r\n") {
            2
        } else {
            1
        };
    }
    format!("{}{}", &text[..start], &text[end..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_follow_the_policy() {
        let policy = Policy::parse("paths:\n  notes/**: realtime\n  state.json: realtime\n  top/*: realtime\n  rules/**: versioned\n").unwrap();
        let lines = attribute_lines(&policy);
        assert!(lines.contains(&"notes/**/*.md merge=aisync-markdown".to_string()));
        assert!(lines.contains(&"state.json merge=aisync-json".to_string()));
        assert!(lines.contains(&"top/*.yaml merge=aisync-yaml".to_string()));
        assert!(lines.contains(&"notes/**/*.toml merge=aisync-toml".to_string()));
        assert!(lines.contains(&"notes/**/*.jsonc merge=aisync-json".to_string()));
        assert!(lines.contains(&"notes/**/*.json5 merge=aisync-json".to_string()));
        // Versioned TOML (a tool's config.toml) merges by its driver too.
        assert_eq!(lines[0], "*.toml merge=aisync-toml");
        assert!(!lines.iter().any(|l| l.starts_with("rules/")));
        assert_eq!(
            lines.last().unwrap(),
            ".aisync/conflicts.jsonl merge=aisync-jsonl"
        );
    }

    #[test]
    fn patterns_with_spaces_are_quoted_and_folders_get_every_extension() {
        let policy = Policy::parse(
            "paths:\n  \"my notes/**\": realtime\n  journal: realtime\n  a/b: realtime\n",
        )
        .unwrap();
        let lines = attribute_lines(&policy);
        assert!(lines.contains(&"\"my notes/**/*.json\" merge=aisync-json".to_string()));
        assert!(lines.contains(&"**/journal/**/*.md merge=aisync-markdown".to_string()));
        assert!(lines.contains(&"a/b/**/*.jsonl merge=aisync-jsonl".to_string()));
    }

    #[test]
    fn kinds_by_extension() {
        assert_eq!(kind_of(b"configs/codex/config.toml"), Kind::Toml);
        assert_eq!(kind_of(b"memory/settings.jsonc"), Kind::Json);
        assert_eq!(kind_of(b"memory/openclaw.json5"), Kind::Json);
        assert_eq!(kind_of(b"memory/settings.json"), Kind::Json);
        assert_eq!(kind_of(b"logs/s.jsonl"), Kind::Jsonl);
        assert_eq!(kind_of(b"notes/a.txt"), Kind::Text);
    }

    #[test]
    fn the_block_comes_out_exactly() {
        let policy = Policy::parse(crate::policy::DEFAULT).unwrap();
        let lines = attribute_lines(&policy);
        for text in ["", "*.png binary\n", "*.png binary", "a b\r\nc d\r\n"] {
            let added = with_block(text, &lines);
            assert!(added.contains("memory/**/*.json merge=aisync-json"));
            assert_eq!(
                with_block(&added, &lines),
                added,
                "install twice = install once"
            );
            assert_eq!(without_block(&added), text);
        }
        // Two machines' blocks, side by side after a union merge: both go.
        let two = format!("{}{}", with_block("a\n", &lines), with_block("", &lines));
        assert_eq!(without_block(&two), "a\n");
        assert_eq!(without_block(&with_block(&two, &lines)), "a\n");
    }
}
