//! Problems found in a user's input, collected so that all of them are reported at once.

use std::fmt;

use serde::{Deserialize, Serialize};

/// How bad a problem is. A warning is something the consumer still applies (a deprecated
/// service, a spelling it tolerates): printed, exit 0, unless warnings are denied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    #[default]
    Error,
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// One problem, located in a file (and line, where one is known).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Diagnostic {
    pub file: String,
    pub line: Option<usize>,
    pub message: String,
    pub severity: Severity,
}

impl Diagnostic {
    pub fn error(file: impl Into<String>, line: Option<usize>, message: impl Into<String>) -> Self {
        Diagnostic { file: file.into(), line, message: message.into(), severity: Severity::Error }
    }

    pub fn warning(file: impl Into<String>, line: Option<usize>, message: impl Into<String>) -> Self {
        Diagnostic { file: file.into(), line, message: message.into(), severity: Severity::Warning }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.file, line, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// The error returned when input is invalid: every problem found (errors, and the warnings
/// found with them). Exit code 2.
#[derive(Debug, Clone, PartialEq)]
pub struct Invalid(pub Vec<Diagnostic>);

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.0 {
            writeln!(f, "{}: {d}", d.severity)?;
        }
        let n = self.0.iter().filter(|d| d.is_error()).count();
        write!(f, "{n} problem{} found; nothing was written", if n == 1 { "" } else { "s" })
    }
}

impl std::error::Error for Invalid {}

/// A mistake on the command line (a selector, a value): invalid input like a mistake in the YAML.
pub fn usage(message: impl Into<String>) -> Invalid {
    Invalid(vec![Diagnostic::error("command line", None, message)])
}

/// Collects diagnostics for one pass.
#[derive(Debug, Default)]
pub struct Diagnostics(Vec<Diagnostic>);

impl Diagnostics {
    pub fn error(&mut self, file: &str, line: Option<usize>, message: impl Into<String>) {
        self.0.push(Diagnostic::error(file, line, message));
    }

    pub fn warning(&mut self, file: &str, line: Option<usize>, message: impl Into<String>) {
        self.0.push(Diagnostic::warning(file, line, message));
    }

    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }

    pub fn extend(&mut self, other: Vec<Diagnostic>) {
        self.0.extend(other);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Ok when no error was reported; else every problem, sorted by file and line.
    pub fn finish(self) -> Result<(), Invalid> {
        self.finish_with_warnings(false).map(drop)
    }

    /// Like `finish`, but hands back the warnings of a success to print them; with `deny`,
    /// warnings fail like errors.
    pub fn finish_with_warnings(mut self, deny: bool) -> Result<Vec<Diagnostic>, Invalid> {
        self.0.sort();
        self.0.dedup();
        if self.0.iter().any(|d| d.is_error() || deny) {
            Err(Invalid(self.0))
        } else {
            Ok(self.0)
        }
    }
}

/// A short hint for a misspelt name: the closest candidate within a small edit distance.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    let best =
        candidates.into_iter().map(|c| (edit_distance(word, c), c)).filter(|(d, c)| *d <= 2.max(c.len() / 3)).min();
    match best {
        Some((_, c)) => format!(" (did you mean `{c}`?)"),
        None => String::new(),
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(did_you_mean("backnd", ["backend", "frontend"]), " (did you mean `backend`?)");
        assert_eq!(did_you_mean("zzz", ["backend"]), "");
    }
}
