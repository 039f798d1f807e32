//! `hedui simulate`: serve a synthetic city's extracts the way the departments do.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use hedui_simulator::{
    AuthPolicy, DbOptions, FaultConfig, SECRET_ENV, Simulator, SimulatorOptions,
};

#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// The synthetic city directory (output of `hedui synth`).
    #[arg(long)]
    pub data: PathBuf,
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:18080")]
    pub listen: SocketAddr,
    /// Snapshot published at start (default: the first).
    #[arg(long)]
    pub snapshot: Option<String>,
    /// HMAC secret and bearer token (default: $HEDUI_SIM_SECRET, else `hedui-demo-secret`).
    /// Prefer the environment variable: command lines are visible to other users.
    #[arg(long)]
    pub secret: Option<String>,
    /// Authentication accepted: `both` (default), `signed`, `bearer`, or per department,
    /// e.g. `signed,renshe=bearer`.
    #[arg(long, default_value = "both")]
    pub auth: String,
    /// Fault rates, e.g. "5xx=0.1,timeout=0.02,slow=0.05,truncate=0.05,duplicate=0.05".
    #[arg(long)]
    pub faults: Option<String>,
    /// Seed of the fault draw (same seed and request order, same faults).
    #[arg(long, default_value_t = 0)]
    pub fault_seed: u64,
    /// Delay of a `slow` response in milliseconds.
    #[arg(long, default_value_t = 1500)]
    pub slow_ms: u64,
    /// How long a `timeout` response is held, in milliseconds.
    #[arg(long, default_value_t = 65_000)]
    pub timeout_ms: u64,
    /// Schema drift: rename columns of a dataset, e.g. `gongan/population:姓名=名称`
    /// (repeatable).
    #[arg(long)]
    pub drift: Vec<String>,
    /// Requests per second per app key (429 with Retry-After beyond it).
    #[arg(long)]
    pub rate_limit: Option<u32>,
    /// Load the 前置库 tables into this PostgreSQL database (postgres://…).
    #[arg(long)]
    pub postgres: Option<String>,
    /// Load the 前置库 tables into this MariaDB/MySQL database (mysql://…).
    #[arg(long)]
    pub mysql: Option<String>,
    /// Datasets for the databases, comma-separated `department/dataset` (default: every 人社
    /// and 住建 dataset).
    #[arg(long, value_delimiter = ',')]
    pub db_datasets: Option<Vec<String>>,
    /// Only serve these datasets, comma-separated `department/dataset` (default: all).
    #[arg(long, value_delimiter = ',')]
    pub datasets: Option<Vec<String>>,
}

fn options(a: &SimulateArgs) -> Result<SimulatorOptions> {
    let mut faults = FaultConfig {
        seed: a.fault_seed,
        slow_ms: a.slow_ms,
        timeout_ms: a.timeout_ms,
        ..FaultConfig::none()
    };
    if let Some(spec) = &a.faults {
        faults.rates = FaultConfig::parse_rates(spec).context("--faults")?;
    }
    for d in &a.drift {
        faults
            .drift
            .push(FaultConfig::parse_drift(d).context("--drift")?);
    }
    let secret = a
        .secret
        .clone()
        .or_else(|| std::env::var(SECRET_ENV).ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| hedui_simulator::DEFAULT_SECRET.to_owned());
    Ok(SimulatorOptions {
        snapshot: a.snapshot.clone(),
        secret,
        auth: AuthPolicy::parse(&a.auth).context("--auth")?,
        rate_limit: a.rate_limit,
        faults,
        datasets: a.datasets.clone(),
    })
}

pub fn simulate(a: SimulateArgs) -> Result<ExitCode> {
    let options = options(&a)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(run(a, options))
}

async fn run(a: SimulateArgs, options: SimulatorOptions) -> Result<ExitCode> {
    let data = a.data.clone();
    let sim = tokio::task::spawn_blocking(move || Simulator::load(&data, options))
        .await
        .context("loading task failed")?
        .with_context(|| format!("loading {}", a.data.display()))?;
    let listener = tokio::net::TcpListener::bind(a.listen)
        .await
        .with_context(|| format!("listening on {}", a.listen))?;
    for (url, name) in [(&a.postgres, "PostgreSQL"), (&a.mysql, "MySQL")] {
        if let Some(url) = url {
            let report = sim
                .attach_database(
                    url,
                    DbOptions {
                        datasets: a.db_datasets.clone(),
                        schema: None,
                    },
                )
                .await
                .with_context(|| format!("loading the 前置库 tables into {name}"))?;
            for t in &report.tables {
                println!("{name}: table {} ({} rows)", t.table, t.rows);
            }
        }
    }
    let server = sim.serve(listener)?;
    println!(
        "Department simulator serving {} ({}) on {}",
        a.data.display(),
        sim.current_snapshot(),
        server.base_url()
    );
    println!(
        "{:<30} {:>10} {:>12} {:>8}",
        "dataset", "rows", "published_seq", "skipped"
    );
    for d in sim.datasets().await {
        println!(
            "{:<30} {:>10} {:>12} {:>8}",
            format!("{}/{}", d.department, d.dataset),
            d.rows,
            d.published_seq,
            d.skipped.len()
        );
    }
    println!(
        "Admin (loopback): POST /admin/publish, POST /admin/faults, GET /admin/stats. Stop with Ctrl-C."
    );
    wait_for_signal().await;
    tracing::info!("shutting down");
    server.shutdown().await?;
    sim.detach_databases().await;
    let stats = sim.stats();
    println!(
        "Served {} requests, {} records.",
        stats.requests, stats.records_served
    );
    Ok(ExitCode::SUCCESS)
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
        match term {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
