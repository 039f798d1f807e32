//! How each department damages identity data (DOMAIN.md §4.5), at configurable rates.
//!
//! Every damaged value is tagged (`id15`, `name_trad`, …) in the ground truth, so that linkage
//! recall can be broken down by kind of corruption.

use chrono::{Datelike, Duration, NaiveDate};
use hedui_identity::id::check_char;
use rand::Rng;

use crate::city::Person;
use crate::names;
use crate::write::Cell;

/// Rates of each kind of damage for one department. All are probabilities per record.
#[derive(Debug, Clone, Copy)]
pub struct Profile {
    /// Legacy 15-digit number (only for people born before 1990).
    pub id15: f64,
    /// Lower-case `x` for an `X` check character.
    pub lower_x: f64,
    /// Full-width digits.
    pub fullwidth: f64,
    /// Spaces or dashes inside the number.
    pub separators: f64,
    /// One digit substituted.
    pub id_typo: f64,
    /// Two adjacent digits swapped.
    pub id_transpose: f64,
    /// ID missing (null placeholder).
    pub id_missing: f64,
    /// Typed as a number in a spreadsheet (digits lost).
    pub excel_number: f64,
    /// Spreadsheet text quoting (`'` prefix).
    pub excel_quote: f64,
    /// Name written in traditional characters.
    pub name_trad: f64,
    /// Homophone typo in the given name.
    pub homophone: f64,
    /// Look-alike typo.
    pub lookalike: f64,
    /// Stray whitespace in the name.
    pub name_space: f64,
    /// Another middle-dot character in transliterated names.
    pub dot_variant: f64,
    /// The system stores names in GBK: characters outside it become `?`.
    pub gbk_only: bool,
    /// Birth date typo (day/month swapped, a day off).
    pub dob_typo: f64,
}

impl Profile {
    /// Scales every rate by `k` (the `--dirty` factor), capped at 1.
    pub fn scaled(self, k: f64) -> Profile {
        let s = |x: f64| (x * k).min(1.0);
        Profile {
            id15: s(self.id15),
            lower_x: s(self.lower_x),
            fullwidth: s(self.fullwidth),
            separators: s(self.separators),
            id_typo: s(self.id_typo),
            id_transpose: s(self.id_transpose),
            id_missing: s(self.id_missing),
            excel_number: s(self.excel_number),
            excel_quote: s(self.excel_quote),
            name_trad: s(self.name_trad),
            homophone: s(self.homophone),
            lookalike: s(self.lookalike),
            name_space: s(self.name_space),
            dot_variant: s(self.dot_variant),
            gbk_only: self.gbk_only,
            dob_typo: s(self.dob_typo),
        }
    }
}

const CLEAN: Profile = Profile {
    id15: 0.0,
    lower_x: 0.0,
    fullwidth: 0.0,
    separators: 0.0,
    id_typo: 0.0,
    id_transpose: 0.0,
    id_missing: 0.0,
    excel_number: 0.0,
    excel_quote: 0.0,
    name_trad: 0.0,
    homophone: 0.0,
    lookalike: 0.0,
    name_space: 0.0,
    dot_variant: 0.0,
    gbk_only: false,
    dob_typo: 0.0,
};

/// 公安: the identity spine, nearly clean.
pub const GONGAN: Profile = Profile {
    name_trad: 0.001,
    name_space: 0.002,
    ..CLEAN
};

/// 卫健: hand-filled certificates, kept in spreadsheets.
pub const WEIJIAN: Profile = Profile {
    id_missing: 0.01,
    id_typo: 0.006,
    id_transpose: 0.003,
    excel_number: 0.004,
    excel_quote: 0.02,
    lower_x: 0.5,
    name_trad: 0.01,
    homophone: 0.008,
    lookalike: 0.002,
    name_space: 0.01,
    dot_variant: 0.3,
    dob_typo: 0.006,
    ..CLEAN
};

/// 人社: a legacy GBK system with old 15-digit numbers.
pub const RENSHE: Profile = Profile {
    id15: 0.08,
    lower_x: 0.6,
    fullwidth: 0.005,
    separators: 0.01,
    id_typo: 0.003,
    id_transpose: 0.002,
    name_trad: 0.004,
    homophone: 0.006,
    lookalike: 0.002,
    name_space: 0.005,
    dot_variant: 0.5,
    gbk_only: true,
    ..CLEAN
};

/// 住建 / 不动产: old registrations with missing and separated numbers.
pub const ZHUJIAN: Profile = Profile {
    id15: 0.03,
    id_missing: 0.008,
    separators: 0.03,
    id_typo: 0.003,
    id_transpose: 0.002,
    lower_x: 0.3,
    name_trad: 0.012,
    homophone: 0.004,
    name_space: 0.02,
    dot_variant: 0.5,
    ..CLEAN
};

/// 民政: typed in by caseworkers.
pub const MINZHENG: Profile = Profile {
    id_typo: 0.003,
    id_transpose: 0.002,
    lower_x: 0.2,
    homophone: 0.003,
    name_space: 0.005,
    dob_typo: 0.003,
    ..CLEAN
};

/// The damage done to one record's identity values.
#[derive(Debug, Default, Clone)]
pub struct Tags(pub Vec<&'static str>);

impl Tags {
    fn add(&mut self, t: &'static str) {
        self.0.push(t);
    }

    /// `a|b|c`, as stored in the ground truth.
    pub fn joined(&self) -> String {
        self.0.join("|")
    }
}

/// Renders a person's ID number the way a department with `profile` delivers it.
pub fn id_cell(rng: &mut impl Rng, profile: &Profile, p: &Person, tags: &mut Tags) -> Cell {
    if rng.random_bool(profile.id_missing) {
        tags.add("id_missing");
        return Cell::text(["", "无", "NULL"][rng.random_range(0..3)]);
    }
    let mut id = p.id18.clone();
    if rng.random_bool(profile.id_typo) {
        let b = unsafe_free_typo(rng, &id);
        id = b;
        tags.add("id_typo");
    } else if rng.random_bool(profile.id_transpose) {
        let pos = rng.random_range(0..16);
        let mut b: Vec<char> = id.chars().collect();
        if b[pos] != b[pos + 1] {
            b.swap(pos, pos + 1);
            id = b.into_iter().collect();
            tags.add("id_transpose");
        }
    }
    if p.birth.year() < 1990 && &id[6..8] == "19" && rng.random_bool(profile.id15) {
        id = format!("{}{}", &id[..6], &id[8..17]);
        tags.add("id15");
    }
    if rng.random_bool(profile.excel_number) && id.len() == 18 && !id.ends_with('X') {
        // Excel keeps 15 significant digits: the tail becomes zeros, then the float prints.
        tags.add("id_excel_number");
        let v: f64 = id.parse().unwrap_or(0.0);
        return Cell::Num(v);
    }
    if id.ends_with('X') && rng.random_bool(profile.lower_x) {
        id = id.replace('X', "x");
        tags.add("id_lower_x");
    }
    if rng.random_bool(profile.separators) {
        id = if rng.random_bool(0.5) {
            format!(
                "{} {} {}",
                &id[..6],
                &id[6..id.len() - 4],
                &id[id.len() - 4..]
            )
        } else {
            format!("{}-{}", &id[..6], &id[6..])
        };
        tags.add("id_separators");
    }
    if rng.random_bool(profile.fullwidth) {
        id = id
            .chars()
            .map(|c| match c {
                '0'..='9' => char::from_u32(c as u32 - '0' as u32 + 0xFF10).unwrap_or(c),
                'X' => 'Ｘ',
                c => c,
            })
            .collect();
        tags.add("id_fullwidth");
    }
    if rng.random_bool(profile.excel_quote) {
        id = format!("'{id}");
        tags.add("id_excel_quote");
    }
    Cell::text(id)
}

/// One digit of the first 17 replaced by another (the check character is then wrong, as it is
/// when a clerk mistypes).
fn unsafe_free_typo(rng: &mut impl Rng, id: &str) -> String {
    let mut b = id.as_bytes().to_vec();
    let pos = rng.random_range(0..17);
    let d = b[pos] - b'0';
    b[pos] = b'0' + (d + rng.random_range(1..10)) % 10;
    // A typo that happens to keep the check character valid is still a typo; keep it.
    let _ = check_char(&b[..17]);
    String::from_utf8(b).unwrap_or_else(|_| id.to_owned())
}

/// Renders a name the way a department with `profile` writes it.
pub fn name_text(
    rng: &mut impl Rng,
    profile: &Profile,
    name: &str,
    surname_len: u8,
    tags: &mut Tags,
) -> String {
    let mut s = name.to_owned();
    if rng.random_bool(profile.homophone) {
        if let Some(t) = names::homophone_typo(rng, &s, usize::from(surname_len)) {
            s = t;
            tags.add("name_homophone");
        }
    } else if rng.random_bool(profile.lookalike)
        && let Some(t) = names::lookalike_typo(rng, &s, usize::from(surname_len))
    {
        s = t;
        tags.add("name_lookalike");
    }
    if rng.random_bool(profile.name_trad) {
        let t = hanconv::s2t(&s);
        if t != s {
            s = t;
            tags.add("name_trad");
        }
    }
    if s.contains('·') && rng.random_bool(profile.dot_variant) {
        let v = ["•", "・", "．", ".", " ", ""][rng.random_range(0..6)];
        s = s.replace('·', v);
        tags.add("name_dot_variant");
    }
    if rng.random_bool(profile.name_space) {
        let n = s.chars().count();
        if n >= 2 {
            let pos = rng.random_range(1..n);
            let sp = [" ", "  ", "\u{3000}", "\u{00A0}"][rng.random_range(0..4)];
            s = s.chars().take(pos).collect::<String>()
                + sp
                + &s.chars().skip(pos).collect::<String>();
            if rng.random_bool(0.3) {
                s.push(' ');
            }
            tags.add("name_space");
        }
    }
    if profile.gbk_only {
        let (_, _, unmappable) = encoding_rs::GBK.encode(&s);
        if unmappable {
            s = s
                .chars()
                .map(|c| {
                    let mut b = [0u8; 4];
                    let (_, _, bad) = encoding_rs::GBK.encode(c.encode_utf8(&mut b));
                    if bad { '?' } else { c }
                })
                .collect();
            tags.add("name_rare_lost");
        }
    }
    s
}

/// A birth date with the clerk's typos.
pub fn dob(rng: &mut impl Rng, profile: &Profile, d: NaiveDate, tags: &mut Tags) -> NaiveDate {
    if !rng.random_bool(profile.dob_typo) {
        return d;
    }
    if d.day() <= 12
        && d.day() != d.month()
        && rng.random_bool(0.5)
        && let Some(x) = NaiveDate::from_ymd_opt(d.year(), d.day(), d.month())
    {
        tags.add("dob_swap_dm");
        return x;
    }
    tags.add("dob_off_by_one");
    d + Duration::days(if rng.random_bool(0.5) { 1 } else { -1 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn gbk_only_systems_lose_rare_characters() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut tags = Tags::default();
        let p = Profile {
            gbk_only: true,
            ..CLEAN
        };
        let out = name_text(&mut rng, &p, "王𠅤", 1, &mut tags);
        assert_eq!(out, "王?");
        assert_eq!(tags.joined(), "name_rare_lost");
        let mut tags = Tags::default();
        assert_eq!(name_text(&mut rng, &p, "王明", 1, &mut tags), "王明");
        assert!(tags.0.is_empty());
    }

    #[test]
    fn typos_break_the_check_character() {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        for _ in 0..100 {
            let t = unsafe_free_typo(&mut rng, "421303198001010018");
            assert_ne!(t, "421303198001010018");
            assert_eq!(t.len(), 18);
        }
    }
}
