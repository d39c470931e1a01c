-- Requests to unblock a site, made from the block page (and, later, the console). The
-- coordinator's decision and the grant it becomes are the safeguarding workflow's columns.
CREATE TABLE unblock_requests (
    id              INTEGER PRIMARY KEY,
    school_id       BIGINT NOT NULL REFERENCES schools(id),
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'new',
    origin          TEXT NOT NULL,
    client_ip       TEXT NOT NULL,
    device_id       BIGINT,
    person_id       BIGINT,
    username        TEXT,
    group_id        TEXT NOT NULL,
    url             TEXT NOT NULL,
    host            TEXT NOT NULL,
    categories      TEXT NOT NULL,
    blocked_because TEXT NOT NULL,
    reason          TEXT NOT NULL
);
CREATE INDEX unblock_requests_school_status ON unblock_requests (school_id, status, created_at);
