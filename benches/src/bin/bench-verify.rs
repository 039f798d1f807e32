//! End-to-end bench of the periodic check (`hedui check periodic`) on a synthetic city: the
//! baseline night on snapshot-1, then the measured night on snapshot-2 against it, each in its
//! own `hedui` process. Prints wall time, peak memory and throughput per stage (read, link,
//! facts, indicators + rules + diff, write) from the run's `summary.json`, the total, and the
//! flags raised; with `--truth`, the per-flag-type precision and recall.
//!
//! ```text
//! cargo build --release -p hedui-cli
//! cargo run --release -p hedui-benches --bin bench-verify -- --city /tmp/city2m
//! ```

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Parser;

#[derive(Debug, Parser)]
struct Args {
    /// The synthetic city (`hedui synth --out DIR`).
    #[arg(long)]
    city: PathBuf,
    /// Where the runs are written.
    #[arg(long, default_value = "hedui-data/bench-verify")]
    out: PathBuf,
    /// The `hedui` binary (default: next to this one).
    #[arg(long)]
    hedui: Option<PathBuf>,
    /// Also score the flags against the planted truth.
    #[arg(long)]
    truth: bool,
    /// Reuse an existing baseline run in `<out>/night-1` instead of computing it.
    #[arg(long)]
    reuse_baseline: bool,
}

fn main() -> Result<()> {
    let a = Args::parse();
    let hedui = match &a.hedui {
        Some(p) => p.clone(),
        None => std::env::current_exe()?.with_file_name("hedui"),
    };
    if !hedui.is_file() {
        bail!(
            "{} not found: build it with `cargo build --release -p hedui-cli` or pass --hedui",
            hedui.display()
        );
    }
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(a.city.join("manifest.json"))
            .with_context(|| format!("reading {}/manifest.json", a.city.display()))?,
    )?;
    let rows: u64 = manifest["files"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["snapshot"] == "snapshot-2")
        .filter_map(|f| f["rows"].as_u64())
        .sum();
    println!(
        "city {}: {} persons, {} recipient households, {} department rows in snapshot-2",
        a.city.display(),
        manifest["persons"],
        manifest["cases"],
        rows
    );
    let night1 = a.out.join("night-1");
    let night2 = a.out.join("night-2");
    if !a.reuse_baseline {
        let t = Instant::now();
        let st = Command::new(&hedui)
            .args(["check", "periodic", "--data"])
            .arg(&a.city)
            .args(["--snapshot", "snapshot-1", "--out"])
            .arg(&night1)
            .status()
            .context("running the baseline night")?;
        if st.code() == Some(2) {
            bail!("the baseline night failed");
        }
        println!(
            "baseline night (snapshot-1): {:.1} s",
            t.elapsed().as_secs_f64()
        );
    }
    let t = Instant::now();
    let mut cmd = Command::new(&hedui);
    cmd.args(["check", "periodic", "--data"])
        .arg(&a.city)
        .args(["--snapshot", "snapshot-2", "--out"])
        .arg(&night2)
        .arg("--previous-run")
        .arg(&night1);
    if a.truth {
        cmd.arg("--truth");
    }
    let st = cmd.status().context("running the measured night")?;
    let wall = t.elapsed().as_secs_f64();
    if st.code() == Some(2) {
        bail!("the measured night failed");
    }
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(night2.join("summary.json"))?)?;
    println!("\nmeasured night (snapshot-2 against snapshot-1):");
    println!("  {:<34} {:>9} {:>12}", "stage", "seconds", "peak MiB");
    let mut peak: f64 = 0.0;
    for s in summary["stages"].as_array().into_iter().flatten() {
        let name = s[0].as_str().unwrap_or("");
        let secs = s[1].as_f64().unwrap_or(0.0);
        let rss = s[2].as_f64().unwrap_or(0.0);
        peak = peak.max(rss);
        println!("  {name:<34} {secs:>9.2} {rss:>12.0}");
    }
    println!(
        "  total wall {wall:.1} s; peak memory {:.2} GiB; {:.0} department rows/s",
        peak / 1024.0,
        rows as f64 / wall.max(1e-9)
    );
    println!(
        "  flags raised: {}; households checked: {}",
        summary["summary"]["flags_raised"], summary["summary"]["cases_checked"]
    );
    let result = serde_json::json!({
        "city": a.city,
        "rows_snapshot_2": rows,
        "wall_seconds": wall,
        "peak_mib": peak,
        "stages": summary["stages"],
        "flags_by_type": summary["summary"]["flags_by_type"],
    });
    std::fs::write(
        a.out.join("bench-verify.json"),
        serde_json::to_string_pretty(&result)?,
    )?;
    Ok(())
}
