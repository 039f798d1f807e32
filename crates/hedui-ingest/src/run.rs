//! One ingest run over a pipeline's sources.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use hedui_lake::{FileRecord, Lake, RunManifest, SourceRun, SourceState, StagedRun};

use crate::db::{DbBatch, DbPuller};
use crate::filedrop::{self, Rejection};
use crate::http::{FetchedPage, HttpPuller, Page, PageBody};
use crate::sink::RowSink;
use crate::spec::{Pipeline, SourceKind, SourceSpec};
use crate::validate::DatasetPlan;
use crate::{CancelToken, Error};

/// What a run did.
#[derive(Debug, Clone)]
pub struct IngestReport {
    /// The run id (also the `run=` partition value).
    pub run_id: String,
    /// The manifest written to `<lake>/_runs/<run_id>.json`.
    pub manifest: RunManifest,
    /// The lake.
    pub lake_dir: PathBuf,
}

impl IngestReport {
    /// 0: every source clean; 1: finished with quarantined rows, rejected files, or a source
    /// that failed while others succeeded; 2: schema drift, or every source failed.
    pub fn exit_code(&self) -> u8 {
        let s = &self.manifest.sources;
        let failed = s.iter().filter(|r| r.status == "failed").count();
        let drift = s.iter().any(|r| {
            r.error
                .as_deref()
                .is_some_and(|e| e.starts_with("schema drift"))
        });
        if drift || (!s.is_empty() && failed == s.len()) {
            2
        } else if failed > 0 || s.iter().any(|r| r.status != "ok") {
            1
        } else {
            0
        }
    }
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A new run id: UTC time to the millisecond plus a random suffix (sorts by time).
pub fn new_run_id() -> String {
    use rand::distr::{Alphanumeric, SampleString};
    let suffix = Alphanumeric
        .sample_string(&mut rand::rng(), 4)
        .to_ascii_lowercase();
    format!(
        "{}-{suffix}",
        chrono::Utc::now().format("%Y%m%dT%H%M%S%3fZ")
    )
}

/// Runs `sources` (all when `None`) once, in pipeline order, and writes the run manifest.
/// Async: call it inside a tokio runtime (see [`ingest_blocking`] otherwise).
///
/// # Errors
///
/// [`Error::UnknownSource`] for a name not in the pipeline, lake failures writing the run
/// manifest. A source's own failure is not an error of the run: it is reported in its
/// [`SourceRun`] (`status = "failed"`), and the other sources still run.
pub async fn ingest(
    pipeline: &Pipeline,
    sources: Option<&[String]>,
    cancel: &CancelToken,
) -> Result<IngestReport, Error> {
    let selected: Vec<&SourceSpec> = match sources {
        None => pipeline.sources.iter().collect(),
        Some(names) => {
            let mut out = Vec::new();
            for n in names {
                let s = pipeline.source(n).ok_or_else(|| Error::UnknownSource {
                    name: n.clone(),
                    known: pipeline
                        .sources
                        .iter()
                        .map(|s| s.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                })?;
                out.push(s);
            }
            out
        }
    };
    let lake = Lake::open(pipeline.lake_dir());
    let run_id = new_run_id();
    let ingest_date = chrono::Utc::now()
        .with_timezone(&pipeline.timezone)
        .format("%Y-%m-%d")
        .to_string();
    let mut manifest = RunManifest {
        format_version: 1,
        run_id: run_id.clone(),
        pipeline: pipeline.name.clone(),
        pipeline_file: pipeline.file.display().to_string(),
        ingest_date: ingest_date.clone(),
        started_at: now_rfc3339(),
        ..RunManifest::default()
    };
    tracing::info!(run = %run_id, sources = selected.len(), "ingest run starting");
    for src in selected {
        let started = Instant::now();
        let mut report = run_source(&lake, src, &run_id, &ingest_date, cancel).await;
        report.elapsed_ms = started.elapsed().as_millis() as u64;
        tracing::info!(
            source = %report.source,
            status = %report.status,
            read = report.rows_read,
            written = report.rows_written,
            quarantined = report.rows_quarantined,
            "source done"
        );
        if let Err(e) = save_state(&lake, &report) {
            tracing::warn!(source = %report.source, "could not save the state cache: {e}");
        }
        manifest.sources.push(report);
    }
    manifest.finished_at = now_rfc3339();
    lake.write_run_manifest(&manifest)?;
    Ok(IngestReport {
        run_id,
        manifest,
        lake_dir: lake.root().to_owned(),
    })
}

/// [`ingest`] on its own tokio runtime, for callers that are not async. Must not be called
/// from inside a tokio runtime.
pub fn ingest_blocking(
    pipeline: &Pipeline,
    sources: Option<&[String]>,
    cancel: &CancelToken,
) -> Result<IngestReport, Error> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Internal(format!("tokio runtime: {e}")))?;
    rt.block_on(ingest(pipeline, sources, cancel))
}

fn save_state(lake: &Lake, r: &SourceRun) -> Result<(), Error> {
    let mut state: SourceState = lake.source_state(&r.source)?;
    state.source = r.source.clone();
    let committed = lake.committed(&r.source, &r.department, &r.dataset)?;
    state.watermark = committed.watermark;
    state.files = committed
        .files
        .iter()
        .map(|(k, f)| (k.clone(), f.name.clone()))
        .collect();
    let now = now_rfc3339();
    state.last_run = Some(now.clone());
    if r.status != "failed" {
        state.last_success = Some(now);
    }
    lake.write_source_state(&state)?;
    Ok(())
}

/// A lock file `<lake>/_state/<source>.lock` holding the owner's pid; a lock whose process is
/// gone (killed) is taken over.
struct SourceLock(PathBuf);

impl SourceLock {
    fn acquire(lake: &Lake, source: &str) -> Result<SourceLock, Error> {
        let dir = lake.state_dir();
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let path = dir.join(format!("{source}.lock"));
        for _ in 0..2 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    use std::io::Write;
                    let _ = write!(f, "{}", std::process::id());
                    return Ok(SourceLock(path));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let pid = std::fs::read_to_string(&path).unwrap_or_default();
                    let pid = pid.trim();
                    let alive = !pid.is_empty()
                        && pid.parse::<u32>().is_ok_and(|p| p != std::process::id())
                        && PathBuf::from(format!("/proc/{pid}")).exists();
                    if alive {
                        return Err(Error::Busy(source.to_owned(), path));
                    }
                    tracing::warn!(
                        source,
                        "taking over a stale lock left by a process that is gone"
                    );
                    let _ = std::fs::remove_file(&path);
                }
                Err(e) => return Err(Error::io(&path, e)),
            }
        }
        Err(Error::Busy(source.to_owned(), path))
    }
}

impl Drop for SourceLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

async fn run_source(
    lake: &Lake,
    src: &SourceSpec,
    run_id: &str,
    ingest_date: &str,
    cancel: &CancelToken,
) -> SourceRun {
    let mut report = SourceRun {
        source: src.name.clone(),
        kind: src.kind.name().to_owned(),
        department: src.department.clone(),
        dataset: src.dataset.clone(),
        status: "ok".into(),
        ..SourceRun::default()
    };
    if let Err(e) = run_source_inner(lake, src, run_id, ingest_date, cancel, &mut report).await {
        tracing::error!(source = %src.name, "source failed: {e}");
        report.status = "failed".into();
        report.error = Some(e.to_string());
    } else if cancel.is_cancelled() {
        report.status = "cancelled".into();
    } else if report.rows_quarantined > 0 || report.files.iter().any(|f| f.status == "rejected") {
        report.status = "quarantined".into();
    }
    report
}

async fn run_source_inner(
    lake: &Lake,
    src: &SourceSpec,
    run_id: &str,
    ingest_date: &str,
    cancel: &CancelToken,
    report: &mut SourceRun,
) -> Result<(), Error> {
    let _lock = SourceLock::acquire(lake, &src.name)?;
    for c in lake.recover(&src.name)? {
        tracing::info!(source = %src.name, run = %c.run_id, rows = c.raw_rows + c.quarantine_rows, "recovered the committed pages of an interrupted run");
        report.recovered_runs.push(c.run_id);
    }
    let committed = lake.committed(&src.name, &src.department, &src.dataset)?;
    report.watermark_before = committed.watermark;
    let catalog = hedui_model::Catalog::builtin().map_err(|e| Error::Internal(e.to_string()))?;
    let plan = Arc::new(
        DatasetPlan::new(&catalog, &src.department, &src.dataset).ok_or_else(|| {
            Error::Internal(format!("no schema for {}/{}", src.department, src.dataset))
        })?,
    );
    let staged = StagedRun::begin(lake, &src.name, plan.schema(), run_id, ingest_date)?;
    let high = match src.kind {
        SourceKind::FileDrop(_) => None,
        _ => committed.watermark,
    };
    let sink = RowSink::new(
        plan,
        &src.name,
        staged,
        src.checkpoint_rows,
        src.checkpoint_secs,
        high,
    );
    let (sink, outcome) = match &src.kind {
        SourceKind::Http(spec) => {
            pull_http(sink, src, spec, committed.watermark, cancel, report).await
        }
        SourceKind::Database(spec) => {
            pull_db(sink, src, spec, committed.watermark, cancel, report).await
        }
        SourceKind::FileDrop(spec) => {
            let spec = spec.clone();
            let known = committed.files.clone();
            let name = src.name.clone();
            let label = format!("{}/{}", src.department, src.dataset);
            let handle =
                tokio::task::spawn_blocking(move || pull_files(sink, &spec, &known, &name, &label));
            match handle.await {
                Ok((sink, files, outcome)) => {
                    report.bytes_read = files.iter().map(|f| f.bytes).sum();
                    report.files = files;
                    (sink, outcome)
                }
                Err(e) => return Err(Error::Internal(format!("file drop worker: {e}"))),
            }
        }
    };
    report.rows_read = sink.counts.read;
    report.rows_written = sink.counts.written;
    report.rows_quarantined = sink.counts.quarantined;
    report.duplicates_dropped = sink.counts.duplicates;
    // Publish what is committed even when the source failed later: those rows are complete
    // pages, and the next run resumes after them.
    let committed_run = sink.finalize()?;
    report.rows_written = committed_run.raw_rows;
    report.rows_quarantined = committed_run.quarantine_rows;
    report.bytes_written = committed_run.bytes;
    report.partitions = committed_run.partitions;
    // Rows read but not committed (a failure or cancellation after the last commit) are
    // fetched again next time; count only what is committed, so the counts reconcile.
    report.rows_read = report.rows_written + report.rows_quarantined;
    report.watermark_after = lake
        .committed(&src.name, &src.department, &src.dataset)?
        .watermark;
    outcome
}

/// What the fetch side hands to the writer thread.
enum Delivery {
    Page(FetchedPage),
    Db(DbBatch),
}

async fn pull_http(
    sink: RowSink,
    src: &SourceSpec,
    spec: &crate::spec::HttpSpec,
    watermark: Option<i64>,
    cancel: &CancelToken,
    report: &mut SourceRun,
) -> (RowSink, Result<(), Error>) {
    let mut puller = match HttpPuller::new(&src.name, spec, &src.department, &src.dataset) {
        Ok(p) => p,
        Err(e) => return (sink, Err(e)),
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Delivery>(2);
    let label = format!("{}/{}", src.department, src.dataset);
    let name = src.name.clone();
    let writer = tokio::task::spawn_blocking(move || consume(sink, rx, &name, &label, watermark));
    let mut since = watermark.unwrap_or(0);
    let mut fetch_error = None;
    loop {
        match puller.fetch(since, cancel).await {
            Ok(Some(page)) => {
                let next = page.next_since;
                let more = page.has_more;
                if tx.send(Delivery::Page(page)).await.is_err() {
                    break; // the writer stopped (drift, protocol error): it reports why
                }
                since = next;
                if !more {
                    break;
                }
            }
            Ok(None) => break,
            Err(e) => {
                fetch_error = Some(e);
                break;
            }
        }
    }
    drop(tx);
    report.requests = puller.requests;
    report.retries = puller.retries;
    report.bytes_read = puller.bytes;
    match writer.await {
        Ok((sink, result)) => (sink, fetch_error.map_or(result.clone_err(), Err)),
        Err(e) => panic_to_error(e),
    }
}

async fn pull_db(
    sink: RowSink,
    src: &SourceSpec,
    spec: &crate::spec::DatabaseSpec,
    watermark: Option<i64>,
    cancel: &CancelToken,
    report: &mut SourceRun,
) -> (RowSink, Result<(), Error>) {
    let mut puller = match DbPuller::connect(&src.name, spec).await {
        Ok(p) => p,
        Err(e) => return (sink, Err(e)),
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Delivery>(2);
    let label = format!("{}/{}", src.department, src.dataset);
    let name = src.name.clone();
    let writer = tokio::task::spawn_blocking(move || consume(sink, rx, &name, &label, watermark));
    let mut since = watermark.unwrap_or(0);
    let mut fetch_error = None;
    loop {
        match puller.fetch(since, cancel).await {
            Ok(Some(batch)) => {
                let Some(last) = batch.rows.last().map(|r| r.0) else {
                    break;
                };
                if last <= since {
                    fetch_error = Some(Error::Database {
                        source_name: src.name.clone(),
                        message: format!(
                            "key {} does not increase (after {since} came {last})",
                            spec.key
                        ),
                    });
                    break;
                }
                if tx.send(Delivery::Db(batch)).await.is_err() {
                    break;
                }
                since = last;
            }
            Ok(None) => break,
            Err(e) => {
                fetch_error = Some(e);
                break;
            }
        }
    }
    drop(tx);
    report.requests = puller.requests;
    report.retries = puller.retries;
    match writer.await {
        Ok((sink, result)) => (sink, fetch_error.map_or(result.clone_err(), Err)),
        Err(e) => panic_to_error(e),
    }
}

trait CloneErr {
    fn clone_err(self) -> Result<(), Error>;
}

impl CloneErr for Result<(), Error> {
    fn clone_err(self) -> Result<(), Error> {
        self
    }
}

fn panic_to_error(e: tokio::task::JoinError) -> (RowSink, Result<(), Error>) {
    // The writer thread panicked: a bug. The sink is lost with it; nothing uncommitted is
    // published, and committed parts are recovered by the next run.
    std::panic::resume_unwind(e.into_panic())
}

/// The writer side: validates and writes pages as they arrive, committing at page
/// boundaries. Stops at the first page that breaks the protocol or drifts, committing the
/// pages before it.
fn consume(
    mut sink: RowSink,
    mut rx: tokio::sync::mpsc::Receiver<Delivery>,
    source: &str,
    dataset: &str,
    watermark: Option<i64>,
) -> (RowSink, Result<(), Error>) {
    let mut last_good = watermark;
    let mut result = Ok(());
    while let Some(d) = rx.blocking_recv() {
        let step = match &d {
            Delivery::Page(p) => match &p.body {
                PageBody::Json(body) => json_page(&mut sink, body, p.next_since, source, dataset),
                PageBody::Csv(text) => csv_page(&mut sink, text, p.next_since, source, dataset),
            },
            Delivery::Db(b) => db_batch(&mut sink, b, source, dataset),
        };
        let next = match &d {
            Delivery::Page(p) => p.next_since,
            Delivery::Db(b) => b.rows.last().map_or(last_good.unwrap_or(0), |r| r.0),
        };
        if let Err(e) = step {
            result = Err(e);
            break;
        }
        last_good = Some(next.max(last_good.unwrap_or(i64::MIN)));
        if let Err(e) = sink.end_page(last_good) {
            result = Err(e);
            break;
        }
    }
    drop(rx);
    if let Err(e) = sink.commit(last_good, Vec::new())
        && result.is_ok()
    {
        result = Err(e);
    }
    (sink, result)
}

fn protocol(source: &str, message: String) -> Error {
    Error::Protocol {
        source_name: source.to_owned(),
        message,
    }
}

fn json_page(
    sink: &mut RowSink,
    body: &[u8],
    next_since: i64,
    source: &str,
    dataset: &str,
) -> Result<(), Error> {
    // The body is validated as UTF-8 once, in one pass, so that the parser need not check
    // each string of it again.
    let text = std::str::from_utf8(body)
        .map_err(|e| protocol(source, format!("page is not UTF-8 JSON: {e}")))?;
    let page: Page<'_> = serde_json::from_str(text)
        .map_err(|e| protocol(source, format!("page is not the agreed JSON: {e}")))?;
    if page.code != 0 {
        return Err(protocol(
            source,
            format!(
                "page has code {}: {}",
                page.code,
                page.msg.as_deref().unwrap_or("")
            ),
        ));
    }
    let data = page
        .data
        .ok_or_else(|| protocol(source, "page without data".into()))?;
    if data.next_since != next_since {
        return Err(protocol(
            source,
            "page pagination changed between reads".into(),
        ));
    }
    let Some(first) = data.records.first() else {
        return Ok(());
    };
    if let Some(last) = data.records.last().and_then(|r| r.seq)
        && last != next_since
    {
        return Err(protocol(
            source,
            format!("page ends at _seq {last} but next_since is {next_since}"),
        ));
    }
    let plan_width = sink.plan().width();
    let headers: Vec<&str> = first.fields.iter().map(|(k, _)| k.0.as_ref()).collect();
    let order = sink
        .plan()
        .map_headers(&headers, &[])
        .map_err(|d| Error::Drift {
            source_name: source.to_owned(),
            dataset: dataset.to_owned(),
            detail: d.to_string(),
        })?;
    let mut values: Vec<Option<&str>> = vec![None; plan_width];
    for rec in &data.records {
        let Some(seq) = rec.seq else {
            return Err(protocol(source, "a record without _seq".into()));
        };
        if sink.is_duplicate(seq) {
            continue;
        }
        values.iter_mut().for_each(|v| *v = None);
        let mut seen = 0usize;
        let mut stray: Vec<&str> = Vec::new();
        for (k, (key, value)) in rec.fields.iter().enumerate() {
            let col = if headers.get(k) == Some(&key.0.as_ref()) {
                order[k]
            } else {
                sink.plan().column_of(&key.0)
            };
            match col {
                Some(c) => {
                    if values[c].is_none() {
                        seen += 1;
                    }
                    values[c] = value.as_ref().map(|t| t.0.as_ref());
                    if values[c].is_none() {
                        values[c] = Some("");
                    }
                }
                None => stray.push(key.0.as_ref()),
            }
        }
        // Restore nulls (the marker above only counted fields present).
        for v in values.iter_mut() {
            if *v == Some("") {
                *v = None;
            }
        }
        if seen != plan_width || !stray.is_empty() {
            let reason = format!(
                "wrong column count: record has {} of the {plan_width} schema fields{}",
                seen,
                if stray.is_empty() {
                    String::new()
                } else {
                    format!(" and unexpected field(s) {}", stray.join(", "))
                }
            );
            sink.push_quarantine(seq, &values, &reason);
        } else {
            sink.push(seq, &values);
        }
    }
    Ok(())
}

fn csv_page(
    sink: &mut RowSink,
    text: &str,
    next_since: i64,
    source: &str,
    dataset: &str,
) -> Result<(), Error> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| protocol(source, format!("CSV page header: {e}")))?
        .clone();
    if headers
        .get(0)
        .map(|h| h.trim_start_matches('\u{feff}').trim())
        != Some("_seq")
    {
        return Err(protocol(
            source,
            "CSV page does not start with a _seq column".into(),
        ));
    }
    let names: Vec<&str> = headers.iter().skip(1).collect();
    let order = sink
        .plan()
        .map_headers(&names, &[])
        .map_err(|d| Error::Drift {
            source_name: source.to_owned(),
            dataset: dataset.to_owned(),
            detail: d.to_string(),
        })?;
    let width = sink.plan().width();
    let mut records = Vec::new();
    for rec in reader.records() {
        let rec = rec.map_err(|e| protocol(source, format!("CSV page: {e}")))?;
        records.push(rec);
    }
    if let Some(last) = records
        .last()
        .and_then(|r| r.get(0))
        .and_then(|s| s.trim().parse::<i64>().ok())
        && last != next_since
    {
        return Err(protocol(
            source,
            format!("CSV page ends at _seq {last} but X-Next-Since is {next_since}"),
        ));
    }
    let mut values: Vec<Option<&str>> = vec![None; width];
    for rec in &records {
        let seq = rec
            .get(0)
            .and_then(|s| s.trim().parse::<i64>().ok())
            .ok_or_else(|| protocol(source, "a CSV record without a numeric _seq".into()))?;
        if sink.is_duplicate(seq) {
            continue;
        }
        values.iter_mut().for_each(|v| *v = None);
        for (j, field) in rec.iter().skip(1).enumerate() {
            if let Some(Some(c)) = order.get(j) {
                values[*c] = Some(field).filter(|s| !s.is_empty());
            }
        }
        if rec.len() != headers.len() {
            let reason = format!(
                "wrong column count: expected {} fields, found {}",
                headers.len(),
                rec.len()
            );
            sink.push_quarantine(seq, &values, &reason);
        } else {
            sink.push(seq, &values);
        }
    }
    Ok(())
}

fn db_batch(sink: &mut RowSink, b: &DbBatch, source: &str, dataset: &str) -> Result<(), Error> {
    if b.rows.is_empty() {
        return Ok(());
    }
    let key = b.columns.get(b.key_index).cloned().unwrap_or_default();
    let mut ignore: Vec<&str> = vec![key.as_str()];
    if sink.plan().column_of("updated_at").is_none() {
        ignore.push("updated_at");
    }
    let order = sink
        .plan()
        .map_headers(&b.columns, &ignore)
        .map_err(|d| Error::Drift {
            source_name: source.to_owned(),
            dataset: dataset.to_owned(),
            detail: d.to_string(),
        })?;
    let width = sink.plan().width();
    let mut values: Vec<Option<&str>> = vec![None; width];
    for (seq, row) in &b.rows {
        if sink.is_duplicate(*seq) {
            continue;
        }
        values.iter_mut().for_each(|v| *v = None);
        for (j, v) in row.iter().enumerate() {
            if let Some(Some(c)) = order.get(j) {
                values[*c] = v.as_deref().filter(|s| !s.is_empty());
            }
        }
        sink.push(*seq, &values);
    }
    Ok(())
}

fn pull_files(
    mut sink: RowSink,
    spec: &crate::spec::FileDropSpec,
    known: &std::collections::BTreeMap<String, FileRecord>,
    source: &str,
    dataset: &str,
) -> (RowSink, Vec<FileRecord>, Result<(), Error>) {
    let mut files = Vec::new();
    let pending = match filedrop::pending_files(spec) {
        Ok(p) => p,
        Err(e) => return (sink, files, Err(e)),
    };
    let mut drift: Option<Error> = None;
    for path in pending {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (sha, bytes) = match filedrop::checksum(&path) {
            Ok(x) => x,
            Err(e) => return (sink, files, Err(e)),
        };
        let mut record = FileRecord {
            name: name.clone(),
            sha256: sha.clone(),
            bytes,
            status: "ingested".into(),
            reason: None,
            rows_read: 0,
            rows_written: 0,
            rows_quarantined: 0,
        };
        if known.contains_key(&sha) {
            record.status = "skipped".into();
            record.reason = Some("already ingested (same checksum)".into());
            if let Err(e) = filedrop::archive(spec, &path, None) {
                return (sink, files, Err(e));
            }
            files.push(record);
            continue;
        }
        let before = sink.counts;
        match filedrop::ingest_file(&mut sink, &path, &mut record) {
            Ok(()) => {
                if let Err(e) = sink.commit(None, vec![record.clone()]) {
                    return (sink, files, Err(e));
                }
                if let Err(e) = filedrop::archive(spec, &path, None) {
                    return (sink, files, Err(e));
                }
            }
            Err(rejection) => {
                if let Err(e) = sink.discard_uncommitted(before) {
                    return (sink, files, Err(e));
                }
                let reason = match rejection {
                    Rejection::Lake(e) => return (sink, files, Err(e)),
                    Rejection::Unreadable(r) => r,
                    Rejection::Drift(d) => {
                        let msg = format!("schema drift in file {name}: {d}");
                        drift.get_or_insert(Error::Drift {
                            source_name: source.to_owned(),
                            dataset: dataset.to_owned(),
                            detail: format!("file {name}: {d}"),
                        });
                        msg
                    }
                };
                tracing::warn!(file = %name, "file rejected: {reason}");
                record.status = "rejected".into();
                record.reason = Some(reason.clone());
                if let Err(e) = filedrop::archive(spec, &path, Some(&reason)) {
                    return (sink, files, Err(e));
                }
            }
        }
        files.push(record);
    }
    let result = drift.map_or(Ok(()), Err);
    (sink, files, result)
}
