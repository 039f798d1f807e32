//! The co-living household of a case (共同生活家庭, DOMAIN.md §3.1 and §4.4).
//!
//! The roster lists the members the family declared when the case was approved or last
//! reviewed. A child born since, or a minor the family never listed, is a co-living member all
//! the same: their death, hospital stay or birth is the household's event, and they count in
//! its per-capita figures. The 公安 register groups persons by 户号, and a 户 is not a
//! co-living household (adult relatives may share it without being dependants), so only the
//! relations the rules name are taken from it: **minor descendants of a listed member**.
//!
//! A register person is added to a case when, in the 户 of a listed member,
//! - they are under 18 on the as-of date (by the register's birth date),
//! - they are a child (子/女) of the 户主 and the 户主 is listed, or a grandchild (孙子/孙女)
//!   of the 户主 and a child of the 户主 is listed,
//! - and no case lists them.
//!
//! Such members are marked [`Member::from_register`]: counted, linked by the register record,
//! never required to have signed the case's authorisation.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Months, NaiveDate};

use crate::facts::{Facts, RegisterFact};
use crate::roster::{Case, Member, Roster};

/// The 户 a register entry belongs to: the 户号 scoped by the county of its 户籍地区划代码
/// (a 户号 is unique only within its issuing office, DOMAIN.md §4.4). `None` without a 户号.
pub fn register_scope(household_no: &str, region_code: Option<&str>) -> Option<String> {
    ScopeBuf::default()
        .scope(household_no, region_code)
        .map(str::to_owned)
}

/// [`register_scope`] written into one reused buffer: for checks over every row of a register.
#[derive(Debug, Default)]
pub struct ScopeBuf(String);

impl ScopeBuf {
    /// The scope of (`household_no`, `region_code`), valid until the next call.
    pub fn scope(&mut self, household_no: &str, region_code: Option<&str>) -> Option<&str> {
        let no = household_no.trim();
        if no.is_empty() {
            return None;
        }
        let county = region_code
            .map(str::trim)
            .filter(|r| r.len() >= 6 && r.is_char_boundary(6))
            .map_or("", |r| &r[..6]);
        self.0.clear();
        self.0.push_str(county);
        self.0.push('/');
        self.0.push_str(no);
        Some(&self.0)
    }
}

/// The scope of a register fact.
fn scope_of(r: &RegisterFact) -> Option<String> {
    register_scope(r.household_no.as_deref()?, r.region_code.as_deref())
}

/// Generations below the 户主 that a 与户主关系 value says: a code of GB/T 4761 (02 户主;
/// 20–29 sons and 30–39 daughters; 40–49 grandchildren) or of the shipped abridged table
/// (61 孙子, 62 孙女 — in the full standard 61/62 are grandparents, whom the age test keeps
/// out), or a label the code table did not know (长子, 养女, 外孙女 …).
fn generation(relation: Option<&str>) -> Option<u8> {
    let r = relation?.trim();
    if r.len() == 2 && r.bytes().all(|b| b.is_ascii_digit()) {
        return match r.as_bytes()[0] {
            _ if r == "02" => Some(0),
            b'2' | b'3' => Some(1),
            b'4' => Some(2),
            _ if r == "61" || r == "62" => Some(2),
            _ => None,
        };
    }
    if r == "户主" {
        return Some(0);
    }
    let child = r.ends_with('子') || r.ends_with('女') || r.ends_with("女儿");
    let not_descendant = ["妻", "侄", "甥", "兄", "弟", "姐", "妹", "媳", "婿", "孙媳"]
        .iter()
        .any(|x| r.contains(x));
    match (child && !not_descendant, r.contains('孙')) {
        (true, true) => Some(2),
        (true, false) => Some(1),
        _ => None,
    }
}

/// One entry of a 户.
struct Entry<'a> {
    person: &'a str,
    fact: &'a RegisterFact,
    generation: Option<u8>,
}

/// The members the register adds to each case (by case id), in the order of the 户 entries.
pub fn register_members(
    roster: &Roster,
    facts: &Facts,
    as_of: NaiveDate,
) -> BTreeMap<String, Vec<Member>> {
    // Every 户 of a person whose facts were read.
    let mut households: BTreeMap<String, Vec<Entry<'_>>> = BTreeMap::new();
    for (person, pf) in &facts.persons {
        for fact in &pf.register {
            if let Some(s) = scope_of(fact) {
                households.entry(s).or_default().push(Entry {
                    person,
                    fact,
                    generation: generation(fact.relation.as_deref()),
                });
            }
        }
    }
    let on_roster: BTreeSet<&str> = roster
        .cases
        .values()
        .flat_map(|c| c.members.iter().filter_map(Member::person_key))
        .collect();
    let adult_born = as_of.checked_sub_months(Months::new(18 * 12));
    let mut taken: BTreeSet<&str> = BTreeSet::new();
    let mut out: BTreeMap<String, Vec<Member>> = BTreeMap::new();
    for case in roster.cases.values() {
        let listed: BTreeSet<&str> = case
            .members
            .iter()
            .filter(|m| m.counted)
            .filter_map(Member::person_key)
            .collect();
        let scopes: BTreeSet<String> = listed
            .iter()
            .filter_map(|k| facts.person(k))
            .flat_map(|pf| pf.register.iter().filter_map(scope_of))
            .collect();
        for s in &scopes {
            let Some(entries) = households.get(s) else {
                continue;
            };
            let listed_at = |g: u8| {
                entries
                    .iter()
                    .any(|e| e.generation == Some(g) && listed.contains(e.person))
            };
            let (head_listed, child_listed) = (listed_at(0), listed_at(1));
            for e in entries {
                let descendant = match e.generation {
                    Some(1) => head_listed,
                    Some(2) => child_listed,
                    _ => false,
                };
                let minor = e
                    .fact
                    .birth_date
                    .is_some_and(|b| b <= as_of && adult_born.is_none_or(|a| b > a));
                if !descendant || !minor || on_roster.contains(e.person) || !taken.insert(e.person)
                {
                    continue;
                }
                out.entry(case.case_id.clone())
                    .or_default()
                    .push(member_of(e));
            }
        }
    }
    out
}

fn member_of(e: &Entry<'_>) -> Member {
    Member {
        member_id: format!("HJ-{}", e.fact.source.record_id),
        name: e.fact.name.clone().unwrap_or_default(),
        id_number: e.fact.id_number.clone().unwrap_or_default(),
        relation: e.fact.relation.clone(),
        birth_date: e.fact.birth_date,
        counted: true,
        link: Some(e.fact.source.link.clone()),
        from_register: true,
    }
}

/// The roster with each case's register members added (see the module documentation).
pub fn with_register_members(roster: &Roster, facts: &Facts, as_of: NaiveDate) -> Roster {
    let mut extra = register_members(roster, facts, as_of);
    let mut out = roster.clone();
    for (id, case) in &mut out.cases {
        if let Some(ms) = extra.remove(id) {
            case.members.extend(ms);
        }
    }
    out
}

/// Whether a case lists a member born on `date` (a birth certificate of that date is then
/// not a new member).
pub fn listed_birth(case: &Case, date: NaiveDate) -> bool {
    case.members
        .iter()
        .any(|m| !m.from_register && m.birth_date == Some(date))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relations_to_the_head_give_generations() {
        for (r, g) in [
            ("02", Some(0)),
            ("户主", Some(0)),
            ("20", Some(1)),
            ("22", Some(1)),
            ("31", Some(1)),
            ("41", Some(2)),
            ("61", Some(2)),
            ("长子", Some(1)),
            ("养女", Some(1)),
            ("女儿", Some(1)),
            ("外孙女", Some(2)),
            ("10", None),
            ("70", None),
            ("妻子", None),
            ("侄子", None),
            ("儿媳", None),
            ("父亲", None),
        ] {
            assert_eq!(generation(Some(r)), g, "{r}");
        }
        assert_eq!(generation(None), None);
    }

    #[test]
    fn the_scope_is_the_household_number_in_its_county() {
        assert_eq!(
            register_scope(" 381101960344 ", Some("421381101127")),
            Some("421381/381101960344".to_owned())
        );
        assert_eq!(register_scope("H1", None), Some("/H1".to_owned()));
        assert_eq!(register_scope("  ", Some("421381101127")), None);
    }
}
