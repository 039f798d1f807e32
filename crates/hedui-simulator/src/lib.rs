//! # hedui-simulator
//!
//! A department simulator: serves a synthetic city's extracts as the departments would (HTTP API with signing and pagination, 前置库 tables), with fault injection.
