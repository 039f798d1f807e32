//! Small text helpers shared by the standardisers: blanks and invisible characters, null
//! placeholders, Chinese numerals, NFKC, and character classes (Han, private use).
//!
//! Department extracts are full of text that *looks* empty or equal but is not: a full-width
//! space U+3000 in a name, a zero-width space U+200B pasted from a web form, `NULL` or `不详`
//! typed into a field that had to be filled, `二〇二一` where a number was expected. These
//! helpers recognise such text once, so that every standardiser treats it the same way.
//!
//! ```
//! use hedui_identity::text::{is_null_placeholder, parse_chinese_number, strip_blanks};
//! assert_eq!(strip_blanks("张\u{3000}三\u{200B}"), "张三");
//! assert!(is_null_placeholder(" 不详 "));
//! assert!(is_null_placeholder("ＮＵＬＬ"));
//! assert_eq!(parse_chinese_number("一百零五"), Some(105));
//! assert_eq!(parse_chinese_number("二〇二一"), Some(2021));
//! ```

use std::borrow::Cow;

use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfkc_quick};

/// True for characters that take no space on screen but break equality: zero-width space,
/// joiners, word joiner, byte-order mark, soft hyphen, bidirectional marks.
///
/// These are not `char::is_whitespace`, so `str::trim` keeps them.
pub fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{FEFF}'
            | '\u{00AD}'
            | '\u{180E}'
    )
}

/// True for every kind of whitespace (ASCII space, tab, newline, U+3000, U+00A0 …) and for the
/// invisible characters of [`is_invisible`].
pub fn is_blank(c: char) -> bool {
    c.is_whitespace() || is_invisible(c)
}

/// The text without leading and trailing blanks (see [`is_blank`]).
pub fn trim_blanks(s: &str) -> &str {
    // Most text has no blank at either end: two character tests, not a trimming pass.
    let kept = |c: Option<char>| c.is_some_and(|c| !is_blank(c));
    if kept(s.chars().next()) && kept(s.chars().next_back()) {
        s
    } else {
        s.trim_matches(is_blank)
    }
}

/// True if the text contains any blank (see [`is_blank`]).
pub fn has_blanks(s: &str) -> bool {
    s.chars().any(is_blank)
}

/// The text with every blank removed, anywhere (see [`is_blank`]). Borrows when there is
/// nothing to remove, which is the common case.
pub fn strip_blanks(s: &str) -> Cow<'_, str> {
    if has_blanks(s) {
        Cow::Owned(s.chars().filter(|c| !is_blank(*c)).collect())
    } else {
        Cow::Borrowed(s)
    }
}

/// The NFKC normalisation of the text: full-width digits and letters become ASCII (`２０２１` →
/// `2021`, `Ｘ` → `X`), compatibility ideographs become unified ones. Borrows when the text is
/// already normalised (checked with the fast quick-check, so ASCII and ordinary Han text cost a
/// scan and no allocation).
pub fn nfkc(s: &str) -> Cow<'_, str> {
    // The table-driven quick check costs ~30 ns a character; names and addresses are almost
    // all ASCII and unified ideographs, which are NFKC-stable, so test those ranges first.
    if s.chars().all(is_nfkc_stable_fast) || is_nfkc_quick(s.chars()) == IsNormalized::Yes {
        return Cow::Borrowed(s);
    }
    let normalized: String = s.nfkc().collect();
    if normalized == s {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(normalized)
    }
}

/// Characters known to be unchanged by NFKC whatever surrounds them: ASCII, the middle dot,
/// `〇`, and the unified ideographs (not the compatibility ideographs, which NFKC maps).
fn is_nfkc_stable_fast(c: char) -> bool {
    c.is_ascii()
        || matches!(c,
            '\u{00B7}'
            | '\u{3007}'
            | '\u{3400}'..='\u{4DBF}'
            | '\u{4E00}'..='\u{9FFF}'
            | '\u{20000}'..='\u{2A6DF}'
            | '\u{2A700}'..='\u{2EE5F}'
            | '\u{30000}'..='\u{323AF}')
}

/// Placeholders that departments write into a field instead of leaving it empty. Compared
/// case-insensitively after trimming blanks and NFKC.
const NULL_PLACEHOLDERS: &[&str] = &[
    "null", "none", "nil", "nan", "n/a", "na", "#n/a", "\\n", "(null)", "<null>", "无", "暂无",
    "不详", "未知", "不明", "空", "未填", "0", "無", "暫無", "不詳",
];

/// True if the text is empty, blank, or a null placeholder: `NULL`, `null`, `None`, `N/A`, `\N`
/// (a database dump's null), `无`, `暂无`, `不详`, `未知`, `空`, `0`, or a run of dashes, slashes
/// or dots only (`-`, `--`, `/`, `——`).
///
/// Full-width forms (`ＮＵＬＬ`, `－`) count too.
pub fn is_null_placeholder(s: &str) -> bool {
    let s = trim_blanks(s);
    if s.is_empty() {
        return true;
    }
    // Every placeholder is short; don't normalise long text just to find it is not one (and
    // more than 32 bytes is more than 8 characters, known without counting them).
    if s.len() > 32 || s.chars().count() > 8 {
        return false;
    }
    // NFKC leaves a unified ideograph as it is, so one that no placeholder contains rules the
    // text out at once: a name or an address is decided without normalising it.
    if s.chars()
        .any(|c| is_unified_ideograph(c) && !in_placeholder(c))
    {
        return false;
    }
    let s = nfkc(s);
    let s = trim_blanks(&s);
    if s.chars()
        .all(|c| matches!(c, '-' | '—' | '–' | '/' | '\\' | '_' | '.'))
    {
        return !s.is_empty();
    }
    NULL_PLACEHOLDERS.iter().any(|p| p.eq_ignore_ascii_case(s))
}

/// True for a CJK Unified Ideograph of the basic block (U+4E00–U+9FFF), the block almost every
/// character of a name or address is in: NFKC leaves each of them as it is.
pub(crate) fn is_unified_ideograph(c: char) -> bool {
    ('\u{4E00}'..='\u{9FFF}').contains(&c)
}

/// The ideographs of [`NULL_PLACEHOLDERS`] (a test keeps the two in step).
fn in_placeholder(c: char) -> bool {
    matches!(
        c,
        '无' | '暂' | '不' | '详' | '未' | '知' | '明' | '空' | '填' | '無' | '暫' | '詳'
    )
}

/// The text in simplified characters: exactly `hanconv::t2s` (OpenCC's TSPhrases and
/// TSCharacters, longest match first), without running the converter over text it would
/// leave as it is. Millions of names and addresses are already simplified, and the
/// converter looks every character up in a hash-map trie and builds a new string; here a
/// character that starts no key of the dictionary is passed by a bit test.
pub fn to_simplified(s: &str) -> Cow<'_, str> {
    if may_convert(s) {
        Cow::Owned(hanconv::t2s(s))
    } else {
        Cow::Borrowed(s)
    }
}

/// The first characters of OpenCC's traditional-to-simplified keys in the Basic Multilingual
/// Plane, as bits (keys of one character, and of more), and the keys of more than one
/// character by first character.
struct T2sKeys {
    single: Vec<u64>,
    phrase_first: Vec<u64>,
    phrases: std::collections::HashMap<char, Vec<&'static str>>,
}

static T2S_KEYS: std::sync::LazyLock<T2sKeys> = std::sync::LazyLock::new(|| {
    let mut keys = T2sKeys {
        single: vec![0; 0x10000 / 64],
        phrase_first: vec![0; 0x10000 / 64],
        phrases: std::collections::HashMap::new(),
    };
    let dictionaries = [
        hanconv::Dictionary::TSPhrases.iter(),
        hanconv::Dictionary::TSCharacters.iter(),
    ];
    for (key, _) in dictionaries.into_iter().flatten() {
        let mut chars = key.chars();
        let Some(first) = chars.next() else { continue };
        let phrase = chars.next().is_some();
        if phrase {
            keys.phrases.entry(first).or_default().push(key);
        }
        if let Ok(c) = u16::try_from(u32::from(first)) {
            let bits = if phrase {
                &mut keys.phrase_first
            } else {
                &mut keys.single
            };
            bits[usize::from(c) / 64] |= 1 << (c % 64);
        }
    }
    keys
});

/// Whether some key of the converter's dictionary matches somewhere in `s` (if none does, the
/// converter copies every character). Characters beyond the Basic Multilingual Plane are sent
/// to the converter.
fn may_convert(s: &str) -> bool {
    if s.is_ascii() {
        return false;
    }
    s.char_indices().any(|(i, c)| t2s_key_at(s, i, c))
}

/// Whether a key of [`to_simplified`]'s dictionary may start at byte `i` of `s`, where `c`
/// is (always true beyond the Basic Multilingual Plane). A scan that already walks the text
/// for its own reasons asks this per character instead of calling [`to_simplified`]: if no
/// key starts anywhere, the text is already simplified.
pub(crate) fn t2s_key_at(s: &str, i: usize, c: char) -> bool {
    let Ok(c16) = u16::try_from(u32::from(c)) else {
        return true;
    };
    let keys = &*T2S_KEYS;
    let bit = |bits: &[u64]| bits[usize::from(c16) / 64] >> (c16 % 64) & 1 == 1;
    bit(&keys.single)
        || bit(&keys.phrase_first)
            && keys
                .phrases
                .get(&c)
                .is_some_and(|ps| ps.iter().any(|p| s[i..].starts_with(p)))
}

/// The value of a single Chinese numeral digit: `〇`/`零` 0, `一`/`壹`/`幺` 1, `二`/`两`/`贰` 2, … `九`/`玖` 9.
/// ASCII digits count too. Units (`十`, `百` …) are not digits.
pub fn chinese_digit(c: char) -> Option<u8> {
    Some(match c {
        '0' | '〇' | '零' | '○' | 'Ｏ' => 0,
        '1' | '一' | '壹' | '幺' => 1,
        '2' | '二' | '两' | '兩' | '贰' | '貳' | '贠' => 2,
        '3' | '三' | '叁' | '參' | '弎' => 3,
        '4' | '四' | '肆' => 4,
        '5' | '五' | '伍' => 5,
        '6' | '六' | '陆' | '陸' => 6,
        '7' | '七' | '柒' => 7,
        '8' | '八' | '捌' => 8,
        '9' | '九' | '玖' => 9,
        _ => return None,
    })
}

/// A multiplying unit inside a section (`十` 10, `百` 100, `千` 1000) or a section unit (`万`,
/// `亿`), with the flag `true` for section units.
fn chinese_unit(c: char) -> Option<(u64, bool)> {
    Some(match c {
        '十' | '拾' | '什' => (10, false),
        '百' | '佰' => (100, false),
        '千' | '仟' => (1000, false),
        '万' | '萬' => (10_000, true),
        '亿' | '億' => (100_000_000, true),
        _ => return None,
    })
}

/// Parses a Chinese numeral to an integer.
///
/// Two forms are understood:
/// * digit by digit, as years are written: `二〇二一` → 2021, `一九八〇` → 1980;
/// * with units: `十一` → 11, `二十三` → 23, `一百零五` → 105, `两千` → 2000, `一万二千` → 12000,
///   and the colloquial dropped last unit `一百五` → 150, `两万三` → 23000.
///
/// `廿` (20) and `卅` (30), as in old dates, and the financial (upper-case) forms `壹贰叁…拾佰仟`
/// are accepted. ASCII digits alone are parsed as a decimal number. Anything else gives `None`,
/// as does a value that does not fit in a `u64`.
pub fn parse_chinese_number(s: &str) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().ok();
    }
    // Digit-by-digit form: only digits, at least two of them (a lone `零` is 0 either way).
    if s.chars().all(|c| chinese_digit(c).is_some()) {
        return s.chars().try_fold(0u64, |acc, c| {
            acc.checked_mul(10)?
                .checked_add(u64::from(chinese_digit(c)?))
        });
    }
    let mut total: u64 = 0; // completed 万/亿 sections
    let mut section: u64 = 0; // value inside the current section
    let mut digit: Option<u64> = None; // a digit waiting for its unit
    let mut last_unit: u64 = 1; // for the colloquial `一百五` = 150
    let mut zero_seen = false;
    for c in s.chars() {
        if let Some(d) = chinese_digit(c) {
            if d == 0 {
                zero_seen = true;
                continue;
            }
            if digit.is_some() {
                // Two digits in a row inside the unit form (`一百二三`) is not a number.
                return None;
            }
            digit = Some(u64::from(d));
        } else if c == '廿' || c == '卅' || c == '卌' {
            if digit.is_some() {
                return None;
            }
            let tens = match c {
                '廿' => 20,
                '卅' => 30,
                _ => 40,
            };
            section = section.checked_add(tens)?;
            last_unit = 10;
            zero_seen = false;
        } else if let Some((unit, is_section)) = chinese_unit(c) {
            if is_section {
                let value = section.checked_add(digit.take().unwrap_or(0))?;
                // `十万` is 100000: the section multiplies everything since the last section.
                let value = if value == 0 { 1 } else { value };
                total = total.checked_add(value.checked_mul(unit)?)?;
                section = 0;
                last_unit = unit;
            } else {
                // A bare `十` at the start means 10 (`十一`); elsewhere `十` needs its digit too.
                let d = digit.take().unwrap_or(1);
                section = section.checked_add(d.checked_mul(unit)?)?;
                last_unit = unit;
            }
            zero_seen = false;
        } else {
            return None;
        }
    }
    if let Some(d) = digit {
        // `一百五` means 150; `一百零五` means 105; `十五` means 15.
        let value = if !zero_seen && last_unit >= 100 {
            d.checked_mul(last_unit / 10)?
        } else {
            d
        };
        section = section.checked_add(value)?;
    }
    total.checked_add(section)
}

/// Writes a number digit by digit in Chinese, as years are written: 2021 → `二〇二一`.
pub fn to_chinese_digits(n: u64) -> String {
    const DIGITS: [char; 10] = ['〇', '一', '二', '三', '四', '五', '六', '七', '八', '九'];
    n.to_string()
        .bytes()
        .map(|b| DIGITS[usize::from(b - b'0')])
        .collect()
}

/// Writes a number below 10000 with units, as months, days and group numbers are written:
/// 5 → `五`, 10 → `十`, 23 → `二十三`, 105 → `一百零五`. Larger numbers are written digit by
/// digit (see [`to_chinese_digits`]).
pub fn to_chinese_number(n: u64) -> String {
    const DIGITS: [char; 10] = ['零', '一', '二', '三', '四', '五', '六', '七', '八', '九'];
    if n >= 10_000 {
        return to_chinese_digits(n);
    }
    if n == 0 {
        return "零".to_owned();
    }
    if (10..20).contains(&n) {
        // `十五`, not `一十五`.
        let mut s = String::from("十");
        if n > 10 {
            s.push(DIGITS[(n - 10) as usize]);
        }
        return s;
    }
    let mut out = String::new();
    let mut pending_zero = false;
    for (unit, name) in [
        (1000, Some('千')),
        (100, Some('百')),
        (10, Some('十')),
        (1, None),
    ] {
        let d = (n / unit) % 10;
        if d == 0 {
            if !out.is_empty() {
                pending_zero = true;
            }
            continue;
        }
        if pending_zero {
            out.push('零');
            pending_zero = false;
        }
        out.push(DIGITS[d as usize]);
        if let Some(u) = name {
            out.push(u);
        }
    }
    out
}

/// True for a Han ideograph: the CJK Unified Ideographs block and its extensions A–I,
/// the compatibility ideographs, and `〇`.
pub fn is_han(c: char) -> bool {
    matches!(c,
        '\u{3007}'
        | '\u{3400}'..='\u{4DBF}'
        | '\u{4E00}'..='\u{9FFF}'
        | '\u{F900}'..='\u{FAFF}'
        | '\u{20000}'..='\u{2A6DF}'
        | '\u{2A700}'..='\u{2EE5F}'
        | '\u{2F800}'..='\u{2FA1F}'
        | '\u{30000}'..='\u{323AF}')
}

/// True for a private-use code point (U+E000–U+F8FF, planes 15 and 16). Legacy GBK/GB18030
/// systems put rare name characters (生僻字) there; their meaning depends on the system that
/// wrote them, so they cannot be compared across departments.
pub fn is_private_use(c: char) -> bool {
    matches!(c,
        '\u{E000}'..='\u{F8FF}' | '\u{F0000}'..='\u{FFFFD}' | '\u{100000}'..='\u{10FFFD}')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn blanks_of_every_kind() {
        for raw in [
            "张 三",
            "张\t三",
            "张\n三",
            "张\u{3000}三",
            "张\u{00A0}三",
            "张\u{200B}三",
            "张\u{200C}三",
            "张\u{200D}三",
            "\u{FEFF}张三",
            "张三\u{2060}",
            "  张三  ",
        ] {
            assert_eq!(strip_blanks(raw), "张三", "{raw:?}");
            assert!(has_blanks(raw), "{raw:?}");
        }
        assert!(matches!(strip_blanks("张三"), Cow::Borrowed(_)));
        assert_eq!(trim_blanks("\u{3000} 张 三\u{200B}"), "张 三");
    }

    #[test]
    fn placeholder_ideographs_are_listed() {
        for p in NULL_PLACEHOLDERS {
            for c in p.chars().filter(|&c| is_unified_ideograph(c)) {
                assert!(
                    in_placeholder(c),
                    "{c} of {p} is missing from in_placeholder"
                );
            }
        }
    }

    #[test]
    fn null_placeholders() {
        for raw in [
            "",
            " ",
            "\u{3000}",
            "NULL",
            "null",
            "Null",
            "None",
            "N/A",
            "\\N",
            "无",
            "暂无",
            "不详",
            "未知",
            "-",
            "--",
            "/",
            "0",
            "——",
            "ＮＵＬＬ",
            "－",
            " 不详 ",
            "(null)",
        ] {
            assert!(is_null_placeholder(raw), "{raw:?}");
        }
        for raw in [
            "张三",
            "00",
            "1",
            "无锡",
            "Nancy",
            "2021-03-05",
            "-1",
            "0722",
        ] {
            assert!(!is_null_placeholder(raw), "{raw:?}");
        }
    }

    #[test]
    fn chinese_numbers() {
        let cases: &[(&str, u64)] = &[
            ("〇", 0),
            ("零", 0),
            ("一", 1),
            ("两", 2),
            ("五", 5),
            ("十", 10),
            ("十一", 11),
            ("二十", 20),
            ("二十三", 23),
            ("三十一", 31),
            ("一百", 100),
            ("一百零五", 105),
            ("一百一十", 110),
            ("一百五", 150),
            ("两百", 200),
            ("一千零一", 1001),
            ("一万二千", 12000),
            ("两万三", 23000),
            ("十万", 100_000),
            ("二〇二一", 2021),
            ("一九八〇", 1980),
            ("二零零八", 2008),
            ("壹", 1),
            ("贰拾叁", 23),
            ("壹佰零伍", 105),
            ("拾", 10),
            ("廿一", 21),
            ("卅", 30),
            ("12", 12),
        ];
        for (s, n) in cases {
            assert_eq!(parse_chinese_number(s), Some(*n), "{s}");
        }
        for s in ["", "张", "一百二三", "五a", "-1", "1.5"] {
            assert_eq!(parse_chinese_number(s), None, "{s}");
        }
    }

    #[test]
    fn writing_chinese_numbers() {
        for (n, s) in [
            (0, "零"),
            (5, "五"),
            (10, "十"),
            (15, "十五"),
            (23, "二十三"),
            (105, "一百零五"),
            (110, "一百一十"),
            (2021, "二千零二十一"),
        ] {
            assert_eq!(to_chinese_number(n), s, "{n}");
        }
        assert_eq!(to_chinese_digits(2021), "二〇二一");
    }

    #[test]
    fn character_classes() {
        assert!(is_han('张'));
        assert!(is_han('〇'));
        assert!(is_han('\u{20087}'));
        assert!(!is_han('a'));
        assert!(!is_han('·'));
        assert!(is_private_use('\u{E816}'));
        assert!(is_private_use('\u{F0000}'));
        assert!(!is_private_use('张'));
    }

    #[test]
    fn nfkc_borrows_when_it_can() {
        assert!(matches!(nfkc("张三"), Cow::Borrowed(_)));
        assert!(matches!(nfkc("abc"), Cow::Borrowed(_)));
        assert_eq!(nfkc("２０２１"), "2021");
        assert_eq!(nfkc("Ｘ"), "X");
    }

    #[test]
    fn simplified_as_the_converter_gives_it() {
        for t in [
            "",
            "abc",
            "张三",
            "劉德華",
            "湖北省隨州市曾都區",
            "乾隆",
            "乾燥",
            "李连杰",
            "欧阳𠀀",
            "大道88号",
        ] {
            assert_eq!(to_simplified(t), hanconv::t2s(t), "{t}");
        }
        assert!(matches!(to_simplified("王伟"), Cow::Borrowed(_)));
    }

    proptest! {
        /// The shortcut never changes what the converter gives, whatever mixes of simplified,
        /// traditional and phrase-starting characters come in.
        #[test]
        fn to_simplified_is_t2s(t in "[王李黄郭沈金明大乾隆燥劉德華隨區湖北省a1 𠀀]{0,10}") {
            prop_assert_eq!(to_simplified(&t).into_owned(), hanconv::t2s(&t));
        }

        #[test]
        fn fast_nfkc_agrees_with_the_library(s in "[a-zA-Z0-9 ·〇\u{3400}-\u{4DBF}\u{4E00}-\u{9FFF}\u{20000}-\u{2A6DF}\u{0300}-\u{0310}]{0,12}") {
            let expected: String = s.nfkc().collect();
            prop_assert_eq!(nfkc(&s), expected);
        }

        #[test]
        fn never_panics(s in "\\PC{0,40}") {
            let _ = is_null_placeholder(&s);
            let _ = parse_chinese_number(&s);
            let stripped = strip_blanks(&s);
            prop_assert!(!has_blanks(&stripped));
            let _ = nfkc(&s);
        }

        #[test]
        fn numbers_round_trip(n in 0u64..10_000) {
            prop_assert_eq!(parse_chinese_number(&to_chinese_number(n)), Some(n));
            prop_assert_eq!(parse_chinese_number(&to_chinese_digits(n)), Some(n));
        }

        #[test]
        fn arbitrary_numeral_strings_do_not_panic(s in "[〇零一二两三四五六七八九十百千万亿廿卅]{0,20}") {
            let _ = parse_chinese_number(&s);
        }
    }
}
