//! Phone numbers: mobile and landline numbers as departments record them, in one normalised
//! form, with masking for display (DOMAIN.md §5.2).
//!
//! [`parse_phone`] strips country prefixes (`+86`, `0086`, `86`), separators and full-width
//! digits, recognises mobile numbers (11 digits, `1[3-9]…`) and landlines with area codes
//! (`010`, `02x`, `0xxx`: `0722-3212345`, `(0722)3212345`, `07223212345`, `0722 321 2345`),
//! gives local 7–8-digit numbers the caller's default area code (随州 is [`SUIZHOU_AREA_CODE`])
//! with [`PhoneIssue::AreaCodeAssumed`], keeps extensions (`转123`, `-123` after a complete
//! number), and when one field holds several numbers uses the first valid one and keeps the rest.
//!
//! Normalised forms: mobile `13812345678`, landline `0722-3212345`.
//!
//! ```
//! use hedui_identity::phone::{mask_phone, parse_phone, PhoneIssue, PhoneKind, SUIZHOU_AREA_CODE};
//! let p = parse_phone("+86 138-1234-5678", None);
//! assert_eq!(p.normalized.as_deref(), Some("13812345678"));
//! assert_eq!(p.kind, PhoneKind::Mobile);
//! assert_eq!(mask_phone("13812345678"), "138****5678");
//!
//! let local = parse_phone("3212345", Some(SUIZHOU_AREA_CODE));
//! assert_eq!(local.normalized.as_deref(), Some("0722-3212345"));
//! assert!(local.issues.contains(&PhoneIssue::AreaCodeAssumed));
//! ```

use serde::{Deserialize, Serialize};

use crate::text;

/// The area code of 随州.
pub const SUIZHOU_AREA_CODE: &str = "0722";

/// What kind of number it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PhoneKind {
    /// An 11-digit mobile number.
    Mobile,
    /// A fixed-line number, with or without an area code.
    Landline,
    /// Nothing recognisable as a personal number.
    Unknown,
}

/// What parsing found. Several can apply to one value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PhoneIssue {
    /// Empty, or a null placeholder.
    Missing,
    /// Full-width digits or punctuation were normalised (NFKC).
    FullWidth,
    /// A country prefix `+86`, `0086` or `86` was removed.
    CountryCode,
    /// A `0` before a mobile number (a long-distance dialling habit) was removed.
    LeadingZero,
    /// A local number without area code got the default area code.
    AreaCodeAssumed,
    /// A local number without area code, and no default was given.
    NoAreaCode,
    /// Words around the number (`电话：`, `(本人)`) were ignored.
    ExtraText,
    /// The field held several numbers: the first valid one is used, the others are kept in
    /// [`Phone::others`].
    MultipleNumbers,
    /// The number is masked (`138****5678`) and cannot be used for matching.
    Masked,
    /// 11 digits starting with `1` but not a mobile prefix (`1[3-9]`).
    InvalidMobilePrefix,
    /// A service number (`400…`, `95…`, `12345`), not a person's number.
    ServiceNumber,
    /// A digit count that fits no known form.
    WrongLength(usize),
    /// No digits at all.
    Unrecognised,
}

/// A parsed phone number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Phone {
    /// The text exactly as delivered.
    pub original: String,
    /// `13812345678` for mobiles, `0722-3212345` for landlines (just the local number if it
    /// had no area code and no default was given). `None` when nothing valid was found.
    pub normalized: Option<String>,
    /// What kind of number it is.
    pub kind: PhoneKind,
    /// The landline's area code (`0722`), given or assumed.
    pub area_code: Option<String>,
    /// An extension (`转123` → `123`).
    pub extension: Option<String>,
    /// The other numbers of a multi-number field, normalised where possible (the raw piece
    /// otherwise), in their order.
    pub others: Vec<String>,
    /// Everything found on the way.
    pub issues: Vec<PhoneIssue>,
}

impl Phone {
    /// True if a mobile or landline number was found.
    pub fn is_valid(&self) -> bool {
        self.normalized.is_some()
    }

    /// The normalised number masked for display (see [`mask_phone`]).
    pub fn masked(&self) -> Option<String> {
        self.normalized.as_deref().map(mask_phone)
    }
}

/// One number of a field.
struct Single {
    normalized: Option<String>,
    kind: PhoneKind,
    area_code: Option<String>,
    extension: Option<String>,
    issues: Vec<PhoneIssue>,
}

/// Parses a phone field. `default_area_code` (e.g. [`SUIZHOU_AREA_CODE`]) is given to local
/// numbers written without one; it is ignored unless it is 3–4 digits starting with `0`.
pub fn parse_phone(raw: &str, default_area_code: Option<&str>) -> Phone {
    let mut out = Phone {
        original: raw.to_owned(),
        normalized: None,
        kind: PhoneKind::Unknown,
        area_code: None,
        extension: None,
        others: Vec::new(),
        issues: Vec::new(),
    };
    let trimmed = text::trim_blanks(raw);
    if text::is_null_placeholder(trimmed) {
        out.issues.push(PhoneIssue::Missing);
        return out;
    }
    if trimmed
        .chars()
        .any(|c| ('\u{FF01}'..='\u{FF5E}').contains(&c))
    {
        out.issues.push(PhoneIssue::FullWidth);
    }
    let default_area_code = default_area_code.filter(|a| is_area_code(a));
    let normalized = text::nfkc(trimmed);
    let s = normalized.trim_start_matches(['\'', '`']);

    // Candidates in field order: each piece between hard separators, or, if a piece is not one
    // number, its blank-separated parts.
    let mut candidates: Vec<(&str, Single)> = Vec::new();
    for piece in s.split(is_hard_separator) {
        let piece = text::trim_blanks(piece);
        if !piece.bytes().any(|b| b.is_ascii_digit()) {
            continue;
        }
        let single = parse_single(piece, default_area_code);
        if single.normalized.is_none() && text::has_blanks(piece) {
            let grouped = group_by_blanks(piece, default_area_code);
            if grouped.iter().any(|(_, p)| p.normalized.is_some()) {
                candidates.extend(grouped);
                continue;
            }
        }
        candidates.push((piece, single));
    }
    if candidates.is_empty() {
        out.issues.push(PhoneIssue::Unrecognised);
        return out;
    }
    let chosen = candidates
        .iter()
        .position(|(_, c)| c.normalized.is_some())
        .unwrap_or(0);
    if candidates.len() > 1 {
        out.issues.push(PhoneIssue::MultipleNumbers);
    }
    for (i, (piece, single)) in candidates.into_iter().enumerate() {
        if i == chosen {
            out.normalized = single.normalized;
            out.kind = single.kind;
            out.area_code = single.area_code;
            out.extension = single.extension;
            for issue in single.issues {
                if !out.issues.contains(&issue) {
                    out.issues.push(issue);
                }
            }
        } else {
            out.others
                .push(single.normalized.unwrap_or_else(|| piece.to_owned()));
        }
    }
    out
}

/// Splits a piece that is not one number at blanks into numbers: the shortest run of
/// blank-separated parts that makes a valid number is one number (`138 1234 5678 139…` →
/// `138 1234 5678`, `139…`). Parts that never complete a number are kept as one piece.
fn group_by_blanks<'a>(piece: &'a str, default_area_code: Option<&str>) -> Vec<(&'a str, Single)> {
    // Byte ranges of the blank-separated parts.
    let mut parts: Vec<(usize, usize)> = Vec::new();
    let mut start = None;
    for (i, c) in piece.char_indices() {
        if text::is_blank(c) {
            if let Some(st) = start.take() {
                parts.push((st, i));
            }
        } else {
            start.get_or_insert(i);
        }
    }
    if let Some(st) = start {
        parts.push((st, piece.len()));
    }
    let mut out = Vec::new();
    let mut from = 0;
    let mut to = 0;
    while to < parts.len() {
        let run = &piece[parts[from].0..parts[to].1];
        let single = parse_single(run, default_area_code);
        if single.normalized.is_some() {
            out.push((run, single));
            from = to + 1;
        }
        to += 1;
    }
    if from < parts.len() {
        let run = &piece[parts[from].0..];
        out.push((run, parse_single(run, default_area_code)));
    }
    out
}

/// Separators between numbers in one field. A blank is not one: it also separates the groups
/// of one number (`0722 321 2345`).
fn is_hard_separator(c: char) -> bool {
    matches!(c, '/' | ',' | ';' | '、' | '|' | '\\' | '或' | '\n' | '\r')
}

fn is_area_code(s: &str) -> bool {
    (3..=4).contains(&s.len()) && s.starts_with('0') && s.bytes().all(|b| b.is_ascii_digit())
}

/// Parses one number (with an optional extension).
fn parse_single(piece: &str, default_area_code: Option<&str>) -> Single {
    let mut single = Single {
        normalized: None,
        kind: PhoneKind::Unknown,
        area_code: None,
        extension: None,
        issues: Vec::new(),
    };
    let (main, ext_text) = split_extension(piece);
    if main.contains(['*', 'x', 'X']) && main.bytes().any(|b| b.is_ascii_digit()) {
        single.issues.push(PhoneIssue::Masked);
        return single;
    }
    // Digit groups, and whether anything but separators surrounds them.
    let mut groups: Vec<&str> = Vec::new();
    let mut extra_text = false;
    let mut start = None;
    for (i, c) in main.char_indices() {
        if c.is_ascii_digit() {
            start.get_or_insert(i);
            continue;
        }
        if let Some(st) = start.take() {
            groups.push(&main[st..i]);
        }
        if !(text::is_blank(c) || matches!(c, '-' | '—' | '–' | '(' | ')' | '+' | '.' | '[' | ']'))
        {
            extra_text = true;
        }
    }
    if let Some(st) = start {
        groups.push(&main[st..]);
    }
    if extra_text {
        single.issues.push(PhoneIssue::ExtraText);
    }
    let mut digits: String = groups.concat();
    if digits.is_empty() {
        single.issues.push(PhoneIssue::Unrecognised);
        return single;
    }
    let plus = main
        .trim_start_matches(|c: char| text::is_blank(c) || c == '(')
        .starts_with('+');
    let mut country_code = false;
    if let Some(rest) = digits.strip_prefix("0086") {
        digits = rest.to_owned();
        country_code = true;
    } else if (plus || digits.len() >= 12)
        && let Some(rest) = digits.strip_prefix("86")
    {
        digits = rest.to_owned();
        country_code = true;
    }
    if country_code {
        single.issues.push(PhoneIssue::CountryCode);
        // After the country code a landline's area code loses its trunk `0`.
        if !digits.starts_with('0') && !is_mobile(&digits) && digits.len() >= 9 {
            digits.insert(0, '0');
        }
    }
    // The first group as written, if it looks like an area code (`(0722)`, `0722-`).
    let written_area = groups
        .first()
        .filter(|g| !country_code && groups.len() > 1 && is_area_code(g))
        .map(|g| g.len());

    let mut classified = classify(&digits, written_area, default_area_code);
    // `0722-3212345-123`, `13812345678-8`: a short last group after a complete number.
    if classified.is_none()
        && ext_text.is_none()
        && groups.len() >= 2
        && let Some(last) = groups.last()
        && (1..=5).contains(&last.len())
        && digits.ends_with(last)
        && let Some(main_digits) = digits
            .len()
            .checked_sub(last.len())
            .and_then(|end| digits.get(..end))
        && let Some(c) = classify(main_digits, written_area, default_area_code)
    {
        single.extension = Some((*last).to_owned());
        classified = Some(c);
    }
    if let Some(ext) = ext_text {
        single.extension = Some(ext);
    }
    match classified {
        Some(c) => {
            single.kind = c.kind;
            single.area_code = c.area_code;
            single.normalized = Some(c.normalized);
            single.issues.extend(c.issues);
        }
        None => single.issues.push(unrecognised_reason(&digits)),
    }
    single
}

/// Splits off an extension written with a keyword: `转123`, `分机123`, `ext.123`, `#123`.
fn split_extension(piece: &str) -> (&str, Option<String>) {
    for keyword in ["转", "分机", "ext.", "ext", "EXT", "Ext", "#"] {
        if let Some((main, ext)) = piece.split_once(keyword) {
            let ext: String = ext.chars().filter(char::is_ascii_digit).collect();
            if !ext.is_empty() && ext.len() <= 6 {
                return (main, Some(ext));
            }
            return (main, None);
        }
    }
    (piece, None)
}

struct Classified {
    normalized: String,
    kind: PhoneKind,
    area_code: Option<String>,
    issues: Vec<PhoneIssue>,
}

fn is_mobile(d: &str) -> bool {
    let b = d.as_bytes();
    b.len() == 11 && b[0] == b'1' && (b'3'..=b'9').contains(&b[1])
}

/// A local number: 7–8 digits, not starting with 0 or 1.
fn is_local(d: &str) -> bool {
    (7..=8).contains(&d.len()) && !d.starts_with(['0', '1'])
}

/// Decides what a run of digits is; `None` if nothing valid.
fn classify(
    digits: &str,
    written_area: Option<usize>,
    default_area_code: Option<&str>,
) -> Option<Classified> {
    if is_mobile(digits) {
        return Some(Classified {
            normalized: digits.to_owned(),
            kind: PhoneKind::Mobile,
            area_code: None,
            issues: Vec::new(),
        });
    }
    if let Some(rest) = digits.strip_prefix('0')
        && is_mobile(rest)
    {
        return Some(Classified {
            normalized: rest.to_owned(),
            kind: PhoneKind::Mobile,
            area_code: None,
            issues: vec![PhoneIssue::LeadingZero],
        });
    }
    if let Some(after_zero) = digits.strip_prefix('0') {
        // 010 and 02x are the only three-digit area codes; all others have four digits.
        let area_len = written_area.unwrap_or(if after_zero.starts_with(['1', '2']) {
            3
        } else {
            4
        });
        let (area, local) = digits.split_at(area_len.min(digits.len()));
        if is_area_code(area) && is_local(local) {
            return Some(Classified {
                normalized: format!("{area}-{local}"),
                kind: PhoneKind::Landline,
                area_code: Some(area.to_owned()),
                issues: Vec::new(),
            });
        }
        return None;
    }
    if is_local(digits) {
        return Some(match default_area_code {
            Some(area) => Classified {
                normalized: format!("{area}-{digits}"),
                kind: PhoneKind::Landline,
                area_code: Some(area.to_owned()),
                issues: vec![PhoneIssue::AreaCodeAssumed],
            },
            None => Classified {
                normalized: digits.to_owned(),
                kind: PhoneKind::Landline,
                area_code: None,
                issues: vec![PhoneIssue::NoAreaCode],
            },
        });
    }
    None
}

fn unrecognised_reason(digits: &str) -> PhoneIssue {
    let n = digits.len();
    let service = (n == 10 && (digits.starts_with("400") || digits.starts_with("800")))
        || ((3..=6).contains(&n) && digits.starts_with(['1', '9']));
    if service {
        PhoneIssue::ServiceNumber
    } else if n == 11 && digits.starts_with('1') {
        PhoneIssue::InvalidMobilePrefix
    } else {
        PhoneIssue::WrongLength(n)
    }
}

/// Masks a phone number for display (DOMAIN.md §5.2): a mobile keeps its first 3 and last 4
/// digits (`138****5678`); a landline keeps its area code and last 4 digits (`0722-***2345`).
/// Anything else is normalised first if possible; otherwise all but its last 4 characters
/// become `*` (all of them if it has 4 or fewer).
pub fn mask_phone(phone: &str) -> String {
    if is_mobile(phone) {
        return format!("{}****{}", &phone[..3], &phone[7..]);
    }
    if let Some((area, local)) = phone.split_once('-')
        && is_area_code(area)
        && local.len() > 4
        && local.bytes().all(|b| b.is_ascii_digit())
    {
        let hidden = "*".repeat(local.len() - 4);
        return format!("{area}-{hidden}{}", &local[local.len() - 4..]);
    }
    let parsed = parse_phone(phone, None);
    if let Some(n) = parsed.normalized.as_deref()
        && n != phone
    {
        return mask_phone(n);
    }
    let chars: Vec<char> = phone.chars().collect();
    let keep = if chars.len() > 4 { 4 } else { 0 };
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| if i + keep >= chars.len() { *c } else { '*' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn mobile_forms() {
        for raw in [
            "13812345678",
            "138 1234 5678",
            "138-1234-5678",
            "+8613812345678",
            "+86 138 1234 5678",
            "+86-138-1234-5678",
            "008613812345678",
            "8613812345678",
            "１３８１２３４５６７８",
            "013812345678",
            "'13812345678",
            "电话：13812345678",
            " 13812345678\u{200B}",
        ] {
            let p = parse_phone(raw, Some(SUIZHOU_AREA_CODE));
            assert_eq!(
                p.normalized.as_deref(),
                Some("13812345678"),
                "{raw:?}: {:?}",
                p.issues
            );
            assert_eq!(p.kind, PhoneKind::Mobile, "{raw:?}");
            assert_eq!(p.original, raw);
        }
        assert!(
            parse_phone("+8613812345678", None)
                .issues
                .contains(&PhoneIssue::CountryCode)
        );
        assert!(
            parse_phone("１３８１２３４５６７８", None)
                .issues
                .contains(&PhoneIssue::FullWidth)
        );
        assert!(
            parse_phone("013812345678", None)
                .issues
                .contains(&PhoneIssue::LeadingZero)
        );
    }

    #[test]
    fn landline_forms() {
        for raw in [
            "0722-3212345",
            "(0722)3212345",
            "（0722）3212345",
            "07223212345",
            "0722 321 2345",
            "0722 3212345",
            "+86 722 3212345",
            "0086-722-3212345",
        ] {
            let p = parse_phone(raw, None);
            assert_eq!(
                p.normalized.as_deref(),
                Some("0722-3212345"),
                "{raw:?}: {:?}",
                p.issues
            );
            assert_eq!(p.kind, PhoneKind::Landline, "{raw:?}");
            assert_eq!(p.area_code.as_deref(), Some("0722"), "{raw:?}");
        }
        for (raw, want) in [
            ("010-62345678", "010-62345678"),
            ("01062345678", "010-62345678"),
            ("027-87654321", "027-87654321"),
            ("02787654321", "027-87654321"),
        ] {
            assert_eq!(
                parse_phone(raw, None).normalized.as_deref(),
                Some(want),
                "{raw}"
            );
        }
    }

    #[test]
    fn local_numbers_get_the_default_area_code() {
        let p = parse_phone("3212345", Some(SUIZHOU_AREA_CODE));
        assert_eq!(p.normalized.as_deref(), Some("0722-3212345"));
        assert_eq!(p.kind, PhoneKind::Landline);
        assert!(p.issues.contains(&PhoneIssue::AreaCodeAssumed));

        let p = parse_phone("321-2345", None);
        assert_eq!(p.normalized.as_deref(), Some("3212345"));
        assert!(p.issues.contains(&PhoneIssue::NoAreaCode));

        // A malformed default is ignored.
        let p = parse_phone("3212345", Some("722"));
        assert!(p.issues.contains(&PhoneIssue::NoAreaCode));
    }

    #[test]
    fn extensions() {
        for (raw, number, ext) in [
            ("0722-3212345转123", "0722-3212345", "123"),
            ("0722-3212345-123", "0722-3212345", "123"),
            ("0722-3212345 分机 8", "0722-3212345", "8"),
            ("13812345678转6", "13812345678", "6"),
            ("0722-3212345 ext.55", "0722-3212345", "55"),
        ] {
            let p = parse_phone(raw, None);
            assert_eq!(
                p.normalized.as_deref(),
                Some(number),
                "{raw:?}: {:?}",
                p.issues
            );
            assert_eq!(p.extension.as_deref(), Some(ext), "{raw:?}");
        }
    }

    #[test]
    fn several_numbers_in_one_field() {
        for sep in ["/", ",", ";", "、", " ", "，", "；", " / "] {
            let raw = format!("13812345678{sep}0722-3212345");
            let p = parse_phone(&raw, None);
            assert_eq!(p.normalized.as_deref(), Some("13812345678"), "{raw:?}");
            assert_eq!(p.others, vec!["0722-3212345".to_owned()], "{raw:?}");
            assert!(p.issues.contains(&PhoneIssue::MultipleNumbers), "{raw:?}");
        }
        // Blank-separated groups are joined until they make a number.
        let p = parse_phone("138 1234 5678 139 8765 4321", None);
        assert_eq!(p.normalized.as_deref(), Some("13812345678"));
        assert_eq!(p.others, vec!["13987654321".to_owned()]);
        let p = parse_phone("0722 321 2345 13812345678", None);
        assert_eq!(p.normalized.as_deref(), Some("0722-3212345"));
        assert_eq!(p.others, vec!["13812345678".to_owned()]);
        // The first *valid* number is used; the invalid one is kept as written.
        let p = parse_phone("12345/13812345678", None);
        assert_eq!(p.normalized.as_deref(), Some("13812345678"));
        assert_eq!(p.others, vec!["12345".to_owned()]);
    }

    #[test]
    fn unusable_numbers() {
        for (raw, issue) in [
            ("", PhoneIssue::Missing),
            ("NULL", PhoneIssue::Missing),
            ("无", PhoneIssue::Missing),
            ("0", PhoneIssue::Missing),
            ("138****5678", PhoneIssue::Masked),
            ("12012345678", PhoneIssue::InvalidMobilePrefix),
            ("4008123456", PhoneIssue::ServiceNumber),
            ("12345", PhoneIssue::ServiceNumber),
            ("123456789", PhoneIssue::WrongLength(9)),
            ("没有电话", PhoneIssue::Unrecognised),
        ] {
            let p = parse_phone(raw, Some(SUIZHOU_AREA_CODE));
            assert_eq!(p.normalized, None, "{raw:?}");
            assert_eq!(p.kind, PhoneKind::Unknown, "{raw:?}");
            assert!(p.issues.contains(&issue), "{raw:?}: {:?}", p.issues);
        }
    }

    /// A country code spanning two groups once made the extension check subtract past zero.
    #[test]
    fn country_code_across_groups_does_not_panic() {
        for raw in ["00-86123", "+86-1", "0086-12-345"] {
            let p = parse_phone(raw, None);
            assert_eq!(p.original, raw);
        }
    }

    #[test]
    fn masking() {
        assert_eq!(mask_phone("13812345678"), "138****5678");
        assert_eq!(mask_phone("0722-3212345"), "0722-***2345");
        assert_eq!(mask_phone("010-62345678"), "010-****5678");
        assert_eq!(mask_phone("+86 138 1234 5678"), "138****5678");
        assert_eq!(mask_phone("3212345"), "***2345");
        assert_eq!(mask_phone("1234"), "****");
        assert_eq!(mask_phone(""), "");
        assert_eq!(
            parse_phone("0722-3212345", None).masked().as_deref(),
            Some("0722-***2345")
        );
    }

    proptest! {
        #[test]
        fn never_panics_and_keeps_the_original(s in "\\PC{0,40}") {
            let p = parse_phone(&s, Some(SUIZHOU_AREA_CODE));
            prop_assert_eq!(&p.original, &s);
            prop_assert_eq!(p.normalized.is_some(), p.kind != PhoneKind::Unknown);
            let _ = mask_phone(&s);
        }

        #[test]
        fn never_panics_on_any_unicode(s in any::<String>()) {
            let p = parse_phone(&s, None);
            prop_assert_eq!(&p.original, &s);
        }

        #[test]
        fn never_panics_on_phone_like_text(s in "[0-9０-９+()（）\\- /,、转*]{0,30}") {
            let p = parse_phone(&s, Some(SUIZHOU_AREA_CODE));
            prop_assert_eq!(&p.original, &s);
        }

        #[test]
        fn normalised_numbers_parse_to_themselves(
            mobile in "1[3-9][0-9]{9}",
            area in prop::sample::select(vec!["010", "027", "0722", "0710"]),
            local in "[2-8][0-9]{6,7}",
        ) {
            let m = parse_phone(&mobile, None);
            prop_assert_eq!(m.normalized.as_deref(), Some(mobile.as_str()));
            let line = format!("{area}-{local}");
            let l = parse_phone(&line, None);
            prop_assert_eq!(l.normalized.as_deref(), Some(line.as_str()));
            // And the normalised forms are fixed points.
            let again = parse_phone(l.normalized.as_deref().unwrap_or_default(), None);
            prop_assert_eq!(again.normalized, l.normalized);
        }

        #[test]
        fn masks_hide_the_middle(mobile in "1[3-9][0-9]{9}") {
            let masked = mask_phone(&mobile);
            prop_assert_eq!(&masked[..3], &mobile[..3]);
            prop_assert_eq!(&masked[7..], &mobile[7..]);
            prop_assert_eq!(&masked[3..7], "****");
        }
    }
}
