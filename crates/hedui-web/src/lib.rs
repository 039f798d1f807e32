//! # hedui-web
//!
//! The caseworker workbench (axum): login, scoped work queue, flag pages, decisions, identity review, XLSX export.
