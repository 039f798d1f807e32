//! Parquet through the arrow-rs 59 reader, every column rendered as text. The rules are in the
//! crate docs, "Reading Parquet".

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{
    DataType, Date32Type, Date64Type, FieldRef, Float16Type, Float32Type, Float64Type, Int8Type,
    Int16Type, Int32Type, Int64Type, Schema, SchemaRef, TimeUnit, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType, UInt8Type, UInt16Type,
    UInt32Type, UInt64Type,
};
use arrow::error::ArrowError;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use chrono::{NaiveDateTime, Timelike};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::errors::ParquetError;

use crate::column::{TextColumn, write_float};
use crate::error::Error;
use crate::{BadRow, Want};

/// Rows per decoded batch.
const BATCH_ROWS: usize = 8192;

/// Rows per decoded batch at most, when a chunked read asks for batches of its chunk's size.
const MAX_BATCH_ROWS: usize = 1 << 16;

/// What reading a Parquet file produced.
#[derive(Debug)]
pub(crate) struct Parsed {
    pub headers: Vec<String>,
    pub columns: Vec<TextColumn>,
    pub row_numbers: Vec<u64>,
    pub bad_rows: Vec<BadRow>,
}

fn corrupt(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::CorruptParquet {
        path: path.to_owned(),
        message: e.to_string(),
    }
}

fn parquet_error(path: &Path, e: ParquetError) -> Error {
    match e {
        ParquetError::External(inner) => match inner.downcast::<std::io::Error>() {
            Ok(io) => Error::read(path, *io),
            Err(other) => corrupt(path, other),
        },
        other => corrupt(path, other),
    }
}

fn arrow_error(path: &Path, e: ArrowError) -> Error {
    match e {
        ArrowError::IoError(_, io) => Error::read(path, io),
        ArrowError::ExternalError(inner) => match inner.downcast::<ParquetError>() {
            Ok(pe) => parquet_error(path, *pe),
            Err(other) => corrupt(path, other),
        },
        other => corrupt(path, other),
    }
}

/// The number of data rows the file's footer states, read without decoding any page.
pub(crate) fn num_rows(path: &Path) -> Result<u64, Error> {
    let file = File::open(path).map_err(|e| Error::read(path, e))?;
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| parquet_error(path, e))?;
    Ok(u64::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0))
}

/// Reads a Parquet file. With `emit`, every `chunk` rows are handed to it as they fill (batch
/// by batch, so memory is bounded by the chunk); the rows after the last full chunk are
/// returned.
pub(crate) fn read(
    path: &Path,
    want: Want<'_>,
    mut emit: Option<crate::Emit<'_, Parsed>>,
) -> Result<Parsed, Error> {
    let file = File::open(path).map_err(|e| Error::read(path, e))?;
    let mut metadata = ArrowReaderMetadata::load(&file, ArrowReaderOptions::new())
        .map_err(|e| parquet_error(path, e))?;
    // Read in chunks, text columns come as string views into the decoded pages, kept as they
    // are by the chunk's columns (see `TextColumn`): no cell is copied.
    let chunked = emit.is_some();
    if chunked && let Some(schema) = with_string_views(metadata.schema()) {
        metadata = ArrowReaderMetadata::try_new(
            metadata.metadata().clone(),
            ArrowReaderOptions::new().with_schema(schema),
        )
        .map_err(|e| parquet_error(path, e))?;
    }
    let builder = ParquetRecordBatchReaderBuilder::new_with_metadata(file, metadata);
    let headers: Vec<String> = builder
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let projection = match want {
        Want::Headers => {
            return Ok(Parsed {
                headers,
                columns: Vec::new(),
                row_numbers: Vec::new(),
                bad_rows: Vec::new(),
            });
        }
        Want::Columns(p) => crate::resolve_projection(path, p, headers.len())?,
    };
    let total_rows = usize::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0);
    // The columns kept as the decoder's string views (and so needing no room of their own):
    // a chunk's; a whole read copies its cells into the packed form.
    let views: Vec<bool> = projection
        .iter()
        .map(|&c| {
            chunked
                && builder
                    .schema()
                    .fields()
                    .get(c)
                    .is_some_and(|f| *f.data_type() == DataType::Utf8View)
        })
        .collect();
    // The batches hold the projected columns in file order.
    let mut in_file_order = projection.clone();
    in_file_order.sort_unstable();
    let mask = ProjectionMask::roots(builder.parquet_schema(), in_file_order.iter().copied());
    // A chunked read decodes each chunk as one batch where it can (one array per column: a
    // cell is found without working out which array holds it).
    let batch_rows = emit
        .as_ref()
        .map_or(BATCH_ROWS, |(chunk, _)| (*chunk).clamp(1, MAX_BATCH_ROWS));
    let reader = builder
        .with_projection(mask)
        .with_batch_size(batch_rows)
        .build()
        .map_err(|e| parquet_error(path, e))?;
    // For each batch column, the slot in the caller's projection.
    let slot_of_batch_column: Vec<usize> = in_file_order
        .iter()
        .map(|source| projection.iter().position(|p| p == source).unwrap_or(0))
        .collect();
    let capacity = emit.as_ref().map_or(total_rows, |(chunk, _)| *chunk);
    // Each chunk's columns start with the text room the previous chunk's needed, so that
    // reading chunk after chunk does not grow (and copy) every buffer from empty.
    let fresh = |previous: &[TextColumn]| -> Vec<TextColumn> {
        (0..projection.len())
            .map(|k| {
                if views[k] {
                    return TextColumn::new();
                }
                let bytes = previous
                    .get(k)
                    .map_or(0, |c| c.text_bytes() + c.text_bytes() / 8);
                TextColumn::with_capacity(capacity, bytes)
            })
            .collect()
    };
    let mut columns = fresh(&[]);
    // Rows handed over in chunks, and rows held.
    let (mut emitted, mut rows) = (0usize, 0usize);
    for batch in reader {
        let batch = batch.map_err(|e| arrow_error(path, e))?;
        for (k, array) in batch.columns().iter().enumerate() {
            let slot = slot_of_batch_column.get(k).copied().unwrap_or(0);
            if views[slot]
                && let Some(cells) = array.as_string_view_opt()
            {
                columns[slot].append_views(cells);
            } else {
                append_text(array.as_ref(), &mut columns[slot])
                    .map_err(|e| arrow_error(path, e))?;
            }
        }
        rows += batch.num_rows();
        if let Some((chunk, f)) = emit.as_mut()
            && rows >= *chunk
        {
            f(Parsed {
                headers: headers.clone(),
                columns: {
                    let next = fresh(&columns);
                    std::mem::replace(&mut columns, next)
                },
                row_numbers: (emitted as u64 + 1..=(emitted + rows) as u64).collect(),
                bad_rows: Vec::new(),
            });
            emitted += rows;
            rows = 0;
        }
    }
    for c in &mut columns {
        c.shrink_to_fit();
    }
    Ok(Parsed {
        headers,
        columns,
        row_numbers: (emitted as u64 + 1..=(emitted + rows) as u64).collect(),
        bad_rows: Vec::new(),
    })
}

/// `schema` with its UTF-8 columns read as string views, if it has any.
fn with_string_views(schema: &SchemaRef) -> Option<SchemaRef> {
    let is_text = |f: &FieldRef| matches!(f.data_type(), DataType::Utf8 | DataType::LargeUtf8);
    if !schema.fields().iter().any(is_text) {
        return None;
    }
    let fields: Vec<FieldRef> = schema
        .fields()
        .iter()
        .map(|f| {
            if is_text(f) {
                Arc::new(f.as_ref().clone().with_data_type(DataType::Utf8View))
            } else {
                f.clone()
            }
        })
        .collect();
    Some(Arc::new(Schema::new_with_metadata(
        fields,
        schema.metadata().clone(),
    )))
}

fn push_datetime(column: &mut TextColumn, t: Option<NaiveDateTime>) {
    match t {
        None => column.push(None),
        Some(t) if t.time() == chrono::NaiveTime::MIN => {
            column.push_display(t.format("%Y-%m-%d"));
        }
        Some(t) if t.nanosecond() == 0 => column.push_display(t.format("%Y-%m-%d %H:%M:%S")),
        Some(t) => column.push_display(t.format("%Y-%m-%d %H:%M:%S%.f")),
    }
}

macro_rules! append_display {
    ($array:expr, $column:expr, $t:ty) => {{
        let a = $array.as_primitive::<$t>();
        for i in 0..a.len() {
            if a.is_null(i) {
                $column.push(None);
            } else {
                $column.push_display(a.value(i));
            }
        }
    }};
}

macro_rules! append_timestamp {
    ($array:expr, $column:expr, $t:ty) => {{
        let a = $array.as_primitive::<$t>();
        for i in 0..a.len() {
            push_datetime(
                $column,
                if a.is_null(i) {
                    None
                } else {
                    a.value_as_datetime(i)
                },
            );
        }
    }};
}

/// Appends every value of `array` to `column` as text.
pub(crate) fn append_text(array: &dyn Array, column: &mut TextColumn) -> Result<(), ArrowError> {
    match array.data_type() {
        DataType::Utf8 => column.extend_opt(array.as_string::<i32>().iter()),
        DataType::LargeUtf8 => column.extend_opt(array.as_string::<i64>().iter()),
        DataType::Utf8View => column.extend_opt(array.as_string_view().iter()),
        DataType::Boolean => {
            for v in array.as_boolean().iter() {
                column.push(v.map(|b| if b { "true" } else { "false" }));
            }
        }
        DataType::Int8 => append_display!(array, column, Int8Type),
        DataType::Int16 => append_display!(array, column, Int16Type),
        DataType::Int32 => append_display!(array, column, Int32Type),
        DataType::Int64 => append_display!(array, column, Int64Type),
        DataType::UInt8 => append_display!(array, column, UInt8Type),
        DataType::UInt16 => append_display!(array, column, UInt16Type),
        DataType::UInt32 => append_display!(array, column, UInt32Type),
        DataType::UInt64 => append_display!(array, column, UInt64Type),
        DataType::Float16 => {
            let a = array.as_primitive::<Float16Type>();
            append_floats(a.iter().map(|v| v.map(f64::from)), column);
        }
        DataType::Float32 => {
            let a = array.as_primitive::<Float32Type>();
            // Through the shortest decimal text of the f32, so 0.1f32 reads "0.1", not
            // "0.10000000149011612".
            append_floats(
                a.iter()
                    .map(|v| v.map(|f| f.to_string().parse::<f64>().unwrap_or(f64::from(f)))),
                column,
            );
        }
        DataType::Float64 => append_floats(array.as_primitive::<Float64Type>().iter(), column),
        DataType::Date32 => {
            let a = array.as_primitive::<Date32Type>();
            for i in 0..a.len() {
                match (!a.is_null(i)).then(|| a.value_as_date(i)).flatten() {
                    Some(d) => column.push_display(d.format("%Y-%m-%d")),
                    None => column.push(None),
                }
            }
        }
        DataType::Date64 => append_timestamp!(array, column, Date64Type),
        DataType::Timestamp(unit, None) => match unit {
            TimeUnit::Second => append_timestamp!(array, column, TimestampSecondType),
            TimeUnit::Millisecond => append_timestamp!(array, column, TimestampMillisecondType),
            TimeUnit::Microsecond => append_timestamp!(array, column, TimestampMicrosecondType),
            TimeUnit::Nanosecond => append_timestamp!(array, column, TimestampNanosecondType),
        },
        DataType::Dictionary(_, value_type) => {
            let plain = arrow::compute::cast(array, value_type)?;
            append_text(plain.as_ref(), column)?;
        }
        _ => {
            let options = FormatOptions::default()
                .with_null("")
                .with_timestamp_tz_format(Some("%Y-%m-%d %H:%M:%S%:z"));
            let formatter = ArrayFormatter::try_new(array, &options)?;
            for i in 0..array.len() {
                if array.is_null(i) {
                    column.push(None);
                } else {
                    let value = formatter.value(i);
                    column.push_display(value);
                }
            }
        }
    }
    Ok(())
}

fn append_floats(values: impl Iterator<Item = Option<f64>>, column: &mut TextColumn) {
    for v in values {
        match v {
            Some(f) if !f.is_nan() => column.push_with(|s| write_float(s, f)),
            _ => column.push(None),
        }
    }
}

impl TextColumn {
    fn extend_opt<'a>(&mut self, values: impl Iterator<Item = Option<&'a str>>) {
        for v in values {
            self.push(v);
        }
    }
}
