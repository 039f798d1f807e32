//! The built-in scheduler (`hedui daemon`): each source on its cron schedule, the nightly run
//! on `[pipeline] schedule`.
//!
//! Policies:
//! - **Never two runs of one source at once.** A firing while the previous run of the source
//!   is still going is skipped and logged; across processes the source lock in
//!   `<lake>/_state/<source>.lock` (held by every `hedui ingest`) does the same.
//! - **Missed runs** (the daemon was down): at start-up, a source whose last successful run
//!   (`<lake>/_state/<source>.json`) is older than its most recent scheduled time runs once,
//!   immediately. Missed firings are never caught up more than once. The nightly run is not
//!   caught up at start-up (it is long and reads the sources' latest data anyway); it runs at
//!   its next scheduled time.
//! - **Shutdown** (SIGTERM/SIGINT, via the [`CancelToken`]): no new runs start; running
//!   sources stop at the next page boundary, commit what they have and publish it (the next
//!   run resumes from there); a running nightly child process is sent SIGTERM and awaited.
//!
//! Extension point: the nightly trigger runs [`DaemonOptions::nightly_command`] as a child
//! process (the CLI passes `<current exe> run --pipeline FILE`).

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, FixedOffset, Utc};
use hedui_lake::Lake;

use crate::{CancelToken, Error, Pipeline};

/// How the daemon runs.
#[derive(Debug, Clone)]
pub struct DaemonOptions {
    /// The pipeline file.
    pub pipeline: PathBuf,
    /// The nightly run: program and arguments, spawned at `[pipeline] schedule`. `None`
    /// disables the nightly trigger.
    pub nightly_command: Option<Vec<OsString>>,
    /// Apply the missed-run policy at start-up (default true).
    pub catch_up: bool,
}

/// The previous scheduled time at or before `now`.
fn previous_fire(
    schedule: &cron::Schedule,
    tz: &FixedOffset,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let local = now.with_timezone(tz);
    schedule
        .after(&local)
        .next_back()
        .map(|t| t.with_timezone(&Utc))
}

fn next_fire(
    schedule: &cron::Schedule,
    tz: &FixedOffset,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    schedule
        .after(&now.with_timezone(tz))
        .next()
        .map(|t| t.with_timezone(&Utc))
}

/// Whether a source missed its last scheduled run (the missed-run policy).
pub fn missed(
    schedule: &cron::Schedule,
    tz: &FixedOffset,
    last_success: Option<&str>,
    now: DateTime<Utc>,
) -> bool {
    let Some(prev) = previous_fire(schedule, tz, now) else {
        return false;
    };
    match last_success.and_then(|s| DateTime::parse_from_rfc3339(s).ok()) {
        Some(last) => last.with_timezone(&Utc) < prev,
        None => true,
    }
}

async fn sleep_until(t: DateTime<Utc>, cancel: &CancelToken) -> bool {
    let wait = (t - Utc::now()).to_std().unwrap_or_default();
    tokio::select! {
        _ = tokio::time::sleep(wait) => true,
        _ = cancel.cancelled() => false,
    }
}

/// Runs the scheduler until `cancel` fires; returns after the running jobs have stopped.
///
/// # Errors
///
/// The pipeline file is invalid.
pub async fn run_daemon(options: DaemonOptions, cancel: CancelToken) -> Result<(), Error> {
    let pipeline = Arc::new(Pipeline::load(&options.pipeline)?);
    let lake = Lake::open(pipeline.lake_dir());
    let running: Arc<HashMap<String, AtomicBool>> = Arc::new(
        pipeline
            .sources
            .iter()
            .map(|s| (s.name.clone(), AtomicBool::new(false)))
            .collect(),
    );
    let mut tasks = tokio::task::JoinSet::new();
    let mut scheduled = 0usize;
    for src in &pipeline.sources {
        let Some(schedule) = src.schedule.clone() else {
            tracing::info!(source = %src.name, "no schedule: not run by the daemon");
            continue;
        };
        scheduled += 1;
        let catch_up = options.catch_up && {
            let state = lake.source_state(&src.name)?;
            missed(
                &schedule,
                &pipeline.timezone,
                state.last_success.as_deref(),
                Utc::now(),
            )
        };
        let pipeline = Arc::clone(&pipeline);
        let running = Arc::clone(&running);
        let cancel = cancel.clone();
        let name = src.name.clone();
        tasks.spawn(async move {
            if catch_up {
                tracing::info!(source = %name, "missed its last scheduled run while the daemon was down: running once now");
                fire(&pipeline, &name, &running, &cancel).await;
            }
            while let Some(t) = next_fire(&schedule, &pipeline.timezone, Utc::now()) {
                if !sleep_until(t, &cancel).await {
                    break;
                }
                fire(&pipeline, &name, &running, &cancel).await;
            }
        });
    }
    if let (Some(schedule), Some(cmd)) =
        (pipeline.schedule.clone(), options.nightly_command.clone())
    {
        let tz = pipeline.timezone;
        let cancel = cancel.clone();
        tasks.spawn(async move {
            let busy = Arc::new(AtomicBool::new(false));
            while let Some(t) = next_fire(&schedule, &tz, Utc::now()) {
                if !sleep_until(t, &cancel).await {
                    break;
                }
                if busy.swap(true, Ordering::SeqCst) {
                    tracing::warn!("nightly run still going at its next scheduled time: skipped");
                    continue;
                }
                let busy = Arc::clone(&busy);
                let cmd = cmd.clone();
                let cancel = cancel.clone();
                tokio::spawn(async move {
                    run_child(&cmd, &cancel).await;
                    busy.store(false, Ordering::SeqCst);
                });
            }
        });
    }
    tracing::info!(pipeline = %pipeline.name, sources = scheduled, "daemon started");
    while let Some(r) = tasks.join_next().await {
        if let Err(e) = r {
            tracing::error!("scheduler task failed: {e}");
        }
    }
    // Scheduler loops end on cancellation; wait for source runs still finishing their page.
    while running.values().any(|r| r.load(Ordering::SeqCst)) {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    tracing::info!("daemon stopped");
    Ok(())
}

/// Runs one source now, unless its previous run is still going (then skips and logs). The
/// run is awaited in its own task so that the schedule keeps ticking (and logs skips).
async fn fire(
    pipeline: &Arc<Pipeline>,
    name: &str,
    running: &Arc<HashMap<String, AtomicBool>>,
    cancel: &CancelToken,
) {
    let Some(flag) = running.get(name) else {
        return;
    };
    if flag.swap(true, Ordering::SeqCst) {
        tracing::warn!(
            source = name,
            "previous run still going: this scheduled run is skipped"
        );
        return;
    }
    let pipeline = Arc::clone(pipeline);
    let running = Arc::clone(running);
    let cancel = cancel.clone();
    let name = name.to_owned();
    tokio::spawn(async move {
        let names = [name.clone()];
        match crate::ingest(&pipeline, Some(&names), &cancel).await {
            Ok(report) => {
                for s in &report.manifest.sources {
                    tracing::info!(source = %s.source, run = %report.run_id, status = %s.status,
                        read = s.rows_read, written = s.rows_written, quarantined = s.rows_quarantined,
                        error = s.error.as_deref().unwrap_or(""), "scheduled run finished");
                }
            }
            Err(e) => tracing::error!(source = %name, "scheduled run failed: {e}"),
        }
        if let Some(f) = running.get(&name) {
            f.store(false, Ordering::SeqCst);
        }
    });
}

async fn run_child(cmd: &[OsString], cancel: &CancelToken) {
    let Some((program, args)) = cmd.split_first() else {
        return;
    };
    tracing::info!("starting the nightly run");
    let mut child = match tokio::process::Command::new(program).args(args).spawn() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("could not start the nightly run: {e}");
            return;
        }
    };
    tokio::select! {
        status = child.wait() => match status {
            Ok(s) => tracing::info!(code = s.code().unwrap_or(-1), "nightly run finished"),
            Err(e) => tracing::error!("nightly run: {e}"),
        },
        _ = cancel.cancelled() => {
            if let Some(pid) = child.id() {
                // SIGTERM lets the child finish its page and commit; it resumes next night.
                let _ = std::process::Command::new("kill").arg("-TERM").arg(pid.to_string()).status();
            }
            let _ = child.wait().await;
            tracing::info!("nightly run stopped for shutdown");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn missed_run_policy() {
        let tz = FixedOffset::east_opt(8 * 3600).expect("offset");
        let s = cron::Schedule::from_str("0 0 1 * * *").expect("cron");
        // now: 2021-07-01 10:00 +08 → previous firing 2021-07-01 01:00 +08 (= 06-30 17:00 UTC)
        let now = DateTime::parse_from_rfc3339("2021-07-01T02:00:00Z")
            .expect("t")
            .with_timezone(&Utc);
        assert!(missed(&s, &tz, None, now));
        assert!(missed(&s, &tz, Some("2021-06-30T16:59:00Z"), now));
        assert!(!missed(&s, &tz, Some("2021-06-30T17:00:01Z"), now));
    }
}
