//! Throughput of the identity standardisers over a few thousand varied, synthetic inputs:
//! `parse_id`, `standardize_name`, `parse_date`, `parse_phone` and `parse_address`.
//!
//! The inputs mix clean values with the damage DOMAIN.md §4.5 lists (full-width digits,
//! separators, traditional characters, dot variants, placeholders, other date forms …) in
//! roughly the proportions a department extract shows, so the numbers reflect real work rather
//! than the fast path alone. Everything is generated from a fixed seed: runs are comparable.
//!
//! Run with `cargo bench -p hedui-benches --bench identity`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hedui_identity::address::parse_address;
use hedui_identity::date::{DateContext, parse_date};
use hedui_identity::divisions;
use hedui_identity::id::{check_char, parse_id};
use hedui_identity::name::standardize_name;
use hedui_identity::phone::{SUIZHOU_AREA_CODE, parse_phone};

/// How many inputs of each kind.
const N: usize = 4096;

/// A small deterministic generator (xorshift64*), so the bench needs no RNG dependency.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

fn full_width(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_digit() {
                char::from_u32(u32::from(c) + 0xFEE0).unwrap_or(c)
            } else {
                c
            }
        })
        .collect()
}

fn ids(g: &mut Gen) -> Vec<String> {
    let regions = ["421303", "421321", "421381", "429001", "420983", "110105"];
    (0..N)
        .map(|_| {
            let first = format!(
                "{}{:04}{:02}{:02}{:03}",
                g.pick(&regions),
                1920 + g.below(100),
                1 + g.below(12),
                1 + g.below(28),
                g.below(1000)
            );
            let check = check_char(first.as_bytes()).map_or('0', char::from);
            let id = format!("{first}{check}");
            match g.below(10) {
                0 => id.to_lowercase().replace('X', "x"),
                1 => full_width(&id),
                2 => format!("{} {} {}", &id[..6], &id[6..14], &id[14..]),
                3 => format!("{}{}", &id[..6], &id[8..17]),
                4 => format!("{}1", &id[..17]),
                5 => "NULL".to_owned(),
                _ => id,
            }
        })
        .collect()
}

fn names(g: &mut Gen) -> Vec<String> {
    let surnames = [
        "张", "王", "李", "刘", "陈", "曾", "单", "欧阳", "司马", "劉", "陳", "黄", "周", "吴",
    ];
    let given = [
        "伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟",
        "涛", "明", "超", "秀兰", "霞", "平", "刚", "桂英", "晓明", "國華", "长乐",
    ];
    let minority = [
        "阿依古丽•买买提",
        "阿依古丽·买买提",
        "买买提・艾力",
        "热依拉 吐尔逊",
        "古丽．艾买提",
    ];
    (0..N)
        .map(|_| match g.below(12) {
            0 => g.pick(&minority).to_string(),
            1 => format!("{} {}", g.pick(&surnames), g.pick(&given)),
            2 => format!("{}?{}", g.pick(&surnames), g.pick(&given)),
            3 => format!("{}{}（户主）", g.pick(&surnames), g.pick(&given)),
            4 => "不详".to_owned(),
            _ => format!("{}{}", g.pick(&surnames), g.pick(&given)),
        })
        .collect()
}

fn dates(g: &mut Gen) -> Vec<String> {
    const MONTHS: [&str; 12] = [
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ];
    (0..N)
        .map(|_| {
            let (y, m, d) = (1930 + g.below(90), 1 + g.below(12), 1 + g.below(28));
            match g.below(12) {
                0 => format!("{y}/{m}/{d}"),
                1 => format!("{y}{m:02}{d:02}"),
                2 => format!("{y}年{m}月{d}日"),
                3 => format!("{d:02}-{}-{:02}", MONTHS[m - 1], y % 100),
                4 => format!("{y}.{m:02}"),
                5 => format!("{y}{m:02}"),
                6 => format!("{y:04}-{m:02}-{d:02} 12:34:56"),
                7 => "1900-01-01".to_owned(),
                8 => full_width(&format!("{y:04}-{m:02}-{d:02}")),
                9 => "二〇二一年三月五日".to_owned(),
                _ => format!("{y:04}-{m:02}-{d:02}"),
            }
        })
        .collect()
}

fn phones(g: &mut Gen) -> Vec<String> {
    (0..N)
        .map(|_| {
            let mobile = format!("13{}{:08}", g.below(10), g.below(100_000_000));
            let local = format!("3{:06}", g.below(1_000_000));
            match g.below(8) {
                0 => format!("+86 {} {} {}", &mobile[..3], &mobile[3..7], &mobile[7..]),
                1 => format!("0722-{local}"),
                2 => local,
                3 => format!("{mobile}/0722-{local}"),
                4 => full_width(&mobile),
                5 => "无".to_owned(),
                _ => mobile,
            }
        })
        .collect()
}

fn addresses(g: &mut Gen) -> Vec<String> {
    let villages = [
        "双泉村",
        "季梁社区",
        "新村社区",
        "XX村",
        "何店村居委会",
        "某某村村委会",
    ];
    let roads = ["交通大道", "烈山大道", "解放路", "青年街", "新村路"];
    let groups = ["五组", "3组", "第十二组", "2队"];
    (0..N)
        .map(|_| {
            let t = g.pick(divisions::TOWNSHIPS);
            let county = t.county().map_or("", |c| c.name);
            let town = match g.below(3) {
                0 => t.name.to_owned(),
                1 => format!("{}办事处", t.short_name()),
                _ => t.short_name().to_owned(),
            };
            match g.below(6) {
                0 => format!("随州市{}{}号", g.pick(&roads), 1 + g.below(300)),
                1 => format!(
                    "湖北省随州市{county}{town}{}{}栋{}单元{}室",
                    g.pick(&villages),
                    1 + g.below(20),
                    1 + g.below(4),
                    101 + g.below(600)
                ),
                2 => format!("{}{}", t.name, g.pick(&villages)),
                3 => format!("隨州市 {county} {town} {}", g.pick(&villages)),
                _ => format!("{county}{town}{}{}", g.pick(&villages), g.pick(&groups)),
            }
        })
        .collect()
}

fn identity(c: &mut Criterion) {
    let mut g = Gen(0x5EED_1D3A_7177_2021);
    let ids = ids(&mut g);
    let names = names(&mut g);
    let dates = dates(&mut g);
    let phones = phones(&mut g);
    let addresses = addresses(&mut g);
    // The extract date; the bench crate does not name chrono's type, so it is parsed.
    let ctx = DateContext {
        reference: parse_date("2021-06-30", &DateContext::default()).date,
        allow_excel_serial: false,
    };

    let mut group = c.benchmark_group("identity");
    group.throughput(Throughput::Elements(N as u64));
    group.bench_function("parse_id", |b| {
        b.iter(|| {
            for s in &ids {
                black_box(parse_id(black_box(s)));
            }
        });
    });
    group.bench_function("standardize_name", |b| {
        b.iter(|| {
            for s in &names {
                black_box(standardize_name(black_box(s)));
            }
        });
    });
    group.bench_function("parse_date", |b| {
        b.iter(|| {
            for s in &dates {
                black_box(parse_date(black_box(s), &ctx));
            }
        });
    });
    group.bench_function("parse_phone", |b| {
        b.iter(|| {
            for s in &phones {
                black_box(parse_phone(black_box(s), Some(SUIZHOU_AREA_CODE)));
            }
        });
    });
    group.bench_function("parse_address", |b| {
        b.iter(|| {
            for s in &addresses {
                black_box(parse_address(black_box(s)));
            }
        });
    });
    group.finish();
}

criterion_group!(benches, identity);
criterion_main!(benches);
