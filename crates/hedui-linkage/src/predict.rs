//! Prediction: score every candidate pair, choose a threshold, cluster, evaluate.

use rustc_hash::FxHashMap as HashMap;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::blocking::{BlockingReport, Candidate};
use crate::comparison::{ComparisonKind, Gammas, compare};
use crate::model::{Explanation, Model, probability};
use crate::record::{Interner, Records};

/// Term frequencies of standardised names and of their pinyin keys, indexed by interned id.
#[derive(Debug, Clone)]
pub struct TermFrequencies {
    freq: Vec<f32>,
}

impl TermFrequencies {
    /// Frequencies over the records of both sides.
    pub fn new(sides: &[&Records], strings: &Interner) -> TermFrequencies {
        let mut counts = vec![0u32; strings.len()];
        let mut total = 0u64;
        for recs in sides {
            for (&n, &p) in recs.name.iter().zip(&recs.pinyin) {
                if n != 0 {
                    counts[n as usize] += 1;
                    total += 1;
                }
                if p != 0 {
                    counts[p as usize] += 1;
                }
            }
        }
        let t = total.max(1) as f32;
        TermFrequencies {
            freq: counts.into_iter().map(|c| c as f32 / t).collect(),
        }
    }

    /// The frequency of the value two records agree on at a name level.
    pub fn for_pair(
        &self,
        left: &Records,
        l: usize,
        right: &Records,
        r: usize,
        g: &Gammas,
    ) -> Option<f64> {
        let level = ComparisonKind::Name.level_of(g[1])?;
        let (a, b) = match level {
            0 | 1 => (left.name[l], right.name[r]),
            2 => (left.pinyin[l], right.pinyin[r]),
            _ => return None,
        };
        let f = |i: u32| self.freq.get(i as usize).copied().unwrap_or(0.0);
        Some(f64::from(f(a).max(f(b))))
    }
}

/// A scored candidate pair.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoredPair {
    /// Left record index.
    pub l: u32,
    /// Right record index.
    pub r: u32,
    /// Comparison vector.
    pub gammas: Gammas,
    /// Match weight.
    pub match_weight: f64,
    /// Match probability.
    pub match_probability: f64,
}

/// All pairs scored, with the blocking report.
#[derive(Debug, Clone)]
pub struct Predictions {
    /// Pairs with probability at least the floor, in (left, right) order.
    pub pairs: Vec<ScoredPair>,
    /// Blocking report.
    pub blocking: BlockingReport,
}

/// Scores the candidate pairs of `model.blocking`; keeps pairs whose probability is at least
/// `floor`. Deterministic whatever the thread count.
pub fn predict(
    model: &Model,
    left: &Records,
    right: &Records,
    dedupe: bool,
    strings: &Interner,
    floor: f64,
) -> Predictions {
    let blocked = model.blocking.candidates(left, right, dedupe);
    score(model, left, right, dedupe, strings, floor, blocked)
}

/// Scores candidate pairs already blocked (with [`crate::blocking::Blocking::candidates`] or
/// [`crate::blocking::Blocking::candidates_from`] under the model's blocking), keeping those at
/// or above `floor`.
pub fn score(
    model: &Model,
    left: &Records,
    right: &Records,
    dedupe: bool,
    strings: &Interner,
    floor: f64,
    (candidates, report): (Vec<Candidate>, BlockingReport),
) -> Predictions {
    let sides: Vec<&Records> = if dedupe {
        vec![left]
    } else {
        vec![left, right]
    };
    let tf = TermFrequencies::new(&sides, strings);
    let weights = model.weights();
    let pairs = candidates
        .par_iter()
        .filter_map(|c| {
            let (l, r) = (c.l as usize, c.r as usize);
            let g = compare(left, l, right, r, strings);
            let w = weights.weight(&g, tf.for_pair(left, l, right, r, &g));
            let p = probability(w);
            (p >= floor).then_some(ScoredPair {
                l: c.l,
                r: c.r,
                gammas: g,
                match_weight: w,
                match_probability: p,
            })
        })
        .collect();
    Predictions {
        pairs,
        blocking: report,
    }
}

/// Explains one pair.
pub fn explain_pair(
    model: &Model,
    left: &Records,
    l: usize,
    right: &Records,
    r: usize,
    strings: &Interner,
    dedupe: bool,
) -> Explanation {
    let sides: Vec<&Records> = if dedupe {
        vec![left]
    } else {
        vec![left, right]
    };
    let tf = TermFrequencies::new(&sides, strings);
    let g = compare(left, l, right, r, strings);
    model.explain(&g, tf.for_pair(left, l, right, r, &g))
}

/// Explains many pairs of a linkage (left × right), building the term frequencies once.
pub fn explain_pairs(
    model: &Model,
    left: &Records,
    right: &Records,
    strings: &Interner,
    pairs: &[(u32, u32)],
) -> Vec<Explanation> {
    if pairs.is_empty() {
        return Vec::new();
    }
    let tf = TermFrequencies::new(&[left, right], strings);
    pairs
        .iter()
        .map(|&(l, r)| {
            let (l, r) = (l as usize, r as usize);
            let g = compare(left, l, right, r, strings);
            model.explain(&g, tf.for_pair(left, l, right, r, &g))
        })
        .collect()
}

/// Chooses the threshold that maximises the F1 the model itself expects: with the predicted
/// probabilities as the chance each pair is a match, expected true positives above `t` are the
/// sum of their probabilities, and all expected matches are the sum over every pair.
pub fn choose_threshold(pairs: &[ScoredPair]) -> f64 {
    let mut probs: Vec<f64> = pairs.iter().map(|p| p.match_probability).collect();
    probs.sort_by(|a, b| b.total_cmp(a));
    let expected_matches: f64 = probs.iter().sum();
    if expected_matches <= 0.0 {
        return 0.5;
    }
    let (mut best_t, mut best_f1) = (0.5, -1.0);
    let mut tp = 0.0;
    for (k, &p) in probs.iter().enumerate() {
        tp += p;
        let f1 = 2.0 * tp / ((k + 1) as f64 + expected_matches);
        if f1 > best_f1 && p < 1.0 {
            best_f1 = f1;
            best_t = p;
        }
    }
    best_t.clamp(0.05, 0.999)
}

/// Precision, recall and F1 at one threshold.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// The threshold on match probability.
    pub threshold: f64,
    /// True positives.
    pub tp: u64,
    /// False positives.
    pub fp: u64,
    /// False negatives.
    pub fn_: u64,
    /// Precision.
    pub precision: f64,
    /// Recall.
    pub recall: f64,
    /// F1.
    pub f1: f64,
}

/// Evaluation against true identities.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Evaluation {
    /// Metrics at the chosen threshold.
    pub at_threshold: Metrics,
    /// The precision–recall curve over thresholds.
    pub curve: Vec<Metrics>,
    /// True pairs in the data.
    pub true_pairs: u64,
}

/// Evaluates scored pairs against true person ids (`None` = unknown, never a match).
pub fn evaluate(
    pairs: &[ScoredPair],
    truth_left: &[Option<u32>],
    truth_right: &[Option<u32>],
    dedupe: bool,
    threshold: f64,
) -> Evaluation {
    let true_pairs = count_true_pairs(truth_left, truth_right, dedupe);
    let is_true = |p: &ScoredPair| match (truth_left[p.l as usize], truth_right[p.r as usize]) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    };
    let mut scored: Vec<(f64, bool)> = pairs
        .iter()
        .map(|p| (p.match_probability, is_true(p)))
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    let metrics = |t: f64| {
        let (mut tp, mut fp) = (0u64, 0u64);
        for &(p, ok) in &scored {
            if p < t {
                break;
            }
            if ok {
                tp += 1;
            } else {
                fp += 1;
            }
        }
        let fn_ = true_pairs.saturating_sub(tp);
        let precision = if tp + fp == 0 {
            1.0
        } else {
            tp as f64 / (tp + fp) as f64
        };
        let recall = if true_pairs == 0 {
            1.0
        } else {
            tp as f64 / true_pairs as f64
        };
        let f1 = if precision + recall == 0.0 {
            0.0
        } else {
            2.0 * precision * recall / (precision + recall)
        };
        Metrics {
            threshold: t,
            tp,
            fp,
            fn_,
            precision,
            recall,
            f1,
        }
    };
    let curve = [
        0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 0.999,
    ]
    .iter()
    .map(|&t| metrics(t))
    .collect();
    Evaluation {
        at_threshold: metrics(threshold),
        curve,
        true_pairs,
    }
}

fn count_true_pairs(left: &[Option<u32>], right: &[Option<u32>], dedupe: bool) -> u64 {
    let mut lc: HashMap<u32, u64> = HashMap::default();
    for p in left.iter().flatten() {
        *lc.entry(*p).or_default() += 1;
    }
    if dedupe {
        return lc.values().map(|n| n * n.saturating_sub(1) / 2).sum();
    }
    let mut total = 0;
    for p in right.iter().flatten() {
        total += lc.get(p).copied().unwrap_or(0);
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(l: u32, r: u32, p: f64) -> ScoredPair {
        ScoredPair {
            l,
            r,
            gammas: [-1; 6],
            match_weight: 0.0,
            match_probability: p,
        }
    }

    #[test]
    fn evaluation_counts_true_pairs_from_the_truth_not_from_the_predictions() {
        // Persons: left 0,1,2 → 10,11,12; right 0,1,2,3 → 10,11,99,12.
        let tl = [Some(10), Some(11), Some(12)];
        let tr = [Some(10), Some(11), Some(99), Some(12)];
        let pairs = [
            pair(0, 0, 0.99),
            pair(1, 1, 0.7),
            pair(2, 2, 0.8),
            pair(1, 0, 0.2),
        ];
        let e = evaluate(&pairs, &tl, &tr, false, 0.5);
        assert_eq!(e.true_pairs, 3);
        let m = e.at_threshold;
        assert_eq!((m.tp, m.fp, m.fn_), (2, 1, 1));
        assert!((m.precision - 2.0 / 3.0).abs() < 1e-12);
        assert!((m.recall - 2.0 / 3.0).abs() < 1e-12);
        // The curve is monotone in recall as the threshold falls.
        let recalls: Vec<f64> = e.curve.iter().map(|m| m.recall).collect();
        assert!(recalls.windows(2).all(|w| w[0] >= w[1]));
    }

    #[test]
    fn threshold_choice_separates_confident_groups() {
        let mut pairs: Vec<ScoredPair> = (0..100).map(|i| pair(i, i, 0.999)).collect();
        pairs.extend((0..100).map(|i| pair(i, i + 1, 0.01)));
        let t = choose_threshold(&pairs);
        assert!(t > 0.01 && t <= 0.999, "{t}");
    }
}
