//! The link stage's state files in `<data_dir>/state/`: the person index (a compacted base
//! and the change files of the nights since), the model, and which ingest runs are linked.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use hedui_linkage::index::{
    IndexChanges, IndexEntry, LinkKind, PersonIndex, kind_from_name, kind_name,
};
use hedui_linkage::model::Model;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::Error;
use crate::run::write_atomic;

/// Where the link stage keeps its state: `<data_dir>/state/`.
#[derive(Debug, Clone)]
pub struct LinkState {
    pub(crate) dir: PathBuf,
}

impl LinkState {
    /// State under `data_dir/state`.
    pub fn new(data_dir: &Path) -> LinkState {
        LinkState {
            dir: data_dir.join("state"),
        }
    }

    pub(crate) fn model_path(&self) -> PathBuf {
        self.dir.join("linkage-model.json")
    }

    pub(crate) fn index_path(&self) -> PathBuf {
        self.dir.join("person-index.parquet")
    }

    pub(crate) fn ids_path(&self) -> PathBuf {
        self.dir.join("person-ids.parquet")
    }

    pub(crate) fn seen_path(&self) -> PathBuf {
        self.dir.join("linked-runs.json")
    }

    /// The ingest runs whose partitions the saved index has taken in, per `department/dataset`.
    pub(crate) fn seen_runs(&self) -> Result<BTreeMap<String, BTreeSet<String>>, Error> {
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

    pub(crate) fn save_seen_runs(
        &self,
        seen: &BTreeMap<String, BTreeSet<String>>,
    ) -> Result<(), Error> {
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
    pub(crate) fn deltas(&self) -> Result<Vec<(u64, PathBuf, PathBuf)>, Error> {
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

    pub(crate) fn delta_dir(&self) -> PathBuf {
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
pub(crate) fn parquet_rows(path: &Path) -> Result<u64, Error> {
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
