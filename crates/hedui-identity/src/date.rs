//! Dates as departments write them, parsed with a precision (DOMAIN.md §4.5).
//!
//! [`parse_date`] understands ISO dates (`2021-03-05`, `2021-3-5`, with a time part
//! `2021-03-05 12:34:56` or `2021-03-05T12:34:56`), slashes (`2021/3/5`), dots (`2021.03.05`),
//! compact digits (`20210305`), Chinese (`2021年3月5日`, `二〇二一年三月五日`), Oracle's default
//! `DD-MON-RR` (`05-MAR-21`, and its Chinese-locale form `05-3月 -21`), month precision
//! (`2021-03`, `2021.03`, `2021年3月`, and `202103` as in 费款所属期), year precision (`2021`,
//! `2021年`) and, only when the caller allows it, Excel serial numbers (`44260`).
//!
//! A value of month or year precision is stored as the first day of its month or year, with the
//! precision saying so. Null placeholders and the "no date" dates of legacy systems
//! (`1900-01-01`, `0000-00-00`, `1899-12-30`) give no date and an issue; `9999-12-31` gives no
//! date and [`DateIssue::OpenEnded`].
//!
//! The crate reads no clock: anything relative to "now" (two-digit years, dates in the future)
//! uses [`DateContext::reference`].
//!
//! ```
//! use chrono::NaiveDate;
//! use hedui_identity::date::{parse_date, DateContext, DateFormat, DatePrecision};
//! let ctx = DateContext::default();
//! let d = parse_date("二〇二一年三月五日", &ctx);
//! assert_eq!(d.date, NaiveDate::from_ymd_opt(2021, 3, 5));
//! assert_eq!(d.precision, Some(DatePrecision::Day));
//! assert_eq!(d.format, Some(DateFormat::ChineseNumeral));
//!
//! let m = parse_date("202103", &ctx);
//! assert_eq!(m.precision, Some(DatePrecision::Month));
//! assert_eq!(m.iso().as_deref(), Some("2021-03"));
//! ```

use chrono::{Datelike, Duration, NaiveDate, NaiveTime};
use serde::{Deserialize, Serialize};

use crate::text;

/// What the parser may assume about the record. The crate reads no clock, so "today" is an
/// argument.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DateContext {
    /// The reference date: usually the extract (batch) date. Used to resolve two-digit years
    /// and to flag dates after it. Without it, two-digit years use a fixed pivot (see
    /// [`parse_date`]) and nothing is flagged as in the future.
    pub reference: Option<NaiveDate>,
    /// Whether a bare number of up to 7 digits may be an Excel serial date (`44260` →
    /// 2021-03-05). Off by default because a bare number is ambiguous; switch it on per source
    /// column known to come from a spreadsheet.
    pub allow_excel_serial: bool,
}

/// How much of the date is known. Ordered from coarse to fine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum DatePrecision {
    /// Only the year (`2021`, `2021年`, `1980-00-00`). The date is January 1.
    Year,
    /// Year and month (`2021-03`, `202103`). The date is the first of the month.
    Month,
    /// A full date.
    Day,
}

/// The written form that was recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DateFormat {
    /// Dashes: `2021-03-05`, `2021-3-5`, `2021-03` (optionally with a time part).
    Iso,
    /// Slashes: `2021/3/5`, `2021/03`.
    Slash,
    /// Dots: `2021.03.05`, `2021.03`.
    Dot,
    /// Digits only: `20210305`, `202103` (YYYYMM), `20210305123456`.
    Compact,
    /// Chinese with Arabic digits: `2021年3月5日`, `2021年3月`, `2021年`.
    Chinese,
    /// Chinese numerals: `二〇二一年三月五日`.
    ChineseNumeral,
    /// Oracle's default `DD-MON-RR`: `05-MAR-21`, `05-3月 -21`.
    Oracle,
    /// A bare four-digit year: `2021`.
    YearOnly,
    /// An Excel serial number (1900 date system): `44260`.
    ExcelSerial,
}

/// What parsing found. Several can apply to one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DateIssue {
    /// Empty, or a null placeholder (`NULL`, `无`, `-`, `0` …).
    Missing,
    /// A legacy "no date" value: `1900-01-01`, `0000-00-00`, `1899-12-30`, `1899-12-31`,
    /// `0001-01-01`, or Excel serial 0. No date is given.
    Placeholder,
    /// `9999-12-31` (or any year 9999): "no end date". No date is given.
    OpenEnded,
    /// The parts do not make a calendar date (`2021-02-30`, month 13, Excel serial 60, the
    /// Lotus 1900-02-29). No date is given.
    InvalidDate,
    /// No known form.
    Unrecognised,
    /// A bare number that could be an Excel serial date, but the context does not allow serials.
    AmbiguousNumber,
    /// Full-width digits or punctuation were normalised (NFKC).
    FullWidth,
    /// A two-digit year: the century was inferred (see [`parse_date`]).
    TwoDigitYear,
    /// Month or day written as `00` (`1980-00-00`, `198003-00`): only the year (or year and
    /// month) is known, and the precision says so.
    ZeroMonthOrDay,
    /// Text after the date that is not a time was ignored.
    TrailingText,
    /// Before 1850: no living person's date.
    ImplausiblyEarly,
    /// After the context's reference date.
    AfterReference,
}

/// A parsed date value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DateValue {
    /// The text exactly as delivered.
    pub original: String,
    /// The date (first of the month or year for coarser precisions), if one was found.
    pub date: Option<NaiveDate>,
    /// The time of day, if the text carried one.
    pub time: Option<NaiveTime>,
    /// How much of the date is known; `None` when there is no date.
    pub precision: Option<DatePrecision>,
    /// The recognised form, even when the value turned out invalid or a placeholder.
    pub format: Option<DateFormat>,
    /// Everything found on the way.
    pub issues: Vec<DateIssue>,
}

impl DateValue {
    /// The date written at its precision: `2021-03-05`, `2021-03` or `2021`.
    pub fn iso(&self) -> Option<String> {
        let d = self.date?;
        Some(match self.precision? {
            DatePrecision::Day => format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day()),
            DatePrecision::Month => format!("{:04}-{:02}", d.year(), d.month()),
            DatePrecision::Year => format!("{:04}", d.year()),
        })
    }

    /// True if a date was found.
    pub fn is_known(&self) -> bool {
        self.date.is_some()
    }
}

/// The components found in the text, before validation.
struct Parts {
    year: u32,
    two_digit_year: bool,
    month: Option<u32>,
    day: Option<u32>,
    time: Option<NaiveTime>,
    format: DateFormat,
    trailing: bool,
}

impl Parts {
    fn new(format: DateFormat, year: u32, month: Option<u32>, day: Option<u32>) -> Self {
        Parts {
            year,
            two_digit_year: false,
            month,
            day,
            time: None,
            format,
            trailing: false,
        }
    }

    /// Attaches whatever followed the date: a time, or ignored text.
    fn with_rest(mut self, rest: &str) -> Self {
        let rest = rest.trim_matches(|c: char| text::is_blank(c) || c == 'T' || c == 't');
        if !rest.is_empty() {
            match parse_time(rest) {
                Some(t) => self.time = Some(t),
                None => self.trailing = true,
            }
        }
        self
    }
}

/// Parses a date.
///
/// Two-digit years (Oracle `05-MAR-21`, `21年3月5日`) are resolved with a pivot: with
/// [`DateContext::reference`], to the latest year not after the reference year (reference
/// 2021: `21` → 2021, `22` → 1922), which suits birth and event dates; without one, `00`–`49`
/// → 20xx and `50`–`99` → 19xx. Either way [`DateIssue::TwoDigitYear`] is raised.
///
/// Excel serials use the 1900 date system with the Lotus leap-year bug: serial 1 is
/// 1900-01-01, serial 60 is the non-existent 1900-02-29 (invalid), serial 61 is 1900-03-01;
/// a fraction is the time of day.
pub fn parse_date(raw: &str, ctx: &DateContext) -> DateValue {
    let mut out = DateValue {
        original: raw.to_owned(),
        date: None,
        time: None,
        precision: None,
        format: None,
        issues: Vec::new(),
    };
    let trimmed = text::trim_blanks(raw);
    if text::is_null_placeholder(trimmed) {
        out.issues.push(DateIssue::Missing);
        return out;
    }
    if trimmed
        .chars()
        .any(|c| ('\u{FF01}'..='\u{FF5E}').contains(&c))
    {
        out.issues.push(DateIssue::FullWidth);
    }
    let normalized = text::nfkc(trimmed);
    let s = text::trim_blanks(&normalized);
    // Spreadsheet text quoting: a leading apostrophe.
    let s = s.strip_prefix(['\'', '`']).unwrap_or(s);

    let parts = if let Some(p) = parse_oracle(s) {
        Some(p)
    } else if s.contains(['年', '月', '日']) {
        parse_chinese(s)
    } else {
        parse_numeric(s, ctx, &mut out)
    };
    let Some(parts) = parts else {
        if !out.issues.contains(&DateIssue::AmbiguousNumber) {
            out.issues.push(DateIssue::Unrecognised);
        }
        return out;
    };
    finish(parts, ctx, &mut out);
    out
}

/// [`parse_date`]'s date of text written exactly `YYYY-MM-DD`, the form nearly every extract
/// uses, read without [`parse_date`]'s allocations and format detection (millions of records
/// are read per job): `Some(date)`, `Some(None)` where that text holds no date (an impossible
/// day, a placeholder such as `1900-01-01`), or `None` for text in any other form, or with a
/// zero month or day or a year 0000 or 9999, which [`parse_date`] must read. The context makes
/// no difference to the date of this form.
pub fn parse_iso_day(raw: &str) -> Option<Option<NaiveDate>> {
    let b: &[u8; 10] = raw.as_bytes().try_into().ok()?;
    if b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let mut not_digit = false;
    let mut number = |r: std::ops::Range<usize>| {
        b[r].iter().fold(0u32, |n, &c| {
            let d = c.wrapping_sub(b'0');
            not_digit |= d > 9;
            n * 10 + u32::from(d)
        })
    };
    let (year, month, day) = (number(0..4), number(5..7), number(8..10));
    if not_digit || year == 0 || year == 9999 || month == 0 || day == 0 {
        return None;
    }
    Some(
        NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)
            .filter(|&d| !is_placeholder_date(d)),
    )
}

/// Validates the parts and fills in the result.
fn finish(parts: Parts, ctx: &DateContext, out: &mut DateValue) {
    out.format = Some(parts.format);
    if parts.trailing {
        out.issues.push(DateIssue::TrailingText);
    }
    let mut year = parts.year;
    if parts.two_digit_year {
        out.issues.push(DateIssue::TwoDigitYear);
        year = resolve_two_digit_year(year, ctx);
    }
    if year == 0 {
        out.issues.push(DateIssue::Placeholder);
        return;
    }
    if year == 9999 {
        out.issues.push(DateIssue::OpenEnded);
        return;
    }
    let (month, day, precision) = match (parts.month, parts.day) {
        (None, _) => (1, 1, DatePrecision::Year),
        (Some(0), None | Some(0)) => {
            out.issues.push(DateIssue::ZeroMonthOrDay);
            (1, 1, DatePrecision::Year)
        }
        (Some(0), Some(_)) => {
            out.issues.push(DateIssue::InvalidDate);
            return;
        }
        (Some(m), None) => (m, 1, DatePrecision::Month),
        (Some(m), Some(0)) => {
            out.issues.push(DateIssue::ZeroMonthOrDay);
            (m, 1, DatePrecision::Month)
        }
        (Some(m), Some(d)) => (m, d, DatePrecision::Day),
    };
    let Some(date) = i32::try_from(year)
        .ok()
        .and_then(|y| NaiveDate::from_ymd_opt(y, month, day))
    else {
        out.issues.push(DateIssue::InvalidDate);
        return;
    };
    if precision == DatePrecision::Day && is_placeholder_date(date) {
        out.issues.push(DateIssue::Placeholder);
        return;
    }
    if date.year() < 1850 {
        out.issues.push(DateIssue::ImplausiblyEarly);
    }
    if ctx.reference.is_some_and(|r| date > r) {
        out.issues.push(DateIssue::AfterReference);
    }
    out.date = Some(date);
    out.time = parts.time;
    out.precision = Some(precision);
}

fn is_placeholder_date(d: NaiveDate) -> bool {
    matches!(
        (d.year(), d.month(), d.day()),
        (1900, 1, 1) | (1899, 12, 30) | (1899, 12, 31) | (1, 1, 1)
    )
}

fn resolve_two_digit_year(yy: u32, ctx: &DateContext) -> u32 {
    match ctx.reference {
        Some(r) => {
            let ry = u32::try_from(r.year()).unwrap_or(2000);
            let y = ry - ry % 100 + yy;
            if y > ry { y.saturating_sub(100) } else { y }
        }
        None if yy < 50 => 2000 + yy,
        None => 1900 + yy,
    }
}

/// Parses up to `max` ASCII digits as a number; `None` for empty, too long or non-digits.
fn digits(s: &str, min: usize, max: usize) -> Option<u32> {
    if s.len() < min || s.len() > max || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Dashes, slashes, dots, compact digits, a bare year, Excel serials.
fn parse_numeric(s: &str, ctx: &DateContext, out: &mut DateValue) -> Option<Parts> {
    // The date ends at a space or at a `T` between digits.
    let bytes = s.as_bytes();
    let split = s
        .char_indices()
        .find(|&(i, c)| {
            text::is_blank(c)
                || ((c == 'T' || c == 't')
                    && i > 0
                    && bytes[i - 1].is_ascii_digit()
                    && bytes.get(i + 1).is_some_and(u8::is_ascii_digit))
        })
        .map_or(s.len(), |(i, _)| i);
    let (date, rest) = s.split_at(split);

    if date.bytes().all(|b| b.is_ascii_digit()) {
        return parse_compact(date, ctx, out).map(|p| p.with_rest(rest));
    }
    if ctx.allow_excel_serial
        && rest.is_empty()
        && let Some(p) = parse_excel_fraction(date)
    {
        return Some(p);
    }
    let sep = date.chars().find(|c| !c.is_ascii_digit())?;
    let format = match sep {
        '-' => DateFormat::Iso,
        '/' => DateFormat::Slash,
        '.' => DateFormat::Dot,
        _ => return None,
    };
    let mut it = date.split(sep);
    let y = digits(it.next()?, 4, 4)?;
    let m = digits(it.next()?, 1, 2)?;
    let d = match it.next() {
        Some(d) => Some(digits(d, 1, 2)?),
        None => None,
    };
    if it.next().is_some() {
        return None;
    }
    Some(Parts::new(format, y, Some(m), d).with_rest(rest))
}

/// Digits only: `20210305`, `202103`, `2021`, `20210305123456`, or an Excel serial.
fn parse_compact(s: &str, ctx: &DateContext, out: &mut DateValue) -> Option<Parts> {
    let num = |r: std::ops::Range<usize>| s.get(r).and_then(|p| p.parse::<u32>().ok());
    match s.len() {
        8 => Some(Parts::new(
            DateFormat::Compact,
            num(0..4)?,
            Some(num(4..6)?),
            Some(num(6..8)?),
        )),
        14 => {
            let time = NaiveTime::from_hms_opt(num(8..10)?, num(10..12)?, num(12..14)?);
            let mut p = Parts::new(
                DateFormat::Compact,
                num(0..4)?,
                Some(num(4..6)?),
                Some(num(6..8)?),
            );
            p.time = time;
            p.trailing = time.is_none();
            Some(p)
        }
        6 => Some(Parts::new(
            DateFormat::Compact,
            num(0..4)?,
            Some(num(4..6)?),
            None,
        )),
        4 => Some(Parts::new(DateFormat::YearOnly, num(0..4)?, None, None)),
        1..=7 if ctx.allow_excel_serial => excel_serial(num(0..s.len())?, 0.0),
        1..=7 => {
            out.issues.push(DateIssue::AmbiguousNumber);
            None
        }
        _ => None,
    }
}

/// `44260.5`: an Excel serial with a time fraction.
fn parse_excel_fraction(s: &str) -> Option<Parts> {
    let (int, frac) = s.split_once('.')?;
    // `2021.03` is a year and month, not a serial.
    if int.len() == 4 || frac.is_empty() || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let serial = digits(int, 1, 7)?;
    let fraction: f64 = format!("0.{frac}").parse().ok()?;
    excel_serial(serial, fraction)
}

/// Converts an Excel serial (1900 date system) to parts. Serial 0 becomes year 0, which
/// [`finish`] reports as a placeholder; serial 60 becomes the invalid 1900-02-29.
fn excel_serial(serial: u32, fraction: f64) -> Option<Parts> {
    let mut p = Parts::new(DateFormat::ExcelSerial, 0, None, None);
    if serial == 0 {
        return Some(p);
    }
    if serial == 60 {
        // Lotus 1-2-3's 1900-02-29, kept by Excel for compatibility; it never existed.
        p.year = 1900;
        p.month = Some(2);
        p.day = Some(29);
        return Some(p);
    }
    let epoch = if serial < 60 {
        NaiveDate::from_ymd_opt(1899, 12, 31)?
    } else {
        NaiveDate::from_ymd_opt(1899, 12, 30)?
    };
    let date = epoch.checked_add_signed(Duration::days(i64::from(serial)))?;
    p.year = u32::try_from(date.year()).ok()?;
    p.month = Some(date.month());
    p.day = Some(date.day());
    if fraction > 0.0 {
        // Seconds of the day, rounded; 86400 itself would be the next day, so cap it.
        let secs = ((fraction * 86_400.0).round() as u32).min(86_399);
        p.time = NaiveTime::from_num_seconds_from_midnight_opt(secs, 0);
    }
    Some(p)
}

/// `2021年3月5日`, `2021年3月`, `2021年`, `二〇二一年三月五日`, optionally followed by a time.
fn parse_chinese(s: &str) -> Option<Parts> {
    let (year_part, after_year) = s.split_once('年')?;
    let year_part = text::trim_blanks(year_part);
    let mut numeral = false;
    let mut component = |p: &str| -> Option<u32> {
        let p = text::trim_blanks(p);
        if !p.bytes().all(|b| b.is_ascii_digit()) {
            numeral = true;
        }
        // 元月 is January.
        if p == "元" {
            return Some(1);
        }
        text::parse_chinese_number(p).and_then(|n| u32::try_from(n).ok())
    };
    let year = component(year_part)?;
    let year_len = year_part.chars().count();
    if !(year_len == 2 || year_len == 4) {
        return None;
    }
    let (month, day, rest) = match after_year.split_once('月') {
        None => (None, None, after_year),
        Some((m, after_month)) => {
            let month = component(m)?;
            match after_month.split_once(['日', '号']) {
                Some((d, rest)) => (Some(month), Some(component(d)?), rest),
                None => (Some(month), None, after_month),
            }
        }
    };
    let format = if numeral {
        DateFormat::ChineseNumeral
    } else {
        DateFormat::Chinese
    };
    let mut p = Parts::new(format, year, month, day).with_rest(rest);
    p.two_digit_year = year_len == 2;
    Some(p)
}

/// Oracle's `DD-MON-RR` / `DD-MON-YYYY`, in English (`05-MAR-21`) or the Chinese locale
/// (`05-3月 -21`), optionally followed by a time.
fn parse_oracle(s: &str) -> Option<Parts> {
    let mut it = s.splitn(3, '-');
    let day = digits(text::trim_blanks(it.next()?), 1, 2)?;
    let month_text = text::trim_blanks(it.next()?);
    let rest = text::trim_blanks(it.next()?);
    let month = oracle_month(month_text)?;
    let year_len = rest.bytes().take_while(u8::is_ascii_digit).count();
    if year_len != 2 && year_len != 4 {
        return None;
    }
    let (year, rest) = rest.split_at(year_len);
    let year = digits(year, 2, 4)?;
    let mut p = Parts::new(DateFormat::Oracle, year, Some(month), Some(day)).with_rest(rest);
    p.two_digit_year = year_len == 2;
    Some(p)
}

fn oracle_month(s: &str) -> Option<u32> {
    if let Some(m) = s.strip_suffix('月') {
        return text::parse_chinese_number(text::trim_blanks(m))
            .and_then(|n| u32::try_from(n).ok());
    }
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    if s.len() < 3 || !s.is_ascii() {
        return None;
    }
    let prefix = s.get(..3)?;
    MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(prefix))
        .and_then(|i| u32::try_from(i + 1).ok())
}

/// A time of day: `12:34`, `12:34:56`, `12:34:56.789`, Oracle's `12.34.56.000000 PM`,
/// `12时34分56秒`; a trailing `Z` or UTC offset is ignored.
fn parse_time(s: &str) -> Option<NaiveTime> {
    let mut s = text::trim_blanks(s);
    let mut pm = None;
    for (suffix, is_pm) in [("AM", false), ("PM", true), ("am", false), ("pm", true)] {
        if let Some(r) = s.strip_suffix(suffix) {
            s = text::trim_blanks(r);
            pm = Some(is_pm);
        }
    }
    if let Some(r) = s.strip_prefix("上午") {
        s = r;
        pm = Some(false);
    } else if let Some(r) = s.strip_prefix("下午") {
        s = r;
        pm = Some(true);
    }
    let s = s.strip_suffix(['Z', 'z']).unwrap_or(s);
    // A UTC offset after the seconds: `+08:00`, `+0800`, `-05:00`.
    let s = match s.rfind(['+', '-']) {
        Some(i) if i >= 5 => &s[..i],
        _ => s,
    };
    let mut fields = s
        .split([':', '.', '时', '分', '秒'])
        .filter(|f| !f.is_empty());
    let mut h = digits(fields.next()?, 1, 2)?;
    let m = digits(fields.next()?, 1, 2)?;
    let sec = match fields.next() {
        Some(f) => digits(f, 1, 2)?,
        None => 0,
    };
    // Fractions of a second are accepted and dropped.
    if let Some(f) = fields.next()
        && digits(f, 1, 9).is_none()
    {
        return None;
    }
    if fields.next().is_some() {
        return None;
    }
    match pm {
        Some(true) if h < 12 => h += 12,
        Some(false) if h == 12 => h = 0,
        _ => {}
    }
    NaiveTime::from_hms_opt(h, m, sec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("test date")
    }

    fn ctx() -> DateContext {
        DateContext::default()
    }

    fn excel_ctx() -> DateContext {
        DateContext {
            allow_excel_serial: true,
            ..DateContext::default()
        }
    }

    /// Every form of DOMAIN.md §4.5 and the brief: raw → (date, precision, format).
    #[test]
    fn forms_table() {
        use DateFormat::*;
        use DatePrecision::*;
        let d = ymd(2021, 3, 5);
        let m = ymd(2021, 3, 1);
        let y = ymd(2021, 1, 1);
        let cases: &[(&str, NaiveDate, DatePrecision, DateFormat)] = &[
            ("2021-03-05", d, Day, Iso),
            ("2021-3-5", d, Day, Iso),
            ("2021-03-05 12:34:56", d, Day, Iso),
            ("2021-03-05T12:34:56", d, Day, Iso),
            ("2021-03-05T12:34:56Z", d, Day, Iso),
            ("2021-03-05T12:34:56+08:00", d, Day, Iso),
            ("2021-03-05 00:00:00.0", d, Day, Iso),
            ("2021/3/5", d, Day, Slash),
            ("2021/03/05 12:34", d, Day, Slash),
            ("2021.03.05", d, Day, Dot),
            ("20210305", d, Day, Compact),
            ("20210305123456", d, Day, Compact),
            ("2021年3月5日", d, Day, Chinese),
            ("2021年03月05日", d, Day, Chinese),
            ("2021年3月5号", d, Day, Chinese),
            ("2021年3月5日 12:34", d, Day, Chinese),
            ("2021年3月", m, Month, Chinese),
            ("2021年", y, Year, Chinese),
            ("二〇二一年三月五日", d, Day, ChineseNumeral),
            ("二零二一年三月五日", d, Day, ChineseNumeral),
            ("二〇二一年元月五日", ymd(2021, 1, 5), Day, ChineseNumeral),
            (
                "二〇二一年十二月三十一日",
                ymd(2021, 12, 31),
                Day,
                ChineseNumeral,
            ),
            ("05-MAR-21", d, Day, Oracle),
            ("5-Mar-2021", d, Day, Oracle),
            ("05-mar-21 12.34.56.000000 PM", d, Day, Oracle),
            ("05-3月 -21", d, Day, Oracle),
            ("2021.03", m, Month, Dot),
            ("2021-03", m, Month, Iso),
            ("2021/03", m, Month, Slash),
            ("202103", m, Month, Compact),
            ("2021", y, Year, YearOnly),
            ("２０２１－０３－０５", d, Day, Iso),
            ("２０２１年３月５日", d, Day, Chinese),
            (" 2021-03-05\u{3000}", d, Day, Iso),
            ("'2021-03-05", d, Day, Iso),
        ];
        for (raw, date, precision, format) in cases {
            let v = parse_date(raw, &ctx());
            assert_eq!(v.date, Some(*date), "{raw:?}: {:?}", v.issues);
            assert_eq!(v.precision, Some(*precision), "{raw:?}");
            assert_eq!(v.format, Some(*format), "{raw:?}");
            assert_eq!(v.original, *raw);
            assert!(
                !v.issues.contains(&DateIssue::TrailingText),
                "{raw:?}: {:?}",
                v.issues
            );
        }
    }

    #[test]
    fn time_parts_are_kept() {
        let t = |h, m, s| NaiveTime::from_hms_opt(h, m, s);
        for (raw, time) in [
            ("2021-03-05 12:34:56", t(12, 34, 56)),
            ("2021-03-05T08:00", t(8, 0, 0)),
            ("05-MAR-21 01.02.03.000000 PM", t(13, 2, 3)),
            ("20210305123456", t(12, 34, 56)),
            ("2021年3月5日 12时30分", t(12, 30, 0)),
            ("2021-03-05", None),
        ] {
            assert_eq!(parse_date(raw, &ctx()).time, time, "{raw:?}");
        }
    }

    #[test]
    fn excel_serials_only_when_allowed() {
        let v = parse_date("44260", &excel_ctx());
        assert_eq!(v.date, Some(ymd(2021, 3, 5)));
        assert_eq!(v.format, Some(DateFormat::ExcelSerial));
        let v = parse_date("44260.5", &excel_ctx());
        assert_eq!(v.date, Some(ymd(2021, 3, 5)));
        assert_eq!(v.time, NaiveTime::from_hms_opt(12, 0, 0));

        let v = parse_date("44260", &ctx());
        assert_eq!(v.date, None);
        assert!(v.issues.contains(&DateIssue::AmbiguousNumber));

        // The 1900 system and the Lotus bug.
        for (serial, date) in [
            ("1", Some(ymd(1900, 1, 1))),
            ("59", Some(ymd(1900, 2, 28))),
            ("61", Some(ymd(1900, 3, 1))),
            ("36526", Some(ymd(2000, 1, 1))),
        ] {
            let v = parse_date(serial, &excel_ctx());
            // 1900-01-01 is also a placeholder date.
            if serial == "1" {
                assert!(v.issues.contains(&DateIssue::Placeholder));
            } else {
                assert_eq!(v.date, date, "{serial}");
            }
        }
        let v = parse_date("60", &excel_ctx());
        assert_eq!(v.date, None);
        assert!(v.issues.contains(&DateIssue::InvalidDate));
        // A year stays a year even when serials are allowed.
        assert_eq!(
            parse_date("2021", &excel_ctx()).format,
            Some(DateFormat::YearOnly)
        );
    }

    #[test]
    fn placeholders_and_nulls() {
        for (raw, issue) in [
            ("", DateIssue::Missing),
            ("NULL", DateIssue::Missing),
            ("无", DateIssue::Missing),
            ("-", DateIssue::Missing),
            ("/", DateIssue::Missing),
            ("0", DateIssue::Missing),
            ("暂无", DateIssue::Missing),
            ("1900-01-01", DateIssue::Placeholder),
            ("1900-01-01 00:00:00", DateIssue::Placeholder),
            ("0000-00-00", DateIssue::Placeholder),
            ("00000000", DateIssue::Placeholder),
            ("1899-12-30", DateIssue::Placeholder),
            ("9999-12-31", DateIssue::OpenEnded),
            ("99991231", DateIssue::OpenEnded),
            ("2021-02-30", DateIssue::InvalidDate),
            ("2021-13-01", DateIssue::InvalidDate),
            ("20210230", DateIssue::InvalidDate),
            ("二〇二一年二月三十日", DateIssue::InvalidDate),
            ("31-FEB-21", DateIssue::InvalidDate),
            ("hello", DateIssue::Unrecognised),
            ("3/5/2021", DateIssue::Unrecognised),
            ("2021-03-05-07", DateIssue::Unrecognised),
            ("202", DateIssue::AmbiguousNumber),
        ] {
            let v = parse_date(raw, &ctx());
            assert_eq!(v.date, None, "{raw:?}");
            assert_eq!(v.precision, None, "{raw:?}");
            assert!(v.issues.contains(&issue), "{raw:?}: {:?}", v.issues);
            assert_eq!(v.original, raw);
        }
    }

    #[test]
    fn zero_month_or_day_lowers_precision() {
        let v = parse_date("1980-00-00", &ctx());
        assert_eq!(v.date, Some(ymd(1980, 1, 1)));
        assert_eq!(v.precision, Some(DatePrecision::Year));
        assert!(v.issues.contains(&DateIssue::ZeroMonthOrDay));
        let v = parse_date("19800300", &ctx());
        assert_eq!(v.precision, Some(DatePrecision::Month));
        assert_eq!(v.iso().as_deref(), Some("1980-03"));
    }

    #[test]
    fn two_digit_years_use_the_reference() {
        let with_ref = DateContext {
            reference: Some(ymd(2021, 6, 30)),
            allow_excel_serial: false,
        };
        let v = parse_date("05-MAR-21", &with_ref);
        assert_eq!(v.date, Some(ymd(2021, 3, 5)));
        assert!(v.issues.contains(&DateIssue::TwoDigitYear));
        assert_eq!(
            parse_date("05-MAR-22", &with_ref).date,
            Some(ymd(1922, 3, 5))
        );
        assert_eq!(
            parse_date("05-MAR-30", &with_ref).date,
            Some(ymd(1930, 3, 5))
        );
        // Without a reference: 00–49 → 20xx, 50–99 → 19xx.
        assert_eq!(parse_date("05-MAR-30", &ctx()).date, Some(ymd(2030, 3, 5)));
        assert_eq!(parse_date("05-MAR-56", &ctx()).date, Some(ymd(1956, 3, 5)));
        assert_eq!(
            parse_date("21年3月5日", &with_ref).date,
            Some(ymd(2021, 3, 5))
        );
    }

    #[test]
    fn dates_after_the_reference_and_very_early_dates_are_flagged() {
        let with_ref = DateContext {
            reference: Some(ymd(2021, 6, 30)),
            allow_excel_serial: false,
        };
        let v = parse_date("2021-07-01", &with_ref);
        assert_eq!(v.date, Some(ymd(2021, 7, 1)));
        assert!(v.issues.contains(&DateIssue::AfterReference));
        assert!(parse_date("2021-06-30", &with_ref).issues.is_empty());
        assert!(
            parse_date("1801-01-02", &ctx())
                .issues
                .contains(&DateIssue::ImplausiblyEarly)
        );
    }

    #[test]
    fn trailing_text_is_reported() {
        let v = parse_date("2021-03-05 星期五", &ctx());
        assert_eq!(v.date, Some(ymd(2021, 3, 5)));
        assert!(v.issues.contains(&DateIssue::TrailingText));
    }

    /// Writes a date in one of the supported forms, as a department system would.
    fn write(d: NaiveDate, form: usize) -> String {
        let (y, m, day) = (d.year(), d.month(), d.day());
        match form {
            0 => format!("{y:04}-{m:02}-{day:02}"),
            1 => format!("{y}-{m}-{day}"),
            2 => format!("{y}/{m}/{day}"),
            3 => format!("{y:04}.{m:02}.{day:02}"),
            4 => format!("{y:04}{m:02}{day:02}"),
            5 => format!("{y}年{m}月{day}日"),
            6 => format!(
                "{}年{}月{}日",
                text::to_chinese_digits(u64::try_from(y).expect("positive year")),
                text::to_chinese_number(u64::from(m)),
                text::to_chinese_number(u64::from(day))
            ),
            7 => format!("{y:04}-{m:02}-{day:02} 12:34:56"),
            8 => format!("{y:04}-{m:02}-{day:02}T23:59:59"),
            9 => d.format("%d-%b-%Y").to_string().to_uppercase(),
            10 => {
                let serial = (d - ymd(1899, 12, 30)).num_days();
                serial.to_string()
            }
            11 => format!("{y:04}-{m:02}-{day:02}")
                .chars()
                .map(|c| {
                    char::from_u32(u32::from(c) + 0xFEE0)
                        .filter(|_| c.is_ascii_digit() || c == '-')
                        .unwrap_or(c)
                })
                .collect(),
            _ => d.format("%d-%b-%y").to_string().to_uppercase(),
        }
    }

    fn any_date() -> impl Strategy<Value = NaiveDate> {
        (1901i32..2100, 1u32..=12, 1u32..=31)
            .prop_filter_map("real date", |(y, m, d)| NaiveDate::from_ymd_opt(y, m, d))
    }

    proptest! {
        #[test]
        fn never_panics_and_keeps_the_original(s in "\\PC{0,40}", excel in any::<bool>()) {
            let ctx = DateContext { reference: Some(ymd(2021, 6, 30)), allow_excel_serial: excel };
            let v = parse_date(&s, &ctx);
            prop_assert_eq!(&v.original, &s);
            prop_assert_eq!(v.date.is_some(), v.precision.is_some());
        }

        #[test]
        fn never_panics_on_any_unicode(s in any::<String>()) {
            let v = parse_date(&s, &excel_ctx());
            prop_assert_eq!(&v.original, &s);
        }

        #[test]
        fn never_panics_on_date_like_text(s in "[0-9０-９年月日号〇零一二三四五六七八九十元:/.\\- T]{0,24}") {
            let v = parse_date(&s, &excel_ctx());
            prop_assert_eq!(&v.original, &s);
        }

        /// The `YYYY-MM-DD` fast path gives [`parse_date`]'s date wherever it answers, and
        /// answers for every such text but those with a zero month or day or year 0000 or 9999.
        #[test]
        fn iso_day_agrees_with_the_parser(
            s in "[0-9]{4}-[0-9]{2}-[0-9]{2}|(1899|1900|0000|9999|0001)-(0[0-2]|12)-(0[0-1]|3[01])|[0-9/:]{4}[-/][0-9/:]{2}-[0-9]{2}",
            reference in prop::option::of(Just(ymd(2021, 6, 30))),
        ) {
            let ctx = DateContext { reference, allow_excel_serial: true };
            match parse_iso_day(&s) {
                Some(date) => prop_assert_eq!(date, parse_date(&s, &ctx).date),
                None => {
                    let b = s.as_bytes();
                    let iso = b.len() == 10
                        && b[4] == b'-'
                        && b[7] == b'-'
                        && b.iter().enumerate().all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
                    let unread = ["0000", "9999"].contains(&&s[..4]) || &s[5..7] == "00" || &s[8..10] == "00";
                    prop_assert!(!iso || unread, "an ISO date left to the parser: {}", s);
                }
            }
        }

        #[test]
        fn every_form_round_trips(d in any_date(), form in 0usize..12) {
            let ctx = DateContext { reference: None, allow_excel_serial: true };
            // Serials below 10000 (before 1927-05-19) have four digits and read as a year.
            prop_assume!(form != 10 || d >= ymd(1927, 5, 19));
            let raw = write(d, form);
            let v = parse_date(&raw, &ctx);
            prop_assert_eq!(v.date, Some(d), "{} {:?}", raw, v.issues);
            prop_assert_eq!(v.precision, Some(DatePrecision::Day));
        }

        #[test]
        fn two_digit_oracle_round_trips_with_a_reference(d in any_date(), later in 0i64..36_000) {
            let reference = d + Duration::days(later);
            let ctx = DateContext { reference: Some(reference), allow_excel_serial: false };
            let raw = write(d, 12);
            prop_assert_eq!(parse_date(&raw, &ctx).date, Some(d), "{}", raw);
        }

        #[test]
        fn iso_output_is_idempotent(d in any_date(), precision in 0usize..3) {
            let raw = match precision {
                0 => format!("{}", d.year()),
                1 => format!("{}{:02}", d.year(), d.month()),
                _ => write(d, 4),
            };
            let once = parse_date(&raw, &ctx());
            let iso = once.iso().expect("a date");
            let twice = parse_date(&iso, &ctx());
            prop_assert_eq!(twice.date, once.date);
            prop_assert_eq!(twice.precision, once.precision);
            prop_assert_eq!(twice.iso(), Some(iso));
        }
    }
}
