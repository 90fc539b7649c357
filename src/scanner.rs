//! The secret scanner: finds the credentials people actually leak, in text an assistant
//! wrote, before it is committed or pushed.
//!
//! A literal prefilter (Aho-Corasick over every rule's anchor words) skips the lines no rule
//! could match; the regexes run only on the rest. Findings name file, line, column and rule,
//! and show at most the secret's first four characters. False positives are allowed by an
//! inline `aisync:allow` marker or by `.aisync-allow` (path globs, rule ids, fingerprints).

use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use globset::{Glob, GlobSet, GlobSetBuilder};
use regex::bytes::Regex;

pub const ALLOW_FILE: &str = ".aisync-allow";

/// One secret found.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    pub line: usize,
    pub column: usize,
    pub rule: &'static str,
    /// The first four characters at most, then `…`.
    pub redacted: String,
    /// Identifies this secret (rule and value, hashed) for `.aisync-allow`.
    pub fingerprint: String,
}

struct Rule {
    id: &'static str,
    /// Words one of which a line must hold for the regex to run (lower case).
    anchors: &'static [&'static str],
    pattern: &'static str,
    /// The capture group holding the secret (0: the whole match).
    group: usize,
    /// What the value must look like besides matching.
    check: Check,
}

/// What a rule asks of the value it matched, beyond the pattern.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Check {
    /// The pattern says it all (a documented example key aside).
    Pattern,
    /// Random-looking: not a word, an identifier, a path or a placeholder (generic rules).
    Random,
    /// A URL's password: not a placeholder word, not a port and path (`host:5432/db`).
    Password,
}

const RULES: &[Rule] = &[
    Rule {
        id: "private-key",
        anchors: &["-----begin"],
        pattern: r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?-----",
        group: 0,
        check: Check::Pattern,
    },
    Rule {
        id: "aws-access-key-id",
        anchors: &["akia", "asia", "abia", "acca"],
        pattern: r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b",
        group: 0,
        check: Check::Pattern,
    },
    Rule {
        id: "aws-secret-access-key",
        anchors: &["aws"],
        pattern: r#"(?i)aws.{0,20}(?:secret|sk|private).{0,20}?['"=:\s]{1,4}([A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$)"#,
        group: 1,
        check: Check::Random,
    },
    Rule {
        id: "github-token",
        anchors: &["ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"],
        pattern: r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})\b",
        group: 0,
        check: Check::Pattern,
    },
    Rule {
        id: "gitlab-token",
        anchors: &["glpat-", "glptt-"],
        pattern: r"\bglp(?:at|tt)-[A-Za-z0-9_-]{20,}",
        group: 0,
        check: Check::Pattern,
    },
    Rule {
        id: "slack-token",
        anchors: &["xox", "xapp-"],
        pattern: r"\b(?:xox[abposr]|xapp)-[A-Za-z0-9-]{10,}",
        group: 0,
        check: Check::Pattern,
    },
    Rule {
        id: "slack-webhook",
        anchors: &["hooks.slack.com"],
        pattern: r"https://hooks\.slack\.com/services/T[A-Z0-9]{6,}/B[A-Z0-9]{6,}/[A-Za-z0-9]{20,}",
        group: 0,
        check: Check::Pattern,
    },
    Rule {
        id: "stripe-key",
        anchors: &["sk_live_", "sk_test_", "rk_live_", "rk_test_"],
        pattern: r"\b[sr]k_(?:live|test)_[A-Za-z0-9]{20,}",
        group: 0,
        check: Check::Pattern,
    },
    Rule {
        id: "anthropic-api-key",
        anchors: &["sk-ant-"],
        pattern: r"\bsk-ant-[A-Za-z0-9_-]{32,}",
        group: 0,
        check: Check::Pattern,
    },
    Rule {
        id: "openai-api-key",
        anchors: &["sk-"],
        pattern: r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{32,}",
        group: 0,
        check: Check::Random,
    },
    Rule {
        id: "google-api-key",
        anchors: &["aiza"],
        pattern: r"\bAIza[0-9A-Za-z_-]{35}",
        group: 0,
        check: Check::Pattern,
    },
    Rule {
        id: "google-oauth-secret",
        anchors: &["gocspx-"],
        pattern: r"\bGOCSPX-[A-Za-z0-9_-]{24,}",
        group: 0,
        check: Check::Pattern,
    },
    Rule {
        id: "jwt",
        anchors: &["eyj"],
        pattern: r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}",
        group: 0,
        check: Check::Pattern,
    },
    Rule {
        id: "database-url-password",
        // The schemes, not `://`: every link in a note has that.
        anchors: &[
            "postgres",
            "mysql",
            "mariadb",
            "mongodb",
            "redis",
            "amqp",
            "mssql",
            "sqlserver",
        ],
        // No user (`redis://:pw@host`) is a password too; a password may hold `/` or `+`.
        pattern: r"\b(?:postgres(?:ql)?|mysql|mariadb|mongodb(?:\+srv)?|redis|rediss|amqps?|mssql|sqlserver)://[^\s:/@]*:([^\s@]{3,})@",
        group: 1,
        check: Check::Password,
    },
    Rule {
        id: "generic-secret",
        anchors: &[
            "password",
            "passwd",
            "secret",
            "token",
            "api_key",
            "apikey",
            "api-key",
            "access_key",
            "accesskey",
            "access-key",
        ],
        // The key word anywhere in a key's name (`DB_PASSWORD`, `client_secret`,
        // `accessToken`, `OPENAI_API_KEY`), followed only by more name parts that start
        // with `_`, `-`, `.` or a capital (`SECRET_KEY`, `secretKey`), never by more of a
        // word (`tokenizer`, `secretary`, `passwords`); then `=` or `:` and the value.
        pattern: r#"(?i:password|passwd|secret|token|api[_-]?key|access[_-]?key)(?:[_.-][A-Za-z0-9]+|[A-Z][a-z0-9]+)*["']?\s*(?::=|=>|[:=])\s*["'`]?([^\s"'`,;]{12,})"#,
        group: 1,
        check: Check::Random,
    },
];

struct Compiled {
    prefilter: AhoCorasick,
    /// For each anchor (by pattern index), the rule it belongs to.
    anchor_rule: Vec<usize>,
    /// Compiled on first use: most scans (a hook on a clean commit) need none of them.
    regexes: Vec<OnceLock<Regex>>,
}

fn compiled() -> &'static Compiled {
    static C: OnceLock<Compiled> = OnceLock::new();
    C.get_or_init(|| {
        let mut anchors = Vec::new();
        let mut anchor_rule = Vec::new();
        for (i, r) in RULES.iter().enumerate() {
            for a in r.anchors {
                anchors.push(*a);
                anchor_rule.push(i);
            }
        }
        Compiled {
            prefilter: AhoCorasickBuilder::new()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::Standard)
                .build(&anchors)
                .expect("the anchor words build"),
            anchor_rule,
            regexes: RULES.iter().map(|_| OnceLock::new()).collect(),
        }
    })
}

/// The allowlist: `.aisync-allow` lines `path:GLOB`, `rule:ID`, `fingerprint:HEX` (or a bare
/// fingerprint); `#` starts a comment.
#[derive(Default)]
pub struct Allow {
    paths: Option<GlobSet>,
    rules: Vec<String>,
    fingerprints: Vec<String>,
}

impl Allow {
    pub fn parse(text: &str) -> Allow {
        let mut allow = Allow::default();
        let mut globs = GlobSetBuilder::new();
        let mut any_glob = false;
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            if let Some(glob) = line.strip_prefix("path:") {
                if let Ok(g) = Glob::new(glob.trim()) {
                    globs.add(g);
                    any_glob = true;
                }
            } else if let Some(rule) = line.strip_prefix("rule:") {
                allow.rules.push(rule.trim().to_string());
            } else {
                let fp = line.strip_prefix("fingerprint:").unwrap_or(line);
                allow.fingerprints.push(fp.trim().to_string());
            }
        }
        if any_glob {
            allow.paths = globs.build().ok();
        }
        allow
    }

    /// The allowlist of a working tree (none when there is no file).
    pub fn load(work_tree: &std::path::Path) -> Allow {
        std::fs::read_to_string(work_tree.join(ALLOW_FILE))
            .map(|t| Allow::parse(&t))
            .unwrap_or_default()
    }

    pub fn allows_path(&self, path: &str) -> bool {
        self.paths.as_ref().is_some_and(|g| g.is_match(path))
    }

    /// Whether a finding is accepted (its rule or its fingerprint is listed).
    pub fn allows(&self, f: &Finding) -> bool {
        self.rules.iter().any(|r| r == f.rule) || self.fingerprints.contains(&f.fingerprint)
    }
}

/// Secrets in `text`, less what the allowlist accepts.
pub fn scan_allowed(path: &str, text: &[u8], allow: &Allow) -> Vec<Finding> {
    if allow.allows_path(path) {
        return Vec::new();
    }
    scan(text)
        .into_iter()
        .filter(|f| !allow.allows(f))
        .collect()
}

/// Secrets in `text`: on its lines as they are, and in its quoted strings as they read once
/// their escapes are undone. An assistant's transcript keeps tool output inside JSON strings
/// (`"DB_PASSWORD=…\nAPI_TOKEN=\"…\""`), where `\n` and `\"` would hide an assignment
/// from a scan of the raw line; YAML's double-quoted scalars escape the same way. Binary
/// content (a NUL in the first 8 KB) holds no text to leak.
pub fn scan(text: &[u8]) -> Vec<Finding> {
    if text.iter().take(8192).any(|&b| b == 0) {
        return Vec::new();
    }
    let mut found = scan_lines(text);
    // Only a string with an escape reads differently decoded: most lines have none.
    let mut line_no = 1;
    for line in text.split(|&b| b == b'\n') {
        if memchr::memchr(b'\\', line).is_some()
            && memchr::memmem::find(line, b"aisync:allow").is_none()
        {
            let text = String::from_utf8_lossy(line);
            for (quotes, value) in escaped_strings(&text) {
                let decoded = scan_lines(value.as_bytes());
                if decoded.is_empty() {
                    continue;
                }
                // Columns in characters, counted only for a string that holds a secret (a
                // long line of escaped strings is read once, not once per string).
                let column = |byte: usize| text[..byte].chars().count() + 1;
                let columns = column(quotes.start)..=column(quotes.end);
                // What the raw scan saw inside this string, it saw through the escapes (a
                // value run on into `\nAPI_TOKEN`): the decoded reading replaces it.
                found.retain(|f| f.line != line_no || !columns.contains(&f.column));
                for mut f in decoded {
                    // Where the string starts on the raw line: a message a person can find.
                    (f.line, f.column) = (line_no, *columns.start());
                    if !found
                        .iter()
                        .any(|g| g.line == f.line && g.fingerprint == f.fingerprint)
                    {
                        found.push(f);
                    }
                }
            }
        }
        line_no += 1;
    }
    found.sort_by_key(|f| (f.line, f.column));
    found
}

/// The double-quoted strings of `line` that hold an escape, decoded (`\n`, `\t`, `\r`, `\"`,
/// `\\`, `\/`, `\uXXXX` with surrogate pairs, YAML's `\xXX`; any other escape is kept as
/// written), each with the byte offsets of its quotes.
fn escaped_strings(text: &str) -> Vec<(std::ops::Range<usize>, String)> {
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        if c != '"' {
            continue;
        }
        let (mut value, mut escaped, mut closed) = (String::new(), false, None);
        while let Some((end, c)) = chars.next() {
            match c {
                '"' => {
                    closed = Some(end);
                    break;
                }
                '\\' => {
                    escaped = true;
                    let Some((_, e)) = chars.next() else { break };
                    // Up to `n` hex digits, no further: a short escape leaves the closing
                    // quote where it is.
                    let hex = |n: usize, chars: &mut std::iter::Peekable<std::str::CharIndices>| {
                        let mut digits = String::new();
                        while digits.len() < n {
                            match chars.next_if(|(_, c)| c.is_ascii_hexdigit()) {
                                Some((_, c)) => digits.push(c),
                                None => break,
                            }
                        }
                        (digits.len() == n)
                            .then(|| u32::from_str_radix(&digits, 16).ok())
                            .flatten()
                    };
                    match e {
                        'n' => value.push('\n'),
                        't' => value.push('\t'),
                        'r' => value.push('\r'),
                        'u' => {
                            let mut code = hex(4, &mut chars);
                            // A surrogate pair: the low half follows as `\uXXXX`.
                            if let Some(high @ 0xD800..=0xDBFF) = code {
                                let mut ahead = chars.clone();
                                if matches!(ahead.next(), Some((_, '\\')))
                                    && matches!(ahead.next(), Some((_, 'u')))
                                {
                                    chars = ahead;
                                    code = hex(4, &mut chars).map(|low| {
                                        0x10000
                                            + ((high - 0xD800) << 10)
                                            + (low.wrapping_sub(0xDC00) & 0x3FF)
                                    });
                                }
                            }
                            value.extend(code.and_then(char::from_u32));
                        }
                        'x' => value.extend(hex(2, &mut chars).and_then(char::from_u32)),
                        '"' | '\\' | '/' => value.push(e),
                        other => {
                            value.push('\\');
                            value.push(other);
                        }
                    }
                }
                c => value.push(c),
            }
        }
        if let (Some(end), true) = (closed, escaped) {
            out.push((at..end, value));
        }
    }
    out
}

/// Secrets on the lines of `text`, as they are.
fn scan_lines(text: &[u8]) -> Vec<Finding> {
    let c = compiled();
    // One pass of the anchor words over the whole text: the lines they occur on, and which
    // rules could match there (most lines have none, and are never looked at again).
    let mut lines: Vec<(usize, usize, u32)> = Vec::new();
    for m in c.prefilter.find_overlapping_iter(text) {
        let rule = 1u32 << c.anchor_rule[m.pattern().as_usize()];
        match lines.last_mut() {
            Some((start, end, rules)) if *start <= m.start() && m.end() <= *end => *rules |= rule,
            _ => {
                let start = memchr::memrchr(b'\n', &text[..m.start()]).map_or(0, |i| i + 1);
                let end =
                    memchr::memchr(b'\n', &text[m.end()..]).map_or(text.len(), |i| m.end() + i);
                lines.push((start, end, rule));
            }
        }
    }
    // Checked once for the whole text: most is UTF-8, and then no line needs repairing.
    let utf8 = std::str::from_utf8(text).is_ok();
    // Likewise the inline marker: a text that never spells it needs no look on each line.
    let any_allow = memchr::memmem::find(text, b"aisync:allow").is_some();
    let mut found = Vec::new();
    let (mut line_no, mut counted) = (1, 0);
    for (start, end, candidates) in lines {
        line_no += memchr::memchr_iter(b'\n', &text[counted..start]).count();
        counted = start;
        // Text that is not UTF-8 is read with its odd bytes replaced (U+FFFD), so a secret
        // around a stray byte is still one run of characters.
        let line = if utf8 {
            std::borrow::Cow::Borrowed(&text[start..end])
        } else {
            match String::from_utf8_lossy(&text[start..end]) {
                std::borrow::Cow::Borrowed(s) => std::borrow::Cow::Borrowed(s.as_bytes()),
                std::borrow::Cow::Owned(s) => std::borrow::Cow::Owned(s.into_bytes()),
            }
        };
        let line: &[u8] = &line;
        if any_allow && memchr::memmem::find(line, b"aisync:allow").is_some() {
            continue;
        }
        let mut taken: Vec<std::ops::Range<usize>> = Vec::new();
        for (i, rule) in RULES.iter().enumerate() {
            if candidates & (1 << i) == 0 {
                continue;
            }
            let regex = c.regexes[i].get_or_init(|| {
                // The patterns are constants, checked by the tests below.
                Regex::new(rule.pattern).expect("the rules compile")
            });
            // Most candidate lines hold no match: say so without building captures.
            if !regex.is_match(line) {
                continue;
            }
            for caps in regex.captures_iter(line) {
                let Some(m) = caps.get(rule.group) else {
                    continue;
                };
                let secret = String::from_utf8_lossy(m.as_bytes());
                if !value_fits(rule.check, &secret) {
                    continue;
                }
                // One secret, one finding (the most specific rule comes first).
                if taken.iter().any(|r| r.start < m.end() && m.start() < r.end) {
                    continue;
                }
                taken.push(m.range());
                found.push(Finding {
                    line: line_no,
                    column: String::from_utf8_lossy(&line[..m.start()]).chars().count() + 1,
                    rule: rule.id,
                    redacted: format!("{}…", secret.chars().take(4).collect::<String>()),
                    fingerprint: crate::journal::content_id(&format!("{}\0{secret}", rule.id)),
                });
            }
        }
    }
    found
}

/// Whether a matched value is a secret by the rule's `check`. A documented example key
/// (AWS's `AKIAIOSFODNN7EXAMPLE`, anything spelled `EXAMPLE`) never is.
fn value_fits(check: Check, s: &str) -> bool {
    if s.to_ascii_lowercase().contains("example") {
        return false;
    }
    match check {
        Check::Pattern => true,
        Check::Random => {
            // A link (`token_uri: https://oauth2.googleapis.com/token`) or a resource name
            // (`secret_arn: arn:aws:…`) names where a secret is, not the secret.
            let link = s.contains("://") && !s.contains('@');
            !placeholder(s)
                && !identifier(s)
                && !link
                && !s.starts_with("arn:")
                && random_looking(s)
        }
        Check::Password => {
            let port_and_path = s
                .split_once('/')
                .is_some_and(|(port, _)| port.bytes().all(|b| b.is_ascii_digit()));
            let word = ["password", "passwd", "pass", "pwd", "secret", "changeme"]
                .contains(&s.to_ascii_lowercase().as_str());
            !placeholder(s) && !port_and_path && !word
        }
    }
}

/// A stand-in for a value (`<your key>`, `${VAR}`, `xxxx`, `changeme`…).
fn placeholder(s: &str) -> bool {
    let lower = s.to_lowercase();
    [
        "xxxx",
        "your",
        "changeme",
        "redacted",
        "placeholder",
        "<",
        "${",
        "{{",
        "****",
        "dummy",
        "sample",
    ]
    .iter()
    .any(|p| lower.contains(p))
        || s.starts_with('$')
        || s.starts_with('%')
}

/// A name in code, not a value: `process.env.API_TOKEN`, `getAccessToken()`, `config.secret`
/// — letters in words of three or more (a capital, `_` or `.` starts the next), no digit.
fn identifier(s: &str) -> bool {
    let s = s.trim_end_matches([';', ')', '(']);
    if s.is_empty()
        || !s
            .bytes()
            .all(|b| b.is_ascii_alphabetic() || b == b'_' || b == b'.')
    {
        return false;
    }
    let mut words: Vec<usize> = vec![0];
    let mut previous_capital = false;
    for c in s.chars() {
        match c {
            '_' | '.' => words.push(0),
            // A run of capitals (`URL`, `API`) is one word.
            c if c.is_ascii_uppercase() && !previous_capital => words.push(1),
            _ => {
                if let Some(n) = words.last_mut() {
                    *n += 1;
                }
            }
        }
        previous_capital = c.is_ascii_uppercase();
    }
    words.iter().skip(1).all(|&n| n == 0 || n >= 3)
}

/// Not a word or a path: mixed character classes and high Shannon entropy.
fn random_looking(s: &str) -> bool {
    if s.contains('/') && !s.contains('+') && s.len() < 40 {
        return false;
    }
    let classes = [
        s.chars().any(|c| c.is_ascii_lowercase()),
        s.chars().any(|c| c.is_ascii_uppercase()),
        s.chars().any(|c| c.is_ascii_digit()),
    ]
    .iter()
    .filter(|&&b| b)
    .count();
    if classes < 2 {
        return false;
    }
    let mut counts = std::collections::HashMap::new();
    for c in s.chars() {
        *counts.entry(c).or_insert(0usize) += 1;
    }
    let n = s.chars().count() as f64;
    let entropy: f64 = counts
        .values()
        .map(|&k| {
            let p = k as f64 / n;
            -p * p.log2()
        })
        .sum();
    entropy >= 3.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_next_to_a_byte_that_is_not_utf8_is_found() {
        let key = format!("{}{}", "password: Zk39f", "jQ02LmxPq7Tw");
        let mut text = b"notes\n".to_vec();
        text.extend_from_slice(&key.as_bytes()[..15]);
        text.push(0xE9);
        text.extend_from_slice(&key.as_bytes()[15..]);
        text.push(b'\n');
        let found = scan(&text);
        assert_eq!(
            found.len(),
            1,
            "{:?}",
            found.iter().map(|f| f.rule).collect::<Vec<_>>()
        );
        assert_eq!((found[0].line, found[0].rule), (2, "generic-secret"));
    }

    /// Tool output inside a transcript's JSON strings: the escapes (`\n`, `\"`, `\u`)
    /// hide assignments from a scan of the raw line; decoded, each is found, on the raw
    /// line, at its string.
    #[test]
    fn secrets_inside_json_and_yaml_strings_are_found_once_their_escapes_are_undone() {
        let (password, token) = (
            format!("Zq8vLm3K{}", "p9Xw2Rt7"),
            format!("a8F3kL9m{}", "Q2wE7rT5yU1i"),
        );
        let cases = [
            // An env file joined by `\n`.
            format!(
                r#"{{"role":"tool","content":"DB_PASSWORD={password}\nAPI_TOKEN=\"{token}\""}}"#
            ),
            // Escaped quotes around the value.
            format!(r#"{{"content":"use password = \"{password}\" in the config"}}"#),
            // `\u`-escaped characters in the name and around the value.
            format!(r#"{{"content":"\u0044B_PASSWORD\u003d{password}"}}"#),
            // A YAML double-quoted scalar.
            format!(r#"note: "export API_TOKEN=\"{token}\"\n""#),
        ];
        for case in &cases {
            let text = format!("first line\n{case}\n");
            let found = scan(text.as_bytes());
            assert!(!found.is_empty(), "nothing found in {case}");
            for f in &found {
                assert_eq!(f.line, 2, "{case}: {f:?}");
            }
            let secrets: Vec<_> = found.iter().map(|f| f.redacted.as_str()).collect();
            assert!(
                secrets
                    .iter()
                    .any(|r| r.starts_with(&password[..4]) || r.starts_with(&token[..4])),
                "{case}: {secrets:?}"
            );
        }
        // Both in one string: both found, each once.
        let found = scan(cases[0].as_bytes());
        assert_eq!(found.len(), 2, "{found:?}");
        // An escaped string with nothing secret in it stays clean.
        let clean =
            r#"{"content":"the password field must be at least 12 chars\nsee \"docs\"\u00e9"}"#;
        assert!(
            scan(clean.as_bytes()).is_empty(),
            "{:?}",
            scan(clean.as_bytes())
        );
    }

    /// Escapes that end early or name nothing: never a panic, and a short `\u12` leaves
    /// its closing quote where it is, so the next string on the line is read as itself.
    #[test]
    fn odd_escapes_are_read_without_a_panic_and_keep_their_strings_apart() {
        for odd in [
            "\"\\",
            "\"abc\\",
            "\"\\u12\"",
            "\"\\ud800\"",
            "\"\\udc00\\u\"",
            "\"\\x4\"",
            "\"é\\n\"",
            "\"\\u+1aa\"",
            "\\\"\"\\",
        ] {
            scan(odd.as_bytes());
        }
        let password = format!("Zq8vLm3K{}", "p9Xw2Rt7");
        let text = format!(r#"{{"a":"\u12","b":"DB_PASSWORD=\"{password}\""}}"#);
        let found = scan(text.as_bytes());
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            found[0].column,
            text.find("\"DB_").unwrap() + 1,
            "{found:?}"
        );
    }

    #[test]
    fn every_rule_compiles() {
        for rule in RULES {
            assert!(Regex::new(rule.pattern).is_ok(), "{}", rule.id);
        }
    }

    #[test]
    fn finds_keys_and_shows_four_characters_at_most() {
        let key = format!("AKIA{}", "Q7WERTYUIOPASDF2");
        let text = format!("# notes\n- deploy key: {key}\n");
        let f = scan(text.as_bytes());
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(
            (f[0].line, f[0].column, f[0].rule, f[0].redacted.as_str()),
            (2, 15, "aws-access-key-id", "AKIA…")
        );
        let pem = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n";
        assert_eq!(scan(pem.as_bytes())[0].rule, "private-key");
    }

    #[test]
    fn ordinary_notes_are_clean() {
        let text = "- uses scikit-learn and sk-learn-style APIs\n- commit 1f2e3d4c5b6a7d8e9f0a\n- AKIA is an AWS prefix\n- the password field must be at least 12 chars\n- token: see the docs\n- id 550e8400-e29b-41d4-a716-446655440000\n";
        assert_eq!(scan(text.as_bytes()), Vec::new());
    }

    #[test]
    fn the_allowlist_and_the_inline_marker_silence_false_positives() {
        let key = format!("ghp_{}", "a1B2".repeat(9));
        let text = format!("token = {key}\n");
        let f = scan(text.as_bytes());
        assert_eq!(f.len(), 1);
        let allow = Allow::parse(&format!("fingerprint:{}\n", f[0].fingerprint));
        assert!(scan_allowed("memory/a.md", text.as_bytes(), &allow).is_empty());
        assert!(scan_allowed(
            "docs/x.md",
            text.as_bytes(),
            &Allow::parse("path:docs/**\n")
        )
        .is_empty());
        assert!(
            scan_allowed("a", text.as_bytes(), &Allow::parse("rule:github-token\n")).is_empty()
        );
        assert!(scan(format!("{key} # aisync:allow\n").as_bytes()).is_empty());
    }

    /// A value built here, random enough to be a key (never a real one).
    fn value(n: usize) -> String {
        "Zk39fjQ02LmxPq7TwR8sVbN4hY6uEa1c"
            .chars()
            .cycle()
            .take(n)
            .collect()
    }

    #[test]
    fn key_names_with_a_prefix_or_a_suffix_are_caught() {
        let v = value(24);
        let lines = [
            format!("API_TOKEN={v}"),
            format!("GITHUB_TOKEN={v}"),
            format!("SECRET_KEY={v}"),
            format!("DB_PASSWORD={v}"),
            format!("db_password: {v}"),
            format!("client_secret={v}"),
            format!("\"accessToken\": \"{v}\""),
            format!("{{\"auth_token\":\"{v}\"}}"),
            format!("\"secretKey\": \"{v}\""),
            format!("OPENAI_API_KEY={v}"),
            format!("AccessKey: {v}"),
            format!("export STRIPE_SECRET_KEY_VALUE='{v}'"),
        ];
        for line in &lines {
            let f = scan(format!("{line}\n").as_bytes());
            assert_eq!(
                f.iter().map(|f| f.rule).collect::<Vec<_>>(),
                ["generic-secret"],
                "{line}"
            );
            assert_eq!(f[0].redacted, "Zk39…");
        }
        for url in [
            "redis://:Zk39fjQ02LmxPq7Tw@cache:6379/0".to_string(),
            "postgresql://app:Zk39/fjQ02Lmx+Pq7Tw@db/app".to_string(),
        ] {
            let f = scan(format!("- {url}\n").as_bytes());
            assert_eq!(f.len(), 1, "{url}");
            assert_eq!(f[0].rule, "database-url-password");
        }
        for (key, rule) in [
            (format!("glptt-{}", value(40)), "gitlab-token"),
            (format!("xapp-1-A0B1C2D3E4F-{}", value(30)), "slack-token"),
            (format!("GOCSPX-{}", value(28)), "google-oauth-secret"),
        ] {
            let f = scan(format!("- {key}\n").as_bytes());
            assert_eq!(f.iter().map(|f| f.rule).collect::<Vec<_>>(), [rule]);
        }
    }

    #[test]
    fn prose_code_and_placeholders_about_secrets_stay_clean() {
        let text = "\
- the token expires after 1 hour
- password: see vault
- password: hunter2
- Password: ask Sam, it rotates monthly
- api_key: <your api key here>
- OPENAI_API_KEY=${OPENAI_API_KEY}
- SECRET_KEY=changeme-in-production
- GITHUB_TOKEN: $GITHUB_TOKEN
- DB_PASSWORD=**************
- client_secret: YOUR_CLIENT_SECRET_HERE
- token_count: 1234567890123
- tokenizer = AutoTokenizer.from_pretrained(name)
- secretary: Margaret Hamilton-Smith
- passwords = loadPasswordsFromDisk()
- let token = process.env.GITHUB_TOKEN;
- const accessToken = getAccessTokenFromEnv();
- postgres://db.internal:5432/app?sslmode=require
- postgres://user:password@localhost/app
- postgres://app:${DB_PASS}@db/app
- redis://cache:6379/0
- AKIAIOSFODNN7EXAMPLE is the key AWS's documentation uses
- aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
- \"token_endpoint\": \"https://login.microsoftonline.com/common/oauth2/v2.0/token\"
- secret_arn: arn:aws:secretsmanager:us-east-1:123456789012:secret:MyAppKey-AbCdEf
";
        let found = scan(text.as_bytes());
        assert!(
            found.is_empty(),
            "{:?}",
            found
                .iter()
                .map(|f| (f.line, f.rule, &f.redacted))
                .collect::<Vec<_>>()
        );
    }
}
