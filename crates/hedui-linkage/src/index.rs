//! The person index: every department record tied to a person whose `person_key` stays the
//! same from night to night (DESIGN.md "Identity").
//!
//! The 公安 population register is the identity spine: each register record is a person. A
//! department record is linked to the register with a trained model; the best register match
//! at or above the threshold gives its person. A record that matches no register entry still
//! gets a person — the one already holding its (valid) ID number if there is one, so that the
//! same unregistered person's records across departments join up, else a new one (newborns
//! before registration, people from elsewhere).
//!
//! **Incremental**: the index remembers each record's content hash; only new and changed
//! records are standardised and compared (the caller filters with [`PersonIndex::needs_linking`]).
//! Keys are handed out in order and never reused; when a register record later appears for a
//! person first seen unregistered (same valid ID), it joins that older person.
//!
//! Decisions from clerical review come in as [`Constraint`]s: a cannot-link pair is never linked;
//! a must-link pair always is.

use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Deserialize, Serialize};

use crate::model::{Explanation, Model};
use crate::predict::{ScoredPair, explain_pairs, predict};
use crate::record::{IdQuality, Interner, Records};

/// How a record was tied to its person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkKind {
    /// The record is a register entry: it defines the person.
    Register,
    /// Delivered ID string equal to the register's.
    ExactId,
    /// Equal after normalisation (case, width, separators, quotes).
    IdNormalized,
    /// A 15-digit number upgraded to 18 digits.
    Id15Upgraded,
    /// Linked by the probabilistic model without an ID agreement.
    Fuzzy,
    /// Matched no register entry; joined the unregistered person holding the same valid ID.
    SameIdUnregistered,
    /// Matched nothing: a person of its own.
    Singleton,
    /// Fixed by a clerical-review decision (must-link).
    Reviewed,
}

/// One record's entry in the index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexEntry {
    /// The person.
    pub person: u64,
    /// Content hash of the record as last linked (unchanged records are not linked again).
    pub row_hash: u64,
    /// How it was tied.
    pub kind: LinkKind,
    /// Match probability (1 for register and ID-based links, the model's for fuzzy ones).
    pub probability: f64,
    /// Match weight, when the model scored the link.
    pub match_weight: Option<f64>,
    /// The register record it was linked to, if any.
    pub register_key: Option<String>,
}

/// The row hash of an entry that must be linked again whatever its content (a real row hash
/// is zero only by a 2^-64 chance, which would cost one extra relink).
const STALE: u64 = 0;

/// A clerical-review decision on a (record, register record) pair.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Constraint {
    /// Key of the department record.
    pub record_key: String,
    /// Key of the register record.
    pub register_key: String,
    /// True: must link; false: cannot link.
    pub same_person: bool,
}

/// A fuzzy or borderline link worth a human look.
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewCandidate {
    /// The department record.
    pub record_key: String,
    /// The register record.
    pub register_key: String,
    /// Score and explanation.
    pub explanation: Explanation,
    /// Whether the pair was linked (above the threshold).
    pub linked: bool,
    /// The two records' identity fields for display, masked: (Chinese label, record, register).
    pub fields: Vec<(String, String, String)>,
}

/// Masked identity fields of a pair, for a reviewer (DOMAIN.md §5.2: IDs first 6 + last 4,
/// names as `王*明`, birth dates in full — a reviewer needs them to judge).
fn review_fields(
    left: &Records,
    l: usize,
    right: &Records,
    r: usize,
    strings: &Interner,
) -> Vec<(String, String, String)> {
    let id = |recs: &Records, i: usize| match recs.id_quality[i] {
        IdQuality::Missing => String::new(),
        _ => hedui_identity::id::mask_id(&String::from_utf8_lossy(&recs.id18[i])),
    };
    let name =
        |recs: &Records, i: usize| hedui_identity::name::mask_name(strings.get(recs.name_raw[i]));
    let dob = |recs: &Records, i: usize| {
        crate::record::date_of(recs.dob[i])
            .map(|d| d.to_string())
            .unwrap_or_default()
    };
    let gender = |recs: &Records, i: usize| match recs.gender[i] {
        1 => "男".to_owned(),
        2 => "女".to_owned(),
        _ => String::new(),
    };
    let place = |recs: &Records, i: usize| match recs.township[i] {
        0 => String::new(),
        code => {
            let code = code.to_string();
            hedui_identity::divisions::township_by_code(&code)
                .map(|t| t.name.to_owned())
                .unwrap_or(code)
        }
    };
    vec![
        ("姓名".into(), name(left, l), name(right, r)),
        ("身份证号".into(), id(left, l), id(right, r)),
        ("出生日期".into(), dob(left, l), dob(right, r)),
        ("性别".into(), gender(left, l), gender(right, r)),
        ("乡镇（街道）".into(), place(left, l), place(right, r)),
    ]
}

/// What one linking batch did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LinkReport {
    /// Records linked in this batch.
    pub records: u64,
    /// By kind.
    pub by_kind: std::collections::BTreeMap<String, u64>,
    /// New persons created.
    pub new_persons: u64,
    /// Records whose person changed from the previous night (logged; the older key is kept
    /// for the person, the record moves).
    pub moved: u64,
}

/// The index: record key → entry, plus the lookups that keep keys stable.
#[derive(Debug, Clone, Default)]
pub struct PersonIndex {
    entries: FxHashMap<String, IndexEntry>,
    /// Persons by valid 18-digit ID (register persons and unregistered ones).
    by_id: FxHashMap<[u8; 18], u64>,
    next_person: u64,
    /// Keys of the entries written since the index was built or the changes were last taken
    /// (so a caller can save only what changed).
    changed: FxHashSet<String>,
    /// ID lookups added since then.
    ids_added: Vec<([u8; 18], u64)>,
}

/// What changed in an index since it was built or its changes were last taken.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IndexChanges {
    /// The current entries of the changed records, by key.
    pub entries: Vec<(String, IndexEntry)>,
    /// The ID lookups added, by ID.
    pub ids: Vec<([u8; 18], u64)>,
}

/// Formats a person key: `P` and 10 digits.
pub fn person_key(person: u64) -> String {
    format!("P{person:010}")
}

impl PersonIndex {
    /// An empty index.
    pub fn new() -> PersonIndex {
        PersonIndex::default()
    }

    /// Rebuilds an index from saved entries and ID lookups.
    pub fn from_parts(
        entries: impl IntoIterator<Item = (String, IndexEntry)>,
        ids: impl IntoIterator<Item = ([u8; 18], u64)>,
    ) -> PersonIndex {
        let entries: FxHashMap<String, IndexEntry> = entries.into_iter().collect();
        let by_id: FxHashMap<[u8; 18], u64> = ids.into_iter().collect();
        let next_person = entries
            .values()
            .map(|e| e.person + 1)
            .chain(by_id.values().map(|p| p + 1))
            .max()
            .unwrap_or(0);
        PersonIndex {
            entries,
            by_id,
            next_person,
            ..Default::default()
        }
    }

    /// Makes room for `entries` more entries (loading a saved index without rehashing).
    pub fn reserve(&mut self, entries: usize) {
        self.entries.reserve(entries);
    }

    /// Applies saved changes on top (later changes win; an ID lookup, once made, is kept).
    pub fn apply(&mut self, changes: IndexChanges) {
        for (id, p) in changes.ids {
            self.by_id.entry(id).or_insert(p);
            self.next_person = self.next_person.max(p + 1);
        }
        for (k, e) in changes.entries {
            self.next_person = self.next_person.max(e.person + 1);
            self.entries.insert(k, e);
        }
    }

    /// The changes since the index was built or this was last called, sorted (deterministic).
    pub fn take_changes(&mut self) -> IndexChanges {
        let mut entries: Vec<(String, IndexEntry)> = std::mem::take(&mut self.changed)
            .into_iter()
            .filter_map(|k| {
                let e = self.entries.get(&k)?.clone();
                Some((k, e))
            })
            .collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut ids = std::mem::take(&mut self.ids_added);
        ids.sort_unstable();
        IndexChanges { entries, ids }
    }

    /// Changes not taken yet: entries and ID lookups.
    pub fn pending_changes(&self) -> (usize, usize) {
        (self.changed.len(), self.ids_added.len())
    }

    /// Writes an entry, noting the change.
    fn put(&mut self, key: &str, entry: IndexEntry) {
        if !self.changed.contains(key) {
            self.changed.insert(key.to_owned());
        }
        self.entries.insert(key.to_owned(), entry);
    }

    /// Adds an ID lookup unless the ID has one, noting the change.
    fn put_id(&mut self, id: [u8; 18], person: u64) {
        if let std::collections::hash_map::Entry::Vacant(v) = self.by_id.entry(id) {
            v.insert(person);
            self.ids_added.push((id, person));
        }
    }

    /// Entries sorted by record key (for saving; deterministic).
    pub fn entries_sorted(&self) -> Vec<(&str, &IndexEntry)> {
        let mut v: Vec<(&str, &IndexEntry)> =
            self.entries.iter().map(|(k, e)| (k.as_str(), e)).collect();
        v.sort_unstable_by(|a, b| a.0.cmp(b.0));
        v
    }

    /// ID lookups sorted by ID (for saving; deterministic).
    pub fn ids_sorted(&self) -> Vec<([u8; 18], u64)> {
        let mut v: Vec<([u8; 18], u64)> = self.by_id.iter().map(|(k, p)| (*k, *p)).collect();
        v.sort_unstable();
        v
    }

    /// Number of records in the index.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no record is indexed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Number of distinct persons.
    pub fn persons(&self) -> usize {
        self.entries
            .values()
            .map(|e| e.person)
            .collect::<FxHashSet<u64>>()
            .len()
    }

    /// Every record's entry, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &IndexEntry)> + '_ {
        self.entries.iter().map(|(k, e)| (k.as_str(), e))
    }

    /// The entry of a record.
    pub fn get(&self, record_key: &str) -> Option<&IndexEntry> {
        self.entries.get(record_key)
    }

    /// True when the record is new or its content changed since it was last linked.
    pub fn needs_linking(&self, record_key: &str, row_hash: u64) -> bool {
        self.entries
            .get(record_key)
            .is_none_or(|e| e.row_hash != row_hash)
    }

    /// Marks for relinking the records whose current link contradicts a review decision (a
    /// must-link to another person, a cannot-link to the same one): an unchanged record is
    /// otherwise never taken again, and the decision would wait for its next delivery. Returns
    /// the keys of the records marked.
    pub fn mark_contradicted(&mut self, constraints: &[Constraint]) -> Vec<String> {
        let mut marked = Vec::new();
        for c in constraints {
            let Some(target) = self.entries.get(&c.register_key).map(|e| e.person) else {
                continue;
            };
            if let Some(e) = self.entries.get_mut(&c.record_key)
                && (e.person == target) != c.same_person
                && e.row_hash != STALE
            {
                e.row_hash = STALE;
                self.changed.insert(c.record_key.clone());
                marked.push(c.record_key.clone());
            }
        }
        marked
    }

    fn new_person(&mut self) -> u64 {
        let p = self.next_person;
        self.next_person += 1;
        p
    }

    /// Adds or refreshes register records (`register` standardised, `keys[i]` and `hashes[i]`
    /// for record `i`; only the listed indices are processed). A known register record keeps its
    /// person; a new one takes the person already holding its valid ID (an unregistered person
    /// seen earlier), else a new person.
    pub fn add_register(
        &mut self,
        register: &Records,
        keys: &[&str],
        hashes: &[u64],
        which: &[usize],
    ) -> LinkReport {
        let mut report = LinkReport::default();
        for &i in which {
            let key = keys[i];
            let valid = register.id_quality[i] == IdQuality::Valid;
            let person = match self.entries.get(key) {
                Some(e) => e.person,
                None => match valid.then(|| self.by_id.get(&register.id18[i]).copied()) {
                    Some(Some(p)) => p,
                    _ => {
                        report.new_persons += 1;
                        self.new_person()
                    }
                },
            };
            if valid {
                self.put_id(register.id18[i], person);
            }
            self.put(
                key,
                IndexEntry {
                    person,
                    row_hash: hashes[i],
                    kind: LinkKind::Register,
                    probability: 1.0,
                    match_weight: None,
                    register_key: None,
                },
            );
            report.records += 1;
            *report.by_kind.entry("register".into()).or_default() += 1;
        }
        report
    }

    /// Links department records to the register and records the result.
    ///
    /// `left` are the (new or changed) department records, standardised with the same
    /// `strings` as `register`; `left_keys`/`left_hashes`/`left_raw_ids` describe them
    /// (`left_raw_ids` is the ID number as delivered, to tell exact from normalised agreement).
    /// Returns the report and the links worth a clerical review (fuzzy links, and near misses
    /// within `review_band` below the threshold).
    #[allow(clippy::too_many_arguments)]
    pub fn link(
        &mut self,
        model: &Model,
        left: &Records,
        left_side: &LinkSide<'_>,
        register: &Records,
        register_side: &LinkSide<'_>,
        strings: &Interner,
        constraints: &[Constraint],
        review_band: f64,
    ) -> (LinkReport, Vec<ReviewCandidate>) {
        let threshold = model.threshold;
        let floor = (threshold - review_band).clamp(0.01, threshold);
        let predictions = predict(model, left, register, false, strings, floor);
        let register_pos: FxHashMap<&str, u32> = register_side
            .keys
            .iter()
            .enumerate()
            .map(|(i, k)| (*k, i as u32))
            .collect();
        let mut must: FxHashMap<&str, &str> = FxHashMap::default();
        let mut cannot: FxHashMap<&str, Vec<&str>> = FxHashMap::default();
        for c in constraints {
            if c.same_person {
                must.insert(c.record_key.as_str(), c.register_key.as_str());
            } else {
                cannot
                    .entry(c.record_key.as_str())
                    .or_default()
                    .push(c.register_key.as_str());
            }
        }
        let forbidden = |lk: &str, rk: &str| cannot.get(lk).is_some_and(|v| v.contains(&rk));
        // Best admissible pair per left record; ties go to the lower register index so the
        // result does not depend on the order pairs were produced in.
        let mut best: Vec<Option<&ScoredPair>> = vec![None; left.len()];
        let mut near: Vec<&ScoredPair> = Vec::new();
        for p in &predictions.pairs {
            let lk = left_side.keys[p.l as usize];
            let rk = register_side.keys[p.r as usize];
            if forbidden(lk, rk) {
                continue;
            }
            if p.match_probability < threshold {
                near.push(p);
                continue;
            }
            let slot = &mut best[p.l as usize];
            let better = match slot {
                None => true,
                Some(b) => {
                    p.match_probability > b.match_probability
                        || (p.match_probability == b.match_probability && p.r < b.r)
                }
            };
            if better {
                *slot = Some(p);
            }
        }
        let mut report = LinkReport::default();
        let mut to_explain: Vec<(u32, u32, bool)> = Vec::new();
        for (l, best_l) in best.iter().enumerate() {
            let key = left_side.keys[l];
            let valid = left.id_quality[l] == IdQuality::Valid;
            let previous = self.entries.get(key).map(|e| e.person);
            // Persons this record must not join (the register persons of cannot-link decisions).
            let banned: Vec<u64> = cannot
                .get(key)
                .map(|v| {
                    v.iter()
                        .filter_map(|rk| self.entries.get(*rk).map(|e| e.person))
                        .collect()
                })
                .unwrap_or_default();
            let forced = must
                .get(key)
                .and_then(|rk| register_pos.get(rk).map(|&r| (*rk, r)));
            let (person, kind, probability, weight, register_key) = if let Some((rk, _)) = forced {
                let person = self.person_of_register(rk);
                (person, LinkKind::Reviewed, 1.0, None, Some(rk.to_owned()))
            } else if let Some(p) = *best_l {
                let r = p.r as usize;
                let rk = register_side.keys[r];
                let person = self.person_of_register(rk);
                let kind = id_agreement(
                    left,
                    l,
                    left_side.raw_ids[l],
                    register,
                    r,
                    register_side.raw_ids[r],
                );
                if kind == LinkKind::Fuzzy {
                    to_explain.push((p.l, p.r, true));
                }
                let prob = if kind == LinkKind::Fuzzy {
                    p.match_probability
                } else {
                    1.0
                };
                (
                    person,
                    kind,
                    prob,
                    Some(p.match_weight),
                    Some(rk.to_owned()),
                )
            } else {
                let by_id = valid
                    .then(|| self.by_id.get(&left.id18[l]).copied())
                    .flatten()
                    .filter(|p| !banned.contains(p));
                let previous = previous.filter(|p| !banned.contains(p));
                let previous_kind = self.entries.get(key).map(|e| e.kind);
                match (previous, by_id) {
                    // Unchanged outcome: keep the entry as it was (a second pass changes nothing).
                    (Some(p), Some(q))
                        if p == q
                            && matches!(
                                previous_kind,
                                Some(LinkKind::Singleton | LinkKind::SameIdUnregistered)
                            ) =>
                    {
                        (
                            p,
                            previous_kind.unwrap_or(LinkKind::Singleton),
                            1.0,
                            None,
                            None,
                        )
                    }
                    (_, Some(p)) => (p, LinkKind::SameIdUnregistered, 1.0, None, None),
                    (Some(p), None) => (p, LinkKind::Singleton, 1.0, None, None),
                    (None, None) => {
                        report.new_persons += 1;
                        let p = self.new_person();
                        (p, LinkKind::Singleton, 1.0, None, None)
                    }
                }
            };
            if valid && banned.is_empty() {
                self.put_id(left.id18[l], person);
            }
            if previous.is_some_and(|p| p != person) {
                report.moved += 1;
            }
            report.records += 1;
            *report.by_kind.entry(kind_name(kind).into()).or_default() += 1;
            self.put(
                key,
                IndexEntry {
                    person,
                    row_hash: left_side.hashes[l],
                    kind,
                    probability,
                    match_weight: weight,
                    register_key,
                },
            );
        }
        // Near misses of records that stayed unlinked are worth a look too.
        for p in near {
            if best[p.l as usize].is_none() {
                to_explain.push((p.l, p.r, false));
            }
        }
        to_explain.sort_unstable();
        to_explain.dedup_by_key(|t| (t.0, t.1));
        let pairs: Vec<(u32, u32)> = to_explain.iter().map(|t| (t.0, t.1)).collect();
        let explanations = explain_pairs(model, left, register, strings, &pairs);
        let reviews = to_explain
            .iter()
            .zip(explanations)
            .map(|(&(l, r, linked), explanation)| ReviewCandidate {
                record_key: left_side.keys[l as usize].to_owned(),
                register_key: register_side.keys[r as usize].to_owned(),
                explanation,
                linked,
                fields: review_fields(left, l as usize, register, r as usize, strings),
            })
            .collect();
        (report, reviews)
    }

    fn person_of_register(&mut self, register_key: &str) -> u64 {
        match self.entries.get(register_key) {
            Some(e) => e.person,
            // A register record not yet in the index (the caller adds the register first, so
            // this only happens when it did not): it becomes a person now.
            None => {
                let p = self.new_person();
                self.put(
                    register_key,
                    IndexEntry {
                        person: p,
                        row_hash: STALE,
                        kind: LinkKind::Register,
                        probability: 1.0,
                        match_weight: None,
                        register_key: None,
                    },
                );
                p
            }
        }
    }
}

/// Keys, content hashes and delivered ID strings of one side of a linking batch.
#[derive(Debug, Clone, Copy)]
pub struct LinkSide<'a> {
    /// Record keys (`department/dataset/record_id[#role]`).
    pub keys: &'a [&'a str],
    /// Content hashes.
    pub hashes: &'a [u64],
    /// ID numbers as delivered (empty when none).
    pub raw_ids: &'a [&'a str],
}

/// The snake_case name of a kind.
pub fn kind_name(kind: LinkKind) -> &'static str {
    match kind {
        LinkKind::Register => "register",
        LinkKind::ExactId => "exact_id",
        LinkKind::IdNormalized => "id_normalized",
        LinkKind::Id15Upgraded => "id_15_upgraded",
        LinkKind::Fuzzy => "fuzzy",
        LinkKind::SameIdUnregistered => "same_id_unregistered",
        LinkKind::Singleton => "singleton",
        LinkKind::Reviewed => "reviewed",
    }
}

/// The kind named by [`kind_name`].
pub fn kind_from_name(name: &str) -> Option<LinkKind> {
    [
        LinkKind::Register,
        LinkKind::ExactId,
        LinkKind::IdNormalized,
        LinkKind::Id15Upgraded,
        LinkKind::Fuzzy,
        LinkKind::SameIdUnregistered,
        LinkKind::Singleton,
        LinkKind::Reviewed,
    ]
    .into_iter()
    .find(|k| kind_name(*k) == name)
}

/// How the IDs of a linked pair agree: exactly as delivered, after normalisation, after the
/// 15→18 upgrade, or not at all (a fuzzy link).
fn id_agreement(
    left: &Records,
    l: usize,
    left_raw: &str,
    right: &Records,
    r: usize,
    right_raw: &str,
) -> LinkKind {
    let both_valid =
        left.id_quality[l] == IdQuality::Valid && right.id_quality[r] == IdQuality::Valid;
    if !both_valid || left.id18[l] != right.id18[r] {
        return LinkKind::Fuzzy;
    }
    if !left_raw.is_empty() && left_raw == right_raw {
        LinkKind::ExactId
    } else if left.id_was15[l] {
        LinkKind::Id15Upgraded
    } else {
        LinkKind::IdNormalized
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::job::{JobOptions, run};
    use crate::record::{InputRecord, prepare};

    fn rec(id: &str, name: &str, idn: &str, dob: &str) -> InputRecord {
        InputRecord {
            record_id: id.into(),
            name: Some(name.into()),
            id_number: (!idn.is_empty()).then(|| idn.into()),
            birth_date: (!dob.is_empty()).then(|| dob.into()),
            ..Default::default()
        }
    }

    fn with_check(body: &str) -> String {
        const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
        const C: &[u8; 11] = b"10X98765432";
        let s: u32 = body
            .bytes()
            .zip(W)
            .map(|(b, w)| (b - b'0') as u32 * w)
            .sum();
        format!("{body}{}", C[(s % 11) as usize] as char)
    }

    fn register() -> Vec<InputRecord> {
        let names = [
            "王伟", "李娜", "张敏", "刘洋", "陈静", "杨帆", "赵磊", "黄丽", "周杰", "吴芳",
        ];
        (0..400)
            .map(|i| {
                let dob = format!("19{:02}{:02}{:02}", 50 + i % 45, 1 + i % 12, 1 + i % 28);
                let body = format!("421303{dob}{:03}", i % 1000);
                let name = format!("{}{}", names[i % 10], ["", "华", "强", "平"][i / 100]);
                rec(&format!("GA{i:04}"), &name, &with_check(&body), &dob)
            })
            .collect()
    }

    struct Batch {
        keys: Vec<String>,
        hashes: Vec<u64>,
        raw: Vec<String>,
    }

    impl Batch {
        fn of(records: &[InputRecord], prefix: &str) -> Batch {
            Batch {
                keys: records
                    .iter()
                    .map(|r| format!("{prefix}/{}", r.record_id))
                    .collect(),
                hashes: records.iter().map(|r| r.record_id.len() as u64).collect(),
                raw: records
                    .iter()
                    .map(|r| r.id_number.clone().unwrap_or_default())
                    .collect(),
            }
        }
    }

    #[test]
    fn links_are_stable_and_unregistered_persons_join_up() {
        let reg = register();
        // Department records: exact IDs, a lower-case-x-free normalised one (spaces), a
        // name+dob-only record, an unregistered person seen twice.
        let mut dept: Vec<InputRecord> = (0..200)
            .map(|i| {
                let r = &reg[i];
                rec(
                    &format!("JF{i}"),
                    r.name.as_deref().unwrap(),
                    r.id_number.as_deref().unwrap(),
                    "",
                )
            })
            .collect();
        let spaced = reg[300].id_number.clone().unwrap();
        dept.push(rec(
            "JF-sp",
            reg[300].name.as_deref().unwrap(),
            &format!("{} {}", &spaced[..6], &spaced[6..]),
            "",
        ));
        let outsider = with_check("42010119850505123");
        dept.push(rec("JF-out1", "欧阳婧怡", &outsider, "19850505"));
        dept.push(rec("JF-out2", "欧阳婧怡", &outsider, "19850505"));

        // Train on the batch against the register, as the nightly run does on its first night.
        let trained = run(&dept, Some(&reg), &JobOptions::default());
        let model = trained.model.clone();

        let mut strings = Interner::new();
        let reg_std = prepare(&reg, &mut strings, None);
        let dept_std = prepare(&dept, &mut strings, None);
        let rb = Batch::of(&reg, "gongan/population");
        let db = Batch::of(&dept, "renshe/contributions");
        let rkeys: Vec<&str> = rb.keys.iter().map(String::as_str).collect();
        let rraw: Vec<&str> = rb.raw.iter().map(String::as_str).collect();
        let dkeys: Vec<&str> = db.keys.iter().map(String::as_str).collect();
        let draw: Vec<&str> = db.raw.iter().map(String::as_str).collect();
        let rside = LinkSide {
            keys: &rkeys,
            hashes: &rb.hashes,
            raw_ids: &rraw,
        };
        let dside = LinkSide {
            keys: &dkeys,
            hashes: &db.hashes,
            raw_ids: &draw,
        };

        let mut index = PersonIndex::new();
        let all: Vec<usize> = (0..reg.len()).collect();
        index.add_register(&reg_std, &rkeys, &rb.hashes, &all);
        let (report, _) = index.link(
            &model,
            &dept_std,
            &dside,
            &reg_std,
            &rside,
            &strings,
            &[],
            0.3,
        );
        assert_eq!(report.records, dept.len() as u64);
        for i in 0..200 {
            let e = index.get(dkeys[i]).unwrap();
            assert_eq!(e.kind, LinkKind::ExactId);
            assert_eq!(e.person, index.get(rkeys[i]).unwrap().person);
        }
        let sp = index.get("renshe/contributions/JF-sp").unwrap();
        assert_eq!(sp.kind, LinkKind::IdNormalized);
        assert_eq!(sp.person, index.get(rkeys[300]).unwrap().person);
        let o1 = index.get("renshe/contributions/JF-out1").unwrap().person;
        let o2 = index.get("renshe/contributions/JF-out2").unwrap().person;
        assert_eq!(o1, o2, "same valid ID, no register entry: one person");
        assert!(index.get("renshe/contributions/JF-out2").unwrap().kind != LinkKind::ExactId);

        // Everything written so far is a change; taking them leaves none, and applying them to
        // an empty index rebuilds this one.
        let changes = index.take_changes();
        assert_eq!(changes.entries.len(), index.len());
        assert_eq!(index.pending_changes(), (0, 0));
        let mut rebuilt = PersonIndex::new();
        rebuilt.apply(changes.clone());
        assert_eq!(rebuilt.entries_sorted(), index.entries_sorted());
        assert_eq!(rebuilt.ids_sorted(), index.ids_sorted());

        // Saving and loading keeps everything; a second pass over the same records changes nothing.
        let saved: Vec<(String, IndexEntry)> = index
            .entries_sorted()
            .into_iter()
            .map(|(k, e)| (k.to_owned(), e.clone()))
            .collect();
        let mut again = PersonIndex::from_parts(saved.clone(), index.ids_sorted());
        assert!(!again.needs_linking(dkeys[0], db.hashes[0]));
        let (_, _) = again.link(
            &model,
            &dept_std,
            &dside,
            &reg_std,
            &rside,
            &strings,
            &[],
            0.3,
        );
        let after: Vec<(String, IndexEntry)> = again
            .entries_sorted()
            .into_iter()
            .map(|(k, e)| (k.to_owned(), e.clone()))
            .collect();
        assert_eq!(saved.len(), after.len());
        for (a, b) in saved.iter().zip(&after) {
            assert_eq!(a, b, "entry changed on a second pass");
        }

        // The outsider is registered later: the register record joins the older person.
        let mut reg2 = reg.clone();
        reg2.push(rec("GA-new", "欧阳婧怡", &outsider, "19850505"));
        let mut s2 = Interner::new();
        let reg2_std = prepare(&reg2, &mut s2, None);
        let rb2 = Batch::of(&reg2, "gongan/population");
        let rkeys2: Vec<&str> = rb2.keys.iter().map(String::as_str).collect();
        again.add_register(&reg2_std, &rkeys2, &rb2.hashes, &[reg2.len() - 1]);
        assert_eq!(again.get("gongan/population/GA-new").unwrap().person, o1);

        // A cannot-link decision keeps a record away from its register match.
        let c = Constraint {
            record_key: dkeys[5].to_owned(),
            register_key: rkeys[5].to_owned(),
            same_person: false,
        };
        let mut third = PersonIndex::from_parts(saved, index.ids_sorted());
        // The record is unchanged, so only the decision can make it due for linking again.
        assert!(!third.needs_linking(dkeys[5], db.hashes[5]));
        assert_eq!(
            third.mark_contradicted(std::slice::from_ref(&c)),
            vec![dkeys[5].to_owned()]
        );
        assert!(third.needs_linking(dkeys[5], db.hashes[5]));
        let agreeing = Constraint {
            record_key: dkeys[6].to_owned(),
            register_key: rkeys[6].to_owned(),
            same_person: true,
        };
        assert!(third.mark_contradicted(&[agreeing]).is_empty());
        assert!(!third.needs_linking(dkeys[6], db.hashes[6]));
        third.link(
            &model,
            &dept_std,
            &dside,
            &reg_std,
            &rside,
            &strings,
            std::slice::from_ref(&c),
            0.3,
        );
        assert_ne!(
            third.get(dkeys[5]).unwrap().register_key.as_deref(),
            Some(rkeys[5])
        );
        assert!(
            third
                .take_changes()
                .entries
                .iter()
                .any(|(k, _)| k == dkeys[5])
        );
        // Once honoured, the decision marks nothing more.
        assert!(third.mark_contradicted(&[c]).is_empty());
    }
}
