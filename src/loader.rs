//! Boot-loader syntax: what a value may carry on the lines of PXELINUX, GRUB and iPXE configs.
//!
//! Checked on the generated text, after rendering, so an overridden template is covered too. The
//! rules follow the loaders' own parsers:
//! - PXELINUX takes an `APPEND` (or `KERNEL`, `INITRD`, `LABEL`) value literally to the end of the
//!   line: only control characters can break out.
//! - GRUB's script lexer (grub-core/script/yylex.l) takes a word character literally unless it is
//!   one of `{ } | & $ ; < >`, a quote or `\`; a word starting with `#` is a comment.
//! - iPXE (src/core/exec.c) splits a line at white space only; a token `||`, `&&` or `;` ends the
//!   command, a token starting with `#` starts a comment, and `${...}` anywhere in a token is a
//!   setting expanded at boot time. iPXE has no quoting, so such values can only be refused.
//!
//! Values on the lines that load a kernel are refused when they carry loader syntax; the template
//! lines around them (if/then, `||` fallbacks) are the template author's own script.

/// A boot loader whose config pxebake writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loader {
    Pxelinux,
    Grub,
    Ipxe,
}

impl Loader {
    pub fn name(self) -> &'static str {
        match self {
            Loader::Pxelinux => "PXELINUX",
            Loader::Grub => "GRUB",
            Loader::Ipxe => "iPXE",
        }
    }

    /// Which loader reads the file at `path` of the tree (None for other files).
    pub fn of(path: &str, text: &str) -> Option<Loader> {
        if path.starts_with("tftp/pxelinux.cfg/") {
            Some(Loader::Pxelinux)
        } else if path.starts_with("tftp/grub/") && !path.ends_with(".mod") && !path.ends_with(".efi") {
            Some(Loader::Grub)
        } else if path.starts_with("http/") && (path.ends_with(".ipxe") || text.starts_with("#!ipxe")) {
            Some(Loader::Ipxe)
        } else {
            None
        }
    }
}

/// GRUB commands whose arguments are values (paths, kernel command line).
const GRUB_VALUE_COMMANDS: &[&str] =
    &["linux", "linux16", "linuxefi", "initrd", "initrd16", "initrdefi", "chainloader", "devicetree"];
/// iPXE commands whose arguments are values (the image URLs and the kernel command line). Other
/// lines (`chain ... || ...`, `imgfetch` of a URL with `${mac}`) are the template author's script.
const IPXE_VALUE_COMMANDS: &[&str] = &["kernel", "initrd", "imgargs"];

/// Characters GRUB's lexer does not take literally inside a word.
const GRUB_SPECIAL: &[char] = &['{', '}', '|', '&', '$', ';', '<', '>', '"', '\'', '\\'];

/// A problem on one line of a generated config: 1-based line and message.
pub type Problem = (usize, String);

/// Checks a generated config for `loader`.
pub fn check(loader: Loader, text: &str) -> Vec<Problem> {
    let mut out = Vec::new();
    let controls = may_have_controls(text);
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let control = if controls { line.chars().find(|c| c.is_control() && *c != '\t') } else { None };
        if let Some(c) = control {
            out.push((n, format!("{} config line carries control character `{}`", loader.name(), c.escape_debug())));
            continue;
        }
        let trimmed = line.trim();
        let (command, rest) = trimmed.split_once(char::is_whitespace).unwrap_or((trimmed, ""));
        let problem = match loader {
            // Values are literal to the end of the line: only control characters matter (above).
            Loader::Pxelinux => None,
            Loader::Grub if GRUB_VALUE_COMMANDS.contains(&command) => {
                grub_words(rest).map(|e| format!("GRUB `{command}` line: {e}"))
            }
            Loader::Grub if command == "menuentry" || command == "submenu" => {
                grub_title(rest).map(|e| format!("GRUB `{command}` line: {e}"))
            }
            Loader::Ipxe if IPXE_VALUE_COMMANDS.contains(&command) => {
                ipxe_words(rest).map(|e| format!("iPXE `{command}` line: {e}"))
            }
            _ => None,
        };
        if let Some(p) = problem {
            out.push((n, p));
        }
    }
    if loader == Loader::Grub {
        out.extend(grub_balance(text));
    }
    if loader == Loader::Ipxe && !text.starts_with("#!ipxe") {
        out.push((1, "an iPXE script must start with `#!ipxe`".into()));
    }
    out
}

/// Whether a line of `text` may hold a control character other than a tab: one below U+0020,
/// U+007F, or U+0080-U+009F (encoded as 0xC2 0x80-0x9F). A `\r` counts, though `lines` drops
/// one before a `\n`; then each line is looked at.
fn may_have_controls(text: &str) -> bool {
    text.as_bytes().iter().any(|&b| (b < 0x20 && b != b'\t' && b != b'\n') || b == 0x7f || b == 0xc2)
}

/// Checks a kernel command line as it will be spliced into each loader's kernel line; the
/// message names the loader and the character.
pub fn check_args(args: &str) -> Result<(), String> {
    crate::names::check_line(args)?;
    let problems: Vec<String> =
        [grub_words(args).map(|e| format!("GRUB: {e}")), ipxe_words(args).map(|e| format!("iPXE: {e}"))]
            .into_iter()
            .flatten()
            .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("`{}` would inject boot-loader syntax ({})", crate::names::printable(args), problems.join("; ")))
    }
}

/// Words of a GRUB value line: every character literal, no comment.
fn grub_words(rest: &str) -> Option<String> {
    for word in rest.split_whitespace() {
        if word.starts_with('#') {
            return Some(format!(
                "word `{}` starts with `#`, which GRUB reads as a comment",
                crate::names::printable(word)
            ));
        }
        if let Some(c) = word.chars().find(|c| GRUB_SPECIAL.contains(c)) {
            return Some(format!(
                "`{}` carries `{c}`, which is GRUB script syntax; kernel arguments may not contain any of {}",
                crate::names::printable(word),
                GRUB_SPECIAL.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(" ")
            ));
        }
    }
    None
}

/// `menuentry TITLE [--opts] {`: quoted or plain words, then the opening brace.
fn grub_title(rest: &str) -> Option<String> {
    let Some(body) = rest.trim_end().strip_suffix('{') else {
        return Some("must end with `{` on the same line".into());
    };
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => loop {
                match chars.next() {
                    None => return Some("unterminated `\"` in the title".into()),
                    Some('"') => break,
                    Some(c @ ('$' | '\\')) => {
                        return Some(format!("title carries `{c}`, which GRUB expands inside double quotes"))
                    }
                    Some(_) => {}
                }
            },
            '\'' if !chars.by_ref().any(|c| c == '\'') => {
                return Some("unterminated `'` in the title".into());
            }
            '\'' => {} // closed by the guard above
            c if c.is_whitespace() => {}
            c if GRUB_SPECIAL.contains(&c) => return Some(format!("title carries `{c}` outside quotes")),
            _ => {}
        }
    }
    None
}

/// Whole-file GRUB structure: quotes closed on their line, braces balanced.
fn grub_balance(text: &str) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut depth: i64 = 0;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let mut chars = line.chars().peekable();
        let mut word_start = true;
        while let Some(c) = chars.next() {
            match c {
                '#' if word_start => break,
                '\\' => {
                    chars.next();
                }
                '\'' if !chars.by_ref().any(|c| c == '\'') => {
                    out.push((n, "GRUB line has an unterminated `'`".into()));
                }
                '"' => {
                    let mut closed = false;
                    while let Some(c) = chars.next() {
                        match c {
                            '\\' => {
                                chars.next();
                            }
                            '"' => {
                                closed = true;
                                break;
                            }
                            _ => {}
                        }
                    }
                    if !closed {
                        out.push((n, "GRUB line has an unterminated `\"`".into()));
                    }
                }
                '{' if word_start && chars.peek().is_none_or(|c| c.is_whitespace()) => depth += 1,
                '}' if word_start => {
                    depth -= 1;
                    if depth < 0 {
                        out.push((n, "GRUB `}` closes no block".into()));
                        depth = 0;
                    }
                }
                _ => {}
            }
            word_start = c.is_whitespace() || c == ';';
        }
    }
    if depth > 0 {
        out.push((text.lines().count().max(1), format!("GRUB config leaves {depth} block(s) open (missing `}}`)")));
    }
    out
}

/// Tokens of an iPXE value line: none may end the command, start a comment or expand a setting.
fn ipxe_words(rest: &str) -> Option<String> {
    for token in rest.split_whitespace() {
        let shown = || crate::names::printable(token);
        if matches!(token, "||" | "&&" | ";") {
            return Some(format!("token `{token}` ends the command in iPXE; a value may not be `||`, `&&` or `;`"));
        }
        if token.starts_with('#') {
            return Some(format!("token `{}` starts with `#`, which iPXE reads as a comment", shown()));
        }
        if token.contains("${") {
            return Some(format!(
                "`{}` carries `${{`, which iPXE expands as a setting at boot time; values may not contain `${{`",
                shown()
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grub_kernel_lines_refuse_script_syntax() {
        let ok = "menuentry \"coreos\" {\n  linux /vmlinuz console=tty0 console=ttyS0,115200 a=b#c\n}\n";
        assert_eq!(check(Loader::Grub, ok), vec![]);
        for (bad, ch) in [
            ("console=tty0;", "`;`"),
            ("x}", "`}`"),
            ("a=\"b", "`\"`"),
            ("a=$x", "`$`"),
            ("a\\b", "`\\`"),
            ("a||b", "`|`"),
            ("a&b", "`&`"),
        ] {
            let text = format!("menuentry \"x\" {{\n  linux /k {bad}\n}}\n");
            let p = check(Loader::Grub, &text);
            assert!(p.iter().any(|(l, m)| *l == 2 && m.contains(ch) && m.contains("GRUB")), "{bad}: {p:?}");
        }
        let comment = check(Loader::Grub, "linux /k #x\n");
        assert!(comment[0].1.contains("comment"), "{comment:?}");
    }

    #[test]
    fn grub_titles_and_blocks_must_close() {
        assert!(!check(Loader::Grub, "menuentry \"a $x\" {\n}\n").is_empty());
        assert_eq!(check(Loader::Grub, "menuentry 'a $x' --class os {\n}\n"), vec![]);
        assert!(!check(Loader::Grub, "menuentry \"a\" {\n").is_empty());
        assert!(!check(Loader::Grub, "}\n").is_empty());
        assert!(!check(Loader::Grub, "echo \"a\n").is_empty());
        let site = include_str!("../templates/grub.cfg");
        assert_eq!(check(Loader::Grub, site), vec![], "the built-in site config passes");
    }

    #[test]
    fn ipxe_kernel_lines_refuse_terminators_comments_and_settings() {
        assert_eq!(check(Loader::Ipxe, "#!ipxe\nkernel http://x/k a=b||c a&&b x#y\nboot\n"), vec![]);
        for bad in ["||", "&&", ";", "#x", "${net0/mac}", "a=${x}"] {
            let p = check(Loader::Ipxe, &format!("#!ipxe\nkernel http://x/k {bad}\n"));
            assert!(p.iter().any(|(l, m)| *l == 2 && m.contains("iPXE")), "{bad}: {p:?}");
        }
        // The fallback chain of the entry script is the template's own syntax, not a value line.
        assert_eq!(check(Loader::Ipxe, include_str!("../templates/ipxe-boot.ipxe")), vec![]);
        assert_eq!(check(Loader::Ipxe, "#!ipxe\nimgfetch http://x/e?mac=${mac} || echo no\n"), vec![]);
    }

    #[test]
    fn control_characters_are_refused_on_any_line() {
        // Unicode's control characters (Cc): C0, DEL and C1; a tab and CRLF line ends are fine.
        assert_eq!(check(Loader::Pxelinux, "LABEL a\r\n\tAPPEND x=1\r\n"), vec![]);
        for (text, shown) in [
            ("LABEL a\nAPPEND x=\u{1b}[31m\n", "\\u{1b}"),
            ("LABEL a\nAPPEND x=\u{7f}\n", "\\u{7f}"),
            ("LABEL a\nAPPEND x=\u{85}\n", "\\u{85}"),
            ("LABEL a\nAPPEND x=1\ry=2\n", "\\r"),
            ("LABEL a\nAPPEND x=\0\n", "\\0"),
        ] {
            let p = check(Loader::Pxelinux, text);
            assert_eq!(p.len(), 1, "{text:?}: {p:?}");
            assert_eq!(p[0].0, 2, "{text:?}");
            assert!(p[0].1.contains(&format!("`{shown}`")), "{text:?}: {p:?}");
        }
        // Not control characters: the same lead byte as C1, other letters.
        assert_eq!(check(Loader::Pxelinux, "APPEND x=\u{a0}\u{e9}\u{2028}\n"), vec![]);
    }

    #[test]
    fn args_name_the_loader_and_character() {
        assert!(check_args("console=tty0 console=ttyS0,115200 url=http://a/b?c=d").is_ok());
        let e = check_args("console=tty0; }; menuentry").unwrap_err();
        assert!(e.contains("GRUB") && e.contains("`;`"), "{e}");
        let e = check_args("a ; chain http://x").unwrap_err();
        assert!(e.contains("iPXE") && e.contains("`;`"), "{e}");
    }
}
