//! Words for a POSIX shell: the one quoting function for every command line git-aisync
//! writes (hook shims, SSH remote scripts, cron lines) or suggests to a person.

/// `s` in single quotes for a POSIX shell, whatever it holds (a `'` becomes `'\''`).
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// `s` as a person would type it: bare when it is plainly one word (letters, digits,
/// `/._-`, not starting with `-`), else [`quote`]d.
pub fn word(s: &str) -> String {
    let plain = s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/._-".contains(&b))
        && !s.starts_with('-')
        && !s.is_empty();
    if plain {
        s.to_string()
    } else {
        quote(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_survive_a_real_shell() {
        for s in ["plain", "it's", "a b", "$HOME", "-n", "", "'\\''", "x\ny"] {
            let out = std::process::Command::new("sh")
                .args(["-c", &format!("printf %s {}", quote(s))])
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout), s, "{s:?}");
            let out = std::process::Command::new("sh")
                .args(["-c", &format!("printf %s {}", word(s))])
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout), s, "{s:?}");
        }
        assert_eq!(word("memory/a.md"), "memory/a.md");
        assert_eq!(word("-rf"), "'-rf'");
    }
}
