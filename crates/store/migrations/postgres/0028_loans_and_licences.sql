-- Device loans and software licences (issue 27, DESIGN.md D1). A loan is who has which device
-- since when, whether it may leave the school, and who accepted the guardianship terms; what
-- happens to it after (returned, lost, stolen, damaged) is a loan event, added and never changed.
-- A licence is a software title with the seats bought and the installations counted; its
-- changes are in the audit log.
CREATE TABLE loans (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    school_id      BIGINT NOT NULL REFERENCES schools(id),
    person_id      BIGINT NOT NULL REFERENCES people(id),
    device         TEXT NOT NULL,
    out_of_school  BOOLEAN NOT NULL,
    terms_accepted_by TEXT NOT NULL,
    lent_on        TEXT NOT NULL,
    due_back       TEXT,
    recorded_by    TEXT NOT NULL,
    recorded_at    BIGINT NOT NULL
);
CREATE INDEX loans_school ON loans (school_id, id);
CREATE TABLE loan_events (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    school_id   BIGINT NOT NULL REFERENCES schools(id),
    loan_id     BIGINT NOT NULL REFERENCES loans(id),
    kind        TEXT NOT NULL CHECK (kind IN ('returned', 'lost', 'stolen', 'damaged')),
    on_date     TEXT NOT NULL,
    note        TEXT NOT NULL,
    recorded_by TEXT NOT NULL,
    recorded_at BIGINT NOT NULL
);
CREATE INDEX loan_events_loan ON loan_events (school_id, loan_id, id);
CREATE TABLE licences (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    school_id   BIGINT NOT NULL REFERENCES schools(id),
    software    TEXT NOT NULL,
    purchased   BIGINT NOT NULL CHECK (purchased >= 0),
    installed   BIGINT NOT NULL CHECK (installed >= 0),
    note        TEXT NOT NULL,
    updated_by  TEXT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (school_id, software)
);
