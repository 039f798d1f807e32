//! Records as the engine sees them: identity fields standardised once with `hedui-identity`
//! and stored column by column in compact form (interned strings, fixed-size ID numbers, dates
//! as day numbers), so that comparing a pair touches a few cache lines.

use rustc_hash::FxHashMap as HashMap;

use chrono::{Datelike, NaiveDate};
use hedui_identity::address::parse_address;
use hedui_identity::date::{DateContext, parse_date};
use hedui_identity::id::{Gender, IdContext, IdIssue, IdLevel, parse_gender, parse_id_with};
use hedui_identity::name::standardize_name;
use hedui_identity::phone::parse_phone;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// One record as delivered: the identity fields as text. Any field may be missing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputRecord {
    /// The record's id in its source.
    pub record_id: String,
    /// Name.
    pub name: Option<String>,
    /// Former name (曾用名).
    pub former_name: Option<String>,
    /// ID number.
    pub id_number: Option<String>,
    /// Birth date.
    pub birth_date: Option<String>,
    /// Gender.
    pub gender: Option<String>,
    /// Address.
    pub address: Option<String>,
    /// Phone.
    pub phone: Option<String>,
}

/// One record's identity fields, borrowed (from an [`InputRecord`] or straight from the
/// columns of a file, so that millions of records need not be copied into owned strings).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordRef<'a> {
    /// The record's id in its source.
    pub record_id: &'a str,
    /// Name.
    pub name: Option<&'a str>,
    /// Former name.
    pub former_name: Option<&'a str>,
    /// ID number.
    pub id_number: Option<&'a str>,
    /// Birth date.
    pub birth_date: Option<&'a str>,
    /// Gender.
    pub gender: Option<&'a str>,
    /// Address.
    pub address: Option<&'a str>,
    /// Phone.
    pub phone: Option<&'a str>,
}

/// Anything that can hand out records by index.
pub trait RecordSource: Sync {
    /// Number of records.
    fn len(&self) -> usize;
    /// Record `i` (`i < len()`).
    fn get(&self, i: usize) -> RecordRef<'_>;
    /// True if there are none.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl RecordSource for [InputRecord] {
    fn len(&self) -> usize {
        <[InputRecord]>::len(self)
    }

    fn get(&self, i: usize) -> RecordRef<'_> {
        let r = &self[i];
        RecordRef {
            record_id: &r.record_id,
            name: r.name.as_deref(),
            former_name: r.former_name.as_deref(),
            id_number: r.id_number.as_deref(),
            birth_date: r.birth_date.as_deref(),
            gender: r.gender.as_deref(),
            address: r.address.as_deref(),
            phone: r.phone.as_deref(),
        }
    }
}

impl<const N: usize> RecordSource for [InputRecord; N] {
    fn len(&self) -> usize {
        N
    }

    fn get(&self, i: usize) -> RecordRef<'_> {
        RecordSource::get(self.as_slice(), i)
    }
}

impl RecordSource for Vec<InputRecord> {
    fn len(&self) -> usize {
        self.as_slice().len()
    }

    fn get(&self, i: usize) -> RecordRef<'_> {
        RecordSource::get(self.as_slice(), i)
    }
}

/// Interned strings: equal strings get equal ids across both sides of a link job. Id 0 is
/// reserved for "missing".
#[derive(Debug, Clone, Default)]
pub struct Interner {
    map: HashMap<Box<str>, u32>,
    strings: Vec<Box<str>>,
}

impl Interner {
    /// A new interner holding only the "missing" entry.
    pub fn new() -> Interner {
        Interner {
            map: HashMap::default(),
            strings: vec!["".into()],
        }
    }

    /// The id of `s` (0 for the empty string).
    pub fn intern(&mut self, s: &str) -> u32 {
        if s.is_empty() {
            return 0;
        }
        if let Some(&i) = self.map.get(s) {
            return i;
        }
        let i = self.strings.len() as u32;
        self.strings.push(s.into());
        self.map.insert(s.into(), i);
        i
    }

    /// The string of an id.
    pub fn get(&self, id: u32) -> &str {
        self.strings.get(id as usize).map_or("", |s| s)
    }

    /// Number of distinct strings (including "missing").
    pub fn len(&self) -> usize {
        self.strings.len()
    }

    /// True if only "missing" is held.
    pub fn is_empty(&self) -> bool {
        self.strings.len() <= 1
    }
}

/// Record ids stored end to end in one buffer (one allocation for millions of ids).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordIds {
    text: String,
    ends: Vec<usize>,
}

impl RecordIds {
    /// Appends an id.
    pub fn push(&mut self, id: &str) {
        self.text.push_str(id);
        self.ends.push(self.text.len());
    }

    /// Number of ids.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The id of record `i` (empty if out of range).
    pub fn get(&self, i: usize) -> &str {
        let start = if i == 0 {
            0
        } else {
            self.ends.get(i - 1).copied().unwrap_or(0)
        };
        let end = self.ends.get(i).copied().unwrap_or(start);
        self.text.get(start..end).unwrap_or("")
    }
}

impl std::ops::Index<usize> for RecordIds {
    type Output = str;

    fn index(&self, i: usize) -> &str {
        self.get(i)
    }
}

/// Sentinel for a missing date.
pub const NO_DATE: i32 = i32::MIN;

/// How trustworthy a record's ID number is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum IdQuality {
    /// No usable number.
    Missing,
    /// The right shape but the check character is wrong (a typo somewhere).
    Invalid,
    /// Passes the check character.
    Valid,
}

/// Standardised records, column by column.
#[derive(Debug, Clone, Default)]
pub struct Records {
    /// Source record ids.
    pub record_id: RecordIds,
    /// Normalised 18-character ID numbers (`[0; 18]` when missing).
    pub id18: Vec<[u8; 18]>,
    /// ID quality.
    pub id_quality: Vec<IdQuality>,
    /// The number was delivered in the 15-digit form.
    pub id_was15: Vec<bool>,
    /// Name with whitespace removed and width normalised, but no character folding.
    pub name_raw: Vec<u32>,
    /// Standardised name (simplified, variants folded, dots unified; `?` for unknown chars).
    pub name: Vec<u32>,
    /// The name contains an unknown-character wildcard.
    pub name_wildcard: Vec<bool>,
    /// Toneless pinyin of the name.
    pub pinyin: Vec<u32>,
    /// Toneless pinyin of the surname.
    pub surname_pinyin: Vec<u32>,
    /// Standardised former name.
    pub former_name: Vec<u32>,
    /// Birth date as days since 1970-01-01 ([`NO_DATE`] when missing). Taken from the record,
    /// or, when the record has none, from a *valid* ID number or from the surviving digits of
    /// one a spreadsheet put in scientific notation.
    pub dob: Vec<i32>,
    /// 1 male, 2 female, 0 missing (derived from a valid ID number when not stated).
    pub gender: Vec<u8>,
    /// Nine-digit township code (0 when unknown).
    pub township: Vec<u32>,
    /// Interned village or community name (0 when unknown).
    pub village: Vec<u32>,
    /// Interned normalised address text (0 when missing).
    pub address: Vec<u32>,
    /// Phone as a number (0 when missing).
    pub phone: Vec<u64>,
}

impl Records {
    /// Empty columns with room for `n` records (growing 15 columns of millions of entries by
    /// doubling would copy and fault in twice the memory).
    fn with_capacity(n: usize) -> Records {
        Records {
            record_id: RecordIds {
                text: String::with_capacity(n * 12),
                ends: Vec::with_capacity(n),
            },
            id18: Vec::with_capacity(n),
            id_quality: Vec::with_capacity(n),
            id_was15: Vec::with_capacity(n),
            name_raw: Vec::with_capacity(n),
            name: Vec::with_capacity(n),
            name_wildcard: Vec::with_capacity(n),
            pinyin: Vec::with_capacity(n),
            surname_pinyin: Vec::with_capacity(n),
            former_name: Vec::with_capacity(n),
            dob: Vec::with_capacity(n),
            gender: Vec::with_capacity(n),
            township: Vec::with_capacity(n),
            village: Vec::with_capacity(n),
            address: Vec::with_capacity(n),
            phone: Vec::with_capacity(n),
        }
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.record_id.len()
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.record_id.is_empty()
    }
}

/// The distinct values of one field over all records, and which one each record has.
struct Distinct<'a> {
    /// Per record: index into `values`, or `u32::MAX` when the field is missing.
    of_record: Vec<u32>,
    values: Vec<&'a str>,
    index: HashMap<&'a str, u32>,
}

impl<'a> Distinct<'a> {
    fn with_capacity(n: usize) -> Self {
        Distinct {
            of_record: Vec::with_capacity(n),
            values: Vec::new(),
            index: HashMap::default(),
        }
    }

    fn push(&mut self, value: Option<&'a str>) {
        let i = match value {
            None => u32::MAX,
            Some(v) => *self.index.entry(v).or_insert_with(|| {
                self.values.push(v);
                (self.values.len() - 1) as u32
            }),
        };
        self.of_record.push(i);
    }

    fn get<'b, T>(&self, per_value: &'b [T], i: usize) -> Option<&'b T> {
        per_value.get(self.of_record[i] as usize)
    }
}

/// A standardised name, interned.
#[derive(Clone, Copy, Default)]
struct NameIds {
    raw: u32,
    name: u32,
    wildcard: bool,
    pinyin: u32,
    surname_pinyin: u32,
}

/// A standardised address, interned.
#[derive(Clone, Copy, Default)]
struct AddressIds {
    township: u32,
    village: u32,
    text: u32,
}

/// The per-record fields that do not repeat (ID number, phone) or depend on the record's other
/// fields (the ID's checks use its stated gender and birth date).
struct PerRecord {
    id18: [u8; 18],
    id_quality: IdQuality,
    id_was15: bool,
    dob: i32,
    gender: u8,
    phone: u64,
}

fn days(d: NaiveDate) -> i32 {
    d.num_days_from_ce() - 719_163
}

/// Converts a day number back to a date.
pub fn date_of(days_since_epoch: i32) -> Option<NaiveDate> {
    if days_since_epoch == NO_DATE {
        return None;
    }
    NaiveDate::from_num_days_from_ce_opt(days_since_epoch + 719_163)
}

fn standardise_name(raw: &str) -> (Option<String>, String, bool, String, String) {
    let n = standardize_name(raw);
    let nfkc = hedui_identity::text::nfkc(raw);
    let cleaned = hedui_identity::text::strip_blanks(&nfkc);
    let cleaned = (cleaned != n.standardized.as_str()).then(|| cleaned.into_owned());
    // The first word of the pinyin key is the surname's (or, for names without a surname split,
    // the first part's).
    let surname_py = n.pinyin.split(' ').next().unwrap_or("").to_owned();
    (
        cleaned,
        n.standardized,
        !n.wildcards.is_empty(),
        n.pinyin,
        surname_py,
    )
}

/// A phone number as a number. Plain 11-digit mobile numbers (most of them) skip the full parser.
fn phone_number(raw: &str) -> u64 {
    let b = raw.as_bytes();
    if b.len() == 11 && b[0] == b'1' && b.iter().all(u8::is_ascii_digit) {
        return raw.parse().unwrap_or(0);
    }
    parse_phone(raw, Some("0722"))
        .normalized
        .and_then(|p| p.replace('-', "").parse().ok())
        .unwrap_or(0)
}

fn per_record(r: RecordRef<'_>, stated_dob: Option<NaiveDate>, ctx: &DateContext) -> PerRecord {
    let stated_gender = r.gender.and_then(parse_gender);
    let mut out = PerRecord {
        id18: [0u8; 18],
        id_quality: IdQuality::Missing,
        id_was15: false,
        dob: NO_DATE,
        gender: 0,
        phone: r.phone.map_or(0, phone_number),
    };
    let mut id_dob = None;
    let mut id_gender = None;
    if let Some(raw) = r.id_number {
        let id = parse_id_with(
            raw,
            &IdContext {
                stated_gender,
                stated_birth_date: stated_dob,
                as_of: ctx.reference,
            },
        );
        if let Some(n) = &id.normalized
            && n.len() == 18
        {
            out.id18.copy_from_slice(n.as_bytes());
            out.id_was15 = id.issues.contains(&IdIssue::Upgraded15);
            if id.level >= IdLevel::CheckDigitValid {
                out.id_quality = IdQuality::Valid;
                id_dob = id.birth_date;
                id_gender = id.gender;
            } else {
                out.id_quality = IdQuality::Invalid;
            }
        } else if id.known_prefix.is_some() {
            // A number a spreadsheet put in scientific notation: unusable as a number, but its
            // surviving digits still carry the birth date.
            id_dob = id.birth_date;
        }
    }
    out.dob = stated_dob.or(id_dob).map_or(NO_DATE, days);
    out.gender = match stated_gender.or(id_gender) {
        Some(Gender::Male) => 1,
        Some(Gender::Female) => 2,
        None => 0,
    };
    out
}

/// Standardises records and interns their strings into `interner`.
///
/// Names, addresses and birth dates repeat across a population (a household shares an
/// address, a city shares birth dates and common names), so each distinct value is
/// standardised once, in parallel, and interned once; only the ID number and the phone are
/// worked out per record. `reference` is the date "today" for validation (no clock is read).
pub fn prepare<S: RecordSource + ?Sized>(
    records: &S,
    interner: &mut Interner,
    reference: Option<NaiveDate>,
) -> Records {
    let ctx = DateContext {
        reference,
        allow_excel_serial: true,
    };
    let n = records.len();
    let mut out = Records::with_capacity(n);
    // One pass over the records: their ids, their (rare) former names, and the distinct names,
    // addresses and birth dates.
    let (mut names, mut addresses, mut dates) = (
        Distinct::with_capacity(n),
        Distinct::with_capacity(n),
        Distinct::with_capacity(n),
    );
    for i in 0..n {
        let r = records.get(i);
        out.record_id.push(r.record_id);
        names.push(r.name);
        addresses.push(r.address);
        dates.push(r.birth_date);
        let former = r
            .former_name
            .map(|f| standardize_name(f).standardized)
            .unwrap_or_default();
        out.former_name.push(interner.intern(&former));
    }
    for d in [&mut names, &mut addresses, &mut dates] {
        d.index = HashMap::default();
    }

    // Distinct values are standardised in parallel chunks and each chunk is interned before the
    // next is made, so that only one chunk of intermediate strings is alive at a time.
    const CHUNK: usize = 1 << 15;
    let mut name_ids: Vec<NameIds> = Vec::with_capacity(names.values.len());
    for chunk in names.values.chunks(CHUNK) {
        let std: Vec<_> = chunk.par_iter().map(|v| standardise_name(v)).collect();
        name_ids.extend(
            std.into_iter()
                .map(|(raw, name, wildcard, pinyin, surname)| {
                    let name = interner.intern(&name);
                    NameIds {
                        raw: raw.map_or(name, |r| interner.intern(&r)),
                        name,
                        wildcard,
                        pinyin: interner.intern(&pinyin),
                        surname_pinyin: interner.intern(&surname),
                    }
                }),
        );
    }
    let mut address_ids: Vec<AddressIds> = Vec::with_capacity(addresses.values.len());
    for chunk in addresses.values.chunks(CHUNK) {
        let std: Vec<_> = chunk.par_iter().map(|v| parse_address(v)).collect();
        address_ids.extend(std.into_iter().map(|a| AddressIds {
            township: a.township.and_then(|t| t.code.parse().ok()).unwrap_or(0),
            village: interner.intern(a.village.as_deref().unwrap_or("")),
            text: interner.intern(&a.normalized),
        }));
    }
    let date_std: Vec<Option<NaiveDate>> = dates
        .values
        .par_iter()
        .map(|v| parse_date(v, &ctx).date)
        .collect();

    let per: Vec<PerRecord> = (0..n)
        .into_par_iter()
        .map(|i| {
            per_record(
                records.get(i),
                dates.get(&date_std, i).copied().flatten(),
                &ctx,
            )
        })
        .collect();

    for (i, p) in per.into_iter().enumerate() {
        out.id18.push(p.id18);
        out.id_quality.push(p.id_quality);
        out.id_was15.push(p.id_was15);
        let nm = names.get(&name_ids, i).copied().unwrap_or_default();
        out.name_raw.push(nm.raw);
        out.name.push(nm.name);
        out.name_wildcard.push(nm.wildcard);
        out.pinyin.push(nm.pinyin);
        out.surname_pinyin.push(nm.surname_pinyin);
        out.dob.push(p.dob);
        out.gender.push(p.gender);
        let ad = addresses.get(&address_ids, i).copied().unwrap_or_default();
        out.township.push(ad.township);
        out.village.push(ad.village);
        out.address.push(ad.text);
        out.phone.push(p.phone);
    }
    out
}

/// Year, month and day of a day number.
pub(crate) fn ymd(d: i32) -> (i32, u32, u32) {
    date_of(d).map_or((0, 0, 0), |x| (x.year(), x.month(), x.day()))
}
