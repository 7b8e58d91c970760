//! A quick reading of plain block YAML into the line-numbered tree the checks walk.
//!
//! Templates write cloud-configs in a small part of YAML: block mappings of plain keys, block
//! sequences, plain and quoted one-line scalars, and `|` literal blocks. For such a text this
//! builds the tree `Node::parse` builds (same values, same lines) in one pass over the lines;
//! anything else (flow collections, anchors, tags, folded or multi-line scalars, comments after
//! values, tabs, CR, non-ASCII, unusual indentation) gives None, and the caller reads the text
//! with the YAML reader. So the verdict never depends on this reader.

use crate::yaml::{Kind, Node};

/// The tree of a plain block-YAML mapping, as `Node::parse` reads it; None when not plain.
pub fn parse(text: &str) -> Option<Node> {
    if text.len() > 1 << 20 || text.bytes().any(|b| !(b == b'\n' || (b' '..=b'~').contains(&b))) {
        return None;
    }
    let lines: Vec<&str> = text.split('\n').collect();
    let mut r = Reader { lines, at: 0 };
    r.skip();
    let (_, indent) = r.current()?;
    if indent != 0 {
        return None;
    }
    let root = r.block(0, 0)?;
    r.skip();
    r.current().is_none().then_some(root)
}

/// Nesting beyond this is left to the YAML reader (its limit is 64).
const MAX_DEPTH: usize = 32;

struct Reader<'a> {
    lines: Vec<&'a str>,
    /// The current line (0-based).
    at: usize,
}

/// Characters of a plain key (cloud-config keys are identifiers).
fn key_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.' | b'/')
}

impl<'a> Reader<'a> {
    /// Skips blank and comment lines.
    fn skip(&mut self) {
        while let Some(line) = self.lines.get(self.at) {
            let t = line.trim_start_matches(' ');
            if !(t.is_empty() || t.starts_with('#')) {
                break;
            }
            self.at += 1;
        }
    }

    /// The current line and its indentation.
    fn current(&self) -> Option<(&'a str, usize)> {
        let line = *self.lines.get(self.at)?;
        Some((line, line.len() - line.trim_start_matches(' ').len()))
    }

    /// The node whose first line is the current one, starting at column `col` (its indentation
    /// for the lines after).
    fn block(&mut self, col: usize, depth: usize) -> Option<Node> {
        if depth > MAX_DEPTH {
            return None;
        }
        let (line, _) = self.current()?;
        let rest = &line[col..];
        if rest == "-" || rest.starts_with("- ") {
            self.sequence(col, depth)
        } else {
            self.mapping(col, false, depth)
        }
    }

    fn sequence(&mut self, indent: usize, depth: usize) -> Option<Node> {
        let first = self.at + 1;
        let mut items = Vec::new();
        loop {
            let line_no = self.at + 1;
            let (line, _) = self.current()?;
            let rest = &line[indent..];
            let after = rest.strip_prefix('-')?;
            let value = after.trim_start_matches(' ');
            if value.is_empty() {
                self.at += 1;
                self.skip();
                match self.current() {
                    Some((_, i)) if i > indent => items.push(self.block(i, depth + 1)?),
                    _ => items.push(Node { line: line_no, kind: Kind::Null }),
                }
            } else {
                let col = indent + 1 + (after.len() - value.len());
                if value.starts_with('-') || value.starts_with('#') {
                    return None; // a nested sequence on the same line, or a comment
                }
                if key_end(value).is_some() {
                    items.push(self.mapping(col, true, depth + 1)?);
                } else {
                    items.push(Node { line: line_no, kind: scalar(value)? });
                    self.at += 1;
                    self.skip();
                }
            }
            match self.current() {
                Some((line, i)) if i == indent && (line[i..] == *"-" || line[i..].starts_with("- ")) => {}
                Some((_, i)) if i > indent => return None,
                _ => return Some(Node { line: first, kind: Kind::Seq(items) }),
            }
        }
    }

    /// A block mapping at `indent`; `compact` when it starts on a sequence entry's line (`- a: 1`).
    fn mapping(&mut self, indent: usize, compact: bool, depth: usize) -> Option<Node> {
        let first = self.at + 1;
        let mut entries: Vec<(Node, Node)> = Vec::new();
        loop {
            let line_no = self.at + 1;
            let (line, _) = self.current()?;
            let rest = &line[indent..];
            let end = key_end(rest)?;
            let key = &rest[..end];
            if entries.iter().any(|(k, _)| k.as_str() == Some(key)) {
                return None;
            }
            let key_node = Node { line: line_no, kind: plain(key) };
            let value = rest[end + 1..].trim_start_matches(' ');
            let node = if value.is_empty() {
                self.at += 1;
                self.skip();
                match self.current() {
                    Some((_, i)) if i > indent => self.block(i, depth + 1)?,
                    // A sequence may sit at its key's indentation (not looked into in a compact mapping).
                    Some((line, i)) if i == indent && (line[i..] == *"-" || line[i..].starts_with("- ")) => {
                        if compact {
                            return None;
                        }
                        self.sequence(i, depth + 1)?
                    }
                    _ => Node { line: line_no, kind: Kind::Null },
                }
            } else if value == "|" || value == "|-" {
                self.at += 1;
                self.literal(indent, value == "|")?
            } else {
                self.at += 1;
                self.skip();
                Node { line: line_no, kind: scalar(value)? }
            };
            entries.push((key_node, node));
            match self.current() {
                Some((line, i)) if i == indent && !line[i..].starts_with('-') => {}
                Some((_, i)) if i > indent => return None,
                _ => return Some(Node { line: first, kind: Kind::Map(entries) }),
            }
        }
    }

    /// A `|` (clip) or `|-` (strip) block after a key at `parent`: its lines are those indented
    /// like its first one; the node's line is that first one.
    fn literal(&mut self, parent: usize, clip: bool) -> Option<Node> {
        let (first, indent) = self.current()?;
        if first.is_empty() || indent <= parent {
            return None; // a leading blank line, or an empty block
        }
        let line = self.at + 1;
        let mut value = String::new();
        let mut blank = 0; // empty lines not yet known to be inside
        while let Some(l) = self.lines.get(self.at) {
            if l.is_empty() {
                blank += 1;
            } else if l.trim_start_matches(' ').is_empty() {
                return None; // spaces-only lines: left to the YAML reader
            } else if l.len() - l.trim_start_matches(' ').len() >= indent {
                for _ in 0..blank {
                    value.push('\n');
                }
                blank = 0;
                value.push_str(&l[indent..]);
                value.push('\n');
            } else {
                break;
            }
            self.at += 1;
        }
        if !clip {
            value.pop();
        }
        // The last line has no newline: not the end of a line (a final `\n` gives an empty one).
        if self.at == self.lines.len() && blank == 0 {
            return None;
        }
        self.skip();
        Some(Node { line, kind: Kind::Scalar { value, plain: false } })
    }
}

/// Where a plain key `key:` ends (the `:` followed by a space or the end of the line).
fn key_end(rest: &str) -> Option<usize> {
    let b = rest.as_bytes();
    let end = b.iter().position(|&c| !key_char(c))?;
    let ok = end > 0 && !matches!(b[0], b'-' | b'.') && b[end] == b':' && matches!(b.get(end + 1), None | Some(b' '));
    ok.then_some(end)
}

/// A plain scalar as the YAML reader keeps it: null, or the text.
fn plain(v: &str) -> Kind {
    match v {
        "~" | "null" | "Null" | "NULL" => Kind::Null,
        _ => Kind::Scalar { value: v.to_string(), plain: true },
    }
}

/// A one-line scalar value (trailing spaces allowed, no comment).
fn scalar(v: &str) -> Option<Kind> {
    let v = v.trim_end_matches(' ');
    match v.as_bytes()[0] {
        b'"' => {
            let inner = v.strip_prefix('"')?.strip_suffix('"')?;
            Some(Kind::Scalar { value: double_quoted(inner)?, plain: false })
        }
        b'\'' => {
            let inner = v.strip_prefix('\'')?.strip_suffix('\'')?;
            if inner.replace("''", "").contains('\'') {
                return None;
            }
            Some(Kind::Scalar { value: inner.replace("''", "'"), plain: false })
        }
        b'-' | b'?' | b':' | b',' | b'[' | b']' | b'{' | b'}' | b'#' | b'&' | b'*' | b'!' | b'|' | b'>' | b'%'
        | b'@' | b'`' => None,
        _ if v.contains(": ") || v.ends_with(':') || v.contains('#') => None,
        _ => Some(plain(v)),
    }
}

/// The inside of a one-line double-quoted scalar with `\\`, `\"`, `\/`, `\n`, `\t` and
/// `\uXXXX` (no surrogates) escapes.
fn double_quoted(inner: &str) -> Option<String> {
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return None,
            '\\' => out.push(match chars.next()? {
                '\\' => '\\',
                '"' => '"',
                '/' => '/',
                'n' => '\n',
                't' => '\t',
                'u' => {
                    let hex: String = chars.by_ref().take(4).collect();
                    if hex.len() != 4 || !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
                        return None;
                    }
                    char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?
                }
                _ => return None,
            }),
            c => out.push(c),
        }
    }
    Some(out)
}

/// In debug builds (every test), checks that the YAML reader agrees with the quick one.
pub fn debug_agrees(text: &str, quick: &Node) {
    if cfg!(debug_assertions) {
        let exact = Node::parse(text).map(|n| format!("{n:?}"));
        assert_eq!(exact.ok(), Some(format!("{quick:?}")), "quick YAML reader disagrees on {text:?}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same(text: &str) -> bool {
        let quick = parse(text);
        if let Some(quick) = &quick {
            debug_agrees(text, quick);
        }
        quick.is_some()
    }

    #[test]
    fn plain_block_yaml_reads_as_the_yaml_reader_reads_it() {
        for text in [
            "#cloud-config\nhostname: n1\n",
            "#cloud-config\na:\nb: \nc: x\nd:\n- 1\n- 2\ne:\n  - f: 1\n    g:\n  -\n  - h\n",
            "#cloud-config\nk: |\n  a\n\n  b\n\n\nl: |-\n  x\nm: 'it''s'\np: \"a\\tb\\u00e9\\n\\\"q\\\" \\\\ \\/\"\n",
            "#cloud-config\nk: |\n  a\n# c\nz: 1\n",
            "#cloud-config\nk: |\n    indented more\n  # a comment line is content\n",
            "#cloud-config\n\nw:\n  x: 1\n  y:\n    z: 2\n\n# end\nv: 3\n",
            "#cloud-config\nwrite_files:\n  - path: /etc/x\n    permissions: \"0644\"\n    content: \"A=b:c\\n\"\ncoreos:\n  units:\n    - name: \"20-eth1.network\"\n      content: \"[Match]\\nName=eth1\\n\"\n    - name: httpd.service\n      command: start\n      content: |\n        [Unit]\n        Description=it's a web server\n        ExecStart=/usr/bin/docker run -p 9000:80 ${IMAGE}\nssh_authorized_keys:\n  - \"ssh-ed25519 AAAA me@host\"\n",
            "#cloud-config\na: true\nb: 0644\nc: ~\nd: null\ne: 1.5\nf: x y, z [1] a-b\n",
            "#cloud-config\nseq:\n  -   spaced\n  -\n    nested: 1\n",
            "#cloud-config\n- a\n- b: 1\n  c: 2\n",
        ] {
            assert!(same(text), "the quick reader should read {text:?}");
        }
    }

    #[test]
    fn anything_else_is_left_to_the_yaml_reader() {
        for text in [
            "#cloud-config\na: b # comment\n",
            "#cloud-config\na: [1, 2]\n",
            "#cloud-config\na: &x 1\nb: *x\n",
            "#cloud-config\na: !!str 1\n",
            "#cloud-config\na: >\n  folded\n",
            "#cloud-config\na: |+\n  keep\n",
            "#cloud-config\na: |2\n  x\n",
            "#cloud-config\na: |\n\n  leading blank\n",
            "#cloud-config\na: |\n  x\n   \n  y\n",
            "#cloud-config\na: |\n  no final newline",
            "#cloud-config\na: plain\n  continued\n",
            "#cloud-config\na: \"two\n  lines\"\n",
            "#cloud-config\na: 1\na: 2\n",
            "#cloud-config\n\"a\": 1\n",
            "#cloud-config\na:b\n",
            "#cloud-config\na: b: c\n",
            "#cloud-config\na:\n  - - b\n",
            "#cloud-config\na: \"\\x41\"\n",
            "#cloud-config\na: 1\r\n",
            "#cloud-config\na:\t1\n",
            "#cloud-config\na: \u{e9}\n",
            "#cloud-config\n",
            "#cloud-config\n---\na: 1\n",
            " a: 1\n",
            "#cloud-config\na:\n    b: 1\n  c: 2\n",
            "#cloud-config\n- a:\n  - b\n",
            "#cloud-config\n...: 1\n",
        ] {
            assert!(!same(text), "the quick reader should leave {text:?} alone");
        }
    }
}
