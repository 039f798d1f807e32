//! The Arrow schemas of the lake's zones, derived from a dataset's `schemas/` entry.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use hedui_model::{Column, ColumnType, DatasetSchema, PiiClass};

/// The lineage columns that follow the dataset's columns, in order: `_source` (pipeline source
/// name), `_source_record_id` (the value of the schema's key column), `_ingest_run` (run id),
/// `_row_hash` (hex digest of the delivered values), `_seq` (Int64: the source sequence, or the
/// row number within the file).
pub const LINEAGE_COLUMNS: [&str; 5] = [
    "_source",
    "_source_record_id",
    "_ingest_run",
    "_row_hash",
    "_seq",
];

/// The quarantine zone's reason column (English, specific; ID numbers masked).
pub const REASON_COLUMN: &str = "_reason";

/// The lake type of a column: identity-bearing text (PII `identifier`, `direct`, `quasi`)
/// stays as delivered (Utf8) whatever its declared type, because standardising it is the
/// linkage stage's job; otherwise `code`/`string`/`yyyymm` → Utf8, `int` → Int64,
/// `decimal` → Float64, `date` → Date32, `datetime` → Timestamp(ms).
pub fn lake_type(column: &Column) -> DataType {
    if matches!(
        column.pii,
        PiiClass::Identifier | PiiClass::Direct | PiiClass::Quasi
    ) {
        return DataType::Utf8;
    }
    match column.ty {
        ColumnType::String | ColumnType::Code | ColumnType::Yyyymm => DataType::Utf8,
        ColumnType::Int => DataType::Int64,
        ColumnType::Decimal => DataType::Float64,
        ColumnType::Date => DataType::Date32,
        ColumnType::Datetime => DataType::Timestamp(TimeUnit::Millisecond, None),
    }
}

fn lineage_fields() -> Vec<Field> {
    vec![
        Field::new("_source", DataType::Utf8, false),
        Field::new("_source_record_id", DataType::Utf8, true),
        Field::new("_ingest_run", DataType::Utf8, false),
        Field::new("_row_hash", DataType::Utf8, false),
        Field::new("_seq", DataType::Int64, false),
    ]
}

/// The raw zone's schema: the dataset's canonical names in schema order with their lake
/// types, then the lineage columns.
pub fn raw_schema(schema: &DatasetSchema) -> SchemaRef {
    let mut fields: Vec<Field> = schema
        .columns
        .iter()
        .map(|c| Field::new(&c.name, lake_type(c), true))
        .collect();
    fields.extend(lineage_fields());
    Arc::new(Schema::new(fields))
}

/// The quarantine zone's schema: the delivered values as text under the canonical names, the
/// lineage columns, then `_reason`.
pub fn quarantine_schema(schema: &DatasetSchema) -> SchemaRef {
    let mut fields: Vec<Field> = schema
        .columns
        .iter()
        .map(|c| Field::new(&c.name, DataType::Utf8, true))
        .collect();
    fields.extend(lineage_fields());
    fields.push(Field::new(REASON_COLUMN, DataType::Utf8, false));
    Arc::new(Schema::new(fields))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_columns_stay_text_and_amounts_are_typed() {
        let catalog = hedui_model::Catalog::builtin().expect("embedded schemas");
        let pop = catalog.dataset("gongan", "population").expect("population");
        let s = raw_schema(pop);
        let ty = |n: &str| s.field_with_name(n).map(|f| f.data_type().clone()).ok();
        assert_eq!(ty("birth_date"), Some(DataType::Utf8)); // quasi: as delivered
        assert_eq!(ty("cancel_date"), Some(DataType::Date32));
        assert_eq!(
            ty("updated_at"),
            Some(DataType::Timestamp(TimeUnit::Millisecond, None))
        );
        assert_eq!(ty("_seq"), Some(DataType::Int64));
        let q = quarantine_schema(pop);
        assert_eq!(q.fields().len(), pop.columns.len() + 6);
        assert_eq!(q.field(q.fields().len() - 1).name(), REASON_COLUMN);
    }
}
