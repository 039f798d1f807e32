//! # hedui-store
//!
//! The casework store: runs, cases, flags, decisions, identity-review queue, users, audit log (SQLite default, PostgreSQL).
