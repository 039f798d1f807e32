//! # hedui-pipeline
//!
//! The nightly run (`hedui run`): ingest every due source → standardise and link new and
//! changed records into the person index → verify → publish (flags to the store, per-district
//! XLSX, the run report). A run has an id and a lock ([`run::RunLock`]); its state is saved
//! after every stage ([`run::RunState`]) so a killed run resumes from the last completed stage;
//! running the same night twice changes nothing.
//!
//! Main types: [`run::RunState`], [`run::RunLock`], [`report::ReportData`].

pub mod current;
pub mod export;
pub mod link;
pub mod nightly;
pub mod report;
pub mod run;
pub mod state;
pub mod verify;

use std::path::{Path, PathBuf};

/// What went wrong, and whose fault it is.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Another run holds the lock (operator: wait, or check for a stuck process).
    #[error("another run is in progress ({holder}); lock file {path}")]
    Locked {
        /// The lock file.
        path: PathBuf,
        /// What the holder wrote into it (run id and pid).
        holder: String,
    },
    /// A file could not be read or written (environment).
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A state or data file is unreadable (data corruption or a bug).
    #[error("{path} is corrupt: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The pipeline file is wrong (user).
    #[error("pipeline configuration: {0}")]
    Config(String),
    /// A stage failed.
    #[error("stage {stage} failed: {reason}")]
    Stage {
        /// The stage.
        stage: &'static str,
        /// Why.
        reason: String,
    },
    /// A bug in hedui.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Error {
        Error::Io {
            path: path.to_owned(),
            source,
        }
    }

    pub(crate) fn internal(e: impl std::fmt::Display) -> Error {
        Error::Internal(e.to_string())
    }
}
