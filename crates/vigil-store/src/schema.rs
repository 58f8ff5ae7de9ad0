//! The migrations, in order, the same text on SQLite and PostgreSQL. A migration once released is
//! never edited: a change is a new one. Times are nanoseconds since the Unix epoch (`BIGINT`);
//! structured values (symbols, accounts, evidence, audit details) are JSON text.

pub const MIGRATIONS: &[&str] = &[
    // 1: alerts and their triage, stored progress, users and tokens, the audit log.
    "CREATE TABLE alerts (
        alert_id TEXT PRIMARY KEY,
        type TEXT NOT NULL,
        level TEXT NOT NULL,
        risk_score DOUBLE PRECISION NOT NULL,
        confidence DOUBLE PRECISION NOT NULL,
        ts BIGINT NOT NULL,
        window_start BIGINT NOT NULL,
        window_end BIGINT NOT NULL,
        venue TEXT,
        symbols TEXT NOT NULL,
        accounts TEXT NOT NULL,
        description TEXT NOT NULL,
        evidence TEXT NOT NULL,
        status TEXT NOT NULL,
        status_by TEXT,
        status_at BIGINT,
        status_reason TEXT,
        stored_at BIGINT NOT NULL
    );
    CREATE INDEX alerts_by_status ON alerts (status, level);
    CREATE INDEX alerts_by_ts ON alerts (ts);
    CREATE TABLE progress (
        source TEXT PRIMARY KEY,
        position BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
    );
    CREATE TABLE users (
        name TEXT PRIMARY KEY,
        role TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        disabled_at BIGINT
    );
    CREATE TABLE tokens (
        token_hash TEXT PRIMARY KEY,
        user_name TEXT NOT NULL REFERENCES users (name),
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        revoked_at BIGINT
    );
    CREATE TABLE proposals (
        id BIGINT PRIMARY KEY,
        action TEXT NOT NULL,
        object_type TEXT NOT NULL,
        object_id TEXT NOT NULL,
        details TEXT NOT NULL,
        proposed_by TEXT NOT NULL,
        proposed_at BIGINT NOT NULL,
        decided_by TEXT,
        decided_at BIGINT,
        decision TEXT
    );
    CREATE TABLE audit_log (
        seq BIGINT PRIMARY KEY,
        at BIGINT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        object_type TEXT NOT NULL,
        object_id TEXT NOT NULL,
        details TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    );
    CREATE TABLE audit_head (
        id BIGINT PRIMARY KEY,
        seq BIGINT NOT NULL,
        hash TEXT NOT NULL
    );",
    // 2: cases, the alerts linked to them, and their comments and evidence (files as hex, with the
    // SHA-256 the audit log also records).
    "CREATE TABLE cases (
        case_id BIGINT PRIMARY KEY,
        title TEXT NOT NULL,
        status TEXT NOT NULL,
        outcome TEXT,
        assignee TEXT,
        opened_by TEXT NOT NULL,
        opened_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        closed_by TEXT,
        closed_at BIGINT,
        close_reason TEXT
    );
    CREATE INDEX cases_by_status ON cases (status, updated_at);
    CREATE TABLE case_alerts (
        case_id BIGINT NOT NULL REFERENCES cases (case_id),
        alert_id TEXT NOT NULL REFERENCES alerts (alert_id),
        linked_by TEXT NOT NULL,
        linked_at BIGINT NOT NULL,
        PRIMARY KEY (case_id, alert_id)
    );
    CREATE INDEX case_alerts_by_alert ON case_alerts (alert_id);
    CREATE TABLE case_notes (
        id BIGINT PRIMARY KEY,
        case_id BIGINT NOT NULL REFERENCES cases (case_id),
        kind TEXT NOT NULL,
        author TEXT NOT NULL,
        at BIGINT NOT NULL,
        body TEXT NOT NULL,
        size BIGINT,
        sha256 TEXT,
        content TEXT
    );
    CREATE INDEX case_notes_by_case ON case_notes (case_id, id);",
    // 3: suppression rules (allow-lists); the alerts they match are stored as suppressed.
    "CREATE TABLE suppressions (
        id BIGINT PRIMARY KEY,
        alert_type TEXT,
        account TEXT,
        symbol TEXT,
        venue TEXT,
        reason TEXT NOT NULL,
        created_by TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT,
        revoked_by TEXT,
        revoked_at BIGINT
    );",
    // 4: behavioural account profiles, as the engine last counted them (JSON).
    "CREATE TABLE profiles (
        account TEXT PRIMARY KEY,
        updated_at BIGINT NOT NULL,
        body TEXT NOT NULL
    );",
];
