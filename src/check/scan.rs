//! What a boot config or served file names: the site's URLs, TFTP paths and kernel command lines.
//!
//! Each file is searched once for `http` (most lines of most files have no URL); the words around
//! a hit are cut as before: at white space, quotes, parentheses and backslashes.

use std::sync::OnceLock;

use memchr::memmem::Finder;

use super::links::{Cache, Links};
use super::{Finding, Options, MAX_CMDLINE};

/// Which lints a path gets: everything about a file that depends on its name, so that files with
/// the same bytes and the same kind of name share one result.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Class {
    pub pxelinux: bool,
    pub grub: bool,
    /// Under `tftp/grub/` and no `.mod` or `.efi`: a GRUB config.
    pub grub_config: bool,
    pub http: bool,
    pub ipxe_dir: bool,
    pub ipxe_ext: bool,
    pub ign_ext: bool,
    pub json_ext: bool,
}

impl Class {
    pub fn of(path: &str) -> Class {
        let grub = path.starts_with("tftp/grub/");
        Class {
            pxelinux: path.starts_with("tftp/pxelinux.cfg/"),
            grub,
            grub_config: grub && !path.ends_with(".mod") && !path.ends_with(".efi"),
            http: path.starts_with("http/"),
            ipxe_dir: path.starts_with("http/ipxe/"),
            ipxe_ext: path.ends_with(".ipxe"),
            ign_ext: path.ends_with(".ign"),
            json_ext: path.ends_with(".json"),
        }
    }

    /// Whether any lint reads a file of this class.
    pub fn linted(self) -> bool {
        self.grub || self.pxelinux || self.http
    }
}

/// What the boot configs and served files of the tree are checked against.
pub struct Site<'a> {
    pub links: &'a Links<'a>,
    /// `site.http` and a `/`.
    pub base: String,
    pub opts: Options,
}

/// Boot configs: the URLs and TFTP paths they name, and kernel command line length.
pub fn config(site: &Site, cache: &mut Cache, class: Class, text: &str, out: &mut Vec<Finding>) {
    let (grub, pxelinux, ipxe) = (class.grub, class.pxelinux, class.ipxe_dir);
    // Every text file served over HTTP may name URLs of the site (cloud-configs, bootstrap scripts).
    if !class.linted() {
        return;
    }
    let mut target = String::new();
    let mut err = |line: usize, message: String| out.push(Finding::error(line, message));
    each_url(text, |n, url| {
        if url.contains('$') {
            return; // resolved by the loader at boot time
        }
        if let Some(rel) = url.strip_prefix(&site.base) {
            let rel = rel.split(['?', '#']).next().unwrap_or("");
            if rel == crate::events::ENDPOINT {
                return; // answered by nginx itself (see templates/nginx.conf)
            }
            target.clear();
            target.push_str("http/");
            target.push_str(rel);
            if let Err(e) = site.links.resolve(cache, &target) {
                if site.opts.report(e) {
                    err(n, format!("URL `{url}` is served by no file in the tree: {}", e.message));
                }
            }
        }
    });
    if !(grub || pxelinux || ipxe) {
        return;
    }
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let trimmed = line.trim();
        if is_comment(trimmed) {
            continue;
        }
        let mut words = trimmed.split_whitespace();
        let keyword = words.next().unwrap_or("");
        let is = |k: &str| keyword.eq_ignore_ascii_case(k);
        let tftp_file = if pxelinux && (is("kernel") || is("linux") || is("initrd")) {
            words.next()
        } else if grub && (is("linux") || is("initrd")) {
            words.next().map(grub_path)
        } else {
            None
        };
        if let Some(file) = tftp_file.filter(|f| !f.contains("://") && !f.contains('$')) {
            target.clear();
            target.push_str("tftp/");
            target.push_str(file.trim_start_matches('/'));
            if let Err(e) = site.links.resolve(cache, &target) {
                if site.opts.report(e) {
                    let keyword = keyword.to_ascii_lowercase();
                    err(n, format!("`{keyword} {file}` names a TFTP file the tree does not have: {}", e.message));
                }
            }
        }
        let cmdline = if pxelinux && is("append") {
            Some(trimmed["append".len()..].trim())
        } else if (grub && is("linux")) || (ipxe && is("kernel")) {
            trimmed.split_once(char::is_whitespace).and_then(|(_, r)| r.trim().split_once(' ')).map(|(_, a)| a)
        } else {
            None
        };
        if let Some(args) = cmdline {
            if args.len() > MAX_CMDLINE {
                err(n, format!("kernel command line is {} bytes; the kernel keeps at most {MAX_CMDLINE}", args.len()));
            }
        }
    }
}

/// A comment line (trimmed), which no lint reads; `#!` starts a script, not a comment.
fn is_comment(trimmed: &str) -> bool {
    trimmed.starts_with('#') && !trimmed.starts_with("#!")
}

/// What ends a word that may hold a URL. A backslash ends a URL too: in JSON (Ignition) text it
/// starts an escape like `\n`.
fn separates(c: char) -> bool {
    c.is_whitespace() || matches!(c, '"' | '\'' | '(' | ')' | '\\')
}

/// Calls `f` with (line, URL) for every http(s) URL outside comment lines, in order.
fn each_url<'t>(text: &'t str, mut f: impl FnMut(usize, &'t str)) {
    static HTTP: OnceLock<Finder<'static>> = OnceLock::new();
    let finder = HTTP.get_or_init(|| Finder::new("http"));
    let bytes = text.as_bytes();
    let (mut line, mut counted) = (1, 0); // the line number at byte `counted`
    let mut done = 0; // the end of the last word (or comment line) looked at
    for hit in finder.find_iter(bytes) {
        let tail = &bytes[hit + 4..];
        if hit < done || !(tail.starts_with(b"://") || tail.starts_with(b"s://")) {
            continue;
        }
        let start = memchr::memrchr(b'\n', &bytes[..hit]).map_or(0, |i| i + 1);
        let end = memchr::memchr(b'\n', &bytes[hit..]).map_or(bytes.len(), |i| hit + i);
        line += memchr::memchr_iter(b'\n', &bytes[counted..start]).count();
        counted = start;
        if is_comment(text[start..end].trim_start()) {
            done = end;
            continue;
        }
        let from = text[start..hit].char_indices().rev().find(|(_, c)| separates(*c)).map_or(start, |(i, c)| {
            start + i + c.len_utf8() // after the separator
        });
        let to = text[hit..end].find(separates).map_or(end, |i| hit + i);
        done = to;
        if let Some(url) = url_in(&text[from..to]) {
            f(line, url);
        }
    }
}

/// An http(s) URL inside a word like `cloud-config-url=http://...`.
fn url_in(word: &str) -> Option<&str> {
    let start = word.find("http://").or_else(|| word.find("https://"))?;
    Some(&word[start..])
}

/// GRUB paths may carry a device: `(tftp)/x`, `($root)/x`, `(tftp,10.0.0.1)/x`.
fn grub_path(w: &str) -> &str {
    match w.strip_prefix('(') {
        Some(rest) => rest.split_once(')').map_or(w, |(_, p)| p),
        None => w,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(text: &str) -> Vec<(usize, &str)> {
        let mut out = Vec::new();
        each_url(text, |n, u| out.push((n, u)));
        out
    }

    #[test]
    fn urls_are_found_where_the_loaders_read_them() {
        // At the start and end of a line and of the text, with and without `s`.
        assert_eq!(urls("http://a/1\nx https://b/2"), vec![(1, "http://a/1"), (2, "https://b/2")]);
        // After `=` on a kernel command line, cut at white space (a tab too) and `\r`.
        assert_eq!(
            urls("  APPEND a=1 cloud-config-url=http://s/c.yaml\tconsole=tty0\r\n"),
            vec![(1, "http://s/c.yaml")]
        );
        // Quotes, parentheses and backslashes end a word: shell, JSON escapes.
        assert_eq!(urls("MIRROR='http://s/m' x=\"https://s/t\""), vec![(1, "http://s/m"), (1, "https://s/t")]);
        assert_eq!(urls(r#"{"source":"http://s/a\nhttp://s/b"}"#), vec![(1, "http://s/a"), (1, "http://s/b")]);
        assert_eq!(urls("$(curl http://s/x)"), vec![(1, "http://s/x")]);
        // Non-ASCII white space separates words too.
        assert_eq!(urls("a\u{a0}http://s/x\u{2003}b"), vec![(1, "http://s/x")]);
        // One URL per word: `http://` first, as `find` does.
        assert_eq!(urls("x=https://a/http://b"), vec![(1, "http://b")]);
        // Not a URL: no `://`.
        assert_eq!(urls("http: https:/x httpx://y"), vec![]);
    }

    #[test]
    fn comment_lines_name_no_urls_but_scripts_do() {
        let text = "# see http://a/1\n  #http://a/2\n#!ipxe http://a/3\nx # http://a/4\n";
        assert_eq!(urls(text), vec![(3, "http://a/3"), (4, "http://a/4")]);
        assert_eq!(urls("\n\n\nhttp://a\n\nhttp://b"), vec![(4, "http://a"), (6, "http://b")]);
    }

    fn lint(path: &str, text: &str, images_placed: bool) -> Vec<(usize, String)> {
        let mut tree = crate::tree::Tree::default();
        let file = crate::tree::Entry::File(b"x".to_vec().into());
        tree.entries.insert("http/coreos/a.yaml".into(), file.clone());
        tree.entries.insert("tftp/initrd".into(), file);
        tree.entries.insert("tftp/vmlinuz".into(), crate::tree::Entry::Symlink("../images/os/k".into()));
        let links = Links::new(&tree);
        let opts = Options { images_placed, deny_warnings: false };
        let site = Site { links: &links, base: "http://10.0.0.1/boot/".into(), opts };
        let mut out = Vec::new();
        config(&site, &mut Cache::default(), Class::of(path), text, &mut out);
        out.into_iter().map(|f| (f.line, f.message)).collect()
    }

    #[test]
    fn boot_configs_name_files_the_tree_has() {
        let text = "DEFAULT x\nLABEL x\n  KERNEL vmlinuz\n  INITRD initrd.missing\n  APPEND cloud-config-url=http://10.0.0.1/boot/coreos/a.yaml x=http://10.0.0.1/boot/coreos/b.yaml?x=1 y=https://10.0.0.1/boot/coreos/b.yaml\n# KERNEL nothing.here http://10.0.0.1/boot/c\n  APPEND u=http://10.0.0.1/boot/events?ev=1 v=http://10.0.0.1/boot/${mac} w=http://elsewhere/x\n";
        let missing = (
            4,
            "`initrd initrd.missing` names a TFTP file the tree does not have: `tftp/initrd.missing` does not exist"
                .to_string(),
        );
        let url = (
            5,
            "URL `http://10.0.0.1/boot/coreos/b.yaml?x=1` is served by no file in the tree: `http/coreos/b.yaml` does not exist"
                .to_string(),
        );
        // An https URL is not under the (http) site. Without images, the kernel link into
        // images/ is expected to dangle.
        assert_eq!(lint("tftp/pxelinux.cfg/default", text, false), vec![url.clone(), missing.clone()]);
        let kernel =
            (3, "`kernel vmlinuz` names a TFTP file the tree does not have: `images/os/k` does not exist".to_string());
        assert_eq!(lint("tftp/pxelinux.cfg/default", text, true), vec![url.clone(), kernel, missing]);
        // A served file is searched for URLs only; TFTP paths are a loader's.
        assert_eq!(lint("http/install/a.sh", text, true), vec![url]);
        // GRUB: device prefixes, and `initrd` lines.
        let grub = "menuentry x {\n  linux (tftp)/vmlinuz a=1\n  initrd ($root)/initrd /gone\n}\n";
        assert_eq!(lint("tftp/grub/grub.cfg", grub, false), vec![]);
        let grub = "menuentry x {\n  linux /nothing a=1\n}\n";
        assert_eq!(
            lint("tftp/grub/grub.cfg", grub, false),
            vec![(
                2,
                "`linux /nothing` names a TFTP file the tree does not have: `tftp/nothing` does not exist".into()
            )]
        );
        // Files no lint reads.
        assert_eq!(lint("etc/dnsmasq.hosts/a", text, true), vec![]);
    }

    #[test]
    fn kernel_command_lines_fit_the_kernel() {
        let long = "a".repeat(MAX_CMDLINE + 1);
        let message = format!("kernel command line is {} bytes; the kernel keeps at most {MAX_CMDLINE}", long.len());
        assert_eq!(lint("tftp/pxelinux.cfg/x", &format!("APPEND {long}\n"), true), vec![(1, message.clone())]);
        assert_eq!(lint("tftp/grub/grub.cfg", &format!("linux /initrd {long}\n"), true), vec![(1, message.clone())]);
        assert_eq!(lint("http/ipxe/x.ipxe", &format!("#!ipxe\nkernel k {long}\n"), true), vec![(2, message)]);
        let fits = "a".repeat(MAX_CMDLINE);
        assert_eq!(lint("tftp/pxelinux.cfg/x", &format!("APPEND {fits}\n"), true), vec![]);
    }

    #[test]
    fn grub_device_prefixes_are_stripped() {
        assert_eq!(grub_path("(tftp,10.0.0.1)/vmlinuz"), "/vmlinuz");
        assert_eq!(grub_path("/vmlinuz"), "/vmlinuz");
    }

    #[test]
    fn classes_follow_the_loaders_directories() {
        assert!(Class::of("tftp/grub/grub.cfg-01-aa").grub_config);
        assert!(!Class::of("tftp/grub/x86_64-efi/linux.mod").grub_config);
        assert!(Class::of("http/ipxe/aa.ipxe").ipxe_dir);
        assert!(!Class::of("etc/dnsmasq.hosts/n1").linted());
        assert!(Class::of("tftp/pxelinux.cfg/default").linted());
    }
}
