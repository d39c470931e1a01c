-- Acceptable-use agreements (issue 27, DESIGN.md A1): every version of each readers' agreement
-- as published, and every answer given to one (accepted or declined), with the school year it
-- counts for and where it was given. Neither is ever changed or removed: the record of who
-- agreed to what, and when, is evidence.
CREATE TABLE agreements (
    id           INTEGER PRIMARY KEY,
    school_id    BIGINT NOT NULL REFERENCES schools(id),
    readers      TEXT NOT NULL,
    version      BIGINT NOT NULL,
    title        TEXT NOT NULL,
    body         TEXT NOT NULL,
    published_at BIGINT NOT NULL,
    published_by TEXT NOT NULL,
    UNIQUE (school_id, readers, version)
);
CREATE TABLE agreement_answers (
    id           INTEGER PRIMARY KEY,
    school_id    BIGINT NOT NULL REFERENCES schools(id),
    agreement_id BIGINT NOT NULL REFERENCES agreements(id),
    person_id    BIGINT REFERENCES people(id),
    account_id   BIGINT REFERENCES accounts(id),
    username     TEXT NOT NULL,
    accepted     BOOLEAN NOT NULL,
    school_year  BIGINT NOT NULL,
    answered_at  BIGINT NOT NULL,
    place        TEXT NOT NULL,
    CHECK ((person_id IS NULL) <> (account_id IS NULL))
);
CREATE INDEX agreement_answers_person ON agreement_answers (school_id, person_id, school_year);
CREATE INDEX agreement_answers_account ON agreement_answers (school_id, account_id, school_year);
CREATE TRIGGER agreements_no_update BEFORE UPDATE ON agreements
BEGIN
    SELECT RAISE(ABORT, 'a published agreement is kept as published');
END;
CREATE TRIGGER agreements_no_delete BEFORE DELETE ON agreements
BEGIN
    SELECT RAISE(ABORT, 'a published agreement is kept as published');
END;
CREATE TRIGGER agreement_answers_no_update BEFORE UPDATE ON agreement_answers
BEGIN
    SELECT RAISE(ABORT, 'answers to agreements are kept as given');
END;
CREATE TRIGGER agreement_answers_no_delete BEFORE DELETE ON agreement_answers
BEGIN
    SELECT RAISE(ABORT, 'answers to agreements are kept as given');
END;
