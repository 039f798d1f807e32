//! Page models (askama templates) and the helpers that turn store values into display rows.
//! Everything shown here is already masked: ID numbers as first 6 + last 4, names as `王*明`.

use askama::Template;
use chrono::NaiveDate;
use hedui_identity::divisions::{county_by_code, township_by_code};
use hedui_model::flag::{Evidence, WeightContribution, programme_label_zh};
use hedui_store::{Decision, FlagStatus, Role, StoredFlag, User};

/// The top bar.
#[derive(Debug, Clone)]
pub struct Nav {
    pub username: String,
    pub role_label: String,
    pub scope_label: String,
    pub csrf: String,
    pub show_queue: bool,
    pub show_approvals: bool,
    pub show_reviews: bool,
    pub show_audit: bool,
}

impl Nav {
    pub fn new(user: &User, csrf: &str) -> Nav {
        let scope_label = match user.role {
            Role::CityAdmin | Role::Auditor => "全市".to_owned(),
            Role::CountyReviewer => county_name(user.county_code.as_deref().unwrap_or("")),
            Role::TownshipCaseworker => {
                let t = user.township_code.as_deref().unwrap_or("");
                format!(
                    "{} {}",
                    county_name(t.get(..6).unwrap_or("")),
                    township_name(t)
                )
            }
            Role::Analyst => "身份核验".to_owned(),
        };
        Nav {
            username: user.username.clone(),
            role_label: user.role.label_zh().to_owned(),
            scope_label,
            csrf: csrf.to_owned(),
            show_queue: user.sees_cases(),
            show_approvals: matches!(user.role, Role::CityAdmin | Role::CountyReviewer),
            show_reviews: user.can_view_reviews(),
            show_audit: user.can_read_audit(),
        }
    }
}

/// An `<option>`.
#[derive(Debug, Clone)]
pub struct Opt {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

/// One bar of a weight waterfall, laid out for SVG (no inline styles: the CSP forbids them).
#[derive(Debug, Clone)]
pub struct Bar {
    pub label: String,
    pub weight: String,
    pub x: i64,
    pub y: i64,
    pub w: i64,
    pub ty: i64,
    pub vx: i64,
    pub cls: &'static str,
}

/// Width of the waterfall SVG and the x of its zero axis.
pub const SVG_WIDTH: i64 = 420;
pub const SVG_AXIS: i64 = 250;
const HALF: f64 = 110.0;

/// Lays out the bars of an explanation; returns the bars and the SVG height.
pub fn waterfall(expl: &[WeightContribution]) -> (Vec<Bar>, i64) {
    let max = expl
        .iter()
        .map(|c| c.weight.abs())
        .filter(|w| w.is_finite())
        .fold(1.0_f64, f64::max);
    let bars = expl
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let w = if c.weight.is_finite() { c.weight } else { 0.0 };
            let len = ((w.abs() / max) * HALF).round() as i64;
            let y = i as i64 * 18 + 2;
            let (x, cls) = if w >= 0.0 {
                (SVG_AXIS, "pos")
            } else {
                (SVG_AXIS - len, "neg")
            };
            Bar {
                label: format!("{} · {}", comparison_label(&c.comparison), c.level),
                weight: format!("{w:+.2}"),
                x,
                y,
                w: len.max(1),
                ty: y + 11,
                vx: if w >= 0.0 {
                    SVG_AXIS + len + 3
                } else {
                    SVG_AXIS + 3
                },
                cls,
            }
        })
        .collect::<Vec<_>>();
    let h = bars.len() as i64 * 18 + 4;
    (bars, h)
}

fn comparison_label(c: &str) -> String {
    match c {
        "id_number" => "身份证号".into(),
        "name" => "姓名".into(),
        "birth_date" => "出生日期".into(),
        "gender" => "性别".into(),
        "address" => "地址".into(),
        "phone" => "电话".into(),
        "township" => "乡镇".into(),
        "prior" => "先验".into(),
        other => other.to_owned(),
    }
}

/// County name from its code (the code itself when unknown).
pub fn county_name(code: &str) -> String {
    county_by_code(code).map_or_else(|| code.to_owned(), |c| c.name.to_owned())
}

/// Township name from its code.
pub fn township_name(code: &str) -> String {
    township_by_code(code).map_or_else(|| code.to_owned(), |t| t.name.to_owned())
}

/// Caseworker-facing names of the flag catalogue (DOMAIN.md §7).
pub fn flag_type_label(code: &str) -> String {
    let s = match code {
        "DYN-DEATH" => "成员死亡",
        "DYN-DEATH-PAID" => "死亡后仍发放",
        "DYN-MIGRATE-OUT" => "户籍迁出",
        "DYN-NEWBORN" => "新增成员（出生）",
        "DYN-MARRIAGE" => "婚姻变化",
        "DYN-CUSTODY" => "服刑或强制隔离戒毒",
        "DYN-AGE" => "年龄跨越门槛",
        "INC-NEW-JOB" => "新就业",
        "INC-WAGE-OVER" => "工资收入超标",
        "INC-PENSION-START" => "开始领取养老金",
        "INC-UNEMP" => "领取失业保险金",
        "PERS-PUBLIC-PAYROLL" => "财政供养人员",
        "PROP-HOUSE-NEW" => "新增不动产",
        "PROP-HOUSE-COUNT" => "多套住房或非住宅",
        "PROP-VEHICLE" => "拥有机动车",
        "PROP-BUSINESS" => "工商登记",
        "PROP-FIN" => "金融资产超标",
        "EXP-MEDICAL" => "高额医疗支出",
        "DUP-PROGRAM" => "重复享受救助",
        "DUP-REGION" => "异地重复救助",
        "ID-NOT-FOUND" => "身份证号未匹配户籍",
        "ID-CONFLICT" => "身份信息冲突",
        "HH-SPLIT" => "申请前分户",
        "CADRE-RELATIVE" => "干部职工近亲属",
        "AUTH-MISSING" => "成员未签署授权",
        "REVIEW-DUE" => "定期核对到期",
        other => other,
    };
    s.to_owned()
}

fn department_label(code: &str) -> String {
    match code {
        "gongan" => "公安".into(),
        "weijian" => "卫健".into(),
        "renshe" => "人社".into(),
        "zhujian" => "住建/不动产".into(),
        "minzheng" => "民政".into(),
        other => other.to_owned(),
    }
}

fn money(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_owned(), |x| format!("¥{x:.2}/月"))
}

/// A queue or history row.
#[derive(Debug, Clone)]
pub struct FlagRow {
    pub flag_id: String,
    pub flag_type: String,
    pub type_label: String,
    pub severity_label: String,
    pub severity_class: String,
    pub status_label: String,
    pub outcome_label: String,
    pub approval_label: String,
    pub county_name: String,
    pub township_name: String,
    pub case_id: String,
    pub head_name: String,
    pub head_id: String,
    pub reason: String,
    pub deadline: String,
    pub as_of: String,
    pub overdue: bool,
}

fn severity_class(s: hedui_model::flag::Severity) -> &'static str {
    match s {
        hedui_model::flag::Severity::High => "high",
        hedui_model::flag::Severity::Medium => "medium",
        hedui_model::flag::Severity::Info => "info",
    }
}

fn approval_label(a: hedui_store::Approval) -> String {
    match a {
        hedui_store::Approval::NotRequired => String::new(),
        other => other.label_zh().to_owned(),
    }
}

impl FlagRow {
    pub fn new(sf: &StoredFlag, today: NaiveDate) -> FlagRow {
        let f = &sf.flag;
        FlagRow {
            flag_id: f.flag_id.clone(),
            flag_type: f.flag_type.clone(),
            type_label: flag_type_label(&f.flag_type),
            severity_label: f.severity.label_zh().to_owned(),
            severity_class: severity_class(f.severity).to_owned(),
            status_label: sf.status.label_zh().to_owned(),
            outcome_label: sf
                .outcome
                .map(|o| o.label_zh().to_owned())
                .unwrap_or_default(),
            approval_label: approval_label(sf.approval),
            county_name: county_name(&f.subject.county_code),
            township_name: township_name(&f.subject.township_code),
            case_id: f.subject.case_id.clone(),
            head_name: f.subject.head_name_masked.clone(),
            head_id: mask_again(&f.subject.head_id_masked),
            reason: f.reason_zh.clone(),
            deadline: f.deadline.to_string(),
            as_of: f.as_of.to_string(),
            overdue: !sf.status.is_closed() && f.deadline < today,
        }
    }
}

/// The subject's ID is published masked; mask again defensively in case a producer slipped a
/// full number through (masking a masked number changes nothing).
pub fn mask_again(id: &str) -> String {
    if id.chars().all(|c| c.is_ascii_alphanumeric()) && (id.len() == 18 || id.len() == 15) {
        hedui_identity::id::mask_id(id)
    } else {
        id.to_owned()
    }
}

/// The flag header of the flag page.
#[derive(Debug, Clone)]
pub struct FlagView {
    pub flag_id: String,
    pub flag_type: String,
    pub type_label: String,
    pub severity_label: String,
    pub severity_class: String,
    pub status_label: String,
    pub outcome_label: String,
    pub approval_label: String,
    pub case_id: String,
    pub programme_label: String,
    pub head_name: String,
    pub head_id: String,
    pub member_name: String,
    pub county_name: String,
    pub township_name: String,
    pub address: String,
    pub household_size: u32,
    pub benefit: String,
    pub reason: String,
    pub impact: String,
    pub suggested_action: String,
    pub rule_id: String,
    pub rules_version: String,
    pub as_of: String,
    pub deadline: String,
    pub overdue: bool,
    pub first_run: String,
    pub last_run: String,
    pub needs_identity: bool,
}

impl FlagView {
    pub fn new(sf: &StoredFlag, today: NaiveDate) -> FlagView {
        let f = &sf.flag;
        let s = &f.subject;
        FlagView {
            flag_id: f.flag_id.clone(),
            flag_type: f.flag_type.clone(),
            type_label: flag_type_label(&f.flag_type),
            severity_label: f.severity.label_zh().to_owned(),
            severity_class: severity_class(f.severity).to_owned(),
            status_label: sf.status.label_zh().to_owned(),
            outcome_label: sf
                .outcome
                .map(|o| o.label_zh().to_owned())
                .unwrap_or_default(),
            approval_label: approval_label(sf.approval),
            case_id: s.case_id.clone(),
            programme_label: programme_label_zh(&s.programme).to_owned(),
            head_name: s.head_name_masked.clone(),
            head_id: mask_again(&s.head_id_masked),
            member_name: s.member_name_masked.clone().unwrap_or_default(),
            county_name: county_name(&s.county_code),
            township_name: township_name(&s.township_code),
            address: s.address.clone(),
            household_size: s.household_size,
            benefit: money(s.monthly_benefit),
            reason: f.reason_zh.clone(),
            impact: f.impact_zh.clone().unwrap_or_else(|| "—".to_owned()),
            suggested_action: f.suggested_action_zh.clone(),
            rule_id: f.rule_id.clone(),
            rules_version: f.rules_version.clone(),
            as_of: f.as_of.to_string(),
            deadline: f.deadline.to_string(),
            overdue: !sf.status.is_closed() && f.deadline < today,
            first_run: sf.first_run.clone(),
            last_run: sf.last_run.clone(),
            needs_identity: f.needs_identity_confirmation(),
        }
    }
}

/// An evidence row.
#[derive(Debug, Clone)]
pub struct EvidenceView {
    pub department_label: String,
    pub dataset: String,
    pub record_id: String,
    pub member: String,
    pub event_date: String,
    pub extract_date: String,
    pub values: Vec<(String, String)>,
    pub hidden_sensitive: bool,
    pub match_label: String,
    pub probability: String,
    pub weight: String,
    pub bars: Vec<Bar>,
    pub svg_h: i64,
}

impl EvidenceView {
    pub fn new(e: &Evidence, show_sensitive: bool, member_label: String) -> EvidenceView {
        let hidden = e.sensitive && !show_sensitive;
        let (bars, svg_h) = waterfall(&e.identity.explanation);
        EvidenceView {
            department_label: department_label(&e.department),
            dataset: e.dataset.clone(),
            record_id: e.record_id.clone(),
            member: member_label,
            event_date: e.event_date.map(|d| d.to_string()).unwrap_or_default(),
            extract_date: e.extract_date.to_string(),
            values: if hidden {
                Vec::new()
            } else {
                e.values
                    .iter()
                    .map(|(k, v)| (k.clone(), mask_values(v)))
                    .collect()
            },
            hidden_sensitive: hidden,
            match_label: e.identity.kind.label_zh().to_owned(),
            probability: format!("{:.3}", e.identity.probability),
            weight: e
                .identity
                .match_weight
                .map(|w| format!("{w:.2}"))
                .unwrap_or_default(),
            bars,
            svg_h,
        }
    }
}

/// Masks anything that looks like a full 18- or 15-character ID number inside a value (the
/// contract says evidence never carries one; this keeps a producer's slip off the screen).
pub fn mask_values(v: &str) -> String {
    let chars: Vec<char> = v.chars().collect();
    let mut out = String::with_capacity(v.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_ascii_digit() {
            let mut j = i;
            while j < chars.len()
                && (chars[j].is_ascii_digit() || chars[j] == 'X' || chars[j] == 'x')
            {
                j += 1;
            }
            let run: String = chars[i..j].iter().collect();
            if run.len() == 18 || run.len() == 15 {
                out.push_str(&hedui_identity::id::mask_id(&run));
            } else {
                out.push_str(&run);
            }
            i = j;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

/// A decision row.
#[derive(Debug, Clone)]
pub struct DecisionView {
    pub decision_id: i64,
    pub flag_id: String,
    pub decided_at: String,
    pub decided_by: String,
    pub role_label: String,
    pub status_label: String,
    pub outcome_label: String,
    pub amount: String,
    pub reason: String,
    pub notice: String,
    pub approval_label: String,
    pub approved_by: String,
    pub can_approve: bool,
}

impl DecisionView {
    pub fn new(d: &Decision, can_approve: bool) -> DecisionView {
        let mut amount = d.new_amount.map(|a| format!("¥{a:.2}")).unwrap_or_default();
        if let Some(m) = &d.effective_month {
            amount = format!("{amount} 自{m}");
        }
        let notice = match (&d.notice_type, &d.notice_date, &d.notice_method) {
            (Some(t), Some(dt), Some(m)) => format!("{t} {dt} {m}"),
            _ => String::new(),
        };
        DecisionView {
            decision_id: d.decision_id,
            flag_id: d.flag_id.clone(),
            decided_at: d
                .decided_at
                .get(..19)
                .unwrap_or(&d.decided_at)
                .replace('T', " "),
            decided_by: d.decided_by.clone(),
            role_label: Role::parse(&d.decided_role)
                .map(|r| r.label_zh().to_owned())
                .unwrap_or_default(),
            status_label: d.status.label_zh().to_owned(),
            outcome_label: d
                .outcome
                .map(|o| o.label_zh().to_owned())
                .unwrap_or_default(),
            amount: amount.trim().to_owned(),
            reason: [d.reason_code.as_str(), d.reason.as_str()]
                .iter()
                .filter(|s| !s.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join("：")
                .to_string(),
            notice,
            approval_label: d.approval.label_zh().to_owned(),
            approved_by: d.approved_by.clone().unwrap_or_default(),
            can_approve: can_approve && d.approval == hedui_store::Approval::Pending,
        }
    }
}

/// A household member row.
#[derive(Debug, Clone)]
pub struct MemberView {
    pub member_id: String,
    pub name: String,
    pub relation: String,
    pub id_masked: String,
}

/// The case header.
#[derive(Debug, Clone)]
pub struct CaseView {
    pub case_id: String,
    pub programme_label: String,
    pub status: String,
    pub county_name: String,
    pub township_name: String,
    pub address: String,
    pub benefit: String,
    pub next_review: String,
}

impl CaseView {
    pub fn new(c: &hedui_model::flag::CaseRecord) -> CaseView {
        CaseView {
            case_id: c.case_id.clone(),
            programme_label: programme_label_zh(&c.programme).to_owned(),
            status: c.status.clone(),
            county_name: county_name(&c.county_code),
            township_name: township_name(&c.township_code),
            address: c.address.clone(),
            benefit: money(c.monthly_benefit),
            next_review: c.next_review.map(|d| d.to_string()).unwrap_or_default(),
        }
    }
}

/// An identity-review card.
#[derive(Debug, Clone)]
pub struct ReviewView {
    pub review_id: String,
    pub left_key: String,
    pub right_key: String,
    pub case_id: String,
    pub probability: String,
    pub weight: String,
    pub status_label: String,
    pub fields: Vec<(String, String, String)>,
    pub bars: Vec<Bar>,
    pub svg_h: i64,
    pub decided_by: String,
    pub decided_at: String,
}

/// An audit row.
#[derive(Debug, Clone)]
pub struct AuditView {
    pub at: String,
    pub username: String,
    pub role: String,
    pub scope: String,
    pub client_ip: String,
    pub action_label: String,
    pub result: String,
    pub case_id: String,
    pub flag_id: String,
    pub fields: String,
    pub purpose: String,
    pub result_count: i64,
}

// ------------------------------------------------------------------------------- templates

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub nav: Option<Nav>,
    pub csrf: String,
    pub message: String,
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub nav: Option<Nav>,
    pub title: String,
    pub message: String,
    pub back: String,
}

#[derive(Template)]
#[template(path = "queue.html")]
pub struct QueuePage {
    pub nav: Option<Nav>,
    pub counties: Vec<Opt>,
    pub townships: Vec<Opt>,
    pub types: Vec<Opt>,
    pub severities: Vec<Opt>,
    pub statuses: Vec<Opt>,
    pub deadline: String,
    pub query: String,
    pub total: i64,
    pub page: i64,
    pub pages: i64,
    pub rows: Vec<FlagRow>,
}

#[derive(Template)]
#[template(path = "flag.html")]
pub struct FlagPage {
    pub nav: Option<Nav>,
    pub csrf: String,
    pub message: String,
    pub message_class: String,
    pub f: FlagView,
    pub evidence: Vec<EvidenceView>,
    pub decisions: Vec<DecisionView>,
    pub history: Vec<FlagRow>,
    pub can_decide: bool,
    pub status_options: Vec<Opt>,
    pub outcome_options: Vec<Opt>,
    pub reason_codes: Vec<&'static str>,
    pub svg_width: i64,
    pub svg_axis: i64,
}

#[derive(Template)]
#[template(path = "case.html")]
pub struct CasePage {
    pub nav: Option<Nav>,
    pub csrf: String,
    pub c: CaseView,
    pub members: Vec<MemberView>,
    pub history: Vec<FlagRow>,
    pub can_reveal: bool,
}

#[derive(Template)]
#[template(path = "reveal.html")]
pub struct RevealPage {
    pub nav: Option<Nav>,
    pub case_id: String,
    pub name: String,
    pub relation: String,
    pub id_number: String,
    pub reason: String,
}

#[derive(Template)]
#[template(path = "reviews.html")]
pub struct ReviewsPage {
    pub nav: Option<Nav>,
    pub csrf: String,
    pub message: String,
    pub statuses: Vec<Opt>,
    pub status: String,
    pub total: i64,
    pub page: i64,
    pub pages: i64,
    pub rows: Vec<ReviewView>,
    pub can_decide: bool,
    pub svg_width: i64,
    pub svg_axis: i64,
}

#[derive(Template)]
#[template(path = "audit.html")]
pub struct AuditPage {
    pub nav: Option<Nav>,
    pub username: String,
    pub actions: Vec<Opt>,
    pub query: String,
    pub total: i64,
    pub page: i64,
    pub pages: i64,
    pub rows: Vec<AuditView>,
}

#[derive(Template)]
#[template(path = "approvals.html")]
pub struct ApprovalsPage {
    pub nav: Option<Nav>,
    pub rows: Vec<DecisionView>,
}

/// Reason codes offered on the decision form (DOMAIN.md §6.3).
pub const REASON_CODES: [&str; 12] = [
    "死亡",
    "户籍迁出",
    "收入超过标准",
    "财产超过标准",
    "新增成员",
    "服刑或强制隔离",
    "实现就业",
    "领取养老金",
    "重复享受",
    "身份信息不符",
    "核实无误（误报）",
    "部门数据错误",
];

/// Status options for the decision form.
pub fn status_options() -> Vec<Opt> {
    FlagStatus::ALL
        .into_iter()
        .map(|s| Opt {
            value: s.as_str().to_owned(),
            label: s.label_zh().to_owned(),
            selected: false,
        })
        .collect()
}
