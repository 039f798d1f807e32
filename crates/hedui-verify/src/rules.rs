//! The rule set (`pipelines/rules.toml`): time-versioned standards per region and urban/rural,
//! the rules with their conditions, results, severities and cited evidence, and the settings of
//! the event flags. Parsed from text the caller passes (this crate reads no files) and
//! validated with every problem reported at once.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use hedui_model::flag::Severity;
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::indicators::{INDICATORS, Quantity};

/// The result of a rule for one household (DOMAIN.md §1.5 item 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Outcome {
    /// 符合: the condition that would disqualify does not hold.
    #[serde(rename = "符合")]
    Pass,
    /// 需核实: needs field verification (or the data to decide is missing).
    #[serde(rename = "需核实")]
    Verify,
    /// 不符合.
    #[serde(rename = "不符合")]
    Fail,
}

impl Outcome {
    /// The caseworker-facing label.
    pub fn label_zh(self) -> &'static str {
        match self {
            Outcome::Pass => "符合",
            Outcome::Verify => "需核实",
            Outcome::Fail => "不符合",
        }
    }

    fn parse(s: &str) -> Option<Outcome> {
        match s {
            "符合" => Some(Outcome::Pass),
            "需核实" => Some(Outcome::Verify),
            "不符合" => Some(Outcome::Fail),
            _ => None,
        }
    }
}

/// One time-versioned standard value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StandardRow {
    /// Parameter name, e.g. `dibao_monthly`.
    pub name: String,
    /// County code (6 digits) or `*` for every region.
    #[serde(default = "star")]
    pub region: String,
    /// `urban`, `rural` or `*`.
    #[serde(default = "star")]
    pub urban_rural: String,
    /// First day the value applies (a TOML date, `2021-01-01`, or a string).
    #[serde(deserialize_with = "de_date")]
    pub valid_from: NaiveDate,
    /// The value.
    pub value: f64,
    /// `[EST]`: an estimated number to be confirmed with the customer.
    #[serde(default)]
    pub estimated: bool,
    /// Where the value comes from.
    #[serde(default)]
    pub source: String,
}

fn de_date<'de, D: serde::Deserializer<'de>>(d: D) -> Result<NaiveDate, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Toml(toml::value::Datetime),
        Text(String),
    }
    let text = match Raw::deserialize(d)? {
        Raw::Toml(dt) => dt.to_string(),
        Raw::Text(s) => s,
    };
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|e| serde::de::Error::custom(format!("valid_from {text:?}: {e}")))
}

fn star() -> String {
    "*".to_owned()
}

/// A threshold: a standard (times a factor) or a number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// Indicator name (see [`INDICATORS`]).
    pub indicator: String,
    /// `>=`, `>`, `<=`, `<`, `==`.
    pub op: String,
    /// A standard's name.
    #[serde(default)]
    pub standard: Option<String>,
    /// A number (when no standard is named).
    #[serde(default)]
    pub value: Option<f64>,
    /// Multiplier of the standard (or a standard naming the multiplier, e.g.
    /// `low_income_multiplier`).
    #[serde(default)]
    pub factor: Option<f64>,
    /// A standard whose value multiplies the threshold.
    #[serde(default)]
    pub factor_standard: Option<String>,
}

/// A rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Rule id (`INC-01`, `PROP-HOUSE-COUNT` …).
    pub id: String,
    /// Caseworker-facing title.
    pub title: String,
    /// Programmes it applies to (`dibao`, `tekun`, `dishouru`, `linshi`, or `*`).
    pub programmes: Vec<String>,
    /// The condition under which `result` is given.
    #[serde(flatten)]
    pub when: Condition,
    /// An exception: when it holds, the rule gives 符合 after all.
    #[serde(default)]
    pub unless: Option<Condition>,
    /// The result when the condition holds (`不符合` or `需核实`).
    pub result: String,
    /// `high`, `medium`, `info`.
    pub severity: String,
    /// Datasets (`department/dataset`) the rule cites as evidence.
    pub evidence: Vec<String>,
    /// Flag type raised in periodic checks when the result newly becomes non-符合.
    #[serde(default)]
    pub flag: Option<String>,
    /// Suggested action (Chinese).
    #[serde(default)]
    pub action: String,
}

/// Settings of one event flag type (DOMAIN.md §7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlagSetting {
    /// Flag type.
    #[serde(rename = "type")]
    pub flag_type: String,
    /// `high`, `medium`, `info`.
    pub severity: String,
    /// Respond-by, in calendar days after the check.
    pub deadline_days: u32,
    /// Suggested action (Chinese).
    pub action: String,
    /// Whether the flag is raised at all.
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

/// General settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Months of reporting lag allowed before a contribution or deposit stops counting as
    /// current.
    #[serde(default = "one")]
    pub activity_lag_months: i32,
    /// Consecutive contribution months before a new job is flagged (INC-NEW-JOB).
    #[serde(default = "two")]
    pub new_job_min_months: u32,
    /// 号牌种类 codes exempt from the vehicle rule (motorcycles, low-speed vehicles).
    #[serde(default)]
    pub vehicle_exempt_plate_types: Vec<String>,
    /// 规划用途 codes counted as non-residential property.
    #[serde(default)]
    pub nonresidential_uses: Vec<String>,
    /// Days before `next_due_date` a periodic review is listed as due.
    #[serde(default = "thirty")]
    pub review_notice_days: u32,
    /// Days of hospital stays counted in the medical burden.
    #[serde(default = "year")]
    pub medical_window_days: u32,
    /// Window (months) for "recent purchase" before an application.
    #[serde(default = "twelve")]
    pub recent_purchase_months: i32,
}

fn one() -> i32 {
    1
}
fn two() -> u32 {
    2
}
fn thirty() -> u32 {
    30
}
fn year() -> u32 {
    365
}
fn twelve() -> i32 {
    12
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    version: String,
    settings: Settings,
    #[serde(default)]
    standard: Vec<StandardRow>,
    #[serde(default)]
    rule: Vec<Rule>,
    #[serde(default)]
    flag: Vec<FlagSetting>,
}

/// A validated rule set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleSet {
    /// Version: the file's `version` plus a content hash.
    pub version: String,
    /// Settings.
    pub settings: Settings,
    /// Standards.
    pub standards: Vec<StandardRow>,
    /// Rules, in file order.
    pub rules: Vec<Rule>,
    /// Event flag settings by type.
    pub flags: BTreeMap<String, FlagSetting>,
}

/// The standard values needed everywhere; each must be defined.
pub const REQUIRED_STANDARDS: &[&str] = &[
    "dibao_monthly",
    "min_wage_monthly",
    "si_base_floor",
    "employment_cost_rate",
    "medical_oop_floor",
    "medical_oop_income_share",
];

/// Programme codes.
pub const PROGRAMMES: &[&str] = &["dibao", "tekun", "dishouru", "linshi"];

/// Event flag types raised by change detection (DOMAIN.md §7).
pub const EVENT_FLAGS: &[&str] = &[
    "DYN-DEATH",
    "DYN-MIGRATE-OUT",
    "DYN-NEWBORN",
    "INC-NEW-JOB",
    "INC-PENSION-START",
    "INC-UNEMP",
    "PERS-PUBLIC-PAYROLL",
    "PROP-HOUSE-NEW",
    "PROP-VEHICLE",
    "ID-NOT-FOUND",
    "DUP-PROGRAM",
];

fn severity(s: &str) -> Option<Severity> {
    match s {
        "high" => Some(Severity::High),
        "medium" => Some(Severity::Medium),
        "info" => Some(Severity::Info),
        _ => None,
    }
}

impl RuleSet {
    /// Parses and validates a rule file; every problem is reported at once.
    ///
    /// # Errors
    ///
    /// [`Error::RuleSet`] listing all problems (the user's fault: the file).
    pub fn parse(text: &str) -> Result<RuleSet, Error> {
        let file: RuleFile = toml::from_str(text).map_err(|e| Error::RuleSet {
            problems: vec![e.to_string()],
        })?;
        let mut problems = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for s in &file.standard {
            if !seen.insert((&s.name, &s.region, &s.urban_rural, s.valid_from)) {
                problems.push(format!(
                    "standard {} ({}, {}, {}) is defined twice",
                    s.name, s.region, s.urban_rural, s.valid_from
                ));
            }
            if !matches!(s.urban_rural.as_str(), "urban" | "rural" | "*") {
                problems.push(format!(
                    "standard {}: urban_rural must be urban, rural or *, not {:?}",
                    s.name, s.urban_rural
                ));
            }
            if s.region != "*"
                && (s.region.len() != 6 || !s.region.bytes().all(|b| b.is_ascii_digit()))
            {
                problems.push(format!(
                    "standard {}: region must be a 6-digit county code or *, not {:?}",
                    s.name, s.region
                ));
            }
            if !s.value.is_finite() || s.value < 0.0 {
                problems.push(format!(
                    "standard {}: value must be a non-negative number",
                    s.name
                ));
            }
        }
        for name in REQUIRED_STANDARDS {
            if !file.standard.iter().any(|s| s.name == *name) {
                problems.push(format!("standard {name} is required but not defined"));
            }
        }
        let mut ids = std::collections::BTreeSet::new();
        for r in &file.rule {
            if !ids.insert(&r.id) {
                problems.push(format!("rule {} is defined twice", r.id));
            }
            if r.programmes.is_empty() {
                problems.push(format!("rule {}: programmes is empty", r.id));
            }
            for p in &r.programmes {
                if p != "*" && !PROGRAMMES.contains(&p.as_str()) {
                    problems.push(format!("rule {}: unknown programme {p:?}", r.id));
                }
            }
            match Outcome::parse(&r.result) {
                Some(Outcome::Fail | Outcome::Verify) => {}
                _ => problems.push(format!(
                    "rule {}: result must be 不符合 or 需核实, not {:?}",
                    r.id, r.result
                )),
            }
            if severity(&r.severity).is_none() {
                problems.push(format!(
                    "rule {}: severity must be high, medium or info, not {:?}",
                    r.id, r.severity
                ));
            }
            if r.evidence.is_empty() {
                problems.push(format!("rule {}: evidence lists no dataset", r.id));
            }
            for c in std::iter::once(&r.when).chain(r.unless.as_ref()) {
                check_condition(&r.id, c, &file.standard, &mut problems);
            }
        }
        let mut flags = BTreeMap::new();
        for f in &file.flag {
            if severity(&f.severity).is_none() {
                problems.push(format!(
                    "flag {}: severity must be high, medium or info",
                    f.flag_type
                ));
            }
            if flags.insert(f.flag_type.clone(), f.clone()).is_some() {
                problems.push(format!("flag {} is configured twice", f.flag_type));
            }
        }
        for t in EVENT_FLAGS {
            if !flags.contains_key(*t) {
                problems.push(format!("flag {t} has no settings ([[flag]] type = {t:?})"));
            }
        }
        for r in &file.rule {
            if let Some(f) = &r.flag
                && !flags.contains_key(f)
            {
                problems.push(format!("rule {}: flag {f} has no [[flag]] settings", r.id));
            }
        }
        if !problems.is_empty() {
            return Err(Error::RuleSet { problems });
        }
        Ok(RuleSet {
            version: format!("{}+{:08x}", file.version, fnv32(text.as_bytes())),
            settings: file.settings,
            standards: file.standard,
            rules: file.rule,
            flags,
        })
    }

    /// The value of standard `name` for a county and urban/rural category on `date`: the most
    /// specific row (exact region over `*`, exact category over `*`) with the latest
    /// `valid_from` not after `date`.
    pub fn standard(
        &self,
        name: &str,
        county: &str,
        urban: bool,
        date: NaiveDate,
    ) -> Option<&StandardRow> {
        let ur = if urban { "urban" } else { "rural" };
        self.standards
            .iter()
            .filter(|s| {
                s.name == name
                    && s.valid_from <= date
                    && (s.region == "*" || s.region == county)
                    && (s.urban_rural == "*" || s.urban_rural == ur)
            })
            .max_by_key(|s| (s.region != "*", s.urban_rural != "*", s.valid_from))
    }

    /// The value of a standard, or 0 when undefined for that place and date (validation makes
    /// the required ones exist; a date before every `valid_from` is reported by [`Self::standard`]).
    pub fn value(&self, name: &str, county: &str, urban: bool, date: NaiveDate) -> Option<f64> {
        self.standard(name, county, urban, date).map(|s| s.value)
    }

    /// Settings of an event flag type.
    pub fn flag(&self, flag_type: &str) -> Option<&FlagSetting> {
        self.flags.get(flag_type).filter(|f| f.enabled)
    }

    /// Severity of a flag type.
    pub fn flag_severity(&self, flag_type: &str) -> Severity {
        self.flags
            .get(flag_type)
            .and_then(|f| severity(&f.severity))
            .unwrap_or(Severity::Medium)
    }
}

fn check_condition(id: &str, c: &Condition, standards: &[StandardRow], problems: &mut Vec<String>) {
    if !INDICATORS.iter().any(|(n, _)| *n == c.indicator) {
        problems.push(format!("rule {id}: unknown indicator {:?}", c.indicator));
    }
    if !matches!(c.op.as_str(), ">=" | ">" | "<=" | "<" | "==") {
        problems.push(format!("rule {id}: unknown operator {:?}", c.op));
    }
    match (&c.standard, c.value) {
        (Some(_), Some(_)) => problems.push(format!(
            "rule {id}: give either standard or value, not both"
        )),
        (None, None) => problems.push(format!(
            "rule {id}: a condition needs a standard or a value"
        )),
        _ => {}
    }
    for s in c.standard.iter().chain(c.factor_standard.iter()) {
        if !standards.iter().any(|x| &x.name == s) {
            problems.push(format!("rule {id}: standard {s} is not defined"));
        }
    }
}

/// One rule's result for one household.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleResult {
    /// Rule id.
    pub rule_id: String,
    /// Title.
    pub title: String,
    /// 符合 / 不符合 / 需核实.
    pub outcome: Outcome,
    /// Why, in Chinese (with the numbers compared).
    pub reason_zh: String,
    /// The indicator value compared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// The threshold it was compared with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// Whether the threshold uses an estimated ([EST]) standard.
    #[serde(default)]
    pub estimated_standard: bool,
    /// True when the rule could not be evaluated because data is missing.
    #[serde(default)]
    pub missing_data: bool,
    /// Evidence keys (`department/dataset/record_id`) cited.
    pub evidence: Vec<String>,
    /// Flag type for periodic change detection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flag: Option<String>,
    /// Severity (`high` …).
    pub severity: String,
}

/// Where a household is, for looking up standards.
#[derive(Debug, Clone, Copy)]
pub struct Place<'a> {
    /// County code.
    pub county: &'a str,
    /// Urban?
    pub urban: bool,
    /// Date.
    pub date: NaiveDate,
}

fn threshold_of(set: &RuleSet, c: &Condition, place: Place<'_>) -> Result<(f64, bool), String> {
    let (base, mut est) = match (&c.standard, c.value) {
        (Some(s), _) => match set.standard(s, place.county, place.urban, place.date) {
            Some(row) => (row.value, row.estimated),
            None => {
                return Err(format!(
                    "标准{s}在{}（{}）{}无有效值",
                    place.county,
                    if place.urban { "城市" } else { "农村" },
                    place.date
                ));
            }
        },
        (None, Some(v)) => (v, false),
        (None, None) => return Err("规则未给出阈值".to_owned()),
    };
    let mut t = base * c.factor.unwrap_or(1.0);
    if let Some(fs) = &c.factor_standard {
        match set.standard(fs, place.county, place.urban, place.date) {
            Some(row) => {
                t *= row.value;
                est |= row.estimated;
            }
            None => return Err(format!("标准{fs}无有效值")),
        }
    }
    Ok((t, est))
}

fn compare(op: &str, a: f64, b: f64) -> bool {
    match op {
        ">=" => a >= b - 1e-9,
        ">" => a > b + 1e-9,
        "<=" => a <= b + 1e-9,
        "<" => a < b - 1e-9,
        "==" => (a - b).abs() <= 1e-9,
        _ => false,
    }
}

fn op_zh(op: &str) -> &'static str {
    match op {
        ">=" => "≥",
        ">" => ">",
        "<=" => "≤",
        "<" => "<",
        _ => "=",
    }
}

/// Evaluates every rule that applies to `programme` on a household's indicators. `quantity`
/// gives each indicator's value, the reason it is unknown, or a caveat.
pub fn evaluate(
    set: &RuleSet,
    programme: &str,
    place: Place<'_>,
    quantity: &dyn Fn(&str) -> Quantity,
) -> Vec<RuleResult> {
    let mut out = Vec::new();
    for rule in &set.rules {
        if !rule.programmes.iter().any(|p| p == "*" || p == programme) {
            continue;
        }
        let q = quantity(&rule.when.indicator);
        let evidence: Vec<String> = q
            .evidence
            .iter()
            .filter(|k| {
                rule.evidence
                    .iter()
                    .any(|d| k.starts_with(&format!("{d}/")))
            })
            .cloned()
            .collect();
        let result_outcome = Outcome::parse(&rule.result).unwrap_or(Outcome::Verify);
        let mut r = RuleResult {
            rule_id: rule.id.clone(),
            title: rule.title.clone(),
            outcome: Outcome::Verify,
            reason_zh: String::new(),
            value: q.value,
            threshold: None,
            estimated_standard: false,
            missing_data: false,
            evidence,
            flag: rule.flag.clone(),
            severity: rule.severity.clone(),
        };
        let (t, est) = match threshold_of(set, &rule.when, place) {
            Ok(x) => x,
            Err(why) => {
                r.missing_data = true;
                r.reason_zh = format!("无法判断：{why}");
                out.push(r);
                continue;
            }
        };
        r.threshold = Some(t);
        r.estimated_standard = est;
        let label = INDICATORS
            .iter()
            .find(|(n, _)| *n == rule.when.indicator)
            .map_or(rule.when.indicator.as_str(), |(_, l)| *l);
        let Some(v) = q.value else {
            r.missing_data = true;
            r.reason_zh = format!(
                "无法判断{label}：{}",
                q.missing.as_deref().unwrap_or("缺少数据")
            );
            out.push(r);
            continue;
        };
        let holds = compare(&rule.when.op, v, t);
        let cmp = format!(
            "{label}{}，{}{}{}",
            fmt_num(v),
            if holds { "" } else { "未" },
            op_zh(&rule.when.op),
            fmt_num(t)
        );
        if !holds {
            r.outcome = Outcome::Pass;
            r.reason_zh = cmp.clone();
            if let Some(m) = &q.missing {
                // Known part passes but something is missing: the rule cannot pass silently.
                r.outcome = Outcome::Verify;
                r.missing_data = true;
                r.reason_zh = format!("{cmp}；但{m}");
            }
        } else {
            if let Some(u) = &rule.unless {
                let uq = quantity(&u.indicator);
                if let (Some(uv), Ok((ut, _))) = (uq.value, threshold_of(set, u, place))
                    && compare(&u.op, uv, ut)
                {
                    let ulabel = INDICATORS
                        .iter()
                        .find(|(n, _)| *n == u.indicator)
                        .map_or(u.indicator.as_str(), |(_, l)| *l);
                    r.outcome = Outcome::Pass;
                    r.reason_zh = format!(
                        "{cmp}；但{ulabel}{}{}{}，属例外情形",
                        fmt_num(uv),
                        op_zh(&u.op),
                        fmt_num(ut)
                    );
                    out.push(r);
                    continue;
                }
            }
            r.outcome = result_outcome;
            r.reason_zh = cmp;
            if let Some(c) = &q.caveat
                && r.outcome == Outcome::Fail
            {
                r.outcome = Outcome::Verify;
                r.reason_zh = format!("{}；{c}", r.reason_zh);
            }
        }
        out.push(r);
    }
    out
}

/// Formats a number for Chinese text: integers without decimals, else two.
pub fn fmt_num(x: f64) -> String {
    if (x - x.round()).abs() < 0.005 {
        format!("{:.0}", x.round())
    } else {
        format!("{x:.2}")
    }
}

fn fnv32(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for &b in bytes {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}
