//! Test fixtures: a synthetic 随州 store (hand-made cases and flags in 曾都区 and 随县), the
//! workbench served in-process on 127.0.0.1, and a small cookie-keeping HTTP client.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;

use chrono::NaiveDate;
use hedui_model::flag::{
    CaseMember, CaseRecord, Evidence, Flag, IdentityMatch, LinkReview, MatchKind, Severity,
    Subject, WeightContribution, flag_id,
};
use hedui_store::{NewUser, Role, RunInfo, Store};

pub const PASSWORD: &str = "test-password-9";
/// 曾都区 南郊街道 and 随县 厉山镇.
pub const ZD_TOWN: &str = "421303003";
pub const SX_TOWN: &str = "421321101";
/// Full ID numbers of the fixture members (synthetic).
pub const ZD_HEAD_ID: &str = "421303198001010018";
/// A 随县 case whose head was first registered in 曾都区 (ID prefix 421303): scope follows the case.
pub const SX_HEAD_ID: &str = "421303197502020027";

pub fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).expect("date")
}

pub fn case(case_id: &str, township: &str, head_id: &str, head_name: &str) -> CaseRecord {
    CaseRecord {
        case_id: case_id.into(),
        programme: "dibao".into(),
        status: "在保".into(),
        county_code: township[..6].into(),
        township_code: township.into(),
        address: "测试村".into(),
        monthly_benefit: Some(1230.0),
        next_review: Some(d(2022, 3, 1)),
        members: vec![
            CaseMember {
                member_id: format!("{case_id}-M1"),
                name: head_name.into(),
                id_number: head_id.into(),
                relation: "申请人".into(),
                person_key: Some(format!("P-{case_id}-1")),
            },
            CaseMember {
                member_id: format!("{case_id}-M2"),
                name: "测试配偶".into(),
                id_number: "42130319800505002X".into(),
                relation: "配偶".into(),
                person_key: None,
            },
        ],
    }
}

pub fn flag(c: &CaseRecord, ty: &str, severity: Severity, record: &str, sensitive: bool) -> Flag {
    let key = format!("gongan/population/{record}");
    Flag {
        flag_id: flag_id(&c.case_id, ty, std::slice::from_ref(&key)),
        flag_type: ty.into(),
        severity,
        run_id: "run-1".into(),
        as_of: d(2021, 9, 30),
        subject: Subject {
            case_id: c.case_id.clone(),
            programme: c.programme.clone(),
            county_code: c.county_code.clone(),
            township_code: c.township_code.clone(),
            head_name_masked: hedui_identity::name::mask_name(&c.members[0].name),
            head_id_masked: hedui_identity::id::mask_id(&c.members[0].id_number),
            address: c.address.clone(),
            household_size: 2,
            monthly_benefit: c.monthly_benefit,
            member_id: Some(c.members[0].member_id.clone()),
            member_name_masked: Some(hedui_identity::name::mask_name(&c.members[0].name)),
        },
        reason_zh: format!("测试预警{ty}"),
        rule_id: ty.into(),
        rules_version: "test-1".into(),
        impact_zh: Some("家庭人数2→1；人均收入380→570元，标准650元".into()),
        suggested_action_zh: "减员 + 调整金额".into(),
        deadline: d(2021, 10, 14),
        evidence: vec![Evidence {
            department: if sensitive {
                "weijian".into()
            } else {
                "gongan".into()
            },
            dataset: if sensitive {
                "hospital_stays".into()
            } else {
                "population".into()
            },
            record_id: record.into(),
            member_id: c.members[0].member_id.clone(),
            event_date: Some(d(2021, 8, 14)),
            extract_date: d(2021, 9, 30),
            values: if sensitive {
                vec![("诊断".into(), "测试诊断甲".into())]
            } else {
                vec![("注销类别".into(), "死亡".into())]
            },
            sensitive,
            identity: IdentityMatch {
                kind: MatchKind::Fuzzy,
                probability: 0.93,
                match_weight: Some(3.8),
                explanation: vec![
                    WeightContribution {
                        comparison: "name".into(),
                        level: "exact".into(),
                        weight: 7.1,
                    },
                    WeightContribution {
                        comparison: "birth_date".into(),
                        level: "exact".into(),
                        weight: 9.4,
                    },
                    WeightContribution {
                        comparison: "address".into(),
                        level: "different".into(),
                        weight: -2.3,
                    },
                ],
            },
        }],
    }
}

pub struct Fixture {
    pub store: Store,
    pub base: String,
    pub zd_case: CaseRecord,
    pub sx_case: CaseRecord,
    pub zd_flag: Flag,
    pub sx_flag: Flag,
    pub sx_health_flag: Flag,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

async fn add(store: &Store, name: &str, role: Role, county: Option<&str>, town: Option<&str>) {
    store
        .add_user(
            &NewUser {
                username: name.into(),
                role,
                county_code: county.map(str::to_owned),
                township_code: town.map(str::to_owned),
            },
            PASSWORD,
        )
        .await
        .expect("add user");
}

/// A store with the fixture cases, flags, a review and one user per role, served on a free port.
pub async fn start() -> Fixture {
    start_with(hedui_web::WebConfig::default()).await
}

pub async fn start_with(config: hedui_web::WebConfig) -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    let store = Store::open(&url).await.expect("open store");
    let zd_case = case("DB-ZD-0001", ZD_TOWN, ZD_HEAD_ID, "王小明");
    let sx_case = case("DB-SX-0001", SX_TOWN, SX_HEAD_ID, "李大春");
    let zd_flag = flag(&zd_case, "DYN-DEATH", Severity::High, "GA-ZD-1", false);
    let sx_flag = flag(
        &sx_case,
        "INC-WAGE-OVER",
        Severity::Medium,
        "RS-SX-1",
        false,
    );
    let sx_health_flag = flag(&sx_case, "EXP-MEDICAL", Severity::Info, "WJ-SX-1", true);
    let review = LinkReview {
        review_id: "R-0001".into(),
        run_id: "run-1".into(),
        left_key: "weijian/births/B1".into(),
        right_key: "gongan/population/P1".into(),
        case_id: Some(zd_case.case_id.clone()),
        county_code: "421303".into(),
        probability: 0.55,
        match_weight: 0.3,
        explanation: vec![WeightContribution {
            comparison: "name".into(),
            level: "pinyin".into(),
            weight: 4.0,
        }],
        fields: vec![
            ("姓名".into(), "王*明".into(), "王*铭".into()),
            ("身份证号".into(), ZD_HEAD_ID.into(), "".into()),
        ],
    };
    store
        .publish_run(
            &RunInfo {
                run_id: "run-1".into(),
                as_of: d(2021, 9, 30),
            },
            &[zd_case.clone(), sx_case.clone()],
            &[zd_flag.clone(), sx_flag.clone(), sx_health_flag.clone()],
            &[review],
        )
        .await
        .expect("publish");
    add(&store, "admin", Role::CityAdmin, None, None).await;
    add(&store, "auditor", Role::Auditor, None, None).await;
    add(&store, "analyst", Role::Analyst, None, None).await;
    add(&store, "rev_zd", Role::CountyReviewer, Some("421303"), None).await;
    add(&store, "rev_sx", Role::CountyReviewer, Some("421321"), None).await;
    add(
        &store,
        "cw_zd",
        Role::TownshipCaseworker,
        None,
        Some(ZD_TOWN),
    )
    .await;
    add(
        &store,
        "cw_sx",
        Role::TownshipCaseworker,
        None,
        Some(SX_TOWN),
    )
    .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr: SocketAddr = listener.local_addr().expect("addr");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let s2 = store.clone();
    tokio::spawn(async move {
        hedui_web::serve(listener, s2, config, async {
            let _ = rx.await;
        })
        .await
        .expect("serve");
    });
    Fixture {
        store,
        base: format!("http://{addr}"),
        zd_case,
        sx_case,
        zd_flag,
        sx_flag,
        sx_health_flag,
        shutdown: Some(tx),
        _dir: dir,
    }
}

pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub fn form_body(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The value of the first `name="csrf" value="…"` in a page.
pub fn csrf_of(html: &str) -> Option<String> {
    let i = html.find("name=\"csrf\" value=\"")? + "name=\"csrf\" value=\"".len();
    let rest = &html[i..];
    Some(rest[..rest.find('"')?].to_owned())
}

/// A browser-like client that keeps its cookies (by name) and does not follow redirects.
pub struct Http {
    pub http: reqwest::Client,
    pub base: String,
    pub cookies: std::collections::BTreeMap<String, String>,
    pub csrf: String,
}

pub struct Resp {
    pub status: u16,
    pub location: String,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Http {
    pub fn new(base: &str) -> Http {
        Http {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            base: base.to_owned(),
            cookies: Default::default(),
            csrf: String::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn finish(&mut self, r: reqwest::Response) -> Resp {
        for v in r.headers().get_all(reqwest::header::SET_COOKIE) {
            let s = v.to_str().unwrap_or("");
            if let Some((kv, _)) = s.split_once(';').or(Some((s, "")))
                && let Some((k, val)) = kv.split_once('=')
            {
                if val.is_empty() {
                    self.cookies.remove(k);
                } else {
                    self.cookies.insert(k.to_owned(), val.to_owned());
                }
            }
        }
        let status = r.status().as_u16();
        let location = r
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let headers = r.headers().clone();
        let body = r.bytes().await.expect("body").to_vec();
        Resp {
            status,
            location,
            headers,
            body,
        }
    }

    pub async fn get(&mut self, path: &str) -> Resp {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header(reqwest::header::COOKIE, self.cookie_header())
            .send()
            .await
            .expect("GET");
        self.finish(r).await
    }

    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Resp {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header(reqwest::header::COOKIE, self.cookie_header())
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(form_body(fields))
            .send()
            .await
            .expect("POST");
        self.finish(r).await
    }

    /// POST with this session's CSRF token added.
    pub async fn post_csrf(&mut self, path: &str, fields: &[(&str, &str)]) -> Resp {
        let csrf = self.csrf.clone();
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post(path, &all).await
    }

    /// Logs in; returns the final response of the login POST.
    pub async fn login(&mut self, user: &str, password: &str) -> Resp {
        let page = self.get("/login").await;
        let token = csrf_of(&page.text()).expect("login csrf");
        let r = self
            .post(
                "/login",
                &[("csrf", &token), ("username", user), ("password", password)],
            )
            .await;
        if r.status == 303 {
            // The home page redirects to the user's start page, whose logout form carries the
            // session's CSRF token.
            let home = self.get("/").await;
            let start = self.get(&home.location).await;
            self.csrf = csrf_of(&start.text()).unwrap_or_default();
        }
        r
    }
}

pub async fn logged_in(base: &str, user: &str) -> Http {
    let mut h = Http::new(base);
    let r = h.login(user, PASSWORD).await;
    assert_eq!(r.status, 303, "login of {user} failed: {}", r.text());
    assert!(!h.csrf.is_empty(), "no csrf for {user}");
    h
}
