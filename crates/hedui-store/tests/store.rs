//! Store tests, run on SQLite always and on PostgreSQL when `HEDUI_TEST_POSTGRES_URL` is set
//! (each test creates its own uniquely named database and drops it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicU32, Ordering};

use chrono::NaiveDate;
use hedui_model::flag::{
    CaseMember, CaseRecord, Evidence, Flag, IdentityMatch, LinkReview, MatchKind, Severity,
    Subject, WeightContribution, flag_id,
};
use hedui_store::{
    Approval, AuditQuery, FlagQuery, FlagStatus, NewAudit, NewDecision, NewUser, Outcome, Role,
    RunInfo, Scope, Store,
};
use sqlx::Connection;

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).expect("date")
}

/// A synthetic case (test data: the numbers are made up and carry valid check digits only by
/// chance of no importance).
fn case(case_id: &str, township: &str) -> CaseRecord {
    CaseRecord {
        case_id: case_id.into(),
        programme: "dibao".into(),
        status: "在保".into(),
        county_code: township[..6].into(),
        township_code: township.into(),
        address: "测试社区".into(),
        monthly_benefit: Some(1230.0),
        next_review: Some(d(2022, 1, 1)),
        members: vec![CaseMember {
            member_id: format!("{case_id}-M1"),
            name: "测试甲".into(),
            id_number: "421303198001010018".into(),
            relation: "申请人".into(),
            person_key: None,
        }],
    }
}

fn flag(case_id: &str, township: &str, ty: &str, record: &str) -> Flag {
    let key = format!("gongan/population/{record}");
    Flag {
        flag_id: flag_id(case_id, ty, std::slice::from_ref(&key)),
        flag_type: ty.into(),
        severity: Severity::High,
        run_id: "run-1".into(),
        as_of: d(2021, 9, 30),
        subject: Subject {
            case_id: case_id.into(),
            programme: "dibao".into(),
            county_code: township[..6].into(),
            township_code: township.into(),
            head_name_masked: "测*甲".into(),
            head_id_masked: "421303********0018".into(),
            address: "测试社区".into(),
            household_size: 3,
            monthly_benefit: Some(1230.0),
            member_id: Some(format!("{case_id}-M1")),
            member_name_masked: Some("测*甲".into()),
        },
        reason_zh: "测试原因".into(),
        rule_id: "DYN-DEATH".into(),
        rules_version: "test".into(),
        impact_zh: Some("家庭人数3→2".into()),
        suggested_action_zh: "减员".into(),
        deadline: d(2021, 10, 14),
        evidence: vec![Evidence {
            department: "gongan".into(),
            dataset: "population".into(),
            record_id: record.into(),
            member_id: format!("{case_id}-M1"),
            event_date: Some(d(2021, 8, 14)),
            extract_date: d(2021, 9, 30),
            values: vec![("注销类别".into(), "死亡".into())],
            sensitive: false,
            identity: IdentityMatch {
                kind: MatchKind::ExactId,
                probability: 1.0,
                match_weight: None,
                explanation: vec![],
            },
        }],
    }
}

fn review(id: &str, left: &str, right: &str) -> LinkReview {
    LinkReview {
        review_id: id.into(),
        run_id: "run-1".into(),
        left_key: left.into(),
        right_key: right.into(),
        case_id: Some("C1".into()),
        county_code: "421303".into(),
        probability: 0.6,
        match_weight: 0.5,
        explanation: vec![WeightContribution {
            comparison: "name".into(),
            level: "exact".into(),
            weight: 6.5,
        }],
        fields: vec![("姓名".into(), "测*甲".into(), "测*甲".into())],
    }
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A fresh store of one backend; dropping the guard removes a PostgreSQL database.
struct TestStore {
    store: Store,
    pg_drop: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl TestStore {
    async fn cleanup(self) {
        self.store.close().await;
        if let Some((admin, name)) = self.pg_drop {
            let mut c = sqlx::PgConnection::connect(&admin)
                .await
                .expect("admin connection");
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut c)
            .await
            .expect("drop test database");
        }
    }
}

fn with_db(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let head = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    format!("{head}/{db}{query}")
}

async fn backends(test: &str) -> Vec<TestStore> {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    let mut v = vec![TestStore {
        store: Store::open(&url).await.expect("open sqlite"),
        pg_drop: None,
        _dir: Some(dir),
    }];
    match std::env::var("HEDUI_TEST_POSTGRES_URL") {
        Ok(admin) if !admin.is_empty() => {
            let name = format!(
                "hedui_t_{}_{}_{}",
                test,
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::SeqCst)
            );
            let mut c = sqlx::PgConnection::connect(&admin)
                .await
                .expect("HEDUI_TEST_POSTGRES_URL is set but PostgreSQL is not reachable");
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut c)
                .await
                .expect("create test database");
            let store = Store::open(&with_db(&admin, &name))
                .await
                .expect("open postgres");
            v.push(TestStore {
                store,
                pg_drop: Some((admin, name)),
                _dir: None,
            });
        }
        _ => eprintln!("skipped PostgreSQL: set HEDUI_TEST_POSTGRES_URL"),
    }
    v
}

fn run(id: &str) -> RunInfo {
    RunInfo {
        run_id: id.into(),
        as_of: d(2021, 9, 30),
    }
}

async fn caseworker(s: &Store, name: &str, township: &str) -> hedui_store::User {
    s.add_user(
        &NewUser {
            username: name.into(),
            role: Role::TownshipCaseworker,
            county_code: None,
            township_code: Some(township.into()),
        },
        "test-password-1",
    )
    .await
    .expect("add caseworker")
}

#[tokio::test]
async fn publish_is_idempotent_and_dismissed_stays_dismissed() {
    for t in backends("publish").await {
        let s = &t.store;
        let cases = vec![case("C1", "421303003"), case("C2", "421321101")];
        let f1 = flag("C1", "421303003", "DYN-DEATH", "GA1");
        let f2 = flag("C2", "421321101", "DYN-DEATH", "GA2");
        let f3 = flag("C1", "421303003", "PROP-VEHICLE", "CL9");
        let flags = vec![f1.clone(), f2.clone(), f3.clone()];
        s.record_run_start(&run("run-1")).await.unwrap();
        let r1 = s
            .publish_run(&run("run-1"), &cases, &flags, &[])
            .await
            .unwrap();
        assert_eq!(
            (r1.cases, r1.new_flags, r1.flags_received()),
            (2, 3, 3),
            "{}",
            s.backend()
        );
        s.record_run_finish("run-1", "succeeded", "3 flags")
            .await
            .unwrap();

        // The same night published twice changes nothing.
        let r1b = s
            .publish_run(&run("run-1"), &cases, &flags, &[])
            .await
            .unwrap();
        assert_eq!((r1b.new_flags, r1b.unchanged_flags), (0, 3));

        // Dismiss f1 (误报), resolve f2 (减员).
        let w = caseworker(s, "cw_zd", "421303003").await;
        let dismiss = NewDecision {
            status: Some(FlagStatus::Dismissed),
            reason_code: "核实无误（误报）".into(),
            reason: "入户核实本人健在".into(),
            ..Default::default()
        };
        s.record_decision(&f1.flag_id, &dismiss, &w).await.unwrap();
        let county = s
            .add_user(
                &NewUser {
                    username: "rev_sx".into(),
                    role: Role::CountyReviewer,
                    county_code: Some("421321".into()),
                    township_code: None,
                },
                "test-password-2",
            )
            .await
            .unwrap();
        let resolve = NewDecision {
            status: Some(FlagStatus::Resolved),
            outcome: Some(Outcome::RemoveMember),
            reason_code: "死亡".into(),
            reason: "已减员".into(),
            ..Default::default()
        };
        s.record_decision(&f2.flag_id, &resolve, &county)
            .await
            .unwrap();

        // Next night raises all three again on the same evidence.
        let r2 = s
            .publish_run(&run("run-2"), &cases, &flags, &[])
            .await
            .unwrap();
        assert_eq!(r2.new_flags, 0);
        assert_eq!(r2.suppressed_flags, 1);
        assert_eq!(r2.decided_flags, 1);
        assert_eq!(r2.unchanged_flags, 1);
        let got1 = s.flag(&f1.flag_id).await.unwrap().unwrap();
        assert_eq!(got1.status, FlagStatus::Dismissed);
        let got2 = s.flag(&f2.flag_id).await.unwrap().unwrap();
        assert_eq!(
            (got2.status, got2.outcome),
            (FlagStatus::Resolved, Some(Outcome::RemoveMember))
        );
        assert_eq!(got2.last_run, "run-2");
        let dismissed = s.dismissed_flag_ids().await.unwrap();
        assert_eq!(
            dismissed.into_iter().collect::<Vec<_>>(),
            vec![f1.flag_id.clone()]
        );
        let runs = s.runs(10).await.unwrap();
        assert_eq!(runs.len(), 2);
        t.cleanup().await;
    }
}

#[tokio::test]
async fn queue_is_scoped_by_case_jurisdiction_and_filtered() {
    for t in backends("queue").await {
        let s = &t.store;
        // The member's ID number starts 421303 (曾都区) but the case is in 随县: scope follows the case.
        let cases = vec![
            case("C1", "421303003"),
            case("C2", "421321101"),
            case("C3", "421321102"),
        ];
        let flags = vec![
            flag("C1", "421303003", "DYN-DEATH", "GA1"),
            flag("C2", "421321101", "DYN-DEATH", "GA2"),
            flag("C3", "421321102", "PROP-VEHICLE", "CL3"),
        ];
        s.publish_run(&run("run-1"), &cases, &flags, &[])
            .await
            .unwrap();
        let (all, n) = s
            .flags(&FlagQuery::default(), &Scope::City, 50, 0)
            .await
            .unwrap();
        assert_eq!((all.len(), n), (3, 3));
        let (sx, n) = s
            .flags(
                &FlagQuery::default(),
                &Scope::County("421321".into()),
                50,
                0,
            )
            .await
            .unwrap();
        assert_eq!(n, 2);
        assert!(sx.iter().all(|f| f.flag.subject.county_code == "421321"));
        let (ls, n) = s
            .flags(
                &FlagQuery::default(),
                &Scope::Township("421321101".into()),
                50,
                0,
            )
            .await
            .unwrap();
        assert_eq!((n, ls[0].flag.subject.case_id.as_str()), (1, "C2"));
        let q = FlagQuery {
            flag_type: Some("PROP-VEHICLE".into()),
            ..Default::default()
        };
        assert_eq!(s.flags(&q, &Scope::City, 50, 0).await.unwrap().1, 1);
        let q = FlagQuery {
            deadline_before: Some(d(2021, 10, 1)),
            ..Default::default()
        };
        assert_eq!(s.flags(&q, &Scope::City, 50, 0).await.unwrap().1, 0);
        assert_eq!(
            s.flags(&FlagQuery::default(), &Scope::NoCases, 50, 0)
                .await
                .unwrap()
                .1,
            0
        );
        // Pagination.
        let (p2, n) = s
            .flags(&FlagQuery::default(), &Scope::City, 2, 2)
            .await
            .unwrap();
        assert_eq!((p2.len(), n), (1, 3));
        t.cleanup().await;
    }
}

#[tokio::test]
async fn decisions_validate_and_follow_the_approval_chain() {
    for t in backends("decide").await {
        let s = &t.store;
        let f = flag("C2", "421321101", "INC-WAGE-OVER", "RS1");
        s.publish_run(
            &run("run-1"),
            &[case("C2", "421321101")],
            std::slice::from_ref(&f),
            &[],
        )
        .await
        .unwrap();
        let w = caseworker(s, "cw_sx", "421321101").await;
        let other = caseworker(s, "cw_zd", "421303003").await;
        let mut stop = NewDecision {
            status: Some(FlagStatus::Resolved),
            outcome: Some(Outcome::Stop),
            effective_month: Some("202110".into()),
            reason_code: "收入超过标准".into(),
            reason: "工资收入超标".into(),
            ..Default::default()
        };
        // 停发 without a notice is refused.
        assert!(matches!(
            s.record_decision(&f.flag_id, &stop, &w).await,
            Err(hedui_store::Error::Invalid(_))
        ));
        stop.notice_type = Some("书面告知书".into());
        stop.notice_date = Some(d(2021, 10, 8));
        stop.notice_method = Some("直接送达".into());
        // A caseworker of another township may not decide.
        assert!(matches!(
            s.record_decision(&f.flag_id, &stop, &other).await,
            Err(hedui_store::Error::Forbidden(_))
        ));
        let dec = s.record_decision(&f.flag_id, &stop, &w).await.unwrap();
        assert_eq!(dec.approval, Approval::Pending);
        let sf = s.flag(&f.flag_id).await.unwrap().unwrap();
        assert_eq!(sf.approval, Approval::Pending);
        let pending = s
            .pending_approvals(&Scope::County("421321".into()))
            .await
            .unwrap();
        assert_eq!(pending.len(), 1);
        assert!(
            s.pending_approvals(&Scope::County("421303".into()))
                .await
                .unwrap()
                .is_empty()
        );
        // The caseworker cannot approve; a reviewer of another county cannot either.
        assert!(
            s.approve_decision(dec.decision_id, true, "", &w)
                .await
                .is_err()
        );
        let zd_rev = s
            .add_user(
                &NewUser {
                    username: "rev_zd".into(),
                    role: Role::CountyReviewer,
                    county_code: Some("421303".into()),
                    township_code: None,
                },
                "test-password-3",
            )
            .await
            .unwrap();
        assert!(matches!(
            s.approve_decision(dec.decision_id, true, "", &zd_rev).await,
            Err(hedui_store::Error::Forbidden(_))
        ));
        let sx_rev = s
            .add_user(
                &NewUser {
                    username: "rev_sx".into(),
                    role: Role::CountyReviewer,
                    county_code: Some("421321".into()),
                    township_code: None,
                },
                "test-password-4",
            )
            .await
            .unwrap();
        let approved = s
            .approve_decision(dec.decision_id, true, "同意", &sx_rev)
            .await
            .unwrap();
        assert_eq!(
            (approved.approval, approved.approved_by.as_deref()),
            (Approval::Approved, Some("rev_sx"))
        );
        let sf = s.flag(&f.flag_id).await.unwrap().unwrap();
        assert_eq!(
            (sf.status, sf.outcome, sf.approval),
            (
                FlagStatus::Resolved,
                Some(Outcome::Stop),
                Approval::Approved
            )
        );
        // Approving twice is refused.
        assert!(matches!(
            s.approve_decision(dec.decision_id, true, "", &sx_rev).await,
            Err(hedui_store::Error::Invalid(_))
        ));
        assert_eq!(s.decisions(&f.flag_id).await.unwrap().len(), 1);
        assert_eq!(s.decided_flags().await.unwrap().len(), 1);
        t.cleanup().await;
    }
}

#[tokio::test]
async fn audit_log_is_append_only() {
    for t in backends("audit").await {
        let s = &t.store;
        let id = s
            .audit(&NewAudit {
                username: "cw".into(),
                role: "township_caseworker".into(),
                scope: "township:421321101".into(),
                client_ip: "127.0.0.1".into(),
                action: "reveal".into(),
                result: "ok".into(),
                case_id: Some("C2".into()),
                fields: "id_number of member C2-M1".into(),
                purpose: "入户核查".into(),
                result_count: 1,
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(id > 0);
        let upd = s.execute_raw("UPDATE audit_log SET purpose = 'x'").await;
        assert!(
            upd.is_err(),
            "{}: UPDATE on the audit log must fail",
            s.backend()
        );
        let del = s.execute_raw("DELETE FROM audit_log").await;
        assert!(
            del.is_err(),
            "{}: DELETE on the audit log must fail",
            s.backend()
        );
        let (rows, n) = s
            .audit_entries(&AuditQuery::default(), 10, 0)
            .await
            .unwrap();
        assert_eq!((n, rows[0].purpose.as_str()), (1, "入户核查"));
        let q = AuditQuery {
            action: Some("export".into()),
            ..Default::default()
        };
        assert_eq!(s.audit_entries(&q, 10, 0).await.unwrap().1, 0);
        t.cleanup().await;
    }
}

#[tokio::test]
async fn link_reviews_become_labels() {
    for t in backends("labels").await {
        let s = &t.store;
        let reviews = vec![
            review("R1", "weijian/births/B1", "gongan/population/P1"),
            review("R2", "renshe/contributions/S7", "gongan/population/P2"),
            review("R3", "zhujian/property/H3", "gongan/population/P3"),
        ];
        let r = s
            .publish_run(&run("run-1"), &[], &[], &reviews)
            .await
            .unwrap();
        assert_eq!(r.new_reviews, 3);
        let analyst = s
            .add_user(
                &NewUser {
                    username: "an".into(),
                    role: Role::Analyst,
                    county_code: None,
                    township_code: None,
                },
                "test-password-5",
            )
            .await
            .unwrap();
        let cw = caseworker(s, "cw", "421303003").await;
        assert!(matches!(
            s.decide_review("R1", true, &cw).await,
            Err(hedui_store::Error::Forbidden(_))
        ));
        s.decide_review("R1", true, &analyst).await.unwrap();
        s.decide_review("R2", false, &analyst).await.unwrap();
        assert!(matches!(
            s.decide_review("nope", false, &analyst).await,
            Err(hedui_store::Error::NotFound(_))
        ));
        // Re-publishing the same reviews does not reset the decisions.
        let r = s
            .publish_run(&run("run-2"), &[], &[], &reviews)
            .await
            .unwrap();
        assert_eq!((r.new_reviews, r.existing_reviews), (0, 3));
        let labels = s.link_labels().await.unwrap();
        assert_eq!(labels.len(), 2);
        assert!(
            labels
                .iter()
                .any(|l| l.left_key == "weijian/births/B1" && l.same_person)
        );
        assert!(
            labels
                .iter()
                .any(|l| l.left_key == "renshe/contributions/S7" && !l.same_person)
        );
        let (pending, n) = s
            .reviews(Some(hedui_store::ReviewStatus::Pending), 10, 0)
            .await
            .unwrap();
        assert_eq!((n, pending[0].review.review_id.as_str()), (1, "R3"));
        t.cleanup().await;
    }
}

#[tokio::test]
async fn users_sessions_and_passwords() {
    for t in backends("users").await {
        let s = &t.store;
        let u = caseworker(s, "cw_ls", "421321101").await;
        assert_eq!(u.county_code.as_deref(), Some("421321"));
        assert!(
            s.authenticate("cw_ls", "wrong-password")
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            s.authenticate("nobody", "test-password-1")
                .await
                .unwrap()
                .is_none()
        );
        let ok = s
            .authenticate("cw_ls", "test-password-1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(ok.scope(), Scope::Township("421321101".into()));
        // Duplicates and bad scopes are refused.
        assert!(matches!(
            s.add_user(
                &NewUser {
                    username: "cw_ls".into(),
                    role: Role::Analyst,
                    county_code: None,
                    township_code: None
                },
                "another-pass"
            )
            .await,
            Err(hedui_store::Error::Invalid(_))
        ));
        assert!(
            s.add_user(
                &NewUser {
                    username: "rev".into(),
                    role: Role::CountyReviewer,
                    county_code: None,
                    township_code: None
                },
                "another-pass"
            )
            .await
            .is_err()
        );
        let tok = s.create_session(&ok).await.unwrap();
        let sess = s.session(&tok.token).await.unwrap().unwrap();
        assert_eq!(
            (sess.user.username.as_str(), sess.csrf.as_str()),
            ("cw_ls", tok.csrf.as_str())
        );
        assert!(s.session("00").await.unwrap().is_none());
        s.set_active("cw_ls", false).await.unwrap();
        assert!(s.session(&tok.token).await.unwrap().is_none());
        assert!(
            s.authenticate("cw_ls", "test-password-1")
                .await
                .unwrap()
                .is_none()
        );
        t.cleanup().await;
    }
}
