//! # hedui-model
//!
//! The shared vocabulary of hedui's stages: the department dataset schemas of `schemas/` and
//! their code tables. The schema files are embedded at compile time, so every stage (the
//! synthetic generator, ingestion, standardisation) reads one and the same contract.
//!
//! ```
//! let catalog = hedui_model::Catalog::builtin().expect("embedded schemas parse");
//! let pop = catalog.dataset("gongan", "population").expect("known dataset");
//! assert_eq!(pop.column("id_number").map(|c| c.source.as_str()), Some("公民身份号码"));
//! ```
//!
//! [`flag`] holds the contract between verification, the store and the workbench: the flag
//! with its evidence (DOMAIN.md §6.2).
//!
//! Architecture invariant: no IO. The embedded files are parsed from `&'static str`.

pub mod flag;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The value type of a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    /// Free text.
    String,
    /// A whole number.
    Int,
    /// A decimal amount (yuan with 2 places, m², a percentage).
    Decimal,
    /// A calendar date, in any delivered form.
    Date,
    /// A month (`YYYYMM`).
    Yyyymm,
    /// A date and time.
    Datetime,
    /// A value of the column's code table.
    Code,
}

/// How personal a column is (DOMAIN.md §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PiiClass {
    /// Not personal.
    None,
    /// Birth dates, village-level places: identifying in combination.
    Quasi,
    /// Names, phones, exact addresses.
    Direct,
    /// ID numbers: masked in every display.
    Identifier,
    /// Health and financial details (PIPL Art. 28).
    Sensitive,
}

/// One column of a dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Column {
    /// Canonical English name used inside hedui.
    pub name: String,
    /// The header as the department delivers it (usually Chinese).
    pub source: String,
    /// Value type.
    #[serde(rename = "type")]
    pub ty: ColumnType,
    /// PII class.
    pub pii: PiiClass,
    /// The code table for `code` columns.
    #[serde(default)]
    pub code: Option<String>,
    /// Whether a row without this value is unusable.
    #[serde(default)]
    pub required: bool,
}

/// File formats departments deliver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Comma-separated text with a header line.
    Csv,
    /// JSON lines (one object per line; served as JSON pages by an API).
    Jsonl,
    /// An Excel workbook (first sheet, header row).
    Xlsx,
    /// Apache Parquet.
    Parquet,
}

impl Format {
    /// The usual file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Jsonl => "jsonl",
            Format::Xlsx => "xlsx",
            Format::Parquet => "parquet",
        }
    }
}

/// How a department delivers a dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Delivery {
    /// File or payload format.
    pub format: Format,
    /// Character encoding: `utf-8`, `utf-8-bom`, `gb18030`.
    pub encoding: String,
    /// Free-text note on the channel.
    #[serde(default)]
    pub note: String,
}

/// The schema of one department dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetSchema {
    /// Department key: `gongan`, `weijian`, `renshe`, `zhujian`, `minzheng`, `truth`.
    pub department: String,
    /// Dataset key within the department.
    pub dataset: String,
    /// Human title.
    pub title: String,
    /// The column that identifies a record within the source.
    pub key: String,
    /// The column with the last-update time, for incremental pulls.
    #[serde(default)]
    pub updated: Option<String>,
    /// How it is delivered.
    pub delivery: Delivery,
    /// Columns in delivery order.
    pub columns: Vec<Column>,
}

impl DatasetSchema {
    /// `department/dataset`.
    pub fn qualified_name(&self) -> String {
        format!("{}/{}", self.department, self.dataset)
    }

    /// The column with this canonical name.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// Position of the column with this canonical name.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// The delivered headers, in order.
    pub fn source_headers(&self) -> Vec<&str> {
        self.columns.iter().map(|c| c.source.as_str()).collect()
    }
}

/// One code table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeTable {
    /// The standard it follows.
    pub standard: String,
    /// Code → label.
    pub codes: BTreeMap<String, String>,
}

impl CodeTable {
    /// The label of a code.
    pub fn label(&self, code: &str) -> Option<&str> {
        self.codes.get(code).map(String::as_str)
    }

    /// The code of a label (departments deliver either).
    pub fn code_of(&self, label: &str) -> Option<&str> {
        self.codes
            .iter()
            .find(|(_, l)| l.as_str() == label)
            .map(|(c, _)| c.as_str())
    }
}

/// Problems in the embedded schema files. These are bugs in the build, never user errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A schema file does not parse.
    #[error("schema file {file} does not parse: {source}")]
    Parse {
        /// The file.
        file: &'static str,
        /// What the TOML parser said.
        source: toml::de::Error,
    },
    /// Schemas contradict each other or the code tables.
    #[error("schema catalogue is inconsistent: {0}")]
    Inconsistent(String),
}

/// All dataset schemas and code tables.
#[derive(Debug, Clone)]
pub struct Catalog {
    /// Dataset schemas, in a fixed order.
    pub datasets: Vec<DatasetSchema>,
    /// Code tables by name.
    pub code_tables: BTreeMap<String, CodeTable>,
}

macro_rules! embedded {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_str!(concat!("../../../schemas/", $path)))),*]
    };
}

/// The schema files compiled into the binary.
const EMBEDDED: &[(&str, &str)] = embedded![
    "gongan/population.toml",
    "gongan/vehicles.toml",
    "weijian/births.toml",
    "weijian/deaths.toml",
    "weijian/hospital_stays.toml",
    "renshe/contributions.toml",
    "renshe/pensions.toml",
    "renshe/unemployment.toml",
    "zhujian/property.toml",
    "zhujian/housing_fund.toml",
    "minzheng/cases.toml",
    "minzheng/members.toml",
    "minzheng/authorizations.toml",
    "minzheng/applications.toml",
    "minzheng/application_members.toml",
    "truth/persons.toml",
    "truth/record_persons.toml",
    "truth/events.toml",
];

const CODE_TABLES: &str = include_str!("../../../schemas/code_tables.toml");

impl Catalog {
    /// Parses the embedded schemas and checks them against each other: unique names, keys
    /// that are columns, code columns with known code tables.
    pub fn builtin() -> Result<Catalog, Error> {
        let code_tables: BTreeMap<String, CodeTable> =
            toml::from_str(CODE_TABLES).map_err(|source| Error::Parse {
                file: "code_tables.toml",
                source,
            })?;
        let mut datasets = Vec::with_capacity(EMBEDDED.len());
        for (file, text) in EMBEDDED {
            let schema: DatasetSchema =
                toml::from_str(text).map_err(|source| Error::Parse { file, source })?;
            datasets.push(schema);
        }
        let catalog = Catalog {
            datasets,
            code_tables,
        };
        catalog.check()?;
        Ok(catalog)
    }

    fn check(&self) -> Result<(), Error> {
        let mut problems = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for d in &self.datasets {
            if !seen.insert(d.qualified_name()) {
                problems.push(format!("{} is defined twice", d.qualified_name()));
            }
            if d.column(&d.key).is_none() {
                problems.push(format!(
                    "{}: key {} is not a column",
                    d.qualified_name(),
                    d.key
                ));
            }
            if let Some(u) = &d.updated
                && d.column(u).is_none()
            {
                problems.push(format!(
                    "{}: updated {u} is not a column",
                    d.qualified_name()
                ));
            }
            let mut names = std::collections::BTreeSet::new();
            for c in &d.columns {
                if !names.insert(&c.name) {
                    problems.push(format!("{}: column {} twice", d.qualified_name(), c.name));
                }
                match (&c.ty, &c.code) {
                    (ColumnType::Code, Some(t)) if !self.code_tables.contains_key(t) => problems
                        .push(format!(
                            "{}.{}: unknown code table {t}",
                            d.qualified_name(),
                            c.name
                        )),
                    (ColumnType::Code, None) => problems.push(format!(
                        "{}.{}: code column without code table",
                        d.qualified_name(),
                        c.name
                    )),
                    _ => {}
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Inconsistent(problems.join("; ")))
        }
    }

    /// The schema of `department/dataset`.
    pub fn dataset(&self, department: &str, dataset: &str) -> Option<&DatasetSchema> {
        self.datasets
            .iter()
            .find(|d| d.department == department && d.dataset == dataset)
    }

    /// A code table by name.
    pub fn code_table(&self, name: &str) -> Option<&CodeTable> {
        self.code_tables.get(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalog_is_consistent() {
        let c = Catalog::builtin().expect("embedded schemas are valid");
        assert_eq!(c.datasets.len(), EMBEDDED.len());
        let gender = c.code_table("gender").expect("gender table");
        assert_eq!(gender.label("1"), Some("男"));
        assert_eq!(gender.code_of("女"), Some("2"));
    }

    #[test]
    fn every_department_dataset_has_an_identity_column() {
        let c = Catalog::builtin().expect("embedded schemas are valid");
        for d in c.datasets.iter().filter(|d| d.department != "truth") {
            let has_identity = d.columns.iter().any(|c| c.pii == PiiClass::Identifier);
            assert!(has_identity, "{} has no ID column", d.qualified_name());
        }
    }
}
