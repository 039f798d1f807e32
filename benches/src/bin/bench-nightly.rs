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

use std::path::{Path, PathBuf};
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
    /// Then a night on which this fraction of the lake's records changed: that many property
    /// registrations re-delivered by 住建 with a re-measured area, through the file drop. 0
    /// skips it.
    #[arg(long, default_value_t = 0.01)]
    changed: f64,
    /// Do not run the demo again: reuse the one in `--dir` (its nights are reported as they
    /// are, and the changed night is added).
    #[arg(long)]
    reuse: bool,
}

fn main() -> Result<()> {
    let a = Args::parse();
    let hedui = match a.hedui.clone() {
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
    if !a.reuse {
        demo(&a, &hedui)?;
    }
    let wall = t.elapsed().as_secs_f64();
    let changed = if a.changed > 0.0 {
        Some(changed_night(&a, &hedui)?)
    } else {
        None
    };
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
    let last = states.len().saturating_sub(1);
    for (i, s) in states.iter().enumerate() {
        let night = match i {
            _ if changed.is_some() && i == last => "changed",
            0 => "full",
            1 => "quarter",
            _ => "quiet",
        };
        let mut total = 0.0;
        if night == "changed"
            && let Some(c) = &changed
        {
            // The drop was ingested by `hedui ingest` before the run (the simulator is gone).
            total += c.ingest_seconds;
            println!(
                "{:<12} {:<8} {:>9.1} {:>10} {:>11} {:>11} {:>11}",
                night, "ingest", c.ingest_seconds, "", c.rows, c.rows, 0
            );
        }
        for st in s["completed"].as_array().into_iter().flatten() {
            if night == "changed" && st[0] == "ingest" {
                continue;
            }
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
    if let Some(c) = &changed {
        println!(
            "changed night: {} of the lake's {} records re-delivered with a new value ({:.2}%)",
            c.rows,
            c.lake_records,
            100.0 * c.rows as f64 / c.lake_records.max(1) as f64
        );
    }
    Ok(())
}

fn demo(a: &Args, hedui: &Path) -> Result<()> {
    let status = Command::new(hedui)
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
    Ok(())
}

/// What the changed night delivered.
struct Changed {
    rows: u64,
    lake_records: u64,
    ingest_seconds: f64,
}

/// Re-delivers a fraction of the lake's records changed, as 住建 property registrations with a
/// re-measured area in the file drop; ingests that source, then runs the night on it.
fn changed_night(a: &Args, hedui: &Path) -> Result<Changed> {
    let pipeline = a.dir.join("pipeline.toml");
    let runs = hedui_pipeline::run::RunDirs::new(&a.dir).list()?;
    let Some(last) = runs.last() else {
        bail!("no night in {} to follow", a.dir.display());
    };
    let lake_records = last
        .counters(hedui_pipeline::run::Stage::Link)
        .and_then(|c| c.details["records_indexed"].as_u64())
        .context("the last night's link counters")?;
    let archived = a
        .dir
        .join("drop/zhujian/archive/property-snapshot-2.parquet");
    let table = hedui_tabular::read_table(&archived, None)
        .with_context(|| format!("reading {}", archived.display()))?;
    let area = table
        .column_index("建筑面积")
        .context("no 建筑面积 column")?;
    let n = table.num_rows();
    let want = ((lake_records as f64 * a.changed).round() as usize).clamp(1, n.max(1));
    let step = (n / want).max(1);
    let headers: Vec<&str> = table.headers.iter().map(String::as_str).collect();
    let out = a.dir.join("drop/zhujian/property/property-changed.parquet");
    let mut w = hedui_tabular::TableWriter::create_text(&out, &headers)?;
    let mut rows = 0u64;
    let mut values: Vec<String> = Vec::with_capacity(headers.len());
    for r in (0..n).step_by(step).take(want) {
        values.clear();
        for (c, col) in table.columns.iter().enumerate() {
            let v = col.get(r).unwrap_or("");
            values.push(if c == area {
                // By how many nights there were, so that a repeated changed night re-measures
                // again rather than delivering the same file twice.
                v.parse::<f64>()
                    .map(|x| format!("{:.2}", x + runs.len() as f64))
                    .unwrap_or_else(|_| v.to_owned())
            } else {
                v.to_owned()
            });
        }
        let row: Vec<hedui_tabular::Value<'_>> = values
            .iter()
            .map(|v| {
                if v.is_empty() {
                    hedui_tabular::Value::Null
                } else {
                    hedui_tabular::Value::Text(v)
                }
            })
            .collect();
        w.write_row(&row)?;
        rows += 1;
    }
    w.finish()?;
    let as_of = last.as_of.succ_opt().context("the next day")?;
    let t = Instant::now();
    let step = |args: &[&str]| -> Result<()> {
        let status = Command::new(hedui)
            .args(args)
            .arg(&pipeline)
            .env("HEDUI_LOG", log_level())
            .stdout(std::process::Stdio::null())
            .status()
            .with_context(|| format!("running hedui {}", args[0]))?;
        if !matches!(status.code(), Some(0 | 1)) {
            bail!("hedui {} failed: {status}", args[0]);
        }
        Ok(())
    };
    step(&["ingest", "--source", "zhujian_property", "--pipeline"])?;
    let ingest_seconds = t.elapsed().as_secs_f64();
    step(&[
        "run",
        "--skip-ingest",
        "--as-of",
        &as_of.to_string(),
        "--pipeline",
    ])?;
    Ok(Changed {
        rows,
        lake_records,
        ingest_seconds,
    })
}

/// The log level of the runs: `HEDUI_LOG` if set (`info` shows the steps of each stage), else
/// warnings only.
fn log_level() -> String {
    std::env::var("HEDUI_LOG").unwrap_or_else(|_| "warn".into())
}
