//! `make bench`: how pxebake scales. For N = 1,000, 10,000 and 100,000 hosts of a synthetic site
//! (several networks and appliances, every firmware path, per-host cloud-configs), measures a full
//! build, a no-op rebuild, a rebuild after editing one host, peak memory, and the file-write floor
//! (extracting a tar of the identical tree into an empty directory on the same disk, without
//! restoring owners or mtimes, so only creating and writing files counts). Prints a
//! table and writes BENCHMARKS.md. Medians of several runs; nothing here is a pass/fail test.
//!
//! `PXEBAKE_BENCH_SIZES=1000,10000` picks other sizes, `PXEBAKE_BENCH_RUNS=3` the runs per figure.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const NETWORKS: [(&str, u8); 4] = [("rack-a", 16), ("rack-b", 17), ("rack-c", 18), ("rack-d", 19)];
const APPLIANCES: [&str; 3] = ["compute", "storage", "gpu"];

fn site_yaml() -> String {
    let mut s = String::from(
        "site: { name: bench, domain: bench.example, frontend: 10.15.0.1, http: \"http://10.15.0.1/boot\", root: /srv/pxebake }\nnetworks:\n  boot: { address: 10.15.0.0/16, gateway: 10.15.0.1, zone: bench.example, mtu: 1500, pxe: true }\n",
    );
    for (name, octet) in NETWORKS {
        writeln!(s, "  {name}: {{ address: 10.{octet}.0.0/16, gateway: 10.{octet}.0.1, zone: bench.example, mtu: 9000, pxe: true }}").unwrap();
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
    args: "cloud-config-url={{ site.http }}/install/{{ host.name }}.yaml console=ttyS0,115200n8"
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
  - { path: "install/{{ host.name }}.yaml", template: flatcar-install.yaml, hosts: storage }
  - { path: "install/{{ host.name }}.sh", template: flatcar-install.sh, hosts: storage }
"#,
    );
    s
}

fn hosts_yaml(n: usize) -> String {
    let mut s = String::with_capacity(n * 220);
    s.push_str("hosts:\n");
    for i in 0..n {
        let (net, octet) = NETWORKS[i % NETWORKS.len()];
        let j = i / NETWORKS.len(); // index within the network
        let appliance = APPLIANCES[i % APPLIANCES.len()];
        writeln!(
            s,
            "  - {{ name: n{i:06}, appliance: {appliance}, rack: {}, rank: {}, cpus: 64, boot: install, interfaces: [{{ network: {net}, name: eth0, mac: \"02:00:{:02x}:{:02x}:{:02x}:{:02x}\", ip: 10.{octet}.{}.{} }}, {{ network: public, name: eth1, ip: 172.{}.{}.{} }}] }}",
            i / 40,
            i % 40,
            (i >> 24) & 255,
            (i >> 16) & 255,
            (i >> 8) & 255,
            i & 255,
            1 + j / 250,
            1 + j % 250,
            16 + i / 62500,
            (i / 250) % 250,
            1 + i % 250,
        )
        .unwrap();
    }
    s
}

/// Runs the binary, returning wall time, peak RSS (KiB) and stdout.
fn run(bin: &Path, dir: &Path, args: &[&str]) -> (Duration, u64, String) {
    let start = Instant::now();
    let child = Command::new(bin)
        .current_dir(dir)
        .args(args)
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
    let elapsed = start.elapsed();
    let err = err.join().unwrap_or_default();
    assert!(status == 0, "pxebake {args:?} failed: {err}");
    (elapsed, usage.ru_maxrss as u64, stdout)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

struct Row {
    n: usize,
    files: u64,
    full: Duration,
    noop: Duration,
    noop_written: u64,
    edit: Duration,
    edit_written: u64,
    rss_mb: u64,
    floor: Duration,
}

fn bench_size(bin: &Path, root: &Path, n: usize, runs: usize) -> Row {
    let dir = root.join(format!("site-{n}"));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("inventory")).unwrap();
    fs::write(dir.join("inventory/site.yaml"), site_yaml()).unwrap();
    fs::write(dir.join("inventory/hosts.yaml"), hosts_yaml(n)).unwrap();
    fs::write(dir.join("inventory/key.asc"), "unused: the benchmark builds with --no-images\n").unwrap();
    let build = ["--output", "json", "build", "--no-images", "--no-bootloaders"];
    let clean = || {
        let _ = fs::remove_dir_all(dir.join("out"));
        let _ = fs::remove_file(dir.join(".out.pxebake-manifest"));
    };
    let mut full = Vec::new();
    let mut rss = 0;
    let mut files = 0;
    for _ in 0..runs {
        clean();
        sync();
        let (t, r, out) = run(bin, &dir, &build);
        full.push(t);
        rss = rss.max(r);
        files = json(&out, "files");
    }
    let mut noop = Vec::new();
    let mut noop_written = 0;
    for _ in 0..runs {
        let (t, r, out) = run(bin, &dir, &build);
        noop.push(t);
        rss = rss.max(r);
        noop_written = noop_written.max(json(&out, "written"));
    }
    let mut edit = Vec::new();
    let mut edit_written = 0;
    for i in 0..runs {
        // Edit one host: flip its boot state, as `pxebake set boot n000000 os` would.
        let state = if i % 2 == 0 { "os" } else { "install" };
        fs::write(dir.join("inventory/boot.yaml"), format!("boot:\n  n000000: {state}\n")).unwrap();
        let (t, r, out) = run(bin, &dir, &build);
        edit.push(t);
        rss = rss.max(r);
        edit_written = edit_written.max(json(&out, "written"));
    }
    // The floor: extract a tar of the same tree into an empty directory on the same disk.
    let tar = root.join(format!("tree-{n}.tar"));
    let ok = Command::new("tar").arg("cf").arg(&tar).arg("-C").arg(&dir).arg("out").status().is_ok_and(|s| s.success());
    assert!(ok, "tar cf failed");
    let mut floor = Vec::new();
    for _ in 0..runs {
        let dest = root.join("floor");
        let _ = fs::remove_dir_all(&dest);
        fs::create_dir_all(&dest).unwrap();
        sync();
        let start = Instant::now();
        // Strict floor: create and write only (no chown, no mtime restore), as pxebake does.
        let ok = Command::new("tar")
            .args(["--no-same-owner", "--no-same-permissions", "-m", "-xf"])
            .arg(&tar)
            .arg("-C")
            .arg(&dest)
            .status()
            .is_ok_and(|s| s.success());
        floor.push(start.elapsed());
        assert!(ok, "tar xf failed");
        let _ = fs::remove_dir_all(&dest);
    }
    let _ = fs::remove_file(&tar);
    let _ = fs::remove_dir_all(&dir);
    Row {
        n,
        files,
        full: median(full),
        noop: median(noop),
        noop_written,
        edit: median(edit),
        edit_written,
        rss_mb: rss / 1024,
        floor: median(floor),
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
    let fs_type = Command::new("stat")
        .args(["-f", "-c", "%T", "."])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    format!(
        "{cores} cores ({cpu}), {:.0} GiB RAM, Linux {}, filesystem {fs_type}",
        mem as f64 / 1048576.0,
        kernel.trim()
    )
}

fn main() {
    // `cargo bench` passes `--bench`; ignore arguments.
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_pxebake"));
    let sizes: Vec<usize> = std::env::var("PXEBAKE_BENCH_SIZES")
        .unwrap_or_else(|_| "1000,10000,100000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let runs: usize = std::env::var("PXEBAKE_BENCH_RUNS").ok().and_then(|r| r.parse().ok()).unwrap_or(3);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-scale");
    fs::create_dir_all(&root).unwrap();
    let mut rows = Vec::new();
    for &n in &sizes {
        eprintln!("bench: {n} hosts ...");
        let row = bench_size(&bin, &root, n, runs);
        eprintln!(
            "bench: {n} hosts: full {} (floor {}), no-op {}, one edit {} ({} files), peak {} MB",
            secs(row.full),
            secs(row.floor),
            secs(row.noop),
            secs(row.edit),
            row.edit_written,
            row.rss_mb
        );
        rows.push(row);
    }
    let mut t = String::new();
    t.push_str("| hosts | files | full build | file-write floor | full / floor | no-op rebuild | no-op / full | files written (no-op) | one host edited | files written (edit) | peak RSS |\n");
    t.push_str("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for r in &rows {
        writeln!(
            t,
            "| {} | {} | {} | {} | {:.2}x | {} | {:.1}% | {} | {} | {} | {} MB |",
            r.n,
            r.files,
            secs(r.full),
            secs(r.floor),
            r.full.as_secs_f64() / r.floor.as_secs_f64(),
            secs(r.noop),
            100.0 * r.noop.as_secs_f64() / r.full.as_secs_f64(),
            r.noop_written,
            secs(r.edit),
            r.edit_written,
            r.rss_mb
        )
        .unwrap();
    }
    let scaling = rows
        .iter()
        .find(|r| r.n == 10_000)
        .zip(rows.iter().find(|r| r.n == 100_000))
        .map(|(a, b)| {
            format!(
                "Full build from 10,000 to 100,000 hosts: {:.1}x the time for 10x the hosts.\n",
                b.full.as_secs_f64() / a.full.as_secs_f64()
            )
        })
        .unwrap_or_default();
    println!("{t}\n{scaling}");
    let report = format!(
        "## Scale (`make bench`, benches/scale.rs)\n\nMachine: {}. Medians of {runs} runs; `--no-images --no-bootloaders`; \
         the floor is `tar --no-same-owner -m -xf` of the identical tree into an empty directory on the same disk.\n\n{t}\n{scaling}",
        machine()
    );
    // The measured part of BENCHMARKS.md sits between markers; the analysis around it is kept.
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("BENCHMARKS.md");
    let old = fs::read_to_string(&path).unwrap_or_else(|_| "# Benchmarks\n\n".into());
    let (begin, end) = ("<!-- scale:begin -->", "<!-- scale:end -->");
    let block = format!("{begin}\n{report}{end}");
    let mut new = splice(&old, begin, end, &block);
    // bench/images.sh's table (written by `make bench` just before) goes in its own block.
    if let Ok(images) = fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-images.md")) {
        let (b, e) = ("<!-- images:begin -->", "<!-- images:end -->");
        let block = format!("{b}\n## Images (`bench/images.sh`)\n\nMachine: {}.\n\n{images}{e}", machine());
        new = splice(&new, b, e, &block);
    }
    fs::write(&path, new).unwrap();
    eprintln!("bench: results written to {}", path.display());
}
