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
pub(super) fn sanitize(text: &str) -> (std::borrow::Cow<'_, str>, Vec<Tab>) {
    if !text.contains('\t') {
        return (std::borrow::Cow::Borrowed(text), Vec::new());
    }
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
    (std::borrow::Cow::Owned(clean), tabs)
}

/// Where tabs are harmless or judged by an indentation, per line (index 0 is line 1), from the
/// events of the sanitized text. Built in one pass so a large file stays linear.
struct Context {
    /// Lines inside a flow collection or quoted scalar (after its first line): tabs are fine.
    free: Vec<bool>,
    /// Lines of a block scalar: the indentation its content needs.
    block: Vec<Option<usize>>,
    /// Lines continuing a plain scalar in block context: its collection's indentation + 1.
    plain_on: Vec<Option<usize>>,
    /// Lines on which a plain scalar in block context ends with nothing after it: as above.
    plain_end: Vec<Option<usize>>,
    /// The line of a syntax error: from there on nothing is known (the error is reported).
    stop: usize,
}

fn context(lines: &[&str], chars: usize, clean: &str) -> Context {
    let n = lines.len() + 1;
    let mut free_depth = vec![0i64; n + 2]; // a difference array over lines
    let mut cx = Context {
        free: Vec::new(),
        block: vec![None; n],
        plain_on: vec![None; n],
        plain_end: vec![None; n],
        stop: usize::MAX,
    };
    // Open collections: (start line, indentation column, is flow).
    let mut open: Vec<(usize, usize, bool)> = Vec::new();
    let mut flows = 0usize;
    let mut prev_line = 0;
    let mut free = |a: usize, b: usize| {
        if a < b && b <= n {
            free_depth[a + 1] += 1;
            free_depth[b + 1] -= 1;
        }
    };
    for item in Parser::new_from_str(clean) {
        let (event, span) = match item {
            Ok(e) => e,
            Err(e) => {
                cx.stop = e.marker().line();
                break;
            }
        };
        let (start, end) = (span.start, span.end);
        let block_indent = open.iter().rev().find(|o| !o.2).map(|o| o.1);
        match event {
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                let flow = end.index() > start.index();
                // A block sequence's indentation is its `-`, which saphyr may place after.
                let col = match event {
                    Event::SequenceStart(..) if !flow => {
                        let line: Vec<char> =
                            lines.get(start.line() - 1).unwrap_or(&"").chars().take(start.col() + 1).collect();
                        line.iter().rposition(|&c| c == '-').unwrap_or(start.col())
                    }
                    _ => start.col(),
                };
                flows += usize::from(flow);
                open.push((start.line(), col, flow))
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some((line, _, true)) = open.pop() {
                    flows -= 1;
                    free(line, end.line());
                }
            }
            Event::Scalar(_, style, ..) => match style {
                ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted => free(start.line(), end.line()),
                ScalarStyle::Literal | ScalarStyle::Folded => {
                    // At the end of a text without a final newline, the last line is the scalar's.
                    let last = if end.index() >= chars { end.line() + 1 } else { end.line() };
                    let (header, digit) = block_header(lines, prev_line, start.line());
                    let given = digit.map(|d| block_indent.unwrap_or(0) + d);
                    let indent = given.unwrap_or_else(|| {
                        (header + 1..last)
                            .filter_map(|i| lines.get(i - 1))
                            .find(|s| !s.trim().is_empty())
                            .map_or(0, |s| s.len() - s.trim_start_matches(' ').len())
                    });
                    for l in header + 1..last.min(n) {
                        cx.block[l] = Some(indent);
                    }
                }
                ScalarStyle::Plain if flows == 0 => {
                    let indent = block_indent.map_or(0, |c| c + 1);
                    for l in start.line() + 1..=end.line().min(n - 1) {
                        cx.plain_on[l] = Some(indent);
                    }
                    let rest_blank =
                        lines.get(end.line() - 1).is_some_and(|s| s.chars().skip(end.col()).all(char::is_whitespace));
                    if rest_blank && end.line() < n {
                        cx.plain_end[end.line()] = Some(indent);
                    }
                }
                ScalarStyle::Plain => {}
            },
            _ => {}
        }
        if !matches!(event, Event::MappingEnd | Event::SequenceEnd | Event::DocumentEnd | Event::StreamEnd) {
            prev_line = end.line();
        }
    }
    let mut depth = 0;
    cx.free = free_depth[..n]
        .iter()
        .map(|d| {
            depth += d;
            depth > 0
        })
        .collect();
    cx
}

/// The line of a block scalar's `|` or `>` header (searched back from its content to the event
/// before it), and the indentation digit it gives, if any.
fn block_header(lines: &[&str], prev_line: usize, start_line: usize) -> (usize, Option<usize>) {
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
    let cx = context(&lines, clean.chars().count(), clean);
    let blank = |l: usize| lines.get(l - 1).is_none_or(|s| s.trim().is_empty());
    let comment = |l: usize| lines.get(l - 1).is_some_and(|s| s.trim_start().starts_with('#'));
    // yaml.v3 reads a comment line on through the blank and comment lines after it (tabs and
    // all), up to the last comment line of the run: where such a comment follows in the run.
    let mut comment_ahead = vec![false; lines.len() + 2];
    for l in (1..=lines.len()).rev() {
        comment_ahead[l] = comment(l) || (blank(l) && comment_ahead[l + 1]);
    }
    let mut tabs = tabs.iter().peekable();
    let mut out = Vec::new();
    let mut comment_behind = false; // a comment line that was read opens the current run
    let mut last_text = 0; // the last line holding something
    for (l, &ahead) in comment_ahead.iter().enumerate().take(cx.stop.min(lines.len() + 1)).skip(1) {
        let Some(tab) = tabs.next_if(|t| t.line == l) else {
            if comment(l) {
                comment_behind = true;
            } else if !blank(l) {
                comment_behind = false;
            }
            if !blank(l) {
                last_text = l;
            }
            continue;
        };
        let verdict = if cx.free[l] {
            None
        } else if let Some(indent) = cx.block[l] {
            (indent == 0 || tab.col < indent).then(|| format!("a tab where an indentation space is expected (column {}): coreos-cloudinit's YAML parser (yaml.v3) refuses the whole file; indent with spaces", tab.col + 1))
        } else if comment_behind && ahead {
            None
        } else {
            // A plain scalar goes on over blank lines and lines indented deeper than its collection.
            let plain = cx.plain_on[l].or(cx.plain_end.get(last_text).copied().flatten().filter(|_| last_text > 0));
            match plain {
                Some(indent) if tab.col >= indent => None,
                _ => Some("a tab in the indentation of this line (a blank line too): coreos-cloudinit's YAML parser (yaml.v3) refuses the whole file; use spaces".to_string()),
            }
        };
        let read = verdict.is_none();
        if let Some(message) = verdict {
            out.push((l, message));
        }
        if comment(l) {
            comment_behind |= read;
        } else if !blank(l) {
            comment_behind = false;
        }
        if !blank(l) {
            last_text = l;
        }
    }
    out
}
