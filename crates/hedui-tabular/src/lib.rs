//! # hedui-tabular
//!
//! Reading and writing the tabular files analysts and departments exchange — CSV/TSV in UTF-8
//! or GB18030/GBK, Excel `.xlsx`, Parquet — as **text columns**, with errors that name the
//! file and say whose fault they are; and recognising which columns hold the identity fields
//! (姓名, 身份证号, 出生日期 …) whatever the headers are called.
//!
//! | need | entry point | result |
//! |---|---|---|
//! | headers only (cheap) | [`read_headers`] | ([`FileFormat`], headers) |
//! | the data, some columns | [`read_table`] / [`read_table_with`] + [`ReadOptions`] | [`Table`] of [`TextColumn`]s |
//! | which column is what | [`recognise`] | [`ColumnMap`] |
//! | write (streaming, typed) | [`TableWriter`] with [`ColumnType`], [`Value`] | file, atomically |
//! | write text columns | [`write_table`] | file, atomically |
//! | failures | [`Error`], [`Error::fault`] → [`Fault`] | |
//!
//! Everything read becomes text so that nothing is lost or silently "fixed": the identity
//! standardisers downstream decide what a value means. Numbers are rendered the way an analyst
//! would see them (see [`render_float`]); in particular an 18-digit ID number that Excel or
//! pandas stored as a number — already corrupted — reads as `4.2130319800101005E+17`, which
//! the ID standardiser reports, rather than as a plausible wrong number.
//!
//! Per-row problems (a CSV row with the wrong number of fields, an `#N/A` cell) are not
//! errors: they are listed in [`Table::bad_rows`] and the caller decides.
//!
//! ```
//! use hedui_tabular::{read_headers, read_table, recognise, write_table, Field, FileFormat};
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("申请名单.csv");
//! write_table(
//!     &path,
//!     &["编号", "姓名", "身份证号", "备注"],
//!     &[
//!         vec![Some("A1".into()), Some("A2".into())],
//!         vec![Some("张三".into()), Some("李四".into())],
//!         vec![Some("421303198001010018".into()), None],
//!         vec![None, Some("复核, \"加急\"".into())],
//!     ],
//! )?;
//!
//! let (format, headers) = read_headers(&path)?;
//! assert_eq!(format, FileFormat::Csv);
//! let map = recognise(&path, &headers, &[], None)?;
//! assert_eq!((map.record_id, map.name, map.id_number), (Some(0), Some(1), Some(2)));
//!
//! // Only the identity columns are materialised.
//! let table = read_table(&path, Some(&map.columns()))?;
//! assert_eq!(table.headers, ["编号", "姓名", "身份证号"]);
//! assert_eq!(table.num_rows(), 2);
//! assert_eq!(table.column("姓名").and_then(|c| c.get(1)), Some("李四"));
//! assert_eq!(table.column("身份证号").and_then(|c| c.get(1)), None);
//! assert_eq!(table.field(&map, Field::Name).and_then(|c| c.get(0)), Some("张三"));
//! assert_eq!(table.encoding, Some("UTF-8"));
//! assert!(table.bad_rows.is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Reading delimited text (`.csv`, `.txt`, `.tsv`)
//!
//! Encoding decision, in order:
//! 1. an explicit [`ReadOptions::encoding`];
//! 2. a byte-order mark (UTF-8, UTF-16LE/BE — Excel's "Unicode text" export);
//! 3. UTF-8 if the first MiB is UTF-8 — or *mostly* UTF-8 (a UTF-8 file with a
//!    damaged byte must be reported at that line, not decoded wholesale as GB18030 mojibake);
//! 4. otherwise GB18030, the superset of GBK and GB2312 that every Chinese government system
//!    exports. `chardetng` is consulted only as a guard: Big5 bytes (traditional Chinese from
//!    Taiwan/Hong Kong systems) are almost all *valid* GB18030 and would decode into plausible
//!    but wrong characters, so a sample that chardetng (without a TLD hint — with `.cn` it
//!    answers GBK for everything) calls Big5 is refused with advice to re-save as UTF-8.
//!    Other guesses for short samples (EUC-JP, windows-1252) were measured to be noise on
//!    short GBK files and are ignored.
//!
//! Decoding is streamed in 256 KiB chunks with `encoding_rs::Decoder`, strictly: the
//! first malformed byte sequence, or any U+FFFD already in the text, stops the read with an
//! error naming the physical line.
//!
//! The delimiter is sniffed on the first non-blank line (the one among `,` tab `;` `|` that occurs
//! most often outside quotes; `.tsv` is always tab). Header cells are trimmed (whitespace including
//! U+3000, stray BOMs) and trailing empty header cells dropped. Blank lines and rows of bare
//! delimiters are skipped. A row with fewer fields than the header, or with *non-empty* extra fields,
//! is left out of the table and listed in [`Table::bad_rows`] with its line and raw fields (extra
//! fields that are all empty — a trailing delimiter — are fine). Cells are not trimmed; an empty
//! cell is a null.
//!
//! ## Reading Excel (`.xlsx`, `.xlsm`)
//!
//! The first worksheet (or [`ReadOptions::sheet`]) is streamed with calamine's cell reader; the
//! first non-empty row is the header; every cell is rendered as text the way an analyst reads
//! it in Excel.
//!
//! Cell rendering:
//! - text as-is (empty text is a null);
//! - numbers through [`render_float`]: `1234`, `0.5`, and — the point —
//!   `4.2130319800101005E+17` for an ID number that Excel stored as a number and thereby
//!   corrupted, so the ID standardiser reports the damage instead of accepting a wrong number;
//! - dates `YYYY-MM-DD`, date-times `YYYY-MM-DD HH:MM:SS` (rounded to the second), times of
//!   day `HH:MM:SS`;
//! - booleans `true`/`false`;
//! - error cells (`#N/A`, `#VALUE!` …) a null plus a note in [`Table::bad_rows`].
//!
//! Completely empty rows are skipped; values to the right of the last header are ignored with a
//! note in [`Table::bad_rows`]. Legacy `.xls` is refused with advice to re-save as `.xlsx`.
//!
//! ## Reading Parquet
//!
//! Rendering: strings as-is; integers in decimal; floats through
//! [`render_float`] (an ID number stored as a double comes out as
//! `4.2130319800101005E+17` and is reported by the ID standardiser, as for XLSX) with NaN
//! (pandas' "missing") as null; booleans `true`/`false`; dates `YYYY-MM-DD`; time zone–naive
//! timestamps `YYYY-MM-DD HH:MM:SS[.fff]` (date only at midnight); everything else (decimals,
//! times, dictionaries, lists …) through arrow's display formatter. Nulls and empty strings are
//! null. Only the requested columns are decoded (`ProjectionMask::roots`).
//!
//! ## Writing
//!
//! The format follows the extension:
//! - `.csv`, `.txt` — UTF-8 **with a BOM** (so Excel shows Chinese correctly), comma-separated,
//!   RFC 4180 quoting (only where needed) and CRLF line ends; `.tsv` the same with tabs.
//!   Never GBK: GBK cannot hold every name (STACK.md §3).
//! - `.parquet` — Snappy-compressed, one Utf8/Float64/Int64 column per [`ColumnType`].
//! - `.xlsx` — one sheet "Sheet1", text cells as text (so ID numbers survive), numbers as
//!   numbers; for small tables (at most 1,048,575 data rows).
//!
//! Every write is atomic: rows go to a hidden temporary file in the target's directory
//! (`.<name>.<pid>-<n>.tmp`), which is flushed, synced and renamed over the target by
//! [`TableWriter::finish`]. A writer dropped before `finish` removes its temporary file, so a
//! failed or killed run never leaves a half-written file under the real name.
//!
//! ## Recognising identity columns
//!
//! [`recognise`] finds which column holds the name, the ID number, the birth date … in a file
//! an analyst hands over, from common Chinese and English headers (姓名/name/xm,
//! 身份证号/公民身份号码/证件号码/sfzh/id_number, 性别/gender/sex, 出生日期/dob/csrq,
//! 住址/地址/坐落/address, 联系电话/手机号/phone/mobile/tel, 曾用名/former_name; record id from
//! `--id-column`, else `rid`, `id`, `record_id`, `unique_id`, `编号`, then `记录编号`, `流水号` …).
//!
//! Headers are compared after [`normalise_header`]: full-width ASCII folded to half-width,
//! lower case, whitespace (including U+3000), `_ - . * : ：` and bracketed remarks
//! (`身份证号（18位）`, `Name (required)`) removed. So `ID_Number`, `id number` and `IdNumber`
//! are all `idnumber`, and `*姓 名` is `姓名`.
//!
//! For each field the aliases are tried in order (an earlier alias wins over a column further
//! left), then — only for Chinese headers and only for a few subject prefixes — a prefixed
//! form such as `申请人姓名` or `户主身份证号`. Overrides (`--map field=column`) and the id
//! column (`--id-column`) are applied first and their columns are not reused. Every
//! non-obvious choice is explained in [`ColumnMap::notes`].
//!
//! ## Architecture invariants
//!
//! This crate reads and writes single files given to it; it knows
//! nothing of the lake's layout or manifests (that is `hedui-lake`'s job) and does no
//! standardisation of values (that is `hedui-identity`'s). It never writes GBK, and it never
//! leaves a partly written file under the target name.

mod column;
mod columnar;
mod delimited;
mod error;
mod recognise;
mod write;
mod xlsx;

use std::path::{Path, PathBuf};

pub use column::{Iter, SCIENTIFIC_FROM, TextColumn, render_float};
pub use error::{Error, Fault};
pub use recognise::{
    ColumnMap, Field, ParseFieldError, normalise_header, parse_mapping, recognise,
};
pub use write::{ColumnType, TableWriter, Value, XLSX_MAX_DATA_ROWS, write_table};

/// A file format, chosen by extension (case-insensitive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileFormat {
    /// Delimited text: `.csv`, `.txt` (delimiter sniffed on read, comma on write) and `.tsv`
    /// (tab).
    Csv,
    /// Excel: `.xlsx`, `.xlsm`.
    Xlsx,
    /// Apache Parquet: `.parquet`.
    Parquet,
}

impl FileFormat {
    /// The format of `path` by its extension.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownFormat`], naming the file, for any other extension.
    ///
    /// ```
    /// use hedui_tabular::FileFormat;
    /// assert_eq!(FileFormat::from_path("a/B.CSV".as_ref()).ok(), Some(FileFormat::Csv));
    /// assert_eq!(FileFormat::from_path("x.tsv".as_ref()).ok(), Some(FileFormat::Csv));
    /// assert_eq!(FileFormat::from_path("x.xlsm".as_ref()).ok(), Some(FileFormat::Xlsx));
    /// let err = FileFormat::from_path("名单.xls".as_ref()).expect_err("legacy Excel");
    /// assert!(err.to_string().contains("名单.xls"));
    /// ```
    pub fn from_path(path: &Path) -> Result<FileFormat, Error> {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        match ext.as_str() {
            "csv" | "txt" | "tsv" => Ok(FileFormat::Csv),
            "xlsx" | "xlsm" => Ok(FileFormat::Xlsx),
            "parquet" => Ok(FileFormat::Parquet),
            other => Err(Error::UnknownFormat {
                path: path.to_owned(),
                hint: match other {
                    "xls" | "et" => " (legacy Excel: open it and save as .xlsx or CSV UTF-8)",
                    "ods" => " (save it as .xlsx)",
                    "json" | "jsonl" | "ndjson" => " (JSON is not a table format here)",
                    "gz" | "zip" | "7z" | "rar" => " (unpack it first)",
                    _ => "",
                },
            }),
        }
    }
}

/// `.tsv` files are tab-separated whatever the header line looks like.
pub(crate) fn is_tsv(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("tsv"))
}

/// Options for reading; the defaults detect everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReadOptions {
    /// CSV: the text encoding as a WHATWG label (`utf-8`, `gb18030`, `gbk`, `big5` …) instead
    /// of detection. `gbk` decodes as GB18030, its superset.
    pub encoding: Option<String>,
    /// CSV: the delimiter instead of sniffing the header line (`.tsv` files default to tab).
    pub delimiter: Option<u8>,
    /// XLSX: the worksheet to read instead of the first.
    pub sheet: Option<String>,
}

impl ReadOptions {
    /// Forces the CSV encoding (a WHATWG label).
    pub fn encoding(mut self, label: impl Into<String>) -> Self {
        self.encoding = Some(label.into());
        self
    }

    /// Forces the CSV delimiter.
    pub fn delimiter(mut self, delimiter: u8) -> Self {
        self.delimiter = Some(delimiter);
        self
    }

    /// Reads the named worksheet.
    pub fn sheet(mut self, name: impl Into<String>) -> Self {
        self.sheet = Some(name.into());
        self
    }
}

/// A row that could not be read as it stands, or a cell-level note about a row that was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRow {
    /// Where it is, 1-based, as the user would find it: the CSV line on which the record
    /// starts, the XLSX sheet row.
    pub line: u64,
    /// What is wrong (`expected 5 fields, found 6`, `cell C7: Excel error #N/A …`).
    pub reason: String,
    /// `Some(i)`: the row is in the table as row `i`, with the affected cells null.
    /// `None`: the row was left out of the table; its raw fields are in [`fields`](Self::fields).
    pub row: Option<usize>,
    /// The raw fields of a row that was left out (empty otherwise), for quarantine.
    pub fields: Vec<String>,
}

/// A table read from a file: text columns, column-major.
#[derive(Debug, Clone)]
pub struct Table {
    /// The file read.
    pub path: PathBuf,
    /// Its format.
    pub format: FileFormat,
    /// CSV: the encoding detected or forced (`UTF-8`, `gb18030`, `UTF-16LE` …); `None` for
    /// XLSX and Parquet.
    pub encoding: Option<&'static str>,
    /// CSV: the delimiter used.
    pub delimiter: Option<u8>,
    /// XLSX: the worksheet read.
    pub sheet: Option<String>,
    /// Every header of the file, in file order (trimmed; trailing empty CSV headers dropped).
    pub file_headers: Vec<String>,
    /// The headers of the materialised columns, in the order they were requested.
    pub headers: Vec<String>,
    /// For each materialised column, its index in [`file_headers`](Self::file_headers).
    pub source_columns: Vec<usize>,
    /// The materialised columns, parallel to [`headers`](Self::headers).
    pub columns: Vec<TextColumn>,
    /// For each row, where it is in the file (1-based): CSV line where the record starts,
    /// XLSX sheet row, Parquet row ordinal. Use it as the record id when the file has none,
    /// and in messages to analysts.
    pub row_numbers: Vec<u64>,
    /// Rows left out and cell-level notes; see [`BadRow`].
    pub bad_rows: Vec<BadRow>,
}

impl Table {
    /// The number of data rows (zero for a header-only file — not an error).
    pub fn num_rows(&self) -> usize {
        self.row_numbers.len()
    }

    /// Whether the file had a header but no data rows.
    pub fn is_empty(&self) -> bool {
        self.row_numbers.is_empty()
    }

    /// The first materialised column with this header (exact, after trimming).
    pub fn column(&self, name: &str) -> Option<&TextColumn> {
        self.column_index(name).map(|i| &self.columns[i])
    }

    /// The position in [`columns`](Self::columns) of the first column with this header.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        let name = name.trim();
        self.headers.iter().position(|h| h == name)
    }

    /// The column of an identity field recognised by [`recognise`] (if it was materialised).
    pub fn field(&self, map: &ColumnMap, field: Field) -> Option<&TextColumn> {
        self.source_column(map.get(field)?)
    }

    /// The materialised column that was column `index` of the file.
    pub fn source_column(&self, index: usize) -> Option<&TextColumn> {
        self.source_columns
            .iter()
            .position(|&s| s == index)
            .map(|i| &self.columns[i])
    }
}

/// What a reader is asked for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Want<'a> {
    Headers,
    Columns(Option<&'a [usize]>),
}

/// Checks a projection against the header count: in range, duplicates dropped (first kept),
/// `None` = all columns.
pub(crate) fn resolve_projection(
    path: &Path,
    projection: Option<&[usize]>,
    columns: usize,
) -> Result<Vec<usize>, Error> {
    let Some(p) = projection else {
        return Ok((0..columns).collect());
    };
    let mut out = Vec::with_capacity(p.len());
    for &i in p {
        if i >= columns {
            return Err(Error::ColumnOutOfRange {
                path: path.to_owned(),
                index: i,
                columns,
            });
        }
        if !out.contains(&i) {
            out.push(i);
        }
    }
    Ok(out)
}

/// Checks that `path` is an existing regular file, so that every format reports "not found"
/// and "not a file" the same way.
fn check_file(path: &Path) -> Result<(), Error> {
    let meta = std::fs::metadata(path).map_err(|e| Error::read(path, e))?;
    if meta.is_file() {
        Ok(())
    } else {
        Err(Error::NotAFile {
            path: path.to_owned(),
        })
    }
}

/// The number of data rows in the file, when the format states it up front (a Parquet
/// footer); `None` for CSV and XLSX, which would have to be read to count them. For sizing
/// what a chunked read will fill.
///
/// # Errors
///
/// As [`read_headers`].
pub fn row_count(path: impl AsRef<Path>) -> Result<Option<u64>, Error> {
    let path = path.as_ref();
    match FileFormat::from_path(path)? {
        FileFormat::Parquet => columnar::num_rows(path).map(Some),
        FileFormat::Csv | FileFormat::Xlsx => Ok(None),
    }
}

/// Reads only the header row (CSV, XLSX) or the schema (Parquet).
///
/// # Errors
///
/// As [`read_table`], except that problems after the header row go unnoticed.
pub fn read_headers(path: impl AsRef<Path>) -> Result<(FileFormat, Vec<String>), Error> {
    read_headers_with(path, &ReadOptions::default())
}

/// [`read_headers`] with options.
///
/// # Errors
///
/// As [`read_table_with`].
pub fn read_headers_with(
    path: impl AsRef<Path>,
    options: &ReadOptions,
) -> Result<(FileFormat, Vec<String>), Error> {
    let table = read(path.as_ref(), Want::Headers, options)?;
    Ok((table.format, table.file_headers))
}

/// Reads a table. `columns` selects the columns to materialise by their index in the file
/// (as from [`read_headers`] or [`ColumnMap::columns`]), in the order given; `None` reads
/// all. Unrequested columns are parsed past but never stored.
///
/// # Errors
///
/// - user: [`Error::NotFound`], [`Error::NotAFile`], [`Error::UnknownFormat`];
/// - data: [`Error::Empty`] (no header — a header-only file is *not* an error, it has zero
///   rows), [`Error::InvalidEncoding`], [`Error::UnsupportedEncoding`], [`Error::CorruptXlsx`],
///   [`Error::CorruptParquet`];
/// - I/O: [`Error::Read`];
/// - caller bug: [`Error::ColumnOutOfRange`].
///
/// Ragged rows and error cells are not errors: see [`Table::bad_rows`].
pub fn read_table(path: impl AsRef<Path>, columns: Option<&[usize]>) -> Result<Table, Error> {
    read_table_with(path, columns, &ReadOptions::default())
}

/// [`read_table`] with options.
///
/// # Errors
///
/// As [`read_table`], plus [`Error::UnknownEncodingLabel`] and [`Error::SheetNotFound`] for
/// options that do not fit the file.
pub fn read_table_with(
    path: impl AsRef<Path>,
    columns: Option<&[usize]>,
    options: &ReadOptions,
) -> Result<Table, Error> {
    read(path.as_ref(), Want::Columns(columns), options)
}

/// Reads a whole file in chunks of at most `chunk_rows` data rows, handing each to `f` in file
/// order as a [`Table`] of every column: rows keep their numbers in the file, and a
/// [`BadRow::row`] indexes its chunk. `f` is called at least once (with no rows for a
/// header-only file). CSV and Parquet are read incrementally, so memory is bounded by the
/// chunk, not the file; an XLSX sheet (at most 1,048,576 rows) is read whole, then handed over
/// in chunks.
///
/// # Errors
///
/// As [`read_table`]. An error further down the file (a malformed byte sequence in a CSV)
/// comes after the chunks before it were handed over: a caller that must not keep part of a
/// file undoes what it did with them.
pub fn read_table_chunked(
    path: impl AsRef<Path>,
    options: &ReadOptions,
    chunk_rows: usize,
    f: &mut dyn FnMut(Table),
) -> Result<(), Error> {
    read_columns_chunked(path, None, options, chunk_rows, f)
}

/// [`read_table_chunked`] of only the `columns` given (as in [`read_table`]; `None` for all):
/// a Parquet file decodes only those, and every chunk holds only those.
///
/// # Errors
///
/// As [`read_table_chunked`], plus [`Error::NoSuchColumn`] for a column the file lacks.
pub fn read_columns_chunked(
    path: impl AsRef<Path>,
    columns: Option<&[usize]>,
    options: &ReadOptions,
    chunk_rows: usize,
    f: &mut dyn FnMut(Table),
) -> Result<(), Error> {
    let chunk_rows = chunk_rows.max(1);
    let rest = read_emitting(
        path.as_ref(),
        Want::Columns(columns),
        options,
        Some((chunk_rows, &mut *f)),
    )?;
    for t in split_rows(rest, chunk_rows) {
        f(t);
    }
    Ok(())
}

/// `t` cut into tables of at most `chunk` rows (one table, possibly empty, at least).
fn split_rows(t: Table, chunk: usize) -> Vec<Table> {
    let n = t.num_rows();
    if n <= chunk {
        return vec![t];
    }
    let mut left_out: Vec<BadRow> = Vec::new();
    let mut notes: Vec<BadRow> = Vec::new();
    for b in t.bad_rows.iter().cloned() {
        if b.row.is_some() {
            notes.push(b);
        } else {
            left_out.push(b);
        }
    }
    (0..n)
        .step_by(chunk)
        .enumerate()
        .map(|(k, start)| {
            let end = (start + chunk).min(n);
            let columns = t
                .columns
                .iter()
                .map(|c| {
                    let mut out = TextColumn::with_capacity(end - start, 0);
                    for r in start..end {
                        out.push(c.get(r));
                    }
                    out
                })
                .collect();
            let mut bad_rows: Vec<BadRow> = notes
                .iter()
                .filter(|b| b.row.is_some_and(|r| (start..end).contains(&r)))
                .map(|b| BadRow {
                    row: b.row.map(|r| r - start),
                    ..b.clone()
                })
                .collect();
            if k == 0 {
                bad_rows.extend(left_out.iter().cloned());
            }
            Table {
                columns,
                row_numbers: t.row_numbers[start..end].to_vec(),
                bad_rows,
                ..t.without_rows()
            }
        })
        .collect()
}

impl Table {
    /// The table's description (format, encoding, headers …) with no rows.
    fn without_rows(&self) -> Table {
        Table {
            path: self.path.clone(),
            format: self.format,
            encoding: self.encoding,
            delimiter: self.delimiter,
            sheet: self.sheet.clone(),
            file_headers: self.file_headers.clone(),
            headers: self.headers.clone(),
            source_columns: self.source_columns.clone(),
            columns: Vec::new(),
            row_numbers: Vec::new(),
            bad_rows: Vec::new(),
        }
    }
}

/// `t` with every file column materialised in file order.
/// `t` with its columns named: those of `projection` (already checked against the file), or
/// every column of the file.
fn projected(mut t: Table, projection: Option<&[usize]>) -> Table {
    t.source_columns = match projection {
        Some(p) => p.to_vec(),
        None => (0..t.file_headers.len()).collect(),
    };
    t.headers = t
        .source_columns
        .iter()
        .map(|&i| t.file_headers.get(i).cloned().unwrap_or_default())
        .collect();
    t
}

/// A chunk size and what receives each full chunk.
pub(crate) type Emit<'a, T> = (usize, &'a mut dyn FnMut(T));

fn read(path: &Path, want: Want<'_>, options: &ReadOptions) -> Result<Table, Error> {
    read_emitting(path, want, options, None)
}

/// [`read`], handing full chunks of rows to `emit` as they are read (CSV and Parquet) and
/// returning the rest.
fn read_emitting(
    path: &Path,
    want: Want<'_>,
    options: &ReadOptions,
    mut emit: Option<Emit<'_, Table>>,
) -> Result<Table, Error> {
    let format = FileFormat::from_path(path)?;
    check_file(path)?;
    let mut table = Table {
        path: path.to_owned(),
        format,
        encoding: None,
        delimiter: None,
        sheet: None,
        file_headers: Vec::new(),
        headers: Vec::new(),
        source_columns: Vec::new(),
        columns: Vec::new(),
        row_numbers: Vec::new(),
        bad_rows: Vec::new(),
    };
    let projection = match want {
        Want::Headers => None,
        Want::Columns(p) => Some(p),
    };
    match format {
        FileFormat::Csv => {
            let delimiter = options.delimiter.or_else(|| is_tsv(path).then_some(b'\t'));
            let chunk = emit.as_ref().map(|(n, _)| *n);
            let template = table.without_rows();
            let mut hand_over = |p: delimited::Parsed| {
                if let Some((_, f)) = emit.as_mut() {
                    f(projected(
                        Table {
                            encoding: Some(p.encoding),
                            delimiter: Some(p.delimiter),
                            file_headers: p.headers,
                            columns: p.columns,
                            row_numbers: p.row_numbers,
                            bad_rows: p.bad_rows,
                            ..template.without_rows()
                        },
                        projection.flatten(),
                    ));
                }
            };
            let p = delimited::read(
                path,
                options.encoding.as_deref(),
                delimiter,
                want,
                chunk.map(|n| (n, &mut hand_over as &mut dyn FnMut(delimited::Parsed))),
            )?;
            table.encoding = Some(p.encoding);
            table.delimiter = Some(p.delimiter);
            table.file_headers = p.headers;
            table.columns = p.columns;
            table.row_numbers = p.row_numbers;
            table.bad_rows = p.bad_rows;
        }
        FileFormat::Xlsx => {
            let p = xlsx::read(path, options.sheet.as_deref(), want)?;
            table.sheet = Some(p.sheet);
            table.file_headers = p.headers;
            table.columns = p.columns;
            table.row_numbers = p.row_numbers;
            table.bad_rows = p.bad_rows;
        }
        FileFormat::Parquet => {
            let chunk = emit.as_ref().map(|(n, _)| *n);
            let template = table.without_rows();
            let mut hand_over = |p: columnar::Parsed| {
                if let Some((_, f)) = emit.as_mut() {
                    f(projected(
                        Table {
                            file_headers: p.headers,
                            columns: p.columns,
                            row_numbers: p.row_numbers,
                            bad_rows: p.bad_rows,
                            ..template.without_rows()
                        },
                        projection.flatten(),
                    ));
                }
            };
            let p = columnar::read(
                path,
                want,
                chunk.map(|n| (n, &mut hand_over as &mut dyn FnMut(columnar::Parsed))),
            )?;
            table.file_headers = p.headers;
            table.columns = p.columns;
            table.row_numbers = p.row_numbers;
            table.bad_rows = p.bad_rows;
        }
    }
    if let Some(p) = projection {
        table.source_columns = resolve_projection(path, p, table.file_headers.len())?;
        table.headers = table
            .source_columns
            .iter()
            .map(|&i| table.file_headers[i].clone())
            .collect();
    }
    Ok(table)
}
