//! `hedui` — the command line of the hedui data-integration pipeline.
//!
//! Exit codes (for cron, systemd timers and external schedulers): 0 success, 1 finished with
//! findings worth attention, 2 error.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

/// mimalloc: standardising millions of records allocates many small strings, which the system
/// allocator serves several times slower.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod check;
mod ingest;
mod link;
mod pipeline;
mod serve;
mod simulate;
mod summary;

#[derive(Debug, Parser)]
#[command(
    name = "hedui",
    version,
    about = "Household economic-status verification (居民家庭经济状况核对) pipeline"
)]
struct Cli {
    /// Log as JSON lines instead of human-readable text.
    #[arg(long, global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate a synthetic city: population, roster, the four departments' extracts at two
    /// snapshot dates, and ground truth.
    Synth(SynthArgs),
    /// Link two files of person records (CSV UTF-8/GB18030, XLSX, Parquet): trains a
    /// Fellegi–Sunter model on them unless --model is given, writes the scored links.
    Link(link::LinkArgs),
    /// Find the records of one file that belong to the same person: writes record_id, cluster_id.
    Dedupe(link::DedupeArgs),
    /// Pull now from a pipeline's sources into the lake (one-shot, for external schedulers).
    Ingest(ingest::IngestArgs),
    /// The built-in scheduler: runs each source and the nightly run on their cron schedules.
    Daemon(ingest::DaemonArgs),
    /// Serve a synthetic city's extracts the way the departments do (HTTP API, 前置库 tables),
    /// with fault injection.
    Simulate(simulate::SimulateArgs),
    /// Verification: entry checks (逢进必核) of pending applications and periodic checks
    /// (定期核对) with change flags.
    #[command(subcommand)]
    Check(check::CheckCommand),
    /// The caseworker workbench (web).
    Serve(serve::ServeArgs),
    /// Manage workbench users.
    #[command(subcommand)]
    Users(serve::UsersCommand),
    /// The nightly run: ingest → standardise → link → verify → publish.
    Run(pipeline::RunArgs),
    /// The main job on embedded defaults: a small synthetic city, the department simulator, two
    /// nights, and what was found.
    Demo(pipeline::DemoArgs),
}

#[derive(Debug, clap::Args)]
struct SynthArgs {
    /// Number of persons.
    #[arg(long, default_value_t = 10_000)]
    population: usize,
    /// Seed of every random choice (same seed, same files).
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Output directory.
    #[arg(long, default_value = "hedui-data/synth")]
    out: PathBuf,
    /// First snapshot (extract) date.
    #[arg(long, default_value = "2021-06-30")]
    snapshot1: chrono::NaiveDate,
    /// Second snapshot date; events are planted between the two.
    #[arg(long, default_value = "2021-09-30")]
    snapshot2: chrono::NaiveDate,
    /// Multiplier of the data-quality damage rates (0 = clean data, 1 = realistic).
    #[arg(long, default_value_t = 1.0)]
    dirty: f64,
    /// Multiplier of the planted event rates in roster households.
    #[arg(long, default_value_t = 1.0)]
    event_rate: f64,
    /// Print the report as JSON instead of a summary.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The demo prints its own summary; its components' progress logs would drown it.
    let default_level = if matches!(cli.command, Command::Demo(_)) {
        "warn"
    } else {
        "info"
    };
    init_logging(cli.log_json, default_level);
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Turns transparent huge pages off for this process (`hedui link` and `hedui dedupe`).
/// Standardising raw files allocates and frees buffers of a few megabytes chunk after chunk;
/// with huge pages a first touch zeroes 2 MiB at once, often memory only partly used, and on a
/// VM whose hypervisor reclaims the memory a process frees, each such fault also waits for the
/// host to back the page. On the 100k × 2M link from the raw files (median of 9 runs each):
/// 1.3 s and 372 MiB peak without, 1.6 s and 416 MiB with, up to 0.8 s of it in the kernel.
/// Reading a saved register back (a few large columns filled whole) was 0.12 s faster with
/// them on a machine at rest, but in the bench, run after Splink had freed 2 GiB, it took
/// 0.5–1.1 s with them (median 0.9 s) against a steady 0.7 s without.
pub(crate) fn no_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    if let Err(e) = nix::sys::prctl::set_thp_disable(true) {
        tracing::debug!(error = %e, "transparent huge pages stay on");
    }
}

fn init_logging(json: bool, default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("HEDUI_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Synth(a) => synth(a),
        Command::Link(a) => link::link(a).map(|()| ExitCode::SUCCESS),
        Command::Dedupe(a) => link::dedupe(a).map(|()| ExitCode::SUCCESS),
        Command::Ingest(a) => ingest::ingest(a),
        Command::Daemon(a) => ingest::daemon(a),
        Command::Simulate(a) => simulate::simulate(a),
        Command::Check(c) => check::check(c),
        Command::Serve(a) => serve::serve(a),
        Command::Users(c) => serve::users(c),
        Command::Run(a) => pipeline::run(a),
        Command::Demo(a) => pipeline::demo(a),
    }
}

fn synth(a: SynthArgs) -> Result<ExitCode> {
    if a.population == 0 {
        bail!("--population must be at least 1");
    }
    let config = hedui_synth::Config {
        population: a.population,
        seed: a.seed,
        snapshots: [a.snapshot1, a.snapshot2],
        dirty: a.dirty,
        event_rate: a.event_rate,
    };
    tracing::info!(population = a.population, seed = a.seed, out = %a.out.display(), "generating synthetic city");
    let started = Instant::now();
    let report = hedui_synth::generate(&config, &a.out)
        .with_context(|| format!("generating the synthetic city in {}", a.out.display()))?;
    let elapsed = started.elapsed();
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", summary::synth_summary(&report, &a.out, elapsed));
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    #[cfg(target_os = "linux")]
    #[test]
    fn transparent_huge_pages_are_turned_off() {
        super::no_transparent_huge_pages();
        assert_eq!(nix::sys::prctl::get_thp_disable().ok(), Some(true));
    }
}
