//! Validation against `schemas/`: mapping delivered headers to canonical columns (schema drift
//! is detected, never guessed through) and coercing one row's values to the lake types, or
//! saying exactly why the row goes to quarantine.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{Datelike, NaiveDate, NaiveTime};
use hedui_identity::date::{DateContext, DateIssue, parse_date};
use hedui_identity::id::{IdIssue, mask_id, parse_id};
use hedui_model::{Catalog, ColumnType, DatasetSchema, PiiClass};

/// Longest value accepted, in bytes. Longer values are a delivery fault (a broken export, a
/// field swallowing the rest of its line) and the row is quarantined.
pub const MAX_FIELD_BYTES: usize = 4096;

/// How one column is coerced.
#[derive(Debug, Clone)]
pub(crate) enum Kind {
    /// Kept as delivered text.
    Text,
    /// An ID number: kept as delivered, unless a spreadsheet destroyed it.
    Identifier,
    /// A code: the code, or its label mapped to the code.
    Code(Arc<HashMap<String, String>>, String),
    Int,
    Decimal,
    Date,
    Yyyymm,
    Datetime,
}

/// One column's plan.
#[derive(Debug, Clone)]
pub(crate) struct ColPlan {
    pub name: String,
    pub source: String,
    pub kind: Kind,
    pub required: bool,
    pub pii: bool,
}

/// A dataset schema compiled for validation.
#[derive(Debug, Clone)]
pub struct DatasetPlan {
    pub(crate) schema: DatasetSchema,
    pub(crate) cols: Vec<ColPlan>,
    pub(crate) key: usize,
    lookup: HashMap<String, usize>,
}

/// A coerced value, ready for the Arrow builders.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Coerced<'a> {
    /// Null.
    Null,
    /// Text (delivered, or a code).
    Text(&'a str),
    /// `YYYYMM`.
    Month([u8; 6]),
    /// Int64.
    Int(i64),
    /// Float64.
    Float(f64),
    /// Date32: days since 1970-01-01.
    Date(i32),
    /// Timestamp in milliseconds since 1970-01-01 00:00 (zone-naive).
    Millis(i64),
}

/// The delivered headers do not match the schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drift {
    /// Schema columns not delivered: (delivered header, canonical name).
    pub missing: Vec<(String, String)>,
    /// Delivered headers that are not in the schema.
    pub unexpected: Vec<String>,
}

impl std::fmt::Display for Drift {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if self.missing.len() == 1 && self.unexpected.len() == 1 {
            let (src, name) = &self.missing[0];
            parts.push(format!(
                "column {src} ({name}) is missing and {} is new: was {src} renamed to {}?",
                self.unexpected[0], self.unexpected[0]
            ));
        } else {
            if !self.missing.is_empty() {
                let m: Vec<String> = self
                    .missing
                    .iter()
                    .map(|(s, n)| format!("{s} ({n})"))
                    .collect();
                parts.push(format!("missing column(s): {}", m.join(", ")));
            }
            if !self.unexpected.is_empty() {
                parts.push(format!(
                    "column(s) not in the schema: {}",
                    self.unexpected.join(", ")
                ));
            }
        }
        write!(f, "{}", parts.join("; "))
    }
}

fn epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default()
}

impl DatasetPlan {
    /// Compiles `department/dataset` of the catalogue.
    pub fn new(catalog: &Catalog, department: &str, dataset: &str) -> Option<DatasetPlan> {
        let schema = catalog.dataset(department, dataset)?.clone();
        let mut tables: HashMap<String, Arc<HashMap<String, String>>> = HashMap::new();
        let cols = schema
            .columns
            .iter()
            .map(|c| {
                let pii = matches!(
                    c.pii,
                    PiiClass::Identifier | PiiClass::Direct | PiiClass::Quasi
                );
                let kind = if c.pii == PiiClass::Identifier {
                    Kind::Identifier
                } else if pii {
                    Kind::Text
                } else {
                    match c.ty {
                        ColumnType::String => Kind::Text,
                        ColumnType::Int => Kind::Int,
                        ColumnType::Decimal => Kind::Decimal,
                        ColumnType::Date => Kind::Date,
                        ColumnType::Yyyymm => Kind::Yyyymm,
                        ColumnType::Datetime => Kind::Datetime,
                        ColumnType::Code => {
                            let tname = c.code.clone().unwrap_or_default();
                            let map = tables
                                .entry(tname.clone())
                                .or_insert_with(|| {
                                    let mut m = HashMap::new();
                                    if let Some(t) = catalog.code_table(&tname) {
                                        for (code, label) in &t.codes {
                                            m.insert(code.clone(), code.clone());
                                            m.entry(label.clone()).or_insert_with(|| code.clone());
                                        }
                                    }
                                    Arc::new(m)
                                })
                                .clone();
                            Kind::Code(map, tname)
                        }
                    }
                };
                ColPlan {
                    name: c.name.clone(),
                    source: c.source.clone(),
                    kind,
                    required: c.required || c.name == schema.key,
                    pii,
                }
            })
            .collect::<Vec<_>>();
        let key = schema.index_of(&schema.key).unwrap_or(0);
        let mut lookup = HashMap::new();
        for (i, c) in cols.iter().enumerate() {
            lookup.insert(c.source.clone(), i);
            lookup.entry(c.name.clone()).or_insert(i);
        }
        Some(DatasetPlan {
            schema,
            cols,
            key,
            lookup,
        })
    }

    /// The schema.
    pub fn schema(&self) -> &DatasetSchema {
        &self.schema
    }

    /// Number of columns.
    pub fn width(&self) -> usize {
        self.cols.len()
    }

    /// The column a delivered header (Chinese `source`, or the canonical name) belongs to.
    pub fn column_of(&self, header: &str) -> Option<usize> {
        self.lookup.get(header.trim()).copied()
    }

    /// Maps delivered headers to columns: for each header, its column. Headers listed in
    /// `ignore` (sequence and bookkeeping columns of the channel) map to `None`.
    ///
    /// # Errors
    ///
    /// [`Drift`] when a schema column is not delivered, a header is not in the schema, or a
    /// column is delivered twice.
    pub fn map_headers<S: AsRef<str>>(
        &self,
        headers: &[S],
        ignore: &[&str],
    ) -> Result<Vec<Option<usize>>, Drift> {
        let mut seen = vec![false; self.cols.len()];
        let mut out = Vec::with_capacity(headers.len());
        let mut unexpected = Vec::new();
        for h in headers {
            let h = h.as_ref().trim().trim_start_matches('\u{feff}');
            if ignore.contains(&h) {
                out.push(None);
                continue;
            }
            match self.column_of(h) {
                Some(i) if !seen[i] => {
                    seen[i] = true;
                    out.push(Some(i));
                }
                Some(_) => {
                    unexpected.push(format!("{h} (delivered twice)"));
                    out.push(None);
                }
                None => {
                    unexpected.push(h.to_owned());
                    out.push(None);
                }
            }
        }
        let missing: Vec<(String, String)> = self
            .cols
            .iter()
            .zip(&seen)
            .filter(|(_, s)| !**s)
            .map(|(c, _)| (c.source.clone(), c.name.clone()))
            .collect();
        if missing.is_empty() && unexpected.is_empty() {
            Ok(out)
        } else {
            Err(Drift {
                missing,
                unexpected,
            })
        }
    }

    /// Coerces one row (values in schema order; `None` or `""` is null) into `out`.
    ///
    /// # Errors
    ///
    /// The quarantine reason (English, names the column; no personal data, ID numbers masked).
    pub fn coerce<'v>(
        &'v self,
        values: &[Option<&'v str>],
        out: &mut Vec<Coerced<'v>>,
    ) -> Result<(), String> {
        out.clear();
        if values.len() != self.cols.len() {
            return Err(format!(
                "wrong column count: expected {} values, found {}",
                self.cols.len(),
                values.len()
            ));
        }
        let mut problems: Vec<String> = Vec::new();
        for (c, v) in self.cols.iter().zip(values) {
            let v = v.filter(|s| !s.is_empty());
            let Some(v) = v else {
                if c.required {
                    problems.push(if c.name == self.schema.key {
                        format!("required key column {} ({}) is missing", c.name, c.source)
                    } else {
                        format!("required column {} ({}) is missing", c.name, c.source)
                    });
                }
                out.push(Coerced::Null);
                continue;
            };
            if v.len() > MAX_FIELD_BYTES {
                problems.push(format!(
                    "column {}: value is {} bytes, over the {MAX_FIELD_BYTES}-byte limit",
                    c.name,
                    v.len()
                ));
                out.push(Coerced::Null);
                continue;
            }
            match coerce_value(c, v) {
                Ok(x) => out.push(x),
                Err(reason) => {
                    problems.push(reason);
                    out.push(Coerced::Null);
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
}

fn shown(c: &ColPlan, v: &str) -> String {
    if c.pii {
        "(value withheld: personal data)".to_owned()
    } else {
        let short: String = v.chars().take(40).collect();
        format!("{short:?}")
    }
}

fn coerce_value<'v>(c: &'v ColPlan, v: &'v str) -> Result<Coerced<'v>, String> {
    match &c.kind {
        Kind::Text => Ok(Coerced::Text(v)),
        Kind::Identifier => {
            let t = v.trim();
            let suspicious = t.contains(['e', 'E'])
                || (t.len() == 18 && t.ends_with("000") && t.bytes().all(|b| b.is_ascii_digit()));
            if suspicious {
                let id = parse_id(t);
                if id.issues.contains(&IdIssue::ScientificNotation) {
                    return Err(format!(
                        "column {}: ID number destroyed by a spreadsheet (scientific notation {}); the digits are lost, re-request the record",
                        c.name,
                        mask_id(t)
                    ));
                }
                if id.issues.contains(&IdIssue::ProbablyExcelTruncated) {
                    return Err(format!(
                        "column {}: ID number {} was cut to 15 significant digits by a spreadsheet (ends in 000, wrong check character); re-request the record",
                        c.name,
                        mask_id(t)
                    ));
                }
            }
            Ok(Coerced::Text(v))
        }
        Kind::Code(map, table) => {
            let t = v.trim();
            if let Some(code) = map.get(t) {
                return Ok(Coerced::Text(code.as_str()));
            }
            // A code whose leading zeros a spreadsheet dropped ("1" for "01").
            if !t.is_empty() && t.len() < 4 && t.bytes().all(|b| b.is_ascii_digit()) {
                for width in (t.len() + 1)..=4 {
                    let padded = format!("{t:0>width$}");
                    if let Some(code) = map.get(&padded) {
                        return Ok(Coerced::Text(code.as_str()));
                    }
                }
            }
            Err(format!(
                "column {}: {} is not a code or label of code table {table}",
                c.name,
                shown(c, v)
            ))
        }
        Kind::Int => {
            let t = v.trim();
            if let Ok(n) = t.parse::<i64>() {
                return Ok(Coerced::Int(n));
            }
            match t.replace(',', "").parse::<f64>() {
                Ok(f) if f.is_finite() && f.fract() == 0.0 && f.abs() < 9.0e15 => {
                    Ok(Coerced::Int(f as i64))
                }
                _ => Err(format!(
                    "column {}: {} is not a whole number",
                    c.name,
                    shown(c, v)
                )),
            }
        }
        Kind::Decimal => {
            let t = v.trim();
            let parsed = t
                .parse::<f64>()
                .or_else(|_| t.replace(',', "").parse::<f64>());
            match parsed {
                Ok(f) if f.is_finite() => Ok(Coerced::Float(f)),
                _ => Err(format!(
                    "column {}: {} is not a number",
                    c.name,
                    shown(c, v)
                )),
            }
        }
        Kind::Date => {
            let d = parse_date(v, &DateContext::default());
            if let Some(date) = d.date {
                let days = date.signed_duration_since(epoch()).num_days();
                return i32::try_from(days)
                    .map(Coerced::Date)
                    .map_err(|_| format!("column {}: {} is out of range", c.name, shown(c, v)));
            }
            if d.issues.iter().any(|i| {
                matches!(
                    i,
                    DateIssue::Placeholder | DateIssue::OpenEnded | DateIssue::Missing
                )
            }) {
                return Ok(Coerced::Null);
            }
            Err(format!("column {}: {} is not a date", c.name, shown(c, v)))
        }
        Kind::Datetime => {
            let d = parse_date(v, &DateContext::default());
            if let Some(date) = d.date {
                let t = d.time.unwrap_or(NaiveTime::MIN);
                let ms = date.and_time(t).and_utc().timestamp_millis();
                return Ok(Coerced::Millis(ms));
            }
            if d.issues.iter().any(|i| {
                matches!(
                    i,
                    DateIssue::Placeholder | DateIssue::OpenEnded | DateIssue::Missing
                )
            }) {
                return Ok(Coerced::Null);
            }
            Err(format!(
                "column {}: {} is not a date and time",
                c.name,
                shown(c, v)
            ))
        }
        Kind::Yyyymm => {
            let t = v.trim();
            let b = t.as_bytes();
            if b.len() == 6 && b.iter().all(u8::is_ascii_digit) {
                let month = (b[4] - b'0') * 10 + (b[5] - b'0');
                if (1..=12).contains(&month) {
                    let mut m = [0u8; 6];
                    m.copy_from_slice(b);
                    return Ok(Coerced::Month(m));
                }
            }
            let d = parse_date(t, &DateContext::default());
            match (d.date, d.precision) {
                (Some(date), Some(p)) if p >= hedui_identity::date::DatePrecision::Month => {
                    let s = format!("{:04}{:02}", date.year(), date.month());
                    let mut m = [0u8; 6];
                    if s.len() == 6 {
                        m.copy_from_slice(s.as_bytes());
                        Ok(Coerced::Month(m))
                    } else {
                        Err(format!(
                            "column {}: {} is out of range",
                            c.name,
                            shown(c, v)
                        ))
                    }
                }
                _ => Err(format!(
                    "column {}: {} is not a month (YYYYMM)",
                    c.name,
                    shown(c, v)
                )),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(dept: &str, ds: &str) -> DatasetPlan {
        let catalog = Catalog::builtin().expect("catalog");
        DatasetPlan::new(&catalog, dept, ds).expect("dataset")
    }

    #[test]
    fn drift_names_the_renamed_column() {
        let p = plan("gongan", "population");
        let mut headers: Vec<String> = p
            .schema()
            .source_headers()
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert!(p.map_headers(&headers, &[]).is_ok());
        let i = headers.iter().position(|h| h == "姓名").expect("name");
        headers[i] = "名称".into();
        let d = p.map_headers(&headers, &[]).expect_err("drift");
        let msg = d.to_string();
        assert!(
            msg.contains("姓名 (name)") && msg.contains("renamed to 名称"),
            "{msg}"
        );
    }

    #[test]
    fn codes_labels_and_types_are_coerced() {
        let p = plan("gongan", "population");
        let mut row: Vec<Option<&str>> = vec![None; p.width()];
        let set = |row: &mut Vec<Option<&'static str>>, n: &str, v: &'static str| {
            let i = p.schema().index_of(n).expect("column");
            row[i] = Some(v);
        };
        set(&mut row, "record_id", "GA1");
        set(&mut row, "name", "宋宏");
        set(&mut row, "urban_rural", "城镇");
        set(&mut row, "status", "0");
        set(&mut row, "cancel_date", "2021年3月5日");
        set(&mut row, "updated_at", "2021-03-05 08:00:00");
        let mut out = Vec::new();
        p.coerce(&row, &mut out).expect("valid row");
        let at = |n: &str| out[p.schema().index_of(n).expect("column")];
        assert_eq!(at("urban_rural"), Coerced::Text("1"));
        assert_eq!(at("cancel_date"), Coerced::Date(18691));
        assert!(matches!(at("updated_at"), Coerced::Millis(_)));

        set(&mut row, "status", "9");
        set(&mut row, "id_number", "4.21303E+17");
        let err = p.coerce(&row, &mut out).expect_err("bad row");
        assert!(err.contains("code table person_status"), "{err}");
        assert!(err.contains("scientific notation"), "{err}");
        assert!(!err.contains("421303"), "ID must be masked: {err}");
    }

    #[test]
    fn excel_truncated_id_and_missing_key_and_overlong_are_quarantined() {
        let p = plan("gongan", "population");
        let mut row: Vec<Option<&str>> = vec![None; p.width()];
        row[p.schema().index_of("name").expect("c")] = Some("张三");
        row[p.schema().index_of("id_number").expect("c")] = Some("421303198001010000");
        let long = "x".repeat(MAX_FIELD_BYTES + 1);
        row[p.schema().index_of("workplace").expect("c")] = Some(long.as_str());
        let mut out = Vec::new();
        let err = p.coerce(&row, &mut out).expect_err("bad");
        assert!(err.contains("required key column record_id"), "{err}");
        assert!(err.contains("15 significant digits"), "{err}");
        assert!(err.contains("4097 bytes"), "{err}");
        assert!(!err.contains("张三"));
    }

    proptest::proptest! {
        #[test]
        fn coercion_never_panics(values in proptest::collection::vec(proptest::option::of(".{0,40}"), 0..30)) {
            let catalog = Catalog::builtin().expect("catalog");
            for d in &catalog.datasets {
                let p = DatasetPlan::new(&catalog, &d.department, &d.dataset).expect("plan");
                let mut row: Vec<Option<&str>> = values.iter().map(|v| v.as_deref()).collect();
                row.resize(p.width(), None);
                let mut out = Vec::new();
                let _ = p.coerce(&row, &mut out);
                let short: Vec<Option<&str>> = values.iter().map(|v| v.as_deref()).collect();
                let _ = p.coerce(&short, &mut out);
            }
        }
    }
}
