//! End-to-end tests of `hedui workbench` through the binary.
