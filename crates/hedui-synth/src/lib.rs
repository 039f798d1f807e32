//! # hedui-synth
//!
//! The synthetic city hedui is developed and tested on — never real personal data.
//!
//! [`generate`] builds a population of households in the real 随州 districts and towns
//! ([`city`]), puts its poorer households on the assistance roster and into the application
//! queue, plants economic and life events between two snapshot dates, and writes, for each
//! snapshot, every department's extract as that department delivers it ([`extracts`]):
//! 公安 as JSON lines, 卫健 as XLSX, 人社 as GB18030 CSV, 住建 as Parquet, 民政 as CSV with a
//! BOM — each with its own data-quality problems ([`corrupt`]). The ground truth (the true
//! person of every record, the planted events) goes to a separate `truth/` directory.
//!
//! Output is a pure function of the [`Config`]: the same seed gives byte-identical files
//! whatever the number of threads.
//!
//! ```no_run
//! let config = hedui_synth::Config { population: 5_000, ..Default::default() };
//! let report = hedui_synth::generate(&config, std::path::Path::new("out/city"))?;
//! println!("{} persons, {} households", report.persons, report.households);
//! # Ok::<(), hedui_synth::Error>(())
//! ```

pub mod city;
pub mod corrupt;
pub mod extracts;
pub mod names;
pub mod write;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use hedui_model::Catalog;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::city::City;
use crate::extracts::{Ctx, FileStat};
use crate::write::{Cell, open_sink};

/// What to generate.
#[derive(Debug, Clone)]
pub struct Config {
    /// Number of persons.
    pub population: usize,
    /// Seed of every random choice.
    pub seed: u64,
    /// The two snapshot (extract) dates.
    pub snapshots: [NaiveDate; 2],
    /// Multiplier of every data-quality damage rate (1.0 = the realistic defaults, 0 = clean).
    pub dirty: f64,
    /// Multiplier of the planted event rates in roster households.
    pub event_rate: f64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            population: 10_000,
            seed: 42,
            snapshots: [city::ymd(2021, 6, 30), city::ymd(2021, 9, 30)],
            dirty: 1.0,
            event_rate: 1.0,
        }
    }
}

/// Why generation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Writing a file failed.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The XLSX writer failed.
    #[error("XLSX writer: {0}")]
    Xlsx(String),
    /// The Parquet writer failed.
    #[error("Parquet writer: {0}")]
    Parquet(String),
    /// The configuration is unusable.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A bug in the generator.
    #[error("internal error (a bug in hedui-synth): {0}")]
    Internal(String),
}

impl Error {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Error {
        Error::Io {
            path: path.to_owned(),
            source,
        }
    }
}

/// A deterministic RNG for one stream (`tag`) and item (`index`) of a seed.
pub(crate) fn rng_for(seed: u64, tag: u64, index: u64) -> ChaCha8Rng {
    // splitmix64 of the three, so that neighbouring indices give unrelated streams.
    let mut z =
        seed ^ tag.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ChaCha8Rng::seed_from_u64(z ^ (z >> 31))
}

/// What [`generate`] produced.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Persons generated.
    pub persons: usize,
    /// Households.
    pub households: usize,
    /// Households on the roster.
    pub cases: usize,
    /// Households with an application.
    pub applications: usize,
    /// Twin pairs.
    pub twin_pairs: usize,
    /// Planted events between the snapshots, by kind (all households).
    pub events: BTreeMap<String, usize>,
    /// Planted events in roster households, by kind.
    pub roster_events: BTreeMap<String, usize>,
    /// Every file written (path relative to the output directory), with its row count.
    pub files: Vec<FileStat>,
    /// The configuration used.
    pub seed: u64,
    /// Snapshot dates.
    pub snapshots: [String; 2],
}

/// Generates the city and writes it under `out`:
/// `snapshot-1/<department>/<dataset>.<ext>`, `snapshot-2/…`, `truth/…` and `manifest.json`.
pub fn generate(config: &Config, out: &Path) -> Result<Report, Error> {
    if config.population == 0 {
        return Err(Error::Config("population must be at least 1".into()));
    }
    if config.snapshots[0] >= config.snapshots[1] {
        return Err(Error::Config(
            "the first snapshot must come before the second".into(),
        ));
    }
    if !(0.0..=50.0).contains(&config.dirty) || !(0.0..=20.0).contains(&config.event_rate) {
        return Err(Error::Config(
            "dirty must be in 0..=50 and event rate in 0..=20".into(),
        ));
    }
    let catalog = Catalog::builtin().map_err(|e| Error::Internal(e.to_string()))?;
    let city = City::generate(config);
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;

    let dq: HashSet<u32> = city
        .households
        .iter()
        .flat_map(|h| h.events.iter())
        .filter(|e| e.kind == city::EventKind::DataQualityOnly)
        .map(|e| e.pid)
        .collect();

    let truth_dir = out.join("truth");
    let schema = |ds: &str| {
        catalog
            .dataset("truth", ds)
            .ok_or_else(|| Error::Internal(format!("no truth schema {ds}")))
    };
    let mut record_truth = open_sink(&truth_dir, schema("record_persons")?)?;
    let mut files = Vec::new();
    for (i, t) in config.snapshots.iter().enumerate() {
        let label = format!("snapshot-{}", i + 1);
        let ctx = Ctx {
            city: &city,
            config,
            t: *t,
            snap: i,
            dq: &dq,
        };
        files.extend(extracts::write_snapshot(
            &ctx,
            &catalog,
            &out.join(&label),
            &label,
            record_truth.as_mut(),
        )?);
    }
    let truth_path = record_truth.finish()?;
    files.push(FileStat {
        dataset: "truth/record_persons".into(),
        snapshot: String::new(),
        path: truth_path,
        rows: 0,
    });
    let (persons_stat, events, roster_events) = write_truth(&city, &catalog, &truth_dir)?;
    files.extend(persons_stat);
    // Paths in the manifest are relative to the city's directory, so that the city can be
    // moved (and two generations compared byte for byte).
    for f in &mut files {
        if let Ok(rel) = f.path.strip_prefix(out) {
            f.path = rel.to_owned();
        }
    }

    let report = Report {
        persons: city.persons.len(),
        households: city.households.len(),
        cases: city.households.iter().filter(|h| h.case.is_some()).count(),
        applications: city
            .households
            .iter()
            .filter(|h| h.application.is_some())
            .count(),
        twin_pairs: city
            .persons
            .iter()
            .filter(|p| p.twin_of.is_some_and(|t| t > p.pid))
            .count(),
        events,
        roster_events,
        files,
        seed: config.seed,
        snapshots: config.snapshots.map(|d| d.to_string()),
    };
    let manifest = out.join("manifest.json");
    let text = serde_json::to_string_pretty(&report).map_err(|e| Error::Internal(e.to_string()))?;
    let tmp = out.join("manifest.json.tmp");
    std::fs::write(&tmp, text).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, &manifest).map_err(|e| Error::io(&manifest, e))?;
    Ok(report)
}

type EventCounts = BTreeMap<String, usize>;

fn write_truth(
    city: &City,
    catalog: &Catalog,
    dir: &Path,
) -> Result<(Vec<FileStat>, EventCounts, EventCounts), Error> {
    let schema = |ds: &str| {
        catalog
            .dataset("truth", ds)
            .ok_or_else(|| Error::Internal(format!("no truth schema {ds}")))
    };
    let mut persons = open_sink(dir, schema("persons")?)?;
    for p in &city.persons {
        let h = &city.households[p.hh as usize];
        let mut tags = Vec::new();
        if p.name.contains('·') {
            tags.push("minority_name");
        }
        if p.name
            .chars()
            .any(|c| names::RARE_CHARS.iter().any(|r| r.starts_with(c)))
        {
            tags.push("rare_char");
        }
        if p.id18.ends_with('X') {
            tags.push("id_x");
        }
        if p.death.is_some() {
            tags.push("dies");
        }
        if p.move_out.is_some() {
            tags.push("moves_out");
        }
        persons.write_row(&[
            Cell::text(format!("P{:09}", p.pid)),
            Cell::text(format!("H{:08}", p.hh)),
            Cell::text(p.id18.clone()),
            Cell::text(p.name.clone()),
            Cell::text(if p.male { "1" } else { "2" }),
            Cell::text(p.birth.format("%Y-%m-%d").to_string()),
            Cell::text(h.township.code),
            Cell::opt(p.twin_of.map(|t| format!("P{t:09}"))),
            Cell::opt(h.case.as_ref().map(|c| c.case_id.clone())),
            Cell::text(tags.join("|")),
        ])?;
    }
    let persons_path = persons.finish()?;

    let mut events = open_sink(dir, schema("events")?)?;
    let mut counts = EventCounts::new();
    let mut roster_counts = EventCounts::new();
    let mut n = 0u64;
    for h in &city.households {
        for e in &h.events {
            n += 1;
            *counts.entry(e.kind.name().to_owned()).or_default() += 1;
            if h.case.is_some() {
                *roster_counts.entry(e.kind.name().to_owned()).or_default() += 1;
            }
            let (dataset, record) = extracts::evidence(city, e.kind, e.pid, city.snapshots[1]);
            events.write_row(&[
                Cell::text(format!("E{n:08}")),
                Cell::text(e.kind.name()),
                Cell::text(format!("P{:09}", e.pid)),
                Cell::text(format!("H{:08}", h.hid)),
                Cell::opt(h.case.as_ref().map(|c| c.case_id.clone())),
                Cell::text(e.date.format("%Y-%m-%d").to_string()),
                Cell::text(dataset),
                Cell::text(record),
                Cell::text(if e.amount != 0.0 {
                    format!("{:.2}", e.amount)
                } else {
                    String::new()
                }),
                Cell::text(if h.application.is_some() {
                    "applicant household"
                } else {
                    ""
                }),
            ])?;
        }
    }
    let events_path = events.finish()?;
    let stats = vec![
        FileStat {
            dataset: "truth/persons".into(),
            snapshot: String::new(),
            path: persons_path,
            rows: city.persons.len() as u64,
        },
        FileStat {
            dataset: "truth/events".into(),
            snapshot: String::new(),
            path: events_path,
            rows: n,
        },
    ];
    Ok((stats, counts, roster_counts))
}
