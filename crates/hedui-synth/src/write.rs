//! Writers for the delivery formats departments use: CSV (UTF-8, UTF-8 with BOM, GB18030),
//! JSON lines, XLSX and Parquet. Each writes the schema's delivered headers, streams rows, and
//! writes to a temporary file that is renamed into place when complete, so a killed run never
//! leaves a half-written extract that looks whole.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use chrono::NaiveDate;
use hedui_model::{DatasetSchema, Format};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format as XlsxFormat, Workbook, Worksheet};

use crate::Error;

/// One value as a department's system would emit it.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// No value (an empty field, a JSON null, an empty cell).
    Null,
    /// Text.
    Str(String),
    /// A number cell. In text formats it is printed; in XLSX it becomes a numeric cell, which
    /// is how spreadsheets damage long ID numbers.
    Num(f64),
    /// A date cell in XLSX (a serial number with a date format); ISO text elsewhere.
    Date(NaiveDate),
}

impl Cell {
    /// A text cell, or `Null` for an empty string.
    pub fn text(s: impl Into<String>) -> Cell {
        let s = s.into();
        if s.is_empty() {
            Cell::Null
        } else {
            Cell::Str(s)
        }
    }

    /// A text cell from an optional value.
    pub fn opt(s: Option<impl Into<String>>) -> Cell {
        s.map_or(Cell::Null, Cell::text)
    }

    fn render(&self) -> Option<String> {
        match self {
            Cell::Null => None,
            Cell::Str(s) => Some(s.clone()),
            Cell::Num(n) => Some(render_float(*n)),
            Cell::Date(d) => Some(d.format("%Y-%m-%d").to_string()),
        }
    }
}

/// How a legacy system prints a float: a large ID number comes out in scientific notation.
fn render_float(n: f64) -> String {
    if n.abs() >= 1e11 {
        format!("{n:E}").replace("E", "E+")
    } else if n.fract() == 0.0 {
        format!("{n:.0}")
    } else {
        format!("{n}")
    }
}

/// A streaming writer for one dataset file.
pub trait TableSink: Send {
    /// Appends one row (cells in schema column order).
    fn write_row(&mut self, row: &[Cell]) -> Result<(), Error>;
    /// Finishes the file, renames it into place and returns its path.
    fn finish(self: Box<Self>) -> Result<PathBuf, Error>;
}

/// Opens a writer for `schema` at `dir/<dataset>.<ext>` in the schema's delivery format.
pub fn open_sink(dir: &Path, schema: &DatasetSchema) -> Result<Box<dyn TableSink>, Error> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let path = dir.join(format!(
        "{}.{}",
        schema.dataset,
        schema.delivery.format.extension()
    ));
    let tmp = path.with_extension(format!("{}.tmp", schema.delivery.format.extension()));
    let headers: Vec<String> = schema.columns.iter().map(|c| c.source.clone()).collect();
    Ok(match schema.delivery.format {
        Format::Csv => Box::new(CsvSink::new(
            &tmp,
            path,
            &headers,
            &schema.delivery.encoding,
        )?),
        Format::Jsonl => Box::new(JsonlSink::new(&tmp, path, headers)?),
        Format::Xlsx => Box::new(XlsxSink::new(tmp, path, &headers)?),
        Format::Parquet => Box::new(ParquetSink::new(&tmp, path, &headers)?),
    })
}

fn rename_into_place(tmp: &Path, path: &Path) -> Result<(), Error> {
    std::fs::rename(tmp, path).map_err(|e| Error::io(path, e))
}

#[derive(Debug, Clone, Copy)]
enum TextEncoding {
    Utf8,
    Utf8Bom,
    Gb18030,
}

struct CsvSink {
    out: BufWriter<File>,
    tmp: PathBuf,
    path: PathBuf,
    encoding: TextEncoding,
    line: String,
}

impl CsvSink {
    fn new(tmp: &Path, path: PathBuf, headers: &[String], encoding: &str) -> Result<Self, Error> {
        let encoding = match encoding {
            "utf-8" => TextEncoding::Utf8,
            "utf-8-bom" => TextEncoding::Utf8Bom,
            "gb18030" | "gbk" => TextEncoding::Gb18030,
            other => return Err(Error::Config(format!("unsupported CSV encoding {other}"))),
        };
        let file = File::create(tmp).map_err(|e| Error::io(tmp, e))?;
        let mut sink = CsvSink {
            out: BufWriter::with_capacity(1 << 20, file),
            tmp: tmp.to_owned(),
            path,
            encoding,
            line: String::new(),
        };
        if let TextEncoding::Utf8Bom = encoding {
            sink.out
                .write_all("\u{FEFF}".as_bytes())
                .map_err(|e| Error::io(tmp, e))?;
        }
        let cells: Vec<Cell> = headers.iter().map(|h| Cell::text(h.clone())).collect();
        sink.write_row(&cells)?;
        Ok(sink)
    }
}

fn csv_field(out: &mut String, s: &str) {
    if s.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&s.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(s);
    }
}

impl TableSink for CsvSink {
    fn write_row(&mut self, row: &[Cell]) -> Result<(), Error> {
        self.line.clear();
        for (i, cell) in row.iter().enumerate() {
            if i > 0 {
                self.line.push(',');
            }
            if let Some(s) = cell.render() {
                csv_field(&mut self.line, &s);
            }
        }
        self.line.push_str("\r\n");
        let bytes = match self.encoding {
            TextEncoding::Utf8 | TextEncoding::Utf8Bom => {
                std::borrow::Cow::Borrowed(self.line.as_bytes())
            }
            // encoding_rs's GB18030 encoder covers all of Unicode with four-byte sequences.
            TextEncoding::Gb18030 => encoding_rs::GB18030.encode(&self.line).0,
        };
        self.out
            .write_all(&bytes)
            .map_err(|e| Error::io(&self.tmp, e))
    }

    fn finish(mut self: Box<Self>) -> Result<PathBuf, Error> {
        self.out.flush().map_err(|e| Error::io(&self.tmp, e))?;
        rename_into_place(&self.tmp, &self.path)?;
        Ok(self.path)
    }
}

struct JsonlSink {
    out: BufWriter<File>,
    tmp: PathBuf,
    path: PathBuf,
    headers: Vec<String>,
}

impl JsonlSink {
    fn new(tmp: &Path, path: PathBuf, headers: Vec<String>) -> Result<Self, Error> {
        let file = File::create(tmp).map_err(|e| Error::io(tmp, e))?;
        Ok(JsonlSink {
            out: BufWriter::with_capacity(1 << 20, file),
            tmp: tmp.to_owned(),
            path,
            headers,
        })
    }
}

impl TableSink for JsonlSink {
    fn write_row(&mut self, row: &[Cell]) -> Result<(), Error> {
        let mut obj = serde_json::Map::with_capacity(row.len());
        for (h, cell) in self.headers.iter().zip(row) {
            let v = match cell {
                Cell::Null => serde_json::Value::Null,
                Cell::Num(n) => serde_json::Number::from_f64(*n)
                    .map_or(serde_json::Value::Null, serde_json::Value::Number),
                other => serde_json::Value::String(other.render().unwrap_or_default()),
            };
            obj.insert(h.clone(), v);
        }
        serde_json::to_writer(&mut self.out, &obj).map_err(|e| Error::io(&self.tmp, e.into()))?;
        self.out
            .write_all(b"\n")
            .map_err(|e| Error::io(&self.tmp, e))
    }

    fn finish(mut self: Box<Self>) -> Result<PathBuf, Error> {
        self.out.flush().map_err(|e| Error::io(&self.tmp, e))?;
        rename_into_place(&self.tmp, &self.path)?;
        Ok(self.path)
    }
}

struct XlsxSink {
    workbook: Workbook,
    tmp: PathBuf,
    path: PathBuf,
    row: u32,
    date_format: XlsxFormat,
}

/// Excel's row limit; a department splits larger extracts, we refuse them.
const XLSX_MAX_ROWS: u32 = 1_048_575;

impl XlsxSink {
    fn new(tmp: PathBuf, path: PathBuf, headers: &[String]) -> Result<Self, Error> {
        let mut workbook = Workbook::new();
        // A fixed creation time keeps the file a pure function of its content.
        let created =
            ExcelDateTime::from_ymd(2021, 1, 1).map_err(|e| Error::Xlsx(e.to_string()))?;
        workbook.set_properties(&DocProperties::new().set_creation_datetime(&created));
        let sheet: &mut Worksheet = workbook
            .add_worksheet_with_constant_memory()
            .map_err(|e| Error::Xlsx(e.to_string()))?;
        sheet
            .set_name("Sheet1")
            .map_err(|e| Error::Xlsx(e.to_string()))?;
        for (c, h) in headers.iter().enumerate() {
            sheet
                .write_string(0, col(c)?, h)
                .map_err(|e| Error::Xlsx(e.to_string()))?;
        }
        Ok(XlsxSink {
            workbook,
            tmp,
            path,
            row: 1,
            date_format: XlsxFormat::new().set_num_format("yyyy-mm-dd"),
        })
    }
}

fn col(c: usize) -> Result<u16, Error> {
    u16::try_from(c).map_err(|_| Error::Xlsx("too many columns".into()))
}

impl TableSink for XlsxSink {
    fn write_row(&mut self, row: &[Cell]) -> Result<(), Error> {
        if self.row > XLSX_MAX_ROWS {
            return Err(Error::Xlsx(format!(
                "{} has more rows than one sheet holds",
                self.path.display()
            )));
        }
        let sheet = self
            .workbook
            .worksheet_from_index(0)
            .map_err(|e| Error::Xlsx(e.to_string()))?;
        for (c, cell) in row.iter().enumerate() {
            let c = col(c)?;
            let r = match cell {
                Cell::Null => continue,
                Cell::Str(s) => sheet.write_string(self.row, c, s).map(|_| ()),
                Cell::Num(n) => sheet.write_number(self.row, c, *n).map(|_| ()),
                Cell::Date(d) => {
                    let dt = ExcelDateTime::from_ymd(
                        u16::try_from(chrono::Datelike::year(d)).unwrap_or(1900),
                        u8::try_from(chrono::Datelike::month(d)).unwrap_or(1),
                        u8::try_from(chrono::Datelike::day(d)).unwrap_or(1),
                    )
                    .map_err(|e| Error::Xlsx(e.to_string()))?;
                    sheet
                        .write_datetime_with_format(self.row, c, &dt, &self.date_format)
                        .map(|_| ())
                }
            };
            r.map_err(|e| Error::Xlsx(e.to_string()))?;
        }
        self.row += 1;
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<PathBuf, Error> {
        self.workbook
            .save(&self.tmp)
            .map_err(|e| Error::Xlsx(e.to_string()))?;
        rename_into_place(&self.tmp, &self.path)?;
        Ok(self.path)
    }
}

struct ParquetSink {
    writer: Option<ArrowWriter<File>>,
    schema: Arc<Schema>,
    builders: Vec<StringBuilder>,
    buffered: usize,
    tmp: PathBuf,
    path: PathBuf,
}

const PARQUET_BATCH: usize = 65_536;

impl ParquetSink {
    fn new(tmp: &Path, path: PathBuf, headers: &[String]) -> Result<Self, Error> {
        let schema = Arc::new(Schema::new(
            headers
                .iter()
                .map(|h| Field::new(h, DataType::Utf8, true))
                .collect::<Vec<_>>(),
        ));
        let file = File::create(tmp).map_err(|e| Error::io(tmp, e))?;
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .build();
        let writer = ArrowWriter::try_new(file, schema.clone(), Some(props))
            .map_err(|e| Error::Parquet(e.to_string()))?;
        Ok(ParquetSink {
            writer: Some(writer),
            builders: headers.iter().map(|_| StringBuilder::new()).collect(),
            schema,
            buffered: 0,
            tmp: tmp.to_owned(),
            path,
        })
    }

    fn flush_batch(&mut self) -> Result<(), Error> {
        if self.buffered == 0 {
            return Ok(());
        }
        let columns: Vec<ArrayRef> = self
            .builders
            .iter_mut()
            .map(|b| Arc::new(b.finish()) as ArrayRef)
            .collect();
        let batch = RecordBatch::try_new(self.schema.clone(), columns)
            .map_err(|e| Error::Parquet(e.to_string()))?;
        if let Some(w) = self.writer.as_mut() {
            w.write(&batch).map_err(|e| Error::Parquet(e.to_string()))?;
        }
        self.buffered = 0;
        Ok(())
    }
}

impl TableSink for ParquetSink {
    fn write_row(&mut self, row: &[Cell]) -> Result<(), Error> {
        for (b, cell) in self.builders.iter_mut().zip(row) {
            b.append_option(cell.render());
        }
        self.buffered += 1;
        if self.buffered >= PARQUET_BATCH {
            self.flush_batch()?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<PathBuf, Error> {
        self.flush_batch()?;
        if let Some(w) = self.writer.take() {
            w.close().map_err(|e| Error::Parquet(e.to_string()))?;
        }
        rename_into_place(&self.tmp, &self.path)?;
        Ok(self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_like_a_legacy_system() {
        assert_eq!(
            render_float(421_303_198_001_010_000.0),
            "4.2130319800101E+17"
        );
        assert_eq!(render_float(1234.0), "1234");
        assert_eq!(render_float(12.5), "12.5");
    }

    #[test]
    fn csv_quotes_only_when_needed() {
        let mut s = String::new();
        csv_field(&mut s, "a,b");
        csv_field(&mut s, "plain");
        csv_field(&mut s, "say \"hi\"");
        assert_eq!(s, "\"a,b\"plain\"say \"\"hi\"\"\"");
    }
}
