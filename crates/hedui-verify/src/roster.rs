//! The assistance roster (cases and members), pending applications and authorisation
//! signatures, read from the 民政 tables of the input.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use hedui_identity::id::parse_id;
use serde::{Deserialize, Serialize};

use crate::facts::{Codes, FactIssue, parse_amount, parse_day};
use crate::input::{CheckInput, RecordLink, SourceRecord, TableReader};

/// A household member as the roster or an application lists them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    /// Member id.
    pub member_id: String,
    /// Name as listed.
    pub name: String,
    /// ID number as listed (never displayed unmasked).
    pub id_number: String,
    /// Relation code.
    pub relation: Option<String>,
    /// Birth date as listed.
    pub birth_date: Option<NaiveDate>,
    /// Counted as a co-living member (是否共同生活成员; applications: always).
    pub counted: bool,
    /// The member's person, when linked.
    pub link: Option<RecordLink>,
    /// Not on the roster: a minor child in a listed member's 户 of the 公安 register, counted
    /// as co-living (DOMAIN.md §3.1, §4.4; see [`crate::household`]).
    #[serde(default)]
    pub from_register: bool,
}

impl Member {
    /// The person key, when linked.
    pub fn person_key(&self) -> Option<&str> {
        self.link.as_ref().map(|l| l.person_key.as_str())
    }
}

/// A roster case (a household receiving assistance).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Case {
    /// Case id.
    pub case_id: String,
    /// Programme (`dibao`, `tekun`, `dishouru`, `linshi`).
    pub programme: String,
    /// Urban (城镇) category.
    pub urban: bool,
    /// County code.
    pub county_code: String,
    /// Township code.
    pub township_code: String,
    /// Village or community.
    pub village: String,
    /// Head's name.
    pub head_name: String,
    /// Head's ID number.
    pub head_id_number: String,
    /// Declared monthly income.
    pub declared_income: Option<f64>,
    /// Monthly benefit.
    pub benefit: Option<f64>,
    /// Approval date.
    pub approved: Option<NaiveDate>,
    /// Review class A/B/C.
    pub review_class: Option<String>,
    /// Last full check.
    pub last_check: Option<NaiveDate>,
    /// Next periodic check.
    pub next_due: Option<NaiveDate>,
    /// Status code (1 在保, 2 停保, 3 审核中).
    pub status: String,
    /// Authorisation number.
    pub auth_no: Option<String>,
    /// Members.
    pub members: Vec<Member>,
}

impl Case {
    /// Currently receiving (在保).
    pub fn active(&self) -> bool {
        self.status == "1"
    }
}

/// A pending application.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Application {
    /// Application id.
    pub application_id: String,
    /// Programme applied for.
    pub programme: String,
    /// Urban category.
    pub urban: bool,
    /// County code.
    pub county_code: String,
    /// Township code.
    pub township_code: String,
    /// Village.
    pub village: String,
    /// Applicant's name.
    pub applicant_name: String,
    /// Applicant's ID number.
    pub applicant_id_number: String,
    /// Declared monthly income.
    pub declared_income: Option<f64>,
    /// Application date.
    pub applied: Option<NaiveDate>,
    /// Authorisation number.
    pub auth_no: Option<String>,
    /// Status code.
    pub status: String,
    /// Members listed on the application.
    pub members: Vec<Member>,
}

/// One signer of an authorisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signature {
    /// Signature id.
    pub signature_id: String,
    /// Authorisation number.
    pub auth_no: String,
    /// The case or application it was signed for.
    pub business_id: Option<String>,
    /// Signer's name.
    pub signer_name: String,
    /// Signer's ID number.
    pub signer_id_number: String,
    /// Signed by a guardian.
    pub by_guardian: bool,
    /// Signing date.
    pub signed_date: Option<NaiveDate>,
    /// Valid until.
    pub valid_until: Option<NaiveDate>,
    /// Scope codes (HJ, SB, GJJ, BDC, CL, YL).
    pub scope: Vec<String>,
    /// Revocation date.
    pub revoked: Option<NaiveDate>,
    /// The signer's person, when linked.
    pub link: Option<RecordLink>,
}

/// The roster with its diagnostics.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Roster {
    /// Cases by id.
    pub cases: BTreeMap<String, Case>,
    /// Applications by id.
    pub applications: BTreeMap<String, Application>,
    /// Signatures by authorisation number.
    pub signatures: BTreeMap<String, Vec<Signature>>,
    /// Rows that could not be used, with the reason.
    pub issues: Vec<FactIssue>,
}

/// Programme code (`DB`/`低保` …) to the programme name used in flags.
pub fn programme_of(codes: &Codes, raw: &str) -> String {
    match codes.code("programme", raw).as_str() {
        "DB" => "dibao".to_owned(),
        "TK" => "tekun".to_owned(),
        "DSR" => "dishouru".to_owned(),
        "LS" => "linshi".to_owned(),
        other => other.to_lowercase(),
    }
}

fn link_of(r: &SourceRecord, column: &str) -> Option<RecordLink> {
    r.links
        .iter()
        .find(|l| l.column == column)
        .or_else(|| r.links.first())
        .map(|l| l.link.clone())
}

fn member_from(
    rd: &TableReader<'_>,
    r: &SourceRecord,
    reference: NaiveDate,
    codes: &Codes,
    counted_column: bool,
) -> Member {
    let counted = if counted_column {
        rd.by_name(r, "counted")
            .is_none_or(|v| !matches!(v, "否" | "0" | "N" | "n" | "false"))
    } else {
        true
    };
    Member {
        member_id: rd.key(r).to_owned(),
        name: rd.by_name(r, "name").unwrap_or("").to_owned(),
        id_number: rd.by_name(r, "id_number").unwrap_or("").to_owned(),
        relation: rd.by_name(r, "relation").map(|v| codes.code("relation", v)),
        birth_date: rd
            .by_name(r, "birth_date")
            .and_then(|v| parse_day(v, reference)),
        counted,
        link: link_of(r, "id_number"),
        from_register: false,
    }
}

/// Reads the roster, applications and signatures from the 民政 tables.
pub fn build_roster(input: &CheckInput) -> Roster {
    let codes = Codes::builtin();
    let mut roster = Roster::default();
    if let Some(t) = input.table("minzheng", "cases") {
        let rd = t.reader();
        for r in &t.records {
            let id = rd.key(r).to_owned();
            if id.is_empty() {
                roster.issues.push(FactIssue {
                    record: "minzheng/cases/".into(),
                    column: "case_id".into(),
                    reason: "家庭编号为空".into(),
                });
                continue;
            }
            let d = |c: &str| rd.by_name(r, c).and_then(|v| parse_day(v, t.extract_date));
            let case = Case {
                case_id: id.clone(),
                programme: programme_of(&codes, rd.by_name(r, "programme").unwrap_or("")),
                urban: rd
                    .by_name(r, "urban_rural")
                    .is_some_and(|v| codes.code("urban_rural", v) == "1"),
                county_code: rd.by_name(r, "county_code").unwrap_or("").to_owned(),
                township_code: rd.by_name(r, "township_code").unwrap_or("").to_owned(),
                village: rd.by_name(r, "village").unwrap_or("").to_owned(),
                head_name: rd.by_name(r, "head_name").unwrap_or("").to_owned(),
                head_id_number: rd.by_name(r, "head_id_number").unwrap_or("").to_owned(),
                declared_income: rd.by_name(r, "declared_income").and_then(parse_amount),
                benefit: rd.by_name(r, "benefit_amount").and_then(parse_amount),
                approved: d("approved_date"),
                review_class: rd.by_name(r, "review_class").map(str::to_owned),
                last_check: d("last_check_date"),
                next_due: d("next_due_date"),
                status: rd
                    .by_name(r, "status")
                    .map_or_else(|| "1".to_owned(), |v| codes.code("case_status", v)),
                auth_no: rd.by_name(r, "auth_no").map(str::to_owned),
                members: Vec::new(),
            };
            if roster.cases.insert(id.clone(), case).is_some() {
                roster.issues.push(FactIssue {
                    record: format!("minzheng/cases/{id}"),
                    column: "case_id".into(),
                    reason: "家庭编号重复，以最后一行为准".into(),
                });
            }
        }
    }
    if let Some(t) = input.table("minzheng", "members") {
        let rd = t.reader();
        for r in &t.records {
            let case_id = rd.by_name(r, "case_id").unwrap_or("");
            let m = member_from(&rd, r, t.extract_date, &codes, true);
            match roster.cases.get_mut(case_id) {
                Some(c) => c.members.push(m),
                None => roster.issues.push(FactIssue {
                    record: format!("minzheng/members/{}", m.member_id),
                    column: "case_id".into(),
                    reason: format!("成员所属家庭{case_id}不在救助对象名单中"),
                }),
            }
        }
    }
    if let Some(t) = input.table("minzheng", "applications") {
        let rd = t.reader();
        for r in &t.records {
            let id = rd.key(r).to_owned();
            if id.is_empty() {
                continue;
            }
            let a = Application {
                application_id: id.clone(),
                programme: programme_of(&codes, rd.by_name(r, "programme").unwrap_or("")),
                urban: rd
                    .by_name(r, "urban_rural")
                    .is_some_and(|v| codes.code("urban_rural", v) == "1"),
                county_code: rd.by_name(r, "county_code").unwrap_or("").to_owned(),
                township_code: rd.by_name(r, "township_code").unwrap_or("").to_owned(),
                village: rd.by_name(r, "village").unwrap_or("").to_owned(),
                applicant_name: rd.by_name(r, "applicant_name").unwrap_or("").to_owned(),
                applicant_id_number: rd
                    .by_name(r, "applicant_id_number")
                    .unwrap_or("")
                    .to_owned(),
                declared_income: rd.by_name(r, "declared_income").and_then(parse_amount),
                applied: rd
                    .by_name(r, "applied_date")
                    .and_then(|v| parse_day(v, t.extract_date)),
                auth_no: rd.by_name(r, "auth_no").map(str::to_owned),
                status: rd
                    .by_name(r, "status")
                    .map_or_else(|| "1".to_owned(), |v| codes.code("application_status", v)),
                members: Vec::new(),
            };
            roster.applications.insert(id, a);
        }
    }
    if let Some(t) = input.table("minzheng", "application_members") {
        let rd = t.reader();
        for r in &t.records {
            let app = rd.by_name(r, "application_id").unwrap_or("");
            let m = member_from(&rd, r, t.extract_date, &codes, false);
            match roster.applications.get_mut(app) {
                Some(a) => a.members.push(m),
                None => roster.issues.push(FactIssue {
                    record: format!("minzheng/application_members/{}", m.member_id),
                    column: "application_id".into(),
                    reason: format!("成员所属申请{app}不存在"),
                }),
            }
        }
    }
    if let Some(t) = input.table("minzheng", "authorizations") {
        let rd = t.reader();
        for r in &t.records {
            let auth_no = rd.by_name(r, "auth_no").unwrap_or("").to_owned();
            let s = Signature {
                signature_id: rd.key(r).to_owned(),
                auth_no: auth_no.clone(),
                business_id: rd.by_name(r, "business_id").map(str::to_owned),
                signer_name: rd.by_name(r, "signer_name").unwrap_or("").to_owned(),
                signer_id_number: rd.by_name(r, "signer_id_number").unwrap_or("").to_owned(),
                by_guardian: rd
                    .by_name(r, "by_guardian")
                    .is_some_and(|v| matches!(v, "是" | "1" | "Y" | "y" | "true")),
                signed_date: rd
                    .by_name(r, "signed_date")
                    .and_then(|v| parse_day(v, t.extract_date)),
                valid_until: rd
                    .by_name(r, "valid_until")
                    .and_then(|v| parse_day(v, t.extract_date)),
                scope: rd
                    .by_name(r, "scope")
                    .map(|v| {
                        v.split([',', '，', ';', '、', ' '])
                            .map(str::trim)
                            .filter(|s| !s.is_empty())
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default(),
                revoked: rd
                    .by_name(r, "revoked_date")
                    .and_then(|v| parse_day(v, t.extract_date)),
                link: link_of(r, "signer_id_number"),
            };
            roster.signatures.entry(auth_no).or_default().push(s);
        }
    }
    roster
}

/// Why a member is not covered by the authorisation, if not.
pub fn authorisation_gap(
    member: &Member,
    signatures: &[Signature],
    required_scope: &[&str],
    on: NaiveDate,
) -> Option<String> {
    let norm = |s: &str| parse_id(s).normalized.filter(|_| !s.trim().is_empty());
    let member_id = norm(&member.id_number);
    let signed = signatures.iter().find(|s| {
        let same_person = match (member.person_key(), s.link.as_ref()) {
            (Some(a), Some(b)) => a == b.person_key,
            _ => false,
        };
        same_person || (member_id.is_some() && norm(&s.signer_id_number) == member_id)
    });
    let Some(s) = signed else {
        return Some("未签署核对授权书".to_owned());
    };
    if s.revoked.is_some_and(|r| r <= on) {
        return Some("核对授权已撤销".to_owned());
    }
    if s.valid_until.is_some_and(|v| v < on) {
        return Some("核对授权已过期".to_owned());
    }
    if s.signed_date.is_some_and(|d| d > on) {
        return Some("授权签署日期晚于核对日期".to_owned());
    }
    let missing: Vec<&str> = required_scope
        .iter()
        .copied()
        .filter(|c| !s.scope.iter().any(|x| x == c))
        .collect();
    if !s.scope.is_empty() && !missing.is_empty() {
        let codes = Codes::builtin();
        let labels: Vec<String> = missing
            .iter()
            .map(|c| codes.label("auth_scope", c))
            .collect();
        return Some(format!("授权范围未包含：{}", labels.join("、")));
    }
    None
}
