//! What verification reads: department and roster tables keyed by the schemas' canonical
//! English column names, each record with the identity links of the persons it names.
//!
//! The input does not depend on where records were read from: the nightly pipeline fills it
//! from the Parquet lake and its person index, `hedui check` from a synthetic city's snapshot
//! directory. Values are text as delivered (codes may arrive as codes or as labels); this crate
//! parses them (dates with `hedui_identity::date`, amounts as `f64`) and reports what it could
//! not parse instead of failing.

use chrono::NaiveDate;
use hedui_model::flag::{IdentityMatch, MatchKind};
use serde::{Deserialize, Serialize};

/// How a department record was tied to a person of the person index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordLink {
    /// The person's key in the person index (for `hedui check`: the 公安 register record id).
    pub person_key: String,
    /// How the link was made.
    pub kind: MatchKind,
    /// Match probability (1.0 for ID-based links).
    pub probability: f64,
    /// Match weight (log2 Bayes factor) when the model scored the pair.
    pub match_weight: Option<f64>,
}

impl RecordLink {
    /// An ID-based link.
    pub fn by_id(person_key: impl Into<String>, kind: MatchKind) -> RecordLink {
        RecordLink {
            person_key: person_key.into(),
            kind,
            probability: 1.0,
            match_weight: None,
        }
    }

    /// The link as flag evidence shows it.
    pub fn identity(&self) -> IdentityMatch {
        IdentityMatch {
            kind: self.kind,
            probability: self.probability,
            match_weight: self.match_weight,
            explanation: Vec::new(),
        }
    }
}

/// The link of one identity column of a record (a birth certificate names a mother and a
/// father: two links, on `mother_id_number` and `father_id_number`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PersonLink {
    /// The canonical name of the ID column whose person was linked (`id_number`,
    /// `owner_id_number`, `mother_id_number` …).
    pub column: String,
    /// The link.
    pub link: RecordLink,
}

/// One record: its values in the table's column order, and its links.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SourceRecord {
    /// Values as delivered, `None` for empty cells.
    pub values: Vec<Option<String>>,
    /// Identity links of the persons the record names (empty when none was linked).
    pub links: Vec<PersonLink>,
}

/// One department dataset (or roster table) as of one extract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceTable {
    /// Department code (`gongan`, `weijian`, `renshe`, `zhujian`, `minzheng`).
    pub department: String,
    /// Dataset name (`population`, `contributions` …).
    pub dataset: String,
    /// The date of the extract (batch) the records arrived in.
    pub extract_date: NaiveDate,
    /// Canonical column names.
    pub columns: Vec<String>,
    /// The column holding each record's key in its source (`record_id`, `cert_no` …).
    pub key: String,
    /// The records.
    pub records: Vec<SourceRecord>,
    /// Records of the source left out by the reader because they name no one on the roster
    /// (verification cannot use them); counted in what was read, not in what was unlinked.
    #[serde(default)]
    pub skipped: u64,
}

impl SourceTable {
    /// An empty table.
    pub fn new(
        department: &str,
        dataset: &str,
        extract_date: NaiveDate,
        key: &str,
        columns: Vec<String>,
    ) -> SourceTable {
        SourceTable {
            department: department.to_owned(),
            dataset: dataset.to_owned(),
            extract_date,
            columns,
            key: key.to_owned(),
            records: Vec::new(),
            skipped: 0,
        }
    }

    /// `department/dataset`.
    pub fn qualified(&self) -> String {
        format!("{}/{}", self.department, self.dataset)
    }

    /// Index of a canonical column.
    pub fn col(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// A reader that looks columns up once.
    pub fn reader(&self) -> TableReader<'_> {
        TableReader {
            table: self,
            key: self.col(&self.key),
        }
    }
}

/// Column access by name for one table.
#[derive(Debug, Clone, Copy)]
pub struct TableReader<'a> {
    table: &'a SourceTable,
    key: Option<usize>,
}

impl<'a> TableReader<'a> {
    /// The value of `column` in record `r` (trimmed; `None` when empty or absent).
    pub fn get(&self, r: &'a SourceRecord, column: usize) -> Option<&'a str> {
        r.values
            .get(column)
            .and_then(|v| v.as_deref())
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }

    /// Value by column name.
    pub fn by_name(&self, r: &'a SourceRecord, name: &str) -> Option<&'a str> {
        self.table.col(name).and_then(|c| self.get(r, c))
    }

    /// The record's key.
    pub fn key(&self, r: &'a SourceRecord) -> &'a str {
        self.key.and_then(|k| self.get(r, k)).unwrap_or("")
    }

    /// The table.
    pub fn table(&self) -> &'a SourceTable {
        self.table
    }
}

/// Everything one check reads.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CheckInput {
    /// Department and roster tables.
    pub tables: Vec<SourceTable>,
}

impl CheckInput {
    /// The table `department/dataset`, if delivered.
    pub fn table(&self, department: &str, dataset: &str) -> Option<&SourceTable> {
        self.tables
            .iter()
            .find(|t| t.department == department && t.dataset == dataset)
    }
}

/// The department datasets verification reads facts from (the roster tables are read apart).
pub const FACT_DATASETS: &[(&str, &str)] = &[
    ("gongan", "population"),
    ("gongan", "vehicles"),
    ("weijian", "births"),
    ("weijian", "deaths"),
    ("weijian", "hospital_stays"),
    ("renshe", "contributions"),
    ("renshe", "pensions"),
    ("renshe", "unemployment"),
    ("zhujian", "property"),
    ("zhujian", "housing_fund"),
];

/// Department names as caseworkers read them.
pub fn department_label_zh(department: &str) -> &str {
    match department {
        "gongan" => "公安",
        "weijian" => "卫健",
        "renshe" => "人社",
        "zhujian" => "住建",
        "minzheng" => "民政",
        other => other,
    }
}

/// Dataset names as caseworkers read them.
pub fn dataset_label_zh(dataset: &str) -> &str {
    match dataset {
        "population" => "户籍人口",
        "vehicles" => "机动车登记",
        "births" => "出生医学证明",
        "deaths" => "死亡医学证明",
        "hospital_stays" => "住院记录",
        "contributions" => "社保缴费",
        "pensions" => "养老金待遇",
        "unemployment" => "失业保险金",
        "property" => "不动产登记",
        "housing_fund" => "住房公积金",
        other => other,
    }
}
