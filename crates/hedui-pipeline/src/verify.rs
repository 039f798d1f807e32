//! The verify stage's input: the current rows of every fact and roster dataset from the lake,
//! each record carrying the person-index links of the persons it names.

use chrono::NaiveDate;
use hedui_lake::Lake;
use hedui_linkage::index::{LinkKind, PersonIndex, person_key};
use hedui_model::Catalog;
use hedui_model::flag::MatchKind;
use hedui_verify::input::{
    CheckInput, FACT_DATASETS, PersonLink, RecordLink, SourceRecord, SourceTable,
};

use crate::Error;
use crate::link::{read_current, roles};

/// The roster tables verification reads.
pub const ROSTER_DATASETS: &[(&str, &str)] = &[
    ("minzheng", "cases"),
    ("minzheng", "members"),
    ("minzheng", "authorizations"),
    ("minzheng", "applications"),
    ("minzheng", "application_members"),
];

/// How a person-index link is shown to caseworkers.
pub fn match_kind(kind: LinkKind) -> MatchKind {
    match kind {
        LinkKind::Register | LinkKind::ExactId | LinkKind::Reviewed | LinkKind::Singleton => {
            MatchKind::ExactId
        }
        LinkKind::IdNormalized | LinkKind::SameIdUnregistered => MatchKind::IdNormalized,
        LinkKind::Id15Upgraded => MatchKind::Id15Upgraded,
        LinkKind::Fuzzy => MatchKind::Fuzzy,
    }
}

/// Builds the check input from the lake and the person index. `extract_date` is the date the
/// night's extracts stand for (the as-of date of the run).
pub fn check_input(
    lake: &Lake,
    catalog: &Catalog,
    index: &PersonIndex,
    extract_date: NaiveDate,
) -> Result<CheckInput, Error> {
    let mut input = CheckInput::default();
    for (dept, ds) in FACT_DATASETS.iter().chain(ROSTER_DATASETS) {
        let Some(schema) = catalog.dataset(dept, ds) else {
            return Err(Error::Internal(format!("no schema for {dept}/{ds}")));
        };
        let columns: Vec<String> = schema.columns.iter().map(|c| c.name.clone()).collect();
        let col_refs: Vec<&str> = columns.iter().map(String::as_str).collect();
        let rows = read_current(lake, dept, ds, &col_refs, None)?;
        let mut table = SourceTable::new(dept, ds, extract_date, &schema.key, columns.clone());
        let key_prefix = format!("{dept}/{ds}");
        let rs = roles(schema);
        table.records.reserve(rows.len());
        let n = rows.len();
        let record_ids = rows.record_ids;
        // Move the values out column by column instead of copying them.
        let mut cols: Vec<std::vec::IntoIter<Option<String>>> =
            rows.columns.into_iter().map(Vec::into_iter).collect();
        for record_id in record_ids.iter().take(n) {
            let values: Vec<Option<String>> = cols.iter_mut().map(|c| c.next().flatten()).collect();
            let mut links = Vec::new();
            for role in &rs {
                let key = format!("{key_prefix}/{record_id}{}", role.suffix);
                if let Some(e) = index.get(&key) {
                    links.push(PersonLink {
                        column: format!("{}id_number", role.prefix),
                        link: RecordLink {
                            person_key: person_key(e.person),
                            kind: match_kind(e.kind),
                            probability: e.probability,
                            match_weight: e.match_weight,
                        },
                    });
                }
            }
            table.records.push(SourceRecord { values, links });
        }
        input.tables.push(table);
    }
    Ok(input)
}
