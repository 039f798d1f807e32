//! # hedui-verify
//!
//! Verification: facts per person, indicators per household, rules, change detection, flags with evidence. Pure.
