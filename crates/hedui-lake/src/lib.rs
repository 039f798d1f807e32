//! # hedui-lake
//!
//! The Parquet lake: Hive partitions, atomic writes, manifests, quarantine. The only crate that
//! writes the lake's data files; every later stage reads the lake through this crate.
//!
//! Layout (the contract of DESIGN.md):
//!
//! ```text
//! <lake>/raw/<department>/<dataset>/ingest_date=YYYY-MM-DD/run=<run_id>/part-NNNNN.parquet
//! <lake>/raw/<department>/<dataset>/ingest_date=YYYY-MM-DD/run=<run_id>/_manifest.json
//! <lake>/quarantine/<department>/<dataset>/ingest_date=…/run=…/part-NNNNN.parquet (+ _reason)
//! <lake>/_runs/<run_id>.json          run manifests (what a run did, per source)
//! <lake>/_state/<source>.json         per-source state (a cache derived from the manifests)
//! <lake>/_staging/<source>/<run_id>/  a run in progress (never read by readers)
//! ```
//!
//! Main types:
//! - [`Lake`]: the root; listing partitions ([`Lake::partitions`]), reading them
//!   ([`Partition::read_batches`], [`Partition::read_text`]), run manifests
//!   ([`Lake::run_manifest`]), per-source state and watermarks ([`Lake::committed`]).
//! - [`StagedRun`]: how a writer (ingestion) adds one source's rows for one run. Part files are
//!   written as `*.tmp` and renamed; a [`StagedRun::checkpoint`] records the committed parts in a
//!   journal (itself written atomically); [`StagedRun::finalize`] writes the partition manifests
//!   and renames the whole partition directory into place, so a reader sees a partition only
//!   when it is complete.
//! - [`raw_schema`] / [`quarantine_schema`]: the Arrow schemas of the two zones for a dataset.
//!
//! Crash safety: the resume point of a source (its watermark, the files it has ingested) is
//! derived from what is committed — the partition manifests in the lake plus the journal of a
//! staged run that was interrupted ([`Lake::recover`] finalizes it) — never from a separately
//! saved counter that could disagree with the data. A crash between writing a part and
//! journaling it loses only that uncommitted part, which the next run fetches again.
//!
//! ```
//! use hedui_lake::{Lake, Zone, PartitionFilter};
//! let dir = tempfile::tempdir()?;
//! let lake = Lake::open(dir.path());
//! let parts = lake.partitions(Zone::Raw, "gongan", "population", &PartitionFilter::default())?;
//! assert!(parts.is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod manifest;
mod read;
mod schema;
mod write;

use std::path::{Path, PathBuf};

pub use manifest::{
    FileRecord, PartManifest, PartitionManifest, RunManifest, SourceRun, SourceState,
};
pub use read::{Partition, PartitionFilter, TextBatch};
pub use schema::{LINEAGE_COLUMNS, REASON_COLUMN, lake_type, quarantine_schema, raw_schema};
pub use write::{Committed, CommittedState, StagedRun};

/// Which half of the lake.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Zone {
    /// Rows as delivered, typed per `schemas/`.
    Raw,
    /// Rows that failed validation, as delivered text, with `_reason`.
    Quarantine,
}

impl Zone {
    /// The top-level directory name.
    pub fn dir_name(self) -> &'static str {
        match self {
            Zone::Raw => "raw",
            Zone::Quarantine => "quarantine",
        }
    }
}

/// Lake failures. Per-row data problems are never errors here (they are quarantine rows).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file system refused (disk full, permissions …): the operator's environment.
    #[error("lake I/O on {path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A Parquet/Arrow file in the lake could not be written or read.
    #[error("Parquet file {path}: {message}")]
    Parquet {
        /// The file.
        path: PathBuf,
        /// What the Parquet/Arrow library said.
        message: String,
    },
    /// A manifest, journal or state file is unreadable: the lake was damaged from outside.
    #[error("lake metadata {path} is damaged: {message}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The caller broke the API contract (a bug in hedui).
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn parquet(path: impl Into<PathBuf>, e: impl std::fmt::Display) -> Error {
        Error::Parquet {
            path: path.into(),
            message: e.to_string(),
        }
    }
}

/// The lake's root directory.
#[derive(Debug, Clone)]
pub struct Lake {
    root: PathBuf,
}

impl Lake {
    /// A lake at `root` (created lazily on the first write).
    pub fn open(root: impl Into<PathBuf>) -> Lake {
        Lake { root: root.into() }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<lake>/<zone>/<department>/<dataset>`.
    pub fn dataset_dir(&self, zone: Zone, department: &str, dataset: &str) -> PathBuf {
        self.root
            .join(zone.dir_name())
            .join(department)
            .join(dataset)
    }

    /// `<lake>/_runs`.
    pub fn runs_dir(&self) -> PathBuf {
        self.root.join("_runs")
    }

    /// `<lake>/_state`.
    pub fn state_dir(&self) -> PathBuf {
        self.root.join("_state")
    }

    /// `<lake>/_staging/<source>`.
    pub fn staging_dir(&self, source: &str) -> PathBuf {
        self.root.join("_staging").join(source)
    }
}

/// Writes `bytes` to `path` atomically (temporary file in the same directory, fsync, rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    write_renamed(path, bytes, true)
}

/// [`write_atomic`] without the fsync: a reader still never sees a partial file, but after a
/// power loss the file may be empty. For the many small derived files of a run (reports a
/// rerun of the stage rebuilds), where one fsync each would cost more than the work.
pub fn write_replace(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    write_renamed(path, bytes, false)
}

fn write_renamed(path: &Path, bytes: &[u8], sync: bool) -> Result<(), Error> {
    use std::io::Write;
    let dir = path
        .parent()
        .ok_or_else(|| Error::Internal(format!("{} has no parent", path.display())))?;
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let mut f = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    f.write_all(bytes).map_err(|e| Error::io(&tmp, e))?;
    if sync {
        f.sync_all().map_err(|e| Error::io(&tmp, e))?;
    }
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))?;
    Ok(())
}
