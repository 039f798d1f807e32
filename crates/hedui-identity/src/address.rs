//! Addresses (户籍地址, 居住地址) split into comparable parts, with the county and township
//! resolved against the 随州 tables of [`crate::divisions`].
//!
//! [`parse_address`] normalises the text (blanks removed, NFKC, traditional → simplified,
//! Chinese numerals of group numbers as digits) and reads, in order: province (湖北省/湖北),
//! city (随州市/随州), county (曾都区/曾都, 随县, 广水市/广水, with its code), township (by full
//! name or short name, `街办`/`办事处`/`街道办事处` read as `街道`: `十里办事处` → 十里街道, with
//! its 9-digit code), village or community (`…村`, `…社区`, `…居委会`, `…村委会`, stored as
//! `XX村` / `XX社区`), group (`5组`, `五组`, `第五组`, `3队` — 队 is 组), road (`…路`, `…街`,
//! `…大道`, `…巷`) and house number (`123号`); what is left (building, unit, room) is the
//! remainder. A township written without its county gives the county.
//!
//! [`Address::tokens`] gives the parts for a token-similarity comparison, and
//! [`Address::masked`] / [`mask_address`] keep an address down to the village or community
//! only (DOMAIN.md §5.2).
//!
//! ```
//! use hedui_identity::address::{mask_address, parse_address, AddressIssue};
//! let a = parse_address("随县厉山镇双泉村五组");
//! assert_eq!(a.county.map(|c| c.code), Some("421321"));
//! assert_eq!(a.township.map(|t| t.code), Some("421321101"));
//! assert_eq!(a.village.as_deref(), Some("双泉村"));
//! assert_eq!(a.group, Some(5));
//! assert_eq!(a.normalized, "随县厉山镇双泉村5组");
//!
//! let b = parse_address("广水市十里办事处XX村3队");
//! assert_eq!(b.township.map(|t| t.name), Some("十里街道"));
//! assert_eq!(b.group, Some(3));
//!
//! let c = parse_address("南郊街道季梁社区居委会");
//! assert_eq!(c.county.map(|c| c.name), Some("曾都区"));
//! assert!(c.issues.contains(&AddressIssue::CountyInferred));
//!
//! assert_eq!(mask_address("随州市曾都区南郊街道季梁社区8栋2单元301室"), "随州市曾都区南郊街道季梁社区***");
//! ```

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde::{Deserialize, Deserializer, Serialize};

use crate::divisions::{self, Township};
use crate::text;

/// A county or township of [`crate::divisions`]: its code and official name.
///
/// Serialised as `{ "code": …, "name": … }`; deserialising looks the code up in the tables, so
/// a stored value always points at a known division.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct DivisionRef {
    /// Six-digit county code or nine-digit township code.
    pub code: &'static str,
    /// Official name (`曾都区`, `南郊街道`).
    pub name: &'static str,
}

impl DivisionRef {
    /// The division with this code (a county's six digits or a township's nine).
    pub fn from_code(code: &str) -> Option<Self> {
        if let Some(c) = divisions::county_by_code(code) {
            return Some(DivisionRef {
                code: c.code,
                name: c.name,
            });
        }
        divisions::township_by_code(code).map(DivisionRef::township)
    }

    fn township(t: &'static Township) -> Self {
        DivisionRef {
            code: t.code,
            name: t.name,
        }
    }
}

impl<'de> Deserialize<'de> for DivisionRef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Stored {
            code: String,
        }
        let stored = Stored::deserialize(deserializer)?;
        DivisionRef::from_code(&stored.code).ok_or_else(|| {
            serde::de::Error::custom(format!("unknown 随州 division code {:?}", stored.code))
        })
    }
}

/// Whether the village-level unit is a rural village or an urban community.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum VillageKind {
    /// 村 (村委会, 村民委员会).
    Village,
    /// 社区 (居委会, 居民委员会).
    Community,
}

/// What parsing found. Several can apply to one address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AddressIssue {
    /// Empty or a null placeholder.
    Missing,
    /// Full-width characters were normalised (NFKC).
    FullWidth,
    /// Traditional or variant characters were folded to simplified ones.
    TraditionalOrVariant,
    /// A province other than 湖北.
    OtherProvince,
    /// A city other than 随州.
    OtherCity,
    /// A county-level name that is not one of 随州's (the address lies elsewhere).
    UnknownCounty {
        /// The name as written.
        name: String,
    },
    /// Neither a county nor a township of 随州 was found.
    NoCounty,
    /// The county was not written; it was taken from the township.
    CountyInferred,
    /// Something written like a township (`…镇`, `…乡`, `…街道`, `…办事处`) that is not in the
    /// table.
    UnknownTownship {
        /// The name as written.
        name: String,
    },
    /// Several different townships are named and none could be chosen.
    AmbiguousTownship,
    /// The township does not belong to the county written before it.
    CountyTownshipMismatch,
}

/// A parsed address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    /// The text exactly as delivered.
    pub original: String,
    /// No blanks, NFKC, simplified characters, group numbers in digits (`五组` → `5组`).
    pub normalized: String,
    /// `湖北省`, or another province as written.
    pub province: Option<Cow<'static, str>>,
    /// `随州市`, or another city as written.
    pub city: Option<Cow<'static, str>>,
    /// The county, written or inferred from the township.
    pub county: Option<DivisionRef>,
    /// The township (街道, 镇, 乡).
    pub township: Option<DivisionRef>,
    /// The village or community in canonical form: `双泉村`, `季梁社区`.
    pub village: Option<String>,
    /// Whether `village` is a 村 or a 社区.
    pub village_kind: Option<VillageKind>,
    /// The group (村民小组) number: `5组`, `五组`, `第五组`, `5队` → 5.
    pub group: Option<u32>,
    /// The road or street: `交通大道`, `解放路`.
    pub road: Option<String>,
    /// The house number without `号`: `123`, `12-1`.
    pub house_number: Option<String>,
    /// Whatever follows (building, unit, room …), if anything.
    pub remainder: Option<String>,
    /// Everything found on the way.
    pub issues: Vec<AddressIssue>,
}

impl Address {
    /// The parts to compare with another address's, finest last: county, township, village,
    /// group (`5组`), road, house number (`123号`), then the remainder split after each run of
    /// characters that follows a number (`8栋2单元301室` → `8栋`, `2单元`, `301室`). Province and
    /// city are left out: nearly every address has the same ones, and they would only inflate
    /// similarity.
    pub fn tokens(&self) -> Vec<Cow<'_, str>> {
        let mut out: Vec<Cow<'_, str>> = Vec::with_capacity(8);
        out.extend(self.county.map(|c| Cow::Borrowed(c.name)));
        out.extend(self.township.map(|t| Cow::Borrowed(t.name)));
        out.extend(self.village.as_deref().map(Cow::Borrowed));
        out.extend(self.group.map(|g| Cow::Owned(format!("{g}组"))));
        out.extend(self.road.as_deref().map(Cow::Borrowed));
        out.extend(
            self.house_number
                .as_deref()
                .map(|n| Cow::Owned(format!("{n}号"))),
        );
        if let Some(rest) = self.remainder.as_deref() {
            out.extend(split_remainder(rest).map(Cow::Borrowed));
        }
        out
    }

    /// The address down to the village or community only (DOMAIN.md §5.2): the recognised
    /// province, city, county, township and village, followed by `***` if anything finer was
    /// dropped. An address with nothing recognised becomes `***` (empty stays empty).
    pub fn masked(&self) -> String {
        let mut out = String::with_capacity(48);
        for part in [self.province.as_deref(), self.city.as_deref()]
            .into_iter()
            .flatten()
        {
            out.push_str(part);
        }
        out.extend(self.county.map(|c| c.name));
        out.extend(self.township.map(|t| t.name));
        if let Some(v) = self.village.as_deref() {
            out.push_str(v);
        }
        let finer = self.group.is_some()
            || self.road.is_some()
            || self.house_number.is_some()
            || self.remainder.is_some();
        if finer || (out.is_empty() && !self.normalized.is_empty()) {
            out.push_str("***");
        }
        out
    }
}

/// Parses an address. Never fails: whatever is wrong is in [`Address::issues`].
pub fn parse_address(raw: &str) -> Address {
    let mut out = Address {
        original: raw.to_owned(),
        normalized: String::new(),
        province: None,
        city: None,
        county: None,
        township: None,
        village: None,
        village_kind: None,
        group: None,
        road: None,
        house_number: None,
        remainder: None,
        issues: Vec::new(),
    };
    let Some(base) = normalize(raw, &mut out.issues) else {
        return out;
    };
    let group_numeral = {
        let mut rest: &str = &base;
        parse_parts(&mut rest, &base, &mut out)
    };

    out.normalized = match group_numeral {
        // Splice the digits in place of the Chinese numeral (`五组` → `5组`).
        Some((range, value)) => {
            let mut n = String::with_capacity(base.len());
            n.push_str(&base[..range.start]);
            n.push_str(&value.to_string());
            n.push_str(&base[range.end..]);
            n
        }
        None => base,
    };
    out
}

/// The text to parse: no blanks, NFKC, simplified characters, with the issues that produced
/// it (`FullWidth`, `TraditionalOrVariant`). `None` (with `Missing`) if the text is empty or a
/// null placeholder, before or after normalising.
///
/// Nearly every address is plain ASCII and unified ideographs with no blank (see
/// [`plain_text`]): then blanks, NFKC and full-width forms have nothing to do, and only a
/// dictionary key of the simplifier sends the text through [`text::to_simplified`]; the text
/// is scanned once instead of once per step.
fn normalize(raw: &str, issues: &mut Vec<AddressIssue>) -> Option<String> {
    if text::is_null_placeholder(raw) {
        issues.push(AddressIssue::Missing);
        return None;
    }
    let base: String = match plain_text(raw) {
        // Simplifying changes nothing, so the text is the one just checked for a placeholder.
        Some(false) => return Some(raw.to_owned()),
        Some(true) if raw.is_ascii() => return Some(raw.to_owned()),
        Some(true) => match text::to_simplified(raw) {
            Cow::Owned(simplified) if simplified != raw => {
                issues.push(AddressIssue::TraditionalOrVariant);
                simplified
            }
            _ => return Some(raw.to_owned()),
        },
        None => {
            if raw.chars().any(|c| ('\u{FF01}'..='\u{FF5E}').contains(&c)) {
                issues.push(AddressIssue::FullWidth);
            }
            let stripped = text::strip_blanks(raw);
            let nfkc = text::nfkc(&stripped);
            if nfkc.is_ascii() {
                nfkc.into_owned()
            } else {
                match text::to_simplified(&nfkc) {
                    Cow::Owned(simplified) if simplified != *nfkc => {
                        issues.push(AddressIssue::TraditionalOrVariant);
                        simplified
                    }
                    _ => nfkc.into_owned(),
                }
            }
        }
    };
    // A placeholder can also appear only now (`🈚` → `無` → `无`).
    if text::is_null_placeholder(&base) {
        issues.push(AddressIssue::Missing);
        return None;
    }
    Some(base)
}

/// For text made only of ASCII characters other than blanks and of unified ideographs
/// (U+4E00–U+9FFF), which NFKC leaves as they are and which hold no full-width form: whether
/// a key of the simplifier's dictionary starts anywhere in it (if none does,
/// [`text::to_simplified`] gives the text back unchanged). `None` for any other text.
fn plain_text(s: &str) -> Option<bool> {
    let mut key = false;
    for (i, c) in s.char_indices() {
        if c.is_ascii() {
            if c.is_whitespace() {
                return None;
            }
        } else if !text::is_unified_ideograph(c) {
            return None;
        }
        key = key || text::t2s_key_at(s, i, c);
    }
    Some(key)
}

/// Reads the parts in order, advancing `rest`. Returns the byte range in `base` of a group
/// number written in Chinese numerals, with its value.
fn parse_parts(
    rest: &mut &str,
    base: &str,
    out: &mut Address,
) -> Option<(std::ops::Range<usize>, u32)> {
    let mut elsewhere = false;
    // Province.
    if let Some(r) = rest
        .strip_prefix("湖北省")
        .or_else(|| rest.strip_prefix("湖北"))
    {
        out.province = Some(Cow::Borrowed("湖北省"));
        *rest = r;
    } else if let Some(end) = other_province_end(rest) {
        out.province = Some(Cow::Owned(rest[..end].to_owned()));
        out.issues.push(AddressIssue::OtherProvince);
        elsewhere = true;
        *rest = &rest[end..];
    }
    // City.
    if let Some(r) = rest
        .strip_prefix("随州市")
        .or_else(|| rest.strip_prefix("随州"))
    {
        out.city = Some(Cow::Borrowed("随州市"));
        *rest = r;
    } else if county_at(rest).is_none()
        && township_at(rest, None).is_none()
        && let Some(end) = suffix_within(rest, &["市", "地区", "自治州"], 2, 4)
        // `某某市场` is a market, not a city.
        && !rest[end..].starts_with('场')
    {
        out.city = Some(Cow::Owned(rest[..end].to_owned()));
        out.issues.push(AddressIssue::OtherCity);
        elsewhere = true;
        *rest = &rest[end..];
    }
    // County.
    if let Some((county, len)) = county_at(rest) {
        out.county = Some(county);
        *rest = &rest[len..];
    } else if elsewhere && let Some(end) = suffix_within(rest, &["区", "县", "市", "旗"], 2, 4)
    {
        out.issues.push(AddressIssue::UnknownCounty {
            name: rest[..end].to_owned(),
        });
        *rest = &rest[end..];
    }
    // Township.
    let written_county = out.county.map(|c| c.code);
    if let Some((t, len)) = township_at(rest, written_county) {
        out.township = Some(DivisionRef::township(t));
        *rest = &rest[len..];
    } else if let Some(end) = unknown_township_end(rest) {
        out.issues.push(AddressIssue::UnknownTownship {
            name: rest[..end].to_owned(),
        });
        *rest = &rest[end..];
    } else {
        // Not where it belongs: look for it anywhere in what is left.
        let found = townships_anywhere(rest);
        let in_county: Vec<&'static Township> = found
            .iter()
            .copied()
            .filter(|t| written_county.is_some_and(|c| t.code.starts_with(c)))
            .collect();
        match (found.len(), in_county.len()) {
            (0, _) => {}
            (1, _) => out.township = found.first().copied().map(DivisionRef::township),
            (_, 1) => out.township = in_county.first().copied().map(DivisionRef::township),
            _ => out.issues.push(AddressIssue::AmbiguousTownship),
        }
    }
    match (out.county, out.township) {
        (Some(c), Some(t)) if !t.code.starts_with(c.code) => {
            out.issues.push(AddressIssue::CountyTownshipMismatch);
        }
        (None, Some(t)) => {
            out.county = divisions::township_by_code(t.code)
                .and_then(|t| t.county())
                .map(|c| DivisionRef {
                    code: c.code,
                    name: c.name,
                });
            out.issues.push(AddressIssue::CountyInferred);
        }
        (None, None) if !elsewhere => out.issues.push(AddressIssue::NoCounty),
        _ => {}
    }

    // Village or community, then the committee words that often follow (`双泉村村委会`).
    if let Some((name, kind, len)) = village_at(rest) {
        out.village = Some(name);
        out.village_kind = Some(kind);
        *rest = &rest[len..];
        for committee in ["村民委员会", "居民委员会", "村委会", "居委会"] {
            if let Some(r) = rest.strip_prefix(committee) {
                *rest = r;
                break;
            }
        }
    }
    // Group.
    let mut numeral = None;
    if let Some((value, digits_range, chinese, len)) = group_at(rest) {
        out.group = Some(value);
        if chinese {
            let offset = base.len() - rest.len();
            numeral = Some((
                offset + digits_range.start..offset + digits_range.end,
                value,
            ));
        }
        *rest = &rest[len..];
    }
    // Road and house number.
    if let Some(len) = road_at(rest) {
        out.road = Some(rest[..len].to_owned());
        *rest = &rest[len..];
    }
    if let Some((number, len)) = number_at(rest) {
        out.house_number = Some(number.to_owned());
        *rest = &rest[len..];
    }
    if !rest.is_empty() {
        out.remainder = Some((*rest).to_owned());
    }
    numeral
}

/// If one of `suffixes` ends a name of `min..=max` characters at the start of `s`, the byte
/// offset after it.
fn suffix_within(s: &str, suffixes: &[&str], min: usize, max: usize) -> Option<usize> {
    for (n, (i, c)) in s.char_indices().enumerate().take(max + 1) {
        if n >= min
            && let Some(suffix) = suffixes.iter().find(|x| s[i..].starts_with(**x))
        {
            return Some(i + suffix.len());
        }
        if !(text::is_han(c) || c.is_ascii_alphanumeric()) || is_road_char(c) {
            return None;
        }
    }
    None
}

fn other_province_end(s: &str) -> Option<usize> {
    for city in ["北京市", "上海市", "天津市", "重庆市"] {
        if s.starts_with(city) {
            return Some(city.len());
        }
    }
    suffix_within(s, &["省"], 2, 3).or_else(|| suffix_within(s, &["自治区"], 2, 5))
}

/// A 随州 county at the start of `s`: full name, or the short form (`曾都`, `广水`) when it is
/// not the start of a township's name (`广水街道`).
fn county_at(s: &str) -> Option<(DivisionRef, usize)> {
    for c in divisions::COUNTIES {
        let r = DivisionRef {
            code: c.code,
            name: c.name,
        };
        if s.starts_with(c.name) {
            return Some((r, c.name.len()));
        }
        if s.starts_with(c.short) && township_at(s, None).is_none() {
            return Some((r, c.short.len()));
        }
    }
    None
}

/// Suffixes clerks write after a township's short name, each read as the township itself.
const TOWNSHIP_SUFFIXES: &[&str] = &["街道办事处", "街道办", "街办", "办事处", "街道", "镇", "乡"];

/// Spellings of townships, each with its township.
type TownshipSpellings = Vec<(String, &'static Township)>;

/// Spellings of each township (full name, short name + each suffix), grouped by first
/// character (the groups sorted by it, for a binary search), longest first, built once.
static TOWNSHIP_PATTERNS: LazyLock<Vec<(char, TownshipSpellings)>> = LazyLock::new(|| {
    let mut map: BTreeMap<char, TownshipSpellings> = BTreeMap::new();
    for t in divisions::TOWNSHIPS {
        let mut spellings = vec![t.name.to_owned()];
        spellings.extend(
            TOWNSHIP_SUFFIXES
                .iter()
                .map(|suffix| format!("{}{suffix}", t.short_name())),
        );
        for s in spellings {
            if let Some(first) = s.chars().next() {
                let entry = map.entry(first).or_default();
                if !entry.iter().any(|(p, _)| *p == s) {
                    entry.push((s, t));
                }
            }
        }
    }
    for patterns in map.values_mut() {
        patterns.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
    }
    map.into_iter().collect()
});

/// A township spelled at the start of `s`. With a known county, the bare short name
/// (`厉山双泉村`) counts too when the township lies in that county.
fn township_at(s: &str, county: Option<&str>) -> Option<(&'static Township, usize)> {
    let first = s.chars().next()?;
    if let Ok(group) = TOWNSHIP_PATTERNS.binary_search_by_key(&first, |(c, _)| *c)
        && let Some((p, t)) = TOWNSHIP_PATTERNS[group]
            .1
            .iter()
            .find(|(p, _)| s.starts_with(p.as_str()))
    {
        return Some((t, p.len()));
    }
    let county = county?;
    divisions::townships_of(county)
        .find(|t| {
            // A bare short name followed by these is a county, village or road name instead.
            s.starts_with(t.short_name())
                && !s[t.short_name().len()..]
                    .starts_with(['市', '区', '县', '村', '社', '居', '路', '街', '巷', '大'])
        })
        .map(|t| (t, t.short_name().len()))
}

/// Distinct townships spelled anywhere in `s` (not bare short names).
fn townships_anywhere(s: &str) -> Vec<&'static Township> {
    let mut found: Vec<&'static Township> = Vec::new();
    for (i, _) in s.char_indices() {
        if let Some((t, _)) = township_at(&s[i..], None)
            && !found.iter().any(|f| f.code == t.code)
        {
            found.push(t);
        }
    }
    found
}

/// Something shaped like a township name at the start of `s` (2–4 characters and a township
/// suffix), not followed by what would make it a village's or road's name.
fn unknown_township_end(s: &str) -> Option<usize> {
    let end = suffix_within(s, TOWNSHIP_SUFFIXES, 2, 4)?;
    let next = s[end..].chars().next();
    if next.is_some_and(|c| matches!(c, '村' | '社' | '居' | '组' | '路' | '街' | '巷' | '大'))
    {
        return None;
    }
    Some(end)
}

/// Markers of the village level, longest first at any position.
const VILLAGE_MARKERS: &[(&str, VillageKind)] = &[
    ("社区居民委员会", VillageKind::Community),
    ("社区居委会", VillageKind::Community),
    ("居民委员会", VillageKind::Community),
    ("村民委员会", VillageKind::Village),
    ("社区", VillageKind::Community),
    ("居委会", VillageKind::Community),
    ("村委会", VillageKind::Village),
    ("村", VillageKind::Village),
];

/// The first characters of [`VILLAGE_MARKERS`] (a test keeps the two in step): at any other
/// character no marker needs trying.
const VILLAGE_MARKER_FIRSTS: [char; 3] = ['社', '居', '村'];

/// A village or community at the start of `s`: its canonical name (`XX村` / `XX社区`), kind,
/// and the bytes it takes.
fn village_at(s: &str) -> Option<(String, VillageKind, usize)> {
    const MAX_NAME: usize = 8;
    for (n, (i, c)) in s.char_indices().enumerate().take(MAX_NAME + 1) {
        if n >= 1
            && VILLAGE_MARKER_FIRSTS.contains(&c)
            && let Some((marker, kind)) =
                VILLAGE_MARKERS.iter().find(|(m, _)| s[i..].starts_with(m))
        {
            let name = &s[..i];
            let after = &s[i + marker.len()..];
            // `新村路` is a road and `新村社区` a community, not the village 新.
            let part_of_name = *marker == "村"
                && (road_suffix_at(after).is_some()
                    || after.starts_with("社区")
                    || after.starts_with("居委会"));
            if !part_of_name && name.chars().any(|c| !c.is_ascii_digit()) {
                let suffix = match kind {
                    VillageKind::Village => "村",
                    VillageKind::Community => "社区",
                };
                let mut canonical = String::with_capacity(name.len() + suffix.len());
                canonical.push_str(name);
                canonical.push_str(suffix);
                return Some((canonical, *kind, i + marker.len()));
            }
        }
        if !(text::is_han(c) || c.is_ascii_alphanumeric()) || is_road_char(c) {
            return None;
        }
    }
    None
}

fn is_road_char(c: char) -> bool {
    matches!(c, '路' | '街' | '巷' | '号' | '组' | '队')
}

/// A group at the start of `s`: value, byte range of the number, whether it was written in
/// Chinese numerals, and the bytes taken. `第五组`, `五组`, `5组`, `3队`, `第3村民小组`.
fn group_at(s: &str) -> Option<(u32, std::ops::Range<usize>, bool, usize)> {
    let start = if s.starts_with('第') {
        '第'.len_utf8()
    } else {
        0
    };
    let body = &s[start..];
    let num_len: usize = body
        .chars()
        .take_while(|c| {
            c.is_ascii_digit() || text::chinese_digit(*c).is_some() || matches!(c, '十' | '百')
        })
        .map(char::len_utf8)
        .sum();
    if num_len == 0 {
        return None;
    }
    let number = &body[..num_len];
    let after = &body[num_len..];
    let unit = ["村民小组", "居民小组", "小组", "组", "生产队", "队"]
        .into_iter()
        .find(|u| after.starts_with(u))?;
    let value = u32::try_from(text::parse_chinese_number(number)?).ok()?;
    let chinese = !number.bytes().all(|b| b.is_ascii_digit());
    Some((
        value,
        start..start + num_len,
        chinese,
        start + num_len + unit.len(),
    ))
}

/// A road suffix at the start of `s`, with its length.
fn road_suffix_at(s: &str) -> Option<usize> {
    if s.starts_with("大道") || s.starts_with("大街") {
        return Some("大道".len());
    }
    if s.starts_with('街') && !(s[3..].starts_with('道') || s[3..].starts_with('办')) {
        return Some(3);
    }
    if s.starts_with('路') || s.starts_with('巷') {
        return Some(3);
    }
    None
}

/// A road at the start of `s` (a name of 1–10 characters and a road suffix): bytes taken.
fn road_at(s: &str) -> Option<usize> {
    for (n, (i, c)) in s.char_indices().enumerate().take(11) {
        if n >= 1
            && let Some(len) = road_suffix_at(&s[i..])
        {
            return Some(i + len);
        }
        if !(text::is_han(c) || c.is_ascii_alphanumeric()) || c == '号' {
            return None;
        }
    }
    None
}

/// A house number at the start of `s` (`123号`, `12-1号`, `12之1号`, not `3号楼`): the number
/// and the bytes taken.
fn number_at(s: &str) -> Option<(&str, usize)> {
    let len: usize = s
        .chars()
        .take_while(|c| c.is_ascii_digit() || matches!(c, '-' | '之'))
        .map(char::len_utf8)
        .sum();
    if len == 0 || !s[..len].starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let after = &s[len..];
    if !after.starts_with('号') || after[3..].starts_with('楼') {
        return None;
    }
    Some((&s[..len], len + '号'.len_utf8()))
}

/// Splits a remainder after each run of non-digits that follows digits:
/// `8栋2单元301室` → `8栋`, `2单元`, `301室`.
fn split_remainder(s: &str) -> impl Iterator<Item = &str> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut prev_digit = false;
    let mut seen_digit = false;
    for (i, c) in s.char_indices() {
        let digit = c.is_ascii_digit();
        if digit && !prev_digit && seen_digit && i > start {
            pieces.push(&s[start..i]);
            start = i;
        }
        seen_digit |= digit;
        prev_digit = digit;
    }
    if start < s.len() {
        pieces.push(&s[start..]);
    }
    pieces.into_iter()
}

/// Parses the address and masks it (see [`Address::masked`]).
pub fn mask_address(raw: &str) -> String {
    parse_address(raw).masked()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn village_marker_firsts_are_the_markers_first_characters() {
        let mut firsts: Vec<char> = VILLAGE_MARKERS
            .iter()
            .filter_map(|(m, _)| m.chars().next())
            .collect();
        firsts.sort_unstable();
        firsts.dedup();
        let mut listed = VILLAGE_MARKER_FIRSTS.to_vec();
        listed.sort_unstable();
        assert_eq!(firsts, listed);
    }

    struct Want {
        county: Option<&'static str>,
        township: Option<&'static str>,
        village: Option<&'static str>,
        group: Option<u32>,
        road: Option<&'static str>,
        number: Option<&'static str>,
        remainder: Option<&'static str>,
    }

    const NONE: Want = Want {
        county: None,
        township: None,
        village: None,
        group: None,
        road: None,
        number: None,
        remainder: None,
    };

    /// The brief's and DOMAIN.md's examples, and the usual variations of them.
    #[test]
    fn parts_table() {
        let cases: Vec<(&str, Want)> = vec![
            (
                "湖北省随州市曾都区南郊街道办事处季梁社区",
                Want {
                    county: Some("421303"),
                    township: Some("421303003"),
                    village: Some("季梁社区"),
                    ..NONE
                },
            ),
            (
                "随县厉山镇双泉村五组",
                Want {
                    county: Some("421321"),
                    township: Some("421321101"),
                    village: Some("双泉村"),
                    group: Some(5),
                    ..NONE
                },
            ),
            (
                "广水市十里办事处XX村3队",
                Want {
                    county: Some("421381"),
                    township: Some("421381002"),
                    village: Some("XX村"),
                    group: Some(3),
                    ..NONE
                },
            ),
            (
                "随州市交通大道123号",
                Want {
                    road: Some("交通大道"),
                    number: Some("123"),
                    ..NONE
                },
            ),
            (
                "湖北随州曾都南郊街办季梁社区居委会8栋2单元301室",
                Want {
                    county: Some("421303"),
                    township: Some("421303003"),
                    village: Some("季梁社区"),
                    remainder: Some("8栋2单元301室"),
                    ..NONE
                },
            ),
            (
                "随县 厉山 双泉村村委会 第五组",
                Want {
                    county: Some("421321"),
                    township: Some("421321101"),
                    village: Some("双泉村"),
                    group: Some(5),
                    ..NONE
                },
            ),
            (
                "广水市广水街道应山社区",
                Want {
                    county: Some("421381"),
                    township: Some("421381003"),
                    village: Some("应山社区"),
                    ..NONE
                },
            ),
            (
                "厉山镇双泉村十二组",
                Want {
                    county: Some("421321"),
                    township: Some("421321101"),
                    village: Some("双泉村"),
                    group: Some(12),
                    ..NONE
                },
            ),
            (
                "曾都区新村路12-1号",
                Want {
                    county: Some("421303"),
                    road: Some("新村路"),
                    number: Some("12-1"),
                    ..NONE
                },
            ),
            (
                "隨州市曾都區東城街道",
                Want {
                    county: Some("421303"),
                    township: Some("421303002"),
                    ..NONE
                },
            ),
            (
                "随县三里岗镇某某村第3村民小组",
                Want {
                    county: Some("421321"),
                    township: Some("421321116"),
                    village: Some("某某村"),
                    group: Some(3),
                    ..NONE
                },
            ),
        ];
        for (raw, want) in cases {
            let a = parse_address(raw);
            assert_eq!(a.county.map(|c| c.code), want.county, "{raw}: {a:?}");
            assert_eq!(a.township.map(|t| t.code), want.township, "{raw}: {a:?}");
            assert_eq!(a.village.as_deref(), want.village, "{raw}: {a:?}");
            assert_eq!(a.group, want.group, "{raw}: {a:?}");
            assert_eq!(a.road.as_deref(), want.road, "{raw}: {a:?}");
            assert_eq!(a.house_number.as_deref(), want.number, "{raw}: {a:?}");
            assert_eq!(a.remainder.as_deref(), want.remainder, "{raw}: {a:?}");
            assert_eq!(a.original, raw);
        }
    }

    #[test]
    fn normalized_text() {
        for (raw, want) in [
            ("随县厉山镇双泉村五组", "随县厉山镇双泉村5组"),
            (
                "随县 厉山镇\u{3000}双泉村第十二组",
                "随县厉山镇双泉村第12组",
            ),
            ("隨州市曾都區", "随州市曾都区"),
            ("随州市交通大道１２３号", "随州市交通大道123号"),
            // Numerals outside the group number stay: 三里岗 is a name.
            ("随县三里岗镇五组", "随县三里岗镇5组"),
        ] {
            assert_eq!(parse_address(raw).normalized, want, "{raw}");
        }
    }

    #[test]
    fn issues() {
        let cases: &[(&str, AddressIssue)] = &[
            ("", AddressIssue::Missing),
            ("NULL", AddressIssue::Missing),
            ("随州市交通大道123号", AddressIssue::NoCounty),
            ("南郊街道季梁社区", AddressIssue::CountyInferred),
            ("随县南郊街道季梁社区", AddressIssue::CountyTownshipMismatch),
            (
                "随县某某镇双泉村",
                AddressIssue::UnknownTownship {
                    name: "某某镇".to_owned(),
                },
            ),
            (
                "随州市曾都区季梁社区(原南郊街道,现东城街道)",
                AddressIssue::AmbiguousTownship,
            ),
            ("湖北省武汉市洪山区某某街道", AddressIssue::OtherCity),
            ("河南省信阳市平桥区", AddressIssue::OtherProvince),
            ("隨州市曾都區", AddressIssue::TraditionalOrVariant),
            ("随州市曾都区１号", AddressIssue::FullWidth),
        ];
        for (raw, issue) in cases {
            let a = parse_address(raw);
            assert!(a.issues.contains(issue), "{raw}: {:?}", a.issues);
        }
        let a = parse_address("湖北省武汉市洪山区某某街道某某社区1号");
        assert_eq!(a.city.as_deref(), Some("武汉市"));
        assert!(a.county.is_none());
        assert!(!a.issues.contains(&AddressIssue::NoCounty));
        assert!(a.issues.contains(&AddressIssue::UnknownCounty {
            name: "洪山区".to_owned()
        }));
        assert!(a.issues.contains(&AddressIssue::UnknownTownship {
            name: "某某街道".to_owned()
        }));
        assert_eq!(a.village.as_deref(), Some("某某社区"));
        assert_eq!(a.house_number.as_deref(), Some("1"));
    }

    #[test]
    fn township_found_out_of_place() {
        let a = parse_address("随州市曾都区户籍：南郊街道季梁社区");
        assert_eq!(a.township.map(|t| t.name), Some("南郊街道"));
    }

    #[test]
    fn tokens_for_similarity() {
        let a = parse_address("随州市曾都区南郊街道季梁社区交通大道123号8栋2单元301室");
        let tokens: Vec<String> = a.tokens().into_iter().map(Cow::into_owned).collect();
        assert_eq!(
            tokens,
            [
                "曾都区",
                "南郊街道",
                "季梁社区",
                "交通大道",
                "123号",
                "8栋",
                "2单元",
                "301室"
            ]
        );
        let b = parse_address("随县厉山镇双泉村五组");
        let tokens: Vec<String> = b.tokens().into_iter().map(Cow::into_owned).collect();
        assert_eq!(tokens, ["随县", "厉山镇", "双泉村", "5组"]);
    }

    #[test]
    fn masking() {
        for (raw, masked) in [
            (
                "湖北省随州市曾都区南郊街道办事处季梁社区",
                "湖北省随州市曾都区南郊街道季梁社区",
            ),
            ("随县厉山镇双泉村五组", "随县厉山镇双泉村***"),
            ("随州市交通大道123号", "随州市***"),
            ("某某地方", "***"),
            ("", ""),
        ] {
            assert_eq!(mask_address(raw), masked, "{raw}");
        }
    }

    #[test]
    fn every_township_is_found_by_every_spelling() {
        for t in divisions::TOWNSHIPS {
            let county = t.county().map(|c| c.name).unwrap_or_default();
            for suffix in std::iter::once("").chain(TOWNSHIP_SUFFIXES.iter().copied()) {
                let spelled = if suffix.is_empty() {
                    t.name.to_owned()
                } else {
                    format!("{}{suffix}", t.short_name())
                };
                let a = parse_address(&format!("{county}{spelled}某某村"));
                assert_eq!(a.township.map(|x| x.code), Some(t.code), "{spelled}");
                assert_eq!(a.village.as_deref(), Some("某某村"), "{spelled}");
                assert!(a.issues.is_empty(), "{spelled}: {:?}", a.issues);
            }
        }
    }

    #[test]
    fn township_names_survive_simplification() {
        for t in divisions::TOWNSHIPS {
            assert_eq!(hanconv::t2s(t.name), t.name);
        }
        for c in divisions::COUNTIES {
            assert_eq!(hanconv::t2s(c.name), c.name);
        }
    }

    #[test]
    fn division_refs_deserialise_by_code() {
        use serde::de::value::{Error, MapDeserializer};
        let map = |code: &str| {
            MapDeserializer::<_, Error>::new(
                vec![("code", code.to_owned()), ("name", "x".to_owned())].into_iter(),
            )
        };
        let r = DivisionRef::deserialize(map("421303003")).expect("known township");
        assert_eq!(r.name, "南郊街道");
        let r = DivisionRef::deserialize(map("421321")).expect("known county");
        assert_eq!(r.name, "随县");
        assert!(DivisionRef::deserialize(map("999999")).is_err());
    }

    fn address_like() -> impl Strategy<Value = String> {
        let parts = prop::sample::select(vec![
            "湖北省",
            "湖北",
            "随州市",
            "随州",
            "曾都区",
            "随县",
            "广水市",
            "广水",
            "南郊街道",
            "南郊街办",
            "十里办事处",
            "厉山镇",
            "厉山",
            "双泉村",
            "季梁社区",
            "居委会",
            "五组",
            "第三组",
            "3队",
            "交通大道",
            "123号",
            "8栋",
            "2单元",
            "301室",
            " ",
            "\u{3000}",
            "隨州",
            "某某",
            "村",
            "路",
            "号",
        ]);
        prop::collection::vec(parts, 0..8).prop_map(|v| v.concat())
    }

    proptest! {
        #[test]
        fn never_panics_and_keeps_the_original(s in "\\PC{0,40}") {
            let a = parse_address(&s);
            prop_assert_eq!(&a.original, &s);
            let _ = a.tokens();
            let _ = a.masked();
        }

        #[test]
        fn never_panics_on_any_unicode(s in any::<String>()) {
            let a = parse_address(&s);
            prop_assert_eq!(&a.original, &s);
        }

        #[test]
        fn normalising_is_idempotent(s in address_like()) {
            let once = parse_address(&s);
            let twice = parse_address(&once.normalized);
            prop_assert_eq!(&twice.normalized, &once.normalized);
            prop_assert_eq!(twice.county, once.county);
            prop_assert_eq!(twice.township, once.township);
            prop_assert_eq!(&twice.village, &once.village);
            prop_assert_eq!(twice.group, once.group);
            prop_assert_eq!(&twice.road, &once.road);
            prop_assert_eq!(&twice.house_number, &once.house_number);
        }

        #[test]
        fn masks_never_reveal_finer_parts(s in address_like()) {
            let a = parse_address(&s);
            let masked = a.masked();
            // Village names never hold these, so they can only come from finer parts.
            prop_assert!(!masked.contains(['号', '组', '队']), "{:?} -> {}", s, masked);
            let finer = a.group.is_some() || a.road.is_some() || a.house_number.is_some() || a.remainder.is_some();
            if finer {
                prop_assert!(masked.ends_with("***"));
            }
        }
    }
}
