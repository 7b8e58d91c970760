//! `make bench`: how pxebake scales. For 10,000 and 100,000 hosts of a synthetic site (several
//! networks and appliances, every firmware path, per-host cloud-configs), on a tmpfs of its own
//! (where the disk does not hide the program) and on the disk under `target/`, measures a full
//! build, a no-op rebuild, a rebuild after editing one host, peak memory, each stage's time and
//! memory (`PXEBAKE_TIMINGS=1`), and the file-creation floor (bench/floor.rs: the identical tree,
//! from memory, created with plain syscalls from two threads). Writes its tables into
//! BENCHMARKS.md between markers. Medians of several runs; nothing here is a pass/fail test.
//!
//! `PXEBAKE_BENCH_SIZES=10000,100000` picks the sizes, `PXEBAKE_BENCH_RUNS=3` the runs per figure,
//! `PXEBAKE_BENCH_FS=tmpfs,disk` where to build. `PXEBAKE_BENCH_CHECK=1000000` also times one
//! `pxebake check` of that many hosts, `PXEBAKE_BENCH_BIGATTR=20000` one of that many hosts with a
//! large unused attribute. `PXEBAKE_BENCH_SITE=DIR` only writes the site of the first size into
//! DIR, for profiling by hand (`PXEBAKE_TIMINGS=1 pxebake build`, `perf record`).

#[path = "../bench/floor.rs"]
mod floor;

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const NETWORKS: [(&str, u8); 4] = [("rack-a", 16), ("rack-b", 17), ("rack-c", 18), ("rack-d", 19)];
const APPLIANCES: [&str; 3] = ["compute", "storage", "gpu"];

/// `wide`: /12 networks, for more hosts than four /16s hold (the 1,000,000-host check).
fn site_yaml(wide: bool) -> String {
    let mut s = String::from(
        "site: { name: bench, domain: bench.example, frontend: 10.15.0.1, http: \"http://10.15.0.1/boot\", root: /srv/pxebake }\nnetworks:\n  boot: { address: 10.15.0.0/16, gateway: 10.15.0.1, zone: bench.example, mtu: 1500, pxe: true }\n",
    );
    for (k, (name, octet)) in NETWORKS.into_iter().enumerate() {
        let (octet, bits) = if wide { (16 * (k + 1), 12) } else { (usize::from(octet), 16) };
        writeln!(s, "  {name}: {{ address: 10.{octet}.0.0/{bits}, gateway: 10.{octet}.0.1, zone: bench.example, mtu: 9000, pxe: true }}").unwrap();
    }
    s.push_str(
        "  public: { address: 172.16.0.0/12, gateway: 172.16.0.1, zone: bench.example, mtu: 1500, pxe: false }\n",
    );
    s.push_str(
        r#"images:
  flatcar:
    url: "http://127.0.0.1:9/{version}/"
    version: "4230.2.4"
    key: key.asc
    files: { kernel: flatcar_production_pxe.vmlinuz, initrd: flatcar_production_pxe_image.cpio.gz, disk: flatcar_production_image.bin.bz2 }
bootactions:
  coreos:
    kernel: vmlinuz.coreos
    ramdisk: initrd.coreos
    image: flatcar
    args: "cloud-config-url={{ site.http }}/coreos/{{ host.name }}.yaml console=tty0 console=ttyS0,115200n8"
  flatcar-install:
    kernel: vmlinuz.coreos
    ramdisk: initrd.coreos
    image: flatcar
    ignition: "install/{{ host.name }}.ign"
    args: "console=ttyS0,115200n8"
  os: { localboot: 0 }
appliances:
  compute: { installaction: coreos, runaction: os }
  storage: { installaction: flatcar-install, runaction: os, attributes: { install_disk: /dev/nvme0n1 } }
  gpu: { installaction: coreos, runaction: os }
attributes:
  install_image: flatcar
  ssh_authorized_keys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIL8nsEbaRvF+Vyj/evpQLjLUfnDzk/3WUPRHo2gWwj0d ops@bench"]
files:
  - { path: "coreos/{{ host.name }}.yaml", template: cloud-config.yaml, hosts: "compute,storage,gpu" }
  - { path: "install/{{ host.name }}.ign", template: flatcar-install.bu, hosts: storage }
  - { path: "install/{{ host.name }}.sh", template: flatcar-install.sh, hosts: storage }
  - { path: "ignition/{{ host.name }}.ign", template: flatcar.bu, hosts: storage }
"#,
    );
    s
}

fn hosts_yaml(lo: usize, hi: usize, wide: bool) -> String {
    let mut s = String::with_capacity((hi - lo) * 220);
    s.push_str("hosts:\n");
    for i in lo..hi {
        let (net, octet) = NETWORKS[i % NETWORKS.len()];
        let j = i / NETWORKS.len(); // index within the network
        let (octet, third) =
            if wide { (16 * (i % 4 + 1) + j / 62500, 1 + (j / 250) % 250) } else { (usize::from(octet), 1 + j / 250) };
        let appliance = APPLIANCES[i % APPLIANCES.len()];
        writeln!(
            s,
            "  - {{ name: n{i:06}, appliance: {appliance}, rack: {}, rank: {}, cpus: 64, boot: install, interfaces: [{{ network: {net}, name: eth0, default: true, mac: \"02:00:{:02x}:{:02x}:{:02x}:{:02x}\", ip: 10.{octet}.{}.{} }}, {{ network: public, name: eth1, ip: 172.{}.{}.{} }}] }}",
            i / 40,
            i % 40,
            (i >> 24) & 255,
            (i >> 16) & 255,
            (i >> 8) & 255,
            i & 255,
            third,
            1 + j % 250,
            16 + i / 62500,
            (i / 250) % 250,
            1 + i % 250,
        )
        .unwrap();
    }
    s
}

/// Stage name, milliseconds, peak RSS (KiB) at its end.
type Stages = Vec<(String, f64, u64)>;

/// One run of the binary: wall time, peak RSS (KiB), stdout, and the stage times and peak RSS
/// that `PXEBAKE_TIMINGS=1` printed.
struct Run {
    wall: Duration,
    /// User + system CPU time (less disturbed than wall time when other work shares the cores).
    cpu: Duration,
    rss_kb: u64,
    stdout: String,
    stages: Stages,
}

/// Runs the binary with `PXEBAKE_TIMINGS=1`.
fn run(bin: &Path, dir: &Path, args: &[&str]) -> Run {
    let start = Instant::now();
    let child = Command::new(bin)
        .current_dir(dir)
        .args(args)
        .env("PXEBAKE_TIMINGS", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn pxebake");
    let pid = child.id() as i32;
    let mut child = child;
    let mut stderr = child.stderr.take().expect("stderr");
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut s);
        s
    });
    let mut stdout = String::new();
    let _ = std::io::Read::read_to_string(child.stdout.as_mut().expect("stdout"), &mut stdout);
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waiting for our own child (not yet reaped), with valid pointers.
    unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    let err = err.join().unwrap_or_default();
    assert!(status == 0, "pxebake {args:?} failed: {err}");
    let tv = |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    let cpu = tv(usage.ru_utime) + tv(usage.ru_stime);
    let stages = stages(&err);
    // Linux keeps a process's peak RSS across exec, so ru_maxrss counts the bench's own pages at
    // the fork; the program's own peak (VmHWM, printed with each stage) is the figure, and its
    // last stage has the highest.
    let rss_kb = stages.iter().map(|s| s.2).max().unwrap_or(usage.ru_maxrss as u64);
    Run { wall, cpu, rss_kb, stdout, stages }
}

/// `timing: render      2412.3 ms  rss 123 kB  peak 456 kB` -> (stage, ms, peak KiB).
fn stages(stderr: &str) -> Stages {
    stderr
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.strip_prefix("timing:")?.split_whitespace().collect();
            let ms = f.get(1)?.parse().ok()?;
            let peak = f.iter().position(|w| *w == "peak").and_then(|i| f.get(i + 1)?.parse().ok()).unwrap_or(0);
            Some((f[0].to_string(), ms, peak))
        })
        .collect()
}

fn median<T: PartialOrd + Copy>(mut v: Vec<T>) -> T {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    v[v.len() / 2]
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// The median of each stage over several runs, in the order the stages ran, with the peak RSS
/// at the end of the stage (largest over the runs).
fn stage_medians(runs: &[Run]) -> Stages {
    let Some(first) = runs.first() else { return Vec::new() };
    first
        .stages
        .iter()
        .map(|(name, _, _)| {
            let of = |r: &Run| r.stages.iter().find(|s| &s.0 == name).map(|s| (s.1, s.2));
            let ms = median(runs.iter().filter_map(|r| of(r).map(|s| s.0)).collect());
            let peak = runs.iter().filter_map(|r| of(r).map(|s| s.1)).max().unwrap_or(0);
            (name.clone(), ms, peak)
        })
        .collect()
}

struct Row {
    n: usize,
    files: u64,
    bytes: u64,
    full: Duration,
    full_cpu: Duration,
    noop: Duration,
    noop_cpu: Duration,
    noop_written: u64,
    edit: Duration,
    edit_written: u64,
    rss_mb: u64,
    floor: Duration,
    /// (what, stage medians): full build, no-op, one edit.
    stages: Vec<(&'static str, Stages)>,
}

fn write_site(dir: &Path, n: usize, extra_attributes: &str) {
    let _ = fs::remove_dir_all(dir);
    fs::create_dir_all(dir.join("inventory")).unwrap();
    fs::write(
        dir.join("inventory/site.yaml"),
        site_yaml(n > 250_000).replace("attributes:\n", &format!("attributes:\n{extra_attributes}")),
    )
    .unwrap();
    // pxebake reads input files of at most 64 MiB: 100,000 hosts a file.
    for lo in (0..n).step_by(100_000) {
        let name = if lo == 0 { "hosts.yaml".to_string() } else { format!("hosts-{lo:07}.yaml") };
        fs::write(dir.join("inventory").join(name), hosts_yaml(lo, n.min(lo + 100_000), n > 250_000)).unwrap();
    }
    fs::write(dir.join("inventory/key.asc"), "unused: the benchmark builds with --no-images\n").unwrap();
}

const BUILD: [&str; 5] = ["--output", "json", "build", "--no-images", "--no-bootloaders"];

fn bench_size(bin: &Path, root: &Path, n: usize, runs: usize) -> Row {
    let dir = root.join(format!("site-{n}"));
    write_site(&dir, n, "");
    let clean = || {
        let _ = fs::remove_dir_all(dir.join("out"));
        let _ = fs::remove_file(dir.join(".out.pxebake-manifest"));
        let _ = fs::remove_file(dir.join(".out.pxebake-stamp"));
        // A full build starts from nothing: not from the last run's parsed inventory either.
        let _ = fs::remove_dir_all(dir.join(".out.pxebake-load"));
    };
    let mut full = Vec::new();
    for _ in 0..runs {
        clean();
        sync();
        full.push(run(bin, &dir, &BUILD));
    }
    let mut noop = Vec::new();
    for _ in 0..runs {
        noop.push(run(bin, &dir, &BUILD));
    }
    let mut edit = Vec::new();
    for i in 0..runs {
        // Edit one host: flip its boot state, as `pxebake set boot n000000 os` would.
        let state = if i % 2 == 0 { "os" } else { "install" };
        fs::write(dir.join("inventory/boot.yaml"), format!("boot:\n  n000000: {state}\n")).unwrap();
        edit.push(run(bin, &dir, &BUILD));
    }
    // The floor: the same tree, from memory, by a minimal two-thread writer (bench/floor.rs).
    let snap = floor::snapshot(&dir.join("out"));
    let mut floors = Vec::new();
    for _ in 0..runs {
        let dest = root.join("floor");
        let _ = fs::remove_dir_all(&dest);
        sync();
        floors.push(floor::write(&snap, &dest, 2));
        let _ = fs::remove_dir_all(&dest);
    }
    let files = snap.items.len() as u64;
    let bytes = snap.bytes();
    drop(snap);
    let _ = fs::remove_dir_all(&dir);
    let all = full.iter().chain(&noop).chain(&edit);
    Row {
        n,
        files,
        bytes,
        full: median(full.iter().map(|r| r.wall).collect()),
        noop: median(noop.iter().map(|r| r.wall).collect()),
        noop_cpu: median(noop.iter().map(|r| r.cpu).collect()),
        full_cpu: median(full.iter().map(|r| r.cpu).collect()),
        noop_written: noop.iter().map(|r| json(&r.stdout, "written")).max().unwrap_or(0),
        edit: median(edit.iter().map(|r| r.wall).collect()),
        edit_written: edit.iter().map(|r| json(&r.stdout, "written")).max().unwrap_or(0),
        rss_mb: all.map(|r| r.rss_kb).max().unwrap_or(0) / 1024,
        floor: median(floors),
        stages: vec![
            ("full", stage_medians(&full)),
            ("no-op", stage_medians(&noop)),
            ("one edit", stage_medians(&edit)),
        ],
    }
}

/// Replaces the text between `begin` and `end` markers (appends the block when they are missing).
fn splice(old: &str, begin: &str, end: &str, block: &str) -> String {
    match (old.find(begin), old.find(end)) {
        (Some(a), Some(b)) if a < b => format!("{}{block}{}", &old[..a], &old[b + end.len()..]),
        _ => format!("{old}\n{block}\n"),
    }
}

fn json(out: &str, key: &str) -> u64 {
    serde_json::from_str::<serde_json::Value>(out.trim()).ok().and_then(|v| v[key].as_u64()).unwrap_or(0)
}

fn sync() {
    let _ = Command::new("sync").status();
}

fn fs_type(dir: &Path) -> String {
    Command::new("stat")
        .args(["-f", "-c", "%T"])
        .arg(dir)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// The 1-minute load average: other work on the machine disturbs wall times.
fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_default()
}

fn machine() -> String {
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name").map(|v| v.trim_start_matches([' ', '\t', ':']).to_string()))
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().next().map(|l| l.split_whitespace().nth(1).unwrap_or("0").parse::<u64>().unwrap_or(0)))
        .unwrap_or(0);
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cores} cores ({cpu}), {:.0} GiB RAM, Linux {}", mem as f64 / 1048576.0, kernel.trim())
}

/// A tmpfs of our own under `dir`, unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path) -> Tmpfs {
        let _ = Command::new("umount").arg(dir).stderr(std::process::Stdio::null()).status();
        fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=12g,mode=0755", "pxebake-bench"])
            .arg(dir)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "cannot mount a tmpfs on `{}` (the bench measures on tmpfs and needs root or CAP_SYS_ADMIN): {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Tmpfs(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn tables(rows: &[Row]) -> String {
    let mut t = String::new();
    t.push_str("| hosts | files | MB | full build | CPU | floor | full / floor | no-op rebuild | CPU | no-op / full | files written (no-op) | one host edited | edit / full | files written (edit) | peak RSS |\n");
    t.push_str("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for r in rows {
        let full = r.full.as_secs_f64();
        writeln!(
            t,
            "| {} | {} | {:.0} | {} | {} | {} | {:.2}x | {} | {} | {:.1}% | {} | {} | {:.1}% | {} | {} MB |",
            r.n,
            r.files,
            r.bytes as f64 / 1e6,
            secs(r.full),
            secs(r.full_cpu),
            secs(r.floor),
            full / r.floor.as_secs_f64(),
            secs(r.noop),
            secs(r.noop_cpu),
            100.0 * r.noop.as_secs_f64() / full,
            r.noop_written,
            secs(r.edit),
            100.0 * r.edit.as_secs_f64() / full,
            r.edit_written,
            r.rss_mb
        )
        .unwrap();
    }
    // Issue 15's targets, judged on the largest size of this run.
    if let Some(r) = rows.last() {
        let full = r.full.as_secs_f64();
        let verdict = |ok: bool| if ok { "met" } else { "**missed**" };
        let targets = [
            (
                "full build <= 1.5x the floor",
                format!("{:.2}x", full / r.floor.as_secs_f64()),
                full <= 1.5 * r.floor.as_secs_f64(),
            ),
            (
                "no-op rebuild <= 5% of the full build, zero files written",
                format!("{:.1}%, {} written", 100.0 * r.noop.as_secs_f64() / full, r.noop_written),
                r.noop.as_secs_f64() <= 0.05 * full && r.noop_written == 0,
            ),
            (
                "one edited host <= 10% of the full build, only its changed files",
                format!("{:.1}%, {} written", 100.0 * r.edit.as_secs_f64() / full, r.edit_written),
                r.edit.as_secs_f64() <= 0.10 * full && r.edit_written <= 5,
            ),
            ("peak RSS <= 250 MB", format!("{} MB", r.rss_mb), r.rss_mb <= 250),
        ];
        writeln!(t, "\nTargets at {} hosts:\n\n| target | measured | |\n|---|---|---|", r.n).unwrap();
        for (what, measured, ok) in targets {
            writeln!(t, "| {what} | {measured} | {} |", verdict(ok)).unwrap();
        }
    }
    // Stage times (medians) and the peak RSS reached by the end of each stage (`PXEBAKE_TIMINGS=1`).
    let mut names: Vec<String> = rows
        .iter()
        .flat_map(|r| r.stages.iter().flat_map(|(_, s)| s.iter().map(|x| x.0.clone())))
        .fold(Vec::new(), |mut v, n| {
            if !v.contains(&n) {
                v.push(n);
            }
            v
        });
    // In the order a build runs them (a stage only rebuilds have would come last otherwise).
    const ORDER: [&str; 10] = [
        "load",
        "templates",
        "render:manifest",
        "render:hosts",
        "render:plan",
        "render",
        "compare",
        "lint",
        "write",
        "confirm",
    ];
    names.sort_by_key(|n| ORDER.iter().position(|o| o == n).unwrap_or(ORDER.len()));
    t.push_str(
        "\nStages (`PXEBAKE_TIMINGS=1`; median ms, and in brackets the peak RSS in MB at the end of the stage):\n\n",
    );
    t.push_str("| hosts | run |");
    for n in &names {
        write!(t, " {n} |").unwrap();
    }
    t.push_str("\n|---:|---|");
    t.push_str(&"---:|".repeat(names.len()));
    t.push('\n');
    for r in rows {
        for (what, s) in &r.stages {
            write!(t, "| {} | {what} |", r.n).unwrap();
            for n in &names {
                match s.iter().find(|x| &x.0 == n) {
                    Some((_, ms, peak)) => write!(t, " {ms:.0} ({}) |", peak / 1024).unwrap(),
                    None => t.push_str(" |"),
                }
            }
            t.push('\n');
        }
    }
    // How each size grows against the previous one.
    for w in rows.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        let x = b.n as f64 / a.n as f64;
        write!(
            t,
            "\nFrom {} to {} hosts ({x:.0}x): full build {:.1}x, floor {:.1}x, no-op {:.1}x, peak RSS {:.1}x",
            a.n,
            b.n,
            b.full.as_secs_f64() / a.full.as_secs_f64(),
            b.floor.as_secs_f64() / a.floor.as_secs_f64(),
            b.noop.as_secs_f64() / a.noop.as_secs_f64(),
            b.rss_mb as f64 / a.rss_mb.max(1) as f64,
        )
        .unwrap();
        let (sa, sb) = (&a.stages[0].1, &b.stages[0].1);
        for (name, ms, peak) in sb {
            if let Some((_, ma, pa)) = sa.iter().find(|s| &s.0 == name) {
                write!(t, "; {name} {:.1}x time, {:.1}x peak", ms / ma.max(0.1), *peak as f64 / (*pa).max(1) as f64)
                    .unwrap();
            }
        }
        t.push_str(".\n");
    }
    t
}

/// `pxebake check` of a large site once (`PXEBAKE_BENCH_CHECK=1000000`), and a site with one
/// large unused attribute (`PXEBAKE_BENCH_BIGATTR=20000`: 20,000 hosts, one 1 MB attribute).
fn bench_check(bin: &Path, root: &Path, n: usize, extra: &str) -> (Run, String) {
    let dir = root.join(format!("check-{n}"));
    write_site(&dir, n, extra);
    let r = run(bin, &dir, &["check", "--no-images", "--no-bootloaders"]);
    let _ = fs::remove_dir_all(&dir);
    let stages: Vec<String> =
        r.stages.iter().map(|(s, ms, peak)| format!("{s} {:.1} s ({} MB)", ms / 1000.0, peak / 1024)).collect();
    let line = format!(
        "{} s wall, peak RSS {} MB; stages: {}",
        format_args!("{:.1}", r.wall.as_secs_f64()),
        r.rss_kb / 1024,
        stages.join(", ")
    );
    (r, line)
}

fn rewrite(begin: &str, end: &str, report: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("BENCHMARKS.md");
    let old = fs::read_to_string(&path).unwrap_or_else(|_| "# Benchmarks\n\n".into());
    let mut new = splice(&old, begin, end, &format!("{begin}\n{report}{end}"));
    // bench/images.sh's table (written by `make bench` just before) goes in its own block.
    if let Ok(images) = fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-images.md")) {
        let (b, e) = ("<!-- images:begin -->", "<!-- images:end -->");
        let block = format!("{b}\n## Images (`bench/images.sh`)\n\nMachine: {}.\n\n{images}{e}", machine());
        new = splice(&new, b, e, &block);
    }
    fs::write(&path, new).unwrap();
    eprintln!("bench: results written to {}", path.display());
}

fn main() {
    // `cargo bench` passes `--bench`; ignore arguments.
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_pxebake"));
    let env = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.into());
    let sizes: Vec<usize> =
        env("PXEBAKE_BENCH_SIZES", "10000,100000").split(',').filter_map(|s| s.trim().parse().ok()).collect();
    let runs: usize = env("PXEBAKE_BENCH_RUNS", "3").parse().unwrap_or(3);
    if let Ok(dir) = std::env::var("PXEBAKE_BENCH_SITE") {
        // Only write the site of the first size into DIR (for profiling by hand).
        write_site(Path::new(&dir), sizes.first().copied().unwrap_or(10_000), "");
        return;
    }
    let base = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-scale");
    fs::create_dir_all(&base).unwrap();
    for place in env("PXEBAKE_BENCH_FS", "tmpfs,disk").split(',').filter(|s| !s.is_empty()) {
        let (root, _mount) = match place {
            "tmpfs" => {
                let dir = base.join("tmpfs");
                let m = Tmpfs::mount(&dir);
                (dir, Some(m))
            }
            "disk" => (base.clone(), None),
            other => panic!("PXEBAKE_BENCH_FS: unknown `{other}`; use tmpfs, disk or both"),
        };
        let fs_name = fs_type(&root);
        let load_before = loadavg();
        let mut rows = Vec::new();
        for &n in &sizes {
            eprintln!("bench: {place}: {n} hosts ...");
            let row = bench_size(&bin, &root, n, runs);
            eprintln!(
                "bench: {place}: {n} hosts: full {} (floor {}), no-op {}, one edit {} ({} files), peak {} MB",
                secs(row.full),
                secs(row.floor),
                secs(row.noop),
                secs(row.edit),
                row.edit_written,
                row.rss_mb
            );
            rows.push(row);
        }
        let mut t = tables(&rows);
        writeln!(t, "\nLoad average (1 min) of the machine before and after these runs: {load_before}, {}.", loadavg())
            .unwrap();
        println!("{t}");
        let report = format!(
            "## Scale on {place} (`make bench`, benches/scale.rs)\n\nMachine: {}; filesystem {fs_name}. Medians of {runs} runs; \
             `--no-images --no-bootloaders`, release build; CPU is user + system time of the build (wall time suffers when other work shares the 2 cores, CPU time less). The floor is bench/floor.rs: the identical tree, held in \
             memory, created in an empty directory on the same filesystem with plain syscalls from two threads, then one `syncfs`.\n\n{t}",
            machine()
        );
        rewrite(&format!("<!-- scale-{place}:begin -->"), &format!("<!-- scale-{place}:end -->"), &report);
    }
    let mut lines = Vec::new();
    if let Some(n) = std::env::var("PXEBAKE_BENCH_CHECK").ok().and_then(|v| v.parse::<usize>().ok()) {
        let dir = base.join("tmpfs");
        let _m = Tmpfs::mount(&dir);
        eprintln!("bench: check of {n} hosts ...");
        let (_, line) = bench_check(&bin, &dir, n, "");
        lines.push(format!("- `pxebake check` of {n} hosts (tmpfs): {line}"));
    }
    if let Some(n) = std::env::var("PXEBAKE_BENCH_BIGATTR").ok().and_then(|v| v.parse::<usize>().ok()) {
        let dir = base.join("tmpfs");
        let _m = Tmpfs::mount(&dir);
        let big = format!("  unused_blob: \"{}\"\n", "x".repeat(1 << 20));
        let (_, with) = bench_check(&bin, &dir, n, &big);
        let (_, without) = bench_check(&bin, &dir, n, "");
        lines.push(format!("- `pxebake check` of {n} hosts with one unused 1 MB site attribute: {with}"));
        lines.push(format!("- the same {n} hosts without it: {without}"));
    }
    if !lines.is_empty() {
        let report = format!(
            "## Large sites (`PXEBAKE_BENCH_CHECK`, `PXEBAKE_BENCH_BIGATTR`)\n\nMachine: {}.\n\n{}\n",
            machine(),
            lines.join("\n")
        );
        println!("{report}");
        rewrite("<!-- scale-check:begin -->", "<!-- scale-check:end -->", &report);
    }
}
