//! Store kernels on SQLite: publishing a night's flags (first time and again, idempotent) and
//! reading a scoped, filtered work-queue page.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::NaiveDate;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use hedui_model::flag::{
    CaseMember, CaseRecord, Evidence, Flag, IdentityMatch, MatchKind, Severity, Subject, flag_id,
};
use hedui_store::{FlagQuery, RunInfo, Scope, Store};

const TOWNS: [&str; 4] = ["421303003", "421303101", "421321101", "421381001"];

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn data(n: usize) -> (Vec<CaseRecord>, Vec<Flag>) {
    let mut cases = Vec::with_capacity(n);
    let mut flags = Vec::with_capacity(n);
    for i in 0..n {
        let town = TOWNS[i % TOWNS.len()];
        let case_id = format!("DB{town}{i:06}");
        cases.push(CaseRecord {
            case_id: case_id.clone(),
            programme: "dibao".into(),
            status: "在保".into(),
            county_code: town[..6].into(),
            township_code: town.into(),
            address: "测试村".into(),
            monthly_benefit: Some(800.0),
            next_review: None,
            members: vec![CaseMember {
                member_id: format!("{case_id}-1"),
                name: "测试".into(),
                id_number: "421303198001010018".into(),
                relation: "申请人".into(),
                person_key: None,
            }],
        });
        let key = format!("gongan/population/GA{i}");
        flags.push(Flag {
            flag_id: flag_id(&case_id, "DYN-DEATH", std::slice::from_ref(&key)),
            flag_type: if i % 3 == 0 {
                "DYN-DEATH".into()
            } else {
                "INC-NEW-JOB".into()
            },
            severity: if i % 3 == 0 {
                Severity::High
            } else {
                Severity::Medium
            },
            run_id: "bench".into(),
            as_of: date(2021, 9, 30),
            subject: Subject {
                case_id: case_id.clone(),
                programme: "dibao".into(),
                county_code: town[..6].into(),
                township_code: town.into(),
                head_name_masked: "测*".into(),
                head_id_masked: "421303********0018".into(),
                address: "测试村".into(),
                household_size: 1,
                monthly_benefit: Some(800.0),
                member_id: None,
                member_name_masked: None,
            },
            reason_zh: "测试".into(),
            rule_id: "DYN-DEATH".into(),
            rules_version: "bench".into(),
            impact_zh: None,
            suggested_action_zh: "减员".into(),
            deadline: date(2021, 10, 14),
            evidence: vec![Evidence {
                department: "gongan".into(),
                dataset: "population".into(),
                record_id: format!("GA{i}"),
                member_id: format!("{case_id}-1"),
                event_date: None,
                extract_date: date(2021, 9, 30),
                values: vec![("注销类别".into(), "死亡".into())],
                sensitive: false,
                identity: IdentityMatch {
                    kind: MatchKind::ExactId,
                    probability: 1.0,
                    match_weight: None,
                    explanation: vec![],
                },
            }],
        });
    }
    (cases, flags)
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let n = 2_000;
    let (cases, flags) = data(n);
    let run = RunInfo {
        run_id: "bench".into(),
        as_of: date(2021, 9, 30),
    };
    let mut g = c.benchmark_group("store_sqlite");
    g.sample_size(10);
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("publish_new_2000", |b| {
        b.iter_batched(
            || {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}", dir.path().join("s.db").display());
                let store = rt.block_on(Store::open(&url)).unwrap();
                (dir, store)
            },
            |(dir, store)| {
                let r = rt
                    .block_on(store.publish_run(&run, &cases, &flags, &[]))
                    .unwrap();
                assert_eq!(r.new_flags, n);
                (dir, store)
            },
            BatchSize::PerIteration,
        );
    });
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("s.db").display());
    let store = rt.block_on(Store::open(&url)).unwrap();
    rt.block_on(store.publish_run(&run, &cases, &flags, &[]))
        .unwrap();
    g.bench_function("publish_again_2000", |b| {
        b.iter(|| {
            let r = rt
                .block_on(store.publish_run(&run, &cases, &flags, &[]))
                .unwrap();
            assert_eq!(r.unchanged_flags, n);
        });
    });
    g.throughput(Throughput::Elements(50));
    let q = FlagQuery {
        severity: Some("medium".into()),
        ..Default::default()
    };
    let scope = Scope::County("421303".into());
    g.bench_function("queue_page_50", |b| {
        b.iter(|| {
            let (rows, total) = rt.block_on(store.flags(&q, &scope, 50, 100)).unwrap();
            assert!(total > 0 && !rows.is_empty());
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
