//! The link stage: the current state of every person-bearing dataset is read from the lake's
//! raw zone, the 公安 register is the spine, and only new and changed records (by `_row_hash`)
//! are standardised and linked into the person index ([`hedui_linkage::index`]).
//!
//! A record can carry several persons (a birth certificate: mother and father; a property
//! title: its owner). Each is linked under its own key `department/dataset/record_id#role`
//! (no suffix for the record's own subject).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;

use chrono::NaiveDate;
use hedui_lake::{Lake, PartitionFilter, Zone};
use hedui_linkage::index::{Constraint, LinkReport, LinkSide, PersonIndex, ReviewCandidate};
use hedui_linkage::record::{InputRecord, Interner, Records, prepare};
use hedui_linkage::train::{TrainSettings, train_unsupervised};
use hedui_model::{Catalog, DatasetSchema};
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::current::{CurrentRows, Role, RoleKeys, full_extract, read_current, roles};
use crate::current::{Read, read_current_impl};
use crate::run::write_atomic;
use crate::state::LinkState;

/// The identity records of one role of a dataset's current rows.
fn identity_records(
    rows: &CurrentRows,
    prefix: &str,
    key_prefix: &str,
    suffix: &str,
) -> (Vec<InputRecord>, Vec<String>, Vec<usize>) {
    let get = |name: &str| rows.column(&format!("{prefix}{name}"));
    let name = get("name");
    let id = get("id_number");
    // Birth date, gender, address and phone describe the record's own subject only.
    let own = |c: &str| {
        if prefix.is_empty() {
            rows.column(c)
        } else {
            None
        }
    };
    let (dob, gender, addr, phone, former) = (
        own("birth_date"),
        own("gender"),
        own("address"),
        own("phone"),
        own("former_name"),
    );
    let pick = |c: Option<&[Option<String>]>, i: usize| c.and_then(|c| c[i].clone());
    let mut recs = Vec::with_capacity(rows.len());
    let mut keys = Vec::with_capacity(rows.len());
    let mut at = Vec::with_capacity(rows.len());
    for i in 0..rows.len() {
        let (n, idn) = (pick(name, i), pick(id, i));
        if n.is_none() && idn.is_none() {
            continue; // no such person on this record (e.g. no father named)
        }
        let key = format!("{key_prefix}/{}{suffix}", rows.record_ids[i]);
        recs.push(InputRecord {
            record_id: key.clone(),
            name: n,
            former_name: pick(former, i),
            id_number: idn,
            birth_date: pick(dob, i),
            gender: pick(gender, i),
            address: pick(addr, i),
            phone: pick(phone, i),
        });
        keys.push(key);
        at.push(i);
    }
    (recs, keys, at)
}

/// What the link stage did.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LinkOutcome {
    /// Records considered (all current records of person-bearing datasets, all roles).
    pub considered: u64,
    /// Records linked this run (new or changed).
    pub linked: u64,
    /// Unchanged records taken again because a review decision contradicted their link.
    #[serde(default)]
    pub review_relinks: u64,
    /// Per `department/dataset`: records linked this run.
    pub per_dataset: BTreeMap<String, u64>,
    /// By kind, this run.
    pub by_kind: BTreeMap<String, u64>,
    /// Persons created this run.
    pub new_persons: u64,
    /// Records whose person changed.
    pub moved: u64,
    /// Persons and records in the index after the run.
    pub persons: u64,
    /// Records in the index.
    pub records_indexed: u64,
    /// Match weights of this run's scored links, histogram bins of 2: (lower edge, count).
    pub weight_histogram: Vec<(i32, u64)>,
    /// Whether the model was trained this run (first night) or loaded.
    pub model_trained: bool,
}

/// Department datasets linked to the register, in a fixed order (the roster too: its members
/// must be tied to persons for verification).
pub fn linked_datasets(catalog: &Catalog) -> Vec<&DatasetSchema> {
    let mut v: Vec<&DatasetSchema> = catalog
        .datasets
        .iter()
        .filter(|d| d.department != "truth")
        .filter(|d| !(d.department == "gongan" && d.dataset == "population"))
        .filter(|d| !roles(d).is_empty())
        .collect();
    v.sort_by(|a, b| (&a.department, &a.dataset).cmp(&(&b.department, &b.dataset)));
    v
}

/// Options of the link stage.
#[derive(Debug, Clone)]
pub struct LinkOptions {
    /// "Today" for date validation.
    pub as_of: NaiveDate,
    /// Clerical-review decisions.
    pub constraints: Vec<Constraint>,
    /// Near misses this far below the threshold are queued for review.
    pub review_band: f64,
    /// Records sampled for training on the first night.
    pub train_sample: usize,
    /// Seed of training.
    pub seed: u64,
}

/// Runs the link stage over the lake; saves the index and model under `state`.
pub fn link_stage(
    lake: &Lake,
    state: &LinkState,
    catalog: &Catalog,
    options: &LinkOptions,
) -> Result<(LinkOutcome, PersonIndex, Vec<ReviewCandidate>), Error> {
    let reference = Some(options.as_of);
    // The ingest runs taken in before, per dataset (none on the first night: then, or when the
    // index was rebuilt, everything is read).
    let seen = if state.index_path().exists() {
        state.seen_runs()?
    } else {
        BTreeMap::new()
    };
    let datasets = linked_datasets(catalog);
    // The ingest runs each dataset's current state is read from (listed once: the lake does
    // not change while linking).
    let mut now_seen: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (dept, ds) in std::iter::once(("gongan", "population")).chain(
        datasets
            .iter()
            .map(|d| (d.department.as_str(), d.dataset.as_str())),
    ) {
        now_seen.insert(format!("{dept}/{ds}"), current_runs(lake, dept, ds)?);
    }
    // When some dataset has partitions not linked yet, the register will be needed: it is read
    // and standardised on a second thread while the index loads (each takes seconds in a city).
    let anything_new = now_seen
        .iter()
        .any(|(key, current)| unseen(current, seen.get(key), false) != Unseen::Nothing);
    let step = std::time::Instant::now();
    let (index, preloaded) = std::thread::scope(|sc| {
        let spine = anything_new.then(|| {
            sc.spawn(|| {
                let mut strings = Interner::new();
                Spine::load(lake, &mut strings, reference).map(|s| (s, strings))
            })
        });
        let index = state.load_index();
        let spine = spine.map(|h| {
            h.join()
                .map_err(|_| Error::Internal("reading the register panicked".into()))
        });
        (index, spine)
    });
    let mut index = index?;
    let (mut spine, mut strings) = match preloaded {
        Some(r) => {
            let (sp, strings) = r??;
            (Some(sp), strings)
        }
        None => (None, Interner::new()),
    };
    tracing::info!(
        seconds = step.elapsed().as_secs_f64(),
        records = index.len(),
        register_read = spine.is_some(),
        "link: person index loaded"
    );
    // Review decisions that the current links contradict: those records are linked again,
    // which takes a whole read of their datasets (they sit in partitions linked before).
    let relink = index.mark_contradicted(&options.constraints);
    let forced: BTreeSet<String> = relink
        .iter()
        .filter_map(|k| {
            let mut it = k.splitn(3, '/');
            Some(format!("{}/{}", it.next()?, it.next()?))
        })
        .collect();
    let mut outcome = LinkOutcome {
        review_relinks: relink.len() as u64,
        ..Default::default()
    };
    let plan_of = |dept: &str, ds: &str| -> Result<Unseen, Error> {
        let key = format!("{dept}/{ds}");
        let current = now_seen
            .get(&key)
            .ok_or_else(|| Error::Internal(format!("{key} was not listed")))?;
        Ok(unseen(current, seen.get(&key), forced.contains(&key)))
    };

    // The spine: register records new or changed since the last run join the index first.
    let register_keys = RoleKeys::new(
        "gongan",
        "population",
        &[Role {
            prefix: "",
            suffix: String::new(),
        }],
    );
    let register_plan = plan_of("gongan", "population")?;
    let changed_rows = match &register_plan {
        Unseen::Nothing => CurrentRows::default(),
        plan => read_current_impl(
            lake,
            "gongan",
            "population",
            &Read {
                runs: match plan {
                    Unseen::Runs(r) => Some(r),
                    _ => None,
                },
                ..Read::new(&REGISTER_COLUMNS)
            },
            &|id, h, _| register_keys.any(id, |key| index.needs_linking(key, h)),
        )?,
    };
    {
        let (recs, keys, at) = identity_records(&changed_rows, "", "gongan/population", "");
        let hashes: Vec<u64> = at.iter().map(|&r| changed_rows.hashes[r]).collect();
        outcome.considered += recs.len() as u64 + changed_rows.skipped;
        let prepared = prepare(&recs, &mut strings, reference);
        let key_refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let all: Vec<usize> = (0..recs.len()).collect();
        let r = index.add_register(&prepared, &key_refs, &hashes, &all);
        merge(&mut outcome, &r);
        outcome
            .per_dataset
            .insert("gongan/population".into(), r.records);
    }
    drop(changed_rows);
    // The whole register, standardised, is the target of linking (`spine`): read above when
    // something new arrived, else only if some record has to be linked all the same (a review
    // decision to honour).

    // Every other person-bearing dataset, role by role: only new and changed records. One
    // dataset is in memory at a time.
    let plans: Vec<Unseen> = datasets
        .iter()
        .map(|d| plan_of(&d.department, &d.dataset))
        .collect::<Result<_, _>>()?;

    // The model: trained once (first night) on a sample of the pending records of every
    // dataset against the register, then reused so links stay comparable from night to night.
    let model = match state.model()? {
        Some(m) => m,
        None => {
            let quota = options.train_sample / datasets.len().max(1);
            let mut sample: Vec<InputRecord> = Vec::new();
            for (schema, plan) in datasets.iter().zip(&plans) {
                let pending = pending_of(lake, schema, &index, plan)?.0;
                sample.extend(sample_records(&pending, quota, options.seed));
            }
            if spine.is_none() {
                spine = Some(Spine::load(lake, &mut strings, reference)?);
            }
            let Some(register) = spine.as_ref().map(|s| &s.records) else {
                return Err(Error::Internal("the register was not loaded".into()));
            };
            if sample.is_empty() || register.is_empty() {
                return Err(Error::Stage {
                    stage: "link",
                    reason: "nothing to train the linkage model on: the lake holds no register or no department records".into(),
                });
            }
            let left = prepare(&sample, &mut strings, reference);
            let mut m = train_unsupervised(
                &left,
                register,
                false,
                &strings,
                &hedui_linkage::blocking::Blocking::default(),
                &TrainSettings {
                    seed: options.seed,
                    ..Default::default()
                },
            );
            let preds = hedui_linkage::predict::predict(&m, &left, register, false, &strings, 0.01);
            m.threshold = hedui_linkage::predict::choose_threshold(&preds.pairs);
            fs::create_dir_all(&state.dir).map_err(|e| Error::io(&state.dir, e))?;
            write_atomic(&state.model_path(), m.to_json().as_bytes())?;
            outcome.model_trained = true;
            m
        }
    };

    let mut reviews = Vec::new();
    let mut hist: BTreeMap<i32, u64> = BTreeMap::new();
    for (schema, plan) in datasets.iter().zip(&plans) {
        let (pending, considered) = pending_of(lake, schema, &index, plan)?;
        outcome.considered += considered;
        if pending.is_empty() {
            continue;
        }
        if spine.is_none() {
            let step = std::time::Instant::now();
            spine = Some(Spine::load(lake, &mut strings, reference)?);
            tracing::info!(
                seconds = step.elapsed().as_secs_f64(),
                "link: register read and standardised"
            );
        }
        let Some(sp) = spine.as_ref() else {
            return Err(Error::Internal("the register was not loaded".into()));
        };
        let reg_keys: Vec<&str> = sp.keys.iter().map(String::as_str).collect();
        let reg_raw: Vec<&str> = sp.raw_ids.iter().map(String::as_str).collect();
        let register_side = LinkSide {
            keys: &reg_keys,
            hashes: &sp.hashes,
            raw_ids: &reg_raw,
        };
        for p in &pending {
            let left = prepare(&p.recs, &mut strings, reference);
            let keys: Vec<&str> = p.keys.iter().map(String::as_str).collect();
            let raw: Vec<&str> = p
                .recs
                .iter()
                .map(|r| r.id_number.as_deref().unwrap_or(""))
                .collect();
            let side = LinkSide {
                keys: &keys,
                hashes: &p.hashes,
                raw_ids: &raw,
            };
            let step = std::time::Instant::now();
            let (r, rv) = index.link(
                &model,
                &left,
                &side,
                &sp.records,
                &register_side,
                &strings,
                &options.constraints,
                options.review_band,
            );
            for k in &keys {
                if let Some(w) = index.get(k).and_then(|e| e.match_weight) {
                    *hist.entry(((w / 2.0).floor() as i32) * 2).or_default() += 1;
                }
            }
            tracing::info!(
                seconds = step.elapsed().as_secs_f64(),
                records = keys.len(),
                dataset = %p.dataset,
                "link: records linked"
            );
            merge(&mut outcome, &r);
            *outcome.per_dataset.entry(p.dataset.clone()).or_default() += r.records;
            reviews.extend(rv);
        }
    }
    outcome.weight_histogram = hist.into_iter().collect();
    outcome.persons = index.persons() as u64;
    outcome.records_indexed = index.len() as u64;
    // A night that linked nothing leaves the saved index as it is.
    if outcome.linked > 0 || outcome.review_relinks > 0 || !state.index_path().exists() {
        let step = std::time::Instant::now();
        state.save_changes(&mut index)?;
        tracing::info!(
            seconds = step.elapsed().as_secs_f64(),
            "link: person index saved"
        );
    }
    // Only once the index is saved: a crash in between reads those partitions again, and the
    // row hashes keep that from linking anything twice.
    if now_seen != seen {
        state.save_seen_runs(&now_seen)?;
    }
    Ok((outcome, index, reviews))
}

/// What of a dataset the person index has not taken in yet.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Unseen {
    /// Every partition was linked before.
    Nothing,
    /// The partitions of these ingest runs are new, and later than every run linked before.
    Runs(BTreeSet<String>),
    /// Read the current state of the whole dataset (the first night; a full-extract dataset
    /// with a new delivery; a partition of an earlier run committed late, where only a whole
    /// read puts each record's versions in order; a review decision to honour).
    Everything,
}

/// The ingest runs whose partitions a dataset's current state is read from.
fn current_runs(lake: &Lake, department: &str, dataset: &str) -> Result<BTreeSet<String>, Error> {
    let parts = lake
        .partitions(Zone::Raw, department, dataset, &PartitionFilter::default())
        .map_err(|e| Error::Stage {
            stage: "link",
            reason: e.to_string(),
        })?;
    let mut runs: BTreeSet<String> = parts.into_iter().map(|p| p.manifest.run_id).collect();
    if full_extract(department) {
        runs = runs.pop_last().into_iter().collect();
    }
    Ok(runs)
}

/// Compares a dataset's current runs with those linked before.
fn unseen(current: &BTreeSet<String>, seen: Option<&BTreeSet<String>>, forced: bool) -> Unseen {
    let Some(seen) = seen else {
        return Unseen::Everything;
    };
    let new: BTreeSet<String> = current.difference(seen).cloned().collect();
    match (new.first(), seen.last()) {
        _ if forced => Unseen::Everything,
        (None, _) => Unseen::Nothing,
        (Some(first_new), Some(last_seen)) if first_new < last_seen => Unseen::Everything,
        _ => Unseen::Runs(new),
    }
}

/// The identity columns of the 公安 register.
const REGISTER_COLUMNS: [&str; 7] = [
    "name",
    "former_name",
    "id_number",
    "birth_date",
    "gender",
    "address",
    "phone",
];

/// The whole register, standardised: the target every department record is linked against.
struct Spine {
    records: Records,
    keys: Vec<String>,
    hashes: Vec<u64>,
    /// ID numbers as delivered (to tell exact from normalised agreement).
    raw_ids: Vec<String>,
}

impl Spine {
    fn load(
        lake: &Lake,
        strings: &mut Interner,
        reference: Option<NaiveDate>,
    ) -> Result<Spine, Error> {
        let rows = read_current(lake, "gongan", "population", &REGISTER_COLUMNS, None)?;
        let (recs, keys, at) = identity_records(&rows, "", "gongan/population", "");
        let hashes = at.iter().map(|&r| rows.hashes[r]).collect();
        drop(rows);
        let records = prepare(&recs, strings, reference);
        let raw_ids = recs
            .into_iter()
            .map(|r| r.id_number.unwrap_or_default())
            .collect();
        Ok(Spine {
            records,
            keys,
            hashes,
            raw_ids,
        })
    }
}

/// The new and changed records of one dataset, role by role, and how many records it has.
fn pending_of(
    lake: &Lake,
    schema: &DatasetSchema,
    index: &PersonIndex,
    plan: &Unseen,
) -> Result<(Vec<Pending>, u64), Error> {
    let runs = match plan {
        Unseen::Nothing => return Ok((Vec::new(), 0)),
        Unseen::Runs(r) => Some(r),
        Unseen::Everything => None,
    };
    let mut cols: Vec<String> = Vec::new();
    let rs = roles(schema);
    for role in &rs {
        cols.push(format!("{}name", role.prefix));
        cols.push(format!("{}id_number", role.prefix));
    }
    for c in ["birth_date", "gender", "address", "phone", "former_name"] {
        if schema.column(c).is_some() {
            cols.push(c.to_owned());
        }
    }
    let col_refs: Vec<&str> = cols.iter().map(String::as_str).collect();
    let key_prefix = format!("{}/{}", schema.department, schema.dataset);
    // Only records new or changed in some role are materialised: on a quiet night that is a
    // small fraction of the dataset.
    let role_keys = RoleKeys::new(&schema.department, &schema.dataset, &rs);
    let keep = |id: &str, h: u64| role_keys.any(id, |k| index.needs_linking(k, h));
    let rows = read_current_impl(
        lake,
        &schema.department,
        &schema.dataset,
        &Read {
            runs,
            ..Read::new(&col_refs)
        },
        &|id, h, _| keep(id, h),
    )?;
    let mut out = Vec::new();
    let mut considered = rows.skipped * rs.len() as u64;
    for role in &rs {
        let (recs, keys, rows_of) = identity_records(&rows, role.prefix, &key_prefix, &role.suffix);
        considered += recs.len() as u64;
        let mut p = Pending {
            dataset: key_prefix.clone(),
            recs: Vec::new(),
            keys: Vec::new(),
            hashes: Vec::new(),
        };
        for ((rec, key), row) in recs.into_iter().zip(keys).zip(rows_of) {
            let h = rows.hashes[row];
            if index.needs_linking(&key, h) {
                p.recs.push(rec);
                p.keys.push(key);
                p.hashes.push(h);
            }
        }
        if !p.recs.is_empty() {
            out.push(p);
        }
    }
    Ok((out, considered))
}

fn merge(outcome: &mut LinkOutcome, r: &LinkReport) {
    outcome.linked += r.records;
    outcome.new_persons += r.new_persons;
    outcome.moved += r.moved;
    for (k, v) in &r.by_kind {
        *outcome.by_kind.entry(k.clone()).or_default() += v;
    }
}

/// Records of one dataset role waiting to be linked.
struct Pending {
    dataset: String,
    recs: Vec<InputRecord>,
    keys: Vec<String>,
    hashes: Vec<u64>,
}

/// A deterministic sample of up to `n` pending records, spread over all datasets.
fn sample_records(pending: &[Pending], n: usize, seed: u64) -> Vec<InputRecord> {
    let total: usize = pending.iter().map(|p| p.recs.len()).sum();
    if total <= n {
        return pending
            .iter()
            .flat_map(|p| p.recs.iter().cloned())
            .collect();
    }
    // Every k-th record from an offset derived from the seed: deterministic and even.
    let step = total.div_ceil(n.max(1));
    let offset = (seed as usize) % step;
    pending
        .iter()
        .flat_map(|p| p.recs.iter())
        .skip(offset)
        .step_by(step)
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::current::{hash64, read_current_by_id, read_current_where};
    use crate::state::parquet_rows;
    use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray, new_null_array};
    use hedui_lake::StagedRun;
    use hedui_linkage::index::{IndexEntry, LinkKind};
    use std::sync::Arc;

    /// Delivers `(record_id, row_hash, name)` rows of the 公安 register as one ingest run.
    fn deliver(lake: &Lake, run: &str, rows: &[(&str, &str, &str)]) {
        let catalog = Catalog::builtin().unwrap();
        let schema = catalog.dataset("gongan", "population").unwrap();
        let mut staged = StagedRun::begin(lake, "gongan-pop", schema, run, "2021-06-30").unwrap();
        let target = staged.schema(Zone::Raw);
        let text = |f: &dyn Fn(&(&str, &str, &str)) -> String| -> ArrayRef {
            Arc::new(StringArray::from(rows.iter().map(f).collect::<Vec<_>>()))
        };
        let columns: Vec<ArrayRef> = target
            .fields()
            .iter()
            .map(|field| match field.name().as_str() {
                "_source_record_id" => text(&|r| r.0.to_owned()),
                "_row_hash" => text(&|r| r.1.to_owned()),
                "name" => text(&|r| r.2.to_owned()),
                "_source" => text(&|_| "gongan-pop".to_owned()),
                "_ingest_run" => text(&|_| run.to_owned()),
                "_seq" => Arc::new(Int64Array::from_iter_values(0..rows.len() as i64)),
                _ => new_null_array(field.data_type(), rows.len()),
            })
            .collect();
        let batch = RecordBatch::try_new(target, columns).unwrap();
        staged.write_part(Zone::Raw, &batch).unwrap();
        staged.checkpoint(None, Vec::new()).unwrap();
        staged.finalize().unwrap();
    }

    fn names(rows: &CurrentRows) -> Vec<(String, Option<String>)> {
        let name = rows.column("name").unwrap();
        rows.record_ids
            .iter()
            .cloned()
            .zip(name.iter().cloned())
            .collect()
    }

    #[test]
    fn the_index_is_saved_as_change_files_and_loads_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let state = LinkState::new(dir.path());
        let entry = |person: u64, row_hash: u64| IndexEntry {
            person,
            row_hash,
            kind: LinkKind::ExactId,
            probability: 1.0,
            match_weight: None,
            register_key: None,
        };
        let mut entries: Vec<(String, IndexEntry)> = (0..100)
            .map(|i| (format!("renshe/pensions/R{i:03}"), entry(i + 2, 9)))
            .collect();
        entries.push(("gongan/population/G1".into(), entry(1, 9)));
        entries.push(("renshe/pensions/X1".into(), entry(1, 9)));
        let mut index = PersonIndex::from_parts(entries.clone(), vec![([b'1'; 18], 1)]);
        // The first save is the whole index.
        state.save_changes(&mut index).unwrap();
        assert!(state.index_path().exists());
        assert!(state.deltas().unwrap().is_empty());

        // A review decision changes one entry: saved as a change file of one row.
        let cannot = Constraint {
            record_key: "renshe/pensions/X1".into(),
            register_key: "gongan/population/G1".into(),
            same_person: false,
        };
        assert_eq!(index.mark_contradicted(&[cannot]).len(), 1);
        state.save_changes(&mut index).unwrap();
        let deltas = state.deltas().unwrap();
        assert_eq!(deltas.len(), 1);
        assert_eq!(parquet_rows(&deltas[0].1).unwrap(), 1);
        let loaded = state.load_index().unwrap();
        assert_eq!(loaded.entries_sorted(), index.entries_sorted());
        assert_eq!(loaded.ids_sorted(), index.ids_sorted());
        assert!(loaded.needs_linking("renshe/pensions/X1", 9));
        assert_eq!(
            loaded.pending_changes(),
            (0, 0),
            "a loaded index has nothing to save"
        );

        // A compaction whose clean-up did not happen: the base holds change 1 and a newer
        // state of X1; the left-over change file must not roll X1 back.
        let kept = fs::read(&deltas[0].1).unwrap();
        let mut newer = entries.clone();
        newer.last_mut().unwrap().1.row_hash = 7;
        state
            .save_index(&PersonIndex::from_parts(newer, vec![([b'1'; 18], 1)]))
            .unwrap();
        assert!(state.deltas().unwrap().is_empty(), "change files removed");
        fs::create_dir_all(state.delta_dir()).unwrap();
        fs::write(&deltas[0].1, kept).unwrap();
        let loaded = state.load_index().unwrap();
        assert_eq!(loaded.get("renshe/pensions/X1").unwrap().row_hash, 7);
    }

    #[test]
    fn the_latest_delivery_wins_and_a_filter_sees_only_it() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path());
        // Hashes are hex, as ingestion writes them; "a…" < "b…" < "c…" fold to 0xa…, 0xb…, 0xc….
        let (h1, h2, h3) = ("a".repeat(64), "b".repeat(64), "c".repeat(64));
        deliver(
            &lake,
            "run-1",
            &[
                ("R1", &h1, "王伟"),
                ("R2", &h1, "李娜"),
                ("R3", &h1, "张敏"),
            ],
        );
        deliver(
            &lake,
            "run-2",
            &[("R2", &h2, "李娜娜"), ("R4", &h2, "刘洋")],
        );
        // R3 is delivered again, and within the run R1 twice: the later row counts.
        deliver(
            &lake,
            "run-3",
            &[
                ("R3", &h3, "张敏敏"),
                ("R1", &h2, "王伟一"),
                ("R1", &h3, "王伟二"),
            ],
        );
        let cols = ["name"];
        let all = read_current(&lake, "gongan", "population", &cols, None).unwrap();
        assert_eq!(
            names(&all),
            vec![
                ("R1".into(), Some("王伟二".into())),
                ("R2".into(), Some("李娜娜".into())),
                ("R3".into(), Some("张敏敏".into())),
                ("R4".into(), Some("刘洋".into())),
            ]
        );
        assert_eq!(all.skipped, 0);
        let folded = |h: &str| hash64(h);
        assert_eq!(all.hashes[0], folded(&h3));

        // Keeping versions by hash: R1's kept run-3 version is overridden by nothing, R3's
        // kept run-1 version is superseded by a run-3 version the filter drops.
        let keep_h1_or_h3 = |_: &str, h: u64| h == folded(&h1) || h == folded(&h3);
        let some =
            read_current_where(&lake, "gongan", "population", &cols, None, &keep_h1_or_h3).unwrap();
        // R1 (latest h3: kept), R2 (latest h2: skipped), R3 (latest h3: kept), R4 (h2: skipped).
        assert_eq!(
            names(&some),
            vec![
                ("R1".into(), Some("王伟二".into())),
                ("R3".into(), Some("张敏敏".into())),
            ]
        );
        assert_eq!(some.skipped, 2);
        assert_eq!(some.len() as u64 + some.skipped, all.len() as u64);

        // A version kept early and superseded by a dropped one is not current.
        let keep_h1 = |_: &str, h: u64| h == folded(&h1);
        let early =
            read_current_where(&lake, "gongan", "population", &cols, None, &keep_h1).unwrap();
        assert!(early.is_empty(), "{:?}", names(&early));
        assert_eq!(early.skipped, 4);

        // By id alone, without hashes.
        let by_id =
            read_current_by_id(&lake, "gongan", "population", &cols, &|id| id == "R2").unwrap();
        assert_eq!(names(&by_id), vec![("R2".into(), Some("李娜娜".into()))]);
        assert_eq!(by_id.hashes, vec![0]);
        assert_eq!(by_id.skipped, 3);

        // Up to a run: what stood after run-2.
        let then = read_current(&lake, "gongan", "population", &cols, Some("run-2")).unwrap();
        assert_eq!(then.len(), 4);
        assert_eq!(names(&then)[0].1.as_deref(), Some("王伟"));
    }
}
