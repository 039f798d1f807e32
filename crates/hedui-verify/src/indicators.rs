//! Indicators per household as of a date: per-capita monthly income by category, dwellings and
//! area per capita, vehicles, public-payroll members, members dead or moved away, new members,
//! medical burden. The household is the co-living household of the case (its counted roster
//! members, minus the dead and the moved away, plus newborns), not the 户号.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Duration, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::facts::{Facts, PersonFacts, add_months, month_start};
use crate::roster::Member;
use crate::rules::RuleSet;

/// Indicator names rules may use, with their Chinese labels.
pub const INDICATORS: &[(&str, &str)] = &[
    ("income_per_capita", "家庭人均月收入（元）"),
    ("income_total", "家庭月总收入（元）"),
    ("dwellings", "住房套数"),
    ("dwelling_area_per_capita", "人均住房建筑面积（㎡）"),
    ("nonresidential_units", "非住宅房产数"),
    ("vehicles", "非豁免机动车数"),
    ("old_vehicles", "车龄较长的机动车数"),
    ("public_payroll_members", "财政供养成员数"),
    ("dead_members", "已死亡成员数"),
    ("moved_members", "已迁出成员数"),
    ("new_members", "新增成员数"),
    ("medical_oop_12m", "近12个月个人自付医疗费用（元）"),
    ("medical_burden", "自付医疗费用与困难线之比"),
    ("recent_purchases", "近期新登记房产车辆数"),
    ("unlinked_members", "未能关联身份的成员数"),
];

/// One indicator's value for a rule: the number, why it is unknown (or incomplete), a caveat
/// that turns a 不符合 into 需核实, and the evidence behind it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Quantity {
    /// The value, when it could be computed.
    pub value: Option<f64>,
    /// Missing data: with no value, why it is unknown; with a value, what it could not include.
    pub missing: Option<String>,
    /// A caveat: the value rests on an assumption a caseworker must verify.
    pub caveat: Option<String>,
    /// Evidence keys.
    pub evidence: Vec<String>,
}

/// Monthly household income by category (DOMAIN.md §3.1), yuan.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Income {
    /// 工资性收入 (imputed wages).
    pub wage: f64,
    /// 经营净收入 (no source among the four departments).
    pub business: f64,
    /// 财产净收入 (no source among the four departments).
    pub property: f64,
    /// 转移净收入: pensions (without the excluded basic part) and unemployment benefit.
    pub transfer: f64,
    /// 其他.
    pub other: f64,
    /// Excluded items (the 城乡居民 basic pension part).
    pub excluded: f64,
    /// 就业成本扣减.
    pub employment_cost_deduction: f64,
    /// Counted total: wage + business + property + transfer + other − deduction.
    pub total: f64,
    /// Total divided by the counted members.
    pub per_capita: f64,
}

/// What was found for one member.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MemberSummary {
    /// Member id.
    pub member_id: String,
    /// Linked person key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person_key: Option<String>,
    /// 正常 / 死亡 / 迁出 / 未关联 / 非共同生活.
    pub status: String,
    /// Counted in the household.
    pub counted: bool,
    /// Imputed monthly wage.
    pub wage: f64,
    /// How the wage was imputed (Chinese), when employed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wage_basis: Option<String>,
    /// Counted pension.
    pub pension: f64,
    /// Unemployment benefit.
    pub unemployment: f64,
    /// Member of the public payroll (insurance 120).
    pub public_payroll: bool,
    /// Death date, when dead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub death_date: Option<NaiveDate>,
}

/// The indicators of one household.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Indicators {
    /// As of.
    pub as_of: NaiveDate,
    /// Members on the roster (or application).
    pub listed_members: u32,
    /// Co-living members counted: listed and counted, alive, not moved away, plus newborns.
    pub counted_members: u32,
    /// Members dead by the as-of date.
    pub dead_members: Vec<String>,
    /// Members moved out of the city.
    pub moved_members: Vec<String>,
    /// New members (birth certificates naming a member as parent, child not listed).
    pub new_members: Vec<String>,
    /// Members not linked to any person.
    pub unlinked_members: Vec<String>,
    /// Income.
    pub income: Income,
    /// Members whose wage is imputed at the minimum wage because the contribution base is at
    /// the statutory floor (the real wage is unknown).
    pub wage_floor_members: Vec<String>,
    /// Dwellings (rural homestead houses count as one).
    pub dwellings: u32,
    /// Dwelling area, m² (by share).
    pub dwelling_area: f64,
    /// Area per counted member.
    pub dwelling_area_per_capita: f64,
    /// Non-residential units.
    pub nonresidential_units: u32,
    /// Non-exempt vehicles registered within the exemption age.
    pub vehicles: u32,
    /// Non-exempt vehicles older than the exemption age (exempt candidates).
    pub old_vehicles: u32,
    /// Exempt vehicles (motorcycles, low-speed).
    pub exempt_vehicles: u32,
    /// Members on the public payroll.
    pub public_payroll_members: u32,
    /// Out-of-pocket medical cost in the window.
    pub medical_oop_12m: f64,
    /// Hospital stays in the window.
    pub medical_stays_12m: u32,
    /// The hardship line: max(floor, share × annual income).
    pub medical_threshold: f64,
    /// Out-of-pocket / hardship line.
    pub medical_burden: f64,
    /// Property and vehicles registered in the recent-purchase window.
    pub recent_purchases: u32,
    /// Datasets not delivered (the indicators that need them are unknown).
    pub missing_datasets: Vec<String>,
    /// Per member.
    pub members: Vec<MemberSummary>,
    /// Evidence keys per indicator.
    pub evidence: BTreeMap<String, Vec<String>>,
}

/// The household whose indicators are computed.
#[derive(Debug, Clone, Copy)]
pub struct HouseholdView<'a> {
    /// Members listed.
    pub members: &'a [Member],
    /// County code (standards).
    pub county: &'a str,
    /// Urban category.
    pub urban: bool,
}

fn nonneg(x: f64) -> f64 {
    if x.is_finite() && x > 0.0 { x } else { 0.0 }
}

/// The wage a person's employment evidence implies on `as_of`, with its basis and whether it
/// rests on the floor assumption.
pub fn imputed_wage(
    p: &PersonFacts,
    rules: &RuleSet,
    county: &str,
    urban: bool,
    as_of: NaiveDate,
) -> Option<(f64, String, bool, Vec<String>)> {
    let lag = rules.settings.activity_lag_months;
    let min_wage = rules
        .value("min_wage_monthly", county, urban, as_of)
        .unwrap_or(0.0);
    let floor = rules
        .value("si_base_floor", county, urban, as_of)
        .unwrap_or(0.0);
    if let Some(f) = p
        .funds
        .iter()
        .filter(|f| f.active(as_of, lag))
        .filter_map(|f| f.implied_wage().map(|w| (w, f)))
        .max_by(|a, b| a.0.total_cmp(&b.0))
    {
        let w = nonneg(f.0).max(min_wage);
        return Some((
            w,
            format!("公积金缴存基数{}元", crate::rules::fmt_num(f.0)),
            false,
            vec![f.1.source.key()],
        ));
    }
    let spell = p
        .contributions
        .iter()
        .filter(|s| s.is_employment() && s.active(as_of, lag))
        .max_by(|a, b| {
            a.latest_base
                .unwrap_or(0.0)
                .total_cmp(&b.latest_base.unwrap_or(0.0))
        })?;
    let keys: Vec<String> = spell
        .sources
        .iter()
        .rev()
        .take(3)
        .map(|s| s.key())
        .collect();
    let base = spell.latest_base.map(nonneg);
    match base {
        Some(b) if b > floor + 0.5 => Some((
            b.max(min_wage),
            format!("社保缴费基数{}元", crate::rules::fmt_num(b)),
            false,
            keys,
        )),
        _ => Some((
            min_wage,
            format!(
                "社保缴费基数为下限{}，实际工资未知，按最低工资{}元计",
                base.map_or_else(
                    || "（缺失）".to_owned(),
                    |b| format!("{}元", crate::rules::fmt_num(b))
                ),
                crate::rules::fmt_num(min_wage)
            ),
            true,
            keys,
        )),
    }
}

/// Computes the indicators of a household on `as_of`.
pub fn household_indicators(
    h: HouseholdView<'_>,
    facts: &Facts,
    rules: &RuleSet,
    as_of: NaiveDate,
) -> Indicators {
    let s = &rules.settings;
    let mut ind = Indicators {
        as_of,
        listed_members: h.members.len() as u32,
        ..Default::default()
    };
    for d in crate::input::FACT_DATASETS {
        let q = format!("{}/{}", d.0, d.1);
        if !facts.has(&q) {
            ind.missing_datasets.push(q);
        }
    }
    let mut ev: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let add_ev = |ev: &mut BTreeMap<String, BTreeSet<String>>, k: &str, key: String| {
        ev.entry(k.to_owned()).or_default().insert(key);
    };
    let listed_births: BTreeSet<NaiveDate> =
        h.members.iter().filter_map(|m| m.birth_date).collect();
    let mut counted: Vec<(&Member, Option<&PersonFacts>)> = Vec::new();
    let mut all_linked: Vec<&PersonFacts> = Vec::new();
    let mut newborn_certs: BTreeMap<String, Option<NaiveDate>> = BTreeMap::new();
    for m in h.members {
        let mut ms = MemberSummary {
            member_id: m.member_id.clone(),
            person_key: m.person_key().map(str::to_owned),
            counted: false,
            status: "正常".to_owned(),
            ..Default::default()
        };
        let pf = m.person_key().and_then(|k| facts.person(k));
        if m.person_key().is_none() {
            ind.unlinked_members.push(m.member_id.clone());
            ms.status = "未关联".to_owned();
        }
        if let Some(p) = pf {
            all_linked.push(p);
            if p.dead_on(as_of) {
                let (date, srcs) = p.death().unwrap_or((None, Vec::new()));
                ms.status = "死亡".to_owned();
                ms.death_date = date;
                ind.dead_members.push(m.member_id.clone());
                for d in srcs {
                    add_ev(&mut ev, "dead_members", d.source.key());
                }
            } else if let Some((r, _)) = p.moved_out(as_of) {
                ms.status = "迁出".to_owned();
                ind.moved_members.push(m.member_id.clone());
                add_ev(&mut ev, "moved_members", r.source.key());
            }
            for b in &p.births {
                if b.birth_date
                    .is_some_and(|d| d <= as_of && d > as_of - Duration::days(365))
                {
                    newborn_certs.insert(b.source.key(), b.birth_date);
                }
            }
        }
        if !m.counted && ms.status == "正常" {
            ms.status = "非共同生活".to_owned();
        }
        if m.counted && (ms.status == "正常" || ms.status == "未关联") {
            ms.counted = true;
            counted.push((m, pf));
        }
        ind.members.push(ms);
    }
    // A child already a member (listed, or added from the register: born that day) is not
    // new by its certificate; a certificate for anyone else adds a member.
    let mut certified_new = 0u32;
    for (key, born) in newborn_certs {
        if born.is_none_or(|b| !listed_births.contains(&b)) {
            ind.new_members.push(key.clone());
            add_ev(&mut ev, "new_members", key);
            certified_new += 1;
        }
    }
    // A register member under one year old is new too (already counted as a member).
    for (m, pf) in &counted {
        let born_this_year = m
            .birth_date
            .is_some_and(|d| d <= as_of && d > as_of - Duration::days(365));
        if !m.from_register || !born_this_year {
            continue;
        }
        let key = pf
            .and_then(|p| p.register.first())
            .map_or_else(|| format!("member/{}", m.member_id), |r| r.source.key());
        ind.new_members.push(key.clone());
        add_ev(&mut ev, "new_members", key);
    }
    ind.counted_members = counted.len() as u32 + certified_new;
    let n = f64::from(ind.counted_members.max(1));

    // Income.
    let cost_rate = rules
        .value("employment_cost_rate", h.county, h.urban, as_of)
        .unwrap_or(0.0);
    let mut inc = Income::default();
    for (m, pf) in &counted {
        let Some(p) = pf else { continue };
        let ms_idx = ind.members.iter().position(|x| x.member_id == m.member_id);
        let mut wage = 0.0;
        if let Some((w, basis, at_floor, keys)) = imputed_wage(p, rules, h.county, h.urban, as_of) {
            wage = w;
            if at_floor {
                ind.wage_floor_members.push(m.member_id.clone());
            }
            for k in keys {
                add_ev(&mut ev, "income_per_capita", k);
            }
            if let Some(i) = ms_idx {
                ind.members[i].wage_basis = Some(basis);
            }
        }
        let mut pension = 0.0;
        for pf in p.pensions.iter().filter(|x| x.in_payment(as_of)) {
            let (c, ex) = pf.counted();
            pension += c;
            inc.excluded += ex;
            add_ev(&mut ev, "income_per_capita", pf.source.key());
        }
        let mut unemp = 0.0;
        for u in p.unemployment.iter().filter(|u| u.active(as_of)) {
            unemp += nonneg(u.monthly_amount.unwrap_or(0.0));
            add_ev(&mut ev, "income_per_capita", u.source.key());
        }
        let payroll = p
            .contributions
            .iter()
            .any(|c| c.is_public_payroll() && c.active(as_of, s.activity_lag_months));
        if payroll {
            ind.public_payroll_members += 1;
            for c in p.contributions.iter().filter(|c| c.is_public_payroll()) {
                if let Some(src) = c.sources.last() {
                    add_ev(&mut ev, "public_payroll_members", src.key());
                }
            }
        }
        inc.wage += wage;
        inc.transfer += pension + unemp;
        if let Some(i) = ms_idx {
            let x = &mut ind.members[i];
            x.wage = wage;
            x.pension = pension;
            x.unemployment = unemp;
            x.public_payroll = payroll;
        }
    }
    inc.employment_cost_deduction = nonneg(cost_rate * inc.wage);
    inc.total = nonneg(
        inc.wage + inc.business + inc.property + inc.transfer + inc.other
            - inc.employment_cost_deduction,
    );
    inc.per_capita = inc.total / n;
    ind.income = inc;

    // Property: units of counted members, deduplicated by unit number.
    let mut units: BTreeMap<String, (f64, f64, bool, bool, Vec<String>)> = BTreeMap::new();
    let window_start = add_months(as_of, -s.recent_purchase_months);
    let exempt_age = rules
        .value("vehicle_exempt_age_years", h.county, h.urban, as_of)
        .unwrap_or(f64::INFINITY);
    for (_, pf) in &counted {
        let Some(p) = pf else { continue };
        for pr in p.properties.iter().filter(|x| x.current()) {
            if pr.reg_date.is_some_and(|d| d > as_of) {
                continue;
            }
            let e = units.entry(pr.unit_no.clone()).or_insert((
                0.0,
                nonneg(pr.area.unwrap_or(0.0)),
                pr.residential(),
                pr.nature.as_deref() == Some("5"),
                Vec::new(),
            ));
            e.0 = (e.0 + pr.fraction()).min(1.0);
            e.4.push(pr.source.key());
            if pr.reg_date.is_some_and(|d| d > window_start) {
                ind.recent_purchases += 1;
                add_ev(&mut ev, "recent_purchases", pr.source.key());
            }
        }
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
                ind.exempt_vehicles += 1;
                continue;
            }
            let age_years = v
                .first_reg
                .map(|d| (as_of - d).num_days() as f64 / 365.25)
                .unwrap_or(0.0);
            if age_years > exempt_age {
                ind.old_vehicles += 1;
                add_ev(&mut ev, "old_vehicles", v.source.key());
            } else {
                ind.vehicles += 1;
                add_ev(&mut ev, "vehicles", v.source.key());
            }
            if v.first_reg.is_some_and(|d| d > window_start) {
                ind.recent_purchases += 1;
                add_ev(&mut ev, "recent_purchases", v.source.key());
            }
        }
    }
    let mut homestead = 0u32;
    for (fraction, area, residential, is_homestead, keys) in units.values() {
        if *residential {
            ind.dwelling_area += area * fraction;
            if *fraction >= 0.5 - 1e-9 {
                if *is_homestead {
                    homestead += 1;
                } else {
                    ind.dwellings += 1;
                }
                for k in keys {
                    add_ev(&mut ev, "dwellings", k.clone());
                }
            }
        } else {
            ind.nonresidential_units += 1;
            for k in keys {
                add_ev(&mut ev, "nonresidential_units", k.clone());
            }
        }
    }
    // Rural homestead houses count as one dwelling (DOMAIN.md §3.3 PROP-HOUSE-COUNT).
    ind.dwellings += homestead.min(1);
    ind.dwelling_area_per_capita = ind.dwelling_area / n;

    // Medical burden over every listed member (the dead included: their bills were paid).
    let from = as_of - Duration::days(i64::from(s.medical_window_days));
    let mut seen = BTreeSet::new();
    for p in &all_linked {
        for st in &p.stays {
            let d = st.discharge.or(st.admit);
            if d.is_some_and(|d| d > from && d <= as_of) && seen.insert(st.source.key()) {
                ind.medical_oop_12m += nonneg(st.out_of_pocket.unwrap_or(0.0));
                ind.medical_stays_12m += 1;
                add_ev(&mut ev, "medical_oop_12m", st.source.key());
            }
        }
    }
    let floor = rules
        .value("medical_oop_floor", h.county, h.urban, as_of)
        .unwrap_or(0.0);
    let share = rules
        .value("medical_oop_income_share", h.county, h.urban, as_of)
        .unwrap_or(0.0);
    ind.medical_threshold = floor.max(share * ind.income.total * 12.0);
    ind.medical_burden = if ind.medical_threshold > 0.0 {
        ind.medical_oop_12m / ind.medical_threshold
    } else {
        0.0
    };
    if let Some(v) = ev.get("medical_oop_12m").cloned() {
        ev.insert("medical_burden".to_owned(), v);
    }
    if let Some(v) = ev.get("income_per_capita").cloned() {
        ev.insert("income_total".to_owned(), v);
    }
    if let Some(v) = ev.get("dwellings").cloned() {
        ev.insert("dwelling_area_per_capita".to_owned(), v);
    }
    ind.evidence = ev
        .into_iter()
        .map(|(k, v)| (k, v.into_iter().collect()))
        .collect();
    ind
}

impl Indicators {
    /// An indicator as a rule reads it.
    pub fn quantity(&self, name: &str) -> Quantity {
        let evidence = self.evidence.get(name).cloned().unwrap_or_default();
        let needs = |ds: &[&str]| -> Option<String> {
            let miss: Vec<&str> = ds
                .iter()
                .copied()
                .filter(|d| self.missing_datasets.iter().any(|m| m == d))
                .collect();
            (!miss.is_empty()).then(|| format!("未提供{}数据", miss.join("、")))
        };
        let unlinked = (!self.unlinked_members.is_empty()).then(|| {
            format!(
                "{}名成员未能关联到户籍身份，其信息无法核对",
                self.unlinked_members.len()
            )
        });
        let join = |a: Option<String>, b: Option<String>| match (a, b) {
            (Some(a), Some(b)) => Some(format!("{a}；{b}")),
            (a, b) => a.or(b),
        };
        let (value, missing, caveat) = match name {
            "income_per_capita" | "income_total" => {
                let m = join(
                    needs(&[
                        "renshe/contributions",
                        "renshe/pensions",
                        "zhujian/housing_fund",
                    ]),
                    unlinked,
                );
                let caveat = (!self.wage_floor_members.is_empty()).then(|| {
                    format!(
                        "其中{}名成员工资按最低工资推算（社保基数为下限），需入户核实实际收入",
                        self.wage_floor_members.len()
                    )
                });
                let v = if name == "income_total" {
                    self.income.total
                } else {
                    self.income.per_capita
                };
                (Some(v), m, caveat)
            }
            "dwellings" | "dwelling_area_per_capita" | "nonresidential_units" => {
                let v = match name {
                    "dwellings" => f64::from(self.dwellings),
                    "nonresidential_units" => f64::from(self.nonresidential_units),
                    _ => self.dwelling_area_per_capita,
                };
                (Some(v), join(needs(&["zhujian/property"]), unlinked), None)
            }
            "vehicles" | "old_vehicles" => {
                let v = if name == "vehicles" {
                    self.vehicles
                } else {
                    self.old_vehicles
                };
                (
                    Some(f64::from(v)),
                    join(needs(&["gongan/vehicles"]), unlinked),
                    None,
                )
            }
            "public_payroll_members" => (
                Some(f64::from(self.public_payroll_members)),
                join(needs(&["renshe/contributions"]), unlinked),
                None,
            ),
            "dead_members" => (
                Some(self.dead_members.len() as f64),
                join(needs(&["gongan/population", "weijian/deaths"]), unlinked),
                None,
            ),
            "moved_members" => (
                Some(self.moved_members.len() as f64),
                join(needs(&["gongan/population"]), unlinked),
                None,
            ),
            "new_members" => (
                Some(self.new_members.len() as f64),
                needs(&["weijian/births"]),
                None,
            ),
            "medical_oop_12m" | "medical_burden" => {
                let v = if name == "medical_burden" {
                    self.medical_burden
                } else {
                    self.medical_oop_12m
                };
                (Some(v), needs(&["weijian/hospital_stays"]), None)
            }
            "recent_purchases" => (
                Some(f64::from(self.recent_purchases)),
                join(needs(&["zhujian/property", "gongan/vehicles"]), unlinked),
                None,
            ),
            "unlinked_members" => (Some(self.unlinked_members.len() as f64), None, None),
            _ => (None, Some(format!("未知指标{name}")), None),
        };
        Quantity {
            value,
            missing,
            caveat,
            evidence,
        }
    }
}

/// First day of the month (re-exported for callers computing due dates).
pub fn month_of(d: NaiveDate) -> NaiveDate {
    month_start(d)
}
