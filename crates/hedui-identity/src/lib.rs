//! # hedui-identity
//!
//! Standardising the identity data of Chinese administrative records so that records of one
//! person from different departments can be compared: 公民身份号码 (ID numbers), names and their
//! toneless pinyin, dates, phone numbers and addresses.
//!
//! Every standardiser takes the raw text as delivered and returns a value that keeps the
//! original, the standardised form (if one could be made) and what was found on the way
//! (a status, a validation level, diagnostics). None of them panics or fails on any input:
//! bad data is an *outcome*, reported to the caller, never an error.
//!
//! | module | entry point | result |
//! |---|---|---|
//! | [`id`] | [`id::parse_id`] | [`id::IdNumber`] |
//! | [`name`] | [`name::standardize_name`] | [`name::Name`] |
//! | [`date`] | [`date::parse_date`] | [`date::DateValue`] |
//! | [`phone`] | [`phone::parse_phone`] | [`phone::Phone`] |
//! | [`address`] | [`address::parse_address`] | [`address::Address`] |
//! | [`divisions`] | tables of 随州's counties and townships | |
//! | [`text`] | shared helpers: blanks, null placeholders, Chinese numerals | |
//!
//! ```
//! use hedui_identity::id::{parse_id, IdLevel};
//! let id = parse_id("４２１３０３１９８００１０１００１８");
//! assert_eq!(id.normalized.as_deref(), Some("421303198001010018"));
//! assert!(id.level >= IdLevel::RegionKnown);
//! ```
//!
//! Architecture invariant: this crate does no IO, reads no clock and no environment. Anything
//! that depends on "today" (e.g. "birth date not in the future") takes the date as an argument.

pub mod address;
pub mod date;
pub mod divisions;
pub mod id;
pub mod name;
pub mod phone;
pub mod text;
