//! # hedui-ingest
//!
//! Ingestion: pulls the departments' data from their sources into the lake, validated against
//! `schemas/`.
//!
//! - [`Pipeline`] ([`spec`]): the `[pipeline]` and `[[sources]]` of a pipeline file, validated
//!   with every problem reported at once.
//! - Sources: HTTP API ([`http`], paginated JSON/CSV with signing or bearer token, incremental
//!   by `_seq`, rate limit, retries with backoff and jitter), database table ([`db`],
//!   PostgreSQL/MySQL/MariaDB 前置库, incremental key, batches), file drop ([`filedrop`], CSV in
//!   UTF-8/BOM/GB18030, XLSX, Parquet; each file once by checksum, then archived).
//! - [`validate`]: header mapping (schema drift is an error naming the columns), coercion to
//!   the lake types, quarantine reasons.
//! - [`ingest`] / [`ingest_blocking`]: one run over the due sources, returning an
//!   [`IngestReport`] (per-source counts that reconcile: read = written + quarantined; the
//!   partitions written) and writing the run manifest `<lake>/_runs/<run_id>.json`.
//! - [`daemon`]: the cron scheduler (`hedui daemon`).
//!
//! Resumption: the resume point of a source is derived from the committed partitions
//! (see `hedui-lake`), so re-running after a crash — even SIGKILL mid-pull — neither loses
//! nor duplicates a row; records re-delivered at or below the committed watermark are dropped
//! and counted.
//!
//! ```no_run
//! # async fn f() -> Result<(), hedui_ingest::Error> {
//! let pipeline = hedui_ingest::Pipeline::load("pipelines/nightly.toml")?;
//! let cancel = hedui_ingest::CancelToken::new();
//! let report = hedui_ingest::ingest(&pipeline, None, &cancel).await?;
//! for s in &report.manifest.sources {
//!     println!("{}: {} read, {} written, {} quarantined", s.source, s.rows_read, s.rows_written, s.rows_quarantined);
//! }
//! # Ok(()) }
//! ```

pub mod daemon;
pub mod db;
pub mod filedrop;
pub mod http;
mod run;
mod sink;
pub mod spec;
pub mod validate;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

pub use run::{IngestReport, ingest, ingest_blocking};
pub use sink::Counts;
pub use spec::{Pipeline, SourceKind, SourceSpec};

/// Ingestion failures, by whose fault they are. Per-row data problems are not errors: they
/// are quarantine rows.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The pipeline file is wrong (the user's fault); every problem is listed.
    #[error("pipeline file {path} is invalid:\n  - {}", problems.join("\n  - "))]
    Pipeline {
        /// The file.
        path: PathBuf,
        /// Every problem found.
        problems: Vec<String>,
    },
    /// `--source NAME` names no source of the pipeline (the user's fault).
    #[error("no source named {name:?} in the pipeline (sources: {known})")]
    UnknownSource {
        /// The name asked for.
        name: String,
        /// The names there are.
        known: String,
    },
    /// A required environment variable (secret, database URL) is not set (the operator's).
    #[error("environment variable {0} is not set (it holds the source's secret or URL)")]
    MissingEnv(String),
    /// The department changed its columns (the department's fault): reported, not guessed.
    #[error("schema drift in {dataset} from source {source_name}: {detail}")]
    Drift {
        /// The source.
        source_name: String,
        /// `department/dataset`.
        dataset: String,
        /// Which columns.
        detail: String,
    },
    /// The source answered with something that is not the agreed protocol (the department's).
    #[error("source {source_name}: {message}")]
    Protocol {
        /// The source.
        source_name: String,
        /// What was wrong.
        message: String,
    },
    /// The source could not be reached or kept failing after all retries (the network's or
    /// the department's).
    #[error("source {source_name} unavailable: {message}")]
    Unavailable {
        /// The source.
        source_name: String,
        /// The last failure.
        message: String,
    },
    /// The source refused our credentials (the operator's).
    #[error("source {source_name} refused authentication: {message}")]
    Auth {
        /// The source.
        source_name: String,
        /// What it said.
        message: String,
    },
    /// A database source failed (connection, query).
    #[error("database source {source_name}: {message}")]
    Database {
        /// The source.
        source_name: String,
        /// What the driver said (no URL: it may hold a password).
        message: String,
    },
    /// Another run of the source holds its lock.
    #[error("source {0} is already being ingested by another process (lock {1})")]
    Busy(String, PathBuf),
    /// File system trouble outside the lake (drop directories, archive).
    #[error("I/O on {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The lake refused a write or read.
    #[error(transparent)]
    Lake(#[from] hedui_lake::Error),
    /// A bug in hedui.
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
}

/// Cooperative cancellation (SIGTERM/SIGINT): sources stop at the next page boundary, commit
/// what they have and finalise; the next run resumes from there.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A token that is not cancelled.
    pub fn new() -> CancelToken {
        CancelToken::default()
    }

    /// Requests cancellation.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether cancellation was requested.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// Resolves once cancelled (polls every 50 ms).
    pub async fn cancelled(&self) {
        while !self.is_cancelled() {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}
