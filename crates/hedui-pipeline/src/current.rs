//! The current rows of a lake dataset: the latest delivered version of each record, read
//! from the raw zone with filters that decode only what they keep (the lineage columns first,
//! then, by a Parquet row selection, the values of the kept rows); and the identity roles of a
//! dataset's columns, with the person-index keys of each role.

use std::collections::BTreeSet;

use arrow::array::{Array, ArrayRef, StringArray};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use hedui_lake::{Lake, PartitionFilter, Zone};
use hedui_model::DatasetSchema;
use rustc_hash::FxHashMap;

use crate::Error;

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

pub(crate) fn hash64(hex: &str) -> u64 {
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
pub(crate) struct Read<'a> {
    /// The value columns of the kept rows.
    pub(crate) columns: &'a [&'a str],
    /// Only partitions of runs up to this one.
    pub(crate) up_to_run: Option<&'a str>,
    /// Only partitions of these ingest runs.
    pub(crate) runs: Option<&'a BTreeSet<String>>,
    /// Decode the row hashes (for the filter and the result).
    pub(crate) with_hash: bool,
    /// Text columns decoded for every row and handed to the filter.
    pub(crate) filter_columns: &'a [&'a str],
}

impl<'a> Read<'a> {
    pub(crate) fn new(columns: &'a [&'a str]) -> Read<'a> {
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
pub(crate) type Keep<'a> = dyn Fn(&str, u64, &[Option<&str>]) -> bool + 'a;

/// The reader behind the `read_current*` functions: `keep` decides which records' values are
/// read.
pub(crate) fn read_current_impl(
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
