//! Writing tables: the streaming [`TableWriter`] and the convenience [`write_table`]. The
//! rules are in the crate docs, "Writing".

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::array::{ArrayRef, Float64Builder, Int64Builder, StringBuilder};
use arrow::datatypes::{DataType, Field as ArrowField, Schema, SchemaRef};
use parquet::arrow::arrow_writer::{
    ArrowColumnChunk, ArrowColumnWriter, ArrowLeafColumn, ArrowRowGroupWriterFactory,
    compute_leaves,
};
use parquet::arrow::{ArrowSchemaConverter, add_encoded_arrow_schema_to_metadata};
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use rayon::prelude::*;
use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format as XlsxFormat, Workbook};

use crate::FileFormat;
use crate::column::write_float;
use crate::error::Error;

/// The type of an output column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColumnType {
    /// Text (Parquet `Utf8`). Accepts any [`Value`]; numbers are written as their text.
    Text,
    /// 64-bit float (Parquet `Float64`), e.g. `match_probability`, `match_weight`. Accepts
    /// [`Value::Float64`] and [`Value::Int64`].
    Float64,
    /// 64-bit integer (Parquet `Int64`), e.g. `gamma_*` comparison levels. Accepts
    /// [`Value::Int64`].
    Int64,
}

/// One cell handed to [`TableWriter::write_row`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    /// No value (an empty CSV field, a Parquet null, an empty XLSX cell).
    Null,
    /// Text.
    Text(&'a str),
    /// A float.
    Float64(f64),
    /// An integer.
    Int64(i64),
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(s: &'a str) -> Value<'a> {
        Value::Text(s)
    }
}

impl<'a> From<Option<&'a str>> for Value<'a> {
    fn from(s: Option<&'a str>) -> Value<'a> {
        s.map_or(Value::Null, Value::Text)
    }
}

impl From<f64> for Value<'_> {
    fn from(v: f64) -> Self {
        Value::Float64(v)
    }
}

impl From<i64> for Value<'_> {
    fn from(v: i64) -> Self {
        Value::Int64(v)
    }
}

impl From<i32> for Value<'_> {
    fn from(v: i32) -> Self {
        Value::Int64(i64::from(v))
    }
}

impl From<i8> for Value<'_> {
    fn from(v: i8) -> Self {
        Value::Int64(i64::from(v))
    }
}

impl From<Option<f64>> for Value<'_> {
    fn from(v: Option<f64>) -> Self {
        v.map_or(Value::Null, Value::Float64)
    }
}

impl From<Option<i64>> for Value<'_> {
    fn from(v: Option<i64>) -> Self {
        v.map_or(Value::Null, Value::Int64)
    }
}

/// Excel's row limit minus the header row.
pub const XLSX_MAX_DATA_ROWS: u32 = 1_048_575;
/// Rows buffered per Parquet record batch.
const PARQUET_BATCH_ROWS: usize = 65_536;

/// A streaming writer of one table file; see the [crate docs](crate#writing) for formats.
///
/// ```
/// use hedui_tabular::{ColumnType, TableWriter, Value};
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("links.parquet");
/// let mut w = TableWriter::create(
///     &path,
///     &[
///         ("left_id", ColumnType::Text),
///         ("right_id", ColumnType::Text),
///         ("match_probability", ColumnType::Float64),
///         ("gamma_name", ColumnType::Int64),
///     ],
/// )?;
/// w.write_row(&[Value::Text("a1"), Value::Text("b7"), Value::Float64(0.98), Value::Int64(3)])?;
/// assert_eq!(w.finish()?, 1);
/// let t = hedui_tabular::read_table(&path, None)?;
/// assert_eq!(t.column("match_probability").and_then(|c| c.get(0)), Some("0.98"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct TableWriter {
    path: PathBuf,
    format: FileFormat,
    types: Vec<ColumnType>,
    rows: u64,
    sink: Option<Sink>,
    temp: TempFile,
}

enum Sink {
    Csv(csv::Writer<BufWriter<File>>, String),
    Parquet(ParquetSink),
    Xlsx(Box<XlsxSink>),
}

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Sink::Csv(..) => "Csv",
            Sink::Parquet(_) => "Parquet",
            Sink::Xlsx(_) => "Xlsx",
        })
    }
}

impl TableWriter {
    /// Creates a writer for `path` (format by extension) with the given columns, and writes
    /// the header. Nothing appears under `path` until [`finish`](Self::finish).
    ///
    /// # Errors
    ///
    /// [`Error::UnknownFormat`] for an unsupported extension; [`Error::Write`] if the temporary
    /// file cannot be created (e.g. the directory does not exist).
    pub fn create(
        path: impl AsRef<Path>,
        columns: &[(&str, ColumnType)],
    ) -> Result<TableWriter, Error> {
        let path = path.as_ref();
        let format = FileFormat::from_path(path)?;
        let (temp, file) = TempFile::create(path)?;
        let sink = match format {
            FileFormat::Csv => {
                let delimiter = if crate::is_tsv(path) { b'\t' } else { b',' };
                let mut out = BufWriter::with_capacity(1 << 20, file);
                out.write_all(b"\xEF\xBB\xBF")
                    .map_err(|e| Error::write(path, e))?;
                let mut w = csv::WriterBuilder::new()
                    .delimiter(delimiter)
                    .terminator(csv::Terminator::CRLF)
                    .quote_style(csv::QuoteStyle::Necessary)
                    .from_writer(out);
                w.write_record(columns.iter().map(|(name, _)| name.as_bytes()))
                    .map_err(|e| csv_write_error(path, e))?;
                Sink::Csv(w, String::new())
            }
            FileFormat::Parquet => Sink::Parquet(ParquetSink::new(path, file, columns)?),
            FileFormat::Xlsx => Sink::Xlsx(Box::new(XlsxSink::new(path, file, columns)?)),
        };
        Ok(TableWriter {
            path: path.to_owned(),
            format,
            types: columns.iter().map(|(_, t)| *t).collect(),
            rows: 0,
            sink: Some(sink),
            temp,
        })
    }

    /// A writer whose columns are all text.
    ///
    /// # Errors
    ///
    /// As [`create`](Self::create).
    pub fn create_text(path: impl AsRef<Path>, headers: &[&str]) -> Result<TableWriter, Error> {
        let columns: Vec<(&str, ColumnType)> =
            headers.iter().map(|h| (*h, ColumnType::Text)).collect();
        TableWriter::create(path, &columns)
    }

    /// The output format.
    pub fn format(&self) -> FileFormat {
        self.format
    }

    /// Rows written so far.
    pub fn rows_written(&self) -> u64 {
        self.rows
    }

    /// Appends one row: one [`Value`] per column, each fitting its [`ColumnType`].
    ///
    /// # Errors
    ///
    /// [`Error::InvalidRow`] for a row of the wrong length or a value that does not fit its
    /// column; [`Error::TooManyRows`] past Excel's limit; [`Error::Write`] / [`Error::Encode`]
    /// when the output fails.
    pub fn write_row(&mut self, row: &[Value<'_>]) -> Result<(), Error> {
        let row_no = self.rows + 1;
        if row.len() != self.types.len() {
            return Err(Error::InvalidRow {
                path: self.path.clone(),
                row: row_no,
                message: format!("{} values for {} columns", row.len(), self.types.len()),
            });
        }
        for (i, (v, t)) in row.iter().zip(&self.types).enumerate() {
            let fits = matches!(
                (t, v),
                (_, Value::Null)
                    | (ColumnType::Text, _)
                    | (ColumnType::Float64, Value::Float64(_) | Value::Int64(_))
                    | (ColumnType::Int64, Value::Int64(_))
            );
            if !fits {
                return Err(Error::InvalidRow {
                    path: self.path.clone(),
                    row: row_no,
                    message: format!("column {} is {t:?} but got {v:?}", i + 1),
                });
            }
        }
        let path = &self.path;
        match self.sink.as_mut() {
            Some(Sink::Csv(w, buf)) => {
                for v in row {
                    match v {
                        Value::Null => w.write_field(b""),
                        Value::Text(s) => w.write_field(s.as_bytes()),
                        Value::Float64(f) => {
                            buf.clear();
                            write_float_exact(buf, *f);
                            w.write_field(buf.as_bytes())
                        }
                        Value::Int64(i) => w.write_field(i.to_string().as_bytes()),
                    }
                    .map_err(|e| csv_write_error(path, e))?;
                }
                w.write_record(std::iter::empty::<&[u8]>())
                    .map_err(|e| csv_write_error(path, e))?;
            }
            Some(Sink::Parquet(p)) => p.write_row(path, row)?,
            Some(Sink::Xlsx(x)) => x.write_row(path, row)?,
            None => {}
        }
        self.rows += 1;
        Ok(())
    }

    /// Finishes the file, syncs it and renames it into place; returns the number of rows.
    ///
    /// # Errors
    ///
    /// [`Error::Write`] / [`Error::Encode`]; the temporary file is removed and the target is
    /// left as it was.
    pub fn finish(mut self) -> Result<u64, Error> {
        let path = self.path.clone();
        let file = match self.sink.take() {
            Some(Sink::Csv(w, _)) => {
                let out = w
                    .into_inner()
                    .map_err(|e| Error::write(&path, e.into_error()))?;
                out.into_inner()
                    .map_err(|e| Error::write(&path, e.into_error()))?
            }
            Some(Sink::Parquet(p)) => p.finish(&path)?,
            Some(Sink::Xlsx(x)) => x.finish(&path)?,
            None => {
                return Err(Error::Encode {
                    path,
                    format: self.format,
                    message: "writer already finished".to_owned(),
                });
            }
        };
        file.sync_all().map_err(|e| Error::write(&path, e))?;
        drop(file);
        self.temp.commit(&path)?;
        Ok(self.rows)
    }
}

/// CSV floats: shortest round-trip text, never scientific for large values (a probability or
/// weight is not an ID number).
fn write_float_exact(out: &mut String, f: f64) {
    use std::fmt::Write as _;
    if f.is_finite() && f.abs() >= crate::column::SCIENTIFIC_FROM {
        let _ = write!(out, "{f}");
    } else {
        write_float(out, f);
    }
}

fn csv_write_error(path: &Path, e: csv::Error) -> Error {
    match e.into_kind() {
        csv::ErrorKind::Io(io) => Error::write(path, io),
        other => Error::Encode {
            path: path.to_owned(),
            format: FileFormat::Csv,
            message: format!("{other:?}"),
        },
    }
}

/// Writes a table of text columns (column-major, `None` = empty) to `path`, format by
/// extension, atomically. All columns must have the same length.
///
/// # Errors
///
/// [`Error::InvalidRow`] if `headers` and `columns` differ in number or the columns in length;
/// otherwise as [`TableWriter::create`] and [`TableWriter::write_row`].
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("out.csv");
/// hedui_tabular::write_table(
///     &path,
///     &["姓名", "身份证号"],
///     &[vec![Some("张三".to_owned())], vec![Some("421303198001010018".to_owned())]],
/// )?;
/// let bytes = std::fs::read(&path)?;
/// assert!(bytes.starts_with(b"\xEF\xBB\xBF")); // UTF-8 BOM for Excel
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_table(
    path: impl AsRef<Path>,
    headers: &[&str],
    columns: &[Vec<Option<String>>],
) -> Result<(), Error> {
    let path = path.as_ref();
    if headers.len() != columns.len() {
        return Err(Error::InvalidRow {
            path: path.to_owned(),
            row: 0,
            message: format!("{} headers for {} columns", headers.len(), columns.len()),
        });
    }
    let rows = columns.first().map_or(0, Vec::len);
    if let Some((i, c)) = columns.iter().enumerate().find(|(_, c)| c.len() != rows) {
        return Err(Error::InvalidRow {
            path: path.to_owned(),
            row: 0,
            message: format!(
                "column {} ({}) has {} rows, column 1 has {rows}",
                i + 1,
                headers[i],
                c.len()
            ),
        });
    }
    let mut writer = TableWriter::create_text(path, headers)?;
    let mut row: Vec<Value<'_>> = Vec::with_capacity(columns.len());
    for r in 0..rows {
        row.clear();
        row.extend(columns.iter().map(|c| Value::from(c[r].as_deref())));
        writer.write_row(&row)?;
    }
    writer.finish()?;
    Ok(())
}

/// A temporary file next to the target, removed on drop unless committed.
#[derive(Debug)]
struct TempFile {
    path: Option<PathBuf>,
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl TempFile {
    fn create(target: &Path) -> Result<(TempFile, File), Error> {
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        loop {
            let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
            let tmp = dir.join(format!(".{name}.{}-{n}.tmp", std::process::id()));
            match OpenOptions::new().write(true).create_new(true).open(&tmp) {
                Ok(file) => return Ok((TempFile { path: Some(tmp) }, file)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(Error::write(target, e)),
            }
        }
    }

    fn commit(&mut self, target: &Path) -> Result<(), Error> {
        if let Some(tmp) = self.path.take()
            && let Err(e) = fs::rename(&tmp, target)
        {
            let _ = fs::remove_file(&tmp);
            return Err(Error::write(target, e));
        }
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(tmp) = self.path.take() {
            let _ = fs::remove_file(tmp);
        }
    }
}

enum Builder {
    Text(StringBuilder),
    Float64(Float64Builder),
    Int64(Int64Builder),
}

/// A Parquet file written a record batch at a time, the batch's columns encoded side by side
/// (`ArrowColumnWriter`s on rayon's threads) rather than one after another as `ArrowWriter`
/// does: the columns are independent, and encoding them was most of writing a links file.
/// The file is what `ArrowWriter` writes: the same row groups, properties and Arrow schema.
struct ParquetSink {
    writer: SerializedFileWriter<BufWriter<File>>,
    factory: ArrowRowGroupWriterFactory,
    /// The column writers of the row group being written.
    columns: Vec<ArrowColumnWriter>,
    /// Rows in the row group being written, and row groups written.
    group_rows: usize,
    groups: usize,
    schema: SchemaRef,
    builders: Vec<Builder>,
    buffered: usize,
    scratch: String,
}

/// Rows per row group (`ArrowWriter`'s default).
const PARQUET_GROUP_ROWS: usize = parquet::file::properties::DEFAULT_MAX_ROW_GROUP_ROW_COUNT;

impl ParquetSink {
    fn new(path: &Path, file: File, columns: &[(&str, ColumnType)]) -> Result<Self, Error> {
        let schema: SchemaRef = Arc::new(Schema::new(
            columns
                .iter()
                .map(|(name, t)| {
                    let dt = match t {
                        ColumnType::Text => DataType::Utf8,
                        ColumnType::Float64 => DataType::Float64,
                        ColumnType::Int64 => DataType::Int64,
                    };
                    ArrowField::new(*name, dt, true)
                })
                .collect::<Vec<_>>(),
        ));
        let mut props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .build();
        add_encoded_arrow_schema_to_metadata(&schema, &mut props);
        let parquet_schema = ArrowSchemaConverter::new()
            .with_coerce_types(props.coerce_types())
            .convert(&schema)
            .map_err(|e| parquet_write_error(path, e))?;
        let writer = SerializedFileWriter::new(
            BufWriter::with_capacity(1 << 20, file),
            parquet_schema.root_schema_ptr(),
            Arc::new(props),
        )
        .map_err(|e| parquet_write_error(path, e))?;
        let factory = ArrowRowGroupWriterFactory::new(&writer, schema.clone());
        let writers = factory
            .create_column_writers(0)
            .map_err(|e| parquet_write_error(path, e))?;
        let builders = columns
            .iter()
            .map(|(_, t)| match t {
                ColumnType::Text => Builder::Text(StringBuilder::new()),
                ColumnType::Float64 => Builder::Float64(Float64Builder::new()),
                ColumnType::Int64 => Builder::Int64(Int64Builder::new()),
            })
            .collect();
        Ok(ParquetSink {
            writer,
            factory,
            columns: writers,
            group_rows: 0,
            groups: 0,
            schema,
            builders,
            buffered: 0,
            scratch: String::new(),
        })
    }

    fn write_row(&mut self, path: &Path, row: &[Value<'_>]) -> Result<(), Error> {
        for (b, v) in self.builders.iter_mut().zip(row) {
            match (b, v) {
                (Builder::Text(b), Value::Null) => b.append_null(),
                (Builder::Text(b), Value::Text(s)) => b.append_value(s),
                (Builder::Text(b), Value::Float64(f)) => {
                    self.scratch.clear();
                    write_float_exact(&mut self.scratch, *f);
                    b.append_value(&self.scratch);
                }
                (Builder::Text(b), Value::Int64(i)) => b.append_value(i.to_string()),
                (Builder::Float64(b), Value::Float64(f)) => b.append_value(*f),
                (Builder::Float64(b), Value::Int64(i)) => b.append_value(*i as f64),
                (Builder::Int64(b), Value::Int64(i)) => b.append_value(*i),
                (Builder::Float64(b), _) => b.append_null(),
                (Builder::Int64(b), _) => b.append_null(),
            }
        }
        self.buffered += 1;
        if self.buffered >= PARQUET_BATCH_ROWS {
            self.flush(path)?;
        }
        Ok(())
    }

    /// Encodes the buffered rows, closing each row group as it fills.
    fn flush(&mut self, path: &Path) -> Result<(), Error> {
        if self.buffered == 0 {
            return Ok(());
        }
        let arrays: Vec<ArrayRef> = self
            .builders
            .iter_mut()
            .map(|b| -> ArrayRef {
                match b {
                    Builder::Text(b) => Arc::new(b.finish()),
                    Builder::Float64(b) => Arc::new(b.finish()),
                    Builder::Int64(b) => Arc::new(b.finish()),
                }
            })
            .collect();
        let rows = std::mem::take(&mut self.buffered);
        let mut from = 0;
        while from < rows {
            // A batch that would overfill the row group is split at its end.
            let take = (rows - from).min(PARQUET_GROUP_ROWS - self.group_rows);
            let part: Vec<ArrayRef> = arrays.iter().map(|a| a.slice(from, take)).collect();
            self.encode(path, &part)?;
            self.group_rows += take;
            if self.group_rows >= PARQUET_GROUP_ROWS {
                self.close_group(path)?;
            }
            from += take;
        }
        Ok(())
    }

    /// Encodes one column array into each column writer, side by side.
    fn encode(&mut self, path: &Path, arrays: &[ArrayRef]) -> Result<(), Error> {
        let leaves: Vec<ArrowLeafColumn> = self
            .schema
            .fields()
            .iter()
            .zip(arrays)
            .map(|(field, array)| compute_leaves(field, array))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| parquet_write_error(path, e))?
            .into_iter()
            .flatten()
            .collect();
        self.columns
            .par_iter_mut()
            .zip(leaves)
            .try_for_each(|(writer, leaf)| writer.write(&leaf))
            .map_err(|e| parquet_write_error(path, e))
    }

    /// Closes the row group being written (its columns side by side) and starts the next.
    fn close_group(&mut self, path: &Path) -> Result<(), Error> {
        if self.group_rows == 0 {
            return Ok(());
        }
        let next = self
            .factory
            .create_column_writers(self.groups + 1)
            .map_err(|e| parquet_write_error(path, e))?;
        let chunks: Vec<ArrowColumnChunk> = std::mem::replace(&mut self.columns, next)
            .into_par_iter()
            .map(ArrowColumnWriter::close)
            .collect::<Result<_, _>>()
            .map_err(|e| parquet_write_error(path, e))?;
        let mut group = self
            .writer
            .next_row_group()
            .map_err(|e| parquet_write_error(path, e))?;
        for chunk in chunks {
            chunk
                .append_to_row_group(&mut group)
                .map_err(|e| parquet_write_error(path, e))?;
        }
        group.close().map_err(|e| parquet_write_error(path, e))?;
        self.groups += 1;
        self.group_rows = 0;
        Ok(())
    }

    fn finish(mut self, path: &Path) -> Result<File, Error> {
        self.flush(path)?;
        self.close_group(path)?;
        let out = self
            .writer
            .into_inner()
            .map_err(|e| parquet_write_error(path, e))?;
        out.into_inner()
            .map_err(|e| Error::write(path, e.into_error()))
    }
}

fn parquet_write_error(path: &Path, e: parquet::errors::ParquetError) -> Error {
    match e {
        parquet::errors::ParquetError::External(inner) => {
            match inner.downcast::<std::io::Error>() {
                Ok(io) => Error::write(path, *io),
                Err(other) => Error::Encode {
                    path: path.to_owned(),
                    format: FileFormat::Parquet,
                    message: other.to_string(),
                },
            }
        }
        other => Error::Encode {
            path: path.to_owned(),
            format: FileFormat::Parquet,
            message: other.to_string(),
        },
    }
}

struct XlsxSink {
    workbook: Workbook,
    file: File,
    next_row: u32,
}

fn xlsx_error(path: &Path, e: rust_xlsxwriter::XlsxError) -> Error {
    match e {
        rust_xlsxwriter::XlsxError::IoError(io) => Error::write(path, io),
        other => Error::Encode {
            path: path.to_owned(),
            format: FileFormat::Xlsx,
            message: other.to_string(),
        },
    }
}

impl XlsxSink {
    fn new(path: &Path, file: File, columns: &[(&str, ColumnType)]) -> Result<Self, Error> {
        let mut workbook = Workbook::new();
        // A fixed creation time keeps the file a pure function of its content.
        let created = ExcelDateTime::from_ymd(2021, 1, 1).map_err(|e| xlsx_error(path, e))?;
        workbook.set_properties(&DocProperties::new().set_creation_datetime(&created));
        let sheet = workbook
            .add_worksheet_with_constant_memory()
            .map_err(|e| xlsx_error(path, e))?
            .set_name("Sheet1")
            .map_err(|e| xlsx_error(path, e))?;
        let bold = XlsxFormat::new().set_bold();
        for (c, (name, _)) in columns.iter().enumerate() {
            let c = xlsx_col(path, c)?;
            sheet
                .write_string_with_format(0, c, *name, &bold)
                .map_err(|e| xlsx_error(path, e))?;
        }
        Ok(XlsxSink {
            workbook,
            file,
            next_row: 1,
        })
    }

    fn write_row(&mut self, path: &Path, row: &[Value<'_>]) -> Result<(), Error> {
        if self.next_row > XLSX_MAX_DATA_ROWS {
            return Err(Error::TooManyRows {
                path: path.to_owned(),
                limit: XLSX_MAX_DATA_ROWS,
            });
        }
        let sheet = self
            .workbook
            .worksheet_from_index(0)
            .map_err(|e| xlsx_error(path, e))?;
        for (c, v) in row.iter().enumerate() {
            let c = xlsx_col(path, c)?;
            let r = self.next_row;
            match v {
                Value::Null => continue,
                Value::Text("") => continue,
                Value::Text(s) => sheet.write_string(r, c, *s).map(|_| ()),
                Value::Float64(f) => sheet.write_number(r, c, *f).map(|_| ()),
                Value::Int64(i) => sheet.write_number(r, c, *i as f64).map(|_| ()),
            }
            .map_err(|e| xlsx_error(path, e))?;
        }
        self.next_row += 1;
        Ok(())
    }

    fn finish(mut self: Box<Self>, path: &Path) -> Result<File, Error> {
        let mut out = BufWriter::new(&self.file);
        self.workbook
            .save_to_writer(&mut out)
            .map_err(|e| xlsx_error(path, e))?;
        out.flush().map_err(|e| Error::write(path, e))?;
        drop(out);
        Ok(self.file)
    }
}

fn xlsx_col(path: &Path, c: usize) -> Result<u16, Error> {
    u16::try_from(c)
        .ok()
        .filter(|c| *c < 16_384)
        .ok_or_else(|| Error::Encode {
            path: path.to_owned(),
            format: FileFormat::Xlsx,
            message: "more than 16,384 columns".to_owned(),
        })
}
