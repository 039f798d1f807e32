//! HTTP-level tests of every permission boundary, CSRF, login rate limiting, masking and the
//! audit trail, against the workbench served in-process on 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use hedui_store::{AuditQuery, FlagStatus, Outcome};

async fn denied_count(f: &Fixture, user: &str) -> i64 {
    f.store
        .audit_entries(
            &AuditQuery {
                username: Some(user.into()),
                action: Some("denied".into()),
                ..Default::default()
            },
            1000,
            0,
        )
        .await
        .unwrap()
        .1
}

#[tokio::test]
async fn logged_out_requests_go_to_login() {
    let f = start().await;
    let mut h = Http::new(&f.base);
    for path in [
        "/",
        "/queue",
        "/queue/export",
        &format!("/flags/{}", f.zd_flag.flag_id),
        "/cases/DB-ZD-0001",
        "/reviews",
        "/audit",
    ] {
        let r = h.get(path).await;
        assert_eq!((r.status, r.location.as_str()), (303, "/login"), "{path}");
    }
    let r = h
        .post(
            &format!("/flags/{}/decide", f.zd_flag.flag_id),
            &[("status", "dismissed")],
        )
        .await;
    assert_eq!((r.status, r.location.as_str()), (303, "/login"));
    // A forged session cookie is no session.
    h.cookies.insert("hedui_session".into(), "ab".repeat(32));
    assert_eq!(h.get("/queue").await.status, 303);
}

#[tokio::test]
async fn suixian_caseworker_cannot_reach_zengdu_by_url() {
    let f = start().await;
    let mut h = logged_in(&f.base, "cw_sx").await;
    let before = denied_count(&f, "cw_sx").await;

    // Own queue: only 随县 厉山镇 flags, even though the head's ID starts with 421303.
    let q = h.get("/queue").await;
    assert_eq!(q.status, 200);
    let body = q.text();
    assert!(body.contains("DB-SX-0001"));
    assert!(!body.contains("DB-ZD-0001"));
    assert!(body.contains("421303********0027"), "masked ID shown");
    assert!(!body.contains(SX_HEAD_ID), "full ID never in the queue");
    assert_eq!(
        h.get(&format!("/flags/{}", f.sx_flag.flag_id)).await.status,
        200
    );
    assert_eq!(h.get("/cases/DB-SX-0001").await.status, 200);

    // 曾都区: flag page, household page, export, reveal, decision.
    let zd_flag = format!("/flags/{}", f.zd_flag.flag_id);
    let r = h.get(&zd_flag).await;
    assert_eq!(r.status, 403);
    assert!(!r.text().contains("王*明"));
    assert_eq!(h.get("/cases/DB-ZD-0001").await.status, 403);
    assert_eq!(h.get("/queue/export?county=421303").await.status, 403);
    assert_eq!(h.get("/queue?township=421303003").await.status, 403);
    let r = h
        .post_csrf(
            "/cases/DB-ZD-0001/reveal",
            &[("member_id", "DB-ZD-0001-M1"), ("reason", "核查")],
        )
        .await;
    assert_eq!(r.status, 403);
    assert!(!r.text().contains(ZD_HEAD_ID));
    let r = h
        .post_csrf(
            &format!("{zd_flag}/decide"),
            &[("status", "dismissed"), ("reason", "越权尝试")],
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(
        f.store
            .flag(&f.zd_flag.flag_id)
            .await
            .unwrap()
            .unwrap()
            .status,
        FlagStatus::Open
    );
    assert!(
        f.store
            .decisions(&f.zd_flag.flag_id)
            .await
            .unwrap()
            .is_empty()
    );

    // Each refusal is in the audit log, with the case or flag it was about.
    assert_eq!(denied_count(&f, "cw_sx").await - before, 6);
    let (entries, _) = f
        .store
        .audit_entries(
            &AuditQuery {
                username: Some("cw_sx".into()),
                action: Some("denied".into()),
                ..Default::default()
            },
            100,
            0,
        )
        .await
        .unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e.flag_id.as_deref() == Some(f.zd_flag.flag_id.as_str()))
    );
    assert!(
        entries
            .iter()
            .any(|e| e.case_id.as_deref() == Some("DB-ZD-0001") && e.purpose.ends_with("/reveal"))
    );
    assert!(entries.iter().all(|e| e.result == "denied"
        && e.client_ip == "127.0.0.1"
        && e.scope == "township:421321101"));

    // An unknown flag is 404, not a leak of whether it exists elsewhere.
    assert_eq!(h.get("/flags/ffffffffffffffff").await.status, 404);
}

#[tokio::test]
async fn county_reviewer_sees_own_county_only() {
    let f = start().await;
    let mut h = logged_in(&f.base, "rev_zd").await;
    assert_eq!(
        h.get(&format!("/flags/{}", f.zd_flag.flag_id)).await.status,
        200
    );
    assert_eq!(
        h.get(&format!("/flags/{}", f.sx_flag.flag_id)).await.status,
        403
    );
    assert_eq!(h.get("/cases/DB-SX-0001").await.status, 403);
    assert_eq!(h.get("/queue/export?county=421321").await.status, 403);
    let q = h.get("/queue").await.text();
    assert!(q.contains("DB-ZD-0001") && !q.contains("DB-SX-0001"));
    assert_eq!(denied_count(&f, "rev_zd").await, 3);
}

#[tokio::test]
async fn analyst_reviews_identities_but_sees_no_flags() {
    let f = start().await;
    let mut h = logged_in(&f.base, "analyst").await;
    assert_eq!(h.get("/queue").await.status, 403);
    assert_eq!(
        h.get(&format!("/flags/{}", f.zd_flag.flag_id)).await.status,
        403
    );
    assert_eq!(h.get("/cases/DB-ZD-0001").await.status, 403);
    assert_eq!(h.get("/queue/export").await.status, 403);
    assert_eq!(h.get("/audit").await.status, 403);
    let r = h.get("/reviews").await;
    assert_eq!(r.status, 200);
    let body = r.text();
    assert!(body.contains("王*铭"));
    assert!(
        !body.contains(ZD_HEAD_ID),
        "a full ID in review fields is masked on display"
    );
    let r = h
        .post_csrf("/reviews/R-0001/decide", &[("same", "no")])
        .await;
    assert_eq!(r.status, 303);
    let labels = f.store.link_labels().await.unwrap();
    assert_eq!(labels.len(), 1);
    assert!(!labels[0].same_person);
    // A caseworker may not decide identity reviews.
    let mut cw = logged_in(&f.base, "cw_zd").await;
    assert_eq!(cw.get("/reviews").await.status, 403);
    assert_eq!(
        cw.post_csrf("/reviews/R-0001/decide", &[("same", "yes")])
            .await
            .status,
        403
    );
    assert!(!f.store.link_labels().await.unwrap()[0].same_person);
}

#[tokio::test]
async fn auditor_reads_everything_but_changes_nothing() {
    let f = start().await;
    let mut h = logged_in(&f.base, "auditor").await;
    let q = h.get("/queue").await.text();
    assert!(q.contains("DB-ZD-0001") && q.contains("DB-SX-0001"));
    assert_eq!(
        h.get(&format!("/flags/{}", f.zd_flag.flag_id)).await.status,
        200
    );
    assert_eq!(h.get("/cases/DB-SX-0001").await.status, 200);
    assert_eq!(h.get("/audit").await.status, 200);
    assert_eq!(h.get("/reviews").await.status, 200);
    let r = h
        .post_csrf(
            &format!("/flags/{}/decide", f.zd_flag.flag_id),
            &[("status", "dismissed"), ("reason", "x")],
        )
        .await;
    assert_eq!(r.status, 403);
    let r = h
        .post_csrf(
            "/cases/DB-ZD-0001/reveal",
            &[("member_id", "DB-ZD-0001-M1"), ("reason", "审计抽查")],
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(
        h.post_csrf("/reviews/R-0001/decide", &[("same", "yes")])
            .await
            .status,
        403
    );
    assert!(
        f.store
            .decisions(&f.zd_flag.flag_id)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(f.store.link_labels().await.unwrap().is_empty());
    // Every read the auditor made is logged.
    let (views, _) = f
        .store
        .audit_entries(
            &AuditQuery {
                username: Some("auditor".into()),
                action: Some("view".into()),
                ..Default::default()
            },
            100,
            0,
        )
        .await
        .unwrap();
    assert!(views.len() >= 5);
}

#[tokio::test]
async fn health_details_only_for_the_case_workers() {
    let f = start().await;
    let path = format!("/flags/{}", f.sx_health_flag.flag_id);
    let mut cw = logged_in(&f.base, "cw_sx").await;
    assert!(cw.get(&path).await.text().contains("测试诊断甲"));
    let mut rev = logged_in(&f.base, "rev_sx").await;
    assert!(rev.get(&path).await.text().contains("测试诊断甲"));
    for user in ["auditor", "admin"] {
        let mut h = logged_in(&f.base, user).await;
        let body = h.get(&path).await.text();
        assert!(
            !body.contains("测试诊断甲"),
            "{user} must not see the diagnosis"
        );
        assert!(body.contains("仅本案经办人可见"));
    }
}

#[tokio::test]
async fn csrf_missing_or_wrong_is_refused() {
    let f = start().await;
    let mut h = logged_in(&f.base, "cw_zd").await;
    let decide = format!("/flags/{}/decide", f.zd_flag.flag_id);
    let fields = [("status", "dismissed"), ("reason", "误报测试")];
    assert_eq!(h.post(&decide, &fields).await.status, 403);
    let mut wrong = vec![("csrf", "0000")];
    wrong.extend_from_slice(&fields);
    assert_eq!(h.post(&decide, &wrong).await.status, 403);
    assert_eq!(
        h.post(
            "/cases/DB-ZD-0001/reveal",
            &[("member_id", "DB-ZD-0001-M1"), ("reason", "核查")]
        )
        .await
        .status,
        403
    );
    assert_eq!(h.post("/logout", &[]).await.status, 403);
    assert!(
        f.store
            .decisions(&f.zd_flag.flag_id)
            .await
            .unwrap()
            .is_empty()
    );
    // Another session's token is wrong too.
    let other = logged_in(&f.base, "rev_zd").await;
    let mut stolen = vec![("csrf", other.csrf.as_str())];
    stolen.extend_from_slice(&fields);
    assert_eq!(h.post(&decide, &stolen).await.status, 403);
    // Login without the login form's token is refused.
    let mut anon = Http::new(&f.base);
    let r = anon
        .post("/login", &[("username", "cw_zd"), ("password", PASSWORD)])
        .await;
    assert_eq!(r.status, 403);
    // With the right token the decision goes through.
    assert_eq!(h.post_csrf(&decide, &fields).await.status, 303);
    assert_eq!(
        f.store
            .flag(&f.zd_flag.flag_id)
            .await
            .unwrap()
            .unwrap()
            .status,
        FlagStatus::Dismissed
    );
}

#[tokio::test]
async fn login_is_rate_limited() {
    let f = start().await;
    let mut h = Http::new(&f.base);
    for _ in 0..5 {
        assert_eq!(h.login("cw_zd", "wrong-password").await.status, 401);
    }
    // Locked: even the right password is refused for now.
    let r = h.login("cw_zd", PASSWORD).await;
    assert_eq!(r.status, 429);
    assert!(r.text().contains("5分钟"));
    // Another user from the same address is locked too (per-IP limit).
    assert_eq!(
        Http::new(&f.base).login("cw_sx", PASSWORD).await.status,
        429
    );
    let (failed, _) = f
        .store
        .audit_entries(
            &AuditQuery {
                action: Some("login".into()),
                ..Default::default()
            },
            100,
            0,
        )
        .await
        .unwrap();
    assert_eq!(failed.iter().filter(|e| e.result == "failed").count(), 5);
    assert_eq!(failed.iter().filter(|e| e.result == "locked").count(), 2);
    // A lockout expires (a short one here: 5 failures must still fall within its window).
    let f2 = start_with(hedui_web::WebConfig {
        lockout: std::time::Duration::from_secs(4),
        ..Default::default()
    })
    .await;
    let mut h2 = Http::new(&f2.base);
    for _ in 0..5 {
        h2.login("cw_zd", "wrong-password").await;
    }
    assert_eq!(h2.login("cw_zd", PASSWORD).await.status, 429);
    tokio::time::sleep(std::time::Duration::from_millis(4500)).await;
    assert_eq!(h2.login("cw_zd", PASSWORD).await.status, 303);
}

#[tokio::test]
async fn session_cookie_and_security_headers() {
    let f = start().await;
    let mut h = Http::new(&f.base);
    let page = h.get("/login").await;
    let csp = page
        .headers
        .get("content-security-policy")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(csp.contains("default-src 'none'") && !csp.contains("unsafe-inline"));
    assert_eq!(page.headers.get("x-frame-options").unwrap(), "DENY");
    let token = csrf_of(&page.text()).unwrap();
    let r = h
        .post(
            "/login",
            &[
                ("csrf", &token),
                ("username", "cw_zd"),
                ("password", PASSWORD),
            ],
        )
        .await;
    let set = r
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect::<Vec<_>>();
    let session = set
        .iter()
        .find(|c| c.starts_with("hedui_session="))
        .expect("session cookie");
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Strict"),
        "{session}"
    );
    // Logout ends the session server-side.
    let start_page = h.get("/queue").await.text();
    h.csrf = csrf_of(&start_page).unwrap();
    let cookie = h.cookies.get("hedui_session").cloned().unwrap();
    assert_eq!(h.post_csrf("/logout", &[]).await.status, 303);
    h.cookies.insert("hedui_session".into(), cookie);
    assert_eq!(h.get("/queue").await.status, 303);
}

#[tokio::test]
async fn reveal_needs_a_reason_and_is_audited() {
    let f = start().await;
    let mut h = logged_in(&f.base, "cw_zd").await;
    let case = h.get("/cases/DB-ZD-0001").await.text();
    assert!(case.contains("421303********0018") && !case.contains(ZD_HEAD_ID));
    assert!(case.contains("王*明") && !case.contains("王小明"));
    let r = h
        .post_csrf(
            "/cases/DB-ZD-0001/reveal",
            &[("member_id", "DB-ZD-0001-M1"), ("reason", "")],
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(!r.text().contains(ZD_HEAD_ID));
    let r = h
        .post_csrf(
            "/cases/DB-ZD-0001/reveal",
            &[
                ("member_id", "DB-ZD-0001-M1"),
                ("reason", "入户核查需核对证件"),
            ],
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(r.text().contains(ZD_HEAD_ID));
    let (rev, _) = f
        .store
        .audit_entries(
            &AuditQuery {
                action: Some("reveal".into()),
                ..Default::default()
            },
            10,
            0,
        )
        .await
        .unwrap();
    assert_eq!(rev.len(), 1);
    assert_eq!(
        (
            rev[0].username.as_str(),
            rev[0].purpose.as_str(),
            rev[0].case_id.as_deref()
        ),
        ("cw_zd", "入户核查需核对证件", Some("DB-ZD-0001"))
    );
    assert!(rev[0].fields.contains("DB-ZD-0001-M1"));
}

#[tokio::test]
async fn decisions_with_notice_and_approval_chain() {
    let f = start().await;
    let mut cw = logged_in(&f.base, "cw_sx").await;
    let decide = format!("/flags/{}/decide", f.sx_flag.flag_id);
    let base = [
        ("status", "resolved"),
        ("outcome", "stop"),
        ("effective_month", "202110"),
        ("reason_code", "收入超过标准"),
        ("reason", "工资收入超过标准"),
    ];
    let r = cw.post_csrf(&decide, &base).await;
    assert_eq!(r.status, 400);
    assert!(r.text().contains("告知"));
    let mut with_notice = base.to_vec();
    with_notice.extend([
        ("notice_type", "书面告知书"),
        ("notice_date", "2021-10-08"),
        ("notice_method", "直接送达"),
    ]);
    let r = cw.post_csrf(&decide, &with_notice).await;
    assert_eq!(r.status, 303);
    let sf = f.store.flag(&f.sx_flag.flag_id).await.unwrap().unwrap();
    assert_eq!(
        (sf.status, sf.outcome, sf.approval),
        (
            FlagStatus::Resolved,
            Some(Outcome::Stop),
            hedui_store::Approval::Pending
        )
    );
    let dec = f
        .store
        .decisions(&f.sx_flag.flag_id)
        .await
        .unwrap()
        .remove(0);
    // The caseworker cannot approve; the other county's reviewer cannot either.
    let approve = format!("/decisions/{}/approve", dec.decision_id);
    assert_eq!(
        cw.post_csrf(&approve, &[("approve", "yes")]).await.status,
        403
    );
    let mut zd = logged_in(&f.base, "rev_zd").await;
    assert_eq!(
        zd.post_csrf(&approve, &[("approve", "yes")]).await.status,
        403
    );
    let mut sx = logged_in(&f.base, "rev_sx").await;
    assert!(
        sx.get("/approvals")
            .await
            .text()
            .contains(&f.sx_flag.flag_id)
    );
    assert_eq!(
        sx.post_csrf(&approve, &[("approve", "yes"), ("note", "同意停发")])
            .await
            .status,
        303
    );
    let sf = f.store.flag(&f.sx_flag.flag_id).await.unwrap().unwrap();
    assert_eq!(sf.approval, hedui_store::Approval::Approved);
    let page = sx
        .get(&format!("/flags/{}", f.sx_flag.flag_id))
        .await
        .text();
    assert!(page.contains("已审批") && page.contains("停发"));
}

#[tokio::test]
async fn export_is_scoped_chinese_and_masked() {
    use calamine::{Reader, Xlsx};
    let f = start().await;
    let mut h = logged_in(&f.base, "cw_sx").await;
    let r = h.get("/queue/export").await;
    assert_eq!(r.status, 200);
    assert!(
        r.headers
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .contains("spreadsheetml")
    );
    let mut wb: Xlsx<_> = Xlsx::new(std::io::Cursor::new(r.body.clone())).expect("xlsx");
    let sheet = wb.worksheet_range("核对预警").expect("sheet");
    let rows: Vec<Vec<String>> = sheet
        .rows()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect();
    assert_eq!(rows[0][0], "预警编号");
    assert_eq!(rows[0][11], "户主身份证号");
    assert_eq!(rows.len(), 3, "header + the two 随县 flags only");
    assert!(
        rows[1..]
            .iter()
            .all(|r| r[6] == "随县" && r[11] == "421303********0027")
    );
    let all = rows.concat().join("|");
    assert!(!all.contains(SX_HEAD_ID) && !all.contains("DB-ZD-0001"));
    let (ex, _) = f
        .store
        .audit_entries(
            &AuditQuery {
                action: Some("export".into()),
                ..Default::default()
            },
            10,
            0,
        )
        .await
        .unwrap();
    assert_eq!((ex.len(), ex[0].result_count), (1, 2));
}

#[tokio::test]
async fn queue_filters_work() {
    let f = start().await;
    let mut h = logged_in(&f.base, "admin").await;
    let all = h.get("/queue").await.text();
    assert!(all.contains("共 3 条"));
    assert!(
        h.get("/queue?county=421321")
            .await
            .text()
            .contains("共 2 条")
    );
    assert!(
        h.get("/queue?severity=high")
            .await
            .text()
            .contains("共 1 条")
    );
    assert!(
        h.get("/queue?flag_type=EXP-MEDICAL")
            .await
            .text()
            .contains("共 1 条")
    );
    assert!(
        h.get("/queue?status=dismissed")
            .await
            .text()
            .contains("共 0 条")
    );
    assert!(
        h.get("/queue?deadline=2021-10-01")
            .await
            .text()
            .contains("共 0 条")
    );
    assert!(
        h.get("/queue?deadline=2021-10-14&county=421303")
            .await
            .text()
            .contains("共 1 条")
    );
    // The flag page shows the waterfall, the rule and the history.
    let page = h.get(&format!("/flags/{}", f.sx_flag.flag_id)).await.text();
    assert!(page.contains("<svg class=\"waterfall\""));
    assert!(page.contains("INC-WAGE-OVER") && page.contains("test-1"));
    assert!(page.contains("待确认身份"));
    assert!(
        page.contains(&f.sx_health_flag.flag_id),
        "household history lists the other flag"
    );
}
