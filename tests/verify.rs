//! End-to-end tests of `hedui verify` through the binary.
