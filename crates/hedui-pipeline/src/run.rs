//! Run identity, the single-run lock, and the per-run state that lets a killed run resume from
//! its last completed stage.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::Error;

/// The stages of a nightly run, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Pull every due source into the lake.
    Ingest,
    /// Standardise new and changed records and link them into the person index.
    Link,
    /// Facts, indicators, rules, flags.
    Verify,
    /// Flags to the store, per-district XLSX, the run report.
    Publish,
}

impl Stage {
    /// All stages in order.
    pub const ALL: [Stage; 4] = [Stage::Ingest, Stage::Link, Stage::Verify, Stage::Publish];

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Ingest => "ingest",
            Stage::Link => "link",
            Stage::Verify => "verify",
            Stage::Publish => "publish",
        }
    }

    /// Caseworker-facing (report) label.
    pub fn label_zh(self) -> &'static str {
        match self {
            Stage::Ingest => "数据接入",
            Stage::Link => "身份关联",
            Stage::Verify => "核对",
            Stage::Publish => "发布",
        }
    }
}

/// Counters and timing of one stage.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StageCounters {
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Peak resident memory of the process when the stage ended, MiB.
    pub peak_rss_mib: Option<u64>,
    /// Rows received (ingest) or records considered.
    pub received: u64,
    /// Rows written / records processed.
    pub written: u64,
    /// Rows quarantined.
    pub quarantined: u64,
    /// Records linked.
    pub linked: u64,
    /// Flags raised (new this run).
    pub flagged: u64,
    /// Free-form details (per source, per kind …).
    #[serde(default)]
    pub details: serde_json::Value,
}

/// The state of a run, saved after every stage (`runs/<run_id>/state.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    /// Run id.
    pub run_id: String,
    /// The as-of date of the checks.
    pub as_of: NaiveDate,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it finished (all stages done).
    pub finished_at: Option<DateTime<Utc>>,
    /// Stages completed, with their counters, in order.
    pub completed: Vec<(Stage, StageCounters)>,
    /// The run this one compares against (the previous finished run).
    pub previous_run: Option<String>,
}

impl RunState {
    /// Whether a stage is done.
    pub fn done(&self, stage: Stage) -> bool {
        self.completed.iter().any(|(s, _)| *s == stage)
    }

    /// The counters of a completed stage.
    pub fn counters(&self, stage: Stage) -> Option<&StageCounters> {
        self.completed
            .iter()
            .find(|(s, _)| *s == stage)
            .map(|(_, c)| c)
    }
}

/// Where runs keep their state: `<data_dir>/runs/`.
#[derive(Debug, Clone)]
pub struct RunDirs {
    root: PathBuf,
}

impl RunDirs {
    /// Runs under `data_dir`.
    pub fn new(data_dir: &Path) -> RunDirs {
        RunDirs {
            root: data_dir.join("runs"),
        }
    }

    /// The directory of one run.
    pub fn dir(&self, run_id: &str) -> PathBuf {
        self.root.join(run_id)
    }

    /// All runs' states, oldest first.
    pub fn list(&self) -> Result<Vec<RunState>, Error> {
        let mut out = Vec::new();
        let entries = match fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(Error::io(&self.root, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(&self.root, e))?;
            let path = entry.path().join("state.json");
            if path.is_file() {
                out.push(read_state(&path)?);
            }
        }
        out.sort_by(|a, b| a.run_id.cmp(&b.run_id));
        Ok(out)
    }

    /// The newest finished run.
    pub fn last_finished(&self) -> Result<Option<RunState>, Error> {
        Ok(self
            .list()?
            .into_iter()
            .rev()
            .find(|r| r.finished_at.is_some()))
    }

    /// The newest unfinished run (a run that crashed or was killed), if it is newer than
    /// every finished run.
    pub fn unfinished(&self) -> Result<Option<RunState>, Error> {
        Ok(self
            .list()?
            .into_iter()
            .next_back()
            .filter(|r| r.finished_at.is_none()))
    }

    /// Saves a run's state atomically.
    pub fn save(&self, state: &RunState) -> Result<(), Error> {
        let dir = self.dir(&state.run_id);
        fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let text = serde_json::to_vec_pretty(state).map_err(Error::internal)?;
        write_atomic(&dir.join("state.json"), &text)
    }
}

fn read_state(path: &Path) -> Result<RunState, Error> {
    let text = fs::read(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_slice(&text).map_err(|e| Error::Corrupt {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

/// Writes a file atomically (the lake's temporary-file-then-rename writer).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    hedui_lake::write_atomic(path, bytes).map_err(write_error)
}

/// Replaces a derived file without an fsync ([`hedui_lake::write_replace`]).
pub fn write_replace(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    hedui_lake::write_replace(path, bytes).map_err(write_error)
}

fn write_error(e: hedui_lake::Error) -> Error {
    Error::Stage {
        stage: "write",
        reason: e.to_string(),
    }
}

/// A new run id from the start time: `20261130T013000Z`. Two runs cannot start in the same
/// second because the lock serialises them; a clash is resolved with a suffix.
pub fn new_run_id(now: DateTime<Utc>, dirs: &RunDirs) -> String {
    let base = now.format("%Y%m%dT%H%M%SZ").to_string();
    let mut id = base.clone();
    let mut n = 1;
    while dirs.dir(&id).exists() {
        n += 1;
        id = format!("{base}-{n}");
    }
    id
}

/// The lock that keeps a second concurrent run out: an exclusive OS lock on
/// `<data_dir>/run.lock`, released when the process ends (even when killed).
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

impl RunLock {
    /// Takes the lock or says who holds it.
    pub fn acquire(data_dir: &Path, run_id: &str) -> Result<RunLock, Error> {
        fs::create_dir_all(data_dir).map_err(|e| Error::io(data_dir, e))?;
        let path = data_dir.join("run.lock");
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let holder = fs::read_to_string(&path).unwrap_or_default();
                return Err(Error::Locked {
                    path,
                    holder: holder.trim().to_owned(),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::io(&path, e)),
        }
        file.set_len(0).map_err(|e| Error::io(&path, e))?;
        writeln!(file, "run {run_id}, pid {}", std::process::id())
            .map_err(|e| Error::io(&path, e))?;
        Ok(RunLock { _file: file })
    }
}

/// Peak resident set size of this process so far, MiB (Linux `VmHWM`).
pub fn peak_rss_mib() -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_second_lock_is_refused_with_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let first = RunLock::acquire(dir.path(), "r1").unwrap();
        match RunLock::acquire(dir.path(), "r2") {
            Err(Error::Locked { holder, .. }) => assert!(holder.contains("r1"), "{holder}"),
            other => panic!("expected Locked, got {other:?}"),
        }
        drop(first);
        RunLock::acquire(dir.path(), "r3").unwrap();
    }

    #[test]
    fn states_round_trip_and_unfinished_runs_are_found() {
        let dir = tempfile::tempdir().unwrap();
        let dirs = RunDirs::new(dir.path());
        let now = DateTime::parse_from_rfc3339("2026-11-30T01:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let id = new_run_id(now, &dirs);
        assert_eq!(id, "20261130T013000Z");
        let mut st = RunState {
            run_id: id.clone(),
            as_of: NaiveDate::from_ymd_opt(2021, 9, 30).unwrap(),
            started_at: now,
            finished_at: None,
            completed: vec![(Stage::Ingest, StageCounters::default())],
            previous_run: None,
        };
        dirs.save(&st).unwrap();
        assert_eq!(dirs.unfinished().unwrap().unwrap(), st);
        assert!(dirs.last_finished().unwrap().is_none());
        assert_eq!(new_run_id(now, &dirs), "20261130T013000Z-2");
        st.finished_at = Some(now);
        dirs.save(&st).unwrap();
        assert!(dirs.unfinished().unwrap().is_none());
        assert_eq!(dirs.last_finished().unwrap().unwrap().run_id, id);
    }
}
