-- hedui store schema, SQLite flavour. Keep in step with ../postgres/0001_init.sql.
CREATE TABLE runs (
    run_id        TEXT PRIMARY KEY,
    as_of         TEXT NOT NULL,
    started_at    TEXT NOT NULL,
    finished_at   TEXT,
    status        TEXT NOT NULL,
    summary       TEXT NOT NULL DEFAULT ''
);

CREATE TABLE cases (
    case_id         TEXT PRIMARY KEY,
    programme       TEXT NOT NULL,
    status          TEXT NOT NULL,
    county_code     TEXT NOT NULL,
    township_code   TEXT NOT NULL,
    address         TEXT NOT NULL,
    monthly_benefit DOUBLE PRECISION,
    next_review     TEXT,
    record_json     TEXT NOT NULL,
    last_run        TEXT NOT NULL
);
CREATE INDEX cases_scope ON cases (county_code, township_code);

CREATE TABLE flags (
    flag_id        TEXT PRIMARY KEY,
    case_id        TEXT NOT NULL,
    flag_type      TEXT NOT NULL,
    severity       TEXT NOT NULL,
    severity_rank  BIGINT NOT NULL,
    county_code    TEXT NOT NULL,
    township_code  TEXT NOT NULL,
    deadline       TEXT NOT NULL,
    as_of          TEXT NOT NULL,
    first_run      TEXT NOT NULL,
    last_run       TEXT NOT NULL,
    status         TEXT NOT NULL,
    outcome        TEXT,
    approval       TEXT NOT NULL DEFAULT 'none',
    flag_json      TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);
CREATE INDEX flags_scope ON flags (county_code, township_code, status);
CREATE INDEX flags_case ON flags (case_id);

CREATE TABLE decisions (
    decision_id     INTEGER PRIMARY KEY AUTOINCREMENT,
    flag_id         TEXT NOT NULL REFERENCES flags (flag_id),
    status          TEXT NOT NULL,
    outcome         TEXT,
    new_amount      DOUBLE PRECISION,
    effective_month TEXT,
    reason_code     TEXT NOT NULL,
    reason          TEXT NOT NULL,
    notice_type     TEXT,
    notice_date     TEXT,
    notice_method   TEXT,
    decided_by      TEXT NOT NULL,
    decided_role    TEXT NOT NULL,
    decided_at      TEXT NOT NULL,
    approval        TEXT NOT NULL,
    approved_by     TEXT,
    approved_at     TEXT,
    approval_note   TEXT
);
CREATE INDEX decisions_flag ON decisions (flag_id);

CREATE TABLE link_reviews (
    review_id    TEXT PRIMARY KEY,
    run_id       TEXT NOT NULL,
    left_key     TEXT NOT NULL,
    right_key    TEXT NOT NULL,
    case_id      TEXT,
    county_code  TEXT NOT NULL,
    probability  DOUBLE PRECISION NOT NULL,
    match_weight DOUBLE PRECISION NOT NULL,
    review_json  TEXT NOT NULL,
    status       TEXT NOT NULL,
    decided_by   TEXT,
    decided_at   TEXT,
    created_at   TEXT NOT NULL
);
CREATE INDEX link_reviews_status ON link_reviews (status);

CREATE TABLE users (
    user_id        INTEGER PRIMARY KEY AUTOINCREMENT,
    username       TEXT NOT NULL UNIQUE,
    password_hash  TEXT NOT NULL,
    role           TEXT NOT NULL,
    county_code    TEXT,
    township_code  TEXT,
    active         BIGINT NOT NULL,
    created_at     TEXT NOT NULL
);

CREATE TABLE sessions (
    token_hash   TEXT PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users (user_id),
    csrf_token   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL
);

CREATE TABLE audit_log (
    audit_id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at            TEXT NOT NULL,
    username      TEXT NOT NULL,
    role          TEXT NOT NULL,
    scope         TEXT NOT NULL,
    client_ip     TEXT NOT NULL,
    action        TEXT NOT NULL,
    result        TEXT NOT NULL,
    case_id       TEXT,
    flag_id       TEXT,
    fields        TEXT NOT NULL,
    purpose       TEXT NOT NULL,
    result_count  BIGINT NOT NULL,
    detail        TEXT NOT NULL
);
CREATE INDEX audit_at ON audit_log (at);

-- The audit log is append-only: no row may change or disappear.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
