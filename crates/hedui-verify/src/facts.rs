//! Facts per person, read from the linked department records: employment and wage evidence,
//! pensions, unemployment benefit, dwellings and other property, vehicles, deaths, births,
//! migration and hospital stays. Values that cannot be parsed are kept as diagnostics (the
//! record is still cited), never silently dropped.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use hedui_identity::date::{DateContext, parse_date};
use hedui_model::Catalog;
use serde::{Deserialize, Serialize};

use crate::input::{CheckInput, RecordLink, SourceRecord, SourceTable, TableReader};

/// A cited source record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceRef {
    /// Department code.
    pub department: String,
    /// Dataset name.
    pub dataset: String,
    /// The record's key in its source.
    pub record_id: String,
    /// Extract (batch) date.
    pub extract_date: NaiveDate,
    /// How the record was tied to the person.
    pub link: RecordLink,
}

impl SourceRef {
    /// `department/dataset/record_id`: the evidence key flag ids are derived from.
    pub fn key(&self) -> String {
        format!("{}/{}/{}", self.department, self.dataset, self.record_id)
    }
}

/// A register (公安 户籍) entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegisterFact {
    /// The record.
    pub source: SourceRef,
    /// Birth date.
    pub birth_date: Option<NaiveDate>,
    /// 城乡属性 code (1 城镇, 2 乡村).
    pub urban_rural: Option<String>,
    /// 12-digit 户籍地区划代码.
    pub region_code: Option<String>,
    /// 户号.
    pub household_no: Option<String>,
    /// 与户主关系 code.
    #[serde(default)]
    pub relation: Option<String>,
    /// Name as registered (for a member the roster does not list).
    #[serde(default)]
    pub name: Option<String>,
    /// ID number as registered (never displayed unmasked).
    #[serde(default)]
    pub id_number: Option<String>,
    /// 人员状态 code (0 正常, 1 注销).
    pub status: Option<String>,
    /// 注销类别 code (1 死亡, 2 迁出 …).
    pub cancel_reason: Option<String>,
    /// 注销日期.
    pub cancel_date: Option<NaiveDate>,
    /// 迁出日期.
    pub move_out_date: Option<NaiveDate>,
    /// 迁往地.
    pub move_to: Option<String>,
}

/// A source saying the person died.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeathFact {
    /// The record.
    pub source: SourceRef,
    /// The death date it gives (for a pension stop: the stop date, an upper bound).
    pub date: Option<NaiveDate>,
    /// How reliable the date is: certificates and register de-registrations are; a pension
    /// that stopped is only a signal.
    pub reliable: bool,
}

/// A spell of social-insurance contributions with one unit and insurance type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContributionSpell {
    /// Unit key: credit code, else unit name, else `灵活就业`.
    pub unit_key: String,
    /// Unit name.
    pub unit_name: String,
    /// 险种类型 code (110, 120 …).
    pub insurance_type: String,
    /// 单位类型 code.
    pub unit_type: Option<String>,
    /// Contribution months present (first day of each month), sorted.
    pub months: Vec<NaiveDate>,
    /// Base of the latest month.
    pub latest_base: Option<f64>,
    /// The contribution rows, in month order.
    pub sources: Vec<SourceRef>,
}

impl ContributionSpell {
    /// The latest month contributed.
    pub fn last_month(&self) -> Option<NaiveDate> {
        self.months.last().copied()
    }

    /// The first month of the run of consecutive months that ends with the latest month.
    pub fn run_start(&self) -> Option<NaiveDate> {
        let mut start = *self.months.last()?;
        for m in self.months.iter().rev().skip(1) {
            if add_months(*m, 1) == start {
                start = *m;
            } else {
                break;
            }
        }
        Some(start)
    }

    /// Consecutive months ending with the latest one.
    pub fn run_months(&self) -> u32 {
        match (self.run_start(), self.last_month()) {
            (Some(a), Some(b)) => months_between(a, b) as u32 + 1,
            _ => 0,
        }
    }

    /// Whether contributions were paid in the window ending `as_of` (`lag` months allowed for
    /// late reporting).
    pub fn active(&self, as_of: NaiveDate, lag: i32) -> bool {
        self.last_month()
            .is_some_and(|m| m >= add_months(month_start(as_of), -lag))
    }

    /// Public payroll (机关事业单位养老保险).
    pub fn is_public_payroll(&self) -> bool {
        self.insurance_type == "120"
    }

    /// Employment insurance types (110, 120); other types (210 失业, 410 工伤 …) are not
    /// evidence of a wage by themselves.
    pub fn is_employment(&self) -> bool {
        matches!(self.insurance_type.as_str(), "110" | "120")
    }
}

/// A housing-fund account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FundFact {
    /// The record.
    pub source: SourceRef,
    /// 账户状态 code (1 正常, 2 封存, 3 销户).
    pub status: Option<String>,
    /// Unit name.
    pub unit_name: Option<String>,
    /// 缴存基数.
    pub base: Option<f64>,
    /// 月缴存额.
    pub monthly_amount: Option<f64>,
    /// Unit + personal rate.
    pub rates: Option<f64>,
    /// 最近缴存年月.
    pub last_paid_month: Option<NaiveDate>,
    /// 开户日期.
    pub open_date: Option<NaiveDate>,
}

impl FundFact {
    /// An open account with deposits in the window ending `as_of`.
    pub fn active(&self, as_of: NaiveDate, lag: i32) -> bool {
        self.status.as_deref() == Some("1")
            && self
                .last_paid_month
                .is_some_and(|m| m >= add_months(month_start(as_of), -lag))
    }

    /// The monthly wage the account implies: the base, else deposits / (unit + personal rate).
    pub fn implied_wage(&self) -> Option<f64> {
        self.base
            .filter(|b| *b > 0.0)
            .or_else(|| match (self.monthly_amount, self.rates) {
                (Some(a), Some(r)) if r > 0.0 => Some(a / r),
                _ => None,
            })
    }
}

/// A pension.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PensionFact {
    /// The record.
    pub source: SourceRef,
    /// 待遇类型 code (11, 12, 17).
    pub pension_type: Option<String>,
    /// 月领取金额.
    pub monthly_amount: Option<f64>,
    /// 基础养老金 (the central basic part, excluded from income).
    pub basic_part: Option<f64>,
    /// 开始领取年月.
    pub start_month: Option<NaiveDate>,
    /// 待遇状态 code (1 正常, 2 暂停, 3 终止).
    pub status: Option<String>,
    /// 状态变更日期.
    pub status_date: Option<NaiveDate>,
}

impl PensionFact {
    /// In payment on `as_of`.
    pub fn in_payment(&self, as_of: NaiveDate) -> bool {
        self.status.as_deref() == Some("1") && self.start_month.is_none_or(|s| s <= as_of)
    }

    /// The counted monthly amount (without the 城乡居民 basic part) and the excluded part.
    pub fn counted(&self) -> (f64, f64) {
        let amount = self.monthly_amount.unwrap_or(0.0).max(0.0);
        let basic = if self.pension_type.as_deref() == Some("17") || self.basic_part.is_some() {
            self.basic_part.unwrap_or(0.0).clamp(0.0, amount)
        } else {
            0.0
        };
        (amount - basic, basic)
    }
}

/// Unemployment benefit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnemploymentFact {
    /// The record.
    pub source: SourceRef,
    /// 月领取额.
    pub monthly_amount: Option<f64>,
    /// 起始月份.
    pub start_month: Option<NaiveDate>,
    /// 终止月份.
    pub end_month: Option<NaiveDate>,
}

impl UnemploymentFact {
    /// Paid in the month of `as_of`.
    pub fn active(&self, as_of: NaiveDate) -> bool {
        let m = month_start(as_of);
        self.start_month.is_some_and(|s| s <= m) && self.end_month.is_none_or(|e| e >= m)
    }
}

/// A real-estate registration (one owner's row).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PropertyFact {
    /// The record.
    pub source: SourceRef,
    /// 不动产单元号 (the unit; co-owners share it).
    pub unit_no: String,
    /// 规划用途 code (10 住宅, 20 商业, 30 办公, 40 车库车位, 50 工业).
    pub use_code: Option<String>,
    /// 房屋性质 code (5 宅基地房 …).
    pub nature: Option<String>,
    /// 共有情况 code.
    pub co_ownership: Option<String>,
    /// Share in percent (按份共有), when given.
    pub share: Option<f64>,
    /// 建筑面积 m².
    pub area: Option<f64>,
    /// 登记日期.
    pub reg_date: Option<NaiveDate>,
    /// 权属状态 code (1 现势).
    pub status: Option<String>,
}

impl PropertyFact {
    /// Residential use.
    pub fn residential(&self) -> bool {
        self.use_code.as_deref() == Some("10")
    }

    /// Currently valid right.
    pub fn current(&self) -> bool {
        self.status.as_deref().is_none_or(|s| s == "1")
    }

    /// The owner's share as a fraction (1.0 unless 按份共有 with a share).
    pub fn fraction(&self) -> f64 {
        match (self.co_ownership.as_deref(), self.share) {
            (Some("3"), Some(s)) if s > 0.0 => (s / 100.0).min(1.0),
            _ => 1.0,
        }
    }
}

/// A motor vehicle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VehicleFact {
    /// The record.
    pub source: SourceRef,
    /// 号牌种类 code.
    pub plate_type: Option<String>,
    /// 车辆类型.
    pub vehicle_type: Option<String>,
    /// 使用性质 code.
    pub use_nature: Option<String>,
    /// 初次登记日期.
    pub first_reg: Option<NaiveDate>,
    /// 机动车状态 code (A 正常).
    pub status: Option<String>,
}

/// A birth certificate naming the person as a parent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BirthFact {
    /// The record.
    pub source: SourceRef,
    /// `mother` or `father`.
    pub role: String,
    /// The child's birth date.
    pub birth_date: Option<NaiveDate>,
}

/// A hospital stay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StayFact {
    /// The record.
    pub source: SourceRef,
    /// 入院日期.
    pub admit: Option<NaiveDate>,
    /// 出院日期.
    pub discharge: Option<NaiveDate>,
    /// 总费用.
    pub total_cost: Option<f64>,
    /// 个人自付.
    pub out_of_pocket: Option<f64>,
}

/// Everything known about one person.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PersonFacts {
    /// Register entries (normally one).
    pub register: Vec<RegisterFact>,
    /// Death evidence.
    pub deaths: Vec<DeathFact>,
    /// Contribution spells.
    pub contributions: Vec<ContributionSpell>,
    /// Housing-fund accounts.
    pub funds: Vec<FundFact>,
    /// Pensions.
    pub pensions: Vec<PensionFact>,
    /// Unemployment benefit.
    pub unemployment: Vec<UnemploymentFact>,
    /// Real estate.
    pub properties: Vec<PropertyFact>,
    /// Vehicles.
    pub vehicles: Vec<VehicleFact>,
    /// Births of children.
    pub births: Vec<BirthFact>,
    /// Hospital stays.
    pub stays: Vec<StayFact>,
}

impl PersonFacts {
    /// The earliest reliable death date over all sources, else the earliest signal; with the
    /// sources that support it.
    pub fn death(&self) -> Option<(Option<NaiveDate>, Vec<&DeathFact>)> {
        if self.deaths.is_empty() {
            return None;
        }
        let reliable: Vec<&DeathFact> = self.deaths.iter().filter(|d| d.reliable).collect();
        let date = if reliable.is_empty() {
            self.deaths.iter().filter_map(|d| d.date).min()
        } else {
            reliable.iter().filter_map(|d| d.date).min()
        };
        Some((date, self.deaths.iter().collect()))
    }

    /// Whether a reliable source says the person died on or before `on`.
    pub fn dead_on(&self, on: NaiveDate) -> bool {
        self.deaths
            .iter()
            .any(|d| d.reliable && d.date.is_none_or(|x| x <= on))
    }

    /// The register entry that records a move out of the city, with its date.
    pub fn moved_out(&self, on: NaiveDate) -> Option<(&RegisterFact, Option<NaiveDate>)> {
        self.register.iter().find_map(|r| {
            let by_status =
                r.status.as_deref() == Some("1") && r.cancel_reason.as_deref() == Some("2");
            let date = r
                .move_out_date
                .or(if by_status { r.cancel_date } else { None });
            (by_status || r.move_out_date.is_some_and(|d| d <= on))
                .then_some((r, date))
                .filter(|(_, d)| d.is_none_or(|d| d <= on))
        })
    }

    /// Birth date from the register.
    pub fn birth_date(&self) -> Option<NaiveDate> {
        self.register.iter().find_map(|r| r.birth_date)
    }
}

/// A value that could not be parsed (the record is still used; the field is treated as
/// unknown).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FactIssue {
    /// `department/dataset/record_id`.
    pub record: String,
    /// Column.
    pub column: String,
    /// What was wrong.
    pub reason: String,
}

/// The facts of every linked person, with parsing diagnostics.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Facts {
    /// Facts by person key.
    pub persons: BTreeMap<String, PersonFacts>,
    /// Values that could not be parsed.
    pub issues: Vec<FactIssue>,
    /// Records read per dataset.
    pub records_read: BTreeMap<String, u64>,
    /// Records with no link to a person (they cannot be facts about anyone).
    pub records_unlinked: BTreeMap<String, u64>,
    /// Datasets delivered (a missing dataset makes the indicators that need it unknown).
    pub delivered: Vec<String>,
}

impl Facts {
    /// The facts of one person (empty when nothing was linked to them).
    pub fn person(&self, key: &str) -> Option<&PersonFacts> {
        self.persons.get(key)
    }

    /// Whether `department/dataset` was delivered.
    pub fn has(&self, qualified: &str) -> bool {
        self.delivered.iter().any(|d| d == qualified)
    }
}

/// Code normalisation: a department may deliver the code or its label.
#[derive(Debug)]
pub struct Codes {
    catalog: Option<Catalog>,
}

impl Codes {
    /// The code tables of the built-in catalogue.
    pub fn builtin() -> Codes {
        Codes {
            catalog: Catalog::builtin().ok(),
        }
    }

    /// The code for `raw` in `table` (`raw` itself when it is a code or the table is unknown).
    pub fn code(&self, table: &str, raw: &str) -> String {
        let raw = raw.trim();
        let Some(t) = self.catalog.as_ref().and_then(|c| c.code_table(table)) else {
            return raw.to_owned();
        };
        if t.label(raw).is_some() {
            return raw.to_owned();
        }
        t.code_of(raw).map_or_else(|| raw.to_owned(), str::to_owned)
    }

    /// The label for a code.
    pub fn label(&self, table: &str, code: &str) -> String {
        self.catalog
            .as_ref()
            .and_then(|c| c.code_table(table))
            .and_then(|t| t.label(code))
            .map_or_else(|| code.to_owned(), str::to_owned)
    }
}

/// First day of the month of `d`.
pub fn month_start(d: NaiveDate) -> NaiveDate {
    d.with_day(1).unwrap_or(d)
}

/// `d` plus `n` months (day clamped to the month's length).
pub fn add_months(d: NaiveDate, n: i32) -> NaiveDate {
    let total = d.year() * 12 + d.month0() as i32 + n;
    let (y, m0) = (total.div_euclid(12), total.rem_euclid(12) as u32);
    let mut day = d.day();
    loop {
        if let Some(x) = NaiveDate::from_ymd_opt(y, m0 + 1, day) {
            return x;
        }
        if day <= 28 {
            return d;
        }
        day -= 1;
    }
}

/// Whole months from `a` to `b` (by calendar month).
pub fn months_between(a: NaiveDate, b: NaiveDate) -> i32 {
    (b.year() * 12 + b.month0() as i32) - (a.year() * 12 + a.month0() as i32)
}

/// Parses a date as delivered (any of the forms of DOMAIN.md §4.5).
pub fn parse_day(raw: &str, reference: NaiveDate) -> Option<NaiveDate> {
    let ctx = DateContext {
        reference: Some(reference),
        allow_excel_serial: true,
    };
    parse_date(raw, &ctx).date
}

/// Parses a `yyyymm` month (`202107`, `2021-07`, `2021年7月`) to its first day.
pub fn parse_month(raw: &str, reference: NaiveDate) -> Option<NaiveDate> {
    let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
    if digits.len() == 6 && digits.len() == raw.trim().len() {
        let y: i32 = digits[..4].parse().ok()?;
        let m: u32 = digits[4..].parse().ok()?;
        return NaiveDate::from_ymd_opt(y, m, 1);
    }
    parse_day(raw, reference).map(month_start)
}

/// Parses an amount (`1,234.50`, `1234.5元`, `￥1234`); `None` unless finite.
pub fn parse_amount(raw: &str) -> Option<f64> {
    let cleaned: String = raw
        .trim()
        .chars()
        .filter(|c| !matches!(c, ',' | '，' | '元' | '¥' | '￥' | ' '))
        .map(|c| match c {
            '０'..='９' => char::from(b'0' + (c as u32 - '０' as u32) as u8),
            '．' => '.',
            other => other,
        })
        .collect();
    cleaned.parse::<f64>().ok().filter(|x| x.is_finite())
}

/// Parser state for one table.
struct Ctx<'a> {
    table: &'a SourceTable,
    rd: TableReader<'a>,
    qualified: String,
    issues: &'a mut Vec<FactIssue>,
}

impl<'a> Ctx<'a> {
    fn source(&self, r: &'a SourceRecord, link: &RecordLink) -> SourceRef {
        SourceRef {
            department: self.table.department.clone(),
            dataset: self.table.dataset.clone(),
            record_id: self.rd.key(r).to_owned(),
            extract_date: self.table.extract_date,
            link: link.clone(),
        }
    }

    fn text(&self, r: &'a SourceRecord, col: &str) -> Option<String> {
        self.rd.by_name(r, col).map(str::to_owned)
    }

    fn issue(&mut self, r: &SourceRecord, col: &str, reason: String) {
        let record = format!("{}/{}", self.qualified, self.rd.key(r));
        self.issues.push(FactIssue {
            record,
            column: col.to_owned(),
            reason,
        });
    }

    fn date(&mut self, r: &'a SourceRecord, col: &str) -> Option<NaiveDate> {
        let raw = self.rd.by_name(r, col)?;
        let d = parse_day(raw, self.table.extract_date);
        if d.is_none() {
            self.issue(r, col, "无法识别的日期".to_owned());
        }
        d
    }

    fn month(&mut self, r: &'a SourceRecord, col: &str) -> Option<NaiveDate> {
        let raw = self.rd.by_name(r, col)?;
        let d = parse_month(raw, self.table.extract_date);
        if d.is_none() {
            self.issue(r, col, "无法识别的年月".to_owned());
        }
        d
    }

    fn amount(&mut self, r: &'a SourceRecord, col: &str) -> Option<f64> {
        let raw = self.rd.by_name(r, col)?;
        let a = parse_amount(raw);
        if a.is_none() {
            self.issue(r, col, "无法识别的金额".to_owned());
        }
        a
    }

    fn code(&self, codes: &Codes, r: &'a SourceRecord, col: &str, table: &str) -> Option<String> {
        self.rd.by_name(r, col).map(|v| codes.code(table, v))
    }
}

/// Builds the facts of every linked person from the department tables of `input`.
pub fn build_facts(input: &CheckInput) -> Facts {
    let codes = Codes::builtin();
    let mut facts = Facts::default();
    let mut spells: BTreeMap<(String, String, String), ContributionSpell> = BTreeMap::new();
    for &(dept, ds) in crate::input::FACT_DATASETS {
        let Some(table) = input.table(dept, ds) else {
            continue;
        };
        let qualified = table.qualified();
        facts.delivered.push(qualified.clone());
        facts.records_read.insert(
            qualified.clone(),
            table.records.len() as u64 + table.skipped,
        );
        let mut unlinked = 0u64;
        let mut issues = std::mem::take(&mut facts.issues);
        let mut ctx = Ctx {
            table,
            rd: table.reader(),
            qualified: qualified.clone(),
            issues: &mut issues,
        };
        for r in &table.records {
            if r.links.is_empty() {
                unlinked += 1;
                continue;
            }
            for pl in &r.links {
                let key = pl.link.person_key.clone();
                let src = ctx.source(r, &pl.link);
                match (dept, ds) {
                    ("gongan", "population") => {
                        let f = RegisterFact {
                            birth_date: ctx.date(r, "birth_date"),
                            urban_rural: ctx.code(&codes, r, "urban_rural", "urban_rural"),
                            region_code: ctx.text(r, "region_code"),
                            household_no: ctx.text(r, "household_no"),
                            relation: ctx.code(&codes, r, "relation", "relation"),
                            name: ctx.text(r, "name"),
                            id_number: ctx.text(r, "id_number"),
                            status: ctx.code(&codes, r, "status", "person_status"),
                            cancel_reason: ctx.code(&codes, r, "cancel_reason", "cancel_reason"),
                            cancel_date: ctx.date(r, "cancel_date"),
                            move_out_date: ctx.date(r, "move_out_date"),
                            move_to: ctx.text(r, "move_to"),
                            source: src.clone(),
                        };
                        let p = facts.persons.entry(key).or_default();
                        if f.status.as_deref() == Some("1")
                            && f.cancel_reason.as_deref() == Some("1")
                        {
                            p.deaths.push(DeathFact {
                                source: src,
                                date: f.cancel_date,
                                reliable: true,
                            });
                        }
                        p.register.push(f);
                    }
                    ("gongan", "vehicles") => {
                        let f = VehicleFact {
                            plate_type: ctx.code(&codes, r, "plate_type", "plate_type"),
                            vehicle_type: ctx.text(r, "vehicle_type"),
                            use_nature: ctx.code(&codes, r, "use_nature", "vehicle_use"),
                            first_reg: ctx.date(r, "first_reg_date"),
                            status: ctx.code(&codes, r, "status", "vehicle_status"),
                            source: src,
                        };
                        facts.persons.entry(key).or_default().vehicles.push(f);
                    }
                    ("weijian", "births") => {
                        let role = match pl.column.as_str() {
                            "mother_id_number" => "mother",
                            "father_id_number" => "father",
                            _ => "parent",
                        };
                        let f = BirthFact {
                            role: role.to_owned(),
                            birth_date: ctx.date(r, "birth_date"),
                            source: src,
                        };
                        facts.persons.entry(key).or_default().births.push(f);
                    }
                    ("weijian", "deaths") => {
                        let f = DeathFact {
                            date: ctx.date(r, "death_date"),
                            reliable: true,
                            source: src,
                        };
                        facts.persons.entry(key).or_default().deaths.push(f);
                    }
                    ("weijian", "hospital_stays") => {
                        let f = StayFact {
                            admit: ctx.date(r, "admit_date"),
                            discharge: ctx.date(r, "discharge_date"),
                            total_cost: ctx.amount(r, "total_cost"),
                            out_of_pocket: ctx.amount(r, "out_of_pocket"),
                            source: src,
                        };
                        facts.persons.entry(key).or_default().stays.push(f);
                    }
                    ("renshe", "contributions") => {
                        let status = ctx.code(&codes, r, "status", "contribution_status");
                        if status.as_deref().is_some_and(|s| s != "1") {
                            // 暂停/终止 rows are not contributions paid.
                            continue;
                        }
                        let insurance = ctx
                            .code(&codes, r, "insurance_type", "insurance_type")
                            .unwrap_or_default();
                        let unit_name = ctx.text(r, "unit_name").unwrap_or_default();
                        let unit_key = ctx
                            .text(r, "unit_credit_code")
                            .or_else(|| (!unit_name.is_empty()).then(|| unit_name.clone()))
                            .unwrap_or_else(|| "灵活就业".to_owned());
                        let Some(month) = ctx.month(r, "period") else {
                            continue;
                        };
                        let base = ctx.amount(r, "base");
                        let unit_type = ctx.code(&codes, r, "unit_type", "unit_type");
                        let spell = spells
                            .entry((key, unit_key.clone(), insurance.clone()))
                            .or_insert_with(|| ContributionSpell {
                                unit_key,
                                unit_name: unit_name.clone(),
                                insurance_type: insurance,
                                unit_type,
                                months: Vec::new(),
                                latest_base: None,
                                sources: Vec::new(),
                            });
                        spell.months.push(month);
                        spell.sources.push(src);
                        if spell.months.iter().all(|m| *m <= month) {
                            spell.latest_base = base.or(spell.latest_base);
                        }
                    }
                    ("renshe", "pensions") => {
                        let f = PensionFact {
                            pension_type: ctx.code(&codes, r, "pension_type", "pension_type"),
                            monthly_amount: ctx.amount(r, "monthly_amount"),
                            basic_part: ctx.amount(r, "basic_part"),
                            start_month: ctx.month(r, "start_month"),
                            status: ctx.code(&codes, r, "status", "benefit_status"),
                            status_date: ctx.date(r, "status_date"),
                            source: src.clone(),
                        };
                        let p = facts.persons.entry(key).or_default();
                        if f.status.as_deref() == Some("3") {
                            p.deaths.push(DeathFact {
                                source: src,
                                date: f.status_date,
                                reliable: false,
                            });
                        }
                        p.pensions.push(f);
                    }
                    ("renshe", "unemployment") => {
                        let f = UnemploymentFact {
                            monthly_amount: ctx.amount(r, "monthly_amount"),
                            start_month: ctx.month(r, "start_month"),
                            end_month: ctx.month(r, "end_month"),
                            source: src,
                        };
                        facts.persons.entry(key).or_default().unemployment.push(f);
                    }
                    ("zhujian", "property") => {
                        let unit_no = ctx
                            .text(r, "unit_no")
                            .or_else(|| ctx.text(r, "cert_no"))
                            .unwrap_or_else(|| src.record_id.clone());
                        let f = PropertyFact {
                            unit_no,
                            use_code: ctx.code(&codes, r, "use", "property_use"),
                            nature: ctx.code(&codes, r, "nature", "property_nature"),
                            co_ownership: ctx.code(&codes, r, "co_ownership", "co_ownership"),
                            share: ctx.amount(r, "share"),
                            area: ctx.amount(r, "area"),
                            reg_date: ctx.date(r, "reg_date"),
                            status: ctx.code(&codes, r, "status", "right_status"),
                            source: src,
                        };
                        facts.persons.entry(key).or_default().properties.push(f);
                    }
                    ("zhujian", "housing_fund") => {
                        let unit = ctx.amount(r, "unit_rate");
                        let personal = ctx.amount(r, "personal_rate");
                        let f = FundFact {
                            status: ctx.code(&codes, r, "status", "fund_account_status"),
                            unit_name: ctx.text(r, "unit_name"),
                            base: ctx.amount(r, "base"),
                            monthly_amount: ctx.amount(r, "monthly_amount"),
                            rates: match (unit, personal) {
                                (Some(a), Some(b)) => Some(normalise_rate(a) + normalise_rate(b)),
                                _ => None,
                            },
                            last_paid_month: ctx.month(r, "last_paid_month"),
                            open_date: ctx.date(r, "open_date"),
                            source: src,
                        };
                        facts.persons.entry(key).or_default().funds.push(f);
                    }
                    _ => {}
                }
            }
        }
        facts.issues = issues;
        facts.records_unlinked.insert(qualified, unlinked);
    }
    for ((key, _, _), mut spell) in spells {
        // Months in order, sources alongside.
        let mut idx: Vec<usize> = (0..spell.months.len()).collect();
        idx.sort_by_key(|&i| (spell.months[i], spell.sources[i].record_id.clone()));
        spell.months = idx.iter().map(|&i| spell.months[i]).collect();
        spell.sources = idx.iter().map(|&i| spell.sources[i].clone()).collect();
        spell.months.dedup();
        facts
            .persons
            .entry(key)
            .or_default()
            .contributions
            .push(spell);
    }
    facts
}

/// Rates arrive as fractions (0.08) or percents (8).
fn normalise_rate(x: f64) -> f64 {
    if x > 1.0 { x / 100.0 } else { x }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("valid date")
    }

    #[test]
    fn months_and_amounts_parse() {
        assert_eq!(parse_month("202107", d(2021, 9, 30)), Some(d(2021, 7, 1)));
        assert_eq!(parse_month("2021-07", d(2021, 9, 30)), Some(d(2021, 7, 1)));
        assert_eq!(parse_amount("1,234.50元"), Some(1234.5));
        assert_eq!(parse_amount("NaN"), None);
        assert_eq!(parse_amount("abc"), None);
        assert_eq!(add_months(d(2021, 1, 31), 1), d(2021, 2, 28));
        assert_eq!(add_months(d(2021, 1, 15), -2), d(2020, 11, 15));
        assert_eq!(months_between(d(2021, 6, 30), d(2021, 9, 1)), 3);
    }

    #[test]
    fn spell_runs_count_consecutive_months_only() {
        let spell = ContributionSpell {
            unit_key: "u".into(),
            unit_name: "u".into(),
            insurance_type: "110".into(),
            unit_type: None,
            months: vec![d(2021, 4, 1), d(2021, 7, 1), d(2021, 8, 1), d(2021, 9, 1)],
            latest_base: Some(3300.0),
            sources: Vec::new(),
        };
        assert_eq!(spell.run_start(), Some(d(2021, 7, 1)));
        assert_eq!(spell.run_months(), 3);
        assert!(spell.active(d(2021, 9, 30), 1));
        assert!(!spell.active(d(2022, 1, 31), 1));
    }

    #[test]
    fn codes_accept_labels() {
        let c = Codes::builtin();
        assert_eq!(c.code("gender", "男"), "1");
        assert_eq!(c.code("gender", "1"), "1");
        assert_eq!(c.code("right_status", "现势"), "1");
        assert_eq!(c.label("insurance_type", "120"), "机关事业单位养老保险");
    }
}
