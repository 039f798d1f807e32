//! # hedui-lake
//!
//! The Parquet lake: Hive partitions, atomic writes, manifests, quarantine. The only crate that writes data files.
