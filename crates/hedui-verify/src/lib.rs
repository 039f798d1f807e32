//! # hedui-verify
//!
//! Verification of assistance households (居民家庭经济状况核对): from department records
//! linked to persons, it builds **facts per person** ([`facts`]), **indicators per household**
//! as of a date ([`indicators`]), evaluates the configured **rules** with time-versioned
//! standards ([`rules`]), and turns **changes since the previous run** into flags with evidence
//! ([`periodic`]); for pending applications it writes the 核对报告 as JSON, printable Chinese
//! HTML and XLSX ([`entry`], [`report`]).
//!
//! Main types: [`input::CheckInput`] (tables keyed by canonical column names, each record with
//! its [`input::RecordLink`]s), [`rules::RuleSet`] (parsed from `pipelines/rules.toml` text),
//! [`periodic::Snapshot`] (what the next run diffs against), [`periodic::PeriodicOutput`]
//! (flags, cases, due list, snapshot, summary) and [`entry::EntryReport`].
//!
//! ```
//! use chrono::NaiveDate;
//! use hedui_verify::input::CheckInput;
//! use hedui_verify::periodic::{PeriodicOptions, run_periodic};
//! use hedui_verify::rules::RuleSet;
//!
//! let rules = RuleSet::parse(hedui_verify::DEFAULT_RULES).expect("the shipped rules parse");
//! let as_of = NaiveDate::from_ymd_opt(2021, 9, 30).expect("date");
//! let out = run_periodic(&CheckInput::default(), &rules, &PeriodicOptions::new("run-1", as_of));
//! assert!(out.flags.is_empty()); // no roster, nothing to flag
//! assert_eq!(out.summary.cases_checked, 0);
//! ```
//!
//! Architecture invariants: no filesystem, network, clock or environment — the caller passes
//! the as-of date, the rule text, the previous snapshot and the dismissed flag ids; outputs are
//! values and byte buffers. Every iteration order that reaches an output is a sorted one
//! (`BTreeMap`), so a run is a pure function of its inputs. Bad values in records never fail a
//! run: they are counted as diagnostics and the affected indicator says what it lacks.

pub mod entry;
pub mod evidence;
pub mod facts;
pub mod household;
pub mod indicators;
pub mod input;
pub mod periodic;
pub mod report;
pub mod roster;
pub mod rules;

/// The rule set shipped in `pipelines/rules.toml`, embedded for tests and defaults.
pub const DEFAULT_RULES: &str = include_str!("../../../pipelines/rules.toml");

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The rule set is invalid (the user's fault: the file). Every problem is listed.
    #[error("the rule set is invalid:\n  - {}", problems.join("\n  - "))]
    RuleSet {
        /// All problems found.
        problems: Vec<String>,
    },
    /// A previous-run snapshot could not be read (the file's fault, or a different version).
    #[error("the previous snapshot is unusable: {0}")]
    Snapshot(String),
    /// Building an XLSX report failed (an internal bug or a limit of the XLSX format).
    #[error("building the XLSX report failed: {0}")]
    Xlsx(String),
}
