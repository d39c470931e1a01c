-- Risk-detection exclusions (issue 7): a phrase, a site or a person left out of detection, each
-- with the written reason the console requires. An exclusion is ended, never deleted, so the
-- record of what was not watched, when and why, stays (the audit log has the same).
-- `kind`: `phrase` (value: the phrase as the list writes it), `site` (a domain and its
-- subdomains) or `person` (value: the person's id).
CREATE TABLE detection_exclusions (
    id          INTEGER PRIMARY KEY,
    school_id   BIGINT NOT NULL REFERENCES schools(id),
    kind        TEXT NOT NULL,
    value       TEXT NOT NULL,
    reason      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    created_by  TEXT NOT NULL,
    ended_at    BIGINT,
    ended_by    TEXT
);
CREATE INDEX detection_exclusions_school ON detection_exclusions (school_id, ended_at);
