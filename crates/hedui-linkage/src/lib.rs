//! # hedui-linkage
//!
//! Fellegi–Sunter record linkage for Chinese identities, in Splink's vocabulary:
//! [`record`] standardises the identity fields once (with `hedui-identity`) into compact
//! columns; [`blocking`] proposes candidate pairs from the union of several
//! [`blocking::BlockingRule`]s; [`comparison`] turns a pair into a comparison vector of
//! `gamma` levels; [`train`] estimates `u` by random sampling, `m` by expectation maximisation
//! on agreement-pattern counts, and `probability_two_random_records_match`; [`model`] holds the
//! parameters (saved as versioned JSON) and explains a pair's weight; [`predict`] scores pairs,
//! chooses a threshold and evaluates against truth; [`cluster`] groups records into persons
//! with protection against over-merging; [`index`] keeps the person index whose keys stay
//! stable from night to night, linking only new and changed records; [`prepared`] saves
//! standardised records and reads them back, so a register linked again and again is
//! standardised once.
//!
//! ```
//! use hedui_linkage::record::{InputRecord, Interner, prepare};
//! use hedui_linkage::comparison::compare;
//! let rec = |id: &str, name: &str| InputRecord {
//!     record_id: id.into(),
//!     name: Some(name.into()),
//!     id_number: Some("421303198001010018".into()),
//!     ..Default::default()
//! };
//! let mut strings = Interner::new();
//! let left = prepare(&[rec("a", "張三")], &mut strings, None);
//! let right = prepare(&[rec("b", "张三")], &mut strings, None);
//! let gammas = compare(&left, 0, &right, 0, &strings);
//! assert_eq!(gammas[0], 6); // ID number: exact (the strongest of its 7 levels)
//! assert_eq!(gammas[1], 5); // name: equal after traditional → simplified folding
//! ```
//!
//! Architecture invariants: no file or network access of its own ([`prepared`] writes to and
//! reads from streams the caller opens), no clock, no environment; the output is a pure function of
//! (inputs, model, seed) whatever the number of threads — parallel work is split into fixed
//! chunks and every order that reaches an output is a sorted one.

pub mod blocking;
pub mod cluster;
pub mod comparison;
pub mod index;
pub mod job;
pub mod model;
pub mod predict;
pub mod prepared;
pub mod record;
pub mod train;
