#![allow(clippy::unwrap_used)]
//! Unit tests of facts, indicators, rules, flag ids, suppression and the diff, on a small
//! hand-built city.

use super::*;
use crate::input::{PersonLink, RecordLink, SourceRecord, SourceTable};
use hedui_model::flag::MatchKind;

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

fn rules() -> RuleSet {
    RuleSet::parse(crate::DEFAULT_RULES).unwrap()
}

fn link(key: &str) -> Vec<PersonLink> {
    vec![PersonLink {
        column: "id_number".into(),
        link: RecordLink::by_id(key, MatchKind::ExactId),
    }]
}

fn table(dept: &str, ds: &str, key: &str, cols: &[&str], extract: NaiveDate) -> SourceTable {
    SourceTable::new(
        dept,
        ds,
        extract,
        key,
        cols.iter().map(|c| (*c).to_owned()).collect(),
    )
}

fn row(t: &mut SourceTable, values: &[&str], person: Option<&str>) {
    t.records.push(SourceRecord {
        values: values
            .iter()
            .map(|v| (!v.is_empty()).then(|| (*v).to_owned()))
            .collect(),
        links: person.map(link).unwrap_or_default(),
    });
}

/// A roster of one urban 低保 household of two (P1 head, P2 spouse) in 曾都区, approved
/// 2020-01-10, plus whatever department rows `extra` adds, as of `extract`.
fn city(extract: NaiveDate, extra: &dyn Fn(&mut CheckInput)) -> CheckInput {
    let mut cases = table(
        "minzheng",
        "cases",
        "case_id",
        &[
            "case_id",
            "programme",
            "urban_rural",
            "county_code",
            "township_code",
            "village",
            "head_name",
            "head_id_number",
            "members_count",
            "benefit_amount",
            "approved_date",
            "review_class",
            "last_check_date",
            "next_due_date",
            "status",
        ],
        extract,
    );
    row(
        &mut cases,
        &[
            "C1",
            "DB",
            "1",
            "421303",
            "421303001",
            "烈山社区",
            "王小明",
            "421303198001010018",
            "2",
            "900.00",
            "2020-01-10",
            "B",
            "2021-01-10",
            "2021-10-15",
            "1",
        ],
        None,
    );
    let mut members = table(
        "minzheng",
        "members",
        "member_id",
        &[
            "member_id",
            "case_id",
            "name",
            "id_number",
            "relation",
            "birth_date",
            "counted",
        ],
        extract,
    );
    row(
        &mut members,
        &[
            "C1-01",
            "C1",
            "王小明",
            "421303198001010018",
            "02",
            "1980-01-01",
            "是",
        ],
        Some("P1"),
    );
    row(
        &mut members,
        &[
            "C1-02",
            "C1",
            "李芳",
            "421303198203040021",
            "10",
            "1982-03-04",
            "是",
        ],
        Some("P2"),
    );
    let mut pop = table(
        "gongan",
        "population",
        "record_id",
        &[
            "record_id",
            "id_number",
            "birth_date",
            "urban_rural",
            "status",
            "cancel_reason",
            "cancel_date",
            "move_out_date",
            "move_to",
        ],
        extract,
    );
    row(
        &mut pop,
        &[
            "P1",
            "421303198001010018",
            "19800101",
            "1",
            "0",
            "",
            "",
            "",
            "",
        ],
        Some("P1"),
    );
    row(
        &mut pop,
        &[
            "P2",
            "421303198203040021",
            "19820304",
            "1",
            "0",
            "",
            "",
            "",
            "",
        ],
        Some("P2"),
    );
    let mut input = CheckInput {
        tables: vec![cases, members, pop],
    };
    for (dept, ds, key, cols) in [
        (
            "gongan",
            "vehicles",
            "record_id",
            &["record_id", "plate_type", "first_reg_date", "status"][..],
        ),
        (
            "weijian",
            "births",
            "cert_no",
            &["cert_no", "birth_date"][..],
        ),
        (
            "weijian",
            "deaths",
            "cert_no",
            &["cert_no", "death_date"][..],
        ),
        (
            "weijian",
            "hospital_stays",
            "record_id",
            &[
                "record_id",
                "admit_date",
                "discharge_date",
                "total_cost",
                "out_of_pocket",
            ][..],
        ),
        (
            "renshe",
            "contributions",
            "record_id",
            &[
                "record_id",
                "insurance_type",
                "status",
                "unit_name",
                "unit_credit_code",
                "unit_type",
                "base",
                "period",
            ][..],
        ),
        (
            "renshe",
            "pensions",
            "record_id",
            &[
                "record_id",
                "pension_type",
                "monthly_amount",
                "basic_part",
                "start_month",
                "status",
                "status_date",
            ][..],
        ),
        (
            "renshe",
            "unemployment",
            "record_id",
            &["record_id", "monthly_amount", "start_month", "end_month"][..],
        ),
        (
            "zhujian",
            "property",
            "record_id",
            &[
                "record_id",
                "unit_no",
                "co_ownership",
                "share",
                "use",
                "nature",
                "area",
                "reg_date",
                "status",
            ][..],
        ),
        (
            "zhujian",
            "housing_fund",
            "account_no",
            &[
                "account_no",
                "status",
                "unit_name",
                "base",
                "monthly_amount",
                "last_paid_month",
                "open_date",
            ][..],
        ),
    ] {
        input.tables.push(table(dept, ds, key, cols, extract));
    }
    extra(&mut input);
    input
}

fn t<'a>(input: &'a mut CheckInput, ds: &str) -> &'a mut SourceTable {
    input.tables.iter_mut().find(|t| t.dataset == ds).unwrap()
}

fn contributions(
    input: &mut CheckInput,
    person: &str,
    unit: &str,
    ins: &str,
    base: &str,
    months: &[&str],
) {
    for m in months {
        let id = format!("JF-{person}-{unit}-{m}");
        row(
            t(input, "contributions"),
            &[&id, ins, "1", unit, unit, "10", base, m],
            Some(person),
        );
    }
}

const S1: (i32, u32, u32) = (2021, 6, 30);
const S2: (i32, u32, u32) = (2021, 9, 30);

fn s1() -> NaiveDate {
    d(S1.0, S1.1, S1.2)
}
fn s2() -> NaiveDate {
    d(S2.0, S2.1, S2.2)
}

fn run(
    input: &CheckInput,
    as_of: NaiveDate,
    previous: Option<Snapshot>,
    dismissed: &[&str],
) -> PeriodicOutput {
    let mut o = PeriodicOptions::new("t", as_of);
    o.previous = previous;
    o.dismissed = dismissed.iter().map(|s| (*s).to_owned()).collect();
    run_periodic(input, &rules(), &o)
}

fn types(o: &PeriodicOutput) -> Vec<String> {
    o.flags.iter().map(|f| f.flag_type.clone()).collect()
}

#[test]
fn shipped_rules_parse_and_carry_est_marks() {
    let r = rules();
    let std = r
        .standard("dibao_monthly", "421303", true, d(2021, 9, 30))
        .unwrap();
    assert_eq!(std.value, 650.0);
    assert!(std.estimated);
    // Time-versioned: the 2020 row applies in 2020.
    assert_eq!(
        r.value("dibao_monthly", "421303", true, d(2020, 6, 1)),
        Some(610.0)
    );
    // Region-specific beats `*`.
    assert_eq!(
        r.value("min_wage_monthly", "421303", true, s2()),
        Some(1800.0)
    );
    assert_eq!(
        r.value("min_wage_monthly", "429999", true, s2()),
        Some(1520.0)
    );
    // Before any valid_from there is no value.
    assert_eq!(
        r.value("dibao_monthly", "421303", true, d(2019, 1, 1)),
        None
    );
}

#[test]
fn invalid_rule_sets_report_every_problem() {
    let text = crate::DEFAULT_RULES
        .replace("indicator = \"vehicles\"", "indicator = \"yachts\"")
        .replace(
            "op = \">=\"\nstandard = \"dibao_monthly\"\nresult",
            "op = \"=>\"\nstandard = \"dibao_monthly\"\nresult",
        )
        .replace(
            "severity = \"info\"\ndeadline_days = 30\naction = \"主动告知",
            "severity = \"urgent\"\ndeadline_days = 30\naction = \"主动告知",
        );
    let err = RuleSet::parse(&text).unwrap_err();
    let Error::RuleSet { problems } = err else {
        panic!("wrong error")
    };
    assert!(
        problems.iter().any(|p| p.contains("yachts")),
        "{problems:?}"
    );
    assert!(problems.iter().any(|p| p.contains("=>")), "{problems:?}");
    assert!(
        problems.iter().any(|p| p.contains("EXP-MEDICAL")),
        "{problems:?}"
    );
    assert!(problems.len() >= 3);
    assert!(RuleSet::parse("version = 1").is_err());
}

#[test]
fn wage_prefers_the_housing_fund_and_floors_at_minimum_wage() {
    let input = city(s2(), &|i| {
        contributions(
            i,
            "P1",
            "U1",
            "110",
            "3300.00",
            &["202107", "202108", "202109"],
        );
        row(
            t(i, "housing_fund"),
            &[
                "GJJ1",
                "1",
                "U1",
                "4200.00",
                "672.00",
                "202109",
                "2021年7月1日",
            ],
            Some("P1"),
        );
        contributions(i, "P2", "U2", "110", "3300.00", &["202108", "202109"]);
    });
    let facts = build_facts(&input);
    let roster = build_roster(&input);
    let case = &roster.cases["C1"];
    let ind = household_indicators(
        HouseholdView {
            members: &case.members,
            county: "421303",
            urban: true,
        },
        &facts,
        &rules(),
        s2(),
    );
    // P1: fund base 4200; P2: base at the floor → minimum wage 1800, with a caveat.
    assert!((ind.income.wage - 6000.0).abs() < 1e-6, "{:?}", ind.income);
    assert_eq!(ind.wage_floor_members, vec!["C1-02".to_owned()]);
    assert!((ind.income.employment_cost_deduction - 600.0).abs() < 1e-6);
    assert!((ind.income.per_capita - 2700.0).abs() < 1e-6);
    let results = evaluate(
        &rules(),
        "dibao",
        Place {
            county: "421303",
            urban: true,
            date: s2(),
        },
        &|n| ind.quantity(n),
    );
    let inc = results.iter().find(|r| r.rule_id == "INC-01").unwrap();
    // Over the standard, but resting on a floor-imputed wage: 需核实, not 不符合.
    assert_eq!(inc.outcome, Outcome::Verify);
    assert!(inc.estimated_standard);
    assert!(!inc.evidence.is_empty());
}

#[test]
fn pension_basic_part_is_excluded_and_unemployment_counts_in_its_period() {
    let input = city(s2(), &|i| {
        row(
            t(i, "pensions"),
            &["YL1", "17", "200.00", "118.00", "201501", "1", "20150101"],
            Some("P1"),
        );
        row(
            t(i, "unemployment"),
            &["SY2", "1350.00", "202107", "202206"],
            Some("P2"),
        );
    });
    let facts = build_facts(&input);
    let roster = build_roster(&input);
    let ind = household_indicators(
        HouseholdView {
            members: &roster.cases["C1"].members,
            county: "421303",
            urban: true,
        },
        &facts,
        &rules(),
        s2(),
    );
    assert!(
        (ind.income.transfer - (82.0 + 1350.0)).abs() < 1e-6,
        "{:?}",
        ind.income
    );
    assert!((ind.income.excluded - 118.0).abs() < 1e-6);
    let before = household_indicators(
        HouseholdView {
            members: &roster.cases["C1"].members,
            county: "421303",
            urban: true,
        },
        &facts,
        &rules(),
        d(2021, 6, 30),
    );
    assert!((before.income.transfer - 82.0).abs() < 1e-6);
}

#[test]
fn dwellings_count_homesteads_once_and_shares() {
    let input = city(s2(), &|i| {
        let p = t(i, "property");
        row(
            p,
            &[
                "B1",
                "U-A",
                "1",
                "100",
                "10",
                "5",
                "120.00",
                "2010年1月1日",
                "1",
            ],
            Some("P1"),
        );
        row(
            p,
            &[
                "B2",
                "U-B",
                "1",
                "100",
                "10",
                "5",
                "80.00",
                "2012年1月1日",
                "1",
            ],
            Some("P1"),
        );
        row(
            p,
            &[
                "B3",
                "U-C",
                "3",
                "30",
                "10",
                "1",
                "90.00",
                "2015年1月1日",
                "1",
            ],
            Some("P2"),
        );
        row(
            p,
            &[
                "B4",
                "U-D",
                "1",
                "100",
                "40",
                "1",
                "15.00",
                "2016年1月1日",
                "1",
            ],
            Some("P2"),
        );
        row(
            p,
            &[
                "B5",
                "U-E",
                "1",
                "100",
                "10",
                "1",
                "70.00",
                "2016年1月1日",
                "3",
            ],
            Some("P2"),
        );
    });
    let facts = build_facts(&input);
    let roster = build_roster(&input);
    let ind = household_indicators(
        HouseholdView {
            members: &roster.cases["C1"].members,
            county: "421303",
            urban: true,
        },
        &facts,
        &rules(),
        s2(),
    );
    // Two homestead houses count as one; a 30% share does not make a dwelling; the garage is
    // non-residential; the cancelled right does not count.
    assert_eq!(ind.dwellings, 1);
    assert_eq!(ind.nonresidential_units, 1);
    assert!((ind.dwelling_area - (120.0 + 80.0 + 27.0)).abs() < 1e-6);
}

#[test]
fn missing_data_gives_verify_with_the_reason_never_pass() {
    let mut input = city(s2(), &|_| {});
    input.tables.retain(|t| t.dataset != "vehicles");
    // And one member not linked to any person.
    let m = input
        .tables
        .iter_mut()
        .find(|t| t.dataset == "members")
        .unwrap();
    m.records[1].links.clear();
    let out = run(&input, s2(), None, &[]);
    let res = &out.results["C1"];
    let veh = res.iter().find(|r| r.rule_id == "PROP-VEHICLE").unwrap();
    assert_eq!(veh.outcome, Outcome::Verify);
    assert!(veh.missing_data);
    assert!(
        veh.reason_zh.contains("gongan/vehicles"),
        "{}",
        veh.reason_zh
    );
    let inc = res.iter().find(|r| r.rule_id == "INC-01").unwrap();
    assert_eq!(inc.outcome, Outcome::Verify);
    assert!(inc.reason_zh.contains("未能关联"), "{}", inc.reason_zh);
    // The unlinked member raises ID-NOT-FOUND on a first run.
    assert!(types(&out).contains(&"ID-NOT-FOUND".to_owned()));
}

#[test]
fn events_after_the_previous_run_raise_flags_once() {
    let before = city(s1(), &|i| {
        contributions(i, "P2", "U9", "110", "3300.00", &["202101", "202102"]);
        row(
            t(i, "vehicles"),
            &["V-old", "02", "20150101", "A"],
            Some("P1"),
        );
    });
    let base = run(&before, s1(), None, &[]);
    // On a first run the old car (before the award) raises no event flag, but the rule does.
    assert!(!base.flags.iter().any(|f| f.flag_type == "INC-NEW-JOB"));
    let after = city(s2(), &|i| {
        row(
            t(i, "vehicles"),
            &["V-old", "02", "20150101", "A"],
            Some("P1"),
        );
        row(
            t(i, "vehicles"),
            &["V-new", "02", "20210821", "A"],
            Some("P2"),
        );
        row(
            t(i, "vehicles"),
            &["V-moto", "07", "20210822", "A"],
            Some("P2"),
        );
        contributions(
            i,
            "P1",
            "U1",
            "110",
            "5000.00",
            &["202107", "202108", "202109"],
        );
        row(t(i, "deaths"), &["SW2", "2021-08-14"], Some("P2"));
        row(t(i, "births"), &["O1", "2021-08-01"], Some("P1"));
        row(
            t(i, "property"),
            &[
                "B9",
                "U-N",
                "1",
                "100",
                "10",
                "1",
                "88.00",
                "2021年9月1日",
                "1",
            ],
            Some("P1"),
        );
        row(
            t(i, "pensions"),
            &["YL1", "11", "2100.00", "", "202108", "1", "20210801"],
            Some("P1"),
        );
        row(
            t(i, "unemployment"),
            &["SY1", "1350.00", "202107", "202206"],
            Some("P1"),
        );
        row(
            t(i, "hospital_stays"),
            &["ZY1", "2021/7/10", "2021/7/30", "150000", "60000"],
            Some("P1"),
        );
    });
    let out = run(&after, s2(), Some(base.snapshot.clone()), &[]);
    let ty = types(&out);
    for want in [
        "PROP-VEHICLE",
        "INC-NEW-JOB",
        "DYN-DEATH",
        "DYN-NEWBORN",
        "PROP-HOUSE-NEW",
        "INC-PENSION-START",
        "INC-UNEMP",
        "EXP-MEDICAL",
    ] {
        assert!(ty.contains(&want.to_owned()), "{want} missing from {ty:?}");
    }
    // Exactly one vehicle flag: the motorcycle is exempt and the old car is known.
    assert_eq!(ty.iter().filter(|t| *t == "PROP-VEHICLE").count(), 1);
    let death = out
        .flags
        .iter()
        .find(|f| f.flag_type == "DYN-DEATH")
        .unwrap();
    assert_eq!(death.severity, hedui_model::flag::Severity::High);
    assert!(death.reason_zh.contains("2021-08-14"));
    assert_eq!(death.subject.head_id_masked, "421303********0018");
    assert!(
        death.impact_zh.as_deref().unwrap_or("").contains("2→"),
        "{:?}",
        death.impact_zh
    );
    assert!(death.deadline > s2());
    let stay = out
        .flags
        .iter()
        .find(|f| f.flag_type == "EXP-MEDICAL")
        .unwrap();
    assert!(stay.evidence.iter().all(|e| e.sensitive));
    // Idempotence: the same night again with this run as previous raises nothing.
    let again = run(&after, s2(), Some(out.snapshot.clone()), &[]);
    assert!(again.flags.is_empty(), "{:?}", types(&again));
}

#[test]
fn flag_ids_are_stable_and_dismissed_flags_stay_dismissed() {
    let before = city(s1(), &|_| {});
    let base = run(&before, s1(), None, &[]);
    let after = city(s2(), &|i| {
        row(
            t(i, "vehicles"),
            &["V-new", "02", "20210821", "A"],
            Some("P2"),
        );
    });
    let a = run(&after, s2(), Some(base.snapshot.clone()), &[]);
    let b = run(&after, s2(), Some(base.snapshot.clone()), &[]);
    let ids_a: Vec<&str> = a.flags.iter().map(|f| f.flag_id.as_str()).collect();
    let ids_b: Vec<&str> = b.flags.iter().map(|f| f.flag_id.as_str()).collect();
    assert_eq!(ids_a, ids_b);
    assert!(!ids_a.is_empty());
    // Dismissing the vehicle flag: not raised again, even without the previous snapshot's
    // knowledge of it.
    let veh = a
        .flags
        .iter()
        .find(|f| f.flag_type == "PROP-VEHICLE")
        .unwrap()
        .flag_id
        .clone();
    let c = run(&after, s2(), Some(base.snapshot.clone()), &[&veh]);
    assert!(!c.flags.iter().any(|f| f.flag_id == veh));
    assert_eq!(c.summary.suppressed_dismissed, 1);
    // A later night (new contribution months, same evidence anchor) keeps the id.
    let later = city(d(2021, 10, 31), &|i| {
        row(
            t(i, "vehicles"),
            &["V-new", "02", "20210821", "A"],
            Some("P2"),
        );
    });
    let l = run(&later, d(2021, 10, 31), Some(base.snapshot), &[&veh]);
    assert!(!l.flags.iter().any(|f| f.flag_id == veh));
}

#[test]
fn reformatted_ids_and_traditional_names_change_nothing() {
    let before = city(s1(), &|i| {
        contributions(i, "P1", "U1", "110", "4000.00", &["202105", "202106"]);
    });
    let base = run(&before, s1(), None, &[]);
    let after = city(s2(), &|i| {
        contributions(i, "P1", "U1", "110", "4000.00", &["202108", "202109"]);
        // The roster now writes P1 in traditional characters with a 15-digit number; the
        // link (person index) still says P1.
        let m = i
            .tables
            .iter_mut()
            .find(|t| t.dataset == "members")
            .unwrap();
        m.records[0].values[2] = Some("王小明".into());
        m.records[0].values[3] = Some("421303800101001".into());
        m.records[0].links[0].link.kind = MatchKind::Id15Upgraded;
    });
    let out = run(&after, s2(), Some(base.snapshot), &[]);
    assert!(
        out.flags.is_empty(),
        "{:?}",
        out.flags.iter().map(|f| &f.reason_zh).collect::<Vec<_>>()
    );
}

#[test]
fn old_records_linked_late_do_not_flag() {
    let before = city(s1(), &|_| {});
    let base = run(&before, s1(), None, &[]);
    // A property registered in 2012 appears now (its owner's ID was unreadable before).
    let after = city(s2(), &|i| {
        row(
            t(i, "property"),
            &[
                "B1",
                "U-A",
                "1",
                "100",
                "10",
                "1",
                "60.00",
                "2012年1月1日",
                "1",
            ],
            Some("P1"),
        );
    });
    let out = run(&after, s2(), Some(base.snapshot), &[]);
    assert!(!types(&out).contains(&"PROP-HOUSE-NEW".to_owned()));
}

#[test]
fn public_payroll_is_its_own_flag_not_a_new_job() {
    let base = run(&city(s1(), &|_| {}), s1(), None, &[]);
    let after = city(s2(), &|i| {
        contributions(
            i,
            "P2",
            "G1",
            "120",
            "5500.00",
            &["202107", "202108", "202109"],
        );
        row(
            t(i, "housing_fund"),
            &[
                "GJJ2",
                "1",
                "G1",
                "5500.00",
                "1320.00",
                "202109",
                "2021年7月1日",
            ],
            Some("P2"),
        );
    });
    let out = run(&after, s2(), Some(base.snapshot), &[]);
    let ty = types(&out);
    assert!(ty.contains(&"PERS-PUBLIC-PAYROLL".to_owned()), "{ty:?}");
    assert!(!ty.contains(&"INC-NEW-JOB".to_owned()), "{ty:?}");
}

#[test]
fn snapshot_round_trips() {
    let out = run(&city(s1(), &|_| {}), s1(), None, &[]);
    let text = out.snapshot.to_json();
    let back = Snapshot::from_json(&text).unwrap();
    assert_eq!(back, out.snapshot);
    assert!(Snapshot::from_json("{}").is_err());
    assert!(Snapshot::from_json(&text.replace("\"format\":1", "\"format\":9")).is_err());
}

#[test]
fn due_list_follows_next_due_date() {
    let out = run(&city(s2(), &|_| {}), s2(), None, &[]);
    // next_due 2021-10-15 is within the 30-day notice window of 2021-09-30.
    assert_eq!(out.due.len(), 1);
    assert!(!out.due[0].overdue);
    let early = run(&city(d(2021, 6, 30), &|_| {}), d(2021, 6, 30), None, &[]);
    assert!(early.due.is_empty());
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]
        #[test]
        fn indicators_are_finite_and_non_negative(
            base in prop::collection::vec("[-0-9.,a-z]{0,9}", 0..4),
            amount in "[-0-9.e]{0,8}",
            area in "[-0-9.]{0,6}",
        ) {
            let input = city(s2(), &|i| {
                for (k, b) in base.iter().enumerate() {
                    let id = format!("JF{k}");
                    row(t(i, "contributions"), &[&id, "110", "1", "U", "U", "10", b, "202109"], Some("P1"));
                }
                row(t(i, "pensions"), &["YL1", "11", &amount, &amount, "202101", "1", ""], Some("P2"));
                row(t(i, "property"), &["B1", "U-A", "3", &amount, "10", "1", &area, "2010-01-01", "1"], Some("P2"));
                row(t(i, "hospital_stays"), &["ZY1", "2021/7/1", "2021/7/9", &amount, &amount], Some("P2"));
            });
            let out = run(&input, s2(), None, &[]);
            let ind = &out.indicators["C1"];
            for v in [ind.income.total, ind.income.per_capita, ind.income.wage, ind.income.transfer,
                      ind.dwelling_area, ind.dwelling_area_per_capita, ind.medical_oop_12m, ind.medical_burden] {
                prop_assert!(v.is_finite() && v >= 0.0, "{v} in {ind:?}");
            }
        }
    }
}

/// The test household's 户 in the register: P1 (户主) and P2 (配偶) as listed, with `extra`
/// entries (record/person, relation, birth date, 户号, status, cancel reason, cancel date).
fn register_household(i: &mut CheckInput, extra: &[[&str; 7]]) {
    let mut pop = table(
        "gongan",
        "population",
        "record_id",
        &[
            "record_id",
            "name",
            "birth_date",
            "household_no",
            "region_code",
            "relation",
            "status",
            "cancel_reason",
            "cancel_date",
        ],
        i.tables[0].extract_date,
    );
    let listed = [
        ["P1", "02", "19800101", "H1", "0", "", ""],
        ["P2", "10", "19820304", "H1", "0", "", ""],
    ];
    for [id, rel, born, hh, status, reason, date] in listed.iter().chain(extra) {
        let name = format!("王{id}");
        row(
            &mut pop,
            &[
                id,
                &name,
                born,
                hh,
                "421303001001",
                rel,
                status,
                reason,
                date,
            ],
            Some(id),
        );
    }
    *t(i, "population") = pop;
}

#[test]
fn minors_in_the_register_household_are_co_living_members() {
    // P3: a son born after the approval, not listed; P4: the head's adult brother; P5: an
    // adult son; P6: a minor in another 户.
    let household = [
        ["P3", "20", "20200501", "H1", "0", "", ""],
        ["P4", "70", "19850101", "H1", "0", "", ""],
        ["P5", "20", "20000101", "H1", "0", "", ""],
        ["P6", "20", "20150101", "H2", "0", "", ""],
    ];
    let before = city(s1(), &|i| register_household(i, &household));
    let base = run(&before, s1(), None, &[]);
    assert_eq!(base.summary.register_members, 1);
    assert_eq!(base.indicators["C1"].counted_members, 3);
    let c1 = base.cases.iter().find(|c| c.case_id == "C1").unwrap();
    assert!(
        c1.members
            .iter()
            .any(|m| m.member_id == "HJ-P3" && m.relation.contains("未列入名单"))
    );

    // Then P3 dies, P7 is born into the 户 (a certificate names P1 too), and the brother
    // and the child of the other 户 have costly hospital stays.
    let after = city(s2(), &|i| {
        register_household(
            i,
            &[
                ["P3", "20", "20200501", "H1", "1", "1", "20210810"],
                household[1],
                household[2],
                ["P6", "20", "20150101", "H2", "1", "1", "20210811"],
                ["P7", "30", "20210820", "H1", "0", "", ""],
            ],
        );
        row(t(i, "births"), &["O7", "2021-08-20"], Some("P1"));
        for p in ["P4", "P6"] {
            row(
                t(i, "hospital_stays"),
                &[
                    &format!("ZY-{p}"),
                    "2021/7/10",
                    "2021/7/30",
                    "150000",
                    "60000",
                ],
                Some(p),
            );
        }
    });
    let out = run(&after, s2(), Some(base.snapshot.clone()), &[]);
    assert_eq!(out.summary.register_members, 2);
    let death: Vec<&Flag> = out
        .flags
        .iter()
        .filter(|f| f.flag_type == "DYN-DEATH")
        .collect();
    assert_eq!(death.len(), 1, "{:?}", types(&out));
    assert_eq!(death[0].subject.member_id.as_deref(), Some("HJ-P3"));
    assert!(death[0].reason_zh.contains("未列入名单"));
    let born: Vec<&Flag> = out
        .flags
        .iter()
        .filter(|f| f.flag_type == "DYN-NEWBORN")
        .collect();
    assert_eq!(born.len(), 1, "one birth, two sources: {born:?}");
    assert!(
        !types(&out).contains(&"EXP-MEDICAL".to_owned()),
        "{:?}",
        types(&out)
    );
    // P1, P2 and the newborn; P3 is dead.
    assert_eq!(out.indicators["C1"].counted_members, 3);
    assert_eq!(out.indicators["C1"].new_members.len(), 1);

    // The register alone (no certificate) raises the newborn flag too.
    let after_register_only = city(s2(), &|i| {
        register_household(
            i,
            &[household[0], ["P7", "30", "20210820", "H1", "0", "", ""]],
        );
    });
    let out = run(&after_register_only, s2(), Some(base.snapshot.clone()), &[]);
    assert_eq!(types(&out), vec!["DYN-NEWBORN".to_owned()]);
}
