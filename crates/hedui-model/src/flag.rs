//! Flags: what verification hands to casework (DOMAIN.md §6.2, §7).
//!
//! This is the contract between `hedui-verify` (which raises flags), `hedui-store` (which keeps
//! them with their decisions) and `hedui-web` (which shows them). A flag is serialised as one JSON
//! object; a run's flags are written as JSON lines (`flags.jsonl`) in the run directory.
//!
//! Identity of a flag: [`flag_id`] is derived from (case, flag type, evidence keys) so the same
//! evidence never raises a second flag, whichever night it is seen again.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// Flag severity (DOMAIN.md §7 "Severity suggestion").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// 提示: information, positive flags, data-quality flags.
    Info,
    /// 中: income and property flags.
    Medium,
    /// 高: act before the next payment run.
    High,
}

impl Severity {
    /// The caseworker-facing label.
    pub fn label_zh(self) -> &'static str {
        match self {
            Severity::Info => "提示",
            Severity::Medium => "中",
            Severity::High => "高",
        }
    }
}

/// How a department record was tied to the household member (DOMAIN.md §6.2 "Match quality").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MatchKind {
    /// The delivered ID number equals the member's, as delivered.
    ExactId,
    /// Equal after normalisation (lower-case x, full-width digits, separators, quotes).
    IdNormalized,
    /// A 15-digit number upgraded to 18 digits.
    Id15Upgraded,
    /// Linked by the probabilistic model (name, birth date, address …); shown as 待确认身份.
    Fuzzy,
}

impl MatchKind {
    /// The caseworker-facing label.
    pub fn label_zh(self) -> &'static str {
        match self {
            MatchKind::ExactId => "身份证号一致",
            MatchKind::IdNormalized => "身份证号规范化后一致",
            MatchKind::Id15Upgraded => "15位身份证号升位后一致",
            MatchKind::Fuzzy => "待确认身份",
        }
    }

    /// Whether a caseworker must confirm the identity before acting.
    pub fn needs_confirmation(self) -> bool {
        matches!(self, MatchKind::Fuzzy)
    }
}

/// The identity link of one evidence record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdentityMatch {
    /// How the record was tied to the member.
    pub kind: MatchKind,
    /// Match probability of the link (1.0 for ID-based links).
    pub probability: f64,
    /// Match weight (log2 Bayes factor) of the link, when the model scored it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_weight: Option<f64>,
    /// Per-comparison contributions (comparison name, level label, weight): the waterfall.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub explanation: Vec<WeightContribution>,
}

/// One bar of the identity-match waterfall.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeightContribution {
    /// Comparison name (`id_number`, `name`, `birth_date` …).
    pub comparison: String,
    /// The level the pair fell in, e.g. `exact`, `one_substitution`.
    pub level: String,
    /// The log2 Bayes factor this comparison contributed.
    pub weight: f64,
}

/// One department record cited by a flag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// Department code: `gongan`, `weijian`, `renshe`, `zhujian`, `minzheng`.
    pub department: String,
    /// Dataset name within the department, e.g. `population`, `contributions`.
    pub dataset: String,
    /// The record's key in the source (`_source_record_id`).
    pub record_id: String,
    /// The household member the record belongs to (the roster member's id).
    pub member_id: String,
    /// The date the event happened (death date, registration date, first paid month …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_date: Option<NaiveDate>,
    /// The date of the extract (batch) the record arrived in.
    pub extract_date: NaiveDate,
    /// Key values as the caseworker should read them: (Chinese label, value). Never contains a
    /// full ID number; health details are marked by `sensitive`.
    pub values: Vec<(String, String)>,
    /// True when `values` holds health or financial detail shown only to roles that need it.
    #[serde(default)]
    pub sensitive: bool,
    /// How the record was tied to the member.
    pub identity: IdentityMatch,
}

/// The subject of a flag: the case and household as casework knows them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subject {
    /// Case id in the roster.
    pub case_id: String,
    /// Programme code: `dibao`, `tekun`, `dishouru`, `linshi` (see [`programme_label_zh`]).
    pub programme: String,
    /// Region code of the case's county (6 digits) — the jurisdiction used for access scope.
    pub county_code: String,
    /// Region code of the case's township (9 digits).
    pub township_code: String,
    /// Head of household, name masked (`王*明`).
    pub head_name_masked: String,
    /// Head of household, ID masked (first 6 + last 4).
    pub head_id_masked: String,
    /// Address to village/community level only.
    pub address: String,
    /// Household size (co-living members on the roster).
    pub household_size: u32,
    /// Monthly benefit currently paid, yuan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monthly_benefit: Option<f64>,
    /// The member the flag is about, when it is about one (roster member id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_id: Option<String>,
    /// That member's name, masked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_name_masked: Option<String>,
}

/// A change flag for a household (DOMAIN.md §6.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flag {
    /// Stable id: see [`flag_id`].
    pub flag_id: String,
    /// Catalogue code, e.g. `DYN-DEATH`, `INC-NEW-JOB` (DOMAIN.md §7).
    pub flag_type: String,
    /// Severity.
    pub severity: Severity,
    /// The run that first raised it.
    pub run_id: String,
    /// The as-of date of the check that raised it.
    pub as_of: NaiveDate,
    /// Who and what it is about.
    pub subject: Subject,
    /// One-line reason in Simplified Chinese, e.g. "成员王*明已于2021-08-14死亡（公安注销、卫健死亡证明）".
    pub reason_zh: String,
    /// The rule that raised it (id in the rule set) and the rule set's version.
    pub rule_id: String,
    /// Version (content hash or date) of the rule set and standards used.
    pub rules_version: String,
    /// Computed impact in Simplified Chinese, e.g. "家庭人数3→2；人均收入380→570元，标准650元".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impact_zh: Option<String>,
    /// Suggested action in Simplified Chinese, e.g. "减员 + 调整金额".
    pub suggested_action_zh: String,
    /// Respond-by date.
    pub deadline: NaiveDate,
    /// The evidence rows.
    pub evidence: Vec<Evidence>,
}

impl Flag {
    /// Whether any evidence link needs the caseworker to confirm the identity (待确认身份).
    pub fn needs_identity_confirmation(&self) -> bool {
        self.evidence
            .iter()
            .any(|e| e.identity.kind.needs_confirmation())
    }
}

/// A roster case as the store keeps it for scoping and for the household page. The full ID
/// numbers are here because a caseworker may reveal one (an audited action); every display
/// masks them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseRecord {
    /// Case id in the roster.
    pub case_id: String,
    /// Programme code (`dibao`, `tekun`, `dishouru`, `linshi`).
    pub programme: String,
    /// Case status as the roster gives it (e.g. 在保, 申请中).
    pub status: String,
    /// County region code (6 digits): the jurisdiction for access scope.
    pub county_code: String,
    /// Township region code (9 digits).
    pub township_code: String,
    /// Address to village/community level.
    pub address: String,
    /// Monthly benefit currently paid, yuan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monthly_benefit: Option<f64>,
    /// Next periodic-review date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_review: Option<NaiveDate>,
    /// Household members.
    pub members: Vec<CaseMember>,
}

/// A member of a roster case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseMember {
    /// Member id in the roster.
    pub member_id: String,
    /// Name as on the roster.
    pub name: String,
    /// ID number as on the roster (never displayed unmasked without an audited reveal).
    pub id_number: String,
    /// Relation to the applicant (申请人, 配偶, 子女 …).
    pub relation: String,
    /// The person the member is linked to in the person index, when linked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person_key: Option<String>,
}

/// A record pair whose identity link is uncertain, queued for clerical review by an analyst.
/// The decision (same person / not the same person) comes back as a training label and as a
/// must-link / cannot-link constraint for the next run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkReview {
    /// Stable id: a hash of the two record keys (order-independent).
    pub review_id: String,
    /// The run that queued it.
    pub run_id: String,
    /// `department/dataset/record_id` of one record.
    pub left_key: String,
    /// `department/dataset/record_id` of the other (usually the 公安 register record).
    pub right_key: String,
    /// The case the link matters to, if any (for scoping).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_id: Option<String>,
    /// County of that case (scope); empty when not tied to a case.
    #[serde(default)]
    pub county_code: String,
    /// Match probability.
    pub probability: f64,
    /// Match weight.
    pub match_weight: f64,
    /// What each comparison contributed.
    pub explanation: Vec<WeightContribution>,
    /// The two records' identity fields for display, already masked: (Chinese label, left, right).
    pub fields: Vec<(String, String, String)>,
}

/// The stable id of a flag: 16 hex digits of a 64-bit FNV-1a hash over the case id, the flag type
/// and the sorted evidence keys (`department/dataset/record_id`). Same evidence, same id.
pub fn flag_id(case_id: &str, flag_type: &str, evidence_keys: &[String]) -> String {
    let mut keys: Vec<&str> = evidence_keys.iter().map(String::as_str).collect();
    keys.sort_unstable();
    keys.dedup();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        // A separator byte that cannot occur in UTF-8 keeps ("ab","c") apart from ("a","bc").
        h ^= 0xff;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    };
    feed(case_id.as_bytes());
    feed(flag_type.as_bytes());
    for k in keys {
        feed(k.as_bytes());
    }
    format!("{h:016x}")
}

/// Caseworker-facing programme names.
pub fn programme_label_zh(code: &str) -> &str {
    match code {
        "dibao" => "最低生活保障",
        "tekun" => "特困人员救助供养",
        "dishouru" => "低收入家庭",
        "linshi" => "临时救助",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_id_ignores_evidence_order_and_duplicates() {
        let a = flag_id(
            "DB4213030001",
            "DYN-DEATH",
            &["gongan/population/GA1".into(), "weijian/deaths/SW2".into()],
        );
        let b = flag_id(
            "DB4213030001",
            "DYN-DEATH",
            &[
                "weijian/deaths/SW2".into(),
                "gongan/population/GA1".into(),
                "weijian/deaths/SW2".into(),
            ],
        );
        assert_eq!(a, b);
        assert_ne!(
            a,
            flag_id(
                "DB4213030001",
                "DYN-MIGRATE-OUT",
                &["gongan/population/GA1".into()]
            )
        );
        assert_ne!(flag_id("a", "bc", &[]), flag_id("ab", "c", &[]));
    }
}
