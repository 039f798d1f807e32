//! Reading the lake: listing partitions and reading their rows.

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::array::Array;
use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReaderBuilder, RowSelection, RowSelector};

use crate::manifest::read_json;
use crate::{Error, Lake, PartitionManifest, Zone};

/// Which partitions to list. The default lists every committed partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartitionFilter {
    /// Only partitions of runs whose id sorts at or before this one (run ids sort by time).
    pub up_to_run: Option<String>,
    /// Only partitions with `ingest_date` at or before this `YYYY-MM-DD`.
    pub up_to_date: Option<String>,
    /// Only this run.
    pub run: Option<String>,
    /// Only partitions written by this pipeline source.
    pub source: Option<String>,
}

/// One committed partition directory.
#[derive(Debug, Clone)]
pub struct Partition {
    /// Its directory.
    pub dir: PathBuf,
    /// Its manifest.
    pub manifest: PartitionManifest,
}

/// Rows as text columns by canonical name (a convenience for stages that standardise text).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextBatch {
    /// Column names (canonical names, then lineage columns).
    pub names: Vec<String>,
    /// Column-major values; `None` is null.
    pub columns: Vec<Vec<Option<String>>>,
}

impl TextBatch {
    /// The column with this name.
    pub fn column(&self, name: &str) -> Option<&[Option<String>]> {
        self.names
            .iter()
            .position(|n| n == name)
            .map(|i| self.columns[i].as_slice())
    }

    /// Number of rows.
    pub fn num_rows(&self) -> usize {
        self.columns.first().map_or(0, Vec::len)
    }

    /// Renders a record batch as text (dates `YYYY-MM-DD`, timestamps ISO 8601).
    pub fn from_batch(batch: &RecordBatch) -> Result<TextBatch, Error> {
        let options = FormatOptions::default();
        let mut out = TextBatch {
            names: batch
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect(),
            columns: Vec::with_capacity(batch.num_columns()),
        };
        for col in batch.columns() {
            let fmt = ArrayFormatter::try_new(col.as_ref(), &options)
                .map_err(|e| Error::Internal(format!("formatting a lake column: {e}")))?;
            let values = (0..col.len())
                .map(|i| {
                    if col.is_null(i) {
                        None
                    } else {
                        Some(fmt.value(i).to_string())
                    }
                })
                .collect();
            out.columns.push(values);
        }
        Ok(out)
    }

    /// Appends another batch with the same columns.
    pub fn extend(&mut self, other: TextBatch) {
        if self.names.is_empty() {
            *self = other;
            return;
        }
        for (mine, theirs) in self.columns.iter_mut().zip(other.columns) {
            mine.extend(theirs);
        }
    }
}

fn list_dirs(dir: &Path, prefix: &str) -> Result<Vec<(String, PathBuf)>, Error> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(Error::io(dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(value) = name.strip_prefix(prefix)
            && entry.path().is_dir()
        {
            out.push((value.to_owned(), entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

impl Lake {
    /// The committed partitions of `department/dataset` in `zone`, oldest first (by ingest
    /// date, then run id). Only directories with a manifest are partitions.
    pub fn partitions(
        &self,
        zone: Zone,
        department: &str,
        dataset: &str,
        filter: &PartitionFilter,
    ) -> Result<Vec<Partition>, Error> {
        let mut out = Vec::new();
        let base = self.dataset_dir(zone, department, dataset);
        for (date, date_dir) in list_dirs(&base, "ingest_date=")? {
            if filter
                .up_to_date
                .as_deref()
                .is_some_and(|d| date.as_str() > d)
            {
                continue;
            }
            for (run, run_dir) in list_dirs(&date_dir, "run=")? {
                if filter
                    .up_to_run
                    .as_deref()
                    .is_some_and(|r| run.as_str() > r)
                    || filter.run.as_deref().is_some_and(|r| run != r)
                {
                    continue;
                }
                let mpath = run_dir.join("_manifest.json");
                if !mpath.exists() {
                    continue;
                }
                let manifest: PartitionManifest = read_json(&mpath)?;
                if filter
                    .source
                    .as_deref()
                    .is_some_and(|s| manifest.source != s)
                {
                    continue;
                }
                out.push(Partition {
                    dir: run_dir,
                    manifest,
                });
            }
        }
        out.sort_by(|a, b| {
            (&a.manifest.ingest_date, &a.manifest.run_id)
                .cmp(&(&b.manifest.ingest_date, &b.manifest.run_id))
        });
        Ok(out)
    }

    /// Reads every row of the dataset's committed partitions in `zone` (per `filter`) as
    /// record batches, oldest partition first.
    pub fn read_dataset(
        &self,
        zone: Zone,
        department: &str,
        dataset: &str,
        filter: &PartitionFilter,
    ) -> Result<Vec<RecordBatch>, Error> {
        let mut out = Vec::new();
        for p in self.partitions(zone, department, dataset, filter)? {
            p.for_each_batch(|b| {
                out.push(b);
                Ok(())
            })?;
        }
        Ok(out)
    }
}

impl Partition {
    /// Streams the partition's rows, part by part, batch by batch (memory bounded by one
    /// batch).
    pub fn for_each_batch(
        &self,
        mut f: impl FnMut(RecordBatch) -> Result<(), Error>,
    ) -> Result<(), Error> {
        for part in &self.manifest.parts {
            let path = self.dir.join(&part.file);
            let file = File::open(&path).map_err(|e| Error::io(&path, e))?;
            let reader = ParquetRecordBatchReaderBuilder::try_new(file)
                .map_err(|e| Error::parquet(&path, e))?
                .with_batch_size(64 * 1024)
                .build()
                .map_err(|e| Error::parquet(&path, e))?;
            for batch in reader {
                f(batch.map_err(|e| Error::parquet(&path, e))?)?;
            }
        }
        Ok(())
    }

    /// Streams only the rows `select` keeps, with only `columns`, part by part.
    ///
    /// For each part file, the `key_columns` alone are read first and handed to `select` batch
    /// by batch, which answers one `bool` per row; then the selected rows of `columns` (those
    /// the file has) are decoded and handed to `f`, in file order, in batches holding only
    /// selected rows. A file with no row selected is not read a second time. When few rows are
    /// kept this costs little more than reading the key columns.
    pub fn for_each_selected(
        &self,
        key_columns: &[&str],
        columns: &[&str],
        mut select: impl FnMut(&RecordBatch) -> Result<Vec<bool>, Error>,
        mut f: impl FnMut(RecordBatch) -> Result<(), Error>,
    ) -> Result<(), Error> {
        for part in &self.manifest.parts {
            let path = self.dir.join(&part.file);
            let open = || -> Result<ParquetRecordBatchReaderBuilder<File>, Error> {
                let file = File::open(&path).map_err(|e| Error::io(&path, e))?;
                ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| Error::parquet(&path, e))
            };
            let projection = |b: &ParquetRecordBatchReaderBuilder<File>, names: &[&str]| {
                let schema = b.schema();
                let roots: Vec<usize> = names
                    .iter()
                    .filter_map(|n| schema.index_of(n).ok())
                    .collect();
                ProjectionMask::roots(b.parquet_schema(), roots)
            };
            let keys = open()?;
            let mask = projection(&keys, key_columns);
            let reader = keys
                .with_projection(mask)
                .with_batch_size(64 * 1024)
                .build()
                .map_err(|e| Error::parquet(&path, e))?;
            let mut selectors: Vec<RowSelector> = Vec::new();
            let mut any = false;
            for batch in reader {
                let batch = batch.map_err(|e| Error::parquet(&path, e))?;
                let keep = select(&batch)?;
                if keep.len() != batch.num_rows() {
                    return Err(Error::Corrupt {
                        path: path.clone(),
                        message: "row selection of the wrong length".into(),
                    });
                }
                for k in keep {
                    any |= k;
                    match selectors.last_mut() {
                        Some(last) if last.skip != k => last.row_count += 1,
                        _ => selectors.push(if k {
                            RowSelector::select(1)
                        } else {
                            RowSelector::skip(1)
                        }),
                    }
                }
            }
            if !any {
                continue;
            }
            let values = open()?;
            let mask = projection(&values, columns);
            let reader = values
                .with_projection(mask)
                .with_row_selection(RowSelection::from(selectors))
                .with_batch_size(64 * 1024)
                .build()
                .map_err(|e| Error::parquet(&path, e))?;
            for batch in reader {
                f(batch.map_err(|e| Error::parquet(&path, e))?)?;
            }
        }
        Ok(())
    }

    /// All rows of the partition as record batches.
    pub fn read_batches(&self) -> Result<Vec<RecordBatch>, Error> {
        let mut out = Vec::new();
        self.for_each_batch(|b| {
            out.push(b);
            Ok(())
        })?;
        Ok(out)
    }

    /// All rows of the partition as text columns by canonical name.
    pub fn read_text(&self) -> Result<TextBatch, Error> {
        let mut out = TextBatch::default();
        self.for_each_batch(|b| {
            out.extend(TextBatch::from_batch(&b)?);
            Ok(())
        })?;
        Ok(out)
    }
}
