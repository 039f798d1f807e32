//! `hedui link` and `hedui dedupe`: ad-hoc record linkage on files an analyst is handed.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use hedui_linkage::comparison::ComparisonKind;
use hedui_linkage::job::{JobOptions, JobOutput, Stage, run_prepared};
use hedui_linkage::model::Model;
use hedui_linkage::prepared;
use hedui_linkage::record::{
    Interner, PrepareCache, RecordField, RecordRef, Records, prepare_cached,
};
use hedui_linkage::train::TrainSettings;
use hedui_tabular::{
    ColumnType, Field, ReadOptions, TableWriter, Value, parse_mapping, read_columns_chunked,
    read_headers, recognise,
};

use crate::summary::peak_rss_mib;

/// Options shared by `link` and `dedupe`.
#[derive(Debug, clap::Args)]
pub struct CommonArgs {
    /// Override column recognition: `--map name=姓名 --map id_number=证件号` (repeatable).
    /// Fields: record_id, name, former_name, id_number, birth_date, gender, address, phone.
    #[arg(long = "map", value_name = "FIELD=COLUMN")]
    pub map: Vec<String>,
    /// The record-id column (default: the first of rid, id, record_id, unique_id, 编号; else the
    /// row number).
    #[arg(long)]
    pub id_column: Option<String>,
    /// Use this trained model (JSON) instead of training on the inputs.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Write the trained model (JSON).
    #[arg(long)]
    pub save_model: Option<PathBuf>,
    /// Threshold on match probability (default: chosen automatically).
    #[arg(long)]
    pub threshold: Option<f64>,
    /// Print the blocking report (pairs per rule, largest blocks) and stop before comparing.
    #[arg(long)]
    pub blocking_report: bool,
    /// Write a JSON-lines file explaining each output link (the weight of every comparison).
    #[arg(long)]
    pub explanations: Option<PathBuf>,
    /// Write a JSON report of the run (counts, blocking, model, timings).
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Seed for the random sampling in training.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Rows read and standardised at a time: fewer hold less raw text in memory at once. The
    /// links do not depend on it.
    #[arg(long, default_value_t = 1 << 15, value_parser = clap::value_parser!(u64).range(1..))]
    pub chunk_rows: u64,
}

/// `hedui link`.
#[derive(Debug, clap::Args)]
pub struct LinkArgs {
    /// Left file (.csv UTF-8 or GB18030, .xlsx, .parquet).
    #[arg(long)]
    pub left: PathBuf,
    /// Right file. The same file as --left deduplicates it (each unordered pair once).
    #[arg(long)]
    pub right: PathBuf,
    /// Keep the standardised records of --right (the file linked against again and again, such
    /// as the population register) in this directory, and reuse them while the file, its
    /// column mapping and this hedui binary are unchanged. The saved records hold personal
    /// data: the directory is created readable by its owner only.
    #[arg(long, value_name = "DIR")]
    pub prepared_cache: Option<PathBuf>,
    /// Output links (.parquet, or .csv by extension).
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// `hedui dedupe`.
#[derive(Debug, clap::Args)]
pub struct DedupeArgs {
    /// Input file.
    #[arg(long)]
    pub input: PathBuf,
    /// Output clusters: record_id, cluster_id (.parquet or .csv).
    #[arg(long)]
    pub out: PathBuf,
    /// Also write the scored pairs above the threshold here.
    #[arg(long)]
    pub pairs: Option<PathBuf>,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// A user-facing input problem: reported with exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InputProblem(pub String);

/// One chunk of an input file, handed to the standardiser by reference.
struct ChunkRecords<'a> {
    table: &'a hedui_tabular::Table,
    /// Index into `table.columns` of each field, in [`Field::ALL`] order.
    columns: &'a [Option<usize>; 8],
    /// Row numbers as text, when the file has no record-id column.
    row_ids: Vec<String>,
}

impl ChunkRecords<'_> {
    /// Field `k` (in [`Field::ALL`] order) of row `i`.
    fn cell(&self, i: usize, k: usize) -> Option<&str> {
        self.columns[k]
            .and_then(|c| self.table.columns.get(c))
            .and_then(|c| c.get(i))
    }

    /// `value`, field `f` of row `i`; a record id missing from it is the row's number.
    fn or_row_id<'a>(
        &'a self,
        f: RecordField,
        i: usize,
        value: Option<&'a str>,
    ) -> Option<&'a str> {
        match f {
            RecordField::RecordId => value.or_else(|| self.row_ids.get(i).map(String::as_str)),
            _ => value,
        }
    }
}

/// The index of a record field in [`Field::ALL`] order.
fn slot(f: RecordField) -> usize {
    match f {
        RecordField::RecordId => 0,
        RecordField::Name => 1,
        RecordField::FormerName => 2,
        RecordField::IdNumber => 3,
        RecordField::BirthDate => 4,
        RecordField::Gender => 5,
        RecordField::Address => 6,
        RecordField::Phone => 7,
    }
}

impl hedui_linkage::record::RecordSource for ChunkRecords<'_> {
    fn len(&self) -> usize {
        self.table.num_rows()
    }

    fn field(&self, i: usize, f: RecordField) -> Option<&str> {
        let v = self.cell(i, slot(f));
        self.or_row_id(f, i, v)
    }

    fn each_field<'a>(
        &'a self,
        f: RecordField,
        rows: std::ops::Range<usize>,
        mut each: impl FnMut(usize, Option<&'a str>),
    ) {
        let (mut i, end) = (rows.start, rows.end);
        if let Some(column) = self.columns[slot(f)].and_then(|c| self.table.columns.get(c)) {
            column.for_each_in(rows, |v| {
                each(i, self.or_row_id(f, i, v));
                i += 1;
            });
        }
        // Rows past the column's end (none in a well-formed table), or all rows when the file
        // has no such column.
        (i..end).for_each(|i| each(i, self.or_row_id(f, i, None)));
    }

    fn get(&self, i: usize) -> RecordRef<'_> {
        let v = |k: usize| self.cell(i, k);
        RecordRef {
            record_id: self.or_row_id(RecordField::RecordId, i, v(0)).unwrap_or(""),
            name: v(1),
            former_name: v(2),
            id_number: v(3),
            birth_date: v(4),
            gender: v(5),
            address: v(6),
            phone: v(7),
        }
    }
}

/// One input file, standardised.
struct Loaded {
    records: Records,
    /// Rows that could not be read.
    bad_rows: usize,
}

/// An input file whose identity columns are being read, a chunk at a time, on a thread of
/// its own (so that one file's reading can start while another is still being standardised).
struct Opened {
    path: PathBuf,
    /// Index into a chunk's columns of each field, in [`Field::ALL`] order.
    columns: [Option<usize>; 8],
    /// The row count a Parquet footer states.
    rows: Option<u64>,
    chunks: std::sync::mpsc::Receiver<hedui_tabular::Table>,
    reader: std::thread::JoinHandle<Result<(), hedui_tabular::Error>>,
}

/// Recognises `path`'s identity columns and starts reading them. At most two chunks wait
/// unstandardised.
fn open(path: &Path, common: &CommonArgs) -> Result<Opened> {
    let overrides: Vec<(Field, String)> = common
        .map
        .iter()
        .map(|m| parse_mapping(m).map_err(|e| InputProblem(e.to_string())))
        .collect::<Result<_, _>>()?;
    let (_, headers) = read_headers(path).map_err(|e| InputProblem(e.to_string()))?;
    let map = recognise(path, &headers, &overrides, common.id_column.as_deref())
        .map_err(|e| InputProblem(e.to_string()))?;
    let wanted = map.columns();
    let columns = Field::ALL.map(|f| {
        map.get(f)
            .and_then(|src| wanted.iter().position(|w| *w == src))
    });
    let rows = hedui_tabular::row_count(path).ok().flatten();
    let (tx, chunks) = std::sync::mpsc::sync_channel::<hedui_tabular::Table>(1);
    let chunk_rows = usize::try_from(common.chunk_rows).unwrap_or(usize::MAX);
    let file = path.to_owned();
    let reader = std::thread::Builder::new()
        .name("reader".into())
        .spawn(move || {
            read_columns_chunked(
                &file,
                Some(&wanted),
                &ReadOptions::default(),
                chunk_rows,
                &mut |t| {
                    // A receiver gone means the job has failed: the rest is not needed.
                    let _ = tx.send(t);
                },
            )
        })
        .with_context(|| format!("starting to read {}", path.display()))?;
    Ok(Opened {
        path: path.to_owned(),
        columns,
        rows,
        chunks,
        reader,
    })
}

/// Reads one input file and standardises its records into `strings`.
fn load(
    path: &Path,
    common: &CommonArgs,
    strings: &mut Interner,
    cache: &mut PrepareCache,
) -> Result<Loaded> {
    standardise(open(path, common)?, strings, cache)
}

/// Standardises an opened file's records into `strings`, each chunk as soon as it is read
/// while the next one is being read: the raw text of a 2-million-row register is never in
/// memory all at once.
fn standardise(file: Opened, strings: &mut Interner, cache: &mut PrepareCache) -> Result<Loaded> {
    let Opened {
        path,
        columns,
        rows,
        chunks,
        reader,
    } = file;
    let mut records = Records::default();
    // A Parquet file states its row count: the columns and the strings' table are sized once
    // for the whole file.
    if let Some(rows) = rows {
        let rows = usize::try_from(rows).unwrap_or(0);
        records.reserve(rows);
        strings.reserve_for(rows);
    }
    let mut bad_rows = 0usize;
    for table in chunks {
        for bad in &table.bad_rows {
            if bad_rows < 5 {
                tracing::warn!(file = %path.display(), line = bad.line, reason = %bad.reason, "row not read");
            }
            bad_rows += 1;
        }
        let row_ids = if columns[0].is_none() {
            table.row_numbers.iter().map(u64::to_string).collect()
        } else {
            Vec::new()
        };
        let chunk = ChunkRecords {
            table: &table,
            columns: &columns,
            row_ids,
        };
        prepare_cached(&chunk, strings, None, cache, &mut records);
    }
    match reader.join() {
        Ok(r) => r.map_err(|e| InputProblem(e.to_string()))?,
        Err(panic) => std::panic::resume_unwind(panic),
    }
    if bad_rows > 5 {
        tracing::warn!(file = %path.display(), rows = bad_rows, "rows not read in all");
    }
    if records.is_empty() {
        return Err(InputProblem(format!(
            "{}: the file has a header but no rows",
            path.display()
        ))
        .into());
    }
    tracing::info!(target: "audit", action = "read_personal_data", purpose = "ad-hoc linkage", file = %path.display(), rows = records.len(), "personal data read");
    Ok(Loaded { records, bad_rows })
}

/// What saved standardised records must have been prepared from: the file (`file`, the
/// canonical form of `path`, with its size and modification time), its column mapping, and this
/// hedui binary (a rebuilt standardiser standardises differently).
fn prepared_key(path: &Path, file: &Path, common: &CommonArgs) -> Result<String> {
    let stamp = |p: &Path| -> Result<String> {
        let m = std::fs::metadata(p).with_context(|| format!("reading {}", p.display()))?;
        let mtime = m
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        Ok(format!("{}:{}", m.len(), mtime))
    };
    let exe = std::env::current_exe().context("locating the hedui binary")?;
    Ok(format!(
        "file={} stamp={} map={:?} id_column={:?} hedui={} binary={}",
        file.display(),
        stamp(path)?,
        common.map,
        common.id_column,
        env!("CARGO_PKG_VERSION"),
        stamp(&exe)?
    ))
}

/// Reads `path` through the prepared cache in `dir`: the saved standardised records when they
/// were prepared from this very file, else the file, standardised and saved for next time.
/// Either way the records come back rebased onto `strings`, exactly as [`load`] would have
/// standardised them into it.
fn load_through_cache(
    path: &Path,
    common: &CommonArgs,
    dir: &Path,
    strings: &mut Interner,
) -> Result<Records> {
    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
    let file = path.canonicalize().unwrap_or_else(|_| path.to_owned());
    let key = match prepared_key(path, &file, common) {
        Ok(k) => k,
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "prepared records cache not used");
            return Ok(load(path, common, strings, &mut PrepareCache::default())?.records);
        }
    };
    // One entry per input file and mapping; the full key inside it is checked on reading.
    let slot = BuildHasherDefault::<DefaultHasher>::default().hash_one((
        file.to_string_lossy(),
        &common.map,
        &common.id_column,
    ));
    let entry = dir.join(format!("{slot:016x}.prepared"));
    if let Ok(f) = std::fs::File::open(&entry) {
        let size = f.metadata().map_or(0, |m| m.len());
        match prepared::read_prepared(std::io::BufReader::with_capacity(1 << 20, f), &key, size) {
            Ok((mut records, own)) => {
                tracing::info!(target: "audit", action = "read_personal_data", purpose = "ad-hoc linkage", file = %entry.display(), source = %path.display(), rows = records.len(), "prepared records read");
                prepared::rebase(&mut records, &own, strings);
                return Ok(records);
            }
            Err(e) => {
                tracing::info!(file = %entry.display(), reason = %e, "prepared records not reused");
            }
        }
    }
    let mut own = Interner::new();
    let mut records = load(path, common, &mut own, &mut PrepareCache::default())?.records;
    match save_prepared(dir, &entry, &key, &records, &own) {
        Ok(()) => {
            tracing::info!(target: "audit", action = "write_personal_data", purpose = "ad-hoc linkage: prepared-records cache", file = %entry.display(), source = %path.display(), rows = records.len(), "prepared records saved");
        }
        // The cache only saves time: a full disk or a read-only directory is not this job's
        // failure.
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %format!("{e:#}"), "prepared records not saved")
        }
    }
    prepared::rebase(&mut records, &own, strings);
    Ok(records)
}

/// Writes one cache entry atomically (a temporary file renamed over it), owner-only.
fn save_prepared(
    dir: &Path,
    entry: &Path,
    key: &str,
    records: &Records,
    strings: &Interner,
) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    let tmp = entry.with_extension(format!("tmp{}", std::process::id()));
    let f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
    let written = prepared::write_prepared(&mut w, key, records, strings)
        .map_err(anyhow::Error::from)
        .and_then(|()| Ok(w.flush()?))
        .and_then(|()| {
            std::fs::rename(&tmp, entry)
                .with_context(|| format!("renaming {} to {}", tmp.display(), entry.display()))
        });
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

fn options(common: &CommonArgs) -> Result<JobOptions> {
    let model = match &common.model {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("reading the model {}", p.display()))?;
            Some(
                Model::from_json(&text)
                    .map_err(|e| InputProblem(format!("{}: {e}", p.display())))?,
            )
        }
        None => None,
    };
    if let Some(t) = common.threshold
        && !(0.0..=1.0).contains(&t)
    {
        bail!(InputProblem("--threshold must be between 0 and 1".into()));
    }
    Ok(JobOptions {
        model,
        threshold: common.threshold,
        train: TrainSettings {
            seed: common.seed,
            ..Default::default()
        },
        reference: None,
        keep_floor: None,
    })
}

fn pair_columns() -> Vec<(String, ColumnType)> {
    let mut cols = vec![
        ("left_id".to_owned(), ColumnType::Text),
        ("right_id".to_owned(), ColumnType::Text),
        ("match_probability".to_owned(), ColumnType::Float64),
        ("match_weight".to_owned(), ColumnType::Float64),
    ];
    for k in ComparisonKind::ALL {
        cols.push((format!("gamma_{}", k.name()), ColumnType::Int64));
    }
    cols
}

fn write_pairs(path: &Path, out: &JobOutput) -> Result<u64> {
    use rayon::prelude::*;
    let cols = pair_columns();
    let spec: Vec<(&str, ColumnType)> = cols.iter().map(|(n, t)| (n.as_str(), *t)).collect();
    let mut w = TableWriter::create(path, &spec).map_err(|e| InputProblem(e.to_string()))?;
    let right = out.right_records();
    let links: Vec<_> = out.links().collect();
    // The ids rebuilt side by side: a front-coded id takes up to a block of entries to rebuild,
    // and the right-hand ids' blocks lie anywhere in the register's, so a run's are touched
    // first.
    let ids: Vec<(String, String)> = links
        .par_chunks(16)
        .flat_map_iter(|run| {
            right.record_id.touch(run.iter().map(|p| p.r as usize));
            run.iter().map(|p| {
                (
                    out.left.record_id.get(p.l as usize),
                    right.record_id.get(p.r as usize),
                )
            })
        })
        .collect();
    let mut row = Vec::with_capacity(spec.len());
    for (p, (left_id, right_id)) in links.iter().zip(&ids) {
        row.clear();
        row.extend([
            Value::Text(left_id),
            Value::Text(right_id),
            Value::Float64(p.match_probability),
            Value::Float64(p.match_weight),
        ]);
        row.extend(p.gammas.iter().map(|g| Value::Int64(i64::from(*g))));
        w.write_row(&row)?;
    }
    Ok(w.finish()?)
}

fn write_explanations(path: &Path, out: &JobOutput) -> Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("jsonl.tmp");
    let mut f = std::io::BufWriter::new(
        std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?,
    );
    let right = out.right_records();
    let tf = hedui_linkage::predict::TermFrequencies::new(
        &if out.right.is_empty() {
            vec![&out.left]
        } else {
            vec![&out.left, &out.right]
        },
        &out.strings,
    );
    for p in out.links() {
        let e = out.model.explain(
            &p.gammas,
            tf.for_pair(&out.left, p.l as usize, right, p.r as usize, &p.gammas),
        );
        let line = serde_json::json!({
            "left_id": out.left.record_id.get(p.l as usize),
            "right_id": right.record_id.get(p.r as usize),
            "explanation": e,
        });
        writeln!(f, "{line}")?;
    }
    f.flush()?;
    drop(f);
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Times the stages of a job and logs each as it ends.
#[derive(Debug, Default)]
struct StageClock {
    current: Option<(Stage, Instant)>,
    seconds: Vec<(String, f64)>,
}

impl StageClock {
    fn mark(&mut self, stage: Stage) {
        let now = Instant::now();
        if let Some((s, t)) = self.current.take() {
            let secs = (now - t).as_secs_f64();
            tracing::info!(stage = ?s, seconds = secs, peak_rss_mib = peak_rss_mib().unwrap_or(0.0), "stage finished");
            self.seconds.push((format!("{s:?}").to_lowercase(), secs));
        }
        if stage != Stage::Done {
            self.current = Some((stage, now));
        }
    }

    fn run(
        &mut self,
        left: Records,
        right: Option<Records>,
        strings: Interner,
        opts: &JobOptions,
    ) -> JobOutput {
        let dedupe = right.is_none();
        run_prepared(
            left,
            right.unwrap_or_default(),
            dedupe,
            strings,
            opts,
            &mut |s| self.mark(s),
        )
    }
}

fn finish(
    common: &CommonArgs,
    out: &JobOutput,
    started: Instant,
    clock: &StageClock,
    extra: serde_json::Value,
) -> Result<()> {
    if let Some(p) = &common.save_model {
        std::fs::write(p, out.model.to_json())
            .with_context(|| format!("writing the model {}", p.display()))?;
    }
    if let Some(p) = &common.explanations {
        write_explanations(p, out)?;
    }
    let links = out.links().count();
    let secs = started.elapsed().as_secs_f64();
    let report = serde_json::json!({
        "left_records": out.left.len(),
        "right_records": out.right_records().len(),
        "candidates": out.blocking.candidates,
        "blocking": out.blocking,
        "threshold": out.threshold,
        "links": links,
        "probability_two_random_records_match": out.model.probability_two_random_records_match,
        "training": out.model.training,
        "seconds": secs,
        "stage_seconds": clock.seconds.iter().cloned().collect::<std::collections::BTreeMap<String, f64>>(),
        "peak_rss_mib": peak_rss_mib(),
        "output": extra,
    });
    if let Some(p) = &common.report {
        std::fs::write(p, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {}", p.display()))?;
    }
    println!(
        "{} × {} records, {} candidate pairs, threshold {:.3}: {} links in {:.1} s (peak memory {:.0} MiB)",
        out.left.len(),
        out.right_records().len(),
        out.blocking.candidates,
        out.threshold,
        links,
        secs,
        peak_rss_mib().unwrap_or(f64::NAN)
    );
    Ok(())
}

fn print_blocking(out: &hedui_linkage::blocking::BlockingReport) {
    println!(
        "blocking report: {} × {} records, {} pairs without blocking",
        out.left_records, out.right_records, out.comparisons_without_blocking
    );
    for r in &out.rules {
        println!(
            "  {:<36} proposes {:>10}  adds {:>10}  largest blocks {:?}{}",
            r.rule,
            r.proposed,
            r.added,
            r.largest_blocks.iter().map(|b| b.0).collect::<Vec<_>>(),
            if r.skipped_blocks > 0 {
                format!(
                    "  SKIPPED {} blocks ({} pairs) over the cap",
                    r.skipped_blocks, r.skipped_pairs
                )
            } else {
                String::new()
            }
        );
    }
    println!("  candidate pairs: {}", out.candidates);
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// Runs `hedui link`.
pub fn link(a: LinkArgs) -> Result<()> {
    let started = Instant::now();
    crate::no_transparent_huge_pages();
    let opts = options(&a.common)?;
    let (mut strings, mut cache) = (Interner::new(), PrepareCache::default());
    let dedupe = same_file(&a.left, &a.right);
    let left_file = open(&a.left, &a.common)?;
    // The right-hand file starts being read while the left-hand one is standardised.
    let right_file = match (dedupe, &a.prepared_cache) {
        (false, None) => Some(open(&a.right, &a.common)?),
        _ => None,
    };
    let left = standardise(left_file, &mut strings, &mut cache)?;
    let bad_l = left.bad_rows;
    let right = match (right_file, &a.prepared_cache) {
        (Some(file), _) => Some(standardise(file, &mut strings, &mut cache)?.records),
        (None, Some(dir)) if !dedupe => {
            Some(load_through_cache(&a.right, &a.common, dir, &mut strings)?)
        }
        (None, _) => None,
    };
    drop(cache);
    if a.common.blocking_report {
        let blocking = opts
            .model
            .as_ref()
            .map(|m| m.blocking.clone())
            .unwrap_or_default();
        let l = &left.records;
        let (_, report) = blocking.candidates(l, right.as_ref().unwrap_or(l), dedupe);
        print_blocking(&report);
        return Ok(());
    }
    let mut clock = StageClock::default();
    clock
        .seconds
        .push(("read_and_prepare".into(), started.elapsed().as_secs_f64()));
    let out = clock.run(left.records, right, strings, &opts);
    let t = Instant::now();
    let written = write_pairs(&a.out, &out)?;
    clock
        .seconds
        .push(("write".into(), t.elapsed().as_secs_f64()));
    finish(
        &a.common,
        &out,
        started,
        &clock,
        serde_json::json!({"links_file": a.out, "rows": written, "rows_not_read_left": bad_l, "deduplicated": dedupe}),
    )?;
    leave(out);
    Ok(())
}

/// Runs `hedui dedupe`.
pub fn dedupe(a: DedupeArgs) -> Result<()> {
    let started = Instant::now();
    crate::no_transparent_huge_pages();
    let opts = options(&a.common)?;
    let mut strings = Interner::new();
    let loaded = load(
        &a.input,
        &a.common,
        &mut strings,
        &mut PrepareCache::default(),
    )?;
    let bad = loaded.bad_rows;
    if a.common.blocking_report {
        let l = &loaded.records;
        let (_, report) = opts
            .model
            .as_ref()
            .map(|m| m.blocking.clone())
            .unwrap_or_default()
            .candidates(l, l, true);
        print_blocking(&report);
        return Ok(());
    }
    let mut clock = StageClock::default();
    clock
        .seconds
        .push(("read_and_prepare".into(), started.elapsed().as_secs_f64()));
    let out = clock.run(loaded.records, None, strings, &opts);
    let clusters = out.clusters.clone().unwrap_or_default();
    let mut w = TableWriter::create(
        &a.out,
        &[
            ("record_id", ColumnType::Text),
            ("cluster_id", ColumnType::Text),
        ],
    )
    .map_err(|e| InputProblem(e.to_string()))?;
    let (mut id, mut cluster_id) = (String::new(), String::new());
    for (i, c) in clusters.iter().enumerate() {
        out.left.record_id.get_into(i, &mut id);
        out.left.record_id.get_into(*c as usize, &mut cluster_id);
        w.write_row(&[Value::Text(&id), Value::Text(&cluster_id)])?;
    }
    w.finish()?;
    if let Some(p) = &a.pairs {
        write_pairs(p, &out)?;
    }
    let n_clusters = {
        let mut c = clusters.clone();
        c.sort_unstable();
        c.dedup();
        c.len()
    };
    finish(
        &a.common,
        &out,
        started,
        &clock,
        serde_json::json!({"clusters_file": a.out, "clusters": n_clusters, "rows_not_read": bad}),
    )?;
    leave(out);
    Ok(())
}

/// Leaves a finished job's records, strings and pairs (hundreds of MiB for a register) for the
/// process's exit to release, as a whole, rather than freeing them block by block just before
/// it: the allocator, at exit, hands freed memory back to the system a range at a time, which
/// took 25 ms at the end of the 100k × 2M link (5 ms with the job left alone).
fn leave(out: JobOutput) {
    std::mem::forget(out);
}
