//! The link stage: the current state of every person-bearing dataset is read from the lake's
//! raw zone, the 公安 register is the spine, and only new and changed records (by `_row_hash`)
//! are standardised and linked into the person index ([`hedui_linkage::index`]).
//!
//! A record can carry several persons (a birth certificate: mother and father; a property
//! title: its owner). Each is linked under its own key `department/dataset/record_id#role`
//! (no suffix for the record's own subject).

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use chrono::NaiveDate;
use hedui_lake::{Lake, PartitionFilter, Zone};
use hedui_linkage::index::{
    Constraint, IndexEntry, LinkKind, LinkReport, LinkSide, PersonIndex, ReviewCandidate,
    kind_from_name, kind_name,
};
use hedui_linkage::model::Model;
use hedui_linkage::record::{InputRecord, Interner, prepare};
use hedui_linkage::train::{TrainSettings, train_unsupervised};
use hedui_model::{Catalog, DatasetSchema};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::run::write_atomic;

/// The identity roles a dataset's columns can describe: the prefix of `id_number`/`name`.
const ROLES: [&str; 6] = ["", "owner_", "mother_", "father_", "applicant_", "signer_"];

/// One identity role of a dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    /// Column prefix (`""`, `owner_` …).
    pub prefix: &'static str,
    /// Key suffix (`""` or `#owner` …).
    pub suffix: String,
}

/// The identity roles of a dataset: prefixes with both a name and an ID-number column.
pub fn roles(schema: &DatasetSchema) -> Vec<Role> {
    ROLES
        .iter()
        .filter(|p| {
            schema.column(&format!("{p}name")).is_some()
                && schema.column(&format!("{p}id_number")).is_some()
        })
        .map(|p| Role {
            prefix: p,
            suffix: if p.is_empty() {
                String::new()
            } else {
                format!("#{}", p.trim_end_matches('_'))
            },
        })
        .collect()
}

/// The current rows of a dataset: every record's latest delivery (later partitions win).
#[derive(Debug, Default)]
pub struct CurrentRows {
    /// Column names.
    pub names: Vec<String>,
    /// Column-major text values of the latest version of each record, in record-key order.
    pub columns: Vec<Vec<Option<String>>>,
    /// `_source_record_id` of each row.
    pub record_ids: Vec<String>,
    /// `_row_hash` of each row, folded to 64 bits.
    pub hashes: Vec<u64>,
    /// The extract (ingest) date of each row's latest delivery.
    pub ingest_dates: Vec<String>,
    /// The run that delivered each row.
    pub runs: Vec<String>,
}

impl CurrentRows {
    /// A column by name.
    pub fn column(&self, name: &str) -> Option<&[Option<String>]> {
        self.names
            .iter()
            .position(|n| n == name)
            .map(|i| self.columns[i].as_slice())
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.record_ids.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.record_ids.is_empty()
    }
}

fn hash64(hex: &str) -> u64 {
    let h = hex.get(..16).unwrap_or(hex);
    u64::from_str_radix(h, 16).unwrap_or_else(|_| {
        // Not hex (a hand-made lake): fold the bytes instead.
        hex.bytes().fold(0xcbf2_9ce4_8422_2325u64, |a, b| {
            (a ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        })
    })
}

/// Whether a dataset is delivered as a full extract each time (the roster): then its current
/// state is the latest delivery alone — a case missing from it has left the roster. Other
/// datasets accumulate: a record, once delivered, stays until a later delivery changes it.
pub fn full_extract(department: &str) -> bool {
    department == "minzheng"
}

/// Reads the current rows of a dataset from the raw zone, keeping only `columns` (canonical
/// names) besides the lineage.
pub fn read_current(
    lake: &Lake,
    department: &str,
    dataset: &str,
    columns: &[&str],
    up_to_run: Option<&str>,
) -> Result<CurrentRows, Error> {
    let filter = PartitionFilter {
        up_to_run: up_to_run.map(str::to_owned),
        ..Default::default()
    };
    let mut parts = lake
        .partitions(Zone::Raw, department, dataset, &filter)
        .map_err(|e| Error::Stage {
            stage: "link",
            reason: e.to_string(),
        })?;
    if full_extract(department)
        && let Some(last) = parts.iter().map(|p| p.manifest.run_id.clone()).max()
    {
        parts.retain(|p| p.manifest.run_id == last);
    }
    // record id → row position in the output; later partitions overwrite earlier ones.
    let mut pos: FxHashMap<String, usize> = FxHashMap::default();
    let mut out = CurrentRows {
        names: columns.iter().map(|c| (*c).to_owned()).collect(),
        columns: vec![Vec::new(); columns.len()],
        ..Default::default()
    };
    for p in parts {
        let date = p.manifest.ingest_date.clone();
        let run = p.manifest.run_id.clone();
        let dir = p.dir.clone();
        p.for_each_batch(|batch| {
            let schema = batch.schema();
            let col = |name: &str| schema.index_of(name).ok().map(|i| batch.column(i).clone());
            let rid = col("_source_record_id");
            let hash = col("_row_hash");
            let wanted: Vec<Option<ArrayRef>> = columns.iter().map(|c| col(c)).collect();
            // One formatter per column and batch (dates as YYYY-MM-DD, numbers as written).
            let opts = FormatOptions::default();
            let fmts: Vec<Option<(ArrayFormatter<'_>, &ArrayRef)>> = wanted
                .iter()
                .map(|a| {
                    a.as_ref().and_then(|a| {
                        ArrayFormatter::try_new(a.as_ref(), &opts)
                            .ok()
                            .map(|f| (f, a))
                    })
                })
                .collect();
            let (Some(rid), Some(hash)) = (rid, hash) else {
                return Err(hedui_lake::Error::Corrupt {
                    path: dir.clone(),
                    message: "partition without lineage columns".into(),
                });
            };
            let rid = rid.as_any().downcast_ref::<StringArray>().cloned();
            let hash = hash.as_any().downcast_ref::<StringArray>().cloned();
            let (Some(rid), Some(hash)) = (rid, hash) else {
                return Err(hedui_lake::Error::Corrupt {
                    path: dir.clone(),
                    message: "lineage columns are not text".into(),
                });
            };
            for i in 0..batch.num_rows() {
                if rid.is_null(i) {
                    continue;
                }
                let id = rid.value(i);
                let values: Vec<Option<String>> = fmts
                    .iter()
                    .map(|f| {
                        f.as_ref().and_then(|(f, a)| {
                            if a.is_null(i) {
                                return None;
                            }
                            let s = f.value(i).to_string();
                            (!s.is_empty()).then_some(s)
                        })
                    })
                    .collect();
                let h = hash64(if hash.is_null(i) { "" } else { hash.value(i) });
                match pos.get(id) {
                    Some(&k) => {
                        for (c, v) in values.into_iter().enumerate() {
                            out.columns[c][k] = v;
                        }
                        out.hashes[k] = h;
                        out.ingest_dates[k] = date.clone();
                        out.runs[k] = run.clone();
                    }
                    None => {
                        pos.insert(id.to_owned(), out.record_ids.len());
                        for (c, v) in values.into_iter().enumerate() {
                            out.columns[c].push(v);
                        }
                        out.record_ids.push(id.to_owned());
                        out.hashes.push(h);
                        out.ingest_dates.push(date.clone());
                        out.runs.push(run.clone());
                    }
                }
            }
            Ok(())
        })
        .map_err(|e| Error::Stage {
            stage: "link",
            reason: e.to_string(),
        })?;
    }
    Ok(out)
}

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

/// Where the link stage keeps its state: `<data_dir>/state/`.
#[derive(Debug, Clone)]
pub struct LinkState {
    dir: PathBuf,
}

impl LinkState {
    /// State under `data_dir/state`.
    pub fn new(data_dir: &Path) -> LinkState {
        LinkState {
            dir: data_dir.join("state"),
        }
    }

    fn model_path(&self) -> PathBuf {
        self.dir.join("linkage-model.json")
    }

    fn index_path(&self) -> PathBuf {
        self.dir.join("person-index.parquet")
    }

    fn ids_path(&self) -> PathBuf {
        self.dir.join("person-ids.parquet")
    }

    /// The saved model, if any.
    pub fn model(&self) -> Result<Option<Model>, Error> {
        let p = self.model_path();
        match fs::read_to_string(&p) {
            Ok(t) => Model::from_json(&t).map(Some).map_err(|e| Error::Corrupt {
                path: p,
                reason: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(&p, e)),
        }
    }

    /// Loads the person index (empty on the first night).
    pub fn load_index(&self) -> Result<PersonIndex, Error> {
        let (ip, dp) = (self.index_path(), self.ids_path());
        if !ip.exists() {
            return Ok(PersonIndex::new());
        }
        let mut entries = Vec::new();
        for batch in read_parquet(&ip)? {
            let s = |n: &str| -> Result<StringArray, Error> {
                batch
                    .column_by_name(n)
                    .and_then(|c| c.as_any().downcast_ref::<StringArray>().cloned())
                    .ok_or_else(|| corrupt(&ip, n))
            };
            let i = |n: &str| -> Result<Int64Array, Error> {
                batch
                    .column_by_name(n)
                    .and_then(|c| c.as_any().downcast_ref::<Int64Array>().cloned())
                    .ok_or_else(|| corrupt(&ip, n))
            };
            let f = |n: &str| -> Result<Float64Array, Error> {
                batch
                    .column_by_name(n)
                    .and_then(|c| c.as_any().downcast_ref::<Float64Array>().cloned())
                    .ok_or_else(|| corrupt(&ip, n))
            };
            let (key, person, hash, kind, prob, weight, reg) = (
                s("record_key")?,
                i("person")?,
                i("row_hash")?,
                s("kind")?,
                f("probability")?,
                f("match_weight")?,
                s("register_key")?,
            );
            for r in 0..batch.num_rows() {
                let kind: LinkKind =
                    kind_from_name(kind.value(r)).ok_or_else(|| corrupt(&ip, "kind"))?;
                entries.push((
                    key.value(r).to_owned(),
                    IndexEntry {
                        person: person.value(r) as u64,
                        row_hash: hash.value(r) as u64,
                        kind,
                        probability: prob.value(r),
                        match_weight: (!weight.is_null(r)).then(|| weight.value(r)),
                        register_key: (!reg.is_null(r)).then(|| reg.value(r).to_owned()),
                    },
                ));
            }
        }
        let mut ids = Vec::new();
        if dp.exists() {
            for batch in read_parquet(&dp)? {
                let id = batch
                    .column_by_name("id18")
                    .and_then(|c| c.as_any().downcast_ref::<StringArray>().cloned())
                    .ok_or_else(|| corrupt(&dp, "id18"))?;
                let person = batch
                    .column_by_name("person")
                    .and_then(|c| c.as_any().downcast_ref::<Int64Array>().cloned())
                    .ok_or_else(|| corrupt(&dp, "person"))?;
                for r in 0..batch.num_rows() {
                    let mut k = [0u8; 18];
                    let v = id.value(r).as_bytes();
                    if v.len() == 18 {
                        k.copy_from_slice(v);
                        ids.push((k, person.value(r) as u64));
                    }
                }
            }
        }
        Ok(PersonIndex::from_parts(entries, ids))
    }

    /// Saves the index atomically (both files are written to temporaries first).
    pub fn save_index(&self, index: &PersonIndex) -> Result<(), Error> {
        fs::create_dir_all(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        let entries = index.entries_sorted();
        let schema = Arc::new(Schema::new(vec![
            Field::new("record_key", DataType::Utf8, false),
            Field::new("person", DataType::Int64, false),
            Field::new("person_key", DataType::Utf8, false),
            Field::new("row_hash", DataType::Int64, false),
            Field::new("kind", DataType::Utf8, false),
            Field::new("probability", DataType::Float64, false),
            Field::new("match_weight", DataType::Float64, true),
            Field::new("register_key", DataType::Utf8, true),
        ]));
        let cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(entries.iter().map(|e| e.0))),
            Arc::new(Int64Array::from_iter_values(
                entries.iter().map(|e| e.1.person as i64),
            )),
            Arc::new(StringArray::from_iter_values(
                entries
                    .iter()
                    .map(|e| hedui_linkage::index::person_key(e.1.person)),
            )),
            Arc::new(Int64Array::from_iter_values(
                entries.iter().map(|e| e.1.row_hash as i64),
            )),
            Arc::new(StringArray::from_iter_values(
                entries.iter().map(|e| kind_name(e.1.kind)),
            )),
            Arc::new(Float64Array::from_iter_values(
                entries.iter().map(|e| e.1.probability),
            )),
            Arc::new(Float64Array::from_iter(
                entries.iter().map(|e| e.1.match_weight),
            )),
            Arc::new(StringArray::from_iter(
                entries.iter().map(|e| e.1.register_key.as_deref()),
            )),
        ];
        let batch = RecordBatch::try_new(schema, cols).map_err(Error::internal)?;
        write_parquet(&self.index_path(), &batch)?;
        let ids = index.ids_sorted();
        let schema = Arc::new(Schema::new(vec![
            Field::new("id18", DataType::Utf8, false),
            Field::new("person", DataType::Int64, false),
        ]));
        let cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(
                ids.iter()
                    .map(|(k, _)| String::from_utf8_lossy(k).into_owned()),
            )),
            Arc::new(Int64Array::from_iter_values(
                ids.iter().map(|(_, p)| *p as i64),
            )),
        ];
        let batch = RecordBatch::try_new(schema, cols).map_err(Error::internal)?;
        write_parquet(&self.ids_path(), &batch)
    }
}

fn corrupt(path: &Path, column: &str) -> Error {
    Error::Corrupt {
        path: path.to_owned(),
        reason: format!("column {column} missing or of the wrong type"),
    }
}

fn read_parquet(path: &Path) -> Result<Vec<RecordBatch>, Error> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.with_batch_size(65_536).build())
        .map_err(|e| Error::Corrupt {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
    reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Corrupt {
            path: path.to_owned(),
            reason: e.to_string(),
        })
}

/// Writes one batch as a Parquet file atomically.
pub fn write_parquet(path: &Path, batch: &RecordBatch) -> Result<(), Error> {
    let mut buf = Vec::new();
    {
        let mut w =
            ArrowWriter::try_new(&mut buf, batch.schema(), None).map_err(Error::internal)?;
        w.write(batch).map_err(Error::internal)?;
        w.close().map_err(Error::internal)?;
    }
    write_atomic(path, &buf)
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
    let mut index = state.load_index()?;
    let mut outcome = LinkOutcome::default();
    let reference = Some(options.as_of);

    // The spine.
    let pop_cols = [
        "name",
        "former_name",
        "id_number",
        "birth_date",
        "gender",
        "address",
        "phone",
    ];
    let register_rows = read_current(lake, "gongan", "population", &pop_cols, None)?;
    let (reg_recs, reg_keys, reg_rows) =
        identity_records(&register_rows, "", "gongan/population", "");
    let reg_hashes: Vec<u64> = reg_rows.iter().map(|&r| register_rows.hashes[r]).collect();
    drop(register_rows);
    let mut strings = Interner::new();
    let register = prepare(&reg_recs, &mut strings, reference);
    let reg_key_refs: Vec<&str> = reg_keys.iter().map(String::as_str).collect();
    let reg_raw: Vec<&str> = reg_recs
        .iter()
        .map(|r| r.id_number.as_deref().unwrap_or(""))
        .collect();
    let changed: Vec<usize> = (0..reg_recs.len())
        .filter(|&i| index.needs_linking(reg_key_refs[i], reg_hashes[i]))
        .collect();
    outcome.considered += reg_recs.len() as u64;
    let r = index.add_register(&register, &reg_key_refs, &reg_hashes, &changed);
    merge(&mut outcome, &r);
    outcome
        .per_dataset
        .insert("gongan/population".into(), r.records);
    let register_side = LinkSide {
        keys: &reg_key_refs,
        hashes: &reg_hashes,
        raw_ids: &reg_raw,
    };

    // Every other person-bearing dataset, role by role: only new and changed records. One
    // dataset is in memory at a time.
    let datasets = linked_datasets(catalog);

    // The model: trained once (first night) on a sample of the pending records of every
    // dataset against the register, then reused so links stay comparable from night to night.
    let model = match state.model()? {
        Some(m) => m,
        None => {
            let quota = options.train_sample / datasets.len().max(1);
            let mut sample: Vec<InputRecord> = Vec::new();
            for schema in &datasets {
                let pending = pending_of(lake, schema, &index)?.0;
                sample.extend(sample_records(&pending, quota, options.seed));
            }
            if sample.is_empty() || reg_recs.is_empty() {
                return Err(Error::Stage {
                    stage: "link",
                    reason: "nothing to train the linkage model on: the lake holds no register or no department records".into(),
                });
            }
            let left = prepare(&sample, &mut strings, reference);
            let mut m = train_unsupervised(
                &left,
                &register,
                false,
                &strings,
                &hedui_linkage::blocking::Blocking::default(),
                &TrainSettings {
                    seed: options.seed,
                    ..Default::default()
                },
            );
            let preds =
                hedui_linkage::predict::predict(&m, &left, &register, false, &strings, 0.01);
            m.threshold = hedui_linkage::predict::choose_threshold(&preds.pairs);
            fs::create_dir_all(&state.dir).map_err(|e| Error::io(&state.dir, e))?;
            write_atomic(&state.model_path(), m.to_json().as_bytes())?;
            outcome.model_trained = true;
            m
        }
    };

    let mut reviews = Vec::new();
    let mut hist: BTreeMap<i32, u64> = BTreeMap::new();
    for schema in &datasets {
        let (pending, considered) = pending_of(lake, schema, &index)?;
        outcome.considered += considered;
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
            let (r, rv) = index.link(
                &model,
                &left,
                &side,
                &register,
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
            merge(&mut outcome, &r);
            *outcome.per_dataset.entry(p.dataset.clone()).or_default() += r.records;
            reviews.extend(rv);
        }
    }
    outcome.weight_histogram = hist.into_iter().collect();
    outcome.persons = index.persons() as u64;
    outcome.records_indexed = index.len() as u64;
    state.save_index(&index)?;
    Ok((outcome, index, reviews))
}

/// The new and changed records of one dataset, role by role, and how many records it has.
fn pending_of(
    lake: &Lake,
    schema: &DatasetSchema,
    index: &PersonIndex,
) -> Result<(Vec<Pending>, u64), Error> {
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
    let rows = read_current(lake, &schema.department, &schema.dataset, &col_refs, None)?;
    let key_prefix = format!("{}/{}", schema.department, schema.dataset);
    let mut out = Vec::new();
    let mut considered = 0u64;
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
