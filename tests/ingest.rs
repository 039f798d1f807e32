//! End-to-end tests of `hedui ingest` through the binary.
