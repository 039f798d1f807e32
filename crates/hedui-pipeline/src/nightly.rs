//! The nightly run: ingest → link → verify → publish, resumable stage by stage.
//!
//! Every stage reads its inputs from disk (the lake, the person index, the files the previous
//! stage wrote into the run directory), so a run killed after any stage resumes with the next
//! one. Running the same night twice changes nothing: ingestion finds nothing new, linking
//! finds no new or changed record, verification compares with the previous run's snapshot and
//! raises no flag twice, and the store upserts by flag id.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::{NaiveDate, Utc};
use hedui_ingest::{CancelToken, Pipeline};
use hedui_lake::Lake;
use hedui_linkage::index::{Constraint, PersonIndex, ReviewCandidate};
use hedui_model::Catalog;
use hedui_model::flag::{CaseRecord, Flag, LinkReview, WeightContribution};
use hedui_store::{RunInfo, Store};
use hedui_verify::periodic::{PeriodicOptions, Snapshot, run_periodic};
use hedui_verify::rules::RuleSet;
use rayon::prelude::*;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::Error;
use crate::link::{LinkOptions, LinkOutcome, link_stage};
use crate::report::{DatasetQuality, ReportData, render};
use crate::run::{
    RunDirs, RunLock, RunState, Stage, StageCounters, new_run_id, peak_rss_mib, write_atomic,
    write_replace,
};
use crate::state::LinkState;
use crate::verify::check_input;

/// The pipeline file's sections for the stages after ingestion (`[linkage]`, `[verify]`,
/// `[publish]`); `[pipeline]` and `[[sources]]` belong to `hedui-ingest`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct StageSpec {
    /// `[linkage]`.
    pub linkage: LinkageSpec,
    /// `[verify]`.
    pub verify: VerifySpec,
    /// `[publish]`.
    pub publish: PublishSpec,
}

/// `[linkage]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LinkageSpec {
    /// Near misses this far below the threshold go to clerical review.
    pub review_band: f64,
    /// Records sampled to train the model on the first night.
    pub train_sample: usize,
    /// Seed of training.
    pub seed: u64,
}

impl Default for LinkageSpec {
    fn default() -> Self {
        LinkageSpec {
            review_band: 0.3,
            train_sample: 100_000,
            seed: 42,
        }
    }
}

/// `[verify]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VerifySpec {
    /// The rule set (relative to the pipeline file). Default: `rules.toml` beside it.
    pub rules: Option<PathBuf>,
    /// Run the entry checks (逢进必核) of pending applications too.
    pub entry_checks: Option<bool>,
}

/// `[publish]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PublishSpec {
    /// Environment variable holding the store URL (e.g. a PostgreSQL URL with its password).
    pub store_url_env: Option<String>,
    /// Store URL when no environment variable is named or set. Default:
    /// `sqlite://<data_dir>/store.db`.
    pub store: Option<String>,
}

/// A loaded pipeline: the ingestion part and the stage sections.
#[derive(Debug, Clone)]
pub struct NightlySpec {
    /// Sources, data dir, schedule.
    pub pipeline: Pipeline,
    /// The later stages.
    pub stages: StageSpec,
}

impl NightlySpec {
    /// Reads the pipeline file (with the `config` crate, like ingestion does).
    pub fn load(path: &Path) -> Result<NightlySpec, Error> {
        let pipeline = Pipeline::load(path).map_err(|e| Error::Config(e.to_string()))?;
        let cfg = config::Config::builder()
            .add_source(config::File::from(path).format(config::FileFormat::Toml))
            .build()
            .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
        let section = |name: &str| -> Result<Option<config::Value>, Error> {
            match cfg.get::<config::Value>(name) {
                Ok(v) => Ok(Some(v)),
                Err(config::ConfigError::NotFound(_)) => Ok(None),
                Err(e) => Err(Error::Config(format!("{}: [{name}]: {e}", path.display()))),
            }
        };
        fn parse<T: DeserializeOwned + Default>(
            v: Option<config::Value>,
            path: &Path,
            name: &str,
        ) -> Result<T, Error> {
            match v {
                None => Ok(T::default()),
                Some(v) => v
                    .try_deserialize()
                    .map_err(|e| Error::Config(format!("{}: [{name}]: {e}", path.display()))),
            }
        }
        let stages = StageSpec {
            linkage: parse(section("linkage")?, path, "linkage")?,
            verify: parse(section("verify")?, path, "verify")?,
            publish: parse(section("publish")?, path, "publish")?,
        };
        Ok(NightlySpec { pipeline, stages })
    }

    fn base_dir(&self) -> PathBuf {
        self.pipeline
            .file
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."))
    }

    /// The rule-set file.
    pub fn rules_path(&self) -> PathBuf {
        let base = self.base_dir();
        match &self.stages.verify.rules {
            Some(p) if p.is_absolute() => p.clone(),
            Some(p) => base.join(p),
            None => base.join("rules.toml"),
        }
    }

    /// The store URL: the named environment variable, else the file's value, else SQLite in
    /// the data directory.
    pub fn store_url(&self) -> String {
        if let Some(var) = &self.stages.publish.store_url_env
            && let Ok(v) = std::env::var(var)
            && !v.is_empty()
        {
            return v;
        }
        self.stages.publish.store.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}",
                self.pipeline.data_dir.join("store.db").display()
            )
        })
    }
}

/// Options of one run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The as-of date of the checks (default: today).
    pub as_of: Option<NaiveDate>,
    /// Skip ingestion (the lake was filled by `hedui ingest` or another process).
    pub skip_ingest: bool,
}

/// What a stage tells the caller as it goes (for progress bars and logs).
#[derive(Debug, Clone)]
pub enum Progress {
    /// A run started or resumed.
    Started {
        /// Run id.
        run_id: String,
        /// Resumed after a crash.
        resumed: bool,
    },
    /// A stage started.
    StageStarted(Stage),
    /// A stage was already done (resuming).
    StageSkipped(Stage),
    /// A stage finished.
    StageFinished(Stage, StageCounters),
}

/// What a run produced.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// The final state.
    pub state: RunState,
    /// Run directory.
    pub dir: PathBuf,
    /// The report.
    pub report: PathBuf,
    /// Per-district XLSX files.
    pub exports: Vec<PathBuf>,
    /// The store URL (for `hedui serve`).
    pub store_url: String,
    /// Exit code: 0 nothing to attend to, 1 findings (new flags or quarantined rows).
    pub exit_code: u8,
}

fn read_jsonl<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>, Error> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(path, e)),
    };
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l).map_err(|e| Error::Corrupt {
                path: path.to_owned(),
                reason: e.to_string(),
            })
        })
        .collect()
}

fn write_jsonl<T: serde::Serialize>(path: &Path, items: &[T]) -> Result<(), Error> {
    let mut buf = Vec::new();
    for it in items {
        serde_json::to_writer(&mut buf, it).map_err(Error::internal)?;
        buf.push(b'\n');
    }
    write_atomic(path, &buf)
}

fn stage_err(stage: &'static str) -> impl Fn(String) -> Error {
    move |reason| Error::Stage { stage, reason }
}

fn review_of(run_id: &str, c: &ReviewCandidate) -> LinkReview {
    let mut keys = [c.record_key.as_str(), c.register_key.as_str()];
    keys.sort_unstable();
    LinkReview {
        review_id: hedui_model::flag::flag_id("", "LINK-REVIEW", &[keys[0].into(), keys[1].into()]),
        run_id: run_id.to_owned(),
        left_key: c.record_key.clone(),
        right_key: c.register_key.clone(),
        case_id: None,
        county_code: String::new(),
        probability: c.explanation.match_probability,
        match_weight: c.explanation.match_weight,
        explanation: c
            .explanation
            .contributions
            .iter()
            .map(|x| WeightContribution {
                comparison: x.comparison.clone(),
                level: x.level.clone(),
                weight: x.log2_bayes_factor + x.tf_adjustment,
            })
            .collect(),
        fields: c.fields.clone(),
    }
}

/// Runs (or resumes) one night.
pub async fn run_night(
    spec: &NightlySpec,
    options: &RunOptions,
    on_progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<RunOutcome, Error> {
    let data_dir = spec.pipeline.data_dir.clone();
    let dirs = RunDirs::new(&data_dir);
    let now = Utc::now();
    // The lock is taken under a provisional id; the holder text names the run once known.
    let _lock = RunLock::acquire(&data_dir, "starting")?;
    let (mut state, resumed) = match dirs.unfinished()? {
        Some(st) => (st, true),
        None => {
            let run_id = new_run_id(now, &dirs);
            let as_of = options
                .as_of
                .unwrap_or_else(|| now.with_timezone(&spec.pipeline.timezone).date_naive());
            let previous_run = dirs.last_finished()?.map(|r| r.run_id);
            let st = RunState {
                run_id,
                as_of,
                started_at: now,
                finished_at: None,
                completed: Vec::new(),
                previous_run,
            };
            dirs.save(&st)?;
            (st, false)
        }
    };
    let run_dir = dirs.dir(&state.run_id);
    tracing::info!(run_id = %state.run_id, as_of = %state.as_of, resumed, "nightly run");
    on_progress(Progress::Started {
        run_id: state.run_id.clone(),
        resumed,
    });
    let catalog = Catalog::builtin().map_err(|e| Error::Internal(e.to_string()))?;
    let lake = Lake::open(spec.pipeline.lake_dir());
    let store_url = spec.store_url();
    let store = Store::open(&store_url).await.map_err(|e| Error::Stage {
        stage: "publish",
        reason: format!("opening the store: {e}"),
    })?;
    store
        .record_run_start(&RunInfo {
            run_id: state.run_id.clone(),
            as_of: state.as_of,
        })
        .await
        .map_err(|e| stage_err("publish")(e.to_string()))?;

    // ---------------------------------------------------------------- ingest
    if state.done(Stage::Ingest) {
        on_progress(Progress::StageSkipped(Stage::Ingest));
    } else {
        on_progress(Progress::StageStarted(Stage::Ingest));
        let t = Instant::now();
        let mut c = StageCounters::default();
        if !options.skip_ingest {
            let report = hedui_ingest::ingest(&spec.pipeline, None, &CancelToken::new())
                .await
                .map_err(|e| stage_err("ingest")(e.to_string()))?;
            let m = &report.manifest;
            let mut quality: Vec<DatasetQuality> = Vec::new();
            let mut failed = Vec::new();
            for s in &m.sources {
                c.received += s.rows_read;
                c.written += s.rows_written;
                c.quarantined += s.rows_quarantined;
                if s.status == "failed" {
                    failed.push(format!(
                        "{}: {}",
                        s.source,
                        s.error.clone().unwrap_or_default()
                    ));
                }
                let reasons = if s.rows_quarantined > 0 {
                    quarantine_reasons(&lake, &s.department, &s.dataset, &report.run_id)?
                } else {
                    Vec::new()
                };
                quality.push(DatasetQuality {
                    dataset: format!("{}/{}", s.department, s.dataset),
                    read: s.rows_read,
                    written: s.rows_written,
                    quarantined: s.rows_quarantined,
                    top_reasons: reasons,
                });
            }
            if !failed.is_empty() {
                tracing::warn!(
                    failed = failed.len(),
                    "sources failed: {}",
                    failed.join("; ")
                );
            }
            c.details = serde_json::json!({
                "ingest_run": report.run_id,
                "quality": quality,
                "failed_sources": failed,
            });
        }
        c.seconds = t.elapsed().as_secs_f64();
        c.peak_rss_mib = peak_rss_mib();
        on_progress(Progress::StageFinished(Stage::Ingest, c.clone()));
        state.completed.push((Stage::Ingest, c));
        dirs.save(&state)?;
    }

    // ---------------------------------------------------------------- link
    let link_state = LinkState::new(&data_dir);
    // The person index as the link stage left it, handed on to verification (which loads the
    // saved one when the run resumes after linking).
    let mut linked_index: Option<PersonIndex> = None;
    if state.done(Stage::Link) {
        on_progress(Progress::StageSkipped(Stage::Link));
    } else {
        on_progress(Progress::StageStarted(Stage::Link));
        let t = Instant::now();
        let constraints: Vec<Constraint> = store
            .link_labels()
            .await
            .map_err(|e| stage_err("link")(e.to_string()))?
            .into_iter()
            .map(|l| Constraint {
                record_key: l.left_key,
                register_key: l.right_key,
                same_person: l.same_person,
            })
            .collect();
        let opts = LinkOptions {
            as_of: state.as_of,
            constraints,
            review_band: spec.stages.linkage.review_band,
            train_sample: spec.stages.linkage.train_sample,
            seed: spec.stages.linkage.seed,
        };
        let (lake2, ls, cat) = (lake.clone(), link_state.clone(), catalog.clone());
        let (outcome, index, reviews) =
            tokio::task::spawn_blocking(move || link_stage(&lake2, &ls, &cat, &opts))
                .await
                .map_err(|e| Error::Internal(e.to_string()))??;
        let reviews: Vec<LinkReview> = reviews
            .iter()
            .map(|r| review_of(&state.run_id, r))
            .collect();
        fs::create_dir_all(&run_dir).map_err(|e| Error::io(&run_dir, e))?;
        write_jsonl(&run_dir.join("reviews.jsonl"), &reviews)?;
        linked_index = Some(index);
        let c = StageCounters {
            seconds: t.elapsed().as_secs_f64(),
            peak_rss_mib: peak_rss_mib(),
            received: outcome.considered,
            written: outcome.linked,
            linked: outcome.linked,
            details: serde_json::to_value(&outcome).map_err(Error::internal)?,
            ..Default::default()
        };
        on_progress(Progress::StageFinished(Stage::Link, c.clone()));
        state.completed.push((Stage::Link, c));
        dirs.save(&state)?;
    }

    // ---------------------------------------------------------------- verify
    if state.done(Stage::Verify) {
        on_progress(Progress::StageSkipped(Stage::Verify));
    } else {
        on_progress(Progress::StageStarted(Stage::Verify));
        let t = Instant::now();
        let rules_path = spec.rules_path();
        let rules_text = fs::read_to_string(&rules_path).map_err(|e| Error::io(&rules_path, e))?;
        let rules = RuleSet::parse(&rules_text)
            .map_err(|e| Error::Config(format!("{}: {e}", rules_path.display())))?;
        let previous: Option<Snapshot> = match &state.previous_run {
            Some(prev) => {
                let p = dirs.dir(prev).join("snapshot.json");
                match fs::read_to_string(&p) {
                    Ok(t) => Some(Snapshot::from_json(&t).map_err(|e| Error::Corrupt {
                        path: p.clone(),
                        reason: e.to_string(),
                    })?),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                    Err(e) => return Err(Error::io(&p, e)),
                }
            }
            None => None,
        };
        let dismissed: BTreeSet<String> = store
            .dismissed_flag_ids()
            .await
            .map_err(|e| stage_err("verify")(e.to_string()))?;
        let (lake2, ls, cat) = (lake.clone(), link_state.clone(), catalog.clone());
        let run_id = state.run_id.clone();
        let as_of = state.as_of;
        let entry_checks = spec.stages.verify.entry_checks.unwrap_or(true);
        let dir2 = run_dir.clone();
        let previous_entry = state
            .previous_run
            .as_ref()
            .map(|p| dirs.dir(p).join("entry").join(ENTRY_INDEX));
        let summary = tokio::task::spawn_blocking(move || -> Result<serde_json::Value, Error> {
            let index = match linked_index {
                Some(i) => i,
                None => ls.load_index()?,
            };
            let step = Instant::now();
            let input = check_input(&lake2, &cat, &index, as_of)?;
            drop(index);
            tracing::info!(
                seconds = step.elapsed().as_secs_f64(),
                "verify: read the roster and the records of the persons on it"
            );
            let step = Instant::now();
            let mut opts = PeriodicOptions::new(&run_id, as_of);
            opts.previous = previous;
            opts.dismissed = dismissed;
            let out = run_periodic(&input, &rules, &opts);
            tracing::info!(
                seconds = step.elapsed().as_secs_f64(),
                "verify: facts, indicators, rules and changes"
            );
            let step = Instant::now();
            fs::create_dir_all(&dir2).map_err(|e| Error::io(&dir2, e))?;
            write_jsonl(&dir2.join("flags.jsonl"), &out.flags)?;
            write_jsonl(&dir2.join("cases.jsonl"), &out.cases)?;
            write_jsonl(&dir2.join("due.jsonl"), &out.due)?;
            write_atomic(
                &dir2.join("snapshot.json"),
                out.snapshot.to_json().as_bytes(),
            )?;
            let (mut entry_count, mut entry_rendered) = (0u64, 0u64);
            if entry_checks {
                let reports = hedui_verify::entry::run_entry(&input, &rules, as_of);
                let edir = dir2.join("entry");
                fs::create_dir_all(&edir).map_err(|e| Error::io(&edir, e))?;
                // A report whose content (its number and dates aside) is what an earlier run
                // reported stays where it is; the index says which run holds each.
                let before: BTreeMap<String, EntryIndexItem> = match &previous_entry {
                    Some(p) if p.is_file() => serde_json::from_slice(
                        &fs::read(p).map_err(|e| Error::io(p, e))?,
                    )
                    .map_err(|e| Error::Corrupt {
                        path: p.clone(),
                        reason: e.to_string(),
                    })?,
                    _ => BTreeMap::new(),
                };
                let mut entry_index: BTreeMap<String, EntryIndexItem> = BTreeMap::new();
                let mut fresh = Vec::new();
                for r in &reports {
                    let fingerprint = entry_fingerprint(r)?;
                    let item = match before.get(&r.application_id) {
                        Some(b) if b.fingerprint == fingerprint => b.clone(),
                        _ => {
                            fresh.push(r);
                            EntryIndexItem {
                                fingerprint,
                                run_id: run_id.clone(),
                            }
                        }
                    };
                    entry_index.insert(r.application_id.clone(), item);
                }
                // Thousands of applications in a city: rendered in parallel, and written
                // without one fsync each (a rerun of the stage writes them again).
                fresh.par_iter().try_for_each(|r| -> Result<(), Error> {
                    let base = edir.join(&r.application_id);
                    let json = serde_json::to_vec_pretty(r).map_err(Error::internal)?;
                    write_replace(&base.with_extension("json"), &json)?;
                    write_replace(
                        &base.with_extension("html"),
                        hedui_verify::report::render_html(r).as_bytes(),
                    )?;
                    let x = hedui_verify::report::render_xlsx(r)
                        .map_err(|e| stage_err("verify")(e.to_string()))?;
                    write_replace(&base.with_extension("xlsx"), &x)?;
                    Ok(())
                })?;
                write_atomic(
                    &edir.join(ENTRY_INDEX),
                    &serde_json::to_vec(&entry_index).map_err(Error::internal)?,
                )?;
                entry_count = reports.len() as u64;
                entry_rendered = fresh.len() as u64;
            }
            tracing::info!(
                seconds = step.elapsed().as_secs_f64(),
                "verify: flags, cases, snapshot and entry reports written"
            );
            let mut v = serde_json::to_value(&out.summary).map_err(Error::internal)?;
            v["entry_reports"] = entry_count.into();
            v["entry_reports_rendered"] = entry_rendered.into();
            v["due"] = (out.due.len() as u64).into();
            v["flags_new"] = (out.flags.len() as u64).into();
            Ok(v)
        })
        .await
        .map_err(|e| Error::Internal(e.to_string()))??;
        write_atomic(
            &run_dir.join("verify-summary.json"),
            &serde_json::to_vec_pretty(&summary).map_err(Error::internal)?,
        )?;
        let c = StageCounters {
            seconds: t.elapsed().as_secs_f64(),
            peak_rss_mib: peak_rss_mib(),
            received: summary["cases_read"].as_u64().unwrap_or(0),
            written: summary["cases_checked"].as_u64().unwrap_or(0),
            flagged: summary["flags_new"].as_u64().unwrap_or(0),
            details: summary,
            ..Default::default()
        };
        on_progress(Progress::StageFinished(Stage::Verify, c.clone()));
        state.completed.push((Stage::Verify, c));
        dirs.save(&state)?;
    }

    // ---------------------------------------------------------------- publish
    let report_path = run_dir.join("report.html");
    let export_dir = data_dir.join("exports").join(&state.run_id);
    let mut exports = Vec::new();
    if state.done(Stage::Publish) {
        on_progress(Progress::StageSkipped(Stage::Publish));
        if let Ok(rd) = fs::read_dir(&export_dir) {
            exports = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
            exports.sort();
        }
    } else {
        on_progress(Progress::StageStarted(Stage::Publish));
        let t = Instant::now();
        let flags: Vec<Flag> = read_jsonl(&run_dir.join("flags.jsonl"))?;
        let cases: Vec<CaseRecord> = read_jsonl(&run_dir.join("cases.jsonl"))?;
        let reviews: Vec<LinkReview> = read_jsonl(&run_dir.join("reviews.jsonl"))?;
        let published = store
            .publish_run(
                &RunInfo {
                    run_id: state.run_id.clone(),
                    as_of: state.as_of,
                },
                &cases,
                &flags,
                &reviews,
            )
            .await
            .map_err(|e| stage_err("publish")(e.to_string()))?;
        exports = crate::export::district_workbooks(&flags, &export_dir)?;
        let mut c = StageCounters {
            seconds: 0.0,
            received: flags.len() as u64,
            written: published.new_flags as u64,
            flagged: published.new_flags as u64,
            details: serde_json::json!({
                "cases": published.cases,
                "new_flags": published.new_flags,
                "unchanged_flags": published.unchanged_flags,
                "decided_flags": published.decided_flags,
                "suppressed_flags": published.suppressed_flags,
                "new_reviews": published.new_reviews,
                "existing_reviews": published.existing_reviews,
                "exports": exports.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
            }),
            ..Default::default()
        };
        c.seconds = t.elapsed().as_secs_f64();
        c.peak_rss_mib = peak_rss_mib();
        on_progress(Progress::StageFinished(Stage::Publish, c.clone()));
        state.completed.push((Stage::Publish, c));
        state.finished_at = Some(Utc::now());
        dirs.save(&state)?;
    }
    let data = report_data(&state, &run_dir)?;
    write_atomic(&report_path, render(&state, &data).as_bytes())?;
    let summary = format!(
        "new flags {}, quarantined {}",
        data.flags_by_type.values().sum::<u64>(),
        state.counters(Stage::Ingest).map_or(0, |c| c.quarantined)
    );
    store
        .record_run_finish(&state.run_id, "succeeded", &summary)
        .await
        .map_err(|e| stage_err("publish")(e.to_string()))?;
    store.close().await;
    let findings = data.flags_by_type.values().sum::<u64>() > 0
        || state
            .counters(Stage::Ingest)
            .is_some_and(|c| c.quarantined > 0);
    Ok(RunOutcome {
        dir: run_dir,
        report: report_path,
        exports,
        store_url,
        exit_code: u8::from(findings),
        state,
    })
}

/// The three most frequent quarantine reasons of a dataset in an ingest run. Reasons are
/// grouped by their text up to the first colon (the kind of problem, not the row's value).
fn quarantine_reasons(
    lake: &Lake,
    department: &str,
    dataset: &str,
    ingest_run: &str,
) -> Result<Vec<(String, u64)>, Error> {
    let filter = hedui_lake::PartitionFilter {
        run: Some(ingest_run.to_owned()),
        ..Default::default()
    };
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let parts = lake
        .partitions(hedui_lake::Zone::Quarantine, department, dataset, &filter)
        .map_err(|e| stage_err("ingest")(e.to_string()))?;
    for p in parts {
        p.for_each_batch(|b| {
            if let Some(col) = b.column_by_name("_reason").and_then(|c| {
                c.as_any()
                    .downcast_ref::<arrow::array::StringArray>()
                    .cloned()
            }) {
                for r in col.iter().flatten() {
                    let kind = r.split(':').next().unwrap_or(r).trim();
                    *counts.entry(kind.to_owned()).or_default() += 1;
                }
            }
            Ok(())
        })
        .map_err(|e| stage_err("ingest")(e.to_string()))?;
    }
    let mut v: Vec<(String, u64)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v.truncate(3);
    Ok(v)
}

fn report_data(state: &RunState, run_dir: &Path) -> Result<ReportData, Error> {
    let mut data = ReportData::default();
    if let Some(c) = state.counters(Stage::Ingest)
        && let Some(q) = c.details.get("quality")
    {
        data.quality = serde_json::from_value(q.clone()).unwrap_or_default();
    }
    if let Some(c) = state.counters(Stage::Link) {
        let o: LinkOutcome = serde_json::from_value(c.details.clone()).unwrap_or_default();
        data.weight_histogram = o.weight_histogram;
        data.link_kinds = o.by_kind;
        data.persons = o.persons;
        data.records_indexed = o.records_indexed;
    }
    if let Some(c) = state.counters(Stage::Publish) {
        data.flags_unchanged = c.details["unchanged_flags"].as_u64().unwrap_or(0)
            + c.details["decided_flags"].as_u64().unwrap_or(0);
        data.flags_suppressed = c.details["suppressed_flags"].as_u64().unwrap_or(0);
    }
    let flags: Vec<Flag> = read_jsonl(&run_dir.join("flags.jsonl"))?;
    let mut by_type: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_district: BTreeMap<String, u64> = BTreeMap::new();
    for f in &flags {
        *by_type.entry(f.flag_type.clone()).or_default() += 1;
        let county = hedui_identity::divisions::county_by_code(&f.subject.county_code)
            .map(|c| c.name.to_owned())
            .unwrap_or_else(|| f.subject.county_code.clone());
        *by_district.entry(county).or_default() += 1;
    }
    data.flags_by_type = by_type;
    data.flags_by_district = by_district;
    Ok(data)
}

/// The index of a run's entry reports: `entry/index.json`.
const ENTRY_INDEX: &str = "index.json";

/// Where an application's current entry report is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
struct EntryIndexItem {
    /// Digest of the report's content, its number and dates aside.
    fingerprint: String,
    /// The run whose `entry/` directory holds it.
    run_id: String,
}

/// Digest of an entry report's content without its number, check dates and data cut-offs
/// (which change every night while the findings may not).
fn entry_fingerprint(r: &hedui_verify::entry::EntryReport) -> Result<String, Error> {
    use sha2::{Digest, Sha256};
    let mut v = serde_json::to_value(r).map_err(Error::internal)?;
    if let Some(o) = v.as_object_mut() {
        for k in ["report_no", "as_of", "cutoffs"] {
            o.remove(k);
        }
        if let Some(i) = o.get_mut("indicators").and_then(|i| i.as_object_mut()) {
            i.remove("as_of");
        }
    }
    let digest = Sha256::digest(v.to_string().as_bytes());
    Ok(digest[..16].iter().map(|b| format!("{b:02x}")).collect())
}
