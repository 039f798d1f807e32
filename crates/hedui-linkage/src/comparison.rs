//! Comparisons: for each identity field, an ordered list of [`ComparisonLevel`]s from the
//! strongest agreement to "else", plus a null level when either side is missing. A pair's
//! comparison vector holds one `gamma` per comparison, in Splink's convention: `-1` null,
//! `0` the last ("else") level, the highest number the first (strongest) level.

use serde::{Deserialize, Serialize};

use crate::record::{IdQuality, Interner, NO_DATE, Records, ymd};

/// The fields the engine compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComparisonKind {
    /// 公民身份号码.
    IdNumber,
    /// Name (and former name).
    Name,
    /// Birth date.
    BirthDate,
    /// Gender.
    Gender,
    /// Address.
    Address,
    /// Phone.
    Phone,
}

impl ComparisonKind {
    /// All comparisons in output order.
    pub const ALL: [ComparisonKind; 6] = [
        ComparisonKind::IdNumber,
        ComparisonKind::Name,
        ComparisonKind::BirthDate,
        ComparisonKind::Gender,
        ComparisonKind::Address,
        ComparisonKind::Phone,
    ];

    /// Output column suffix (`gamma_<name>`).
    pub fn name(self) -> &'static str {
        match self {
            ComparisonKind::IdNumber => "id_number",
            ComparisonKind::Name => "name",
            ComparisonKind::BirthDate => "birth_date",
            ComparisonKind::Gender => "gender",
            ComparisonKind::Address => "address",
            ComparisonKind::Phone => "phone",
        }
    }

    /// The levels, strongest first, "else" last (the null level is implicit).
    pub fn levels(self) -> &'static [&'static str] {
        match self {
            ComparisonKind::IdNumber => &[
                "exact",
                "exact_after_15_to_18",
                "same_except_check_digit",
                "adjacent_transposition",
                "one_substitution",
                "different_valid_numbers",
                "else",
            ],
            ComparisonKind::Name => &[
                "exact",
                "exact_after_folding",
                "same_pinyin",
                "one_character_different",
                "jaro_winkler_high",
                "jaro_winkler_mid",
                "else",
            ],
            ComparisonKind::BirthDate => &[
                "exact",
                "day_month_swapped",
                "one_component_off",
                "within_one_day",
                "else",
            ],
            ComparisonKind::Gender => &["exact", "else"],
            ComparisonKind::Address => &["same_village", "same_township", "similar_text", "else"],
            ComparisonKind::Phone => &["exact", "else"],
        }
    }

    /// Levels whose weight is adjusted by how common the agreeing value is.
    pub fn tf_levels(self) -> &'static [usize] {
        match self {
            ComparisonKind::Name => &[0, 1, 2],
            _ => &[],
        }
    }

    /// gamma of a level index (0 = strongest).
    pub fn gamma_of(self, level: usize) -> i8 {
        (self.levels().len() - 1 - level) as i8
    }

    /// Level index of a gamma (`None` for the null level).
    pub fn level_of(self, gamma: i8) -> Option<usize> {
        (gamma >= 0).then(|| self.levels().len() - 1 - gamma as usize)
    }
}

/// A comparison vector: one gamma per [`ComparisonKind::ALL`] entry.
pub type Gammas = [i8; 6];

/// Compares record `l` of `left` with record `r` of `right`.
pub fn compare(left: &Records, l: usize, right: &Records, r: usize, strings: &Interner) -> Gammas {
    compare_with(left, l, right, r, strings, None)
}

/// [`compare`] for records whose names' [`NameShape`]s are at hand (`shapes`: the left
/// records', the right records'), with the same result.
pub fn compare_shaped(
    left: &Records,
    l: usize,
    right: &Records,
    r: usize,
    strings: &Interner,
    shapes: (&[NameShape], &[NameShape]),
) -> Gammas {
    let shapes = shapes.0.get(l).zip(shapes.1.get(r));
    compare_with(left, l, right, r, strings, shapes)
}

fn compare_with(
    left: &Records,
    l: usize,
    right: &Records,
    r: usize,
    strings: &Interner,
    shapes: Option<(&NameShape, &NameShape)>,
) -> Gammas {
    [
        ComparisonKind::IdNumber.gamma_or_null(id_level(left, l, right, r)),
        ComparisonKind::Name.gamma_or_null(name_level_with(left, l, right, r, strings, shapes)),
        ComparisonKind::BirthDate.gamma_or_null(dob_level(left.dob[l], right.dob[r])),
        ComparisonKind::Gender.gamma_or_null(eq_level(left.gender[l], right.gender[r], 0)),
        ComparisonKind::Address.gamma_or_null(address_level(left, l, right, r, strings)),
        ComparisonKind::Phone.gamma_or_null(eq_level(left.phone[l], right.phone[r], 0)),
    ]
}

impl ComparisonKind {
    fn gamma_or_null(self, level: Option<usize>) -> i8 {
        level.map_or(-1, |lv| self.gamma_of(lv))
    }
}

fn eq_level<T: PartialEq>(a: T, b: T, null: T) -> Option<usize> {
    if a == null || b == null {
        None
    } else if a == b {
        Some(0)
    } else {
        Some(1)
    }
}

/// ID-number levels. Typo levels apply only when at least one number fails its check
/// character: two *valid* numbers that differ are two people (twins' numbers differ in the
/// sequence digits and are both valid), however close they are — they get a level of their
/// own, `different_valid_numbers`, whose m is tiny. (Gammas are categories: that level's gamma
/// is above `else`'s although it is the stronger disagreement.)
pub fn id_level(left: &Records, l: usize, right: &Records, r: usize) -> Option<usize> {
    let (qa, qb) = (left.id_quality[l], right.id_quality[r]);
    if qa == IdQuality::Missing || qb == IdQuality::Missing {
        return None;
    }
    let (a, b) = (&left.id18[l], &right.id18[r]);
    if a == b {
        return Some(if left.id_was15[l] == right.id_was15[r] {
            0
        } else {
            1
        });
    }
    if qa == IdQuality::Valid && qb == IdQuality::Valid {
        return Some(5);
    }
    let other = 6;
    if a[..17] == b[..17] {
        return Some(2);
    }
    let diffs: Vec<usize> = (0..17).filter(|&i| a[i] != b[i]).collect();
    match diffs.as_slice() {
        [i, j] if *j == i + 1 && a[*i] == b[*j] && a[*j] == b[*i] => Some(3),
        [_] => Some(4),
        _ => Some(other),
    }
}

/// Characters of a string, for character-level comparisons.
fn chars(s: &str) -> Vec<char> {
    s.chars().collect()
}

/// One position differs (a wildcard `?` matches anything), same length. No allocation: this
/// runs for millions of pairs.
fn one_char_apart(a: &str, b: &str) -> bool {
    let (mut ia, mut ib) = (a.chars(), b.chars());
    let (mut len, mut differing) = (0usize, 0usize);
    loop {
        match (ia.next(), ib.next()) {
            (None, None) => break,
            (Some(x), Some(y)) => {
                len += 1;
                if x != y && x != '?' && y != '?' {
                    differing += 1;
                    if differing > 1 {
                        return false;
                    }
                }
            }
            _ => return false,
        }
    }
    len >= 2 && differing <= 1
}

#[allow(clippy::too_many_arguments)]
fn name_pair_level(
    a_raw: u32,
    a: u32,
    a_py: u32,
    b_raw: u32,
    b: u32,
    b_py: u32,
    s: &Interner,
    shapes: Option<(&NameShape, &NameShape)>,
) -> usize {
    if a_raw == b_raw && !s.get(a_raw).contains('?') {
        return 0;
    }
    if a == b && !s.get(a).contains('?') {
        return 1;
    }
    if a_py == b_py && a_py != 0 && !s.get(a_py).contains('?') {
        return 2;
    }
    // The strings are read only where the shapes cannot decide.
    let names = || (s.get(a), s.get(b));
    let apart = match shapes.and_then(|(x, y)| x.one_char_apart(y)) {
        Some(apart) => apart,
        None => {
            let (sa, sb) = names();
            one_char_apart(sa, sb)
        }
    };
    if apart {
        return 3;
    }
    let jw = if shapes.is_some_and(|(x, y)| x.names_below(y, 0.8)) {
        0.0
    } else {
        let (sa, sb) = names();
        jaro_winkler_at_least(sa, sb, 0.8)
    };
    if jw >= 0.92 {
        return 4;
    }
    // The pinyin similarity matters only where it can raise the level: to 4 from 5 (at 0.95),
    // or to 5 from 6 (at 0.88).
    let jw_py = if a_py != 0 && b_py != 0 {
        let needed = if jw >= 0.8 { 0.95 } else { 0.88 };
        if shapes.is_some_and(|(x, y)| x.pinyin_below(y, needed)) {
            0.0
        } else {
            jaro_winkler_at_least(s.get(a_py), s.get(b_py), needed)
        }
    } else {
        0.0
    };
    if jw_py >= 0.95 {
        4
    } else if jw >= 0.8 || jw_py >= 0.88 {
        5
    } else {
        6
    }
}

/// What the fuzzy name levels read of a record's name, worked out once for a record compared
/// with many others (each record of the u sample's pools is in some 50 pairs): its characters
/// and its pinyin's letters, from which most pairs of unrelated names are told apart without
/// reading either string. (Reading the strings, from an interner of megabytes, was most of
/// the u sample's time.) Where a shape cannot decide, the strings are compared as always, so
/// the levels are the same with shapes or without.
#[derive(Debug, Clone, Copy, Default)]
pub struct NameShape {
    /// The name's characters, if it has two to four.
    chars: [char; 4],
    /// How many, or 0 when the name has fewer than two or more than four.
    chars_len: u8,
    /// The pinyin's letter counts ([`letter_counts`]), if it has some.
    letters: [u8; 32],
    /// The pinyin's length in bytes, or 0 when `letters` are not known.
    pinyin_len: u8,
    /// The pinyin's first four bytes (fewer if it is shorter).
    pinyin_head: [u8; 4],
}

impl NameShape {
    /// The shape of the name and pinyin with these ids.
    pub fn of(name: u32, pinyin: u32, s: &Interner) -> NameShape {
        let mut shape = NameShape::default();
        let n = s.get(name);
        if (2..=4).contains(&n.chars().count()) {
            for (slot, c) in shape.chars.iter_mut().zip(n.chars()) {
                *slot = c;
            }
            shape.chars_len = n.chars().count() as u8;
        }
        let py = s.get(pinyin).as_bytes();
        if pinyin != 0
            && (1..=SMALL).contains(&py.len())
            && let Some(letters) = letter_counts(py)
        {
            shape.letters = letters;
            shape.pinyin_len = py.len() as u8;
            for (slot, b) in shape.pinyin_head.iter_mut().zip(py) {
                *slot = *b;
            }
        }
        shape
    }

    /// [`one_char_apart`] of the two names, if both shapes hold their characters.
    fn one_char_apart(&self, other: &NameShape) -> Option<bool> {
        if self.chars_len == 0 || other.chars_len == 0 {
            return None;
        }
        if self.chars_len != other.chars_len {
            return Some(false);
        }
        let n = usize::from(self.chars_len);
        let differing = self.chars[..n]
            .iter()
            .zip(&other.chars[..n])
            .filter(|&(&x, &y)| x != y && x != '?' && y != '?')
            .count();
        Some(differing <= 1)
    }

    /// True if the names' Jaro–Winkler similarity is certainly below `min` (the bound of
    /// [`jaro_winkler_at_least`] from their shared characters); false if it may not be.
    fn names_below(&self, other: &NameShape, min: f64) -> bool {
        if self.chars_len == 0 || other.chars_len == 0 {
            return false;
        }
        let (a, b) = (
            &self.chars[..usize::from(self.chars_len)],
            &other.chars[..usize::from(other.chars_len)],
        );
        bound(shared_chars(a, b), a.len(), b.len(), prefix(a, b)) < min
    }

    /// True if the pinyins' Jaro–Winkler similarity is certainly below `min`.
    fn pinyin_below(&self, other: &NameShape, min: f64) -> bool {
        if self.pinyin_len == 0 || other.pinyin_len == 0 {
            return false;
        }
        let (la, lb) = (usize::from(self.pinyin_len), usize::from(other.pinyin_len));
        let shared = shared_letters(&self.letters, &other.letters);
        let heads = (
            &self.pinyin_head[..la.min(4)],
            &other.pinyin_head[..lb.min(4)],
        );
        bound(shared, la, lb, prefix(heads.0, heads.1)) < min
    }
}

/// The [`NameShape`] of each record's name.
pub fn name_shapes(records: &Records, s: &Interner) -> Vec<NameShape> {
    records
        .name
        .iter()
        .zip(&records.pinyin)
        .map(|(&name, &pinyin)| NameShape::of(name, pinyin, s))
        .collect()
}

/// Jaro–Winkler similarity of `a` and `b` (strsim's, per character) when it can reach `min`,
/// else 0. An upper bound from the characters the two strings share decides cheaply for most
/// pairs of unrelated names (the u sample compares millions of them): Jaro is at most
/// (m/|a| + m/|b| + 1)/3 with m the shared characters, and Winkler's prefix bonus adds at most
/// 0.4 of the remainder. The result is exact whenever it is at least `min`.
pub fn jaro_winkler_at_least(a: &str, b: &str, min: f64) -> f64 {
    if a.is_ascii() && b.is_ascii() {
        let (x, y) = (a.as_bytes(), b.as_bytes());
        if x.len() > SMALL || y.len() > SMALL {
            return strsim::jaro_winkler(a, b);
        }
        let shared = match (letter_counts(x), letter_counts(y)) {
            // Pinyin: the shared letters are the sum of the smaller counts, letter by letter.
            (Some(cx), Some(cy)) => shared_letters(&cx, &cy),
            _ => {
                let mut counts = [0i16; 128];
                for &c in x {
                    counts[usize::from(c)] += 1;
                }
                let mut shared = 0usize;
                for &c in y {
                    let n = &mut counts[usize::from(c)];
                    if *n > 0 {
                        *n -= 1;
                        shared += 1;
                    }
                }
                shared
            }
        };
        return if bound(shared, x.len(), y.len(), prefix(x, y)) < min {
            0.0
        } else {
            jaro_winkler_small(x, y)
        };
    }
    let mut ca = ['\0'; MAX_CHARS];
    let mut cb = ['\0'; MAX_CHARS];
    let (mut la, mut lb) = (0usize, 0usize);
    for c in a.chars() {
        if la == MAX_CHARS {
            return strsim::jaro_winkler(a, b);
        }
        ca[la] = c;
        la += 1;
    }
    for c in b.chars() {
        if lb == MAX_CHARS {
            return strsim::jaro_winkler(a, b);
        }
        cb[lb] = c;
        lb += 1;
    }
    let (ca, cb) = (&ca[..la], &cb[..lb]);
    if bound(shared_chars(ca, cb), la, lb, prefix(ca, cb)) < min {
        0.0
    } else {
        jaro_winkler_small(ca, cb)
    }
}

/// How many times each letter occurs in text of lowercase ASCII letters and blanks (pinyin),
/// by its low five bits (the blank's are 0, `a`–`z`'s 1–26); `None` for other text. Counting
/// both strings and summing the smaller counts has no branch that depends on the letters,
/// and the sum is a few vector instructions.
fn letter_counts(x: &[u8]) -> Option<[u8; 32]> {
    let mut counts = [0u8; 32];
    for &c in x {
        if c != b' ' && !c.is_ascii_lowercase() {
            return None;
        }
        // At most SMALL (64) letters: no count overflows.
        counts[usize::from(c & 31)] += 1;
    }
    Some(counts)
}

/// The longest non-ASCII text [`jaro_winkler_at_least`] bounds (longer goes to strsim whole).
const MAX_CHARS: usize = 24;

/// The letters two texts of [`letter_counts`] share: the smaller count, letter by letter.
fn shared_letters(a: &[u8; 32], b: &[u8; 32]) -> usize {
    a.iter().zip(b).map(|(x, y)| usize::from(*x.min(y))).sum()
}

/// The characters two sequences of at most [`MAX_CHARS`] share (each matched once).
fn shared_chars(a: &[char], b: &[char]) -> usize {
    let mut used = 0u32;
    let mut shared = 0usize;
    for x in a {
        if let Some(k) = (0..b.len()).find(|&k| used >> k & 1 == 0 && b[k] == *x) {
            used |= 1 << k;
            shared += 1;
        }
    }
    shared
}

/// The longest sequence [`jaro_winkler_small`] takes (its match flags are bits of a `u64`).
const SMALL: usize = 64;

/// The highest Jaro–Winkler similarity two sequences of these lengths sharing `shared`
/// elements (in any positions) and a common prefix of `prefix` elements can have: Jaro with
/// every shared element matched and none transposed, and Winkler's bonus (0.1 per prefix
/// element, given only above a Jaro of 0.7) on that. The similarity only grows with Jaro, so
/// this is a bound; unrelated names, with different first characters, get no bonus at all.
fn bound(shared: usize, la: usize, lb: usize, prefix: usize) -> f64 {
    if la == 0 || lb == 0 {
        // Empty strings: strsim's own answer (1 for two empty ones) is never cut off.
        return 1.0;
    }
    let m = shared as f64;
    let jaro = if shared == 0 {
        0.0
    } else {
        (m / la as f64 + m / lb as f64 + 1.0) / 3.0
    };
    if jaro > 0.7 {
        jaro + 0.1 * prefix as f64 * (1.0 - jaro)
    } else {
        jaro
    }
}

/// The common prefix of two sequences, up to the four elements Winkler's bonus counts.
fn prefix<T: PartialEq>(a: &[T], b: &[T]) -> usize {
    a.iter().zip(b).take(4).take_while(|(x, y)| x == y).count()
}

/// strsim's Jaro–Winkler on sequences of at most [`SMALL`] elements, with match flags in
/// bit sets instead of the vector strsim allocates on every call: the same greedy matching
/// inside the window, the same transpositions and the same arithmetic, so the same `f64`
/// (a property test holds it to strsim's).
fn jaro_winkler_small<T: PartialEq + Copy>(a: &[T], b: &[T]) -> f64 {
    let (la, lb) = (a.len(), b.len());
    if la == 0 && lb == 0 {
        return 1.0;
    }
    if la == 0 || lb == 0 {
        return 0.0;
    }
    let window = (la.max(lb) / 2).saturating_sub(1);
    let (mut a_matched, mut b_matched) = (0u64, 0u64);
    let mut matches = 0usize;
    for (i, x) in a.iter().enumerate() {
        let (lo, hi) = (i.saturating_sub(window), lb.min(i + window + 1));
        if let Some(j) = (lo..hi).find(|&j| b_matched >> j & 1 == 0 && b[j] == *x) {
            a_matched |= 1 << i;
            b_matched |= 1 << j;
            matches += 1;
        }
    }
    if matches == 0 {
        return 0.0;
    }
    // Matched elements of `a` and of `b`, each in order, compared pairwise.
    let mut half_transpositions = 0usize;
    let mut rest = b_matched;
    for (i, x) in a.iter().enumerate() {
        if a_matched >> i & 1 == 1 {
            let j = rest.trailing_zeros() as usize;
            rest &= rest - 1;
            if b[j] != *x {
                half_transpositions += 1;
            }
        }
    }
    let transpositions = half_transpositions / 2;
    let m = matches as f64;
    let jaro = ((m / la as f64) + (m / lb as f64) + ((matches - transpositions) as f64 / m)) / 3.0;
    if jaro > 0.7 {
        let prefix = a.iter().take(4).zip(b).take_while(|(x, y)| x == y).count();
        jaro + 0.1 * prefix as f64 * (1.0 - jaro)
    } else {
        jaro
    }
}

/// Name levels, also trying the former names (曾用名) and keeping the best.
pub fn name_level(
    left: &Records,
    l: usize,
    right: &Records,
    r: usize,
    s: &Interner,
) -> Option<usize> {
    name_level_with(left, l, right, r, s, None)
}

fn name_level_with(
    left: &Records,
    l: usize,
    right: &Records,
    r: usize,
    s: &Interner,
    shapes: Option<(&NameShape, &NameShape)>,
) -> Option<usize> {
    let (a, b) = (left.name[l], right.name[r]);
    if a == 0 || b == 0 {
        return None;
    }
    let mut best = name_pair_level(
        left.name_raw[l],
        a,
        left.pinyin[l],
        right.name_raw[r],
        b,
        right.pinyin[r],
        s,
        shapes,
    );
    if best > 1 {
        // A former name agreeing exactly is as good as the folded level.
        let fa = left.former_name[l];
        let fb = right.former_name[r];
        if (fa != 0 && (fa == b || fa == fb)) || (fb != 0 && fb == a) {
            best = 1;
        }
    }
    Some(best)
}

/// Birth-date levels.
pub fn dob_level(a: i32, b: i32) -> Option<usize> {
    if a == NO_DATE || b == NO_DATE {
        return None;
    }
    if a == b {
        return Some(0);
    }
    let (ya, ma, da) = ymd(a);
    let (yb, mb, db) = ymd(b);
    if ya == yb && ma == db && da == mb {
        return Some(1);
    }
    let differing = u8::from(ya != yb) + u8::from(ma != mb) + u8::from(da != db);
    if differing == 1 {
        return Some(2);
    }
    if (a - b).abs() == 1 {
        return Some(3);
    }
    Some(4)
}

fn bigram_jaccard(a: &str, b: &str) -> f64 {
    let grams = |s: &str| {
        let c = chars(s);
        let mut g: Vec<(char, char)> = c.windows(2).map(|w| (w[0], w[1])).collect();
        g.sort_unstable();
        g.dedup();
        g
    };
    let (ga, gb) = (grams(a), grams(b));
    if ga.is_empty() || gb.is_empty() {
        return 0.0;
    }
    let inter = ga.iter().filter(|x| gb.binary_search(x).is_ok()).count();
    inter as f64 / (ga.len() + gb.len() - inter) as f64
}

/// Address levels.
pub fn address_level(
    left: &Records,
    l: usize,
    right: &Records,
    r: usize,
    s: &Interner,
) -> Option<usize> {
    let (ta, tb) = (left.township[l], right.township[r]);
    let (aa, ab) = (left.address[l], right.address[r]);
    if (ta == 0 || tb == 0) && (aa == 0 || ab == 0) {
        return None;
    }
    if ta != 0 && ta == tb {
        let (va, vb) = (left.village[l], right.village[r]);
        return Some(if va != 0 && va == vb { 0 } else { 1 });
    }
    if ta != 0 && tb != 0 {
        // Both places are known and differ: text likeness would only echo a shared road name.
        return Some(3);
    }
    if aa != 0 && ab != 0 && bigram_jaccard(s.get(aa), s.get(ab)) >= 0.5 {
        return Some(2);
    }
    Some(3)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{InputRecord, prepare};
    use proptest::prelude::*;

    fn rec(name: &str, id: &str, dob: Option<&str>) -> InputRecord {
        InputRecord {
            record_id: format!("{name}{id}"),
            name: Some(name.into()),
            id_number: (!id.is_empty()).then(|| id.into()),
            birth_date: dob.map(Into::into),
            ..Default::default()
        }
    }

    fn gammas(a: InputRecord, b: InputRecord) -> Gammas {
        let mut s = Interner::new();
        let l = prepare(&[a], &mut s, None);
        let r = prepare(&[b], &mut s, None);
        compare(&l, 0, &r, 0, &s)
    }

    #[test]
    fn id_levels() {
        let g = |a: &str, b: &str| gammas(rec("张三", a, None), rec("张三", b, None))[0];
        let id = ComparisonKind::IdNumber;
        assert_eq!(
            g("421303198001010018", "421303198001010018"),
            id.gamma_of(0)
        );
        assert_eq!(g("429001491001003", "429001194910010031"), id.gamma_of(1));
        assert_eq!(
            g("421303198001010018", "421303198001010017"),
            id.gamma_of(2)
        );
        assert_eq!(
            g("421303198001010018", "421303198010010018"),
            id.gamma_of(3)
        );
        assert_eq!(
            g("421303198001010018", "421303198001020018"),
            id.gamma_of(4)
        );
        assert_eq!(g("421303198001010018", ""), -1);
    }

    #[test]
    fn twins_valid_ids_one_digit_apart_are_else() {
        // Same region and birth date, sequence 001 vs 002, both with valid check characters.
        let a = "421303198001010018";
        let first17 = b"42130319800101002";
        let c = hedui_identity::id::check_char(first17).expect("digits");
        let b = format!("42130319800101002{}", char::from(c));
        let g = gammas(rec("张三", a, None), rec("张山", &b, None));
        assert_eq!(
            ComparisonKind::IdNumber.level_of(g[0]),
            Some(5),
            "valid, different numbers are different people"
        );
    }

    #[test]
    fn name_levels() {
        let g = |a: &str, b: &str| gammas(rec(a, "", None), rec(b, "", None))[1];
        let n = ComparisonKind::Name;
        assert_eq!(g("张三", "张三"), n.gamma_of(0));
        assert_eq!(g("劉德華", "刘德华"), n.gamma_of(1));
        assert_eq!(g("李文", "李雯"), n.gamma_of(2));
        assert_eq!(g("王小明", "王大明"), n.gamma_of(3));
        assert_eq!(g("王?明", "王晓明"), n.gamma_of(3));
        assert_eq!(g("欧阳娜娜", "赵钱"), n.gamma_of(6));
    }

    #[test]
    fn date_levels() {
        assert_eq!(dob_level(100, 100), Some(0));
        let d = |s: &str| {
            let x = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date");
            crate::record::date_of(0).map_or(0, |e| (x - e).num_days() as i32)
        };
        assert_eq!(dob_level(d("1980-03-05"), d("1980-05-03")), Some(1));
        assert_eq!(dob_level(d("1980-03-05"), d("1981-03-05")), Some(2));
        assert_eq!(dob_level(d("1980-03-31"), d("1980-04-01")), Some(3));
        assert_eq!(dob_level(d("1980-03-31"), d("1990-04-01")), Some(4));
        assert_eq!(dob_level(NO_DATE, 5), None);
    }

    /// [`jaro_winkler_at_least`] is strsim's similarity when that reaches `min`, and below
    /// `min` when it does not.
    fn bound_is_exact_above(a: &str, b: &str, min: f64) -> Result<(), TestCaseError> {
        let exact = strsim::jaro_winkler(a, b);
        let bounded = jaro_winkler_at_least(a, b, min);
        if exact >= min {
            prop_assert_eq!(bounded, exact);
        } else {
            prop_assert!(bounded < min);
        }
        Ok(())
    }

    proptest! {
        /// The bound never changes a similarity that reaches the threshold.
        #[test]
        fn bounded_jaro_winkler_is_exact_above_the_threshold(a in "[a-z ]{0,12}|[a-cA-C0-2 ]{0,12}|[张王李文雯晓小明伟]{0,4}", b in "[a-z ]{0,12}|[a-cA-C0-2 ]{0,12}|[张王李文雯晓小明伟]{0,4}", min in 0.0f64..1.0) {
            bound_is_exact_above(&a, &b, min)?;
        }

        /// Names compared through their shapes get the levels they get compared as strings:
        /// names of one to six characters (some traditional, some wildcards, some Latin),
        /// their pinyin as the standardiser makes it, and former names.
        #[test]
        fn shaped_comparison_gives_the_same_levels(
            names in prop::collection::vec(
                "[张王李文雯晓小明伟劉曉欧阳?]{1,6}|[a-cA-C ]{1,8}|王?明|[李張]{2}",
                2..12,
            ),
            former in prop::collection::vec(prop::option::of("[张王李明]{2,3}"), 12),
        ) {
            let records: Vec<InputRecord> = names
                .iter()
                .zip(&former)
                .map(|(n, f)| InputRecord {
                    record_id: n.clone(),
                    name: Some(n.clone()),
                    former_name: f.clone(),
                    ..Default::default()
                })
                .collect();
            let mut s = Interner::new();
            let r = prepare(&records, &mut s, None);
            let shapes = name_shapes(&r, &s);
            for i in 0..r.len() {
                for j in 0..r.len() {
                    prop_assert_eq!(
                        compare_shaped(&r, i, &r, j, &s, (&shapes, &shapes)),
                        compare(&r, i, &r, j, &s),
                        "{} / {}", names[i], names[j]
                    );
                }
            }
        }

        /// Each test a shape answers agrees with the strings': a pair it finds one character
        /// apart is, and a similarity it finds below a threshold is below it.
        #[test]
        fn shapes_answer_as_the_strings_do(
            a in "[张王李文雯?]{1,5}|[a-c ]{1,10}",
            b in "[张王李文雯?]{1,5}|[a-c ]{1,10}",
            min in 0.5f64..1.0,
        ) {
            let mut s = Interner::new();
            let (ia, ib) = (s.intern(&a), s.intern(&b));
            let (x, y) = (NameShape::of(ia, ia, &s), NameShape::of(ib, ib, &s));
            if let Some(apart) = x.one_char_apart(&y) {
                prop_assert_eq!(apart, one_char_apart(&a, &b));
            }
            let jw = strsim::jaro_winkler(&a, &b);
            if x.names_below(&y, min) {
                prop_assert!(jw < min, "{} / {}: {} not below {}", a, b, jw, min);
            }
            if x.pinyin_below(&y, min) {
                prop_assert!(jw < min, "{} / {}: {} not below {}", a, b, jw, min);
            }
        }

        /// Also for strings sharing a prefix, where Winkler's bonus counts in the bound.
        #[test]
        fn bounded_jaro_winkler_is_exact_with_shared_prefixes(stem in "[a-c ]{0,5}|[张王李]{0,3}", a in "[a-e ]{0,8}|[张王李文雯]{0,3}", b in "[a-e ]{0,8}|[张王李文雯]{0,3}", min in 0.5f64..1.0) {
            bound_is_exact_above(&format!("{stem}{a}"), &format!("{stem}{b}"), min)?;
        }

        /// The allocation-free Jaro–Winkler is strsim's, to the bit.
        #[test]
        fn small_jaro_winkler_is_strsims(a in "[a-e ]{0,70}|[张王李文雯晓小明伟]{0,8}", b in "[a-e ]{0,70}|[张王李文雯晓小明伟]{0,8}") {
            let exact = strsim::jaro_winkler(&a, &b);
            let (ca, cb): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
            if ca.len() <= SMALL && cb.len() <= SMALL {
                prop_assert_eq!(jaro_winkler_small(&ca, &cb).to_bits(), exact.to_bits());
            }
            prop_assert_eq!(jaro_winkler_at_least(&a, &b, 0.0).to_bits(), exact.to_bits());
        }

        #[test]
        fn comparisons_are_symmetric(a in "[张王李刘陈文雯晓小明?]{1,4}", b in "[张王李刘陈文雯晓小明?]{1,4}", da in 0i32..20000, db in 0i32..20000) {
            let mut s = Interner::new();
            let recs = prepare(&[rec(&a, "", None), rec(&b, "", None)], &mut s, None);
            let ab = compare(&recs, 0, &recs, 1, &s);
            let ba = compare(&recs, 1, &recs, 0, &s);
            prop_assert_eq!(ab, ba);
            prop_assert_eq!(dob_level(da, db), dob_level(db, da));
            for (k, g) in ComparisonKind::ALL.iter().zip(ab) {
                prop_assert!(g >= -1 && (g as usize) < k.levels().len() || g == -1);
            }
        }
    }
}
