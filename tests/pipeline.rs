//! End-to-end tests of `hedui pipeline` through the binary.
