//! The secret scanner: finds credentials in text before they are committed or pushed.
//!
//! This is the seam the sync cycle calls before every automatic commit. Its rules are the
//! unmistakable ones (private key blocks, AWS access key ids, GitHub and Anthropic/OpenAI
//! tokens); the full rule set, allowlist and the pre-push gate come with the secret gate.

/// One secret found: where, which rule, and the secret shown redacted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub line: usize,
    pub column: usize,
    pub rule: &'static str,
    pub redacted: String,
}

/// Secrets in `text` (binary files are skipped: they hold no text to leak this way).
pub fn scan(text: &[u8]) -> Vec<Finding> {
    if text.iter().take(8000).any(|&b| b == 0) {
        return Vec::new();
    }
    let mut found = Vec::new();
    for (n, line) in text.split(|&b| b == b'\n').enumerate() {
        if line.windows(12).any(|w| w == b"aisync:allow") {
            continue;
        }
        if let Some(col) = find(line, b"-----BEGIN ") {
            if find(&line[col..], b"PRIVATE KEY-----").is_some() {
                found.push(finding(n, col, "private-key", &line[col..]));
            }
        }
        for (prefix, rule, min) in [
            (&b"AKIA"[..], "aws-access-key-id", 16),
            (b"ghp_", "github-token", 30),
            (b"gho_", "github-token", 30),
            (b"ghs_", "github-token", 30),
            (b"github_pat_", "github-token", 30),
            (b"sk-ant-", "anthropic-api-key", 30),
            (b"sk-proj-", "openai-api-key", 30),
        ] {
            let mut from = 0;
            while let Some(at) = find(&line[from..], prefix).map(|i| i + from) {
                let body = &line[at + prefix.len()..];
                let len = body
                    .iter()
                    .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_' || **b == b'-')
                    .count();
                let boundary = at == 0 || !line[at - 1].is_ascii_alphanumeric();
                let exact = rule != "aws-access-key-id"
                    || body[..len]
                        .iter()
                        .take(16)
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
                if boundary && len >= min && exact {
                    found.push(finding(n, at, rule, &line[at..at + prefix.len() + len]));
                }
                from = at + prefix.len();
            }
        }
    }
    found
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn finding(line: usize, column: usize, rule: &'static str, secret: &[u8]) -> Finding {
    let shown: String = String::from_utf8_lossy(secret).chars().take(4).collect();
    Finding {
        line: line + 1,
        column: column + 1,
        rule,
        redacted: format!("{shown}…"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_keys_and_shows_four_characters_at_most() {
        let key = format!("AKIA{}", "Q".repeat(16));
        let text = format!("# notes\n- deploy key: {key}\n");
        let f = scan(text.as_bytes());
        assert_eq!(f.len(), 1);
        assert_eq!(
            (f[0].line, f[0].rule, f[0].redacted.as_str()),
            (2, "aws-access-key-id", "AKIA…")
        );
        let pem = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n";
        assert_eq!(scan(pem.as_bytes())[0].rule, "private-key");
    }

    #[test]
    fn ordinary_notes_are_clean() {
        let text = "- uses scikit-learn and sk-learn-style APIs\n- commit 1f2e3d4c5b6a\n- AKIA is an AWS prefix\n";
        assert!(scan(text.as_bytes()).is_empty());
    }
}
