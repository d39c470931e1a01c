-- Photo and video consent (issue 27, DESIGN.md A3): one row per answer for one pupil and one
-- purpose, in writing only (`parent-link`: the parent's own link; `paper-form`: a signed form
-- a member of staff recorded, with the date on it). The latest row per pupil and purpose
-- stands; every row is kept, never changed or removed, so the history is whole.
CREATE TABLE consents (
    id          INTEGER PRIMARY KEY,
    school_id   BIGINT NOT NULL REFERENCES schools(id),
    person_id   BIGINT NOT NULL REFERENCES people(id),
    purpose     TEXT NOT NULL,
    given       BOOLEAN NOT NULL,
    written     TEXT NOT NULL CHECK (written IN ('parent-link', 'paper-form')),
    parent_name TEXT NOT NULL,
    form_dated  TEXT,
    note        TEXT NOT NULL,
    recorded_by TEXT NOT NULL,
    recorded_at BIGINT NOT NULL
);
CREATE INDEX consents_person ON consents (school_id, person_id, purpose, id);
CREATE TRIGGER consents_no_update BEFORE UPDATE ON consents
BEGIN
    SELECT RAISE(ABORT, 'consent answers are kept as given');
END;
CREATE TRIGGER consents_no_delete BEFORE DELETE ON consents
BEGIN
    SELECT RAISE(ABORT, 'consent answers are kept as given');
END;
