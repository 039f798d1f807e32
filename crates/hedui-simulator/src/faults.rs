//! Fault injection: which fault (if any) the n-th API request gets.
//!
//! **Determinism.** After every [`FaultConfig`] is set (at start or by `POST /admin/faults`),
//! the simulator numbers the API requests (`/api/v1/…`) that pass authentication and rate
//! limiting 0, 1, 2, … in the order they arrive. Request `n` draws
//! `u = splitmix64(seed ⊕ splitmix64(n)) / 2^64` and gets the first kind, in the fixed order
//! `5xx, timeout, slow, truncate, duplicate`, whose cumulative rate exceeds `u` (none if `u` is
//! past the sum of the rates). A second draw from the same mix picks the status of a `5xx`
//! (500, 502 or 503). So the same seed and the same sequence of requests give the same
//! faults, whatever the timing; sequential clients therefore see a reproducible sequence.
//! `duplicate` applies only to record pages with `since > 0` (elsewhere the request is served
//! normally and no fault is counted). Drift is not random: it applies to every response of the
//! named datasets until cleared.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Error;

/// The kinds of random fault, in draw order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum FaultKind {
    /// 500, 502 or 503 with an error body.
    #[serde(rename = "5xx")]
    ServerError,
    /// The response is held (≥ 60 s by default) and never comes in time.
    #[serde(rename = "timeout")]
    Timeout,
    /// The response is delayed by `slow_ms`.
    #[serde(rename = "slow")]
    Slow,
    /// The body is cut in the middle and the connection closed.
    #[serde(rename = "truncate")]
    Truncate,
    /// The page starts earlier than asked (repeats records with `_seq <= since`).
    #[serde(rename = "duplicate")]
    Duplicate,
}

impl FaultKind {
    /// All kinds, in draw order.
    pub const ALL: [FaultKind; 5] = [
        FaultKind::ServerError,
        FaultKind::Timeout,
        FaultKind::Slow,
        FaultKind::Truncate,
        FaultKind::Duplicate,
    ];

    /// The name used in `--faults`, `POST /admin/faults` and the stats.
    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::ServerError => "5xx",
            FaultKind::Timeout => "timeout",
            FaultKind::Slow => "slow",
            FaultKind::Truncate => "truncate",
            FaultKind::Duplicate => "duplicate",
        }
    }

    /// The kind named `s`.
    pub fn parse(s: &str) -> Option<FaultKind> {
        FaultKind::ALL.into_iter().find(|k| k.as_str() == s.trim())
    }
}

/// A schema drift: the named columns of one dataset are renamed in every response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drift {
    /// `department/dataset`.
    pub dataset: String,
    /// Delivered header → the header served instead.
    pub rename: BTreeMap<String, String>,
}

/// The fault-injection setting (the body of `POST /admin/faults`; `{}` = no faults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultConfig {
    /// Seed of the fault draw.
    pub seed: u64,
    /// Probability of each kind per request (each in 0..=1, summing to at most 1).
    pub rates: BTreeMap<FaultKind, f64>,
    /// Delay of a `slow` response, in milliseconds.
    pub slow_ms: u64,
    /// How long a `timeout` response is held, in milliseconds (the contract says ≥ 60 s; after
    /// it the request is answered 504).
    pub timeout_ms: u64,
    /// Column renames, persistent until the next setting.
    pub drift: Vec<Drift>,
}

impl Default for FaultConfig {
    fn default() -> Self {
        FaultConfig {
            seed: 0,
            rates: BTreeMap::new(),
            slow_ms: 1500,
            timeout_ms: 65_000,
            drift: Vec::new(),
        }
    }
}

impl FaultConfig {
    /// No faults.
    pub fn none() -> FaultConfig {
        FaultConfig::default()
    }

    /// Parses `--faults "5xx=0.1,timeout=0.02,slow=0.05,truncate=0.05,duplicate=0.05"` into
    /// rates (the rest stays default).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for an unknown kind or a rate that is not a number in 0..=1.
    pub fn parse_rates(spec: &str) -> Result<BTreeMap<FaultKind, f64>, Error> {
        let mut rates = BTreeMap::new();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, rate) = part.split_once('=').ok_or_else(|| {
                Error::Config(format!("fault `{part}` is not kind=rate (e.g. 5xx=0.1)"))
            })?;
            let kind = FaultKind::parse(name).ok_or_else(|| {
                Error::Config(format!(
                    "unknown fault kind `{}` (known: 5xx, timeout, slow, truncate, duplicate)",
                    name.trim()
                ))
            })?;
            let rate: f64 = rate
                .trim()
                .parse()
                .map_err(|_| Error::Config(format!("fault rate `{}` is not a number", rate)))?;
            rates.insert(kind, rate);
        }
        Ok(rates)
    }

    /// Parses `--drift gongan/population:姓名=名称[,性别=性]`.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the text is not `department/dataset:from=to[,from=to…]`.
    pub fn parse_drift(spec: &str) -> Result<Drift, Error> {
        let bad = || {
            Error::Config(format!(
                "drift `{spec}` is not department/dataset:from=to[,from=to…]"
            ))
        };
        let (dataset, renames) = spec.split_once(':').ok_or_else(bad)?;
        if !dataset.contains('/') {
            return Err(bad());
        }
        let mut rename = BTreeMap::new();
        for pair in renames.split(',').filter(|p| !p.trim().is_empty()) {
            let (from, to) = pair.split_once('=').ok_or_else(bad)?;
            if from.trim().is_empty() || to.trim().is_empty() {
                return Err(bad());
            }
            rename.insert(from.trim().to_owned(), to.trim().to_owned());
        }
        if rename.is_empty() {
            return Err(bad());
        }
        Ok(Drift {
            dataset: dataset.trim().to_owned(),
            rename,
        })
    }

    /// Checks the rates.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when a rate is outside 0..=1 or they sum to more than 1.
    pub fn validate(&self) -> Result<(), Error> {
        let mut sum = 0.0;
        for (kind, rate) in &self.rates {
            if !(0.0..=1.0).contains(rate) {
                return Err(Error::Config(format!(
                    "rate of {} is {rate}, not within 0..=1",
                    kind.as_str()
                )));
            }
            sum += rate;
        }
        if sum > 1.0 + 1e-9 {
            return Err(Error::Config(format!(
                "fault rates sum to {sum}, more than 1"
            )));
        }
        Ok(())
    }

    /// The renames of `department/dataset` (empty when it has no drift).
    pub fn renames(&self, qualified: &str) -> Option<&BTreeMap<String, String>> {
        self.drift
            .iter()
            .find(|d| d.dataset == qualified)
            .map(|d| &d.rename)
    }

    /// The fault of request number `n` and, for `5xx`, its status.
    pub fn draw(&self, n: u64) -> Option<(FaultKind, u16)> {
        let mixed = splitmix64(self.seed ^ splitmix64(n));
        let u = unit(mixed);
        let mut cumulative = 0.0;
        for kind in FaultKind::ALL {
            cumulative += self.rates.get(&kind).copied().unwrap_or(0.0);
            if u < cumulative {
                let status = [500, 502, 503][(splitmix64(mixed) % 3) as usize];
                return Some((kind, status));
            }
        }
        None
    }
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn unit(x: u64) -> f64 {
    (x >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn draws_follow_rates_and_seed() {
        let mut c = FaultConfig::none();
        c.rates = FaultConfig::parse_rates("5xx=0.2,slow=0.3").unwrap();
        c.seed = 7;
        let draws: Vec<_> = (0..10_000).map(|n| c.draw(n)).collect();
        let errors = draws
            .iter()
            .filter(|d| matches!(d, Some((FaultKind::ServerError, _))))
            .count();
        let slow = draws
            .iter()
            .filter(|d| matches!(d, Some((FaultKind::Slow, _))))
            .count();
        assert!((1800..2200).contains(&errors), "{errors}");
        assert!((2700..3300).contains(&slow), "{slow}");
        assert!(
            draws
                .iter()
                .flatten()
                .all(|(_, s)| [500, 502, 503].contains(s))
        );
        let again: Vec<_> = (0..10_000).map(|n| c.draw(n)).collect();
        assert_eq!(draws, again);
        c.seed = 8;
        let other: Vec<_> = (0..10_000).map(|n| c.draw(n)).collect();
        assert_ne!(draws, other);
    }

    #[test]
    fn parses_specs() {
        assert!(FaultConfig::parse_rates("boom=0.1").is_err());
        assert!(FaultConfig::parse_rates("5xx=x").is_err());
        let d = FaultConfig::parse_drift("gongan/population:姓名=名称,性别=性").unwrap();
        assert_eq!(d.rename.len(), 2);
        assert!(FaultConfig::parse_drift("gongan:姓名=名称").is_err());
        let mut c = FaultConfig::none();
        c.rates = FaultConfig::parse_rates("5xx=0.7,timeout=0.7").unwrap();
        assert!(c.validate().is_err());
        let json: FaultConfig = serde_json::from_str(
            r#"{"seed":7,"rates":{"5xx":0.1,"duplicate":0.05},"slow_ms":10,
                "drift":[{"dataset":"gongan/population","rename":{"姓名":"名称"}}]}"#,
        )
        .unwrap();
        assert_eq!(json.rates[&FaultKind::ServerError], 0.1);
        assert_eq!(json.timeout_ms, 65_000);
        let empty: FaultConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(empty, FaultConfig::none());
    }
}
