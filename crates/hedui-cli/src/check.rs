//! `hedui check entry` and `hedui check periodic`: verification on a synthetic city's snapshot
//! directory.
//!
//! The glue reads every delivered file with `hedui-tabular` (JSON lines for 公安), maps the
//! delivered Chinese headers to the schemas' canonical names, links each record's identity
//! columns to the 公安 population register ([`link_records`]: ID numbers first, then the
//! Fellegi–Sunter model of `hedui-linkage` for what the IDs cannot settle), keeps the records
//! of the persons the roster and the applications are about, and hands them to
//! `hedui-verify`. The nightly pipeline replaces [`link_records`] with its person index.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use chrono::NaiveDate;
use hedui_identity::id::parse_id;
use hedui_linkage::job::{JobOptions, run_prepared};
use hedui_linkage::record::{InputRecord, Interner, RecordRef, RecordSource, prepare};
use hedui_model::flag::{Flag, MatchKind};
use hedui_model::{Catalog, DatasetSchema};
use hedui_tabular::TextColumn;
use hedui_verify::entry::{EntryReport, entry_report};
use hedui_verify::facts::build_facts;
use hedui_verify::household::ScopeBuf;
use hedui_verify::input::{CheckInput, PersonLink, RecordLink, SourceRecord, SourceTable};
use hedui_verify::periodic::{PeriodicOptions, PeriodicOutput, Snapshot, run_periodic_on};
use hedui_verify::report::{render_html, render_xlsx};
use hedui_verify::roster::build_roster;
use hedui_verify::rules::RuleSet;
use serde::Serialize;

use crate::summary::peak_rss_mib;

#[derive(Debug, clap::Subcommand)]
pub enum CheckCommand {
    /// 逢进必核: a 核对报告 (JSON, HTML, XLSX) for each pending application.
    Entry(EntryArgs),
    /// 定期核对: households due, plus change flags for every recipient household.
    Periodic(PeriodicArgs),
}

/// Options shared by both modes.
#[derive(Debug, clap::Args)]
pub struct CommonArgs {
    /// The synthetic city (or extract) directory.
    #[arg(long)]
    pub data: PathBuf,
    /// The snapshot directory inside --data to check.
    #[arg(long, default_value = "snapshot-2")]
    pub snapshot: String,
    /// As-of date of the check (default: the snapshot's extract date from manifest.json).
    #[arg(long)]
    pub as_of: Option<NaiveDate>,
    /// Output directory.
    #[arg(long)]
    pub out: PathBuf,
    /// The rule set (default: pipelines/rules.toml if present, else the one built in).
    #[arg(long)]
    pub rules: Option<PathBuf>,
    /// Run id (default: derived from the mode and the as-of date).
    #[arg(long)]
    pub run_id: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct EntryArgs {
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, clap::Args)]
pub struct PeriodicArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// The previous run's output directory (its snapshot.json is diffed against).
    #[arg(long, conflicts_with = "baseline")]
    pub previous_run: Option<PathBuf>,
    /// Compute the previous run from this snapshot of --data first (e.g. snapshot-1).
    #[arg(long)]
    pub baseline: Option<String>,
    /// Dismissed flag ids: one per line, or JSON lines with a `flag_id` field.
    #[arg(long)]
    pub dismissed: Option<PathBuf>,
    /// Synthetic city only: score the flags against truth/events.csv (precision/recall per
    /// flag type), print them and write accuracy.json.
    #[arg(long)]
    pub truth: bool,
}

/// Wall time and peak memory per stage.
#[derive(Debug, Default, Serialize)]
pub struct StageTimes {
    /// (stage, seconds, peak RSS MiB after the stage).
    pub stages: Vec<(String, f64, f64)>,
    #[serde(skip)]
    last: Option<Instant>,
}

impl StageTimes {
    fn start() -> StageTimes {
        StageTimes {
            stages: Vec::new(),
            last: Some(Instant::now()),
        }
    }

    fn mark(&mut self, stage: &str) {
        let now = Instant::now();
        let secs = self.last.map_or(0.0, |t| (now - t).as_secs_f64());
        let rss = peak_rss_mib().unwrap_or(0.0);
        tracing::info!(stage, seconds = secs, peak_rss_mib = rss, "stage finished");
        self.stages.push((stage.to_owned(), secs, rss));
        self.last = Some(now);
    }
}

pub fn check(c: CheckCommand) -> Result<ExitCode> {
    match c {
        CheckCommand::Entry(a) => entry(a),
        CheckCommand::Periodic(a) => periodic(a),
    }
}

fn load_rules(path: Option<&Path>) -> Result<RuleSet> {
    let default = Path::new("pipelines/rules.toml");
    let text = match path {
        Some(p) => std::fs::read_to_string(p)
            .with_context(|| format!("reading the rule set {}", p.display()))?,
        None if default.is_file() => std::fs::read_to_string(default)
            .with_context(|| format!("reading the rule set {}", default.display()))?,
        None => hedui_verify::DEFAULT_RULES.to_owned(),
    };
    RuleSet::parse(&text).map_err(|e| anyhow!("{e}"))
}

/// The extract date of a snapshot directory, from the city's manifest.json.
fn extract_date(data: &Path, snapshot: &str) -> Result<NaiveDate> {
    let text = std::fs::read_to_string(data.join("manifest.json")).with_context(|| {
        format!(
            "reading {} (or give --as-of)",
            data.join("manifest.json").display()
        )
    })?;
    let v: serde_json::Value = serde_json::from_str(&text).context("manifest.json")?;
    let n: usize = snapshot
        .strip_prefix("snapshot-")
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("cannot tell the date of {snapshot:?}: give --as-of"))?;
    let d = v
        .get("snapshots")
        .and_then(|s| s.get(n.saturating_sub(1)))
        .and_then(|s| s.as_str())
        .ok_or_else(|| anyhow!("manifest.json has no date for {snapshot}: give --as-of"))?;
    NaiveDate::parse_from_str(d, "%Y-%m-%d").with_context(|| format!("manifest date {d:?}"))
}

// ------------------------------------------------------------------------------------------
// Reading

/// One delivered dataset as text columns in schema column order.
struct RawTable {
    schema: DatasetSchema,
    columns: Vec<TextColumn>,
    rows: usize,
    /// Rows the reader could not read (counted, reported).
    bad_rows: usize,
}

impl RawTable {
    fn get(&self, col: usize, row: usize) -> Option<&str> {
        self.columns
            .get(col)
            .and_then(|c| c.get(row))
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }

    fn col(&self, name: &str) -> Option<usize> {
        self.schema.index_of(name)
    }
}

fn read_jsonl(path: &Path, schema: &DatasetSchema) -> Result<RawTable> {
    let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut columns: Vec<TextColumn> = schema.columns.iter().map(|_| TextColumn::new()).collect();
    let mut rows = 0usize;
    let mut bad = 0usize;
    let mut buf = String::new();
    for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let obj: serde_json::Map<String, serde_json::Value> = match serde_json::from_str(&line) {
            Ok(o) => o,
            Err(e) => {
                bad += 1;
                if bad <= 5 {
                    tracing::warn!(file = %path.display(), line = i + 1, reason = %e, "row not read");
                }
                continue;
            }
        };
        for (c, col) in schema.columns.iter().enumerate() {
            let v = obj.get(&col.source).or_else(|| obj.get(&col.name));
            match v {
                Some(serde_json::Value::String(s)) => columns[c].push(Some(s)),
                Some(serde_json::Value::Null) | None => columns[c].push(None),
                Some(other) => {
                    buf.clear();
                    buf.push_str(&other.to_string());
                    columns[c].push(Some(&buf));
                }
            }
        }
        rows += 1;
    }
    Ok(RawTable {
        schema: schema.clone(),
        columns,
        rows,
        bad_rows: bad,
    })
}

fn read_dataset(dir: &Path, schema: &DatasetSchema) -> Result<Option<RawTable>> {
    let path = dir.join(&schema.department).join(format!(
        "{}.{}",
        schema.dataset,
        schema.delivery.format.extension()
    ));
    if !path.is_file() {
        tracing::warn!(dataset = %schema.qualified_name(), path = %path.display(), "dataset not delivered");
        return Ok(None);
    }
    if schema.delivery.format == hedui_model::Format::Jsonl {
        return read_jsonl(&path, schema).map(Some);
    }
    let table = hedui_tabular::read_table(&path, None)
        .with_context(|| format!("reading {}", path.display()))?;
    let mut columns = Vec::with_capacity(schema.columns.len());
    let mut missing = Vec::new();
    for col in &schema.columns {
        let idx = table.file_headers.iter().position(|h| {
            let h = h.trim().trim_start_matches('\u{feff}');
            h == col.source || h == col.name
        });
        match idx.and_then(|i| table.columns.get(i)) {
            Some(c) => columns.push(c.clone()),
            None => {
                if col.required {
                    missing.push(col.source.clone());
                }
                let mut c = TextColumn::new();
                for _ in 0..table.num_rows() {
                    c.push(None);
                }
                columns.push(c);
            }
        }
    }
    if !missing.is_empty() {
        bail!(
            "{}: required columns missing: {}",
            path.display(),
            missing.join(", ")
        );
    }
    Ok(Some(RawTable {
        schema: schema.clone(),
        rows: table.num_rows(),
        bad_rows: table.bad_rows.len(),
        columns,
    }))
}

// ------------------------------------------------------------------------------------------
// Linking

/// The identity spine: the 公安 population register, indexed by normalised ID number.
pub struct Spine {
    table: RawTable,
    by_id: std::collections::HashMap<[u8; 18], u32>,
}

impl Spine {
    fn new(table: RawTable) -> Spine {
        let idc = table.col("id_number");
        let mut by_id = std::collections::HashMap::with_capacity(table.rows);
        for r in 0..table.rows {
            let Some(raw) = idc.and_then(|c| table.get(c, r)) else {
                continue;
            };
            let p = parse_id(raw);
            if let (true, Some(n)) = (p.is_valid(), p.normalized.as_deref())
                && let Ok(k) = <[u8; 18]>::try_from(n.as_bytes())
            {
                by_id.entry(k).or_insert(r as u32);
            }
        }
        Spine { table, by_id }
    }

    fn key(&self, r: usize) -> String {
        self.table
            .col("record_id")
            .and_then(|c| self.table.get(c, r))
            .unwrap_or("")
            .to_owned()
    }

    fn raw_id(&self, r: usize) -> Option<&str> {
        self.table
            .col("id_number")
            .and_then(|c| self.table.get(c, r))
    }
}

impl RecordSource for Spine {
    fn len(&self) -> usize {
        self.table.rows
    }

    fn get(&self, i: usize) -> RecordRef<'_> {
        let t = &self.table;
        let v = |n: &str| t.col(n).and_then(|c| t.get(c, i));
        RecordRef {
            record_id: v("record_id").unwrap_or(""),
            name: v("name"),
            former_name: v("former_name"),
            id_number: v("id_number"),
            birth_date: v("birth_date"),
            gender: v("gender"),
            address: v("address"),
            phone: v("phone"),
        }
    }
}

/// The identity fields of one record's person reference (a record may name several persons).
#[derive(Debug, Clone, Default)]
pub struct IdentityRef {
    /// `department/dataset/record_id#column`, unique.
    pub key: String,
    /// ID number as delivered.
    pub id_number: Option<String>,
    /// Name.
    pub name: Option<String>,
    /// Birth date.
    pub birth_date: Option<String>,
    /// Gender.
    pub gender: Option<String>,
}

/// The register record prepared for fuzzy linking, built once.
pub struct FuzzySpine {
    records: hedui_linkage::record::Records,
    strings: Interner,
}

impl FuzzySpine {
    fn new(spine: &Spine, reference: NaiveDate) -> FuzzySpine {
        let mut strings = Interner::new();
        let records = prepare(spine, &mut strings, Some(reference));
        FuzzySpine { records, strings }
    }
}

/// Links person references to the 公安 register: by ID number (as delivered → ExactId; equal
/// after normalisation → IdNormalized; a 15-digit number upgraded → Id15Upgraded), and for the
/// rest with the Fellegi–Sunter model trained on them and the register (→ Fuzzy, with the
/// match probability and weight). This is the one function the nightly pipeline replaces with
/// its person index.
pub fn link_records(
    spine: &Spine,
    fuzzy: &FuzzySpine,
    refs: &[IdentityRef],
    reference: NaiveDate,
    seed: u64,
) -> Vec<Option<RecordLink>> {
    let mut out: Vec<Option<RecordLink>> = vec![None; refs.len()];
    let mut residual = Vec::new();
    for (i, r) in refs.iter().enumerate() {
        if let Some((row, kind)) = r
            .id_number
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .and_then(|raw| id_lookup(spine, raw))
        {
            out[i] = Some(RecordLink::by_id(spine.key(row as usize), kind));
            continue;
        }
        if r.name.is_some() {
            residual.push(i);
        }
    }
    if residual.is_empty() || spine.table.rows == 0 {
        return out;
    }
    let left: Vec<InputRecord> = residual
        .iter()
        .map(|&i| {
            let r = &refs[i];
            InputRecord {
                record_id: r.key.clone(),
                name: r.name.clone(),
                id_number: r.id_number.clone(),
                birth_date: r.birth_date.clone(),
                gender: r.gender.clone(),
                ..Default::default()
            }
        })
        .collect();
    let mut strings = fuzzy.strings.clone();
    let l = prepare(&left, &mut strings, Some(reference));
    let opts = JobOptions {
        reference: Some(reference),
        train: hedui_linkage::train::TrainSettings {
            seed,
            ..Default::default()
        },
        ..Default::default()
    };
    let job = run_prepared(l, fuzzy.records.clone(), false, strings, &opts, &mut |_| {});
    // Best register record per left record.
    let mut best: BTreeMap<u32, (f64, f64, u32)> = BTreeMap::new();
    for p in job.links() {
        let e = best
            .entry(p.l)
            .or_insert((p.match_probability, p.match_weight, p.r));
        if (p.match_weight, std::cmp::Reverse(p.r)) > (e.1, std::cmp::Reverse(e.2)) {
            *e = (p.match_probability, p.match_weight, p.r);
        }
    }
    for (l, (prob, weight, r)) in best {
        let i = residual[l as usize];
        out[i] = Some(RecordLink {
            person_key: spine.key(r as usize),
            kind: MatchKind::Fuzzy,
            probability: prob,
            match_weight: Some(weight),
        });
    }
    out
}

/// Identity columns per dataset: (ID column, name column, birth-date column, gender column).
fn identity_columns(
    ds: &str,
) -> Vec<(
    &'static str,
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
)> {
    match ds {
        "gongan/population" => vec![("id_number", "name", Some("birth_date"), Some("gender"))],
        "gongan/vehicles" => vec![("owner_id_number", "owner_name", None, None)],
        "weijian/births" => vec![
            ("mother_id_number", "mother_name", None, None),
            ("father_id_number", "father_name", None, None),
        ],
        "weijian/deaths" => vec![("id_number", "name", Some("birth_date"), Some("gender"))],
        "weijian/hospital_stays" => vec![("id_number", "name", None, Some("gender"))],
        "renshe/contributions" | "renshe/pensions" | "renshe/unemployment" => {
            vec![("id_number", "name", None, None)]
        }
        "zhujian/property" => vec![("owner_id_number", "owner_name", None, None)],
        "zhujian/housing_fund" => vec![("id_number", "name", None, None)],
        "minzheng/members" | "minzheng/application_members" => {
            vec![("id_number", "name", Some("birth_date"), Some("gender"))]
        }
        "minzheng/authorizations" => vec![("signer_id_number", "signer_name", None, None)],
        _ => Vec::new(),
    }
}

fn identity_refs(t: &RawTable) -> Vec<(usize, &'static str, IdentityRef)> {
    let q = t.schema.qualified_name();
    let key_col = t.col(&t.schema.key);
    let mut out = Vec::new();
    for (idc, namec, dobc, genc) in identity_columns(&q) {
        let (Some(ic), Some(nc)) = (t.col(idc), t.col(namec)) else {
            continue;
        };
        let dc = dobc.and_then(|c| t.col(c));
        let gc = genc.and_then(|c| t.col(c));
        for r in 0..t.rows {
            let id = t.get(ic, r);
            let name = t.get(nc, r);
            if id.is_none() && name.is_none() {
                continue;
            }
            out.push((
                r,
                idc,
                IdentityRef {
                    key: format!(
                        "{q}/{}#{idc}",
                        key_col.and_then(|k| t.get(k, r)).unwrap_or("")
                    ),
                    id_number: id.map(str::to_owned),
                    name: name.map(str::to_owned),
                    birth_date: dc.and_then(|c| t.get(c, r)).map(str::to_owned),
                    gender: gc.and_then(|c| t.get(c, r)).map(str::to_owned),
                },
            ));
        }
    }
    out
}

fn source_table(
    t: &RawTable,
    extract: NaiveDate,
    rows: &BTreeMap<usize, Vec<PersonLink>>,
) -> SourceTable {
    let mut st = SourceTable::new(
        &t.schema.department,
        &t.schema.dataset,
        extract,
        &t.schema.key,
        t.schema.columns.iter().map(|c| c.name.clone()).collect(),
    );
    for (&r, links) in rows {
        st.records.push(SourceRecord {
            values: (0..t.columns.len())
                .map(|c| t.get(c, r).map(str::to_owned))
                .collect(),
            links: links.clone(),
        });
    }
    st
}

/// Counts of reading and linking one snapshot.
#[derive(Debug, Default, Serialize)]
pub struct LoadReport {
    /// Rows read per dataset.
    pub rows_read: BTreeMap<String, u64>,
    /// Rows the readers could not read, per dataset.
    pub rows_unreadable: BTreeMap<String, u64>,
    /// Person references linked, by kind.
    pub links_by_kind: BTreeMap<String, u64>,
    /// Person references not linked.
    pub refs_unlinked: u64,
    /// Rows kept for verification (they concern a roster or application member), per dataset.
    pub rows_kept: BTreeMap<String, u64>,
    /// Datasets not delivered.
    pub not_delivered: Vec<String>,
}

/// Reads and links one snapshot directory into a verification input.
pub fn load_snapshot(
    dir: &Path,
    extract: NaiveDate,
    times: &mut StageTimes,
) -> Result<(CheckInput, LoadReport)> {
    let catalog = Catalog::builtin().map_err(|e| anyhow!("{e}"))?;
    let mut report = LoadReport::default();
    let schema = |d: &str, s: &str| {
        catalog
            .dataset(d, s)
            .cloned()
            .ok_or_else(|| anyhow!("no schema for {d}/{s}"))
    };
    let count = |report: &mut LoadReport, t: &RawTable| {
        let q = t.schema.qualified_name();
        report.rows_read.insert(q.clone(), t.rows as u64);
        report.rows_unreadable.insert(q, t.bad_rows as u64);
    };
    // The register is the identity spine.
    let Some(register) = read_dataset(dir, &schema("gongan", "population")?)? else {
        bail!(
            "{}: the 公安 population register (gongan/population.jsonl) is required as the identity spine",
            dir.display()
        );
    };
    count(&mut report, &register);
    let spine = Spine::new(register);
    times.mark("read-register");
    let fuzzy = FuzzySpine::new(&spine, extract);
    times.mark("prepare-register");

    let mut input = CheckInput::default();
    let mut relevant: BTreeSet<String> = BTreeSet::new();
    let tally = |report: &mut LoadReport, l: &Option<RecordLink>| match l {
        Some(l) => {
            *report
                .links_by_kind
                .entry(format!("{:?}", l.kind))
                .or_default() += 1;
        }
        None => report.refs_unlinked += 1,
    };
    // Roster tables: all rows kept; members and signers linked.
    for ds in [
        "cases",
        "members",
        "authorizations",
        "applications",
        "application_members",
    ] {
        let Some(t) = read_dataset(dir, &schema("minzheng", ds)?)? else {
            report.not_delivered.push(format!("minzheng/{ds}"));
            continue;
        };
        count(&mut report, &t);
        let refs = identity_refs(&t);
        let ids: Vec<IdentityRef> = refs.iter().map(|(_, _, r)| r.clone()).collect();
        let links = link_records(&spine, &fuzzy, &ids, extract, 1);
        let mut rows: BTreeMap<usize, Vec<PersonLink>> =
            (0..t.rows).map(|r| (r, Vec::new())).collect();
        for ((r, col, _), l) in refs.iter().zip(&links) {
            tally(&mut report, l);
            if let Some(l) = l {
                if matches!(ds, "members" | "application_members") {
                    relevant.insert(l.person_key.clone());
                }
                rows.entry(*r).or_default().push(PersonLink {
                    column: (*col).to_owned(),
                    link: l.clone(),
                });
            }
        }
        report
            .rows_kept
            .insert(format!("minzheng/{ds}"), t.rows as u64);
        input.tables.push(source_table(&t, extract, &rows));
    }
    times.mark("read-link-roster");
    // Department tables: ID links first (in parallel, straight from the columns); the rest is
    // linked in one fuzzy job at the end. Only the rows of relevant persons (and the residue
    // awaiting the fuzzy job) are kept; each table is dropped once scanned.
    struct Pending {
        schema: DatasetSchema,
        values: BTreeMap<usize, Vec<Option<String>>>,
        rows: BTreeMap<usize, Vec<PersonLink>>,
        residual: Vec<(usize, &'static str, IdentityRef)>,
    }
    // The persons on the roster and everyone in their 户 of the register (a co-living
    // household may hold minors the roster does not list: hedui_verify::household).
    let cols = (
        spine.table.col("household_no"),
        spine.table.col("region_code"),
    );
    let mut buf = ScopeBuf::default();
    let on_roster: Vec<bool> = (0..spine.table.rows)
        .map(|r| relevant.contains(&spine.key(r)))
        .collect();
    let scopes: BTreeSet<String> = (0..spine.table.rows)
        .filter(|&r| on_roster[r])
        .filter_map(|r| row_scope(&mut buf, &spine.table, cols, r).map(str::to_owned))
        .collect();
    let relevant_rows: Vec<bool> = (0..spine.table.rows)
        .map(|r| {
            on_roster[r]
                || row_scope(&mut buf, &spine.table, cols, r).is_some_and(|s| scopes.contains(s))
        })
        .collect();
    relevant.extend(
        (0..spine.table.rows)
            .filter(|&r| relevant_rows[r] && !on_roster[r])
            .map(|r| spine.key(r)),
    );
    let mut pending: Vec<Pending> = Vec::new();
    for (dept, ds) in hedui_verify::input::FACT_DATASETS {
        let t = if (*dept, *ds) == ("gongan", "population") {
            None
        } else {
            match read_dataset(dir, &schema(dept, ds)?)? {
                Some(t) => Some(t),
                None => {
                    report.not_delivered.push(format!("{dept}/{ds}"));
                    continue;
                }
            }
        };
        let table = t.as_ref().unwrap_or(&spine.table);
        count(&mut report, table);
        let q = table.schema.qualified_name();
        let key_col = table.col(&table.schema.key);
        let mut rows: BTreeMap<usize, Vec<PersonLink>> = BTreeMap::new();
        let mut residual = Vec::new();
        for (idc, namec, dobc, genc) in identity_columns(&q) {
            let (Some(ic), Some(nc)) = (table.col(idc), table.col(namec)) else {
                continue;
            };
            let found = id_pass(&spine, table, ic);
            for (r, f) in found.into_iter().enumerate() {
                match f {
                    Some((row, kind)) => {
                        *report.links_by_kind.entry(format!("{kind:?}")).or_default() += 1;
                        if relevant_rows[row as usize] {
                            rows.entry(r).or_default().push(PersonLink {
                                column: idc.to_owned(),
                                link: RecordLink::by_id(spine.key(row as usize), kind),
                            });
                        }
                    }
                    None => {
                        let name = table.get(nc, r);
                        let id = table.get(ic, r);
                        if name.is_none() {
                            if id.is_some() {
                                report.refs_unlinked += 1;
                            }
                            continue;
                        }
                        residual.push((
                            r,
                            idc,
                            IdentityRef {
                                key: format!(
                                    "{q}/{}#{idc}",
                                    key_col.and_then(|k| table.get(k, r)).unwrap_or("")
                                ),
                                id_number: id.map(str::to_owned),
                                name: name.map(str::to_owned),
                                birth_date: dobc
                                    .and_then(|c| table.col(c))
                                    .and_then(|c| table.get(c, r))
                                    .map(str::to_owned),
                                gender: genc
                                    .and_then(|c| table.col(c))
                                    .and_then(|c| table.get(c, r))
                                    .map(str::to_owned),
                            },
                        ));
                    }
                }
            }
        }
        let keep: BTreeSet<usize> = rows
            .keys()
            .copied()
            .chain(residual.iter().map(|(r, _, _)| *r))
            .collect();
        let values = keep
            .into_iter()
            .map(|r| {
                (
                    r,
                    (0..table.columns.len())
                        .map(|c| table.get(c, r).map(str::to_owned))
                        .collect(),
                )
            })
            .collect();
        pending.push(Pending {
            schema: table.schema.clone(),
            values,
            rows,
            residual,
        });
        drop(t);
        times.mark(&format!("read-link-{dept}/{ds}"));
    }
    // One fuzzy job over the residue of every dataset.
    let all_residual: Vec<IdentityRef> = pending
        .iter()
        .flat_map(|p| p.residual.iter().map(|(_, _, r)| r.clone()))
        .collect();
    let fuzzy_links = link_records(&spine, &fuzzy, &all_residual, extract, 2);
    let mut it = fuzzy_links.into_iter();
    for p in &mut pending {
        for (r, col, _) in &p.residual {
            let l = it.next().flatten();
            tally(&mut report, &l);
            if let Some(l) = l
                && relevant.contains(&l.person_key)
            {
                p.rows.entry(*r).or_default().push(PersonLink {
                    column: (*col).to_owned(),
                    link: l,
                });
            }
        }
    }
    times.mark("link-fuzzy");
    for p in pending {
        let mut st = SourceTable::new(
            &p.schema.department,
            &p.schema.dataset,
            extract,
            &p.schema.key,
            p.schema.columns.iter().map(|c| c.name.clone()).collect(),
        );
        for (r, links) in p.rows {
            if let Some(values) = p.values.get(&r) {
                st.records.push(SourceRecord {
                    values: values.clone(),
                    links,
                });
            }
        }
        report
            .rows_kept
            .insert(p.schema.qualified_name(), st.records.len() as u64);
        input.tables.push(st);
    }
    times.mark("select-records");
    Ok((input, report))
}

/// The 户 of register row `r` (`cols`: its 户号 and region-code columns).
fn row_scope<'b>(
    buf: &'b mut ScopeBuf,
    table: &RawTable,
    cols: (Option<usize>, Option<usize>),
    r: usize,
) -> Option<&'b str> {
    let get = |c: Option<usize>| c.and_then(|c| table.get(c, r));
    buf.scope(get(cols.0)?, get(cols.1))
}

/// The ID-number pass of [`link_records`] over one column of a table, in parallel chunks:
/// the register row and the kind of match of each row, `None` when the number is missing,
/// invalid or not in the register.
fn id_pass(spine: &Spine, table: &RawTable, column: usize) -> Vec<Option<(u32, MatchKind)>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = table.rows.div_ceil(threads).max(1);
    let ranges: Vec<std::ops::Range<usize>> = (0..table.rows)
        .step_by(chunk)
        .map(|a| a..(a + chunk).min(table.rows))
        .collect();
    let run = |range: std::ops::Range<usize>| -> Vec<Option<(u32, MatchKind)>> {
        range
            .map(|r| table.get(column, r).and_then(|raw| id_lookup(spine, raw)))
            .collect()
    };
    std::thread::scope(|s| {
        let handles: Vec<_> = ranges
            .iter()
            .cloned()
            .map(|range| (range.clone(), s.spawn(move || run(range))))
            .collect();
        // A chunk whose thread failed is redone here, so results stay aligned with the rows.
        handles
            .into_iter()
            .flat_map(|(range, h)| h.join().unwrap_or_else(|_| run(range)))
            .collect()
    })
}

/// Looks one delivered ID number up in the register.
fn id_lookup(spine: &Spine, raw: &str) -> Option<(u32, MatchKind)> {
    let b = raw.as_bytes();
    // Fast path: a clean 18-character number with a valid check character.
    if b.len() == 18
        && b[..17].iter().all(u8::is_ascii_digit)
        && hedui_identity::id::check_char(&b[..17]) == Some(b[17])
    {
        let k = <[u8; 18]>::try_from(b).ok()?;
        let row = *spine.by_id.get(&k)?;
        let kind = if spine.raw_id(row as usize) == Some(raw) {
            MatchKind::ExactId
        } else {
            MatchKind::IdNormalized
        };
        return Some((row, kind));
    }
    let p = parse_id(raw);
    if !p.is_valid() {
        return None;
    }
    let k = <[u8; 18]>::try_from(p.normalized.as_deref()?.as_bytes()).ok()?;
    let row = *spine.by_id.get(&k)?;
    let kind = if spine.raw_id(row as usize) == Some(raw) {
        MatchKind::ExactId
    } else if p.original_15.is_some() {
        MatchKind::Id15Upgraded
    } else {
        MatchKind::IdNormalized
    };
    Some((row, kind))
}

// ------------------------------------------------------------------------------------------
// Writing

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    hedui_lake::write_atomic(path, bytes).with_context(|| format!("writing {}", path.display()))
}

fn jsonl<T: Serialize>(items: &[T]) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    for i in items {
        serde_json::to_writer(&mut buf, i)?;
        buf.write_all(b"\n")?;
    }
    Ok(buf)
}

// ------------------------------------------------------------------------------------------
// Periodic

struct PeriodicRun {
    output: PeriodicOutput,
    load: LoadReport,
}

fn periodic_once(
    data: &Path,
    snapshot: &str,
    rules: &RuleSet,
    opts: PeriodicOptions,
    times: &mut StageTimes,
) -> Result<PeriodicRun> {
    let dir = data.join(snapshot);
    if !dir.is_dir() {
        bail!("{} is not a snapshot directory", dir.display());
    }
    let extract = extract_date(data, snapshot).unwrap_or(opts.as_of);
    let (input, load) = load_snapshot(&dir, extract, times)?;
    let facts = build_facts(&input);
    let roster = build_roster(&input);
    drop(input);
    times.mark("facts");
    let output = run_periodic_on(&facts, &roster, rules, &opts);
    times.mark("indicators-rules-diff");
    Ok(PeriodicRun { output, load })
}

fn read_dismissed(path: &Path) -> Result<BTreeSet<String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading dismissed flags {}", path.display()))?;
    let mut out = BTreeSet::new();
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        if l.starts_with('{') {
            let v: serde_json::Value = serde_json::from_str(l)
                .with_context(|| format!("{} line {}", path.display(), i + 1))?;
            let id = v
                .get("flag_id")
                .and_then(|x| x.as_str())
                .ok_or_else(|| anyhow!("{} line {}: no flag_id", path.display(), i + 1))?;
            out.insert(id.to_owned());
        } else {
            out.insert(l.to_owned());
        }
    }
    Ok(out)
}

fn periodic(a: PeriodicArgs) -> Result<ExitCode> {
    let mut times = StageTimes::start();
    let c = &a.common;
    let rules = load_rules(c.rules.as_deref())?;
    let as_of = match c.as_of {
        Some(d) => d,
        None => extract_date(&c.data, &c.snapshot)?,
    };
    let run_id = c
        .run_id
        .clone()
        .unwrap_or_else(|| format!("periodic-{}", as_of.format("%Y%m%d")));
    let dismissed = match &a.dismissed {
        Some(p) => read_dismissed(p)?,
        None => BTreeSet::new(),
    };
    std::fs::create_dir_all(&c.out).with_context(|| format!("creating {}", c.out.display()))?;
    let previous = if let Some(dir) = &a.previous_run {
        let p = dir.join("snapshot.json");
        let text =
            std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
        Some(Snapshot::from_json(&text).map_err(|e| anyhow!("{}: {e}", p.display()))?)
    } else if let Some(base) = &a.baseline {
        let base_as_of = extract_date(&c.data, base)?;
        let base_id = format!("periodic-{}", base_as_of.format("%Y%m%d"));
        let run = periodic_once(
            &c.data,
            base,
            &rules,
            PeriodicOptions::new(&base_id, base_as_of),
            &mut times,
        )?;
        let bdir = c.out.join("baseline");
        std::fs::create_dir_all(&bdir)?;
        write_periodic(&bdir, &run, &times)?;
        times.mark("baseline-write");
        Some(run.output.snapshot)
    } else {
        None
    };
    let run = periodic_once(
        &c.data,
        &c.snapshot,
        &rules,
        PeriodicOptions {
            run_id: run_id.clone(),
            as_of,
            previous,
            dismissed,
        },
        &mut times,
    )?;
    write_periodic(&c.out, &run, &times)?;
    times.mark("write");
    let s = &run.output.summary;
    println!(
        "periodic check {} as of {}: {} recipient households checked, {} due for review, {} flags raised ({} dismissed not raised)",
        s.run_id, as_of, s.cases_checked, s.due, s.flags_raised, s.suppressed_dismissed
    );
    for (t, n) in &s.flags_by_type {
        println!("  {t:<22} {n:>7}");
    }
    if a.truth {
        let acc = accuracy(&c.data, &run.output.flags, &run.output)?;
        print!("{}", acc.table());
        write_atomic(
            &c.out.join("accuracy.json"),
            serde_json::to_string_pretty(&acc)?.as_bytes(),
        )?;
    }
    println!("  stages:");
    for (st, secs, rss) in &times.stages {
        println!("    {st:<34} {secs:>8.2} s   peak {rss:>8.0} MiB");
    }
    println!("  output: {}", c.out.display());
    Ok(if run.output.flags.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn write_periodic(dir: &Path, run: &PeriodicRun, times: &StageTimes) -> Result<()> {
    let o = &run.output;
    write_atomic(&dir.join("flags.jsonl"), &jsonl(&o.flags)?)?;
    write_atomic(&dir.join("cases.jsonl"), &jsonl(&o.cases)?)?;
    write_atomic(&dir.join("due.jsonl"), &jsonl(&o.due)?)?;
    #[derive(Serialize)]
    struct CaseResult<'a> {
        case_id: &'a str,
        indicators: &'a hedui_verify::indicators::Indicators,
        results: &'a [hedui_verify::rules::RuleResult],
    }
    let results: Vec<CaseResult<'_>> = o
        .results
        .iter()
        .filter_map(|(k, r)| {
            o.indicators.get(k).map(|i| CaseResult {
                case_id: k,
                indicators: i,
                results: r,
            })
        })
        .collect();
    write_atomic(&dir.join("results.jsonl"), &jsonl(&results)?)?;
    write_atomic(&dir.join("snapshot.json"), o.snapshot.to_json().as_bytes())?;
    let summary = serde_json::json!({
        "summary": o.summary,
        "load": run.load,
        "stages": times.stages,
    });
    write_atomic(
        &dir.join("summary.json"),
        serde_json::to_string_pretty(&summary)?.as_bytes(),
    )?;
    Ok(())
}

// ------------------------------------------------------------------------------------------
// Accuracy against planted truth

/// The planted event a flag type detects; `None` for flags derived from rule re-evaluation.
fn event_of(flag_type: &str) -> Option<&'static str> {
    Some(match flag_type {
        "DYN-DEATH" => "death",
        "DYN-MIGRATE-OUT" => "migrate_out",
        "DYN-NEWBORN" => "birth",
        "INC-NEW-JOB" => "new_job",
        "PERS-PUBLIC-PAYROLL" => "public_payroll",
        "INC-PENSION-START" => "pension_start",
        "INC-UNEMP" => "unemployment_start",
        "PROP-HOUSE-NEW" => "property_new",
        "PROP-VEHICLE" => "vehicle_new",
        "EXP-MEDICAL" => "hospital_costly",
        _ => return None,
    })
}

#[derive(Debug, Default, Serialize)]
struct TypeScore {
    flags: u64,
    true_positives: u64,
    precision: Option<f64>,
    events: u64,
    events_found: u64,
    recall: Option<f64>,
}

#[derive(Debug, Default, Serialize)]
struct Accuracy {
    by_flag_type: BTreeMap<String, TypeScore>,
    overall_flags: u64,
    overall_true_positives: u64,
    overall_precision: Option<f64>,
    overall_events: u64,
    overall_events_found: u64,
    overall_recall: Option<f64>,
    dq_only_households: u64,
    flags_on_dq_only_households: u64,
    missed_events: Vec<String>,
    false_flags: Vec<String>,
}

impl Accuracy {
    fn table(&self) -> String {
        let mut s = String::from("  accuracy against truth/events.csv (recipient households):\n");
        s.push_str(&format!(
            "    {:<22} {:>6} {:>6} {:>9} {:>7} {:>6} {:>7}\n",
            "flag type", "flags", "TP", "precision", "events", "found", "recall"
        ));
        let f = |x: Option<f64>| x.map_or_else(|| "-".to_owned(), |v| format!("{v:.4}"));
        for (t, sc) in &self.by_flag_type {
            s.push_str(&format!(
                "    {t:<22} {:>6} {:>6} {:>9} {:>7} {:>6} {:>7}\n",
                sc.flags,
                sc.true_positives,
                f(sc.precision),
                sc.events,
                sc.events_found,
                f(sc.recall)
            ));
        }
        s.push_str(&format!(
            "    {:<22} {:>6} {:>6} {:>9} {:>7} {:>6} {:>7}\n",
            "overall",
            self.overall_flags,
            self.overall_true_positives,
            f(self.overall_precision),
            self.overall_events,
            self.overall_events_found,
            f(self.overall_recall)
        ));
        s.push_str(&format!(
            "    households whose only change is a data-quality variation: {}, flags on them: {}\n",
            self.dq_only_households, self.flags_on_dq_only_households
        ));
        s
    }
}

fn ratio(a: u64, b: u64) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

fn accuracy(data: &Path, flags: &[Flag], out: &PeriodicOutput) -> Result<Accuracy> {
    let path = data.join("truth").join("events.csv");
    let t = hedui_tabular::read_table(&path, None)
        .with_context(|| format!("reading {}", path.display()))?;
    let col = |n: &str| {
        t.column_index(n)
            .ok_or_else(|| anyhow!("{}: no column {n}", path.display()))
    };
    let (ct, cc, cr) = (col("event_type")?, col("case_id")?, col("record_id")?);
    let active: BTreeSet<&str> = out.snapshot.cases.keys().map(String::as_str).collect();
    // Events per checked recipient case.
    let mut events: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for r in 0..t.num_rows() {
        let case = t.columns[cc].get(r).unwrap_or("").trim();
        if case.is_empty() || !active.contains(case) {
            continue;
        }
        let ty = t.columns[ct].get(r).unwrap_or("").to_owned();
        let rid = t.columns[cr].get(r).unwrap_or("").to_owned();
        events.entry(case.to_owned()).or_default().push((ty, rid));
    }
    let mut acc = Accuracy::default();
    let mut flags_by_case: BTreeMap<&str, Vec<&Flag>> = BTreeMap::new();
    for f in flags {
        flags_by_case.entry(&f.subject.case_id).or_default().push(f);
    }
    for f in flags {
        let sc = acc.by_flag_type.entry(f.flag_type.clone()).or_default();
        sc.flags += 1;
        let evs = events.get(&f.subject.case_id);
        let ok = match event_of(&f.flag_type) {
            Some(e) => evs.is_some_and(|v| v.iter().any(|(t, _)| t == e)),
            // Derived (rule re-evaluation) flags: right when the household had a real change.
            None => evs.is_some_and(|v| v.iter().any(|(t, _)| t != "dq_variation")),
        };
        if ok {
            sc.true_positives += 1;
        } else {
            acc.false_flags.push(format!(
                "{} {} {}",
                f.subject.case_id, f.flag_type, f.flag_id
            ));
        }
    }
    for (case, evs) in &events {
        let case_flags = flags_by_case.get(case.as_str());
        if evs.iter().all(|(t, _)| t == "dq_variation") {
            acc.dq_only_households += 1;
            acc.flags_on_dq_only_households += case_flags.map_or(0, |v| v.len() as u64);
            continue;
        }
        for (ty, rid) in evs.iter().filter(|(t, _)| t != "dq_variation") {
            let ft = [
                "DYN-DEATH",
                "DYN-MIGRATE-OUT",
                "DYN-NEWBORN",
                "INC-NEW-JOB",
                "PERS-PUBLIC-PAYROLL",
                "INC-PENSION-START",
                "INC-UNEMP",
                "PROP-HOUSE-NEW",
                "PROP-VEHICLE",
                "EXP-MEDICAL",
            ]
            .into_iter()
            .find(|f| event_of(f) == Some(ty.as_str()))
            .unwrap_or("?");
            let sc = acc.by_flag_type.entry(ft.to_owned()).or_default();
            sc.events += 1;
            let found = case_flags.is_some_and(|v| v.iter().any(|f| f.flag_type == ft));
            if found {
                sc.events_found += 1;
            } else {
                acc.missed_events.push(format!("{case} {ty} {rid}"));
            }
        }
    }
    for sc in acc.by_flag_type.values_mut() {
        sc.precision = ratio(sc.true_positives, sc.flags);
        sc.recall = ratio(sc.events_found, sc.events);
        acc.overall_flags += sc.flags;
        acc.overall_true_positives += sc.true_positives;
        acc.overall_events += sc.events;
        acc.overall_events_found += sc.events_found;
    }
    acc.overall_precision = ratio(acc.overall_true_positives, acc.overall_flags);
    acc.overall_recall = ratio(acc.overall_events_found, acc.overall_events);
    Ok(acc)
}

// ------------------------------------------------------------------------------------------
// Entry

fn entry(a: EntryArgs) -> Result<ExitCode> {
    let mut times = StageTimes::start();
    let c = &a.common;
    let rules = load_rules(c.rules.as_deref())?;
    let as_of = match c.as_of {
        Some(d) => d,
        None => extract_date(&c.data, &c.snapshot)?,
    };
    let dir = c.data.join(&c.snapshot);
    if !dir.is_dir() {
        bail!("{} is not a snapshot directory", dir.display());
    }
    let extract = extract_date(&c.data, &c.snapshot).unwrap_or(as_of);
    let (input, load) = load_snapshot(&dir, extract, &mut times)?;
    let cutoffs: Vec<(String, NaiveDate)> = input
        .tables
        .iter()
        .filter(|t| t.department != "minzheng")
        .map(|t| (t.qualified(), t.extract_date))
        .collect();
    let facts = build_facts(&input);
    let roster = build_roster(&input);
    times.mark("facts");
    let reports: Vec<EntryReport> = roster
        .applications
        .values()
        .map(|app| entry_report(app, &roster, &facts, &rules, as_of, &cutoffs))
        .collect();
    times.mark("reports");
    let rdir = c.out.join("reports");
    std::fs::create_dir_all(&rdir).with_context(|| format!("creating {}", rdir.display()))?;
    let mut refused = 0u64;
    let mut with_findings = 0u64;
    for r in &reports {
        let stem = rdir.join(&r.application_id);
        write_atomic(
            &stem.with_extension("json"),
            serde_json::to_string_pretty(r)?.as_bytes(),
        )?;
        write_atomic(&stem.with_extension("html"), render_html(r).as_bytes())?;
        let x = render_xlsx(r).map_err(|e| anyhow!("{}: {e}", r.application_id))?;
        write_atomic(&stem.with_extension("xlsx"), &x)?;
        if !r.checked {
            refused += 1;
        } else if r
            .results
            .iter()
            .any(|x| x.outcome != hedui_verify::rules::Outcome::Pass)
        {
            with_findings += 1;
        }
    }
    times.mark("write");
    let summary = serde_json::json!({
        "as_of": as_of,
        "rules_version": rules.version,
        "applications": reports.len(),
        "checked": reports.len() as u64 - refused,
        "refused_authorisation": refused,
        "with_findings": with_findings,
        "reports": reports.iter().map(|r| serde_json::json!({
            "application_id": r.application_id,
            "status": r.status_zh,
            "checked": r.checked,
            "fail": r.results.iter().filter(|x| x.outcome == hedui_verify::rules::Outcome::Fail).count(),
            "verify": r.results.iter().filter(|x| x.outcome == hedui_verify::rules::Outcome::Verify).count(),
        })).collect::<Vec<_>>(),
        "load": load,
        "stages": times.stages,
    });
    write_atomic(
        &c.out.join("entry-summary.json"),
        serde_json::to_string_pretty(&summary)?.as_bytes(),
    )?;
    println!(
        "entry check as of {as_of}: {} applications, {} checked, {} refused (authorisation does not cover every member), {} with findings",
        reports.len(),
        reports.len() as u64 - refused,
        refused,
        with_findings
    );
    println!("  reports: {}", rdir.display());
    Ok(if refused + with_findings > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
