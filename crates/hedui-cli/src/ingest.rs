//! `hedui ingest` and `hedui daemon`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use hedui_ingest::{CancelToken, Pipeline};

#[derive(Debug, clap::Args)]
pub struct IngestArgs {
    /// The pipeline file (e.g. pipelines/nightly.toml).
    #[arg(long)]
    pub pipeline: PathBuf,
    /// Pull only this source (repeatable).
    #[arg(long)]
    pub source: Vec<String>,
    /// Print the run manifest as JSON instead of a summary.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct DaemonArgs {
    /// The pipeline file (e.g. pipelines/nightly.toml).
    #[arg(long)]
    pub pipeline: PathBuf,
    /// Do not run sources that missed their last scheduled time at start-up.
    #[arg(long)]
    pub no_catch_up: bool,
    /// Do not trigger the nightly run (`hedui run`) at `[pipeline] schedule`.
    #[arg(long)]
    pub no_nightly: bool,
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Cancels `token` on SIGTERM or SIGINT.
fn cancel_on_signals(token: CancelToken) {
    tokio::spawn(async move {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!("cannot listen for SIGTERM: {e}");
                    return;
                }
            };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        tracing::info!("shutdown requested: finishing the current page and committing");
        token.cancel();
    });
}

pub fn ingest(a: IngestArgs) -> Result<ExitCode> {
    let pipeline = Pipeline::load(&a.pipeline)?;
    let rt = runtime()?;
    let cancel = CancelToken::new();
    let sources = (!a.source.is_empty()).then_some(a.source.as_slice());
    let report = rt.block_on(async {
        cancel_on_signals(cancel.clone());
        hedui_ingest::ingest(&pipeline, sources, &cancel).await
    })?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report.manifest)?);
    } else {
        println!(
            "run {} ({} → {})",
            report.run_id,
            pipeline.name,
            report.lake_dir.display()
        );
        println!(
            "{:<24} {:<9} {:<11} {:>10} {:>10} {:>11} {:>9} {:>12}",
            "source", "kind", "status", "read", "written", "quarantined", "dupes", "watermark"
        );
        for s in &report.manifest.sources {
            println!(
                "{:<24} {:<9} {:<11} {:>10} {:>10} {:>11} {:>9} {:>12}",
                s.source,
                s.kind,
                s.status,
                s.rows_read,
                s.rows_written,
                s.rows_quarantined,
                s.duplicates_dropped,
                s.watermark_after
                    .map_or_else(|| "-".to_owned(), |w| w.to_string())
            );
            for f in &s.files {
                println!(
                    "    file {} [{}] read {} written {} quarantined {}{}",
                    f.name,
                    f.status,
                    f.rows_read,
                    f.rows_written,
                    f.rows_quarantined,
                    f.reason
                        .as_deref()
                        .map_or_else(String::new, |r| format!(" — {r}"))
                );
            }
            if let Some(e) = &s.error {
                println!("    error: {e}");
            }
            for r in &s.recovered_runs {
                println!("    recovered the committed pages of interrupted run {r}");
            }
        }
    }
    Ok(ExitCode::from(report.exit_code()))
}

pub fn daemon(a: DaemonArgs) -> Result<ExitCode> {
    // Validate first, so a bad file is exit 2 before anything is scheduled.
    Pipeline::load(&a.pipeline)?;
    let exe = std::env::current_exe().context("locating the hedui executable")?;
    let nightly = (!a.no_nightly).then(|| {
        vec![
            exe.into_os_string(),
            "run".into(),
            "--pipeline".into(),
            a.pipeline.clone().into_os_string(),
        ]
    });
    let options = hedui_ingest::daemon::DaemonOptions {
        pipeline: a.pipeline.clone(),
        nightly_command: nightly,
        catch_up: !a.no_catch_up,
    };
    let rt = runtime()?;
    rt.block_on(async {
        let cancel = CancelToken::new();
        cancel_on_signals(cancel.clone());
        hedui_ingest::daemon::run_daemon(options, cancel).await
    })?;
    Ok(ExitCode::SUCCESS)
}
