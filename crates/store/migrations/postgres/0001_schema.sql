-- Ward's schema, PostgreSQL. Keep in step with migrations/sqlite/0001_schema.sql: same tables,
-- columns and meaning; only the types and identity syntax differ.
-- Times are microseconds since the Unix epoch (UTC), in BIGINT columns.
-- Every record about a school's people or activity carries school_id.

CREATE TABLE schools (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        TEXT NOT NULL,
    slug        TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL
);

-- A group of users that the policy decides for (its name is the policy's group id, e.g. `ks2`).
-- `members` says who belongs: pupils of some year groups, staff, or guests.
CREATE TABLE groups (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    school_id   BIGINT NOT NULL REFERENCES schools(id),
    name        TEXT NOT NULL,
    label       TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('pupil', 'staff', 'guest')),
    year_groups TEXT NOT NULL DEFAULT '',
    UNIQUE (school_id, name)
);

CREATE TABLE people (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    school_id   BIGINT NOT NULL REFERENCES schools(id),
    kind        TEXT NOT NULL CHECK (kind IN ('pupil', 'staff', 'guest')),
    username    TEXT NOT NULL,
    given_name  TEXT NOT NULL,
    family_name TEXT NOT NULL,
    external_id TEXT,
    year_group  TEXT,
    key_stage   TEXT,
    class_name  TEXT,
    job_role    TEXT,
    group_id    BIGINT REFERENCES groups(id),
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (school_id, username)
);
CREATE INDEX people_school_name ON people (school_id, family_name, given_name);

-- A station or network: one address (`10.0.3.17/32`) or a subnet (`10.0.4.0/24`).
CREATE TABLE devices (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    school_id   BIGINT NOT NULL REFERENCES schools(id),
    name        TEXT NOT NULL,
    network     TEXT NOT NULL,
    group_id    BIGINT REFERENCES groups(id),
    location    TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    UNIQUE (school_id, name)
);

-- Console accounts. Usernames are unique across the deployment so that log-in needs no school.
CREATE TABLE accounts (
    id                   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    school_id            BIGINT NOT NULL REFERENCES schools(id),
    username             TEXT NOT NULL UNIQUE,
    display_name         TEXT NOT NULL,
    roles                TEXT NOT NULL,
    password_hash        TEXT NOT NULL,
    must_change_password BOOLEAN NOT NULL DEFAULT FALSE,
    failed_logins        BIGINT NOT NULL DEFAULT 0,
    locked_until         BIGINT,
    disabled             BOOLEAN NOT NULL DEFAULT FALSE,
    created_at           BIGINT NOT NULL
);

-- Log-in sessions. Only a SHA-256 of the cookie's token is kept, so the table cannot be replayed.
CREATE TABLE sessions (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_hash   TEXT NOT NULL UNIQUE,
    account_id   BIGINT NOT NULL REFERENCES accounts(id),
    school_id    BIGINT NOT NULL REFERENCES schools(id),
    csrf_token   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);

-- Blocked (and rewritten) requests, one row each.
CREATE TABLE events (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    school_id   BIGINT NOT NULL,
    at          BIGINT NOT NULL,
    gateway     TEXT NOT NULL,
    source      TEXT NOT NULL,
    client_ip   TEXT NOT NULL,
    device_id   BIGINT,
    person_id   BIGINT,
    username    TEXT,
    host        TEXT NOT NULL,
    url         TEXT,
    action      TEXT NOT NULL,
    categories  TEXT NOT NULL,
    reason      TEXT NOT NULL,
    search_term TEXT
);
CREATE INDEX events_school_at ON events (school_id, at);
CREATE INDEX events_school_person ON events (school_id, person_id, at);

-- Allowed browsing, as counts: per subject (`person:ID`, `device:ID` or `ip:ADDRESS`), site and hour.
CREATE TABLE browsing_counts (
    school_id BIGINT NOT NULL,
    hour      BIGINT NOT NULL,
    subject   TEXT NOT NULL,
    site      TEXT NOT NULL,
    requests  BIGINT NOT NULL,
    PRIMARY KEY (school_id, subject, hour, site)
);
CREATE INDEX browsing_counts_school_hour ON browsing_counts (school_id, hour);

CREATE TABLE alerts (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    school_id   BIGINT NOT NULL REFERENCES schools(id),
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    severity    BIGINT NOT NULL CHECK (severity BETWEEN 1 AND 5),
    category    TEXT NOT NULL,
    person_id   BIGINT,
    device_id   BIGINT,
    status      TEXT NOT NULL DEFAULT 'new',
    summary     TEXT NOT NULL,
    repeats     BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX alerts_school_status ON alerts (school_id, status, severity);

-- The audit log: append-only, one hash chain per school (see audit.rs for the hash).
CREATE TABLE audit_log (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    school_id   BIGINT NOT NULL REFERENCES schools(id),
    seq         BIGINT NOT NULL,
    at          BIGINT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    subject     TEXT NOT NULL,
    detail      TEXT NOT NULL,
    reason      TEXT,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL,
    UNIQUE (school_id, seq)
);

-- The event writer's bookkeeping, per gateway: how far into its journal the database has got
-- (updated in the same transaction as the events), and events it ever had to drop.
CREATE TABLE writer_progress (
    gateway     TEXT PRIMARY KEY,
    segment     BIGINT NOT NULL,
    position    BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE TABLE writer_drops (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    gateway     TEXT NOT NULL,
    at          BIGINT NOT NULL,
    dropped     BIGINT NOT NULL
);
