//! Personal names (姓名): one matching form, a surname/given-name split and toneless pinyin
//! keys, from the names departments actually deliver (DOMAIN.md §4.3).
//!
//! [`standardize_name`] removes every kind of blank, applies NFKC, folds traditional and variant
//! characters to simplified ones (OpenCC `t2s` via `hanconv`; 喆/哲 stay different, as they
//! are different names), unifies the middle-dot variants of minority and transliterated names
//! to `·` (U+00B7) and turns unknown characters (`?`, `□`, `*`, private-use code points) into the
//! wildcard `?`. It then splits surname and given name (compound surnames such as 欧阳 and
//! 尉迟 included) and reads the name in toneless pinyin, using a surname-reading table for the
//! surname position because the `pinyin` crate's first reading is wrong for many surnames
//! (单 is *shàn*, 曾 is *zēng*).
//!
//! The pinyin key makes homophone typos of clerks equal (李文/李雯, 张晓明/张小明); it is a
//! *blocking* and comparison feature, never a reason to link on its own (DOMAIN.md §4.3:
//! never auto-link on the name alone).
//!
//! ```
//! use hedui_identity::name::{pinyin_compatible, standardize_name, NameIssue};
//! let name = standardize_name("曾 國藩");
//! assert_eq!(name.standardized, "曾国藩");
//! assert_eq!(name.surname(), Some("曾"));
//! assert_eq!(name.pinyin, "zeng guofan");
//! assert!(name.issues.contains(&NameIssue::TraditionalOrVariant));
//!
//! let dotted = standardize_name("阿依古丽•买买提");
//! assert_eq!(dotted.standardized, "阿依古丽·买买提");
//! assert_eq!(dotted.without_dot, "阿依古丽买买提");
//!
//! assert_eq!(standardize_name("李文").pinyin, standardize_name("李雯").pinyin);
//! assert!(pinyin_compatible(&standardize_name("王?明"), &standardize_name("王晓明")));
//! ```

use std::collections::HashSet;
use std::sync::LazyLock;

use pinyin::ToPinyinMulti;
use serde::{Deserialize, Deserializer, Serialize};

use crate::text;

/// The standard middle dot of minority and transliterated names.
pub const MIDDLE_DOT: char = '\u{00B7}';

/// What kind of name this is, which decides how it is split and keyed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NameScript {
    /// Han characters (and wildcards) only: surname + given name.
    Han,
    /// Parts separated by middle dots: a minority or transliterated name (阿依古丽·买买提).
    /// Not split into surname and given name.
    Dotted,
    /// Letters of an alphabetic script only (a foreigner's name, or pinyin typed instead of
    /// characters). Not split.
    Latin,
    /// Han characters and letters mixed, e.g. a rare character typed as pinyin (`王min`).
    Mixed,
    /// Nothing usable was left.
    Empty,
}

/// What standardisation found. Several can apply to one name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NameIssue {
    /// Empty or blank.
    Empty,
    /// A null placeholder (`NULL`, `不详`, `无` …) or nothing name-like at all (only digits or
    /// punctuation).
    NotAName,
    /// Blanks (spaces, tabs, U+3000, NBSP, zero-width characters …) were removed.
    Whitespace,
    /// Full-width or other compatibility forms were normalised (NFKC).
    FullWidth,
    /// Traditional or variant characters were folded to simplified ones (劉 → 刘).
    TraditionalOrVariant,
    /// A non-standard middle dot (`•`, `・`, `．`, `.` …) was replaced by `·` (U+00B7).
    DotVariant,
    /// Blanks between the parts of a long name were read as the middle dot
    /// (`阿依古丽 买买提` → `阿依古丽·买买提`).
    SpaceAsDot,
    /// `?`, `？`, `□`, `*`, `〓` or U+FFFD stood for a character the source system could not
    /// store; it became the wildcard `?`. Matching confidence must be lowered.
    UnknownCharacter,
    /// A private-use code point (a legacy system's own rare-character code) became the wildcard
    /// `?`. Matching confidence must be lowered.
    PrivateUse,
    /// Digits were removed (often a clerk's de-duplication suffix: `张三2`).
    ContainsDigits,
    /// Text in brackets was removed (`张三(户主)`, `李四（已故）`).
    Bracketed,
    /// Other punctuation or symbols were removed.
    Punctuation,
    /// Han characters and letters are mixed (a rare character typed as pinyin?).
    MixedScript,
    /// A single character only: probably cut short.
    TooShort,
}

/// A standardised personal name.
///
/// Positions: [`Name::readings`] has one entry per character of [`Name::without_dot`]
/// (letters, blanks in Latin names and wildcards included, with an empty list of readings),
/// and [`Name::wildcards`] holds character indices into `without_dot`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Name {
    /// The text exactly as delivered.
    pub original: String,
    /// The matching form: no blanks, NFKC, simplified characters, `·` as the only dot, `?` for
    /// unknown characters. Letters of Latin names keep their case, and single spaces between
    /// their words. Empty if nothing usable was left.
    pub standardized: String,
    /// `standardized` without middle dots, for comparing 阿依古丽·买买提 with 阿依古丽买买提.
    pub without_dot: String,
    /// What kind of name this is.
    pub script: NameScript,
    /// Byte offset in `standardized` where the surname ends and the given name starts. `None`
    /// for dotted, Latin and single-character names, which have no surname split: the first
    /// part of a minority name is the person's own name, not a family name, so treating it as a
    /// surname would block on the wrong thing.
    pub surname_end: Option<usize>,
    /// The canonical toneless pinyin key: surname syllables joined, a space, given-name
    /// syllables joined (`曾国藩` → `"zeng guofan"`, `欧阳修` → `"ouyang xiu"`). Dotted names
    /// give one word per part (`"ayiguli maimaiti"`), Latin names their lower-cased words
    /// (`"zhang san"`, so pinyin typed for a name meets the characters). `ü` is written `v`
    /// (`吕` → `lv`). A wildcard stays `?`; a Han character without pinyin data stays itself.
    /// Homophones give equal keys: 李文/李雯 → `"li wen"`.
    pub pinyin: String,
    /// Every toneless reading of each position, the key's reading first. At the surname
    /// position only the surname readings count (曾 → `[zeng]`, not `ceng`); elsewhere all
    /// readings of the `pinyin` crate (长 → `[zhang, chang]`). Empty for letters, blanks,
    /// wildcards and characters without data.
    #[serde(deserialize_with = "deserialize_readings")]
    pub readings: Vec<Vec<&'static str>>,
    /// Character indices in `without_dot` of the wildcards `?`.
    pub wildcards: Vec<usize>,
    /// Everything found on the way.
    pub issues: Vec<NameIssue>,
}

impl Name {
    /// The surname, if the name has a surname split (`欧阳修` → `欧阳`).
    pub fn surname(&self) -> Option<&str> {
        self.surname_end.and_then(|e| self.standardized.get(..e))
    }

    /// The given name, if the name has a surname split (`欧阳修` → `修`).
    pub fn given(&self) -> Option<&str> {
        self.surname_end.and_then(|e| self.standardized.get(e..))
    }

    /// The surname's pinyin (`"zeng"`, `"ouyang"`), a common blocking key.
    pub fn surname_pinyin(&self) -> Option<&str> {
        self.surname_end?;
        self.pinyin.split(' ').next()
    }

    /// True if anything usable is left.
    pub fn is_usable(&self) -> bool {
        !self.standardized.is_empty()
    }

    /// True if some character is unknown (a wildcard): matching confidence must be lowered.
    pub fn has_wildcards(&self) -> bool {
        !self.wildcards.is_empty()
    }

    /// The pinyin key with southern-accent confusions folded, for blocking: initials zh/z,
    /// ch/c, sh/s and n/l merge (to z, c, s, l), and a final -ng merges with -n
    /// (`"zhang xiaoming"` → `"zan xiaomin"`). Far coarser than [`Name::pinyin`]; use it only
    /// to find candidate pairs.
    pub fn fuzzy_pinyin(&self) -> String {
        build_key(
            &self.standardized,
            &self.readings,
            self.surname_end,
            Some(fold_syllable),
        )
    }

    fn has_letters(&self) -> bool {
        self.standardized
            .chars()
            .any(|c| c.is_alphabetic() && !text::is_han(c))
    }

    fn empty(raw: &str, issue: NameIssue) -> Self {
        Name {
            original: raw.to_owned(),
            standardized: String::new(),
            without_dot: String::new(),
            script: NameScript::Empty,
            surname_end: None,
            pinyin: String::new(),
            readings: Vec::new(),
            wildcards: Vec::new(),
            issues: vec![issue],
        }
    }
}

/// Standardises a personal name. Never fails: whatever is wrong is in [`Name::issues`].
pub fn standardize_name(raw: &str) -> Name {
    let trimmed = text::trim_blanks(raw);
    if trimmed.is_empty() {
        return Name::empty(raw, NameIssue::Empty);
    }
    if text::is_null_placeholder(trimmed) {
        return Name::empty(raw, NameIssue::NotAName);
    }
    let mut issues = Vec::new();
    let mut s = if is_plain_han(trimmed) {
        // The common case: NFKC and the character cleaning would leave the name as it is.
        if trimmed.len() != raw.len() {
            issues.push(NameIssue::Whitespace);
        }
        trimmed.to_owned()
    } else {
        let nfkc = text::nfkc(trimmed);
        if nfkc != trimmed {
            // NFKC also turns U+3000 and NBSP into a plain space; that is whitespace, not width.
            let visible = |s: &str| {
                s.chars()
                    .filter(|c| !text::is_blank(*c))
                    .collect::<String>()
            };
            if visible(&nfkc) != visible(trimmed) {
                issues.push(NameIssue::FullWidth);
            }
        }
        clean_chars(&nfkc, trimmed.len() != raw.len(), &mut issues)
    };

    if let std::borrow::Cow::Owned(simplified) = text::to_simplified(&s)
        && simplified != s
    {
        issues.push(NameIssue::TraditionalOrVariant);
        s = simplified;
    }
    // Removing characters can leave neighbours that NFKC composes (Hangul jamo around a dropped
    // symbol); normalise again so that the matching form is a fixed point. Plain Han text is
    // NFKC-stable and skips the check.
    if !is_plain_han(&s)
        && let std::borrow::Cow::Owned(n) = text::nfkc(&s)
    {
        s = n;
    }
    // A placeholder can also appear only now (`🈚` → `無` → `无`); text equal to the trimmed
    // input was already checked above.
    if s.is_empty() || (s != trimmed && text::is_null_placeholder(&s)) {
        issues.push(NameIssue::NotAName);
        let mut name = Name::empty(raw, NameIssue::NotAName);
        name.issues = issues;
        return name;
    }

    // One pass for the dots, the scripts and the number of positions (dots excluded).
    let (mut dotted, mut han, mut letters, mut positions) = (false, false, false, 0usize);
    for c in s.chars() {
        if c == MIDDLE_DOT {
            dotted = true;
            continue;
        }
        positions += 1;
        if text::is_han(c) {
            han = true;
        } else if c.is_alphabetic() {
            letters = true;
        }
    }
    let without_dot: String = if dotted {
        s.chars().filter(|c| *c != MIDDLE_DOT).collect()
    } else {
        s.clone()
    };
    let script = if dotted {
        NameScript::Dotted
    } else if han && letters {
        issues.push(NameIssue::MixedScript);
        NameScript::Mixed
    } else if letters {
        NameScript::Latin
    } else {
        NameScript::Han
    };

    if positions == 1 {
        issues.push(NameIssue::TooShort);
    }
    // Mixed names are split only when they start with a character, not a letter.
    let starts_han = s
        .chars()
        .next()
        .is_some_and(|c| text::is_han(c) || c == '?');
    let splits =
        matches!(script, NameScript::Han | NameScript::Mixed) && positions >= 2 && starts_han;
    let compound = if splits { compound_surname(&s) } else { None };
    let surname_chars = match compound {
        _ if !splits => 0,
        Some((sur, _)) if positions > sur.chars().count() => sur.chars().count(),
        _ => 1,
    };
    // A compound surname as long as the whole name is read as a single surname (`欧阳`).
    let compound = compound.filter(|_| surname_chars > 1);
    let surname_end = (surname_chars > 0)
        .then(|| s.char_indices().nth(surname_chars).map(|(i, _)| i))
        .flatten();

    let mut readings = Vec::with_capacity(positions);
    let mut wildcards = Vec::new();
    for (i, c) in without_dot.chars().enumerate() {
        if c == '?' {
            wildcards.push(i);
        }
        let surname_reading = if i < surname_chars {
            match compound {
                Some((_, r)) => r.get(i).map(std::slice::from_ref),
                None => single_surname_readings(c),
            }
        } else {
            None
        };
        readings.push(match surname_reading {
            Some(r) => r.to_vec(),
            None => char_readings(c),
        });
    }
    let pinyin = build_key(&s, &readings, surname_end, None);
    Name {
        original: raw.to_owned(),
        standardized: s,
        without_dot,
        script,
        surname_end,
        pinyin,
        readings,
        wildcards,
        issues,
    }
}

/// True if every character is a CJK Unified Ideograph (U+4E00–U+9FFF), as in almost every
/// name delivered: such text is NFKC-stable and [`clean_chars`] keeps it as it is.
fn is_plain_han(s: &str) -> bool {
    s.chars().all(text::is_unified_ideograph)
}

/// Whether two names can be read the same way: position by position, the characters are
/// equal, either is a wildcard, or they share a toneless reading (so 长/常, 乐/月 and 行/航
/// match in given names whatever reading the key chose). A Latin-letter name is compatible
/// with a Han name if its letters spell one reading per character (`ZHANG SAN` / 张三).
/// Names of different length, and empty names, are not compatible.
///
/// Symmetric. This says "could be a homophone typo", not "same person".
pub fn pinyin_compatible(a: &Name, b: &Name) -> bool {
    if !a.is_usable() || !b.is_usable() {
        return false;
    }
    match (a.has_letters(), b.has_letters()) {
        (false, false) => positions_compatible(a, b),
        (true, false) if a.script == NameScript::Latin => letters_spell(a, b),
        (false, true) if b.script == NameScript::Latin => letters_spell(b, a),
        _ => {
            let compact = |n: &Name| n.pinyin.chars().filter(|c| *c != ' ').collect::<String>();
            compact(a) == compact(b)
        }
    }
}

fn positions_compatible(a: &Name, b: &Name) -> bool {
    a.readings.len() == b.readings.len()
        && a.without_dot
            .chars()
            .zip(&a.readings)
            .zip(b.without_dot.chars().zip(&b.readings))
            .all(|((x, rx), (y, ry))| {
                x == y || x == '?' || y == '?' || rx.iter().any(|r| ry.contains(r))
            })
}

/// True if the letters of `latin` are one reading per position of `han`, concatenated.
fn letters_spell(latin: &Name, han: &Name) -> bool {
    let letters: Vec<u8> = latin
        .standardized
        .chars()
        .filter(|c| c.is_alphabetic())
        .flat_map(char::to_lowercase)
        .map(|c| if c == 'ü' { 'v' } else { c })
        .filter_map(|c| u8::try_from(c).ok())
        .collect();
    let n = letters.len();
    // reachable[j]: the positions so far can spell exactly letters[..j].
    let mut reachable = vec![false; n + 1];
    reachable[0] = true;
    for (c, readings) in han.without_dot.chars().zip(&han.readings) {
        let mut next = vec![false; n + 1];
        for j in (0..=n).filter(|j| reachable[*j]) {
            if c == '?' {
                // A wildcard stands for one syllable: 1 to 6 letters.
                for slot in next.iter_mut().take((j + 6).min(n) + 1).skip(j + 1) {
                    *slot = true;
                }
            }
            for r in readings {
                if letters[j..].starts_with(r.as_bytes()) {
                    next[j + r.len()] = true;
                }
            }
        }
        reachable = next;
    }
    n > 0 && reachable[n]
}

/// Maps every character to its matching form and drops what is not part of a name. Returns
/// the cleaned name (possibly with space-as-dot applied) and records issues.
fn clean_chars(s: &str, outer_blanks: bool, issues: &mut Vec<NameIssue>) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pending_blank = false;
    // Byte offsets in `out` where blanks separated two name characters.
    let mut boundaries: Vec<usize> = Vec::new();
    let mut depth = 0usize;
    let mut seen = Seen {
        blank: outer_blanks,
        ..Seen::default()
    };
    let mut last: Option<char> = None;
    let mut dotted = false;
    for c in s.chars() {
        if depth > 0 {
            if is_open_bracket(c) {
                depth += 1;
            } else if is_close_bracket(c) {
                depth -= 1;
            }
            continue;
        }
        let mapped = if text::is_blank(c) {
            seen.blank = true;
            pending_blank = true;
            continue;
        } else if is_open_bracket(c) {
            seen.bracketed = true;
            depth = 1;
            pending_blank = true;
            continue;
        } else if is_dot(c) {
            if c != MIDDLE_DOT {
                seen.dot_variant = true;
            }
            dotted = true;
            MIDDLE_DOT
        } else if is_unknown_marker(c) {
            seen.unknown = true;
            '?'
        } else if text::is_private_use(c) {
            seen.private_use = true;
            '?'
        } else if text::is_han(c) || (c.is_alphabetic() && !c.is_numeric()) {
            c
        } else if c.is_numeric() {
            seen.digits = true;
            continue;
        } else {
            seen.punctuation = true;
            continue;
        };
        if pending_blank && let Some(prev) = last {
            let name_char = |x: char| text::is_han(x) || x == '?';
            let letter = |x: char| x.is_alphabetic() && !text::is_han(x);
            if name_char(prev) && name_char(mapped) {
                boundaries.push(out.len());
            } else if letter(prev) && letter(mapped) {
                out.push(' ');
            }
        }
        pending_blank = false;
        out.push(mapped);
        last = Some(mapped);
    }
    if dotted {
        out = tidy_dots(&out);
    } else if !boundaries.is_empty() && blanks_are_dots(&out, &boundaries) {
        seen.space_as_dot = true;
        let mut dotted = String::with_capacity(out.len() + 2 * boundaries.len());
        let mut from = 0;
        for &b in &boundaries {
            dotted.push_str(&out[from..b]);
            dotted.push(MIDDLE_DOT);
            from = b;
        }
        dotted.push_str(&out[from..]);
        out = dotted;
    }
    for (flag, issue) in [
        (seen.blank, NameIssue::Whitespace),
        (seen.dot_variant, NameIssue::DotVariant),
        (seen.space_as_dot, NameIssue::SpaceAsDot),
        (seen.unknown, NameIssue::UnknownCharacter),
        (seen.private_use, NameIssue::PrivateUse),
        (seen.digits, NameIssue::ContainsDigits),
        (seen.bracketed, NameIssue::Bracketed),
        (seen.punctuation, NameIssue::Punctuation),
    ] {
        if flag {
            issues.push(issue);
        }
    }
    out
}

#[derive(Default)]
struct Seen {
    blank: bool,
    dot_variant: bool,
    space_as_dot: bool,
    unknown: bool,
    private_use: bool,
    digits: bool,
    bracketed: bool,
    punctuation: bool,
}

/// Blanks inside a Han name are read as the middle dot only when the name looks like a
/// transliterated one: every part at least 2 characters and 5 or more in all. Han names of
/// 5 characters are very rare, while `张 三` or `欧阳 明华` are ordinary names typed with a space.
/// Either way [`Name::without_dot`] is the same, so a wrong guess costs little.
fn blanks_are_dots(s: &str, boundaries: &[usize]) -> bool {
    if s.chars().any(|c| !(text::is_han(c) || c == '?')) {
        return false;
    }
    // `诸葛 孔明明`: a compound surname typed apart from the given name.
    if let (Some(first), Some((surname, _))) = (boundaries.first(), compound_surname(s))
        && surname.len() == *first
    {
        return false;
    }
    let mut from = 0;
    let mut total = 0;
    for &b in boundaries.iter().chain(std::iter::once(&s.len())) {
        let part = s.get(from..b).map_or(0, |p| p.chars().count());
        if part < 2 {
            return false;
        }
        total += part;
        from = b;
    }
    total >= 5
}

/// Removes leading, trailing and repeated middle dots, and spaces next to them.
fn tidy_dots(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pending_dot = false;
    for c in s.chars() {
        if c == MIDDLE_DOT {
            pending_dot = !out.is_empty();
            continue;
        }
        if c == ' ' && pending_dot {
            continue;
        }
        if pending_dot {
            if out.ends_with(' ') {
                out.pop();
            }
            out.push(MIDDLE_DOT);
            pending_dot = false;
        }
        out.push(c);
    }
    out
}

fn is_dot(c: char) -> bool {
    matches!(
        c,
        '\u{00B7}'
            | '\u{2022}'
            | '\u{30FB}'
            | '\u{FF0E}'
            | '.'
            | '\u{2027}'
            | '\u{FF65}'
            | '\u{2219}'
            | '\u{22C5}'
            | '\u{318D}'
            | '\u{0387}'
            | '\u{16EB}'
    )
}

fn is_unknown_marker(c: char) -> bool {
    matches!(
        c,
        '?' | '？' | '□' | '*' | '＊' | '〓' | '\u{FFFD}' | '■' | '◇' | '※'
    )
}

fn is_open_bracket(c: char) -> bool {
    matches!(
        c,
        '(' | '（' | '[' | '［' | '【' | '〔' | '{' | '｛' | '<' | '《' | '〈'
    )
}

fn is_close_bracket(c: char) -> bool {
    matches!(
        c,
        ')' | '）' | ']' | '］' | '】' | '〕' | '}' | '｝' | '>' | '》' | '〉'
    )
}

/// Toneless readings of one character, deduplicated, `ü` written `v`. Empty for anything
/// without pinyin data. Unified ideographs are looked up in [`UNIFIED_READINGS`].
fn char_readings(c: char) -> Vec<&'static str> {
    match UNIFIED_READINGS.get(c) {
        Some(readings) => readings.to_vec(),
        None => compute_readings(c),
    }
}

/// The readings of every CJK Unified Ideograph (U+4E00–U+9FFF), the block almost every
/// character of a name is in, computed once with [`compute_readings`] (a few milliseconds):
/// looking them up is far cheaper than reading the `pinyin` crate's tables and deduplicating
/// the toneless forms for every character of every name.
static UNIFIED_READINGS: LazyLock<ReadingTable> = LazyLock::new(|| {
    let mut table = ReadingTable {
        starts: Vec::with_capacity(UNIFIED_LEN + 1),
        flat: Vec::with_capacity(UNIFIED_LEN * 3 / 2),
    };
    table.starts.push(0);
    for c in (UNIFIED_FIRST..UNIFIED_FIRST + UNIFIED_LEN as u32).filter_map(char::from_u32) {
        table.flat.extend(compute_readings(c));
        table.starts.push(table.flat.len());
    }
    table
});

const UNIFIED_FIRST: u32 = 0x4E00;
const UNIFIED_LEN: usize = 0x5200;

/// Readings of a range of characters: those of character `UNIFIED_FIRST + i` are
/// `flat[starts[i]..starts[i + 1]]`.
struct ReadingTable {
    starts: Vec<usize>,
    flat: Vec<&'static str>,
}

impl ReadingTable {
    fn get(&self, c: char) -> Option<&[&'static str]> {
        let i = usize::try_from(u32::from(c).checked_sub(UNIFIED_FIRST)?).ok()?;
        let (from, to) = (*self.starts.get(i)?, *self.starts.get(i + 1)?);
        self.flat.get(from..to)
    }
}

/// [`char_readings`] from the `pinyin` crate's data.
fn compute_readings(c: char) -> Vec<&'static str> {
    let Some(multi) = c.to_pinyin_multi() else {
        return Vec::new();
    };
    if multi.count() == 1 {
        // Most characters have one reading: nothing to deduplicate.
        return vec![ascii_syllable(multi.get(0).plain())];
    }
    let mut out: Vec<&'static str> = Vec::with_capacity(multi.count());
    for p in multi {
        let s = ascii_syllable(p.plain());
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

/// The `pinyin` crate writes `ü` (`lü`, `nüe`) and `ê`; keys are ASCII, as in input methods.
#[inline]
fn ascii_syllable(s: &'static str) -> &'static str {
    if s.is_ascii() {
        return s;
    }
    match s {
        "lü" => "lv",
        "lüe" => "lve",
        "nü" => "nv",
        "nüe" => "nve",
        "ê" => "e",
        other => other,
    }
}

/// The compound surname the name starts with, if any: its first two characters (or 爱新觉罗)
/// are one of [`COMPOUND_SURNAMES`].
fn compound_surname(s: &str) -> Option<(&'static str, &'static [&'static str])> {
    const AISIN_GIORO: &str = "爱新觉罗";
    let at = COMPOUND_BY_PAIR
        .binary_search_by_key(&first_pair(s)?, |&(p, _)| p)
        .ok()?;
    let (sur, readings) = COMPOUND_SURNAMES[COMPOUND_BY_PAIR[at].1];
    // The only surname longer than two characters must be there in full.
    (sur != AISIN_GIORO || s.starts_with(AISIN_GIORO)).then_some((sur, readings))
}

/// The first two characters of `s` as one integer, if it has two.
fn first_pair(s: &str) -> Option<u64> {
    let mut chars = s.chars();
    let (a, b) = (chars.next()?, chars.next()?);
    Some(u64::from(a) << 32 | u64::from(b))
}

/// The indices of [`COMPOUND_SURNAMES`] by their first two characters ([`first_pair`]),
/// sorted for a binary search (cheaper than hashing the prefix), built once.
static COMPOUND_BY_PAIR: LazyLock<Vec<(u64, usize)>> = LazyLock::new(|| {
    let mut pairs: Vec<(u64, usize)> = COMPOUND_SURNAMES
        .iter()
        .enumerate()
        .filter_map(|(i, (sur, _))| Some((first_pair(sur)?, i)))
        .collect();
    pairs.sort_unstable();
    pairs
});

/// Compound surnames (复姓) with their readings. The common ones of the 百家姓 and a few
/// modern ones; the readings fix the polyphones (万俟 *mòqí*, 单于 *chányú*, 尉迟 *yùchí*).
const COMPOUND_SURNAMES: &[(&str, &[&str])] = &[
    ("爱新觉罗", &["ai", "xin", "jue", "luo"]),
    ("欧阳", &["ou", "yang"]),
    ("司马", &["si", "ma"]),
    ("诸葛", &["zhu", "ge"]),
    ("上官", &["shang", "guan"]),
    ("东方", &["dong", "fang"]),
    ("皇甫", &["huang", "fu"]),
    ("尉迟", &["yu", "chi"]),
    ("公孙", &["gong", "sun"]),
    ("慕容", &["mu", "rong"]),
    ("长孙", &["zhang", "sun"]),
    ("宇文", &["yu", "wen"]),
    ("司徒", &["si", "tu"]),
    ("夏侯", &["xia", "hou"]),
    ("轩辕", &["xuan", "yuan"]),
    ("令狐", &["ling", "hu"]),
    ("钟离", &["zhong", "li"]),
    ("端木", &["duan", "mu"]),
    ("独孤", &["du", "gu"]),
    ("南宫", &["nan", "gong"]),
    ("西门", &["xi", "men"]),
    ("呼延", &["hu", "yan"]),
    ("百里", &["bai", "li"]),
    ("万俟", &["mo", "qi"]),
    ("澹台", &["tan", "tai"]),
    ("公冶", &["gong", "ye"]),
    ("太史", &["tai", "shi"]),
    ("申屠", &["shen", "tu"]),
    ("闻人", &["wen", "ren"]),
    ("赫连", &["he", "lian"]),
    ("单于", &["chan", "yu"]),
    ("第五", &["di", "wu"]),
    ("司空", &["si", "kong"]),
    ("司寇", &["si", "kou"]),
    ("公羊", &["gong", "yang"]),
    ("宗政", &["zong", "zheng"]),
    ("濮阳", &["pu", "yang"]),
    ("淳于", &["chun", "yu"]),
    ("太叔", &["tai", "shu"]),
    ("仲孙", &["zhong", "sun"]),
    ("鲜于", &["xian", "yu"]),
    ("闾丘", &["lv", "qiu"]),
    ("亓官", &["qi", "guan"]),
    ("仉督", &["zhang", "du"]),
    ("子车", &["zi", "ju"]),
    ("颛孙", &["zhuan", "sun"]),
    ("巫马", &["wu", "ma"]),
    ("公西", &["gong", "xi"]),
    ("漆雕", &["qi", "diao"]),
    ("乐正", &["yue", "zheng"]),
    ("壤驷", &["rang", "si"]),
    ("公良", &["gong", "liang"]),
    ("拓跋", &["tuo", "ba"]),
    ("夹谷", &["jia", "gu"]),
    ("宰父", &["zai", "fu"]),
    ("谷梁", &["gu", "liang"]),
    ("段干", &["duan", "gan"]),
    ("东郭", &["dong", "guo"]),
    ("南门", &["nan", "men"]),
    ("羊舌", &["yang", "she"]),
    ("微生", &["wei", "sheng"]),
    ("梁丘", &["liang", "qiu"]),
    ("左丘", &["zuo", "qiu"]),
    ("东门", &["dong", "men"]),
    ("归海", &["gui", "hai"]),
    ("公仪", &["gong", "yi"]),
    ("公输", &["gong", "shu"]),
    ("即墨", &["ji", "mo"]),
    ("贺兰", &["he", "lan"]),
    ("完颜", &["wan", "yan"]),
];

/// Single-character surnames whose surname reading is not (only) the `pinyin` crate's first
/// reading. Where a character is a surname in two readings (乐 *yuè*/*lè*, 覃 *qín*/*tán*),
/// both are listed, the more common first.
const SINGLE_SURNAME_TABLE: &[(char, &[&str])] = &[
    ('单', &["shan"]),
    ('曾', &["zeng"]),
    ('解', &["xie"]),
    ('区', &["ou"]),
    ('仇', &["qiu"]),
    ('朴', &["piao", "pu"]),
    ('查', &["zha"]),
    ('覃', &["qin", "tan"]),
    ('盖', &["ge", "gai"]),
    ('重', &["chong"]),
    ('乐', &["yue", "le"]),
    ('缪', &["miao"]),
    ('翟', &["zhai", "di"]),
    ('种', &["chong"]),
    ('秘', &["bi"]),
    ('牟', &["mu", "mou"]),
    ('华', &["hua"]),
    ('任', &["ren"]),
    ('燕', &["yan"]),
    ('纪', &["ji"]),
    ('柏', &["bai"]),
    ('句', &["gou"]),
    ('冼', &["xian"]),
    ('洗', &["xian"]),
    ('宁', &["ning"]),
    ('员', &["yun"]),
    ('贲', &["ben"]),
    ('那', &["na"]),
    ('隗', &["wei"]),
    ('召', &["shao"]),
    ('谌', &["chen"]),
    ('折', &["she"]),
    ('宓', &["fu"]),
    ('郇', &["huan"]),
    ('沈', &["shen"]),
    ('薄', &["bo"]),
    ('卜', &["bu"]),
    ('繁', &["po"]),
    ('莘', &["shen"]),
    ('祭', &["zhai"]),
    ('眭', &["sui"]),
    ('逄', &["pang"]),
    ('逢', &["pang", "feng"]),
    ('阚', &["kan"]),
    ('尉', &["wei"]),
    ('都', &["du"]),
    ('传', &["chuan"]),
    ('粘', &["nian"]),
    ('啜', &["chuai"]),
    ('乜', &["nie"]),
    ('曲', &["qu"]),
    ('黑', &["he", "hei"]),
    ('车', &["che"]),
    ('石', &["shi"]),
    ('于', &["yu"]),
    ('藏', &["zang"]),
    ('万', &["wan"]),
    ('蔺', &["lin"]),
    ('郗', &["xi", "chi"]),
    ('瞿', &["qu"]),
    ('佘', &["she"]),
    ('过', &["guo"]),
    ('隽', &["juan"]),
    ('禚', &["zhuo"]),
    ('朝', &["chao"]),
    ('应', &["ying"]),
    ('相', &["xiang"]),
    ('行', &["xing", "hang"]),
    ('占', &["zhan"]),
    ('便', &["pian"]),
    ('番', &["pan"]),
    ('令', &["ling"]),
    ('殷', &["yin"]),
    ('和', &["he"]),
    ('陆', &["lu"]),
    ('六', &["lu"]),
    ('角', &["jue"]),
    ('能', &["nai"]),
    ('褚', &["chu"]),
    ('贾', &["jia"]),
    ('盛', &["sheng"]),
    ('炅', &["gui", "jiong"]),
    ('缑', &["gou"]),
    ('长', &["chang", "zhang"]),
    ('哈', &["ha"]),
    ('麴', &["qu"]),
    ('厍', &["she"]),
    ('昝', &["zan"]),
    ('亓', &["qi"]),
    ('鲜', &["xian"]),
    ('参', &["shen", "can"]),
    ('臧', &["zang"]),
];

/// [`SINGLE_SURNAME_TABLE`] sorted by character for a binary search, built once.
static SINGLE_SURNAMES: LazyLock<Vec<(char, &'static [&'static str])>> = LazyLock::new(|| {
    let mut table = SINGLE_SURNAME_TABLE.to_vec();
    table.sort_unstable_by_key(|&(c, _)| c);
    table
});

/// The surname readings of `c` from [`SINGLE_SURNAME_TABLE`], if it has its own.
fn single_surname_readings(c: char) -> Option<&'static [&'static str]> {
    let table = &*SINGLE_SURNAMES;
    let at = table.binary_search_by_key(&c, |&(t, _)| t).ok()?;
    Some(table[at].1)
}

/// Builds the pinyin key; `fold` (if any) rewrites each syllable (the fuzzy key).
fn build_key(
    standardized: &str,
    readings: &[Vec<&'static str>],
    surname_end: Option<usize>,
    fold: Option<fn(&str, &mut String)>,
) -> String {
    let mut out = String::with_capacity(standardized.len() * 2);
    let mut position = 0;
    let mut word_break = false;
    for (at, c) in standardized.char_indices() {
        if Some(at) == surname_end {
            word_break = true;
        }
        if c == MIDDLE_DOT {
            word_break = true;
            continue;
        }
        let reading = readings.get(position).and_then(|r| r.first());
        position += 1;
        if c == ' ' {
            word_break = true;
            continue;
        }
        if word_break && !out.is_empty() {
            out.push(' ');
        }
        word_break = false;
        match (reading, fold) {
            (Some(r), Some(f)) => f(r, &mut out),
            (Some(r), None) => out.push_str(r),
            (None, _) => {
                for l in c.to_lowercase() {
                    out.push(if l == 'ü' { 'v' } else { l });
                }
            }
        }
    }
    out
}

/// Folds one syllable for the fuzzy key: zh/ch/sh → z/c/s, n → l, -ng → -n.
fn fold_syllable(s: &str, out: &mut String) {
    let (initial, rest) = if let Some(r) = s.strip_prefix("zh") {
        ("z", r)
    } else if let Some(r) = s.strip_prefix("ch") {
        ("c", r)
    } else if let Some(r) = s.strip_prefix("sh") {
        ("s", r)
    } else if let Some(r) = s.strip_prefix('n').filter(|r| !r.is_empty() && *r != "g") {
        ("l", r)
    } else {
        ("", s)
    };
    out.push_str(initial);
    match rest.strip_suffix("ng").filter(|r| !r.is_empty()) {
        Some(r) => {
            out.push_str(r);
            out.push('n');
        }
        None => out.push_str(rest),
    }
}

/// Code points of the Han blocks, for building the syllable inventory.
const HAN_RANGES: &[(u32, u32)] = &[
    (0x3007, 0x3007),
    (0x3400, 0x4DBF),
    (0x4E00, 0x9FFF),
    (0xF900, 0xFAFF),
    (0x20000, 0x323AF),
];

/// Every toneless syllable the readings can hold, so that deserialised readings point at the
/// same `&'static str` as freshly computed ones. Built on first use (a few milliseconds), which
/// only deserialisation needs.
static SYLLABLES: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    let mut set = HashSet::with_capacity(512);
    for &(lo, hi) in HAN_RANGES {
        for c in (lo..=hi).filter_map(char::from_u32) {
            set.extend(char_readings(c));
        }
    }
    let tables = COMPOUND_SURNAMES.iter().map(|(_, r)| r);
    for r in tables.chain(SINGLE_SURNAME_TABLE.iter().map(|(_, r)| r)) {
        set.extend(r.iter().copied());
    }
    set
});

fn deserialize_readings<'de, D>(deserializer: D) -> Result<Vec<Vec<&'static str>>, D::Error>
where
    D: Deserializer<'de>,
{
    use serde::de::Error;
    let raw: Vec<Vec<String>> = Vec::deserialize(deserializer)?;
    raw.into_iter()
        .map(|position| {
            position
                .into_iter()
                .map(|s| {
                    SYLLABLES
                        .get(s.as_str())
                        .copied()
                        .ok_or_else(|| D::Error::custom(format!("unknown pinyin syllable {s:?}")))
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn std(raw: &str) -> Name {
        standardize_name(raw)
    }

    /// DOMAIN.md §4.3 and the brief: raw → standardized, with one issue that must be present.
    #[test]
    fn standardisation_table() {
        let cases: &[(&str, &str, Option<NameIssue>)] = &[
            ("张三", "张三", None),
            ("张  三", "张三", Some(NameIssue::Whitespace)),
            (" 张三 ", "张三", Some(NameIssue::Whitespace)),
            ("张\u{3000}三", "张三", Some(NameIssue::Whitespace)),
            ("张\u{00A0}三", "张三", Some(NameIssue::Whitespace)),
            ("张\u{200B}三", "张三", Some(NameIssue::Whitespace)),
            ("\u{FEFF}张三\t\n", "张三", Some(NameIssue::Whitespace)),
            ("劉德華", "刘德华", Some(NameIssue::TraditionalOrVariant)),
            ("陳麗華", "陈丽华", Some(NameIssue::TraditionalOrVariant)),
            ("於小明", "于小明", Some(NameIssue::TraditionalOrVariant)),
            ("王喆", "王喆", None),
            ("王哲", "王哲", None),
            ("汪明", "汪明", None),
            (
                "阿依古丽•买买提",
                "阿依古丽·买买提",
                Some(NameIssue::DotVariant),
            ),
            ("阿依古丽·买买提", "阿依古丽·买买提", None),
            (
                "阿依古丽・买买提",
                "阿依古丽·买买提",
                Some(NameIssue::DotVariant),
            ),
            (
                "阿依古丽．买买提",
                "阿依古丽·买买提",
                Some(NameIssue::DotVariant),
            ),
            (
                "阿依古丽.买买提",
                "阿依古丽·买买提",
                Some(NameIssue::DotVariant),
            ),
            (
                "阿依古丽‧买买提",
                "阿依古丽·买买提",
                Some(NameIssue::DotVariant),
            ),
            (
                "阿依古丽･买买提",
                "阿依古丽·买买提",
                Some(NameIssue::DotVariant),
            ),
            (
                "阿依古丽∙买买提",
                "阿依古丽·买买提",
                Some(NameIssue::DotVariant),
            ),
            (
                "阿依古丽 买买提",
                "阿依古丽·买买提",
                Some(NameIssue::SpaceAsDot),
            ),
            (
                "阿依古丽 · 买买提",
                "阿依古丽·买买提",
                Some(NameIssue::Whitespace),
            ),
            ("·阿依古丽··买买提·", "阿依古丽·买买提", None),
            ("欧阳 明华", "欧阳明华", Some(NameIssue::Whitespace)),
            ("诸葛 孔明明", "诸葛孔明明", Some(NameIssue::Whitespace)),
            ("王?明", "王?明", Some(NameIssue::UnknownCharacter)),
            ("王？明", "王?明", Some(NameIssue::UnknownCharacter)),
            ("王□明", "王?明", Some(NameIssue::UnknownCharacter)),
            ("王*明", "王?明", Some(NameIssue::UnknownCharacter)),
            ("王＊明", "王?明", Some(NameIssue::UnknownCharacter)),
            ("王\u{E816}明", "王?明", Some(NameIssue::PrivateUse)),
            ("王\u{F0001}明", "王?明", Some(NameIssue::PrivateUse)),
            ("张三2", "张三", Some(NameIssue::ContainsDigits)),
            ("张三(户主)", "张三", Some(NameIssue::Bracketed)),
            ("李四（已故）", "李四", Some(NameIssue::Bracketed)),
            ("张三,", "张三", Some(NameIssue::Punctuation)),
            ("ＺＨＡＮＧ ＳＡＮ", "ZHANG SAN", Some(NameIssue::FullWidth)),
            ("John   Smith", "John Smith", Some(NameIssue::Whitespace)),
            ("王min", "王min", Some(NameIssue::MixedScript)),
            ("张", "张", Some(NameIssue::TooShort)),
        ];
        for (raw, want, issue) in cases {
            let n = std(raw);
            assert_eq!(n.standardized, *want, "{raw:?}");
            assert_eq!(n.original, *raw);
            if let Some(issue) = issue {
                assert!(n.issues.contains(issue), "{raw:?}: {:?}", n.issues);
            }
        }
        assert!(std("张三").issues.is_empty());
    }

    #[test]
    fn not_names() {
        for (raw, issue) in [
            ("", NameIssue::Empty),
            ("   ", NameIssue::Empty),
            ("\u{3000}", NameIssue::Empty),
            ("NULL", NameIssue::NotAName),
            ("null", NameIssue::NotAName),
            ("不详", NameIssue::NotAName),
            ("无", NameIssue::NotAName),
            ("-", NameIssue::NotAName),
            ("123", NameIssue::NotAName),
            ("!!", NameIssue::NotAName),
        ] {
            let n = std(raw);
            assert!(!n.is_usable(), "{raw:?}");
            assert_eq!(n.script, NameScript::Empty, "{raw:?}");
            assert!(n.issues.contains(&issue), "{raw:?}: {:?}", n.issues);
            assert_eq!(n.original, raw);
        }
    }

    #[test]
    fn wildcards_are_recorded() {
        let n = std("王?明");
        assert_eq!(n.wildcards, vec![1]);
        assert!(n.has_wildcards());
        assert_eq!(n.pinyin, "wang ?ming");
        assert!(n.readings[1].is_empty());
        let dotted = std("阿依?丽·买买提");
        assert_eq!(dotted.wildcards, vec![2]);
    }

    #[test]
    fn surname_split() {
        let cases: &[(&str, Option<&str>, Option<&str>)] = &[
            ("张三", Some("张"), Some("三")),
            ("欧阳修", Some("欧阳"), Some("修")),
            ("欧阳明华", Some("欧阳"), Some("明华")),
            ("司马相如", Some("司马"), Some("相如")),
            ("诸葛亮", Some("诸葛"), Some("亮")),
            ("尉迟恭", Some("尉迟"), Some("恭")),
            ("万俟卨", Some("万俟"), Some("卨")),
            ("爱新觉罗溥仪", Some("爱新觉罗"), Some("溥仪")),
            ("欧阳", Some("欧"), Some("阳")),
            ("王?明", Some("王"), Some("?明")),
            ("阿依古丽·买买提", None, None),
            ("John Smith", None, None),
            ("张", None, None),
        ];
        for (raw, sur, given) in cases {
            let n = std(raw);
            assert_eq!(n.surname(), *sur, "{raw}");
            assert_eq!(n.given(), *given, "{raw}");
        }
    }

    #[test]
    fn pinyin_keys() {
        let cases: &[(&str, &str)] = &[
            ("曾国藩", "zeng guofan"),
            ("单雄信", "shan xiongxin"),
            ("解缙", "xie jin"),
            ("区小明", "ou xiaoming"),
            ("仇英", "qiu ying"),
            ("朴一", "piao yi"),
            ("查良镛", "zha liangyong"),
            ("覃明", "qin ming"),
            ("盖聂", "ge nie"),
            ("尉迟恭", "yuchi gong"),
            ("长孙无忌", "zhangsun wuji"),
            ("万俟卨", "moqi xie"),
            ("澹台明", "tantai ming"),
            ("单于明", "chanyu ming"),
            ("翟明", "zhai ming"),
            ("缪明", "miao ming"),
            ("吕明", "lv ming"),
            ("欧阳修", "ouyang xiu"),
            ("阿依古丽·买买提", "ayiguli maimaiti"),
            ("ZHANG SAN", "zhang san"),
            ("王min", "wang min"),
        ];
        for (raw, key) in cases {
            assert_eq!(std(raw).pinyin, *key, "{raw}");
        }
        assert!(std("曾国藩").pinyin.starts_with("zeng"));
        assert_eq!(std("曾国藩").surname_pinyin(), Some("zeng"));
        assert_eq!(std("阿依古丽·买买提").surname_pinyin(), None);
    }

    #[test]
    fn homophone_typos_share_keys() {
        for (a, b) in [
            ("李文", "李雯"),
            ("张晓明", "张小明"),
            ("劉德華", "刘德华"),
            ("阿依古丽•买买提", "阿依古丽 买买提"),
        ] {
            assert_eq!(std(a).pinyin, std(b).pinyin, "{a} / {b}");
            assert!(pinyin_compatible(&std(a), &std(b)), "{a} / {b}");
        }
        // 王/汪 are different surnames (DOMAIN.md §4.3): never folded in the matching form,
        // but homophones, so the phonetic key and compatibility rightly meet them; the
        // linkage must not rely on the name alone.
        assert_ne!(std("王明").standardized, std("汪明").standardized);
        assert_eq!(std("王明").pinyin, std("汪明").pinyin);
        assert_ne!(std("王喆").standardized, std("王哲").standardized);
        assert!(!pinyin_compatible(&std("王明"), &std("李明")));
        assert!(!pinyin_compatible(&std("王明"), &std("王明明")));
    }

    #[test]
    fn polyphones_in_given_names() {
        // 长: zhang/chang; 乐: le/yue; 行: xing/hang.
        for (a, b) in [
            ("王长", "王常"),
            ("王长", "王张"),
            ("李乐", "李月"),
            ("李乐", "李勒"),
            ("周行", "周航"),
            ("周行", "周星"),
        ] {
            assert!(pinyin_compatible(&std(a), &std(b)), "{a} / {b}");
            assert!(pinyin_compatible(&std(b), &std(a)), "{b} / {a}");
        }
        // At the surname position only the surname reading counts: 曾 is zeng, not ceng.
        assert!(pinyin_compatible(&std("曾明"), &std("增明")));
        assert!(!pinyin_compatible(&std("曾明"), &std("层明")));
    }

    #[test]
    fn wildcards_and_latin_in_compatibility() {
        assert!(pinyin_compatible(&std("王?明"), &std("王小明")));
        assert!(pinyin_compatible(&std("ZHANG SAN"), &std("张三")));
        assert!(pinyin_compatible(&std("张三"), &std("zhangsan")));
        assert!(pinyin_compatible(&std("Zhang Xiaoming"), &std("张?明")));
        assert!(!pinyin_compatible(&std("LI SI"), &std("张三")));
        assert!(pinyin_compatible(&std("王min"), &std("王敏")));
        assert!(!pinyin_compatible(&std(""), &std("")));
    }

    #[test]
    fn fuzzy_key_folds_southern_accents() {
        assert_eq!(std("张晓明").fuzzy_pinyin(), "zan xiaomin");
        assert_eq!(std("张晓明").fuzzy_pinyin(), std("詹小民").fuzzy_pinyin());
        assert_eq!(std("刘宁").fuzzy_pinyin(), std("牛林").fuzzy_pinyin());
        assert_eq!(std("陈生").fuzzy_pinyin(), std("岑森").fuzzy_pinyin());
        assert_eq!(std("吕女").fuzzy_pinyin(), "lv lv");
    }

    #[test]
    fn readings_align_with_without_dot() {
        let n = std("曾长乐");
        assert_eq!(n.readings.len(), 3);
        assert_eq!(n.readings[0], vec!["zeng"]);
        assert!(n.readings[1].contains(&"chang") && n.readings[1].contains(&"zhang"));
        assert!(n.readings[2].contains(&"le") && n.readings[2].contains(&"yue"));
        let d = std("阿依古丽·买买提");
        assert_eq!(d.readings.len(), d.without_dot.chars().count());
    }

    /// Readings go through serde as strings and come back as the same static syllables.
    #[test]
    fn readings_deserialise_to_static_syllables() {
        use serde::de::IntoDeserializer;
        use serde::de::value::{Error, SeqDeserializer};
        for raw in [
            "曾国藩",
            "阿依古丽•买买提",
            "王?明",
            "John Smith",
            "NULL",
            "吕女",
        ] {
            let n = std(raw);
            let owned: Vec<Vec<String>> = n
                .readings
                .iter()
                .map(|r| r.iter().map(|s| (*s).to_owned()).collect())
                .collect();
            let de: SeqDeserializer<_, Error> = owned.into_deserializer();
            let back = deserialize_readings(de).expect("known syllables");
            assert_eq!(back, n.readings, "{raw}");
        }
        let bad: Vec<Vec<String>> = vec![vec!["xyzzy".to_owned()]];
        let de: SeqDeserializer<_, Error> = bad.into_deserializer();
        assert!(deserialize_readings(de).is_err());
    }

    proptest! {
        #[test]
        fn never_panics_and_keeps_the_original(s in "\\PC{0,40}") {
            let n = standardize_name(&s);
            prop_assert_eq!(&n.original, &s);
            prop_assert_eq!(n.readings.len(), n.without_dot.chars().count());
            prop_assert!(n.standardized.chars().all(|c| c == ' ' || !text::is_blank(c)));
            let _ = n.fuzzy_pinyin();
        }

        #[test]
        fn never_panics_on_any_unicode(s in any::<String>()) {
            let n = standardize_name(&s);
            prop_assert_eq!(&n.original, &s);
        }

        #[test]
        fn standardising_is_idempotent(s in "\\PC{0,20}") {
            let once = standardize_name(&s);
            let twice = standardize_name(&once.standardized);
            prop_assert_eq!(&twice.standardized, &once.standardized);
            prop_assert_eq!(&twice.pinyin, &once.pinyin);
        }

        #[test]
        fn idempotent_on_name_like_text(s in "[张王李欧阳曾劉陳阿依古丽买提 ·•・．?□*a-zA-Z]{0,12}") {
            let once = standardize_name(&s);
            let twice = standardize_name(&once.standardized);
            prop_assert_eq!(&twice.standardized, &once.standardized);
            prop_assert_eq!(&twice.pinyin, &once.pinyin);
            prop_assert_eq!(&twice.readings, &once.readings);
        }

        #[test]
        fn compatibility_is_symmetric_and_reflexive(a in "[张章王汪李曾长乐行?]{1,4}", b in "[张章王汪李曾长乐行?]{1,4}") {
            let (na, nb) = (standardize_name(&a), standardize_name(&b));
            prop_assert_eq!(pinyin_compatible(&na, &nb), pinyin_compatible(&nb, &na));
            prop_assert!(pinyin_compatible(&na, &na));
        }
    }
}

/// Masks a name for display in lists (DOMAIN.md §5.2): `张三` → `张*`, `王小明` → `王*明`,
/// `欧阳婧怡` → `欧**怡`.
pub fn mask_name(name: &str) -> String {
    let chars: Vec<char> = name.trim().chars().collect();
    match chars.len() {
        0 => String::new(),
        1 => "*".to_owned(),
        2 => format!("{}*", chars[0]),
        n => {
            let mut s = String::with_capacity(n * 3);
            s.push(chars[0]);
            s.extend(std::iter::repeat_n('*', n - 2));
            s.push(chars[n - 1]);
            s
        }
    }
}

#[cfg(test)]
mod mask_tests {
    use super::mask_name;

    #[test]
    fn masks_names() {
        assert_eq!(mask_name("王小明"), "王*明");
        assert_eq!(mask_name("张三"), "张*");
        assert_eq!(mask_name("欧阳婧怡"), "欧**怡");
        assert_eq!(mask_name(""), "");
    }
}
