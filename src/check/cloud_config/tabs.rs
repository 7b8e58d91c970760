//! Tabs that coreos-cloudinit's YAML parser refuses.
//!
//! YAML 1.2 (and saphyr) allow a tab on a blank line or in a line's leading whitespace; yaml.v3,
//! a port of libyaml, does not: in block context a tab at the start of a line "cannot start any
//! token", and in a block scalar or a plain scalar's continuation a tab left of the indentation
//! "violates indentation". Either way coreos-cloudinit reads nothing of the file. Tabs inside flow
//! collections and quoted scalars are fine, as are tabs after the indentation.

use saphyr_parser::{Event, Parser, ScalarStyle};

/// A line whose leading whitespace holds a tab: its 1-based number and the tab's column.
pub(super) struct Tab {
    pub line: usize,
    pub col: usize,
}

/// The text with every tab in a line's leading whitespace made a space (lines and columns kept,
/// so the rest can still be checked), and where those tabs were.
pub(super) fn sanitize(text: &str) -> (String, Vec<Tab>) {
    let mut tabs = Vec::new();
    let mut clean = String::with_capacity(text.len());
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let lead = line.len() - line.trim_start_matches([' ', '\t']).len();
        match line[..lead].find('\t') {
            Some(col) => {
                tabs.push(Tab { line: i + 1, col });
                clean.push_str(&line[..lead].replace('\t', " "));
                clean.push_str(&line[lead..]);
            }
            None => clean.push_str(line),
        }
    }
    (clean, tabs)
}

/// Where tabs are harmless or judged by an indentation, from the events of the sanitized text.
#[derive(Default)]
struct Context {
    /// Flow collections and quoted scalars: (first line, last line); tabs on later lines are fine.
    free: Vec<(usize, usize)>,
    /// Block scalars: the lines strictly between these two are theirs.
    blocks: Vec<(usize, usize)>,
    /// Plain scalars in block context: (first line, last line, end column, indentation of the
    /// enclosing block collection + 1).
    plains: Vec<(usize, usize, usize, usize)>,
}

fn context(clean: &str) -> Context {
    let mut cx = Context::default();
    // Open collections: (start line, start column, is flow).
    let mut open: Vec<(usize, usize, bool)> = Vec::new();
    let mut prev_line = 0;
    for item in Parser::new_from_str(clean) {
        let Ok((event, span)) = item else { break }; // the syntax error is reported elsewhere
        let (start, end) = (span.start, span.end);
        let in_flow = open.iter().any(|o| o.2);
        match event {
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                open.push((start.line(), start.col(), end.index() > start.index()))
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some((line, _, true)) = open.pop() {
                    cx.free.push((line, end.line()));
                }
            }
            Event::Scalar(_, style, ..) => match style {
                ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted => cx.free.push((start.line(), end.line())),
                ScalarStyle::Literal | ScalarStyle::Folded => cx.blocks.push((prev_line, end.line())),
                ScalarStyle::Plain if !in_flow => {
                    let indent = open.iter().rev().find(|o| !o.2).map_or(0, |o| o.1 + 1);
                    cx.plains.push((start.line(), end.line(), end.col(), indent));
                }
                ScalarStyle::Plain => {}
            },
            _ => {}
        }
        if !matches!(event, Event::MappingEnd | Event::SequenceEnd | Event::DocumentEnd | Event::StreamEnd) {
            prev_line = end.line();
        }
    }
    cx
}

/// The tabs yaml.v3 refuses: (line, message).
pub(super) fn refused(clean: &str, tabs: &[Tab]) -> Vec<(usize, String)> {
    if tabs.is_empty() {
        return Vec::new();
    }
    let lines: Vec<&str> = clean.lines().collect();
    let blank = |l: usize| lines.get(l - 1).is_none_or(|s| s.trim().is_empty());
    let cx = context(clean);
    let mut out = Vec::new();
    for tab in tabs {
        let l = tab.line;
        if cx.free.iter().any(|&(a, b)| a < l && l <= b) {
            continue;
        }
        if let Some(&(a, b)) = cx.blocks.iter().find(|&&(a, b)| a < l && l < b) {
            let indent = (a + 1..b)
                .find(|&i| !blank(i))
                .map_or(0, |i| lines[i - 1].len() - lines[i - 1].trim_start_matches(' ').len());
            if indent == 0 || tab.col < indent {
                out.push((l, format!("a tab where an indentation space is expected (column {}): coreos-cloudinit's YAML parser (yaml.v3) refuses the whole file; indent with spaces", tab.col + 1)));
            }
            continue;
        }
        // A plain scalar goes on over blank lines and lines indented deeper than its collection.
        let last_text = (1..l).rev().find(|&i| !blank(i)).unwrap_or(0);
        let plain = cx.plains.iter().find(|&&(a, b, col, _)| {
            (a < l && l <= b)
                || (b == last_text && lines.get(b - 1).is_some_and(|s| s.chars().skip(col).all(char::is_whitespace)))
        });
        match plain {
            Some(&(.., indent)) if tab.col >= indent => {}
            _ => out.push((
                l,
                "a tab in the indentation of this line (a blank line too): coreos-cloudinit's YAML parser (yaml.v3) refuses the whole file; use spaces".into(),
            )),
        }
    }
    out
}
