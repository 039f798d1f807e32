//! Training: u by random sampling, λ from a deterministic rule, m by expectation maximisation
//! on agreement-pattern counts (each iteration costs the number of distinct patterns, not the
//! number of pairs), or every parameter from labelled pairs.

use std::borrow::Cow;
use std::collections::BTreeMap;

use rustc_hash::FxHashMap as HashMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::blocking::{Blocking, BlockingRule, RulePairs};
use crate::comparison::{ComparisonKind, Gammas, compare, compare_shaped, name_shapes};
use crate::model::{
    ComparisonParams, EmSession, LevelParams, MIN_PROBABILITY, Model, TrainingInfo,
};
use crate::record::{Interner, Records, SampleStrings};

/// Level counts per comparison: `counts[c][level]` (nulls not counted).
pub type LevelCounts = Vec<Vec<u64>>;

fn empty_counts() -> LevelCounts {
    ComparisonKind::ALL
        .iter()
        .map(|k| vec![0; k.levels().len()])
        .collect()
}

/// Counts agreement patterns, deterministically ordered.
pub fn count_patterns<I>(gammas: I) -> BTreeMap<Gammas, u64>
where
    I: IntoParallelIterator<Item = Gammas>,
{
    let maps: Vec<HashMap<Gammas, u64>> = gammas
        .into_par_iter()
        .fold(HashMap::default, |mut m, g| {
            *m.entry(g).or_insert(0) += 1;
            m
        })
        .collect();
    let mut out = BTreeMap::new();
    for m in maps {
        for (g, n) in m {
            *out.entry(g).or_insert(0) += n;
        }
    }
    out
}

/// How many of the sampled pairs each pooled record is in, on average (see
/// [`estimate_u_using_random_sampling`]).
const PAIRS_PER_POOLED_RECORD: u64 = 50;

/// u probabilities from comparing `n` random pairs (seeded). Levels never seen get a small
/// floor so that no weight is infinite.
///
/// The pairs are drawn independently and uniformly from two pools of records, each a random
/// sample (without replacement) of its side, big enough that a record is in about
/// [`PAIRS_PER_POOLED_RECORD`] pairs: the pools' records are copied together with their own
/// small interner, so that a million comparisons touch a few megabytes rather than jumping
/// about a register's columns and strings. Pooling adds to each u's sampling error only the
/// error of estimating the population's value frequencies from the pool (about 1% for name
/// agreement from a 20,000-record pool), well under the error of counting the agreeing pairs
/// themselves. (Splink's `estimate_u_using_random_sampling` takes all its pairs from a record
/// sample in the same way.)
pub fn estimate_u_using_random_sampling(
    left: &Records,
    right: &Records,
    dedupe: bool,
    strings: &Interner,
    n: u64,
    seed: u64,
) -> (Vec<Vec<f64>>, u64, f64) {
    if left.is_empty() || right.is_empty() || (dedupe && left.len() < 2) {
        return (
            empty_counts()
                .iter()
                .map(|c| vec![1.0 / c.len() as f64; c.len()])
                .collect(),
            0,
            0.0,
        );
    }
    let pool_size = usize::try_from((n / PAIRS_PER_POOLED_RECORD).max(1_000)).unwrap_or(usize::MAX);
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x005E_ED0F_u64);
    let mut pool = |records: &Records, into: &mut SampleStrings<'_>| {
        let mut rows =
            rand::seq::index::sample(&mut rng, records.len(), pool_size.min(records.len()))
                .into_vec();
        rows.sort_unstable();
        records.subset(&rows, into)
    };
    let mut pooled_strings = SampleStrings::new(strings);
    let left_pool = pool(left, &mut pooled_strings);
    let right_pool = if dedupe {
        None
    } else {
        Some(pool(right, &mut pooled_strings))
    };
    let (left, right) = (&left_pool, right_pool.as_ref().unwrap_or(&left_pool));
    let pooled_strings = pooled_strings.finish();
    let strings = &pooled_strings;
    // Each pooled record is in some 50 pairs: its name's shape is worked out once.
    let left_shapes = name_shapes(left, strings);
    let right_shapes = right_pool.as_ref().map(|r| name_shapes(r, strings));
    let shapes = (
        &left_shapes[..],
        right_shapes.as_deref().unwrap_or(&left_shapes),
    );
    // Fixed-size chunks with their own streams: the same sample at any thread count.
    const CHUNK: u64 = 65_536;
    let chunks = n.div_ceil(CHUNK);
    let partial: Vec<(LevelCounts, u64)> = (0..chunks)
        .into_par_iter()
        .map(|c| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed ^ (c.wrapping_mul(0x9E37_79B9_7F4A_7C15)));
            let mut counts = empty_counts();
            let mut id_non_null = 0u64;
            let todo = CHUNK.min(n - c * CHUNK);
            for _ in 0..todo {
                let l = rng.random_range(0..left.len());
                let mut r = rng.random_range(0..right.len());
                if dedupe && r == l {
                    r = (r + 1) % right.len();
                }
                let g = compare_shaped(left, l, right, r, strings, shapes);
                add_counts(&mut counts, &g, 1);
                id_non_null += u64::from(g[0] >= 0);
            }
            (counts, id_non_null)
        })
        .collect();
    let mut counts = empty_counts();
    let mut id_non_null = 0;
    for (p, nn) in partial {
        id_non_null += nn;
        for (a, b) in counts.iter_mut().zip(p) {
            for (x, y) in a.iter_mut().zip(b) {
                *x += y;
            }
        }
    }
    let floor = 1.0 / (2.0 * n.max(1) as f64);
    let u = counts
        .iter()
        .map(|levels| normalise(levels.iter().map(|&x| x as f64).collect(), floor))
        .collect();
    (u, n, id_non_null as f64 / n.max(1) as f64)
}

fn add_counts(counts: &mut LevelCounts, g: &Gammas, n: u64) {
    for (c, (&gamma, kind)) in g.iter().zip(ComparisonKind::ALL).enumerate() {
        if let Some(level) = kind.level_of(gamma) {
            counts[c][level] += n;
        }
    }
}

fn normalise(mut v: Vec<f64>, floor: f64) -> Vec<f64> {
    let total: f64 = v.iter().sum();
    if total <= 0.0 {
        let k = v.len() as f64;
        return vec![1.0 / k; v.len()];
    }
    for x in &mut v {
        *x = (*x / total).max(floor);
    }
    let total: f64 = v.iter().sum();
    v.iter().map(|x| x / total).collect()
}

/// Domain-informed starting m values, also the centre of the weak prior EM uses: among true
/// matches most agree exactly, a few carry each kind of damage.
pub fn initial_m() -> Vec<Vec<f64>> {
    ComparisonKind::ALL
        .iter()
        .map(|k| match k {
            ComparisonKind::IdNumber => vec![0.9, 0.03, 0.01, 0.01, 0.02, 0.002, 0.028],
            ComparisonKind::Name => vec![0.85, 0.04, 0.03, 0.03, 0.02, 0.01, 0.02],
            ComparisonKind::BirthDate => vec![0.93, 0.01, 0.03, 0.01, 0.02],
            ComparisonKind::Gender => vec![0.98, 0.02],
            ComparisonKind::Address => vec![0.6, 0.2, 0.1, 0.1],
            ComparisonKind::Phone => vec![0.7, 0.3],
        })
        .collect()
}

/// Pseudo-pairs of the weak Dirichlet prior on m (maximum a posteriori EM). It keeps small
/// sessions from collapsing to degenerate solutions (a level never seen among a few hundred
/// matches would otherwise get m ≈ 0 and an infinite penalty) and vanishes on large ones.
fn prior_strength(pairs: f64) -> f64 {
    (pairs * 0.001).max(10.0)
}

/// Result of one EM run.
#[derive(Debug, Clone)]
pub struct EmResult {
    /// Estimated m (only the trained comparisons change).
    pub m: Vec<Vec<f64>>,
    /// Proportion of matches among the pairs.
    pub lambda: f64,
    /// Iterations run.
    pub iterations: u32,
}

/// Expectation maximisation on agreement-pattern counts. `active[c]` says whether comparison
/// `c` takes part in the session (comparisons used by the session's blocking rule do not: every
/// pair agrees on them by construction). u is held fixed, as Splink does by default.
pub fn estimate_parameters_using_expectation_maximisation(
    patterns: &BTreeMap<Gammas, u64>,
    m_start: &[Vec<f64>],
    u: &[Vec<f64>],
    active: &[bool; 6],
    lambda_start: f64,
    max_iterations: u32,
) -> EmResult {
    let total: f64 = patterns.values().map(|&n| n as f64).sum();
    let alpha = prior_strength(total);
    em_with_prior(
        patterns,
        m_start,
        u,
        active,
        lambda_start,
        max_iterations,
        &initial_m(),
        &[alpha; 6],
    )
}

/// EM with an explicit Dirichlet prior on m: centre `prior[c]`, strength `alpha[c]` pseudo-pairs.
#[allow(
    clippy::too_many_arguments,
    reason = "the EM inputs are all distinct quantities"
)]
pub fn em_with_prior(
    patterns: &BTreeMap<Gammas, u64>,
    m_start: &[Vec<f64>],
    u: &[Vec<f64>],
    active: &[bool; 6],
    lambda_start: f64,
    max_iterations: u32,
    prior: &[Vec<f64>],
    alpha: &[f64; 6],
) -> EmResult {
    let mut m: Vec<Vec<f64>> = m_start.to_vec();
    let mut lambda = lambda_start.clamp(1e-6, 1.0 - 1e-6);
    let total: f64 = patterns.values().map(|&n| n as f64).sum();
    let mut iterations = 0;
    if total == 0.0 {
        return EmResult {
            m,
            lambda,
            iterations,
        };
    }
    let floor = MIN_PROBABILITY;
    for it in 1..=max_iterations {
        iterations = it;
        let mut m_acc = empty_counts()
            .iter()
            .map(|c| vec![0.0; c.len()])
            .collect::<Vec<Vec<f64>>>();
        let mut match_mass = 0.0;
        for (g, &n) in patterns {
            let n = n as f64;
            let (mut pm, mut pu) = (lambda, 1.0 - lambda);
            for (c, (&gamma, kind)) in g.iter().zip(ComparisonKind::ALL).enumerate() {
                if !active[c] {
                    continue;
                }
                if let Some(level) = kind.level_of(gamma) {
                    pm *= m[c][level];
                    pu *= u[c][level];
                }
            }
            let p = if pm + pu > 0.0 { pm / (pm + pu) } else { 0.0 };
            match_mass += n * p;
            for (c, (&gamma, kind)) in g.iter().zip(ComparisonKind::ALL).enumerate() {
                if let Some(level) = kind.level_of(gamma) {
                    m_acc[c][level] += n * p;
                }
            }
        }
        let new_lambda = (match_mass / total).clamp(1e-9, 1.0 - 1e-9);
        let mut change = (new_lambda - lambda).abs();
        for c in 0..6 {
            if !active[c] {
                continue;
            }
            let with_prior: Vec<f64> = m_acc[c]
                .iter()
                .zip(&prior[c])
                .map(|(a, p)| a + alpha[c] * p)
                .collect();
            let new = normalise(with_prior, floor);
            for (a, b) in m[c].iter().zip(&new) {
                change = change.max((a - b).abs());
            }
            m[c] = new;
        }
        lambda = new_lambda;
        if change < 1e-6 {
            break;
        }
    }
    EmResult {
        m,
        lambda,
        iterations,
    }
}

/// A pair whose name occurs at most this many times in both inputs together is an anchor.
const RARE_NAME_PAIR_COUNT: u32 = 4;

/// Occurrences of each standardised name over the inputs, indexed by interned id.
fn name_counts(left: &Records, right: &Records, dedupe: bool, strings: &Interner) -> Vec<u32> {
    let mut counts = vec![0u32; strings.len()];
    let sides: &[&Records] = if dedupe { &[left] } else { &[left, right] };
    for recs in sides {
        for &n in &recs.name {
            counts[n as usize] = counts[n as usize].saturating_add(1);
        }
    }
    counts[0] = u32::MAX / 4;
    counts
}

/// Settings of unsupervised training.
#[derive(Debug, Clone)]
pub struct TrainSettings {
    /// Random pairs for u. The default, a million (Splink's default `max_pairs` too), puts
    /// about a thousand pairs in a level a random pair reaches one time in a thousand (a name
    /// one character apart, say): its u, and so its weight, is then known to within a few per
    /// cent, a tenth of a bit.
    pub u_sample_pairs: u64,
    /// Seed.
    pub seed: u64,
    /// EM iteration cap.
    pub max_iterations: u32,
}

impl Default for TrainSettings {
    fn default() -> Self {
        TrainSettings {
            u_sample_pairs: 1_000_000,
            seed: 1,
            max_iterations: 100,
        }
    }
}

fn params(m: &[Vec<f64>], u: &[Vec<f64>]) -> Vec<ComparisonParams> {
    ComparisonKind::ALL
        .iter()
        .enumerate()
        .map(|(c, kind)| ComparisonParams {
            kind: *kind,
            levels: kind
                .levels()
                .iter()
                .enumerate()
                .map(|(i, label)| LevelParams {
                    label: (*label).into(),
                    m_probability: m[c][i],
                    u_probability: u[c][i],
                    tf_adjustment: kind.tf_levels().contains(&i),
                })
                .collect(),
        })
        .collect()
}

/// The comparisons a blocking rule forces to agree (excluded from its EM session).
fn blocked_on(rule: BlockingRule) -> [bool; 6] {
    // [id, name, dob, gender, address, phone]; true = excluded.
    match rule {
        BlockingRule::IdNumber | BlockingRule::IdOneEdit => [true, false, true, true, false, false],
        // Given names are gendered: among namesakes, gender agrees far more often than among
        // random pairs, so it is excluded where the name is blocked on.
        BlockingRule::PinyinBirthDate => [false, true, true, true, false, false],
        BlockingRule::SurnameBirthDateTownship => [false, true, true, false, true, false],
        BlockingRule::NameTownship => [false, true, false, true, true, false],
    }
}

/// Trains a model without labels:
/// 1. u from random pairs;
/// 2. m by EM on the pairs of the exact-ID rule (training name, address, phone) and of the
///    pinyin + birth-date rule (training the ID number, gender, address, phone), each on its
///    agreement-pattern counts; parameters estimated in both sessions are averaged;
/// 3. λ from the exact-ID pairs divided by the share of matches that agree exactly on the ID
///    (the ID's trained m), over all pairs.
pub fn train_unsupervised(
    left: &Records,
    right: &Records,
    dedupe: bool,
    strings: &Interner,
    blocking: &Blocking,
    settings: &TrainSettings,
) -> Model {
    train_unsupervised_with(left, right, dedupe, strings, blocking, settings, None)
}

/// [`train_unsupervised`] taking its rules' pairs from `known` (as prediction will use them)
/// where they were made by `blocking` for these inputs.
pub fn train_unsupervised_with(
    left: &Records,
    right: &Records,
    dedupe: bool,
    strings: &Interner,
    blocking: &Blocking,
    settings: &TrainSettings,
    known: Option<&RulePairs>,
) -> Model {
    let known = known.filter(|k| k.fits(blocking, left, right, dedupe));
    let pairs_of = |rule: BlockingRule| -> Cow<'_, [(u32, u32)]> {
        match known.and_then(|k| k.get(rule)) {
            Some(p) => Cow::Borrowed(p),
            None => Cow::Owned(blocking.rule_pairs(rule, left, right, dedupe).0),
        }
    };
    let (u, sampled, id_non_null) = estimate_u_using_random_sampling(
        left,
        right,
        dedupe,
        strings,
        settings.u_sample_pairs,
        settings.seed,
    );
    let m0 = initial_m();
    let mut m_sum = vec![vec![0.0; 0]; 6];
    let mut m_n = [0u32; 6];
    let mut sessions = Vec::new();
    let mut exact_id_pairs = 0u64;
    let mut exact_patterns = BTreeMap::new();
    for rule in [BlockingRule::IdNumber, BlockingRule::PinyinBirthDate] {
        let pairs = pairs_of(rule);
        if rule == BlockingRule::IdNumber {
            exact_id_pairs = pairs.len() as u64;
        }
        let patterns = count_patterns(
            pairs
                .par_iter()
                .map(|&(l, r)| compare(left, l as usize, right, r as usize, strings))
                .collect::<Vec<_>>(),
        );
        if rule == BlockingRule::IdNumber {
            exact_patterns = patterns.clone();
        }
        let excluded = blocked_on(rule);
        let active: [bool; 6] = std::array::from_fn(|c| !excluded[c]);
        let mut prior = initial_m();
        let mut alpha = [prior_strength(pairs.len() as f64); 6];
        if rule == BlockingRule::PinyinBirthDate {
            // Anchors: pairs agreeing on a rare name and the birth date are matches but for a
            // negligible share, so the ID levels among them estimate the ID's m directly. They
            // centre a strong prior: with the name and birth date blocked on, the ID is often
            // the only informative comparison left, and EM alone could not tell matches from
            // namesakes born the same day.
            let counts = name_counts(left, right, dedupe, strings);
            let mut anchor = vec![0u64; ComparisonKind::IdNumber.levels().len()];
            for &(l, r) in pairs.iter() {
                let (a, b) = (left.name[l as usize], right.name[r as usize]);
                if counts[a as usize] + counts[b as usize] <= RARE_NAME_PAIR_COUNT {
                    let g = compare(left, l as usize, right, r as usize, strings);
                    if let Some(level) = ComparisonKind::IdNumber.level_of(g[0]) {
                        anchor[level] += 1;
                    }
                }
            }
            let n: u64 = anchor.iter().sum();
            if n >= 30 {
                let smoothed: Vec<f64> = anchor
                    .iter()
                    .zip(&prior[0])
                    .map(|(&a, p)| a as f64 + 5.0 * p)
                    .collect();
                prior[0] = normalise(smoothed, MIN_PROBABILITY);
                alpha[0] = 4.0 * n as f64;
            }
        }
        let em = em_with_prior(
            &patterns,
            &prior,
            &u,
            &active,
            0.5,
            settings.max_iterations,
            &prior,
            &alpha,
        );
        sessions.push(EmSession {
            blocking_rule: rule.name().into(),
            trained: ComparisonKind::ALL
                .iter()
                .zip(active)
                .filter(|(_, a)| *a)
                .map(|(k, _)| k.name().to_owned())
                .collect(),
            pairs: pairs.len() as u64,
            patterns: patterns.len() as u64,
            iterations: em.iterations,
            match_proportion: em.lambda,
        });
        if pairs.is_empty() {
            continue;
        }
        for c in 0..6 {
            if active[c] {
                if m_sum[c].is_empty() {
                    m_sum[c] = vec![0.0; em.m[c].len()];
                }
                for (s, x) in m_sum[c].iter_mut().zip(&em.m[c]) {
                    *s += x;
                }
                m_n[c] += 1;
            }
        }
    }
    let mut m: Vec<Vec<f64>> = (0..6)
        .map(|c| {
            if m_n[c] == 0 {
                m0[c].clone()
            } else {
                normalise(
                    m_sum[c].iter().map(|x| x / f64::from(m_n[c])).collect(),
                    MIN_PROBABILITY,
                )
            }
        })
        .collect();
    let one_edit = pairs_of(BlockingRule::IdOneEdit);
    let one_edit_patterns = count_patterns(
        one_edit
            .par_iter()
            .map(|&(l, r)| compare(left, l as usize, right, r as usize, strings))
            .collect::<Vec<_>>(),
    );
    let id_typo_pairs = estimate_id_typo_levels(&exact_patterns, &one_edit_patterns, &mut m[0]);
    let total_pairs = if dedupe {
        (left.len() as f64) * (left.len() as f64 - 1.0) / 2.0
    } else {
        left.len() as f64 * right.len() as f64
    };
    // Share of true matches that the exact-ID rule finds: both IDs present, and equal.
    let id_exact_share = (m[0][0] + m[0][1]).clamp(0.05, 1.0) * id_non_null.clamp(0.05, 1.0);
    let lambda = if exact_id_pairs > 0 && total_pairs > 0.0 {
        (exact_id_pairs as f64 / id_exact_share / total_pairs).clamp(1e-12, 0.5)
    } else {
        // No ID overlap at all: assume each left record has one match on the right.
        (left.len().min(right.len()) as f64 / total_pairs.max(1.0)).clamp(1e-12, 0.5)
    };
    let mut model = Model::new(lambda, params(&m, &u), blocking.clone());
    model.training = TrainingInfo {
        method: "unsupervised".into(),
        u_sample_pairs: sampled,
        em_sessions: sessions,
        labelled_pairs: 0,
        id_typo_pairs,
    };
    model
}

/// Sets the m of the ID's typo levels from the data. The EM session that trains the ID's m
/// only sees pairs that agree on a birth date, and a record whose number is mistyped often has
/// no birth date (it is derived only from valid numbers), so EM under-counts typos. Instead:
/// pairs one edit apart (from the one-edit rule) and pairs with equal numbers (from the exact
/// rule), each counted only where the names agree (which leaves almost only matches), estimate
/// how often a match's number carries each kind of typo relative to how often it is exact.
fn estimate_id_typo_levels(
    exact_patterns: &BTreeMap<Gammas, u64>,
    one_edit_patterns: &BTreeMap<Gammas, u64>,
    m_id: &mut Vec<f64>,
) -> Vec<(String, u64)> {
    // ID level counts among pairs whose names agree (exact, folded or same pinyin).
    let count = |patterns: &BTreeMap<Gammas, u64>| -> Vec<u64> {
        let mut by_level = vec![0u64; ComparisonKind::IdNumber.levels().len()];
        for (g, n) in patterns {
            let names_agree = ComparisonKind::Name.level_of(g[1]).is_some_and(|l| l <= 2);
            if names_agree && let Some(level) = ComparisonKind::IdNumber.level_of(g[0]) {
                by_level[level] += n;
            }
        }
        by_level
    };
    let exact = count(exact_patterns);
    let typos = count(one_edit_patterns);
    let n_exact = (exact[0] + exact[1]) as f64;
    let labels = ComparisonKind::IdNumber.levels();
    let report: Vec<(String, u64)> = (2..=4).map(|k| (labels[k].to_owned(), typos[k])).collect();
    if n_exact < 100.0 {
        return report;
    }
    let m_exact = m_id[0] + m_id[1];
    for k in 2..=4 {
        // Half a pair of smoothing keeps a level never seen from an infinite penalty.
        m_id[k] = m_exact * (typos[k] as f64 + 0.5) / n_exact;
    }
    *m_id = normalise(std::mem::take(m_id), MIN_PROBABILITY);
    report
}

/// A labelled pair (from casework: same person or not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Label {
    /// Left record index.
    pub l: u32,
    /// Right record index.
    pub r: u32,
    /// Same person?
    pub is_match: bool,
}

/// Trains from labelled pairs: m from the matches, u from the non-matches (or from random
/// sampling if there are too few non-matches), λ as in unsupervised training.
pub fn train_from_labels(
    left: &Records,
    right: &Records,
    dedupe: bool,
    strings: &Interner,
    labels: &[Label],
    blocking: &Blocking,
    settings: &TrainSettings,
) -> Model {
    let mut unsupervised = train_unsupervised(left, right, dedupe, strings, blocking, settings);
    let mut mc = empty_counts();
    let mut uc = empty_counts();
    let (mut nm, mut nu) = (0u64, 0u64);
    for lab in labels {
        let g = compare(left, lab.l as usize, right, lab.r as usize, strings);
        if lab.is_match {
            add_counts(&mut mc, &g, 1);
            nm += 1;
        } else {
            add_counts(&mut uc, &g, 1);
            nu += 1;
        }
    }
    for (c, cp) in unsupervised.comparisons.iter_mut().enumerate() {
        // Laplace smoothing towards the unsupervised estimate keeps rare levels finite.
        let smooth = |counts: &[u64], prior: &mut dyn FnMut(usize) -> f64, n: u64| -> Vec<f64> {
            let k = 2.0;
            counts
                .iter()
                .enumerate()
                .map(|(i, &x)| (x as f64 + k * prior(i)) / (n as f64 + k))
                .collect()
        };
        let prior_m: Vec<f64> = cp.levels.iter().map(|l| l.m_probability).collect();
        let prior_u: Vec<f64> = cp.levels.iter().map(|l| l.u_probability).collect();
        if nm >= 20 {
            let m = smooth(&mc[c], &mut |i| prior_m[i], mc[c].iter().sum());
            for (l, v) in cp.levels.iter_mut().zip(normalise(m, MIN_PROBABILITY)) {
                l.m_probability = v;
            }
        }
        if nu >= 200 {
            let u = smooth(&uc[c], &mut |i| prior_u[i], uc[c].iter().sum());
            for (l, v) in cp.levels.iter_mut().zip(normalise(u, MIN_PROBABILITY)) {
                l.u_probability = v;
            }
        }
    }
    unsupervised.training.method = "labels".into();
    unsupervised.training.labelled_pairs = labels.len() as u64;
    unsupervised
}

#[cfg(test)]
mod tests {
    use super::*;

    /// EM recovers m, u and λ planted in synthetic comparison vectors.
    #[test]
    fn em_recovers_planted_parameters() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        // Planted parameters for three active comparisons (others null).
        let m_true: Vec<Vec<f64>> = initial_m()
            .iter()
            .zip(ComparisonKind::ALL)
            .map(|(_, k)| {
                let n = k.levels().len();
                let mut v: Vec<f64> = (0..n).map(|i| 0.6f64.powi(i as i32 + 1)).collect();
                let s: f64 = v.iter().sum();
                v.iter_mut().for_each(|x| *x /= s);
                v
            })
            .collect();
        let u_true: Vec<Vec<f64>> = ComparisonKind::ALL
            .iter()
            .map(|k| {
                let n = k.levels().len();
                let mut v: Vec<f64> = (0..n).map(|i| 0.5f64.powi((n - i) as i32)).collect();
                let s: f64 = v.iter().sum();
                v.iter_mut().for_each(|x| *x /= s);
                v
            })
            .collect();
        let lambda_true = 0.2;
        let draw = |rng: &mut ChaCha8Rng, p: &[f64]| -> usize {
            let x: f64 = rng.random();
            let mut acc = 0.0;
            for (i, q) in p.iter().enumerate() {
                acc += q;
                if x < acc {
                    return i;
                }
            }
            p.len() - 1
        };
        let active = [true, true, true, true, false, false];
        let mut gammas = Vec::new();
        for _ in 0..200_000 {
            let is_match = rng.random_bool(lambda_true);
            let mut g: Gammas = [-1; 6];
            for (c, kind) in ComparisonKind::ALL.iter().enumerate() {
                if !active[c] {
                    continue;
                }
                let p = if is_match { &m_true[c] } else { &u_true[c] };
                g[c] = kind.gamma_of(draw(&mut rng, p));
            }
            gammas.push(g);
        }
        let patterns = count_patterns(gammas);
        let em = estimate_parameters_using_expectation_maximisation(
            &patterns,
            &initial_m(),
            &u_true,
            &active,
            0.5,
            500,
        );
        assert!((em.lambda - lambda_true).abs() < 0.01, "λ {}", em.lambda);
        for (c, (est, planted)) in em.m.iter().zip(&m_true).take(4).enumerate() {
            for (a, b) in est.iter().zip(planted) {
                assert!((a - b).abs() < 0.02, "comparison {c}: m {a} vs planted {b}");
            }
        }
        // Each iteration costs the number of distinct patterns, far fewer than pairs.
        assert!(patterns.len() < 2_000);
    }
}

#[cfg(test)]
mod label_tests {
    use super::*;
    use crate::record::{InputRecord, prepare};

    /// Labels from casework move m towards what the matches show: here every labelled match has
    /// a birth date one day off, so that level's m rises well above its unsupervised value.
    #[test]
    fn training_from_labels_uses_the_labelled_matches() {
        let mk = |i: usize, day: u32| InputRecord {
            record_id: format!("r{i}"),
            name: Some(format!("王{}", ["伟", "强", "敏", "静", "磊"][i % 5])),
            id_number: None,
            birth_date: Some(format!("19{:02}-03-{day:02}", 40 + i % 50)),
            gender: Some("1".into()),
            ..Default::default()
        };
        let left: Vec<InputRecord> = (0..300).map(|i| mk(i, 10)).collect();
        let right: Vec<InputRecord> = (0..300).map(|i| mk(i, 11)).collect();
        let mut s = Interner::new();
        let l = prepare(&left, &mut s, None);
        let r = prepare(&right, &mut s, None);
        let labels: Vec<Label> = (0..300u32)
            .map(|i| Label {
                l: i,
                r: i,
                is_match: true,
            })
            .chain((0..300u32).map(|i| Label {
                l: i,
                r: (i + 7) % 300,
                is_match: false,
            }))
            .collect();
        let settings = TrainSettings {
            u_sample_pairs: 20_000,
            ..Default::default()
        };
        let blocking = Blocking::default();
        let unsupervised = train_unsupervised(&l, &r, false, &s, &blocking, &settings);
        // Training on rule pairs worked out beforehand (as a job shares them with prediction)
        // gives the same model.
        let shared = blocking.all_rule_pairs(&l, &r, false);
        let with_shared =
            train_unsupervised_with(&l, &r, false, &s, &blocking, &settings, Some(&shared));
        assert_eq!(
            serde_json::to_string(&with_shared).ok(),
            serde_json::to_string(&unsupervised).ok()
        );
        let labelled = train_from_labels(&l, &r, false, &s, &labels, &blocking, &settings);
        assert_eq!(labelled.training.method, "labels");
        let dob = |m: &Model| m.comparisons[2].levels[2].m_probability; // one_component_off
        assert!(dob(&labelled) > 0.9, "{}", dob(&labelled));
        assert!(dob(&labelled) > dob(&unsupervised));
    }
}
