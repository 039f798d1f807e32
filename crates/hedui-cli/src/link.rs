//! `hedui link` and `hedui dedupe`: ad-hoc record linkage on files an analyst is handed.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use hedui_linkage::comparison::ComparisonKind;
use hedui_linkage::job::{JobOptions, JobOutput, Stage, run_observed};
use hedui_linkage::model::Model;
use hedui_linkage::record::RecordRef;
use hedui_linkage::train::TrainSettings;
use hedui_tabular::{
    ColumnType, Field, TableWriter, Value, parse_mapping, read_headers, read_table, recognise,
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

/// An input file's identity columns, read once and handed to the engine by reference: no
/// per-record copies of millions of strings.
struct FileRecords {
    table: hedui_tabular::Table,
    /// Index into `table.columns` of each field, in [`Field::ALL`] order.
    columns: [Option<usize>; 8],
    /// Row numbers as text, when the file has no record-id column.
    row_ids: Vec<String>,
    /// Rows that could not be read.
    bad_rows: usize,
}

impl hedui_linkage::record::RecordSource for FileRecords {
    fn len(&self) -> usize {
        self.table.num_rows()
    }

    fn get(&self, i: usize) -> RecordRef<'_> {
        let v = |k: usize| {
            self.columns[k]
                .and_then(|c| self.table.columns.get(c))
                .and_then(|c| c.get(i))
        };
        RecordRef {
            record_id: v(0)
                .or_else(|| self.row_ids.get(i).map(String::as_str))
                .unwrap_or(""),
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

/// Reads one input file.
fn load(path: &Path, common: &CommonArgs) -> Result<FileRecords> {
    let overrides: Vec<(Field, String)> = common
        .map
        .iter()
        .map(|m| parse_mapping(m).map_err(|e| InputProblem(e.to_string())))
        .collect::<Result<_, _>>()?;
    let (_, headers) = read_headers(path).map_err(|e| InputProblem(e.to_string()))?;
    let map = recognise(path, &headers, &overrides, common.id_column.as_deref())
        .map_err(|e| InputProblem(e.to_string()))?;
    let wanted = map.columns();
    let table = read_table(path, Some(&wanted)).map_err(|e| InputProblem(e.to_string()))?;
    if table.num_rows() == 0 {
        return Err(InputProblem(format!(
            "{}: the file has a header but no rows",
            path.display()
        ))
        .into());
    }
    for bad in table.bad_rows.iter().take(5) {
        tracing::warn!(file = %path.display(), line = bad.line, reason = %bad.reason, "row not read");
    }
    if table.bad_rows.len() > 5 {
        tracing::warn!(file = %path.display(), rows = table.bad_rows.len(), "rows not read in all");
    }
    let columns = Field::ALL.map(|f| {
        map.get(f)
            .and_then(|src| wanted.iter().position(|w| *w == src))
    });
    let row_ids = if columns[0].is_none() {
        (0..table.num_rows())
            .map(|i| {
                table
                    .row_numbers
                    .get(i)
                    .map_or(i as u64 + 1, |r| *r)
                    .to_string()
            })
            .collect()
    } else {
        Vec::new()
    };
    tracing::info!(target: "audit", action = "read_personal_data", purpose = "ad-hoc linkage", file = %path.display(), rows = table.num_rows(), "personal data read");
    let bad_rows = table.bad_rows.len();
    Ok(FileRecords {
        table,
        columns,
        row_ids,
        bad_rows,
    })
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
    let cols = pair_columns();
    let spec: Vec<(&str, ColumnType)> = cols.iter().map(|(n, t)| (n.as_str(), *t)).collect();
    let mut w = TableWriter::create(path, &spec).map_err(|e| InputProblem(e.to_string()))?;
    let right = out.right_records();
    for p in out.links() {
        let mut row = vec![
            Value::Text(&out.left.record_id[p.l as usize]),
            Value::Text(&right.record_id[p.r as usize]),
            Value::Float64(p.match_probability),
            Value::Float64(p.match_weight),
        ];
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
            "left_id": out.left.record_id[p.l as usize],
            "right_id": right.record_id[p.r as usize],
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
        left: &FileRecords,
        right: Option<&FileRecords>,
        opts: &JobOptions,
    ) -> JobOutput {
        run_observed(left, right, opts, &mut |s| self.mark(s))
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
    let opts = options(&a.common)?;
    let left = load(&a.left, &a.common)?;
    let bad_l = left.bad_rows;
    let dedupe = same_file(&a.left, &a.right);
    let right = if dedupe {
        None
    } else {
        Some(load(&a.right, &a.common)?)
    };
    if a.common.blocking_report {
        let mut strings = hedui_linkage::record::Interner::new();
        let l = hedui_linkage::record::prepare(&left, &mut strings, None);
        let r = right
            .as_ref()
            .map(|r| hedui_linkage::record::prepare(r, &mut strings, None))
            .unwrap_or_default();
        let blocking = opts
            .model
            .as_ref()
            .map(|m| m.blocking.clone())
            .unwrap_or_default();
        let (_, report) = blocking.candidates(&l, if dedupe { &l } else { &r }, dedupe);
        print_blocking(&report);
        return Ok(());
    }
    let load_secs = started.elapsed().as_secs_f64();
    let mut clock = StageClock::default();
    clock.seconds.push(("read".into(), load_secs));
    let out = clock.run(&left, right.as_ref(), &opts);
    drop(left);
    drop(right);
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
    )
}

/// Runs `hedui dedupe`.
pub fn dedupe(a: DedupeArgs) -> Result<()> {
    let started = Instant::now();
    let opts = options(&a.common)?;
    let records = load(&a.input, &a.common)?;
    let bad = records.bad_rows;
    if a.common.blocking_report {
        let mut strings = hedui_linkage::record::Interner::new();
        let l = hedui_linkage::record::prepare(&records, &mut strings, None);
        let (_, report) = opts
            .model
            .as_ref()
            .map(|m| m.blocking.clone())
            .unwrap_or_default()
            .candidates(&l, &l, true);
        print_blocking(&report);
        return Ok(());
    }
    let mut clock = StageClock::default();
    clock
        .seconds
        .push(("read".into(), started.elapsed().as_secs_f64()));
    let out = clock.run(&records, None, &opts);
    drop(records);
    let clusters = out.clusters.clone().unwrap_or_default();
    let mut w = TableWriter::create(
        &a.out,
        &[
            ("record_id", ColumnType::Text),
            ("cluster_id", ColumnType::Text),
        ],
    )
    .map_err(|e| InputProblem(e.to_string()))?;
    for (i, c) in clusters.iter().enumerate() {
        w.write_row(&[
            Value::Text(&out.left.record_id[i]),
            Value::Text(&out.left.record_id[*c as usize]),
        ])?;
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
    )
}
