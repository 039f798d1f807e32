//! The store's value types: roles and users, flag states, decisions, audit entries, queries.

use chrono::NaiveDate;
use hedui_model::flag::{Flag, LinkReview};
use serde::{Deserialize, Serialize};

/// A workbench role (DOMAIN.md §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// City 民政局 administrator: sees and decides everything, approves, reads the audit log.
    CityAdmin,
    /// County 救助股 reviewer: own county; decides and approves.
    CountyReviewer,
    /// 乡镇/街道 经办员: own township; records decisions (reductions and stops need approval).
    TownshipCaseworker,
    /// Identity-link reviewer: the clerical-review queue only, no flags or households.
    Analyst,
    /// Auditor / 纪检: reads everything, changes nothing; every access is logged.
    Auditor,
}

impl Role {
    /// Every role, in display order.
    pub const ALL: [Role; 5] = [
        Role::CityAdmin,
        Role::CountyReviewer,
        Role::TownshipCaseworker,
        Role::Analyst,
        Role::Auditor,
    ];

    /// The code stored and accepted on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::CityAdmin => "city_admin",
            Role::CountyReviewer => "county_reviewer",
            Role::TownshipCaseworker => "township_caseworker",
            Role::Analyst => "analyst",
            Role::Auditor => "auditor",
        }
    }

    /// Parses a role code.
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s.trim())
    }

    /// The caseworker-facing label.
    pub fn label_zh(self) -> &'static str {
        match self {
            Role::CityAdmin => "市级管理员",
            Role::CountyReviewer => "区县审核员",
            Role::TownshipCaseworker => "乡镇经办员",
            Role::Analyst => "身份核验分析员",
            Role::Auditor => "审计员",
        }
    }
}

/// Where a user may look: the jurisdiction of the cases, never the ID prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scope {
    /// Every case of the city.
    City,
    /// Cases of one county (6-digit code).
    County(String),
    /// Cases of one township (9-digit code).
    Township(String),
    /// No cases at all (analysts).
    NoCases,
}

impl Scope {
    /// Whether a case in `county`/`township` is inside this scope.
    pub fn covers(&self, county: &str, township: &str) -> bool {
        match self {
            Scope::City => true,
            Scope::County(c) => c == county,
            Scope::Township(t) => t == township,
            Scope::NoCases => false,
        }
    }

    /// A compact text form for the audit log (`city`, `county:421321`, …).
    pub fn describe(&self) -> String {
        match self {
            Scope::City => "city".to_owned(),
            Scope::County(c) => format!("county:{c}"),
            Scope::Township(t) => format!("township:{t}"),
            Scope::NoCases => "none".to_owned(),
        }
    }
}

/// A workbench user (never carries the password hash out of the store).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Row id.
    pub user_id: i64,
    /// Login name.
    pub username: String,
    /// Role.
    pub role: Role,
    /// County code for county reviewers (and the county of a township caseworker).
    pub county_code: Option<String>,
    /// Township code for township caseworkers.
    pub township_code: Option<String>,
    /// Disabled users cannot log in.
    pub active: bool,
}

impl User {
    /// The cases this user may see.
    pub fn scope(&self) -> Scope {
        match self.role {
            Role::CityAdmin | Role::Auditor => Scope::City,
            Role::CountyReviewer => match &self.county_code {
                Some(c) => Scope::County(c.clone()),
                None => Scope::NoCases,
            },
            Role::TownshipCaseworker => match &self.township_code {
                Some(t) => Scope::Township(t.clone()),
                None => Scope::NoCases,
            },
            Role::Analyst => Scope::NoCases,
        }
    }

    /// Whether the user may see flags and households at all.
    pub fn sees_cases(&self) -> bool {
        !matches!(self.scope(), Scope::NoCases)
    }

    /// Whether the user may open a case in `county`/`township`.
    pub fn can_view_case(&self, county: &str, township: &str) -> bool {
        self.scope().covers(county, township)
    }

    /// Whether the user may record decisions on a case in `county`/`township`.
    pub fn can_decide(&self, county: &str, township: &str) -> bool {
        matches!(
            self.role,
            Role::CityAdmin | Role::CountyReviewer | Role::TownshipCaseworker
        ) && self.can_view_case(county, township)
    }

    /// Whether the user may approve a decision on a case in `county` (乡镇负责人/county level).
    pub fn can_approve(&self, county: &str, township: &str) -> bool {
        matches!(self.role, Role::CityAdmin | Role::CountyReviewer)
            && self.can_view_case(county, township)
    }

    /// Whether the user may reveal a full ID number of a case in scope (audited).
    pub fn can_reveal(&self, county: &str, township: &str) -> bool {
        self.can_decide(county, township)
    }

    /// Whether health and financial detail (`Evidence::sensitive`) is shown: only to those who
    /// work the case (township caseworker, county reviewer), not to analysts, auditors or the
    /// city level, which see that sensitive detail exists but not its values.
    pub fn sees_sensitive(&self, county: &str, township: &str) -> bool {
        matches!(self.role, Role::CountyReviewer | Role::TownshipCaseworker)
            && self.can_view_case(county, township)
    }

    /// Whether the user may see the identity-review queue.
    pub fn can_view_reviews(&self) -> bool {
        matches!(self.role, Role::Analyst | Role::CityAdmin | Role::Auditor)
    }

    /// Whether the user may decide identity reviews.
    pub fn can_decide_reviews(&self) -> bool {
        matches!(self.role, Role::Analyst | Role::CityAdmin)
    }

    /// Whether the user may read the audit log.
    pub fn can_read_audit(&self) -> bool {
        matches!(self.role, Role::Auditor | Role::CityAdmin)
    }
}

/// A user to create.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Login name (letters, digits, `_`, `-`, `.`; 2–64 characters).
    pub username: String,
    /// Role.
    pub role: Role,
    /// Required for county reviewers; derived from the township for caseworkers when absent.
    pub county_code: Option<String>,
    /// Required for township caseworkers.
    pub township_code: Option<String>,
}

/// A flag's workflow state (DOMAIN.md §6.3 `status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlagStatus {
    /// 待处理.
    Open,
    /// 核实中.
    Investigating,
    /// 已处理.
    Resolved,
    /// 误报: kept with its reason so the same evidence is not raised again.
    Dismissed,
    /// 数据错误: returned to the source department.
    DataError,
}

impl FlagStatus {
    /// Every status, in workflow order.
    pub const ALL: [FlagStatus; 5] = [
        FlagStatus::Open,
        FlagStatus::Investigating,
        FlagStatus::Resolved,
        FlagStatus::Dismissed,
        FlagStatus::DataError,
    ];

    /// Stored code.
    pub fn as_str(self) -> &'static str {
        match self {
            FlagStatus::Open => "open",
            FlagStatus::Investigating => "investigating",
            FlagStatus::Resolved => "resolved",
            FlagStatus::Dismissed => "dismissed",
            FlagStatus::DataError => "data_error",
        }
    }

    /// Parses a stored code.
    pub fn parse(s: &str) -> Option<FlagStatus> {
        FlagStatus::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// The caseworker-facing label.
    pub fn label_zh(self) -> &'static str {
        match self {
            FlagStatus::Open => "待处理",
            FlagStatus::Investigating => "核实中",
            FlagStatus::Resolved => "已处理",
            FlagStatus::Dismissed => "误报",
            FlagStatus::DataError => "数据错误",
        }
    }

    /// Whether the flag is closed (no more work expected).
    pub fn is_closed(self) -> bool {
        matches!(
            self,
            FlagStatus::Resolved | FlagStatus::Dismissed | FlagStatus::DataError
        )
    }
}

/// A decision outcome (DOMAIN.md §6.3 `outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// 维持.
    Maintain,
    /// 增发.
    Increase,
    /// 减发.
    Reduce,
    /// 停发.
    Stop,
    /// 增员.
    AddMember,
    /// 减员.
    RemoveMember,
    /// 转类别 (低保→特困, 低保→边缘).
    ChangeCategory,
    /// 追回.
    Recover,
    /// 转介临时救助.
    ReferTemporary,
    /// 转入渐退期.
    PhaseOut,
    /// 身份不符.
    IdentityMismatch,
}

impl Outcome {
    /// Every outcome, in display order.
    pub const ALL: [Outcome; 11] = [
        Outcome::Maintain,
        Outcome::Increase,
        Outcome::Reduce,
        Outcome::Stop,
        Outcome::AddMember,
        Outcome::RemoveMember,
        Outcome::ChangeCategory,
        Outcome::Recover,
        Outcome::ReferTemporary,
        Outcome::PhaseOut,
        Outcome::IdentityMismatch,
    ];

    /// Stored code.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Maintain => "maintain",
            Outcome::Increase => "increase",
            Outcome::Reduce => "reduce",
            Outcome::Stop => "stop",
            Outcome::AddMember => "add_member",
            Outcome::RemoveMember => "remove_member",
            Outcome::ChangeCategory => "change_category",
            Outcome::Recover => "recover",
            Outcome::ReferTemporary => "refer_temporary",
            Outcome::PhaseOut => "phase_out",
            Outcome::IdentityMismatch => "identity_mismatch",
        }
    }

    /// Parses a stored code.
    pub fn parse(s: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// The caseworker-facing label.
    pub fn label_zh(self) -> &'static str {
        match self {
            Outcome::Maintain => "维持",
            Outcome::Increase => "增发",
            Outcome::Reduce => "减发",
            Outcome::Stop => "停发",
            Outcome::AddMember => "增员",
            Outcome::RemoveMember => "减员",
            Outcome::ChangeCategory => "转类别",
            Outcome::Recover => "追回",
            Outcome::ReferTemporary => "转介临时救助",
            Outcome::PhaseOut => "转入渐退期",
            Outcome::IdentityMismatch => "身份不符",
        }
    }

    /// Reductions and stops need a written notice (DOMAIN.md §6.3).
    pub fn needs_notice(self) -> bool {
        matches!(self, Outcome::Reduce | Outcome::Stop)
    }

    /// Outcomes that change the payment need an effective month.
    pub fn needs_effective_month(self) -> bool {
        matches!(
            self,
            Outcome::Increase | Outcome::Reduce | Outcome::Stop | Outcome::ChangeCategory
        )
    }

    /// Outcomes a township caseworker records but the county (or city) must approve.
    pub fn needs_approval(self) -> bool {
        matches!(
            self,
            Outcome::Reduce | Outcome::Stop | Outcome::ChangeCategory | Outcome::Recover
        )
    }
}

/// Where a decision stands in the approval chain (经办人 → 乡镇负责人/区县).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Approval {
    /// No approval needed.
    NotRequired,
    /// Waiting for a county reviewer or the city.
    Pending,
    /// Approved.
    Approved,
    /// Rejected: the flag goes back to 核实中.
    Rejected,
}

impl Approval {
    /// Stored code.
    pub fn as_str(self) -> &'static str {
        match self {
            Approval::NotRequired => "none",
            Approval::Pending => "pending",
            Approval::Approved => "approved",
            Approval::Rejected => "rejected",
        }
    }

    /// Parses a stored code.
    pub fn parse(s: &str) -> Option<Approval> {
        [
            Approval::NotRequired,
            Approval::Pending,
            Approval::Approved,
            Approval::Rejected,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }

    /// The caseworker-facing label.
    pub fn label_zh(self) -> &'static str {
        match self {
            Approval::NotRequired => "无需审批",
            Approval::Pending => "待审批",
            Approval::Approved => "已审批",
            Approval::Rejected => "已退回",
        }
    }
}

/// A decision as a user enters it.
#[derive(Debug, Clone, Default)]
pub struct NewDecision {
    /// New status (required).
    pub status: Option<FlagStatus>,
    /// Outcome (required when the status is 已处理).
    pub outcome: Option<Outcome>,
    /// New monthly amount, yuan (required for 减发 and 增发).
    pub new_amount: Option<f64>,
    /// Effective month `YYYYMM` (required for outcomes that change the payment).
    pub effective_month: Option<String>,
    /// Reason code (死亡, 迁出, 收入超标 …).
    pub reason_code: String,
    /// Free-text reason.
    pub reason: String,
    /// Notice type (书面告知书 …): mandatory for 减发/停发.
    pub notice_type: Option<String>,
    /// Notice date: mandatory for 减发/停发.
    pub notice_date: Option<NaiveDate>,
    /// Delivery method (直接送达, 邮寄 …): mandatory for 减发/停发.
    pub notice_method: Option<String>,
}

/// A recorded decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// Row id.
    pub decision_id: i64,
    /// The flag decided.
    pub flag_id: String,
    /// Status set.
    pub status: FlagStatus,
    /// Outcome, when given.
    pub outcome: Option<Outcome>,
    /// New monthly amount.
    pub new_amount: Option<f64>,
    /// Effective month `YYYYMM`.
    pub effective_month: Option<String>,
    /// Reason code.
    pub reason_code: String,
    /// Free-text reason.
    pub reason: String,
    /// Notice type.
    pub notice_type: Option<String>,
    /// Notice date (`YYYY-MM-DD`).
    pub notice_date: Option<String>,
    /// Notice delivery method.
    pub notice_method: Option<String>,
    /// Who recorded it.
    pub decided_by: String,
    /// Their role.
    pub decided_role: String,
    /// When (RFC 3339, UTC).
    pub decided_at: String,
    /// Approval state.
    pub approval: Approval,
    /// Who approved or rejected.
    pub approved_by: Option<String>,
    /// When.
    pub approved_at: Option<String>,
    /// Approver's note.
    pub approval_note: Option<String>,
}

/// A flag with its casework state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredFlag {
    /// The flag as verification raised it.
    pub flag: Flag,
    /// Workflow status.
    pub status: FlagStatus,
    /// Outcome of the latest effective decision.
    pub outcome: Option<Outcome>,
    /// Approval state of the latest decision.
    pub approval: Approval,
    /// The run that raised it first.
    pub first_run: String,
    /// The latest run that raised it again.
    pub last_run: String,
}

/// Filters of the work queue; empty fields do not filter.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FlagQuery {
    /// County code.
    pub county: Option<String>,
    /// Township code.
    pub township: Option<String>,
    /// Flag type (`DYN-DEATH` …).
    pub flag_type: Option<String>,
    /// Severity code (`high`, `medium`, `info`).
    pub severity: Option<String>,
    /// Status code (`open` …).
    pub status: Option<String>,
    /// Deadline on or before this date.
    pub deadline_before: Option<NaiveDate>,
    /// Case id (household history).
    pub case_id: Option<String>,
}

/// A user's action recorded in the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    /// Logged in (or failed to).
    Login,
    /// Logged out.
    Logout,
    /// Looked at personal data (queue, flag, household, reviews).
    View,
    /// Revealed a full ID number.
    Reveal,
    /// Exported a list.
    Export,
    /// Recorded or approved a decision.
    Decide,
    /// A request refused for lack of permission.
    Denied,
}

impl AuditAction {
    /// Stored code.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::Login => "login",
            AuditAction::Logout => "logout",
            AuditAction::View => "view",
            AuditAction::Reveal => "reveal",
            AuditAction::Export => "export",
            AuditAction::Decide => "decide",
            AuditAction::Denied => "denied",
        }
    }

    /// The auditor-facing label.
    pub fn label_zh(code: &str) -> &'static str {
        match code {
            "login" => "登录",
            "logout" => "退出",
            "view" => "查看",
            "reveal" => "查看完整证件号",
            "export" => "导出",
            "decide" => "处理决定",
            "denied" => "拒绝访问",
            _ => "其他",
        }
    }
}

/// An audit entry to append. The store stamps the time.
#[derive(Debug, Clone, Default)]
pub struct NewAudit {
    /// User name (or the attempted login name).
    pub username: String,
    /// Role code (empty when not logged in).
    pub role: String,
    /// Scope description (`county:421321` …).
    pub scope: String,
    /// Client IP address.
    pub client_ip: String,
    /// Action code (see [`AuditAction::as_str`]).
    pub action: String,
    /// `ok`, `denied`, `failed`.
    pub result: String,
    /// Case concerned.
    pub case_id: Option<String>,
    /// Flag concerned.
    pub flag_id: Option<String>,
    /// Fields revealed or touched (e.g. `id_number:member M1`).
    pub fields: String,
    /// Purpose / reason given by the user, or the request path.
    pub purpose: String,
    /// Number of records shown or exported.
    pub result_count: i64,
    /// Further detail (never personal data).
    pub detail: String,
}

/// A stored audit entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Row id (increasing).
    pub audit_id: i64,
    /// Time (RFC 3339, UTC).
    pub at: String,
    /// User name.
    pub username: String,
    /// Role code.
    pub role: String,
    /// Scope description.
    pub scope: String,
    /// Client IP.
    pub client_ip: String,
    /// Action code.
    pub action: String,
    /// `ok`, `denied`, `failed`.
    pub result: String,
    /// Case concerned.
    pub case_id: Option<String>,
    /// Flag concerned.
    pub flag_id: Option<String>,
    /// Fields revealed.
    pub fields: String,
    /// Purpose / reason.
    pub purpose: String,
    /// Result count.
    pub result_count: i64,
    /// Detail.
    pub detail: String,
}

/// Filters of the audit log view.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Only this user.
    pub username: Option<String>,
    /// Only this action code.
    pub action: Option<String>,
    /// Only this flag.
    pub flag_id: Option<String>,
    /// Only this case.
    pub case_id: Option<String>,
}

/// A run of the nightly pipeline as the store records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunInfo {
    /// Run id.
    pub run_id: String,
    /// As-of date of the check.
    pub as_of: NaiveDate,
}

/// A recorded run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Run id.
    pub run_id: String,
    /// As-of date.
    pub as_of: String,
    /// Start time (RFC 3339).
    pub started_at: String,
    /// Finish time.
    pub finished_at: Option<String>,
    /// `running`, `published`, `succeeded`, `failed` …
    pub status: String,
    /// Free-text summary (counts; never personal data).
    pub summary: String,
}

/// What one publication changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishReport {
    /// Cases inserted or updated.
    pub cases: usize,
    /// Flags seen for the first time.
    pub new_flags: usize,
    /// Flags already in the store and still open or being worked: kept with their state.
    pub unchanged_flags: usize,
    /// Flags already decided (已处理/数据错误): kept with their decision and outcome.
    pub decided_flags: usize,
    /// Flags dismissed earlier (误报) raised again on the same evidence: not reopened.
    pub suppressed_flags: usize,
    /// Identity reviews queued for the first time.
    pub new_reviews: usize,
    /// Identity reviews already queued or decided.
    pub existing_reviews: usize,
}

impl PublishReport {
    /// Flags received (= new + unchanged + decided + suppressed).
    pub fn flags_received(&self) -> usize {
        self.new_flags + self.unchanged_flags + self.decided_flags + self.suppressed_flags
    }
}

/// State of an identity review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewStatus {
    /// Waiting for an analyst.
    Pending,
    /// Same person (must-link).
    Same,
    /// Not the same person (cannot-link).
    Different,
}

impl ReviewStatus {
    /// Stored code.
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewStatus::Pending => "pending",
            ReviewStatus::Same => "same",
            ReviewStatus::Different => "different",
        }
    }

    /// Parses a stored code.
    pub fn parse(s: &str) -> Option<ReviewStatus> {
        [
            ReviewStatus::Pending,
            ReviewStatus::Same,
            ReviewStatus::Different,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }

    /// The analyst-facing label.
    pub fn label_zh(self) -> &'static str {
        match self {
            ReviewStatus::Pending => "待确认",
            ReviewStatus::Same => "同一人",
            ReviewStatus::Different => "非同一人",
        }
    }
}

/// A queued identity review with its state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredReview {
    /// The review as the run queued it.
    pub review: LinkReview,
    /// State.
    pub status: ReviewStatus,
    /// Who decided.
    pub decided_by: Option<String>,
    /// When.
    pub decided_at: Option<String>,
}

/// A decided identity link: a training label and a must-link / cannot-link constraint.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LinkLabel {
    /// `department/dataset/record_id` of one record.
    pub left_key: String,
    /// `department/dataset/record_id` of the other.
    pub right_key: String,
    /// True: same person (must-link); false: not the same person (cannot-link).
    pub same_person: bool,
}
