//! The machine-edited boot state, `inventory/boot.yaml`: one sorted line per host.
//!
//! `pxebake set boot|installaction|runaction` edits this file instead of the hand-written YAML,
//! so comments and layout there are never rewritten. The build reads it like any inventory file
//! (its `boot:` section overrides the hosts' own settings). Every change is validated by loading
//! the whole inventory again; an edit that would make it invalid is undone.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::diag::usage;

use crate::inventory::raw::BootState;
use crate::inventory::{self, Boot};
use crate::selector::Selector;
use crate::yaml::{self, Node};

pub const FILE: &str = "boot.yaml";

/// What `pxebake set` changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Field {
    Boot,
    Installaction,
    Runaction,
}

/// Reads the `boot:` section of `dir/boot.yaml` (empty when the file does not exist).
pub fn read(dir: &Path) -> anyhow::Result<BTreeMap<String, BootState>> {
    let path = dir.join(FILE);
    if !path.exists() {
        return Ok(BTreeMap::new());
    }
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read `{}`", path.display()))?;
    let root = Node::parse_inventory(&text)
        .map_err(|e| anyhow::anyhow!("{}:{}: {}", path.display(), e.line.unwrap_or(1), e))?;
    match root.get("boot") {
        None => Ok(BTreeMap::new()),
        Some(section) => {
            yaml::from_node(section).map_err(|e| anyhow::anyhow!("{}:{}: {}", path.display(), e.line.unwrap_or(1), e))
        }
    }
}

/// A name as a YAML scalar: quoted when YAML would read it plain as something else (`null`,
/// `true`, a number), so `set runaction HOST null` keeps the bootaction named `null`.
fn scalar(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    let special = matches!(lower.as_str(), "" | "~" | "null" | "true" | "false" | "yes" | "no" | "on" | "off")
        || name.starts_with(|c: char| c.is_ascii_digit() || matches!(c, '-' | '+' | '.'))
        || !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if special {
        serde_json::Value::from(name).to_string()
    } else {
        name.to_string()
    }
}

/// Renders the state file: a header and one flow-style line per host, sorted by name.
pub fn render(state: &BTreeMap<String, BootState>) -> String {
    let mut s = String::from(
        "# Boot state, edited by `pxebake set`; one line per host, overriding the host's own settings.\n\
         # Values: install | os, or { boot: ..., installaction: ..., runaction: ... }.\nboot:\n",
    );
    for (host, st) in state {
        match st {
            BootState::Boot(b) => s.push_str(&format!("  {}: {}\n", scalar(host), scalar(b))),
            BootState::Full { boot, installaction, runaction } => {
                let parts: Vec<String> = [("boot", boot), ("installaction", installaction), ("runaction", runaction)]
                    .into_iter()
                    .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}: {}", scalar(v))))
                    .collect();
                s.push_str(&format!("  {}: {{ {} }}\n", scalar(host), parts.join(", ")));
            }
        }
    }
    s
}

/// Writes `text` to `path` atomically (temp file + rename), returning the previous contents.
pub(crate) fn replace(path: &Path, text: &str) -> anyhow::Result<Option<String>> {
    let old = std::fs::read_to_string(path).ok();
    let tmp: PathBuf = path.with_extension("yaml.pxebake-tmp");
    std::fs::write(&tmp, text).with_context(|| format!("cannot write `{}`", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot replace `{}`", path.display()))?;
    Ok(old)
}

/// An exclusive lock on the inventory directory itself (no lock file left among the inventory),
/// released when the returned handle is dropped.
fn lock(dir: &Path) -> anyhow::Result<std::fs::File> {
    use std::os::fd::AsRawFd as _;
    let f = std::fs::File::open(dir).with_context(|| format!("cannot open inventory directory `{}`", dir.display()))?;
    // SAFETY: flock on a descriptor this function owns; no memory is passed.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("cannot lock inventory directory `{}`", dir.display()));
    }
    Ok(f)
}

/// One change made by `set`: host, old value, new value.
pub type Change = (String, String, String);

/// Sets `field` to `value` for every host `selector` picks; returns what changed.
pub fn set(dir: &Path, selector: &str, field: Field, value: &str) -> anyhow::Result<Vec<Change>> {
    // Read-modify-write of boot.yaml: concurrent `set`s take turns, or one would lose the other's change.
    let _lock = lock(dir)?;
    let inv = inventory::load(dir)?;
    // Mistakes on the command line are invalid input (exit 2), like mistakes in the YAML.
    let selector = Selector::parse(selector).map_err(usage)?;
    let hosts = selector.select(&inv.hosts, inv.appliances.keys().map(String::as_str)).map_err(usage)?;
    match field {
        Field::Boot if !matches!(value, "install" | "os") => {
            return Err(usage(format!("boot must be `install` or `os`, not `{value}`")).into())
        }
        Field::Installaction | Field::Runaction if !inv.bootactions.contains_key(value) => {
            return Err(usage(format!(
                "unknown bootaction `{value}`{}",
                crate::diag::did_you_mean(value, inv.bootactions.keys().map(String::as_str))
            ))
            .into())
        }
        _ => {}
    }
    let mut state = read(dir)?;
    let mut changes = Vec::new();
    for h in hosts {
        let old = match field {
            Field::Boot => match h.boot {
                Boot::Install => "install".to_string(),
                Boot::Os => "os".to_string(),
            },
            Field::Installaction => h.installaction.clone().unwrap_or_else(|| "-".into()),
            Field::Runaction => h.runaction.clone().unwrap_or_else(|| "-".into()),
        };
        let entry = state.remove(&h.name);
        let (mut boot, mut install, mut run) = match entry {
            Some(BootState::Boot(b)) => (Some(b), None, None),
            Some(BootState::Full { boot, installaction, runaction }) => (boot, installaction, runaction),
            None => (None, None, None),
        };
        match field {
            Field::Boot => boot = Some(value.to_string()),
            Field::Installaction => install = Some(value.to_string()),
            Field::Runaction => run = Some(value.to_string()),
        }
        let new = match (boot, install, run) {
            (Some(b), None, None) => BootState::Boot(b),
            (boot, installaction, runaction) => BootState::Full { boot, installaction, runaction },
        };
        state.insert(h.name.clone(), new);
        if old != value {
            changes.push((h.name.clone(), old, value.to_string()));
        }
    }
    let path = dir.join(FILE);
    let old = replace(&path, &render(&state))?;
    // The edit must leave a valid inventory; otherwise put the old file back.
    if let Err(e) = inventory::load(dir) {
        match old {
            Some(text) => replace(&path, &text).map(|_| ())?,
            None => std::fs::remove_file(&path)?,
        }
        return Err(e.context(format!("`{}` was left as it was", path.display())));
    }
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_sorted_flow_lines_that_read_back() {
        let mut st = BTreeMap::new();
        st.insert("b".to_string(), BootState::Boot("os".into()));
        st.insert(
            "a".to_string(),
            BootState::Full {
                boot: Some("install".into()),
                installaction: Some("flatcar-install".into()),
                runaction: None,
            },
        );
        let text = render(&st);
        assert!(text.ends_with("boot:\n  a: { boot: install, installaction: flatcar-install }\n  b: os\n"), "{text}");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE), &text).unwrap();
        assert_eq!(read(dir.path()).unwrap(), st);
    }

    #[test]
    fn a_bootaction_named_null_or_true_is_quoted_and_reads_back() {
        let mut st = BTreeMap::new();
        for (i, name) in ["null", "Null", "~", "true", "no", "123", "1e3", "0x1f", "a.b"].iter().enumerate() {
            st.insert(
                format!("h{i}"),
                BootState::Full { boot: None, installaction: None, runaction: Some(name.to_string()) },
            );
        }
        st.insert("null".to_string(), BootState::Boot("os".into()));
        let text = render(&st);
        assert!(text.contains("  h0: { runaction: \"null\" }\n"), "{text}");
        assert!(text.contains("  h8: { runaction: a.b }\n"), "{text}");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE), &text).unwrap();
        assert_eq!(read(dir.path()).unwrap(), st);
    }
}
