//! Writing one source's rows for one run: staged part files, a journal of what is committed,
//! and finalisation into the Hive partitions.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use hedui_model::DatasetSchema;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::manifest::{read_json, write_json};
use crate::{
    Error, FileRecord, Lake, PartManifest, PartitionManifest, Zone, quarantine_schema, raw_schema,
};

/// The journal of a staged run: the parts that are committed. Written atomically after the
/// part files it names are in place, so it never names a part that does not exist.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Journal {
    source: String,
    department: String,
    dataset: String,
    run_id: String,
    ingest_date: String,
    raw: Vec<PartManifest>,
    quarantine: Vec<PartManifest>,
    watermark: Option<i64>,
    files: Vec<FileRecord>,
}

const JOURNAL: &str = "journal.json";
const MANIFEST: &str = "_manifest.json";

/// What a finalised run added to the lake.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Committed {
    /// The run.
    pub run_id: String,
    /// Partition directories, relative to the lake root.
    pub partitions: Vec<String>,
    /// Rows in `raw`.
    pub raw_rows: u64,
    /// Rows in `quarantine`.
    pub quarantine_rows: u64,
    /// Parquet bytes.
    pub bytes: u64,
    /// The watermark recorded.
    pub watermark: Option<i64>,
    /// Files recorded.
    pub files: Vec<FileRecord>,
}

/// One source's rows for one run, staged under `<lake>/_staging/<source>/<run_id>/` until
/// [`finalize`](Self::finalize).
///
/// Protocol: [`write_part`](Self::write_part) any number of times (raw and quarantine parts),
/// then [`checkpoint`](Self::checkpoint) with the watermark that all rows written so far reach;
/// only checkpointed parts survive a crash. [`finalize`](Self::finalize) publishes the
/// committed parts as partitions.
#[derive(Debug)]
pub struct StagedRun {
    lake: Lake,
    dir: PathBuf,
    journal: Journal,
    pending: Vec<(Zone, PartManifest)>,
    next_part: [u32; 2],
    schemas: [SchemaRef; 2],
    /// A part being written on a thread of its own ([`StagedRun::write_part_background`]).
    inflight: Option<Inflight>,
}

/// A part file being encoded and written in the background.
#[derive(Debug)]
struct Inflight {
    zone: Zone,
    file: String,
    rows: u64,
    seqs: (Option<i64>, Option<i64>),
    writer: std::thread::JoinHandle<Result<(u64, String), Error>>,
}

fn zone_index(zone: Zone) -> usize {
    match zone {
        Zone::Raw => 0,
        Zone::Quarantine => 1,
    }
}

/// A writer that hashes what passes through it.
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Writes `batch` to `path` as Snappy-compressed Parquet through a temporary file; returns
/// (bytes, sha256).
pub(crate) fn write_parquet_atomic(
    path: &Path,
    batch: &RecordBatch,
) -> Result<(u64, String), Error> {
    let dir = path
        .parent()
        .ok_or_else(|| Error::Internal(format!("{} has no parent", path.display())))?;
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp"));
    let file = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    let sink = HashingWriter {
        inner: BufWriter::with_capacity(1 << 20, file),
        hasher: Sha256::new(),
        bytes: 0,
    };
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(128 * 1024))
        .build();
    let mut writer = ArrowWriter::try_new(sink, batch.schema(), Some(props))
        .map_err(|e| Error::parquet(&tmp, e))?;
    writer.write(batch).map_err(|e| Error::parquet(&tmp, e))?;
    let mut sink = writer.into_inner().map_err(|e| Error::parquet(&tmp, e))?;
    sink.flush().map_err(|e| Error::io(&tmp, e))?;
    let HashingWriter {
        inner,
        hasher,
        bytes,
    } = sink;
    let file = inner
        .into_inner()
        .map_err(|e| Error::io(&tmp, e.into_error()))?;
    file.sync_all().map_err(|e| Error::io(&tmp, e))?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))?;
    Ok((bytes, hex::encode(hasher.finalize())))
}

fn seq_range(batch: &RecordBatch) -> (Option<i64>, Option<i64>) {
    use arrow::array::{Array, Int64Array};
    let Some(col) = batch.column_by_name("_seq") else {
        return (None, None);
    };
    let Some(seqs) = col.as_any().downcast_ref::<Int64Array>() else {
        return (None, None);
    };
    let mut lo: Option<i64> = None;
    let mut hi: Option<i64> = None;
    for v in seqs.iter().flatten() {
        lo = Some(lo.map_or(v, |l| l.min(v)));
        hi = Some(hi.map_or(v, |h| h.max(v)));
    }
    (lo, hi)
}

impl StagedRun {
    /// Starts staging `run_id` of `source`, which delivers `schema`'s dataset. Run ids must be
    /// unique and safe as a directory name (`[A-Za-z0-9_.-]`).
    pub fn begin(
        lake: &Lake,
        source: &str,
        schema: &DatasetSchema,
        run_id: &str,
        ingest_date: &str,
    ) -> Result<StagedRun, Error> {
        let safe = |s: &str| {
            !s.is_empty()
                && !s.starts_with('.')
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        };
        if !safe(run_id) || !safe(source) {
            return Err(Error::Internal(format!(
                "run id {run_id:?} or source {source:?} is not a safe directory name"
            )));
        }
        let dir = lake.staging_dir(source).join(run_id);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let journal = Journal {
            source: source.to_owned(),
            department: schema.department.clone(),
            dataset: schema.dataset.clone(),
            run_id: run_id.to_owned(),
            ingest_date: ingest_date.to_owned(),
            raw: Vec::new(),
            quarantine: Vec::new(),
            watermark: None,
            files: Vec::new(),
        };
        write_json(&dir.join(JOURNAL), &journal)?;
        Ok(StagedRun {
            lake: lake.clone(),
            dir,
            journal,
            pending: Vec::new(),
            next_part: [0, 0],
            schemas: [raw_schema(schema), quarantine_schema(schema)],
            inflight: None,
        })
    }

    /// The run id.
    pub fn run_id(&self) -> &str {
        &self.journal.run_id
    }

    /// The schema a batch for `zone` must have.
    pub fn schema(&self, zone: Zone) -> SchemaRef {
        self.schemas[zone_index(zone)].clone()
    }

    /// Writes one part file (atomically) into the staging area. It is committed by the next
    /// [`checkpoint`](Self::checkpoint); empty batches are ignored.
    pub fn write_part(&mut self, zone: Zone, batch: &RecordBatch) -> Result<(), Error> {
        self.settle()?;
        let Some((file, path)) = self.reserve_part(zone, batch)? else {
            return Ok(());
        };
        let (bytes, sha256) = write_parquet_atomic(&path, batch)?;
        let (min_seq, max_seq) = seq_range(batch);
        self.pending.push((
            zone,
            PartManifest {
                file,
                rows: batch.num_rows() as u64,
                bytes,
                sha256,
                min_seq,
                max_seq,
            },
        ));
        Ok(())
    }

    /// [`write_part`](Self::write_part) on a thread of its own: the caller goes on (building
    /// the next batch) while this one is encoded, compressed and synced. At most one part is
    /// in flight — a second call first waits for the first — and the next
    /// [`checkpoint`](Self::checkpoint) waits for it, so what a checkpoint commits is on disk.
    /// A failure of the background write is returned by the call that waits for it.
    pub fn write_part_background(&mut self, zone: Zone, batch: RecordBatch) -> Result<(), Error> {
        self.settle()?;
        let Some((file, path)) = self.reserve_part(zone, &batch)? else {
            return Ok(());
        };
        let rows = batch.num_rows() as u64;
        let seqs = seq_range(&batch);
        let writer = std::thread::Builder::new()
            .name("lake-part-writer".into())
            .spawn(move || write_parquet_atomic(&path, &batch))
            .map_err(|e| Error::Internal(format!("starting a part writer: {e}")))?;
        self.inflight = Some(Inflight {
            zone,
            file,
            rows,
            seqs,
            writer,
        });
        Ok(())
    }

    /// Checks `batch` against the zone's schema and names its part file; `None` for an empty
    /// batch.
    fn reserve_part(
        &mut self,
        zone: Zone,
        batch: &RecordBatch,
    ) -> Result<Option<(String, PathBuf)>, Error> {
        if batch.num_rows() == 0 {
            return Ok(None);
        }
        if batch.schema().fields() != self.schemas[zone_index(zone)].fields() {
            return Err(Error::Internal(format!(
                "batch for {} does not have the {} schema",
                self.journal.source,
                zone.dir_name()
            )));
        }
        let n = self.next_part[zone_index(zone)];
        self.next_part[zone_index(zone)] += 1;
        let file = format!("part-{n:05}.parquet");
        let path = self.dir.join(zone.dir_name()).join(&file);
        Ok(Some((file, path)))
    }

    /// Waits for the part in flight, if any, without keeping it (its outcome does not matter:
    /// it is being dropped); returns its zone and file.
    fn drop_inflight(&mut self) -> Option<(Zone, String)> {
        let f = self.inflight.take()?;
        let _ = f.writer.join();
        Some((f.zone, f.file))
    }

    /// Waits for the part in flight, if any, and adds it to the pending parts.
    fn settle(&mut self) -> Result<(), Error> {
        let Some(f) = self.inflight.take() else {
            return Ok(());
        };
        let (bytes, sha256) = f
            .writer
            .join()
            .map_err(|_| Error::Internal("the part writer panicked".into()))??;
        self.pending.push((
            f.zone,
            PartManifest {
                file: f.file,
                rows: f.rows,
                bytes,
                sha256,
                min_seq: f.seqs.0,
                max_seq: f.seqs.1,
            },
        ));
        Ok(())
    }

    /// Commits every part written since the last checkpoint, with the watermark they reach and
    /// the files they complete. After this returns, a crash loses none of these rows.
    pub fn checkpoint(
        &mut self,
        watermark: Option<i64>,
        files: Vec<FileRecord>,
    ) -> Result<(), Error> {
        self.settle()?;
        for (zone, part) in self.pending.drain(..) {
            match zone {
                Zone::Raw => self.journal.raw.push(part),
                Zone::Quarantine => self.journal.quarantine.push(part),
            }
        }
        if watermark.is_some() {
            self.journal.watermark = watermark;
        }
        self.journal.files.extend(files);
        write_json(&self.dir.join(JOURNAL), &self.journal)
    }

    /// Drops the parts written since the last checkpoint (waiting for one in flight) and
    /// deletes their files: what a caller handed over of a delivery that turned out unusable
    /// half-way.
    pub fn discard_pending(&mut self) -> Result<(), Error> {
        let mut files: Vec<(Zone, String)> = self
            .pending
            .drain(..)
            .map(|(zone, part)| (zone, part.file))
            .collect();
        files.extend(self.drop_inflight());
        for (zone, file) in files {
            let path = self.dir.join(zone.dir_name()).join(file);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(&path, e)),
            }
        }
        Ok(())
    }

    /// Rows committed so far (raw, quarantine).
    pub fn committed_rows(&self) -> (u64, u64) {
        (
            self.journal.raw.iter().map(|p| p.rows).sum(),
            self.journal.quarantine.iter().map(|p| p.rows).sum(),
        )
    }

    /// Publishes the committed parts as partitions (uncommitted parts are discarded) and
    /// removes the staging directory.
    pub fn finalize(mut self) -> Result<Committed, Error> {
        // An uncommitted part still in flight is discarded with the rest; its writer must not
        // be writing into the directory being published.
        self.drop_inflight();
        finalize_dir(&self.lake, &self.dir, false)
    }

    /// Discards everything staged (nothing reaches the lake).
    pub fn abandon(mut self) -> Result<(), Error> {
        self.drop_inflight();
        std::fs::remove_dir_all(&self.dir).map_err(|e| Error::io(&self.dir, e))
    }
}

fn remove_uncommitted(zone_dir: &Path, keep: &[PartManifest]) -> Result<(), Error> {
    let entries = match std::fs::read_dir(zone_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(zone_dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(zone_dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !keep.iter().any(|p| p.file == name) {
            let path = entry.path();
            std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
        }
    }
    Ok(())
}

fn finalize_dir(lake: &Lake, dir: &Path, recovered: bool) -> Result<Committed, Error> {
    let journal: Journal = read_json(&dir.join(JOURNAL))?;
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut committed = Committed {
        run_id: journal.run_id.clone(),
        watermark: journal.watermark,
        files: journal.files.clone(),
        ..Committed::default()
    };
    // Files are recorded on the raw partition, or on the quarantine partition when no row was
    // written to raw, so that they are recorded exactly once.
    let files_zone = if journal.raw.is_empty() && !journal.quarantine.is_empty() {
        Zone::Quarantine
    } else {
        Zone::Raw
    };
    for (zone, parts) in [
        (Zone::Raw, &journal.raw),
        (Zone::Quarantine, &journal.quarantine),
    ] {
        let staged = dir.join(zone.dir_name());
        remove_uncommitted(&staged, parts)?;
        let carries_files = zone == files_zone && !journal.files.is_empty();
        if parts.is_empty() && !carries_files {
            continue;
        }
        let rel = PathBuf::from(zone.dir_name())
            .join(&journal.department)
            .join(&journal.dataset)
            .join(format!("ingest_date={}", journal.ingest_date))
            .join(format!("run={}", journal.run_id));
        let target = lake.root().join(&rel);
        let rows: u64 = parts.iter().map(|p| p.rows).sum();
        let bytes: u64 = parts.iter().map(|p| p.bytes).sum();
        if staged.exists() || !target.exists() {
            let manifest = PartitionManifest {
                format_version: 1,
                zone,
                department: journal.department.clone(),
                dataset: journal.dataset.clone(),
                source: journal.source.clone(),
                run_id: journal.run_id.clone(),
                ingest_date: journal.ingest_date.clone(),
                rows,
                bytes,
                parts: parts.clone(),
                watermark: journal.watermark,
                files: if zone == files_zone {
                    journal.files.clone()
                } else {
                    Vec::new()
                },
                recovered,
                committed_at: now.clone(),
            };
            std::fs::create_dir_all(&staged).map_err(|e| Error::io(&staged, e))?;
            write_json(&staged.join(MANIFEST), &manifest)?;
            let parent = target
                .parent()
                .ok_or_else(|| Error::Internal("partition without parent".into()))?;
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
            std::fs::rename(&staged, &target).map_err(|e| Error::io(&target, e))?;
        }
        committed
            .partitions
            .push(rel.to_string_lossy().into_owned());
        committed.bytes += bytes;
        match zone {
            Zone::Raw => committed.raw_rows = rows,
            Zone::Quarantine => committed.quarantine_rows = rows,
        }
    }
    std::fs::remove_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    Ok(committed)
}

/// What is committed for a source: the resume point of HTTP/database pulls and the checksums
/// of ingested files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommittedState {
    /// The highest watermark any committed partition of the source records.
    pub watermark: Option<i64>,
    /// Files whose rows are committed, by checksum.
    pub files: std::collections::BTreeMap<String, FileRecord>,
    /// When the source last committed a partition (RFC 3339).
    pub last_commit: Option<String>,
}

impl Lake {
    /// Finalises the interrupted runs of `source` left in the staging area (their committed
    /// parts become partitions marked `recovered`; uncommitted parts are discarded). Call
    /// before starting a new run of the source.
    pub fn recover(&self, source: &str) -> Result<Vec<Committed>, Error> {
        let dir = self.staging_dir(source);
        let mut out = Vec::new();
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(Error::io(&dir, e)),
        };
        let mut runs: Vec<PathBuf> = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(&dir, e))?;
            if entry.path().is_dir() {
                runs.push(entry.path());
            }
        }
        runs.sort();
        for run in runs {
            if run.join(JOURNAL).exists() {
                let c = finalize_dir(self, &run, true)?;
                if !c.partitions.is_empty() {
                    out.push(c);
                }
            } else {
                std::fs::remove_dir_all(&run).map_err(|e| Error::io(&run, e))?;
            }
        }
        Ok(out)
    }

    /// The committed state of `source`, which delivers `department/dataset`, derived from the
    /// partition manifests (the authoritative record; `_state/` is only a cache).
    pub fn committed(
        &self,
        source: &str,
        department: &str,
        dataset: &str,
    ) -> Result<CommittedState, Error> {
        let mut state = CommittedState::default();
        for zone in [Zone::Raw, Zone::Quarantine] {
            for p in self.partitions(
                zone,
                department,
                dataset,
                &crate::PartitionFilter::default(),
            )? {
                let m = &p.manifest;
                if m.source != source {
                    continue;
                }
                if let Some(w) = m.watermark {
                    state.watermark = Some(state.watermark.map_or(w, |s: i64| s.max(w)));
                }
                for f in &m.files {
                    state.files.insert(f.sha256.clone(), f.clone());
                }
                if state.last_commit.as_deref() < Some(m.committed_at.as_str()) {
                    state.last_commit = Some(m.committed_at.clone());
                }
            }
        }
        Ok(state)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::PartitionFilter;
    use arrow::array::{ArrayRef, Int64Array, StringArray, new_null_array};
    use hedui_model::Catalog;
    use std::sync::Arc;

    /// A batch of `zone`'s schema with `_seq` `seqs` and record ids `r<seq>`.
    fn batch(staged: &StagedRun, zone: Zone, seqs: std::ops::Range<i64>) -> RecordBatch {
        let schema = staged.schema(zone);
        let n = (seqs.end - seqs.start) as usize;
        let columns: Vec<ArrayRef> = schema
            .fields()
            .iter()
            .map(|f| match f.name().as_str() {
                "_seq" => Arc::new(Int64Array::from_iter_values(seqs.clone())) as ArrayRef,
                "_source_record_id" | "_source" | "_ingest_run" | "_row_hash" | "_reason" => {
                    Arc::new(StringArray::from_iter_values(
                        seqs.clone().map(|s| format!("r{s}")),
                    ))
                }
                _ => new_null_array(f.data_type(), n),
            })
            .collect();
        RecordBatch::try_new(schema, columns).unwrap()
    }

    #[test]
    fn background_parts_are_committed_in_order_and_uncommitted_ones_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path());
        let catalog = Catalog::builtin().unwrap();
        let schema = catalog.dataset("gongan", "vehicles").unwrap();
        let mut staged = StagedRun::begin(&lake, "veh", schema, "run-1", "2021-06-30").unwrap();
        let first = batch(&staged, Zone::Raw, 0..100);
        staged.write_part_background(Zone::Raw, first).unwrap();
        // A second background part waits for the first; a quarantine part is written at once.
        let second = batch(&staged, Zone::Raw, 100..250);
        staged.write_part_background(Zone::Raw, second).unwrap();
        let bad = batch(&staged, Zone::Quarantine, 250..251);
        staged.write_part(Zone::Quarantine, &bad).unwrap();
        staged.checkpoint(Some(251), Vec::new()).unwrap();
        assert_eq!(staged.committed_rows(), (250, 1));
        // Written after the last checkpoint: never committed, so never published.
        let late = batch(&staged, Zone::Raw, 251..300);
        staged.write_part_background(Zone::Raw, late).unwrap();
        let committed = staged.finalize().unwrap();
        assert_eq!((committed.raw_rows, committed.quarantine_rows), (250, 1));
        let parts = lake
            .partitions(Zone::Raw, "gongan", "vehicles", &PartitionFilter::default())
            .unwrap();
        let files: Vec<(String, Option<i64>, Option<i64>)> = parts
            .iter()
            .flat_map(|p| p.manifest.parts.iter())
            .map(|p| (p.file.clone(), p.min_seq, p.max_seq))
            .collect();
        assert_eq!(
            files,
            vec![
                ("part-00000.parquet".to_owned(), Some(0), Some(99)),
                ("part-00001.parquet".to_owned(), Some(100), Some(249)),
            ]
        );
    }
}
