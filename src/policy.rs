//! The policy: which paths sync how (`.aisync.yml`, committed and shared by every machine).
//!
//! One module reads it; every other part asks it. A bad file is an error that names its line
//! and column, and nothing syncs until it is fixed.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};
use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};

pub const FILE: &str = ".aisync.yml";

/// Editor leftovers, never committed by the cycle and never a change to the watcher, whatever
/// `.aisync.yml` says: vim's swap files and its write test `4913`, backups `name~`, emacs'
/// locks `.#name` and autosaves `#name#`.
pub const EDITOR_LEFTOVERS: &[&str] = &["*.sw[a-px]", "*.swpx", "*~", ".#*", "#*#", "4913"];

/// How a path is synced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Watched; committed and pushed within the debounce delay.
    Realtime,
    /// Committed by people; pushed after each commit.
    Versioned,
    /// Never staged, never pushed.
    Never,
}

/// A `.aisync.yml` that cannot be used: where, and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{FILE}:{}:{}: {}; fix it, nothing syncs until then",
            self.line, self.column, self.message
        )
    }
}

impl std::error::Error for PolicyError {}

struct Rule {
    pattern: String,
    matcher: GlobSet,
    mode: Mode,
}

struct ConflictRule {
    matcher: GlobSet,
    policy: merge_drivers::Policy,
}

pub struct Policy {
    rules: Vec<Rule>,
    conflicts: Vec<ConflictRule>,
    ignore: GlobSet,
    /// Debounce: how long the watcher waits after the last write.
    pub delay: Duration,
    /// A file written continuously still syncs this often.
    pub max_wait: Duration,
    /// How often remotes are polled.
    pub poll: Duration,
    /// Identity keys for records, tried before id, uuid, key, name.
    pub identity_keys: Vec<String>,
    /// Settings this version does not know (a machine on a newer git-aisync may have
    /// written them): ignored, and said, never a reason to stop syncing (DESIGN §6).
    pub warnings: Vec<PolicyWarning>,
}

/// A setting of `.aisync.yml` this version ignores: where, and which.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PolicyWarning {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for PolicyWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{FILE}:{}:{}: {}", self.line, self.column, self.message)
    }
}

/// The policy `init` writes, and the one in force when there is no file.
pub const DEFAULT: &str = r#"# git-aisync policy: how each path syncs. Shared by every machine (committed).
# Modes: realtime (committed and pushed by the watcher within `delay`),
#        versioned (committed by people, pushed after each commit),
#        never (never staged, never pushed). Unlisted paths are versioned.
# The last pattern that matches a path wins.
paths:
  rules/**: versioned
  configs/**: versioned
  docs/**: versioned
  memory/**: realtime
  logs/**: realtime
  .credentials/**: never

# The watcher waits this long after the last write (and at most max_wait in all).
delay: 300ms
max_wait: 5s
# How often remotes are polled for other machines' changes.
poll: 2s

# Never committed by the cycle (editor leftovers: swap files, backups and locks never are).
ignore:
  - "*.swp"
  - "*~"
  - ".#*"
  - "*.tmp"

# Identity keys for records in JSON arrays and JSONL, tried before id, uuid, key, name.
identity_keys: []

# Two different new values for one field: journal (pick one, keep the other in the journal),
# keep-both (Markdown blocks side by side), ours, theirs, or markers (stop for a person).
conflicts:
  "**/*.md": keep-both
"#;

impl Policy {
    /// The policy of a working tree: its `.aisync.yml`, or the defaults when there is none.
    pub fn load(work_tree: &Path) -> anyhow::Result<Policy> {
        match std::fs::read(work_tree.join(FILE)) {
            Ok(bytes) => {
                let text = String::from_utf8(bytes).map_err(|_| PolicyError {
                    line: 1,
                    column: 1,
                    message: "not UTF-8 text".into(),
                })?;
                Ok(Policy::parse(&text)?)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Ok(Policy::parse(DEFAULT).expect("the default policy parses"))
            }
            Err(e) => Err(anyhow::Error::new(e).context(format!("cannot read {FILE}"))),
        }
    }

    pub fn parse(text: &str) -> Result<Policy, PolicyError> {
        let docs = MarkedYaml::load_from_str(text).map_err(|e| PolicyError {
            line: e.marker().line(),
            column: e.marker().col() + 1,
            message: e.info().to_string(),
        })?;
        let mut policy = Policy {
            rules: Vec::new(),
            conflicts: Vec::new(),
            ignore: GlobSet::empty(),
            delay: Duration::from_millis(300),
            max_wait: Duration::from_secs(5),
            poll: Duration::from_secs(2),
            identity_keys: Vec::new(),
            warnings: Vec::new(),
        };
        let Some(root) = docs.first() else {
            return Ok(policy);
        };
        if let Some(second) = docs.get(1) {
            return Err(at(
                second,
                "a second YAML document (after `---`) is not read: keep every setting in one",
            ));
        }
        let top = match &root.data {
            YamlData::Mapping(m) => m,
            YamlData::Value(Scalar::Null) => return Ok(policy),
            _ => {
                return Err(at(
                    root,
                    "expected a mapping of settings (paths, delay, poll, …)",
                ))
            }
        };
        let mut ignore = GlobSetBuilder::new();
        for pattern in EDITOR_LEFTOVERS {
            if let Ok(g) = GlobBuilder::new(&format!("**/{pattern}"))
                .literal_separator(true)
                .build()
            {
                ignore.add(g);
            }
        }
        for (key, value) in top {
            match text_of(key).as_deref() {
                Some("version") => {}
                Some("paths") => {
                    for (pattern, mode) in mapping(value, "a mapping of path patterns to modes")? {
                        let pattern = string(pattern, "a path pattern")?;
                        let mode = match string(mode, "a mode")?.as_str() {
                            "realtime" => Mode::Realtime,
                            "versioned" => Mode::Versioned,
                            "never" => Mode::Never,
                            other => {
                                return Err(at(
                                    mode,
                                    &format!("unknown mode `{other}` (expected realtime, versioned or never)"),
                                ))
                            }
                        };
                        policy.rules.push(Rule {
                            matcher: glob(key_node(value, &pattern).unwrap_or(value), &pattern)?,
                            pattern,
                            mode,
                        });
                    }
                }
                Some("delay") => policy.delay = duration(value)?,
                Some("max_wait") => policy.max_wait = duration(value)?,
                Some("poll") => {
                    policy.poll = duration(value)?;
                    if policy.poll.is_zero() {
                        return Err(at(value, "poll must be longer than 0 (polling without a pause would never stop asking the remote), e.g. 2s"));
                    }
                }
                Some("ignore") => {
                    for p in sequence(value, "a list of patterns")? {
                        let pattern = string(p, "a pattern")?;
                        for g in globs(p, &pattern)? {
                            ignore.add(g);
                        }
                    }
                }
                Some("identity_keys") => {
                    for k in sequence(value, "a list of key names")? {
                        policy.identity_keys.push(string(k, "a key name")?);
                    }
                }
                Some("conflicts") => {
                    for (pattern, choice) in
                        mapping(value, "a mapping of path patterns to policies")?
                    {
                        let pattern_text = string(pattern, "a path pattern")?;
                        let chosen = string(choice, "a conflict policy")?;
                        let parsed: merge_drivers::Policy =
                            chosen.parse().map_err(|e: String| at(choice, &e))?;
                        policy.conflicts.push(ConflictRule {
                            matcher: glob(pattern, &pattern_text)?,
                            policy: parsed,
                        });
                    }
                }
                Some(other) => {
                    let place = at(key, "");
                    policy.warnings.push(PolicyWarning {
                        line: place.line,
                        column: place.column,
                        message: format!(
                            "unknown setting `{other}`, ignored (this version knows paths, delay, max_wait, poll, ignore, identity_keys and conflicts; a newer git-aisync on another machine may use it)"
                        ),
                    });
                }
                None => return Err(at(key, "expected a setting name")),
            }
        }
        policy.ignore = ignore
            .build()
            .map_err(|e| at(root, &format!("bad ignore pattern: {e}")))?;
        Ok(policy)
    }

    /// How `path` (relative to the top of the working tree, `/`-separated) syncs.
    pub fn mode(&self, path: &str) -> Mode {
        if path == ".aisync/conflicts.jsonl" {
            return Mode::Realtime;
        }
        self.rules
            .iter()
            .rev()
            .find(|r| r.matcher.is_match(path))
            .map_or(Mode::Versioned, |r| r.mode)
    }

    /// Whether the sync cycle leaves `path` alone (editor leftovers and the like).
    #[cfg_attr(not(test), allow(dead_code))] // the sync cycle's (issue 5) first user
    pub fn is_ignored(&self, path: &str) -> bool {
        let name = path.rsplit('/').next().unwrap_or(path);
        self.ignore.is_match(path) || self.ignore.is_match(name)
    }

    /// The conflict policy for `path`, if the file sets one.
    pub fn conflict_policy(&self, path: &str) -> Option<merge_drivers::Policy> {
        self.conflicts
            .iter()
            .rev()
            .find(|r| r.matcher.is_match(path))
            .map(|r| r.policy)
    }

    /// The directory patterns synced in real time (`memory/**` → `memory`), for the
    /// `.gitattributes` lines that select the merge drivers.
    pub fn realtime_patterns(&self) -> Vec<&str> {
        self.rules
            .iter()
            .filter(|r| r.mode == Mode::Realtime)
            .map(|r| r.pattern.as_str())
            .collect()
    }
}

fn text_of(node: &MarkedYaml) -> Option<String> {
    match &node.data {
        YamlData::Value(Scalar::String(s)) => Some(s.to_string()),
        YamlData::Value(Scalar::Integer(i)) => Some(i.to_string()),
        YamlData::Value(Scalar::FloatingPoint(f)) => Some(f.to_string()),
        YamlData::Value(Scalar::Boolean(b)) => Some(b.to_string()),
        YamlData::Representation(s, ..) => Some(s.to_string()),
        _ => None,
    }
}

fn at(node: &MarkedYaml, message: &str) -> PolicyError {
    PolicyError {
        line: node.span.start.line(),
        column: node.span.start.col() + 1,
        message: message.to_string(),
    }
}

fn string(node: &MarkedYaml, what: &str) -> Result<String, PolicyError> {
    text_of(node).ok_or_else(|| at(node, &format!("expected {what}")))
}

fn mapping<'n, 'i>(
    node: &'n MarkedYaml<'i>,
    what: &str,
) -> Result<Vec<(&'n MarkedYaml<'i>, &'n MarkedYaml<'i>)>, PolicyError> {
    match &node.data {
        YamlData::Mapping(m) => Ok(m.iter().collect()),
        YamlData::Value(Scalar::Null) => Ok(Vec::new()),
        _ => Err(at(node, &format!("expected {what}"))),
    }
}

fn sequence<'n, 'i>(
    node: &'n MarkedYaml<'i>,
    what: &str,
) -> Result<Vec<&'n MarkedYaml<'i>>, PolicyError> {
    match &node.data {
        YamlData::Sequence(s) => Ok(s.iter().collect()),
        YamlData::Value(Scalar::Null) => Ok(Vec::new()),
        _ => Err(at(node, &format!("expected {what}"))),
    }
}

/// The key node of `pattern` in a mapping, for error positions.
fn key_node<'n, 'i>(mapping: &'n MarkedYaml<'i>, pattern: &str) -> Option<&'n MarkedYaml<'i>> {
    match &mapping.data {
        YamlData::Mapping(m) => m.keys().find(|k| text_of(k).as_deref() == Some(pattern)),
        _ => None,
    }
}

/// A gitignore-style pattern: `*` stays within a directory, `**` crosses them, a pattern
/// without a `/` (a trailing one aside) matches at any depth, and a pattern that names a
/// directory covers everything under it (`private`, `private/`).
fn glob(node: &MarkedYaml, pattern: &str) -> Result<GlobSet, PolicyError> {
    let mut set = GlobSetBuilder::new();
    for g in globs(node, pattern)? {
        set.add(g);
    }
    set.build()
        .map_err(|e| at(node, &format!("bad pattern `{pattern}`: {e}")))
}

/// The globs of [`glob`]: the path itself (unless the pattern ends in `/`, which names only
/// a directory) and everything under it.
fn globs(node: &MarkedYaml, pattern: &str) -> Result<Vec<Glob>, PolicyError> {
    let dir_only = pattern.ends_with('/');
    let trimmed = pattern.trim_end_matches('/');
    let full = if trimmed.contains('/') {
        trimmed.trim_start_matches('/').to_string()
    } else {
        format!("**/{trimmed}")
    };
    let build = |text: &str| {
        GlobBuilder::new(text)
            .literal_separator(true)
            .build()
            .map_err(|e| at(node, &format!("bad pattern `{pattern}`: {e}")))
    };
    let mut out = Vec::new();
    if !dir_only {
        out.push(build(&full)?);
    }
    if !full.ends_with("/**") {
        out.push(build(&format!("{full}/**"))?);
    }
    Ok(out)
}

/// `300ms`, `2s`, `1m`, or a number of milliseconds.
fn duration(node: &MarkedYaml) -> Result<Duration, PolicyError> {
    let text = string(node, "a duration like 300ms, 2s or 1m")?;
    let bad = || {
        at(
            node,
            &format!("bad duration `{text}` (expected a duration like 300ms, 2s or 1m)"),
        )
    };
    let (number, unit) = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((text.as_str(), "ms"), |i| (&text[..i], text[i..].trim()));
    let n: f64 = number.parse().map_err(|_| bad())?;
    let ms = match unit {
        "ms" => n,
        "s" => n * 1000.0,
        "m" | "min" => n * 60_000.0,
        _ => return Err(bad()),
    };
    if !(0.0..=86_400_000.0).contains(&ms) {
        return Err(bad());
    }
    Ok(Duration::from_millis(ms as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_layout() {
        let p = Policy::parse(DEFAULT).unwrap();
        assert_eq!(p.mode("memory/notes.md"), Mode::Realtime);
        assert_eq!(p.mode("memory/deep/store.json"), Mode::Realtime);
        assert_eq!(p.mode("logs/2026/s.jsonl"), Mode::Realtime);
        assert_eq!(p.mode("rules/style.md"), Mode::Versioned);
        assert_eq!(p.mode(".credentials/token"), Mode::Never);
        assert_eq!(p.mode("README.md"), Mode::Versioned);
        assert_eq!(p.mode(".aisync/conflicts.jsonl"), Mode::Realtime);
        assert!(p.is_ignored("memory/.notes.md.swp"));
        assert!(!p.is_ignored("memory/notes.md"));
        assert_eq!(p.delay, Duration::from_millis(300));
        assert_eq!(
            p.conflict_policy("memory/a.md"),
            Some(merge_drivers::Policy::KeepBoth)
        );
        assert_eq!(p.conflict_policy("memory/a.json"), None);
    }

    #[test]
    fn the_last_matching_pattern_wins() {
        let p =
            Policy::parse("paths:\n  memory/**: realtime\n  memory/private/**: never\n").unwrap();
        assert_eq!(p.mode("memory/a.md"), Mode::Realtime);
        assert_eq!(p.mode("memory/private/a.md"), Mode::Never);
    }

    #[test]
    fn a_pattern_naming_a_folder_covers_everything_under_it() {
        let p =
            Policy::parse("paths:\n  private: never\n  private2/: never\n  docs/drafts: never\n")
                .unwrap();
        assert_eq!(p.mode("private/a.txt"), Mode::Never);
        assert_eq!(p.mode("deep/private/a/b.txt"), Mode::Never);
        assert_eq!(p.mode("private2/a.txt"), Mode::Never);
        assert_eq!(p.mode("docs/drafts/x.md"), Mode::Never);
        assert_eq!(p.mode("other/drafts/x.md"), Mode::Versioned);
        assert_eq!(p.mode("private.txt"), Mode::Versioned);
        let p = Policy::parse("ignore:\n  - build\n").unwrap();
        assert!(p.is_ignored("build/out.json"));
    }

    #[test]
    fn a_second_document_or_a_zero_poll_is_an_error() {
        let e = Policy::parse("delay: 1s\n---\npoll: 5s\n").err().unwrap();
        assert!(e.to_string().contains("second YAML document"), "{e}");
        assert_eq!(e.line, 3, "where the second document's settings start");
        let e = Policy::parse("poll: 0\n").err().unwrap();
        assert!(e.to_string().contains("poll must be longer than 0"), "{e}");
    }

    #[test]
    fn errors_name_line_and_column() {
        let e = Policy::parse("paths:\n  memory/**: realtme\n")
            .err()
            .unwrap();
        assert_eq!((e.line, e.column), (2, 14));
        assert!(e.to_string().contains("unknown mode `realtme`"), "{e}");
        let e = Policy::parse("delay: soon\n").err().unwrap();
        assert_eq!((e.line, e.column), (1, 8));
        let e = Policy::parse("paths: [a\n").err().unwrap();
        assert!(e.line >= 1, "{e}");
    }

    /// A machine on a newer version writes a setting this one does not know: it is said,
    /// where, and ignored; everything else in the file is in force.
    #[test]
    fn an_unknown_setting_is_a_warning_not_an_error() {
        let p = Policy::parse("delay: 1s\ncolour: blue\npaths:\n  notes/**: realtime\n").unwrap();
        assert_eq!(p.delay, Duration::from_secs(1));
        assert_eq!(p.mode("notes/a.md"), Mode::Realtime);
        let [w] = &p.warnings[..] else {
            panic!("{:?}", p.warnings);
        };
        assert_eq!((w.line, w.column), (2, 1));
        assert!(w.to_string().contains("unknown setting `colour`"), "{w}");
    }
}
