//! The departments' extracts as of a snapshot date, in their delivery formats, with the ground
//! truth of which person every record belongs to.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use chrono::{Datelike, Duration, NaiveDate};
use hedui_model::{Catalog, DatasetSchema};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::city::{City, EventKind, HOSPITALS, Household, Person, add_months, month_of, round2};
use crate::corrupt::{self, Profile, Tags};
use crate::write::{Cell, TableSink, open_sink};
use crate::{Config, Error, rng_for};

/// Households per parallel work item, and per window held in memory at once.
const PAR_CHUNK: usize = 512;
const WINDOW: usize = 32 * PAR_CHUNK;

/// Row counts of one written file.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FileStat {
    /// `department/dataset`.
    pub dataset: String,
    /// Snapshot label.
    pub snapshot: String,
    /// Path written.
    pub path: PathBuf,
    /// Data rows.
    pub rows: u64,
}

/// A row and the persons it names (role, pid, damage tags).
pub(crate) struct Emitted {
    row: Vec<Cell>,
    record_id: String,
    people: Vec<(&'static str, u32, String)>,
}

/// What the generator for one dataset needs.
pub(crate) struct Ctx<'a> {
    pub city: &'a City,
    pub config: &'a Config,
    /// The snapshot date.
    pub t: NaiveDate,
    /// 0 or 1.
    pub snap: usize,
    /// Persons whose rendering changes in the second snapshot only (planted data-quality
    /// variation).
    pub dq: &'a HashSet<u32>,
}

impl Ctx<'_> {
    fn rng(&self, dataset: &str, record: &str) -> ChaCha8Rng {
        rng_for(self.config.seed, fnv(dataset), fnv(record))
    }

    fn person(&self, pid: u32) -> &Person {
        &self.city.persons[pid as usize]
    }

    /// The ID and name of `p` as a department with `profile` writes them.
    fn identity(
        &self,
        rng: &mut ChaCha8Rng,
        profile: &Profile,
        p: &Person,
        tags: &mut Tags,
    ) -> (Cell, String) {
        let prof = profile.scaled(self.config.dirty);
        let mut id = corrupt::id_cell(rng, &prof, p, tags);
        let mut name = corrupt::name_text(rng, &prof, &p.name, p.surname_len, tags);
        if self.snap == 1 && self.dq.contains(&p.pid) {
            // The same person, re-delivered differently: an old-format number or traditional
            // characters. Nothing about the household changed.
            if p.birth.year() < 1990 {
                id = Cell::text(format!("{}{}", &p.id18[..6], &p.id18[8..17]));
                tags.0.push("dq_id15");
            } else {
                id = Cell::text(format!("{} {}", &p.id18[..6], &p.id18[6..]).to_lowercase());
                name = hanconv::s2t(&p.name);
                tags.0.push("dq_name_trad");
            }
        }
        (id, name)
    }
}

fn fnv(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn d_iso(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}
fn d_compact(d: NaiveDate) -> String {
    d.format("%Y%m%d").to_string()
}
fn d_cn(d: NaiveDate) -> String {
    format!("{}年{}月{}日", d.year(), d.month(), d.day())
}
fn yyyymm(d: NaiveDate) -> String {
    d.format("%Y%m").to_string()
}
fn money(x: f64) -> String {
    format!("{x:.2}")
}
fn gender_code(p: &Person) -> &'static str {
    if p.male { "1" } else { "2" }
}
fn gender_label(p: &Person) -> &'static str {
    if p.male { "男" } else { "女" }
}

/// Record ids, shared by the extracts and the ground-truth events that cite them.
pub(crate) mod ids {
    /// 公安 population record of a person.
    pub fn population(pid: u32) -> String {
        format!("GA{pid:09}")
    }
    /// Vehicle record.
    pub fn vehicle(hid: u32, i: usize) -> String {
        format!("CL{hid:08}{i:02}")
    }
    /// Birth certificate.
    pub fn birth(pid: u32) -> String {
        format!("O42{pid:09}")
    }
    /// Death certificate.
    pub fn death(pid: u32) -> String {
        format!("SW42{pid:09}")
    }
    /// Hospital stay.
    pub fn stay(pid: u32, i: usize) -> String {
        format!("ZY{pid:09}{i:02}")
    }
    /// Contribution row.
    pub fn contribution(pid: u32, job: usize, month: &str) -> String {
        format!("JF{pid:09}{job:02}{month}")
    }
    /// Pension.
    pub fn pension(pid: u32) -> String {
        format!("YL{pid:09}")
    }
    /// Unemployment benefit.
    pub fn unemployment(pid: u32) -> String {
        format!("SY{pid:09}")
    }
    /// Property registration row (one per owner).
    pub fn property(hid: u32, i: usize, owner: usize) -> String {
        format!("BDC{hid:08}{i:02}{owner}")
    }
    /// Housing-fund account.
    pub fn fund(pid: u32, job: usize) -> String {
        format!("GJJ{pid:09}{job:02}")
    }
}

type Gen = fn(&Ctx<'_>, &Household, &mut Vec<Emitted>);

/// The generators of the department datasets, in catalogue order.
pub(crate) const DEPARTMENT_DATASETS: &[(&str, &str, Gen)] = &[
    ("gongan", "population", population),
    ("gongan", "vehicles", vehicles),
    ("weijian", "births", births),
    ("weijian", "deaths", deaths),
    ("weijian", "hospital_stays", hospital_stays),
    ("renshe", "contributions", contributions),
    ("renshe", "pensions", pensions),
    ("renshe", "unemployment", unemployment),
    ("zhujian", "property", property),
    ("zhujian", "housing_fund", housing_fund),
    ("minzheng", "cases", cases),
    ("minzheng", "members", members),
    ("minzheng", "authorizations", authorizations),
    ("minzheng", "applications", applications),
    ("minzheng", "application_members", application_members),
];

/// Writes one dataset for one snapshot; appends its ground truth to `truth`.
pub(crate) fn write_dataset(
    ctx: &Ctx<'_>,
    schema: &DatasetSchema,
    dir: &Path,
    label: &str,
    generator: Gen,
    truth: &mut dyn TableSink,
) -> Result<FileStat, Error> {
    let mut sink = open_sink(&dir.join(&schema.department), schema)?;
    let mut rows = 0u64;
    let qualified = schema.qualified_name();
    for window in ctx.city.households.chunks(WINDOW) {
        let parts: Vec<Vec<Emitted>> = window
            .par_chunks(PAR_CHUNK)
            .map(|hs| {
                let mut out = Vec::new();
                for h in hs {
                    generator(ctx, h, &mut out);
                }
                out
            })
            .collect();
        for e in parts.into_iter().flatten() {
            if e.row.len() != schema.columns.len() {
                return Err(Error::Internal(format!(
                    "{qualified}: row has {} cells for {} columns",
                    e.row.len(),
                    schema.columns.len()
                )));
            }
            sink.write_row(&e.row)?;
            rows += 1;
            for (role, pid, tags) in e.people {
                truth.write_row(&[
                    Cell::text(label),
                    Cell::text(qualified.clone()),
                    Cell::text(e.record_id.clone()),
                    Cell::text(role),
                    Cell::text(format!("P{pid:09}")),
                    Cell::text(tags),
                ])?;
            }
        }
    }
    let path = sink.finish()?;
    Ok(FileStat {
        dataset: qualified,
        snapshot: label.to_owned(),
        path,
        rows,
    })
}

/// Writes every department dataset for one snapshot.
pub(crate) fn write_snapshot(
    ctx: &Ctx<'_>,
    catalog: &Catalog,
    dir: &Path,
    label: &str,
    truth: &mut dyn TableSink,
) -> Result<Vec<FileStat>, Error> {
    let mut stats = Vec::new();
    for (dept, ds, generator) in DEPARTMENT_DATASETS {
        let schema = catalog
            .dataset(dept, ds)
            .ok_or_else(|| Error::Internal(format!("no schema for {dept}/{ds}")))?;
        stats.push(write_dataset(ctx, schema, dir, label, *generator, truth)?);
    }
    Ok(stats)
}

fn emit(
    out: &mut Vec<Emitted>,
    record_id: String,
    row: Vec<Cell>,
    people: Vec<(&'static str, u32, Tags)>,
) {
    out.push(Emitted {
        row,
        record_id,
        people: people
            .into_iter()
            .map(|(r, p, t)| (r, p, t.joined()))
            .collect(),
    });
}

fn registered_by(p: &Person, t: NaiveDate) -> bool {
    p.registered <= t && p.move_in.is_none_or(|d| d <= t)
}

fn population(ctx: &Ctx<'_>, h: &Household, out: &mut Vec<Emitted>) {
    let t = ctx.t;
    let head = ctx.person(h.members[0]);
    for &pid in &h.members {
        let p = ctx.person(pid);
        if !registered_by(p, t) {
            continue;
        }
        let rid = ids::population(pid);
        let mut rng = ctx.rng("gongan/population", &rid);
        let mut tags = Tags::default();
        let (id, name) = ctx.identity(&mut rng, &corrupt::GONGAN, p, &mut tags);
        let death_reg = p
            .death
            .map(|d| d + Duration::days(i64::from(p.death_reg_lag)));
        let (status, reason, cancel, move_out, move_to) = match (death_reg, p.move_out) {
            (Some(r), _) if r <= t => ("1", "1", Some(r), None, None),
            (_, Some((d, to))) if d <= t => ("1", "2", Some(d), Some(d), Some(to)),
            _ => ("0", "", None, None, None),
        };
        let updated = [Some(p.registered), p.move_in, cancel]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(p.registered);
        let row = vec![
            Cell::text(rid.clone()),
            id,
            Cell::text(name),
            Cell::opt(p.former_name.clone()),
            Cell::text(gender_code(p)),
            Cell::text(p.ethnicity),
            Cell::text(d_compact(p.birth)),
            Cell::text(h.hukou_no.clone()),
            Cell::text(head.id18.clone()),
            Cell::text(p.relation),
            Cell::text(h.address.clone()),
            Cell::text(format!("{}{:03}", h.township.code, h.village_code)),
            Cell::text(if h.urban { "1" } else { "2" }),
            Cell::text(status),
            Cell::text(reason),
            Cell::opt(cancel.map(d_compact)),
            Cell::opt(p.move_in.map(d_compact)),
            Cell::opt(move_out.map(d_compact)),
            Cell::opt(move_to),
            Cell::text(p.marital),
            Cell::opt(p.workplace.clone()),
            Cell::opt(p.phone.clone()),
            Cell::text(format!("{} 08:00:00", d_iso(updated))),
        ];
        emit(out, rid, row, vec![("subject", pid, tags)]);
    }
}

fn vehicles(ctx: &Ctx<'_>, h: &Household, out: &mut Vec<Emitted>) {
    for (i, v) in h.vehicles.iter().enumerate() {
        if v.first_reg > ctx.t {
            continue;
        }
        let rid = ids::vehicle(h.hid, i);
        let p = ctx.person(v.owner);
        let mut rng = ctx.rng("gongan/vehicles", &rid);
        let mut tags = Tags::default();
        let (id, name) = ctx.identity(&mut rng, &corrupt::GONGAN, p, &mut tags);
        let row = vec![
            Cell::text(rid.clone()),
            Cell::text(v.plate.clone()),
            Cell::text(v.plate_type),
            Cell::text(v.kind),
            Cell::text(v.brand),
            Cell::text("A"),
            Cell::text(d_compact(v.first_reg)),
            Cell::text("A"),
            Cell::text(name),
            id,
            Cell::text(format!("{} 09:30:00", d_iso(v.first_reg))),
        ];
        emit(out, rid, row, vec![("owner", v.owner, tags)]);
    }
}

fn births(ctx: &Ctx<'_>, h: &Household, out: &mut Vec<Emitted>) {
    for &pid in &h.members {
        let p = ctx.person(pid);
        let issue = p.birth + Duration::days(3);
        if issue > ctx.t || p.birth <= ctx.t - Duration::days(365) {
            continue;
        }
        let rid = ids::birth(pid);
        let mut rng = ctx.rng("weijian/births", &rid);
        let mut people = Vec::new();
        let mut parent =
            |who: Option<u32>, role: &'static str, rng: &mut ChaCha8Rng| -> (Cell, Cell) {
                match who {
                    Some(q) => {
                        let mut tags = Tags::default();
                        let (id, name) =
                            ctx.identity(rng, &corrupt::WEIJIAN, ctx.person(q), &mut tags);
                        people.push((role, q, tags));
                        (Cell::text(name), id)
                    }
                    None => (Cell::Null, Cell::Null),
                }
            };
        let (mother_name, mother_id) = parent(p.parents.0, "mother", &mut rng);
        let (father_name, father_id) = parent(p.parents.1, "father", &mut rng);
        // Many certificates are issued before the child is named.
        let named = rand::Rng::random_bool(&mut rng, 0.7);
        let child_name = if named {
            Cell::text(p.name.clone())
        } else {
            Cell::Null
        };
        people.push(("subject", pid, Tags::default()));
        let row = vec![
            Cell::text(rid.clone()),
            child_name,
            Cell::Date(p.birth),
            Cell::text(gender_label(p)),
            mother_name,
            mother_id,
            father_name,
            father_id,
            Cell::text(HOSPITALS[(pid as usize) % HOSPITALS.len()]),
            Cell::Date(issue),
        ];
        emit(out, rid, row, people);
    }
}

fn deaths(ctx: &Ctx<'_>, h: &Household, out: &mut Vec<Emitted>) {
    for &pid in &h.members {
        let p = ctx.person(pid);
        let Some(d) = p.death else { continue };
        let issue = d + Duration::days(i64::from(p.death_reg_lag % 3));
        if issue > ctx.t || d <= ctx.t - Duration::days(730) {
            continue;
        }
        let rid = ids::death(pid);
        let mut rng = ctx.rng("weijian/deaths", &rid);
        let mut tags = Tags::default();
        let (id, name) = ctx.identity(&mut rng, &corrupt::WEIJIAN, p, &mut tags);
        let birth = corrupt::dob(
            &mut rng,
            &corrupt::WEIJIAN.scaled(ctx.config.dirty),
            p.birth,
            &mut tags,
        );
        let row = vec![
            Cell::text(rid.clone()),
            Cell::text(name),
            id,
            Cell::text(gender_label(p)),
            Cell::Date(birth),
            Cell::Date(d),
            Cell::text(
                if p.stays.iter().any(|s| s.admit <= d && s.discharge >= d) {
                    "医疗卫生机构"
                } else {
                    "家中"
                },
            ),
            Cell::text(["I21.9", "I63.9", "C34.9", "J44.9", "R54"][(pid as usize) % 5]),
            Cell::Date(issue),
        ];
        emit(out, rid, row, vec![("subject", pid, tags)]);
    }
}

fn hospital_stays(ctx: &Ctx<'_>, h: &Household, out: &mut Vec<Emitted>) {
    for &pid in &h.members {
        let p = ctx.person(pid);
        for (i, s) in p.stays.iter().enumerate() {
            if s.discharge > ctx.t || s.discharge <= ctx.t - Duration::days(730) {
                continue;
            }
            let rid = ids::stay(pid, i);
            let mut rng = ctx.rng("weijian/hospital_stays", &rid);
            let mut tags = Tags::default();
            let (id, name) = ctx.identity(&mut rng, &corrupt::WEIJIAN, p, &mut tags);
            let row = vec![
                Cell::text(rid.clone()),
                Cell::text(name),
                id,
                Cell::text(gender_label(p)),
                Cell::text(HOSPITALS[usize::from(s.hospital)]),
                Cell::text(s.admit.format("%Y/%-m/%-d").to_string()),
                Cell::text(s.discharge.format("%Y/%-m/%-d").to_string()),
                Cell::text(s.icd10),
                Cell::Num(s.total),
                Cell::Num(round2(s.total - s.out_of_pocket)),
                Cell::Num(s.out_of_pocket),
            ];
            emit(out, rid, row, vec![("subject", pid, tags)]);
        }
    }
}

/// Social-insurance base limits for 2021 (estimated; the generator's own parameters).
const BASE_FLOOR: f64 = 3_300.0;
const BASE_CEILING: f64 = 16_500.0;

fn contributions(ctx: &Ctx<'_>, h: &Household, out: &mut Vec<Emitted>) {
    let last = month_of(ctx.t);
    let first = add_months(last, -5);
    for &pid in &h.members {
        let p = ctx.person(pid);
        for (j, job) in p.jobs.iter().enumerate() {
            let mut m = job.start.max(first);
            let end = job.end.map_or(last, |e| e.min(last));
            while m <= end {
                let period = yyyymm(m);
                let rid = ids::contribution(pid, j, &period);
                let mut rng = ctx.rng("renshe/contributions", &rid);
                let mut tags = Tags::default();
                let (id, name) = ctx.identity(&mut rng, &corrupt::RENSHE, p, &mut tags);
                let base = job.wage.clamp(BASE_FLOOR, BASE_CEILING);
                let (unit_name, code, unit_type) = match job.unit {
                    Some(u) => {
                        let u = &ctx.city.units[u as usize];
                        (u.name.clone(), u.credit_code.clone(), u.unit_type)
                    }
                    None => ("灵活就业人员".to_owned(), String::new(), "50"),
                };
                let row = vec![
                    Cell::text(rid.clone()),
                    id,
                    Cell::text(name),
                    Cell::text(job.insurance),
                    Cell::text("1"),
                    Cell::text(unit_name),
                    Cell::text(code),
                    Cell::text(unit_type),
                    Cell::text(money(base)),
                    Cell::text(period),
                    Cell::text(money(round2(base * 0.08))),
                    Cell::text(d_compact(job.start)),
                ];
                emit(out, rid, row, vec![("subject", pid, tags)]);
                m = add_months(m, 1);
            }
        }
    }
}

fn pensions(ctx: &Ctx<'_>, h: &Household, out: &mut Vec<Emitted>) {
    for &pid in &h.members {
        let p = ctx.person(pid);
        let Some(pen) = &p.pension else { continue };
        if pen.start > ctx.t {
            continue;
        }
        let rid = ids::pension(pid);
        let mut rng = ctx.rng("renshe/pensions", &rid);
        let mut tags = Tags::default();
        let (id, name) = ctx.identity(&mut rng, &corrupt::RENSHE, p, &mut tags);
        // Payment stops when the death is reported, often weeks later.
        let stop = p
            .death
            .map(|d| d + Duration::days(i64::from(p.death_reg_lag / 2)));
        let (status, status_date) = match stop {
            Some(s) if s <= ctx.t => ("3", s),
            _ => ("1", pen.start),
        };
        let row = vec![
            Cell::text(rid.clone()),
            id,
            Cell::text(name),
            Cell::text(pen.kind),
            Cell::text(money(pen.amount)),
            Cell::text(if pen.basic > 0.0 {
                money(pen.basic)
            } else {
                String::new()
            }),
            Cell::text(yyyymm(pen.start)),
            Cell::text(status),
            Cell::text(d_compact(status_date)),
        ];
        emit(out, rid, row, vec![("subject", pid, tags)]);
    }
}

fn unemployment(ctx: &Ctx<'_>, h: &Household, out: &mut Vec<Emitted>) {
    for &pid in &h.members {
        let p = ctx.person(pid);
        let Some(u) = &p.unemployment else { continue };
        if u.start > ctx.t {
            continue;
        }
        let rid = ids::unemployment(pid);
        let mut rng = ctx.rng("renshe/unemployment", &rid);
        let mut tags = Tags::default();
        let (id, name) = ctx.identity(&mut rng, &corrupt::RENSHE, p, &mut tags);
        let row = vec![
            Cell::text(rid.clone()),
            id,
            Cell::text(name),
            Cell::text(money(u.amount)),
            Cell::text(yyyymm(u.start)),
            Cell::text(yyyymm(u.end)),
        ];
        emit(out, rid, row, vec![("subject", pid, tags)]);
    }
}

fn property(ctx: &Ctx<'_>, h: &Household, out: &mut Vec<Emitted>) {
    for (i, pr) in h.properties.iter().enumerate() {
        if pr.reg_date > ctx.t {
            continue;
        }
        let n = pr.owners.len();
        for (k, &owner) in pr.owners.iter().enumerate() {
            let rid = ids::property(h.hid, i, k);
            let mut rng = ctx.rng("zhujian/property", &rid);
            let mut tags = Tags::default();
            let (id, name) =
                ctx.identity(&mut rng, &corrupt::ZHUJIAN, ctx.person(owner), &mut tags);
            let row = vec![
                Cell::text(rid.clone()),
                Cell::text(pr.unit_no.clone()),
                Cell::text(format!(
                    "鄂({})随州市不动产权第{:07}号",
                    pr.reg_date.year(),
                    (h.hid as usize * 7 + i) % 10_000_000
                )),
                Cell::text(name),
                id,
                Cell::text(if n == 1 { "1" } else { "2" }),
                Cell::text(if n == 1 { "100" } else { "" }),
                Cell::text(pr.location.clone()),
                Cell::text(pr.use_code),
                Cell::text(pr.nature),
                Cell::text(format!("{:.2}", pr.area)),
                Cell::text(d_cn(pr.reg_date)),
                Cell::text("1"),
                Cell::text(if pr.mortgaged { "是" } else { "否" }),
            ];
            emit(out, rid, row, vec![("owner", owner, tags)]);
        }
    }
}

fn housing_fund(ctx: &Ctx<'_>, h: &Household, out: &mut Vec<Emitted>) {
    let now = month_of(ctx.t);
    for &pid in &h.members {
        let p = ctx.person(pid);
        for (j, job) in p.jobs.iter().enumerate() {
            if !job.fund || job.start > ctx.t {
                continue;
            }
            let rid = ids::fund(pid, j);
            let mut rng = ctx.rng("zhujian/housing_fund", &rid);
            let mut tags = Tags::default();
            let (id, name) = ctx.identity(&mut rng, &corrupt::ZHUJIAN, p, &mut tags);
            let ended = job.end.is_some_and(|e| e < now);
            let last_paid = job.end.map_or(now, |e| e.min(now));
            let rate = if job.insurance == "120" { 0.12 } else { 0.08 };
            let unit = job
                .unit
                .map_or(String::new(), |u| ctx.city.units[u as usize].name.clone());
            let row = vec![
                Cell::text(rid.clone()),
                id,
                Cell::text(name),
                Cell::text(if ended { "2" } else { "1" }),
                Cell::text(unit),
                Cell::text(money(job.wage)),
                Cell::text(format!("{rate:.2}")),
                Cell::text(format!("{rate:.2}")),
                Cell::text(money(round2(job.wage * rate * 2.0))),
                Cell::text(yyyymm(last_paid)),
                Cell::text(d_cn(job.start)),
            ];
            emit(out, rid, row, vec![("subject", pid, tags)]);
        }
    }
}

/// Members the roster knows: those born by the approval date.
fn roster_members<'a>(
    ctx: &'a Ctx<'_>,
    h: &'a Household,
    on: NaiveDate,
) -> impl Iterator<Item = &'a Person> + 'a {
    h.members
        .iter()
        .map(|m| ctx.person(*m))
        .filter(move |p| p.birth <= on)
}

fn cases(ctx: &Ctx<'_>, h: &Household, out: &mut Vec<Emitted>) {
    let Some(c) = &h.case else { return };
    if c.approved > ctx.t {
        return;
    }
    let head = ctx.person(h.members[0]);
    let mut rng = ctx.rng("minzheng/cases", &c.case_id);
    let mut tags = Tags::default();
    let (id, name) = ctx.identity(&mut rng, &corrupt::MINZHENG, head, &mut tags);
    let n = roster_members(ctx, h, c.approved).count();
    let row = vec![
        Cell::text(c.case_id.clone()),
        Cell::text(c.programme.code()),
        Cell::text(if h.urban { "1" } else { "2" }),
        Cell::text(&h.township.code[..6]),
        Cell::text(h.township.code),
        Cell::text(h.village.clone()),
        Cell::text(name),
        id,
        Cell::text(n.to_string()),
        Cell::text(money(c.declared_income)),
        Cell::text(money(c.benefit)),
        Cell::text(d_iso(c.approved)),
        Cell::text(c.review_class),
        Cell::text(d_iso(c.last_check)),
        Cell::text(d_iso(c.next_due)),
        Cell::text("1"),
        Cell::text(c.auth_no.clone()),
    ];
    emit(out, c.case_id.clone(), row, vec![("head", head.pid, tags)]);
}

fn member_row(
    ctx: &Ctx<'_>,
    business: &str,
    k: usize,
    p: &Person,
    relation: &'static str,
    dataset: &str,
    out: &mut Vec<Emitted>,
) {
    let rid = format!("{business}-{k:02}");
    let mut rng = ctx.rng(dataset, &rid);
    let mut tags = Tags::default();
    let (id, name) = ctx.identity(&mut rng, &corrupt::MINZHENG, p, &mut tags);
    let birth = corrupt::dob(
        &mut rng,
        &corrupt::MINZHENG.scaled(ctx.config.dirty),
        p.birth,
        &mut tags,
    );
    let mut row = vec![
        Cell::text(rid.clone()),
        Cell::text(business),
        Cell::text(name),
        id,
        Cell::text(relation),
        Cell::text(gender_label(p)),
        Cell::text(d_iso(birth)),
    ];
    if dataset == "minzheng/members" {
        row.push(Cell::text("是"));
    }
    emit(out, rid, row, vec![("member", p.pid, tags)]);
}

fn members(ctx: &Ctx<'_>, h: &Household, out: &mut Vec<Emitted>) {
    let Some(c) = &h.case else { return };
    if c.approved > ctx.t {
        return;
    }
    for (k, p) in roster_members(ctx, h, c.approved).enumerate() {
        member_row(
            ctx,
            &c.case_id,
            k + 1,
            p,
            p.relation,
            "minzheng/members",
            out,
        );
    }
}

fn signature_rows(
    ctx: &Ctx<'_>,
    auth_no: &str,
    business: &str,
    signed: NaiveDate,
    signers: Vec<&Person>,
    out: &mut Vec<Emitted>,
) {
    for (k, p) in signers.into_iter().enumerate() {
        let rid = format!("{auth_no}-{:02}", k + 1);
        let mut rng = ctx.rng("minzheng/authorizations", &rid);
        let mut tags = Tags::default();
        let (id, name) = ctx.identity(&mut rng, &corrupt::MINZHENG, p, &mut tags);
        let minor = p.age_on(signed) < 18;
        let row = vec![
            Cell::text(rid.clone()),
            Cell::text(auth_no),
            Cell::text(business),
            Cell::text(name),
            id,
            Cell::text(if minor { "是" } else { "否" }),
            Cell::text(d_iso(signed)),
            Cell::Null,
            Cell::text("HJ,SB,GJJ,BDC,CL,YL"),
            Cell::Null,
        ];
        emit(out, rid, row, vec![("signer", p.pid, tags)]);
    }
}

fn authorizations(ctx: &Ctx<'_>, h: &Household, out: &mut Vec<Emitted>) {
    if let Some(c) = &h.case
        && c.approved <= ctx.t
    {
        let signers: Vec<&Person> = roster_members(ctx, h, c.approved).collect();
        let signed = c.approved - Duration::days(20);
        signature_rows(ctx, &c.auth_no, &c.case_id, signed, signers, out);
    }
    if let Some(a) = pending(ctx, h) {
        let signers: Vec<&Person> = app_members(ctx, h, a.applied)
            .filter(|p| Some(p.pid) != a.unsigned_member)
            .collect();
        signature_rows(ctx, &a.auth_no, &a.application_id, a.applied, signers, out);
    }
}

/// The household's application if it is pending on the snapshot date (applied in the month
/// before it).
fn pending<'a>(ctx: &Ctx<'_>, h: &'a Household) -> Option<&'a crate::city::Application> {
    h.application
        .as_ref()
        .filter(|a| a.applied <= ctx.t && a.applied > ctx.t - Duration::days(31))
}

fn app_members<'a>(
    ctx: &'a Ctx<'_>,
    h: &'a Household,
    on: NaiveDate,
) -> impl Iterator<Item = &'a Person> + 'a {
    h.members
        .iter()
        .map(|m| ctx.person(*m))
        .filter(move |p| p.alive_on(on) && p.move_out.is_none_or(|(d, _)| d > on))
}

fn applications(ctx: &Ctx<'_>, h: &Household, out: &mut Vec<Emitted>) {
    let Some(a) = pending(ctx, h) else { return };
    let head = ctx.person(h.members[0]);
    let mut rng = ctx.rng("minzheng/applications", &a.application_id);
    let mut tags = Tags::default();
    let (id, name) = ctx.identity(&mut rng, &corrupt::MINZHENG, head, &mut tags);
    let row = vec![
        Cell::text(a.application_id.clone()),
        Cell::text(a.programme.code()),
        Cell::text(if h.urban { "1" } else { "2" }),
        Cell::text(&h.township.code[..6]),
        Cell::text(h.township.code),
        Cell::text(h.village.clone()),
        Cell::text(name),
        id,
        Cell::text(money(a.declared_income)),
        Cell::text(d_iso(a.applied)),
        Cell::text(a.auth_no.clone()),
        Cell::text("1"),
    ];
    emit(
        out,
        a.application_id.clone(),
        row,
        vec![("applicant", head.pid, tags)],
    );
}

fn application_members(ctx: &Ctx<'_>, h: &Household, out: &mut Vec<Emitted>) {
    let Some(a) = pending(ctx, h) else { return };
    for (k, p) in app_members(ctx, h, a.applied).enumerate() {
        member_row(
            ctx,
            &a.application_id,
            k + 1,
            p,
            p.relation,
            "minzheng/application_members",
            out,
        );
    }
}

/// The dataset and record that evidence a planted event.
pub(crate) fn evidence(
    city: &City,
    kind: EventKind,
    pid: u32,
    t2: NaiveDate,
) -> (&'static str, String) {
    let p = &city.persons[pid as usize];
    let hh = &city.households[p.hh as usize];
    match kind {
        EventKind::Death => ("weijian/deaths", ids::death(pid)),
        EventKind::NewJob | EventKind::PublicPayroll => {
            let j = p.jobs.len().saturating_sub(1);
            let m = p.jobs.last().map_or(t2, |j| j.start);
            (
                "renshe/contributions",
                ids::contribution(pid, j, &yyyymm(m)),
            )
        }
        EventKind::PensionStart => ("renshe/pensions", ids::pension(pid)),
        EventKind::PropertyNew => {
            let i = hh.properties.len().saturating_sub(1);
            ("zhujian/property", ids::property(hh.hid, i, 0))
        }
        EventKind::VehicleNew => (
            "gongan/vehicles",
            ids::vehicle(hh.hid, hh.vehicles.len().saturating_sub(1)),
        ),
        EventKind::MigrateOut | EventKind::DataQualityOnly => {
            ("gongan/population", ids::population(pid))
        }
        EventKind::Birth => ("weijian/births", ids::birth(pid)),
        EventKind::HospitalCostly => (
            "weijian/hospital_stays",
            ids::stay(pid, p.stays.len().saturating_sub(1)),
        ),
        EventKind::UnemploymentStart => ("renshe/unemployment", ids::unemployment(pid)),
    }
}
