//! Criterion benches for hedui's kernels live in `benches/benches/`; this library target is
//! empty and exists only because Cargo requires every package to have a library or binary
//! target.
