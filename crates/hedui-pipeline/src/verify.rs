//! The verify stage's input: the current rows of every fact and roster dataset from the lake,
//! each record carrying the person-index links of the persons it names.

use std::cell::RefCell;

use chrono::NaiveDate;
use hedui_lake::Lake;
use hedui_linkage::index::{IndexEntry, LinkKind, PersonIndex, person_key};
use hedui_model::flag::MatchKind;
use hedui_model::{Catalog, DatasetSchema};
use hedui_verify::household::ScopeBuf;
use hedui_verify::input::{
    CheckInput, FACT_DATASETS, PersonLink, RecordLink, SourceRecord, SourceTable,
};
use rustc_hash::{FxHashMap, FxHashSet};

use crate::Error;
use crate::current::{CurrentRows, RoleKeys, read_current_by_id, read_current_by_values, roles};

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
///
/// The roster is read first, then the register entries of the 户 its persons (case and
/// application members, by the person index) belong to; of the department datasets only the
/// records naming one of those persons are materialised — verification looks at nobody else,
/// and they are a small part of a city. The others are counted as read.
pub fn check_input(
    lake: &Lake,
    catalog: &Catalog,
    index: &PersonIndex,
    extract_date: NaiveDate,
) -> Result<CheckInput, Error> {
    let mut input = CheckInput::default();
    // The roster, whole, and the persons on it.
    let roster_persons: RefCell<FxHashSet<u64>> = RefCell::default();
    let roster_entry = |k: &str| {
        let e = index.get(k);
        if let Some(e) = e {
            roster_persons.borrow_mut().insert(e.person);
        }
        e
    };
    for (dept, ds) in ROSTER_DATASETS {
        let schema = schema_of(catalog, dept, ds)?;
        let rows = read_current_by_id(lake, dept, ds, &column_names(schema), &|_| true)?;
        input
            .tables
            .push(source_table(schema, rows, extract_date, roster_entry));
    }
    let mut persons = roster_persons.into_inner();
    // The register: the entries of everyone in the 户 of someone on the roster. A co-living
    // household may hold minors the roster does not list (hedui_verify::household decides who
    // counts); their persons' records are read too.
    let pop = schema_of(catalog, "gongan", "population")?;
    let pop_keys = RoleKeys::new("gongan", "population", &roles(pop));
    let person_of = |id: &str| {
        let mut found = None;
        pop_keys.any(id, |k| {
            found = index.get(k).map(|e| e.person);
            found.is_some()
        });
        found
    };
    const SCOPE: [&str; 2] = ["household_no", "region_code"];
    let buf = RefCell::new(ScopeBuf::default());
    let scopes: RefCell<FxHashSet<String>> = RefCell::default();
    read_current_by_values(lake, "gongan", "population", &[], &SCOPE, &|id, v| {
        if let Some(no) = v[0]
            && person_of(id).is_some_and(|p| persons.contains(&p))
            && let Some(s) = buf.borrow_mut().scope(no, v[1])
        {
            scopes.borrow_mut().insert(s.to_owned());
        }
        false
    })?;
    let scopes = scopes.into_inner();
    // Every roster person's entry with a 户号 is in one of those 户: the index is consulted
    // only for the entries of those 户 and the few without a 户号.
    let household_persons: RefCell<Vec<u64>> = RefCell::default();
    let mut register = read_current_by_values(
        lake,
        "gongan",
        "population",
        &column_names(pop),
        &SCOPE,
        &|id, v| {
            let in_scope = v[0].map(|no| {
                buf.borrow_mut()
                    .scope(no, v[1])
                    .is_some_and(|s| scopes.contains(s))
            });
            let kept = match in_scope {
                Some(false) => None,
                Some(true) => person_of(id),
                None => person_of(id).filter(|p| persons.contains(p)),
            };
            if let Some(p) = kept {
                household_persons.borrow_mut().push(p);
            }
            kept.is_some()
        },
    )?;
    persons.extend(household_persons.into_inner());
    // The index entries of those persons: a small map the department records are looked up
    // in (instead of the whole index, record by record).
    let relevant: FxHashMap<&str, &IndexEntry> = index
        .iter()
        .filter(|(_, e)| persons.contains(&e.person))
        .collect();
    // The department datasets: only the records naming someone relevant.
    for (dept, ds) in FACT_DATASETS {
        let schema = schema_of(catalog, dept, ds)?;
        let rows = if (*dept, *ds) == ("gongan", "population") {
            std::mem::take(&mut register)
        } else {
            let role_keys = RoleKeys::new(dept, ds, &roles(schema));
            let keep = |id: &str| role_keys.any(id, |k| relevant.contains_key(k));
            read_current_by_id(lake, dept, ds, &column_names(schema), &keep)?
        };
        input
            .tables
            .push(source_table(schema, rows, extract_date, |k| {
                relevant.get(k).copied()
            }));
    }
    Ok(input)
}

fn schema_of<'a>(catalog: &'a Catalog, dept: &str, ds: &str) -> Result<&'a DatasetSchema, Error> {
    catalog
        .dataset(dept, ds)
        .ok_or_else(|| Error::Internal(format!("no schema for {dept}/{ds}")))
}

fn column_names(schema: &DatasetSchema) -> Vec<&str> {
    schema.columns.iter().map(|c| c.name.as_str()).collect()
}

/// A source table of the current rows, each record carrying the links `entry` finds for its
/// roles.
fn source_table<'a>(
    schema: &DatasetSchema,
    rows: CurrentRows,
    extract_date: NaiveDate,
    entry: impl Fn(&str) -> Option<&'a IndexEntry>,
) -> SourceTable {
    let (dept, ds) = (schema.department.as_str(), schema.dataset.as_str());
    let columns: Vec<String> = schema.columns.iter().map(|c| c.name.clone()).collect();
    let mut table = SourceTable::new(dept, ds, extract_date, &schema.key, columns);
    table.skipped = rows.skipped;
    let rs = roles(schema);
    table.records.reserve(rows.len());
    // Move the values out column by column instead of copying them.
    let mut cols: Vec<std::vec::IntoIter<Option<String>>> =
        rows.columns.into_iter().map(Vec::into_iter).collect();
    for record_id in &rows.record_ids {
        let values: Vec<Option<String>> = cols.iter_mut().map(|c| c.next().flatten()).collect();
        let links = rs
            .iter()
            .filter_map(|role| {
                let e = entry(&format!("{dept}/{ds}/{record_id}{}", role.suffix))?;
                Some(PersonLink {
                    column: format!("{}id_number", role.prefix),
                    link: RecordLink {
                        person_key: person_key(e.person),
                        kind: match_kind(e.kind),
                        probability: e.probability,
                        match_weight: e.match_weight,
                    },
                })
            })
            .collect();
        table.records.push(SourceRecord { values, links });
    }
    table
}
