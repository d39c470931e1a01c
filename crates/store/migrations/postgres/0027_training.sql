-- Staff training and induction (issue 27, DESIGN.md A5): each course a member of staff
-- completed, with its evidence and when it is due again; and each reading of the online safety
-- policy in force acknowledged in the console (by policy version). Records are added, never
-- changed or removed: a correction is a new record.
CREATE TABLE training_records (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    school_id    BIGINT NOT NULL REFERENCES schools(id),
    person_id    BIGINT NOT NULL REFERENCES people(id),
    course       TEXT NOT NULL,
    completed_on TEXT NOT NULL,
    renewal_due  TEXT,
    evidence     TEXT NOT NULL,
    recorded_by  TEXT NOT NULL,
    recorded_at  BIGINT NOT NULL
);
CREATE INDEX training_records_school ON training_records (school_id, person_id, id);
CREATE TABLE policy_readings (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    school_id      BIGINT NOT NULL REFERENCES schools(id),
    account_id     BIGINT NOT NULL REFERENCES accounts(id),
    policy_version BIGINT NOT NULL,
    read_at        BIGINT NOT NULL,
    UNIQUE (school_id, account_id, policy_version)
);
