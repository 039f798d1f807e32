//! `hedui run` (the nightly run) and `hedui demo` (two nights on a small synthetic city served
//! by the department simulator).

use std::collections::BTreeMap;
use std::fs;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use chrono::NaiveDate;
use hedui_model::flag::Flag;
use hedui_pipeline::nightly::{NightlySpec, Progress, RunOptions, run_night};
use hedui_pipeline::run::Stage;
use indicatif::{ProgressBar, ProgressStyle};

/// The reference pipeline and rule set, embedded so `hedui demo` needs no checkout.
const NIGHTLY_TOML: &str = include_str!("../../../pipelines/nightly.toml");
const RULES_TOML: &str = include_str!("../../../pipelines/rules.toml");
/// Where the reference pipeline expects the simulator.
const REFERENCE_BASE_URL: &str = "http://127.0.0.1:18080/api/v1";

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The pipeline file.
    #[arg(long, default_value = "pipelines/nightly.toml")]
    pub pipeline: PathBuf,
    /// As-of date of the checks (default: today in the pipeline's time zone).
    #[arg(long)]
    pub as_of: Option<NaiveDate>,
    /// Do not pull from the sources (the lake was filled by `hedui ingest`).
    #[arg(long)]
    pub skip_ingest: bool,
    /// Print the run's final state as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Working directory of the demo (emptied first if it holds an earlier demo).
    #[arg(long, default_value = "hedui-data/demo")]
    pub dir: PathBuf,
    /// Persons in the synthetic city.
    #[arg(long, default_value_t = 20_000)]
    pub population: usize,
    /// Seed of the synthetic city.
    #[arg(long, default_value_t = 2021)]
    pub seed: u64,
    /// After the second night, run this many more nights on the following days with nothing
    /// new from the departments (what most nights of the year look like; bench-nightly times
    /// them). The summary still describes the second night.
    #[arg(long, default_value_t = 0)]
    pub quiet_nights: u32,
}

fn stage_bar(stage: Stage) -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let pb = ProgressBar::new_spinner();
    pb.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    pb.set_message(format!("{:<8}", stage.name()));
    pb.enable_steady_tick(Duration::from_millis(120));
    Some(pb)
}

pub fn run(a: RunArgs) -> Result<ExitCode> {
    let spec = NightlySpec::load(&a.pipeline)
        .with_context(|| format!("reading the pipeline {}", a.pipeline.display()))?;
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let mut bar: Option<ProgressBar> = None;
    let mut on_progress = |p: Progress| match p {
        Progress::Started { run_id, resumed } => {
            if resumed {
                eprintln!("resuming run {run_id} after an interruption");
            } else {
                eprintln!("run {run_id}");
            }
        }
        Progress::StageStarted(s) => {
            tracing::info!(stage = s.name(), "stage started");
            bar = stage_bar(s);
        }
        Progress::StageSkipped(s) => eprintln!("  {:<8} already done", s.name()),
        Progress::StageFinished(s, c) => {
            if let Some(b) = bar.take() {
                b.finish_and_clear();
            }
            tracing::info!(
                stage = s.name(),
                seconds = c.seconds,
                received = c.received,
                written = c.written,
                quarantined = c.quarantined,
                linked = c.linked,
                flagged = c.flagged,
                "stage finished"
            );
            eprintln!(
                "  {:<8} {:>7.1} s  received {:>9}  written {:>9}  quarantined {:>7}  linked {:>9}  flagged {:>6}",
                s.name(),
                c.seconds,
                c.received,
                c.written,
                c.quarantined,
                c.linked,
                c.flagged
            );
        }
    };
    let options = RunOptions {
        as_of: a.as_of,
        skip_ingest: a.skip_ingest,
    };
    let outcome = rt
        .block_on(run_night(&spec, &options, &mut on_progress))
        .context("nightly run")?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&outcome.state)?);
    } else {
        println!(
            "run {} finished (as of {})",
            outcome.state.run_id, outcome.state.as_of
        );
        println!("  report:  {}", outcome.report.display());
        for x in &outcome.exports {
            println!("  export:  {}", x.display());
        }
        println!("  store:   {}", outcome.store_url);
    }
    Ok(ExitCode::from(outcome.exit_code))
}

/// Runs `hedui run` as a child process with the simulator's secrets in its environment (the
/// pipeline names the variables; secrets never go into files).
fn night(exe: &Path, pipeline: &Path, as_of: NaiveDate, secret: &str) -> Result<()> {
    let mut cmd = Command::new(exe);
    cmd.args(["run", "--pipeline"])
        .arg(pipeline)
        .args(["--as-of", &as_of.to_string()])
        .env("HEDUI_GONGAN_SECRET", secret)
        .env("HEDUI_RENSHE_TOKEN", secret)
        // The demo prints its own summary; the run's stage lines (stderr) stay visible.
        .stdout(std::process::Stdio::null());
    if std::env::var_os("HEDUI_LOG").is_none() {
        cmd.env("HEDUI_LOG", "warn");
    }
    let status = cmd.status().context("starting hedui run")?;
    match status.code() {
        Some(0 | 1) => Ok(()),
        _ => bail!("hedui run failed ({status})"),
    }
}

/// Copies the file-drop deliveries of one snapshot into the drop directories.
fn deliver_files(city: &Path, snapshot: &str, drop: &Path) -> Result<usize> {
    let mut n = 0;
    for (dept, ext) in [
        ("weijian", "xlsx"),
        ("zhujian", "parquet"),
        ("minzheng", "csv"),
    ] {
        let src = city.join(snapshot).join(dept);
        let Ok(entries) = fs::read_dir(&src) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        files.sort();
        for f in files {
            if f.extension().and_then(|e| e.to_str()) != Some(ext) {
                continue;
            }
            let Some(stem) = f.file_stem().and_then(|s| s.to_str()) else {
                continue;
            };
            let dir = drop.join(dept).join(stem);
            fs::create_dir_all(&dir)?;
            let target = dir.join(format!("{stem}-{snapshot}.{ext}"));
            // Copy under a temporary name, then rename: the ingest never sees half a file.
            let tmp = dir.join(format!(".{stem}-{snapshot}.{ext}.part"));
            fs::copy(&f, &tmp).with_context(|| format!("copying {}", f.display()))?;
            fs::rename(&tmp, &target)?;
            n += 1;
        }
    }
    Ok(n)
}

fn prepare_dir(dir: &Path) -> Result<()> {
    let marker = dir.join(".hedui-demo");
    if dir.exists() {
        let empty = fs::read_dir(dir)?.next().is_none();
        if !empty && !marker.exists() {
            bail!(
                "{} exists and is not a hedui demo directory; choose another with --dir",
                dir.display()
            );
        }
        if !empty {
            fs::remove_dir_all(dir).with_context(|| format!("clearing {}", dir.display()))?;
        }
    }
    fs::create_dir_all(dir)?;
    fs::write(
        &marker,
        "hedui demo working directory; `hedui demo` empties it on its next run\n",
    )?;
    Ok(())
}

pub fn demo(a: DemoArgs) -> Result<ExitCode> {
    let started = Instant::now();
    prepare_dir(&a.dir)?;
    let dir = fs::canonicalize(&a.dir)?;
    let exe = std::env::current_exe().context("locating the hedui binary")?;
    let city = dir.join("city");
    let snapshots = [
        NaiveDate::from_ymd_opt(2021, 6, 30).context("date")?,
        NaiveDate::from_ymd_opt(2021, 9, 30).context("date")?,
    ];

    eprintln!("1/5 synthesising a city of {} persons …", a.population);
    let report = hedui_synth::generate(
        &hedui_synth::Config {
            population: a.population,
            seed: a.seed,
            snapshots,
            dirty: 1.0,
            event_rate: 1.0,
        },
        &city,
    )
    .context("synthesising the demo city")?;

    eprintln!("2/5 starting the department simulator on 127.0.0.1 …");
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let secret = format!("demo-{:016x}", a.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let sim = hedui_simulator::Simulator::load(
        &city,
        hedui_simulator::SimulatorOptions {
            secret: secret.clone(),
            ..Default::default()
        },
    )
    .context("loading the city into the simulator")?;
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .context("binding a loopback port for the simulator")?;
    let handle = {
        let _guard = rt.enter();
        sim.serve(listener).context("starting the simulator")?
    };
    let base_url = format!("{}/api/v1", handle.base_url().trim_end_matches('/'));

    let pipeline = dir.join("pipeline.toml");
    // TOML basic strings: escape backslashes and quotes of the path.
    let dir_toml = dir
        .display()
        .to_string()
        .replace('\\', "\\\\")
        .replace('"', "\\\"");
    let text = NIGHTLY_TOML
        .replace(REFERENCE_BASE_URL, &base_url)
        .replace("\"../hedui-data/", &format!("\"{dir_toml}/"))
        .replace("\"../hedui-data\"", &format!("\"{dir_toml}\""));
    if text == NIGHTLY_TOML || text.contains("../hedui-data") {
        bail!("the embedded pipeline no longer has the expected data_dir and base_url lines");
    }
    fs::write(&pipeline, text)?;
    fs::write(dir.join("rules.toml"), RULES_TOML)?;
    let drop = dir.join("drop");
    deliver_files(&city, "snapshot-1", &drop)?;

    eprintln!("3/5 first night (extracts of {}) …", snapshots[0]);
    night(&exe, &pipeline, snapshots[0], &secret)?;

    eprintln!(
        "4/5 the departments publish the next extracts; second night ({}) …",
        snapshots[1]
    );
    rt.block_on(sim.publish(Some("snapshot-2")))
        .context("publishing snapshot-2 in the simulator")?;
    deliver_files(&city, "snapshot-2", &drop)?;
    night(&exe, &pipeline, snapshots[1], &secret)?;
    for day in 1..=a.quiet_nights {
        let as_of = snapshots[1] + chrono::Days::new(u64::from(day));
        eprintln!("   a quiet night ({as_of}): nothing new from the departments …");
        night(&exe, &pipeline, as_of, &secret)?;
    }
    rt.block_on(handle.shutdown()).ok();

    eprintln!("5/5 summarising …");
    let spec = NightlySpec::load(&pipeline)?;
    let runs = hedui_pipeline::run::RunDirs::new(&spec.pipeline.data_dir).list()?;
    // The second night (the quiet nights after it find nothing new).
    let Some(last) = runs.get(1).or(runs.last()) else {
        bail!("no run was recorded");
    };
    let run_dir = hedui_pipeline::run::RunDirs::new(&spec.pipeline.data_dir).dir(&last.run_id);
    let flags: Vec<Flag> = fs::read_to_string(run_dir.join("flags.jsonl"))?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    let password = format!("demo-{:06}", a.seed % 1_000_000);
    let users = rt
        .block_on(seed_demo_users(&spec.store_url(), &password))
        .context("creating the demo users")?;

    let mut by_type: BTreeMap<&str, Vec<&Flag>> = BTreeMap::new();
    for f in &flags {
        by_type.entry(f.flag_type.as_str()).or_default().push(f);
    }
    println!();
    println!(
        "hedui demo: {} persons, {} assistance cases, {} nights in {:.0} s",
        report.persons,
        report.cases,
        runs.len(),
        started.elapsed().as_secs_f64()
    );
    for r in &runs {
        let c = |s: Stage| r.counters(s).cloned().unwrap_or_default();
        println!(
            "  night {} (as of {}): ingested {} rows ({} quarantined), linked {} records, {} new flags",
            r.run_id,
            r.as_of,
            c(Stage::Ingest).written,
            c(Stage::Ingest).quarantined,
            c(Stage::Link).linked,
            c(Stage::Verify).flagged
        );
    }
    println!();
    println!(
        "Flags raised on the second night, by type ({} in all):",
        flags.len()
    );
    for (t, fs_) in &by_type {
        println!("  {t:<20} {:>5}", fs_.len());
    }
    println!();
    println!("Examples:");
    for fs_ in by_type.values() {
        if let Some(f) = fs_.first() {
            println!(
                "  [{}|{}] {} {}：{}",
                f.flag_type,
                f.severity.label_zh(),
                f.subject.case_id,
                f.subject.head_name_masked,
                f.reason_zh
            );
        }
    }
    println!();
    println!("Where things are:");
    println!(
        "  run report       {}",
        run_dir.join("report.html").display()
    );
    println!(
        "  XLSX by county   {}",
        spec.pipeline
            .data_dir
            .join("exports")
            .join(&last.run_id)
            .display()
    );
    println!("  entry reports    {}", run_dir.join("entry").display());
    println!("  lake             {}", spec.pipeline.lake_dir().display());
    println!("  store            {}", spec.store_url());
    println!();
    println!("Open the caseworker workbench:");
    println!(
        "  hedui serve --store {} --listen 127.0.0.1:8080   # then http://127.0.0.1:8080/",
        spec.store_url()
    );
    println!("Demo logins (password {password} for all):");
    let mut townships = 0;
    for (u, role) in &users {
        if u.starts_with("township_") {
            townships += 1;
            if townships > 3 {
                continue;
            }
        }
        println!("  {u:<20} {role}");
    }
    if townships > 3 {
        println!(
            "  … and {} more township caseworkers (township_<9-digit code>)",
            townships - 3
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Creates one demo user per role (idempotent) and returns (user name, role).
async fn seed_demo_users(store_url: &str, password: &str) -> Result<Vec<(String, String)>> {
    let store = hedui_store::Store::open(store_url).await?;
    let users = hedui_web::seed_demo_users(&store, password).await?;
    store.close().await;
    Ok(users
        .into_iter()
        .map(|u| (u.user.username.clone(), u.user.role.as_str().to_owned()))
        .collect())
}
