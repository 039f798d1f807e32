//! Manifests: what each partition holds, what each run did, and per-source state.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{Error, Lake, Zone, write_atomic};

/// One committed part file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartManifest {
    /// File name within the partition directory (`part-00000.parquet`).
    pub file: String,
    /// Rows in the file.
    pub rows: u64,
    /// Bytes of the file.
    pub bytes: u64,
    /// SHA-256 of the file, lower-case hex.
    pub sha256: String,
    /// Smallest `_seq` in the file.
    pub min_seq: Option<i64>,
    /// Largest `_seq` in the file.
    pub max_seq: Option<i64>,
}

/// A delivered file (file drop sources) and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    /// The file name as delivered.
    pub name: String,
    /// SHA-256 of the file's content (the ingest-once key).
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
    /// `ingested`, `rejected` (unreadable as a whole; see `reason`) or `skipped` (already
    /// ingested before, by checksum).
    pub status: String,
    /// Why it was rejected, or a note (header only, encoding detected …).
    #[serde(default)]
    pub reason: Option<String>,
    /// Rows read from it.
    pub rows_read: u64,
    /// Rows written to `raw`.
    pub rows_written: u64,
    /// Rows written to `quarantine`.
    pub rows_quarantined: u64,
}

/// `_manifest.json` of one partition directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionManifest {
    /// Manifest format version (1).
    pub format_version: u32,
    /// Raw or quarantine.
    pub zone: Zone,
    /// Department key.
    pub department: String,
    /// Dataset key.
    pub dataset: String,
    /// The pipeline source that wrote it.
    pub source: String,
    /// The run that wrote it.
    pub run_id: String,
    /// `YYYY-MM-DD`.
    pub ingest_date: String,
    /// Rows over all parts.
    pub rows: u64,
    /// Bytes over all parts.
    pub bytes: u64,
    /// The part files.
    pub parts: Vec<PartManifest>,
    /// The source's watermark after this run's last committed page (HTTP/database sources).
    pub watermark: Option<i64>,
    /// Delivered files whose rows are in this run (file drop sources).
    #[serde(default)]
    pub files: Vec<FileRecord>,
    /// True when the run was interrupted and its committed pages were finalised by a later
    /// run's recovery.
    #[serde(default)]
    pub recovered: bool,
    /// When the partition was committed (RFC 3339, UTC).
    pub committed_at: String,
}

/// What one run did for one source (part of [`RunManifest`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceRun {
    /// Pipeline source name.
    pub source: String,
    /// `http`, `database` or `file_drop`.
    pub kind: String,
    /// Department key.
    pub department: String,
    /// Dataset key.
    pub dataset: String,
    /// `ok`, `quarantined` (finished, some rows quarantined or files rejected), `failed`,
    /// `cancelled`.
    pub status: String,
    /// The failure, when `failed` (English; no personal data).
    #[serde(default)]
    pub error: Option<String>,
    /// Records delivered (excluding re-deliveries of records already committed).
    pub rows_read: u64,
    /// Rows written to `raw`.
    pub rows_written: u64,
    /// Rows written to `quarantine`.
    pub rows_quarantined: u64,
    /// Records dropped because they were already committed (a page that started earlier than
    /// asked, a re-delivered page).
    pub duplicates_dropped: u64,
    /// Watermark before the run.
    pub watermark_before: Option<i64>,
    /// Watermark after the run.
    pub watermark_after: Option<i64>,
    /// Files handled (file drop).
    #[serde(default)]
    pub files: Vec<FileRecord>,
    /// Partition directories written, relative to the lake root.
    #[serde(default)]
    pub partitions: Vec<String>,
    /// Bytes of Parquet written.
    pub bytes_written: u64,
    /// Bytes received from the source (response bodies, file sizes).
    pub bytes_read: u64,
    /// Requests made (HTTP) or batches queried (database).
    pub requests: u64,
    /// Requests retried after a failure.
    pub retries: u64,
    /// Interrupted runs of this source finalised before this run started.
    #[serde(default)]
    pub recovered_runs: Vec<String>,
    /// Wall time in milliseconds.
    pub elapsed_ms: u64,
}

impl SourceRun {
    /// rows read = rows written + rows quarantined.
    pub fn reconciles(&self) -> bool {
        self.rows_read == self.rows_written + self.rows_quarantined
    }
}

/// `<lake>/_runs/<run_id>.json`: what one `hedui ingest` (or nightly) run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunManifest {
    /// Manifest format version (1).
    pub format_version: u32,
    /// The run id.
    pub run_id: String,
    /// The pipeline name.
    pub pipeline: String,
    /// The pipeline file.
    pub pipeline_file: String,
    /// `YYYY-MM-DD` partition date.
    pub ingest_date: String,
    /// RFC 3339 UTC.
    pub started_at: String,
    /// RFC 3339 UTC.
    pub finished_at: String,
    /// Per source, in pipeline order.
    pub sources: Vec<SourceRun>,
}

/// `<lake>/_state/<source>.json`: a readable summary of a source's state. It is a cache: the
/// authoritative watermark and file checksums are the committed partition manifests
/// ([`Lake::committed`]), so a crash between committing data and saving this file loses
/// nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceState {
    /// Pipeline source name.
    pub source: String,
    /// The highest committed watermark.
    pub watermark: Option<i64>,
    /// Last run that finished without failing (RFC 3339 UTC).
    pub last_success: Option<String>,
    /// Last run of any outcome (RFC 3339 UTC).
    pub last_run: Option<String>,
    /// Checksums of the files ingested (sha256 → file name).
    #[serde(default)]
    pub files: BTreeMap<String, String>,
}

pub(crate) fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, Error> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

pub(crate) fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), Error> {
    let bytes = serde_json::to_vec_pretty(value)
        .map_err(|e| Error::Internal(format!("serialising {}: {e}", path.display())))?;
    write_atomic(path, &bytes)
}

impl Lake {
    /// Writes `<lake>/_runs/<run_id>.json` atomically.
    pub fn write_run_manifest(&self, manifest: &RunManifest) -> Result<(), Error> {
        let path = self.runs_dir().join(format!("{}.json", manifest.run_id));
        write_json(&path, manifest)
    }

    /// Reads a run manifest.
    pub fn run_manifest(&self, run_id: &str) -> Result<RunManifest, Error> {
        read_json(&self.runs_dir().join(format!("{run_id}.json")))
    }

    /// The run ids with a manifest, oldest first (run ids sort by time).
    pub fn run_ids(&self) -> Result<Vec<String>, Error> {
        let dir = self.runs_dir();
        let mut out = Vec::new();
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(Error::io(&dir, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(&dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(id) = name.strip_suffix(".json")
                && !name.starts_with('.')
            {
                out.push(id.to_owned());
            }
        }
        out.sort();
        Ok(out)
    }

    /// Reads `<lake>/_state/<source>.json` (default when absent).
    pub fn source_state(&self, source: &str) -> Result<SourceState, Error> {
        let path = self.state_dir().join(format!("{source}.json"));
        if !path.exists() {
            return Ok(SourceState {
                source: source.to_owned(),
                ..SourceState::default()
            });
        }
        read_json(&path)
    }

    /// Writes `<lake>/_state/<source>.json` atomically.
    pub fn write_source_state(&self, state: &SourceState) -> Result<(), Error> {
        write_json(
            &self.state_dir().join(format!("{}.json", state.source)),
            state,
        )
    }
}
