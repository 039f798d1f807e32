//! The crate's one error type. Every variant names the file it is about and says whose fault
//! the failure is ([`Fault`]), so that the command line can tell an analyst "fix your file" or
//! "fix your arguments" apart from "the disk failed".

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::FileFormat;
use crate::recognise::Field;

/// Whose fault a failure is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// The user asked for something that cannot be: a path that does not exist, an unsupported
    /// file type, a column name that is not in the file.
    User,
    /// The file's content is unusable: bad encoding, corrupt workbook or Parquet file, no header,
    /// no identity column.
    Data,
    /// The operating system failed to read or write (permissions, disk full, I/O error).
    Io,
    /// The calling code broke this crate's contract (a projection index beyond the last column,
    /// a row of the wrong length given to a writer): a bug in hedui, not in the data.
    Internal,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Fault::User => "user error",
            Fault::Data => "data error",
            Fault::Io => "I/O error",
            Fault::Internal => "internal error",
        })
    }
}

/// Everything that can go wrong reading, writing or recognising a table.
///
/// Per-row problems (a ragged CSV row, an `#N/A` cell) are *not* errors: they are reported in
/// [`Table::bad_rows`](crate::Table::bad_rows) and the caller decides what to do with them.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The path does not exist.
    #[error("{}: file not found", .path.display())]
    NotFound {
        /// The file.
        path: PathBuf,
    },
    /// The path exists but is not a regular file (a directory, a socket …).
    #[error("{}: not a file", .path.display())]
    NotAFile {
        /// The path.
        path: PathBuf,
    },
    /// The operating system failed to read the file.
    #[error("{}: cannot read: {source}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The operating system failed to write the file (or its temporary twin).
    #[error("{}: cannot write: {source}", .path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The extension is not one this crate reads or writes.
    #[error(
        "{}: unsupported file type{hint}; hedui reads and writes .csv, .tsv, .txt (delimited text), \
         .xlsx, .xlsm (Excel) and .parquet",
        .path.display()
    )]
    UnknownFormat {
        /// The file.
        path: PathBuf,
        /// Extra advice for well-known unsupported types (starts with a space or is empty).
        hint: &'static str,
    },
    /// The file has no header row: it is empty, or every row is blank.
    #[error("{}: the file is empty (no header row found)", .path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// Decoding the text failed, or produced U+FFFD replacement characters.
    #[error("{}: line {line}: {detail}", .path.display())]
    InvalidEncoding {
        /// The file.
        path: PathBuf,
        /// 1-based physical line of the first bad bytes.
        line: u64,
        /// The encoding the file was decoded as (`UTF-8`, `gb18030` …).
        encoding: &'static str,
        /// What was wrong and what to do about it.
        detail: String,
    },
    /// The text looks like an encoding hedui deliberately does not guess (Big5): decoding it as
    /// GB18030 would silently produce wrong characters.
    #[error(
        "{}: the text looks {detected}-encoded, which hedui does not read by guesswork; \
         re-save the file as UTF-8 (or name the encoding explicitly)",
        .path.display()
    )]
    UnsupportedEncoding {
        /// The file.
        path: PathBuf,
        /// What the detector saw.
        detected: &'static str,
    },
    /// [`ReadOptions::encoding`](crate::ReadOptions::encoding) is not a known encoding label.
    #[error("{}: unknown text encoding {label:?} (try utf-8 or gb18030)", .path.display())]
    UnknownEncodingLabel {
        /// The file.
        path: PathBuf,
        /// The label given.
        label: String,
    },
    /// The CSV parser rejected the text (rare: the parser is lenient).
    #[error("{}: line {line}: malformed delimited text: {message}", .path.display())]
    CorruptCsv {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: u64,
        /// The parser's message.
        message: String,
    },
    /// The workbook cannot be opened or parsed.
    #[error("{}: not a readable Excel workbook: {message}", .path.display())]
    CorruptXlsx {
        /// The file.
        path: PathBuf,
        /// calamine's message.
        message: String,
    },
    /// The requested worksheet does not exist.
    #[error("{}: no worksheet named {sheet:?} (sheets: {})", .path.display(), .sheets.join(", "))]
    SheetNotFound {
        /// The file.
        path: PathBuf,
        /// The name asked for.
        sheet: String,
        /// The sheets the workbook has.
        sheets: Vec<String>,
    },
    /// The Parquet file cannot be opened or decoded.
    #[error("{}: not a readable Parquet file: {message}", .path.display())]
    CorruptParquet {
        /// The file.
        path: PathBuf,
        /// The parquet/arrow message.
        message: String,
    },
    /// Neither a name nor an ID-number column was recognised.
    #[error(
        "{}: no identity column recognised (need a name or an ID-number column such as 姓名 or \
         身份证号); headers found: {}; name the columns with --map name=COLUMN or \
         --map id_number=COLUMN",
        .path.display(), quote_list(.headers)
    )]
    NoIdentityColumn {
        /// The file.
        path: PathBuf,
        /// The headers the file has.
        headers: Vec<String>,
    },
    /// An override (`--map field=column`, `--id-column`) names a column the file does not have.
    #[error(
        "{}: no column {column:?} (asked for as {field}); headers found: {}",
        .path.display(), quote_list(.headers)
    )]
    UnknownColumn {
        /// The file.
        path: PathBuf,
        /// The field the column was meant for.
        field: Field,
        /// The column asked for.
        column: String,
        /// The headers the file has.
        headers: Vec<String>,
    },
    /// A projection index is beyond the last column.
    #[error("{}: column {index} requested but the file has {columns} columns", .path.display())]
    ColumnOutOfRange {
        /// The file.
        path: PathBuf,
        /// The index asked for (0-based).
        index: usize,
        /// How many columns the file has.
        columns: usize,
    },
    /// A writer was given a row that does not fit its columns.
    #[error("{}: row {row}: {message}", .path.display())]
    InvalidRow {
        /// The file being written.
        path: PathBuf,
        /// 1-based data row.
        row: u64,
        /// What does not fit.
        message: String,
    },
    /// More rows than one XLSX sheet holds.
    #[error(
        "{}: more than {limit} data rows do not fit in one Excel sheet; write .csv or .parquet",
        .path.display()
    )]
    TooManyRows {
        /// The file being written.
        path: PathBuf,
        /// The limit.
        limit: u32,
    },
    /// The XLSX or Parquet encoder failed.
    #[error("{}: cannot encode {format:?}: {message}", .path.display())]
    Encode {
        /// The file being written.
        path: PathBuf,
        /// The format being written.
        format: FileFormat,
        /// The encoder's message.
        message: String,
    },
}

fn quote_list(items: &[String]) -> String {
    if items.is_empty() {
        return "(none)".to_owned();
    }
    items
        .iter()
        .map(|h| format!("{h:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Error {
    /// Whose fault the failure is.
    pub fn fault(&self) -> Fault {
        match self {
            Error::NotFound { .. }
            | Error::NotAFile { .. }
            | Error::UnknownFormat { .. }
            | Error::UnknownEncodingLabel { .. }
            | Error::SheetNotFound { .. }
            | Error::UnknownColumn { .. }
            | Error::TooManyRows { .. } => Fault::User,
            Error::Empty { .. }
            | Error::InvalidEncoding { .. }
            | Error::UnsupportedEncoding { .. }
            | Error::CorruptCsv { .. }
            | Error::CorruptXlsx { .. }
            | Error::CorruptParquet { .. }
            | Error::NoIdentityColumn { .. } => Fault::Data,
            Error::Read { .. } | Error::Write { .. } => Fault::Io,
            Error::ColumnOutOfRange { .. } | Error::InvalidRow { .. } | Error::Encode { .. } => {
                Fault::Internal
            }
        }
    }

    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            Error::NotFound { path }
            | Error::NotAFile { path }
            | Error::Read { path, .. }
            | Error::Write { path, .. }
            | Error::UnknownFormat { path, .. }
            | Error::Empty { path }
            | Error::InvalidEncoding { path, .. }
            | Error::UnsupportedEncoding { path, .. }
            | Error::UnknownEncodingLabel { path, .. }
            | Error::CorruptCsv { path, .. }
            | Error::CorruptXlsx { path, .. }
            | Error::SheetNotFound { path, .. }
            | Error::CorruptParquet { path, .. }
            | Error::NoIdentityColumn { path, .. }
            | Error::UnknownColumn { path, .. }
            | Error::ColumnOutOfRange { path, .. }
            | Error::InvalidRow { path, .. }
            | Error::TooManyRows { path, .. }
            | Error::Encode { path, .. } => path,
        }
    }

    /// An OS error while opening or reading `path`, classified (not found, not a file, other).
    pub(crate) fn read(path: &Path, source: io::Error) -> Error {
        match source.kind() {
            io::ErrorKind::NotFound => Error::NotFound {
                path: path.to_owned(),
            },
            io::ErrorKind::IsADirectory => Error::NotAFile {
                path: path.to_owned(),
            },
            _ => Error::Read {
                path: path.to_owned(),
                source,
            },
        }
    }

    pub(crate) fn write(path: &Path, source: io::Error) -> Error {
        Error::Write {
            path: path.to_owned(),
            source,
        }
    }
}
