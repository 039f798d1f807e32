//! End-to-end bench of the synthetic city generator: generation throughput (persons/s and
//! rows/s) and peak memory, at one or more population sizes, each in a fresh child process so
//! that peak memory is measured per size.
//!
//! ```text
//! cargo run --release -p hedui-benches --bin bench-synth -- --population 100000 --population 2000000
//! ```

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Parser;

#[derive(Debug, Parser)]
struct Args {
    /// Population sizes to measure (repeat the flag).
    #[arg(long, default_values_t = [100_000usize])]
    population: Vec<usize>,
    /// Where to write the cities (removed afterwards unless --keep).
    #[arg(long, default_value = "hedui-data/bench-synth")]
    out: PathBuf,
    /// Keep the generated files.
    #[arg(long)]
    keep: bool,
    /// Internal: generate one size in this process and print the measurements.
    #[arg(long, hide = true)]
    child: bool,
}

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<f64>().ok()? / 1024.0)
}

fn dir_bytes(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            total += if p.is_dir() {
                dir_bytes(&p)
            } else {
                e.metadata().map_or(0, |m| m.len())
            };
        }
    }
    total
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.child {
        let &[n] = args.population.as_slice() else {
            bail!("--child takes exactly one --population");
        };
        let config = hedui_synth::Config {
            population: n,
            ..Default::default()
        };
        let started = Instant::now();
        let report = hedui_synth::generate(&config, &args.out)?;
        let secs = started.elapsed().as_secs_f64();
        let rows: u64 = report.files.iter().map(|f| f.rows).sum();
        println!(
            "{n}\t{secs:.2}\t{:.0}\t{rows}\t{:.0}\t{:.0}\t{:.1}",
            n as f64 / secs,
            rows as f64 / secs,
            peak_rss_mib().unwrap_or(f64::NAN),
            dir_bytes(&args.out) as f64 / 1_048_576.0
        );
        return Ok(());
    }
    let exe = std::env::current_exe().context("locating this binary")?;
    println!(
        "threads: {}",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!("population\tseconds\tpersons/s\trows\trows/s\tpeak_MiB\toutput_MiB");
    for n in &args.population {
        let out = args.out.join(format!("pop-{n}"));
        let status = Command::new(&exe)
            .args(["--child", "--population", &n.to_string(), "--out"])
            .arg(&out)
            .status()
            .context("running the child")?;
        if !status.success() {
            bail!("generation of {n} persons failed");
        }
        if !args.keep {
            std::fs::remove_dir_all(&out).ok();
        }
    }
    Ok(())
}
