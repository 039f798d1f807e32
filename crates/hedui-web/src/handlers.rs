//! Request handlers. Each one authenticates, checks the scope of what it touches on the server,
//! writes the audit entry, and renders; refusals are 403 with a `denied` audit entry.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Instant, SystemTime};

use askama::Template;
use axum::Form;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::{DateTime, NaiveDate, Utc};
use hedui_identity::divisions::{COUNTIES, TOWNSHIPS};
use hedui_store::{
    AuditAction, AuditQuery, FlagQuery, FlagStatus, NewAudit, NewDecision, Outcome, ReviewStatus,
    Scope, User,
};
use rand::RngCore;

use crate::Shared;
use crate::views::*;

const SESSION_COOKIE: &str = "hedui_session";
const LOGIN_COOKIE: &str = "hedui_login";

type Form2 = Form<HashMap<String, String>>;

/// The authenticated caller of a request.
pub(crate) struct Ctx {
    pub user: User,
    pub csrf: String,
    pub ip: String,
    pub token: String,
}

fn today() -> NaiveDate {
    DateTime::<Utc>::from(SystemTime::now()).date_naive()
}

fn random_hex() -> String {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// Constant-time comparison of two tokens.
fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && !a.is_empty()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn render(t: &impl Template) -> Response {
    match t.render() {
        Ok(s) => Html(s).into_response(),
        Err(e) => internal(&crate::Error::Render(e)),
    }
}

fn internal(e: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %e, "request failed");
    let page = ErrorPage {
        nav: None,
        title: "系统错误".into(),
        message: "系统内部错误，请稍后重试或联系管理员。".into(),
        back: "/queue".into(),
    };
    let body = page.render().unwrap_or_else(|_| "系统内部错误".to_owned());
    (StatusCode::INTERNAL_SERVER_ERROR, Html(body)).into_response()
}

fn error_page(
    ctx: Option<&Ctx>,
    status: StatusCode,
    title: &str,
    message: &str,
    back: &str,
) -> Response {
    let page = ErrorPage {
        nav: ctx.map(|c| Nav::new(&c.user, &c.csrf)),
        title: title.into(),
        message: message.into(),
        back: back.into(),
    };
    match page.render() {
        Ok(s) => (status, Html(s)).into_response(),
        Err(e) => internal(&crate::Error::Render(e)),
    }
}

/// Finds the session of the request; `Err` is the redirect to the login page.
async fn auth(st: &Shared, headers: &HeaderMap, addr: SocketAddr) -> Result<Ctx, Response> {
    let Some(token) = cookie(headers, SESSION_COOKIE) else {
        return Err(Redirect::to("/login").into_response());
    };
    match st.store.session(&token).await {
        Ok(Some(s)) => Ok(Ctx {
            user: s.user,
            csrf: s.csrf,
            ip: addr.ip().to_string(),
            token,
        }),
        Ok(None) => Err(Redirect::to("/login").into_response()),
        Err(e) => Err(internal(&e)),
    }
}

/// Checks the CSRF token of a POST form.
fn check_csrf(ctx: &Ctx, form: &HashMap<String, String>) -> bool {
    form.get("csrf").is_some_and(|t| same_token(t, &ctx.csrf))
}

pub(crate) struct AuditArgs<'a> {
    action: AuditAction,
    result: &'a str,
    case_id: Option<&'a str>,
    flag_id: Option<&'a str>,
    fields: &'a str,
    purpose: &'a str,
    count: i64,
    detail: &'a str,
}

impl<'a> AuditArgs<'a> {
    fn new(action: AuditAction) -> Self {
        AuditArgs {
            action,
            result: "ok",
            case_id: None,
            flag_id: None,
            fields: "",
            purpose: "",
            count: 0,
            detail: "",
        }
    }
}

/// Writes an audit entry; a failure to audit fails the request (no unaudited access).
async fn audit(st: &Shared, ctx: &Ctx, a: AuditArgs<'_>) -> Result<(), Response> {
    let entry = NewAudit {
        username: ctx.user.username.clone(),
        role: ctx.user.role.as_str().to_owned(),
        scope: ctx.user.scope().describe(),
        client_ip: ctx.ip.clone(),
        action: a.action.as_str().to_owned(),
        result: a.result.to_owned(),
        case_id: a.case_id.map(str::to_owned),
        flag_id: a.flag_id.map(str::to_owned),
        fields: a.fields.to_owned(),
        purpose: a.purpose.to_owned(),
        result_count: a.count,
        detail: a.detail.to_owned(),
    };
    st.store
        .audit(&entry)
        .await
        .map(|_| ())
        .map_err(|e| internal(&e))
}

/// Refuses a request: audit entry `denied`, then 403.
async fn deny(
    st: &Shared,
    ctx: &Ctx,
    path: &str,
    case_id: Option<&str>,
    flag_id: Option<&str>,
) -> Response {
    let mut a = AuditArgs::new(AuditAction::Denied);
    a.result = "denied";
    a.case_id = case_id;
    a.flag_id = flag_id;
    a.purpose = path;
    if let Err(r) = audit(st, ctx, a).await {
        return r;
    }
    tracing::warn!(user = %ctx.user.username, path, "access denied");
    error_page(
        Some(ctx),
        StatusCode::FORBIDDEN,
        "无权访问",
        "您无权访问该内容（超出本人辖区或角色权限）。本次访问已记入审计日志。",
        "/",
    )
}

fn forbidden_csrf(ctx: Option<&Ctx>) -> Response {
    error_page(
        ctx,
        StatusCode::FORBIDDEN,
        "请求无效",
        "表单已过期或来源不明（CSRF校验失败），请刷新页面后重试。",
        "/",
    )
}

fn not_found_page(ctx: &Ctx) -> Response {
    error_page(
        Some(ctx),
        StatusCode::NOT_FOUND,
        "未找到",
        "您要查看的内容不存在。",
        "/",
    )
}

fn session_cookie(st: &Shared, value: &str, max_age: i64) -> HeaderValue {
    let secure = if st.config.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let s = format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    );
    HeaderValue::from_str(&s).unwrap_or_else(|_| HeaderValue::from_static("hedui_session=; Path=/"))
}

// ------------------------------------------------------------------------------ login/out

pub(crate) async fn home(
    State(st): State<Shared>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    match auth(&st, &headers, addr).await {
        Ok(ctx) if ctx.user.sees_cases() => Redirect::to("/queue").into_response(),
        Ok(ctx) if ctx.user.can_view_reviews() => Redirect::to("/reviews").into_response(),
        Ok(_) => Redirect::to("/audit").into_response(),
        Err(r) => r,
    }
}

fn login_page(st: &Shared, headers: &HeaderMap, status: StatusCode, message: &str) -> Response {
    // Keep the browser's current login token when it has one: a second tab or a stray request
    // for /login must not invalidate the form already on screen.
    let token = cookie(headers, LOGIN_COOKIE)
        .filter(|t| t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()))
        .unwrap_or_else(random_hex);
    let page = LoginPage {
        nav: None,
        csrf: token.clone(),
        message: message.into(),
    };
    let secure = if st.config.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let c = format!(
        "{LOGIN_COOKIE}={token}; Path=/login; HttpOnly; SameSite=Strict; Max-Age=3600{secure}"
    );
    match (page.render(), HeaderValue::from_str(&c)) {
        (Ok(body), Ok(cv)) => (status, [(header::SET_COOKIE, cv)], Html(body)).into_response(),
        (Err(e), _) => internal(&crate::Error::Render(e)),
        (_, Err(e)) => internal(&e),
    }
}

pub(crate) async fn login_form(State(st): State<Shared>, headers: HeaderMap) -> Response {
    login_page(&st, &headers, StatusCode::OK, "")
}

pub(crate) async fn login(
    State(st): State<Shared>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form2,
) -> Response {
    let ip = addr.ip().to_string();
    let username = form
        .get("username")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    let password = form.get("password").cloned().unwrap_or_default();
    let csrf_ok = match (cookie(&headers, LOGIN_COOKIE), form.get("csrf")) {
        (Some(c), Some(f)) => same_token(&c, f),
        _ => false,
    };
    if !csrf_ok {
        return forbidden_csrf(None);
    }
    let login_audit = |result: &str, detail: &str| NewAudit {
        username: username.chars().take(64).collect(),
        role: String::new(),
        scope: String::new(),
        client_ip: ip.clone(),
        action: AuditAction::Login.as_str().to_owned(),
        result: result.to_owned(),
        detail: detail.to_owned(),
        ..Default::default()
    };
    let now = Instant::now();
    let ip_key = format!("ip:{ip}");
    let user_key = format!("user:{username}");
    if st.limiter.locked(&ip_key, now) || st.limiter.locked(&user_key, now) {
        if let Err(e) = st.store.audit(&login_audit("locked", "rate limited")).await {
            return internal(&e);
        }
        tracing::warn!(%ip, "login rate-limited");
        return login_page(
            &st,
            &headers,
            StatusCode::TOO_MANY_REQUESTS,
            "登录失败次数过多，账号或地址已被暂时锁定，请5分钟后再试。",
        );
    }
    let user = match st.store.authenticate(&username, &password).await {
        Ok(u) => u,
        Err(e) => return internal(&e),
    };
    let Some(user) = user else {
        let (max, window) = (st.config.max_failures, st.config.lockout);
        st.limiter.fail(&ip_key, now, max, window);
        st.limiter.fail(&user_key, now, max, window);
        if let Err(e) = st
            .store
            .audit(&login_audit("failed", "bad credentials"))
            .await
        {
            return internal(&e);
        }
        return login_page(
            &st,
            &headers,
            StatusCode::UNAUTHORIZED,
            "用户名或密码错误。",
        );
    };
    st.limiter.reset(&user_key);
    let tokens = match st.store.create_session(&user).await {
        Ok(t) => t,
        Err(e) => return internal(&e),
    };
    let mut entry = login_audit("ok", "");
    entry.role = user.role.as_str().to_owned();
    entry.scope = user.scope().describe();
    if let Err(e) = st.store.audit(&entry).await {
        return internal(&e);
    }
    tracing::info!(user = %user.username, role = user.role.as_str(), "login");
    let max_age = i64::try_from(hedui_store::SESSION_TTL.as_secs()).unwrap_or(28_800);
    let mut res = Redirect::to("/").into_response();
    res.headers_mut().append(
        header::SET_COOKIE,
        session_cookie(&st, &tokens.token, max_age),
    );
    res
}

pub(crate) async fn logout(
    State(st): State<Shared>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form2,
) -> Response {
    let ctx = match auth(&st, &headers, addr).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if !check_csrf(&ctx, &form) {
        return forbidden_csrf(Some(&ctx));
    }
    if let Err(e) = st.store.delete_session(&ctx.token).await {
        return internal(&e);
    }
    if let Err(r) = audit(&st, &ctx, AuditArgs::new(AuditAction::Logout)).await {
        return r;
    }
    let mut res = Redirect::to("/login").into_response();
    res.headers_mut()
        .append(header::SET_COOKIE, session_cookie(&st, "", 0));
    res
}

pub(crate) async fn not_found(
    State(st): State<Shared>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    match auth(&st, &headers, addr).await {
        Ok(ctx) => not_found_page(&ctx),
        // Unknown paths (favicon.ico …) get a plain 404, not a redirect to the login page.
        Err(_) => error_page(
            None,
            StatusCode::NOT_FOUND,
            "未找到",
            "您要查看的内容不存在。",
            "/login",
        ),
    }
}

// ---------------------------------------------------------------------------------- queue

/// Reads the queue filters; `Err` names an out-of-scope filter.
fn queue_filters(q: &HashMap<String, String>, user: &User) -> Result<FlagQuery, String> {
    let get = |k: &str| {
        q.get(k)
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    };
    let fq = FlagQuery {
        county: get("county"),
        township: get("township"),
        flag_type: get("flag_type"),
        severity: get("severity"),
        status: get("status"),
        deadline_before: get("deadline").and_then(|d| hedui_store::parse_date(&d)),
        case_id: None,
    };
    // A filter naming a place outside the user's scope is a request for data the user may not
    // see: refuse it (and audit) rather than silently return nothing.
    match user.scope() {
        Scope::City => {}
        Scope::County(c) => {
            if fq.county.as_ref().is_some_and(|x| *x != c)
                || fq.township.as_ref().is_some_and(|t| !t.starts_with(&c))
            {
                return Err("filter outside county".into());
            }
        }
        Scope::Township(t) => {
            if fq
                .county
                .as_ref()
                .is_some_and(|x| !t.starts_with(x.as_str()))
                || fq.township.as_ref().is_some_and(|x| *x != t)
            {
                return Err("filter outside township".into());
            }
        }
        Scope::NoCases => return Err("role sees no cases".into()),
    }
    Ok(fq)
}

fn encode_query(fq: &FlagQuery, deadline_raw: &str) -> String {
    let mut parts = Vec::new();
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    for (k, v) in [
        ("county", &fq.county),
        ("township", &fq.township),
        ("flag_type", &fq.flag_type),
        ("severity", &fq.severity),
        ("status", &fq.status),
    ] {
        if let Some(v) = v {
            parts.push(format!("{k}={}", enc(v)));
        }
    }
    if fq.deadline_before.is_some() {
        parts.push(format!("deadline={}", enc(deadline_raw)));
    }
    parts.join("&")
}

pub(crate) async fn queue(
    State(st): State<Shared>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let ctx = match auth(&st, &headers, addr).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let fq = match queue_filters(&q, &ctx.user) {
        Ok(f) => f,
        Err(_) => return deny(&st, &ctx, "/queue", None, None).await,
    };
    let scope = ctx.user.scope();
    let page = q
        .get("page")
        .and_then(|p| p.parse::<i64>().ok())
        .unwrap_or(1)
        .max(1);
    let size = st.config.page_size.max(1);
    let (rows, total) = match st.store.flags(&fq, &scope, size, (page - 1) * size).await {
        Ok(r) => r,
        Err(e) => return internal(&e),
    };
    let types = match st.store.flag_types(&scope).await {
        Ok(t) => t,
        Err(e) => return internal(&e),
    };
    let mut a = AuditArgs::new(AuditAction::View);
    a.purpose = "/queue";
    a.count = rows.len() as i64;
    a.detail = "work queue";
    if let Err(r) = audit(&st, &ctx, a).await {
        return r;
    }
    let sel = |v: &Option<String>, x: &str| v.as_deref() == Some(x);
    let counties = COUNTIES
        .iter()
        .filter(|c| {
            scope == Scope::City
                || matches!(&scope, Scope::County(x) if x == c.code)
                || matches!(&scope, Scope::Township(t) if t.starts_with(c.code))
        })
        .map(|c| Opt {
            value: c.code.to_owned(),
            label: c.name.to_owned(),
            selected: sel(&fq.county, c.code),
        })
        .collect();
    let townships = TOWNSHIPS
        .iter()
        .filter(|t| scope.covers(&t.code[..6], t.code))
        .filter(|t| {
            fq.county
                .as_ref()
                .is_none_or(|c| t.code.starts_with(c.as_str()))
        })
        .map(|t| Opt {
            value: t.code.to_owned(),
            label: format!("{} {}", county_name(&t.code[..6]), t.name),
            selected: sel(&fq.township, t.code),
        })
        .collect();
    let types = types
        .iter()
        .map(|t| Opt {
            value: t.clone(),
            label: format!("{}（{t}）", flag_type_label(t)),
            selected: sel(&fq.flag_type, t),
        })
        .collect();
    let severities = [("high", "高"), ("medium", "中"), ("info", "提示")]
        .iter()
        .map(|(v, l)| Opt {
            value: (*v).to_owned(),
            label: (*l).to_owned(),
            selected: sel(&fq.severity, v),
        })
        .collect();
    let statuses = FlagStatus::ALL
        .iter()
        .map(|s| Opt {
            value: s.as_str().to_owned(),
            label: s.label_zh().to_owned(),
            selected: sel(&fq.status, s.as_str()),
        })
        .collect();
    let deadline_raw = q.get("deadline").cloned().unwrap_or_default();
    let t = today();
    let page_view = QueuePage {
        nav: Some(Nav::new(&ctx.user, &ctx.csrf)),
        counties,
        townships,
        types,
        severities,
        statuses,
        deadline: fq
            .deadline_before
            .map(|d| d.to_string())
            .unwrap_or_default(),
        query: encode_query(&fq, &deadline_raw),
        total,
        page,
        pages: ((total + size - 1) / size).max(1),
        rows: rows.iter().map(|r| FlagRow::new(r, t)).collect(),
    };
    render(&page_view)
}

pub(crate) async fn export_queue(
    State(st): State<Shared>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let ctx = match auth(&st, &headers, addr).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let fq = match queue_filters(&q, &ctx.user) {
        Ok(f) => f,
        Err(_) => return deny(&st, &ctx, "/queue/export", None, None).await,
    };
    let (rows, _) = match st
        .store
        .flags(&fq, &ctx.user.scope(), st.config.max_export_rows, 0)
        .await
    {
        Ok(r) => r,
        Err(e) => return internal(&e),
    };
    let bytes = match crate::export::queue_xlsx(&rows, today()) {
        Ok(b) => b,
        Err(e) => return internal(&e),
    };
    let mut a = AuditArgs::new(AuditAction::Export);
    a.purpose = "/queue/export";
    a.count = rows.len() as i64;
    a.fields = "queue (masked IDs)";
    let filters = format!("{fq:?}");
    a.detail = &filters;
    if let Err(r) = audit(&st, &ctx, a).await {
        return r;
    }
    let name = format!(
        "attachment; filename=\"hedui-queue-{}.xlsx\"",
        today().format("%Y%m%d")
    );
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                ),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&name)
                    .unwrap_or_else(|_| HeaderValue::from_static("attachment")),
            ),
        ],
        bytes,
    )
        .into_response()
}

// ------------------------------------------------------------------------------ flag page

async fn flag_page_inner(
    st: &Shared,
    ctx: &Ctx,
    flag_id: &str,
    message: &str,
    ok: bool,
    status: StatusCode,
) -> Response {
    let path = format!("/flags/{flag_id}");
    let sf = match st.store.flag(flag_id).await {
        Ok(Some(f)) => f,
        Ok(None) => return not_found_page(ctx),
        Err(e) => return internal(&e),
    };
    let s = &sf.flag.subject;
    if !ctx.user.can_view_case(&s.county_code, &s.township_code) {
        return deny(st, ctx, &path, Some(&s.case_id), Some(flag_id)).await;
    }
    let decisions = match st.store.decisions(flag_id).await {
        Ok(d) => d,
        Err(e) => return internal(&e),
    };
    let case = match st.store.case(&s.case_id).await {
        Ok(c) => c,
        Err(e) => return internal(&e),
    };
    let hq = FlagQuery {
        case_id: Some(s.case_id.clone()),
        ..Default::default()
    };
    let (history, _) = match st.store.flags(&hq, &ctx.user.scope(), 200, 0).await {
        Ok(h) => h,
        Err(e) => return internal(&e),
    };
    let show_sensitive = ctx.user.sees_sensitive(&s.county_code, &s.township_code);
    let member_label = |mid: &str| -> String {
        case.as_ref()
            .and_then(|c| c.members.iter().find(|m| m.member_id == mid))
            .map(|m| {
                format!(
                    "{}（{}）",
                    hedui_identity::name::mask_name(&m.name),
                    m.relation
                )
            })
            .unwrap_or_else(|| mid.to_owned())
    };
    let sensitive_hidden = sf.flag.evidence.iter().filter(|e| e.sensitive).count();
    let mut a = AuditArgs::new(AuditAction::View);
    a.case_id = Some(&s.case_id);
    a.flag_id = Some(flag_id);
    a.purpose = &path;
    a.count = sf.flag.evidence.len() as i64;
    let fields = if show_sensitive && sensitive_hidden > 0 {
        "evidence incl. sensitive"
    } else {
        "evidence"
    };
    a.fields = fields;
    if let Err(r) = audit(st, ctx, a).await {
        return r;
    }
    let t = today();
    let can_approve = ctx.user.can_approve(&s.county_code, &s.township_code);
    let page = FlagPage {
        nav: Some(Nav::new(&ctx.user, &ctx.csrf)),
        csrf: ctx.csrf.clone(),
        message: message.to_owned(),
        message_class: if ok { "ok".into() } else { "error".into() },
        f: FlagView::new(&sf, t),
        evidence: sf
            .flag
            .evidence
            .iter()
            .map(|e| EvidenceView::new(e, show_sensitive, member_label(&e.member_id)))
            .collect(),
        decisions: decisions
            .iter()
            .map(|d| DecisionView::new(d, can_approve && d.decided_by != ctx.user.username))
            .collect(),
        history: history
            .iter()
            .filter(|h| h.flag.flag_id != flag_id)
            .map(|h| FlagRow::new(h, t))
            .collect(),
        can_decide: ctx.user.can_decide(&s.county_code, &s.township_code),
        status_options: status_options(),
        outcome_options: Outcome::ALL
            .iter()
            .map(|o| Opt {
                value: o.as_str().to_owned(),
                label: o.label_zh().to_owned(),
                selected: false,
            })
            .collect(),
        reason_codes: REASON_CODES.to_vec(),
        svg_width: SVG_WIDTH,
        svg_axis: SVG_AXIS,
    };
    match page.render() {
        Ok(b) => (status, Html(b)).into_response(),
        Err(e) => internal(&crate::Error::Render(e)),
    }
}

pub(crate) async fn flag_page(
    State(st): State<Shared>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(flag_id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let ctx = match auth(&st, &headers, addr).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let msg = match q.get("saved").map(String::as_str) {
        Some("decision") => "处理决定已保存。",
        Some("pending") => "处理决定已保存，等待区县审批。",
        Some("approved") => "审批已记录。",
        _ => "",
    };
    flag_page_inner(&st, &ctx, &flag_id, msg, true, StatusCode::OK).await
}

fn opt_field(form: &HashMap<String, String>, k: &str) -> Option<String> {
    form.get(k)
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

pub(crate) async fn decide(
    State(st): State<Shared>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(flag_id): Path<String>,
    Form(form): Form2,
) -> Response {
    let ctx = match auth(&st, &headers, addr).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if !check_csrf(&ctx, &form) {
        return forbidden_csrf(Some(&ctx));
    }
    let path = format!("/flags/{flag_id}/decide");
    let sf = match st.store.flag(&flag_id).await {
        Ok(Some(f)) => f,
        Ok(None) => return not_found_page(&ctx),
        Err(e) => return internal(&e),
    };
    let s = &sf.flag.subject;
    if !ctx.user.can_decide(&s.county_code, &s.township_code) {
        return deny(&st, &ctx, &path, Some(&s.case_id), Some(&flag_id)).await;
    }
    let amount = opt_field(&form, "new_amount");
    let new_amount = match amount.as_deref().map(str::parse::<f64>) {
        None => None,
        Some(Ok(a)) => Some(a),
        Some(Err(_)) => {
            return flag_page_inner(
                &st,
                &ctx,
                &flag_id,
                "金额格式不正确",
                false,
                StatusCode::BAD_REQUEST,
            )
            .await;
        }
    };
    let notice_date = opt_field(&form, "notice_date");
    let d = NewDecision {
        status: opt_field(&form, "status")
            .as_deref()
            .and_then(FlagStatus::parse),
        outcome: opt_field(&form, "outcome")
            .as_deref()
            .and_then(Outcome::parse),
        new_amount,
        effective_month: opt_field(&form, "effective_month"),
        reason_code: opt_field(&form, "reason_code").unwrap_or_default(),
        reason: opt_field(&form, "reason").unwrap_or_default(),
        notice_type: opt_field(&form, "notice_type"),
        notice_date: notice_date.as_deref().and_then(hedui_store::parse_date),
        notice_method: opt_field(&form, "notice_method"),
    };
    if notice_date.is_some() && d.notice_date.is_none() {
        return flag_page_inner(
            &st,
            &ctx,
            &flag_id,
            "告知日期格式不正确",
            false,
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    match st.store.record_decision(&flag_id, &d, &ctx.user).await {
        Ok(dec) => {
            let mut a = AuditArgs::new(AuditAction::Decide);
            a.case_id = Some(&s.case_id);
            a.flag_id = Some(&flag_id);
            a.purpose = &path;
            a.count = 1;
            let detail = format!(
                "decision {} status={} outcome={} approval={}",
                dec.decision_id,
                dec.status.as_str(),
                dec.outcome.map(Outcome::as_str).unwrap_or("-"),
                dec.approval.as_str()
            );
            a.detail = &detail;
            if let Err(r) = audit(&st, &ctx, a).await {
                return r;
            }
            let saved = if dec.approval == hedui_store::Approval::Pending {
                "pending"
            } else {
                "decision"
            };
            Redirect::to(&format!("/flags/{flag_id}?saved={saved}")).into_response()
        }
        Err(hedui_store::Error::Invalid(msg)) => {
            flag_page_inner(&st, &ctx, &flag_id, &msg, false, StatusCode::BAD_REQUEST).await
        }
        Err(hedui_store::Error::Forbidden(_)) => {
            deny(&st, &ctx, &path, Some(&s.case_id), Some(&flag_id)).await
        }
        Err(e) => internal(&e),
    }
}

pub(crate) async fn approve(
    State(st): State<Shared>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(decision_id): Path<i64>,
    Form(form): Form2,
) -> Response {
    let ctx = match auth(&st, &headers, addr).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if !check_csrf(&ctx, &form) {
        return forbidden_csrf(Some(&ctx));
    }
    let path = format!("/decisions/{decision_id}/approve");
    let yes = form.get("approve").map(String::as_str) == Some("yes");
    let note = form.get("note").cloned().unwrap_or_default();
    let dec = match st.store.decision(decision_id).await {
        Ok(Some(d)) => d,
        Ok(None) => return not_found_page(&ctx),
        Err(e) => return internal(&e),
    };
    match st
        .store
        .approve_decision(decision_id, yes, &note, &ctx.user)
        .await
    {
        Ok(d) => {
            let mut a = AuditArgs::new(AuditAction::Decide);
            a.flag_id = Some(&d.flag_id);
            a.purpose = &path;
            a.count = 1;
            let detail = format!("decision {decision_id} {}", d.approval.as_str());
            a.detail = &detail;
            if let Err(r) = audit(&st, &ctx, a).await {
                return r;
            }
            Redirect::to(&format!("/flags/{}?saved=approved", d.flag_id)).into_response()
        }
        Err(hedui_store::Error::Forbidden(_)) => {
            deny(&st, &ctx, &path, None, Some(&dec.flag_id)).await
        }
        Err(hedui_store::Error::Invalid(msg)) => {
            flag_page_inner(
                &st,
                &ctx,
                &dec.flag_id,
                &msg,
                false,
                StatusCode::BAD_REQUEST,
            )
            .await
        }
        Err(hedui_store::Error::NotFound(_)) => not_found_page(&ctx),
        Err(e) => internal(&e),
    }
}

pub(crate) async fn approvals(
    State(st): State<Shared>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let ctx = match auth(&st, &headers, addr).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if !matches!(
        ctx.user.role,
        hedui_store::Role::CityAdmin | hedui_store::Role::CountyReviewer
    ) {
        return deny(&st, &ctx, "/approvals", None, None).await;
    }
    let rows = match st.store.pending_approvals(&ctx.user.scope()).await {
        Ok(r) => r,
        Err(e) => return internal(&e),
    };
    let mut a = AuditArgs::new(AuditAction::View);
    a.purpose = "/approvals";
    a.count = rows.len() as i64;
    if let Err(r) = audit(&st, &ctx, a).await {
        return r;
    }
    render(&ApprovalsPage {
        nav: Some(Nav::new(&ctx.user, &ctx.csrf)),
        rows: rows.iter().map(|d| DecisionView::new(d, false)).collect(),
    })
}

// --------------------------------------------------------------------------- households

pub(crate) async fn case_page(
    State(st): State<Shared>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(case_id): Path<String>,
) -> Response {
    let ctx = match auth(&st, &headers, addr).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let path = format!("/cases/{case_id}");
    let case = match st.store.case(&case_id).await {
        Ok(Some(c)) => c,
        Ok(None) => return not_found_page(&ctx),
        Err(e) => return internal(&e),
    };
    if !ctx
        .user
        .can_view_case(&case.county_code, &case.township_code)
    {
        return deny(&st, &ctx, &path, Some(&case_id), None).await;
    }
    let hq = FlagQuery {
        case_id: Some(case_id.clone()),
        ..Default::default()
    };
    let (history, _) = match st.store.flags(&hq, &ctx.user.scope(), 500, 0).await {
        Ok(h) => h,
        Err(e) => return internal(&e),
    };
    let mut a = AuditArgs::new(AuditAction::View);
    a.case_id = Some(&case_id);
    a.purpose = &path;
    a.count = case.members.len() as i64;
    a.fields = "members (masked)";
    if let Err(r) = audit(&st, &ctx, a).await {
        return r;
    }
    let t = today();
    render(&CasePage {
        nav: Some(Nav::new(&ctx.user, &ctx.csrf)),
        csrf: ctx.csrf.clone(),
        c: CaseView::new(&case),
        members: case
            .members
            .iter()
            .map(|m| MemberView {
                member_id: m.member_id.clone(),
                name: hedui_identity::name::mask_name(&m.name),
                relation: m.relation.clone(),
                id_masked: hedui_identity::id::mask_id(&m.id_number),
            })
            .collect(),
        history: history.iter().map(|h| FlagRow::new(h, t)).collect(),
        can_reveal: ctx.user.can_reveal(&case.county_code, &case.township_code),
    })
}

pub(crate) async fn reveal(
    State(st): State<Shared>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(case_id): Path<String>,
    Form(form): Form2,
) -> Response {
    let ctx = match auth(&st, &headers, addr).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if !check_csrf(&ctx, &form) {
        return forbidden_csrf(Some(&ctx));
    }
    let path = format!("/cases/{case_id}/reveal");
    let case = match st.store.case(&case_id).await {
        Ok(Some(c)) => c,
        Ok(None) => return not_found_page(&ctx),
        Err(e) => return internal(&e),
    };
    if !ctx.user.can_reveal(&case.county_code, &case.township_code) {
        return deny(&st, &ctx, &path, Some(&case_id), None).await;
    }
    let reason = form
        .get("reason")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    if reason.chars().count() < 2 || reason.chars().count() > 500 {
        return error_page(
            Some(&ctx),
            StatusCode::BAD_REQUEST,
            "须填写事由",
            "查看完整证件号必须填写查看事由（2至500字）。",
            &format!("/cases/{case_id}"),
        );
    }
    let member_id = form.get("member_id").cloned().unwrap_or_default();
    let Some(m) = case.members.iter().find(|m| m.member_id == member_id) else {
        return not_found_page(&ctx);
    };
    let fields = format!("id_number of member {}", m.member_id);
    let mut a = AuditArgs::new(AuditAction::Reveal);
    a.case_id = Some(&case_id);
    a.purpose = &reason;
    a.fields = &fields;
    a.count = 1;
    if let Err(r) = audit(&st, &ctx, a).await {
        return r;
    }
    render(&RevealPage {
        nav: Some(Nav::new(&ctx.user, &ctx.csrf)),
        case_id: case_id.clone(),
        name: hedui_identity::name::mask_name(&m.name),
        relation: m.relation.clone(),
        id_number: m.id_number.clone(),
        reason,
    })
}

// ------------------------------------------------------------------------ identity review

pub(crate) async fn reviews(
    State(st): State<Shared>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let ctx = match auth(&st, &headers, addr).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if !ctx.user.can_view_reviews() {
        return deny(&st, &ctx, "/reviews", None, None).await;
    }
    let status_s = q.get("status").cloned().unwrap_or_else(|| "pending".into());
    let status = ReviewStatus::parse(&status_s);
    let page = q
        .get("page")
        .and_then(|p| p.parse::<i64>().ok())
        .unwrap_or(1)
        .max(1);
    let size = 20;
    let (rows, total) = match st.store.reviews(status, size, (page - 1) * size).await {
        Ok(r) => r,
        Err(e) => return internal(&e),
    };
    let mut a = AuditArgs::new(AuditAction::View);
    a.purpose = "/reviews";
    a.count = rows.len() as i64;
    a.fields = "identity fields (masked)";
    if let Err(r) = audit(&st, &ctx, a).await {
        return r;
    }
    let msg = match q.get("saved").map(String::as_str) {
        Some("same") => "已确认为同一人，将作为下次运行的必须关联约束。",
        Some("different") => "已确认为非同一人，将作为下次运行的禁止关联约束。",
        _ => "",
    };
    let statuses = [
        ReviewStatus::Pending,
        ReviewStatus::Same,
        ReviewStatus::Different,
    ]
    .iter()
    .map(|s| Opt {
        value: s.as_str().to_owned(),
        label: s.label_zh().to_owned(),
        selected: status == Some(*s),
    })
    .collect();
    render(&ReviewsPage {
        nav: Some(Nav::new(&ctx.user, &ctx.csrf)),
        csrf: ctx.csrf.clone(),
        message: msg.into(),
        statuses,
        status: status.map(|s| s.as_str().to_owned()).unwrap_or_default(),
        total,
        page,
        pages: ((total + size - 1) / size).max(1),
        rows: rows
            .iter()
            .map(|r| {
                let (bars, svg_h) = waterfall(&r.review.explanation);
                ReviewView {
                    review_id: r.review.review_id.clone(),
                    left_key: r.review.left_key.clone(),
                    right_key: r.review.right_key.clone(),
                    case_id: r.review.case_id.clone().unwrap_or_default(),
                    probability: format!("{:.3}", r.review.probability),
                    weight: format!("{:.2}", r.review.match_weight),
                    status_label: r.status.label_zh().to_owned(),
                    fields: r
                        .review
                        .fields
                        .iter()
                        .map(|(k, a, b)| (k.clone(), mask_values(a), mask_values(b)))
                        .collect(),
                    bars,
                    svg_h,
                    decided_by: r.decided_by.clone().unwrap_or_default(),
                    decided_at: r.decided_at.clone().unwrap_or_default(),
                }
            })
            .collect(),
        can_decide: ctx.user.can_decide_reviews(),
        svg_width: SVG_WIDTH,
        svg_axis: SVG_AXIS,
    })
}

pub(crate) async fn decide_review(
    State(st): State<Shared>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(review_id): Path<String>,
    Form(form): Form2,
) -> Response {
    let ctx = match auth(&st, &headers, addr).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if !check_csrf(&ctx, &form) {
        return forbidden_csrf(Some(&ctx));
    }
    let path = format!("/reviews/{review_id}/decide");
    if !ctx.user.can_decide_reviews() {
        return deny(&st, &ctx, &path, None, None).await;
    }
    let same = match form.get("same").map(String::as_str) {
        Some("yes") => true,
        Some("no") => false,
        _ => {
            return error_page(
                Some(&ctx),
                StatusCode::BAD_REQUEST,
                "请求无效",
                "请选择“同一人”或“非同一人”。",
                "/reviews",
            );
        }
    };
    match st.store.decide_review(&review_id, same, &ctx.user).await {
        Ok(r) => {
            let mut a = AuditArgs::new(AuditAction::Decide);
            a.case_id = r.review.case_id.as_deref();
            a.purpose = &path;
            a.count = 1;
            let detail = format!("review {review_id} {}", r.status.as_str());
            a.detail = &detail;
            if let Err(resp) = audit(&st, &ctx, a).await {
                return resp;
            }
            let saved = if same { "same" } else { "different" };
            Redirect::to(&format!("/reviews?saved={saved}")).into_response()
        }
        Err(hedui_store::Error::NotFound(_)) => not_found_page(&ctx),
        Err(hedui_store::Error::Forbidden(_)) => deny(&st, &ctx, &path, None, None).await,
        Err(e) => internal(&e),
    }
}

// ----------------------------------------------------------------------------- audit log

pub(crate) async fn audit_page(
    State(st): State<Shared>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let ctx = match auth(&st, &headers, addr).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if !ctx.user.can_read_audit() {
        return deny(&st, &ctx, "/audit", None, None).await;
    }
    let aq = AuditQuery {
        username: q.get("username").cloned(),
        action: q.get("action").cloned(),
        flag_id: q.get("flag_id").cloned(),
        case_id: q.get("case_id").cloned(),
    };
    let page = q
        .get("page")
        .and_then(|p| p.parse::<i64>().ok())
        .unwrap_or(1)
        .max(1);
    let size = 100;
    let (rows, total) = match st.store.audit_entries(&aq, size, (page - 1) * size).await {
        Ok(r) => r,
        Err(e) => return internal(&e),
    };
    let mut a = AuditArgs::new(AuditAction::View);
    a.purpose = "/audit";
    a.count = rows.len() as i64;
    if let Err(r) = audit(&st, &ctx, a).await {
        return r;
    }
    let actions = [
        "login", "logout", "view", "reveal", "export", "decide", "denied",
    ]
    .iter()
    .map(|c| Opt {
        value: (*c).to_owned(),
        label: AuditAction::label_zh(c).to_owned(),
        selected: aq.action.as_deref() == Some(*c),
    })
    .collect();
    let mut query = Vec::new();
    if let Some(u) = aq.username.as_deref().filter(|s| !s.is_empty()) {
        query.push(format!(
            "username={}",
            u.chars()
                .filter(|c| c.is_ascii_alphanumeric() || "_-.".contains(*c))
                .collect::<String>()
        ));
    }
    if let Some(x) = aq.action.as_deref().filter(|s| !s.is_empty()) {
        query.push(format!(
            "action={}",
            x.chars()
                .filter(char::is_ascii_alphanumeric)
                .collect::<String>()
        ));
    }
    render(&AuditPage {
        nav: Some(Nav::new(&ctx.user, &ctx.csrf)),
        username: aq.username.clone().unwrap_or_default(),
        actions,
        query: query.join("&"),
        total,
        page,
        pages: ((total + size - 1) / size).max(1),
        rows: rows
            .into_iter()
            .map(|e| AuditView {
                at: e.at.get(..19).unwrap_or(&e.at).replace('T', " "),
                username: e.username,
                role: e.role,
                scope: e.scope,
                client_ip: e.client_ip,
                action_label: AuditAction::label_zh(&e.action).to_owned(),
                result: e.result,
                case_id: e.case_id.unwrap_or_default(),
                flag_id: e.flag_id.unwrap_or_default(),
                fields: e.fields,
                purpose: e.purpose,
                result_count: e.result_count,
            })
            .collect(),
    })
}
