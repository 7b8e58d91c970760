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
    /// Block scalars: the lines strictly between the first two are theirs; the third is an
    /// indentation given by an indicator (`|2`).
    blocks: Vec<(usize, usize, Option<usize>)>,
    /// Plain scalars in block context: (first line, last line, end column, indentation of the
    /// enclosing block collection + 1).
    plains: Vec<(usize, usize, usize, usize)>,
}

fn context(clean: &str) -> Context {
    let mut cx = Context::default();
    // Open collections: (start line, start column, is flow).
    let mut open: Vec<(usize, usize, bool)> = Vec::new();
    let mut prev_line = 0;
    let chars = clean.chars().count();
    for item in Parser::new_from_str(clean) {
        let Ok((event, span)) = item else { break }; // the syntax error is reported elsewhere
        let (start, end) = (span.start, span.end);
        let in_flow = open.iter().any(|o| o.2);
        match event {
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                let flow = end.index() > start.index();
                // A block sequence's indentation is its `-`, which saphyr may place after.
                let line: Vec<char> = clean.lines().nth(start.line() - 1).unwrap_or("").chars().collect();
                let col = match event {
                    Event::SequenceStart(..) if !flow => (0..=start.col().min(line.len().saturating_sub(1)))
                        .rev()
                        .find(|&c| line[c] == '-')
                        .unwrap_or(start.col()),
                    _ => start.col(),
                };
                open.push((start.line(), col, flow))
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some((line, _, true)) = open.pop() {
                    cx.free.push((line, end.line()));
                }
            }
            Event::Scalar(_, style, ..) => match style {
                ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted => cx.free.push((start.line(), end.line())),
                ScalarStyle::Literal | ScalarStyle::Folded => {
                    // At the end of a text without a final newline, the last line is the scalar's.
                    let last = if end.index() >= chars { end.line() + 1 } else { end.line() };
                    let (header, digit) = block_header(clean, prev_line, start.line());
                    let parent = open.iter().rev().find(|o| !o.2).map_or(0, |o| o.1);
                    cx.blocks.push((header, last, digit.map(|d| parent + d)))
                }
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

/// The line of a block scalar's `|` or `>` header (searched back from its content to the event
/// before it), and the indentation digit it gives, if any.
fn block_header(clean: &str, prev_line: usize, start_line: usize) -> (usize, Option<usize>) {
    let lines: Vec<&str> = clean.lines().collect();
    for l in (prev_line.max(1)..=start_line).rev() {
        let text = lines.get(l - 1).copied().unwrap_or("");
        let code = text.split(" #").next().unwrap_or("").trim_end();
        let Some(token) = code.rsplit([' ', '\t']).next() else { continue };
        let mut chars = token.chars();
        if matches!(chars.next(), Some('|' | '>')) && chars.clone().all(|c| matches!(c, '1'..='9' | '+' | '-')) {
            return (l, chars.find_map(|c| c.to_digit(10)).map(|d| d as usize));
        }
    }
    (prev_line, None)
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
        if let Some(&(a, b, given)) = cx.blocks.iter().find(|&&(a, b, _)| a < l && l < b) {
            let indent = given.unwrap_or_else(|| {
                (a + 1..b)
                    .find(|&i| !blank(i))
                    .map_or(0, |i| lines[i - 1].len() - lines[i - 1].trim_start_matches(' ').len())
            });
            if indent == 0 || tab.col < indent {
                out.push((l, format!("a tab where an indentation space is expected (column {}): coreos-cloudinit's YAML parser (yaml.v3) refuses the whole file; indent with spaces", tab.col + 1)));
            }
            continue;
        }
        // yaml.v3 reads a comment line on through the blank and comment lines after it (tabs and
        // all), up to the last comment line of the run.
        let comment = |i: usize| lines.get(i - 1).is_some_and(|s| s.trim_start().starts_with('#'));
        let quiet = |i: usize| blank(i) || comment(i);
        let refused_at = |i: usize| out.iter().any(|&(r, _)| r == i);
        let opened = (1..l).rev().take_while(|&i| quiet(i)).any(|i| comment(i) && !refused_at(i));
        let closed = (l..=lines.len()).take_while(|&i| quiet(i)).any(comment);
        if opened && closed {
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
