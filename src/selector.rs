//! Host selectors, the same in the CLI and in the inventory's `files` rules.
//!
//! A selector is a comma-separated union of: a host name (`backend-0-0`), an appliance name
//! (`backend`), a rack (`rack:0`), a group (`group:gpu`, from the host's `groups`), or a shell pattern over host names (`backend-0-[1-3]`,
//! `backend-*`). A part that names nothing is an error, so a typo never selects zero hosts.

use std::collections::BTreeSet;

use crate::diag::did_you_mean;
use crate::inventory::Host;

#[derive(Debug, Clone)]
pub struct Selector {
    pub text: String,
    parts: Vec<Part>,
}

#[derive(Debug, Clone)]
enum Part {
    /// A host or appliance name.
    Name(String),
    Rack(u32),
    Group(String),
    Pattern(glob::Pattern),
}

impl Selector {
    pub fn parse(text: &str) -> Result<Selector, String> {
        let mut parts = Vec::new();
        for raw in text.split(',').map(str::trim) {
            if raw.is_empty() {
                return Err(format!("selector `{text}` has an empty part"));
            }
            let part = if let Some(rack) = raw.strip_prefix("rack:") {
                Part::Rack(
                    rack.parse().map_err(|_| format!("selector `{raw}`: rack must be a number, as in `rack:0`"))?,
                )
            } else if let Some(group) = raw.strip_prefix("group:") {
                crate::names::check_identifier(group).map_err(|e| format!("selector `{raw}`: group {e}"))?;
                Part::Group(group.to_string())
            } else if raw.contains(['*', '?', '[']) {
                Part::Pattern(
                    glob::Pattern::new(raw).map_err(|e| format!("selector `{raw}` is not a valid pattern: {e}"))?,
                )
            } else {
                crate::names::check_identifier(raw).map_err(|e| format!("selector {e}"))?;
                Part::Name(raw.to_string())
            };
            parts.push(part);
        }
        Ok(Selector { text: text.to_string(), parts })
    }

    pub fn matches(&self, host: &Host) -> bool {
        self.parts.iter().any(|p| match p {
            Part::Name(n) => host.name == *n || host.appliance == *n,
            Part::Rack(r) => host.rack == Some(*r),
            Part::Group(g) => host.groups.contains(g),
            Part::Pattern(p) => p.matches(&host.name),
        })
    }

    /// Every part must select at least one host; the error says which part does not.
    pub fn check<'a>(&self, hosts: &'a [Host], appliances: impl Iterator<Item = &'a str>) -> Result<(), String> {
        let appliances: BTreeSet<&str> = appliances.collect();
        for part in &self.parts {
            let hit = |h: &Host| match part {
                Part::Name(n) => h.name == *n || h.appliance == *n,
                Part::Rack(r) => h.rack == Some(*r),
                Part::Group(g) => h.groups.contains(g),
                Part::Pattern(p) => p.matches(&h.name),
            };
            if hosts.iter().any(hit) {
                continue;
            }
            return Err(match part {
                Part::Name(n) if appliances.contains(n.as_str()) => {
                    format!("selector `{n}`: appliance `{n}` has no hosts")
                }
                Part::Name(n) => format!(
                    "selector `{n}` is neither a host nor an appliance{}",
                    did_you_mean(n, hosts.iter().map(|h| h.name.as_str()).chain(appliances.iter().copied()))
                ),
                Part::Rack(r) => format!("selector `rack:{r}`: no host is in rack {r}"),
                Part::Group(g) => format!("selector `group:{g}`: no host is in group `{g}` (a host's `groups`)"),
                Part::Pattern(p) => format!("selector `{}` matches no host", p.as_str()),
            });
        }
        Ok(())
    }

    /// The hosts selected, in inventory order; an error when a part selects nothing.
    pub fn select<'a>(
        &self,
        hosts: &'a [Host],
        appliances: impl Iterator<Item = &'a str>,
    ) -> Result<Vec<&'a Host>, String> {
        self.check(hosts, appliances)?;
        Ok(hosts.iter().filter(|h| self.matches(h)).collect())
    }
}
