//! A quick reading of plain JSON into the line-numbered tree the checks walk.
//!
//! The exact reading is two parses: serde_json (what Ignition's Go decoder accepts, with its
//! error) and the YAML reader (lines). Butane and templates write plain JSON: ASCII, space and
//! newline between tokens, simple escapes. For such a text this one pass builds the same tree;
//! anything else (a syntax error, a tab, a surrogate escape, an exponent, deep nesting, a
//! duplicate key, non-ASCII) gives None, and the caller reads the text the exact way. So the
//! verdict never depends on this reader.

use crate::yaml::{Kind, Node};

/// The tree of a plain JSON object, as `Node::parse` reads it; None when the text is not plain.
pub fn parse(text: &str) -> Option<Node> {
    let mut r = Reader { b: text.as_bytes(), i: 0, line: 1 };
    r.space();
    if r.peek()? != b'{' {
        return None;
    }
    let root = r.value(0)?;
    r.space();
    (r.i == r.b.len()).then_some(root)
}

/// In debug builds (every test), checks that the exact readers agree with the quick one.
pub fn debug_agrees(text: &str, quick: &Node) {
    if cfg!(debug_assertions) {
        assert!(serde_json::from_str::<serde_json::Value>(text).is_ok(), "quick JSON reader accepted {text:?}");
        let exact = Node::parse(text).map(|n| format!("{n:?}"));
        assert_eq!(exact.ok(), Some(format!("{quick:?}")), "quick JSON reader disagrees on {text:?}");
    }
}

/// Nesting beyond this is left to the exact reading (the YAML reader's limit is 64).
const MAX_DEPTH: usize = 48;
/// Longer keys are left to the exact reading (YAML limits implicit keys to 1024 characters).
const MAX_KEY: usize = 512;
/// Longer numbers are left to the exact reading (range limits).
const MAX_NUMBER: usize = 18;
/// Objects with more keys are left to the exact reading (duplicates are searched linearly).
const MAX_KEYS: usize = 64;

struct Reader<'a> {
    b: &'a [u8],
    i: usize,
    line: usize,
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn space(&mut self) {
        while let Some(c) = self.peek() {
            match c {
                b' ' => {}
                b'\n' => self.line += 1,
                _ => break,
            }
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }

    fn value(&mut self, depth: usize) -> Option<Node> {
        let line = self.line;
        let kind = match self.peek()? {
            b'{' if depth < MAX_DEPTH => self.object(depth)?,
            b'[' if depth < MAX_DEPTH => self.array(depth)?,
            b'"' => Kind::Scalar { value: self.string()?, plain: false },
            b't' => self.word("true")?,
            b'f' => self.word("false")?,
            b'n' => {
                self.word("null")?;
                Kind::Null
            }
            b'-' | b'0'..=b'9' => self.number()?,
            _ => return None,
        };
        Some(Node { line, kind })
    }

    fn object(&mut self, depth: usize) -> Option<Kind> {
        self.i += 1;
        let mut entries: Vec<(Node, Node)> = Vec::new();
        self.space();
        if self.eat(b'}').is_some() {
            return Some(Kind::Map(entries));
        }
        loop {
            let line = self.line;
            let start = self.i;
            if self.peek()? != b'"' {
                return None;
            }
            let key = self.string()?;
            if self.i - start > MAX_KEY
                || entries.len() >= MAX_KEYS
                || entries.iter().any(|(k, _)| k.as_str() == Some(key.as_str()))
            {
                return None;
            }
            // The `:` on the key's line (YAML's implicit keys are one line).
            while self.peek()? == b' ' {
                self.i += 1;
            }
            self.eat(b':')?;
            self.space();
            let value = self.value(depth + 1)?;
            entries.push((Node { line, kind: Kind::Scalar { value: key, plain: false } }, value));
            self.space();
            match self.peek()? {
                b',' => {
                    self.i += 1;
                    self.space();
                }
                b'}' => {
                    self.i += 1;
                    return Some(Kind::Map(entries));
                }
                _ => return None,
            }
        }
    }

    fn array(&mut self, depth: usize) -> Option<Kind> {
        self.i += 1;
        let mut items = Vec::new();
        self.space();
        if self.eat(b']').is_some() {
            return Some(Kind::Seq(items));
        }
        loop {
            items.push(self.value(depth + 1)?);
            self.space();
            match self.peek()? {
                b',' => {
                    self.i += 1;
                    self.space();
                }
                b']' => {
                    self.i += 1;
                    return Some(Kind::Seq(items));
                }
                _ => return None,
            }
        }
    }

    fn word(&mut self, w: &str) -> Option<Kind> {
        if !self.b[self.i..].starts_with(w.as_bytes()) {
            return None;
        }
        self.i += w.len();
        Some(Kind::Scalar { value: w.to_string(), plain: true })
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?`, as written.
    fn number(&mut self) -> Option<Kind> {
        let start = self.i;
        self.eat(b'-');
        let digits = |r: &mut Self| {
            let from = r.i;
            while r.peek().is_some_and(|c| c.is_ascii_digit()) {
                r.i += 1;
            }
            r.i - from
        };
        let first = self.peek()?;
        let n = digits(self);
        if n == 0 || (first == b'0' && n > 1) {
            return None;
        }
        if self.eat(b'.').is_some() && digits(self) == 0 {
            return None;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) || self.i - start > MAX_NUMBER {
            return None;
        }
        // Checked above: ASCII digits, `-` and `.`.
        let value = std::str::from_utf8(&self.b[start..self.i]).ok()?.to_string();
        Some(Kind::Scalar { value, plain: true })
    }

    /// A string of printable ASCII with `\"`, `\\`, `\/`, `\b`, `\f`, `\n`, `\r`, `\t` and
    /// `\uXXXX` (no surrogates) escapes.
    fn string(&mut self) -> Option<String> {
        self.i += 1;
        let mut out = String::new();
        loop {
            let rest = &self.b[self.i..];
            let end = memchr::memchr2(b'"', b'\\', rest)?;
            let run = &rest[..end];
            if run.iter().any(|&c| !(b' '..=b'~').contains(&c)) {
                return None;
            }
            // Printable ASCII, checked above.
            out.push_str(std::str::from_utf8(run).ok()?);
            self.i += end + 1;
            if rest[end] == b'"' {
                return Some(out);
            }
            let c = match self.peek()? {
                b'"' => '"',
                b'\\' => '\\',
                b'/' => '/',
                b'b' => '\u{8}',
                b'f' => '\u{c}',
                b'n' => '\n',
                b'r' => '\r',
                b't' => '\t',
                b'u' => {
                    let hex = std::str::from_utf8(self.b.get(self.i + 1..self.i + 5)?).ok()?;
                    if !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
                        return None;
                    }
                    self.i += 4;
                    char::from_u32(u32::from_str_radix(hex, 16).ok()?)?
                }
                _ => return None,
            };
            self.i += 1;
            out.push(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every text here is read by both readers; where the quick one reads it, the trees agree.
    fn same(text: &str) -> bool {
        let quick = parse(text);
        if let Some(quick) = &quick {
            let exact = Node::parse(text).expect("plain JSON is YAML");
            assert!(serde_json::from_str::<serde_json::Value>(text).is_ok(), "{text}");
            assert_eq!(format!("{quick:?}"), format!("{exact:?}"), "{text}");
        }
        quick.is_some()
    }

    #[test]
    fn plain_json_reads_as_the_yaml_reader_reads_it() {
        for text in [
            "{}",
            "{\"ignition\": {\"version\": \"3.4.0\"}}",
            "{\"a\":1,\"b\":[1,-2,0,3.25,-0.5],\"c\":true,\"d\":false,\"e\":null,\"f\":[],\"g\":{}}",
            "{\n  \"a\": [\n    {\n      \"b\": \"x\"\n    },\n    [\n      1\n    ]\n  ],\n  \"c\":\n    2\n}\n",
            "  {\"a\" : \"b\" , \"c\"  :  [ 1 , 2 ] }  \n\n",
            r##"{"s": "q\" b\\ s\/ \b \f \n \r \t \u0041 \u00e9 \u20ac \u0000 end", "#": "# x: - [ ] { } , & * ! | > ' % @ `"}"##,
            r#"{"data": "data:,%5BUnit%5D%0ADescription%3Dx", "":""}"#,
            "{\"x\":\"---\",\n\"y\":\"...\"}",
        ] {
            assert!(same(text), "the quick reader should read {text}");
        }
    }

    #[test]
    fn anything_else_is_left_to_the_exact_readers() {
        let deep = format!("{}{}", "[".repeat(60), "]".repeat(60));
        for text in [
            "{\"a\":1}x",
            "{\"a\":1,}",
            "{\"a\":01}",
            "{\"a\":1e5}",
            "{\"a\":1.}",
            "{\"a\":-}",
            "{\"a\"\n:1}",
            "{\"a\":\t1}",
            "{\"a\":1}\r\n",
            "{\"a\":\"\u{e9}\"}",
            "{\"a\":\"\u{7f}\"}",
            "{\"a\":\"\\ud83d\\ude00\"}",
            "{\"a\":\"\\x\"}",
            "{\"a\":1,\"a\":2}",
            "[1]",
            "\"a\"",
            "",
            &format!("{{\"a\":{deep}}}"),
        ] {
            assert!(!same(text), "the quick reader should leave {text:?} alone");
        }
    }

    #[test]
    fn the_sites_configs_read_the_same_both_ways() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/example/expected/http");
        let mut read = 0;
        for sub in ["ignition", "install"] {
            for entry in std::fs::read_dir(format!("{dir}/{sub}")).unwrap() {
                let path = entry.unwrap().path();
                if path.extension().is_some_and(|e| e == "ign") {
                    read += usize::from(same(&std::fs::read_to_string(&path).unwrap()));
                }
            }
        }
        assert!(read >= 10, "{read}");
    }
}
