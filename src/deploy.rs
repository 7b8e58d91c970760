//! `pxebake deploy DEST`: the tree goes to the boot server as a release, switched in one step.
//!
//! `DEST` (the `site.root` the configs name, local or `[user@]host:/path` over ssh) becomes a
//! symlink to `DEST.releases/<release>`. A deploy rsyncs the tree into a new release directory
//! (`--link-dest` to the current one, so unchanged files are hard links, not copies), then
//! renames a new symlink over `DEST`: dnsmasq and nginx resolve `DEST` on every request, so a
//! machine booting meanwhile gets the old release or the new one, never a mix. The newest `keep`
//! releases stay for `--rollback`, which switches back to the release before the current one.
//!
//! The server side is one small POSIX shell script, run by `sh` locally or over ssh, so the
//! local directory case that the tests drive is the same code as the remote one.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{bail, Context as _};

use crate::report::Report;

/// What to deploy where.
#[derive(Debug, Clone)]
pub struct Options {
    /// `/srv/pxebake` or `[user@]host:/srv/pxebake`.
    pub dest: String,
    /// Releases to keep (the current one always stays).
    pub keep: usize,
    /// A command run where `dest` is (e.g. `systemctl reload dnsmasq`) after a switch that changed
    /// the DHCP reservations in `etc/dnsmasq.hosts`.
    pub reload: Option<String>,
    /// The ssh command for a remote `dest`, split at spaces (`ssh -p 2222 -i KEY`); `ssh` if None.
    pub ssh: Option<String>,
}

/// Where releases live.
enum Target {
    Local(String),
    Remote { host: String, path: String, ssh: Vec<String> },
}

impl Target {
    fn parse(dest: &str, ssh: Option<&str>) -> anyhow::Result<Target> {
        let ssh: Vec<String> = ssh.unwrap_or("ssh").split_whitespace().map(str::to_string).collect();
        if ssh.is_empty() {
            bail!("--ssh is empty; give the ssh command, e.g. `ssh -p 2222`");
        }
        let remote = dest.split_once(':').filter(|(h, _)| !h.is_empty() && !h.contains('/'));
        let (t, path) = match remote {
            Some((host, path)) => (Target::Remote { host: host.into(), path: path.into(), ssh }, path.to_string()),
            None => {
                let abs = std::path::absolute(dest).with_context(|| format!("cannot resolve `{dest}`"))?;
                let p = abs.to_str().with_context(|| format!("`{dest}` is not valid UTF-8"))?.to_string();
                (Target::Local(p.clone()), p)
            }
        };
        let path = path.trim_end_matches('/');
        if !path.starts_with('/') || path.len() < 2 || path.split('/').any(|c| c == "..") {
            bail!(
                "deploy destination `{dest}` must be an absolute path (the `site.root` the configs name), without `..`"
            );
        }
        if path.chars().any(|c| c.is_control() || c == '\'') {
            bail!("deploy destination `{dest}` holds a quote or a control character; choose a plain path");
        }
        Ok(match t {
            Target::Local(_) => Target::Local(path.into()),
            Target::Remote { host, ssh, .. } => Target::Remote { host, path: path.into(), ssh },
        })
    }

    fn path(&self) -> &str {
        match self {
            Target::Local(p) | Target::Remote { path: p, .. } => p,
        }
    }

    /// `path` as rsync names it.
    fn rsync_path(&self, path: &str) -> String {
        match self {
            Target::Local(_) => path.to_string(),
            Target::Remote { host, .. } => format!("{host}:{path}"),
        }
    }

    /// rsync's `-e` for a remote target.
    fn rsh(&self) -> Option<String> {
        match self {
            Target::Local(_) => None,
            Target::Remote { ssh, .. } => Some(format!("{} -o BatchMode=yes", ssh.join(" "))),
        }
    }

    /// Runs the release script with `args` where the releases are; returns its standard output.
    fn script(&self, args: &[&str]) -> anyhow::Result<String> {
        let mut cmd = match self {
            Target::Local(_) => {
                let mut c = Command::new("sh");
                c.arg("-s").arg("--").args(args);
                c
            }
            Target::Remote { host, ssh, .. } => {
                let mut c = Command::new(&ssh[0]);
                let quoted: Vec<String> = args.iter().map(|a| format!("'{}'", a.replace('\'', r"'\''"))).collect();
                c.args(&ssh[1..]).arg("-o").arg("BatchMode=yes").arg(host);
                c.arg(format!("sh -s -- {}", quoted.join(" ")));
                c
            }
        };
        let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().with_context(
            || match self {
                Target::Local(_) => "cannot run `sh` for the deploy".to_string(),
                Target::Remote { ssh, .. } => format!("cannot run `{}` for the deploy; install openssh-client", ssh[0]),
            },
        )?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(SCRIPT.as_bytes()).context("cannot pass the release script to `sh`")?;
        }
        let out = child.wait_with_output().context("the release script did not finish")?;
        if !out.status.success() {
            bail!(
                "{} (release step `{}` at `{}`)",
                String::from_utf8_lossy(&out.stderr).trim(),
                args.first().copied().unwrap_or_default(),
                self.rsync_path(self.path())
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }
}

/// The server side. Releases sort by name (a UTC time, then a counter).
const SCRIPT: &str = r#"set -eu
cmd=$1 dest=$2
rel="$dest.releases"
case $cmd in
current)
  if [ -L "$dest" ]; then t=$(readlink "$dest"); echo "${t##*/}"
  elif [ -e "$dest" ]; then
    echo "\`$dest\` is a directory, not a release link; move it aside (or deploy elsewhere) once, and pxebake deploy makes it a link to its releases" >&2; exit 3
  fi ;;
new)
  mkdir -p "$rel"; id=$(date -u +%Y%m%dT%H%M%SZ); n=$id; i=1
  while ! mkdir "$rel/$n" 2>/dev/null; do i=$((i+1)); n="$id-$(printf %03d "$i")"; done
  echo "$n" ;;
switch)
  [ -d "$rel/$3" ] || { echo "release \`$3\` does not exist in \`$rel\`" >&2; exit 3; }
  ln -s "${rel##*/}/$3" "$dest.pxebake-link"
  mv -T "$dest.pxebake-link" "$dest" ;;
list)
  [ -d "$rel" ] && ls -1 "$rel" | sort ;;
remove)
  rm -rf "$rel/$3" ;;
same)
  diff -r "$rel/$3/$5" "$rel/$4/$5" >/dev/null 2>&1 && echo same || echo differs ;;
run)
  sh -c "$3" ;;
*) echo "unknown release step $cmd" >&2; exit 2 ;;
esac
"#;

/// What a deploy did.
#[derive(Debug, serde::Serialize)]
pub struct Outcome {
    pub release: String,
    pub previous: Option<String>,
    pub removed: Vec<String>,
    pub reloaded: bool,
}

/// Copies `out` into a new release at `opts.dest` and switches to it.
pub fn deploy(out: &Path, opts: &Options, report: &dyn Report) -> anyhow::Result<Outcome> {
    let target = Target::parse(&opts.dest, opts.ssh.as_deref())?;
    let dest = target.path().to_string();
    let current = Some(target.script(&["current", &dest])?).filter(|c| !c.is_empty());
    let release = target.script(&["new", &dest])?;
    let dir = format!("{dest}.releases/{release}");
    let mut rsync = Command::new("rsync");
    rsync.arg("-aH").arg("--delete");
    if let Some(rsh) = target.rsh() {
        rsync.arg("-e").arg(rsh);
    }
    if let Some(c) = &current {
        rsync.arg(format!("--link-dest={dest}.releases/{c}"));
    }
    let src = format!("{}/", out.display());
    let copied = rsync
        .arg(&src)
        .arg(format!("{}/", target.rsync_path(&dir)))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .context("cannot run `rsync`; install it (on the server too)")?;
    if !copied.status.success() {
        let _ = target.script(&["remove", &dest, &release]);
        bail!(
            "rsync of `{src}` to `{}` failed ({}): {}; the current release was left in place",
            target.rsync_path(&dir),
            copied.status,
            String::from_utf8_lossy(&copied.stderr).trim()
        );
    }
    target.script(&["switch", &dest, &release])?;
    report.say(&format!("`{}` now serves release `{release}`", target.rsync_path(&dest)));
    let reloaded = reload_if_changed(&target, &dest, current.as_deref(), &release, opts.reload.as_deref(), report)?;
    let removed = prune(&target, &dest, &release, opts.keep)?;
    Ok(Outcome { release, previous: current, removed, reloaded })
}

/// Keeps the newest `keep` releases and the current one.
fn prune(target: &Target, dest: &str, current: &str, keep: usize) -> anyhow::Result<Vec<String>> {
    let all = target.script(&["list", dest])?;
    let all: Vec<&str> = all.lines().collect();
    let mut removed = Vec::new();
    for r in all.iter().rev().skip(keep.max(1)) {
        if *r != current {
            target.script(&["remove", dest, r])?;
            removed.push(r.to_string());
        }
    }
    Ok(removed)
}

/// Runs `reload` where the releases are when `a` and `b` hold different DHCP reservations
/// (`a` None: a first release). dnsmasq rereads new reservation files by itself, but forgets
/// changed or removed ones only when told to. Returns whether it ran.
fn reload_if_changed(
    target: &Target,
    dest: &str,
    a: Option<&str>,
    b: &str,
    reload: Option<&str>,
    report: &dyn Report,
) -> anyhow::Result<bool> {
    let Some(cmd) = reload else { return Ok(false) };
    let changed = match a {
        Some(a) => target.script(&["same", dest, a, b, "etc/dnsmasq.hosts"])? != "same",
        None => true,
    };
    if changed {
        target.script(&["run", dest, cmd]).context("the release is live, but the reload command failed")?;
        report.say(&format!("reservations changed: ran `{cmd}`"));
    }
    Ok(changed)
}

/// Switches `dest` back to the release before the current one (running `reload` when that
/// changes the reservations); returns (from, to).
pub fn rollback(
    dest: &str,
    ssh: Option<&str>,
    reload: Option<&str>,
    report: &dyn Report,
) -> anyhow::Result<(String, String)> {
    let target = Target::parse(dest, ssh)?;
    let dest = target.path().to_string();
    let Some(current) = Some(target.script(&["current", &dest])?).filter(|c| !c.is_empty()) else {
        bail!("`{}` has no release to roll back from; deploy one first", target.rsync_path(&dest));
    };
    let all = target.script(&["list", &dest])?;
    let Some(previous) = all.lines().rfind(|r| *r < current.as_str()).map(str::to_string) else {
        bail!(
            "`{}` serves release `{current}` and keeps none older; nothing to roll back to",
            target.rsync_path(&dest)
        );
    };
    target.script(&["switch", &dest, &previous])?;
    report.say(&format!("`{}` now serves release `{previous}` again (was `{current}`)", target.rsync_path(&dest)));
    reload_if_changed(&target, &dest, Some(&current), &previous, reload, report)?;
    Ok((current, previous))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_are_local_or_ssh_and_absolute() {
        assert!(
            matches!(Target::parse("boot1:/srv/pxebake", None).unwrap(), Target::Remote { host, path, .. } if host == "boot1" && path == "/srv/pxebake")
        );
        assert!(
            matches!(Target::parse("root@boot1:/srv/x/", Some("ssh -p 2222")).unwrap(), Target::Remote { path, ssh, .. } if path == "/srv/x" && ssh == ["ssh", "-p", "2222"])
        );
        assert!(matches!(Target::parse("/srv/pxebake", None).unwrap(), Target::Local(p) if p == "/srv/pxebake"));
        assert!(Target::parse("boot1:srv", None).is_err());
        assert!(Target::parse("/", None).is_err());
        assert!(Target::parse("/srv/../etc", None).is_err());
        assert!(Target::parse("/srv/it's", None).is_err());
    }
}
