//! 定期核对: the periodic check of every recipient household — indicators and rules as of a
//! date, the due list by review class and date, and **event flags on every run** for what
//! changed since the previous run's [`Snapshot`].
//!
//! Change detection works on *event keys* built from stable identifiers (member ids, record
//! keys, property unit numbers, employer codes), never from how an ID number or a name was
//! written, so a re-formatted ID or a traditional character cannot look like a change. An event
//! is new when its key was not in the previous snapshot **and**, for dated events, it happened
//! after the previous check (or after the award, on a first run) — a record that was merely
//! linked late does not raise a flag about an old purchase. A flag's id is derived from
//! (case, flag type, anchor evidence keys) with [`hedui_model::flag::flag_id`], so the same
//! evidence never raises a second flag and a dismissed flag stays dismissed.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Duration, NaiveDate};
use hedui_identity::id::{mask_id, parse_id};
use hedui_identity::name::mask_name;
use hedui_model::flag::{CaseMember, CaseRecord, Evidence, Flag, Subject, flag_id};
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::evidence::{
    death_values, evidence, fund_values, pension_values, property_values, register_values,
    spell_values, stay_values, unemployment_values, vehicle_values,
};
use crate::facts::{Codes, Facts, build_facts, month_start, months_between};
use crate::household::{listed_birth, with_register_members};
use crate::indicators::{HouseholdView, Indicators, household_indicators};
use crate::input::CheckInput;
use crate::roster::{Case, Roster, build_roster};
use crate::rules::{Outcome, Place, RuleResult, RuleSet, evaluate, fmt_num};

/// Snapshot format version.
pub const SNAPSHOT_FORMAT: u32 = 1;

/// The household indicators kept for the next run's impact texts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IndicatorSummary {
    /// Co-living members counted.
    pub counted_members: u32,
    /// Per-capita monthly income.
    pub income_per_capita: f64,
    /// Total monthly income.
    pub income_total: f64,
    /// Dwellings.
    pub dwellings: u32,
    /// Non-residential units.
    pub nonresidential_units: u32,
    /// Non-exempt vehicles.
    pub vehicles: u32,
    /// Public-payroll members.
    pub public_payroll_members: u32,
    /// Out-of-pocket medical cost in the window.
    pub medical_oop_12m: f64,
}

impl IndicatorSummary {
    fn of(i: &Indicators) -> IndicatorSummary {
        IndicatorSummary {
            counted_members: i.counted_members,
            income_per_capita: round2(i.income.per_capita),
            income_total: round2(i.income.total),
            dwellings: i.dwellings,
            nonresidential_units: i.nonresidential_units,
            vehicles: i.vehicles,
            public_payroll_members: i.public_payroll_members,
            medical_oop_12m: round2(i.medical_oop_12m),
        }
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// One case as the snapshot keeps it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CaseSnapshot {
    /// Indicator summary.
    pub summary: IndicatorSummary,
    /// Rule outcomes.
    pub outcomes: BTreeMap<String, Outcome>,
    /// Event keys seen (see the module docs).
    pub events: BTreeSet<String>,
}

/// What the next run diffs against: per case, the indicators, rule outcomes and event keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Format version ([`SNAPSHOT_FORMAT`]).
    pub format: u32,
    /// The run that wrote it.
    pub run_id: String,
    /// Its as-of date.
    pub as_of: NaiveDate,
    /// Rules version used.
    pub rules_version: String,
    /// Cases.
    pub cases: BTreeMap<String, CaseSnapshot>,
}

impl Snapshot {
    /// JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// Parses a snapshot written by [`Snapshot::to_json`].
    ///
    /// # Errors
    ///
    /// [`Error::Snapshot`] when the text is not a snapshot of this format.
    pub fn from_json(text: &str) -> Result<Snapshot, Error> {
        let s: Snapshot = serde_json::from_str(text).map_err(|e| Error::Snapshot(e.to_string()))?;
        if s.format != SNAPSHOT_FORMAT {
            return Err(Error::Snapshot(format!(
                "format {} (this version reads {SNAPSHOT_FORMAT})",
                s.format
            )));
        }
        Ok(s)
    }
}

/// A household due for its periodic review.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DueItem {
    /// Case id.
    pub case_id: String,
    /// Programme.
    pub programme: String,
    /// County code.
    pub county_code: String,
    /// Township code.
    pub township_code: String,
    /// Review class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review_class: Option<String>,
    /// Last full check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_check: Option<NaiveDate>,
    /// Due date.
    pub next_due: NaiveDate,
    /// Past due on the as-of date.
    pub overdue: bool,
}

/// Counts of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// Run id.
    pub run_id: String,
    /// As of.
    pub as_of: Option<NaiveDate>,
    /// Rules version.
    pub rules_version: String,
    /// Whether a previous snapshot was given.
    pub with_previous: bool,
    /// Roster cases read.
    pub cases_read: u64,
    /// Active (在保) cases checked.
    pub cases_checked: u64,
    /// Flags raised, by type.
    pub flags_by_type: BTreeMap<String, u64>,
    /// Flags raised in all.
    pub flags_raised: u64,
    /// Flags not raised because their id was dismissed.
    pub suppressed_dismissed: u64,
    /// Rule flags merged into an event flag of the same type.
    pub merged_rule_flags: u64,
    /// Rule outcomes by rule and result.
    pub rule_outcomes: BTreeMap<String, BTreeMap<String, u64>>,
    /// Rule results that could not be evaluated for missing data (需核实 with the reason).
    pub rule_results_missing_data: u64,
    /// Households due for review.
    pub due: u64,
    /// Records read per dataset.
    pub records_read: BTreeMap<String, u64>,
    /// Records with no person link, per dataset.
    pub records_unlinked: BTreeMap<String, u64>,
    /// Values that could not be parsed.
    pub value_issues: u64,
    /// Roster rows that could not be used.
    pub roster_issues: u64,
    /// Roster members not linked to a person.
    pub members_unlinked: u64,
    /// Co-living members the roster does not list, added from the 公安 register (minor
    /// children and grandchildren in a listed member's 户; see [`crate::household`]).
    #[serde(default)]
    pub register_members: u64,
}

/// Options of a periodic run.
#[derive(Debug, Clone)]
pub struct PeriodicOptions {
    /// Run id.
    pub run_id: String,
    /// As-of date.
    pub as_of: NaiveDate,
    /// The previous run's snapshot.
    pub previous: Option<Snapshot>,
    /// Flag ids dismissed by caseworkers (never raised again).
    pub dismissed: BTreeSet<String>,
}

impl PeriodicOptions {
    /// Options with no previous run and nothing dismissed.
    pub fn new(run_id: &str, as_of: NaiveDate) -> PeriodicOptions {
        PeriodicOptions {
            run_id: run_id.to_owned(),
            as_of,
            previous: None,
            dismissed: BTreeSet::new(),
        }
    }
}

/// Everything a periodic run produces.
#[derive(Debug, Clone)]
pub struct PeriodicOutput {
    /// Flags raised, sorted by (case, type, id).
    pub flags: Vec<Flag>,
    /// Cases for the store.
    pub cases: Vec<CaseRecord>,
    /// Households due for review.
    pub due: Vec<DueItem>,
    /// Rule results per active case.
    pub results: BTreeMap<String, Vec<RuleResult>>,
    /// Indicators per active case.
    pub indicators: BTreeMap<String, Indicators>,
    /// The snapshot for the next run.
    pub snapshot: Snapshot,
    /// Counts.
    pub summary: RunSummary,
}

/// A candidate event.
struct Candidate {
    key: String,
    flag_type: &'static str,
    member_id: Option<String>,
    /// Event date, and whether it is month-granular.
    date: Option<(NaiveDate, bool)>,
    /// Whether the date must be after the baseline for the event to be new.
    dated: bool,
    /// Evidence keys the flag id is derived from.
    anchor: Vec<String>,
    evidence: Vec<Evidence>,
    reason_zh: String,
}

/// Runs the periodic check.
pub fn run_periodic(input: &CheckInput, rules: &RuleSet, opts: &PeriodicOptions) -> PeriodicOutput {
    let facts = build_facts(input);
    let roster = build_roster(input);
    run_periodic_on(&facts, &roster, rules, opts)
}

/// The address to village level.
pub fn village_address(township_code: &str, village: &str) -> String {
    let town = hedui_identity::divisions::TOWNSHIPS
        .iter()
        .find(|t| t.code == township_code);
    let county = town.and_then(|t| t.county());
    format!(
        "{}{}{}",
        county.map_or("", |c| c.name),
        town.map_or("", |t| t.name),
        village
    )
}

fn masked_id(raw: &str) -> String {
    parse_id(raw)
        .normalized
        .as_deref()
        .map_or_else(|| mask_id(raw.trim()), mask_id)
}

/// The periodic check on facts and roster already built.
pub fn run_periodic_on(
    facts: &Facts,
    roster: &Roster,
    rules: &RuleSet,
    opts: &PeriodicOptions,
) -> PeriodicOutput {
    let codes = Codes::builtin();
    let as_of = opts.as_of;
    let roster = &with_register_members(roster, facts, as_of);
    let mut summary = RunSummary {
        run_id: opts.run_id.clone(),
        as_of: Some(as_of),
        rules_version: rules.version.clone(),
        with_previous: opts.previous.is_some(),
        cases_read: roster.cases.len() as u64,
        records_read: facts.records_read.clone(),
        records_unlinked: facts.records_unlinked.clone(),
        value_issues: facts.issues.len() as u64,
        roster_issues: roster.issues.len() as u64,
        register_members: roster
            .cases
            .values()
            .map(|c| c.members.iter().filter(|m| m.from_register).count() as u64)
            .sum(),
        ..Default::default()
    };
    // Persons on more than one active case (DUP-PROGRAM).
    let mut person_cases: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for c in roster.cases.values().filter(|c| c.active()) {
        for m in &c.members {
            if let Some(k) = m.person_key() {
                person_cases.entry(k).or_default().insert(&c.case_id);
            }
        }
    }
    let mut flags = Vec::new();
    let mut cases_out = Vec::new();
    let mut due = Vec::new();
    let mut results_out = BTreeMap::new();
    let mut indicators_out = BTreeMap::new();
    let mut snapshot = Snapshot {
        format: SNAPSHOT_FORMAT,
        run_id: opts.run_id.clone(),
        as_of,
        rules_version: rules.version.clone(),
        cases: BTreeMap::new(),
    };
    for case in roster.cases.values() {
        cases_out.push(CaseRecord {
            case_id: case.case_id.clone(),
            programme: case.programme.clone(),
            status: codes.label("case_status", &case.status),
            county_code: case.county_code.clone(),
            township_code: case.township_code.clone(),
            address: village_address(&case.township_code, &case.village),
            monthly_benefit: case.benefit,
            next_review: case.next_due,
            members: case
                .members
                .iter()
                .map(|m| CaseMember {
                    member_id: m.member_id.clone(),
                    name: m.name.clone(),
                    id_number: m.id_number.clone(),
                    relation: {
                        let r = m
                            .relation
                            .as_deref()
                            .map_or_else(String::new, |r| codes.label("relation", r));
                        if m.from_register {
                            format!("{r}（户籍同户未成年人，未列入名单）")
                        } else {
                            r
                        }
                    },
                    person_key: m.person_key().map(str::to_owned),
                })
                .collect(),
        });
        if !case.active() {
            continue;
        }
        summary.cases_checked += 1;
        summary.members_unlinked += case.members.iter().filter(|m| m.link.is_none()).count() as u64;
        if let Some(nd) = case.next_due
            && nd <= as_of + Duration::days(i64::from(rules.settings.review_notice_days))
        {
            due.push(DueItem {
                case_id: case.case_id.clone(),
                programme: case.programme.clone(),
                county_code: case.county_code.clone(),
                township_code: case.township_code.clone(),
                review_class: case.review_class.clone(),
                last_check: case.last_check,
                next_due: nd,
                overdue: nd < as_of,
            });
        }
        let view = HouseholdView {
            members: &case.members,
            county: &case.county_code,
            urban: case.urban,
        };
        let ind = household_indicators(view, facts, rules, as_of);
        let place = Place {
            county: &case.county_code,
            urban: case.urban,
            date: as_of,
        };
        let results = evaluate(rules, &case.programme, place, &|n| ind.quantity(n));
        for r in &results {
            *summary
                .rule_outcomes
                .entry(r.rule_id.clone())
                .or_default()
                .entry(r.outcome.label_zh().to_owned())
                .or_default() += 1;
            if r.missing_data {
                summary.rule_results_missing_data += 1;
            }
        }
        let prev_case = opts
            .previous
            .as_ref()
            .and_then(|p| p.cases.get(&case.case_id).map(|c| (p.as_of, c)));
        let baseline = prev_case
            .map(|(d, _)| d)
            .or(case.approved)
            .unwrap_or(NaiveDate::MIN);
        let candidates = case_candidates(case, facts, rules, &codes, as_of, &person_cases);
        let std = rules.value("dibao_monthly", &case.county_code, case.urban, as_of);
        let now_sum = IndicatorSummary::of(&ind);
        let prev_sum = prev_case.map(|(_, c)| c.summary.clone());
        let mut raised_types: BTreeSet<&str> = BTreeSet::new();
        let mut case_flags = Vec::new();
        for c in &candidates {
            let known = prev_case.is_some_and(|(_, pc)| pc.events.contains(&c.key));
            if known {
                continue;
            }
            let after_baseline = match c.date {
                _ if !c.dated => true,
                None => true,
                Some((d, true)) => d >= month_start(baseline),
                Some((d, false)) => d > baseline,
            };
            if !after_baseline {
                continue;
            }
            let Some(setting) = rules.flag(c.flag_type) else {
                continue;
            };
            let impact = impact_text(
                c.flag_type,
                prev_sum.as_ref(),
                &now_sum,
                std,
                case,
                c,
                as_of,
            );
            let flag = Flag {
                flag_id: flag_id(&case.case_id, c.flag_type, &c.anchor),
                flag_type: c.flag_type.to_owned(),
                severity: rules.flag_severity(c.flag_type),
                run_id: opts.run_id.clone(),
                as_of,
                subject: subject(case, c.member_id.as_deref(), &ind),
                reason_zh: c.reason_zh.clone(),
                rule_id: c.flag_type.to_owned(),
                rules_version: rules.version.clone(),
                impact_zh: impact,
                suggested_action_zh: setting.action.clone(),
                deadline: as_of + Duration::days(i64::from(setting.deadline_days)),
                evidence: c.evidence.clone(),
            };
            raised_types.insert(c.flag_type);
            case_flags.push(flag);
        }
        // Rules whose result newly became non-符合.
        for r in &results {
            let Some(ft) = &r.flag else { continue };
            let flaggable =
                r.outcome == Outcome::Fail || (r.outcome == Outcome::Verify && !r.missing_data);
            if !flaggable {
                continue;
            }
            let prev_outcome = prev_case.and_then(|(_, pc)| pc.outcomes.get(&r.rule_id).copied());
            let newly = match prev_outcome {
                Some(Outcome::Pass) => true,
                Some(_) => false,
                None => prev_case.is_none() && r.outcome == Outcome::Fail,
            };
            if !newly {
                continue;
            }
            if raised_types.contains(ft.as_str()) {
                summary.merged_rule_flags += 1;
                continue;
            }
            let Some(setting) = rules.flag(ft) else {
                continue;
            };
            let mut anchor = r.evidence.clone();
            anchor.push(format!("rule/{}", r.rule_id));
            let ev: Vec<Evidence> = rule_evidence(&r.evidence, case, facts, &codes);
            let impact = impact_text(
                ft,
                prev_sum.as_ref(),
                &now_sum,
                std,
                case,
                &Candidate {
                    key: String::new(),
                    flag_type: "",
                    member_id: None,
                    date: None,
                    dated: false,
                    anchor: Vec::new(),
                    evidence: Vec::new(),
                    reason_zh: String::new(),
                },
                as_of,
            );
            case_flags.push(Flag {
                flag_id: flag_id(&case.case_id, ft, &anchor),
                flag_type: ft.clone(),
                severity: rules.flag_severity(ft),
                run_id: opts.run_id.clone(),
                as_of,
                subject: subject(case, None, &ind),
                reason_zh: format!(
                    "规则{}（{}）结果为{}：{}",
                    r.rule_id,
                    r.title,
                    r.outcome.label_zh(),
                    r.reason_zh
                ),
                rule_id: r.rule_id.clone(),
                rules_version: rules.version.clone(),
                impact_zh: impact,
                suggested_action_zh: setting.action.clone(),
                deadline: as_of + Duration::days(i64::from(setting.deadline_days)),
                evidence: ev,
            });
            raised_types.insert(ft.as_str());
        }
        for f in case_flags {
            if opts.dismissed.contains(&f.flag_id) {
                summary.suppressed_dismissed += 1;
                continue;
            }
            *summary
                .flags_by_type
                .entry(f.flag_type.clone())
                .or_default() += 1;
            flags.push(f);
        }
        snapshot.cases.insert(
            case.case_id.clone(),
            CaseSnapshot {
                summary: now_sum,
                outcomes: results
                    .iter()
                    .map(|r| (r.rule_id.clone(), r.outcome))
                    .collect(),
                events: candidates.into_iter().map(|c| c.key).collect(),
            },
        );
        results_out.insert(case.case_id.clone(), results);
        indicators_out.insert(case.case_id.clone(), ind);
    }
    flags.sort_by(|a, b| {
        (&a.subject.case_id, &a.flag_type, &a.flag_id).cmp(&(
            &b.subject.case_id,
            &b.flag_type,
            &b.flag_id,
        ))
    });
    flags.dedup_by(|a, b| a.flag_id == b.flag_id);
    summary.flags_raised = flags.len() as u64;
    summary.due = due.len() as u64;
    PeriodicOutput {
        flags,
        cases: cases_out,
        due,
        results: results_out,
        indicators: indicators_out,
        snapshot,
        summary,
    }
}

fn subject(case: &Case, member_id: Option<&str>, ind: &Indicators) -> Subject {
    let member = member_id.and_then(|id| case.members.iter().find(|m| m.member_id == id));
    Subject {
        case_id: case.case_id.clone(),
        programme: case.programme.clone(),
        county_code: case.county_code.clone(),
        township_code: case.township_code.clone(),
        head_name_masked: mask_name(&case.head_name),
        head_id_masked: masked_id(&case.head_id_number),
        address: village_address(&case.township_code, &case.village),
        household_size: ind.counted_members,
        monthly_benefit: case.benefit,
        member_id: member.map(|m| m.member_id.clone()),
        member_name_masked: member.map(|m| mask_name(&m.name)),
    }
}

fn impact_text(
    flag_type: &str,
    prev: Option<&IndicatorSummary>,
    now: &IndicatorSummary,
    std: Option<f64>,
    case: &Case,
    c: &Candidate,
    as_of: NaiveDate,
) -> Option<String> {
    let arrow_f = |a: Option<f64>, b: f64| match a {
        Some(a) => format!("{}→{}", fmt_num(a), fmt_num(b)),
        None => fmt_num(b),
    };
    let arrow_u = |a: Option<u32>, b: u32| match a {
        Some(a) => format!("{a}→{b}"),
        None => b.to_string(),
    };
    let std_txt = std.map_or_else(String::new, |s| format!("，低保标准{}元", fmt_num(s)));
    let income = format!(
        "人均月收入{}元{std_txt}",
        arrow_f(prev.map(|p| p.income_per_capita), now.income_per_capita)
    );
    let size = format!(
        "家庭共同生活人数{}",
        arrow_u(prev.map(|p| p.counted_members), now.counted_members)
    );
    Some(match flag_type {
        "DYN-DEATH" => {
            let mut s = format!("{size}；{income}");
            if let (Some((d, _)), Some(b)) = (c.date, case.benefit)
                && b > 0.0
            {
                let months = months_between(d, as_of).max(0);
                if months > 0 {
                    s.push_str(&format!(
                        "；死亡后已按月发放约{months}个月，约{}元待核实追回",
                        fmt_num(b * f64::from(months))
                    ));
                }
            }
            s
        }
        "DYN-MIGRATE-OUT" | "DYN-NEWBORN" => format!("{size}；{income}"),
        "INC-NEW-JOB"
        | "INC-PENSION-START"
        | "INC-UNEMP"
        | "PERS-PUBLIC-PAYROLL"
        | "INC-WAGE-OVER" => income,
        "PROP-HOUSE-NEW" | "PROP-HOUSE-COUNT" => format!(
            "住房{}套；非住宅房产{}处",
            arrow_u(prev.map(|p| p.dwellings), now.dwellings),
            arrow_u(
                prev.map(|p| p.nonresidential_units),
                now.nonresidential_units
            )
        ),
        "PROP-VEHICLE" => format!(
            "非豁免机动车{}辆",
            arrow_u(prev.map(|p| p.vehicles), now.vehicles)
        ),
        "EXP-MEDICAL" => format!(
            "近12个月个人自付医疗费用{}元",
            arrow_f(prev.map(|p| p.medical_oop_12m), now.medical_oop_12m)
        ),
        _ => return None,
    })
}

/// Evidence rows for a rule flag: the cited records, looked up in the household's facts.
fn rule_evidence(keys: &[String], case: &Case, facts: &Facts, codes: &Codes) -> Vec<Evidence> {
    let mut out = Vec::new();
    for m in &case.members {
        let Some(p) = m.person_key().and_then(|k| facts.person(k)) else {
            continue;
        };
        let want = |k: String| keys.contains(&k);
        for s in &p.contributions {
            if let Some(src) = s.sources.iter().rev().find(|x| want(x.key())) {
                out.push(evidence(
                    src,
                    &m.member_id,
                    s.run_start(),
                    spell_values(s, codes),
                    false,
                ));
            }
        }
        for f in p.funds.iter().filter(|f| want(f.source.key())) {
            out.push(evidence(
                &f.source,
                &m.member_id,
                f.open_date,
                fund_values(f, codes),
                false,
            ));
        }
        for x in p.pensions.iter().filter(|f| want(f.source.key())) {
            out.push(evidence(
                &x.source,
                &m.member_id,
                x.start_month,
                pension_values(x, codes),
                false,
            ));
        }
        for u in p.unemployment.iter().filter(|f| want(f.source.key())) {
            out.push(evidence(
                &u.source,
                &m.member_id,
                u.start_month,
                unemployment_values(u),
                false,
            ));
        }
        for x in p.properties.iter().filter(|f| want(f.source.key())) {
            out.push(evidence(
                &x.source,
                &m.member_id,
                x.reg_date,
                property_values(x, codes),
                false,
            ));
        }
        for v in p.vehicles.iter().filter(|f| want(f.source.key())) {
            out.push(evidence(
                &v.source,
                &m.member_id,
                v.first_reg,
                vehicle_values(v, codes),
                false,
            ));
        }
        for s in p.stays.iter().filter(|f| want(f.source.key())) {
            out.push(evidence(
                &s.source,
                &m.member_id,
                s.admit,
                stay_values(s),
                true,
            ));
        }
    }
    out
}

/// A DYN-NEWBORN candidate: one event per birth date in a household, whichever source (a
/// birth certificate naming a member, a register entry) shows it.
fn newborn(
    member_id: &str,
    born: NaiveDate,
    source: &crate::facts::SourceRef,
    values: Vec<(String, String)>,
    reason_zh: String,
) -> Candidate {
    Candidate {
        key: format!("BIRTH|{born}"),
        flag_type: "DYN-NEWBORN",
        member_id: Some(member_id.to_owned()),
        date: Some((born, false)),
        dated: true,
        anchor: vec![source.key()],
        evidence: vec![evidence(source, member_id, Some(born), values, false)],
        reason_zh,
    }
}

/// Every candidate event of a case on `as_of`.
fn case_candidates(
    case: &Case,
    facts: &Facts,
    rules: &RuleSet,
    codes: &Codes,
    as_of: NaiveDate,
    person_cases: &BTreeMap<&str, BTreeSet<&str>>,
) -> Vec<Candidate> {
    let s = &rules.settings;
    let mut out = Vec::new();
    let mut props: BTreeMap<String, Candidate> = BTreeMap::new();
    for m in &case.members {
        let who = if m.from_register {
            format!("{}（户籍同户未成年人，未列入名单）", mask_name(&m.name))
        } else {
            mask_name(&m.name)
        };
        let Some(key) = m.person_key() else {
            out.push(Candidate {
                key: format!("UNLINKED|{}", m.member_id),
                flag_type: "ID-NOT-FOUND",
                member_id: Some(m.member_id.clone()),
                date: None,
                dated: false,
                anchor: vec![format!("minzheng/members/{}", m.member_id)],
                evidence: Vec::new(),
                reason_zh: format!(
                    "成员{who}的身份证号{}在公安户籍中查无记录",
                    masked_id(&m.id_number)
                ),
            });
            continue;
        };
        if let Some(cases) = person_cases.get(key)
            && cases.len() > 1
        {
            let others: Vec<&str> = cases
                .iter()
                .copied()
                .filter(|c| *c != case.case_id)
                .collect();
            out.push(Candidate {
                key: format!("DUP|{key}"),
                flag_type: "DUP-PROGRAM",
                member_id: Some(m.member_id.clone()),
                date: None,
                dated: false,
                anchor: cases
                    .iter()
                    .map(|c| format!("minzheng/cases/{c}"))
                    .collect(),
                evidence: Vec::new(),
                reason_zh: format!("成员{who}同时在其他救助家庭{}中享受待遇", others.join("、")),
            });
        }
        let Some(p) = facts.person(key) else { continue };
        // Death.
        if let Some((date, srcs)) = p.death() {
            let reliable = srcs.iter().any(|d| d.reliable);
            if !reliable || date.is_none_or(|d| d <= as_of) {
                let names: BTreeSet<&str> = srcs
                    .iter()
                    .map(|d| match d.source.dataset.as_str() {
                        "deaths" => "卫健死亡医学证明",
                        "population" => "公安户籍注销",
                        _ => "人社养老金待遇终止",
                    })
                    .collect();
                let names: Vec<&str> = names.into_iter().collect();
                let reason = if reliable {
                    format!(
                        "成员{who}已于{}死亡（{}）",
                        date.map_or_else(|| "（日期缺失）".into(), |d| d.to_string()),
                        names.join("、")
                    )
                } else {
                    format!("成员{who}的养老金待遇已终止，疑似死亡，需核实")
                };
                out.push(Candidate {
                    key: format!("DEATH|{}", m.member_id),
                    flag_type: "DYN-DEATH",
                    member_id: Some(m.member_id.clone()),
                    date: date.map(|d| (d, false)),
                    dated: false,
                    anchor: vec![format!("member/{}", m.member_id)],
                    evidence: srcs
                        .iter()
                        .map(|d| evidence(&d.source, &m.member_id, d.date, death_values(d), false))
                        .collect(),
                    reason_zh: reason,
                });
            }
        }
        // Migration.
        if let Some((r, date)) = p.moved_out(as_of) {
            out.push(Candidate {
                key: format!("MIGRATE|{}", m.member_id),
                flag_type: "DYN-MIGRATE-OUT",
                member_id: Some(m.member_id.clone()),
                date: date.map(|d| (d, false)),
                dated: true,
                anchor: vec![r.source.key()],
                evidence: vec![evidence(
                    &r.source,
                    &m.member_id,
                    date,
                    register_values(r, codes),
                    false,
                )],
                reason_zh: format!(
                    "成员{who}户籍已于{}迁出{}",
                    date.map_or_else(|| "（日期缺失）".into(), |d| d.to_string()),
                    r.move_to
                        .as_deref()
                        .map_or_else(String::new, |t| format!("至{t}"))
                ),
            });
        }
        // Employment.
        let spells_units: BTreeSet<&str> = p
            .contributions
            .iter()
            .map(|c| c.unit_name.as_str())
            .collect();
        for sp in &p.contributions {
            if !sp.is_employment()
                || !sp.active(as_of, s.activity_lag_months)
                || sp.run_months() < s.new_job_min_months
            {
                continue;
            }
            let flexible = sp.unit_type.as_deref() == Some("50") || sp.unit_key == "灵活就业";
            if flexible && !sp.is_public_payroll() {
                continue;
            }
            let Some(start) = sp.run_start() else {
                continue;
            };
            let first = sp
                .sources
                .iter()
                .zip(&sp.months)
                .find(|(_, mo)| **mo == start)
                .map(|(x, _)| x)
                .or(sp.sources.first());
            let Some(first) = first else { continue };
            let mut ev = vec![evidence(
                first,
                &m.member_id,
                Some(start),
                spell_values(sp, codes),
                false,
            )];
            if let Some(last) = sp.sources.last()
                && last.record_id != first.record_id
            {
                ev.push(evidence(
                    last,
                    &m.member_id,
                    sp.last_month(),
                    spell_values(sp, codes),
                    false,
                ));
            }
            for f in p.funds.iter().filter(|f| {
                f.active(as_of, s.activity_lag_months)
                    && f.unit_name.as_deref() == Some(sp.unit_name.as_str())
            }) {
                ev.push(evidence(
                    &f.source,
                    &m.member_id,
                    f.open_date,
                    fund_values(f, codes),
                    false,
                ));
            }
            let payroll = sp.is_public_payroll();
            out.push(Candidate {
                key: format!("JOB|{}|{}|{}", m.member_id, sp.unit_key, sp.insurance_type),
                flag_type: if payroll {
                    "PERS-PUBLIC-PAYROLL"
                } else {
                    "INC-NEW-JOB"
                },
                member_id: Some(m.member_id.clone()),
                date: Some((start, true)),
                dated: true,
                anchor: vec![
                    format!("member/{}", m.member_id),
                    format!("unit/{}/{}", sp.unit_key, sp.insurance_type),
                ],
                evidence: ev,
                reason_zh: if payroll {
                    format!(
                        "成员{who}自{}起在{}参加机关事业单位养老保险（财政供养），已连续缴费{}个月",
                        start.format("%Y-%m"),
                        sp.unit_name,
                        sp.run_months()
                    )
                } else {
                    format!(
                        "成员{who}自{}起在{}参保缴费，已连续{}个月，缴费基数{}",
                        start.format("%Y-%m"),
                        sp.unit_name,
                        sp.run_months(),
                        sp.latest_base
                            .map_or_else(|| "（缺失）".into(), |b| format!("{}元", fmt_num(b)))
                    )
                },
            });
        }
        // Housing-fund deposits with no contribution spell at that unit: a new job too.
        for f in p
            .funds
            .iter()
            .filter(|f| f.active(as_of, s.activity_lag_months))
        {
            let unit = f.unit_name.as_deref().unwrap_or("");
            if spells_units.contains(unit) {
                continue;
            }
            out.push(Candidate {
                key: format!("FUND|{}|{}", m.member_id, f.source.record_id),
                flag_type: "INC-NEW-JOB",
                member_id: Some(m.member_id.clone()),
                date: f.open_date.map(|d| (d, false)),
                dated: true,
                anchor: vec![f.source.key()],
                evidence: vec![evidence(
                    &f.source,
                    &m.member_id,
                    f.open_date,
                    fund_values(f, codes),
                    false,
                )],
                reason_zh: format!(
                    "成员{who}在{}缴存住房公积金，缴存基数{}",
                    if unit.is_empty() {
                        "（单位缺失）"
                    } else {
                        unit
                    },
                    f.base
                        .map_or_else(|| "（缺失）".into(), |b| format!("{}元", fmt_num(b)))
                ),
            });
        }
        // Pensions.
        for x in p.pensions.iter().filter(|x| x.in_payment(as_of)) {
            let (counted, _) = x.counted();
            if counted <= 0.0 {
                continue;
            }
            out.push(Candidate {
                key: format!("PENSION|{}|{}", m.member_id, x.source.record_id),
                flag_type: "INC-PENSION-START",
                member_id: Some(m.member_id.clone()),
                date: x.start_month.map(|d| (d, true)),
                dated: true,
                anchor: vec![x.source.key()],
                evidence: vec![evidence(
                    &x.source,
                    &m.member_id,
                    x.start_month,
                    pension_values(x, codes),
                    false,
                )],
                reason_zh: format!(
                    "成员{who}自{}起领取养老金，月计入收入{}元",
                    x.start_month
                        .map_or_else(|| "（缺失）".into(), |d| d.format("%Y-%m").to_string()),
                    fmt_num(counted)
                ),
            });
        }
        // Unemployment benefit.
        for u in p.unemployment.iter().filter(|u| u.active(as_of)) {
            out.push(Candidate {
                key: format!("UNEMP|{}", u.source.key()),
                flag_type: "INC-UNEMP",
                member_id: Some(m.member_id.clone()),
                date: u.start_month.map(|d| (d, true)),
                dated: true,
                anchor: vec![u.source.key()],
                evidence: vec![evidence(
                    &u.source,
                    &m.member_id,
                    u.start_month,
                    unemployment_values(u),
                    false,
                )],
                reason_zh: format!(
                    "成员{who}正在领取失业保险金，每月{}",
                    u.monthly_amount
                        .map_or_else(|| "（金额缺失）".into(), |a| format!("{}元", fmt_num(a)))
                ),
            });
        }
        // Property (grouped by unit: co-owners' rows are one event).
        for x in p
            .properties
            .iter()
            .filter(|x| x.current() && x.reg_date.is_none_or(|d| d <= as_of))
        {
            let e = props.entry(x.unit_no.clone()).or_insert_with(|| Candidate {
                key: format!("PROP|{}", x.unit_no),
                flag_type: "PROP-HOUSE-NEW",
                member_id: Some(m.member_id.clone()),
                date: x.reg_date.map(|d| (d, false)),
                dated: true,
                anchor: vec![format!("zhujian/property/unit/{}", x.unit_no)],
                evidence: Vec::new(),
                reason_zh: format!(
                    "成员{who}于{}新登记{}（{}㎡）",
                    x.reg_date
                        .map_or_else(|| "（日期缺失）".into(), |d| d.to_string()),
                    x.use_code
                        .as_deref()
                        .map_or_else(|| "不动产".into(), |u| codes.label("property_use", u)),
                    x.area.map_or_else(|| "面积缺失".into(), fmt_num)
                ),
            });
            e.evidence.push(evidence(
                &x.source,
                &m.member_id,
                x.reg_date,
                property_values(x, codes),
                false,
            ));
        }
        // Vehicles (exempt kinds do not count).
        for v in &p.vehicles {
            if v.status.as_deref().is_some_and(|x| x != "A")
                || v.first_reg.is_some_and(|d| d > as_of)
            {
                continue;
            }
            if v.plate_type
                .as_deref()
                .is_some_and(|t| s.vehicle_exempt_plate_types.iter().any(|x| x == t))
            {
                continue;
            }
            out.push(Candidate {
                key: format!("VEH|{}", v.source.key()),
                flag_type: "PROP-VEHICLE",
                member_id: Some(m.member_id.clone()),
                date: v.first_reg.map(|d| (d, false)),
                dated: true,
                anchor: vec![v.source.key()],
                evidence: vec![evidence(
                    &v.source,
                    &m.member_id,
                    v.first_reg,
                    vehicle_values(v, codes),
                    false,
                )],
                reason_zh: format!(
                    "成员{who}名下有机动车（{}），初次登记于{}",
                    v.vehicle_type.clone().unwrap_or_else(|| "类型缺失".into()),
                    v.first_reg
                        .map_or_else(|| "（日期缺失）".into(), |d| d.to_string())
                ),
            });
        }
        // Births naming the member as a parent.
        for b in &p.births {
            let Some(born) = b.birth_date else { continue };
            if born > as_of || born <= as_of - Duration::days(365) || listed_birth(case, born) {
                continue;
            }
            out.push(newborn(
                &m.member_id,
                born,
                &b.source,
                vec![("新生儿出生日期".to_owned(), born.to_string())],
                format!("成员{who}于{born}生育子女，家庭新增成员，需增员复核并补签授权"),
            ));
        }
    }
    // A child in the register under one year old whom the roster does not list: the same
    // event as its birth certificate (one key per birth date), whichever arrives first.
    for m in case.members.iter().filter(|m| m.from_register) {
        let Some(born) = m.birth_date else { continue };
        let Some(r) = m
            .person_key()
            .and_then(|k| facts.person(k))
            .and_then(|p| p.register.first())
        else {
            continue;
        };
        if born > as_of || born <= as_of - Duration::days(365) {
            continue;
        }
        out.push(newborn(
            &m.member_id,
            born,
            &r.source,
            register_values(r, codes),
            format!(
                "户籍登记新生儿{}（{born}出生）与救助家庭成员同户，未列入救助名单，需增员复核并补签授权",
                mask_name(&m.name)
            ),
        ));
    }
    out.extend(props.into_values());
    // A birth certificate names both parents, and a register entry may stand for the same
    // child: one event per birth date.
    let mut seen = BTreeSet::new();
    out.retain(|c| seen.insert(c.key.clone()));
    out
}

#[cfg(test)]
mod tests;
