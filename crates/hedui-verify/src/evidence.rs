//! Evidence rows as a caseworker reads them: department, dataset, record key, event date,
//! extract date, key values in Chinese (never a full ID number; health details marked
//! sensitive), and the identity link's quality.

use chrono::NaiveDate;
use hedui_model::flag::Evidence;

use crate::facts::{
    Codes, ContributionSpell, DeathFact, FundFact, PensionFact, PersonFacts, PropertyFact,
    RegisterFact, SourceRef, StayFact, UnemploymentFact, VehicleFact,
};
use crate::rules::fmt_num;

fn ymd(d: Option<NaiveDate>) -> String {
    d.map_or_else(
        || "（缺失）".to_owned(),
        |d| d.format("%Y-%m-%d").to_string(),
    )
}

fn ym(d: Option<NaiveDate>) -> String {
    d.map_or_else(|| "（缺失）".to_owned(), |d| d.format("%Y-%m").to_string())
}

fn yuan(x: Option<f64>) -> String {
    x.map_or_else(|| "（缺失）".to_owned(), |x| format!("{}元", fmt_num(x)))
}

fn kv(k: &str, v: String) -> (String, String) {
    (k.to_owned(), v)
}

/// An evidence row for a flag.
pub fn evidence(
    src: &SourceRef,
    member_id: &str,
    event_date: Option<NaiveDate>,
    values: Vec<(String, String)>,
    sensitive: bool,
) -> Evidence {
    Evidence {
        department: src.department.clone(),
        dataset: src.dataset.clone(),
        record_id: src.record_id.clone(),
        member_id: member_id.to_owned(),
        event_date,
        extract_date: src.extract_date,
        values,
        sensitive,
        identity: src.link.identity(),
    }
}

/// Values of a register entry.
pub fn register_values(r: &RegisterFact, codes: &Codes) -> Vec<(String, String)> {
    let mut v = vec![kv(
        "人员状态",
        r.status.as_deref().map_or_else(
            || "（缺失）".to_owned(),
            |s| codes.label("person_status", s),
        ),
    )];
    if let Some(c) = &r.cancel_reason {
        v.push(kv("注销类别", codes.label("cancel_reason", c)));
        v.push(kv("注销日期", ymd(r.cancel_date)));
    }
    if r.move_out_date.is_some() {
        v.push(kv("迁出日期", ymd(r.move_out_date)));
    }
    if let Some(t) = &r.move_to {
        v.push(kv("迁往地", t.clone()));
    }
    if let Some(u) = &r.urban_rural {
        v.push(kv("城乡属性", codes.label("urban_rural", u)));
    }
    v
}

/// Values of a death source.
pub fn death_values(d: &DeathFact) -> Vec<(String, String)> {
    match (d.source.department.as_str(), d.source.dataset.as_str()) {
        ("weijian", "deaths") => vec![kv("死亡日期", ymd(d.date))],
        ("gongan", _) => vec![kv("注销类别", "死亡".into()), kv("注销日期", ymd(d.date))],
        _ => vec![
            kv("待遇状态", "终止（疑似死亡）".into()),
            kv("状态变更日期", ymd(d.date)),
        ],
    }
}

/// Values of a contribution spell.
pub fn spell_values(s: &ContributionSpell, codes: &Codes) -> Vec<(String, String)> {
    vec![
        kv("缴费单位", s.unit_name.clone()),
        kv("险种", codes.label("insurance_type", &s.insurance_type)),
        kv(
            "单位类型",
            s.unit_type
                .as_deref()
                .map_or_else(|| "（缺失）".to_owned(), |t| codes.label("unit_type", t)),
        ),
        kv("缴费基数", yuan(s.latest_base)),
        kv(
            "缴费月份",
            format!(
                "{}至{}（连续{}个月）",
                ym(s.run_start()),
                ym(s.last_month()),
                s.run_months()
            ),
        ),
    ]
}

/// Values of a housing-fund account.
pub fn fund_values(f: &FundFact, codes: &Codes) -> Vec<(String, String)> {
    vec![
        kv(
            "账户状态",
            f.status.as_deref().map_or_else(
                || "（缺失）".to_owned(),
                |s| codes.label("fund_account_status", s),
            ),
        ),
        kv("单位名称", f.unit_name.clone().unwrap_or_default()),
        kv("缴存基数", yuan(f.base)),
        kv("月缴存额", yuan(f.monthly_amount)),
        kv("最近缴存年月", ym(f.last_paid_month)),
        kv("开户日期", ymd(f.open_date)),
    ]
}

/// Values of a pension.
pub fn pension_values(p: &PensionFact, codes: &Codes) -> Vec<(String, String)> {
    let (counted, excluded) = p.counted();
    vec![
        kv(
            "待遇类型",
            p.pension_type
                .as_deref()
                .map_or_else(|| "（缺失）".to_owned(), |t| codes.label("pension_type", t)),
        ),
        kv("月领取金额", yuan(p.monthly_amount)),
        kv("计入收入", format!("{}元", fmt_num(counted))),
        kv("不计入（基础养老金）", format!("{}元", fmt_num(excluded))),
        kv("开始领取年月", ym(p.start_month)),
        kv(
            "待遇状态",
            p.status.as_deref().map_or_else(
                || "（缺失）".to_owned(),
                |s| codes.label("benefit_status", s),
            ),
        ),
    ]
}

/// Values of unemployment benefit.
pub fn unemployment_values(u: &UnemploymentFact) -> Vec<(String, String)> {
    vec![
        kv("月领取额", yuan(u.monthly_amount)),
        kv(
            "领取期间",
            format!("{}至{}", ym(u.start_month), ym(u.end_month)),
        ),
    ]
}

/// Values of a property registration.
pub fn property_values(p: &PropertyFact, codes: &Codes) -> Vec<(String, String)> {
    let label = |t: &str, c: &Option<String>| {
        c.as_deref()
            .map_or_else(|| "（缺失）".to_owned(), |x| codes.label(t, x))
    };
    vec![
        kv("规划用途", label("property_use", &p.use_code)),
        kv("房屋性质", label("property_nature", &p.nature)),
        kv("共有情况", label("co_ownership", &p.co_ownership)),
        kv(
            "建筑面积",
            p.area
                .map_or_else(|| "（缺失）".to_owned(), |a| format!("{}㎡", fmt_num(a))),
        ),
        kv("登记日期", ymd(p.reg_date)),
        kv("权属状态", label("right_status", &p.status)),
    ]
}

/// Values of a vehicle.
pub fn vehicle_values(v: &VehicleFact, codes: &Codes) -> Vec<(String, String)> {
    let label = |t: &str, c: &Option<String>| {
        c.as_deref()
            .map_or_else(|| "（缺失）".to_owned(), |x| codes.label(t, x))
    };
    vec![
        kv("号牌种类", label("plate_type", &v.plate_type)),
        kv("车辆类型", v.vehicle_type.clone().unwrap_or_default()),
        kv("使用性质", label("vehicle_use", &v.use_nature)),
        kv("初次登记日期", ymd(v.first_reg)),
        kv("机动车状态", label("vehicle_status", &v.status)),
    ]
}

/// Values of a hospital stay: dates and amounts only, never the diagnosis.
pub fn stay_values(s: &StayFact) -> Vec<(String, String)> {
    vec![
        kv("入院日期", ymd(s.admit)),
        kv("出院日期", ymd(s.discharge)),
        kv("总费用", yuan(s.total_cost)),
        kv("个人自付", yuan(s.out_of_pocket)),
    ]
}

/// Rows of (label, value) pairs.
pub type Rows = Vec<Vec<(String, String)>>;

/// Per dataset, the rows found for a person (for the 核对报告).
pub fn findings(p: &PersonFacts, codes: &Codes) -> Vec<(String, Rows)> {
    let mut out: Vec<(String, Rows)> = Vec::new();
    let mut push =
        |ds: &str, row: Vec<(String, String)>| match out.iter_mut().find(|(d, _)| d == ds) {
            Some((_, rows)) => rows.push(row),
            None => out.push((ds.to_owned(), vec![row])),
        };
    for r in &p.register {
        push("gongan/population", register_values(r, codes));
    }
    for v in &p.vehicles {
        push("gongan/vehicles", vehicle_values(v, codes));
    }
    for b in &p.births {
        push(
            "weijian/births",
            vec![
                kv(
                    "身份",
                    if b.role == "mother" {
                        "母亲"
                    } else {
                        "父亲"
                    }
                    .into(),
                ),
                kv("新生儿出生日期", ymd(b.birth_date)),
            ],
        );
    }
    for d in p.deaths.iter().filter(|d| d.source.dataset == "deaths") {
        push("weijian/deaths", death_values(d));
    }
    if !p.stays.is_empty() {
        let oop: f64 = p.stays.iter().filter_map(|s| s.out_of_pocket).sum();
        push(
            "weijian/hospital_stays",
            vec![
                kv("住院次数", p.stays.len().to_string()),
                kv("个人自付合计", format!("{}元", fmt_num(oop))),
            ],
        );
    }
    for s in &p.contributions {
        push("renshe/contributions", spell_values(s, codes));
    }
    for x in &p.pensions {
        push("renshe/pensions", pension_values(x, codes));
    }
    for u in &p.unemployment {
        push("renshe/unemployment", unemployment_values(u));
    }
    for x in &p.properties {
        push("zhujian/property", property_values(x, codes));
    }
    for f in &p.funds {
        push("zhujian/housing_fund", fund_values(f, codes));
    }
    out
}
