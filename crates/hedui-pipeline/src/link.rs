//! The link stage: the current state of every person-bearing dataset is read from the lake's
//! raw zone, the 公安 register is the spine, and only new and changed records (by `_row_hash`)
//! are standardised and linked into the person index ([`hedui_linkage::index`]).
//!
//! A record can carry several persons (a birth certificate: mother and father; a property
//! title: its owner). Each is linked under its own key `department/dataset/record_id#role`
//! (no suffix for the record's own subject).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use chrono::NaiveDate;
use hedui_lake::{Lake, PartitionFilter, Zone};
use hedui_linkage::index::{
    Constraint, IndexChanges, IndexEntry, LinkKind, LinkReport, LinkSide, PersonIndex,
    ReviewCandidate, kind_from_name, kind_name,
};
use hedui_linkage::model::Model;
use hedui_linkage::record::{InputRecord, Interner, Records, prepare};
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

/// Builds the index keys of a record's roles (`department/dataset/record_id#role`) in one
/// reused buffer: for filters that run on every row of a dataset.
#[derive(Debug)]
pub struct RoleKeys {
    prefix: String,
    suffixes: Vec<String>,
    buf: std::cell::RefCell<String>,
}

impl RoleKeys {
    /// The keys of `roles` of `department/dataset` records.
    pub fn new(department: &str, dataset: &str, roles: &[Role]) -> RoleKeys {
        RoleKeys {
            prefix: format!("{department}/{dataset}/"),
            suffixes: roles.iter().map(|r| r.suffix.clone()).collect(),
            buf: std::cell::RefCell::new(String::new()),
        }
    }

    /// Whether `test` holds for the key of some role of record `id`.
    pub fn any(&self, id: &str, mut test: impl FnMut(&str) -> bool) -> bool {
        let mut b = self.buf.borrow_mut();
        self.suffixes.iter().any(|suffix| {
            b.clear();
            b.push_str(&self.prefix);
            b.push_str(id);
            b.push_str(suffix);
            test(&b)
        })
    }
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
    /// Current records the caller's filter left out (not materialised).
    pub skipped: u64,
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
    read_current_where(lake, department, dataset, columns, up_to_run, &|_, _| true)
}

/// [`read_current`] keeping only the records whose latest version passes `keep(record_id,
/// row_hash)`; the others are counted in [`CurrentRows::skipped`]. Only the lineage columns of
/// every row are decoded; the values of the kept rows alone, so a selective filter costs
/// little more than reading the record ids.
pub fn read_current_where(
    lake: &Lake,
    department: &str,
    dataset: &str,
    columns: &[&str],
    up_to_run: Option<&str>,
    keep: &dyn Fn(&str, u64) -> bool,
) -> Result<CurrentRows, Error> {
    let read = Read {
        up_to_run,
        ..Read::new(columns)
    };
    read_current_impl(lake, department, dataset, &read, &|id, h, _| keep(id, h))
}

/// [`read_current_where`] without the row hashes (all zero in the result, and `keep` is given
/// zero): for readers that select by record id alone, which then decode only the ids.
pub fn read_current_by_id(
    lake: &Lake,
    department: &str,
    dataset: &str,
    columns: &[&str],
    keep: &dyn Fn(&str) -> bool,
) -> Result<CurrentRows, Error> {
    let read = Read {
        with_hash: false,
        ..Read::new(columns)
    };
    read_current_impl(lake, department, dataset, &read, &|id, _, _| keep(id))
}

/// [`read_current_by_id`] whose filter also sees the values of `filter_columns` (text
/// columns; `None` for a null or a column the partition lacks): `keep(record_id, values)`.
/// Those columns are decoded for every row, the others for the kept rows only.
pub fn read_current_by_values(
    lake: &Lake,
    department: &str,
    dataset: &str,
    columns: &[&str],
    filter_columns: &[&str],
    keep: &dyn Fn(&str, &[Option<&str>]) -> bool,
) -> Result<CurrentRows, Error> {
    let read = Read {
        with_hash: false,
        filter_columns,
        ..Read::new(columns)
    };
    read_current_impl(lake, department, dataset, &read, &|id, _, v| keep(id, v))
}

/// What [`read_current_impl`] reads.
struct Read<'a> {
    /// The value columns of the kept rows.
    columns: &'a [&'a str],
    /// Only partitions of runs up to this one.
    up_to_run: Option<&'a str>,
    /// Only partitions of these ingest runs.
    runs: Option<&'a BTreeSet<String>>,
    /// Decode the row hashes (for the filter and the result).
    with_hash: bool,
    /// Text columns decoded for every row and handed to the filter.
    filter_columns: &'a [&'a str],
}

impl<'a> Read<'a> {
    fn new(columns: &'a [&'a str]) -> Read<'a> {
        Read {
            columns,
            up_to_run: None,
            runs: None,
            with_hash: true,
            filter_columns: &[],
        }
    }
}

/// A row filter of [`read_current_impl`]: `keep(record_id, row_hash, filter_values)`.
type Keep<'a> = dyn Fn(&str, u64, &[Option<&str>]) -> bool + 'a;

/// The reader behind the `read_current*` functions: `keep` decides which records' values are
/// read.
fn read_current_impl(
    lake: &Lake,
    department: &str,
    dataset: &str,
    read: &Read<'_>,
    keep: &Keep<'_>,
) -> Result<CurrentRows, Error> {
    let Read {
        columns,
        up_to_run,
        runs,
        with_hash,
        filter_columns,
    } = *read;
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
    if let Some(runs) = runs {
        parts.retain(|p| runs.contains(&p.manifest.run_id));
    }
    let mut st = std::cell::RefCell::new(Current {
        several: parts.len() > 1,
        out: CurrentRows {
            names: columns.iter().map(|c| (*c).to_owned()).collect(),
            columns: vec![Vec::new(); columns.len()],
            ..Default::default()
        },
        ..Default::default()
    });
    const LINEAGE: [&str; 2] = ["_source_record_id", "_row_hash"];
    let lineage: Vec<&str> = if with_hash {
        &LINEAGE[..]
    } else {
        &LINEAGE[..1]
    }
    .iter()
    .chain(filter_columns)
    .copied()
    .collect();
    for p in parts {
        let dir = p.dir.clone();
        let corrupt = |message: &str| hedui_lake::Error::Corrupt {
            path: dir.clone(),
            message: message.into(),
        };
        p.for_each_selected(
            &lineage,
            columns,
            |batch| {
                let text = |name: &str| {
                    batch
                        .column_by_name(name)
                        .and_then(|a| a.as_any().downcast_ref::<StringArray>().cloned())
                };
                let rid = text(LINEAGE[0]);
                let hash = text(LINEAGE[1]);
                let (Some(rid), true) = (rid, hash.is_some() || !with_hash) else {
                    return Err(corrupt("partition without text lineage columns"));
                };
                let filters: Vec<Option<StringArray>> =
                    filter_columns.iter().map(|c| text(c)).collect();
                let mut values: Vec<Option<&str>> = vec![None; filters.len()];
                let mut st = st.borrow_mut();
                Ok((0..batch.num_rows())
                    .map(|i| {
                        if rid.is_null(i) {
                            return false;
                        }
                        let id = rid.value(i);
                        let h = match &hash {
                            Some(hash) if !hash.is_null(i) => hash64(hash.value(i)),
                            Some(_) => hash64(""),
                            None => 0,
                        };
                        for (v, a) in values.iter_mut().zip(&filters) {
                            *v = a.as_ref().filter(|a| !a.is_null(i)).map(|a| a.value(i));
                        }
                        st.decide(id, h, keep(id, h, &values))
                    })
                    .collect())
            },
            |batch| {
                // One formatter per column and batch (dates as YYYY-MM-DD, numbers as written).
                let opts = FormatOptions::default();
                let wanted: Vec<Option<&ArrayRef>> =
                    columns.iter().map(|c| batch.column_by_name(c)).collect();
                let fmts: Vec<Option<(ArrayFormatter<'_>, &ArrayRef)>> = wanted
                    .iter()
                    .map(|a| {
                        a.and_then(|a| {
                            ArrayFormatter::try_new(a.as_ref(), &opts)
                                .ok()
                                .map(|f| (f, a))
                        })
                    })
                    .collect();
                let mut st = st.borrow_mut();
                for i in 0..batch.num_rows() {
                    let Some(k) = st.next_slot() else {
                        return Err(corrupt("more selected rows than were selected"));
                    };
                    for (c, f) in fmts.iter().enumerate() {
                        st.out.columns[c][k] = f.as_ref().and_then(|(f, a)| {
                            if a.is_null(i) {
                                return None;
                            }
                            let s = f.value(i).to_string();
                            (!s.is_empty()).then_some(s)
                        });
                    }
                }
                Ok(())
            },
        )
        .map_err(|e| Error::Stage {
            stage: "link",
            reason: e.to_string(),
        })?;
        st.get_mut().queue.clear();
    }
    Ok(st.into_inner().finish())
}

/// Keeps the elements of `v` whose mark is false.
fn retain_unmarked<T>(v: &mut Vec<T>, marks: &[bool]) {
    let mut k = 0;
    v.retain(|_| {
        k += 1;
        !marks[k - 1]
    });
}

/// The bookkeeping of [`read_current_where`]: which slot each record id holds, which slots a
/// later filtered-out version dropped, and the slots the selected rows of the part being read
/// go to, in order.
#[derive(Default)]
struct Current {
    out: CurrentRows,
    several: bool,
    pos: FxHashMap<String, usize>,
    dropped: Vec<bool>,
    queue: std::collections::VecDeque<usize>,
    /// Hashes of the ids of records seen only filtered out, for the skipped count (a hash
    /// collision can only make that count one short).
    seen_skipped: rustc_hash::FxHashSet<u64>,
}

impl Current {
    /// Records one delivered version; returns whether its values are to be read.
    fn decide(&mut self, id: &str, h: u64, keep: bool) -> bool {
        let id_hash = |id: &str| std::hash::BuildHasher::hash_one(&rustc_hash::FxBuildHasher, id);
        if !keep {
            match self.pos.get(id) {
                Some(&k) => self.dropped[k] = true,
                None if self.several => {
                    self.seen_skipped.insert(id_hash(id));
                }
                None => self.out.skipped += 1,
            }
            return false;
        }
        let k = match self.pos.get(id) {
            Some(&k) => {
                self.out.hashes[k] = h;
                self.dropped[k] = false;
                k
            }
            None => {
                if self.several {
                    self.seen_skipped.remove(&id_hash(id));
                }
                let k = self.out.record_ids.len();
                self.pos.insert(id.to_owned(), k);
                for c in &mut self.out.columns {
                    c.push(None);
                }
                self.out.record_ids.push(id.to_owned());
                self.out.hashes.push(h);
                self.dropped.push(false);
                k
            }
        };
        self.queue.push_back(k);
        true
    }

    fn next_slot(&mut self) -> Option<usize> {
        self.queue.pop_front()
    }

    fn finish(mut self) -> CurrentRows {
        let mut out = self.out;
        out.skipped += self.seen_skipped.len() as u64;
        let dropped = std::mem::take(&mut self.dropped);
        if dropped.iter().any(|&d| d) {
            out.skipped += dropped.iter().filter(|&&d| d).count() as u64;
            retain_unmarked(&mut out.record_ids, &dropped);
            retain_unmarked(&mut out.hashes, &dropped);
            for c in &mut out.columns {
                retain_unmarked(c, &dropped);
            }
        }
        out
    }
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

    fn seen_path(&self) -> PathBuf {
        self.dir.join("linked-runs.json")
    }

    /// The ingest runs whose partitions the saved index has taken in, per `department/dataset`.
    fn seen_runs(&self) -> Result<BTreeMap<String, BTreeSet<String>>, Error> {
        let p = self.seen_path();
        match fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| Error::Corrupt {
                path: p.clone(),
                reason: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(Error::io(&p, e)),
        }
    }

    fn save_seen_runs(&self, seen: &BTreeMap<String, BTreeSet<String>>) -> Result<(), Error> {
        let json = serde_json::to_vec_pretty(seen).map_err(|e| Error::Internal(e.to_string()))?;
        write_atomic(&self.seen_path(), &json)
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

    /// Loads the saved index: the base files, then the change files written after them, in
    /// order (an empty index when none was saved).
    pub fn load_index(&self) -> Result<PersonIndex, Error> {
        let (ip, dp) = (self.index_path(), self.ids_path());
        if !ip.exists() {
            return Ok(PersonIndex::new());
        }
        // Batch by batch straight into the map: ten million entries in a city of two million.
        let mut index = PersonIndex::new();
        index.reserve(parquet_rows(&ip)? as usize);
        let base_seq = for_each_saved_batch(&ip, true, |batch| {
            index.apply(IndexChanges {
                entries: entries_of(&batch, &ip)?,
                ids: Vec::new(),
            });
            Ok(())
        })?;
        if dp.exists() {
            for_each_saved_batch(&dp, false, |batch| {
                index.apply(IndexChanges {
                    entries: Vec::new(),
                    ids: ids_of(&batch, &dp)?,
                });
                Ok(())
            })?;
        }
        for (seq, entries_path, ids_path) in self.deltas()? {
            if seq <= base_seq {
                continue; // already in the base (a compaction that was not cleaned up)
            }
            let mut changes = IndexChanges::default();
            if ids_path.exists() {
                for batch in read_parquet(&ids_path)? {
                    changes.ids.extend(ids_of(&batch, &ids_path)?);
                }
            }
            for batch in read_parquet(&entries_path)? {
                changes.entries.extend(entries_of(&batch, &entries_path)?);
            }
            index.apply(changes);
        }
        // What was loaded is saved: nothing has changed yet.
        index.take_changes();
        Ok(index)
    }

    /// The change files, by sequence number: (seq, entries file, ID-lookup file). A change is
    /// there once its entries file is (the lookups are written first).
    fn deltas(&self) -> Result<Vec<(u64, PathBuf, PathBuf)>, Error> {
        let dir = self.delta_dir();
        let rd = match fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(&dir, e)),
        };
        let mut out = Vec::new();
        for entry in rd {
            let name = entry.map_err(|e| Error::io(&dir, e))?.file_name();
            let name = name.to_string_lossy();
            if let Some(seq) = name
                .strip_suffix(".entries.parquet")
                .and_then(|n| n.parse::<u64>().ok())
            {
                out.push((
                    seq,
                    dir.join(name.as_ref()),
                    dir.join(format!("{seq:08}.ids.parquet")),
                ));
            }
        }
        out.sort();
        Ok(out)
    }

    fn delta_dir(&self) -> PathBuf {
        self.dir.join("index-changes")
    }

    /// Saves what changed in the index since it was loaded: a small change file on most nights,
    /// the whole index (compacted, change files removed) on the first night and when the
    /// change files have grown to a quarter of the index or to 30 files.
    pub fn save_changes(&self, index: &mut PersonIndex) -> Result<(), Error> {
        let deltas = self.deltas()?;
        let base_seq = if self.index_path().exists() {
            read_seq(&self.index_path())?
        } else {
            0
        };
        let live: Vec<&(u64, PathBuf, PathBuf)> =
            deltas.iter().filter(|d| d.0 > base_seq).collect();
        let delta_rows: u64 = live
            .iter()
            .map(|d| parquet_rows(&d.1))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .sum();
        let pending = index.pending_changes().0 as u64;
        if !self.index_path().exists()
            || live.len() >= 30
            || (delta_rows + pending) * 4 > index.len() as u64
        {
            index.take_changes();
            return self.save_index(index);
        }
        let changes = index.take_changes();
        if changes.entries.is_empty() && changes.ids.is_empty() {
            return Ok(());
        }
        let seq = deltas.last().map_or(0, |d| d.0).max(base_seq) + 1;
        let dir = self.delta_dir();
        fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let refs: Vec<(&str, &IndexEntry)> = changes
            .entries
            .iter()
            .map(|(k, e)| (k.as_str(), e))
            .collect();
        write_parquet(
            &dir.join(format!("{seq:08}.ids.parquet")),
            &ids_batch(&changes.ids)?,
        )?;
        write_parquet(
            &dir.join(format!("{seq:08}.entries.parquet")),
            &entries_batch(&refs)?,
        )
    }

    /// Saves the whole index atomically (both files are written to temporaries first), then
    /// removes the change files it now holds.
    pub fn save_index(&self, index: &PersonIndex) -> Result<(), Error> {
        fs::create_dir_all(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        let deltas = self.deltas()?;
        let covered = deltas.last().map_or(0, |d| d.0);
        write_parquet(&self.ids_path(), &ids_batch(&index.ids_sorted())?)?;
        write_parquet_with_seq(
            &self.index_path(),
            &entries_batch(&index.entries_sorted())?,
            Some(covered),
        )?;
        for (_, entries, ids) in deltas {
            for p in [entries, ids] {
                match fs::remove_file(&p) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(Error::io(&p, e)),
                }
            }
        }
        Ok(())
    }
}

fn corrupt(path: &Path, column: &str) -> Error {
    Error::Corrupt {
        path: path.to_owned(),
        reason: format!("column {column} missing or of the wrong type"),
    }
}

/// The saved form of index entries.
fn entries_batch(entries: &[(&str, &IndexEntry)]) -> Result<RecordBatch, Error> {
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
    RecordBatch::try_new(schema, cols).map_err(Error::internal)
}

/// The saved form of ID lookups.
fn ids_batch(ids: &[([u8; 18], u64)]) -> Result<RecordBatch, Error> {
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
    RecordBatch::try_new(schema, cols).map_err(Error::internal)
}

/// Index entries from a saved batch.
fn entries_of(batch: &RecordBatch, path: &Path) -> Result<Vec<(String, IndexEntry)>, Error> {
    let s = |n: &str| -> Result<StringArray, Error> {
        batch
            .column_by_name(n)
            .and_then(|c| c.as_any().downcast_ref::<StringArray>().cloned())
            .ok_or_else(|| corrupt(path, n))
    };
    let i = |n: &str| -> Result<Int64Array, Error> {
        batch
            .column_by_name(n)
            .and_then(|c| c.as_any().downcast_ref::<Int64Array>().cloned())
            .ok_or_else(|| corrupt(path, n))
    };
    let f = |n: &str| -> Result<Float64Array, Error> {
        batch
            .column_by_name(n)
            .and_then(|c| c.as_any().downcast_ref::<Float64Array>().cloned())
            .ok_or_else(|| corrupt(path, n))
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
    let mut out = Vec::with_capacity(batch.num_rows());
    for r in 0..batch.num_rows() {
        let kind: LinkKind = kind_from_name(kind.value(r)).ok_or_else(|| corrupt(path, "kind"))?;
        out.push((
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
    Ok(out)
}

/// ID lookups from a saved batch.
fn ids_of(batch: &RecordBatch, path: &Path) -> Result<Vec<([u8; 18], u64)>, Error> {
    let id = batch
        .column_by_name("id18")
        .and_then(|c| c.as_any().downcast_ref::<StringArray>().cloned())
        .ok_or_else(|| corrupt(path, "id18"))?;
    let person = batch
        .column_by_name("person")
        .and_then(|c| c.as_any().downcast_ref::<Int64Array>().cloned())
        .ok_or_else(|| corrupt(path, "person"))?;
    let mut out = Vec::with_capacity(batch.num_rows());
    for r in 0..batch.num_rows() {
        let v = id.value(r).as_bytes();
        if v.len() == 18 {
            let mut k = [0u8; 18];
            k.copy_from_slice(v);
            out.push((k, person.value(r) as u64));
        }
    }
    Ok(out)
}

/// The key under which a saved index records the last change file it holds.
const DELTA_SEQ_KEY: &str = "hedui.index_changes_through";

/// The change-file sequence number a saved index holds (0 when it says none).
fn read_seq(path: &Path) -> Result<u64, Error> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let b = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| Error::Corrupt {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    Ok(seq_of(&b))
}

fn seq_of(b: &ParquetRecordBatchReaderBuilder<File>) -> u64 {
    b.metadata()
        .file_metadata()
        .key_value_metadata()
        .and_then(|kv| kv.iter().find(|k| k.key == DELTA_SEQ_KEY))
        .and_then(|k| k.value.as_deref()?.parse().ok())
        .unwrap_or(0)
}

/// Rows of a Parquet file, from its footer.
fn parquet_rows(path: &Path) -> Result<u64, Error> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let b = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| Error::Corrupt {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    Ok(b.metadata().file_metadata().num_rows().max(0) as u64)
}

/// Streams a saved index file batch by batch (an entries file without its derived
/// `person_key` column) and returns the change-file sequence number it records.
fn for_each_saved_batch(
    path: &Path,
    entries: bool,
    mut f: impl FnMut(RecordBatch) -> Result<(), Error>,
) -> Result<u64, Error> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let corrupt_err = |e: parquet::errors::ParquetError| Error::Corrupt {
        path: path.to_owned(),
        reason: e.to_string(),
    };
    let b = ParquetRecordBatchReaderBuilder::try_new(file).map_err(corrupt_err)?;
    let seq = seq_of(&b);
    let b = if entries {
        let roots: Vec<usize> = b
            .schema()
            .fields()
            .iter()
            .enumerate()
            .filter(|(_, f)| f.name() != "person_key")
            .map(|(i, _)| i)
            .collect();
        let mask = parquet::arrow::ProjectionMask::roots(b.parquet_schema(), roots);
        b.with_projection(mask)
    } else {
        b
    };
    for batch in b.with_batch_size(65_536).build().map_err(corrupt_err)? {
        f(batch.map_err(|e| Error::Corrupt {
            path: path.to_owned(),
            reason: e.to_string(),
        })?)?;
    }
    Ok(seq)
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
    write_parquet_with_seq(path, batch, None)
}

/// [`write_parquet`], recording a change-file sequence number in the footer.
fn write_parquet_with_seq(path: &Path, batch: &RecordBatch, seq: Option<u64>) -> Result<(), Error> {
    let props = seq.map(|s| {
        parquet::file::properties::WriterProperties::builder()
            .set_key_value_metadata(Some(vec![parquet::file::metadata::KeyValue::new(
                DELTA_SEQ_KEY.to_owned(),
                s.to_string(),
            )]))
            .build()
    });
    let mut buf = Vec::new();
    {
        let mut w =
            ArrowWriter::try_new(&mut buf, batch.schema(), props).map_err(Error::internal)?;
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
    use arrow::array::{Int64Array, new_null_array};
    use hedui_lake::StagedRun;

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
