//! The synthetic city itself: households and persons with life and economic timelines, the
//! assistance roster, pending applications, and the events planted between the two snapshots.
//!
//! Everything is a timeline (a job has a start and maybe an end, a death has a date and a
//! registration lag), so that an extract "as of" any date is a pure function of the city and
//! the date. The city is generated in fixed-size chunks, each from its own seeded RNG, so the
//! result is the same whatever the number of threads.

use std::collections::HashSet;

use chrono::{Datelike, Duration, NaiveDate};
use hedui_identity::divisions::{self, Township};
use hedui_identity::id::check_char;
use rand::Rng;
use rand::seq::IndexedRandom;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::names;
use crate::{Config, rng_for};

/// Persons per generation chunk. Fixed, so that output does not depend on the thread count.
const CHUNK_PERSONS: usize = 2048;

const TAG_CHUNK: u64 = 1;
const TAG_UNITS: u64 = 2;

/// An employer.
#[derive(Debug, Clone)]
pub struct Unit {
    /// Name, e.g. `随州市曾都区某某机械有限公司`.
    pub name: String,
    /// 统一社会信用代码 (18 characters).
    pub credit_code: String,
    /// 单位类型 code: 10 企业, 20 机关, 30 事业.
    pub unit_type: &'static str,
}

/// A spell of insured employment.
#[derive(Debug, Clone)]
pub struct Job {
    /// Index into [`City::units`]; `None` for 灵活就业 (self-paid).
    pub unit: Option<u32>,
    /// 110 enterprise / 120 public institutions.
    pub insurance: &'static str,
    /// True monthly wage (yuan).
    pub wage: f64,
    /// First month of contributions (first day of the month).
    pub start: NaiveDate,
    /// Last month of contributions, if it ended.
    pub end: Option<NaiveDate>,
    /// Whether the employer pays into the housing fund.
    pub fund: bool,
}

/// A pension in payment.
#[derive(Debug, Clone)]
pub struct Pension {
    /// 11 企业退休, 12 机关事业退休, 17 城乡居民养老.
    pub kind: &'static str,
    /// Monthly amount (yuan).
    pub amount: f64,
    /// The central basic part (城乡居民 only), excluded from income.
    pub basic: f64,
    /// First month paid.
    pub start: NaiveDate,
}

/// A spell of unemployment benefit.
#[derive(Debug, Clone)]
pub struct Unemployment {
    /// Monthly amount.
    pub amount: f64,
    /// First month.
    pub start: NaiveDate,
    /// Last month.
    pub end: NaiveDate,
}

/// A hospital stay.
#[derive(Debug, Clone)]
pub struct Stay {
    /// Admission date.
    pub admit: NaiveDate,
    /// Discharge date.
    pub discharge: NaiveDate,
    /// Total cost.
    pub total: f64,
    /// Out-of-pocket part.
    pub out_of_pocket: f64,
    /// Main diagnosis (ICD-10 code).
    pub icd10: &'static str,
    /// Index of the hospital.
    pub hospital: u8,
}

/// A person.
#[derive(Debug, Clone)]
pub struct Person {
    /// Global person index (the ground-truth identity).
    pub pid: u32,
    /// Household index.
    pub hh: u32,
    /// True name.
    pub name: String,
    /// Characters of the surname (2 for compound surnames, 0 for transliterated names).
    pub surname_len: u8,
    /// 曾用名, if any.
    pub former_name: Option<String>,
    /// Male?
    pub male: bool,
    /// Birth date.
    pub birth: NaiveDate,
    /// The 18-digit ID number 公安 issued.
    pub id18: String,
    /// GB 3304 ethnicity code.
    pub ethnicity: &'static str,
    /// GB/T 4761 relation to the head of the 户.
    pub relation: &'static str,
    /// Marital status code.
    pub marital: &'static str,
    /// The twin sibling, if any.
    pub twin_of: Option<u32>,
    /// Date of death.
    pub death: Option<NaiveDate>,
    /// Days from death to the 公安 de-registration (it lags).
    pub death_reg_lag: u16,
    /// Date the 户口 moved out of the city.
    pub move_out: Option<(NaiveDate, &'static str)>,
    /// Date the 户口 moved into the city (for people born elsewhere).
    pub move_in: Option<NaiveDate>,
    /// Date 公安 registered the person (birth + a lag for newborns).
    pub registered: NaiveDate,
    /// Mobile phone.
    pub phone: Option<String>,
    /// Work unit as 公安 records it (often stale).
    pub workplace: Option<String>,
    /// Insured employment spells.
    pub jobs: Vec<Job>,
    /// Pension.
    pub pension: Option<Pension>,
    /// Unemployment benefit.
    pub unemployment: Option<Unemployment>,
    /// Hospital stays.
    pub stays: Vec<Stay>,
    /// Mother and father (for birth certificates).
    pub parents: (Option<u32>, Option<u32>),
}

impl Person {
    /// Alive on `date`?
    pub fn alive_on(&self, date: NaiveDate) -> bool {
        self.birth <= date && self.death.is_none_or(|d| d > date)
    }

    /// Age in whole years on `date`.
    pub fn age_on(&self, date: NaiveDate) -> i32 {
        let mut age = date.year() - self.birth.year();
        if (date.month(), date.day()) < (self.birth.month(), self.birth.day()) {
            age -= 1;
        }
        age
    }
}

/// A real-estate unit.
#[derive(Debug, Clone)]
pub struct Property {
    /// 不动产单元号 (28 characters).
    pub unit_no: String,
    /// Owners (person indices).
    pub owners: Vec<u32>,
    /// 规划用途 code.
    pub use_code: &'static str,
    /// 房屋性质 code.
    pub nature: &'static str,
    /// Floor area (m²).
    pub area: f64,
    /// Registration date.
    pub reg_date: NaiveDate,
    /// 坐落.
    pub location: String,
    /// Mortgaged?
    pub mortgaged: bool,
}

/// A motor vehicle.
#[derive(Debug, Clone)]
pub struct Vehicle {
    /// Owner (person index).
    pub owner: u32,
    /// 号牌号码.
    pub plate: String,
    /// 号牌种类 code.
    pub plate_type: &'static str,
    /// 车辆类型 text.
    pub kind: &'static str,
    /// 品牌型号.
    pub brand: &'static str,
    /// 初次登记日期.
    pub first_reg: NaiveDate,
}

/// 低保 / 特困 / 低收入.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Programme {
    /// 低保.
    Dibao,
    /// 特困.
    Tekun,
    /// 低收入.
    LowIncome,
}

impl Programme {
    /// Code-table code.
    pub fn code(self) -> &'static str {
        match self {
            Programme::Dibao => "DB",
            Programme::Tekun => "TK",
            Programme::LowIncome => "DSR",
        }
    }
}

/// A household on the assistance roster.
#[derive(Debug, Clone)]
pub struct Case {
    /// Case id.
    pub case_id: String,
    /// Programme.
    pub programme: Programme,
    /// Approval date.
    pub approved: NaiveDate,
    /// Review class A/B/C.
    pub review_class: &'static str,
    /// Last full check.
    pub last_check: NaiveDate,
    /// Next periodic check.
    pub next_due: NaiveDate,
    /// Declared monthly household income.
    pub declared_income: f64,
    /// Monthly benefit.
    pub benefit: f64,
    /// Authorization number.
    pub auth_no: String,
}

/// A pending application (the 逢进必核 queue).
#[derive(Debug, Clone)]
pub struct Application {
    /// Application id.
    pub application_id: String,
    /// Programme applied for.
    pub programme: Programme,
    /// Application date.
    pub applied: NaiveDate,
    /// Declared monthly household income.
    pub declared_income: f64,
    /// Authorization number.
    pub auth_no: String,
    /// A member the authorization does not cover (the authorization gate), if any.
    pub unsigned_member: Option<u32>,
}

/// A household (one 户, living together).
#[derive(Debug, Clone)]
pub struct Household {
    /// Global household index.
    pub hid: u32,
    /// Township.
    pub township: &'static Township,
    /// Village or community name.
    pub village: String,
    /// Three-digit village code (last part of the 12-digit region code).
    pub village_code: u16,
    /// 组 number (rural) or 0.
    pub group: u8,
    /// Full 户籍 address.
    pub address: String,
    /// Urban?
    pub urban: bool,
    /// 户号.
    pub hukou_no: String,
    /// Members (person indices); the first is the head.
    pub members: Vec<u32>,
    /// Real estate.
    pub properties: Vec<Property>,
    /// Vehicles.
    pub vehicles: Vec<Vehicle>,
    /// On the roster?
    pub case: Option<Case>,
    /// Applying?
    pub application: Option<Application>,
    /// Event kinds planted between the snapshots (ground truth).
    pub events: Vec<Event>,
}

impl Household {
    /// Records an event planted in this household (ground truth).
    fn plant(&mut self, kind: EventKind, pid: u32, date: NaiveDate, amount: f64) {
        self.events.push(Event {
            kind,
            pid,
            date,
            amount,
        });
    }
}

/// What happened between the two snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    /// A member died.
    Death,
    /// A member started insured employment.
    NewJob,
    /// A member started a pension.
    PensionStart,
    /// The household registered a new dwelling.
    PropertyNew,
    /// The household registered a new car.
    VehicleNew,
    /// A member's 户口 moved out of the city.
    MigrateOut,
    /// A child was born.
    Birth,
    /// A member had a costly hospital stay.
    HospitalCostly,
    /// A member joined the public payroll (insurance 120).
    PublicPayroll,
    /// A member started receiving unemployment benefit.
    UnemploymentStart,
    /// Nothing changed but the way one department writes a member's ID or name.
    DataQualityOnly,
}

impl EventKind {
    /// Stable name used in the ground-truth file.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Death => "death",
            EventKind::NewJob => "new_job",
            EventKind::PensionStart => "pension_start",
            EventKind::PropertyNew => "property_new",
            EventKind::VehicleNew => "vehicle_new",
            EventKind::MigrateOut => "migrate_out",
            EventKind::Birth => "birth",
            EventKind::HospitalCostly => "hospital_costly",
            EventKind::PublicPayroll => "public_payroll",
            EventKind::UnemploymentStart => "unemployment_start",
            EventKind::DataQualityOnly => "dq_variation",
        }
    }
}

/// A planted event.
#[derive(Debug, Clone)]
pub struct Event {
    /// Kind.
    pub kind: EventKind,
    /// The person it concerns.
    pub pid: u32,
    /// When.
    pub date: NaiveDate,
    /// Amount (wage, pension, price, cost), if any.
    pub amount: f64,
}

/// The whole synthetic city.
#[derive(Debug)]
pub struct City {
    /// Persons, indexed by `pid`.
    pub persons: Vec<Person>,
    /// Households, indexed by `hid`.
    pub households: Vec<Household>,
    /// Employers.
    pub units: Vec<Unit>,
    /// The snapshot dates.
    pub snapshots: [NaiveDate; 2],
}

impl City {
    /// Generates the city for `config`.
    pub fn generate(config: &Config) -> City {
        let units = make_units(config);
        let n_chunks = config.population.div_ceil(CHUNK_PERSONS);
        let chunks: Vec<(Vec<Household>, Vec<Person>)> = (0..n_chunks)
            .into_par_iter()
            .map(|c| {
                let target = CHUNK_PERSONS.min(config.population - c * CHUNK_PERSONS);
                let mut rng = rng_for(config.seed, TAG_CHUNK, c as u64);
                ChunkGen::new(config, &units, &mut rng).run(target)
            })
            .collect();
        let mut persons = Vec::with_capacity(config.population);
        let mut households = Vec::new();
        for (mut hhs, mut ps) in chunks {
            let p_off = persons.len() as u32;
            let h_off = households.len() as u32;
            for p in &mut ps {
                p.pid += p_off;
                p.hh += h_off;
                p.twin_of = p.twin_of.map(|t| t + p_off);
                p.parents = (
                    p.parents.0.map(|x| x + p_off),
                    p.parents.1.map(|x| x + p_off),
                );
            }
            for h in &mut hhs {
                h.hid += h_off;
                for m in &mut h.members {
                    *m += p_off;
                }
                for pr in &mut h.properties {
                    for o in &mut pr.owners {
                        *o += p_off;
                    }
                }
                for v in &mut h.vehicles {
                    v.owner += p_off;
                }
                for e in &mut h.events {
                    e.pid += p_off;
                }
                if let Some(a) = &mut h.application {
                    a.unsigned_member = a.unsigned_member.map(|m| m + p_off);
                }
            }
            persons.extend(ps);
            households.extend(hhs);
        }
        make_ids_unique(&mut persons);
        number_cases(&mut households);
        City {
            persons,
            households,
            units,
            snapshots: config.snapshots,
        }
    }

    /// The household of a person.
    pub fn household_of(&self, pid: u32) -> &Household {
        &self.households[self.persons[pid as usize].hh as usize]
    }
}

fn make_units(config: &Config) -> Vec<Unit> {
    let mut rng = rng_for(config.seed, TAG_UNITS, 0);
    let n = (config.population / 40).max(50);
    const TRADES: &[&str] = &[
        "机械",
        "汽车零部件",
        "食品",
        "香菇",
        "纺织",
        "建筑工程",
        "物流",
        "商贸",
        "电子",
        "农业科技",
        "专用汽车",
        "医药",
        "酒业",
        "茶叶",
        "新能源",
    ];
    const WORDS: &str = "神农炎帝编钟曾侯涢水白云大洪桃源新兴恒通华鑫盛达金龙鸿运永安福瑞";
    let words: Vec<char> = WORDS.chars().collect();
    (0..n)
        .map(|i| {
            let county = divisions::COUNTIES[i % 3];
            let kind = rng.random_range(0..100);
            let (unit_type, name) = if kind < 8 {
                (
                    "20",
                    format!(
                        "{}{}局",
                        county.name,
                        ["财政", "教育", "农业农村", "交通运输", "自然资源"][i % 5]
                    ),
                )
            } else if kind < 18 {
                (
                    "30",
                    format!(
                        "{}{}",
                        county.name,
                        ["第一中学", "人民医院", "疾控中心", "实验小学", "文化馆"][i % 5]
                    ),
                )
            } else {
                let a = words.choose(&mut rng).copied().unwrap_or('鑫');
                let b = words.choose(&mut rng).copied().unwrap_or('达');
                let trade = TRADES.choose(&mut rng).copied().unwrap_or("商贸");
                ("10", format!("随州市{a}{b}{trade}有限公司"))
            };
            let credit_code = credit_code(&mut rng, county.code);
            Unit {
                name: format!(
                    "{name}{}",
                    if i >= 15 {
                        format!("{}", i / 15)
                    } else {
                        String::new()
                    }
                ),
                credit_code,
                unit_type,
            }
        })
        .collect()
}

/// A plausible (not checksum-valid) 统一社会信用代码.
fn credit_code(rng: &mut impl Rng, county: &str) -> String {
    const ALPH: &[u8] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
    let mut s = String::from("91");
    s.push_str(county);
    for _ in 0..10 {
        s.push(char::from(ALPH[rng.random_range(0..ALPH.len())]));
    }
    s
}

/// Makes every ID number unique, as 公安 guarantees: a collision (same region, birth date and
/// sequence) moves the later person's sequence on by 2 (keeping the gender parity).
fn make_ids_unique(persons: &mut [Person]) {
    let mut seen: HashSet<String> = HashSet::with_capacity(persons.len());
    for p in persons.iter_mut() {
        let mut id = std::mem::take(&mut p.id18);
        while !seen.insert(id.clone()) {
            let seq: u32 = id[14..17].parse().unwrap_or(0);
            let next = (seq + 2) % 1000;
            let first17 = format!("{}{next:03}", &id[..14]);
            let c = check_char(first17.as_bytes()).unwrap_or(b'0');
            id = format!("{first17}{}", char::from(c));
        }
        p.id18 = id;
    }
}

/// Gives cases and applications their ids in household order (deterministic).
fn number_cases(households: &mut [Household]) {
    let mut case_n = 0u32;
    let mut app_n = 0u32;
    for h in households.iter_mut() {
        let county = &h.township.code[..6];
        if let Some(c) = &mut h.case {
            case_n += 1;
            c.case_id = format!("{}{county}{case_n:07}", c.programme.code());
            c.auth_no = format!("{county}-{}-{case_n:06}", c.approved.year());
        }
        if let Some(a) = &mut h.application {
            app_n += 1;
            a.application_id = format!("SQ{county}{app_n:07}");
            a.auth_no = format!("{county}-{}-A{app_n:06}", a.applied.year());
        }
    }
}

pub(crate) fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or(NaiveDate::MIN)
}

/// First day of the month of `d`.
pub fn month_of(d: NaiveDate) -> NaiveDate {
    ymd(d.year(), d.month(), 1)
}

/// `d` moved by `n` months (first of month).
pub fn add_months(d: NaiveDate, n: i32) -> NaiveDate {
    let total = d.year() * 12 + d.month0() as i32 + n;
    ymd(total.div_euclid(12), total.rem_euclid(12) as u32 + 1, 1)
}

fn date_between(rng: &mut impl Rng, from: NaiveDate, to: NaiveDate) -> NaiveDate {
    let days = (to - from).num_days().max(0);
    from + Duration::days(rng.random_range(0..=days))
}

/// Places outside the city that people move to.
const ELSEWHERE: &[&str] = &[
    "湖北省武汉市洪山区",
    "湖北省襄阳市樊城区",
    "广东省深圳市宝安区",
    "浙江省杭州市萧山区",
    "河南省信阳市浉河区",
    "湖北省孝感市孝南区",
];

/// Region codes of people born outside 随州.
const OTHER_REGIONS: &[&str] = &[
    "420106", "420111", "420602", "420902", "411502", "440306", "330109",
];

const ICD_COMMON: &[&str] = &[
    "J18.9", "I10", "E11.9", "K29.7", "M54.5", "N39.0", "I63.9", "S72.0",
];
const ICD_SEVERE: &[&str] = &["C34.9", "C16.9", "I21.9", "N18.5", "C22.0", "I61.9"];

const BRANDS: &[&str] = &[
    "大众牌",
    "东风牌",
    "比亚迪牌",
    "长安牌",
    "吉利牌",
    "五菱牌",
    "丰田牌",
    "本田牌",
];
const MOTO_BRANDS: &[&str] = &["豪爵牌", "五羊牌", "嘉陵牌"];

struct ChunkGen<'a> {
    config: &'a Config,
    units: &'a [Unit],
    rng: &'a mut ChaCha8Rng,
    persons: Vec<Person>,
    households: Vec<Household>,
    s1: NaiveDate,
    s2: NaiveDate,
}

/// The kinds of household composition and their shares.
#[derive(Debug, Clone, Copy)]
enum Shape {
    SingleElder,
    ElderCouple,
    Family,
    ThreeGen,
    SingleParent,
    SingleAdult,
    Couple,
}

impl<'a> ChunkGen<'a> {
    fn new(config: &'a Config, units: &'a [Unit], rng: &'a mut ChaCha8Rng) -> Self {
        ChunkGen {
            config,
            units,
            rng,
            persons: Vec::with_capacity(CHUNK_PERSONS + 8),
            households: Vec::new(),
            s1: config.snapshots[0],
            s2: config.snapshots[1],
        }
    }

    fn run(mut self, target: usize) -> (Vec<Household>, Vec<Person>) {
        while self.persons.len() < target {
            self.household();
        }
        // Trim the last household to hit the population exactly.
        while self.persons.len() > target {
            let p = self.persons.pop().map(|p| p.pid);
            if let (Some(pid), Some(h)) = (p, self.households.last_mut()) {
                h.members.retain(|m| *m != pid);
                for pr in &mut h.properties {
                    pr.owners.retain(|o| *o != pid);
                }
                h.properties.retain(|pr| !pr.owners.is_empty());
                h.vehicles.retain(|v| v.owner != pid);
                h.events.retain(|e| e.pid != pid);
                if h.application.as_ref().and_then(|a| a.unsigned_member) == Some(pid) {
                    h.application = None;
                }
                for q in &mut self.persons {
                    if q.twin_of == Some(pid) {
                        q.twin_of = None;
                    }
                }
            }
        }
        if self.households.last().is_some_and(|h| h.members.is_empty()) {
            self.households.pop();
        }
        (self.households, self.persons)
    }

    fn household(&mut self) {
        let r = self.rng.random_range(0..100);
        let shape = match r {
            0..10 => Shape::SingleElder,
            10..22 => Shape::ElderCouple,
            22..55 => Shape::Family,
            55..75 => Shape::ThreeGen,
            75..80 => Shape::SingleParent,
            80..91 => Shape::SingleAdult,
            _ => Shape::Couple,
        };
        let county = divisions::COUNTIES[self.rng.random_range(0..3)];
        let towns: Vec<&'static Township> = divisions::townships_of(county.code).collect();
        let township = towns
            .choose(self.rng)
            .copied()
            .unwrap_or(&divisions::TOWNSHIPS[0]);
        let urban = township.urban || self.rng.random_bool(0.15);
        let hid = self.households.len() as u32;
        let (village, village_code, group, address) = self.place(township, urban);
        let hukou_no = format!(
            "{}{:06}",
            &township.code[3..9],
            self.rng.random_range(0..1_000_000)
        );
        // Poorer households: older, rural, single. They fill the roster.
        let poor_p = match shape {
            Shape::SingleElder => 0.22,
            Shape::ElderCouple => 0.12,
            Shape::SingleParent => 0.15,
            Shape::SingleAdult => 0.05,
            _ => 0.025,
        } * if urban { 0.6 } else { 1.3 };
        let poor = self.rng.random_bool(poor_p);
        let mut hh = Household {
            hid,
            township,
            village,
            village_code,
            group,
            address,
            urban,
            hukou_no,
            members: Vec::new(),
            properties: Vec::new(),
            vehicles: Vec::new(),
            case: None,
            application: None,
            events: Vec::new(),
        };
        let base_year = self.s1.year();
        match shape {
            Shape::SingleElder => {
                let male = self.rng.random_bool(0.4);
                let y = base_year - self.rng.random_range(62..92);
                self.person(&mut hh, "02", male, y, None, poor);
            }
            Shape::ElderCouple => {
                let y = base_year - self.rng.random_range(60..88);
                let head = self.person(&mut hh, "02", true, y, None, poor);
                self.spouse(&mut hh, head, poor);
            }
            Shape::SingleAdult => {
                let male = self.rng.random_bool(0.6);
                let y = base_year - self.rng.random_range(20..60);
                self.person(&mut hh, "02", male, y, None, poor);
            }
            Shape::Couple => {
                let y = base_year - self.rng.random_range(22..60);
                let head = self.person(&mut hh, "02", true, y, None, poor);
                self.spouse(&mut hh, head, poor);
            }
            Shape::Family | Shape::ThreeGen | Shape::SingleParent => {
                let y = base_year - self.rng.random_range(25..55);
                let head_male = !matches!(shape, Shape::SingleParent) || self.rng.random_bool(0.3);
                let head = self.person(&mut hh, "02", head_male, y, None, poor);
                let spouse = if matches!(shape, Shape::SingleParent) {
                    None
                } else {
                    Some(self.spouse(&mut hh, head, poor))
                };
                let (mother, father) = match spouse {
                    Some(s) => (Some(s), Some(head)),
                    None if head_male => (None, Some(head)),
                    None => (Some(head), None),
                };
                self.children(&mut hh, mother, father, poor);
                if matches!(shape, Shape::ThreeGen) {
                    let elder_year = y - self.rng.random_range(22..32);
                    let gp = self.person(&mut hh, "50", true, elder_year, None, poor);
                    if self.rng.random_bool(0.7) {
                        let gm = self.spouse(&mut hh, gp, poor);
                        self.persons[gm].relation = "50";
                    }
                }
            }
        }
        self.assets(&mut hh, poor);
        self.natural_events(&mut hh);
        if poor {
            self.roster(&mut hh);
        } else if self.rng.random_bool(0.01) {
            // A few better-off households apply too: the entry check must catch them.
            self.apply(&mut hh, true);
        }
        self.households.push(hh);
    }

    fn place(&mut self, township: &Township, urban: bool) -> (String, u16, u8, String) {
        const VILLAGE_A: &str = "王李张刘陈杨黄周吴徐胡何高罗郭";
        const VILLAGE_B: &[&str] = &[
            "家湾", "家岗", "家冲", "家畈", "家河", "家店", "家庙", "家寨",
        ];
        const PLAIN: &[&str] = &[
            "双泉", "桃园", "白果", "枣林", "油坊", "新集", "河口", "黄土", "青石", "柳树",
        ];
        const COMMUNITY: &[&str] = &[
            "季梁", "烈山", "舜井", "文峰", "青年", "沿河", "清河", "解放", "东关", "银杏",
        ];
        const ROADS: &[&str] = &[
            "交通大道",
            "烈山大道",
            "解放路",
            "青年路",
            "沿河大道",
            "文帝大道",
            "白云大道",
            "舜井大道",
        ];
        let t = township.short_name();
        let code = self.rng.random_range(1..40u16);
        if urban {
            let c = COMMUNITY[usize::from(code) % COMMUNITY.len()];
            let village = format!("{c}社区");
            let road = ROADS.choose(self.rng).copied().unwrap_or("解放路");
            let no = self.rng.random_range(1..400);
            let building = self.rng.random_range(1..20);
            let room = self.rng.random_range(1..7) * 100 + self.rng.random_range(1..5);
            let county = township.county().map_or("", |c| c.name);
            let address = format!(
                "湖北省随州市{county}{}{village}{road}{no}号{building}栋{room}室",
                township.name
            );
            (village, code, 0, address)
        } else {
            let name = if code % 3 == 0 {
                PLAIN[usize::from(code) % PLAIN.len()].to_owned()
            } else {
                let a: Vec<char> = VILLAGE_A.chars().collect();
                format!(
                    "{}{}",
                    a[usize::from(code) % a.len()],
                    VILLAGE_B[usize::from(code / 3) % VILLAGE_B.len()]
                )
            };
            let village = format!("{name}村");
            let group = self.rng.random_range(1..12u8);
            let county = township.county().map_or("", |c| c.name);
            let address = format!("湖北省随州市{county}{}{village}{group}组", township.name);
            let _ = t;
            (village, 100 + code, group, address)
        }
    }

    /// Adds a person and returns their chunk-local index.
    fn person(
        &mut self,
        hh: &mut Household,
        relation: &'static str,
        male: bool,
        birth_year: i32,
        surname: Option<(String, u8)>,
        poor: bool,
    ) -> usize {
        let birth = date_between(self.rng, ymd(birth_year, 1, 1), ymd(birth_year, 12, 31));
        self.person_born(hh, relation, male, birth, surname, poor)
    }

    fn person_born(
        &mut self,
        hh: &mut Household,
        relation: &'static str,
        male: bool,
        birth: NaiveDate,
        surname: Option<(String, u8)>,
        poor: bool,
    ) -> usize {
        let pid = self.persons.len();
        let minority = surname.is_none() && self.rng.random_bool(0.003);
        let (name, surname_len) = if minority {
            (names::minority_name(self.rng), 0)
        } else {
            let (s, l) = surname.unwrap_or_else(|| {
                let s = names::surname(self.rng);
                (s.to_owned(), s.chars().count() as u8)
            });
            let given = names::given_name(self.rng, male, birth.year());
            (format!("{s}{given}"), l)
        };
        let former_name = (!minority && self.rng.random_bool(0.01)).then(|| {
            let s: String = name.chars().take(usize::from(surname_len)).collect();
            format!(
                "{s}{}",
                names::given_name(self.rng, male, birth.year() - 10)
            )
        });
        // Region of first registration: the code in force when and where the person was born.
        let county_code = &hh.township.code[..6];
        let born_elsewhere = self.rng.random_bool(0.06);
        let region = if born_elsewhere {
            OTHER_REGIONS.choose(self.rng).copied().unwrap_or("420106")
        } else {
            historical_code(county_code, birth.year())
        };
        let seq_base = self.rng.random_range(0..500u32) * 2 + u32::from(male);
        let first17 = format!("{region}{}{seq_base:03}", birth.format("%Y%m%d"));
        let c = check_char(first17.as_bytes()).unwrap_or(b'0');
        let id18 = format!("{first17}{}", char::from(c));
        let move_in = born_elsewhere.then(|| {
            let from = birth + Duration::days(365 * 18);
            date_between(self.rng, from.min(self.s1), self.s1)
        });
        let age = self.s1.year() - birth.year();
        let marital = match (relation, age) {
            ("02" | "10" | "11" | "12" | "50" | "51" | "52", _) if age >= 22 => "20",
            (_, a) if a < 22 => "10",
            _ => ["10", "20", "40"][self.rng.random_range(0..3)],
        };
        let phone = (age >= 16 && self.rng.random_bool(0.85)).then(|| {
            let prefix = [
                "138", "139", "150", "151", "186", "187", "135", "177", "199",
            ][self.rng.random_range(0..9)];
            format!("{prefix}{:08}", self.rng.random_range(0..100_000_000u32))
        });
        let mut p = Person {
            pid: pid as u32,
            hh: hh.hid,
            name,
            surname_len,
            former_name,
            male,
            birth,
            id18,
            ethnicity: if minority {
                "05"
            } else if self.rng.random_bool(0.01) {
                "09"
            } else {
                "01"
            },
            relation,
            marital,
            twin_of: None,
            death: None,
            death_reg_lag: self.rng.random_range(3..60),
            move_out: None,
            move_in,
            registered: birth + Duration::days(self.rng.random_range(10..90)),
            phone,
            workplace: None,
            jobs: Vec::new(),
            pension: None,
            unemployment: None,
            stays: Vec::new(),
            parents: (None, None),
        };
        self.economy(&mut p, poor, hh.urban);
        hh.members.push(pid as u32);
        self.persons.push(p);
        pid
    }

    fn spouse(&mut self, hh: &mut Household, head: usize, poor: bool) -> usize {
        let head_birth = self.persons[head].birth;
        let male = !self.persons[head].male;
        let y = head_birth.year() + self.rng.random_range(-3..6);
        self.person(hh, "10", male, y, None, poor)
    }

    fn children(
        &mut self,
        hh: &mut Household,
        mother: Option<usize>,
        father: Option<usize>,
        poor: bool,
    ) {
        let parent = mother.or(father).unwrap_or(0);
        let parent_birth = self.persons[parent].birth;
        let surname = father.or(mother).map(|f| {
            let p = &self.persons[f];
            let s: String = p.name.chars().take(usize::from(p.surname_len)).collect();
            (s, p.surname_len)
        });
        let n = [1, 1, 1, 2, 2, 3][self.rng.random_range(0..6)];
        for _ in 0..n {
            let birth = date_between(
                self.rng,
                parent_birth + Duration::days(365 * 20),
                (parent_birth + Duration::days(365 * 40)).min(self.s1),
            );
            if birth > self.s1 || birth < parent_birth {
                continue;
            }
            let male = self.rng.random_bool(0.52);
            let rel = if male { "20" } else { "30" };
            let sn = surname.clone().filter(|(s, _)| !s.is_empty());
            let a = self.person_born(hh, rel, male, birth, sn.clone(), poor);
            self.persons[a].parents = (mother.map(|m| m as u32), father.map(|f| f as u32));
            if self.rng.random_bool(0.02) {
                // Twins: same birth date, neighbouring sequence numbers.
                let male2 = self.rng.random_bool(0.5);
                let b =
                    self.person_born(hh, if male2 { "20" } else { "30" }, male2, birth, sn, poor);
                let twin_id = {
                    let a_id = &self.persons[a].id18;
                    let seq: u32 = a_id[14..17].parse().unwrap_or(0);
                    let next = if male2 == self.persons[a].male {
                        seq + 2
                    } else {
                        seq + 1
                    } % 1000;
                    let first17 = format!("{}{next:03}", &a_id[..14]);
                    let c = check_char(first17.as_bytes()).unwrap_or(b'0');
                    format!("{first17}{}", char::from(c))
                };
                self.persons[b].id18 = twin_id;
                self.persons[b].twin_of = Some(a as u32);
                self.persons[a].twin_of = Some(b as u32);
                self.persons[b].parents = self.persons[a].parents;
            }
        }
    }

    /// Jobs, pensions, unemployment and hospital stays as of the first snapshot.
    fn economy(&mut self, p: &mut Person, poor: bool, urban: bool) {
        let s1 = self.s1;
        let age = p.age_on(s1);
        let retire_age = if p.male { 60 } else { 55 };
        if (18..retire_age).contains(&age) {
            let r = self.rng.random::<f64>();
            let (formal, public, flexible) = if poor {
                (0.05, 0.0, 0.10)
            } else {
                (0.50, 0.07, 0.10)
            };
            if r < formal + public + flexible {
                let start = add_months(month_of(s1), -self.rng.random_range(1..120));
                let (unit, insurance, fund, wage) = if r < public {
                    let u = self.pick_unit(&["20", "30"]);
                    (Some(u), "120", true, self.lognormal(5500.0, 0.3))
                } else if r < public + formal {
                    let u = self.pick_unit(&["10"]);
                    let wage = if poor {
                        self.lognormal(2000.0, 0.15)
                    } else {
                        self.lognormal(4200.0, 0.45)
                    };
                    (
                        Some(u),
                        "110",
                        self.rng.random_bool(if poor { 0.05 } else { 0.55 }),
                        wage,
                    )
                } else {
                    (None, "110", false, self.lognormal(2500.0, 0.3))
                };
                p.jobs.push(Job {
                    unit,
                    insurance,
                    wage,
                    start,
                    end: None,
                    fund,
                });
                if let Some(u) = unit {
                    p.workplace = self
                        .rng
                        .random_bool(0.4)
                        .then(|| self.units[u as usize].name.clone());
                }
                // Some jobs ended a while ago (a sealed housing-fund account).
                if self.rng.random_bool(0.08) {
                    let end = add_months(month_of(s1), -self.rng.random_range(7..24));
                    if let Some(j) = p.jobs.last_mut()
                        && end > j.start
                    {
                        j.end = Some(end);
                    }
                }
            } else if !poor && self.rng.random_bool(0.03) {
                let start = add_months(month_of(s1), -self.rng.random_range(0..10));
                p.unemployment = Some(Unemployment {
                    amount: 1350.0,
                    start,
                    end: add_months(start, 11),
                });
            }
        } else if age >= retire_age {
            let start = add_months(ymd(p.birth.year() + retire_age, p.birth.month(), 1), 1);
            let pension = if !poor && self.rng.random_bool(if urban { 0.6 } else { 0.25 }) {
                let public = self.rng.random_bool(0.15);
                Pension {
                    kind: if public { "12" } else { "11" },
                    amount: round2(if public {
                        self.lognormal(5200.0, 0.2)
                    } else {
                        self.lognormal(2600.0, 0.25)
                    }),
                    basic: 0.0,
                    start,
                }
            } else {
                let amount = round2(self.rng.random_range(118.0..260.0));
                Pension {
                    kind: "17",
                    amount,
                    basic: 118.0_f64.min(amount),
                    start,
                }
            };
            p.pension = Some(pension);
        }
        // Hospital stays in the two years before the first snapshot.
        let p_stay = if age >= 65 {
            0.25
        } else if age >= 45 {
            0.1
        } else {
            0.05
        };
        if self.rng.random_bool(p_stay) {
            let admit = date_between(self.rng, s1 - Duration::days(730), s1 - Duration::days(10));
            self.add_stay(p, admit, false);
        }
    }

    fn add_stay(&mut self, p: &mut Person, admit: NaiveDate, costly: bool) -> f64 {
        let days = self.rng.random_range(2..25);
        let total = if costly {
            self.rng.random_range(60_000.0..200_000.0)
        } else {
            self.lognormal(8000.0, 0.7)
        };
        // A costly stay is one EXP-MEDICAL is about (DOMAIN.md §3.3: out-of-pocket over
        // 20,000 in 12 months [EST]): its out-of-pocket share keeps it above that.
        let oop_share = if costly {
            self.rng.random_range(0.3..0.5_f64).max(21_000.0 / total)
        } else {
            self.rng.random_range(0.2..0.45)
        };
        let icd = if costly { ICD_SEVERE } else { ICD_COMMON };
        let stay = Stay {
            admit,
            discharge: admit + Duration::days(days),
            total: round2(total),
            out_of_pocket: round2(total * oop_share),
            icd10: icd.choose(self.rng).copied().unwrap_or("I10"),
            hospital: self.rng.random_range(0..HOSPITALS.len() as u8),
        };
        let oop = stay.out_of_pocket;
        p.stays.push(stay);
        oop
    }

    fn pick_unit(&mut self, types: &[&str]) -> u32 {
        for _ in 0..50 {
            let i = self.rng.random_range(0..self.units.len());
            if types.contains(&self.units[i].unit_type) {
                return i as u32;
            }
        }
        0
    }

    fn lognormal(&mut self, median: f64, sigma: f64) -> f64 {
        // Box–Muller from two uniforms.
        let u1: f64 = self.rng.random_range(1e-12..1.0);
        let u2: f64 = self.rng.random();
        let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
        round2(median * (sigma * z).exp())
    }

    fn local(&self, hh: &Household) -> Vec<usize> {
        hh.members.iter().map(|m| *m as usize).collect()
    }

    /// Dwellings and vehicles.
    fn assets(&mut self, hh: &mut Household, poor: bool) {
        let members = self.local(hh);
        let adults: Vec<usize> = members
            .iter()
            .copied()
            .filter(|m| self.persons[*m].age_on(self.s1) >= 18)
            .collect();
        let Some(&head) = adults.first() else { return };
        let spouse = members
            .iter()
            .copied()
            .find(|m| self.persons[*m].relation == "10");
        let owners: Vec<u32> = std::iter::once(head)
            .chain(spouse)
            .map(|m| m as u32)
            .collect();
        let n_dwellings = if hh.urban {
            if poor {
                usize::from(self.rng.random_bool(0.3))
            } else {
                [1, 1, 1, 1, 2, 0][self.rng.random_range(0..6)]
            }
        } else {
            usize::from(self.rng.random_bool(if poor { 0.7 } else { 0.9 }))
        };
        for _ in 0..n_dwellings {
            let reg = date_between(self.rng, ymd(2000, 1, 1), self.s1 - Duration::days(30));
            let p = self.property(hh, owners.clone(), reg, "10");
            hh.properties.push(p);
        }
        if !poor && self.rng.random_bool(0.03) {
            let reg = date_between(self.rng, ymd(2005, 1, 1), self.s1 - Duration::days(30));
            let use_code = ["20", "40"][self.rng.random_range(0..2)];
            let p = self.property(hh, vec![head as u32], reg, use_code);
            hh.properties.push(p);
        }
        let car_p = if poor {
            0.0
        } else if hh.urban {
            0.4
        } else {
            0.25
        };
        if self.rng.random_bool(car_p) {
            let first = date_between(self.rng, ymd(2008, 1, 1), self.s1 - Duration::days(30));
            let v = self.vehicle(head as u32, first, false);
            hh.vehicles.push(v);
        }
        if self.rng.random_bool(if poor { 0.05 } else { 0.12 }) {
            let first = date_between(self.rng, ymd(2010, 1, 1), self.s1 - Duration::days(30));
            let v = self.vehicle(head as u32, first, true);
            hh.vehicles.push(v);
        }
    }

    fn property(
        &mut self,
        hh: &Household,
        owners: Vec<u32>,
        reg: NaiveDate,
        use_code: &'static str,
    ) -> Property {
        let rural_home = !hh.urban && use_code == "10";
        let nature = if rural_home {
            "5"
        } else if use_code == "10" {
            ["1", "1", "1", "2", "3"][self.rng.random_range(0..5)]
        } else {
            "1"
        };
        let area = round2(match (use_code, rural_home) {
            ("10", true) => self.rng.random_range(90.0..220.0),
            ("10", false) => self.rng.random_range(55.0..145.0),
            ("40", _) => self.rng.random_range(12.0..30.0),
            _ => self.rng.random_range(30.0..200.0),
        });
        let unit_no = format!(
            "{}{:03}{}{:06}F{:08}",
            &hh.township.code[..6],
            &hh.township.code[6..9].parse::<u32>().unwrap_or(0),
            ["JA", "JB", "JC"][self.rng.random_range(0..3)],
            self.rng.random_range(0..1_000_000),
            self.rng.random_range(0..100_000_000u32)
        );
        Property {
            unit_no,
            owners,
            use_code,
            nature,
            area,
            reg_date: reg,
            location: hh.address.trim_start_matches("湖北省").to_owned(),
            mortgaged: !rural_home && self.rng.random_bool(0.3),
        }
    }

    fn vehicle(&mut self, owner: u32, first_reg: NaiveDate, motorcycle: bool) -> Vehicle {
        const LETTERS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
        let mut plate = String::from("鄂S");
        for i in 0..5 {
            if i == 0 || self.rng.random_bool(0.2) {
                plate.push(char::from(LETTERS[self.rng.random_range(0..LETTERS.len())]));
            } else {
                plate.push(char::from(b'0' + self.rng.random_range(0..10u8)));
            }
        }
        Vehicle {
            owner,
            plate,
            plate_type: if motorcycle { "07" } else { "02" },
            kind: if motorcycle {
                "普通二轮摩托车"
            } else {
                "小型普通客车"
            },
            brand: if motorcycle {
                MOTO_BRANDS.choose(self.rng).copied().unwrap_or("豪爵牌")
            } else {
                BRANDS.choose(self.rng).copied().unwrap_or("大众牌")
            },
            first_reg,
        }
    }

    /// Deaths, births and moves in the whole population, around the snapshots.
    fn natural_events(&mut self, hh: &mut Household) {
        let window_start = self.s1 - Duration::days(730);
        for m in self.local(hh) {
            let age = self.persons[m].age_on(self.s1);
            let q = match age {
                ..50 => 0.001,
                50..65 => 0.005,
                65..75 => 0.015,
                75..85 => 0.04,
                _ => 0.12,
            } * 2.25; // hazard over the 27 months from two years before S1 to S2
            if self.rng.random_bool(q) {
                let d = date_between(self.rng, window_start, self.s2);
                self.kill(m, d);
                if d > self.s1 {
                    hh.plant(EventKind::Death, m as u32, d, 0.0);
                }
            } else if (18..45).contains(&age) && self.rng.random_bool(0.01) {
                let d = date_between(self.rng, window_start, self.s2);
                let to = ELSEWHERE.choose(self.rng).copied().unwrap_or(ELSEWHERE[0]);
                self.persons[m].move_out = Some((d, to));
                if d > self.s1 {
                    hh.plant(EventKind::MigrateOut, m as u32, d, 0.0);
                }
            }
        }
    }

    fn kill(&mut self, m: usize, d: NaiveDate) {
        let p = &mut self.persons[m];
        if d < p.birth {
            return;
        }
        p.death = Some(d);
        for j in &mut p.jobs {
            if j.end.is_none() {
                j.end = Some(month_of(d));
            }
        }
        if let Some(u) = &mut p.unemployment
            && u.end > month_of(d)
        {
            u.end = month_of(d);
        }
    }

    /// Puts a poor household on the roster (or into the application queue) and plants events.
    fn roster(&mut self, hh: &mut Household) {
        let members = self.local(hh);
        let alive_s1 = members.iter().all(|m| {
            self.persons[*m].alive_on(self.s1)
                && self.persons[*m].move_out.is_none_or(|(d, _)| d > self.s1)
        });
        if !alive_s1 {
            return;
        }
        if self.rng.random_bool(0.25) {
            self.apply(hh, false);
            return;
        }
        // The roster household's members had no deaths or moves in the window by nature; the
        // planted events below are its only changes, so that scoring is exact.
        hh.events.clear();
        for m in &members {
            let p = &mut self.persons[*m];
            if p.death.is_some_and(|d| d > self.s1) {
                p.death = None;
            }
            if p.move_out.is_some_and(|(d, _)| d > self.s1) {
                p.move_out = None;
            }
        }
        // A pension that starts between the snapshots by age alone is an event like a
        // planted one.
        for m in &members {
            if let Some(p) = &self.persons[*m].pension
                && p.start > self.s1
                && p.start <= self.s2
            {
                hh.plant(EventKind::PensionStart, *m as u32, p.start, p.amount);
            }
        }
        let n = members.len() as f64;
        let elder_alone = members.len() == 1 && self.persons[members[0]].age_on(self.s1) >= 60;
        let programme = if elder_alone && self.rng.random_bool(0.45) {
            Programme::Tekun
        } else if self.rng.random_bool(0.15) {
            Programme::LowIncome
        } else {
            Programme::Dibao
        };
        let approved = date_between(
            self.rng,
            self.s1 - Duration::days(5 * 365),
            self.s1 - Duration::days(40),
        );
        let review_class = ["A", "B", "C"][self.rng.random_range(0..3)];
        let period = if review_class == "C" { 6 } else { 12 };
        let mut last_check = approved;
        while add_months(last_check, period) <= self.s1 {
            last_check = date_between(
                self.rng,
                add_months(last_check, period),
                add_months(last_check, period) + Duration::days(20),
            );
        }
        let next_due =
            add_months(last_check, period) + Duration::days(i64::from(last_check.day()) - 1);
        let income: f64 = members
            .iter()
            .map(|m| self.monthly_income(*m, self.s1))
            .sum();
        let std = if hh.urban { 650.0 } else { 450.0 };
        let benefit = match programme {
            Programme::Tekun => 845.0,
            Programme::LowIncome => 0.0,
            Programme::Dibao => round2(((std - income / n) * n).max(60.0 * n)),
        };
        hh.case = Some(Case {
            case_id: String::new(),
            programme,
            approved,
            review_class,
            last_check,
            next_due,
            declared_income: round2(income * self.rng.random_range(0.6..1.0)),
            benefit,
            auth_no: String::new(),
        });
        self.plant(hh);
    }

    fn monthly_income(&self, m: usize, on: NaiveDate) -> f64 {
        let p = &self.persons[m];
        let wage: f64 = p
            .jobs
            .iter()
            .filter(|j| j.start <= on && j.end.is_none_or(|e| e >= month_of(on)))
            .map(|j| j.wage)
            .sum();
        let pension = p
            .pension
            .as_ref()
            .filter(|x| x.start <= on)
            .map_or(0.0, |x| x.amount - x.basic);
        wage + pension
    }

    fn apply(&mut self, hh: &mut Household, better_off: bool) {
        let members = self.local(hh);
        let applied = date_between(
            self.rng,
            self.s1 - Duration::days(25),
            self.s2 - Duration::days(5),
        );
        let unsigned_member = (members.len() > 1 && self.rng.random_bool(0.05))
            .then(|| members[self.rng.random_range(1..members.len())] as u32);
        let income: f64 = members
            .iter()
            .map(|m| self.monthly_income(*m, applied))
            .sum();
        let _ = better_off;
        hh.application = Some(Application {
            application_id: String::new(),
            programme: if self.rng.random_bool(0.85) {
                Programme::Dibao
            } else {
                Programme::LowIncome
            },
            applied,
            declared_income: round2(income * self.rng.random_range(0.3..0.9)),
            auth_no: String::new(),
            unsigned_member,
        });
    }

    /// Plants the economic events of DOMAIN.md §7 in a roster household between the snapshots.
    fn plant(&mut self, hh: &mut Household) {
        let s1 = self.s1;
        let s2 = self.s2;
        let members = self.local(hh);
        let rate = self.config.event_rate;
        let chance = |rng: &mut ChaCha8Rng, p: f64| rng.random_bool((p * rate).min(1.0));
        let when = |rng: &mut ChaCha8Rng| {
            date_between(rng, s1 + Duration::days(1), s2 - Duration::days(1))
        };

        if chance(self.rng, 0.03) {
            let m = *members.choose(self.rng).unwrap_or(&members[0]);
            let d = when(self.rng);
            self.kill(m, d);
            hh.plant(EventKind::Death, m as u32, d, 0.0);
        }
        let working: Vec<usize> = members
            .iter()
            .copied()
            .filter(|m| {
                let p = &self.persons[*m];
                p.alive_on(s2)
                    && (18..58).contains(&p.age_on(s1))
                    && p.jobs.iter().all(|j| j.end.is_some())
            })
            .collect();
        if !working.is_empty() && chance(self.rng, 0.06) {
            let m = *working.choose(self.rng).unwrap_or(&working[0]);
            let start = add_months(month_of(s1), 1);
            let public = chance(self.rng, 0.06);
            let (unit, insurance, wage, fund) = if public {
                (
                    self.pick_unit(&["20", "30"]),
                    "120",
                    self.lognormal(5000.0, 0.2),
                    true,
                )
            } else {
                (
                    self.pick_unit(&["10"]),
                    "110",
                    self.lognormal(3400.0, 0.35),
                    self.rng.random_bool(0.5),
                )
            };
            self.persons[m].jobs.push(Job {
                unit: Some(unit),
                insurance,
                wage,
                start,
                end: None,
                fund,
            });
            let kind = if public {
                EventKind::PublicPayroll
            } else {
                EventKind::NewJob
            };
            hh.plant(kind, m as u32, start, wage);
        }
        let near_retirement: Vec<usize> = members
            .iter()
            .copied()
            .filter(|m| {
                let p = &self.persons[*m];
                p.pension.is_none() && p.alive_on(s2) && p.age_on(s1) >= 50
            })
            .collect();
        if !near_retirement.is_empty() && chance(self.rng, 0.05) {
            let m = *near_retirement
                .choose(self.rng)
                .unwrap_or(&near_retirement[0]);
            let start = add_months(month_of(s1), self.rng.random_range(1..3));
            let amount = round2(self.rng.random_range(1500.0..2600.0));
            self.persons[m].pension = Some(Pension {
                kind: "11",
                amount,
                basic: 0.0,
                start,
            });
            hh.plant(EventKind::PensionStart, m as u32, start, amount);
        }
        let adults: Vec<usize> = members
            .iter()
            .copied()
            .filter(|m| self.persons[*m].age_on(s1) >= 18 && self.persons[*m].alive_on(s2))
            .collect();
        if !adults.is_empty() && chance(self.rng, 0.02) {
            let m = *adults.choose(self.rng).unwrap_or(&adults[0]);
            let d = when(self.rng);
            let p = self.property(hh, vec![m as u32], d, "10");
            let area = p.area;
            hh.properties.push(p);
            hh.plant(EventKind::PropertyNew, m as u32, d, area);
        }
        if !adults.is_empty() && chance(self.rng, 0.02) {
            let m = *adults.choose(self.rng).unwrap_or(&adults[0]);
            let d = when(self.rng);
            let v = self.vehicle(m as u32, d, false);
            hh.vehicles.push(v);
            hh.plant(EventKind::VehicleNew, m as u32, d, 0.0);
        }
        let movable: Vec<usize> = members
            .iter()
            .copied()
            .filter(|m| {
                (18..50).contains(&self.persons[*m].age_on(s1)) && self.persons[*m].alive_on(s2)
            })
            .collect();
        if !movable.is_empty() && chance(self.rng, 0.015) {
            let m = *movable.choose(self.rng).unwrap_or(&movable[0]);
            let d = when(self.rng);
            let to = ELSEWHERE.choose(self.rng).copied().unwrap_or(ELSEWHERE[0]);
            self.persons[m].move_out = Some((d, to));
            hh.plant(EventKind::MigrateOut, m as u32, d, 0.0);
        }
        let mothers: Vec<usize> = members
            .iter()
            .copied()
            .filter(|m| {
                let p = &self.persons[*m];
                !p.male && (20..42).contains(&p.age_on(s1)) && p.alive_on(s2)
            })
            .collect();
        if !mothers.is_empty() && chance(self.rng, 0.03) {
            let mother = *mothers.choose(self.rng).unwrap_or(&mothers[0]);
            let father = members.iter().copied().find(|m| {
                *m != mother
                    && self.persons[*m].male
                    && (20..60).contains(&self.persons[*m].age_on(s1))
            });
            let d = when(self.rng);
            let male = self.rng.random_bool(0.52);
            let surname = father
                .map(|f| {
                    let p = &self.persons[f];
                    (
                        p.name
                            .chars()
                            .take(usize::from(p.surname_len))
                            .collect::<String>(),
                        p.surname_len,
                    )
                })
                .filter(|(s, _)| !s.is_empty());
            let child =
                self.person_born(hh, if male { "20" } else { "30" }, male, d, surname, true);
            self.persons[child].parents = (Some(mother as u32), father.map(|f| f as u32));
            hh.plant(EventKind::Birth, child as u32, d, 0.0);
        }
        if chance(self.rng, 0.04) {
            let alive: Vec<usize> = members
                .iter()
                .copied()
                .filter(|m| self.persons[*m].alive_on(s2))
                .collect();
            if let Some(&m) = alive.choose(self.rng) {
                let admit = date_between(self.rng, s1 + Duration::days(1), s2 - Duration::days(30));
                let mut p = std::mem::replace(&mut self.persons[m], placeholder());
                let oop = self.add_stay(&mut p, admit, true);
                self.persons[m] = p;
                hh.plant(EventKind::HospitalCostly, m as u32, admit, oop);
            }
        }
        let jobless: Vec<usize> = members
            .iter()
            .copied()
            .filter(|m| {
                let p = &self.persons[*m];
                (18..58).contains(&p.age_on(s1))
                    && p.unemployment.is_none()
                    && p.alive_on(s2)
                    && p.jobs.iter().all(|j| j.end.is_some())
            })
            .collect();
        if !jobless.is_empty() && chance(self.rng, 0.01) {
            let m = *jobless.choose(self.rng).unwrap_or(&jobless[0]);
            let start = add_months(month_of(s1), 1);
            self.persons[m].unemployment = Some(Unemployment {
                amount: 1350.0,
                start,
                end: add_months(start, 11),
            });
            hh.plant(EventKind::UnemploymentStart, m as u32, start, 1350.0);
        }
        if hh.events.is_empty() && chance(self.rng, 0.03) {
            let m = *members.choose(self.rng).unwrap_or(&members[0]);
            hh.plant(EventKind::DataQualityOnly, m as u32, s2, 0.0);
        }
    }
}

fn placeholder() -> Person {
    Person {
        pid: 0,
        hh: 0,
        name: String::new(),
        surname_len: 0,
        former_name: None,
        male: false,
        birth: NaiveDate::MIN,
        id18: String::new(),
        ethnicity: "01",
        relation: "99",
        marital: "10",
        twin_of: None,
        death: None,
        death_reg_lag: 0,
        move_out: None,
        move_in: None,
        registered: NaiveDate::MIN,
        phone: None,
        workplace: None,
        jobs: Vec::new(),
        pension: None,
        unemployment: None,
        stays: Vec::new(),
        parents: (None, None),
    }
}

/// Hospitals that issue records.
pub const HOSPITALS: &[&str] = &[
    "随州市中心医院",
    "随州市中医医院",
    "曾都医院",
    "随县人民医院",
    "广水市第一人民医院",
    "广水市中医医院",
];

/// The region code in force for a 随州 county in a birth year (DOMAIN.md §4.2): people first
/// registered before 2000 carry the old codes.
fn historical_code(county: &str, year: i32) -> &'static str {
    // First registration at birth is assumed; the code is that of the birth year.
    match (county, year) {
        ("421381", ..1988) => "422224",
        ("421381", 1988..1993) => "422204",
        ("421381", 1993..1995) => "429011",
        ("421381", 1995..2000) => "420983",
        ("421381", _) => "421381",
        (_, ..1983) if county == "421321" => "422523",
        (_, ..1983) => "422501",
        (_, 1983) => "420901",
        (_, 1984..2000) => "429001",
        ("421321", 2000..2009) => "421303",
        ("421321", _) => "421321",
        _ => "421303",
    }
}

pub(crate) fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months() {
        assert_eq!(add_months(ymd(2021, 11, 15), 3), ymd(2022, 2, 1));
        assert_eq!(add_months(ymd(2021, 1, 1), -1), ymd(2020, 12, 1));
    }

    #[test]
    fn historical_codes_follow_the_domain_table() {
        assert_eq!(historical_code("421303", 1990), "429001");
        assert_eq!(historical_code("421381", 1996), "420983");
        assert_eq!(historical_code("421381", 1985), "422224");
        assert_eq!(historical_code("421321", 2015), "421321");
        assert_eq!(historical_code("421321", 1980), "422523");
    }
}
