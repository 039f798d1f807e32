//! Kernels of the linkage engine: comparing a pair (the comparison vector), counting agreement
//! patterns (what EM iterates over), and blocking a file against a register.
//!
//! Records are built from a fixed seed: a register of distinct synthetic people and a file of
//! damaged copies of some of them (traditional characters, 15-digit numbers, typos), so the
//! comparisons exercise the fuzzy levels as well as the exact ones.
//!
//! Run with `cargo bench -p hedui-benches --bench linkage`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hedui_identity::id::check_char;
use hedui_linkage::blocking::Blocking;
use hedui_linkage::comparison::{Gammas, compare};
use hedui_linkage::record::{InputRecord, Interner, Records, prepare};
use hedui_linkage::train::count_patterns;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const SURNAMES: &str = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹";
const GIVEN: &str = "伟强磊军杰涛明华建国秀英兰芳丽静敏燕娟红霞玲婷娜欣怡涵宇浩轩子晨";

fn person(rng: &mut ChaCha8Rng, i: usize) -> InputRecord {
    let s: Vec<char> = SURNAMES.chars().collect();
    let g: Vec<char> = GIVEN.chars().collect();
    let mut name = String::new();
    name.push(s[rng.random_range(0..s.len())]);
    for _ in 0..rng.random_range(1..3) {
        name.push(g[rng.random_range(0..g.len())]);
    }
    let year = rng.random_range(1940..2015);
    let (m, d) = (rng.random_range(1..13), rng.random_range(1..29));
    let first17 = format!("421303{year}{m:02}{d:02}{:03}", rng.random_range(0..1000));
    let c = check_char(first17.as_bytes()).map_or('0', char::from);
    InputRecord {
        record_id: format!("R{i}"),
        name: Some(name),
        id_number: Some(format!("{first17}{c}")),
        birth_date: Some(format!("{year}-{m:02}-{d:02}")),
        gender: Some(if rng.random_bool(0.5) { "1" } else { "2" }.into()),
        ..Default::default()
    }
}

fn damaged(rng: &mut ChaCha8Rng, r: &InputRecord, i: usize) -> InputRecord {
    let mut c = r.clone();
    c.record_id = format!("L{i}");
    match rng.random_range(0..10) {
        0 => c.name = c.name.as_deref().map(hanconv::s2t),
        1 => {
            let id = c.id_number.clone().unwrap_or_default();
            c.id_number = Some(format!("{}{}", &id[..6], &id[8..17]));
        }
        2 => {
            let mut b = c.id_number.clone().unwrap_or_default().into_bytes();
            b[10] = b'0' + (b[10] - b'0' + 1) % 10;
            c.id_number = String::from_utf8(b).ok();
        }
        3 => c.id_number = None,
        _ => {}
    }
    c
}

fn data(n_right: usize, n_left: usize) -> (Records, Records, Interner) {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let right: Vec<InputRecord> = (0..n_right).map(|i| person(&mut rng, i)).collect();
    let left: Vec<InputRecord> = (0..n_left)
        .map(|i| {
            let k = rng.random_range(0..n_right);
            damaged(&mut rng, &right[k], i)
        })
        .collect();
    let mut strings = Interner::new();
    let l = prepare(&left, &mut strings, None);
    let r = prepare(&right, &mut strings, None);
    (l, r, strings)
}

fn benches(c: &mut Criterion) {
    let (left, right, strings) = data(50_000, 5_000);
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let random_pairs: Vec<(usize, usize)> = (0..10_000)
        .map(|_| {
            (
                rng.random_range(0..left.len()),
                rng.random_range(0..right.len()),
            )
        })
        .collect();
    let (candidates, _) = Blocking::default().candidates(&left, &right, false);

    let mut g = c.benchmark_group("compare");
    g.throughput(Throughput::Elements(random_pairs.len() as u64));
    g.bench_function("random pairs (u sampling)", |b| {
        b.iter(|| {
            for &(l, r) in &random_pairs {
                black_box(compare(&left, l, &right, r, &strings));
            }
        })
    });
    g.throughput(Throughput::Elements(candidates.len() as u64));
    g.bench_function("candidate pairs (prediction)", |b| {
        b.iter(|| {
            for c in &candidates {
                black_box(compare(&left, c.l as usize, &right, c.r as usize, &strings));
            }
        })
    });
    g.finish();

    let gammas: Vec<Gammas> = random_pairs
        .iter()
        .chain(
            candidates
                .iter()
                .map(|c| (c.l as usize, c.r as usize))
                .collect::<Vec<_>>()
                .iter(),
        )
        .map(|&(l, r)| compare(&left, l, &right, r, &strings))
        .collect();
    let mut g = c.benchmark_group("patterns");
    g.throughput(Throughput::Elements(gammas.len() as u64));
    g.bench_function("count agreement patterns", |b| {
        b.iter(|| black_box(count_patterns(gammas.clone())))
    });
    g.finish();

    let mut g = c.benchmark_group("blocking");
    g.throughput(Throughput::Elements((left.len() + right.len()) as u64));
    g.sample_size(10);
    g.bench_function("5k × 50k, default rules", |b| {
        b.iter(|| black_box(Blocking::default().candidates(&left, &right, false)))
    });
    g.finish();
}

criterion_group!(linkage, benches);
criterion_main!(linkage);
