//! The Fellegi–Sunter model: the prior (`probability_two_random_records_match`), and per
//! comparison level the `m_probability` (agreement pattern among matches) and
//! `u_probability` (among non-matches). A pair's `match_weight` is the log2 prior odds plus the
//! log2 Bayes factors `m/u` of its levels, with a term-frequency adjustment for names: two
//! records agreeing on 王伟 is weaker evidence than agreeing on 欧阳婧怡.

use serde::{Deserialize, Serialize};

use crate::blocking::Blocking;
use crate::comparison::{ComparisonKind, Gammas};

/// Format tag written into every saved model.
pub const MODEL_FORMAT: &str = "hedui-linkage-model";
/// Version of the saved-model format.
pub const MODEL_VERSION: u32 = 1;

/// Smallest probability a parameter may take, so that no level has an infinite weight.
pub const MIN_PROBABILITY: f64 = 1e-6;

/// Parameters of one comparison level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LevelParams {
    /// Level label.
    pub label: String,
    /// P(level | match).
    pub m_probability: f64,
    /// P(level | non-match).
    pub u_probability: f64,
    /// Whether the weight is adjusted by the frequency of the agreeing value.
    pub tf_adjustment: bool,
}

impl LevelParams {
    /// log2(m/u).
    pub fn log2_bayes_factor(&self) -> f64 {
        (self.m_probability.max(MIN_PROBABILITY) / self.u_probability.max(MIN_PROBABILITY)).log2()
    }
}

/// Parameters of one comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComparisonParams {
    /// Which comparison.
    pub kind: ComparisonKind,
    /// Levels, strongest first, `else` last.
    pub levels: Vec<LevelParams>,
}

/// How the parameters were estimated.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainingInfo {
    /// `unsupervised` or `labels`.
    pub method: String,
    /// Random pairs sampled for u.
    pub u_sample_pairs: u64,
    /// EM sessions: the blocking rule, the comparisons trained, iterations, distinct patterns.
    pub em_sessions: Vec<EmSession>,
    /// Labelled pairs used.
    pub labelled_pairs: u64,
    /// ID typo levels estimated from the one-edit rule: (level, pairs with agreeing names).
    #[serde(default)]
    pub id_typo_pairs: Vec<(String, u64)>,
}

/// One EM session.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EmSession {
    /// The blocking rule whose pairs were used.
    pub blocking_rule: String,
    /// The comparisons whose m was estimated (the others were fixed).
    pub trained: Vec<String>,
    /// Pairs in the session.
    pub pairs: u64,
    /// Distinct agreement patterns (what each iteration costs).
    pub patterns: u64,
    /// Iterations until convergence.
    pub iterations: u32,
    /// The proportion of matches among the session's pairs.
    pub match_proportion: f64,
}

/// A trained model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    /// Always [`MODEL_FORMAT`].
    pub format: String,
    /// Always [`MODEL_VERSION`] when written by this version.
    pub version: u32,
    /// λ: the probability that two random records (one from each side) match.
    pub probability_two_random_records_match: f64,
    /// Comparisons in [`ComparisonKind::ALL`] order.
    pub comparisons: Vec<ComparisonParams>,
    /// Blocking settings used to train and to predict.
    pub blocking: Blocking,
    /// Default threshold on match probability.
    pub threshold: f64,
    /// How it was trained.
    pub training: TrainingInfo,
}

/// Why a model could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// Not JSON of the model's shape.
    #[error("not a hedui linkage model: {0}")]
    Parse(#[from] serde_json::Error),
    /// Another format or a newer version.
    #[error(
        "unsupported model: format {format:?} version {version} (this build reads {MODEL_FORMAT} version {MODEL_VERSION})"
    )]
    Unsupported {
        /// Format tag found.
        format: String,
        /// Version found.
        version: u32,
    },
    /// Comparisons do not match this build's.
    #[error("model comparisons do not match this build's: {0}")]
    Shape(String),
}

impl Model {
    /// A model with the given prior and parameters.
    pub fn new(lambda: f64, comparisons: Vec<ComparisonParams>, blocking: Blocking) -> Model {
        Model {
            format: MODEL_FORMAT.into(),
            version: MODEL_VERSION,
            probability_two_random_records_match: lambda,
            comparisons,
            blocking,
            threshold: 0.5,
            training: TrainingInfo::default(),
        }
    }

    /// Saves as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Loads and checks a saved model.
    pub fn from_json(text: &str) -> Result<Model, ModelError> {
        let m: Model = serde_json::from_str(text)?;
        if m.format != MODEL_FORMAT || m.version > MODEL_VERSION {
            return Err(ModelError::Unsupported {
                format: m.format,
                version: m.version,
            });
        }
        if m.comparisons.len() != ComparisonKind::ALL.len() {
            return Err(ModelError::Shape(format!(
                "{} comparisons",
                m.comparisons.len()
            )));
        }
        for (c, k) in m.comparisons.iter().zip(ComparisonKind::ALL) {
            if c.kind != k || c.levels.len() != k.levels().len() {
                return Err(ModelError::Shape(format!("{:?}", c.kind)));
            }
        }
        Ok(m)
    }

    /// log2 prior odds.
    pub fn prior_weight(&self) -> f64 {
        let l = self
            .probability_two_random_records_match
            .clamp(1e-15, 1.0 - 1e-12);
        (l / (1.0 - l)).log2()
    }

    /// A weight table for fast scoring.
    pub fn weights(&self) -> WeightTable {
        WeightTable {
            prior: self.prior_weight(),
            levels: self
                .comparisons
                .iter()
                .map(|c| {
                    c.levels
                        .iter()
                        .map(LevelParams::log2_bayes_factor)
                        .collect()
                })
                .collect(),
            u: self
                .comparisons
                .iter()
                .map(|c| c.levels.iter().map(|l| l.u_probability).collect())
                .collect(),
            tf: self
                .comparisons
                .iter()
                .map(|c| c.levels.iter().map(|l| l.tf_adjustment).collect())
                .collect(),
        }
    }
}

/// Precomputed weights: `levels[c][level]` = log2(m/u).
#[derive(Debug, Clone)]
pub struct WeightTable {
    /// log2 prior odds.
    pub prior: f64,
    /// log2 Bayes factors.
    pub levels: Vec<Vec<f64>>,
    /// u per level (for the term-frequency adjustment).
    pub u: Vec<Vec<f64>>,
    /// Term-frequency adjustment per level.
    pub tf: Vec<Vec<bool>>,
}

impl WeightTable {
    /// The match weight of a comparison vector. `name_tf` is the relative frequency of the
    /// agreeing name value (used for term-frequency levels), if known.
    pub fn weight(&self, g: &Gammas, name_tf: Option<f64>) -> f64 {
        let mut w = self.prior;
        for (c, (&gamma, kind)) in g.iter().zip(ComparisonKind::ALL).enumerate() {
            if let Some(level) = kind.level_of(gamma) {
                w += self.levels[c][level];
                if self.tf[c][level]
                    && let Some(tf) = name_tf
                {
                    w += tf_adjustment(self.u[c][level], tf);
                }
            }
        }
        w
    }
}

/// The term-frequency adjustment: log2(u / tf). An agreeing value rarer than the average
/// agreeing value strengthens the evidence; a common one weakens it.
pub fn tf_adjustment(u: f64, tf: f64) -> f64 {
    (u.max(MIN_PROBABILITY) / tf.max(MIN_PROBABILITY)).log2()
}

/// Match probability of a weight.
pub fn probability(weight: f64) -> f64 {
    let odds = weight.exp2();
    if odds.is_infinite() {
        1.0
    } else {
        odds / (1.0 + odds)
    }
}

/// One comparison's contribution to a pair's weight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contribution {
    /// Comparison name.
    pub comparison: String,
    /// gamma (`-1` null).
    pub gamma: i8,
    /// Level label (`null` for the null level).
    pub level: String,
    /// m probability of the level.
    pub m_probability: Option<f64>,
    /// u probability of the level.
    pub u_probability: Option<f64>,
    /// log2(m/u).
    pub log2_bayes_factor: f64,
    /// Term-frequency adjustment added.
    pub tf_adjustment: f64,
}

/// A per-pair explanation: the prior, each comparison's contribution, the total (a waterfall).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    /// log2 prior odds.
    pub prior_weight: f64,
    /// Contributions in comparison order.
    pub contributions: Vec<Contribution>,
    /// The match weight.
    pub match_weight: f64,
    /// The match probability.
    pub match_probability: f64,
}

impl Model {
    /// Explains a comparison vector.
    pub fn explain(&self, g: &Gammas, name_tf: Option<f64>) -> Explanation {
        let prior = self.prior_weight();
        let mut total = prior;
        let contributions = g
            .iter()
            .zip(&self.comparisons)
            .map(|(&gamma, c)| match c.kind.level_of(gamma) {
                None => Contribution {
                    comparison: c.kind.name().into(),
                    gamma,
                    level: "null".into(),
                    m_probability: None,
                    u_probability: None,
                    log2_bayes_factor: 0.0,
                    tf_adjustment: 0.0,
                },
                Some(level) => {
                    let p = &c.levels[level];
                    let bf = p.log2_bayes_factor();
                    let tf = match (p.tf_adjustment, name_tf) {
                        (true, Some(tf)) => tf_adjustment(p.u_probability, tf),
                        _ => 0.0,
                    };
                    total += bf + tf;
                    Contribution {
                        comparison: c.kind.name().into(),
                        gamma,
                        level: p.label.clone(),
                        m_probability: Some(p.m_probability),
                        u_probability: Some(p.u_probability),
                        log2_bayes_factor: bf,
                        tf_adjustment: tf,
                    }
                }
            })
            .collect();
        Explanation {
            prior_weight: prior,
            contributions,
            match_weight: total,
            match_probability: probability(total),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy() -> Model {
        let comparisons = ComparisonKind::ALL
            .iter()
            .map(|k| ComparisonParams {
                kind: *k,
                levels: k
                    .levels()
                    .iter()
                    .enumerate()
                    .map(|(i, l)| LevelParams {
                        label: (*l).into(),
                        m_probability: if i == 0 {
                            0.9
                        } else {
                            0.1 / (k.levels().len() - 1) as f64
                        },
                        u_probability: if i + 1 == k.levels().len() {
                            0.9
                        } else {
                            0.1 / (k.levels().len() - 1) as f64
                        },
                        tf_adjustment: k.tf_levels().contains(&i),
                    })
                    .collect(),
            })
            .collect();
        Model::new(1e-4, comparisons, Blocking::default())
    }

    #[test]
    fn json_round_trip_and_version_check() {
        let m = toy();
        let back = Model::from_json(&m.to_json()).expect("round trip");
        assert_eq!(back, m);
        let newer = m.to_json().replace("\"version\": 1", "\"version\": 99");
        assert!(matches!(
            Model::from_json(&newer),
            Err(ModelError::Unsupported { .. })
        ));
        assert!(Model::from_json("{}").is_err());
    }

    #[test]
    fn explanation_adds_up_to_the_weight() {
        let m = toy();
        let g: Gammas = [5, 6, -1, 1, 0, -1];
        let e = m.explain(&g, Some(0.001));
        let sum: f64 = e.prior_weight
            + e.contributions
                .iter()
                .map(|c| c.log2_bayes_factor + c.tf_adjustment)
                .sum::<f64>();
        assert!((sum - e.match_weight).abs() < 1e-9);
        assert!((m.weights().weight(&g, Some(0.001)) - e.match_weight).abs() < 1e-9);
    }

    #[test]
    fn common_names_weigh_less_than_rare_ones() {
        let m = toy();
        let g: Gammas = [-1, 6, -1, -1, -1, -1];
        let common = m.weights().weight(&g, Some(0.01));
        let rare = m.weights().weight(&g, Some(0.000_01));
        assert!(rare > common);
    }
}
