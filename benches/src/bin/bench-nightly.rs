//! End-to-end bench of the nightly run: `hedui demo` on a synthetic city of the given size — a
//! first full night on snapshot-1; an incremental night on snapshot-2, a quarter later, served
//! by the department simulator (a quarter's births, deaths, jobs, contributions and property);
//! then a quiet night the day after with nothing new from the departments (most nights of the
//! year) — and the wall time and peak memory of every stage of each night, read from the runs'
//! saved state.
//!
//! ```sh
//! cargo build --release -p hedui-cli
//! cargo run --release -p hedui-benches --bin bench-nightly -- --population 200000
//! ```

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Parser;

#[derive(Debug, Parser)]
struct Args {
    /// Persons in the synthetic city.
    #[arg(long, default_value_t = 200_000)]
    population: usize,
    /// Seed of the city.
    #[arg(long, default_value_t = 5)]
    seed: u64,
    /// Working directory (emptied by the demo).
    #[arg(long, default_value = "/tmp/hedui-bench-nightly")]
    dir: PathBuf,
    /// The hedui binary (default: the release build next to this bench).
    #[arg(long)]
    hedui: Option<PathBuf>,
}

fn main() -> Result<()> {
    let a = Args::parse();
    let hedui = match a.hedui {
        Some(p) => p,
        None => {
            let me = std::env::current_exe()?;
            me.parent().context("bench dir")?.join("hedui")
        }
    };
    if !hedui.is_file() {
        bail!(
            "{} not found: build it first with `cargo build --release -p hedui-cli`",
            hedui.display()
        );
    }
    let t = Instant::now();
    let status = Command::new(&hedui)
        .args(["demo", "--population", &a.population.to_string()])
        .args([
            "--seed",
            &a.seed.to_string(),
            "--quiet-nights",
            "1",
            "--dir",
        ])
        .arg(&a.dir)
        .stdout(std::process::Stdio::null())
        .status()
        .context("running hedui demo")?;
    if !status.success() {
        bail!("hedui demo failed: {status}");
    }
    let wall = t.elapsed().as_secs_f64();
    let mut states: Vec<serde_json::Value> = std::fs::read_dir(a.dir.join("runs"))?
        .filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read(e.path().join("state.json")).ok())
        .filter_map(|b| serde_json::from_slice(&b).ok())
        .collect();
    states.sort_by(|x, y| x["run_id"].as_str().cmp(&y["run_id"].as_str()));
    println!(
        "hedui nightly bench: {} persons (seed {}), demo wall {:.1} s (synthesis and simulator included)",
        a.population, a.seed, wall
    );
    println!(
        "{:<12} {:<8} {:>9} {:>10} {:>11} {:>11} {:>11} {:>11} {:>8}",
        "night",
        "stage",
        "seconds",
        "peak MiB",
        "received",
        "written",
        "quarantined",
        "linked",
        "flagged"
    );
    for (i, s) in states.iter().enumerate() {
        let night = match i {
            0 => "full",
            1 => "quarter",
            _ => "quiet",
        };
        let mut total = 0.0;
        for st in s["completed"].as_array().into_iter().flatten() {
            let c = &st[1];
            let secs = c["seconds"].as_f64().unwrap_or(0.0);
            total += secs;
            println!(
                "{:<12} {:<8} {:>9.1} {:>10} {:>11} {:>11} {:>11} {:>11} {:>8}",
                night,
                st[0].as_str().unwrap_or(""),
                secs,
                c["peak_rss_mib"]
                    .as_u64()
                    .map(|m| m.to_string())
                    .unwrap_or_default(),
                c["received"].as_u64().unwrap_or(0),
                c["written"].as_u64().unwrap_or(0),
                c["quarantined"].as_u64().unwrap_or(0),
                c["linked"].as_u64().unwrap_or(0),
                c["flagged"].as_u64().unwrap_or(0),
            );
        }
        println!("{:<12} {:<8} {:>9.1}", night, "total", total);
    }
    Ok(())
}
