//! End-to-end bench of ingestion: throughput (rows/s, MB/s) and peak memory of
//! - the HTTP JSON path: `hedui-simulator` serving a synthetic city's 公安 population register on
//!   127.0.0.1 → signed paginated pulls → validation → Parquet lake;
//! - the file paths: the city's 人社 contributions CSV (GB18030) and 住建 property Parquet
//!   through a file drop.
//!
//! Each path runs in a fresh child process, so peak memory (VmHWM) is per path.
//!
//! ```text
//! cargo run --release -p hedui-benches --bin bench-ingest -- --population 1000000
//! cargo run --release -p hedui-benches --bin bench-ingest -- --city hedui-data/synth   # reuse a city
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Parser;

const SECRET_ENV: &str = "HEDUI_BENCH_SECRET";

#[derive(Debug, Parser)]
struct Args {
    /// Population of the synthetic city to generate (the population register has about one
    /// row per person).
    #[arg(long, default_value_t = 1_000_000)]
    population: usize,
    /// Use this existing city (from `hedui synth`) instead of generating one.
    #[arg(long)]
    city: Option<PathBuf>,
    /// Work directory (city, lakes).
    #[arg(long, default_value = "hedui-data/bench-ingest")]
    out: PathBuf,
    /// Page size of the HTTP pulls.
    #[arg(long, default_value_t = 10_000)]
    page_size: u32,
    /// Internal: run one path in this process.
    #[arg(long, hide = true)]
    child: Option<String>,
}

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<f64>().ok()? / 1024.0)
}

fn pipeline_text(data_dir: &Path, source: &str) -> String {
    format!(
        "[pipeline]\nname = \"bench\"\ndata_dir = \"{}\"\n\n{source}\n",
        data_dir.display()
    )
}

fn run_child(args: &Args, path: &str, city: &Path) -> Result<()> {
    let work = args.out.join(format!("lake-{path}"));
    if work.exists() {
        std::fs::remove_dir_all(&work)?;
    }
    std::fs::create_dir_all(&work)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let (source, server, input_bytes) = match path {
        "http-json" => {
            let options = hedui_simulator::SimulatorOptions {
                secret: std::env::var(SECRET_ENV).context("secret")?,
                datasets: Some(vec!["gongan/population".into()]),
                ..hedui_simulator::SimulatorOptions::default()
            };
            let sim = hedui_simulator::Simulator::load(city, options)?;
            let server = rt.block_on(async {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
                anyhow::Ok(sim.serve(listener)?)
            })?;
            let src = format!(
                "[[sources]]\nname = \"pop\"\ndepartment = \"gongan\"\ndataset = \"population\"\nkind = \"http\"\n[sources.http]\nbase_url = \"{}/api/v1\"\nauth = \"signed\"\napp_key = \"hedui-gongan\"\nsecret_env = \"{SECRET_ENV}\"\nformat = \"json\"\npage_size = {}\ntimeout_secs = 60\n",
                server.base_url(),
                args.page_size
            );
            (src, Some((sim, server)), 0u64)
        }
        "csv-gb18030" | "parquet" => {
            let (rel, dept, ds, pat) = if path == "parquet" {
                (
                    "zhujian/property.parquet",
                    "zhujian",
                    "property",
                    "*.parquet",
                )
            } else {
                (
                    "renshe/contributions.csv",
                    "renshe",
                    "contributions",
                    "*.csv",
                )
            };
            let drop = work.join("drop");
            std::fs::create_dir_all(&drop)?;
            let from = city.join("snapshot-1").join(rel);
            let to = drop.join(Path::new(rel).file_name().context("name")?);
            std::fs::copy(&from, &to).with_context(|| format!("copying {}", from.display()))?;
            let bytes = std::fs::metadata(&to)?.len();
            let src = format!(
                "[[sources]]\nname = \"files\"\ndepartment = \"{dept}\"\ndataset = \"{ds}\"\nkind = \"file_drop\"\n[sources.file_drop]\ndir = \"{}\"\narchive_dir = \"{}\"\npatterns = [\"{pat}\"]\n",
                drop.display(),
                work.join("archive").display()
            );
            (src, None, bytes)
        }
        other => bail!("unknown path {other}"),
    };
    let pfile = work.join("pipeline.toml");
    std::fs::write(&pfile, pipeline_text(&work.join("data"), &source))?;
    let pipeline = hedui_ingest::Pipeline::load(&pfile)?;
    let cancel = hedui_ingest::CancelToken::new();
    let started = Instant::now();
    let report = rt.block_on(hedui_ingest::ingest(&pipeline, None, &cancel))?;
    let secs = started.elapsed().as_secs_f64();
    if let Some((_sim, server)) = server {
        rt.block_on(server.shutdown())?;
    }
    let s = &report.manifest.sources[0];
    if s.status == "failed" {
        bail!("{path}: {}", s.error.clone().unwrap_or_default());
    }
    let input = if input_bytes > 0 {
        input_bytes
    } else {
        s.bytes_read
    };
    println!(
        "{path:<12} rows {:>9} (written {}, quarantined {})  {:>7.2} s  {:>9.0} rows/s  {:>7.1} MB/s in  {:>6.1} MB/s Parquet  peak RSS {:.0} MiB",
        s.rows_read,
        s.rows_written,
        s.rows_quarantined,
        secs,
        s.rows_read as f64 / secs,
        input as f64 / 1e6 / secs,
        s.bytes_written as f64 / 1e6 / secs,
        peak_rss_mib().unwrap_or(0.0)
    );
    Ok(())
}

fn main() -> Result<()> {
    let args = Args::parse();
    let city = match &args.city {
        Some(c) => c.clone(),
        None => args.out.join(format!("city-{}", args.population)),
    };
    if let Some(path) = &args.child {
        return run_child(&args, path, &city);
    }
    if args.city.is_none() && !city.join("manifest.json").exists() {
        eprintln!(
            "generating a city of {} persons in {} …",
            args.population,
            city.display()
        );
        let config = hedui_synth::Config {
            population: args.population,
            seed: 2021,
            ..hedui_synth::Config::default()
        };
        hedui_synth::generate(&config, &city)?;
    }
    let secret =
        std::env::var(SECRET_ENV).unwrap_or_else(|_| hedui_simulator::DEFAULT_SECRET.to_owned());
    let exe = std::env::current_exe()?;
    for path in ["http-json", "csv-gb18030", "parquet"] {
        let status = Command::new(&exe)
            .arg("--child")
            .arg(path)
            .arg("--city")
            .arg(&city)
            .arg("--out")
            .arg(&args.out)
            .arg("--page-size")
            .arg(args.page_size.to_string())
            .env(SECRET_ENV, &secret)
            .status()?;
        if !status.success() {
            bail!("{path} failed");
        }
    }
    Ok(())
}
