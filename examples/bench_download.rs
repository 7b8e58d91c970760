//! Helper for `bench/images.sh`: `bench_download URL FILE` downloads with pxebake's HTTP code
//! and nothing else (no verification), so its throughput can be compared with curl's.

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(url), Some(to)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: bench_download URL FILE");
    };
    let _ = std::fs::remove_file(&to);
    let n = pxebake::images::bench_download(&url, std::path::Path::new(&to))?;
    println!("{n}");
    Ok(())
}
