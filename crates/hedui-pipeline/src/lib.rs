//! # hedui-pipeline
//!
//! The nightly run: ingest, standardise, link incrementally, verify, publish, with run ids, locks, stage counters and the run report.
