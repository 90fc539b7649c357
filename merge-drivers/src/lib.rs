//! Format-aware three-way merges for AI memory files.
//!
//! Bytes in, bytes and conflict records out: this crate knows nothing of git, files or the
//! environment, so every merge can be tested and benchmarked alone. The CLI reads the three
//! files git hands it, calls [`merge`], writes [`Merged::output`] and journals the records.
//!
//! Every kind obeys one contract (DESIGN §5): the result never depends on which side is
//! "ours" (except under the `ours`/`theirs` policies), unchanged text keeps its bytes, a value
//! the merge had to override is returned as a [`Record`], and an input the structural merge
//! cannot read falls back to the line merge of [`text`].

mod eol;
mod instant;
mod json;
mod jsonl;
mod markdown;
mod record;
mod sequence;
mod sides;
pub mod text;
mod toml;
mod tree;
mod yaml;

pub use json::spans as json_spans;
pub use record::{Record, Rule};

use std::fmt;
use std::str::FromStr;

use sides::Sides;

/// The kinds of file a driver is registered for (`git aisync merge-driver KIND …`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Json,
    Jsonl,
    Yaml,
    Markdown,
    Toml,
    Text,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Json,
        Kind::Jsonl,
        Kind::Yaml,
        Kind::Markdown,
        Kind::Toml,
        Kind::Text,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Json => "json",
            Kind::Jsonl => "jsonl",
            Kind::Yaml => "yaml",
            Kind::Markdown => "markdown",
            Kind::Toml => "toml",
            Kind::Text => "text",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Kind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                format!(
                    "unknown merge kind `{s}` (expected json, jsonl, yaml, markdown, toml or text)"
                )
            })
    }
}

/// What to do when both sides gave one value two different new contents.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Policy {
    /// Pick one side symmetrically (newer timestamp, else canonical order) and journal the other.
    #[default]
    Journal,
    /// Always keep ours (journaled). Deliberately not symmetric.
    Ours,
    /// Always keep theirs (journaled). Deliberately not symmetric.
    Theirs,
    /// Leave conflict markers and report a conflict.
    Markers,
    /// Keep both versions of a text edited differently on both sides, one after the other
    /// (journaled). The default for Markdown notes; for values it acts as `journal`.
    KeepBoth,
}

impl FromStr for Policy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "journal" => Ok(Policy::Journal),
            "ours" => Ok(Policy::Ours),
            "theirs" => Ok(Policy::Theirs),
            "markers" => Ok(Policy::Markers),
            "keep-both" => Ok(Policy::KeepBoth),
            _ => Err(format!(
                "unknown conflict policy `{s}` (expected journal, keep-both, ours, theirs or markers)"
            )),
        }
    }
}

/// Identity keys tried, in order, after the configured ones.
pub const DEFAULT_IDENTITY_KEYS: [&str; 4] = ["id", "uuid", "key", "name"];

/// Timestamp fields that order records and decide scalar collisions.
pub const TIMESTAMP_KEYS: [&str; 5] = ["updated_at", "updatedAt", "modified", "timestamp", "ts"];

#[derive(Clone, Debug)]
pub struct Options {
    pub policy: Policy,
    /// Identity keys tried before [`DEFAULT_IDENTITY_KEYS`].
    pub identity_keys: Vec<String>,
    /// Length of conflict markers (git's `%L`).
    pub marker_size: usize,
    /// The path being merged, as recorded in journal records.
    pub path: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            policy: Policy::Journal,
            identity_keys: Vec::new(),
            marker_size: 7,
            path: String::new(),
        }
    }
}

impl Options {
    pub(crate) fn identity_keys(&self) -> impl Iterator<Item = &str> {
        self.identity_keys
            .iter()
            .map(String::as_str)
            .chain(DEFAULT_IDENTITY_KEYS)
    }
}

/// How a merge was decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// The format-aware merge.
    Structural,
    /// The plain line merge, either because it was already right or as the fallback.
    Lines,
}

#[derive(Debug)]
pub struct Merged {
    pub output: Vec<u8>,
    /// Conflict markers were left in `output`.
    pub conflicted: bool,
    /// Every value the merge overrode or doubled.
    pub records: Vec<Record>,
    pub method: Method,
}

fn structural(kind: Kind, texts: Sides<&[u8]>, options: &Options) -> Option<Merged> {
    match kind {
        Kind::Json => json::merge(texts, options),
        Kind::Jsonl => jsonl::merge(texts, options),
        Kind::Markdown => markdown::merge(texts, options),
        Kind::Yaml => yaml::merge(texts, options),
        Kind::Toml => toml::merge(texts, options),
        Kind::Text => None,
    }
}

/// The `markers` policy: merge twice, collisions going to ours then to theirs, and mark the
/// lines where the two results differ: whole lines for a person, everything else merged.
fn with_markers(kind: Kind, texts: Sides<&[u8]>, options: &Options) -> Option<Merged> {
    let pick = |policy| {
        let options = Options {
            policy,
            ..options.clone()
        };
        structural(kind, texts, &options)
    };
    let (with_ours, with_theirs) = (pick(Policy::Ours)?, pick(Policy::Theirs)?);
    if with_ours.output == with_theirs.output {
        return Some(with_ours);
    }
    // What the markers show is no decision; a deletion the merge overrode still is.
    let records = with_ours
        .records
        .into_iter()
        .filter(|r| !matches!(r.rule, Rule::Policy(_)))
        .collect();
    Some(Merged {
        output: text::mark_differences(&with_ours.output, &with_theirs.output, options.marker_size),
        conflicted: true,
        records,
        method: Method::Structural,
    })
}

/// Whether `text`, a file of `kind`, really holds conflict markers of `marker_size`: for
/// Markdown, outside its fenced code blocks (a fence showing an example is content). The
/// one test the drivers and the sync cycle's "never commit markers" rail share.
pub fn has_conflict_markers(kind: Kind, text: &[u8], marker_size: usize) -> bool {
    match kind {
        Kind::Markdown => markdown::has_conflict_markers(text, marker_size),
        _ => text::has_conflict_markers(text, marker_size),
    }
}

/// What keeps `text` from being read as a file of `kind`, if anything: for `json`, not JSON
/// nor JSONC nor JSON5; for `toml`, not TOML (the parser's message). Other kinds: `None`.
pub fn syntax_problem(kind: Kind, text: &[u8]) -> Option<String> {
    let text = eol::strip_bom(text).1;
    match kind {
        Kind::Json => json::syntax_problem(text),
        Kind::Toml => toml::syntax_problem(text),
        _ => None,
    }
}

/// Merges `ours` and `theirs`, two descendants of `base`, as a file of `kind`.
///
/// An empty `base` means the file was added on both sides.
pub fn merge(kind: Kind, base: &[u8], ours: &[u8], theirs: &[u8], options: &Options) -> Merged {
    // A side holding conflict markers (git's virtual base of a criss-cross merge, a file
    // committed half-resolved) is not data to merge structurally.
    let has_markers = |text: &[u8]| has_conflict_markers(kind, text, options.marker_size);
    let texts = Sides::new(base, ours, theirs);
    let marked = texts.iter().any(|side| has_markers(side));
    let structural = if marked {
        None
    } else if options.policy == Policy::Markers {
        with_markers(kind, texts, options)
    } else {
        structural(kind, texts, options)
    };
    let mut merged = structural.unwrap_or_else(|| {
        let lines = text::merge(base, ours, theirs, options.marker_size);
        Merged {
            output: lines.output,
            conflicted: lines.conflicted,
            records: Vec::new(),
            method: Method::Lines,
        }
    });
    // Inputs that already held markers keep them: never report such a file as clean.
    if !merged.conflicted && has_markers(&merged.output) {
        merged.conflicted = true;
    }
    merged
}
