//! JSON with comments (JSONC) and JSON5, read into values: to check a document that strict
//! JSON refuses, and to journal its values. Comments (`//`, `/* */`) and trailing commas;
//! JSON5's bare keys, single-quoted strings, hex numbers, `Infinity`, `NaN`, `+1`, `.5`, and
//! strings continued over lines. Nesting is limited to 128, as serde_json's.

use serde_json::{Map, Number, Value};

const MAX_DEPTH: usize = 128;

/// The value of a whole document (white space and comments around it), if it is one.
pub(crate) fn parse(text: &[u8]) -> Option<Value> {
    let mut p = Parser { text, pos: 0 };
    p.ws()?;
    let v = p.value(0)?;
    p.ws()?;
    (p.pos == text.len()).then_some(v)
}

/// Whether `text` is one JSONC or JSON5 document.
pub(crate) fn validate(text: &[u8]) -> bool {
    parse(text).is_some()
}

struct Parser<'t> {
    text: &'t [u8],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.pos).copied()
    }

    /// Skips white space and comments; `None` for a comment left open.
    fn ws(&mut self) -> Option<()> {
        loop {
            match self.peek() {
                Some(b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) => self.pos += 1,
                Some(b'/') => {
                    let rest = &self.text[self.pos..];
                    self.pos += match rest.get(1) {
                        Some(b'/') => memchr::memchr(b'\n', rest).unwrap_or(rest.len()),
                        Some(b'*') => memchr::memmem::find(&rest[2..], b"*/")? + 4,
                        _ => return None,
                    };
                }
                // No-break space, BOM, line and paragraph separators (JSON5 white space).
                Some(0xc2) if self.text.get(self.pos + 1) == Some(&0xa0) => self.pos += 2,
                Some(0xef) if self.text.get(self.pos + 1..self.pos + 3) == Some(b"\xbb\xbf") => {
                    self.pos += 3
                }
                Some(0xe2)
                    if matches!(
                        self.text.get(self.pos + 1..self.pos + 3),
                        Some(b"\x80\xa8" | b"\x80\xa9")
                    ) =>
                {
                    self.pos += 3
                }
                _ => return Some(()),
            }
        }
    }

    fn value(&mut self, depth: usize) -> Option<Value> {
        if depth > MAX_DEPTH {
            return None;
        }
        match self.peek()? {
            b'{' => self.object(depth),
            b'[' => self.array(depth),
            b'"' | b'\'' => self.string().map(Value::String),
            _ => self.scalar(),
        }
    }

    fn object(&mut self, depth: usize) -> Option<Value> {
        self.pos += 1;
        let mut map = Map::new();
        loop {
            self.ws()?;
            if self.peek()? == b'}' {
                self.pos += 1;
                return Some(Value::Object(map));
            }
            let key = match self.peek()? {
                b'"' | b'\'' => self.string()?,
                _ => self.name()?,
            };
            self.ws()?;
            if self.peek()? != b':' {
                return None;
            }
            self.pos += 1;
            self.ws()?;
            let v = self.value(depth + 1)?;
            map.insert(key, v);
            self.ws()?;
            match self.peek()? {
                b',' => self.pos += 1,
                b'}' => {}
                _ => return None,
            }
        }
    }

    fn array(&mut self, depth: usize) -> Option<Value> {
        self.pos += 1;
        let mut items = Vec::new();
        loop {
            self.ws()?;
            if self.peek()? == b']' {
                self.pos += 1;
                return Some(Value::Array(items));
            }
            items.push(self.value(depth + 1)?);
            self.ws()?;
            match self.peek()? {
                b',' => self.pos += 1,
                b']' => {}
                _ => return None,
            }
        }
    }

    /// A JSON5 bare key: letters, digits (not first), `_`, `$`, and any non-ASCII text.
    fn name(&mut self) -> Option<String> {
        let start = self.pos;
        while let Some(b) = self.peek() {
            if b.is_ascii_alphanumeric() || matches!(b, b'_' | b'$') || b >= 0x80 {
                self.pos += 1;
            } else {
                break;
            }
        }
        let name = &self.text[start..self.pos];
        if name.is_empty() || name[0].is_ascii_digit() {
            return None;
        }
        String::from_utf8(name.to_vec()).ok()
    }

    fn string(&mut self) -> Option<String> {
        let quote = self.peek()?;
        self.pos += 1;
        let mut out: Vec<u8> = Vec::new();
        loop {
            let b = self.peek()?;
            self.pos += 1;
            match b {
                b'\\' => {
                    let e = self.peek()?;
                    self.pos += 1;
                    match e {
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'v' => out.push(11),
                        b'0' if !self.peek().is_some_and(|c| c.is_ascii_digit()) => out.push(0),
                        b'\n' => {}
                        b'\r' => {
                            if self.peek() == Some(b'\n') {
                                self.pos += 1;
                            }
                        }
                        b'x' => {
                            let c = self.hex(2)?;
                            push_char(&mut out, char::from_u32(c)?);
                        }
                        b'u' => {
                            let mut c = self.hex(4)?;
                            if (0xd800..0xdc00).contains(&c)
                                && self.text.get(self.pos..self.pos + 2) == Some(b"\\u")
                            {
                                self.pos += 2;
                                let low = self.hex(4)?;
                                if !(0xdc00..0xe000).contains(&low) {
                                    return None;
                                }
                                c = 0x10000 + ((c - 0xd800) << 10) + (low - 0xdc00);
                            }
                            push_char(&mut out, char::from_u32(c).unwrap_or('\u{fffd}'));
                        }
                        b'1'..=b'9' => return None,
                        // `\'`, `\"`, `\\`, `\/` and any other character stand for themselves.
                        _ => out.push(e),
                    }
                }
                b'\n' | b'\r' => return None,
                _ if b == quote => return String::from_utf8(out).ok(),
                _ => out.push(b),
            }
        }
    }

    fn hex(&mut self, n: usize) -> Option<u32> {
        let digits = self.text.get(self.pos..self.pos + n)?;
        let v = u32::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()?;
        if !digits.iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        self.pos += n;
        Some(v)
    }

    /// `null`, `true`, `false`, or a JSON5 number.
    fn scalar(&mut self) -> Option<Value> {
        let start = self.pos;
        let mut end = start;
        while self.text.get(end).is_some_and(|b| {
            !matches!(
                b,
                b',' | b'}' | b']' | b':' | b'/' | b' ' | b'\t' | b'\n' | b'\r'
            )
        }) {
            end += 1;
        }
        if end == start {
            return None;
        }
        self.pos = end;
        let word = std::str::from_utf8(&self.text[start..end]).ok()?;
        match word {
            "null" => return Some(Value::Null),
            "true" => return Some(Value::Bool(true)),
            "false" => return Some(Value::Bool(false)),
            _ => {}
        }
        let (sign, digits) = match word.as_bytes()[0] {
            b'+' | b'-' => (&word[..1], &word[1..]),
            _ => ("", word),
        };
        if matches!(digits, "Infinity" | "NaN") {
            return Some(Value::String(word.to_string()));
        }
        if let Some(hex) = digits
            .strip_prefix("0x")
            .or_else(|| digits.strip_prefix("0X"))
        {
            let n = i128::from_str_radix(hex, 16).ok()?;
            let n = if sign == "-" { -n } else { n };
            return Some(
                i64::try_from(n)
                    .map(Value::from)
                    .unwrap_or_else(|_| Value::String(word.to_string())),
            );
        }
        let ok = !digits.is_empty()
            && digits
                .bytes()
                .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
            && digits.bytes().any(|b| b.is_ascii_digit())
            && digits.as_bytes()[0] != b'e'
            && digits.as_bytes()[0] != b'E';
        if !ok {
            return None;
        }
        let f: f64 = digits.parse().ok()?;
        let f = if sign == "-" { -f } else { f };
        if let Ok(i) = word.trim_start_matches('+').parse::<i64>() {
            return Some(Value::from(i));
        }
        Some(Number::from_f64(f).map_or_else(|| Value::String(word.to_string()), Value::Number))
    }
}

fn push_char(out: &mut Vec<u8>, c: char) {
    let mut buf = [0; 4];
    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_jsonc_and_json5() {
        let text = b"// settings\n{\n  /* theme */ \"theme\": \"dark\", // trailing\n  \"list\": [1, 2,],\n}\n";
        let v = parse(text).expect("jsonc");
        assert_eq!(v["list"], serde_json::json!([1, 2]));
        let text = b"{unquoted: 'single \\' q', hex: 0xFF, inf: -Infinity, half: .5, plus: +1,}";
        let v = parse(text).expect("json5");
        assert_eq!(v["unquoted"], "single ' q");
        assert_eq!(v["hex"], 255);
        assert_eq!(v["inf"], "-Infinity");
        assert_eq!(v["half"], 0.5);
        assert_eq!(v["plus"], 1);
    }

    #[test]
    fn refuses_what_is_not_json5() {
        for bad in [
            &b"{a: 1"[..],
            b"{a 1}",
            b"[1,,2]",
            b"{\"a\": 1} x",
            b"/* open",
            b"{1a: 2}",
            b"[01x]",
            b"",
        ] {
            assert!(parse(bad).is_none(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
