//! 逢进必核: the entry check of pending applications. For each application, a 核对报告: the
//! members, per member and per source what was found (or 查无记录), the computed summary and
//! every rule's result with its evidence. An application whose authorisation does not cover
//! every member is reported as such and **not checked** (the authorisation gate of DOMAIN.md
//! §1.4 and §5.2): no department data of any member is shown.

use chrono::{Datelike, NaiveDate};
use hedui_identity::id::{mask_id, parse_id};
use hedui_model::flag::programme_label_zh;
use serde::{Deserialize, Serialize};

use crate::evidence::findings;
use crate::facts::{Codes, Facts, build_facts};
use crate::indicators::{HouseholdView, Indicators, household_indicators};
use crate::input::{CheckInput, FACT_DATASETS, dataset_label_zh, department_label_zh};
use crate::periodic::village_address;
use crate::roster::{Application, Roster, authorisation_gap, build_roster};
use crate::rules::{Outcome, Place, RuleResult, RuleSet, evaluate};

/// The authorisation scope an entry check queries (户籍, 社保, 公积金, 不动产, 车辆, 医疗).
pub const ENTRY_SCOPE: &[&str] = &["HJ", "SB", "GJJ", "BDC", "CL", "YL"];

/// What one source said about one member.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceFinding {
    /// Department (Chinese).
    pub department: String,
    /// Dataset (Chinese).
    pub dataset: String,
    /// `department/dataset`.
    pub qualified: String,
    /// Whether the dataset was delivered at all.
    pub delivered: bool,
    /// Rows found (label, value); empty = 查无记录.
    pub rows: Vec<Vec<(String, String)>>,
}

/// A member in the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportMember {
    /// Member id.
    pub member_id: String,
    /// Name.
    pub name: String,
    /// ID masked (first 6 + last 4).
    pub id_masked: String,
    /// Relation to the applicant.
    pub relation: String,
    /// Age on the as-of date, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age: Option<i32>,
    /// How the member's identity was found in the register (Chinese).
    pub identity: String,
    /// Status in the household (正常 / 死亡 / 迁出 / 未关联).
    pub status: String,
    /// Per source.
    pub findings: Vec<SourceFinding>,
}

/// A member the authorisation does not cover.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateProblem {
    /// Member id.
    pub member_id: String,
    /// Name, masked.
    pub name_masked: String,
    /// ID, masked.
    pub id_masked: String,
    /// Why (Chinese).
    pub reason: String,
}

/// The 核对报告 of one application.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntryReport {
    /// Report number.
    pub report_no: String,
    /// Application id.
    pub application_id: String,
    /// Programme code and label.
    pub programme: String,
    /// Programme (Chinese).
    pub programme_zh: String,
    /// 城市 / 农村.
    pub urban_rural: String,
    /// County code.
    pub county_code: String,
    /// Township code.
    pub township_code: String,
    /// Address to village level.
    pub address: String,
    /// Authorisation number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_no: Option<String>,
    /// Application date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied: Option<NaiveDate>,
    /// Check date.
    pub as_of: NaiveDate,
    /// Data cut-off per source (extract dates).
    pub cutoffs: Vec<(String, NaiveDate)>,
    /// Whether the check was carried out.
    pub checked: bool,
    /// 已核对 / 授权不完整，未核对.
    pub status_zh: String,
    /// Members not covered by the authorisation (the check was refused).
    pub gate: Vec<GateProblem>,
    /// Members (empty when refused).
    pub members: Vec<ReportMember>,
    /// Declared monthly household income.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub declared_income: Option<f64>,
    /// Computed summary (absent when refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub indicators: Option<Indicators>,
    /// Rule results.
    pub results: Vec<RuleResult>,
    /// Overall finding (Chinese): the 核对机构 reports findings; the decision is the 乡镇/县's.
    pub conclusion_zh: String,
    /// Rules version.
    pub rules_version: String,
}

/// Runs the entry check for every pending application.
pub fn run_entry(input: &CheckInput, rules: &RuleSet, as_of: NaiveDate) -> Vec<EntryReport> {
    let facts = build_facts(input);
    let roster = build_roster(input);
    let cutoffs: Vec<(String, NaiveDate)> = input
        .tables
        .iter()
        .filter(|t| t.department != "minzheng")
        .map(|t| (t.qualified(), t.extract_date))
        .collect();
    roster
        .applications
        .values()
        .map(|a| entry_report(a, &roster, &facts, rules, as_of, &cutoffs))
        .collect()
}

/// The report of one application.
pub fn entry_report(
    a: &Application,
    roster: &Roster,
    facts: &Facts,
    rules: &RuleSet,
    as_of: NaiveDate,
    cutoffs: &[(String, NaiveDate)],
) -> EntryReport {
    let codes = Codes::builtin();
    let masked = |raw: &str| {
        parse_id(raw)
            .normalized
            .as_deref()
            .map_or_else(|| mask_id(raw.trim()), mask_id)
    };
    let signatures = a
        .auth_no
        .as_ref()
        .and_then(|n| roster.signatures.get(n))
        .map_or(&[][..], Vec::as_slice);
    let gate: Vec<GateProblem> = a
        .members
        .iter()
        .filter_map(|m| {
            authorisation_gap(m, signatures, ENTRY_SCOPE, as_of).map(|reason| GateProblem {
                member_id: m.member_id.clone(),
                name_masked: hedui_identity::name::mask_name(&m.name),
                id_masked: masked(&m.id_number),
                reason,
            })
        })
        .collect();
    let mut report = EntryReport {
        report_no: format!("HD-{}-{}", as_of.format("%Y%m%d"), a.application_id),
        application_id: a.application_id.clone(),
        programme: a.programme.clone(),
        programme_zh: programme_label_zh(&a.programme).to_owned(),
        urban_rural: if a.urban { "城市" } else { "农村" }.to_owned(),
        county_code: a.county_code.clone(),
        township_code: a.township_code.clone(),
        address: village_address(&a.township_code, &a.village),
        auth_no: a.auth_no.clone(),
        applied: a.applied,
        as_of,
        cutoffs: cutoffs.to_vec(),
        checked: false,
        status_zh: String::new(),
        gate,
        members: Vec::new(),
        declared_income: a.declared_income,
        indicators: None,
        results: Vec::new(),
        conclusion_zh: String::new(),
        rules_version: rules.version.clone(),
    };
    if a.members.is_empty() {
        report.status_zh = "申请未列出家庭成员，未核对".to_owned();
        report.conclusion_zh = "申请未列出家庭成员，无法核对，请补充成员信息。".to_owned();
        return report;
    }
    if !report.gate.is_empty() {
        report.status_zh = "授权不完整，未核对".to_owned();
        report.conclusion_zh = format!(
            "{}名家庭成员未被核对授权书覆盖，依法不得查询其信息；请补签授权后重新发起核对。",
            report.gate.len()
        );
        return report;
    }
    report.checked = true;
    report.status_zh = "已核对".to_owned();
    let ind = household_indicators(
        HouseholdView {
            members: &a.members,
            county: &a.county_code,
            urban: a.urban,
        },
        facts,
        rules,
        as_of,
    );
    for m in &a.members {
        let pf = m.person_key().and_then(|k| facts.person(k));
        let found = pf.map(|p| findings(p, &codes)).unwrap_or_default();
        let status = ind
            .members
            .iter()
            .find(|x| x.member_id == m.member_id)
            .map_or_else(|| "正常".to_owned(), |x| x.status.clone());
        let birth = pf.and_then(|p| p.birth_date()).or(m.birth_date);
        report.members.push(ReportMember {
            member_id: m.member_id.clone(),
            name: m.name.clone(),
            id_masked: masked(&m.id_number),
            relation: m
                .relation
                .as_deref()
                .map_or_else(String::new, |r| codes.label("relation", r)),
            age: birth.map(|b| {
                let mut y = as_of.year() - b.year();
                if (as_of.month(), as_of.day()) < (b.month(), b.day()) {
                    y -= 1;
                }
                y
            }),
            identity: m.link.as_ref().map_or_else(
                || "户籍查无此人".to_owned(),
                |l| {
                    if l.kind.needs_confirmation() {
                        format!("{}（匹配概率{:.2}）", l.kind.label_zh(), l.probability)
                    } else {
                        l.kind.label_zh().to_owned()
                    }
                },
            ),
            status,
            findings: FACT_DATASETS
                .iter()
                .map(|(d, s)| {
                    let q = format!("{d}/{s}");
                    SourceFinding {
                        department: department_label_zh(d).to_owned(),
                        dataset: dataset_label_zh(s).to_owned(),
                        delivered: facts.has(&q),
                        rows: found
                            .iter()
                            .find(|(k, _)| *k == q)
                            .map(|(_, r)| r.clone())
                            .unwrap_or_default(),
                        qualified: q,
                    }
                })
                .collect(),
        });
    }
    report.results = evaluate(
        rules,
        &a.programme,
        Place {
            county: &a.county_code,
            urban: a.urban,
            date: as_of,
        },
        &|n| ind.quantity(n),
    );
    let fails = report
        .results
        .iter()
        .filter(|r| r.outcome == Outcome::Fail)
        .count();
    let verifies = report
        .results
        .iter()
        .filter(|r| r.outcome == Outcome::Verify)
        .count();
    report.conclusion_zh = if fails > 0 {
        format!("核对发现{fails}项不符合、{verifies}项需核实，请结合入户调查作出审核意见。")
    } else if verifies > 0 {
        format!("未发现不符合项；{verifies}项需核实，请入户调查后作出审核意见。")
    } else {
        "各项核对结果均符合。".to_owned()
    };
    report.indicators = Some(ind);
    report
}
