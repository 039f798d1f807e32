//! End-to-end linkage bench: hedui against Splink 5 on DuckDB, on the same synthetic files.
//!
//! From a synthetic city (`hedui synth`), it builds a left file of department records (a seeded
//! sample of 人社, 住建, 卫健 and 民政 records) and a right file (the 公安 population register),
//! runs `hedui link` on them in a child process, and — with `--splink` — Splink on the same
//! records (standardised by hedui's own standardiser, since Splink has none for Chinese data).
//! It reports wall time, peak memory, pairs per second, precision, recall and F1 against the
//! generator's ground truth, recall by kind of corruption, links between twins or household
//! members, and the hedui/Splink ratios.
//!
//! Run-to-run noise on a small shared machine is large, so hedui from the raw files, hedui
//! reading its saved register and Splink are each run `--runs` times (3 by default),
//! interleaved so that all see the same conditions. Wall times and peak memories are the
//! medians of those runs (with their minimum and maximum; every run's figures are in the JSON
//! under `*_runs` keys), and every ratio is computed from the medians. Accuracy is the first
//! run's: hedui's links must be byte-identical in every run, or the bench fails.
//!
//! ```text
//! cargo run --release -p hedui-benches --bin bench-link -- \
//!     --city hedui-data/city-200k --left-size 20000 --splink
//! ```

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use hedui_linkage::record::{IdQuality, InputRecord, Interner, NO_DATE, date_of, prepare};
use hedui_tabular::{ColumnType, Field, TableWriter, Value, read_headers, read_table, recognise};
use rand::SeedableRng;
use rand::seq::SliceRandom;

#[derive(Debug, Parser)]
struct Args {
    /// A synthetic city written by `hedui synth`.
    #[arg(long)]
    city: PathBuf,
    /// Records in the left file.
    #[arg(long, default_value_t = 20_000)]
    left_size: usize,
    /// Records in the right file (default: the whole register).
    #[arg(long)]
    right_size: Option<usize>,
    /// Working directory for the prepared files and outputs.
    #[arg(long, default_value = "hedui-data/bench-link")]
    work: PathBuf,
    /// The hedui binary (default: next to this one).
    #[arg(long)]
    hedui: Option<PathBuf>,
    /// Also run Splink (needs `benches/splink/setup.sh` to have been run).
    #[arg(long)]
    splink: bool,
    /// Python of the Splink virtual environment (default: ~/.cache/hedui-splink-venv/bin/python).
    #[arg(long)]
    splink_python: Option<PathBuf>,
    /// Seed of the sample.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Times to run hedui from the raw files, hedui reading the saved register and (with
    /// `--splink`) Splink, interleaved so that all of them see the same machine conditions.
    /// Wall times, peak memories and every ratio are the medians of these runs.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
    /// Write the results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// Department datasets the left file samples from.
const LEFT_SOURCES: &[&str] = &[
    "renshe/contributions.csv",
    "renshe/pensions.csv",
    "zhujian/property.parquet",
    "zhujian/housing_fund.parquet",
    "weijian/deaths.xlsx",
    "weijian/hospital_stays.xlsx",
    "minzheng/members.csv",
];

struct Side {
    records: Vec<InputRecord>,
    truth: Vec<Option<String>>,
    tags: Vec<String>,
}

fn read_side(
    path: &Path,
    dataset: &str,
    truth: &HashMap<(String, String), (String, String)>,
) -> Result<Side> {
    let (_, headers) = read_headers(path)?;
    // The record id is the dataset's key column, as its schema names it.
    let catalog = hedui_model::Catalog::builtin()?;
    let (dept, ds) = dataset.split_once('/').unwrap_or((dataset, ""));
    let key = catalog
        .dataset(dept, ds)
        .and_then(|d| d.column(&d.key))
        .map(|c| c.source.clone());
    let map = recognise(path, &headers, &[], key.as_deref())?;
    let wanted = map.columns();
    let table = read_table(path, Some(&wanted))?;
    let col = |f: Field| {
        map.get(f)
            .and_then(|s| wanted.iter().position(|w| *w == s))
            .and_then(|i| table.columns.get(i))
    };
    let get = |f: Field, i: usize| col(f).and_then(|c| c.get(i)).map(str::to_owned);
    let mut side = Side {
        records: Vec::new(),
        truth: Vec::new(),
        tags: Vec::new(),
    };
    for i in 0..table.num_rows() {
        let rid = get(Field::RecordId, i).unwrap_or_default();
        let (person, tags) = truth
            .get(&(dataset.to_owned(), rid.clone()))
            .cloned()
            .unwrap_or_default();
        side.records.push(InputRecord {
            record_id: format!("{dataset}:{rid}"),
            name: get(Field::Name, i),
            former_name: get(Field::FormerName, i),
            id_number: get(Field::IdNumber, i),
            birth_date: get(Field::BirthDate, i),
            gender: get(Field::Gender, i),
            address: get(Field::Address, i),
            phone: get(Field::Phone, i),
        });
        side.truth.push((!person.is_empty()).then_some(person));
        side.tags.push(tags);
    }
    Ok(side)
}

fn read_register(path: &Path) -> Result<Side> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut side = Side {
        records: Vec::new(),
        truth: Vec::new(),
        tags: Vec::new(),
    };
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line)?;
        let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
        let rid = s("记录编号").unwrap_or_default();
        // The register's record ids are GA + the person number.
        let person = rid.strip_prefix("GA").map(|n| format!("P{n}"));
        side.records.push(InputRecord {
            record_id: format!("gongan/population:{rid}"),
            name: s("姓名"),
            former_name: s("曾用名"),
            id_number: s("公民身份号码"),
            birth_date: s("出生日期"),
            gender: s("性别"),
            address: s("户籍地址"),
            phone: s("联系电话"),
        });
        side.truth.push(person);
        side.tags.push(String::new());
    }
    Ok(side)
}

fn load_truth(city: &Path) -> Result<HashMap<(String, String), (String, String)>> {
    let path = city.join("truth/record_persons.parquet");
    let t = read_table(&path, None)?;
    let c = |n: &str| {
        t.column(n)
            .with_context(|| format!("{} lacks {n}", path.display()))
    };
    let (snap, ds, rid, pid, tags) = (
        c("snapshot")?,
        c("dataset")?,
        c("record_id")?,
        c("person_id")?,
        c("corruptions")?,
    );
    let role = c("role")?;
    let mut m = HashMap::new();
    for i in 0..t.num_rows() {
        if snap.get(i) != Some("snapshot-1")
            || matches!(role.get(i), Some("mother" | "father" | "signer"))
        {
            continue;
        }
        m.insert(
            (
                ds.get(i).unwrap_or("").to_owned(),
                rid.get(i).unwrap_or("").to_owned(),
            ),
            (
                pid.get(i).unwrap_or("").to_owned(),
                tags.get(i).unwrap_or("").to_owned(),
            ),
        );
    }
    Ok(m)
}

fn write_raw(path: &Path, side: &Side) -> Result<()> {
    let cols = [
        "unique_id",
        "name",
        "former_name",
        "id_number",
        "birth_date",
        "gender",
        "address",
        "phone",
        "true_person_id",
    ];
    let mut w = TableWriter::create_text(path, &cols)?;
    for (r, t) in side.records.iter().zip(&side.truth) {
        w.write_row(&[
            Value::Text(&r.record_id),
            r.name.as_deref().into(),
            r.former_name.as_deref().into(),
            r.id_number.as_deref().into(),
            r.birth_date.as_deref().into(),
            r.gender.as_deref().into(),
            r.address.as_deref().into(),
            r.phone.as_deref().into(),
            t.as_deref().into(),
        ])?;
    }
    w.finish()?;
    Ok(())
}

/// The same records standardised by hedui, in the columns the Splink script reads.
fn write_standardised(path: &Path, side: &Side, strings: &mut Interner) -> Result<()> {
    let recs = prepare(&side.records, strings, None);
    let cols: Vec<(&str, ColumnType)> = [
        "unique_id",
        "name",
        "name_pinyin",
        "id_number",
        "birth_date",
        "gender",
        "township",
        "address",
        "phone",
        "true_person_id",
    ]
    .iter()
    .map(|c| (*c, ColumnType::Text))
    .collect();
    let mut w = TableWriter::create(path, &cols)?;
    for i in 0..recs.len() {
        let opt = |id: u32| (id != 0).then(|| strings.get(id).to_owned());
        let id = (recs.id_quality[i] != IdQuality::Missing)
            .then(|| String::from_utf8_lossy(&recs.id18[i]).into_owned());
        let dob = (recs.dob[i] != NO_DATE)
            .then(|| date_of(recs.dob[i]).map(|d| d.to_string()))
            .flatten();
        let gender = (recs.gender[i] != 0).then(|| recs.gender[i].to_string());
        let township = (recs.township[i] != 0).then(|| recs.township[i].to_string());
        let phone = (recs.phone[i] != 0).then(|| recs.phone[i].to_string());
        let (name, py, addr) = (opt(recs.name[i]), opt(recs.pinyin[i]), opt(recs.address[i]));
        let record_id = recs.record_id.get(i);
        w.write_row(&[
            Value::Text(&record_id),
            name.as_deref().into(),
            py.as_deref().into(),
            id.as_deref().into(),
            dob.as_deref().into(),
            gender.as_deref().into(),
            township.as_deref().into(),
            addr.as_deref().into(),
            phone.as_deref().into(),
            side.truth[i].as_deref().into(),
        ])?;
    }
    w.finish()?;
    Ok(())
}

/// Runs a child process, timing it from its start to its exit and sampling its peak resident
/// memory (VmHWM) every 20 ms on another thread. The time is taken when the wait for the exit
/// returns, not at the next sample: a poll every 20 ms added up to 20 ms (2% of hedui's time at
/// 100k × 2M) to the faster program's time.
fn run_measured(cmd: &mut Command) -> Result<(Duration, f64)> {
    let started = Instant::now();
    let mut child = cmd.spawn().with_context(|| format!("starting {cmd:?}"))?;
    let status_path = format!("/proc/{}/status", child.id());
    let exited = std::sync::atomic::AtomicBool::new(false);
    let (status, elapsed, peak_kib) = std::thread::scope(|s| {
        let sampler = s.spawn(|| {
            let mut peak_kib = 0.0f64;
            while !exited.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(s) = std::fs::read_to_string(&status_path)
                    && let Some(line) = s.lines().find(|l| l.starts_with("VmHWM:"))
                    && let Some(v) = line
                        .split_whitespace()
                        .nth(1)
                        .and_then(|x| x.parse::<f64>().ok())
                {
                    peak_kib = peak_kib.max(v);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            peak_kib
        });
        let status = child.wait();
        let elapsed = started.elapsed();
        exited.store(true, std::sync::atomic::Ordering::Relaxed);
        (status, elapsed, sampler.join().unwrap_or(0.0))
    });
    let status = status.with_context(|| format!("waiting for {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed: {status}");
    }
    Ok((elapsed, peak_kib / 1024.0))
}

/// Median of a sample: its middle value, or the mean of the two middle values when it has an
/// even number of them (NaN when empty).
fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => v[n / 2],
        _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Smallest and largest value of a sample (NaN when empty).
fn min_max(xs: &[f64]) -> (f64, f64) {
    xs.iter()
        .fold((f64::NAN, f64::NAN), |(lo, hi), &x| (lo.min(x), hi.max(x)))
}

/// Wall times (seconds) and peak memories (MiB) of the repeated runs of one command, in run
/// order.
#[derive(Debug, Default)]
struct Runs {
    wall: Vec<f64>,
    peak: Vec<f64>,
}

impl Runs {
    fn push(&mut self, (wall, peak): (Duration, f64)) {
        self.wall.push(wall.as_secs_f64());
        self.peak.push(peak);
    }

    fn wall(&self) -> f64 {
        median(&self.wall)
    }

    fn peak(&self) -> f64 {
        median(&self.peak)
    }

    /// The spread around the medians, for the printed summary.
    fn spread(&self) -> String {
        let (wl, wh) = min_max(&self.wall);
        let (pl, ph) = min_max(&self.peak);
        format!(
            "medians of {} runs; wall min {wl:.1} s, max {wh:.1} s; peak min {pl:.0} MiB, max {ph:.0} MiB",
            self.wall.len()
        )
    }

    /// Adds `{prefix}wall_seconds_runs` (every run, in order), `{prefix}wall_seconds_min` and
    /// `{prefix}wall_seconds_max`, and the same for `peak_rss_mib`, to a JSON object.
    fn add_json(&self, obj: &mut serde_json::Value, prefix: &str) {
        for (name, xs) in [("wall_seconds", &self.wall), ("peak_rss_mib", &self.peak)] {
            let (lo, hi) = min_max(xs);
            obj[format!("{prefix}{name}_runs")] = serde_json::json!(xs);
            obj[format!("{prefix}{name}_min")] = serde_json::json!(lo);
            obj[format!("{prefix}{name}_max")] = serde_json::json!(hi);
        }
    }
}

/// Per-stage medians of the `stage_seconds` of several hedui reports.
fn median_stages(reports: &[serde_json::Value]) -> serde_json::Value {
    let mut by_stage: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for r in reports {
        for (stage, secs) in r["stage_seconds"].as_object().into_iter().flatten() {
            if let Some(x) = secs.as_f64() {
                by_stage.entry(stage.clone()).or_default().push(x);
            }
        }
    }
    serde_json::Value::Object(
        by_stage
            .into_iter()
            .map(|(stage, xs)| (stage, serde_json::json!(median(&xs))))
            .collect(),
    )
}

fn read_json(path: &Path) -> Result<serde_json::Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

#[derive(Debug, Default, serde::Serialize)]
struct Accuracy {
    true_pairs: u64,
    predicted: u64,
    tp: u64,
    fp: u64,
    precision: f64,
    recall: f64,
    f1: f64,
    twin_links: u64,
    household_links: u64,
    recall_by_corruption: BTreeMap<String, (u64, u64, f64)>,
}

fn score(
    links: &[(String, String)],
    left: &Side,
    right: &Side,
    persons: &HashMap<String, (String, Option<String>)>,
) -> Accuracy {
    let l_truth: HashMap<&str, usize> = left
        .records
        .iter()
        .enumerate()
        .map(|(i, r)| (r.record_id.as_str(), i))
        .collect();
    let r_truth: HashMap<&str, &Option<String>> = right
        .records
        .iter()
        .zip(&right.truth)
        .map(|(r, t)| (r.record_id.as_str(), t))
        .collect();
    let on_right: std::collections::HashSet<&str> =
        right.truth.iter().flatten().map(String::as_str).collect();
    let mut a = Accuracy::default();
    let mut found = vec![false; left.records.len()];
    for (l, r) in links {
        a.predicted += 1;
        let (Some(&li), Some(rt)) = (l_truth.get(l.as_str()), r_truth.get(r.as_str())) else {
            continue;
        };
        match (&left.truth[li], rt) {
            (Some(x), Some(y)) if x == y => {
                a.tp += 1;
                found[li] = true;
            }
            (Some(x), Some(y)) => {
                a.fp += 1;
                let (hx, tx) = persons.get(x).cloned().unwrap_or_default();
                let (hy, _) = persons.get(y).cloned().unwrap_or_default();
                if tx.as_deref() == Some(y.as_str()) {
                    a.twin_links += 1;
                } else if !hx.is_empty() && hx == hy {
                    a.household_links += 1;
                }
            }
            _ => a.fp += 1,
        }
    }
    for (i, t) in left.truth.iter().enumerate() {
        let Some(p) = t else { continue };
        if !on_right.contains(p.as_str()) {
            continue;
        }
        a.true_pairs += 1;
        let tags = if left.tags[i].is_empty() {
            "clean"
        } else {
            left.tags[i].as_str()
        };
        for tag in tags.split('|') {
            let e = a.recall_by_corruption.entry(tag.to_owned()).or_default();
            e.0 += 1;
            e.1 += u64::from(found[i]);
        }
    }
    for e in a.recall_by_corruption.values_mut() {
        e.2 = e.1 as f64 / e.0.max(1) as f64;
    }
    a.precision = a.tp as f64 / a.predicted.max(1) as f64;
    a.recall = a.tp as f64 / a.true_pairs.max(1) as f64;
    a.f1 = if a.precision + a.recall > 0.0 {
        2.0 * a.precision * a.recall / (a.precision + a.recall)
    } else {
        0.0
    };
    a
}

fn main() -> Result<()> {
    let args = Args::parse();
    std::fs::create_dir_all(&args.work)?;
    let snap = args.city.join("snapshot-1");
    let t0 = Instant::now();
    let truth = load_truth(&args.city)?;
    let mut left = Side {
        records: Vec::new(),
        truth: Vec::new(),
        tags: Vec::new(),
    };
    for src in LEFT_SOURCES {
        let dataset = src.rsplit_once('.').map_or(*src, |(d, _)| d);
        let s = read_side(&snap.join(src), dataset, &truth)?;
        left.records.extend(s.records);
        left.truth.extend(s.truth);
        left.tags.extend(s.tags);
    }
    drop(truth);
    let mut order: Vec<usize> = (0..left.records.len()).collect();
    order.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(args.seed));
    order.truncate(args.left_size);
    order.sort_unstable();
    let take = |s: &Side, idx: &[usize]| Side {
        records: idx.iter().map(|&i| s.records[i].clone()).collect(),
        truth: idx.iter().map(|&i| s.truth[i].clone()).collect(),
        tags: idx.iter().map(|&i| s.tags[i].clone()).collect(),
    };
    let left = take(&left, &order);
    let mut right = read_register(&snap.join("gongan/population.jsonl"))?;
    if let Some(n) = args.right_size {
        let idx: Vec<usize> = (0..right.records.len().min(n)).collect();
        right = take(&right, &idx);
    }
    let persons_table = read_table(args.city.join("truth/persons.parquet"), None)?;
    let mut persons: HashMap<String, (String, Option<String>)> = HashMap::new();
    if let (Some(p), Some(h), Some(t)) = (
        persons_table.column("person_id"),
        persons_table.column("household_id"),
        persons_table.column("twin_of"),
    ) {
        for i in 0..persons_table.num_rows() {
            persons.insert(
                p.get(i).unwrap_or("").to_owned(),
                (
                    h.get(i).unwrap_or("").to_owned(),
                    t.get(i).map(str::to_owned),
                ),
            );
        }
    }
    drop(persons_table);
    let (lp, rp) = (
        args.work.join("left.parquet"),
        args.work.join("right.parquet"),
    );
    write_raw(&lp, &left)?;
    write_raw(&rp, &right)?;
    println!(
        "prepared {} × {} records in {:.1} s",
        left.records.len(),
        right.records.len(),
        t0.elapsed().as_secs_f64()
    );

    // hedui
    let hedui = match &args.hedui {
        Some(p) => p.clone(),
        None => std::env::current_exe()?.with_file_name("hedui"),
    };
    let runs = args.runs as usize;
    let links_path = args.work.join("links.parquet");
    let report_path = args.work.join("hedui-report.json");
    let cached_report_path = args.work.join("hedui-report-cached.json");
    let link_cmd = |cache: Option<&Path>, out: &Path, report: &Path| {
        let mut c = Command::new(&hedui);
        c.args(["link", "--left"])
            .arg(&lp)
            .arg("--right")
            .arg(&rp)
            .arg("--out")
            .arg(out)
            .arg("--report")
            .arg(report)
            .stdout(std::process::Stdio::null());
        if let Some(dir) = cache {
            c.arg("--prepared-cache").arg(dir);
        }
        c
    };
    // Later runs against the same register: the first with a prepared-records cache
    // standardises the register and saves it (run once), the next ones read it back. Both must
    // give exactly the links of the plain run.
    let cache_dir = args.work.join("prepared-cache");
    if cache_dir.exists() {
        std::fs::remove_dir_all(&cache_dir)?;
    }
    let cached_links = args.work.join("links-cached.parquet");
    let (first_wall, first_peak) = run_measured(&mut link_cmd(
        Some(&cache_dir),
        &cached_links,
        &cached_report_path,
    ))?;

    // Splink's input, written before the timed runs so that they can be interleaved.
    let splink_inputs = if args.splink {
        let mut strings = Interner::new();
        let (ls, rs) = (
            args.work.join("left_splink.parquet"),
            args.work.join("right_splink.parquet"),
        );
        write_standardised(&ls, &left, &mut strings)?;
        write_standardised(&rs, &right, &mut strings)?;
        Some((ls, rs))
    } else {
        None
    };
    let python = args.splink_python.clone().unwrap_or_else(|| {
        PathBuf::from(std::env::var("HOME").unwrap_or_default())
            .join(".cache/hedui-splink-venv/bin/python")
    });
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("splink/run_splink.py");
    let out_json = args.work.join("splink.json");
    let splink_cmd = |ls: &Path, rs: &Path, threshold: f64| {
        let mut c = Command::new(&python);
        c.arg(&script)
            .arg("--left")
            .arg(ls)
            .arg("--right")
            .arg(rs)
            .arg("--out-json")
            .arg(&out_json)
            .arg("--threshold")
            .arg(threshold.to_string())
            // The same u sample size as hedui (TrainSettings::default), for a fair comparison.
            .args(["--u-max-pairs", "1000000"])
            .stdout(std::process::Stdio::null());
        c
    };

    // The timed runs, interleaved (hedui, hedui reading the saved register, Splink; then
    // Splink first in even rounds) so that a noisy machine slows all of them alike; the
    // figures reported are the medians.
    println!(
        "timing {runs} interleaved runs each of hedui from the raw files, hedui reading the saved register{}; figures below are medians of {runs} runs",
        if splink_inputs.is_some() {
            " and Splink"
        } else {
            ""
        }
    );
    let (mut raw, mut warm, mut spl) = (Runs::default(), Runs::default(), Runs::default());
    let (mut raw_reports, mut warm_reports): (Vec<serde_json::Value>, Vec<serde_json::Value>) =
        (Vec::new(), Vec::new());
    // Splink's metrics of every run, and its wall time without its scoring step.
    let (mut splink_runs, mut splink_link): (Vec<serde_json::Value>, Vec<f64>) =
        (Vec::new(), Vec::new());
    let mut first_links: Option<Vec<u8>> = None;
    for k in 1..=runs {
        // Splink runs first in even rounds: a process started right after the other one meets
        // the memory that one just gave back (which a VM may have to fault in again), so
        // neither should always be second.
        let splink_first = k % 2 == 0;
        let mut run_splink = |threshold: f64| -> Result<String> {
            let Some((ls, rs)) = &splink_inputs else {
                return Ok(String::new());
            };
            spl.push(run_measured(&mut splink_cmd(ls, rs, threshold))?);
            let s = read_json(&out_json)?;
            // The script's own scoring against the truth is bench bookkeeping, not linkage
            // (hedui's is done outside its timed run): it is taken off Splink's time.
            let s_eval = s["timings_s"]["evaluate"].as_f64().unwrap_or(0.0);
            splink_link.push(spl.wall[k - 1] - s_eval);
            let note = format!(
                "; Splink {:.1} s {:.0} MiB ({:.1} s without its scoring step)",
                spl.wall[k - 1],
                spl.peak[k - 1],
                splink_link[k - 1]
            );
            if let Some(s1) = splink_runs.first() {
                let keys = ["predicted_pairs", "precision", "recall", "f1"];
                if keys.iter().any(|&key| s[key] != s1[key]) {
                    eprintln!(
                        "warning: Splink's run {k} predicted {} pairs (P {} R {} F1 {}), run 1 {} (P {} R {} F1 {}); the accuracy reported is run 1's",
                        s["predicted_pairs"],
                        s["precision"],
                        s["recall"],
                        s["f1"],
                        s1["predicted_pairs"],
                        s1["precision"],
                        s1["recall"],
                        s1["f1"]
                    );
                }
            }
            splink_runs.push(s);
            Ok(note)
        };
        // Splink runs at the threshold hedui chose in its first run (the same in every run,
        // checked below).
        let first_threshold = |reports: &[serde_json::Value]| {
            reports
                .first()
                .and_then(|r| r["threshold"].as_f64())
                .unwrap_or(0.5)
        };
        let mut splink_note = String::new();
        if splink_first {
            splink_note = run_splink(first_threshold(&raw_reports))?;
        }
        // hedui from the raw files. Its output is deterministic: every run's links must be
        // byte-identical to the first run's, which stay in links.parquet.
        let out = if k == 1 {
            links_path.clone()
        } else {
            args.work.join(format!("links-run{k}.parquet"))
        };
        raw.push(run_measured(&mut link_cmd(None, &out, &report_path))?);
        let rep = read_json(&report_path)?;
        let bytes = std::fs::read(&out).with_context(|| format!("reading {}", out.display()))?;
        match &first_links {
            None => first_links = Some(bytes),
            Some(first) => {
                if *first != bytes {
                    bail!(
                        "hedui's links differ between runs: run {k} wrote {} ({} bytes), run 1 wrote {} ({} bytes); the output must be deterministic",
                        out.display(),
                        bytes.len(),
                        links_path.display(),
                        first.len()
                    );
                }
                std::fs::remove_file(&out)
                    .with_context(|| format!("removing {}", out.display()))?;
            }
        }
        if let Some(r1) = raw_reports.first()
            && (rep["threshold"] != r1["threshold"] || rep["candidates"] != r1["candidates"])
        {
            bail!(
                "hedui's run {k} has threshold {} and {} candidate pairs, run 1 {} and {}; the output must be deterministic",
                rep["threshold"],
                rep["candidates"],
                r1["threshold"],
                r1["candidates"]
            );
        }
        raw_reports.push(rep);

        // hedui reading the register saved by the first cached run.
        warm.push(run_measured(&mut link_cmd(
            Some(&cache_dir),
            &cached_links,
            &cached_report_path,
        ))?);
        let cached = std::fs::read(&cached_links)
            .with_context(|| format!("reading {}", cached_links.display()))?;
        if first_links.as_ref() != Some(&cached) {
            bail!("the links read through the prepared-records cache differ from the plain run's");
        }
        warm_reports.push(read_json(&cached_report_path)?);

        if !splink_first {
            splink_note = run_splink(first_threshold(&raw_reports))?;
        }
        let line = format!(
            "  run {k}/{runs}: hedui {:.1} s {:.0} MiB; saved register read back {:.1} s {:.0} MiB{splink_note}{}",
            raw.wall[k - 1],
            raw.peak[k - 1],
            warm.wall[k - 1],
            warm.peak[k - 1],
            if splink_first && splink_inputs.is_some() {
                " (Splink ran first)"
            } else {
                ""
            }
        );
        println!("{line}");
    }

    // Medians over the runs; accuracy from the first run's links (the same in every run).
    let (wall, peak) = (raw.wall(), raw.peak());
    let (warm_wall, warm_peak) = (warm.wall(), warm.peak());
    let report = &raw_reports[0];
    let stage_seconds = median_stages(&raw_reports);
    let warm_stage_seconds = median_stages(&warm_reports);
    let candidates = report["candidates"].as_u64().unwrap_or(0);
    let links_table = read_table(&links_path, None)?;
    let (lc, rc) = (
        links_table.column("left_id"),
        links_table.column("right_id"),
    );
    let links: Vec<(String, String)> = match (lc, rc) {
        (Some(l), Some(r)) => (0..links_table.num_rows())
            .map(|i| {
                (
                    l.get(i).unwrap_or("").to_owned(),
                    r.get(i).unwrap_or("").to_owned(),
                )
            })
            .collect(),
        _ => bail!("links file lacks left_id/right_id"),
    };
    let acc = score(&links, &left, &right, &persons);
    let mut results = serde_json::json!({
        "left_records": left.records.len(),
        "right_records": right.records.len(),
        "threads": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "runs": runs,
        "hedui": {
            "wall_seconds": wall,
            "peak_rss_mib": peak,
            "candidate_pairs": candidates,
            "pairs_per_second": candidates as f64 / wall,
            "threshold": report["threshold"],
            "accuracy": acc,
            "stage_seconds": stage_seconds,
            "stage_seconds_runs": raw_reports.iter().map(|r| r["stage_seconds"].clone()).collect::<Vec<_>>(),
            "links_identical_across_runs": true,
        },
    });
    raw.add_json(&mut results["hedui"], "");
    println!(
        "hedui:  {:>8.1} s  {:>8.0} MiB  {:>12} candidate pairs  ({:.0} pairs/s)  P {:.4}  R {:.4}  F1 {:.4}  twin links {}  household links {}",
        wall,
        peak,
        candidates,
        candidates as f64 / wall,
        acc.precision,
        acc.recall,
        acc.f1,
        acc.twin_links,
        acc.household_links
    );
    println!(
        "        ({}; links byte-identical in every run)",
        raw.spread()
    );
    for (tag, (n, found, r)) in &acc.recall_by_corruption {
        println!("    recall {tag:<22} {found:>7}/{n:<7} {r:.4}");
    }
    let warm_stage = |k: &str| warm_stage_seconds[k].as_f64().unwrap_or(0.0);
    println!(
        "hedui, register standardised and saved (--prepared-cache, first run): {:.1} s {:.0} MiB; \
         saved register read back (later runs): {:.1} s {:.0} MiB (read {:.2} s, block {:.2} s, train {:.2} s, predict {:.2} s); same links \
         (read back: {})",
        first_wall.as_secs_f64(),
        first_peak,
        warm_wall,
        warm_peak,
        warm_stage("read_and_prepare"),
        warm_stage("block"),
        warm_stage("train"),
        warm_stage("predict"),
        warm.spread(),
    );
    results["hedui"]["prepared_cache"] = serde_json::json!({
        "first_run_wall_seconds": first_wall.as_secs_f64(),
        "first_run_peak_rss_mib": first_peak,
        "warm_wall_seconds": warm_wall,
        "warm_peak_rss_mib": warm_peak,
        "warm_stage_seconds": warm_stage_seconds,
        "warm_stage_seconds_runs": warm_reports.iter().map(|r| r["stage_seconds"].clone()).collect::<Vec<_>>(),
    });
    warm.add_json(&mut results["hedui"]["prepared_cache"], "warm_");

    if let Some(s) = splink_runs.first() {
        let (swall, speak) = (spl.wall(), spl.peak());
        let s_link = median(&splink_link);
        println!(
            "splink: {:>8.1} s  {:>8.0} MiB  P {}  R {}  F1 {}  ({:.1} s without its scoring step)",
            swall, speak, s["precision"], s["recall"], s["f1"], s_link
        );
        let (sl_lo, sl_hi) = min_max(&splink_link);
        println!(
            "        ({}; without its scoring step min {sl_lo:.1} s, max {sl_hi:.1} s)",
            spl.spread()
        );
        println!(
            "ratio:  from the raw files, hedui is {:.1}× faster than Splink (handed standardised input), uses {:.2}× its peak memory (medians of {runs} runs)",
            s_link / wall,
            peak / speak.max(1.0)
        );
        println!(
            "ratio:  with the register's standardised records saved, hedui is {:.1}× faster, uses {:.2}× its peak memory (medians of {runs} runs)",
            s_link / warm_wall,
            warm_peak / speak.max(1.0)
        );
        // Splink is handed records hedui standardised (pinyin, variant folding, township codes):
        // a pipeline that starts, as hedui does, from the raw files spends at least hedui's
        // own standardising time before Splink starts.
        let core = |k: &str| stage_seconds[k].as_f64().unwrap_or(0.0);
        let s_from_raw = s_link + core("read_and_prepare");
        println!(
            "ratio:  both from the raw files (Splink's time plus the {:.2} s hedui took to read and standardise them, which Splink's input needed), hedui is {:.1}× faster (medians of {runs} runs)",
            core("read_and_prepare"),
            s_from_raw / wall,
        );
        // The engines alone: hedui's blocking, training and prediction against Splink's,
        // without reading and standardising (which Splink, handed hedui-standardised input,
        // does not do). Each is the median over the runs of the run's sum.
        let stage = |r: &serde_json::Value, k: &str| r["stage_seconds"][k].as_f64().unwrap_or(0.0);
        let hedui_core = median(
            &raw_reports
                .iter()
                .map(|r| stage(r, "block") + stage(r, "train") + stage(r, "predict"))
                .collect::<Vec<_>>(),
        );
        let splink_core = median(
            &splink_runs
                .iter()
                .map(|s| {
                    s["timings_s"]["training"].as_f64().unwrap_or(0.0)
                        + s["timings_s"]["predict"].as_f64().unwrap_or(0.0)
                })
                .collect::<Vec<_>>(),
        );
        println!(
            "engine: hedui block+train+predict {hedui_core:.2} s, Splink training+predict {splink_core:.2} s ({:.1}×); hedui read and standardise {:.2} s (medians of {runs} runs)",
            splink_core / hedui_core.max(1e-9),
            core("read_and_prepare"),
        );
        results["engine_speedup"] = serde_json::json!(splink_core / hedui_core.max(1e-9));
        results["engine_seconds"] = serde_json::json!({
            "hedui_block_train_predict": hedui_core,
            "splink_training_predict": splink_core,
        });
        results["splink"] =
            serde_json::json!({"wall_seconds": swall, "peak_rss_mib": speak, "metrics": s});
        results["splink"]["wall_seconds_without_scoring"] = serde_json::json!(s_link);
        results["splink"]["wall_seconds_without_scoring_runs"] = serde_json::json!(splink_link);
        results["splink"]["wall_seconds_without_scoring_min"] = serde_json::json!(sl_lo);
        results["splink"]["wall_seconds_without_scoring_max"] = serde_json::json!(sl_hi);
        results["splink"]["timings_s_runs"] = serde_json::json!(
            splink_runs
                .iter()
                .map(|s| s["timings_s"].clone())
                .collect::<Vec<_>>()
        );
        spl.add_json(&mut results["splink"], "");
        results["speedup"] = serde_json::json!(s_link / wall);
        results["memory_ratio"] = serde_json::json!(peak / speak.max(1.0));
        results["speedup_prepared_cache"] = serde_json::json!(s_link / warm_wall);
        results["speedup_both_from_raw"] = serde_json::json!(s_from_raw / wall);
        results["memory_ratio_prepared_cache"] = serde_json::json!(warm_peak / speak.max(1.0));
    }
    if let Some(p) = &args.json {
        std::fs::write(p, serde_json::to_string_pretty(&results)?)
            .with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(())
}
