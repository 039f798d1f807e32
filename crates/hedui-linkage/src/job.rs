//! A whole linkage job, as `hedui link` and `hedui dedupe` run it: standardise both sides,
//! train (unless a model is given), score the candidate pairs, choose the threshold, and
//! (for deduplication) cluster.

use chrono::NaiveDate;

use crate::blocking::{Blocking, BlockingReport};
use crate::cluster::{ClusterInput, ClusterSettings, Edge, cluster};
use crate::model::Model;
use crate::predict::{ScoredPair, choose_threshold, score};
use crate::record::{IdQuality, InputRecord, Interner, RecordSource, Records, prepare};
use crate::train::{TrainSettings, train_unsupervised_with};

/// Options of a job.
#[derive(Debug, Clone, Default)]
pub struct JobOptions {
    /// A trained model to use instead of training on the inputs.
    pub model: Option<Model>,
    /// A fixed threshold instead of the automatic choice.
    pub threshold: Option<f64>,
    /// Training settings (seed, sample size).
    pub train: TrainSettings,
    /// "Today", for validating dates (no clock is read here).
    pub reference: Option<NaiveDate>,
    /// Keep scored pairs down to this probability (for evaluation curves); pairs below the
    /// threshold are not links.
    pub keep_floor: Option<f64>,
}

/// What a job produced.
#[derive(Debug)]
pub struct JobOutput {
    /// The model used (trained or given).
    pub model: Model,
    /// The threshold applied.
    pub threshold: f64,
    /// Scored pairs at or above `keep_floor` (or the threshold), in (left, right) order.
    pub pairs: Vec<ScoredPair>,
    /// The blocking report.
    pub blocking: BlockingReport,
    /// Standardised left records.
    pub left: Records,
    /// Standardised right records (empty when deduplicating).
    pub right: Records,
    /// Interned strings of both.
    pub strings: Interner,
    /// Cluster of each left record (deduplication only).
    pub clusters: Option<Vec<u32>>,
}

impl JobOutput {
    /// The pairs at or above the threshold.
    pub fn links(&self) -> impl Iterator<Item = &ScoredPair> {
        let t = self.threshold;
        self.pairs.iter().filter(move |p| p.match_probability >= t)
    }

    /// The right-hand records (the left ones when deduplicating).
    pub fn right_records(&self) -> &Records {
        if self.right.is_empty() {
            &self.left
        } else {
            &self.right
        }
    }
}

/// The stages of a job, reported to an observer as each one starts (the crate reads no clock;
/// the caller times them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Standardising the records.
    Prepare,
    /// Joining the records on each blocking rule (the pairs training and prediction share).
    Block,
    /// Training the model.
    Train,
    /// Blocking and scoring.
    Predict,
    /// Clustering (deduplication only).
    Cluster,
    /// Finished.
    Done,
}

/// Links `left` with `right`, or deduplicates `left` when `right` is `None`.
pub fn run(left: &[InputRecord], right: Option<&[InputRecord]>, options: &JobOptions) -> JobOutput {
    run_observed(left, right, options, &mut |_| {})
}

/// [`run`], telling `on_stage` as each stage starts.
pub fn run_observed<S: RecordSource + ?Sized>(
    left: &S,
    right: Option<&S>,
    options: &JobOptions,
    on_stage: &mut dyn FnMut(Stage),
) -> JobOutput {
    on_stage(Stage::Prepare);
    let mut strings = Interner::new();
    let l = prepare(left, &mut strings, options.reference);
    let r = right
        .map(|r| prepare(r, &mut strings, options.reference))
        .unwrap_or_default();
    run_prepared(l, r, right.is_none(), strings, options, on_stage)
}

/// Like [`run_observed`], on records already standardised.
pub fn run_prepared(
    left: Records,
    right: Records,
    dedupe: bool,
    strings: Interner,
    options: &JobOptions,
    on_stage: &mut dyn FnMut(Stage),
) -> JobOutput {
    let rr = if dedupe { &left } else { &right };
    // Training blocks with the default rules and prediction with the model's: a job that
    // trains its own model joins each rule once for both.
    let blocking = options
        .model
        .as_ref()
        .map_or_else(Blocking::default, |m| m.blocking.clone());
    on_stage(Stage::Block);
    let rule_pairs = blocking.all_rule_pairs(&left, rr, dedupe);
    on_stage(Stage::Train);
    let model = match &options.model {
        Some(m) => m.clone(),
        None => train_unsupervised_with(
            &left,
            rr,
            dedupe,
            &strings,
            &blocking,
            &options.train,
            Some(&rule_pairs),
        ),
    };
    on_stage(Stage::Predict);
    let floor = options.keep_floor.unwrap_or(0.01).min(0.05);
    let blocked = model
        .blocking
        .candidates_from(&rule_pairs, &left, rr, dedupe);
    drop(rule_pairs);
    let predictions = score(&model, &left, rr, dedupe, &strings, floor, blocked);
    let threshold = options
        .threshold
        .unwrap_or_else(|| choose_threshold(&predictions.pairs));
    let mut model = model;
    model.threshold = threshold;
    let mut pairs = predictions.pairs;
    if let Some(f) = options.keep_floor {
        pairs.retain(|p| p.match_probability >= f.min(threshold));
    } else {
        pairs.retain(|p| p.match_probability >= threshold);
    }
    if dedupe {
        on_stage(Stage::Cluster);
    }
    let clusters = dedupe.then(|| {
        let edges: Vec<Edge> = pairs
            .iter()
            .map(|p| Edge {
                a: p.l,
                b: p.r,
                probability: p.match_probability,
            })
            .collect();
        let input = ClusterInput {
            valid_id: (0..left.len())
                .map(|i| (left.id_quality[i] == IdQuality::Valid).then_some(left.id18[i]))
                .collect(),
            ..Default::default()
        };
        cluster(
            left.len(),
            &edges,
            &input,
            &ClusterSettings {
                threshold,
                ..Default::default()
            },
        )
    });
    on_stage(Stage::Done);
    JobOutput {
        model,
        threshold,
        pairs,
        blocking: predictions.blocking,
        left,
        right,
        strings,
        clusters,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str, name: &str, idn: &str, dob: &str) -> InputRecord {
        InputRecord {
            record_id: id.into(),
            name: Some(name.into()),
            id_number: (!idn.is_empty()).then(|| idn.into()),
            birth_date: (!dob.is_empty()).then(|| dob.into()),
            ..Default::default()
        }
    }

    /// A small population with distinct identities, plus namesakes born on the same day with
    /// different (valid) ID numbers — the people the model must keep apart.
    fn city(n: usize) -> Vec<InputRecord> {
        let surnames = ["王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴"];
        let given = [
            "伟", "娜", "敏", "洋", "静", "帆", "磊", "丽", "军", "芳", "建国", "秀英", "子涵",
            "浩宇",
        ];
        (0..n)
            .map(|i| {
                // Distinct birth dates, 29 days apart.
                let born = chrono::NaiveDate::from_ymd_opt(1950, 1, 1).unwrap_or_default()
                    + chrono::Duration::days(29 * i as i64);
                let (year, month, day) = (
                    chrono::Datelike::year(&born),
                    chrono::Datelike::month(&born),
                    chrono::Datelike::day(&born),
                );
                let first17 = format!("421303{year:04}{month:02}{day:02}{:03}", (i * 37) % 1000);
                let c = hedui_identity::id::check_char(first17.as_bytes()).map_or('0', char::from);
                let id = format!("{first17}{c}");
                let dob = format!("{year}-{month:02}-{day:02}");
                // Mostly distinct names, as in a real register.
                let name = format!(
                    "{}{}{}",
                    surnames[i % 10],
                    given[(i / 10) % given.len()],
                    given[(i * 7 / 3) % given.len()]
                        .chars()
                        .next()
                        .unwrap_or('明')
                );
                rec(&format!("R{i}"), &name, &id, &dob)
            })
            .collect()
    }

    #[test]
    fn links_damaged_copies_and_nothing_else() {
        let mut right = city(400);
        // Namesakes of the first 20 people, born the same day, with their own valid numbers.
        for i in 0..20 {
            let mut twin = right[i].clone();
            let id = twin.id_number.clone().unwrap_or_default();
            let seq: u32 = id[14..17].parse().unwrap_or(0);
            let first17 = format!("{}{:03}", &id[..14], (seq + 2) % 1000);
            let c = hedui_identity::id::check_char(first17.as_bytes()).map_or('0', char::from);
            twin.id_number = Some(format!("{first17}{c}"));
            twin.record_id = format!("T{i}");
            right.push(twin);
        }
        let mut left: Vec<InputRecord> = right.iter().take(100).cloned().collect();
        for (i, r) in left.iter_mut().enumerate() {
            r.record_id = format!("L{i}");
            if i % 3 == 0 {
                // 15-digit form
                let id = r.id_number.clone().unwrap_or_default();
                r.id_number = Some(format!("{}{}", &id[..6], &id[8..17]));
            }
            if i % 5 == 0 {
                r.name = r.name.as_ref().map(hanconv::s2t);
            }
        }
        let out = run(&left, Some(&right), &JobOptions::default());
        let links: Vec<(u32, u32)> = out.links().map(|p| (p.l, p.r)).collect();
        for i in 0..100u32 {
            assert!(
                links.contains(&(i, i)),
                "left {i} not linked; threshold {}",
                out.threshold
            );
        }
        if links.len() != 100 {
            let extra = out.links().find(|p| p.l != p.r).copied();
            if let Some(p) = extra {
                let e = out.model.explain(&p.gammas, None);
                eprintln!("{}", serde_json::to_string_pretty(&e).unwrap_or_default());
            }
            eprintln!("{}", out.model.to_json());
        }
        assert_eq!(links.len(), 100, "no extra links");
    }
}
