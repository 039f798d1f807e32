//! Synthetic Chinese names: surnames with a realistic skew (so that namesakes such as 王伟 and
//! 张伟 occur as often as they do in a real city), era- and gender-typical given-name
//! characters, compound surnames, surnames with special readings, minority transliterations,
//! rare characters, and the homophone and look-alike substitutions clerks make.

use rand::Rng;
use rand::seq::IndexedRandom;

/// Common surnames, most frequent first; the weight of rank r is 1/(r+4) (a flattened Zipf).
const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "高", "林", "罗", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹", "彭", "曾",
    "肖", "田", "董", "袁", "潘", "于", "蒋", "蔡", "余", "杜", "叶", "程", "苏", "魏", "吕", "丁",
    "任", "沈", "姚", "卢", "姜", "崔", "钟", "谭", "陆", "汪", "范", "金", "石", "廖", "贾", "夏",
    "韦", "付", "方", "白", "邹", "孟", "熊", "秦", "邱", "江", "尹", "薛", "闫", "段", "雷", "侯",
    "龙", "史", "陶", "黎", "贺", "顾", "毛", "郝", "龚", "邵", "万", "钱", "严", "覃", "武", "戴",
    "莫", "孔", "向", "汤", "单", "解", "区", "仇", "朴", "查", "翟", "乐", "缪", "柏",
];

/// Compound surnames, drawn rarely.
const COMPOUND_SURNAMES: &[&str] = &[
    "欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙", "宇文", "司徒",
    "夏侯", "令狐", "端木",
];

/// Given-name characters by era and gender. Older generations favour 国/建/秀/兰, younger ones
/// 子/涵/浩/欣.
const MALE_OLD: &str = "国建华明军志平德福文海春生永庆忠金林荣富贵山清才学兴发连树成友祥";
const MALE_MID: &str = "伟强磊勇军杰涛斌鹏超辉刚健波峰明亮俊宏飞鑫斌浩凯龙兵毅晓东";
const MALE_NEW: &str = "浩宇轩子涵俊博文杰睿泽皓梓辰铭晨宇航逸晟煜瑞昊天佑嘉";
const FEMALE_OLD: &str = "秀兰英桂珍芳玉凤华梅翠荣淑琴云霞莲花秀娥菊香美";
const FEMALE_MID: &str = "丽静敏燕艳娟红霞玲芳婷娜倩雪慧琳晶颖洁萍莉晓雯";
const FEMALE_NEW: &str = "欣怡涵梓萱雨彤诗琪子晴可馨思语佳悦若汐一诺紫婷";

/// Characters that are in Unicode but outside GBK (or rare enough that legacy systems lose them).
/// Such a character is what a GBK-only department system turns into `?`.
pub const RARE_CHARS: &[&str] = &[
    "堃", "喆", "玥", "淼", "昇", "犇", "赟", "翀", "䶮", "𠅤", "昳", "燊", "垚", "珺", "镕", "㛃",
];

/// Minority (mostly Uyghur) transliterated names: `first·second`.
const MINORITY_FIRST: &[&str] = &[
    "阿依古丽",
    "古丽娜尔",
    "热依拉",
    "阿卜杜拉",
    "买买提",
    "艾力",
    "吐尔逊",
    "努尔",
    "帕提古丽",
    "迪丽努尔",
    "阿迪力",
    "热娜",
];
const MINORITY_SECOND: &[&str] = &[
    "买买提",
    "艾力",
    "吐尔逊",
    "阿不都",
    "热合曼",
    "伊力哈木",
    "库尔班",
    "依明",
    "沙吾提",
];

/// Pairs of characters that sound alike (same toneless pinyin): a clerk typing from dictation
/// picks the wrong one.
pub const HOMOPHONES: &[(&str, &str)] = &[
    ("文", "雯"),
    ("晓", "小"),
    ("明", "鸣"),
    ("伟", "玮"),
    ("丽", "莉"),
    ("静", "婧"),
    ("军", "君"),
    ("华", "桦"),
    ("芳", "方"),
    ("红", "宏"),
    ("英", "瑛"),
    ("平", "萍"),
    ("杰", "洁"),
    ("志", "智"),
    ("建", "健"),
    ("燕", "艳"),
    ("玲", "琳"),
    ("峰", "锋"),
    ("涛", "韬"),
    ("辉", "慧"),
    ("春", "纯"),
    ("海", "凯"),
    ("宇", "雨"),
    ("浩", "昊"),
    ("欣", "馨"),
    ("婷", "庭"),
    ("俊", "骏"),
    ("兰", "岚"),
    ("梅", "玫"),
    ("东", "冬"),
];

/// Characters that look alike.
pub const LOOKALIKES: &[(&str, &str)] = &[
    ("己", "已"),
    ("未", "末"),
    ("土", "士"),
    ("日", "曰"),
    ("天", "夭"),
    ("壬", "王"),
];

/// Picks a surname: mostly common single-character ones, 0.4% compound.
pub fn surname(rng: &mut impl Rng) -> &'static str {
    if rng.random_bool(0.004) {
        return COMPOUND_SURNAMES.choose(rng).copied().unwrap_or("欧阳");
    }
    // Inverse-CDF sampling of the weights 1/(r+4), precomputed once.
    static CDF: std::sync::LazyLock<Vec<f64>> = std::sync::LazyLock::new(|| {
        let mut acc = 0.0;
        SURNAMES
            .iter()
            .enumerate()
            .map(|(r, _)| {
                acc += 1.0 / (r as f64 + 4.0);
                acc
            })
            .collect()
    });
    let total = CDF.last().copied().unwrap_or(1.0);
    let x = rng.random::<f64>() * total;
    let i = CDF.partition_point(|c| *c < x).min(SURNAMES.len() - 1);
    SURNAMES[i]
}

fn pool(male: bool, birth_year: i32) -> &'static str {
    match (male, birth_year) {
        (true, ..1965) => MALE_OLD,
        (true, 1965..1990) => MALE_MID,
        (true, _) => MALE_NEW,
        (false, ..1965) => FEMALE_OLD,
        (false, 1965..1990) => FEMALE_MID,
        (false, _) => FEMALE_NEW,
    }
}

fn pick_char(rng: &mut impl Rng, pool: &str) -> char {
    let n = pool.chars().count();
    pool.chars().nth(rng.random_range(0..n)).unwrap_or('明')
}

/// A given name of one or two characters typical of the person's era and gender. A quarter are
/// single characters, which is what makes namesakes (王伟, 李娜) common. Rarely a rare character.
pub fn given_name(rng: &mut impl Rng, male: bool, birth_year: i32) -> String {
    let p = pool(male, birth_year);
    let len = if rng.random_bool(0.25) { 1 } else { 2 };
    let mut s = String::with_capacity(8);
    for _ in 0..len {
        s.push(pick_char(rng, p));
    }
    if rng.random_bool(0.004) {
        // Replace the last character with a rare one.
        s.pop();
        s.push_str(RARE_CHARS.choose(rng).copied().unwrap_or("堃"));
    }
    s
}

/// A transliterated minority name with the standard middle dot.
pub fn minority_name(rng: &mut impl Rng) -> String {
    let a = MINORITY_FIRST.choose(rng).copied().unwrap_or("艾力");
    let b = MINORITY_SECOND.choose(rng).copied().unwrap_or("买买提");
    format!("{a}·{b}")
}

/// Replaces one character of the given name (never the surname) with a homophone, if the name
/// has one that can be swapped.
pub fn homophone_typo(rng: &mut impl Rng, name: &str, surname_len: usize) -> Option<String> {
    swap_from(rng, name, surname_len, HOMOPHONES)
}

/// Replaces one character of the given name with a look-alike, if it has one.
pub fn lookalike_typo(rng: &mut impl Rng, name: &str, surname_len: usize) -> Option<String> {
    swap_from(rng, name, surname_len, LOOKALIKES)
}

fn swap_from(
    rng: &mut impl Rng,
    name: &str,
    surname_len: usize,
    table: &[(&str, &str)],
) -> Option<String> {
    let chars: Vec<char> = name.chars().collect();
    let candidates: Vec<(usize, &str)> = chars
        .iter()
        .enumerate()
        .skip(surname_len)
        .filter_map(|(i, c)| {
            let s = c.to_string();
            table
                .iter()
                .find_map(|(a, b)| {
                    if *a == s {
                        Some(*b)
                    } else if *b == s {
                        Some(*a)
                    } else {
                        None
                    }
                })
                .map(|r| (i, r))
        })
        .collect();
    let (pos, rep) = *candidates.choose(rng)?;
    let mut out = String::with_capacity(name.len());
    for (i, c) in chars.iter().enumerate() {
        if i == pos {
            out.push_str(rep);
        } else {
            out.push(*c);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn homophone_pairs_are_single_characters() {
        for (a, b) in HOMOPHONES.iter().chain(LOOKALIKES) {
            assert_eq!(a.chars().count(), 1);
            assert_eq!(b.chars().count(), 1);
        }
    }

    #[test]
    fn surnames_are_skewed_towards_the_common_ones() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let n = 20_000;
        let wang = (0..n).filter(|_| surname(&mut rng) == "王").count();
        // 王 has weight 1/4 of a total of about 3.6.
        assert!(wang > n / 25 && wang < n / 8, "{wang}");
    }

    #[test]
    fn typos_never_touch_the_surname() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        assert_eq!(homophone_typo(&mut rng, "文明", 1).as_deref(), Some("文鸣"));
        assert_eq!(homophone_typo(&mut rng, "王刚", 1), None);
    }
}
