//! 公民身份号码 — Chinese resident ID numbers (GB 11643-1999, and the 15-digit GB 11643-1989
//! numbers still found in old records).
//!
//! [`parse_id`] cleans what departments actually deliver (full-width digits, `x`/`×` for `X`,
//! separators, spreadsheet damage), validates it level by level, upgrades 15-digit numbers to
//! 18, and derives birth date, gender and issuing region. The result keeps the original text.
//!
//! Layout of the 18-character number: `RRRRRR YYYYMMDD SSS C` — region of first registration,
//! birth date, sequence (odd = male), ISO 7064 MOD 11-2 check character.
//!
//! ```
//! use hedui_identity::id::{parse_id, Gender, IdIssue, IdLevel};
//! let id = parse_id("429001491001003");
//! assert_eq!(id.normalized.as_deref(), Some("429001194910010031"));
//! assert_eq!(id.original_15.as_deref(), Some("429001491001003"));
//! assert_eq!(id.gender, Some(Gender::Male));
//! assert!(id.issues.contains(&IdIssue::Upgraded15));
//! ```

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

use crate::{divisions, text};

/// Weights of positions 1–17 for the MOD 11-2 check (2^(17−i) mod 11).
const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// Check character for `sum mod 11 = 0..=10`.
const CHECK_CHARS: [u8; 11] = *b"10X98765432";

/// Gender as coded in GB/T 2261.1 and implied by the ID sequence parity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Gender {
    /// 男 (code 1; odd ID sequence).
    Male,
    /// 女 (code 2; even ID sequence).
    Female,
}

impl Gender {
    /// The GB/T 2261.1 code: 1 male, 2 female.
    pub fn code(self) -> u8 {
        match self {
            Gender::Male => 1,
            Gender::Female => 2,
        }
    }

    /// The Chinese label: 男 / 女.
    pub fn label(self) -> &'static str {
        match self {
            Gender::Male => "男",
            Gender::Female => "女",
        }
    }
}

/// Reads a gender as departments code it: `1`/`2` (GB/T 2261.1), `男`/`女`, `M`/`F`,
/// `male`/`female`. `0`, `9`, `未知`, blanks and anything else give `None`.
pub fn parse_gender(raw: &str) -> Option<Gender> {
    // The forms almost every extract uses, as delivered (nothing to normalise).
    match raw {
        "1" | "男" | "男性" | "m" | "M" => return Some(Gender::Male),
        "2" | "女" | "女性" | "f" | "F" => return Some(Gender::Female),
        _ => {}
    }
    let s: String = raw.nfkc().filter(|c| !c.is_whitespace()).collect();
    match s.to_ascii_lowercase().as_str() {
        "1" | "男" | "男性" | "m" | "male" => Some(Gender::Male),
        "2" | "女" | "女性" | "f" | "female" => Some(Gender::Female),
        _ => None,
    }
}

/// How far an ID number got through validation (DOMAIN.md §4.1). Each level implies all the
/// lower ones. Level 6 of the domain list ("found in the 公安 base") is decided by linkage, not
/// here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum IdLevel {
    /// Nothing usable: empty, a null placeholder, wrong length, stray characters, or digits
    /// lost to scientific notation.
    Unusable = 0,
    /// 18 characters of the right shape (17 digits + digit or `X`), or a 15-digit number.
    FormatValid = 1,
    /// The MOD 11-2 check character agrees.
    CheckDigitValid = 2,
    /// The birth date is a real calendar date, not before 1850 and not after the reference date.
    DateValid = 3,
    /// The region code is a known (current or historical) county-level code.
    RegionKnown = 4,
    /// The sequence parity agrees with the gender stated in the same record (or none was stated).
    GenderConsistent = 5,
}

/// What cleaning and validation found. Several can apply to one number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum IdIssue {
    /// Empty, or a null placeholder such as `NULL`, `无`, `-`, `0`.
    Missing,
    /// Full-width or other compatibility characters were normalised (NFKC).
    FullWidth,
    /// A lower-case `x` or a multiplication sign `×` stood for `X`.
    LowercaseX,
    /// Spaces, dashes or other separators were removed.
    Separators,
    /// Spreadsheet text quoting was removed: a leading `'` or `="…"`.
    SpreadsheetQuoted,
    /// The number was stored as a float and shown in scientific notation (`4.21303E+17`):
    /// the digits are lost and cannot be recovered. Re-request the data.
    ScientificNotation,
    /// Characters other than digits and `X` remain.
    InvalidCharacters,
    /// `X` somewhere other than the last position.
    MisplacedX,
    /// Neither 15 nor 18 characters.
    WrongLength(usize),
    /// The check character does not agree (the number holds a typo or was damaged).
    CheckDigitMismatch {
        /// The check character the first 17 digits call for.
        expected: char,
    },
    /// Ends in `000` with a wrong check character: probably cut to 15 significant digits by a
    /// spreadsheet. Re-request the data; do not repair.
    ProbablyExcelTruncated,
    /// The birth-date digits are not a valid date.
    InvalidBirthDate,
    /// The birth date lies after the reference date.
    BirthDateInFuture,
    /// The region code is in no known code list (current or historical).
    UnknownRegion,
    /// The sequence parity disagrees with the gender stated in the record.
    GenderMismatch {
        /// Gender implied by the sequence.
        from_id: Gender,
        /// Gender stated in the record.
        stated: Gender,
    },
    /// A 15-digit number was upgraded to 18 digits (the original is kept).
    Upgraded15,
    /// A 15-digit number was upgraded with the century `18` because the record's stated birth
    /// date says so (the centenarian pitfall of DOMAIN.md §4.1).
    CenturyFromStatedBirthDate,
    /// A 15-digit number was upgraded with the century `19`, but the holder would be very old or
    /// the stated birth date disagrees: cross-check against the 公安 record.
    CenturyUncertain,
}

/// Where the region code of an ID number comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RegionStatus {
    /// In the current national list (GB/T 2260, latest revision known to us).
    Current,
    /// A code no longer in force (an earlier GB/T 2260 revision, or a historical 随州 code).
    Historical,
    /// Unknown county code, but the first two digits are a valid province.
    ProvinceOnly,
    /// Nothing known.
    Unknown,
}

/// The issuing region of an ID number. It is where the 户口 was first registered, **not** the
/// person's current jurisdiction (use the 公安 户籍地 for that).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuingRegion {
    /// The six-digit code as printed.
    pub code: String,
    /// The division's name, where known.
    pub name: Option<String>,
    /// How the code was recognised.
    pub status: RegionStatus,
}

/// Facts from the record that help validate its ID number.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IdContext {
    /// Gender stated in the same record (for the parity check).
    pub stated_gender: Option<Gender>,
    /// Birth date stated in the same record (used for the century of 15-digit numbers).
    pub stated_birth_date: Option<NaiveDate>,
    /// Reference date for "not in the future"; the pure crate reads no clock.
    pub as_of: Option<NaiveDate>,
}

/// The outcome of standardising one ID number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdNumber {
    /// The text exactly as delivered.
    pub original: String,
    /// The 18-character number, present whenever the format is valid (level ≥ `FormatValid`),
    /// even if the check character is wrong: a typo'd number is still evidence for matching.
    pub normalized: Option<String>,
    /// The 15-digit number it was upgraded from, if it was one.
    pub original_15: Option<String>,
    /// How far validation got.
    pub level: IdLevel,
    /// Birth date encoded in the number, if valid.
    pub birth_date: Option<NaiveDate>,
    /// Gender implied by the sequence parity.
    pub gender: Option<Gender>,
    /// The issuing region.
    pub region: Option<IssuingRegion>,
    /// For an 18-digit number a spreadsheet turned into a float shown in scientific notation
    /// (`4.213032001102985E+17`): the leading digits that survived, when they reach past the
    /// birth date (14 or more). The number itself stays unusable, but the region and, when
    /// they form a real date, the birth date ([`birth_date`](Self::birth_date)) are taken from
    /// them: evidence for matching the record to a person by other fields.
    #[serde(default)]
    pub known_prefix: Option<String>,
    /// Everything found on the way.
    pub issues: Vec<IdIssue>,
}

impl IdNumber {
    /// True if the number passed the check character (and everything before it).
    pub fn is_valid(&self) -> bool {
        self.level >= IdLevel::CheckDigitValid
    }

    /// The normalised number masked for display (first 6 and last 4 characters kept).
    pub fn masked(&self) -> Option<String> {
        self.normalized.as_deref().map(mask_id)
    }
}

/// Standardises an ID number with no other facts from the record.
pub fn parse_id(raw: &str) -> IdNumber {
    parse_id_with(raw, &IdContext::default())
}

/// Standardises an ID number, using facts from the same record for the checks that need them.
pub fn parse_id_with(raw: &str, ctx: &IdContext) -> IdNumber {
    let mut out = IdNumber {
        original: raw.to_owned(),
        normalized: None,
        original_15: None,
        level: IdLevel::Unusable,
        birth_date: None,
        gender: None,
        region: None,
        known_prefix: None,
        issues: Vec::new(),
    };
    let Some(chars) = clean(raw, &mut out.issues) else {
        if out.issues.contains(&IdIssue::ScientificNotation)
            && let Some(prefix) = scientific_prefix(&text::nfkc(raw))
        {
            out.birth_date = birth_date_of(prefix.as_bytes())
                .filter(|d| d.year() >= 1850 && ctx.as_of.is_none_or(|t| *d <= t));
            out.region = Some(issuing_region(&prefix[..6]));
            out.known_prefix = Some(prefix);
        }
        return out;
    };
    let id18 = match chars.len() {
        18 => {
            if chars[..17].iter().any(|c| !c.is_ascii_digit()) {
                out.issues.push(IdIssue::MisplacedX);
                return out;
            }
            chars
        }
        15 => {
            if chars.iter().any(|c| !c.is_ascii_digit()) {
                out.issues.push(IdIssue::MisplacedX);
                return out;
            }
            out.original_15 = Some(String::from_utf8_lossy(&chars).into_owned());
            out.issues.push(IdIssue::Upgraded15);
            let century = century_for_15(&chars, ctx, &mut out.issues);
            match upgrade_digits(&chars, century) {
                Some(id) => id,
                None => return out,
            }
        }
        n => {
            out.issues.push(IdIssue::WrongLength(n));
            return out;
        }
    };
    out.level = IdLevel::FormatValid;
    // Derivations below only read ASCII digits, so the byte slices are valid UTF-8.
    let text = String::from_utf8_lossy(&id18).into_owned();
    out.gender = Some(if (id18[16] - b'0') % 2 == 1 {
        Gender::Male
    } else {
        Gender::Female
    });
    out.birth_date = birth_date_of(&id18);
    out.region = Some(issuing_region(&text[..6]));
    out.normalized = Some(text);

    // Each check is recorded even when an earlier one failed, so that a caseworker sees all
    // that is wrong; the level stops at the first failure.
    let mut level = IdLevel::FormatValid;
    let mut climbing = true;
    let mut climb = |ok: bool, next: IdLevel| {
        if climbing && ok {
            level = next;
        } else {
            climbing = false;
        }
    };

    let expected = check_char(&id18[..17]);
    let check_ok = expected == Some(id18[17]);
    if let (false, Some(e)) = (check_ok, expected) {
        out.issues.push(IdIssue::CheckDigitMismatch {
            expected: char::from(e),
        });
        if id18.ends_with(b"000") {
            out.issues.push(IdIssue::ProbablyExcelTruncated);
        }
    }
    climb(check_ok, IdLevel::CheckDigitValid);

    let date_ok = match out.birth_date {
        None => {
            out.issues.push(IdIssue::InvalidBirthDate);
            false
        }
        Some(d) if ctx.as_of.is_some_and(|t| d > t) => {
            out.issues.push(IdIssue::BirthDateInFuture);
            false
        }
        Some(_) => true,
    };
    climb(date_ok, IdLevel::DateValid);

    let region_ok = out
        .region
        .as_ref()
        .is_some_and(|r| matches!(r.status, RegionStatus::Current | RegionStatus::Historical));
    if !region_ok {
        out.issues.push(IdIssue::UnknownRegion);
    }
    climb(region_ok, IdLevel::RegionKnown);

    let gender_ok = match (out.gender, ctx.stated_gender) {
        (Some(from_id), Some(stated)) if from_id != stated => {
            out.issues.push(IdIssue::GenderMismatch { from_id, stated });
            false
        }
        _ => true,
    };
    climb(gender_ok, IdLevel::GenderConsistent);
    out.level = level;
    out
}

/// A number delivered in the plain 18-character form, as [`parse_plain_id18`] reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlainId18 {
    /// The 18 characters, `x` upper-cased.
    pub id18: [u8; 18],
    /// The check character agrees (what [`IdLevel::CheckDigitValid`] means).
    pub check_ok: bool,
    /// The gender its sequence digit encodes.
    pub gender: Gender,
}

impl PlainId18 {
    /// The birth date its digits encode, if they form a real date not before 1850 (worked out
    /// on demand: a record that states its birth date does not need it).
    pub fn birth_date(&self) -> Option<NaiveDate> {
        birth_date_of(&self.id18)
    }
}

/// The common case of [`parse_id_with`] without its allocations, for engines that read millions
/// of numbers: `raw` is exactly 17 ASCII digits followed by a digit, `X` or `x`, with nothing
/// around them. Anything else gives `None` (and needs [`parse_id_with`]). Where it answers, it
/// agrees with [`parse_id_with`]: the same normalised number, the check level reached exactly
/// when `check_ok`, and the same birth date and gender.
pub fn parse_plain_id18(raw: &str) -> Option<PlainId18> {
    let b: &[u8; 18] = raw.as_bytes().try_into().ok()?;
    let last = match b[17] {
        d @ b'0'..=b'9' => d,
        b'X' | b'x' => b'X',
        _ => return None,
    };
    // Millions of numbers: the digits are checked, weighted and summed in one pass without a
    // branch per digit (a byte below `0` wraps to above 9).
    let mut digits = [0u8; 17];
    let mut not_digit = false;
    let mut sum = 0u32;
    for ((d, &c), w) in digits.iter_mut().zip(b).zip(WEIGHTS) {
        *d = c.wrapping_sub(b'0');
        not_digit |= *d > 9;
        sum += u32::from(*d) * w;
    }
    if not_digit {
        return None;
    }
    let mut id18 = *b;
    id18[17] = last;
    Some(PlainId18 {
        id18,
        check_ok: CHECK_CHARS[(sum % 11) as usize] == last,
        gender: if digits[16] % 2 == 1 {
            Gender::Male
        } else {
            Gender::Female
        },
    })
}

/// Cleans the raw text to upper-case ASCII characters, or records why nothing usable is left.
fn clean(raw: &str, issues: &mut Vec<IdIssue>) -> Option<Vec<u8>> {
    let nfkc = text::nfkc(raw);
    if nfkc != raw {
        issues.push(IdIssue::FullWidth);
    }
    let mut s = text::trim_blanks(&nfkc);
    if text::is_null_placeholder(s) {
        issues.push(IdIssue::Missing);
        return None;
    }
    if let Some(inner) = unquote(s) {
        s = inner;
        issues.push(IdIssue::SpreadsheetQuoted);
    }
    if looks_scientific(s) {
        issues.push(IdIssue::ScientificNotation);
        return None;
    }
    let mut out = Vec::with_capacity(18);
    let mut separators = false;
    let mut lowercase = false;
    for c in s.chars() {
        match c {
            '0'..='9' | 'X' => out.push(c as u8),
            'x' | '×' | '✕' | '╳' => {
                lowercase = true;
                out.push(b'X');
            }
            c if text::is_blank(c) || "-_/.,;:|·—–".contains(c) => {
                separators = true;
            }
            _ => {
                issues.push(IdIssue::InvalidCharacters);
                return None;
            }
        }
    }
    if lowercase {
        issues.push(IdIssue::LowercaseX);
    }
    if separators {
        issues.push(IdIssue::Separators);
    }
    if out.is_empty() {
        issues.push(IdIssue::Missing);
        return None;
    }
    Some(out)
}

/// The text inside spreadsheet quoting (`="421…"`, or a leading `'` or `` ` ``), if quoted.
fn unquote(s: &str) -> Option<&str> {
    s.strip_prefix("=\"")
        .and_then(|r| r.strip_suffix('"'))
        .or_else(|| s.strip_prefix('\'').or_else(|| s.strip_prefix('`')))
}

/// The leading digits of an 18-digit number written in scientific notation, when 14 or more
/// survive (region and birth date): `4.213032001102985E+17` → `4213032001102985`.
fn scientific_prefix(s: &str) -> Option<String> {
    let s = text::trim_blanks(s);
    let s = unquote(s).unwrap_or(s);
    let pos = s.find(['e', 'E'])?;
    let (mantissa, exponent) = (&s[..pos], &s[pos + 1..]);
    let exponent: i32 = exponent
        .strip_prefix('+')
        .unwrap_or(exponent)
        .parse()
        .ok()?;
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let int = int.trim_start_matches('0');
    // One non-zero digit before the point: the number has `exponent + 1` digits.
    if int.len() != 1 || exponent != 17 {
        return None;
    }
    let digits: String = int.chars().chain(frac.chars()).take(18).collect();
    (digits.len() >= 14 && digits.chars().all(|c| c.is_ascii_digit())).then_some(digits)
}

/// `4.21303E+17`, `4.21303e17`, `421303E+12` …
fn looks_scientific(s: &str) -> bool {
    let Some(pos) = s.find(['e', 'E']) else {
        return false;
    };
    let (mantissa, exponent) = (&s[..pos], &s[pos + 1..]);
    let exponent = exponent.strip_prefix('+').unwrap_or(exponent);
    !mantissa.is_empty()
        && mantissa.chars().all(|c| c.is_ascii_digit() || c == '.')
        && mantissa.chars().filter(|c| *c == '.').count() <= 1
        && !exponent.is_empty()
        && exponent.chars().all(|c| c.is_ascii_digit())
}

/// Decides the century of a 15-digit number's two-digit birth year.
fn century_for_15(chars: &[u8], ctx: &IdContext, issues: &mut Vec<IdIssue>) -> &'static [u8; 2] {
    let yy = u32::from(chars[6] - b'0') * 10 + u32::from(chars[7] - b'0');
    if let Some(stated) = ctx.stated_birth_date {
        let stated_year = stated.year();
        if stated_year.rem_euclid(100) as u32 == yy {
            if (1800..1900).contains(&stated_year) {
                issues.push(IdIssue::CenturyFromStatedBirthDate);
                return b"18";
            }
            if (1900..2000).contains(&stated_year) {
                return b"19";
            }
        }
        issues.push(IdIssue::CenturyUncertain);
        return b"19";
    }
    // Numbers issued under GB 11643-1989 belong to people born before 1990 at the latest;
    // a "19YY" birth in the first years of the century may be an 18YY centenarian.
    if yy <= 5 {
        issues.push(IdIssue::CenturyUncertain);
    }
    b"19"
}

/// Builds the 18-character number from a 15-digit one and a century.
fn upgrade_digits(id15: &[u8], century: &[u8; 2]) -> Option<Vec<u8>> {
    let mut id = Vec::with_capacity(18);
    id.extend_from_slice(&id15[..6]);
    id.extend_from_slice(century);
    id.extend_from_slice(&id15[6..15]);
    id.push(check_char(&id)?);
    Some(id)
}

/// Upgrades a 15-digit number to 18 digits with the given century (`19` in all but the
/// centenarian case). Returns `None` unless `id15` is exactly 15 ASCII digits.
pub fn upgrade_15(id15: &str, century: u16) -> Option<String> {
    let bytes = id15.as_bytes();
    if bytes.len() != 15 || !bytes.iter().all(u8::is_ascii_digit) || !(18..=20).contains(&century) {
        return None;
    }
    let c = [b'0' + (century / 10) as u8, b'0' + (century % 10) as u8];
    upgrade_digits(bytes, &c).map(|v| String::from_utf8_lossy(&v).into_owned())
}

/// The ISO 7064 MOD 11-2 check character for the first 17 digits. `None` unless `first17` is
/// exactly 17 ASCII digits.
pub fn check_char(first17: &[u8]) -> Option<u8> {
    if first17.len() != 17 || !first17.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let sum: u32 = first17
        .iter()
        .zip(WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    Some(CHECK_CHARS[(sum % 11) as usize])
}

/// True if `id` is 18 characters whose last one is the right check character.
pub fn has_valid_check(id: &str) -> bool {
    let b = id.as_bytes();
    b.len() == 18 && check_char(&b[..17]) == Some(b[17])
}

fn birth_date_of(id18: &[u8]) -> Option<NaiveDate> {
    // Millions of numbers: their digits are read directly, not parsed as text.
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        id18.get(r)?.iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let (y, m, d) = (num(6..10)?, num(10..12)?, num(12..14)?);
    if y < 1850 {
        return None;
    }
    NaiveDate::from_ymd_opt(i32::try_from(y).ok()?, m, d)
}

/// Recognises an issuing-region code: current national list, earlier national revisions, the
/// historical 随州 codes, or at least a valid province.
pub fn issuing_region(code: &str) -> IssuingRegion {
    let known = |name: &str, status| IssuingRegion {
        code: code.to_owned(),
        name: Some(name.to_owned()),
        status,
    };
    if let Some(c) = divisions::county_by_code(code) {
        return known(c.name, RegionStatus::Current);
    }
    if let Some(h) = divisions::historical(code) {
        return known(h.name, RegionStatus::Historical);
    }
    if let Some(d) = gb2260::Division::get(code) {
        return known(d.name, RegionStatus::Current);
    }
    if let Some(d) = gb2260::Division::search(code) {
        return known(d.name, RegionStatus::Historical);
    }
    let province = code.get(..2).map(|p| format!("{p}0000"));
    match province.as_deref().and_then(gb2260::Division::search) {
        Some(p) => IssuingRegion {
            code: code.to_owned(),
            name: Some(p.name.to_owned()),
            status: RegionStatus::ProvinceOnly,
        },
        None => IssuingRegion {
            code: code.to_owned(),
            name: None,
            status: RegionStatus::Unknown,
        },
    }
}

/// Masks an ID number for display: the first 6 and last 4 characters stay, the rest become `*`
/// (`421303********0018`). Anything that is not 15 or 18 characters long is masked entirely but
/// for its last 2 characters.
pub fn mask_id(id: &str) -> String {
    let chars: Vec<char> = id.chars().collect();
    let n = chars.len();
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let keep = if n == 18 || n == 15 {
                i < 6 || i >= n - 4
            } else {
                i + 2 >= n
            };
            if keep { *c } else { '*' }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("test date")
    }

    /// The worked examples of DOMAIN.md §4.1.
    #[test]
    fn domain_examples() {
        let id = parse_id("421303198001010018");
        assert_eq!(id.level, IdLevel::GenderConsistent);
        assert_eq!(id.birth_date, Some(ymd(1980, 1, 1)));
        assert_eq!(id.gender, Some(Gender::Male));
        assert_eq!(
            id.region.as_ref().and_then(|r| r.name.as_deref()),
            Some("曾都区")
        );

        let id = parse_id("421321195607150022");
        assert!(id.is_valid());
        assert_eq!(id.gender, Some(Gender::Female));
        assert_eq!(id.birth_date, Some(ymd(1956, 7, 15)));
        assert_eq!(
            id.region.as_ref().and_then(|r| r.name.as_deref()),
            Some("随县")
        );

        let id = parse_id("421381201002280136");
        assert!(id.is_valid());
        assert_eq!(id.gender, Some(Gender::Male));
        assert_eq!(
            id.region.as_ref().and_then(|r| r.name.as_deref()),
            Some("广水市")
        );

        let id = parse_id("429001491001003");
        assert_eq!(id.normalized.as_deref(), Some("429001194910010031"));
        assert_eq!(id.original_15.as_deref(), Some("429001491001003"));
        assert_eq!(
            id.region.as_ref().map(|r| r.status),
            Some(RegionStatus::Historical)
        );
        assert_eq!(id.level, IdLevel::GenderConsistent);
    }

    #[test]
    fn check_char_table() {
        for (id, ok) in [
            ("421303198001010018", true),
            ("421303198001010019", false),
            ("11010519491231002X", true),
            ("110105194912310021", false),
        ] {
            assert_eq!(has_valid_check(id), ok, "{id}");
        }
    }

    /// Every form of damage DOMAIN.md §4.5 lists, cleaned to the same number.
    #[test]
    fn cleaning_table() {
        let cases: &[(&str, IdIssue)] = &[
            ("４２１３０３１９８００１０１００１８", IdIssue::FullWidth),
            ("421303 19800101 0018", IdIssue::Separators),
            ("421303-19800101-0018", IdIssue::Separators),
            ("\t421303198001010018\n", IdIssue::Upgraded15), // trimmed silently
            ("'421303198001010018", IdIssue::SpreadsheetQuoted),
            ("=\"421303198001010018\"", IdIssue::SpreadsheetQuoted),
            ("421303\u{200B}198001010018", IdIssue::Separators),
        ];
        for (raw, issue) in cases {
            let id = parse_id(raw);
            assert_eq!(
                id.normalized.as_deref(),
                Some("421303198001010018"),
                "{raw:?}"
            );
            assert!(id.is_valid(), "{raw:?}");
            if *issue != IdIssue::Upgraded15 {
                assert!(id.issues.contains(issue), "{raw:?}: {:?}", id.issues);
            }
        }
        for raw in [
            "11010519491231002x",
            "11010519491231002×",
            "11010519491231002Ｘ",
        ] {
            let id = parse_id(raw);
            assert_eq!(
                id.normalized.as_deref(),
                Some("11010519491231002X"),
                "{raw:?}"
            );
            assert!(id.is_valid());
        }
    }

    #[test]
    fn unusable_inputs() {
        for (raw, issue) in [
            ("", IdIssue::Missing),
            ("NULL", IdIssue::Missing),
            ("无", IdIssue::Missing),
            ("  -  ", IdIssue::Missing),
            ("4.21303E+17", IdIssue::ScientificNotation),
            ("4.21303198001e+17", IdIssue::ScientificNotation),
            ("42130319800101001", IdIssue::WrongLength(17)),
            ("4213031980010100188", IdIssue::WrongLength(19)),
            ("42130319800101X018", IdIssue::MisplacedX),
            ("张三", IdIssue::InvalidCharacters),
        ] {
            let id = parse_id(raw);
            assert_eq!(id.level, IdLevel::Unusable, "{raw:?}");
            assert!(id.normalized.is_none(), "{raw:?}");
            assert!(id.issues.contains(&issue), "{raw:?}: {:?}", id.issues);
            assert_eq!(id.original, raw);
        }
    }

    #[test]
    fn scientific_notation_keeps_the_birth_date_of_its_surviving_digits() {
        let ctx = IdContext {
            as_of: NaiveDate::from_ymd_opt(2021, 9, 30),
            ..IdContext::default()
        };
        let id = parse_id_with("4.213032001102985E+17", &ctx);
        assert!(!id.is_valid() && id.normalized.is_none());
        assert!(id.issues.contains(&IdIssue::ScientificNotation));
        assert_eq!(id.known_prefix.as_deref(), Some("4213032001102985"));
        assert_eq!(id.birth_date, NaiveDate::from_ymd_opt(2001, 10, 29));
        assert_eq!(id.region.as_ref().map(|r| r.code.as_str()), Some("421303"));
        // Six digits: nothing past the region survives, so nothing is taken.
        let short = parse_id_with("4.21303E+17", &ctx);
        assert_eq!((short.known_prefix, short.birth_date), (None, None));
        // Not an 18-digit number, or a date that is no date.
        assert_eq!(
            parse_id_with("4.213032001102985E+16", &ctx).known_prefix,
            None
        );
        assert_eq!(
            parse_id_with("4.213032001132985E+17", &ctx).birth_date,
            None
        );
    }

    #[test]
    fn excel_truncation_is_detected_not_repaired() {
        let id = parse_id("421303198001010000");
        assert_eq!(id.level, IdLevel::FormatValid);
        assert!(id.issues.contains(&IdIssue::ProbablyExcelTruncated));
        assert_eq!(id.normalized.as_deref(), Some("421303198001010000"));
    }

    #[test]
    fn levels_stop_at_first_failure_but_all_issues_are_reported() {
        // Valid check character, impossible date 1980-02-30.
        let mut first17 = *b"42130319800230001";
        let id = format!(
            "{}{}",
            std::str::from_utf8(&first17).expect("ascii"),
            char::from(check_char(&first17).expect("digits"))
        );
        let parsed = parse_id(&id);
        assert_eq!(parsed.level, IdLevel::CheckDigitValid);
        assert!(parsed.issues.contains(&IdIssue::InvalidBirthDate));

        // Unknown region with a valid date: stops at DateValid.
        first17[..6].copy_from_slice(b"999999");
        let id = format!(
            "{}{}",
            std::str::from_utf8(&first17[..6]).expect("ascii"),
            "19800101001"
        );
        let id = format!(
            "{id}{}",
            char::from(check_char(id.as_bytes()).expect("digits"))
        );
        let parsed = parse_id(&id);
        assert_eq!(parsed.level, IdLevel::DateValid);
        assert!(parsed.issues.contains(&IdIssue::UnknownRegion));
    }

    #[test]
    fn future_birth_dates_need_a_reference_date() {
        let id = "421381201002280136";
        let ctx = IdContext {
            as_of: Some(ymd(2009, 1, 1)),
            ..IdContext::default()
        };
        let parsed = parse_id_with(id, &ctx);
        assert_eq!(parsed.level, IdLevel::CheckDigitValid);
        assert!(parsed.issues.contains(&IdIssue::BirthDateInFuture));
    }

    #[test]
    fn gender_parity_against_stated_gender() {
        let ctx = IdContext {
            stated_gender: Some(Gender::Female),
            ..IdContext::default()
        };
        let parsed = parse_id_with("421303198001010018", &ctx);
        assert_eq!(parsed.level, IdLevel::RegionKnown);
        assert!(parsed.issues.contains(&IdIssue::GenderMismatch {
            from_id: Gender::Male,
            stated: Gender::Female
        }));
    }

    /// The centenarian pitfall: a 15-digit number of someone born in 1899.
    #[test]
    fn centenarian_century_comes_from_the_stated_birth_date() {
        let ctx = IdContext {
            stated_birth_date: Some(ymd(1899, 12, 31)),
            ..IdContext::default()
        };
        let parsed = parse_id_with("429001991231002", &ctx);
        assert_eq!(
            parsed.normalized.as_deref().map(|s| &s[6..14]),
            Some("18991231")
        );
        assert!(parsed.issues.contains(&IdIssue::CenturyFromStatedBirthDate));
        assert!(parsed.is_valid());

        let plain = parse_id("429001991231002");
        assert_eq!(
            plain.normalized.as_deref().map(|s| &s[6..14]),
            Some("19991231")
        );
        let early = parse_id("429001030505002");
        assert!(early.issues.contains(&IdIssue::CenturyUncertain));
    }

    #[test]
    fn region_recognition() {
        assert_eq!(issuing_region("421303").status, RegionStatus::Current);
        assert_eq!(issuing_region("420983").status, RegionStatus::Historical);
        assert_eq!(issuing_region("110105").status, RegionStatus::Current);
        assert_eq!(issuing_region("429999").status, RegionStatus::ProvinceOnly);
        assert_eq!(issuing_region("999999").status, RegionStatus::Unknown);
    }

    #[test]
    fn masking() {
        assert_eq!(mask_id("421303198001010018"), "421303********0018");
        assert_eq!(mask_id("429001491001003"), "429001*****1003");
        assert_eq!(mask_id("12345"), "***45");
        assert_eq!(mask_id(""), "");
    }

    #[test]
    fn gender_codes() {
        assert_eq!(parse_gender("1"), Some(Gender::Male));
        assert_eq!(parse_gender(" 女 "), Some(Gender::Female));
        assert_eq!(parse_gender("Ｆ"), Some(Gender::Female));
        assert_eq!(parse_gender("9"), None);
        assert_eq!(parse_gender(""), None);
    }

    fn valid_id() -> impl Strategy<Value = String> {
        (
            prop::sample::select(vec!["421303", "421321", "421381", "429001", "110105"]),
            1900i32..2020,
            1u32..=12,
            1u32..=28,
            0u32..1000,
        )
            .prop_map(|(r, y, m, d, s)| {
                let first = format!("{r}{y:04}{m:02}{d:02}{s:03}");
                let c = check_char(first.as_bytes()).expect("17 digits");
                format!("{first}{}", char::from(c))
            })
    }

    proptest! {
        #[test]
        fn never_panics_and_keeps_the_original(s in "\\PC{0,40}") {
            let id = parse_id(&s);
            prop_assert_eq!(&id.original, &s);
            if id.level >= IdLevel::FormatValid {
                prop_assert_eq!(id.normalized.as_ref().map(|n| n.len()), Some(18));
            } else {
                prop_assert!(id.normalized.is_none());
            }
        }

        #[test]
        fn normalisation_is_idempotent(s in "[0-9xX×\\- ]{10,22}") {
            let once = parse_id(&s);
            if let Some(n) = &once.normalized {
                let twice = parse_id(n);
                prop_assert_eq!(twice.normalized.as_ref(), Some(n));
                prop_assert!(twice.level >= once.level);
            }
        }

        #[test]
        fn valid_numbers_survive_damage(id in valid_id(), sep in prop::sample::select(vec![" ", "-", ""])) {
            let damaged: String = id
                .chars()
                .enumerate()
                .map(|(i, c)| if i == 6 || i == 14 { format!("{sep}{c}") } else { c.to_string() })
                .collect::<String>()
                .to_lowercase();
            let parsed = parse_id(&damaged);
            prop_assert_eq!(parsed.normalized.as_deref(), Some(id.as_str()));
            prop_assert!(parsed.is_valid());
        }

        #[test]
        fn any_single_digit_substitution_breaks_the_check(id in valid_id(), pos in 0usize..17, delta in 1u8..10) {
            let mut b = id.into_bytes();
            b[pos] = b'0' + (b[pos] - b'0' + delta) % 10;
            let s = String::from_utf8(b).expect("ascii");
            prop_assert!(!has_valid_check(&s));
        }

        #[test]
        fn plain_fast_path_agrees_with_the_parser(s in "[0-9]{17}[0-9Xx]|[0-9]{16,19}|[0-9]{17}[A-Za-z]|[0-9/:]{17}[0-9X]", valid in valid_id(), lower in any::<bool>()) {
            let v = if lower { valid.to_lowercase() } else { valid };
            for raw in [s, v] {
                let full = parse_id_with(&raw, &IdContext::default());
                match parse_plain_id18(&raw) {
                    None => {
                        let b = raw.as_bytes();
                        let plain = b.len() == 18
                            && b[..17].iter().all(u8::is_ascii_digit)
                            && matches!(b[17], b'0'..=b'9' | b'X' | b'x');
                        prop_assert!(!plain, "a plain number the fast path refused");
                    }
                    Some(p) => {
                        prop_assert_eq!(full.normalized.as_deref().map(str::as_bytes), Some(&p.id18[..]));
                        prop_assert_eq!(full.level >= IdLevel::CheckDigitValid, p.check_ok);
                        prop_assert_eq!(full.birth_date, p.birth_date());
                        prop_assert_eq!(full.gender, Some(p.gender));
                        prop_assert!(!full.issues.contains(&IdIssue::Upgraded15));
                    }
                }
            }
        }

        #[test]
        fn fifteen_to_eighteen_round_trip(id in valid_id().prop_filter("born in the 1900s", |id| &id[6..8] == "19")) {
            let id15 = format!("{}{}", &id[..6], &id[8..17]);
            let up = upgrade_15(&id15, 19);
            prop_assert_eq!(up.as_deref(), Some(id.as_str()));
        }
    }
}
