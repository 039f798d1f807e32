//! # hedui-ingest
//!
//! Ingestion sources (HTTP API, database table, file drop), validation against schemas/, watermarks, the scheduler.
