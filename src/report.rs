//! How the library talks to whoever runs it: messages, warnings and whether progress bars show.
//!
//! The library never prints on its own or decides about terminals; the CLI passes its terminal
//! UI (`bake::Ui`) as a `&dyn Report`, tests and other callers can pass `Silent`.

/// Where the library's messages go.
pub trait Report: Sync {
    /// A line of progress for people (suppressed by `--quiet` or `--output json`).
    fn say(&self, msg: &str);
    /// Something the user should act on, although the work goes on.
    fn warn(&self, msg: &str);
    /// Whether live progress bars may be drawn (a terminal that is not quiet).
    fn bars(&self) -> bool {
        false
    }
}

/// Says nothing.
pub struct Silent;

impl Report for Silent {
    fn say(&self, _: &str) {}
    fn warn(&self, _: &str) {}
}
