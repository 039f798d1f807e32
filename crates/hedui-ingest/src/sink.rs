//! The row sink: validated rows into Arrow builders, flushed as staged part files and
//! committed at page boundaries.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{
    ArrayRef, Date32Builder, Float64Builder, Int64Builder, StringBuilder,
    TimestampMillisecondBuilder,
};
use arrow::record_batch::RecordBatch;
use hedui_lake::{Committed, FileRecord, StagedRun, Zone};
use sha2::{Digest, Sha256};

use crate::Error;
use crate::validate::{Coerced, DatasetPlan};

enum ColBuilder {
    Str(StringBuilder),
    Int(Int64Builder),
    Float(Float64Builder),
    Date(Date32Builder),
    Ts(TimestampMillisecondBuilder),
}

impl ColBuilder {
    fn finish(&mut self) -> ArrayRef {
        match self {
            ColBuilder::Str(b) => Arc::new(b.finish()),
            ColBuilder::Int(b) => Arc::new(b.finish()),
            ColBuilder::Float(b) => Arc::new(b.finish()),
            ColBuilder::Date(b) => Arc::new(b.finish()),
            ColBuilder::Ts(b) => Arc::new(b.finish()),
        }
    }
}

struct Lineage {
    source: StringBuilder,
    record_id: StringBuilder,
    run: StringBuilder,
    hash: StringBuilder,
    seq: Int64Builder,
}

impl Lineage {
    fn new() -> Lineage {
        Lineage {
            source: StringBuilder::new(),
            record_id: StringBuilder::new(),
            run: StringBuilder::new(),
            hash: StringBuilder::new(),
            seq: Int64Builder::new(),
        }
    }

    fn finish(&mut self, out: &mut Vec<ArrayRef>) {
        out.push(Arc::new(self.source.finish()));
        out.push(Arc::new(self.record_id.finish()));
        out.push(Arc::new(self.run.finish()));
        out.push(Arc::new(self.hash.finish()));
        out.push(Arc::new(self.seq.finish()));
    }
}

/// Counts of one source run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Records delivered (not counting duplicates of committed records).
    pub read: u64,
    /// Rows to raw.
    pub written: u64,
    /// Rows to quarantine.
    pub quarantined: u64,
    /// Re-delivered records dropped.
    pub duplicates: u64,
}

pub(crate) struct RowSink {
    plan: Arc<DatasetPlan>,
    source: String,
    run_id: String,
    staged: StagedRun,
    raw: Vec<ColBuilder>,
    raw_lineage: Lineage,
    raw_rows: usize,
    quar: Vec<StringBuilder>,
    quar_lineage: Lineage,
    reason: StringBuilder,
    quar_rows: usize,
    pub counts: Counts,
    checkpoint_rows: usize,
    checkpoint_every: Duration,
    last_commit: Instant,
    /// Highest sequence accepted so far (records at or below it are re-deliveries).
    pub high_seq: Option<i64>,
    hex: String,
    /// The watermark of rows flushed by [`RowSink::end_page`] but not yet committed.
    handed_over: Option<Option<i64>>,
}

fn new_builders(plan: &DatasetPlan, schema: &arrow::datatypes::Schema) -> Vec<ColBuilder> {
    use arrow::datatypes::DataType;
    (0..plan.width())
        .map(|i| match schema.field(i).data_type() {
            DataType::Int64 => ColBuilder::Int(Int64Builder::new()),
            DataType::Float64 => ColBuilder::Float(Float64Builder::new()),
            DataType::Date32 => ColBuilder::Date(Date32Builder::new()),
            DataType::Timestamp(_, _) => ColBuilder::Ts(TimestampMillisecondBuilder::new()),
            _ => ColBuilder::Str(StringBuilder::new()),
        })
        .collect()
}

impl RowSink {
    pub fn new(
        plan: Arc<DatasetPlan>,
        source: &str,
        staged: StagedRun,
        checkpoint_rows: usize,
        checkpoint_secs: f64,
        high_seq: Option<i64>,
    ) -> RowSink {
        let raw_schema = staged.schema(Zone::Raw);
        let raw = new_builders(&plan, &raw_schema);
        let quar = (0..plan.width()).map(|_| StringBuilder::new()).collect();
        RowSink {
            run_id: staged.run_id().to_owned(),
            plan,
            source: source.to_owned(),
            staged,
            raw,
            raw_lineage: Lineage::new(),
            raw_rows: 0,
            quar,
            quar_lineage: Lineage::new(),
            reason: StringBuilder::new(),
            quar_rows: 0,
            counts: Counts::default(),
            checkpoint_rows: checkpoint_rows.max(1),
            checkpoint_every: Duration::from_secs_f64(checkpoint_secs.max(0.0)),
            last_commit: Instant::now(),
            high_seq,
            hex: String::with_capacity(32),
            handed_over: None,
        }
    }

    /// Rows buffered before they go to the lake.
    pub fn checkpoint_rows(&self) -> usize {
        self.checkpoint_rows
    }

    pub fn plan(&self) -> &DatasetPlan {
        &self.plan
    }

    /// True (and counted) when `seq` was already accepted: a re-delivered record.
    pub fn is_duplicate(&mut self, seq: i64) -> bool {
        if self.high_seq.is_some_and(|h| seq <= h) {
            self.counts.duplicates += 1;
            true
        } else {
            self.high_seq = Some(seq);
            false
        }
    }

    fn row_hash(&mut self, values: &[Option<&str>]) {
        let mut h = Sha256::new();
        for v in values {
            match v {
                None => h.update([0u8]),
                Some(s) => {
                    h.update([1u8]);
                    h.update(s.as_bytes());
                }
            }
            h.update([0x1f]);
        }
        let digest = h.finalize();
        self.hex.clear();
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for b in &digest[..16] {
            self.hex.push(char::from(HEX[usize::from(b >> 4)]));
            self.hex.push(char::from(HEX[usize::from(b & 15)]));
        }
    }

    /// Validates one delivered record (values in schema order) and adds it to raw or
    /// quarantine.
    pub fn push(&mut self, seq: i64, values: &[Option<&str>]) {
        self.counts.read += 1;
        let plan = Arc::clone(&self.plan);
        let mut coerced: Vec<Coerced<'_>> = Vec::with_capacity(values.len());
        match plan.coerce(values, &mut coerced) {
            Ok(()) => {
                self.row_hash(values);
                for (b, v) in self.raw.iter_mut().zip(&coerced) {
                    match (b, v) {
                        (ColBuilder::Str(b), Coerced::Text(s)) => b.append_value(s),
                        (ColBuilder::Str(b), Coerced::Month(m)) => {
                            b.append_value(std::str::from_utf8(m).unwrap_or_default())
                        }
                        (ColBuilder::Int(b), Coerced::Int(n)) => b.append_value(*n),
                        (ColBuilder::Float(b), Coerced::Float(f)) => b.append_value(*f),
                        (ColBuilder::Date(b), Coerced::Date(d)) => b.append_value(*d),
                        (ColBuilder::Ts(b), Coerced::Millis(t)) => b.append_value(*t),
                        (ColBuilder::Str(b), _) => b.append_null(),
                        (ColBuilder::Int(b), _) => b.append_null(),
                        (ColBuilder::Float(b), _) => b.append_null(),
                        (ColBuilder::Date(b), _) => b.append_null(),
                        (ColBuilder::Ts(b), _) => b.append_null(),
                    }
                }
                let key = values.get(plan.key).copied().flatten();
                let l = &mut self.raw_lineage;
                l.source.append_value(&self.source);
                l.record_id.append_option(key);
                l.run.append_value(&self.run_id);
                l.hash.append_value(&self.hex);
                l.seq.append_value(seq);
                self.raw_rows += 1;
                self.counts.written += 1;
            }
            Err(reason) => {
                drop(coerced);
                self.push_bad(seq, values, &reason);
            }
        }
    }

    /// Adds a record to quarantine with `reason` (values positional; fewer or more than the
    /// schema's columns are allowed: extras are dropped, the reason says so).
    pub fn push_quarantine(&mut self, seq: i64, values: &[Option<&str>], reason: &str) {
        self.counts.read += 1;
        self.push_bad(seq, values, reason);
    }

    fn push_bad(&mut self, seq: i64, values: &[Option<&str>], reason: &str) {
        self.row_hash(values);
        for (i, b) in self.quar.iter_mut().enumerate() {
            b.append_option(values.get(i).copied().flatten());
        }
        let key = values.get(self.plan.key).copied().flatten();
        let l = &mut self.quar_lineage;
        l.source.append_value(&self.source);
        l.record_id.append_option(key);
        l.run.append_value(&self.run_id);
        l.hash.append_value(&self.hex);
        l.seq.append_value(seq);
        self.reason.append_value(reason);
        self.quar_rows += 1;
        self.counts.quarantined += 1;
    }

    /// Hands the buffered rows to the lake: quarantine first (rare, small), then raw, whose
    /// part is encoded on a thread of its own while the next pages are read (the next
    /// checkpoint waits for it).
    fn flush(&mut self) -> Result<(), Error> {
        if self.quar_rows > 0 {
            let mut cols: Vec<ArrayRef> = self
                .quar
                .iter_mut()
                .map(|b| Arc::new(b.finish()) as ArrayRef)
                .collect();
            self.quar_lineage.finish(&mut cols);
            cols.push(Arc::new(self.reason.finish()));
            let batch = RecordBatch::try_new(self.staged.schema(Zone::Quarantine), cols)
                .map_err(|e| Error::Internal(format!("building a quarantine batch: {e}")))?;
            self.staged.write_part(Zone::Quarantine, &batch)?;
            self.quar_rows = 0;
        }
        if self.raw_rows > 0 {
            let mut cols: Vec<ArrayRef> = self.raw.iter_mut().map(ColBuilder::finish).collect();
            self.raw_lineage.finish(&mut cols);
            let batch = RecordBatch::try_new(self.staged.schema(Zone::Raw), cols)
                .map_err(|e| Error::Internal(format!("building a raw batch: {e}")))?;
            self.staged.write_part_background(Zone::Raw, batch)?;
            self.raw_rows = 0;
        }
        Ok(())
    }

    /// At a page boundary, when enough rows or time have accumulated: commits the rows the
    /// previous call handed over (their part has been written meanwhile, on its own thread),
    /// then hands these over with `watermark`. A commit thus lags one interval behind the
    /// pages read, which costs a crash nothing: the watermark never gets ahead of the parts it
    /// commits, and the next run fetches again from it.
    pub fn end_page(&mut self, watermark: Option<i64>) -> Result<bool, Error> {
        if self.raw_rows + self.quar_rows >= self.checkpoint_rows
            || self.last_commit.elapsed() >= self.checkpoint_every
        {
            if let Some(w) = self.handed_over.take() {
                self.staged.checkpoint(w, Vec::new())?;
            }
            self.flush()?;
            self.handed_over = Some(watermark);
            self.last_commit = Instant::now();
            return Ok(true);
        }
        Ok(false)
    }

    /// Writes the buffered rows and commits them, and any handed over before, with
    /// `watermark` (the handed-over one when `None`) and `files`.
    pub fn commit(&mut self, watermark: Option<i64>, files: Vec<FileRecord>) -> Result<(), Error> {
        self.flush()?;
        let w = watermark.or(self.handed_over.take().flatten());
        self.staged.checkpoint(w, files)?;
        self.last_commit = Instant::now();
        Ok(())
    }

    /// Hands the buffered rows to the lake as uncommitted parts once they reach the
    /// checkpoint size, so that the buffers stay bounded while a long delivery (a large file)
    /// is read; they are committed with the delivery, or dropped by
    /// [`discard_uncommitted`](Self::discard_uncommitted).
    pub fn spill(&mut self) -> Result<(), Error> {
        if self.raw_rows + self.quar_rows >= self.checkpoint_rows {
            self.flush()?;
        }
        Ok(())
    }

    /// Drops buffered and spilled, uncommitted rows (a file that turned out unreadable
    /// half-way) and resets the counts to what is committed.
    pub fn discard_uncommitted(&mut self, committed: Counts) -> Result<(), Error> {
        self.staged.discard_pending()?;
        for b in &mut self.raw {
            let _ = b.finish();
        }
        let mut scratch = Vec::new();
        self.raw_lineage.finish(&mut scratch);
        for b in &mut self.quar {
            let _ = b.finish();
        }
        self.quar_lineage.finish(&mut scratch);
        let _ = self.reason.finish();
        self.raw_rows = 0;
        self.quar_rows = 0;
        self.counts = committed;
        Ok(())
    }

    /// Publishes what is committed (buffered rows not committed are dropped: they were never
    /// acknowledged, so the next run fetches them again).
    pub fn finalize(self) -> Result<Committed, Error> {
        Ok(self.staged.finalize()?)
    }
}
