//! The assistants git-aisync bridges, as data (DESIGN §9): where each keeps its files on this
//! machine, and which of them sync. Correcting one after a vendor moves a file is editing
//! its table in `table.rs`; nothing else here knows one assistant from another.

mod table;

use std::path::{Path, PathBuf};

use serde::Serialize;

pub use table::ADAPTERS;

/// The repository folder every assistant's synced files live under.
pub const REPO_DIR: &str = "assistants";

/// What a path of an assistant's is, for syncing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Class {
    /// Synced: the same on every machine.
    Portable,
    /// This machine's state (trust, approvals, counters, absolute paths): never synced.
    Local,
    /// Credentials: never synced, never printed.
    Secret,
    /// A cache or index the tool rebuilds: not synced.
    Derived,
    /// Transcripts and prompt history: synced only with `connect --with-transcripts`.
    OptIn,
}

impl Class {
    /// Why a path of this class stays on this machine, in a person's words.
    pub fn why_local(self) -> &'static str {
        match self {
            Class::Portable => "synced",
            Class::Local => "machine state",
            Class::Secret => "secret",
            Class::Derived => "cache",
            Class::OptIn => "transcripts: --with-transcripts",
        }
    }
}

/// One pattern of a place's files (a glob over the path inside the place, `/`-separated)
/// and what matching files are. The first rule that matches decides; a file no rule
/// matches stays local (a vendor's new file is not synced before someone says it should be).
#[derive(Clone, Copy, Debug)]
pub struct Rule {
    pub pattern: &'static str,
    pub class: Class,
}

/// Where a place is on this machine.
#[derive(Clone, Copy, Debug)]
pub enum Live {
    /// A folder or file under the home folder (`.claude`, `.claude.json`); `None` where the
    /// tool has no default and only its variable says where (the MCP memory server's file).
    Home(Option<&'static str>),
}

/// An environment variable that moves a place: its value, joined with `join` (empty: the
/// value itself).
#[derive(Clone, Copy, Debug)]
pub struct Env {
    pub var: &'static str,
    pub join: &'static str,
}

/// A file that mixes portable and machine state: which part goes to the repository.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Projection {
    /// A JSON object of which only these top-level members sync.
    JsonMembers(&'static [&'static str]),
    /// A TOML document without these tables (dotted paths: `hooks.state`).
    TomlWithout(&'static [&'static str]),
}

/// One folder or file an assistant keeps, and how it maps into `assistants/<name>/`.
#[derive(Clone, Copy, Debug)]
pub struct Place {
    pub live: Live,
    /// The variable that moves it (`CLAUDE_CONFIG_DIR`, `CODEX_HOME`).
    pub env: Option<Env>,
    /// A single file rather than a folder.
    pub file: bool,
    /// Its path inside `assistants/<name>/` ("" for the folder itself).
    pub repo: &'static str,
    /// For a folder: what its files are. A file place is portable (or projected).
    pub rules: &'static [Rule],
    pub projection: Option<Projection>,
    /// The folder whose children are named after a project's absolute path (Claude Code's
    /// `projects/<encoded cwd>/`): in the repository they are named by project key.
    pub projects: Option<&'static str>,
    /// A folder inside every project checkout this machine knows (`.cursor/rules`), at
    /// `Live::Home`'s path read from the checkout; in the repository under
    /// `projects/<project key>/`. Files the project's own git tracks stay with it.
    pub in_project: bool,
}

/// An assistant: its command-line name and its places.
#[derive(Clone, Copy, Debug)]
pub struct Adapter {
    pub name: &'static str,
    pub title: &'static str,
    pub places: &'static [Place],
    /// Patterns (relative to the place) of the files an assistant writes while it saves
    /// one: one beside a file means "busy, come back" (`*.lock`, `*.tmp.<pid>`).
    pub busy: &'static [&'static str],
}

/// The adapter named `name` (a command-line name).
pub fn find(name: &str) -> Option<&'static Adapter> {
    ADAPTERS.iter().find(|a| a.name == name)
}

/// The names, for messages.
pub fn names() -> String {
    ADAPTERS
        .iter()
        .map(|a| a.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// What decides where places are on this machine: the home folder, the environment, and
/// the per-machine root overrides (`aisync.assistant.<name>.root`).
pub struct Machine<'a> {
    pub home: PathBuf,
    pub env: &'a dyn Fn(&str) -> Option<String>,
    pub root_override: &'a dyn Fn(&str) -> Option<String>,
}

impl Machine<'_> {
    /// Where `place` of `adapter` is here; `None` where nothing says (no default, no
    /// variable). The root override moves the first place, and every place that follows
    /// the same variable.
    pub fn locate(&self, adapter: &Adapter, place: &Place) -> Option<PathBuf> {
        let first_var = adapter.places.first().and_then(|p| p.env).map(|e| e.var);
        if let Some(root) = (self.root_override)(adapter.name).filter(|r| !r.is_empty()) {
            let root = self.expand(&root);
            let same_var = place.env.is_some_and(|e| Some(e.var) == first_var);
            if std::ptr::eq(place, &adapter.places[0]) {
                return Some(root);
            }
            if let (true, Some(env)) = (same_var, place.env) {
                return Some(join(&root, env.join));
            }
        }
        if let Some(env) = place.env {
            if let Some(value) = (self.env)(env.var).filter(|v| !v.is_empty()) {
                return Some(join(&self.expand(&value), env.join));
            }
        }
        match place.live {
            Live::Home(Some(rel)) => Some(self.home.join(rel)),
            Live::Home(None) => None,
        }
    }

    /// `~/x` read from the home folder.
    fn expand(&self, path: &str) -> PathBuf {
        match path.strip_prefix("~/") {
            Some(rest) => self.home.join(rest),
            None => PathBuf::from(path),
        }
    }

    /// Whether the assistant is installed here: one of its places exists.
    pub fn installed(&self, adapter: &Adapter) -> bool {
        adapter.places.iter().any(|p| {
            self.locate(adapter, p)
                .is_some_and(|path| path.symlink_metadata().is_ok())
        })
    }
}

fn join(base: &Path, rel: &str) -> PathBuf {
    if rel.is_empty() {
        base.to_path_buf()
    } else {
        base.join(rel)
    }
}

impl Place {
    /// The class of the file at `rel` (inside a folder place).
    pub fn class_of(&self, rel: &str) -> Class {
        if self.file {
            return Class::Portable;
        }
        self.rules
            .iter()
            .find(|r| glob_match(r.pattern, rel))
            .map_or(Class::Local, |r| r.class)
    }

    /// Whether a folder at `rel` (inside a folder place) can hold a file of one of
    /// `classes`: the walk does not go into the others (transcript folders, caches).
    pub fn may_hold(&self, rel: &str, classes: &[Class]) -> bool {
        self.rules
            .iter()
            .filter(|r| classes.contains(&r.class))
            .any(|r| pattern_may_hold(r.pattern, rel))
    }
}

/// Whether `path` matches the glob `pattern` (`*` within a segment, `**` across segments).
/// Patterns are the tables' own (a few dozen): each is compiled once per process.
pub fn glob_match(pattern: &str, path: &str) -> bool {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static COMPILED: OnceLock<Mutex<HashMap<String, Option<globset::GlobMatcher>>>> =
        OnceLock::new();
    let mut compiled = COMPILED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    compiled
        .entry(pattern.to_string())
        .or_insert_with(|| {
            globset::GlobBuilder::new(pattern)
                .literal_separator(true)
                .build()
                .ok()
                .map(|g| g.compile_matcher())
        })
        .as_ref()
        .is_some_and(|m| m.is_match(path))
}

/// Whether the folder `dir` can hold a path that `pattern` matches: each of its segments
/// matches the pattern's segment at that depth, up to a `**`.
fn pattern_may_hold(pattern: &str, dir: &str) -> bool {
    let segments: Vec<&str> = pattern.split('/').collect();
    for (i, seg) in dir.split('/').enumerate() {
        match segments.get(i) {
            Some(&"**") => return true,
            // The last segment names files; a folder cannot be deeper than it.
            Some(p) if i + 1 < segments.len() => {
                if !glob_match(p, seg) {
                    return false;
                }
            }
            _ => return false,
        }
    }
    true
}

/// A project's folder name as Claude Code makes it from the absolute working directory:
/// every character that is not an ASCII letter or digit becomes `-`. Names longer than
/// [`ENCODED_MAX`] are cut there and suffixed with a hash, so they compare by that prefix.
pub fn encode_project_path(path: &str) -> String {
    path.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// Where Claude Code cuts a long encoded name.
pub const ENCODED_MAX: usize = 200;

/// Whether the folder name `name` is what the assistant makes of the checkout at `path`.
pub fn names_checkout(name: &str, path: &str) -> bool {
    let encoded = encode_project_path(path);
    if encoded.len() <= ENCODED_MAX {
        return name == encoded;
    }
    name.len() > ENCODED_MAX && name.as_bytes()[..ENCODED_MAX] == encoded.as_bytes()[..ENCODED_MAX]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_adapter_has_a_unique_name_and_valid_patterns() {
        let mut seen = std::collections::HashSet::new();
        for a in ADAPTERS {
            assert!(seen.insert(a.name), "{} twice", a.name);
            assert!(!a.places.is_empty(), "{} has no place", a.name);
            for p in a.places {
                for r in p.rules {
                    globset::GlobBuilder::new(r.pattern)
                        .literal_separator(true)
                        .build()
                        .unwrap_or_else(|e| panic!("{}: {}: {e}", a.name, r.pattern));
                }
            }
        }
        for name in [
            "claude-code",
            "codex",
            "gemini",
            "cursor",
            "copilot",
            "cline",
            "windsurf",
            "continue",
            "aider",
            "mcp-memory",
        ] {
            assert!(find(name).is_some(), "{name} has no adapter");
        }
    }

    #[test]
    fn claude_code_classes_follow_the_assistants_facts() {
        let claude = find("claude-code").unwrap();
        let dir = &claude.places[0];
        for (rel, class) in [
            ("CLAUDE.md", Class::Portable),
            ("settings.json", Class::Portable),
            ("agents/reviewer.md", Class::Portable),
            ("rules/rust/style.md", Class::Portable),
            ("skills/pdf/SKILL.md", Class::Portable),
            ("projects/-home-u-shop/memory/MEMORY.md", Class::Portable),
            ("projects/-home-u-shop/0b1c.jsonl", Class::OptIn),
            ("history.jsonl", Class::OptIn),
            (".credentials.json", Class::Secret),
            ("settings.local.json", Class::Local),
            ("plugins/installed_plugins.json", Class::Local),
            ("plugins/cache/x/y.json", Class::Derived),
            ("todos/a.json", Class::Derived),
            ("some-new-file.bin", Class::Local),
        ] {
            assert_eq!(dir.class_of(rel), class, "{rel}");
        }
    }

    #[test]
    fn the_walk_skips_folders_that_cannot_hold_a_synced_file() {
        let claude = find("claude-code").unwrap();
        let dir = &claude.places[0];
        let synced = [Class::Portable];
        assert!(dir.may_hold("projects", &synced));
        assert!(dir.may_hold("projects/-home-u-shop", &synced));
        assert!(dir.may_hold("projects/-home-u-shop/memory", &synced));
        assert!(!dir.may_hold("projects/-home-u-shop/0b1c/subagents", &synced));
        assert!(!dir.may_hold("plugins", &synced));
        assert!(!dir.may_hold("todos", &synced));
        assert!(dir.may_hold("skills/pdf/scripts", &synced));
    }

    #[test]
    fn project_folders_are_named_as_claude_code_names_them() {
        assert_eq!(
            encode_project_path("/home/alice/code/shop"),
            "-home-alice-code-shop"
        );
        assert_eq!(encode_project_path("C:\\code\\shop"), "C--code-shop");
        assert_eq!(
            encode_project_path("/Users/a.b/my_proj"),
            "-Users-a-b-my-proj"
        );
        let long = format!("/home/u/{}", "x".repeat(300));
        let cut = format!("{}-1a2b3c", &encode_project_path(&long)[..ENCODED_MAX]);
        assert!(names_checkout(&cut, &long));
        assert!(!names_checkout(&cut, "/home/u/other"));
        assert!(names_checkout("-home-u-shop", "/home/u/shop"));
        assert!(!names_checkout("-home-u-shop", "/home/u/shop2"));
    }

    #[test]
    fn a_variable_or_an_override_moves_a_place() {
        let claude = find("claude-code").unwrap();
        let no_env = |_: &str| None;
        let no_root = |_: &str| None;
        let m = Machine {
            home: PathBuf::from("/h"),
            env: &no_env,
            root_override: &no_root,
        };
        assert_eq!(
            m.locate(claude, &claude.places[0]),
            Some(PathBuf::from("/h/.claude"))
        );
        assert_eq!(
            m.locate(claude, &claude.places[1]),
            Some(PathBuf::from("/h/.claude.json"))
        );
        let env = |v: &str| (v == "CLAUDE_CONFIG_DIR").then(|| "/cfg".to_string());
        let m = Machine {
            home: PathBuf::from("/h"),
            env: &env,
            root_override: &no_root,
        };
        assert_eq!(
            m.locate(claude, &claude.places[1]),
            Some(PathBuf::from("/cfg/.claude.json"))
        );
        let root = |n: &str| (n == "claude-code").then(|| "~/alt".to_string());
        let m = Machine {
            home: PathBuf::from("/h"),
            env: &env,
            root_override: &root,
        };
        assert_eq!(
            m.locate(claude, &claude.places[0]),
            Some(PathBuf::from("/h/alt"))
        );
        let memory = find("mcp-memory").unwrap();
        let m = Machine {
            home: PathBuf::from("/h"),
            env: &no_env,
            root_override: &no_root,
        };
        assert_eq!(m.locate(memory, &memory.places[0]), None);
    }
}
